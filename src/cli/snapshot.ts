/**
 * `tsvm snapshot`: named snapshots of a VM (memory and disks), kept in its snapshot directory.
 *
 *   list   --dir DIR | --disk PATH            the snapshot tree (no VM needed)
 *   delete --dir DIR | --disk PATH TAG        delete a snapshot of a VM that is not running
 *   create|revert|delete --monitor unix:PATH TAG
 *                                             the same on a running VM, through its QMP monitor
 *                                             (savevm / loadvm / delvm)
 *
 * A VM's snapshot directory is `--snapshot-dir` of `tsvm run` (default: `<first disk>.snapshots`).
 */

import { formatHelp, type CommandSpec, type OptionSpec, type ParsedArgs, UsageError } from './args.js';
import { EXIT_FAILURE, EXIT_OK, type CliIo, type Subcommand } from './command.js';
import { MonitorError, NodeSnapshotDir, parseMonitorAddress, QmpClient, QmpClientError } from '../monitor/index.js';
import { formatClock, formatDate, formatSize } from '../monitor/commands.js';
import {
  deleteSnapshotOffline, loadMetadata, renderTree, SnapshotError, SNAPSHOT_METADATA_FILE, type SnapshotMetadata,
} from '../vmstate/index.js';

const HINT = 'tsvm snapshot --help';

const O = {
  dir: { name: 'dir', kind: 'string', valueName: 'DIR', description: 'the VM\'s snapshot directory (tsvm run --snapshot-dir)' },
  disk: { name: 'disk', kind: 'string', valueName: 'PATH', description: 'the VM\'s first disk: its snapshot directory is PATH.snapshots' },
  monitor: { name: 'monitor', kind: 'string', valueName: 'unix:PATH', description: 'the QMP monitor of the running VM (tsvm run --monitor)' },
  json: { name: 'json', kind: 'flag', description: 'list: the tree as JSON' },
  help: { name: 'help', short: 'h', kind: 'flag', description: 'show this help' },
} satisfies Record<string, OptionSpec>;

const spec: CommandSpec = {
  name: 'tsvm snapshot',
  usage: [
    'tsvm snapshot list (--dir DIR | --disk PATH) [--json]',
    'tsvm snapshot delete (--dir DIR | --disk PATH) TAG',
    'tsvm snapshot create|revert|delete --monitor unix:PATH TAG',
  ],
  summary: 'Named snapshots of a VM, memory and disks together, as a tree: each snapshot\'s parent is the\n' +
    'snapshot the VM was last taken or reverted to. Disks are frozen through qcow2 overlays kept in the\n' +
    'snapshot directory; delete keeps every image a child snapshot, a clone or the live VM still needs.',
  options: Object.values(O),
  maxPositionals: 2,
  epilog: [
    'list marks the current snapshot (the one the live VM descends from) with *.',
    '',
    'examples:',
    '  tsvm run --disk vm.qcow2 --monitor unix:/tmp/vm.sock,server,nowait &',
    '  tsvm snapshot create --monitor unix:/tmp/vm.sock before-upgrade',
    '  tsvm snapshot list --disk vm.qcow2',
    '  tsvm snapshot revert --monitor unix:/tmp/vm.sock before-upgrade',
  ].join('\n'),
};

export const snapshotCommand: Subcommand = {
  name: 'snapshot',
  summary: 'take, list, revert and delete named snapshots of a VM (a tree)',
  spec,
  async execute(args: ParsedArgs, io: CliIo): Promise<number> {
    if (args.flag('help')) {
      io.writeStdout(formatHelp(spec));
      return EXIT_OK;
    }
    const [verb, tag, ...extra] = args.positionals;
    if (verb === undefined) throw new UsageError('missing command (list, create, revert, delete)', HINT);
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`, HINT);
    const monitor = args.string('monitor');
    try {
      if (verb === 'list') {
        if (tag !== undefined) throw new UsageError(`unexpected argument '${tag}'`, HINT);
        if (monitor !== undefined) throw new UsageError('list reads the snapshot directory: give --dir or --disk, not --monitor', HINT);
        return await list(snapshotDir(args), args.flag('json'), io);
      }
      if (verb !== 'create' && verb !== 'revert' && verb !== 'delete') throw new UsageError(`unknown command '${verb}'`, HINT);
      if (tag === undefined) throw new UsageError(`${verb}: give the snapshot's name`, HINT);
      if (args.flag('json')) throw new UsageError('--json applies to list only', HINT);
      if (monitor !== undefined) {
        if (args.has('dir') || args.has('disk')) throw new UsageError('with --monitor, the running VM knows its snapshot directory: drop --dir / --disk', HINT);
        const hmp = { create: 'savevm', revert: 'loadvm', delete: 'delvm' }[verb];
        return await viaMonitor(monitor, `${hmp} ${tag}`, io);
      }
      if (verb !== 'delete') {
        throw new UsageError(`${verb} needs the running VM: give --monitor unix:PATH (tsvm run --monitor); to resume a stopped VM at a snapshot use tsvm run --restore TAG`, HINT);
      }
      const host = new NodeSnapshotDir(snapshotDir(args));
      await requireMetadata(host);
      await deleteSnapshotOffline(host, tag);
      return EXIT_OK;
    } catch (e) {
      if (e instanceof SnapshotError || e instanceof MonitorError || e instanceof QmpClientError) {
        io.writeStderr(`tsvm: ${e.message}\n`);
        return EXIT_FAILURE;
      }
      throw e;
    }
  },
};

function snapshotDir(args: ParsedArgs): string {
  const dir = args.string('dir');
  const disk = args.string('disk');
  if (dir !== undefined && disk !== undefined) throw new UsageError('give --dir or --disk, not both', HINT);
  if (dir !== undefined) return dir;
  if (disk !== undefined) return `${disk}.snapshots`;
  throw new UsageError('which VM? give --dir DIR (its snapshot directory) or --disk PATH (its first disk)', HINT);
}

async function requireMetadata(host: NodeSnapshotDir): Promise<SnapshotMetadata> {
  const meta = await loadMetadata(host);
  if (meta === undefined) throw new SnapshotError('ENOENT', `${host.dir} is not a snapshot directory (it has no ${SNAPSHOT_METADATA_FILE})`);
  return meta;
}

async function list(dir: string, json: boolean, io: CliIo): Promise<number> {
  const host = new NodeSnapshotDir(dir);
  const meta = await requireMetadata(host);
  const tree = renderTree(meta);
  if (json) {
    io.writeStdout(JSON.stringify({
      current: meta.current,
      snapshots: tree.map(({ snapshot: s }) => ({
        tag: s.tag, parent: s.parent, date: new Date(s.createdMs).toISOString(), vmClockNs: s.vmClockNs,
        vmStateSize: s.vmStateSize, disks: s.disks.map((d) => ({ device: d.device, image: host.pathOf(d.image) })),
      })),
      disks: meta.disks.map((d) => ({ device: d.device, origin: host.pathOf(d.origin), live: host.pathOf(d.top ?? d.origin) })),
    }, null, 2) + '\n');
    return EXIT_OK;
  }
  if (tree.length === 0) {
    io.writeStdout('no snapshots\n');
    return EXIT_OK;
  }
  const rows = [['SNAPSHOT', 'VM SIZE', 'DATE', 'VM CLOCK', 'DISKS']];
  for (const { prefix, snapshot: s } of tree) {
    rows.push([
      `${prefix}${s.tag}${s.tag === meta.current ? ' *' : ''}`, formatSize(s.vmStateSize), formatDate(s.createdMs),
      formatClock(s.vmClockNs), s.disks.map((d) => `${d.device}=${d.image.split('/').pop() ?? d.image}`).join(' ') || '-',
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const text = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
  io.writeStdout(`${text}\n* current: the live VM descends from it\n`);
  return EXIT_OK;
}

async function viaMonitor(address: string, commandLine: string, io: CliIo): Promise<number> {
  const parsed = parseMonitorAddress(address);
  const client = await QmpClient.connect(parsed.path);
  try {
    await client.negotiate();
    const reply = await client.execute('human-monitor-command', { 'command-line': commandLine }, { timeoutMs: 120_000 });
    if ('error' in reply) {
      const desc = (reply.error as { desc?: unknown } | undefined)?.desc;
      io.writeStderr(`tsvm: ${typeof desc === 'string' ? desc : JSON.stringify(reply.error)}\n`);
      return EXIT_FAILURE;
    }
    const text = typeof reply.return === 'string' ? reply.return.replace(/\r\n/g, '\n') : '';
    if (text.startsWith('Error: ')) {
      io.writeStderr(`tsvm: ${text.slice(7).trim()}\n`);
      return EXIT_FAILURE;
    }
    if (text.length > 0) io.writeStdout(text);
    return EXIT_OK;
  } finally {
    client.close();
  }
}
