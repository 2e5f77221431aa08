/**
 * A small driver for a `tsvm run` process, for the slow end-to-end tests in test/e2e and for
 * bench/boot.ts: spawns `node bin/tsvm.js run ...args` from the repository root, collects its
 * output, waits for patterns in it and types into the guest's serial console (stdin is a pipe, so
 * tsvm passes it through to the UART without raw mode or escape keys). `Guest.spawn` drives any
 * other console program the same way (QEMU, for the benchmark's baseline); `tty: true` runs the
 * program on a pseudo-terminal instead.
 *
 * Input typed before the guest's shell is ready is lost (as on real hardware): wait for the prompt
 * (`waitForPrompt`) before sending anything, and after each command wait for its output and the
 * next prompt (`run` does both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

/** The default guest's shell prompt. */
export const PROMPT = '~ # ';

/** A prompt at the start of a line (the shell prints it after the previous command's output). */
const PROMPT_LINE = /^~ # /m;

/** Boot to the prompt takes 3-8 s unloaded; allow for a machine busy with other tests. */
export const BOOT_TIMEOUT_MS = 120_000;

/** The repository root (package.json of tsvm and bin/tsvm.js), from test/e2e or dist/test/e2e. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'bin', 'tsvm.js'))) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name;
        if (name === 'tsvm') return dir;
      } catch {
        // not ours: keep walking up
      }
    }
    dir = dirname(dir);
  }
  throw new Error(`cannot find the tsvm repository root above ${fileURLToPath(import.meta.url)}`);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface GuestOptions {
  /** Label used in failure messages (default: the arguments). */
  name?: string;
  /** Extra environment variables for the tsvm process. */
  env?: NodeJS.ProcessEnv;
  /**
   * Run tsvm on a pseudo-terminal (through util-linux `script`), so that it puts the terminal in
   * raw mode and handles the Ctrl-A escape keys. stdout and stderr then arrive together on stdout.
   */
  tty?: boolean;
}

/** util-linux `script`, which gives a command a pseudo-terminal; tests needing a TTY skip without it. */
export const SCRIPT = '/usr/bin/script';

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

let markerCounter = 0;

/** One running `tsvm run` process (or another console program, with Guest.spawn). */
export class Guest {
  readonly name: string;
  /** performance.now() when the process was spawned. */
  readonly startedAt: number;
  /** Resolves when the process has exited and its output streams are closed. */
  readonly exited: Promise<Exit>;

  private readonly child: ChildProcess;
  private readonly tty: boolean;
  private stdoutText = '';
  private stderrText = '';
  /** stdout and stderr interleaved as they arrived, with '\r' removed. */
  private all = '';
  /** waitFor searches `all` from here; a match moves it past the match. */
  private cursor = 0;
  private exitInfo: Exit | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(argv: readonly string[], name: string, options: GuestOptions) {
    this.name = name;
    this.startedAt = performance.now();
    this.tty = options.tty === true;
    // With a TTY: `script -q -f -e -c CMD /dev/null` runs CMD on a new pseudo-terminal, copies our
    // stdin to it and its output to our stdout, and exits with CMD's status. When `script` is
    // killed the terminal hangs up, which ends tsvm too.
    const [file, fileArgs]: [string, string[]] = this.tty
      ? [SCRIPT, ['-q', '-f', '-e', '-c', argv.map(shellQuote).join(' '), '/dev/null']]
      : [argv[0], argv.slice(1)];
    this.child = spawn(file, fileArgs, {
      cwd: repoRoot(),
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (s: string) => {
      this.stdoutText += s;
      this.append(s);
    });
    this.child.stderr?.on('data', (s: string) => {
      this.stderrText += s;
      this.append(s);
    });
    // Writing to a process that already exited must not crash the test runner.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise<Exit>((resolve) => {
      this.child.on('error', (e) => {
        this.append(`\n[driver: spawn failed: ${e.message}]\n`);
        this.exitInfo = { code: null, signal: null };
        this.notify();
        resolve(this.exitInfo);
      });
      this.child.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.notify();
        resolve(this.exitInfo);
      });
    });
  }

  /** Spawns `node --v8-pool-size=1 bin/tsvm.js run ...args` in the repository root (as `npm start` does). */
  static start(args: readonly string[] = [], options: GuestOptions = {}): Guest {
    const argv = [process.execPath, '--v8-pool-size=1', join(repoRoot(), 'bin', 'tsvm.js'), 'run', ...args];
    return new Guest(argv, options.name ?? `tsvm run ${args.join(' ')}`.trim(), options);
  }

  /** Spawns another program (e.g. qemu-system-riscv64 for a baseline) in the repository root. */
  static spawn(file: string, args: readonly string[], options: GuestOptions = {}): Guest {
    return new Guest([file, ...args], options.name ?? [file, ...args].join(' '), options);
  }

  /** Everything printed so far (stdout and stderr interleaved, without '\r'). */
  get output(): string {
    return this.all;
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  /** The exit status, once the process has exited. */
  get exitStatus(): Exit | undefined {
    return this.exitInfo;
  }

  /** Output after the mark (what the next waitFor searches). */
  get sinceMark(): string {
    return this.all.slice(this.cursor);
  }

  /** Makes later waits look only at output printed from now on. */
  mark(): void {
    this.cursor = this.all.length;
  }

  /**
   * Resolves with the first match of `pattern` in the output since the mark, and moves the mark past
   * it. Rejects, with the tail of the output, on timeout or if the process exits without a match.
   */
  waitFor(pattern: RegExp | string, timeoutMs: number, what?: string): Promise<RegExpExecArray> {
    const re = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : new RegExp(pattern.source, pattern.flags.replace('g', ''));
    const label = what ?? String(pattern);
    return new Promise<RegExpExecArray>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const text = this.all.slice(this.cursor);
        const m = re.exec(text);
        if (m !== null) {
          const end = this.cursor + m.index + m[0].length;
          this.cursor = end;
          done();
          resolve(m);
          return;
        }
        if (this.exitInfo !== undefined) {
          done();
          reject(new Error(this.describe(`exited (${formatExit(this.exitInfo)}) before printing ${label}`)));
        }
      };
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.listeners.delete(check);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(this.describe(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${label}`)));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Waits for the shell prompt at the start of a line. */
  async waitForPrompt(timeoutMs: number = BOOT_TIMEOUT_MS): Promise<void> {
    await this.waitFor(PROMPT_LINE, timeoutMs, `the prompt '${PROMPT}'`);
  }

  /** Types `text` into the guest's console. */
  send(text: string): void {
    if (this.exitInfo !== undefined) throw new Error(this.describe(`cannot send ${JSON.stringify(text)}: the process has exited`));
    this.child.stdin?.write(text);
  }

  /**
   * Runs one shell command (the prompt must be showing) and returns its output: the lines between
   * two markers that only the command's own `echo`s print (the typed line, echoed back by the
   * UART, spells them differently). Waits for the next prompt before returning.
   */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const n = ++markerCounter;
    const begin = `__B${n}__`;
    const end = `__E${n}__`;
    // `__''B1__` prints as __B1__: the echoed command line never equals a marker line.
    const quoted = (m: string): string => `${m.slice(0, 2)}''${m.slice(2)}`;
    this.send(`echo ${quoted(begin)}; ${command}; echo ${quoted(end)}\n`);
    await this.waitFor(new RegExp(`^${begin}$`, 'm'), timeoutMs, `the marker ${begin} of '${command}'`);
    const from = this.cursor;
    const m = await this.waitFor(new RegExp(`^${end}$`, 'm'), timeoutMs, `the marker ${end} of '${command}'`);
    const body = this.all.slice(from, this.cursor - m[0].length);
    await this.waitForPrompt(timeoutMs);
    return body.replace(/^\n/, '').replace(/\n$/, '');
  }

  /** Resolves with the exit status, or rejects (with the output's tail) if it takes longer. */
  async waitForExit(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(this.describe(`did not exit within ${(timeoutMs / 1000).toFixed(0)} s`))), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Types `poweroff` and waits for the process to exit. */
  async poweroff(timeoutMs = 60_000): Promise<Exit> {
    this.mark();
    this.send('poweroff\n');
    return this.waitForExit(timeoutMs);
  }

  /** Kills the process if it is still running and waits for it (for t.after / finally). */
  async kill(): Promise<void> {
    if (this.exitInfo !== undefined) return;
    if (this.tty) {
      // `script` passes SIGTERM on to tsvm (which then stops); SIGKILL if that is not enough.
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
      return;
    }
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** `message` plus the process's name and the tail of its output, for assertion messages. */
  describe(message: string, tailChars = 2500): string {
    const tail = this.all.length > tailChars ? `...${this.all.slice(-tailChars)}` : this.all;
    return `${this.name}: ${message}\n--- output tail ---\n${tail}\n--- end of output ---`;
  }

  private append(s: string): void {
    this.all += s.replace(/\r/g, '');
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

export function formatExit(e: Exit): string {
  return e.signal !== null ? `signal ${e.signal}` : `code ${e.code ?? 'none'}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
