/**
 * SMP on the virt board: four harts running M-mode firmware (smp_atomics.S) hammer two shared
 * counters with amoadd.w and with lr.w/sc.w loops while the machine switches harts every slice,
 * then hart 0 sends IPIs through the CLINT and waits for every hart to acknowledge. The program
 * passes on QEMU (`qemu-system-riscv64 -M virt -smp 4 -bios smp_atomics.bin`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { VirtMachine } from '../../src/machine/virt.js';
import { repoRoot } from '../support/repo-root.js';

const root = repoRoot(import.meta.url);

async function runFirmware(cpus: number, clock: 'host' | 'virtual'): Promise<{ kind: string; code?: number }> {
  const data = new Uint8Array(readFileSync(join(root, 'test', 'smp', 'smp_atomics.bin')));
  const machine = new VirtMachine(
    { memoryMiB: 64, cpus, bios: { name: 'smp_atomics.bin', data }, clock, virtio: [] },
    {
      monotonicMs: () => performance.now(),
      wallClockMs: () => Date.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      gunzip: (d) => new Uint8Array(gunzipSync(d)),
      consoleWrite: () => {},
      entropy: (b) => b.fill(0),
    },
  );
  const timer = setTimeout(() => machine.stop(), 60_000);
  try {
    return await machine.run();
  } finally {
    clearTimeout(timer);
  }
}

test('four harts: atomics, LR/SC and IPIs are correct across hart switches', async () => {
  const r = await runFirmware(4, 'host');
  assert.deepEqual(r, { kind: 'poweroff', code: 0 }, `firmware reported ${JSON.stringify(r)}`);
});

test('the same with the virtual clock', async () => {
  const r = await runFirmware(4, 'virtual');
  assert.deepEqual(r, { kind: 'poweroff', code: 0 }, `firmware reported ${JSON.stringify(r)}`);
});
