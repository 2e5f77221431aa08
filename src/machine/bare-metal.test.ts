import { repoRoot } from '../../test/support/repo-root.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

import { runBareMetal, BareMetalConfigError, type BareMetalOptions, type BareMetalResult } from './bare-metal.js';
import { ElfError } from './elf.js';

const root = repoRoot(import.meta.url);
const program = (name: string): Uint8Array => new Uint8Array(readFileSync(join(root, 'test/fixtures/bare', `${name}.elf`)));

async function run(name: string, options: Partial<BareMetalOptions> = {}): Promise<BareMetalResult & { output: string }> {
  const out: number[] = [];
  const result = await runBareMetal({
    elf: program(name),
    memoryMiB: 4,
    timeoutMs: 10_000,
    console: (b) => out.push(b),
    clock: () => performance.now(),
    sleep: (ms) => delay(ms),
    ...options,
  });
  return { ...result, output: String.fromCharCode(...out) };
}

test('a program that prints through the UART and writes 1 to tohost passes', async () => {
  const r = await run('hello');
  assert.equal(r.output, 'hi\n');
  assert.equal(r.status, 'pass');
  assert.equal(r.exitCode, 0);
  assert.equal(r.source, 'tohost');
  assert.ok(r.instructions > 10 && r.instructions < 1000, `${r.instructions} instructions`);
});

test('(3 << 1) | 1 in tohost fails with exit code 3', async () => {
  const r = await run('exit3');
  assert.equal(r.status, 'fail');
  assert.equal(r.exitCode, 3);
});

test('the riscv-tests syscall protocol: SYS_write, HTIF console, SYS_exit', async () => {
  const r = await run('syscall');
  assert.equal(r.output, 'sys\n!');
  assert.equal(r.status, 'pass');
  assert.equal(r.source, 'syscall');
});

test('the sifive,test1 finisher ends the run', async () => {
  const r = await run('finisher');
  assert.equal(r.status, 'fail');
  assert.equal(r.exitCode, 7);
  assert.equal(r.source, 'sifive-test');
});

test('WFI sleeps until the CLINT deadline instead of spinning', { timeout: 30_000 }, async () => {
  // A clock that moves only when the runner sleeps: the program arms the timer 2 ms ahead, so the
  // runner must sleep about 2 ms, whatever the host's speed (with the host clock, a slow first
  // run could pass the deadline before the WFI and never sleep).
  let now = 1000;
  const sleeps: number[] = [];
  const r = await run('timer', {
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
      await delay(0);
    },
  });
  assert.equal(r.status, 'pass', 'rdtime reached the deadline after MTIP');
  assert.ok(r.elapsedMs >= 2, `elapsed ${r.elapsedMs} ms`);
  assert.ok(r.instructions < 10_000, `few instructions while waiting (${r.instructions})`);
  assert.ok(sleeps.some((ms) => ms > 0 && ms <= 2), `slept until the deadline: ${sleeps.join(', ')}`);
});

test('maxInstructions stops a program that never finishes, exactly at the limit', async () => {
  const r = await run('loop', { maxInstructions: 123_457 });
  assert.equal(r.status, 'timeout');
  assert.equal(r.limit, 'instructions');
  assert.equal(r.exitCode, 124);
  assert.equal(r.instructions, 123_457);
});

test('timeoutMs stops a program that never finishes, and the event loop keeps running', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const r = await run('loop', { timeoutMs: 300 });
    assert.equal(r.status, 'timeout');
    assert.equal(r.limit, 'time');
    assert.ok(r.elapsedMs >= 300 && r.elapsedMs < 2000, `elapsed ${r.elapsedMs}`);
    assert.ok(ticks >= 10, `event loop ran ${ticks} timer callbacks during the run`);
  } finally {
    clearInterval(timer);
  }
});

test('the abort signal stops the run', async () => {
  const signal = { aborted: false };
  setTimeout(() => (signal.aborted = true), 50);
  const r = await run('loop', { signal });
  assert.equal(r.status, 'stopped');
  assert.equal(r.exitCode, 130);
  assert.ok(r.instructions > 0);
});

test('a program without tohost is refused with ENOSYM', async () => {
  await assert.rejects(run('notohost'), (e: unknown) => {
    assert.ok(e instanceof ElfError);
    assert.equal(e.code, 'ENOSYM');
    assert.match(e.message, /^no tohost symbol; bare-metal programs report their result by writing \(code << 1\) \| 1 to tohost$/);
    return true;
  });
});

test('corrupt programs and bad options are typed errors', async () => {
  await assert.rejects(runBareMetal({ elf: new Uint8Array(10) }), (e: unknown) => e instanceof ElfError && e.code === 'ENOTELF');
  for (const memoryMiB of [0, -1, 1.5, 5000]) {
    await assert.rejects(runBareMetal({ elf: program('hello'), memoryMiB }), BareMetalConfigError);
  }
  await assert.rejects(runBareMetal({ elf: program('hello'), maxInstructions: -5 }), BareMetalConfigError);
});
