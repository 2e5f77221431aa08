/**
 * SLOW END-TO-END TEST (boots Linux in `tsvm run`, about 20 s on an idle 2-core machine).
 *
 * Save and restore of a running VM through the QMP monitor: the guest writes a file in its RAM
 * file system, `savevm` (HMP through QMP's human-monitor-command) stores a snapshot, `quit` ends
 * the VM; a new `tsvm run --restore` resumes the guest where it was: the shell answers at once and
 * the file is there. A corrupted snapshot is refused with a one-line error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BOOT_TIMEOUT_MS, Guest } from './guest.js';
import { QmpClient } from '../../src/monitor/index.js';

test('savevm through QMP, quit, then tsvm run --restore resumes the guest', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-snap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'qmp.sock');
  const snapshots = join(dir, 'snapshots');
  const machineArgs = ['--memory', '128'];

  const g = Guest.start([...machineArgs, '--monitor', `unix:${socket},server,nowait`, '--snapshot-dir', snapshots]);
  t.after(() => g.kill());
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  assert.equal(await g.run('echo hello-snapshot > /tmp/note; cat /tmp/note'), 'hello-snapshot');

  const qmp = await QmpClient.connect(socket);
  await qmp.negotiate();
  const status = await qmp.execute('query-status');
  assert.deepEqual((status as { return?: { status?: string } }).return?.status, 'running');
  const saved = await qmp.execute('human-monitor-command', { 'command-line': 'savevm s1' }, { timeoutMs: 60_000 });
  assert.ok('return' in saved, `savevm answered ${JSON.stringify(saved)}`);
  const file = join(snapshots, 's1.tsnap');
  assert.ok(existsSync(file), 'the snapshot file exists beside the VM');
  await qmp.execute('quit');
  const exit = await g.waitForExit(30_000);
  assert.equal(exit.code, 0, g.describe('quit ends tsvm with status 0'));

  // Resume: same machine options, no boot. The shell is where it was.
  const r = Guest.start([...machineArgs, '--restore', file]);
  t.after(() => r.kill());
  r.send('\n');
  await r.waitForPrompt(30_000);
  assert.equal(await r.run('cat /tmp/note'), 'hello-snapshot');
  assert.ok(!r.output.includes('Linux version'), r.describe('a restored VM does not boot again'));
  const rexit = await r.poweroff();
  assert.equal(rexit.code, 0);

  // A corrupted snapshot: one line, non-zero.
  const bad = join(dir, 'bad.tsnap');
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(bad, bytes);
  const b = Guest.start([...machineArgs, '--restore', bad]);
  t.after(() => b.kill());
  const bexit = await b.waitForExit(30_000);
  assert.notEqual(bexit.code, 0);
  const lines = b.stderr.trim().split('\n');
  assert.equal(lines.length, 1, b.describe('one line of error'));
  assert.match(lines[0], /^tsvm: .*(checksum|corrupt)/i);
});
