import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, inflateRawSync, crc32 as zlibCrc32 } from 'node:zlib';

import { crc32 } from './crc32.js';
import {
  parseSnapshot, readSnapshot, readSnapshotInto, SnapshotError, writeSnapshot, SNAPSHOT_FORMAT_VERSION,
  type SnapshotCompression, type SnapshotInput,
} from './snapshot.js';

const zlib: SnapshotCompression = {
  deflate: (d) => deflateRawSync(d, { level: 1 }),
  inflate: (d, n) => inflateRawSync(d, { maxOutputLength: n }),
};

const MiB = 1 << 20;
const PAGE = 4096;

/** A RAM image of `size` bytes with a few non-zero pages (some random, some compressible). */
function sparseRam(size: number, pages: number[]): Uint8Array {
  const ram = new Uint8Array(size);
  let seed = 12345;
  for (const [i, p] of pages.entries()) {
    const page = ram.subarray(p * PAGE, (p + 1) * PAGE);
    if (i % 2 === 0) {
      for (let j = 0; j < PAGE; j++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        page[j] = seed >>> 24;
      }
    } else {
      page.fill(0x41 + (i % 26));
      page[PAGE - 1] = 7;
    }
  }
  return ram;
}

function sampleInput(ram: Uint8Array): SnapshotInput {
  return {
    config: { board: 'virt', memoryMiB: ram.length / MiB, cpus: 2, append: 'console=ttyS0 é ☃' },
    sections: [
      { name: 'board', version: 1, data: { version: 1, mtime: '123456789012345', text: 'naïve 𝄞' } },
      { name: 'cpu.0', version: 1, data: { x: Array.from({ length: 32 }, (_, i) => String(i * 1000)) } },
      { name: 'virtio.0', version: 3, data: null },
    ],
    ram: [{ base: 0x1000, bytes: sparseRam(0xf000, [0, 14]) }, { base: 0x8000_0000, bytes: ram }],
  };
}

function expectError(code: string, f: () => unknown): SnapshotError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SnapshotError, `expected a SnapshotError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

test('crc32 matches zlib', () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(Uint8Array.from('123456789', (c) => c.charCodeAt(0))), 0xcbf43926);
  const data = sparseRam(64 * PAGE, [1, 2, 3, 40]);
  for (const n of [1, 7, 8, 9, 4095, data.length]) {
    assert.equal(crc32(data.subarray(0, n)), zlibCrc32(data.subarray(0, n)) >>> 0);
  }
  assert.equal(crc32(data.subarray(100), crc32(data.subarray(0, 100))), crc32(data));
});

test('round trip: config, sections and RAM come back exactly', () => {
  const ram = sparseRam(4 * MiB, [0, 1, 2, 7, 300, 301, 1023]);
  const input = sampleInput(ram);
  const file = writeSnapshot(input, zlib);
  const back = readSnapshot(file, zlib);
  assert.deepEqual(back.config, input.config);
  assert.deepEqual(back.sections, input.sections);
  assert.equal(back.ram.length, 2);
  for (const [i, r] of input.ram.entries()) {
    assert.equal(back.ram[i].base, r.base);
    assert.ok(Buffer.from(back.ram[i].bytes).equals(Buffer.from(r.bytes)), `region ${i} differs`);
  }
  const parsed = parseSnapshot(file);
  assert.equal(parsed.formatVersion, SNAPSHOT_FORMAT_VERSION);
  assert.deepEqual(parsed.ram, [{ base: 0x1000, size: 0xf000, presentPages: 2 }, { base: 0x8000_0000, size: 4 * MiB, presentPages: 7 }]);
});

test('round trip without compression (stored chunks)', () => {
  const ram = sparseRam(2 * MiB, [3, 4, 5, 6, 511]);
  const input = sampleInput(ram);
  const file = writeSnapshot(input);
  const back = readSnapshot(file, {});
  assert.ok(Buffer.from(back.ram[1].bytes).equals(Buffer.from(ram)));
});

test('more than one chunk, pages spread over the whole region', () => {
  const pages = Array.from({ length: 700 }, (_, i) => i * 3 + (i % 2));
  const ram = sparseRam(16 * MiB, pages);
  const file = writeSnapshot({ config: {}, sections: [], ram: [{ base: 0, bytes: ram }] }, zlib);
  const back = readSnapshot(file, zlib);
  assert.ok(Buffer.from(back.ram[0].bytes).equals(Buffer.from(ram)));
});

test('256 MiB of RAM with few non-zero pages gives a small file; readSnapshotInto fills a target', () => {
  const ram = sparseRam(256 * MiB, [0, 1, 512, 65535]);
  const file = writeSnapshot({ config: { memoryMiB: 256 }, sections: [], ram: [{ base: 0x8000_0000, bytes: ram }] }, zlib);
  assert.ok(file.length < 64 * 1024, `file is ${file.length} bytes`);
  // Into a dirty target: absent pages must be cleared.
  const target = new Uint8Array(256 * MiB).fill(0xee);
  readSnapshotInto(file, zlib, [{ base: 0x8000_0000, bytes: target }]);
  assert.ok(Buffer.from(target).equals(Buffer.from(ram)));
  // Into a zeroed target, absent pages are left alone.
  const fresh = new Uint8Array(256 * MiB);
  readSnapshotInto(file, zlib, [{ base: 0x8000_0000, bytes: fresh }], { targetZeroed: true });
  assert.ok(Buffer.from(fresh).equals(Buffer.from(ram)));
});

test('a RAM layout that does not match the target is refused before writing', () => {
  const file = writeSnapshot(sampleInput(sparseRam(MiB, [1])), zlib);
  const target = new Uint8Array(2 * MiB);
  const e = expectError('ERAM', () => readSnapshotInto(file, zlib, [{ base: 0x1000, bytes: new Uint8Array(0xf000) }, { base: 0x8000_0000, bytes: target }]));
  assert.match(e.message, /does not match/);
  assert.ok(target.every((b) => b === 0));
  expectError('ERAM', () => readSnapshotInto(file, zlib, [{ base: 0x8000_0000, bytes: new Uint8Array(MiB) }]));
});

test('wrong magic, other versions, truncation and corruption are refused with clear errors', () => {
  const file = writeSnapshot(sampleInput(sparseRam(MiB, [0, 5, 9])), zlib);
  const copy = (): Uint8Array => Uint8Array.from(file);

  const notOurs = copy();
  notOurs.set(Uint8Array.from('QFI\xfb', (c) => c.charCodeAt(0)));
  assert.match(expectError('EMAGIC', () => readSnapshot(notOurs, zlib)).message, /not a tsvm snapshot/);
  expectError('ETRUNCATED', () => readSnapshot(new Uint8Array(0), zlib));
  expectError('ETRUNCATED', () => readSnapshot(file.subarray(0, 5), zlib));
  expectError('EMAGIC', () => readSnapshot(Uint8Array.from('hello world, this is text', (c) => c.charCodeAt(0)), zlib));

  const newer = copy();
  new DataView(newer.buffer).setUint32(8, SNAPSHOT_FORMAT_VERSION + 1, true);
  assert.match(expectError('EVERSION', () => readSnapshot(newer, zlib)).message, /newer tsvm/);
  const older = copy();
  new DataView(older.buffer).setUint32(8, 0, true);
  assert.match(expectError('EVERSION', () => readSnapshot(older, zlib)).message, /no longer reads/);

  for (const n of [10, 20, 24, 100, file.length - 1000, file.length - 1]) {
    const e = expectError('ETRUNCATED', () => readSnapshot(file.subarray(0, n), zlib));
    assert.match(e.message, /truncated/);
  }
  const longer = new Uint8Array(file.length + 3);
  longer.set(file);
  expectError('EFORMAT', () => readSnapshot(longer, zlib));

  // Flip one bit anywhere past the fixed header: the checksum catches it.
  for (const at of [30, 200, Math.floor(file.length / 2), file.length - 10, file.length - 1]) {
    const bad = copy();
    bad[at] ^= 0x10;
    assert.match(expectError('ECHECKSUM', () => readSnapshot(bad, zlib)).message, /corrupted/);
  }
  // A length field changed: caught as truncation or by the bounds checks.
  const badHeaderLength = copy();
  new DataView(badHeaderLength.buffer).setUint32(12, 0xffff_fff0, true);
  expectError('EFORMAT', () => readSnapshot(badHeaderLength, zlib));
});

/** Rewrites a file's header JSON (and fixes lengths and checksum) to test the structural checks. */
function withHeader(file: Uint8Array, edit: (h: Record<string, unknown>) => void): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const hlen = view.getUint32(12, true);
  const header = JSON.parse(Buffer.from(file.subarray(24, 24 + hlen)).toString('latin1')) as Record<string, unknown>;
  edit(header);
  const json = JSON.stringify(header).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const text = Buffer.from(json, 'latin1');
  const body = file.subarray(24 + hlen, file.length - 4);
  const out = new Uint8Array(24 + text.length + body.length + 4);
  out.set(file.subarray(0, 24));
  out.set(text, 24);
  out.set(body, 24 + text.length);
  const v = new DataView(out.buffer);
  v.setUint32(12, text.length, true);
  v.setUint32(16, out.length, true);
  v.setUint32(20, 0, true);
  v.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

test('structurally bad headers are refused even with a valid checksum', () => {
  const file = writeSnapshot(sampleInput(sparseRam(MiB, [0, 5, 9])), zlib);
  assert.doesNotThrow(() => readSnapshot(withHeader(file, () => {}), zlib));
  type Region = { base: number; size: number; pages: number; bitmap: number[]; chunks: number[][] };
  const region = (h: Record<string, unknown>): Region => (h.ram as Region[])[1];
  const cases: [string, (h: Record<string, unknown>) => void][] = [
    ['no config', (h) => { delete h.config; }],
    ['page size', (h) => { h.pageSize = 8192; }],
    ['section past the end', (h) => { (h.sections as { offset: number }[])[0].offset = 1e9; }],
    ['section negative length', (h) => { (h.sections as { length: number }[])[0].length = -1; }],
    ['section name', (h) => { (h.sections as { name: string }[])[0].name = '../etc'; }],
    ['repeated section', (h) => { (h.sections as { name: string }[])[1].name = 'board'; }],
    ['region size', (h) => { region(h).size = 12345; }],
    ['region page count', (h) => { region(h).pages = 4; }],
    ['chunk pages', (h) => { region(h).chunks[0][1] = 2; }],
    ['chunk method', (h) => { region(h).chunks[0][0] = 9; }],
    ['chunk offset', (h) => { region(h).chunks[0][2] = 1e12; }],
    ['bitmap length', (h) => { region(h).bitmap[1] = 3; }],
    ['overlapping regions', (h) => { region(h).base = 0; }],
    ['ram not a list', (h) => { h.ram = {}; }],
  ];
  for (const [what, edit] of cases) {
    const e = expectError('EFORMAT', () => readSnapshot(withHeader(file, edit), zlib));
    assert.match(e.message, /malformed/, what);
  }
});

test('a chunk that does not inflate is reported as a format error', () => {
  const ram = sparseRam(MiB, [1, 3]);
  ram.subarray(PAGE * 3, PAGE * 4).fill(0x55); // both pages compressible: one deflated chunk
  const file = writeSnapshot({ config: {}, sections: [], ram: [{ base: 0, bytes: ram }] }, zlib);
  const parsed = parseSnapshot(file);
  expectError('EFORMAT', () => parsed.readRam({ inflate: () => new Uint8Array(10) }));
  expectError('EFORMAT', () => parsed.readRam({ inflate: () => { throw new Error('invalid block type'); } }));
  expectError('EINVAL', () => parsed.readRam({}));
});

test('bad input to writeSnapshot is refused', () => {
  const ram = new Uint8Array(PAGE);
  expectError('EINVAL', () => writeSnapshot({ config: {}, sections: [{ name: 'a b', version: 1, data: 1 }], ram: [] }));
  expectError('EINVAL', () => writeSnapshot({ config: {}, sections: [{ name: 'a', version: 1, data: 1 }, { name: 'a', version: 1, data: 2 }], ram: [] }));
  expectError('EINVAL', () => writeSnapshot({ config: {}, sections: [{ name: 'a', version: 1, data: { n: 1n } }], ram: [] }));
  expectError('EINVAL', () => writeSnapshot({ config: {}, sections: [], ram: [{ base: 100, bytes: ram }] }));
  expectError('EINVAL', () => writeSnapshot({ config: {}, sections: [], ram: [{ base: 0, bytes: new Uint8Array(100) }] }));
  expectError('EINVAL', () => writeSnapshot({ config: {}, sections: [], ram: [{ base: 0, bytes: ram }, { base: 0, bytes: ram }] }));
});

test('unaligned RAM views are handled', () => {
  const backing = new Uint8Array(8 * PAGE + 1);
  const ram = backing.subarray(1);
  ram[PAGE * 2 + 5] = 9;
  const file = writeSnapshot({ config: {}, sections: [], ram: [{ base: 0, bytes: ram }] }, zlib);
  const back = readSnapshot(file, zlib);
  assert.ok(Buffer.from(back.ram[0].bytes).equals(Buffer.from(ram)));
  assert.equal(parseSnapshot(file).ram[0].presentPages, 1);
});

test('fuzz: random single-byte damage never escapes as anything but a SnapshotError', () => {
  const file = writeSnapshot(sampleInput(sparseRam(MiB, [0, 5, 9, 200])), zlib);
  let seed = 99;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    const bad = Uint8Array.from(file);
    const at = rand(file.length);
    bad[at] = rand(256);
    if (bad[at] === file[at]) continue;
    // Also check with the checksum off: the structural checks alone must hold.
    for (const verifyChecksum of [true, false]) {
      try {
        const parsed = parseSnapshot(bad, { verifyChecksum });
        parsed.readRam(zlib);
      } catch (e) {
        assert.ok(e instanceof SnapshotError, `byte ${at}: ${String(e)}`);
      }
    }
  }
});
