/**
 * Split virtqueues, device side (virtio 1.2 §2.7): the descriptor table, the available ring the
 * driver fills and the used ring the device fills, all in guest RAM.
 *
 *   descriptor table  16-byte aligned, 16 * size bytes
 *     +0  le64 addr     guest physical address of the buffer
 *     +8  le32 len
 *     +12 le16 flags    NEXT 1, WRITE 2 (device-writable), INDIRECT 4 (addr/len is a table)
 *     +14 le16 next
 *   available ring    2-byte aligned, 6 + 2 * size bytes
 *     +0  le16 flags    NO_INTERRUPT 1 (ignored with VIRTIO_F_EVENT_IDX)
 *     +2  le16 idx      free-running; the driver's next slot
 *     +4  le16 ring[size]  heads of descriptor chains
 *     +4+2*size le16 used_event   (VIRTIO_F_EVENT_IDX) interrupt me when used idx passes this
 *   used ring         4-byte aligned, 6 + 8 * size bytes
 *     +0  le16 flags    NO_NOTIFY 1 (ignored by drivers with VIRTIO_F_EVENT_IDX)
 *     +2  le16 idx
 *     +4  { le32 id; le32 len } ring[size]
 *     +4+8*size le16 avail_event  (VIRTIO_F_EVENT_IDX) notify me when avail idx passes this
 *
 * Everything read from the rings is untrusted. Any malformed input — a head or next index out of
 * range, a chain longer than the queue (a loop), an indirect table in an indirect table or without
 * VIRTIO_F_INDIRECT_DESC, INDIRECT together with NEXT, a table whose length is not a multiple of 16,
 * a buffer outside RAM or crossing a RAM region's end, a device-writable buffer in ROM, an available
 * index that moved more than `size` ahead — is reported once through the error sink (the transport
 * then sets DEVICE_NEEDS_RESET) and the queue stops; nothing throws.
 *
 * Hot path: pop() fills a caller-owned DescriptorChain whose typed arrays are reused (they grow,
 * rarely, when a longer chain than ever before arrives); ring and descriptor reads go straight to
 * the memory arena through offsets computed once when the queue is enabled. Writes into guest RAM
 * do the same bookkeeping as PhysicalMemory.writeBytes: decoded code on the page is dropped, the
 * page is marked dirty and write watches run.
 *
 * Assumes a little-endian host (as the hart does: the arena's Int32Array views are guest words).
 */

import { PAGE_SHIFT, PAGE_WATCH, type PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError, boolField, intField, parseU64, u64ToString } from '../device-state.js';

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
/** Largest split queue (§2.7: Queue Size is a power of 2 up to 32768). */
export const VIRTQ_MAX_SIZE = 32768;
/** Longest indirect table accepted (entries); bounds the work one chain can cause. */
export const VIRTQ_MAX_INDIRECT = 32768;

const DESC_SIZE = 16;
const TWO_32 = 0x1_0000_0000;
/** Guest addresses must stay below 2^53 to be exact JS numbers (RISC-V PAs are at most 56 bits). */
const MAX_ADDR_HI = 0x20_0000;

/** Receives guest errors found in a queue (the transport marks the device DEVICE_NEEDS_RESET). */
export interface VirtqueueErrorSink {
  deviceError(message: string): void;
}

/**
 * One descriptor chain as a list of segments (guest address, length, writable), plus cursors that
 * copy out of the device-readable part and into the device-writable part in order.
 * Owned by a device and reused for every pop; valid until the next pop into it.
 */
export class DescriptorChain {
  /** Head descriptor index: what goes into the used ring. */
  head = 0;
  /** Number of segments. */
  count = 0;
  /** Total bytes in device-readable / device-writable segments. */
  readableLength = 0;
  writableLength = 0;
  /** Bytes written through write() since the pop: the used length to report. */
  bytesWritten = 0;

  /** Per segment: guest physical address, arena offset, length, writable (1) or readable (0). */
  addr: Float64Array;
  offset: Uint32Array;
  length: Uint32Array;
  writable: Uint8Array;

  private readonly memory: PhysicalMemory;
  // Cursors: segment index and offset in it, for the readable and the writable part.
  private rSeg = 0;
  private rOff = 0;
  private wSeg = 0;
  private wOff = 0;

  constructor(memory: PhysicalMemory, capacity = 16) {
    this.memory = memory;
    this.addr = new Float64Array(capacity);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.writable = new Uint8Array(capacity);
  }

  /** Bytes of the readable part not yet consumed by read(). */
  get readRemaining(): number {
    let n = -this.rOff;
    for (let i = this.rSeg; i < this.count; i++) if (this.writable[i] === 0) n += this.length[i];
    return Math.max(0, n);
  }

  /** Bytes of the writable part not yet reached by write() / skipWrite(). */
  get writeRemaining(): number {
    let n = -this.wOff;
    for (let i = this.wSeg; i < this.count; i++) if (this.writable[i] !== 0) n += this.length[i];
    return Math.max(0, n);
  }

  /**
   * Copies the next bytes of the device-readable part into dst[dstOffset ..]; returns how many
   * (less than asked when the readable part runs out).
   */
  read(dst: Uint8Array, dstOffset = 0, length = dst.length - dstOffset): number {
    return this.consumeReadable(dst, dstOffset, length);
  }

  /** Skips the next `length` readable bytes; returns how many were skipped. */
  skipRead(length: number): number {
    return this.consumeReadable(null, 0, length);
  }

  /**
   * Copies src[srcOffset .. +length] into the next bytes of the device-writable part; returns how
   * many fit. Marks the pages dirty, drops decoded code on them and runs write watches.
   */
  write(src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): number {
    const done = this.consumeWritable(src, srcOffset, length);
    this.bytesWritten += done;
    return done;
  }

  /** Skips the next `length` writable bytes (left as they are, not counted as written). */
  skipWrite(length: number): number {
    return this.consumeWritable(null, 0, length);
  }

  /** Walks the readable segments for `length` bytes, copying them to dst unless it is null. */
  private consumeReadable(dst: Uint8Array | null, dstOffset: number, length: number): number {
    const u8 = this.memory.u8;
    let done = 0;
    while (done < length && this.rSeg < this.count) {
      const s = this.rSeg;
      if (this.writable[s] !== 0 || this.rOff >= this.length[s]) {
        this.rSeg++;
        this.rOff = 0;
        continue;
      }
      const n = Math.min(length - done, this.length[s] - this.rOff);
      if (dst !== null) copyBytes(dst, dstOffset + done, u8, this.offset[s] + this.rOff, n);
      done += n;
      this.rOff += n;
    }
    return done;
  }

  /** Walks the writable segments for `length` bytes, copying src into them unless it is null. */
  private consumeWritable(src: Uint8Array | null, srcOffset: number, length: number): number {
    let done = 0;
    while (done < length && this.wSeg < this.count) {
      const s = this.wSeg;
      if (this.writable[s] === 0 || this.wOff >= this.length[s]) {
        this.wSeg++;
        this.wOff = 0;
        continue;
      }
      const n = Math.min(length - done, this.length[s] - this.wOff);
      if (src !== null) {
        const off = this.offset[s] + this.wOff;
        beforeDmaWrite(this.memory, off, n);
        copyBytes(this.memory.u8, off, src, srcOffset + done, n);
        afterDmaWrite(this.memory, off, this.addr[s] + this.wOff, n);
      }
      done += n;
      this.wOff += n;
    }
    return done;
  }

  /**
   * Fills the next `length` writable bytes by calling fill(view of the arena, offset, n) for each
   * piece (no copy: e.g. an entropy source or a disk read writes straight into guest RAM).
   * Returns the bytes filled.
   */
  writeWith(length: number, fill: (arena: Uint8Array, offset: number, n: number) => void): number {
    let done = 0;
    while (done < length && this.wSeg < this.count) {
      const s = this.wSeg;
      if (this.writable[s] === 0 || this.wOff >= this.length[s]) {
        this.wSeg++;
        this.wOff = 0;
        continue;
      }
      const n = Math.min(length - done, this.length[s] - this.wOff);
      const off = this.offset[s] + this.wOff;
      beforeDmaWrite(this.memory, off, n);
      fill(this.memory.u8, off, n);
      afterDmaWrite(this.memory, off, this.addr[s] + this.wOff, n);
      done += n;
      this.wOff += n;
    }
    this.bytesWritten += done;
    return done;
  }

  /** Empties the chain (called by pop). */
  reset(): void {
    this.count = 0;
    this.readableLength = 0;
    this.writableLength = 0;
    this.bytesWritten = 0;
    this.rSeg = this.rOff = this.wSeg = this.wOff = 0;
  }

  /** Appends a segment, growing the arrays when full (rare: only for a record-long chain). */
  push(addr: number, offset: number, length: number, writable: boolean): void {
    if (this.count === this.addr.length) this.grow();
    const i = this.count++;
    this.addr[i] = addr;
    this.offset[i] = offset;
    this.length[i] = length;
    this.writable[i] = writable ? 1 : 0;
    if (writable) this.writableLength += length;
    else this.readableLength += length;
  }

  private grow(): void {
    const n = this.addr.length * 2 || 16;
    const addr = new Float64Array(n);
    addr.set(this.addr);
    const offset = new Uint32Array(n);
    offset.set(this.offset);
    const length = new Uint32Array(n);
    length.set(this.length);
    const writable = new Uint8Array(n);
    writable.set(this.writable);
    this.addr = addr;
    this.offset = offset;
    this.length = length;
    this.writable = writable;
  }
}

export interface VirtqueueState {
  size: number;
  ready: boolean;
  desc: string;
  driver: string;
  device: string;
  lastAvailIdx: number;
  usedIdx: number;
  signalledUsedIdx: number;
  notificationsSuppressed: boolean;
}

export class Virtqueue {
  readonly index: number;
  readonly maxSize: number;
  /** Set by the driver (QueueNum); a power of 2 up to maxSize when the queue is enabled. */
  size: number;
  ready = false;
  /** Ring addresses as written by the driver, in 32-bit halves. */
  descLo = 0;
  descHi = 0;
  driverLo = 0;
  driverHi = 0;
  deviceLo = 0;
  deviceHi = 0;
  /** Negotiated ring features (set by the transport at FEATURES_OK). */
  eventIdx = false;
  indirect = false;
  /** True after a guest error: the queue does nothing until reset. */
  broken = false;

  /** Next available-ring slot to consume (free-running u16). */
  lastAvailIdx = 0;
  /** Our copy of used.idx (free-running u16). */
  usedIdx = 0;
  /** used.idx when the driver was last considered for an interrupt. */
  private signalledUsedIdx = 0;
  private notificationsSuppressed = false;

  private readonly memory: PhysicalMemory;
  private readonly errors: VirtqueueErrorSink;
  /** Arena offsets of the three parts, valid while `active`. */
  private descOff = 0;
  private availOff = 0;
  private usedOff = 0;
  private usedPa = 0;
  private active = false;

  constructor(memory: PhysicalMemory, index: number, maxSize: number, errors: VirtqueueErrorSink) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > VIRTQ_MAX_SIZE || (maxSize & (maxSize - 1)) !== 0) {
      throw new RangeError(`queue size ${maxSize} must be a power of 2 in 1..${VIRTQ_MAX_SIZE}`);
    }
    this.memory = memory;
    this.index = index;
    this.maxSize = maxSize;
    this.size = maxSize;
    this.errors = errors;
  }

  /** Back to the reset state (device reset). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descLo = this.descHi = this.driverLo = this.driverHi = this.deviceLo = this.deviceHi = 0;
    this.eventIdx = false;
    this.indirect = false;
    this.broken = false;
    this.lastAvailIdx = 0;
    this.usedIdx = 0;
    this.signalledUsedIdx = 0;
    this.notificationsSuppressed = false;
    this.active = false;
  }

  /** Ready and usable: enabled, rings validated, no error. */
  get isActive(): boolean {
    return this.active && !this.broken;
  }

  /**
   * Called when the driver writes QueueReady = 1: validates size and ring placement and computes
   * the arena offsets. Reports a guest error (and returns false) when they are unusable.
   */
  enable(): boolean {
    this.ready = true;
    this.active = false;
    const size = this.size;
    if (size < 1 || size > this.maxSize || (size & (size - 1)) !== 0) {
      return this.fail(`queue ${this.index}: size ${size} is not a power of 2 in 1..${this.maxSize}`);
    }
    const desc = this.ramRange(this.descLo, this.descHi, DESC_SIZE * size, 16, false);
    const avail = this.ramRange(this.driverLo, this.driverHi, 6 + 2 * size, 2, false);
    const used = this.ramRange(this.deviceLo, this.deviceHi, 6 + 8 * size, 4, true);
    if (desc < 0 || avail < 0 || used < 0) {
      return this.fail(`queue ${this.index}: the rings are not aligned, writable RAM`);
    }
    this.descOff = desc;
    this.availOff = avail;
    this.usedOff = used;
    this.usedPa = this.deviceHi * TWO_32 + this.deviceLo;
    this.active = true;
    return true;
  }

  /** QueueReady = 0: the driver stops using the queue. */
  disable(): void {
    this.ready = false;
    this.active = false;
  }

  /** Whether the driver has made buffers available that pop() has not taken. */
  hasAvailable(): boolean {
    if (!this.active || this.broken) return false;
    return this.readAvailIdx() !== this.lastAvailIdx;
  }

  /**
   * Takes the next available descriptor chain into `chain`. Returns false when there is none, or
   * on a guest error (reported, queue stopped).
   */
  pop(chain: DescriptorChain): boolean {
    chain.reset();
    if (!this.active || this.broken) return false;
    let availIdx = this.readAvailIdx();
    if (availIdx === this.lastAvailIdx) {
      if (!this.eventIdx || this.notificationsSuppressed) return false;
      // Ask for a notification at the next buffer, then look again: a buffer made available in
      // between would otherwise be neither seen nor notified.
      this.writeAvailEvent(this.lastAvailIdx);
      availIdx = this.readAvailIdx();
      if (availIdx === this.lastAvailIdx) return false;
    }
    if (((availIdx - this.lastAvailIdx) & 0xffff) > this.size) {
      this.fail(`queue ${this.index}: available index moved ${(availIdx - this.lastAvailIdx) & 0xffff} entries ahead of a ${this.size}-entry ring`);
      return false;
    }
    const slot = this.lastAvailIdx & (this.size - 1);
    const head = this.memory.u16[(this.availOff >>> 1) + 2 + slot];
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    if (head >= this.size) {
      this.fail(`queue ${this.index}: head descriptor ${head} is outside a ${this.size}-entry table`);
      return false;
    }
    chain.head = head;
    return this.walk(chain, head);
  }

  /** Puts a chain back (the device cannot handle it yet): the next pop returns it again. */
  unpop(): void {
    this.lastAvailIdx = (this.lastAvailIdx - 1) & 0xffff;
  }

  /** Adds a used-ring entry for the chain with head `head`, `written` bytes written into it. */
  pushUsed(head: number, written: number): void {
    if (!this.active || this.broken) return;
    const mem = this.memory;
    const slot = this.usedIdx & (this.size - 1);
    const elem = this.usedOff + 4 + 8 * slot;
    beforeDmaWrite(mem, elem, 8);
    mem.i32[elem >>> 2] = head;
    mem.i32[(elem >>> 2) + 1] = written;
    afterDmaWrite(mem, elem, this.usedPa + 4 + 8 * slot, 8);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    const idx = this.usedOff + 2;
    beforeDmaWrite(mem, idx, 2);
    mem.u16[idx >>> 1] = this.usedIdx;
    afterDmaWrite(mem, idx, this.usedPa + 2, 2);
  }

  /**
   * Whether the driver wants an interrupt for the used entries added since the last call
   * (VIRTIO_F_EVENT_IDX: used_event; otherwise the avail ring's NO_INTERRUPT flag).
   */
  shouldInterrupt(): boolean {
    if (!this.active || this.broken) return false;
    const now = this.usedIdx;
    const old = this.signalledUsedIdx;
    if (now === old) return false;
    this.signalledUsedIdx = now;
    const u16 = this.memory.u16;
    if (this.eventIdx) {
      const usedEvent = u16[(this.availOff >>> 1) + 2 + this.size];
      // Interrupt when used_event lies in [old, now): i.e. idx went past it.
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (u16[this.availOff >>> 1] & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Asks the driver not to notify (true) or to notify again (false) about new buffers; a device
   * working through the queue asynchronously suppresses notifications meanwhile. After
   * re-enabling, check hasAvailable(): buffers may have arrived unannounced.
   */
  suppressNotifications(suppress: boolean): void {
    this.notificationsSuppressed = suppress;
    if (!this.active || this.broken) return;
    if (this.eventIdx) {
      if (!suppress) this.writeAvailEvent(this.lastAvailIdx);
      return;
    }
    const mem = this.memory;
    beforeDmaWrite(mem, this.usedOff, 2);
    mem.u16[this.usedOff >>> 1] = suppress ? VIRTQ_USED_F_NO_NOTIFY : 0;
    afterDmaWrite(mem, this.usedOff, this.usedPa, 2);
  }

  // ---- state ----

  saveState(): VirtqueueState {
    return {
      size: this.size,
      ready: this.ready,
      desc: u64ToString(this.descLo, this.descHi),
      driver: u64ToString(this.driverLo, this.driverHi),
      device: u64ToString(this.deviceLo, this.deviceHi),
      lastAvailIdx: this.lastAvailIdx,
      usedIdx: this.usedIdx,
      signalledUsedIdx: this.signalledUsedIdx,
      notificationsSuppressed: this.notificationsSuppressed,
    };
  }

  /** Validates a saved queue; returns a function applying it (so a caller can validate all first). */
  static validateState(device: string, index: number, maxSize: number, state: unknown): (q: Virtqueue) => void {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new DeviceStateError(device, `queue ${index} is not an object`);
    }
    const rec = state as Record<string, unknown>;
    const known = ['size', 'ready', 'desc', 'driver', 'device', 'lastAvailIdx', 'usedIdx', 'signalledUsedIdx', 'notificationsSuppressed'];
    for (const key of Object.keys(rec)) {
      if (!known.includes(key)) throw new DeviceStateError(device, `queue ${index}: unknown field '${key}'`);
    }
    const size = intField(device, rec, 'size', 0, maxSize);
    const ready = boolField(device, rec, 'ready');
    const desc = parseU64(device, `queue ${index} desc`, rec.desc);
    const driver = parseU64(device, `queue ${index} driver`, rec.driver);
    const dev = parseU64(device, `queue ${index} device`, rec.device);
    const lastAvailIdx = intField(device, rec, 'lastAvailIdx', 0, 0xffff);
    const usedIdx = intField(device, rec, 'usedIdx', 0, 0xffff);
    const signalledUsedIdx = intField(device, rec, 'signalledUsedIdx', 0, 0xffff);
    const notificationsSuppressed = boolField(device, rec, 'notificationsSuppressed');
    return (q: Virtqueue): void => {
      q.size = size;
      [q.descLo, q.descHi] = desc;
      [q.driverLo, q.driverHi] = driver;
      [q.deviceLo, q.deviceHi] = dev;
      q.lastAvailIdx = lastAvailIdx;
      q.usedIdx = usedIdx;
      q.signalledUsedIdx = signalledUsedIdx;
      q.notificationsSuppressed = notificationsSuppressed;
      q.ready = false;
      q.active = false;
      // Recompute the ring offsets through the guest's own path.
      if (ready) q.enable();
    };
  }

  // ---- internals ----

  private readAvailIdx(): number {
    return this.memory.u16[(this.availOff >>> 1) + 1];
  }

  private writeAvailEvent(value: number): void {
    const mem = this.memory;
    const off = this.usedOff + 4 + 8 * this.size;
    beforeDmaWrite(mem, off, 2);
    mem.u16[off >>> 1] = value;
    afterDmaWrite(mem, off, this.usedPa + 4 + 8 * this.size, 2);
  }

  /** Follows a chain from `head` into `chain`. */
  private walk(chain: DescriptorChain, head: number): boolean {
    const i32 = this.memory.i32;
    const size = this.size;
    let index = head;
    // A chain visits at most `size` descriptors; more means a loop.
    for (let steps = 0; ; steps++) {
      if (steps >= size) return this.fail(`queue ${this.index}: descriptor chain from ${head} loops or exceeds the queue size`);
      const w = (this.descOff + DESC_SIZE * index) >>> 2;
      const addrLo = i32[w] >>> 0;
      const addrHi = i32[w + 1] >>> 0;
      const len = i32[w + 2] >>> 0;
      const flagsNext = i32[w + 3];
      const flags = flagsNext & 0xffff;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (!this.indirect) return this.fail(`queue ${this.index}: indirect descriptor without VIRTIO_F_INDIRECT_DESC`);
        if ((flags & VIRTQ_DESC_F_NEXT) !== 0) return this.fail(`queue ${this.index}: descriptor ${index} has both INDIRECT and NEXT`);
        return this.walkIndirect(chain, addrLo, addrHi, len);
      }
      if (!this.addSegment(chain, addrLo, addrHi, len, (flags & VIRTQ_DESC_F_WRITE) !== 0)) return false;
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) return true;
      index = flagsNext >>> 16;
      if (index >= size) return this.fail(`queue ${this.index}: next descriptor ${index} is outside a ${size}-entry table`);
    }
  }

  private walkIndirect(chain: DescriptorChain, addrLo: number, addrHi: number, len: number): boolean {
    if (len === 0 || len % DESC_SIZE !== 0 || len / DESC_SIZE > VIRTQ_MAX_INDIRECT) {
      return this.fail(`queue ${this.index}: indirect table of ${len} bytes`);
    }
    const table = this.ramRange(addrLo, addrHi, len, 1, false);
    if (table < 0) return this.fail(`queue ${this.index}: indirect table is not in RAM`);
    const entries = len / DESC_SIZE;
    const mem = this.memory;
    let index = 0;
    for (let steps = 0; ; steps++) {
      if (steps >= entries) return this.fail(`queue ${this.index}: indirect chain loops`);
      const off = table + DESC_SIZE * index;
      const dAddrLo = read32(mem, off);
      const dAddrHi = read32(mem, off + 4);
      const dLen = read32(mem, off + 8);
      const flagsNext = read32(mem, off + 12);
      const flags = flagsNext & 0xffff;
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) return this.fail(`queue ${this.index}: indirect descriptor inside an indirect table`);
      if (!this.addSegment(chain, dAddrLo, dAddrHi, dLen, (flags & VIRTQ_DESC_F_WRITE) !== 0)) return false;
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) return true;
      index = flagsNext >>> 16;
      if (index >= entries) return this.fail(`queue ${this.index}: next descriptor ${index} is outside a ${entries}-entry indirect table`);
    }
  }

  private addSegment(chain: DescriptorChain, addrLo: number, addrHi: number, len: number, writable: boolean): boolean {
    if (len === 0) {
      chain.push(addrHi * TWO_32 + addrLo, 0, 0, writable); // nothing to access: no address check
      return true;
    }
    const off = this.ramRange(addrLo, addrHi, len, 1, writable);
    if (off < 0) {
      return this.fail(`queue ${this.index}: buffer 0x${(addrHi * TWO_32 + addrLo).toString(16)}+${len} is not ${writable ? 'writable ' : ''}RAM`);
    }
    chain.push(addrHi * TWO_32 + addrLo, off, len, writable);
    return true;
  }

  /**
   * Arena offset of [addr, addr + len) when it lies in one RAM region (not ROM if `writable`) and
   * addr is `align`-aligned; -1 otherwise.
   */
  private ramRange(addrLo: number, addrHi: number, len: number, align: number, writable: boolean): number {
    if (addrHi >= MAX_ADDR_HI || (addrLo & (align - 1)) !== 0) return -1;
    const pa = addrHi * TWO_32 + addrLo;
    const ram = this.memory.ram;
    for (let i = 0; i < ram.length; i++) {
      const r = ram[i];
      const d = pa - r.base;
      if (d >= 0 && d < r.size) {
        if (len > r.size - d || (writable && r.readonly)) return -1;
        return r.arenaOffset + d;
      }
    }
    return -1;
  }

  private fail(message: string): false {
    if (!this.broken) {
      this.broken = true;
      this.errors.deviceError(message);
    }
    return false;
  }
}

// ---- guest-RAM helpers (the bookkeeping of PhysicalMemory.writeBytes, without its lookups) ----

/** Before a device writes [offset, offset + length) of the arena: drops decoded code there. */
export function beforeDmaWrite(memory: PhysicalMemory, offset: number, length: number): void {
  const flags = memory.pageFlags;
  const last = (offset + length - 1) >>> PAGE_SHIFT;
  for (let p = offset >>> PAGE_SHIFT; p <= last; p++) if (flags[p] !== 0) memory.invalidateCode(p);
}

/** After a device wrote [offset, offset + length) (guest address pa): dirty pages, run watches. */
export function afterDmaWrite(memory: PhysicalMemory, offset: number, pa: number, length: number): void {
  const first = offset >>> PAGE_SHIFT;
  const last = (offset + length - 1) >>> PAGE_SHIFT;
  let watched = false;
  for (let p = first; p <= last; p++) {
    memory.dirty[p] = 1;
    if ((memory.pageFlags[p] & PAGE_WATCH) !== 0) watched = true;
  }
  if (watched) memory.notifyWrite(pa, length);
}

/** A little-endian u32 at any arena offset (indirect tables need not be aligned). */
function read32(memory: PhysicalMemory, off: number): number {
  if ((off & 3) === 0) return memory.i32[off >>> 2] >>> 0;
  const u8 = memory.u8;
  return (u8[off] | (u8[off + 1] << 8) | (u8[off + 2] << 16) | (u8[off + 3] << 24)) >>> 0;
}

/** Byte copy; a loop for short runs (no view allocation), set() for long ones. */
function copyBytes(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, n: number): void {
  if (n <= 64) {
    for (let i = 0; i < n; i++) dst[dstOffset + i] = src[srcOffset + i];
  } else {
    dst.set(src.subarray(srcOffset, srcOffset + n), dstOffset);
  }
}
