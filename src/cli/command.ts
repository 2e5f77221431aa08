/**
 * What every tsvm subcommand provides, and the host services the CLI hands it. Subcommands get
 * their output streams and signals through CliIo so tests can run them in-process.
 */

import type { CommandSpec, ParsedArgs } from './args.js';

export interface CliIo {
  /** Program output (the guest console). */
  writeStdout(data: string | Uint8Array): void;
  /** Diagnostics: one line per message, prefixed "tsvm: ". */
  writeStderr(text: string): void;
  /**
   * Calls `handler` on the first SIGINT/SIGTERM until the returned function is called, so the
   * command can stop cleanly; a second signal ends the process at once.
   */
  onInterrupt(handler: (signal: 'SIGINT' | 'SIGTERM') => void): () => void;
}

export interface Subcommand {
  /** The word after `tsvm`, e.g. 'run'. */
  readonly name: string;
  /** One line for `tsvm --help`. */
  readonly summary: string;
  readonly spec: CommandSpec;
  /** Runs the command with parsed arguments; resolves to the process exit status. */
  execute(args: ParsedArgs, io: CliIo): Promise<number>;
}

/** Exit statuses shared by subcommands. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_TIMEOUT = 124;
export const EXIT_SIGINT = 130;
export const EXIT_SIGTERM = 143;
/** An unexpected error inside tsvm (a bug), as sysexits' EX_SOFTWARE. */
export const EXIT_INTERNAL = 70;
