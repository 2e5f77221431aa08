/**
 * JIT speed: guest MIPS of the interpreter and of the WebAssembly JIT (src/jit) on the same
 * compute-heavy bare-metal program (bench/guest/compute.elf), in the same run, and their ratio.
 * Both runs must end with the same checksum and the same instruction count.
 *
 * Target (issue 7, first milestone): the JIT at least 6x the interpreter.
 */
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ExitReason, Hart, PhysicalMemory } from '../src/hart/index.js';
import { loadElf, parseElf } from '../src/machine/elf.js';
import type { JitStats } from '../src/jit/engine.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const elfPath = join(root, 'bench', 'guest', 'compute.elf');

export interface RunFigures {
  instructions: number;
  seconds: number;
  checksum: bigint;
  jit?: JitStats;
}

/** Runs the program to completion on a bare hart (interpreter, or with the JIT). */
export function runCompute(elfBytes: Uint8Array, jit: boolean, slice = 1_000_000): RunFigures {
  const image = parseElf(elfBytes);
  const memory = new PhysicalMemory();
  memory.addRam(0x8000_0000, 64 << 20);
  loadElf(image, memory);
  const tohost = image.symbols.get('tohost');
  const result = image.symbols.get('result');
  if (tohost === undefined || result === undefined) throw new Error('compute.elf lacks tohost/result');
  const hart = new Hart(memory, { hartId: 0, jit });
  hart.setPc(image.entry);
  let done = false;
  memory.addWriteWatch(Number(tohost), 8, () => {
    done = true;
    hart.requestStop();
  });
  const start = performance.now();
  while (!done) {
    const exit = hart.run(slice);
    if (exit === ExitReason.Exception || exit === ExitReason.Wfi) throw new Error(`unexpected exit ${exit}`);
  }
  const seconds = (performance.now() - start) / 1000;
  if (memory.readPhys(Number(tohost), 8) !== 1n) throw new Error('compute.elf reported failure');
  const figures: RunFigures = { instructions: hart.instret, seconds, checksum: memory.readPhys(Number(result), 8) };
  if (hart.jit !== null) figures.jit = { ...hart.jit.stats };
  return figures;
}

function best(runs: RunFigures[]): RunFigures {
  return runs.reduce((a, b) => (a.seconds < b.seconds ? a : b));
}

export function main(): void {
  const bytes = new Uint8Array(readFileSync(elfPath));
  const slice = Number(process.argv[2] ?? 1_000_000);
  // Warm-up: lets V8 optimise the interpreter loop and the JIT's own code.
  runCompute(bytes, false, slice);
  runCompute(bytes, true, slice);
  const interp = best([runCompute(bytes, false, slice), runCompute(bytes, false, slice), runCompute(bytes, false, slice)]);
  const jit = best([runCompute(bytes, true, slice), runCompute(bytes, true, slice), runCompute(bytes, true, slice)]);
  const mips = (r: RunFigures): number => r.instructions / r.seconds / 1e6;
  console.log(`interpreter: ${interp.instructions} instructions in ${interp.seconds.toFixed(3)} s = ${mips(interp).toFixed(1)} MIPS (best of 3; checksum ${interp.checksum.toString(16)})`);
  console.log(`jit:         ${jit.instructions} instructions in ${jit.seconds.toFixed(3)} s = ${mips(jit).toFixed(1)} MIPS (best of 3; checksum ${jit.checksum.toString(16)})`);
  const s = jit.jit;
  if (s !== undefined) {
    console.log(`jit: ${s.modules} modules, ${s.pages} pages, ${s.blocks} blocks, ${s.instructions} instructions translated in ${s.compileMs.toFixed(1)} ms; ${s.invalidations} invalidations, ${s.retranslations} retranslations`);
  }
  if (jit.checksum !== interp.checksum || jit.instructions !== interp.instructions) {
    console.log('MISMATCH: the JIT run differs from the interpreter run');
    process.exitCode = 1;
  }
  const ratio = mips(jit) / mips(interp);
  console.log(`ratio: the JIT runs at ${ratio.toFixed(2)}x the interpreter (slice ${slice} instructions)`);
  console.log(`target: >= 6x -> ${ratio >= 6 ? 'met' : 'NOT met'}`);
}

main();
