/**
 * Creating empty qcow2 images. Layout, as qemu-img lays it out: cluster 0 the header (with the
 * backing format and feature name extensions and the backing file name), then the refcount table,
 * the refcount blocks counting these metadata clusters, and the L1 table (all entries zero).
 */

import { BlockError, type BlockFile } from './backend.js';
import {
  encodeHeader,
  MAX_CLUSTER_BITS,
  MAX_L1_BYTES,
  MAX_REFCOUNT_TABLE_BYTES,
  MIN_CLUSTER_BITS,
  OUR_FEATURE_NAMES,
  writeU64,
  type Qcow2Header,
} from './qcow2-format.js';

export interface CreateQcow2Options {
  /** Virtual size in bytes, a multiple of 512; defaults to the backing file's size. */
  size?: number;
  /** Power of two from 512 B to 2 MiB (default 64 KiB). */
  clusterSize?: number;
  backing?: { name: string; format?: string; size?: number };
  /** '1.1' (version 3, default) or '0.10' (version 2). */
  compat?: '0.10' | '1.1';
  /** Refcount width in bits: 1, 2, 4, 8, 16 (default), 32 or 64; version 2 allows only 16. */
  refcountBits?: number;
}

/** Writes an empty qcow2 image into `file` (whose previous contents are discarded). */
export async function createQcow2(file: BlockFile, options: CreateQcow2Options): Promise<void> {
  const cs = options.clusterSize ?? 65536;
  const clusterBits = Math.log2(cs);
  if (!Number.isInteger(clusterBits) || clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new BlockError('EINVAL', `cluster size must be a power of two from 512 to 2097152 bytes, not ${cs}`);
  }
  const size = options.size ?? options.backing?.size;
  if (size === undefined) throw new BlockError('EINVAL', 'an image size is needed (or a backing file to take it from)');
  if (!Number.isSafeInteger(size) || size < 0 || size % 512 !== 0) {
    throw new BlockError('EINVAL', `image size must be a multiple of 512 bytes, not ${size}`);
  }
  const version = options.compat === '0.10' ? 2 : 3;
  const refcountBits = options.refcountBits ?? 16;
  const order = Math.log2(refcountBits);
  if (!Number.isInteger(order) || order < 0 || order > 6) {
    throw new BlockError('EINVAL', `refcount bits must be a power of two from 1 to 64, not ${refcountBits}`);
  }
  if (version === 2 && order !== 4) throw new BlockError('EINVAL', 'compat 0.10 images only support 16-bit refcounts');
  if (options.backing?.format !== undefined && !/^[a-z0-9_-]{1,16}$/i.test(options.backing.format)) {
    throw new BlockError('EINVAL', `invalid backing format name '${options.backing.format}'`);
  }

  const l2Entries = cs / 8;
  const l1Size = Math.ceil(size / (cs * l2Entries));
  if (l1Size * 8 > MAX_L1_BYTES) throw new BlockError('EINVAL', `image size ${size} is too large for ${cs}-byte clusters`);
  const l1Clusters = Math.ceil((l1Size * 8) / cs);
  const blockEntries = (cs * 8) / refcountBits;
  // Refcount table (T clusters) and blocks (B) must count themselves too: iterate to a fixed point.
  let blocks = 1;
  let tableClusters = 1;
  for (let i = 0; i < 64; i++) {
    const meta = 1 + tableClusters + blocks + l1Clusters;
    const b = Math.ceil(meta / blockEntries);
    const t = Math.max(1, Math.ceil((b * 8) / cs));
    if (b === blocks && t === tableClusters) break;
    blocks = b;
    tableClusters = t;
  }
  if (tableClusters * cs > MAX_REFCOUNT_TABLE_BYTES) throw new BlockError('EINVAL', `image size ${size} needs too much metadata`);
  const tableOffset = cs;
  const blocksOffset = tableOffset + tableClusters * cs;
  const l1Offset = blocksOffset + blocks * cs;
  const metaClusters = 1 + tableClusters + blocks + l1Clusters;

  const header: Qcow2Header = {
    version,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits,
    size,
    cryptMethod: 0,
    l1Size,
    l1TableOffset: l1Offset,
    refcountTableOffset: tableOffset,
    refcountTableClusters: tableClusters,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: order,
    headerLength: 0,
    compressionType: 0,
    extraHeader: new Uint8Array(0),
    backingFile: options.backing?.name,
    backingFormat: options.backing?.format,
    featureNames: version === 3 ? [...OUR_FEATURE_NAMES] : [],
    otherExtensions: [],
  };
  const first = encodeHeader(header);

  const table = new Uint8Array(tableClusters * cs);
  const tv = new DataView(table.buffer);
  for (let b = 0; b < blocks; b++) writeU64(tv, b * 8, blocksOffset + b * cs);
  const refBlocks = new Uint8Array(blocks * cs);
  const rv = new DataView(refBlocks.buffer);
  for (let c = 0; c < metaClusters; c++) setRefcount(refBlocks, rv, order, c, 1);

  await file.truncate(0);
  await file.write(0, first);
  await file.write(tableOffset, table);
  await file.write(blocksOffset, refBlocks);
  // The L1 table is all zeroes: extending the file provides them (sparse where the host allows).
  await file.truncate(l1Offset + l1Size * 8);
  await file.flush();
}

/** Sets refcount `i` (counting across consecutive blocks) in `buf` for refcount order `order`. */
function setRefcount(buf: Uint8Array, view: DataView, order: number, i: number, v: number): void {
  switch (order) {
    case 0:
      buf[i >>> 3] |= v << (i & 7);
      return;
    case 1:
      buf[i >>> 2] |= v << ((i & 3) << 1);
      return;
    case 2:
      buf[i >>> 1] |= v << ((i & 1) << 2);
      return;
    case 3:
      buf[i] = v;
      return;
    case 4:
      view.setUint16(i * 2, v);
      return;
    case 5:
      view.setUint32(i * 4, v);
      return;
    default:
      writeU64(view, i * 8, v);
  }
}
