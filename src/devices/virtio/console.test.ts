import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError } from '../device-state.js';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_FEATURES,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
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
import { VirtioMmioDriver, type Segment } from './testing/guest-driver.js';

const RAM = 0x8000_0000;
const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array): string => String.fromCharCode(...b);

/** A driver with both queues (receiveq 0, transmitq 1) of 8 entries. */
class Guest extends VirtioMmioDriver {
  readonly console: VirtioConsole;
  readonly out: Uint8Array[];
  readonly irq: boolean[];

  constructor(size?: { cols: number; rows: number }) {
    const mem = new PhysicalMemory();
    mem.addRam(RAM, 1 << 20);
    const out: Uint8Array[] = [];
    const irq: boolean[] = [];
    const console = new VirtioConsole(mem, (b) => out.push(b), size === undefined ? {} : { size });
    super(new VirtioMmioTransport(mem, console, (l) => irq.push(l)), [8, 8]);
    this.console = console;
    this.out = out;
    this.irq = irq;
  }
  /** Posts a chain on queue q and notifies the device. */
  post(q: number, segs: Segment[]): void {
    this.queues[q].addChain(segs);
    this.kick(q);
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
  g.post(VIRTIO_CONSOLE_TX, [
    { addr: RAM + 0x1_0000, len: 7 },
    { addr: RAM + 0x1_1000, len: 6 },
  ]);
  assert.equal(g.output(), 'hello, world\n');
  assert.equal(g.out.length, 1);
  assert.deepEqual(g.queues[VIRTIO_CONSOLE_TX].takeUsed(), [{ id: 0, len: 0 }]);
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
  g.post(VIRTIO_CONSOLE_RX, [{ addr: RAM + 0x2_0000, len: 3, writable: true }]);
  assert.deepEqual(g.queues[VIRTIO_CONSOLE_RX].takeUsed(), [{ id: 0, len: 3 }]);
  assert.equal(dec(g.mem.readBytes(RAM + 0x2_0000, 3)), 'ear');
  assert.equal(g.console.pendingInput, 2);
  g.wr(VIRTIO_MMIO_INTERRUPT_ACK, 1);
  // A chain with two writable segments takes the rest plus new input.
  g.post(VIRTIO_CONSOLE_RX, [
    { addr: RAM + 0x2_1000, len: 4, writable: true },
    { addr: RAM + 0x2_2000, len: 64, writable: true },
  ]);
  assert.deepEqual(g.queues[VIRTIO_CONSOLE_RX].takeUsed(), [{ id: 1, len: 2 }]);
  assert.equal(dec(g.mem.readBytes(RAM + 0x2_1000, 2)), 'ly');
  // Buffers posted while nothing is pending wait for input.
  g.post(VIRTIO_CONSOLE_RX, [
    { addr: RAM + 0x2_3000, len: 4, writable: true },
    { addr: RAM + 0x2_4000, len: 64, writable: true },
  ]);
  assert.deepEqual(g.queues[VIRTIO_CONSOLE_RX].takeUsed(), []);
  g.console.receive(enc('typed text'));
  assert.deepEqual(g.queues[VIRTIO_CONSOLE_RX].takeUsed(), [{ id: 3, len: 10 }]);
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
  g.post(VIRTIO_CONSOLE_TX, [{ addr: 0x1000_0000, len: 16 }]); // MMIO, not RAM
  assert.notEqual(g.rd(VIRTIO_MMIO_STATUS) & 0x40, 0);
  assert.equal(g.output(), '');
  g.console.receive(enc('x')); // the device is stopped: input stays pending
  assert.equal(g.console.pendingInput, 1);
});

test('virtio-console state round-trips, pending input included', () => {
  const a = new Guest({ cols: 100, rows: 30 });
  a.init();
  a.console.receive(enc('pending\x00\xff'));
  const saved = JSON.parse(JSON.stringify(a.transport.saveState())) as unknown;
  const b = new Guest({ cols: 1, rows: 1 });
  b.mem.writeBytes(RAM, a.mem.readBytes(RAM, 1 << 20));
  b.transport.loadState(saved);
  assert.deepEqual(b.transport.saveState(), a.transport.saveState());
  assert.equal(b.rd(VIRTIO_MMIO_CONFIG, 2), 100);
  assert.equal(b.console.pendingInput, 9);
  b.post(VIRTIO_CONSOLE_RX, [{ addr: RAM + 0x2_0000, len: 16, writable: true }]);
  assert.deepEqual([...b.mem.readBytes(RAM + 0x2_0000, 9)], [...enc('pending\x00\xff')]);

  const c = new Guest();
  const before = JSON.stringify(c.transport.saveState());
  for (const device of [
    { version: 1, cols: 1, rows: 1, pendingInput: 'abc' },
    { version: 1, cols: 1, rows: 1, pendingInput: 'zz' },
    { version: 1, cols: 70000, rows: 1, pendingInput: '' },
    { version: 1, cols: 1, rows: 1 },
  ]) {
    assert.throws(() => c.transport.loadState({ ...(saved as object), device }), DeviceStateError);
    assert.equal(JSON.stringify(c.transport.saveState()), before);
  }
});

test('virtio-console: queue indices', () => {
  assert.equal(VIRTIO_CONSOLE_RX, 0);
  assert.equal(VIRTIO_CONSOLE_TX, 1);
});
