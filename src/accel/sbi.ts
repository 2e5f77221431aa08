/**
 * The built-in SBI implementation (RISC-V Supervisor Binary Interface v2.0): what OpenSBI does in
 * M-mode, served by the accelerator when no firmware runs (as KVM does for its guests).
 *
 * Calling convention (SBI §3): a7 = extension ID (EID), a6 = function ID (FID), arguments in
 * a0..a5; returns a0 = error, a1 = value. Legacy extensions (EID 0x00..0x08) return in a0 only.
 *
 * | EID        | name   | functions served                                                       |
 * |------------|--------|------------------------------------------------------------------------|
 * | 0x10       | BASE   | spec/impl version, impl id, probe, mvendorid/marchid/mimpid           |
 * | 0x54494D45 | TIME   | set_timer                                                               |
 * | 0x735049   | IPI    | send_ipi                                                                |
 * | 0x52464E43 | RFENCE | remote_fence_i, remote_sfence_vma(_asid), (hfence: not supported)       |
 * | 0x48534D   | HSM    | hart_start, hart_stop, hart_get_status, hart_suspend (retentive)        |
 * | 0x53525354 | SRST   | system_reset (shutdown, cold/warm reboot)                               |
 * | 0x4442434E | DBCN   | console_write, console_read, console_write_byte                         |
 * | 0x00..0x08 | legacy | set_timer, console_putchar/getchar, clear/send_ipi, remote fences, shutdown |
 */

import type { Hart } from '../hart/index.js';

export const SBI_SUCCESS = 0;
export const SBI_ERR_FAILED = -1;
export const SBI_ERR_NOT_SUPPORTED = -2;
export const SBI_ERR_INVALID_PARAM = -3;
export const SBI_ERR_INVALID_ADDRESS = -5;

export const EID_BASE = 0x10;
export const EID_TIME = 0x54494d45;
export const EID_IPI = 0x735049;
export const EID_RFENCE = 0x52464e43;
export const EID_HSM = 0x48534d;
export const EID_SRST = 0x53525354;
export const EID_DBCN = 0x4442434e;

/** SBI specification version 2.0: major in bits 30:24, minor in 23:0. */
const SPEC_VERSION = (2 << 24) | 0;
/** Implementation ID: not one of the registered ones (0 BBL, 1 OpenSBI, 2 Xvisor, 3 KVM, ...). */
export const SBI_IMPL_ID = 0x7473;
const IMPL_VERSION = 1;
/** Largest DBCN console_write/read the host serves in one call. */
const MAX_CONSOLE_BYTES = 4096;

/** What the SBI needs from its environment (implemented by the accelerator's Vcpu). */
export interface SbiHost {
  readonly hart: Hart;
  readonly id: number;
  setTimer(deadline: number): void;
  sendIpi(hartId: number): boolean;
  remoteSfence(hartId: number): boolean;
  hartStart(hartId: number, startAddr: bigint, opaque: bigint): number;
  hartStop(): number;
  hartStatus(hartId: number): number;
  systemEvent(kind: 'shutdown' | 'reset', reason: number): void;
  consoleWrite(bytes: Uint8Array): void;
  consoleReadByte(): number;
  hartIds(): number[];
}

const SUPPORTED = new Set([EID_BASE, EID_TIME, EID_IPI, EID_RFENCE, EID_HSM, EID_SRST, EID_DBCN,
  0, 1, 2, 3, 4, 5, 6, 7, 8]);

/** Serves the SBI call the hart just made (its a0..a7); writes the results into a0/a1. */
export function handleSbiCall(host: SbiHost): void {
  const h = host.hart;
  const eid = Number(h.getX(17) & 0xffffffffn);
  const fid = Number(h.getX(16) & 0xffffffffn);
  const a0 = h.getX(10);
  const a1 = h.getX(11);
  const a2 = h.getX(12);
  let error = SBI_SUCCESS;
  let value = 0n;
  const ret = (e: number, v: bigint = 0n): void => {
    error = e;
    value = v;
  };

  if (eid <= 8) {
    h.setX(10, BigInt.asUintN(64, BigInt(legacyCall(host, eid, a0, a1))));
    return;
  }
  switch (eid) {
    case EID_BASE:
      switch (fid) {
        case 0: ret(SBI_SUCCESS, BigInt(SPEC_VERSION)); break;
        case 1: ret(SBI_SUCCESS, BigInt(SBI_IMPL_ID)); break;
        case 2: ret(SBI_SUCCESS, BigInt(IMPL_VERSION)); break;
        case 3: ret(SBI_SUCCESS, SUPPORTED.has(Number(a0 & 0xffffffffn)) && a0 < 1n << 32n ? 1n : 0n); break;
        case 4: ret(SBI_SUCCESS, h.getCsr(0xf11)); break;
        case 5: ret(SBI_SUCCESS, h.getCsr(0xf12)); break;
        case 6: ret(SBI_SUCCESS, h.getCsr(0xf13)); break;
        default: ret(SBI_ERR_NOT_SUPPORTED);
      }
      break;
    case EID_TIME:
      if (fid === 0) {
        host.setTimer(Number(a0));
        ret(SBI_SUCCESS);
      } else ret(SBI_ERR_NOT_SUPPORTED);
      break;
    case EID_IPI:
      if (fid === 0) ret(forEachHart(host, a0, a1, (id) => host.sendIpi(id)));
      else ret(SBI_ERR_NOT_SUPPORTED);
      break;
    case EID_RFENCE:
      if (fid === 0) ret(forEachHart(host, a0, a1, () => true)); // fetch is always coherent
      else if (fid === 1 || fid === 2) ret(forEachHart(host, a0, a1, (id) => host.remoteSfence(id)));
      else ret(SBI_ERR_NOT_SUPPORTED); // hfence.* need the H extension
      break;
    case EID_HSM:
      switch (fid) {
        case 0: {
          const r = host.hartStart(Number(a0 & 0xfffffn), a1, a2);
          ret(r);
          break;
        }
        case 1: ret(host.hartStop()); break;
        case 2: {
          const s = host.hartStatus(Number(a0 & 0xfffffn));
          if (s < 0) ret(s);
          else ret(SBI_SUCCESS, BigInt(s));
          break;
        }
        case 3:
          // Retentive suspend (type 0) behaves as WFI: return at once; the guest's idle loop waits.
          if (a0 === 0n) ret(SBI_SUCCESS);
          else ret(SBI_ERR_NOT_SUPPORTED);
          break;
        default: ret(SBI_ERR_NOT_SUPPORTED);
      }
      break;
    case EID_SRST:
      if (fid === 0) {
        const type = Number(a0 & 0xffffffffn);
        if (type === 0) host.systemEvent('shutdown', Number(a1 & 0xffffffffn));
        else if (type === 1 || type === 2) host.systemEvent('reset', Number(a1 & 0xffffffffn));
        else {
          ret(SBI_ERR_INVALID_PARAM);
          break;
        }
        ret(SBI_SUCCESS);
      } else ret(SBI_ERR_NOT_SUPPORTED);
      break;
    case EID_DBCN:
      switch (fid) {
        case 0: { // console_write(num_bytes, base_lo, base_hi)
          const n = Number(a0 > BigInt(MAX_CONSOLE_BYTES) ? BigInt(MAX_CONSOLE_BYTES) : a0);
          const addr = a1 | (a2 << 32n);
          try {
            host.consoleWrite(h.mem.readBytes(Number(addr), n));
            ret(SBI_SUCCESS, BigInt(n));
          } catch {
            ret(SBI_ERR_INVALID_PARAM);
          }
          break;
        }
        case 1: { // console_read(num_bytes, base_lo, base_hi)
          const max = Number(a0 > BigInt(MAX_CONSOLE_BYTES) ? BigInt(MAX_CONSOLE_BYTES) : a0);
          const bytes: number[] = [];
          while (bytes.length < max) {
            const b = host.consoleReadByte();
            if (b < 0) break;
            bytes.push(b);
          }
          try {
            h.mem.writeBytes(Number(a1 | (a2 << 32n)), Uint8Array.from(bytes));
            ret(SBI_SUCCESS, BigInt(bytes.length));
          } catch {
            ret(SBI_ERR_INVALID_PARAM);
          }
          break;
        }
        case 2:
          host.consoleWrite(Uint8Array.of(Number(a0 & 0xffn)));
          ret(SBI_SUCCESS);
          break;
        default: ret(SBI_ERR_NOT_SUPPORTED);
      }
      break;
    default:
      ret(SBI_ERR_NOT_SUPPORTED);
  }
  h.setX(10, BigInt.asUintN(64, BigInt(error)));
  h.setX(11, value);
}

/** Applies `fn` to each hart selected by (hart_mask, hart_mask_base); -1 base means all harts. */
function forEachHart(host: SbiHost, mask: bigint, base: bigint, fn: (id: number) => boolean): number {
  const ids = host.hartIds();
  if (base === BigInt.asUintN(64, -1n)) {
    for (const id of ids) fn(id);
    return SBI_SUCCESS;
  }
  // In numbers, not BigInts: Linux sends a remote fence.i or sfence this way many times a boot.
  const words = [Number(BigInt.asUintN(32, mask)), Number(BigInt.asUintN(32, mask >> 32n))];
  const first = base > 4095n ? 4096 : Number(base);
  for (let bit = 0; bit < 64; bit++) {
    if (((words[bit >> 5] >>> (bit & 31)) & 1) === 0) continue;
    const id = first + bit;
    if (id > 4095 || !fn(id)) return SBI_ERR_INVALID_PARAM;
  }
  return SBI_SUCCESS;
}

/** Legacy SBI v0.1 calls (EID 0..8): one return value in a0. */
function legacyCall(host: SbiHost, eid: number, a0: bigint, a1: bigint): number {
  const h = host.hart;
  // Legacy hart masks are a pointer to an unsigned long in guest memory (0 = all harts).
  const readMask = (ptr: bigint): bigint | undefined => {
    if (ptr === 0n) return undefined;
    try {
      return h.mem.readPhys(Number(ptr), 8);
    } catch {
      return 0n;
    }
  };
  const all = BigInt.asUintN(64, -1n);
  switch (eid) {
    case 0:
      host.setTimer(Number(a0));
      return 0;
    case 1:
      host.consoleWrite(Uint8Array.of(Number(a0 & 0xffn)));
      return 0;
    case 2:
      return host.consoleReadByte();
    case 3:
      h.setSoftwareInterrupt(1, false);
      return 0;
    case 4: {
      const m = readMask(a0);
      return forEachHart(host, m ?? 0n, m === undefined ? all : 0n, (id) => host.sendIpi(id));
    }
    case 5:
      return 0;
    case 6:
    case 7: {
      const m = readMask(a0);
      return forEachHart(host, m ?? 0n, m === undefined ? all : 0n, (id) => host.remoteSfence(id));
    }
    case 8:
      host.systemEvent('shutdown', 0);
      return 0;
    default:
      void a1;
      return SBI_ERR_NOT_SUPPORTED;
  }
}
