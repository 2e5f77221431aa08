/**
 * Saving and restoring a whole `virt` board: the board's clock and console queue, every vCPU, every
 * device and all RAM, as snapshot sections (snapshot.ts holds the file format).
 *
 *   section      version  component
 *   board        1        clock (mtime, retired instructions) and console input not yet delivered
 *   cpu.<id>     1        one vCPU: hart registers and CSRs, SBI HSM state, SBI timer
 *   uart         1        ns16550a
 *   rtc          1        goldfish RTC
 *   virtio.<n>   1        virtio-mmio transport n (machine.virtio order) with its device
 *   plic         1        PLIC (restored after the devices that drive its lines)
 *   clint        1        CLINT (restored after the clock)
 *
 * The board is used through SnapshottableMachine, which VirtMachine implements, so this layer needs
 * nothing private of the machine. Save only while the machine is stopped at a slice boundary (no
 * hart is inside run()).
 *
 * Restore order and why:
 *   1. configuration, section list and versions are checked, and every state except the virtio
 *      transports' is validated on scratch instances, before the machine is touched;
 *   2. RAM (the virtio transports read their rings from it when loaded);
 *   3. the board clock (the CLINT and the timers derive from it);
 *   4. vCPUs, then UART, RTC and virtio (they re-send their interrupt lines), then the PLIC (its
 *      saved pending/level bits win over what the devices re-sent) and the CLINT;
 *   5. derived state: decoded code dropped, supervisor timer lines recomputed.
 * A failure in step 4 (only a virtio state can still fail there) leaves the machine inconsistent;
 * the error says so and the machine must be reset or restored again.
 */

import { createVm, type Vcpu, type Vm, type VcpuState } from '../accel/index.js';
import {
  Clint, GoldfishRtc, Plic, Uart16550, type HartInterruptLines, type VirtioMmioTransport,
} from '../devices/index.js';
import type { VirtConfig } from '../machine/virt.js';
import {
  parseSnapshot, SnapshotError, type ParsedSnapshot, type Snapshot, type SnapshotCompression,
  type SnapshotInput, type SnapshotRam, type SnapshotSection,
} from './snapshot.js';

/** What saving and restoring needs of a board. VirtMachine implements it. */
export interface SnapshottableMachine {
  readonly config: VirtConfig;
  readonly vm: Vm;
  readonly vcpus: readonly Vcpu[];
  readonly uart: Uart16550;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly rtc: GoldfishRtc;
  readonly virtio: readonly VirtioMmioTransport[];
  /** The virtio-blk devices: saving needs them idle (quiesceMachine waits for that). */
  readonly disks: readonly { readonly inFlight: number; drain(): Promise<void> }[];
  /** Instructions retired by all harts (the virtual clock counts them). */
  instructions: number;
  /** Guest time (mtime) in timebase ticks. */
  mtime(): number;
  /**
   * Makes mtime() read `ticks` from now on, continuing from there: with the virtual clock by
   * setting the idle-tick offset for the current `instructions`, with the host clock by moving the
   * origin. Called after `instructions` is set.
   */
  setMtime(ticks: number): void;
  /** Console input received from the host and not yet delivered to the guest (a copy). */
  pendingInput(): Uint8Array;
  /** Replaces the queued console input. */
  setPendingInput(bytes: Uint8Array): void;
}

/** The configuration recorded in a snapshot: what a restoring machine must match. */
export interface SnapshotMachineConfig {
  board: 'virt';
  memoryMiB: number;
  cpus: number;
  /** 'builtin' SBI, or the name of the M-mode firmware that was booted. */
  bios: 'builtin' | { firmware: string };
  clock: 'host' | 'virtual';
  virtio: string[];
  append: string;
}

export const BOARD_STATE_VERSION = 1;

export interface BoardState {
  version: 1;
  clock: 'host' | 'virtual';
  /** mtime at the save, decimal. */
  mtime: string;
  /** Retired instructions at the save, decimal. */
  instructions: string;
  /** Console input not yet delivered, lowercase hex. */
  input: string;
}

/** Versions of the sections this build writes and reads. */
const SECTION_VERSIONS = { board: 1, cpu: 1, uart: 1, rtc: 1, virtio: 1, plic: 1, clint: 1 } as const;

export function snapshotConfigOf(config: VirtConfig): SnapshotMachineConfig {
  return {
    board: 'virt',
    memoryMiB: config.memoryMiB,
    cpus: config.cpus,
    bios: config.bios === 'builtin' ? 'builtin' : { firmware: config.bios.name },
    clock: config.clock,
    virtio: config.virtio.map(describeVirtio),
    append: config.append ?? '',
  };
}

/** A virtio device as the snapshot configuration records it: 'rng', 'console', 'blk', 'net:<mac>'. */
export function describeVirtio(spec: VirtConfig['virtio'][number]): string {
  if (typeof spec === 'string') return spec;
  if (spec.kind === 'net') return `net:${Array.from(spec.mac, (b) => b.toString(16).padStart(2, '0')).join(':')}`;
  return spec.kind;
}

/**
 * Reads a snapshot's configuration as untrusted input (e.g. to build the machine to restore into).
 */
export function parseSnapshotConfig(config: Record<string, unknown>): SnapshotMachineConfig {
  const bad = (what: string): SnapshotError => new SnapshotError('ECONFIG', `the snapshot's configuration is invalid: ${what}`);
  if (config.board !== 'virt') throw bad(`board '${String(config.board)}' is not 'virt'`);
  const { memoryMiB, cpus, bios, clock, virtio, append } = config;
  if (typeof memoryMiB !== 'number' || !Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > 1 << 20) throw bad('memoryMiB');
  if (typeof cpus !== 'number' || !Number.isInteger(cpus) || cpus < 1 || cpus > 4096) throw bad('cpus');
  let biosValue: SnapshotMachineConfig['bios'];
  if (bios === 'builtin') biosValue = 'builtin';
  else if (typeof bios === 'object' && bios !== null && typeof (bios as Record<string, unknown>).firmware === 'string') {
    biosValue = { firmware: (bios as { firmware: string }).firmware };
  } else throw bad('bios');
  if (clock !== 'host' && clock !== 'virtual') throw bad('clock');
  if (!Array.isArray(virtio) || virtio.length > 64 || !virtio.every((v) => typeof v === 'string')) throw bad('virtio');
  if (typeof append !== 'string') throw bad('append');
  return { board: 'virt', memoryMiB, cpus, bios: biosValue, clock, virtio: virtio as string[], append };
}

/**
 * Checks that a machine can take a snapshot with this configuration: same memory, harts, virtio
 * devices and SBI (built-in or firmware). The clock kind and command line may differ.
 */
export function checkConfigMatches(saved: SnapshotMachineConfig, machine: VirtConfig): void {
  const problems: string[] = [];
  if (saved.memoryMiB !== machine.memoryMiB) problems.push(`${saved.memoryMiB} MiB of memory (this machine has ${machine.memoryMiB} MiB)`);
  if (saved.cpus !== machine.cpus) problems.push(`${saved.cpus} CPUs (this machine has ${machine.cpus})`);
  const savedVirtio = saved.virtio.join(',') || 'none';
  const ourVirtio = machine.virtio.map(describeVirtio).join(',') || 'none';
  if (savedVirtio !== ourVirtio) problems.push(`virtio devices ${savedVirtio} (this machine has ${ourVirtio})`);
  const savedSbi = saved.bios === 'builtin' ? 'the built-in SBI' : `firmware ${saved.bios.firmware}`;
  const ourSbi = machine.bios === 'builtin' ? 'the built-in SBI' : `firmware ${machine.bios.name}`;
  if ((saved.bios === 'builtin') !== (machine.bios === 'builtin')) problems.push(`${savedSbi} (this machine runs ${ourSbi})`);
  if (problems.length > 0) {
    throw new SnapshotError('ECONFIG', `the snapshot does not fit this machine: it was taken with ${problems.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Save
// ---------------------------------------------------------------------------------------------

/**
 * Waits until no device has host I/O in flight (disk requests), so saveMachine can run. Call it
 * with the harts stopped: nothing then starts new requests.
 */
export async function quiesceMachine(machine: SnapshottableMachine): Promise<void> {
  for (const d of machine.disks) if (d.inFlight > 0) await d.drain();
}

/**
 * Captures the machine's state and RAM. The machine must be stopped and quiesced (quiesceMachine).
 * The RAM in the result is a view of the live arena: write it (writeSnapshot) before the machine
 * runs again.
 */
export function saveMachine(machine: SnapshottableMachine): SnapshotInput {
  syncDerivedState(machine);
  const sections: SnapshotSection[] = [];
  const board: BoardState = {
    version: 1,
    clock: machine.config.clock,
    mtime: String(Math.floor(machine.mtime())),
    instructions: String(machine.instructions),
    input: toHex(machine.pendingInput()),
  };
  sections.push({ name: 'board', version: SECTION_VERSIONS.board, data: board });
  for (const v of machine.vcpus) sections.push({ name: `cpu.${v.id}`, version: SECTION_VERSIONS.cpu, data: v.saveState() });
  sections.push({ name: 'uart', version: SECTION_VERSIONS.uart, data: machine.uart.saveState() });
  sections.push({ name: 'rtc', version: SECTION_VERSIONS.rtc, data: machine.rtc.saveState() });
  machine.virtio.forEach((t, i) => {
    let data: unknown;
    try {
      data = t.saveState();
    } catch (cause) {
      throw new SnapshotError('ESTATE', `virtio device ${i} cannot be saved now: ${(cause as Error).message}`, { cause });
    }
    sections.push({ name: `virtio.${i}`, version: SECTION_VERSIONS.virtio, data });
  });
  sections.push({ name: 'plic', version: SECTION_VERSIONS.plic, data: machine.plic.saveState() });
  sections.push({ name: 'clint', version: SECTION_VERSIONS.clint, data: machine.clint.saveState() });
  return { config: snapshotConfigOf(machine.config), sections, ram: ramViews(machine) };
}

/** Views of every RAM and ROM region of the machine, in its arena. */
export function ramViews(machine: SnapshottableMachine): SnapshotRam[] {
  const mem = machine.vm.memory;
  return mem.ram.map((r) => ({ base: r.base, bytes: mem.u8.subarray(r.arenaOffset, r.arenaOffset + r.size) }));
}

/**
 * Brings timer and interrupt lines up to date with the clock — the work the run loop does between
 * slices — so the saved state holds no stale line a restore would compute differently.
 */
function syncDerivedState(machine: SnapshottableMachine): void {
  machine.clint.update();
  const now = machine.mtime();
  for (const v of machine.vcpus) v.updateTimer(now);
  machine.rtc.update();
}

// ---------------------------------------------------------------------------------------------
// Restore
// ---------------------------------------------------------------------------------------------

interface RestorePlan {
  board: { mtime: number; instructions: number; input: Uint8Array };
  cpus: unknown[];
  uart: unknown;
  rtc: unknown;
  virtio: unknown[];
  plic: unknown;
  clint: unknown;
}

/** Restores a snapshot held in memory (readSnapshot's result) into a stopped machine. */
export function restoreMachine(machine: SnapshottableMachine, snapshot: Snapshot): void {
  const plan = planRestore(machine, snapshot.config, snapshot.sections);
  const target = ramViews(machine);
  const describe = (list: { base: number; size: number }[]): string => list.map((r) => `${r.size} bytes at 0x${r.base.toString(16)}`).join(', ');
  const mismatch = new SnapshotError('ERAM', `the snapshot's RAM (${describe(snapshot.ram.map((r) => ({ base: r.base, size: r.bytes.length })))}) does not match this machine's (${describe(target.map((r) => ({ base: r.base, size: r.bytes.length })))})`);
  if (snapshot.ram.length !== target.length) throw mismatch;
  const pairs = target.map((t) => {
    const s = snapshot.ram.find((r) => r.base === t.base);
    if (s === undefined || s.bytes.length !== t.bytes.length) throw mismatch;
    return [t, s] as const;
  });
  for (const [t, s] of pairs) t.bytes.set(s.bytes);
  applyRestore(machine, plan);
}

/**
 * Restores a snapshot file into a stopped machine, inflating RAM straight into the machine's arena.
 * `ramIsZero`: the machine's RAM is known to be all zero (freshly allocated, never booted), so pages
 * the file leaves out need no clearing.
 */
export function restoreMachineFromFile(
  machine: SnapshottableMachine,
  file: Uint8Array,
  deps: SnapshotCompression,
  options: { ramIsZero?: boolean } = {},
): ParsedSnapshot {
  const parsed = parseSnapshot(file);
  const plan = planRestore(machine, parsed.config, parsed.sections);
  parsed.readRamInto(ramViews(machine), deps, { targetZeroed: options.ramIsZero === true });
  applyRestore(machine, plan);
  return parsed;
}

/** Checks everything that can be checked without touching the machine. */
function planRestore(machine: SnapshottableMachine, rawConfig: Record<string, unknown>, sections: readonly SnapshotSection[]): RestorePlan {
  checkConfigMatches(parseSnapshotConfig(rawConfig), machine.config);
  const byName = new Map<string, SnapshotSection>();
  for (const s of sections) byName.set(s.name, s);
  const known = new Set([
    'board', ...machine.vcpus.map((v) => `cpu.${v.id}`), 'uart', 'rtc', ...machine.virtio.map((_, i) => `virtio.${i}`), 'plic', 'clint',
  ]);
  const take = (name: string, version: number): unknown => {
    const s = byName.get(name);
    if (s === undefined) throw new SnapshotError('ESTATE', `the snapshot has no state for '${name}'`);
    if (s.version !== version) {
      throw new SnapshotError('ESTATE', `the snapshot's '${name}' state is version ${s.version}; this tsvm reads version ${version}`);
    }
    return s.data;
  };
  for (const name of byName.keys()) {
    if (!known.has(name)) {
      throw new SnapshotError('ESTATE', `the snapshot has state for '${name}', which this machine does not have`);
    }
  }

  const plan: RestorePlan = {
    board: parseBoardState(take('board', SECTION_VERSIONS.board)),
    cpus: machine.vcpus.map((v) => take(`cpu.${v.id}`, SECTION_VERSIONS.cpu)),
    uart: take('uart', SECTION_VERSIONS.uart),
    rtc: take('rtc', SECTION_VERSIONS.rtc),
    virtio: machine.virtio.map((_, i) => take(`virtio.${i}`, SECTION_VERSIONS.virtio)),
    plic: take('plic', SECTION_VERSIONS.plic),
    clint: take('clint', SECTION_VERSIONS.clint),
  };
  validateOnScratch(machine, plan);
  return plan;
}

function parseBoardState(data: unknown): RestorePlan['board'] {
  const bad = (what: string): SnapshotError => new SnapshotError('ESTATE', `the snapshot's board state is invalid: ${what}`);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad('not an object');
  const rec = data as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    if (!['version', 'clock', 'mtime', 'instructions', 'input'].includes(key)) throw bad(`unknown field '${key}'`);
  }
  if (rec.version !== BOARD_STATE_VERSION) throw bad(`version ${String(rec.version)}`);
  if (rec.clock !== 'host' && rec.clock !== 'virtual') throw bad('clock');
  const decimal = (v: unknown, what: string): number => {
    if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) throw bad(what);
    return Number(v);
  };
  const mtime = decimal(rec.mtime, 'mtime');
  const instructions = decimal(rec.instructions, 'instructions');
  const hex = rec.input;
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || hex.length > 2 << 20 || !/^[0-9a-f]*$/.test(hex)) throw bad('input');
  return { mtime, instructions, input: fromHex(hex) };
}

/**
 * Validates the states of the vCPUs and of the non-virtio devices by loading them into scratch
 * instances, so a bad state is refused before the machine changes.
 */
function validateOnScratch(machine: SnapshottableMachine, plan: RestorePlan): void {
  const lines: HartInterruptLines[] = machine.vcpus.map(() => ({ setInterruptLevel(): void {} }));
  const now = (): number => plan.board.mtime;
  const check = (name: string, load: () => void): void => {
    try {
      load();
    } catch (cause) {
      throw new SnapshotError('ESTATE', `the snapshot's '${name}' state is refused: ${(cause as Error).message}`, { cause });
    }
  };
  const vm = createVm({ clock: { now }, sbi: machine.vm.sbiEnabled });
  machine.vcpus.forEach((v, i) => {
    const scratch = vm.createVcpu(v.id);
    check(`cpu.${v.id}`, () => scratch.loadState(plan.cpus[i] as VcpuState));
  });
  check('uart', () => new Uart16550({ output: () => {} }).loadState(plan.uart));
  check('rtc', () => new GoldfishRtc(() => 0, () => {}).loadState(plan.rtc));
  check('plic', () => new Plic(lines, machine.plic.ndev).loadState(plan.plic));
  check('clint', () => new Clint(lines, now).loadState(plan.clint));
}

function applyRestore(machine: SnapshottableMachine, plan: RestorePlan): void {
  const mem = machine.vm.memory;
  // RAM was written behind the memory's back: drop decoded code, and count every page as written
  // (dirty tracking for incremental snapshots and migration).
  mem.invalidateAllCode();
  for (const r of mem.ram) mem.dirty.fill(1, r.arenaOffset >>> 12, (r.arenaOffset + r.size) >>> 12);

  machine.instructions = plan.board.instructions;
  machine.setMtime(plan.board.mtime);
  machine.setPendingInput(plan.board.input);
  const apply = (name: string, load: () => void): void => {
    try {
      load();
    } catch (cause) {
      throw new SnapshotError('ESTATE',
        `the snapshot's '${name}' state is refused: ${(cause as Error).message}; the machine is now inconsistent and must be reset or restored again`,
        { cause });
    }
  };
  machine.vcpus.forEach((v, i) => apply(`cpu.${v.id}`, () => v.loadState(plan.cpus[i] as VcpuState)));
  apply('uart', () => machine.uart.loadState(plan.uart));
  apply('rtc', () => machine.rtc.loadState(plan.rtc));
  machine.virtio.forEach((t, i) => apply(`virtio.${i}`, () => t.loadState(plan.virtio[i])));
  apply('plic', () => machine.plic.loadState(plan.plic));
  apply('clint', () => machine.clint.loadState(plan.clint));
  const now = machine.mtime();
  for (const v of machine.vcpus) v.updateTimer(now);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b];
  return s;
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
