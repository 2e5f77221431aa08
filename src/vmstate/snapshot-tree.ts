/**
 * The metadata of a VM's snapshot directory, `snapshots.json`: the VM's disks and the images their
 * live state runs on, the named snapshots as a tree, and the qcow2 images the directory owns.
 *
 *   { "format": "tsvm-snapshots", "version": 1,
 *     "disks": [{ "device": "vda", "origin": "/abs/vm.qcow2", "format": "qcow2", "readOnly": false,
 *                 "top": "vda.since-A.qcow2" }],          live image; null: the origin itself
 *     "current": "A",                                      the snapshot the live state descends from
 *     "unusedSince": null,                                 "A": the tops are fresh overlays made at A
 *                                                          that no VM has run on yet (a new clone)
 *     "images": [{ "file": "vda.since-A.qcow2", "backing": "/abs/vm.qcow2" }],
 *     "snapshots": [{ "tag": "A", "parent": null, "createdMs": 0, "vmClockNs": 0,
 *                     "vmState": "A.tsnap", "vmStateSize": 123,
 *                     "disks": [{ "device": "vda", "image": "/abs/vm.qcow2" }] }],
 *     "clones": [{ "dir": "/abs/clone", "images": ["vda.since-A.qcow2"] }] }
 *
 * An image reference is either a file name in the directory (an image the directory owns, listed
 * in `images`, deleted when nothing needs it any more) or an absolute path (the user's disk, or
 * another directory's image: never deleted from here). A snapshot's disk image is frozen: nothing
 * writes it again. `clones` pins images that clones made from this directory depend on.
 *
 * The file is read as untrusted input: every field is checked (types, names, references, the
 * parent links form a tree) and unknown fields are refused, before anything acts on it.
 */

import { SnapshotError } from './snapshot.js';

export const SNAPSHOT_METADATA_FORMAT = 'tsvm-snapshots';
export const SNAPSHOT_METADATA_VERSION = 1;
export const SNAPSHOT_METADATA_FILE = 'snapshots.json';

/** A snapshot tag (also part of file names). */
export const SNAPSHOT_TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A file the directory owns: a plain name, no path separator, not starting with '.'. */
const OWNED_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,250}$/;
const DEVICE = /^vd[a-z]{1,2}$/;
/** Caps on what a metadata file may hold (they bound the work a bad file causes). */
const MAX_SNAPSHOTS = 4096;
const MAX_IMAGES = 65536;
const MAX_DISKS = 16;
const MAX_PATH = 4096;

export interface VmDiskRecord {
  device: string;
  /** The image the user gave (absolute path), or a file of the directory (a clone's disk). */
  origin: string;
  format: 'raw' | 'qcow2';
  readOnly: boolean;
  /** The image the live VM runs on; null: the origin (no snapshot has frozen it yet). */
  top: string | null;
}

export interface OwnedImage {
  file: string;
  /** The backing image: an owned file name or an absolute path. */
  backing: string;
}

export interface SnapshotRecord {
  tag: string;
  parent: string | null;
  createdMs: number;
  /** Guest clock at the snapshot, ns. */
  vmClockNs: number;
  /** The memory state file (in the directory). */
  vmState: string;
  vmStateSize: number;
  /** Per disk, the frozen image holding the disk as it was at the snapshot. */
  disks: { device: string; image: string }[];
}

export interface CloneRecord {
  /** The clone's directory (absolute). */
  dir: string;
  /** Images of this directory the clone's disks are built on. */
  images: string[];
}

export interface SnapshotMetadata {
  format: typeof SNAPSHOT_METADATA_FORMAT;
  version: typeof SNAPSHOT_METADATA_VERSION;
  disks: VmDiskRecord[];
  current: string | null;
  unusedSince: string | null;
  images: OwnedImage[];
  snapshots: SnapshotRecord[];
  clones: CloneRecord[];
}

export function emptyMetadata(): SnapshotMetadata {
  return {
    format: SNAPSHOT_METADATA_FORMAT, version: SNAPSHOT_METADATA_VERSION, disks: [], current: null, unusedSince: null,
    images: [], snapshots: [], clones: [],
  };
}

/** True for a reference to a file the directory owns (a plain name), false for an absolute path. */
export function isOwnedRef(ref: string): boolean {
  return !ref.startsWith('/');
}

/** The image a disk's live state is on: its top, or its origin. */
export function liveImageOf(disk: VmDiskRecord): string {
  return disk.top ?? disk.origin;
}

export function serializeMetadata(meta: SnapshotMetadata): string {
  return JSON.stringify(meta, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/** Parses and validates `snapshots.json`. `where` names the file in messages. */
export function parseMetadata(text: string, where: string): SnapshotMetadata {
  const bad = (what: string): SnapshotError => new SnapshotError('EFORMAT', `${where} is invalid: ${what}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new SnapshotError('EFORMAT', `${where} is invalid: not JSON`, { cause });
  }
  const rec = record(raw, 'the top level', bad);
  only(rec, ['format', 'version', 'disks', 'current', 'unusedSince', 'images', 'snapshots', 'clones'], 'the top level', bad);
  if (rec.format !== SNAPSHOT_METADATA_FORMAT) throw bad(`format is not '${SNAPSHOT_METADATA_FORMAT}'`);
  if (rec.version !== SNAPSHOT_METADATA_VERSION) {
    throw new SnapshotError('EVERSION', `${where} is version ${String(rec.version)}; this tsvm reads version ${SNAPSHOT_METADATA_VERSION}`);
  }

  const disks = list(rec.disks, 'disks', MAX_DISKS, bad).map((d, i) => {
    const what = `disks[${i}]`;
    const r = record(d, what, bad);
    only(r, ['device', 'origin', 'format', 'readOnly', 'top'], what, bad);
    if (typeof r.device !== 'string' || !DEVICE.test(r.device)) throw bad(`${what}.device`);
    if (r.format !== 'raw' && r.format !== 'qcow2') throw bad(`${what}.format`);
    if (typeof r.readOnly !== 'boolean') throw bad(`${what}.readOnly`);
    const disk: VmDiskRecord = {
      device: r.device,
      origin: imageRef(r.origin, `${what}.origin`, bad),
      format: r.format,
      readOnly: r.readOnly,
      top: r.top === null ? null : imageRef(r.top, `${what}.top`, bad),
    };
    return disk;
  });
  const devices = new Set<string>();
  for (const d of disks) {
    if (devices.has(d.device)) throw bad(`disk ${d.device} is listed twice`);
    devices.add(d.device);
  }

  const images = list(rec.images, 'images', MAX_IMAGES, bad).map((e, i) => {
    const what = `images[${i}]`;
    const r = record(e, what, bad);
    only(r, ['file', 'backing'], what, bad);
    if (typeof r.file !== 'string' || !OWNED_FILE.test(r.file)) throw bad(`${what}.file`);
    const image: OwnedImage = { file: r.file, backing: imageRef(r.backing, `${what}.backing`, bad) };
    return image;
  });
  const owned = new Map<string, OwnedImage>();
  for (const im of images) {
    if (owned.has(im.file)) throw bad(`image ${im.file} is listed twice`);
    owned.set(im.file, im);
  }
  const checkOwned = (ref: string, what: string): void => {
    if (isOwnedRef(ref) && !owned.has(ref)) throw bad(`${what} names '${ref}', which is not among the images`);
  };
  // The backing links of owned images must end outside the directory, never loop.
  for (const im of images) {
    checkOwned(im.backing, `image ${im.file}'s backing`);
    const seen = new Set<string>([im.file]);
    let ref = im.backing;
    while (isOwnedRef(ref)) {
      if (seen.has(ref)) throw bad(`the backing chain of ${im.file} loops`);
      seen.add(ref);
      ref = (owned.get(ref) as OwnedImage).backing;
    }
  }
  for (const d of disks) {
    if (d.top !== null) checkOwned(d.top, `disk ${d.device}'s top`);
    checkOwned(d.origin, `disk ${d.device}'s origin`);
  }

  const snapshots = list(rec.snapshots, 'snapshots', MAX_SNAPSHOTS, bad).map((e, i) => {
    const what = `snapshots[${i}]`;
    const r = record(e, what, bad);
    only(r, ['tag', 'parent', 'createdMs', 'vmClockNs', 'vmState', 'vmStateSize', 'disks'], what, bad);
    if (typeof r.tag !== 'string' || !SNAPSHOT_TAG_PATTERN.test(r.tag)) throw bad(`${what}.tag`);
    if (r.parent !== null && (typeof r.parent !== 'string' || !SNAPSHOT_TAG_PATTERN.test(r.parent))) throw bad(`${what}.parent`);
    for (const key of ['createdMs', 'vmClockNs', 'vmStateSize'] as const) {
      const v = r[key];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${what}.${key}`);
    }
    if (typeof r.vmState !== 'string' || !OWNED_FILE.test(r.vmState)) throw bad(`${what}.vmState`);
    const snapDisks = list(r.disks, `${what}.disks`, MAX_DISKS, bad).map((x, j) => {
      const w = `${what}.disks[${j}]`;
      const dr = record(x, w, bad);
      only(dr, ['device', 'image'], w, bad);
      if (typeof dr.device !== 'string' || !devices.has(dr.device)) throw bad(`${w}.device is not one of the VM's disks`);
      const image = imageRef(dr.image, `${w}.image`, bad);
      checkOwned(image, w);
      return { device: dr.device, image };
    });
    const snap: SnapshotRecord = {
      tag: r.tag, parent: r.parent as string | null, createdMs: r.createdMs as number, vmClockNs: r.vmClockNs as number,
      vmState: r.vmState, vmStateSize: r.vmStateSize as number, disks: snapDisks,
    };
    return snap;
  });
  const byTag = new Map<string, SnapshotRecord>();
  for (const s of snapshots) {
    if (byTag.has(s.tag)) throw bad(`snapshot '${s.tag}' is listed twice`);
    byTag.set(s.tag, s);
  }
  for (const s of snapshots) {
    if (s.parent !== null && !byTag.has(s.parent)) throw bad(`snapshot '${s.tag}' has parent '${s.parent}', which does not exist`);
    const seen = new Set<string>([s.tag]);
    for (let p = s.parent; p !== null; p = (byTag.get(p) as SnapshotRecord).parent) {
      if (seen.has(p)) throw bad(`the parents of snapshot '${s.tag}' loop`);
      seen.add(p);
    }
  }
  const current = rec.current;
  if (current !== null && (typeof current !== 'string' || !byTag.has(current))) throw bad('current names no snapshot');
  const unusedSince = rec.unusedSince;
  if (unusedSince !== null && unusedSince !== current) throw bad('unusedSince is not the current snapshot');

  const clones = list(rec.clones, 'clones', MAX_SNAPSHOTS, bad).map((e, i) => {
    const what = `clones[${i}]`;
    const r = record(e, what, bad);
    only(r, ['dir', 'images'], what, bad);
    if (typeof r.dir !== 'string' || !r.dir.startsWith('/') || r.dir.length > MAX_PATH || r.dir.includes('\0')) throw bad(`${what}.dir`);
    const pinned = list(r.images, `${what}.images`, MAX_DISKS, bad).map((x, j) => {
      const ref = imageRef(x, `${what}.images[${j}]`, bad);
      checkOwned(ref, `${what}.images[${j}]`);
      return ref;
    });
    const clone: CloneRecord = { dir: r.dir, images: pinned };
    return clone;
  });

  return {
    format: SNAPSHOT_METADATA_FORMAT, version: SNAPSHOT_METADATA_VERSION, disks, current: current as string | null,
    unusedSince: unusedSince as string | null, images, snapshots, clones,
  };
}

function record(v: unknown, what: string, bad: (w: string) => SnapshotError): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function only(r: Record<string, unknown>, keys: readonly string[], what: string, bad: (w: string) => SnapshotError): void {
  for (const k of Object.keys(r)) if (!keys.includes(k)) throw bad(`${what} has an unknown field '${k}'`);
  for (const k of keys) if (!(k in r)) throw bad(`${what} has no field '${k}'`);
}

function list(v: unknown, what: string, max: number, bad: (w: string) => SnapshotError): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} is not a list`);
  if (v.length > max) throw bad(`${what} has more than ${max} entries`);
  return v as unknown[];
}

function imageRef(v: unknown, what: string, bad: (w: string) => SnapshotError): string {
  if (typeof v !== 'string') throw bad(what);
  if (v.startsWith('/')) {
    if (v.length > MAX_PATH || v.includes('\0') || v.split('/').includes('..')) throw bad(what);
    return v;
  }
  if (!OWNED_FILE.test(v)) throw bad(what);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Tree operations
// ---------------------------------------------------------------------------------------------

export function findSnapshot(meta: SnapshotMetadata, tag: string): SnapshotRecord | undefined {
  return meta.snapshots.find((s) => s.tag === tag);
}

/**
 * Removes a snapshot from the tree: its children get its parent, and so does `current` if it was
 * the snapshot. Files are not touched (collectGarbage says which images are no longer needed).
 */
export function removeSnapshot(meta: SnapshotMetadata, tag: string): SnapshotRecord {
  const snap = findSnapshot(meta, tag);
  if (snap === undefined) throw new SnapshotError('ENOENT', `there is no snapshot '${tag}'`);
  meta.snapshots = meta.snapshots.filter((s) => s !== snap);
  for (const s of meta.snapshots) if (s.parent === tag) s.parent = snap.parent;
  if (meta.current === tag) meta.current = snap.parent;
  if (meta.unusedSince === tag) meta.unusedSince = null;
  return snap;
}

/**
 * The owned images nothing needs any more: not a live disk's image, not a snapshot's frozen image,
 * not pinned by a clone, and not in the backing chain of any of those. Removes them from
 * `meta.images` and returns their file names (for the caller to delete after saving `meta`).
 */
export function collectGarbage(meta: SnapshotMetadata): string[] {
  const owned = new Map(meta.images.map((im) => [im.file, im]));
  const needed = new Set<string>();
  const mark = (ref: string): void => {
    while (isOwnedRef(ref) && !needed.has(ref)) {
      needed.add(ref);
      const im = owned.get(ref);
      if (im === undefined) return;
      ref = im.backing;
    }
  };
  for (const d of meta.disks) {
    mark(d.origin);
    if (d.top !== null) mark(d.top);
  }
  for (const s of meta.snapshots) for (const d of s.disks) mark(d.image);
  for (const c of meta.clones) for (const ref of c.images) mark(ref);
  const garbage = meta.images.filter((im) => !needed.has(im.file)).map((im) => im.file);
  meta.images = meta.images.filter((im) => needed.has(im.file));
  return garbage;
}

/**
 * The snapshots as an indented tree (children in creation order): one entry per snapshot, in
 * display order, with the tree-drawing prefix before its tag.
 */
export function renderTree(meta: SnapshotMetadata): { prefix: string; snapshot: SnapshotRecord }[] {
  const children = new Map<string | null, SnapshotRecord[]>();
  for (const s of [...meta.snapshots].sort((a, b) => a.createdMs - b.createdMs)) {
    const kids = children.get(s.parent) ?? [];
    kids.push(s);
    children.set(s.parent, kids);
  }
  const out: { prefix: string; snapshot: SnapshotRecord }[] = [];
  const walk = (parent: string | null, indent: string): void => {
    const kids = children.get(parent) ?? [];
    kids.forEach((s, i) => {
      const last = i === kids.length - 1;
      out.push({ prefix: parent === null ? '' : indent + (last ? '`-- ' : '|-- '), snapshot: s });
      walk(s.tag, parent === null ? '' : indent + (last ? '    ' : '|   '));
    });
  };
  walk(null, '');
  return out;
}
