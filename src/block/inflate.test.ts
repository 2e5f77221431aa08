/** The DEFLATE decoder against node:zlib's encoder: every strategy, level and window size. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync } from 'node:zlib';

import { inflateRaw, InflateError } from './inflate.js';

/** Deterministic pseudo-random bytes (xorshift32). */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text-like data: words from a small vocabulary, so there are many matches at all distances. */
function textLike(n: number, seed: number): Uint8Array {
  const words = ['qcow2', 'cluster', 'refcount', ' ', 'table', '\n', 'the', 'L2', 'backing', 'image', '0x1f'];
  const r = randomBytes(n, seed);
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; o < n; i++) {
    const w = words[r[i % n] % words.length];
    for (let k = 0; k < w.length && o < n; k++) out[o++] = w.charCodeAt(k);
  }
  return out;
}

function roundTrip(data: Uint8Array, options: Parameters<typeof deflateRawSync>[1]): void {
  const packed = new Uint8Array(deflateRawSync(data, options));
  const out = new Uint8Array(data.length);
  const n = inflateRaw(packed, out);
  assert.equal(n, data.length);
  assert.ok(Buffer.from(out).equals(Buffer.from(data)), 'output differs');
}

test('inflates zlib output of all kinds', () => {
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one byte', new Uint8Array([42])],
    ['zeros 64K', new Uint8Array(65536)],
    ['random 64K', randomBytes(65536, 7)],
    ['text 64K', textLike(65536, 9)],
    ['text 300K', textLike(300_000, 3)],
    ['mixed', new Uint8Array([...randomBytes(5000, 1), ...new Uint8Array(20000), ...textLike(40000, 2)])],
  ];
  const strategies = [
    constants.Z_DEFAULT_STRATEGY,
    constants.Z_FILTERED,
    constants.Z_HUFFMAN_ONLY,
    constants.Z_RLE,
    constants.Z_FIXED,
  ];
  for (const [, data] of inputs) {
    for (const strategy of strategies) {
      for (const level of [0, 1, 6, 9]) {
        roundTrip(data, { level, strategy });
      }
    }
    roundTrip(data, { windowBits: 12, level: 9 }); // what qcow2 writers use
  }
});

test('stops when the output buffer is full', () => {
  const data = textLike(10000, 5);
  const packed = new Uint8Array(deflateRawSync(data));
  const out = new Uint8Array(4096);
  assert.equal(inflateRaw(packed, out), 4096);
  assert.ok(Buffer.from(out).equals(Buffer.from(data.subarray(0, 4096))));
  // Trailing bytes after the stream (sector padding) are ignored.
  const padded = new Uint8Array(packed.length + 300);
  padded.set(packed);
  padded.fill(0xff, packed.length);
  const full = new Uint8Array(10000);
  assert.equal(inflateRaw(padded, full), 10000);
});

test('rejects malformed input with InflateError and never hangs', () => {
  const data = textLike(65536, 11);
  const packed = new Uint8Array(deflateRawSync(data));
  // Truncated streams.
  for (const cut of [0, 1, 2, 10, packed.length >> 1, packed.length - 1]) {
    const out = new Uint8Array(65536);
    assert.throws(() => inflateRaw(packed.subarray(0, cut), out), InflateError, `cut at ${cut}`);
  }
  // Block type 3.
  assert.throws(() => inflateRaw(new Uint8Array([0x07, 0, 0]), new Uint8Array(10)), /invalid block type/);
  // Stored block with a bad NLEN.
  assert.throws(() => inflateRaw(new Uint8Array([0x01, 0x05, 0x00, 0x00, 0x00]), new Uint8Array(10)), /length check/);
  // Random corruption: must either throw InflateError or return; never anything else.
  const r = randomBytes(4000, 99);
  for (let i = 0; i < 2000; i++) {
    const bad = packed.slice();
    for (let k = 0; k < 4; k++) bad[(r[(i * 4 + k) % r.length] * 977 + i * 131) % bad.length] ^= 1 << (i % 8);
    try {
      inflateRaw(bad, new Uint8Array(65536));
    } catch (e) {
      assert.ok(e instanceof InflateError, String(e));
    }
  }
  // Pure noise.
  for (let i = 0; i < 500; i++) {
    try {
      inflateRaw(randomBytes(200 + i, i + 1), new Uint8Array(65536));
    } catch (e) {
      assert.ok(e instanceof InflateError, String(e));
    }
  }
});
