/**
 * A MonitorTarget for a board: owns the board's run loop (run until stopped, paused, powered off)
 * and keeps snapshots in a SnapshotStore by tag. The board is reached through RunnableMachine,
 * which VirtMachine implements; snapshots use the vmstate layer.
 *
 *   prelaunch --resume--> running --pause--> paused --resume--> running
 *                            |  guest poweroff: shutdown (SHUTDOWN event, onExit)
 *                            |  error: internal-error (onExit)
 *   reset: any state; a running VM keeps running, others end paused.
 */

import type { MachineStop } from '../machine/virt.js';
import {
  parseSnapshot, quiesceMachine, restoreMachineFromFile, saveMachine, writeSnapshot,
  type SnapshotCompression, type SnapshottableMachine,
} from '../vmstate/index.js';
import type { BlockInfo, CpuInfo, MonitorTarget, RunState, SnapshotListing } from './commands.js';

/** A board the monitor can run, stop, reset and snapshot. VirtMachine implements it. */
export interface RunnableMachine extends SnapshottableMachine {
  /** Runs until poweroff, an error or stop(); after 'stopped', run() may be called again to go on. */
  run(): Promise<MachineStop>;
  /** Makes run() return { kind: 'stopped' } at the next slice boundary. */
  stop(): void;
  /** A host-requested reset (while stopped): firmware, kernel and every device as at power-on. */
  reset(): void;
}

/** Saved snapshots by tag. */
export interface SnapshotStore {
  has(tag: string): Promise<boolean>;
  /** Stores `bytes` under `tag`, replacing an existing one. */
  write(tag: string, bytes: Uint8Array): Promise<void>;
  read(tag: string): Promise<Uint8Array>;
  delete(tag: string): Promise<void>;
  list(): Promise<{ tag: string; size: number; dateMs: number }[]>;
}

/**
 * Named snapshots with their disks (vmstate's VmSnapshots): when given, the target uses it instead
 * of `store`. Called with the machine stopped.
 */
export interface MachineSnapshots {
  has(tag: string): Promise<boolean>;
  take(machine: SnapshottableMachine, tag: string, options: { replace: boolean }): Promise<void>;
  revert(machine: SnapshottableMachine, tag: string): Promise<void>;
  delete(tag: string): Promise<void>;
  list(): Promise<{ tag: string; vmStateSize: number; dateMs: number; vmClockNs: number }[]>;
}

export interface MachineTargetOptions {
  /** Memory-only snapshots by tag (used when `snapshots` is absent). */
  store?: SnapshotStore;
  /** Snapshots of memory and disks together. */
  snapshots?: MachineSnapshots;
  compression: SnapshotCompression;
  /** Host thread id reported for every vCPU (the process id: harts share one thread). */
  threadId: number;
  /** Guest-caused events for the monitor (SHUTDOWN on guest poweroff). */
  emitEvent?: (event: string, data?: Record<string, unknown>) => void;
  /** The VM ended: guest poweroff, an internal error, or `quit`. */
  onExit?: (reason: MachineStop | { kind: 'quit' }) => void;
  /** Disks for query-block (default none). */
  blockDevices?: () => BlockInfo[];
  /** System powerdown request; the virt board has no power button (default: ignored). */
  powerdown?: () => void;
}

export class MachineMonitorTarget implements MonitorTarget {
  private readonly machine: RunnableMachine;
  private readonly options: MachineTargetOptions;
  private state: RunState = 'prelaunch';
  private loop: Promise<void> | undefined;

  constructor(machine: RunnableMachine, options: MachineTargetOptions) {
    this.machine = machine;
    this.options = options;
  }

  runState(): RunState {
    return this.state;
  }

  /** Starts a prelaunch VM (what QEMU does without -S). */
  start(): void {
    if (this.state === 'prelaunch') this.runLoop();
  }

  async pause(): Promise<void> {
    if (this.state !== 'running' || this.loop === undefined) return;
    this.machine.stop();
    await this.loop;
  }

  async resume(): Promise<void> {
    if (this.state === 'paused' || this.state === 'prelaunch') this.runLoop();
  }

  async reset(): Promise<void> {
    const wasRunning = this.state === 'running';
    await this.pause();
    this.machine.reset();
    if (wasRunning) this.runLoop();
    else if (this.state !== 'prelaunch') this.state = 'paused';
  }

  powerdown(): void {
    this.options.powerdown?.();
  }

  quit(): void {
    this.machine.stop();
    this.state = 'shutdown';
    this.options.onExit?.({ kind: 'quit' });
  }

  cpus(): CpuInfo[] {
    return this.machine.vcpus.map((v) => ({ cpuIndex: v.id, threadId: this.options.threadId }));
  }

  blockDevices(): BlockInfo[] {
    return this.options.blockDevices?.() ?? [];
  }

  async saveSnapshot(tag: string, options: { replace: boolean }): Promise<void> {
    checkTag(tag);
    const { store, snapshots } = this.options;
    if (snapshots !== undefined) {
      if (!options.replace && await snapshots.has(tag)) throw new Error(`snapshot '${tag}' already exists`);
      await this.pause();
      await quiesceMachine(this.machine);
      await snapshots.take(this.machine, tag, options);
      return;
    }
    const s = requireStore(store);
    if (!options.replace && await s.has(tag)) throw new Error(`snapshot '${tag}' already exists`);
    await this.pause();
    await quiesceMachine(this.machine);
    const bytes = writeSnapshot(saveMachine(this.machine), this.options.compression);
    await s.write(tag, bytes);
  }

  async loadSnapshot(tag: string): Promise<void> {
    checkTag(tag);
    const { store, snapshots } = this.options;
    if (snapshots !== undefined) {
      if (!await snapshots.has(tag)) throw new Error(`there is no snapshot '${tag}'`);
      await this.pause();
      await quiesceMachine(this.machine);
      await snapshots.revert(this.machine, tag);
      if (this.state !== 'prelaunch') this.state = 'paused';
      return;
    }
    const s = requireStore(store);
    if (!await s.has(tag)) throw new Error(`there is no snapshot '${tag}'`);
    const bytes = await s.read(tag);
    await this.pause();
    await quiesceMachine(this.machine);
    restoreMachineFromFile(this.machine, bytes, this.options.compression);
    if (this.state !== 'prelaunch') this.state = 'paused';
  }

  async deleteSnapshot(tag: string): Promise<void> {
    checkTag(tag);
    const { store, snapshots } = this.options;
    if (snapshots !== undefined) {
      if (!await snapshots.has(tag)) throw new Error(`there is no snapshot '${tag}'`);
      await snapshots.delete(tag);
      return;
    }
    const s = requireStore(store);
    if (!await s.has(tag)) throw new Error(`there is no snapshot '${tag}'`);
    await s.delete(tag);
  }

  async listSnapshots(): Promise<SnapshotListing[]> {
    if (this.options.snapshots !== undefined) return this.options.snapshots.list();
    const store = requireStore(this.options.store);
    const out: SnapshotListing[] = [];
    for (const entry of await store.list()) {
      let vmClockNs = 0;
      try {
        const parsed = parseSnapshot(await store.read(entry.tag));
        const board = parsed.sections.find((s) => s.name === 'board')?.data as { mtime?: unknown } | undefined;
        if (typeof board?.mtime === 'string') vmClockNs = Number(board.mtime) * 100; // 10 MHz ticks
      } catch {
        continue; // not a readable snapshot: not listed
      }
      out.push({ tag: entry.tag, vmStateSize: entry.size, dateMs: entry.dateMs, vmClockNs });
    }
    return out;
  }

  private runLoop(): void {
    this.state = 'running';
    const loop: Promise<void> = this.machine.run()
      .then((stop) => this.stopped(stop), (e: unknown) => {
        this.stopped({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
      })
      .finally(() => {
        if (this.loop === loop) this.loop = undefined;
      });
    this.loop = loop;
  }

  private stopped(stop: MachineStop): void {
    if (stop.kind === 'stopped') {
      if (this.state === 'running') this.state = 'paused';
      return;
    }
    if (stop.kind === 'poweroff') {
      this.state = 'shutdown';
      this.options.emitEvent?.('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    } else {
      this.state = 'internal-error';
    }
    this.options.onExit?.(stop);
  }
}

/** Snapshot tags become file names: letters, digits, '.', '_', '-' only. */
export const SNAPSHOT_TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function requireStore(store: SnapshotStore | undefined): SnapshotStore {
  if (store === undefined) throw new Error('this VM has no snapshot store');
  return store;
}

function checkTag(tag: string): void {
  if (!SNAPSHOT_TAG.test(tag)) {
    throw new Error(`snapshot name '${tag}' must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
}
