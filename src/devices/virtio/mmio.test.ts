import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue, PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError, rejectUnknownFields, stateRecord, intField } from '../device-state.js';
import { DescriptorChain, VIRTQ_DESC_F_NEXT } from './queue.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_FEATURES,
  VIRTIO_MMIO_DEVICE_FEATURES_SEL,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_MAGIC_VALUE,
  VIRTIO_MMIO_QUEUE_DESC_LOW,
  VIRTIO_MMIO_QUEUE_NOTIFY,
  VIRTIO_MMIO_QUEUE_NUM,
  VIRTIO_MMIO_QUEUE_NUM_MAX,
  VIRTIO_MMIO_QUEUE_READY,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_SHM_LEN_HIGH,
  VIRTIO_MMIO_SHM_LEN_LOW,
  VIRTIO_MMIO_SHM_SEL,
  VIRTIO_MMIO_STATUS,
  VIRTIO_MMIO_VENDOR_ID,
  VIRTIO_MMIO_VENDOR_ID_REG,
  VIRTIO_MMIO_VERSION,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FAILED,
  VIRTIO_STATUS_FEATURES_OK,
  VirtioMmioTransport,
  type VirtioDevice,
  type VirtioTransport,
} from './mmio.js';
import { VirtioMmioDriver } from './testing/guest-driver.js';

const RAM = 0x8000_0000;
const QSIZE = 8;
const BUF = RAM + 0x2_0000;

/** A device model for tests: 2 queues, 8 bytes of config; echoes queue 0's buffers as used. */
class FakeDevice implements VirtioDevice {
  readonly deviceId = 42;
  readonly features = (1n << 0n) | (1n << 5n) | (1n << 40n);
  readonly numQueues = 2;
  readonly configSize = 8;
  readonly config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  readonly log: string[] = [];
  refuse = false;
  transport: VirtioTransport | undefined;
  chain: DescriptorChain | undefined;
  counter = 0;
  queueMaxSize(index: number): number {
    return index === 0 ? QSIZE : 4;
  }
  attach(t: VirtioTransport): void {
    this.transport = t;
    this.chain = new DescriptorChain(t.memory);
  }
  readConfig(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[offset + i];
    return v >>> 0;
  }
  writeConfig(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.config[offset + i] = (value >>> (8 * i)) & 0xff;
  }
  acceptFeatures(features: bigint): boolean {
    this.log.push(`accept ${features.toString(16)}`);
    return !this.refuse;
  }
  activate(): void {
    this.log.push('activate');
  }
  queueNotify(index: number): void {
    this.log.push(`notify ${index}`);
    const t = this.transport!;
    const q = t.queues[index];
    let any = false;
    while (q.pop(this.chain!)) {
      q.pushUsed(this.chain!.head, this.chain!.writableLength);
      any = true;
    }
    if (any) t.notifyUsed(index);
  }
  reset(): void {
    this.log.push('reset');
    this.counter = 0;
  }
  saveState(): unknown {
    return { version: 1, counter: this.counter };
  }
  loadState(state: unknown): void {
    const rec = stateRecord('fake', state, 1);
    rejectUnknownFields('fake', rec, ['version', 'counter']);
    this.counter = intField('fake', rec, 'counter', 0, 100);
  }
}

/** A driver for FakeDevice: queue 0 of QSIZE entries, queue 1 of 4. */
class Guest extends VirtioMmioDriver {
  readonly dev: FakeDevice;
  readonly irq: boolean[];
  /** What the transport logged. */
  readonly logs: string[];

  constructor() {
    const mem = new PhysicalMemory();
    mem.addRam(RAM, 1 << 20);
    const dev = new FakeDevice();
    const irq: boolean[] = [];
    const logs: string[] = [];
    super(new VirtioMmioTransport(mem, dev, (l) => irq.push(l), { log: (m) => logs.push(m) }), [QSIZE, 4]);
    this.dev = dev;
    this.irq = irq;
    this.logs = logs;
  }
}

/** Makes a one-descriptor writable chain available on queue q with descriptor index i. */
function offer(s: Guest, q: number, i: number, len = 16): void {
  s.queues[q].addChain([{ addr: BUF + 0x100 * i, len, writable: true }], { head: i });
}

test('identification registers', () => {
  const s = new Guest();
  assert.equal(s.rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
  assert.equal(s.rd(VIRTIO_MMIO_VERSION), 2);
  assert.equal(s.rd(VIRTIO_MMIO_DEVICE_ID), 42);
  assert.equal(s.rd(VIRTIO_MMIO_VENDOR_ID_REG), VIRTIO_MMIO_VENDOR_ID);
  // Only aligned 32-bit accesses reach control registers.
  assert.equal(s.rd(VIRTIO_MMIO_MAGIC_VALUE, 1), 0);
  assert.equal(s.rd(VIRTIO_MMIO_MAGIC_VALUE + 2, 4), 0);
  assert.equal(s.rd(VIRTIO_MMIO_MAGIC_VALUE, 8), 0);
  // No shared memory regions.
  s.wr(VIRTIO_MMIO_SHM_SEL, 0);
  assert.equal(s.rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffff_ffff);
  assert.equal(s.rd(VIRTIO_MMIO_SHM_LEN_HIGH), 0xffff_ffff);
  // Absent queues.
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 2);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
  s.wr(VIRTIO_MMIO_QUEUE_READY, 1);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_READY), 0);
});

test('init sequence: features offered, negotiated, queues live at DRIVER_OK', () => {
  const s = new Guest();
  const offered = s.deviceFeatures();
  assert.equal(offered, s.dev.features | VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX);
  s.wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
  assert.equal(s.rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
  s.init(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | (1n << 5n));
  assert.equal(s.transport.negotiatedFeatures, VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | (1n << 5n));
  assert.equal(s.transport.queues[0].eventIdx, true);
  assert.equal(s.transport.queues[0].indirect, false);
  assert.equal(s.transport.driverOk, true);
  assert.deepEqual(s.dev.log, ['reset', `accept ${(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | (1n << 5n)).toString(16)}`, 'activate']);
  assert.deepEqual(s.logs, []);
});

test('FEATURES_OK is refused for legacy drivers, unoffered bits, or when the device says no', () => {
  const attempt = (features: bigint, refuse = false): number => {
    const s = new Guest();
    s.dev.refuse = refuse;
    s.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    s.writeDriverFeatures(features);
    s.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return s.rd(VIRTIO_MMIO_STATUS);
  };
  assert.equal(attempt(VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK, VIRTIO_STATUS_FEATURES_OK);
  assert.equal(attempt(1n) & VIRTIO_STATUS_FEATURES_OK, 0); // no VERSION_1: a legacy driver
  assert.equal(attempt(VIRTIO_F_VERSION_1 | (1n << 3n)) & VIRTIO_STATUS_FEATURES_OK, 0); // not offered
  assert.equal(attempt(VIRTIO_F_VERSION_1, true) & VIRTIO_STATUS_FEATURES_OK, 0);
  assert.equal(attempt(1n), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);

  // Driver features cannot change after FEATURES_OK.
  const s = new Guest();
  s.init();
  s.writeDriverFeatures(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
  assert.equal(s.transport.negotiatedFeatures, VIRTIO_F_VERSION_1);
  // The driver can set FAILED; it cannot clear bits.
  s.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
  assert.equal(s.rd(VIRTIO_MMIO_STATUS), 0x0f);
  s.wr(VIRTIO_MMIO_STATUS, 0x0f | VIRTIO_STATUS_FAILED);
  assert.equal(s.rd(VIRTIO_MMIO_STATUS), 0x8f);
  // Nor set DEVICE_NEEDS_RESET.
  s.wr(VIRTIO_MMIO_STATUS, 0xff);
  assert.equal(s.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('DRIVER_OK before FEATURES_OK sets DEVICE_NEEDS_RESET', () => {
  const s = new Guest();
  s.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
  assert.equal(s.rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.equal(s.transport.driverOk, false);
  assert.equal(s.logs.length, 1);
  assert.ok(!s.dev.log.includes('activate'));
});

test('notify reaches the device only when live; used buffers raise the interrupt; ACK lowers it', () => {
  const s = new Guest();
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0); // before init: ignored
  s.init();
  s.dev.log.length = 0;
  offer(s, 0, 3, 24);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.deepEqual(s.dev.log, ['notify 0']);
  assert.equal(s.queues[0].usedIdx, 1);
  assert.deepEqual(s.queues[0].usedElem(0), { id: 3, len: 24 });
  assert.deepEqual(s.irq, [true]);
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
  s.wr(VIRTIO_MMIO_INTERRUPT_ACK, 1);
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
  assert.deepEqual(s.irq, [true, false]);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 7); // no such queue
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0x1_0001); // the high half is notification data we did not offer
  assert.deepEqual(s.dev.log, ['notify 0', 'notify 1']);
  // A disabled queue is not notified.
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 1);
  s.wr(VIRTIO_MMIO_QUEUE_READY, 0);
  assert.equal(s.rd(VIRTIO_MMIO_QUEUE_READY), 0);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
  assert.deepEqual(s.dev.log, ['notify 0', 'notify 1']);
});

test('queue layout registers are frozen while the queue is ready', () => {
  const s = new Guest();
  s.init();
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  s.wr(VIRTIO_MMIO_QUEUE_NUM, 2);
  s.wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
  assert.equal(s.transport.queues[0].size, QSIZE);
  assert.equal(s.transport.queues[0].descLo, s.queues[0].layout.desc >>> 0);
});

test('config space: sized accesses, bounds, generation and the config interrupt', () => {
  const s = new Guest();
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG, 1), 1);
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG + 2, 2), 0x0403);
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG + 4, 4), 0x08070605);
  const v = new MmioValue();
  s.transport.read(VIRTIO_MMIO_CONFIG, 8, v);
  assert.deepEqual([v.lo >>> 0, v.hi >>> 0], [0x04030201, 0x08070605]);
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG + 8, 1), 0); // beyond the config space
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG + 6, 4), 0); // straddles the end
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG + 1, 2), 0); // misaligned
  s.wr(VIRTIO_MMIO_CONFIG + 1, 0xabcd, 1);
  assert.equal(s.dev.config[1], 0xcd);
  s.wr(VIRTIO_MMIO_CONFIG + 8, 0xff, 1);
  s.wr(0x200, 0xff, 4);
  const gen = s.rd(VIRTIO_MMIO_CONFIG_GENERATION);
  s.transport.configChanged(); // before DRIVER_OK: no interrupt
  assert.equal(s.rd(VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
  assert.deepEqual(s.irq, []);
  s.init();
  s.transport.configChanged();
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 2);
  assert.deepEqual(s.irq, [true]);
});

test('a malformed chain sets DEVICE_NEEDS_RESET with a config interrupt; reset recovers', () => {
  const s = new Guest();
  s.init();
  // A two-descriptor loop.
  const q = s.queues[0];
  q.writeDescriptor(0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
  q.writeDescriptor(1, BUF, 4, VIRTQ_DESC_F_NEXT, 0);
  q.makeAvailable(0);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.notEqual(s.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 2);
  assert.deepEqual(s.irq, [true]);
  assert.equal(s.logs.length, 1);
  assert.match(s.logs[0], /needs reset: queue 0: descriptor chain/);
  assert.equal(s.transport.driverOk, false);
  s.dev.log.length = 0;
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.deepEqual(s.dev.log, []);

  // Reset: everything back to the initial state, the line lowered.
  s.wr(VIRTIO_MMIO_STATUS, 0);
  assert.equal(s.rd(VIRTIO_MMIO_STATUS), 0);
  assert.equal(s.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
  assert.deepEqual(s.irq, [true, false]);
  assert.deepEqual(s.dev.log, ['reset']);
  assert.equal(s.transport.queues[0].ready, false);
  assert.equal(s.transport.queues[0].broken, false);
  assert.equal(s.transport.negotiatedFeatures, 0n);
  // And the device works again (init gives the driver fresh, zeroed rings).
  s.init();
  offer(s, 0, 0);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.equal(q.usedIdx, 1);
});

test('a queue enabled with rings outside RAM sets DEVICE_NEEDS_RESET', () => {
  const s = new Guest();
  s.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  s.writeDriverFeatures(VIRTIO_F_VERSION_1);
  s.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
  s.wr(VIRTIO_MMIO_QUEUE_SEL, 0);
  s.wr(VIRTIO_MMIO_QUEUE_NUM, QSIZE);
  s.wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000_0000);
  s.wr(VIRTIO_MMIO_QUEUE_READY, 1);
  assert.notEqual(s.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
  assert.deepEqual(s.irq, []); // no interrupt before DRIVER_OK
});

test('event-idx suppression through the transport', () => {
  const s = new Guest();
  s.init(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
  s.queues[0].usedEvent = 1; // interrupt after the 2nd entry
  offer(s, 0, 0);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.deepEqual(s.irq, []);
  offer(s, 0, 1);
  s.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  assert.deepEqual(s.irq, [true]);
});

test('state round-trips with the device part; a restored queue is processed', () => {
  const a = new Guest();
  a.init(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
  a.dev.counter = 7;
  offer(a, 0, 0);
  a.wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
  a.transport.configChanged();
  // A buffer made available but not yet notified when the snapshot is taken.
  offer(a, 0, 1);
  const saved = JSON.parse(JSON.stringify(a.transport.saveState())) as unknown;

  // Restore into a fresh machine holding a copy of the guest RAM.
  const b = new Guest();
  b.mem.writeBytes(RAM, a.mem.readBytes(RAM, 1 << 20));
  b.transport.loadState(saved);
  assert.equal(b.dev.counter, 7);
  assert.equal(b.rd(VIRTIO_MMIO_STATUS), 0x0f);
  assert.equal(b.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 3);
  assert.equal(b.irq[b.irq.length - 1], true);
  assert.equal(b.transport.negotiatedFeatures, VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
  assert.equal(b.transport.queues[0].eventIdx, true);
  assert.deepEqual(b.dev.log, ['notify 0', 'notify 1']); // restored queues are looked at
  assert.equal(b.queues[0].usedIdx, 2); // the pending buffer was used
  const again = b.transport.saveState();
  assert.equal(again.queues.length, 2);

  // Invalid state changes nothing.
  const c = new Guest();
  const before = JSON.stringify(c.transport.saveState());
  const bad = (patch: Record<string, unknown>): void => {
    assert.throws(() => c.transport.loadState({ ...(saved as object), ...patch }), DeviceStateError);
    assert.equal(JSON.stringify(c.transport.saveState()), before);
  };
  bad({ version: 2 });
  bad({ deviceId: 1 });
  bad({ status: 256 });
  bad({ driverFeatures: String(VIRTIO_F_VERSION_1 | (1n << 3n)) }); // never offered
  bad({ interruptStatus: 4 });
  bad({ queues: [] });
  bad({ queues: [{}, {}] });
  bad({ device: { version: 1, counter: 1000 } });
  bad({ unknown: true });
});
