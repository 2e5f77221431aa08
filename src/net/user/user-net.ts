/**
 * The `user` network backend: a small router in the style of QEMU's user networking (slirp),
 * written from the RFCs. The guest sees a 10.0.2.0/24 network (by default) with
 *
 *   10.0.2.2   gateway and host, MAC 52:55:0a:00:02:02: answers ARP and ping; DHCP server;
 *              TCP/UDP to it reach the host's 127.0.0.1
 *   10.0.2.3   DNS relay (UDP and TCP port 53) to the host's resolver
 *   10.0.2.15  the first address the DHCP server hands out
 *
 * Everything else the guest sends is NAT'ed through host sockets: a host TCP connection per guest
 * TCP connection (tcp.ts terminates the guest's TCP), a host UDP socket per guest UDP source port.
 * Host forwards listen on the host and open connections to the guest. With `restrict`, nothing
 * reaches the host's network except through forwards.
 *
 * Frames are validated header by header; anything malformed, fragmented or unsupported is dropped
 * and counted in `stats`, never thrown. Frames for the guest are queued while a frame or host event
 * is being handled and delivered when it is done, so a receiver that answers synchronously (calls
 * send() from inside its callback) is safe.
 */

import type { NetBackend, NetStats } from '../backend.js';
import { DnsTcpStream } from './dns-tcp.js';
import { DhcpServer, DHCP_CLIENT_PORT, DHCP_LEASE_SECONDS, DHCP_POOL_SIZE, DHCP_SERVER_PORT } from './dhcp.js';
import type { HostTcpEvents, HostTcpListener, HostTcpSocket, HostUdpSocket, UserNetHost, UserNetTimer } from './host.js';
import { DEFAULT_USER_NET_CONFIG, UserNetConfigError, validateUserNetConfig, type HostForward, type UserNetConfig } from './options.js';
import { TcpConnection, buildResetFor, tcpKey, type TcpContext, type TcpSegmentIn } from './tcp.js';
import {
  BROADCAST_MAC,
  ETH_HLEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HLEN,
  IP_MF,
  IP_OFFSET_MASK,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  L4_OFFSET,
  TCP_ACK,
  TCP_FIN,
  TCP_HLEN,
  TCP_RST,
  TCP_SYN,
  TCPOPT_EOL,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_WSCALE,
  UDP_HLEN,
  buildUdpFrame,
  finishChecksum,
  formatIpv4,
  fragmentIpv4Frame,
  isBroadcastMac,
  macEquals,
  newIpv4Frame,
  parseIpv4,
  pseudoHeaderSum,
  readU16,
  readU32,
  setTransportChecksum,
  sum16,
  writeU16,
  writeU32,
  type Ipv4,
} from './wire.js';

export interface UserNetStats extends NetStats {
  /** Drops by reason; each is also counted in `dropped`. */
  malformed: number;
  badChecksum: number;
  fragments: number;
  badTcpFlags: number;
  /** EtherTypes other than IPv4/ARP (IPv6...), multicast, other IP protocols, unanswered ICMP. */
  unsupported: number;
  /** Not addressed to us, or to nothing that exists (no connection, no service). */
  notForUs: number;
  /** Refused by restrict=on. */
  restricted: number;
  /** Refused because a table (connections, flows, pending DNS queries) was full. */
  overLimit: number;
  /** Bugs caught at the frame boundary (should stay 0). */
  internalErrors: number;
  /** Frames for the guest dropped because its MAC address was not known yet (an ARP request went out). */
  unresolved: number;
  arpReplies: number;
  dhcpReplies: number;
  icmpEchoReplies: number;
  dnsQueries: number;
  /** Connections / flows opened so far, and open now. */
  tcpConnections: number;
  udpFlows: number;
  tcpOpen: number;
  udpOpen: number;
}

export type UserNetDropReason = 'malformed' | 'badChecksum' | 'fragments' | 'badTcpFlags' | 'unsupported' | 'notForUs' | 'restricted' | 'overLimit' | 'internalErrors';

/** A host forward as bound (hostPort is the real port when 0 was configured). */
export type BoundHostForward = HostForward;

export interface UserNetBackend extends NetBackend {
  readonly stats: UserNetStats;
  /** The effective configuration. */
  readonly config: UserNetConfig;
  /**
   * Resolves with the bound host forwards once every one listens; rejects with a
   * UserNetConfigError (code ELISTEN) when one cannot listen. Already handled: not awaiting it is fine.
   */
  readonly ready: Promise<BoundHostForward[]>;
  /** The last exception caught at the frame boundary (see stats.internalErrors), for diagnostics. */
  readonly lastInternalError: unknown;
  close(): void;
  /** Bursts (NetBackend): in-order TCP data in one gets one ACK, at its end. */
  beginBurst(): void;
  endBurst(): void;
}

/** Caps on tables, so a guest cannot make the host hold unbounded state. */
const MAX_TCP_CONNECTIONS = 1024;
const MAX_UDP_FLOWS = 256;
const MAX_DNS_PENDING = 64;
const MAX_ARP_ENTRIES = 64;
/** UDP flows without traffic for this long are closed (QEMU's slirp uses 240 s). */
const UDP_IDLE_MS = 240_000;
/** At most one ARP request per address per this interval. */
const ARP_REQUEST_INTERVAL_MS = 1000;
/** Guest-side ports the gateway uses for host forwards. */
const FWD_PORT_FIRST = 32768;
const FWD_PORT_LAST = 60999;

const ARP_LEN = 28;
const ARP_REQUEST = 1;
const ARP_REPLY = 2;
const DNS_PORT = 53;
const DNS_HEADER_LEN = 12;

interface UdpFlow {
  key: string;
  guestIp: Ipv4;
  guestPort: number;
  socket: HostUdpSocket;
  lastActiveMs: number;
  timer: UserNetTimer | null;
}

/** A remote peer of a UDP host forward, seen by the guest as gateway:gatewayPort. */
interface UdpForwardFlow {
  forward: HostForward;
  socket: HostUdpSocket;
  peerAddress: string;
  peerPort: number;
  gatewayPort: number;
  guestIp: Ipv4;
  lastActiveMs: number;
  timer: UserNetTimer | null;
}

/** What a destination address means to the router. */
type Route = { kind: 'host' } | { kind: 'dns' } | { kind: 'external'; address: string } | { kind: 'none' };

function gatewayMacFor(ip: Ipv4): Uint8Array {
  return new Uint8Array([0x52, 0x55, ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff]);
}

function isLoopbackText(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1';
}

/** Creates the backend. `options` is merged over the defaults and validated (throws UserNetConfigError). */
export function createUserNet(options: Partial<UserNetConfig>, host: UserNetHost): UserNetBackend {
  const config: UserNetConfig = { ...DEFAULT_USER_NET_CONFIG, ...options, hostForwards: [...(options.hostForwards ?? [])] };
  validateUserNetConfig(config);
  return new UserNet(config, host);
}

class UserNet implements UserNetBackend, TcpContext {
  readonly stats: UserNetStats = {
    framesIn: 0,
    framesOut: 0,
    dropped: 0,
    malformed: 0,
    badChecksum: 0,
    fragments: 0,
    badTcpFlags: 0,
    unsupported: 0,
    notForUs: 0,
    restricted: 0,
    overLimit: 0,
    internalErrors: 0,
    unresolved: 0,
    arpReplies: 0,
    dhcpReplies: 0,
    icmpEchoReplies: 0,
    dnsQueries: 0,
    tcpConnections: 0,
    udpFlows: 0,
    tcpOpen: 0,
    udpOpen: 0,
  };
  readonly config: UserNetConfig;
  readonly ready: Promise<BoundHostForward[]>;
  lastInternalError: unknown = undefined;

  private readonly host: UserNetHost;
  private readonly netAddr: Ipv4;
  private readonly netMask: Ipv4;
  private readonly hostIp: Ipv4;
  private readonly dnsIp: Ipv4;
  private readonly gatewayMac: Uint8Array;
  private readonly dhcp: DhcpServer;

  private receiver: ((frame: Uint8Array) => void) | null = null;
  private outQueue: Uint8Array[] = [];
  private depth = 0;
  /** Inside the guest device's transmit burst (beginBurst..endBurst), and who owes an ACK at its end. */
  private burst = false;
  private readonly ackWaiting = new Set<TcpConnection>();
  private flushing = false;
  private closed = false;

  private readonly arp = new Map<Ipv4, Uint8Array>();
  private readonly arpAskedMs = new Map<Ipv4, number>();
  private lastGuestMac: Uint8Array | null = null;

  private readonly tcp = new Map<string, TcpConnection>();
  private readonly udp = new Map<string, UdpFlow>();
  /** UDP forward flows by gateway port and by peer. */
  private readonly udpFwdByPort = new Map<number, UdpForwardFlow>();
  private readonly udpFwdByPeer = new Map<string, UdpForwardFlow>();
  private readonly listeners: HostTcpListener[] = [];
  private readonly forwardSockets: HostUdpSocket[] = [];
  private dnsPending = 0;
  private ipId = 0;
  private rngState: number;
  private nextFwdPort = FWD_PORT_FIRST;
  private rejectReady: ((e: Error) => void) | null = null;

  constructor(config: UserNetConfig, host: UserNetHost) {
    this.config = config;
    this.host = host;
    this.netAddr = parseIpv4(config.network) ?? 0;
    this.netMask = (~0 << (32 - config.prefixLength)) >>> 0;
    this.hostIp = parseIpv4(config.host) ?? 0;
    this.dnsIp = parseIpv4(config.dns) ?? 0;
    this.gatewayMac = gatewayMacFor(this.hostIp);
    const start = parseIpv4(config.dhcpStart) ?? 0;
    const broadcast = (this.netAddr | ~this.netMask) >>> 0;
    this.dhcp = new DhcpServer(
      {
        serverIp: this.hostIp,
        netmask: this.netMask,
        dns: this.dnsIp,
        poolStart: start,
        poolSize: Math.max(1, Math.min(DHCP_POOL_SIZE, broadcast - start)),
        leaseSeconds: DHCP_LEASE_SECONDS,
        hostname: config.hostname,
        domainName: config.domainName,
      },
      () => this.host.now(),
    );
    this.rngState = (Math.floor(host.now() * 1000) ^ 0x9e3779b9) | 1;
    this.ready = this.startForwards();
    this.ready.catch(() => undefined); // callers may ignore it; failures are also in the rejection
  }

  // ---- NetBackend ----

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.stats.framesIn++;
    this.enter(() => this.input(frame));
  }

  beginBurst(): void {
    this.burst = true;
  }

  endBurst(): void {
    this.burst = false;
    if (this.ackWaiting.size === 0) return;
    this.enter(() => {
      for (const c of this.ackWaiting) c.flushDeferredAck();
      this.ackWaiting.clear();
    });
  }

  setReceiver(receive: (frame: Uint8Array) => void): void {
    this.receiver = receive;
  }

  close(): void {
    if (this.closed) return;
    for (const c of [...this.tcp.values()]) c.destroy();
    this.tcp.clear();
    for (const f of this.udp.values()) this.closeUdpFlow(f);
    this.udp.clear();
    for (const f of this.udpFwdByPort.values()) f.timer?.cancel();
    this.udpFwdByPort.clear();
    this.udpFwdByPeer.clear();
    for (const s of this.forwardSockets) s.close();
    for (const l of this.listeners) l.close();
    this.closed = true;
    this.outQueue = [];
    this.stats.tcpOpen = 0;
    this.stats.udpOpen = 0;
    this.rejectReady?.(new UserNetConfigError('ELISTEN', 'the user network was closed before its host forwards were listening'));
  }

  // ---- TcpContext ----

  now(): number {
    return this.host.now();
  }

  setTimer(delayMs: number, callback: () => void): UserNetTimer {
    return this.host.setTimer(delayMs, () => this.enter(callback));
  }

  output(frame: Uint8Array): void {
    this.sendToGuest(frame, null);
  }

  remove(conn: TcpConnection): void {
    if (this.tcp.get(conn.key) === conn) {
      this.tcp.delete(conn.key);
      this.stats.tcpOpen = this.tcp.size;
    }
  }

  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  inBurst(): boolean {
    return this.burst;
  }

  deferAck(conn: TcpConnection): void {
    this.ackWaiting.add(conn);
  }

  nextIsn(): number {
    // xorshift32 plus a clock term (RFC 6528 spirit; the guest is the only party that sees it).
    let x = this.rngState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rngState = x;
    return (x + Math.floor(this.host.now() * 250)) >>> 0;
  }

  // ---- plumbing ----

  /** Runs one entry point (frame or host event): exceptions are contained, output is flushed after. */
  private enter(fn: () => void): void {
    if (this.closed) return;
    this.depth++;
    try {
      fn();
    } catch (e) {
      this.lastInternalError = e;
      this.drop('internalErrors');
    } finally {
      this.depth--;
      if (this.depth === 0) this.flush();
    }
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      // A receiver may call send() from inside; that appends to the queue this loop is draining.
      for (let i = 0; i < this.outQueue.length; i++) {
        const f = this.outQueue[i];
        if (this.receiver === null || this.closed) continue;
        this.stats.framesOut++;
        this.receiver(f);
      }
    } finally {
      this.outQueue = [];
      this.flushing = false;
    }
  }

  private drop(reason: UserNetDropReason): void {
    this.stats[reason]++;
    this.stats.dropped++;
  }

  private inSubnet(ip: Ipv4): boolean {
    return ((ip & this.netMask) >>> 0) === this.netAddr;
  }

  private route(dst: Ipv4): Route {
    if (dst === this.hostIp) return { kind: 'host' };
    if (dst === this.dnsIp) return { kind: 'dns' };
    if (this.inSubnet(dst)) return { kind: 'none' };
    const first = dst >>> 24;
    // 0/8 "this network", 127/8 loopback, 224/4 multicast, 240/4 reserved and broadcast.
    if (first === 0 || first === 127 || first >= 224) return { kind: 'none' };
    return { kind: 'external', address: formatIpv4(dst) };
  }

  private learn(ip: Ipv4, frame: Uint8Array, macOffset: number): void {
    if (frame[macOffset] & 1) return; // multicast source: not a station
    if (this.lastGuestMac === null || !macEquals(frame, macOffset, this.lastGuestMac)) this.lastGuestMac = frame.slice(macOffset, macOffset + 6);
    if (ip === 0 || !this.inSubnet(ip) || ip === this.hostIp || ip === this.dnsIp) return;
    const known = this.arp.get(ip);
    if (known !== undefined && macEquals(frame, macOffset, known)) return;
    const mac = frame.slice(macOffset, macOffset + 6);
    this.arp.delete(ip);
    if (this.arp.size >= MAX_ARP_ENTRIES) {
      const oldest = this.arp.keys().next();
      if (!oldest.done) this.arp.delete(oldest.value);
    }
    this.arp.set(ip, mac);
  }

  /** Queues an IPv4 frame (from newIpv4Frame) for the guest, filling in the Ethernet header. */
  private sendToGuest(frame: Uint8Array, dstMac: Uint8Array | null): void {
    const dst = readU32(frame, ETH_HLEN + 16);
    const mac = dstMac ?? this.arp.get(dst) ?? (dst === 0xffffffff ? BROADCAST_MAC : this.lastGuestMac);
    if (mac === null) {
      this.stats.unresolved++;
      this.arpRequest(dst);
      return;
    }
    frame.set(mac, 0);
    frame.set(this.gatewayMac, 6);
    for (const f of fragmentIpv4Frame(frame)) this.outQueue.push(f);
  }

  private arpRequest(ip: Ipv4): void {
    const now = this.host.now();
    const last = this.arpAskedMs.get(ip);
    if (last !== undefined && now - last < ARP_REQUEST_INTERVAL_MS) return;
    if (this.arpAskedMs.size >= MAX_ARP_ENTRIES) this.arpAskedMs.clear();
    this.arpAskedMs.set(ip, now);
    const f = new Uint8Array(ETH_HLEN + ARP_LEN);
    f.set(BROADCAST_MAC, 0);
    f.set(this.gatewayMac, 6);
    writeU16(f, 12, ETHERTYPE_ARP);
    this.fillArp(f, ARP_REQUEST, this.gatewayMac, this.hostIp, new Uint8Array(6), ip);
    this.outQueue.push(f);
  }

  private fillArp(f: Uint8Array, op: number, sha: Uint8Array, spa: Ipv4, tha: Uint8Array, tpa: Ipv4): void {
    const a = ETH_HLEN;
    writeU16(f, a, 1); // Ethernet
    writeU16(f, a + 2, ETHERTYPE_IPV4);
    f[a + 4] = 6;
    f[a + 5] = 4;
    writeU16(f, a + 6, op);
    f.set(sha, a + 8);
    writeU32(f, a + 14, spa);
    f.set(tha, a + 18);
    writeU32(f, a + 24, tpa);
  }

  // ---- input ----

  private input(frame: Uint8Array): void {
    if (frame.length < ETH_HLEN) return this.drop('malformed');
    if (frame[6] & 1) return this.drop('malformed'); // a multicast source address
    if (!isBroadcastMac(frame, 0)) {
      if (frame[0] & 1) return this.drop('unsupported'); // multicast (IPv6 ND, mDNS...)
      if (!macEquals(frame, 0, this.gatewayMac)) return this.drop('notForUs');
    }
    const type = readU16(frame, 12);
    if (type === ETHERTYPE_ARP) return this.arpInput(frame);
    if (type === ETHERTYPE_IPV4) return this.ipInput(frame);
    return this.drop('unsupported');
  }

  /** RFC 826: answer requests for the gateway and DNS addresses; learn senders. */
  private arpInput(frame: Uint8Array): void {
    const a = ETH_HLEN;
    if (frame.length < a + ARP_LEN) return this.drop('malformed');
    if (readU16(frame, a) !== 1 || readU16(frame, a + 2) !== ETHERTYPE_IPV4 || frame[a + 4] !== 6 || frame[a + 5] !== 4) {
      return this.drop('malformed');
    }
    const op = readU16(frame, a + 6);
    if (op !== ARP_REQUEST && op !== ARP_REPLY) return this.drop('malformed');
    const spa = readU32(frame, a + 14);
    const tpa = readU32(frame, a + 24);
    if (frame[a + 8] & 1) return this.drop('malformed'); // multicast sender hardware address
    this.learn(spa, frame, a + 8);
    if (op !== ARP_REQUEST) return;
    if ((tpa !== this.hostIp && tpa !== this.dnsIp) || spa === tpa) return; // not ours (or a probe for its own address)
    const r = new Uint8Array(ETH_HLEN + ARP_LEN);
    r.set(frame.subarray(a + 8, a + 14), 0);
    r.set(this.gatewayMac, 6);
    writeU16(r, 12, ETHERTYPE_ARP);
    this.fillArp(r, ARP_REPLY, this.gatewayMac, tpa, frame.subarray(a + 8, a + 14), spa);
    this.stats.arpReplies++;
    this.outQueue.push(r);
  }

  private ipInput(frame: Uint8Array): void {
    const ip = ETH_HLEN;
    if (frame.length < ip + 20) return this.drop('malformed');
    if (frame[ip] >>> 4 !== 4) return this.drop('malformed');
    const hlen = (frame[ip] & 0x0f) * 4;
    const total = readU16(frame, ip + 2);
    if (hlen < 20 || total < hlen || ip + total > frame.length) return this.drop('malformed');
    if (finishChecksum(sum16(frame, ip, hlen)) !== 0) return this.drop('badChecksum');
    const frag = readU16(frame, ip + 6);
    if (frag & (IP_MF | IP_OFFSET_MASK)) return this.drop('fragments');
    const src = readU32(frame, ip + 12);
    const dst = readU32(frame, ip + 16);
    if (src >>> 28 === 0xe || src === 0xffffffff) return this.drop('malformed'); // multicast/broadcast source
    if (src !== 0) this.learn(src, frame, 6);
    const l4 = ip + hlen;
    const l4Len = total - hlen;
    switch (frame[ip + 9]) {
      case IPPROTO_UDP:
        return this.udpInput(frame, src, dst, l4, l4Len);
      case IPPROTO_TCP:
        return this.tcpInput(frame, src, dst, l4, l4Len);
      case IPPROTO_ICMP:
        return this.icmpInput(frame, src, dst, l4, l4Len);
      default:
        return this.drop('unsupported');
    }
  }

  /** RFC 792: echo requests to the gateway or the DNS address are answered here. */
  private icmpInput(frame: Uint8Array, src: Ipv4, dst: Ipv4, l4: number, l4Len: number): void {
    if (l4Len < ICMP_HLEN) return this.drop('malformed');
    if (finishChecksum(sum16(frame, l4, l4Len)) !== 0) return this.drop('badChecksum');
    if (frame[l4] !== ICMP_ECHO_REQUEST || frame[l4 + 1] !== 0) return this.drop('unsupported');
    if (dst !== this.hostIp && dst !== this.dnsIp) return this.drop('unsupported'); // no raw sockets for others
    if (src === 0 || !this.inSubnet(src)) return this.drop('notForUs');
    const r = newIpv4Frame(dst, src, IPPROTO_ICMP, l4Len, this.nextIpId());
    r.set(frame.subarray(l4, l4 + l4Len), L4_OFFSET);
    r[L4_OFFSET] = ICMP_ECHO_REPLY;
    setTransportChecksum(r);
    this.stats.icmpEchoReplies++;
    this.sendToGuest(r, frame.slice(6, 12));
  }

  private udpInput(frame: Uint8Array, src: Ipv4, dst: Ipv4, l4: number, l4Len: number): void {
    if (l4Len < UDP_HLEN) return this.drop('malformed');
    const udpLen = readU16(frame, l4 + 4);
    if (udpLen < UDP_HLEN || udpLen > l4Len) return this.drop('malformed');
    const check = readU16(frame, l4 + 6);
    if (check !== 0 && finishChecksum(sum16(frame, l4, udpLen, pseudoHeaderSum(src, dst, IPPROTO_UDP, udpLen))) !== 0) {
      return this.drop('badChecksum');
    }
    const srcPort = readU16(frame, l4);
    const dstPort = readU16(frame, l4 + 2);
    const payload = frame.subarray(l4 + UDP_HLEN, l4 + udpLen);
    const broadcast = (this.netAddr | ~this.netMask) >>> 0;
    if (dstPort === DHCP_SERVER_PORT && (dst === 0xffffffff || dst === broadcast || dst === this.hostIp)) {
      return this.dhcpInput(payload, srcPort);
    }
    if (dstPort === 0) return this.drop('malformed');
    if (src === 0 || !this.inSubnet(src)) return this.drop('notForUs');
    const route = this.route(dst);
    switch (route.kind) {
      case 'dns':
        if (dstPort !== DNS_PORT) return this.drop('notForUs');
        if (this.config.restrict) return this.drop('restricted');
        return this.dnsInput(payload, src, srcPort);
      case 'host': {
        const fwd = this.udpFwdByPort.get(dstPort);
        if (fwd !== undefined && fwd.guestIp === src && fwd.forward.guestPort === srcPort) {
          fwd.lastActiveMs = this.host.now();
          fwd.socket.send(payload.slice(), fwd.peerAddress, fwd.peerPort);
          return;
        }
        if (this.config.restrict) return this.drop('restricted');
        return this.udpNat(src, srcPort, '127.0.0.1', dstPort, payload);
      }
      case 'external':
        if (this.config.restrict) return this.drop('restricted');
        return this.udpNat(src, srcPort, route.address, dstPort, payload);
      case 'none':
        return this.drop('notForUs');
    }
  }

  private dhcpInput(payload: Uint8Array, srcPort: number): void {
    if (srcPort !== DHCP_CLIENT_PORT) return this.drop('notForUs');
    const r = this.dhcp.handle(payload);
    if (r === 'malformed') return this.drop('malformed');
    if (r === 'ignored') return;
    if (r.leased !== undefined) {
      this.arp.delete(r.leased.ip);
      this.arp.set(r.leased.ip, r.leased.mac);
    }
    this.stats.dhcpReplies++;
    this.sendToGuest(buildUdpFrame(this.hostIp, DHCP_SERVER_PORT, r.dstIp, DHCP_CLIENT_PORT, r.payload, this.nextIpId()), r.dstMac);
  }

  private dnsInput(payload: Uint8Array, src: Ipv4, srcPort: number): void {
    if (payload.length < DNS_HEADER_LEN) return this.drop('malformed');
    if (payload[2] & 0x80) return this.drop('malformed'); // a response, not a query
    if (this.dnsPending >= MAX_DNS_PENDING) return this.drop('overLimit');
    this.dnsPending++;
    this.stats.dnsQueries++;
    const query = payload.slice();
    let answered = false;
    this.host.dnsQuery(query.slice(), (response) => {
      if (answered) return;
      answered = true;
      this.dnsPending--;
      this.enter(() => {
        const body = response !== null && response.length >= DNS_HEADER_LEN ? response : dnsServerFailure(query);
        this.sendToGuest(buildUdpFrame(this.dnsIp, DNS_PORT, src, srcPort, body, this.nextIpId()), null);
      });
    });
  }

  private udpNat(src: Ipv4, srcPort: number, address: string, port: number, payload: Uint8Array): void {
    const key = `${src}:${srcPort}`;
    let flow = this.udp.get(key);
    if (flow === undefined) {
      if (this.udp.size >= MAX_UDP_FLOWS) {
        const oldest = this.udp.values().next();
        if (!oldest.done) this.closeUdpFlow(oldest.value);
      }
      flow = this.openUdpFlow(key, src, srcPort);
    } else {
      // Keep the map in least-recently-used order for eviction.
      this.udp.delete(key);
      this.udp.set(key, flow);
    }
    flow.lastActiveMs = this.host.now();
    flow.socket.send(payload.slice(), address, port);
  }

  private openUdpFlow(key: string, guestIp: Ipv4, guestPort: number): UdpFlow {
    let flow: UdpFlow | null = null;
    const socket = this.host.udpOpen({
      message: (data, address, port) =>
        this.enter(() => {
          if (flow === null || this.udp.get(key) !== flow) return;
          const from = isLoopbackText(address) ? this.hostIp : parseIpv4(address);
          if (from === null || port === 0) return;
          flow.lastActiveMs = this.host.now();
          this.sendToGuest(buildUdpFrame(from, port, guestIp, guestPort, data, this.nextIpId()), null);
        }),
      error: () =>
        this.enter(() => {
          if (flow !== null) this.closeUdpFlow(flow);
        }),
    });
    const f: UdpFlow = { key, guestIp, guestPort, socket, lastActiveMs: this.host.now(), timer: null };
    flow = f;
    this.udp.set(key, f);
    this.stats.udpFlows++;
    this.stats.udpOpen = this.udp.size;
    this.armIdle(f, () => this.closeUdpFlow(f));
    return f;
  }

  /** Closes a flow after UDP_IDLE_MS without traffic (the timer re-arms itself while it is busy). */
  private armIdle(flow: { lastActiveMs: number; timer: UserNetTimer | null }, expire: () => void): void {
    const check = (): void => {
      flow.timer = null;
      const idle = this.host.now() - flow.lastActiveMs;
      if (idle >= UDP_IDLE_MS) expire();
      else flow.timer = this.setTimer(UDP_IDLE_MS - idle, check);
    };
    flow.timer = this.setTimer(UDP_IDLE_MS, check);
  }

  private closeUdpFlow(flow: UdpFlow): void {
    flow.timer?.cancel();
    flow.timer = null;
    if (this.udp.get(flow.key) === flow) this.udp.delete(flow.key);
    flow.socket.close();
    this.stats.udpOpen = this.udp.size;
  }

  private tcpInput(frame: Uint8Array, src: Ipv4, dst: Ipv4, l4: number, l4Len: number): void {
    if (l4Len < TCP_HLEN) return this.drop('malformed');
    const dataOffset = (frame[l4 + 12] >>> 4) * 4;
    if (dataOffset < TCP_HLEN || dataOffset > l4Len) return this.drop('malformed');
    if (finishChecksum(sum16(frame, l4, l4Len, pseudoHeaderSum(src, dst, IPPROTO_TCP, l4Len))) !== 0) return this.drop('badChecksum');
    const flags = frame[l4 + 13] & 0x3f;
    const syn = (flags & TCP_SYN) !== 0;
    const fin = (flags & TCP_FIN) !== 0;
    const rst = (flags & TCP_RST) !== 0;
    if ((syn && (fin || rst)) || (rst && fin) || (flags & (TCP_SYN | TCP_ACK | TCP_RST)) === 0) return this.drop('badTcpFlags');
    // Options (RFC 9293 §3.2): kind, length, data; they must fit in the header.
    let mss = -1;
    let wscale = -1;
    for (let i = l4 + TCP_HLEN, end = l4 + dataOffset; i < end; ) {
      const kind = frame[i];
      if (kind === TCPOPT_EOL) break;
      if (kind === TCPOPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return this.drop('malformed');
      const len = frame[i + 1];
      if (len < 2 || i + len > end) return this.drop('malformed');
      if (kind === TCPOPT_MSS) {
        if (len !== 4) return this.drop('malformed');
        mss = readU16(frame, i + 2);
      } else if (kind === TCPOPT_WSCALE) {
        if (len !== 3) return this.drop('malformed');
        wscale = frame[i + 2];
      }
      i += len;
    }
    const srcPort = readU16(frame, l4);
    const dstPort = readU16(frame, l4 + 2);
    if (srcPort === 0 || dstPort === 0) return this.drop('malformed');
    if (src === 0 || !this.inSubnet(src)) return this.drop('notForUs');
    const seg: TcpSegmentIn = {
      seq: readU32(frame, l4 + 4),
      ack: readU32(frame, l4 + 8),
      flags,
      window: readU16(frame, l4 + 14),
      payload: frame.subarray(l4 + dataOffset, l4 + l4Len),
      mss,
      wscale,
    };
    const key = tcpKey(src, srcPort, dst, dstPort);
    const conn = this.tcp.get(key);
    if (conn !== undefined && conn.input(seg)) return;
    const ep = { guestIp: src, guestPort: srcPort, remoteIp: dst, remotePort: dstPort };
    if ((flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) !== TCP_SYN) {
      // Nothing open here: reset the guest's idea of a connection (never answer a reset).
      if (!rst) this.sendToGuest(buildResetFor(ep, seg, this.nextIpId()), null);
      return this.drop('notForUs');
    }
    const route = this.route(dst);
    const refuse = (reason: UserNetDropReason): void => {
      this.sendToGuest(buildResetFor(ep, seg, this.nextIpId()), null);
      this.drop(reason);
    };
    if (route.kind === 'none' || (route.kind === 'dns' && dstPort !== DNS_PORT)) return refuse('notForUs');
    if (this.config.restrict) return refuse('restricted');
    if (this.tcp.size >= MAX_TCP_CONNECTIONS) return refuse('overLimit');
    const c = TcpConnection.fromGuestSyn(this, ep, seg);
    this.tcp.set(key, c);
    this.stats.tcpConnections++;
    this.stats.tcpOpen = this.tcp.size;
    if (route.kind === 'dns') {
      // DNS over TCP: answered through the host resolver, no host connection.
      const stream = new DnsTcpStream(this.host, dnsServerFailure, () => this.stats.dnsQueries++);
      c.attachSocket(stream);
      stream.open(this.tcpEvents(c));
      return;
    }
    c.attachSocket(this.host.tcpConnect(route.kind === 'host' ? '127.0.0.1' : route.address, dstPort, this.tcpEvents(c)));
  }

  private tcpEvents(c: TcpConnection): HostTcpEvents {
    return {
      connected: () => this.enter(() => c.onHostConnected()),
      data: (data) => this.enter(() => c.onHostData(data)),
      end: () => this.enter(() => c.onHostEnd()),
      drain: () => this.enter(() => c.onHostDrain()),
      closed: (error) => this.enter(() => c.onHostClosed(error)),
    };
  }

  // ---- host forwards ----

  private startForwards(): Promise<BoundHostForward[]> {
    const forwards = this.config.hostForwards;
    if (forwards.length === 0) return Promise.resolve([]);
    return new Promise<BoundHostForward[]>((resolve, reject) => {
      const bound: (BoundHostForward | null)[] = forwards.map(() => null);
      let waiting = forwards.length;
      let failed = false;
      this.rejectReady = (e) => {
        if (!failed) {
          failed = true;
          reject(e);
        }
      };
      const listening = (i: number, port: number): void => {
        if (failed || bound[i] !== null) return;
        bound[i] = { ...forwards[i], hostPort: port };
        if (--waiting === 0) {
          this.rejectReady = null;
          resolve(bound.filter((b): b is BoundHostForward => b !== null));
        }
      };
      const fail = (f: HostForward, code: string, message: string): void => {
        this.rejectReady?.(
          new UserNetConfigError('ELISTEN', `hostfwd=${f.protocol}:${f.hostAddress}:${f.hostPort}-${f.guestAddress}:${f.guestPort}: cannot listen (${code}: ${message})`),
        );
      };
      forwards.forEach((f, i) => {
        if (f.protocol === 'tcp') {
          this.listeners.push(
            this.host.tcpListen(f.hostAddress, f.hostPort, {
              listening: (port) => listening(i, port),
              connection: (socket, _peer) => {
                let events: HostTcpEvents | null = null;
                this.enter(() => {
                  events = this.acceptTcpForward(f, socket);
                });
                return events;
              },
              error: (code, message) => fail(f, code, message),
            }),
          );
        } else {
          let sock: HostUdpSocket | null = null;
          sock = this.host.udpOpen(
            {
              listening: (port) => listening(i, port),
              message: (data, address, port) => this.enter(() => this.udpForwardIn(f, sock, data, address, port)),
              error: (code, message) => fail(f, code, message),
            },
            { address: f.hostAddress, port: f.hostPort },
          );
          this.forwardSockets.push(sock);
        }
      });
    });
  }

  private allocForwardPort(inUse: (port: number) => boolean): number {
    for (let n = 0; n <= FWD_PORT_LAST - FWD_PORT_FIRST; n++) {
      const p = this.nextFwdPort;
      this.nextFwdPort = p >= FWD_PORT_LAST ? FWD_PORT_FIRST : p + 1;
      if (!inUse(p)) return p;
    }
    return -1;
  }

  private acceptTcpForward(f: HostForward, socket: HostTcpSocket): HostTcpEvents | null {
    if (this.tcp.size >= MAX_TCP_CONNECTIONS) {
      this.stats.overLimit++;
      return null;
    }
    const guestIp = parseIpv4(f.guestAddress) ?? 0;
    const port = this.allocForwardPort((p) => this.tcp.has(tcpKey(guestIp, f.guestPort, this.hostIp, p)));
    if (port < 0) {
      this.stats.overLimit++;
      return null;
    }
    const c = TcpConnection.toGuest(this, { guestIp, guestPort: f.guestPort, remoteIp: this.hostIp, remotePort: port }, socket);
    this.tcp.set(c.key, c);
    this.stats.tcpConnections++;
    this.stats.tcpOpen = this.tcp.size;
    return this.tcpEvents(c);
  }

  private udpForwardIn(f: HostForward, socket: HostUdpSocket | null, data: Uint8Array, address: string, port: number): void {
    if (socket === null) return;
    const peerKey = `${f.protocol}:${f.hostAddress}:${f.hostPort}|${address}:${port}`;
    let flow = this.udpFwdByPeer.get(peerKey);
    if (flow === undefined) {
      if (this.udpFwdByPort.size >= MAX_UDP_FLOWS) {
        this.stats.overLimit++;
        return;
      }
      const gatewayPort = this.allocForwardPort((p) => this.udpFwdByPort.has(p));
      if (gatewayPort < 0) return;
      const fl: UdpForwardFlow = {
        forward: f,
        socket,
        peerAddress: address,
        peerPort: port,
        gatewayPort,
        guestIp: parseIpv4(f.guestAddress) ?? 0,
        lastActiveMs: this.host.now(),
        timer: null,
      };
      this.udpFwdByPeer.set(peerKey, fl);
      this.udpFwdByPort.set(gatewayPort, fl);
      this.armIdle(fl, () => {
        this.udpFwdByPeer.delete(peerKey);
        this.udpFwdByPort.delete(gatewayPort);
      });
      flow = fl;
    }
    flow.lastActiveMs = this.host.now();
    this.sendToGuest(buildUdpFrame(this.hostIp, flow.gatewayPort, flow.guestIp, f.guestPort, data, this.nextIpId()), null);
  }
}

/** A SERVFAIL answer to `query` (RFC 1035 §4.1.1): its header and question, QR and RCODE 2 set. */
export function dnsServerFailure(query: Uint8Array): Uint8Array {
  let end = DNS_HEADER_LEN;
  let qd = readU16(query, 4) === 1 ? 1 : 0;
  if (qd === 1) {
    // One question: labels up to the root, then QTYPE and QCLASS.
    let i = DNS_HEADER_LEN;
    while (i < query.length && query[i] !== 0 && (query[i] & 0xc0) === 0) i += query[i] + 1;
    if (i < query.length && query[i] === 0 && i + 5 <= query.length) end = i + 5;
    else qd = 0;
  }
  const r = query.slice(0, end);
  r[2] = (r[2] | 0x80) & ~0x02; // QR=1 (response), TC=0
  r[3] = 0x80 | 2; // RA=1, RCODE=SERVFAIL
  writeU16(r, 4, qd);
  writeU16(r, 6, 0);
  writeU16(r, 8, 0);
  writeU16(r, 10, 0);
  return r;
}
