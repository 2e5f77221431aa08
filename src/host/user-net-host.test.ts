// The user network on the real Node host: every test starts its own servers on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createUserNet, parseUserNetOptions, type UserNetBackend } from '../net/user/index.js';
import { GuestSide } from '../net/user/testing/guest-side.js';
import { DNS_IP, GATEWAY_IP, GUEST_IP, GUEST_MAC, arpFrame, udpFrame, utf8 } from '../net/user/testing/frames.js';
import { createNodeUserNetHost, openUserNet, parseDnsServer, resolvConfServers, type NodeUserNetHostOptions } from './user-net-host.js';

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function setup(spec = 'user', hostOptions: NodeUserNetHostOptions = {}): { backend: UserNetBackend; guest: GuestSide } {
  const backend = createUserNet(parseUserNetOptions(spec), createNodeUserNetHost(hostOptions));
  const guest = new GuestSide(backend);
  backend.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
  guest.take();
  return { backend, guest };
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function random(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('UDP echo through a real UDP server on 127.0.0.1 (as 10.0.2.2)', async () => {
  const server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => server.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  const port = server.address().port;
  const { backend, guest } = setup();
  try {
    backend.send(udpFrame({ dst: GATEWAY_IP, srcPort: 5000, dstPort: port, payload: utf8('ping 1') }));
    backend.send(udpFrame({ dst: GATEWAY_IP, srcPort: 5000, dstPort: port, payload: utf8('ping 2') }));
    await waitFor(() => guest.frames.length >= 2, 'two UDP replies');
    const replies = guest.take().map((f) => {
      assert.equal(f.ip?.src, GATEWAY_IP);
      assert.equal(f.udp?.srcPort, port);
      assert.equal(f.udp?.dstPort, 5000);
      assert.ok(f.udp?.checksumOk);
      return Buffer.from(f.udp!.payload).toString();
    });
    assert.deepEqual(replies.sort(), ['echo:ping 1', 'echo:ping 2']);
    assert.equal(backend.stats.udpFlows, 1, 'one host socket for the guest port');
  } finally {
    backend.close();
    server.close();
  }
});

test('TCP exchange with a real server: connect, data both ways, close', async () => {
  let serverGot = '';
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.write('hello guest\n');
    sock.on('data', (d) => {
      serverGot += d.toString();
      sock.write(d.toString().toUpperCase());
    });
    sock.on('end', () => sock.end('bye\n'));
  });
  const port = await listen(server);
  const { backend, guest } = setup();
  try {
    const g = guest.tcp({ localPort: 41000, remoteIp: GATEWAY_IP, remotePort: port, autoRead: true, wscale: 7 });
    g.connect();
    await waitFor(() => g.state === 'established', 'the handshake');
    await waitFor(() => g.text() === 'hello guest\n', 'the greeting');
    g.write('some data');
    await waitFor(() => g.text() === 'hello guest\nSOME DATA', 'the echo');
    g.close();
    await waitFor(() => g.peerClosed, 'the server FIN');
    assert.equal(g.text(), 'hello guest\nSOME DATAbye\n');
    assert.equal(serverGot, 'some data');
    await waitFor(() => backend.stats.tcpOpen === 0, 'the connection to close');
    assert.equal(backend.stats.dropped, 0);
    assert.equal(backend.stats.internalErrors, 0);
  } finally {
    backend.close();
    await closeServer(server);
  }
});

test('TCP: 4 MiB each way through a real server', async () => {
  const size = 4 << 20;
  const down = random(size, 7);
  const up = random(size, 9);
  const received: Buffer[] = [];
  let serverDone!: () => void;
  const serverFinished = new Promise<void>((r) => (serverDone = r));
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.end(down);
    sock.on('data', (d) => received.push(d));
    sock.on('end', () => serverDone());
  });
  const port = await listen(server);
  const { backend, guest } = setup();
  try {
    const g = guest.tcp({ localPort: 41001, remoteIp: GATEWAY_IP, remotePort: port, autoRead: true, wscale: 7, rcvBuf: 1 << 20 });
    g.connect();
    await waitFor(() => g.state === 'established', 'the handshake');
    g.write(up);
    g.close();
    await waitFor(() => g.peerClosed, 'all data and the FIN from the server', 60_000);
    await serverFinished;
    assert.equal(g.receivedBytes, size);
    assert.equal(sha(g.bytes()), sha(down));
    const all = Buffer.concat(received);
    assert.equal(all.length, size);
    assert.equal(sha(all), sha(up));
    await waitFor(() => backend.stats.tcpOpen === 0, 'the connection to close');
    assert.equal(backend.stats.internalErrors, 0);
  } finally {
    backend.close();
    await closeServer(server);
  }
});

test('TCP: a refused connect resets the guest', async () => {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server); // nothing listens there now
  const { backend, guest } = setup();
  try {
    const g = guest.tcp({ localPort: 41002, remoteIp: GATEWAY_IP, remotePort: port });
    g.connect();
    await waitFor(() => g.reset, 'the reset');
    await waitFor(() => backend.stats.tcpOpen === 0, 'the connection to go');
  } finally {
    backend.close();
  }
});

test('port forward: a host client reaches the guest port', async () => {
  const backend = await openUserNet('user,hostfwd=tcp:127.0.0.1:0-:80');
  const guest = new GuestSide(backend);
  backend.send(arpFrame({ op: 1, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: GATEWAY_IP }));
  const [fwd] = await backend.ready;
  const g = guest.tcp({ localPort: 80, remoteIp: GATEWAY_IP, remotePort: 0, autoRead: true, wscale: 7 });
  g.listen();
  const client = net.connect({ host: '127.0.0.1', port: fwd.hostPort, allowHalfOpen: true });
  let clientGot = '';
  client.on('data', (d) => (clientGot += d.toString()));
  const clientEnded = new Promise<void>((r) => client.on('end', () => r()));
  try {
    await waitFor(() => g.state === 'established', 'the guest to accept');
    client.write('GET /');
    await waitFor(() => g.text() === 'GET /', 'the request at the guest');
    g.write('200 OK');
    g.close();
    await clientEnded;
    assert.equal(clientGot, '200 OK');
    client.end();
    await waitFor(() => g.peerClosed, 'the client FIN at the guest');
    await waitFor(() => backend.stats.tcpOpen === 0, 'the connection to close');
  } finally {
    client.destroy();
    backend.close();
  }
});

test('port forward: a host address already in use fails with ELISTEN', async () => {
  const server = net.createServer();
  const port = await listen(server);
  try {
    await assert.rejects(openUserNet(`user,hostfwd=tcp:127.0.0.1:${port}-:22`), (e: Error & { code?: string }) => e.code === 'ELISTEN');
  } finally {
    await closeServer(server);
  }
});

test('restrict=on: no outbound TCP/UDP reaches the host; forwards still work', async () => {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  const port = await listen(server);
  let datagrams = 0;
  const udp = dgram.createSocket('udp4');
  udp.on('message', () => datagrams++);
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const { backend, guest } = setup('user,restrict=on,hostfwd=tcp:127.0.0.1:0-:22');
  try {
    const [fwd] = await backend.ready;
    const g = guest.tcp({ localPort: 41003, remoteIp: GATEWAY_IP, remotePort: port });
    g.connect();
    assert.ok(g.reset, 'refused at once');
    backend.send(udpFrame({ dst: GATEWAY_IP, srcPort: 5001, dstPort: udp.address().port, payload: utf8('x') }));
    backend.send(udpFrame({ dst: DNS_IP, srcPort: 5002, dstPort: 53, payload: new Uint8Array(20) }));
    const sshd = guest.tcp({ localPort: 22, remoteIp: GATEWAY_IP, remotePort: 0, autoRead: true });
    sshd.listen();
    const client = net.connect({ host: '127.0.0.1', port: fwd.hostPort });
    client.write('SSH-2.0-test\r\n');
    await waitFor(() => sshd.text() === 'SSH-2.0-test\r\n', 'the forwarded connection');
    client.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(connections, 0);
    assert.equal(datagrams, 0);
    assert.equal(backend.stats.restricted, 3);
  } finally {
    backend.close();
    udp.close();
    await closeServer(server);
  }
});

test('DNS relay: the Node host forwards the raw query to its nameserver', async () => {
  const ns = dgram.createSocket('udp4');
  ns.on('message', (q, rinfo) => {
    const r = Buffer.from(q);
    r[2] |= 0x80; // QR
    ns.send(Buffer.concat([r, Buffer.from([1, 2, 3, 4])]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => ns.bind(0, '127.0.0.1', () => r()));
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  const query = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
  const a = setup('user', { dnsServers: [`127.0.0.1:${silent.address().port}`, `127.0.0.1:${ns.address().port}`], dnsTimeoutMs: 200 });
  const b = setup('user', { dnsServers: [`127.0.0.1:${silent.address().port}`], dnsTimeoutMs: 100 });
  try {
    a.backend.send(udpFrame({ dst: DNS_IP, srcPort: 33333, dstPort: 53, payload: query }));
    await waitFor(() => a.guest.frames.length === 1, 'the answer (after the first server timed out)');
    const [r] = a.guest.take();
    assert.equal(r.ip?.src, DNS_IP);
    assert.equal(r.udp?.srcPort, 53);
    assert.equal(r.udp?.dstPort, 33333);
    assert.equal(r.udp?.payload.length, query.length + 4);
    assert.equal(r.udp!.payload[0], 0x12);
    b.backend.send(udpFrame({ dst: DNS_IP, srcPort: 33334, dstPort: 53, payload: query }));
    await waitFor(() => b.guest.frames.length === 1, 'SERVFAIL');
    assert.equal(b.guest.frames[0].udp!.payload[3] & 15, 2);
  } finally {
    a.backend.close();
    b.backend.close();
    ns.close();
    silent.close();
  }
});

test('DNS relay: a truncated UDP answer is fetched again over TCP; DNS over TCP from the guest works', async () => {
  const full = Buffer.alloc(2000, 0x41);
  const ns = dgram.createSocket('udp4');
  ns.on('message', (q, rinfo) => {
    const r = Buffer.from(q);
    r[2] |= 0x82; // QR + TC
    ns.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => ns.bind(0, '127.0.0.1', () => r()));
  const port = ns.address().port;
  const tcpNs = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        const answer = Buffer.concat([q.subarray(0, 2), Buffer.from([0x81, 0x80]), q.subarray(4, 12), full]);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(answer.length);
        sock.end(Buffer.concat([len, answer]));
      }
    });
  });
  const bound = await new Promise<boolean>((resolve) => {
    tcpNs.once('error', () => resolve(false));
    tcpNs.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) {
    ns.close();
    return; // the TCP port was taken: nothing to test against
  }
  const { backend, guest } = setup('user', { dnsServers: [`127.0.0.1:${port}`] });
  const query = new Uint8Array([0x77, 0x01, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
  try {
    backend.send(udpFrame({ dst: DNS_IP, srcPort: 33335, dstPort: 53, payload: query }));
    await waitFor(() => guest.frames.length >= 2, 'the (fragmented) UDP answer');
    assert.ok(guest.frames.every((f) => (f.ip!.fragment & 0x3fff) !== 0), 'a 2 KB answer is fragmented to the MTU');
    const g = guest.tcp({ localPort: 41010, remoteIp: DNS_IP, remotePort: 53, autoRead: true });
    g.connect();
    g.write(new Uint8Array([0, query.length, ...query]));
    await waitFor(() => g.receivedBytes >= 2 + 12 + full.length, 'the answer over TCP');
    const got = g.bytes();
    assert.equal((got[0] << 8) | got[1], 12 + full.length);
    assert.equal(got[2], 0x77);
    g.close();
    await waitFor(() => g.peerClosed, 'the relay FIN');
  } finally {
    backend.close();
    ns.close();
    await closeServer(tcpNs);
  }
});

test('nameserver parsing', () => {
  assert.deepEqual(parseDnsServer('1.1.1.1'), { address: '1.1.1.1', port: 53, family: 'udp4' });
  assert.deepEqual(parseDnsServer('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353, family: 'udp4' });
  assert.deepEqual(parseDnsServer('[::1]:5353'), { address: '::1', port: 5353, family: 'udp6' });
  assert.deepEqual(parseDnsServer('fe80::1%eth0'), { address: 'fe80::1', port: 53, family: 'udp6' });
  assert.equal(parseDnsServer('dns.example'), null);
  assert.equal(parseDnsServer('1.2.3.4:0'), null);
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-resolv-'));
  const path = join(dir, 'resolv.conf');
  writeFileSync(path, '# comment\nsearch example\nnameserver 10.1.1.1\n  nameserver ::1\noptions ndots:1\n');
  assert.deepEqual(resolvConfServers(path), ['10.1.1.1', '::1']);
  assert.deepEqual(resolvConfServers(join(dir, 'missing')), []);
});
