/** What a test program writes (final state, scratch memory, dump records) and comparing two of them. */
import { DUMP_BYTES, DUMP_ID_SLOT, FCSR_SLOT, RESULT_BYTES, SCRATCH_SIZE, STATE_BYTES } from './generate.js';

export interface RegState {
  readonly x: readonly bigint[];
  readonly f: readonly bigint[];
  readonly fcsr: bigint;
}

export interface FinalState extends RegState {
  readonly scratch: Uint8Array;
}

export interface DumpRecord extends RegState {
  readonly id: number;
  readonly bytes: Uint8Array;
}

export interface ProgramOutput {
  readonly final: FinalState;
  readonly dumps: readonly DumpRecord[];
}

/** Why an output is malformed, or undefined when it has the expected shape. */
export function outputProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < RESULT_BYTES || (bytes.length - RESULT_BYTES) % DUMP_BYTES !== 0) {
    return `wrote ${bytes.length} bytes (expected ${RESULT_BYTES} + n * ${DUMP_BYTES})`;
  }
  return undefined;
}

function regs(bytes: Uint8Array, offset: number): RegState {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, STATE_BYTES);
  const x: bigint[] = [];
  const f: bigint[] = [];
  for (let i = 0; i < 32; i++) x.push(dv.getBigUint64(8 * i, true));
  for (let i = 0; i < 32; i++) f.push(dv.getBigUint64(256 + 8 * i, true));
  return { x, f, fcsr: dv.getBigUint64(8 * FCSR_SLOT, true) };
}

export function parseOutput(bytes: Uint8Array): ProgramOutput {
  const problem = outputProblem(bytes);
  if (problem) throw new Error(problem);
  const final: FinalState = { ...regs(bytes, 0), scratch: bytes.slice(STATE_BYTES, STATE_BYTES + SCRATCH_SIZE) };
  const dumps: DumpRecord[] = [];
  for (let o = RESULT_BYTES; o < bytes.length; o += DUMP_BYTES) {
    const r = regs(bytes, o);
    const id = Number(new DataView(bytes.buffer, bytes.byteOffset + o + 8 * DUMP_ID_SLOT, 8).getBigUint64(0, true));
    dumps.push({ ...r, id, bytes: bytes.subarray(o, o + DUMP_BYTES) });
  }
  return { final, dumps };
}

export const hex64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');

function flagNames(fcsr: bigint): string {
  const n = Number(fcsr);
  const f = ['NX', 'UF', 'OF', 'DZ', 'NV'].filter((_, i) => (n >> i) & 1);
  return `frm ${(n >> 5) & 7} ${f.length ? f.join('|') : 'no flags'}`;
}

function diffRegs(expected: RegState, actual: RegState, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < 32; i++) {
    const e = expected.x[i] ?? 0n;
    const a = actual.x[i] ?? 0n;
    if (e !== a) out.push(`${prefix}x${i}: expected ${hex64(e)} actual ${hex64(a)}`);
  }
  for (let i = 0; i < 32; i++) {
    const e = expected.f[i] ?? 0n;
    const a = actual.f[i] ?? 0n;
    if (e !== a) out.push(`${prefix}f${i}: expected ${hex64(e)} actual ${hex64(a)}`);
  }
  if (expected.fcsr !== actual.fcsr) {
    out.push(
      `${prefix}fcsr: expected 0x${expected.fcsr.toString(16)} (${flagNames(expected.fcsr)}) actual 0x${actual.fcsr.toString(16)} (${flagNames(actual.fcsr)})`,
    );
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The first differing dump record, if any. */
export function firstDumpDifference(expected: ProgramOutput, actual: ProgramOutput): number | undefined {
  const n = Math.min(expected.dumps.length, actual.dumps.length);
  for (let i = 0; i < n; i++) {
    const e = expected.dumps[i];
    const a = actual.dumps[i];
    if (e && a && !sameBytes(e.bytes, a.bytes)) return i;
  }
  return undefined;
}

/**
 * Human-readable differences, empty when the outputs agree. Only the first differing dump record
 * is detailed (later ones usually follow from it). `where(id)` names the position of a dump.
 */
export function diffOutputs(expected: ProgramOutput, actual: ProgramOutput, where: (id: number) => string = () => ''): string[] {
  const out: string[] = [];
  const first = firstDumpDifference(expected, actual);
  if (first !== undefined) {
    const e = expected.dumps[first];
    const a = actual.dumps[first];
    if (e && a) {
      if (e.id !== a.id) out.push(`dump record ${first}: expected id ${e.id} actual id ${a.id} (control flow diverged)`);
      else {
        let differing = 0;
        for (let i = first; i < Math.min(expected.dumps.length, actual.dumps.length); i++) {
          const ei = expected.dumps[i];
          const ai = actual.dumps[i];
          if (ei && ai && !sameBytes(ei.bytes, ai.bytes)) differing++;
        }
        out.push(`first difference in dump #${e.id}${where(e.id)} (${differing} of ${expected.dumps.length} dumps differ):`);
        out.push(...diffRegs(e, a, '  '));
      }
    }
  }
  if (expected.dumps.length !== actual.dumps.length) {
    out.push(`expected ${expected.dumps.length} dump records, got ${actual.dumps.length}`);
  }
  const finalDiffs = diffRegs(expected.final, actual.final, 'final ');
  for (let i = 0; i < SCRATCH_SIZE; i += 8) {
    const e = expected.final.scratch.subarray(i, i + 8);
    const a = actual.final.scratch.subarray(i, i + 8);
    if (!sameBytes(e, a)) {
      const ev = new DataView(e.buffer, e.byteOffset, 8).getBigUint64(0, true);
      const av = new DataView(a.buffer, a.byteOffset, 8).getBigUint64(0, true);
      finalDiffs.push(`final mem[sp+${i}]: expected ${hex64(ev)} actual ${hex64(av)}`);
    }
  }
  if (out.length && finalDiffs.length > 6) {
    out.push(...finalDiffs.slice(0, 6), `(${finalDiffs.length - 6} more final differences)`);
  } else {
    out.push(...finalDiffs);
  }
  return out;
}
