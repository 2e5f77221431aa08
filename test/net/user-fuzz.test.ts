/**
 * Fuzzes the user network with random and mutated frames (ARP, DHCP, ICMP, UDP, DNS, TCP, with
 * truncations, bit flips, bad lengths, fragments, impossible flag combinations and broken
 * options), interleaved with random host events (connects accepted or refused, data, FINs, resets,
 * datagrams, DNS answers, time passing), on a fake host that opens nothing real.
 *
 * Checks: no exception escapes, no internal error is caught, every frame the backend emits is well
 * formed with correct checksums, tables stay bounded, drops are counted by reason, and close()
 * leaves no timer behind. FUZZ_SEED=n reproduces a run; FUZZ_FRAMES=n changes its length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createUserNet, parseUserNetOptions, type UserNetBackend, type UserNetStats } from '../../src/net/user/index.js';
import { FakeUserNetHost, type FakeTcpSocket } from '../../src/net/user/testing/fake-host.js';
import {
  BROADCAST,
  DHCP,
  DNS_IP,
  F_ACK,
  F_FIN,
  F_PSH,
  F_RST,
  F_SYN,
  GATEWAY_IP,
  GATEWAY_MAC,
  GUEST_IP,
  GUEST_MAC,
  arpFrame,
  dhcpFrame,
  icmpEchoFrame,
  inetChecksum,
  ip,
  ipFrame,
  parseFrame,
  synOptions,
  tcpFrame,
  udpFrame,
} from '../../src/net/user/testing/frames.js';

class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 255;
    return b;
  }
}

const REMOTES = [ip('198.51.100.1'), ip('203.0.113.9'), GATEWAY_IP, DNS_IP, ip('10.0.2.77'), ip('127.0.0.1'), ip('224.0.0.251'), 0xffffffff, 0];
const PORTS = [80, 443, 22, 53, 67, 68, 0, 65535, 12345];
const GUEST_PORTS = [40000, 40001, 40002, 40003, 68, 0, 55555];

/** What the guest knows of a TCP flow from the backend's segments, so it can hit the windows. */
interface Flow {
  guestPort: number;
  remote: number;
  remotePort: number;
  /** Next sequence number expected from the backend (what the guest ACKs). */
  rcvNxt: number;
  /** What the backend acknowledged last (the guest's next sequence number). */
  sndNxt: number;
}

/** Recomputes the IPv4 header checksum and, when the lengths allow, the TCP/UDP/ICMP checksum. */
function fixChecksums(f: Uint8Array): void {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return;
  const hlen = (f[14] & 15) * 4;
  if (hlen < 20 || 14 + hlen > f.length) return;
  f[24] = 0;
  f[25] = 0;
  const hc = inetChecksum(f.subarray(14, 14 + hlen));
  f[24] = hc >> 8;
  f[25] = hc & 255;
  const total = (f[16] << 8) | f[17];
  if (total < hlen || 14 + total > f.length) return;
  const l4 = f.subarray(14 + hlen, 14 + total);
  const proto = f[23];
  const pseudo = new Uint8Array(12);
  pseudo.set(f.subarray(26, 34), 0);
  pseudo[9] = proto;
  pseudo[10] = l4.length >> 8;
  pseudo[11] = l4.length & 255;
  if (proto === 6 && l4.length >= 20) {
    l4[16] = 0;
    l4[17] = 0;
    const c = inetChecksum(pseudo, l4);
    l4[16] = c >> 8;
    l4[17] = c & 255;
  } else if (proto === 17 && l4.length >= 8) {
    l4[6] = 0;
    l4[7] = 0;
    const c = inetChecksum(pseudo, l4) || 0xffff;
    l4[6] = c >> 8;
    l4[7] = c & 255;
  } else if (proto === 1 && l4.length >= 4) {
    l4[2] = 0;
    l4[3] = 0;
    const c = inetChecksum(l4);
    l4[2] = c >> 8;
    l4[3] = c & 255;
  }
}

class Fuzzer {
  readonly rng: Rng;
  readonly host = new FakeUserNetHost();
  readonly net: UserNetBackend;
  readonly flows: Flow[] = [];
  emitted = 0;
  sent = 0;
  private readonly forwarded: FakeTcpSocket[] = [];
  private readonly answered = new Set<FakeTcpSocket>();

  constructor(seed: number, spec: string) {
    this.rng = new Rng(seed);
    this.net = createUserNet(parseUserNetOptions(spec), this.host);
    this.net.setReceiver((frame) => this.onFrame(frame));
  }

  /** Every frame from the backend must parse with good checksums; TCP ones teach us flow state. */
  private onFrame(frame: Uint8Array): void {
    this.emitted++;
    const f = parseFrame(frame);
    assert.ok(frame.length <= 1514, `frame of ${frame.length} bytes exceeds the MTU`);
    assert.deepEqual(f.srcMac, GATEWAY_MAC);
    if (f.ip) {
      assert.ok(f.ip.headerChecksumOk, 'emitted IP header checksum');
      if (f.udp) assert.ok(f.udp.checksumOk, 'emitted UDP checksum');
      if (f.icmp) assert.ok(f.icmp.checksumOk, 'emitted ICMP checksum');
      if (f.tcp) {
        assert.ok(f.tcp.checksumOk, 'emitted TCP checksum');
        const t = f.tcp;
        const at = this.flows.findIndex((x) => x.guestPort === t.dstPort && x.remote === f.ip!.src && x.remotePort === t.srcPort);
        if (t.flags & F_RST) {
          if (at >= 0) this.flows.splice(at, 1); // a dead flow: stop aiming at it
          return;
        }
        let flow = at >= 0 ? this.flows[at] : undefined;
        if (flow === undefined) {
          flow = { guestPort: t.dstPort, remote: f.ip.src, remotePort: t.srcPort, rcvNxt: 0, sndNxt: 0 };
          this.flows.push(flow);
          if (this.flows.length > 32) this.flows.shift();
        }
        flow.rcvNxt = (t.seq + t.payload.length + (t.flags & F_SYN ? 1 : 0) + (t.flags & F_FIN ? 1 : 0)) >>> 0;
        if (t.flags & F_ACK) flow.sndNxt = t.ack;
      }
    }
  }

  /** A well-formed frame of some kind. */
  validFrame(): Uint8Array {
    const r = this.rng;
    switch (r.int(12)) {
      case 0:
        return arpFrame({
          op: r.pick([1, 1, 2, 3]),
          senderMac: r.chance(0.9) ? GUEST_MAC : r.bytes(6),
          senderIp: r.pick([GUEST_IP, 0, ip('10.0.2.20'), GATEWAY_IP]),
          targetMac: new Uint8Array(6),
          targetIp: r.pick([GATEWAY_IP, DNS_IP, GUEST_IP, ip('10.0.2.50')]),
        });
      case 1:
        return dhcpFrame({
          type: r.pick([DHCP.DISCOVER, DHCP.REQUEST, DHCP.REQUEST, DHCP.INFORM, DHCP.RELEASE, DHCP.DECLINE, 99]),
          xid: r.u32(),
          mac: r.chance(0.7) ? GUEST_MAC : new Uint8Array([2, 0, 0, 0, 0, r.int(40)]),
          requestedIp: r.chance(0.6) ? ip('10.0.2.15') + r.int(20) : undefined,
          serverId: r.chance(0.5) ? r.pick([GATEWAY_IP, ip('10.0.2.9')]) : undefined,
          ciaddr: r.chance(0.3) ? GUEST_IP : undefined,
          broadcast: r.chance(0.5),
        });
      case 2:
        return icmpEchoFrame(r.pick(REMOTES), r.int(65536), r.int(65536), r.bytes(r.int(64)));
      case 3:
      case 4:
        return udpFrame(
          {
            src: r.chance(0.95) ? GUEST_IP : r.pick([0, ip('10.0.2.30'), ip('192.0.2.1')]),
            dst: r.pick(REMOTES),
            srcPort: r.pick(GUEST_PORTS),
            dstPort: r.pick(PORTS),
            payload: r.bytes(r.pick([0, 1, 11, 12, 40, 300])),
            noChecksum: r.chance(0.2),
          },
          r.chance(0.95) ? GATEWAY_MAC : BROADCAST,
        );
      case 5:
        return tcpFrame({
          dst: r.pick(REMOTES),
          srcPort: r.pick(GUEST_PORTS),
          dstPort: r.pick(PORTS),
          seq: r.u32(),
          flags: F_SYN,
          window: r.pick([0, 1, 100, 65535]),
          options: r.chance(0.7) ? synOptions(r.pick([0, 1, 64, 536, 1460, 9000]), r.chance(0.5) ? r.int(20) : undefined) : undefined,
        });
      default:
        return this.flowSegment();
    }
  }

  /** A segment for a flow the backend has talked about, with sequence numbers near its windows. */
  private flowSegment(): Uint8Array {
    const r = this.rng;
    if (this.flows.length === 0) return tcpFrame({ dst: r.pick(REMOTES), srcPort: 40000, dstPort: 80, seq: r.u32(), flags: F_SYN });
    const fl = r.pick(this.flows);
    const near = (v: number): number => (r.chance(0.7) ? v : (v + r.pick([-1, 1, -1000, 1000, 70000, -70000, 0x80000000])) >>> 0);
    const flags = r.pick([F_ACK, F_ACK, F_ACK | F_PSH, F_ACK | F_PSH, F_FIN | F_ACK, F_RST, F_RST | F_ACK, F_SYN, F_SYN | F_ACK, F_ACK | F_SYN | F_FIN, r.int(256)]);
    // A SYN-ACK answers the backend's SYN (host forwards): its ack is rcvNxt-side sequence space.
    const seq = flags & F_SYN ? r.u32() : near(fl.sndNxt);
    return tcpFrame({
      dst: fl.remote,
      srcPort: fl.guestPort,
      dstPort: fl.remotePort,
      seq,
      ack: near(fl.rcvNxt),
      flags,
      window: r.pick([0, 0, 10, 1000, 65535, 65535]),
      payload: flags & F_RST || r.chance(0.5) ? undefined : r.bytes(r.pick([1, 10, 536, 1460, 3000])),
      options: flags & F_SYN ? synOptions(1460, r.chance(0.5) ? 7 : undefined) : undefined,
    });
  }

  /** Mutates a frame: truncation, bit flips, bad lengths, fragments, flag combinations, options. */
  mutate(frame: Uint8Array): Uint8Array {
    const r = this.rng;
    let f = frame.slice();
    const rounds = 1 + r.int(3);
    for (let i = 0; i < rounds; i++) {
      switch (r.int(12)) {
        case 0: // truncate
          f = f.slice(0, r.int(f.length + 1));
          break;
        case 1: // bit flips, checksums left broken
          for (let k = 1 + r.int(4); k > 0 && f.length > 0; k--) f[r.int(f.length)] ^= 1 << r.int(8);
          break;
        case 2: // bit flips past the Ethernet header, checksums repaired
          for (let k = 1 + r.int(4); k > 0 && f.length > 14; k--) f[14 + r.int(f.length - 14)] ^= 1 << r.int(8);
          fixChecksums(f);
          break;
        case 3: // IP total length
          if (f.length >= 18) {
            const v = r.pick([0, 1, 19, 20, 21, f.length - 14, f.length - 13, 65535, r.int(65536)]);
            f[16] = v >> 8;
            f[17] = v & 255;
            if (r.chance(0.8)) fixChecksums(f);
          }
          break;
        case 4: // IP header length
          if (f.length > 14) {
            f[14] = (f[14] & 0xf0) | r.int(16);
            fixChecksums(f);
          }
          break;
        case 5: // fragments
          if (f.length >= 22) {
            const v = r.pick([0x2000, 0x0001, 0x2010, 0x1fff, 0x4000, 0x8000]);
            f[20] = v >> 8;
            f[21] = v & 255;
            fixChecksums(f);
          }
          break;
        case 6: // TCP flags and data offset, UDP length
          if (f.length >= 34 + 20 && f[23] === 6) {
            const l4 = 14 + (f[14] & 15) * 4;
            if (l4 + 14 <= f.length) {
              if (r.chance(0.5)) f[l4 + 13] = r.pick([F_SYN | F_FIN, F_SYN | F_RST, F_RST | F_FIN, 0, F_FIN, F_PSH, 0xff, r.int(256)]);
              else f[l4 + 12] = r.int(16) << 4;
            }
          } else if (f.length >= 34 + 8 && f[23] === 17) {
            const l4 = 14 + (f[14] & 15) * 4;
            if (l4 + 6 <= f.length) {
              const v = r.pick([0, 7, 8, 9, 65535, r.int(2000)]);
              f[l4 + 4] = v >> 8;
              f[l4 + 5] = v & 255;
            }
          }
          fixChecksums(f);
          break;
        case 7: {
          // TCP options: garbage in the option space (lengths overrunning the header)
          const l4 = 14 + 20;
          if (f.length >= l4 + 20 && f[23] === 6 && (f[14] & 15) === 5) {
            const optLen = 4 * (1 + r.int(10));
            const g = new Uint8Array(f.length + optLen);
            g.set(f.subarray(0, l4 + 20));
            const opts = r.chance(0.5) ? r.bytes(optLen) : new Uint8Array(optLen).fill(r.pick([2, 3, 8, 1]));
            if (r.chance(0.5)) opts[1] = r.pick([0, 1, 2, 40, 255]);
            g.set(opts, l4 + 20);
            g.set(f.subarray(l4 + 20), l4 + 20 + optLen);
            g[l4 + 12] = (5 + optLen / 4) << 4;
            const total = ((g[16] << 8) | g[17]) + optLen;
            g[16] = total >> 8;
            g[17] = total & 255;
            f = g;
            fixChecksums(f);
          }
          break;
        }
        case 8: // trailing junk (Ethernet padding or worse)
          f = new Uint8Array([...f, ...r.bytes(r.int(64))]);
          break;
        case 9: // EtherType / destination MAC
          if (f.length >= 14) {
            if (r.chance(0.5)) {
              f[12] = r.pick([0x08, 0x86, 0x81, 0x88]);
              f[13] = r.pick([0x00, 0x06, 0xdd, 0x00]);
            } else f.set(r.pick([BROADCAST, r.bytes(6), new Uint8Array([0x33, 0x33, 0, 0, 0, 1])]), 0);
          }
          break;
        case 10: // random byte anywhere, checksums repaired
          if (f.length > 0) {
            f[r.int(f.length)] = r.int(256);
            fixChecksums(f);
          }
          break;
        default: // protocol number
          if (f.length >= 24) {
            f[23] = r.pick([1, 6, 17, 2, 41, 47, 255]);
            fixChecksums(f);
          }
      }
    }
    return f;
  }

  /** Random host-side events. */
  hostEvents(): void {
    const r = this.rng;
    const h = this.host;
    if (r.chance(0.3)) {
      // Complete (or fail) a pending outgoing connect.
      const pending = h.connects.filter((c) => !this.answered.has(c)).slice(-8);
      if (pending.length > 0) {
        const s = r.pick(pending);
        this.answered.add(s);
        if (r.chance(0.85)) s.accept();
        else s.refuse();
      }
    }
    if (r.chance(0.3) && h.connects.length > 0) {
      const s = r.pick(h.connects.slice(-32));
      if (!s.closed) {
        switch (r.int(8)) {
          case 0:
          case 1:
            s.accept();
            break;
          case 2:
            s.push(r.bytes(r.pick([1, 100, 1460, 5000, 70000])));
            break;
          case 3:
            s.peerEnd();
            break;
          case 4:
            s.refuse(r.pick(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT']));
            break;
          case 5:
            s.close(r.chance(0.5) ? undefined : 'EPIPE');
            break;
          case 6:
            s.drain();
            break;
          default:
            h.holdWrites = !h.holdWrites;
        }
      }
    }
    if (r.chance(0.02) && h.listeners.length > 0) {
      const s = r.pick(h.listeners).connectClient(1024 + r.int(60000));
      if (s !== null) this.forwarded.push(s);
    }
    if (r.chance(0.05) && this.forwarded.length > 0) {
      const s = r.pick(this.forwarded.slice(-16));
      if (!s.closed) {
        const k = r.int(4);
        if (k === 0) s.push(r.bytes(r.int(3000) + 1));
        else if (k === 1) s.peerEnd();
        else if (k === 2) s.close(r.chance(0.5) ? 'ECONNRESET' : undefined);
        else s.drain();
      }
    }
    if (r.chance(0.05) && h.udpSockets.length > 0) {
      const u = r.pick(h.udpSockets);
      u.receive(r.bytes(r.pick([0, 10, 1472, 1473, 4000, 65507])), r.pick(['198.51.100.1', '127.0.0.1', '::1', 'not-an-ip', '10.0.2.2']), r.pick([0, 53, 9999]));
    }
    if (r.chance(0.05) && h.dnsCalls.length > 0) {
      const call = h.dnsCalls.splice(r.int(h.dnsCalls.length), 1)[0];
      h.answerDns(call, r.pick([null, r.bytes(0), r.bytes(11), r.bytes(12), r.bytes(600), r.bytes(3000)]));
    }
    if (r.chance(0.2)) h.advance(r.pick([0, 1, 10, 250, 1000, 3000, 80_000]));
    else h.deliver();
  }

  run(frames: number): void {
    const r = this.rng;
    for (let i = 0; i < frames; i++) {
      let frame: Uint8Array;
      const k = r.int(10);
      if (k < 4) frame = this.validFrame();
      else if (k < 9) frame = this.mutate(this.validFrame());
      else frame = r.bytes(r.int(120));
      this.net.send(frame);
      this.sent++;
      this.hostEvents();
      const s = this.net.stats;
      if (s.internalErrors > 0) {
        throw new Error(`internal error after frame ${i}: ${String(this.net.lastInternalError)}`);
      }
      assert.ok(s.tcpOpen <= 1024 && s.udpOpen <= 256);
    }
  }
}

function dropSum(s: UserNetStats): number {
  return s.malformed + s.badChecksum + s.fragments + s.badTcpFlags + s.unsupported + s.notForUs + s.restricted + s.overLimit + s.internalErrors;
}

const seed = Number(process.env.FUZZ_SEED ?? 0x5eed1);
const frames = Number(process.env.FUZZ_FRAMES ?? 110_000);

test(`user network survives ${frames} random and mutated frames (seed ${seed})`, () => {
  const fz = new Fuzzer(seed, 'user,hostfwd=tcp:127.0.0.1:0-:22,hostfwd=udp::0-:53,hostname=fuzz');
  fz.host.deliver();
  fz.run(frames);
  const s = fz.net.stats;
  assert.equal(s.internalErrors, 0);
  assert.equal(s.framesIn, frames + 0);
  assert.equal(s.dropped, dropSum(s), 'every drop has a reason');
  for (const reason of ['malformed', 'badChecksum', 'fragments', 'badTcpFlags', 'unsupported', 'notForUs'] as const) {
    assert.ok(s[reason] > 100, `${reason} drops were seen (${s[reason]})`);
  }
  assert.ok(s.arpReplies > 0 && s.dhcpReplies > 0 && s.icmpEchoReplies > 0 && s.dnsQueries > 0 && s.tcpConnections > 0 && s.udpFlows > 0);
  assert.ok(fz.emitted > 1000, `the backend answered (${fz.emitted} frames)`);
  fz.net.close();
  assert.equal(fz.host.timerCount, 0, 'close() cancels every timer');
  assert.ok(fz.host.connects.every((c) => c.closed || c.aborted || c.ended || !c.events), 'host sockets are closed');
  fz.net.send(tcpFrame({ dst: ip('198.51.100.1'), srcPort: 1, dstPort: 2, seq: 0, flags: F_SYN }));
  assert.equal(fz.net.stats.framesIn, frames, 'a closed backend ignores frames');
});

test('restricted user network under the same fuzz', () => {
  const fz = new Fuzzer(seed + 1, 'user,restrict=on,hostfwd=tcp::0-:80');
  fz.host.deliver();
  fz.run(20_000);
  const s = fz.net.stats;
  assert.equal(s.internalErrors, 0);
  assert.equal(s.dropped, dropSum(s));
  assert.ok(s.restricted > 0);
  assert.equal(fz.host.connects.length, 0, 'restrict=on never connects out');
  assert.equal(fz.host.dnsCalls.length, 0, 'nor asks the resolver');
  assert.ok(fz.host.udpSockets.every((u) => u.bind !== undefined), 'nor opens outbound UDP sockets');
  fz.net.close();
  assert.equal(fz.host.timerCount, 0);
});

test('ip fragments and malformed ARP each land in their counter', () => {
  const host = new FakeUserNetHost();
  const net = createUserNet({}, host);
  net.send(ipFrame({ src: GUEST_IP, dst: GATEWAY_IP, protocol: 17, payload: new Uint8Array(8), fragment: 0x2000 }));
  const arp = arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP });
  arp[14 + 4] = 8; // hardware address length
  net.send(arp);
  assert.equal(net.stats.fragments, 1);
  assert.equal(net.stats.malformed, 1);
  assert.equal(net.stats.dropped, 2);
});
