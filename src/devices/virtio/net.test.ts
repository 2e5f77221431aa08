import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PhysicalMemory } from '../../hart/memory.js';
import type { NetBackend } from '../../net/backend.js';
import { NetSwitch } from '../../net/switch.js';
import { DeviceStateError } from '../device-state.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_STATUS,
  VIRTIO_MMIO_INT_CONFIG,
  VIRTIO_MMIO_INT_VRING,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VirtioMmioTransport,
} from './mmio.js';
import {
  VirtioNet,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_HDR_SIZE,
  VIRTIO_NET_MAX_PENDING_FRAMES,
  VIRTIO_NET_RX,
  VIRTIO_NET_TX,
  type VirtioNetOptions,
} from './net.js';
import { VirtioMmioDriver } from './testing/guest-driver.js';

const RAM = 0x8000_0000;
const SIZE = 16;
const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
/** Buffers live from here up, 64 KiB per descriptor index and queue. */
const bufAddr = (q: number, desc: number): number => RAM + 0x10_0000 + (q * SIZE + desc) * 0x1_0000;

/** A backend that records what the guest sent and lets the test inject frames. */
class RecordingBackend implements NetBackend {
  readonly sent: Uint8Array[] = [];
  receiver: (frame: Uint8Array) => void = () => {};
  closed = false;
  send(frame: Uint8Array): void {
    this.sent.push(frame.slice());
  }
  setReceiver(receive: (frame: Uint8Array) => void): void {
    this.receiver = receive;
  }
  close(): void {
    this.closed = true;
  }
  inject(frame: Uint8Array): void {
    this.receiver(frame);
  }
}

/** Sends every frame straight back. */
class LoopbackBackend implements NetBackend {
  private receiver: (frame: Uint8Array) => void = () => {};
  send(frame: Uint8Array): void {
    this.receiver(frame);
  }
  setReceiver(receive: (frame: Uint8Array) => void): void {
    this.receiver = receive;
  }
  close(): void {}
}

/** An Ethernet frame: dst, src, EtherType 0x88b5 (local experimental), payload of `n` bytes. */
function frame(n: number, seed = 1, dst: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)): Uint8Array {
  const f = new Uint8Array(14 + n);
  f.set(dst, 0);
  f.set(Uint8Array.of(0x02, 0, 0, 0, 0, seed & 0xff), 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (let i = 0; i < n; i++) f[14 + i] = (i * 7 + seed) & 0xff;
  return f;
}

/** Buffers for one chain: each lands at bufAddr(queue, its descriptor), filled with `data` if given. */
type Buffers = { len: number; writable?: boolean; data?: Uint8Array }[];

/** A guest driver for virtio-net: both queues, posting buffers, reading packets back. */
class Guest extends VirtioMmioDriver {
  readonly net: VirtioNet;
  readonly irq: boolean[];
  readonly errors: string[];

  constructor(readonly backend: NetBackend, options: Partial<VirtioNetOptions> = {}, eventIdx = false) {
    const mem = new PhysicalMemory();
    mem.addRam(RAM, 8 << 20);
    const irq: boolean[] = [];
    const errors: string[] = [];
    const net = new VirtioNet(mem, backend, { mac: MAC, onError: (m) => errors.push(m), ...options });
    super(new VirtioMmioTransport(mem, net, (l) => irq.push(l), { eventIdx }), [SIZE, SIZE]);
    this.net = net;
    this.irq = irq;
    this.errors = errors;
  }
  override init(features = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF): void {
    super.init(features);
  }
  /** Posts one chain on queue q; returns its head and buffer addresses. */
  post(q: number, buffers: Buffers, notify = true): { head: number; addrs: number[] } {
    const queue = this.queues[q];
    const addrs = buffers.map((b, k) => {
      const addr = bufAddr(q, (queue.nextDesc + k) % SIZE);
      if (b.data !== undefined) this.mem.writeBytes(addr, b.data);
      return addr;
    });
    const head = queue.addChain(buffers.map((b, k) => ({ addr: addrs[k], len: b.len, writable: b.writable })));
    if (notify) this.kick(q);
    return { head, addrs };
  }
  /** Posts `count` receive buffers of `size` bytes each (one descriptor each). */
  postRx(count: number, size: number, notify = true): number[] {
    const addrs: number[] = [];
    for (let i = 0; i < count; i++) addrs.push(this.post(VIRTIO_NET_RX, [{ len: size, writable: true }], notify).addrs[0]);
    return addrs;
  }
  /** Transmits a frame with a zero header, split over `pieces` descriptors (header in the first). */
  sendFrame(f: Uint8Array, hdr: Uint8Array = new Uint8Array(VIRTIO_NET_HDR_SIZE), split = false): void {
    const whole = new Uint8Array(hdr.length + f.length);
    whole.set(hdr);
    whole.set(f, hdr.length);
    const parts = split ? [whole.subarray(0, hdr.length), whole.subarray(hdr.length, hdr.length + 5), whole.subarray(hdr.length + 5)] : [whole];
    this.post(VIRTIO_NET_TX, parts.map((p) => ({ len: p.length, data: p })));
  }
  /** Reads received packets (header + frame) out of the used ring, merging buffers by num_buffers. */
  receivePackets(): { hdr: Uint8Array; frame: Uint8Array; buffers: number; lens: number[] }[] {
    const used = this.queues[VIRTIO_NET_RX].takeUsed();
    const out: { hdr: Uint8Array; frame: Uint8Array; buffers: number; lens: number[] }[] = [];
    for (let i = 0; i < used.length; ) {
      const first = this.mem.readBytes(bufAddr(VIRTIO_NET_RX, used[i].id), used[i].len);
      const hdr = first.slice(0, VIRTIO_NET_HDR_SIZE);
      const n = hdr[10] | (hdr[11] << 8);
      const pieces = [first.subarray(VIRTIO_NET_HDR_SIZE)];
      for (let k = 1; k < n; k++) pieces.push(this.mem.readBytes(bufAddr(VIRTIO_NET_RX, used[i + k].id), used[i + k].len));
      const total = pieces.reduce((a, p) => a + p.length, 0);
      const f = new Uint8Array(total);
      let o = 0;
      for (const p of pieces) {
        f.set(p, o);
        o += p.length;
      }
      out.push({ hdr, frame: f, buffers: n, lens: used.slice(i, i + Math.max(1, n)).map((u) => u.len) });
      i += Math.max(1, n);
    }
    return out;
  }
}

test('virtio-net: device ID 1, offered features, configuration space', () => {
  const g = new Guest(new RecordingBackend());
  assert.equal(g.rd(VIRTIO_MMIO_DEVICE_ID), 1);
  const f = g.deviceFeatures();
  assert.equal(f & (VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF), VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF);
  assert.equal(f & VIRTIO_NET_F_CSUM, 0n, 'no checksum offload offered');
  assert.equal(f & VIRTIO_NET_F_MTU, 0n);
  assert.equal(f & 0xff_ffffn & ~(VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF), 0n, 'no offloads at all');
  for (let i = 0; i < 6; i++) assert.equal(g.rd(VIRTIO_MMIO_CONFIG + i, 1), MAC[i]);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG, 4), 0x12005452);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG + 6, 2), 1, 'link up');
  g.wr(VIRTIO_MMIO_CONFIG, 0xff, 1); // read-only
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG, 1), 0x52);

  const m = new Guest(new RecordingBackend(), { mtu: 9000, mergeableRxBuffers: false });
  const mf = m.deviceFeatures();
  assert.equal(mf & VIRTIO_NET_F_MTU, VIRTIO_NET_F_MTU);
  assert.equal(mf & VIRTIO_NET_F_MRG_RXBUF, 0n);
  assert.equal(m.rd(VIRTIO_MMIO_CONFIG + 10, 2), 9000);
  assert.throws(() => new VirtioNet(new PhysicalMemory(), new RecordingBackend(), { mac: Uint8Array.of(1, 2, 3, 4, 5, 6) }), RangeError);
  assert.throws(() => new VirtioNet(new PhysicalMemory(), new RecordingBackend(), { mac: Uint8Array.of(2, 2, 3) }), RangeError);
  assert.throws(() => new VirtioNet(new PhysicalMemory(), new RecordingBackend(), { mac: MAC, mtu: 10 }), RangeError);
});

test('virtio-net: a driver asking for checksum offload is refused at FEATURES_OK', () => {
  const g = new Guest(new RecordingBackend());
  const status = g.negotiate(VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_CSUM, { keepUnoffered: true });
  assert.equal(status & 8, 0, 'FEATURES_OK stays clear');
});

test('virtio-net: TX frames go to the backend, header skipped, chain returned', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  const f1 = frame(50, 1);
  const f2 = frame(1500, 2);
  g.sendFrame(f1);
  g.sendFrame(f2, undefined, true); // header, 5 bytes, the rest: three descriptors
  assert.deepEqual(b.sent, [f1, f2]);
  const used = g.queues[VIRTIO_NET_TX].takeUsed();
  assert.equal(used.length, 2);
  assert.ok(used.every((u) => u.len === 0));
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING, VIRTIO_MMIO_INT_VRING);
  assert.equal(g.net.stats.framesOut, 2);
  assert.equal(g.net.stats.bytesOut, f1.length + f2.length);
  assert.equal(g.net.stats.dropped, 0);
});

test('virtio-net: TX → loopback → RX round trip (mergeable header: flags 0, GSO none, num_buffers 1)', () => {
  const g = new Guest(new LoopbackBackend());
  g.init();
  g.postRx(4, 2048);
  const f = frame(1000, 9);
  g.sendFrame(f);
  const pkts = g.receivePackets();
  assert.equal(pkts.length, 1);
  assert.deepEqual(pkts[0].frame, f);
  assert.deepEqual([...pkts[0].hdr], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.equal(g.net.stats.framesIn, 1);
  assert.equal(g.net.stats.framesOut, 1);
});

test('virtio-net: round trip with VIRTIO_F_EVENT_IDX and indirect-free mergeable buffers', () => {
  const g = new Guest(new LoopbackBackend(), {}, true);
  g.init(VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_F_EVENT_IDX);
  g.postRx(6, 1024);
  const frames = [frame(100, 1), frame(2000, 2), frame(14, 3)];
  for (const f of frames) g.sendFrame(f);
  const pkts = g.receivePackets();
  assert.deepEqual(pkts.map((p) => p.frame), frames);
  assert.deepEqual(pkts.map((p) => p.buffers), [1, 2, 1]);
  assert.equal(g.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

test('virtio-net: RX without MRG_RXBUF uses one buffer per frame, drops frames that do not fit', () => {
  const b = new RecordingBackend();
  const g = new Guest(b, { mergeableRxBuffers: false });
  g.init(VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS);
  g.postRx(2, 1526);
  const small = frame(100, 3);
  b.inject(frame(1513, 4)); // 1527 + 12 > 1526: dropped, buffer kept
  b.inject(small);
  const pkts = g.receivePackets();
  assert.equal(pkts.length, 1);
  assert.deepEqual(pkts[0].frame, small);
  assert.equal(pkts[0].buffers, 1, 'num_buffers is 1 without MRG_RXBUF');
  assert.equal(g.net.stats.rxBadSize, 1);
  assert.equal(g.net.stats.dropped, 1);
  // The kept buffer serves the next frame.
  const exact = frame(1500, 5);
  b.inject(exact);
  assert.deepEqual(g.receivePackets()[0].frame, exact);
});

test('virtio-net: with MRG_RXBUF a large frame spans several buffers, all but the last full', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  g.postRx(8, 1000);
  const big = frame(3000, 6); // 3014 bytes + 12 header = 3026: four 1000-byte buffers
  b.inject(big);
  const pkts = g.receivePackets();
  assert.equal(pkts.length, 1);
  assert.equal(pkts[0].buffers, 4);
  assert.deepEqual(pkts[0].lens, [1000, 1000, 1000, 26]);
  assert.deepEqual(pkts[0].frame, big);
  // The next small frame takes one of the remaining buffers.
  const small = frame(20, 7);
  b.inject(small);
  const next = g.receivePackets();
  assert.equal(next.length, 1);
  assert.equal(next[0].buffers, 1);
  assert.deepEqual(next[0].frame, small);
});

test('virtio-net: a mergeable frame waits until enough buffers are posted', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  g.postRx(1, 1000);
  const big = frame(2500, 8);
  b.inject(big);
  assert.equal(g.queues[VIRTIO_NET_RX].takeUsed().length, 0, 'one buffer is not enough: nothing consumed');
  assert.equal(g.net.pendingFrames, 1);
  g.postRx(2, 1000);
  const pkts = g.receivePackets();
  assert.equal(pkts.length, 1);
  assert.equal(pkts[0].buffers, 3);
  assert.deepEqual(pkts[0].frame, big);
  assert.equal(g.net.pendingFrames, 0);
});

test('virtio-net: no buffers posted → frames queued in order, delivered on notify', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  const frames = [frame(60, 1), frame(70, 2), frame(80, 3)];
  for (const f of frames) b.inject(f);
  assert.equal(g.net.pendingFrames, 3);
  assert.equal(g.net.stats.framesIn, 0);
  g.ackInterrupts();
  g.postRx(2, 2048);
  let pkts = g.receivePackets();
  assert.deepEqual(pkts.map((p) => p.frame), frames.slice(0, 2));
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING, VIRTIO_MMIO_INT_VRING);
  // A buffer posted without a notification is found when the next frame arrives.
  g.postRx(2, 2048, false);
  const f4 = frame(90, 4);
  b.inject(f4);
  pkts = g.receivePackets();
  assert.deepEqual(pkts.map((p) => p.frame), [frames[2], f4]);
  assert.equal(g.net.pendingFrames, 0);
  assert.equal(g.net.stats.framesIn, 4);
});

test('virtio-net: the host-side queue is bounded: overflow drops and counts', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  for (let i = 0; i < VIRTIO_NET_MAX_PENDING_FRAMES + 10; i++) b.inject(frame(40, i));
  assert.equal(g.net.pendingFrames, VIRTIO_NET_MAX_PENDING_FRAMES);
  assert.equal(g.net.stats.rxOverflow, 10);
  assert.equal(g.net.stats.dropped, 10);
  // Large frames hit the byte bound first.
  const g2 = new Guest(new RecordingBackend());
  g2.init();
  const b2 = g2.backend as RecordingBackend;
  for (let i = 0; i < 40; i++) b2.inject(frame(65000, i));
  assert.ok(g2.net.pendingFrames < 40);
  assert.equal(g2.net.stats.rxOverflow, 40 - g2.net.pendingFrames);
});

test('virtio-net: frames are dropped while the driver is not ready or the link is down', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  b.inject(frame(40)); // before DRIVER_OK
  assert.equal(g.net.stats.rxNotReady, 1);
  g.init();
  g.net.setLink(false);
  b.inject(frame(40));
  g.sendFrame(frame(40));
  assert.equal(b.sent.length, 0);
  assert.equal(g.net.stats.rxNotReady, 2);
  assert.equal(g.net.stats.txLinkDown, 1);
  assert.equal(g.queues[VIRTIO_NET_TX].takeUsed().length, 1, 'the chain is still returned');
  assert.equal(g.net.stats.dropped, 3);
});

test('virtio-net: malformed TX chains (zero-length, header only, runt, offload request) are dropped and counted', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  g.post(VIRTIO_NET_TX, [{ len: 0 }]); // zero-length
  g.post(VIRTIO_NET_TX, [{ len: VIRTIO_NET_HDR_SIZE }]); // header only
  g.sendFrame(new Uint8Array(10)); // shorter than an Ethernet header
  const csum = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  csum[0] = 1; // NEEDS_CSUM without F_CSUM
  g.sendFrame(frame(40), csum);
  const gso = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  gso[1] = 1; // GSO_TCPV4
  g.sendFrame(frame(40), gso);
  g.post(VIRTIO_NET_TX, [{ len: 64, writable: true }]); // only a device-writable part
  const ok = frame(40, 5);
  g.sendFrame(ok);
  assert.deepEqual(b.sent, [ok]);
  assert.equal(g.net.stats.txMalformed, 6);
  assert.equal(g.net.stats.dropped, 6);
  assert.equal(g.queues[VIRTIO_NET_TX].takeUsed().length, 7, 'every chain is returned');
  assert.equal(g.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, 'protocol misuse does not break the device');
  assert.equal(g.errors.length, 2, 'each kind (no frame, offload) reported once');
});

test('virtio-net: a mergeable RX buffer smaller than the header marks the device needing reset', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  g.postRx(1, 8);
  b.inject(frame(40));
  assert.equal(g.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_CONFIG);
  // A reset and a new init bring it back; stale queued frames are gone.
  g.init();
  assert.equal(g.net.pendingFrames, 0);
  g.postRx(1, 2048);
  const f = frame(40, 2);
  b.inject(f);
  assert.deepEqual(g.receivePackets()[0].frame, f);
});

test('virtio-net: frames larger than the whole receive ring are dropped, not queued forever', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  g.postRx(SIZE, 64);
  b.inject(frame(2000)); // 16 * 64 = 1024 bytes of buffers in all
  assert.equal(g.net.pendingFrames, 0);
  assert.equal(g.net.stats.rxBadSize, 1);
  const f = frame(30, 3);
  b.inject(f);
  assert.deepEqual(g.receivePackets()[0].frame, f);
});

test('virtio-net: runts and, with F_MTU negotiated, frames above the MTU are not delivered', () => {
  const b = new RecordingBackend();
  const g = new Guest(b, { mtu: 1000 });
  g.init(VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC | VIRTIO_NET_F_MRG_RXBUF | VIRTIO_NET_F_MTU);
  g.postRx(4, 2048);
  b.inject(frame(1001));
  b.inject(new Uint8Array(13)); // a runt: Linux would reject it as shorter than an Ethernet header
  b.inject(new Uint8Array(0));
  const ok = frame(1000);
  b.inject(ok);
  const pkts = g.receivePackets();
  assert.equal(pkts.length, 1);
  assert.deepEqual(pkts[0].frame, ok);
  assert.equal(g.net.stats.rxBadSize, 3);
});

test('virtio-net: setLink raises a configuration change and updates status', () => {
  const g = new Guest(new RecordingBackend());
  g.init();
  const gen = g.rd(VIRTIO_MMIO_CONFIG_GENERATION);
  g.net.setLink(false);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG + 6, 2), 0);
  assert.notEqual(g.rd(VIRTIO_MMIO_CONFIG_GENERATION), gen);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_CONFIG);
  g.ackInterrupts();
  g.net.setLink(false); // no change: no interrupt
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
  g.net.setLink(true);
  assert.equal(g.rd(VIRTIO_MMIO_CONFIG + 6, 2), 1);
  assert.equal(g.rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_CONFIG);
});

test('virtio-net: state round trip keeps waiting frames, link and MAC; bad state is refused', () => {
  const b = new RecordingBackend();
  const g = new Guest(b);
  g.init();
  const frames = [frame(60, 1), frame(61, 2), frame(5000, 3)];
  for (const f of frames) b.inject(f);
  g.net.setLink(true);
  const saved = JSON.parse(JSON.stringify(g.transport.saveState())) as { device: { pendingFrames: string[]; mac: string } };
  assert.equal(saved.device.pendingFrames.length, 3);
  assert.equal(saved.device.mac, '52:54:00:12:34:56');

  const b2 = new RecordingBackend();
  const g2 = new Guest(b2);
  // Copy the rings (guest RAM) as a snapshot would, then load the device state.
  g2.mem.u8.set(g.mem.u8);
  g2.transport.loadState(saved);
  assert.equal(g2.net.pendingFrames, 3);
  g2.postRx(3, 8192);
  assert.deepEqual(g2.receivePackets().map((p) => p.frame), frames);
  assert.deepEqual(JSON.parse(JSON.stringify(g2.net.saveState())), { version: 1, mac: '52:54:00:12:34:56', linkUp: true, pendingFrames: [] });

  const bad = (patch: Record<string, unknown>): unknown => ({ ...saved.device, ...patch });
  for (const s of [
    bad({ mac: '01:00:5e:00:00:01' }),
    bad({ mac: 'nope' }),
    bad({ linkUp: 1 }),
    bad({ pendingFrames: ['***'] }),
    bad({ pendingFrames: [''] }),
    bad({ pendingFrames: 'AAAA' }),
    bad({ extra: 1 }),
    bad({ version: 2 }),
  ]) {
    assert.throws(() => g2.net.loadState(s), DeviceStateError);
  }
  // A failed load changed nothing.
  assert.equal(g2.net.pendingFrames, 0);
  assert.equal(g2.net.link, true);
});

test('virtio-net: the saved MAC is written and read in the usual notation', () => {
  const g = new Guest(new RecordingBackend());
  const state = g.net.saveState();
  assert.equal(state.mac, '52:54:00:12:34:56');
  g.net.loadState({ ...state, mac: '02-AB-cd-00-01-0F' });
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => g.rd(VIRTIO_MMIO_CONFIG + i, 1)), [0x02, 0xab, 0xcd, 0x00, 0x01, 0x0f]);
  assert.equal(g.net.saveState().mac, '02:ab:cd:00:01:0f');
  assert.throws(() => g.net.loadState({ ...state, mac: '52:54:00:12:34' }), DeviceStateError);
});

test('virtio-net: two guests on one NetSwitch talk to each other', () => {
  const sw = new NetSwitch();
  const macB = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x57);
  const a = new Guest(sw.createPort());
  const b = new Guest(sw.createPort(), { mac: macB });
  a.init();
  b.init();
  a.postRx(4, 2048);
  b.postRx(4, 2048);
  const hello = frame(100, 1); // broadcast from 02:00:00:00:00:01
  hello.set(MAC, 6);
  a.sendFrame(hello);
  assert.deepEqual(b.receivePackets().map((p) => p.frame), [hello]);
  const reply = frame(200, 2, MAC);
  reply.set(macB, 6);
  b.sendFrame(reply);
  assert.deepEqual(a.receivePackets().map((p) => p.frame), [reply]);
  assert.equal(sw.macTable().size, 2);
});
