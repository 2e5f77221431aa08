/**
 * Warm-up of the host's JavaScript engine for the hart.
 *
 * The hart's run loop is one large function. V8 optimises it after it has run a while, with the
 * type feedback gathered so far; every instruction form the guest uses for the first time later
 * (a CSR, an FP operation, a trap path, an operand overflowing 32 bits) then deoptimises the
 * whole loop, which runs unoptimised until it is compiled again - a Linux boot went through a
 * dozen such rounds in its first 10 million instructions, at 10-30 MIPS instead of 150. Running a
 * short program that reaches every path (src/hart/warmup/warmup.S) on a scratch hart first gives
 * the optimiser complete feedback, so the guest's loop is compiled once and stays compiled.
 * With `jit`, the program also runs translated, which warms the translator the same way.
 *
 * Once per process (the feedback belongs to the code, not to a hart); about 25 ms of work, and
 * 45 ms more for the JIT (its first modules compile too). On a 2-core machine this took a Linux
 * boot to its prompt from 1.13 s to 0.94 s (in process, JIT), mostly by sparing the guest's loop
 * ten recompilations (0.6 s of background compiler time competing with the guest).
 */

import { ExitReason, Hart } from './hart.js';
import { Cause, Irq } from './csr.js';
import { PhysicalMemory } from './memory.js';
import { WARMUP_PROGRAM } from './warmup-program.js';

const BASE = 0x8000_0000;
/** Bound on the program's run (it ends with ebreak after a few thousand instructions). */
const MAX_INSTRUCTIONS = 1_000_000;

let interpreterWarm = false;
let jitWarm = false;
/**
 * The scratch harts stay alive: V8's feedback holds the maps of their objects (hart, engine,
 * memory) weakly, and once no object has a map any more the feedback naming it is cleared - the
 * guest's loop would then be compiled without it and deoptimised at its first use.
 */
const keptAlive: Hart[] = [];

/** Runs the warm-up program (once per process for each engine). */
export function warmUpHart(options: { jit?: boolean } = {}): void {
  if (!interpreterWarm) {
    interpreterWarm = true;
    keptAlive.push(runWarmUp(false));
  }
  if (options.jit === true && !jitWarm) {
    jitWarm = true;
    keptAlive.push(runWarmUp(true));
  }
}

/** Runs the program on a scratch hart; returns the hart (it stopped at the final ebreak). */
export function runWarmUp(jit: boolean): Hart {
  const mem = new PhysicalMemory();
  mem.addRam(BASE, 1 << 20);
  const bytes = new Uint8Array(WARMUP_PROGRAM.buffer, WARMUP_PROGRAM.byteOffset, WARMUP_PROGRAM.byteLength);
  mem.u8.set(bytes, mem.arenaOffset(BASE));
  // (capacity: the program has a few pages; the default reserves block maps for 1024.)
  // A few instructions per page interpreted before it is translated (decodeAhead translates all
  // of it then): the engine's paths for cold and warm pages get feedback too, else the guest's
  // loop, which inlines them, is deoptimised at the guest's first cold page.
  const hart = new Hart(mem, { jit: jit ? { hotThreshold: 8, decodeAhead: true, capacity: 64 } : false });
  hart.interceptExceptions = 1 << Cause.Breakpoint;
  hart.setPc(BigInt(BASE));
  hart.setX(2, BigInt(BASE + (1 << 20) - 64)); // sp, for the compressed stack forms
  let left = MAX_INSTRUCTIONS;
  // Small slices, so the slice-boundary paths are exercised too.
  while (left > 0) {
    const before = hart.instret;
    const r = hart.run(Math.min(left, 997));
    left -= hart.instret - before;
    if (r === ExitReason.Exception) break;
  }
  // What a bare hart never sees from its program: a device raising and lowering an interrupt
  // line (interrupts are masked here; the line's state is what the loop reads).
  for (const irq of [Irq.MTI, Irq.SEI]) {
    hart.setInterruptLevel(irq, true);
    hart.run(1);
    hart.setInterruptLevel(irq, false);
  }
  return hart;
}
