/**
 * Shared helpers for the benchmarks that boot the default guest in `tsvm run` and in QEMU (TCG)
 * side by side (bench/disk.ts, bench/net.ts, bench/snapshot.ts): where QEMU is, the flat kernel
 * QEMU needs, starting either VM with extra devices, and the formatting of figures and ratios.
 *
 * Not a benchmark itself: run on its own (as `npm run bench` does with every script in dist/bench)
 * it prints one line saying so and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';

import { BOOT_TIMEOUT_MS, Guest, repoRoot } from '../test/e2e/guest.js';

export { BOOT_TIMEOUT_MS, Guest, repoRoot };

export const QEMU = '/usr/bin/qemu-system-riscv64';
export const QEMU_IMG = '/usr/bin/qemu-img';

export const root = repoRoot();
export const defaultImageGz = join(root, 'images', 'default', 'Image.gz');
export const defaultInitrd = join(root, 'images', 'default', 'initramfs.cpio.gz');

export function haveQemu(): boolean {
  return existsSync(QEMU);
}

/** A scratch directory, removed by `cleanup()`. */
export class Scratch {
  readonly dir: string;
  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `tsvm-bench-${name}-`));
  }
  path(name: string): string {
    return join(this.dir, name);
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** QEMU 7.2 cannot load a gzip-compressed riscv kernel: writes the flat Image into `dir`. */
export function flatKernel(scratch: Scratch): string {
  const kernel = scratch.path('Image');
  if (!existsSync(kernel)) writeFileSync(kernel, gunzipSync(readFileSync(defaultImageGz)));
  return kernel;
}

/** `tsvm run` with the default guest and these extra options. */
export function startTsvm(args: readonly string[], memoryMiB = 256): Guest {
  return Guest.start(['--memory', String(memoryMiB), ...args]);
}

/** `qemu-system-riscv64 -M virt` (TCG, bundled OpenSBI) with the default guest and these extra options. */
export function startQemu(kernel: string, args: readonly string[], memoryMiB = 256): Guest {
  const base = ['-M', 'virt', '-m', `${memoryMiB}M`, '-nographic', '-kernel', kernel, '-initrd', defaultInitrd, '-append', 'console=ttyS0'];
  return Guest.spawn(QEMU, [...base, ...args], { name: 'qemu-system-riscv64' });
}

/**
 * Waits for the prompt, then quiets the kernel's console messages (e.g. drop_caches' notice) so
 * they do not land in the middle of a command's output.
 */
export async function ready(g: Guest): Promise<Guest> {
  await g.waitForPrompt(BOOT_TIMEOUT_MS);
  await g.run('dmesg -n 1');
  return g;
}

/** Ends a VM without waiting for a clean shutdown (nothing is measured after this). */
export async function stop(g: Guest | undefined): Promise<void> {
  if (g !== undefined) await g.kill();
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function max(xs: readonly number[]): number {
  return Math.max(...xs);
}

export function min(xs: readonly number[]): number {
  return Math.min(...xs);
}

/** "best 12.3, median 11.0 (11.0, 12.3, 9.8)" with `digits` decimals. */
/** Wall time of `tsvm run --help` (best of 3): Node's and the CLI's start-up, for reference. */
export function cliStartupMs(): number {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['--v8-pool-size=1', join(root, 'bin', 'tsvm.js'), 'run', '--help'], { stdio: 'ignore' });
    times.push(performance.now() - t0);
  }
  return min(times);
}

export function figures(xs: readonly number[], unit: string, best: 'max' | 'min', digits = 1): string {
  const b = best === 'max' ? max(xs) : min(xs);
  return `best ${b.toFixed(digits)} ${unit}, median ${median(xs).toFixed(digits)} ${unit} (${xs.map((x) => x.toFixed(digits)).join(', ')})`;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Rejects if `p` takes longer than `ms` (so one stuck step cannot hang the whole benchmark). */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Bytes and seconds from busybox dd's summary line
 * ("67108864 bytes (64.0MB) copied, 0.721725 seconds, 88.7MB/s").
 */
export function parseDd(output: string): { bytes: number; seconds: number } {
  const m = /^(\d+) bytes \([^)]*\) copied, ([\d.]+) seconds/m.exec(output);
  if (m === null) throw new Error(`no dd summary in: ${JSON.stringify(output.slice(-400))}`);
  return { bytes: Number(m[1]), seconds: Number(m[2]) };
}

/** Seconds of `real` from busybox's `time` ("real\t0m 5.73s"). */
export function parseTime(output: string): number {
  const m = /^real\s+(?:(\d+)h\s*)?(\d+)m\s*([\d.]+)s/m.exec(output);
  if (m === null) throw new Error(`no 'real' time in: ${JSON.stringify(output.slice(-400))}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

// `npm run bench` runs every script in dist/bench: say what this one is when run on its own.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log('helpers for bench/disk.ts, bench/net.ts and bench/snapshot.ts: nothing to measure here');
}
