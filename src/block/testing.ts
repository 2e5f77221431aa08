/**
 * Test support for the block layer (no Node imports, so fakes can live beside the code):
 * a deterministic random generator, and CrashFile, an in-memory BlockFile that models what a host
 * crash (power loss) can leave behind.
 */

import type { BlockFile } from './backend.js';
import { MemoryBlockFile } from './memory-file.js';

/** xorshift32: deterministic and fast. */
export class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    const words = new Uint32Array(out.buffer, 0, n >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = this.next();
    for (let i = words.length * 4; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/**
 * A file whose writes become durable only at flush(). `crashImage()` returns what a power loss at
 * this instant could leave: the durable contents plus any subset of the writes since the last
 * flush, each 512-byte sector of each write kept or lost independently (torn and reordered writes).
 * `onOp` is called before every operation (tests take crash images at chosen points).
 */
export class CrashFile implements BlockFile {
  private durable: Uint8Array;
  private durableLength: number;
  private pending: { offset: number; data: Uint8Array }[] = [];
  private pendingTruncate: number | undefined;
  private readonly live: MemoryBlockFile;
  ops = 0;
  onOp: ((file: CrashFile) => void) | undefined;

  constructor(
    readonly name: string,
    initial: Uint8Array,
  ) {
    this.durable = initial.slice();
    this.durableLength = initial.length;
    this.live = new MemoryBlockFile(name, initial);
  }

  crashImage(rng: Rng): Uint8Array {
    let len = this.durableLength;
    if (this.pendingTruncate !== undefined && rng.int(2) === 0) len = this.pendingTruncate;
    let out = new Uint8Array(Math.max(len, this.durable.length));
    out.set(this.durable.subarray(0, Math.min(len, this.durableLength)));
    for (const w of this.pending) {
      for (let s = 0; s < w.data.length; s += 512) {
        if (rng.int(2) === 0) continue;
        const end = Math.min(w.data.length, s + 512);
        if (w.offset + end > out.length) {
          const bigger = new Uint8Array(w.offset + end);
          bigger.set(out);
          out = bigger;
        }
        out.set(w.data.subarray(s, end), w.offset + s);
        if (w.offset + end > len) len = w.offset + end;
      }
    }
    return out.slice(0, len);
  }

  private op(): void {
    this.ops++;
    this.onOp?.(this);
  }

  async size(): Promise<number> {
    this.op();
    return this.live.size();
  }
  async read(offset: number, buf: Uint8Array): Promise<number> {
    this.op();
    return this.live.read(offset, buf);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.op();
    this.pending.push({ offset, data: data.slice() });
    await this.live.write(offset, data);
  }
  async flush(): Promise<void> {
    this.op();
    this.durable = this.live.contents();
    this.durableLength = this.durable.length;
    this.pending = [];
    this.pendingTruncate = undefined;
  }
  async truncate(size: number): Promise<void> {
    this.op();
    this.pendingTruncate = size;
    await this.live.truncate(size);
  }
  async close(): Promise<void> {
    await this.live.close();
  }
}
