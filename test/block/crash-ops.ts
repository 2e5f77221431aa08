/**
 * The deterministic operation sequence of the kill -9 crash test, shared by the child that runs it
 * and the parent that replays it to know what each sector may hold.
 */
import { Rng } from '../../src/block/testing.js';

export type CrashOp =
  | { kind: 'write'; tag: number; first: number; count: number }
  | { kind: 'zero'; first: number; count: number; unmap: boolean }
  | { kind: 'flush' };

/** Operations from `seed` on a disk of `sectors` 512-byte sectors (endless; callers stop). */
export function* crashOps(seed: number, sectors: number): Generator<CrashOp> {
  const rng = new Rng(seed);
  for (let i = 0; ; i++) {
    const count = 1 + rng.int(96);
    const first = rng.int(sectors - count);
    const r = rng.int(12);
    if (r < 9) yield { kind: 'write', tag: seed * 100000 + i + 1, first, count };
    else if (r < 10) yield { kind: 'zero', first, count, unmap: rng.int(2) === 0 };
    else yield { kind: 'flush' };
  }
}

/** The contents of `count` sectors from `first` written by the operation tagged `tag`. */
export function sectorData(tag: number, first: number, count: number): Uint8Array {
  const out = new Uint8Array(count * 512);
  const v = new DataView(out.buffer);
  for (let s = 0; s < count; s++) {
    let x = (tag * 2654435761 + (first + s) * 40503) >>> 0 || 1;
    for (let i = 0; i < 512; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      v.setUint32(s * 512 + i, x >>> 0);
    }
    v.setUint32(s * 512, tag);
    v.setUint32(s * 512 + 4, first + s);
  }
  return out;
}
