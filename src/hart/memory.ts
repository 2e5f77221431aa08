/**
 * Guest physical memory: RAM/ROM regions backed by one host arena, plus MMIO regions.
 *
 * All RAM and ROM regions live in a single buffer (the "arena") so a TLB entry can map a guest
 * page to one arena offset. The arena is the buffer of a WebAssembly.Memory, so code translated by
 * the JIT (src/jit) addresses guest RAM directly; the memory grows in place (`memory.grow`) as
 * regions are added, and every view is re-created after growth (the old buffer is detached).
 * Besides RAM and ROM the arena can hold reserved areas that no guest address maps to (a JIT-enabled
 * hart keeps its registers and TLB there, see `reserve`).
 * Per arena page (4 KiB) the memory keeps:
 *   - a dirty byte (set when a page may have been written; read and cleared by getDirtyLog),
 *   - flags saying that writes must take the slow path (the page holds decoded code, or a watched
 *     address such as the HTIF `tohost` word).
 * Decoded-instruction pages are kept here, not in a hart, so a store from any hart or device
 * invalidates them for every hart.
 *
 * Physical addresses are JS numbers (exact below 2^53; RISC-V physical addresses are at most 56 bits
 * and nothing is mapped above 2^53 here).
 */

import { Op } from './decode.js';
import { WASM_PAGE_SIZE, wasmApi, type WasmMemory } from './wasm-api.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** Page flag: the page has decoded instructions; writes must invalidate them. */
export const PAGE_CODE = 1;
/** Page flag: the page holds a write-watched address. */
export const PAGE_WATCH = 2;

/** The value of an MMIO access: low and high 32 bits (high used only by 8-byte accesses). */
export class MmioValue {
  lo = 0;
  hi = 0;
}

/** A memory-mapped device region. Offsets are relative to the region base. */
export interface MmioHandler {
  /** Reads `size` (1, 2, 4 or 8) bytes at `offset` into `value` (lo, and hi for size 8). */
  read(offset: number, size: number, value: MmioValue): void;
  /** Writes `size` bytes: `lo` holds the low 32 bits, `hi` the high 32 bits for size 8. */
  write(offset: number, size: number, lo: number, hi: number): void;
}

export interface RamRegion {
  readonly base: number;
  readonly size: number;
  readonly readonly: boolean;
  /** Offset of this region inside the arena (page aligned). */
  readonly arenaOffset: number;
}

export interface MmioRegion {
  readonly base: number;
  readonly size: number;
  readonly handler: MmioHandler;
}

/** A callback run after a guest or device write touches a watched range. */
export type WriteWatchCallback = (physAddr: number, size: number) => void;

interface WriteWatch {
  readonly base: number;
  readonly size: number;
  readonly callback: WriteWatchCallback;
}

/** Anything holding translations that must forget write permission for a page (a hart's TLB). */
export interface CodePageListener {
  onPageWriteProtect(arenaPage: number): void;
}

export class MemoryError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MemoryError';
    this.code = code;
  }
}

/** Largest arena: the WebAssembly memory is 32-bit, and views stay below 2^32 bytes. */
const MAX_ARENA = 0xffff_f000;

/**
 * An empty array that V8 holds as an array of objects from the start. A plain `[]` starts as an
 * array of small integers and changes kind at its first object: code optimised on one memory's
 * array (the warm-up's) is then deoptimised by another's that is still empty or all holes.
 */
function objectArray<T>(): T[] {
  const a: (T | undefined)[] = [undefined];
  a.length = 0;
  return a as T[];
}

export class PhysicalMemory {
  /** The WebAssembly memory whose buffer is the arena (JIT code imports it). */
  readonly wasmMemory: WasmMemory = new wasmApi.Memory({ initial: 0 });
  /** The arena: the memory's current buffer (a multiple of 64 KiB; `arenaSize` bytes are in use). */
  arena: ArrayBuffer = this.wasmMemory.buffer;
  /** Bytes of the arena in use by regions and reserved areas (page aligned). */
  arenaSize = 0;
  u8: Uint8Array = new Uint8Array(this.arena);
  u16: Uint16Array = new Uint16Array(this.arena);
  i32: Int32Array = new Int32Array(this.arena);
  /** One byte per arena page: nonzero when written since the last dirty-log read. */
  dirty: Uint8Array = new Uint8Array(0);
  /** One byte per arena page: PAGE_CODE | PAGE_WATCH. Nonzero means writes take the slow path. */
  pageFlags: Uint8Array = new Uint8Array(0);
  /** Decoded-instruction pages by arena page; owned by the hart's decoder. */
  decodedPages: (Int32Array | undefined)[] = objectArray();
  /** One byte per arena page: nonzero when the page belongs to a read-only region. */
  readonlyPages: Uint8Array = new Uint8Array(0);

  readonly ram: RamRegion[] = [];
  readonly mmio: MmioRegion[] = objectArray();
  private readonly watches: WriteWatch[] = [];
  private readonly listeners: CodePageListener[] = [];
  private readonly growListeners: (() => void)[] = [];
  private readonly codeDropListeners: ((arenaPage: number) => void)[] = [];
  /** Bumped whenever decoded code is invalidated, so a running hart notices. */
  codeGeneration = 0;

  /** Adds a RAM (or ROM, with readonly) region. Must not overlap another region. */
  addRam(base: number, size: number, options: { readonly?: boolean } = {}): RamRegion {
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
      throw new MemoryError('EINVAL', `RAM base ${hex(base)} must be a page-aligned address`);
    }
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
      throw new MemoryError('EINVAL', `RAM size ${size} must be a positive multiple of ${PAGE_SIZE}`);
    }
    this.checkOverlap(base, size);
    const arenaOffset = this.arenaSize;
    this.growArena(arenaOffset + size);
    if (options.readonly) this.readonlyPages.fill(1, arenaOffset >>> PAGE_SHIFT, this.arenaSize >>> PAGE_SHIFT);
    const region: RamRegion = { base, size, readonly: options.readonly === true, arenaOffset };
    this.ram.push(region);
    return region;
  }

  /**
   * Reserves `size` bytes (rounded up to whole pages) of the arena that no guest address maps to,
   * zero-filled; returns their arena offset. Views of them must be re-created after the arena
   * grows (see addGrowListener).
   */
  reserve(size: number): number {
    if (!Number.isSafeInteger(size) || size <= 0) throw new MemoryError('EINVAL', `bad reservation size ${size}`);
    const offset = this.arenaSize;
    this.growArena(offset + Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
    return offset;
  }

  /** Calls `listener` after the arena has grown (its buffer, and every view of it, was replaced). */
  addGrowListener(listener: () => void): void {
    this.growListeners.push(listener);
  }

  private growArena(total: number): void {
    if (total > MAX_ARENA) {
      throw new MemoryError('ENOMEM', `guest memory of ${total} bytes exceeds the 4 GiB arena limit`);
    }
    const have = this.wasmMemory.buffer.byteLength / WASM_PAGE_SIZE;
    const need = Math.ceil(total / WASM_PAGE_SIZE);
    if (need > have) {
      // With headroom (a sixteenth, within the limit): the reservations that follow guest RAM
      // (hart state, JIT tables) then need no grow of their own. Each grow of a large memory took
      // 2-3 ms and made V8 collect garbage for the "external memory" it reports; the headroom is
      // address space, not host memory, until used.
      const limit = Math.floor(MAX_ARENA / WASM_PAGE_SIZE);
      const target = Math.min(limit, need + (need >> 4));
      try {
        this.wasmMemory.grow(target - have);
      } catch {
        try {
          this.wasmMemory.grow(need - have);
        } catch {
          throw new MemoryError('ENOMEM', `cannot allocate ${total} bytes of guest memory`);
        }
      }
    }
    const buffer = this.wasmMemory.buffer;
    this.arena = buffer;
    this.arenaSize = total;
    this.u8 = new Uint8Array(buffer, 0, total);
    this.u16 = new Uint16Array(buffer, 0, total >>> 1);
    this.i32 = new Int32Array(buffer, 0, total >>> 2);
    const pages = total >>> PAGE_SHIFT;
    this.dirty = grow(this.dirty, pages);
    this.pageFlags = grow(this.pageFlags, pages);
    this.readonlyPages = grow(this.readonlyPages, pages);
    this.decodedPages.length = pages;
    const ls = this.growListeners;
    for (let i = 0; i < ls.length; i++) ls[i]();
  }

  addMmio(base: number, size: number, handler: MmioHandler): MmioRegion {
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new MemoryError('EINVAL', `bad MMIO region ${hex(base)}+${size}`);
    }
    this.checkOverlap(base, size);
    const region: MmioRegion = { base, size, handler };
    this.mmio.push(region);
    return region;
  }

  /** Registers a hart (or other translation cache) to be told when a page loses fast writes. */
  addListener(listener: CodePageListener): void {
    this.listeners.push(listener);
  }

  /** Calls `listener` whenever a page's decoded code is dropped (a JIT forgets its translation). */
  addCodeDropListener(listener: (arenaPage: number) => void): void {
    this.codeDropListeners.push(listener);
  }

  /** Calls `callback` after any write to [base, base+size). Writes there take the slow path. */
  addWriteWatch(base: number, size: number, callback: WriteWatchCallback): void {
    this.watches.push({ base, size, callback });
    for (let a = base - (base % PAGE_SIZE); a < base + size; a += PAGE_SIZE) {
      const off = this.arenaOffset(a);
      if (off >= 0) this.protectPage(off >>> PAGE_SHIFT, PAGE_WATCH);
    }
  }

  /** Guest physical address of an arena offset inside RAM/ROM (-1 for reserved areas). */
  physicalAddress(arenaOffset: number): number {
    const ram = this.ram;
    for (let i = 0; i < ram.length; i++) {
      const r = ram[i];
      const d = arenaOffset - r.arenaOffset;
      if (d >= 0 && d < r.size) return r.base + d;
    }
    return -1;
  }

  /** Arena offset of a guest physical address, or -1 when it is not RAM/ROM. */
  arenaOffset(physAddr: number): number {
    const ram = this.ram;
    for (let i = 0; i < ram.length; i++) {
      const r = ram[i];
      const d = physAddr - r.base;
      if (d >= 0 && d < r.size) return r.arenaOffset + d;
    }
    return -1;
  }

  /** The MMIO region holding a physical address, or undefined. */
  findMmio(physAddr: number): MmioRegion | undefined {
    const mmio = this.mmio;
    for (let i = 0; i < mmio.length; i++) {
      const r = mmio[i];
      const d = physAddr - r.base;
      if (d >= 0 && d < r.size) return r;
    }
    return undefined;
  }

  /** Marks a page as needing slow-path writes and tells every listener to drop write mappings. */
  protectPage(arenaPage: number, flag: number): void {
    if ((this.pageFlags[arenaPage] & flag) !== 0) return;
    this.pageFlags[arenaPage] |= flag;
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) ls[i].onPageWriteProtect(arenaPage);
  }

  /**
   * Called before a slow-path write to an arena page with flags set: drops decoded code.
   * Watch callbacks run after the write, from notifyWrite.
   */
  invalidateCode(arenaPage: number): void {
    if ((this.pageFlags[arenaPage] & PAGE_CODE) === 0) return;
    this.pageFlags[arenaPage] &= ~PAGE_CODE;
    this.decodedPages[arenaPage] = undefined;
    this.codeGeneration++;
    const ls = this.codeDropListeners;
    for (let i = 0; i < ls.length; i++) ls[i](arenaPage);
  }

  /**
   * Called before a slow-path write of `size` bytes at `offset` inside an arena page with flags
   * set: drops the page's decoded code only when the write overlaps a decoded instruction, so data
   * sharing a page with code (common in small programs and in kernels' data near text) does not
   * force code to be decoded, and translated, again.
   */
  invalidateCodeRange(arenaPage: number, offset: number, size: number): void {
    if ((this.pageFlags[arenaPage] & PAGE_CODE) === 0) return;
    const code = this.decodedPages[arenaPage];
    if (code === undefined) {
      this.invalidateCode(arenaPage);
      return;
    }
    // An instruction (2 or 4 bytes, at an even offset) overlaps [offset, offset + size) when it
    // starts at most 3 bytes before the range or inside it.
    const end = Math.min(offset + size, PAGE_SIZE);
    for (let s = Math.max(0, (offset - 3) & ~1); s < end; s += 2) {
      const k = s << 1; // slot index * 4
      if ((code[k] & 0xff) !== Op.Undecoded && s + (code[k + 3] >> 1) > offset) {
        this.invalidateCode(arenaPage);
        return;
      }
    }
  }

  /** Runs watch callbacks for a completed write at a physical address. */
  notifyWrite(physAddr: number, size: number): void {
    const ws = this.watches;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      if (physAddr < w.base + w.size && physAddr + size > w.base) w.callback(physAddr, size);
    }
  }

  /** Drops every decoded page (e.g. after loading a snapshot). */
  invalidateAllCode(): void {
    // (forEach: a machine's boot calls this once, before V8 has optimised anything, and a loop over
    // every arena page took 6 ms unoptimised; the built-in walks the array natively.)
    this.decodedPages.forEach((code, p) => {
      if (code !== undefined) this.invalidateCode(p);
    });
  }

  // ---- Host-side accessors (loaders, devices doing DMA, tests). Not for the hart's hot path. ----

  /** Copies bytes into guest RAM/ROM (ROM may be written by the host). Throws if not RAM. */
  writeBytes(physAddr: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const pa = physAddr + done;
      const off = this.arenaOffset(pa);
      if (off < 0) {
        throw new MemoryError('EFAULT', `guest address ${hex(pa)} is not RAM`);
      }
      const pageLeft = PAGE_SIZE - (off % PAGE_SIZE);
      const n = Math.min(pageLeft, data.length - done, this.ramLeft(pa));
      const page = off >>> PAGE_SHIFT;
      if (this.pageFlags[page] !== 0) this.invalidateCodeRange(page, off & (PAGE_SIZE - 1), n);
      this.u8.set(data.subarray(done, done + n), off);
      this.dirty[page] = 1;
      if ((this.pageFlags[page] & PAGE_WATCH) !== 0) this.notifyWrite(pa, n);
      done += n;
    }
  }

  /** Copies bytes out of guest RAM/ROM. Throws if any byte is not RAM. */
  readBytes(physAddr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const pa = physAddr + done;
      const off = this.arenaOffset(pa);
      if (off < 0) throw new MemoryError('EFAULT', `guest address ${hex(pa)} is not RAM`);
      const n = Math.min(PAGE_SIZE - (off % PAGE_SIZE), length - done, this.ramLeft(pa));
      out.set(this.u8.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  /** Reads a little-endian value of 1, 2, 4 or 8 bytes from RAM as a bigint (host-side helper). */
  readPhys(physAddr: number, size: number): bigint {
    const b = this.readBytes(physAddr, size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  }

  /** Writes a little-endian value of 1, 2, 4 or 8 bytes into RAM (host-side helper). */
  writePhys(physAddr: number, size: number, value: bigint): void {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    this.writeBytes(physAddr, b);
  }

  /** Returns and clears the dirty bytes of the pages of one RAM region (one entry per page). */
  getDirtyLog(region: RamRegion): Uint8Array {
    const first = region.arenaOffset >>> PAGE_SHIFT;
    const count = region.size >>> PAGE_SHIFT;
    const log = this.dirty.slice(first, first + count);
    this.dirty.fill(0, first, first + count);
    // Harts map pages writable only after marking them dirty; make them mark again.
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) {
      for (let p = 0; p < count; p++) if (log[p] !== 0) ls[i].onPageWriteProtect(first + p);
    }
    return log;
  }

  private ramLeft(physAddr: number): number {
    for (const r of this.ram) {
      const d = physAddr - r.base;
      if (d >= 0 && d < r.size) return r.size - d;
    }
    return 0;
  }

  private checkOverlap(base: number, size: number): void {
    for (const r of [...this.ram, ...this.mmio]) {
      if (base < r.base + r.size && base + size > r.base) {
        throw new MemoryError(
          'EEXIST',
          `region ${hex(base)}+${hex(size)} overlaps ${hex(r.base)}+${hex(r.size)}`,
        );
      }
    }
  }
}

/** A copy of `a` of `length` bytes (zeros after the old contents). */
export function grow(a: Uint8Array, length: number): Uint8Array {
  const b = new Uint8Array(length);
  b.set(a.subarray(0, Math.min(a.length, length)));
  return b;
}

export function hex(v: number): string {
  return '0x' + v.toString(16);
}
