/**
 * The guest's side of virtio for device tests: a split virtqueue as a driver lays it out in guest
 * RAM (virtio 1.2 §2.7), and the virtio-mmio register sequence a Linux driver uses to bring a device
 * up (§3.1.1, §4.2.3). Test support only: nothing in the product imports it.
 *
 * GuestQueue has two levels. addChain / takeUsed behave like a well-behaved driver (chains on
 * consecutive free descriptors, published in order, used entries consumed once). writeDescriptor,
 * makeAvailable, setAvailIdx and the ring-field accessors write or read raw ring contents, so tests
 * can build the malformed rings a hostile guest would.
 *
 * Layout used by VirtioMmioDriver: queue q's descriptor table, available ring and used ring take one
 * 4 KiB page each, from ringBase + 0x3000 * q (a page holds 256 descriptors).
 */

import { MmioValue, type PhysicalMemory } from '../../../hart/memory.js';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_DEVICE_FEATURES,
  VIRTIO_MMIO_DEVICE_FEATURES_SEL,
  VIRTIO_MMIO_DRIVER_FEATURES,
  VIRTIO_MMIO_DRIVER_FEATURES_SEL,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_QUEUE_DESC_HIGH,
  VIRTIO_MMIO_QUEUE_DESC_LOW,
  VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
  VIRTIO_MMIO_QUEUE_DEVICE_LOW,
  VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
  VIRTIO_MMIO_QUEUE_DRIVER_LOW,
  VIRTIO_MMIO_QUEUE_NOTIFY,
  VIRTIO_MMIO_QUEUE_NUM,
  VIRTIO_MMIO_QUEUE_NUM_MAX,
  VIRTIO_MMIO_QUEUE_READY,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_STATUS,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  type VirtioMmioTransport,
} from '../mmio.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../queue.js';

/** Guest physical addresses of a split virtqueue's three parts. */
export interface RingLayout {
  desc: number;
  avail: number;
  used: number;
}

/** One buffer of a chain: device-readable unless `writable`. */
export interface Segment {
  addr: number;
  len: number;
  writable?: boolean;
}

/** A used ring element: the head of a chain and the bytes the device wrote into it. */
export interface UsedElem {
  id: number;
  len: number;
}

/** Queue q's rings in the page-per-part layout described at the top of this file. */
export function ringPages(ringBase: number, q: number): RingLayout {
  const desc = ringBase + 0x3000 * q;
  return { desc, avail: desc + 0x1000, used: desc + 0x2000 };
}

/** The driver's side of one split virtqueue. */
export class GuestQueue {
  /** Where the next chain starts: chains take consecutive descriptors, wrapping at the size. */
  nextDesc = 0;
  /** The driver's copy of avail->idx. */
  availIdx = 0;
  /** The used index up to which entries were consumed. */
  lastUsedIdx = 0;

  constructor(
    readonly mem: PhysicalMemory,
    readonly size: number,
    readonly layout: RingLayout,
  ) {}

  /** Forgets every chain and zeroes both rings, as a driver allocating fresh rings after a reset. */
  reset(): void {
    this.nextDesc = this.availIdx = this.lastUsedIdx = 0;
    this.mem.writeBytes(this.layout.avail, new Uint8Array(6 + 2 * this.size));
    this.mem.writeBytes(this.layout.used, new Uint8Array(6 + 8 * this.size));
  }

  /** Writes descriptor `index` of the queue's table, or of the indirect table at `table`. */
  writeDescriptor(index: number, addr: number, len: number, flags = 0, next = 0, table = this.layout.desc): void {
    const at = table + 16 * index;
    this.mem.writePhys(at, 8, BigInt(addr));
    this.mem.writePhys(at + 8, 4, BigInt(len >>> 0));
    this.mem.writePhys(at + 12, 2, BigInt(flags));
    this.mem.writePhys(at + 14, 2, BigInt(next));
  }

  /**
   * Lays a chain out from `head` (default: the next free descriptor) and makes it available.
   * With `indirectTable`, the segments go into a table at that address (16 bytes each) and the
   * chain is a single INDIRECT descriptor pointing at it. Returns the head.
   */
  addChain(segments: readonly Segment[], options: { head?: number; indirectTable?: number } = {}): number {
    if (segments.length === 0) throw new RangeError('a chain needs at least one segment');
    const head = options.head ?? this.nextDesc;
    const table = options.indirectTable;
    if (table !== undefined) {
      segments.forEach((s, k) => this.writeSegment(s, k, k + 1, k === segments.length - 1, table));
      this.writeDescriptor(head, table, 16 * segments.length, VIRTQ_DESC_F_INDIRECT);
      this.nextDesc = (head + 1) % this.size;
    } else {
      segments.forEach((s, k) => {
        const i = (head + k) % this.size;
        this.writeSegment(s, i, (i + 1) % this.size, k === segments.length - 1, this.layout.desc);
      });
      this.nextDesc = (head + segments.length) % this.size;
    }
    this.makeAvailable(head);
    return head;
  }

  private writeSegment(s: Segment, index: number, next: number, last: boolean, table: number): void {
    const flags = (s.writable === true ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
    this.writeDescriptor(index, s.addr, s.len, flags, last ? 0 : next, table);
  }

  /** Puts chain heads in the available ring and publishes the new index. */
  makeAvailable(...heads: number[]): void {
    for (const h of heads) {
      this.mem.writePhys(this.layout.avail + 4 + 2 * (this.availIdx % this.size), 2, BigInt(h));
      this.availIdx = (this.availIdx + 1) & 0xffff;
    }
    this.mem.writePhys(this.layout.avail + 2, 2, BigInt(this.availIdx));
  }

  /** Publishes an arbitrary avail->idx (and continues from it). */
  setAvailIdx(idx: number): void {
    this.availIdx = idx & 0xffff;
    this.mem.writePhys(this.layout.avail + 2, 2, BigInt(this.availIdx));
  }

  set availFlags(flags: number) {
    this.mem.writePhys(this.layout.avail, 2, BigInt(flags));
  }
  /** VIRTIO_F_EVENT_IDX: interrupt me when the used index passes this. */
  set usedEvent(idx: number) {
    this.mem.writePhys(this.layout.avail + 4 + 2 * this.size, 2, BigInt(idx));
  }
  /** VIRTIO_F_EVENT_IDX: the device wants a notification when avail->idx passes this. */
  get availEvent(): number {
    return Number(this.mem.readPhys(this.layout.used + 4 + 8 * this.size, 2));
  }
  get usedFlags(): number {
    return Number(this.mem.readPhys(this.layout.used, 2));
  }
  get usedIdx(): number {
    return Number(this.mem.readPhys(this.layout.used + 2, 2));
  }
  /** The used element in ring slot `slot` (taken modulo the size). */
  usedElem(slot: number): UsedElem {
    const at = this.layout.used + 4 + 8 * (slot % this.size);
    return { id: Number(this.mem.readPhys(at, 4)), len: Number(this.mem.readPhys(at + 4, 4)) };
  }

  /** The next used element not consumed yet, if any. */
  popUsed(): UsedElem | undefined {
    if (this.lastUsedIdx === this.usedIdx) return undefined;
    const e = this.usedElem(this.lastUsedIdx);
    this.lastUsedIdx = (this.lastUsedIdx + 1) & 0xffff;
    return e;
  }

  /** Every used element not consumed yet, oldest first. */
  takeUsed(): UsedElem[] {
    const out: UsedElem[] = [];
    for (let e = this.popUsed(); e !== undefined; e = this.popUsed()) out.push(e);
    return out;
  }

  /** As a driver re-enabling callbacks with EVENT_IDX: interrupt me at the next used entry. */
  enableCallbacks(): void {
    this.usedEvent = this.lastUsedIdx;
  }
}

/** A driver talking to a virtio-mmio transport through its registers, with one GuestQueue per queue. */
export class VirtioMmioDriver {
  readonly mem: PhysicalMemory;
  readonly queues: readonly GuestQueue[];
  private readonly value = new MmioValue();

  /**
   * @param transport the device under test
   * @param queueSizes the size the driver picks for each queue
   * @param ringBase where queue 0's descriptor table starts (see the layout at the top)
   */
  constructor(
    readonly transport: VirtioMmioTransport,
    queueSizes: readonly number[],
    ringBase = 0x8000_1000, // the second page of RAM on the virt board
  ) {
    this.mem = transport.memory;
    this.queues = queueSizes.map((size, q) => new GuestQueue(this.mem, size, ringPages(ringBase, q)));
  }

  /** Reads a register (size 1, 2 or 4 bytes; the low 32 bits as unsigned). */
  rd(offset: number, size = 4): number {
    this.transport.read(offset, size, this.value);
    return this.value.lo >>> 0;
  }
  wr(offset: number, value: number, size = 4): void {
    this.transport.write(offset, size, value | 0, 0);
  }
  get status(): number {
    return this.rd(VIRTIO_MMIO_STATUS);
  }

  /** The 64 feature bits the device offers. */
  deviceFeatures(): bigint {
    this.wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    const lo = this.rd(VIRTIO_MMIO_DEVICE_FEATURES);
    this.wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return (BigInt(this.rd(VIRTIO_MMIO_DEVICE_FEATURES)) << 32n) | BigInt(lo);
  }
  writeDriverFeatures(features: bigint): void {
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES, Number(features & 0xffff_ffffn));
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    this.wr(VIRTIO_MMIO_DRIVER_FEATURES, Number((features >> 32n) & 0xffff_ffffn));
  }

  /**
   * §3.1.1 steps 1-5: reset (waiting for Status to read 0), ACKNOWLEDGE, DRIVER, the driver
   * features — those the device offers, unless `keepUnoffered` (a driver asking for too much) —
   * then FEATURES_OK. Returns the status read back: FEATURES_OK is clear if the device refused.
   * Every GuestQueue starts afresh.
   */
  negotiate(features: bigint, options: { keepUnoffered?: boolean } = {}): number {
    this.wr(VIRTIO_MMIO_STATUS, 0);
    if (this.status !== 0) throw new Error(`reset: Status reads ${this.status}, not 0`);
    for (const q of this.queues) q.reset();
    this.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    this.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    this.writeDriverFeatures(options.keepUnoffered === true ? features : features & this.deviceFeatures());
    this.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return this.status;
  }

  /** Programs queue `index` from its GuestQueue and sets QueueReady (§4.2.3.2). */
  setupQueue(index: number): void {
    const q = this.queues[index];
    this.wr(VIRTIO_MMIO_QUEUE_SEL, index);
    if (this.rd(VIRTIO_MMIO_QUEUE_READY) !== 0) throw new Error(`queue ${index} is already in use`);
    const max = this.rd(VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max < q.size) throw new Error(`queue ${index}: QueueNumMax ${max} is below the size ${q.size}`);
    this.wr(VIRTIO_MMIO_QUEUE_NUM, q.size);
    const high = (addr: number): number => Math.floor(addr / 2 ** 32);
    this.wr(VIRTIO_MMIO_QUEUE_DESC_LOW, q.layout.desc);
    this.wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, high(q.layout.desc));
    this.wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, q.layout.avail);
    this.wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, high(q.layout.avail));
    this.wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, q.layout.used);
    this.wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, high(q.layout.used));
    this.wr(VIRTIO_MMIO_QUEUE_READY, 1);
    if (this.rd(VIRTIO_MMIO_QUEUE_READY) !== 1) throw new Error(`queue ${index}: QueueReady did not stick`);
  }

  driverOk(): void {
    this.wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  }

  /** The whole §3.1.1 sequence: negotiate (FEATURES_OK must stick), every queue, DRIVER_OK. */
  init(features = VIRTIO_F_VERSION_1): void {
    const status = this.negotiate(features);
    if ((status & VIRTIO_STATUS_FEATURES_OK) === 0) throw new Error(`the device refused features ${features.toString(16)}`);
    for (let q = 0; q < this.queues.length; q++) this.setupQueue(q);
    this.driverOk();
  }

  /** Notifies the device of new buffers on queue `index`. */
  kick(index: number): void {
    this.wr(VIRTIO_MMIO_QUEUE_NOTIFY, index);
  }

  /** Acknowledges every pending interrupt reason, as the interrupt handler does; returns them. */
  ackInterrupts(): number {
    const pending = this.rd(VIRTIO_MMIO_INTERRUPT_STATUS);
    this.wr(VIRTIO_MMIO_INTERRUPT_ACK, pending);
    return pending;
  }
}
