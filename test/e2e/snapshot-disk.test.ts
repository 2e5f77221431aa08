/**
 * SLOW END-TO-END TEST (boots Linux once in `tsvm run`, about 30 s on an idle 2-core machine).
 *
 * Memory and disk snapshotted together (issue 5): the default guest runs with a qcow2 data disk
 * (an overlay of images/default/data.qcow2, mounted on /data) and a counter loop that writes its
 * value to /data/c (synced) and to /tmp/m (RAM). `tsvm snapshot create` takes a snapshot through
 * the monitor; the loop keeps counting and a file /data/after is written and synced; `tsvm
 * snapshot revert` goes back. Then the counter resumes from the snapshot's value, and after a
 * remount (which reads the disk, not the page cache) /data/c agrees with the in-memory counter
 * and /data/after does not exist: the disk was reverted with the memory. `tsvm snapshot list`
 * shows the tree; reverting a missing snapshot fails with one line (and, as in QEMU, leaves the VM
stopped until `cont`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BOOT_TIMEOUT_MS, Guest, repoRoot } from './guest.js';
import { QmpClient } from '../../src/monitor/index.js';

const TSVM = join(repoRoot(), 'bin', 'tsvm.js');
const BASE = join(repoRoot(), 'images', 'default', 'data.qcow2');

function tsvm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSVM, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function counter(g: Guest): Promise<number> {
  const text = await g.run('cat /data/c');
  const n = Number(text.trim());
  assert.ok(Number.isInteger(n), g.describe(`/data/c holds a number, not ${JSON.stringify(text)}`));
  return n;
}

test('snapshot, keep counting, revert: the counter resumes from the snapshot and the disk matches it', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-snapdisk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const disk = join(dir, 'vm.qcow2');
  execFileSync(process.execPath, [TSVM, 'img', 'create', '-f', 'qcow2', '-b', BASE, '-F', 'qcow2', disk]);
  const socket = join(dir, 'qmp.sock');
  const monitor = `unix:${socket}`;

  const g = Guest.start(['--memory', '128', '--disk', `${disk},format=qcow2`, '--monitor', `${monitor},server,nowait`]);
  t.after(() => g.kill());
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  assert.match(await g.run('mount | grep " /data "'), /^\/dev\/vda on \/data type ext4/);
  // The counter goes to /data/c by rename, so the file always holds a whole number (a plain
  // `echo > /data/c` truncates first: the snapshot, or the kill below, could catch it empty).
  await g.run('(i=0; while true; do i=$((i+1)); echo $i > /data/c.new; mv /data/c.new /data/c; sync; echo $i > /tmp/m; sleep 0.1; done) & echo $! > /tmp/pid');
  // The loop starts in the background: /data/c may not exist yet when the shell answers.
  while ((await g.run('test -e /data/c && echo yes || echo no')) !== 'yes') await new Promise((r) => setTimeout(r, 200));
  while (await counter(g) < 5) await new Promise((r) => setTimeout(r, 200));

  const before = await counter(g);
  const created = tsvm(['snapshot', 'create', '--monitor', monitor, 's1']);
  assert.equal(created.status, 0, created.stderr);
  const after = await counter(g);
  await g.run('echo written-after-s1 > /data/after; sync');
  while (await counter(g) < after + 15) await new Promise((r) => setTimeout(r, 200));
  const late = await counter(g);

  const reverted = tsvm(['snapshot', 'revert', '--monitor', monitor, 's1']);
  assert.equal(reverted.status, 0, reverted.stderr);
  // The guest is back at s1: stop the loop, then compare memory and disk.
  g.send('\n');
  await g.waitForPrompt(30_000);
  await g.run('kill $(cat /tmp/pid)');
  const memory = Number(await g.run('cat /tmp/m'));
  await g.run('umount /data && mount /dev/vda /data');
  const onDisk = Number(await g.run('cat /data/c'));
  assert.ok(onDisk >= before && onDisk <= after + 1, `the disk's counter (${onDisk}) is the snapshot's (${before}..${after}), not the later ${late}`);
  assert.ok(onDisk === memory || onDisk === memory + 1, `disk (${onDisk}) and memory (${memory}) agree (the loop writes the disk first)`);
  assert.equal(await g.run('ls /data/after 2>&1 >/dev/null | grep -c "No such file"'), '1', 'a file written after the snapshot is gone from the disk');

  const list = tsvm(['snapshot', 'list', '--disk', disk]);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^s1 \* /m);
  const missing = tsvm(['snapshot', 'revert', '--monitor', monitor, 'nope']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^tsvm: there is no snapshot 'nope'\n$/);
  // As in QEMU, a failed loadvm leaves the VM stopped: let it go on.
  const qmp = await QmpClient.connect(socket);
  await qmp.negotiate();
  await qmp.execute('cont');
  qmp.close();

  const exit = await g.poweroff();
  assert.equal(exit.code, 0, g.describe('poweroff exits 0'));
  const check = spawnSync('/usr/bin/qemu-img', ['check', join(`${disk}.snapshots`, 'vda.since-s1.2.qcow2')], { encoding: 'utf8' });
  if (check.error === undefined) assert.equal(check.status, 0, check.stdout + check.stderr);
});
