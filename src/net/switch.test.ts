import { test } from 'node:test';
import assert from 'node:assert/strict';

import { NetSwitch, type NetSwitchPort } from './switch.js';
import type { NetBackend } from './backend.js';

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const mac = (n: number): number[] => [0x52, 0x54, 0, 0, 0, n];

function frame(dst: number[], src: number[], payload = 46): Uint8Array {
  const f = new Uint8Array(14 + payload);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = src[5];
  return f;
}

/** A port with a recording receiver. */
function station(sw: NetSwitch): { port: NetSwitchPort; got: Uint8Array[] } {
  const port = sw.createPort();
  const got: Uint8Array[] = [];
  port.setReceiver((f) => got.push(new Uint8Array(f)));
  return { port, got };
}

test('switch: unknown unicast and broadcast flood to every other port, never back to the ingress', () => {
  const sw = new NetSwitch();
  const [a, b, c] = [station(sw), station(sw), station(sw)];
  a.port.send(frame(BCAST, mac(1)));
  assert.equal(a.got.length, 0);
  assert.equal(b.got.length, 1);
  assert.equal(c.got.length, 1);
  a.port.send(frame(mac(9), mac(1))); // unknown destination
  assert.equal(a.got.length, 0);
  assert.equal(b.got.length, 2);
  assert.equal(c.got.length, 2);
  const multicast = [0x01, 0x00, 0x5e, 0, 0, 1];
  b.port.send(frame(multicast, mac(2)));
  assert.equal(a.got.length, 1);
  assert.equal(b.got.length, 2);
  assert.equal(c.got.length, 3);
  assert.equal(sw.stats.flooded, 3);
});

test('switch: learns source addresses and forwards known unicast to one port only', () => {
  const sw = new NetSwitch();
  const [a, b, c] = [station(sw), station(sw), station(sw)];
  a.port.send(frame(BCAST, mac(1)));
  b.port.send(frame(BCAST, mac(2)));
  b.got.length = 0;
  c.got.length = 0;
  a.got.length = 0;
  c.port.send(frame(mac(1), mac(3)));
  assert.equal(a.got.length, 1);
  assert.equal(b.got.length, 0, 'b does not see unicast for a');
  a.port.send(frame(mac(3), mac(1)));
  assert.equal(c.got.length, 1);
  assert.equal(b.got.length, 0);
  assert.deepEqual([...sw.macTable()].sort(), [['52:54:00:00:00:01', a.port.id], ['52:54:00:00:00:02', b.port.id], ['52:54:00:00:00:03', c.port.id]]);
  // A station moving to another port is relearned there.
  c.port.send(frame(BCAST, mac(1)));
  a.got.length = 0;
  b.port.send(frame(mac(1), mac(2)));
  assert.equal(a.got.length, 0);
  assert.equal(c.got.length, 2);
  // A destination on the ingress port itself is filtered.
  b.port.send(frame(mac(2), mac(2)));
  assert.equal(sw.stats.filtered, 1);
});

test('switch: entries age out and unicast floods again', () => {
  let now = 1000;
  const sw = new NetSwitch({ ageMs: 5000, nowMs: () => now });
  const [a, b, c] = [station(sw), station(sw), station(sw)];
  a.port.send(frame(BCAST, mac(1)));
  b.got.length = 0;
  c.got.length = 0;
  now += 4000;
  c.port.send(frame(mac(1), mac(3)));
  assert.equal(b.got.length, 0, 'still learned');
  now += 6000;
  c.port.send(frame(mac(1), mac(3)));
  assert.equal(b.got.length, 1, 'aged out: flooded');
  assert.equal(a.got.length, 2);
  assert.equal(sw.macTable().has('52:54:00:00:00:01'), false);
});

test('switch: the table is bounded; new addresses beyond it are flooded, not learned', () => {
  const sw = new NetSwitch({ maxMacs: 2 });
  const [a, b, c] = [station(sw), station(sw), station(sw)];
  a.port.send(frame(BCAST, mac(1)));
  a.port.send(frame(BCAST, mac(2)));
  a.port.send(frame(BCAST, mac(3)));
  assert.equal(sw.macTable().size, 2);
  b.got.length = 0;
  c.port.send(frame(mac(3), mac(4)));
  assert.equal(b.got.length, 1, 'unknown (unlearned) destination floods');
});

test('switch: runts, giants and group source addresses are dropped and counted', () => {
  const sw = new NetSwitch();
  const [a, b] = [station(sw), station(sw)];
  a.port.send(new Uint8Array(13));
  a.port.send(new Uint8Array(65536).fill(0xff, 0, 6));
  a.port.send(frame(BCAST, [0x01, 0, 0, 0, 0, 1]));
  a.port.send(new Uint8Array(0));
  assert.equal(b.got.length, 0);
  assert.equal(sw.stats.dropped, 4);
  assert.equal(a.port.stats.dropped, 4);
  const max = new Uint8Array(65535);
  max.set(BCAST);
  max.set(mac(1), 6);
  a.port.send(max);
  assert.equal(b.got.length, 1, '65535 bytes is the limit, inclusive');
  const min = frame(BCAST, mac(1), 0);
  a.port.send(min);
  assert.equal(b.got.length, 2);
});

test('switch: closed ports get nothing and their addresses are forgotten', () => {
  const sw = new NetSwitch();
  const [a, b, c] = [station(sw), station(sw), station(sw)];
  b.port.send(frame(BCAST, mac(2)));
  b.port.close();
  assert.equal(sw.portCount, 2);
  assert.equal(sw.macTable().has('52:54:00:00:00:02'), false);
  a.port.send(frame(mac(2), mac(1)));
  assert.equal(b.got.length, 0);
  assert.equal(c.got.length, 2);
  b.port.send(frame(BCAST, mac(2)));
  assert.equal(b.port.stats.dropped, 1);
});

test('switch: two in-process switches joined by a cable; a cabling loop is cut without blowing the stack', () => {
  const s1 = new NetSwitch();
  const s2 = new NetSwitch();
  const a = station(s1);
  const b = station(s2);
  s1.connect(s2.createPort());
  a.port.send(frame(BCAST, mac(1)));
  assert.equal(b.got.length, 1);
  b.port.send(frame(mac(1), mac(2)));
  assert.equal(a.got.length, 1);
  // Learning works across: s1 knows mac 2 is behind the cable port.
  assert.ok(s1.macTable().has('52:54:00:00:00:02'));

  // A second cable makes a loop: a broadcast circulates until the nesting bound drops it.
  s1.connect(s2.createPort());
  a.port.send(frame(BCAST, mac(1)));
  assert.ok(s1.stats.dropped > 0 || s2.stats.dropped > 0);
});

test('switch: a receiver that throws is isolated and reported', () => {
  const errors: string[] = [];
  const sw = new NetSwitch({ onError: (m) => errors.push(m) });
  const a = station(sw);
  const bad = sw.createPort();
  bad.setReceiver(() => {
    throw new Error('boom');
  });
  const c = station(sw);
  a.port.send(frame(BCAST, mac(1)));
  a.port.send(frame(BCAST, mac(1)));
  assert.equal(c.got.length, 2);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /boom/);
});

test('switch: connect() wires any backend into a port', () => {
  const sw = new NetSwitch();
  const a = station(sw);
  const sent: Uint8Array[] = [];
  let toSwitch: (f: Uint8Array) => void = () => {};
  const backend: NetBackend = {
    send: (f) => sent.push(f.slice()),
    setReceiver: (r) => (toSwitch = r),
    close: () => {},
  };
  sw.connect(backend);
  a.port.send(frame(BCAST, mac(1)));
  assert.equal(sent.length, 1);
  toSwitch(frame(mac(1), mac(7)));
  assert.equal(a.got.length, 1);
});
