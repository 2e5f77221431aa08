/**
 * qcow2 and raw images over in-memory files: random I/O against a reference model in every
 * geometry (versions, cluster sizes, refcount widths), backing chains, discard/zeroes, resize,
 * commit, rebase, convert, compressed clusters, concurrency, and crash consistency under a
 * power-loss model (any subset of unflushed sectors lost).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';

import {
  BlockError,
  check,
  commit,
  convert,
  createQcow2,
  createRaw,
  MemoryBlockFile,
  openImage,
  Qcow2Image,
  rebase,
  type CreateQcow2Options,
  type Image,
  type OpenBacking,
} from './index.js';
import { CrashFile, Rng } from './testing.js';

/** A set of named in-memory files (saved when closed); the opener images use for backing files. */
class Files {
  readonly map = new Map<string, Uint8Array>();
  readonly opened: MemoryBlockFile[] = [];
  file(name: string): MemoryBlockFile {
    const f = new MemoryBlockFile(name, this.map.get(name));
    const close = f.close.bind(f);
    f.close = async () => {
      this.map.set(name, f.contents());
      await close();
    };
    this.opened.push(f);
    return f;
  }
  readonly opener: OpenBacking = async (name) => {
    if (!this.map.has(name)) throw new BlockError('ENOENT', `${name}: No such file or directory`);
    return this.file(name);
  };
}

async function newQcow2(files: Files, name: string, opts: CreateQcow2Options): Promise<Image> {
  const f = files.file(name);
  await createQcow2(f, opts);
  return openImage(f, { openBacking: files.opener });
}

async function reopen(files: Files, img: Image, readOnly = false): Promise<Image> {
  const name = img.file.name;
  await img.close();
  return openImage(files.file(name), { readOnly, openBacking: files.opener });
}

async function readAll(img: Image): Promise<Uint8Array> {
  const out = new Uint8Array(img.size);
  await img.read(0, out);
  return out;
}

function assertSame(got: Uint8Array, want: Uint8Array, what: string): void {
  if (Buffer.from(got).equals(Buffer.from(want))) return;
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  assert.fail(`${what}: first difference at byte ${i} (0x${i.toString(16)}): got ${got[i]}, want ${want[i]}`);
}

async function assertClean(img: Image, what: string): Promise<void> {
  const r = await check(img);
  assert.equal(r.corruptions, 0, `${what}: corruptions: ${r.messages.slice(0, 5).join('; ')}`);
  assert.equal(r.leaks, 0, `${what}: leaks: ${r.messages.slice(0, 5).join('; ')}`);
}

/** Random writes/zeroes/discards against a model, with flushes, reopens and checks. */
async function exercise(files: Files, img: Image, model: Uint8Array, rng: Rng, ops: number, maxLen: number): Promise<Image> {
  for (let i = 0; i < ops; i++) {
    const kind = rng.int(20);
    const len = 1 + rng.int(maxLen);
    const off = rng.int(img.size - len);
    if (kind < 16) {
      const d = rng.bytes(len);
      await img.write(off, d);
      model.set(d, off);
    } else if (kind < 18) {
      await img.writeZeroes(off, len, rng.int(2) === 0);
      model.fill(0, off, off + len);
    } else if (kind === 18 && img.backing === undefined) {
      // Without a backing file, discarded whole clusters read as zeroes.
      await img.discard(off, len);
      if (img instanceof Qcow2Image) {
        const cs = img.clusterSize;
        const a = Math.ceil(off / cs) * cs;
        const b = Math.floor((off + len) / cs) * cs;
        if (b > a) model.fill(0, a, b);
      } else {
        model.fill(0, off, off + len);
      }
    } else {
      await img.flush();
    }
    if (i % 97 === 96) {
      img = await reopen(files, img);
    }
  }
  return img;
}

const geometries: { name: string; opts: Omit<CreateQcow2Options, 'size'>; size: number; maxLen: number; ops?: number }[] = [
  { name: 'v3 64K', opts: {}, size: 32 << 20, maxLen: 300_000 },
  { name: 'v2 64K', opts: { compat: '0.10' }, size: 32 << 20, maxLen: 300_000 },
  { name: 'v3 512B refcount 64', opts: { clusterSize: 512, refcountBits: 64 }, size: 4 << 20, maxLen: 5000 },
  { name: 'v3 512B refcount 1', opts: { clusterSize: 512, refcountBits: 1 }, size: 4 << 20, maxLen: 5000 },
  { name: 'v3 1K refcount 2', opts: { clusterSize: 1024, refcountBits: 2 }, size: 8 << 20, maxLen: 10000 },
  { name: 'v3 4K refcount 4', opts: { clusterSize: 4096, refcountBits: 4 }, size: 16 << 20, maxLen: 40000 },
  { name: 'v3 8K refcount 8', opts: { clusterSize: 8192, refcountBits: 8 }, size: 16 << 20, maxLen: 40000 },
  { name: 'v3 16K refcount 32', opts: { clusterSize: 16384, refcountBits: 32 }, size: 16 << 20, maxLen: 80000 },
  { name: 'v3 2M', opts: { clusterSize: 2 << 20 }, size: 32 << 20, maxLen: 3_000_000, ops: 120 },
];

for (const g of geometries) {
  test(`random I/O matches a model: ${g.name}`, async () => {
    const files = new Files();
    const rng = new Rng(g.size ^ g.maxLen);
    let img = await newQcow2(files, 'disk.qcow2', { size: g.size, ...g.opts });
    const model = new Uint8Array(g.size);
    img = await exercise(files, img, model, rng, g.ops ?? 400, g.maxLen);
    assertSame(await readAll(img), model, 'before reopen');
    await assertClean(img, 'after I/O');
    img = await reopen(files, img, true);
    assertSame(await readAll(img), model, 'after reopen');
    await assertClean(img, 'after reopen');
    await img.close();
  });
}

test('raw images: I/O, zeroes, resize, bounds and read-only', async () => {
  const f = new MemoryBlockFile('disk.raw');
  await createRaw(f, 1 << 20);
  const img = await openImage(f, { openBacking: async () => assert.fail('no backing') });
  assert.equal(img.format, 'raw');
  assert.equal(img.size, 1 << 20);
  const model = new Uint8Array(1 << 20);
  const rng = new Rng(5);
  for (let i = 0; i < 100; i++) {
    const len = 1 + rng.int(20000);
    const off = rng.int(img.size - len);
    const d = rng.bytes(len);
    await img.write(off, d);
    model.set(d, off);
  }
  await img.writeZeroes(1000, 5000, true);
  model.fill(0, 1000, 6000);
  assertSame(await readAll(img), model, 'raw');
  await assert.rejects(img.write(img.size - 10, new Uint8Array(20)), { code: 'ERANGE' });
  await img.resize(2 << 20);
  assert.equal(img.size, 2 << 20);
  await assert.rejects(img.resize(1 << 20), { code: 'EINVAL' });
  await img.close();
  const ro = await openImage(new MemoryBlockFile('disk.raw', f.contents()), { readOnly: true, openBacking: async () => assert.fail() });
  await assert.rejects(ro.write(0, new Uint8Array(512)), { code: 'EREADONLY' });
});

test('overlays read through to raw and qcow2 backing files; partial writes keep backing data', async () => {
  for (const baseFormat of ['raw', 'qcow2'] as const) {
    const files = new Files();
    const size = 8 << 20;
    const rng = new Rng(11);
    const baseData = rng.bytes(size);
    if (baseFormat === 'raw') {
      files.map.set('base', baseData.slice());
    } else {
      const b = await newQcow2(files, 'base', { size, clusterSize: 4096 });
      await b.write(0, baseData);
      await b.close();
    }
    let top = await newQcow2(files, 'top.qcow2', { size, backing: { name: 'base', format: baseFormat } });
    assert.equal(top.info().backingFilename, 'base');
    assert.equal(top.info().backingFormat, baseFormat);
    assertSame(await readAll(top), baseData, `${baseFormat}: fresh overlay`);
    const model = baseData.slice();
    top = await exercise(files, top, model, rng, 300, 150_000);
    assertSame(await readAll(top), model, `${baseFormat}: overlay`);
    await assertClean(top, `${baseFormat} overlay`);
    await top.close();
    // The base is unchanged.
    const base = await openImage(files.file('base'), { readOnly: true, openBacking: files.opener });
    assertSame(await readAll(base), baseData, `${baseFormat}: base unchanged`);
    await base.close();
  }
});

test('linked clones: two overlays of one base diverge independently', async () => {
  const files = new Files();
  const size = 4 << 20;
  const rng = new Rng(3);
  const baseData = rng.bytes(size);
  files.map.set('base.raw', baseData.slice());
  const a = await newQcow2(files, 'a.qcow2', { size, backing: { name: 'base.raw', format: 'raw' } });
  const b = await newQcow2(files, 'b.qcow2', { size, backing: { name: 'base.raw', format: 'raw' } });
  const ma = baseData.slice();
  const mb = baseData.slice();
  for (let i = 0; i < 200; i++) {
    const len = 1 + rng.int(70000);
    const off = rng.int(size - len);
    const d = rng.bytes(len);
    if (i % 2 === 0) {
      await a.write(off, d);
      ma.set(d, off);
    } else {
      await b.write(off, d);
      mb.set(d, off);
    }
  }
  assertSame(await readAll(a), ma, 'clone a');
  assertSame(await readAll(b), mb, 'clone b');
  await a.close();
  await b.close();
  assertSame(files.opened.find((f) => f.name === 'base.raw')!.contents(), baseData, 'base file untouched');
});

test('backing chains: depth 5 reads through every layer; loops and excessive depth are refused', async () => {
  const files = new Files();
  const size = 1 << 20;
  const model = new Uint8Array(size);
  files.map.set('l0', new Uint8Array(size));
  for (let i = 1; i <= 5; i++) {
    const img = await newQcow2(files, `l${i}`, { size, clusterSize: 4096, backing: { name: `l${i - 1}`, format: i === 1 ? 'raw' : 'qcow2' } });
    const d = new Uint8Array(4096 * 3).fill(i);
    await img.write(i * 10000, d);
    model.set(d, i * 10000);
    await img.close();
  }
  const top = await openImage(files.file('l5'), { readOnly: true, openBacking: files.opener });
  assertSame(await readAll(top), model, 'chain');
  let depth = 0;
  for (let x: Image | undefined = top; x !== undefined; x = x.backing) depth++;
  assert.equal(depth, 6);
  await top.close();
  await assert.rejects(
    openImage(files.file('l5'), { readOnly: true, openBacking: files.opener, maxChainDepth: 4 }),
    (e: BlockError) => e.code === 'EBACKING' && /longer than 4 images/.test(e.message),
  );

  // A loop: x -> y -> x.
  const x = files.file('x');
  await createQcow2(x, { size, backing: { name: 'y', format: 'qcow2' } });
  await x.close();
  const y = files.file('y');
  await createQcow2(y, { size, backing: { name: 'x', format: 'qcow2' } });
  await y.close();
  await assert.rejects(openImage(files.file('x'), { openBacking: files.opener }), (e: BlockError) => e.code === 'EBACKING' && /loop/.test(e.message));
  // A missing backing file.
  const z = files.file('z');
  await createQcow2(z, { size, backing: { name: 'nowhere', format: 'raw' } });
  await assert.rejects(openImage(z, { openBacking: files.opener }), (e: BlockError) => e.code === 'EBACKING' && /nowhere/.test(e.message));
});

test('a raw backing file with a qcow2 header is read as raw when the overlay says raw', async () => {
  const files = new Files();
  const inner = files.file('evil');
  await createQcow2(inner, { size: 1 << 20, backing: { name: '/etc/passwd', format: 'raw' } });
  const raw = new Uint8Array(1 << 20);
  raw.set(inner.contents());
  files.map.set('evil', raw);
  const top = await newQcow2(files, 'top', { size: 1 << 20, backing: { name: 'evil', format: 'raw' } });
  assert.equal(top.backing?.format, 'raw');
  assertSame(await readAll(top), raw, 'raw backing');
  await top.close();
});

test('zero clusters and discard: reads, backing masking, v3 zero flag and v2 fallbacks', async () => {
  for (const compat of ['1.1', '0.10'] as const) {
    const files = new Files();
    const size = 4 << 20;
    const rng = new Rng(8);
    const baseData = rng.bytes(size);
    files.map.set('base', baseData.slice());
    const img = await newQcow2(files, 'top', { size, compat, backing: { name: 'base', format: 'raw' } });
    const model = baseData.slice();
    await img.writeZeroes(65536, 65536 * 3, false); // whole clusters over backing data
    model.fill(0, 65536, 65536 * 4);
    await img.writeZeroes(300000, 1000, true); // partial cluster
    model.fill(0, 300000, 301000);
    const d = rng.bytes(200000);
    await img.write(1 << 20, d);
    model.set(d, 1 << 20);
    await img.writeZeroes(1 << 20, 131072, true);
    model.fill(0, 1 << 20, (1 << 20) + 131072);
    assertSame(await readAll(img), model, `${compat}: zeroes`);
    if (compat === '1.1') {
      assert.deepEqual(await img.blockStatus(65536, 65536 * 3), { kind: 'zero', length: 65536 * 3 });
      await img.discard(2 << 20, 65536 * 2);
      const back = new Uint8Array(65536 * 2);
      await img.read(2 << 20, back);
      assert.ok(back.every((b) => b === 0), 'v3 discard over backing reads zeroes');
    }
    await assertClean(img, `${compat} zeroes`);
    await img.close();
  }
});

test('write-zeroes without unmap keeps the allocation; later writes reuse it', async () => {
  const files = new Files();
  const img = (await newQcow2(files, 'd', { size: 1 << 20 })) as Qcow2Image;
  await img.write(0, new Uint8Array(65536 * 2).fill(7));
  await img.flush();
  const end = img.fileEnd;
  await img.writeZeroes(0, 65536 * 2, false);
  assert.deepEqual(await img.blockStatus(0, 65536 * 2), { kind: 'zero', length: 65536 * 2 });
  await img.write(100, new Uint8Array([1, 2, 3]));
  const back = new Uint8Array(65536);
  await img.read(0, back);
  assert.deepEqual([...back.subarray(98, 105)], [0, 0, 1, 2, 3, 0, 0]);
  assert.equal(img.fileEnd, end, 'no new cluster allocated');
  await assertClean(img, 'prealloc');
  await img.close();
});

test('compressed clusters are read (zlib raw deflate, sector-granular descriptors)', async () => {
  const files = new Files();
  const size = 1 << 20;
  const img = (await newQcow2(files, 'c', { size, clusterSize: 65536 })) as Qcow2Image;
  await img.close();
  // Hand-build two compressed clusters at the end of the file (as qemu-img convert -c does).
  const f = files.opened[0];
  const bytes = f.contents();
  const rng = new Rng(1);
  const c0 = new Uint8Array(65536);
  for (let i = 0; i < c0.length; i++) c0[i] = (i * 7) & 0xff ^ (i >> 9);
  const c1 = rng.bytes(65536);
  const z0 = deflateRawSync(c0, { windowBits: 12 });
  const z1 = deflateRawSync(c1, { windowBits: 12 });
  const dataAt = bytes.length + 65536 - (bytes.length % 65536) + 65536; // leave room for an L2 table
  const l2At = dataAt - 65536;
  const file = new Uint8Array(dataAt + z0.length + 700 + z1.length);
  file.set(bytes);
  file.set(z0, dataAt);
  const z1At = dataAt + z0.length + 700 - ((dataAt + z0.length) % 512) + 3; // unaligned start
  file.set(z1, z1At);
  const v = new DataView(file.buffer);
  // Header fields we need: l1_table_offset (40), refcount table (48).
  const l1 = Number(v.getBigUint64(40));
  v.setBigUint64(l1, BigInt(l2At) | (1n << 63n));
  const desc = (off: number, len: number): bigint => {
    const sectors = Math.floor((off + len - 1) / 512) - Math.floor(off / 512); // additional sectors
    return (1n << 62n) | (BigInt(sectors) << 54n) | BigInt(off);
  };
  v.setBigUint64(l2At + 8 * 3, desc(dataAt, z0.length));
  v.setBigUint64(l2At + 8 * 5, desc(z1At, z1.length));
  files.map.set('c', file);
  const ro = (await openImage(files.file('c'), { readOnly: true, openBacking: files.opener })) as Qcow2Image;
  const got = new Uint8Array(65536);
  await ro.read(3 * 65536, got);
  assertSame(got, c0, 'compressed cluster 3');
  await ro.read(5 * 65536, got);
  assertSame(got, c1, 'compressed cluster 5');
  const part = new Uint8Array(1000);
  await ro.read(5 * 65536 + 777, part);
  assertSame(part, c1.subarray(777, 1777), 'partial read of a compressed cluster');
  assert.deepEqual(await ro.blockStatus(3 * 65536, 65536), { kind: 'data', length: 65536 });
  await ro.close();
  // Writing into a compressed cluster copies it out (decompress, merge, write) and frees it.
  const rw = await openImage(files.file('c'), { openBacking: files.opener });
  // (Refcounts of the hand-made clusters are missing: repair first, as qemu-img check -r all would.)
  const rep = await check(rw, { repair: 'all' });
  assert.ok(rep.corruptionsFixed > 0);
  await rw.write(5 * 65536 + 100, new Uint8Array([9, 9, 9]));
  const expect = c1.slice();
  expect.set([9, 9, 9], 100);
  await rw.read(5 * 65536, got);
  assertSame(got, expect, 'after COW of a compressed cluster');
  await rw.flush();
  await assertClean(rw, 'after compressed COW');
  await rw.close();
});

test('resize grows the disk and the L1 table; shrinking is refused', async () => {
  const files = new Files();
  let img = await newQcow2(files, 'r', { size: 1 << 20, clusterSize: 512 });
  const d = new Uint8Array(4096).fill(5);
  await img.write(0, d);
  const grown = 64 << 20; // needs many more L1 entries with 512-byte clusters
  await img.resize(grown);
  assert.equal(img.size, grown);
  await img.write(grown - 4096, d);
  img = await reopen(files, img);
  assert.equal(img.size, grown);
  const back = new Uint8Array(4096);
  await img.read(grown - 4096, back);
  assertSame(back, d, 'end of the grown disk');
  await img.read(0, back);
  assertSame(back, d, 'start of the grown disk');
  await assertClean(img, 'resize');
  await assert.rejects(img.resize(1 << 20), { code: 'EUNSUPPORTED' });
  await img.close();
});

test('commit writes the overlay into its backing image and empties the overlay', async () => {
  const files = new Files();
  const size = 2 << 20;
  const rng = new Rng(21);
  const base = await newQcow2(files, 'base', { size });
  const bd = rng.bytes(size);
  await base.write(0, bd);
  await base.close();
  const top = await newQcow2(files, 'top', { size, backing: { name: 'base', format: 'qcow2' } });
  const model = bd.slice();
  for (let i = 0; i < 50; i++) {
    const len = 1 + rng.int(50000);
    const off = rng.int(size - len);
    const d = rng.bytes(len);
    await top.write(off, d);
    model.set(d, off);
  }
  await top.writeZeroes(0, 65536, false);
  model.fill(0, 0, 65536);
  await top.close();
  const t2 = await openImage(files.file('top'), { openBacking: files.opener, writableBacking: true });
  await commit(t2);
  assertSame(await readAll(t2), model, 'top after commit');
  assert.equal((await t2.blockStatus(0, size)).kind, 'unallocated');
  await assertClean(t2, 'top after commit');
  await t2.close();
  const b2 = await openImage(files.file('base'), { openBacking: files.opener });
  assertSame(await readAll(b2), model, 'base after commit');
  await assertClean(b2, 'base after commit');
  await b2.close();
});

test('rebase: safe mode keeps the disk content; unsafe only renames', async () => {
  const files = new Files();
  const size = 2 << 20;
  const rng = new Rng(4);
  const oldBase = rng.bytes(size);
  const newBase = oldBase.slice();
  newBase.fill(1, 100000, 300000);
  files.map.set('old', oldBase);
  files.map.set('new', newBase);
  const top = await newQcow2(files, 'top', { size, backing: { name: 'old', format: 'raw' } });
  const d = rng.bytes(5000);
  await top.write(150000, d);
  const model = oldBase.slice();
  model.set(d, 150000);
  await rebase(top, { name: 'new', format: 'raw' }, { openBacking: files.opener });
  assert.equal(top.info().backingFilename, 'new');
  assertSame(await readAll(top), model, 'after safe rebase');
  await assertClean(top, 'rebase');
  const again = await reopen(files, top);
  assert.equal(again.info().backingFilename, 'new');
  assert.equal(again.info().backingFormat, 'raw');
  assertSame(await readAll(again), model, 'after safe rebase and reopen');
  await rebase(again, { name: 'old', format: 'raw' }, { unsafe: true, openBacking: files.opener });
  const third = await reopen(files, again);
  assert.equal(third.info().backingFilename, 'old');
  await third.close();
});

test('convert flattens a chain into raw and qcow2, skipping zeroes', async () => {
  const files = new Files();
  const size = 4 << 20;
  const rng = new Rng(13);
  const baseData = new Uint8Array(size);
  baseData.set(rng.bytes(100000), 1 << 20);
  files.map.set('base', baseData);
  const top = await newQcow2(files, 'top', { size, backing: { name: 'base', format: 'raw' } });
  const d = rng.bytes(70000);
  await top.write(3 << 20, d);
  const model = baseData.slice();
  model.set(d, 3 << 20);
  for (const fmt of ['raw', 'qcow2'] as const) {
    const out = files.file(`out.${fmt}`);
    if (fmt === 'raw') await createRaw(out, size);
    else await createQcow2(out, { size });
    const dst = await openImage(out, { format: fmt, openBacking: files.opener });
    let last = 0;
    await convert(top, dst, { onProgress: (done, total) => ((last = done), assert.equal(total, size)) });
    assert.equal(last, size);
    assertSame(await readAll(dst), model, `convert to ${fmt}`);
    if (dst instanceof Qcow2Image) {
      const r = await check(dst);
      assert.ok(r.allocatedClusters <= 5, `zeroes were skipped (${r.allocatedClusters} clusters)`);
    }
    await dst.close();
  }
  await top.close();
});

test('concurrent reads and writes on disjoint ranges stay consistent', async () => {
  const files = new Files();
  const size = 16 << 20;
  const img = await newQcow2(files, 'c', { size, clusterSize: 4096 });
  const rng = new Rng(77);
  const model = new Uint8Array(size);
  for (let round = 0; round < 20; round++) {
    const ops: Promise<void>[] = [];
    const slot = size / 32;
    for (let s = 0; s < 32; s++) {
      const len = 1 + rng.int(slot - 1);
      const off = s * slot + rng.int(slot - len);
      if (rng.int(3) === 0) {
        const buf = new Uint8Array(len);
        const want = model.slice(off, off + len);
        ops.push(img.read(off, buf).then(() => assertSame(buf, want, `concurrent read ${round}/${s}`)));
      } else {
        const d = rng.bytes(len);
        model.set(d, off);
        ops.push(img.write(off, d));
      }
      if (s === 16) ops.push(img.flush());
    }
    await Promise.all(ops);
  }
  assertSame(await readAll(img), model, 'after concurrent I/O');
  await assertClean(img, 'concurrent');
  await img.close();
});

test('dirty, corrupt and unknown-feature images are refused for writing with an actionable message', async () => {
  const files = new Files();
  const f = files.file('d');
  await createQcow2(f, { size: 1 << 20 });
  const base = f.contents();
  const withBits = (bits: bigint): MemoryBlockFile => {
    const b = base.slice();
    new DataView(b.buffer).setBigUint64(72, bits);
    return new MemoryBlockFile('d', b);
  };
  await assert.rejects(openImage(withBits(1n), { openBacking: files.opener }), (e: BlockError) => e.code === 'EDIRTY' && /check -r all/.test(e.message));
  const ro = await openImage(withBits(1n), { readOnly: true, openBacking: files.opener });
  assert.equal(ro.info().dirty, true);
  await ro.close();
  // Repair clears the dirty bit.
  const rep = await openImage(withBits(1n), { repair: true, openBacking: files.opener });
  await check(rep, { repair: 'all' });
  assert.equal(rep.info().dirty, false);
  await rep.close();
  await assert.rejects(openImage(withBits(2n), { openBacking: files.opener }), (e: BlockError) => e.code === 'ECORRUPT' && /marked corrupt/.test(e.message));
  await assert.rejects(openImage(withBits(1n << 40n), { readOnly: true, openBacking: files.opener }), (e: BlockError) => e.code === 'EUNSUPPORTED' && /bit 40/.test(e.message));
  await assert.rejects(openImage(withBits(1n << 4n), { readOnly: true, openBacking: files.opener }), (e: BlockError) => e.code === 'EUNSUPPORTED' && /extended L2/.test(e.message));
});

test('check finds leaks and refcount errors, and repairs them', async () => {
  const files = new Files();
  const img = (await newQcow2(files, 'k', { size: 4 << 20, clusterSize: 4096 })) as Qcow2Image;
  await img.write(0, new Uint8Array(40000).fill(3));
  await img.flush();
  const rc = img.refcounts!;
  // A leak: a cluster counted but unused; an error: a used cluster with refcount 0.
  const leak = Math.ceil(img.fileEnd / 4096) + 3;
  await rc.set(leak, 1);
  const d = new Uint8Array(8);
  await img.read(0, d);
  const l2 = Number(new DataView(img.l1Table().buffer).getBigUint64(0) & 0x00fffffffffffe00n);
  await img.flushMetadata();
  const used = l2 / 4096;
  await rc.set(used, 0);
  await img.flushMetadata();
  let r = await check(img);
  assert.equal(r.leaks, 1);
  assert.equal(r.corruptions, 2, r.messages.join('\n')); // refcount 0 + the L1 COPIED flag now wrong
  r = await check(img, { repair: 'leaks' });
  assert.equal(r.leaksFixed, 1);
  assert.equal(r.corruptionsFixed, 0);
  r = await check(img, { repair: 'all' });
  assert.equal(r.corruptions, r.corruptionsFixed);
  await assertClean(img, 'after repair');
  await img.close();
});

// -------------------------------------------------------------------------------------------------
// Crash consistency under a power-loss model.

/** 512-byte sector contents for a write tag: tag 0 is zeroes. */
function sectorPattern(tag: number, sector: number, out: Uint8Array, at: number): void {
  if (tag === 0) {
    out.fill(0, at, at + 512);
    return;
  }
  let x = (tag * 2654435761) ^ (sector * 40503) ^ 0x5bd1e995;
  for (let i = 0; i < 512; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[at + i] = x & 0xff;
    out[at + i + 1] = (x >>> 8) & 0xff;
    out[at + i + 2] = tag & 0xff;
    out[at + i + 3] = sector & 0xff;
  }
}

interface Snapshot {
  image: Uint8Array;
  flushed: Uint32Array;
  since: { tag: number; first: number; end: number }[];
}

async function crashRun(opts: CreateQcow2Options, seed: number, withBacking: boolean): Promise<void> {
  const size = opts.size!;
  const sectors = size / 512;
  const rng = new Rng(seed);
  const files = new Files();
  const baseTags = new Uint32Array(sectors);
  if (withBacking) {
    const base = new Uint8Array(size);
    for (let s = 0; s < sectors; s++) {
      baseTags[s] = s % 3 === 0 ? 0 : 1_000_000 + s;
      sectorPattern(baseTags[s], s, base, s * 512);
    }
    files.map.set('base', base);
  }
  const mf = new MemoryBlockFile('disk');
  await createQcow2(mf, { ...opts, backing: withBacking ? { name: 'base', format: 'raw' } : undefined });
  const file = new CrashFile('disk', mf.contents());
  const img = await openImage(file, { openBacking: files.opener });

  const current = baseTags.slice();
  let flushed = baseTags.slice();
  let since: Snapshot['since'] = [];
  const snapshots: Snapshot[] = [];
  file.onOp = (f) => {
    if (rng.int(7) === 0 && snapshots.length < 60) {
      snapshots.push({ image: f.crashImage(rng), flushed: flushed.slice(), since: since.slice() });
    }
  };
  let tag = 1;
  for (let i = 0; i < 120; i++) {
    const n = 1 + rng.int(64);
    const first = rng.int(sectors - n);
    const op = rng.int(10);
    if (op < 7) {
      const data = new Uint8Array(n * 512);
      for (let k = 0; k < n; k++) sectorPattern(tag, first + k, data, k * 512);
      since.push({ tag, first, end: first + n });
      current.fill(tag, first, first + n);
      await img.write(first * 512, data);
      tag++;
    } else if (op < 8) {
      since.push({ tag: 0, first, end: first + n });
      current.fill(0, first, first + n);
      await img.writeZeroes(first * 512, n * 512, rng.int(2) === 0);
    } else {
      await img.flush();
      flushed = current.slice();
      since = [];
    }
  }
  file.onOp = undefined;
  await img.close();

  for (const [k, s] of snapshots.entries()) {
    files.map.set(`crash${k}`, s.image);
    let after: Image;
    try {
      after = await openImage(files.file(`crash${k}`), { openBacking: files.opener });
    } catch (e) {
      assert.fail(`crash image ${k} does not open: ${(e as Error).message}`);
    }
    const r = await check(after);
    assert.equal(r.corruptions, 0, `crash image ${k}: ${r.messages.filter((m) => m.startsWith('ERROR')).slice(0, 3).join('; ')}`);
    const got = new Uint8Array(size);
    await after.read(0, got);
    const want = new Uint8Array(512);
    for (let sct = 0; sct < sectors; sct++) {
      const candidates = [s.flushed[sct], ...s.since.filter((w) => sct >= w.first && sct < w.end).map((w) => w.tag)];
      const ok = candidates.some((t) => {
        sectorPattern(t, sct, want, 0);
        return Buffer.from(got.subarray(sct * 512, sct * 512 + 512)).equals(Buffer.from(want));
      });
      if (!ok) assert.fail(`crash image ${k}: sector ${sct} holds none of the tags ${candidates.join(',')}`);
    }
    // The image stays writable after the crash.
    await after.write(0, new Uint8Array(512).fill(1));
    await after.flush();
    await after.close();
  }
}

test('crash consistency: any power loss leaves a consistent image with all flushed data', async () => {
  await crashRun({ size: 2 << 20, clusterSize: 4096 }, 1, false);
  await crashRun({ size: 2 << 20, clusterSize: 512, refcountBits: 64 }, 2, false);
  await crashRun({ size: 2 << 20, clusterSize: 4096 }, 3, true);
  await crashRun({ size: 2 << 20, clusterSize: 1024, compat: '0.10' }, 4, true);
});

test('I/O outside the disk and after close is refused', async () => {
  const files = new Files();
  const img = await newQcow2(files, 'x', { size: 1 << 20 });
  await assert.rejects(img.read(1 << 20, new Uint8Array(1)), { code: 'ERANGE' });
  await assert.rejects(img.write(-512, new Uint8Array(512)), { code: 'ERANGE' });
  await img.close();
  await assert.rejects(img.read(0, new Uint8Array(512)), { code: 'ECLOSED' });
});
