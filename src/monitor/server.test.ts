/**
 * The QMP server on a unix socket, driven by QmpClient: several clients, garbage, snapshots of a
 * real `virt` board through snapshot-save / snapshot-load, and the same client script run against
 * QEMU (`qemu-system-riscv64 -M virt -S`, skipped when missing) to show both answer in the same
 * shapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { VirtMachine, type MachineStop, type VirtConfig } from '../machine/virt.js';
import { machineState, ramImage, snapshottable, stepMachine } from '../vmstate/machine-test-support.js';
import type { SnapshottableMachine } from '../vmstate/index.js';
import { repoRoot } from '../../test/support/repo-root.js';
import { deterministicHost } from '../../test/support/deterministic-host.js';
import { registerMonitorCommands } from './commands.js';
import { MachineMonitorTarget, type RunnableMachine } from './machine-target.js';
import { QmpMonitor } from './qmp.js';
import { QmpClient, type QmpMessage } from './qmp-client.js';
import { MonitorError, parseMonitorAddress, QmpServer } from './server.js';
import { FileSnapshotStore, nodeSnapshotCompression } from './snapshot-store.js';

const root = repoRoot(import.meta.url);
const QEMU = '/usr/bin/qemu-system-riscv64';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tsvm-qmp-'));
}

function virtConfig(): VirtConfig {
  return {
    memoryMiB: 128, cpus: 2, bios: 'builtin', clock: 'virtual', virtio: ['rng', 'console'], append: 'console=ttyS0',
    kernel: readFileSync(join(root, 'images', 'default', 'Image.gz')),
    initrd: readFileSync(join(root, 'images', 'default', 'initramfs.cpio.gz')),
  };
}

/**
 * A real VirtMachine run by the deterministic stepper (20 slices per event-loop turn), with the
 * re-entrant run()/stop() RunnableMachine asks for.
 */
class SteppedMachine implements RunnableMachine {
  readonly machine: VirtMachine;
  private readonly snap: SnapshottableMachine;
  private stopFlag = false;

  constructor(machine: VirtMachine) {
    this.machine = machine;
    this.snap = snapshottable(machine);
  }

  get config(): VirtConfig { return this.snap.config; }
  get vm(): SnapshottableMachine['vm'] { return this.snap.vm; }
  get vcpus(): SnapshottableMachine['vcpus'] { return this.snap.vcpus; }
  get uart(): SnapshottableMachine['uart'] { return this.snap.uart; }
  get clint(): SnapshottableMachine['clint'] { return this.snap.clint; }
  get plic(): SnapshottableMachine['plic'] { return this.snap.plic; }
  get rtc(): SnapshottableMachine['rtc'] { return this.snap.rtc; }
  get virtio(): SnapshottableMachine['virtio'] { return this.snap.virtio; }
  get disks(): SnapshottableMachine['disks'] { return this.snap.disks; }
  get instructions(): number { return this.snap.instructions; }
  set instructions(n: number) { this.snap.instructions = n; }
  mtime(): number { return this.snap.mtime(); }
  setMtime(ticks: number): void { this.snap.setMtime(ticks); }
  pendingInput(): Uint8Array { return this.snap.pendingInput(); }
  setPendingInput(bytes: Uint8Array): void { this.snap.setPendingInput(bytes); }

  async run(): Promise<MachineStop> {
    for (;;) {
      if (this.stopFlag) {
        this.stopFlag = false;
        return { kind: 'stopped' };
      }
      stepMachine(this.machine, 20);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  stop(): void {
    this.stopFlag = true;
  }

  reset(): void {
    throw new Error('reset is not available on the test board');
  }
}

interface Vm {
  monitor: QmpMonitor;
  server: QmpServer;
  board: SteppedMachine;
  target: MachineMonitorTarget;
  socket: string;
  dir: string;
  exits: string[];
  close(): Promise<void>;
}

async function startTsvm(): Promise<Vm> {
  const dir = tempDir();
  const socket = join(dir, 'qmp.sock');
  const machine = new VirtMachine(virtConfig(), deterministicHost());
  const board = new SteppedMachine(machine);
  const monitor = new QmpMonitor();
  const exits: string[] = [];
  const target = new MachineMonitorTarget(board, {
    store: new FileSnapshotStore(join(dir, 'snapshots')),
    compression: nodeSnapshotCompression,
    threadId: process.pid,
    emitEvent: (e, d) => monitor.emitEvent(e, d),
    onExit: (r) => exits.push(r.kind),
  });
  registerMonitorCommands(monitor, target);
  const server = new QmpServer(monitor, parseMonitorAddress(`unix:${socket},server,nowait`));
  await server.listen();
  return {
    monitor, server, board, target, socket, dir, exits,
    close: async () => {
      await target.pause();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('monitor addresses: the QEMU chardev forms', () => {
  assert.deepEqual(parseMonitorAddress('unix:/tmp/a.sock'), { kind: 'unix', path: '/tmp/a.sock', wait: false });
  assert.deepEqual(parseMonitorAddress('unix:/tmp/a.sock,server,nowait'), { kind: 'unix', path: '/tmp/a.sock', wait: false });
  assert.deepEqual(parseMonitorAddress('unix:/tmp/a.sock,server=on,wait=off'), { kind: 'unix', path: '/tmp/a.sock', wait: false });
  assert.deepEqual(parseMonitorAddress('unix:/tmp/a.sock,server,wait'), { kind: 'unix', path: '/tmp/a.sock', wait: true });
  assert.deepEqual(parseMonitorAddress('unix:/tmp/a,,b.sock,server'), { kind: 'unix', path: '/tmp/a,b.sock', wait: false });
  for (const bad of ['tcp:localhost:4444', 'unix:', 'unix:/x,server=off', 'unix:/x,bogus', 'unix:/x,wait=maybe', '/tmp/x']) {
    assert.throws(() => parseMonitorAddress(bad), (e: unknown) => e instanceof MonitorError && e.code === 'EINVAL', bad);
  }
});

test('the socket path: a stale socket is replaced, a live one or a plain file is refused', async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'file');
    writeFileSync(file, 'keep me');
    const m = new QmpMonitor();
    await assert.rejects(new QmpServer(m, parseMonitorAddress(`unix:${file}`)).listen(), /not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');

    const live = join(dir, 'live.sock');
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(live, resolve));
    await assert.rejects(new QmpServer(m, parseMonitorAddress(`unix:${live}`)).listen(), /in use/);
    await new Promise<void>((resolve) => other.close(() => resolve()));

    // A socket file nobody serves: left behind by a process killed while listening.
    const stale = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", stale], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    assert.ok(existsSync(stale));
    const server = new QmpServer(m, parseMonitorAddress(`unix:${stale}`));
    await server.listen();
    const c = await QmpClient.connect(stale);
    assert.ok('QMP' in c.greeting);
    c.close();
    await server.close();
    assert.ok(!existsSync(stale));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('several clients, each its own session; events reach every negotiated client; garbage is answered', async () => {
  const vm = await startTsvm();
  try {
    const a = await QmpClient.connect(vm.socket);
    const b = await QmpClient.connect(vm.socket);
    const c = await QmpClient.connect(vm.socket); // never negotiates: gets no events
    await a.negotiate();
    await b.negotiate();
    assert.equal(vm.server.clientCount, 3);
    // b sends garbage; it is answered and a is unaffected.
    const garbage = await b.sendRaw('{"execute": ]\n');
    assert.equal((garbage.error as { class: string }).class, 'GenericError');
    const resync = await b.sendRaw('\x01{"execute":"query-status","id":"after-garbage"}');
    assert.equal((resync.error as { class: string }).class, 'GenericError'); // the control character
    assert.equal((await b.execute('query-status', undefined, { id: 'x' })).id, 'x');
    assert.deepEqual((await a.execute('cont')).return, {});
    await a.waitForEvent('RESUME');
    await b.waitForEvent('RESUME');
    assert.equal(((await c.execute('query-status')).error as { class: string }).class, 'CommandNotFound');
    assert.equal(c.events.length, 0);
    // A half-sent request, then the client goes away: the server carries on.
    c.writeRaw('{"execute": "query-sta');
    c.close();
    await c.closed();
    const st = await a.execute('query-status');
    assert.deepEqual(st.return, { status: 'running', singlestep: false, running: true });
    await a.execute('stop');
    await b.waitForEvent('STOP');
    a.close();
    b.close();
  } finally {
    await vm.close();
  }
});

test('snapshot-save and snapshot-load of a running guest through QMP restore it exactly', { timeout: 120_000 }, async () => {
  const vm = await startTsvm();
  try {
    const q = await QmpClient.connect(vm.socket);
    await q.negotiate();
    await q.execute('cont');
    await new Promise((resolve) => setTimeout(resolve, 400)); // the guest boots a while
    await q.execute('stop');
    const saved = machineState(vm.board.machine);
    const ram = Buffer.from(ramImage(vm.board.machine));

    const r = await q.execute('snapshot-save', { 'job-id': 'save', tag: 'boot', vmstate: 'vm', devices: [] });
    assert.deepEqual(r.return, {});
    const done = await q.waitForEvent('JOB_STATUS_CHANGE', { match: (e) => e.data?.id === 'save' && e.data.status === 'concluded', timeoutMs: 60_000 });
    assert.ok(done);
    const jobs = (await q.execute('query-jobs')).return as { id: string; error?: string }[];
    assert.equal(jobs.find((j) => j.id === 'save')?.error, undefined);
    assert.equal(((await q.execute('query-status')).return as { status: string }).status, 'paused');

    // Run on, then load the snapshot: the board is back where it was.
    await q.execute('cont');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await q.execute('stop');
    assert.notDeepEqual(machineState(vm.board.machine), saved);
    await q.execute('snapshot-load', { 'job-id': 'load', tag: 'boot', vmstate: 'vm', devices: [] });
    await q.waitForEvent('JOB_STATUS_CHANGE', { match: (e) => e.data?.id === 'load' && e.data.status === 'concluded', timeoutMs: 60_000 });
    const loadJob = ((await q.execute('query-jobs')).return as { id: string; error?: string }[]).find((j) => j.id === 'load');
    assert.equal(loadJob?.error, undefined);
    assert.deepEqual(machineState(vm.board.machine), saved);
    assert.ok(Buffer.from(ramImage(vm.board.machine)).equals(ram), 'RAM differs after snapshot-load');

    // HMP sees the snapshot; savevm / loadvm / delvm work too.
    const info = (await q.execute('human-monitor-command', { 'command-line': 'info snapshots' })).return as string;
    assert.match(info, /\bboot\b/);
    assert.equal((await q.execute('human-monitor-command', { 'command-line': 'savevm second' })).return, '');
    assert.equal((await q.execute('human-monitor-command', { 'command-line': 'loadvm second' })).return, '');
    assert.equal((await q.execute('human-monitor-command', { 'command-line': 'delvm second' })).return, '');
    assert.match((await q.execute('human-monitor-command', { 'command-line': 'loadvm second' })).return as string, /^Error: there is no snapshot 'second'/);
    // A snapshot of the same tag via QMP is refused (the job fails).
    await q.execute('snapshot-save', { 'job-id': 'again', tag: 'boot', vmstate: 'vm', devices: [] });
    await q.waitForEvent('JOB_STATUS_CHANGE', { match: (e) => e.data?.id === 'again' && e.data.status === 'concluded' });
    const again = ((await q.execute('query-jobs')).return as { id: string; error?: string }[]).find((j) => j.id === 'again');
    assert.match(again?.error ?? '', /already exists/);
    q.close();
  } finally {
    await vm.close();
  }
});

// ---- the same script against tsvm and QEMU ----

interface Step {
  name: string;
  reply: QmpMessage;
  events: QmpMessage[];
}

/** The script: what a management tool does first with a freshly started, paused (-S) VM. */
async function script(socket: string): Promise<{ greeting: QmpMessage; steps: Step[] }> {
  const q = await QmpClient.connect(socket);
  const steps: Step[] = [];
  const step = async (name: string, command: string, args?: Record<string, unknown>, waitEvent?: string): Promise<void> => {
    const since = q.events.length;
    const reply = await q.execute(command, args, { id: name });
    if (waitEvent !== undefined) await q.waitForEvent(waitEvent, { since });
    steps.push({ name, reply, events: q.events.slice(since) as unknown as QmpMessage[] });
  };
  await step('before-negotiation', 'query-status');
  await step('qmp_capabilities', 'qmp_capabilities');
  await step('query-status', 'query-status');
  await step('stop-prelaunch', 'stop');
  await step('cont', 'cont', undefined, 'RESUME');
  await step('query-status-running', 'query-status');
  await step('stop', 'stop', undefined, 'STOP');
  await step('query-status-paused', 'query-status');
  await step('query-cpus-fast', 'query-cpus-fast');
  await step('unknown', 'no-such-command');
  await step('info-status', 'human-monitor-command', { 'command-line': 'info status' });
  await step('query-version', 'query-version');
  await step('bad-argument', 'query-status', { bogus: 1 });
  const greeting = q.greeting;
  q.close();
  return { greeting, steps };
}

/** Differences in structure: key sets and value types (empty arrays match any array). */
function shapeDiff(a: unknown, b: unknown, path: string, out: string[]): void {
  const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(a) !== kind(b)) {
    out.push(`${path}: ${kind(a)} vs ${kind(b)}`);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length > 0 && b.length > 0) shapeDiff(a[0], b[0], `${path}[0]`, out);
    return;
  }
  if (kind(a) === 'object') {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
    for (const k of keys) {
      if (!(k in ra)) out.push(`${path}.${k}: missing on tsvm`);
      else if (!(k in rb)) out.push(`${path}.${k}: missing on QEMU`);
      else shapeDiff(ra[k], rb[k], `${path}.${k}`, out);
    }
  }
}

function checkTranscript(t: { greeting: QmpMessage; steps: Step[] }, who: string): void {
  const byName = new Map(t.steps.map((s) => [s.name, s]));
  const reply = (n: string): QmpMessage => (byName.get(n) as Step).reply;
  const errorClass = (n: string): unknown => (reply(n).error as { class?: unknown } | undefined)?.class;
  const events = (n: string): string[] => (byName.get(n) as Step).events.map((e) => String(e.event));
  assert.equal(errorClass('before-negotiation'), 'CommandNotFound', who);
  assert.deepEqual(reply('qmp_capabilities').return, {}, who);
  assert.equal((reply('query-status').return as { status: string }).status, 'prelaunch', who);
  assert.deepEqual(events('stop-prelaunch'), [], who);
  assert.deepEqual(events('cont'), ['RESUME'], who);
  assert.equal((reply('query-status-running').return as { running: boolean }).running, true, who);
  assert.deepEqual(events('stop'), ['STOP'], who);
  assert.equal((reply('query-status-paused').return as { status: string }).status, 'paused', who);
  assert.equal(((reply('query-cpus-fast').return as { target: string }[])[0]).target, 'riscv64', who);
  assert.equal(errorClass('unknown'), 'CommandNotFound', who);
  assert.equal(reply('info-status').return, 'VM status: paused\r\n', who);
  assert.equal(errorClass('bad-argument'), 'GenericError', who);
  for (const s of t.steps) assert.equal(s.reply.id, s.name, `${who} ${s.name}: id passthrough`);
}

test('the same client script gets the same shapes from tsvm and from QEMU', { timeout: 60_000 }, async (t) => {
  const vm = await startTsvm();
  let ours: { greeting: QmpMessage; steps: Step[] };
  try {
    ours = await script(vm.socket);
  } finally {
    await vm.close();
  }
  checkTranscript(ours, 'tsvm');
  assert.deepEqual(ours.greeting, { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'tsvm' }, capabilities: [] } });

  if (!existsSync(QEMU)) {
    t.skip(`${QEMU} is not installed (Debian package qemu-system-misc)`);
    return;
  }
  const dir = tempDir();
  const socket = join(dir, 'qemu.sock');
  const qemu = spawn(QEMU, ['-M', 'virt', '-smp', '2', '-m', '128', '-nographic', '-qmp', `unix:${socket},server,nowait`, '-S'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  qemu.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  try {
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(existsSync(socket), `QEMU did not create its QMP socket: ${stderr}`);
    const theirs = await script(socket);
    checkTranscript(theirs, 'QEMU');
    const diffs: string[] = [];
    shapeDiff(ours.greeting, theirs.greeting, 'greeting', diffs);
    for (const [i, s] of ours.steps.entries()) {
      const o = theirs.steps[i];
      shapeDiff(s.reply, o.reply, `${s.name}.reply`, diffs);
      assert.equal(s.events.length, o.events.length, `${s.name}: event count`);
      s.events.forEach((e, j) => shapeDiff(e, o.events[j], `${s.name}.event[${j}]`, diffs));
    }
    assert.deepEqual(diffs, []);
  } finally {
    qemu.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
