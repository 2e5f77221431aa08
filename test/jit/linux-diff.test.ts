/**
 * Differential test of the two engines on Linux (issue 7): the default guest (Linux 6.1 + busybox
 * initramfs) boots on two `virt` boards in this process, one interpreted (`accel: 'interp'`, the
 * reference) and one with the WebAssembly JIT (`accel: 'jit'`), both with the virtual clock and a
 * deterministic host. Both are stepped by the same slices; every BOUNDARY_SLICES slices the whole
 * machine (harts with pc, registers, CSRs and instret; devices; console output) and all of RAM must
 * be identical. The guest boots to its shell prompt, then the same commands are typed into both
 * consoles. A divergence fails at the first boundary where it shows, naming the field (or the
 * first differing guest physical address) and each hart's pc on both boards.
 *
 * After the shell commands come programs freshly written over one another at one path, and a
 * process that rewrites its own code (test/e2e/jit-smc), still compared at every boundary.
 *
 * The JIT board must also have run most of its instructions in translated code, so that the
 * comparison is not vacuous.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { VirtMachine, type VirtConfig } from '../../src/machine/virt.js';
import { machineState, stepMachine } from '../../src/vmstate/machine-test-support.js';
import { repoRoot } from '../support/repo-root.js';
import { deterministicHost, type DeterministicHost } from '../support/deterministic-host.js';
import { selfmodElf, selfmodOutput, uploadCommand, variantElf, variantOutput } from '../e2e/jit-smc/programs.js';

const root = repoRoot(import.meta.url);
const KERNEL = readFileSync(join(root, 'images', 'default', 'Image.gz'));
const INITRD = readFileSync(join(root, 'images', 'default', 'initramfs.cpio.gz'));

/** Slices (of 20 000 instructions per hart, machine-test-support) between two comparisons. */
const BOUNDARY_SLICES = 25;
/** Boot to the prompt is ~80 M instructions (~160 boundaries); allow for a much slower boot. */
const BOOT_MAX_BOUNDARIES = 1200;
/** Per command. */
const COMMAND_MAX_BOUNDARIES = 600;
const PROMPT = '~ # ';
/** Every this many boundaries (and at the end) all of RAM is compared, not only the dirty pages. */
const FULL_RAM_EVERY = 10;
const PAGE_BYTES = 4096;
/** The board's RAM: memory slot 0 at 0x8000_0000 (src/machine/virt.ts). */
const RAM_SLOT = 0;
const RAM_BASE = 0x8000_0000;

/** A command typed at the prompt, what it must print, and a here-document body to type after it. */
interface Command {
  command: string;
  expect: string | RegExp;
  body?: string;
}

/** Shell arithmetic, fork+exec, file and /proc reads. */
function shellCommands(cpus: number): Command[] {
  return [
    { command: 'echo hi; i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo $i', expect: 'hi\n2000' },
    { command: 'ls /', expect: /proc/ },
    { command: 'cat /proc/cpuinfo', expect: new RegExp(`^processor\\s*: ${cpus - 1}$`, 'm') },
    { command: 'for n in 1 2 3; do /bin/busybox echo exec-$n; done', expect: 'exec-1\nexec-2\nexec-3' },
    { command: 'md5sum /bin/busybox | cut -c1-8', expect: /^[0-9a-f]{8}$/ },
  ];
}

/**
 * Freshly written programs run from one path (test/e2e/jit-smc: variants of one program with the
 * same layout, rewritten in place or truncated and rewritten), and a process that patches its own
 * code: the JIT must drop its translations of the old code.
 */
function smcCommands(): Command[] {
  const out: Command[] = [];
  for (const id of [0, 1]) {
    const up = uploadCommand(`/tmp/v${id}`, variantElf(id));
    out.push({ command: up.command, body: up.body, expect: '' });
  }
  const up = uploadCommand('/tmp/selfmod', selfmodElf());
  out.push({ command: up.command, body: up.body, expect: '' });
  const run = (id: number): string => `${variantOutput(id)}\nstatus ${40 + id}`;
  out.push({ command: 'cp /tmp/v0 /tmp/p && /tmp/p; echo status $?', expect: run(0) });
  out.push({ command: 'dd if=/tmp/v1 of=/tmp/p conv=notrunc 2>/dev/null && /tmp/p; echo status $?', expect: run(1) });
  out.push({ command: 'cat /tmp/v0 > /tmp/p && /tmp/p; echo status $?', expect: run(0) });
  out.push({
    command: 'for k in 1 0 1; do dd if=/tmp/v$k of=/tmp/p conv=notrunc 2>/dev/null; /tmp/p; echo status $?; done',
    expect: [1, 0, 1].map(run).join('\n'),
  });
  out.push({ command: '/tmp/selfmod; echo status $?', expect: `${selfmodOutput()}\nstatus 0` });
  return out;
}

interface Board {
  name: string;
  m: VirtMachine;
  host: DeterministicHost;
  /** Bytes still to type into the UART (stepMachine consumes them as the FIFO takes them). */
  input: number[];
}

function board(accel: 'interp' | 'jit', cpus: number): Board {
  const config: VirtConfig = {
    memoryMiB: 256, cpus, kernel: KERNEL, initrd: INITRD, append: 'console=ttyS0', bios: 'builtin',
    clock: 'virtual', virtio: ['rng', 'console'], accel,
    // Below the default (200000), so the short test programs' pages are translated too, and their
    // rewriting has translations to drop.
    // Modules compiled synchronously: the JIT takes an interrupt a device raises in mid-slice at
    // its next exit, the interpreter at its next page visit (both allowed); with background
    // compiles, where that falls would vary from run to run.
    ...(accel === 'jit' ? { jitHotThreshold: 20_000, jitCompile: 'sync' as const } : {}),
  };
  const host = deterministicHost();
  return { name: accel, m: new VirtMachine(config, host), host, input: [] };
}

/** Console output the board has buffered: stop() then run() returns at once, flushing it. */
async function flushConsole(m: VirtMachine): Promise<void> {
  m.stop();
  await m.run();
}

/** Our names for the 64-bit CSR pairs of the hart state's `csr64` (report aid only). */
function csr64Name(word: number): string {
  const pair = word >> 1;
  const names = ['mepc', 'sepc', 'mtvec', 'stvec', 'mtval', 'stval', 'mscratch', 'sscratch', 'mcause', 'scause', 'satp', 'menvcfg', 'senvcfg'];
  const half = word & 1 ? 'hi' : 'lo';
  if (pair < names.length) return `${names[pair]}.${half}`;
  if (pair < 21) return `pmpcfg${2 * (pair - 13)}.${half}`;
  return `pmpaddr${pair - 21}.${half}`;
}

/** The path and both values of the first difference between two plain-data trees, or null. */
function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (Object.is(a, b)) return null;
  if (typeof a === 'string' && typeof b === 'string' && path.endsWith('.csrs.csr64')) {
    const wa = a.split(',');
    const wb = b.split(',');
    for (let i = 0; i < Math.max(wa.length, wb.length); i++) {
      if (wa[i] !== wb[i]) {
        const hex = (s: string | undefined): string => (s === undefined ? 'absent' : `0x${Number(s).toString(16)}`);
        return `${path}[${i}] (${csr64Name(i)}): interp ${hex(wa[i])}, jit ${hex(wb[i])}`;
      }
    }
    return null;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // 64-bit values are decimal strings in saved states: show them in hex too.
    const show = (v: unknown): string => (typeof v === 'string' && /^\d{5,20}$/.test(v) ? `${v} (0x${BigInt(v).toString(16)})` : JSON.stringify(v));
    return `${path}: interp ${show(a)}, jit ${show(b)}`;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array on one side only`;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])];
  for (const k of keys) {
    const d = firstDifference(ra[k], rb[k], Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`);
    if (d !== null) return d;
  }
  return null;
}

/** Views of one RAM region of both boards (no copies: a whole-RAM copy per boundary would dominate). */
function regionViews(a: VirtMachine, b: VirtMachine, i: number): { base: number; size: number; va: Buffer; vb: Buffer } {
  const ma = a.vm.memory;
  const mb = b.vm.memory;
  const ra = ma.ram[i];
  const rb = mb.ram[i];
  assert.equal(ra.size, rb.size);
  return {
    base: ra.base,
    size: ra.size,
    va: Buffer.from(ma.u8.buffer, ma.u8.byteOffset + ra.arenaOffset, ra.size),
    vb: Buffer.from(mb.u8.buffer, mb.u8.byteOffset + rb.arenaOffset, rb.size),
  };
}

/** Guest physical address of the first differing byte in page `page` of region `i`, or -1. */
function pageDifference(r: { base: number; va: Buffer; vb: Buffer }, page: number): number {
  const from = page * PAGE_BYTES;
  if (r.va.subarray(from, from + PAGE_BYTES).equals(r.vb.subarray(from, from + PAGE_BYTES))) return -1;
  let at = from;
  while (r.va[at] === r.vb[at]) at++;
  return r.base + at;
}

/** The guest physical address of the first byte of RAM or ROM that differs, or -1: every page. */
function firstRamDifference(a: VirtMachine, b: VirtMachine): number {
  for (let i = 0; i < a.vm.memory.ram.length; i++) {
    const r = regionViews(a, b, i);
    if (r.va.equals(r.vb)) continue;
    for (let page = 0; page < r.size / PAGE_BYTES; page++) {
      const at = pageDifference(r, page);
      if (at >= 0) return at;
    }
  }
  return -1;
}

/**
 * The same, looking only at the RAM pages either board wrote since the last call (KVM-style dirty
 * logs of slot 0, the board's RAM). Reading the logs makes the harts map those pages read-only
 * again (to see the next write), so this also exercises the engines' write slow paths.
 */
function firstDirtyRamDifference(a: VirtMachine, b: VirtMachine): number {
  const la = a.vm.getDirtyLog(RAM_SLOT);
  const lb = b.vm.getDirtyLog(RAM_SLOT);
  const ramIndex = a.vm.memory.ram.findIndex((r) => r.base === RAM_BASE);
  const r = regionViews(a, b, ramIndex);
  for (let page = 0; page < la.length; page++) {
    if (la[page] === 0 && lb[page] === 0) continue;
    const at = pageDifference(r, page);
    if (at >= 0) return at;
  }
  return -1;
}

function pcs(m: VirtMachine): string {
  return m.vcpus.map((v) => `hart ${v.id} pc 0x${v.hart.getPc().toString(16)} instret ${v.hart.instret}`).join('; ');
}

/** Both boards, stepped in lockstep and compared at every boundary. */
class Lockstep {
  boundaries = 0;
  slices = 0;
  compareMs = 0;

  constructor(readonly interp: Board, readonly jit: Board) {}

  /** Steps both boards by one boundary and compares them; throws at the first difference. */
  async step(): Promise<void> {
    stepMachine(this.interp.m, BOUNDARY_SLICES, this.interp.input);
    stepMachine(this.jit.m, BOUNDARY_SLICES, this.jit.input);
    this.boundaries++;
    this.slices += BOUNDARY_SLICES;
    const t0 = performance.now();
    await flushConsole(this.interp.m);
    await flushConsole(this.jit.m);
    this.compare(this.boundaries % FULL_RAM_EVERY === 0);
    this.compareMs += performance.now() - t0;
  }

  /** Compares everything; RAM in full if `fullRam`, else the pages written since the last boundary. */
  compare(fullRam: boolean): void {
    const a = this.interp.m;
    const b = this.jit.m;
    const where = (): string =>
      `at boundary ${this.boundaries} (after ${this.slices} slices of 20000; ${a.instructions} instructions on the interpreter board)\n` +
      `  interp: ${pcs(a)}\n  jit:    ${pcs(b)}`;
    const d = firstDifference(machineState(a), machineState(b), 'machine');
    if (d !== null) assert.fail(`engines diverge ${where()}\n  first difference: ${d}`);
    // Dirty logs read at every boundary: pages written before a full compare are still compared.
    const dirtyAt = firstDirtyRamDifference(a, b);
    const at = dirtyAt >= 0 || !fullRam ? dirtyAt : firstRamDifference(a, b);
    if (at >= 0) {
      const byte = (m: VirtMachine): string => `0x${Number(m.vm.memory.readPhys(at, 1)).toString(16)}`;
      assert.fail(`engines diverge ${where()}\n  RAM differs first at guest physical 0x${at.toString(16)}: interp ${byte(a)}, jit ${byte(b)}`);
    }
    const oa = this.interp.host.output();
    const ob = this.jit.host.output();
    if (oa !== ob) {
      let i = 0;
      while (oa[i] === ob[i]) i++;
      assert.fail(`console output diverges ${where()}\n  at character ${i}: interp ${JSON.stringify(oa.slice(i, i + 80))}, jit ${JSON.stringify(ob.slice(i, i + 80))}`);
    }
  }

  /** Steps until `done(output)` holds (output identical on both by then), or fails after `max` boundaries. */
  async until(done: (output: string) => boolean, max: number, what: string): Promise<void> {
    for (let n = 0; n < max; n++) {
      if (done(this.interp.host.output())) return;
      await this.step();
    }
    assert.fail(`no ${what} after ${max} boundaries; console tail:\n${this.interp.host.output().slice(-2000)}`);
  }

  /**
   * Types `command` (and then `body`, e.g. a here-document's lines) into both consoles, steps until
   * it has printed its end marker and a new prompt, and returns what it printed (between markers).
   */
  async command(command: string, n: number, body = ''): Promise<string> {
    const begin = `__B${n}__`;
    const end = `__E${n}__`;
    const quoted = (m: string): string => `${m.slice(0, 2)}''${m.slice(2)}`; // the echoed line never equals a marker
    const bytes = Array.from(`echo ${quoted(begin)}; ${command}; echo ${quoted(end)}\n${body}`, (c) => c.charCodeAt(0));
    const from = this.interp.host.output().length;
    this.interp.input.push(...bytes);
    this.jit.input.push(...bytes);
    const done = new RegExp(`\\n${begin}\\n([^]*?)\\n?${end}\\n~ # $`);
    const text = (): string => this.interp.host.output().slice(from).replace(/\r/g, '');
    await this.until(() => done.test(text()), COMMAND_MAX_BOUNDARIES, `end of '${command}'`);
    return (done.exec(text()) as RegExpExecArray)[1];
  }
}

/** Instructions the harts of `m` retired, and how many of them in translated code. */
function jitShare(m: VirtMachine): { retired: number; translated: number } {
  let retired = 0;
  let translated = 0;
  for (const v of m.vcpus) {
    retired += v.hart.instret;
    translated += v.hart.jit?.stats.executed ?? 0;
  }
  return { retired, translated };
}

/** Boots both boards to the prompt and runs `commands`; returns the JIT's invalidations during each. */
async function bootAndType(t: TestContext, cpus: number, commands: readonly Command[]): Promise<number[]> {
  const run = new Lockstep(board('interp', cpus), board('jit', cpus));
  const t0 = performance.now();
  await run.until((out) => out.includes(PROMPT), BOOT_MAX_BOUNDARIES, 'shell prompt');
  const bootMs = performance.now() - t0;
  const bootBoundaries = run.boundaries;
  const invalidations: number[] = [];
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i];
    const before = jitInvalidations(run.jit.m);
    const out = await run.command(c.command, i + 1, c.body);
    invalidations.push(jitInvalidations(run.jit.m) - before);
    if (typeof c.expect === 'string') assert.equal(out, c.expect, `'${c.command}' printed ${JSON.stringify(out)}`);
    else assert.match(out, c.expect, `'${c.command}'`);
  }
  run.compare(true);
  const share = jitShare(run.jit.m);
  const stats = run.jit.m.vcpus.map((v) => v.hart.jit?.stats);
  t.diagnostic(
    `${cpus} hart(s): prompt after ${bootBoundaries} boundaries (${(bootMs / 1000).toFixed(1)} s), ` +
      `${run.boundaries} boundaries in all, ${jitShare(run.interp.m).retired} instructions retired, ${(run.compareMs / 1000).toFixed(1)} s comparing`,
  );
  t.diagnostic(
    `jit board: ${share.translated} of ${share.retired} retired instructions in translated code ` +
      `(${((100 * share.translated) / share.retired).toFixed(1)}%); ` +
      stats.map((s) => (s === undefined ? 'no jit' : `${s.modules} modules, ${s.pages} pages, ${s.invalidations} invalidations, ${s.compileErrors} compile errors`)).join('; '),
  );

  assert.ok(run.jit.m.vcpus.every((v) => v.hart.jit !== null), 'the jit board has no JIT');
  assert.ok(run.interp.m.vcpus.every((v) => v.hart.jit === null), 'the interp board has a JIT');
  // Most of the work in translated code: else the comparison says little about the JIT.
  assert.ok(share.translated > share.retired / 2, `only ${share.translated} of ${share.retired} instructions ran translated`);

  return invalidations;
}

function jitInvalidations(m: VirtMachine): number {
  return m.vcpus.reduce((n, v) => n + (v.hart.jit?.stats.invalidations ?? 0), 0);
}

/** The shell commands, then the self-modifying-code ones, which must make the JIT drop translations. */
async function shellAndSmc(t: TestContext, cpus: number, shell: readonly Command[]): Promise<void> {
  const invalidations = await bootAndType(t, cpus, [...shell, ...smcCommands()]);
  const smc = invalidations.slice(shell.length);
  t.diagnostic(`jit invalidations during each self-modifying-code command: ${smc.join(', ')}`);
  // Else the SMC part proves nothing about invalidation.
  assert.ok(smc.reduce((x, y) => x + y, 0) > 0, 'no translation was invalidated by the rewritten programs');
}

test('Linux boots to a shell and runs commands identically under the interpreter and the JIT', { timeout: 900_000 }, async (t) => {
  await shellAndSmc(t, 1, shellCommands(1));
});

test('the same with 2 harts (SMP round robin)', { timeout: 900_000 }, async (t) => {
  // The processes may move between the harts: the rewritten programs must still run right.
  await shellAndSmc(t, 2, shellCommands(2).slice(0, 3));
});
