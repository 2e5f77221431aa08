// The ISA conformance suite: every prebuilt bare-metal program in test/conformance/bin runs on
// tsvm's bare-metal runner and must report PASS (tohost = 1). A failing program reports the
// number of its failing check, which the assertion message shows; that number points at a
// `CHECK n, ...` line (or `li gp, n`) in test/conformance/src/<program>.S.
//
// The ELFs are committed, so this test needs no cross compiler; test/conformance/build.sh
// rebuilds them and validate-qemu.sh checks them against QEMU (see README.md there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

import { runBareMetal } from '../../src/machine/bare-metal.js';

/** The negative self-test: it fails check 7 on purpose, so the harness cannot pass vacuously. */
const SELFTEST = 'selftest_fail';
const SELFTEST_CHECK = 7;

/** Programs that must be present (a missing ELF would otherwise just run fewer tests). */
const EXPECTED = [
  'csr',
  'delegation',
  'interrupts',
  'paging_sv39',
  'paging_sv48',
  'rv64a',
  'rv64c',
  'rv64d',
  'rv64f',
  'rv64i_alu',
  'rv64i_branch_jump',
  'rv64i_fence',
  'rv64i_load_store',
  'rv64m',
  SELFTEST,
  'strict_amo',
  'strict_irq',
  'strict_priv',
  'traps',
];

/** The bin directory, whether this file runs from the source tree or compiled under dist/. */
function binDir(): string {
  const candidates = [
    fileURLToPath(new URL('./bin/', import.meta.url)),
    fileURLToPath(new URL('../../../test/conformance/bin/', import.meta.url)),
  ];
  for (const dir of candidates) {
    if (existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.elf'))) return dir;
  }
  throw new Error(`no conformance ELFs found in ${candidates.join(' or ')}; run test/conformance/build.sh`);
}

const dir = binDir();
const programs = readdirSync(dir)
  .filter((f) => f.endsWith('.elf'))
  .map((f) => f.slice(0, -'.elf'.length))
  .sort();

async function run(name: string) {
  const elf = new Uint8Array(readFileSync(join(dir, `${name}.elf`)));
  return runBareMetal({
    elf,
    timeoutMs: 30_000,
    clock: () => performance.now(),
    sleep: (ms) => delay(ms),
  });
}

function summary(name: string, r: { status: string; exitCode: number; instructions: number }): string {
  const where = r.status === 'fail' ? `failing check ${r.exitCode} (see src/${name}.S)` : `exit code ${r.exitCode}`;
  return `${name}: status ${r.status}, ${where}, ${r.instructions} instructions`;
}

test('every conformance program is present in test/conformance/bin', () => {
  const missing = EXPECTED.filter((p) => !programs.includes(p));
  assert.deepEqual(missing, [], `missing ELFs: ${missing.join(', ')} (run test/conformance/build.sh)`);
});

for (const name of programs) {
  if (name === SELFTEST) continue;
  test(`conformance: ${name}`, { timeout: 60_000 }, async () => {
    const r = await run(name);
    assert.equal(r.status, 'pass', summary(name, r));
    assert.equal(r.exitCode, 0, summary(name, r));
  });
}

test(`conformance harness self-test: ${SELFTEST} fails check ${SELFTEST_CHECK}`, { timeout: 60_000 }, async () => {
  assert.ok(programs.includes(SELFTEST), `${SELFTEST}.elf is missing`);
  const r = await run(SELFTEST);
  assert.equal(r.status, 'fail', summary(SELFTEST, r));
  assert.equal(r.exitCode, SELFTEST_CHECK, summary(SELFTEST, r));
});
