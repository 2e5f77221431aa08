/**
 * The guest programs of the self-modifying-code tests (test/e2e/jit-smc.test.ts and
 * test/jit/linux-diff.test.ts): where their prebuilt ELFs are, what each prints (computed here,
 * independently of either engine), and how to type one into a guest shell.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { repoRoot } from '../../support/repo-root.js';

const BIN = join(repoRoot(import.meta.url), 'test', 'e2e', 'jit-smc', 'bin');

/** prog.S's variants: the table in build.sh. */
export const VARIANTS = [
  { id: 0, shiftA: 13n, shiftB: 7n, shiftC: 17n, addend: 5n },
  { id: 1, shiftA: 11n, shiftB: 9n, shiftC: 23n, addend: -77n },
  { id: 2, shiftA: 21n, shiftB: 35n, shiftC: 4n, addend: 1000n },
  { id: 3, shiftA: 5n, shiftB: 27n, shiftC: 31n, addend: -1n },
] as const;
/** prog.S's ITERATIONS and SEED. */
const ITERATIONS = 200_000;
const SEED = 0x12345678n;
/** selfmod.S's CALLS and its patch table (bump's immediate, the loop's immediate) per round. */
const CALLS = 50_000n;
const SELFMOD_ROUNDS: readonly (readonly [bigint, bigint])[] = [[1n, -1n], [7n, 3n], [-3n, 100n], [2047n, -2048n], [-2048n, 2047n], [0n, 1n]];

const MASK64 = (1n << 64n) - 1n;
const hex16 = (v: bigint): string => (v & MASK64).toString(16).padStart(16, '0');

/** prog<id>.elf. */
export function variantElf(id: number): Uint8Array {
  return new Uint8Array(readFileSync(join(BIN, `prog${id}.elf`)));
}

/** selfmod.elf. */
export function selfmodElf(): Uint8Array {
  return new Uint8Array(readFileSync(join(BIN, 'selfmod.elf')));
}

/** What prog<id>.elf prints (it exits with status 40 + id). */
export function variantOutput(id: number): string {
  const v = VARIANTS[id];
  let s = SEED;
  for (let i = 0; i < ITERATIONS; i++) {
    s ^= (s << v.shiftA) & MASK64;
    s ^= s >> v.shiftB;
    s ^= (s << v.shiftC) & MASK64;
    s = (s + v.addend) & MASK64;
  }
  return `v${id} ${hex16(s)}`;
}

/** What selfmod.elf prints (it exits with status 0). */
export function selfmodOutput(): string {
  return SELFMOD_ROUNDS.map(([a, b], r) => `r${r} ${hex16(CALLS * a)} ${hex16(CALLS * b)}`).join('\n');
}

/**
 * A shell command that writes `bytes` to `path` (made executable), and the here-document body to
 * type right after the command's line: gzip, then base64 in lines the tty takes (busybox has
 * base64 and gunzip).
 */
export function uploadCommand(path: string, bytes: Uint8Array): { command: string; body: string } {
  const b64 = Buffer.from(gzipSync(bytes, { level: 9 })).toString('base64');
  const lines = b64.match(/.{1,76}/g) ?? [];
  return { command: `base64 -d <<'__END__' | gunzip > ${path} && chmod +x ${path}`, body: `${lines.join('\n')}\n__END__\n` };
}
