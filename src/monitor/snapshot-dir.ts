/**
 * A VM's snapshot directory on a Node host: the SnapshotDirHost the vmstate layer's VmSnapshots
 * uses. Files are written to a temporary name and renamed (atomic on POSIX file systems); images
 * are opened and created through src/host/node-file.ts (so the image locks apply); frozen images
 * lose their write permission bits.
 *
 * The metadata lock is a lock file, `snapshots.json.lock`, created with O_EXCL and holding
 * "PID HOSTNAME"; it is held only for the length of one operation (milliseconds), so a running
 * VM and `tsvm clone` / `tsvm snapshot delete` can take turns. A lock left by a process that no
 * longer exists on this host is taken over.
 */

import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { createQcow2, type Image, type ImageFormat } from '../block/index.js';
import { NodeBlockFile, openImageFile } from '../host/node-file.js';
import { breakStaleLock, createLockFile, lockContent, ownerGone, parseLock, removeLockFile } from '../host/lock-file.js';
import { SNAPSHOT_METADATA_FILE, type SnapshotDirHost } from '../vmstate/index.js';

/** How long an operation waits for another process's metadata lock. */
const LOCK_WAIT_MS = 10_000;

export class NodeSnapshotDir implements SnapshotDirHost {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  pathOf(ref: string): string {
    return ref.startsWith('/') ? ref : join(this.dir, ref);
  }

  async readMetadata(): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, SNAPSHOT_METADATA_FILE), 'utf8');
    } catch (e) {
      if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async writeMetadata(text: string): Promise<void> {
    await this.writeFile(SNAPSHOT_METADATA_FILE, new TextEncoder().encode(text));
  }

  async readFile(name: string): Promise<Uint8Array> {
    const b = await readFile(this.pathOf(name));
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  async writeFile(name: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const final = this.pathOf(name);
    const tmp = `${final}.tmp-${process.pid}`;
    try {
      const h = await open(tmp, 'w', 0o600);
      try {
        await h.writeFile(bytes);
        await h.datasync();
      } finally {
        await h.close();
      }
      await rename(tmp, final);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  async fileExists(name: string): Promise<boolean> {
    try {
      await stat(this.pathOf(name));
      return true;
    } catch {
      return false;
    }
  }

  async removeFile(name: string): Promise<void> {
    try {
      await unlink(this.pathOf(name));
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
    }
  }

  async createOverlay(file: string, backing: { ref: string; format: ImageFormat | undefined }, size: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const f = await NodeBlockFile.open(this.pathOf(file), { create: true });
    try {
      await createQcow2(f, { size, backing: { name: backing.ref, format: backing.format, size } });
    } catch (e) {
      await f.close();
      await this.removeFile(file);
      throw e;
    }
    await f.close();
  }

  openImage(ref: string, options: { readOnly: boolean; format?: ImageFormat }): Promise<Image> {
    return openImageFile(this.pathOf(ref), options);
  }

  async freeze(ref: string): Promise<void> {
    try {
      const path = this.pathOf(ref);
      const mode = (await stat(path)).mode & 0o7777;
      await chmod(path, mode & ~0o222);
    } catch {
      // best effort: the metadata is what keeps tsvm from writing a frozen image
    }
  }

  async cloneExists(dir: string): Promise<boolean> {
    try {
      return (await stat(join(dir, SNAPSHOT_METADATA_FILE))).isFile();
    } catch {
      return false;
    }
  }

  async lock(): Promise<() => Promise<void>> {
    await mkdir(this.dir, { recursive: true });
    const lockPath = join(this.dir, `${SNAPSHOT_METADATA_FILE}.lock`);
    const content = lockContent();
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      if (await createLockFile(lockPath, content)) return () => removeLockFile(lockPath, content);
      const seen = await readFile(lockPath, 'utf8').catch(() => undefined);
      const owner = seen === undefined ? undefined : parseLock(seen);
      if (seen !== undefined && owner !== undefined && owner.pid !== process.pid && ownerGone(owner)) {
        await breakStaleLock(lockPath, seen);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.dir}: the snapshot directory is busy (${lockPath} is held by ${seen?.trim() ?? 'another process'})`);
      }
      await delay(20);
    }
  }

  nowMs(): number {
    return Date.now();
  }
}

/** Writes a new empty snapshot directory (the target of a clone); fails if `dir` exists. */
export async function createEmptyDir(dir: string): Promise<void> {
  await mkdir(dirname(resolve(dir)), { recursive: true });
  await mkdir(dir, { recursive: false });
}

/** Whether `path` is a snapshot directory (holds snapshots.json). */
export async function isSnapshotDir(path: string): Promise<boolean> {
  try {
    return (await stat(join(path, SNAPSHOT_METADATA_FILE))).isFile();
  } catch {
    return false;
  }
}

