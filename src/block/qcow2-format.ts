/**
 * The qcow2 on-disk format (QEMU docs/interop/qcow2.txt): header fields, header extensions, table
 * entry bit layouts and the snapshot table. Parsing validates every field before anything uses it;
 * encoding builds the first cluster (header, extensions, backing file name) for create and rebase.
 *
 * All numbers on disk are big-endian. Offsets are JavaScript numbers: exact up to 2^53 (8 PiB),
 * which is larger than any file we accept.
 */

import { BlockError } from './backend.js';
import { decodeUtf8, encodeUtf8 } from './utf8.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;
/** What we write for version 3: through compression_type, padded to a multiple of 8 (as QEMU does). */
export const V3_HEADER_LENGTH = 112;
export const MIN_CLUSTER_BITS = 9;
/** QEMU's implementation limit (2 MiB clusters); larger images would not open in QEMU either. */
export const MAX_CLUSTER_BITS = 21;
/** QEMU's limits: 32 MiB of L1 table, 8 MiB of refcount table. */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFCOUNT_TABLE_BYTES = 8 * 1024 * 1024;
export const MAX_BACKING_NAME = 1023;
export const MAX_SNAPSHOTS = 65536;
/** Largest offset we handle: offsets stay exact JavaScript numbers. */
export const MAX_OFFSET = 2 ** 53;

// Incompatible feature bits.
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
// Compatible feature bits.
export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;
// Autoclear feature bits.
export const AUTOCLEAR_BITMAPS = 1n << 0n;
export const AUTOCLEAR_DATA_FILE_RAW = 1n << 1n;

// Header extension types.
export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

// L1/L2/refcount-table entries, split in 32-bit halves (hi = bits 32..63, lo = bits 0..31).
export const ENTRY_COPIED_HI = 0x80000000; // bit 63: refcount is exactly one
export const ENTRY_COMPRESSED_HI = 0x40000000; // bit 62 (L2 only)
export const ENTRY_OFFSET_HI = 0x00ffffff; // bits 32..55 of a host offset
export const ENTRY_OFFSET_LO = 0xfffffe00; // bits 9..31
export const L1_RESERVED_HI = 0x7f000000; // bits 56..62
export const L2_RESERVED_HI = 0x3f000000; // bits 56..61
export const ENTRY_RESERVED_LO = 0x000001fe; // bits 1..8
export const L2_ZERO_LO = 0x00000001; // bit 0: reads as zeroes (v3)
export const TABLE_RESERVED_LO = 0x000001ff; // refcount table: bits 0..8

export interface FeatureName {
  /** 0 incompatible, 1 compatible, 2 autoclear. */
  readonly type: number;
  readonly bit: number;
  readonly name: string;
}

export interface HeaderExtension {
  readonly type: number;
  readonly data: Uint8Array;
}

/** The parsed header of a qcow2 image. */
export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Additional v3 header bytes after compression_type that we do not know (kept when rewriting). */
  extraHeader: Uint8Array;
  backingFile: string | undefined;
  backingFormat: string | undefined;
  featureNames: FeatureName[];
  /** Extensions we do not interpret (bitmaps, unknown ones), kept as they are when rewriting. */
  otherExtensions: HeaderExtension[];
}

const corrupt = (name: string, what: string): BlockError =>
  new BlockError('ECORRUPT', `${name}: ${what}; the image is corrupt`);
const unsupported = (name: string, what: string): BlockError => new BlockError('EUNSUPPORTED', `${name}: ${what}`);

/** Reads a big-endian u64 at `at` as a number; `undefined` when it does not fit in 2^53. */
export function readU64(view: DataView, at: number): number | undefined {
  const hi = view.getUint32(at);
  if (hi >= 0x200000) return undefined;
  return hi * 0x100000000 + view.getUint32(at + 4);
}

export function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / 0x100000000));
  view.setUint32(at + 4, value >>> 0);
}

function readU64Big(view: DataView, at: number): bigint {
  return view.getBigUint64(at);
}

/** True when `buf` starts with the qcow2 magic. */
export function hasQcow2Magic(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x51 && buf[1] === 0x46 && buf[2] === 0x49 && buf[3] === 0xfb;
}

const FEATURE_TYPE_NAMES = ['incompatible', 'compatible', 'autoclear'];
const KNOWN_INCOMPAT: ReadonlyMap<bigint, string> = new Map([
  [INCOMPAT_DIRTY, 'dirty bit'],
  [INCOMPAT_CORRUPT, 'corrupt bit'],
  [INCOMPAT_DATA_FILE, 'external data file'],
  [INCOMPAT_COMPRESSION, 'compression type'],
  [INCOMPAT_EXTL2, 'extended L2 entries'],
]);

/**
 * Parses and validates the header in `first` (the first cluster of the file, or as much of it as the
 * file holds). `fileSize` bounds the table offsets. Throws BlockError ECORRUPT for inconsistent
 * values, EUNSUPPORTED for valid images using features this implementation lacks.
 */
export function parseHeader(name: string, first: Uint8Array, fileSize: number): Qcow2Header {
  if (!hasQcow2Magic(first)) throw new BlockError('EFORMAT', `${name}: not a qcow2 image (bad magic)`);
  if (first.length < V2_HEADER_LENGTH) throw corrupt(name, 'the header is truncated');
  const v = new DataView(first.buffer, first.byteOffset, first.byteLength);
  const version = v.getUint32(4);
  if (version !== 2 && version !== 3) {
    throw unsupported(name, `qcow2 version ${version} is not supported (only 2 and 3)`);
  }
  const u64 = (at: number, field: string): number => {
    const x = readU64(v, at);
    if (x === undefined) throw corrupt(name, `header field ${field} is out of range`);
    return x;
  };
  const clusterBits = v.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw unsupported(name, `cluster_bits ${clusterBits} is outside the supported 9..21 (512 B to 2 MiB clusters)`);
  }
  const clusterSize = 2 ** clusterBits;
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(8, 'backing_file_offset'),
    backingFileSize: v.getUint32(16),
    clusterBits,
    size: u64(24, 'size'),
    cryptMethod: v.getUint32(32),
    l1Size: v.getUint32(36),
    l1TableOffset: u64(40, 'l1_table_offset'),
    refcountTableOffset: u64(48, 'refcount_table_offset'),
    refcountTableClusters: v.getUint32(56),
    nbSnapshots: v.getUint32(60),
    snapshotsOffset: u64(64, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    compressionType: 0,
    extraHeader: new Uint8Array(0),
    backingFile: undefined,
    backingFormat: undefined,
    featureNames: [],
    otherExtensions: [],
  };
  if (version === 3) {
    if (first.length < V3_MIN_HEADER_LENGTH) throw corrupt(name, 'the header is truncated');
    h.incompatibleFeatures = readU64Big(v, 72);
    h.compatibleFeatures = readU64Big(v, 80);
    h.autoclearFeatures = readU64Big(v, 88);
    h.refcountOrder = v.getUint32(96);
    h.headerLength = v.getUint32(100);
    if (h.headerLength < V3_MIN_HEADER_LENGTH || h.headerLength % 8 !== 0 || h.headerLength > clusterSize) {
      throw corrupt(name, `header_length ${h.headerLength} is invalid (a multiple of 8, 104 up to the cluster size)`);
    }
    if (h.headerLength > first.length) throw corrupt(name, 'the header is truncated');
    if (h.headerLength > 104) h.compressionType = first[104];
    if (h.headerLength > 112) h.extraHeader = first.slice(112, h.headerLength);
    if (h.refcountOrder > 6) throw corrupt(name, `refcount_order ${h.refcountOrder} is larger than 6 (64-bit refcounts)`);
  }

  // Sizes and offsets: each table must be aligned, of sane size, and inside the file.
  if (h.size > MAX_OFFSET / 2) throw unsupported(name, `virtual size ${h.size} is too large`);
  const l2Entries = clusterSize / 8;
  const neededL1 = Math.ceil(h.size / (clusterSize * l2Entries));
  if (h.l1Size * 8 > MAX_L1_BYTES) throw corrupt(name, `L1 table size ${h.l1Size} entries exceeds the 32 MiB limit`);
  if (h.l1Size < neededL1) {
    throw corrupt(name, `L1 table has ${h.l1Size} entries but the virtual size needs ${neededL1}`);
  }
  if (h.l1Size > 0) {
    if (h.l1TableOffset % clusterSize !== 0) throw corrupt(name, `L1 table offset 0x${h.l1TableOffset.toString(16)} is not cluster-aligned`);
    if (h.l1TableOffset === 0) throw corrupt(name, 'L1 table overlaps the header');
    if (h.l1TableOffset + h.l1Size * 8 > fileSize) throw corrupt(name, 'the L1 table extends past the end of the file (truncated image?)');
  }
  if (h.refcountTableClusters === 0) throw corrupt(name, 'refcount table has no clusters');
  if (h.refcountTableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES) {
    throw corrupt(name, `refcount table of ${h.refcountTableClusters} clusters exceeds the 8 MiB limit`);
  }
  if (h.refcountTableOffset % clusterSize !== 0 || h.refcountTableOffset === 0) {
    throw corrupt(name, `refcount table offset 0x${h.refcountTableOffset.toString(16)} is invalid`);
  }
  if (h.refcountTableOffset + h.refcountTableClusters * clusterSize > fileSize) {
    throw corrupt(name, 'the refcount table extends past the end of the file (truncated image?)');
  }
  if (h.nbSnapshots > MAX_SNAPSHOTS) throw corrupt(name, `${h.nbSnapshots} snapshots exceed the limit of ${MAX_SNAPSHOTS}`);
  if (h.nbSnapshots > 0 && (h.snapshotsOffset % clusterSize !== 0 || h.snapshotsOffset === 0 || h.snapshotsOffset >= fileSize)) {
    throw corrupt(name, `snapshot table offset 0x${h.snapshotsOffset.toString(16)} is invalid`);
  }

  // Features.
  if (h.cryptMethod !== 0) throw unsupported(name, 'encrypted qcow2 images are not supported');
  const known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

  // Header extensions: from header_length to the backing file name (or the end of the cluster).
  const extEnd = Math.min(first.length, clusterSize, h.backingFileOffset > 0 ? h.backingFileOffset : clusterSize);
  let at = h.headerLength;
  const seen = new Set<number>();
  for (;;) {
    if (at + 8 > extEnd) {
      // No end marker before the backing file name / end of cluster: tolerated as the end.
      break;
    }
    const type = v.getUint32(at);
    const len = v.getUint32(at + 4);
    if (type === EXT_END) break;
    const dataAt = at + 8;
    if (len > extEnd - dataAt) throw corrupt(name, `header extension 0x${type.toString(16)} is longer than the header cluster`);
    const data = first.slice(dataAt, dataAt + len);
    if (seen.has(type) && type !== 0) throw corrupt(name, `header extension 0x${type.toString(16)} appears twice`);
    seen.add(type);
    if (type === EXT_BACKING_FORMAT) {
      if (len > 64) throw corrupt(name, 'backing file format name is too long');
      h.backingFormat = latin1(data);
    } else if (type === EXT_FEATURE_TABLE) {
      for (let k = 0; k + 48 <= len; k += 48) {
        const raw = data.subarray(k + 2, k + 48);
        const end = raw.indexOf(0);
        h.featureNames.push({ type: data[k], bit: data[k + 1], name: latin1(end < 0 ? raw : raw.subarray(0, end)) });
      }
    } else {
      if (type === EXT_DATA_FILE || type === EXT_CRYPTO) {
        // Only meaningful with feature bits we refuse below; kept for completeness.
      }
      h.otherExtensions.push({ type, data });
    }
    at = dataAt + ((len + 7) & ~7);
  }

  const unknown = h.incompatibleFeatures & ~known;
  if (unknown !== 0n) {
    const names: string[] = [];
    for (let bit = 0; bit < 64; bit++) {
      if ((unknown >> BigInt(bit)) & 1n) {
        const f = h.featureNames.find((x) => x.type === 0 && x.bit === bit);
        names.push(f !== undefined ? `'${f.name}' (bit ${bit})` : `bit ${bit}`);
      }
    }
    throw unsupported(name, `unknown incompatible features: ${names.join(', ')}`);
  }
  if (h.incompatibleFeatures & INCOMPAT_DATA_FILE) throw unsupported(name, 'images with an external data file are not supported');
  if (h.incompatibleFeatures & INCOMPAT_EXTL2) throw unsupported(name, 'images with extended L2 entries (subclusters) are not supported');
  if (h.incompatibleFeatures & INCOMPAT_COMPRESSION) {
    if (h.compressionType === 0) throw corrupt(name, 'compression type bit set with compression_type 0');
    throw unsupported(name, `compression type ${h.compressionType === 1 ? 'zstd' : h.compressionType} is not supported (only zlib)`);
  }
  if (h.compressionType !== 0) throw corrupt(name, `compression_type ${h.compressionType} set without its feature bit`);

  // Backing file name: inside the first cluster, after the extensions.
  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize === 0 || h.backingFileSize > MAX_BACKING_NAME) {
      throw corrupt(name, `backing file name length ${h.backingFileSize} is invalid (1..${MAX_BACKING_NAME})`);
    }
    if (h.backingFileOffset + h.backingFileSize > Math.min(clusterSize, first.length)) {
      throw corrupt(name, 'the backing file name is outside the header cluster');
    }
    if (h.backingFileOffset < h.headerLength) throw corrupt(name, 'the backing file name overlaps the header');
    h.backingFile = decodeUtf8(first.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize));
  }
  return h;
}

/** Names the feature bits set in `mask` of feature `type` (0..2), using the image's table. */
export function featureList(h: Qcow2Header, type: number, mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if (((mask >> BigInt(bit)) & 1n) === 0n) continue;
    const f = h.featureNames.find((x) => x.type === type && x.bit === bit);
    out.push(f?.name ?? `${FEATURE_TYPE_NAMES[type]} bit ${bit}`);
  }
  return out;
}

export function incompatibleName(bit: bigint): string {
  return KNOWN_INCOMPAT.get(bit) ?? 'unknown';
}

/** The feature name table we write (the features this implementation knows about). */
export const OUR_FEATURE_NAMES: readonly FeatureName[] = [
  { type: 0, bit: 0, name: 'dirty bit' },
  { type: 0, bit: 1, name: 'corrupt bit' },
  { type: 0, bit: 2, name: 'external data file' },
  { type: 0, bit: 3, name: 'compression type' },
  { type: 0, bit: 4, name: 'extended L2 entries' },
  { type: 1, bit: 0, name: 'lazy refcounts' },
  { type: 2, bit: 0, name: 'bitmaps' },
  { type: 2, bit: 1, name: 'raw external data' },
];

/**
 * Encodes the header cluster: header fields, extensions (backing format, feature names, kept
 * extensions), the end marker and the backing file name. Sets h.headerLength (v3),
 * h.backingFileOffset and h.backingFileSize. Throws EINVAL when it does not fit in one cluster.
 */
export function encodeHeader(h: Qcow2Header): Uint8Array {
  const clusterSize = 2 ** h.clusterBits;
  const buf = new Uint8Array(clusterSize);
  const v = new DataView(buf.buffer);
  const headerLength = h.version === 2 ? V2_HEADER_LENGTH : Math.max(V3_HEADER_LENGTH, 112 + h.extraHeader.length);
  let at = headerLength;
  const put = (type: number, data: Uint8Array): void => {
    const padded = (data.length + 7) & ~7;
    if (at + 8 + padded + 8 > clusterSize) {
      throw new BlockError('EINVAL', 'the header extensions do not fit in the first cluster');
    }
    v.setUint32(at, type);
    v.setUint32(at + 4, data.length);
    buf.set(data, at + 8);
    at += 8 + padded;
  };
  if (h.backingFormat !== undefined) put(EXT_BACKING_FORMAT, latin1Bytes(h.backingFormat));
  if (h.featureNames.length > 0) {
    const t = new Uint8Array(48 * h.featureNames.length);
    h.featureNames.forEach((f, i) => {
      t[i * 48] = f.type;
      t[i * 48 + 1] = f.bit;
      t.set(latin1Bytes(f.name).subarray(0, 46), i * 48 + 2);
    });
    put(EXT_FEATURE_TABLE, t);
  }
  for (const e of h.otherExtensions) put(e.type, e.data);
  at += 8; // end-of-extensions marker (zeroes)
  if (h.backingFile !== undefined) {
    const name = encodeUtf8(h.backingFile);
    if (name.length === 0 || name.length > MAX_BACKING_NAME) {
      throw new BlockError('EINVAL', `backing file name must be 1 to ${MAX_BACKING_NAME} bytes`);
    }
    if (at + name.length > clusterSize) throw new BlockError('EINVAL', 'the backing file name does not fit in the first cluster');
    buf.set(name, at);
    h.backingFileOffset = at;
    h.backingFileSize = name.length;
  } else {
    h.backingFileOffset = 0;
    h.backingFileSize = 0;
  }

  v.setUint32(0, QCOW2_MAGIC);
  v.setUint32(4, h.version);
  writeU64(v, 8, h.backingFileOffset);
  v.setUint32(16, h.backingFileSize);
  v.setUint32(20, h.clusterBits);
  writeU64(v, 24, h.size);
  v.setUint32(32, h.cryptMethod);
  v.setUint32(36, h.l1Size);
  writeU64(v, 40, h.l1TableOffset);
  writeU64(v, 48, h.refcountTableOffset);
  v.setUint32(56, h.refcountTableClusters);
  v.setUint32(60, h.nbSnapshots);
  writeU64(v, 64, h.snapshotsOffset);
  if (h.version === 3) {
    v.setBigUint64(72, h.incompatibleFeatures);
    v.setBigUint64(80, h.compatibleFeatures);
    v.setBigUint64(88, h.autoclearFeatures);
    v.setUint32(96, h.refcountOrder);
    v.setUint32(100, headerLength);
    buf[104] = h.compressionType;
    buf.set(h.extraHeader, 112);
    h.headerLength = headerLength;
  }
  return buf;
}

/** One internal snapshot, as listed by `snapshot -l`. */
export interface SnapshotInfo {
  readonly id: string;
  readonly name: string;
  readonly l1TableOffset: number;
  readonly l1Size: number;
  readonly dateSeconds: number;
  readonly dateNanoseconds: number;
  readonly vmClockNs: number;
  readonly vmStateSize: number;
  /** Virtual disk size at the snapshot (v3 extra data), when recorded. */
  readonly diskSize: number | undefined;
}

/**
 * Parses the snapshot table `buf` (read from snapshots_offset) holding `count` entries; returns them
 * and the table's length in bytes.
 */
export function parseSnapshotTable(
  name: string,
  buf: Uint8Array,
  count: number,
  clusterSize: number,
  fileSize: number,
): { snapshots: SnapshotInfo[]; bytes: number } {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: SnapshotInfo[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 40 > buf.length) throw corrupt(name, 'the snapshot table is truncated');
    const l1TableOffset = readU64(v, at);
    const l1Size = v.getUint32(at + 8);
    const idLen = v.getUint16(at + 12);
    const nameLen = v.getUint16(at + 14);
    const extra = v.getUint32(at + 36);
    if (l1TableOffset === undefined || l1TableOffset % clusterSize !== 0 || l1TableOffset + l1Size * 8 > fileSize) {
      throw corrupt(name, `snapshot ${i + 1} has an invalid L1 table offset`);
    }
    if (l1Size * 8 > MAX_L1_BYTES) throw corrupt(name, `snapshot ${i + 1} has an oversized L1 table`);
    if (extra > 1024) throw corrupt(name, `snapshot ${i + 1} has ${extra} bytes of extra data (limit 1024)`);
    const end = at + 40 + extra + idLen + nameLen;
    if (end > buf.length) throw corrupt(name, 'the snapshot table is truncated');
    let vmStateSize = v.getUint32(at + 32);
    let diskSize: number | undefined;
    if (extra >= 8) vmStateSize = readU64(v, at + 40) ?? vmStateSize;
    if (extra >= 16) diskSize = readU64(v, at + 48);
    out.push({
      id: decodeUtf8(buf.subarray(at + 40 + extra, at + 40 + extra + idLen)),
      name: decodeUtf8(buf.subarray(at + 40 + extra + idLen, end)),
      l1TableOffset,
      l1Size,
      dateSeconds: v.getUint32(at + 16),
      dateNanoseconds: v.getUint32(at + 20),
      vmClockNs: readU64(v, at + 24) ?? 0,
      vmStateSize,
      diskSize,
    });
    at = (end + 7) & ~7;
  }
  return { snapshots: out, bytes: at };
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

