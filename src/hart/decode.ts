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

function illegal(code: Int32Array, k: number, bits: number, step: number): void {
  put(code, k, Op.Illegal, 0, 0, 0, bits, 0, step);
}

/** Decodes a 32-bit instruction into slot `k`. */
export function decode32(code: Int32Array, k: number, insn: number): void {
  const opcode = insn & 0x7f;
  const rd = (insn >>> 7) & 31;
  const f3 = (insn >>> 12) & 7;
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  const f7 = insn >>> 25;
  const immI = insn >> 20;
  const X = (op: number, imm: number): void => put(code, k, op, xd(rd), rs1 << 1, rs2 << 1, imm, 0, 8);
  switch (opcode) {
    case 0x37:
      return X(Op.Lui, insn & 0xfffff000);
    case 0x17:
      return X(Op.Auipc, insn & 0xfffff000);
    case 0x6f: {
      const imm =
        ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
      return X(Op.Jal, imm);
    }
    case 0x67:
      if (f3 !== 0) return illegal(code, k, insn, 8);
      return X(Op.Jalr, immI);
    case 0x63: {
      const imm =
        ((insn >> 31) << 12) | ((insn << 4) & 0x800) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
      const ops = [Op.Beq, Op.Bne, 0, 0, Op.Blt, Op.Bge, Op.Bltu, Op.Bgeu];
      if (ops[f3] === 0) return illegal(code, k, insn, 8);
      return put(code, k, ops[f3], 0, rs1 << 1, rs2 << 1, imm, 0, 8);
    }
    case 0x03: {
      const ops = [Op.Lb, Op.Lh, Op.Lw, Op.Ld, Op.Lbu, Op.Lhu, Op.Lwu, 0];
      if (ops[f3] === 0) return illegal(code, k, insn, 8);
      return X(ops[f3], immI);
    }
    case 0x23: {
      if (f3 > 3) return illegal(code, k, insn, 8);
      const imm = ((insn >> 25) << 5) | ((insn >>> 7) & 31);
      return put(code, k, Op.Sb + f3, 0, rs1 << 1, rs2 << 1, imm, 0, 8);
    }
    case 0x13:
      switch (f3) {
        case 0: return X(Op.Addi, immI);
        case 2: return X(Op.Slti, immI);
        case 3: return X(Op.Sltiu, immI);
        case 4: return X(Op.Xori, immI);
        case 6: return X(Op.Ori, immI);
        case 7: return X(Op.Andi, immI);
        case 1:
          if (insn >>> 26 !== 0) return illegal(code, k, insn, 8);
          return X(Op.Slli, (insn >>> 20) & 63);
        default:
          if (insn >>> 26 === 0) return X(Op.Srli, (insn >>> 20) & 63);
          if (insn >>> 26 === 0x10) return X(Op.Srai, (insn >>> 20) & 63);
          return illegal(code, k, insn, 8);
      }
    case 0x1b:
      if (f3 === 0) return X(Op.Addiw, immI);
      if (f3 === 1 && f7 === 0) return X(Op.Slliw, rs2);
      if (f3 === 5 && f7 === 0) return X(Op.Srliw, rs2);
      if (f3 === 5 && f7 === 0x20) return X(Op.Sraiw, rs2);
      return illegal(code, k, insn, 8);
    case 0x33: {
      let op = 0;
      if (f7 === 0) op = [Op.Add, Op.Sll, Op.Slt, Op.Sltu, Op.Xor, Op.Srl, Op.Or, Op.And][f3];
      else if (f7 === 0x20) op = f3 === 0 ? Op.Sub : f3 === 5 ? Op.Sra : 0;
      else if (f7 === 1) op = Op.Mul + f3;
      if (op === 0) return illegal(code, k, insn, 8);
      return X(op, 0);
    }
    case 0x3b: {
      let op = 0;
      if (f7 === 0) op = f3 === 0 ? Op.Addw : f3 === 1 ? Op.Sllw : f3 === 5 ? Op.Srlw : 0;
      else if (f7 === 0x20) op = f3 === 0 ? Op.Subw : f3 === 5 ? Op.Sraw : 0;
      else if (f7 === 1) op = [Op.Mulw, 0, 0, 0, Op.Divw, Op.Divuw, Op.Remw, Op.Remuw][f3];
      if (op === 0) return illegal(code, k, insn, 8);
      return X(op, 0);
    }
    case 0x0f:
      if (f3 === 0) return X(Op.Fence, 0);
      if (f3 === 1) return X(Op.FenceI, 0);
      return illegal(code, k, insn, 8);
    case 0x73:
      if (f3 === 0) {
        if (insn === 0x00000073) return X(Op.Ecall, insn);
        if (insn === 0x00100073) return X(Op.Ebreak, insn);
        if (insn === 0x10200073) return X(Op.Sret, insn);
        if (insn === 0x30200073) return X(Op.Mret, insn);
        if (insn === 0x10500073) return X(Op.Wfi, insn);
        if (f7 === 0x09 && rd === 0) return X(Op.SfenceVma, insn);
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
  const F = (op: number, needsRm: boolean): void => {
    if (needsRm && (f3 === 5 || f3 === 6)) return illegal(code, k, insn, 8);
    put(code, k, op, rd << 1, rs1 << 1, rs2 << 1, insn, f3, 8);
  };
  const Xr = (op: number, needsRm: boolean): void => {
    if (needsRm && (f3 === 5 || f3 === 6)) return illegal(code, k, insn, 8);
    put(code, k, op, xd(rd), rs1 << 1, rs2 << 1, insn, f3, 8);
  };
  switch (f7) {
    case 0x00: return F(Op.FaddS, true);
    case 0x01: return F(Op.FaddD, true);
    case 0x04: return F(Op.FsubS, true);
    case 0x05: return F(Op.FsubD, true);
    case 0x08: return F(Op.FmulS, true);
    case 0x09: return F(Op.FmulD, true);
    case 0x0c: return F(Op.FdivS, true);
    case 0x0d: return F(Op.FdivD, true);
    case 0x2c: return rs2 === 0 ? F(Op.FsqrtS, true) : illegal(code, k, insn, 8);
    case 0x2d: return rs2 === 0 ? F(Op.FsqrtD, true) : illegal(code, k, insn, 8);
    case 0x10: return f3 <= 2 ? F(Op.FsgnjS + f3, false) : illegal(code, k, insn, 8);
    case 0x11: return f3 <= 2 ? F(Op.FsgnjD + f3, false) : illegal(code, k, insn, 8);
    case 0x14: return f3 <= 1 ? F(Op.FminS + f3, false) : illegal(code, k, insn, 8);
    case 0x15: return f3 <= 1 ? F(Op.FminD + f3, false) : illegal(code, k, insn, 8);
    case 0x20: return rs2 === 1 ? F(Op.FcvtSD, true) : illegal(code, k, insn, 8);
    case 0x21: return rs2 === 0 ? F(Op.FcvtDS, true) : illegal(code, k, insn, 8);
    case 0x50:
      if (f3 === 2) return Xr(Op.FeqS, false);
      if (f3 === 1) return Xr(Op.FltS, false);
      if (f3 === 0) return Xr(Op.FleS, false);
      return illegal(code, k, insn, 8);
    case 0x51:
      if (f3 === 2) return Xr(Op.FeqD, false);
      if (f3 === 1) return Xr(Op.FltD, false);
      if (f3 === 0) return Xr(Op.FleD, false);
      return illegal(code, k, insn, 8);
    case 0x60: return rs2 <= 3 ? Xr(Op.FcvtWS + rs2, true) : illegal(code, k, insn, 8);
    case 0x61: return rs2 <= 3 ? Xr(Op.FcvtWD + rs2, true) : illegal(code, k, insn, 8);
    case 0x68: return rs2 <= 3 ? F(Op.FcvtSW + rs2, true) : illegal(code, k, insn, 8);
    case 0x69: return rs2 <= 3 ? F(Op.FcvtDW + rs2, true) : illegal(code, k, insn, 8);
    case 0x70:
      if (rs2 !== 0) return illegal(code, k, insn, 8);
      if (f3 === 0) return Xr(Op.FmvXW, false);
      if (f3 === 1) return Xr(Op.FclassS, false);
      return illegal(code, k, insn, 8);
    case 0x71:
      if (rs2 !== 0) return illegal(code, k, insn, 8);
      if (f3 === 0) return Xr(Op.FmvXD, false);
      if (f3 === 1) return Xr(Op.FclassD, false);
      return illegal(code, k, insn, 8);
    case 0x78:
      return rs2 === 0 && f3 === 0 ? F(Op.FmvWX, false) : illegal(code, k, insn, 8);
    case 0x79:
      return rs2 === 0 && f3 === 0 ? F(Op.FmvDX, false) : illegal(code, k, insn, 8);
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
  const P = (op: number, d: number, s1: number, s2: number, imm: number): void =>
    put(code, k, op, d, s1, s2, imm, 0, 4);
  switch (insn & 3) {
    case 0:
      switch (f3) {
        case 0: {
          const imm = ((insn >>> 7) & 0x30) | ((insn >>> 1) & 0x3c0) | ((insn >>> 4) & 4) | ((insn >>> 2) & 8);
          if (imm === 0) return illegal(code, k, insn, 4);
          return P(Op.Addi, rdp << 1, 2 << 1, 0, imm);
        }
        case 1:
          return P(Op.Fld, rdp << 1, rs1p << 1, 0, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0));
        case 2:
          return P(Op.Lw, rdp << 1, rs1p << 1, 0,
            ((insn >>> 7) & 0x38) | ((insn >>> 4) & 4) | ((insn << 1) & 0x40));
        case 3:
          return P(Op.Ld, rdp << 1, rs1p << 1, 0, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0));
        case 5:
          return P(Op.Fsd, 0, rs1p << 1, rdp << 1, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0));
        case 6:
          return P(Op.Sw, 0, rs1p << 1, rdp << 1,
            ((insn >>> 7) & 0x38) | ((insn >>> 4) & 4) | ((insn << 1) & 0x40));
        case 7:
          return P(Op.Sd, 0, rs1p << 1, rdp << 1, ((insn >>> 7) & 0x38) | ((insn << 1) & 0xc0));
        default:
          return illegal(code, k, insn, 4);
      }
    case 1:
      switch (f3) {
        case 0:
          return P(rd === 0 ? Op.Nop : Op.Addi, xd(rd), rd << 1, 0, imm6);
        case 1:
          if (rd === 0) return illegal(code, k, insn, 4);
          return P(Op.Addiw, xd(rd), rd << 1, 0, imm6);
        case 2:
          return P(Op.Addi, xd(rd), 0, 0, imm6);
        case 3:
          if (rd === 2) {
            const imm =
              (((insn << 19) >> 31) << 9) | ((insn >>> 2) & 0x10) | ((insn << 1) & 0x40) |
              ((insn << 4) & 0x180) | ((insn << 3) & 0x20);
            if (imm === 0) return illegal(code, k, insn, 4);
            return P(Op.Addi, 2 << 1, 2 << 1, 0, imm);
          }
          if (imm6 === 0) return illegal(code, k, insn, 4);
          return P(Op.Lui, xd(rd), 0, 0, imm6 << 12);
        case 4: {
          const f2 = (insn >>> 10) & 3;
          const shamt = ((insn >>> 7) & 0x20) | ((insn >>> 2) & 31);
          if (f2 === 0) return P(Op.Srli, rs1p << 1, rs1p << 1, 0, shamt);
          if (f2 === 1) return P(Op.Srai, rs1p << 1, rs1p << 1, 0, shamt);
          if (f2 === 2) return P(Op.Andi, rs1p << 1, rs1p << 1, 0, imm6);
          const sel = (insn >>> 5) & 3;
          if ((insn & 0x1000) === 0) {
            return P([Op.Sub, Op.Xor, Op.Or, Op.And][sel], rs1p << 1, rs1p << 1, rdp << 1, 0);
          }
          if (sel === 0) return P(Op.Subw, rs1p << 1, rs1p << 1, rdp << 1, 0);
          if (sel === 1) return P(Op.Addw, rs1p << 1, rs1p << 1, rdp << 1, 0);
          return illegal(code, k, insn, 4);
        }
        case 5: {
          const imm =
            (((insn << 19) >> 31) << 11) | ((insn >>> 7) & 0x10) | ((insn >>> 1) & 0x300) |
            ((insn << 2) & 0x400) | ((insn >>> 1) & 0x40) | ((insn << 1) & 0x80) |
            ((insn >>> 2) & 0xe) | ((insn << 3) & 0x20);
          return P(Op.Jal, X0_SINK, 0, 0, imm);
        }
        default: {
          const imm =
            (((insn << 19) >> 31) << 8) | ((insn >>> 7) & 0x18) | ((insn << 1) & 0xc0) |
            ((insn >>> 2) & 6) | ((insn << 3) & 0x20);
          return P(f3 === 6 ? Op.Beq : Op.Bne, 0, rs1p << 1, 0, imm);
        }
      }
    case 2:
      switch (f3) {
        case 0: {
          const shamt = ((insn >>> 7) & 0x20) | ((insn >>> 2) & 31);
          return P(Op.Slli, xd(rd), rd << 1, 0, shamt);
        }
        case 1:
          return P(Op.Fld, rd << 1, 2 << 1, 0,
            ((insn >>> 7) & 0x20) | ((insn >>> 2) & 0x18) | ((insn << 4) & 0x1c0));
        case 2:
          if (rd === 0) return illegal(code, k, insn, 4);
          return P(Op.Lw, xd(rd), 2 << 1, 0,
            ((insn >>> 7) & 0x20) | ((insn >>> 2) & 0x1c) | ((insn << 4) & 0xc0));
        case 3:
          if (rd === 0) return illegal(code, k, insn, 4);
          return P(Op.Ld, xd(rd), 2 << 1, 0,
            ((insn >>> 7) & 0x20) | ((insn >>> 2) & 0x18) | ((insn << 4) & 0x1c0));
        case 4:
          if ((insn & 0x1000) === 0) {
            if (rs2 === 0) {
              if (rd === 0) return illegal(code, k, insn, 4);
              return P(Op.Jalr, X0_SINK, rd << 1, 0, 0);
            }
            return P(Op.Add, xd(rd), 0, rs2 << 1, 0);
          }
          if (rs2 === 0) {
            if (rd === 0) return P(Op.Ebreak, 0, 0, 0, 0);
            return P(Op.Jalr, 1 << 1, rd << 1, 0, 0);
          }
          return P(Op.Add, xd(rd), rd << 1, rs2 << 1, 0);
        case 5:
          return P(Op.Fsd, 0, 2 << 1, rs2 << 1, ((insn >>> 7) & 0x38) | ((insn >>> 1) & 0x1c0));
        case 6:
          return P(Op.Sw, 0, 2 << 1, rs2 << 1, ((insn >>> 7) & 0x3c) | ((insn >>> 1) & 0xc0));
        default:
          return P(Op.Sd, 0, 2 << 1, rs2 << 1, ((insn >>> 7) & 0x38) | ((insn >>> 1) & 0x1c0));
      }
    default:
      return illegal(code, k, insn, 4);
  }
}
