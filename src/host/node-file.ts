/**
 * Node.js host files for the block layer: a BlockFile over an fs/promises FileHandle (positional
 * reads and writes, fdatasync for flush), with an exclusive image lock for writers, and the opener
 * that resolves backing file names the way QEMU does (relative to the referring image's directory).
 *
 * Image locking. An image open for writing by one tsvm process cannot be opened for writing by
 * another. Node has no flock/fcntl without native addons, so the lock is a lock file beside the
 * image, `IMAGE.lock`, created with O_EXCL and holding "PID HOSTNAME":
 * - creating it succeeds for exactly one process (O_EXCL is atomic on local file systems);
 * - a lock whose process no longer exists (same host, kill(pid, 0) fails with ESRCH) is stale and
 *   is taken over: it is renamed away atomically, checked to still be the stale one, then removed,
 *   and creation is retried; a lock from another host is never presumed stale;
 * - the lock is removed on close, and on process exit for files left open.
 * Readers take no lock (like QEMU's shared read permission). The lock protects against other tsvm
 * processes only: QEMU's own OFD byte-range locks are not visible to it, nor it to QEMU.
 */

import { unlinkSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';

import { breakStaleLock, createLockFile, lockContent, ownerGone, parseLock, removeLockFile } from './lock-file.js';
import { BlockError, openImage, type BlockFile, type Image, type ImageFormat, type OpenBacking } from '../block/index.js';

export interface NodeFileOptions {
  readOnly?: boolean;
  /** Create the file if missing (and empty it if it exists). Implies writable. */
  create?: boolean;
  /** Take the image lock; default: when writable. */
  lock?: boolean;
}

/** Lock files this process holds (removed at exit if still held). */
const heldLocks = new Set<string>();
let exitHookInstalled = false;

export class NodeBlockFile implements BlockFile {
  private closed = false;

  private constructor(
    readonly name: string,
    readonly identity: string,
    private readonly handle: FileHandle,
    private readonly lockPath: string | undefined,
    private readonly lockContent: string,
  ) {}

  /** Opens `path`; errors are BlockErrors naming the file (ENOENT, EACCES, ELOCKED, EIO). */
  static async open(path: string, options: NodeFileOptions = {}): Promise<NodeBlockFile> {
    const writable = options.create === true || options.readOnly !== true;
    const wantLock = options.lock ?? writable;
    let lockPath: string | undefined;
    let lockContent = '';
    if (wantLock) [lockPath, lockContent] = await acquireLock(path);
    let handle: FileHandle;
    try {
      const flags = options.create === true ? 'w+' : writable ? 'r+' : 'r';
      handle = await open(path, flags);
    } catch (e) {
      if (lockPath !== undefined) await releaseLock(lockPath, lockContent);
      throw hostError(path, e);
    }
    try {
      const st = await handle.stat();
      if (st.isDirectory()) throw new BlockError('EISDIR', `${path}: is a directory`);
      return new NodeBlockFile(path, `${st.dev}:${st.ino}`, handle, lockPath, lockContent);
    } catch (e) {
      await handle.close().catch(() => undefined);
      if (lockPath !== undefined) await releaseLock(lockPath, lockContent);
      throw hostError(path, e);
    }
  }

  async size(): Promise<number> {
    try {
      return (await this.handle.stat()).size;
    } catch (e) {
      throw hostError(this.name, e);
    }
  }

  async read(offset: number, buf: Uint8Array): Promise<number> {
    let done = 0;
    try {
      while (done < buf.length) {
        const { bytesRead } = await this.handle.read(buf, done, buf.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      throw hostError(this.name, e);
    }
    return done;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.handle.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    } catch (e) {
      throw hostError(this.name, e);
    }
  }

  async flush(): Promise<void> {
    try {
      await this.handle.datasync();
    } catch (e) {
      throw hostError(this.name, e);
    }
  }

  async truncate(size: number): Promise<void> {
    try {
      await this.handle.truncate(size);
    } catch (e) {
      throw hostError(this.name, e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.handle.close();
    } finally {
      if (this.lockPath !== undefined) await releaseLock(this.lockPath, this.lockContent);
    }
  }
}

/** The BlockError for a Node file system error, one line naming the file. */
export function hostError(path: string, e: unknown): Error {
  if (e instanceof BlockError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const texts: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EPERM: 'Operation not permitted',
    EISDIR: 'Is a directory',
    ENOSPC: 'No space left on device',
    EROFS: 'Read-only file system',
    EFBIG: 'File too large',
    EMFILE: 'Too many open files',
  };
  if (typeof code === 'string') {
    return new BlockError(code in texts ? code : 'EIO', `${path}: ${texts[code] ?? (e as Error).message}`, { cause: e });
  }
  return new BlockError('EIO', `${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

async function acquireLock(path: string): Promise<[string, string]> {
  const lockPath = resolve(`${path}.lock`); // absolute: the same image by any relative name
  const content = lockContent();
  for (let attempt = 0; attempt < 5; attempt++) {
    let taken: boolean;
    try {
      taken = await createLockFile(lockPath, content);
    } catch (e) {
      throw new BlockError('ELOCKED', `${path}: cannot create the lock file ${lockPath} (${hostError(lockPath, e).message.replace(`${lockPath}: `, '')})`);
    }
    if (taken) {
      heldLocks.add(lockPath);
      installExitHook();
      return [lockPath, content];
    }
    const seen = await readFile(lockPath, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // removed meanwhile: retry
    const owner = parseLock(seen);
    // Our own pid in a lock we do not hold: an earlier process that had our pid.
    const stale = owner !== undefined &&
      (owner.pid === process.pid && owner.host === hostname() ? !heldLocks.has(lockPath) : ownerGone(owner));
    if (!stale) {
      const who = owner === undefined ? 'another process' : `process ${owner.pid} on ${owner.host}`;
      throw new BlockError(
        'ELOCKED',
        `${path}: the image is in use for writing by ${who}; if it is not, remove ${lockPath}`,
      );
    }
    await breakStaleLock(lockPath, seen);
  }
  throw new BlockError('ELOCKED', `${path}: could not take the image lock ${lockPath} (contended)`);
}

async function releaseLock(lockPath: string, content: string): Promise<void> {
  heldLocks.delete(lockPath);
  await removeLockFile(lockPath, content);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of heldLocks) {
      try {
        unlinkSync(p);
      } catch {
        // already gone
      }
    }
  });
}

/** Where a backing file name in `from`'s header points on this host. */
export function resolveBackingPath(name: string, from: string): string {
  return isAbsolute(name) ? name : join(dirname(from), name);
}

/** The opener for backing files: relative names resolve against the referring image's directory. */
export const nodeOpenBacking: OpenBacking = async (name, context) => {
  if (/^[a-z][a-z0-9+.-]*:/i.test(name) && !name.startsWith('/')) {
    const protocol = name.slice(0, name.indexOf(':'));
    if (protocol.length > 1) {
      throw new BlockError('EUNSUPPORTED', `backing file '${name}': the '${protocol}:' protocol is not supported (only local files)`);
    }
  }
  return NodeBlockFile.open(resolveBackingPath(name, context.from), { readOnly: context.readOnly });
};

/** Opens the image file at `path` with its backing chain (see openImage for the options). */
export async function openImageFile(
  path: string,
  options: { readOnly?: boolean; format?: ImageFormat; noBacking?: boolean; writableBacking?: boolean; repair?: boolean } = {},
): Promise<Image> {
  const file = await NodeBlockFile.open(path, { readOnly: options.readOnly === true });
  return openImage(file, { ...options, openBacking: nodeOpenBacking });
}
