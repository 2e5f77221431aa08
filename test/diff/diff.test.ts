/**
 * Differential test: 400 random RV64GC programs of 600 instructions (240,000 generated
 * instructions, plus the register dumps between them) run on our hart and on qemu-riscv64-static;
 * every register dump (integer and FP registers, fcsr), the final registers and the scratch memory
 * must agree, and every mnemonic the generator knows must be emitted.
 * Failing programs are shrunk to a minimal failing sequence, printed with the seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_MNEMONICS, PAYLOAD_OFFSET } from './generate.js';
import { runCampaign } from './harness.js';
import { ensureQemu } from './run-qemu.js';

const PROGRAMS = 400;
const LENGTH = 600;
const SEED = 1;

const qemuMissing = ensureQemu();

test(
  `random RV64GC programs agree with qemu-riscv64-static (${PROGRAMS} x ${LENGTH} instructions)`,
  { skip: qemuMissing ?? false, timeout: 600_000 },
  async (t) => {
    const r = await runCampaign({
      seed: SEED,
      programs: PROGRAMS,
      length: LENGTH,
      jobs: 2,
      maxDetailed: 3,
      log: (text) => console.log(text + '\n'),
    });
    t.diagnostic(
      `${r.programs} programs, ${r.generatedInstructions} generated instructions (${r.bodyInstructions} with the register dumps), ` +
        `${r.executedInstructions} retired by our hart, ` +
        `${r.coverage.size}/${ALL_MNEMONICS.length} mnemonics, ${(r.elapsedMs / 1000).toFixed(1)} s`,
    );
    assert.ok(r.generatedInstructions >= 100_000, `only ${r.generatedInstructions} instructions generated`);
    assert.deepEqual(r.missing, [], 'mnemonics never generated');
    if (r.failures.length) {
      const summary = r.failures.map((f) => `seed ${f.seed} (${f.kind}): ${f.details.slice(0, 4).join('; ')}`);
      assert.fail(`${r.failures.length} of ${r.programs} programs differ from qemu:\n${summary.join('\n')}`);
    }
  },
);

/**
 * The tester itself: a hart with an injected bug (every `mulhsu` executes as `mulhu`) must be
 * caught, and the failure shrunk to a short sequence containing the mulhsu.
 */
test('an injected hart bug is detected and shrunk', { skip: qemuMissing ?? false, timeout: 120_000 }, async () => {
  const { runOurs } = await import('./run-ours.js');
  const buggy = (elf: Uint8Array): ReturnType<typeof runOurs> => {
    const patched = elf.slice();
    const dv = new DataView(patched.buffer);
    // Walk the instructions from the entry point to the second ecall (the end of the epilogue).
    let o = PAYLOAD_OFFSET;
    let ecalls = 0;
    while (ecalls < 2 && o + 2 <= patched.length) {
      const half = dv.getUint16(o, true);
      if ((half & 3) !== 3) {
        o += 2;
        continue;
      }
      const w = dv.getUint32(o, true);
      if (w === 0x73) ecalls++;
      if ((w & 0xfe00707f) === 0x02002033) dv.setUint32(o, (w & ~0x7000) | 0x3000, true); // mulhsu -> mulhu
      o += 4;
    }
    return runOurs(patched);
  };
  const r = await runCampaign({ seed: 7, programs: 16, length: 400, jobs: 2, maxDetailed: 1, fullListing: false, runOurs: buggy });
  assert.ok(r.failures.length > 0, 'the injected bug was not detected');
  const report = r.failures[0]?.report ?? '';
  const minimal = report.split('--- minimal failing sequence')[1]?.split('--- its differences')[0] ?? '';
  assert.match(minimal, /mulhsu/, report);
  const insns = minimal.split('\n').filter((l) => /^\s+0x[0-9a-f]+: [0-9a-f]{4,8}\s/.test(l));
  assert.ok(insns.length <= 4, `minimal sequence too long:\n${minimal}`);
});
