/**
 * Differential testing CLI: random RV64GC programs on our hart vs qemu-riscv64-static.
 *
 *   npx tsx test/diff/run.ts --seed 1 --programs 50 --length 500 [--jobs 2] [--no-shrink]
 *                            [--qemu-only] [--brief] [--list SEED] [--elf SEED FILE]
 *
 * --list SEED prints the listing of one program; --elf SEED FILE writes its ELF (for running it
 * by hand under qemu-riscv64-static or objdump -D -b binary).
 */
import { writeFileSync } from 'node:fs';
import { bodyListing, buildProgram, generateProgram } from './generate.js';
import { runCampaign } from './harness.js';
import { ensureQemu } from './run-qemu.js';

function usage(): never {
  console.error(
    'usage: run.ts [--seed N] [--programs N] [--length N] [--jobs N] [--no-shrink] [--qemu-only] [--brief] [--list SEED] [--elf SEED FILE]',
  );
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let seed = 1;
  let programs = 50;
  let length = 500;
  let jobs = 2;
  let shrink = true;
  let qemuOnly = false;
  let brief = false;
  const num = (i: number): number => {
    const v = Number(args[i]);
    if (!Number.isFinite(v)) usage();
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    switch (args[i]) {
      case '--seed':
        seed = num(++i);
        break;
      case '--programs':
        programs = num(++i);
        break;
      case '--length':
        length = num(++i);
        break;
      case '--jobs':
        jobs = num(++i);
        break;
      case '--no-shrink':
        shrink = false;
        break;
      case '--qemu-only':
        qemuOnly = true;
        break;
      case '--brief':
        brief = true;
        break;
      case '--list': {
        const b = buildProgram(generateProgram(num(++i), { length }));
        console.log(bodyListing(b).join('\n'));
        return;
      }
      case '--elf': {
        const s = num(++i);
        const file = args[++i];
        if (!file) usage();
        writeFileSync(file, buildProgram(generateProgram(s, { length })).elf, { mode: 0o755 });
        return;
      }
      default:
        usage();
    }
  }
  const missing = ensureQemu();
  if (missing) {
    console.error(missing);
    process.exit(2);
  }
  const r = await runCampaign({
    seed,
    programs,
    length,
    jobs,
    shrink,
    qemuOnly,
    fullListing: !brief,
    log: (t) => console.log(t + '\n'),
  });
  console.log(
    `${r.programs} programs, ${r.generatedInstructions} generated instructions (${r.bodyInstructions} with the register dumps), ` +
      `${r.executedInstructions} executed by our hart, ` +
      `${r.coverage.size} distinct mnemonics, ${r.failures.length} failing programs, ${(r.elapsedMs / 1000).toFixed(1)} s`,
  );
  if (r.missing.length && programs >= 100) console.log(`never generated: ${r.missing.join(', ')}`);
  if (r.failures.length) console.log(`failing seeds: ${r.failures.map((f) => `${f.seed} (${f.kind})`).join(', ')}`);
  process.exit(r.failures.length ? 1 : 0);
}

await main();
