/**
 * Network throughput (issue 6), two parts, each tsvm next to QEMU (TCG) with the same kernel and
 * initramfs in the same run; the measurements alternate between them (tsvm, QEMU, tsvm, ...) so
 * that a change in the machine's load hits both.
 *
 * 1. Guest -> host TCP through the user-mode NAT: a TCP sink on the host's 127.0.0.1 (a node:net
 *    server counting bytes); in the guest (eth0 configured by udhcpc: 10.0.2.15)
 *    `dd if=/dev/zero bs=64k count=N | nc 10.0.2.2 PORT`. Throughput is measured on the host: the
 *    bytes received divided by the time from accepting the connection to its end. tsvm:
 *    `--net user`; QEMU: `-netdev user,id=n0 -device virtio-net-device,netdev=n0` (slirp).
 * 2. Guest -> guest TCP over a point-to-point link between two VM processes (static addresses
 *    192.168.77.1/.2, no DHCP): tsvm `--net socket,listen=unix:PATH` / `--net socket,connect=unix:PATH`;
 *    QEMU `-netdev socket,listen=127.0.0.1:PORT` / `-netdev socket,connect=127.0.0.1:PORT`. The
 *    receiving guest runs `nc -l -p 5000 | dd of=/dev/null`; the sending guest times
 *    `dd if=/dev/zero bs=64k count=N | nc PEER 5000` with busybox `time`; the receiver's dd
 *    confirms every byte arrived.
 *
 * The ratios are what matter (the machine is shared and noisy). Issue 6 asks for the figures side
 * by side and sets no target; our own goal is the user NAT's guest -> host throughput within 2x of
 * QEMU's slirp (tsvm/QEMU >= 0.5), as issue 4 asks of disks. Exit status 0 with the figures whether
 * or not the goal is met; 1 if a VM fails to boot or a transfer fails.
 */
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

import {
  Guest, QEMU, Scratch, errorText, figures, flatKernel, haveQemu, max, median, parseDd, parseTime, ready, startQemu, startTsvm, stop,
  withTimeout,
} from './support.js';

const ROUNDS = 3;
/** 64 KiB blocks sent per transfer: 16 MiB. */
const BLOCKS = 256;
const BYTES = BLOCKS * 65536;
const TARGET_RATIO = 0.5;
const TRANSFER_TIMEOUT_MS = 120_000;
const LINK_PORT = 5000;

type Vm = 'tsvm' | 'qemu';
const NAME: Record<Vm, string> = { tsvm: 'tsvm', qemu: 'QEMU' };

/** A TCP sink on 127.0.0.1: each connection's byte count and duration (accept to end). */
class Sink {
  readonly server: Server;
  private waiting: ((r: { bytes: number; seconds: number }) => void)[] = [];

  constructor() {
    this.server = createServer((socket) => {
      const start = performance.now();
      let bytes = 0;
      socket.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        const resolve = this.waiting.shift();
        resolve?.({ bytes, seconds: (performance.now() - start) / 1000 });
      });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    return (this.server.address() as AddressInfo).port;
  }

  /** Resolves when the next connection closes. */
  next(): Promise<{ bytes: number; seconds: number }> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits until udhcpc has configured eth0 (it runs in the background from /init). */
async function waitForLease(g: Guest): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const addr = await g.run("ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.]*\\).*/\\1/p'");
    if (addr !== '') return addr;
    await g.run('usleep 500000');
  }
  throw new Error(g.describe('eth0 got no DHCP lease'));
}

/** One guest -> host transfer through the NAT; MiB/s as the host sink saw it. */
async function natTransfer(g: Guest, sink: Sink, port: number): Promise<number> {
  const received = sink.next();
  await g.run(`dd if=/dev/zero bs=64k count=${BLOCKS} 2>/dev/null | nc 10.0.2.2 ${port}`, TRANSFER_TIMEOUT_MS);
  const r = await withTimeout(received, 30_000, 'the host sink waiting for the end of the transfer');
  if (r.bytes !== BYTES) throw new Error(g.describe(`the host received ${r.bytes} bytes of ${BYTES}`));
  return r.bytes / (1 << 20) / r.seconds;
}

/** Static address on a link with no DHCP server (stops the background udhcpc first). */
async function staticAddress(g: Guest, ip: string): Promise<void> {
  await g.run(`killall udhcpc 2>/dev/null; ip addr flush dev eth0; ip addr add ${ip}/24 dev eth0; ip link set eth0 up`);
}

/** One transfer from `tx` to `rx` over the link; MiB/s from the sender's `time`. */
async function linkTransfer(tx: Guest, rx: Guest, rxIp: string): Promise<number> {
  await rx.run(`rm -f /tmp/rx; ( nc -l -p ${LINK_PORT} | dd of=/dev/null bs=64k 2>/tmp/rx & ); ` +
    `i=0; while [ $i -lt 50 ] && ! netstat -ltn 2>/dev/null | grep -q ':${LINK_PORT} '; do usleep 100000; i=$((i+1)); done`);
  const out = await tx.run(`time sh -c 'dd if=/dev/zero bs=64k count=${BLOCKS} 2>/dev/null | nc ${rxIp} ${LINK_PORT}' 2>&1`, TRANSFER_TIMEOUT_MS);
  const seconds = parseTime(out);
  let summary = '';
  for (let i = 0; i < 100 && !/bytes \(/.test(summary); i++) {
    summary = await rx.run('cat /tmp/rx 2>/dev/null');
    if (!/bytes \(/.test(summary)) await delay(100);
  }
  const { bytes } = parseDd(summary);
  if (bytes !== BYTES) throw new Error(rx.describe(`the receiving guest got ${bytes} bytes of ${BYTES}`));
  return bytes / (1 << 20) / Math.max(seconds, 0.01);
}

/** Polls until `path` exists (a listening unix socket). */
async function waitForFile(path: string, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!existsSync(path)) {
    if (performance.now() > until) throw new Error(`${path} did not appear within ${ms / 1000} s`);
    await delay(50);
  }
}

/** A free TCP port on 127.0.0.1 (found by listening on port 0, then freed). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function report(title: string, results: Record<Vm, number[]>, withQemu: boolean): number | undefined {
  console.log(`${title}:`);
  console.log(`  tsvm: ${results.tsvm.length > 0 ? figures(results.tsvm, 'MiB/s', 'max', 2) : 'no figure'}`);
  if (!withQemu) return undefined;
  console.log(`  QEMU: ${results.qemu.length > 0 ? figures(results.qemu, 'MiB/s', 'max', 2) : 'no figure'}`);
  if (results.tsvm.length === 0 || results.qemu.length === 0) return undefined;
  // Judged on the best runs (as bench/boot.ts): the figure least disturbed by other work.
  const ratio = max(results.tsvm) / max(results.qemu);
  console.log(`  ratio tsvm/QEMU: ${ratio.toFixed(2)}x (bests), ${(median(results.tsvm) / median(results.qemu)).toFixed(2)}x (medians)`);
  return ratio;
}

export async function main(): Promise<number> {
  const withQemu = haveQemu();
  const vms: Vm[] = withQemu ? ['tsvm', 'qemu'] : ['tsvm'];
  const scratch = new Scratch('net');
  const nat: Record<Vm, number[]> = { tsvm: [], qemu: [] };
  const link: Record<Vm, number[]> = { tsvm: [], qemu: [] };
  let failed = false;
  const running: Guest[] = [];
  const stopAll = async (): Promise<void> => {
    await withTimeout(Promise.all(running.splice(0).map((g) => stop(g))), 30_000, 'stopping the VMs').catch(() => {});
  };
  const sink = new Sink();
  try {
    const kernel = withQemu ? flatKernel(scratch) : '';
    // Part 1: guest -> host through the NAT.
    const port = await sink.listen();
    const natVm: Partial<Record<Vm, Guest>> = {};
    natVm.tsvm = startTsvm(['--net', 'user']);
    running.push(natVm.tsvm);
    if (withQemu) {
      natVm.qemu = startQemu(kernel, ['-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0']);
      running.push(natVm.qemu);
    }
    await Promise.all(vms.map(async (vm) => {
      const g = await ready(natVm[vm] as Guest);
      const addr = await waitForLease(g);
      if (addr !== '10.0.2.15') throw new Error(g.describe(`eth0 got ${addr}, not 10.0.2.15`));
    }));
    for (const vm of vms) await natTransfer(natVm[vm] as Guest, sink, port); // warm-up (ARP, caches)
    for (let round = 0; round < ROUNDS; round++) {
      for (const vm of vms) nat[vm].push(await natTransfer(natVm[vm] as Guest, sink, port));
    }
    await stopAll();

    // Part 2: guest -> guest over a link between two VM processes.
    const sock = scratch.path('link.sock');
    const qemuPort = withQemu ? await freePort() : 0;
    const rxVm: Partial<Record<Vm, Guest>> = {};
    const txVm: Partial<Record<Vm, Guest>> = {};
    rxVm.tsvm = startTsvm(['--net', `socket,listen=unix:${sock},mac=52:54:00:00:00:0a`]);
    running.push(rxVm.tsvm);
    if (withQemu) {
      rxVm.qemu = startQemu(kernel, ['-netdev', `socket,id=n0,listen=127.0.0.1:${qemuPort}`, '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:00:00:0a']);
      running.push(rxVm.qemu);
    }
    await waitForFile(sock, 30_000);
    txVm.tsvm = startTsvm(['--net', `socket,connect=unix:${sock},mac=52:54:00:00:00:0b`]);
    running.push(txVm.tsvm);
    if (withQemu) {
      // QEMU opens its listening socket before it starts the guest: the firmware's banner is a safe sign.
      await (rxVm.qemu as Guest).waitFor(/OpenSBI|Linux version/, 60_000, 'the first output of the listening QEMU');
      txVm.qemu = startQemu(kernel, ['-netdev', `socket,id=n0,connect=127.0.0.1:${qemuPort}`, '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:00:00:0b']);
      running.push(txVm.qemu);
    }
    await Promise.all(vms.flatMap((vm) => [
      (async (): Promise<void> => staticAddress(await ready(rxVm[vm] as Guest), '192.168.77.1'))(),
      (async (): Promise<void> => staticAddress(await ready(txVm[vm] as Guest), '192.168.77.2'))(),
    ]));
    for (const vm of vms) {
      const ping = await (txVm[vm] as Guest).run('ping -c 2 -W 5 192.168.77.1');
      if (!/[12] packets received/.test(ping)) throw new Error((txVm[vm] as Guest).describe(`${NAME[vm]}: no ping over the link`));
      await linkTransfer(txVm[vm] as Guest, rxVm[vm] as Guest, '192.168.77.1'); // warm-up
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const vm of vms) link[vm].push(await linkTransfer(txVm[vm] as Guest, rxVm[vm] as Guest, '192.168.77.1'));
    }
  } catch (e) {
    failed = true;
    console.error(`network benchmark failed: ${errorText(e)}`);
  } finally {
    await stopAll();
    await sink.close();
    scratch.cleanup();
  }

  const mib = BYTES / (1 << 20);
  console.log(`net: TCP with busybox dd | nc in the default guest (1 hart, 256 MiB), virtio-net, ${mib} MiB per transfer`);
  const natRatio = report('guest -> host through the user NAT (tsvm --net user vs QEMU slirp), measured by the host sink', nat, withQemu);
  if (link.tsvm.length > 0 || link.qemu.length > 0) {
    report('guest -> guest between two VM processes (tsvm --net socket over a unix socket vs QEMU -netdev socket over TCP), ' +
      'timed by the sender', link, withQemu);
  }
  if (!withQemu) {
    console.log(`qemu-system-riscv64 (TCG): not available (${QEMU}; Debian package qemu-system-misc); no baseline in this run`);
    console.log('goal (ours; issue 6 sets none): user-NAT guest -> host throughput within 2x of QEMU -> not measured (no QEMU)');
  } else if (natRatio === undefined) {
    console.log('goal (ours; issue 6 sets none): user-NAT guest -> host throughput within 2x of QEMU -> not measured (a transfer failed)');
  } else {
    console.log(`goal (ours; issue 6 sets none): user-NAT guest -> host throughput within 2x of QEMU (tsvm/QEMU >= ${TARGET_RATIO}) -> ` +
      `${natRatio >= TARGET_RATIO ? 'met' : 'NOT met'} (${natRatio.toFixed(2)}x, best of ${ROUNDS} each)`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
