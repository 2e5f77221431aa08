/**
 * Random RV64GC test programs for the differential tester.
 *
 * A program is a prologue that loads every integer register (except x2), every FP register and
 * fcsr from an init area, a body of random instruction *groups*, and an epilogue that stores all
 * registers and fcsr into a result area that sits right before the scratch memory, then calls
 * write(1, result, STATE_BYTES + SCRATCH_SIZE) and exit(0).
 *
 * Register x2 (sp) is reserved: it always points at the scratch memory (so the sp-relative
 * compressed loads/stores hit it) and is never a destination (c.addi16sp is only generated as a
 * balanced pair inside one group). Register x3 (gp) is reserved too: it points into a read-only
 * constant pool of edge-case values in related pairs (x and -x, x and x+1 ulp, ...) from which
 * "directed" groups load the operands of the instruction under test.
 *
 * Comparing only the final registers would miss most results (a register is typically overwritten
 * a few dozen instructions after being written), so every few groups the generator inserts a
 * *dump* group: it stores the registers written since the previous dump, fcsr and the dump's id
 * into the next 528-byte record of a signature area that x4 (tp, reserved as well) walks through,
 * and usually clears fflags so that each record shows the flags of its own window. The epilogue
 * writes the signature records after the final state.
 *
 * A group is a short sequence that must run as a whole (e.g. `addi base, sp, off` + an AMO on
 * `base`). Control transfers (branches, jumps) are groups of their own and only go forward to the
 * start of a later group, so every program terminates and never lands inside a group.
 *
 * Groups that may change frm are barriers: no control transfer skips over one, so the generator
 * knows the dynamic rounding mode at every instruction and never emits a dynamic-rm instruction
 * while frm holds a reserved value (that would be an illegal instruction).
 */
import * as E from './encode.js';
import type { Insn } from './encode.js';
import { writeElf } from './elf-writer.js';
import { Rng } from './rng.js';
import {
  POOL_DOUBLE,
  POOL_ENTRIES,
  POOL_INT,
  POOL_MISC,
  POOL_SECTION,
  POOL_SINGLE,
  HOT_ENTRIES,
  randomFpReg,
  randomInt,
  randomPool,
  randomScratch,
} from './values.js';

export const LOAD_ADDRESS = 0x10000;
export const PAYLOAD_OFFSET = 0x100;
export const CODE_START = LOAD_ADDRESS + PAYLOAD_OFFSET;
/** Bytes of scratch memory (x2 points at its start). */
export const SCRATCH_SIZE = 1024;
/** x0..x31, f0..f31, fcsr and one pad slot. */
export const STATE_SLOTS = 66;
export const STATE_BYTES = STATE_SLOTS * 8;
/** Bytes the program writes to stdout: the register state followed by the scratch memory. */
export const RESULT_BYTES = STATE_BYTES + SCRATCH_SIZE;
/** Slot index of fcsr in the state area. */
export const FCSR_SLOT = 64;
/** Bytes of the constant pool (after the scratch memory); x3 points 2048 bytes into it. */
export const POOL_BYTES = POOL_ENTRIES * 8;

const PAGE = 4096;
const SP = 2;
const POOL = 3;
const SIG = 4;
const POOL_BIAS = 2048;
/** Bytes of one signature (dump) record: the same layout as the final state. */
export const DUMP_BYTES = STATE_BYTES;
/** Slot of the dump id in a record. */
export const DUMP_ID_SLOT = 65;
/** Group kind of dump groups. */
export const DUMP_KIND = 'dump';

export interface InitState {
  /** x0..x31 (x0 and x2 are ignored). */
  readonly x: readonly bigint[];
  /** f0..f31 raw bits. */
  readonly f: readonly bigint[];
  /** Initial fcsr (frm in bits 7:5, fflags in 4:0). */
  readonly fcsr: number;
  readonly scratch: Uint8Array;
  /** The constant pool (POOL_ENTRIES values). */
  readonly pool: readonly bigint[];
}

export interface Group {
  /** The mnemonic this group was generated for (its "main" instruction). */
  readonly kind: string;
  /** Total size in bytes of the instructions build() returns. */
  readonly size: number;
  /**
   * Builds the instructions. For control-transfer groups `distance` is the target address minus
   * the address of the group's first instruction; otherwise it is 0 and ignored.
   */
  readonly build: (distance: number) => Insn[];
  /** Index of the group a control transfer goes to (== number of groups: the epilogue). */
  target: number | undefined;
  /** May change frm: never skipped over. */
  readonly barrier: boolean;
}

export interface Program {
  readonly seed: number;
  readonly init: InitState;
  readonly groups: readonly Group[];
  /** Group index of each dump id. */
  readonly dumpGroups: readonly number[];
}

export interface PlacedInsn {
  readonly addr: number;
  readonly insn: Insn;
  /** Index of the group in Program.groups (-1 for the prologue and epilogue). */
  readonly group: number;
  /** The kind of that group. */
  readonly kind: string;
}

export interface BuiltProgram {
  readonly elf: Uint8Array;
  readonly entry: number;
  /** Body instructions with their addresses. */
  readonly body: readonly PlacedInsn[];
  readonly prologue: readonly PlacedInsn[];
  readonly epilogue: readonly PlacedInsn[];
  /** Address of the init area, the result (state) area and the scratch memory. */
  readonly initAddr: number;
  readonly resultAddr: number;
  readonly scratchAddr: number;
  readonly poolAddr: number;
  /** The signature area (dump records). */
  readonly sigAddr: number;
  /** End of the loaded image. */
  readonly imageEnd: number;
}

// ---------------------------------------------------------------------------------------------
// The generator

type GenFn = (m: string) => void;
type ValType = 's' | 'd' | 'x';

/** Type of the FP source operands of an OP-FP/FMA instruction ('x' = integer register). */
function fpSourceType(m: string): ValType {
  const info = E.FMA_MNEMONICS.includes(m) ? undefined : E.fpInfo(m);
  if (info && info.shape === 'fx') return 'x';
  const last = m.slice(m.lastIndexOf('.') + 1);
  return last === 'd' ? 'd' : 's';
}

/** Type of the FP result of an instruction writing an FP register. */
function fpResultType(m: string): ValType {
  const parts = m.split('.');
  if (m === 'fmv.w.x') return 's';
  if (m === 'fmv.d.x') return 'd';
  if (parts[0] === 'fcvt') return parts[1] === 'd' ? 'd' : 's';
  return parts[parts.length - 1] === 'd' ? 'd' : 's';
}

const RM_CHOICES = [0, 1, 2, 3, 4, 7, 7, 7] as const;

class Generator {
  readonly groups: Group[] = [];
  /** Body instructions emitted so far. */
  count = 0;
  /** Current frm (statically known thanks to barriers). */
  frm: number;
  /** What each FP register probably holds (a bias for operand choice only). */
  readonly ftype: ValType[];

  constructor(
    readonly rng: Rng,
    initialFrm: number,
    initialF: readonly bigint[] = [],
  ) {
    this.frm = initialFrm;
    this.ftype = Array.from({ length: 32 }, (_, i) => ((initialF[i] ?? 0n) >> 32n === 0xffff_ffffn ? 's' : 'd'));
  }

  // --- register and immediate choices

  /** Integer destination: never x2, sometimes x0. */
  xd(): number {
    if (this.rng.chance(0.04)) return 0;
    return this.xt();
  }

  /** A non-zero register other than the reserved x2, x3 and x4. */
  xt(): number {
    const r = this.rng.range(1, 28);
    return r >= 2 ? r + 3 : r;
  }

  /** Two different temporaries. */
  twoTemps(): readonly [number, number] {
    const a = this.xt();
    let b: number;
    do b = this.xt();
    while (b === a);
    return [a, b];
  }

  /** An FP source register, usually one that holds a value of type t. */
  fsrc(t: ValType): number {
    if (this.rng.chance(0.75)) {
      const candidates: number[] = [];
      for (let i = 0; i < 32; i++) if (this.ftype[i] === t) candidates.push(i);
      if (candidates.length) return this.rng.pick(candidates);
    }
    return this.fr();
  }

  /** A pool entry of a section (sometimes the miscellaneous section instead). */
  poolIndex(section: number): number {
    const s = this.rng.chance(0.1) ? POOL_MISC : section;
    return s * POOL_SECTION + this.rng.int(POOL_SECTION);
  }

  /** A pool entry related to `idx`: its pair partner, itself, or another entry of the section. */
  poolRelated(idx: number, section: number): number {
    const r = this.rng.int(100);
    if (r < 40) return idx ^ 1;
    if (r < 50) return idx;
    return this.poolIndex(section);
  }

  poolLoad(reg: number, idx: number, fp: boolean): Insn {
    return E.load(fp ? 'fld' : 'ld', reg, POOL, idx * 8 - POOL_BIAS);
  }

  /**
   * Source operands for an instruction: either registers as they are, or ("directed") registers
   * freshly loaded from related pool entries. Returns the registers and the loads to put first.
   */
  sources(types: readonly ValType[], directedChance: number): { regs: number[]; setup: Insn[] } {
    const regs: number[] = [];
    const setup: Insn[] = [];
    if (!this.rng.chance(directedChance)) {
      for (const t of types) regs.push(t === 'x' ? this.xs() : this.fsrc(t));
      return { regs, setup };
    }
    let firstIdx = -1;
    let firstType: ValType | undefined;
    // Both (all) operands from the hot values of their sections.
    const hot = this.rng.chance(0.3);
    const used = new Set<string>();
    for (let j = 0; j < types.length; j++) {
      const t = types[j] ?? 'x';
      const section = t === 'x' ? POOL_INT : t === 'd' ? POOL_DOUBLE : POOL_SINGLE;
      // Sometimes use the same register for two operands (x op x).
      if (j > 0 && t === firstType && this.rng.chance(0.08)) {
        regs.push(regs[0] ?? 0);
        continue;
      }
      const idx = hot
        ? section * POOL_SECTION + this.rng.int(HOT_ENTRIES)
        : firstIdx >= 0 && t === firstType
          ? this.poolRelated(firstIdx, section)
          : this.poolIndex(section);
      if (firstIdx < 0) {
        firstIdx = idx;
        firstType = t;
      }
      let reg: number;
      do reg = t === 'x' ? this.xt() : this.fr();
      while (used.has(`${t === 'x' ? 'x' : 'f'}${reg}`));
      used.add(`${t === 'x' ? 'x' : 'f'}${reg}`);
      setup.push(this.poolLoad(reg, idx, t !== 'x'));
      if (t !== 'x') this.ftype[reg] = t;
      regs.push(reg);
    }
    return { regs, setup };
  }

  /** Integer source: any register. */
  xs(): number {
    return this.rng.int(32);
  }

  /** Integer source other than x0. */
  xsNz(): number {
    return this.rng.range(1, 31);
  }

  fr(): number {
    return this.rng.int(32);
  }

  /** x8..x15 / f8..f15 */
  cr(): number {
    return this.rng.range(8, 15);
  }

  imm12(): number {
    const r = this.rng.int(10);
    if (r < 3) return this.rng.pick([0, 1, -1, 2047, -2048, 2, -2, 0x7f0, 0x555, -0x556]);
    if (r < 6) return this.rng.range(-32, 32);
    return this.rng.range(-2048, 2047);
  }

  imm6(nonZero: boolean): number {
    for (;;) {
      const v = this.rng.chance(0.3) ? this.rng.pick([-32, 31, 1, -1, 0]) : this.rng.range(-32, 31);
      if (!nonZero || v !== 0) return v;
    }
  }

  imm20(): number {
    if (this.rng.chance(0.3)) return this.rng.pick([0, 1, 0x80000, 0x7ffff, 0xfffff, 0x80001, 0xffff8]);
    return this.rng.int(0x100000);
  }

  rm(): number {
    const r = this.rng.pick(RM_CHOICES);
    if (r === 7 && this.frm > 4) return this.rng.int(5);
    return r;
  }

  /** An offset in the scratch area for an access of `size` bytes; aligned with probability 0.6. */
  scratchOffset(size: number, alignedOnly = false): number {
    if (alignedOnly || this.rng.chance(0.6)) return size * this.rng.int(Math.floor((SCRATCH_SIZE - size) / size) + 1);
    return this.rng.int(SCRATCH_SIZE - size + 1);
  }

  // --- group creation

  fixed(kind: string, insns: Insn[], barrier = false): void {
    let size = 0;
    for (const i of insns) size += i.size;
    this.push({ kind, size, build: () => insns, target: undefined, barrier });
    this.count += insns.length;
    this.noteWrites(insns);
  }

  /** A control transfer group of `n` instructions that skips 0..maxSkip following groups. */
  jump(kind: string, size: number, n: number, build: (distance: number) => Insn[]): void {
    const skip = this.rng.chance(0.15) ? 0 : this.rng.range(1, 5);
    const target = this.groups.length + 1 + skip;
    this.push({ kind, size, build, target, barrier: false });
    this.count += n;
    this.noteWrites(build(0)); // the destinations do not depend on the distance
  }

  // --- dumps

  /** Registers written since the last dump. */
  private readonly writtenX = new Set<number>();
  private readonly writtenF = new Set<number>();
  readonly dumpGroups: number[] = [];

  private noteWrites(insns: readonly Insn[]): void {
    for (const i of insns) {
      const d = destination(i);
      if (d === undefined) continue;
      if (d.fp) this.writtenF.add(d.reg);
      else this.writtenX.add(d.reg);
    }
  }

  /** A dump group: registers written since the last dump, fcsr and the id into the next record. */
  dump(): void {
    const id = this.dumpGroups.length;
    if (id > 2047) throw new Error('too many dumps');
    const insns: Insn[] = [E.store('sd', 1, SIG, 8)];
    for (const r of [...this.writtenX].sort((a, b) => a - b)) if (r > SIG) insns.push(E.store('sd', r, SIG, 8 * r));
    for (const r of [...this.writtenF].sort((a, b) => a - b)) insns.push(E.store('fsd', r, SIG, 256 + 8 * r));
    insns.push(E.csrOp('csrrs', 1, 3, 0), E.store('sd', 1, SIG, 8 * FCSR_SLOT));
    if (this.rng.chance(0.7)) insns.push(E.csrOp('csrrci', 0, 1, 31));
    insns.push(E.iOp('addi', 1, 0, id), E.store('sd', 1, SIG, 8 * DUMP_ID_SLOT), E.load('ld', 1, SIG, 8));
    insns.push(E.iOp('addi', SIG, SIG, DUMP_BYTES));
    let size = 0;
    for (const i of insns) size += i.size;
    this.dumpGroups.push(this.groups.length);
    this.push({ kind: DUMP_KIND, size, build: () => insns, target: undefined, barrier: false });
    this.writtenX.clear();
    this.writtenF.clear();
  }

  private push(g: Group): void {
    if (g.barrier) {
      const j = this.groups.length;
      for (const prev of this.groups) if (prev.target !== undefined && prev.target > j) prev.target = j;
    }
    this.groups.push(g);
  }

  /** Instructions setting register rt to the 32-bit signed value v. */
  li32(rt: number, v: number): Insn[] {
    if (v >= -2048 && v < 2048) return [E.iOp('addi', rt, 0, v)];
    const hi = ((v + 0x800) >> 12) & 0xfffff;
    const lo = v - ((hi << 12) | 0);
    const loS = ((lo + 0x800) & 0xfff) - 0x800;
    return [E.lui(rt, hi), E.iOp('addiw', rt, rt, loS)];
  }

  /** A random integer ALU instruction that does not write register `avoid` (or x2). */
  aluAvoiding(avoid: number): Insn {
    let rd: number;
    do rd = this.xd();
    while (rd === avoid);
    if (this.rng.chance(0.5)) return E.rOp(this.rng.pick(E.R_MNEMONICS), rd, this.xs(), this.xs());
    return E.iOp(this.rng.pick(E.I_MNEMONICS), rd, this.xs(), this.imm12());
  }

  // --- per-class generators

  readonly table: ReadonlyArray<readonly [string, GenFn]> = this.makeTable();

  private makeTable(): Array<[string, GenFn]> {
    const t: Array<[string, GenFn]> = [];
    const add = (names: readonly string[], f: GenFn): void => {
      for (const n of names) t.push([n, f]);
    };
    add(E.R_MNEMONICS, (m) => {
      const { regs, setup } = this.sources(['x', 'x'], 0.4);
      const rs1 = regs[0] ?? 0;
      const rs2 = setup.length === 0 && this.rng.chance(0.1) ? rs1 : (regs[1] ?? 0);
      this.fixed(m, [...setup, E.rOp(m, this.xd(), rs1, rs2)]);
    });
    add(E.I_MNEMONICS, (m) => {
      const { regs, setup } = this.sources(['x'], 0.3);
      this.fixed(m, [...setup, E.iOp(m, this.xd(), regs[0] ?? 0, this.imm12())]);
    });
    add(E.SHIFT_MNEMONICS, (m) => {
      const max = m.endsWith('w') ? 31 : 63;
      const sh = this.rng.chance(0.3) ? this.rng.pick([0, 1, max, max - 1, 31, 32].filter((v) => v <= max)) : this.rng.int(max + 1);
      const { regs, setup } = this.sources(['x'], 0.3);
      this.fixed(m, [...setup, E.shiftOp(m, this.xd(), regs[0] ?? 0, sh)]);
    });
    add(['lui'], () => this.fixed('lui', [E.lui(this.xd(), this.imm20())]));
    add(['auipc'], () => this.fixed('auipc', [E.auipc(this.xd(), this.imm20())]));
    add(E.BRANCH_MNEMONICS, (m) => {
      const { regs, setup } = this.sources(['x', 'x'], 0.3);
      if (setup.length) {
        const [a, b] = [regs[0] ?? 0, regs[1] ?? 0];
        const n = setup.length;
        this.jump(m, 4 * n + 4, n + 1, (d) => [...setup, E.branch(m, a, b, d - 4 * n)]);
        return;
      }
      const rs1 = this.xs();
      const rs2 = this.rng.chance(0.2) ? rs1 : this.rng.chance(0.1) ? 0 : this.xs();
      this.jump(m, 4, 1, (d) => [E.branch(m, rs1, rs2, d)]);
    });
    add(['jal'], () => {
      const rd = this.xd();
      this.jump('jal', 4, 1, (d) => [E.jal(rd, d)]);
    });
    add(['jalr'], () => {
      const rt = this.xt();
      const rd = this.rng.chance(0.2) ? rt : this.xd();
      const lsb = this.rng.chance(0.3) ? 1 : 0;
      if (this.rng.chance(0.5)) {
        this.jump('jalr', 8, 2, (d) => [E.auipc(rt, 0), E.jalr(rd, rt, d + lsb)]);
      } else {
        const k = this.rng.range(-1800, 1800);
        this.jump('jalr', 12, 3, (d) => [E.auipc(rt, 0), E.iOp('addi', rt, rt, d + k), E.jalr(rd, rt, -k + lsb)]);
      }
    });
    add(E.LOAD_MNEMONICS, (m) => this.genLoadStore(m, true));
    add(E.STORE_MNEMONICS, (m) => this.genLoadStore(m, false));
    add(['fence'], () => this.fixed('fence', [E.fence(this.rng.range(1, 15), this.rng.range(1, 15))]));
    add(['fence.tso'], () => this.fixed('fence.tso', [E.fenceTso()]));
    add(['pause'], () => this.fixed('pause', [E.pause()]));
    add(['fence.i'], () => {
      if (this.rng.chance(0.5)) {
        this.fixed('fence.i', [E.fenceI()]);
        return;
      }
      // Self-modifying code: overwrite an instruction a few bytes ahead, fence.i, execute it.
      //   auipc rt, 0; lui rv, hi; addiw rv, rv, lo; sw rv, 20(rt); fence.i; <slot>
      const [rt, rv] = this.twoTemps();
      const replacement = this.rng.chance(0.5)
        ? E.rOp(this.rng.pick(E.R_MNEMONICS), this.xd(), this.xs(), this.xs())
        : E.iOp(this.rng.pick(E.I_MNEMONICS), this.xd(), this.xs(), this.imm12());
      const orig = this.rng.chance(0.5) ? E.iOp('addi', 0, 0, 0) : E.iOp('addi', this.xd(), this.xs(), this.imm12());
      const original: Insn = { ...orig, text: `${orig.text}    # overwritten with: ${replacement.text}` };
      const v = replacement.bits | 0;
      const hi = ((v + 0x800) >> 12) & 0xfffff;
      const lo = ((v - (hi << 12) + 0x800) & 0xfff) - 0x800;
      this.fixed('fence.i', [E.auipc(rt, 0), E.lui(rv, hi), E.iOp('addiw', rv, rv, lo), E.store('sw', rv, rt, 20), E.fenceI(), original]);
      this.noteWrites([replacement]);
    });
    add(E.AMO_MNEMONICS, (m) => {
      const size = m.endsWith('.w') ? 4 : 8;
      const rb = this.xt();
      const off = this.scratchOffset(size, true);
      const rd = this.xd();
      let rs2 = this.rng.chance(0.1) ? rb : this.xs();
      const setup: Insn[] = [];
      if (this.rng.chance(0.4)) {
        do rs2 = this.xt();
        while (rs2 === rb);
        setup.push(this.poolLoad(rs2, this.poolIndex(POOL_INT), false));
      }
      this.fixed(m, [...setup, E.iOp('addi', rb, SP, off), E.amo(m, rd, rs2, rb, this.rng.chance(0.3), this.rng.chance(0.3))]);
    });
    add(['lr.w', 'lr.d', 'sc.w', 'sc.d'], (m) => this.genLrSc(m));
    add(E.FP_MNEMONICS, (m) => this.genFp(m));
    add(E.FMA_MNEMONICS, (m) => {
      const t = fpSourceType(m);
      const { regs, setup } = this.sources([t, t, t], 0.5);
      const rd = this.fr();
      this.fixed(m, [...setup, E.fma(m, rd, regs[0] ?? 0, regs[1] ?? 0, regs[2] ?? 0, this.rm())]);
      this.ftype[rd] = t;
    });
    add(E.CSR_MNEMONICS, (m) => this.genCsr(m));
    this.addCompressed(add);
    return t;
  }

  private genLoadStore(m: string, isLoad: boolean): void {
    const size = E.ACCESS_SIZE[m] ?? 8;
    const fp = E.isFpLoadStore(m);
    const addr = this.scratchOffset(size);
    const r = fp ? (isLoad ? this.fr() : this.fsrc(m === 'fsw' ? 's' : 'd')) : isLoad ? this.xd() : this.xs();
    if (fp && isLoad) this.ftype[r] = m === 'flw' ? 's' : 'd';
    const make = (base: number, off: number): Insn => (isLoad ? E.load(m, r, base, off) : E.store(m, r, base, off));
    if (this.rng.chance(0.4)) {
      this.fixed(m, [make(SP, addr)]);
      return;
    }
    let rb: number;
    do rb = this.xt();
    while (!isLoad && !fp && rb === r && this.rng.chance(0.5));
    const off = this.rng.chance(0.2) ? this.rng.pick([-2048, 2047 - size]) : this.rng.range(-600, 600);
    const base = addr - off;
    if (base < -2048 || base > 2047) {
      this.fixed(m, [make(SP, addr)]);
      return;
    }
    this.fixed(m, [E.iOp('addi', rb, SP, base), make(rb, off)]);
  }

  private genLrSc(m: string): void {
    const w = m.endsWith('.w') ? 'w' : 'd';
    const size = w === 'w' ? 4 : 8;
    const rb = this.xt();
    const off = this.scratchOffset(size, true);
    const setup = E.iOp('addi', rb, SP, off);
    const aq = (): boolean => this.rng.chance(0.3);
    if (m.startsWith('sc')) {
      // A store-conditional without a reservation (any earlier SC cleared it): must fail.
      this.fixed(m, [setup, E.sc(m, this.xd(), this.xs(), rb, aq(), aq())]);
      return;
    }
    let rd: number;
    do rd = this.xd();
    while (rd === rb);
    const insns: Insn[] = [setup, E.lr(`lr.${w}`, rd, rb, aq(), aq())];
    const between = this.rng.int(3);
    for (let i = 0; i < between; i++) insns.push(this.aluAvoiding(rb));
    const variant = this.rng.int(100);
    if (variant < 15) {
      // SC to another address (at least 64 bytes away, outside any reservation set): must fail.
      let other: number;
      do other = this.scratchOffset(size, true);
      while (Math.abs(other - off) < 64);
      let rb2: number;
      do rb2 = this.xt();
      while (rb2 === rb);
      insns.push(E.iOp('addi', rb2, SP, other), E.sc(`sc.${w}`, this.xd(), this.xs(), rb2, aq(), aq()));
    } else {
      let scRd = this.xd();
      // A second SC to the same address: the first one cleared the reservation, so it must fail.
      const again = variant < 40;
      while (again && scRd === rb) scRd = this.xd();
      insns.push(E.sc(`sc.${w}`, scRd, this.xs(), rb, aq(), aq()));
      if (again) insns.push(E.sc(`sc.${w}`, this.xd(), this.xs(), rb, aq(), aq()));
    }
    this.fixed(m, insns);
  }

  private genFp(m: string): void {
    const info = E.fpInfo(m);
    const rm = info.f3 === undefined ? this.rm() : 7;
    const t = fpSourceType(m);
    const binary = info.shape === 'fff' || info.shape === 'xff';
    const { regs, setup } = this.sources(binary ? [t, t] : [t], 0.5);
    const rs1 = regs[0] ?? 0;
    const rs2 = regs[1] ?? 0;
    const fDest = info.shape[0] === 'f';
    const rd = fDest ? this.fr() : this.xd();
    this.fixed(m, [...setup, E.fpOp(m, rd, rs1, rs2, rm)]);
    if (fDest) this.ftype[rd] = fpResultType(m);
  }

  private genCsr(m: string): void {
    const csr = this.rng.pick([1, 2, 3]);
    const imm = m.endsWith('i');
    const op = m[4]; // 'w' | 's' | 'c'
    const rd = this.xd();
    if (csr === 1) {
      // fflags: any value, frm is not affected.
      this.fixed(m, [E.csrOp(m, rd, 1, imm ? this.rng.int(32) : this.xs())]);
      return;
    }
    let v = 0;
    let newFrm = this.frm;
    let useX0 = false;
    for (let attempt = 0; attempt < 8; attempt++) {
      useX0 = !imm && op !== 'w' && this.rng.chance(0.1);
      if (useX0) v = 0;
      else if (imm) v = this.rng.int(32);
      else if (this.rng.chance(0.5)) v = this.rng.range(-2048, 2047);
      else v = this.rng.u32() | 0;
      const field = csr === 2 ? v & 7 : (v >> 5) & 7;
      newFrm = op === 'w' ? field : op === 's' ? this.frm | field : this.frm & ~field & 7;
      if (newFrm <= 4 || this.rng.chance(0.2)) break;
    }
    const insns: Insn[] = [];
    if (imm) {
      insns.push(E.csrOp(m, rd, csr, v));
    } else if (useX0) {
      insns.push(E.csrOp(m, rd, csr, 0));
    } else {
      const rt = this.xt();
      insns.push(...this.li32(rt, v), E.csrOp(m, rd, csr, rt));
    }
    this.fixed(m, insns, true);
    this.frm = newFrm;
  }

  private addCompressed(add: (names: readonly string[], f: GenFn) => void): void {
    const xdc = (): number => this.xt(); // rd != x0, x2
    add(['c.addi4spn'], () => this.fixed('c.addi4spn', [E.cAddi4spn(this.cr(), 4 * this.rng.range(1, 255))]));
    add(E.C_MEM_MNEMONICS, (m) => {
      const size = m === 'c.lw' || m === 'c.sw' ? 4 : 8;
      const maxOff = size === 4 ? 124 : 248;
      const off = size * this.rng.int(maxOff / size + 1);
      const addr = this.scratchOffset(size);
      const base = addr - off;
      const rb = this.cr();
      const r = this.cr();
      const setup =
        base > 0 && base % 4 === 0 && this.rng.chance(0.5) ? E.cAddi4spn(rb, base) : E.iOp('addi', rb, SP, base);
      this.fixed(m, [setup, E.cMem(m, r, rb, off)]);
    });
    // RVC HINTs (rd = x0 and similar): legal, no architectural effect; 8% of these mnemonics.
    const hint = (m: E.CHintKind, rd: number, v: number): boolean => {
      if (!this.rng.chance(0.08)) return false;
      this.fixed(m, [E.cHint(m, rd, v)]);
      return true;
    };
    add(['c.nop'], () => hint('c.nop', 0, this.imm6(true)) || this.fixed('c.nop', [E.cNop()]));
    add(['c.addi'], () => hint('c.addi', xdc(), 0) || this.fixed('c.addi', [E.cAddi(xdc(), this.imm6(true))]));
    add(['c.addiw'], () => this.fixed('c.addiw', [E.cAddiw(xdc(), this.imm6(false))]));
    add(['c.li'], () => hint('c.li', 0, this.imm6(false)) || this.fixed('c.li', [E.cLi(xdc(), this.imm6(false))]));
    add(['c.lui'], () => hint('c.lui', 0, this.imm6(true)) || this.fixed('c.lui', [E.cLui(xdc(), this.imm6(true))]));
    add(['c.addi16sp'], () => this.genAddi16sp());
    add(['c.srli', 'c.srai'], (m) => {
      if (hint(m === 'c.srli' ? 'c.srli' : 'c.srai', this.cr(), 0)) return;
      const sh = this.rng.chance(0.3) ? this.rng.pick([1, 31, 32, 63]) : this.rng.range(1, 63);
      this.fixed(m, [E.cShiftRight(m === 'c.srli' ? 'c.srli' : 'c.srai', this.cr(), sh)]);
    });
    add(['c.andi'], () => this.fixed('c.andi', [E.cAndi(this.cr(), this.imm6(false))]));
    add(E.CA_MNEMONICS, (m) => this.fixed(m, [E.cArith(m, this.cr(), this.cr())]));
    add(['c.slli'], () => hint('c.slli', this.rng.chance(0.5) ? 0 : xdc(), this.rng.chance(0.5) ? 0 : this.rng.range(1, 63)) || this.fixed('c.slli', [E.cSlli(xdc(), this.rng.range(1, 63))]));
    add(['c.j'], () => this.jump('c.j', 2, 1, (d) => [E.cJ(d)]));
    add(['c.beqz', 'c.bnez'], (m) => {
      const mm = m === 'c.beqz' ? 'c.beqz' : 'c.bnez';
      const r = this.cr();
      if (this.rng.chance(0.4)) {
        const v = this.rng.pick([0, 0, 1, -1]);
        this.jump(m, 4, 2, (d) => [E.cLi(r, v), E.cBranch(mm, r, d - 2)]);
      } else {
        this.jump(m, 2, 1, (d) => [E.cBranch(mm, r, d)]);
      }
    });
    add(['c.lwsp', 'c.ldsp', 'c.fldsp'], (m) => {
      const mm = m === 'c.lwsp' ? 'c.lwsp' : m === 'c.ldsp' ? 'c.ldsp' : 'c.fldsp';
      const size = mm === 'c.lwsp' ? 4 : 8;
      const off = size * this.rng.int((size === 4 ? 252 : 504) / size + 1);
      this.fixed(m, [E.cLoadSp(mm, mm === 'c.fldsp' ? this.fr() : xdc(), off)]);
    });
    add(['c.swsp', 'c.sdsp', 'c.fsdsp'], (m) => {
      const mm = m === 'c.swsp' ? 'c.swsp' : m === 'c.sdsp' ? 'c.sdsp' : 'c.fsdsp';
      const size = mm === 'c.swsp' ? 4 : 8;
      const off = size * this.rng.int((size === 4 ? 252 : 504) / size + 1);
      this.fixed(m, [E.cStoreSp(mm, mm === 'c.fsdsp' ? this.fr() : this.xs(), off)]);
    });
    add(['c.jr', 'c.jalr'], (m) => {
      const mm = m === 'c.jr' ? 'c.jr' : 'c.jalr';
      const rt = mm === 'c.jalr' && this.rng.chance(0.2) ? 1 : this.xt();
      this.jump(m, 10, 3, (d) => [E.auipc(rt, 0), E.iOp('addi', rt, rt, d), E.cJr(mm, rt)]);
    });
    add(['c.mv', 'c.add'], (m) => {
      const mm = m === 'c.mv' ? 'c.mv' : 'c.add';
      if (!hint(mm, 0, this.xsNz())) this.fixed(m, [E.cMvAdd(mm, xdc(), this.xsNz())]);
    });
  }

  /** c.addi16sp sp, imm; [an sp-relative access]; c.addi16sp sp, -imm */
  private genAddi16sp(): void {
    const inner = this.rng.pick(['c.ldsp', 'c.lwsp', 'c.sdsp', 'c.swsp', 'c.fldsp', 'c.fsdsp', 'c.addi4spn', 'none'] as const);
    const size = inner === 'c.lwsp' || inner === 'c.swsp' ? 4 : 8;
    let off = 0;
    let insn: Insn | undefined;
    if (inner === 'c.addi4spn') {
      insn = E.cAddi4spn(this.cr(), 4 * this.rng.range(1, 255));
    } else if (inner !== 'none') {
      off = size * this.rng.int((size === 4 ? 252 : 504) / size + 1);
      if (inner === 'c.ldsp' || inner === 'c.lwsp') insn = E.cLoadSp(inner, this.xt(), off);
      else if (inner === 'c.fldsp') insn = E.cLoadSp(inner, this.fr(), off);
      else if (inner === 'c.fsdsp') insn = E.cStoreSp(inner, this.fr(), off);
      else insn = E.cStoreSp(inner, this.xs(), off);
    }
    // The access lands at scratch + imm + off, which must stay inside the scratch area.
    const lo = insn && inner !== 'c.addi4spn' ? Math.max(-496, -off) : -496;
    const hi = insn && inner !== 'c.addi4spn' ? Math.min(496, SCRATCH_SIZE - size - off) : 496;
    let imm: number;
    do imm = 16 * this.rng.range(Math.ceil(lo / 16), Math.floor(hi / 16));
    while (imm === 0);
    const insns = [E.cAddi16sp(imm)];
    if (insn) insns.push(insn);
    insns.push(E.cAddi16sp(-imm));
    this.fixed('c.addi16sp', insns);
  }
}

const NO_DEST = /^(s[bhwd]|fs[wd]|c\.s[wd]|c\.fs[wd]|c\.s[wd]sp|c\.fs[wd]sp|b(eq|ne|lt|ge|ltu|geu)|c\.b(eq|ne)z|c\.j|c\.jr|c\.nop|fence|fence\.i|ecall)$/;

/** The register an instruction writes (from its text), if any. */
export function destination(insn: Insn): { fp: boolean; reg: number } | undefined {
  const m = insn.mnemonic;
  if (NO_DEST.test(m)) return undefined;
  if (m === 'c.jalr') return { fp: false, reg: 1 };
  if (m === 'c.addi16sp') return { fp: false, reg: SP };
  const op = /^\S+ ([xf])(\d+)/.exec(insn.text);
  if (!op) return undefined;
  return { fp: op[1] === 'f', reg: Number(op[2]) };
}

/** Every mnemonic the generator can emit in a program body. */
export const ALL_MNEMONICS: readonly string[] = (() => {
  const g = new Generator(new Rng(0), 0);
  const s = new Set<string>(g.table.map(([m]) => m));
  // Emitted only as parts of groups generated for other mnemonics.
  for (const m of ['addi', 'auipc', 'lui', 'addiw']) s.add(m);
  return [...s].sort();
})();

export interface GenerateOptions {
  /** Number of body instructions (at least). */
  readonly length: number;
}

/** Generates a program from a seed. */
export function generateProgram(seed: number, options: GenerateOptions): Program {
  const rng = new Rng(seed);
  const pool = randomPool(rng);
  const fromPool = (section: number): bigint => pool[section * POOL_SECTION + rng.int(POOL_SECTION)] ?? 0n;
  const x: bigint[] = [];
  const f: bigint[] = [];
  for (let i = 0; i < 32; i++) {
    x.push(i === 0 || i === SP || i === POOL ? 0n : rng.chance(0.5) ? fromPool(POOL_INT) : randomInt(rng));
  }
  for (let i = 0; i < 32; i++) f.push(rng.chance(0.5) ? fromPool(rng.chance(0.5) ? POOL_DOUBLE : POOL_SINGLE) : randomFpReg(rng));
  const frm = rng.chance(0.05) ? rng.range(5, 7) : rng.int(5);
  const fcsr = (frm << 5) | rng.int(32);
  const scratch = randomScratch(rng, SCRATCH_SIZE);
  const sdv = new DataView(scratch.buffer);
  for (let i = 0; i < SCRATCH_SIZE; i += 8) if (rng.chance(0.3)) sdv.setBigUint64(i, fromPool(rng.int(4)), true);
  const gen = new Generator(rng, frm, f);
  const table = gen.table;
  let untilDump = rng.range(1, 5);
  while (gen.count < options.length) {
    const [m, fnc] = rng.pick(table);
    fnc(m);
    if (--untilDump === 0) {
      gen.dump();
      untilDump = rng.range(1, 5);
    }
  }
  gen.dump();
  for (const g of gen.groups) if (g.target !== undefined && g.target > gen.groups.length) g.target = gen.groups.length;
  return { seed, init: { x, f, fcsr, scratch, pool }, groups: gen.groups, dumpGroups: gen.dumpGroups };
}

// ---------------------------------------------------------------------------------------------
// Layout

function splitPcRel(off: number): readonly [number, number] {
  const hi = (off + 0x800) >> 12;
  const lo = off - hi * 4096;
  return [hi & 0xfffff, lo];
}

function placeAll(start: number, insns: readonly Insn[], group: number, kind: string): PlacedInsn[] {
  const out: PlacedInsn[] = [];
  let a = start;
  for (const insn of insns) {
    out.push({ addr: a, insn, group, kind });
    a += insn.size;
  }
  return out;
}

function prologue(initOffsetFromStart: number): Insn[] {
  const [hi, lo] = splitPcRel(initOffsetFromStart);
  const p: Insn[] = [E.auipc(SP, hi), E.iOp('addi', SP, SP, lo)];
  for (let i = 1; i < 32; i++) if (i !== SP && i !== POOL && i !== SIG) p.push(E.load('ld', i, SP, 8 * i));
  for (let i = 0; i < 32; i++) p.push(E.load('fld', i, SP, 256 + 8 * i));
  p.push(E.load('ld', 1, SP, 8 * FCSR_SLOT), E.csrOp('csrrw', 0, 3, 1), E.load('ld', 1, SP, 8));
  p.push(E.iOp('addi', SP, SP, 2 * STATE_BYTES)); // init area + result area -> scratch
  // pool + POOL_BIAS = scratch + SCRATCH_SIZE + POOL_BIAS
  const poolOff = SCRATCH_SIZE + POOL_BIAS;
  p.push(E.iOp('addi', POOL, SP, poolOff >> 1), E.iOp('addi', POOL, POOL, poolOff - (poolOff >> 1)));
  // The signature area follows the pool.
  const sigOff = POOL_BYTES - POOL_BIAS;
  p.push(E.iOp('addi', SIG, POOL, sigOff >> 1), E.iOp('addi', SIG, SIG, sigOff - (sigOff >> 1)));
  return p;
}

const PROLOGUE_INSNS = prologue(0).length;

function epilogue(): Insn[] {
  const base = -STATE_BYTES;
  const e: Insn[] = [];
  for (let i = 0; i < 32; i++) e.push(E.store('sd', i, SP, base + 8 * i));
  for (let i = 0; i < 32; i++) e.push(E.store('fsd', i, SP, base + 256 + 8 * i));
  e.push(E.csrOp('csrrs', 1, 3, 0), E.store('sd', 1, SP, base + 8 * FCSR_SLOT));
  e.push(E.iOp('addi', 10, 0, 1), E.iOp('addi', 11, SP, base), E.iOp('addi', 12, 0, RESULT_BYTES), E.iOp('addi', 17, 0, 64));
  e.push(E.ecall());
  // write(1, signature area, x4 - signature area)
  const sigOff = POOL_BYTES - POOL_BIAS;
  e.push(E.iOp('addi', 11, POOL, sigOff >> 1), E.iOp('addi', 11, 11, sigOff - (sigOff >> 1)), E.rOp('sub', 12, SIG, 11));
  e.push(E.iOp('addi', 10, 0, 1), E.iOp('addi', 17, 0, 64), E.ecall());
  e.push(E.iOp('addi', 10, 0, 0), E.iOp('addi', 17, 0, 93), E.ecall());
  return e;
}

/**
 * Lays out a program (optionally only the groups with keep[i] true; control transfers whose target
 * was dropped go to the next kept group) and writes the ELF.
 */
export function buildProgram(p: Program, keep?: readonly boolean[]): BuiltProgram {
  const n = p.groups.length;
  const kept = (i: number): boolean => keep === undefined || keep[i] === true;
  // Start address of every group (dropped groups get the address of the next kept one).
  const bodyStart = CODE_START + PROLOGUE_INSNS * 4;
  const addrs = new Array<number>(n + 1);
  let a = bodyStart;
  for (let i = 0; i < n; i++) {
    addrs[i] = a;
    const g = p.groups[i];
    if (g && kept(i)) a += g.size;
  }
  addrs[n] = a;
  const epiInsns = epilogue();
  let codeEnd = a;
  for (const i of epiInsns) codeEnd += i.size;
  // Place the scratch memory so that a page boundary falls inside it (256..640 bytes in), so
  // misaligned accesses and AMOs near it cross pages.
  const minScratch = ((codeEnd + 15) & ~15) + 2 * STATE_BYTES;
  const boundaryAt = 256 + (Math.abs(p.seed) % 4) * 128;
  const scratchAddr = minScratch + ((PAGE - ((minScratch + boundaryAt) % PAGE)) % PAGE);
  const resultAddr = scratchAddr - STATE_BYTES;
  const initAddr = resultAddr - STATE_BYTES;
  const poolAddr = scratchAddr + SCRATCH_SIZE;
  const sigAddr = poolAddr + POOL_BYTES;
  const sigSize = (p.dumpGroups.length + 1) * DUMP_BYTES;
  const imageEnd = sigAddr + sigSize;

  const pro = placeAll(CODE_START, prologue(initAddr - CODE_START), -1, 'prologue');
  const body: PlacedInsn[] = [];
  for (let i = 0; i < n; i++) {
    const g = p.groups[i];
    if (!g || !kept(i)) continue;
    const start = addrs[i] ?? 0;
    const distance = g.target === undefined ? 0 : (addrs[Math.min(g.target, n)] ?? 0) - start;
    const insns = g.build(distance);
    let size = 0;
    for (const ins of insns) size += ins.size;
    if (size !== g.size) throw new Error(`group ${i} (${g.kind}): size ${size} != declared ${g.size}`);
    body.push(...placeAll(start, insns, i, g.kind));
  }
  const epi = placeAll(a, epiInsns, -1, 'epilogue');

  const payload = new Uint8Array(sigAddr - CODE_START);
  const put = (list: readonly PlacedInsn[]): void => {
    for (const pi of list) payload.set(E.assemble([pi.insn]), pi.addr - CODE_START);
  };
  put(pro);
  put(body);
  put(epi);
  const dv = new DataView(payload.buffer);
  const initOff = initAddr - CODE_START;
  for (let i = 0; i < 32; i++) dv.setBigUint64(initOff + 8 * i, p.init.x[i] ?? 0n, true);
  for (let i = 0; i < 32; i++) dv.setBigUint64(initOff + 256 + 8 * i, p.init.f[i] ?? 0n, true);
  dv.setBigUint64(initOff + 8 * FCSR_SLOT, BigInt(p.init.fcsr), true);
  payload.set(p.init.scratch, scratchAddr - CODE_START);
  for (let i = 0; i < POOL_ENTRIES; i++) dv.setBigUint64(poolAddr - CODE_START + 8 * i, p.init.pool[i] ?? 0n, true);

  const elf = writeElf({ loadAddress: LOAD_ADDRESS, payloadOffset: PAYLOAD_OFFSET, payload, entry: CODE_START, bssSize: sigSize });
  return { elf, entry: CODE_START, body, prologue: pro, epilogue: epi, initAddr, resultAddr, scratchAddr, poolAddr, sigAddr, imageEnd };
}

/** For loads from the constant pool: the value loaded, as a listing comment. */
export function poolComment(p: Program, insn: Insn): string {
  const m = /^f?ld [xf]\d+, (-?\d+)\(x3\)$/.exec(insn.text);
  if (!m) return '';
  const v = p.init.pool[(Number(m[1]) + POOL_BIAS) / 8];
  return v === undefined ? '' : `    # = 0x${v.toString(16).padStart(16, '0')}`;
}

/** Listing lines of some placed instructions; dump groups are shown as one summary line. */
export function listing(insns: readonly PlacedInsn[], p?: Program, groupMarks = true): string[] {
  const lines: string[] = [];
  let last = -2;
  for (let k = 0; k < insns.length; k++) {
    const pi = insns[k];
    if (!pi) continue;
    const first = pi.group !== last;
    last = pi.group;
    const mark = groupMarks ? (first ? `g${pi.group}`.padStart(6) : '      ') : '';
    if (pi.kind === DUMP_KIND) {
      if (!first) continue;
      const regs: string[] = [];
      let id = -1;
      for (let j = k; j < insns.length && insns[j]?.group === pi.group; j++) {
        const t = insns[j]?.insn.text ?? '';
        const st = /^f?sd ([xf]\d+), (\d+)\(x4\)$/.exec(t);
        if (st && st[1] && Number(st[2]) < 8 * FCSR_SLOT) regs.push(st[1]);
        const idm = /^addi x1, x0, (\d+)$/.exec(t);
        if (idm) id = Number(idm[1]);
      }
      lines.push(`${mark}  0x${pi.addr.toString(16)}: ---- dump #${id}: ${regs.join(' ')} fcsr ----`);
      continue;
    }
    lines.push(`${mark}${E.listingLine(pi.addr, pi.insn)}${p ? poolComment(p, pi.insn) : ''}`);
  }
  return lines;
}

/** A listing of the body (with group boundaries), e.g. for mismatch reports. */
export function bodyListing(b: BuiltProgram, p?: Program): string[] {
  return listing(b.body, p);
}

/** Counts of every mnemonic emitted in the body (dump groups excluded). */
export function countMnemonics(b: BuiltProgram, into: Map<string, number> = new Map()): Map<string, number> {
  for (const pi of b.body) if (pi.kind !== DUMP_KIND) into.set(pi.insn.mnemonic, (into.get(pi.insn.mnemonic) ?? 0) + 1);
  return into;
}

/** Number of body instructions outside dump groups. */
export function testInstructionCount(b: BuiltProgram): number {
  let n = 0;
  for (const pi of b.body) if (pi.kind !== DUMP_KIND) n++;
  return n;
}
