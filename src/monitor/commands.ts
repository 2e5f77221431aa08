/**
 * The QMP commands tsvm answers, implemented against an injected MonitorTarget (the VM being
 * controlled), and a small human monitor (HMP) behind `human-monitor-command`. Names, arguments,
 * return shapes and events follow QEMU 7.2's QMP reference so existing clients work.
 *
 *   command                    returns / does                                    events
 *   qmp_capabilities           (session; see qmp.ts)
 *   query-version              { qemu: { major, minor, micro }, package }
 *   query-commands             [{ name }]
 *   query-status               { status, running, singlestep: false }
 *   query-name / query-target / query-kvm   {} / { arch: "riscv64" } / { enabled: false, present: false }
 *   stop                       pauses at a slice boundary                        STOP (if it was running)
 *   cont                       resumes                                           RESUME (if it was not)
 *   system_reset               power-cycle reset; the run state is kept          RESET
 *   system_powerdown           asks the guest to power off                       POWERDOWN
 *   quit                       replies, then ends the VM                         SHUTDOWN
 *   query-cpus-fast            [{ cpu-index, qom-path, thread-id, target, props }]
 *   query-block                [BlockInfo] (may be empty)
 *   snapshot-save / -load / -delete   start a job; see below                    JOB_STATUS_CHANGE, STOP, RESUME
 *   query-jobs / job-dismiss / job-cancel
 *   human-monitor-command      HMP text: info status|snapshots|cpus|version|block, savevm, loadvm,
 *                              delvm, stop, cont, system_reset, system_powerdown, quit, help
 *
 * Snapshot jobs, as QEMU 7.2 runs them (job type = command name): the command checks its
 * arguments, creates the job (events `created`, `running`) and returns {}; after the reply the job
 * stops the VM if it runs (STOP; query-status says save-vm / restore-vm meanwhile), does the work,
 * restarts the VM if it ran (RESUME), and ends `waiting` → `pending` → `concluded` on success, or
 * `aborting` → `concluded` with `error` set in query-jobs. Jobs stay listed until job-dismiss
 * (event `null`), as QEMU's snapshot jobs do (no auto-dismiss). A failed load leaves the VM paused.
 * Simplifications: `vmstate` names where QEMU would store the state; tsvm keeps VM state in its own
 * snapshot store, so `vmstate` is passed to the target but need not name a disk, and `devices` may
 * be empty (a VM without disks); names in `devices` must be disks from query-block. Jobs cannot be
 * paused; job-cancel refuses (a snapshot job is short and not interruptible).
 */

import { QmpError, type QmpCommand, type QmpMonitor } from './qmp.js';

/** QEMU's RunState values. */
export type RunState =
  | 'running' | 'paused' | 'prelaunch' | 'shutdown' | 'internal-error' | 'io-error' | 'save-vm'
  | 'restore-vm' | 'suspended' | 'debug' | 'inmigrate' | 'postmigrate' | 'finish-migrate'
  | 'watchdog' | 'guest-panicked' | 'colo';

export interface CpuInfo {
  cpuIndex: number;
  /** Host thread running the vCPU (the process id while harts share one thread). */
  threadId: number;
}

/** A disk as query-block reports it (QEMU's BlockInfo; extra fields of `inserted` pass through). */
export interface BlockInfo {
  device: string;
  qdev?: string;
  locked: boolean;
  removable: boolean;
  type?: string;
  inserted?: { file: string; ro: boolean; drv: string; 'node-name'?: string; [key: string]: unknown };
}

export interface SnapshotListing {
  tag: string;
  /** Size of the saved VM state in bytes. */
  vmStateSize: number;
  /** When it was taken, ms since the epoch. */
  dateMs: number;
  /** Guest clock at the save, in ns since the guest started. */
  vmClockNs: number;
}

/** What the monitor controls: one VM. */
export interface MonitorTarget {
  /** The current run state (running, paused, prelaunch, shutdown, internal-error, ...). */
  runState(): RunState;
  /** Stops the harts at the next slice boundary; resolves when they are stopped. */
  pause(): Promise<void>;
  /** Lets a paused or prelaunch VM run. */
  resume(): Promise<void>;
  /** Resets the machine as a power cycle would; a paused VM stays paused. */
  reset(): Promise<void>;
  /** Presses the (virtual) power button; a board without one may ignore it. */
  powerdown(): void;
  /** Ends the VM (called after the reply to `quit` has been sent). */
  quit(): void;
  cpus(): CpuInfo[];
  blockDevices(): BlockInfo[];
  /**
   * Saves the paused VM under `tag` (the target quiesces its devices first). An existing tag is
   * refused unless `replace` (HMP savevm replaces, QMP snapshot-save refuses).
   */
  saveSnapshot(tag: string, options: { vmstate: string; devices: string[]; replace: boolean }): Promise<void>;
  /** Loads `tag` into the paused VM. */
  loadSnapshot(tag: string, options: { vmstate: string; devices: string[] }): Promise<void>;
  deleteSnapshot(tag: string, options: { devices: string[] }): Promise<void>;
  listSnapshots(): Promise<SnapshotListing[]>;
}

export type JobStatus =
  | 'undefined' | 'created' | 'running' | 'paused' | 'ready' | 'standby' | 'waiting' | 'pending'
  | 'aborting' | 'concluded' | 'null';

export type JobType = 'snapshot-save' | 'snapshot-load' | 'snapshot-delete';

interface Job {
  id: string;
  type: JobType;
  status: JobStatus;
  current: number;
  total: number;
  error?: string;
}

export interface MonitorCommandsOptions {
  /** query-cpus-fast's qom-path for hart i (default QEMU virt's /machine/soc0/harts[i]). */
  qomPath?: (cpuIndex: number) => string;
  /** Used by HMP `savevm` without a name (default: vm-YYYYMMDDhhmmss from Date). */
  now?: () => Date;
}

/**
 * Registers the commands on `monitor`, bound to `target`. Returns the controller, which the
 * embedding code uses to report events the VM causes itself (guest shutdown, reset, ...).
 */
export function registerMonitorCommands(monitor: QmpMonitor, target: MonitorTarget, options: MonitorCommandsOptions = {}): MonitorController {
  const controller = new MonitorController(monitor, target, options);
  for (const c of controller.commands()) monitor.register(c);
  return controller;
}

/** Run-state changes with their events, the job list and the command implementations. */
export class MonitorController {
  private readonly monitor: QmpMonitor;
  private readonly target: MonitorTarget;
  private readonly options: MonitorCommandsOptions;
  private readonly jobs = new Map<string, Job>();
  /** A snapshot operation in progress: query-status reports it instead of the target's state. */
  private transient: RunState | null = null;
  /** Serializes state changes (stop, cont, snapshot jobs): one at a time. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(monitor: QmpMonitor, target: MonitorTarget, options: MonitorCommandsOptions = {}) {
    this.monitor = monitor;
    this.target = target;
    this.options = options;
  }

  runState(): RunState {
    return this.transient ?? this.target.runState();
  }

  /** Pauses the VM if it runs (STOP). Returns whether it was running. */
  async stopVm(): Promise<boolean> {
    if (this.target.runState() !== 'running') return false;
    await this.target.pause();
    this.monitor.emitEvent('STOP');
    return true;
  }

  /** Resumes the VM if it is paused or prelaunch (RESUME). */
  async startVm(): Promise<void> {
    const state = this.target.runState();
    if (state === 'running') return;
    if (state === 'shutdown' || state === 'internal-error' || state === 'guest-panicked') {
      throw new QmpError('GenericError', `the VM is in state ${state}: reset it (system_reset) before continuing`);
    }
    if (state === 'inmigrate') throw new QmpError('GenericError', 'the VM is waiting for an incoming migration');
    await this.target.resume();
    this.monitor.emitEvent('RESUME');
  }

  async reset(): Promise<void> {
    await this.target.reset();
    this.monitor.emitEvent('RESET', { guest: false, reason: 'host-qmp-system-reset' });
  }

  /** Runs state changes one after another, whichever client asked. */
  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  // ---- snapshot operations (used by the jobs and by HMP) ----

  private async saveSnapshot(tag: string, vmstate: string, devices: string[], replace: boolean): Promise<void> {
    this.checkDevices(devices);
    const wasRunning = await this.stopVm();
    this.transient = 'save-vm';
    try {
      await this.target.saveSnapshot(tag, { vmstate, devices, replace });
    } finally {
      this.transient = null;
      if (wasRunning) await this.startVm();
    }
  }

  private async loadSnapshot(tag: string, vmstate: string, devices: string[]): Promise<void> {
    this.checkDevices(devices);
    const wasRunning = await this.stopVm();
    this.transient = 'restore-vm';
    try {
      await this.target.loadSnapshot(tag, { vmstate, devices });
    } finally {
      this.transient = null;
    }
    // Only a successful load lets the VM run on.
    if (wasRunning) await this.startVm();
  }

  private checkDevices(devices: string[]): void {
    const known = new Set<string>();
    for (const b of this.target.blockDevices()) {
      known.add(b.device);
      const node = b.inserted?.['node-name'];
      if (typeof node === 'string') known.add(node);
    }
    for (const d of devices) if (!known.has(d)) throw new Error(`there is no block device '${d}'`);
  }

  // ---- jobs ----

  private setJobStatus(job: Job, status: JobStatus): void {
    job.status = status;
    this.monitor.emitEvent('JOB_STATUS_CHANGE', { status, id: job.id });
  }

  private startJob(id: string, type: JobType, work: () => Promise<void>, ctx: { afterReply(cb: () => void): void }): void {
    if (id.length === 0) throw new QmpError('GenericError', 'the job id must not be empty');
    if (this.jobs.has(id)) throw new QmpError('GenericError', `job id '${id}' is already in use`);
    const job: Job = { id, type, status: 'undefined', current: 0, total: 1 };
    this.jobs.set(id, job);
    this.setJobStatus(job, 'created');
    this.setJobStatus(job, 'running');
    ctx.afterReply(() => {
      void this.serialize(async () => {
        try {
          await work();
          job.current = 1;
          this.setJobStatus(job, 'waiting');
          this.setJobStatus(job, 'pending');
        } catch (e) {
          job.current = 1;
          job.error = e instanceof Error ? e.message : String(e);
          this.setJobStatus(job, 'aborting');
        }
        this.setJobStatus(job, 'concluded');
      });
    });
  }

  private jobInfo(job: Job): Record<string, unknown> {
    const info: Record<string, unknown> = {
      'current-progress': job.current, status: job.status, 'total-progress': job.total, type: job.type, id: job.id,
    };
    if (job.error !== undefined) info.error = job.error;
    return info;
  }

  // ---- HMP ----

  /**
   * Runs one human monitor command line; returns its text output (CRLF line ends). `afterReply`
   * defers `quit` until the output has been sent (default: at once).
   */
  async hmp(line: string, afterReply: (cb: () => void) => void = (cb) => cb()): Promise<string> {
    const words = line.trim().split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0) return '';
    const [cmd, ...rest] = words;
    const lines = (...ls: string[]): string => ls.map((l) => l + '\r\n').join('');
    const errorText = (e: unknown): string => lines(`Error: ${e instanceof Error ? e.message : String(e)}`);
    switch (cmd) {
      case 'info':
        return this.hmpInfo(rest[0]);
      case 'stop':
        await this.serialize(() => this.stopVm());
        return '';
      case 'cont':
      case 'c':
        try {
          await this.serialize(() => this.startVm());
          return '';
        } catch (e) {
          return errorText(e);
        }
      case 'system_reset':
        await this.serialize(() => this.reset());
        return '';
      case 'system_powerdown':
        this.monitor.emitEvent('POWERDOWN');
        this.target.powerdown();
        return '';
      case 'savevm': {
        const tag = rest[0] ?? defaultSnapshotName(this.options.now?.() ?? new Date());
        try {
          await this.serialize(() => this.saveSnapshot(tag, '', [], true));
          return '';
        } catch (e) {
          return errorText(e);
        }
      }
      case 'loadvm':
      case 'delvm': {
        if (rest.length !== 1) return lines(`${cmd}: give one snapshot name`, `Usage: ${cmd} NAME`);
        try {
          if (cmd === 'loadvm') await this.serialize(() => this.loadSnapshot(rest[0], '', []));
          else await this.serialize(() => this.target.deleteSnapshot(rest[0], { devices: [] }));
          return '';
        } catch (e) {
          return errorText(e);
        }
      }
      case 'help':
      case '?':
        return lines(...HMP_HELP);
      case 'quit':
      case 'q':
        this.monitor.emitEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
        afterReply(() => this.target.quit());
        return '';
      default:
        return lines(`unknown command: '${cmd}'`);
    }
  }

  private async hmpInfo(what: string | undefined): Promise<string> {
    const lines = (...ls: string[]): string => ls.map((l) => l + '\r\n').join('');
    switch (what) {
      case 'status': {
        const s = this.runState();
        return lines(s === 'running' ? 'VM status: running' : s === 'paused' ? 'VM status: paused' : `VM status: paused (${s})`);
      }
      case 'version': {
        const v = this.monitor.version;
        return lines(`${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro} (${v.package})`);
      }
      case 'cpus':
        return lines(...this.target.cpus().map((c, i) => `${i === 0 ? '*' : ' '} CPU #${c.cpuIndex}: thread_id=${c.threadId}`));
      case 'block': {
        const disks = this.target.blockDevices();
        if (disks.length === 0) return lines('no block devices');
        return lines(...disks.map((d) => d.inserted === undefined
          ? `${d.device}: [not inserted]`
          : `${d.device}: ${d.inserted.file} (${d.inserted.drv}${d.inserted.ro ? ', read-only' : ''})`));
      }
      case 'snapshots': {
        const list = await this.target.listSnapshots();
        if (list.length === 0) return lines('no snapshots');
        const rows = list.map((s, i) => [
          String(i + 1), s.tag, formatSize(s.vmStateSize), formatDate(s.dateMs), formatClock(s.vmClockNs),
        ]);
        return lines(...table([['ID', 'TAG', 'VM SIZE', 'DATE', 'VM CLOCK'], ...rows]));
      }
      default:
        return lines('info status     the VM run state', 'info snapshots  saved VM snapshots', 'info cpus       the vCPUs',
          'info block      the disks', 'info version    the version');
    }
  }

  // ---- QMP commands ----

  commands(): QmpCommand[] {
    const target = this.target;
    const qomPath = this.options.qomPath ?? ((i: number) => `/machine/soc0/harts[${i}]`);
    return [
      { name: 'query-version', run: (_a, ctx) => ctx.monitor.version },
      { name: 'query-commands', run: (_a, ctx) => ctx.monitor.commandNames().map((name) => ({ name })) },
      {
        name: 'query-status',
        run: () => {
          const status = this.runState();
          return { status, singlestep: false, running: status === 'running' };
        },
      },
      { name: 'query-name', run: () => ({}) },
      { name: 'query-target', run: () => ({ arch: 'riscv64' }) },
      { name: 'query-kvm', run: () => ({ enabled: false, present: false }) },
      { name: 'stop', run: async () => { await this.serialize(() => this.stopVm()); } },
      { name: 'cont', run: async () => { await this.serialize(() => this.startVm()); } },
      { name: 'system_reset', run: async () => { await this.serialize(() => this.reset()); } },
      {
        name: 'system_powerdown',
        run: () => {
          this.monitor.emitEvent('POWERDOWN');
          target.powerdown();
        },
      },
      {
        name: 'quit',
        run: (_a, ctx) => {
          this.monitor.emitEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
          ctx.afterReply(() => target.quit());
        },
      },
      {
        name: 'query-cpus-fast',
        run: () => target.cpus().map((c) => ({
          'thread-id': c.threadId, props: { 'core-id': c.cpuIndex }, 'qom-path': qomPath(c.cpuIndex), 'cpu-index': c.cpuIndex, target: 'riscv64',
        })),
      },
      { name: 'query-block', run: () => target.blockDevices() },
      {
        name: 'snapshot-save',
        args: { 'job-id': 'str', tag: 'str', vmstate: 'str', devices: 'str[]' },
        run: (a, ctx) => {
          const { tag, vmstate, devices } = a as { tag: string; vmstate: string; devices: string[] };
          this.startJob(a['job-id'] as string, 'snapshot-save', () => this.saveSnapshot(tag, vmstate, devices, false), ctx);
        },
      },
      {
        name: 'snapshot-load',
        args: { 'job-id': 'str', tag: 'str', vmstate: 'str', devices: 'str[]' },
        run: (a, ctx) => {
          const { tag, vmstate, devices } = a as { tag: string; vmstate: string; devices: string[] };
          this.startJob(a['job-id'] as string, 'snapshot-load', () => this.loadSnapshot(tag, vmstate, devices), ctx);
        },
      },
      {
        name: 'snapshot-delete',
        args: { 'job-id': 'str', tag: 'str', devices: 'str[]' },
        run: (a, ctx) => {
          const { tag, devices } = a as { tag: string; devices: string[] };
          this.startJob(a['job-id'] as string, 'snapshot-delete', async () => {
            this.checkDevices(devices);
            await target.deleteSnapshot(tag, { devices });
          }, ctx);
        },
      },
      { name: 'query-jobs', run: () => [...this.jobs.values()].map((j) => this.jobInfo(j)) },
      {
        name: 'job-dismiss',
        args: { id: 'str' },
        run: (a) => {
          const job = this.jobs.get(a.id as string);
          if (job === undefined) throw new QmpError('GenericError', `there is no job '${String(a.id)}'`);
          if (job.status !== 'concluded') throw new QmpError('GenericError', `job '${job.id}' is ${job.status}, not concluded`);
          this.setJobStatus(job, 'null');
          this.jobs.delete(job.id);
        },
      },
      {
        name: 'job-cancel',
        args: { id: 'str' },
        run: (a) => {
          const job = this.jobs.get(a.id as string);
          if (job === undefined) throw new QmpError('GenericError', `there is no job '${String(a.id)}'`);
          throw new QmpError('GenericError', `job '${job.id}' (${job.type}) cannot be cancelled`);
        },
      },
      {
        name: 'human-monitor-command',
        args: { 'command-line': 'str', 'cpu-index?': 'int' },
        run: (a, ctx) => this.hmp(a['command-line'] as string, (cb) => ctx.afterReply(cb)),
      },
    ];
  }
}

const HMP_HELP = [
  'info status|snapshots|cpus|block|version',
  'stop            pause the VM',
  'cont | c        resume the VM',
  'system_reset    reset the VM',
  'system_powerdown  press the power button',
  'savevm [NAME]   save a snapshot',
  'loadvm NAME     load a snapshot',
  'delvm NAME      delete a snapshot',
  'quit | q        end the VM',
];

/** vm-YYYYMMDDhhmmss (local time), the name `savevm` gives an unnamed snapshot. */
export function defaultSnapshotName(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `vm-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A snapshot size as QEMU's `info snapshots` shows it (B, KiB, MiB, GiB). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1 << 30) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
}

/** YYYY-MM-DD hh:mm:ss in local time. */
export function formatDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A VM clock in nanoseconds as hh:mm:ss.mmm. */
export function formatClock(ns: number): string {
  const totalMs = Math.floor(ns / 1e6);
  const h = Math.floor(totalMs / 3_600_000);
  const m = Math.floor(totalMs / 60_000) % 60;
  const s = Math.floor(totalMs / 1000) % 60;
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(h)}:${p(m)}:${p(s)}.${p(totalMs % 1000, 3)}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}
