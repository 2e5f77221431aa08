/**
 * virtio-console (virtio 1.2 §5.3): device ID 3, a single port (no VIRTIO_CONSOLE_F_MULTIPORT).
 * Linux binds it as /dev/hvc0.
 *
 *   queue 0  receiveq0   device-writable buffers the device fills with host input
 *   queue 1  transmitq0  device-readable buffers of guest output
 *
 * Configuration space (little-endian):
 *
 *   offset  size  field         notes
 *   0       2     cols          valid with VIRTIO_CONSOLE_F_SIZE (offered when a size is configured)
 *   2       2     rows
 *   4       4     max_nr_ports  (MULTIPORT only: reads 0)
 *   8       4     emerg_wr      W: outputs the low byte at once (VIRTIO_CONSOLE_F_EMERG_WRITE),
 *                               usable before the queues are set up
 *
 * Host input (receive()) waits in a bounded buffer until the driver posts receive buffers; what
 * does not fit is dropped and counted. Guest output goes to the injected sink one buffer at a time,
 * as a fresh array the sink may keep.
 */

import type { PhysicalMemory } from '../../hart/memory.js';
import { DescriptorChain } from './queue.js';
import { VIRTIO_ID_CONSOLE, readConfigLe, type VirtioDevice, type VirtioTransport } from './mmio.js';
import { DeviceStateError, intField, rejectUnknownFields, stateRecord } from '../device-state.js';

export const VIRTIO_CONSOLE_F_SIZE = 1n << 0n;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1n << 1n;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 1n << 2n;
export const VIRTIO_CONSOLE_RX = 0;
export const VIRTIO_CONSOLE_TX = 1;
export const VIRTIO_CONSOLE_QUEUE_SIZE = 128;
export const VIRTIO_CONSOLE_CONFIG_SIZE = 12;
/** Host input kept while the guest has no receive buffers. */
export const VIRTIO_CONSOLE_MAX_PENDING = 1 << 20;
/** Most output bytes taken from one transmit buffer (a sane driver sends at most a page). */
export const VIRTIO_CONSOLE_MAX_OUTPUT = 1 << 20;

export interface VirtioConsoleOptions {
  /** Terminal size to report (offers VIRTIO_CONSOLE_F_SIZE). */
  size?: { cols: number; rows: number };
}

export interface VirtioConsoleState {
  version: 1;
  cols: number;
  rows: number;
  /** Host input not yet delivered, as hex. */
  pendingInput: string;
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly features: bigint;
  readonly numQueues = 2;
  readonly configSize = VIRTIO_CONSOLE_CONFIG_SIZE;
  /** Input bytes dropped because the pending buffer was full. */
  droppedInputBytes = 0;
  private readonly output: (bytes: Uint8Array) => void;
  private transport: VirtioTransport | undefined;
  private readonly rxChain: DescriptorChain;
  private readonly txChain: DescriptorChain;
  private cols: number;
  private rows: number;
  /** Pending input: pending[start .. end). */
  private pending = new Uint8Array(256);
  private start = 0;
  private end = 0;

  /**
   * @param memory guest memory (the transport's)
   * @param output receives guest output; the array is the sink's to keep
   */
  constructor(memory: PhysicalMemory, output: (bytes: Uint8Array) => void, options: VirtioConsoleOptions = {}) {
    this.output = output;
    this.features = VIRTIO_CONSOLE_F_EMERG_WRITE | (options.size !== undefined ? VIRTIO_CONSOLE_F_SIZE : 0n);
    this.cols = clampU16(options.size?.cols ?? 0);
    this.rows = clampU16(options.size?.rows ?? 0);
    this.rxChain = new DescriptorChain(memory);
    this.txChain = new DescriptorChain(memory);
  }

  /** Bytes of host input waiting for receive buffers. */
  get pendingInput(): number {
    return this.end - this.start;
  }

  /** Host input for the guest: delivered now if the guest has buffers posted, else kept. */
  receive(bytes: Uint8Array): void {
    const room = VIRTIO_CONSOLE_MAX_PENDING - this.pendingInput;
    const n = Math.min(room, bytes.length);
    this.droppedInputBytes += bytes.length - n;
    if (n > 0) {
      this.reserve(n);
      this.pending.set(n === bytes.length ? bytes : bytes.subarray(0, n), this.end);
      this.end += n;
    }
    this.deliver();
  }

  /** Changes the reported terminal size (a config change when VIRTIO_CONSOLE_F_SIZE is offered). */
  setSize(cols: number, rows: number): void {
    this.cols = clampU16(cols);
    this.rows = clampU16(rows);
    if ((this.features & VIRTIO_CONSOLE_F_SIZE) !== 0n) this.transport?.configChanged();
  }

  // ---- VirtioDevice ----

  queueMaxSize(_index: number): number {
    return VIRTIO_CONSOLE_QUEUE_SIZE;
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  readConfig(offset: number, size: number): number {
    return readConfigLe((i) => this.configByte(i), offset, size); // the 12-byte config struct
  }

  writeConfig(offset: number, size: number, value: number): void {
    if (offset === 8 && size === 4) this.output(Uint8Array.of(value & 0xff)); // emerg_wr
  }

  activate(): void {
    this.transmit();
    this.deliver();
  }

  queueNotify(index: number): void {
    if (index === VIRTIO_CONSOLE_TX) this.transmit();
    else if (index === VIRTIO_CONSOLE_RX) this.deliver();
  }

  reset(): void {
    // Pending host input survives a device reset: it is the user's typing, not device state.
  }

  saveState(): VirtioConsoleState {
    let hex = '';
    for (let i = this.start; i < this.end; i++) hex += HEX[this.pending[i]];
    return { version: 1, cols: this.cols, rows: this.rows, pendingInput: hex };
  }

  loadState(state: unknown): void {
    const name = 'virtio-console';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, ['version', 'cols', 'rows', 'pendingInput']);
    const cols = intField(name, rec, 'cols', 0, 0xffff);
    const rows = intField(name, rec, 'rows', 0, 0xffff);
    const hex = rec.pendingInput;
    if (typeof hex !== 'string' || hex.length % 2 !== 0 || hex.length > 2 * VIRTIO_CONSOLE_MAX_PENDING || !/^[0-9a-f]*$/.test(hex)) {
      throw new DeviceStateError(name, `field 'pendingInput' must be lowercase hex of at most ${VIRTIO_CONSOLE_MAX_PENDING} bytes`);
    }
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    this.cols = cols;
    this.rows = rows;
    this.pending = new Uint8Array(Math.max(256, bytes.length));
    this.pending.set(bytes);
    this.start = 0;
    this.end = bytes.length;
  }

  // ---- internals ----

  private configByte(offset: number): number {
    switch (offset) {
      case 0:
        return this.cols & 0xff;
      case 1:
        return this.cols >>> 8;
      case 2:
        return this.rows & 0xff;
      case 3:
        return this.rows >>> 8;
      default:
        return 0; // max_nr_ports, emerg_wr
    }
  }

  /** Sends every transmit buffer the guest posted to the output sink. */
  private transmit(): void {
    const t = this.transport;
    const chain = this.txChain;
    if (t === undefined || !t.driverOk) return;
    const q = t.queues[VIRTIO_CONSOLE_TX];
    let used = false;
    while (q.pop(chain)) {
      const n = Math.min(chain.readableLength, VIRTIO_CONSOLE_MAX_OUTPUT);
      if (n > 0) {
        const bytes = new Uint8Array(n);
        chain.read(bytes);
        this.output(bytes);
      }
      q.pushUsed(chain.head, 0);
      used = true;
    }
    if (used) t.notifyUsed(VIRTIO_CONSOLE_TX);
  }

  /** Moves pending input into the receive buffers the guest posted. */
  private deliver(): void {
    const t = this.transport;
    const chain = this.rxChain;
    if (t === undefined || !t.driverOk || this.pendingInput === 0) return;
    const q = t.queues[VIRTIO_CONSOLE_RX];
    let used = false;
    while (this.pendingInput > 0 && q.pop(chain)) {
      const n = chain.write(this.pending, this.start, this.pendingInput);
      this.start += n;
      q.pushUsed(chain.head, n);
      used = true;
    }
    if (this.start === this.end) this.start = this.end = 0;
    if (used) t.notifyUsed(VIRTIO_CONSOLE_RX);
  }

  /** Makes room for n more bytes at `end`. */
  private reserve(n: number): void {
    if (this.end + n <= this.pending.length) return;
    const live = this.end - this.start;
    if (live + n <= this.pending.length) {
      this.pending.copyWithin(0, this.start, this.end);
    } else {
      let size = this.pending.length * 2;
      while (size < live + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.pending.subarray(this.start, this.end));
      this.pending = next;
    }
    this.start = 0;
    this.end = live;
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function clampU16(v: number): number {
  return Number.isInteger(v) && v >= 0 ? Math.min(v, 0xffff) : 0;
}
