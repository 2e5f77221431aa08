/**
 * Wire formats of the user-mode network: Ethernet II, ARP (RFC 826), IPv4 (RFC 791), ICMP (RFC 792),
 * UDP (RFC 768) and TCP (RFC 9293) header layouts, the Internet checksum (RFC 1071) and helpers that
 * build frames for the guest. Everything here reads from or writes into byte arrays; nothing keeps a
 * reference to a frame it is given.
 *
 *   Ethernet  0 dst MAC(6)  6 src MAC(6)  12 EtherType(2)                                  14 bytes
 *   IPv4      0 ver/IHL  1 TOS  2 total length  4 id  6 flags/fragment offset  8 TTL  9 protocol
 *             10 header checksum  12 source  16 destination  [20.. options]                 20+ bytes
 *   UDP       0 src port  2 dst port  4 length  6 checksum                                 8 bytes
 *   TCP       0 src port  2 dst port  4 seq  8 ack  12 data offset(4 bits)  13 flags  14 window
 *             16 checksum  18 urgent pointer  [20.. options]                               20+ bytes
 *   ICMP      0 type  1 code  2 checksum  4 rest of header (echo: id, sequence)            8 bytes
 */

export const ETH_HLEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

export const IPV4_HLEN = 20;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** IPv4 flags/fragment-offset field: More Fragments bit and the 13-bit offset. */
export const IP_MF = 0x2000;
export const IP_DF = 0x4000;
export const IP_OFFSET_MASK = 0x1fff;
/** TTL of the packets we originate (Linux's default). */
export const IP_DEFAULT_TTL = 64;

export const UDP_HLEN = 8;
export const TCP_HLEN = 20;
export const ICMP_HLEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;

/** Ethernet MTU: the largest IPv4 packet we put in one frame. */
export const MTU = 1500;

export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** An IPv4 address as an unsigned 32-bit number (network byte order value: 10.0.2.15 = 0x0a00020f). */
export type Ipv4 = number;

export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** Dotted-quad text to an address; null when it is not exactly four decimal bytes. */
export function parseIpv4(text: string): Ipv4 | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function formatIpv4(ip: Ipv4): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

export function isBroadcastMac(a: Uint8Array, off: number): boolean {
  for (let i = 0; i < 6; i++) if (a[off + i] !== 0xff) return false;
  return true;
}

/** Ones' complement sum of 16-bit words (RFC 1071), not folded, not complemented. */
export function sum16(b: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  return s;
}

/** Folds a sum to 16 bits and complements it: the value to store in a checksum field. */
export function finishChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** Sum of the TCP/UDP pseudo-header (source, destination, protocol, length). */
export function pseudoHeaderSum(src: Ipv4, dst: Ipv4, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** A parsed IPv4 packet inside a frame (views, no copies). */
export interface Ipv4Packet {
  src: Ipv4;
  dst: Ipv4;
  protocol: number;
  /** Offset in the frame of the transport header. */
  l4Offset: number;
  /** Transport length (total length minus the IP header). */
  l4Length: number;
}

/**
 * Builds a frame holding an IPv4 packet with `l4Length` transport bytes after a 20-byte header.
 * The Ethernet addresses are filled in by whoever delivers the frame.
 */
export function newIpv4Frame(src: Ipv4, dst: Ipv4, protocol: number, l4Length: number, ident: number): Uint8Array {
  const frame = new Uint8Array(ETH_HLEN + IPV4_HLEN + l4Length);
  writeU16(frame, 12, ETHERTYPE_IPV4);
  const ip = ETH_HLEN;
  frame[ip] = 0x45;
  writeU16(frame, ip + 2, IPV4_HLEN + l4Length);
  writeU16(frame, ip + 4, ident & 0xffff);
  writeU16(frame, ip + 6, IP_DF);
  frame[ip + 8] = IP_DEFAULT_TTL;
  frame[ip + 9] = protocol;
  writeU32(frame, ip + 12, src);
  writeU32(frame, ip + 16, dst);
  writeU16(frame, ip + 10, finishChecksum(sum16(frame, ip, IPV4_HLEN)));
  return frame;
}

/** Offset of the transport header in frames made by newIpv4Frame. */
export const L4_OFFSET = ETH_HLEN + IPV4_HLEN;

/** Computes and stores the TCP or UDP checksum of a frame made by newIpv4Frame. */
export function setTransportChecksum(frame: Uint8Array): void {
  const ip = ETH_HLEN;
  const protocol = frame[ip + 9];
  const l4Length = frame.length - L4_OFFSET;
  const field = protocol === IPPROTO_TCP ? 16 : protocol === IPPROTO_UDP ? 6 : 2;
  writeU16(frame, L4_OFFSET + field, 0);
  const initial = protocol === IPPROTO_ICMP ? 0 : pseudoHeaderSum(readU32(frame, ip + 12), readU32(frame, ip + 16), protocol, l4Length);
  let c = finishChecksum(sum16(frame, L4_OFFSET, l4Length, initial));
  if (c === 0 && protocol === IPPROTO_UDP) c = 0xffff; // RFC 768: a computed zero is sent as all ones
  writeU16(frame, L4_OFFSET + field, c);
}

/** A UDP datagram frame from src:srcPort to dst:dstPort. */
export function buildUdpFrame(src: Ipv4, srcPort: number, dst: Ipv4, dstPort: number, payload: Uint8Array, ident: number): Uint8Array {
  const frame = newIpv4Frame(src, dst, IPPROTO_UDP, UDP_HLEN + payload.length, ident);
  writeU16(frame, L4_OFFSET, srcPort);
  writeU16(frame, L4_OFFSET + 2, dstPort);
  writeU16(frame, L4_OFFSET + 4, UDP_HLEN + payload.length);
  frame.set(payload, L4_OFFSET + UDP_HLEN);
  setTransportChecksum(frame);
  return frame;
}

/**
 * Splits an IPv4 frame whose packet exceeds the MTU into fragments (RFC 791 §3.2), each a whole
 * frame; returns [frame] when it fits. The frame's DF bit is cleared on the fragments.
 */
export function fragmentIpv4Frame(frame: Uint8Array): Uint8Array[] {
  const ip = ETH_HLEN;
  const hlen = (frame[ip] & 0x0f) * 4;
  const total = readU16(frame, ip + 2);
  if (total <= MTU) return [frame];
  const chunk = (MTU - hlen) & ~7; // fragment payloads are multiples of 8 bytes
  const payloadLen = total - hlen;
  const out: Uint8Array[] = [];
  for (let off = 0; off < payloadLen; off += chunk) {
    const len = Math.min(chunk, payloadLen - off);
    const f = new Uint8Array(ETH_HLEN + hlen + len);
    f.set(frame.subarray(0, ETH_HLEN + hlen), 0);
    f.set(frame.subarray(ETH_HLEN + hlen + off, ETH_HLEN + hlen + off + len), ETH_HLEN + hlen);
    writeU16(f, ip + 2, hlen + len);
    writeU16(f, ip + 6, (off + len < payloadLen ? IP_MF : 0) | (off >>> 3));
    writeU16(f, ip + 10, 0);
    writeU16(f, ip + 10, finishChecksum(sum16(f, ip, hlen)));
    out.push(f);
  }
  return out;
}
