/**
 * Opening disk images: format probing (qcow2 by its magic, otherwise raw), backing chains of any
 * format and depth (with a loop check and a depth cap), and the `Image` interface that raw and
 * qcow2 images share on top of BlockBackend.
 *
 * Probing is only ever done on the top image when the caller gives no format, and on a backing
 * file whose header names no format. A backing format named in the header is used as given, so a
 * raw backing file whose guest wrote a qcow2 header is still read as raw.
 */

import { BlockError, type BlockBackend, type BlockFile } from './backend.js';
import { hasQcow2Magic, type SnapshotInfo } from './qcow2-format.js';
import { Qcow2Image } from './qcow2.js';
import { RawImage } from './raw.js';

export type ImageFormat = 'raw' | 'qcow2';

/** qcow2-specific facts for `info` (qemu-img's "format-specific" data). */
export interface Qcow2Info {
  readonly compat: '0.10' | '1.1';
  readonly refcountBits: number;
  readonly corrupt: boolean;
  readonly lazyRefcounts: boolean;
  readonly extendedL2: boolean;
  readonly compressionType: 'zlib';
  /** Names of feature bits set in the header (from its feature name table where present). */
  readonly incompatibleFeatures: readonly string[];
  readonly compatibleFeatures: readonly string[];
  readonly autoclearFeatures: readonly string[];
}

export interface ImageInfo {
  readonly format: ImageFormat;
  /** The BlockFile's name. */
  readonly filename: string;
  readonly virtualSize: number;
  readonly clusterSize: number | undefined;
  /** The backing file name as the header stores it. */
  readonly backingFilename: string | undefined;
  /** The backing format named in the header, if any. */
  readonly backingFormat: string | undefined;
  /** The name of the opened backing file (its BlockFile's name), when the chain is open. */
  readonly fullBackingFilename: string | undefined;
  readonly dirty: boolean;
  readonly qcow2: Qcow2Info | undefined;
  readonly snapshots: readonly SnapshotInfo[];
}

/** Allocation status of a run of the virtual disk, in one image (not its backing chain). */
export interface BlockStatus {
  /** data: stored in this image; zero: reads as zeroes; unallocated: comes from the backing file. */
  readonly kind: 'data' | 'zero' | 'unallocated';
  /** Bytes from the queried offset with this status (at least 1, at most the queried length). */
  readonly length: number;
}

/** An open disk image: a BlockBackend plus what the image tool needs. */
export interface Image extends BlockBackend {
  readonly format: ImageFormat;
  readonly file: BlockFile;
  /** The open backing image, if the image has one and it was opened. */
  readonly backing: Image | undefined;
  info(): ImageInfo;
  blockStatus(offset: number, length: number): Promise<BlockStatus>;
  /** Grows the virtual disk (qcow2 refuses to shrink; raw shrinks only with allowShrink). */
  resize(newSize: number, options?: { allowShrink?: boolean }): Promise<void>;
}

/**
 * Opens a backing file by the name stored in an image header. `from` is the name of the image that
 * refers to it (relative names are relative to that image's directory). The loop check compares
 * the returned BlockFiles' `identity` (or `name`).
 */
export type OpenBacking = (name: string, context: { from: string; readOnly: boolean }) => Promise<BlockFile>;

export interface OpenImageOptions {
  readOnly?: boolean;
  /** The top image's format; probed from its content when absent. */
  format?: ImageFormat;
  openBacking: OpenBacking;
  /** Do not open the backing chain (for info on one image; reads of unallocated areas give zeroes). */
  noBacking?: boolean;
  /** Open the immediate backing image writable too (for commit). */
  writableBacking?: boolean;
  /** Allow opening a dirty or corrupt-marked qcow2 image writable, to repair it (check -r). */
  repair?: boolean;
  /** Longest backing chain accepted (default 64). */
  maxChainDepth?: number;
}

export const DEFAULT_MAX_CHAIN_DEPTH = 64;

/**
 * Opens `file` as a disk image, and its backing chain. The image owns `file` (and the backing files
 * it opens): close() closes them all. Errors are BlockErrors: EFORMAT, ECORRUPT, EUNSUPPORTED,
 * EDIRTY, EBACKING (missing file, loop, too deep), EIO.
 */
export async function openImage(file: BlockFile, options: OpenImageOptions): Promise<Image> {
  try {
    return await openLayer(file, options, options.format, options.readOnly ?? false, 0, [file.identity ?? file.name]);
  } catch (e) {
    await file.close().catch(() => undefined);
    throw e;
  }
}

/** Opens one layer; on failure the caller closes `file`. */
async function openLayer(
  file: BlockFile,
  options: OpenImageOptions,
  format: string | undefined,
  readOnly: boolean,
  depth: number,
  chain: string[],
): Promise<Image> {
  const fmt = format ?? (await probeFormat(file));
  if (fmt === 'raw') return RawImage.open(file, { readOnly });
  if (fmt !== 'qcow2') {
    throw new BlockError('EUNSUPPORTED', `${file.name}: image format '${fmt}' is not supported (only raw and qcow2)`);
  }
  const maxDepth = options.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
  return Qcow2Image.open(file, {
    readOnly,
    repair: depth === 0 && (options.repair ?? false),
    openBacking:
      options.noBacking === true
        ? undefined
        : async (name, backingFormat) => {
            if (depth + 2 > maxDepth) {
              throw new BlockError('EBACKING', `${file.name}: the backing chain is longer than ${maxDepth} images`);
            }
            const backingReadOnly = !(depth === 0 && options.writableBacking === true);
            let bf: BlockFile;
            try {
              bf = await options.openBacking(name, { from: file.name, readOnly: backingReadOnly });
            } catch (e) {
              if (e instanceof BlockError && (e.code === 'EBACKING' || e.code === 'ELOCKED')) throw e;
              const why = e instanceof Error ? e.message : String(e);
              throw new BlockError('EBACKING', `${file.name}: cannot open backing file '${name}': ${why}`, { cause: e });
            }
            const id = bf.identity ?? bf.name;
            if (chain.includes(id)) {
              await bf.close().catch(() => undefined);
              throw new BlockError('EBACKING', `${file.name}: backing chain loop: '${name}' is already in the chain`);
            }
            try {
              return await openLayer(bf, options, backingFormat, backingReadOnly, depth + 1, [...chain, id]);
            } catch (e) {
              await bf.close().catch(() => undefined);
              throw e;
            }
          },
  });
}

/** 'qcow2' when the file starts with the qcow2 magic, otherwise 'raw'. */
export async function probeFormat(file: BlockFile): Promise<ImageFormat> {
  const head = new Uint8Array(4);
  const n = await file.read(0, head);
  return n === 4 && hasQcow2Magic(head) ? 'qcow2' : 'raw';
}

/** Status of a run through the whole backing chain: 'data' or 'zero' (never 'unallocated'). */
export async function chainStatus(image: Image, offset: number, length: number): Promise<BlockStatus> {
  const s = await image.blockStatus(offset, length);
  if (s.kind !== 'unallocated') return s;
  const b = image.backing;
  if (b === undefined || offset >= b.size) return { kind: 'zero', length: s.length };
  const inner = await chainStatus(b, offset, Math.min(s.length, b.size - offset));
  return inner;
}

export type { BlockBackend };
