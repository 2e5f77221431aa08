/**
 * Named snapshots of a VM, memory and disks together, kept in the VM's snapshot directory
 * (snapshot-tree.ts describes its `snapshots.json`). Disks are frozen through qcow2 overlays:
 *
 *   take A     the machine is stopped and its disks drained and flushed; the memory state goes to
 *              A.tsnap; each writable disk's live image is frozen (nothing writes it again) and a
 *              new empty overlay `<dev>.since-A.qcow2` over it becomes the live image, switched
 *              under the running disk device (SwitchableBackend) without the guest noticing.
 *   revert A   a new overlay over A's frozen images becomes the live image, and the memory state
 *              of A.tsnap is restored: memory and disks are those of the instant A was taken.
 *              The previous live overlay (writes since the last take or revert) is deleted.
 *   delete A   A's memory state goes; A's children take A's parent; images that nothing needs
 *              any more (no snapshot, no live disk, no clone, no backing chain of those) are
 *              deleted, the others stay.
 *   clone A    (cloneSnapshot) a new directory holding an overlay per disk over A's frozen images
 *              and a copy of A's memory state, as a snapshot directory of its own whose current
 *              snapshot is A; the source pins the frozen images the clone needs.
 *
 * Each operation runs under the directory's lock, re-reads the metadata (other processes may
 * have changed it: a clone pins images, an offline delete), checks that it still describes the
 * images this VM runs on, and writes it back atomically before deleting any file, so a crash
 * leaves at worst an unreferenced file, never a reference to a missing one.
 *
 * Files, locks and image opening are injected (SnapshotDirHost): no Node imports here.
 */

import { SwitchableBackend } from '../block/switchable.js';
import type { BlockBackend } from '../block/backend.js';
import type { Image, ImageFormat } from '../block/image.js';
import { quiesceMachine, restoreMachineFromFile, saveMachine, type SnapshottableMachine } from './machine-state.js';
import { SnapshotError, writeSnapshot, type SnapshotCompression } from './snapshot.js';
import {
  collectGarbage, emptyMetadata, findSnapshot, isOwnedRef, liveImageOf, parseMetadata, removeSnapshot, serializeMetadata,
  SNAPSHOT_METADATA_FILE, SNAPSHOT_TAG_PATTERN, type SnapshotMetadata, type SnapshotRecord, type VmDiskRecord,
} from './snapshot-tree.js';

/** The host services a snapshot directory needs. Node: src/monitor/snapshot-dir.ts. */
export interface SnapshotDirHost {
  /** The directory (absolute), for messages. */
  readonly dir: string;
  /** The host path of an image reference (an owned file name lies in the directory). */
  pathOf(ref: string): string;
  /** The text of snapshots.json, or undefined when there is none. */
  readMetadata(): Promise<string | undefined>;
  /** Replaces snapshots.json atomically (temporary file, then rename), creating the directory. */
  writeMetadata(text: string): Promise<void>;
  readFile(name: string): Promise<Uint8Array>;
  /** Writes a file of the directory atomically, creating the directory. */
  writeFile(name: string, bytes: Uint8Array): Promise<void>;
  fileExists(name: string): Promise<boolean>;
  /** Removes a file of the directory; a missing file is not an error. */
  removeFile(name: string): Promise<void>;
  /** Creates the empty qcow2 image `file` in the directory over `backing` (its name written as given). */
  createOverlay(file: string, backing: { ref: string; format: ImageFormat | undefined }, size: number): Promise<void>;
  /** Opens an image with its backing chain. */
  openImage(ref: string, options: { readOnly: boolean; format?: ImageFormat }): Promise<Image>;
  /** Marks a frozen image read-only on the host (best effort). */
  freeze(ref: string): Promise<void>;
  /** Whether a clone's directory (absolute) still exists as a snapshot directory. */
  cloneExists(dir: string): Promise<boolean>;
  /** Exclusive access to the metadata among processes; resolves to the release function. */
  lock(): Promise<() => Promise<void>>;
  nowMs(): number;
}

/** A disk of the VM as the run asks for it. */
export interface DiskRequest {
  /** The image given by the user (absolute path), or an owned file of the directory. */
  origin: string;
  format?: ImageFormat;
  readOnly: boolean;
}

/** What to open for a disk: the directory may redirect a frozen origin to its live overlay. */
export interface PlannedDisk {
  device: string;
  origin: string;
  /** The image to open (a reference: owned name or absolute path). */
  ref: string;
  format: ImageFormat | undefined;
  /** The origin's format, when known before opening it. */
  originFormat: ImageFormat | undefined;
  readOnly: boolean;
}

/** A disk of a running VM, as the snapshot manager drives it. */
export interface LiveDisk {
  device: string;
  origin: string;
  readOnly: boolean;
  /** The device's backend; its current image is the open image of `ref`. */
  backend: SwitchableBackend;
  ref: string;
  /** The format of the origin (raw or qcow2); live overlays are qcow2. */
  originFormat: ImageFormat;
}

/** One snapshot as `info snapshots` shows it. */
export interface SnapshotSummary {
  tag: string;
  parent: string | null;
  vmStateSize: number;
  dateMs: number;
  vmClockNs: number;
}

/** The device name of the i-th virtio-blk disk (vda, vdb, ...). */
export function diskDeviceName(index: number): string {
  return index < 26 ? `vd${String.fromCharCode(97 + index)}` : `vd${String.fromCharCode(96 + Math.floor(index / 26))}${String.fromCharCode(97 + (index % 26))}`;
}

/** Reads and validates a directory's metadata; undefined when it has none. */
export async function loadMetadata(host: SnapshotDirHost): Promise<SnapshotMetadata | undefined> {
  const text = await host.readMetadata();
  if (text === undefined) return undefined;
  return parseMetadata(text, `${host.dir}/${SNAPSHOT_METADATA_FILE}`);
}

/**
 * Decides which image each disk opens. `requests` undefined: the directory's own disks (a clone,
 * or `--snapshot-dir DIR` without `--disk`). Otherwise the requests must be the disks the
 * directory records (same origins, in order); a frozen origin is replaced by its live overlay.
 */
export async function planVmDisks(host: SnapshotDirHost, requests: readonly DiskRequest[] | undefined): Promise<PlannedDisk[]> {
  const meta = await loadMetadata(host);
  if (requests === undefined) {
    if (meta === undefined) throw new SnapshotError('ENOENT', `${host.dir} is not a snapshot directory (it has no ${SNAPSHOT_METADATA_FILE})`);
    return meta.disks.map((d) => planned(d));
  }
  if (meta === undefined || meta.disks.length === 0) {
    return requests.map((r, i) => ({
      device: diskDeviceName(i), origin: r.origin, ref: r.origin, format: r.format, originFormat: r.format, readOnly: r.readOnly,
    }));
  }
  const describe = (list: readonly { origin: string; readOnly: boolean }[]): string =>
    list.map((d) => `${d.origin}${d.readOnly ? ' (read-only)' : ''}`).join(', ') || 'none';
  const same = meta.disks.length === requests.length &&
    meta.disks.every((d, i) => d.origin === requests[i].origin && d.readOnly === requests[i].readOnly);
  if (!same) {
    throw new SnapshotError('EDISKS', `the snapshot directory ${host.dir} belongs to a VM with the disks ${describe(meta.disks)}, ` +
      `not ${describe(requests)}: give the same --disk options, or another --snapshot-dir`);
  }
  return meta.disks.map((d) => planned(d));
}

function planned(d: VmDiskRecord): PlannedDisk {
  return {
    device: d.device, origin: d.origin, ref: liveImageOf(d), format: d.top === null ? d.format : 'qcow2', originFormat: d.format,
    readOnly: d.readOnly,
  };
}

/** The snapshots of a directory with their tree links (empty when it has no metadata). */
export async function listSnapshots(host: SnapshotDirHost): Promise<SnapshotSummary[]> {
  const meta = await loadMetadata(host);
  if (meta === undefined) return [];
  return [...meta.snapshots].sort((a, b) => a.createdMs - b.createdMs).map(summary);
}

function summary(s: SnapshotRecord): SnapshotSummary {
  return { tag: s.tag, parent: s.parent, vmStateSize: s.vmStateSize, dateMs: s.createdMs, vmClockNs: s.vmClockNs };
}

/**
 * Deletes a snapshot of a directory no VM is using (`tsvm snapshot delete`); a running VM deletes
 * through its VmSnapshots. Images still needed stay.
 */
export async function deleteSnapshotOffline(host: SnapshotDirHost, tag: string): Promise<void> {
  await transaction(host, async (meta) => {
    const snap = removeSnapshot(meta, tag);
    await pruneClones(host, meta);
    return { garbage: [snap.vmState, ...collectGarbage(meta)] };
  });
}

/**
 * Runs `update` on the metadata under the directory's lock and saves it; then deletes the files
 * `update` returned as garbage (after the save: a crash leaves stray files, never dangling names).
 */
async function transaction<T extends { garbage: string[] }>(
  host: SnapshotDirHost,
  update: (meta: SnapshotMetadata, existed: boolean) => Promise<T>,
): Promise<T> {
  const unlock = await host.lock();
  try {
    const loaded = await loadMetadata(host);
    const meta = loaded ?? emptyMetadata();
    const result = await update(meta, loaded !== undefined);
    await host.writeMetadata(serializeMetadata(meta));
    for (const file of result.garbage) await host.removeFile(file);
    return result;
  } finally {
    await unlock();
  }
}

/** Drops clone pins whose clone directory is gone. */
async function pruneClones(host: SnapshotDirHost, meta: SnapshotMetadata): Promise<void> {
  const kept = [];
  for (const c of meta.clones) if (await host.cloneExists(c.dir)) kept.push(c);
  meta.clones = kept;
}

function checkTag(tag: string): void {
  if (!SNAPSHOT_TAG_PATTERN.test(tag)) {
    throw new SnapshotError('EINVAL', `snapshot name '${tag}' must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
}

/** A new owned file name `<base>.qcow2` (or `<base>.N.qcow2`) not in use. */
async function freshImageName(host: SnapshotDirHost, meta: SnapshotMetadata, base: string, taken: Set<string>): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? `${base}.qcow2` : `${base}.${n}.qcow2`;
    if (taken.has(name) || meta.images.some((im) => im.file === name) || await host.fileExists(name)) continue;
    taken.add(name);
    return name;
  }
}

/** A state file name for snapshot `tag` that no snapshot uses: `<tag>.tsnap`, else `<tag>.N.tsnap`. */
async function freshStateName(host: SnapshotDirHost, meta: SnapshotMetadata, tag: string): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? `${tag}.tsnap` : `${tag}.${n}.tsnap`;
    if (meta.snapshots.some((s) => s.vmState === name) || await host.fileExists(name)) continue;
    return name;
  }
}

/** The format of an image reference: owned images are qcow2; an origin has its recorded format. */
function formatOf(meta: SnapshotMetadata, ref: string): ImageFormat | undefined {
  if (isOwnedRef(ref)) return 'qcow2';
  return meta.disks.find((d) => d.origin === ref)?.format;
}

interface NewOverlay {
  disk: LiveDisk;
  file: string;
  backing: string;
  image: Image;
}

/** The snapshots of a running VM: take, revert, delete, list (see the top of this file). */
export class VmSnapshots {
  readonly host: SnapshotDirHost;
  private readonly compression: SnapshotCompression;
  private readonly disks: readonly LiveDisk[];

  constructor(host: SnapshotDirHost, compression: SnapshotCompression, disks: readonly LiveDisk[]) {
    this.host = host;
    this.compression = compression;
    this.disks = disks;
  }

  /** The VM runs on its disks from now on: a new clone's overlays are no longer unused. */
  async markRunning(): Promise<void> {
    const meta = await loadMetadata(this.host);
    if (meta === undefined || meta.unusedSince === null) return;
    await transaction(this.host, async (m) => {
      m.unusedSince = null;
      return { garbage: [] };
    });
  }

  async list(): Promise<SnapshotSummary[]> {
    return listSnapshots(this.host);
  }

  async has(tag: string): Promise<boolean> {
    const meta = await loadMetadata(this.host);
    return meta !== undefined && findSnapshot(meta, tag) !== undefined;
  }

  /**
   * Takes snapshot `tag` of the stopped machine. With `replace`, an existing snapshot of that name
   * is deleted first (as `savevm` does).
   */
  async take(machine: SnapshottableMachine, tag: string, options: { replace: boolean }): Promise<void> {
    checkTag(tag);
    await quiesceMachine(machine);
    let overlays: NewOverlay[] = [];
    let saved = false;
    let vmState = '';
    try {
      await transaction(this.host, async (meta, existed) => {
        this.adoptOrCheckDisks(meta, existed);
        const garbage: string[] = [];
        // A replaced snapshot's state file stays until the new one is recorded.
        vmState = await freshStateName(this.host, meta, tag);
        if (findSnapshot(meta, tag) !== undefined) {
          if (!options.replace) throw new SnapshotError('EEXIST', `snapshot '${tag}' already exists`);
          garbage.push(removeSnapshot(meta, tag).vmState);
        }
        const writable = this.disks.filter((d) => !d.readOnly);
        for (const d of writable) await d.backend.flush();
        const bytes = writeSnapshot(saveMachine(machine), this.compression);
        await this.host.writeFile(vmState, bytes);
        saved = true;
        overlays = await this.makeOverlays(meta, tag, writable.map((d) => ({ disk: d, backing: d.ref })));
        meta.snapshots.push({
          tag,
          parent: meta.current,
          createdMs: this.host.nowMs(),
          vmClockNs: Math.floor(machine.mtime()) * 100, // 10 MHz timebase: 100 ns a tick
          vmState,
          vmStateSize: bytes.length,
          disks: this.disks.map((d) => ({ device: d.device, image: d.ref })),
        });
        meta.current = tag;
        meta.unusedSince = null;
        this.adoptOverlays(meta, overlays);
        garbage.push(...collectGarbage(meta));
        return { garbage };
      });
    } catch (e) {
      // Nothing refers to what was made: the VM goes on on its images as before.
      await this.discardOverlays(overlays);
      if (saved) await this.host.removeFile(vmState).catch(() => undefined);
      throw e;
    }
    for (const o of overlays) await this.host.freeze(o.backing);
    await this.switchDisks(overlays);
  }

  /**
   * Reverts the stopped machine to snapshot `tag`: disks on new overlays over its frozen images,
   * memory and devices from its state file. `vmState` may hold the state file already read;
   * `ramIsZero` as for restoreMachineFromFile (a machine never booted).
   */
  async revert(machine: SnapshottableMachine, tag: string, options: { vmState?: Uint8Array; ramIsZero?: boolean } = {}): Promise<void> {
    checkTag(tag);
    await quiesceMachine(machine);
    let overlays: NewOverlay[] = [];
    let restored = false;
    try {
      await transaction(this.host, async (meta, existed) => {
        if (!existed) throw new SnapshotError('ENOENT', `there is no snapshot '${tag}' (${this.host.dir} has no snapshots)`);
        this.adoptOrCheckDisks(meta, existed);
        const snap = findSnapshot(meta, tag);
        if (snap === undefined) throw new SnapshotError('ENOENT', `there is no snapshot '${tag}'`);
        const frozen = this.disks.map((d) => {
          const image = snap.disks.find((x) => x.device === d.device)?.image;
          if (image === undefined) throw new SnapshotError('EDISKS', `snapshot '${tag}' was taken without disk ${d.device}`);
          return image;
        });
        let bytes = options.vmState;
        if (bytes === undefined) {
          try {
            bytes = await this.host.readFile(snap.vmState);
          } catch (cause) {
            throw new SnapshotError('ENOENT', `the memory state of snapshot '${tag}' (${snap.vmState}) cannot be read: ${(cause as Error).message}`, { cause });
          }
        }
        // A clone not yet run sits on fresh overlays made at this snapshot: use them as they are.
        const reuse = meta.unusedSince === tag && meta.current === tag;
        overlays = reuse ? [] : await this.makeOverlays(meta, tag,
          this.disks.flatMap((d, i) => (d.readOnly ? [] : [{ disk: d, backing: frozen[i] }])));
        // Validates everything before it changes the machine; a refusal leaves it as it was.
        restoreMachineFromFile(machine, bytes, this.compression, { ramIsZero: options.ramIsZero === true });
        restored = true;
        meta.current = tag;
        meta.unusedSince = null;
        this.adoptOverlays(meta, overlays);
        return { garbage: collectGarbage(meta) };
      });
    } catch (e) {
      if (restored) {
        // The memory is the snapshot's already: the disks must follow, whatever the metadata says.
        await this.switchDisks(overlays);
      } else {
        await this.discardOverlays(overlays);
      }
      throw e;
    }
    await this.switchDisks(overlays);
  }

  /** Deletes snapshot `tag`; images a child, a clone or the live disks need stay. */
  async delete(tag: string): Promise<void> {
    checkTag(tag);
    await transaction(this.host, async (meta, existed) => {
      if (!existed) throw new SnapshotError('ENOENT', `there is no snapshot '${tag}'`);
      this.adoptOrCheckDisks(meta, existed);
      const snap = removeSnapshot(meta, tag);
      await pruneClones(this.host, meta);
      return { garbage: [snap.vmState, ...collectGarbage(meta)] };
    });
  }

  /**
   * Records this VM's disks in a new metadata file, or checks that the file still describes the
   * images this VM runs on.
   */
  private adoptOrCheckDisks(meta: SnapshotMetadata, existed: boolean): void {
    if (!existed || (meta.disks.length === 0 && meta.snapshots.every((s) => s.disks.length === 0))) {
      meta.disks = this.disks.map((d) => ({
        device: d.device, origin: d.origin, format: d.originFormat, readOnly: d.readOnly, top: d.ref === d.origin ? null : d.ref,
      }));
      return;
    }
    const ok = meta.disks.length === this.disks.length && meta.disks.every((m, i) => {
      const d = this.disks[i];
      return m.device === d.device && m.origin === d.origin && m.readOnly === d.readOnly && liveImageOf(m) === d.ref;
    });
    if (!ok) {
      throw new SnapshotError('EDISKS', `${this.host.dir}/${SNAPSHOT_METADATA_FILE} no longer describes the disks this VM runs on ` +
        `(${this.disks.map((d) => d.ref).join(', ') || 'none'}); was the directory changed by another VM?`);
    }
  }

  /** Creates and opens one overlay per entry; on failure removes what it made. */
  private async makeOverlays(meta: SnapshotMetadata, tag: string, plan: { disk: LiveDisk; backing: string }[]): Promise<NewOverlay[]> {
    const made: NewOverlay[] = [];
    const taken = new Set<string>();
    try {
      for (const { disk, backing } of plan) {
        const file = await freshImageName(this.host, meta, `${disk.device}.since-${tag}`, taken);
        await this.host.createOverlay(file, { ref: backing, format: formatOf(meta, backing) }, disk.backend.size);
        let image: Image;
        try {
          image = await this.host.openImage(file, { readOnly: false, format: 'qcow2' });
        } catch (e) {
          await this.host.removeFile(file);
          throw e;
        }
        made.push({ disk, file, backing, image });
      }
    } catch (e) {
      await this.discardOverlays(made);
      throw e;
    }
    return made;
  }

  private async discardOverlays(overlays: readonly NewOverlay[]): Promise<void> {
    for (const o of overlays) {
      await o.image.close().catch(() => undefined);
      await this.host.removeFile(o.file).catch(() => undefined);
    }
  }

  private adoptOverlays(meta: SnapshotMetadata, overlays: readonly NewOverlay[]): void {
    for (const o of overlays) {
      meta.images.push({ file: o.file, backing: o.backing });
      const rec = meta.disks.find((d) => d.device === o.disk.device);
      if (rec !== undefined) rec.top = o.file;
    }
  }

  /** Points each disk at its new overlay and closes the image it leaves. */
  private async switchDisks(overlays: readonly NewOverlay[]): Promise<void> {
    const old: BlockBackend[] = [];
    for (const o of overlays) {
      old.push(o.disk.backend.switchTo(o.image));
      o.disk.ref = o.file;
    }
    for (const b of old) await b.close().catch(() => undefined);
  }
}

/**
 * Makes a clone of snapshot `tag` of `source` in `target` (an empty new directory): an overlay
 * `<dev>.qcow2` per writable disk over the snapshot's frozen image, a copy of the memory state,
 * and metadata whose current snapshot is `tag` with those overlays unused, so the clone's first
 * run resumes on them. The source records the clone, so its frozen images outlive a delete.
 */
export async function cloneSnapshot(source: SnapshotDirHost, target: SnapshotDirHost, tag: string): Promise<void> {
  checkTag(tag);
  await transaction(source, async (meta, existed) => {
    const snap = existed ? findSnapshot(meta, tag) : undefined;
    if (snap === undefined) throw new SnapshotError('ENOENT', `there is no snapshot '${tag}' in ${source.dir}`);
    const bytes = await source.readFile(snap.vmState).catch((cause: unknown) => {
      throw new SnapshotError('ENOENT', `the memory state of snapshot '${tag}' (${snap.vmState}) cannot be read: ${(cause as Error).message}`, { cause });
    });
    const clone = emptyMetadata();
    const made: string[] = [];
    try {
      for (const d of meta.disks) {
        const frozen = snap.disks.find((x) => x.device === d.device)?.image;
        if (frozen === undefined) throw new SnapshotError('EDISKS', `snapshot '${tag}' was taken without disk ${d.device}`);
        const frozenPath = source.pathOf(frozen);
        const format = formatOf(meta, frozen);
        if (d.readOnly) {
          clone.disks.push({ device: d.device, origin: frozenPath, format: format ?? d.format, readOnly: true, top: null });
          continue;
        }
        const base = await source.openImage(frozen, { readOnly: true, format });
        const size = base.size;
        const baseFormat = base.format;
        await base.close();
        const file = `${d.device}.qcow2`;
        await target.createOverlay(file, { ref: frozenPath, format: baseFormat }, size);
        made.push(file);
        clone.images.push({ file, backing: frozenPath });
        clone.disks.push({ device: d.device, origin: frozenPath, format: baseFormat, readOnly: false, top: file });
      }
      const vmState = `${tag}.tsnap`;
      await target.writeFile(vmState, bytes);
      made.push(vmState);
      clone.snapshots.push({
        tag, parent: null, createdMs: snap.createdMs, vmClockNs: snap.vmClockNs, vmState, vmStateSize: snap.vmStateSize,
        disks: clone.disks.map((d) => ({ device: d.device, image: d.origin })),
      });
      clone.current = tag;
      clone.unusedSince = tag;
      await target.writeMetadata(serializeMetadata(clone));
    } catch (e) {
      for (const f of made) await target.removeFile(f).catch(() => undefined);
      throw e;
    }
    await pruneClones(source, meta);
    meta.clones.push({ dir: target.dir, images: snap.disks.map((d) => d.image) });
    return { garbage: [] };
  });
}
