/**
 * The bare-metal runner: `tsvm run --bios none --kernel prog.elf` as a library call.
 *
 * One hart starts in M-mode at the ELF entry (a0 = hartid, a1 = 0) on a minimal subset of the
 * `virt` board — RAM, CLINT, UART0 and the test finisher at QEMU's addresses — with no firmware.
 * The program reports its result through the HTIF `tohost` word (as riscv-tests and Spike do):
 *
 *   tohost = (code << 1) | 1        end of run; code 0 = pass, otherwise fail with that code
 *   tohost = pointer (even, != 0)   syscall: pointer to u64 magic_mem[4] = { which, a0, a1, a2 };
 *                                   SYS_write (64) to fd 1/2 prints, SYS_exit (93) ends the run;
 *                                   the host stores the return value in magic_mem[0], clears
 *                                   tohost and sets fromhost = 1
 *   tohost = 1<<56 | 1<<48 | ch     HTIF console device: print one character
 *
 * A write to the sifive,test1 finisher ends the run too (0x5555 poweroff, 0x3333 fail, 0x7777 reset).
 *
 * Memory map (QEMU virt addresses):
 *
 *   0x0010_0000  +0x1000     sifive,test1 finisher
 *   0x0200_0000  +0x10000    CLINT (mtime at 10 MHz from the injected host clock)
 *   0x1000_0000  +0x100      UART0 ns16550a (output to the injected console; no PLIC, no IRQ)
 *   0x8000_0000  +memoryMiB  RAM
 */

import { Hart, ExitReason, PhysicalMemory, MemoryError, type HartOptions } from '../hart/index.js';
import {
  Clint,
  CLINT_SIZE,
  CLINT_TIMEBASE_HZ,
  SifiveTest,
  SIFIVE_TEST_SIZE,
  Uart16550,
  UART_SIZE,
  type SifiveTestEvent,
} from '../devices/index.js';
import { ElfError, elfVirtToPhys, loadElf, parseElf } from './elf.js';

export const BARE_METAL_RAM_BASE = 0x8000_0000;
export const BARE_METAL_TEST_BASE = 0x0010_0000;
export const BARE_METAL_CLINT_BASE = 0x0200_0000;
export const BARE_METAL_UART_BASE = 0x1000_0000;

/** Instructions per hart.run() slice: small enough to stay responsive, large enough to be cheap. */
export const BARE_METAL_SLICE = 20_000;
/** Longest time the runner computes without yielding to the event loop. */
const YIELD_EVERY_MS = 5;
/** Longest sleep in WFI with no timer armed, so limits and Ctrl-C are still noticed. */
const IDLE_SLEEP_MS = 10;
const TICKS_PER_MS = CLINT_TIMEBASE_HZ / 1000;
/** Largest RAM: the guest arena is limited to 4 GiB minus a page. */
const MAX_MEMORY_MIB = 4095;
/** Largest SYS_write the host will copy out in one call. */
const MAX_WRITE_BYTES = 1 << 20;

const SYS_WRITE = 64;
const SYS_EXIT = 93;
const ENOSYS = 38;
const EBADF = 9;
const EFAULT = 14;

export interface BareMetalOptions {
  /** The program: an ELF64 RISC-V executable with a `tohost` symbol. */
  elf: Uint8Array;
  /** Guest RAM at 0x8000_0000 in MiB (default 128). */
  memoryMiB?: number;
  /** Wall-clock limit (host clock); the run ends with status 'timeout'. */
  timeoutMs?: number;
  /** Instruction limit; the run ends with status 'timeout' (limit 'instructions'). */
  maxInstructions?: number;
  /** Receives every byte the program prints (UART and HTIF console). */
  console?: (byte: number) => void;
  /** Monotonic host clock in milliseconds (default Date.now). Drives mtime and timeoutMs. */
  clock?: () => number;
  /** Resolves after `ms` milliseconds; called to yield to the host event loop and in WFI. */
  sleep?: (ms: number) => Promise<void>;
  /** Checked between slices: when `aborted` becomes true the run ends with status 'stopped'. */
  signal?: { readonly aborted: boolean };
  /** Instructions per slice (default BARE_METAL_SLICE). */
  sliceInstructions?: number;
  /** Run hot code through the WebAssembly JIT (default: interpreter only). See HartOptions.jit. */
  jit?: HartOptions['jit'];
}

export type BareMetalStatus = 'pass' | 'fail' | 'timeout' | 'stopped' | 'poweroff' | 'reset';

export interface BareMetalResult {
  /**
   * pass: tohost = 1 (or SYS_exit 0); fail: tohost odd with a nonzero code, SYS_exit(code != 0)
   * or the finisher's FAIL; poweroff: the finisher's PASS; reset: the finisher's RESET (a
   * bare-metal run does not reboot); timeout: timeoutMs or maxInstructions reached;
   * stopped: the signal was aborted.
   */
  status: BareMetalStatus;
  /**
   * The program's exit code: 0 for pass, poweroff and reset; the code for fail (at least 1);
   * 124 for timeout and 130 for stopped (the usual shell codes, so a CLI can exit with it).
   */
  exitCode: number;
  /** Instructions retired. */
  instructions: number;
  /** Host time the run took. */
  elapsedMs: number;
  /** For status 'timeout': which limit ended the run. */
  limit?: 'time' | 'instructions';
  /** How the program ended the run, for pass/fail/poweroff/reset. */
  source?: 'tohost' | 'syscall' | 'sifive-test';
}

/** A bad runner option (a configuration problem, not the program's). */
export class BareMetalConfigError extends Error {
  readonly code = 'EINVAL';
  constructor(message: string) {
    super(message);
    this.name = 'BareMetalConfigError';
  }
}

interface Ending {
  status: BareMetalStatus;
  exitCode: number;
  source: 'tohost' | 'syscall' | 'sifive-test';
}

/**
 * Runs a bare-metal program until it reports a result, a limit is reached or the signal aborts.
 * Throws ElfError for a bad program (including 'ENOSYM' when it has no tohost symbol) and
 * BareMetalConfigError for bad options.
 */
export async function runBareMetal(options: BareMetalOptions): Promise<BareMetalResult> {
  const memoryMiB = options.memoryMiB ?? 128;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > MAX_MEMORY_MIB) {
    throw new BareMetalConfigError(`memory size must be an integer from 1 to ${MAX_MEMORY_MIB} MiB, not ${memoryMiB}`);
  }
  const { timeoutMs, maxInstructions } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new BareMetalConfigError(`timeout must be a non-negative number of milliseconds, not ${timeoutMs}`);
  }
  if (maxInstructions !== undefined && !(Number.isSafeInteger(maxInstructions) && maxInstructions >= 0)) {
    throw new BareMetalConfigError(`instruction limit must be a non-negative integer, not ${maxInstructions}`);
  }
  const slice = options.sliceInstructions ?? BARE_METAL_SLICE;
  if (!Number.isSafeInteger(slice) || slice < 1) {
    throw new BareMetalConfigError(`slice must be a positive integer, not ${slice}`);
  }
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? (() => Promise.resolve());
  const consoleOut = options.console ?? (() => {});
  const signal = options.signal;

  // ---- the program (validated before anything is allocated) ----
  const image = parseElf(options.elf);
  const tohostSym = image.symbols.get('tohost');
  if (tohostSym === undefined) {
    throw new ElfError(
      'ENOSYM',
      'no tohost symbol; bare-metal programs report their result by writing (code << 1) | 1 to tohost',
    );
  }
  const tohostPhys = elfVirtToPhys(image, tohostSym);
  if (tohostPhys === undefined) {
    throw new ElfError('EBADSYM', `tohost (0x${tohostSym.toString(16)}) is not inside a loaded segment`);
  }
  const fromhostSym = image.symbols.get('fromhost');
  const fromhostPhys = fromhostSym === undefined ? undefined : elfVirtToPhys(image, fromhostSym);

  // ---- the board ----
  const memory = new PhysicalMemory();
  memory.addRam(BARE_METAL_RAM_BASE, memoryMiB * 1024 * 1024);
  loadElf(image, memory);
  const tohost = Number(tohostPhys);
  const fromhost = fromhostPhys === undefined ? -1 : Number(fromhostPhys);

  const t0 = clock();
  let clint: Clint | undefined = undefined;
  const hart = new Hart(memory, {
    hartId: 0,
    timeSource: () => (clint === undefined ? 0 : clint.readMtime()),
    jit: options.jit,
  });
  clint = new Clint([hart], () => (clock() - t0) * TICKS_PER_MS);
  const uart = new Uart16550({ output: consoleOut });

  let ending: Ending | undefined;
  const finish = (e: Ending): void => {
    if (ending !== undefined) return; // the first report wins
    ending = e;
    hart.requestStop();
  };
  const finisher = new SifiveTest((event: SifiveTestEvent) => {
    if (event.kind === 'poweroff') finish({ status: 'poweroff', exitCode: 0, source: 'sifive-test' });
    else if (event.kind === 'reset') finish({ status: 'reset', exitCode: 0, source: 'sifive-test' });
    else finish({ status: 'fail', exitCode: event.code === 0 ? 1 : event.code, source: 'sifive-test' });
  });
  memory.addMmio(BARE_METAL_TEST_BASE, SIFIVE_TEST_SIZE, finisher);
  memory.addMmio(BARE_METAL_CLINT_BASE, CLINT_SIZE, clint);
  memory.addMmio(BARE_METAL_UART_BASE, UART_SIZE, uart);

  const htif = new Htif(memory, tohost, fromhost, consoleOut, finish);
  memory.addWriteWatch(tohost, 8, () => htif.onTohostWrite());

  hart.setPc(image.entryPhys);
  hart.priv = 3;
  hart.setX(10, 0n); // a0 = hartid
  hart.setX(11, 0n); // a1 = no device tree

  // ---- the run loop ----
  let status: BareMetalStatus | undefined;
  let limit: 'time' | 'instructions' | undefined;
  let lastYield = clock();
  for (;;) {
    if (ending !== undefined) break;
    if (signal?.aborted === true) {
      status = 'stopped';
      break;
    }
    const now = clock();
    if (timeoutMs !== undefined && now - t0 >= timeoutMs) {
      status = 'timeout';
      limit = 'time';
      break;
    }
    let budget = slice;
    if (maxInstructions !== undefined) {
      const left = maxInstructions - hart.instret;
      if (left <= 0) {
        status = 'timeout';
        limit = 'instructions';
        break;
      }
      if (left < budget) budget = left;
    }

    clint.update(); // deliver timer deadlines that passed since the last slice (or sleep)
    const exit = hart.run(budget);
    if (ending !== undefined) break;

    if (exit === ExitReason.Wfi) {
      // Nothing to do until an interrupt: sleep until the next timer deadline (bounded).
      const ticks = clint.nextDeadline();
      let ms = ticks === Infinity ? IDLE_SLEEP_MS : Math.min(ticks / TICKS_PER_MS, IDLE_SLEEP_MS);
      if (timeoutMs !== undefined) ms = Math.min(ms, Math.max(0, timeoutMs - (clock() - t0)));
      await sleep(ms);
      lastYield = clock();
    } else if (clock() - lastYield >= YIELD_EVERY_MS) {
      await sleep(0);
      lastYield = clock();
    }
  }

  const elapsedMs = clock() - t0;
  const instructions = hart.instret;
  if (ending !== undefined) {
    return { status: ending.status, exitCode: ending.exitCode, instructions, elapsedMs, source: ending.source };
  }
  if (status === 'stopped') return { status, exitCode: 130, instructions, elapsedMs };
  return { status: 'timeout', exitCode: 124, instructions, elapsedMs, limit: limit ?? 'time' };
}

/** The host side of the HTIF tohost/fromhost mailbox. */
class Htif {
  constructor(
    private readonly memory: PhysicalMemory,
    private readonly tohost: number,
    private readonly fromhost: number,
    private readonly consoleOut: (byte: number) => void,
    private readonly finish: (e: Ending) => void,
  ) {}

  onTohostWrite(): void {
    const memory = this.memory;
    const v = memory.readPhys(this.tohost, 8);
    if (v === 0n) return; // our own acknowledgement, or the program clearing it
    const device = Number(v >> 56n);
    const command = Number((v >> 48n) & 0xffn);
    const payload = v & 0xffff_ffff_ffffn;

    if (device === 0 && command === 0) {
      if ((payload & 1n) === 1n) {
        const code = payload >> 1n;
        this.finish({ status: code === 0n ? 'pass' : 'fail', exitCode: Number(code), source: 'tohost' });
        return;
      }
      this.syscall(Number(payload));
      return;
    }
    if (device === 1 && command === 1) {
      this.consoleOut(Number(payload & 0xffn));
      this.reply((v & ~0xffff_ffff_ffffn) | 0x100n | (payload & 0xffn));
      return;
    }
    this.reply(undefined); // unknown device or command: acknowledge and ignore
  }

  /** Executes a riscv-tests style syscall whose arguments are at `magic`. */
  private syscall(magic: number): void {
    const memory = this.memory;
    let result: bigint;
    try {
      const which = Number(memory.readPhys(magic, 8));
      const a0 = memory.readPhys(magic + 8, 8);
      const a1 = memory.readPhys(magic + 16, 8);
      const a2 = memory.readPhys(magic + 24, 8);
      if (which === SYS_EXIT) {
        const code = a0 === 0n ? 0 : Number(a0 & 0x7fff_ffffn) || 1; // a failure never exits 0
        this.finish({ status: code === 0 ? 'pass' : 'fail', exitCode: code, source: 'syscall' });
        return;
      }
      if (which === SYS_WRITE) {
        if (a0 !== 1n && a0 !== 2n) {
          result = BigInt(-EBADF);
        } else {
          const length = a2 > BigInt(MAX_WRITE_BYTES) ? MAX_WRITE_BYTES : Number(a2);
          const bytes = memory.readBytes(Number(a1 & 0x1f_ffff_ffff_ffffn), length);
          for (let i = 0; i < bytes.length; i++) this.consoleOut(bytes[i]);
          result = BigInt(length);
        }
      } else {
        result = BigInt(-ENOSYS);
      }
      memory.writePhys(magic, 8, BigInt.asUintN(64, result));
    } catch (e) {
      if (!(e instanceof MemoryError)) throw e;
      // A pointer outside RAM: report EFAULT where possible, and never crash the host.
      try {
        memory.writePhys(magic, 8, BigInt.asUintN(64, BigInt(-EFAULT)));
      } catch {
        // magic itself is not RAM: nothing to report into
      }
    }
    this.reply(1n);
  }

  /** Clears tohost (the request is taken) and, when given, stores a reply in fromhost. */
  private reply(value: bigint | undefined): void {
    this.memory.writePhys(this.tohost, 8, 0n);
    if (value !== undefined && this.fromhost >= 0) this.memory.writePhys(this.fromhost, 8, value);
  }
}
