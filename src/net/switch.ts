/**
 * An L2 learning switch (IEEE 802.1D transparent bridging, without spanning tree): VMs in one
 * process share a switch directly — each VM's virtio-net gets a port — and switches in different
 * processes are joined by socket links attached to a port (connect()).
 *
 *   ingress  a frame shorter than an Ethernet header (14 bytes) or longer than 65535 bytes, or
 *            with a group (multicast) source address, is dropped and counted; otherwise the
 *            source address is learned on the ingress port (moving it if it was elsewhere)
 *   forward  group destination (broadcast, multicast) or unknown unicast: flooded to every
 *            other port; known unicast: to the learned port only, or filtered when that is the
 *            ingress port itself. A frame never goes back out of its ingress port.
 *   aging    entries not refreshed for ageMs (default 300 s, 802.1D's default) are forgotten;
 *            the table holds at most maxMacs addresses (when full, new ones are not learned and
 *            their frames are flooded)
 *
 * Frames are delivered synchronously and without copying: a receiver gets a view valid only
 * during the call and copies what it keeps (as NetBackend.send's contract asks of backends).
 * Re-entry is bounded: a frame arriving while MAX_NESTING deliveries of this switch are already
 * on the stack (two in-process switches cabled twice into a loop) is dropped, so a loop costs
 * frames, not the host's stack. A receiver that throws is isolated: counted and reported, and
 * the other ports still get the frame.
 */

import type { NetBackend, NetStats } from './backend.js';

export const NET_SWITCH_MIN_FRAME = 14;
export const NET_SWITCH_MAX_FRAME = 65535;
export const NET_SWITCH_DEFAULT_AGE_MS = 300_000;
export const NET_SWITCH_DEFAULT_MAX_MACS = 4096;
/** Deliveries of one switch nested on the stack (legitimate nesting is 1 or 2: a port echoing back). */
const MAX_NESTING = 8;
const TWO_32 = 0x1_0000_0000;

export interface NetSwitchOptions {
  /** Forget an address not seen for this long (default 300 000 ms). */
  ageMs?: number;
  /** Most addresses learned (default 4096). */
  maxMacs?: number;
  /** Monotonic-enough time in milliseconds (default Date.now). */
  nowMs?: () => number;
  /** Host-side problems (a receiver threw), reported once per port. */
  onError?: (message: string) => void;
}

/** Switch counters: frames accepted on ingress, deliveries to ports, frames dropped. */
export interface NetSwitchStats extends NetStats {
  /** Frames sent to every other port (group or unknown destination). */
  flooded: number;
  /** Unicast frames whose destination is on their ingress port (not forwarded, not an error). */
  filtered: number;
}

/**
 * One switch port: a NetBackend for whatever is plugged in (a NIC, a link). Its stats are from the
 * device's side: framesOut = frames the device sent into the switch, framesIn = frames the switch
 * delivered to the device, dropped = frames from the device the switch refused.
 */
export interface NetSwitchPort extends NetBackend {
  readonly id: number;
  readonly stats: NetStats;
  readonly closed: boolean;
}

interface MacEntry {
  port: Port;
  seenMs: number;
}

class Port implements NetSwitchPort {
  readonly stats: NetStats = { framesIn: 0, framesOut: 0, dropped: 0 };
  receiver: ((frame: Uint8Array) => void) | undefined;
  closed = false;
  reportedThrow = false;

  constructor(
    private readonly owner: NetSwitch,
    readonly id: number,
  ) {}

  send(frame: Uint8Array): void {
    if (this.closed) {
      this.stats.dropped++;
      return;
    }
    this.stats.framesOut++;
    if (!this.owner.ingress(this, frame)) this.stats.dropped++;
  }

  setReceiver(receive: (frame: Uint8Array) => void): void {
    this.receiver = receive;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.receiver = undefined;
    this.owner.removePort(this);
  }
}

export class NetSwitch {
  readonly stats: NetSwitchStats = { framesIn: 0, framesOut: 0, dropped: 0, flooded: 0, filtered: 0 };
  private readonly ageMs: number;
  private readonly maxMacs: number;
  private readonly nowMs: () => number;
  private readonly onError: ((message: string) => void) | undefined;
  /** Replaced (not mutated) when ports come and go, so a flood in progress keeps its list. */
  private ports: readonly Port[] = [];
  private readonly table = new Map<number, MacEntry>();
  private nextId = 0;
  private nesting = 0;

  constructor(options: NetSwitchOptions = {}) {
    const ageMs = options.ageMs ?? NET_SWITCH_DEFAULT_AGE_MS;
    const maxMacs = options.maxMacs ?? NET_SWITCH_DEFAULT_MAX_MACS;
    if (!(ageMs > 0)) throw new RangeError(`switch: ageMs ${ageMs} must be positive`);
    if (!Number.isInteger(maxMacs) || maxMacs < 1) throw new RangeError(`switch: maxMacs ${maxMacs} must be a positive integer`);
    this.ageMs = ageMs;
    this.maxMacs = maxMacs;
    this.nowMs = options.nowMs ?? (() => Date.now());
    this.onError = options.onError;
  }

  /** A new port; plug a NIC into it (new VirtioNet(memory, sw.createPort(), ...)). */
  createPort(): NetSwitchPort {
    const port = new Port(this, this.nextId++);
    this.ports = [...this.ports, port];
    return port;
  }

  /**
   * Plugs a backend into a new port: frames for the port go to backend.send(), frames the backend
   * produces enter the switch (a socket link to another switch, the user-mode NAT, another
   * switch's port). Closing the returned port unplugs it; the backend stays the caller's.
   */
  connect(backend: NetBackend): NetSwitchPort {
    const port = this.createPort();
    port.setReceiver((frame) => backend.send(frame));
    backend.setReceiver((frame) => port.send(frame));
    return port;
  }

  /** Ports currently open. */
  get portCount(): number {
    return this.ports.length;
  }

  /** Learned addresses not yet aged out, as "52:54:00:12:34:56" → port id. */
  macTable(): Map<string, number> {
    const now = this.nowMs();
    const out = new Map<string, number>();
    for (const [mac, e] of this.table) if (now - e.seenMs <= this.ageMs) out.set(macString(mac), e.port.id);
    return out;
  }

  /** Forgets every learned address. */
  flush(): void {
    this.table.clear();
  }

  /** Closes every port. */
  close(): void {
    for (const p of this.ports) p.close();
    this.table.clear();
  }

  /** @internal A frame entering from `from`; false when it was dropped. */
  ingress(from: Port, frame: Uint8Array): boolean {
    const len = frame.length;
    if (len < NET_SWITCH_MIN_FRAME || len > NET_SWITCH_MAX_FRAME || (frame[6] & 1) !== 0 || this.nesting >= MAX_NESTING) {
      this.stats.dropped++;
      return false;
    }
    this.stats.framesIn++;
    const now = this.nowMs();
    this.learn(macKey(frame, 6), from, now);
    this.nesting++;
    try {
      if ((frame[0] & 1) === 0) {
        const dst = this.table.get(macKey(frame, 0));
        if (dst !== undefined && now - dst.seenMs <= this.ageMs && !dst.port.closed) {
          if (dst.port === from) this.stats.filtered++;
          else this.deliver(dst.port, frame);
          return true;
        }
      }
      this.stats.flooded++;
      const ports = this.ports;
      for (let i = 0; i < ports.length; i++) if (ports[i] !== from) this.deliver(ports[i], frame);
      return true;
    } finally {
      this.nesting--;
    }
  }

  /** @internal */
  removePort(port: Port): void {
    this.ports = this.ports.filter((p) => p !== port);
    for (const [mac, e] of this.table) if (e.port === port) this.table.delete(mac);
  }

  private learn(mac: number, port: Port, now: number): void {
    const e = this.table.get(mac);
    if (e !== undefined) {
      e.port = port;
      e.seenMs = now;
      return;
    }
    if (this.table.size >= this.maxMacs) {
      for (const [m, old] of this.table) if (now - old.seenMs > this.ageMs) this.table.delete(m);
      if (this.table.size >= this.maxMacs) return;
    }
    this.table.set(mac, { port, seenMs: now });
  }

  private deliver(port: Port, frame: Uint8Array): void {
    const receive = port.receiver;
    if (receive === undefined || port.closed) return;
    port.stats.framesIn++;
    this.stats.framesOut++;
    try {
      receive(frame);
    } catch (e) {
      this.stats.dropped++;
      if (!port.reportedThrow) {
        port.reportedThrow = true;
        this.onError?.(`switch port ${port.id}: the receiver threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}

/** A 48-bit MAC at frame[offset] as an exact number. */
function macKey(frame: Uint8Array, offset: number): number {
  const hi = (frame[offset] << 8) | frame[offset + 1];
  const lo = ((frame[offset + 2] << 24) | (frame[offset + 3] << 16) | (frame[offset + 4] << 8) | frame[offset + 5]) >>> 0;
  return hi * TWO_32 + lo;
}

function macString(key: number): string {
  return key.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}
