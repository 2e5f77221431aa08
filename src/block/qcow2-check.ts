/**
 * Consistency check and repair of qcow2 images, in the manner of `qemu-img check`: count every
 * reference to every host cluster (header, L1 tables of the image and its snapshots, L2 tables,
 * data and compressed clusters, refcount table and blocks, snapshot table, bitmaps) and compare with
 * the stored refcounts.
 *
 * - leak: stored refcount > references (wasted space, harmless); repaired by 'leaks' and 'all'.
 * - corruption: stored refcount < references (a write could reuse a cluster in use), entries that
 *   are misaligned, have reserved bits, point past the end of the file, or COPIED flags that
 *   disagree with refcounts; 'all' repairs refcounts and COPIED flags, and then clears the dirty
 *   and corrupt bits. Invalid table entries are reported, not repaired.
 */

import { BlockError } from './backend.js';
import type { Image } from './image.js';
import {
  AUTOCLEAR_BITMAPS,
  ENTRY_COMPRESSED_HI,
  ENTRY_COPIED_HI,
  ENTRY_OFFSET_HI,
  ENTRY_RESERVED_LO,
  EXT_BITMAPS,
  L1_RESERVED_HI,
  L2_RESERVED_HI,
  L2_ZERO_LO,
  readU64,
} from './qcow2-format.js';
import { Qcow2Image } from './qcow2.js';

export interface CheckOptions {
  /** Repair leaked clusters only, or everything repairable. The image must be open writable. */
  repair?: 'leaks' | 'all';
}

export interface CheckResult {
  readonly format: 'raw' | 'qcow2';
  /** Whether the format supports checking (raw does not). */
  readonly supported: boolean;
  /** Corruptions found, and how many of them were repaired. */
  readonly corruptions: number;
  readonly corruptionsFixed: number;
  /** Leaked clusters found, and how many were repaired. */
  readonly leaks: number;
  readonly leaksFixed: number;
  /** One line per finding or repair, as qemu-img prints them. */
  readonly messages: readonly string[];
  /** Guest clusters of the virtual disk, and those allocated in this image (active L1). */
  readonly totalClusters: number;
  readonly allocatedClusters: number;
  readonly fragmentedClusters: number;
  readonly compressedClusters: number;
  /** Offset just past the last cluster in use. */
  readonly imageEndOffset: number;
}

/** Guard against absurd file sizes: the reference counts are held in memory, 4 bytes per cluster. */
const MAX_CHECK_CLUSTERS = 2 ** 27;

/** Checks `image` (and repairs with `options.repair`). Raw images report `supported: false`. */
export async function check(image: Image, options: CheckOptions = {}): Promise<CheckResult> {
  if (!(image instanceof Qcow2Image)) {
    return {
      format: 'raw',
      supported: false,
      corruptions: 0,
      corruptionsFixed: 0,
      leaks: 0,
      leaksFixed: 0,
      messages: [],
      totalClusters: 0,
      allocatedClusters: 0,
      fragmentedClusters: 0,
      compressedClusters: 0,
      imageEndOffset: 0,
    };
  }
  if (options.repair !== undefined && image.readOnly) {
    throw new BlockError('EREADONLY', `${image.file.name}: repairing needs the image open for writing`);
  }
  return image.exclusively(() => checkLocked(image, options));
}

async function checkLocked(image: Qcow2Image, options: CheckOptions): Promise<CheckResult> {
  const file = image.file;
  const h = image.header;
  const cs = image.clusterSize;
  const l2Entries = image.l2Entries;
  if (!image.readOnly) await image.flushMetadata();
  const fileSize = await image.refreshFileEnd();
  const nClusters = Math.ceil(fileSize / cs);
  if (nClusters > MAX_CHECK_CLUSTERS) {
    throw new BlockError('EUNSUPPORTED', `${file.name}: the file has too many clusters (${nClusters}) to check in memory`);
  }
  const rc = await image.loadRefcounts();
  const refs = new Uint32Array(nClusters);
  const messages: string[] = [];
  let corruptions = 0;
  let corruptionsFixed = 0;
  let leaks = 0;
  let leaksFixed = 0;
  let allocated = 0;
  let fragmented = 0;
  let compressed = 0;
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const error = (msg: string): void => {
    corruptions++;
    messages.push(`ERROR ${msg}`);
  };

  /** Counts a reference to each cluster of [offset, offset + bytes). */
  const ref = (offset: number, bytes: number, what: string): void => {
    if (bytes <= 0) return;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + bytes - 1) / cs);
    for (let c = first; c <= last; c++) {
      if (c >= nClusters) {
        error(`${what} at ${hex(c * cs)} is past the end of the image file`);
        return;
      }
      refs[c]++;
    }
  };

  const table = new Uint8Array(cs);
  const tview = new DataView(table.buffer);
  /** Reads a cluster-sized table at `offset` into `table`; false (and an error) if impossible. */
  const readTable = async (offset: number, what: string): Promise<boolean> => {
    if (offset + cs > fileSize) {
      error(`${what} at ${hex(offset)} is past the end of the image file`);
      return false;
    }
    let done = 0;
    while (done < cs) {
      const n = await file.read(offset + done, table.subarray(done));
      if (n <= 0) break;
      done += n;
    }
    if (done < cs) {
      error(`${what} at ${hex(offset)} is truncated`);
      return false;
    }
    return true;
  };

  /** L2 offset in an L1 entry: 0 none, -1 invalid (reported). */
  const l1Offset = (view: DataView, i: number, label: string): number => {
    const hi = view.getUint32(i * 8);
    const lo = view.getUint32(i * 8 + 4);
    if (hi === 0 && lo === 0) return 0;
    const o = (hi & ENTRY_OFFSET_HI) * 0x100000000 + (lo - (lo & 0x1ff));
    if (hi & L1_RESERVED_HI || hi & 0x00e00000 || lo & 0x1ff || o % cs !== 0 || o === 0) {
      error(`${label} L1 entry ${i} is invalid (${hex(hi)}${lo.toString(16).padStart(8, '0')})`);
      return -1;
    }
    return o;
  };

  /** Walks the L2 tables of an L1 table, counting references. */
  const walkL1 = async (l1: Uint8Array, label: string, active: boolean): Promise<void> => {
    const view = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
    const n = l1.length / 8;
    let prevHost = -1;
    for (let i = 0; i < n; i++) {
      const off = l1Offset(view, i, label);
      if (off <= 0) continue;
      ref(off, cs, 'L2 table');
      if (!(await readTable(off, 'L2 table'))) continue;
      for (let idx = 0; idx < l2Entries; idx++) {
        const hi = tview.getUint32(idx * 8);
        const lo = tview.getUint32(idx * 8 + 4);
        if (hi === 0 && lo === 0) continue;
        const guest = hex((i * l2Entries + idx) * cs);
        if (hi & ENTRY_COMPRESSED_HI) {
          if (hi & ENTRY_COPIED_HI) error(`compressed cluster for guest offset ${guest} has the COPIED flag`);
          const offsetBits = 70 - h.clusterBits - 32;
          const offHi = hi & ((1 << offsetBits) - 1);
          const coff = offHi * 0x100000000 + lo;
          const sectors = ((hi >>> offsetBits) & ((1 << (h.clusterBits - 8)) - 1)) + 1;
          const csize = sectors * 512 - (coff & 511);
          if (coff >= fileSize) {
            error(`compressed cluster for guest offset ${guest} at ${hex(coff)} is past the end of the image file`);
            continue;
          }
          ref(coff, csize, 'compressed cluster');
          if (active) {
            allocated++;
            compressed++;
          }
          continue;
        }
        if (hi & L2_RESERVED_HI || lo & ENTRY_RESERVED_LO || hi & 0x00e00000) {
          error(`L2 entry for guest offset ${guest} has reserved bits set`);
          continue;
        }
        const host = (hi & ENTRY_OFFSET_HI) * 0x100000000 + (lo - (lo & 0x1ff));
        const zero = (lo & L2_ZERO_LO) !== 0;
        if (zero && h.version === 2) {
          error(`L2 entry for guest offset ${guest} has the zero flag in a version 2 image`);
          continue;
        }
        if (host === 0) {
          if (!zero) error(`L2 entry for guest offset ${guest} has the COPIED flag but no offset`);
          continue;
        }
        if (host % cs !== 0) {
          error(`L2 entry for guest offset ${guest}: offset ${hex(host)} is not cluster-aligned`);
          continue;
        }
        if (host >= fileSize) {
          error(`L2 entry for guest offset ${guest}: data cluster at ${hex(host)} is past the end of the image file`);
          continue;
        }
        ref(host, cs, 'data cluster');
        if (active && !zero) {
          allocated++;
          if (prevHost >= 0 && host !== prevHost + cs) fragmented++;
          prevHost = host;
        }
      }
    }
  };

  // Header cluster, active L1 table and its tables.
  ref(0, cs, 'header');
  ref(h.l1TableOffset, h.l1Size * 8, 'L1 table');
  await walkL1(image.l1Table(), 'active', true);

  // Internal snapshots: the table, each L1 table and everything below.
  if (h.nbSnapshots > 0) ref(h.snapshotsOffset, image.snapshotTableBytes, 'snapshot table');
  for (const s of image.snapshots) {
    ref(s.l1TableOffset, s.l1Size * 8, `snapshot ${s.id} L1 table`);
    if (s.l1TableOffset + s.l1Size * 8 > fileSize) continue;
    const l1 = new Uint8Array(s.l1Size * 8);
    await file.read(s.l1TableOffset, l1);
    await walkL1(l1, `snapshot ${s.id}`, false);
  }

  // Refcount table and blocks.
  const [rtOffset, rtClusters] = rc.tableLocation();
  ref(rtOffset, rtClusters * cs, 'refcount table');
  for (let b = 0; b < rc.tableEntries; b++) {
    const off = rc.blockOffset(b);
    if (off === 0) continue;
    if (off < 0) {
      error(`refcount table entry ${b} is invalid`);
      continue;
    }
    ref(off, cs, 'refcount block');
  }

  // Persistent dirty bitmaps (we never write them, but their clusters are in use). Once a writer
  // that does not maintain them has cleared the autoclear bit, QEMU ignores them, and so do we.
  const bitmaps = h.otherExtensions.find((e) => e.type === EXT_BITMAPS);
  if (bitmaps !== undefined && bitmaps.data.length >= 24 && (h.autoclearFeatures & AUTOCLEAR_BITMAPS) !== 0n) {
    await countBitmaps(file, bitmaps.data, cs, fileSize, ref, error);
  }

  // Compare with the stored refcounts.
  const seen = new Uint8Array(nClusters);
  const leaked: [number, number][] = [];
  const tooLow: number[] = [];
  let imageEnd = 0;
  for (let b = 0; b < rc.tableEntries; b++) {
    if (rc.blockOffset(b) <= 0) continue;
    try {
      await rc.forEachInBlock(b, (c, stored) => {
        const r = c < nClusters ? refs[c] : 0;
        if (c < nClusters) seen[c] = 1;
        if ((c + 1) * cs > imageEnd) imageEnd = (c + 1) * cs;
        if (stored > r) {
          leaked.push([c, stored]);
        } else if (stored < r) {
          tooLow.push(c);
        }
      });
    } catch (e) {
      if (!(e instanceof BlockError)) throw e;
      error(`refcount block ${b} cannot be read (${e.message})`);
    }
  }
  for (let c = 0; c < nClusters; c++) {
    if (refs[c] > 0 && !seen[c]) tooLow.push(c);
    if (refs[c] > 0 && (c + 1) * cs > imageEnd) imageEnd = (c + 1) * cs;
  }
  tooLow.sort((a, b) => a - b);
  const repairLeaks = options.repair !== undefined;
  const repairAll = options.repair === 'all';
  if (repairAll) rc.isReserved = (c) => c < nClusters && refs[c] > 0;
  try {
    for (const [c, stored] of leaked) {
      const r = c < nClusters ? refs[c] : 0;
      leaks++;
      if (repairLeaks) {
        messages.push(`Repairing cluster ${c} refcount=${stored} reference=${r}`);
        await rc.set(c, r);
        leaksFixed++;
      } else {
        messages.push(`Leaked cluster ${c} refcount=${stored} reference=${r}`);
      }
    }
    for (const c of tooLow) {
      const stored = await rc.get(c);
      const r = refs[c];
      if (r > rc.maxRefcount) {
        error(`cluster ${c} has ${r} references, more than refcount_bits=${2 ** rc.order} can count`);
        continue;
      }
      if (repairAll) {
        messages.push(`Repairing cluster ${c} refcount=${stored} reference=${r}`);
        await rc.set(c, r);
        corruptions++;
        corruptionsFixed++;
      } else {
        error(`cluster ${c} refcount=${stored} reference=${r}`);
      }
    }

    // COPIED flags of the active tables: set exactly when the refcount is one.
    const l1 = image.l1Table();
    const l1v = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
    for (let i = 0; i < h.l1Size; i++) {
      const hi = l1v.getUint32(i * 8);
      const lo = l1v.getUint32(i * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      const off = (hi & ENTRY_OFFSET_HI) * 0x100000000 + (lo - (lo & 0x1ff));
      if (hi & L1_RESERVED_HI || lo & 0x1ff || off % cs !== 0 || off === 0 || off + cs > fileSize) continue;
      const want = (await rc.get(off / cs)) === 1;
      if (((hi & ENTRY_COPIED_HI) !== 0) !== want) {
        if (repairAll) {
          messages.push(`Repairing OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex(off)} refcount=${want ? 1 : 'not 1'}`);
          image.patchL1Copied(i, want);
          corruptions++;
          corruptionsFixed++;
        } else {
          error(`OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex(off)} refcount=${await rc.get(off / cs)}`);
        }
      }
      if (!(await readTable(off, 'L2 table'))) continue;
      const fixes: [number, number, number][] = [];
      for (let idx = 0; idx < l2Entries; idx++) {
        const ehi = tview.getUint32(idx * 8);
        const elo = tview.getUint32(idx * 8 + 4);
        if (ehi & ENTRY_COMPRESSED_HI || ehi & L2_RESERVED_HI || elo & ENTRY_RESERVED_LO || ehi & 0x00e00000) continue;
        const host = (ehi & ENTRY_OFFSET_HI) * 0x100000000 + (elo - (elo & 0x1ff));
        if (host === 0 || host % cs !== 0 || host >= fileSize) continue;
        const count = await rc.get(host / cs);
        const copied = (ehi & ENTRY_COPIED_HI) !== 0;
        if (copied === (count === 1)) continue;
        if (repairAll) {
          messages.push(`Repairing OFLAG_COPIED data cluster: l2_entry=${hex(host)} refcount=${count}`);
          fixes.push([idx, count === 1 ? (ehi | ENTRY_COPIED_HI) >>> 0 : ehi & ~ENTRY_COPIED_HI, elo]);
          corruptions++;
          corruptionsFixed++;
        } else {
          error(`OFLAG_COPIED data cluster: l2_entry=${hex(host)} refcount=${count}`);
        }
      }
      for (const [idx, nhi, nlo] of fixes) await image.patchL2Entry(off, idx, nhi, nlo);
    }

    if (repairLeaks) {
      await image.flushMetadata();
      if (repairAll && corruptions === corruptionsFixed) await image.clearDirtyAndCorrupt();
    }
  } finally {
    rc.isReserved = undefined;
  }

  return {
    format: 'qcow2',
    supported: true,
    corruptions,
    corruptionsFixed,
    leaks,
    leaksFixed,
    messages,
    totalClusters: Math.ceil(h.size / cs),
    allocatedClusters: allocated,
    fragmentedClusters: fragmented,
    compressedClusters: compressed,
    imageEndOffset: Math.max(imageEnd, cs),
  };
}

/** Counts the clusters of the bitmaps extension: directory, bitmap tables and bitmap data. */
async function countBitmaps(
  file: Image['file'],
  ext: Uint8Array,
  cs: number,
  fileSize: number,
  ref: (offset: number, bytes: number, what: string) => void,
  error: (msg: string) => void,
): Promise<void> {
  const ev = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  const count = ev.getUint32(0);
  const dirSize = readU64(ev, 8);
  const dirOffset = readU64(ev, 16);
  if (dirSize === undefined || dirOffset === undefined || dirSize > 64 * 1024 * 1024 || dirOffset + dirSize > fileSize) {
    error('the bitmaps extension points outside the image file');
    return;
  }
  ref(dirOffset, dirSize, 'bitmap directory');
  const dir = new Uint8Array(dirSize);
  await file.read(dirOffset, dir);
  const dv = new DataView(dir.buffer);
  let at = 0;
  for (let i = 0; i < count && at + 24 <= dirSize; i++) {
    const tableOffset = readU64(dv, at);
    const tableSize = dv.getUint32(at + 8);
    const nameSize = dv.getUint16(at + 18);
    const extra = dv.getUint32(at + 20);
    at = (at + 24 + extra + nameSize + 7) & ~7;
    if (tableOffset === undefined || tableOffset + tableSize * 8 > fileSize) {
      error(`bitmap ${i} table is past the end of the image file`);
      continue;
    }
    ref(tableOffset, tableSize * 8, 'bitmap table');
    const t = new Uint8Array(tableSize * 8);
    await file.read(tableOffset, t);
    const tv = new DataView(t.buffer);
    for (let k = 0; k < tableSize; k++) {
      const hi = tv.getUint32(k * 8);
      const lo = tv.getUint32(k * 8 + 4);
      const off = (hi & ENTRY_OFFSET_HI) * 0x100000000 + (lo - (lo & 0x1ff));
      if (off !== 0) ref(off, cs, 'bitmap data');
    }
  }
}
