/**
 * qcow2 host cluster management (qcow2.txt "Host cluster management"): the two-level refcount
 * structure (refcount table → refcount blocks → one entry of 2^refcount_order bits per host
 * cluster, orders 0..6), cluster allocation, new refcount blocks as the image grows, and moving the
 * refcount table to a larger place when it is full.
 *
 * Consistency rules (refcounts are never lazy, so the dirty bit is never needed):
 * - Increments happen in memory before anything references the cluster; dirty refcount blocks may
 *   be written at any time (a refcount that is too high is only a leak).
 * - A new refcount block is written before the table entry that points to it, with a sync between.
 * - A relocated table is written and synced before the header points to it.
 * - Decrements are the caller's business: it must apply them only after the references are gone
 *   durably (see Qcow2Image.flush).
 */

import { BlockError, type BlockFile } from './backend.js';
import { cacheEntry, MetaCache, type CacheEntry } from './meta-cache.js';
import { MAX_REFCOUNT_TABLE_BYTES, readU64, TABLE_RESERVED_LO, writeU64 } from './qcow2-format.js';

/** What the refcount manager needs from its image. */
export interface RefcountIo {
  readonly file: BlockFile;
  readonly name: string;
  /** The end of the file as the image knows it: on-disk structures must lie below it. */
  fileEnd(): number;
  /** Notes a write that ended at `end` (extends fileEnd, marks data as not yet synced). */
  wrote(end: number): void;
  /** Makes everything written so far durable. */
  sync(): Promise<void>;
  /** Points the header at a new refcount table, durably (one sector write, then sync). */
  setRefcountTable(offset: number, clusters: number): Promise<void>;
}

/** Table entries that failed validation (reported by check, refused by get). */
const INVALID = -1;
/** Refcount blocks kept in memory: each covers 2 GiB of file with 64 KiB clusters and 16-bit refcounts. */
const BLOCK_CACHE_ENTRIES = 64;
/** Largest single allocation, in bytes (bounds copy-on-write buffers; runs are split above it). */
const MAX_RUN_BYTES = 4 * 1024 * 1024;

export class Refcounts {
  readonly order: number;
  readonly maxRefcount: number;
  /** Entries per refcount block. */
  readonly blockEntries: number;
  /** Largest number of clusters allocate() hands out at once. */
  readonly maxRun: number;
  private readonly cs: number;
  private table: Float64Array;
  private tableOffset: number;
  private tableClusters: number;
  private readonly dirtyTable = new Set<number>();
  private readonly cache = new MetaCache(BLOCK_CACHE_ENTRIES);
  /** No cluster below this one is free (a scan start, not a promise that this one is free). */
  private freeHint = 1;
  /** Clusters allocation must not hand out (used by check's repair for clusters in use but unaccounted). */
  isReserved: ((cluster: number) => boolean) | undefined;

  private constructor(
    private readonly io: RefcountIo,
    clusterBits: number,
    order: number,
    tableOffset: number,
    tableClusters: number,
    table: Float64Array,
  ) {
    this.cs = 2 ** clusterBits;
    this.order = order;
    const bits = 2 ** order;
    this.maxRefcount = bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
    this.blockEntries = (this.cs * 8) / bits;
    this.maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / this.cs));
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    this.table = table;
  }

  /**
   * Reads the refcount table. With `strict`, an invalid entry (misaligned, reserved bits, past the
   * end of the file) is an error; otherwise it is recorded and reported by `invalidEntries`.
   */
  static async load(
    io: RefcountIo,
    clusterBits: number,
    order: number,
    tableOffset: number,
    tableClusters: number,
    strict: boolean,
  ): Promise<Refcounts> {
    const cs = 2 ** clusterBits;
    const raw = new Uint8Array(tableClusters * cs);
    const got = await io.file.read(tableOffset, raw);
    if (got < raw.length) throw new BlockError('ECORRUPT', `${io.name}: the refcount table is truncated; the image is corrupt`);
    const view = new DataView(raw.buffer);
    const n = raw.length / 8;
    const table = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const lo = view.getUint32(i * 8 + 4);
      const off = readU64(view, i * 8);
      if (off === 0) continue;
      const ok = off !== undefined && (lo & TABLE_RESERVED_LO) === 0 && off % cs === 0 && off + cs <= io.fileEnd();
      if (!ok) {
        if (strict) {
          throw new BlockError(
            'ECORRUPT',
            `${io.name}: refcount table entry ${i} is invalid (misaligned or past the end of the file); the image is corrupt`,
          );
        }
        table[i] = INVALID;
        continue;
      }
      table[i] = off;
    }
    return new Refcounts(io, clusterBits, order, tableOffset, tableClusters, table);
  }

  get tableEntries(): number {
    return this.table.length;
  }

  /** The refcount table's location: [offset, clusters]. */
  tableLocation(): [number, number] {
    return [this.tableOffset, this.tableClusters];
  }

  /** Host offset of refcount block `b`: 0 if none, -1 if the table entry is invalid. */
  blockOffset(b: number): number {
    return b < this.table.length ? this.table[b] : 0;
  }

  /** Indices of invalid refcount table entries. */
  invalidEntries(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.table.length; i++) if (this.table[i] === INVALID) out.push(i);
    return out;
  }

  /** The refcount of host cluster `cluster` (0 where no refcount block exists). */
  async get(cluster: number): Promise<number> {
    const b = Math.floor(cluster / this.blockEntries);
    if (b >= this.table.length || this.table[b] === 0) return 0;
    const block = await this.block(b);
    return this.readEntry(block, cluster - b * this.blockEntries);
  }

  /** Adds `delta` to the refcounts of clusters [start, start + n); their blocks must exist. */
  async adjustRange(start: number, n: number, delta: number): Promise<void> {
    const E = this.blockEntries;
    let c = start;
    const end = start + n;
    while (c < end) {
      const b = Math.floor(c / E);
      const stop = Math.min(end, (b + 1) * E);
      if (b >= this.table.length || this.table[b] === 0) {
        if (delta < 0) throw this.underflow(c);
        throw new BlockError('EIO', `${this.io.name}: internal error: no refcount block for cluster ${c}`);
      }
      const block = await this.block(b);
      const base = b * E;
      for (; c < stop; c++) {
        const v = this.readEntry(block, c - base) + delta;
        if (v < 0) throw this.underflow(c);
        if (v > this.maxRefcount) throw this.overflow(c);
        this.writeEntry(block, c - base, v);
      }
      this.cache.markDirty(block);
    }
  }

  /** Adds `delta` to the refcount of each cluster in `clusters` (repeats count repeatedly). */
  async adjustList(clusters: number[], delta: number): Promise<void> {
    clusters.sort((a, b) => a - b);
    const E = this.blockEntries;
    let i = 0;
    while (i < clusters.length) {
      const b = Math.floor(clusters[i] / E);
      if (b >= this.table.length || this.table[b] === 0) {
        if (delta < 0) throw this.underflow(clusters[i]);
        throw new BlockError('EIO', `${this.io.name}: internal error: no refcount block for cluster ${clusters[i]}`);
      }
      const block = await this.block(b);
      const base = b * E;
      for (; i < clusters.length && clusters[i] < base + E; i++) {
        const c = clusters[i];
        const v = this.readEntry(block, c - base) + delta;
        if (v < 0) throw this.underflow(c);
        if (v > this.maxRefcount) throw this.overflow(c);
        this.writeEntry(block, c - base, v);
        if (delta < 0 && v === 0 && c < this.freeHint) this.freeHint = c;
      }
      this.cache.markDirty(block);
    }
  }

  /** Sets one refcount (check's repair), creating its refcount block when needed. */
  async set(cluster: number, value: number): Promise<void> {
    if (value > this.maxRefcount) throw this.overflow(cluster);
    const b = Math.floor(cluster / this.blockEntries);
    if (b >= this.table.length) await this.growTable(b, cluster, cluster + 1);
    if (this.table[b] === 0) {
      if (value === 0) return;
      await this.createBlock(b, cluster, cluster + 1);
    }
    const block = await this.block(b);
    this.writeEntry(block, cluster - b * this.blockEntries, value);
    this.cache.markDirty(block);
    if (value === 0 && cluster < this.freeHint) this.freeHint = cluster;
  }

  /**
   * Allocates `n` contiguous free host clusters with refcount 1 and returns the first cluster index.
   * Refcount blocks missing for the range are created just before it (in the same free region), and
   * the refcount table is moved to a larger place when it cannot cover the range.
   */
  async allocate(n: number): Promise<number> {
    if (!(n >= 1)) throw new BlockError('EIO', `${this.io.name}: internal error: allocation of ${n} clusters`);
    const E = this.blockEntries;
    const cs = this.cs;
    for (let attempt = 0; attempt < 16; attempt++) {
      // Find a region of k new refcount blocks + n clusters where k covers the region's own needs.
      let k = 0;
      let s = 0;
      let settled = false;
      let grow = -1;
      for (let iter = 0; iter < 16 && !settled; iter++) {
        s = await this.findFree(k + n, 0, 0);
        let need = 0;
        const last = Math.floor((s + k + n - 1) / E);
        for (let b = Math.floor(s / E); b <= last; b++) {
          if (b >= this.table.length) {
            grow = b;
            break;
          }
          if (this.table[b] === 0) need++;
        }
        if (grow >= 0) break;
        settled = need === k;
        k = need;
      }
      if (grow >= 0) {
        await this.growTable(Math.floor((s + k + n + E) / E), s, s + k + n);
        continue;
      }
      if (!settled) break;
      let j = 0;
      const last = Math.floor((s + k + n - 1) / E);
      for (let b = Math.floor(s / E); b <= last; b++) {
        if (this.table[b] !== 0) continue;
        const at = s + j++;
        await this.insert(cacheEntry(at * cs, new Uint8Array(cs), true));
        this.table[b] = at * cs;
        this.dirtyTable.add(b);
      }
      await this.adjustRange(s, k + n, 1);
      if (this.freeHint === s) this.freeHint = s + k + n;
      return s + k;
    }
    throw new BlockError('EIO', `${this.io.name}: cluster allocation did not settle; the refcount structure may be corrupt`);
  }

  /**
   * Finds `n` contiguous clusters with refcount 0 (clusters without a refcount block count as free),
   * outside [exStart, exEnd), never cluster 0 (the header). Moves freeHint to the first free cluster
   * seen.
   */
  private async findFree(n: number, exStart: number, exEnd: number): Promise<number> {
    const E = this.blockEntries;
    let c = Math.max(1, this.freeHint);
    let runStart = c;
    let run = 0;
    let firstFree = -1;
    const reserved = this.isReserved;
    while (run < n) {
      const b = Math.floor(c / E);
      const block = b < this.table.length && this.table[b] !== 0 ? await this.block(b) : undefined;
      const base = b * E;
      const limit = base + E;
      for (; c < limit && run < n; c++) {
        let free = c < exStart || c >= exEnd;
        if (free && block !== undefined) free = this.readEntry(block, c - base) === 0;
        if (free && reserved !== undefined) free = !reserved(c);
        if (!free) {
          run = 0;
          continue;
        }
        if (firstFree < 0) firstFree = c;
        if (run === 0) runStart = c;
        run++;
      }
    }
    this.freeHint = firstFree;
    return runStart;
  }

  /** Creates refcount block `b` (inside the table) in a free cluster of its own range. */
  private async createBlock(b: number, exStart: number, exEnd: number): Promise<void> {
    const E = this.blockEntries;
    let x = -1;
    for (let c = Math.max(1, b * E); c < (b + 1) * E; c++) {
      if (c >= exStart && c < exEnd) continue;
      if (this.isReserved !== undefined && this.isReserved(c)) continue;
      x = c;
      break;
    }
    if (x < 0) throw new BlockError('EIO', `${this.io.name}: no room for refcount block ${b}`);
    const entry = cacheEntry(x * this.cs, new Uint8Array(this.cs), true);
    this.writeEntry(entry, x - b * E, 1); // the block's own refcount
    await this.insert(entry);
    this.table[b] = x * this.cs;
    this.dirtyTable.add(b);
  }

  /**
   * Moves the refcount table to a larger place so it covers block `needBlock`. The new table and any
   * refcount blocks needed to count its own clusters go to one free region outside [exStart, exEnd).
   */
  private async growTable(needBlock: number, exStart: number, exEnd: number): Promise<void> {
    const E = this.blockEntries;
    const cs = this.cs;
    const old = this.table;
    const missing = (b: number): boolean => b >= old.length || old[b] === 0;
    let entries = Math.max(needBlock + 1, old.length + (old.length >> 1) + 1);
    let k = 0;
    let t = 0;
    let tableClusters = 0;
    let settled = false;
    for (let iter = 0; iter < 32 && !settled; iter++) {
      tableClusters = Math.ceil((entries * 8) / cs);
      if (tableClusters * cs > MAX_REFCOUNT_TABLE_BYTES) {
        throw new BlockError('ENOSPC', `${this.io.name}: the image has reached the refcount table limit (8 MiB)`);
      }
      const size = k + tableClusters;
      t = await this.findFree(size, exStart, exEnd);
      let need = 0;
      let maxB = 0;
      for (let b = Math.floor(t / E); b <= Math.floor((t + size - 1) / E); b++) {
        if (missing(b)) need++;
        maxB = b;
      }
      settled = need === k && maxB < entries;
      k = need;
      if (maxB >= entries) entries = maxB + 1;
    }
    if (!settled) throw new BlockError('EIO', `${this.io.name}: could not place a new refcount table`);
    entries = (tableClusters * cs) / 8; // use the whole clusters
    const size = k + tableClusters;
    const table = new Float64Array(entries);
    table.set(old);
    let j = 0;
    for (let b = Math.floor(t / E); b <= Math.floor((t + size - 1) / E); b++) {
      if (!missing(b)) continue;
      const at = t + j++;
      const entry = cacheEntry(at * cs, new Uint8Array(cs), true);
      table[b] = at * cs;
      await this.insert(entry);
    }
    this.table = table;
    await this.adjustRange(t, size, 1);

    // Durably: blocks, then the table, then the header that points to it.
    await this.writeDirtyBlocks();
    const raw = new Uint8Array(tableClusters * cs);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < entries; i++) if (table[i] > 0) writeU64(view, i * 8, table[i]);
    const newOffset = (t + k) * cs;
    await this.io.file.write(newOffset, raw);
    this.io.wrote(newOffset + raw.length);
    await this.io.sync();
    const [oldOffset, oldClusters] = [this.tableOffset, this.tableClusters];
    await this.io.setRefcountTable(newOffset, tableClusters);
    this.tableOffset = newOffset;
    this.tableClusters = tableClusters;
    this.dirtyTable.clear();
    // Nothing points to the old table any more.
    await this.adjustRange(oldOffset / cs, oldClusters, -1);
    if (oldOffset / cs < this.freeHint) this.freeHint = oldOffset / cs;
  }

  hasDirty(): boolean {
    return this.cache.hasDirty() || this.dirtyTable.size > 0;
  }

  /**
   * Writes dirty refcount blocks, then (after a sync) new refcount table entries. A new block's
   * own refcount may live in another new block: an entry is written only once the entry of the
   * block that counts it is durable (so no subset of them that survives a crash points to an
   * uncounted cluster). No final sync.
   */
  async flush(): Promise<void> {
    await this.writeDirtyBlocks();
    if (this.dirtyTable.size === 0) return;
    await this.io.sync();
    const E = this.blockEntries;
    const entry = new Uint8Array(8);
    const view = new DataView(entry.buffer);
    let remaining = [...this.dirtyTable].sort((x, y) => x - y);
    while (remaining.length > 0) {
      const pending = new Set(remaining);
      const dependsOnPending = (b: number): boolean => {
        const counter = Math.floor(this.table[b] / this.cs / E);
        return counter !== b && pending.has(counter);
      };
      let ready = remaining.filter((b) => !dependsOnPending(b));
      if (ready.length === 0) ready = remaining; // a cycle cannot arise from our placement; write all
      for (const b of ready) {
        writeU64(view, 0, this.table[b]);
        await this.io.file.write(this.tableOffset + b * 8, entry);
        this.io.wrote(this.tableOffset + b * 8 + 8);
      }
      remaining = remaining.filter((b) => !ready.includes(b));
      if (remaining.length > 0) await this.io.sync();
    }
    this.dirtyTable.clear();
  }

  private async writeDirtyBlocks(): Promise<void> {
    for (const e of this.cache.dirtyEntries()) {
      await this.io.file.write(e.offset, e.data);
      this.io.wrote(e.offset + e.data.length);
      this.cache.markClean(e);
    }
  }

  /** Drops cached blocks (after an external change to the file). */
  invalidate(): void {
    this.cache.clear();
  }

  private async block(b: number): Promise<CacheEntry> {
    const off = this.table[b];
    if (off === INVALID) {
      throw new BlockError('ECORRUPT', `${this.io.name}: refcount table entry ${b} is invalid; the image is corrupt`);
    }
    const hit = this.cache.get(off);
    if (hit !== undefined) return hit;
    if (off + this.cs > this.io.fileEnd()) {
      throw new BlockError('ECORRUPT', `${this.io.name}: refcount block ${b} is past the end of the file; the image is corrupt`);
    }
    const data = new Uint8Array(this.cs);
    const got = await this.io.file.read(off, data);
    if (got < data.length) throw new BlockError('ECORRUPT', `${this.io.name}: refcount block ${b} is truncated; the image is corrupt`);
    // A concurrent load may have inserted it meanwhile (cannot happen under the image's lock, but be safe).
    const again = this.cache.get(off);
    if (again !== undefined) return again;
    const entry = cacheEntry(off, data, false);
    await this.insert(entry);
    return entry;
  }

  private async insert(entry: CacheEntry): Promise<void> {
    this.cache.insert(entry);
    if (!this.cache.trim()) {
      // Every cached block is dirty: writing refcount blocks early is always safe (see the top).
      await this.writeDirtyBlocks();
      this.cache.trim();
    }
  }

  /** Refcount entry `i` of a block (sub-byte orders pack from the least significant bit). */
  readEntry(block: CacheEntry, i: number): number {
    switch (this.order) {
      case 0:
        return (block.data[i >>> 3] >>> (i & 7)) & 1;
      case 1:
        return (block.data[i >>> 2] >>> ((i & 3) << 1)) & 3;
      case 2:
        return (block.data[i >>> 1] >>> ((i & 1) << 2)) & 15;
      case 3:
        return block.data[i];
      case 4:
        return block.view.getUint16(i * 2);
      case 5:
        return block.view.getUint32(i * 4);
      default: {
        const v = readU64(block.view, i * 8);
        return v === undefined ? Number.MAX_SAFE_INTEGER : v;
      }
    }
  }

  private writeEntry(block: CacheEntry, i: number, v: number): void {
    const d = block.data;
    switch (this.order) {
      case 0: {
        const s = i & 7;
        d[i >>> 3] = (d[i >>> 3] & ~(1 << s)) | (v << s);
        return;
      }
      case 1: {
        const s = (i & 3) << 1;
        d[i >>> 2] = (d[i >>> 2] & ~(3 << s)) | (v << s);
        return;
      }
      case 2: {
        const s = (i & 1) << 2;
        d[i >>> 1] = (d[i >>> 1] & ~(15 << s)) | (v << s);
        return;
      }
      case 3:
        d[i] = v;
        return;
      case 4:
        block.view.setUint16(i * 2, v);
        return;
      case 5:
        block.view.setUint32(i * 4, v);
        return;
      default:
        writeU64(block.view, i * 8, v);
    }
  }

  /** Refcounts of a whole block, for check: calls fn(cluster, refcount) for nonzero entries. */
  async forEachInBlock(b: number, fn: (cluster: number, refcount: number) => void): Promise<void> {
    const block = await this.block(b);
    const base = b * this.blockEntries;
    for (let i = 0; i < this.blockEntries; i++) {
      const v = this.readEntry(block, i);
      if (v !== 0) fn(base + i, v);
    }
  }

  private underflow(c: number): BlockError {
    return new BlockError('ECORRUPT', `${this.io.name}: refcount of cluster ${c} would drop below zero; the image is corrupt`);
  }

  private overflow(c: number): BlockError {
    return new BlockError(
      'EREFCOUNT',
      `${this.io.name}: refcount of cluster ${c} would exceed ${this.maxRefcount} (refcount_bits=${2 ** this.order})`,
    );
  }
}
