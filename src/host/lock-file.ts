/**
 * Lock files shared by processes on one host: a file holding `PID HOST\n`, created with O_EXCL.
 * A lock whose process is gone (same host, no such pid) is stale and may be broken. Used for
 * images opened for writing (node-file.ts) and for snapshot directories (monitor/snapshot-dir.ts).
 */

import { constants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';

/** What this process writes into its lock files. */
export function lockContent(): string {
  return `${process.pid} ${hostname()}\n`;
}

/** Creates the lock file holding `content`: true, or false when it exists. Other errors are thrown. */
export async function createLockFile(lockPath: string, content: string): Promise<boolean> {
  try {
    const h = await open(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    try {
      await h.writeFile(content);
    } finally {
      await h.close();
    }
    return true;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') return false;
    throw e;
  }
}

/** The owner a lock file names, or undefined when it is not one of ours. */
export function parseLock(text: string): { pid: number; host: string } | undefined {
  const m = /^(\d+) (\S+)\n?$/.exec(text);
  if (m === null) return undefined;
  return { pid: Number(m[1]), host: m[2] };
}

/** True when the owner is on this host and its process no longer exists. */
export function ownerGone(owner: { pid: number; host: string }): boolean {
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (e) {
    return (e as { code?: unknown }).code === 'ESRCH';
  }
}

/**
 * Breaks a stale lock that read `seen`: moves it aside atomically, then checks that what moved is
 * that lock (a process may have taken the lock meanwhile: then it is put back). The caller tries
 * to create the lock again either way.
 */
export async function breakStaleLock(lockPath: string, seen: string): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${Date.now()}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== seen) await rename(aside, lockPath).catch(() => undefined);
  else await unlink(aside).catch(() => undefined);
}

/** Removes the lock file if it still holds `content` (ours). */
export async function removeLockFile(lockPath: string, content: string): Promise<void> {
  const now = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (now === content) await unlink(lockPath).catch(() => undefined);
}
