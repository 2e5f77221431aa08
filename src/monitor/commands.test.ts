import { test } from 'node:test';
import assert from 'node:assert/strict';

import { QmpMonitor, type QmpSession } from './qmp.js';
import { registerMonitorCommands, type BlockInfo, type MonitorTarget, type RunState, type SnapshotListing } from './commands.js';

/** A VM stand-in: a run state, snapshots in a map, a log of what was asked of it. */
class FakeTarget implements MonitorTarget {
  state: RunState = 'prelaunch';
  readonly log: string[] = [];
  readonly snapshots = new Map<string, { dateMs: number; state: string }>();
  disks: BlockInfo[] = [];
  failLoad = false;
  /** The run state seen while a snapshot operation ran. */
  seenDuring: RunState[] = [];
  statusDuring: (() => RunState) | undefined;

  runState(): RunState {
    return this.state;
  }
  async pause(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 2));
    this.log.push('pause');
    if (this.state === 'running') this.state = 'paused';
  }
  async resume(): Promise<void> {
    this.log.push('resume');
    this.state = 'running';
  }
  async reset(): Promise<void> {
    this.log.push('reset');
  }
  powerdown(): void {
    this.log.push('powerdown');
  }
  quit(): void {
    this.log.push('quit');
    this.state = 'shutdown';
  }
  cpus(): { cpuIndex: number; threadId: number }[] {
    return [{ cpuIndex: 0, threadId: 4242 }, { cpuIndex: 1, threadId: 4242 }];
  }
  blockDevices(): BlockInfo[] {
    return this.disks;
  }
  async saveSnapshot(tag: string, options: { replace: boolean }): Promise<void> {
    if (this.statusDuring !== undefined) this.seenDuring.push(this.statusDuring());
    this.log.push(`save ${tag} (${this.state})`);
    if (this.snapshots.has(tag) && !options.replace) throw new Error(`snapshot '${tag}' already exists`);
    this.snapshots.set(tag, { dateMs: Date.UTC(2024, 0, 2, 3, 4, 5), state: this.state });
  }
  async loadSnapshot(tag: string): Promise<void> {
    if (this.statusDuring !== undefined) this.seenDuring.push(this.statusDuring());
    this.log.push(`load ${tag} (${this.state})`);
    if (this.failLoad || !this.snapshots.has(tag)) throw new Error(`there is no snapshot '${tag}'`);
  }
  async deleteSnapshot(tag: string): Promise<void> {
    if (!this.snapshots.delete(tag)) throw new Error(`there is no snapshot '${tag}'`);
  }
  async listSnapshots(): Promise<SnapshotListing[]> {
    return [...this.snapshots].map(([tag, s]) => ({ tag, vmStateSize: 4_276_000, dateMs: s.dateMs, vmClockNs: 65_123_000_000 }));
  }
}

interface Client {
  session: QmpSession;
  out: Record<string, unknown>[];
  /** Sends a command and resolves with its reply (events before it stay in `out`). */
  run(command: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  events(since?: number): string[];
}

async function setup(): Promise<{ target: FakeTarget; monitor: QmpMonitor; client: Client }> {
  const target = new FakeTarget();
  const monitor = new QmpMonitor();
  const controller = registerMonitorCommands(monitor, target);
  target.statusDuring = () => controller.runState();
  const out: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  const session = monitor.createSession({
    write: (line) => {
      const m = JSON.parse(line) as Record<string, unknown>;
      out.push(m);
      if (!('event' in m) && !('QMP' in m)) waiting.shift()?.(m);
    },
  });
  session.start();
  const client: Client = {
    session,
    out,
    run: (command, args) => {
      const p = new Promise<Record<string, unknown>>((resolve) => waiting.push(resolve));
      session.receive(JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args }));
      return p;
    },
    events: (since = 0) => out.slice(since).filter((m) => typeof m.event === 'string').map((m) => {
      const data = m.data as { status?: string } | undefined;
      return data?.status !== undefined ? `${String(m.event)}:${data.status}` : String(m.event);
    }),
  };
  await client.run('qmp_capabilities');
  return { target, monitor, client };
}

/** Waits until a job is concluded (events arrive after the command's reply). */
async function untilConcluded(client: Client, id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const jobs = (await client.run('query-jobs')).return as { id: string; status: string }[];
    if (jobs.find((j) => j.id === id)?.status === 'concluded') return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.fail(`job ${id} did not conclude`);
}

test('query-status, stop and cont follow QEMU: events only on real changes', async () => {
  const { target, client } = await setup();
  assert.deepEqual((await client.run('query-status')).return, { status: 'prelaunch', singlestep: false, running: false });
  const n = client.out.length;
  assert.deepEqual(await client.run('stop'), { return: {} }); // prelaunch: nothing to stop
  assert.deepEqual(await client.run('cont'), { return: {} });
  assert.deepEqual((await client.run('query-status')).return, { status: 'running', singlestep: false, running: true });
  await client.run('cont'); // already running: no event
  await client.run('stop');
  assert.deepEqual((await client.run('query-status')).return, { status: 'paused', singlestep: false, running: false });
  await client.run('stop'); // already paused: no event
  assert.deepEqual(client.events(n), ['RESUME', 'STOP']);
  assert.deepEqual(target.log, ['resume', 'pause']);
  target.state = 'shutdown';
  const r = await client.run('cont');
  assert.equal((r.error as { class: string }).class, 'GenericError');
});

test('system_reset, system_powerdown and quit emit their events; quit acts after its reply', async () => {
  const { target, client } = await setup();
  const n = client.out.length;
  await client.run('system_reset');
  await client.run('system_powerdown');
  const quitReply = client.run('quit');
  assert.ok(!target.log.includes('quit'));
  assert.deepEqual(await quitReply, { return: {} });
  assert.deepEqual(target.log, ['reset', 'powerdown', 'quit']);
  const events = client.out.slice(n).filter((m) => 'event' in m);
  assert.deepEqual(events.map((e) => [e.event, e.data]), [
    ['RESET', { guest: false, reason: 'host-qmp-system-reset' }],
    ['POWERDOWN', undefined],
    ['SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }],
  ]);
  // The SHUTDOWN event precedes quit's reply, as in QEMU.
  const shutdownAt = client.out.findIndex((m) => m.event === 'SHUTDOWN');
  assert.ok(shutdownAt < client.out.length - 1);
});

test('queries: version, commands, cpus, block, target, kvm, name', async () => {
  const { target, client } = await setup();
  assert.deepEqual((await client.run('query-version')).return, { qemu: { major: 7, minor: 2, micro: 0 }, package: 'tsvm' });
  const names = ((await client.run('query-commands')).return as { name: string }[]).map((c) => c.name);
  for (const n of ['qmp_capabilities', 'query-status', 'stop', 'cont', 'quit', 'snapshot-save', 'snapshot-load', 'snapshot-delete',
    'query-jobs', 'job-dismiss', 'human-monitor-command', 'query-cpus-fast', 'query-block', 'system_reset', 'system_powerdown']) {
    assert.ok(names.includes(n), n);
  }
  assert.deepEqual((await client.run('query-cpus-fast')).return, [
    { 'thread-id': 4242, props: { 'core-id': 0 }, 'qom-path': '/machine/soc0/harts[0]', 'cpu-index': 0, target: 'riscv64' },
    { 'thread-id': 4242, props: { 'core-id': 1 }, 'qom-path': '/machine/soc0/harts[1]', 'cpu-index': 1, target: 'riscv64' },
  ]);
  assert.deepEqual((await client.run('query-block')).return, []);
  target.disks = [{ device: 'virtio0', locked: false, removable: false, inserted: { file: 'disk.qcow2', ro: false, drv: 'qcow2', 'node-name': 'disk0' } }];
  assert.deepEqual((await client.run('query-block')).return, target.disks);
  assert.deepEqual((await client.run('query-target')).return, { arch: 'riscv64' });
  assert.deepEqual((await client.run('query-kvm')).return, { enabled: false, present: false });
  assert.deepEqual((await client.run('query-name')).return, {});
});

test('snapshot-save runs as a job with QEMU\'s event sequence; the VM is paused meanwhile and resumed', async () => {
  const { target, client } = await setup();
  await client.run('cont');
  const n = client.out.length;
  const reply = await client.run('snapshot-save', { 'job-id': 'save0', tag: 'snap1', vmstate: 'disk0', devices: [] });
  assert.deepEqual(reply, { return: {} });
  await untilConcluded(client, 'save0');
  assert.deepEqual(client.events(n), [
    'JOB_STATUS_CHANGE:created', 'JOB_STATUS_CHANGE:running', 'STOP', 'RESUME',
    'JOB_STATUS_CHANGE:waiting', 'JOB_STATUS_CHANGE:pending', 'JOB_STATUS_CHANGE:concluded',
  ]);
  assert.deepEqual(target.seenDuring, ['save-vm']);
  assert.ok(target.log.includes('save snap1 (paused)'));
  assert.equal(target.state, 'running');
  assert.deepEqual((await client.run('query-jobs')).return, [
    { 'current-progress': 1, status: 'concluded', 'total-progress': 1, type: 'snapshot-save', id: 'save0' },
  ]);
  // The id stays taken until the job is dismissed.
  const dup = await client.run('snapshot-save', { 'job-id': 'save0', tag: 'snap2', vmstate: 'x', devices: [] });
  assert.match((dup.error as { desc: string }).desc, /already in use/);
  const m = client.out.length;
  assert.deepEqual(await client.run('job-dismiss', { id: 'save0' }), { return: {} });
  assert.deepEqual(client.events(m), ['JOB_STATUS_CHANGE:null']);
  assert.deepEqual((await client.run('query-jobs')).return, []);
  const gone = await client.run('job-dismiss', { id: 'save0' });
  assert.equal((gone.error as { class: string }).class, 'GenericError');
});

test('a failing snapshot job aborts with its error in query-jobs; the VM runs on', async () => {
  const { target, client } = await setup();
  await client.run('cont');
  target.snapshots.set('taken', { dateMs: 0, state: 'running' });
  const n = client.out.length;
  await client.run('snapshot-save', { 'job-id': 'j', tag: 'taken', vmstate: 'x', devices: [] });
  await untilConcluded(client, 'j');
  assert.deepEqual(client.events(n), [
    'JOB_STATUS_CHANGE:created', 'JOB_STATUS_CHANGE:running', 'STOP', 'RESUME', 'JOB_STATUS_CHANGE:aborting', 'JOB_STATUS_CHANGE:concluded',
  ]);
  const [job] = (await client.run('query-jobs')).return as { error?: string }[];
  assert.match(job.error ?? '', /already exists/);
  assert.equal(target.state, 'running');
  // A disk name that does not exist fails the job before the VM is touched.
  const log = target.log.length;
  await client.run('snapshot-save', { 'job-id': 'k', tag: 'new', vmstate: 'x', devices: ['nope'] });
  await untilConcluded(client, 'k');
  const jobs = (await client.run('query-jobs')).return as { id: string; error?: string }[];
  assert.match(jobs.find((j) => j.id === 'k')?.error ?? '', /no block device 'nope'/);
  assert.equal(target.log.length, log);
});

test('snapshot-load: success resumes a running VM; failure leaves it paused', async () => {
  const { target, client } = await setup();
  await client.run('cont');
  target.snapshots.set('s', { dateMs: 0, state: 'running' });
  let n = client.out.length;
  await client.run('snapshot-load', { 'job-id': 'l1', tag: 's', vmstate: 'x', devices: [] });
  await untilConcluded(client, 'l1');
  assert.deepEqual(client.events(n), [
    'JOB_STATUS_CHANGE:created', 'JOB_STATUS_CHANGE:running', 'STOP', 'RESUME',
    'JOB_STATUS_CHANGE:waiting', 'JOB_STATUS_CHANGE:pending', 'JOB_STATUS_CHANGE:concluded',
  ]);
  assert.deepEqual(target.seenDuring, ['restore-vm']);
  n = client.out.length;
  target.failLoad = true;
  await client.run('snapshot-load', { 'job-id': 'l2', tag: 's', vmstate: 'x', devices: [] });
  await untilConcluded(client, 'l2');
  assert.deepEqual(client.events(n), [
    'JOB_STATUS_CHANGE:created', 'JOB_STATUS_CHANGE:running', 'STOP', 'JOB_STATUS_CHANGE:aborting', 'JOB_STATUS_CHANGE:concluded',
  ]);
  assert.equal(target.state, 'paused');
  // snapshot-delete is a job too.
  n = client.out.length;
  await client.run('snapshot-delete', { 'job-id': 'd', tag: 's', devices: [] });
  await untilConcluded(client, 'd');
  assert.ok(!target.snapshots.has('s'));
  assert.deepEqual(client.events(n), [
    'JOB_STATUS_CHANGE:created', 'JOB_STATUS_CHANGE:running', 'JOB_STATUS_CHANGE:waiting', 'JOB_STATUS_CHANGE:pending', 'JOB_STATUS_CHANGE:concluded',
  ]);
  const missing = await client.run('snapshot-save', { 'job-id': 'z', tag: 't' });
  assert.match((missing.error as { desc: string }).desc, /missing argument 'vmstate'/);
});

test('human-monitor-command: info status, savevm, info snapshots, loadvm, delvm, errors', async () => {
  const { target, client } = await setup();
  const hmp = async (line: string): Promise<unknown> => (await client.run('human-monitor-command', { 'command-line': line })).return;
  assert.equal(await hmp('info status'), 'VM status: paused (prelaunch)\r\n');
  await hmp('cont');
  assert.equal(await hmp('info status'), 'VM status: running\r\n');
  assert.equal(await hmp('stop'), '');
  assert.equal(await hmp('info status'), 'VM status: paused\r\n');
  assert.equal(await hmp('info snapshots'), 'no snapshots\r\n');
  assert.equal(await hmp('savevm first'), '');
  assert.equal(await hmp('savevm first'), ''); // HMP savevm replaces
  const table = await hmp('info snapshots') as string;
  assert.match(table, /^ID +TAG +VM SIZE +DATE +VM CLOCK\r\n1 +first +4\.1 MiB +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +00:01:05\.123\r\n$/);
  assert.equal(await hmp('loadvm first'), '');
  assert.match(await hmp('loadvm nope') as string, /^Error: there is no snapshot 'nope'\r\n$/);
  assert.equal(await hmp('delvm first'), '');
  assert.match(await hmp('loadvm') as string, /give one snapshot name/);
  assert.equal(await hmp('bogus x'), "unknown command: 'bogus'\r\n");
  assert.match(await hmp('info cpus') as string, /^\* CPU #0: thread_id=4242\r\n {2}CPU #1: thread_id=4242\r\n$/);
  assert.match(await hmp('help') as string, /savevm/);
  assert.equal(await hmp('savevm'), '');
  assert.match([...target.snapshots.keys()].join(), /^vm-\d{14}$/);
  const n = client.out.length;
  assert.equal(await hmp('quit'), '');
  assert.deepEqual(client.events(n), ['SHUTDOWN']);
  assert.equal(target.log.at(-1), 'quit');
});
