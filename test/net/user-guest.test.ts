/**
 * SLOW (boots Linux, ~10-20 s): the user network against a real Linux TCP/IP stack. The default
 * guest runs in-process on a virt board whose virtio-net NIC is attached to the `user` backend on
 * the Node host; busybox in the guest talks to servers this test starts on 127.0.0.1 (as 10.0.2.2),
 * and a host client reaches a guest server through a host forward.
 *
 * DHCP (busybox udhcpc) and ping are checked too when those tools run at all: they read the clock
 * through the vDSO (`rdtime` from U-mode), which has died with SIGILL on some builds of the hart;
 * the test then configures eth0 by hand and says so in a diagnostic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';

import { VirtMachine, type VirtConfig, type VirtHost } from '../../src/machine/virt.js';
import { openUserNet } from '../../src/host/user-net-host.js';

function findImages(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const d = join(dir, 'images', 'default');
    if (existsSync(join(d, 'Image.gz')) && existsSync(join(d, 'initramfs.cpio.gz'))) return d;
    dir = dirname(dir);
  }
  return null;
}

const images = findImages();

class Console {
  text = '';
  private marker = 0;
  constructor(private readonly machine: VirtMachine) {}

  async waitFor(re: RegExp, from: number, timeoutMs: number, what: string): Promise<RegExpExecArray> {
    const start = Date.now();
    for (;;) {
      const m = re.exec(this.text.slice(from));
      if (m !== null) return m;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; console:\n${this.text.slice(-3000)}`);
      await delay(20);
    }
  }

  /** Runs a shell command; returns what it printed (between the typed line and a marker). */
  async run(cmd: string, timeoutMs = 60_000): Promise<string> {
    const n = ++this.marker;
    const from = this.text.length;
    // The marker is split in the typed text so the echo of the command does not match it.
    this.machine.input(new TextEncoder().encode(`${cmd}; echo "@@DO""NE${n}@@"\n`));
    const m = await this.waitFor(new RegExp(`\\n([^]*?)@@DONE${n}@@`), from, timeoutMs, cmd);
    return m[1].replace(/\r/g, '');
  }
}

test('a Linux guest reaches host servers through the user network, and a host client reaches the guest', { skip: images === null ? 'images/default not found' : false, timeout: 300_000 }, async (t) => {
  const dir = images as string;
  const big = new Uint8Array(2 << 20);
  randomFillSync(big);
  const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

  // An echo-or-download server and an upload sink, both on 127.0.0.1.
  const server = net.createServer((c) => {
    c.once('data', (d) => {
      if (d.toString().startsWith('big')) c.end(big);
      else c.end(`echo:${d.toString()}`);
    });
  });
  let uploaded: Buffer[] = [];
  const sink = net.createServer((c) => {
    c.on('data', (d) => uploaded.push(d));
    c.on('end', () => c.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const sinkPort = (sink.address() as net.AddressInfo).port;

  // A nameserver that answers every A query with 10.0.2.2, and an HTTP server.
  const ns = dgram.createSocket('udp4');
  ns.on('message', (q, rinfo) => {
    const answer = Buffer.concat([
      q.subarray(0, 2),
      Buffer.from([0x81, 0x80, 0, 1, 0, (q[q.length - 3] === 1 ? 1 : 0), 0, 0, 0, 0]),
      q.subarray(12),
      q[q.length - 3] === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 2, 2]) : Buffer.alloc(0),
    ]);
    ns.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => ns.bind(0, '127.0.0.1', () => r()));
  const web = http.createServer((_req, res) => res.end('hello over http\n'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  const webPort = (web.address() as net.AddressInfo).port;

  const backend = await openUserNet('user,hostfwd=tcp:127.0.0.1:0-:8080', { dnsServers: [`127.0.0.1:${ns.address().port}`] });
  const [fwd] = await backend.ready;
  const config: VirtConfig = {
    memoryMiB: 256,
    cpus: 1,
    kernel: new Uint8Array(readFileSync(join(dir, 'Image.gz'))),
    initrd: new Uint8Array(readFileSync(join(dir, 'initramfs.cpio.gz'))),
    append: 'console=ttyS0',
    bios: 'builtin',
    clock: 'host',
    virtio: [{ kind: 'net', backend, mac: Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56) }, 'rng', 'console'],
  };
  let machine: VirtMachine | null = null;
  const con: { c: Console | null } = { c: null };
  const host: VirtHost = {
    monotonicMs: () => performance.now(),
    wallClockMs: () => Date.now(),
    sleep: (ms) => delay(ms),
    gunzip: (d) => new Uint8Array(gunzipSync(d)),
    consoleWrite: (b) => {
      if (con.c !== null) con.c.text += Buffer.from(b).toString('latin1');
    },
    entropy: (buf) => {
      randomFillSync(buf);
    },
  };
  machine = new VirtMachine(config, host);
  const c = new Console(machine);
  con.c = c;
  const running = machine.run();
  try {
    await c.waitFor(/~ # $/m, 0, 180_000, 'the shell prompt');

    // DHCP when the guest's udhcpc can run; a static configuration otherwise.
    await c.run(
      `mkdir -p /usr/share/udhcpc; printf '#!/bin/sh\\n[ "$1" = bound ] && ifconfig $interface $ip netmask $subnet up && route add default gw $router && echo nameserver $dns > /etc/resolv.conf\\nexit 0\\n' > /usr/share/udhcpc/default.script; chmod +x /usr/share/udhcpc/default.script`,
    );
    const dhcp = await c.run('udhcpc -i eth0 -n -q -t 5 2>&1');
    if (/Illegal instruction|unhandled signal/.test(dhcp)) {
      t.diagnostic('udhcpc cannot run in this guest (SIGILL on rdtime): DHCP not checked against Linux');
      await c.run('ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up && route add default gw 10.0.2.2 && echo nameserver 10.0.2.3 > /etc/resolv.conf');
    } else {
      assert.match(dhcp, /lease of 10\.0\.2\.15 obtained/, dhcp);
    }
    const ifc = await c.run('ifconfig eth0');
    assert.match(ifc, /inet addr:10\.0\.2\.15/, ifc);
    const ping = await c.run('ping -c 2 -W 5 10.0.2.2 2>&1');
    if (/Illegal instruction|unhandled signal/.test(ping)) t.diagnostic('ping cannot run in this guest (SIGILL on rdtime)');
    else assert.match(ping, /2 packets received/, ping);

    // DNS through the relay (UDP), then HTTP by name.
    const lookup = await c.run('nslookup www.example.test 2>&1');
    assert.match(lookup, /Address:\s*10\.0\.2\.2\b/, lookup);
    const page = await c.run(`wget -q -O - http://www.example.test:${webPort}/ 2>&1`);
    assert.equal(page.trim(), 'hello over http');

    // TCP from the guest: a short exchange, a 2 MiB download and a 2 MiB upload.
    assert.equal((await c.run(`echo hello | nc 10.0.2.2 ${port}`)).trim(), 'echo:hello');
    const down = await c.run(`echo big | nc 10.0.2.2 ${port} > /tmp/big; md5sum /tmp/big`);
    assert.match(down, new RegExp(`^${md5(big)}\\s+/tmp/big`, 'm'), down);
    uploaded = [];
    await c.run(`nc 10.0.2.2 ${sinkPort} < /tmp/big`);
    const up = Buffer.concat(uploaded);
    assert.equal(up.length, big.length);
    assert.equal(md5(up), md5(big));

    // A host client through the forward to a guest server.
    const from = c.text.length;
    machine.input(new TextEncoder().encode(`echo 'hello from the guest' | nc -l -p 8080\n`));
    await c.waitFor(/-p 8080\r?\n/, from, 10_000, 'the listener command');
    await delay(500);
    const got = await new Promise<string>((resolve, reject) => {
      const client = net.connect(fwd.hostPort, '127.0.0.1');
      let s = '';
      client.on('data', (d) => (s += d.toString()));
      client.on('end', () => {
        client.end();
        resolve(s);
      });
      client.on('error', reject);
    });
    assert.equal(got, 'hello from the guest\n');
    await c.waitFor(/~ # $/, from, 10_000, 'the prompt after nc');

    const s = backend.stats;
    assert.equal(s.internalErrors, 0);
    assert.equal(s.malformed + s.badChecksum + s.badTcpFlags, 0, 'Linux sends only well-formed frames');
    assert.ok(s.tcpConnections >= 4);
  } finally {
    machine.stop();
    await running;
    backend.close();
    server.close();
    sink.close();
    web.close();
    ns.close();
  }
});
