/**
 * SLOW END-TO-END TEST (boots Linux in `tsvm run` six times, with a qcow2 disk made by qemu-img).
 *
 * The crash test of issue 4: kill -9 the tsvm process repeatedly while the guest writes and syncs;
 * after each kill the image passes `qemu-img check` and every file the guest synced is intact.
 *
 * The disk holds a journalled ext4 file system (mkfs.ext4 defaults). Each round boots the guest,
 * mounts the disk (the kernel replays the journal the previous kill left behind), checks in the
 * guest every file synced in earlier rounds, then starts a loop that writes files of varying size
 * (4 KiB to 1 MiB of /dev/urandom, so allocations cross 64 KiB qcow2 clusters), runs `sync`, and
 * only then prints `SYNCED rR N MD5`. `sync` returns after ext4 committed its journal and the block
 * layer's cache flush (virtio-blk FLUSH, the device runs in writeback mode) completed, so a printed
 * marker means tsvm acknowledged a FLUSH covering the file. After a random number of markers and a
 * random delay, the test sends SIGKILL. Then, on the host:
 * - `qemu-img check` must report no errors (leaked clusters are allowed: exit status 0 or 3);
 * - a raw copy (`qemu-img convert`) must pass `e2fsck -fy` (journal replay, then exit 0 or 1:
 *   "errors corrected" covers the free counts and orphans a crash legitimately leaves), and every
 *   synced file, dumped with debugfs, must have its MD5.
 * The next boot checks the files again from inside the guest, through tsvm. A last boot checks the
 * last round's files, unmounts and powers off cleanly; the image must then check clean too.
 *
 * The lock file a killed tsvm leaves behind is not removed: tsvm must take over the stale lock.
 * The kill points come from a seeded generator; the seed is printed (TSVM_CRASH_SEED=n repeats it).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

import { BOOT_TIMEOUT_MS, Guest } from './guest.js';

const QEMU_IMG = '/usr/bin/qemu-img';
const MKFS = '/usr/sbin/mkfs.ext4';
const E2FSCK = '/usr/sbin/e2fsck';
const DEBUGFS = '/usr/sbin/debugfs';
const tools = [QEMU_IMG, MKFS, E2FSCK, DEBUGFS];
const missing = tools.filter((t) => !existsSync(t));
const skip = missing.length > 0 ? `needs ${missing.join(', ')} (qemu-utils, e2fsprogs)` : false;

const ROUNDS = 5;
/** Markers to see before the kill is armed: 1..MAX_MARKERS_BEFORE_KILL. */
const MAX_MARKERS_BEFORE_KILL = 4;
/** Then the kill comes after 0..MAX_KILL_DELAY_MS, in the middle of some later write or sync. */
const MAX_KILL_DELAY_MS = 1500;
/** Time for the loop to print its markers (each is a dd, an md5sum and a journal commit). */
const LOOP_TIMEOUT_MS = 180_000;
const DIR = '/mnt/c';

/** A line printed by the loop after `sync` returned (the echoed command line cannot match). */
const MARKER = /^SYNCED r(\d+) (\d+) ([0-9a-f]{32})$/gm;

/** mulberry32: a small seeded generator, so a failing sequence of kill points can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A 64 MiB journalled ext4 file system in a qcow2 image made by QEMU's tools. */
function makeImage(dir: string): string {
  const raw = join(dir, 'fs.raw');
  sh(QEMU_IMG, ['create', '-q', '-f', 'raw', raw, '64M']);
  sh(MKFS, ['-q', '-F', raw]);
  const image = join(dir, 'crash.qcow2');
  sh(QEMU_IMG, ['convert', '-f', 'raw', '-O', 'qcow2', raw, image]);
  rmSync(raw);
  return image;
}

/** Synced files so far: guest path -> MD5 the guest computed before syncing. */
type Synced = Map<string, string>;

async function boot(t: TestContext, image: string, what: string): Promise<Guest> {
  const g = Guest.start(['--memory', '128', '--disk', `${image},format=qcow2`], { name: `tsvm (${what})` });
  t.after(() => g.kill());
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  await g.run('dmesg -n 1'); // no kernel messages in the middle of a marker line
  const mount = await g.run(`mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && mkdir -p ${DIR} && echo MOUNTED`);
  assert.match(mount, /MOUNTED$/, g.describe(`${what}: mounting the disk`));
  return g;
}

/** Checks, from inside the guest, that every synced file reads back with its MD5. */
async function checkInGuest(g: Guest, synced: Synced, what: string): Promise<void> {
  if (synced.size === 0) return;
  const out = await g.run(`md5sum ${DIR}/* 2>&1`, 120_000);
  const seen = new Map<string, string>();
  for (const m of out.matchAll(/^([0-9a-f]{32})\s+(\S+)$/gm)) seen.set(m[2], m[1]);
  for (const [path, md5] of synced) {
    assert.equal(seen.get(path), md5, g.describe(`${what}: ${path}, synced before a kill, reads back changed or missing in the guest`));
  }
}

/** qemu-img check: no errors (leaks allowed). */
function qemuImgCheck(image: string, what: string): void {
  const r = spawnSync(QEMU_IMG, ['check', image], { encoding: 'utf8' });
  // 0: clean; 3: leaked clusters only; 2: corruption; 1: the check could not run.
  assert.ok(r.status === 0 || r.status === 3, `${what}: qemu-img check exited ${r.status}:\n${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /ERROR/, `${what}: qemu-img check:\n${r.stdout}`);
}

/**
 * On a raw copy of the image: e2fsck (replays the journal, fixes what a crash may leave) must end
 * with a consistent file system, and each synced file must dump with its MD5.
 */
function checkOnHost(t: TestContext, image: string, dir: string, synced: Synced, what: string): void {
  const raw = join(dir, 'check.raw');
  try {
    sh(QEMU_IMG, ['convert', '-O', 'raw', image, raw]);
    const fsck = spawnSync(E2FSCK, ['-f', '-y', raw], { encoding: 'utf8' });
    // 0: clean; 1: errors corrected; 4 and up: errors left, or e2fsck failed.
    assert.ok(fsck.status === 0 || fsck.status === 1, `${what}: e2fsck -fy exited ${fsck.status}:\n${fsck.stdout}${fsck.stderr}`);
    if (fsck.status === 1) t.diagnostic(`${what}: e2fsck corrected: ${fsck.stdout.split('\n').filter((l) => /fix|count|orphan/i.test(l)).join(' | ')}`);
    if (synced.size === 0) return;
    const paths = [...synced.keys()];
    const commands = paths.map((p, i) => `dump ${p.replace('/mnt', '')} ${join(dir, `dump-${i}`)}`).join('\n');
    writeFileSync(join(dir, 'debugfs.cmds'), `${commands}\n`);
    sh(DEBUGFS, ['-f', join(dir, 'debugfs.cmds'), raw]);
    paths.forEach((p, i) => {
      const file = join(dir, `dump-${i}`);
      const md5 = existsSync(file) ? createHash('md5').update(readFileSync(file)).digest('hex') : 'missing';
      assert.equal(md5, synced.get(p), `${what}: ${p}, synced before the kill, is not intact on the host`);
      rmSync(file);
    });
  } finally {
    rmSync(raw, { force: true });
  }
}

test('kill -9 of tsvm while the guest writes and syncs, repeatedly: qemu-img check passes, every synced file is intact',
  { skip, timeout: 900_000 }, async (t) => {
    const seed = Number(process.env.TSVM_CRASH_SEED ?? Math.floor(Math.random() * 0x7fff_ffff));
    t.diagnostic(`kill points: TSVM_CRASH_SEED=${seed}`);
    const rand = random(seed);
    const dir = mkdtempSync(join(tmpdir(), 'tsvm-crash-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const image = makeImage(dir);
    const synced: Synced = new Map();

    for (let round = 0; round < ROUNDS; round++) {
      const what = `round ${round} (seed ${seed})`;
      const g = await boot(t, image, what);
      await checkInGuest(g, synced, `${what}, after the previous kill`);

      // 4 KiB .. 148 KiB, and every fifth file 1 MiB; the name and size depend on n.
      g.mark();
      g.send(
        `n=0; while true; do n=$((n+1)); f=${DIR}/r${round}-$n; c=$((n % 37 + 1)); [ $((n % 5)) -eq 0 ] && c=256; ` +
        `dd if=/dev/urandom of=$f bs=4k count=$c 2>/dev/null; s=$(md5sum $f); sync; echo "SYNCED r${round} $n \${s%% *}"; done\n`,
      );
      const before = 1 + Math.floor(rand() * MAX_MARKERS_BEFORE_KILL);
      await g.waitFor(new RegExp(`^SYNCED r${round} ${before} [0-9a-f]{32}$`, 'm'), LOOP_TIMEOUT_MS, `marker ${before} of ${what}`);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rand() * MAX_KILL_DELAY_MS)));
      await g.kill(); // SIGKILL: tsvm gets no chance to write anything back
      assert.equal(g.exitStatus?.signal, 'SIGKILL', g.describe(`${what}: tsvm was still running at the kill`));

      // Every marker in the output, including any still in the pipe at the kill, was printed after
      // its sync returned.
      let count = 0;
      for (const m of g.output.matchAll(MARKER)) {
        if (Number(m[1]) !== round) continue;
        synced.set(`${DIR}/r${round}-${m[2]}`, m[3]);
        count++;
      }
      assert.ok(count >= before, g.describe(`${what}: ${count} markers parsed, ${before} seen`));
      t.diagnostic(`${what}: killed after ${count} synced files (${synced.size} in all)`);

      qemuImgCheck(image, what);
      checkOnHost(t, image, dir, synced, what);
    }

    const g = await boot(t, image, 'final check');
    await checkInGuest(g, synced, 'after the last kill');
    await g.run('umount /mnt; sync');
    const exit = await g.poweroff();
    assert.equal(exit.code, 0, g.describe('poweroff exits 0'));
    qemuImgCheck(image, 'after a clean shutdown');
  });
