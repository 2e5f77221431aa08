/**
 * RV64GC decoder (RISC-V unprivileged ISA 20191213: chapters 2, 5, 7, 8, 9, 11, 12, 16 and 24's
 * opcode map). Each instruction is decoded once into a 4-word slot of a decoded page:
 *
 *   w0 = op | rd << 8 | rs1 << 16 | rs2 << 24
 *   w1 = immediate (sign-extended), or the raw instruction bits for ILLEGAL
 *   w2 = extra: rs3 (fused multiply-add), rounding mode, CSR number, AMO funct5
 *   w3 = the step to the next slot: 8 for a 32-bit instruction, 4 for a compressed one
 *
 * Register fields hold indices into the hart's Int32Array register files, i.e. register * 2 (low
 * word; the high word is at +1). An integer destination x0 is mapped to index 64, a sink slot, so
 * writes to x0 need no check on the hot path. Compressed instructions decode to the same ops as
 * their 32-bit expansions.
 *
 * A decoded page holds one slot per 2-byte offset of a 4 KiB page: 2048 slots, 8192 words.
 */

export const enum Op {
  Undecoded = 0,
  Illegal,
  CrossPage, // a 32-bit instruction starting at the last halfword of a page
  Nop,
  // RV64I
  Lui,
  Auipc,
  Jal,
  Jalr,
  Beq,
  Bne,
  Blt,
  Bge,
  Bltu,
  Bgeu,
  Lb,
  Lh,
  Lw,
  Ld,
  Lbu,
  Lhu,
  Lwu,
  Sb,
  Sh,
  Sw,
  Sd,
  Addi,
  Slti,
  Sltiu,
  Xori,
  Ori,
  Andi,
  Slli,
  Srli,
  Srai,
  Add,
  Sub,
  Sll,
  Slt,
  Sltu,
  Xor,
  Srl,
  Sra,
  Or,
  And,
  Addiw,
  Slliw,
  Srliw,
  Sraiw,
  Addw,
  Subw,
  Sllw,
  Srlw,
  Sraw,
  // RV64M
  Mul,
  Mulh,
  Mulhsu,
  Mulhu,
  Div,
  Divu,
  Rem,
  Remu,
  Mulw,
  Divw,
  Divuw,
  Remw,
  Remuw,
  // ---- ops from here on are executed out of the main loop ----
  Fence,
  FenceI,
  Ecall,
  Ebreak,
  Mret,
  Sret,
  Wfi,
  SfenceVma,
  Csrrw,
  Csrrs,
  Csrrc,
  Csrrwi,
  Csrrsi,
  Csrrci,
  // RV64A (w2 = funct5)
  LrW,
  ScW,
  AmoW,
  LrD,
  ScD,
  AmoD,
  // F and D
  Flw,
  Fsw,
  Fld,
  Fsd,
  FmaddS,
  FmsubS,
  FnmsubS,
  FnmaddS,
  FmaddD,
  FmsubD,
  FnmsubD,
  FnmaddD,
  FaddS,
  FsubS,
  FmulS,
  FdivS,
  FsqrtS,
  FsgnjS,
  FsgnjnS,
  FsgnjxS,
  FminS,
  FmaxS,
  FcvtWS,
  FcvtWuS,
  FcvtLS,
  FcvtLuS,
  FmvXW,
  FeqS,
  FltS,
  FleS,
  FclassS,
  FcvtSW,
  FcvtSWu,
  FcvtSL,
  FcvtSLu,
  FmvWX,
  FaddD,
  FsubD,
  FmulD,
  FdivD,
  FsqrtD,
  FsgnjD,
  FsgnjnD,
  FsgnjxD,
  FminD,
  FmaxD,
  FcvtSD,
  FcvtDS,
  FeqD,
  FltD,
  FleD,
  FclassD,
  FcvtWD,
  FcvtWuD,
  FcvtLD,
  FcvtLuD,
  FcvtDW,
  FcvtDWu,
  FcvtDL,
  FcvtDLu,
  FmvXD,
  FmvDX,
  Count,
}

/** First op handled outside the interpreter's main switch. */
export const FIRST_SLOW_OP = Op.Fence;

export const SLOTS_PER_PAGE = 2048;
export const WORDS_PER_SLOT = 4;
export const DECODED_PAGE_WORDS = SLOTS_PER_PAGE * WORDS_PER_SLOT;

/** Register-file index of integer destination x0: a sink slot nobody reads. */
export const X0_SINK = 64;

function xd(r: number): number {
  return r === 0 ? X0_SINK : r << 1;
}

function put(code: Int32Array, k: number, op: number, rd: number, rs1: number, rs2: number,
  imm: number, extra: number, step: number): void {
  code[k] = op | (rd << 8) | (rs1 << 16) | (rs2 << 24);
  code[k + 1] = imm;
  code[k + 2] = extra;
  code[k + 3] = step;
}

/**
 * An OP-FP instruction (destination `d`: an FP register, or xd(rd) for ops writing an integer
 * register); one whose op rounds takes an illegal rounding mode (5, 6) as illegal.
 */
function putFp(code: Int32Array, k: number, insn: number, op: number, d: number, rs1: number, rs2: number,
  f3: number, needsRm: boolean): void {
  if (needsRm && (f3 === 5 || f3 === 6)) return illegal(code, k, insn, 8);
  put(code, k, op, d, rs1 << 1, rs2 << 1, insn, f3, 8);
}

function illegal(code: Int32Array, k: number, bits: number, step: number): void {
  put(code, k, Op.Illegal, 0, 0, 0, bits, 0, step);
}

// Ops by funct3 (0: no such instruction); tables, not literals in decode32 (one per call).
const BRANCH_OPS = Int32Array.of(Op.Beq, Op.Bne, 0, 0, Op.Blt, Op.Bge, Op.Bltu, Op.Bgeu);
const LOAD_OPS = Int32Array.of(Op.Lb, Op.Lh, Op.Lw, Op.Ld, Op.Lbu, Op.Lhu, Op.Lwu, 0);
const OP_OPS = Int32Array.of(Op.Add, Op.Sll, Op.Slt, Op.Sltu, Op.Xor, Op.Srl, Op.Or, Op.And);
const OP32_M_OPS = Int32Array.of(Op.Mulw, 0, 0, 0, Op.Divw, Op.Divuw, Op.Remw, Op.Remuw);

/** Decodes a 32-bit instruction into slot `k`. */
export function decode32(code: Int32Array, k: number, insn: number): void {
  const opcode = insn & 0x7f;
  const rd = (insn >>> 7) & 31;
  const f3 = (insn >>> 12) & 7;
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  const f7 = insn >>> 25;
  const immI = insn >> 20;
  switch (opcode) {
    case 0x37:
      return put(code, k, Op.Lui, xd(rd), rs1 << 1, rs2 << 1, insn & 0xfffff000, 0, 8);
    case 0x17:
      return put(code, k, Op.Auipc, xd(rd), rs1 << 1, rs2 << 1, insn & 0xfffff000, 0, 8);
    case 0x6f: {
      const imm =
        ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
      return put(code, k, Op.Jal, xd(rd), rs1 << 1, rs2 << 1, imm, 0, 8);
    }
    case 0x67:
      if (f3 !== 0) return illegal(code, k, insn, 8);
      return put(code, k, Op.Jalr, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
    case 0x63: {
      const imm =
        ((insn >> 31) << 12) | ((insn << 4) & 0x800) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
      if (BRANCH_OPS[f3] === 0) return illegal(code, k, insn, 8);
      return put(code, k, BRANCH_OPS[f3], 0, rs1 << 1, rs2 << 1, imm, 0, 8);
    }
    case 0x03: {
      if (LOAD_OPS[f3] === 0) return illegal(code, k, insn, 8);
      return put(code, k, LOAD_OPS[f3], xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
    }
    case 0x23: {
      if (f3 > 3) return illegal(code, k, insn, 8);
      const imm = ((insn >> 25) << 5) | ((insn >>> 7) & 31);
      return put(code, k, Op.Sb + f3, 0, rs1 << 1, rs2 << 1, imm, 0, 8);
    }
    case 0x13:
      switch (f3) {
        case 0: return put(code, k, Op.Addi, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
        case 2: return put(code, k, Op.Slti, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
        case 3: return put(code, k, Op.Sltiu, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
        case 4: return put(code, k, Op.Xori, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
        case 6: return put(code, k, Op.Ori, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
        case 7: return put(code, k, Op.Andi, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
        case 1:
          if (insn >>> 26 !== 0) return illegal(code, k, insn, 8);
          return put(code, k, Op.Slli, xd(rd), rs1 << 1, rs2 << 1, (insn >>> 20) & 63, 0, 8);
        default:
          if (insn >>> 26 === 0) return put(code, k, Op.Srli, xd(rd), rs1 << 1, rs2 << 1, (insn >>> 20) & 63, 0, 8);
          if (insn >>> 26 === 0x10) return put(code, k, Op.Srai, xd(rd), rs1 << 1, rs2 << 1, (insn >>> 20) & 63, 0, 8);
          return illegal(code, k, insn, 8);
      }
    case 0x1b:
      if (f3 === 0) return put(code, k, Op.Addiw, xd(rd), rs1 << 1, rs2 << 1, immI, 0, 8);
      if (f3 === 1 && f7 === 0) return put(code, k, Op.Slliw, xd(rd), rs1 << 1, rs2 << 1, rs2, 0, 8);
      if (f3 === 5 && f7 === 0) return put(code, k, Op.Srliw, xd(rd), rs1 << 1, rs2 << 1, rs2, 0, 8);
      if (f3 === 5 && f7 === 0x20) return put(code, k, Op.Sraiw, xd(rd), rs1 << 1, rs2 << 1, rs2, 0, 8);
      return illegal(code, k, insn, 8);
    case 0x33: {
      let op = 0;
      if (f7 === 0) op = OP_OPS[f3];
      else if (f7 === 0x20) op = f3 === 0 ? Op.Sub : f3 === 5 ? Op.Sra : 0;
      else if (f7 === 1) op = Op.Mul + f3;
      if (op === 0) return illegal(code, k, insn, 8);
      return put(code, k, op, xd(rd), rs1 << 1, rs2 << 1, 0, 0, 8);
    }
    case 0x3b: {
      let op = 0;
      if (f7 === 0) op = f3 === 0 ? Op.Addw : f3 === 1 ? Op.Sllw : f3 === 5 ? Op.Srlw : 0;
      else if (f7 === 0x20) op = f3 === 0 ? Op.Subw : f3 === 5 ? Op.Sraw : 0;
      else if (f7 === 1) op = OP32_M_OPS[f3];
      if (op === 0) return illegal(code, k, insn, 8);
      return put(code, k, op, xd(rd), rs1 << 1, rs2 << 1, 0, 0, 8);
    }
    case 0x0f:
      if (f3 === 0) return put(code, k, Op.Fence, xd(rd), rs1 << 1, rs2 << 1, 0, 0, 8);
      if (f3 === 1) return put(code, k, Op.FenceI, xd(rd), rs1 << 1, rs2 << 1, 0, 0, 8);
      return illegal(code, k, insn, 8);
    case 0x73:
      if (f3 === 0) {
        if (insn === 0x00000073) return put(code, k, Op.Ecall, xd(rd), rs1 << 1, rs2 << 1, insn, 0, 8);
        if (insn === 0x00100073) return put(code, k, Op.Ebreak, xd(rd), rs1 << 1, rs2 << 1, insn, 0, 8);
        if (insn === 0x10200073) return put(code, k, Op.Sret, xd(rd), rs1 << 1, rs2 << 1, insn, 0, 8);
        if (insn === 0x30200073) return put(code, k, Op.Mret, xd(rd), rs1 << 1, rs2 << 1, insn, 0, 8);
        if (insn === 0x10500073) return put(code, k, Op.Wfi, xd(rd), rs1 << 1, rs2 << 1, insn, 0, 8);
        if (f7 === 0x09 && rd === 0) return put(code, k, Op.SfenceVma, xd(rd), rs1 << 1, rs2 << 1, insn, 0, 8);
        return illegal(code, k, insn, 8);
      }
      if (f3 === 4) return illegal(code, k, insn, 8);
      // CSR ops: w1 = raw bits (for the illegal-instruction tval), w2 = CSR number; rs1 holds
      // the register index or, for the immediate forms, the 5-bit zimm (not doubled).
      return put(code, k, [0, Op.Csrrw, Op.Csrrs, Op.Csrrc, 0, Op.Csrrwi, Op.Csrrsi, Op.Csrrci][f3],
        xd(rd), f3 >= 5 ? rs1 : rs1 << 1, 0, insn, insn >>> 20, 8);
    case 0x2f: {
      const f5 = insn >>> 27;
      if (f3 !== 2 && f3 !== 3) return illegal(code, k, insn, 8);
      const w = f3 === 2;
      let op: number;
      if (f5 === 2) {
        if (rs2 !== 0) return illegal(code, k, insn, 8);
        op = w ? Op.LrW : Op.LrD;
      } else if (f5 === 3) op = w ? Op.ScW : Op.ScD;
      else if ([0, 1, 4, 8, 12, 16, 20, 24, 28].includes(f5)) op = w ? Op.AmoW : Op.AmoD;
      else return illegal(code, k, insn, 8);
      return put(code, k, op, xd(rd), rs1 << 1, rs2 << 1, insn, f5, 8);
    }
    case 0x07:
      if (f3 === 2) return put(code, k, Op.Flw, rd << 1, rs1 << 1, 0, immI, 0, 8);
      if (f3 === 3) return put(code, k, Op.Fld, rd << 1, rs1 << 1, 0, immI, 0, 8);
      return illegal(code, k, insn, 8);
    case 0x27: {
      const imm = ((insn >> 25) << 5) | ((insn >>> 7) & 31);
      if (f3 === 2) return put(code, k, Op.Fsw, 0, rs1 << 1, rs2 << 1, imm, 0, 8);
      if (f3 === 3) return put(code, k, Op.Fsd, 0, rs1 << 1, rs2 << 1, imm, 0, 8);
      return illegal(code, k, insn, 8);
    }
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f: {
      const fmt = (insn >>> 25) & 3;
      if (fmt > 1 || f3 === 5 || f3 === 6) return illegal(code, k, insn, 8);
      const base = fmt === 0 ? Op.FmaddS : Op.FmaddD;
      const rs3 = insn >>> 27;
      return put(code, k, base + ((opcode - 0x43) >> 2), rd << 1, rs1 << 1, rs2 << 1, insn,
        f3 | (rs3 << 4), 8);
    }
    case 0x53:
      return decodeOpFp(code, k, insn, rd, f3, rs1, rs2, f7);
    default:
      return illegal(code, k, insn, 8);
  }
}

function decodeOpFp(code: Int32Array, k: number, insn: number, rd: number, f3: number, rs1: number,
  rs2: number, f7: number): void {
  // Destinations: FP register unless the op writes an integer register.
  switch (f7) {
    case 0x00: return putFp(code, k, insn, Op.FaddS, rd << 1, rs1, rs2, f3, true);
    case 0x01: return putFp(code, k, insn, Op.FaddD, rd << 1, rs1, rs2, f3, true);
    case 0x04: return putFp(code, k, insn, Op.FsubS, rd << 1, rs1, rs2, f3, true);
    case 0x05: return putFp(code, k, insn, Op.FsubD, rd << 1, rs1, rs2, f3, true);
    case 0x08: return putFp(code, k, insn, Op.FmulS, rd << 1, rs1, rs2, f3, true);
    case 0x09: return putFp(code, k, insn, Op.FmulD, rd << 1, rs1, rs2, f3, true);
    case 0x0c: return putFp(code, k, insn, Op.FdivS, rd << 1, rs1, rs2, f3, true);
    case 0x0d: return putFp(code, k, insn, Op.FdivD, rd << 1, rs1, rs2, f3, true);
    case 0x2c: return rs2 === 0 ? putFp(code, k, insn, Op.FsqrtS, rd << 1, rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x2d: return rs2 === 0 ? putFp(code, k, insn, Op.FsqrtD, rd << 1, rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x10: return f3 <= 2 ? putFp(code, k, insn, Op.FsgnjS + f3, rd << 1, rs1, rs2, f3, false) : illegal(code, k, insn, 8);
    case 0x11: return f3 <= 2 ? putFp(code, k, insn, Op.FsgnjD + f3, rd << 1, rs1, rs2, f3, false) : illegal(code, k, insn, 8);
    case 0x14: return f3 <= 1 ? putFp(code, k, insn, Op.FminS + f3, rd << 1, rs1, rs2, f3, false) : illegal(code, k, insn, 8);
    case 0x15: return f3 <= 1 ? putFp(code, k, insn, Op.FminD + f3, rd << 1, rs1, rs2, f3, false) : illegal(code, k, insn, 8);
    case 0x20: return rs2 === 1 ? putFp(code, k, insn, Op.FcvtSD, rd << 1, rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x21: return rs2 === 0 ? putFp(code, k, insn, Op.FcvtDS, rd << 1, rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x50:
      if (f3 === 2) return putFp(code, k, insn, Op.FeqS, xd(rd), rs1, rs2, f3, false);
      if (f3 === 1) return putFp(code, k, insn, Op.FltS, xd(rd), rs1, rs2, f3, false);
      if (f3 === 0) return putFp(code, k, insn, Op.FleS, xd(rd), rs1, rs2, f3, false);
      return illegal(code, k, insn, 8);
    case 0x51:
      if (f3 === 2) return putFp(code, k, insn, Op.FeqD, xd(rd), rs1, rs2, f3, false);
      if (f3 === 1) return putFp(code, k, insn, Op.FltD, xd(rd), rs1, rs2, f3, false);
      if (f3 === 0) return putFp(code, k, insn, Op.FleD, xd(rd), rs1, rs2, f3, false);
      return illegal(code, k, insn, 8);
    case 0x60: return rs2 <= 3 ? putFp(code, k, insn, Op.FcvtWS + rs2, xd(rd), rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x61: return rs2 <= 3 ? putFp(code, k, insn, Op.FcvtWD + rs2, xd(rd), rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x68: return rs2 <= 3 ? putFp(code, k, insn, Op.FcvtSW + rs2, rd << 1, rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x69: return rs2 <= 3 ? putFp(code, k, insn, Op.FcvtDW + rs2, rd << 1, rs1, rs2, f3, true) : illegal(code, k, insn, 8);
    case 0x70:
      if (rs2 !== 0) return illegal(code, k, insn, 8);
      if (f3 === 0) return putFp(code, k, insn, Op.FmvXW, xd(rd), rs1, rs2, f3, false);
      if (f3 === 1) return putFp(code, k, insn, Op.FclassS, xd(rd), rs1, rs2, f3, false);
      return illegal(code, k, insn, 8);
    case 0x71:
      if (rs2 !== 0) return illegal(code, k, insn, 8);
      if (f3 === 0) return putFp(code, k, insn, Op.FmvXD, xd(rd), rs1, rs2, f3, false);
      if (f3 === 1) return putFp(code, k, insn, Op.FclassD, xd(rd), rs1, rs2, f3, false);
      return illegal(code, k, insn, 8);
    case 0x78:
      return rs2 === 0 && f3 === 0 ? putFp(code, k, insn, Op.FmvWX, rd << 1, rs1, rs2, f3, false) : illegal(code, k, insn, 8);
    case 0x79:
      return rs2 === 0 && f3 === 0 ? putFp(code, k, insn, Op.FmvDX, rd << 1, rs1, rs2, f3, false) : illegal(code, k, insn, 8);
    default:
      return illegal(code, k, insn, 8);
  }
}

/** Decodes a 16-bit compressed instruction into slot `k` (RVC, chapter 16). */
export function decode16(code: Int32Array, k: number, insn: number): void {
  const f3 = (insn >>> 13) & 7;
  const rdp = 8 + ((insn >>> 2) & 7); // rd' / rs2'
  const rs1p = 8 + ((insn >>> 7) & 7); // rs1' / rd'
  const rd = (insn >>> 7) & 31;
  const rs2 = (insn >>> 2) & 31;
  const imm6 = (((insn << 19) >> 26) & ~31) | ((insn >>> 2) & 31); // sign-extended imm[5:0]
  switch (insn & 3) {
    case 0:
      switch (f3) {
        case 0: {
          const imm = ((insn >>> 7) & 0x30) | ((insn >>> 1) & 0x3c0) | ((insn >>> 4) & 4) | ((insn >>> 2) & 8);
          if (imm === 0) return illegal(code, k, insn, 4);
          return put(code, k, Op.Addi, rdp << 1, 2 << 1, 0, imm, 0, 4);
        }
        case 1:
          return put(code, k, Op.Fld, rdp << 1, rs1p << 1, 0, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0), 0, 4);
        case 2:
          return put(code, k, Op.Lw, rdp << 1, rs1p << 1, 0, ((insn >>> 7) & 0x38) | ((insn >>> 4) & 4) | ((insn << 1) & 0x40), 0, 4);
        case 3:
          return put(code, k, Op.Ld, rdp << 1, rs1p << 1, 0, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0), 0, 4);
        case 5:
          return put(code, k, Op.Fsd, 0, rs1p << 1, rdp << 1, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0), 0, 4);
        case 6:
          return put(code, k, Op.Sw, 0, rs1p << 1, rdp << 1, ((insn >>> 7) & 0x38) | ((insn >>> 4) & 4) | ((insn << 1) & 0x40), 0, 4);
        case 7:
          return put(code, k, Op.Sd, 0, rs1p << 1, rdp << 1, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0), 0, 4);
        default:
          return illegal(code, k, insn, 4);
      }
    case 1:
      switch (f3) {
        case 0:
          return put(code, k, rd === 0 ? Op.Nop : Op.Addi, xd(rd), rd << 1, 0, imm6, 0, 4);
        case 1:
          if (rd === 0) return illegal(code, k, insn, 4);
          return put(code, k, Op.Addiw, xd(rd), rd << 1, 0, imm6, 0, 4);
        case 2:
          return put(code, k, Op.Addi, xd(rd), 0, 0, imm6, 0, 4);
        case 3:
          if (rd === 2) {
            const imm =
              (((insn << 19) >> 31) << 9) | ((insn >>> 2) & 0x10) | ((insn << 1) & 0x40) |
              ((insn << 4) & 0x180) | ((insn << 3) & 0x20);
            if (imm === 0) return illegal(code, k, insn, 4);
            return put(code, k, Op.Addi, 2 << 1, 2 << 1, 0, imm, 0, 4);
          }
          if (imm6 === 0) return illegal(code, k, insn, 4);
          return put(code, k, Op.Lui, xd(rd), 0, 0, imm6 << 12, 0, 4);
        case 4: {
          const f2 = (insn >>> 10) & 3;
          const shamt = ((insn >>> 7) & 0x20) | ((insn >>> 2) & 31);
          if (f2 === 0) return put(code, k, Op.Srli, rs1p << 1, rs1p << 1, 0, shamt, 0, 4);
          if (f2 === 1) return put(code, k, Op.Srai, rs1p << 1, rs1p << 1, 0, shamt, 0, 4);
          if (f2 === 2) return put(code, k, Op.Andi, rs1p << 1, rs1p << 1, 0, imm6, 0, 4);
          const sel = (insn >>> 5) & 3;
          if ((insn & 0x1000) === 0) {
            return put(code, k, [Op.Sub, Op.Xor, Op.Or, Op.And][sel], rs1p << 1, rs1p << 1, rdp << 1, 0, 0, 4);
          }
          if (sel === 0) return put(code, k, Op.Subw, rs1p << 1, rs1p << 1, rdp << 1, 0, 0, 4);
          if (sel === 1) return put(code, k, Op.Addw, rs1p << 1, rs1p << 1, rdp << 1, 0, 0, 4);
          return illegal(code, k, insn, 4);
        }
        case 5: {
          const imm =
            (((insn << 19) >> 31) << 11) | ((insn >>> 7) & 0x10) | ((insn >>> 1) & 0x300) |
            ((insn << 2) & 0x400) | ((insn >>> 1) & 0x40) | ((insn << 1) & 0x80) |
            ((insn >>> 2) & 0xe) | ((insn << 3) & 0x20);
          return put(code, k, Op.Jal, X0_SINK, 0, 0, imm, 0, 4);
        }
        default: {
          const imm =
            (((insn << 19) >> 31) << 8) | ((insn >>> 7) & 0x18) | ((insn << 1) & 0xc0) |
            ((insn >>> 2) & 6) | ((insn << 3) & 0x20);
          return put(code, k, f3 === 6 ? Op.Beq : Op.Bne, 0, rs1p << 1, 0, imm, 0, 4);
        }
      }
    case 2:
      switch (f3) {
        case 0: {
          const shamt = ((insn >>> 7) & 0x20) | ((insn >>> 2) & 31);
          return put(code, k, Op.Slli, xd(rd), rd << 1, 0, shamt, 0, 4);
        }
        case 1:
          return put(code, k, Op.Fld, rd << 1, 2 << 1, 0, ((insn >>> 7) & 0x20) | ((insn >>> 2) & 0x18) | ((insn << 4) & 0x1c0), 0, 4);
        case 2:
          if (rd === 0) return illegal(code, k, insn, 4);
          return put(code, k, Op.Lw, xd(rd), 2 << 1, 0, ((insn >>> 7) & 0x20) | ((insn >>> 2) & 0x1c) | ((insn << 4) & 0xc0), 0, 4);
        case 3:
          if (rd === 0) return illegal(code, k, insn, 4);
          return put(code, k, Op.Ld, xd(rd), 2 << 1, 0, ((insn >>> 7) & 0x20) | ((insn >>> 2) & 0x18) | ((insn << 4) & 0x1c0), 0, 4);
        case 4:
          if ((insn & 0x1000) === 0) {
            if (rs2 === 0) {
              if (rd === 0) return illegal(code, k, insn, 4);
              return put(code, k, Op.Jalr, X0_SINK, rd << 1, 0, 0, 0, 4);
            }
            return put(code, k, Op.Add, xd(rd), 0, rs2 << 1, 0, 0, 4);
          }
          if (rs2 === 0) {
            if (rd === 0) return put(code, k, Op.Ebreak, 0, 0, 0, 0, 0, 4);
            return put(code, k, Op.Jalr, 1 << 1, rd << 1, 0, 0, 0, 4);
          }
          return put(code, k, Op.Add, xd(rd), rd << 1, rs2 << 1, 0, 0, 4);
        case 5:
          return put(code, k, Op.Fsd, 0, 2 << 1, rs2 << 1, ((insn >>> 7) & 0x38) | ((insn >>> 1) & 0x1c0), 0, 4);
        case 6:
          return put(code, k, Op.Sw, 0, 2 << 1, rs2 << 1, ((insn >>> 7) & 0x3c) | ((insn >>> 1) & 0xc0), 0, 4);
        default:
          return put(code, k, Op.Sd, 0, 2 << 1, rs2 << 1, ((insn >>> 7) & 0x38) | ((insn >>> 1) & 0x1c0), 0, 4);
      }
    default:
      return illegal(code, k, insn, 4);
  }
}
