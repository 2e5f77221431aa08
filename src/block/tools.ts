/**
 * Whole-image operations behind `tsvm img`: convert (copy a virtual disk through its backing chain
 * into a new image, skipping zeroes), commit (write an overlay's clusters into its backing image)
 * and rebase (point an overlay at another backing file, safely or not).
 */

import { BlockError, type BlockBackend } from './backend.js';
import { chainStatus, openImage, type Image, type ImageFormat, type OpenBacking } from './image.js';
import { Qcow2Image } from './qcow2.js';

export type Progress = (done: number, total: number) => void;

const DEFAULT_CHUNK = 2 * 1024 * 1024;

/** True when every byte of `buf` is zero. */
export function isZero(buf: Uint8Array): boolean {
  let i = 0;
  if (buf.byteOffset % 4 === 0) {
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let k = 0; k < words.length; k++) if (words[k] !== 0) return false;
    i = words.length * 4;
  }
  for (; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Copies the virtual disk of `src` (its backing chain flattened) into `dst`, which must be a new
 * image that reads as zeroes and is at least as large. Zero regions are skipped.
 */
export async function convert(src: Image, dst: BlockBackend, options: { onProgress?: Progress; chunkSize?: number } = {}): Promise<void> {
  const total = src.size;
  if (dst.size < total) throw new BlockError('EINVAL', `the destination (${dst.size} bytes) is smaller than the source (${total} bytes)`);
  const chunk = options.chunkSize ?? DEFAULT_CHUNK;
  const buf = new Uint8Array(chunk);
  let offset = 0;
  while (offset < total) {
    const status = await chainStatus(src, offset, Math.min(chunk, total - offset));
    if (status.kind === 'data') {
      const part = buf.subarray(0, status.length);
      await src.read(offset, part);
      await writeNonZero(dst, offset, part, Math.min(src instanceof Qcow2Image ? src.clusterSize : 4096, 65536));
    }
    offset += status.length;
    options.onProgress?.(offset, total);
  }
  await dst.flush();
}

/** Writes `data` at `offset`, skipping `grain`-aligned pieces that are all zeroes. */
async function writeNonZero(dst: BlockBackend, offset: number, data: Uint8Array, grain: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at <= data.length; ) {
    const next = Math.min(data.length, at + grain - ((offset + at) % grain));
    const zero = at === data.length || isZero(data.subarray(at, next));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await dst.write(offset + runStart, data.subarray(runStart, at));
      runStart = -1;
    }
    if (at === data.length) break;
    at = next;
  }
}

/**
 * Commits `top` into its backing image: every cluster allocated in `top` (data or zero) is written
 * to the backing image, which must be open writable (openImage's writableBacking) and is grown if
 * smaller. Then `top` is emptied (unless keepTop), so it reads through to the updated backing.
 */
export async function commit(top: Image, options: { onProgress?: Progress; keepTop?: boolean } = {}): Promise<void> {
  if (!(top instanceof Qcow2Image)) throw new BlockError('EUNSUPPORTED', `${top.file.name}: only qcow2 images can be committed`);
  const base = top.backing;
  if (base === undefined) throw new BlockError('EINVAL', `${top.file.name}: the image has no backing file to commit into`);
  if (base.readOnly) throw new BlockError('EREADONLY', `${base.file.name}: the backing image must be open writable to commit`);
  if (base.size < top.size) await base.resize(top.size);
  const total = top.size;
  const chunk = DEFAULT_CHUNK;
  const buf = new Uint8Array(chunk);
  let offset = 0;
  while (offset < total) {
    const s = await top.blockStatus(offset, Math.min(chunk, total - offset));
    if (s.kind === 'data') {
      const part = buf.subarray(0, s.length);
      await top.read(offset, part);
      await base.write(offset, part);
    } else if (s.kind === 'zero') {
      await base.writeZeroes(offset, s.length, false);
    }
    offset += s.length;
    options.onProgress?.(offset, total);
  }
  await base.flush();
  if (options.keepTop !== true) await top.makeEmpty();
}

export interface RebaseOptions {
  /** Only rewrite the backing file reference, without comparing contents (-u). */
  unsafe?: boolean;
  /** Opens the new backing file (safe mode). */
  openBacking: OpenBacking;
  onProgress?: Progress;
}

/**
 * Points `image` at a new backing file (`undefined`: none). Safe mode first copies into `image`
 * every unallocated cluster whose content differs between the old chain and the new one, so the
 * virtual disk reads the same afterwards; the old chain must be open. Unsafe mode only rewrites the
 * header (the open image then reads unallocated clusters as zeroes until it is reopened).
 */
export async function rebase(
  image: Image,
  newBacking: { name: string; format?: ImageFormat } | undefined,
  options: RebaseOptions,
): Promise<void> {
  if (!(image instanceof Qcow2Image)) throw new BlockError('EUNSUPPORTED', `${image.file.name}: only qcow2 images have a backing file`);
  if (image.readOnly) throw new BlockError('EREADONLY', `${image.file.name}: the image is open read-only`);
  if (options.unsafe === true) {
    await image.setBackingFile(newBacking?.name, newBacking?.format, undefined);
    return;
  }
  if (image.header.backingFile !== undefined && image.backing === undefined) {
    throw new BlockError('EBACKING', `${image.file.name}: the current backing file must be open for a safe rebase`);
  }
  let next: Image | undefined;
  if (newBacking !== undefined) {
    const file = await options.openBacking(newBacking.name, { from: image.file.name, readOnly: true });
    next = await openImage(file, { readOnly: true, format: newBacking.format, openBacking: options.openBacking });
  }
  try {
    const cs = image.clusterSize;
    const total = image.size;
    const chunk = Math.max(cs, DEFAULT_CHUNK - (DEFAULT_CHUNK % cs));
    const oldBuf = new Uint8Array(chunk);
    const newBuf = new Uint8Array(chunk);
    let offset = 0;
    while (offset < total) {
      const s = await image.blockStatus(offset, Math.min(chunk, total - offset));
      if (s.kind === 'unallocated') {
        const a = oldBuf.subarray(0, s.length);
        const b = newBuf.subarray(0, s.length);
        await image.read(offset, a); // unallocated: this is the old chain's data
        if (next === undefined || offset >= next.size) b.fill(0);
        else {
          const n = Math.min(s.length, next.size - offset);
          await next.read(offset, b.subarray(0, n));
          b.fill(0, n);
        }
        for (let at = 0; at < s.length; ) {
          const end = Math.min(s.length, at + cs - ((offset + at) % cs));
          if (!equal(a, b, at, end)) await image.write(offset + at, a.subarray(at, end));
          at = end;
        }
      }
      offset += s.length;
      options.onProgress?.(offset, total);
    }
    await image.flush();
    await image.setBackingFile(newBacking?.name, newBacking === undefined ? undefined : next?.format ?? newBacking.format, next);
  } catch (e) {
    await next?.close().catch(() => undefined);
    throw e;
  }
}

function equal(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}
