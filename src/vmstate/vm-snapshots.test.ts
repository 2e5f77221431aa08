/**
 * Named snapshots with disks, on a real `virt` board (never booted: its RAM and a virtio-blk disk
 * are written directly) and a real snapshot directory: take, revert, delete as a tree, garbage
 * collection of overlays, clones, and the error paths (missing snapshot, corrupt metadata).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, gunzipSync, inflateRawSync } from 'node:zlib';

import { VirtMachine } from '../machine/virt.js';
import { createRaw, SwitchableBackend } from '../block/index.js';
import { NodeBlockFile, openImageFile } from '../host/node-file.js';
import { NodeSnapshotDir } from '../monitor/snapshot-dir.js';
import { snapshottable } from './machine-test-support.js';
import { SnapshotError, type SnapshotCompression } from './snapshot.js';
import { cloneSnapshot, deleteSnapshotOffline, listSnapshots, loadMetadata, VmSnapshots, type LiveDisk } from './vm-snapshots.js';
import { renderTree } from './snapshot-tree.js';
import { repoRoot } from '../../test/support/repo-root.js';

const zlib: SnapshotCompression = {
  deflate: (d) => deflateRawSync(d, { level: 1 }),
  inflate: (d, n) => inflateRawSync(d, { maxOutputLength: n }),
};
const DISK_BYTES = 1 << 20;
/** Never run (the board is not booted), but a board needs a kernel for its reset path. */
const KERNEL = readFileSync(join(repoRoot(import.meta.url), 'test', 'fixtures', 'bare', 'loop.elf'));

/** A board with one disk (the raw image at `diskPath`, or its live overlay) and 16 MiB of RAM. */
async function board(diskPath: string, dir: string, ref = diskPath): Promise<{ machine: VirtMachine; disk: LiveDisk; snaps: VmSnapshots }> {
  const host = new NodeSnapshotDir(dir);
  const image = await openImageFile(host.pathOf(ref), { readOnly: false });
  const disk: LiveDisk = { device: 'vda', origin: diskPath, readOnly: false, backend: new SwitchableBackend(image), ref, originFormat: 'raw' };
  const machine = new VirtMachine({
    memoryMiB: 16, cpus: 1, kernel: KERNEL, bios: 'builtin', clock: 'virtual', append: '', virtio: [{ kind: 'blk', backend: disk.backend }],
  }, {
    monotonicMs: () => 0, wallClockMs: () => 0, sleep: async () => undefined, gunzip: (d) => new Uint8Array(gunzipSync(d)),
    consoleWrite: () => undefined, entropy: (b) => b.fill(1),
  }, { boot: false });
  return { machine, disk, snaps: new VmSnapshots(host, zlib, [disk]) };
}

/** Marks the disk's first sector and a RAM byte with `mark`. */
async function write(m: VirtMachine, disk: LiveDisk, mark: number): Promise<void> {
  await disk.backend.write(0, new Uint8Array(512).fill(mark));
  const r = m.vm.memory.ram[0];
  m.vm.memory.u8[r.arenaOffset + 0x1000] = mark;
}

async function read(m: VirtMachine, disk: LiveDisk): Promise<{ disk: number; ram: number }> {
  const b = new Uint8Array(512);
  await disk.backend.read(0, b);
  assert.ok(b.every((x) => x === b[0]), 'the sector holds one mark');
  const r = m.vm.memory.ram[0];
  return { disk: b[0], ram: m.vm.memory.u8[r.arenaOffset + 0x1000] };
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function setup(t: { after(fn: () => void): void }): Promise<{ root: string; diskPath: string; dir: string }> {
  const root = mkdtempSync(join(tmpdir(), 'tsvm-vmsnap-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const diskPath = join(root, 'vm.raw');
  const f = await NodeBlockFile.open(diskPath, { create: true });
  await createRaw(f, DISK_BYTES);
  await f.close();
  return { root, diskPath, dir: join(root, 'vm.raw.snapshots') };
}

test('take, keep writing, revert: memory and disk are the snapshot\'s; the origin is frozen', async (t) => {
  const { diskPath, dir } = await setup(t);
  const { machine, disk, snaps } = await board(diskPath, dir);
  const m = snapshottable(machine);
  await write(machine, disk, 1);
  await snaps.take(m, 'A', { replace: false });
  assert.equal(disk.ref, 'vda.since-A.qcow2', 'the disk runs on a new overlay');
  const frozen = sha256(diskPath);
  await write(machine, disk, 2);
  assert.deepEqual(await read(machine, disk), { disk: 2, ram: 2 });
  await snaps.revert(m, 'A');
  assert.deepEqual(await read(machine, disk), { disk: 1, ram: 1 }, 'memory and disk both back at A');
  assert.equal(sha256(diskPath), frozen, 'the frozen origin is unchanged');
  assert.equal(disk.ref, 'vda.since-A.2.qcow2');
  assert.ok(!existsSync(join(dir, 'vda.since-A.qcow2')), 'the overlay written after A is gone');
  await assert.rejects(snaps.take(m, 'A', { replace: false }), (e: unknown) => e instanceof SnapshotError && e.code === 'EEXIST');
  await disk.backend.close();
});

test('a snapshot tree: A, B after A, revert A, C; delete A keeps B and C whole', async (t) => {
  const { diskPath, dir } = await setup(t);
  const { machine, disk, snaps } = await board(diskPath, dir);
  const m = snapshottable(machine);
  await write(machine, disk, 0xa);
  await snaps.take(m, 'A', { replace: false });
  await write(machine, disk, 0xb);
  await snaps.take(m, 'B', { replace: false });
  await snaps.revert(m, 'A');
  await write(machine, disk, 0xc);
  await snaps.take(m, 'C', { replace: false });
  await write(machine, disk, 0xd);

  let meta = await loadMetadata(snaps.host);
  assert.ok(meta !== undefined);
  assert.deepEqual(renderTree(meta).map((e) => e.prefix + e.snapshot.tag), ['A', '|-- B', '`-- C']);
  assert.equal(meta.current, 'C');

  await snaps.delete('A');
  meta = await loadMetadata(snaps.host);
  assert.ok(meta !== undefined);
  assert.deepEqual((await listSnapshots(snaps.host)).map((s) => [s.tag, s.parent]), [['B', null], ['C', null]]);
  assert.ok(!existsSync(join(dir, 'A.tsnap')), 'A\'s memory state is deleted');
  assert.ok(existsSync(diskPath), 'A\'s frozen image stays: B and C are built on it');

  await snaps.revert(m, 'B');
  assert.deepEqual(await read(machine, disk), { disk: 0xb, ram: 0xb });
  await snaps.revert(m, 'C');
  assert.deepEqual(await read(machine, disk), { disk: 0xc, ram: 0xc });
  await snaps.revert(m, 'B');
  assert.deepEqual(await read(machine, disk), { disk: 0xb, ram: 0xb });

  // Every image left is needed: B's and C's frozen images, their chains, the live overlay.
  meta = await loadMetadata(snaps.host);
  assert.ok(meta !== undefined);
  const files = readdirSync(dir).filter((f) => f.endsWith('.qcow2')).sort();
  assert.deepEqual(files, meta.images.map((i) => i.file).sort(), 'no image file is left that the metadata does not list');
  assert.equal(files.length, 3, `B's overlay, C's overlay and the live one: ${files.join(', ')}`);

  await assert.rejects(snaps.revert(m, 'A'), (e: unknown) => e instanceof SnapshotError && e.code === 'ENOENT' && /no snapshot 'A'/.test(e.message));
  await disk.backend.close();

  // Offline delete of everything: only the live chain stays.
  await deleteSnapshotOffline(new NodeSnapshotDir(dir), 'B');
  await deleteSnapshotOffline(new NodeSnapshotDir(dir), 'C');
  meta = await loadMetadata(snaps.host);
  assert.ok(meta !== undefined);
  assert.equal(meta.snapshots.length, 0);
  // The live overlay and the image under it (B's frozen one) stay; C's frozen image goes.
  const live = meta.disks[0].top;
  assert.equal(live, 'vda.since-B.qcow2');
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.qcow2')).sort(), ['vda.since-A.qcow2', live]);
  assert.deepEqual(meta.images.map((i) => [i.file, i.backing]).sort(), [['vda.since-A.qcow2', diskPath], [live, 'vda.since-A.qcow2']]);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tsnap')), []);
});

test('corrupt or hostile metadata is refused with a clear error', async (t) => {
  const { diskPath, dir } = await setup(t);
  const { machine, disk, snaps } = await board(diskPath, dir);
  await snaps.take(snapshottable(machine), 'A', { replace: false });
  await disk.backend.close();
  const file = join(dir, 'snapshots.json');
  const good = readFileSync(file, 'utf8');
  const cases: [string, RegExp][] = [
    [good.slice(0, good.length >> 1), /not JSON/],
    [good.replace('"A.tsnap"', '"../../etc/passwd"'), /vmState/],
    [good.replace('"parent": null', '"parent": "A"'), /loop/],
    [good.replace('"version": 1', '"version": 9'), /version 9/],
    [good.replace('"current": "A"', '"current": "Z"'), /current/],
    [good.replace('"images": [', '"extra": 1, "images": ['), /unknown field 'extra'/],
  ];
  for (const [text, why] of cases) {
    writeFileSync(file, text);
    await assert.rejects(loadMetadata(new NodeSnapshotDir(dir)), (e: unknown) => e instanceof SnapshotError && why.test(e.message), why.source);
  }
});

test('clone: a new directory with its own overlay and the memory state; the source keeps the frozen image', async (t) => {
  const { root, diskPath, dir } = await setup(t);
  const { machine, disk, snaps } = await board(diskPath, dir);
  const m = snapshottable(machine);
  await write(machine, disk, 7);
  await snaps.take(m, 'A', { replace: false });
  await write(machine, disk, 8);
  const cloneDir = join(root, 'clone');
  await cloneSnapshot(snaps.host, new NodeSnapshotDir(cloneDir), 'A');
  await assert.rejects(cloneSnapshot(snaps.host, new NodeSnapshotDir(join(root, 'c2')), 'nope'), /no snapshot 'nope'/);

  // Deleting A in the source keeps the image the clone is built on.
  await snaps.delete('A');
  assert.ok(existsSync(diskPath));
  const cloneMeta = await loadMetadata(new NodeSnapshotDir(cloneDir));
  assert.ok(cloneMeta !== undefined);
  assert.equal(cloneMeta.unusedSince, 'A');
  const c = await board(diskPath, cloneDir, 'vda.qcow2');
  c.disk.origin = cloneMeta.disks[0].origin;
  await c.snaps.revert(snapshottable(c.machine), 'A', { ramIsZero: true });
  assert.equal(c.disk.ref, 'vda.qcow2', 'an unused clone resumes on its own overlay');
  assert.deepEqual(await read(c.machine, c.disk), { disk: 7, ram: 7 });
  await write(c.machine, c.disk, 9);
  assert.deepEqual(await read(machine, disk), { disk: 8, ram: 8 }, 'the source does not see the clone\'s write');
  await c.disk.backend.close();
  await disk.backend.close();
});
