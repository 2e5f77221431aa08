/**
 * An in-memory BlockFile: for tests, and for images held in memory (e.g. in a browser). It grows
 * on writes past the end, like a file; `flush` counts calls so tests can observe ordering.
 */

import { BlockError, type BlockFile } from './backend.js';

export class MemoryBlockFile implements BlockFile {
  private buf: Uint8Array;
  private length: number;
  private closed = false;
  /** Number of flush() calls. */
  flushes = 0;

  constructor(
    readonly name: string,
    initial?: Uint8Array,
  ) {
    this.buf = initial !== undefined ? initial.slice() : new Uint8Array(0);
    this.length = this.buf.length;
  }

  /** A copy of the current contents. */
  contents(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  async size(): Promise<number> {
    this.check();
    return this.length;
  }

  async read(offset: number, buf: Uint8Array): Promise<number> {
    this.check();
    if (offset >= this.length) return 0;
    const n = Math.min(buf.length, this.length - offset);
    buf.set(this.buf.subarray(offset, offset + n));
    return n;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check();
    const end = offset + data.length;
    if (end > this.buf.length) this.grow(end);
    this.buf.set(data, offset);
    if (end > this.length) this.length = end;
  }

  async flush(): Promise<void> {
    this.check();
    this.flushes++;
  }

  async truncate(size: number): Promise<void> {
    this.check();
    if (size > this.buf.length) this.grow(size);
    else this.buf.fill(0, size, this.length);
    this.length = size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private grow(end: number): void {
    const next = new Uint8Array(Math.max(end, Math.min(this.buf.length * 2, end + 64 * 1024 * 1024)));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  private check(): void {
    if (this.closed) throw new BlockError('ECLOSED', `${this.name}: the file is closed`);
  }
}
