/**
 * A small RV64GC instruction encoder for the differential tester.
 *
 * Every function returns an {@link Insn}: the encoding plus an assembler-syntax text (GNU `as`
 * compatible, with `x`/`f` register names and `.+N` branch targets) used for listings and for the
 * encoder's own unit test against riscv64-unknown-elf-as.
 *
 * The encoder checks operand ranges and throws on anything that does not encode, so a generator bug
 * shows up as an exception instead of as a silently different program.
 */

export interface Insn {
  /** The mnemonic, e.g. `add`, `c.addi`, `fadd.d`, `amoadd.w`. */
  readonly mnemonic: string;
  /** Assembler text, e.g. `fadd.d f1, f2, f3, rtz`. */
  readonly text: string;
  /** 2 for compressed instructions, 4 otherwise. */
  readonly size: 2 | 4;
  /** The encoding (unsigned; 16 bits for compressed instructions). */
  readonly bits: number;
}

export class EncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

// ---------------------------------------------------------------------------------------------
// Operand helpers

export const xn = (r: number): string => `x${r}`;
export const fn = (r: number): string => `f${r}`;

/** Rounding-mode names as GNU as spells them (5 and 6 are reserved). */
export const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm', 'rm5', 'rm6', 'dyn'] as const;

function checkReg(r: number, what: string): void {
  if (!Number.isInteger(r) || r < 0 || r > 31) throw new EncodeError(`${what}: bad register ${r}`);
}

function checkSigned(v: number, bits: number, what: string): void {
  const lim = 2 ** (bits - 1);
  if (!Number.isInteger(v) || v < -lim || v >= lim) throw new EncodeError(`${what}: ${v} does not fit ${bits} signed bits`);
}

function checkUnsigned(v: number, bits: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new EncodeError(`${what}: ${v} does not fit ${bits} unsigned bits`);
}

function checkMultiple(v: number, m: number, what: string): void {
  if (v % m !== 0) throw new EncodeError(`${what}: ${v} is not a multiple of ${m}`);
}

function checkRm(rm: number, what: string): void {
  if (!Number.isInteger(rm) || rm < 0 || rm > 7) throw new EncodeError(`${what}: bad rounding mode ${rm}`);
}

/** A register of the compressed 3-bit set x8..x15 / f8..f15. */
function creg(r: number, what: string): number {
  if (!Number.isInteger(r) || r < 8 || r > 15) throw new EncodeError(`${what}: register ${r} not in x8..x15`);
  return r - 8;
}

const u32 = (v: number): number => v >>> 0;

function rel(off: number): string {
  return off >= 0 ? `.+${off}` : `.${off}`;
}

function hex(v: number): string {
  return v < 0 ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

function mk(mnemonic: string, text: string, bits: number): Insn {
  return { mnemonic, text, size: 4, bits: u32(bits) };
}

function mkc(mnemonic: string, text: string, bits: number): Insn {
  return { mnemonic, text, size: 2, bits: bits & 0xffff };
}

// ---------------------------------------------------------------------------------------------
// Base formats

function rFormat(opcode: number, f3: number, f7: number, rd: number, rs1: number, rs2: number): number {
  return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode;
}

function iFormat(opcode: number, f3: number, rd: number, rs1: number, imm: number): number {
  return ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode;
}

function sFormat(opcode: number, f3: number, rs1: number, rs2: number, imm: number): number {
  return (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | opcode;
}

function bFormat(opcode: number, f3: number, rs1: number, rs2: number, off: number): number {
  return (
    (((off >> 12) & 1) << 31) |
    (((off >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((off >> 1) & 0xf) << 8) |
    (((off >> 11) & 1) << 7) |
    opcode
  );
}

function uFormat(opcode: number, rd: number, imm20: number): number {
  return ((imm20 & 0xfffff) << 12) | (rd << 7) | opcode;
}

function jFormat(opcode: number, rd: number, off: number): number {
  return (
    (((off >> 20) & 1) << 31) |
    (((off >> 1) & 0x3ff) << 21) |
    (((off >> 11) & 1) << 20) |
    (((off >> 12) & 0xff) << 12) |
    (rd << 7) |
    opcode
  );
}

// ---------------------------------------------------------------------------------------------
// RV64I / RV64M register-register

const OP = 0x33;
const OP_32 = 0x3b;
const OP_IMM = 0x13;
const OP_IMM_32 = 0x1b;

/** [opcode, funct3, funct7] */
const R_OPS: Record<string, readonly [number, number, number]> = {
  add: [OP, 0, 0x00],
  sub: [OP, 0, 0x20],
  sll: [OP, 1, 0x00],
  slt: [OP, 2, 0x00],
  sltu: [OP, 3, 0x00],
  xor: [OP, 4, 0x00],
  srl: [OP, 5, 0x00],
  sra: [OP, 5, 0x20],
  or: [OP, 6, 0x00],
  and: [OP, 7, 0x00],
  addw: [OP_32, 0, 0x00],
  subw: [OP_32, 0, 0x20],
  sllw: [OP_32, 1, 0x00],
  srlw: [OP_32, 5, 0x00],
  sraw: [OP_32, 5, 0x20],
  mul: [OP, 0, 0x01],
  mulh: [OP, 1, 0x01],
  mulhsu: [OP, 2, 0x01],
  mulhu: [OP, 3, 0x01],
  div: [OP, 4, 0x01],
  divu: [OP, 5, 0x01],
  rem: [OP, 6, 0x01],
  remu: [OP, 7, 0x01],
  mulw: [OP_32, 0, 0x01],
  divw: [OP_32, 4, 0x01],
  divuw: [OP_32, 5, 0x01],
  remw: [OP_32, 6, 0x01],
  remuw: [OP_32, 7, 0x01],
};
export const R_MNEMONICS: readonly string[] = Object.keys(R_OPS);

export function rOp(m: string, rd: number, rs1: number, rs2: number): Insn {
  const e = R_OPS[m];
  if (!e) throw new EncodeError(`unknown R-type mnemonic ${m}`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkReg(rs2, m);
  return mk(m, `${m} ${xn(rd)}, ${xn(rs1)}, ${xn(rs2)}`, rFormat(e[0], e[1], e[2], rd, rs1, rs2));
}

/** [opcode, funct3] */
const I_OPS: Record<string, readonly [number, number]> = {
  addi: [OP_IMM, 0],
  slti: [OP_IMM, 2],
  sltiu: [OP_IMM, 3],
  xori: [OP_IMM, 4],
  ori: [OP_IMM, 6],
  andi: [OP_IMM, 7],
  addiw: [OP_IMM_32, 0],
};
export const I_MNEMONICS: readonly string[] = Object.keys(I_OPS);

export function iOp(m: string, rd: number, rs1: number, imm: number): Insn {
  const e = I_OPS[m];
  if (!e) throw new EncodeError(`unknown I-type mnemonic ${m}`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkSigned(imm, 12, m);
  return mk(m, `${m} ${xn(rd)}, ${xn(rs1)}, ${imm}`, iFormat(e[0], e[1], rd, rs1, imm));
}

/** [opcode, funct3, funct6-or-7 high bits (shifted into bits 31:26 / 31:25), shamt bits] */
const SHIFT_OPS: Record<string, readonly [number, number, number, number]> = {
  slli: [OP_IMM, 1, 0x00, 6],
  srli: [OP_IMM, 5, 0x00, 6],
  srai: [OP_IMM, 5, 0x10, 6],
  slliw: [OP_IMM_32, 1, 0x00, 5],
  srliw: [OP_IMM_32, 5, 0x00, 5],
  sraiw: [OP_IMM_32, 5, 0x20, 5],
};
export const SHIFT_MNEMONICS: readonly string[] = Object.keys(SHIFT_OPS);

export function shiftOp(m: string, rd: number, rs1: number, shamt: number): Insn {
  const e = SHIFT_OPS[m];
  if (!e) throw new EncodeError(`unknown shift mnemonic ${m}`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkUnsigned(shamt, e[3], m);
  const hi = e[3] === 6 ? e[2] << 26 : e[2] << 25;
  return mk(m, `${m} ${xn(rd)}, ${xn(rs1)}, ${shamt}`, hi | (shamt << 20) | (rs1 << 15) | (e[1] << 12) | (rd << 7) | e[0]);
}

export function lui(rd: number, imm20: number): Insn {
  checkReg(rd, 'lui');
  checkUnsigned(imm20, 20, 'lui');
  return mk('lui', `lui ${xn(rd)}, ${hex(imm20)}`, uFormat(0x37, rd, imm20));
}

export function auipc(rd: number, imm20: number): Insn {
  checkReg(rd, 'auipc');
  checkUnsigned(imm20, 20, 'auipc');
  return mk('auipc', `auipc ${xn(rd)}, ${hex(imm20)}`, uFormat(0x17, rd, imm20));
}

export function jal(rd: number, off: number): Insn {
  checkReg(rd, 'jal');
  checkSigned(off, 21, 'jal');
  checkMultiple(off, 2, 'jal');
  return mk('jal', `jal ${xn(rd)}, ${rel(off)}`, jFormat(0x6f, rd, off));
}

export function jalr(rd: number, rs1: number, imm: number): Insn {
  checkReg(rd, 'jalr');
  checkReg(rs1, 'jalr');
  checkSigned(imm, 12, 'jalr');
  return mk('jalr', `jalr ${xn(rd)}, ${imm}(${xn(rs1)})`, iFormat(0x67, 0, rd, rs1, imm));
}

const BRANCH_OPS: Record<string, number> = { beq: 0, bne: 1, blt: 4, bge: 5, bltu: 6, bgeu: 7 };
export const BRANCH_MNEMONICS: readonly string[] = Object.keys(BRANCH_OPS);

export function branch(m: string, rs1: number, rs2: number, off: number): Insn {
  const f3 = BRANCH_OPS[m];
  if (f3 === undefined) throw new EncodeError(`unknown branch mnemonic ${m}`);
  checkReg(rs1, m);
  checkReg(rs2, m);
  checkSigned(off, 13, m);
  checkMultiple(off, 2, m);
  return mk(m, `${m} ${xn(rs1)}, ${xn(rs2)}, ${rel(off)}`, bFormat(0x63, f3, rs1, rs2, off));
}

/** Loads: [opcode, funct3, destination is an FP register] */
const LOAD_OPS: Record<string, readonly [number, number, boolean]> = {
  lb: [0x03, 0, false],
  lh: [0x03, 1, false],
  lw: [0x03, 2, false],
  ld: [0x03, 3, false],
  lbu: [0x03, 4, false],
  lhu: [0x03, 5, false],
  lwu: [0x03, 6, false],
  flw: [0x07, 2, true],
  fld: [0x07, 3, true],
};
export const LOAD_MNEMONICS: readonly string[] = Object.keys(LOAD_OPS);

/** Access size in bytes of each load/store mnemonic (uncompressed and compressed). */
export const ACCESS_SIZE: Record<string, number> = {
  lb: 1, lh: 2, lw: 4, ld: 8, lbu: 1, lhu: 2, lwu: 4, flw: 4, fld: 8,
  sb: 1, sh: 2, sw: 4, sd: 8, fsw: 4, fsd: 8,
};

export function isFpLoadStore(m: string): boolean {
  return m === 'flw' || m === 'fld' || m === 'fsw' || m === 'fsd';
}

export function load(m: string, rd: number, rs1: number, imm: number): Insn {
  const e = LOAD_OPS[m];
  if (!e) throw new EncodeError(`unknown load mnemonic ${m}`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkSigned(imm, 12, m);
  const d = e[2] ? fn(rd) : xn(rd);
  return mk(m, `${m} ${d}, ${imm}(${xn(rs1)})`, iFormat(e[0], e[1], rd, rs1, imm));
}

/** Stores: [opcode, funct3, source is an FP register] */
const STORE_OPS: Record<string, readonly [number, number, boolean]> = {
  sb: [0x23, 0, false],
  sh: [0x23, 1, false],
  sw: [0x23, 2, false],
  sd: [0x23, 3, false],
  fsw: [0x27, 2, true],
  fsd: [0x27, 3, true],
};
export const STORE_MNEMONICS: readonly string[] = Object.keys(STORE_OPS);

export function store(m: string, rs2: number, rs1: number, imm: number): Insn {
  const e = STORE_OPS[m];
  if (!e) throw new EncodeError(`unknown store mnemonic ${m}`);
  checkReg(rs2, m);
  checkReg(rs1, m);
  checkSigned(imm, 12, m);
  const s = e[2] ? fn(rs2) : xn(rs2);
  return mk(m, `${m} ${s}, ${imm}(${xn(rs1)})`, sFormat(e[0], e[1], rs1, rs2, imm));
}

function fenceSet(bits: number): string {
  let s = '';
  if (bits & 8) s += 'i';
  if (bits & 4) s += 'o';
  if (bits & 2) s += 'r';
  if (bits & 1) s += 'w';
  return s;
}

/** `fence pred, succ` with 4-bit IORW sets (both non-zero; zero sets are hints GNU as rejects). */
export function fence(pred: number, succ: number): Insn {
  checkUnsigned(pred, 4, 'fence');
  checkUnsigned(succ, 4, 'fence');
  if (pred === 0 || succ === 0) throw new EncodeError('fence: empty predecessor or successor set');
  return mk('fence', `fence ${fenceSet(pred)}, ${fenceSet(succ)}`, (pred << 24) | (succ << 20) | 0x0f);
}

/** fence.tso (fm = 1000, rw, rw) */
export function fenceTso(): Insn {
  return mk('fence.tso', 'fence.tso', 0x8330000f);
}

/** pause (Zihintpause: fence w, 0) */
export function pause(): Insn {
  return mk('pause', 'pause', 0x0100000f);
}

export function fenceI(): Insn {
  return mk('fence.i', 'fence.i', 0x0000100f);
}

export function ecall(): Insn {
  return mk('ecall', 'ecall', 0x00000073);
}

// ---------------------------------------------------------------------------------------------
// Zicsr

const CSR_OPS: Record<string, number> = { csrrw: 1, csrrs: 2, csrrc: 3, csrrwi: 5, csrrsi: 6, csrrci: 7 };
export const CSR_MNEMONICS: readonly string[] = Object.keys(CSR_OPS);
const CSR_NAMES: Record<number, string> = { 1: 'fflags', 2: 'frm', 3: 'fcsr' };

/** A CSR instruction; for the immediate forms `src` is the 5-bit immediate, otherwise rs1. */
export function csrOp(m: string, rd: number, csr: number, src: number): Insn {
  const f3 = CSR_OPS[m];
  if (f3 === undefined) throw new EncodeError(`unknown CSR mnemonic ${m}`);
  checkReg(rd, m);
  checkUnsigned(csr, 12, m);
  checkUnsigned(src, 5, m);
  const name = CSR_NAMES[csr] ?? hex(csr);
  const s = f3 >= 5 ? String(src) : xn(src);
  return mk(m, `${m} ${xn(rd)}, ${name}, ${s}`, (csr << 20) | (src << 15) | (f3 << 12) | (rd << 7) | 0x73);
}

// ---------------------------------------------------------------------------------------------
// RV64A

const AMO_FUNCT5: Record<string, number> = {
  'amoadd': 0x00,
  'amoswap': 0x01,
  'lr': 0x02,
  'sc': 0x03,
  'amoxor': 0x04,
  'amoor': 0x08,
  'amoand': 0x0c,
  'amomin': 0x10,
  'amomax': 0x14,
  'amominu': 0x18,
  'amomaxu': 0x1c,
};

/** All AMO mnemonics (without the .aq/.rl suffix), both widths, excluding lr/sc. */
export const AMO_MNEMONICS: readonly string[] = Object.keys(AMO_FUNCT5)
  .filter((b) => b !== 'lr' && b !== 'sc')
  .flatMap((b) => [`${b}.w`, `${b}.d`]);

function ordering(aq: boolean, rl: boolean): string {
  return aq && rl ? '.aqrl' : aq ? '.aq' : rl ? '.rl' : '';
}

function splitAmo(m: string): readonly [number, number] {
  const dot = m.lastIndexOf('.');
  const base = m.slice(0, dot);
  const width = m.slice(dot + 1);
  const f5 = AMO_FUNCT5[base];
  if (f5 === undefined || (width !== 'w' && width !== 'd')) throw new EncodeError(`unknown AMO mnemonic ${m}`);
  return [f5, width === 'w' ? 2 : 3];
}

/** amoXXX.{w,d}[.aq][.rl] rd, rs2, (rs1) */
export function amo(m: string, rd: number, rs2: number, rs1: number, aq = false, rl = false): Insn {
  const [f5, f3] = splitAmo(m);
  if (f5 === 0x02 || f5 === 0x03) throw new EncodeError(`${m}: use lr()/sc()`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkReg(rs2, m);
  const bits = (f5 << 27) | (Number(aq) << 26) | (Number(rl) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x2f;
  return mk(m, `${m}${ordering(aq, rl)} ${xn(rd)}, ${xn(rs2)}, (${xn(rs1)})`, bits);
}

/** lr.{w,d} rd, (rs1) */
export function lr(m: string, rd: number, rs1: number, aq = false, rl = false): Insn {
  const [f5, f3] = splitAmo(m);
  if (f5 !== 0x02) throw new EncodeError(`${m} is not lr`);
  checkReg(rd, m);
  checkReg(rs1, m);
  const bits = (f5 << 27) | (Number(aq) << 26) | (Number(rl) << 25) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x2f;
  return mk(m, `${m}${ordering(aq, rl)} ${xn(rd)}, (${xn(rs1)})`, bits);
}

/** sc.{w,d} rd, rs2, (rs1) */
export function sc(m: string, rd: number, rs2: number, rs1: number, aq = false, rl = false): Insn {
  const [f5, f3] = splitAmo(m);
  if (f5 !== 0x03) throw new EncodeError(`${m} is not sc`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkReg(rs2, m);
  const bits = (f5 << 27) | (Number(aq) << 26) | (Number(rl) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x2f;
  return mk(m, `${m}${ordering(aq, rl)} ${xn(rd)}, ${xn(rs2)}, (${xn(rs1)})`, bits);
}

// ---------------------------------------------------------------------------------------------
// F and D

/** Operand classes of the OP-FP instructions. `f` = FP register, `x` = integer register. */
export type FpShape = 'fff' | 'ff' | 'xff' | 'xf' | 'fx';

export interface FpOpInfo {
  readonly shape: FpShape;
  /** funct7 */
  readonly f7: number;
  /** Fixed funct3, or undefined when the field is a rounding mode. */
  readonly f3: number | undefined;
  /** Fixed rs2 field for two-operand forms. */
  readonly rs2: number;
  /** The rounding mode GNU as uses when none is written (7 = dyn, 0 for the exact conversions). */
  readonly defaultRm: number;
}

const FP_OPS: Record<string, FpOpInfo> = {};

function defFp(name: string, shape: FpShape, f7: number, f3: number | undefined, rs2 = 0, defaultRm = 7): void {
  FP_OPS[name] = { shape, f7, f3, rs2, defaultRm };
}

for (const [fmt, sfx] of [
  [0, 's'],
  [1, 'd'],
] as const) {
  defFp(`fadd.${sfx}`, 'fff', 0x00 | fmt, undefined);
  defFp(`fsub.${sfx}`, 'fff', 0x04 | fmt, undefined);
  defFp(`fmul.${sfx}`, 'fff', 0x08 | fmt, undefined);
  defFp(`fdiv.${sfx}`, 'fff', 0x0c | fmt, undefined);
  defFp(`fsqrt.${sfx}`, 'ff', 0x2c | fmt, undefined);
  defFp(`fsgnj.${sfx}`, 'fff', 0x10 | fmt, 0);
  defFp(`fsgnjn.${sfx}`, 'fff', 0x10 | fmt, 1);
  defFp(`fsgnjx.${sfx}`, 'fff', 0x10 | fmt, 2);
  defFp(`fmin.${sfx}`, 'fff', 0x14 | fmt, 0);
  defFp(`fmax.${sfx}`, 'fff', 0x14 | fmt, 1);
  defFp(`feq.${sfx}`, 'xff', 0x50 | fmt, 2);
  defFp(`flt.${sfx}`, 'xff', 0x50 | fmt, 1);
  defFp(`fle.${sfx}`, 'xff', 0x50 | fmt, 0);
  defFp(`fclass.${sfx}`, 'xf', 0x70 | fmt, 1);
  const ints = ['w', 'wu', 'l', 'lu'] as const;
  ints.forEach((it, i) => {
    defFp(`fcvt.${it}.${sfx}`, 'xf', 0x60 | fmt, undefined, i);
    // int -> double conversions of 32-bit values are exact; GNU as encodes them with rm = 0.
    const exact = sfx === 'd' && (it === 'w' || it === 'wu');
    defFp(`fcvt.${sfx}.${it}`, 'fx', 0x68 | fmt, undefined, i, exact ? 0 : 7);
  });
}
defFp('fmv.x.w', 'xf', 0x70, 0);
defFp('fmv.x.d', 'xf', 0x71, 0);
defFp('fmv.w.x', 'fx', 0x78, 0);
defFp('fmv.d.x', 'fx', 0x79, 0);
defFp('fcvt.s.d', 'ff', 0x20, undefined, 1);
defFp('fcvt.d.s', 'ff', 0x21, undefined, 0, 0);

export const FP_MNEMONICS: readonly string[] = Object.keys(FP_OPS);

export function fpInfo(m: string): FpOpInfo {
  const e = FP_OPS[m];
  if (!e) throw new EncodeError(`unknown FP mnemonic ${m}`);
  return e;
}

/**
 * An OP-FP instruction. `rs2` is ignored for the two-operand shapes. `rm` is used only when the
 * instruction has a rounding-mode field.
 */
export function fpOp(m: string, rd: number, rs1: number, rs2: number, rm = 7): Insn {
  const e = fpInfo(m);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkRm(rm, m);
  const twoOperand = e.shape === 'ff' || e.shape === 'xf' || e.shape === 'fx';
  if (!twoOperand) checkReg(rs2, m);
  const r2 = twoOperand ? e.rs2 : rs2;
  const f3 = e.f3 ?? rm;
  const dst = e.shape[0] === 'x' ? xn(rd) : fn(rd);
  const src1 = e.shape === 'fx' ? xn(rs1) : fn(rs1);
  let text = `${m} ${dst}, ${src1}`;
  if (!twoOperand) text += `, ${fn(rs2)}`;
  if (e.f3 === undefined && rm !== e.defaultRm) text += `, ${RM_NAMES[rm]}`;
  return mk(m, text, rFormat(0x53, f3, e.f7, rd, rs1, r2));
}

const FMA_OPS: Record<string, readonly [number, number]> = {
  'fmadd.s': [0x43, 0],
  'fmsub.s': [0x47, 0],
  'fnmsub.s': [0x4b, 0],
  'fnmadd.s': [0x4f, 0],
  'fmadd.d': [0x43, 1],
  'fmsub.d': [0x47, 1],
  'fnmsub.d': [0x4b, 1],
  'fnmadd.d': [0x4f, 1],
};
export const FMA_MNEMONICS: readonly string[] = Object.keys(FMA_OPS);

export function fma(m: string, rd: number, rs1: number, rs2: number, rs3: number, rm = 7): Insn {
  const e = FMA_OPS[m];
  if (!e) throw new EncodeError(`unknown FMA mnemonic ${m}`);
  checkReg(rd, m);
  checkReg(rs1, m);
  checkReg(rs2, m);
  checkReg(rs3, m);
  checkRm(rm, m);
  let text = `${m} ${fn(rd)}, ${fn(rs1)}, ${fn(rs2)}, ${fn(rs3)}`;
  if (rm !== 7) text += `, ${RM_NAMES[rm]}`;
  const bits = (rs3 << 27) | (e[1] << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | e[0];
  return mk(m, text, bits);
}

// ---------------------------------------------------------------------------------------------
// C extension (RV64C)

/** c.addi4spn rd', sp, nzuimm (multiple of 4, 4..1020) */
export function cAddi4spn(rd: number, imm: number): Insn {
  const r = creg(rd, 'c.addi4spn');
  checkUnsigned(imm, 10, 'c.addi4spn');
  checkMultiple(imm, 4, 'c.addi4spn');
  if (imm === 0) throw new EncodeError('c.addi4spn: zero immediate is reserved');
  const bits =
    (((imm >> 4) & 3) << 11) | (((imm >> 6) & 0xf) << 7) | (((imm >> 2) & 1) << 6) | (((imm >> 3) & 1) << 5) | (r << 2) | 0;
  return mkc('c.addi4spn', `c.addi4spn ${xn(rd)}, x2, ${imm}`, bits);
}

/** CL/CS formats: c.lw/c.ld/c.fld and c.sw/c.sd/c.fsd. [funct3, op, size, fp] */
const C_MEM_OPS: Record<string, readonly [number, number, number, boolean, boolean]> = {
  // mnemonic: [funct3, quadrant, size, fp register, store]
  'c.fld': [1, 0, 8, true, false],
  'c.lw': [2, 0, 4, false, false],
  'c.ld': [3, 0, 8, false, false],
  'c.fsd': [5, 0, 8, true, true],
  'c.sw': [6, 0, 4, false, true],
  'c.sd': [7, 0, 8, false, true],
};
export const C_MEM_MNEMONICS: readonly string[] = Object.keys(C_MEM_OPS);

/** c.lw/c.ld/c.fld rd', off(rs1') and c.sw/c.sd/c.fsd rs2', off(rs1'): `r` is rd' or rs2'. */
export function cMem(m: string, r: number, rs1: number, off: number): Insn {
  const e = C_MEM_OPS[m];
  if (!e) throw new EncodeError(`unknown compressed load/store ${m}`);
  const [f3, , size, fp] = e;
  const rr = creg(r, m);
  const rb = creg(rs1, m);
  checkMultiple(off, size, m);
  let immBits: number;
  if (size === 4) {
    checkUnsigned(off, 7, m);
    immBits = (((off >> 3) & 7) << 10) | (((off >> 2) & 1) << 6) | (((off >> 6) & 1) << 5);
  } else {
    checkUnsigned(off, 8, m);
    immBits = (((off >> 3) & 7) << 10) | (((off >> 6) & 3) << 5);
  }
  const bits = (f3 << 13) | immBits | (rb << 7) | (rr << 2) | 0;
  return mkc(m, `${m} ${fp ? fn(r) : xn(r)}, ${off}(${xn(rs1)})`, bits);
}

function ci(f3: number, rd: number, imm6: number, op: number): number {
  return (f3 << 13) | (((imm6 >> 5) & 1) << 12) | (rd << 7) | ((imm6 & 0x1f) << 2) | op;
}

export function cNop(): Insn {
  return mkc('c.nop', 'c.nop', 0x0001);
}

/** c.addi rd, nzimm (rd != 0; imm in -32..31, non-zero) */
export function cAddi(rd: number, imm: number): Insn {
  checkReg(rd, 'c.addi');
  checkSigned(imm, 6, 'c.addi');
  if (rd === 0 || imm === 0) throw new EncodeError('c.addi: rd and imm must be non-zero');
  return mkc('c.addi', `c.addi ${xn(rd)}, ${imm}`, ci(0, rd, imm, 1));
}

/** c.addiw rd, imm (rd != 0) */
export function cAddiw(rd: number, imm: number): Insn {
  checkReg(rd, 'c.addiw');
  checkSigned(imm, 6, 'c.addiw');
  if (rd === 0) throw new EncodeError('c.addiw: rd = x0 is reserved');
  return mkc('c.addiw', `c.addiw ${xn(rd)}, ${imm}`, ci(1, rd, imm, 1));
}

/** c.li rd, imm (rd != 0) */
export function cLi(rd: number, imm: number): Insn {
  checkReg(rd, 'c.li');
  checkSigned(imm, 6, 'c.li');
  if (rd === 0) throw new EncodeError('c.li: rd = x0 is a hint');
  return mkc('c.li', `c.li ${xn(rd)}, ${imm}`, ci(2, rd, imm, 1));
}

/** c.addi16sp sp, nzimm (multiple of 16, -512..496, non-zero) */
export function cAddi16sp(imm: number): Insn {
  checkSigned(imm, 10, 'c.addi16sp');
  checkMultiple(imm, 16, 'c.addi16sp');
  if (imm === 0) throw new EncodeError('c.addi16sp: zero immediate is reserved');
  const bits =
    (3 << 13) |
    (((imm >> 9) & 1) << 12) |
    (2 << 7) |
    (((imm >> 4) & 1) << 6) |
    (((imm >> 6) & 1) << 5) |
    (((imm >> 7) & 3) << 3) |
    (((imm >> 5) & 1) << 2) |
    1;
  return mkc('c.addi16sp', `c.addi16sp x2, ${imm}`, bits);
}

/** c.lui rd, nzimm6 (rd != 0, 2; the 6-bit immediate lands in bits 17:12; written as 1..63 like GNU as) */
export function cLui(rd: number, imm6: number): Insn {
  checkReg(rd, 'c.lui');
  checkSigned(imm6, 6, 'c.lui');
  if (rd === 0 || rd === 2 || imm6 === 0) throw new EncodeError('c.lui: bad operands');
  // GNU as writes the immediate as the 20-bit lui value (e.g. 0xfffe0 for -32).
  const asImm = imm6 < 0 ? 0x100000 + imm6 : imm6;
  return mkc('c.lui', `c.lui ${xn(rd)}, ${hex(asImm)}`, ci(3, rd, imm6, 1));
}

/** c.srli / c.srai rd', shamt (1..63) ; c.andi rd', imm */
export function cShiftRight(m: 'c.srli' | 'c.srai', rd: number, shamt: number): Insn {
  const r = creg(rd, m);
  checkUnsigned(shamt, 6, m);
  if (shamt === 0) throw new EncodeError(`${m}: zero shift is a hint`);
  const f2 = m === 'c.srli' ? 0 : 1;
  const bits = (4 << 13) | (((shamt >> 5) & 1) << 12) | (f2 << 10) | (r << 7) | ((shamt & 0x1f) << 2) | 1;
  return mkc(m, `${m} ${xn(rd)}, ${shamt}`, bits);
}

export function cAndi(rd: number, imm: number): Insn {
  const r = creg(rd, 'c.andi');
  checkSigned(imm, 6, 'c.andi');
  const bits = (4 << 13) | (((imm >> 5) & 1) << 12) | (2 << 10) | (r << 7) | ((imm & 0x1f) << 2) | 1;
  return mkc('c.andi', `c.andi ${xn(rd)}, ${imm}`, bits);
}

/** CA format: [bit 12, funct2 (bits 6:5)] */
const CA_OPS: Record<string, readonly [number, number]> = {
  'c.sub': [0, 0],
  'c.xor': [0, 1],
  'c.or': [0, 2],
  'c.and': [0, 3],
  'c.subw': [1, 0],
  'c.addw': [1, 1],
};
export const CA_MNEMONICS: readonly string[] = Object.keys(CA_OPS);

export function cArith(m: string, rd: number, rs2: number): Insn {
  const e = CA_OPS[m];
  if (!e) throw new EncodeError(`unknown CA mnemonic ${m}`);
  const r1 = creg(rd, m);
  const r2 = creg(rs2, m);
  const bits = (4 << 13) | (e[0] << 12) | (3 << 10) | (r1 << 7) | (e[1] << 5) | (r2 << 2) | 1;
  return mkc(m, `${m} ${xn(rd)}, ${xn(rs2)}`, bits);
}

function cjOffset(off: number): number {
  return (
    (((off >> 11) & 1) << 12) |
    (((off >> 4) & 1) << 11) |
    (((off >> 8) & 3) << 9) |
    (((off >> 10) & 1) << 8) |
    (((off >> 6) & 1) << 7) |
    (((off >> 7) & 1) << 6) |
    (((off >> 1) & 7) << 3) |
    (((off >> 5) & 1) << 2)
  );
}

export function cJ(off: number): Insn {
  checkSigned(off, 12, 'c.j');
  checkMultiple(off, 2, 'c.j');
  return mkc('c.j', `c.j ${rel(off)}`, (5 << 13) | cjOffset(off) | 1);
}

/** c.beqz / c.bnez rs1', offset (±256, even) */
export function cBranch(m: 'c.beqz' | 'c.bnez', rs1: number, off: number): Insn {
  const r = creg(rs1, m);
  checkSigned(off, 9, m);
  checkMultiple(off, 2, m);
  const f3 = m === 'c.beqz' ? 6 : 7;
  const bits =
    (f3 << 13) |
    (((off >> 8) & 1) << 12) |
    (((off >> 3) & 3) << 10) |
    (r << 7) |
    (((off >> 6) & 3) << 5) |
    (((off >> 1) & 3) << 3) |
    (((off >> 5) & 1) << 2) |
    1;
  return mkc(m, `${m} ${xn(rs1)}, ${rel(off)}`, bits);
}

/** c.slli rd, shamt (rd != 0, shamt 1..63) */
export function cSlli(rd: number, shamt: number): Insn {
  checkReg(rd, 'c.slli');
  checkUnsigned(shamt, 6, 'c.slli');
  if (rd === 0 || shamt === 0) throw new EncodeError('c.slli: bad operands');
  return mkc('c.slli', `c.slli ${xn(rd)}, ${shamt}`, ci(0, rd, shamt, 2));
}

/** c.lwsp / c.ldsp / c.fldsp rd, off(sp) */
export function cLoadSp(m: 'c.lwsp' | 'c.ldsp' | 'c.fldsp', rd: number, off: number): Insn {
  checkReg(rd, m);
  let bits: number;
  if (m === 'c.lwsp') {
    if (rd === 0) throw new EncodeError('c.lwsp: rd = x0 is reserved');
    checkUnsigned(off, 8, m);
    checkMultiple(off, 4, m);
    bits = (2 << 13) | (((off >> 5) & 1) << 12) | (rd << 7) | (((off >> 2) & 7) << 4) | (((off >> 6) & 3) << 2) | 2;
  } else {
    if (m === 'c.ldsp' && rd === 0) throw new EncodeError('c.ldsp: rd = x0 is reserved');
    checkUnsigned(off, 9, m);
    checkMultiple(off, 8, m);
    const f3 = m === 'c.ldsp' ? 3 : 1;
    bits = (f3 << 13) | (((off >> 5) & 1) << 12) | (rd << 7) | (((off >> 3) & 3) << 5) | (((off >> 6) & 7) << 2) | 2;
  }
  const d = m === 'c.fldsp' ? fn(rd) : xn(rd);
  return mkc(m, `${m} ${d}, ${off}(x2)`, bits);
}

/** c.swsp / c.sdsp / c.fsdsp rs2, off(sp) */
export function cStoreSp(m: 'c.swsp' | 'c.sdsp' | 'c.fsdsp', rs2: number, off: number): Insn {
  checkReg(rs2, m);
  let bits: number;
  if (m === 'c.swsp') {
    checkUnsigned(off, 8, m);
    checkMultiple(off, 4, m);
    bits = (6 << 13) | (((off >> 2) & 0xf) << 9) | (((off >> 6) & 3) << 7) | (rs2 << 2) | 2;
  } else {
    checkUnsigned(off, 9, m);
    checkMultiple(off, 8, m);
    const f3 = m === 'c.sdsp' ? 7 : 5;
    bits = (f3 << 13) | (((off >> 3) & 7) << 10) | (((off >> 6) & 7) << 7) | (rs2 << 2) | 2;
  }
  const s = m === 'c.fsdsp' ? fn(rs2) : xn(rs2);
  return mkc(m, `${m} ${s}, ${off}(x2)`, bits);
}

/** c.jr rs1 / c.jalr rs1 (rs1 != 0) */
export function cJr(m: 'c.jr' | 'c.jalr', rs1: number): Insn {
  checkReg(rs1, m);
  if (rs1 === 0) throw new EncodeError(`${m}: rs1 = x0 is reserved`);
  const b12 = m === 'c.jalr' ? 1 : 0;
  return mkc(m, `${m} ${xn(rs1)}`, (4 << 13) | (b12 << 12) | (rs1 << 7) | 2);
}

/** c.mv rd, rs2 / c.add rd, rs2 (rd, rs2 != 0) */
export function cMvAdd(m: 'c.mv' | 'c.add', rd: number, rs2: number): Insn {
  checkReg(rd, m);
  checkReg(rs2, m);
  if (rd === 0 || rs2 === 0) throw new EncodeError(`${m}: registers must be non-zero`);
  const b12 = m === 'c.add' ? 1 : 0;
  return mkc(m, `${m} ${xn(rd)}, ${xn(rs2)}`, (4 << 13) | (b12 << 12) | (rd << 7) | (rs2 << 2) | 2);
}

export type CHintKind = 'c.li' | 'c.lui' | 'c.mv' | 'c.add' | 'c.slli' | 'c.addi' | 'c.nop' | 'c.srli' | 'c.srai';

/**
 * RVC HINT encodings: legal instructions that must execute without architectural effect (rd = x0,
 * or an operation that leaves rd unchanged). GNU as rejects most of them, so the text is a
 * `.insn` directive with the intended meaning as a comment.
 *   c.li/c.lui/c.mv/c.add/c.slli x0, v ; c.addi rd, 0 ; c.nop v (v != 0) ; c.slli rd, 0 ;
 *   c.srli/c.srai rd', 0
 */
export function cHint(m: CHintKind, rd: number, v: number): Insn {
  checkReg(rd, m);
  let bits: number;
  let desc: string;
  switch (m) {
    case 'c.li':
      checkSigned(v, 6, m);
      bits = ci(2, 0, v, 1);
      desc = `c.li x0, ${v}`;
      break;
    case 'c.lui':
      checkSigned(v, 6, m);
      if (v === 0) throw new EncodeError('c.lui with a zero immediate is reserved');
      bits = ci(3, 0, v, 1);
      desc = `c.lui x0, ${v}`;
      break;
    case 'c.mv':
    case 'c.add':
      if (v === 0) throw new EncodeError(`${m} x0, x0 is not a hint`);
      checkReg(v, m);
      bits = (4 << 13) | ((m === 'c.add' ? 1 : 0) << 12) | (v << 2) | 2;
      desc = `${m} x0, ${xn(v)}`;
      break;
    case 'c.slli':
      checkUnsigned(v, 6, m);
      bits = ci(0, rd, v, 2);
      desc = `c.slli ${xn(rd)}, ${v}`;
      break;
    case 'c.addi':
      if (rd === 0) throw new EncodeError('use c.nop');
      bits = ci(0, rd, 0, 1);
      desc = `c.addi ${xn(rd)}, 0`;
      break;
    case 'c.nop':
      checkSigned(v, 6, m);
      if (v === 0) throw new EncodeError('c.nop 0 is the plain c.nop');
      bits = ci(0, 0, v, 1);
      desc = `c.nop ${v}`;
      break;
    case 'c.srli':
    case 'c.srai': {
      const r = creg(rd, m);
      bits = (4 << 13) | ((m === 'c.srai' ? 1 : 0) << 10) | (r << 7) | 1;
      desc = `${m} ${xn(rd)}, 0`;
      break;
    }
  }
  const h = bits.toString(16).padStart(4, '0');
  return mkc(m, `.insn 0x${h}    # ${desc} (hint)`, bits);
}

// ---------------------------------------------------------------------------------------------
// Listing

/** Little-endian bytes of a sequence of instructions. */
export function assemble(insns: readonly Insn[]): Uint8Array {
  let n = 0;
  for (const i of insns) n += i.size;
  const out = new Uint8Array(n);
  let p = 0;
  for (const i of insns) {
    out[p++] = i.bits & 0xff;
    out[p++] = (i.bits >>> 8) & 0xff;
    if (i.size === 4) {
      out[p++] = (i.bits >>> 16) & 0xff;
      out[p++] = (i.bits >>> 24) & 0xff;
    }
  }
  return out;
}

/** One listing line: `  0x10100: 00a50533  add x10, x10, x10`. */
export function listingLine(addr: number, insn: Insn): string {
  const enc = insn.size === 4 ? insn.bits.toString(16).padStart(8, '0') : insn.bits.toString(16).padStart(4, '0').padEnd(8, ' ');
  return `  0x${addr.toString(16)}: ${enc}  ${insn.text}`;
}
