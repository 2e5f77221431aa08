import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue, PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError } from '../device-state.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './queue.js';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_DRIVER_FEATURES,
  VIRTIO_MMIO_DRIVER_FEATURES_SEL,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_QUEUE_DESC_LOW,
  VIRTIO_MMIO_QUEUE_DEVICE_LOW,
  VIRTIO_MMIO_QUEUE_DRIVER_LOW,
  VIRTIO_MMIO_QUEUE_NOTIFY,
  VIRTIO_MMIO_QUEUE_NUM,
  VIRTIO_MMIO_QUEUE_NUM_MAX,
  VIRTIO_MMIO_QUEUE_READY,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_STATUS,
  VirtioMmioTransport,
} from './mmio.js';
import { VirtioRng, VIRTIO_RNG_MAX_REQUEST } from './rng.js';

const RAM = 0x8000_0000;
const DESC = RAM + 0x1000;
const AVAIL = RAM + 0x2000;
const USED = RAM + 0x3000;
const SIZE = 8;

function setup(): {
  mem: PhysicalMemory;
  t: VirtioMmioTransport;
  irq: boolean[];
  calls: number[];
  rd: (o: number) => number;
  wr: (o: number, v: number) => void;
  offer: (head: number, segs: [number, number, number][]) => void;
  used: (slot: number) => { id: number; len: number };
} {
  const mem = new PhysicalMemory();
  mem.addRam(RAM, 1 << 20);
  let counter = 0;
  const calls: number[] = [];
  // A deterministic "entropy" source: an incrementing byte counter.
  const rng = new VirtioRng(mem, (buf) => {
    calls.push(buf.length);
    for (let i = 0; i < buf.length; i++) buf[i] = counter++ & 0xff;
  });
  const irq: boolean[] = [];
  const t = new VirtioMmioTransport(mem, rng, (l) => irq.push(l));
  const v = new MmioValue();
  const rd = (o: number): number => {
    t.read(o, 4, v);
    return v.lo >>> 0;
  };
  const wr = (o: number, x: number): void => t.write(o, 4, x | 0, 0);
  let availIdx = 0;
  return {
    mem, t, irq, calls, rd, wr,
    offer: (head, segs) => {
      let i = head;
      segs.forEach(([addr, len, flags], k) => {
        const next = k < segs.length - 1 ? (i + 1) % SIZE : 0;
        mem.writePhys(DESC + 16 * i, 8, BigInt(addr));
        mem.writePhys(DESC + 16 * i + 8, 4, BigInt(len));
        mem.writePhys(DESC + 16 * i + 12, 2, BigInt(flags | (k < segs.length - 1 ? VIRTQ_DESC_F_NEXT : 0)));
        mem.writePhys(DESC + 16 * i + 14, 2, BigInt(next));
        i = next;
      });
      mem.writePhys(AVAIL + 4 + 2 * (availIdx % SIZE), 2, BigInt(head));
      availIdx++;
      mem.writePhys(AVAIL + 2, 2, BigInt(availIdx));
    },
    used: (slot) => ({
      id: Number(mem.readPhys(USED + 4 + 8 * slot, 4)),
      len: Number(mem.readPhys(USED + 8 + 8 * slot, 4)),
    }),
  };
}

function init(s: ReturnType<typeof setup>): void {
  s.wr(VIRTIO_MMIO_STATUS, 1);
  s.wr(VIRTIO_MMIO_STATUS, 3);
  s.wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  s.wr(VIRTIO_MMIO_DRIVER_FEATURES, Number(VIRTIO_F_VERSION_1 >> 32n));
  s.wr(VIRTIO_MMIO_STATUS, 11);
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  s.wr(VIRTIO_MMIO_QUEUE_NUM, SIZE);
  s.wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
  s.wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
  s.wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
  s.wr(VIRTIO_MMIO_QUEUE_READY, 1);
  s.wr(VIRTIO_MMIO_STATUS, 15);
}

test('virtio-rng: device ID 4, one queue', () => {
  const s = setup();
  assert.equal(s.rd(VIRTIO_MMIO_DEVICE_ID), 4);
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 1);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
});

test('virtio-rng fills writable buffers with fresh entropy and skips readable ones', () => {
  const s = setup();
  init(s);
  s.offer(0, [[RAM + 0x1_0000, 10, VIRTQ_DESC_F_WRITE]]);
  s.offer(1, [
    [RAM + 0x1_1000, 4, 0], // device-readable: left alone
    [RAM + 0x1_2000, 6, VIRTQ_DESC_F_WRITE],
  ]);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.deepEqual(s.used(0), { id: 0, len: 10 });
  assert.deepEqual(s.used(1), { id: 1, len: 6 });
  assert.deepEqual([...s.mem.readBytes(RAM + 0x1_0000, 10)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...s.mem.readBytes(RAM + 0x1_2000, 6)], [10, 11, 12, 13, 14, 15]); // never repeated
  assert.deepEqual([...s.mem.readBytes(RAM + 0x1_1000, 4)], [0, 0, 0, 0]);
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
  assert.deepEqual(s.irq, [true]);
  assert.deepEqual(s.calls, [4096]); // one chunk drawn for both
});

test('virtio-rng caps the bytes returned for a huge buffer', () => {
  const s = setup();
  init(s);
  s.offer(0, [[RAM + 0x1_0000, 0x8_0000, VIRTQ_DESC_F_WRITE]]);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.deepEqual(s.used(0), { id: 0, len: VIRTIO_RNG_MAX_REQUEST });
});

test('virtio-rng: buffers posted before DRIVER_OK are filled at DRIVER_OK', () => {
  const s = setup();
  s.wr(VIRTIO_MMIO_STATUS, 1);
  s.wr(VIRTIO_MMIO_STATUS, 3);
  s.wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  s.wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
  s.wr(VIRTIO_MMIO_STATUS, 11);
  s.wr(VIRTIO_MMIO_QUEUE_NUM, SIZE);
  s.wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
  s.wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL);
  s.wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED);
  s.wr(VIRTIO_MMIO_QUEUE_READY, 1);
  s.offer(0, [[RAM + 0x1_0000, 8, VIRTQ_DESC_F_WRITE]]);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0); // too early: ignored
  assert.equal(Number(s.mem.readPhys(USED + 2, 2)), 0);
  s.wr(VIRTIO_MMIO_STATUS, 15);
  assert.equal(Number(s.mem.readPhys(USED + 2, 2)), 1);
});

test('virtio-rng state round-trips', () => {
  const a = setup();
  init(a);
  const saved = JSON.parse(JSON.stringify(a.t.saveState())) as unknown;
  const b = setup();
  b.t.loadState(saved);
  assert.deepEqual(b.t.saveState(), a.t.saveState());
  assert.throws(() => b.t.loadState({ ...(saved as object), device: { version: 1, extra: 1 } }), DeviceStateError);
  assert.throws(() => b.t.loadState({ ...(saved as object), device: null }), DeviceStateError);
});
