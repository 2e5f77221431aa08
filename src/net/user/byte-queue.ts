/**
 * A FIFO of bytes kept as the chunks they arrived in: append at the tail, discard from the head,
 * copy any range out. Holds the TCP send buffer (bytes from the host not yet acknowledged by the
 * guest) without concatenating.
 */

export class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Index of the first live chunk and the bytes already consumed from it. */
  private head = 0;
  private headOffset = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  /** Appends `data` (kept by reference; the caller must not modify it afterwards). */
  push(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.size += data.length;
  }

  /** Drops the first `n` bytes (all of them when n >= length). */
  discard(n: number): void {
    let left = Math.min(n, this.size);
    this.size -= left;
    while (left > 0) {
      const c = this.chunks[this.head];
      const avail = c.length - this.headOffset;
      if (left < avail) {
        this.headOffset += left;
        break;
      }
      left -= avail;
      this.head++;
      this.headOffset = 0;
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 32 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** Copies `len` bytes starting `offset` bytes from the head into dst at dstOffset. */
  copyTo(offset: number, len: number, dst: Uint8Array, dstOffset: number): void {
    if (offset < 0 || len < 0 || offset + len > this.size) throw new RangeError(`ByteQueue.copyTo(${offset}, ${len}) outside ${this.size} bytes`);
    if (len === 0) return;
    let skip = offset + this.headOffset;
    let i = this.head;
    while (skip >= this.chunks[i].length) {
      skip -= this.chunks[i].length;
      i++;
    }
    let left = len;
    let out = dstOffset;
    while (left > 0) {
      const c = this.chunks[i];
      const n = Math.min(left, c.length - skip);
      dst.set(c.subarray(skip, skip + n), out);
      out += n;
      left -= n;
      skip = 0;
      i++;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.size = 0;
  }
}
