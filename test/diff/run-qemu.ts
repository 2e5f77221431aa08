/** Runs a test ELF under QEMU user mode (qemu-riscv64-static) and captures what it writes to stdout. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const QEMU_PATH = '/usr/bin/qemu-riscv64-static';

export interface QemuResult {
  /** Exit code (null when killed by a signal). */
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: Uint8Array;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/**
 * Makes sure qemu-riscv64-static is available, installing Debian's qemu-user-static if we are
 * root and apt-get exists. Returns undefined when available, else the reason it is not.
 */
export function ensureQemu(): string | undefined {
  if (existsSync(QEMU_PATH)) return undefined;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    const r = spawnSync('apt-get', ['install', '-y', '-q', 'qemu-user-static'], {
      stdio: 'ignore',
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status === 0 && existsSync(QEMU_PATH)) return undefined;
  }
  return `${QEMU_PATH} is missing and could not be installed (apt-get install qemu-user-static)`;
}

/** A temp directory for ELF files, removed by dispose(). */
export class QemuRunner {
  private readonly dir = mkdtempSync(join(tmpdir(), 'tsvm-diff-'));
  private n = 0;

  run(elf: Uint8Array, timeoutMs = 20_000): Promise<QemuResult> {
    const path = join(this.dir, `p${this.n++}.elf`);
    writeFileSync(path, elf, { mode: 0o755 });
    return new Promise((resolve, reject) => {
      const child = spawn(QEMU_PATH, [path], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        rmSync(path, { force: true });
        resolve({
          code,
          signal,
          stdout: new Uint8Array(Buffer.concat(out)),
          stderr: Buffer.concat(err).toString('utf8'),
          timedOut,
        });
      });
    });
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
