/**
 * SLOW END-TO-END TEST (boots two Linux guests in this process, about 20 s).
 *
 * Two VMs on one in-process L2 switch (`--net switch=NAME` within a process): the machines run
 * side by side in one event loop, each NIC on a port of the same NetSwitch; the guests ping each
 * other and move 10 MiB with nc, and the MAC table learned both stations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { randomFillSync } from 'node:crypto';

import { VirtMachine } from '../../src/machine/virt.js';
import { NetSwitch } from '../../src/net/switch.js';
import { repoRoot } from '../support/repo-root.js';

const root = repoRoot(import.meta.url);
const kernel = new Uint8Array(readFileSync(join(root, 'images', 'default', 'Image.gz')));
const initrd = new Uint8Array(readFileSync(join(root, 'images', 'default', 'initramfs.cpio.gz')));

class Console {
  text = '';
  private waiters: { re: RegExp; resolve: () => void }[] = [];
  write(bytes: Uint8Array): void {
    this.text += new TextDecoder().decode(bytes);
    this.waiters = this.waiters.filter((w) => {
      if (!w.re.test(this.text)) return true;
      w.resolve();
      return false;
    });
  }
  waitFor(re: RegExp, ms: number, what: string): Promise<void> {
    if (re.test(this.text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output tail:\n${this.text.slice(-1500)}`)), ms);
      this.waiters.push({ re, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }
}

function machine(sw: NetSwitch, mac: number[], out: Console): VirtMachine {
  return new VirtMachine({
    memoryMiB: 128, cpus: 1, bios: 'builtin', kernel, initrd, append: 'console=ttyS0', clock: 'host',
    virtio: [{ kind: 'net', backend: sw.createPort(), mac: Uint8Array.from(mac) }, 'rng', 'console'],
  }, {
    monotonicMs: () => performance.now(),
    wallClockMs: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    gunzip: (d) => new Uint8Array(gunzipSync(d)),
    consoleWrite: (b) => out.write(b),
    entropy: (b) => { randomFillSync(b); },
  });
}

let marker = 0;
/** Types a command and waits until it printed its end marker; returns the output before it. */
async function run(m: VirtMachine, c: Console, cmd: string, ms = 60_000): Promise<string> {
  const n = ++marker;
  const from = c.text.length;
  m.input(new TextEncoder().encode(`${cmd}; echo __E''${n}__\n`));
  await c.waitFor(new RegExp(`^__E${n}__$`, 'm'), ms, `the end of '${cmd}'`);
  const body = c.text.slice(from);
  return body.slice(0, body.search(new RegExp(`^__E${n}__$`, 'm')));
}

test('two VMs on one in-process switch ping each other and move 10 MiB with nc', { timeout: 300_000 }, async () => {
  const sw = new NetSwitch();
  const ca = new Console();
  const cb = new Console();
  const a = machine(sw, [0x52, 0x54, 0, 0, 0x01, 0x0a], ca);
  const b = machine(sw, [0x52, 0x54, 0, 0, 0x01, 0x0b], cb);
  const runs = Promise.all([a.run(), b.run()]);
  try {
    await Promise.all([ca.waitFor(/~ # $/m, 120_000, 'the prompt of VM a'), cb.waitFor(/~ # $/m, 120_000, 'the prompt of VM b')]);
    await run(a, ca, 'killall udhcpc 2>/dev/null; ip addr add 192.168.88.1/24 dev eth0; ip link set eth0 up');
    await run(b, cb, 'killall udhcpc 2>/dev/null; ip addr add 192.168.88.2/24 dev eth0; ip link set eth0 up');
    assert.match(await run(a, ca, 'ping -c 3 -W 5 192.168.88.2'), /3 packets received/);
    assert.match(await run(b, cb, 'ping -c 2 -W 5 192.168.88.1'), /2 packets received/);
    await run(a, ca, 'dd if=/dev/urandom of=/tmp/blob bs=64k count=160 2>/dev/null');
    const sent = (await run(a, ca, 'md5sum /tmp/blob')).trim().split('\n').pop()?.split(/\s+/)[0];
    await run(b, cb, '( nc -l -p 5000 > /tmp/recv 2>/dev/null & )');
    await run(b, cb, 'sleep 1');
    await run(a, ca, 'nc -w 5 192.168.88.2 5000 < /tmp/blob', 120_000);
    let got: string | undefined;
    for (let i = 0; i < 30 && got !== sent; i++) {
      got = (await run(b, cb, 'md5sum /tmp/recv')).trim().split('\n').pop()?.split(/\s+/)[0];
      if (got !== sent) await run(b, cb, 'sleep 1');
    }
    assert.equal(got, sent, 'the file arrived intact');
    assert.ok(sw.macTable().size >= 2, 'the switch learned both stations');
  } finally {
    a.stop();
    b.stop();
    await runs;
  }
});
