/**
 * Helpers shared by the devices' saveState()/loadState(): saved state is plain JSON-able data and,
 * on load, untrusted input that is validated completely before any device field is touched.
 * 64-bit values are decimal strings.
 */

export class DeviceStateError extends Error {
  readonly code = 'EBADSTATE';
  constructor(device: string, message: string) {
    super(`${device} state: ${message}`);
    this.name = 'DeviceStateError';
  }
}

/** Checks that `state` is a plain object with the given version; returns it as a record. */
export function stateRecord(device: string, state: unknown, version: number): Record<string, unknown> {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new DeviceStateError(device, 'not an object');
  }
  const rec = state as Record<string, unknown>;
  if (rec.version !== version) {
    throw new DeviceStateError(device, `unsupported version ${String(rec.version)} (expected ${version})`);
  }
  return rec;
}

/** Rejects fields other than `known` (a typo in hand-edited or foreign state must not pass silently). */
export function rejectUnknownFields(device: string, rec: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(rec)) {
    if (!known.includes(key)) throw new DeviceStateError(device, `unknown field '${key}'`);
  }
}

/** An integer field in [min, max]. */
export function intField(device: string, rec: Record<string, unknown>, name: string, min: number, max: number): number {
  const v = rec[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new DeviceStateError(device, `field '${name}' must be an integer in [${min}, ${max}]`);
  }
  return v;
}

export function boolField(device: string, rec: Record<string, unknown>, name: string): boolean {
  const v = rec[name];
  if (typeof v !== 'boolean') throw new DeviceStateError(device, `field '${name}' must be a boolean`);
  return v;
}

/** An array field whose elements are integers in [min, max], of a length in [minLength, maxLength]. */
export function intArrayField(
  device: string,
  rec: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  minLength: number,
  maxLength: number,
): number[] {
  const v = rec[name];
  if (!Array.isArray(v) || v.length < minLength || v.length > maxLength) {
    throw new DeviceStateError(device, `field '${name}' must be an array of ${minLength}..${maxLength} integers`);
  }
  const out: number[] = [];
  for (const x of v as unknown[]) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
      throw new DeviceStateError(device, `field '${name}' holds a value outside [${min}, ${max}]`);
    }
    out.push(x);
  }
  return out;
}

const U64_DECIMAL = /^(0|[1-9][0-9]{0,19})$/;
const U64_MAX = (1n << 64n) - 1n;

/** Parses an unsigned 64-bit decimal string into [lo, hi] 32-bit halves. */
export function parseU64(device: string, what: string, v: unknown): [number, number] {
  if (typeof v !== 'string' || !U64_DECIMAL.test(v)) {
    throw new DeviceStateError(device, `${what} must be an unsigned 64-bit decimal string`);
  }
  const big = BigInt(v);
  if (big > U64_MAX) throw new DeviceStateError(device, `${what} exceeds 2^64 - 1`);
  return [Number(big & 0xffff_ffffn), Number(big >> 32n)];
}

/** Formats a 64-bit value held as 32-bit halves as a decimal string. */
export function u64ToString(lo: number, hi: number): string {
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
}
