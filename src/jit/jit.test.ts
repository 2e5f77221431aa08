// The WebAssembly JIT against the interpreter (the reference): the same programs must end in the
// same state after the same number of instructions, whatever the slice sizes, with the JIT
// translating as early as possible (hotThreshold 0) or after a while.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { repoRoot } from '../../test/support/repo-root.js';
import { buildProgram, generateProgram } from '../../test/diff/generate.js';
import { readElf } from '../../test/diff/elf-writer.js';
import { Cause, CSR, ExitReason, Hart, PhysicalMemory, type HartOptions } from '../hart/index.js';
import { runBareMetal, type BareMetalResult } from '../machine/bare-metal.js';
import { loadElf, parseElf } from '../machine/elf.js';
import type { JitOptions } from './engine.js';

const root = repoRoot(import.meta.url);
/** Random programs per campaign; JIT_FUZZ=n runs n times more (a longer hunt). */
const FUZZ = Math.max(1, Number(process.env.JIT_FUZZ ?? 1) || 1);
const EAGER: JitOptions = { hotThreshold: 0, decodeAhead: true };
const LAZY: JitOptions = { hotThreshold: 200 };
/** Every page translated at once, then again with its loads and stores inline (the hot form). */
const INLINE: JitOptions = { hotThreshold: 0, decodeAhead: true, inlineAfter: 0 };

/** A deterministic PRNG (xorshift32) for slice sizes and random programs. */
class Rng {
  constructor(private s: number) {
    if (this.s === 0) this.s = 1;
  }
  next(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s;
    return s >>> 0;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// Conformance programs through the bare-metal runner

async function runConformance(elf: Uint8Array, jit: HartOptions['jit'], slice: number): Promise<BareMetalResult & { out: string }> {
  let t = 0;
  const out: number[] = [];
  const r = await runBareMetal({
    elf,
    jit,
    // A clock that advances per call: identical executions read identical times.
    clock: () => (t += 0.001),
    sleep: () => Promise.resolve(),
    sliceInstructions: slice,
    maxInstructions: 20_000_000,
    console: (b) => out.push(b),
  });
  return { ...r, out: String.fromCharCode(...out) };
}

test('conformance programs: the JIT ends like the interpreter (status, code, instructions, output)', async () => {
  const dir = join(root, 'test', 'conformance', 'bin');
  const programs = readdirSync(dir).filter((f) => f.endsWith('.elf')).sort();
  assert.ok(programs.length >= 19, `only ${programs.length} conformance programs`);
  for (const name of programs) {
    const elf = new Uint8Array(readFileSync(join(dir, name)));
    for (const slice of [1, 37, 20_000]) {
      const ref = await runConformance(elf, false, slice);
      for (const jit of [EAGER, LAZY, INLINE]) {
        const r = await runConformance(elf, jit, slice);
        const what = `${name}, slice ${slice}, ${JSON.stringify(jit)}`;
        assert.equal(r.status, ref.status, what);
        assert.equal(r.exitCode, ref.exitCode, what);
        assert.equal(r.instructions, ref.instructions, what);
        assert.equal(r.out, ref.out, what);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The benchmark program

interface ComputeRun {
  instret: number;
  checksum: bigint;
  regs: bigint[];
  pc: bigint;
  hart: Hart;
}

function runCompute(jit: HartOptions['jit'], slices: () => number): ComputeRun {
  const image = parseElf(new Uint8Array(readFileSync(join(root, 'bench', 'guest', 'compute.elf'))));
  const memory = new PhysicalMemory();
  memory.addRam(0x8000_0000, 16 << 20);
  loadElf(image, memory);
  const tohost = Number(image.symbols.get('tohost'));
  const result = Number(image.symbols.get('result'));
  const hart = new Hart(memory, { jit });
  hart.setPc(image.entry);
  let done = false;
  memory.addWriteWatch(tohost, 8, () => {
    done = true;
    hart.requestStop();
  });
  while (!done) assert.equal(hart.run(slices()) === ExitReason.Exception, false);
  const regs: bigint[] = [];
  for (let i = 0; i < 32; i++) regs.push(hart.getX(i));
  return { instret: hart.instret, checksum: memory.readPhys(result, 8), regs, pc: hart.getPc(), hart };
}

test('compute.elf: same checksum, instructions, registers and pc with the JIT', () => {
  const ref = runCompute(false, () => 20_000);
  assert.equal(ref.checksum, 0x2276d4734c384fdcn);
  const rng = new Rng(7);
  for (const [jit, slices] of [
    [{}, () => 20_000],
    [EAGER, () => 1 + rng.int(30_000)],
    [INLINE, () => 1 + rng.int(30_000)],
  ] as [JitOptions, () => number][]) {
    const r = runCompute(jit, slices);
    assert.equal(r.checksum, ref.checksum);
    assert.equal(r.instret, ref.instret);
    assert.deepEqual(r.regs, ref.regs);
    assert.equal(r.pc, ref.pc);
    const stats = r.hart.jit?.stats;
    assert.ok(stats !== undefined && stats.pages >= 1 && stats.instructions > 300, JSON.stringify(stats));
    assert.equal(stats.compileErrors, 0, stats.lastError);
    assert.ok(stats.executed > 0.9 * r.instret, `only ${stats.executed} of ${r.instret} instructions ran translated`);
    // Its loop pages ran in the first form (accesses through the module's functions), then inline.
    assert.ok(stats.inlined >= 1, `no page translated again inline: ${JSON.stringify(stats)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// A tiny assembler for hand-written and random programs

type Item = string | ((pc: number, label: (name: string) => number) => number);

const R = (f7: number, rs2: number, rs1: number, f3: number, rd: number, opc: number): number =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc) >>> 0;
const I = (imm: number, rs1: number, f3: number, rd: number, opc: number): number =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc) >>> 0;
const S = (imm: number, rs2: number, rs1: number, f3: number): number =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23) >>> 0;
const B = (off: number, rs1: number, rs2: number, f3: number): number =>
  ((((off >> 12) & 1) << 31) | (((off >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
    (((off >> 1) & 0xf) << 8) | (((off >> 11) & 1) << 7) | 0x63) >>> 0;
const J = (off: number, rd: number): number =>
  ((((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) |
    (((off >> 12) & 0xff) << 12) | (rd << 7) | 0x6f) >>> 0;

const addi = (rd: number, rs1: number, imm: number): Item => () => I(imm, rs1, 0, rd, 0x13);
const add = (rd: number, rs1: number, rs2: number): Item => () => R(0, rs2, rs1, 0, rd, 0x33);
const lui = (rd: number, imm20: number): Item => () => (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37) >>> 0;
const auipc = (rd: number, imm20: number): Item => () => (((imm20 & 0xfffff) << 12) | (rd << 7) | 0x17) >>> 0;
const sw = (rs2: number, rs1: number, imm: number): Item => () => S(imm, rs2, rs1, 2);
const bne = (rs1: number, rs2: number, label: string): Item => (pc, l) => B(l(label) - pc, rs1, rs2, 1);
const blt = (rs1: number, rs2: number, label: string): Item => (pc, l) => B(l(label) - pc, rs1, rs2, 4);
const jal = (rd: number, label: string): Item => (pc, l) => J(l(label) - pc, rd);
const jalrRet = (): Item => () => I(0, 1, 0, 0, 0x67);
const fenceI = (): Item => () => 0x0000100f;
const ebreak = (): Item => () => 0x00100073;
/** The address of a label, into rd, position-independently (auipc + addi). */
const la = (rd: number, label: string): Item[] => {
  let at = 0;
  return [
    (pc, l) => {
      at = pc;
      const d = l(label) - pc;
      return (((((d + 0x800) >> 12) & 0xfffff) << 12) | (rd << 7) | 0x17) >>> 0;
    },
    (_pc, l) => {
      const d = l(label) - at;
      return I(d - (((d + 0x800) >> 12) << 12), rd, 0, rd, 0x13);
    },
  ];
};
/** A 32-bit constant into rd (lui + addi). */
const li32 = (rd: number, v: number): Item[] => {
  const lo = (v << 20) >> 20;
  return [lui(rd, ((v - lo) >>> 12) & 0xfffff), addi(rd, rd, lo)];
};

/** Assembles items (labels and instructions) placed at `origin`; returns the words by address. */
function assemble(origin: number, items: Item[], labels = new Map<string, number>()): Map<number, number> {
  let pc = origin;
  for (const it of items) {
    if (typeof it === 'string') labels.set(it, pc);
    else pc += 4;
  }
  const out = new Map<number, number>();
  pc = origin;
  const label = (name: string): number => {
    const a = labels.get(name);
    if (a === undefined) throw new Error(`no label ${name}`);
    return a;
  };
  for (const it of items) {
    if (typeof it === 'string') continue;
    out.set(pc, it(pc, label));
    pc += 4;
  }
  return out;
}

function load(mem: PhysicalMemory, words: Map<number, number>): void {
  for (const [a, w] of words) mem.writePhys(a, 4, BigInt(w));
}

/** Runs a bare M-mode program at 0x8000_0000 until ebreak; returns the hart. */
/** A hart with 1 MiB of RAM at 0x8000_0000 holding `words`, to start there; exceptions exit. */
function programHart(words: Map<number, number>, jit: HartOptions['jit']): Hart {
  const mem = new PhysicalMemory();
  mem.addRam(0x8000_0000, 1 << 20);
  load(mem, words);
  const hart = new Hart(mem, { jit });
  hart.setPc(0x8000_0000n);
  hart.interceptExceptions = 0xffff;
  return hart;
}

function runProgram(words: Map<number, number>, jit: HartOptions['jit'], slices: () => number,
  setup?: (h: Hart) => void): Hart {
  const hart = programHart(words, jit);
  setup?.(hart);
  for (let i = 0; i < 1_000_000; i++) {
    const r = hart.run(slices());
    if (r === ExitReason.Exception) {
      assert.equal(hart.exitCause, Cause.Breakpoint, `exception ${hart.exitCause} at ${hart.getPc().toString(16)}`);
      return hart;
    }
  }
  throw new Error('program did not end');
}

function state(h: Hart): { x: bigint[]; pc: bigint; instret: number; mem: string } {
  const x: bigint[] = [];
  for (let i = 0; i < 32; i++) x.push(h.getX(i));
  const bytes = h.mem.readBytes(0x8000_0000, 0x8000);
  let hash = 0;
  for (let i = 0; i < bytes.length; i++) hash = (Math.imul(hash, 31) + bytes[i]) | 0;
  return { x, pc: h.getPc(), instret: h.instret, mem: hash.toString(16) };
}

// ---------------------------------------------------------------------------------------------
// Self-modifying code

/** Programs in two pages: the main loop in page A, `func` in page B. */
const PAGE_A = 0x8000_0000;
const PAGE_B = 0x8000_1000;
const FUNC_IN_B = new Map<string, number>([['func', PAGE_B]]);

test('code patched in another page after it was translated runs in its new form', () => {
  const main = assemble(PAGE_A, [
    addi(10, 0, 0),
    addi(9, 0, 0),
    addi(8, 0, 100),
    'loop1',
    jal(1, 'func'),
    add(9, 9, 10),
    addi(8, 8, -1),
    bne(8, 0, 'loop1'),
    ...li32(6, I(2, 0, 0, 10, 0x13)), // addi a0, x0, 2
    ...la(7, 'func'),
    sw(6, 7, 0),
    fenceI(),
    addi(8, 0, 100),
    'loop2',
    jal(1, 'func'),
    add(9, 9, 10),
    addi(8, 8, -1),
    bne(8, 0, 'loop2'),
    ebreak(),
  ], FUNC_IN_B);
  const func = assemble(PAGE_B, [addi(10, 0, 1), jalrRet()]);
  const words = new Map([...main, ...func]);
  const ref = state(runProgram(words, false, () => 50));
  assert.equal(ref.x[9], 300n);
  for (const jit of [EAGER, LAZY]) {
    for (const slice of [50, 1000]) {
      const h = runProgram(words, jit, () => slice);
      assert.deepEqual(state(h), ref, `hotThreshold ${jit.hotThreshold}, slice ${slice}`);
      assert.ok((h.jit?.stats.invalidations ?? 0) >= 1, 'the translation of the patched page was dropped');
    }
  }
});

/** A turn of the event loop (background compiles get installed at such turns). */
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

test('background compile: a page rewritten while its module compiles is dropped, the others of the module install', async () => {
  // Page A loops calling `func` in page B until both are hot (one module for both), then patches
  // func; the compile cannot finish before (no event-loop turn until then). At the install B's
  // translation is stale and must be dropped, and A must get its own functions.
  // One loop, so A's translation (made before the patch) is what runs after the install.
  const main = assemble(PAGE_A, [
    addi(10, 0, 0),
    addi(9, 0, 0),
    ...li32(8, 300 + 8192),
    ...li32(11, 8192),
    ...li32(6, I(2, 0, 0, 10, 0x13)), // addi a0, x0, 2
    ...la(7, 'func'),
    'loop',
    jal(1, 'func'),
    add(9, 9, 10),
    addi(8, 8, -1),
    bne(8, 11, 'skip'),
    sw(6, 7, 0), // after 300 calls
    fenceI(),
    'skip',
    bne(8, 0, 'loop'),
    ebreak(),
  ], FUNC_IN_B);
  // B runs more per call than A, so B gets hot first and leads the module: were A given the
  // functions by their place in the module, it would get B's.
  const func = assemble(PAGE_B, [addi(10, 0, 1), ...Array.from({ length: 6 }, () => addi(0, 0, 0)), jalrRet()]);
  const words = new Map([...main, ...func]);
  const ref = state(runProgram(words, false, () => 50));
  assert.equal(ref.x[9], 300n + 2n * 8192n);

  const h = programHart(words, { hotThreshold: 200, compile: 'background' });
  const stats = h.jit?.stats;
  assert.ok(stats !== undefined);
  // Synchronously past the patch: the module of A and B is still compiling.
  while (h.instret < 300 * 13 + 30) assert.equal(h.run(50), ExitReason.Budget); // 13 per call
  assert.equal(stats.modules, 0, 'nothing installed before an event-loop turn');
  for (let i = 0; i < 2000 && stats.backgroundInstalls === 0; i++) await turn();
  assert.ok(stats.backgroundDiscards >= 1, `B's stale translation was dropped (${JSON.stringify(stats)})`);
  for (let slice = 0; ; slice++) {
    assert.ok(slice < 20_000, `the program did not end (pc 0x${h.getPc().toString(16)}, x9 ${h.getX(9)})`);
    const r = h.run(50);
    if (r === ExitReason.Exception) break;
    if (slice % 16 === 0) await turn();
  }
  assert.equal(h.exitCause, Cause.Breakpoint);
  assert.deepEqual(state(h), ref);
  assert.ok(stats.backgroundInstalls >= 1 && stats.executed > 0, JSON.stringify(stats));
});

test('background compile: a reset while modules compile installs nothing of them', async () => {
  const prog = assemble(0x8000_0000, [
    addi(8, 0, 2000),
    'loop',
    add(9, 9, 8),
    addi(8, 8, -1),
    bne(8, 0, 'loop'),
    ebreak(),
  ]);
  const h = programHart(prog, { hotThreshold: 100, compile: 'background' });
  assert.equal(h.run(1000), ExitReason.Budget);
  h.jit?.reset(); // (a state load does this)
  for (let i = 0; i < 50; i++) await turn();
  assert.equal(h.jit?.stats.modules, 0);
  for (;;) {
    const r = h.run(100);
    if (r === ExitReason.Exception) break;
    await turn();
  }
  assert.equal(h.getX(9), 2001n * 1000n);
});

test('a translated loop that rewrites its own next instruction (same page) sees the new code', () => {
  const prog = assemble(0x8000_0000, [
    addi(10, 0, 0),
    addi(8, 0, 200),
    ...la(7, 'patch'),
    ...li32(6, I(3, 10, 0, 10, 0x13)), // addi a0, a0, 3
    addi(11, 0, 100),
    'loop',
    bne(8, 11, 'skip'),
    sw(6, 7, 0),
    'skip',
    'patch',
    addi(10, 10, 1),
    addi(8, 8, -1),
    bne(8, 0, 'loop'),
    ebreak(),
  ]);
  const ref = state(runProgram(prog, false, () => 64));
  assert.equal(ref.x[10], 100n + 300n);
  for (const jit of [EAGER, LAZY]) {
    for (const slice of [7, 64, 100_000]) {
      const h = runProgram(prog, jit, () => slice);
      assert.deepEqual(state(h), ref, `hotThreshold ${jit.hotThreshold}, slice ${slice}`);
    }
  }
});

test('a translated loop taking a path its translation lacks returns to its translated part each turn', () => {
  // 1001 turns through path A (translated once hot), then 4999 through path B, which had not run
  // then: the interpreter runs B up to its branch back to the loop, and the loop runs translated
  // again (not the rest of the slice interpreted) until B is hot enough to be translated too.
  const prog = assemble(0x8000_0000, [
    addi(10, 0, 0),
    ...li32(8, 6000),
    ...li32(9, 5000),
    'loop',
    addi(10, 10, 1),
    addi(12, 10, 7),
    add(13, 12, 10),
    blt(8, 9, 'pathB'),
    addi(10, 10, 2),
    addi(8, 8, -1),
    bne(8, 0, 'loop'),
    ebreak(),
    'pathB',
    addi(10, 10, 5),
    addi(14, 14, 1),
    addi(8, 8, -1),
    bne(8, 0, 'loop'),
    ebreak(),
  ]);
  const ref = state(runProgram(prog, false, () => 100_000));
  assert.equal(ref.x[10], 1001n * 3n + 4999n * 6n); // s0 = 6000 .. 5000 through A, 4999 .. 1 through B
  // Short slices while A runs (a hart counts a page's heat per visit, and a loop in one page is one
  // visit per slice), then long ones, as a machine runs.
  let slices = 0;
  const h = runProgram(prog, LAZY, () => (++slices <= 7 ? 1000 : 100_000));
  assert.deepEqual(state(h), ref);
  const executed = h.jit?.stats.executed ?? 0;
  // (Interpreting to the end of the slice from B's first turn on left 13% translated.)
  assert.ok(executed > 0.8 * h.instret, `translated ${executed} of ${h.instret} instructions`);
});

test('a page a quarter as hot as the threshold is translated in the hot page\'s module', () => {
  // A loop on one page calls a function on the next page each turn: by the time the loop's page
  // is hot (4000 instructions interpreted), the function's page has about half of that - warm -
  // and goes into the same module, rather than into a module of its own later.
  const loop = assemble(0x8000_0000, [
    ...li32(8, 3000),
    'loop',
    addi(10, 10, 1),
    jal(1, 'leaf'),
    addi(8, 8, -1),
    bne(8, 0, 'loop'),
    ebreak(),
  ], new Map([['leaf', 0x8000_1000]]));
  const leaf = assemble(0x8000_1000, [addi(11, 11, 2), jalrRet()]);
  const prog = new Map([...loop, ...leaf]);
  const ref = state(runProgram(prog, false, () => 100_000));
  const h = runProgram(prog, { hotThreshold: 4000 }, () => 1000);
  assert.deepEqual(state(h), ref);
  const s = h.jit?.stats;
  assert.equal(s?.modules, 1, JSON.stringify(s));
  assert.equal(s?.pages, 2, JSON.stringify(s));
});

test('data stores into a page that holds translated code do not drop its translation', () => {
  // A loop in page 0 that stores into the end of page 0 (no instructions there).
  const prog = assemble(0x8000_0000, [
    addi(8, 0, 500),
    ...la(7, 'data'),
    'loop',
    sw(8, 7, 0),
    add(9, 9, 8),
    addi(8, 8, -1),
    bne(8, 0, 'loop'),
    ebreak(),
    'data',
  ]);
  const ref = state(runProgram(prog, false, () => 100));
  const h = runProgram(prog, EAGER, () => 100);
  assert.deepEqual(state(h), ref);
  assert.equal(h.jit?.stats.invalidations, 0);
  assert.equal(h.jit?.stats.modules, 1);
});

// ---------------------------------------------------------------------------------------------
// Random loop programs: integer, M, loads and stores (aligned, misaligned, page-crossing, into the
// code page), calls into another page, run in slices of random sizes.

const OP_RR: [number, number][] = [
  [0, 0], [0x20, 0], [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [0x20, 5], [0, 6], [0, 7],
  [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 7],
];
const OP_RR32: [number, number][] = [[0, 0], [0x20, 0], [0, 1], [0, 5], [0x20, 5], [1, 0], [1, 4], [1, 5], [1, 6], [1, 7]];
// Reserved: x1 (ra), x2 (data base), x3 (outer count), x4 (inner count), x5 (code-page data base).
const FREE = Array.from({ length: 26 }, (_, i) => i + 6);
const VALUES = [0n, 1n, 2n, 3n, -1n, -2n, 0x7fffffffn, -0x80000000n, 0xffffffffn, 0x7fffffffffffffffn,
  -0x8000000000000000n, 0x123456789abcdef0n, -7n, 31n, 63n, 64n];

function randomOp(rng: Rng): Item {
  const rd = rng.int(8) === 0 ? 0 : rng.pick(FREE);
  const rs = (): number => (rng.int(10) === 0 ? 0 : rng.pick(FREE));
  switch (rng.int(9)) {
    case 0:
    case 1: {
      const [f7, f3] = rng.pick(OP_RR);
      const a = rs();
      const b = rs();
      return () => R(f7, b, a, f3, rd, 0x33);
    }
    case 2: {
      const [f7, f3] = rng.pick(OP_RR32);
      const a = rs();
      const b = rs();
      return () => R(f7, b, a, f3, rd, 0x3b);
    }
    case 3: {
      const f3 = rng.pick([0, 2, 3, 4, 6, 7]);
      const imm = rng.int(4096) - 2048;
      const a = rs();
      return () => I(imm, a, f3, rd, 0x13);
    }
    case 4: {
      const kind = rng.int(6);
      const a = rs();
      const sh = rng.int(kind < 3 ? 64 : 32);
      const [f3, hi, opc] = [[1, 0, 0x13], [5, 0, 0x13], [5, 0x400, 0x13], [1, 0, 0x1b], [5, 0, 0x1b], [5, 0x400, 0x1b]][kind];
      return () => I(hi | sh, a, f3, rd, opc);
    }
    case 5: {
      const imm = rng.int(4096) - 2048;
      const a = rs();
      return () => I(imm, a, 0, rd, 0x1b); // addiw
    }
    case 6: {
      // Load from the data page (x2 = its middle; imm may run off its end).
      const f3 = rng.pick([0, 1, 2, 3, 4, 5, 6]);
      const imm = rng.int(4) === 0 ? 2040 + rng.int(8) : (rng.int(4096) - 2048) & ~(rng.int(3) === 0 ? 0 : 7);
      return () => I(imm, 2, f3, rd, 0x03);
    }
    case 7: {
      const f3 = rng.int(4);
      const imm = rng.int(4) === 0 ? 2040 + rng.int(8) : (rng.int(4096) - 2048) & ~(rng.int(3) === 0 ? 0 : 7);
      const v = rs();
      const codePage = rng.int(5) === 0;
      const near = rng.int(512);
      return codePage ? () => S(near, v, 5, f3) : () => S(imm, v, 2, f3);
    }
    default: {
      const imm20 = rng.int(1 << 20);
      return rng.int(2) === 0 ? lui(rd, imm20) : auipc(rd, imm20);
    }
  }
}

function randomLoopProgram(seed: number): { words: Map<number, number>; init: bigint[] } {
  const rng = new Rng(seed);
  const body = (n: number): Item[] => Array.from({ length: n }, () => randomOp(rng));
  const labels = new Map<string, number>([['func', 0x8000_1000]]);
  const items: Item[] = [
    addi(3, 0, 2 + rng.int(6)),
    'outer',
    addi(4, 0, 2 + rng.int(30)),
    ...body(rng.int(6)),
    'inner',
    ...body(1 + rng.int(25)),
  ];
  if (rng.int(2) === 0) items.push(jal(1, 'func'), ...body(rng.int(5)));
  items.push(addi(4, 4, -1), bne(4, 0, 'inner'), ...body(rng.int(4)), addi(3, 3, -1), bne(3, 0, 'outer'), ebreak());
  const main = assemble(0x8000_0000, items, labels);
  const func = assemble(0x8000_1000, [...body(1 + rng.int(10)), jalrRet()]);
  const init: bigint[] = [];
  for (let i = 0; i < 32; i++) init.push(BigInt.asUintN(64, rng.pick(VALUES) + BigInt(rng.int(1000))));
  return { words: new Map([...main, ...func]), init };
}

test('random loop programs: the JIT matches the interpreter (registers, memory, pc, instret)', () => {
  let executed = 0;
  let total = 0;
  for (let seed = 1; seed <= 150 * FUZZ; seed++) {
    const { words, init } = randomLoopProgram(seed);
    const setup = (h: Hart): void => {
      for (let i = 6; i < 32; i++) h.setX(i, init[i]);
      h.setX(2, 0x8000_4800n);
      h.setX(5, 0x8000_0c00n);
      h.setCsr(CSR.mscratch, 0n);
    };
    const sliceRng = new Rng(seed * 7919);
    const tiny = seed % 3 === 0; // slices shorter than most blocks: mostly interpreted
    const sizes = Array.from({ length: 64 }, () => 1 + sliceRng.int(tiny ? 20 : 3000));
    let i = 0;
    const slices = (): number => sizes[i++ % sizes.length];
    const ref = state(runProgram(words, false, slices, setup));
    for (const jit of [EAGER, LAZY, INLINE]) {
      i = 0;
      const h = runProgram(words, jit, slices, setup);
      assert.deepEqual(state(h), ref, `seed ${seed}, ${JSON.stringify(jit)}`);
      if (jit === EAGER && !tiny) {
        executed += h.jit?.stats.executed ?? 0;
        total += h.instret;
      }
    }
  }
  assert.ok(executed > 0.9 * total, `only ${executed} of ${total} instructions ran translated`);
});

// ---------------------------------------------------------------------------------------------
// The differential tester's random RV64GC programs (test/diff), run in U-mode on both engines:
// every instruction kind the generator knows, compressed forms, FP and atomics through callouts.

function runUser(elf: Uint8Array, jit: HartOptions['jit'], budget: number):
  { out: string; instret: number; x: bigint[]; executed: number } {
  const image = readElf(elf);
  const mem = new PhysicalMemory();
  let lo = Infinity;
  let hi = 0;
  for (const s of image.segments) {
    lo = Math.min(lo, s.vaddr);
    hi = Math.max(hi, s.vaddr + s.memSize);
  }
  const base = Math.floor(lo / 4096) * 4096;
  mem.addRam(base, Math.ceil((hi - base) / 4096) * 4096 + 4096);
  for (const s of image.segments) mem.writeBytes(s.vaddr, s.data);
  const hart = new Hart(mem, { jit });
  hart.setPc(BigInt(image.entry));
  hart.setCsr(CSR.mstatus, hart.getCsr(CSR.mstatus) | (1n << 13n));
  hart.priv = 0;
  hart.interceptExceptions = 0xffff;
  let out = '';
  for (;;) {
    assert.ok(hart.instret < 5_000_000, 'program did not exit');
    const reason = hart.run(budget);
    if (reason === ExitReason.Budget) continue;
    assert.equal(reason, ExitReason.Exception);
    assert.equal(hart.exitCause, Cause.EcallFromU, `exception ${hart.exitCause} at ${hart.getPc().toString(16)}`);
    const nr = hart.getX(17);
    if (nr === 93n) break;
    assert.equal(nr, 64n);
    const bytes = mem.readBytes(Number(hart.getX(11)), Number(hart.getX(12)));
    for (const b of bytes) out += b.toString(16).padStart(2, '0');
    hart.setX(10, hart.getX(12));
    hart.setPc(hart.getPc() + 4n);
  }
  const x: bigint[] = [];
  for (let i = 0; i < 32; i++) x.push(hart.getX(i));
  return { out, instret: hart.instret, x, executed: hart.jit?.stats.executed ?? 0 };
}

test('random RV64GC programs (test/diff generator) give the same output on both engines', () => {
  let executed = 0;
  let total = 0;
  for (let seed = 1; seed <= 60 * FUZZ; seed++) {
    const elf = buildProgram(generateProgram(seed, { length: 400 })).elf;
    const budget = seed % 2 === 0 ? 100_000 : 1 + (seed % 13);
    const ref = runUser(elf, false, budget);
    const r = runUser(elf, EAGER, budget);
    assert.equal(r.instret, ref.instret, `seed ${seed}`);
    assert.deepEqual(r.x, ref.x, `seed ${seed}`);
    assert.equal(r.out, ref.out, `seed ${seed}`);
    const inline = runUser(elf, INLINE, budget);
    assert.equal(inline.instret, ref.instret, `seed ${seed}, inline`);
    assert.deepEqual(inline.x, ref.x, `seed ${seed}, inline`);
    assert.equal(inline.out, ref.out, `seed ${seed}, inline`);
    if (budget === 100_000) {
      executed += r.executed;
      total += r.instret;
    }
  }
  assert.ok(executed > 0.5 * total, `only ${executed} of ${total} instructions ran translated`);
});

// ---------------------------------------------------------------------------------------------
// Plumbing

test('a small code cache: old modules are evicted whole, live code stays under the cap, results unchanged', () => {
  // Main calls a function in each of 16 other pages, 300 times; each page is its own module.
  const PAGES = 16;
  const ITER = 300;
  const labels = new Map<string, number>();
  const words = new Map<number, number>();
  for (let k = 0; k < PAGES; k++) {
    const at = 0x8000_1000 + k * 0x1000;
    labels.set(`f${k}`, at);
    for (const [a, w] of assemble(at, [addi(10, 10, k + 1), jalrRet()])) words.set(a, w);
  }
  const main: Item[] = [...li32(9, ITER), 'loop'];
  for (let k = 0; k < PAGES; k++) main.push(jal(1, `f${k}`));
  main.push(addi(9, 9, -1), bne(9, 0, 'loop'), ebreak());
  for (const [a, w] of assemble(0x8000_0000, main, labels)) words.set(a, w);

  const ref = state(runProgram(words, false, () => 20_000));
  const cap = 8 * 1024;
  const rng = new Rng(11);
  const h = runProgram(words, { hotThreshold: 50, maxPagesPerModule: 1, codeCacheBytes: cap }, () => 1 + rng.int(3_000));
  assert.deepEqual(state(h), ref);
  assert.equal(h.getX(10), BigInt(ITER * (PAGES * (PAGES + 1)) / 2));
  const stats = h.jit?.stats;
  assert.ok(stats !== undefined && stats.evictions > 0 && stats.modules > PAGES, `no churn: ${JSON.stringify(stats)}`);
  // Above the cap by at most the newest module (never evicted while it is being installed).
  assert.ok(stats.liveCodeBytes <= cap + 4 * 1024, JSON.stringify(stats));
  assert.ok(stats.executed > 0.5 * h.instret, JSON.stringify(stats));
});

test('a Hart interprets unless asked for the JIT; the arena is a WebAssembly memory', () => {
  const mem = new PhysicalMemory();
  mem.addRam(0x8000_0000, 0x3000);
  assert.equal(mem.arena, mem.wasmMemory.buffer);
  assert.equal(mem.u8.length, 0x3000);
  assert.equal(new Hart(mem).jit, null);
  assert.notEqual(new Hart(mem, { jit: true }).jit, null);
});

test('a JIT hart keeps its registers when RAM is added after it (the arena grows)', () => {
  const mem = new PhysicalMemory();
  mem.addRam(0x1000, 0x1000);
  const hart = new Hart(mem, { jit: EAGER });
  hart.setX(5, 0x1234_5678_9abc_def0n);
  hart.setF(3, 0xfedc_ba98_7654_3210n);
  mem.addRam(0x8000_0000, 8 << 20); // grows the WebAssembly memory: every view is re-created
  assert.equal(hart.getX(5), 0x1234_5678_9abc_def0n);
  assert.equal(hart.getF(3), 0xfedc_ba98_7654_3210n);
  load(mem, assemble(0x8000_0000, [addi(6, 5, 1), 'l', addi(7, 7, 1), bne(7, 6, 'l'), ebreak()]));
  hart.setX(5, 300n);
  hart.setPc(0x8000_0000n);
  hart.interceptExceptions = 0xffff;
  assert.equal(hart.run(10_000), ExitReason.Exception);
  assert.equal(hart.exitCause, Cause.Breakpoint);
  assert.equal(hart.getX(7), 301n);
  assert.equal(hart.instret, 1 + 2 * 301 + 1); // the ebreak counts, as in the interpreter
});

test('state save/load round-trips through a JIT hart', () => {
  const words = assemble(0x8000_0000, [addi(8, 0, 1000), 'l', add(9, 9, 8), addi(8, 8, -1), bne(8, 0, 'l'), ebreak()]);
  const mk = (jit: boolean): Hart => {
    const mem = new PhysicalMemory();
    mem.addRam(0x8000_0000, 1 << 16);
    load(mem, words);
    const h = new Hart(mem, { jit: jit ? EAGER : false });
    h.setPc(0x8000_0000n);
    h.interceptExceptions = 0xffff;
    return h;
  };
  const a = mk(true);
  a.run(1234);
  const b = mk(false);
  b.loadState(a.saveState());
  const c = mk(true);
  c.loadState(a.saveState());
  for (const h of [a, b, c]) assert.equal(h.run(100_000), ExitReason.Exception);
  assert.equal(a.getX(9), 500500n);
  assert.equal(b.getX(9), 500500n);
  assert.equal(c.getX(9), 500500n);
  assert.equal(a.instret, b.instret);
  assert.equal(a.instret, c.instret);
});
