/**
 * SLOW END-TO-END TESTS (each boots Linux in `tsvm run` with a virtio-net NIC).
 *
 * The `user` network (NAT written here): the guest's udhcpc gets 10.0.2.15 with the gateway and
 * DNS server; `wget` in the guest fetches a page from an HTTP server on the host's 127.0.0.1
 * (reached as 10.0.2.2); a host client reaches the guest's busybox httpd through a port forward.
 * A socket link: two tsvm processes joined by a unix socket ping each other and move 10 MiB with nc.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

import { BOOT_TIMEOUT_MS, Guest } from './guest.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
  });
}

async function start(t: TestContext, args: string[]): Promise<Guest> {
  const g = Guest.start(['--memory', '128', ...args]);
  t.after(() => g.kill());
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  return g;
}

/**
 * Waits until udhcpc has configured eth0 (it runs in the background from /init). Its script
 * applies a lease in steps - the address, the default route, then /etc/resolv.conf - so this waits
 * for the last one: with the address alone, a check of the route could run between the steps.
 */
async function waitForLease(g: Guest): Promise<string> {
  for (let i = 0; i < 30; i++) {
    // (Kernel messages may interleave with the output: take the line that is an address.)
    const out = await g.run(
      "grep -q '^nameserver' /etc/resolv.conf 2>/dev/null && ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.]*\\).*/\\1/p'");
    const addr = out.split('\n').find((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
    if (addr !== undefined) return addr;
    await g.run('sleep 1');
  }
  throw new Error(g.describe('eth0 got no DHCP lease'));
}

test('user network: DHCP lease, wget from the host through the NAT, a port forward into the guest',
  { timeout: 300_000 }, async (t) => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from the host, you asked for ${req.url}\n`);
    });
    const port = await listen(server);
    t.after(() => server.close());
    const fwdServer = createServer();
    const fwdPort = await listen(fwdServer); // find a free port, then free it for tsvm
    await new Promise<void>((r) => fwdServer.close(() => r()));

    const g = await start(t, ['--net', `user,hostfwd=tcp:127.0.0.1:${fwdPort}-:80`]);
    assert.equal(await waitForLease(g), '10.0.2.15');
    assert.match(await g.run('ip route'), /^default via 10\.0\.2\.2 dev eth0/m);
    assert.match(await g.run('cat /etc/resolv.conf'), /nameserver 10\.0\.2\.3/);
    const page = await g.run(`wget -q -O - http://10.0.2.2:${port}/from-guest`);
    assert.equal(page, 'hello from the host, you asked for /from-guest');

    await g.run('mkdir -p /www && echo served-by-the-guest > /www/index.html && httpd -p 80 -h /www');
    const r = await httpGet(fwdPort, '/index.html');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'served-by-the-guest\n');
    assert.equal((await g.poweroff()).code, 0);
  });

test('two tsvm processes on a socket link ping each other and move 10 MiB with nc',
  { timeout: 300_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvm-link-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'link.sock');
    const a = await start(t, ['--net', `socket,listen=unix:${sock},mac=52:54:00:00:00:0a`]);
    const b = await start(t, ['--net', `socket,connect=unix:${sock},mac=52:54:00:00:00:0b`]);
    // No DHCP server on a bare link: static addresses (stop the background udhcpc first).
    for (const [g, ip] of [[a, '192.168.77.1'], [b, '192.168.77.2']] as const) {
      await g.run(`killall udhcpc 2>/dev/null; ip addr flush dev eth0; ip addr add ${ip}/24 dev eth0; ip link set eth0 up`);
    }
    assert.match(await a.run('ping -c 3 -W 5 192.168.77.2'), /3 packets received/);
    assert.match(await b.run('ping -c 2 -W 5 192.168.77.1'), /2 packets received/);

    await a.run('dd if=/dev/urandom of=/tmp/blob bs=64k count=160 2>/dev/null');
    const sent = (await a.run('md5sum /tmp/blob')).split(/\s+/)[0];
    await b.run('( nc -l -p 5000 > /tmp/recv 2>/dev/null & )');
    await b.run('sleep 1');
    await a.run('nc -w 5 192.168.77.2 5000 < /tmp/blob', 120_000);
    let received = '';
    for (let i = 0; i < 60 && received !== sent; i++) {
      received = (await b.run('md5sum /tmp/recv')).split(/\s+/)[0];
      if (received !== sent) await b.run('sleep 1');
    }
    assert.equal(received, sent, 'the file arrived intact');
    assert.equal((await a.poweroff()).code, 0);
    assert.equal((await b.poweroff()).code, 0);
  });
