/**
 * The SiFive CLINT, as the RISC-V ACLINT specification (v1.0) splits it: an MSWI device (machine
 * software interrupts) followed by an MTIMER device (machine timer), in one 64 KiB region as on
 * QEMU's `virt` board at 0x0200_0000 (DT compatible "sifive,clint0" / "riscv,clint0").
 *
 * Register map (offsets from the region base; h = hart index):
 *
 *   offset                 size  name           access
 *   0x0000 + 4*h           4     msip[h]        RW  bit 0 drives mip.MSIP (bit 3); other bits read 0
 *   0x4000 + 8*h           8     mtimecmp[h]    RW  mip.MTIP (bit 7) = (mtime >= mtimecmp[h])
 *   0xBFF8                 8     mtime          RW  free-running counter, timebase 10 MHz
 *
 * 64-bit registers may be accessed with one 8-byte access or with two 4-byte accesses to their
 * halves (+0 low, +4 high). 1- and 2-byte or misaligned accesses are ignored (read as 0), as are
 * registers of harts that do not exist. mtimecmp resets to all-ones ("never").
 *
 * mtime is the injected clock plus an offset (the offset changes when the guest writes mtime).
 * All 64-bit arithmetic is done exactly on pairs of unsigned 32-bit halves; no BigInt on any path
 * a guest can drive, as the timer is reprogrammed on every tick of a running kernel.
 */

import type { MmioHandler, MmioValue } from '../hart/index.js';
import {
  DeviceStateError,
  intArrayField,
  intField,
  parseU64,
  rejectUnknownFields,
  stateRecord,
  u64ToString,
} from './device-state.js';

/** The interrupt inputs of one hart the CLINT drives (a Hart satisfies it). */
export interface HartInterruptLines {
  setInterruptLevel(bit: number, level: boolean): void;
}

export const CLINT_SIZE = 0x10000;
/** Ticks per second of mtime on the virt board. */
export const CLINT_TIMEBASE_HZ = 10_000_000;
export const CLINT_MSIP = 0x0000;
export const CLINT_MTIMECMP = 0x4000;
export const CLINT_MTIME = 0xbff8;
/** mip bit numbers the CLINT drives. */
export const MIP_MSIP_BIT = 3;
export const MIP_MTIP_BIT = 7;
/** ACLINT limit: 4095 harts per MSWI / MTIMER device. */
export const CLINT_MAX_HARTS = 4095;

const TWO_32 = 0x1_0000_0000;

export interface ClintState {
  version: 1;
  /** Number of harts the state was saved with. */
  harts: number;
  /** msip[h] bit 0. */
  msip: number[];
  /** mtimecmp[h] as unsigned 64-bit decimal strings. */
  mtimecmp: string[];
  /** mtime at the moment of saving; time does not pass while saved. */
  mtime: string;
}

export class Clint implements MmioHandler {
  private readonly harts: readonly HartInterruptLines[];
  private readonly clock: () => number;
  private readonly msip: Uint8Array;
  private readonly cmpLo: Uint32Array;
  private readonly cmpHi: Uint32Array;
  /** The MTIP level last sent to each hart. */
  private readonly mtip: Uint8Array;
  /** mtime = clock + offset (mod 2^64). */
  private offsetLo = 0;
  private offsetHi = 0;
  /** Scratch output of sample(): mtime now. Avoids allocating on every access. */
  private nowLo = 0;
  private nowHi = 0;
  private tickLo = 0;
  private tickHi = 0;

  /**
   * @param harts the interrupt lines of each hart, by hart index
   * @param clock current time in 10 MHz ticks (monotonic, non-negative; fractions are dropped)
   */
  constructor(harts: readonly HartInterruptLines[], clock: () => number) {
    if (harts.length < 1 || harts.length > CLINT_MAX_HARTS) {
      throw new RangeError(`the CLINT supports 1..${CLINT_MAX_HARTS} harts, not ${harts.length}`);
    }
    this.harts = harts;
    this.clock = clock;
    const n = harts.length;
    this.msip = new Uint8Array(n);
    this.cmpLo = new Uint32Array(n).fill(0xffff_ffff);
    this.cmpHi = new Uint32Array(n).fill(0xffff_ffff);
    this.mtip = new Uint8Array(n);
  }

  get hartCount(): number {
    return this.harts.length;
  }

  /** mtime as a number (exact below 2^53 ticks, ~28 years): a hart's `time` CSR source. */
  readMtime(): number {
    this.sample();
    return this.nowHi * TWO_32 + this.nowLo;
  }

  /** Recomputes every hart's MTIP from the current mtime. Call between hart slices. */
  update(): void {
    this.sample();
    for (let h = 0; h < this.harts.length; h++) this.updateTimer(h);
  }

  /**
   * Ticks until the earliest future mtimecmp (0 when a deadline has passed but update() has not
   * raised its MTIP yet; Infinity when every hart's mtimecmp is all-ones or already reached).
   * Approximate (a double) beyond 2^53 ticks, which only matters for deadlines centuries away.
   */
  nextDeadline(): number {
    this.sample();
    let best = Infinity;
    for (let h = 0; h < this.harts.length; h++) {
      const lo = this.cmpLo[h];
      const hi = this.cmpHi[h];
      if (this.reached(lo, hi)) {
        if (this.mtip[h] === 0) return 0;
        continue;
      }
      if (lo === 0xffff_ffff && hi === 0xffff_ffff) continue; // "never"
      const d = (hi - this.nowHi) * TWO_32 + (lo - this.nowLo);
      if (d < best) best = d;
    }
    return best;
  }

  // ---- MmioHandler ----

  read(offset: number, size: number, value: MmioValue): void {
    value.lo = 0;
    value.hi = 0;
    if (size === 8 && (offset & 7) === 0) {
      if (offset === CLINT_MTIME) {
        this.sample(); // one sample for both halves: no torn read
        value.lo = this.nowLo | 0;
        value.hi = this.nowHi | 0;
      } else {
        value.lo = this.read32(offset) | 0;
        value.hi = this.read32(offset + 4) | 0;
      }
    } else if (size === 4 && (offset & 3) === 0) {
      value.lo = this.read32(offset) | 0;
    }
  }

  write(offset: number, size: number, lo: number, hi: number): void {
    lo >>>= 0;
    hi >>>= 0;
    if (size === 8 && (offset & 7) === 0) {
      if (offset === CLINT_MTIME) {
        this.setMtime(lo, hi);
      } else if (offset >= CLINT_MTIMECMP && offset < CLINT_MTIME) {
        const h = (offset - CLINT_MTIMECMP) >>> 3;
        if (h < this.harts.length) {
          this.cmpLo[h] = lo;
          this.cmpHi[h] = hi;
          this.sample();
          this.updateTimer(h);
        }
      } else {
        this.write32(offset, lo);
        this.write32(offset + 4, hi);
      }
    } else if (size === 4 && (offset & 3) === 0) {
      this.write32(offset, lo);
    }
  }

  // ---- state ----

  saveState(): ClintState {
    this.sample();
    const mtimecmp: string[] = [];
    for (let h = 0; h < this.harts.length; h++) mtimecmp.push(u64ToString(this.cmpLo[h], this.cmpHi[h]));
    return {
      version: 1,
      harts: this.harts.length,
      msip: Array.from(this.msip),
      mtimecmp,
      mtime: u64ToString(this.nowLo, this.nowHi),
    };
  }

  /** Restores saved state (validated first; nothing changes when it is invalid). */
  loadState(state: unknown): void {
    const name = 'CLINT';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, ['version', 'harts', 'msip', 'mtimecmp', 'mtime']);
    const n = this.harts.length;
    const harts = intField(name, rec, 'harts', 1, CLINT_MAX_HARTS);
    if (harts !== n) throw new DeviceStateError(name, `saved with ${harts} harts, this machine has ${n}`);
    const msip = intArrayField(name, rec, 'msip', 0, 1, n, n);
    const cmpRaw = rec.mtimecmp;
    if (!Array.isArray(cmpRaw) || cmpRaw.length !== n) {
      throw new DeviceStateError(name, `field 'mtimecmp' must be an array of ${n} strings`);
    }
    const cmp = (cmpRaw as unknown[]).map((v, h) => parseU64(name, `mtimecmp[${h}]`, v));
    const [mtimeLo, mtimeHi] = parseU64(name, 'mtime', rec.mtime);

    for (let h = 0; h < n; h++) {
      this.msip[h] = msip[h];
      this.cmpLo[h] = cmp[h][0];
      this.cmpHi[h] = cmp[h][1];
    }
    this.setOffsetFor(mtimeLo, mtimeHi);
    // Recompute and re-send every line through the same code the guest uses.
    this.sample();
    for (let h = 0; h < n; h++) {
      this.harts[h].setInterruptLevel(MIP_MSIP_BIT, this.msip[h] !== 0);
      this.mtip[h] = this.reached(this.cmpLo[h], this.cmpHi[h]) ? 1 : 0;
      this.harts[h].setInterruptLevel(MIP_MTIP_BIT, this.mtip[h] !== 0);
    }
  }

  // ---- internals ----

  private read32(offset: number): number {
    const n = this.harts.length;
    if (offset < CLINT_MTIMECMP) {
      const h = offset >>> 2;
      return h < n ? this.msip[h] : 0;
    }
    if (offset < CLINT_MTIME) {
      const h = (offset - CLINT_MTIMECMP) >>> 3;
      if (h >= n) return 0;
      return (offset & 4) === 0 ? this.cmpLo[h] : this.cmpHi[h];
    }
    if (offset === CLINT_MTIME || offset === CLINT_MTIME + 4) {
      this.sample();
      return offset === CLINT_MTIME ? this.nowLo : this.nowHi;
    }
    return 0;
  }

  private write32(offset: number, v: number): void {
    const n = this.harts.length;
    if (offset < CLINT_MTIMECMP) {
      const h = offset >>> 2;
      if (h >= n) return;
      this.msip[h] = v & 1;
      this.harts[h].setInterruptLevel(MIP_MSIP_BIT, (v & 1) !== 0);
    } else if (offset < CLINT_MTIME) {
      const h = (offset - CLINT_MTIMECMP) >>> 3;
      if (h >= n) return;
      if ((offset & 4) === 0) this.cmpLo[h] = v;
      else this.cmpHi[h] = v;
      this.sample();
      this.updateTimer(h);
    } else if (offset === CLINT_MTIME) {
      this.sample();
      this.setMtime(v, this.nowHi);
    } else if (offset === CLINT_MTIME + 4) {
      this.sample();
      this.setMtime(this.nowLo, v);
    }
  }

  /** Makes mtime read (lo, hi) now, then recomputes every hart's MTIP. */
  private setMtime(lo: number, hi: number): void {
    this.setOffsetFor(lo, hi);
    this.update();
  }

  /** offset = (hi:lo) - ticks, mod 2^64. */
  private setOffsetFor(lo: number, hi: number): void {
    this.readClock();
    const dLo = lo - this.tickLo;
    const borrow = dLo < 0 ? 1 : 0;
    this.offsetLo = dLo >>> 0;
    this.offsetHi = (hi - this.tickHi - borrow) >>> 0;
  }

  /** Reads the clock into tickLo/tickHi. */
  private readClock(): void {
    let t = Math.floor(this.clock());
    if (!(t >= 0)) t = 0; // also catches NaN from a broken clock
    if (t > Number.MAX_SAFE_INTEGER) t = Number.MAX_SAFE_INTEGER;
    const hi = Math.floor(t / TWO_32);
    this.tickHi = hi;
    this.tickLo = t - hi * TWO_32;
  }

  /** Computes mtime into nowLo/nowHi. */
  private sample(): void {
    this.readClock();
    const lo = this.tickLo + this.offsetLo; // < 2^33: exact
    const carry = lo >= TWO_32 ? 1 : 0;
    this.nowLo = lo >>> 0;
    this.nowHi = (this.tickHi + this.offsetHi + carry) >>> 0;
  }

  /** mtime (as last sampled) >= (hi:lo). */
  private reached(lo: number, hi: number): boolean {
    return this.nowHi > hi || (this.nowHi === hi && this.nowLo >= lo);
  }

  /** Sends hart h's MTIP if it changed, from the last sample. */
  private updateTimer(h: number): void {
    const level = this.reached(this.cmpLo[h], this.cmpHi[h]) ? 1 : 0;
    if (level !== this.mtip[h]) {
      this.mtip[h] = level;
      this.harts[h].setInterruptLevel(MIP_MTIP_BIT, level !== 0);
    }
  }
}
