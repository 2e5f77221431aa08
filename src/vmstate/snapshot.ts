/**
 * The snapshot file format (design.md §6): a machine's configuration, its components' states and
 * its RAM in one versioned, checksummed file.
 *
 *   offset      size  field
 *   0           8     magic "TSVMSNAP"
 *   8           4     format version (u32 LE), SNAPSHOT_FORMAT_VERSION
 *   12          4     header length H (u32 LE)
 *   16          8     file length (u64 LE, including the checksum)
 *   24          H     header: JSON, ASCII only (non-ASCII characters are \u escaped)
 *   24+H        ...   body: section blobs (JSON, ASCII), page bitmaps, RAM chunks
 *   length-4    4     CRC-32 (IEEE, as zlib) of every byte before it (u32 LE)
 *
 * The header:
 *
 *   { "config": {...},                       the machine configuration (checked by the restorer)
 *     "pageSize": 4096,
 *     "sections": [{ "name", "version", "offset", "length" }],
 *     "ram": [{ "base", "size", "pages", "bitmap": [offset, length],
 *               "chunks": [[method, pages, offset, length], ...] }] }
 *
 * Offsets are relative to the start of the body. A region's bitmap has one bit per 4 KiB page
 * (bit p%8 of byte p/8, 1 = present); pages not present are all zero and not stored. Present pages,
 * in address order, are packed into chunks of at most SNAPSHOT_CHUNK_PAGES pages, each stored
 * (method 0) or compressed as raw DEFLATE, RFC 1951 (method 1) — Node's zlib.deflateRawSync /
 * inflateRawSync, or a browser's CompressionStream('deflate-raw'). Chunks let a reader inflate
 * straight into the target RAM one MiB at a time, and later be spread over workers.
 *
 * Reading treats the file as untrusted: the magic, the version, every length and offset, the page
 * counts and the checksum are checked before anything is returned or written to RAM, and every
 * problem is a SnapshotError with a code (see SnapshotErrorCode).
 *
 * No Node or DOM APIs: compression is injected (SnapshotCompression), text is ASCII JSON.
 */

import { crc32 } from './crc32.js';

export const SNAPSHOT_MAGIC = 'TSVMSNAP';
/** The format this build writes and the only one it reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;
export const SNAPSHOT_PAGE_SIZE = 4096;
/** Pages per RAM chunk: 1 MiB, large enough for good compression, small enough to stream. */
export const SNAPSHOT_CHUNK_PAGES = 256;
/** Chunk methods. */
export const CHUNK_STORED = 0;
export const CHUNK_DEFLATE_RAW = 1;

const FIXED_HEADER = 24;
const TRAILER = 4;
/** Caps on what a file may declare (far above anything tsvm writes; they bound the work a bad file causes). */
const MAX_HEADER_BYTES = 64 << 20;
const MAX_SECTIONS = 4096;
const MAX_REGIONS = 64;
/** Largest RAM region: the 4 GiB arena limit of PhysicalMemory. */
const MAX_REGION_BYTES = 0xffff_f000;
const SECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type SnapshotErrorCode =
  /** Not a tsvm snapshot (wrong magic). */
  | 'EMAGIC'
  /** Written in a format version this build does not read. */
  | 'EVERSION'
  /** Shorter than it says it is. */
  | 'ETRUNCATED'
  /** The checksum does not match: the file was changed or damaged. */
  | 'ECHECKSUM'
  /** Inconsistent or malformed content (lengths, offsets, JSON, page counts). */
  | 'EFORMAT'
  /** The RAM layout differs from the target machine's. */
  | 'ERAM'
  /** The configuration differs from the target machine's. */
  | 'ECONFIG'
  /** A component's state is missing, of another version, or refused by the component. */
  | 'ESTATE'
  /** The input to writeSnapshot is unusable (not JSON-able, bad RAM region). */
  | 'EINVAL'
  /** Named snapshots: there is no snapshot (or clone source) of that name. */
  | 'ENOENT'
  /** Named snapshots: the name (or a clone's target directory) is taken. */
  | 'EEXIST'
  /** Named snapshots: the VM's disks do not match the snapshot directory's, or it changed meanwhile. */
  | 'EDISKS';

export class SnapshotError extends Error {
  readonly code: SnapshotErrorCode;
  constructor(code: SnapshotErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SnapshotError';
    this.code = code;
  }
}

/** One component's saved state: plain JSON-able data. */
export interface SnapshotSection {
  name: string;
  version: number;
  data: unknown;
}

/** A RAM (or ROM) region: guest physical base and contents (or, for reading into, the destination). */
export interface SnapshotRam {
  base: number;
  bytes: Uint8Array;
}

export interface SnapshotInput {
  /** The machine configuration (JSON-able). */
  config: object;
  sections: readonly SnapshotSection[];
  ram: readonly SnapshotRam[];
}

export interface Snapshot {
  config: Record<string, unknown>;
  sections: SnapshotSection[];
  ram: SnapshotRam[];
}

/**
 * Compression, injected (the core imports no zlib). Raw DEFLATE (RFC 1951, no zlib/gzip wrapper).
 * In Node: `deflate: (d) => zlib.deflateRawSync(d, { level: 1 })`,
 * `inflate: (d, n) => zlib.inflateRawSync(d, { maxOutputLength: n })`.
 */
export interface SnapshotCompression {
  /** Without it, writeSnapshot stores pages uncompressed. */
  deflate?: (data: Uint8Array) => Uint8Array;
  /** Needed to read a file with compressed chunks. `outputLength` is the exact expected size. */
  inflate?: (data: Uint8Array, outputLength: number) => Uint8Array;
}

/** The RAM layout of a parsed snapshot. */
export interface SnapshotRamInfo {
  base: number;
  size: number;
  /** Pages stored (non-zero pages). */
  presentPages: number;
}

/** A snapshot whose header, sections and checksum are validated; RAM is read on demand. */
export interface ParsedSnapshot {
  formatVersion: number;
  fileLength: number;
  config: Record<string, unknown>;
  sections: SnapshotSection[];
  ram: SnapshotRamInfo[];
  /** Reads RAM into newly allocated buffers. */
  readRam(deps: SnapshotCompression): SnapshotRam[];
  /**
   * Reads RAM straight into `target` (one entry per region, same bases and sizes, e.g. views of a
   * machine's RAM arena). Pages not in the file are zeroed unless `targetZeroed` says they already
   * are. On an error part of the target may have been written.
   */
  readRamInto(target: readonly SnapshotRam[], deps: SnapshotCompression, options?: { targetZeroed?: boolean }): void;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

interface RegionPlan {
  base: number;
  bytes: Uint8Array;
  bitmap: Uint8Array;
  present: number[];
  chunks: { method: number; pages: number; first: number; data: Uint8Array | null; length: number }[];
}

/** Serializes a snapshot. Zero pages are left out; the rest is compressed when `deps.deflate` is given. */
export function writeSnapshot(input: SnapshotInput, deps: SnapshotCompression = {}): Uint8Array {
  if (!isPlainObject(input.config)) throw new SnapshotError('EINVAL', 'the configuration must be a JSON object');

  // Sections.
  const names = new Set<string>();
  const sectionBlobs: Uint8Array[] = [];
  const sectionEntries: { name: string; version: number; offset: number; length: number }[] = [];
  let body = 0;
  for (const s of input.sections) {
    if (typeof s.name !== 'string' || !SECTION_NAME.test(s.name)) {
      throw new SnapshotError('EINVAL', `section name '${String(s.name)}' must be 1-64 letters, digits, '.', '_' or '-'`);
    }
    if (names.has(s.name)) throw new SnapshotError('EINVAL', `section '${s.name}' is given twice`);
    names.add(s.name);
    if (!Number.isInteger(s.version) || s.version < 0 || s.version > 0x7fff_ffff) {
      throw new SnapshotError('EINVAL', `section '${s.name}': version must be a non-negative integer`);
    }
    const json = toAsciiJson(s.data, `section '${s.name}'`);
    if (json === undefined) throw new SnapshotError('EINVAL', `section '${s.name}': the state is not JSON-able`);
    const blob = asciiBytes(json);
    sectionBlobs.push(blob);
    sectionEntries.push({ name: s.name, version: s.version, offset: body, length: blob.length });
    body += blob.length;
  }

  // RAM: find present pages, then compress them in chunks.
  const plans: RegionPlan[] = [];
  for (const r of input.ram) {
    if (!Number.isSafeInteger(r.base) || r.base < 0 || r.base % SNAPSHOT_PAGE_SIZE !== 0) {
      throw new SnapshotError('EINVAL', `RAM base ${r.base} must be a page-aligned address`);
    }
    if (r.bytes.length === 0 || r.bytes.length % SNAPSHOT_PAGE_SIZE !== 0 || r.bytes.length > MAX_REGION_BYTES) {
      throw new SnapshotError('EINVAL', `RAM region at 0x${r.base.toString(16)}: size must be a multiple of 4 KiB up to 4 GiB`);
    }
    const pageCount = r.bytes.length / SNAPSHOT_PAGE_SIZE;
    const bitmap = new Uint8Array((pageCount + 7) >>> 3);
    const present: number[] = [];
    for (let p = 0; p < pageCount; p++) {
      if (!isZeroPage(r.bytes, p)) {
        present.push(p);
        bitmap[p >>> 3] |= 1 << (p & 7);
      }
    }
    plans.push({ base: r.base, bytes: r.bytes, bitmap, present, chunks: [] });
  }
  // Overlap between regions is a caller bug.
  const sorted = [...plans].sort((a, b) => a.base - b.base);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1].base + sorted[i - 1].bytes.length > sorted[i].base) {
      throw new SnapshotError('EINVAL', `RAM regions at 0x${sorted[i - 1].base.toString(16)} and 0x${sorted[i].base.toString(16)} overlap`);
    }
  }

  const regionEntries: unknown[] = [];
  const scratch = new Uint8Array(SNAPSHOT_CHUNK_PAGES * SNAPSHOT_PAGE_SIZE);
  for (const plan of plans) {
    const bitmapOffset = body;
    body += plan.bitmap.length;
    const chunkEntries: number[][] = [];
    for (let i = 0; i < plan.present.length; i += SNAPSHOT_CHUNK_PAGES) {
      const pages = Math.min(SNAPSHOT_CHUNK_PAGES, plan.present.length - i);
      const raw = pages * SNAPSHOT_PAGE_SIZE;
      let method = CHUNK_STORED;
      let data: Uint8Array | null = null;
      let length = raw;
      if (deps.deflate !== undefined) {
        const src = scratch.subarray(0, raw);
        gatherPages(plan.bytes, plan.present, i, pages, src);
        const packed = deps.deflate(src);
        // Keep compression only where it pays (already-compressed guest data inflates for nothing).
        if (packed.length < raw - (raw >>> 5)) {
          method = CHUNK_DEFLATE_RAW;
          data = packed;
          length = packed.length;
        }
      }
      plan.chunks.push({ method, pages, first: i, data, length });
      chunkEntries.push([method, pages, body, length]);
      body += length;
    }
    regionEntries.push({
      base: plan.base,
      size: plan.bytes.length,
      pages: plan.present.length,
      bitmap: [bitmapOffset, plan.bitmap.length],
      chunks: chunkEntries,
    });
  }

  const header = { config: input.config, pageSize: SNAPSHOT_PAGE_SIZE, sections: sectionEntries, ram: regionEntries };
  const headerJson = toAsciiJson(header, 'the configuration');
  if (headerJson === undefined) throw new SnapshotError('EINVAL', 'the configuration is not JSON-able');
  const headerBytes = asciiBytes(headerJson);
  const fileLength = FIXED_HEADER + headerBytes.length + body + TRAILER;
  if (fileLength > Number.MAX_SAFE_INTEGER) throw new SnapshotError('EINVAL', 'snapshot too large');

  const out = new Uint8Array(fileLength);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < 8; i++) out[i] = SNAPSHOT_MAGIC.charCodeAt(i);
  view.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  view.setUint32(16, fileLength % 0x1_0000_0000, true);
  view.setUint32(20, Math.floor(fileLength / 0x1_0000_0000), true);
  out.set(headerBytes, FIXED_HEADER);
  const bodyStart = FIXED_HEADER + headerBytes.length;
  let at = bodyStart;
  for (const blob of sectionBlobs) {
    out.set(blob, at);
    at += blob.length;
  }
  for (const plan of plans) {
    out.set(plan.bitmap, at);
    at += plan.bitmap.length;
    for (const c of plan.chunks) {
      if (c.data !== null) out.set(c.data, at);
      else gatherPages(plan.bytes, plan.present, c.first, c.pages, out.subarray(at, at + c.length));
      at += c.length;
    }
  }
  view.setUint32(fileLength - TRAILER, crc32(out.subarray(0, fileLength - TRAILER)), true);
  return out;
}

/** True when page `p` of `bytes` is all zero. Reads 32-bit words where the view is aligned. */
function isZeroPage(bytes: Uint8Array, p: number): boolean {
  const start = bytes.byteOffset + (p * SNAPSHOT_PAGE_SIZE);
  if ((start & 3) === 0) {
    const w = new Int32Array(bytes.buffer, start, SNAPSHOT_PAGE_SIZE >>> 2);
    for (let i = 0; i < w.length; i += 8) {
      if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) !== 0) return false;
    }
    return true;
  }
  const base = p * SNAPSHOT_PAGE_SIZE;
  for (let i = 0; i < SNAPSHOT_PAGE_SIZE; i++) if (bytes[base + i] !== 0) return false;
  return true;
}

function gatherPages(bytes: Uint8Array, present: number[], first: number, count: number, dst: Uint8Array): void {
  for (let j = 0; j < count; j++) {
    const off = present[first + j] * SNAPSHOT_PAGE_SIZE;
    dst.set(bytes.subarray(off, off + SNAPSHOT_PAGE_SIZE), j * SNAPSHOT_PAGE_SIZE);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

interface ChunkEntry {
  method: number;
  pages: number;
  offset: number;
  length: number;
}

interface RegionEntry {
  base: number;
  size: number;
  pages: number;
  bitmapOffset: number;
  bitmapLength: number;
  chunks: ChunkEntry[];
}

/**
 * Validates a snapshot file (magic, version, lengths, checksum, header, sections) and returns its
 * configuration and sections; RAM is read afterwards with readRam / readRamInto, so a caller can
 * check the configuration before touching a machine.
 */
export function parseSnapshot(file: Uint8Array, options: { verifyChecksum?: boolean } = {}): ParsedSnapshot {
  if (file.length === 0) throw new SnapshotError('ETRUNCATED', 'the snapshot file is empty');
  if (file.length < 8 && SNAPSHOT_MAGIC.startsWith(asciiOf(file))) {
    throw new SnapshotError('ETRUNCATED', 'the snapshot file is truncated (no header)');
  }
  if (file.length < 8 || !hasMagic(file)) throw new SnapshotError('EMAGIC', 'not a tsvm snapshot file (bad magic)');
  if (file.length < 12) throw new SnapshotError('ETRUNCATED', 'the snapshot file is truncated (no header)');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(8, true);
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotError('EVERSION', version > SNAPSHOT_FORMAT_VERSION
      ? `the snapshot is in format ${version}, written by a newer tsvm; this tsvm reads format ${SNAPSHOT_FORMAT_VERSION}`
      : `the snapshot is in format ${version}, which this tsvm no longer reads (it reads format ${SNAPSHOT_FORMAT_VERSION})`);
  }
  if (file.length < FIXED_HEADER + TRAILER) throw new SnapshotError('ETRUNCATED', 'the snapshot file is truncated (no header)');
  const headerLength = view.getUint32(12, true);
  const fileLength = view.getUint32(16, true) + view.getUint32(20, true) * 0x1_0000_0000;
  if (fileLength > file.length) {
    throw new SnapshotError('ETRUNCATED', `the snapshot file is truncated: ${file.length} of ${fileLength} bytes`);
  }
  if (fileLength < file.length) {
    throw new SnapshotError('EFORMAT', `the snapshot file has ${file.length - fileLength} bytes after its end`);
  }
  if (headerLength > MAX_HEADER_BYTES || FIXED_HEADER + headerLength + TRAILER > fileLength) {
    throw new SnapshotError('EFORMAT', `the snapshot header length (${headerLength}) does not fit the file`);
  }
  if (options.verifyChecksum !== false) {
    const stored = view.getUint32(fileLength - TRAILER, true);
    const actual = crc32(file.subarray(0, fileLength - TRAILER));
    if (stored !== actual) {
      throw new SnapshotError('ECHECKSUM', 'the snapshot file is corrupted (checksum mismatch)');
    }
  }
  const bodyStart = FIXED_HEADER + headerLength;
  const bodyLength = fileLength - TRAILER - bodyStart;
  const header = parseJson(file.subarray(FIXED_HEADER, bodyStart), 'the header');
  if (!isPlainObject(header)) throw formatError('the header is not a JSON object');
  const config = header.config;
  if (!isPlainObject(config)) throw formatError('the header has no configuration object');
  if (header.pageSize !== SNAPSHOT_PAGE_SIZE) throw formatError(`unsupported page size ${String(header.pageSize)}`);

  // Sections.
  const rawSections = header.sections;
  if (!Array.isArray(rawSections) || rawSections.length > MAX_SECTIONS) throw formatError('bad section list');
  const sections: SnapshotSection[] = [];
  const seen = new Set<string>();
  for (const e of rawSections as unknown[]) {
    if (!isPlainObject(e)) throw formatError('bad section entry');
    const name = e.name;
    if (typeof name !== 'string' || !SECTION_NAME.test(name) || seen.has(name)) {
      throw formatError(`bad or repeated section name '${String(name)}'`);
    }
    seen.add(name);
    const version = e.version;
    if (!isIntIn(version, 0, 0x7fff_ffff)) throw formatError(`section '${name}': bad version`);
    const [offset, length] = checkRange(e.offset, e.length, bodyLength, `section '${name}'`);
    const data = parseJson(file.subarray(bodyStart + offset, bodyStart + offset + length), `section '${name}'`);
    sections.push({ name, version, data });
  }

  // RAM layout.
  const rawRam = header.ram;
  if (!Array.isArray(rawRam) || rawRam.length > MAX_REGIONS) throw formatError('bad RAM region list');
  const regions: RegionEntry[] = [];
  for (const e of rawRam as unknown[]) regions.push(parseRegion(e, bodyLength));
  const byBase = [...regions].sort((a, b) => a.base - b.base);
  for (let i = 1; i < byBase.length; i++) {
    if (byBase[i - 1].base + byBase[i - 1].size > byBase[i].base) throw formatError('RAM regions overlap');
  }
  for (const r of regions) {
    // The bitmap must hold exactly `pages` set bits, none past the end of the region.
    const bitmap = file.subarray(bodyStart + r.bitmapOffset, bodyStart + r.bitmapOffset + r.bitmapLength);
    const pageCount = r.size / SNAPSHOT_PAGE_SIZE;
    if ((pageCount & 7) !== 0 && (bitmap[bitmap.length - 1] >>> (pageCount & 7)) !== 0) {
      throw formatError(`RAM region at 0x${r.base.toString(16)}: the page bitmap marks pages past the region's end`);
    }
    if (popcount(bitmap) !== r.pages) {
      throw formatError(`RAM region at 0x${r.base.toString(16)}: the page bitmap does not match the page count`);
    }
  }

  const body = file.subarray(bodyStart, bodyStart + bodyLength);
  const parsed: ParsedSnapshot = {
    formatVersion: version,
    fileLength,
    config,
    sections,
    ram: regions.map((r) => ({ base: r.base, size: r.size, presentPages: r.pages })),
    readRam(deps: SnapshotCompression): SnapshotRam[] {
      const target = regions.map((r) => ({ base: r.base, bytes: allocate(r.size) }));
      readRegions(body, regions, target, deps, true);
      return target;
    },
    readRamInto(target: readonly SnapshotRam[], deps: SnapshotCompression, opts: { targetZeroed?: boolean } = {}): void {
      const ordered = matchTarget(regions, target);
      readRegions(body, regions, ordered, deps, opts.targetZeroed === true);
    },
  };
  return parsed;
}

/** Reads a whole snapshot: configuration, sections and RAM (in new buffers). */
export function readSnapshot(file: Uint8Array, deps: SnapshotCompression): Snapshot {
  const parsed = parseSnapshot(file);
  return { config: parsed.config, sections: parsed.sections, ram: parsed.readRam(deps) };
}

/**
 * Reads a snapshot with its RAM written straight into `target` (views of the machine's RAM, same
 * regions as the snapshot). Everything but the RAM contents is validated before the target is
 * touched. Returns the configuration and sections.
 */
export function readSnapshotInto(
  file: Uint8Array,
  deps: SnapshotCompression,
  target: readonly SnapshotRam[],
  options: { targetZeroed?: boolean } = {},
): { config: Record<string, unknown>; sections: SnapshotSection[] } {
  const parsed = parseSnapshot(file);
  parsed.readRamInto(target, deps, options);
  return { config: parsed.config, sections: parsed.sections };
}

function parseRegion(e: unknown, bodyLength: number): RegionEntry {
  if (!isPlainObject(e)) throw formatError('bad RAM region entry');
  const base = e.base;
  const size = e.size;
  if (!isIntIn(base, 0, Number.MAX_SAFE_INTEGER) || base % SNAPSHOT_PAGE_SIZE !== 0) throw formatError('bad RAM region base');
  const where = `RAM region at 0x${base.toString(16)}`;
  if (!isIntIn(size, SNAPSHOT_PAGE_SIZE, MAX_REGION_BYTES) || size % SNAPSHOT_PAGE_SIZE !== 0 || base + size > Number.MAX_SAFE_INTEGER) {
    throw formatError(`${where}: bad size`);
  }
  const pageCount = size / SNAPSHOT_PAGE_SIZE;
  const pages = e.pages;
  if (!isIntIn(pages, 0, pageCount)) throw formatError(`${where}: bad page count`);
  const bm = e.bitmap;
  if (!Array.isArray(bm) || bm.length !== 2) throw formatError(`${where}: bad bitmap entry`);
  const [bitmapOffset, bitmapLength] = checkRange(bm[0], bm[1], bodyLength, `${where} bitmap`);
  if (bitmapLength !== Math.ceil(pageCount / 8)) throw formatError(`${where}: the bitmap has the wrong length`);
  const rawChunks = e.chunks;
  if (!Array.isArray(rawChunks)) throw formatError(`${where}: bad chunk list`);
  const chunks: ChunkEntry[] = [];
  let total = 0;
  for (const c of rawChunks as unknown[]) {
    if (!Array.isArray(c) || c.length !== 4) throw formatError(`${where}: bad chunk entry`);
    const [method, n] = c as unknown[];
    if (method !== CHUNK_STORED && method !== CHUNK_DEFLATE_RAW) throw formatError(`${where}: unknown chunk method ${String(method)}`);
    if (!isIntIn(n, 1, SNAPSHOT_CHUNK_PAGES)) throw formatError(`${where}: bad chunk page count`);
    const [offset, length] = checkRange(c[2], c[3], bodyLength, `${where} chunk`);
    if (method === CHUNK_STORED && length !== n * SNAPSHOT_PAGE_SIZE) throw formatError(`${where}: a stored chunk has the wrong length`);
    total += n;
    chunks.push({ method, pages: n, offset, length });
  }
  if (total !== pages) throw formatError(`${where}: the chunks hold ${total} pages, the region says ${pages}`);
  return { base, size, pages, bitmapOffset, bitmapLength, chunks };
}

function matchTarget(regions: readonly RegionEntry[], target: readonly SnapshotRam[]): SnapshotRam[] {
  const describe = (list: readonly { base: number; size: number }[]): string =>
    list.map((r) => `${r.size / 1024} KiB at 0x${r.base.toString(16)}`).join(', ') || 'none';
  const mismatch = (): SnapshotError => new SnapshotError('ERAM',
    `the snapshot's RAM (${describe(regions)}) does not match this machine's (${describe(target.map((t) => ({ base: t.base, size: t.bytes.length })))})`);
  if (target.length !== regions.length) throw mismatch();
  return regions.map((r) => {
    const t = target.find((x) => x.base === r.base);
    if (t === undefined || t.bytes.length !== r.size) throw mismatch();
    return t;
  });
}

function readRegions(
  body: Uint8Array,
  regions: readonly RegionEntry[],
  target: readonly SnapshotRam[],
  deps: SnapshotCompression,
  targetZeroed: boolean,
): void {
  if (deps.inflate === undefined && regions.some((r) => r.chunks.some((c) => c.method === CHUNK_DEFLATE_RAW))) {
    throw new SnapshotError('EINVAL', 'the snapshot has compressed RAM but no inflate function was given');
  }
  regions.forEach((r, i) => {
    const dst = target[i].bytes;
    const bitmap = body.subarray(r.bitmapOffset, r.bitmapOffset + r.bitmapLength);
    const pageCount = r.size / SNAPSHOT_PAGE_SIZE;
    // Zero the pages the file leaves out, in runs.
    if (!targetZeroed) {
      let p = 0;
      while (p < pageCount) {
        if (bitOf(bitmap, p)) {
          p++;
          continue;
        }
        const start = p;
        while (p < pageCount && !bitOf(bitmap, p)) p++;
        dst.fill(0, start * SNAPSHOT_PAGE_SIZE, p * SNAPSHOT_PAGE_SIZE);
      }
    }
    let page = nextSet(bitmap, 0, pageCount);
    for (const c of r.chunks) {
      const raw = c.pages * SNAPSHOT_PAGE_SIZE;
      const src = body.subarray(c.offset, c.offset + c.length);
      let data: Uint8Array;
      if (c.method === CHUNK_STORED) {
        data = src;
      } else {
        try {
          data = (deps.inflate as (d: Uint8Array, n: number) => Uint8Array)(src, raw);
        } catch (cause) {
          throw new SnapshotError('EFORMAT', `RAM region at 0x${r.base.toString(16)}: a compressed chunk does not inflate`, { cause });
        }
        if (data.length !== raw) {
          throw new SnapshotError('EFORMAT', `RAM region at 0x${r.base.toString(16)}: a chunk inflates to ${data.length} bytes, not ${raw}`);
        }
      }
      // Scatter the chunk's pages; consecutive pages are copied in one go.
      let j = 0;
      while (j < c.pages) {
        const first = page;
        let run = 1;
        page = nextSet(bitmap, page + 1, pageCount);
        while (j + run < c.pages && page === first + run) {
          run++;
          page = nextSet(bitmap, page + 1, pageCount);
        }
        dst.set(data.subarray(j * SNAPSHOT_PAGE_SIZE, (j + run) * SNAPSHOT_PAGE_SIZE), first * SNAPSHOT_PAGE_SIZE);
        j += run;
      }
    }
  });
}

function bitOf(bitmap: Uint8Array, p: number): boolean {
  return ((bitmap[p >>> 3] >>> (p & 7)) & 1) !== 0;
}

/** The first set bit at or after `p`, or `limit`. */
function nextSet(bitmap: Uint8Array, p: number, limit: number): number {
  while (p < limit) {
    const byte = bitmap[p >>> 3] >>> (p & 7);
    if (byte === 0) {
      p = (p | 7) + 1;
      continue;
    }
    return p + (31 - Math.clz32(byte & -byte));
  }
  return limit;
}

function popcount(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    let b = bytes[i];
    b = b - ((b >>> 1) & 0x55);
    b = (b & 0x33) + ((b >>> 2) & 0x33);
    n += (b + (b >>> 4)) & 0x0f;
  }
  return n;
}

function allocate(size: number): Uint8Array {
  try {
    return new Uint8Array(size);
  } catch (cause) {
    throw new SnapshotError('EINVAL', `cannot allocate ${size} bytes for the snapshot's RAM`, { cause });
  }
}

function checkRange(offset: unknown, length: unknown, limit: number, what: string): [number, number] {
  if (!isIntIn(offset, 0, limit) || !isIntIn(length, 0, limit) || offset + length > limit) {
    throw formatError(`${what} lies outside the file`);
  }
  return [offset, length];
}

function formatError(message: string): SnapshotError {
  return new SnapshotError('EFORMAT', `the snapshot file is malformed: ${message}`);
}

function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasMagic(file: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (file[i] !== SNAPSHOT_MAGIC.charCodeAt(i)) return false;
  return true;
}

function asciiOf(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

// ---- ASCII JSON (the core has no TextEncoder) ----

/** JSON.stringify with every non-ASCII UTF-16 unit escaped as \uXXXX; undefined if not JSON-able. */
function toAsciiJson(value: unknown, what: string): string | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(value) as string | undefined;
  } catch (cause) {
    throw new SnapshotError('EINVAL', `${what} is not JSON-able`, { cause });
  }
  if (json === undefined) return undefined;
  return json.replace(/[\u0080-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Parses ASCII JSON bytes; anything else is a format error. */
function parseJson(bytes: Uint8Array, what: string): unknown {
  let s = '';
  const CHUNK = 8192;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const part = bytes.subarray(i, Math.min(bytes.length, i + CHUNK));
    for (let j = 0; j < part.length; j++) {
      if (part[j] >= 0x80) throw formatError(`${what} is not ASCII JSON`);
    }
    s += String.fromCharCode(...part);
  }
  try {
    return JSON.parse(s) as unknown;
  } catch (cause) {
    throw new SnapshotError('EFORMAT', `the snapshot file is malformed: ${what} is not valid JSON`, { cause });
  }
}
