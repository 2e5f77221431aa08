/**
 * virtio-blk, the block device (virtio 1.2 §5.2): device ID 2, one request queue, a disk behind an
 * injected BlockBackend (asynchronous I/O in 512-byte sectors). Linux binds it as /dev/vda.
 *
 *   queue 0  requestq  one request per descriptor chain
 *
 * A request (§5.2.6), little-endian. The device does not depend on how it is split into descriptors
 * (§2.7.4): the header is the first 16 device-readable bytes, the status the last device-writable one.
 *
 *   +0   le32 type     IN 0, OUT 1, FLUSH 4, GET_ID 8, DISCARD 11, WRITE_ZEROES 13; others UNSUPP
 *   +4   le32 reserved
 *   +8   le64 sector   first sector of IN / OUT (512-byte units whatever blk_size says)
 *   +16  data[]        IN, GET_ID: device-writable; OUT, DISCARD, WRITE_ZEROES: device-readable
 *        u8 status     OK 0, IOERR 1, UNSUPP 2
 *
 * DISCARD / WRITE_ZEROES data: 16-byte segments { le64 sector; le32 num_sectors; le32 flags }, flags
 * bit 0 = unmap (WRITE_ZEROES only; on DISCARD, or any other bit, the request is UNSUPP).
 *
 * Configuration space (§5.2.4), 60 bytes:
 *
 *   offset  size  field                     notes
 *   0       8     capacity                  512-byte sectors
 *   8       4     size_max                  VIRTIO_BLK_F_SIZE_MAX
 *   12      4     seg_max                   VIRTIO_BLK_F_SEG_MAX
 *   16      4     geometry                  (not offered: 0)
 *   20      4     blk_size                  VIRTIO_BLK_F_BLK_SIZE: 512
 *   24      8     topology                  (not offered: 0)
 *   32      1     writeback                 RW with VIRTIO_BLK_F_CONFIG_WCE: 0 writethrough, 1 writeback
 *   33      1     unused0
 *   34      2     num_queues                (VIRTIO_BLK_F_MQ only: 0)
 *   36      4     max_discard_sectors       VIRTIO_BLK_F_DISCARD
 *   40      4     max_discard_seg
 *   44      4     discard_sector_alignment
 *   48      4     max_write_zeroes_sectors  VIRTIO_BLK_F_WRITE_ZEROES
 *   52      4     max_write_zeroes_seg
 *   56      1     write_zeroes_may_unmap
 *   57      3     unused1
 *
 * Processing: a notification pops every available chain (at most VIRTIO_BLK_QUEUE_SIZE in flight),
 * parses and checks it at once, and queues it; one worker runs the queued requests in order, one
 * backend operation at a time, so a FLUSH runs after every write submitted before it has completed,
 * and writes never overlap in the backend (the BlockBackend contract says nothing about concurrent
 * calls). Notifications are suppressed while the worker is busy. Data moves through one host buffer
 * of at most CHUNK_BYTES; requests larger than that are done in chunks. The backend must not use an
 * array passed to it after its promise settles (the buffer is reused).
 *
 * Writes are stable at completion (a backend flush after each) in writethrough mode: when
 * VIRTIO_BLK_F_FLUSH was not negotiated, or VIRTIO_BLK_F_CONFIG_WCE was and `writeback` is 0.
 *
 * Errors: a malformed request completes with IOERR (UNSUPP for unknown types and flags, §5.2.6.2);
 * a chain with no device-writable byte cannot carry a status and marks the device DEVICE_NEEDS_RESET.
 * A rejected backend promise completes the request with IOERR. Both are counted and the first of
 * each is reported through onError. A reset bumps a generation counter: requests started before it
 * finish in the backend but touch no guest memory, and queued ones are dropped.
 */

import type { PhysicalMemory } from '../../hart/memory.js';
import type { BlockBackend } from '../../block/backend.js';
import { DescriptorChain } from './queue.js';
import { VIRTIO_ID_BLOCK, readConfigLe, type VirtioDevice, type VirtioTransport } from './mmio.js';
import { DeviceStateError, intField, parseU64, rejectUnknownFields, stateRecord } from '../device-state.js';

/** Feature bits (§5.2.3). */
export const VIRTIO_BLK_F_SIZE_MAX = 1n << 1n;
export const VIRTIO_BLK_F_SEG_MAX = 1n << 2n;
export const VIRTIO_BLK_F_GEOMETRY = 1n << 4n;
export const VIRTIO_BLK_F_RO = 1n << 5n;
export const VIRTIO_BLK_F_BLK_SIZE = 1n << 6n;
export const VIRTIO_BLK_F_FLUSH = 1n << 9n;
export const VIRTIO_BLK_F_TOPOLOGY = 1n << 10n;
export const VIRTIO_BLK_F_CONFIG_WCE = 1n << 11n;
export const VIRTIO_BLK_F_MQ = 1n << 12n;
export const VIRTIO_BLK_F_DISCARD = 1n << 13n;
export const VIRTIO_BLK_F_WRITE_ZEROES = 1n << 14n;

/** Request types (§5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_GET_LIFETIME = 10;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;
export const VIRTIO_BLK_T_SECURE_ERASE = 14;

/** Request status values. */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** The protocol's sector: 512 bytes, whatever blk_size says. */
export const VIRTIO_BLK_SECTOR_SIZE = 512;
/** GET_ID answers up to 20 bytes (NUL-padded, no terminator when 20 long). */
export const VIRTIO_BLK_ID_BYTES = 20;
export const VIRTIO_BLK_CONFIG_SIZE = 60;
export const VIRTIO_BLK_QUEUE_SIZE = 256;
/** Data segments per request: a full ring minus the header and status descriptors (as QEMU). */
export const VIRTIO_BLK_SEG_MAX = VIRTIO_BLK_QUEUE_SIZE - 2;
/** Largest data segment announced; with seg_max it bounds what a driver may send. */
export const VIRTIO_BLK_SIZE_MAX = 256 * 1024;
/** Largest IN / OUT data accepted (seg_max * size_max, 63.5 MiB); more is IOERR. */
export const VIRTIO_BLK_MAX_REQUEST_BYTES = VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX;
/** DISCARD / WRITE_ZEROES limits: sectors per segment (2 GiB), segments per request. */
export const VIRTIO_BLK_MAX_DISCARD_SECTORS = 1 << 22;
export const VIRTIO_BLK_MAX_DISCARD_SEG = 32;
/** Discard granularity hint in sectors (4 KiB: a guest page). */
export const VIRTIO_BLK_DISCARD_ALIGNMENT = 8;

const VIRTIO_BLK_WZ_F_UNMAP = 1;
const HEADER_BYTES = 16;
const DISCARD_SEGMENT_BYTES = 16;
/** Bytes moved per backend call; bounds the host buffer whatever the guest asks for. */
const CHUNK_BYTES = 1 << 20;
/** A pooled chain that grew past this many segments (a huge indirect table) is dropped on release. */
const CHAIN_KEEP = VIRTIO_BLK_SEG_MAX + 2;
const TWO_32 = 0x1_0000_0000;
/** Sectors at or above 2^53 cannot be exact JS numbers (and are beyond any disk). */
const SECTOR_HI_LIMIT = 0x20_0000;
const CONFIG_WRITEBACK = 32;

export class VirtioBlkError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VirtioBlkError';
    this.code = code;
  }
}

export interface VirtioBlkOptions {
  /** The disk's ID string for GET_ID: printable ASCII, at most 20 characters (default empty). */
  serial?: string;
  /** Where to report the first guest error and the first backend error. */
  onError?: (message: string) => void;
}

export interface VirtioBlkState {
  version: 1;
  /** Disk size in sectors, decimal: restoring onto a disk of another size is refused. */
  capacity: string;
  writeback: number;
}

/** One request from pop to completion; pooled, so the chain and fields are reused. */
class BlkRequest {
  chain: DescriptorChain;
  /** The device generation it was popped in. */
  generation = 0;
  type = 0;
  /** Decided at parse time; anything but OK means there is nothing to execute. */
  status = VIRTIO_BLK_S_OK;
  /** IN / OUT: byte offset and length on the disk. DISCARD / WRITE_ZEROES: length = segments. */
  offset = 0;
  length = 0;

  constructor(memory: PhysicalMemory) {
    this.chain = new DescriptorChain(memory);
  }
}

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_BLOCK;
  readonly features: bigint;
  readonly numQueues = 1;
  readonly configSize = VIRTIO_BLK_CONFIG_SIZE;
  /** Disk size in 512-byte sectors. */
  readonly capacity: number;
  readonly readOnly: boolean;
  /** Requests completed with IOERR / UNSUPP because the guest got them wrong. */
  guestErrors = 0;
  /** Backend operations that failed (their requests completed with IOERR). */
  backendErrors = 0;

  private readonly memory: PhysicalMemory;
  private readonly backend: BlockBackend;
  private readonly onError: ((message: string) => void) | undefined;
  private transport: VirtioTransport | undefined;
  private readonly config = new Uint8Array(VIRTIO_BLK_CONFIG_SIZE);
  private readonly id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
  private writeback = 1;
  /** Bumped by reset and loadState: requests of an older generation leave guest memory alone. */
  private generation = 0;
  /** Popped and parsed, not started (in order). */
  private readonly pending: BlkRequest[] = [];
  /** The request whose backend I/O is running (possibly of an older generation). */
  private current: BlkRequest | undefined;
  private running = false;
  private readonly free: BlkRequest[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private buffer = new Uint8Array(0);
  private readonly header = new Uint8Array(HEADER_BYTES);
  private readonly segments = new Uint8Array(DISCARD_SEGMENT_BYTES * VIRTIO_BLK_MAX_DISCARD_SEG);
  private readonly statusByte = new Uint8Array(1);
  private guestErrorReported = false;
  private backendErrorReported = false;

  /**
   * @param memory guest memory (the transport's)
   * @param backend the disk; its size is read once, here
   */
  constructor(memory: PhysicalMemory, backend: BlockBackend, options: VirtioBlkOptions = {}) {
    const size = backend.size;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new VirtioBlkError('EINVAL', `disk size ${size} is not a byte count`);
    }
    const serial = options.serial ?? '';
    if (serial.length > VIRTIO_BLK_ID_BYTES || !/^[\x20-\x7e]*$/.test(serial)) {
      throw new VirtioBlkError('EINVAL', `disk serial '${serial}' must be at most ${VIRTIO_BLK_ID_BYTES} printable ASCII characters`);
    }
    for (let i = 0; i < serial.length; i++) this.id[i] = serial.charCodeAt(i);
    this.memory = memory;
    this.backend = backend;
    this.onError = options.onError;
    this.readOnly = backend.readOnly;
    this.capacity = Math.floor(size / VIRTIO_BLK_SECTOR_SIZE); // a partial last sector is not exposed
    this.features =
      VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_CONFIG_WCE |
      (this.readOnly ? VIRTIO_BLK_F_RO : VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES);
    const c = this.config;
    put32(c, 0, this.capacity % TWO_32);
    put32(c, 4, Math.floor(this.capacity / TWO_32));
    put32(c, 8, VIRTIO_BLK_SIZE_MAX);
    put32(c, 12, VIRTIO_BLK_SEG_MAX);
    put32(c, 20, VIRTIO_BLK_SECTOR_SIZE);
    c[CONFIG_WRITEBACK] = this.writeback;
    put32(c, 36, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c, 40, VIRTIO_BLK_MAX_DISCARD_SEG);
    put32(c, 44, VIRTIO_BLK_DISCARD_ALIGNMENT);
    put32(c, 48, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c, 52, VIRTIO_BLK_MAX_DISCARD_SEG);
    c[56] = 1; // write_zeroes_may_unmap: WRITE_ZEROES with unmap goes to the backend as such
  }

  /** Requests popped and not finished, including one still running in the backend after a reset. */
  get inFlight(): number {
    return this.pending.length + (this.current !== undefined ? 1 : 0);
  }

  /** Resolves once no request is in flight (the backend is idle): before saveState. */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  // ---- VirtioDevice ----

  queueMaxSize(_index: number): number {
    return VIRTIO_BLK_QUEUE_SIZE;
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  readConfig(offset: number, size: number): number {
    return readConfigLe((i) => this.config[i], offset, size);
  }

  writeConfig(offset: number, size: number, value: number): void {
    // Only `writeback` is writable, and only once VIRTIO_BLK_F_CONFIG_WCE was negotiated.
    const t = this.transport;
    if (offset !== CONFIG_WRITEBACK || size !== 1 || value > 1) return;
    if (t === undefined || (t.negotiatedFeatures & VIRTIO_BLK_F_CONFIG_WCE) === 0n) return;
    this.setWriteback(value);
  }

  acceptFeatures(features: bigint): boolean {
    // Writeback when the driver can flush; §5.2.5.2: 0 when CONFIG_WCE comes without FLUSH.
    this.setWriteback((features & VIRTIO_BLK_F_FLUSH) !== 0n ? 1 : 0);
    return true;
  }

  activate(): void {
    this.queueNotify(0);
  }

  queueNotify(index: number): void {
    if (index !== 0) return;
    this.fill();
    this.kick();
  }

  reset(): void {
    this.generation++;
    for (const r of this.pending) this.release(r);
    this.pending.length = 0;
    this.setWriteback(1);
    this.settle();
  }

  saveState(): VirtioBlkState {
    if (this.inFlight > 0) {
      throw new VirtioBlkError('EBUSY', `virtio-blk has ${this.inFlight} requests in flight; await drain() before saving`);
    }
    return { version: 1, capacity: String(this.capacity), writeback: this.writeback };
  }

  loadState(state: unknown): void {
    if (this.inFlight > 0) {
      throw new VirtioBlkError('EBUSY', `virtio-blk has ${this.inFlight} requests in flight; await drain() before restoring`);
    }
    const name = 'virtio-blk';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, ['version', 'capacity', 'writeback']);
    const [lo, hi] = parseU64(name, 'capacity', rec.capacity);
    const capacity = hi * TWO_32 + lo;
    if (capacity !== this.capacity) {
      throw new DeviceStateError(name, `saved for a disk of ${rec.capacity as string} sectors, this disk has ${this.capacity}`);
    }
    const writeback = intField(name, rec, 'writeback', 0, 1);
    this.generation++;
    this.setWriteback(writeback);
  }

  // ---- taking requests ----

  /** Pops available chains (up to the in-flight cap), parses them and queues them. */
  private fill(): void {
    const t = this.transport;
    if (t === undefined || !t.driverOk) return;
    const q = t.queues[0];
    while (this.inFlight < VIRTIO_BLK_QUEUE_SIZE) {
      const req = this.free.pop() ?? new BlkRequest(this.memory);
      if (!q.pop(req.chain) || !this.parse(req)) {
        this.release(req);
        return;
      }
      req.generation = this.generation;
      this.pending.push(req);
    }
  }

  /**
   * Reads the header and checks the request's shape; a request the guest got wrong gets its status
   * now (it still completes in order). Returns false when the chain cannot be completed at all.
   */
  private parse(req: BlkRequest): boolean {
    const chain = req.chain;
    if (chain.writableLength === 0) {
      this.transport?.deviceError(`virtio-blk: request in descriptor ${chain.head} has no device-writable status byte`);
      return false;
    }
    req.status = VIRTIO_BLK_S_OK;
    req.type = -1;
    req.offset = 0;
    req.length = 0;
    const h = this.header;
    if (chain.read(h, 0, HEADER_BYTES) < HEADER_BYTES) {
      return this.reject(req, VIRTIO_BLK_S_IOERR, `request header is ${chain.readableLength} device-readable bytes, not ${HEADER_BYTES}`);
    }
    const type = get32(h, 0);
    req.type = type;
    const dataOut = chain.readableLength - HEADER_BYTES; // device-readable bytes after the header
    const dataIn = chain.writableLength - 1; // device-writable bytes before the status byte
    switch (type) {
      case VIRTIO_BLK_T_IN:
      case VIRTIO_BLK_T_OUT: {
        const write = type === VIRTIO_BLK_T_OUT;
        const what = write ? 'write' : 'read';
        if (write && this.readOnly) return this.reject(req, VIRTIO_BLK_S_IOERR, 'write to a read-only disk');
        if ((write ? dataIn : dataOut) !== 0) return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} with data in the wrong direction`);
        const length = write ? dataOut : dataIn;
        if (length === 0 || length % VIRTIO_BLK_SECTOR_SIZE !== 0) {
          return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} of ${length} bytes, not a positive multiple of ${VIRTIO_BLK_SECTOR_SIZE}`);
        }
        if (length > VIRTIO_BLK_MAX_REQUEST_BYTES) {
          return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} of ${length} bytes exceeds ${VIRTIO_BLK_MAX_REQUEST_BYTES}`);
        }
        if (chain.count > VIRTIO_BLK_SEG_MAX + 2) {
          return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} in ${chain.count} descriptors exceeds seg_max`);
        }
        const sector = this.sectorInRange(get32(h, 8), get32(h, 12), length / VIRTIO_BLK_SECTOR_SIZE);
        if (sector < 0) return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} beyond the end of a ${this.capacity}-sector disk`);
        req.offset = sector * VIRTIO_BLK_SECTOR_SIZE;
        req.length = length;
        return true;
      }
      case VIRTIO_BLK_T_FLUSH:
        return true; // the sector and any data are ignored
      case VIRTIO_BLK_T_GET_ID:
        if (dataOut !== 0 || dataIn === 0) return this.reject(req, VIRTIO_BLK_S_IOERR, 'GET_ID without a device-writable ID buffer');
        return true;
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES: {
        const discard = type === VIRTIO_BLK_T_DISCARD;
        const what = discard ? 'DISCARD' : 'WRITE_ZEROES';
        const feature = discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
        if (((this.transport?.negotiatedFeatures ?? 0n) & feature) === 0n) {
          return this.reject(req, VIRTIO_BLK_S_UNSUPP, `${what} without its feature`);
        }
        if (this.readOnly) return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} on a read-only disk`);
        if (dataIn !== 0 || dataOut === 0 || dataOut % DISCARD_SEGMENT_BYTES !== 0) {
          return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} with ${dataOut} readable data bytes, not 16-byte segments`);
        }
        const count = dataOut / DISCARD_SEGMENT_BYTES;
        if (count > VIRTIO_BLK_MAX_DISCARD_SEG) {
          return this.reject(req, VIRTIO_BLK_S_IOERR, `${what} of ${count} segments exceeds ${VIRTIO_BLK_MAX_DISCARD_SEG}`);
        }
        req.length = count;
        return true;
      }
      default:
        req.status = VIRTIO_BLK_S_UNSUPP; // GET_LIFETIME, SECURE_ERASE, zoned commands, ...: not offered
        return true;
    }
  }

  /** Gives the request a guest-error status; it completes in order like any other. */
  private reject(req: BlkRequest, status: number, message: string): boolean {
    req.status = status;
    this.guestError(message);
    return true;
  }

  /**
   * The sector of [sector, sector + count) when that range lies on the disk (count may be 0);
   * -1 otherwise.
   */
  private sectorInRange(lo: number, hi: number, count: number): number {
    if (hi >= SECTOR_HI_LIMIT) return -1;
    const sector = hi * TWO_32 + lo;
    return sector <= this.capacity && count <= this.capacity - sector ? sector : -1;
  }

  // ---- running requests ----

  private kick(): void {
    const t = this.transport;
    if (this.running || this.pending.length === 0 || t === undefined) return;
    this.running = true;
    t.queues[0].suppressNotifications(true); // we pick up new chains after each completion
    this.run().catch((e: unknown) => {
      // Not reachable by guest or backend behaviour (both are handled as values); a bug.
      this.onError?.(`virtio-blk: request processing stopped: ${errorMessage(e)}`);
    });
  }

  /** The worker: runs queued requests one at a time until none is left. */
  private async run(): Promise<void> {
    const q = this.transport!.queues[0];
    try {
      for (;;) {
        const req = this.pending.shift();
        if (req === undefined) {
          // Going idle: ask for notifications again, then catch chains that arrived unannounced.
          q.suppressNotifications(false);
          this.fill();
          if (this.pending.length === 0) break;
          q.suppressNotifications(true);
          continue;
        }
        if (!this.live(req)) {
          this.release(req); // the device needs a reset: do no I/O for it
          continue;
        }
        this.current = req;
        const status = await this.execute(req);
        this.current = undefined;
        if (this.live(req)) this.complete(req, status);
        this.release(req);
        this.fill();
      }
    } finally {
      this.current = undefined;
      this.running = false;
      this.settle();
    }
  }

  /** Whether a request may still touch guest memory: same generation, device and queue usable. */
  private live(req: BlkRequest): boolean {
    const t = this.transport;
    return req.generation === this.generation && t !== undefined && t.driverOk && t.queues[0].isActive;
  }

  /** Does the request's I/O; resolves to its status (never rejects). */
  private async execute(req: BlkRequest): Promise<number> {
    if (req.status !== VIRTIO_BLK_S_OK) return req.status;
    try {
      switch (req.type) {
        case VIRTIO_BLK_T_IN:
          return await this.doRead(req);
        case VIRTIO_BLK_T_OUT:
          return await this.doWrite(req);
        case VIRTIO_BLK_T_FLUSH:
          await this.backend.flush();
          return VIRTIO_BLK_S_OK;
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES:
          return await this.doDiscard(req);
        default:
          return VIRTIO_BLK_S_OK; // GET_ID: written at completion
      }
    } catch (e) {
      this.backendErrors++;
      if (!this.backendErrorReported) {
        this.backendErrorReported = true;
        this.onError?.(`virtio-blk: backend ${requestName(req.type)} failed (completed with IOERR; later failures are only counted): ${errorMessage(e)}`);
      }
      return VIRTIO_BLK_S_IOERR;
    }
  }

  private async doRead(req: BlkRequest): Promise<number> {
    for (let done = 0; done < req.length; ) {
      const n = Math.min(CHUNK_BYTES, req.length - done);
      const buf = this.scratch(n);
      await this.backend.read(req.offset + done, buf);
      if (!this.live(req)) return VIRTIO_BLK_S_IOERR; // reset meanwhile: guest memory is off limits
      req.chain.write(buf, 0, n);
      done += n;
    }
    return VIRTIO_BLK_S_OK;
  }

  private async doWrite(req: BlkRequest): Promise<number> {
    for (let done = 0; done < req.length; ) {
      const n = Math.min(CHUNK_BYTES, req.length - done);
      const buf = this.scratch(n);
      req.chain.read(buf, 0, n);
      await this.backend.write(req.offset + done, buf);
      if (!this.live(req)) return VIRTIO_BLK_S_IOERR; // abandoned by a reset: write no more of it
      done += n;
    }
    if (this.writethrough) await this.backend.flush();
    return VIRTIO_BLK_S_OK;
  }

  /** DISCARD / WRITE_ZEROES: every segment is checked before any is done. */
  private async doDiscard(req: BlkRequest): Promise<number> {
    const discard = req.type === VIRTIO_BLK_T_DISCARD;
    const what = discard ? 'DISCARD' : 'WRITE_ZEROES';
    const s = this.segments;
    const count = req.length;
    req.chain.read(s, 0, DISCARD_SEGMENT_BYTES * count);
    for (let i = 0; i < count; i++) {
      const flags = get32(s, DISCARD_SEGMENT_BYTES * i + 12);
      const allowed = discard ? 0 : VIRTIO_BLK_WZ_F_UNMAP;
      if ((flags & ~allowed) !== 0) {
        this.guestError(`${what} segment with flags 0x${flags.toString(16)}`);
        return VIRTIO_BLK_S_UNSUPP;
      }
    }
    for (let i = 0; i < count; i++) {
      const o = DISCARD_SEGMENT_BYTES * i;
      const sectors = get32(s, o + 8);
      if (sectors > VIRTIO_BLK_MAX_DISCARD_SECTORS || this.sectorInRange(get32(s, o), get32(s, o + 4), sectors) < 0) {
        this.guestError(`${what} of ${sectors} sectors out of range or over ${VIRTIO_BLK_MAX_DISCARD_SECTORS}`);
        return VIRTIO_BLK_S_IOERR;
      }
    }
    for (let i = 0; i < count; i++) {
      const o = DISCARD_SEGMENT_BYTES * i;
      const sectors = get32(s, o + 8);
      if (sectors === 0) continue;
      const offset = (get32(s, o + 4) * TWO_32 + get32(s, o)) * VIRTIO_BLK_SECTOR_SIZE;
      const length = sectors * VIRTIO_BLK_SECTOR_SIZE;
      if (discard) await this.backend.discard(offset, length);
      else await this.backend.writeZeroes(offset, length, (get32(s, o + 12) & VIRTIO_BLK_WZ_F_UNMAP) !== 0);
      if (!this.live(req)) return VIRTIO_BLK_S_IOERR;
    }
    if (this.writethrough) await this.backend.flush();
    return VIRTIO_BLK_S_OK;
  }

  /** Writes the results into the chain, pushes it as used and interrupts if the driver wants. */
  private complete(req: BlkRequest, status: number): void {
    const t = this.transport!;
    const chain = req.chain;
    if (status === VIRTIO_BLK_S_OK && req.type === VIRTIO_BLK_T_GET_ID) {
      chain.write(this.id, 0, Math.min(VIRTIO_BLK_ID_BYTES, chain.writeRemaining - 1));
    }
    // The status is the last writable byte, whatever came before it.
    const before = chain.writeRemaining - 1;
    if (before > 0) chain.skipWrite(before);
    this.statusByte[0] = status;
    chain.write(this.statusByte, 0, 1);
    t.queues[0].pushUsed(chain.head, chain.bytesWritten);
    t.notifyUsed(0);
  }

  // ---- helpers ----

  /** Writethrough: no FLUSH negotiated (§5.2.6.2 case 1), or CONFIG_WCE with writeback 0 (case 2). */
  private get writethrough(): boolean {
    const f = this.transport?.negotiatedFeatures ?? 0n;
    if ((f & VIRTIO_BLK_F_CONFIG_WCE) !== 0n) return this.writeback === 0;
    return (f & VIRTIO_BLK_F_FLUSH) === 0n;
  }

  private setWriteback(value: number): void {
    this.writeback = value;
    this.config[CONFIG_WRITEBACK] = value;
  }

  /** A view of n (<= CHUNK_BYTES) bytes of the host buffer, grown on demand. */
  private scratch(n: number): Uint8Array {
    if (this.buffer.length < n) {
      let size = Math.max(4096, this.buffer.length);
      while (size < n) size *= 2;
      this.buffer = new Uint8Array(Math.min(size, CHUNK_BYTES));
    }
    return this.buffer.subarray(0, n);
  }

  private release(req: BlkRequest): void {
    // Keep the pool small: a chain grown by a huge indirect table is not kept.
    if (req.chain.addr.length > CHAIN_KEEP) req.chain = new DescriptorChain(this.memory);
    this.free.push(req);
  }

  private settle(): void {
    if (this.inFlight !== 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters.splice(0);
    for (const w of waiters) w();
  }

  private guestError(message: string): void {
    this.guestErrors++;
    if (this.guestErrorReported) return;
    this.guestErrorReported = true;
    this.onError?.(`virtio-blk: guest error (later ones are only counted): ${message}`);
  }
}

function requestName(type: number): string {
  switch (type) {
    case VIRTIO_BLK_T_IN:
      return 'read';
    case VIRTIO_BLK_T_OUT:
      return 'write';
    case VIRTIO_BLK_T_FLUSH:
      return 'flush';
    case VIRTIO_BLK_T_DISCARD:
      return 'discard';
    default:
      return 'write-zeroes';
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function get32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
