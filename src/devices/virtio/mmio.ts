/**
 * The virtio-mmio transport, version 2 ("modern"), per virtio 1.2 §4.2.2. Hosts one device model
 * (VirtioDevice) and its split virtqueues; on the virt board at 0x1000_1000 + n * 0x1000 with PLIC
 * source 1 + n (DT compatible "virtio,mmio").
 *
 * Register map (32-bit registers; offsets from the region base):
 *
 *   offset  name                 access  notes
 *   0x000   MagicValue           R   0x74726976 ("virt")
 *   0x004   Version              R   2 (legacy drivers, which expect 1, refuse the device)
 *   0x008   DeviceID             R   0 = no device
 *   0x00c   VendorID             R
 *   0x010   DeviceFeatures       R   32 feature bits selected by DeviceFeaturesSel
 *   0x014   DeviceFeaturesSel    W
 *   0x020   DriverFeatures       W   32 feature bits selected by DriverFeaturesSel
 *   0x024   DriverFeaturesSel    W
 *   0x030   QueueSel             W
 *   0x034   QueueNumMax          R   0 when the selected queue does not exist
 *   0x038   QueueNum             W
 *   0x044   QueueReady           RW
 *   0x050   QueueNotify          W   queue index (VIRTIO_F_NOTIFICATION_DATA is not offered)
 *   0x060   InterruptStatus      R   bit 0 used buffer, bit 1 configuration change
 *   0x064   InterruptACK         W
 *   0x070   Status               RW  0 resets the device
 *   0x080   QueueDescLow/High    W   (0x084) descriptor table address
 *   0x090   QueueDriverLow/High  W   (0x094) available ring address
 *   0x0a0   QueueDeviceLow/High  W   (0x0a4) used ring address
 *   0x0ac   SHMSel               W
 *   0x0b0   SHMLenLow/High       R   (0x0b4) all ones: no shared memory regions
 *   0x0b8   SHMBaseLow/High      R   (0x0bc)
 *   0x0c0   QueueReset           RW  reads 0 (VIRTIO_F_RING_RESET is not offered)
 *   0x0fc   ConfigGeneration     R
 *   0x100+  Config               RW  device-specific configuration space
 *
 * Control registers take aligned 32-bit accesses only (others read 0 and are ignored); the config
 * space takes 1-, 2- and 4-byte accesses (8 as two 4-byte halves).
 *
 * Feature negotiation (§3.1.1): the transport offers VIRTIO_F_VERSION_1, VIRTIO_F_INDIRECT_DESC
 * and VIRTIO_F_EVENT_IDX on top of the device's bits. FEATURES_OK sticks only when the driver
 * accepted VERSION_1 and nothing that was not offered (and the device agrees); otherwise the driver
 * reads it back clear and gives up. The driver cannot clear status bits except by writing 0.
 *
 * Errors: a guest misusing a queue or the protocol (DRIVER_OK before FEATURES_OK, malformed rings)
 * sets DEVICE_NEEDS_RESET, stops every queue and, once DRIVER_OK is set, raises a configuration
 * change interrupt (§2.1.2). Nothing a guest does throws to the host.
 */

import type { MmioHandler, MmioValue, PhysicalMemory } from '../../hart/memory.js';
import { DeviceStateError, intField, parseU64, rejectUnknownFields, stateRecord, u64ToString } from '../device-state.js';
import { Virtqueue, type VirtqueueErrorSink } from './queue.js';

export const VIRTIO_MMIO_SIZE = 0x1000;
export const VIRTIO_MMIO_MAGIC = 0x74726976;
export const VIRTIO_MMIO_VERSION_MODERN = 2;
/** "TSVM" in memory order (as QEMU's 0x554d4551 reads "QEMU"). */
export const VIRTIO_MMIO_VENDOR_ID = 0x4d565354;

export const VIRTIO_MMIO_MAGIC_VALUE = 0x000;
export const VIRTIO_MMIO_VERSION = 0x004;
export const VIRTIO_MMIO_DEVICE_ID = 0x008;
export const VIRTIO_MMIO_VENDOR_ID_REG = 0x00c;
export const VIRTIO_MMIO_DEVICE_FEATURES = 0x010;
export const VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014;
export const VIRTIO_MMIO_DRIVER_FEATURES = 0x020;
export const VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024;
export const VIRTIO_MMIO_QUEUE_SEL = 0x030;
export const VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034;
export const VIRTIO_MMIO_QUEUE_NUM = 0x038;
export const VIRTIO_MMIO_QUEUE_READY = 0x044;
export const VIRTIO_MMIO_QUEUE_NOTIFY = 0x050;
export const VIRTIO_MMIO_INTERRUPT_STATUS = 0x060;
export const VIRTIO_MMIO_INTERRUPT_ACK = 0x064;
export const VIRTIO_MMIO_STATUS = 0x070;
export const VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080;
export const VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084;
export const VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090;
export const VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094;
export const VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0;
export const VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4;
export const VIRTIO_MMIO_SHM_SEL = 0x0ac;
export const VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0;
export const VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4;
export const VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8;
export const VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc;
export const VIRTIO_MMIO_QUEUE_RESET = 0x0c0;
export const VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc;
export const VIRTIO_MMIO_CONFIG = 0x100;

/** InterruptStatus bits. */
export const VIRTIO_MMIO_INT_VRING = 1;
export const VIRTIO_MMIO_INT_CONFIG = 2;

/** Device status bits (§2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

/** Reserved feature bits (§6). */
export const VIRTIO_F_INDIRECT_DESC = 1n << 28n;
export const VIRTIO_F_EVENT_IDX = 1n << 29n;
export const VIRTIO_F_VERSION_1 = 1n << 32n;

/** Device IDs (§5). */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;

const U64_MASK = (1n << 64n) - 1n;

/** What the transport offers a device model. */
export interface VirtioTransport {
  readonly memory: PhysicalMemory;
  readonly queues: readonly Virtqueue[];
  /** Features the driver accepted (valid once FEATURES_OK is set). */
  readonly negotiatedFeatures: bigint;
  /** DRIVER_OK is set and the device does not need a reset: queues may be processed. */
  readonly driverOk: boolean;
  /** Raises the used-buffer interrupt if the queue's suppression rules ask for one. */
  notifyUsed(queueIndex: number): void;
  /** The device changed its configuration: bumps ConfigGeneration, raises the config interrupt. */
  configChanged(): void;
  /** A guest error: sets DEVICE_NEEDS_RESET and stops the queues. */
  deviceError(message: string): void;
}

/** `size` bytes (1, 2 or 4) of config space from `offset`, little-endian, as readConfig returns them. */
export function readConfigLe(byteAt: (offset: number) => number, offset: number, size: number): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = (v << 8) | byteAt(offset + i);
  return v >>> 0;
}

/** A virtio device model hosted by a transport. */
export interface VirtioDevice {
  readonly deviceId: number;
  /** Device-type feature bits offered (the transport adds VERSION_1, INDIRECT_DESC, EVENT_IDX). */
  readonly features: bigint;
  readonly numQueues: number;
  /** Largest size of queue `index` (a power of 2). */
  queueMaxSize(index: number): number;
  /** Bytes of device-specific configuration space. */
  readonly configSize: number;
  /** Called once by the transport's constructor. */
  attach(transport: VirtioTransport): void;
  /** Reads 1, 2 or 4 bytes (little-endian) of config space; offset + size <= configSize. */
  readConfig(offset: number, size: number): number;
  writeConfig(offset: number, size: number, value: number): void;
  /** May refuse a feature combination at FEATURES_OK. */
  acceptFeatures?(features: bigint): boolean;
  /** DRIVER_OK was set: the queues are live. */
  activate(): void;
  /** The driver notified queue `index` (only while driverOk). */
  queueNotify(index: number): void;
  /** Device reset: back to the initial state (the transport resets the queues). */
  reset(): void;
  /** Plain data; must not depend on chains held across the call (devices hold none). */
  saveState(): unknown;
  /** Validates, then applies; must not process queues (the transport does after a restore). */
  loadState(state: unknown): void;
}

export interface VirtioMmioOptions {
  /** Where to report guest errors (once per reset); default: nowhere. */
  log?: (message: string) => void;
  /** Offer VIRTIO_F_INDIRECT_DESC (default true). */
  indirectDesc?: boolean;
  /** Offer VIRTIO_F_EVENT_IDX (default true). */
  eventIdx?: boolean;
}

export interface VirtioMmioState {
  version: 1;
  deviceId: number;
  status: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  driverFeatures: string;
  queueSel: number;
  shmSel: number;
  interruptStatus: number;
  configGeneration: number;
  queues: unknown[];
  device: unknown;
}

export class VirtioMmioTransport implements MmioHandler, VirtioTransport, VirtqueueErrorSink {
  readonly memory: PhysicalMemory;
  readonly device: VirtioDevice;
  readonly queues: readonly Virtqueue[];
  /** Everything offered: device bits plus the transport's ring features. */
  readonly offeredFeatures: bigint;
  private readonly irq: (level: boolean) => void;
  private readonly log: ((message: string) => void) | undefined;

  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeaturesLo = 0;
  private driverFeaturesHi = 0;
  private queueSel = 0;
  private shmSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private lineLevel = false;
  private negotiated = 0n;

  /**
   * @param memory guest memory the queues live in
   * @param device the device model (attached to this transport here)
   * @param irq the interrupt line (PLIC source 1 + slot on virt)
   */
  constructor(memory: PhysicalMemory, device: VirtioDevice, irq: (level: boolean) => void, options: VirtioMmioOptions = {}) {
    this.memory = memory;
    this.device = device;
    this.irq = irq;
    this.log = options.log;
    let offered = (device.features & U64_MASK) | VIRTIO_F_VERSION_1;
    if (options.indirectDesc !== false) offered |= VIRTIO_F_INDIRECT_DESC;
    if (options.eventIdx !== false) offered |= VIRTIO_F_EVENT_IDX;
    this.offeredFeatures = offered;
    const queues: Virtqueue[] = [];
    for (let i = 0; i < device.numQueues; i++) {
      queues.push(new Virtqueue(memory, i, device.queueMaxSize(i), this));
    }
    this.queues = queues;
    device.attach(this);
  }

  get negotiatedFeatures(): bigint {
    return this.negotiated;
  }

  get driverOk(): boolean {
    return (this.status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) === VIRTIO_STATUS_DRIVER_OK;
  }

  /** The Status register. */
  get deviceStatus(): number {
    return this.status;
  }

  // ---- VirtioTransport ----

  notifyUsed(queueIndex: number): void {
    const q = this.queues[queueIndex];
    if (q !== undefined && q.shouldInterrupt()) this.raise(VIRTIO_MMIO_INT_VRING);
  }

  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if ((this.status & VIRTIO_STATUS_DRIVER_OK) !== 0) this.raise(VIRTIO_MMIO_INT_CONFIG);
  }

  deviceError(message: string): void {
    if ((this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) return;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    for (const q of this.queues) q.broken = true;
    this.log?.(`virtio device ${this.device.deviceId} needs reset: ${message}`);
    if ((this.status & VIRTIO_STATUS_DRIVER_OK) !== 0) this.raise(VIRTIO_MMIO_INT_CONFIG);
  }

  // ---- MmioHandler ----

  read(offset: number, size: number, value: MmioValue): void {
    value.hi = 0;
    value.lo = 0;
    if (offset >= VIRTIO_MMIO_CONFIG) {
      const off = offset - VIRTIO_MMIO_CONFIG;
      if (size === 8) {
        if ((off & 7) !== 0 || off + 8 > this.device.configSize) return;
        value.lo = this.device.readConfig(off, 4) | 0;
        value.hi = this.device.readConfig(off + 4, 4) | 0;
      } else if ((size === 1 || size === 2 || size === 4) && (off & (size - 1)) === 0 && off + size <= this.device.configSize) {
        value.lo = this.device.readConfig(off, size) | 0;
      }
      return;
    }
    if (size !== 4 || (offset & 3) !== 0) return;
    value.lo = this.readRegister(offset) | 0;
  }

  write(offset: number, size: number, lo: number, hi: number): void {
    if (offset >= VIRTIO_MMIO_CONFIG) {
      const off = offset - VIRTIO_MMIO_CONFIG;
      if (size === 8) {
        if ((off & 7) !== 0 || off + 8 > this.device.configSize) return;
        this.device.writeConfig(off, 4, lo >>> 0);
        this.device.writeConfig(off + 4, 4, hi >>> 0);
      } else if ((size === 1 || size === 2 || size === 4) && (off & (size - 1)) === 0 && off + size <= this.device.configSize) {
        const mask = size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
        this.device.writeConfig(off, size, (lo & mask) >>> 0);
      }
      return;
    }
    if (size !== 4 || (offset & 3) !== 0) return;
    this.writeRegister(offset, lo >>> 0);
  }

  // ---- state ----

  saveState(): VirtioMmioState {
    return {
      version: 1,
      deviceId: this.device.deviceId,
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: u64ToString(this.driverFeaturesLo, this.driverFeaturesHi),
      queueSel: this.queueSel,
      shmSel: this.shmSel,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      queues: this.queues.map((q) => q.saveState()),
      device: this.device.saveState(),
    };
  }

  /** Restores saved state (validated first — the device's part too; nothing changes when invalid). */
  loadState(state: unknown): void {
    const name = 'virtio-mmio';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, [
      'version', 'deviceId', 'status', 'deviceFeaturesSel', 'driverFeaturesSel', 'driverFeatures',
      'queueSel', 'shmSel', 'interruptStatus', 'configGeneration', 'queues', 'device',
    ]);
    const deviceId = intField(name, rec, 'deviceId', 0, 0xffff_ffff);
    if (deviceId !== this.device.deviceId) {
      throw new DeviceStateError(name, `saved for device ID ${deviceId}, this transport hosts ${this.device.deviceId}`);
    }
    const status = intField(name, rec, 'status', 0, 0xff);
    const deviceFeaturesSel = intField(name, rec, 'deviceFeaturesSel', 0, 0xffff_ffff);
    const driverFeaturesSel = intField(name, rec, 'driverFeaturesSel', 0, 0xffff_ffff);
    const [featLo, featHi] = parseU64(name, 'driverFeatures', rec.driverFeatures);
    const queueSel = intField(name, rec, 'queueSel', 0, 0xffff_ffff);
    const shmSel = intField(name, rec, 'shmSel', 0, 0xffff_ffff);
    const interruptStatus = intField(name, rec, 'interruptStatus', 0, VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
    const configGeneration = intField(name, rec, 'configGeneration', 0, 0xffff_ffff);
    const features = (BigInt(featHi) << 32n) | BigInt(featLo);
    if ((status & VIRTIO_STATUS_FEATURES_OK) !== 0 && !this.featuresAcceptable(features)) {
      throw new DeviceStateError(name, 'the negotiated features are not ones this device offers');
    }
    const queuesRaw = rec.queues;
    if (!Array.isArray(queuesRaw) || queuesRaw.length !== this.queues.length) {
      throw new DeviceStateError(name, `field 'queues' must be an array of ${this.queues.length} queues`);
    }
    const applyQueue = (queuesRaw as unknown[]).map((q, i) => Virtqueue.validateState(name, i, this.queues[i].maxSize, q));
    // The device validates its own part before changing anything; after this nothing can fail.
    this.device.loadState(rec.device);

    this.status = status;
    this.deviceFeaturesSel = deviceFeaturesSel;
    this.driverFeaturesSel = driverFeaturesSel;
    this.driverFeaturesLo = featLo;
    this.driverFeaturesHi = featHi;
    this.queueSel = queueSel;
    this.shmSel = shmSel;
    this.configGeneration = configGeneration;
    this.negotiated = (status & VIRTIO_STATUS_FEATURES_OK) !== 0 ? features : 0n;
    this.queues.forEach((q, i) => {
      q.reset();
      this.applyRingFeatures(q);
      applyQueue[i](q);
    });
    if ((status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) for (const q of this.queues) q.broken = true;
    this.interruptStatus = interruptStatus;
    this.lineLevel = !(interruptStatus !== 0); // force the line to be re-sent
    this.updateLine();
    // Buffers the driver made available before the save are picked up now.
    if (this.driverOk) this.queues.forEach((q, i) => {
      if (q.isActive) this.device.queueNotify(i);
    });
  }

  // ---- internals ----

  private readRegister(offset: number): number {
    const q = this.queues[this.queueSel] as Virtqueue | undefined;
    switch (offset) {
      case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case VIRTIO_MMIO_VERSION:
        return VIRTIO_MMIO_VERSION_MODERN;
      case VIRTIO_MMIO_DEVICE_ID:
        return this.device.deviceId;
      case VIRTIO_MMIO_VENDOR_ID_REG:
        return VIRTIO_MMIO_VENDOR_ID;
      case VIRTIO_MMIO_DEVICE_FEATURES:
        if (this.deviceFeaturesSel > 1) return 0;
        return Number((this.offeredFeatures >> BigInt(32 * this.deviceFeaturesSel)) & 0xffff_ffffn);
      case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return q === undefined ? 0 : q.maxSize;
      case VIRTIO_MMIO_QUEUE_READY:
        return q !== undefined && q.ready ? 1 : 0;
      case VIRTIO_MMIO_INTERRUPT_STATUS:
        return this.interruptStatus;
      case VIRTIO_MMIO_STATUS:
        return this.status;
      case VIRTIO_MMIO_QUEUE_DESC_LOW:
        return q?.descLo ?? 0;
      case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        return q?.descHi ?? 0;
      case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
        return q?.driverLo ?? 0;
      case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        return q?.driverHi ?? 0;
      case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
        return q?.deviceLo ?? 0;
      case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        return q?.deviceHi ?? 0;
      case VIRTIO_MMIO_SHM_LEN_LOW:
      case VIRTIO_MMIO_SHM_LEN_HIGH:
      case VIRTIO_MMIO_SHM_BASE_LOW:
      case VIRTIO_MMIO_SHM_BASE_HIGH:
        return 0xffff_ffff; // no shared memory region has this ID (§4.2.2: length -1)
      case VIRTIO_MMIO_CONFIG_GENERATION:
        return this.configGeneration;
      default:
        return 0;
    }
  }

  private writeRegister(offset: number, v: number): void {
    const q = this.queues[this.queueSel] as Virtqueue | undefined;
    // Queue layout registers are frozen while the queue is enabled (§4.2.2.3 driver rules).
    const layoutWritable = q !== undefined && !q.ready;
    switch (offset) {
      case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = v;
        break;
      case VIRTIO_MMIO_DRIVER_FEATURES:
        if ((this.status & VIRTIO_STATUS_FEATURES_OK) !== 0) break; // negotiation is over
        if (this.driverFeaturesSel === 0) this.driverFeaturesLo = v;
        else if (this.driverFeaturesSel === 1) this.driverFeaturesHi = v;
        break;
      case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = v;
        break;
      case VIRTIO_MMIO_QUEUE_SEL:
        this.queueSel = v;
        break;
      case VIRTIO_MMIO_QUEUE_NUM:
        if (layoutWritable) q.size = v > 0xffff ? 0 : v; // validated when the queue is enabled
        break;
      case VIRTIO_MMIO_QUEUE_READY:
        if (q === undefined) break;
        if ((v & 1) !== 0) {
          if (!q.ready) {
            this.applyRingFeatures(q);
            q.enable(); // reports bad rings through deviceError
            if ((this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) !== 0) q.broken = true;
          }
        } else {
          q.disable();
        }
        break;
      case VIRTIO_MMIO_QUEUE_NOTIFY: {
        const index = v & 0xffff;
        if (this.driverOk && index < this.queues.length && this.queues[index].isActive) this.device.queueNotify(index);
        break;
      }
      case VIRTIO_MMIO_INTERRUPT_ACK:
        this.interruptStatus &= ~v;
        this.updateLine();
        break;
      case VIRTIO_MMIO_STATUS:
        this.writeStatus(v & 0xff);
        break;
      case VIRTIO_MMIO_QUEUE_DESC_LOW:
        if (layoutWritable) q.descLo = v;
        break;
      case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (layoutWritable) q.descHi = v;
        break;
      case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
        if (layoutWritable) q.driverLo = v;
        break;
      case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (layoutWritable) q.driverHi = v;
        break;
      case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
        if (layoutWritable) q.deviceLo = v;
        break;
      case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (layoutWritable) q.deviceHi = v;
        break;
      case VIRTIO_MMIO_SHM_SEL:
        this.shmSel = v;
        break;
      default:
        break; // read-only or unknown registers, QueueReset
    }
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    // The driver sets bits; only a reset clears them, and DEVICE_NEEDS_RESET is the device's.
    const added = v & ~this.status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    this.status |= added & ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    if ((added & VIRTIO_STATUS_FEATURES_OK) !== 0) {
      const features = (BigInt(this.driverFeaturesHi) << 32n) | BigInt(this.driverFeaturesLo);
      if (this.featuresAcceptable(features) && (this.device.acceptFeatures?.(features) ?? true)) {
        this.negotiated = features;
        this.status |= VIRTIO_STATUS_FEATURES_OK;
        for (const q of this.queues) this.applyRingFeatures(q);
      }
      // Otherwise FEATURES_OK stays clear: the driver sees it and fails the device (§3.1.1).
    }
    if ((added & VIRTIO_STATUS_DRIVER_OK) !== 0) {
      if ((this.status & VIRTIO_STATUS_FEATURES_OK) === 0) {
        this.deviceError('DRIVER_OK set before FEATURES_OK');
        return;
      }
      this.status |= VIRTIO_STATUS_DRIVER_OK;
      if (this.driverOk) this.device.activate();
      else this.raise(VIRTIO_MMIO_INT_CONFIG); // already DEVICE_NEEDS_RESET: tell the driver now
    }
  }

  /** Device reset (Status = 0). */
  reset(): void {
    this.status = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.driverFeaturesLo = 0;
    this.driverFeaturesHi = 0;
    this.queueSel = 0;
    this.shmSel = 0;
    this.negotiated = 0n;
    for (const q of this.queues) q.reset();
    this.device.reset();
    this.interruptStatus = 0;
    this.updateLine();
  }

  /** VERSION_1 accepted, nothing beyond what was offered. */
  private featuresAcceptable(features: bigint): boolean {
    return (features & VIRTIO_F_VERSION_1) !== 0n && (features & ~this.offeredFeatures) === 0n;
  }

  private applyRingFeatures(q: Virtqueue): void {
    q.eventIdx = (this.negotiated & VIRTIO_F_EVENT_IDX) !== 0n;
    q.indirect = (this.negotiated & VIRTIO_F_INDIRECT_DESC) !== 0n;
  }

  private raise(bit: number): void {
    this.interruptStatus |= bit;
    this.updateLine();
  }

  private updateLine(): void {
    const level = this.interruptStatus !== 0;
    if (level === this.lineLevel) return;
    this.lineLevel = level;
    this.irq(level);
  }
}

/**
 * An unpopulated virtio-mmio slot, as QEMU's virt board has: MagicValue, Version and VendorID
 * read as usual and DeviceID reads 0 ("no device"), so drivers skip it; everything else reads 0
 * and writes are ignored.
 */
export class VirtioMmioEmptySlot implements MmioHandler {
  read(offset: number, _size: number, value: MmioValue): void {
    value.hi = 0;
    value.lo =
      offset === VIRTIO_MMIO_MAGIC_VALUE ? VIRTIO_MMIO_MAGIC :
      offset === VIRTIO_MMIO_VERSION ? VIRTIO_MMIO_VERSION_MODERN :
      offset === VIRTIO_MMIO_VENDOR_ID_REG ? VIRTIO_MMIO_VENDOR_ID : 0;
  }

  write(_offset: number, _size: number, _lo: number, _hi: number): void {
    // Nothing behind this slot.
  }
}
