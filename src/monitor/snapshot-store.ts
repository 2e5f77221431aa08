/**
 * Snapshots as files in a directory: `<dir>/<tag>.tsnap`, written to a temporary name and renamed
 * so a crash never leaves half a snapshot under a tag. Also the Node compression functions the
 * snapshot format takes (raw DEFLATE from zlib).
 */

import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

import type { SnapshotCompression } from '../vmstate/index.js';
import { SNAPSHOT_TAG, type SnapshotStore } from './machine-target.js';

export const SNAPSHOT_SUFFIX = '.tsnap';

/**
 * zlib's raw DEFLATE: level 1 (fast; guest pages compress about 3:1 at any level), and inflation
 * capped at the size the file declares.
 */
export const nodeSnapshotCompression: SnapshotCompression = {
  deflate: (data) => deflateRawSync(data, { level: 1 }),
  inflate: (data, outputLength) => inflateRawSync(data, { maxOutputLength: Math.max(1, outputLength), chunkSize: Math.min(Math.max(outputLength, 64), 1 << 20) }),
};

export class FileSnapshotStore implements SnapshotStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(tag: string): string {
    if (!SNAPSHOT_TAG.test(tag)) throw new Error(`'${tag}' is not a valid snapshot name`);
    return join(this.dir, tag + SNAPSHOT_SUFFIX);
  }

  async has(tag: string): Promise<boolean> {
    try {
      return (await stat(this.path(tag))).isFile();
    } catch {
      return false;
    }
  }

  async write(tag: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const final = this.path(tag);
    const tmp = `${final}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, bytes, { mode: 0o600 });
      await rename(tmp, final);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  async read(tag: string): Promise<Uint8Array> {
    const b = await readFile(this.path(tag));
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  async delete(tag: string): Promise<void> {
    await unlink(this.path(tag));
  }

  async list(): Promise<{ tag: string; size: number; dateMs: number }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: { tag: string; size: number; dateMs: number }[] = [];
    for (const name of names.sort()) {
      if (!name.endsWith(SNAPSHOT_SUFFIX)) continue;
      const tag = name.slice(0, -SNAPSHOT_SUFFIX.length);
      if (!SNAPSHOT_TAG.test(tag)) continue;
      try {
        const s = await stat(join(this.dir, name));
        if (s.isFile()) out.push({ tag, size: s.size, dateMs: s.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    return out.sort((a, b) => a.dateMs - b.dateMs);
  }
}
