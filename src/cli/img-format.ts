/**
 * Text for `tsvm img`: size parsing (qemu-img's K/M/G/T/P/E suffixes), human-readable sizes, and
 * the `info`, `check` and `snapshot -l` reports in qemu-img's layout (human and JSON).
 */

import type { CheckResult, ImageInfo, SnapshotInfo } from '../block/index.js';

const SUFFIXES = 'kmgtpe';

/**
 * Parses a size like 512, 64K, 10G, 1.5T (powers of 1024, case-insensitive; 'B' suffix allowed).
 * Returns undefined when malformed, not a whole number of bytes, or too large.
 */
export function parseSize(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)([kKmMgGtTpPeE]?)[bB]?$/.exec(text);
  if (m === null) return undefined;
  const unit = m[2] === '' ? 1 : 1024 ** (SUFFIXES.indexOf(m[2].toLowerCase()) + 1);
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value)) return undefined;
  return value;
}

/** "196 KiB", "44.8 MiB", "1 GiB": three significant digits, binary units (as qemu-img prints). */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const text = v >= 100 ? Math.round(v).toString() : String(Number(v.toPrecision(3)));
  return `${text} ${units[u]}`;
}

/** One image's info plus what only the host knows (its allocated size on disk). */
export interface InfoEntry {
  readonly info: ImageInfo;
  readonly filename: string;
  readonly actualSize: number | undefined;
  readonly fullBackingFilename: string | undefined;
}

export function infoJson(e: InfoEntry): Record<string, unknown> {
  const i = e.info;
  const out: Record<string, unknown> = {};
  if (i.backingFormat !== undefined) out['backing-filename-format'] = i.backingFormat;
  out['virtual-size'] = i.virtualSize;
  out.filename = e.filename;
  if (i.clusterSize !== undefined) out['cluster-size'] = i.clusterSize;
  out.format = i.format;
  if (e.actualSize !== undefined) out['actual-size'] = e.actualSize;
  if (i.snapshots.length > 0) out.snapshots = i.snapshots.map(snapshotJson);
  if (i.qcow2 !== undefined) {
    const q = i.qcow2;
    // qemu-img lists fewer fields for compat 0.10 images (no lazy refcounts, corrupt bit, extended L2).
    const v3 = q.compat === '1.1';
    out['format-specific'] = {
      type: 'qcow2',
      data: {
        compat: q.compat,
        'compression-type': q.compressionType,
        ...(v3 ? { 'lazy-refcounts': q.lazyRefcounts } : {}),
        'refcount-bits': q.refcountBits,
        ...(v3 ? { corrupt: q.corrupt, 'extended-l2': q.extendedL2 } : {}),
      },
    };
  }
  if (i.backingFilename !== undefined) {
    out['full-backing-filename'] = e.fullBackingFilename ?? i.backingFilename;
    out['backing-filename'] = i.backingFilename;
  }
  out['dirty-flag'] = i.dirty;
  return out;
}

function snapshotJson(s: SnapshotInfo): Record<string, unknown> {
  return {
    'icount': 0,
    'vm-clock-nsec': s.vmClockNs % 1e9,
    name: s.name,
    'date-sec': s.dateSeconds,
    'date-nsec': s.dateNanoseconds,
    'vm-clock-sec': Math.floor(s.vmClockNs / 1e9),
    id: s.id,
    'vm-state-size': s.vmStateSize,
  };
}

export function infoHuman(e: InfoEntry): string {
  const i = e.info;
  const lines = [
    `image: ${e.filename}`,
    `file format: ${i.format}`,
    `virtual size: ${humanSize(i.virtualSize)} (${i.virtualSize} bytes)`,
    `disk size: ${e.actualSize === undefined ? 'unavailable' : humanSize(e.actualSize)}`,
  ];
  if (i.clusterSize !== undefined) lines.push(`cluster_size: ${i.clusterSize}`);
  if (i.backingFilename !== undefined) {
    const full = e.fullBackingFilename;
    lines.push(`backing file: ${i.backingFilename}${full !== undefined && full !== i.backingFilename ? ` (actual path: ${full})` : ''}`);
    if (i.backingFormat !== undefined) lines.push(`backing file format: ${i.backingFormat}`);
  }
  if (i.dirty) lines.push('dirty flag: true');
  if (i.snapshots.length > 0) lines.push(...snapshotTable(i.snapshots));
  if (i.qcow2 !== undefined) {
    const q = i.qcow2;
    lines.push('Format specific information:', `    compat: ${q.compat}`, `    compression type: ${q.compressionType}`);
    if (q.compat === '1.1') lines.push(`    lazy refcounts: ${q.lazyRefcounts}`);
    lines.push(`    refcount bits: ${q.refcountBits}`);
    if (q.compat === '1.1') lines.push(`    corrupt: ${q.corrupt}`, `    extended l2: ${q.extendedL2}`);
  }
  return lines.join('\n') + '\n';
}

/** The "Snapshot list:" table of `snapshot -l` and `info`. */
export function snapshotTable(snapshots: readonly SnapshotInfo[]): string[] {
  const lines = ['Snapshot list:', 'ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT'];
  for (const s of snapshots) {
    const date = new Date(s.dateSeconds * 1000);
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const dateText = `${date.getFullYear()}-${p2(date.getMonth() + 1)}-${p2(date.getDate())} ${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())}`;
    const ms = Math.floor(s.vmClockNs / 1e6);
    const clock = `${p2(Math.floor(ms / 3600000))}:${p2(Math.floor(ms / 60000) % 60)}:${p2(Math.floor(ms / 1000) % 60)}.${String(ms % 1000).padStart(3, '0')}`;
    const vmSize = s.vmStateSize === 0 ? '0 B' : humanSize(s.vmStateSize);
    lines.push(`${s.id.padEnd(10)}${s.name.padEnd(18)}${vmSize.padStart(7)} ${dateText} ${clock.padStart(12)} ${'0'.padStart(10)}`);
  }
  return lines;
}

/** `check` output, human form (qemu-img's wording). */
export function checkHuman(r: CheckResult, repaired: CheckResult | undefined): string {
  const lines: string[] = [...r.messages];
  const final = repaired ?? r;
  if (repaired !== undefined) {
    if (lines.length > 0) lines.push('');
    lines.push(
      'The following inconsistencies were found and repaired:',
      '',
      `    ${r.leaksFixed} leaked clusters`,
      `    ${r.corruptionsFixed} corruptions`,
      '',
      'Double checking the fixed image now...',
      ...repaired.messages,
    );
  }
  const leaks = final.leaks - final.leaksFixed;
  const corruptions = final.corruptions - final.corruptionsFixed;
  if (corruptions === 0 && leaks === 0) {
    lines.push('No errors were found on the image.');
  } else {
    if (lines.length > 0) lines.push('');
    if (corruptions > 0) {
      lines.push(
        `${corruptions} errors were found on the image.`,
        'Data may be corrupted, or further writes to the image may corrupt it.',
      );
    }
    if (leaks > 0) {
      if (corruptions > 0) lines.push('');
      lines.push(`${leaks} leaked clusters were found on the image.`, 'This means waste of disk space, but no harm to data.');
    }
  }
  if (final.totalClusters > 0 && final.allocatedClusters > 0) {
    const pct = (n: number): string => ((100 * n) / final.totalClusters).toFixed(2);
    const alloc = final.allocatedClusters;
    lines.push(
      `${alloc}/${final.totalClusters} = ${pct(alloc)}% allocated, ${alloc > 0 ? ((100 * final.fragmentedClusters) / alloc).toFixed(2) : '0.00'}% fragmented, ${alloc > 0 ? ((100 * final.compressedClusters) / alloc).toFixed(2) : '0.00'}% compressed clusters`,
    );
  }
  lines.push(`Image end offset: ${final.imageEndOffset}`);
  return lines.join('\n') + '\n';
}

export function checkJson(filename: string, r: CheckResult, repaired: CheckResult | undefined): Record<string, unknown> {
  const final = repaired ?? r;
  const out: Record<string, unknown> = {
    'image-end-offset': final.imageEndOffset,
    'total-clusters': final.totalClusters,
    'check-errors': 0,
    'allocated-clusters': final.allocatedClusters,
    filename,
    format: final.format,
    'fragmented-clusters': final.fragmentedClusters,
    'compressed-clusters': final.compressedClusters,
  };
  const leaks = final.leaks - final.leaksFixed;
  const corruptions = final.corruptions - final.corruptionsFixed;
  if (leaks > 0) out.leaks = leaks;
  if (corruptions > 0) out.corruptions = corruptions;
  if (r.leaksFixed > 0) out['leaks-fixed'] = r.leaksFixed;
  if (r.corruptionsFixed > 0) out['corruptions-fixed'] = r.corruptionsFixed;
  return out;
}
