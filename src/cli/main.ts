/**
 * The `tsvm` command: dispatches to one subcommand per file (run.ts, later img.ts, ...), and turns
 * every error into one line on stderr and an exit status. bin/tsvm.js calls main().
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseArgs, UsageError } from './args.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, type CliIo, type Subcommand } from './command.js';
import { runCommand } from './run.js';
import { imgCommand } from './img.js';
import { snapshotCommand } from './snapshot.js';
import { cloneCommand } from './clone.js';

/** Subcommands, in the order `tsvm --help` lists them. Add new ones here. */
const SUBCOMMANDS: readonly Subcommand[] = [runCommand, imgCommand, snapshotCommand, cloneCommand];

/** Runs the tsvm command line (`argv` without node and the script) and resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo = nodeIo()): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.writeStderr(`tsvm: ${e.message}\nTry '${e.hint}' for more information.\n`);
      return EXIT_USAGE;
    }
    // A bug in tsvm, not a user mistake: still one line, with the stack only on request.
    const message = e instanceof Error ? e.message : String(e);
    io.writeStderr(`tsvm: internal error: ${message}\n`);
    if (process.env.TSVM_DEBUG && e instanceof Error && e.stack) io.writeStderr(`${e.stack}\n`);
    return EXIT_INTERNAL;
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    throw new UsageError('missing command (for example: tsvm run --bios none --kernel prog.elf)', 'tsvm --help');
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    io.writeStdout(topHelp());
    return EXIT_OK;
  }
  if (first === '--version' || first === '-V') {
    io.writeStdout(`tsvm ${version()}\n`);
    return EXIT_OK;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`, 'tsvm --help');
  const command = SUBCOMMANDS.find((c) => c.name === first);
  if (command === undefined) throw new UsageError(`unknown command '${first}'`, 'tsvm --help');
  const args = parseArgs(argv.slice(1), command.spec);
  return command.execute(args, io);
}

function topHelp(): string {
  const width = Math.max(...SUBCOMMANDS.map((c) => c.name.length)) + 2;
  return [
    'usage: tsvm COMMAND [options]',
    '',
    'tsvm runs RISC-V 64 virtual machines on a QEMU-virt-compatible board, in TypeScript.',
    '',
    'commands:',
    ...SUBCOMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'options:',
    '  -h, --help     show this help',
    '  -V, --version  show the version',
    '',
    "Run 'tsvm COMMAND --help' for a command's options.",
    '',
  ].join('\n');
}

/** The version from the package.json above this file (src/cli or dist/src/cli). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tsvm' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: keep walking up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** The real process's streams and signals. */
export function nodeIo(): CliIo {
  return {
    writeStdout: (data) => {
      process.stdout.write(data);
    },
    writeStderr: (text) => {
      process.stderr.write(text);
    },
    onInterrupt: (handler) => {
      let count = 0;
      const on = (signal: 'SIGINT' | 'SIGTERM'): void => {
        count++;
        if (count === 1) {
          handler(signal);
          return;
        }
        // The command did not stop after the first signal: leave now.
        process.stderr.write(`tsvm: ${signal} again; exiting at once\n`);
        process.exit(signal === 'SIGINT' ? EXIT_SIGINT : EXIT_SIGTERM);
      };
      const onInt = (): void => on('SIGINT');
      const onTerm = (): void => on('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      return () => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      };
    },
  };
}
