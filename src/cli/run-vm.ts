/**
 * `tsvm run` for full virtual machines (Linux, firmware): builds a `virt` board from the options,
 * puts the serial console on the terminal (raw mode when stdin is a TTY, like
 * `qemu-system-riscv64 -nographic`), and runs until the guest powers off.
 *
 * Escape keys (after Ctrl-A): x quits, h lists the keys, Ctrl-A sends a Ctrl-A to the guest.
 */

import { readFile } from 'node:fs/promises';
import { existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { gunzip as gunzipCallback, gunzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

import { UsageError, type ParsedArgs } from './args.js';
import { parseAccel } from './accel-option.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_TIMEOUT, type CliIo } from './command.js';
import { LoaderError, isGzip } from '../machine/loader.js';
import { warmUpHart } from '../hart/index.js';
import { MachineConfigError, MAX_CPUS, MAX_MEMORY_MIB, VirtMachine, type VirtConfig } from '../machine/virt.js';
import { ElfError } from '../machine/elf.js';
import { parseDiskOption, parseNetOption, type NetOption } from './device-options.js';
import { NetSwitch } from '../net/switch.js';
import { LinkError } from '../net/link.js';
import type { NetBackend } from '../net/backend.js';
import { connectLink, listenLink } from '../host/net-socket.js';
import { NodeBlockFile, openImageFile } from '../host/node-file.js';
import { createQcow2 } from '../block/index.js';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { nodeCrypto } from '../host/node-modules.js';
import { openUserNet } from '../host/user-net-host.js';
import type { DiskOption } from './device-options.js';
import type { MachineStop, VirtioSpec } from '../machine/virt.js';
import {
  isSnapshotDir, MachineMonitorTarget, MonitorError, NodeSnapshotDir, QmpMonitor, QmpServer, nodeSnapshotCompression,
  parseMonitorAddress, registerMonitorCommands,
} from '../monitor/index.js';
import {
  loadMetadata, parseSnapshot, parseSnapshotConfig, planVmDisks, restoreMachineFromFile, SnapshotError, SNAPSHOT_TAG_PATTERN,
  VmSnapshots, type LiveDisk, type PlannedDisk,
} from '../vmstate/index.js';
import { SwitchableBackend } from '../block/index.js';

const CTRL_A = 0x01;
const HINT = 'tsvm run --help';

/** The package root (where images/ lives), from dist/src/cli or src/cli. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'images'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export const DEFAULT_GUEST = {
  kernel: join(packageRoot(), 'images', 'default', 'Image.gz'),
  initrd: join(packageRoot(), 'images', 'default', 'initramfs.cpio.gz'),
  /** An empty ext4 file system; `--persist` gives each user an overlay of it, mounted on /data. */
  data: join(packageRoot(), 'images', 'default', 'data.qcow2'),
  append: 'console=ttyS0',
};

/** The user's persistent data disk for the default guest (TSVM_DATA_DISK overrides it). */
export function persistentDiskPath(): string {
  const env = process.env.TSVM_DATA_DISK;
  if (env !== undefined && env !== '') return env;
  const base = process.env.XDG_DATA_HOME !== undefined && process.env.XDG_DATA_HOME !== ''
    ? process.env.XDG_DATA_HOME
    : join(homedir(), '.local', 'share');
  return join(base, 'tsvm', 'default-data.qcow2');
}

/** Creates the persistent disk on first use: a qcow2 overlay of the committed empty file system. */
async function ensurePersistentDisk(path: string): Promise<void> {
  if (existsSync(path)) return;
  await mkdir(dirname(path), { recursive: true });
  const base = await openImageFile(DEFAULT_GUEST.data, { readOnly: true, noBacking: true });
  const size = base.size;
  await base.close();
  const file = await NodeBlockFile.open(path, { create: true });
  try {
    await createQcow2(file, { size, backing: { name: DEFAULT_GUEST.data, format: 'qcow2', size } });
  } finally {
    await file.close();
  }
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return checkInput(new Uint8Array(await readFile(path)), path, what);
  } catch (e) {
    throw inputError(e, path, what);
  }
}

/**
 * The same, on this thread: the kernel is read first thing, when nothing else could run meanwhile
 * (an asynchronous read left the thread idle for its round trip through the thread pool, ~4 ms).
 */
function readInputSync(path: string, what: string): Uint8Array {
  try {
    return checkInput(new Uint8Array(readFileSync(path)), path, what);
  } catch (e) {
    throw inputError(e, path, what);
  }
}

function checkInput(data: Uint8Array, path: string, what: string): Uint8Array {
  if (data.length === 0) throw new LoaderError('EEMPTY', `${path}: empty ${what} file`);
  return data;
}

function inputError(e: unknown, path: string, what: string): LoaderError {
  if (e instanceof LoaderError) return e;
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
  const text = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
  return new LoaderError('ENOENT', `${path}: ${text} (${what})`);
}

export async function runVirtualMachine(args: ParsedArgs, io: CliIo): Promise<number> {
  const diskOptions = args.strings('disk').map(parseDiskOption);
  // What --restore names: a snapshot file, a snapshot directory (a clone), or a snapshot's tag.
  let restoreTarget: RestoreTarget | undefined;
  let snapshotDirArg = args.string('snapshot-dir');
  try {
    restoreTarget = await resolveRestore(args.string('restore'), snapshotDirArg, diskOptions);
  } catch (e) {
    if (e instanceof SnapshotError || e instanceof LoaderError) {
      io.writeStderr(`tsvm: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    throw e;
  }
  if (restoreTarget !== undefined && restoreTarget.kind === 'tag') snapshotDirArg = restoreTarget.dir;
  // Restoring: the machine options default to the snapshot's.
  const saved = restoreTarget === undefined ? undefined : peekSnapshotConfig(restoreTarget.vmState);

  const memoryMiB = args.integer('memory') ?? saved?.memoryMiB ?? 256;
  if (memoryMiB < 16 || memoryMiB > MAX_MEMORY_MIB) {
    throw new UsageError(`--memory ${memoryMiB}: must be from 16 to ${MAX_MEMORY_MIB} MiB`, HINT);
  }
  const cpus = args.integer('cpus') ?? saved?.cpus ?? 1;
  if (cpus < 1 || cpus > MAX_CPUS) throw new UsageError(`--cpus ${cpus}: must be from 1 to ${MAX_CPUS}`, HINT);
  const clock = args.string('clock') ?? saved?.clock ?? 'host';
  if (clock !== 'host' && clock !== 'virtual') throw new UsageError(`--clock ${clock}: must be host or virtual`, HINT);
  const { engine: accel, tbSizeMiB, hotThreshold } = parseAccel(args.string('accel'), HINT);
  const timeoutSeconds = args.number('timeout');
  if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) {
    throw new UsageError('--timeout must be a positive number of seconds', HINT);
  }
  const biosArg = args.string('bios') ?? 'builtin';
  let kernelPath = args.string('kernel');
  let initrdPath = args.string('initrd');
  let append = args.string('append');
  if (kernelPath === undefined) {
    // No kernel given: the default guest.
    kernelPath = DEFAULT_GUEST.kernel;
    initrdPath ??= DEFAULT_GUEST.initrd;
    append ??= DEFAULT_GUEST.append;
  }
  append ??= 'console=ttyS0';

  if (args.flag('persist')) {
    // The data disk first, so it is vda (mounted on /data by the default guest's /init).
    const path = persistentDiskPath();
    try {
      await ensurePersistentDisk(path);
    } catch (e) {
      io.writeStderr(`tsvm: cannot prepare the data disk ${path}: ${(e as Error).message}\n`);
      return EXIT_FAILURE;
    }
    diskOptions.unshift({ path, format: 'qcow2', readOnly: false, cache: 'writeback' });
  }
  const monitorSpec = args.string('monitor');
  const monitorAddress = monitorSpec === undefined ? undefined : parseMonitorAddress(monitorSpec);
  const snapshotDir = snapshotDirArg ??
    (diskOptions.length > 0 ? `${diskOptions[0].path}.snapshots` : join(process.cwd(), 'tsvm-snapshots'));
  const snapshotHost = new NodeSnapshotDir(snapshotDir);
  const netOptions = args.strings('net').map(parseNetOption);

  let config: VirtConfig;
  const closers: (() => Promise<void> | void)[] = [];
  const liveDisks: LiveDisk[] = [];
  let machine: VirtMachine;
  let snapshots: VmSnapshots;
  try {
    // The initrd is read while the kernel is read and inflated and the hart warms up (a read
    // error, if any, is still reported after the kernel's).
    const initrdRead = initrdPath === undefined ? undefined
      : readInput(initrdPath, 'initrd').then((data) => ({ data }), (error: unknown) => ({ error }));
    let kernel = kernelPath === undefined ? undefined : readInputSync(kernelPath, 'kernel');
    if (kernel !== undefined && isGzip(kernel) && restoreTarget === undefined) {
      // The kernel inflates on libuv's thread pool while this thread warms the hart up (about
      // 25 and 70 ms); corrupt data is left to the machine's loader, which says so.
      // One chunk of the size the gzip trailer gives: in smaller chunks, each waits for this thread.
      const n = kernel.length;
      const size = (kernel[n - 4] | (kernel[n - 3] << 8) | (kernel[n - 2] << 16) | (kernel[n - 1] << 24)) >>> 0;
      const inflating = gunzipAsync(kernel, { chunkSize: Math.min(Math.max(size + 1, 65536), 64 << 20) })
        .then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength), () => undefined);
      warmUpHart({ jit: accel !== 'interp' });
      kernel = (await inflating) ?? kernel;
    }
    const initrdResult = await initrdRead;
    if (initrdResult !== undefined && 'error' in initrdResult) throw initrdResult.error;
    const initrd = initrdResult?.data;
    const bios: VirtConfig['bios'] = biosArg === 'builtin'
      ? 'builtin'
      : { name: biosArg, data: await readInput(biosArg, 'firmware') };
    const virtio: VirtioSpec[] = [];
    // The snapshot directory may redirect a disk frozen by a snapshot to its live overlay; a
    // directory given without --disk (a clone) brings its own disks.
    const useDirDisks = diskOptions.length === 0 && snapshotDirArg !== undefined && await isSnapshotDir(snapshotDir);
    const planned = await planVmDisks(snapshotHost, useDirDisks ? undefined : diskOptions.map((d) => ({
      origin: resolve(d.path), format: d.format, readOnly: d.readOnly,
    })));
    for (const [i, p] of planned.entries()) {
      const disk = await openPlannedDisk(snapshotHost, p);
      closers.push(() => disk.backend.close());
      liveDisks.push(disk);
      virtio.push({ kind: 'blk', backend: disk.backend, serial: diskOptions[i]?.serial });
    }
    for (const [i, n] of netOptions.entries()) {
      const backend = await openNet(n);
      closers.push(() => backend.close());
      virtio.push({ kind: 'net', backend, mac: n.mac ?? defaultMac(n, i) });
    }
    virtio.push('rng', 'console');
    config = { memoryMiB, cpus, kernel, kernelName: kernelPath, initrd, append, bios, clock, accel, jitCacheMiB: tbSizeMiB, jitHotThreshold: hotThreshold, virtio };
    const restoreBytes = restoreTarget?.vmState;
    machine = new VirtMachine(config, {
      monotonicMs: () => performance.now(),
      wallClockMs: () => Date.now(),
      // A zero sleep is the run loop's yield to I/O: setImmediate, not a timer (which Node rounds up to 1 ms).
      sleep: (ms) => (ms <= 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : delay(ms)),
      gunzip: (data) => new Uint8Array(gunzipSync(data)),
      consoleWrite: (bytes) => io.writeStdout(bytes),
      entropy: hostRandom,
      log: (message) => io.writeStderr(`tsvm: ${message}\n`),
    }, { boot: restoreBytes === undefined });
    snapshots = new VmSnapshots(snapshotHost, nodeSnapshotCompression, liveDisks);
    if (restoreTarget?.kind === 'tag') {
      // Memory and disks together: new overlays over the snapshot's frozen images.
      await snapshots.revert(machine, restoreTarget.tag, { vmState: restoreTarget.vmState, ramIsZero: true });
    } else if (restoreTarget?.kind === 'file') {
      restoreMachineFromFile(machine, restoreTarget.vmState, nodeSnapshotCompression, { ramIsZero: true });
    }
    await snapshots.markRunning();
  } catch (e) {
    for (const close of closers) await close();
    if (e instanceof LoaderError || e instanceof MachineConfigError || e instanceof ElfError ||
      e instanceof LinkError || e instanceof SnapshotError ||
      (e instanceof Error && (e.name === 'BlockError' || e.name === 'UserNetConfigError'))) {
      io.writeStderr(`tsvm: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    if (e instanceof Error && (e.name === 'MemoryError' || e.name === 'FdtError')) {
      io.writeStderr(`tsvm: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    throw e;
  }

  // The console: raw mode on a terminal, with Ctrl-A escapes.
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  let quitRequested = false;
  /** Extra actions when the user stops the VM (the monitor's run loop must end too). */
  const stopHooks: (() => void)[] = [];
  const stopMachine = (): void => {
    machine.stop();
    for (const hook of stopHooks) hook();
  };
  let escape = false;
  const onData = (chunk: Buffer): void => {
    const out: number[] = [];
    for (const b of chunk) {
      if (!raw) {
        out.push(b);
        continue;
      }
      if (escape) {
        escape = false;
        if (b === 0x78 /* x */) {
          io.writeStderr('\r\ntsvm: terminated by Ctrl-A x\r\n');
          quitRequested = true;
          stopMachine();
        } else if (b === 0x68 /* h */ || b === 0x3f) {
          io.writeStderr('\r\nC-a h    print this help\r\nC-a x    exit tsvm\r\nC-a C-a  send C-a to the guest\r\n');
        } else if (b === CTRL_A) {
          out.push(CTRL_A);
        }
        continue;
      }
      if (b === CTRL_A) escape = true;
      else out.push(b);
    }
    if (out.length > 0) machine.input(Uint8Array.from(out));
  };
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();

  let stopSignal: 'SIGINT' | 'SIGTERM' | null = null;
  const removeInterrupt = io.onInterrupt((name) => {
    stopSignal = name;
    stopMachine();
  });
  let timedOut = false;
  const timer = timeoutSeconds === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    stopMachine();
  }, timeoutSeconds * 1000);

  let server: QmpServer | undefined;
  try {
    let result: MachineStop;
    if (monitorAddress === undefined) {
      result = await machine.run();
    } else {
      // The monitor owns the run loop (stop/cont/snapshots); the VM ends when the guest powers
      // off, on `quit`, or on Ctrl-A x / a signal.
      const m = machine;
      const monitor = new QmpMonitor();
      const ended = new Promise<MachineStop>((resolve) => {
        const target = new MachineMonitorTarget(m, {
          snapshots,
          compression: nodeSnapshotCompression,
          threadId: process.pid,
          emitEvent: (event, data) => monitor.emitEvent(event, data),
          onExit: (reason) => resolve(reason.kind === 'quit' ? { kind: 'poweroff', code: 0 } : reason),
        });
        registerMonitorCommands(monitor, target);
        stopHooks.push(() => target.quit());
        target.start();
      });
      server = new QmpServer(monitor, monitorAddress);
      await server.listen();
      result = await ended;
      if (quitRequested || timedOut || stopSignal !== null) result = { kind: 'stopped' };
    }
    switch (result.kind) {
      case 'poweroff':
        if (result.code !== 0) io.writeStderr(`tsvm: the guest reported failure (code ${result.code})\n`);
        return result.code === 0 ? EXIT_OK : Math.min(result.code, 255);
      case 'error':
        io.writeStderr(`tsvm: the virtual machine stopped: ${result.message}\n`);
        return EXIT_FAILURE;
      case 'stopped':
        if (quitRequested) return EXIT_OK;
        if (timedOut) {
          io.writeStderr(`\ntsvm: timed out after ${timeoutSeconds} s\n`);
          return EXIT_TIMEOUT;
        }
        io.writeStderr(`\ntsvm: interrupted by ${stopSignal ?? 'SIGINT'}\n`);
        return stopSignal === 'SIGTERM' ? EXIT_SIGTERM : EXIT_SIGINT;
    }
    return EXIT_FAILURE;
  } catch (e) {
    if (e instanceof MonitorError) {
      io.writeStderr(`tsvm: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    throw e;
  } finally {
    await server?.close();
    if (timer !== undefined) clearTimeout(timer);
    removeInterrupt();
    stdin.off('data', onData);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    for (const close of closers) await close();
  }
}

/** Opens a disk's live image (and its backing chain) behind a switchable backend. */
async function openPlannedDisk(host: NodeSnapshotDir, p: PlannedDisk): Promise<LiveDisk> {
  const image = await openImageFile(host.pathOf(p.ref), { readOnly: p.readOnly, format: p.format });
  return {
    device: p.device,
    origin: p.origin,
    readOnly: p.readOnly,
    backend: new SwitchableBackend(image),
    ref: p.ref,
    originFormat: p.originFormat ?? image.format,
  };
}

type RestoreTarget =
  | { kind: 'file'; vmState: Uint8Array }
  | { kind: 'tag'; dir: string; tag: string; vmState: Uint8Array };

/**
 * What `--restore X` names: a snapshot directory (its current snapshot, e.g. a clone), a state
 * file (inside a snapshot directory: that snapshot, disks included; elsewhere: memory only), or
 * the tag of a snapshot in the snapshot directory.
 */
async function resolveRestore(arg: string | undefined, dirArg: string | undefined, disks: readonly DiskOption[]): Promise<RestoreTarget | undefined> {
  if (arg === undefined) return undefined;
  const byTag = async (dir: string, tag: string | null, what: string): Promise<RestoreTarget> => {
    const host = new NodeSnapshotDir(dir);
    const meta = await loadMetadata(host);
    if (tag === null) {
      if (meta?.current === undefined || meta.current === null) throw new SnapshotError('ENOENT', `${dir} has no current snapshot to resume`);
      tag = meta.current;
    }
    const snap = meta?.snapshots.find((x) => x.tag === tag);
    if (snap === undefined) throw new SnapshotError('ENOENT', `there is no snapshot '${tag}' in ${host.dir} (${what})`);
    return { kind: 'tag', dir, tag, vmState: await readInput(host.pathOf(snap.vmState), 'snapshot') };
  };
  if (await isSnapshotDir(arg)) return byTag(arg, null, `--restore ${arg}`);
  if (existsSync(arg)) {
    const dir = dirname(arg);
    if (await isSnapshotDir(dir)) {
      const meta = await loadMetadata(new NodeSnapshotDir(dir));
      const snap = meta?.snapshots.find((x) => x.vmState === basename(arg));
      if (snap !== undefined) return byTag(dir, snap.tag, `--restore ${arg}`);
    }
    return { kind: 'file', vmState: await readInput(arg, 'snapshot') };
  }
  if (SNAPSHOT_TAG_PATTERN.test(arg) && !arg.includes('/')) {
    const dir = dirArg ?? (disks.length > 0 ? `${disks[0].path}.snapshots` : join(process.cwd(), 'tsvm-snapshots'));
    return byTag(dir, arg, `--restore ${arg}`);
  }
  return { kind: 'file', vmState: await readInput(arg, 'snapshot') };
}

/** The machine options a snapshot was taken with, if its header reads (the restore checks it all). */
function peekSnapshotConfig(bytes: Uint8Array): { memoryMiB: number; cpus: number; clock: 'host' | 'virtual' } | undefined {
  try {
    return parseSnapshotConfig(parseSnapshot(bytes, { verifyChecksum: false }).config);
  } catch {
    return undefined;
  }
}

/** Switches shared by the VMs of this process, by name. */
const switches = new Map<string, NetSwitch>();

async function openNet(n: NetOption): Promise<NetBackend> {
  switch (n.kind) {
    case 'switch': {
      let sw = switches.get(n.name);
      if (sw === undefined) {
        sw = new NetSwitch();
        switches.set(n.name, sw);
      }
      return sw.createPort();
    }
    case 'socket':
      return n.mode === 'listen' ? listenLink(n.address) : connectLink(n.address);
    case 'user':
      return openUserNet(n.spec);
  }
}

let urandom: number | null | undefined;

/**
 * Fills `buf` with random bytes from the host: from /dev/urandom where there is one (node:crypto,
 * the other source, costs ~2 ms of a boot to load at the guest's first request for entropy).
 */
function hostRandom(buf: Uint8Array): void {
  if (urandom === undefined) {
    try {
      urandom = openSync('/dev/urandom', 'r');
    } catch {
      urandom = null;
    }
  }
  if (urandom !== null) {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(urandom, buf, done, buf.length - done, null);
      if (n <= 0) break;
      done += n;
    }
    if (done === buf.length) return;
  }
  nodeCrypto().randomFillSync(buf);
}

/** QEMU's default MAC for the first NIC with the user backend; random local MACs otherwise. */
function defaultMac(n: NetOption, index: number): Uint8Array {
  if (n.kind === 'user') return Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + index);
  const mac = new Uint8Array(6);
  hostRandom(mac.subarray(3));
  mac.set([0x52, 0x54, 0x00]);
  return mac;
}

const gunzipAsync = promisify(gunzipCallback);
