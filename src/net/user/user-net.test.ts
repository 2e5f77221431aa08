import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createUserNet, dnsServerFailure, type UserNetBackend } from './user-net.js';
import { parseUserNetOptions } from './options.js';
import { FakeUserNetHost } from './testing/fake-host.js';
import { GuestSide } from './testing/guest-side.js';
import {
  BROADCAST,
  DHCP,
  DNS_IP,
  F_ACK,
  F_FIN,
  F_RST,
  F_SYN,
  GATEWAY_IP,
  GATEWAY_MAC,
  GUEST_IP,
  GUEST_MAC,
  Reassembler,
  arpFrame,
  dhcpFrame,
  icmpEchoFrame,
  inetChecksum,
  ip,
  ipFrame,
  optionIp,
  optionU32,
  parseDhcp,
  synOptions,
  tcpFrame,
  udpFrame,
  utf8,
} from './testing/frames.js';

function setup(options = 'user'): { host: FakeUserNetHost; net: UserNetBackend; guest: GuestSide } {
  const host = new FakeUserNetHost();
  const net = createUserNet(parseUserNetOptions(options), host);
  const guest = new GuestSide(net);
  return { host, net, guest };
}

/** Teaches the backend the guest's MAC (as the guest's first ARP request would). */
function arpHello(net: UserNetBackend): void {
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
}

function bytesOf(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('ARP: answers for the gateway and the DNS address, not for others', () => {
  const { net, guest } = setup();
  for (const target of [GATEWAY_IP, DNS_IP]) {
    net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: target }));
    const [r] = guest.take();
    assert.ok(r.arp, 'an ARP reply');
    assert.deepEqual(r.dstMac, GUEST_MAC);
    assert.deepEqual(r.srcMac, GATEWAY_MAC);
    assert.equal(r.arp.op, 2);
    assert.deepEqual(r.arp.senderMac, GATEWAY_MAC);
    assert.equal(r.arp.senderIp, target);
    assert.deepEqual(r.arp.targetMac, GUEST_MAC);
    assert.equal(r.arp.targetIp, GUEST_IP);
  }
  // A probe for the guest's own address and a request for a host that does not exist: silence.
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: 0, targetMac: new Uint8Array(6), targetIp: GUEST_IP }));
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: ip('10.0.2.99') }));
  net.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GATEWAY_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
  assert.equal(guest.frames.length, 0);
  assert.equal(net.stats.arpReplies, 2);
  assert.equal(net.stats.dropped, 0);
});

test('DHCP: DISCOVER/OFFER, REQUEST/ACK give 10.0.2.15 with router, DNS, mask and lease', () => {
  const { net, guest } = setup('user,hostname=vm1,domainname=example.test');
  net.send(dhcpFrame({ type: DHCP.DISCOVER, xid: 0x1234 }));
  const [offerFrame] = guest.take();
  assert.ok(offerFrame.udp?.checksumOk && offerFrame.ip?.headerChecksumOk);
  assert.equal(offerFrame.ip?.src, GATEWAY_IP);
  assert.equal(offerFrame.udp?.srcPort, 67);
  assert.equal(offerFrame.udp?.dstPort, 68);
  assert.deepEqual(offerFrame.dstMac, GUEST_MAC, 'unicast to the client hardware address');
  const offer = parseDhcp(offerFrame.udp!.payload);
  assert.equal(offer.op, 2);
  assert.equal(offer.xid, 0x1234);
  assert.equal(offer.yiaddr, GUEST_IP);
  assert.deepEqual(offer.chaddr, GUEST_MAC);
  assert.equal(offer.options.get(53)?.[0], DHCP.OFFER);
  assert.equal(optionIp(offer.options.get(54)), GATEWAY_IP);
  assert.equal(optionIp(offer.options.get(3)), GATEWAY_IP);
  assert.equal(optionIp(offer.options.get(6)), DNS_IP);
  assert.equal(optionIp(offer.options.get(1)), ip('255.255.255.0'));
  assert.equal(optionU32(offer.options.get(51)), 86400);
  assert.equal(String.fromCharCode(...offer.options.get(12)!), 'vm1');
  assert.equal(String.fromCharCode(...offer.options.get(15)!), 'example.test');

  net.send(dhcpFrame({ type: DHCP.REQUEST, xid: 0x1235, requestedIp: offer.yiaddr, serverId: GATEWAY_IP }));
  const [ackFrame] = guest.take();
  const ack = parseDhcp(ackFrame.udp!.payload);
  assert.equal(ack.options.get(53)?.[0], DHCP.ACK);
  assert.equal(ack.yiaddr, GUEST_IP);
  assert.equal(optionIp(ack.options.get(3)), GATEWAY_IP);
  assert.equal(optionIp(ack.options.get(6)), DNS_IP);

  // A broadcast-flag client gets broadcast replies; an address outside the pool gets a NAK.
  const other = new Uint8Array([2, 0, 0, 0, 0, 9]);
  net.send(dhcpFrame({ type: DHCP.DISCOVER, xid: 7, mac: other, broadcast: true }));
  const [o2] = guest.take();
  assert.deepEqual(o2.dstMac, BROADCAST);
  assert.equal(o2.ip?.dst, 0xffffffff);
  assert.equal(parseDhcp(o2.udp!.payload).yiaddr, ip('10.0.2.16'), 'a second client gets the next address');
  net.send(dhcpFrame({ type: DHCP.REQUEST, xid: 8, mac: other, requestedIp: ip('10.0.2.200'), serverId: GATEWAY_IP }));
  assert.equal(parseDhcp(guest.take()[0].udp!.payload).options.get(53)?.[0], DHCP.NAK);
  // The first client's address is not handed to the second.
  net.send(dhcpFrame({ type: DHCP.REQUEST, xid: 9, mac: other, requestedIp: GUEST_IP, serverId: GATEWAY_IP }));
  assert.equal(parseDhcp(guest.take()[0].udp!.payload).options.get(53)?.[0], DHCP.NAK);
  // Renewal: unicast from the leased address to the server.
  net.send(udpFrame({ src: GUEST_IP, dst: GATEWAY_IP, srcPort: 68, dstPort: 67, payload: dhcpFrameRenew() }));
  const [renew] = guest.take();
  assert.equal(parseDhcp(renew.udp!.payload).options.get(53)?.[0], DHCP.ACK);
  assert.equal(renew.ip?.dst, GUEST_IP);
  assert.equal(net.stats.dropped, 0);
});

function dhcpFrameRenew(): Uint8Array {
  // The BOOTP payload of a REQUEST in RENEWING state: ciaddr set, no requested-IP/server-id options.
  const f = dhcpFrame({ type: DHCP.REQUEST, xid: 10, ciaddr: GUEST_IP });
  return f.subarray(14 + 20 + 8);
}

test('ICMP: echo to the gateway is answered with correct checksums; others are not', () => {
  const { net, guest } = setup();
  const data = utf8('ping payload 0123456789');
  net.send(icmpEchoFrame(GATEWAY_IP, 0x4242, 7, data));
  const [r] = guest.take();
  assert.ok(r.icmp);
  assert.equal(r.icmp.type, 0);
  assert.equal(r.icmp.code, 0);
  assert.equal(r.icmp.id, 0x4242);
  assert.equal(r.icmp.seq, 7);
  assert.deepEqual(r.icmp.payload, data);
  assert.ok(r.icmp.checksumOk, 'ICMP checksum');
  assert.ok(r.ip?.headerChecksumOk, 'IP header checksum');
  assert.equal(r.ip?.src, GATEWAY_IP);
  assert.equal(r.ip?.dst, GUEST_IP);
  assert.deepEqual(r.dstMac, GUEST_MAC);
  net.send(icmpEchoFrame(ip('8.8.8.8'), 1, 1, data));
  assert.equal(guest.frames.length, 0);
  assert.equal(net.stats.icmpEchoReplies, 1);
  assert.equal(net.stats.unsupported, 1);
});

test('malformed frames are dropped and counted by reason', () => {
  const { net, guest } = setup();
  const good = icmpEchoFrame(GATEWAY_IP, 1, 1, new Uint8Array(8));
  net.send(good.subarray(0, 10)); // shorter than Ethernet
  net.send(good.subarray(0, 30)); // truncated IP header
  const badSum = good.slice();
  badSum[14 + 10] ^= 0xff;
  net.send(badSum);
  const badLen = good.slice();
  badLen[14 + 2] = 0xff; // total length past the frame
  badLen[14 + 10] = 0;
  badLen[14 + 11] = 0;
  const hs = inetChecksum(badLen.subarray(14, 34));
  badLen[14 + 10] = hs >> 8;
  badLen[14 + 11] = hs & 255;
  net.send(badLen);
  net.send(ipFrame({ src: GUEST_IP, dst: GATEWAY_IP, protocol: 1, payload: new Uint8Array(16), fragment: 0x2000 }));
  net.send(ipFrame({ src: GUEST_IP, dst: GATEWAY_IP, protocol: 1, payload: new Uint8Array(16), fragment: 0x0010 }));
  net.send(tcpFrame({ dst: ip('1.2.3.4'), srcPort: 1000, dstPort: 80, seq: 1, flags: F_SYN | F_FIN }));
  net.send(tcpFrame({ dst: ip('1.2.3.4'), srcPort: 1000, dstPort: 80, seq: 1, flags: F_SYN | F_RST }));
  net.send(tcpFrame({ dst: ip('1.2.3.4'), srcPort: 1000, dstPort: 80, seq: 1, flags: 0 }));
  // An MSS option whose length runs past the header.
  net.send(tcpFrame({ dst: ip('1.2.3.4'), srcPort: 1000, dstPort: 80, seq: 1, flags: F_SYN, options: new Uint8Array([2, 8, 5, 180]) }));
  const badUdp = udpFrame({ dst: ip('1.2.3.4'), srcPort: 5, dstPort: 6, payload: new Uint8Array(4) });
  badUdp[14 + 20 + 6] ^= 1;
  net.send(badUdp);
  net.send(new Uint8Array([...GATEWAY_MAC, ...GUEST_MAC, 0x86, 0xdd, 0x60, 0, 0, 0])); // IPv6
  net.send(new Uint8Array([0x33, 0x33, 0, 0, 0, 1, ...GUEST_MAC, 0x86, 0xdd])); // IPv6 multicast
  const s = net.stats;
  assert.equal(s.malformed, 4);
  assert.equal(s.badChecksum, 2);
  assert.equal(s.fragments, 2);
  assert.equal(s.badTcpFlags, 3);
  assert.equal(s.unsupported, 2);
  assert.equal(s.dropped, 13);
  assert.equal(s.framesIn, 13);
  assert.equal(guest.frames.length, 0);
});

test('UDP: datagrams go out through one host socket per guest port; replies come back', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  guest.take();
  net.send(udpFrame({ dst: ip('192.0.2.7'), srcPort: 5555, dstPort: 7, payload: utf8('hello') }));
  net.send(udpFrame({ dst: GATEWAY_IP, srcPort: 5555, dstPort: 9999, payload: utf8('to the host') }));
  assert.equal(host.udpSockets.length, 1);
  const s = host.udpSockets[0];
  assert.deepEqual(
    s.sent.map((x) => [x.address, x.port, String.fromCharCode(...x.data)]),
    [
      ['192.0.2.7', 7, 'hello'],
      ['127.0.0.1', 9999, 'to the host'],
    ],
  );
  s.receive(utf8('echo'), '192.0.2.7', 7);
  s.receive(utf8('from lo'), '127.0.0.1', 9999);
  host.deliver();
  const [a, b] = guest.take();
  assert.equal(a.ip?.src, ip('192.0.2.7'));
  assert.equal(a.udp?.srcPort, 7);
  assert.equal(a.udp?.dstPort, 5555);
  assert.ok(a.udp?.checksumOk);
  assert.equal(String.fromCharCode(...a.udp!.payload), 'echo');
  assert.equal(b.ip?.src, GATEWAY_IP, 'the host loopback appears as the gateway');
  // A large reply is fragmented to fit the MTU.
  s.receive(bytesOf(4000), '192.0.2.7', 7);
  host.deliver();
  const frags = guest.take();
  assert.equal(frags.length, 3);
  const ra = new Reassembler();
  let whole: Uint8Array | null = null;
  for (const f of frags) {
    assert.ok(f.ip!.payload.length + 34 <= 1514);
    whole = ra.add(f.ip!) ?? whole;
  }
  assert.ok(whole);
  assert.deepEqual(whole.subarray(8), bytesOf(4000));
  // Idle flows close.
  host.advance(241_000);
  assert.ok(s.closed);
  assert.equal(net.stats.udpOpen, 0);
});

test('DNS: queries to 10.0.2.3:53 go to the host resolver; a failure gets SERVFAIL', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  guest.take();
  const query = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 0, 0, 1, 0, 1]);
  net.send(udpFrame({ dst: DNS_IP, srcPort: 40000, dstPort: 53, payload: query }));
  net.send(udpFrame({ dst: DNS_IP, srcPort: 40001, dstPort: 53, payload: query }));
  assert.equal(host.dnsCalls.length, 2);
  assert.deepEqual(host.dnsCalls[0].query, query);
  const response = query.slice();
  response[2] = 0x81;
  response[3] = 0x80;
  host.answerDns(host.dnsCalls[0], response);
  host.answerDns(host.dnsCalls[1], null);
  host.deliver();
  const [r1, r2] = guest.take();
  assert.equal(r1.ip?.src, DNS_IP);
  assert.equal(r1.udp?.srcPort, 53);
  assert.equal(r1.udp?.dstPort, 40000);
  assert.deepEqual(r1.udp?.payload, response);
  assert.equal(r2.udp?.dstPort, 40001);
  assert.deepEqual(r2.udp?.payload, dnsServerFailure(query));
  assert.equal(r2.udp!.payload[3] & 0x0f, 2, 'RCODE SERVFAIL');
  assert.equal(r2.udp!.payload.length, query.length, 'header and question');
});

test('TCP: connect, data both ways, close from both ends', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  guest.take();
  const g = guest.tcp({ localPort: 40000, remoteIp: ip('198.51.100.1'), remotePort: 80, wscale: 7 });
  g.connect();
  assert.equal(host.connects.length, 1);
  const s = host.connects[0];
  assert.equal(s.address, '198.51.100.1');
  assert.equal(s.port, 80);
  assert.equal(g.state, 'syn-sent', 'no SYN-ACK before the host connects');
  s.accept();
  host.deliver();
  assert.equal(g.state, 'established');
  assert.equal(g.peerMss, 1460);
  g.write('GET / HTTP/1.0\r\n\r\n');
  assert.equal(s.text(), 'GET / HTTP/1.0\r\n\r\n');
  s.push('HTTP/1.0 200 OK\r\n\r\nbody');
  s.peerEnd();
  host.deliver();
  g.read();
  assert.equal(g.text(), 'HTTP/1.0 200 OK\r\n\r\nbody');
  assert.ok(g.peerClosed, 'FIN reached the guest');
  assert.ok(!s.ended);
  g.close();
  assert.ok(s.ended, 'the guest FIN half-closes the host socket');
  assert.equal(net.stats.tcpOpen, 1, 'TIME-WAIT (we closed first)');
  host.advance(3000);
  assert.equal(net.stats.tcpOpen, 0, 'the connection is gone after TIME-WAIT');
  assert.ok(!s.aborted);
  assert.equal(net.stats.dropped, 0);
});

test('TCP: guest closes first, host keeps sending, then closes', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  const g = guest.tcp({ localPort: 40001, remoteIp: GATEWAY_IP, remotePort: 22 });
  g.connect();
  const s = host.connects[0];
  assert.equal(s.address, '127.0.0.1', '10.0.2.2 is the host loopback');
  s.accept();
  host.deliver();
  g.write('bye');
  g.close();
  assert.ok(s.ended);
  assert.equal(s.text(), 'bye');
  s.push('late data');
  host.deliver();
  assert.equal(fromGuest(g), 'late data');
  s.peerEnd();
  host.deliver();
  assert.ok(g.peerClosed);
  assert.equal(net.stats.tcpOpen, 0, 'LAST-ACK ends with the guest ACK of our FIN');
  assert.ok(!s.aborted);
});

function fromGuest(g: { read(): Uint8Array }): string {
  return String.fromCharCode(...g.read());
}

test('TCP: a refused host connect resets the guest; so do restrict=on and unknown flows', () => {
  {
    const { host, net, guest } = setup();
    arpHello(net);
    const g = guest.tcp({ localPort: 40002, remoteIp: ip('198.51.100.1'), remotePort: 81 });
    g.connect();
    host.connects[0].refuse();
    host.deliver();
    assert.ok(g.reset);
    assert.equal(net.stats.tcpOpen, 0);
    // A segment for a connection that does not exist.
    guest.take();
    net.send(tcpFrame({ dst: ip('198.51.100.1'), srcPort: 40003, dstPort: 80, seq: 5, ack: 99, flags: F_ACK }));
    const [rst] = guest.take();
    assert.equal(rst.tcp?.flags, F_RST);
    assert.equal(rst.tcp?.seq, 99);
  }
  {
    const { host, net, guest } = setup('user,restrict=on');
    arpHello(net);
    const g = guest.tcp({ localPort: 40004, remoteIp: ip('198.51.100.1'), remotePort: 80 });
    g.connect();
    assert.ok(g.reset);
    const g2 = guest.tcp({ localPort: 40005, remoteIp: GATEWAY_IP, remotePort: 80 });
    g2.connect();
    assert.ok(g2.reset);
    net.send(udpFrame({ dst: ip('198.51.100.1'), srcPort: 5, dstPort: 6, payload: utf8('x') }));
    net.send(udpFrame({ dst: DNS_IP, srcPort: 5, dstPort: 53, payload: new Uint8Array(20) }));
    assert.equal(host.connects.length, 0);
    assert.equal(host.udpSockets.length, 0);
    assert.equal(host.dnsCalls.length, 0);
    assert.equal(net.stats.restricted, 4);
    net.send(icmpEchoFrame(GATEWAY_IP, 1, 1, new Uint8Array(4)));
    assert.equal(guest.take((f) => f.icmp !== undefined).length, 1, 'ping to the gateway still works');
  }
});

test('TCP: 1 MiB each way across a lossy guest NIC arrives intact', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  const g = guest.tcp({ localPort: 40010, remoteIp: ip('198.51.100.2'), remotePort: 9000, autoRead: true, wscale: 7, rcvBuf: 1 << 20 });
  g.connect();
  const s = host.connects[0];
  s.accept();
  host.deliver();
  // Drop 5% of the data segments on their way to the guest (a full receive ring).
  let n = 0;
  guest.dropIf = (f) => f.tcp !== undefined && f.tcp.payload.length > 0 && ++n % 20 === 0;
  const down = bytesOf(1 << 20, 3);
  for (let o = 0; o < down.length; o += 65536) s.push(down.subarray(o, o + 65536));
  const up = bytesOf(1 << 20, 4);
  g.write(up);
  for (let i = 0; i < 200 && g.receivedBytes < down.length; i++) host.advance(500);
  assert.equal(g.receivedBytes, down.length);
  assert.deepEqual(g.bytes(), down);
  assert.deepEqual(s.bytes(), up);
  assert.ok(guest.dropped > 10, 'frames were lost');
  assert.ok(s.paused === false);
  s.peerEnd();
  g.close();
  host.deliver();
  host.advance(5000);
  assert.equal(net.stats.tcpOpen, 0);
  assert.equal(net.stats.internalErrors, 0);
});

test('TCP flow control: a guest that does not read stops the sender and pauses the host socket', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  const g = guest.tcp({ localPort: 40011, remoteIp: ip('198.51.100.3'), remotePort: 9000, rcvBuf: 32768 });
  g.connect();
  const s = host.connects[0];
  s.accept();
  host.deliver();
  for (let i = 0; i < 8; i++) s.push(bytesOf(65536, i));
  host.deliver();
  assert.equal(g.bufferedUnread, 32768, 'exactly the guest window was sent');
  assert.ok(s.paused, 'the host socket is paused above the send buffer limit');
  // Zero window: the backend probes, but never overruns.
  host.advance(10_000);
  assert.equal(g.bufferedUnread, 32768);
  let got = 0;
  for (let i = 0; i < 100 && got < 8 * 65536; i++) {
    got += g.read().length;
    host.advance(100);
  }
  assert.equal(got, 8 * 65536);
  assert.ok(!s.paused);
});

test('TCP flow control: host write backlog closes the window advertised to the guest', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  host.holdWrites = true;
  const g = guest.tcp({ localPort: 40012, remoteIp: ip('198.51.100.4'), remotePort: 9000 });
  g.connect();
  const s = host.connects[0];
  s.accept();
  host.deliver();
  g.write(bytesOf(400_000));
  assert.equal(s.writtenBytes, 256 * 1024, 'the window is the host socket room');
  assert.equal(g.peerWindow, 0);
  s.drain();
  host.deliver();
  assert.ok(g.peerWindow > 0, 'drain reopens the window');
  assert.equal(s.writtenBytes, 400_000);
});

test('host forward: a host client gets a connection to the guest port', async () => {
  const { host, net, guest } = setup('user,hostfwd=tcp:127.0.0.1:0-:80');
  host.deliver();
  const bound = await net.ready;
  assert.equal(bound.length, 1);
  assert.equal(bound[0].guestAddress, '10.0.2.15');
  assert.ok(bound[0].hostPort > 0);
  arpHello(net);
  const g = guest.tcp({ localPort: 80, remoteIp: GATEWAY_IP, remotePort: 0, wscale: 2 });
  g.listen();
  const l = host.listeners[0];
  assert.equal(l.address, '127.0.0.1');
  const client = l.connectClient();
  assert.ok(client);
  assert.equal(g.state, 'established');
  assert.ok(!client.paused, 'resumed once the guest accepted');
  client.push('hello guest');
  host.deliver();
  assert.equal(fromGuest(g), 'hello guest');
  g.write('hello host');
  assert.equal(client.text(), 'hello host');
  g.abort();
  assert.ok(client.aborted, 'a guest reset aborts the host connection');
  net.close();
});

test('host forward: a closed guest port (RST) aborts the host client', async () => {
  const { host, net, guest } = setup('user,hostfwd=tcp::0-10.0.2.15:2222');
  host.deliver();
  await net.ready;
  assert.equal(host.listeners[0].address, '0.0.0.0');
  arpHello(net);
  guest.take();
  const client = host.listeners[0].connectClient();
  assert.ok(client);
  const [syn] = guest.take((f) => f.tcp !== undefined);
  assert.equal(syn.tcp?.flags, F_SYN);
  assert.equal(syn.tcp?.dstPort, 2222);
  assert.equal(syn.ip?.src, GATEWAY_IP);
  assert.equal(syn.tcp?.mss, 1460);
  assert.ok(syn.tcp?.wscale !== undefined, 'window scaling offered');
  net.send(tcpFrame({ dst: GATEWAY_IP, srcPort: 2222, dstPort: syn.tcp!.srcPort, seq: 0, ack: syn.tcp!.seq + 1, flags: F_RST | F_ACK }));
  assert.ok(client.aborted);
  assert.equal(net.stats.tcpOpen, 0);
});

test('host forward: SYNs to a silent guest are retried, then the host client is dropped', async () => {
  const { host, net, guest } = setup('user,hostfwd=tcp:127.0.0.1:0-:80');
  host.deliver();
  await net.ready;
  arpHello(net);
  guest.take();
  const client = host.listeners[0].connectClient()!;
  host.advance(200_000);
  const syns = guest.take((f) => f.tcp !== undefined && f.tcp.flags === F_SYN);
  assert.equal(syns.length, 7, 'the SYN and 6 retries');
  assert.ok(client.aborted);
});

test('host forward: a listen failure rejects ready with ELISTEN', async () => {
  const host = new FakeUserNetHost();
  host.autoListen = false;
  const net = createUserNet(parseUserNetOptions('user,hostfwd=tcp:127.0.0.1:8080-:80'), host);
  host.listeners[0].events.error('EADDRINUSE', 'address already in use');
  await assert.rejects(net.ready, (e: Error & { code?: string }) => e.code === 'ELISTEN' && /8080/.test(e.message) && /EADDRINUSE/.test(e.message));
});

test('SYN options: MSS is honoured, window scaling only when the guest offers it', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  guest.take();
  net.send(tcpFrame({ dst: ip('198.51.100.9'), srcPort: 41000, dstPort: 80, seq: 100, flags: F_SYN, window: 8192, options: synOptions(600) }));
  host.connects[0].accept();
  host.deliver();
  const [synAck] = guest.take();
  assert.equal(synAck.tcp?.flags, F_SYN | F_ACK);
  assert.equal(synAck.tcp?.ack, 101);
  assert.equal(synAck.tcp?.mss, 1460);
  assert.equal(synAck.tcp?.wscale, undefined);
  net.send(tcpFrame({ dst: ip('198.51.100.9'), srcPort: 41000, dstPort: 80, seq: 101, ack: synAck.tcp!.seq + 1, flags: F_ACK, window: 8192 }));
  host.connects[0].push(bytesOf(5000));
  host.deliver();
  const segs = guest.take((f) => f.tcp !== undefined && f.tcp.payload.length > 0);
  assert.ok(segs.every((f) => f.tcp!.payload.length <= 600));
  assert.equal(segs.reduce((n, f) => n + f.tcp!.payload.length, 0), 5000);
  net.close();
  assert.ok(host.connects[0].aborted);
});

test('a receiver that answers synchronously from inside its callback is safe', () => {
  const host = new FakeUserNetHost();
  const net = createUserNet({}, host);
  let depth = 0;
  let maxDepth = 0;
  let replies = 0;
  net.setReceiver(() => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    if (replies++ < 50) net.send(icmpEchoFrame(GATEWAY_IP, 1, replies, new Uint8Array(4)));
    depth--;
  });
  net.send(icmpEchoFrame(GATEWAY_IP, 1, 0, new Uint8Array(4)));
  assert.equal(replies, 51);
  assert.equal(maxDepth, 1, 'frames are delivered from a queue, not recursively');
});

test('DNS over TCP to 10.0.2.3:53: pipelined length-prefixed queries are answered', () => {
  const { host, net, guest } = setup();
  arpHello(net);
  const g = guest.tcp({ localPort: 40100, remoteIp: DNS_IP, remotePort: 53, autoRead: true });
  g.connect();
  host.advance(0);
  assert.equal(g.state, 'established');
  const q1 = new Uint8Array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
  const q2 = q1.slice();
  q2[1] = 2;
  g.write(new Uint8Array([0, q1.length, ...q1, 0, q2.length, ...q2.subarray(0, 5)]));
  g.write(q2.subarray(5)); // the second query split across segments
  assert.equal(host.dnsCalls.length, 2);
  assert.deepEqual(host.dnsCalls[1].query, q2);
  const answer = q1.slice();
  answer[2] |= 0x80;
  host.answerDns(host.dnsCalls[1], null);
  host.answerDns(host.dnsCalls[0], answer);
  host.deliver();
  const got = g.bytes();
  assert.equal(got.length, 2 + q1.length + 2 + q2.length);
  assert.equal(got[3], 2, 'the SERVFAIL for query 2 came first');
  assert.equal(got[5] & 15, 2);
  assert.deepEqual(got.subarray(2 + q2.length + 2), answer);
  g.close();
  host.advance(0);
  assert.ok(g.peerClosed, 'the relay closes after the guest');
  assert.equal(net.stats.dnsQueries, 2);
  host.advance(3000);
  assert.equal(net.stats.tcpOpen, 0);
});

test('frames for a guest whose MAC is unknown trigger an ARP request', async () => {
  const { host, net, guest } = setup('user,hostfwd=tcp:127.0.0.1:0-:22');
  host.deliver();
  await net.ready;
  const client = host.listeners[0].connectClient()!;
  const [req] = guest.take();
  assert.ok(req.arp, 'an ARP request instead of the SYN');
  assert.equal(req.arp.op, 1);
  assert.deepEqual(req.dstMac, BROADCAST);
  assert.equal(req.arp.senderIp, GATEWAY_IP);
  assert.equal(req.arp.targetIp, GUEST_IP);
  assert.equal(net.stats.unresolved, 1);
  // The guest answers; the retransmitted SYN reaches it.
  net.send(arpFrame({ op: 2, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: GATEWAY_MAC, targetIp: GATEWAY_IP }, GATEWAY_MAC));
  host.advance(1100);
  const [syn] = guest.take((f) => f.tcp !== undefined);
  assert.equal(syn.tcp?.flags, F_SYN);
  assert.deepEqual(syn.dstMac, GUEST_MAC);
  assert.ok(!client.aborted);
});

test('UDP host forward: datagrams from host peers reach the guest port and replies go back', async () => {
  const { host, net, guest } = setup('user,hostfwd=udp:127.0.0.1:0-:5353');
  host.deliver();
  const [fwd] = await net.ready;
  assert.equal(fwd.protocol, 'udp');
  arpHello(net);
  guest.take();
  const sock = host.udpSockets[0];
  assert.deepEqual(sock.bind, { address: '127.0.0.1', port: 0 });
  sock.receive(utf8('query A'), '127.0.0.1', 41000);
  sock.receive(utf8('query B'), '127.0.0.1', 41001);
  host.deliver();
  const [a, b] = guest.take();
  assert.equal(a.ip?.src, GATEWAY_IP);
  assert.equal(a.udp?.dstPort, 5353);
  assert.notEqual(a.udp?.srcPort, b.udp?.srcPort, 'one gateway port per host peer');
  net.send(udpFrame({ dst: GATEWAY_IP, srcPort: 5353, dstPort: b.udp!.srcPort, payload: utf8('answer B') }));
  assert.equal(sock.sent.length, 1);
  assert.equal(sock.sent[0].address, '127.0.0.1');
  assert.equal(sock.sent[0].port, 41001);
  assert.equal(String.fromCharCode(...sock.sent[0].data), 'answer B');
  assert.equal(host.udpSockets.length, 1, 'no NAT socket was opened for the reply');
});
