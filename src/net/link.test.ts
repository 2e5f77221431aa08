import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FrameDecoder,
  FramedLink,
  LINK_MAX_FRAME,
  LinkError,
  encodeFrame,
  formatLinkAddress,
  parseLinkAddress,
  type LinkChannel,
} from './link.js';

function frameOf(n: number, seed: number): Uint8Array {
  const f = new Uint8Array(n);
  for (let i = 0; i < n; i++) f[i] = (i * 31 + seed) & 0xff;
  return f;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('link: encodeFrame writes a big-endian length and the frame', () => {
  const rec = encodeFrame(Uint8Array.of(1, 2, 3));
  assert.deepEqual([...rec], [0, 0, 0, 3, 1, 2, 3]);
  const big = encodeFrame(new Uint8Array(0x1_0203));
  assert.deepEqual([...big.subarray(0, 4)], [0, 1, 2, 3]);
});

test('link: the decoder reassembles frames from any split of the stream', () => {
  const frames = [frameOf(60, 1), frameOf(1, 2), frameOf(1514, 3), frameOf(65535, 4), frameOf(14, 5)];
  const stream = concat(frames.map(encodeFrame));
  for (const chunkSize of [1, 2, 3, 4, 5, 7, 13, 1000, 4096, 65539, stream.length]) {
    const got: Uint8Array[] = [];
    const d = new FrameDecoder((f) => got.push(f.slice()));
    for (let p = 0; p < stream.length; p += chunkSize) {
      assert.equal(d.push(stream.subarray(p, Math.min(stream.length, p + chunkSize))), undefined);
    }
    assert.deepEqual(got, frames, `chunks of ${chunkSize}`);
  }
  // Random splits.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 50; round++) {
    const got: Uint8Array[] = [];
    const d = new FrameDecoder((f) => got.push(f.slice()));
    for (let p = 0; p < stream.length; ) {
      const n = 1 + rand(3000);
      d.push(stream.subarray(p, p + n));
      p += n;
    }
    assert.deepEqual(got, frames);
  }
});

test('link: whole frames inside a chunk are passed as views (no copy); zero-length records skipped', () => {
  const stream = concat([encodeFrame(frameOf(10, 1)), new Uint8Array(4), encodeFrame(frameOf(20, 2))]);
  const views: Uint8Array[] = [];
  const d = new FrameDecoder((f) => views.push(f));
  d.push(stream);
  assert.equal(views.length, 2);
  assert.equal(views[0].buffer, stream.buffer);
  assert.deepEqual(views[1], frameOf(20, 2));
});

test('link: an absurd length stops the decoder with an error; reset() starts over', () => {
  const got: Uint8Array[] = [];
  const d = new FrameDecoder((f) => got.push(f.slice()));
  d.push(encodeFrame(frameOf(10, 1)));
  const err = d.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3));
  assert.ok(err instanceof LinkError);
  assert.equal(err.code, 'EFRAMELEN');
  assert.equal(d.push(encodeFrame(frameOf(10, 2))), err, 'ignores everything after');
  assert.equal(got.length, 1);
  // Just above the limit, split header.
  const d2 = new FrameDecoder(() => {});
  const n = LINK_MAX_FRAME + 1;
  assert.equal(d2.push(Uint8Array.of(n >>> 24, (n >>> 16) & 0xff)), undefined);
  assert.equal(d2.push(Uint8Array.of((n >>> 8) & 0xff, n & 0xff))?.code, 'EFRAMELEN');
  d.reset();
  d.push(encodeFrame(frameOf(10, 3)));
  assert.equal(got.length, 2);
});

test('link: address parsing', () => {
  assert.deepEqual(parseLinkAddress('unix:/tmp/a.sock'), { unix: '/tmp/a.sock' });
  assert.deepEqual(parseLinkAddress('tcp:127.0.0.1:5555'), { host: '127.0.0.1', port: 5555 });
  assert.deepEqual(parseLinkAddress('tcp:[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseLinkAddress('tcp:localhost:1'), { host: 'localhost', port: 1 });
  for (const bad of ['unix:', 'tcp:127.0.0.1', 'tcp:127.0.0.1:0', 'tcp:127.0.0.1:70000', 'tcp::::1:5', 'udp:1.2.3.4:5', '/tmp/x']) {
    assert.throws(() => parseLinkAddress(bad), (e: unknown) => e instanceof LinkError && e.code === 'EINVAL', bad);
  }
  assert.equal(formatLinkAddress({ host: '::1', port: 80 }), 'tcp:[::1]:80');
  assert.equal(formatLinkAddress({ unix: '/x' }), 'unix:/x');
});

class FakeChannel implements LinkChannel {
  written: Uint8Array[] = [];
  bufferedBytes = 0;
  closed = false;
  write(bytes: Uint8Array): void {
    this.written.push(bytes);
  }
  close(): void {
    this.closed = true;
  }
}

test('link: FramedLink sends records, drops without a peer or when the peer falls behind', () => {
  const events: string[] = [];
  const link = new FramedLink({ maxBufferedBytes: 100, onPeer: (c, e) => events.push(`${c}${e ? ':' + e.code : ''}`) });
  link.send(frameOf(20, 1));
  assert.equal(link.stats.dropped, 1);
  const ch = new FakeChannel();
  assert.equal(link.attach(ch), true);
  assert.equal(link.attach(new FakeChannel()), false, 'one peer at a time');
  const f = frameOf(20, 2);
  link.send(f);
  assert.deepEqual(ch.written, [encodeFrame(f)]);
  ch.bufferedBytes = 101;
  link.send(f);
  assert.equal(link.stats.dropped, 2);
  ch.bufferedBytes = 0;
  link.send(new Uint8Array(65536));
  link.send(new Uint8Array(0));
  assert.equal(link.stats.dropped, 4);
  assert.equal(link.stats.framesOut, 1);
  link.detach(ch);
  assert.deepEqual(events, ['true', 'false']);
});

test('link: FramedLink delivers received frames; a malformed length closes the channel, no throw', () => {
  const got: Uint8Array[] = [];
  const events: string[] = [];
  const link = new FramedLink({ onPeer: (c, e) => events.push(`${c}${e ? ':' + e.code : ''}`) });
  link.setReceiver((f) => got.push(f.slice()));
  const ch = new FakeChannel();
  link.attach(ch);
  link.receiveBytes(ch, concat([encodeFrame(frameOf(30, 1)), encodeFrame(frameOf(40, 2)).subarray(0, 10)]));
  assert.equal(got.length, 1);
  link.receiveBytes(ch, encodeFrame(frameOf(40, 2)).subarray(10));
  assert.deepEqual(got, [frameOf(30, 1), frameOf(40, 2)]);
  link.receiveBytes(ch, Uint8Array.of(0x7f, 0, 0, 0));
  assert.equal(ch.closed, true);
  assert.equal(link.connected, false);
  assert.equal(link.lastError?.code, 'EFRAMELEN');
  assert.equal(link.stats.protocolErrors, 1);
  assert.deepEqual(events, ['true', 'false:EFRAMELEN']);
  // A new peer starts with a fresh decoder.
  const ch2 = new FakeChannel();
  link.attach(ch2);
  link.receiveBytes(ch2, encodeFrame(frameOf(50, 3)));
  assert.equal(got.length, 3);
  // Bytes from the old channel are ignored.
  link.receiveBytes(ch, encodeFrame(frameOf(50, 4)));
  assert.equal(got.length, 3);
  // A throwing receiver is counted, not propagated.
  link.setReceiver(() => {
    throw new Error('boom');
  });
  link.receiveBytes(ch2, encodeFrame(frameOf(50, 5)));
  assert.equal(link.stats.dropped, 1);
  link.close();
  assert.equal(ch2.closed, true);
  assert.equal(link.attach(new FakeChannel()), false, 'closed for good');
});
