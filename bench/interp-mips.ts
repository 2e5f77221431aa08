/**
 * Interpreter speed: guest MIPS of the hart on a compute-heavy bare-metal program
 * (bench/guest/compute.elf), next to QEMU (TCG) running the same ELF in the same run.
 *
 * The ratio is what matters (the machine is shared and noisy); the absolute figures are printed
 * for the record. Target (issue 2): at least 50 million guest instructions per second.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ExitReason, Hart, PhysicalMemory } from '../src/hart/index.js';
import { loadElf, parseElf } from '../src/machine/elf.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const elfPath = join(root, 'bench', 'guest', 'compute.elf');

interface RunFigures {
  instructions: number;
  seconds: number;
  checksum: bigint;
}

/** Runs the program to completion on a bare hart; returns instructions and time. */
export function runInterpreter(elfBytes: Uint8Array): RunFigures {
  const image = parseElf(elfBytes);
  const memory = new PhysicalMemory();
  memory.addRam(0x8000_0000, 64 << 20);
  loadElf(image, memory);
  const tohost = image.symbols.get('tohost');
  const result = image.symbols.get('result');
  if (tohost === undefined || result === undefined) throw new Error('compute.elf lacks tohost/result');
  const hart = new Hart(memory, { hartId: 0 });
  hart.setPc(image.entry);
  let done = false;
  memory.addWriteWatch(Number(tohost), 8, () => {
    done = true;
    hart.requestStop();
  });
  const start = performance.now();
  while (!done) {
    const exit = hart.run(1_000_000);
    if (exit === ExitReason.Exception || exit === ExitReason.Wfi) throw new Error(`unexpected exit ${exit}`);
  }
  const seconds = (performance.now() - start) / 1000;
  if (memory.readPhys(Number(tohost), 8) !== 1n) throw new Error('compute.elf reported failure');
  return { instructions: hart.instret, seconds, checksum: memory.readPhys(Number(result), 8) };
}

/** Best-of-3 wall time of QEMU (TCG) running an ELF on its virt board, or undefined. */
function qemuSeconds(elf: string): number | undefined {
  const qemu = '/usr/bin/qemu-system-riscv64';
  if (!existsSync(qemu)) return undefined;
  const args = ['-M', 'virt', '-m', '128M', '-nographic', '-bios', 'none', '-kernel', elf];
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = spawnSync(qemu, args, { stdio: 'ignore', timeout: 120_000 });
    if (r.status !== 0) return undefined;
    times.push((performance.now() - t0) / 1000);
  }
  return Math.min(...times);
}

export function main(): void {
  const bytes = new Uint8Array(readFileSync(elfPath));
  runInterpreter(bytes); // warm-up: lets V8 optimise the interpreter loop
  const runs = [runInterpreter(bytes), runInterpreter(bytes), runInterpreter(bytes)];
  const best = runs.reduce((a, b) => (a.seconds < b.seconds ? a : b));
  const mips = best.instructions / best.seconds / 1e6;
  console.log(`interpreter: ${best.instructions} instructions in ${best.seconds.toFixed(3)} s = ${mips.toFixed(1)} MIPS (best of 3; checksum ${best.checksum.toString(16)})`);
  const total = qemuSeconds(elfPath);
  const startup = qemuSeconds(join(root, 'bench', 'guest', 'empty.elf'));
  if (total === undefined || startup === undefined) {
    console.log('qemu-system-riscv64 (TCG): not available; no baseline in this run');
  } else {
    const q = Math.max(total - startup, 1e-3);
    const qemuMips = best.instructions / q / 1e6;
    console.log(`qemu-system-riscv64 (TCG): ${total.toFixed(3)} s, of which ${startup.toFixed(3)} s start-up -> ${q.toFixed(3)} s = ${qemuMips.toFixed(0)} MIPS`);
    console.log(`ratio: tsvm interpreter runs at ${(mips / qemuMips).toFixed(3)}x QEMU TCG speed (${(best.seconds / q).toFixed(1)}x its time)`);
  }
  console.log(`target: >= 50 MIPS -> ${mips >= 50 ? 'met' : 'NOT met'}`);
}

main();
