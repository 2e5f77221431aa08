/**
 * SLOW END-TO-END TEST (boots Linux once, then resumes a clone of it: about 30 s on an idle 2-core
 * machine).
 *
 * `tsvm clone` (issue 5): a VM with a qcow2 data disk takes snapshot s1 through its monitor; `tsvm
 * clone` makes a new VM from s1; `tsvm run --restore CLONE` resumes it (no boot) while the source
 * keeps running. Each writes a different file to /data; after a remount (reading the disk, not the
 * page cache) neither sees the other's file, both see the file written before s1, and the frozen
 * image both are built on is unchanged. Bad input to `tsvm clone` gets one line and status 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BOOT_TIMEOUT_MS, Guest, repoRoot } from './guest.js';

const TSVM = join(repoRoot(), 'bin', 'tsvm.js');
const BASE = join(repoRoot(), 'images', 'default', 'data.qcow2');

function tsvm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSVM, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('a clone and its source run side by side from one snapshot; neither sees the other\'s files', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-clone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const disk = join(dir, 'vm.qcow2');
  execFileSync(process.execPath, [TSVM, 'img', 'create', '-f', 'qcow2', '-b', BASE, '-F', 'qcow2', disk]);
  const monitor = `unix:${join(dir, 'qmp.sock')}`;

  const source = Guest.start(['--memory', '128', '--disk', `${disk},format=qcow2`, '--monitor', `${monitor},server,nowait`], { name: 'source' });
  t.after(() => source.kill());
  await source.waitForPrompt(BOOT_TIMEOUT_MS);
  await source.run('echo before-s1 > /data/base; sync');
  const created = tsvm(['snapshot', 'create', '--monitor', monitor, 's1']);
  assert.equal(created.status, 0, created.stderr);
  const frozen = sha256(disk);

  const snapshots = `${disk}.snapshots`;
  const cloneDir = join(dir, 'clone');
  const made = tsvm(['clone', snapshots, 's1', cloneDir]);
  assert.equal(made.status, 0, made.stderr);
  assert.match(made.stdout, /tsvm run --restore /);

  // Bad input: one line each, status 1, nothing created.
  mkdirSync(join(dir, 'taken'));
  for (const [args, why] of [
    [['clone', snapshots, 's1', cloneDir], /already exists/],
    [['clone', snapshots, 'nope', join(dir, 'c3')], /there is no snapshot 'nope'/],
    [['clone', join(dir, 'nowhere'), 's1', join(dir, 'c4')], /not a snapshot directory/],
    [['run', '--restore', 'nope', '--snapshot-dir', snapshots], /there is no snapshot 'nope'/],
  ] as [string[], RegExp][]) {
    const r = tsvm(args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, why);
  }

  const clone = Guest.start(['--restore', cloneDir], { name: 'clone' });
  t.after(() => clone.kill());
  clone.send('\n');
  await clone.waitForPrompt(30_000);
  assert.ok(!clone.output.includes('Linux version'), clone.describe('the clone resumes, it does not boot'));

  await Promise.all([
    source.run('echo source > /data/source-only; sync'),
    clone.run('echo clone > /data/clone-only; sync'),
  ]);
  const remountAndList = async (g: Guest): Promise<string> => {
    await g.run('umount /data && mount /dev/vda /data');
    return g.run('ls /data | grep -v lost+found');
  };
  const [seenBySource, seenByClone] = await Promise.all([remountAndList(source), remountAndList(clone)]);
  // (kernel messages may interleave with the console output)
  const files = (text: string): string[] => text.split('\n').filter((l) => !l.startsWith('[')).sort();
  assert.deepEqual(files(seenBySource), ['base', 'source-only']);
  assert.deepEqual(files(seenByClone), ['base', 'clone-only']);
  assert.equal(await clone.run('cat /data/base'), 'before-s1');

  const [a, b] = await Promise.all([source.poweroff(), clone.poweroff()]);
  assert.equal(a.code, 0, source.describe('source poweroff'));
  assert.equal(b.code, 0, clone.describe('clone poweroff'));
  assert.equal(sha256(disk), frozen, 'the frozen image both VMs are built on is unchanged');
});
