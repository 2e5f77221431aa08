/**
 * `tsvm img`, run in-process through the same parser and error handling as the entry point:
 * every verb, exit statuses (check's 0/2/3/63), one-line errors, and (when qemu-img is installed)
 * agreement with qemu-img on the same images.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseArgs, UsageError } from './args.js';
import { EXIT_USAGE, type CliIo } from './command.js';
import { imgCommand } from './img.js';
import { parseSize, humanSize } from './img-format.js';
import { Qcow2Image } from '../block/index.js';
import { openImageFile } from '../host/node-file.js';

const haveQemu = spawnSync('qemu-img', ['--version']).status === 0;
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvm-img-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `tsvm img ARGS` in-process, as main() would (usage errors: one line plus a hint, status 2). */
async function img(...args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    writeStdout: (d) => {
      stdout += typeof d === 'string' ? d : Buffer.from(d).toString();
    },
    writeStderr: (t) => {
      stderr += t;
    },
    onInterrupt: () => () => undefined,
  };
  const prev = process.cwd();
  process.chdir(dir);
  try {
    const status = await imgCommand.execute(parseArgs(args, imgCommand.spec), io);
    return { status, stdout, stderr };
  } catch (e) {
    if (e instanceof UsageError) return { status: EXIT_USAGE, stdout, stderr: `tsvm: ${e.message}\nTry '${e.hint}' for more information.\n` };
    throw e;
  } finally {
    process.chdir(prev);
  }
}

function oneLineError(r: Result, re: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tsvm: [^\n]+\n$/);
  assert.match(r.stderr, re);
}

test('sizes parse with qemu-img suffixes and print in binary units', () => {
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('64K'), 65536);
  assert.equal(parseSize('64k'), 65536);
  assert.equal(parseSize('10G'), 10 * 2 ** 30);
  assert.equal(parseSize('1.5M'), 1.5 * 2 ** 20);
  assert.equal(parseSize('2T'), 2 * 2 ** 40);
  assert.equal(parseSize('1x'), undefined);
  assert.equal(parseSize('-1'), undefined);
  assert.equal(humanSize(196 * 1024), '196 KiB');
  assert.equal(humanSize(47_000_000), '44.8 MiB');
  assert.equal(humanSize(2 ** 30), '1 GiB');
});

test('help and usage errors', async () => {
  const h = await img('--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /^usage: tsvm img COMMAND/);
  assert.match(h.stdout, /create \[-f raw\|qcow2\]/);
  const c = await img('create', '--help');
  assert.equal(c.status, 0);
  assert.match(c.stdout, /-b, --backing FILE/);
  assert.equal((await img()).status, 2);
  assert.match((await img('frobnicate')).stderr, /unknown command 'frobnicate'/);
  assert.match((await img('info', '-r', 'all', 'x')).stderr, /'--repair' does not apply to 'tsvm img info'/);
  assert.match((await img('create', '-f', 'vmdk', 'x', '1G')).stderr, /unknown image format 'vmdk'/);
  assert.match((await img('create', '-f', 'qcow2', 'x', '1Q')).stderr, /invalid size '1Q'/);
  assert.match((await img('info')).stderr, /missing argument/);
});

test('create and info (human and JSON), qcow2 and raw', async () => {
  const r = await img('create', '-f', 'qcow2', 'a.qcow2', '1G');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Formatting 'a.qcow2', fmt=qcow2 cluster_size=65536 compat=1.1 size=1073741824/);
  const human = await img('info', 'a.qcow2');
  assert.match(human.stdout, /^image: a.qcow2\nfile format: qcow2\nvirtual size: 1 GiB \(1073741824 bytes\)\ndisk size: .*\ncluster_size: 65536\n/);
  assert.match(human.stdout, /Format specific information:\n {4}compat: 1.1\n/);
  const json = JSON.parse((await img('info', '--output', 'json', 'a.qcow2')).stdout) as Record<string, unknown>;
  assert.equal(json['virtual-size'], 1 << 30);
  assert.equal(json.format, 'qcow2');
  assert.equal(json['cluster-size'], 65536);
  assert.equal(json['dirty-flag'], false);
  assert.deepEqual(json['format-specific'], {
    type: 'qcow2',
    data: { compat: '1.1', 'compression-type': 'zlib', 'lazy-refcounts': false, 'refcount-bits': 16, corrupt: false, 'extended-l2': false },
  });
  assert.ok(typeof json['actual-size'] === 'number');

  assert.equal((await img('create', '-f', 'qcow2', '-o', 'compat=0.10,cluster_size=4K', 'v2.qcow2', '64M')).status, 0);
  const v2 = JSON.parse((await img('info', '--output', 'json', 'v2.qcow2')).stdout) as { 'cluster-size': number; 'format-specific': { data: Record<string, unknown> } };
  assert.equal(v2['cluster-size'], 4096);
  assert.deepEqual(v2['format-specific'].data, { compat: '0.10', 'compression-type': 'zlib', 'refcount-bits': 16 });

  assert.equal((await img('create', 'r.raw', '10M')).status, 0);
  assert.equal(statSync(join(dir, 'r.raw')).size, 10 << 20);
  const raw = JSON.parse((await img('info', '--output', 'json', 'r.raw')).stdout) as Record<string, unknown>;
  assert.equal(raw.format, 'raw');
  assert.equal(raw['virtual-size'], 10 << 20);
});

test('overlays: create -b takes the backing size; info --backing-chain lists the chain', async () => {
  assert.equal((await img('create', '-f', 'qcow2', 'base.qcow2', '32M')).status, 0);
  const r = await img('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2');
  assert.equal(r.status, 0, r.stderr);
  const chain = JSON.parse((await img('info', '--output', 'json', '--backing-chain', 'top.qcow2')).stdout) as Record<string, unknown>[];
  assert.equal(chain.length, 2);
  assert.equal(chain[0]['virtual-size'], 32 << 20);
  assert.equal(chain[0]['backing-filename'], 'base.qcow2');
  assert.equal(chain[0]['backing-filename-format'], 'qcow2');
  assert.equal(chain[0]['full-backing-filename'], 'base.qcow2');
  assert.equal(chain[1].filename, 'base.qcow2');
  const human = await img('info', 'top.qcow2');
  assert.match(human.stdout, /backing file: base.qcow2\nbacking file format: qcow2\n/);
  // A missing backing file: info (no chain) still works; opening the chain fails in one line.
  assert.equal((await img('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'orphan.qcow2')).status, 0);
  rmSync(join(dir, 'base.qcow2'));
  assert.equal((await img('info', 'orphan.qcow2')).status, 0);
  oneLineError(await img('info', '--backing-chain', 'orphan.qcow2'), /cannot open backing file 'base.qcow2': .*No such file or directory/);
  oneLineError(await img('create', '-f', 'qcow2', '-b', 'nothere.qcow2', 'x.qcow2'), /nothere.qcow2: No such file or directory/);
});

test('check: exit 0, 3 for leaks, 2 for corruption; -r repairs; 63 for raw', async () => {
  assert.equal((await img('create', '-f', 'qcow2', '-o', 'cluster_size=4096', 'k.qcow2', '16M')).status, 0);
  const w = await openImageFile(join(dir, 'k.qcow2'));
  await w.write(0, new Uint8Array(100_000).fill(1));
  await w.close();
  const clean = await img('check', 'k.qcow2');
  assert.equal(clean.status, 0);
  assert.match(clean.stdout, /^No errors were found on the image.\n\d+\/4096 = [\d.]+% allocated/);

  // A leak.
  const l = (await openImageFile(join(dir, 'k.qcow2'))) as Qcow2Image;
  await l.refcounts!.set(Math.ceil(l.fileEnd / 4096) + 2, 1);
  await l.close();
  const leaky = await img('check', 'k.qcow2');
  assert.equal(leaky.status, 3, leaky.stdout);
  assert.match(leaky.stdout, /Leaked cluster \d+ refcount=1 reference=0\n\n1 leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data./);
  const json = JSON.parse((await img('check', '--output', 'json', 'k.qcow2')).stdout) as Record<string, unknown>;
  assert.equal(json.leaks, 1);
  const fixed = await img('check', '-r', 'leaks', 'k.qcow2');
  assert.equal(fixed.status, 0, fixed.stdout);
  assert.match(fixed.stdout, /The following inconsistencies were found and repaired:\n\n {4}1 leaked clusters\n {4}0 corruptions\n\nDouble checking the fixed image now...\nNo errors were found on the image./);

  // A corruption: a used L2 table with refcount 0.
  const c = (await openImageFile(join(dir, 'k.qcow2'))) as Qcow2Image;
  const l2 = Number(new DataView(c.l1Table().buffer).getBigUint64(0) & 0x00fffffffffffe00n);
  await c.refcounts!.set(l2 / 4096, 0);
  await c.close();
  const bad = await img('check', 'k.qcow2');
  assert.equal(bad.status, 2, bad.stdout);
  assert.match(bad.stdout, /ERROR cluster \d+ refcount=0 reference=1/);
  assert.match(bad.stdout, /errors were found on the image.\nData may be corrupted/);
  assert.equal((await img('check', '-r', 'leaks', 'k.qcow2')).status, 2);
  const all = await img('check', '-r', 'all', 'k.qcow2');
  assert.equal(all.status, 0, all.stdout);
  if (haveQemu) assert.equal(spawnSync('qemu-img', ['check', join(dir, 'k.qcow2')]).status, 0);

  assert.equal((await img('create', 'plain.raw', '1M')).status, 0);
  const raw = await img('check', 'plain.raw');
  assert.equal(raw.status, 63);
  assert.match(raw.stderr, /does not support checks/);
});

test('convert (with progress), resize, commit, rebase and snapshot -l', async () => {
  writeFileSync(join(dir, 'cv-base.raw'), new Uint8Array(8 << 20).fill(0x61));
  assert.equal((await img('create', '-f', 'qcow2', '-b', 'cv-base.raw', '-F', 'raw', 'cv.qcow2')).status, 0);
  const w = await openImageFile(join(dir, 'cv.qcow2'));
  await w.write(1 << 20, new Uint8Array(70000).fill(0x62));
  await w.close();
  const want = new Uint8Array(8 << 20).fill(0x61);
  want.fill(0x62, 1 << 20, (1 << 20) + 70000);

  const cv = await img('convert', '-p', '-O', 'qcow2', 'cv.qcow2', 'flat.qcow2');
  assert.equal(cv.status, 0, cv.stderr);
  assert.match(cv.stderr, /\(100\.00\/100%\)\r\n$/);
  const cr = await img('convert', '-f', 'qcow2', '-O', 'raw', 'flat.qcow2', 'flat.raw');
  assert.equal(cr.status, 0, cr.stderr);
  assert.ok(readFileSync(join(dir, 'flat.raw')).equals(Buffer.from(want)), 'converted content');
  assert.equal((JSON.parse((await img('info', '--output', 'json', 'flat.qcow2')).stdout) as Record<string, unknown>)['backing-filename'], undefined);

  const rs = await img('resize', 'flat.qcow2', '+8M');
  assert.equal(rs.status, 0, rs.stderr);
  assert.equal(rs.stdout, 'Image resized.\n');
  assert.equal((JSON.parse((await img('info', '--output', 'json', 'flat.qcow2')).stdout) as Record<string, unknown>)['virtual-size'], 16 << 20);
  oneLineError(await img('resize', '--shrink', 'flat.qcow2', '1M'), /shrinking qcow2 images is not supported/);
  oneLineError(await img('resize', 'flat.raw', '1M'), /use --shrink/);
  assert.equal((await img('resize', '--shrink', 'flat.raw', '1M')).status, 0);
  assert.equal(statSync(join(dir, 'flat.raw')).size, 1 << 20);

  const cm = await img('commit', 'cv.qcow2');
  assert.equal(cm.status, 0, cm.stderr);
  assert.equal(cm.stdout, 'Image committed.\n');
  assert.ok(readFileSync(join(dir, 'cv-base.raw')).equals(Buffer.from(want)), 'committed into the base');

  writeFileSync(join(dir, 'other.raw'), new Uint8Array(8 << 20));
  const rb = await img('rebase', '-b', 'other.raw', '-F', 'raw', 'cv.qcow2');
  assert.equal(rb.status, 0, rb.stderr);
  const after = await openImageFile(join(dir, 'cv.qcow2'), { readOnly: true });
  const got = new Uint8Array(after.size);
  await after.read(0, got);
  await after.close();
  assert.ok(Buffer.from(got).equals(Buffer.from(want)), 'safe rebase keeps the content');
  assert.equal((await img('rebase', '-u', '-b', 'elsewhere.raw', '-F', 'raw', 'cv.qcow2')).status, 0);
  assert.match((await img('info', 'cv.qcow2')).stdout, /backing file: elsewhere.raw/);
  assert.match((await img('rebase', 'cv.qcow2')).stderr, /missing -b BACKING/);

  assert.equal((await img('snapshot', '-l', 'flat.qcow2')).stdout, '');
  assert.match((await img('snapshot', 'flat.qcow2')).stderr, /only -l/);
  if (haveQemu) {
    assert.equal(spawnSync('qemu-img', ['snapshot', '-c', 'first', join(dir, 'flat.qcow2')]).status, 0);
    const sl = await img('snapshot', '-l', 'flat.qcow2');
    assert.match(sl.stdout, /^Snapshot list:\nID {8}TAG {15}VM SIZE {16}DATE {5}VM CLOCK {5}ICOUNT\n1 {9}first /);
  }
});

test('errors are one line with a non-zero exit', async () => {
  oneLineError(await img('info', 'nope.qcow2'), /^tsvm: nope.qcow2: No such file or directory\n$/);
  writeFileSync(join(dir, 'garbage.qcow2'), new Uint8Array(4096));
  oneLineError(await img('info', '-f', 'qcow2', 'garbage.qcow2'), /not a qcow2 image \(bad magic\)/);
  assert.equal((await img('create', '-f', 'qcow2', 'busy.qcow2', '1M')).status, 0);
  const held = await openImageFile(join(dir, 'busy.qcow2'));
  try {
    oneLineError(await img('resize', 'busy.qcow2', '+1M'), /in use for writing by process \d+/);
    assert.equal((await img('info', 'busy.qcow2')).status, 0, 'reading a busy image is fine');
  } finally {
    await held.close();
  }
  assert.ok(!existsSync(join(dir, 'busy.qcow2.lock')));
});

test('qemu-img agrees with our info on images made by both tools', { skip: haveQemu ? false : 'qemu-img not installed' }, async () => {
  const keys = ['virtual-size', 'format', 'cluster-size', 'format-specific', 'backing-filename', 'backing-filename-format', 'full-backing-filename', 'dirty-flag'];
  const cases: [string, string[]][] = [
    ['q1.qcow2', ['create', '-f', 'qcow2', 'q1.qcow2', '100M']],
    ['q2.qcow2', ['create', '-f', 'qcow2', '-o', 'compat=0.10', 'q2.qcow2', '100M']],
    ['q3.qcow2', ['create', '-f', 'qcow2', '-b', 'q1.qcow2', '-F', 'qcow2', 'q3.qcow2']],
  ];
  for (const [name, args] of cases) {
    for (const tool of ['qemu', 'ours']) {
      if (tool === 'qemu') assert.equal(spawnSync('qemu-img', args, { cwd: dir }).status, 0);
      else assert.equal((await img(...args)).status, 0);
      const q = JSON.parse(spawnSync('qemu-img', ['info', '--output', 'json', name], { cwd: dir, encoding: 'utf8' }).stdout) as Record<string, unknown>;
      const o = JSON.parse((await img('info', '--output', 'json', name)).stdout) as Record<string, unknown>;
      for (const k of keys) assert.deepEqual(o[k], q[k], `${name} (made by ${tool}): ${k}`);
      const qc = spawnSync('qemu-img', ['check', name], { cwd: dir });
      assert.equal(qc.status, 0, `${name} made by ${tool} passes qemu-img check`);
      rmSync(join(dir, name));
    }
    if (name === 'q3.qcow2') break;
    // Keep q1 for q3's backing file.
    if (name === 'q1.qcow2') assert.equal(spawnSync('qemu-img', args, { cwd: dir }).status, 0);
  }
});
