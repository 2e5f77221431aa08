/**
 * qcow2 images, versions 2 and 3 (QEMU docs/interop/qcow2.txt): L1/L2 cluster mapping, zero and
 * compressed clusters, backing files, copy-on-write, refcounted allocation, internal snapshots
 * (read and preserved; not created).
 *
 * Concurrency: reads and in-place writes (clusters already allocated with refcount 1) take the
 * image lock shared and run in parallel; anything that changes metadata takes it exclusive.
 *
 * Crash safety (host crash or kill at any point: no write that a completed flush() covered is lost,
 * and the image stays consistent for `qemu-img check`, leaked clusters aside). Metadata is cached
 * and written back in this order, by flush() or when the cache must evict a dirty table:
 *   1. refcount blocks (new clusters already counted), then, after a sync, new refcount table entries;
 *   2. sync: guest data and refcounts are durable before anything references them;
 *   3. L2 tables; then, after a sync if both changed, the L1 entries that point to new L2 tables;
 *   4. sync; only now are clusters that lost their last reference given back (refcount decrements),
 *      so a cluster is never reused while an on-disk table may still point to it.
 * The dirty bit is never used (refcounts are always exact on disk, never lazy); an image that has it
 * set is refused for writing until repaired. An image marked corrupt is refused for writing.
 */

import { BlockError, type BlockFile } from './backend.js';
import { cacheEntry, MetaCache, type CacheEntry } from './meta-cache.js';
import { inflateRaw, InflateError } from './inflate.js';
import type { BlockStatus, Image, ImageInfo } from './image.js';
import {
  COMPAT_LAZY_REFCOUNTS,
  ENTRY_COMPRESSED_HI,
  ENTRY_COPIED_HI,
  ENTRY_OFFSET_HI,
  ENTRY_RESERVED_LO,
  featureList,
  INCOMPAT_CORRUPT,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  L1_RESERVED_HI,
  L2_RESERVED_HI,
  L2_ZERO_LO,
  encodeHeader,
  parseHeader,
  parseSnapshotTable,
  writeU64,
  type Qcow2Header,
  type SnapshotInfo,
} from './qcow2-format.js';
import { Refcounts, type RefcountIo } from './qcow2-refcount.js';
import { closedError, readOnlyError, zeroes } from './raw.js';
import { RwLock } from './rw-lock.js';

// Kinds of guest cluster, from its L2 entry.
export const UNALLOCATED = 0;
export const ZERO = 1;
export const DATA = 2;
export const COMPRESSED = 3;

/** L2 table cache size in bytes (each 64 KiB table maps 512 MiB of disk). */
const L2_CACHE_BYTES = 32 * 1024 * 1024;
const MIN_L2_CACHE_ENTRIES = 16;
/** Decompressed clusters kept, so sequential small reads through one compressed cluster inflate it once. */
const COMPRESSED_CACHE_ENTRIES = 8;
/** Largest snapshot table we read (bounds memory on absurd headers). */
const MAX_SNAPSHOT_TABLE_BYTES = 64 * 1024 * 1024;

export interface Qcow2OpenOptions {
  readOnly: boolean;
  /** Allow opening a dirty or corrupt-marked image writable (check -r); refcounts are then loaded leniently. */
  repair: boolean;
  /** Opens the backing image the header names; undefined means: do not open the backing chain. */
  openBacking: ((name: string, format: string | undefined) => Promise<Image>) | undefined;
}

/** One decoded L2 entry (filled in place by decode(); no allocation on the hot path). */
interface Decoded {
  kind: number;
  /** DATA/ZERO: host cluster offset (0 for a ZERO entry without preallocation); COMPRESSED: byte offset. */
  host: number;
  copied: boolean;
  /** COMPRESSED: bytes of compressed data from `host`. */
  csize: number;
}

export class Qcow2Image implements Image {
  readonly format = 'qcow2' as const;
  readonly header: Qcow2Header;
  readonly clusterSize: number;
  readonly clusterBits: number;
  /** Entries per L2 table. */
  readonly l2Entries: number;
  readonly snapshots: readonly SnapshotInfo[];
  /** Length of the snapshot table in bytes (for check). */
  snapshotTableBytes = 0;
  backing: Image | undefined;
  refcounts: Refcounts | undefined;

  private virtualSize: number;
  private l1: Uint8Array;
  private l1View: DataView;
  private l1DirtyLo = Infinity;
  private l1DirtyHi = -1;
  private readonly l2Cache: MetaCache;
  private readonly l2Loading = new Map<number, Promise<CacheEntry>>();
  private readonly compressedCache = new Map<number, Uint8Array>();
  private end: number;
  private unsynced = false;
  private pendingFrees: number[] = [];
  private scratch = new Uint8Array(0);
  private closed = false;
  private readonly lock = new RwLock();
  private readonly d: Decoded = { kind: 0, host: 0, copied: false, csize: 0 };
  private readonly io: RefcountIo;

  private constructor(
    readonly file: BlockFile,
    header: Qcow2Header,
    l1: Uint8Array,
    fileSize: number,
    readonly readOnly: boolean,
    snapshots: SnapshotInfo[],
  ) {
    this.header = header;
    this.clusterBits = header.clusterBits;
    this.clusterSize = 2 ** header.clusterBits;
    this.l2Entries = this.clusterSize / 8;
    this.virtualSize = header.size;
    this.l1 = l1;
    this.l1View = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
    this.end = fileSize;
    this.snapshots = snapshots;
    this.l2Cache = new MetaCache(Math.max(MIN_L2_CACHE_ENTRIES, Math.floor(L2_CACHE_BYTES / this.clusterSize)));
    this.io = {
      file,
      name: file.name,
      fileEnd: () => this.end,
      wrote: (end) => this.wrote(end),
      sync: () => this.sync(),
      setRefcountTable: async (offset, clusters) => {
        const b = new Uint8Array(12);
        const v = new DataView(b.buffer);
        writeU64(v, 0, offset);
        v.setUint32(8, clusters);
        await this.file.write(48, b);
        await this.sync();
        this.header.refcountTableOffset = offset;
        this.header.refcountTableClusters = clusters;
      },
    };
  }

  static async open(file: BlockFile, options: Qcow2OpenOptions): Promise<Qcow2Image> {
    const name = file.name;
    const fileSize = await file.size();
    const probe = new Uint8Array(Math.min(fileSize, 4096));
    await readFully(file, 0, probe);
    // parseHeader validates cluster_bits; read the whole first cluster when it is larger than the probe.
    let first = probe;
    if (probe.length >= 24) {
      const bits = new DataView(probe.buffer).getUint32(20);
      if (bits >= 9 && bits <= 21 && 2 ** bits > probe.length && fileSize > probe.length) {
        first = new Uint8Array(Math.min(fileSize, 2 ** bits));
        await readFully(file, 0, first);
      }
    }
    const header = parseHeader(name, first, fileSize);
    const writable = !options.readOnly;
    if (writable && !options.repair) {
      if (header.incompatibleFeatures & INCOMPAT_CORRUPT) {
        throw new BlockError(
          'ECORRUPT',
          `${name}: the image is marked corrupt; open it read-only, or repair it with 'tsvm img check -r all'`,
        );
      }
      if (header.incompatibleFeatures & INCOMPAT_DIRTY) {
        throw new BlockError(
          'EDIRTY',
          `${name}: the image was not closed cleanly (dirty bit set); run 'tsvm img check -r all ${name}' (or qemu-img check -r all) first`,
        );
      }
    }

    const l1 = new Uint8Array(header.l1Size * 8);
    await readFully(file, header.l1TableOffset, l1);

    let snapshots: SnapshotInfo[] = [];
    let snapshotTableBytes = 0;
    if (header.nbSnapshots > 0) ({ snapshots, bytes: snapshotTableBytes } = await readSnapshots(file, header, fileSize));

    const image = new Qcow2Image(file, header, l1, fileSize, options.readOnly, snapshots);
    image.snapshotTableBytes = snapshotTableBytes;
    if (writable) {
      image.refcounts = await Refcounts.load(
        image.io,
        header.clusterBits,
        header.refcountOrder,
        header.refcountTableOffset,
        header.refcountTableClusters,
        !options.repair,
      );
      if (!options.repair) await image.checkMetadataRefcounts();
      if (header.autoclearFeatures !== 0n) {
        // We do not maintain bitmaps (or other autoclear data): clear the bits before writing (spec).
        header.autoclearFeatures = 0n;
        const b = new Uint8Array(8);
        await file.write(88, b);
        await image.sync();
      }
    }
    if (header.backingFile !== undefined && options.openBacking !== undefined) {
      image.backing = await options.openBacking(header.backingFile, header.backingFormat);
    }
    return image;
  }

  get size(): number {
    return this.virtualSize;
  }

  /** Current end of the file as this image knows it. */
  get fileEnd(): number {
    return this.end;
  }

  info(): ImageInfo {
    const h = this.header;
    return {
      format: 'qcow2',
      filename: this.file.name,
      virtualSize: this.virtualSize,
      clusterSize: this.clusterSize,
      backingFilename: h.backingFile,
      backingFormat: h.backingFormat,
      fullBackingFilename: this.backing?.file.name,
      dirty: (h.incompatibleFeatures & INCOMPAT_DIRTY) !== 0n,
      qcow2: {
        compat: h.version === 2 ? '0.10' : '1.1',
        refcountBits: 2 ** h.refcountOrder,
        corrupt: (h.incompatibleFeatures & INCOMPAT_CORRUPT) !== 0n,
        lazyRefcounts: (h.compatibleFeatures & COMPAT_LAZY_REFCOUNTS) !== 0n,
        extendedL2: (h.incompatibleFeatures & INCOMPAT_EXTL2) !== 0n,
        compressionType: 'zlib',
        incompatibleFeatures: featureList(h, 0, h.incompatibleFeatures),
        compatibleFeatures: featureList(h, 1, h.compatibleFeatures),
        autoclearFeatures: featureList(h, 2, h.autoclearFeatures),
      },
      snapshots: this.snapshots,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  async read(offset: number, buf: Uint8Array): Promise<void> {
    this.checkRange(offset, buf.length);
    if (!this.lock.tryShared()) await this.lock.shared();
    try {
      await this.readLocked(offset, buf);
    } finally {
      this.lock.releaseShared();
    }
  }

  /** Reads guest bytes [offset, offset + buf.length); the caller holds the lock (either mode). */
  private async readLocked(offset: number, buf: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    const len = buf.length;
    let done = 0;
    while (done < len) {
      const pos = offset + done;
      const gc = Math.floor(pos / cs);
      const l1i = Math.floor(gc / this.l2Entries);
      const l2 = await this.l2ForRead(l1i);
      const idx = gc - l1i * this.l2Entries;
      const inCluster = pos - gc * cs;
      const n = this.mapRun(l2, idx, gc, inCluster, len - done);
      const d = this.d;
      const part = buf.subarray(done, done + n);
      switch (d.kind) {
        case DATA:
          await this.readHost(d.host + inCluster, part);
          break;
        case ZERO:
          part.fill(0);
          break;
        case UNALLOCATED:
          await this.readBacking(pos, part);
          break;
        default: {
          const cluster = await this.readCompressed(d.host, d.csize, gc);
          part.set(cluster.subarray(inCluster, inCluster + n));
        }
      }
      done += n;
    }
  }

  /**
   * Decodes the entry of guest cluster `gc` (index `idx` in table `l2`, null for an unallocated
   * table) into this.d and returns how many bytes from `inCluster` share its kind, up to `max`:
   * following clusters join while they have the same kind (and, for data, the same COPIED flag
   * and the next host cluster). Compressed clusters never join.
   */
  private mapRun(l2: CacheEntry | null, idx: number, gc: number, inCluster: number, max: number): number {
    const cs = this.clusterSize;
    const tableLeft = this.l2Entries - idx;
    if (l2 === null) {
      this.d.kind = UNALLOCATED;
      return Math.min(max, tableLeft * cs - inCluster);
    }
    const d = this.d;
    this.decode(l2.view, idx, gc);
    const kind = d.kind;
    const host = d.host;
    const copied = d.copied;
    const csize = d.csize;
    let bytes = cs - inCluster;
    if (kind !== COMPRESSED) {
      for (let k = 1; k < tableLeft && bytes < max; k++) {
        this.decode(l2.view, idx + k, gc + k);
        if (d.kind !== kind) break;
        if (kind === DATA && (d.host !== host + k * cs || d.copied !== copied)) break;
        bytes += cs;
      }
    }
    d.kind = kind;
    d.host = host;
    d.copied = copied;
    d.csize = csize;
    return Math.min(bytes, max);
  }

  /** Decodes L2 entry `idx` (of guest cluster `gc`) into this.d, validating it. */
  private decode(view: DataView, idx: number, gc: number): void {
    const hi = view.getUint32(idx * 8);
    const lo = view.getUint32(idx * 8 + 4);
    const d = this.d;
    d.copied = false;
    d.csize = 0;
    if (hi === 0 && lo === 0) {
      d.kind = UNALLOCATED;
      d.host = 0;
      return;
    }
    if (hi & ENTRY_COMPRESSED_HI) {
      if (hi & ENTRY_COPIED_HI) throw this.badEntry(gc, 'is compressed and has the COPIED flag');
      const offsetBits = 70 - this.clusterBits - 32; // offset bits held in hi (x - 32 in the spec)
      const offHi = hi & ((1 << offsetBits) - 1);
      if (offHi >= 0x200000) throw this.badEntry(gc, 'points past the end of the file');
      d.host = offHi * 0x100000000 + lo;
      const sectors = ((hi >>> offsetBits) & ((1 << (this.clusterBits - 8)) - 1)) + 1;
      d.csize = sectors * 512 - (d.host & 511);
      if (d.host >= this.end) throw this.badEntry(gc, 'points past the end of the file');
      d.kind = COMPRESSED;
      return;
    }
    if (hi & L2_RESERVED_HI || lo & ENTRY_RESERVED_LO) throw this.badEntry(gc, 'has reserved bits set');
    if (hi & 0x00e00000) throw this.badEntry(gc, 'points past the end of the file');
    const host = (hi & ENTRY_OFFSET_HI) * 0x100000000 + (lo - (lo & 0x1ff));
    d.host = host;
    d.copied = (hi & ENTRY_COPIED_HI) !== 0;
    if (host % this.clusterSize !== 0) throw this.badEntry(gc, `points to unaligned offset 0x${host.toString(16)}`);
    if (lo & L2_ZERO_LO) {
      if (this.header.version === 2) throw this.badEntry(gc, 'has the zero flag, which version 2 images lack');
      d.kind = ZERO;
      return;
    }
    if (host === 0) throw this.badEntry(gc, 'has the COPIED flag but no offset');
    if (host >= this.end) throw this.badEntry(gc, `points past the end of the file (0x${host.toString(16)})`);
    d.kind = DATA;
  }

  private badEntry(gc: number, what: string): BlockError {
    return new BlockError(
      'ECORRUPT',
      `${this.file.name}: the L2 entry for guest offset 0x${(gc * this.clusterSize).toString(16)} ${what}; the image is corrupt`,
    );
  }

  private async readHost(offset: number, buf: Uint8Array): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const n = await this.file.read(offset + done, buf.subarray(done));
      if (n <= 0) break;
      done += n;
    }
    // QEMU may leave the tail of the last data cluster unwritten (past the end of the file): zeroes.
    if (done < buf.length) buf.fill(0, done);
  }

  private async readBacking(pos: number, buf: Uint8Array): Promise<void> {
    const b = this.backing;
    if (b === undefined || pos >= b.size) {
      buf.fill(0);
      return;
    }
    const n = Math.min(buf.length, b.size - pos);
    await b.read(pos, n === buf.length ? buf : buf.subarray(0, n));
    if (n < buf.length) buf.fill(0, n);
  }

  private async readCompressed(coffset: number, csize: number, gc: number): Promise<Uint8Array> {
    const hit = this.compressedCache.get(coffset);
    if (hit !== undefined) return hit;
    const input = new Uint8Array(Math.min(csize, this.end - coffset));
    const got = await this.file.read(coffset, input);
    const out = new Uint8Array(this.clusterSize);
    let n: number;
    try {
      n = inflateRaw(input.subarray(0, got), out);
    } catch (e) {
      if (!(e instanceof InflateError)) throw e;
      throw this.badEntry(gc, `points to compressed data that does not decompress (${e.message})`);
    }
    if (n !== this.clusterSize) throw this.badEntry(gc, `points to compressed data of ${n} bytes, not a whole cluster`);
    if (this.compressedCache.size >= COMPRESSED_CACHE_ENTRIES) {
      const oldest = this.compressedCache.keys().next().value;
      if (oldest !== undefined) this.compressedCache.delete(oldest);
    }
    this.compressedCache.set(coffset, out);
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // L1 / L2 tables

  /** The L2 offset in L1 entry `l1i` (0 if none), validated. */
  private l1Entry(l1i: number): number {
    if (l1i >= this.header.l1Size) {
      throw new BlockError('ECORRUPT', `${this.file.name}: guest cluster beyond the L1 table; the image is corrupt`);
    }
    const hi = this.l1View.getUint32(l1i * 8);
    const lo = this.l1View.getUint32(l1i * 8 + 4);
    if (hi === 0 && lo === 0) return 0;
    const off = (hi & ENTRY_OFFSET_HI) * 0x100000000 + (lo - (lo & 0x1ff));
    if (hi & L1_RESERVED_HI || lo & 0x1ff || hi & 0x00e00000 || off % this.clusterSize !== 0 || off === 0) {
      throw new BlockError('ECORRUPT', `${this.file.name}: L1 entry ${l1i} is invalid; the image is corrupt`);
    }
    return off;
  }

  private l1Copied(l1i: number): boolean {
    return (this.l1View.getUint32(l1i * 8) & ENTRY_COPIED_HI) !== 0;
  }

  private setL1(l1i: number, offset: number): void {
    writeU64(this.l1View, l1i * 8, offset);
    if (offset !== 0) this.l1View.setUint32(l1i * 8, this.l1View.getUint32(l1i * 8) | ENTRY_COPIED_HI);
    if (l1i < this.l1DirtyLo) this.l1DirtyLo = l1i;
    if (l1i + 1 > this.l1DirtyHi) this.l1DirtyHi = l1i + 1;
  }

  private async l2ForRead(l1i: number): Promise<CacheEntry | null> {
    const off = this.l1Entry(l1i);
    if (off === 0) return null;
    return this.loadL2(off, false);
  }

  /** Loads the L2 table at `offset` (cached, deduplicated). `exclusive`: the caller holds the lock exclusive. */
  async loadL2(offset: number, exclusive: boolean): Promise<CacheEntry> {
    const hit = this.l2Cache.get(offset);
    if (hit !== undefined) return hit;
    let p = this.l2Loading.get(offset);
    if (p === undefined) {
      p = this.readTable(offset);
      this.l2Loading.set(offset, p);
      try {
        const e = await p;
        if (this.l2Cache.get(offset) === undefined) this.l2Cache.insert(e);
      } finally {
        this.l2Loading.delete(offset);
      }
    }
    const e = await p;
    await this.trimL2(exclusive);
    return this.l2Cache.get(offset) ?? e;
  }

  private async readTable(offset: number): Promise<CacheEntry> {
    if (offset + this.clusterSize > this.end) {
      throw new BlockError(
        'ECORRUPT',
        `${this.file.name}: L2 table at 0x${offset.toString(16)} is past the end of the file (truncated image?); the image is corrupt`,
      );
    }
    const data = new Uint8Array(this.clusterSize);
    await readFully(this.file, offset, data);
    return cacheEntry(offset, data, false);
  }

  private async trimL2(exclusive: boolean): Promise<void> {
    if (this.l2Cache.trim() || !exclusive) return;
    // Only dirty tables left: write metadata back (in the safe order), then drop clean ones.
    await this.flushLocked();
    this.l2Cache.trim();
  }

  /**
   * The L2 table of L1 entry `l1i`, ready to be changed: allocated if absent, copied if shared with
   * a snapshot. Caller holds the lock exclusive. The entry is pinned; the caller unpins it.
   */
  private async l2ForWrite(l1i: number): Promise<CacheEntry> {
    const rc = this.requireRefcounts();
    const off = this.l1Entry(l1i);
    if (off !== 0) this.checkTarget(off, this.clusterSize, 'an L2 table');
    let entry: CacheEntry;
    if (off === 0) {
      const c = await rc.allocate(1);
      entry = cacheEntry(c * this.clusterSize, new Uint8Array(this.clusterSize), true);
      this.l2Cache.insert(entry);
      this.setL1(l1i, entry.offset);
    } else if (!this.l1Copied(l1i)) {
      const refs = await rc.get(off / this.clusterSize);
      if (refs === 0) {
        throw new BlockError('ECORRUPT', `${this.file.name}: L2 table at 0x${off.toString(16)} has refcount 0; the image is corrupt`);
      }
      if (refs === 1) {
        this.setL1(l1i, off);
        entry = await this.loadL2(off, true);
      } else {
        // Shared with a snapshot: copy the table; the data clusters' counts are unchanged, because
        // the old table stays reachable (and counted) from the snapshot's L1 table.
        const old = await this.loadL2(off, true);
        old.pins++;
        let c: number;
        try {
          c = await rc.allocate(1);
        } finally {
          old.pins--;
        }
        entry = cacheEntry(c * this.clusterSize, old.data.slice(), true);
        this.l2Cache.insert(entry);
        this.setL1(l1i, entry.offset);
        this.pendingFrees.push(off / this.clusterSize);
      }
    } else {
      entry = await this.loadL2(off, true);
    }
    entry.pins++;
    try {
      await this.trimL2(true);
    } catch (e) {
      entry.pins--;
      throw e;
    }
    return entry;
  }

  private setL2(l2: CacheEntry, idx: number, hi: number, lo: number): void {
    l2.view.setUint32(idx * 8, hi);
    l2.view.setUint32(idx * 8 + 4, lo);
    this.l2Cache.markDirty(l2);
  }

  private setL2Data(l2: CacheEntry, idx: number, host: number): void {
    this.setL2(l2, idx, (Math.floor(host / 0x100000000) | ENTRY_COPIED_HI) >>> 0, host >>> 0);
  }

  /** Queues the host clusters of the entry just decoded into this.d for release after the next sync. */
  private releaseDecoded(): void {
    const d = this.d;
    if (d.kind === COMPRESSED) {
      const cs = this.clusterSize;
      const first = Math.floor(d.host / cs);
      const last = Math.floor((d.host + d.csize - 1) / cs);
      for (let c = first; c <= last; c++) this.pendingFrees.push(c);
    } else if ((d.kind === DATA || d.kind === ZERO) && d.host !== 0) {
      this.pendingFrees.push(d.host / this.clusterSize);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkWrite(offset, data.length);
    if (this.lock.tryShared()) {
      let done = false;
      try {
        done = await this.writeInPlace(offset, data);
      } finally {
        this.lock.releaseShared();
      }
      if (done) return;
    }
    await this.lock.exclusive();
    try {
      await this.writeLocked(offset, data);
    } finally {
      this.lock.releaseExclusive();
    }
  }

  /**
   * The fast path: if every cluster of the range is allocated with refcount 1 (COPIED), writes in
   * place under the shared lock and returns true; otherwise writes nothing and returns false.
   */
  private async writeInPlace(offset: number, data: Uint8Array): Promise<boolean> {
    const cs = this.clusterSize;
    const len = data.length;
    for (let pass = 0; pass < 2; pass++) {
      let done = 0;
      while (done < len) {
        const pos = offset + done;
        const gc = Math.floor(pos / cs);
        const l1i = Math.floor(gc / this.l2Entries);
        if (this.l1Entry(l1i) === 0 || !this.l1Copied(l1i)) return false;
        const l2 = await this.l2ForRead(l1i);
        const inCluster = pos - gc * cs;
        const n = this.mapRun(l2, gc - l1i * this.l2Entries, gc, inCluster, len - done);
        if (this.d.kind !== DATA || !this.d.copied) return false;
        if (pass === 0) this.checkTarget(this.d.host, inCluster + n, 'guest data');
        if (pass === 1) {
          const host = this.d.host + inCluster;
          await this.file.write(host, data.subarray(done, done + n));
          this.wrote(host + n);
        }
        done += n;
      }
    }
    return true;
  }

  /** Writes under the exclusive lock: in place where possible, allocating (with COW) elsewhere. */
  private async writeLocked(offset: number, data: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    const rc = this.requireRefcounts();
    const len = data.length;
    let done = 0;
    while (done < len) {
      const pos = offset + done;
      const gc = Math.floor(pos / cs);
      const l1i = Math.floor(gc / this.l2Entries);
      const idx = gc - l1i * this.l2Entries;
      const inCluster = pos - gc * cs;
      const l2 = await this.l2ForWrite(l1i);
      try {
        const n = this.mapRun(l2, idx, gc, inCluster, len - done);
        const d = this.d;
        if (d.kind === DATA) {
          let inPlace = d.copied;
          const host = d.host;
          let bytes = n;
          if (!inPlace) {
            const refs = await rc.get(host / cs);
            if (refs === 0) throw this.badEntry(gc, 'points to a cluster with refcount 0');
            inPlace = refs === 1;
            bytes = Math.min(n, cs - inCluster); // decide cluster by cluster
            if (inPlace) this.setL2Data(l2, idx, host);
          }
          if (inPlace) {
            this.checkTarget(host, inCluster + bytes, 'guest data');
            await this.file.write(host + inCluster, data.subarray(done, done + bytes));
            this.wrote(host + inCluster + bytes);
            done += bytes;
            continue;
          }
          // Shared with a snapshot: copy-on-write of this one cluster.
          done += await this.allocateAndWrite(l2, idx, gc, 1, pos, data, done);
          continue;
        }
        if (d.kind === ZERO && d.host !== 0 && d.copied) {
          // Preallocated zero cluster: fill it in place.
          done += await this.fillCluster(l2, idx, gc, d.host, pos, data, done);
          continue;
        }
        // Allocate: unallocated and plain zero clusters in runs; compressed ones one at a time.
        let count = 1;
        if (d.kind === UNALLOCATED || (d.kind === ZERO && d.host === 0)) {
          count = Math.min(Math.ceil((inCluster + n) / cs), rc.maxRun);
        }
        done += await this.allocateAndWrite(l2, idx, gc, count, pos, data, done);
      } finally {
        l2.pins--;
      }
    }
  }

  /**
   * Allocates `count` new host clusters for guest clusters gc.., writes the guest data at `pos`
   * into them (filling the rest of the first and last clusters with their current contents), then
   * points the L2 entries at them and queues the old clusters for release. Returns bytes of `data`
   * consumed.
   */
  private async allocateAndWrite(
    l2: CacheEntry,
    idx: number,
    gc: number,
    count: number,
    pos: number,
    data: Uint8Array,
    done: number,
  ): Promise<number> {
    const cs = this.clusterSize;
    const rc = this.requireRefcounts();
    const runStart = gc * cs;
    const runEnd = runStart + count * cs;
    const writeEnd = Math.min(pos + (data.length - done), runEnd);
    const bytes = writeEnd - pos;
    const first = await rc.allocate(count);
    const host = first * cs;
    if (pos === runStart && writeEnd === runEnd) {
      await this.file.write(host, data.subarray(done, done + bytes));
    } else {
      const buf = this.scratchBuffer(count * cs);
      if (pos > runStart) await this.readLocked(runStart, buf.subarray(0, pos - runStart));
      buf.set(data.subarray(done, done + bytes), pos - runStart);
      if (writeEnd < runEnd) await this.readLocked(writeEnd, buf.subarray(writeEnd - runStart, count * cs));
      await this.file.write(host, buf);
    }
    this.wrote(host + count * cs);
    for (let k = 0; k < count; k++) {
      this.decode(l2.view, idx + k, gc + k);
      this.releaseDecoded();
      this.setL2Data(l2, idx + k, host + k * cs);
    }
    return bytes;
  }

  /** Writes guest data into the preallocated zero cluster at `host` (zero-filling the rest). */
  private async fillCluster(
    l2: CacheEntry,
    idx: number,
    gc: number,
    host: number,
    pos: number,
    data: Uint8Array,
    done: number,
  ): Promise<number> {
    const cs = this.clusterSize;
    const inCluster = pos - gc * cs;
    const bytes = Math.min(cs - inCluster, data.length - done);
    this.checkTarget(host, cs, 'guest data');
    const buf = this.scratchBuffer(cs);
    buf.fill(0);
    buf.set(data.subarray(done, done + bytes), inCluster);
    await this.file.write(host, buf);
    this.wrote(host + cs);
    this.setL2Data(l2, idx, host);
    return bytes;
  }

  private scratchBuffer(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(n);
    return this.scratch.subarray(0, n);
  }

  // ---------------------------------------------------------------------------------------------
  // Discard and write-zeroes

  async discard(offset: number, length: number): Promise<void> {
    this.checkWrite(offset, length);
    await this.lock.exclusive();
    try {
      // Only whole clusters; partial ones keep their data (discard is a hint).
      const cs = this.clusterSize;
      const first = Math.ceil(offset / cs);
      const end = Math.floor((offset + length) / cs);
      if (end > first) await this.clearClusters(first, end - first, 'discard');
    } finally {
      this.lock.releaseExclusive();
    }
  }

  async writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    this.checkWrite(offset, length);
    await this.lock.exclusive();
    try {
      const cs = this.clusterSize;
      const end = offset + length;
      const first = Math.ceil(offset / cs);
      const last = Math.floor(end / cs);
      if (first >= last) {
        await this.writeZeroBytes(offset, length);
        return;
      }
      if (offset < first * cs) await this.writeZeroBytes(offset, first * cs - offset);
      await this.clearClusters(first, last - first, unmap ? 'zero-unmap' : 'zero');
      if (end > last * cs) await this.writeZeroBytes(last * cs, end - last * cs);
    } finally {
      this.lock.releaseExclusive();
    }
  }

  private async writeZeroBytes(offset: number, length: number): Promise<void> {
    const z = zeroes();
    for (let done = 0; done < length; ) {
      const n = Math.min(z.length, length - done);
      await this.writeLocked(offset + done, z.subarray(0, n));
      done += n;
    }
  }

  /**
   * Makes whole guest clusters [first, first + count) read as zeroes (or, for discard, as anything):
   * v3 uses the zero flag, v2 deallocates where no backing file shows through and writes zeroes
   * elsewhere. 'zero' keeps a cluster's allocation (preallocated zero), the others release it.
   */
  private async clearClusters(first: number, count: number, mode: 'discard' | 'zero' | 'zero-unmap'): Promise<void> {
    const cs = this.clusterSize;
    const v3 = this.header.version === 3;
    let gc = first;
    const end = first + count;
    while (gc < end) {
      const l1i = Math.floor(gc / this.l2Entries);
      const tableEnd = Math.min(end, (l1i + 1) * this.l2Entries);
      const backingCovers = this.backing !== undefined && gc * cs < this.backing.size;
      if (this.l1Entry(l1i) === 0 && !backingCovers) {
        gc = tableEnd; // all unallocated, no backing data: already reads as zeroes
        continue;
      }
      if (!v3) {
        await this.clearClustersV2(gc, tableEnd - gc, mode);
        gc = tableEnd;
        continue;
      }
      const l2 = await this.l2ForWrite(l1i);
      try {
        for (; gc < tableEnd; gc++) {
          const idx = gc - l1i * this.l2Entries;
          this.decode(l2.view, idx, gc);
          const d = this.d;
          const showsBacking = this.backing !== undefined && gc * cs < this.backing.size;
          if (mode === 'zero' && d.kind === DATA && d.copied) {
            // Keep the allocation: preallocated zero cluster.
            this.setL2(l2, idx, (Math.floor(d.host / 0x100000000) | ENTRY_COPIED_HI) >>> 0, ((d.host >>> 0) | L2_ZERO_LO) >>> 0);
            continue;
          }
          if (d.kind === UNALLOCATED && !showsBacking) continue;
          if (d.kind === ZERO && (d.host === 0 || mode === 'zero')) continue;
          this.releaseDecoded();
          // Without a backing file an unallocated cluster reads as zeroes, and costs nothing.
          if (showsBacking) this.setL2(l2, idx, 0, L2_ZERO_LO);
          else this.setL2(l2, idx, 0, 0);
        }
      } finally {
        l2.pins--;
      }
    }
  }

  private async clearClustersV2(first: number, count: number, mode: 'discard' | 'zero' | 'zero-unmap'): Promise<void> {
    const cs = this.clusterSize;
    const l1i = Math.floor(first / this.l2Entries);
    let zeroRun = 0; // clusters before gc that need zeroes written
    for (let gc = first; gc <= first + count; gc++) {
      let needZeroes = false;
      if (gc < first + count) {
        const showsBacking = this.backing !== undefined && gc * cs < this.backing.size;
        const l2 = this.l1Entry(l1i) === 0 ? null : await this.l2ForRead(l1i);
        if (l2 === null) this.d.kind = UNALLOCATED;
        else this.decode(l2.view, gc - l1i * this.l2Entries, gc);
        const kind = this.d.kind;
        if (showsBacking) {
          needZeroes = mode !== 'discard'; // discard is a hint: backing data may show through
        } else if (kind !== UNALLOCATED) {
          if (mode === 'zero' && kind === DATA && this.d.copied) {
            needZeroes = true; // keep the allocation
          } else {
            const w = await this.l2ForWrite(l1i);
            try {
              const idx = gc - l1i * this.l2Entries;
              this.decode(w.view, idx, gc);
              this.releaseDecoded();
              this.setL2(w, idx, 0, 0); // unallocated without a backing file reads as zeroes
            } finally {
              w.pins--;
            }
          }
        }
      }
      if (needZeroes) {
        zeroRun++;
      } else if (zeroRun > 0) {
        await this.writeZeroBytes((gc - zeroRun) * cs, zeroRun * cs);
        zeroRun = 0;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Flush, close

  async flush(): Promise<void> {
    if (this.closed) throw closedError(this.file.name);
    if (this.readOnly) return;
    await this.lock.exclusive();
    try {
      await this.flushLocked();
    } finally {
      this.lock.releaseExclusive();
    }
  }

  /** Writes all metadata back in the crash-safe order (see the top of this file). */
  private async flushLocked(): Promise<void> {
    if (this.readOnly) return;
    const rc = this.requireRefcounts();
    if (rc.hasDirty()) await rc.flush();
    if (this.unsynced) await this.sync();
    const l2Dirty = this.l2Cache.hasDirty();
    for (const e of this.l2Cache.dirtyEntries()) {
      await this.file.write(e.offset, e.data);
      this.wrote(e.offset + e.data.length);
      this.l2Cache.markClean(e);
    }
    if (this.l1DirtyHi > this.l1DirtyLo) {
      if (l2Dirty) await this.sync();
      const lo = this.l1DirtyLo * 8;
      const hi = this.l1DirtyHi * 8;
      this.l1DirtyLo = Infinity;
      this.l1DirtyHi = -1;
      await this.file.write(this.header.l1TableOffset + lo, this.l1.subarray(lo, hi));
      this.wrote(this.header.l1TableOffset + hi);
    }
    if (this.unsynced) await this.sync();
    if (this.pendingFrees.length > 0) {
      const frees = this.pendingFrees;
      this.pendingFrees = [];
      this.compressedCache.clear();
      await rc.adjustList(frees, -1);
      await rc.flush(); // not synced: if lost, the clusters only leak
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.lock.exclusive();
    try {
      if (!this.readOnly) await this.flushLocked();
      if (!this.readOnly && this.unsynced) await this.sync();
    } finally {
      this.closed = true;
      this.lock.releaseExclusive();
      const b = this.backing;
      this.backing = undefined;
      try {
        if (b !== undefined) await b.close();
      } finally {
        await this.file.close();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Status, resize, and operations for the image tool

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    this.checkRange(offset, length);
    if (length === 0) return { kind: 'data', length: 0 };
    if (!this.lock.tryShared()) await this.lock.shared();
    try {
      const cs = this.clusterSize;
      let done = 0;
      let kind = -1;
      while (done < length) {
        const pos = offset + done;
        const gc = Math.floor(pos / cs);
        const l1i = Math.floor(gc / this.l2Entries);
        const l2 = await this.l2ForRead(l1i);
        const n = this.mapRun(l2, gc - l1i * this.l2Entries, gc, pos - gc * cs, length - done);
        const k = this.d.kind === COMPRESSED ? DATA : this.d.kind;
        if (kind >= 0 && k !== kind) break;
        kind = k;
        done += n;
      }
      return { kind: kind === DATA ? 'data' : kind === ZERO ? 'zero' : 'unallocated', length: done };
    } finally {
      this.lock.releaseShared();
    }
  }

  /** Grows the virtual disk (moving the L1 table if it must grow). Shrinking is refused. */
  async resize(newSize: number): Promise<void> {
    if (this.closed) throw closedError(this.file.name);
    if (this.readOnly) throw readOnlyError(this.file.name);
    if (!Number.isSafeInteger(newSize) || newSize < 0 || newSize % 512 !== 0) {
      throw new BlockError('EINVAL', `${this.file.name}: the size must be a multiple of 512 bytes`);
    }
    if (newSize < this.virtualSize) {
      throw new BlockError('EUNSUPPORTED', `${this.file.name}: shrinking qcow2 images is not supported`);
    }
    await this.lock.exclusive();
    try {
      await this.flushLocked();
      const cs = this.clusterSize;
      const rc = this.requireRefcounts();
      const needL1 = Math.ceil(newSize / (cs * this.l2Entries));
      const h = this.header;
      const hdr = new Uint8Array(24); // size, crypt_method, l1_size, l1_table_offset: bytes 24..47
      const hv = new DataView(hdr.buffer);
      writeU64(hv, 0, newSize);
      hv.setUint32(8, h.cryptMethod);
      if (needL1 > h.l1Size) {
        if (needL1 * 8 > 32 * 1024 * 1024) throw new BlockError('EUNSUPPORTED', `${this.file.name}: ${newSize} bytes need an L1 table over 32 MiB`);
        const clusters = Math.ceil((needL1 * 8) / cs);
        const first = await rc.allocate(clusters);
        const l1 = new Uint8Array(needL1 * 8);
        l1.set(this.l1);
        await this.file.write(first * cs, l1);
        this.wrote(first * cs + l1.length);
        await rc.flush();
        await this.sync();
        hv.setUint32(12, needL1);
        writeU64(hv, 16, first * cs);
        await this.file.write(24, hdr);
        await this.sync();
        const oldOffset = h.l1TableOffset;
        const oldClusters = Math.ceil((h.l1Size * 8) / cs);
        h.l1Size = needL1;
        h.l1TableOffset = first * cs;
        this.l1 = l1;
        this.l1View = new DataView(l1.buffer);
        if (oldClusters > 0) await rc.adjustRange(oldOffset / cs, oldClusters, -1);
        await rc.flush();
      } else {
        hv.setUint32(12, h.l1Size);
        writeU64(hv, 16, h.l1TableOffset);
        await this.file.write(24, hdr);
        await this.sync();
      }
      h.size = newSize;
      this.virtualSize = newSize;
    } finally {
      this.lock.releaseExclusive();
    }
  }

  /**
   * Drops every cluster mapping (after commit): the image becomes empty, reading through to its
   * backing file.
   */
  async makeEmpty(): Promise<void> {
    if (this.readOnly) throw readOnlyError(this.file.name);
    await this.lock.exclusive();
    try {
      await this.flushLocked();
      const rc = this.requireRefcounts();
      const cs = this.clusterSize;
      for (let l1i = 0; l1i < this.header.l1Size; l1i++) {
        const off = this.l1Entry(l1i);
        if (off === 0) continue;
        const refs = await rc.get(off / cs);
        if (refs === 1) {
          const l2 = await this.loadL2(off, true);
          for (let idx = 0; idx < this.l2Entries; idx++) {
            this.decode(l2.view, idx, l1i * this.l2Entries + idx);
            this.releaseDecoded();
          }
          this.l2Cache.delete(off);
        }
        this.pendingFrees.push(off / cs);
        writeU64(this.l1View, l1i * 8, 0);
      }
      const frees = this.pendingFrees;
      this.pendingFrees = [];
      await this.file.write(this.header.l1TableOffset, this.l1);
      this.wrote(this.header.l1TableOffset + this.l1.length);
      await this.sync();
      this.l1DirtyLo = Infinity;
      this.l1DirtyHi = -1;
      this.compressedCache.clear();
      await rc.adjustList(frees, -1);
      await rc.flush();
      await this.sync();
    } finally {
      this.lock.releaseExclusive();
    }
  }

  /** Replaces the backing file reference in the header (rebase). `backing` becomes the open backing image. */
  async setBackingFile(name: string | undefined, format: string | undefined, backing: Image | undefined): Promise<void> {
    if (this.readOnly) throw readOnlyError(this.file.name);
    await this.lock.exclusive();
    try {
      await this.flushLocked();
      const h = this.header;
      const next: Qcow2Header = { ...h, backingFile: name, backingFormat: name === undefined ? undefined : format };
      const cluster = encodeHeader(next);
      // Only the header area changes: extensions and name live in the first cluster, which holds nothing else.
      await this.file.write(0, cluster);
      this.wrote(cluster.length);
      await this.sync();
      Object.assign(h, next);
      const old = this.backing;
      this.backing = backing;
      if (old !== undefined && old !== backing) await old.close();
    } finally {
      this.lock.releaseExclusive();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Accessors for check (qcow2-check.ts)

  /** The active L1 table bytes (read-only use). */
  l1Table(): Uint8Array {
    return this.l1;
  }

  /** Takes the lock exclusive around `fn` (check and repair). */
  async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    await this.lock.exclusive();
    try {
      return await fn();
    } finally {
      this.lock.releaseExclusive();
    }
  }

  /** Writes metadata back; caller holds the lock. */
  async flushMetadata(): Promise<void> {
    await this.flushLocked();
    if (this.unsynced) await this.sync();
  }

  /** Rewrites one active L2 entry (repair of COPIED flags); caller holds the lock. */
  async patchL2Entry(l2Offset: number, idx: number, hi: number, lo: number): Promise<void> {
    const l2 = await this.loadL2(l2Offset, true);
    this.setL2(l2, idx, hi, lo);
  }

  /** Rewrites one active L1 entry's COPIED flag (repair); caller holds the lock. */
  patchL1Copied(l1i: number, copied: boolean): void {
    const hi = this.l1View.getUint32(l1i * 8);
    this.l1View.setUint32(l1i * 8, copied ? (hi | ENTRY_COPIED_HI) >>> 0 : hi & ~ENTRY_COPIED_HI);
    if (l1i < this.l1DirtyLo) this.l1DirtyLo = l1i;
    if (l1i + 1 > this.l1DirtyHi) this.l1DirtyHi = l1i + 1;
  }

  /** Clears the dirty and corrupt bits in the header, durably (after a repair). */
  async clearDirtyAndCorrupt(): Promise<void> {
    const h = this.header;
    const mask = INCOMPAT_DIRTY | INCOMPAT_CORRUPT;
    if (h.version !== 3 || (h.incompatibleFeatures & mask) === 0n) return;
    h.incompatibleFeatures &= ~mask;
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, h.incompatibleFeatures);
    await this.file.write(72, b);
    await this.sync();
  }

  /** The image's refcounts (writable), or a lenient read-only copy loaded for check. */
  async loadRefcounts(): Promise<Refcounts> {
    if (this.refcounts !== undefined) return this.refcounts;
    const h = this.header;
    return Refcounts.load(this.io, h.clusterBits, h.refcountOrder, h.refcountTableOffset, h.refcountTableClusters, false);
  }

  /** Refreshes the known file size (check compares with the real file). */
  async refreshFileEnd(): Promise<number> {
    const s = await this.file.size();
    if (s > this.end) this.end = s;
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private requireRefcounts(): Refcounts {
    if (this.refcounts === undefined) throw readOnlyError(this.file.name);
    return this.refcounts;
  }

  private wrote(end: number): void {
    this.unsynced = true;
    if (end > this.end) this.end = end;
  }

  private async sync(): Promise<void> {
    this.unsynced = false;
    await this.file.flush();
  }

  /** On open for writing: the header, L1 and refcount table clusters must be counted, or writes could overwrite them. */
  private async checkMetadataRefcounts(): Promise<void> {
    const rc = this.requireRefcounts();
    const cs = this.clusterSize;
    const h = this.header;
    const ranges: [number, number, string][] = [
      [0, 1, 'the header'],
      [h.l1TableOffset / cs, Math.ceil((h.l1Size * 8) / cs), 'the L1 table'],
      [h.refcountTableOffset / cs, h.refcountTableClusters, 'the refcount table'],
    ];
    for (const [start, n, what] of ranges) {
      for (let c = start; c < start + n; c++) {
        if ((await rc.get(c)) === 0) {
          throw new BlockError(
            'ECORRUPT',
            `${this.file.name}: ${what} has refcount 0; repair the image with 'tsvm img check -r all' before writing`,
          );
        }
      }
    }
  }

  /**
   * Refuses a write of [offset, offset + length) that would land on the header, the L1 table or the
   * refcount table: only a corrupt (or crafted) image maps guest data or L2 tables there.
   */
  private checkTarget(offset: number, length: number, what: string): void {
    const h = this.header;
    const cs = this.clusterSize;
    const end = offset + length;
    const l1End = h.l1TableOffset + Math.max(1, Math.ceil((h.l1Size * 8) / cs)) * cs;
    const rtEnd = h.refcountTableOffset + h.refcountTableClusters * cs;
    if (offset < cs || (offset < l1End && end > h.l1TableOffset) || (offset < rtEnd && end > h.refcountTableOffset)) {
      throw new BlockError(
        'ECORRUPT',
        `${this.file.name}: ${what} at 0x${offset.toString(16)} overlaps the image's metadata; the image is corrupt (not written)`,
      );
    }
  }

  private checkRange(offset: number, length: number): void {
    if (this.closed) throw closedError(this.file.name);
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.virtualSize) {
      throw new BlockError('ERANGE', `${this.file.name}: I/O at ${offset}+${length} is outside the ${this.virtualSize}-byte disk`);
    }
  }

  private checkWrite(offset: number, length: number): void {
    this.checkRange(offset, length);
    if (this.readOnly) throw readOnlyError(this.file.name);
  }
}


async function readFully(file: BlockFile, offset: number, buf: Uint8Array): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(offset + done, buf.subarray(done));
    if (n <= 0) break;
    done += n;
  }
  if (done < buf.length) {
    throw new BlockError('ECORRUPT', `${file.name}: unexpected end of file at ${offset + done}; the image is truncated`);
  }
}

async function readSnapshots(file: BlockFile, h: Qcow2Header, fileSize: number): Promise<{ snapshots: SnapshotInfo[]; bytes: number }> {
  const cs = 2 ** h.clusterBits;
  let want = Math.min(64 * 1024, fileSize - h.snapshotsOffset);
  for (;;) {
    const buf = new Uint8Array(want);
    await readFully(file, h.snapshotsOffset, buf);
    try {
      return parseSnapshotTable(file.name, buf, h.nbSnapshots, cs, fileSize);
    } catch (e) {
      const more = Math.min(want * 4, MAX_SNAPSHOT_TABLE_BYTES, fileSize - h.snapshotsOffset);
      if (!(e instanceof BlockError) || !e.message.includes('truncated') || more <= want) throw e;
      want = more;
    }
  }
}
