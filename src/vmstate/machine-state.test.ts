/**
 * Whole-machine snapshots of a real `virt` board running the default guest: save, restore into a
 * second board, run both for the same instructions and compare harts, devices and RAM bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

import { VirtMachine, type VirtConfig } from '../machine/virt.js';
import { repoRoot } from '../../test/support/repo-root.js';
import { deterministicHost } from '../../test/support/deterministic-host.js';
import { quiesceMachine, restoreMachine, restoreMachineFromFile, saveMachine } from './machine-state.js';
import { machineState, ramImage, snapshottable, stepMachine as step } from './machine-test-support.js';
import { parseSnapshot, readSnapshot, SnapshotError, writeSnapshot, type SnapshotCompression } from './snapshot.js';

const zlib: SnapshotCompression = {
  deflate: (d) => deflateRawSync(d, { level: 1 }),
  inflate: (d, n) => inflateRawSync(d, { maxOutputLength: n }),
};

const root = repoRoot(import.meta.url);
const KERNEL = readFileSync(join(root, 'images', 'default', 'Image.gz'));
const INITRD = readFileSync(join(root, 'images', 'default', 'initramfs.cpio.gz'));

function config(overrides: Partial<VirtConfig> = {}): VirtConfig {
  return {
    memoryMiB: 256, cpus: 1, kernel: KERNEL, initrd: INITRD, append: 'console=ttyS0', bios: 'builtin',
    clock: 'virtual', virtio: ['rng', 'console'], ...overrides,
  };
}


function assertSameMachine(a: VirtMachine, b: VirtMachine, when: string): void {
  assert.deepEqual(machineState(b), machineState(a), `machine state differs ${when}`);
  const ra = Buffer.from(ramImage(a));
  const rb = Buffer.from(ramImage(b));
  if (!ra.equals(rb)) {
    let first = 0;
    while (ra[first] === rb[first]) first++;
    assert.fail(`RAM differs ${when}, first at arena offset 0x${first.toString(16)}`);
  }
}

/** Console output the board has buffered: stop() then run() returns at once, flushing it. */
async function flushConsole(m: VirtMachine): Promise<void> {
  m.stop();
  await m.run();
}

test('snapshot during boot, restore into a second board: both run on identically', () => {
  const hostA = deterministicHost();
  const a = new VirtMachine(config(), hostA);
  step(a, 1500); // 30 M instructions: well into the kernel's start
  const input = saveMachine(snapshottable(a));
  const file = writeSnapshot(input, zlib);

  const b = new VirtMachine(config(), deterministicHost());
  step(b, 10); // the target has run a little: everything must be overwritten
  restoreMachineFromFile(snapshottable(b), file, zlib);
  assertSameMachine(a, b, 'right after the restore');

  step(a, 1500);
  step(b, 1500);
  assertSameMachine(a, b, 'after 1500 more slices each');
});

test('restore from an in-memory snapshot (readSnapshot) works the same', () => {
  const a = new VirtMachine(config(), deterministicHost());
  step(a, 500);
  const snap = readSnapshot(writeSnapshot(saveMachine(snapshottable(a)), zlib), zlib);
  const b = new VirtMachine(config(), deterministicHost());
  restoreMachine(snapshottable(b), snap);
  step(a, 500);
  step(b, 500);
  assertSameMachine(a, b, 'after 500 slices each');
});

test('a snapshot is refused by a machine of another configuration, which stays untouched', () => {
  const a = new VirtMachine(config(), deterministicHost());
  step(a, 50);
  const file = writeSnapshot(saveMachine(snapshottable(a)), zlib);
  const cases: [Partial<VirtConfig>, RegExp][] = [
    [{ memoryMiB: 128 }, /256 MiB of memory \(this machine has 128 MiB\)/],
    [{ cpus: 2 }, /1 CPUs \(this machine has 2\)/],
    [{ virtio: ['rng'] }, /virtio devices rng,console \(this machine has rng\)/],
  ];
  for (const [overrides, message] of cases) {
    const other = new VirtMachine(config(overrides), deterministicHost());
    const before = Buffer.from(ramImage(other));
    const stateBefore = machineState(other);
    let caught: unknown;
    try {
      restoreMachineFromFile(snapshottable(other), file, zlib);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof SnapshotError && caught.code === 'ECONFIG', String(caught));
    assert.match(caught.message, message);
    assert.ok(Buffer.from(ramImage(other)).equals(before), 'RAM was touched');
    assert.deepEqual(machineState(other), stateBefore);
  }
});

test('bad component states are refused before the machine is touched', () => {
  const a = new VirtMachine(config(), deterministicHost());
  step(a, 50);
  const input = saveMachine(snapshottable(a));
  const edit = (f: (sections: { name: string; version: number; data: unknown }[]) => void): Uint8Array => {
    const sections = structuredClone(input.sections.map((s) => ({ ...s })));
    f(sections);
    return writeSnapshot({ ...input, sections }, zlib);
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['missing cpu', edit((s) => s.splice(s.findIndex((x) => x.name === 'cpu.0'), 1)), /no state for 'cpu\.0'/],
    ['unknown section', edit((s) => s.push({ name: 'gpu', version: 1, data: {} })), /'gpu', which this machine does not have/],
    ['newer section', edit((s) => { (s.find((x) => x.name === 'uart') as { version: number }).version = 2; }), /'uart' state is version 2/],
    ['bad pc', edit((s) => { ((s.find((x) => x.name === 'cpu.0') as { data: { hart: { pc: string } } }).data.hart.pc = 'x'); }), /'cpu\.0' state is refused/],
    ['bad plic', edit((s) => { ((s.find((x) => x.name === 'plic') as { data: { priority: number[] } }).data.priority[3] = 99); }), /'plic' state is refused/],
    ['bad board', edit((s) => { ((s.find((x) => x.name === 'board') as { data: { mtime: string } }).data.mtime = '-1'); }), /board state is invalid/],
  ];
  const b = new VirtMachine(config(), deterministicHost());
  const before = Buffer.from(ramImage(b));
  const stateBefore = machineState(b);
  for (const [what, file, message] of cases) {
    let caught: unknown;
    try {
      restoreMachineFromFile(snapshottable(b), file, zlib);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof SnapshotError && caught.code === 'ESTATE', `${what}: ${String(caught)}`);
    assert.match(caught.message, message, what);
  }
  assert.ok(Buffer.from(ramImage(b)).equals(before), 'RAM was touched');
  assert.deepEqual(machineState(b), stateBefore);
});

test('idle guest at its shell prompt: small snapshot, fast restore, and both copies answer the same', { timeout: 300_000 }, async (t) => {
  const hostA = deterministicHost();
  const a = new VirtMachine(config(), hostA);
  const running = a.run();
  const t0 = performance.now();
  while (!hostA.output().includes('~ # ')) {
    if (performance.now() - t0 > 240_000) assert.fail(`no shell prompt; console:\n${hostA.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  a.stop();
  assert.equal((await running).kind, 'stopped');

  const sa = snapshottable(a);
  await quiesceMachine(sa);
  const t1 = performance.now();
  const file = writeSnapshot(saveMachine(sa), zlib);
  const saveMs = performance.now() - t1;

  const hostB = deterministicHost();
  const b = new VirtMachine(config(), hostB);
  const t2 = performance.now();
  const parsed = restoreMachineFromFile(snapshottable(b), file, zlib);
  const restoreMs = performance.now() - t2;
  const present = parsed.ram.reduce((n, r) => n + r.presentPages, 0);
  t.diagnostic(`idle 256 MiB guest: snapshot ${(file.length / 1048576).toFixed(2)} MiB (${(present / 256).toFixed(1)} MiB of non-zero pages), save ${saveMs.toFixed(0)} ms, restore ${restoreMs.toFixed(0)} ms`);
  assert.ok(file.length < 40 * 1048576, `snapshot is ${file.length} bytes`);
  // Restore time is a figure for `npm run bench` (bench/snapshot.ts), not a test assertion.
  assert.equal(parseSnapshot(file).fileLength, file.length);
  assertSameMachine(a, b, 'right after the restore');

  // Type the same command into both and let them run.
  const command = Array.from('echo snap-$((6*7))\n', (c) => c.charCodeAt(0));
  const outA = hostA.output().length;
  step(a, 400, [...command]);
  step(b, 400, [...command]);
  assertSameMachine(a, b, 'after typing a command into both');
  await flushConsole(a);
  await flushConsole(b);
  const newA = hostA.output().slice(outA);
  assert.match(newA, /snap-42/);
  assert.equal(hostB.output(), newA);
});
