import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ByteQueue } from './byte-queue.js';

test('ByteQueue: push, copy ranges across chunks, discard from the head', () => {
  const q = new ByteQueue();
  const all: number[] = [];
  for (let i = 0; i < 100; i++) {
    const chunk = new Uint8Array(1 + (i % 7)).map((_, j) => (i * 7 + j) & 255);
    q.push(chunk);
    all.push(...chunk);
  }
  q.push(new Uint8Array(0));
  assert.equal(q.length, all.length);
  let base = 0;
  for (const n of [0, 1, 3, 10, 50, 100, 5]) {
    const len = Math.min(37, q.length);
    for (const off of [0, 1, q.length - len]) {
      const out = new Uint8Array(len + 2);
      q.copyTo(off, len, out, 1);
      assert.deepEqual(Array.from(out.subarray(1, 1 + len)), all.slice(base + off, base + off + len));
    }
    q.discard(n);
    base += n;
    assert.equal(q.length, all.length - base);
  }
  q.copyTo(q.length, 0, new Uint8Array(0), 0);
  assert.throws(() => q.copyTo(q.length - 1, 2, new Uint8Array(2), 0), RangeError);
  q.discard(1e9);
  assert.equal(q.length, 0);
  q.push(new Uint8Array([9]));
  const one = new Uint8Array(1);
  q.copyTo(0, 1, one, 0);
  assert.equal(one[0], 9);
});
