import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NetSwitch, type NetSwitchPort } from '../net/switch.js';
import { LinkError, encodeFrame, type LinkAddress } from '../net/link.js';
import { connectLink, listenLink, type SocketLink } from './net-socket.js';

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const mac = (n: number): number[] => [0x52, 0x54, 0, 0, 0, n];

function frame(dst: number[], src: number[], payload = 46): Uint8Array {
  const f = new Uint8Array(14 + payload);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  for (let i = 0; i < payload; i++) f[14 + i] = (i + src[5]) & 0xff;
  return f;
}

function station(sw: NetSwitch): { port: NetSwitchPort; got: Uint8Array[] } {
  const port = sw.createPort();
  const got: Uint8Array[] = [];
  port.setReceiver((f) => got.push(new Uint8Array(f)));
  return { port, got };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function rawConnect(address: LinkAddress): Promise<Socket> {
  const s = 'unix' in address ? netConnect(address.unix) : netConnect(address.port, address.host);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Two switches in this process, joined by a socket link; stations a1, a2 on one side, b on the other. */
async function joinedSwitches(listenAt: LinkAddress): Promise<{
  a1: ReturnType<typeof station>;
  a2: ReturnType<typeof station>;
  b: ReturnType<typeof station>;
  swA: NetSwitch;
  swB: NetSwitch;
  server: SocketLink;
  client: SocketLink;
}> {
  const swA = new NetSwitch();
  const swB = new NetSwitch();
  const server = await listenLink(listenAt);
  const client = await connectLink(server.address);
  await server.waitConnected();
  swA.connect(server);
  swB.connect(client);
  return { a1: station(swA), a2: station(swA), b: station(swB), swA, swB, server, client };
}

async function crossBothWays(listenAt: LinkAddress): Promise<void> {
  const { a1, a2, b, swA, swB, server, client } = await joinedSwitches(listenAt);
  try {
    // A → B: broadcast crosses.
    const hello = frame(BCAST, mac(1));
    a1.port.send(hello);
    assert.equal(a2.got.length, 1, 'local flood is synchronous');
    await waitFor(() => b.got.length === 1, 'the broadcast on the far side');
    assert.deepEqual(b.got[0], hello);
    // B → A: unicast to a1, learned across the link on swB; on swA it goes to a1 only.
    const reply = frame(mac(1), mac(2), 1400);
    b.port.send(reply);
    await waitFor(() => a1.got.length === 1, 'the reply');
    assert.deepEqual(a1.got[0], reply);
    assert.equal(a2.got.length, 1, 'a2 did not get unicast for a1');
    assert.equal(swB.macTable().get('52:54:00:00:00:01'), 0, 'swB learned mac 1 behind its link port');
    assert.ok(swA.macTable().has('52:54:00:00:00:02'), 'swA learned mac 2 behind its link port');
    // A → B unicast now goes straight to the link port (no flood to a2).
    const big = frame(mac(2), mac(1), 9000);
    a1.port.send(big);
    await waitFor(() => b.got.length === 2, 'a unicast jumbo frame');
    assert.deepEqual(b.got[1], big);
    assert.equal(a2.got.length, 1);
    // Many frames in a burst arrive complete and in order.
    for (let i = 0; i < 200; i++) a1.port.send(frame(mac(2), mac(1), 40 + i));
    await waitFor(() => b.got.length === 202, 'a burst of 200 frames');
    for (let i = 0; i < 200; i++) assert.equal(b.got[2 + i].length, 14 + 40 + i);
    assert.equal(server.stats.framesOut, 202);
    assert.equal(client.stats.framesIn, 202);
    assert.equal(client.stats.framesOut, 1);
  } finally {
    client.close();
    await server.closeAndWait();
  }
}

test('socket link: two switches joined over a unix socket exchange frames both ways, learning across', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-net-'));
  try {
    const path = join(dir, 'link.sock');
    await crossBothWays({ unix: path });
    assert.equal(existsSync(path), false, 'the socket file is removed on close');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('socket link: two switches joined over TCP on 127.0.0.1 exchange frames both ways, learning across', async () => {
  await crossBothWays({ host: '127.0.0.1', port: 0 });
});

test('socket link: a malformed length closes the link without throwing; the listener takes a new peer', async () => {
  const server = await listenLink({ host: '127.0.0.1', port: 0 });
  const events: string[] = [];
  const sw = new NetSwitch();
  sw.connect(server);
  const local = station(sw);
  try {
    const raw = await rawConnect(server.address);
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.on('error', () => {});
    await server.waitConnected();
    // One good frame, then garbage claiming a 2 GiB frame.
    raw.write(encodeFrame(frame(BCAST, mac(7))));
    raw.write(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 0, 0, 0));
    await closed;
    assert.equal(local.got.length, 1);
    assert.equal(server.connected, false);
    assert.ok(server.lastError instanceof LinkError);
    assert.equal(server.lastError.code, 'EFRAMELEN');
    assert.equal(server.stats.protocolErrors, 1);
    events.push('closed');
    // A well-behaved peer can connect afterwards.
    const client = await connectLink(server.address);
    await server.waitConnected();
    const got: Uint8Array[] = [];
    client.setReceiver((f) => got.push(new Uint8Array(f)));
    local.port.send(frame(BCAST, mac(8)));
    await waitFor(() => got.length === 1, 'a frame to the new peer');
    client.close();
  } finally {
    await server.closeAndWait();
  }
  assert.deepEqual(events, ['closed']);
});

test('socket link: a second peer is refused while one is connected; frames without a peer are dropped', async () => {
  const server = await listenLink({ host: '127.0.0.1', port: 0 });
  try {
    server.send(frame(BCAST, mac(1)));
    assert.equal(server.stats.dropped, 1);
    const first = await connectLink(server.address);
    await server.waitConnected();
    const second = await rawConnect(server.address);
    second.on('error', () => {});
    await new Promise<void>((r) => second.once('close', () => r()));
    assert.equal(server.connected, true, 'the first peer is unaffected');
    const got: Uint8Array[] = [];
    first.setReceiver((f) => got.push(new Uint8Array(f)));
    server.send(frame(BCAST, mac(2)));
    await waitFor(() => got.length === 1, 'the frame to the first peer');
    // The peer leaving is noticed.
    first.close();
    await waitFor(() => !server.connected, 'the server to notice the peer left');
  } finally {
    await server.closeAndWait();
  }
});

test('socket link: connecting to nothing and listening on a taken address fail with typed errors', async () => {
  const server = await listenLink({ host: '127.0.0.1', port: 0 });
  const port = 'port' in server.address ? server.address.port : 0;
  await server.closeAndWait();
  await assert.rejects(connectLink({ host: '127.0.0.1', port }), (e: unknown) => e instanceof LinkError && e.code === 'ECONNECT');
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-net-'));
  try {
    const path = join(dir, 'x.sock');
    const a = await listenLink({ unix: path });
    await assert.rejects(listenLink({ unix: path }), (e: unknown) => e instanceof LinkError && e.code === 'ELISTEN');
    await a.closeAndWait();
    await assert.rejects(connectLink({ unix: path }), (e: unknown) => e instanceof LinkError && e.code === 'ECONNECT');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
