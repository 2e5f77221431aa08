/**
 * Test helpers: builds guest frames (Ethernet, ARP, IPv4, ICMP, UDP, TCP, DHCP) and parses the
 * backend's frames, checking every checksum. Written independently of wire.ts so the tests do not
 * check the backend against itself.
 */

export const GUEST_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
export const GATEWAY_MAC = new Uint8Array([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
export const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export const GUEST_IP = ip('10.0.2.15');
export const GATEWAY_IP = ip('10.0.2.2');
export const DNS_IP = ip('10.0.2.3');
export const LOOPBACK_IP = ip('127.0.0.1');

export const F_FIN = 0x01;
export const F_SYN = 0x02;
export const F_RST = 0x04;
export const F_PSH = 0x08;
export const F_ACK = 0x10;

export function ip(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function ipText(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >> 8) & 255;
  b[o + 1] = v & 255;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 255;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
}

/** RFC 1071 checksum of `parts` concatenated (each part's length may be odd only for the last). */
export function inetChecksum(...parts: Uint8Array[]): number {
  const all = concat(parts);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i] << 8) | (i + 1 < all.length ? all[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function pseudo(src: number, dst: number, proto: number, len: number): Uint8Array {
  const p = new Uint8Array(12);
  put32(p, 0, src);
  put32(p, 4, dst);
  p[9] = proto;
  put16(p, 10, len);
  return p;
}

export function ethernet(dst: Uint8Array, src: Uint8Array, etherType: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  put16(f, 12, etherType);
  f.set(payload, 14);
  return f;
}

export interface ArpFields {
  op: number;
  senderMac: Uint8Array;
  senderIp: number;
  targetMac: Uint8Array;
  targetIp: number;
}

export function arpFrame(a: ArpFields, dstMac: Uint8Array = BROADCAST): Uint8Array {
  const p = new Uint8Array(28);
  put16(p, 0, 1);
  put16(p, 2, 0x0800);
  p[4] = 6;
  p[5] = 4;
  put16(p, 6, a.op);
  p.set(a.senderMac, 8);
  put32(p, 14, a.senderIp);
  p.set(a.targetMac, 18);
  put32(p, 24, a.targetIp);
  return ethernet(dstMac, a.senderMac, 0x0806, p);
}

export interface Ipv4Fields {
  src: number;
  dst: number;
  protocol: number;
  payload: Uint8Array;
  id?: number;
  /** Flags/fragment-offset field (e.g. 0x2000 = MF). */
  fragment?: number;
  ttl?: number;
  options?: Uint8Array;
}

export function ipv4(f: Ipv4Fields): Uint8Array {
  const optLen = f.options?.length ?? 0;
  const hlen = 20 + optLen;
  const p = new Uint8Array(hlen + f.payload.length);
  p[0] = 0x40 | (hlen / 4);
  put16(p, 2, p.length);
  put16(p, 4, f.id ?? 1);
  put16(p, 6, f.fragment ?? 0x4000);
  p[8] = f.ttl ?? 64;
  p[9] = f.protocol;
  put32(p, 12, f.src);
  put32(p, 16, f.dst);
  if (f.options) p.set(f.options, 20);
  put16(p, 10, inetChecksum(p.subarray(0, hlen)));
  p.set(f.payload, hlen);
  return p;
}

export function ipFrame(f: Ipv4Fields, dstMac: Uint8Array = GATEWAY_MAC, srcMac: Uint8Array = GUEST_MAC): Uint8Array {
  return ethernet(dstMac, srcMac, 0x0800, ipv4(f));
}

export interface UdpFields {
  src?: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
  /** Leave the checksum 0 (allowed in IPv4). */
  noChecksum?: boolean;
}

export function udpFrame(u: UdpFields, dstMac: Uint8Array = GATEWAY_MAC): Uint8Array {
  const src = u.src ?? GUEST_IP;
  const d = new Uint8Array(8 + u.payload.length);
  put16(d, 0, u.srcPort);
  put16(d, 2, u.dstPort);
  put16(d, 4, d.length);
  d.set(u.payload, 8);
  if (!u.noChecksum) put16(d, 6, inetChecksum(pseudo(src, u.dst, 17, d.length), d) || 0xffff);
  return ipFrame({ src, dst: u.dst, protocol: 17, payload: d }, dstMac);
}

export interface TcpFields {
  src?: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: Uint8Array;
  payload?: Uint8Array;
}

export function tcpSegment(t: TcpFields, src: number): Uint8Array {
  const opt = t.options ?? new Uint8Array(0);
  const optPadded = new Uint8Array(Math.ceil(opt.length / 4) * 4);
  optPadded.set(opt);
  const payload = t.payload ?? new Uint8Array(0);
  const hlen = 20 + optPadded.length;
  const d = new Uint8Array(hlen + payload.length);
  put16(d, 0, t.srcPort);
  put16(d, 2, t.dstPort);
  put32(d, 4, t.seq);
  put32(d, 8, t.ack ?? 0);
  d[12] = (hlen / 4) << 4;
  d[13] = t.flags;
  put16(d, 14, t.window ?? 65535);
  d.set(optPadded, 20);
  d.set(payload, hlen);
  put16(d, 16, inetChecksum(pseudo(src, t.dst, 6, d.length), d));
  return d;
}

export function tcpFrame(t: TcpFields): Uint8Array {
  const src = t.src ?? GUEST_IP;
  return ipFrame({ src, dst: t.dst, protocol: 6, payload: tcpSegment(t, src) });
}

/** TCP options: MSS and (optionally) window scale. */
export function synOptions(mss: number, wscale?: number): Uint8Array {
  const o = [2, 4, (mss >> 8) & 255, mss & 255];
  if (wscale !== undefined) o.push(1, 3, 3, wscale);
  return new Uint8Array(o);
}

export function icmpEchoFrame(dst: number, id: number, seq: number, data: Uint8Array, src = GUEST_IP): Uint8Array {
  const d = new Uint8Array(8 + data.length);
  d[0] = 8;
  put16(d, 4, id);
  put16(d, 6, seq);
  d.set(data, 8);
  put16(d, 2, inetChecksum(d));
  return ipFrame({ src, dst, protocol: 1, payload: d });
}

export interface DhcpFields {
  type: number;
  xid: number;
  mac?: Uint8Array;
  ciaddr?: number;
  requestedIp?: number;
  serverId?: number;
  broadcast?: boolean;
}

export const DHCP = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

export function dhcpPayload(f: DhcpFields): Uint8Array {
  const opts: number[] = [53, 1, f.type];
  const addr = (code: number, v: number): void => {
    opts.push(code, 4, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  };
  if (f.requestedIp !== undefined) addr(50, f.requestedIp);
  if (f.serverId !== undefined) addr(54, f.serverId);
  opts.push(55, 4, 1, 3, 6, 51); // parameter request list
  opts.push(255);
  const m = new Uint8Array(240 + opts.length + 8);
  m[0] = 1;
  m[1] = 1;
  m[2] = 6;
  put32(m, 4, f.xid);
  if (f.broadcast) put16(m, 10, 0x8000);
  put32(m, 12, f.ciaddr ?? 0);
  m.set(f.mac ?? GUEST_MAC, 28);
  put32(m, 236, 0x63825363);
  m.set(opts, 240);
  return m;
}

export function dhcpFrame(f: DhcpFields): Uint8Array {
  return udpFrame({ src: f.ciaddr ?? 0, dst: 0xffffffff, srcPort: 68, dstPort: 67, payload: dhcpPayload(f) }, BROADCAST);
}

// ---- parsing ----

export interface ParsedFrame {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  etherType: number;
  arp?: ArpFields;
  ip?: {
    src: number;
    dst: number;
    protocol: number;
    ttl: number;
    id: number;
    fragment: number;
    headerChecksumOk: boolean;
    payload: Uint8Array;
  };
  udp?: { srcPort: number; dstPort: number; payload: Uint8Array; checksumOk: boolean };
  tcp?: {
    srcPort: number;
    dstPort: number;
    seq: number;
    ack: number;
    flags: number;
    window: number;
    mss?: number;
    wscale?: number;
    payload: Uint8Array;
    checksumOk: boolean;
  };
  icmp?: { type: number; code: number; id: number; seq: number; payload: Uint8Array; checksumOk: boolean };
}

/** Parses a frame from the backend; throws on anything structurally wrong (the backend must not emit it). */
export function parseFrame(f: Uint8Array): ParsedFrame {
  if (f.length < 14) throw new Error(`frame of ${f.length} bytes`);
  const out: ParsedFrame = { dstMac: f.slice(0, 6), srcMac: f.slice(6, 12), etherType: u16(f, 12) };
  const p = f.subarray(14);
  if (out.etherType === 0x0806) {
    if (p.length < 28) throw new Error('short ARP');
    out.arp = { op: u16(p, 6), senderMac: p.slice(8, 14), senderIp: u32(p, 14), targetMac: p.slice(18, 24), targetIp: u32(p, 24) };
    return out;
  }
  if (out.etherType !== 0x0800) throw new Error(`EtherType ${out.etherType.toString(16)}`);
  const hlen = (p[0] & 15) * 4;
  const total = u16(p, 2);
  if (p[0] >> 4 !== 4 || hlen < 20 || total > p.length || total < hlen) throw new Error('bad IPv4 header');
  const payload = p.slice(hlen, total);
  const ipv = {
    src: u32(p, 12),
    dst: u32(p, 16),
    protocol: p[9],
    ttl: p[8],
    id: u16(p, 4),
    fragment: u16(p, 6),
    headerChecksumOk: inetChecksum(p.subarray(0, hlen)) === 0,
    payload,
  };
  out.ip = ipv;
  if ((ipv.fragment & 0x3fff) !== 0) return out; // a fragment: transport parsed after reassembly
  if (ipv.protocol === 17) {
    const ck = u16(payload, 6);
    out.udp = {
      srcPort: u16(payload, 0),
      dstPort: u16(payload, 2),
      payload: payload.slice(8, u16(payload, 4)),
      checksumOk: ck === 0 || inetChecksum(pseudo(ipv.src, ipv.dst, 17, payload.length), payload) === 0,
    };
  } else if (ipv.protocol === 6) {
    const doff = (payload[12] >> 4) * 4;
    const t: NonNullable<ParsedFrame['tcp']> = {
      srcPort: u16(payload, 0),
      dstPort: u16(payload, 2),
      seq: u32(payload, 4),
      ack: u32(payload, 8),
      flags: payload[13],
      window: u16(payload, 14),
      payload: payload.slice(doff),
      checksumOk: inetChecksum(pseudo(ipv.src, ipv.dst, 6, payload.length), payload) === 0,
    };
    for (let i = 20; i < doff; ) {
      const kind = payload[i];
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      const len = payload[i + 1];
      if (len < 2) throw new Error('bad TCP option');
      if (kind === 2) t.mss = u16(payload, i + 2);
      if (kind === 3) t.wscale = payload[i + 2];
      i += len;
    }
    out.tcp = t;
  } else if (ipv.protocol === 1) {
    out.icmp = {
      type: payload[0],
      code: payload[1],
      id: u16(payload, 4),
      seq: u16(payload, 6),
      payload: payload.slice(8),
      checksumOk: inetChecksum(payload) === 0,
    };
  }
  return out;
}

export interface ParsedDhcp {
  op: number;
  xid: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  chaddr: Uint8Array;
  flags: number;
  options: Map<number, Uint8Array>;
}

export function parseDhcp(m: Uint8Array): ParsedDhcp {
  if (m.length < 240 || u32(m, 236) !== 0x63825363) throw new Error('not a DHCP message');
  const options = new Map<number, Uint8Array>();
  for (let i = 240; i < m.length; ) {
    const code = m[i];
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    const len = m[i + 1];
    options.set(code, m.slice(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return { op: m[0], xid: u32(m, 4), ciaddr: u32(m, 12), yiaddr: u32(m, 16), siaddr: u32(m, 20), chaddr: m.slice(28, 34), flags: u16(m, 10), options };
}

export function optionIp(o: Uint8Array | undefined): number | undefined {
  return o === undefined || o.length < 4 ? undefined : u32(o, 0);
}

export function optionU32(o: Uint8Array | undefined): number | undefined {
  return optionIp(o);
}

/** Reassembles IPv4 fragments (by id) into one packet's payload; returns null until complete. */
export class Reassembler {
  private parts = new Map<number, { offset: number; data: Uint8Array; last: boolean }[]>();

  add(p: NonNullable<ParsedFrame['ip']>): Uint8Array | null {
    if ((p.fragment & 0x3fff) === 0) return p.payload;
    const list = this.parts.get(p.id) ?? [];
    list.push({ offset: (p.fragment & 0x1fff) * 8, data: p.payload, last: (p.fragment & 0x2000) === 0 });
    this.parts.set(p.id, list);
    const last = list.find((x) => x.last);
    if (!last) return null;
    const size = last.offset + last.data.length;
    if (list.reduce((n, x) => n + x.data.length, 0) < size) return null;
    const out = new Uint8Array(size);
    for (const x of list) out.set(x.data, x.offset);
    this.parts.delete(p.id);
    return out;
  }
}

/** UTF-8 text to bytes and back (the core builds without TextEncoder's DOM/Node types). */
export function utf8(text: string): Uint8Array {
  const bin = unescape(encodeURIComponent(text));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function fromUtf8(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return decodeURIComponent(escape(bin));
}
