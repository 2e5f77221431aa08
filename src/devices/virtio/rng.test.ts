import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError } from '../device-state.js';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_QUEUE_NUM_MAX,
  VIRTIO_MMIO_QUEUE_SEL,
  VirtioMmioTransport,
} from './mmio.js';
import { VirtioRng, VIRTIO_RNG_MAX_REQUEST } from './rng.js';
import { VirtioMmioDriver } from './testing/guest-driver.js';

const RAM = 0x8000_0000;

/** A driver for a virtio-rng whose "entropy" is an incrementing byte counter; one queue of 8. */
class Guest extends VirtioMmioDriver {
  readonly irq: boolean[];
  /** The length of every entropy request. */
  readonly calls: number[];

  constructor() {
    const mem = new PhysicalMemory();
    mem.addRam(RAM, 1 << 20);
    const irq: boolean[] = [];
    const calls: number[] = [];
    let counter = 0;
    const rng = new VirtioRng(mem, (buf) => {
      calls.push(buf.length);
      for (let i = 0; i < buf.length; i++) buf[i] = counter++ & 0xff;
    });
    super(new VirtioMmioTransport(mem, rng, (l) => irq.push(l)), [8]);
    this.irq = irq;
    this.calls = calls;
  }
}

test('virtio-rng: device ID 4, one queue', () => {
  const s = new Guest();
  assert.equal(s.rd(VIRTIO_MMIO_DEVICE_ID), 4);
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 1);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
});

test('virtio-rng fills writable buffers with fresh entropy and skips readable ones', () => {
  const s = new Guest();
  s.init();
  const q = s.queues[0];
  q.addChain([{ addr: RAM + 0x1_0000, len: 10, writable: true }]);
  q.addChain([
    { addr: RAM + 0x1_1000, len: 4 }, // device-readable: left alone
    { addr: RAM + 0x1_2000, len: 6, writable: true },
  ]);
  s.kick(0);
  assert.deepEqual(q.usedElem(0), { id: 0, len: 10 });
  assert.deepEqual(q.usedElem(1), { id: 1, len: 6 });
  assert.deepEqual([...s.mem.readBytes(RAM + 0x1_0000, 10)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...s.mem.readBytes(RAM + 0x1_2000, 6)], [10, 11, 12, 13, 14, 15]); // never repeated
  assert.deepEqual([...s.mem.readBytes(RAM + 0x1_1000, 4)], [0, 0, 0, 0]);
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
  assert.deepEqual(s.irq, [true]);
  assert.deepEqual(s.calls, [4096]); // one chunk drawn for both
});

test('virtio-rng caps the bytes returned for a huge buffer', () => {
  const s = new Guest();
  s.init();
  const q = s.queues[0];
  q.addChain([{ addr: RAM + 0x1_0000, len: 0x8_0000, writable: true }]);
  s.kick(0);
  assert.deepEqual(q.usedElem(0), { id: 0, len: VIRTIO_RNG_MAX_REQUEST });
});

test('virtio-rng: buffers posted before DRIVER_OK are filled at DRIVER_OK', () => {
  const s = new Guest();
  const q = s.queues[0];
  s.negotiate(VIRTIO_F_VERSION_1);
  s.setupQueue(0);
  q.addChain([{ addr: RAM + 0x1_0000, len: 8, writable: true }]);
  s.kick(0); // too early: ignored
  assert.equal(q.usedIdx, 0);
  s.driverOk();
  assert.equal(q.usedIdx, 1);
});

test('virtio-rng state round-trips', () => {
  const a = new Guest();
  a.init();
  const saved = JSON.parse(JSON.stringify(a.transport.saveState())) as unknown;
  const b = new Guest();
  b.transport.loadState(saved);
  assert.deepEqual(b.transport.saveState(), a.transport.saveState());
  assert.throws(() => b.transport.loadState({ ...(saved as object), device: { version: 1, extra: 1 } }), DeviceStateError);
  assert.throws(() => b.transport.loadState({ ...(saved as object), device: null }), DeviceStateError);
});
