/**
 * IEEE 754 binary32 / binary64 arithmetic with the exact semantics the RISC-V F and D extensions
 * require: every result bit and every accrued exception flag, in all five rounding modes.
 *
 * RISC-V rules implemented here (unprivileged ISA, "F" and "D" chapters):
 *   - a NaN result is always the canonical NaN (f32 0x7fc00000, f64 0x7ff8000000000000);
 *   - signaling NaN inputs raise NV; fused multiply-add raises NV for inf*0 even when the addend
 *     is a quiet NaN;
 *   - tininess is detected after rounding, and UF is raised only when the result is tiny AND
 *     inexact;
 *   - FMIN/FMAX are IEEE 754-2019 minimumNumber/maximumNumber (-0 < +0, a single NaN input yields
 *     the other operand, two NaNs yield the canonical NaN, sNaN inputs raise NV);
 *   - FEQ is a quiet comparison (NV only for sNaN), FLT/FLE are signaling (NV for any NaN);
 *   - float-to-integer conversions saturate (NaN and +inf give the largest value) and raise NV when
 *     the rounded value is out of range, NX when inexact and valid.
 *
 * Representation: a binary32 is one int32 (`a`); a binary64 is an (lo, hi) pair of int32; 64-bit
 * integers are (lo, hi) pairs too. Results go into a caller-owned {@link FpOut}; `flags` holds only
 * the flags raised by that one operation.
 *
 * Method (no BigInt, no allocation): operands are unpacked into an integer significand m
 * (2^52 <= m < 2^53, held exactly in a JS number) and an exponent. The exact result of every
 * operation is obtained with error-free transformations on doubles (TwoSum, Dekker's TwoProduct,
 * and remainder signs for division and square root) as a head value plus an exact tail. That pair
 * is turned into "53-bit truncated significand + position of the discarded part relative to one
 * half" (toMRest), and one shared routine (roundPack) rounds that to binary32 or binary64 in the
 * requested mode, producing NX/UF/OF. binary32 operations are computed on the exact double values
 * of their operands. Round-to-nearest-even operations have fast paths that use native JS
 * arithmetic directly where it provably gives the correctly rounded result, with flags derived
 * from the exact error terms.
 */

export class FpOut {
  lo = 0;
  hi = 0;
  flags = 0;
}

export const FLAG_NX = 1,
  FLAG_UF = 2,
  FLAG_OF = 4,
  FLAG_DZ = 8,
  FLAG_NV = 16;

/** Rounding modes (the RISC-V `rm` encodings). Values 5..7 are not valid here and behave as RNE. */
export const RM_RNE = 0,
  RM_RTZ = 1,
  RM_RDN = 2,
  RM_RUP = 3,
  RM_RMM = 4;

export const F32_CANONICAL_NAN = 0x7fc00000;
export const F64_CANONICAL_NAN_HI = 0x7ff80000;

// ---------------------------------------------------------------------------------------------
// Scratch views for moving between bit patterns and JS numbers.

const F64 = new Float64Array(1);
const I64W = new Int32Array(F64.buffer);
const F32 = new Float32Array(1);
const I32W = new Int32Array(F32.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE ? 0 : 1;
const HI = LITTLE ? 1 : 0;

/** 2^n for integer n in [-1074, 1023] (0 below, Infinity above). */
const POW2_BASE = 1100;
const POW2 = new Float64Array(2 * POW2_BASE + 1);
{
  let v = 1;
  for (let n = 0; n <= 1023; n++) {
    POW2[POW2_BASE + n] = v;
    v *= 2;
  }
  for (let n = 1024; n <= POW2_BASE; n++) POW2[POW2_BASE + n] = Infinity;
  v = 1;
  for (let n = 0; n <= 1074; n++) {
    POW2[POW2_BASE - n] = v;
    v /= 2;
  }
}
function pow2(n: number): number {
  return n < -POW2_BASE ? 0 : n > POW2_BASE ? Infinity : POW2[POW2_BASE + n];
}

const TWO32 = 4294967296;
const TWO52 = 4503599627370496;
const TWO53 = 9007199254740992;
/** Veltkamp splitting constant 2^27 + 1. */
const SPLIT = 134217729;
const MIN_NORMAL_F32 = 1.1754943508222875e-38; // 2^-126

/**
 * The double with bit pattern (lo, hi), computed arithmetically: two 32-bit stores followed by a
 * 64-bit load of the same memory defeats store-to-load forwarding and is several times slower.
 */
function f64Value(lo: number, hi: number): number {
  const e = (hi >>> 20) & 0x7ff;
  const m = (hi & 0xfffff) * TWO32 + (lo >>> 0);
  let v: number;
  if (e === 0) v = m * 5e-324; // subnormal: m * 2^-1074, exact
  else if (e === 0x7ff) v = m === 0 ? Infinity : NaN;
  else v = (m + TWO52) * POW2[POW2_BASE - 1075 + e]; // exact: 53-bit integer times a power of two
  return (hi | 0) < 0 ? -v : v;
}

function f32Value(a: number): number {
  I32W[0] = a;
  return F32[0];
}

function setF64(out: FpOut, x: number, flags: number): void {
  F64[0] = x;
  out.lo = I64W[LO];
  out.hi = I64W[HI];
  out.flags = flags;
}

function setF32(out: FpOut, x: number, flags: number): void {
  F32[0] = x;
  out.lo = I32W[0];
  out.hi = 0;
  out.flags = flags;
}

function setBits32(out: FpOut, bits: number, flags: number): void {
  out.lo = bits | 0;
  out.hi = 0;
  out.flags = flags;
}

function setBits64(out: FpOut, lo: number, hi: number, flags: number): void {
  out.lo = lo | 0;
  out.hi = hi | 0;
  out.flags = flags;
}

function nan32(out: FpOut, flags: number): void {
  out.lo = F32_CANONICAL_NAN;
  out.hi = 0;
  out.flags = flags;
}

function nan64(out: FpOut, flags: number): void {
  out.lo = 0;
  out.hi = F64_CANONICAL_NAN_HI;
  out.flags = flags;
}

/** Error of p = RN(a*b): returns e with a*b = p + e exactly (Dekker), given no over/underflow. */
function twoProdErr(a: number, b: number, p: number): number {
  let c = SPLIT * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLIT * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

// ---------------------------------------------------------------------------------------------
// Classification helpers.

const C_ZERO = 0,
  C_FIN = 1,
  C_INF = 2,
  C_QNAN = 3,
  C_SNAN = 4;

function class32(a: number): number {
  const e = (a >>> 23) & 0xff;
  const f = a & 0x7fffff;
  if (e === 0xff) return f === 0 ? C_INF : f & 0x400000 ? C_QNAN : C_SNAN;
  if (e === 0 && f === 0) return C_ZERO;
  return C_FIN;
}

function isNaN32(a: number): boolean {
  return (a & 0x7fffffff) > 0x7f800000;
}
function isSNaN32(a: number): boolean {
  return (a & 0x7fc00000) === 0x7f800000 && (a & 0x3fffff) !== 0;
}
function isNaN64(lo: number, hi: number): boolean {
  const h = hi & 0x7fffffff;
  return h > 0x7ff00000 || (h === 0x7ff00000 && lo !== 0);
}
function isSNaN64(lo: number, hi: number): boolean {
  return (hi & 0x7ff80000) === 0x7ff00000 && ((hi & 0x7ffff) | lo) !== 0;
}

// Unpacked binary64 operand (class C_FIN): value = (-1)^UNP[0] * UNP[1] * 2^UNP[2] with
// 2^52 <= UNP[1] < 2^53. Kept in a typed array: module-level `let` numbers that are not small
// integers are boxed, so every write would allocate.
const UNP = new Float64Array(3);

function unpack64(lo: number, hi: number): number {
  UNP[0] = hi >>> 31;
  const field = (hi >>> 20) & 0x7ff;
  const fh = hi & 0xfffff;
  if (field === 0x7ff) {
    if ((fh | lo) === 0) return C_INF;
    return fh & 0x80000 ? C_QNAN : C_SNAN;
  }
  if (field === 0) {
    if ((fh | lo) === 0) return C_ZERO;
    const bitLen = fh !== 0 ? 64 - Math.clz32(fh) : 32 - Math.clz32(lo);
    const sh = 53 - bitLen;
    UNP[1] = (fh * TWO32 + (lo >>> 0)) * pow2(sh);
    UNP[2] = -1074 - sh;
    return C_FIN;
  }
  UNP[1] = (fh | 0x100000) * TWO32 + (lo >>> 0);
  UNP[2] = field - 1075;
  return C_FIN;
}

// ---------------------------------------------------------------------------------------------
// Rounding core.

// Result of toMRest: |exact| = (GR[0] + frac) * 2^GR[1] with 2^52 <= GR[0] < 2^53, and frac given
// by GR[2] ("rest"): 0: frac = 0; 1: 0 < frac < 1/2; 2: frac = 1/2; 3: 1/2 < frac < 1.
// GR[3]: sign of the exact value.
const GR = new Float64Array(4);

/**
 * Converts an exact value given as head + tail, X = s + w + v, into (GR[3], GR[0], GR[1], GR[2]).
 * Requirements: s != 0 is a double; the tail T = w + v satisfies |T| < the gap between s and its
 * neighbour on T's side; |w| is at most half that gap; and when w != 0, |v| is smaller than the
 * granularity of w (so v only matters when |w| is exactly half the gap, or when w = 0). Every
 * caller passes either an exact rounding error of s (TwoSum/TwoProduct), or a tiny stand-in whose
 * only job is to carry the sign of an inexact remainder.
 */
function toMRest(s: number, w: number, v: number): void {
  if (s < 0) {
    GR[3] = 1;
    s = -s;
    w = -w;
    v = -v;
  } else GR[3] = 0;
  F64[0] = s;
  let hi = I64W[HI];
  let lo = I64W[LO];
  let field = hi >>> 20;
  let eAdj = 0;
  if (field === 0) {
    // Subnormal head (only from f64->f32 of a subnormal double, where the tail is zero).
    const k = 1.8446744073709552e19; // 2^64
    s *= k;
    w *= k;
    v *= k;
    eAdj = -64;
    F64[0] = s;
    hi = I64W[HI];
    lo = I64W[LO];
    field = hi >>> 20;
  }
  let m = ((hi & 0xfffff) | 0x100000) * TWO32 + (lo >>> 0);
  let e = field - 1075;
  const dir = w !== 0 ? (w > 0 ? 1 : -1) : v > 0 ? 1 : v < 0 ? -1 : 0;
  if (dir === 0) {
    GR[2] = 0;
  } else {
    const ulp = pow2(e);
    let half: number;
    if (dir > 0) {
      half = ulp * 0.5;
    } else if (m === TWO52) {
      // Below a power of two the grid is twice as fine.
      m = TWO53 - 1;
      e -= 1;
      half = ulp * 0.25;
    } else {
      m -= 1;
      half = ulp * 0.5;
    }
    // c = sign(|T| - half)
    let c: number;
    if (w === 0) {
      const av = Math.abs(v);
      c = av < half ? -1 : av > half ? 1 : 0;
    } else {
      const aw = Math.abs(w);
      if (aw !== half) c = aw < half ? -1 : 1;
      else c = v === 0 ? 0 : v > 0 === w > 0 ? 1 : -1;
    }
    // Distance above the truncated point: |T| when the tail points away from zero, gap - |T| else.
    if (dir > 0) GR[2] = c < 0 ? 1 : c === 0 ? 2 : 3;
    else GR[2] = c < 0 ? 3 : c === 0 ? 2 : 1;
  }
  GR[0] = m;
  GR[1] = e + eAdj;
}

/** Whether to add one unit in the last place. cls: 0 exact, 1 below half, 2 half, 3 above half. */
function roundInc(cls: number, odd: number, sign: number, rm: number): number {
  if (cls === 0) return 0;
  switch (rm) {
    case RM_RTZ:
      return 0;
    case RM_RDN:
      return sign;
    case RM_RUP:
      return sign ^ 1;
    case RM_RMM:
      return cls >= 2 ? 1 : 0;
    default:
      return cls === 3 || (cls === 2 && odd !== 0) ? 1 : 0;
  }
}

function overflowResult(is64: boolean, sign: number, rm: number, out: FpOut): void {
  const toMax = rm === RM_RTZ || (rm === RM_RDN && sign === 0) || (rm === RM_RUP && sign !== 0);
  const s = sign << 31;
  if (is64) {
    if (toMax) setBits64(out, -1, s | 0x7fefffff, FLAG_OF | FLAG_NX);
    else setBits64(out, 0, s | 0x7ff00000, FLAG_OF | FLAG_NX);
  } else {
    setBits32(out, s | (toMax ? 0x7f7fffff : 0x7f800000), FLAG_OF | FLAG_NX);
  }
}

/**
 * Rounds (-1)^sign * (m + frac) * 2^e (2^52 <= m < 2^53, frac given by rest as in toMRest) to
 * binary64 (is64) or binary32 in mode rm, writing the bits and NX/UF/OF flags to out.
 */
function roundPack(
  is64: boolean,
  sign: number,
  m: number,
  e: number,
  rest: number,
  rm: number,
  out: FpOut,
): void {
  const p = is64 ? 53 : 24;
  const bias = is64 ? 1023 : 127;
  const emin = 1 - bias;
  const X = e + 52; // exponent of the leading bit
  let k = 53 - p; // number of low bits of m to discard
  let tiny = false;
  if (X < emin) {
    k += emin - X;
    tiny = true;
    if (X === emin - 1) {
      // Tininess after rounding: would rounding to p bits with an unbounded exponent reach 2^emin?
      const k0 = 53 - p;
      let kept0: number, cls0: number;
      if (k0 === 0) {
        kept0 = m;
        cls0 = rest;
      } else {
        const pk = pow2(k0);
        kept0 = Math.floor(m / pk);
        const low = m - kept0 * pk;
        const half = pk * 0.5;
        cls0 = low > half ? 3 : low === half ? (rest !== 0 ? 3 : 2) : low === 0 && rest === 0 ? 0 : 1;
      }
      if (kept0 === pow2(p) - 1 && roundInc(cls0, 1, sign, rm) !== 0) tiny = false;
    }
  }
  let kept: number, cls: number;
  if (k === 0) {
    kept = m;
    cls = rest;
  } else if (k >= 54) {
    kept = 0;
    cls = 1;
  } else {
    const pk = pow2(k);
    kept = Math.floor(m / pk);
    const low = m - kept * pk;
    const half = pk * 0.5;
    cls = low > half ? 3 : low === half ? (rest !== 0 ? 3 : 2) : low === 0 && rest === 0 ? 0 : 1;
  }
  const sum = kept + roundInc(cls, kept % 2, sign, rm);
  const flags = cls === 0 ? 0 : tiny ? FLAG_NX | FLAG_UF : FLAG_NX;
  const fieldBase = X >= emin ? X + bias - 1 : 0;
  if (is64) {
    const top = Math.floor(sum / TWO32);
    const hi = fieldBase * 1048576 + top;
    if (hi >= 0x7ff00000) {
      overflowResult(true, sign, rm, out);
      return;
    }
    setBits64(out, sum - top * TWO32, hi | (sign << 31), flags);
  } else {
    const bits = fieldBase * 8388608 + sum;
    if (bits >= 0x7f800000) {
      overflowResult(false, sign, rm, out);
      return;
    }
    setBits32(out, bits | (sign << 31), flags);
  }
}

/** Rounds the exact value s + w + v (see toMRest) to the format. s must be nonzero. */
function roundExact(
  is64: boolean,
  s: number,
  w: number,
  v: number,
  eOffset: number,
  rm: number,
  out: FpOut,
): void {
  toMRest(s, w, v);
  roundPack(is64, GR[3], GR[0], GR[1] + eOffset, GR[2], rm, out);
}

/** Sign of an exact zero sum x + y (IEEE 754 6.3): +0, except -0 in RDN; same-signed zeros keep it. */
function zeroSumSign(signA: number, signB: number, rm: number): number {
  if (signA === signB) return signA;
  return rm === RM_RDN ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// binary32 arithmetic (computed on the exact double values of the operands).

function add32(a: number, b: number, rm: number, out: FpOut): void {
  if ((a & 0x7f800000) === 0x7f800000 || (b & 0x7f800000) === 0x7f800000) {
    const na = isNaN32(a),
      nb = isNaN32(b);
    if (na || nb) {
      nan32(out, isSNaN32(a) || isSNaN32(b) ? FLAG_NV : 0);
      return;
    }
    const ia = (a & 0x7fffffff) === 0x7f800000;
    const ib = (b & 0x7fffffff) === 0x7f800000;
    if (ia && ib && (a ^ b) >>> 31 !== 0) nan32(out, FLAG_NV);
    else setBits32(out, ia ? a : b, 0);
    return;
  }
  const x = f32Value(a),
    y = f32Value(b);
  const s = x + y;
  if (s === 0) {
    // Exact zero: both operands zero, or exact cancellation.
    setBits32(out, zeroSumSign(a >>> 31, b >>> 31, rm) << 31, 0);
    return;
  }
  const bb = s - x;
  const t = x - (s - bb) + (y - bb);
  if (rm === RM_RNE) {
    // RN24(RN53(x+y)) = RN24(x+y) (53 >= 2*24+2); binary32 sums never underflow inexactly.
    const r = Math.fround(s);
    let flags = r !== s || t !== 0 ? FLAG_NX : 0;
    if (r === Infinity || r === -Infinity) flags |= FLAG_OF;
    setF32(out, r, flags);
    return;
  }
  roundExact(false, s, t, 0, 0, rm, out);
}

export function f32Add(a: number, b: number, rm: number, out: FpOut): void {
  add32(a, b, rm, out);
}

export function f32Sub(a: number, b: number, rm: number, out: FpOut): void {
  add32(a, b ^ 0x80000000, rm, out);
}

/** Rounds an exact nonzero double x to binary32; RNE via Math.fround when flags are unambiguous. */
function roundDoubleTo32(x: number, rm: number, out: FpOut): void {
  if (rm === RM_RNE) {
    const r = Math.fround(x);
    if (r === x) {
      setF32(out, r, 0);
      return;
    }
    const ar = Math.abs(r);
    if (ar !== MIN_NORMAL_F32) {
      // A result below 2^-126 after rounding at subnormal precision is also below it at full
      // precision, so it is tiny; a result above is not.
      setF32(out, r, ar === Infinity ? FLAG_OF | FLAG_NX : ar < MIN_NORMAL_F32 ? FLAG_UF | FLAG_NX : FLAG_NX);
      return;
    }
  }
  roundExact(false, x, 0, 0, 0, rm, out);
}

export function f32Mul(a: number, b: number, rm: number, out: FpOut): void {
  const ca = class32(a),
    cb = class32(b);
  const sign = (a ^ b) & 0x80000000;
  if (ca >= C_INF || cb >= C_INF || ca === C_ZERO || cb === C_ZERO) {
    if (ca >= C_QNAN || cb >= C_QNAN) nan32(out, ca === C_SNAN || cb === C_SNAN ? FLAG_NV : 0);
    else if (ca === C_INF || cb === C_INF) {
      if (ca === C_ZERO || cb === C_ZERO) nan32(out, FLAG_NV);
      else setBits32(out, sign | 0x7f800000, 0);
    } else setBits32(out, sign, 0);
    return;
  }
  roundDoubleTo32(f32Value(a) * f32Value(b), rm, out); // 24x24-bit product is exact in a double
}

export function f32Div(a: number, b: number, rm: number, out: FpOut): void {
  const ca = class32(a),
    cb = class32(b);
  const sign = (a ^ b) & 0x80000000;
  if (ca >= C_INF || cb >= C_INF || ca === C_ZERO || cb === C_ZERO) {
    if (ca >= C_QNAN || cb >= C_QNAN) nan32(out, ca === C_SNAN || cb === C_SNAN ? FLAG_NV : 0);
    else if (ca === C_INF) {
      if (cb === C_INF) nan32(out, FLAG_NV);
      else setBits32(out, sign | 0x7f800000, 0);
    } else if (cb === C_INF) setBits32(out, sign, 0);
    else if (cb === C_ZERO) {
      if (ca === C_ZERO) nan32(out, FLAG_NV);
      else setBits32(out, sign | 0x7f800000, FLAG_DZ);
    } else setBits32(out, sign, 0); // 0 / finite
    return;
  }
  const x = f32Value(a),
    y = f32Value(b);
  const q = x / y;
  if (rm === RM_RNE) {
    // RN24(RN53(x/y)) = RN24(x/y); the quotient is exact iff r*y == x (exact 48-bit product).
    const r = Math.fround(q);
    if (r * y === x) {
      setF32(out, r, 0);
      return;
    }
    const ar = Math.abs(r);
    if (ar !== MIN_NORMAL_F32) {
      setF32(out, r, ar === Infinity ? FLAG_OF | FLAG_NX : ar < MIN_NORMAL_F32 ? FLAG_UF | FLAG_NX : FLAG_NX);
      return;
    }
  }
  // Sign of the remainder x - q*y, computed exactly.
  const ph = q * y;
  const res = x - ph - twoProdErr(q, y, ph);
  const dir = res === 0 ? 0 : (res > 0) === (y > 0) ? 1 : -1;
  roundExact(false, q, dir * Math.abs(q) * 8.673617379884035e-19 /* 2^-60 */, 0, 0, rm, out);
}

export function f32Sqrt(a: number, rm: number, out: FpOut): void {
  const ca = class32(a);
  if (ca !== C_FIN || a >>> 31 !== 0) {
    if (ca >= C_QNAN) nan32(out, ca === C_SNAN ? FLAG_NV : 0);
    else if (ca === C_ZERO) setBits32(out, a, 0);
    else if (a >>> 31 !== 0) nan32(out, FLAG_NV);
    else setBits32(out, a, 0); // +inf
    return;
  }
  const x = f32Value(a);
  const s = Math.sqrt(x);
  if (rm === RM_RNE) {
    const r = Math.fround(s); // double rounding is innocuous for sqrt (53 >= 2*24+2)
    setF32(out, r, r * r === x ? 0 : FLAG_NX);
    return;
  }
  const ph = s * s;
  const res = x - ph - twoProdErr(s, s, ph);
  roundExact(false, s, (res > 0 ? 1 : res < 0 ? -1 : 0) * s * 8.673617379884035e-19, 0, 0, rm, out);
}

export function f32MulAdd(a: number, b: number, c: number, rm: number, out: FpOut): void {
  const ca = class32(a),
    cb = class32(b),
    cc = class32(c);
  const psign = (a ^ b) >>> 31;
  if (ca >= C_INF || cb >= C_INF || cc >= C_INF) {
    const infZero = (ca === C_INF && cb === C_ZERO) || (ca === C_ZERO && cb === C_INF);
    if (ca >= C_QNAN || cb >= C_QNAN || cc >= C_QNAN) {
      nan32(out, ca === C_SNAN || cb === C_SNAN || cc === C_SNAN || infZero ? FLAG_NV : 0);
    } else if (infZero) {
      nan32(out, FLAG_NV);
    } else if (ca === C_INF || cb === C_INF) {
      if (cc === C_INF && c >>> 31 !== psign) nan32(out, FLAG_NV);
      else setBits32(out, (psign << 31) | 0x7f800000, 0);
    } else setBits32(out, c, 0); // finite * finite + inf
    return;
  }
  if (ca === C_ZERO || cb === C_ZERO) {
    if (cc === C_ZERO) setBits32(out, zeroSumSign(psign, c >>> 31, rm) << 31, 0);
    else setBits32(out, c, 0);
    return;
  }
  const p = f32Value(a) * f32Value(b); // exact
  if (cc === C_ZERO) {
    roundDoubleTo32(p, rm, out);
    return;
  }
  const z = f32Value(c);
  const s = p + z;
  if (s === 0) {
    setBits32(out, rm === RM_RDN ? 0x80000000 : 0, 0);
    return;
  }
  const bb = s - p;
  const t = p - (s - bb) + (z - bb);
  if (t === 0) roundDoubleTo32(s, rm, out);
  else roundExact(false, s, t, 0, 0, rm, out);
}

function minMax32(a: number, b: number, isMax: boolean, out: FpOut): void {
  const na = isNaN32(a),
    nb = isNaN32(b);
  if (na || nb) {
    const flags = isSNaN32(a) || isSNaN32(b) ? FLAG_NV : 0;
    if (na && nb) nan32(out, flags);
    else setBits32(out, na ? b : a, flags);
    return;
  }
  const x = f32Value(a),
    y = f32Value(b);
  let pickA: boolean;
  if (x < y) pickA = !isMax;
  else if (y < x) pickA = isMax;
  else pickA = isMax === (a >>> 31 === 0); // equal: only +0/-0 differ in bits
  setBits32(out, pickA ? a : b, 0);
}

export function f32Min(a: number, b: number, out: FpOut): void {
  minMax32(a, b, false, out);
}

export function f32Max(a: number, b: number, out: FpOut): void {
  minMax32(a, b, true, out);
}

export function f32Eq(a: number, b: number, out: FpOut): void {
  out.flags = isSNaN32(a) || isSNaN32(b) ? FLAG_NV : 0;
  out.lo = f32Value(a) === f32Value(b) ? 1 : 0;
  out.hi = 0;
}

export function f32Lt(a: number, b: number, out: FpOut): void {
  out.flags = isNaN32(a) || isNaN32(b) ? FLAG_NV : 0;
  out.lo = f32Value(a) < f32Value(b) ? 1 : 0;
  out.hi = 0;
}

export function f32Le(a: number, b: number, out: FpOut): void {
  out.flags = isNaN32(a) || isNaN32(b) ? FLAG_NV : 0;
  out.lo = f32Value(a) <= f32Value(b) ? 1 : 0;
  out.hi = 0;
}

/**
 * FCLASS mask: bit 0 -inf, 1 negative normal, 2 negative subnormal, 3 -0, 4 +0, 5 positive
 * subnormal, 6 positive normal, 7 +inf, 8 signaling NaN, 9 quiet NaN.
 */
export function f32Class(a: number): number {
  const neg = a >>> 31 !== 0;
  const e = (a >>> 23) & 0xff;
  const f = a & 0x7fffff;
  if (e === 0xff) {
    if (f === 0) return neg ? 1 << 0 : 1 << 7;
    return f & 0x400000 ? 1 << 9 : 1 << 8;
  }
  if (e === 0) {
    if (f === 0) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}

// ---------------------------------------------------------------------------------------------
// binary64 arithmetic.

function add64(aLo: number, aHi: number, bLo: number, bHi: number, rm: number, out: FpOut): void {
  const fa = (aHi >>> 20) & 0x7ff,
    fb = (bHi >>> 20) & 0x7ff;
  if (fa === 0x7ff || fb === 0x7ff) {
    const na = isNaN64(aLo, aHi),
      nb = isNaN64(bLo, bHi);
    if (na || nb) {
      nan64(out, isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi) ? FLAG_NV : 0);
      return;
    }
    if (fa === 0x7ff && fb === 0x7ff && (aHi ^ bHi) >>> 31 !== 0) nan64(out, FLAG_NV);
    else if (fa === 0x7ff) setBits64(out, aLo, aHi, 0);
    else setBits64(out, bLo, bHi, 0);
    return;
  }
  if (rm === RM_RNE && fa < 2045 && fb < 2045) {
    // |a|, |b| < 2^1022: the sum cannot overflow and TwoSum is exact. Sums never underflow
    // inexactly (both operands are multiples of 2^-1074). JS gives the IEEE signed-zero rules.
    const x = f64Value(aLo, aHi);
    const y = f64Value(bLo, bHi);
    const s = x + y;
    const bb = s - x;
    const t = x - (s - bb) + (y - bb);
    setF64(out, s, t !== 0 ? FLAG_NX : 0);
    return;
  }
  const ca = unpack64(aLo, aHi);
  const sa = UNP[0],
    ma = UNP[1],
    ea = UNP[2];
  const cb = unpack64(bLo, bHi);
  const sb = UNP[0],
    mb = UNP[1],
    eb = UNP[2];
  if (ca === C_ZERO || cb === C_ZERO) {
    if (ca === C_ZERO && cb === C_ZERO) setBits64(out, 0, zeroSumSign(sa, sb, rm) << 31, 0);
    else if (ca === C_ZERO) setBits64(out, bLo, bHi, 0);
    else setBits64(out, aLo, aHi, 0);
    return;
  }
  addCore64(sa, ma, ea, sb, mb, eb, rm, out);
}

/** Rounds (-1)^sa*ma*2^ea + (-1)^sb*mb*2^eb (both nonzero, normalized significands). */
function addCore64(
  sa: number,
  ma: number,
  ea: number,
  sb: number,
  mb: number,
  eb: number,
  rm: number,
  out: FpOut,
): void {
  if (ea < eb) {
    let t = sa;
    sa = sb;
    sb = t;
    t = ma;
    ma = mb;
    mb = t;
    t = ea;
    ea = eb;
    eb = t;
  }
  const d = ea - eb;
  let A: number, B: number, base: number;
  if (d <= 60) {
    A = ma * pow2(d);
    B = mb;
    base = eb;
  } else {
    // b lies entirely below a quarter unit of a: it only acts as a signed sticky bit.
    A = ma;
    B = 0.0009765625; // 2^-10
    base = ea;
  }
  if (sa) A = -A;
  if (sb) B = -B;
  const s = A + B;
  if (s === 0) {
    setBits64(out, 0, rm === RM_RDN ? 0x80000000 : 0, 0);
    return;
  }
  const bb = s - A;
  const t = A - (s - bb) + (B - bb);
  roundExact(true, s, t, 0, base, rm, out);
}

export function f64Add(aLo: number, aHi: number, bLo: number, bHi: number, rm: number, out: FpOut): void {
  add64(aLo, aHi, bLo, bHi, rm, out);
}

export function f64Sub(aLo: number, aHi: number, bLo: number, bHi: number, rm: number, out: FpOut): void {
  add64(aLo, aHi, bLo, bHi ^ 0x80000000, rm, out);
}

export function f64Mul(aLo: number, aHi: number, bLo: number, bHi: number, rm: number, out: FpOut): void {
  const fa = (aHi >>> 20) & 0x7ff,
    fb = (bHi >>> 20) & 0x7ff;
  if (rm === RM_RNE && fa <= 2018 && fb <= 2018) {
    // |a|, |b| < 2^996 so Veltkamp splitting cannot overflow.
    const x = f64Value(aLo, aHi);
    const y = f64Value(bLo, bHi);
    const p = x * y;
    const ap = Math.abs(p);
    if (ap >= 1.1138771039116688e-289 /* 2^-960 */ && ap < 1.1235582092889474e307 /* 2^1020 */) {
      setF64(out, p, twoProdErr(x, y, p) !== 0 ? FLAG_NX : 0);
      return;
    }
    if (ap === Infinity) {
      setF64(out, p, FLAG_OF | FLAG_NX);
      return;
    }
  }
  const ca = unpack64(aLo, aHi);
  const sa = UNP[0],
    ma = UNP[1],
    ea = UNP[2];
  const cb = unpack64(bLo, bHi);
  const sb = UNP[0],
    mb = UNP[1],
    eb = UNP[2];
  const sign = sa ^ sb;
  if (ca !== C_FIN || cb !== C_FIN) {
    if (ca >= C_QNAN || cb >= C_QNAN) nan64(out, ca === C_SNAN || cb === C_SNAN ? FLAG_NV : 0);
    else if (ca === C_INF || cb === C_INF) {
      if (ca === C_ZERO || cb === C_ZERO) nan64(out, FLAG_NV);
      else setBits64(out, 0, (sign << 31) | 0x7ff00000, 0);
    } else setBits64(out, 0, sign << 31, 0);
    return;
  }
  const p = ma * mb;
  const pl = twoProdErr(ma, mb, p);
  roundExact(true, sign ? -p : p, sign ? -pl : pl, 0, ea + eb, rm, out);
}

export function f64Div(aLo: number, aHi: number, bLo: number, bHi: number, rm: number, out: FpOut): void {
  const fa = (aHi >>> 20) & 0x7ff,
    fb = (bHi >>> 20) & 0x7ff;
  if (rm === RM_RNE && fa >= 63 && fa <= 2018 && fb >= 1 && fb <= 2018) {
    // 2^-960 <= |a| < 2^996, b normal with |b| < 2^996.
    const x = f64Value(aLo, aHi);
    const y = f64Value(bLo, bHi);
    const q = x / y;
    const aq = Math.abs(q);
    if (aq >= 1.1138771039116688e-289 /* 2^-960 */ && aq < 2.6153781327289195e299 /* 2^995 */) {
      const ph = q * y;
      setF64(out, q, x - ph - twoProdErr(q, y, ph) !== 0 ? FLAG_NX : 0);
      return;
    }
    if (aq === Infinity) {
      setF64(out, q, FLAG_OF | FLAG_NX);
      return;
    }
  }
  const ca = unpack64(aLo, aHi);
  const sa = UNP[0],
    ma = UNP[1],
    ea = UNP[2];
  const cb = unpack64(bLo, bHi);
  const sb = UNP[0],
    mb = UNP[1],
    eb = UNP[2];
  const sign = sa ^ sb;
  if (ca !== C_FIN || cb !== C_FIN) {
    if (ca >= C_QNAN || cb >= C_QNAN) nan64(out, ca === C_SNAN || cb === C_SNAN ? FLAG_NV : 0);
    else if (ca === C_INF) {
      if (cb === C_INF) nan64(out, FLAG_NV);
      else setBits64(out, 0, (sign << 31) | 0x7ff00000, 0);
    } else if (cb === C_INF) setBits64(out, 0, sign << 31, 0);
    else if (cb === C_ZERO) {
      if (ca === C_ZERO) nan64(out, FLAG_NV);
      else setBits64(out, 0, (sign << 31) | 0x7ff00000, FLAG_DZ);
    } else setBits64(out, 0, sign << 31, 0);
    return;
  }
  const q = ma / mb; // in (1/2, 2), correctly rounded
  const ph = q * mb;
  const res = ma - ph - twoProdErr(q, mb, ph); // sign of ma - q*mb (exact sign)
  // Division quotients of normal precision are never exactly halfway, so the sign suffices.
  const tail = res > 0 ? 8.673617379884035e-19 : res < 0 ? -8.673617379884035e-19 : 0;
  roundExact(true, sign ? -q : q, sign ? -tail : tail, 0, ea - eb, rm, out);
}

export function f64Sqrt(aLo: number, aHi: number, rm: number, out: FpOut): void {
  const fa = (aHi >>> 20) & 0x7ff;
  if (rm === RM_RNE && aHi >>> 31 === 0 && fa >= 63 && fa <= 2018) {
    const x = f64Value(aLo, aHi);
    const s = Math.sqrt(x);
    const ph = s * s;
    setF64(out, s, x - ph - twoProdErr(s, s, ph) !== 0 ? FLAG_NX : 0);
    return;
  }
  const ca = unpack64(aLo, aHi);
  if (ca !== C_FIN || UNP[0] !== 0) {
    if (ca >= C_QNAN) nan64(out, ca === C_SNAN ? FLAG_NV : 0);
    else if (ca === C_ZERO) setBits64(out, aLo, aHi, 0);
    else if (UNP[0] !== 0) nan64(out, FLAG_NV);
    else setBits64(out, aLo, aHi, 0);
    return;
  }
  let M = UNP[1],
    E = UNP[2];
  if (E & 1) {
    M *= 2;
    E -= 1;
  }
  const s = Math.sqrt(M); // M in [2^52, 2^54): s in [2^26, 2^27)
  const ph = s * s;
  const res = M - ph - twoProdErr(s, s, ph);
  // Square roots are never exactly halfway either; 2^-40 is far below a quarter unit of s.
  const tail = res > 0 ? 9.094947017729282e-13 : res < 0 ? -9.094947017729282e-13 : 0; // +-2^-40
  roundExact(true, s, tail, 0, E / 2, rm, out);
}

export function f64MulAdd(
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  cLo: number,
  cHi: number,
  rm: number,
  out: FpOut,
): void {
  if (
    rm === RM_RNE &&
    ((aHi >>> 20) & 0x7ff) <= 2018 &&
    ((bHi >>> 20) & 0x7ff) <= 2018 &&
    ((cHi >>> 20) & 0x7ff) <= 2018
  ) {
    // All operands finite with magnitude < 2^996. With 2^-960 <= |a*b| < 2^1020, TwoProduct is exact
    // and a*b + c = r + w + t2 exactly (the same compression as the general path below). RN of
    // that is r, except when |w| is exactly half the gap to r's neighbour on w's side and t2
    // pushes past the midpoint; then the neighbour r + 2w is exactly representable.
    const x = f64Value(aLo, aHi);
    const y = f64Value(bLo, bHi);
    const z = f64Value(cLo, cHi);
    const p = x * y;
    const ap = Math.abs(p);
    if (ap >= 1.1138771039116688e-289 /* 2^-960 */ && ap < 1.1235582092889474e307 /* 2^1020 */) {
      const pl = twoProdErr(x, y, p);
      const s1 = p + z;
      let bb = s1 - p;
      const t1 = p - (s1 - bb) + (z - bb);
      const s2 = pl + t1;
      bb = s2 - pl;
      const t2 = pl - (s2 - bb) + (t1 - bb);
      const r = s1 + s2;
      const ar = Math.abs(r);
      if (ar >= 1.1138771039116688e-289 && ar < 1.1235582092889474e307) {
        bb = r - s1;
        const w = s1 - (r - bb) + (s2 - bb);
        let res = r;
        if (w !== 0 && t2 !== 0 && w > 0 === t2 > 0) {
          const n = r + 2 * w;
          if (n - r === 2 * w) res = n;
        }
        setF64(out, res, w !== 0 || t2 !== 0 ? FLAG_NX : 0);
        return;
      }
    }
  }
  const ca = unpack64(aLo, aHi);
  const sa = UNP[0],
    ma = UNP[1],
    ea = UNP[2];
  const cb = unpack64(bLo, bHi);
  const sb = UNP[0],
    mb = UNP[1],
    eb = UNP[2];
  const cc = unpack64(cLo, cHi);
  const sc = UNP[0],
    mc = UNP[1],
    ec = UNP[2];
  const psign = sa ^ sb;
  if (ca >= C_INF || cb >= C_INF || cc >= C_INF) {
    const infZero = (ca === C_INF && cb === C_ZERO) || (ca === C_ZERO && cb === C_INF);
    if (ca >= C_QNAN || cb >= C_QNAN || cc >= C_QNAN) {
      nan64(out, ca === C_SNAN || cb === C_SNAN || cc === C_SNAN || infZero ? FLAG_NV : 0);
    } else if (infZero) {
      nan64(out, FLAG_NV);
    } else if (ca === C_INF || cb === C_INF) {
      if (cc === C_INF && sc !== psign) nan64(out, FLAG_NV);
      else setBits64(out, 0, (psign << 31) | 0x7ff00000, 0);
    } else setBits64(out, cLo, cHi, 0);
    return;
  }
  if (ca === C_ZERO || cb === C_ZERO) {
    if (cc === C_ZERO) setBits64(out, 0, zeroSumSign(psign, sc, rm) << 31, 0);
    else setBits64(out, cLo, cHi, 0);
    return;
  }
  // Exact product P = ma*mb = ph + pl, in units of 2^(ea+eb).
  let ph = ma * mb;
  let pl = twoProdErr(ma, mb, ph);
  if (psign) {
    ph = -ph;
    pl = -pl;
  }
  const ep = ea + eb;
  if (cc === C_ZERO) {
    roundExact(true, ph, pl, 0, ep, rm, out);
    return;
  }
  const dc = ec - ep;
  const C = sc ? -mc : mc;
  if (dc > 110) {
    // |P| < 2^106 < 2^-4 units of c: the product only acts as a signed sticky bit.
    roundExact(true, C, ph < 0 ? -0.00390625 : 0.00390625, 0, ec, rm, out);
    return;
  }
  if (dc < -60) {
    // |c| < 2^-7 units of P (P is an integer >= 2^104): c only acts as a signed sticky bit.
    roundExact(true, ph, pl, sc ? -0.00390625 : 0.00390625, ep, rm, out);
    return;
  }
  // X = ph + pl + Cs exactly (all doubles, no over/underflow): compress to r + w + t2.
  const Cs = C * pow2(dc);
  const s1 = ph + Cs;
  let bb = s1 - ph;
  const t1 = ph - (s1 - bb) + (Cs - bb);
  const s2 = pl + t1;
  bb = s2 - pl;
  const t2 = pl - (s2 - bb) + (t1 - bb);
  const r = s1 + s2;
  if (r === 0) {
    // r = 0 implies s1 = -s2, which (given |s2| << |s1| whenever t1 != 0) means X = 0 exactly.
    setBits64(out, 0, rm === RM_RDN ? 0x80000000 : 0, 0);
    return;
  }
  bb = r - s1;
  const w = s1 - (r - bb) + (s2 - bb);
  roundExact(true, r, w, t2, ep, rm, out);
}

function minMax64(aLo: number, aHi: number, bLo: number, bHi: number, isMax: boolean, out: FpOut): void {
  const na = isNaN64(aLo, aHi),
    nb = isNaN64(bLo, bHi);
  if (na || nb) {
    const flags = isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi) ? FLAG_NV : 0;
    if (na && nb) nan64(out, flags);
    else if (na) setBits64(out, bLo, bHi, flags);
    else setBits64(out, aLo, aHi, flags);
    return;
  }
  const x = f64Value(aLo, aHi);
  const y = f64Value(bLo, bHi);
  let pickA: boolean;
  if (x < y) pickA = !isMax;
  else if (y < x) pickA = isMax;
  else pickA = isMax === (aHi >>> 31 === 0);
  if (pickA) setBits64(out, aLo, aHi, 0);
  else setBits64(out, bLo, bHi, 0);
}

export function f64Min(aLo: number, aHi: number, bLo: number, bHi: number, out: FpOut): void {
  minMax64(aLo, aHi, bLo, bHi, false, out);
}

export function f64Max(aLo: number, aHi: number, bLo: number, bHi: number, out: FpOut): void {
  minMax64(aLo, aHi, bLo, bHi, true, out);
}

export function f64Eq(aLo: number, aHi: number, bLo: number, bHi: number, out: FpOut): void {
  out.flags = isSNaN64(aLo, aHi) || isSNaN64(bLo, bHi) ? FLAG_NV : 0;
  const x = f64Value(aLo, aHi);
  out.lo = x === f64Value(bLo, bHi) ? 1 : 0;
  out.hi = 0;
}

export function f64Lt(aLo: number, aHi: number, bLo: number, bHi: number, out: FpOut): void {
  out.flags = isNaN64(aLo, aHi) || isNaN64(bLo, bHi) ? FLAG_NV : 0;
  const x = f64Value(aLo, aHi);
  out.lo = x < f64Value(bLo, bHi) ? 1 : 0;
  out.hi = 0;
}

export function f64Le(aLo: number, aHi: number, bLo: number, bHi: number, out: FpOut): void {
  out.flags = isNaN64(aLo, aHi) || isNaN64(bLo, bHi) ? FLAG_NV : 0;
  const x = f64Value(aLo, aHi);
  out.lo = x <= f64Value(bLo, bHi) ? 1 : 0;
  out.hi = 0;
}

export function f64Class(aLo: number, aHi: number): number {
  const neg = aHi >>> 31 !== 0;
  const e = (aHi >>> 20) & 0x7ff;
  const fh = aHi & 0xfffff;
  if (e === 0x7ff) {
    if ((fh | aLo) === 0) return neg ? 1 << 0 : 1 << 7;
    return fh & 0x80000 ? 1 << 9 : 1 << 8;
  }
  if (e === 0) {
    if ((fh | aLo) === 0) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}

// ---------------------------------------------------------------------------------------------
// Conversions.

const K_I32 = 0,
  K_U32 = 1,
  K_I64 = 2,
  K_U64 = 3;

/** Rounds a double to an integer-valued double in mode rm (exact: no new rounding). */
function roundToIntegral(x: number, rm: number): number {
  if (!(Math.abs(x) < TWO52)) return x; // already integral (or inf)
  const t = Math.trunc(x);
  const f = x - t; // exact
  if (f === 0) return t;
  switch (rm) {
    case RM_RTZ:
      return t;
    case RM_RDN:
      return Math.floor(x);
    case RM_RUP:
      return Math.ceil(x);
    case RM_RMM:
      return Math.abs(f) >= 0.5 ? (x < 0 ? t - 1 : t + 1) : t;
    default: {
      const af = Math.abs(f);
      if (af > 0.5 || (af === 0.5 && t % 2 !== 0)) return x < 0 ? t - 1 : t + 1;
      return t;
    }
  }
}

function intLimit(kind: number, negative: boolean, out: FpOut): void {
  switch (kind) {
    case K_I32:
      if (negative) setBits64(out, 0x80000000, -1, FLAG_NV);
      else setBits64(out, 0x7fffffff, 0, FLAG_NV);
      break;
    case K_U32:
      if (negative) setBits64(out, 0, 0, FLAG_NV);
      else setBits64(out, -1, -1, FLAG_NV); // 2^32-1 sign-extended from bit 31
      break;
    case K_I64:
      if (negative) setBits64(out, 0, 0x80000000, FLAG_NV);
      else setBits64(out, -1, 0x7fffffff, FLAG_NV);
      break;
    default:
      if (negative) setBits64(out, 0, 0, FLAG_NV);
      else setBits64(out, -1, -1, FLAG_NV);
  }
}

/** Converts an exact double (possibly NaN/inf) to an integer of the given kind. */
function toInt(x: number, kind: number, rm: number, out: FpOut): void {
  if (x !== x) {
    intLimit(kind, false, out);
    return;
  }
  const r = roundToIntegral(x, rm);
  let ok: boolean;
  switch (kind) {
    case K_I32:
      ok = r >= -2147483648 && r <= 2147483647;
      break;
    case K_U32:
      ok = r >= 0 && r <= 4294967295;
      break;
    case K_I64:
      ok = r >= -9223372036854775808 && r < 9223372036854775808;
      break;
    default:
      ok = r >= 0 && r < 18446744073709551616;
  }
  if (!ok) {
    intLimit(kind, x < 0, out);
    return;
  }
  const flags = r !== x ? FLAG_NX : 0;
  if (kind <= K_U32) {
    const lo = kind === K_I32 ? r | 0 : (r >>> 0) | 0;
    setBits64(out, lo, lo >> 31, flags);
  } else {
    const hi = Math.floor(r / TWO32);
    setBits64(out, r - hi * TWO32, hi, flags);
  }
}

function f32ToInt(a: number, kind: number, rm: number, out: FpOut): void {
  toInt(isNaN32(a) ? NaN : f32Value(a), kind, rm, out);
}

function f64ToInt(aLo: number, aHi: number, kind: number, rm: number, out: FpOut): void {
  toInt(f64Value(aLo, aHi), kind, rm, out);
}

export function f32ToI32(a: number, rm: number, out: FpOut): void {
  f32ToInt(a, K_I32, rm, out);
}
export function f32ToU32(a: number, rm: number, out: FpOut): void {
  f32ToInt(a, K_U32, rm, out);
}
export function f32ToI64(a: number, rm: number, out: FpOut): void {
  f32ToInt(a, K_I64, rm, out);
}
export function f32ToU64(a: number, rm: number, out: FpOut): void {
  f32ToInt(a, K_U64, rm, out);
}
export function f64ToI32(aLo: number, aHi: number, rm: number, out: FpOut): void {
  f64ToInt(aLo, aHi, K_I32, rm, out);
}
export function f64ToU32(aLo: number, aHi: number, rm: number, out: FpOut): void {
  f64ToInt(aLo, aHi, K_U32, rm, out);
}
export function f64ToI64(aLo: number, aHi: number, rm: number, out: FpOut): void {
  f64ToInt(aLo, aHi, K_I64, rm, out);
}
export function f64ToU64(aLo: number, aHi: number, rm: number, out: FpOut): void {
  f64ToInt(aLo, aHi, K_U64, rm, out);
}

/** Rounds the exact integer H + L (doubles, H a multiple of 2^32, 0 <= L < 2^32) to a format. */
function intToFloat(H: number, L: number, is64: boolean, rm: number, out: FpOut): void {
  const s = H + L;
  if (s === 0) {
    setBits64(out, 0, 0, 0);
    return;
  }
  const bb = s - H;
  const t = H - (s - bb) + (L - bb);
  if (rm === RM_RNE && t === 0) {
    if (is64) setF64(out, s, 0);
    else {
      const r = Math.fround(s); // a single rounding of an exact value; never tiny
      setF32(out, r, r !== s ? FLAG_NX : 0);
    }
    return;
  }
  if (rm === RM_RNE && is64) {
    setF64(out, s, FLAG_NX); // s = RN(H + L)
    return;
  }
  roundExact(is64, s, t, 0, 0, rm, out);
}

export function i32ToF32(v: number, rm: number, out: FpOut): void {
  intToFloat(0, v | 0, false, rm, out);
}
export function u32ToF32(v: number, rm: number, out: FpOut): void {
  intToFloat(0, v >>> 0, false, rm, out);
}
export function i64ToF32(lo: number, hi: number, rm: number, out: FpOut): void {
  intToFloat((hi | 0) * TWO32, lo >>> 0, false, rm, out);
}
export function u64ToF32(lo: number, hi: number, rm: number, out: FpOut): void {
  intToFloat((hi >>> 0) * TWO32, lo >>> 0, false, rm, out);
}
export function i32ToF64(v: number, _rm: number, out: FpOut): void {
  setF64(out, v | 0, 0); // exact
}
export function u32ToF64(v: number, _rm: number, out: FpOut): void {
  setF64(out, v >>> 0, 0); // exact
}
export function i64ToF64(lo: number, hi: number, rm: number, out: FpOut): void {
  intToFloat((hi | 0) * TWO32, lo >>> 0, true, rm, out);
}
export function u64ToF64(lo: number, hi: number, rm: number, out: FpOut): void {
  intToFloat((hi >>> 0) * TWO32, lo >>> 0, true, rm, out);
}

export function f32ToF64(a: number, out: FpOut): void {
  if (isNaN32(a)) {
    nan64(out, isSNaN32(a) ? FLAG_NV : 0);
    return;
  }
  setF64(out, f32Value(a), 0); // exact
}

export function f64ToF32(aLo: number, aHi: number, rm: number, out: FpOut): void {
  const field = (aHi >>> 20) & 0x7ff;
  if (field === 0x7ff) {
    if (isNaN64(aLo, aHi)) nan32(out, isSNaN64(aLo, aHi) ? FLAG_NV : 0);
    else setBits32(out, (aHi & 0x80000000) | 0x7f800000, 0);
    return;
  }
  const x = f64Value(aLo, aHi);
  if (x === 0) {
    setBits32(out, aHi & 0x80000000, 0);
    return;
  }
  roundDoubleTo32(x, rm, out);
}
