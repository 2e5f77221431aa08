/**
 * DHCP server of the user-mode network (RFC 2131, options from RFC 2132): hands out addresses from
 * a small pool starting at `dhcpstart` (one lease per client hardware address), with subnet mask,
 * router, DNS server, lease time and optionally host and domain names. Enough for busybox udhcpc,
 * dhclient, systemd-networkd and the kernel's ip=dhcp.
 *
 * Message layout (BOOTP, RFC 2131 §2):
 *   0 op  1 htype  2 hlen  3 hops  4 xid(4)  8 secs(2)  10 flags(2)  12 ciaddr  16 yiaddr
 *   20 siaddr  24 giaddr  28 chaddr(16)  44 sname(64)  108 file(128)  236 magic cookie  240 options
 */

import { BROADCAST_MAC, readU16, readU32, writeU16, writeU32, type Ipv4 } from './wire.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const MAGIC_COOKIE = 0x63825363;
const OPTIONS_OFFSET = 240;
/** BOOTP's minimum message size; some clients reject shorter replies. */
const MIN_REPLY_SIZE = 300;
const FLAG_BROADCAST = 0x8000;

const DHCPDISCOVER = 1;
const DHCPOFFER = 2;
const DHCPREQUEST = 3;
const DHCPDECLINE = 4;
const DHCPACK = 5;
const DHCPNAK = 6;
const DHCPRELEASE = 7;
const DHCPINFORM = 8;

const OPT_PAD = 0;
const OPT_SUBNET_MASK = 1;
const OPT_ROUTER = 3;
const OPT_DNS = 6;
const OPT_HOSTNAME = 12;
const OPT_DOMAIN_NAME = 15;
const OPT_BROADCAST = 28;
const OPT_REQUESTED_IP = 50;
const OPT_LEASE_TIME = 51;
const OPT_MESSAGE_TYPE = 53;
const OPT_SERVER_ID = 54;
const OPT_RENEWAL_TIME = 58;
const OPT_REBINDING_TIME = 59;
const OPT_END = 255;

/** QEMU's pool: 16 addresses from dhcpstart. */
export const DHCP_POOL_SIZE = 16;
export const DHCP_LEASE_SECONDS = 86400;

export interface DhcpServerConfig {
  serverIp: Ipv4;
  netmask: Ipv4;
  dns: Ipv4;
  poolStart: Ipv4;
  /** Addresses in the pool (clipped to the subnet by the caller). */
  poolSize: number;
  leaseSeconds: number;
  hostname?: string;
  domainName?: string;
}

export interface DhcpReply {
  /** The BOOTP message (UDP payload, from server port 67 to client port 68). */
  payload: Uint8Array;
  dstIp: Ipv4;
  dstMac: Uint8Array;
  /** Set on an ACK: the address now leased to `clientMac`. */
  leased?: { ip: Ipv4; mac: Uint8Array };
}

interface Lease {
  mac: string;
  /** Expiry in ms of the injected clock; offered but unconfirmed leases expire quickly. */
  expiresMs: number;
  /** Acknowledged (not just offered). */
  bound: boolean;
}

interface ParsedOptions {
  messageType: number;
  requestedIp: Ipv4 | null;
  serverId: Ipv4 | null;
}

/** Offers not confirmed by a REQUEST within this time go back to the pool. */
const OFFER_HOLD_MS = 60_000;

export class DhcpServer {
  private readonly config: DhcpServerConfig;
  private readonly now: () => number;
  /** Pool index -> lease. */
  private readonly leases: (Lease | null)[];

  constructor(config: DhcpServerConfig, now: () => number) {
    this.config = config;
    this.now = now;
    this.leases = new Array<Lease | null>(config.poolSize).fill(null);
  }

  /**
   * Handles one message sent to port 67. Returns the reply, 'ignored' for a valid message that needs
   * none, or 'malformed' for one that cannot be parsed.
   */
  handle(msg: Uint8Array): DhcpReply | 'ignored' | 'malformed' {
    if (msg.length < OPTIONS_OFFSET) return 'malformed';
    if (msg[0] !== BOOTREQUEST) return 'ignored';
    if (msg[1] !== 1 || msg[2] !== 6) return 'ignored'; // only Ethernet clients
    if (readU32(msg, 236) !== MAGIC_COOKIE) return 'malformed';
    const opts = parseOptions(msg);
    if (opts === null) return 'malformed';
    const mac = msg.slice(28, 34);
    const macKey = macKeyOf(mac);
    const ciaddr = readU32(msg, 12);
    switch (opts.messageType) {
      case DHCPDISCOVER: {
        const index = this.allocate(macKey, opts.requestedIp);
        if (index < 0) return 'ignored'; // pool exhausted
        const lease = this.leases[index];
        if (lease !== null && !lease.bound) lease.expiresMs = this.now() + OFFER_HOLD_MS;
        return this.reply(msg, DHCPOFFER, (this.config.poolStart + index) >>> 0, 0, mac);
      }
      case DHCPREQUEST: {
        if (opts.serverId !== null && opts.serverId !== this.config.serverIp) {
          this.releaseMac(macKey, true); // the client chose another server
          return 'ignored';
        }
        const wanted = opts.requestedIp ?? (ciaddr !== 0 ? ciaddr : null);
        const index = wanted === null ? -1 : this.poolIndex(wanted);
        const lease = index < 0 ? null : this.leases[index];
        if (index < 0 || (lease !== null && lease.mac !== macKey && lease.expiresMs > this.now())) {
          return this.reply(msg, DHCPNAK, 0, 0, mac);
        }
        this.releaseMac(macKey, false);
        this.leases[index] = { mac: macKey, expiresMs: this.now() + this.config.leaseSeconds * 1000, bound: true };
        const ip = (this.config.poolStart + index) >>> 0;
        const r = this.reply(msg, DHCPACK, ip, ciaddr, mac);
        r.leased = { ip, mac };
        return r;
      }
      case DHCPINFORM:
        if (ciaddr === 0) return 'ignored';
        return this.reply(msg, DHCPACK, 0, ciaddr, mac);
      case DHCPRELEASE:
      case DHCPDECLINE:
        this.releaseMac(macKey, false);
        return 'ignored';
      default:
        return 'ignored';
    }
  }

  private poolIndex(ip: Ipv4): number {
    const i = (ip - this.config.poolStart) | 0;
    return i >= 0 && i < this.config.poolSize ? i : -1;
  }

  /** The pool index for a client: its current lease, the address it asks for, or the first free. */
  private allocate(macKey: string, requested: Ipv4 | null): number {
    const now = this.now();
    for (let i = 0; i < this.leases.length; i++) if (this.leases[i]?.mac === macKey) return i;
    const free = (i: number): boolean => {
      const l = this.leases[i];
      return l === null || l.expiresMs <= now;
    };
    if (requested !== null) {
      const i = this.poolIndex(requested);
      if (i >= 0 && free(i)) {
        this.leases[i] = { mac: macKey, expiresMs: now + OFFER_HOLD_MS, bound: false };
        return i;
      }
    }
    for (let i = 0; i < this.leases.length; i++) {
      if (free(i)) {
        this.leases[i] = { mac: macKey, expiresMs: now + OFFER_HOLD_MS, bound: false };
        return i;
      }
    }
    return -1;
  }

  /** Frees the client's lease (`onlyOffered`: only if it was never acknowledged). */
  private releaseMac(macKey: string, onlyOffered: boolean): void {
    for (let i = 0; i < this.leases.length; i++) {
      const l = this.leases[i];
      if (l !== null && l.mac === macKey && (!onlyOffered || !l.bound)) this.leases[i] = null;
    }
  }

  private reply(req: Uint8Array, type: number, yiaddr: Ipv4, ciaddr: Ipv4, mac: Uint8Array): DhcpReply {
    const c = this.config;
    const opts: number[] = [];
    const u32 = (code: number, v: number): void => {
      opts.push(code, 4, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    };
    const text = (code: number, s: string): void => {
      const bytes = Array.from(s.slice(0, 255), (ch) => ch.charCodeAt(0) & 0xff);
      if (bytes.length > 0) opts.push(code, bytes.length, ...bytes);
    };
    opts.push(OPT_MESSAGE_TYPE, 1, type);
    u32(OPT_SERVER_ID, c.serverIp);
    if (type !== DHCPNAK) {
      if (type !== DHCPACK || yiaddr !== 0) {
        u32(OPT_LEASE_TIME, c.leaseSeconds);
        u32(OPT_RENEWAL_TIME, Math.floor(c.leaseSeconds / 2));
        u32(OPT_REBINDING_TIME, Math.floor((c.leaseSeconds * 7) / 8));
      }
      u32(OPT_SUBNET_MASK, c.netmask);
      u32(OPT_ROUTER, c.serverIp);
      u32(OPT_DNS, c.dns);
      u32(OPT_BROADCAST, (c.serverIp | ~c.netmask) >>> 0);
      if (c.hostname !== undefined) text(OPT_HOSTNAME, c.hostname);
      if (c.domainName !== undefined) text(OPT_DOMAIN_NAME, c.domainName);
    }
    opts.push(OPT_END);
    const out = new Uint8Array(Math.max(MIN_REPLY_SIZE, OPTIONS_OFFSET + opts.length));
    out[0] = BOOTREPLY;
    out[1] = 1;
    out[2] = 6;
    out.set(req.subarray(4, 8), 4); // xid
    writeU16(out, 10, readU16(req, 10)); // flags
    writeU32(out, 12, ciaddr);
    writeU32(out, 16, yiaddr);
    writeU32(out, 20, type === DHCPNAK ? 0 : c.serverIp);
    out.set(req.subarray(24, 44), 24); // giaddr, chaddr
    writeU32(out, 236, MAGIC_COOKIE);
    out.set(opts, OPTIONS_OFFSET);
    // RFC 2131 §4.1: NAKs are broadcast; to a configured client, unicast; otherwise as the
    // broadcast flag asks (unicast to the offered address and the client's hardware address).
    const flags = readU16(req, 10);
    let dstIp: Ipv4 = 0xffffffff;
    let dstMac = BROADCAST_MAC;
    if (type !== DHCPNAK) {
      if (ciaddr !== 0) {
        dstIp = ciaddr;
        dstMac = mac;
      } else if ((flags & FLAG_BROADCAST) === 0) {
        dstIp = yiaddr;
        dstMac = mac;
      }
    }
    return { payload: out, dstIp, dstMac };
  }
}

function macKeyOf(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

function parseOptions(msg: Uint8Array): ParsedOptions | null {
  const out: ParsedOptions = { messageType: 0, requestedIp: null, serverId: null };
  let i = OPTIONS_OFFSET;
  while (i < msg.length) {
    const code = msg[i];
    if (code === OPT_PAD) {
      i++;
      continue;
    }
    if (code === OPT_END) break;
    if (i + 1 >= msg.length) return null;
    const len = msg[i + 1];
    const data = i + 2;
    if (data + len > msg.length) return null;
    if (code === OPT_MESSAGE_TYPE) {
      if (len !== 1) return null;
      out.messageType = msg[data];
    } else if (code === OPT_REQUESTED_IP) {
      if (len !== 4) return null;
      out.requestedIp = readU32(msg, data);
    } else if (code === OPT_SERVER_ID) {
      if (len !== 4) return null;
      out.serverId = readU32(msg, data);
    }
    i = data + len;
  }
  if (out.messageType === 0) return null;
  return out;
}
