/**
 * virtio-net, the network device (virtio 1.2 §5.1): device ID 1, one receive/transmit queue pair,
 * frames exchanged with an injected NetBackend (user-mode NAT, L2 switch port, socket link).
 *
 *   queue 0  receiveq1   device-writable buffers: virtio_net_hdr + a frame for the guest
 *   queue 1  transmitq1  device-readable buffers: virtio_net_hdr + a frame from the guest
 *
 * Configuration space (little-endian):
 *
 *   offset  size  field                notes
 *   0       6     mac                  VIRTIO_NET_F_MAC (always offered): the configured address
 *   6       2     status               VIRTIO_NET_F_STATUS (always offered): bit 0 LINK_UP
 *   8       2     max_virtqueue_pairs  reads 1 (VIRTIO_NET_F_MQ is not offered)
 *   10      2     mtu                  VIRTIO_NET_F_MTU (offered when options.mtu is set)
 *
 * Every buffer starts with the 12-byte header (§5.1.6; VERSION_1 always has num_buffers):
 *
 *   0 u8 flags   1 u8 gso_type   2 le16 hdr_len   4 le16 gso_size   6 le16 csum_start
 *   8 le16 csum_offset   10 le16 num_buffers
 *
 * Offered features: MAC, STATUS, MRG_RXBUF (unless disabled), MTU (when configured). No checksum
 * or segmentation offloads — we do not do them — so received headers are all zero but num_buffers
 * (flags 0, GSO_NONE: §5.1.6.4.1 with neither GUEST_CSUM nor GUEST_TSO* negotiated), and a
 * transmitted header asking for NEEDS_CSUM or a GSO type (which a driver MUST NOT send without
 * F_CSUM / HOST_TSO*) drops its frame.
 *
 * Receive: frames from the backend go straight into the posted buffers; when the guest has none
 * posted they wait in a bounded host-side queue (VIRTIO_NET_MAX_PENDING_FRAMES / _BYTES; drop +
 * count when full) and are delivered when the driver notifies queue 0 or the next frame arrives.
 * With MRG_RXBUF a frame spans as many buffers as it needs (num_buffers says how many; all but the
 * last are filled completely, §5.1.6.4.1); without it a frame that does not fit the next buffer is
 * dropped and the buffer kept for the next frame. Frames arriving while the driver is not ready
 * (no DRIVER_OK) or the link is down are dropped: a NIC that is down receives nothing.
 *
 * Transmit: each chain's readable part is the header and the frame; the frame is gathered into one
 * reused buffer and handed to backend.send() synchronously, then the chain is returned (used
 * length 0). Malformed chains — no frame after the header, a frame shorter than an Ethernet header
 * or longer than VIRTIO_NET_MAX_FRAME, an offload request — are dropped and counted.
 *
 * Nothing a guest does throws to the host: ring errors go through the transport (DEVICE_NEEDS_RESET),
 * protocol misuse is counted and reported once per kind through options.onError.
 *
 * State: the link status, MAC and the frames still waiting for receive buffers (base64) are saved;
 * the waiting frames are few (bounded queue) and keeping them makes a restore lose nothing that
 * the guest could have seen. Statistics are host metrics and are not saved.
 */

import type { PhysicalMemory } from '../../hart/memory.js';
import type { NetBackend, NetStats } from '../../net/backend.js';
import { DescriptorChain, type Virtqueue } from './queue.js';
import { VIRTIO_ID_NET, readConfigLe, type VirtioDevice, type VirtioTransport } from './mmio.js';
import { DeviceStateError, boolField, rejectUnknownFields, stateRecord } from '../device-state.js';

/** Feature bits (§5.1.3). */
export const VIRTIO_NET_F_CSUM = 1n << 0n;
export const VIRTIO_NET_F_GUEST_CSUM = 1n << 1n;
export const VIRTIO_NET_F_MTU = 1n << 3n;
export const VIRTIO_NET_F_MAC = 1n << 5n;
export const VIRTIO_NET_F_MRG_RXBUF = 1n << 15n;
export const VIRTIO_NET_F_STATUS = 1n << 16n;

/** Config status bits. */
export const VIRTIO_NET_S_LINK_UP = 1;

/** virtio_net_hdr flags and gso types. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;

export const VIRTIO_NET_RX = 0;
export const VIRTIO_NET_TX = 1;
export const VIRTIO_NET_QUEUE_SIZE = 256;
export const VIRTIO_NET_CONFIG_SIZE = 12;
/** The header with num_buffers (VERSION_1 always uses this one). */
export const VIRTIO_NET_HDR_SIZE = 12;
/** Largest frame either way (without FCS): the largest IP packet plus room for Ethernet + VLAN. */
export const VIRTIO_NET_MAX_FRAME = 65535;
/** Smallest frame either way: an Ethernet header (destination, source, EtherType). */
export const VIRTIO_NET_MIN_FRAME = 14;
/** Frames waiting for receive buffers, at most (then new ones are dropped). */
export const VIRTIO_NET_MAX_PENDING_FRAMES = 256;
/** Bytes of frames waiting for receive buffers, at most. */
export const VIRTIO_NET_MAX_PENDING_BYTES = 1 << 21;

const ETH_HLEN = 14;
const VLAN_HLEN = 4;

export interface VirtioNetOptions {
  /** The MAC address (6 bytes) reported in the configuration space. */
  mac: Uint8Array;
  /** Advised MTU in 68..65535 (offers VIRTIO_NET_F_MTU); frames above it are not delivered. */
  mtu?: number;
  /** Offer VIRTIO_NET_F_MRG_RXBUF (default true). */
  mergeableRxBuffers?: boolean;
  /** Guest misuse, reported once per kind until the device is reset. */
  onError?: (message: string) => void;
}

/**
 * Counters. framesIn/bytesIn: frames delivered to the guest; framesOut/bytesOut: frames the guest
 * sent to the backend; dropped: every frame lost either way (the sum of the reasons below).
 */
export interface VirtioNetStats extends NetStats {
  bytesIn: number;
  bytesOut: number;
  /** Received frames dropped because the host-side queue was full. */
  rxOverflow: number;
  /** Received frames dropped: driver not ready or link down. */
  rxNotReady: number;
  /**
   * Received frames dropped for their size: shorter than an Ethernet header, longer than 65535
   * bytes or the MTU, or larger than the buffers the guest posts.
   */
  rxBadSize: number;
  /** Transmitted chains dropped as malformed. */
  txMalformed: number;
  /** Transmitted frames dropped because the link was down. */
  txLinkDown: number;
}

export interface VirtioNetState {
  version: 1;
  /** "52:54:00:12:34:56". */
  mac: string;
  linkUp: boolean;
  /** Frames waiting for receive buffers, base64, oldest first. */
  pendingFrames: string[];
}

/** Kinds of guest misuse reported once each. */
const ERR_TX_SHORT = 1;
const ERR_TX_LONG = 2;
const ERR_TX_OFFLOAD = 4;

export class VirtioNet implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_NET;
  readonly features: bigint;
  readonly numQueues = 2;
  readonly configSize = VIRTIO_NET_CONFIG_SIZE;
  readonly stats: VirtioNetStats = {
    framesIn: 0, framesOut: 0, dropped: 0, bytesIn: 0, bytesOut: 0,
    rxOverflow: 0, rxNotReady: 0, rxBadSize: 0, txMalformed: 0, txLinkDown: 0,
  };

  private readonly memory: PhysicalMemory;
  private readonly backend: NetBackend;
  private readonly onError: ((message: string) => void) | undefined;
  private readonly mtu: number;
  private transport: VirtioTransport | undefined;
  private mac: Uint8Array;
  private linkUp = true;
  private reported = 0;

  private readonly txChain: DescriptorChain;
  /** Receive chains: one per buffer a mergeable frame spans (grows on demand). */
  private readonly rxChains: DescriptorChain[] = [];
  /** Reused transmit gather buffer (the backend must not keep the frame). */
  private readonly txBuf = new Uint8Array(VIRTIO_NET_MAX_FRAME);
  private readonly txHdr = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  private readonly rxHdr = new Uint8Array(VIRTIO_NET_HDR_SIZE);

  /** Frames waiting for receive buffers: a ring of copies. */
  private pending: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(VIRTIO_NET_MAX_PENDING_FRAMES);
  private pendingHead = 0;
  private pendingCount = 0;
  private pendingBytes = 0;
  /** Set while delivering: a frame arriving re-entrantly is queued, not delivered out of order. */
  private delivering = false;

  /**
   * @param memory guest memory (the transport's)
   * @param backend where frames go and come from; its receiver is set here
   */
  constructor(memory: PhysicalMemory, backend: NetBackend, options: VirtioNetOptions) {
    if (!(options.mac instanceof Uint8Array) || options.mac.length !== 6) {
      throw new RangeError('virtio-net: the MAC address must be 6 bytes');
    }
    if ((options.mac[0] & 1) !== 0) throw new RangeError('virtio-net: the MAC address must be unicast (bit 0 of the first byte clear)');
    const mtu = options.mtu;
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > VIRTIO_NET_MAX_FRAME)) {
      throw new RangeError(`virtio-net: MTU ${String(mtu)} must be an integer in 68..${VIRTIO_NET_MAX_FRAME}`);
    }
    this.memory = memory;
    this.backend = backend;
    this.onError = options.onError;
    this.mac = Uint8Array.from(options.mac);
    this.mtu = mtu ?? 0;
    let features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS;
    if (options.mergeableRxBuffers !== false) features |= VIRTIO_NET_F_MRG_RXBUF;
    if (mtu !== undefined) features |= VIRTIO_NET_F_MTU;
    this.features = features;
    this.txChain = new DescriptorChain(memory);
    this.rxChains.push(new DescriptorChain(memory));
    backend.setReceiver((frame) => this.receive(frame));
  }

  /** The link is up (what the guest reads in status). */
  get link(): boolean {
    return this.linkUp;
  }

  /** Frames waiting for receive buffers. */
  get pendingFrames(): number {
    return this.pendingCount;
  }

  /** Changes the link status and tells the guest (a configuration change). */
  setLink(up: boolean): void {
    if (up === this.linkUp) return;
    this.linkUp = up;
    if (!up) this.dropPending();
    this.transport?.configChanged();
  }

  /**
   * A frame for the guest (the backend's receiver). Delivered now when buffers are posted,
   * otherwise kept (copied) until they are; dropped and counted when it cannot be.
   */
  receive(frame: Uint8Array): void {
    const len = frame.length;
    if (len < VIRTIO_NET_MIN_FRAME || len > VIRTIO_NET_MAX_FRAME || !this.fitsMtu(frame)) {
      this.stats.rxBadSize++;
      this.stats.dropped++;
      return;
    }
    const t = this.transport;
    if (t === undefined || !t.driverOk || !this.linkUp) {
      this.stats.rxNotReady++;
      this.stats.dropped++;
      return;
    }
    // Nothing queued ahead of it: straight into the guest's buffers, no copy.
    const direct = this.pendingCount === 0 && !this.delivering;
    if (direct) {
      this.delivering = true;
      const r = this.deliverFrame(t, frame);
      this.delivering = false;
      if (r !== WAIT) {
        t.notifyUsed(VIRTIO_NET_RX);
        return;
      }
    }
    if (this.pendingCount === VIRTIO_NET_MAX_PENDING_FRAMES || this.pendingBytes + len > VIRTIO_NET_MAX_PENDING_BYTES) {
      this.stats.rxOverflow++;
      this.stats.dropped++;
      return;
    }
    this.pending[(this.pendingHead + this.pendingCount) % VIRTIO_NET_MAX_PENDING_FRAMES] = new Uint8Array(frame); // a copy (slice() of a Node Buffer would be a view)
    this.pendingCount++;
    this.pendingBytes += len;
    // Older frames first; buffers may have been posted without a notification (event index).
    if (!direct) this.deliverPending();
  }

  // ---- VirtioDevice ----

  queueMaxSize(_index: number): number {
    return VIRTIO_NET_QUEUE_SIZE;
  }

  attach(transport: VirtioTransport): void {
    this.transport = transport;
  }

  readConfig(offset: number, size: number): number {
    return readConfigLe((i) => this.configByte(i), offset, size);
  }

  writeConfig(_offset: number, _size: number, _value: number): void {
    // Every field is read-only for a VERSION_1 driver.
  }

  activate(): void {
    this.transmit();
    this.deliverPending();
  }

  queueNotify(index: number): void {
    if (index === VIRTIO_NET_TX) this.transmit();
    else if (index === VIRTIO_NET_RX) this.deliverPending();
  }

  reset(): void {
    // Frames queued for a driver that is gone are stale.
    this.dropPending();
    this.reported = 0;
  }

  saveState(): VirtioNetState {
    const frames: string[] = [];
    for (let i = 0; i < this.pendingCount; i++) {
      frames.push(toBase64(this.pending[(this.pendingHead + i) % VIRTIO_NET_MAX_PENDING_FRAMES] as Uint8Array));
    }
    return { version: 1, mac: formatMac(this.mac), linkUp: this.linkUp, pendingFrames: frames };
  }

  loadState(state: unknown): void {
    const name = 'virtio-net';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, ['version', 'mac', 'linkUp', 'pendingFrames']);
    const mac = typeof rec.mac === 'string' ? parseMac(rec.mac) : undefined;
    if (mac === undefined || (mac[0] & 1) !== 0) {
      throw new DeviceStateError(name, "field 'mac' must be a unicast MAC address like 52:54:00:12:34:56");
    }
    const linkUp = boolField(name, rec, 'linkUp');
    const raw = rec.pendingFrames;
    if (!Array.isArray(raw) || raw.length > VIRTIO_NET_MAX_PENDING_FRAMES) {
      throw new DeviceStateError(name, `field 'pendingFrames' must be an array of at most ${VIRTIO_NET_MAX_PENDING_FRAMES} frames`);
    }
    const frames: Uint8Array[] = [];
    let bytes = 0;
    for (const f of raw as unknown[]) {
      const frame = typeof f === 'string' ? fromBase64(f) : undefined;
      if (frame === undefined || frame.length === 0 || frame.length > VIRTIO_NET_MAX_FRAME) {
        throw new DeviceStateError(name, `field 'pendingFrames' holds something that is not a base64 frame of 1..${VIRTIO_NET_MAX_FRAME} bytes`);
      }
      bytes += frame.length;
      frames.push(frame);
    }
    if (bytes > VIRTIO_NET_MAX_PENDING_BYTES) {
      throw new DeviceStateError(name, `field 'pendingFrames' holds more than ${VIRTIO_NET_MAX_PENDING_BYTES} bytes`);
    }
    this.mac = mac;
    this.linkUp = linkUp;
    this.pending = new Array<Uint8Array | undefined>(VIRTIO_NET_MAX_PENDING_FRAMES);
    frames.forEach((f, i) => (this.pending[i] = f));
    this.pendingHead = 0;
    this.pendingCount = frames.length;
    this.pendingBytes = bytes;
    this.reported = 0;
  }

  // ---- internals ----

  private configByte(offset: number): number {
    if (offset < 6) return this.mac[offset];
    switch (offset) {
      case 6:
        return this.linkUp ? VIRTIO_NET_S_LINK_UP : 0;
      case 8:
        return 1; // max_virtqueue_pairs
      case 10:
        return this.mtu & 0xff;
      case 11:
        return this.mtu >>> 8;
      default:
        return 0;
    }
  }

  /** §5.1.6.4.1 with F_MTU: no frame above the MTU plus its link-level header goes to the guest. */
  private fitsMtu(frame: Uint8Array): boolean {
    if (this.mtu === 0 || (this.transport !== undefined && (this.transport.negotiatedFeatures & VIRTIO_NET_F_MTU) === 0n)) {
      return true;
    }
    const tagged = frame.length >= ETH_HLEN && frame[12] === 0x81 && frame[13] === 0x00;
    return frame.length <= this.mtu + ETH_HLEN + (tagged ? VLAN_HLEN : 0);
  }

  private report(kind: number, message: string): void {
    if ((this.reported & kind) !== 0) return;
    this.reported |= kind;
    this.onError?.(`virtio-net: ${message}`);
  }

  /** Sends every transmit chain the guest posted to the backend. */
  private transmit(): void {
    const t = this.transport;
    if (t === undefined || !t.driverOk) return;
    const q = t.queues[VIRTIO_NET_TX];
    const chain = this.txChain;
    const hdr = this.txHdr;
    let used = false;
    const backend = this.backend;
    backend.beginBurst?.();
    try {
      this.transmitQueue(q, chain, hdr, () => {
        used = true;
      });
    } finally {
      backend.endBurst?.();
    }
    if (used) t.notifyUsed(VIRTIO_NET_TX);
  }

  private transmitQueue(q: Virtqueue, chain: DescriptorChain, hdr: Uint8Array, onUsed: () => void): void {
    while (q.pop(chain)) {
      const frameLen = chain.readableLength - VIRTIO_NET_HDR_SIZE;
      if (frameLen < VIRTIO_NET_MIN_FRAME) {
        this.dropTx(ERR_TX_SHORT, `transmit chain of ${chain.readableLength} readable bytes holds no Ethernet frame after the header`);
      } else if (frameLen > VIRTIO_NET_MAX_FRAME) {
        this.dropTx(ERR_TX_LONG, `transmitted frame of ${frameLen} bytes exceeds ${VIRTIO_NET_MAX_FRAME}`);
      } else {
        chain.read(hdr, 0, VIRTIO_NET_HDR_SIZE);
        if ((hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 || hdr[1] !== VIRTIO_NET_HDR_GSO_NONE) {
          // Neither VIRTIO_NET_F_CSUM nor HOST_TSO*/USO was offered: the driver broke the protocol.
          this.dropTx(ERR_TX_OFFLOAD, `transmit header asks for an offload that was not offered (flags ${hdr[0]}, gso_type ${hdr[1]})`);
        } else if (!this.linkUp) {
          this.stats.txLinkDown++;
          this.stats.dropped++;
        } else {
          chain.read(this.txBuf, 0, frameLen);
          this.stats.framesOut++;
          this.stats.bytesOut += frameLen;
          this.backend.send(this.txBuf.subarray(0, frameLen));
        }
      }
      q.pushUsed(chain.head, 0);
      onUsed();
    }
  }

  private dropTx(kind: number, message: string): void {
    this.stats.txMalformed++;
    this.stats.dropped++;
    this.report(kind, message);
  }

  /** Delivers waiting frames, oldest first, while the guest has buffers for them. */
  private deliverPending(): void {
    const t = this.transport;
    if (t === undefined || !t.driverOk || this.pendingCount === 0 || this.delivering) return;
    this.delivering = true;
    let used = false;
    while (this.pendingCount > 0) {
      const slot = this.pendingHead;
      const frame = this.pending[slot] as Uint8Array;
      const r = this.deliverFrame(t, frame);
      if (r === WAIT) break;
      used = true;
      this.pending[slot] = undefined;
      this.pendingHead = (slot + 1) % VIRTIO_NET_MAX_PENDING_FRAMES;
      this.pendingCount--;
      this.pendingBytes -= frame.length;
    }
    this.delivering = false;
    if (used) t.notifyUsed(VIRTIO_NET_RX);
  }

  /**
   * Puts one frame into the receive queue. DELIVERED: done; DROPPED: it can never fit (counted);
   * WAIT: not enough buffers posted yet (nothing consumed).
   */
  private deliverFrame(t: VirtioTransport, frame: Uint8Array): number {
    const q = t.queues[VIRTIO_NET_RX];
    const need = VIRTIO_NET_HDR_SIZE + frame.length;
    const hdr = this.rxHdr;
    if ((t.negotiatedFeatures & VIRTIO_NET_F_MRG_RXBUF) === 0n) {
      const c = this.rxChains[0];
      if (!q.pop(c)) return WAIT;
      if (c.writableLength < need) {
        // Keep the buffer for a smaller frame (§5.1.6.3: the driver SHOULD post 1526-byte buffers).
        q.unpop();
        this.stats.rxBadSize++;
        this.stats.dropped++;
        return DROPPED;
      }
      hdr[10] = 1; // num_buffers
      hdr[11] = 0;
      c.write(hdr);
      c.write(frame);
      q.pushUsed(c.head, c.bytesWritten);
      this.countIn(frame.length);
      return DELIVERED;
    }
    // Mergeable: take buffers until the frame fits, then fill them in order.
    let n = 0;
    let room = 0;
    while (room < need) {
      if (n === this.rxChains.length) this.rxChains.push(new DescriptorChain(this.memory));
      const c = this.rxChains[n];
      if (!q.pop(c)) {
        for (let i = 0; i < n; i++) q.unpop();
        if (n >= q.size && !q.broken) {
          // The whole ring is not enough for this frame: it can never be delivered.
          this.stats.rxBadSize++;
          this.stats.dropped++;
          return DROPPED;
        }
        return WAIT;
      }
      n++;
      if (c.writableLength < VIRTIO_NET_HDR_SIZE) {
        // §5.1.6.3.1: with MRG_RXBUF each buffer MUST hold at least the header.
        for (let i = 0; i < n; i++) q.unpop();
        t.deviceError(`receive buffer of ${c.writableLength} writable bytes is smaller than the ${VIRTIO_NET_HDR_SIZE}-byte header`);
        return WAIT;
      }
      room += c.writableLength;
    }
    hdr[10] = n & 0xff;
    hdr[11] = n >>> 8;
    const first = this.rxChains[0];
    first.write(hdr);
    let done = 0;
    for (let i = 0; i < n; i++) {
      const c = this.rxChains[i];
      done += c.write(frame, done, frame.length - done);
      q.pushUsed(c.head, c.bytesWritten);
    }
    this.countIn(frame.length);
    return DELIVERED;
  }

  private countIn(len: number): void {
    this.stats.framesIn++;
    this.stats.bytesIn += len;
  }

  private dropPending(): void {
    this.stats.rxNotReady += this.pendingCount;
    this.stats.dropped += this.pendingCount;
    this.pending.fill(undefined);
    this.pendingHead = 0;
    this.pendingCount = 0;
    this.pendingBytes = 0;
  }
}

const DELIVERED = 0;
const DROPPED = 1;
const WAIT = 2;

// ---- MAC and base64 helpers (the core has no Buffer/btoa) ----

function formatMac(mac: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i === 0 ? '' : ':') + (mac[i] < 16 ? '0' : '') + mac[i].toString(16);
  return s;
}

/** Parses "52:54:00:12:34:56" (or with '-'); undefined when malformed. */
function parseMac(text: string): Uint8Array | undefined {
  const m = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/.exec(text);
  if (m === null) return undefined;
  return Uint8Array.from(m.slice(1), (h) => parseInt(h, 16));
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    s += B64[a >> 2] + B64[((a & 3) << 4) | (b >> 4)];
    s += i + 1 < bytes.length ? B64[((b & 15) << 2) | (c >> 6)] : '=';
    s += i + 2 < bytes.length ? B64[c & 63] : '=';
    if (s.length >= 4096) {
      parts.push(s);
      s = '';
    }
  }
  parts.push(s);
  return parts.join('');
}

/** Strict base64 (padded, no whitespace); undefined when malformed. */
function fromBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const ch = text.charCodeAt(i + k);
      let d: number;
      if (ch === 61 /* '=' */ && last && k >= 4 - pad) d = 0;
      else {
        d = ch < 128 ? B64_INDEX[ch] : -1;
        if (d < 0) return undefined;
      }
      v = (v << 6) | d;
    }
    out[o++] = v >>> 16;
    if (o < out.length) out[o++] = (v >>> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}
