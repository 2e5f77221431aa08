/**
 * Translation of one decoded page (4 KiB of guest code, see src/hart/decode.ts) into WebAssembly
 * functions.
 *
 * Analysis: starting from the page's entry points (instructions the interpreter reached by a jump,
 * plus hints), the control flow is followed inside the page over the instructions the interpreter
 * has decoded (or, with `decodeAhead`, decoding the rest into the same decoded page). Blocks start
 * at leaders (entry points, branch and jump targets, the return point of a call, the instruction
 * after an out-of-line one) and end at a branch, a jump, an out-of-line instruction, an
 * instruction translated code cannot run, or the next leader.
 *
 * A page becomes a group of functions in its module: an entry `(block, baseLo, baseHi, n, dBase)
 * -> n` (the one the engine calls), a dispatcher, and one function per block. The translation is
 * position independent: the virtual address of the page (base) is a parameter, so one translation
 * serves every mapping of the physical page. Guest registers stay in the hart's register file in
 * the arena (i64 loads and stores at constant addresses, the same memory the interpreter's `x`
 * views): nothing to load on entry or write back on exit, and nothing to merge between blocks.
 *
 *   entry(block, baseLo, baseHi, n, dBase)   computes base and the data TLB set, then
 *     return_call dispatch(block, base, n, dtag, doff)
 *   dispatch: br_table block -> return_call block_i(base, n, dtag, doff)
 *   block_i:  n -= count (leave if the budget does not cover it); its instructions; then
 *             return_call block_t for an in-page successor t, a `br` to a `loop` around the block
 *             for a branch to its own start, return_call dispatch for an in-page `jalr` (its target
 *             block from the page's block map, an int16 per halfword in the arena), or an exit:
 *             store the exit pc and kind, return n.
 *
 * Why a function per block, chained by tail calls, rather than one function per page: the engine
 * (V8) tiers up per function, so only hot blocks reach the optimising compiler, and its cost stays
 * proportional to their size; with a function per page, every warm page was optimised whole, which
 * cost more CPU than the code saved (a Linux boot spent ~5 s of background compile on ~1 s of
 * guest code). Each block first takes its instruction count from the budget `n`, leaving for the
 * interpreter when the budget is too small, so budgets and instret stay exact. Loads and stores
 * check the hart's software TLB in wasm (in the module's function for the access kind, or in the
 * block itself on a page the engine found hot); misses, MMIO and faults call out to the hart, as
 * do the out-of-line instructions (CSR, system, atomics, floating point). A callout that traps, or
 * must stop the hart, makes the block leave with the exact pc and budget.
 */

import { Op, FIRST_SLOW_OP, SLOTS_PER_PAGE, X0_SINK, decode16, decode32 } from '../hart/decode.js';
import {
  HS_CUR_PAGE, HS_EXIT_ADJ, HS_EXIT_KIND, HS_EXIT_PC, HS_IBASE, HS_LOAD, HS_TLB_XOFF, HS_TLB_XTAG, JIT_TLB_SIZE, HS_TLB_RTAG, HS_TLB_ROFF, HS_TLB_WOFF, HS_TLB_WTAG, HS_X,
  JitCall, JitExit,
} from './layout.js';
import { Code, T, W, assembleModule, type FuncDef, type FuncType } from './wasm.js';

// ---- function indices inside a translation module (see engine.ts) ----
export const FN_LOAD = 0; // import: (pcLo, pcHi, addrLo, addrHi, op) -> JitCall
export const FN_STORE = 1; // import: (pcLo, pcHi, addrLo, addrHi, size, valLo, valHi) -> JitCall
export const FN_SLOW = 2; // import: (pcLo, pcHi, w0, w1, w2, step, n) -> JitCall
export const FN_MULHU = 3;
export const FN_MULH = 4;
export const FN_MULHSU = 5;
export const FN_CHAIN = 6; // (target, n, dtag) -> n: enters the target's translation, or leaves
export const FN_LOAD_SLOW = 7; // (addr, pc, op | rd << 8) -> JitCall: the load callout, rd written
export const FN_STORE_SLOW = 8; // (addr, pc, size, value) -> JitCall
export const FN_SLOW_INSN = 9; // (pc, w0, w1, w2, step, n) -> JitCall
export const FN_EXIT_STATUS = 10; // (status, next pc, n) -> n: leaves after a callout said so
/**
 * Whole loads and stores, one function per kind (Lb..Lwu, then Sb..Sd, in decode.ts's order):
 * (addr, dtag, doff, base, site[, value]) -> JitCall. The TLB check and host access, else the
 * hart's slow path; on a status other than Ok, the exit report for the block (see memSite).
 */
export const FN_LOAD_FIRST = 11;
export const FN_STORE_FIRST = FN_LOAD_FIRST + 7;
/** (status, base, site) -> status: the exit report of a load or store that leaves its block. */
export const FN_MEM_EXIT = FN_STORE_FIRST + 4;
/** (base, offset | count << 12, n) -> n + count: leaves a block whose count the budget lacks. */
export const FN_BUDGET_EXIT = FN_MEM_EXIT + 1;

// ---- the page's entry function: (block, baseLo, baseHi, n, dBase) -> n ----
const P_BLOCK = 0;
const P_BASE_LO = 1;
const P_BASE_HI = 2;
const P_N = 3;
const P_DBASE = 4;

// ---- the page's dispatcher: (block, base, n, dtag, doff) -> n ----
const D_BLOCK = 0;
const D_BASE = 1;
const D_N = 2;
const D_DTAG = 3;
const D_DOFF = 4;

// ---- a block function: (base, n, dtag, doff) -> n; its locals ----
const L_BASE = 0; // i64 param: virtual address of the page
const L_N = 1; // i32 param: the budget left
const L_DTAG = 2; // i32 param: byte offset of the data TLB set in the tag arrays
const L_DOFF = 3; // i32 param: byte offset of the data TLB set in the offset arrays
const L_ADDR = 4; // i64: address of the current load or store
const L_T1 = 5; // i64 (a jalr target, an AMO's old value)
const L_LO = 6; // i32: low word of L_ADDR
const L_ST = 7; // i32: callout status
const L_BLK = 8; // i32: block index found in the block map (an AMO's host address)
const BLOCK_FN_LOCALS: [number, T][] = [[2, T.I64], [3, T.I32]];

/** Function types of a translation module (engine.ts declares them in this order). */
export const TYPE_ENTRY = 0; // also the load import's
export const TYPE_CALLOUT = 1;
export const TYPE_MULH = 2;
export const TYPE_BLOCK = 3;
export const TYPE_DISPATCH = 4;
export const TYPE_CHAIN = 5;
export const TYPE_LOAD_SLOW = 6;
export const TYPE_STORE_SLOW = 7;
export const TYPE_SLOW_INSN = 8;
export const TYPE_EXIT_STATUS = 9;
export const TYPE_MEM_LOAD = 10;
export const TYPE_MEM_STORE = 11;
export const TYPE_MEM_EXIT = 12;
export const TYPE_BUDGET_EXIT = 13;
export const TYPE_JUMP = 14;
export const MODULE_TYPES: FuncType[] = [
  { params: [T.I32, T.I32, T.I32, T.I32, T.I32], results: [T.I32] },
  { params: [T.I32, T.I32, T.I32, T.I32, T.I32, T.I32, T.I32], results: [T.I32] },
  { params: [T.I64, T.I64], results: [T.I64] },
  { params: [T.I64, T.I32, T.I32, T.I32], results: [T.I32] },
  { params: [T.I32, T.I64, T.I32, T.I32, T.I32], results: [T.I32] },
  { params: [T.I64, T.I32, T.I32], results: [T.I32] },
  { params: [T.I64, T.I64, T.I32], results: [T.I32] },
  { params: [T.I64, T.I64, T.I32, T.I64], results: [T.I32] },
  { params: [T.I64, T.I32, T.I32, T.I32, T.I32, T.I32], results: [T.I32] },
  { params: [T.I32, T.I64, T.I32], results: [T.I32] },
  { params: [T.I64, T.I32, T.I32, T.I64, T.I32], results: [T.I32] },
  { params: [T.I64, T.I32, T.I32, T.I64, T.I32, T.I64], results: [T.I32] },
  { params: [T.I32, T.I64, T.I32], results: [T.I32] },
  { params: [T.I64, T.I32, T.I32], results: [T.I32] },
  { params: [T.I64, T.I64, T.I32, T.I32, T.I32], results: [T.I32] },
];

/** Pushes the two i32 words (low, high) of the i64 in local `l`. */
function words(o: Code, l: number): void {
  o.get(l);
  o.op(W.I32WrapI64);
  o.get(l);
  o.i64(32);
  o.op(W.I64ShrU);
  o.op(W.I32WrapI64);
}

/**
 * Pushes an i32: nonzero when the TLB entry (tags at `tagOff`) maps the address (i64 in local
 * `addr`, its low word in `lo`; the TLB set's byte offset in `dtag`) and it is `size`-aligned.
 */
function emitTlbHit(o: Code, state: number, tagOff: number, size: number, addr: number, lo: number, dtag: number): void {
  o.get(lo);
  o.i32(9);
  o.op(W.I32ShrU);
  o.i32((JIT_TLB_SIZE - 1) << 3);
  o.op(W.I32And);
  o.get(dtag);
  o.op(W.I32Add);
  o.mem(W.F64Load, 3, state + tagOff);
  o.get(addr);
  o.i64(12);
  o.op(W.I64ShrS);
  o.op(W.F64ConvertI64S);
  o.op(W.F64Eq);
  if (size > 1) {
    o.get(lo);
    o.i32(size - 1);
    o.op(W.I32And);
    o.op(W.I32Eqz);
    o.op(W.I32And);
  }
}

/** Pushes the arena address of a TLB hit: off[entry] + (addr & 0xfff) (offsets at `offOff`). */
function emitHostAddress(o: Code, state: number, offOff: number, lo: number, doff: number): void {
  o.get(lo);
  o.i32(10);
  o.op(W.I32ShrU);
  o.i32((JIT_TLB_SIZE - 1) << 2);
  o.op(W.I32And);
  o.get(doff);
  o.op(W.I32Add);
  o.mem(W.I32Load, 2, state + offOff);
  o.get(lo);
  o.i32(0xfff);
  o.op(W.I32And);
  o.op(W.I32Add);
}

/** Emits the exit report: pc from local `pc` (an i64), exit kind `kind`. */
function storeExit(o: Code, state: number, pc: number, kind: JitExit): void {
  o.i32(0);
  o.get(pc);
  o.mem(W.I64Store, 3, state + HS_EXIT_PC);
  o.i32(0);
  o.i32(kind);
  o.mem(W.I32Store, 2, state + HS_EXIT_KIND);
}

/**
 * Emits the exit kind a callout's status (local `status`, not Ok) leaves with: PcSet where the
 * hart put the pc, else Leave (at the next instruction).
 */
function storeExitKind(o: Code, status: number, state: number): void {
  o.i32(0);
  o.get(status);
  o.i32(JitCall.PcSet);
  o.op(W.I32Eq);
  o.if(T.I32);
  o.i32(JitExit.PcSet);
  o.op(W.Else);
  o.i32(JitExit.Leave);
  o.op(W.End);
  o.mem(W.I32Store, 2, state + HS_EXIT_KIND);
}

/**
 * The module's out-of-line halves of loads, stores and out-of-line instructions (functions
 * FN_LOAD_SLOW ... FN_EXIT_STATUS, in that order): shared by all blocks, so a block carries only a
 * call and a status test for each.
 */
export function slowPathHelpers(state: number): FuncDef[] {
  // loadSlow(addr, pc, op | rd << 8): the hart's load; on success (Ok or Stop) x[rd] = the value.
  const ld = new Code();
  words(ld, 1);
  words(ld, 0);
  ld.get(2);
  ld.i32(0xff);
  ld.op(W.I32And);
  ld.call(FN_LOAD);
  ld.set(3);
  ld.get(3);
  ld.i32(JitCall.PcSet);
  ld.op(W.I32Ne);
  ld.get(2);
  ld.i32(8);
  ld.op(W.I32ShrU);
  ld.i32(31);
  ld.op(W.I32And); // the x0 sink (32) becomes 0: dropped like x0
  ld.tee(4);
  ld.i32(0);
  ld.op(W.I32Ne);
  ld.op(W.I32And);
  ld.if();
  ld.get(4);
  ld.i32(3);
  ld.op(W.I32Shl);
  ld.loadAt(W.I64Load, 3, state + HS_LOAD);
  ld.mem(W.I64Store, 3, state + HS_X);
  ld.op(W.End);
  ld.get(3);
  ld.op(W.End);
  // storeSlow(addr, pc, size, value)
  const st = new Code();
  words(st, 1);
  words(st, 0);
  st.get(2);
  words(st, 3);
  st.call(FN_STORE);
  st.op(W.End);
  // slowInsn(pc, w0, w1, w2, step, n)
  const sl = new Code();
  words(sl, 0);
  for (let i = 1; i <= 5; i++) sl.get(i);
  sl.call(FN_SLOW);
  sl.op(W.End);
  // exitStatus(status, nextPc, n): PcSet leaves where the hart put the pc; Stop at the next one.
  const ex = new Code();
  ex.get(0);
  ex.i32(JitCall.PcSet);
  ex.op(W.I32Ne);
  ex.if();
  ex.i32(0);
  ex.get(1);
  ex.mem(W.I64Store, 3, state + HS_EXIT_PC);
  ex.op(W.End);
  storeExitKind(ex, 0, state);
  ex.get(2);
  ex.op(W.End);
  return [
    { type: TYPE_LOAD_SLOW, locals: [[2, T.I32]], body: ld },
    { type: TYPE_STORE_SLOW, locals: [], body: st },
    { type: TYPE_SLOW_INSN, locals: [], body: sl },
    { type: TYPE_EXIT_STATUS, locals: [], body: ex },
  ];
}

/** Bytes of a page's block map: an int16 per halfword slot, then its entry's table index (i32). */
export const MAP_BYTES = 2 * SLOTS_PER_PAGE + 8;
/** Offset in a block map of the table index of the page's entry function. */
export const MAP_TABLE_INDEX = 2 * SLOTS_PER_PAGE;

/**
 * Emits the module's chaining helper, `chain(target, n, dtag) -> n`, through which a block leaves
 * its page: when the execute TLB of the hart's current privilege maps the target, and the target's
 * physical page has a translation with a block starting at the target, it tail-calls that page's
 * entry (through the shared table); otherwise it reports a plain exit at the target. So control
 * moves between translated pages without returning to the hart's loop, with the same checks its
 * fetch makes (the TLB holds only executable mappings of the current privilege; a translation is
 * withdrawn from `chainBase` the moment its code is dropped).
 *
 * `chainBase` is the arena offset of an i32 per arena page below `chainPages`: the arena offset of
 * the page's block map, or 0.
 */
export function chainHelper(state: number, chainBase: number, chainPages: number): FuncDef {
  const T_ARG = 0;
  const N_ARG = 1;
  const DTAG_ARG = 2;
  const VPN = 3; // i64
  const IDX = 4; // i32: byte offset of the TLB entry's tag
  const MAP = 5; // i32
  const BLK = 6; // i32
  const o = new Code();
  o.get(T_ARG);
  o.i64(12);
  o.op(W.I64ShrS);
  o.tee(VPN);
  o.op(W.I32WrapI64);
  o.i32(JIT_TLB_SIZE - 1);
  o.op(W.I32And);
  o.loadAt(W.I32Load, 2, state + HS_IBASE);
  o.op(W.I32Add);
  o.i32(3);
  o.op(W.I32Shl);
  o.tee(IDX);
  o.mem(W.F64Load, 3, state + HS_TLB_XTAG);
  o.get(VPN);
  o.op(W.F64ConvertI64S);
  o.op(W.F64Eq);
  o.if();
  // The arena page of the target: XOFF holds its page's arena offset (i32 per entry).
  o.get(IDX);
  o.i32(1);
  o.op(W.I32ShrU);
  o.mem(W.I32Load, 2, state + HS_TLB_XOFF);
  o.i32(12);
  o.op(W.I32ShrU);
  o.tee(MAP);
  o.i32(chainPages);
  o.op(W.I32LtU);
  o.if();
  o.get(MAP);
  o.i32(2);
  o.op(W.I32Shl);
  o.mem(W.I32Load, 2, chainBase);
  o.tee(MAP);
  o.if();
  o.get(MAP);
  o.get(T_ARG);
  o.op(W.I32WrapI64);
  o.i32(0xfff);
  o.op(W.I32And);
  o.op(W.I32Add);
  o.mem(W.I32Load16S, 1, 0);
  o.tee(BLK);
  o.i32(0);
  o.op(W.I32GeS);
  o.if();
  o.get(BLK);
  o.get(T_ARG);
  o.op(W.I32WrapI64);
  o.i32(-4096);
  o.op(W.I32And);
  o.get(T_ARG);
  o.i64(32);
  o.op(W.I64ShrU);
  o.op(W.I32WrapI64);
  o.get(N_ARG);
  o.get(DTAG_ARG);
  o.i32(3);
  o.op(W.I32ShrU);
  o.get(MAP);
  o.mem(W.I32Load, 2, MAP_TABLE_INDEX);
  o.returnCallIndirect(TYPE_ENTRY);
  o.op(W.End);
  o.op(W.End);
  o.op(W.End);
  o.op(W.End);
  // No translation to enter: leave at the target.
  storeExit(o, state, T_ARG, JitExit.Leave);
  o.get(N_ARG);
  o.op(W.End);
  return { type: TYPE_CHAIN, locals: [[1, T.I64], [3, T.I32]], body: o };
}

/**
 * A translated page: its functions and what they cover. `funcs[0]` is the page's entry (exported,
 * type TYPE_ENTRY), `funcs[1]` its dispatcher, `funcs[2]` its jump (a `jalr`'s target), then one
 * function per block; they take function indices `fnBase`, `fnBase + 1`, ... of the module (as
 * passed to translatePage).
 */
export interface PageTranslation {
  funcs: FuncDef[];
  /** Per halfword slot: the index of the block starting there (an entry of the function), or -1. */
  blockOf: Int16Array;
  /** One byte per halfword slot: 1 for every instruction inside a block. */
  covered: Uint8Array;
  blocks: number;
  instructions: number;
  /** The load and store kinds the page uses: bit `op - Op.Lb` (loads), `7 + op - Op.Sb` (stores). */
  memoryKinds: number;
}

interface Block {
  start: number; // halfword slot
  slots: number[]; // instruction slots
  /** Slot control reaches after the block's last instruction when it falls through, or -1. */
  fallthrough: number;
  /** Instructions charged to the budget (an instruction left to the interpreter is not). */
  count: number;
}

function isBranch(op: number): boolean {
  return op >= Op.Beq && op <= Op.Bgeu;
}

/** True for instructions translated code cannot run at all: the interpreter steps over them. */
function isStep(op: number): boolean {
  return op === Op.Illegal || op === Op.CrossPage || op === Op.Undecoded;
}

/**
 * True for instructions run through the hart's out-of-line path (a callout). AMOs are translated
 * inline, with the callout as their slow path only (like loads and stores).
 */
function isSlow(op: number): boolean {
  return op >= FIRST_SLOW_OP && op !== Op.Fence && op !== Op.FenceI && op !== Op.AmoW && op !== Op.AmoD;
}

/** False for out-of-line instructions that never continue with the next one in the same run. */
function fallsThrough(op: number): boolean {
  return op !== Op.Ecall && op !== Op.Ebreak && op !== Op.Mret && op !== Op.Sret && op !== Op.Wfi;
}

/** Decodes the instruction at halfword `h` of a decoded page if it is not decoded yet. */
export function decodeAt(code: Int32Array, u16: Uint16Array, pageOffset: number, h: number): void {
  const k = h << 2;
  if ((code[k] & 0xff) !== Op.Undecoded) return;
  const lo16 = u16[(pageOffset >> 1) + h];
  if ((lo16 & 3) !== 3) decode16(code, k, lo16);
  else if (h === SLOTS_PER_PAGE - 1) {
    code[k] = Op.CrossPage;
    code[k + 3] = 8;
  } else decode32(code, k, lo16 | (u16[(pageOffset >> 1) + h + 1] << 16));
}

/**
 * Finds the blocks of a page. Unless `decodeAhead`, the walk follows only instructions the
 * interpreter has decoded (run) already, plus the hints (which it decodes): code never run stays
 * out of the translation, which keeps functions small (the optimising WebAssembly compiler's time
 * grows faster than their size), and is reached through an exit to the interpreter if it runs.
 * With `decodeAhead` it decodes and translates everything reachable in the page.
 */
function findBlocks(code: Int32Array, u16: Uint16Array, pageOffset: number, hints: readonly number[],
  decodeAhead: boolean): Block[] {
  const leader = leaderScratch.fill(0);
  const seen = seenScratch.fill(0);
  const fallenInto = fallenIntoScratch.fill(0);
  const work: number[] = [];
  const leaders: number[] = [];
  const addLeader = (h: number): void => {
    if (h < 0 || h >= SLOTS_PER_PAGE || leader[h] !== 0) return;
    leader[h] = 1;
    leaders.push(h);
    work.push(h);
  };
  // Seeds: decoded instructions nothing decoded falls into (they were reached by a jump), and hints.
  // (One pass: a decoded instruction that goes on to the next marks that one as fallen into.)
  for (let h = 0; h < SLOTS_PER_PAGE; h++) {
    const k = h << 2;
    const op = code[k] & 0xff;
    if (op === Op.Undecoded) continue;
    if (fallenInto[h] === 0) addLeader(h);
    if (!(isBranch(op) || op === Op.Jal || op === Op.Jalr || isStep(op) || isSlow(op))) {
      const next = h + (code[k + 3] >> 2);
      if (next < SLOTS_PER_PAGE) fallenInto[next] = 1;
    }
  }
  for (const h of hints) {
    if (h < 0 || h >= SLOTS_PER_PAGE) continue;
    decodeAt(code, u16, pageOffset, h);
    addLeader(h);
  }

  while (work.length > 0) {
    let h = work.pop() as number;
    for (;;) {
      if (seen[h] !== 0) break;
      // (The test runs after decodeAt too, where it never stops the walk: the warm-up decodes
      // ahead, and this way it reaches the test the guest's engine takes.)
      if (decodeAhead) decodeAt(code, u16, pageOffset, h);
      if ((code[h << 2] & 0xff) === Op.Undecoded) break;
      seen[h] = 1;
      const k = h << 2;
      const w0 = code[k];
      const op = w0 & 0xff;
      const next = h + (code[k + 3] >> 2);
      if (isBranch(op)) {
        addLeader(h + (code[k + 1] >> 1));
        addLeader(next);
        break;
      }
      if (op === Op.Jal || op === Op.Jalr) {
        if (op === Op.Jal) addLeader(h + (code[k + 1] >> 1));
        // A call's return point is code in all but odd cases (and translating a few data words
        // as instructions costs little); what follows a plain jump is not followed.
        if (((w0 >> 8) & 0xff) !== X0_SINK) addLeader(next);
        break;
      }
      if (isStep(op) || !fallsThrough(op)) break;
      if (isSlow(op)) {
        addLeader(next); // its callout may leave (a trap, a CSR write): then it is entered here
        break;
      }
      if (next >= SLOTS_PER_PAGE) break;
      if (seen[next] !== 0) {
        // Joins code already walked: the join point starts a block.
        if (leader[next] === 0) {
          leader[next] = 1;
          leaders.push(next);
        }
        break;
      }
      h = next;
    }
  }

  const blocks: Block[] = [];
  const starts = leaderOrder.subarray(0, leaders.length);
  starts.set(leaders);
  starts.sort();
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i];
    if (seen[start] === 0) continue;
    const slots: number[] = [];
    let count = 0;
    let fallthrough = -1;
    let h = start;
    for (;;) {
      const k = h << 2;
      const op = code[k] & 0xff;
      slots.push(h);
      if (isStep(op)) break;
      count++;
      const next = h + (code[k + 3] >> 2);
      if (op === Op.Jal || op === Op.Jalr || !fallsThrough(op)) break;
      if (next >= SLOTS_PER_PAGE) {
        fallthrough = next; // leaves the page
        break;
      }
      if (isBranch(op) || isSlow(op) || leader[next] !== 0 || seen[next] === 0) {
        fallthrough = next;
        break;
      }
      h = next;
    }
    blocks.push({ start, slots, fallthrough, count });
  }
  return blocks;
}

// findBlocks' work arrays, one page's worth, reused.
const leaderScratch = new Uint8Array(SLOTS_PER_PAGE);
const seenScratch = new Uint8Array(SLOTS_PER_PAGE);
const fallenIntoScratch = new Uint8Array(SLOTS_PER_PAGE);
const leaderOrder = new Int16Array(SLOTS_PER_PAGE);

/**
 * Translates a decoded page at `pageOffset` in the arena. `state` is the arena offset of the
 * hart's state area (layout.ts); `blockMap` the arena offset where the caller keeps the result's
 * `blockOf` as int16 (read by in-page `jalr`); `hints` are extra entry slots (see findBlocks for
 * `decodeAhead`); `fnBase` is the index of the page's first function in its module; `out` the
 * writer its functions go into (their bodies are views of it).
 */
export function translatePage(code: Int32Array, u16: Uint16Array, pageOffset: number, state: number,
  blockMap: number, hints: readonly number[], decodeAhead: boolean, fnBase: number,
  inlineMemory: boolean, out: Code): PageTranslation {
  const blocks = findBlocks(code, u16, pageOffset, hints, decodeAhead);
  const blockOf = new Int16Array(SLOTS_PER_PAGE).fill(-1);
  const covered = new Uint8Array(SLOTS_PER_PAGE);
  let instructions = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    blockOf[b.start] = i;
    const slots = b.slots;
    for (let j = 0; j < slots.length; j++) covered[slots[j]] = 1;
    instructions += b.count;
  }
  const gen = new PageCodegen(code, state, blockMap, blocks, fnBase, pageOffset >>> 12, inlineMemory, out, blockOf);
  lastCodegen[0] = gen;
  const funcs = gen.emit();
  return { funcs, blockOf, covered, blocks: blocks.length, instructions, memoryKinds: gen.memoryKinds };
}

/**
 * The last page's code generator, kept alive: V8 keeps what its feedback learned about an
 * object's shape only while some object has that shape. A code generator lives for one page, so
 * with none left between the warm-up's translations and the guest's first (a garbage collection
 * in between), the feedback on its methods was dropped, and the translator's main loop, compiled
 * without it, was deoptimised at the guest's first multiply and divide (compiled three times in
 * a boot instead of once).
 */
const lastCodegen: PageCodegen[] = [];

class PageCodegen {
  // Emission context of the current block.
  private j = 0; // block index
  private extra = 0; // labels opened inside the current block's code
  private selfLoop = false;
  private c = 0; // the block's instruction count
  /** A load or store of the current block branches to its exit (`br_if` to the outermost label). */
  private leavesByOut = false;
  /** See PageTranslation.memoryKinds. */
  memoryKinds = 0;

  constructor(
    private readonly code: Int32Array,
    private readonly state: number,
    private readonly blockMap: number,
    private readonly blocks: Block[],
    private readonly fnBase: number,
    private readonly arenaPage: number,
    /**
     * Loads and stores in the block (TLB check, host access, slow-path call): about 125 bytes
     * each, against about 25 for a call to the module's FN_LOAD_FIRST.. functions. The engine
     * asks for it on pages whose translation keeps running (their code is then optimised, where
     * the call would cost about a fifth of a compute-bound guest's speed).
     */
    private readonly inlineMemory: boolean,
    /**
     * Where the page's functions are written, one after another (each function's body is a view
     * of its part: they stay valid when the writer grows, as a view keeps the old buffer).
     */
    private readonly out: Code,
    /** The block starting at each halfword (-1: none). */
    private readonly blockAt: Int16Array,
  ) {}

  private instructionCount(): number {
    let n = 0;
    for (const b of this.blocks) n += b.slots.length;
    return n;
  }

  /** Function index of the page's dispatcher, and of block j's function. */
  private get dispatchFn(): number {
    return this.fnBase + 1;
  }
  private get jumpFn(): number {
    return this.fnBase + 2;
  }
  private blockFn(j: number): number {
    return this.fnBase + 3 + j;
  }

  /** The page's functions: entry, dispatcher, one per block. */
  emit(): FuncDef[] {
    const m = this.blocks.length;
    const s = this.state;

    // Entry: notes the page (for the engine's exit bookkeeping); the page's virtual base and the
    // data TLB set from the caller's words; then dispatch.
    const entry = this.out;
    const entryStart = entry.length;
    entry.i32(0);
    entry.i32(this.arenaPage);
    entry.mem(W.I32Store, 2, s + HS_CUR_PAGE);
    entry.get(P_BLOCK);
    entry.get(P_BASE_LO);
    entry.op(W.I64ExtendI32U);
    entry.get(P_BASE_HI);
    entry.op(W.I64ExtendI32U);
    entry.i64(32);
    entry.op(W.I64Shl);
    entry.op(W.I64Or);
    entry.get(P_N);
    entry.get(P_DBASE);
    entry.i32(3);
    entry.op(W.I32Shl);
    entry.get(P_DBASE);
    entry.i32(2);
    entry.op(W.I32Shl);
    entry.returnCall(this.dispatchFn);
    entry.op(W.End);
    const entryEnd = entry.length;

    // Dispatcher: a table of m entries, each a tail call of its block's function.
    const d = this.out;
    const dStart = d.length;
    d.block(); // $default
    for (let i = m - 1; i >= 0; i--) d.block();
    d.get(D_BLOCK);
    d.byte(W.BrTable);
    d.u32(m);
    for (let i = 0; i < m; i++) d.u32(i);
    d.u32(m);
    for (let i = 0; i < m; i++) {
      d.op(W.End);
      d.get(D_BASE);
      d.get(D_N);
      d.get(D_DTAG);
      d.get(D_DOFF);
      d.returnCall(this.blockFn(i));
    }
    d.op(W.End); // $default: no such block (callers never ask for one); leave at the page
    storeExit(d, s, D_BASE, JitExit.Miss);
    d.get(D_N);
    d.op(W.End);
    const dEnd = d.length;

    // Jump (target, base, n, dtag, doff) -> n: a `jalr` to the target, all of its block retired.
    // In the page: dispatch through the page's block map (int16 per halfword; a byte offset in the
    // page is the map's byte offset); a target starting no block leaves with JitExit.Miss.
    // Otherwise chain to the target's page.
    const J_T = 0;
    const J_BASE = 1;
    const J_N = 2;
    const J_DTAG = 3;
    const J_DOFF = 4;
    const J_BLK = 5;
    const jump = this.out;
    const jumpStart = jump.length;
    jump.get(J_T);
    jump.i64(-4096);
    jump.op(W.I64And);
    jump.get(J_BASE);
    jump.op(W.I64Eq);
    jump.if();
    jump.get(J_T);
    jump.op(W.I32WrapI64);
    jump.i32(0xfff);
    jump.op(W.I32And);
    jump.mem(W.I32Load16S, 1, this.blockMap);
    jump.tee(J_BLK);
    jump.i32(0);
    jump.op(W.I32GeS);
    jump.if();
    jump.get(J_BLK);
    jump.get(J_BASE);
    jump.get(J_N);
    jump.get(J_DTAG);
    jump.get(J_DOFF);
    jump.returnCall(this.dispatchFn);
    jump.op(W.End);
    storeExit(jump, s, J_T, JitExit.Miss);
    jump.get(J_N);
    jump.op(W.Return);
    jump.op(W.End);
    jump.get(J_T);
    jump.get(J_N);
    jump.get(J_DTAG);
    jump.returnCall(FN_CHAIN);
    jump.op(W.End);
    const jumpEnd = jump.length;

    // The blocks' bodies follow; each function is a view of its part of the writer.
    const all = this.out;
    all.reserve(96 * this.instructionCount());
    const ends: number[] = [];
    for (let i = 0; i < m; i++) {
      this.emitBlock(i);
      // Every path of a block ends in a return, a tail call or a branch back to its loop.
      all.op(W.Unreachable);
      all.op(W.End);
      ends.push(all.length);
    }
    const funcs: FuncDef[] = [
      { type: TYPE_ENTRY, locals: [], body: all.view(entryStart, entryEnd) },
      { type: TYPE_DISPATCH, locals: [], body: all.view(dStart, dEnd) },
      { type: TYPE_JUMP, locals: [[1, T.I32]], body: all.view(jumpStart, jumpEnd) },
    ];
    for (let i = 0; i < m; i++) {
      funcs.push({ type: TYPE_BLOCK, locals: BLOCK_FN_LOCALS, body: all.view(i === 0 ? jumpEnd : ends[i - 1], ends[i]) });
    }
    return funcs;
  }

  // ---------------- helpers ----------------

  private readReg(r: number): void {
    if (r === 0) {
      this.out.i64(0);
      return;
    }
    this.out.loadAt(W.I64Load, 3, this.state + HS_X + 8 * r);
  }

  /**
   * Starts a write of register r: pushes the store's address (a constant), so the value computed
   * next is stored by `writeReg(r)` straight from the stack (no local in between, which the
   * baseline compiler keeps in memory). Nothing for x0.
   */
  private dest(r: number): void {
    if (r !== 0 && r !== 32) this.out.i32(0);
  }

  /** Pops the value on the stack into register r (dropping it for x0); `dest(r)` came first. */
  private writeReg(r: number): void {
    if (r === 0 || r === 32) {
      this.out.op(W.Drop);
      return;
    }
    this.out.mem(W.I64Store, 3, this.state + HS_X + 8 * r);
  }

  /** Pushes base + byte offset (an i64). */
  private pcAt(byteOffset: number): void {
    const o = this.out;
    o.get(L_BASE);
    if (byteOffset !== 0) {
      o.i64(byteOffset);
      o.op(W.I64Add);
    }
  }

  /**
   * Leaves translated code: reports the exit pc (base + byteOffset; L_T1 for 'T1'; none for
   * null) and kind, and returns n + adj.
   */
  private exit(kind: JitExit, byteOffset: number | 'T1' | null, adj: number): void {
    const o = this.out;
    const s = this.state;
    if (byteOffset !== null) {
      o.i32(0);
      if (byteOffset === 'T1') o.get(L_T1);
      else this.pcAt(byteOffset);
      o.mem(W.I64Store, 3, s + HS_EXIT_PC);
    }
    o.i32(0);
    o.i32(kind);
    o.mem(W.I32Store, 2, s + HS_EXIT_KIND);
    o.get(L_N);
    if (adj !== 0) {
      o.i32(adj);
      o.op(W.I32Add);
    }
    o.op(W.Return);
  }

  /**
   * Control transfer out of the page, to base + byteOffset (or to L_T1), all instructions of the
   * block retired: through the chaining helper, which enters the target's translation if it can.
   */
  private leave(byteOffset: number | 'T1'): void {
    const o = this.out;
    if (byteOffset === 'T1') o.get(L_T1);
    else this.pcAt(byteOffset);
    o.get(L_N);
    o.get(L_DTAG);
    o.returnCall(FN_CHAIN);
  }

  /** Control transfer to in-page halfword `h` (all instructions of the block are retired). */
  private goto(h: number): void {
    const o = this.out;
    const t = h >= 0 && h < SLOTS_PER_PAGE ? this.blockAt[h] : -1;
    if (t < 0) {
      if (h >= 0 && h < SLOTS_PER_PAGE) this.exit(JitExit.Miss, h * 2, 0);
      else this.leave(h * 2);
      return;
    }
    if (t === this.j && this.selfLoop) {
      o.br(this.extra - 1);
      return;
    }
    o.get(L_BASE);
    o.get(L_N);
    o.get(L_DTAG);
    o.get(L_DOFF);
    o.returnCall(this.blockFn(t));
  }

  private emitBlock(j: number): void {
    const o = this.out;
    const b = this.blocks[j];
    const code = this.code;
    this.j = j;
    this.extra = 0;
    this.c = b.count;
    // A block whose last instruction branches to its own start loops in place.
    const lastK = b.slots[b.slots.length - 1] << 2;
    const lastOp = code[lastK] & 0xff;
    this.selfLoop = (isBranch(lastOp) || lastOp === Op.Jal) &&
      b.slots[b.slots.length - 1] + (code[lastK + 1] >> 1) === b.start;
    // The outermost label: loads and stores whose callout leaves the block branch out of it.
    this.leavesByOut = false;
    o.block();
    if (this.selfLoop) {
      o.loop();
      this.extra++;
    }
    if (b.count > 0) {
      // Budget: n -= count; leave for the interpreter when it does not cover the block.
      o.get(L_N);
      o.i32(b.count);
      o.op(W.I32Sub);
      o.tee(L_N);
      o.i32(0);
      o.op(W.I32LtS);
      o.if();
      this.extra++;
      o.get(L_BASE);
      o.i32(b.start * 2 | (b.count << 12));
      o.get(L_N);
      o.returnCall(FN_BUDGET_EXIT);
      o.op(W.End);
      this.extra--;
    }
    for (let i = 0; i < b.slots.length; i++) this.emitInsn(b.slots[i], i);
    const lastIsTransfer = lastOp === Op.Jal || lastOp === Op.Jalr || isStep(lastOp) || !fallsThrough(lastOp);
    if (!lastIsTransfer) {
      if (b.fallthrough >= SLOTS_PER_PAGE) this.leave(b.fallthrough * 2);
      else if (b.fallthrough >= 0) this.goto(b.fallthrough);
    }
    if (!fallsThrough(lastOp)) {
      // The hart sets the pc for these (their callout never returns Ok); stay exact anyway.
      this.exit(JitExit.Leave, b.slots[b.slots.length - 1] * 2 + (code[lastK + 3] >> 1), 0);
    }
    if (this.selfLoop) {
      o.op(W.End);
      this.extra--;
    }
    o.op(W.End);
    if (this.leavesByOut) {
      // FN_MEM_EXIT wrote the exit pc and kind; the instructions after the access go back to n.
      o.get(L_N);
      o.loadAt(W.I32Load, 2, this.state + HS_EXIT_ADJ);
      o.op(W.I32Add);
      o.op(W.Return);
    }
  }

  /** Emits instruction `i` (at halfword h) of the current block. */
  private emitInsn(h: number, i: number): void {
    const o = this.out;
    const code = this.code;
    const k = h << 2;
    const w0 = code[k];
    const imm = code[k + 1];
    const op = w0 & 0xff;
    const rd = ((w0 >> 8) & 0xff) >> 1; // 32 for the x0 sink
    const rs1 = ((w0 >> 16) & 0xff) >> 1;
    const rs2 = (w0 >>> 24) >> 1;
    const off = h * 2; // byte offset in the page
    const len = code[k + 3] >> 1; // 2 or 4 bytes
    const c = this.c;

    switch (op) {
      case Op.Nop:
      case Op.Fence:
      case Op.FenceI:
        return;
      case Op.Illegal:
      case Op.CrossPage:
      case Op.Undecoded:
        this.exit(JitExit.Step, off, c - i);
        return;
      case Op.Lui:
        this.dest(rd);
        o.i64(imm);
        this.writeReg(rd);
        return;
      case Op.Auipc:
        this.dest(rd);
        this.pcAt(off + imm);
        this.writeReg(rd);
        return;
      case Op.Jal: {
        const target = off + imm;
        this.dest(rd);
        this.pcAt(off + len);
        this.writeReg(rd);
        if (target >= 0 && target < 4096) this.goto(target >> 1);
        else this.leave(target);
        return;
      }
      case Op.Jalr: {
        this.readReg(rs1);
        if (imm !== 0) {
          o.i64(imm);
          o.op(W.I64Add);
        }
        o.i64(-2);
        o.op(W.I64And);
        o.set(L_T1);
        this.dest(rd);
        this.pcAt(off + len);
        this.writeReg(rd);
        o.get(L_T1);
        o.get(L_BASE);
        o.get(L_N);
        o.get(L_DTAG);
        o.get(L_DOFF);
        o.returnCall(this.jumpFn);
        return;
      }
      case Op.Beq:
      case Op.Bne:
      case Op.Blt:
      case Op.Bge:
      case Op.Bltu:
      case Op.Bgeu: {
        this.readReg(rs1);
        this.readReg(rs2);
        o.op(
          op === Op.Beq ? W.I64Eq : op === Op.Bne ? W.I64Ne : op === Op.Blt ? W.I64LtS :
          op === Op.Bge ? W.I64GeS : op === Op.Bltu ? W.I64LtU : W.I64GeU,
        );
        const target = off + imm;
        const th = target >> 1;
        const t = target >= 0 && target < 4096 ? this.blockAt[th] : -1;
        if (t >= 0 && t === this.j && this.selfLoop) {
          o.brIf(this.extra - 1);
        } else {
          o.if();
          this.extra++;
          if (t >= 0) this.goto(th);
          else if (target >= 0 && target < 4096) this.exit(JitExit.Miss, target, 0);
          else this.leave(target);
          o.op(W.End);
          this.extra--;
        }
        return;
      }
      case Op.Lb:
      case Op.Lh:
      case Op.Lw:
      case Op.Ld:
      case Op.Lbu:
      case Op.Lhu:
      case Op.Lwu:
        this.emitLoad(op, rd, rs1, imm, off, len, i);
        return;
      case Op.Sb:
      case Op.Sh:
      case Op.Sw:
      case Op.Sd:
        this.emitStore(op, rs1, rs2, imm, off, len, i);
        return;
      case Op.Addi:
        this.dest(rd);
        this.readReg(rs1);
        if (imm !== 0) {
          o.i64(imm);
          o.op(W.I64Add);
        }
        this.writeReg(rd);
        return;
      case Op.Slti:
      case Op.Sltiu:
        this.dest(rd);
        this.readReg(rs1);
        o.i64(imm);
        o.op(op === Op.Slti ? W.I64LtS : W.I64LtU);
        o.op(W.I64ExtendI32U);
        this.writeReg(rd);
        return;
      case Op.Xori:
      case Op.Ori:
      case Op.Andi:
        this.dest(rd);
        this.readReg(rs1);
        o.i64(imm);
        o.op(op === Op.Xori ? W.I64Xor : op === Op.Ori ? W.I64Or : W.I64And);
        this.writeReg(rd);
        return;
      case Op.Slli:
      case Op.Srli:
      case Op.Srai:
        this.dest(rd);
        this.readReg(rs1);
        o.i64(imm);
        o.op(op === Op.Slli ? W.I64Shl : op === Op.Srli ? W.I64ShrU : W.I64ShrS);
        this.writeReg(rd);
        return;
      case Op.Add:
      case Op.Sub:
      case Op.Sll:
      case Op.Xor:
      case Op.Srl:
      case Op.Sra:
      case Op.Or:
      case Op.And:
      case Op.Mul:
        this.dest(rd);
        this.readReg(rs1);
        this.readReg(rs2);
        o.op(
          op === Op.Add ? W.I64Add : op === Op.Sub ? W.I64Sub : op === Op.Sll ? W.I64Shl :
          op === Op.Xor ? W.I64Xor : op === Op.Srl ? W.I64ShrU : op === Op.Sra ? W.I64ShrS :
          op === Op.Or ? W.I64Or : op === Op.And ? W.I64And : W.I64Mul,
        );
        this.writeReg(rd);
        return;
      case Op.Slt:
      case Op.Sltu:
        this.dest(rd);
        this.readReg(rs1);
        this.readReg(rs2);
        o.op(op === Op.Slt ? W.I64LtS : W.I64LtU);
        o.op(W.I64ExtendI32U);
        this.writeReg(rd);
        return;
      case Op.Addiw:
        this.dest(rd);
        this.readReg(rs1);
        if (imm !== 0) {
          o.i64(imm);
          o.op(W.I64Add);
        }
        o.op(W.I64Extend32S);
        this.writeReg(rd);
        return;
      case Op.Slliw:
        this.dest(rd);
        this.readReg(rs1);
        o.i64(imm);
        o.op(W.I64Shl);
        o.op(W.I64Extend32S);
        this.writeReg(rd);
        return;
      case Op.Srliw:
      case Op.Sraiw:
        this.dest(rd);
        this.readReg(rs1);
        o.op(W.I32WrapI64);
        o.i32(imm);
        o.op(op === Op.Srliw ? W.I32ShrU : W.I32ShrS);
        o.op(W.I64ExtendI32S);
        this.writeReg(rd);
        return;
      case Op.Addw:
      case Op.Subw:
      case Op.Mulw:
        this.dest(rd);
        this.readReg(rs1);
        this.readReg(rs2);
        o.op(op === Op.Addw ? W.I64Add : op === Op.Subw ? W.I64Sub : W.I64Mul);
        o.op(W.I64Extend32S);
        this.writeReg(rd);
        return;
      case Op.Sllw:
      case Op.Srlw:
      case Op.Sraw:
        this.dest(rd);
        this.readReg(rs1);
        o.op(W.I32WrapI64);
        this.readReg(rs2);
        o.op(W.I32WrapI64);
        o.op(op === Op.Sllw ? W.I32Shl : op === Op.Srlw ? W.I32ShrU : W.I32ShrS);
        o.op(W.I64ExtendI32S);
        this.writeReg(rd);
        return;
      case Op.Mulh:
      case Op.Mulhsu:
      case Op.Mulhu:
        this.dest(rd);
        this.readReg(rs1);
        this.readReg(rs2);
        o.call(op === Op.Mulh ? FN_MULH : op === Op.Mulhsu ? FN_MULHSU : FN_MULHU);
        this.writeReg(rd);
        return;
      case Op.Div:
      case Op.Divu:
      case Op.Rem:
      case Op.Remu:
        this.emitDiv64(op, rd, rs1, rs2);
        return;
      case Op.AmoW:
      case Op.AmoD:
        this.emitAmo(op, rd, rs1, rs2, code[k + 2], w0, imm, code[k + 3], off, len, i);
        return;
      case Op.Divw:
      case Op.Divuw:
      case Op.Remw:
      case Op.Remuw:
        this.emitDiv32(op, rd, rs1, rs2);
        return;
      default:
        this.emitSlow(w0, imm, code[k + 2], code[k + 3], off, len, i);
    }
  }

  /** Pushes rs1 + imm (i64), keeping it in L_ADDR and its low word in L_LO. */
  private address(rs1: number, imm: number): void {
    const o = this.out;
    this.readReg(rs1);
    if (imm !== 0) {
      o.i64(imm);
      o.op(W.I64Add);
    }
    o.tee(L_ADDR);
    o.op(W.I32WrapI64);
    o.set(L_LO);
  }

  /** Pushes an i32: nonzero when the TLB entry (tags at `tagOff`) maps the address and it is aligned. */
  private tlbHit(tagOff: number, size: number): void {
    emitTlbHit(this.out, this.state, tagOff, size, L_ADDR, L_LO, L_DTAG);
  }

  /** Pushes the arena address of the access (TLB hit): off[entry] + (addr & 0xfff). */
  private hostAddress(offOff: number): void {
    emitHostAddress(this.out, this.state, offOff, L_LO, L_DOFF);
  }

  /**
   * After a callout (its status on the stack): leaves on PcSet (pc set by the hart) or Stop
   * (continue at the next instruction), the instruction being retired either way.
   */
  private checkStatus(off: number, len: number, i: number): void {
    const o = this.out;
    o.tee(L_ST);
    o.if();
    this.extra++;
    o.get(L_ST);
    this.pcAt(off + len);
    o.get(L_N);
    const adj = this.c - i - 1;
    if (adj !== 0) {
      o.i32(adj);
      o.op(W.I32Add);
    }
    o.returnCall(FN_EXIT_STATUS);
    o.op(W.End);
    this.extra--;
  }

  private emitLoad(op: number, rd: number, rs1: number, imm: number, off: number, len: number, i: number): void {
    if (this.inlineMemory) {
      this.emitLoadInline(op, rd, rs1, imm, off, len, i);
      return;
    }
    this.accessArgs(rs1, imm, memSite(off, len, rd, this.c - i - 1));
    this.callAccess(FN_LOAD_FIRST + op - Op.Lb, op - Op.Lb);
  }

  private emitStore(op: number, rs1: number, rs2: number, imm: number, off: number, len: number, i: number): void {
    if (this.inlineMemory) {
      this.emitStoreInline(op, rs1, rs2, imm, off, len, i);
      return;
    }
    this.accessArgs(rs1, imm, memSite(off, len, 0, this.c - i - 1));
    this.readReg(rs2);
    this.callAccess(FN_STORE_FIRST + op - Op.Sb, 7 + op - Op.Sb);
  }

  /** Pushes an access function's first arguments: address (rs1 + imm), dtag, doff, base, site. */
  private accessArgs(rs1: number, imm: number, site: number): void {
    const o = this.out;
    this.readReg(rs1);
    if (imm !== 0) {
      o.i64(imm);
      o.op(W.I64Add);
    }
    o.get(L_DTAG);
    o.get(L_DOFF);
    o.get(L_BASE);
    o.i32(site);
  }

  /** Calls access function `fn` (memoryKinds bit `kind`); leaves the block if it says so. */
  private callAccess(fn: number, kind: number): void {
    this.out.call(fn);
    this.memoryKinds |= 1 << kind;
    this.out.brIf(this.extra);
    this.leavesByOut = true;
  }

  /** A load with the TLB check and host access in the block (a hot page's, see inlineMemory). */
  private emitLoadInline(op: number, rd: number, rs1: number, imm: number, off: number, len: number, i: number): void {
    const o = this.out;
    const { load, size } = LOAD_FORMS[op - Op.Lb];
    this.address(rs1, imm);
    this.tlbHit(HS_TLB_RTAG, size);
    o.if();
    this.extra++;
    this.dest(rd);
    this.hostAddress(HS_TLB_ROFF);
    o.mem(load, Math.log2(size), 0);
    this.writeReg(rd);
    o.op(W.Else);
    o.get(L_ADDR);
    this.pcAt(off);
    o.i32(op | (rd << 8));
    o.call(FN_LOAD_SLOW);
    this.checkStatus(off, len, i);
    o.op(W.End);
    this.extra--;
  }

  /** A store with the TLB check and host access in the block (a hot page's, see inlineMemory). */
  private emitStoreInline(op: number, rs1: number, rs2: number, imm: number, off: number, len: number, i: number): void {
    const o = this.out;
    const { store, size } = STORE_FORMS[op - Op.Sb];
    this.address(rs1, imm);
    this.tlbHit(HS_TLB_WTAG, size);
    o.if();
    this.extra++;
    this.hostAddress(HS_TLB_WOFF);
    this.readReg(rs2);
    o.mem(store, Math.log2(size), 0);
    o.op(W.Else);
    o.get(L_ADDR);
    this.pcAt(off);
    o.i32(size);
    this.readReg(rs2);
    o.call(FN_STORE_SLOW);
    this.checkStatus(off, len, i);
    o.op(W.End);
    this.extra--;
  }

  /**
   * An AMO (funct5 `f5`): inline when the write TLB maps the aligned address (RAM the hart may
   * write, holding no decoded code), else the hart's own AMO through the callout (faults,
   * misalignment, MMIO). Harts of a machine run one at a time, so the read-modify-write is atomic.
   */
  private emitAmo(op: number, rd: number, rs1: number, rs2: number, f5: number, w0: number, w1: number,
    step: number, off: number, len: number, i: number): void {
    const o = this.out;
    const word = op === Op.AmoW;
    const size = word ? 4 : 8;
    this.address(rs1, 0);
    this.tlbHit(HS_TLB_WTAG, size);
    o.if();
    this.extra++;
    this.hostAddress(HS_TLB_WOFF);
    o.set(L_BLK);
    o.get(L_BLK);
    o.mem(word ? W.I64Load32S : W.I64Load, Math.log2(size), 0);
    o.set(L_T1); // the old value (sign-extended for .W): rd's, once the new one is stored
    this.readReg(rs2);
    o.set(L_ADDR); // rs2 (the address is no longer needed)
    o.get(L_BLK);
    const unsigned = (l: number): void => {
      o.get(l);
      if (word) {
        o.op(W.I32WrapI64);
        o.op(W.I64ExtendI32U);
      }
    };
    const signed = (l: number): void => {
      o.get(l);
      if (word) o.op(W.I64Extend32S);
    };
    switch (f5) {
      case 0: // add
      case 4: // xor
      case 8: // or
      case 12: // and
        o.get(L_T1);
        o.get(L_ADDR);
        o.op(f5 === 0 ? W.I64Add : f5 === 4 ? W.I64Xor : f5 === 8 ? W.I64Or : W.I64And);
        break;
      case 1: // swap
        o.get(L_ADDR);
        break;
      default: {
        // min, max (signed: 16, 20), minu, maxu (24, 28): select(a, b, a < b) is the minimum.
        const operand = f5 >= 24 ? unsigned : signed;
        const less = f5 >= 24 ? W.I64LtU : W.I64LtS;
        const min = f5 === 16 || f5 === 24;
        operand(L_T1);
        operand(L_ADDR);
        if (min) {
          operand(L_T1);
          operand(L_ADDR);
        } else {
          operand(L_ADDR);
          operand(L_T1);
        }
        o.op(less);
        o.op(W.Select);
      }
    }
    o.mem(word ? W.I64Store32 : W.I64Store, Math.log2(size), 0);
    this.dest(rd);
    o.get(L_T1);
    this.writeReg(rd);
    o.op(W.Else);
    this.emitSlow(w0, w1, f5, step, off, len, i);
    o.op(W.End);
    this.extra--;
  }

  private emitDiv64(op: number, rd: number, rs1: number, rs2: number): void {
    const o = this.out;
    this.dest(rd);
    this.readReg(rs2);
    o.op(W.I64Eqz);
    o.if(T.I64);
    if (op === Op.Div || op === Op.Divu) o.i64(-1);
    else this.readReg(rs1);
    o.op(W.Else);
    if (op === Op.Div) {
      // The one overflow, MIN / -1, gives MIN (wasm traps on it).
      this.readReg(rs1);
      o.i64(-(2n ** 63n));
      o.op(W.I64Eq);
      this.readReg(rs2);
      o.i64(-1);
      o.op(W.I64Eq);
      o.op(W.I32And);
      o.if(T.I64);
      o.i64(-(2n ** 63n));
      o.op(W.Else);
      this.readReg(rs1);
      this.readReg(rs2);
      o.op(W.I64DivS);
      o.op(W.End);
    } else {
      this.readReg(rs1);
      this.readReg(rs2);
      o.op(op === Op.Divu ? W.I64DivU : op === Op.Rem ? W.I64RemS : W.I64RemU);
    }
    o.op(W.End);
    this.writeReg(rd);
  }

  private emitDiv32(op: number, rd: number, rs1: number, rs2: number): void {
    const o = this.out;
    this.dest(rd);
    const a = (): void => {
      this.readReg(rs1);
      o.op(W.I32WrapI64);
    };
    const b = (): void => {
      this.readReg(rs2);
      o.op(W.I32WrapI64);
    };
    b();
    o.op(W.I32Eqz);
    o.if(T.I32);
    if (op === Op.Divw || op === Op.Divuw) o.i32(-1);
    else a();
    o.op(W.Else);
    if (op === Op.Divw) {
      a();
      o.i32(-0x8000_0000);
      o.op(W.I32Eq);
      b();
      o.i32(-1);
      o.op(W.I32Eq);
      o.op(W.I32And);
      o.if(T.I32);
      o.i32(-0x8000_0000);
      o.op(W.Else);
      a();
      b();
      o.op(W.I32DivS);
      o.op(W.End);
    } else {
      a();
      b();
      o.op(op === Op.Divuw ? W.I32DivU : op === Op.Remw ? W.I32RemS : W.I32RemU);
    }
    o.op(W.End);
    o.op(W.I64ExtendI32S);
    this.writeReg(rd);
  }

  /** An out-of-line instruction (CSR, system, atomic, FP) runs in the hart. */
  private emitSlow(w0: number, w1: number, w2: number, step: number, off: number, len: number, i: number): void {
    const o = this.out;
    this.pcAt(off);
    o.i32(w0);
    o.i32(w1);
    o.i32(w2);
    o.i32(step);
    o.get(L_N);
    o.i32(this.c - i);
    o.op(W.I32Add);
    o.call(FN_SLOW_INSN);
    this.checkStatus(off, len, i);
  }
}

/** Loads by `op - Op.Lb` (Lb, Lh, Lw, Ld, Lbu, Lhu, Lwu): the wasm load and the access size. */
const LOAD_FORMS: readonly { load: W; size: number }[] = [
  { load: W.I64Load8S, size: 1 }, { load: W.I64Load16S, size: 2 }, { load: W.I64Load32S, size: 4 },
  { load: W.I64Load, size: 8 }, { load: W.I64Load8U, size: 1 }, { load: W.I64Load16U, size: 2 },
  { load: W.I64Load32U, size: 4 },
];
/** Stores by `op - Op.Sb` (Sb, Sh, Sw, Sd). */
const STORE_FORMS: readonly { store: W; size: number }[] = [
  { store: W.I64Store8, size: 1 }, { store: W.I64Store16, size: 2 }, { store: W.I64Store32, size: 4 },
  { store: W.I64Store, size: 8 },
];

/**
 * A load's or store's site, the constant its block passes to the FN_LOAD_FIRST.. functions: byte
 * offset in the page (bits 0-11), 4-byte instruction (bit 12), rd (bits 13-17; a load's), and the
 * block's instructions after it (bits 18-): what FN_MEM_EXIT needs to report an exit.
 */
export function memSite(off: number, len: number, rd: number, after: number): number {
  return off | (len === 4 ? 1 << 12 : 0) | ((rd & 31) << 13) | (after << 18);
}

/**
 * Loads and stores out of line (functions FN_LOAD_FIRST ... FN_MEM_EXIT): one function per kind,
 * shared by all blocks of the module (`used`: a bit per kind its pages use, as in
 * PageTranslation.memoryKinds; the others are left empty), so a block carries only the address, a call and a branch
 * for each (wasm bytes are what the engine's baseline compiler pays for, at the first call of each
 * block; the optimising compiler inlines these where code is hot, see bin/tsvm.js).
 */
export function memoryHelpers(state: number, used: number): FuncDef[] {
  const funcs: FuncDef[] = [];
  const unused = (type: number): void => {
    const o = new Code();
    o.op(W.Unreachable);
    o.op(W.End);
    funcs.push({ type, locals: [], body: o });
  };
  // Parameters: 0 addr (i64), 1 dtag, 2 doff, 3 base (i64), 4 site[, 5 value (i64)]; local lo.
  const tlbCheck = (o: Code, lo: number, tagOff: number, size: number): void => {
    o.get(0);
    o.op(W.I32WrapI64);
    o.set(lo);
    emitTlbHit(o, state, tagOff, size, 0, lo, 1);
  };
  const hostAddress = (o: Code, lo: number, offOff: number): void => emitHostAddress(o, state, offOff, lo, 2);
  const pc = (o: Code): void => {
    o.get(3);
    o.get(4);
    o.i32(0xfff);
    o.op(W.I32And);
    o.op(W.I64ExtendI32U);
    o.op(W.I64Add);
  };
  for (let k = 0; k < LOAD_FORMS.length; k++) {
    const op = Op.Lb + k;
    const { load, size } = LOAD_FORMS[k];
    if ((used & (1 << k)) === 0) {
      unused(TYPE_MEM_LOAD);
      continue;
    }
    const o = new Code();
    const LO = 5;
    const RD = 6;
    tlbCheck(o, LO, HS_TLB_RTAG, size);
    o.if();
    // RAM: nothing to do for x0 (no side effects).
    o.get(4);
    o.i32(13);
    o.op(W.I32ShrU);
    o.i32(31);
    o.op(W.I32And);
    o.tee(RD);
    o.if();
    o.get(RD);
    o.i32(3);
    o.op(W.I32Shl);
    hostAddress(o, LO, HS_TLB_ROFF);
    o.mem(load, Math.log2(size), 0);
    o.mem(W.I64Store, 3, state + HS_X);
    o.op(W.End);
    o.i32(JitCall.Ok);
    o.op(W.Return);
    o.op(W.End);
    o.get(0);
    pc(o);
    o.get(4);
    o.i32(5);
    o.op(W.I32ShrU);
    o.i32(0x1f00);
    o.op(W.I32And);
    o.i32(op);
    o.op(W.I32Or);
    o.call(FN_LOAD_SLOW);
    o.get(3);
    o.get(4);
    o.returnCall(FN_MEM_EXIT);
    o.op(W.End);
    funcs.push({ type: TYPE_MEM_LOAD, locals: [[2, T.I32]], body: o });
  }
  for (let k = 0; k < STORE_FORMS.length; k++) {
    const { store, size } = STORE_FORMS[k];
    if ((used & (1 << (7 + k))) === 0) {
      unused(TYPE_MEM_STORE);
      continue;
    }
    const o = new Code();
    const LO = 6;
    tlbCheck(o, LO, HS_TLB_WTAG, size);
    o.if();
    hostAddress(o, LO, HS_TLB_WOFF);
    o.get(5);
    o.mem(store, Math.log2(size), 0);
    o.i32(JitCall.Ok);
    o.op(W.Return);
    o.op(W.End);
    o.get(0);
    pc(o);
    o.i32(size);
    o.get(5);
    o.call(FN_STORE_SLOW);
    o.get(3);
    o.get(4);
    o.returnCall(FN_MEM_EXIT);
    o.op(W.End);
    funcs.push({ type: TYPE_MEM_STORE, locals: [[1, T.I32]], body: o });
  }
  if (used === 0) {
    unused(TYPE_MEM_EXIT);
    return funcs;
  }
  // memExit(status, base, site) -> status. PcSet leaves where the hart put the pc; Stop at the next
  // instruction (the access was done).
  const ex = new Code();
  ex.get(0);
  ex.op(W.I32Eqz);
  ex.if();
  ex.i32(JitCall.Ok);
  ex.op(W.Return);
  ex.op(W.End);
  ex.get(0);
  ex.i32(JitCall.PcSet);
  ex.op(W.I32Ne);
  ex.if();
  ex.i32(0);
  ex.get(1);
  ex.get(2);
  ex.i32(0xfff);
  ex.op(W.I32And);
  ex.i32(2);
  ex.op(W.I32Add);
  ex.get(2);
  ex.i32(11);
  ex.op(W.I32ShrU);
  ex.i32(2);
  ex.op(W.I32And);
  ex.op(W.I32Add); // + 2 for a 4-byte instruction
  ex.op(W.I64ExtendI32U);
  ex.op(W.I64Add);
  ex.mem(W.I64Store, 3, state + HS_EXIT_PC);
  ex.op(W.End);
  storeExitKind(ex, 0, state);
  ex.i32(0);
  ex.get(2);
  ex.i32(18);
  ex.op(W.I32ShrU);
  ex.mem(W.I32Store, 2, state + HS_EXIT_ADJ);
  ex.get(0);
  ex.op(W.End);
  funcs.push({ type: TYPE_MEM_EXIT, locals: [], body: ex });
  return funcs;
}

/**
 * budgetExit(base, site, n) -> n + count (function FN_BUDGET_EXIT): the exit of a block the budget
 * does not cover, at its start (site: byte offset in the page | instruction count << 12).
 */
export function budgetExitHelper(state: number): FuncDef {
  const o = new Code();
  o.i32(0);
  o.get(0);
  o.get(1);
  o.i32(0xfff);
  o.op(W.I32And);
  o.op(W.I64ExtendI32U);
  o.op(W.I64Add);
  o.mem(W.I64Store, 3, state + HS_EXIT_PC);
  o.i32(0);
  o.i32(JitExit.Budget);
  o.mem(W.I32Store, 2, state + HS_EXIT_KIND);
  o.get(2);
  o.get(1);
  o.i32(12);
  o.op(W.I32ShrU);
  o.op(W.I32Add);
  o.op(W.End);
  return { type: TYPE_BUDGET_EXIT, locals: [], body: o };
}

/** A page to translate into a module (ModuleRequest). */
export interface ModulePageRequest {
  /** Arena page number. */
  page: number;
  /** Its decoded page (translatePage may decode more of it: hints, decodeAhead). */
  code: Int32Array;
  /** Extra entry slots. */
  hints: number[];
  /** Arena offset of the block map its translation uses (MAP_BYTES). */
  blockMap: number;
}

/** What a module of translations needs. */
export interface ModuleRequest {
  /** Arena offsets of the hart's state area and of the engine's chain array, and its length. */
  state: number;
  chainBase: number;
  chainPages: number;
  decodeAhead: boolean;
  inlineMemory: boolean;
  pages: ModulePageRequest[];
}

export interface ModulePageResult {
  page: number;
  /** Function index of its entry (exported as `f${fn}`). */
  fn: number;
  blockOf: Int16Array;
  covered: Uint8Array;
  blocks: number;
  instructions: number;
}

export interface ModuleResult {
  bytes: Uint8Array;
  /** The pages with at least one block, in request order. */
  pages: ModulePageResult[];
}

const MODULE_IMPORTS = [
  { module: 'h', name: 'ld', type: TYPE_ENTRY },
  { module: 'h', name: 'st', type: TYPE_CALLOUT },
  { module: 'h', name: 'slow', type: TYPE_CALLOUT },
];

/** A module's shared helper functions, for one engine's state and chain areas. */
interface ModuleHelpers {
  /** The multiply, chaining and slow-path helpers (function indices up to FN_LOAD_FIRST). */
  leading: FuncDef[];
  /** The access functions, those of unused kinds as `unreachable` (by memoryKinds mask). */
  memory(used: number): FuncDef[];
  budgetExit: FuncDef;
}

/**
 * Helpers by engine: every module of an engine has the same ones, emitted once (they are only
 * read when a module is assembled). A few engines at a time (tests make many): the oldest goes.
 */
const helpersByEngine = new Map<string, ModuleHelpers>();
/** Where buildModule's pages are written (reused, and starting small: see assembleModule's buffers). */
const pageScratch = new Code(16);
const HELPER_SETS = 8;

function moduleHelpers(state: number, chainBase: number, chainPages: number): ModuleHelpers {
  const key = `${state}:${chainBase}:${chainPages}`;
  let h = helpersByEngine.get(key);
  if (h !== undefined) return h;
  const mul = mulHelpers();
  const leading: FuncDef[] = [
    { type: TYPE_MULH, locals: [[7, T.I64]], body: mul.mulhu },
    { type: TYPE_MULH, locals: [], body: mul.mulh },
    { type: TYPE_MULH, locals: [], body: mul.mulhsu },
    chainHelper(state, chainBase, chainPages),
    ...slowPathHelpers(state),
  ];
  const byMask = new Map<number, FuncDef[]>();
  h = {
    leading,
    memory: (used) => {
      let m = byMask.get(used);
      if (m === undefined) byMask.set(used, (m = memoryHelpers(state, used)));
      return m;
    },
    budgetExit: budgetExitHelper(state),
  };
  if (helpersByEngine.size >= HELPER_SETS) helpersByEngine.delete(helpersByEngine.keys().next().value as string);
  helpersByEngine.set(key, h);
  return h;
}

/**
 * Translates the requested pages into one module: the shared helpers (function indices FN_*),
 * then each page's functions. `u16` is the arena (the pages' instruction bytes).
 */
export function buildModule(req: ModuleRequest, u16: Uint16Array): ModuleResult {
  // The pages' functions are views of this writer until assembleModule copies them out.
  pageScratch.length = 0;
  // Function indices (FN_*): imports ld, st, slow; then mulhu, mulh, mulhsu; then pages.
  const helpers = moduleHelpers(req.state, req.chainBase, req.chainPages);
  const funcs: FuncDef[] = [...helpers.leading];
  const memoryAt = funcs.length; // the memory helpers, once the pages say which they use
  funcs.push(...helpers.memory(0));
  funcs.push(helpers.budgetExit);
  let memoryKinds = 0;
  const pages: ModulePageResult[] = [];
  for (const r of req.pages) {
    const fn = MODULE_IMPORTS.length + funcs.length;
    const tr = translatePage(r.code, u16, r.page << 12, req.state, r.blockMap, r.hints, req.decodeAhead, fn,
      req.inlineMemory, pageScratch);
    if (tr.blocks === 0) continue;
    funcs.push(...tr.funcs);
    memoryKinds |= tr.memoryKinds;
    pages.push({ page: r.page, fn, blockOf: tr.blockOf, covered: tr.covered, blocks: tr.blocks, instructions: tr.instructions });
  }
  funcs.splice(memoryAt, FN_BUDGET_EXIT - FN_LOAD_FIRST, ...helpers.memory(memoryKinds));
  const bytes = pages.length === 0 ? new Uint8Array(0) : assembleModule({
    types: MODULE_TYPES,
    importMemory: { module: 'h', name: 'mem', minPages: 0 },
    importTable: { module: 'h', name: 'table', min: 0 },
    importFuncs: MODULE_IMPORTS,
    funcs,
    // Named by function index: an install may skip some of the pages.
    exports: pages.map((p) => ({ name: `f${p.fn}`, func: p.fn })),
  });
  return { bytes, pages };
}

/** Emits the three high-multiply helpers (function indices FN_MULHU, FN_MULH, FN_MULHSU). */
export function mulHelpers(): { mulhu: Code; mulh: Code; mulhsu: Code } {
  // mulhu(a, b): 64x64 -> high 64 bits, from 32-bit halves. Locals: 2 a0, 3 a1, 4 b0, 5 b1, 6 p00,
  // 7 p01, 8 p10.
  const u = new Code();
  const M32 = 0xffff_ffff;
  u.get(0); u.i64(M32); u.op(W.I64And); u.set(2);
  u.get(0); u.i64(32); u.op(W.I64ShrU); u.set(3);
  u.get(1); u.i64(M32); u.op(W.I64And); u.set(4);
  u.get(1); u.i64(32); u.op(W.I64ShrU); u.set(5);
  u.get(2); u.get(4); u.op(W.I64Mul); u.set(6);
  u.get(2); u.get(5); u.op(W.I64Mul); u.set(7);
  u.get(3); u.get(4); u.op(W.I64Mul); u.set(8);
  // hi = a1*b1 + (p01 >> 32) + (p10 >> 32) + (((p00 >> 32) + (p01 & M) + (p10 & M)) >> 32)
  u.get(3); u.get(5); u.op(W.I64Mul);
  u.get(7); u.i64(32); u.op(W.I64ShrU); u.op(W.I64Add);
  u.get(8); u.i64(32); u.op(W.I64ShrU); u.op(W.I64Add);
  u.get(6); u.i64(32); u.op(W.I64ShrU);
  u.get(7); u.i64(M32); u.op(W.I64And); u.op(W.I64Add);
  u.get(8); u.i64(M32); u.op(W.I64And); u.op(W.I64Add);
  u.i64(32); u.op(W.I64ShrU);
  u.op(W.I64Add);
  u.op(W.End);
  // mulh(a, b) = mulhu(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)
  const h = new Code();
  h.get(0); h.get(1); h.call(FN_MULHU);
  h.get(0); h.i64(63); h.op(W.I64ShrS); h.get(1); h.op(W.I64And); h.op(W.I64Sub);
  h.get(1); h.i64(63); h.op(W.I64ShrS); h.get(0); h.op(W.I64And); h.op(W.I64Sub);
  h.op(W.End);
  // mulhsu(a, b) = mulhu(a, b) - (a < 0 ? b : 0)
  const su = new Code();
  su.get(0); su.get(1); su.call(FN_MULHU);
  su.get(0); su.i64(63); su.op(W.I64ShrS); su.get(1); su.op(W.I64And); su.op(W.I64Sub);
  su.op(W.End);
  return { mulhu: u, mulh: h, mulhsu: su };
}
