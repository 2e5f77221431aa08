import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue, PhysicalMemory } from '../../hart/memory.js';
import type { BlockBackend } from '../../block/backend.js';
import { DeviceStateError } from '../device-state.js';
import { VIRTQ_AVAIL_F_NO_INTERRUPT } from './queue.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_QUEUE_NUM_MAX,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_STATUS,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VirtioMmioTransport,
} from './mmio.js';
import {
  VirtioBlk,
  VirtioBlkError,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_CONFIG_WCE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_BLK_MAX_DISCARD_SECTORS,
  VIRTIO_BLK_MAX_DISCARD_SEG,
  VIRTIO_BLK_MAX_REQUEST_BYTES,
  VIRTIO_BLK_QUEUE_SIZE,
  VIRTIO_BLK_SEG_MAX,
  VIRTIO_BLK_SIZE_MAX,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_GET_LIFETIME,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
  type VirtioBlkOptions,
} from './blk.js';
import { VirtioMmioDriver, type Segment, type UsedElem } from './testing/guest-driver.js';

// ---- backends ----

/** A disk in host memory; logs every operation; can be told to fail the next ones. */
class MemBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly: boolean;
  readonly data: Uint8Array;
  readonly ops: string[] = [];
  failNext = 0;

  constructor(size: number, readOnly = false) {
    this.size = size;
    this.readOnly = readOnly;
    this.data = new Uint8Array(size);
  }
  async read(offset: number, buf: Uint8Array): Promise<void> {
    this.begin(`read ${offset} ${buf.length}`);
    this.check(offset, buf.length);
    buf.set(this.data.subarray(offset, offset + buf.length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.begin(`write ${offset} ${data.length}`);
    this.check(offset, data.length);
    assert.ok(!this.readOnly, 'write to a read-only backend');
    this.data.set(data, offset);
  }
  async flush(): Promise<void> {
    this.begin('flush');
  }
  async discard(offset: number, length: number): Promise<void> {
    this.begin(`discard ${offset} ${length}`);
    this.check(offset, length);
    this.data.fill(0, offset, offset + length);
  }
  async writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    this.begin(`zeroes ${offset} ${length}${unmap ? ' unmap' : ''}`);
    this.check(offset, length);
    this.data.fill(0, offset, offset + length);
  }
  async close(): Promise<void> {}

  private begin(op: string): void {
    this.ops.push(op);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error(`injected failure in ${op}`);
    }
  }
  private check(offset: number, length: number): void {
    assert.ok(offset % 512 === 0 && length % 512 === 0 && offset + length <= this.size, `bad range ${offset}+${length}`);
  }
}

/** Holds every operation until the test releases it (oldest first). */
class SlowBackend implements BlockBackend {
  readonly inner: MemBackend;
  readonly waiting: { op: string; go: () => void }[] = [];

  constructor(inner: MemBackend) {
    this.inner = inner;
  }
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.hold(`read ${offset}`, () => this.inner.read(offset, buf));
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.hold(`write ${offset}`, () => this.inner.write(offset, data));
  }
  flush(): Promise<void> {
    return this.hold('flush', () => this.inner.flush());
  }
  discard(offset: number, length: number): Promise<void> {
    return this.hold(`discard ${offset}`, () => this.inner.discard(offset, length));
  }
  writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    return this.hold(`zeroes ${offset}`, () => this.inner.writeZeroes(offset, length, unmap));
  }
  async close(): Promise<void> {}

  /** Runs the oldest held operation and lets the device react; returns its name. */
  async step(): Promise<string> {
    const w = this.waiting.shift();
    assert.ok(w !== undefined, 'no backend operation is waiting');
    w.go();
    await settle();
    return w.op;
  }
  private hold(op: string, run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ op, go: () => void run().then(resolve, reject) });
    });
  }
}

/** Lets every pending promise chain run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- a guest-side driver ----

const RAM = 0x8000_0000;
const RAM_SIZE = 4 << 20;
const QSIZE = 64;
const HEAP = RAM + 0x1_0000;
const DISK = 1 << 20; // 2048 sectors

/** A posted request: its head descriptor, status byte address and data buffer addresses. */
interface Req {
  head: number;
  status: number;
  data: number[];
}

const ALL = -1n;

/** A driver for virtio-blk with one queue of QSIZE entries and a bump allocator for buffers. */
class Driver extends VirtioMmioDriver {
  readonly blk: VirtioBlk;
  readonly irq: boolean[];
  readonly errors: string[];
  readonly transportLog: string[];
  private heap = HEAP;

  constructor(backend: BlockBackend, options: VirtioBlkOptions = {}) {
    const mem = new PhysicalMemory();
    mem.addRam(RAM, RAM_SIZE);
    const irq: boolean[] = [];
    const errors: string[] = [];
    const transportLog: string[] = [];
    const blk = new VirtioBlk(mem, backend, { onError: (m) => errors.push(m), ...options });
    super(new VirtioMmioTransport(mem, blk, (l) => irq.push(l), { log: (m) => transportLog.push(m) }), [QSIZE]);
    this.blk = blk;
    this.irq = irq;
    this.errors = errors;
    this.transportLog = transportLog;
  }

  cfg(offset: number, size = 4): number {
    return this.rd(VIRTIO_MMIO_CONFIG + offset, size);
  }

  /** The §3.1.1 initialization sequence; accepts `features` & offered (default: all). */
  override init(features = ALL): void {
    this.wr(VIRTIO_MMIO_QUEUE_SEL, 0);
    assert.equal(this.rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BLK_QUEUE_SIZE);
    super.init(features);
  }

  /** Guest RAM for buffers (bump allocator, 16-byte aligned). */
  alloc(len: number, fill = 0): number {
    const addr = this.heap;
    this.heap += (len + 15) & ~15;
    assert.ok(this.heap <= RAM + RAM_SIZE, 'test heap exhausted');
    if (len > 0) this.mem.writeBytes(addr, new Uint8Array(len).fill(fill));
    return addr;
  }

  /** Posts a chain; with `indirect`, as one descriptor pointing at an indirect table. */
  post(segs: Segment[], opts: { notify?: boolean; indirect?: boolean } = {}): number {
    const head = this.queues[0].addChain(segs, opts.indirect === true ? { indirectTable: this.alloc(16 * segs.length) } : {});
    if (opts.notify !== false) this.kick(0);
    return head;
  }

  /** A 16-byte request header in guest RAM. */
  header(type: number, sector: bigint | number = 0): number {
    const h = this.alloc(16);
    this.mem.writePhys(h, 4, BigInt(type));
    this.mem.writePhys(h + 8, 8, BigInt(sector));
    return h;
  }

  /**
   * Posts header | data segments | status. Writable data buffers start as 0xee, the status as 0xff.
   * `data` gives each segment's length and direction, and optionally its contents.
   */
  request(type: number, sector: bigint | number, data: { len: number; writable: boolean; bytes?: Uint8Array }[], opts: { notify?: boolean; indirect?: boolean } = {}): Req {
    const h = this.header(type, sector);
    const addrs = data.map((d) => {
      const a = this.alloc(d.len, 0xee);
      if (d.bytes !== undefined) this.mem.writeBytes(a, d.bytes);
      return a;
    });
    const status = this.alloc(1, 0xff);
    const head = this.post(
      [{ addr: h, len: 16, writable: false }, ...data.map((d, i) => ({ addr: addrs[i], len: d.len, writable: d.writable })), { addr: status, len: 1, writable: true }],
      opts,
    );
    return { head, status, data: addrs };
  }

  read(sector: number, lens: number[], opts: { notify?: boolean } = {}): Req {
    return this.request(VIRTIO_BLK_T_IN, sector, lens.map((len) => ({ len, writable: true })), opts);
  }

  /** Writes `bytes` at `sector`, split into segments of the given lengths (default: one). */
  write(sector: number, bytes: Uint8Array, lens = [bytes.length], opts: { notify?: boolean } = {}): Req {
    let at = 0;
    return this.request(
      VIRTIO_BLK_T_OUT,
      sector,
      lens.map((len) => {
        const part = bytes.subarray(at, at + len);
        at += len;
        return { len, writable: false, bytes: part };
      }),
      opts,
    );
  }

  /** DISCARD / WRITE_ZEROES with [sector, count, flags] segments. */
  ranges(type: number, segs: [number, number, number][]): Req {
    const bytes = new Uint8Array(16 * segs.length);
    const dv = new DataView(bytes.buffer);
    segs.forEach(([sector, count, flags], i) => {
      dv.setBigUint64(16 * i, BigInt(sector), true);
      dv.setUint32(16 * i + 8, count, true);
      dv.setUint32(16 * i + 12, flags, true);
    });
    return this.request(type, 0, [{ len: bytes.length, writable: false, bytes }]);
  }

  statusOf(r: Req): number {
    return Number(this.mem.readPhys(r.status, 1));
  }
  bytes(addr: number, len: number): Uint8Array {
    return this.mem.readBytes(addr, len);
  }
  /** Used entries not seen yet. */
  takeUsed(): UsedElem[] {
    const used = this.queues[0].takeUsed();
    this.queues[0].enableCallbacks();
    return used;
  }
  /** Waits for the device to finish everything, then returns the new used entries. */
  async done(): Promise<UsedElem[]> {
    await this.blk.drain();
    return this.takeUsed();
  }
}

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- tests ----

test('virtio-blk: device ID 2, features and configuration space', () => {
  const g = new Driver(new MemBackend(DISK));
  assert.equal(g.rd(VIRTIO_MMIO_DEVICE_ID), 2);
  const f = g.deviceFeatures();
  for (const bit of [VIRTIO_BLK_F_SIZE_MAX, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_CONFIG_WCE, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES]) {
    assert.notEqual(f & bit, 0n, `feature ${bit.toString(2)}`);
  }
  assert.equal(f & VIRTIO_BLK_F_RO, 0n);
  assert.equal(g.cfg(0), DISK / 512); // capacity, low half
  assert.equal(g.cfg(4), 0);
  g.transport.read(VIRTIO_MMIO_CONFIG, 8, new MmioValue()); // 8-byte access is allowed
  assert.equal(g.cfg(8), VIRTIO_BLK_SIZE_MAX);
  assert.equal(g.cfg(12), VIRTIO_BLK_SEG_MAX);
  assert.equal(g.cfg(16), 0); // no geometry
  assert.equal(g.cfg(20), 512); // blk_size
  assert.equal(g.cfg(34, 2), 0); // num_queues: no MQ
  assert.equal(g.cfg(36), VIRTIO_BLK_MAX_DISCARD_SECTORS);
  assert.equal(g.cfg(40), VIRTIO_BLK_MAX_DISCARD_SEG);
  assert.equal(g.cfg(44), 8);
  assert.equal(g.cfg(48), VIRTIO_BLK_MAX_DISCARD_SECTORS);
  assert.equal(g.cfg(52), VIRTIO_BLK_MAX_DISCARD_SEG);
  assert.equal(g.cfg(56, 1), 1); // write_zeroes_may_unmap
  assert.equal(g.cfg(57, 1) | g.cfg(58, 2), 0); // unused1
  assert.equal(g.cfg(60), 0); // beyond the config
  assert.equal(VIRTIO_BLK_MAX_REQUEST_BYTES, VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX);

  // A disk whose size is not a multiple of 512 exposes whole sectors only; bad serials are refused.
  const odd = new VirtioBlk(new PhysicalMemory(), new MemBackend(1000));
  assert.equal(odd.capacity, 1);
  assert.throws(() => new VirtioBlk(new PhysicalMemory(), new MemBackend(512), { serial: 'x'.repeat(21) }), (e: unknown) => e instanceof VirtioBlkError && e.code === 'EINVAL');
  assert.throws(() => new VirtioBlk(new PhysicalMemory(), new MemBackend(512), { serial: 'caf\u00e9' }), VirtioBlkError);
});

test('virtio-blk: write then read back, single segment', async () => {
  const backend = new MemBackend(DISK);
  const g = new Driver(backend);
  g.init();
  const data = pattern(4096, 1);
  const w = g.write(8, data);
  assert.deepEqual(await g.done(), [{ id: w.head, len: 1 }]); // only the status byte is written
  assert.equal(g.statusOf(w), VIRTIO_BLK_S_OK);
  assert.deepEqual(backend.data.subarray(8 * 512, 8 * 512 + 4096), data);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS) & 1, 1);
  g.wr(VIRTIO_MMIO_INTERRUPT_ACK, 1);

  const r = g.read(8, [4096]);
  assert.deepEqual(await g.done(), [{ id: r.head, len: 4097 }]);
  assert.equal(g.statusOf(r), VIRTIO_BLK_S_OK);
  assert.deepEqual(g.bytes(r.data[0], 4096), data);
  assert.equal(g.irq.at(-1), true);
  assert.deepEqual(backend.ops, ['write 4096 4096', 'read 4096 4096']);
  assert.equal(g.blk.inFlight, 0);
  assert.deepEqual(g.errors, []);
});

test('virtio-blk: multi-segment requests, indirect tables, and framing independence', async () => {
  const backend = new MemBackend(DISK);
  const g = new Driver(backend);
  g.init();
  const data = pattern(512 + 1024 + 2560 + 512, 2);
  const w = g.write(100, data, [512, 1024, 2560, 512]);
  const r = g.read(100, [1536, 512, 2560]);
  const ri = g.request(VIRTIO_BLK_T_IN, 101, [{ len: 512, writable: true }, { len: 1024, writable: true }], { indirect: true });
  assert.deepEqual(await g.done(), [
    { id: w.head, len: 1 },
    { id: r.head, len: 4609 },
    { id: ri.head, len: 1537 },
  ]);
  assert.deepEqual(backend.data.subarray(100 * 512, 100 * 512 + data.length), data);
  assert.deepEqual(concat([g.bytes(r.data[0], 1536), g.bytes(r.data[1], 512), g.bytes(r.data[2], 2560)]), data.subarray(0, 4608));
  assert.deepEqual(concat([g.bytes(ri.data[0], 512), g.bytes(ri.data[1], 1024)]), data.subarray(512, 2048));

  // Header and data in one readable descriptor; data and status in one writable descriptor.
  const payload = pattern(1024, 3);
  const out = g.alloc(16 + 1024);
  g.mem.writePhys(out, 4, BigInt(VIRTIO_BLK_T_OUT));
  g.mem.writePhys(out + 8, 8, 300n);
  g.mem.writeBytes(out + 16, payload);
  const outStatus = g.alloc(1, 0xff);
  const h1 = g.post([{ addr: out, len: 16 + 1024, writable: false }, { addr: outStatus, len: 1, writable: true }]);
  const inHdr = g.header(VIRTIO_BLK_T_IN, 300);
  const inBuf = g.alloc(1024 + 1, 0xee);
  const h2 = g.post([{ addr: inHdr, len: 16, writable: false }, { addr: inBuf, len: 1025, writable: true }]);
  assert.deepEqual(await g.done(), [
    { id: h1, len: 1 },
    { id: h2, len: 1025 },
  ]);
  assert.equal(Number(g.mem.readPhys(outStatus, 1)), VIRTIO_BLK_S_OK);
  assert.deepEqual(g.bytes(inBuf, 1024), payload);
  assert.equal(Number(g.mem.readPhys(inBuf + 1024, 1)), VIRTIO_BLK_S_OK);

  // A request larger than the device's 1 MiB transfer chunk goes through in pieces.
  const big = pattern(3 << 19, 4); // 1.5 MiB
  const bigDisk = new MemBackend(4 << 20);
  const g2 = new Driver(bigDisk);
  g2.init();
  const w2 = g2.write(16, big);
  await g2.done();
  assert.equal(g2.statusOf(w2), VIRTIO_BLK_S_OK);
  assert.deepEqual(bigDisk.ops, [`write ${16 * 512} ${1 << 20}`, `write ${16 * 512 + (1 << 20)} ${1 << 19}`]);
  const r2 = g2.read(16, [1 << 19, 1 << 20]);
  await g2.done();
  assert.deepEqual(concat([g2.bytes(r2.data[0], 1 << 19), g2.bytes(r2.data[1], 1 << 20)]), big);
});

test('virtio-blk: requests run in order, and a flush only after the writes before it completed', async () => {
  const slow = new SlowBackend(new MemBackend(DISK));
  const g = new Driver(slow);
  g.init();
  const a = g.write(0, pattern(512, 5));
  const b = g.write(1, pattern(512, 6));
  const fl = g.request(VIRTIO_BLK_T_FLUSH, 0, []);
  const r = g.read(0, [1024]);
  assert.equal(g.blk.inFlight, 4);
  // One backend operation at a time, in submission order.
  assert.deepEqual(slow.waiting.map((w) => w.op), ['write 0']);
  assert.equal(await slow.step(), 'write 0');
  assert.deepEqual(g.takeUsed(), [{ id: a.head, len: 1 }]);
  assert.deepEqual(slow.waiting.map((w) => w.op), ['write 512']);
  assert.equal(await slow.step(), 'write 512');
  assert.deepEqual(slow.waiting.map((w) => w.op), ['flush']);
  assert.equal(g.statusOf(fl), 0xff); // not yet
  assert.equal(await slow.step(), 'flush');
  assert.deepEqual(g.takeUsed(), [
    { id: b.head, len: 1 },
    { id: fl.head, len: 1 },
  ]);
  assert.equal(g.statusOf(fl), VIRTIO_BLK_S_OK);
  assert.equal(await slow.step(), 'read 0');
  assert.deepEqual(g.takeUsed(), [{ id: r.head, len: 1025 }]);
  assert.deepEqual(g.bytes(r.data[0], 1024), concat([pattern(512, 5), pattern(512, 6)]));
  assert.equal(g.blk.inFlight, 0);
  await g.blk.drain(); // resolves at once when idle
});

test('virtio-blk: chains posted while busy are picked up without a notification', async () => {
  const slow = new SlowBackend(new MemBackend(DISK));
  const g = new Driver(slow);
  g.init(ALL & ~VIRTIO_F_EVENT_IDX);
  const a = g.read(0, [512]);
  // The device asked not to be notified while it works (used ring flags: NO_NOTIFY).
  assert.equal(g.queues[0].usedFlags & 1, 1);
  const b = g.read(1, [512], { notify: false });
  await slow.step();
  assert.equal(await slow.step(), 'read 512'); // b was found after a completed
  assert.deepEqual(g.takeUsed().map((u) => u.id), [a.head, b.head]);
  assert.equal(g.queues[0].usedFlags & 1, 0); // idle: notifications wanted again
  assert.equal(g.blk.inFlight, 0);
});

test('virtio-blk: GET_ID returns the serial, NUL-padded', async () => {
  const g = new Driver(new MemBackend(DISK), { serial: 'tsvm-disk-0' });
  g.init();
  const r = g.request(VIRTIO_BLK_T_GET_ID, 0, [{ len: 20, writable: true }]);
  assert.deepEqual(await g.done(), [{ id: r.head, len: 21 }]);
  assert.equal(g.statusOf(r), VIRTIO_BLK_S_OK);
  const id = g.bytes(r.data[0], 20);
  assert.equal(String.fromCharCode(...id.subarray(0, 11)), 'tsvm-disk-0');
  assert.deepEqual([...id.subarray(11)], new Array(9).fill(0));

  const full = new Driver(new MemBackend(DISK), { serial: '0123456789abcdefghij' });
  full.init();
  const r2 = full.request(VIRTIO_BLK_T_GET_ID, 0, [{ len: 20, writable: true }]);
  await full.done();
  assert.equal(String.fromCharCode(...full.bytes(r2.data[0], 20)), '0123456789abcdefghij'); // no terminator
  // GET_ID with a readable buffer is a driver error.
  const bad = full.request(VIRTIO_BLK_T_GET_ID, 0, [{ len: 20, writable: false }]);
  await full.done();
  assert.equal(full.statusOf(bad), VIRTIO_BLK_S_IOERR);
});

test('virtio-blk: WRITE_ZEROES and DISCARD', async () => {
  const backend = new MemBackend(DISK);
  backend.data.fill(0x5a);
  const g = new Driver(backend);
  g.init();
  const wz = g.ranges(VIRTIO_BLK_T_WRITE_ZEROES, [[10, 2, 1]]);
  const wz2 = g.ranges(VIRTIO_BLK_T_WRITE_ZEROES, [[20, 1, 0]]);
  const d = g.ranges(VIRTIO_BLK_T_DISCARD, [[30, 4, 0], [40, 0, 0], [50, 1, 0]]);
  await g.done();
  assert.deepEqual([g.statusOf(wz), g.statusOf(wz2), g.statusOf(d)], [0, 0, 0]);
  assert.deepEqual(backend.ops, [
    `zeroes ${10 * 512} 1024 unmap`,
    `zeroes ${20 * 512} 512`,
    `discard ${30 * 512} 2048`,
    `discard ${50 * 512} 512`, // the empty segment is skipped
  ]);
  const r = g.read(10, [1024]);
  await g.done();
  assert.deepEqual(g.bytes(r.data[0], 1024), new Uint8Array(1024));
  assert.equal(backend.data[12 * 512], 0x5a);

  // Spec §5.2.6.2: unmap on DISCARD and unknown flags are UNSUPP; nothing is done.
  backend.ops.length = 0;
  const u1 = g.ranges(VIRTIO_BLK_T_DISCARD, [[0, 1, 0], [1, 1, 1]]);
  const u2 = g.ranges(VIRTIO_BLK_T_WRITE_ZEROES, [[0, 1, 2]]);
  // Out of range, too many sectors, too many segments, a non-multiple of 16: IOERR.
  const e1 = g.ranges(VIRTIO_BLK_T_WRITE_ZEROES, [[0, 1, 0], [DISK / 512 - 1, 2, 0]]);
  const e2 = g.ranges(VIRTIO_BLK_T_DISCARD, [[0, VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0]]);
  const e3 = g.ranges(VIRTIO_BLK_T_DISCARD, Array.from({ length: VIRTIO_BLK_MAX_DISCARD_SEG + 1 }, (_, i): [number, number, number] => [i, 1, 0]));
  const e4 = g.request(VIRTIO_BLK_T_DISCARD, 0, [{ len: 8, writable: false }]);
  const e5 = g.ranges(VIRTIO_BLK_T_DISCARD, [[2 ** 60, 1, 0]]);
  await g.done();
  assert.deepEqual([u1, u2].map((x) => g.statusOf(x)), [VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_S_UNSUPP]);
  assert.deepEqual([e1, e2, e3, e4, e5].map((x) => g.statusOf(x)), new Array(5).fill(VIRTIO_BLK_S_IOERR));
  assert.deepEqual(backend.ops, []);

  // Without the features negotiated, both are UNSUPP.
  const g2 = new Driver(new MemBackend(DISK));
  g2.init(ALL & ~(VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES));
  const n1 = g2.ranges(VIRTIO_BLK_T_DISCARD, [[0, 1, 0]]);
  const n2 = g2.ranges(VIRTIO_BLK_T_WRITE_ZEROES, [[0, 1, 0]]);
  await g2.done();
  assert.deepEqual([g2.statusOf(n1), g2.statusOf(n2)], [VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_S_UNSUPP]);
});

test('virtio-blk: a read-only disk offers F_RO and refuses writes with IOERR', async () => {
  const backend = new MemBackend(DISK, true);
  backend.data.fill(0x11, 0, 512);
  const g = new Driver(backend);
  const f = g.deviceFeatures();
  assert.notEqual(f & VIRTIO_BLK_F_RO, 0n);
  assert.equal(f & (VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES), 0n);
  g.init();
  const w = g.write(0, pattern(512, 7));
  const d = g.ranges(VIRTIO_BLK_T_DISCARD, [[0, 1, 0]]);
  const r = g.read(0, [512]);
  const fl = g.request(VIRTIO_BLK_T_FLUSH, 0, []);
  await g.done();
  assert.equal(g.statusOf(w), VIRTIO_BLK_S_IOERR);
  assert.equal(g.statusOf(d), VIRTIO_BLK_S_UNSUPP); // not offered on a read-only disk
  assert.equal(g.statusOf(r), VIRTIO_BLK_S_OK);
  assert.equal(g.statusOf(fl), VIRTIO_BLK_S_OK);
  assert.deepEqual(g.bytes(r.data[0], 512), new Uint8Array(512).fill(0x11));
  assert.deepEqual(backend.ops, ['read 0 512', 'flush']);
});

test('virtio-blk: sectors out of range and bad lengths complete with IOERR', async () => {
  const backend = new MemBackend(DISK);
  const g = new Driver(backend);
  g.init();
  const last = DISK / 512 - 1;
  const ok = g.read(last, [512]);
  const past = g.read(last + 1, [512]);
  const straddle = g.read(last, [1024]);
  const huge = g.request(VIRTIO_BLK_T_OUT, 0xffff_ffff_ffff_fff0n, [{ len: 512, writable: false }]);
  const odd = g.read(0, [100]);
  const zeroRead = g.read(0, []);
  const zeroWrite = g.request(VIRTIO_BLK_T_OUT, 0, []);
  await g.done();
  assert.equal(g.statusOf(ok), VIRTIO_BLK_S_OK);
  for (const r of [past, straddle, huge, odd, zeroRead, zeroWrite]) assert.equal(g.statusOf(r), VIRTIO_BLK_S_IOERR);
  // A failed read leaves its buffer alone and reports only the status byte... after the buffer.
  assert.deepEqual(g.bytes(past.data[0], 512), new Uint8Array(512).fill(0xee));
  assert.deepEqual(backend.ops, [`read ${last * 512} 512`]);
  assert.equal(g.blk.guestErrors, 6);
  assert.equal(g.errors.length, 1, 'guest errors are reported once');
  assert.match(g.errors[0], /read beyond the end of a 2048-sector disk/);
  assert.equal(g.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('virtio-blk: malformed requests get IOERR / UNSUPP, or DEVICE_NEEDS_RESET when no status fits', async () => {
  const backend = new MemBackend(DISK);
  const g = new Driver(backend);
  g.init();
  // Header in a writable descriptor: no readable header; the status goes in the last writable byte.
  const hdr = g.header(VIRTIO_BLK_T_IN, 0);
  const buf = g.alloc(512, 0xee);
  const st = g.alloc(1, 0xff);
  g.post([{ addr: hdr, len: 16, writable: true }, { addr: buf, len: 512, writable: true }, { addr: st, len: 1, writable: true }]);
  // Header too short.
  const short = g.alloc(8);
  const st2 = g.alloc(1, 0xff);
  g.post([{ addr: short, len: 8, writable: false }, { addr: st2, len: 1, writable: true }]);
  // Data in the wrong direction: a read whose buffer is device-readable, a write whose data is writable.
  const wrongIn = g.request(VIRTIO_BLK_T_IN, 0, [{ len: 512, writable: false }]);
  const wrongOut = g.request(VIRTIO_BLK_T_OUT, 0, [{ len: 512, writable: true }]);
  // Unknown and not-offered request types.
  const unknown = g.request(0x77, 0, []);
  const lifetime = g.request(VIRTIO_BLK_T_GET_LIFETIME, 0, [{ len: 8, writable: true }]);
  await g.done();
  assert.equal(Number(g.mem.readPhys(st, 1)), VIRTIO_BLK_S_IOERR);
  assert.deepEqual(g.bytes(buf, 512), new Uint8Array(512).fill(0xee));
  assert.equal(Number(g.mem.readPhys(st2, 1)), VIRTIO_BLK_S_IOERR);
  assert.equal(g.statusOf(wrongIn), VIRTIO_BLK_S_IOERR);
  assert.equal(g.statusOf(wrongOut), VIRTIO_BLK_S_IOERR);
  assert.equal(g.statusOf(unknown), VIRTIO_BLK_S_UNSUPP);
  assert.equal(g.statusOf(lifetime), VIRTIO_BLK_S_UNSUPP);
  assert.deepEqual(backend.ops, []);
  assert.equal(g.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

  // Too large: 65 segments of the same 1 MiB buffer (65 MiB > 63.5 MiB), and too many segments.
  const mib = g.alloc(1 << 20);
  const h1 = g.header(VIRTIO_BLK_T_IN, 0);
  const s1 = g.alloc(1, 0xff);
  g.post([{ addr: h1, len: 16, writable: false }, ...Array.from({ length: 65 }, () => ({ addr: mib, len: 1 << 20, writable: true })), { addr: s1, len: 1, writable: true }], { indirect: true });
  const many = g.request(VIRTIO_BLK_T_IN, 0, Array.from({ length: VIRTIO_BLK_SEG_MAX + 1 }, () => ({ len: 512, writable: true })), { indirect: true });
  await g.done();
  assert.equal(Number(g.mem.readPhys(s1, 1)), VIRTIO_BLK_S_IOERR);
  assert.equal(g.statusOf(many), VIRTIO_BLK_S_IOERR);
  assert.deepEqual(backend.ops, []);

  // No device-writable byte at all: nowhere to put a status. The device needs a reset.
  const h2 = g.header(VIRTIO_BLK_T_FLUSH, 0);
  g.post([{ addr: h2, len: 16, writable: false }]);
  const after = g.read(0, [512]);
  assert.notEqual(g.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
  assert.match(g.transportLog.join('\n'), /no device-writable status byte/);
  await g.done();
  assert.equal(g.statusOf(after), 0xff); // the stopped queue is left alone
  assert.deepEqual(g.takeUsed(), []);
  // A reset brings it back.
  g.init();
  const again = g.read(0, [512]);
  await g.done();
  assert.equal(g.statusOf(again), VIRTIO_BLK_S_OK);
});

test('virtio-blk: backend failures complete with IOERR, counted, reported once', async () => {
  const backend = new MemBackend(DISK);
  const g = new Driver(backend);
  g.init();
  backend.failNext = 3;
  const r = g.read(0, [512]);
  const w = g.write(0, pattern(512, 8));
  const f = g.request(VIRTIO_BLK_T_FLUSH, 0, []);
  const ok = g.read(0, [512]);
  await g.done();
  assert.deepEqual([r, w, f, ok].map((x) => g.statusOf(x)), [VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK]);
  assert.equal(g.blk.backendErrors, 3);
  assert.equal(g.errors.length, 1);
  assert.match(g.errors[0], /backend read failed .*injected failure/);
  assert.equal(g.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('virtio-blk: writethrough mode flushes after each write (no FLUSH, or writeback = 0)', async () => {
  // FLUSH offered but not negotiated: writes must be stable when completed.
  const b1 = new MemBackend(DISK);
  const g1 = new Driver(b1);
  g1.init(ALL & ~(VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_CONFIG_WCE));
  g1.write(0, pattern(512, 9));
  g1.ranges(VIRTIO_BLK_T_WRITE_ZEROES, [[1, 1, 0]]);
  await g1.done();
  assert.deepEqual(b1.ops, ['write 0 512', 'flush', 'zeroes 512 512', 'flush']);

  // CONFIG_WCE: writeback starts at 1 with FLUSH; the driver switches to writethrough.
  const b2 = new MemBackend(DISK);
  const g2 = new Driver(b2);
  g2.init();
  assert.equal(g2.cfg(32, 1), 1);
  g2.write(0, pattern(512, 10));
  await g2.done();
  assert.deepEqual(b2.ops, ['write 0 512']);
  g2.wr(VIRTIO_MMIO_CONFIG + 32, 0, 1);
  assert.equal(g2.cfg(32, 1), 0);
  g2.wr(VIRTIO_MMIO_CONFIG + 32, 7, 1); // not a cache mode: ignored
  assert.equal(g2.cfg(32, 1), 0);
  g2.write(0, pattern(512, 11));
  await g2.done();
  assert.deepEqual(b2.ops, ['write 0 512', 'write 0 512', 'flush']);

  // CONFIG_WCE without FLUSH: writeback is 0 (§5.2.5.2); without CONFIG_WCE the field is read-only.
  const g3 = new Driver(new MemBackend(DISK));
  g3.init(ALL & ~VIRTIO_BLK_F_FLUSH);
  assert.equal(g3.cfg(32, 1), 0);
  const g4 = new Driver(new MemBackend(DISK));
  g4.init(ALL & ~VIRTIO_BLK_F_CONFIG_WCE);
  g4.wr(VIRTIO_MMIO_CONFIG + 32, 0, 1);
  assert.equal(g4.cfg(32, 1), 1);
});

test('virtio-blk: interrupts follow NO_INTERRUPT and EVENT_IDX', async () => {
  const g = new Driver(new MemBackend(DISK));
  g.init(ALL & ~VIRTIO_F_EVENT_IDX);
  g.queues[0].availFlags = VIRTQ_AVAIL_F_NO_INTERRUPT;
  g.read(0, [512]);
  assert.equal((await g.done()).length, 1);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
  g.queues[0].availFlags = 0;
  g.read(0, [512]);
  await g.done();
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);

  const e = new Driver(new MemBackend(DISK));
  e.init();
  assert.notEqual(e.transport.negotiatedFeatures & VIRTIO_F_EVENT_IDX, 0n);
  e.queues[0].usedEvent = 1; // interrupt me once the second buffer is used
  e.read(0, [512]);
  await e.done();
  assert.equal(e.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
  e.read(0, [512]);
  await e.done();
  assert.equal(e.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
});

test('virtio-blk: a reset with requests in flight writes no guest memory afterwards', async () => {
  const slow = new SlowBackend(new MemBackend(DISK));
  slow.inner.data.fill(0x33);
  const g = new Driver(slow);
  g.init();
  const r = g.read(0, [4096]);
  const queued = g.write(8, pattern(512, 12));
  assert.equal(g.blk.inFlight, 2);
  let drained = false;
  const drain = g.blk.drain().then(() => {
    drained = true;
  });
  const before = g.bytes(RAM, RAM_SIZE);
  g.wr(VIRTIO_MMIO_STATUS, 0); // reset while the read is in the backend
  assert.equal(g.blk.inFlight, 1); // the queued write is dropped; the read is still running
  assert.equal(await slow.step(), 'read 0');
  await drain;
  assert.ok(drained);
  assert.equal(g.blk.inFlight, 0);
  assert.deepEqual(g.bytes(RAM, RAM_SIZE), before, 'guest memory untouched after the reset');
  assert.equal(g.statusOf(r), 0xff);
  assert.equal(g.statusOf(queued), 0xff);
  assert.deepEqual(slow.waiting, []); // the dropped write never reached the backend
  assert.equal(slow.inner.data[8 * 512], 0x33);

  // Re-initialized while an old request is still in the backend: the new one waits its turn.
  g.init();
  const old = g.read(0, [512]);
  g.wr(VIRTIO_MMIO_STATUS, 0);
  g.init();
  const fresh = g.read(1, [512]);
  assert.equal(g.blk.inFlight, 2);
  assert.equal(await slow.step(), 'read 0');
  const memAfterOld = g.bytes(old.data[0], 512);
  assert.deepEqual(memAfterOld, new Uint8Array(512).fill(0xee));
  assert.equal(await slow.step(), 'read 512');
  assert.deepEqual(g.takeUsed(), [{ id: fresh.head, len: 513 }]);
  assert.equal(g.statusOf(fresh), VIRTIO_BLK_S_OK);
  assert.deepEqual(g.bytes(fresh.data[0], 512), new Uint8Array(512).fill(0x33));
});

test('virtio-blk: state round trip; saving or restoring with requests in flight is refused', async () => {
  const slow = new SlowBackend(new MemBackend(DISK));
  const a = new Driver(slow);
  a.init();
  a.wr(VIRTIO_MMIO_CONFIG + 32, 0, 1); // writethrough
  a.read(0, [512]);
  assert.throws(() => a.transport.saveState(), (e: unknown) => e instanceof VirtioBlkError && e.code === 'EBUSY');
  assert.throws(() => a.blk.loadState({ version: 1, capacity: String(DISK / 512), writeback: 1 }), VirtioBlkError);
  const drained = a.blk.drain();
  await slow.step();
  await drained;
  // Posted before the snapshot, not yet notified: the restored device must pick it up.
  slow.inner.data.set(pattern(512, 13), 512);
  const pendingReq = a.read(1, [512], { notify: false });
  const saved = JSON.parse(JSON.stringify(a.transport.saveState())) as Record<string, unknown>;
  assert.deepEqual(saved.device, { version: 1, capacity: '2048', writeback: 0 });

  const disk = new MemBackend(DISK);
  disk.data.set(slow.inner.data);
  const c = new Driver(disk);
  c.mem.writeBytes(RAM, a.bytes(RAM, RAM_SIZE));
  c.transport.loadState(saved);
  assert.equal(c.cfg(32, 1), 0);
  assert.equal(c.blk.inFlight, 1); // the restore looked at the ring and found the request
  await c.blk.drain();
  assert.deepEqual(c.transport.saveState().device, saved.device);
  assert.equal(Number(c.mem.readPhys(pendingReq.status, 1)), VIRTIO_BLK_S_OK);
  assert.deepEqual(c.bytes(pendingReq.data[0], 512), pattern(512, 13));

  // Invalid device states are refused, and nothing changes.
  const d = new Driver(new MemBackend(DISK));
  const before = JSON.stringify(d.transport.saveState());
  for (const device of [
    { version: 1, capacity: '4096', writeback: 1 }, // another disk size
    { version: 1, capacity: '2048', writeback: 2 },
    { version: 1, capacity: '-1', writeback: 1 },
    { version: 1, capacity: 2048, writeback: 1 },
    { version: 1, capacity: '2048', writeback: 1, extra: true },
    { version: 2, capacity: '2048', writeback: 1 },
    null,
  ]) {
    assert.throws(() => d.transport.loadState({ ...saved, device }), DeviceStateError);
    assert.equal(JSON.stringify(d.transport.saveState()), before);
  }
});

test('virtio-blk: random chains never throw; each completes or stops the device', async () => {
  let seed = 0x1234_5678;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const types = [VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES, 99];
  for (let round = 0; round < 40; round++) {
    const g = new Driver(new MemBackend(DISK));
    g.init();
    for (let k = 0; k < 12 && (g.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) === 0; k++) {
      const segs: Segment[] = [];
      const n = 1 + rand(5);
      for (let i = 0; i < n; i++) {
        const len = [0, 1, 8, 16, 20, 512, 1024, 4096][rand(8)];
        const addr = g.alloc(len);
        if (i === 0 && rand(4) !== 0 && len >= 16) {
          g.mem.writePhys(addr, 4, BigInt(types[rand(types.length)]));
          g.mem.writePhys(addr + 8, 8, BigInt(rand(4) === 0 ? 2 ** 40 : rand(2100)));
        } else if (len >= 16 && rand(2) === 0) {
          g.mem.writePhys(addr, 8, BigInt(rand(2100)));
          g.mem.writePhys(addr + 8, 4, BigInt(rand(8)));
          g.mem.writePhys(addr + 12, 4, BigInt(rand(3)));
        }
        segs.push({ addr, len, writable: rand(2) === 0 });
      }
      g.post(segs, { indirect: rand(3) === 0 });
    }
    await g.blk.drain();
    const used = g.takeUsed();
    for (const u of used) assert.ok(u.len >= 1, 'every completion has at least the status byte');
    assert.equal(g.blk.inFlight, 0);
  }
});
