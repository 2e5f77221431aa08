/**
 * The `virt` board: QEMU's virt machine as the guest sees it (design.md §3) — same addresses,
 * interrupt numbers and device-tree bindings, so the same kernel, OpenSBI and U-Boot run unchanged.
 *
 *   0x0000_1000  boot ROM (reset vector, fw_dynamic info)            ROM
 *   0x0010_0000  sifive,test1 finisher / syscon (poweroff, reboot)
 *   0x0010_1000  google,goldfish-rtc                                  irq 11
 *   0x0200_0000  CLINT (msip, mtimecmp, mtime; 10 MHz)
 *   0x0c00_0000  PLIC (sifive,plic-1.0.0), contexts M and S per hart
 *   0x1000_0000  UART0 ns16550a                                       irq 10
 *   0x1000_1000  virtio,mmio slot 0 .. 0x1000_8000 slot 7             irq 1..8
 *   0x8000_0000  RAM
 *
 * Boot paths: built-in SBI (kernel entered in S-mode, the accelerator serves SBI), or M-mode
 * firmware (`bios`) started from the boot ROM on every hart, like QEMU.
 *
 * The machine runs its harts round-robin in slices; between slices it advances the clock, updates
 * timers and device interrupts, feeds console input, and yields to the host event loop.
 */

import { createVm, type Vcpu, type Vm } from '../accel/index.js';
import { warmUpHart } from '../hart/warmup.js';
import type { HartInterruptLines } from '../devices/index.js';
import {
  Clint, CLINT_SIZE, GoldfishRtc, GOLDFISH_RTC_SIZE, Plic, PLIC_SIZE, SifiveTest, SIFIVE_TEST_SIZE,
  Uart16550, VirtioBlk, VirtioConsole, VirtioNet, VirtioMmioEmptySlot, VirtioMmioTransport, VirtioRng, VIRTIO_MMIO_SIZE,
  type SifiveTestEvent, type VirtioDevice,
} from '../devices/index.js';
import type { BlockBackend } from '../block/backend.js';
import type { NetBackend } from '../net/backend.js';
import { buildBootRom, BOOT_ROM_BASE, BOOT_ROM_SIZE } from './boot-rom.js';
import { loadKernel, placeFdt, placeInitrd, LoaderError, type Gunzip } from './loader.js';
import {
  buildVirtFdt, VIRT_CLINT_BASE, VIRT_DRAM_BASE as VIRT_RAM_BASE, VIRT_PLIC_BASE, VIRT_RTC_BASE, VIRT_RTC_IRQ,
  VIRT_TEST_BASE, VIRT_TIMEBASE_HZ as TIMEBASE_HZ, VIRT_UART0_BASE, VIRT_UART0_IRQ, VIRT_UART0_SIZE,
  VIRT_VIRTIO_BASE, VIRT_VIRTIO_COUNT, VIRT_VIRTIO_IRQ,
} from './virt-fdt.js';

export const MAX_CPUS = 8;
/** Largest RAM: the arena holds all guest memory below 4 GiB. */
export const MAX_MEMORY_MIB = 4032;

/** Instructions per hart per scheduling slice (harts take turns at this granularity). */
const SLICE = 20_000;
/**
 * The same for a machine with one hart: nothing to take turns with, and each slice ends with
 * timer, device and yield checks and re-entry into the hart (and its translated code): 100 000
 * took a boot ~15 ms less. Timers still fire within 2 ms at 50 MIPS (Linux ticks every 4 ms).
 */
const SLICE_ONE_HART = 100_000;
/** Longest the machine computes before yielding to the host event loop. */
const YIELD_MS = 8;
/**
 * The same while a hart's JIT has background compiles in flight: a compiled module is installed
 * a few event-loop turns after it is ready (V8 posts its completion to the loop), and with 8 ms
 * between turns the interpreter ran a boot's hottest pages for 20-25 ms more than it needed to.
 */
const YIELD_MS_COMPILING = 1;
/** Virtual clock: guest time advances one tick (100 ns) per this many instructions. */
const INSTRUCTIONS_PER_TICK = 10;

export class MachineConfigError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MachineConfigError';
    this.code = code;
  }
}

export interface VirtConfig {
  memoryMiB: number;
  cpus: number;
  kernel?: Uint8Array;
  /** How error messages name the kernel (its file name); default 'kernel'. */
  kernelName?: string;
  initrd?: Uint8Array;
  append?: string;
  /** 'builtin': the accelerator's SBI; a firmware image: run in M-mode from the boot ROM. */
  bios: 'builtin' | { name: string; data: Uint8Array };
  clock: 'host' | 'virtual';
  /** Execution engine: 'jit' (default: hot code translated to WebAssembly) or 'interp' (the reference). */
  accel?: 'interp' | 'jit';
  /** With the JIT: the most translated code (WebAssembly) kept alive, in MiB (default 16). */
  jitCacheMiB?: number;
  /** JIT: instructions a page runs interpreted before it is translated (`--accel jit,hot=N`). */
  jitHotThreshold?: number;
  /**
   * JIT: where modules compile (JitOptions.compile). Default 'background': run() yields to the
   * event loop every few milliseconds, and the guest goes on interpreted meanwhile. 'sync' makes
   * when translated code starts running depend on the instructions alone (lockstep tests that
   * compare the engines at fixed points).
   */
  jitCompile?: 'sync' | 'background';
  /**
   * Devices on the virtio-mmio slots, in probe order (the first listed is found first by Linux,
   * so the first disk is vda).
   */
  virtio: VirtioSpec[];
}

export type VirtioSpec =
  | 'rng'
  | 'console'
  | { kind: 'blk'; backend: BlockBackend; serial?: string }
  | { kind: 'net'; backend: NetBackend; mac: Uint8Array };

/** Host services the board needs (injected: the core has no Node imports). */
export interface VirtHost {
  /** Monotonic host time in milliseconds. */
  monotonicMs(): number;
  /** Wall-clock time in milliseconds since the epoch (for the RTC). */
  wallClockMs(): number;
  sleep(ms: number): Promise<void>;
  gunzip: Gunzip;
  /** Console output (UART, SBI console, virtio-console). */
  consoleWrite(bytes: Uint8Array): void;
  /** Fills a buffer with random bytes (virtio-rng). */
  entropy(buf: Uint8Array): void;
  /** Device warnings (a guest misusing a device, a disk error); logged once each by the device. */
  log?(message: string): void;
}

export type MachineStop =
  | { kind: 'poweroff'; code: number }
  | { kind: 'stopped' }
  | { kind: 'error'; message: string };

export class VirtMachine {
  readonly config: VirtConfig;
  readonly host: VirtHost;
  readonly vm: Vm;
  readonly vcpus: Vcpu[] = [];
  readonly uart: Uart16550;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly rtc: GoldfishRtc;
  readonly virtio: VirtioMmioTransport[] = [];
  private readonly virtioConsoles: VirtioConsole[] = [];
  readonly disks: VirtioBlk[] = [];
  readonly nics: VirtioNet[] = [];
  /** Device states right after construction: loaded again on a guest reboot. */
  private readonly powerOnState: { clint: unknown; plic: unknown };
  private outBuf = new Uint8Array(4096);
  private outLen = 0;
  private readonly inputQueue: number[] = [];
  private pending: { kind: 'poweroff' | 'reset' | 'fail'; code: number } | null = null;
  private stopRequested = false;
  /** Set while the run loop waits idle: calling it ends the wait. */
  private waker: (() => void) | null = null;
  /** Warm-up parts still to run at the next idle moments (after a restore): one per moment. */
  private warmUpWhenIdle: ('interp' | 'jit')[] = [];
  /** Virtual clock ticks (clock 'virtual'), or the host-clock origin (clock 'host'). */
  private virtualTicks = 0;
  private hostOriginMs = 0;
  /** Instructions executed (all harts). */
  instructions = 0;
  resets = 0;

  /**
   * With `options.boot === false` the machine is built but not booted (no images loaded, RAM left
   * zero): for restoring a snapshot into it.
   */
  constructor(config: VirtConfig, host: VirtHost, options: { boot?: boolean } = {}) {
    validateConfig(config);
    // Once per process, so the interpreter loop is optimised once, with full feedback: before a
    // boot (the guest is busy from its first instruction); for a restore, at the first idle
    // moments instead (the interpreter's part, then the JIT's), so it adds nothing to the time to
    // resume.
    if (options.boot !== false) warmUpHart({ jit: config.accel !== 'interp' });
    else this.warmUpWhenIdle = config.accel === 'interp' ? ['interp'] : ['interp', 'jit'];
    this.config = config;
    this.host = host;
    this.hostOriginMs = host.monotonicMs();
    const builtinSbi = config.bios === 'builtin';
    this.vm = createVm({
      clock: { now: () => this.mtime() },
      sbi: builtinSbi,
      engine: config.accel ?? 'jit',
      jitCodeCacheBytes: config.jitCacheMiB === undefined ? undefined : config.jitCacheMiB * 1048576,
      jitHotThreshold: config.jitHotThreshold,
      jitCompile: config.jitCompile ?? 'background',
      console: {
        write: (bytes) => this.emit(bytes),
        readByte: () => (this.inputQueue.length > 0 ? (this.inputQueue.shift() as number) : -1),
      },
    });
    // The ROM first: adding a region after RAM would copy the whole arena.
    this.vm.setMemoryRegion({ slot: 1, guestPhysAddr: BOOT_ROM_BASE, size: BOOT_ROM_SIZE, flags: { readonly: true } });
    this.vm.setMemoryRegion({ slot: 0, guestPhysAddr: VIRT_RAM_BASE, size: config.memoryMiB * 1048576 });
    for (let i = 0; i < config.cpus; i++) this.vcpus.push(this.vm.createVcpu(i));
    const lines: HartInterruptLines[] = this.vcpus.map((v) => v.hart);

    this.clint = new Clint(lines, () => this.mtime());
    this.plic = new Plic(lines);
    this.uart = new Uart16550({
      output: (byte) => this.emitByte(byte),
      interrupt: (level) => this.setIrq(VIRT_UART0_IRQ, level),
    });
    this.rtc = new GoldfishRtc(() => host.wallClockMs(), (level) => this.setIrq(VIRT_RTC_IRQ, level));
    const test = new SifiveTest((event: SifiveTestEvent) => this.systemEvent(event.kind, event.code));
    this.vm.registerMmio(VIRT_TEST_BASE, SIFIVE_TEST_SIZE, test);
    this.vm.registerMmio(VIRT_RTC_BASE, GOLDFISH_RTC_SIZE, this.rtc);
    this.vm.registerMmio(VIRT_CLINT_BASE, CLINT_SIZE, this.clint);
    this.vm.registerMmio(VIRT_PLIC_BASE, PLIC_SIZE, this.plic);
    this.vm.registerMmio(VIRT_UART0_BASE, VIRT_UART0_SIZE, this.uart);
    // Eight virtio-mmio slots as on QEMU's board; unpopulated ones answer DeviceID 0. Devices are
    // placed from the highest slot down, as QEMU does (Linux probes the highest slot first, so the
    // first device configured is found first).
    for (let slot = 0; slot < VIRT_VIRTIO_COUNT; slot++) {
      const index = VIRT_VIRTIO_COUNT - 1 - slot;
      const kind = config.virtio[index];
      const base = VIRT_VIRTIO_BASE + slot * 0x1000;
      if (kind === undefined) {
        this.vm.registerMmio(base, VIRTIO_MMIO_SIZE, new VirtioMmioEmptySlot());
        continue;
      }
      let device: VirtioDevice;
      if (kind === 'rng') {
        device = new VirtioRng(this.vm.memory, (buf) => host.entropy(buf));
      } else if (kind === 'console') {
        const c = new VirtioConsole(this.vm.memory, (bytes) => this.emit(bytes));
        this.virtioConsoles.push(c);
        device = c;
      } else if (kind.kind === 'net') {
        const nic = new VirtioNet(this.vm.memory, kind.backend, {
          mac: kind.mac,
          onError: (message) => host.log?.(`nic ${this.nics.length}: ${message}`),
        });
        this.nics.push(nic);
        device = nic;
      } else {
        const blk = new VirtioBlk(this.vm.memory, kind.backend, {
          serial: kind.serial,
          onError: (message) => host.log?.(`disk ${this.disks.length}: ${message}`),
        });
        this.disks.push(blk);
        device = blk;
      }
      const transport = new VirtioMmioTransport(this.vm.memory, device,
        (level) => this.setIrq(VIRT_VIRTIO_IRQ + slot, level));
      this.virtio.push(transport);
      this.vm.registerMmio(base, VIRTIO_MMIO_SIZE, transport);
    }
    this.powerOnState = {
      clint: this.clint.saveState(),
      plic: this.plic.saveState(),
    };
    if (options.boot !== false) this.boot(false);
  }

  /** Resets the machine as a power cycle would: reloads the images, resets harts and devices. */
  reset(): void {
    this.resets++;
    this.boot(true);
  }

  /** Makes mtime() read `ticks` from now on (snapshot restore). */
  setMtime(ticks: number): void {
    if (this.config.clock === 'virtual') {
      this.virtualTicks = ticks - Math.floor(this.instructions / INSTRUCTIONS_PER_TICK);
    } else {
      this.hostOriginMs = this.host.monotonicMs() - ticks / (TIMEBASE_HZ / 1000);
    }
  }

  /** A copy of the console input not yet delivered to the guest. */
  pendingInput(): Uint8Array {
    return Uint8Array.from(this.inputQueue);
  }

  /** Replaces the queued console input (snapshot restore). */
  setPendingInput(bytes: Uint8Array): void {
    this.inputQueue.length = 0;
    for (const b of bytes) this.inputQueue.push(b);
  }

  /** Guest time in 10 MHz ticks. */
  mtime(): number {
    if (this.config.clock === 'virtual') return this.virtualTicks + Math.floor(this.instructions / INSTRUCTIONS_PER_TICK);
    return Math.floor((this.host.monotonicMs() - this.hostOriginMs) * (TIMEBASE_HZ / 1000));
  }

  /**
   * Loads firmware, kernel, initrd and device tree and puts the harts in their reset state.
   * `clearRam` zeroes RAM first (a reboot); at power-on it is zero already, and leaving it
   * untouched keeps the host from committing every page of guest RAM up front.
   */
  private boot(clearRam: boolean): void {
    const { config, vm } = this;
    const mem = vm.memory;
    const ramSize = config.memoryMiB * 1048576;
    const ram = mem.ram.find((r) => r.base === VIRT_RAM_BASE) ?? mem.ram[0];
    if (clearRam) mem.u8.fill(0, ram.arenaOffset, ram.arenaOffset + ram.size);
    mem.invalidateAllCode();
    const builtin = config.bios === 'builtin';

    let firmwareEnd = VIRT_RAM_BASE;
    if (!builtin && typeof config.bios === 'object') {
      const fw = config.bios;
      if (fw.data.length === 0) throw new LoaderError('EEMPTY', `${fw.name}: empty firmware file`);
      if (fw.data.length > 0x20_0000) {
        throw new LoaderError('E2BIG', `${fw.name}: firmware larger than 2 MiB does not fit below the kernel`);
      }
      mem.writeBytes(VIRT_RAM_BASE, fw.data);
      firmwareEnd = VIRT_RAM_BASE + fw.data.length;
    }
    let kernelEntry = VIRT_RAM_BASE + 0x20_0000;
    let kernelEnd = firmwareEnd;
    if (config.kernel !== undefined) {
      const k = loadKernel(config.kernel, mem, VIRT_RAM_BASE, ramSize, this.host.gunzip, config.kernelName);
      kernelEntry = k.entry;
      kernelEnd = k.end;
    }
    const FDT_RESERVE = 0x20_0000;
    let initrd: { start: number; end: number } | undefined;
    if (config.initrd !== undefined) {
      const start = placeInitrd(VIRT_RAM_BASE, ramSize, kernelEnd, config.initrd.length, FDT_RESERVE);
      mem.writeBytes(start, config.initrd);
      initrd = { start, end: start + config.initrd.length };
    }
    const fdt = buildVirtFdt({
      memoryBase: VIRT_RAM_BASE,
      memorySize: ramSize,
      harts: config.cpus,
      bootargs: config.append ?? '',
      initrd,
      virtio: Array.from({ length: VIRT_VIRTIO_COUNT }, (_, slot) => ({ slot })),
      timebaseFrequency: TIMEBASE_HZ,
    });
    const fdtAddr = placeFdt(VIRT_RAM_BASE, ramSize, fdt.length);
    if (initrd !== undefined && initrd.end > fdtAddr) {
      throw new LoaderError('E2BIG', 'initrd overlaps the device tree: give the guest more memory');
    }
    mem.writeBytes(fdtAddr, fdt);

    this.uart.reset();
    this.plic.loadState(this.powerOnState.plic);
    this.clint.loadState(this.powerOnState.clint);
    this.rtc.reset();
    for (const t of this.virtio) t.reset();
    for (const v of this.vcpus) {
      v.hart.reset();
      v.stimecmp = Infinity;
    }
    if (builtin) {
      for (const v of this.vcpus) v.hsm = v.id === 0 ? 'started' : 'stopped';
      this.vcpus[0].enterSupervisor(BigInt(kernelEntry), BigInt(fdtAddr));
    } else {
      const rom = buildBootRom({
        firmwareEntry: BigInt(VIRT_RAM_BASE),
        fdtAddress: BigInt(fdtAddr),
        nextAddress: BigInt(kernelEntry),
        bootHart: 0,
      });
      mem.writeBytes(BOOT_ROM_BASE, rom);
      for (const v of this.vcpus) {
        v.hsm = 'started';
        v.hart.setPc(BigInt(BOOT_ROM_BASE));
      }
    }
  }

  /** Feeds console input (the UART, and the SBI / virtio consoles). */
  input(bytes: Uint8Array): void {
    for (const b of bytes) this.inputQueue.push(b);
    this.wake();
  }

  /** A device interrupt line: to the PLIC; a rising line also wakes an idle machine at once. */
  private setIrq(source: number, level: boolean): void {
    this.plic.setIrq(source, level);
    if (level) this.wake();
  }

  /** Resolves the idle wait early (an I/O completion or input arrived while the harts slept). */
  private wake(): void {
    const w = this.waker;
    if (w !== null) {
      this.waker = null;
      w();
    }
  }

  /** Waits up to `ms` for time to pass, or less if wake() is called. */
  private idleWait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.waker = null;
        resolve();
      };
      this.waker = finish;
      void this.host.sleep(ms).then(finish);
    });
  }

  /** Asks run() to return { kind: 'stopped' } at the next slice boundary. */
  stop(): void {
    this.stopRequested = true;
  }

  private systemEvent(kind: 'poweroff' | 'reset' | 'fail', code: number): void {
    this.pending = { kind, code };
    for (const v of this.vcpus) v.hart.requestStop();
  }

  private emitByte(byte: number): void {
    if (this.outLen === this.outBuf.length) this.flushOutput();
    this.outBuf[this.outLen++] = byte;
  }

  private emit(bytes: Uint8Array): void {
    for (const b of bytes) this.emitByte(b);
  }

  private flushOutput(): void {
    if (this.outLen === 0) return;
    this.host.consoleWrite(this.outBuf.slice(0, this.outLen));
    this.outLen = 0;
  }

  /** Moves queued console input into the UART's receive FIFO (as far as it has room). */
  private deliverInput(): void {
    const q = this.inputQueue;
    if (q.length === 0) return;
    const taken = this.uart.receive(Uint8Array.from(q.slice(0, 16)));
    q.splice(0, taken);
  }

  /** Runs the machine until poweroff, an error, or stop(). Guest reboots are handled inside. */
  async run(): Promise<MachineStop> {
    const host = this.host;
    let lastYield = host.monotonicMs();
    for (;;) {
      if (this.stopRequested) {
        this.stopRequested = false; // run() may be called again to continue
        this.flushOutput();
        return { kind: 'stopped' };
      }
      let active = 0;
      let idle = 0;
      const slice = this.vcpus.length === 1 ? SLICE_ONE_HART : SLICE;
      for (const v of this.vcpus) {
        if (v.hsm !== 'started') continue;
        active++;
        const before = v.hart.instret;
        const exit = v.run(slice);
        this.instructions += v.hart.instret - before;
        if (exit.kind === 'halt') idle++;
        else if (exit.kind === 'system-event') {
          this.pending = { kind: exit.event === 'shutdown' ? 'poweroff' : 'reset', code: 0 };
          this.vm.pendingSystemEvent = null;
        } else if (exit.kind === 'internal-error') {
          this.flushOutput();
          return { kind: 'error', message: `hart ${v.id}: ${exit.message}` };
        }
        if (this.pending !== null) break;
      }
      if (this.pending !== null) {
        const p = this.pending;
        this.pending = null;
        if (p.kind === 'reset') {
          this.reset();
          continue;
        }
        this.flushOutput();
        return { kind: 'poweroff', code: p.kind === 'fail' ? Math.max(1, p.code) : 0 };
      }
      // Between slices: timers, devices, input.
      const now = this.mtime();
      this.clint.update();
      for (const v of this.vcpus) v.updateTimer(now);
      this.rtc.update();
      this.deliverInput();

      const allIdle = active === 0 || idle === active;
      if (allIdle && !this.vcpus.some((v) => v.hsm === 'started' && v.hart.interruptPending())) {
        this.flushOutput();
        // One part per idle moment (interpreter, then JIT), so the JIT's does not delay the
        // guest's answer to the first input after a restore.
        const part = this.warmUpWhenIdle.shift();
        if (part !== undefined) warmUpHart({ jit: part === 'jit' });
        const deadline = this.nextDeadline();
        if (this.config.clock === 'virtual') {
          // Jump guest time to the deadline (what the guest sees stays deterministic), and let host
          // time pass at about the same pace (at most 10 ms), so an idle guest costs no CPU and
          // console input gets in.
          const delta = Number.isFinite(deadline) ? Math.max(0, deadline - this.mtime()) : 0;
          this.virtualTicks += delta;
          await this.idleWait(Math.min(10, delta / (TIMEBASE_HZ / 1000)));
        } else {
          const ms = Number.isFinite(deadline) ? Math.min(10, Math.max(0, (deadline - now) / (TIMEBASE_HZ / 1000))) : 10;
          await this.idleWait(ms);
        }
        lastYield = host.monotonicMs();
        continue;
      }
      const t = host.monotonicMs();
      if (t - lastYield >= YIELD_MS || (t - lastYield >= YIELD_MS_COMPILING && this.jitCompiling())) {
        this.flushOutput();
        await host.sleep(0);
        lastYield = host.monotonicMs();
      }
    }
  }

  private jitCompiling(): boolean {
    for (const v of this.vcpus) if (v.hart.jit?.compiling === true) return true;
    return false;
  }

  /** Earliest timer deadline (mtime ticks) over the CLINT, SBI timers and the RTC alarm. */
  private nextDeadline(): number {
    let d = this.clint.nextDeadline();
    if (Number.isFinite(d)) d += this.mtime(); // nextDeadline() is relative
    for (const v of this.vcpus) d = Math.min(d, v.stimecmp);
    const alarm = this.rtc.nextAlarmMs();
    if (Number.isFinite(alarm)) d = Math.min(d, this.mtime() + alarm * (TIMEBASE_HZ / 1000));
    return d;
  }
}

function validateConfig(c: VirtConfig): void {
  if (!Number.isInteger(c.memoryMiB) || c.memoryMiB < 16 || c.memoryMiB > MAX_MEMORY_MIB) {
    throw new MachineConfigError('EINVAL', `--memory ${c.memoryMiB}: must be 16..${MAX_MEMORY_MIB} MiB`);
  }
  if (!Number.isInteger(c.cpus) || c.cpus < 1 || c.cpus > MAX_CPUS) {
    throw new MachineConfigError('EINVAL', `--cpus ${c.cpus}: must be 1..${MAX_CPUS}`);
  }
  if (c.virtio.length > VIRT_VIRTIO_COUNT) {
    throw new MachineConfigError('EINVAL', `at most ${VIRT_VIRTIO_COUNT} virtio devices`);
  }
  if (c.bios === 'builtin' && c.kernel === undefined) {
    throw new MachineConfigError('EINVAL', 'no kernel: give --kernel (or --bios FILE for firmware alone)');
  }
  if (c.jitHotThreshold !== undefined && !(Number.isInteger(c.jitHotThreshold) && c.jitHotThreshold >= 0)) {
    throw new MachineConfigError('EINVAL', `JIT hot threshold ${c.jitHotThreshold}: must be a whole number of instructions`);
  }
}
