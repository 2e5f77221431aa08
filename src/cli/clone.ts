/**
 * `tsvm clone SRC TAG DIR`: a new VM from snapshot TAG of the VM whose snapshot directory is SRC.
 * DIR (new) gets a linked qcow2 overlay per writable disk over the snapshot's frozen images, a
 * copy of the memory state and its own snapshots.json, so `tsvm run --restore DIR` resumes the
 * clone where the source was, as a separate VM. SRC records the clone so its frozen images stay.
 */

import { rm } from 'node:fs/promises';

import { formatHelp, type CommandSpec, type ParsedArgs, UsageError } from './args.js';
import { EXIT_FAILURE, EXIT_OK, type CliIo, type Subcommand } from './command.js';
import { createEmptyDir, isSnapshotDir, NodeSnapshotDir } from '../monitor/index.js';
import { cloneSnapshot, SnapshotError } from '../vmstate/index.js';
import { BlockError } from '../block/index.js';

const HINT = 'tsvm clone --help';

const spec: CommandSpec = {
  name: 'tsvm clone',
  usage: ['tsvm clone SRC_DIR TAG NEW_DIR'],
  summary: 'Make a new VM from snapshot TAG of the VM whose snapshot directory is SRC_DIR (tsvm run\n' +
    '--snapshot-dir; by default <first disk>.snapshots). NEW_DIR, which must not exist, gets a qcow2\n' +
    'overlay per disk linked to the snapshot\'s frozen images and a copy of its memory state;\n' +
    '`tsvm run --restore NEW_DIR` resumes the clone where the source was. The clone keeps the\n' +
    'source\'s MAC addresses (give each NIC mac=... only on a network both share: the guest keeps its\n' +
    'old address until it renews its lease).',
  options: [{ name: 'help', short: 'h', kind: 'flag', description: 'show this help' }],
  maxPositionals: 3,
  epilog: 'example:\n  tsvm clone vm.qcow2.snapshots before-upgrade /srv/vms/test1\n  tsvm run --restore /srv/vms/test1',
};

export const cloneCommand: Subcommand = {
  name: 'clone',
  summary: 'make a new VM (linked disks plus memory state) from a snapshot',
  spec,
  async execute(args: ParsedArgs, io: CliIo): Promise<number> {
    if (args.flag('help')) {
      io.writeStdout(formatHelp(spec));
      return EXIT_OK;
    }
    const [src, tag, target] = args.positionals;
    if (src === undefined || tag === undefined || target === undefined) throw new UsageError('give SRC_DIR TAG NEW_DIR', HINT);
    if (!await isSnapshotDir(src)) {
      io.writeStderr(`tsvm: ${src} is not a snapshot directory (no snapshots.json; see tsvm run --snapshot-dir)\n`);
      return EXIT_FAILURE;
    }
    try {
      await createEmptyDir(target);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      io.writeStderr(`tsvm: ${target}: ${code === 'EEXIST' ? 'already exists (a clone goes into a new directory)' : (e as Error).message}\n`);
      return EXIT_FAILURE;
    }
    try {
      await cloneSnapshot(new NodeSnapshotDir(src), new NodeSnapshotDir(target), tag);
    } catch (e) {
      await rm(target, { recursive: true, force: true });
      if (e instanceof SnapshotError || e instanceof BlockError) {
        io.writeStderr(`tsvm: ${e.message}\n`);
        return EXIT_FAILURE;
      }
      throw e;
    }
    io.writeStdout(`cloned snapshot '${tag}' into ${target}; resume it with: tsvm run --restore ${target}\n`);
    return EXIT_OK;
  },
};
