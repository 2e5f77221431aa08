/**
 * End-to-end tests (they spawn `node bin/tsvm.js run`, but no guest boots, so they are quick):
 * bad input to `tsvm run` for a virtual machine gets a one-line error on stderr and a non-zero exit
 * status, never a stack trace, never a boot.
 *
 * Each case: status 1 or 2; stderr is one line starting with `tsvm: ` (usage errors may add the
 * hint line `Try 'tsvm run --help' for more information.`); no `at ...` stack-trace lines; nothing
 * on stdout (the guest console). Bare-metal (--bios none) errors are covered by src/cli/cli.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Guest, formatExit, repoRoot } from './guest.js';

/** No guest boots in these cases: tsvm must give up within a few seconds even when loaded. */
const CASE_TIMEOUT_MS = 30_000;
const HINT = /^Try 'tsvm run --help' for more information\.$/;

let tmp = '';
const file = (name: string): string => join(tmp, name);

/** Deterministic "random" bytes (xorshift32), so a failure can be reproduced. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsvm-e2e-cli-'));
  const imageGz = readFileSync(join(repoRoot(), 'images', 'default', 'Image.gz'));
  writeFileSync(file('random.bin'), noise(256 * 1024, 0x7453564d));
  writeFileSync(file('truncated-Image.gz'), imageGz.subarray(0, Math.floor(imageGz.length / 2)));
  writeFileSync(file('zeros.bin'), new Uint8Array(1 << 20));
  writeFileSync(file('empty.bin'), new Uint8Array(0));
  writeFileSync(file('big.bin'), noise(24 << 20, 0x42));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Case {
  name: string;
  args: () => string[];
  /** What the first stderr line must say after `tsvm: ` (besides being one line). */
  message: RegExp;
}

const cases: Case[] = [
  { name: 'a missing kernel file', args: () => ['--kernel', file('no-such-Image')], message: /no-such-Image.*no such file/ },
  { name: 'a kernel of random bytes', args: () => ['--kernel', file('random.bin')], message: /not a RISC-V kernel|kernel/i },
  { name: 'a truncated Image.gz (gzip error)', args: () => ['--kernel', file('truncated-Image.gz')], message: /gzip|truncated|unexpected end/i },
  { name: 'a kernel file of zeros', args: () => ['--kernel', file('zeros.bin')], message: /not a RISC-V kernel|kernel/i },
  { name: 'an empty kernel file', args: () => ['--kernel', file('empty.bin')], message: /empty/ },
  { name: 'a directory as the kernel', args: () => ['--kernel', tmp], message: /directory/ },
  { name: 'an ELF for another machine (the host node binary) as the kernel', args: () => ['--kernel', process.execPath], message: /not a RISC-V/ },
  { name: 'a missing initrd', args: () => ['--initrd', file('no-such-initrd')], message: /no-such-initrd.*no such file/ },
  { name: 'an initrd larger than the RAM', args: () => ['--memory', '16', '--initrd', file('big.bin')], message: /initrd.*does not fit/ },
  { name: 'a missing firmware file', args: () => ['--bios', '/nonexistent'], message: /\/nonexistent.*no such file/ },
  { name: 'an empty firmware file', args: () => ['--bios', file('empty.bin')], message: /empty\.bin.*empty/ },
  { name: 'a firmware file larger than 2 MiB', args: () => ['--bios', file('big.bin')], message: /big\.bin.*larger/ },
  { name: '--memory 0', args: () => ['--memory', '0'], message: /--memory/ },
  { name: '--memory 999999', args: () => ['--memory', '999999'], message: /--memory/ },
  { name: '--cpus 0', args: () => ['--cpus', '0'], message: /--cpus/ },
  { name: '--cpus 99', args: () => ['--cpus', '99'], message: /--cpus/ },
  { name: '--clock bogus', args: () => ['--clock', 'bogus'], message: /--clock|bogus/ },
  { name: '--cpus abc', args: () => ['--cpus', 'abc'], message: /--cpus/ },
  { name: '--accel kvm', args: () => ['--accel', 'kvm'], message: /--accel kvm: must be interp or jit/ },
  { name: '--accel jit,tb-size=0', args: () => ['--accel', 'jit,tb-size=0'], message: /tb-size must be/ },
  { name: '--accel jit,tb-size=lots', args: () => ['--accel', 'jit,tb-size=lots'], message: /tb-size must be/ },
  { name: '--accel interp,tb-size=8', args: () => ['--accel', 'interp,tb-size=8'], message: /jit engine only/ },
  { name: '--accel jit,hot=-1', args: () => ['--accel', 'jit,hot=-1'], message: /hot must be/ },
  { name: '--accel interp,hot=10', args: () => ['--accel', 'interp,hot=10'], message: /hot applies to the jit engine only/ },
  { name: '--accel jit,thread=multi', args: () => ['--accel', 'jit,thread=multi'], message: /unknown property 'thread'/ },
  { name: 'an unexpected argument', args: () => ['Image'], message: /unexpected argument 'Image'/ },
  { name: 'an unknown option', args: () => ['--frobnicate'], message: /unknown option '--frobnicate'/ },
];

for (const c of cases) {
  test(`tsvm run with ${c.name}: a one-line error, non-zero status, no stack trace`, { timeout: CASE_TIMEOUT_MS + 10_000 }, async (t) => {
    const args = c.args();
    const g = Guest.start(args);
    t.after(() => g.kill());
    const exit = await g.waitForExit(CASE_TIMEOUT_MS);
    const shown = `tsvm run ${args.join(' ')}: exited with ${formatExit(exit)}\nstderr: ${JSON.stringify(g.stderr)}\nstdout: ${JSON.stringify(g.stdout.slice(0, 2000))}`;
    assert.ok(exit.signal === null && (exit.code === 1 || exit.code === 2), `status 1 or 2 expected\n${shown}`);
    assert.doesNotMatch(g.stderr, /^\s+at /m, `a stack trace on stderr\n${shown}`);
    assert.ok(g.stderr.endsWith('\n'), `stderr ends with a newline\n${shown}`);
    const lines = g.stderr.slice(0, -1).split('\n');
    const oneLine = lines.length === 1 || (lines.length === 2 && HINT.test(lines[1]));
    assert.ok(oneLine, `stderr is one line (plus at most the 'Try ... --help' hint)\n${shown}`);
    assert.match(lines[0], /^tsvm: \S/, `stderr starts with 'tsvm: '\n${shown}`);
    assert.doesNotMatch(lines[0], /internal error/, `an internal error, not a message about the input\n${shown}`);
    assert.match(lines[0], c.message, `the message names the problem\n${shown}`);
    assert.equal(g.stdout, '', `nothing on stdout (no guest ran)\n${shown}`);
  });
}
