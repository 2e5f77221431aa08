/** Random 64-bit register and memory values with a bias toward edge cases (integer and floating point). */
import type { Rng } from './rng.js';

const M64 = (1n << 64n) - 1n;

/** Sign-extends the low 32 bits of v to 64 bits (as an unsigned 64-bit bigint). */
export function sext32(v: bigint): bigint {
  const lo = v & 0xffff_ffffn;
  return lo & 0x8000_0000n ? lo | 0xffff_ffff_0000_0000n : lo;
}

const INT_EDGES: readonly bigint[] = [
  0n,
  1n,
  2n,
  3n,
  M64, // -1
  M64 - 1n, // -2
  0x8000_0000_0000_0000n, // INT64_MIN
  0x8000_0000_0000_0001n,
  0x7fff_ffff_ffff_ffffn, // INT64_MAX
  0xffff_ffff_8000_0000n, // INT32_MIN
  0x7fff_ffffn, // INT32_MAX
  0x8000_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  0x1_ffff_ffffn,
  0xffff_ffff_7fff_ffffn,
  0x0000_0000_0000_0800n,
  0xffff_ffff_ffff_f800n,
  0x0000_0000_0000_07ffn,
  0x0000_0000_0000_003fn,
  0x0000_0000_0000_0040n,
  0x0000_0000_0000_001fn,
  0x0000_0000_0000_0020n,
];

export const DOUBLE_EDGES: readonly bigint[] = [
  0x0000_0000_0000_0000n, // +0
  0x8000_0000_0000_0000n, // -0
  0x7ff0_0000_0000_0000n, // +inf
  0xfff0_0000_0000_0000n, // -inf
  0x7ff8_0000_0000_0000n, // canonical qNaN
  0xfff8_0000_0000_0000n, // -qNaN
  0x7ff0_0000_0000_0001n, // sNaN
  0x7ff4_0000_0000_0000n, // sNaN
  0xfff0_0000_0000_0001n, // -sNaN
  0x7ffc_0000_0000_1234n, // qNaN with payload
  0x0000_0000_0000_0001n, // min subnormal
  0x000f_ffff_ffff_ffffn, // max subnormal
  0x8000_0000_0000_0001n, // -min subnormal
  0x8008_0000_0000_0000n, // -subnormal
  0x0010_0000_0000_0000n, // min normal
  0x7fef_ffff_ffff_ffffn, // max finite
  0xffef_ffff_ffff_ffffn, // -max finite
  0x3ff0_0000_0000_0000n, // 1.0
  0xbff0_0000_0000_0000n, // -1.0
  0x3fe0_0000_0000_0000n, // 0.5
  0xbfe0_0000_0000_0000n, // -0.5
  0x3ff8_0000_0000_0000n, // 1.5
  0xbff8_0000_0000_0000n, // -1.5
  0x4004_0000_0000_0000n, // 2.5
  0xc004_0000_0000_0000n, // -2.5
  0x3fe0_0000_0000_0001n, // just above 0.5
  0x3fdf_ffff_ffff_ffffn, // just below 0.5
  0x3ff0_0000_0000_0001n, // 1 + ulp
  0x3fef_ffff_ffff_ffffn, // 1 - ulp
  0x4000_0000_0000_0000n, // 2.0
  0x41df_ffff_ffc0_0000n, // 2^31 - 1
  0x41df_ffff_ffe0_0000n, // 2^31 - 0.5
  0x41e0_0000_0000_0000n, // 2^31
  0xc1e0_0000_0000_0000n, // -2^31
  0xc1e0_0000_0010_0000n, // -2^31 - 0.5
  0xc1e0_0000_0020_0000n, // -2^31 - 1
  0x41ef_ffff_ffe0_0000n, // 2^32 - 1
  0x41ef_ffff_fff0_0000n, // 2^32 - 0.5
  0x41f0_0000_0000_0000n, // 2^32
  0x43df_ffff_ffff_ffffn, // largest double below 2^63
  0x43e0_0000_0000_0000n, // 2^63
  0xc3e0_0000_0000_0000n, // -2^63
  0xc3e0_0000_0000_0001n, // just below -2^63
  0x43ef_ffff_ffff_ffffn, // largest double below 2^64
  0x43f0_0000_0000_0000n, // 2^64
  0x4340_0000_0000_0000n, // 2^53
  0x4330_0000_0000_0001n, // 2^52 + 1
  0x3cb0_0000_0000_0000n, // 2^-52
  0x47ef_ffff_e000_0000n, // max float
  0x47ef_ffff_f000_0000n, // max float + half ulp (overflow boundary)
  0x47ef_ffff_efff_ffffn, // just below the float overflow boundary
  0x3810_0000_0000_0000n, // min normal float 2^-126
  0x380f_ffff_ffff_ffffn, // just below min normal float
  0x36a0_0000_0000_0000n, // min subnormal float 2^-149
  0x3690_0000_0000_0000n, // 2^-150 (rounds to 0 or min subnormal float)
  0x3690_0000_0000_0001n,
  0x3ff0_0000_1000_0000n, // 1 + float half ulp (tie, rounds to even = 1)
  0x3ff0_0000_3000_0000n, // 1 + 3 float half ulps (tie, rounds up)
  0x3ff0_0000_1000_0001n, // just above a float tie
  0x3ff0_0000_0fff_ffffn, // just below a float tie
];

export const SINGLE_EDGES: readonly number[] = [
  0x0000_0000, // +0
  0x8000_0000, // -0
  0x7f80_0000, // +inf
  0xff80_0000, // -inf
  0x7fc0_0000, // canonical qNaN
  0xffc0_0000, // -qNaN
  0x7f80_0001, // sNaN
  0x7fa0_0000, // sNaN
  0xff80_0001, // -sNaN
  0x7fc0_1234, // qNaN with payload
  0x0000_0001, // min subnormal
  0x007f_ffff, // max subnormal
  0x8000_0001, // -min subnormal
  0x0080_0000, // min normal
  0x7f7f_ffff, // max finite
  0xff7f_ffff, // -max finite
  0x3f80_0000, // 1.0
  0xbf80_0000, // -1.0
  0x3f00_0000, // 0.5
  0xbf00_0000, // -0.5
  0x3fc0_0000, // 1.5
  0xbfc0_0000, // -1.5
  0x4020_0000, // 2.5
  0xc020_0000, // -2.5
  0x3f00_0001, // just above 0.5
  0x3eff_ffff, // just below 0.5
  0x3f80_0001, // 1 + ulp
  0x3f7f_ffff, // 1 - ulp
  0x4eff_ffff, // largest float below 2^31
  0x4f00_0000, // 2^31
  0xcf00_0000, // -2^31
  0xcf00_0001, // just below -2^31
  0x4f7f_ffff, // largest float below 2^32
  0x4f80_0000, // 2^32
  0x5eff_ffff, // largest float below 2^63
  0x5f00_0000, // 2^63
  0xdf00_0000, // -2^63
  0xdf00_0001, // just below -2^63
  0x5f7f_ffff, // largest float below 2^64
  0x5f80_0000, // 2^64
  0x4b80_0000, // 2^24
  0x4b00_0001, // 2^23 + 1
  0x3400_0000, // 2^-23
  0x0040_0000, // subnormal
];

/** A random 32-bit float bit pattern, biased toward special exponents and mantissas. */
export function randomSingle(rng: Rng): number {
  if (rng.chance(0.5)) return rng.pick(SINGLE_EDGES);
  const sign = rng.chance(0.5) ? 1 : 0;
  const exp = rng.pick([0, 1, 0xfe, 0xff, 0x7f, 0x7e, 0x80, 0x9e, 0x9f, 0xbe, 0xbf, rng.int(256), rng.int(256), rng.range(0x60, 0xa0)]);
  const mant = rng.pick([0, 1, 0x7f_ffff, 0x40_0000, 0x3f_ffff, rng.u32() & 0x7f_ffff, rng.u32() & 0x7f_ffff, rng.u32() & 0x7f_0000]);
  return ((sign << 31) | (exp << 23) | mant) >>> 0;
}

/** A random double bit pattern, biased toward special exponents and mantissas. */
export function randomDouble(rng: Rng): bigint {
  if (rng.chance(0.5)) return rng.pick(DOUBLE_EDGES);
  const sign = rng.chance(0.5) ? 1n : 0n;
  const exp = BigInt(
    rng.pick([0, 1, 0x7fe, 0x7ff, 0x3ff, 0x3fe, 0x400, 0x41d, 0x41e, 0x43d, 0x43e, 0x43f, 0x380, 0x36a, 0x47e, rng.int(2048), rng.int(2048), rng.range(0x3c0, 0x440)]),
  );
  const mant = rng.pick([
    0n,
    1n,
    0xf_ffff_ffff_ffffn,
    0x8_0000_0000_0000n,
    0x7_ffff_ffff_ffffn,
    0x1000_0000n, // float half ulp
    0x1fff_ffffn,
    0xf_ffff_e000_0000n, // representable as a float
    rng.u64() & 0xf_ffff_ffff_ffffn,
    rng.u64() & 0xf_ffff_ffff_ffffn,
    rng.u64() & 0xf_ffff_e000_0000n,
  ]);
  return (sign << 63n) | (exp << 52n) | mant;
}

/** A random 64-bit FP register value: a double, a NaN-boxed single, or a non-boxed pattern. */
export function randomFpReg(rng: Rng): bigint {
  const r = rng.int(100);
  if (r < 45) return randomDouble(rng);
  if (r < 90) return 0xffff_ffff_0000_0000n | BigInt(randomSingle(rng));
  // Not properly NaN-boxed: single operations must read these as the canonical NaN.
  const hi = rng.pick([0n, 0xffff_fffen, 0x7fff_ffffn, 0xffff_0000n, BigInt(rng.u32())]);
  return (hi << 32n) | BigInt(randomSingle(rng));
}

/** A random 64-bit integer register value. */
export function randomInt(rng: Rng): bigint {
  const r = rng.int(100);
  if (r < 35) return rng.pick(INT_EDGES);
  if (r < 45) return BigInt.asUintN(64, BigInt(rng.range(-16, 16)));
  if (r < 52) {
    const k = BigInt(rng.int(64));
    const v = rng.pick([1n << k, (1n << k) - 1n, -(1n << k), ~(1n << k)]);
    return BigInt.asUintN(64, v);
  }
  if (r < 62) return sext32(BigInt(rng.u32()));
  if (r < 67) return BigInt(rng.u32());
  if (r < 75) return rng.chance(0.5) ? randomDouble(rng) : 0xffff_ffff_0000_0000n | BigInt(randomSingle(rng));
  if (r < 80) return BigInt(randomSingle(rng));
  return rng.u64();
}

/** Random scratch memory: random bytes with edge values (integer and FP) in many 8-byte slots. */
export function randomScratch(rng: Rng, size: number): Uint8Array {
  const mem = new Uint8Array(size);
  const dv = new DataView(mem.buffer);
  for (let i = 0; i < size; i += 4) dv.setUint32(i, rng.u32(), true);
  for (let i = 0; i + 8 <= size; i += 8) {
    const r = rng.int(10);
    if (r < 3) dv.setBigUint64(i, randomInt(rng), true);
    else if (r < 6) dv.setBigUint64(i, randomFpReg(rng), true);
    else if (r < 8) {
      dv.setUint32(i, randomSingle(rng), true);
      dv.setUint32(i + 4, randomSingle(rng), true);
    }
  }
  return mem;
}

// ---------------------------------------------------------------------------------------------
// The per-program constant pool: values in related pairs so that directed operand choices often
// meet interesting combinations (x and -x, x and x+1 ulp, equal values, ...).

/** Entries per pool section. */
export const POOL_SECTION = 128;
/** Pool sections: integers, doubles, NaN-boxed singles (some not boxed), miscellaneous. */
export const POOL_INT = 0;
export const POOL_DOUBLE = 1;
export const POOL_SINGLE = 2;
export const POOL_MISC = 3;
export const POOL_ENTRIES = 4 * POOL_SECTION;

const SIGN64 = 1n << 63n;

const f64 = new Float64Array(1);
const f64Bits = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** A value with a fractional part of exactly one half (a rounding tie for conversions to integers). */
function halfInteger(rng: Rng, single: boolean): number {
  const limit = single ? 2 ** 22 : 2 ** 51;
  const base = rng.pick([rng.range(-8, 8), rng.range(-1000, 1000), 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, rng.int(limit)]);
  return Math.min(base, limit) + 0.5;
}

function doubleBits(x: number): bigint {
  f64[0] = x;
  return f64Bits[0] ?? 0n;
}

function singleBits(x: number): number {
  f32[0] = x;
  return f32Bits[0] ?? 0;
}

function weightedDouble(rng: Rng): bigint {
  const sign = rng.chance(0.5) ? SIGN64 : 0n;
  if (rng.chance(0.1)) return doubleBits(halfInteger(rng, false)) ^ sign;
  const r = rng.int(100);
  if (r < 14) return sign; // ±0
  if (r < 22) return sign | 0x7ff0_0000_0000_0000n; // ±inf
  if (r < 34) {
    // NaNs: quiet or signaling, with or without payload
    const quiet = rng.chance(0.5) ? 0x8_0000_0000_0000n : 0n;
    let payload = rng.pick([0n, 1n, rng.u64() & 0x7_ffff_ffff_ffffn]);
    if (!quiet && payload === 0n) payload = 1n;
    return sign | 0x7ff0_0000_0000_0000n | quiet | payload;
  }
  if (r < 44) return sign | rng.pick([1n, 0xf_ffff_ffff_ffffn, rng.u64() & 0xf_ffff_ffff_ffffn, 0x8_0000_0000_0000n]); // subnormal
  if (r < 72) return rng.pick(DOUBLE_EDGES) ^ (rng.chance(0.3) ? SIGN64 : 0n);
  return randomDouble(rng);
}

function weightedSingle(rng: Rng): number {
  const sign = rng.chance(0.5) ? 0x8000_0000 : 0;
  if (rng.chance(0.1)) return (singleBits(halfInteger(rng, true)) ^ sign) >>> 0;
  const r = rng.int(100);
  let v: number;
  if (r < 14) v = sign;
  else if (r < 22) v = sign | 0x7f80_0000;
  else if (r < 34) {
    const quiet = rng.chance(0.5) ? 0x40_0000 : 0;
    let payload = rng.pick([0, 1, rng.u32() & 0x3f_ffff]);
    if (!quiet && payload === 0) payload = 1;
    v = sign | 0x7f80_0000 | quiet | payload;
  } else if (r < 44) v = sign | rng.pick([1, 0x7f_ffff, rng.u32() & 0x7f_ffff, 0x40_0000]);
  else if (r < 72) v = rng.pick(SINGLE_EDGES) ^ (rng.chance(0.3) ? 0x8000_0000 : 0);
  else v = randomSingle(rng);
  return v >>> 0;
}

/** Integers including conversion rounding boundaries (ties for binary32/binary64). */
function weightedInt(rng: Rng): bigint {
  const r = rng.int(100);
  if (r < 12) {
    // k-bit magnitude with a bit exactly at the float/double rounding position (a tie), maybe +1
    const prec = rng.chance(0.5) ? 24 : 53;
    const k = rng.range(prec, 63);
    let v = (1n << BigInt(k)) + (1n << BigInt(k - prec));
    if (rng.chance(0.4)) v += 1n;
    if (rng.chance(0.3)) v += 1n << BigInt(k - prec + 1);
    if (rng.chance(0.5)) v = -v;
    return BigInt.asUintN(64, v);
  }
  if (r < 20) return sext32(BigInt(rng.pick([0x0100_0001, 0x0100_0003, 0x7fff_ffc0, 0x7fff_ff80, -0x0100_0001, rng.u32()])));
  return randomInt(rng);
}

function intSibling(rng: Rng, v: bigint): bigint {
  switch (rng.int(7)) {
    case 0:
      return BigInt.asUintN(64, -v);
    case 1:
      return BigInt.asUintN(64, v + 1n);
    case 2:
      return BigInt.asUintN(64, v - 1n);
    case 3:
      return BigInt.asUintN(64, ~v);
    case 4:
      return v;
    case 5:
      return rng.pick([0n, 1n, (1n << 64n) - 1n, 0x8000_0000_0000_0000n, 0xffff_ffff_8000_0000n]);
    default:
      return sext32(v);
  }
}

function doubleSibling(rng: Rng, v: bigint): bigint {
  switch (rng.int(6)) {
    case 0:
    case 1:
      return v ^ SIGN64;
    case 2:
      return BigInt.asUintN(64, v + 1n);
    case 3:
      return BigInt.asUintN(64, v - 1n);
    case 4:
      return v;
    default:
      return weightedDouble(rng);
  }
}

function singleSibling(rng: Rng, v: number): number {
  switch (rng.int(6)) {
    case 0:
    case 1:
      return (v ^ 0x8000_0000) >>> 0;
    case 2:
      return (v + 1) >>> 0;
    case 3:
      return (v - 1) >>> 0;
    case 4:
      return v;
    default:
      return weightedSingle(rng);
  }
}

const BOX = 0xffff_ffff_0000_0000n;

/**
 * The first HOT_ENTRIES entries of the integer, double and single sections are fixed "hot"
 * values; directed operands are often both drawn from them, so that combinations such as
 * INT32_MIN / -1 or fmin(+0, -0) come up often.
 */
export const HOT_ENTRIES = 16;

const HOT_INT: readonly bigint[] = [
  0n, 1n, M64, 2n, 0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn, 0xffff_ffff_8000_0000n, 0x7fff_ffffn,
  0x8000_0000n, 0xffff_ffffn, M64, 0xffff_ffff_8000_0000n, 0x8000_0000_0000_0000n, 0x1_0000_0000n, 0x8000_0000_0000_0001n, 0x3fn,
];
const HOT_DOUBLE: readonly bigint[] = [
  0n, SIGN64, 0x7ff0_0000_0000_0000n, 0xfff0_0000_0000_0000n, 0x7ff8_0000_0000_0000n, 0x7ff0_0000_0000_0001n,
  0x3ff0_0000_0000_0000n, 0xbff0_0000_0000_0000n, 1n, SIGN64 | 1n, 0x7fef_ffff_ffff_ffffn, 0xffef_ffff_ffff_ffffn,
  0x3fe0_0000_0000_0000n, 0xc004_0000_0000_0000n, 0x3ff8_0000_0000_0000n, 0x0010_0000_0000_0000n,
];
const HOT_SINGLE: readonly number[] = [
  0, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f80_0001, 0x3f80_0000, 0xbf80_0000, 1, 0x8000_0001,
  0x7f7f_ffff, 0xff7f_ffff, 0x3f00_0000, 0xc020_0000, 0x3fc0_0000, 0x0080_0000,
];

/** Builds the constant pool: POOL_ENTRIES 64-bit values, hot values and then (value, sibling) pairs. */
export function randomPool(rng: Rng): bigint[] {
  const pool: bigint[] = [...HOT_INT];
  for (let i = HOT_ENTRIES; i < POOL_SECTION; i += 2) {
    const v = weightedInt(rng);
    pool.push(v, intSibling(rng, v));
  }
  pool.push(...HOT_DOUBLE);
  for (let i = HOT_ENTRIES; i < POOL_SECTION; i += 2) {
    const v = weightedDouble(rng);
    pool.push(v, doubleSibling(rng, v));
  }
  for (const v of HOT_SINGLE) pool.push(BOX | BigInt(v));
  for (let i = HOT_ENTRIES; i < POOL_SECTION; i += 2) {
    const v = weightedSingle(rng);
    const s = singleSibling(rng, v);
    // Mostly NaN-boxed; sometimes not (single operations must then see the canonical NaN).
    const box = (x: number): bigint => (rng.chance(0.9) ? BOX : rng.pick([0n, 0xffff_fffe_0000_0000n, 0x7fff_ffff_0000_0000n])) | BigInt(x);
    pool.push(box(v), box(s));
  }
  for (let i = 0; i < POOL_SECTION; i++) pool.push(rng.chance(0.5) ? randomFpReg(rng) : randomInt(rng));
  return pool;
}
