/**
 * Block layer interfaces. A `BlockBackend` is what a disk device (virtio-blk) talks to: a linear
 * array of bytes with asynchronous, sector-aligned I/O. Image formats (raw, qcow2 with backing
 * chains) implement it over a `BlockFile`, the host's file access, which is injected (Node files in
 * the CLI, other storage in a browser) so the formats stay free of Node imports.
 */

export const SECTOR_SIZE = 512;

export class BlockError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlockError';
    this.code = code;
  }
}

/** Host file access (positional I/O). Implementations: node-file.ts (Node), in-memory (tests). */
export interface BlockFile {
  readonly name: string;
  /**
   * What makes two BlockFiles the same file (e.g. device and inode), for the backing-chain loop
   * check. Optional: `name` is compared when absent.
   */
  readonly identity?: string;
  /** Current file size in bytes. */
  size(): Promise<number>;
  /** Reads up to buf.length bytes at `offset`; returns the count (short only at end of file). */
  read(offset: number, buf: Uint8Array): Promise<number>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes written data durable (fdatasync). */
  flush(): Promise<void>;
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A virtual disk as a device sees it. Offsets and lengths are multiples of SECTOR_SIZE. The raw and
 * qcow2 implementations accept concurrent calls (qcow2 serializes metadata changes internally), and
 * a flush covers every write that completed before it was called. Buffers passed in are not kept
 * after the returned promise settles.
 */
export interface BlockBackend {
  /** Virtual disk size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Everything written before is durable once this resolves. */
  flush(): Promise<void>;
  /** The range may read back as anything afterwards (zeroes for qcow2 and sparse raw). */
  discard(offset: number, length: number): Promise<void>;
  /** The range reads back as zeroes; with `unmap` the space may be deallocated. */
  writeZeroes(offset: number, length: number, unmap: boolean): Promise<void>;
  close(): Promise<void>;
}
