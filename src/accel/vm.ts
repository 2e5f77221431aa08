/**
 * The accelerator: a KVM-shaped API over the interpreter hart (design.md §2).
 *
 *   const vm = createVm({ clock, console })
 *   vm.setMemoryRegion({ slot, guestPhysAddr, size, flags })
 *   vm.registerMmio(base, size, handler)       // in-accelerator MMIO dispatch (like ioeventfd)
 *   const vcpu = vm.createVcpu(id)
 *   vcpu.run(budget) -> VcpuExit               // 'budget' | 'halt' | 'system-event' | 'debug' | 'stopped' | 'internal-error'
 *
 * Like KVM, the accelerator handles the hot architectural things itself: with the built-in SBI
 * (`sbi: true`), S-mode `ecall`s are SBI calls served here (timer, IPIs, remote fences, hart state,
 * reset, console), and the supervisor timer is compared against the platform clock here.
 * Everything else — devices, interrupt controller, firmware — belongs to the machine.
 */

import {
  Cause, ExitReason, Hart, PhysicalMemory, PRIV_S, type MmioHandler, type RamRegion,
  type HartState,
} from '../hart/index.js';
import { handleSbiCall, type SbiHost } from './sbi.js';

/** Supervisor timer interrupt pending bit (mip.STIP). */
const STIP_BIT = 5;
/** Supervisor software interrupt pending bit (mip.SSIP). */
const SSIP_BIT = 1;

export class AccelError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AccelError';
    this.code = code;
  }
}

/** The platform clock: `mtime` in ticks of the timebase (10 MHz on virt). */
export interface VmClock {
  now(): number;
}

/** The SBI debug console (DBCN and the legacy putchar/getchar calls). */
export interface SbiConsole {
  write(bytes: Uint8Array): void;
  /** One input byte, or -1 when none is waiting. */
  readByte(): number;
}

export interface VmOptions {
  clock: VmClock;
  /** Serve SBI calls in the accelerator (no M-mode firmware). Default true. */
  sbi?: boolean;
  console?: SbiConsole;
  /** Execution engine of every vCPU: the interpreter (default, the reference) or the JIT. */
  engine?: 'interp' | 'jit';
  /** JIT only: the most translated code kept alive, in bytes of WebAssembly (engine default if unset). */
  jitCodeCacheBytes?: number;
  /** Instructions a page runs interpreted before the JIT translates it (undefined: the default). */
  jitHotThreshold?: number;
  /**
   * Where the JIT compiles its modules (JitOptions.compile): 'background' only for a caller whose
   * run loop yields to the event loop now and then, so finished compiles get installed. Default 'sync'.
   */
  jitCompile?: 'sync' | 'background';
}

export interface MemoryRegionSpec {
  slot: number;
  guestPhysAddr: number;
  size: number;
  flags?: { readonly?: boolean; logDirty?: boolean };
}

export type SystemEventKind = 'shutdown' | 'reset';

export type VcpuExitKind = 'budget' | 'halt' | 'system-event' | 'debug' | 'stopped' | 'internal-error';

/** Why vcpu.run() returned. One object per vcpu, reused (no allocation per exit). */
export interface VcpuExit {
  kind: VcpuExitKind;
  /** For 'system-event'. */
  event: SystemEventKind;
  /** For 'system-event': the SBI reset reason, or the guest's failure code. */
  reason: number;
  /** For 'internal-error': what went wrong. */
  message: string;
}

export type HsmState = 'started' | 'stopped' | 'start-pending' | 'stop-pending' | 'suspended';

export class Vm {
  readonly memory = new PhysicalMemory();
  readonly clock: VmClock;
  readonly sbiEnabled: boolean;
  readonly console: SbiConsole | undefined;
  readonly engine: 'interp' | 'jit';
  readonly jitCodeCacheBytes: number | undefined;
  readonly jitHotThreshold: number | undefined;
  readonly jitCompile: 'sync' | 'background' | undefined;
  private readonly slots = new Map<number, RamRegion>();
  readonly vcpus: Vcpu[] = [];
  /** Set by an SBI system reset; the machine reads and clears it. */
  pendingSystemEvent: { kind: SystemEventKind; reason: number } | null = null;

  constructor(options: VmOptions) {
    this.clock = options.clock;
    this.sbiEnabled = options.sbi ?? true;
    this.console = options.console;
    this.engine = options.engine ?? 'interp';
    this.jitCodeCacheBytes = options.jitCodeCacheBytes;
    this.jitHotThreshold = options.jitHotThreshold;
    this.jitCompile = options.jitCompile;
  }

  setMemoryRegion(spec: MemoryRegionSpec): RamRegion {
    if (!Number.isInteger(spec.slot) || spec.slot < 0 || spec.slot > 255) {
      throw new AccelError('EINVAL', `memory slot ${spec.slot} is not 0..255`);
    }
    if (this.slots.has(spec.slot)) {
      throw new AccelError('EEXIST', `memory slot ${spec.slot} is already in use`);
    }
    const region = this.memory.addRam(spec.guestPhysAddr, spec.size, { readonly: spec.flags?.readonly === true });
    this.slots.set(spec.slot, region);
    return region;
  }

  /** Returns one byte per 4 KiB page of the slot: nonzero if written since the last call. */
  getDirtyLog(slot: number): Uint8Array {
    const region = this.slots.get(slot);
    if (region === undefined) throw new AccelError('ENOENT', `memory slot ${slot} does not exist`);
    return this.memory.getDirtyLog(region);
  }

  registerMmio(base: number, size: number, handler: MmioHandler): void {
    this.memory.addMmio(base, size, handler);
  }

  createVcpu(id: number): Vcpu {
    if (!Number.isInteger(id) || id < 0 || id >= 4096 || this.vcpus.some((v) => v.id === id)) {
      throw new AccelError('EINVAL', `vcpu id ${id} is invalid or already created`);
    }
    const vcpu = new Vcpu(this, id);
    this.vcpus.push(vcpu);
    this.vcpus.sort((a, b) => a.id - b.id);
    return vcpu;
  }

  vcpu(id: number): Vcpu | undefined {
    return this.vcpus.find((v) => v.id === id);
  }
}

export function createVm(options: VmOptions): Vm {
  return new Vm(options);
}

export interface VcpuState {
  version: 1;
  hart: HartState;
  hsm: HsmState;
  stimecmp: string;
}

export class Vcpu implements SbiHost {
  readonly id: number;
  readonly vm: Vm;
  readonly hart: Hart;
  /** HSM state: only 'started' vcpus run. The boot vcpu starts 'started', others 'stopped'. */
  hsm: HsmState;
  /** Supervisor timer deadline set through SBI TIME (Infinity = none). */
  stimecmp = Infinity;
  readonly exit: VcpuExit = { kind: 'budget', event: 'shutdown', reason: 0, message: '' };

  constructor(vm: Vm, id: number) {
    this.vm = vm;
    this.id = id;
    this.hart = new Hart(vm.memory, { hartId: id, timeSource: () => vm.clock.now(), jit: vm.engine === 'jit' ? { codeCacheBytes: vm.jitCodeCacheBytes, hotThreshold: vm.jitHotThreshold, compile: vm.jitCompile } : false });
    this.hsm = id === 0 || vm.vcpus.length === 0 ? 'started' : 'stopped';
    if (vm.sbiEnabled) {
      this.hart.interceptExceptions = 1 << Cause.EcallFromS;
    }
  }

  /**
   * Puts the hart in the state the built-in SBI boot path gives it: S-mode at `pc` with
   * a0 = hartid, a1 = opaque; exceptions and S interrupts delegated; counters readable.
   */
  enterSupervisor(pc: bigint, opaque: bigint): void {
    const h = this.hart;
    h.setCsr(0x302 /* medeleg */, 0xb1ffn); // all delegable causes except ecall from S
    h.setCsr(0x303 /* mideleg */, (1n << 1n) | (1n << 5n) | (1n << 9n));
    h.setCsr(0x306 /* mcounteren */, 0x7n);
    // As OpenSBI does at boot: user mode may read cycle, time and instret (Linux's vDSO reads time).
    h.setCsr(0x106 /* scounteren */, 0x7n);
    h.setCsr(0x180 /* satp */, 0n);
    h.setCsr(0x304 /* mie */, 0n);
    h.setX(10, BigInt(this.id));
    h.setX(11, opaque);
    h.setPc(pc);
    h.priv = PRIV_S;
  }

  /** Updates the supervisor timer line from the clock (called between slices). */
  updateTimer(now: number): void {
    this.hart.setInterruptLevel(STIP_BIT, now >= this.stimecmp);
  }

  /**
   * Runs up to `budget` instructions. Returns the exit (also in `this.exit`). SBI calls are served
   * inside; the loop continues after them until the budget is used or another exit happens.
   */
  run(budget: number): VcpuExit {
    const h = this.hart;
    const exit = this.exit;
    if (this.hsm !== 'started') {
      exit.kind = 'halt';
      return exit;
    }
    let remaining = budget;
    for (;;) {
      const before = h.instret;
      const r = h.run(remaining);
      remaining -= h.instret - before;
      if (r === ExitReason.Exception) {
        if (h.exitCause === Cause.EcallFromS && this.vm.sbiEnabled) {
          handleSbiCall(this);
          h.setPc(h.getPc() + 4n); // the ecall retires (it was counted by the hart)
          if (this.vm.pendingSystemEvent !== null) {
            exit.kind = 'system-event';
            exit.event = this.vm.pendingSystemEvent.kind;
            exit.reason = this.vm.pendingSystemEvent.reason;
            break;
          }
          if (this.hsm !== 'started') {
            exit.kind = 'halt';
            break;
          }
          if (remaining > 0) continue;
          exit.kind = 'budget';
          break;
        }
        exit.kind = 'internal-error';
        exit.message = `unhandled exception cause ${h.exitCause} at pc 0x${h.getPc().toString(16)}`;
        break;
      }
      exit.kind = r === ExitReason.Wfi ? 'halt' : r === ExitReason.Stopped ? 'stopped' : 'budget';
      break;
    }
    h.clearReservation(); // another hart runs next: an LR/SC pair must not span it
    return exit;
  }

  // ---- SbiHost ----
  setTimer(deadline: number): void {
    this.stimecmp = deadline;
    this.hart.setInterruptLevel(STIP_BIT, this.vm.clock.now() >= deadline);
  }

  sendIpi(hartId: number): boolean {
    const target = this.vm.vcpu(hartId);
    if (target === undefined) return false;
    target.hart.setSoftwareInterrupt(SSIP_BIT, true);
    return true;
  }

  remoteSfence(hartId: number): boolean {
    const target = this.vm.vcpu(hartId);
    if (target === undefined) return false;
    target.hart.flushTranslations();
    return true;
  }

  hartStart(hartId: number, startAddr: bigint, opaque: bigint): number {
    const target = this.vm.vcpu(hartId);
    if (target === undefined) return SBI_ERR_INVALID_PARAM;
    if (target.hsm !== 'stopped') return SBI_ERR_ALREADY_AVAILABLE;
    target.hart.reset();
    target.enterSupervisor(startAddr, opaque);
    target.hsm = 'started';
    return 0;
  }

  hartStop(): number {
    this.hsm = 'stopped';
    return 0;
  }

  hartStatus(hartId: number): number {
    const target = this.vm.vcpu(hartId);
    if (target === undefined) return SBI_ERR_INVALID_PARAM;
    return HSM_STATUS[target.hsm];
  }

  systemEvent(kind: SystemEventKind, reason: number): void {
    this.vm.pendingSystemEvent = { kind, reason };
  }

  consoleWrite(bytes: Uint8Array): void {
    this.vm.console?.write(bytes);
  }

  consoleReadByte(): number {
    return this.vm.console?.readByte() ?? -1;
  }

  hartIds(): number[] {
    return this.vm.vcpus.map((v) => v.id);
  }

  saveState(): VcpuState {
    return {
      version: 1,
      hart: this.hart.saveState(),
      hsm: this.hsm,
      stimecmp: Number.isFinite(this.stimecmp) ? String(this.stimecmp) : 'none',
    };
  }

  loadState(state: VcpuState): void {
    if (typeof state !== 'object' || state === null || state.version !== 1) {
      throw new AccelError('EINVAL', `vcpu ${this.id} state: unsupported version`);
    }
    if (!(state.hsm in HSM_STATUS)) throw new AccelError('EINVAL', `vcpu ${this.id} state: bad HSM state`);
    const stimecmp = state.stimecmp === 'none' ? Infinity : Number(state.stimecmp);
    if (Number.isNaN(stimecmp)) throw new AccelError('EINVAL', `vcpu ${this.id} state: bad stimecmp`);
    this.hart.loadState(state.hart);
    this.hsm = state.hsm;
    this.stimecmp = stimecmp;
  }
}

export const SBI_ERR_INVALID_PARAM = -3;
export const SBI_ERR_ALREADY_AVAILABLE = -6;

const HSM_STATUS: Record<HsmState, number> = {
  started: 0,
  stopped: 1,
  'start-pending': 2,
  'stop-pending': 3,
  suspended: 4,
};

