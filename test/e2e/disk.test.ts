/**
 * SLOW END-TO-END TESTS (each boots Linux in `tsvm run` with a virtio-blk disk).
 *
 * Interop with Debian's qemu-utils (issue 4): an ext4 file system on an image made by `qemu-img
 * create`/`convert` is mounted and written by a tsvm guest; afterwards `qemu-img check` finds no
 * errors and the files read back (through `qemu-img convert` + e2fsprogs' debugfs) are what the
 * guest wrote. Linked clones: one base, two overlays made by `tsvm img create -b`, two guests
 * writing different files: each overlay sees its own writes, the base is unchanged.
 * The kill -9 crash test is in disk-crash.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

import { BOOT_TIMEOUT_MS, Guest, repoRoot } from './guest.js';

const tools = ['/usr/bin/qemu-img', '/usr/sbin/mkfs.ext4', '/usr/sbin/debugfs'];
const missing = tools.filter((t) => !existsSync(t));
const skip = missing.length > 0 ? `needs ${missing.join(', ')} (qemu-utils, e2fsprogs)` : false;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A 64 MiB ext4 file system in a qcow2 image made by QEMU's tools. */
function makeExt4Qcow2(dir: string, name: string): string {
  const raw = join(dir, `${name}.raw`);
  sh('/usr/bin/qemu-img', ['create', '-q', '-f', 'raw', raw, '64M']);
  sh('/usr/sbin/mkfs.ext4', ['-q', '-F', '-O', '^has_journal', raw]);
  const qcow2 = join(dir, `${name}.qcow2`);
  sh('/usr/bin/qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  rmSync(raw);
  return qcow2;
}

/** Reads a file out of an ext4 image (any format qemu-img reads). */
function readFromImage(image: string, path: string, dir: string): string {
  const raw = join(dir, 'readback.raw');
  sh('/usr/bin/qemu-img', ['convert', '-O', 'raw', image, raw]);
  const r = spawnSync('/usr/sbin/debugfs', ['-R', `cat ${path}`, raw], { encoding: 'utf8' });
  rmSync(raw);
  return r.stdout;
}

async function bootWithDisk(t: TestContext, disk: string): Promise<Guest> {
  const g = Guest.start(['--memory', '128', '--disk', `${disk},format=qcow2`]);
  t.after(() => g.kill());
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  await g.run('mkdir -p /mnt && mount -t ext4 /dev/vda /mnt');
  return g;
}

async function shutdown(g: Guest): Promise<void> {
  await g.run('umount /mnt; sync');
  const exit = await g.poweroff();
  assert.equal(exit.code, 0, g.describe('poweroff exits 0'));
}

test('a qemu-img qcow2 image written by a tsvm guest passes qemu-img check and holds the data',
  { skip, timeout: 300_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvm-disk-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const image = makeExt4Qcow2(dir, 'data');
    const g = await bootWithDisk(t, image);
    // 3 MiB of pseudo-random data plus a small text file; the guest reports the checksum.
    await g.run('dd if=/dev/urandom of=/mnt/blob bs=64k count=48 2>/dev/null');
    const guestSum = (await g.run('md5sum /mnt/blob')).split(/\s+/)[0];
    await g.run('echo written-by-tsvm > /mnt/hello.txt');
    await shutdown(g);

    const check = spawnSync('/usr/bin/qemu-img', ['check', image], { encoding: 'utf8' });
    assert.equal(check.status, 0, `qemu-img check: ${check.stdout}${check.stderr}`);
    assert.match(check.stdout, /No errors were found/);
    assert.equal(readFromImage(image, '/hello.txt', dir), 'written-by-tsvm\n');
    const raw = join(dir, 'blob.raw');
    sh('/usr/bin/qemu-img', ['convert', '-O', 'raw', image, raw]);
    const r = spawnSync('/usr/sbin/debugfs', ['-R', `dump /blob ${join(dir, 'blob.out')}`, raw], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const hostSum = createHash('md5').update(readFileSync(join(dir, 'blob.out'))).digest('hex');
    assert.equal(hostSum, guestSum, 'the file QEMU\'s tools read back is the one the guest wrote');
  });

test('linked clones: two overlays of one base, each sees its own writes, the base is unchanged',
  { skip, timeout: 300_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvm-clone-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const base = makeExt4Qcow2(dir, 'base');
    const baseSum = createHash('sha256').update(readFileSync(base)).digest('hex');
    const tsvm = join(repoRoot(), 'bin', 'tsvm.js');
    const overlays = ['a', 'b'].map((n) => {
      const p = join(dir, `${n}.qcow2`);
      sh(process.execPath, [tsvm, 'img', 'create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', p]);
      return p;
    });
    // The two guests run side by side.
    const guests = await Promise.all(overlays.map((o) => bootWithDisk(t, o)));
    await Promise.all(guests.map((g, i) => g.run(`echo clone-${i} > /mnt/who.txt`)));
    const seen = await Promise.all(guests.map((g) => g.run('ls /mnt')));
    for (const s of seen) assert.ok(s.includes('who.txt'));
    await Promise.all(guests.map((g) => shutdown(g)));

    overlays.forEach((o, i) => {
      assert.equal(readFromImage(o, '/who.txt', dir), `clone-${i}\n`, `overlay ${i} reads its own write`);
      const check = spawnSync('/usr/bin/qemu-img', ['check', o], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stdout + check.stderr);
    });
    assert.equal(createHash('sha256').update(readFileSync(base)).digest('hex'), baseSum, 'the base is unchanged');
    assert.equal(readFromImage(base, '/who.txt', dir).includes('clone'), false);
  });

test('--persist (npm start): the default guest keeps /data between runs', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-persist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { XDG_DATA_HOME: dir };
  const first = Guest.start(['--persist', '--memory', '128'], { env });
  t.after(() => first.kill());
  await first.waitForPrompt(BOOT_TIMEOUT_MS);
  assert.match(await first.run('mount | grep " /data "'), /^\/dev\/vda on \/data type ext4/);
  await first.run('echo kept-across-runs > /data/note; sync');
  assert.equal((await first.poweroff()).code, 0);
  const disk = join(dir, 'tsvm', 'default-data.qcow2');
  assert.ok(existsSync(disk), 'the data disk was made on first use');
  const check = spawnSync('/usr/bin/qemu-img', ['check', disk], { encoding: 'utf8' });
  if (check.error === undefined) assert.equal(check.status, 0, check.stdout + check.stderr);

  const second = Guest.start(['--persist', '--memory', '128'], { env });
  t.after(() => second.kill());
  await second.waitForPrompt(BOOT_TIMEOUT_MS);
  assert.equal(await second.run('cat /data/note'), 'kept-across-runs');
  assert.equal((await second.poweroff()).code, 0);
});
