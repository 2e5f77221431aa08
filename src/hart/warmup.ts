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
 *
 * The loop is compiled while the programs run (35-80 ms on a compiler thread), and what the
 * compile assumed must still hold when the guest starts: the guest's own hart, memory and engine
 * have the shapes the programs saw (second instances built first, every field stored to once,
 * arrays of objects from the start), and the programs take the paths a guest takes at once (an
 * exit at the loop's top, a lookup past the first memory region). Each miss cost a compile
 * thrown away or a deoptimisation, with the guest's first 50-100 ms in the unoptimised loop.
 */

import { ExitReason, Hart } from './hart.js';
import { Cause, Irq } from './csr.js';
import { PhysicalMemory } from './memory.js';
import { WARMUP_PROGRAM } from './warmup-program.js';

const BASE = 0x8000_0000;
const ROM_BASE = 0x1000;
/** Bound on the program's run (it ends with ebreak after a few thousand instructions). */
const MAX_INSTRUCTIONS = 1_000_000;
/** Small slices, so the slice-boundary paths are exercised too. */
const SLICE = 997;
/** Rounds of the programs' turns that begin with an exit at the loop's top. */
const EXIT_ROUNDS = 16;
/** The twin hart's share of its program. */
const TWIN_INSTRUCTIONS = 4_000;

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
  const interp = !interpreterWarm;
  const jit = options.jit === true && !jitWarm;
  if (!interp && !jit) return;
  interpreterWarm = true;
  if (jit) jitWarm = true;
  // Every hart of the kinds to come is built before either program runs. V8 tracks, per class
  // field, whether any object ever stored to it a second time; the second hart's constructor
  // does (its fields are defined, then assigned), and that invalidates every compile that relied
  // on the field staying put. Made after the guest's loop was optimised, it threw that compile
  // away (40-70 ms of compiler time, while the guest started in the unoptimised loop).
  const twin = scratchHart(jit);
  const harts = [...(interp ? [scratchHart(false)] : []), ...(jit ? [scratchHart(true)] : [])];
  // The same holds for a field's first store after construction (the program's first exception,
  // code write or retranslation): all of them are made here, before anything runs.
  primeFields([twin, twin.mem, ...(twin.jit === null ? [] : [twin.jit, twin.jit.stats])]);
  // The programs run in turns, a slice each: V8 optimises the loop once it has run a while, with
  // the feedback it has then, so both engines' paths must have run by that time. (One program
  // after the other optimised it with the interpreter's paths only, and the JIT's first entry
  // deoptimised it.)
  // The twin runs the start of a program too, so that calls into translated code see more than
  // one engine's dispatcher (as the guest's engine will be).
  harts.push(twin);
  const left = harts.map((h): number => (h === twin ? TWIN_INSTRUCTIONS : MAX_INSTRUCTIONS));
  for (let round = 0, more = true; more; round++) {
    more = false;
    for (const [i, hart] of harts.entries()) {
      if (left[i] <= 0) continue;
      // The loop's exit at its top (a stop, a WFI, an intercepted ecall): the guest takes it at
      // its first SBI call, the programs only at their end - after the loop was optimised.
      if (round < EXIT_ROUNDS) {
        hart.requestStop();
        hart.run(SLICE);
      }
      const before = hart.instret;
      const r = hart.run(Math.min(left[i], SLICE));
      left[i] = r === ExitReason.Exception ? 0 : left[i] - (hart.instret - before);
      more = true;
    }
  }
  for (const hart of harts) {
    if (hart === twin) continue;
    runInterruptLines(hart);
    keptAlive.push(hart);
  }
}

/**
 * Stores to every number, boolean and bigint field of `objects`, and of the objects they hold
 * directly (one level), a different value and then its own again. V8 keeps, per field of a
 * shape, whether any object of that shape has stored to it since its initialisation; optimised
 * code relies on untouched fields staying put and is discarded at the first such store. After
 * this every field has had one: nothing the guest's loop is compiled on can change under it.
 * Integers stay integers (x ^ 1) so no field changes representation.
 */
function primeFields(objects: object[]): void {
  const seen = new Set<object>();
  const prime = (o: object, depth: number): void => {
    if (seen.has(o)) return;
    seen.add(o);
    const fields = o as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      const v = fields[key];
      if (typeof v === 'number') {
        fields[key] = Number.isInteger(v) && Math.abs(v) < 2 ** 30 ? v ^ 1 : v + 1;
      } else if (typeof v === 'boolean') {
        fields[key] = !v;
      } else if (typeof v === 'bigint') {
        fields[key] = v + 1n;
      } else {
        if (depth > 0 && typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) &&
          Object.getPrototypeOf(v) !== Object.prototype && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Set)) {
          prime(v, depth - 1);
        }
        continue;
      }
      fields[key] = v;
    }
  };
  for (const o of objects) prime(o, 1);
}

/** Runs the program on a scratch hart; returns the hart (it stopped at the final ebreak). */
export function runWarmUp(jit: boolean): Hart {
  const hart = scratchHart(jit);
  runProgram(hart);
  return hart;
}

/** A hart with the program loaded, at its start. */
function scratchHart(jit: boolean): Hart {
  const mem = new PhysicalMemory();
  // A ROM below the RAM, as on the virt board: lookups of RAM addresses step past a region.
  mem.addRam(ROM_BASE, 0x1000, { readonly: true });
  mem.addRam(BASE, 1 << 20);
  const bytes = new Uint8Array(WARMUP_PROGRAM.buffer, WARMUP_PROGRAM.byteOffset, WARMUP_PROGRAM.byteLength);
  mem.u8.set(bytes, mem.arenaOffset(BASE));
  // (capacity: the program has a few pages; the default reserves block maps for 1024.)
  // Some instructions per page interpreted before it is translated (decodeAhead translates all
  // of it then): the engine's paths for cold and warm pages get feedback too, else the guest's
  // loop, which inlines them, is deoptimised at the guest's first cold page. (V8 gives a function
  // somewhere to keep feedback only after its first few calls: with 8 instructions per page, the
  // cold-page path had run before the engine's functions had it.)
  // (inlineAfter: a page's translation is replaced by the inline-memory kind here too, so the
  // engine's path for that has run before its entry is compiled.)
  const hart = new Hart(mem, { jit: jit ? { hotThreshold: 512, decodeAhead: true, capacity: 64, inlineAfter: 4000 } : false });
  hart.interceptExceptions = 1 << Cause.Breakpoint;
  hart.setPc(BigInt(BASE));
  hart.setX(2, BigInt(BASE + (1 << 20) - 64)); // sp, for the compressed stack forms
  return hart;
}

/** Runs the program to its final ebreak, then the interrupt-line paths. */
function runProgram(hart: Hart): void {
  let left = MAX_INSTRUCTIONS;
  // Small slices, so the slice-boundary paths are exercised too.
  while (left > 0) {
    const before = hart.instret;
    const r = hart.run(Math.min(left, SLICE));
    left -= hart.instret - before;
    if (r === ExitReason.Exception) break;
  }
  runInterruptLines(hart);
}

/**
 * What a bare hart never sees from its program: a device raising and lowering an interrupt line
 * (interrupts are masked here; the line's state is what the loop reads).
 */
function runInterruptLines(hart: Hart): void {
  for (const irq of [Irq.MTI, Irq.SEI]) {
    hart.setInterruptLevel(irq, true);
    hart.run(1);
    hart.setInterruptLevel(irq, false);
  }
}
