/**
 * The JIT engine of one hart: hotness per physical page, translation of hot pages (batched, many
 * pages per WebAssembly module), the cache of translated pages, and entry into translated code.
 *
 * The hart's run loop calls `enter` whenever it starts executing in a page. Until the page is hot
 * the engine declines (the interpreter runs and reports what it executed through
 * `noteInterpreted`); once the page has run `hotThreshold` instructions in the interpreter it is
 * translated, together with every other page that is at least a quarter as hot, into one module.
 * Every page function is placed in one shared function table and called through one exported
 * dispatcher, so the call from JS is the same (monomorphic) call whatever the page.
 *
 * A translation covers the code of the page that had run (see translate.ts). An entry into code it
 * does not cover is left to the interpreter, which counts what it runs there; when that is hot in
 * turn, the page is translated again. An entry inside a block makes the interpreter step to the
 * block's end.
 *
 * A translation is tied to the decoded page it was made from: when a store invalidates the
 * page's code, PhysicalMemory drops that decoded page, the interpreter makes a new one, and the
 * identity check in `enter` drops the translation too.
 */

import { DECODED_PAGE_WORDS, SLOTS_PER_PAGE } from '../hart/decode.js';
import type { PhysicalMemory } from '../hart/memory.js';
import { wasmApi, type WasmInstance, type WasmModule, type WasmTable } from '../hart/wasm-api.js';
import { HS_CUR_PAGE, HS_EXIT_KIND, HS_EXIT_PC, HS_IBASE, JitExit } from './layout.js';
import {
  MAP_BYTES, MAP_TABLE_INDEX, buildModule, type ModulePageRequest, type ModuleRequest,
} from './translate.js';
import { Code, T, assembleModule } from './wasm.js';

/** The hart's side of the JIT: callouts from translated code (see layout.ts JitCall). */
export interface JitHost {
  jitLoad(pcLo: number, pcHi: number, addrLo: number, addrHi: number, op: number): number;
  jitStore(pcLo: number, pcHi: number, addrLo: number, addrHi: number, size: number, valLo: number,
    valHi: number): number;
  jitSlow(pcLo: number, pcHi: number, w0: number, w1: number, w2: number, step: number, n: number): number;
}

export interface JitOptions {
  /**
   * Instructions a page runs in the interpreter before it is translated (default 200000). Lower
   * translates more of the code that runs only a while (a boot's), whose translation costs more
   * than interpreting it; a Linux boot to its prompt is fastest from about 150000 to 400000.
   */
  hotThreshold?: number;
  /** Most pages translated into one module (default 64). */
  maxPagesPerModule?: number;
  /**
   * Most pages translated at a time (default 1024); beyond, the oldest translations are dropped.
   * Each takes 4 KiB of the arena (its block map), reserved when the hart is made.
   */
  capacity?: number;
  /**
   * Most bytes of WebAssembly kept alive (default 16 MiB): past it, the oldest modules are
   * dropped whole (every page they hold), so the host memory translated code takes (its wasm and
   * the engine's machine code for it) stays bounded. Like QEMU's `-accel tcg,tb-size`.
   */
  codeCacheBytes?: number;
  /**
   * Also translate code of a page the interpreter has not run yet, as far as control flow
   * reaches (default false: only code that ran is translated; the rest exits to the interpreter).
   * Useful with hotThreshold 0, to translate everything at once (tests).
   */
  decodeAhead?: boolean;
  /**
   * Where modules compile (default 'sync'). 'sync': on the calling thread, before `enter` returns;
   * for callers that never yield to the event loop. 'background': WebAssembly.compile, on the
   * host's compiler threads, while the interpreter goes on running the pages; the translation is
   * installed when the module is ready (a later event-loop turn: the caller must yield now and
   * then), unless the page's code changed meanwhile. With a host that compiles lazily (V8's
   * default, --wasm-lazy-compilation), functions still compile on first call on this thread.
   */
  compile?: 'sync' | 'background';
  /**
   * Instructions translated code runs that end in a page (a loop's page, whichever page entered
   * it) before the page is translated again with its loads and stores inline (default 2000000).
   * A first translation calls one of its module's functions for each access: a fifth of the code
   * to compile, and most translated code runs only a while; inline accesses make hot loops about
   * a quarter faster.
   */
  inlineAfter?: number;
}

export interface JitStats {
  /** WebAssembly modules created. */
  modules: number;
  /** Pages translated (a page translated again counts again). */
  pages: number;
  /** Blocks and instructions translated. */
  blocks: number;
  instructions: number;
  /** Instructions retired by translated code. */
  executed: number;
  /** Translations dropped because their code was written. */
  invalidations: number;
  /** Pages translated again, to cover code that ran after their translation. */
  retranslations: number;
  /** Pages translated again with their loads and stores inline (see JitOptions.inlineAfter). */
  inlined: number;
  /** Translations dropped to make room (capacity or codeCacheBytes). */
  evictions: number;
  /** Bytes of WebAssembly in modules that still hold a live translation. */
  liveCodeBytes: number;
  /** Milliseconds this thread spent translating and compiling (background compiles not included). */
  compileMs: number;
  /** Background compiles whose translations were installed / dropped because code changed meanwhile. */
  backgroundInstalls: number;
  backgroundDiscards: number;
  /** Modules the host refused to compile (those pages stay interpreted), and the last reason. */
  compileErrors: number;
  lastError?: string;
}

/** The dispatcher: calls the translated page function at `index` of the shared table. */
type DispatchFn = (index: number, slot: number, baseLo: number, baseHi: number, n: number, dBase: number) => number;

/** A module of translations: alive while any of its pages' translations is. */
interface ModuleRecord {
  bytes: number;
  livePages: number;
}

/** A page's translation made into a module, before it is installed. */
interface MadePage {
  page: number;
  code: Int32Array;
  map: number;
  blockOf: Int16Array;
  covered: Uint8Array;
  /** Its page function's index in the module. */
  fn: number;
  inlineMemory: boolean;
}

interface Translated {
  /** Its function's index in the shared table. */
  index: number;
  /** The module holding it. */
  module: ModuleRecord;
  /** Its block map (translate.ts): index in the engine's pool. */
  map: number;
  code: Int32Array;
  blockOf: Int16Array;
  covered: Uint8Array;
  /** Jumps to instructions inside blocks, by slot, since this translation was made. */
  misses: Map<number, number> | undefined;
  /** Instructions interpreted in this page's code no block covers; at hotThreshold, translate again. */
  stale: number;
  /** Instructions translated code ran that ended in this page (counted until inlineAfter). */
  executed: number;
  /**
   * The page's code ran inlineAfter instructions translated: its translations (this one, or the
   * one asked for) have their loads and stores inline (translate.ts PageCodegen.inlineMemory).
   */
  hot: boolean;
}

/** The least `retranslateAt`, in instructions. */
const MIN_RETRANSLATE = 1000;

/** Jumps to one instruction inside a block before it becomes an entry point. */
const INNER_MISSES_TO_RETRANSLATE = 4;

const now = (): number => (globalThis as unknown as { performance?: { now(): number } }).performance?.now() ?? Date.now();

export class JitEngine {
  readonly stats: JitStats = {
    modules: 0, pages: 0, blocks: 0, instructions: 0, executed: 0, invalidations: 0, retranslations: 0, inlined: 0, evictions: 0, compileMs: 0,
    compileErrors: 0, liveCodeBytes: 0, backgroundInstalls: 0, backgroundDiscards: 0,
  };
  /** After `enter` returns -2: instructions to interpret one at a time before entering again. */
  steps = 0;
  /**
   * @internal Read by the hart's loop, with `pages` and `heat`: a page with no translation whose
   * heat is below this is one `enter` would return -1 for at once, and the loop does not call it
   * (a Linux boot visits a page a million times, mostly cold ones; V8 does not inline `enter`).
   */
  readonly hotThreshold: number;
  /**
   * @internal A quarter of hotThreshold: a page this hot joins the warm pages, translated with the
   * next hot page (noteInterpreted; the hart's loop counts a visit itself below it).
   */
  readonly warmThreshold: number;
  /**
   * Instructions interpreted in a translated page's uncovered code before it is translated again:
   * hotThreshold, but not below a floor - with a threshold of 0 every newly reached path made the
   * whole page translate again (a Linux boot took 22 s).
   */
  private readonly retranslateAt: number;
  private readonly inlineAfter: number;
  private readonly maxPages: number;
  private readonly codeCacheBytes: number;
  /** Modules with live translations, oldest first (eviction order for codeCacheBytes). */
  private readonly liveModules: ModuleRecord[] = [];
  private readonly decodeAhead: boolean;
  /**
   * Per arena page, its translation. Made holey-with-objects from the start (V8's HOLEY_ELEMENTS):
   * an empty array literal begins as small integers, and the hart loop, optimised during the
   * warm-up on an engine whose array had long become holey-with-objects, was deoptimised by the
   * first look into a new engine's array ("wrong map"). @internal Read by the hart's loop (see
   * hotThreshold).
   */
  readonly pages: (Translated | undefined)[];
  /** @internal Read by the hart's loop (see hotThreshold). */
  heat = new Float64Array(0);
  /** Pages at least a quarter hot and not translated: candidates to share a module. */
  private readonly warm = new Set<number>();
  /** Extra entry points per page (jump targets inside blocks), forgotten when its code changes. */
  private readonly hints = new Map<number, Set<number>>();
  /** The page of the current interpreter visit when it runs code its translation does not cover. */
  private uncoveredVisit = -1;
  private readonly background: boolean;
  /**
   * Background compiles: the batches in flight, and their pages (a page is in one batch at most,
   * and each holds one block map: `pending.size` maps are taken).
   */
  private readonly inFlight = new Set<MadePage[]>();
  private readonly pending = new Set<number>();
  private readonly capacity: number;
  /** Bumped by reset(): a background compile started before it installs nothing. */
  private epoch = 0;
  private ctl: Int32Array;
  private readonly imports: Record<string, unknown>;
  /**
   * Every translated page function sits in this table; JS calls them all through one exported
   * dispatcher (a monomorphic call, where calling each module's export would be megamorphic).
   */
  private readonly table: WasmTable;
  private readonly dispatch: DispatchFn;
  private readonly freeIndices: number[] = [];
  /** Arena offset of the block maps (MAP_BYTES each), and the free ones. */
  private readonly mapPool: number;
  private readonly freeMaps: number[] = [];
  /** Pages in the order they were translated (eviction order; may hold dropped pages). */
  private readonly fifo: number[] = [];
  /**
   * Arena offset of the chain array: per arena page (below chainPages), the arena offset of its
   * translation's block map, or 0 (read by translated code to enter another page, translate.ts
   * chainHelper); and its view.
   */
  private readonly chainBase: number;
  private readonly chainPages: number;
  private chain: Int32Array;

  constructor(host: JitHost, private readonly mem: PhysicalMemory, private readonly state: number,
    options: JitOptions = {}) {
    this.hotThreshold = Math.max(0, options.hotThreshold ?? 200_000);
    this.warmThreshold = this.hotThreshold / 4;
    this.pages = new Array<Translated | undefined>(mem.pageFlags.length).fill(undefined);
    this.retranslateAt = Math.max(this.hotThreshold, MIN_RETRANSLATE);
    this.inlineAfter = Math.max(0, options.inlineAfter ?? 2_000_000);
    const capacity = Math.max(2, Math.floor(options.capacity ?? 1024));
    this.capacity = capacity;
    this.background = options.compile === 'background';
    this.maxPages = Math.max(1, Math.min(options.maxPagesPerModule ?? 64, capacity >> 1));
    this.codeCacheBytes = Math.max(4096, options.codeCacheBytes ?? 16 * 1024 * 1024);
    // Reserved now: the arena must not grow while the hart runs (its loop holds views of it).
    this.chainPages = mem.arenaSize >>> 12;
    this.chainBase = mem.reserve(4 * this.chainPages);
    this.mapPool = mem.reserve(capacity * MAP_BYTES);
    this.chain = new Int32Array(mem.arena, this.chainBase, this.chainPages); // after the last reserve
    // Sized for every page now: growing it is for regions added later (an out-of-line path that
    // V8 compiles the hart's loop without, and leaves by deoptimising it when first taken).
    this.heat = new Float64Array(mem.pageFlags.length);
    for (let i = capacity - 1; i >= 0; i--) this.freeMaps.push(i);
    this.decodeAhead = options.decodeAhead === true;
    this.ctl = new Int32Array(mem.arena, state, 256);
    mem.addGrowListener(() => {
      this.ctl = new Int32Array(mem.arena, state, 256);
      this.chain = new Int32Array(mem.arena, this.chainBase, this.chainPages);
    });
    // Code written over: its translation goes at once, so no translated page chains into it.
    mem.addCodeDropListener((page) => {
      if (this.pages[page] === undefined) return;
      this.drop(page);
      this.hints.delete(page);
      this.stats.invalidations++;
    });
    this.imports = {
      mem: mem.wasmMemory,
      ld: (a: number, b: number, c: number, d: number, e: number) => host.jitLoad(a, b, c, d, e),
      st: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) =>
        host.jitStore(a, b, c, d, e, f, g),
      slow: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) =>
        host.jitSlow(a, b, c, d, e, f, g),
    };
    this.table = new wasmApi.Table({ element: 'anyfunc', initial: 0 });
    this.imports.table = this.table;
    const body = new Code();
    for (let i = 1; i <= 5; i++) body.get(i);
    body.get(0);
    body.callIndirect(0);
    body.op(0x0b);
    const bytes = assembleModule({
      types: [
        { params: [T.I32, T.I32, T.I32, T.I32, T.I32], results: [T.I32] },
        { params: [T.I32, T.I32, T.I32, T.I32, T.I32, T.I32], results: [T.I32] },
      ],
      importFuncs: [],
      importTable: { module: 'h', name: 'table', min: 0 },
      funcs: [{ type: 1, locals: [], body }],
      exports: [{ name: 'run', func: 0 }],
    });
    const run = new wasmApi.Instance(new wasmApi.Module(bytes), { h: { table: this.table } }).exports.run;
    if (typeof run !== 'function') throw new Error('JIT dispatcher lacks its export');
    this.dispatch = run as DispatchFn;
  }

  /**
   * Runs translated code for the page at `page` (arena page number, decoded page `code`) from
   * halfword `slot`, with budget `n`. Returns the budget left after it ran (the exit is then in
   * exitKind/exitPcLo/exitPcHi); -1 when there is no translation (interpret); -2 when the slot is
   * inside a block (interpret `steps` instructions one by one, then enter again); -3 when no block
   * covers the slot (interpret up to the next taken jump or branch, then enter again).
   */
  enter(code: Int32Array, page: number, baseLo: number, baseHi: number, slot: number, n: number,
    dBase: number, iBase: number): number {
    let t = this.pages[page];
    if (t === undefined) {
      const heat = page < this.heat.length ? this.heat[page] : 0;
      if (heat < this.hotThreshold || heat === -Infinity || this.pending.has(page)) return -1;
      t = this.translate(page, code, slot);
      if (t === undefined) return -1;
    } else if (t.code !== code) {
      this.drop(page);
      this.hints.delete(page);
      this.stats.invalidations++;
      return -1;
    } else if (t.stale > 0 && t.stale >= this.retranslateAt && !this.pending.has(page)) {
      // Code the translation did not cover got hot (the interpreter has decoded it meanwhile).
      // (A background compile leaves the old translation in use until the new one is ready.)
      this.stats.retranslations++;
      // (What translate() returns when it installs at once is this.pages[page] too; read here on
      // every path, so the warm-up's retranslations give this load its feedback.)
      this.translate(page, code, slot, t.hot);
      t = this.pages[page];
      if (t === undefined) return -1;
    }
    const block = t.blockOf[slot];
    if (block < 0) {
      if (t.covered[slot] !== 0) {
        // Inside a block (after a budget stop, or a return from a trap): step to its end.
        this.steps = stepsToLeader(t, slot);
        return -2;
      }
      // Code no block covers: the interpreter runs it up to its next taken jump, and counts it
      // (noteInterpreted).
      this.uncoveredVisit = page;
      return -3;
    }
    this.ctl[HS_IBASE >> 2] = iBase;
    const r = this.dispatch(t.index, block, baseLo, baseHi, n, dBase);
    this.stats.executed += n - r;
    // The page that ran last (control may have chained on from the entered page): a hot loop is
    // where translated code runs until its budget ends, whichever page it was entered from.
    const last = this.ctl[HS_CUR_PAGE >> 2];
    const lt = last === page ? t : this.pages[last];
    if (lt === undefined) return r;
    if (this.ctl[HS_EXIT_KIND >> 2] === JitExit.Miss) {
      // An in-page jump to an instruction that starts no block. Outside every block, the next
      // entry finds it uncovered; inside one, it becomes an entry point after a few times.
      const target = (this.ctl[HS_EXIT_PC >> 2] & 0xfff) >> 1;
      if (lt.covered[target] !== 0) this.noteInnerMiss(last, lt, target);
    }
    if (!lt.hot) {
      lt.executed += n - r;
      if (lt.executed >= this.inlineAfter && !this.pending.has(last) && this.mem.decodedPages[last] === lt.code) {
        // Its code keeps running: worth the larger translation that an optimising compile makes
        // fast. Asked once (a refused or discarded compile is not retried).
        this.stats.inlined++;
        lt.hot = true;
        this.translate(last, lt.code, -1, true);
      }
    }
    return r;
  }

  /** Background compiles are in flight (their translations install at a later event-loop turn). */
  get compiling(): boolean {
    return this.inFlight.size > 0;
  }

  /** Exit report of the last run of translated code. */
  get exitKind(): JitExit {
    return this.ctl[HS_EXIT_KIND >> 2];
  }
  get exitPcLo(): number {
    return this.ctl[HS_EXIT_PC >> 2];
  }
  get exitPcHi(): number {
    return this.ctl[(HS_EXIT_PC >> 2) + 1];
  }

  /** The interpreter ran `count` instructions in `page`. */
  noteInterpreted(page: number, count: number): void {
    const t = this.pages[page];
    if (t !== undefined) {
      if (this.uncoveredVisit === page) t.stale += count + 1;
      this.uncoveredVisit = -1;
      return;
    }
    this.ensureHeat(page);
    const before = this.heat[page];
    const h = (this.heat[page] = before + count + 1);
    // Warm from the visit that crosses warmThreshold (not a Set.add per visit after).
    const warm = this.warmThreshold;
    if (h >= warm && (before < warm || before === 0)) this.warm.add(page);
  }

  /** Drops every translation (e.g. after a state load). */
  reset(): void {
    this.epoch++;
    for (const batch of this.inFlight) for (const m of batch) this.freeMaps.push(m.map);
    this.inFlight.clear();
    this.pending.clear();
    for (let p = 0; p < this.pages.length; p++) this.drop(p);
    this.heat.fill(0);
    this.warm.clear();
    this.hints.clear();
  }

  /** A free block map, dropping the oldest translations (not in `keep`) when there is none. */
  private allocMap(keep: Set<number>): number {
    for (let tries = this.fifo.length; this.freeMaps.length === 0; tries--) {
      const victim = this.fifo.shift();
      if (victim === undefined || tries < 0) throw new Error('JIT block maps exhausted');
      if (this.pages[victim] !== undefined && !keep.has(victim)) {
        this.drop(victim);
        this.stats.evictions++;
      } else if (this.pages[victim] !== undefined) {
        this.fifo.push(victim);
      }
    }
    return this.freeMaps.pop() as number;
  }

  private ensureHeat(page: number): void {
    if (page < this.heat.length) return;
    const next = new Float64Array(Math.max(page + 1, this.mem.pageFlags.length));
    next.set(this.heat);
    this.heat = next;
  }

  private drop(page: number): void {
    const t = this.pages[page];
    if (t !== undefined) {
      this.table.set(t.index, null);
      this.freeIndices.push(t.index);
      this.freeMaps.push(t.map);
      if (page < this.chainPages) this.chain[page] = 0;
      const m = t.module;
      if (--m.livePages === 0) {
        this.stats.liveCodeBytes -= m.bytes;
        const i = this.liveModules.indexOf(m);
        if (i >= 0) this.liveModules.splice(i, 1);
      }
    }
    this.pages[page] = undefined;
    if (page < this.heat.length) this.heat[page] = 0;
  }

  /** Drops the oldest modules whole while live code exceeds codeCacheBytes (never `keep`). */
  private evictOldModules(keep: ModuleRecord): void {
    while (this.stats.liveCodeBytes > this.codeCacheBytes && this.liveModules.length > 1) {
      const victim = this.liveModules[0] === keep ? this.liveModules[1] : this.liveModules[0];
      for (let p = 0; p < this.pages.length && victim.livePages > 0; p++) {
        const t = this.pages[p];
        if (t !== undefined && t.module === victim) {
          this.drop(p);
          this.stats.evictions++;
        }
      }
    }
  }

  /** A jump to `slot` inside a block: after a few, it becomes an entry point. */
  private noteInnerMiss(page: number, t: Translated, slot: number): void {
    const misses = t.misses ?? (t.misses = new Map());
    const count = (misses.get(slot) ?? 0) + 1;
    misses.set(slot, count);
    if (count !== INNER_MISSES_TO_RETRANSLATE) return;
    let hints = this.hints.get(page);
    if (hints === undefined) this.hints.set(page, (hints = new Set()));
    hints.add(slot);
    t.stale = Math.max(t.stale, this.retranslateAt);
  }

  /**
   * Translates `page` (entered at `slot`) and the warm pages into one module. Returns the page's
   * new translation, or undefined when there is none yet (nothing to translate, the host refused
   * the module, or it compiles in the background).
   */
  private translate(page: number, code: Int32Array, slot: number, inlineMemory = false): Translated | undefined {
    // Background compiles hold block maps until they install: at most half of them at a time.
    if (this.background && this.pending.size >= this.capacity >> 1) return undefined;
    const t0 = now();
    const mem = this.mem;
    const list = [page];
    // An inline translation is for this hot page alone: its warm neighbours get the compact kind.
    for (const p of this.warm) {
      if (inlineMemory || list.length >= this.maxPages) break;
      if (p !== page && this.pages[p] === undefined && !this.pending.has(p) && mem.decodedPages[p] !== undefined) list.push(p);
    }
    const requests: ModulePageRequest[] = [];
    const maps: number[] = [];
    const batch = new Set(list);
    for (const p of list) {
      const c = p === page ? code : mem.decodedPages[p];
      if (c === undefined || c.length !== DECODED_PAGE_WORDS) continue;
      // (Built by push, so it is the same kind of array whether or not the page has hints: a
      // spread of a Set made another, and findBlocks' loop over them was deoptimised by the one
      // it had not seen.)
      const hints: number[] = [];
      for (const h of this.hints.get(p) ?? []) hints.push(h);
      if (p === page && slot >= 0) hints.push(slot);
      // A synchronous retranslation replaces the old one at once and takes over its block map; a
      // background one needs its own (the old translation runs until the new one is installed).
      const old = this.pages[p];
      const map = old !== undefined && !this.background ? old.map : this.allocMap(batch);
      requests.push({ page: p, code: c, hints, blockMap: this.mapPool + map * MAP_BYTES });
      maps.push(map);
    }
    for (const p of list) this.warm.delete(p);
    const req: ModuleRequest = {
      state: this.state, chainBase: this.chainBase, chainPages: this.chainPages, decodeAhead: this.decodeAhead,
      inlineMemory, pages: requests,
    };
    const result = buildModule(req, mem.u16);
    const translated = new Map(result.pages.map((r) => [r.page, r]));
    const live: MadePage[] = [];
    for (let i = 0; i < requests.length; i++) {
      const { page: p, code: c } = requests[i];
      const map = maps[i];
      const r = translated.get(p);
      if (r === undefined) { // no block: nothing to run there yet
        const old = this.pages[p];
        if (old === undefined || old.map !== map) this.freeMaps.push(map);
        continue;
      }
      live.push({ page: p, code: c, map, blockOf: r.blockOf, covered: r.covered, fn: r.fn, inlineMemory });
      this.stats.blocks += r.blocks;
      this.stats.instructions += r.instructions;
    }
    if (live.length === 0) {
      this.heat[page] = 0;
      return undefined;
    }
    const bytes = result.bytes;
    if (this.background) {
      const epoch = this.epoch;
      for (const m of live) this.pending.add(m.page);
      this.inFlight.add(live);
      this.stats.compileMs += now() - t0;
      wasmApi.compile(bytes).then(
        (module) => this.installCompiled(epoch, live, module, bytes.length),
        (e: unknown) => {
          if (this.finishInFlight(epoch, live)) this.refused(live, e);
        });
      return undefined;
    }
    let instance: WasmInstance;
    try {
      instance = new wasmApi.Instance(new wasmApi.Module(bytes), { h: this.imports });
    } catch (e) {
      // E.g. a browser's main thread refuses to compile large modules synchronously: those
      // pages stay with the interpreter (never a broken run).
      this.refused(live, e);
      return undefined;
    }
    this.install(instance, live, bytes.length);
    this.stats.compileMs += now() - t0;
    return this.pages[page];
  }

  /** A background compile is over: false if a reset() came since (which took its maps back). */
  private finishInFlight(epoch: number, made: MadePage[]): boolean {
    if (epoch !== this.epoch) return false;
    this.inFlight.delete(made);
    for (const m of made) this.pending.delete(m.page);
    return true;
  }

  /**
   * A background compile is ready: installs the translations of pages whose code is still what
   * was translated; a page written meanwhile has a new decoded page (or none), and its
   * translation is dropped unseen, so no other page ever chains into stale code.
   */
  private installCompiled(epoch: number, made: MadePage[], module: WasmModule, bytes: number): void {
    if (!this.finishInFlight(epoch, made)) return;
    const t0 = now();
    const live: MadePage[] = [];
    for (const m of made) {
      if (this.mem.decodedPages[m.page] === m.code) {
        live.push(m);
      } else {
        this.freeMaps.push(m.map);
        this.stats.backgroundDiscards++;
        if (m.page < this.heat.length) this.heat[m.page] = 0;
      }
    }
    if (live.length === 0) return;
    let instance: WasmInstance;
    try {
      instance = new wasmApi.Instance(module, { h: this.imports });
    } catch (e) {
      this.refused(live, e);
      return;
    }
    this.install(instance, live, bytes);
    this.stats.backgroundInstalls++;
    this.stats.compileMs += now() - t0;
  }

  /** The host refused a module: its pages stay with the interpreter from now on. */
  private refused(made: MadePage[], e: unknown): void {
    this.stats.compileErrors++;
    this.stats.lastError = e instanceof Error ? e.message : String(e);
    for (const m of made) {
      const old = this.pages[m.page];
      if (old === undefined || old.map !== m.map) this.freeMaps.push(m.map);
      this.drop(m.page);
      this.ensureHeat(m.page);
      this.heat[m.page] = -Infinity;
    }
  }

  /** Puts the page functions of `instance` in the table and their block maps in the arena. */
  private install(instance: WasmInstance, made: MadePage[], bytes: number): void {
    const mem = this.mem;
    const record: ModuleRecord = { bytes, livePages: 0 };
    for (const m of made) {
      const fn = instance.exports[`f${m.fn}`];
      if (typeof fn !== 'function') throw new Error(`JIT module lacks export f${m.fn}`);
      let old = this.pages[m.page];
      const wasTranslated = old !== undefined;
      if (old !== undefined && old.map !== m.map) {
        // (Background compile: the old translation keeps its own map and table slot; drop both.)
        this.drop(m.page);
        old = undefined;
      }
      if (old !== undefined && --old.module.livePages === 0) {
        this.stats.liveCodeBytes -= old.module.bytes;
        const k = this.liveModules.indexOf(old.module);
        if (k >= 0) this.liveModules.splice(k, 1);
      }
      record.livePages++;
      let index: number;
      if (old !== undefined) index = old.index;
      else if (this.freeIndices.length > 0) index = this.freeIndices.pop() as number;
      else {
        index = this.table.length;
        this.table.grow(1);
      }
      this.table.set(index, fn);
      const mapOffset = this.mapPool + m.map * MAP_BYTES;
      new Int16Array(mem.arena, mapOffset, SLOTS_PER_PAGE).set(m.blockOf);
      new Int32Array(mem.arena, mapOffset + MAP_TABLE_INDEX, 1)[0] = index;
      if (m.page < this.chainPages) this.chain[m.page] = mapOffset;
      if (!wasTranslated) this.fifo.push(m.page);
      this.pages[m.page] = {
        index, module: record, map: m.map, code: m.code, blockOf: m.blockOf, covered: m.covered, misses: undefined, stale: 0,
        executed: 0, hot: m.inlineMemory,
      };
    }
    this.liveModules.push(record);
    this.stats.liveCodeBytes += record.bytes;
    this.evictOldModules(record);
    this.stats.modules++;
    this.stats.pages += made.length;
  }
}

/** Instructions from `slot` (inside a block) to the next block start, following fall-through. */
function stepsToLeader(t: Translated, slot: number): number {
  const code = t.code;
  let h = slot;
  let count = 0;
  while (h < SLOTS_PER_PAGE && t.blockOf[h] < 0 && count < 64) {
    const step = code[(h << 2) + 3] >> 2;
    if (step === 0) break; // not decoded: the interpreter decodes it
    h += step;
    count++;
  }
  return Math.max(1, count);
}
