/**
 * A tiny Linux-user-mode harness for our hart: loads the PT_LOAD segments of a static ELF into
 * RAM, runs the hart in U-mode with the FPU enabled, and services the two system calls the test
 * programs use (write = 64, exit = 93) by intercepting ECALL-from-U exceptions.
 */
import { CSR, Cause, ExitReason, Hart, PhysicalMemory } from '../../src/hart/index.js';
import { readElf } from './elf-writer.js';

export interface OursResult {
  /** True when the program called exit. */
  readonly exited: boolean;
  readonly exitCode: number;
  /** Bytes written to fd 1. */
  readonly stdout: Uint8Array;
  /** Why the run stopped other than by exit (a harness error), with details. */
  readonly error: string | undefined;
  /** Instructions retired. */
  readonly instret: number;
}

export interface OursOptions {
  /** Give up after this many instructions (default 10 million). */
  readonly maxInstructions?: number;
  /** Instructions per hart.run() call. */
  readonly budget?: number;
}

const PAGE = 0x1000;
const MSTATUS_FS_INITIAL = 1n << 13n;
const SYS_WRITE = 64n;
const SYS_EXIT = 93n;

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

export function runOurs(elf: Uint8Array, options: OursOptions = {}): OursResult {
  const maxInstructions = options.maxInstructions ?? 10_000_000;
  const budget = options.budget ?? 100_000;
  const image = readElf(elf);
  const mem = new PhysicalMemory();
  let lo = Infinity;
  let hi = 0;
  for (const s of image.segments) {
    lo = Math.min(lo, s.vaddr);
    hi = Math.max(hi, s.vaddr + s.memSize);
  }
  const base = Math.floor(lo / PAGE) * PAGE;
  const size = Math.ceil((hi - base) / PAGE) * PAGE + PAGE;
  mem.addRam(base, size);
  for (const s of image.segments) mem.writeBytes(s.vaddr, s.data);

  const hart = new Hart(mem, { hartId: 0 });
  hart.setPc(BigInt(image.entry));
  // Allow U-mode access to all of memory in case PMP is enforced (pmpaddr0 = all, NAPOT, RWX).
  hart.setCsr(CSR.pmpaddr0, (1n << 54n) - 1n);
  hart.setCsr(CSR.pmpcfg0, 0x1fn);
  hart.setCsr(CSR.mstatus, hart.getCsr(CSR.mstatus) | MSTATUS_FS_INITIAL);
  hart.priv = 0;
  // ECALL is the system call; every other synchronous exception is a harness error, so intercept
  // them all (instead of letting them trap into an M-mode with no handler).
  hart.interceptExceptions = 0xffff;

  const out: Uint8Array[] = [];
  const result = (exited: boolean, exitCode: number, error: string | undefined): OursResult => {
    let n = 0;
    for (const c of out) n += c.length;
    const stdout = new Uint8Array(n);
    n = 0;
    for (const c of out) {
      stdout.set(c, n);
      n += c.length;
    }
    return { exited, exitCode, stdout, error, instret: hart.instret };
  };

  for (;;) {
    if (hart.instret >= maxInstructions) return result(false, -1, `no exit after ${hart.instret} instructions (pc ${hex(hart.getPc())})`);
    const reason = hart.run(budget);
    if (reason === ExitReason.Budget) continue;
    if (reason === ExitReason.Exception && hart.exitCause === Cause.EcallFromU) {
      const nr = hart.getX(17);
      if (nr === SYS_WRITE) {
        const fd = hart.getX(10);
        const buf = hart.getX(11);
        const len = hart.getX(12);
        if (fd === 1n || fd === 2n) {
          if (fd === 1n) out.push(mem.readBytes(Number(buf), Number(len)));
          hart.setX(10, len);
        } else {
          hart.setX(10, BigInt.asUintN(64, -9n)); // EBADF
        }
      } else if (nr === SYS_EXIT) {
        return result(true, Number(hart.getX(10) & 0xffn), undefined);
      } else {
        hart.setX(10, BigInt.asUintN(64, -38n)); // ENOSYS
      }
      hart.setPc(hart.getPc() + 4n);
      continue;
    }
    const pc = hart.getPc();
    let insn = '?';
    try {
      const bytes = mem.readBytes(Number(pc), 4);
      insn = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    } catch {
      // pc outside memory
    }
    const what =
      reason === ExitReason.Exception
        ? `exception cause ${hart.exitCause} tval ${hex(hart.exitTval)}`
        : reason === ExitReason.Wfi
          ? 'wfi'
          : `exit reason ${String(reason)}`;
    return result(false, -1, `${what} at pc ${hex(pc)} (bytes ${insn}) after ${hart.instret} instructions`);
  }
}
