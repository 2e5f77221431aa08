/**
 * One RV64IMAFDC + Zicsr + Zifencei hart with M, S and U modes (RISC-V unprivileged ISA 20191213,
 * privileged architecture 1.12): the interpreter, CSRs, traps and interrupts, and Sv39/Sv48
 * translation with a software TLB.
 *
 * Performance layout (see docs/architecture.md):
 * - Integer registers are int32 pairs in one Int32Array (x[2i] low word, x[2i+1] high word);
 *   FP registers are raw bits in another (so NaN payloads survive).
 * - Instructions are decoded lazily into decoded pages kept by PhysicalMemory (one per physical
 *   page that holds code). The loop runs within one page with a local slot index `k`; the pc is
 *   materialised only when leaving the page, on traps and for pc-relative results.
 * - Four TLB sets (U, S, S with SUM, M) of read/write/execute entries map a virtual page to an
 *   arena offset. Write entries exist only for pages already marked dirty and holding no code, so
 *   a fast store needs no further checks. M-mode (no translation) uses the same structure.
 * - Guest faults are return values (false from a slow path), never host exceptions.
 */

import {
  CSR, Cause, MEDELEG_WRITABLE, MIDELEG_WRITABLE, MIE_WRITABLE, MIP_SW_WRITABLE, MISA_HI, MISA_LO,
  MSTATUS_FS, MSTATUS_HI_XL, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPP_SHIFT, MSTATUS_MPRV,
  MSTATUS_MXR, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_SUM, MSTATUS_TSR, MSTATUS_TVM,
  MSTATUS_TW, MSTATUS_WRITABLE, PRIV_M, PRIV_S, PRIV_U, SSTATUS_MASK, MIP_SSIP, MIP_SEIP,
} from './csr.js';
import { DECODED_PAGE_WORDS, Op, decode16, decode32 } from './decode.js';
import { MmioValue, PAGE_CODE, PAGE_SIZE, PhysicalMemory, grow, type CodePageListener } from './memory.js';
import * as sf from './softfloat.js';
import { JitEngine, type JitOptions } from '../jit/engine.js';
import {
  HART_STATE_BYTES, HS_F, HS_LOAD, HS_TLB_RTAG, HS_TLB_ROFF, HS_TLB_WOFF, HS_TLB_WTAG, HS_TLB_XOFF,
  HS_TLB_XTAG, HS_X, JIT_TLB_ENTRIES, JIT_TLB_SIZE, JitCall, JitExit,
} from '../jit/layout.js';

export const enum ExitReason {
  Budget = 0,
  Wfi = 1,
  Exception = 2,
  Stopped = 3,
}

export interface HartOptions {
  hartId?: number;
  /** The platform timer (mtime) in ticks, read by the `time` CSR. */
  timeSource?: () => number;
  /**
   * Run hot code translated to WebAssembly (src/jit) instead of interpreting it; the interpreter
   * stays the default and the reference. The hart then keeps its registers and TLB in the arena.
   */
  jit?: boolean | JitOptions;
}

const TLB_SIZE = JIT_TLB_SIZE;
const TLB_MASK = TLB_SIZE - 1;
/** Entries of the hart's cache of 2 MiB page-table leaves (Hart.leafKey). */
const LEAF_CACHE = 16;

// TLB sets, by effective privilege (and SUM for S-mode data accesses).
const SET_U = 0;
const SET_S = 1;
const SET_SUM = 2;
const SET_M = 3;

const ACCESS_READ = 0;
const ACCESS_WRITE = 1;
const ACCESS_EXEC = 2;

const TWO32 = 4294967296;
/** Pages in a superpage at each page-table level (2 ** (9 * level)): a leaf's PPN is a multiple. */
const SUPERPAGE_PPNS = [1, 512, 262144, 134217728];

/** Identifies the level-`level` superpage holding virtual page `vpn` (for TLB flushes by address). */
function superpageKey(vpn: number, level: number): number {
  return Math.floor(vpn / SUPERPAGE_PPNS[level]) * 4 + level;
}
const PAGE_LIMIT = DECODED_PAGE_WORDS; // k at or past this has left the page

// Indices of 64-bit CSRs stored as pairs in `csr64`.
const C_MEPC = 0;
const C_SEPC = 2;
const C_MTVEC = 4;
const C_STVEC = 6;
const C_MTVAL = 8;
const C_STVAL = 10;
const C_MSCRATCH = 12;
const C_SSCRATCH = 14;
const C_MCAUSE = 16;
const C_SCAUSE = 18;
const C_SATP = 20;
const C_MENVCFG = 22;
const C_SENVCFG = 24;
const C_PMPCFG = 26; // 8 registers (pmpcfg0, 2, ..., 14)
const C_PMPADDR = 42; // 64 registers
const CSR64_WORDS = 42 + 128;

// Interrupts in priority order (privileged spec 3.1.9).
const IRQ_PRIORITY = [11, 3, 7, 9, 1, 5];

const enum Pte {
  V = 1,
  R = 2,
  W = 4,
  X = 8,
  U = 16,
  G = 32,
  A = 64,
  D = 128,
}

// Scratch outputs of the 64-bit helpers below (module-level: no allocation).
let rLo = 0;
let rHi = 0;

/** Unsigned 32x32 -> 64 multiply: returns the low word, high word in rHi. */
function mulU32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const mid = a0 * b1 + a1 * b0 + (p00 >>> 16); // < 2^34, exact
  rHi = (a1 * b1 + Math.floor(mid / 65536)) | 0;
  return ((mid << 16) | (p00 & 0xffff)) | 0;
}

/** High 64 bits of the unsigned 128-bit product; result in rLo/rHi. */
function mulhu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const p0lo = mulU32(aLo, bLo);
  const p0hi = rHi >>> 0;
  void p0lo;
  const p1lo = mulU32(aLo, bHi) >>> 0;
  const p1hi = rHi >>> 0;
  const p2lo = mulU32(aHi, bLo) >>> 0;
  const p2hi = rHi >>> 0;
  const p3lo = mulU32(aHi, bHi) >>> 0;
  const p3hi = rHi >>> 0;
  const w1 = p0hi + p1lo + p2lo;
  const c1 = Math.floor(w1 / TWO32);
  const w2 = p1hi + p2hi + p3lo + c1;
  const c2 = Math.floor(w2 / TWO32);
  rLo = w2 | 0;
  rHi = (p3hi + c2) | 0;
}

/** 64-bit subtraction into rLo/rHi. */
function sub64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  rLo = (aLo - bLo) | 0;
  rHi = (aHi - bHi - ((aLo >>> 0) < (bLo >>> 0) ? 1 : 0)) | 0;
}

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
function toBigS(lo: number, hi: number): bigint {
  return (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
}
function fromBig(v: bigint): void {
  rLo = Number(BigInt.asIntN(32, v));
  rHi = Number(BigInt.asIntN(32, v >> 32n));
}

export interface HartState {
  version: 1;
  hartId: number;
  pc: string;
  priv: number;
  x: string[];
  f: string[];
  csrs: Record<string, string>;
  reservation: string | null;
  instret: string;
  cycle: string;
  waiting: boolean;
}

export class Hart implements CodePageListener {
  readonly hartId: number;
  readonly mem: PhysicalMemory;
  private readonly timeSource: () => number;

  /**
   * Integer registers as int32 pairs; index 64/65 is the sink for writes to x0. With the JIT this
   * is a view of the hart's state area in the arena (re-created when the arena grows).
   */
  x = new Int32Array(66);
  /** FP registers as raw 64-bit patterns (int32 pairs). */
  f = new Int32Array(64);
  pcLo = 0;
  pcHi = 0;
  /** Current privilege: 0 U, 1 S, 3 M (read and set from outside through `priv`). */
  private privLevel = PRIV_M;

  // ---- CSR state ----
  mstatus = 0; // low word; the high word is MSTATUS_HI_XL plus SD
  fflags = 0;
  frm = 0;
  mie = 0;
  mipSw = 0; // software-writable pending bits (SSIP, STIP, SEIP)
  mipHw = 0; // device-driven pending bits (MSIP, MTIP, SEIP, MEIP)
  mideleg = 0;
  medeleg = 0;
  mcounteren = 0;
  scounteren = 0;
  mcountinhibit = 0;
  readonly csr64 = new Int32Array(CSR64_WORDS);
  private satpMode = 0; // 0 bare, 8 Sv39, 9 Sv48
  private instretBase = 0; // instructions retired before the current run() (plus minstret writes)
  private cycleOffset = 0; // mcycle - instret
  private retiredInRun = 0; // set before CSR reads inside run()

  // ---- LR/SC ----
  private resValid = false;
  private resAddr = 0;

  // ---- TLB ----
  private tlbRTag = new Float64Array(4 * TLB_SIZE).fill(NaN);
  private tlbWTag = new Float64Array(4 * TLB_SIZE).fill(NaN);
  private tlbXTag = new Float64Array(4 * TLB_SIZE).fill(NaN);
  private tlbROff = new Int32Array(4 * TLB_SIZE);
  private tlbWOff = new Int32Array(4 * TLB_SIZE);
  private tlbXOff = new Int32Array(4 * TLB_SIZE);
  private dBase = SET_M * TLB_SIZE; // TLB set for data accesses
  private dPriv = PRIV_M; // effective privilege of data accesses (MPRV)
  private iBase = SET_M * TLB_SIZE;
  /** Superpages (superpageKey) with translations possibly cached in the TLB since its last flush. */
  private readonly superpages = new Set<number>();
  private lastSuperpage = NaN; // the key last added (walks of one superpage come in runs)
  /**
   * Recent 2 MiB leaves (Linux maps its image and the linear map with them): per entry, the
   * superpage number (NaN when empty), its leaf PTE's low word and physical base. A TLB miss in
   * one needs no page walk: the leaf's permissions and A/D bits are checked as a walk would.
   * Entries are superpages of `superpages`, cleared with it.
   */
  private readonly leafKey = new Float64Array(LEAF_CACHE).fill(NaN);
  private readonly leafPte = new Int32Array(LEAF_CACHE);
  private readonly leafBase = new Float64Array(LEAF_CACHE);
  /**
   * Per arena page: a write TLB entry may map it (set at every fill; cleared when
   * onPageWriteProtect has removed them all). Flushes leave it set: it only spares scans.
   */
  private writeMapped: Uint8Array = new Uint8Array(0);

  // ---- run-loop plumbing ----
  private irqCheck = true;
  private exitPending = -1;
  /** Set when a WFI is waiting for an interrupt. */
  waiting = false;
  /** Causes of exceptions that exit run() with ExitReason.Exception instead of trapping. */
  interceptExceptions = 0;
  exitCause = 0;
  exitTval = 0n;
  private readonly scratchPage = new Int32Array(DECODED_PAGE_WORDS);
  private readonly mmioValue = new MmioValue();
  private readonly fpOut = new sf.FpOut();
  // Fetch state of the current page
  private codeArenaOffset = 0;
  // Slow-path results
  private ldLo = 0;
  private ldHi = 0;
  /** amoResult's value. */
  private amoLo = 0;
  private amoHi = 0;
  private faultCause = 0;
  private faultTvalLo = 0;
  private faultTvalHi = 0;

  // ---- JIT (null: interpreter only) ----
  /** The JIT engine of this hart, when enabled (its `stats` say what was translated). */
  readonly jit: JitEngine | null = null;
  private jitState = 0; // arena offset of the state area (layout.ts)
  private jitLoadResult = new Int32Array(2);
  private runBudget = 0;

  constructor(memory: PhysicalMemory, options: HartOptions = {}) {
    this.mem = memory;
    this.hartId = options.hartId ?? 0;
    this.timeSource = options.timeSource ?? (() => 0);
    memory.addListener(this);
    if (options.jit !== undefined && options.jit !== false) {
      this.jitState = memory.reserve(HART_STATE_BYTES);
      this.mapJitState();
      memory.addGrowListener(() => this.mapJitState());
      this.jit = new JitEngine(this, memory, this.jitState, options.jit === true ? {} : options.jit);
      this.flushTlbAll();
    }
    this.reset();
  }

  /** Points the registers and TLB at the state area in the arena (again, after it grew). */
  private mapJitState(): void {
    const buf = this.mem.arena;
    const s = this.jitState;
    this.x = new Int32Array(buf, s + HS_X, 66);
    this.f = new Int32Array(buf, s + HS_F, 64);
    this.jitLoadResult = new Int32Array(buf, s + HS_LOAD, 2);
    this.tlbRTag = new Float64Array(buf, s + HS_TLB_RTAG, JIT_TLB_ENTRIES);
    this.tlbWTag = new Float64Array(buf, s + HS_TLB_WTAG, JIT_TLB_ENTRIES);
    this.tlbXTag = new Float64Array(buf, s + HS_TLB_XTAG, JIT_TLB_ENTRIES);
    this.tlbROff = new Int32Array(buf, s + HS_TLB_ROFF, JIT_TLB_ENTRIES);
    this.tlbWOff = new Int32Array(buf, s + HS_TLB_WOFF, JIT_TLB_ENTRIES);
    this.tlbXOff = new Int32Array(buf, s + HS_TLB_XOFF, JIT_TLB_ENTRIES);
  }

  /** Resets to the architectural reset state: M-mode, pc = 0x1000, interrupts off. */
  reset(): void {
    this.x.fill(0);
    this.f.fill(0);
    this.pcLo = 0x1000;
    this.pcHi = 0;
    this.privLevel = PRIV_M;
    this.mstatus = 0;
    this.fflags = 0;
    this.frm = 0;
    this.mie = 0;
    this.mipSw = 0;
    this.mideleg = 0;
    this.medeleg = 0;
    this.mcounteren = 0;
    this.scounteren = 0;
    this.mcountinhibit = 0;
    this.csr64.fill(0);
    this.satpMode = 0;
    this.resValid = false;
    this.waiting = false;
    this.exitPending = -1;
    this.flushTlb();
    this.updateModes();
  }

  // ==================================================================================
  // The interpreter
  // ==================================================================================

  /** Runs at most `budget` instructions. */
  run(budget: number): ExitReason {
    const x = this.x;
    const mem = this.mem;
    const u8 = mem.u8;
    const u16 = mem.u16;
    const i32 = mem.i32;
    const rTag = this.tlbRTag;
    const rOff = this.tlbROff;
    const wTag = this.tlbWTag;
    const wOff = this.tlbWOff;
    let n = budget;
    let exit: ExitReason = ExitReason.Budget;
    this.waiting = false;
    const jit = this.jit;
    // With the JIT: 0 = enter translated code at each page visit; > 0 = interpret that many
    // instructions one at a time first; -1 = interpret the next page visit normally.
    let jitSteps = 0;
    // Set when the engines switched where the interpreter alone would not have left its inner
    // loop: interrupts are not taken there, so both engines take them at the same instructions.
    let jitQuiet = false;
    this.runBudget = budget;

    outer: for (;;) {
      if (this.exitPending >= 0) {
        exit = this.exitPending;
        this.exitPending = -1;
        break;
      }
      if (n <= 0) break;
      if (this.irqCheck && !jitQuiet && this.takeInterrupt()) continue;
      jitQuiet = false;

      // fetchPage(), its TLB hit on a page already decoded written out (once per page visit).
      const xt = this.iBase + ((this.pcLo >>> 12) & TLB_MASK);
      let code: Int32Array | null | undefined = this.tlbXTag[xt] === this.pcHi * 1048576 + (this.pcLo >>> 12)
        ? mem.decodedPages[this.tlbXOff[xt] >>> 12]
        : undefined;
      if (code !== undefined) this.codeArenaOffset = this.tlbXOff[xt];
      else code = this.fetchPage();
      if (code === null) {
        n--; // a fetch fault consumes budget so a fault loop still ends
        continue;
      }
      const baseLo = this.pcLo & ~0xfff;
      const baseHi = this.pcHi;
      let k = (this.pcLo & 0xfff) << 1;
      let limit = PAGE_LIMIT;
      // Taken branches and jumps stay in the inner loop when their target is below this.
      let jumpLimit = PAGE_LIMIT;
      let stepping = false;
      if (jit !== null) {
        const page = this.codeArenaOffset >>> 12;
        const heat = jit.heat[page];
        // A cold page with no translation: nothing for the engine to do (see jit.hotThreshold).
        if (jitSteps === 0 && (jit.pages[page] !== undefined || heat === undefined || heat >= jit.hotThreshold)) {
          const r = jit.enter(code, page, baseLo, baseHi, k >> 2, n, this.dBase, this.iBase);
          if (r >= 0) {
            n = r;
            jitSteps = this.jitExit(jit);
            jitQuiet = jitSteps !== 0;
            continue outer;
          }
          if (r === -2) jitSteps = jit.steps;
          // Code a translation of this page does not cover: back to the engine at the next taken
          // jump (a loop whose new path runs here returns to its translated part each turn).
          else if (r === -3) jumpLimit = 0;
        }
        if (jitSteps > 0) {
          jitSteps--;
          limit = 0; // one instruction, then back to the top
          jumpLimit = 0;
          stepping = true;
        } else {
          jitSteps = 0;
        }
      }
      const dBase = this.dBase;
      const gen = mem.codeGeneration;
      const nVisit = n;
      const visitCode = code;
      const k0 = k;

      inner: for (;;) {
        const w0 = code[k];
        switch (w0 & 0xff) {
          case Op.Undecoded:
            this.decodeSlot(code, k);
            continue inner;
          case Op.CrossPage: {
            this.pcLo = baseLo | (k >> 1);
            this.pcHi = baseHi;
            if (!this.decodeCrossPage()) {
              k = -1;
              n--;
              break inner;
            }
            code = this.scratchPage;
            limit = 0;
            jumpLimit = 0;
            continue inner;
          }
          case Op.Illegal:
            this.pcLo = baseLo | (k >> 1);
            this.pcHi = baseHi;
            this.raiseException(Cause.IllegalInstruction, code[k + 1], 0);
            k = -1;
            n--;
            break inner;
          case Op.Nop:
            k += code[k + 3];
            break;

          // ---------------- RV64I ----------------
          case Op.Lui: {
            const rd = (w0 >> 8) & 0xff;
            const imm = code[k + 1];
            x[rd] = imm;
            x[rd + 1] = imm >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Auipc: {
            const rd = (w0 >> 8) & 0xff;
            const imm = code[k + 1];
            const pc = baseLo | (k >> 1);
            const lo = (pc + imm) | 0;
            x[rd + 1] = (baseHi + (imm >> 31) + ((lo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
            x[rd] = lo;
            k += code[k + 3];
            break;
          }
          case Op.Jal: {
            const rd = (w0 >> 8) & 0xff;
            const step = code[k + 3];
            const t = k + (code[k + 1] << 1);
            this.link(rd, baseLo, baseHi, k, step);
            if (t >= 0 && t < jumpLimit) {
              k = t;
              break;
            }
            // (In the page: left for the JIT, where the interpreter alone goes on; no interrupt.)
            if (t >= 0 && t < limit) jitQuiet = true;
            this.setPcRel(baseLo, baseHi, k, code[k + 1]);
            k = -1;
            n--;
            break inner;
          }
          case Op.Jalr: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            const a = x[rs1];
            const tLo = ((a + imm) | 0) & ~1;
            const tHi = (x[rs1 + 1] + (imm >> 31) + ((((a + imm) | 0) >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
            this.link(rd, baseLo, baseHi, k, code[k + 3]);
            if ((tLo & ~0xfff) === baseLo && tHi === baseHi && limit === PAGE_LIMIT) {
              if (jumpLimit === PAGE_LIMIT) {
                k = (tLo & 0xfff) << 1;
                break;
              }
              jitQuiet = true;
            }
            this.pcLo = tLo;
            this.pcHi = tHi;
            k = -1;
            n--;
            break inner;
          }
          case Op.Beq:
          case Op.Bne:
          case Op.Blt:
          case Op.Bge:
          case Op.Bltu:
          case Op.Bgeu: {
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            let taken: boolean;
            switch (w0 & 0xff) {
              case Op.Beq: taken = x[rs1] === x[rs2] && x[rs1 + 1] === x[rs2 + 1]; break;
              case Op.Bne: taken = x[rs1] !== x[rs2] || x[rs1 + 1] !== x[rs2 + 1]; break;
              case Op.Blt: {
                const h1 = x[rs1 + 1], h2 = x[rs2 + 1];
                taken = h1 < h2 || (h1 === h2 && (x[rs1] >>> 0) < (x[rs2] >>> 0));
                break;
              }
              case Op.Bge: {
                const h1 = x[rs1 + 1], h2 = x[rs2 + 1];
                taken = h1 > h2 || (h1 === h2 && (x[rs1] >>> 0) >= (x[rs2] >>> 0));
                break;
              }
              case Op.Bltu: {
                const h1 = x[rs1 + 1] >>> 0, h2 = x[rs2 + 1] >>> 0;
                taken = h1 < h2 || (h1 === h2 && (x[rs1] >>> 0) < (x[rs2] >>> 0));
                break;
              }
              default: {
                const h1 = x[rs1 + 1] >>> 0, h2 = x[rs2 + 1] >>> 0;
                taken = h1 > h2 || (h1 === h2 && (x[rs1] >>> 0) >= (x[rs2] >>> 0));
                break;
              }
            }
            if (!taken) {
              k += code[k + 3];
              break;
            }
            const t = k + (code[k + 1] << 1);
            if (t >= 0 && t < jumpLimit) {
              k = t;
              break;
            }
            if (t >= 0 && t < limit) jitQuiet = true;
            this.setPcRel(baseLo, baseHi, k, code[k + 1]);
            k = -1;
            n--;
            break inner;
          }

          // ---------------- loads ----------------
          case Op.Lb:
          case Op.Lh:
          case Op.Lw:
          case Op.Ld:
          case Op.Lbu:
          case Op.Lhu:
          case Op.Lwu: {
            const op = w0 & 0xff;
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            const b = x[rs1];
            const lo = (b + imm) | 0;
            const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
            const t = dBase + ((lo >>> 12) & TLB_MASK);
            const off = rOff[t] + (lo & 0xfff);
            if (rTag[t] === hi * 1048576 + (lo >>> 12)) {
              if (op === Op.Ld) {
                if ((off & 7) === 0) {
                  x[rd] = i32[off >> 2];
                  x[rd + 1] = i32[(off >> 2) + 1];
                  k += code[k + 3];
                  break;
                }
              } else if (op === Op.Lw) {
                if ((off & 3) === 0) {
                  const v = i32[off >> 2];
                  x[rd] = v;
                  x[rd + 1] = v >> 31;
                  k += code[k + 3];
                  break;
                }
              } else if (op === Op.Lbu) {
                x[rd] = u8[off];
                x[rd + 1] = 0;
                k += code[k + 3];
                break;
              } else if (op === Op.Lwu) {
                if ((off & 3) === 0) {
                  x[rd] = i32[off >> 2];
                  x[rd + 1] = 0;
                  k += code[k + 3];
                  break;
                }
              } else if (op === Op.Lb) {
                const v = (u8[off] << 24) >> 24;
                x[rd] = v;
                x[rd + 1] = v >> 31;
                k += code[k + 3];
                break;
              } else if ((off & 1) === 0) {
                const v = op === Op.Lhu ? u16[off >> 1] : (u16[off >> 1] << 16) >> 16;
                x[rd] = v;
                x[rd + 1] = v >> 31;
                k += code[k + 3];
                break;
              }
            }
            this.pcLo = baseLo | (k >> 1);
            this.pcHi = baseHi;
            if (!this.loadSlow(lo, hi, op)) {
              k = -1;
              n--;
              break inner;
            }
            x[rd] = this.ldLo;
            x[rd + 1] = this.ldHi;
            k += code[k + 3];
            if (this.exitPending >= 0) {
              n--;
              break inner;
            }
            break;
          }

          // ---------------- stores ----------------
          case Op.Sb:
          case Op.Sh:
          case Op.Sw:
          case Op.Sd: {
            const op = w0 & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            const imm = code[k + 1];
            const b = x[rs1];
            const lo = (b + imm) | 0;
            const hi = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
            const t = dBase + ((lo >>> 12) & TLB_MASK);
            const off = wOff[t] + (lo & 0xfff);
            if (wTag[t] === hi * 1048576 + (lo >>> 12)) {
              if (op === Op.Sd) {
                if ((off & 7) === 0) {
                  i32[off >> 2] = x[rs2];
                  i32[(off >> 2) + 1] = x[rs2 + 1];
                  k += code[k + 3];
                  break;
                }
              } else if (op === Op.Sw) {
                if ((off & 3) === 0) {
                  i32[off >> 2] = x[rs2];
                  k += code[k + 3];
                  break;
                }
              } else if (op === Op.Sb) {
                u8[off] = x[rs2];
                k += code[k + 3];
                break;
              } else if ((off & 1) === 0) {
                u16[off >> 1] = x[rs2];
                k += code[k + 3];
                break;
              }
            }
            this.pcLo = baseLo | (k >> 1);
            this.pcHi = baseHi;
            if (!this.storeSlow(lo, hi, 1 << (op - Op.Sb), x[rs2], x[rs2 + 1])) {
              k = -1;
              n--;
              break inner;
            }
            k += code[k + 3];
            if (mem.codeGeneration !== gen || this.exitPending >= 0) {
              // The store hit decoded code (maybe this very page) or a watch stopped the hart.
              n--;
              break inner;
            }
            break;
          }

          // ---------------- OP-IMM ----------------
          case Op.Addi: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            const a = x[rs1];
            const lo = (a + imm) | 0;
            x[rd + 1] = (x[rs1 + 1] + (imm >> 31) + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
            x[rd] = lo;
            k += code[k + 3];
            break;
          }
          case Op.Slti: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            const h = x[rs1 + 1];
            const ih = imm >> 31;
            x[rd] = h < ih || (h === ih && (x[rs1] >>> 0) < (imm >>> 0)) ? 1 : 0;
            x[rd + 1] = 0;
            k += code[k + 3];
            break;
          }
          case Op.Sltiu: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            const h = x[rs1 + 1] >>> 0;
            const ih = (imm >> 31) >>> 0;
            x[rd] = h < ih || (h === ih && (x[rs1] >>> 0) < (imm >>> 0)) ? 1 : 0;
            x[rd + 1] = 0;
            k += code[k + 3];
            break;
          }
          case Op.Xori: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            x[rd + 1] = x[rs1 + 1] ^ (imm >> 31);
            x[rd] = x[rs1] ^ imm;
            k += code[k + 3];
            break;
          }
          case Op.Ori: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            x[rd + 1] = x[rs1 + 1] | (imm >> 31);
            x[rd] = x[rs1] | imm;
            k += code[k + 3];
            break;
          }
          case Op.Andi: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const imm = code[k + 1];
            x[rd + 1] = x[rs1 + 1] & (imm >> 31);
            x[rd] = x[rs1] & imm;
            k += code[k + 3];
            break;
          }
          case Op.Slli:
          case Op.Srli:
          case Op.Srai:
          case Op.Sll:
          case Op.Srl:
          case Op.Sra: {
            const op = w0 & 0xff;
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const sh = op <= Op.Srai ? code[k + 1] : x[w0 >>> 24] & 63;
            const lo = x[rs1];
            const hi = x[rs1 + 1];
            if (sh === 0) {
              x[rd] = lo;
              x[rd + 1] = hi;
            } else if (op === Op.Slli || op === Op.Sll) {
              if (sh < 32) {
                x[rd + 1] = (hi << sh) | (lo >>> (32 - sh));
                x[rd] = lo << sh;
              } else {
                x[rd + 1] = lo << (sh - 32);
                x[rd] = 0;
              }
            } else if (op === Op.Srli || op === Op.Srl) {
              if (sh < 32) {
                x[rd] = (lo >>> sh) | (hi << (32 - sh));
                x[rd + 1] = hi >>> sh;
              } else {
                x[rd] = hi >>> (sh - 32);
                x[rd + 1] = 0;
              }
            } else if (sh < 32) {
              x[rd] = (lo >>> sh) | (hi << (32 - sh));
              x[rd + 1] = hi >> sh;
            } else {
              x[rd] = hi >> (sh - 32);
              x[rd + 1] = hi >> 31;
            }
            k += code[k + 3];
            break;
          }

          // ---------------- OP ----------------
          case Op.Add: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            const a = x[rs1];
            const lo = (a + x[rs2]) | 0;
            x[rd + 1] = (x[rs1 + 1] + x[rs2 + 1] + ((lo >>> 0) < (a >>> 0) ? 1 : 0)) | 0;
            x[rd] = lo;
            k += code[k + 3];
            break;
          }
          case Op.Sub: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            const a = x[rs1];
            const b = x[rs2];
            x[rd + 1] = (x[rs1 + 1] - x[rs2 + 1] - ((a >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
            x[rd] = (a - b) | 0;
            k += code[k + 3];
            break;
          }
          case Op.Slt: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            const h1 = x[rs1 + 1], h2 = x[rs2 + 1];
            x[rd] = h1 < h2 || (h1 === h2 && (x[rs1] >>> 0) < (x[rs2] >>> 0)) ? 1 : 0;
            x[rd + 1] = 0;
            k += code[k + 3];
            break;
          }
          case Op.Sltu: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            const h1 = x[rs1 + 1] >>> 0, h2 = x[rs2 + 1] >>> 0;
            x[rd] = h1 < h2 || (h1 === h2 && (x[rs1] >>> 0) < (x[rs2] >>> 0)) ? 1 : 0;
            x[rd + 1] = 0;
            k += code[k + 3];
            break;
          }
          case Op.Xor: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            x[rd + 1] = x[rs1 + 1] ^ x[rs2 + 1];
            x[rd] = x[rs1] ^ x[rs2];
            k += code[k + 3];
            break;
          }
          case Op.Or: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            x[rd + 1] = x[rs1 + 1] | x[rs2 + 1];
            x[rd] = x[rs1] | x[rs2];
            k += code[k + 3];
            break;
          }
          case Op.And: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            x[rd + 1] = x[rs1 + 1] & x[rs2 + 1];
            x[rd] = x[rs1] & x[rs2];
            k += code[k + 3];
            break;
          }

          // ---------------- 32-bit ops ----------------
          case Op.Addiw: {
            const rd = (w0 >> 8) & 0xff;
            const v = (x[(w0 >> 16) & 0xff] + code[k + 1]) | 0;
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Slliw: {
            const rd = (w0 >> 8) & 0xff;
            const v = x[(w0 >> 16) & 0xff] << code[k + 1];
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Srliw: {
            const rd = (w0 >> 8) & 0xff;
            const v = (x[(w0 >> 16) & 0xff] >>> code[k + 1]) | 0;
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Sraiw: {
            const rd = (w0 >> 8) & 0xff;
            const v = x[(w0 >> 16) & 0xff] >> code[k + 1];
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Addw: {
            const rd = (w0 >> 8) & 0xff;
            const v = (x[(w0 >> 16) & 0xff] + x[w0 >>> 24]) | 0;
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Subw: {
            const rd = (w0 >> 8) & 0xff;
            const v = (x[(w0 >> 16) & 0xff] - x[w0 >>> 24]) | 0;
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Sllw: {
            const rd = (w0 >> 8) & 0xff;
            const v = x[(w0 >> 16) & 0xff] << (x[w0 >>> 24] & 31);
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Srlw: {
            const rd = (w0 >> 8) & 0xff;
            const v = (x[(w0 >> 16) & 0xff] >>> (x[w0 >>> 24] & 31)) | 0;
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Sraw: {
            const rd = (w0 >> 8) & 0xff;
            const v = x[(w0 >> 16) & 0xff] >> (x[w0 >>> 24] & 31);
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }

          // ---------------- M ----------------
          case Op.Mul: {
            const rd = (w0 >> 8) & 0xff;
            const rs1 = (w0 >> 16) & 0xff;
            const rs2 = w0 >>> 24;
            const aLo = x[rs1], aHi = x[rs1 + 1], bLo = x[rs2], bHi = x[rs2 + 1];
            const lo = mulU32(aLo, bLo);
            // Each sum truncated: an untruncated three-term sum overflows int32, which V8 does not expect.
            x[rd + 1] = (((rHi | 0) + Math.imul(aLo, bHi)) | 0) + Math.imul(aHi, bLo) | 0;
            x[rd] = lo;
            k += code[k + 3];
            break;
          }
          case Op.Mulw: {
            const rd = (w0 >> 8) & 0xff;
            const v = Math.imul(x[(w0 >> 16) & 0xff], x[w0 >>> 24]);
            x[rd] = v;
            x[rd + 1] = v >> 31;
            k += code[k + 3];
            break;
          }
          case Op.Mulh:
          case Op.Mulhsu:
          case Op.Mulhu:
          case Op.Div:
          case Op.Divu:
          case Op.Rem:
          case Op.Remu:
          case Op.Divw:
          case Op.Divuw:
          case Op.Remw:
          case Op.Remuw:
            this.execMulDiv(w0);
            k += code[k + 3];
            break;

          default: {
            // System, CSR, atomics and floating point: executed out of line.
            this.pcLo = baseLo | (k >> 1);
            this.pcHi = baseHi;
            this.retiredInRun = budget - n;
            const r = this.execSlow(w0, code[k + 1], code[k + 2], code[k + 3]);
            if (r === 0) {
              k += code[k + 3];
              if (mem.codeGeneration !== gen || this.exitPending >= 0) {
                n--;
                break inner;
              }
              break;
            }
            // r === 1: pc and/or mode changed; r === 2: exception raised
            k = -1;
            n--;
            if (r === 1) this.irqCheck = true;
            break inner;
          }
        }
        // Normal continuation: one instruction retired.
        if (--n <= 0 || k >= limit) break;
      }
      if (k >= 0) {
        // Left the page sequentially or ran out of budget: materialise the pc.
        const off = k >> 1;
        const lo = (baseLo + off) | 0;
        this.pcLo = lo;
        this.pcHi = (baseHi + ((lo >>> 0) < (baseLo >>> 0) ? 1 : 0)) | 0;
      }
      if (jit !== null) {
        if (stepping) {
          jitQuiet = this.jitStepQuiet(visitCode[k0] & 0xff, k, gen, baseLo, baseHi);
          if (!jitQuiet) jitSteps = 0;
        }
        // jit.noteInterpreted(page, count), its common case written out (a cold page's heat grows,
        // short of warm): the call was not inlined (see jit.hotThreshold).
        const page = this.codeArenaOffset >>> 12;
        const before = jit.heat[page];
        const after = before + (nVisit - n) + 1;
        if (jit.pages[page] === undefined && before !== undefined && after < jit.warmThreshold) jit.heat[page] = after;
        else jit.noteInterpreted(page, nVisit - n);
      }
      continue outer;
    }
    this.instretBase += budget - n;
    return exit;
  }

  // ==================================================================================
  // JIT plumbing: the exit of translated code, and its callouts (src/jit/layout.ts JitCall).
  // Translated code keeps the registers in `x` itself, so callouts see and change them as the
  // interpreter's slow paths do.
  // ==================================================================================

  /** Takes the pc from translated code's exit report; returns the next jitSteps. */
  private jitExit(jit: JitEngine): number {
    const kind = jit.exitKind;
    if (kind !== JitExit.PcSet) {
      this.pcLo = jit.exitPcLo;
      this.pcHi = jit.exitPcHi;
    }
    return kind === JitExit.Step || kind === JitExit.Miss ? 1 : kind === JitExit.Budget ? -1 : 0;
  }

  /**
   * After interpreting one instruction (op) for the JIT: true when the interpreter alone would
   * have gone on in its inner loop (so the top of the outer loop must not take interrupts).
   */
  private jitStepQuiet(op: number, k: number, gen: number, baseLo: number, baseHi: number): boolean {
    if (this.exitPending >= 0 || this.mem.codeGeneration !== gen || op === Op.CrossPage) return false;
    if (k >= 0) return k < PAGE_LIMIT; // went on sequentially, inside the page
    // A jump or taken branch the one-instruction limit sent to the top: was it inside the page?
    return (op === Op.Jal || op === Op.Jalr || (op >= Op.Beq && op <= Op.Bgeu)) &&
      (this.pcLo & ~0xfff) === baseLo && this.pcHi === baseHi;
  }

  /** @internal A load translated code could not do inline (TLB miss, misaligned, MMIO, fault). */
  jitLoad(pcLo: number, pcHi: number, lo: number, hi: number, op: number): number {
    this.pcLo = pcLo;
    this.pcHi = pcHi;
    if (!this.loadSlow(lo, hi, op)) return JitCall.PcSet;
    this.jitLoadResult[0] = this.ldLo;
    this.jitLoadResult[1] = this.ldHi;
    return this.exitPending >= 0 ? JitCall.Stop : JitCall.Ok;
  }

  /** @internal A store translated code could not do inline (also every store to a code page). */
  jitStore(pcLo: number, pcHi: number, lo: number, hi: number, size: number, vLo: number, vHi: number): number {
    this.pcLo = pcLo;
    this.pcHi = pcHi;
    const gen = this.mem.codeGeneration;
    if (!this.storeSlow(lo, hi, size, vLo, vHi)) return JitCall.PcSet;
    return this.mem.codeGeneration !== gen || this.exitPending >= 0 ? JitCall.Stop : JitCall.Ok;
  }

  /** @internal An out-of-line instruction (system, CSR, atomic, FP); `n` = budget left before it. */
  jitSlow(pcLo: number, pcHi: number, w0: number, w1: number, w2: number, step: number, n: number): number {
    this.pcLo = pcLo;
    this.pcHi = pcHi;
    this.retiredInRun = this.runBudget - n;
    const gen = this.mem.codeGeneration;
    const r = this.execSlow(w0, w1, w2, step);
    if (r === 0) return this.mem.codeGeneration !== gen || this.exitPending >= 0 ? JitCall.Stop : JitCall.Ok;
    if (r === 1) this.irqCheck = true;
    return JitCall.PcSet;
  }

  // ==================================================================================
  // Control flow helpers
  // ==================================================================================

  /** rd = address of the next instruction (pc + step/2 bytes). */
  private link(rd: number, baseLo: number, baseHi: number, k: number, step: number): void {
    const pc = baseLo | (k >> 1);
    const lo = (pc + (step >> 1)) | 0;
    this.x[rd + 1] = (baseHi + ((lo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
    this.x[rd] = lo;
  }

  /** pc = (current instruction address) + imm. */
  private setPcRel(baseLo: number, baseHi: number, k: number, imm: number): void {
    const pc = baseLo | (k >> 1);
    const lo = (pc + imm) | 0;
    this.pcHi = (baseHi + (imm >> 31) + ((lo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
    this.pcLo = lo;
  }

  /** Advances this.pc by `step` decoded-slot units (8 = 4 bytes, 4 = 2 bytes). */
  private advancePc(step: number): void {
    const pc = this.pcLo;
    const lo = (pc + (step >> 1)) | 0;
    this.pcHi = (this.pcHi + ((lo >>> 0) < (pc >>> 0) ? 1 : 0)) | 0;
    this.pcLo = lo;
  }

  // ==================================================================================
  // Instruction fetch and decode
  // ==================================================================================

  /** Translates the pc and returns its decoded page, or null after raising a fetch fault. */
  private fetchPage(): Int32Array | null {
    const lo = this.pcLo;
    const hi = this.pcHi;
    const vpn = hi * 1048576 + (lo >>> 12);
    const t = this.iBase + ((lo >>> 12) & TLB_MASK);
    let pageOff: number;
    if (this.tlbXTag[t] === vpn) {
      pageOff = this.tlbXOff[t];
    } else {
      const pa = this.translate(lo, hi, ACCESS_EXEC, this.privLevel);
      if (pa < 0) {
        this.raiseFault();
        return null;
      }
      const off = this.mem.arenaOffset(pa);
      if (off < 0) {
        this.raiseException(Cause.InstructionAccessFault, lo, hi);
        return null;
      }
      pageOff = off - (off & 0xfff);
      this.tlbXTag[t] = vpn;
      this.tlbXOff[t] = pageOff;
    }
    this.codeArenaOffset = pageOff;
    const page = pageOff >>> 12;
    let code = this.mem.decodedPages[page];
    if (code === undefined) {
      code = new Int32Array(DECODED_PAGE_WORDS);
      this.mem.decodedPages[page] = code;
      this.mem.protectPage(page, PAGE_CODE);
    }
    return code;
  }

  private decodeSlot(code: Int32Array, k: number): void {
    const u16 = this.mem.u16;
    const h = (this.codeArenaOffset + (k >> 1)) >> 1;
    const lo16 = u16[h];
    if ((lo16 & 3) !== 3) {
      decode16(code, k, lo16);
    } else if (k === DECODED_PAGE_WORDS - 4) {
      code[k] = Op.CrossPage;
      code[k + 3] = 8;
    } else {
      decode32(code, k, lo16 | (u16[h + 1] << 16));
    }
  }

  /** Decodes a 32-bit instruction that straddles two pages into the scratch page's last slot. */
  private decodeCrossPage(): boolean {
    const u16 = this.mem.u16;
    const lo16 = u16[(this.codeArenaOffset + 0xffe) >> 1];
    const nLo = (this.pcLo + 2) | 0;
    const nHi = (this.pcHi + ((nLo >>> 0) < (this.pcLo >>> 0) ? 1 : 0)) | 0;
    const pa = this.translate(nLo, nHi, ACCESS_EXEC, this.privLevel);
    if (pa < 0) {
      this.raiseFault();
      return false;
    }
    const off = this.mem.arenaOffset(pa);
    if (off < 0) {
      this.raiseException(Cause.InstructionAccessFault, nLo, nHi);
      return false;
    }
    decode32(this.scratchPage, DECODED_PAGE_WORDS - 4, lo16 | (u16[off >> 1] << 16));
    return true;
  }

  /** The bits of the instruction at pc (for illegal-instruction tval), or 0 if unreadable. */
  private currentInsnBits(): number {
    const pa = this.translate(this.pcLo, this.pcHi, ACCESS_EXEC, this.privLevel);
    if (pa < 0) return 0;
    const off = this.mem.arenaOffset(pa);
    if (off < 0) return 0;
    const lo16 = this.mem.u16[off >> 1];
    if ((lo16 & 3) !== 3) return lo16;
    if ((off & 0xfff) === 0xffe) {
      const pa2 = this.translate((this.pcLo + 2) | 0, this.pcHi, ACCESS_EXEC, this.privLevel);
      const off2 = pa2 < 0 ? -1 : this.mem.arenaOffset(pa2);
      return off2 < 0 ? lo16 : lo16 | (this.mem.u16[off2 >> 1] << 16);
    }
    return lo16 | (this.mem.u16[(off >> 1) + 1] << 16);
  }

  // ==================================================================================
  // Address translation (privileged spec 4.3-4.5: Sv39, Sv48)
  // ==================================================================================

  /**
   * Translates a virtual address for an access at privilege `priv`. Returns the physical address,
   * or -1 with faultCause/faultTval set. Updates A/D bits in the page table as the hart's own
   * stores would.
   */
  private translate(lo: number, hi: number, access: number, priv: number): number {
    if (priv === PRIV_M || this.satpMode === 0) {
      if ((hi >>> 0) >= 0x200000) return this.fault(access, false, lo, hi);
      return (hi >>> 0) * TWO32 + (lo >>> 0);
    }
    const sv39 = this.satpMode === 8;
    const top = sv39 ? hi >> 6 : hi >> 15;
    if (top !== 0 && top !== -1) return this.fault(access, true, lo, hi);
    const need = access === ACCESS_WRITE ? Pte.A | Pte.D : Pte.A;
    const superpage = Math.floor((hi * 1048576 + (lo >>> 12)) / 512);
    const e = superpage & (LEAF_CACHE - 1);
    if (this.leafKey[e] === superpage) {
      const pte = this.leafPte[e];
      if ((pte & need) === need && this.leafAllows(pte, access, priv)) return this.leafBase[e] + (lo & 0x1fffff);
    }
    const csr = this.csr64;
    let table = ((csr[C_SATP + 1] & 0xfff) * TWO32 + (csr[C_SATP] >>> 0)) * PAGE_SIZE;
    const mem = this.mem;
    const i32 = mem.i32;
    for (let level = sv39 ? 2 : 3; level >= 0; level--) {
      const vpn =
        level === 0 ? (lo >>> 12) & 511 :
        level === 1 ? (lo >>> 21) & 511 :
        level === 2 ? ((lo >>> 30) | (hi << 2)) & 511 :
        (hi >>> 7) & 511;
      const pteAddr = table + vpn * 8;
      const off = mem.arenaOffset(pteAddr);
      if (off < 0) return this.fault(access, false, lo, hi);
      let pte = i32[off >> 2];
      const pteHi = i32[(off >> 2) + 1];
      if ((pte & Pte.V) === 0 || (pte & (Pte.R | Pte.W)) === Pte.W || (pteHi >>> 22) !== 0) {
        return this.fault(access, true, lo, hi);
      }
      const ppn = (pteHi & 0x3fffff) * 4194304 + (pte >>> 10);
      if ((pte & (Pte.R | Pte.X)) === 0) {
        // Pointer to the next level.
        if (level === 0) return this.fault(access, true, lo, hi);
        table = ppn * PAGE_SIZE;
        continue;
      }
      // Leaf: permissions.
      if (!this.leafAllows(pte, access, priv)) return this.fault(access, true, lo, hi);
      // Superpage alignment: the low level*9 bits of the PPN must be zero.
      if (level > 0) {
        if (ppn % SUPERPAGE_PPNS[level] !== 0) return this.fault(access, true, lo, hi);
        const key = superpageKey(hi * 1048576 + (lo >>> 12), level);
        if (key !== this.lastSuperpage) {
          this.lastSuperpage = key;
          this.superpages.add(key);
        }
      }
      // Accessed / dirty.
      if ((pte & need) !== need) {
        pte |= need;
        const page = off >>> 12;
        if (mem.pageFlags[page] !== 0) mem.invalidateCode(page);
        i32[off >> 2] = pte;
        mem.dirty[page] = 1;
      }
      if (level === 1) {
        this.leafKey[e] = superpage;
        this.leafPte[e] = pte;
        this.leafBase[e] = ppn * PAGE_SIZE;
      }
      // Physical address: PPN with the low levels taken from the virtual address.
      if (level === 0) return ppn * PAGE_SIZE + (lo & 0xfff);
      if (level === 1) return ppn * PAGE_SIZE + (lo & 0x1fffff);
      if (level === 2) return ppn * PAGE_SIZE + (lo & 0x3fffffff);
      return ppn * PAGE_SIZE + (hi & 0x7f) * TWO32 + (lo >>> 0);
    }
    return this.fault(access, true, lo, hi);
  }

  /** A leaf PTE's permissions allow the access at `priv` (with the current SUM and MXR). */
  private leafAllows(pte: number, access: number, priv: number): boolean {
    if (priv === PRIV_U) {
      if ((pte & Pte.U) === 0) return false;
    } else if ((pte & Pte.U) !== 0) {
      if (access === ACCESS_EXEC || (this.mstatus & MSTATUS_SUM) === 0) return false;
    }
    if (access === ACCESS_READ) {
      return (pte & Pte.R) !== 0 || ((this.mstatus & MSTATUS_MXR) !== 0 && (pte & Pte.X) !== 0);
    }
    if (access === ACCESS_WRITE) return (pte & Pte.W) !== 0;
    return (pte & Pte.X) !== 0;
  }

  private fault(access: number, pageFault: boolean, lo: number, hi: number): number {
    this.faultCause = pageFault
      ? access === ACCESS_READ ? Cause.LoadPageFault : access === ACCESS_WRITE ? Cause.StorePageFault : Cause.InstructionPageFault
      : access === ACCESS_READ ? Cause.LoadAccessFault : access === ACCESS_WRITE ? Cause.StoreAccessFault : Cause.InstructionAccessFault;
    this.faultTvalLo = lo;
    this.faultTvalHi = hi;
    return -1;
  }

  private raiseFault(): void {
    this.raiseException(this.faultCause, this.faultTvalLo, this.faultTvalHi);
  }

  /** Flushes translations of U and S mode (satp writes, sfence.vma, MXR changes). */
  private flushTlb(): void {
    const n = 3 * TLB_SIZE; // sets U, S, SUM; the M set maps physical addresses and stays valid
    this.tlbRTag.fill(NaN, 0, n);
    this.tlbWTag.fill(NaN, 0, n);
    this.tlbXTag.fill(NaN, 0, n);
    this.superpages.clear();
    this.lastSuperpage = NaN;
    this.leafKey.fill(NaN);
  }

  /**
   * sfence.vma with an address: drops the translations of that virtual page only (in the U, S
   * and SUM sets, whatever the ASID). The TLB holds 4 KiB entries even for superpages, so when a
   * cached translation came from a superpage holding the address, the whole TLB goes instead.
   */
  private flushTlbPage(lo: number, hi: number): void {
    const vpn = hi * 1048576 + (lo >>> 12);
    const sp = this.superpages;
    if (sp.size > 0 && (sp.has(superpageKey(vpn, 1)) || sp.has(superpageKey(vpn, 2)) || sp.has(superpageKey(vpn, 3)))) {
      this.flushTlb();
      return;
    }
    const slot = (lo >>> 12) & TLB_MASK;
    for (let set = 0; set < 3; set++) {
      const i = set * TLB_SIZE + slot;
      if (this.tlbRTag[i] === vpn) this.tlbRTag[i] = NaN;
      if (this.tlbWTag[i] === vpn) this.tlbWTag[i] = NaN;
      if (this.tlbXTag[i] === vpn) this.tlbXTag[i] = NaN;
    }
  }

  private flushTlbAll(): void {
    this.tlbRTag.fill(NaN);
    this.tlbWTag.fill(NaN);
    this.tlbXTag.fill(NaN);
    this.superpages.clear();
    this.lastSuperpage = NaN;
    this.leafKey.fill(NaN);
  }

  /** CodePageListener: a page now holds code or a watch; drop write mappings of it. */
  onPageWriteProtect(arenaPage: number): void {
    // Most pages that become code were never mapped for writing (program text, the kernel's):
    // only a page that was needs the scan.
    if (arenaPage >= this.writeMapped.length || this.writeMapped[arenaPage] === 0) return;
    this.writeMapped[arenaPage] = 0;
    const tags = this.tlbWTag;
    const offs = this.tlbWOff;
    for (let i = 0; i < tags.length; i++) {
      if (tags[i] === tags[i] && offs[i] >>> 12 === arenaPage) tags[i] = NaN;
    }
  }

  /** Recomputes the TLB sets used for fetch and data after a privilege or mstatus change. */
  private updateModes(): void {
    const p = this.privLevel;
    this.iBase = (p === PRIV_M ? SET_M : p === PRIV_S ? SET_S : SET_U) * TLB_SIZE;
    let d = p;
    if (p === PRIV_M && (this.mstatus & MSTATUS_MPRV) !== 0) {
      d = (this.mstatus & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    }
    this.dPriv = d;
    const set = d === PRIV_M ? SET_M : d === PRIV_S ? ((this.mstatus & MSTATUS_SUM) !== 0 ? SET_SUM : SET_S) : SET_U;
    this.dBase = set * TLB_SIZE;
  }

  // ==================================================================================
  // Data access slow paths
  // ==================================================================================

  /** Translates a data address for this hart's current data privilege; fills the TLB. */
  private translateData(lo: number, hi: number, access: number): number {
    const pa = this.translate(lo, hi, access, this.dPriv);
    if (pa < 0) return -1;
    const off = this.mem.arenaOffset(pa);
    if (off >= 0) {
      const t = this.dBase + ((lo >>> 12) & TLB_MASK);
      const vpn = hi * 1048576 + (lo >>> 12);
      const pageOff = off - (off & 0xfff);
      if (access === ACCESS_READ) {
        this.tlbRTag[t] = vpn;
        this.tlbROff[t] = pageOff;
      } else {
        const page = pageOff >>> 12;
        if (this.mem.pageFlags[page] === 0 && this.mem.readonlyPages[page] === 0) {
          this.mem.dirty[page] = 1;
          this.tlbWTag[t] = vpn;
          if (page >= this.writeMapped.length) this.writeMapped = grow(this.writeMapped, this.mem.pageFlags.length);
          this.writeMapped[page] = 1;
          this.tlbWOff[t] = pageOff;
        }
      }
    }
    return pa;
  }

  /** Reads `size` bytes at a physical address into ldLo/ldHi (zero-extended). */
  private physRead(pa: number, size: number, lo: number, hi: number): boolean {
    const mem = this.mem;
    const off = mem.arenaOffset(pa);
    if (off >= 0) {
      if (size === 8 && (off & 7) === 0) {
        this.ldLo = mem.i32[off >> 2];
        this.ldHi = mem.i32[(off >> 2) + 1];
      } else if (size === 4 && (off & 3) === 0) {
        this.ldLo = mem.i32[off >> 2];
        this.ldHi = 0;
      } else {
        const u8 = mem.u8;
        let vLo = 0;
        let vHi = 0;
        for (let i = 0; i < size; i++) {
          if (i < 4) vLo |= u8[off + i] << (8 * i);
          else vHi |= u8[off + i] << (8 * (i - 4));
        }
        this.ldLo = vLo;
        this.ldHi = vHi;
      }
      return true;
    }
    const region = mem.findMmio(pa);
    if (region === undefined) {
      this.fault(ACCESS_READ, false, lo, hi);
      return false;
    }
    const v = this.mmioValue;
    v.lo = 0;
    v.hi = 0;
    region.handler.read(pa - region.base, size, v);
    this.ldLo = size === 1 ? v.lo & 0xff : size === 2 ? v.lo & 0xffff : v.lo | 0;
    this.ldHi = size === 8 ? v.hi | 0 : 0;
    return true;
  }

  /** Writes `size` bytes at a physical address. */
  private physWrite(pa: number, size: number, vLo: number, vHi: number, lo: number, hi: number): boolean {
    const mem = this.mem;
    const off = mem.arenaOffset(pa);
    if (off >= 0) {
      const page = off >>> 12;
      if (mem.readonlyPages[page] !== 0) {
        this.fault(ACCESS_WRITE, false, lo, hi);
        return false;
      }
      const flags = mem.pageFlags[page];
      if (flags !== 0) mem.invalidateCodeRange(page, off & 0xfff, size);
      if (size === 8 && (off & 7) === 0) {
        mem.i32[off >> 2] = vLo;
        mem.i32[(off >> 2) + 1] = vHi;
      } else if (size === 4 && (off & 3) === 0) {
        mem.i32[off >> 2] = vLo;
      } else {
        const u8 = mem.u8;
        for (let i = 0; i < size; i++) u8[off + i] = i < 4 ? vLo >>> (8 * i) : vHi >>> (8 * (i - 4));
      }
      mem.dirty[page] = 1;
      if ((flags & 2) !== 0) mem.notifyWrite(pa, size);
      return true;
    }
    const region = mem.findMmio(pa);
    if (region === undefined) {
      this.fault(ACCESS_WRITE, false, lo, hi);
      return false;
    }
    const m = size === 1 ? 0xff : size === 2 ? 0xffff : -1;
    region.handler.write(pa - region.base, size, vLo & m, size === 8 ? vHi : 0);
    return true;
  }

  /** Load of `op`'s width at a virtual address; result in ldLo/ldHi, extended per op. */
  private loadSlow(lo: number, hi: number, op: number): boolean {
    const size = op === Op.Ld ? 8 : op === Op.Lw || op === Op.Lwu ? 4 : op === Op.Lh || op === Op.Lhu ? 2 : 1;
    if (!this.loadBytes(lo, hi, size)) {
      this.raiseFault();
      return false;
    }
    switch (op) {
      case Op.Lb:
        this.ldLo = (this.ldLo << 24) >> 24;
        this.ldHi = this.ldLo >> 31;
        break;
      case Op.Lh:
        this.ldLo = (this.ldLo << 16) >> 16;
        this.ldHi = this.ldLo >> 31;
        break;
      case Op.Lw:
        this.ldHi = this.ldLo >> 31;
        break;
      default:
        break;
    }
    return true;
  }

  /** Reads `size` bytes at a virtual address (any alignment) into ldLo/ldHi; false on fault. */
  private loadBytes(lo: number, hi: number, size: number): boolean {
    if ((lo & (size - 1)) === 0) {
      const pa = this.translateData(lo, hi, ACCESS_READ);
      return pa >= 0 && this.physRead(pa, size, lo, hi);
    }
    // Misaligned: byte by byte (each byte may be on another page).
    let vLo = 0;
    let vHi = 0;
    for (let i = 0; i < size; i++) {
      const aLo = (lo + i) | 0;
      const aHi = (hi + ((aLo >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
      const pa = this.translateData(aLo, aHi, ACCESS_READ);
      if (pa < 0 || !this.physRead(pa, 1, aLo, aHi)) {
        this.faultTvalLo = lo;
        this.faultTvalHi = hi;
        return false;
      }
      if (i < 4) vLo |= this.ldLo << (8 * i);
      else vHi |= this.ldLo << (8 * (i - 4));
    }
    this.ldLo = vLo;
    this.ldHi = vHi;
    return true;
  }

  /** Store of `size` bytes at a virtual address (any alignment); raises the fault on failure. */
  private storeSlow(lo: number, hi: number, size: number, vLo: number, vHi: number): boolean {
    if (!this.storeBytes(lo, hi, size, vLo, vHi)) {
      this.raiseFault();
      return false;
    }
    return true;
  }

  private storeBytes(lo: number, hi: number, size: number, vLo: number, vHi: number): boolean {
    if ((lo & (size - 1)) === 0) {
      const pa = this.translateData(lo, hi, ACCESS_WRITE);
      return pa >= 0 && this.physWrite(pa, size, vLo, vHi, lo, hi);
    }
    // Misaligned: translate both ends first so a fault leaves memory untouched.
    const endLo = (lo + size - 1) | 0;
    const endHi = (hi + ((endLo >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
    if (this.translateData(lo, hi, ACCESS_WRITE) < 0 || this.translateData(endLo, endHi, ACCESS_WRITE) < 0) {
      this.faultTvalLo = lo;
      this.faultTvalHi = hi;
      return false;
    }
    for (let i = 0; i < size; i++) {
      const aLo = (lo + i) | 0;
      const aHi = (hi + ((aLo >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
      const pa = this.translateData(aLo, aHi, ACCESS_WRITE);
      const byte = i < 4 ? vLo >>> (8 * i) : vHi >>> (8 * (i - 4));
      if (pa < 0 || !this.physWrite(pa, 1, byte & 0xff, 0, aLo, aHi)) {
        this.faultTvalLo = lo;
        this.faultTvalHi = hi;
        return false;
      }
    }
    return true;
  }

  // ==================================================================================
  // Traps and interrupts
  // ==================================================================================

  /** Raises a synchronous exception at this.pc (or exits to the host if intercepted). */
  private raiseException(cause: number, tvalLo: number, tvalHi: number): void {
    if (((this.interceptExceptions >>> cause) & 1) !== 0) {
      this.exitPending = ExitReason.Exception;
      this.exitCause = cause;
      this.exitTval = toBig(tvalLo, tvalHi);
      return;
    }
    this.trap(cause, false, tvalLo, tvalHi);
  }

  private trap(cause: number, interrupt: boolean, tvalLo: number, tvalHi: number): void {
    const csr = this.csr64;
    const deleg = interrupt ? this.mideleg : this.medeleg;
    const priv = this.privLevel;
    let ms = this.mstatus;
    let tvecLo: number;
    let tvecHi: number;
    if (priv <= PRIV_S && ((deleg >>> cause) & 1) !== 0) {
      csr[C_SEPC] = this.pcLo;
      csr[C_SEPC + 1] = this.pcHi;
      csr[C_SCAUSE] = cause;
      csr[C_SCAUSE + 1] = interrupt ? 0x80000000 | 0 : 0;
      csr[C_STVAL] = tvalLo;
      csr[C_STVAL + 1] = tvalHi;
      ms = (ms & ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE)) |
        (priv === PRIV_S ? MSTATUS_SPP : 0) | ((ms & MSTATUS_SIE) !== 0 ? MSTATUS_SPIE : 0);
      this.privLevel = PRIV_S;
      tvecLo = csr[C_STVEC];
      tvecHi = csr[C_STVEC + 1];
    } else {
      csr[C_MEPC] = this.pcLo;
      csr[C_MEPC + 1] = this.pcHi;
      csr[C_MCAUSE] = cause;
      csr[C_MCAUSE + 1] = interrupt ? 0x80000000 | 0 : 0;
      csr[C_MTVAL] = tvalLo;
      csr[C_MTVAL + 1] = tvalHi;
      ms = (ms & ~(MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE)) |
        (priv << MSTATUS_MPP_SHIFT) | ((ms & MSTATUS_MIE) !== 0 ? MSTATUS_MPIE : 0);
      this.privLevel = PRIV_M;
      tvecLo = csr[C_MTVEC];
      tvecHi = csr[C_MTVEC + 1];
    }
    this.mstatus = ms;
    let pcLo = tvecLo & ~3;
    if (interrupt && (tvecLo & 3) === 1) pcLo = (pcLo + 4 * cause) | 0;
    this.pcLo = pcLo;
    this.pcHi = tvecHi;
    this.updateModes();
    this.irqCheck = true;
  }

  /** Takes the highest-priority enabled pending interrupt, if any. */
  private takeInterrupt(): boolean {
    this.irqCheck = false;
    const take = this.readyInterrupts();
    if (take === 0) return false;
    for (const irq of IRQ_PRIORITY) {
      if ((take & (1 << irq)) !== 0) {
        this.waiting = false;
        this.trap(irq, true, 0, 0);
        return true;
      }
    }
    return false;
  }

  /** The pending interrupts the hart would take now (of the highest privilege that has any), or 0. */
  private readyInterrupts(): number {
    const pending = (this.mipSw | this.mipHw) & this.mie;
    if (pending === 0) return 0;
    const priv = this.privLevel;
    const mPending = pending & ~this.mideleg;
    const mEnabled = priv < PRIV_M || (this.mstatus & MSTATUS_MIE) !== 0;
    const sPending = pending & this.mideleg;
    const sEnabled = priv < PRIV_S || (priv === PRIV_S && (this.mstatus & MSTATUS_SIE) !== 0);
    if (mPending !== 0 && mEnabled) return mPending;
    if (sPending !== 0 && sEnabled) return sPending;
    return 0;
  }

  /** Drives a device interrupt line (MSIP 3, MTIP 7, SEIP 9, MEIP 11). */
  setInterruptLevel(bit: number, level: boolean): void {
    const m = 1 << bit;
    const next = level ? this.mipHw | m : this.mipHw & ~m;
    if (next !== this.mipHw) {
      this.mipHw = next;
      this.irqCheck = true;
    }
  }

  /**
   * Sets or clears a software-writable pending bit (SSIP 1, STIP 5, SEIP 9) as M-mode software
   * writing mip would: used by the built-in SBI for IPIs.
   */
  setSoftwareInterrupt(bit: number, level: boolean): void {
    const m = (1 << bit) & MIP_SW_WRITABLE;
    this.mipSw = level ? this.mipSw | m : this.mipSw & ~m;
    this.irqCheck = true;
  }

  /** Drops all cached translations (a remote sfence.vma). */
  flushTranslations(): void {
    this.flushTlb();
  }

  /** Invalidates the LR reservation (called when another hart may run before this one resumes). */
  clearReservation(): void {
    this.resValid = false;
  }

  /** True when an interrupt is pending and enabled in mie (what wakes a WFI). */
  interruptPending(): boolean {
    return ((this.mipSw | this.mipHw) & this.mie) !== 0;
  }

  /** Makes run() return ExitReason.Stopped after the current instruction. */
  requestStop(): void {
    this.exitPending = ExitReason.Stopped;
  }

  // ==================================================================================
  // M extension: high multiplies and divisions
  // ==================================================================================

  private execMulDiv(w0: number): void {
    const x = this.x;
    const op = w0 & 0xff;
    const rd = (w0 >> 8) & 0xff;
    const rs1 = (w0 >> 16) & 0xff;
    const rs2 = w0 >>> 24;
    const aLo = x[rs1], aHi = x[rs1 + 1], bLo = x[rs2], bHi = x[rs2 + 1];
    let lo = 0;
    let hi = 0;
    switch (op) {
      case Op.Mulhu:
        mulhu64(aLo, aHi, bLo, bHi);
        lo = rLo;
        hi = rHi;
        break;
      case Op.Mulh:
      case Op.Mulhsu: {
        mulhu64(aLo, aHi, bLo, bHi);
        lo = rLo;
        hi = rHi;
        // Signed corrections of the unsigned high product.
        if (aHi < 0) {
          sub64(lo, hi, bLo, bHi);
          lo = rLo;
          hi = rHi;
        }
        if (op === Op.Mulh && bHi < 0) {
          sub64(lo, hi, aLo, aHi);
          lo = rLo;
          hi = rHi;
        }
        break;
      }
      case Op.Div:
      case Op.Rem: {
        if ((bLo | bHi) === 0) {
          if (op === Op.Div) {
            lo = -1;
            hi = -1;
          } else {
            lo = aLo;
            hi = aHi;
          }
        } else if (aHi === aLo >> 31 && bHi === bLo >> 31) {
          // Both fit in int32: exact in doubles (the only overflow, -2^31 / -1, fits in 64 bits).
          const q = op === Op.Div ? Math.trunc(aLo / bLo) : aLo % bLo;
          lo = q | 0;
          hi = q < 0 ? -1 : 0;
        } else {
          const a = toBigS(aLo, aHi);
          const b = toBigS(bLo, bHi);
          fromBig(op === Op.Div ? BigInt.asIntN(64, a / b) : a % b);
          lo = rLo;
          hi = rHi;
        }
        break;
      }
      case Op.Divu:
      case Op.Remu: {
        if ((bLo | bHi) === 0) {
          if (op === Op.Divu) {
            lo = -1;
            hi = -1;
          } else {
            lo = aLo;
            hi = aHi;
          }
        } else if (aHi === 0 && bHi === 0) {
          const a = aLo >>> 0;
          const b = bLo >>> 0;
          lo = (op === Op.Divu ? Math.floor(a / b) : a % b) | 0;
        } else {
          const a = toBig(aLo, aHi);
          const b = toBig(bLo, bHi);
          fromBig(op === Op.Divu ? a / b : a % b);
          lo = rLo;
          hi = rHi;
        }
        break;
      }
      case Op.Divw:
        if (bLo === 0) lo = -1;
        else if (aLo === -2147483648 && bLo === -1) lo = aLo;
        else lo = Math.trunc(aLo / bLo) | 0;
        hi = lo >> 31;
        break;
      case Op.Divuw:
        lo = bLo === 0 ? -1 : Math.floor((aLo >>> 0) / (bLo >>> 0)) | 0;
        hi = lo >> 31;
        break;
      case Op.Remw:
        if (bLo === 0) lo = aLo;
        else if (aLo === -2147483648 && bLo === -1) lo = 0;
        else lo = aLo % bLo | 0;
        hi = lo >> 31;
        break;
      default: // Remuw
        lo = bLo === 0 ? aLo : ((aLo >>> 0) % (bLo >>> 0)) | 0;
        hi = lo >> 31;
        break;
    }
    x[rd] = lo;
    x[rd + 1] = hi;
  }

  // ==================================================================================
  // Out-of-line instructions: system, CSR, atomics, floating point.
  // Return 0: continue with the next instruction; 1: pc/mode changed (this.pc is set);
  // 2: an exception was raised.
  // ==================================================================================

  private illegal(bits: number): number {
    this.raiseException(Cause.IllegalInstruction, bits, 0);
    return 2;
  }

  private execSlow(w0: number, w1: number, w2: number, step: number): number {
    const op = w0 & 0xff;
    if (op >= Op.Flw) return this.execFp(op, w0, w1, w2);
    if (op >= Op.LrW) return this.execAtomic(op, w0, w2);
    if (op >= Op.Csrrw) return this.execCsr(op, w0, w1, w2, step);
    const priv = this.privLevel;
    switch (op) {
      case Op.Fence:
      case Op.FenceI:
        // Decoded code is invalidated by every store, so instruction fetch is always coherent.
        return 0;
      case Op.Ecall:
        this.raiseException(priv === PRIV_U ? Cause.EcallFromU : priv === PRIV_S ? Cause.EcallFromS : Cause.EcallFromM, 0, 0);
        return 2;
      case Op.Ebreak:
        this.raiseException(Cause.Breakpoint, this.pcLo, this.pcHi);
        return 2;
      case Op.Mret: {
        if (priv < PRIV_M) return this.illegal(w1);
        let ms = this.mstatus;
        const mpp = (ms & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
        ms = (ms & ~(MSTATUS_MIE | MSTATUS_MPP)) | ((ms & MSTATUS_MPIE) !== 0 ? MSTATUS_MIE : 0) | MSTATUS_MPIE;
        if (mpp !== PRIV_M) ms &= ~MSTATUS_MPRV;
        this.mstatus = ms;
        this.privLevel = mpp;
        this.pcLo = this.csr64[C_MEPC];
        this.pcHi = this.csr64[C_MEPC + 1];
        this.updateModes();
        return 1;
      }
      case Op.Sret: {
        if (priv < PRIV_S || (priv === PRIV_S && (this.mstatus & MSTATUS_TSR) !== 0)) return this.illegal(w1);
        let ms = this.mstatus;
        const spp = (ms & MSTATUS_SPP) !== 0 ? PRIV_S : PRIV_U;
        ms = (ms & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) | ((ms & MSTATUS_SPIE) !== 0 ? MSTATUS_SIE : 0) | MSTATUS_SPIE;
        this.mstatus = ms;
        this.privLevel = spp;
        this.pcLo = this.csr64[C_SEPC];
        this.pcHi = this.csr64[C_SEPC + 1];
        this.updateModes();
        return 1;
      }
      case Op.Wfi:
        if (priv === PRIV_U || (priv === PRIV_S && (this.mstatus & MSTATUS_TW) !== 0)) return this.illegal(w1);
        this.advancePc(step);
        if (!this.interruptPending()) {
          this.waiting = true;
          if (this.exitPending < 0) this.exitPending = ExitReason.Wfi;
        }
        return 1;
      case Op.SfenceVma: {
        if (priv === PRIV_U || (priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0)) return this.illegal(w1);
        const rs1 = (w0 >> 16) & 0xff; // register index * 2 (x0 is 0)
        if (rs1 === 0) this.flushTlb();
        else this.flushTlbPage(this.x[rs1], this.x[rs1 + 1]);
        this.advancePc(step);
        return 1;
      }
      default:
        return this.illegal(w1);
    }
  }

  private execCsr(op: number, w0: number, w1: number, csrNum: number, step: number): number {
    const x = this.x;
    const rd = (w0 >> 8) & 0xff;
    const rs1 = (w0 >> 16) & 0xff;
    const immForm = op >= Op.Csrrwi;
    const srcLo = immForm ? rs1 : x[rs1];
    const srcHi = immForm ? 0 : x[rs1 + 1];
    const kind = immForm ? op - Op.Csrrwi : op - Op.Csrrw; // 0 write, 1 set, 2 clear
    const writes = kind === 0 || rs1 !== 0;
    if (this.privLevel < ((csrNum >>> 8) & 3)) return this.illegal(w1);
    if (writes && csrNum >>> 10 === 3) return this.illegal(w1);
    if (!this.csrRead(csrNum, true)) return this.illegal(w1);
    const oldLo = rLo;
    const oldHi = rHi;
    const iBase = this.iBase;
    const dBase = this.dBase;
    if (writes) {
      let nLo = srcLo;
      let nHi = srcHi;
      // Privileged spec 3.1.9: only the software-writable SEIP bit takes part in a csrrs/csrrc
      // read-modify-write of mip, not the external interrupt signal ORed into reads.
      const rmwLo = csrNum === CSR.mip ? (oldLo & ~MIP_SEIP) | (this.mipSw & MIP_SEIP) : oldLo;
      if (kind === 1) {
        nLo = rmwLo | srcLo;
        nHi = oldHi | srcHi;
      } else if (kind === 2) {
        nLo = rmwLo & ~srcLo;
        nHi = oldHi & ~srcHi;
      }
      this.csrWrite(csrNum, nLo, nHi);
    }
    x[rd] = oldLo;
    x[rd + 1] = oldHi;
    if (!writes) return 0;
    // Most writes (scratch registers, epc, cause, sstatus.SIE cleared, ...) change nothing the
    // code around them depends on, and execution goes on in place (in translated code too). A
    // write that changes the address space (satp), the TLB sets of the privilege (MPRV, SUM), or
    // leaves an interrupt ready to be taken ends the run of code here, so the hart looks again.
    if (csrNum !== CSR.satp && this.iBase === iBase && this.dBase === dBase && this.readyInterrupts() === 0) return 0;
    this.advancePc(step);
    return 1;
  }

  private counterValue(which: number): number {
    const instret = this.instretBase + this.retiredInRun;
    if (which === 0) return instret + this.cycleOffset;
    if (which === 2) return instret;
    return 0;
  }

  /** Reads a CSR into rLo/rHi. With `checked`, applies the access rules of the current mode. */
  private csrRead(num: number, checked: boolean): boolean {
    const csr = this.csr64;
    const priv = checked ? this.privLevel : PRIV_M;
    let lo = 0;
    let hi = 0;
    switch (num) {
      case CSR.fflags:
      case CSR.frm:
      case CSR.fcsr:
        if (checked && (this.mstatus & MSTATUS_FS) === 0) return false;
        lo = num === CSR.fflags ? this.fflags : num === CSR.frm ? this.frm : (this.frm << 5) | this.fflags;
        break;
      case CSR.sstatus:
        lo = this.mstatus & SSTATUS_MASK;
        hi = 2 | ((this.mstatus & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 | 0 : 0);
        break;
      case CSR.sie: lo = this.mie & this.mideleg; break;
      case CSR.sip: lo = (this.mipSw | this.mipHw) & this.mideleg; break;
      case CSR.stvec: lo = csr[C_STVEC]; hi = csr[C_STVEC + 1]; break;
      case CSR.scounteren: lo = this.scounteren; break;
      case CSR.senvcfg: lo = csr[C_SENVCFG]; break;
      case CSR.sscratch: lo = csr[C_SSCRATCH]; hi = csr[C_SSCRATCH + 1]; break;
      case CSR.sepc: lo = csr[C_SEPC]; hi = csr[C_SEPC + 1]; break;
      case CSR.scause: lo = csr[C_SCAUSE]; hi = csr[C_SCAUSE + 1]; break;
      case CSR.stval: lo = csr[C_STVAL]; hi = csr[C_STVAL + 1]; break;
      case CSR.satp:
        if (checked && priv === PRIV_S && (this.mstatus & MSTATUS_TVM) !== 0) return false;
        lo = csr[C_SATP];
        hi = csr[C_SATP + 1];
        break;
      case CSR.mvendorid:
      case CSR.marchid:
      case CSR.mimpid:
      case CSR.mconfigptr:
        break;
      case CSR.mhartid: lo = this.hartId; break;
      case CSR.mstatus:
        lo = this.mstatus;
        hi = MSTATUS_HI_XL | ((this.mstatus & MSTATUS_FS) === MSTATUS_FS ? 0x80000000 | 0 : 0);
        break;
      case CSR.misa: lo = MISA_LO; hi = MISA_HI | 0; break;
      case CSR.medeleg: lo = this.medeleg; break;
      case CSR.mideleg: lo = this.mideleg; break;
      case CSR.mie: lo = this.mie; break;
      case CSR.mtvec: lo = csr[C_MTVEC]; hi = csr[C_MTVEC + 1]; break;
      case CSR.mcounteren: lo = this.mcounteren; break;
      case CSR.menvcfg: lo = csr[C_MENVCFG]; break;
      case CSR.mcountinhibit: lo = this.mcountinhibit; break;
      case CSR.mscratch: lo = csr[C_MSCRATCH]; hi = csr[C_MSCRATCH + 1]; break;
      case CSR.mepc: lo = csr[C_MEPC]; hi = csr[C_MEPC + 1]; break;
      case CSR.mcause: lo = csr[C_MCAUSE]; hi = csr[C_MCAUSE + 1]; break;
      case CSR.mtval: lo = csr[C_MTVAL]; hi = csr[C_MTVAL + 1]; break;
      case CSR.mip: lo = this.mipSw | this.mipHw; break;
      default:
        if (num >= 0xc00 && num <= 0xc1f) {
          // cycle, time, instret, hpmcounter3..31: gated by mcounteren / scounteren.
          const bit = num & 31;
          if (priv < PRIV_M && ((this.mcounteren >>> bit) & 1) === 0) return false;
          if (priv === PRIV_U && ((this.scounteren >>> bit) & 1) === 0) return false;
          const v = bit === 1 ? this.timeSource() : this.counterValue(bit);
          lo = v % TWO32 | 0;
          hi = Math.floor(v / TWO32) | 0;
        } else if (num >= 0xb00 && num <= 0xb1f && num !== 0xb01) {
          const v = this.counterValue(num & 31);
          lo = v % TWO32 | 0;
          hi = Math.floor(v / TWO32) | 0;
        } else if (num >= 0x323 && num <= 0x33f) {
          // mhpmevent3..31: hardwired to zero
        } else if (num >= CSR.pmpcfg0 && num <= CSR.pmpcfg0 + 15) {
          if ((num & 1) !== 0) return false; // odd pmpcfg registers do not exist on RV64
          const i = C_PMPCFG + (num - CSR.pmpcfg0);
          lo = csr[i];
          hi = csr[i + 1];
        } else if (num >= CSR.pmpaddr0 && num <= CSR.pmpaddr0 + 63) {
          const i = C_PMPADDR + 2 * (num - CSR.pmpaddr0);
          lo = csr[i];
          hi = csr[i + 1];
        } else {
          return false;
        }
    }
    rLo = lo;
    rHi = hi;
    return true;
  }

  /** Writes a CSR (WARL rules applied). The caller has checked existence and privilege. */
  private csrWrite(num: number, lo: number, hi: number): void {
    const csr = this.csr64;
    switch (num) {
      case CSR.fflags:
        this.fflags = lo & 31;
        this.mstatus |= MSTATUS_FS;
        return;
      case CSR.frm:
        this.frm = lo & 7;
        this.mstatus |= MSTATUS_FS;
        return;
      case CSR.fcsr:
        this.fflags = lo & 31;
        this.frm = (lo >>> 5) & 7;
        this.mstatus |= MSTATUS_FS;
        return;
      case CSR.sstatus:
        this.writeMstatus((this.mstatus & ~SSTATUS_MASK) | (lo & SSTATUS_MASK));
        return;
      case CSR.sie:
        this.mie = (this.mie & ~this.mideleg) | (lo & this.mideleg & MIE_WRITABLE);
        this.irqCheck = true;
        return;
      case CSR.sip: {
        const m = MIP_SSIP & this.mideleg;
        this.mipSw = (this.mipSw & ~m) | (lo & m);
        this.irqCheck = true;
        return;
      }
      case CSR.stvec:
        if ((lo & 3) < 2) {
          csr[C_STVEC] = lo;
          csr[C_STVEC + 1] = hi;
        }
        return;
      case CSR.scounteren: this.scounteren = lo; return;
      case CSR.senvcfg: csr[C_SENVCFG] = lo & 1; return;
      case CSR.sscratch: csr[C_SSCRATCH] = lo; csr[C_SSCRATCH + 1] = hi; return;
      case CSR.sepc: csr[C_SEPC] = lo & ~1; csr[C_SEPC + 1] = hi; return;
      case CSR.scause: csr[C_SCAUSE] = lo; csr[C_SCAUSE + 1] = hi; return;
      case CSR.stval: csr[C_STVAL] = lo; csr[C_STVAL + 1] = hi; return;
      case CSR.satp: {
        const mode = hi >>> 28;
        if (mode !== 0 && mode !== 8 && mode !== 9) return; // unsupported mode: no effect
        csr[C_SATP] = lo;
        csr[C_SATP + 1] = hi & 0xf0000fff | 0; // ASIDLEN = 0
        this.satpMode = mode;
        this.flushTlb();
        return;
      }
      case CSR.mstatus:
        this.writeMstatus(lo);
        return;
      case CSR.medeleg: this.medeleg = lo & MEDELEG_WRITABLE; return;
      case CSR.mideleg:
        this.mideleg = lo & MIDELEG_WRITABLE;
        this.irqCheck = true;
        return;
      case CSR.mie:
        this.mie = lo & MIE_WRITABLE;
        this.irqCheck = true;
        return;
      case CSR.mtvec:
        if ((lo & 3) < 2) {
          csr[C_MTVEC] = lo;
          csr[C_MTVEC + 1] = hi;
        }
        return;
      case CSR.mcounteren: this.mcounteren = lo; return;
      case CSR.menvcfg: csr[C_MENVCFG] = lo & 1; return;
      case CSR.mcountinhibit: this.mcountinhibit = lo & ~2; return;
      case CSR.mscratch: csr[C_MSCRATCH] = lo; csr[C_MSCRATCH + 1] = hi; return;
      case CSR.mepc: csr[C_MEPC] = lo & ~1; csr[C_MEPC + 1] = hi; return;
      case CSR.mcause: csr[C_MCAUSE] = lo; csr[C_MCAUSE + 1] = hi; return;
      case CSR.mtval: csr[C_MTVAL] = lo; csr[C_MTVAL + 1] = hi; return;
      case CSR.mip:
        this.mipSw = (this.mipSw & ~MIP_SW_WRITABLE) | (lo & MIP_SW_WRITABLE);
        this.irqCheck = true;
        return;
      default: {
        const v = (hi >>> 0) * TWO32 + (lo >>> 0);
        if (num === CSR.mcycle) {
          this.cycleOffset = v - (this.instretBase + this.retiredInRun);
        } else if (num === CSR.minstret) {
          // The write takes effect after this instruction retires (it is counted in retiredInRun+1).
          this.instretBase = v - this.retiredInRun - 1;
        } else if (num >= CSR.pmpcfg0 && num <= CSR.pmpcfg0 + 15) {
          const i = C_PMPCFG + (num - CSR.pmpcfg0);
          csr[i] = lo;
          csr[i + 1] = hi;
        } else if (num >= CSR.pmpaddr0 && num <= CSR.pmpaddr0 + 63) {
          const i = C_PMPADDR + 2 * (num - CSR.pmpaddr0);
          csr[i] = lo;
          csr[i + 1] = hi & 0x3fffff;
        }
        // Other counters and events are read-only zero here.
      }
    }
  }

  private writeMstatus(value: number): void {
    const old = this.mstatus;
    let next = (old & ~MSTATUS_WRITABLE) | (value & MSTATUS_WRITABLE);
    if ((next & MSTATUS_MPP) === 2 << MSTATUS_MPP_SHIFT) {
      next = (next & ~MSTATUS_MPP) | (old & MSTATUS_MPP); // MPP = 2 (H) is not supported
    }
    this.mstatus = next;
    if (((old ^ next) & MSTATUS_MXR) !== 0) this.flushTlb();
    this.updateModes();
    this.irqCheck = true;
  }

  // ==================================================================================
  // A extension
  // ==================================================================================

  /** The value an AMO (funct5 `f5`) stores, from the old value a and rs2's b: amoLo/amoHi. */
  private amoResult(f5: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
    switch (f5) {
      case 0: { // add
        const lo = (aLo + bLo) | 0;
        this.amoLo = lo;
        this.amoHi = (aHi + bHi + ((lo >>> 0) < (aLo >>> 0) ? 1 : 0)) | 0;
        return;
      }
      case 1: this.amoLo = bLo; this.amoHi = bHi; return; // swap
      case 4: this.amoLo = aLo ^ bLo; this.amoHi = aHi ^ bHi; return;
      case 8: this.amoLo = aLo | bLo; this.amoHi = aHi | bHi; return;
      case 12: this.amoLo = aLo & bLo; this.amoHi = aHi & bHi; return;
      default: {
        const signed = f5 === 16 || f5 === 20;
        const ah = signed ? aHi : aHi >>> 0;
        const bh = signed ? bHi : bHi >>> 0;
        const aLess = ah < bh || (ah === bh && (aLo >>> 0) < (bLo >>> 0));
        const takeA = f5 === 16 || f5 === 24 ? aLess : !aLess;
        this.amoLo = takeA ? aLo : bLo;
        this.amoHi = takeA ? aHi : bHi;
      }
    }
  }

  private execAtomic(op: number, w0: number, f5: number): number {
    const x = this.x;
    const rd = (w0 >> 8) & 0xff;
    const rs1 = (w0 >> 16) & 0xff;
    const rs2 = w0 >>> 24;
    const word = op <= Op.AmoW;
    const size = word ? 4 : 8;
    const lo = x[rs1];
    const hi = x[rs1 + 1];
    const isLr = op === Op.LrW || op === Op.LrD;
    const isSc = op === Op.ScW || op === Op.ScD;
    if ((lo & (size - 1)) !== 0) {
      this.raiseException(isLr ? Cause.LoadMisaligned : Cause.StoreMisaligned, lo, hi);
      return 2;
    }
    // Fast path: the TLB maps the page (a write entry: RAM the hart may write, dirty, holding no
    // code or watched word, so the access needs nothing else, as for an inline store).
    const t = this.dBase + ((lo >>> 12) & TLB_MASK);
    const vpn = hi * 1048576 + (lo >>> 12);
    const hit = isLr ? this.tlbRTag[t] === vpn : this.tlbWTag[t] === vpn;
    if (hit) {
      const i32 = this.mem.i32;
      const off = (isLr ? this.tlbROff[t] : this.tlbWOff[t]) + (lo & 0xfff);
      const aLo = i32[off >> 2];
      const aHi = word ? aLo >> 31 : i32[(off >> 2) + 1];
      if (isLr) {
        this.resValid = true;
        this.resAddr = this.mem.physicalAddress(off);
        x[rd] = aLo;
        x[rd + 1] = aHi;
        return 0;
      }
      if (isSc) {
        const ok = this.resValid && this.mem.physicalAddress(off) === this.resAddr;
        this.resValid = false;
        if (ok) {
          i32[off >> 2] = x[rs2];
          if (!word) i32[(off >> 2) + 1] = x[rs2 + 1];
        }
        x[rd] = ok ? 0 : 1;
        x[rd + 1] = 0;
        return 0;
      }
      const bLo = x[rs2];
      const bHi = word ? bLo >> 31 : x[rs2 + 1];
      this.amoResult(f5, aLo, aHi, bLo, bHi);
      i32[off >> 2] = this.amoLo;
      if (!word) i32[(off >> 2) + 1] = this.amoHi;
      x[rd] = aLo;
      x[rd + 1] = aHi;
      return 0;
    }
    if (isLr) {
      const pa = this.translateData(lo, hi, ACCESS_READ);
      if (pa < 0 || !this.physRead(pa, size, lo, hi)) {
        this.raiseFault();
        return 2;
      }
      this.resValid = true;
      this.resAddr = pa;
      x[rd] = this.ldLo;
      x[rd + 1] = word ? this.ldLo >> 31 : this.ldHi;
      return 0;
    }
    if (isSc) {
      const valid = this.resValid;
      this.resValid = false;
      if (!valid) {
        x[rd] = 1;
        x[rd + 1] = 0;
        return 0;
      }
      const pa = this.translateData(lo, hi, ACCESS_WRITE);
      if (pa < 0) {
        this.raiseFault();
        return 2;
      }
      if (pa !== this.resAddr) {
        x[rd] = 1;
        x[rd + 1] = 0;
        return 0;
      }
      const vLo = x[rs2];
      const vHi = x[rs2 + 1];
      if (!this.physWrite(pa, size, vLo, vHi, lo, hi)) {
        this.raiseFault();
        return 2;
      }
      x[rd] = 0;
      x[rd + 1] = 0;
      return 0;
    }
    // AMO: read-modify-write with store/AMO fault semantics.
    const pa = this.translateData(lo, hi, ACCESS_WRITE);
    if (pa < 0 || !this.physRead(pa, size, lo, hi)) {
      if (pa >= 0) this.faultCause = Cause.StoreAccessFault;
      this.raiseFault();
      return 2;
    }
    const aLo = this.ldLo;
    const aHi = word ? aLo >> 31 : this.ldHi;
    const bLo = x[rs2];
    const bHi = word ? bLo >> 31 : x[rs2 + 1];
    this.amoResult(f5, aLo, aHi, bLo, bHi);
    if (!this.physWrite(pa, size, this.amoLo, this.amoHi, lo, hi)) {
      this.raiseFault();
      return 2;
    }
    x[rd] = aLo;
    x[rd + 1] = aHi;
    return 0;
  }

  // ==================================================================================
  // F and D extensions
  // ==================================================================================

  private execFp(op: number, w0: number, w1: number, w2: number): number {
    if ((this.mstatus & MSTATUS_FS) === 0) {
      return this.illegal(op <= Op.Fsd ? this.currentInsnBits() : w1);
    }
    const f = this.f;
    const x = this.x;
    const o = this.fpOut;
    const rd = (w0 >> 8) & 0xff;
    const rs1 = (w0 >> 16) & 0xff;
    const rs2 = w0 >>> 24;

    // Loads and stores (w1 is the offset).
    if (op <= Op.Fsd) {
      const b = x[rs1];
      const lo = (b + w1) | 0;
      const hi = (x[rs1 + 1] + (w1 >> 31) + ((lo >>> 0) < (b >>> 0) ? 1 : 0)) | 0;
      if (op === Op.Flw || op === Op.Fld) {
        const size = op === Op.Flw ? 4 : 8;
        if (!this.loadBytes(lo, hi, size)) {
          this.raiseFault();
          return 2;
        }
        f[rd] = this.ldLo;
        f[rd + 1] = size === 4 ? -1 : this.ldHi;
        this.mstatus |= MSTATUS_FS;
        return 0;
      }
      const size = op === Op.Fsw ? 4 : 8;
      return this.storeSlow(lo, hi, size, f[rs2], f[rs2 + 1]) ? 0 : 2;
    }

    let rm = w2 & 7;
    if (rm === 7) rm = this.frm;
    o.flags = 0;
    // NaN-boxed single-precision operands (an improperly boxed value reads as the canonical NaN).
    const a32 = f[rs1 + 1] === -1 ? f[rs1] : 0x7fc00000;
    const b32 = f[rs2 + 1] === -1 ? f[rs2] : 0x7fc00000;
    const aLo = f[rs1], aHi = f[rs1 + 1], bLo = f[rs2], bHi = f[rs2 + 1];
    let result = 0; // 0: none, 1: f32 to f[rd], 2: f64 to f[rd], 3: integer to x[rd]
    const needsRm = !(op === Op.FsgnjS || op === Op.FsgnjnS || op === Op.FsgnjxS || op === Op.FsgnjD ||
      op === Op.FsgnjnD || op === Op.FsgnjxD || op === Op.FminS || op === Op.FmaxS || op === Op.FminD ||
      op === Op.FmaxD || op === Op.FeqS || op === Op.FltS || op === Op.FleS || op === Op.FeqD ||
      op === Op.FltD || op === Op.FleD || op === Op.FclassS || op === Op.FclassD || op === Op.FmvXW ||
      op === Op.FmvWX || op === Op.FmvXD || op === Op.FmvDX);
    if (needsRm && rm > 4) return this.illegal(w1);
    switch (op) {
      case Op.FmaddS:
      case Op.FmsubS:
      case Op.FnmsubS:
      case Op.FnmaddS: {
        const rs3 = (w2 >>> 4) << 1;
        const c32 = f[rs3 + 1] === -1 ? f[rs3] : 0x7fc00000;
        const negProduct = op === Op.FnmsubS || op === Op.FnmaddS;
        const negAddend = op === Op.FmsubS || op === Op.FnmaddS;
        sf.f32MulAdd(negProduct ? a32 ^ 0x80000000 : a32, b32, negAddend ? c32 ^ 0x80000000 : c32, rm, o);
        result = 1;
        break;
      }
      case Op.FmaddD:
      case Op.FmsubD:
      case Op.FnmsubD:
      case Op.FnmaddD: {
        const rs3 = (w2 >>> 4) << 1;
        const negProduct = op === Op.FnmsubD || op === Op.FnmaddD;
        const negAddend = op === Op.FmsubD || op === Op.FnmaddD;
        sf.f64MulAdd(aLo, negProduct ? aHi ^ 0x80000000 : aHi, bLo, bHi, f[rs3],
          negAddend ? f[rs3 + 1] ^ 0x80000000 : f[rs3 + 1], rm, o);
        result = 2;
        break;
      }
      case Op.FaddS: sf.f32Add(a32, b32, rm, o); result = 1; break;
      case Op.FsubS: sf.f32Sub(a32, b32, rm, o); result = 1; break;
      case Op.FmulS: sf.f32Mul(a32, b32, rm, o); result = 1; break;
      case Op.FdivS: sf.f32Div(a32, b32, rm, o); result = 1; break;
      case Op.FsqrtS: sf.f32Sqrt(a32, rm, o); result = 1; break;
      case Op.FsgnjS: o.lo = (a32 & 0x7fffffff) | (b32 & 0x80000000); result = 1; break;
      case Op.FsgnjnS: o.lo = (a32 & 0x7fffffff) | (~b32 & 0x80000000); result = 1; break;
      case Op.FsgnjxS: o.lo = a32 ^ (b32 & 0x80000000); result = 1; break;
      case Op.FminS: sf.f32Min(a32, b32, o); result = 1; break;
      case Op.FmaxS: sf.f32Max(a32, b32, o); result = 1; break;
      case Op.FcvtWS: sf.f32ToI32(a32, rm, o); result = 3; break;
      case Op.FcvtWuS: sf.f32ToU32(a32, rm, o); result = 3; break;
      case Op.FcvtLS: sf.f32ToI64(a32, rm, o); result = 3; break;
      case Op.FcvtLuS: sf.f32ToU64(a32, rm, o); result = 3; break;
      case Op.FmvXW:
        x[rd] = aLo;
        x[rd + 1] = aLo >> 31;
        return 0;
      case Op.FeqS: sf.f32Eq(a32, b32, o); o.hi = 0; result = 3; break;
      case Op.FltS: sf.f32Lt(a32, b32, o); o.hi = 0; result = 3; break;
      case Op.FleS: sf.f32Le(a32, b32, o); o.hi = 0; result = 3; break;
      case Op.FclassS:
        x[rd] = sf.f32Class(a32);
        x[rd + 1] = 0;
        return 0;
      case Op.FcvtSW: sf.i32ToF32(x[rs1], rm, o); result = 1; break;
      case Op.FcvtSWu: sf.u32ToF32(x[rs1], rm, o); result = 1; break;
      case Op.FcvtSL: sf.i64ToF32(x[rs1], x[rs1 + 1], rm, o); result = 1; break;
      case Op.FcvtSLu: sf.u64ToF32(x[rs1], x[rs1 + 1], rm, o); result = 1; break;
      case Op.FmvWX:
        f[rd] = x[rs1];
        f[rd + 1] = -1;
        this.mstatus |= MSTATUS_FS;
        return 0;
      case Op.FaddD: sf.f64Add(aLo, aHi, bLo, bHi, rm, o); result = 2; break;
      case Op.FsubD: sf.f64Sub(aLo, aHi, bLo, bHi, rm, o); result = 2; break;
      case Op.FmulD: sf.f64Mul(aLo, aHi, bLo, bHi, rm, o); result = 2; break;
      case Op.FdivD: sf.f64Div(aLo, aHi, bLo, bHi, rm, o); result = 2; break;
      case Op.FsqrtD: sf.f64Sqrt(aLo, aHi, rm, o); result = 2; break;
      case Op.FsgnjD: o.lo = aLo; o.hi = (aHi & 0x7fffffff) | (bHi & 0x80000000); result = 2; break;
      case Op.FsgnjnD: o.lo = aLo; o.hi = (aHi & 0x7fffffff) | (~bHi & 0x80000000); result = 2; break;
      case Op.FsgnjxD: o.lo = aLo; o.hi = aHi ^ (bHi & 0x80000000); result = 2; break;
      case Op.FminD: sf.f64Min(aLo, aHi, bLo, bHi, o); result = 2; break;
      case Op.FmaxD: sf.f64Max(aLo, aHi, bLo, bHi, o); result = 2; break;
      case Op.FcvtSD: sf.f64ToF32(aLo, aHi, rm, o); result = 1; break;
      case Op.FcvtDS: sf.f32ToF64(a32, o); result = 2; break;
      case Op.FeqD: sf.f64Eq(aLo, aHi, bLo, bHi, o); o.hi = 0; result = 3; break;
      case Op.FltD: sf.f64Lt(aLo, aHi, bLo, bHi, o); o.hi = 0; result = 3; break;
      case Op.FleD: sf.f64Le(aLo, aHi, bLo, bHi, o); o.hi = 0; result = 3; break;
      case Op.FclassD:
        x[rd] = sf.f64Class(aLo, aHi);
        x[rd + 1] = 0;
        return 0;
      case Op.FcvtWD: sf.f64ToI32(aLo, aHi, rm, o); result = 3; break;
      case Op.FcvtWuD: sf.f64ToU32(aLo, aHi, rm, o); result = 3; break;
      case Op.FcvtLD: sf.f64ToI64(aLo, aHi, rm, o); result = 3; break;
      case Op.FcvtLuD: sf.f64ToU64(aLo, aHi, rm, o); result = 3; break;
      case Op.FcvtDW: sf.i32ToF64(x[rs1], rm, o); result = 2; break;
      case Op.FcvtDWu: sf.u32ToF64(x[rs1], rm, o); result = 2; break;
      case Op.FcvtDL: sf.i64ToF64(x[rs1], x[rs1 + 1], rm, o); result = 2; break;
      case Op.FcvtDLu: sf.u64ToF64(x[rs1], x[rs1 + 1], rm, o); result = 2; break;
      case Op.FmvXD:
        x[rd] = aLo;
        x[rd + 1] = aHi;
        return 0;
      case Op.FmvDX:
        f[rd] = x[rs1];
        f[rd + 1] = x[rs1 + 1];
        this.mstatus |= MSTATUS_FS;
        return 0;
      default:
        return this.illegal(w1);
    }
    if (result === 3) {
      x[rd] = o.lo;
      x[rd + 1] = o.hi;
    } else {
      f[rd] = o.lo;
      f[rd + 1] = result === 1 ? -1 : o.hi;
    }
    this.fflags |= o.flags;
    this.mstatus |= MSTATUS_FS;
    return 0;
  }

  // ==================================================================================
  // Host interface (tests, loaders, the accelerator): bigint in and out, not for hot paths.
  // ==================================================================================

  get priv(): number {
    return this.privLevel;
  }

  set priv(value: number) {
    if (value !== PRIV_U && value !== PRIV_S && value !== PRIV_M) {
      throw new RangeError(`privilege level ${value} is not 0 (U), 1 (S) or 3 (M)`);
    }
    this.privLevel = value;
    this.updateModes();
    this.irqCheck = true;
  }

  /** Instructions retired so far. */
  get instret(): number {
    return this.instretBase;
  }

  getPc(): bigint {
    return toBig(this.pcLo, this.pcHi);
  }

  setPc(value: bigint): void {
    fromBig(value);
    this.pcLo = rLo & ~1;
    this.pcHi = rHi;
  }

  getX(i: number): bigint {
    checkReg(i);
    return toBig(this.x[2 * i], this.x[2 * i + 1]);
  }

  setX(i: number, value: bigint): void {
    checkReg(i);
    if (i === 0) return;
    fromBig(value);
    this.x[2 * i] = rLo;
    this.x[2 * i + 1] = rHi;
  }

  getF(i: number): bigint {
    checkReg(i);
    return toBig(this.f[2 * i], this.f[2 * i + 1]);
  }

  setF(i: number, value: bigint): void {
    checkReg(i);
    fromBig(value);
    this.f[2 * i] = rLo;
    this.f[2 * i + 1] = rHi;
  }

  /** Reads a CSR as M-mode software would, without privilege checks. Throws if it does not exist. */
  getCsr(num: number): bigint {
    if (!this.csrRead(num, false)) throw new RangeError(`CSR 0x${num.toString(16)} does not exist`);
    return toBig(rLo, rHi);
  }

  /** Writes a CSR as an M-mode csrrw would (WARL rules apply). Throws if it does not exist. */
  setCsr(num: number, value: bigint): void {
    if (!this.csrRead(num, false) || num >>> 10 === 3) {
      throw new RangeError(`CSR 0x${num.toString(16)} does not exist or is read-only`);
    }
    fromBig(value);
    this.retiredInRun = -1; // a host write is not part of an instruction
    this.csrWrite(num, rLo, rHi);
    this.retiredInRun = 0;
  }

  // ==================================================================================
  // State (design.md §6): plain, versioned data; validated before use.
  // ==================================================================================

  saveState(): HartState {
    const csrs: Record<string, string> = {};
    const plain: Record<string, number> = {
      mstatus: this.mstatus, fflags: this.fflags, frm: this.frm, mie: this.mie, mipSw: this.mipSw,
      mideleg: this.mideleg, medeleg: this.medeleg, mcounteren: this.mcounteren,
      scounteren: this.scounteren, mcountinhibit: this.mcountinhibit,
    };
    for (const [k, v] of Object.entries(plain)) csrs[k] = String(v >>> 0);
    const words: string[] = [];
    for (let i = 0; i < CSR64_WORDS; i++) words.push(String(this.csr64[i] >>> 0));
    csrs.csr64 = words.join(',');
    const regs = (a: Int32Array): string[] => {
      const out: string[] = [];
      for (let i = 0; i < 32; i++) out.push(toBig(a[2 * i], a[2 * i + 1]).toString());
      return out;
    };
    return {
      version: 1,
      hartId: this.hartId,
      pc: this.getPc().toString(),
      priv: this.privLevel,
      x: regs(this.x),
      f: regs(this.f),
      csrs,
      reservation: this.resValid ? String(this.resAddr) : null,
      instret: String(this.instretBase),
      cycle: String(this.cycleOffset),
      waiting: this.waiting,
    };
  }

  loadState(state: HartState): void {
    const fail = (what: string): never => {
      throw new HartStateError(`hart state: ${what}`);
    };
    if (typeof state !== 'object' || state === null) fail('not an object');
    if (state.version !== 1) fail(`unsupported version ${String(state.version)}`);
    if (state.hartId !== this.hartId) fail(`hart id ${state.hartId} does not match ${this.hartId}`);
    if (![PRIV_U, PRIV_S, PRIV_M].includes(state.priv)) fail(`bad privilege ${state.priv}`);
    const u64 = (s: unknown, what: string): bigint => {
      if (typeof s !== 'string' || !/^\d{1,20}$/.test(s)) return fail(`bad ${what}`);
      const v = BigInt(s);
      if (v >= 1n << 64n) fail(`${what} out of range`);
      return v;
    };
    const u32 = (s: unknown, what: string): number => Number(u64(s, what) & 0xffffffffn) | 0;
    if (!Array.isArray(state.x) || state.x.length !== 32) fail('x registers');
    if (!Array.isArray(state.f) || state.f.length !== 32) fail('f registers');
    const xs = state.x.map((v, i) => u64(v, `x${i}`));
    const fs = state.f.map((v, i) => u64(v, `f${i}`));
    const c = state.csrs;
    if (typeof c !== 'object' || c === null) fail('csrs');
    const words = typeof c.csr64 === 'string' ? c.csr64.split(',') : [];
    if (words.length !== CSR64_WORDS) fail('csr64');
    const csr64 = words.map((w, i) => u32(w, `csr64[${i}]`));
    const pc = u64(state.pc, 'pc');
    const instret = Number(u64(state.instret, 'instret'));
    const cycle = Number(state.cycle);
    if (!Number.isFinite(cycle)) fail('cycle');
    const satpMode = (csr64[C_SATP + 1] >>> 28);
    if (satpMode !== 0 && satpMode !== 8 && satpMode !== 9) fail('satp mode');
    // Validated: apply.
    for (let i = 0; i < 32; i++) {
      fromBig(xs[i]);
      this.x[2 * i] = i === 0 ? 0 : rLo;
      this.x[2 * i + 1] = i === 0 ? 0 : rHi;
      fromBig(fs[i]);
      this.f[2 * i] = rLo;
      this.f[2 * i + 1] = rHi;
    }
    this.mstatus = u32(c.mstatus, 'mstatus') & MSTATUS_WRITABLE;
    this.fflags = u32(c.fflags, 'fflags') & 31;
    this.frm = u32(c.frm, 'frm') & 7;
    this.mie = u32(c.mie, 'mie') & MIE_WRITABLE;
    this.mipSw = u32(c.mipSw, 'mipSw') & MIP_SW_WRITABLE;
    this.mideleg = u32(c.mideleg, 'mideleg') & MIDELEG_WRITABLE;
    this.medeleg = u32(c.medeleg, 'medeleg') & MEDELEG_WRITABLE;
    this.mcounteren = u32(c.mcounteren, 'mcounteren');
    this.scounteren = u32(c.scounteren, 'scounteren');
    this.mcountinhibit = u32(c.mcountinhibit, 'mcountinhibit');
    this.csr64.set(csr64);
    this.satpMode = satpMode;
    this.setPc(pc);
    this.privLevel = state.priv;
    this.resValid = state.reservation !== null;
    this.resAddr = state.reservation === null ? 0 : Number(u64(state.reservation, 'reservation'));
    this.instretBase = instret;
    this.cycleOffset = cycle;
    this.waiting = state.waiting === true;
    this.exitPending = -1;
    this.flushTlbAll();
    this.updateModes();
    this.irqCheck = true;
  }
}

export class HartStateError extends Error {
  readonly code = 'EHARTSTATE';
  constructor(message: string) {
    super(message);
    this.name = 'HartStateError';
  }
}

function checkReg(i: number): void {
  if (!Number.isInteger(i) || i < 0 || i > 31) throw new RangeError(`register ${i} is not 0..31`);
}
