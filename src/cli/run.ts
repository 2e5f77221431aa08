/**
 * `tsvm run`: start a virtual machine, in the manner of qemu-system-riscv64 -M virt.
 *
 * Today only the bare-metal path exists: `--bios none --kernel prog.elf` runs an M-mode program
 * that reports its result through the HTIF tohost word; its console goes to stdout and its result
 * becomes the exit status. Later options (--cpus, --append, --initrd, --bios FILE, disks) add
 * OptionSpecs here and a board builder in src/machine.
 */

import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';

import { formatHelp, type CommandSpec, type ParsedArgs, UsageError } from './args.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_SIGINT,
  EXIT_SIGTERM,
  EXIT_TIMEOUT,
  type CliIo,
  type Subcommand,
} from './command.js';
import { runBareMetal, BareMetalConfigError, type BareMetalResult } from '../machine/bare-metal.js';
import { ElfError } from '../machine/elf.js';
import { runVirtualMachine } from './run-vm.js';
import { parseAccel } from './accel-option.js';

const spec: CommandSpec = {
  name: 'tsvm run',
  usage: [
    'tsvm run [options]                                    boot the default guest',
    'tsvm run --kernel Image[.gz] [--initrd FILE] [--append ARGS] [options]',
    'tsvm run --bios fw_dynamic.bin --kernel Image [...]   M-mode firmware (OpenSBI), then the kernel',
    'tsvm run --bios none --kernel prog.elf                 a bare-metal program',
  ],
  summary: 'Run a virtual machine on the virt board (QEMU-compatible memory map and devices), with the\n' +
    'serial console on this terminal. By default the accelerator serves SBI calls itself (no firmware)\n' +
    'and the kernel starts in S-mode; --bios FILE runs M-mode firmware such as OpenSBI first.\n' +
    'With --bios none, FILE is a bare-metal RISC-V 64 ELF started in M-mode that ends the run by\n' +
    'writing (code << 1) | 1 to its tohost symbol; tsvm exits with that code (0 = pass).',
  options: [
    { name: 'kernel', kind: 'string', valueName: 'FILE', description: 'kernel: RISC-V Image, Image.gz or ELF (bare-metal ELF with --bios none)' },
    { name: 'initrd', kind: 'string', valueName: 'FILE', description: 'initial ramdisk (cpio or cpio.gz)' },
    { name: 'append', kind: 'string', valueName: 'ARGS', description: "kernel command line (default 'console=ttyS0')" },
    { name: 'bios', kind: 'string', valueName: 'builtin|none|FILE', description: 'builtin SBI (default), none (bare metal), or firmware to run in M-mode' },
    { name: 'memory', kind: 'integer', valueName: 'MiB', description: 'guest RAM at 0x80000000 in MiB (default 256; 128 with --bios none)' },
    { name: 'cpus', kind: 'integer', valueName: 'N', description: 'number of harts, 1-8 (default 1)' },
    { name: 'disk', kind: 'string', valueName: 'PATH[,format=raw|qcow2][,readonly=on][,cache=writeback|none]', description: 'a virtio-blk disk (repeatable: vda, vdb, ...)', repeatable: true },
    { name: 'net', kind: 'string', valueName: 'user[,hostfwd=...]|switch=NAME|socket,listen=ADDR|socket,connect=ADDR', description: 'a virtio-net NIC and its backend (repeatable); mac=XX:..', repeatable: true },
    { name: 'persist', kind: 'flag', description: 'attach your persistent data disk (~/.local/share/tsvm/default-data.qcow2, made on first use), mounted on /data by the default guest' },
    { name: 'monitor', kind: 'string', valueName: 'unix:PATH[,server,nowait]', description: 'a QMP monitor on a unix socket' },
    { name: 'restore', kind: 'string', valueName: 'TAG|DIR|FILE', description: 'resume instead of booting: a snapshot of the snapshot directory (memory and disks), a clone\'s directory, or a snapshot file' },
    { name: 'snapshot-dir', kind: 'string', valueName: 'DIR', description: 'the VM\'s snapshots and disk overlays (default: <first disk>.snapshots, else ./tsvm-snapshots); without --disk, its disks' },
    { name: 'accel', kind: 'string', valueName: 'jit[,tb-size=MiB][,hot=N]|interp', description: 'execution engine: the WebAssembly JIT (default; cold code is interpreted; tb-size caps its translated code, default 16 MiB; a page of code is translated after running hot instructions, default 200000) or the interpreter alone' },
    { name: 'clock', kind: 'string', valueName: 'host|virtual', description: 'guest time from the host clock (default) or from instructions (deterministic)' },
    { name: 'timeout', kind: 'number', valueName: 'SECONDS', description: 'stop after this much wall-clock time (exit 124)' },
    {
      name: 'max-instructions',
      kind: 'integer',
      valueName: 'N',
      description: 'bare metal: stop after N instructions (exit 124)',
    },
    { name: 'help', kind: 'flag', short: 'h', description: 'show this help' },
  ],
  epilog: [
    'console keys: Ctrl-A x quits, Ctrl-A h lists the keys. The guest powering off ends tsvm with status 0;',
    'a guest reboot restarts the machine.',
    '',
    'exit status: 0 after guest poweroff (bare metal: the program\'s code), 1 for a bad file or option value,',
    '2 for a usage error, 124 on --timeout or --max-instructions, 130 on Ctrl-C.',
    '',
    'examples:',
    '  tsvm run',
    '  tsvm run --cpus 4 --memory 512',
    '  tsvm run --bios /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin',
    '  tsvm run --bios none --kernel rv64ui-p-add --timeout 10',
  ].join('\n'),
};

const MAX_MEMORY_MIB = 4095; // the guest arena is limited to 4 GiB minus a page
const OUTPUT_CHUNK = 64 * 1024;

export const runCommand: Subcommand = {
  name: 'run',
  summary: 'run a virtual machine (the default guest, a Linux kernel, firmware, or a bare-metal program)',
  spec,
  async execute(args: ParsedArgs, io: CliIo): Promise<number> {
    if (args.flag('help')) {
      io.writeStdout(formatHelp(spec));
      return EXIT_OK;
    }
    const hint = 'tsvm run --help';
    const bios = args.string('bios');
    const kernel = args.string('kernel');
    if (bios !== 'none') return runVirtualMachine(args, io);
    if (kernel === undefined) throw new UsageError('--bios none needs --kernel FILE (the program to run)', hint);
    const memoryMiB = args.integer('memory') ?? 128;
    if (memoryMiB < 1 || memoryMiB > MAX_MEMORY_MIB) {
      throw new UsageError(`--memory must be from 1 to ${MAX_MEMORY_MIB} MiB, not ${memoryMiB}`, hint);
    }
    const timeoutSeconds = args.number('timeout');
    if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) {
      throw new UsageError('--timeout must be a positive number of seconds', hint);
    }
    const maxInstructions = args.integer('max-instructions');
    const accel = parseAccel(args.string('accel'), hint);

    let elf: Uint8Array;
    try {
      elf = new Uint8Array(await readFile(kernel));
    } catch (e) {
      io.writeStderr(`tsvm: ${kernel}: ${fileErrorText(e)}\n`);
      return EXIT_FAILURE;
    }

    // Console output is batched and written between slices (a write per byte is slow).
    const out = new Uint8Array(OUTPUT_CHUNK);
    let outLength = 0;
    const flush = (): void => {
      if (outLength === 0) return;
      io.writeStdout(out.slice(0, outLength));
      outLength = 0;
    };
    const consoleByte = (b: number): void => {
      out[outLength++] = b;
      if (outLength === OUTPUT_CHUNK) flush();
    };

    const signal = { aborted: false };
    let stopSignal: 'SIGINT' | 'SIGTERM' = 'SIGINT';
    const removeInterrupt = io.onInterrupt((name) => {
      stopSignal = name;
      signal.aborted = true; // the run loop notices between slices
    });

    let result: BareMetalResult;
    try {
      result = await runBareMetal({
        elf,
        memoryMiB,
        timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
        maxInstructions,
        console: consoleByte,
        clock: () => performance.now(),
        sleep: async (ms) => {
          flush();
          await delay(ms);
        },
        signal,
        jit: accel.engine === 'jit'
          ? { codeCacheBytes: accel.tbSizeMiB === undefined ? undefined : accel.tbSizeMiB * 1048576, hotThreshold: accel.hotThreshold }
          : false,
      });
    } catch (e) {
      flush();
      if (e instanceof ElfError) {
        io.writeStderr(`tsvm: ${kernel}: ${e.message}\n`);
        return EXIT_FAILURE;
      }
      if (e instanceof BareMetalConfigError || (e instanceof Error && e.name === 'MemoryError')) {
        io.writeStderr(`tsvm: ${e.message}\n`);
        return EXIT_FAILURE;
      }
      throw e;
    } finally {
      removeInterrupt();
    }
    flush();
    return report(kernel, result, stopSignal, timeoutSeconds, maxInstructions, io);
  },
};

function report(
  kernel: string,
  r: BareMetalResult,
  stopSignal: 'SIGINT' | 'SIGTERM',
  timeoutSeconds: number | undefined,
  maxInstructions: number | undefined,
  io: CliIo,
): number {
  const count = `${r.instructions} instructions`;
  switch (r.status) {
    case 'pass':
    case 'poweroff':
      return EXIT_OK;
    case 'reset':
      io.writeStderr(`tsvm: ${kernel} requested a reset; a bare-metal run stops here (${count})\n`);
      return EXIT_OK;
    case 'fail': {
      io.writeStderr(`tsvm: ${kernel} failed with exit code ${r.exitCode}\n`);
      return Math.min(Math.max(r.exitCode, 1), 255);
    }
    case 'timeout':
      if (r.limit === 'instructions') {
        io.writeStderr(`tsvm: ${kernel} reached --max-instructions ${maxInstructions ?? ''} without finishing\n`);
      } else {
        io.writeStderr(`tsvm: ${kernel} timed out after ${timeoutSeconds ?? r.elapsedMs / 1000} s (${count})\n`);
      }
      return EXIT_TIMEOUT;
    case 'stopped':
      io.writeStderr(`tsvm: interrupted by ${stopSignal}; stopped ${kernel} after ${count}\n`);
      return stopSignal === 'SIGINT' ? EXIT_SIGINT : EXIT_SIGTERM;
  }
}

function fileErrorText(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory, not a program file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}
