/**
 * Corrupt and hostile qcow2 images: each is refused with a BlockError carrying a code and a
 * one-line message, never a crash (TypeError, RangeError) or a hang. Ends with a fuzz pass that
 * flips bytes in the metadata of valid images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { BlockError, check, createQcow2, MemoryBlockFile, openImage, Qcow2Image, type Image } from './index.js';
import { Rng } from './testing.js';

const noBacking = async (): Promise<never> => {
  throw new BlockError('ENOENT', 'no backing files here');
};

async function image(opts: Parameters<typeof createQcow2>[1] = { size: 8 << 20 }, fill = true): Promise<Uint8Array> {
  const f = new MemoryBlockFile('img');
  await createQcow2(f, opts);
  if (fill) {
    const img = await openImage(f, { openBacking: noBacking });
    const rng = new Rng(1);
    await img.write(0, rng.bytes(300_000));
    await img.write(img.size - 100_000, rng.bytes(70_000));
    await img.close();
  }
  return f.contents();
}

function patch(bytes: Uint8Array, fn: (v: DataView, b: Uint8Array) => void): MemoryBlockFile {
  const b = bytes.slice();
  fn(new DataView(b.buffer), b);
  return new MemoryBlockFile('img', b);
}

/** Expects `p` to reject with a one-line BlockError whose code is `code` and message matches `re`. */
async function refused(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BlockError, `not a BlockError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return;
  }
  assert.fail('was not refused');
}

async function readAll(img: Image): Promise<void> {
  const buf = new Uint8Array(img.size);
  await img.read(0, buf);
}

test('bad magic and unsupported versions', async () => {
  const ok = await image();
  await refused(openImage(patch(ok, (v) => v.setUint32(0, 0x12345678)), { format: 'qcow2', openBacking: noBacking }), 'EFORMAT', /bad magic/);
  await refused(openImage(patch(ok, (v) => v.setUint32(4, 4)), { openBacking: noBacking }), 'EUNSUPPORTED', /version 4/);
  await refused(openImage(new MemoryBlockFile('img', ok.subarray(0, 50)), { format: 'qcow2', openBacking: noBacking }), 'ECORRUPT', /header is truncated/);
  await refused(openImage(patch(ok, (v) => v.setUint32(32, 1)), { openBacking: noBacking }), 'EUNSUPPORTED', /encrypted/);
});

test('truncated L1 table', async () => {
  const ok = await image();
  const l1 = Number(new DataView(ok.buffer).getBigUint64(40));
  await refused(openImage(new MemoryBlockFile('img', ok.subarray(0, l1 + 4)), { openBacking: noBacking }), 'ECORRUPT', /L1 table extends past the end/);
});

test('truncated L2 table (L1 entry pointing past the end of the file)', async () => {
  const ok = await image();
  const v = new DataView(ok.buffer);
  const l2 = Number(v.getBigUint64(Number(v.getBigUint64(40))) & 0x00fffffffffffe00n);
  const cut = new MemoryBlockFile('img', ok.subarray(0, l2 + 100));
  const img = await openImage(cut, { readOnly: true, openBacking: noBacking });
  await refused(readAll(img), 'ECORRUPT', /L2 table at 0x[0-9a-f]+ is past the end of the file/);
});

test('truncated refcount table and refcount blocks past the end', async () => {
  const ok = await image();
  const v = new DataView(ok.buffer);
  const rt = Number(v.getBigUint64(48));
  await refused(openImage(new MemoryBlockFile('img', ok.subarray(0, rt + 100)), { openBacking: noBacking }), 'ECORRUPT', /refcount table extends past the end|L1 table/);
  // A refcount table entry pointing far past the end: refused for writing (reading does not need refcounts).
  const bad = patch(ok, (w) => w.setBigUint64(rt + 8, 1n << 40n));
  await refused(openImage(bad, { openBacking: noBacking }), 'ECORRUPT', /refcount table entry 1 is invalid/);
  const ro = await openImage(patch(ok, (w) => w.setBigUint64(rt + 8, 1n << 40n)), { readOnly: true, openBacking: noBacking });
  const r = await check(ro);
  assert.ok(r.corruptions > 0);
  assert.ok(r.messages.some((m) => /refcount table entry 1 is invalid/.test(m)));
});

test('refcount overflow: refcount_order above 6, and counts beyond refcount_bits', async () => {
  const ok = await image();
  await refused(openImage(patch(ok, (v) => v.setUint32(96, 7)), { openBacking: noBacking }), 'ECORRUPT', /refcount_order 7/);
  // 1-bit refcounts: a second reference to a cluster cannot be counted.
  const one = await image({ size: 8 << 20, refcountBits: 1 });
  const img = (await openImage(new MemoryBlockFile('img', one), { openBacking: noBacking })) as Qcow2Image;
  await refused(img.refcounts!.adjustRange(0, 1, 1), 'EREFCOUNT', /would exceed 1 \(refcount_bits=1\)/);
  await img.close();
  // Two L2 entries sharing one data cluster in a 1-bit image: check reports it.
  const v = new DataView(one.buffer);
  const l2 = Number(v.getBigUint64(Number(v.getBigUint64(40))) & 0x00fffffffffffe00n);
  const shared = patch(one, (w) => w.setBigUint64(l2 + 8 * 100, w.getBigUint64(l2) & ~(1n << 63n)));
  const ro = await openImage(shared, { readOnly: true, openBacking: noBacking });
  const r = await check(ro);
  assert.ok(r.messages.some((m) => /more than refcount_bits=1 can count/.test(m)), r.messages.join('\n'));
});

test('L2 entries that point past the end of the file, are misaligned, or have reserved bits', async () => {
  const ok = await image();
  const v = new DataView(ok.buffer);
  const l2 = Number(v.getBigUint64(Number(v.getBigUint64(40))) & 0x00fffffffffffe00n);
  const cases: [bigint, RegExp][] = [
    [(1n << 63n) | (1n << 45n), /points past the end of the file/],
    [(1n << 63n) | 0x10200n, /unaligned offset/],
    [(1n << 63n) | 0x10000n | 0x4n, /reserved bits/],
    [(1n << 62n) | (1n << 50n), /points past the end of the file/],
    [1n << 63n, /COPIED flag but no offset/],
  ];
  for (const [entry, re] of cases) {
    const img = await openImage(patch(ok, (w) => w.setBigUint64(l2, entry)), { readOnly: true, openBacking: noBacking });
    await refused(img.read(0, new Uint8Array(512)), 'ECORRUPT', re);
    const r = await check(img);
    assert.ok(r.corruptions > 0, `check reports ${re}`);
  }
  // Compressed data that does not inflate.
  const garbage = patch(ok, (w) => w.setBigUint64(l2, (1n << 62n) | (3n << 54n) | 0x20000n));
  const img = await openImage(garbage, { readOnly: true, openBacking: noBacking });
  await refused(img.read(0, new Uint8Array(512)), 'ECORRUPT', /does not decompress|not a whole cluster/);
});

test('writes that would land on the L1 or refcount table are refused', async () => {
  const ok = await image();
  const v = new DataView(ok.buffer);
  const l1 = Number(v.getBigUint64(40));
  const rt = Number(v.getBigUint64(48));
  const l2 = Number(v.getBigUint64(l1) & 0x00fffffffffffe00n);
  for (const target of [l1, rt]) {
    // The first L2 entry maps guest cluster 0 onto a metadata cluster (COPIED: an in-place write).
    const img = await openImage(patch(ok, (w) => w.setBigUint64(l2, (1n << 63n) | BigInt(target))), { openBacking: noBacking });
    await refused(img.write(0, new Uint8Array(512).fill(1)), 'ECORRUPT', /overlaps the image's metadata/);
    await img.close();
  }
  // An L1 entry pointing at the refcount table as if it were an L2 table.
  const img = await openImage(patch(ok, (w) => w.setBigUint64(l1, (1n << 63n) | BigInt(rt))), { openBacking: noBacking });
  await refused(img.write(0, new Uint8Array(512)), 'ECORRUPT', /L2 table .* overlaps the image's metadata/);
  await img.close();
});

test('backing chain loops, including an image that is its own backing file', async () => {
  const f = new MemoryBlockFile('self');
  await createQcow2(f, { size: 1 << 20, backing: { name: 'self', format: 'qcow2' } });
  const bytes = f.contents();
  await refused(
    openImage(new MemoryBlockFile('self', bytes), { openBacking: async (n) => new MemoryBlockFile(n, bytes) }),
    'EBACKING',
    /loop/,
  );
});

test('absurd header sizes are refused', async () => {
  const ok = await image(undefined, false);
  const cases: [string, (v: DataView) => void, string, RegExp][] = [
    ['l1_size', (v) => v.setUint32(36, 0xffffffff), 'ECORRUPT', /L1 table size/],
    ['l1_size too small', (v) => v.setUint32(36, 0), 'ECORRUPT', /needs 1/],
    ['header_length', (v) => v.setUint32(100, 0xfffffff8), 'ECORRUPT', /header_length/],
    ['header_length odd', (v) => v.setUint32(100, 107), 'ECORRUPT', /header_length/],
    ['cluster_bits', (v) => v.setUint32(20, 31), 'EUNSUPPORTED', /cluster_bits 31/],
    ['cluster_bits small', (v) => v.setUint32(20, 8), 'EUNSUPPORTED', /cluster_bits 8/],
    ['refcount_table_clusters', (v) => v.setUint32(56, 0xffffffff), 'ECORRUPT', /refcount table of/],
    ['refcount_table_clusters 0', (v) => v.setUint32(56, 0), 'ECORRUPT', /no clusters/],
    ['nb_snapshots', (v) => v.setUint32(60, 0xffffffff), 'ECORRUPT', /snapshots exceed/],
    ['snapshot offset', (v) => (v.setUint32(60, 1), v.setBigUint64(64, 12345n)), 'ECORRUPT', /snapshot table offset/],
    ['size', (v) => v.setBigUint64(24, 1n << 62n), 'ECORRUPT', /out of range/],
    ['backing name length', (v) => (v.setBigUint64(8, 0x200n), v.setUint32(16, 100000)), 'ECORRUPT', /backing file name length/],
    ['backing name outside', (v) => (v.setBigUint64(8, 0xffff0n), v.setUint32(16, 1000)), 'ECORRUPT', /outside the header cluster/],
    ['l1 offset unaligned', (v) => v.setBigUint64(40, 0x30001n), 'ECORRUPT', /not cluster-aligned/],
    ['extension length', (v) => v.setUint32(112 + 4, 0x7fffffff), 'ECORRUPT', /longer than the header cluster/],
    ['compression type', (v) => v.setBigUint64(72, 1n << 3n), 'ECORRUPT', /compression type bit/],
  ];
  for (const [what, fn, code, re] of cases) {
    try {
      await refused(openImage(patch(ok, fn), { openBacking: noBacking }), code, re);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }
});

test('a truncated snapshot table is refused', async () => {
  const ok = await image(undefined, false);
  const size = ok.length;
  const b = new Uint8Array(size + 65536 * 2);
  b.set(ok);
  const v = new DataView(b.buffer);
  const at = Math.ceil(size / 65536) * 65536;
  v.setUint32(60, 3);
  v.setBigUint64(64, BigInt(at));
  // Entry 0 claims 60000 bytes of extra data.
  v.setUint32(at + 36, 60000);
  await refused(openImage(new MemoryBlockFile('img', b.subarray(0, at + 100)), { openBacking: noBacking }), 'ECORRUPT', /snapshot/);
});

test('fuzz: flipped metadata bytes never crash open, read, write or check', async () => {
  const geometries = [await image({ size: 4 << 20, clusterSize: 4096 }), await image({ size: 4 << 20, clusterSize: 512, refcountBits: 8 })];
  const rng = new Rng(2024);
  let refusedCount = 0;
  for (let i = 0; i < 600; i++) {
    const src = geometries[i % 2];
    const b = src.slice();
    const v = new DataView(b.buffer);
    const cs = 2 ** v.getUint32(20);
    // Aim at metadata: header, refcount table/blocks, L1 and L2 tables (the first clusters).
    const span = Math.min(b.length, cs * 12);
    for (let k = 0, n = 1 + rng.int(4); k < n; k++) b[rng.int(span)] ^= 1 << rng.int(8);
    try {
      const img = await openImage(new MemoryBlockFile('img', b), { openBacking: noBacking, repair: rng.int(2) === 0 });
      try {
        const buf = new Uint8Array(65536);
        for (let k = 0; k < 8; k++) await img.read(rng.int(img.size - buf.length), buf);
        await img.write(rng.int(img.size - 5000), rng.bytes(5000));
        await check(img, { repair: 'all' });
        await img.flush();
      } finally {
        await img.close().catch(() => undefined);
      }
    } catch (e) {
      if (!(e instanceof BlockError)) throw new Error(`iteration ${i}: ${String((e as Error).stack ?? e)}`);
      assert.ok(!e.message.includes('\n'), e.message);
      refusedCount++;
    }
  }
  assert.ok(refusedCount > 0);
});
