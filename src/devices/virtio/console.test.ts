import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue, PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError } from '../device-state.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './queue.js';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_FEATURES,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_DRIVER_FEATURES,
  VIRTIO_MMIO_DRIVER_FEATURES_SEL,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_QUEUE_DESC_LOW,
  VIRTIO_MMIO_QUEUE_DEVICE_LOW,
  VIRTIO_MMIO_QUEUE_DRIVER_LOW,
  VIRTIO_MMIO_QUEUE_NOTIFY,
  VIRTIO_MMIO_QUEUE_NUM,
  VIRTIO_MMIO_QUEUE_READY,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_STATUS,
  VirtioMmioTransport,
} from './mmio.js';
import {
  VirtioConsole,
  VIRTIO_CONSOLE_F_EMERG_WRITE,
  VIRTIO_CONSOLE_F_SIZE,
  VIRTIO_CONSOLE_MAX_PENDING,
  VIRTIO_CONSOLE_RX,
  VIRTIO_CONSOLE_TX,
} from './console.js';

const RAM = 0x8000_0000;
const SIZE = 8;
const rings = (q: number): { desc: number; avail: number; used: number } => ({
  desc: RAM + 0x1000 + 0x3000 * q,
  avail: RAM + 0x2000 + 0x3000 * q,
  used: RAM + 0x3000 + 0x3000 * q,
});
const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array): string => String.fromCharCode(...b);

class Guest {
  readonly mem = new PhysicalMemory();
  readonly out: Uint8Array[] = [];
  readonly irq: boolean[] = [];
  readonly console: VirtioConsole;
  readonly t: VirtioMmioTransport;
  private readonly v = new MmioValue();
  private readonly availIdx = [0, 0];
  private readonly usedSeen = [0, 0];

  constructor(size?: { cols: number; rows: number }) {
    this.mem.addRam(RAM, 1 << 20);
    this.console = new VirtioConsole(this.mem, (b) => this.out.push(b), size === undefined ? {} : { size });
    this.t = new VirtioMmioTransport(this.mem, this.console, (l) => this.irq.push(l));
  }
  rd(o: number, size = 4): number {
    this.t.read(o, size, this.v);
    return this.v.lo >>> 0;
  }
  wr(o: number, x: number, size = 4): void {
    this.t.write(o, size, x | 0, 0);
  }
  init(features = VIRTIO_F_VERSION_1): void {
    this.wr(VIRTIO_MMIO_STATUS, 3);
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES, Number(features & 0xffff_ffffn));
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES, Number(features >> 32n));
    this.wr(VIRTIO_MMIO_STATUS, 11);
    for (const q of [0, 1]) {
      const r = rings(q);
      this.wr(VIRTIO_MMIO_QUEUE_SEL, q);
      this.wr(VIRTIO_MMIO_QUEUE_NUM, SIZE);
      this.wr(VIRTIO_MMIO_QUEUE_DESC_LOW, r.desc);
      this.wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, r.avail);
      this.wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, r.used);
      this.wr(VIRTIO_MMIO_QUEUE_READY, 1);
    }
    this.wr(VIRTIO_MMIO_STATUS, 15);
  }
  /** Posts a chain of segments on queue q, starting at descriptor `head`. */
  post(q: number, head: number, segs: [number, number, number][], notify = true): void {
    const r = rings(q);
    let i = head;
    segs.forEach(([addr, len, flags], k) => {
      const next = (i + 1) % SIZE;
      const last = k === segs.length - 1;
      this.mem.writePhys(r.desc + 16 * i, 8, BigInt(addr));
      this.mem.writePhys(r.desc + 16 * i + 8, 4, BigInt(len));
      this.mem.writePhys(r.desc + 16 * i + 12, 2, BigInt(flags | (last ? 0 : VIRTQ_DESC_F_NEXT)));
      this.mem.writePhys(r.desc + 16 * i + 14, 2, BigInt(last ? 0 : next));
      i = next;
    });
    this.mem.writePhys(r.avail + 4 + 2 * (this.availIdx[q] % SIZE), 2, BigInt(head));
    this.availIdx[q]++;
    this.mem.writePhys(r.avail + 2, 2, BigInt(this.availIdx[q]));
    if (notify) this.wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
  }
  /** Used entries not seen yet on queue q. */
  takeUsed(q: number): { id: number; len: number }[] {
    const r = rings(q);
    const idx = Number(this.mem.readPhys(r.used + 2, 2));
    const out: { id: number; len: number }[] = [];
    for (; this.usedSeen[q] !== idx; this.usedSeen[q]++) {
      const at = r.used + 4 + 8 * (this.usedSeen[q] % SIZE);
      out.push({ id: Number(this.mem.readPhys(at, 4)), len: Number(this.mem.readPhys(at + 4, 4)) });
    }
    return out;
  }
  output(): string {
    return this.out.map(dec).join('');
  }
}

test('virtio-console: device ID 3, features, config space', () => {
  const g = new Guest({ cols: 80, rows: 25 });
  assert.equal(g.rd(VIRTIO_MMIO_DEVICE_ID), 3);
  assert.equal(BigInt(g.rd(VIRTIO_MMIO_DEVICE_FEATURES)) & 7n, VIRTIO_CONSOLE_F_SIZE | VIRTIO_CONSOLE_F_EMERG_WRITE);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG, 2), 80);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG + 2, 2), 25);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG, 4), (25 << 16) | 80);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG + 4, 4), 0); // max_nr_ports: no multiport
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG + 12, 1), 0); // beyond the config
  const plain = new Guest();
  assert.equal(BigInt(plain.rd(VIRTIO_MMIO_DEVICE_FEATURES)) & 7n, VIRTIO_CONSOLE_F_EMERG_WRITE);
});

test('virtio-console: emergency write works before the queues exist', () => {
  const g = new Guest();
  g.wr(VIRTIO_MMIO_CONFIG + 8, 0x41);
  g.wr(VIRTIO_MMIO_CONFIG + 8, 0x142); // the low byte
  g.wr(VIRTIO_MMIO_CONFIG + 8, 0x43, 1); // not a 32-bit write of emerg_wr: ignored
  assert.equal(g.output(), 'AB');
});

test('virtio-console: transmitq buffers go to the output sink, readable parts only', () => {
  const g = new Guest();
  g.init();
  g.mem.writeBytes(RAM + 0x1_0000, enc('hello, '));
  g.mem.writeBytes(RAM + 0x1_1000, enc('world\n'));
  g.post(VIRTIO_CONSOLE_TX, 0, [
    [RAM + 0x1_0000, 7, 0],
    [RAM + 0x1_1000, 6, 0],
  ]);
  assert.equal(g.output(), 'hello, world\n');
  assert.equal(g.out.length, 1);
  assert.deepEqual(g.takeUsed(VIRTIO_CONSOLE_TX), [{ id: 0, len: 0 }]);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
  // The sink may keep the array: it is not a view of guest RAM.
  g.mem.writeBytes(RAM + 0x1_0000, enc('XXXXXXX'));
  assert.equal(g.output(), 'hello, world\n');
});

test('virtio-console: input waits for receive buffers, then fills them in order', () => {
  const g = new Guest();
  g.console.receive(enc('early')); // before the driver is up
  g.init();
  assert.equal(g.console.pendingInput, 5); // no buffers yet
  g.post(VIRTIO_CONSOLE_RX, 0, [[RAM + 0x2_0000, 3, VIRTQ_DESC_F_WRITE]]);
  assert.deepEqual(g.takeUsed(VIRTIO_CONSOLE_RX), [{ id: 0, len: 3 }]);
  assert.equal(dec(g.mem.readBytes(RAM + 0x2_0000, 3)), 'ear');
  assert.equal(g.console.pendingInput, 2);
  g.wr(VIRTIO_MMIO_INTERRUPT_ACK, 1);
  // A chain with two writable segments takes the rest plus new input.
  g.post(VIRTIO_CONSOLE_RX, 1, [
    [RAM + 0x2_1000, 4, VIRTQ_DESC_F_WRITE],
    [RAM + 0x2_2000, 64, VIRTQ_DESC_F_WRITE],
  ]);
  assert.deepEqual(g.takeUsed(VIRTIO_CONSOLE_RX), [{ id: 1, len: 2 }]);
  assert.equal(dec(g.mem.readBytes(RAM + 0x2_1000, 2)), 'ly');
  // Buffers posted while nothing is pending wait for input.
  g.post(VIRTIO_CONSOLE_RX, 3, [
    [RAM + 0x2_3000, 4, VIRTQ_DESC_F_WRITE],
    [RAM + 0x2_4000, 64, VIRTQ_DESC_F_WRITE],
  ]);
  assert.deepEqual(g.takeUsed(VIRTIO_CONSOLE_RX), []);
  g.console.receive(enc('typed text'));
  assert.deepEqual(g.takeUsed(VIRTIO_CONSOLE_RX), [{ id: 3, len: 10 }]);
  assert.equal(dec(g.mem.readBytes(RAM + 0x2_3000, 4)) + dec(g.mem.readBytes(RAM + 0x2_4000, 6)), 'typed text');
  assert.equal(g.console.pendingInput, 0);
  assert.equal(g.irq[g.irq.length - 1], true);
});

test('virtio-console: bounded input buffer', () => {
  const g = new Guest();
  g.console.receive(new Uint8Array(VIRTIO_CONSOLE_MAX_PENDING - 10));
  g.console.receive(new Uint8Array(30));
  assert.equal(g.console.pendingInput, VIRTIO_CONSOLE_MAX_PENDING);
  assert.equal(g.console.droppedInputBytes, 20);
});

test('virtio-console: resize raises a config change', () => {
  const g = new Guest({ cols: 80, rows: 24 });
  g.init(VIRTIO_F_VERSION_1 | VIRTIO_CONSOLE_F_SIZE);
  const gen = g.rd(VIRTIO_MMIO_CONFIG_GENERATION);
  g.console.setSize(132, 43);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 2);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG, 4), (43 << 16) | 132);
});

test('virtio-console: a malformed transmit chain marks the device for reset, no throw', () => {
  const g = new Guest();
  g.init();
  g.post(VIRTIO_CONSOLE_TX, 0, [[0x1000_0000, 16, 0]]); // MMIO, not RAM
  assert.notEqual(g.rd(VIRTIO_MMIO_STATUS) & 0x40, 0);
  assert.equal(g.output(), '');
  g.console.receive(enc('x')); // the device is stopped: input stays pending
  assert.equal(g.console.pendingInput, 1);
});

test('virtio-console state round-trips, pending input included', () => {
  const a = new Guest({ cols: 100, rows: 30 });
  a.init();
  a.console.receive(enc('pending\x00\xff'));
  const saved = JSON.parse(JSON.stringify(a.t.saveState())) as unknown;
  const b = new Guest({ cols: 1, rows: 1 });
  b.mem.writeBytes(RAM, a.mem.readBytes(RAM, 1 << 20));
  b.t.loadState(saved);
  assert.deepEqual(b.t.saveState(), a.t.saveState());
  assert.equal(b.rd(VIRTIO_MMIO_CONFIG, 2), 100);
  assert.equal(b.console.pendingInput, 9);
  b.post(VIRTIO_CONSOLE_RX, 0, [[RAM + 0x2_0000, 16, VIRTQ_DESC_F_WRITE]]);
  assert.deepEqual([...b.mem.readBytes(RAM + 0x2_0000, 9)], [...enc('pending\x00\xff')]);

  const c = new Guest();
  const before = JSON.stringify(c.t.saveState());
  for (const device of [
    { version: 1, cols: 1, rows: 1, pendingInput: 'abc' },
    { version: 1, cols: 1, rows: 1, pendingInput: 'zz' },
    { version: 1, cols: 70000, rows: 1, pendingInput: '' },
    { version: 1, cols: 1, rows: 1 },
  ]) {
    assert.throws(() => c.t.loadState({ ...(saved as object), device }), DeviceStateError);
    assert.equal(JSON.stringify(c.t.saveState()), before);
  }
});

test('virtio-console: queue indices', () => {
  assert.equal(VIRTIO_CONSOLE_RX, 0);
  assert.equal(VIRTIO_CONSOLE_TX, 1);
});
