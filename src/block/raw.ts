/**
 * Raw disk images: the virtual disk is the file, byte for byte. The size is the file size; discard
 * and write-zeroes write zeroes (BlockFile has no portable hole punching).
 */

import { BlockError, type BlockFile } from './backend.js';
import type { BlockStatus, Image, ImageInfo } from './image.js';

/** Zeroes written by writeZeroes/discard, a chunk at a time (never written into). */
let zeroChunk: Uint8Array | undefined;
const ZERO_CHUNK_BYTES = 1024 * 1024;

export function zeroes(): Uint8Array {
  zeroChunk ??= new Uint8Array(ZERO_CHUNK_BYTES);
  return zeroChunk;
}

export class RawImage implements Image {
  readonly format = 'raw' as const;
  readonly backing = undefined;
  private closed = false;

  private constructor(
    readonly file: BlockFile,
    private virtualSize: number,
    readonly readOnly: boolean,
  ) {}

  static async open(file: BlockFile, options: { readOnly: boolean }): Promise<RawImage> {
    return new RawImage(file, await file.size(), options.readOnly);
  }

  get size(): number {
    return this.virtualSize;
  }

  info(): ImageInfo {
    return {
      format: 'raw',
      filename: this.file.name,
      virtualSize: this.virtualSize,
      clusterSize: undefined,
      backingFilename: undefined,
      backingFormat: undefined,
      fullBackingFilename: undefined,
      dirty: false,
      qcow2: undefined,
      snapshots: [],
    };
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    this.check(offset, buf.length, false);
    let done = 0;
    while (done < buf.length) {
      const n = await this.file.read(offset + done, buf.subarray(done));
      if (n <= 0) break;
      done += n;
    }
    // The file shrank under us: what is missing reads as zeroes.
    if (done < buf.length) buf.fill(0, done);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.length, true);
    await this.file.write(offset, data);
  }

  async flush(): Promise<void> {
    if (this.closed) throw closedError(this.file.name);
    if (!this.readOnly) await this.file.flush();
  }

  async discard(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length, true);
  }

  async writeZeroes(offset: number, length: number, _unmap: boolean): Promise<void> {
    this.check(offset, length, true);
    const z = zeroes();
    for (let done = 0; done < length; ) {
      const n = Math.min(z.length, length - done);
      await this.file.write(offset + done, z.subarray(0, n));
      done += n;
    }
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    this.check(offset, length, false);
    return { kind: 'data', length };
  }

  async resize(newSize: number, options?: { allowShrink?: boolean }): Promise<void> {
    if (this.closed) throw closedError(this.file.name);
    if (this.readOnly) throw readOnlyError(this.file.name);
    if (!Number.isSafeInteger(newSize) || newSize < 0) throw new BlockError('EINVAL', `invalid size ${newSize}`);
    if (newSize < this.virtualSize && options?.allowShrink !== true) {
      throw new BlockError('EINVAL', `${this.file.name}: shrinking would discard data; allow it explicitly (--shrink)`);
    }
    await this.file.truncate(newSize);
    await this.file.flush();
    this.virtualSize = newSize;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  private check(offset: number, length: number, write: boolean): void {
    if (this.closed) throw closedError(this.file.name);
    if (write && this.readOnly) throw readOnlyError(this.file.name);
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.virtualSize) {
      throw new BlockError('ERANGE', `${this.file.name}: I/O at ${offset}+${length} is outside the ${this.virtualSize}-byte disk`);
    }
  }
}

/** Creates a raw image of `size` bytes (sparse where the host allows) in the empty `file`. */
export async function createRaw(file: BlockFile, size: number): Promise<void> {
  if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('EINVAL', `invalid image size ${size}`);
  await file.truncate(size);
  await file.flush();
}

export function closedError(name: string): BlockError {
  return new BlockError('ECLOSED', `${name}: the image is closed`);
}

export function readOnlyError(name: string): BlockError {
  return new BlockError('EREADONLY', `${name}: the image is open read-only`);
}
