/**
 * SLOW END-TO-END TEST (boots Linux twice in `tsvm run` processes; about a minute on an idle
 * 2-core machine, more when loaded).
 *
 * Self-modifying code in a Linux guest (issue 7): a guest process loads and runs a freshly written
 * program, under the JIT (`--accel jit`) and under the interpreter (`--accel interp`), and the
 * outputs must be the right ones each time, identical under both engines.
 *
 * The programs (test/e2e/jit-smc/, prebuilt in bin/ by build.sh) are typed into the guest through
 * the serial console (gzip + base64). In the guest:
 *   - busybox is copied to /tmp/echo and run, then a program is written over it and run, then busybox
 *     again;
 *   - four variants of one program (the same code layout, different immediates in a hot loop) are
 *     written in turn over the same file and run, both by truncating and rewriting it (`cat >`: new
 *     page-cache pages, possibly recycled) and by rewriting it in place (`dd conv=notrunc`: the same
 *     physical page the previous variant's hot code ran from, rewritten by the kernel);
 *   - a program that patches two of its own instructions (one on the page the store runs from,
 *     one on a page of its own), runs fence.i and re-runs them hot, round after round.
 * Each variant's output is computed here, independently of either engine.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { BOOT_TIMEOUT_MS, Guest } from './guest.js';
import { VARIANTS, selfmodElf, selfmodOutput, uploadCommand, variantElf, variantOutput } from './jit-smc/programs.js';

/** One test: a boot (up to 2 minutes on a loaded machine) and a few dozen commands. */
const TEST_TIMEOUT_MS = 600_000;
/** A command runs a few million guest instructions at most: well under a second unloaded. */
const COMMAND_TIMEOUT_MS = 60_000;

/** Boots a guest with `accel`; killed when the test ends. */
async function boot(t: TestContext, accel: 'jit' | 'interp'): Promise<Guest> {
  // hot=20000: the test programs' pages run long enough to be translated (the default waits longer).
  const args = accel === 'jit' ? ['--accel', 'jit,hot=20000'] : ['--accel', accel];
  const g = Guest.start(args, { name: `tsvm run ${args.join(' ')}` });
  t.after(() => g.kill());
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  return g;
}

/** Runs a command and returns its output. */
async function sh(g: Guest, command: string): Promise<string> {
  return g.run(command, COMMAND_TIMEOUT_MS);
}

/** Types `bytes` into the guest as the file `path` (gzip, base64 in a here-document), checks its md5. */
async function upload(g: Guest, path: string, bytes: Uint8Array): Promise<void> {
  const { command, body } = uploadCommand(path, bytes);
  // The here-document's body follows the command line; run() sends that line first.
  const done = g.run(command, COMMAND_TIMEOUT_MS);
  g.send(body);
  await done;
  const md5 = createHash('md5').update(bytes).digest('hex');
  assert.equal(await sh(g, `md5sum ${path} | cut -c1-32`), md5, g.describe(`${path} arrived damaged`));
}

/** The whole scenario on one engine; returns everything the programs printed, in order. */
async function scenario(t: TestContext, accel: 'jit' | 'interp'): Promise<string[]> {
  const g = await boot(t, accel);
  const printed: string[] = [];
  const expect = async (command: string, expected: string): Promise<void> => {
    const out = await sh(g, command);
    assert.equal(out, expected, g.describe(`${accel}: '${command}' printed ${JSON.stringify(out)}, expected ${JSON.stringify(expected)}`));
    printed.push(out);
  };

  for (const v of VARIANTS) await upload(g, `/tmp/v${v.id}`, variantElf(v.id));
  await upload(g, '/tmp/selfmod', selfmodElf());

  // busybox, then a program over it, then busybox again, all at one path (named after an applet:
  // busybox picks the applet from its own name).
  await expect('cp /bin/busybox /tmp/echo && /tmp/echo one', 'one');
  await expect('cat /tmp/v2 > /tmp/echo && /tmp/echo; echo status $?', `${variantOutput(2)}\nstatus 42`);
  await expect('cat /bin/busybox > /tmp/echo && /tmp/echo two', 'two');

  // The variants over one another: truncated and rewritten, or rewritten in place.
  const order = [0, 1, 2, 3, 1, 0, 3, 2, 0, 0, 3, 1];
  await expect('cat /tmp/v0 > /tmp/echo', '');
  for (let i = 0; i < order.length; i++) {
    const id = order[i];
    const write = i % 2 === 0 ? `dd if=/tmp/v${id} of=/tmp/echo conv=notrunc 2>/dev/null` : `cat /tmp/v${id} > /tmp/echo`;
    await expect(`${write} && /tmp/echo; echo status $?`, `${variantOutput(id)}\nstatus ${40 + id}`);
  }
  // The same, as one shell loop in the guest (no console round trip between the runs).
  const loop = [3, 2, 1, 0, 2, 3, 0, 1];
  await expect(
    `for k in ${loop.join(' ')}; do dd if=/tmp/v$k of=/tmp/echo conv=notrunc 2>/dev/null; /tmp/echo; echo status $?; done`,
    loop.map((id) => `${variantOutput(id)}\nstatus ${40 + id}`).join('\n'),
  );

  // A process that rewrites its own code; twice (the second run starts from the file's pages again).
  await expect('/tmp/selfmod; echo status $?', `${selfmodOutput()}\nstatus 0`);
  await expect('/tmp/selfmod; echo status $?', `${selfmodOutput()}\nstatus 0`);

  const exit = await g.poweroff(60_000);
  assert.equal(exit.code, 0, g.describe(`${accel}: exited with ${exit.code} after poweroff`));
  return printed;
}

const outputs = new Map<string, string[]>();

test('freshly written programs and self-modifying code run right under the JIT', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  outputs.set('jit', await scenario(t, 'jit'));
});

test('... and under the interpreter, with the same output', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const interp = await scenario(t, 'interp');
  const jit = outputs.get('jit');
  if (jit !== undefined) assert.deepEqual(interp, jit);
});
