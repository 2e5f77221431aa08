/**
 * A bounded LRU cache of metadata clusters (qcow2 L2 tables, refcount blocks), keyed by host
 * offset. Entries may be dirty (changed in memory, not yet written) and pinned (in use by an
 * operation that will change them, so they must not be evicted). The owner decides when to write
 * dirty entries back; eviction here only ever drops clean, unpinned entries.
 */

export interface CacheEntry {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly view: DataView;
  dirty: boolean;
  pins: number;
}

export function cacheEntry(offset: number, data: Uint8Array, dirty: boolean): CacheEntry {
  return { offset, data, view: new DataView(data.buffer, data.byteOffset, data.byteLength), dirty, pins: 0 };
}

export class MetaCache {
  private readonly map = new Map<number, CacheEntry>();
  private last: CacheEntry | undefined;
  private dirtyCount = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  /** Looks an entry up and marks it most recently used. */
  get(offset: number): CacheEntry | undefined {
    const last = this.last;
    if (last !== undefined && last.offset === offset) return last;
    const e = this.map.get(offset);
    if (e !== undefined) {
      // Re-insert to move to the back of the Map's insertion order (the LRU order).
      this.map.delete(offset);
      this.map.set(offset, e);
      this.last = e;
    }
    return e;
  }

  insert(e: CacheEntry): void {
    const old = this.map.get(e.offset);
    if (old !== undefined) {
      if (old.dirty) this.dirtyCount--;
      this.map.delete(e.offset);
    }
    this.map.set(e.offset, e);
    if (e.dirty) this.dirtyCount++;
    this.last = e;
  }

  markDirty(e: CacheEntry): void {
    if (!e.dirty) {
      e.dirty = true;
      this.dirtyCount++;
    }
  }

  markClean(e: CacheEntry): void {
    if (e.dirty) {
      e.dirty = false;
      this.dirtyCount--;
    }
  }

  hasDirty(): boolean {
    return this.dirtyCount > 0;
  }

  /** Dirty entries in ascending offset order (so writes go out sequentially). */
  dirtyEntries(): CacheEntry[] {
    const out: CacheEntry[] = [];
    if (this.dirtyCount === 0) return out;
    for (const e of this.map.values()) if (e.dirty) out.push(e);
    return out.sort((a, b) => a.offset - b.offset);
  }

  delete(offset: number): void {
    const e = this.map.get(offset);
    if (e === undefined) return;
    if (e.dirty) this.dirtyCount--;
    this.map.delete(offset);
    if (this.last === e) this.last = undefined;
  }

  /** Drops least recently used clean, unpinned entries while over capacity; true if now within it. */
  trim(): boolean {
    if (this.map.size <= this.capacity) return true;
    for (const e of this.map.values()) {
      if (this.map.size <= this.capacity) break;
      if (e.dirty || e.pins > 0) continue;
      this.map.delete(e.offset);
      if (this.last === e) this.last = undefined;
    }
    return this.map.size <= this.capacity;
  }

  clear(): void {
    this.map.clear();
    this.last = undefined;
    this.dirtyCount = 0;
  }

  values(): IterableIterator<CacheEntry> {
    return this.map.values();
  }
}
