/**
 * The state a JIT-enabled hart keeps in the arena (the WebAssembly memory), shared by the
 * interpreter (through typed-array views) and translated code (through loads and stores): integer
 * and FP registers, the software TLB, and the words translated code uses to report an exit.
 *
 * Offsets are bytes from the start of the hart's reserved area (PhysicalMemory.reserve).
 */

/**
 * Entries per TLB set (direct-mapped); four sets (U, S, S+SUM, M) per kind (read, write, execute).
 * Linux maps its image at a 2 MiB-aligned distance from the linear map: with 512 entries or fewer,
 * each image page and its linear-map alias share an entry and evict each other.
 */
export const JIT_TLB_SIZE = 1024;
export const JIT_TLB_ENTRIES = 4 * JIT_TLB_SIZE;

/** Integer registers: 66 int32 (x0..x31 as low/high pairs, then the x0 sink); x[i] is the i64 at 8*i. */
export const HS_X = 0;
/** FP registers: 64 int32 (raw bit pairs). */
export const HS_F = 512;
/** Exit report: the pc to continue at (i64). */
export const HS_EXIT_PC = 768;
/** Exit report: the kind of exit (i32, one of JitExit). */
export const HS_EXIT_KIND = 776;
/** Result of a slow-path load (i64, already extended as the load requires). */
export const HS_LOAD = 784;
/** The execute TLB set of the hart's current privilege (i32: entry index of its first entry). */
export const HS_IBASE = 792;
/** The arena page whose translation ran last (i32, written by each page's entry function). */
export const HS_CUR_PAGE = 796;
/**
 * Exit report of a load or store whose callout left its block: instructions of the block after
 * it (not retired: added back to the budget the block returns). Written by FN_MEM_EXIT.
 */
export const HS_EXIT_ADJ = 800;
/** TLB tags (f64 virtual page numbers, NaN = empty) and arena page offsets (i32) per kind. */
export const HS_TLB_RTAG = 1024;
export const HS_TLB_WTAG = HS_TLB_RTAG + 8 * JIT_TLB_ENTRIES;
export const HS_TLB_XTAG = HS_TLB_WTAG + 8 * JIT_TLB_ENTRIES;
export const HS_TLB_ROFF = HS_TLB_XTAG + 8 * JIT_TLB_ENTRIES;
export const HS_TLB_WOFF = HS_TLB_ROFF + 4 * JIT_TLB_ENTRIES;
export const HS_TLB_XOFF = HS_TLB_WOFF + 4 * JIT_TLB_ENTRIES;
export const HART_STATE_BYTES = HS_TLB_XOFF + 4 * JIT_TLB_ENTRIES;

/** How translated code left (written to HS_EXIT_KIND). */
export const enum JitExit {
  /** Continue at HS_EXIT_PC as usual: control left the page, or the hart must stop/refetch. */
  Leave = 0,
  /** Interpret exactly one instruction at HS_EXIT_PC (one translated code does not handle). */
  Step = 1,
  /** The remaining budget is smaller than the next block: interpret the rest at HS_EXIT_PC. */
  Budget = 2,
  /** The pc was set by the hart itself (a trap, an xRET, a CSR write): continue there. */
  PcSet = 3,
  /** Jumped (in the page) to an instruction that starts no translated block: like Step. */
  Miss = 4,
}

/** Results of the hart's callouts (slow-path loads and stores, out-of-line instructions). */
export const enum JitCall {
  /** Done: continue with the next instruction. */
  Ok = 0,
  /** The hart set the pc (trap taken, pc or mode changed): leave with JitExit.PcSet. */
  PcSet = 1,
  /** Done, but leave before the next instruction (code was invalidated, or the hart must stop). */
  Stop = 2,
}
