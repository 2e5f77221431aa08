// TCP state machine edge cases, driven segment by segment against the fake host.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createUserNet } from './user-net.js';
import { FakeUserNetHost, type FakeTcpSocket } from './testing/fake-host.js';
import {
  F_ACK,
  F_FIN,
  F_PSH,
  F_RST,
  F_SYN,
  GATEWAY_IP,
  GUEST_IP,
  GUEST_MAC,
  arpFrame,
  ip,
  parseFrame,
  synOptions,
  tcpFrame,
  utf8,
  type ParsedFrame,
} from './testing/frames.js';

const REMOTE = ip('203.0.113.5');
type Tcp = NonNullable<ParsedFrame['tcp']>;

interface Conn {
  host: FakeUserNetHost;
  net: ReturnType<typeof createUserNet>;
  sock: FakeTcpSocket;
  /** Segments the guest received, in order. */
  out: Tcp[];
  take(): Tcp[];
  /** Sends a segment from the guest (seq/ack default to the current state). */
  seg(f: { seq?: number; ack?: number; flags: number; window?: number; payload?: Uint8Array | string; options?: Uint8Array }): void;
  /** The guest's next sequence number, and the first byte the backend sends. */
  gseq: number;
  rseq: number;
}

function open(opts: { guestIss?: number; window?: number; wscale?: number } = {}): Conn {
  const host = new FakeUserNetHost();
  const net = createUserNet({}, host);
  const out: Tcp[] = [];
  net.setReceiver((f) => {
    const p = parseFrame(f);
    if (p.tcp) {
      assert.ok(p.tcp.checksumOk, 'TCP checksum');
      assert.ok(p.ip?.headerChecksumOk, 'IP checksum');
      out.push(p.tcp);
    }
  });
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
  const iss = opts.guestIss ?? 1000;
  const window = opts.window ?? 65535;
  const send = (f: Parameters<Conn['seg']>[0], gseq: number, rseq: number): void => {
    const payload = typeof f.payload === 'string' ? utf8(f.payload) : f.payload;
    net.send(
      tcpFrame({ dst: REMOTE, srcPort: 40000, dstPort: 80, seq: f.seq ?? gseq, ack: f.ack ?? rseq, flags: f.flags, window: f.window ?? window, payload, options: f.options }),
    );
  };
  send({ flags: F_SYN, seq: iss, ack: 0, options: synOptions(1460, opts.wscale) }, 0, 0);
  const sock = host.connects[0];
  sock.accept();
  host.deliver();
  const synAck = out.pop()!;
  assert.equal(synAck.flags, F_SYN | F_ACK);
  const c: Conn = {
    host,
    net,
    sock,
    out,
    gseq: (iss + 1) >>> 0,
    rseq: (synAck.seq + 1) >>> 0,
    take: () => out.splice(0),
    seg: (f) => send(f, c.gseq, c.rseq),
  };
  c.seg({ flags: F_ACK });
  return c;
}

test('unacknowledged data is retransmitted with exponential backoff', () => {
  const c = open();
  c.sock.push('x'.repeat(1000));
  c.host.deliver();
  const [first] = c.take();
  assert.equal(first.seq, c.rseq);
  assert.equal(first.payload.length, 1000);
  assert.ok(first.flags & F_PSH);
  c.host.advance(999);
  assert.equal(c.out.length, 0, 'nothing before the initial RTO of 1 s');
  c.host.advance(2);
  let r = c.take();
  assert.equal(r.length, 1);
  assert.equal(r[0].seq, c.rseq);
  assert.equal(r[0].payload.length, 1000);
  c.host.advance(1990);
  assert.equal(c.out.length, 0, 'the second timeout is twice as long');
  c.host.advance(20);
  r = c.take();
  assert.equal(r.length, 1);
  c.seg({ flags: F_ACK, ack: c.rseq + 1000 });
  c.host.advance(60_000);
  assert.equal(c.out.length, 0, 'acknowledged: no more retransmissions');
});

test('three duplicate ACKs trigger a fast retransmit before the timer', () => {
  const c = open();
  c.sock.push(new Uint8Array(1460 * 6));
  c.host.deliver();
  assert.equal(c.take().length, 6);
  // The first segment was lost: the guest acks the SYN only, four times.
  c.seg({ flags: F_ACK, ack: c.rseq });
  c.seg({ flags: F_ACK, ack: c.rseq });
  c.seg({ flags: F_ACK, ack: c.rseq });
  const r = c.take();
  assert.equal(r.length, 1);
  assert.equal(r[0].seq, c.rseq);
});

test('a zero window stops data; probes follow; an opening window lets it flow', () => {
  const c = open({ window: 0 });
  c.sock.push('hello, slow guest');
  c.host.deliver();
  assert.equal(c.out.length, 0, 'no data into a zero window');
  c.host.advance(1001);
  const [probe] = c.take();
  assert.equal(probe.payload.length, 0, 'a window probe');
  assert.equal(probe.seq, (c.rseq - 1) >>> 0, 'one below SND.UNA, so the guest must answer');
  c.seg({ flags: F_ACK, ack: c.rseq, window: 0 }); // still closed
  c.host.advance(1500);
  assert.equal(c.out.length, 0, 'probes back off');
  c.host.advance(600);
  assert.equal(c.take().length, 1);
  c.seg({ flags: F_ACK, ack: c.rseq, window: 4096 }); // a window update
  const r = c.take();
  assert.equal(Buffer.from(r.map((t) => Buffer.from(t.payload)).reduce((a, b) => Buffer.concat([a, b]))).toString(), 'hello, slow guest');
  assert.equal(c.net.stats.internalErrors, 0);
});

test('RST: exact sequence resets, in-window gets a challenge ACK, outside is ignored', () => {
  const c = open();
  c.seg({ flags: F_RST, seq: c.gseq + 100 });
  const [challenge] = c.take();
  assert.equal(challenge.flags, F_ACK);
  assert.equal(challenge.ack, c.gseq);
  c.seg({ flags: F_RST, seq: c.gseq + 10_000_000 });
  assert.equal(c.out.length, 0);
  assert.ok(!c.sock.aborted);
  c.seg({ flags: F_RST, seq: c.gseq });
  assert.ok(c.sock.aborted);
  assert.equal(c.net.stats.tcpOpen, 0);
});

test('a SYN on an established connection gets a challenge ACK', () => {
  const c = open();
  c.seg({ flags: F_SYN, seq: c.gseq + 5, ack: 0 });
  const [a] = c.take();
  assert.equal(a.flags, F_ACK);
  assert.equal(a.ack, c.gseq);
  assert.equal(c.net.stats.tcpOpen, 1);
});

test('guest data: out of order is re-ACKed, overlaps are trimmed, in order reaches the host', () => {
  const c = open();
  c.seg({ flags: F_ACK | F_PSH, seq: c.gseq + 5, payload: 'world' });
  let [a] = c.take();
  assert.equal(a.ack, c.gseq, 'duplicate ACK for the hole');
  assert.equal(c.sock.text(), '');
  c.seg({ flags: F_ACK | F_PSH, payload: 'hello' });
  c.seg({ flags: F_ACK | F_PSH, seq: c.gseq + 3, payload: 'lo world' }); // a retransmission overlapping
  assert.equal(c.sock.text(), 'hello world');
  [, a] = c.take();
  assert.equal(a.ack, c.gseq + 11);
  // Old data only: acknowledged, not delivered again.
  c.seg({ flags: F_ACK | F_PSH, payload: 'hello' });
  assert.equal(c.sock.text(), 'hello world');
  assert.equal(c.take()[0].ack, c.gseq + 11);
});

test('in-order data within a burst of the guest device gets one ACK, at the end of the burst', () => {
  const c = open();
  c.net.beginBurst();
  c.seg({ flags: F_ACK, payload: 'one ' });
  c.seg({ flags: F_ACK, seq: c.gseq + 4, payload: 'two ' });
  c.seg({ flags: F_ACK, seq: c.gseq + 8, payload: 'three' });
  assert.equal(c.out.length, 0, 'no ACK inside the burst');
  assert.equal(c.sock.text(), 'one two three', 'the data reached the host at once');
  c.net.endBurst();
  const acks = c.take();
  assert.equal(acks.length, 1, 'one ACK for the burst');
  assert.equal(acks[0].ack, c.gseq + 13);
  // Out of order inside a burst: the duplicate ACK goes at once.
  c.net.beginBurst();
  c.seg({ flags: F_ACK, seq: c.gseq + 20, payload: 'gap' });
  assert.equal(c.take()[0].ack, c.gseq + 13, 'duplicate ACK for the hole, not held back');
  c.net.endBurst();
  assert.equal(c.out.length, 0, 'nothing more owed');
});

test('guest data beyond the window is not taken', () => {
  const c = open();
  c.host.holdWrites = true;
  const big = new Uint8Array(300_000);
  let seq = c.gseq;
  let accepted = 0;
  for (let o = 0; o < big.length; o += 1460) {
    c.seg({ flags: F_ACK, seq, payload: big.subarray(o, o + 1460) });
    const acks = c.take();
    const ack = acks[acks.length - 1].ack;
    accepted = (ack - c.gseq) >>> 0;
    seq = (c.gseq + o + 1460) >>> 0;
  }
  assert.equal(c.sock.writtenBytes, accepted);
  assert.ok(accepted <= 256 * 1024 + 1460, `accepted ${accepted}`);
  assert.ok(accepted >= 256 * 1024 - 1460, `accepted ${accepted}`);
});

test('sequence numbers wrap around 2^32', () => {
  const c = open({ guestIss: 0xffffff00 });
  const data = new Uint8Array(1000).fill(7);
  c.seg({ flags: F_ACK | F_PSH, payload: data });
  assert.equal(c.sock.writtenBytes, 1000);
  const [a] = c.take();
  assert.equal(a.ack, (c.gseq + 1000) >>> 0);
  assert.ok(a.ack < 1000);
});

test('host reset: the guest gets a RST it will accept', () => {
  const c = open();
  c.sock.push('abc');
  c.host.deliver();
  c.take();
  c.sock.close('ECONNRESET');
  c.host.deliver();
  const [r] = c.take();
  assert.ok(r.flags & F_RST);
  assert.equal(r.seq, c.rseq + 3, 'at the next byte the guest expects');
  assert.equal(c.net.stats.tcpOpen, 0);
  // Late guest data gets a reset too (no connection any more).
  c.seg({ flags: F_ACK | F_PSH, payload: 'late' });
  assert.ok(c.take()[0].flags & F_RST);
});

test('simultaneous close goes through CLOSING and TIME-WAIT; a repeated FIN is re-ACKed', () => {
  const c = open();
  c.sock.peerEnd();
  c.host.deliver();
  const [fin] = c.take();
  assert.equal(fin.flags, F_FIN | F_ACK);
  // The guest's FIN crosses ours (it has not seen our FIN).
  c.seg({ flags: F_FIN | F_ACK, ack: c.rseq });
  assert.ok(c.sock.ended);
  const [ack1] = c.take();
  assert.equal(ack1.ack, c.gseq + 1);
  c.seg({ flags: F_ACK, seq: c.gseq + 1, ack: c.rseq + 1 }); // now our FIN is acknowledged
  assert.equal(c.net.stats.tcpOpen, 1, 'TIME-WAIT');
  c.seg({ flags: F_FIN | F_ACK, ack: c.rseq + 1 }); // the guest retransmits its FIN
  const [ack2] = c.take();
  assert.equal(ack2.ack, c.gseq + 1);
  c.host.advance(2500);
  assert.equal(c.net.stats.tcpOpen, 0);
  assert.ok(!c.sock.aborted);
});

test('a lost SYN-ACK is resent when the guest repeats its SYN; one host connect only', () => {
  const host = new FakeUserNetHost();
  const net = createUserNet({}, host);
  const out: Tcp[] = [];
  net.setReceiver((f) => {
    const p = parseFrame(f);
    if (p.tcp) out.push(p.tcp);
  });
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
  const syn = tcpFrame({ dst: REMOTE, srcPort: 40001, dstPort: 80, seq: 5, flags: F_SYN, options: synOptions(1460) });
  net.send(syn);
  net.send(syn); // retransmitted while the host connects
  assert.equal(host.connects.length, 1);
  assert.equal(out.length, 0);
  host.connects[0].accept();
  host.deliver();
  assert.equal(out.length, 1);
  net.send(syn); // the SYN-ACK was lost
  assert.equal(out.length, 2);
  assert.equal(out[1].flags, F_SYN | F_ACK);
  assert.equal(out[1].seq, out[0].seq);
  // Unanswered, it is retried by timer, then given up with the host socket aborted.
  host.advance(300_000);
  assert.ok(out.length > 3);
  assert.ok(host.connects[0].aborted);
  assert.equal(net.stats.tcpOpen, 0);
});

test('a host connect that never completes times out with a reset', () => {
  const host = new FakeUserNetHost();
  const net = createUserNet({}, host);
  const out: Tcp[] = [];
  net.setReceiver((f) => {
    const p = parseFrame(f);
    if (p.tcp) out.push(p.tcp);
  });
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
  net.send(tcpFrame({ dst: REMOTE, srcPort: 40002, dstPort: 80, seq: 5, flags: F_SYN }));
  host.advance(74_000);
  assert.equal(out.length, 0);
  host.advance(2000);
  assert.equal(out.length, 1);
  assert.equal(out[0].flags, F_RST | F_ACK);
  assert.equal(out[0].ack, 6);
  assert.ok(host.connects[0].aborted);
});

test('an ACK for data never sent is answered and ignored', () => {
  const c = open();
  c.seg({ flags: F_ACK, ack: c.rseq + 5000 });
  const [a] = c.take();
  assert.equal(a.flags, F_ACK);
  assert.equal(a.seq, c.rseq);
  assert.equal(c.net.stats.tcpOpen, 1);
});

test('window scaling: the guest window is scaled once both sides offered it', () => {
  const c = open({ wscale: 4, window: 100 }); // 100 << 4 = 1600 bytes
  c.sock.push(new Uint8Array(5000));
  c.host.deliver();
  // One full segment fits; the 140 bytes left of the window wait (silly-window avoidance).
  assert.deepEqual(c.take().map((t) => t.payload.length), [1460]);
  c.seg({ flags: F_ACK, ack: c.rseq + 1460, window: 100 });
  assert.deepEqual(c.take().map((t) => t.payload.length), [1460]);
});
