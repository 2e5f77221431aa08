/**
 * The differential-testing driver shared by diff.test.ts and the run.ts CLI: generates programs,
 * runs each under QEMU user mode and on our hart, compares the final states, and shrinks failing
 * programs to a minimal failing sequence of instruction groups.
 */
import {
  ALL_MNEMONICS,
  bodyListing,
  buildProgram,
  countMnemonics,
  generateProgram,
  listing,
  testInstructionCount,
  type BuiltProgram,
  type Program,
} from './generate.js';
import type { OursResult } from './run-ours.js';
import { QemuRunner, type QemuResult } from './run-qemu.js';
import { diffOutputs, hex64, outputProblem, parseOutput } from './state.js';

export type RunOursFn = (elf: Uint8Array) => OursResult;

export interface CampaignOptions {
  /** Program k uses seed `seed + k`. */
  readonly seed: number;
  readonly programs: number;
  /** Body instructions per program. */
  readonly length: number;
  /** Concurrent QEMU processes. */
  readonly jobs?: number;
  /** Shrink failing programs (default true). */
  readonly shrink?: boolean;
  /** Only run QEMU (checks that generated programs are valid); no hart needed. */
  readonly qemuOnly?: boolean;
  /** Stop shrinking/reporting in detail after this many failures (default 5). */
  readonly maxDetailed?: number;
  /** Print full program listings in reports (default true). */
  readonly fullListing?: boolean;
  readonly log?: (text: string) => void;
  /** Replaces the hart runner (for testing the tester itself). */
  readonly runOurs?: RunOursFn;
}

export interface ProgramFailure {
  readonly seed: number;
  readonly kind: 'mismatch' | 'ours-error' | 'qemu-error';
  /** Differences or error messages. */
  readonly details: readonly string[];
  /** A multi-line report (listing, minimal repro). */
  readonly report: string;
}

export interface CampaignResult {
  readonly programs: number;
  /** Body instructions generated (all programs), not counting the register dumps. */
  readonly generatedInstructions: number;
  /** The same including the dump groups. */
  readonly bodyInstructions: number;
  /** Instructions our hart retired (all programs, prologue and epilogue included). */
  readonly executedInstructions: number;
  readonly coverage: ReadonlyMap<string, number>;
  /** Mnemonics the generator knows but never emitted. */
  readonly missing: readonly string[];
  readonly failures: readonly ProgramFailure[];
  readonly elapsedMs: number;
}

interface Outcome {
  readonly qemu: QemuResult;
  readonly qemuOk: boolean;
  readonly ours: OursResult | undefined;
  readonly oursError: string | undefined;
  readonly diffs: readonly string[];
}

function qemuProblem(q: QemuResult): string | undefined {
  if (q.timedOut) return 'qemu timed out';
  if (q.code !== 0) return `qemu exited with ${q.code ?? 'signal ' + String(q.signal)}${q.stderr ? ': ' + q.stderr.trim() : ''}`;
  const p = outputProblem(q.stdout);
  return p ? `qemu ${p}` : undefined;
}

async function runBoth(p: Program, built: BuiltProgram, qemu: QemuRunner, runOurs: RunOursFn | undefined): Promise<Outcome> {
  const qp = qemu.run(built.elf);
  // Our hart runs synchronously while QEMU runs in its own process.
  let ours: OursResult | undefined;
  let oursError: string | undefined;
  if (runOurs) {
    try {
      ours = runOurs(built.elf);
      if (ours.error) oursError = ours.error;
      else if (!ours.exited || ours.exitCode !== 0) oursError = `exit code ${ours.exitCode}`;
      else oursError = outputProblem(ours.stdout);
    } catch (e) {
      oursError = `hart threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    }
  }
  const q = await qp;
  const qemuOk = qemuProblem(q) === undefined;
  let diffs: string[] = [];
  if (qemuOk && ours && !oursError) {
    const where = (id: number): string => {
      const g = p.dumpGroups[id];
      return g === undefined ? '' : ` (group g${g})`;
    };
    diffs = diffOutputs(parseOutput(q.stdout), parseOutput(ours.stdout), where);
  }
  return { qemu: q, qemuOk, ours, oursError, diffs };
}

function isFailing(o: Outcome): boolean {
  return o.qemuOk && (o.oursError !== undefined || o.diffs.length > 0);
}

/** Delta debugging over the program's groups: the smallest set of groups that still fails. */
async function shrink(p: Program, qemu: QemuRunner, runOurs: RunOursFn): Promise<{ keep: boolean[]; outcome: Outcome; runs: number }> {
  const n = p.groups.length;
  let cur: number[] = [...Array(n).keys()];
  let runs = 0;
  const test = async (idx: readonly number[]): Promise<Outcome | undefined> => {
    const keep = new Array<boolean>(n).fill(false);
    for (const i of idx) keep[i] = true;
    runs++;
    const o = await runBoth(p, buildProgram(p, keep), qemu, runOurs);
    return isFailing(o) ? o : undefined;
  };
  let last = await test([]);
  if (last) return { keep: new Array<boolean>(n).fill(false), outcome: last, runs };
  let parts = 2;
  while (cur.length >= 1 && runs < 2000) {
    const chunk = Math.ceil(cur.length / parts);
    let reduced = false;
    for (let start = 0; start < cur.length; start += chunk) {
      const complement = cur.slice(0, start).concat(cur.slice(start + chunk));
      const o = await test(complement);
      if (o) {
        cur = complement;
        last = o;
        parts = Math.max(parts - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (chunk <= 1) break;
      parts = Math.min(cur.length, parts * 2);
    }
  }
  const keep = new Array<boolean>(n).fill(false);
  for (const i of cur) keep[i] = true;
  last ??= await test(cur);
  if (!last) throw new Error('shrink lost the failure');
  return { keep, outcome: last, runs };
}

function describeOutcome(o: Outcome): string[] {
  if (!o.qemuOk) return [qemuProblem(o.qemu) ?? 'qemu failed'];
  if (o.oursError) return [`our hart: ${o.oursError}`];
  return [...o.diffs];
}

/** Initial values of the registers an instruction listing mentions. */
function referencedInit(p: Program, built: BuiltProgram): string[] {
  const xs = new Set<number>();
  const fs = new Set<number>();
  let fpUse = false;
  for (const pi of built.body) {
    for (const m of pi.insn.text.matchAll(/\b([xf])(\d+)\b/g)) {
      const r = Number(m[2]);
      if (m[1] === 'x') xs.add(r);
      else fs.add(r);
    }
    if (/^(f|c\.f)/.test(pi.insn.mnemonic) || pi.insn.mnemonic.startsWith('csr')) fpUse = true;
  }
  const lines: string[] = [];
  for (const r of [...xs].sort((a, b) => a - b)) {
    if (r === 0) continue;
    if (r === 2) lines.push(`  x2 = scratch memory (0x${built.scratchAddr.toString(16)})`);
    else if (r === 3) lines.push(`  x3 = constant pool + 2048 (0x${(built.poolAddr + 2048).toString(16)})`);
    else if (r === 4) lines.push(`  x4 = signature (dump) area pointer`);
    else lines.push(`  x${r} = ${hex64(p.init.x[r] ?? 0n)}`);
  }
  for (const r of [...fs].sort((a, b) => a - b)) lines.push(`  f${r} = ${hex64(p.init.f[r] ?? 0n)}`);
  if (fpUse) lines.push(`  fcsr = 0x${p.init.fcsr.toString(16)} (frm ${p.init.fcsr >> 5}, fflags 0x${(p.init.fcsr & 31).toString(16)})`);
  return lines;
}

/** Runs a campaign. `runOurs` is loaded lazily so that the QEMU-only mode works without the hart. */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const t0 = Date.now();
  const log = options.log ?? ((): void => undefined);
  const jobs = Math.max(1, options.jobs ?? 2);
  const maxDetailed = options.maxDetailed ?? 5;
  const doShrink = options.shrink ?? true;
  let runOurs: RunOursFn | undefined;
  if (!options.qemuOnly) runOurs = options.runOurs ?? (await import('./run-ours.js')).runOurs;

  const qemu = new QemuRunner();
  const coverage = new Map<string, number>();
  const failures: ProgramFailure[] = [];
  let generated = 0;
  let bodyInsns = 0;
  let executed = 0;
  let detailed = 0;

  const one = async (k: number): Promise<void> => {
    const seed = options.seed + k;
    const program = generateProgram(seed, { length: options.length });
    const built = buildProgram(program);
    countMnemonics(built, coverage);
    generated += testInstructionCount(built);
    bodyInsns += built.body.length;
    const o = await runBoth(program, built, qemu, runOurs);
    if (o.ours) executed += o.ours.instret;
    if (o.qemuOk && !isFailing(o)) return;
    const kind: ProgramFailure['kind'] = !o.qemuOk ? 'qemu-error' : o.oursError ? 'ours-error' : 'mismatch';
    const details = describeOutcome(o);
    const lines: string[] = [];
    lines.push(`=== seed ${seed}: ${kind}`);
    for (const d of details) lines.push(`  ${d}`);
    if (detailed < maxDetailed) {
      detailed++;
      if (options.fullListing ?? true) {
        lines.push(`--- program (seed ${seed}; the prologue loads all registers, the epilogue stores them):`);
        lines.push(...bodyListing(built, program));
      }
      if (kind !== 'qemu-error' && runOurs && doShrink) {
        const s = await shrink(program, qemu, runOurs);
        const mini = buildProgram(program, s.keep);
        lines.push(`--- minimal failing sequence (${testInstructionCount(mini)} instructions besides dumps, found in ${s.runs} runs); initial values:`);
        lines.push(...referencedInit(program, mini));
        for (const l of listing(mini.body, program, false)) lines.push(`  ${l.trimStart()}`);
        lines.push('--- its differences (expected = qemu, actual = our hart):');
        for (const d of describeOutcome(s.outcome)) lines.push(`  ${d}`);
      }
      lines.push(`reproduce: npx tsx test/diff/run.ts --seed ${seed} --programs 1 --length ${options.length}`);
    }
    const report = lines.join('\n');
    log(report);
    failures.push({ seed, kind, details, report });
  };

  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < options.programs) await one(next++);
    };
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    qemu.dispose();
  }
  failures.sort((a, b) => a.seed - b.seed);
  const missing = ALL_MNEMONICS.filter((m) => !coverage.has(m));
  return {
    programs: options.programs,
    generatedInstructions: generated,
    bodyInstructions: bodyInsns,
    executedInstructions: executed,
    coverage,
    missing,
    failures,
    elapsedMs: Date.now() - t0,
  };
}
