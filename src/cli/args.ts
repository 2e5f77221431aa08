/**
 * The command-line parser shared by every tsvm subcommand: small and strict.
 *
 * - Long options only, as `--name value` or `--name=value`; `-h` is `--help`.
 * - Unknown options, missing or unexpected values, repeated options (unless declared repeatable)
 *   and malformed numbers are errors (UsageError, which the entry point prints as one line plus a
 *   hint and exit status 2).
 * - `--` ends the options; everything after it is positional.
 * Each subcommand declares a CommandSpec; the same spec produces its --help text.
 */

export type OptionKind = 'flag' | 'string' | 'integer' | 'number';

export interface OptionSpec {
  /** Long name without the dashes, e.g. 'max-instructions'. */
  readonly name: string;
  readonly kind: OptionKind;
  /** Placeholder shown in help, e.g. 'FILE' or 'MiB'. */
  readonly valueName?: string;
  readonly description: string;
  /** One-letter alias, e.g. 'h' for -h. */
  readonly short?: string;
  /** May be given more than once (values are collected in order). */
  readonly repeatable?: boolean;
}

export interface CommandSpec {
  /** Full command name as typed, e.g. 'tsvm run'. */
  readonly name: string;
  /** Usage line(s) after "usage: ". */
  readonly usage: readonly string[];
  readonly summary: string;
  readonly options: readonly OptionSpec[];
  /** Maximum number of positional arguments (default 0). */
  readonly maxPositionals?: number;
  /** Extra help text after the options (examples, notes). */
  readonly epilog?: string;
}

/** A command-line mistake: printed as "tsvm: <message>" plus "Try '<hint>'." with exit status 2. */
export class UsageError extends Error {
  readonly code = 'EUSAGE';
  /** The command whose --help explains the mistake, e.g. 'tsvm run --help'. */
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

export class ParsedArgs {
  constructor(
    private readonly spec: CommandSpec,
    private readonly values: ReadonlyMap<string, readonly string[]>,
    readonly positionals: readonly string[],
  ) {}

  has(name: string): boolean {
    this.check(name);
    return this.values.has(name);
  }

  flag(name: string): boolean {
    this.check(name, 'flag');
    return this.values.has(name);
  }

  string(name: string): string | undefined {
    this.check(name, 'string');
    return this.last(name);
  }

  /** All values of a repeatable option, in order. */
  strings(name: string): readonly string[] {
    this.check(name);
    return this.values.get(name) ?? [];
  }

  integer(name: string): number | undefined {
    this.check(name, 'integer');
    const v = this.last(name);
    return v === undefined ? undefined : Number(v);
  }

  number(name: string): number | undefined {
    this.check(name, 'number');
    const v = this.last(name);
    return v === undefined ? undefined : Number(v);
  }

  private last(name: string): string | undefined {
    const vs = this.values.get(name);
    return vs === undefined ? undefined : vs[vs.length - 1];
  }

  /** Catches typos in the calling code: asking for an option the spec does not declare. */
  private check(name: string, kind?: OptionKind): void {
    const opt = this.spec.options.find((o) => o.name === name);
    if (opt === undefined || (kind !== undefined && opt.kind !== kind)) {
      throw new Error(`${this.spec.name}: no ${kind ?? ''} option --${name} is declared`);
    }
  }
}

const INTEGER = /^(0|[1-9][0-9]*)$/;
const NUMBER = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;

/** Parses `argv` (the arguments after the subcommand name) against `spec`. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const hint = `${spec.name} --help`;
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  const maxPositionals = spec.maxPositionals ?? 0;

  const add = (opt: OptionSpec, value: string, shown: string): void => {
    if (opt.kind === 'integer' && !INTEGER.test(value)) {
      throw new UsageError(`option '${shown}' needs a whole number, not '${value}'`, hint);
    }
    if (opt.kind === 'integer' && !Number.isSafeInteger(Number(value))) {
      throw new UsageError(`option '${shown}' value ${value} is too large`, hint);
    }
    if (opt.kind === 'number' && !NUMBER.test(value)) {
      throw new UsageError(`option '${shown}' needs a number, not '${value}'`, hint);
    }
    const list = values.get(opt.name);
    if (list !== undefined && opt.repeatable !== true) {
      throw new UsageError(`option '--${opt.name}' given more than once`, hint);
    }
    if (list === undefined) values.set(opt.name, [value]);
    else list.push(value);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let opt: OptionSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      shown = `--${name}`;
      opt = spec.options.find((o) => o.name === name);
      if (opt === undefined) throw new UsageError(`unknown option '${shown}'${suggest(name, spec)}`, hint);
    } else if (arg.length > 1 && arg.startsWith('-')) {
      shown = arg;
      opt = arg.length === 2 ? spec.options.find((o) => o.short === arg[1]) : undefined;
      if (opt === undefined) {
        const long = spec.options.find((o) => o.name === arg.slice(1));
        const tip = long !== undefined ? ` (did you mean '--${long.name}'?)` : '';
        throw new UsageError(`unknown option '${arg}'${tip}`, hint);
      }
    } else {
      if (positionals.length >= maxPositionals) {
        throw new UsageError(`unexpected argument '${arg}'`, hint);
      }
      positionals.push(arg);
      continue;
    }

    if (opt.kind === 'flag') {
      if (inline !== undefined) throw new UsageError(`option '${shown}' takes no value`, hint);
      add(opt, '', shown);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1)) {
        throw new UsageError(`option '${shown}' needs a value${opt.valueName ? ` (${opt.valueName})` : ''}`, hint);
      }
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`option '${shown}' needs a non-empty value`, hint);
    add(opt, value, shown);
  }
  return new ParsedArgs(spec, values, positionals);
}

/** The --help text of a command. */
export function formatHelp(spec: CommandSpec): string {
  const lines: string[] = [];
  spec.usage.forEach((u, i) => lines.push(`${i === 0 ? 'usage: ' : '       '}${u}`));
  lines.push('', spec.summary, '', 'options:');
  const heads = spec.options.map((o) => {
    const value = o.kind === 'flag' ? '' : ` ${o.valueName ?? 'VALUE'}`;
    return `${o.short !== undefined ? `-${o.short}, ` : '    '}--${o.name}${value}`;
  });
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  spec.options.forEach((o, i) => lines.push(`  ${heads[i].padEnd(width)}${o.description}`));
  if (spec.epilog !== undefined) lines.push('', spec.epilog);
  return lines.join('\n') + '\n';
}

/** " (did you mean '--x'?)" when an option name is a likely typo of a declared one. */
function suggest(name: string, spec: CommandSpec): string {
  let best: string | undefined;
  let bestDistance = 3; // suggest only close matches
  for (const o of spec.options) {
    const d = editDistance(name, o.name);
    if (d < bestDistance) {
      bestDistance = d;
      best = o.name;
    }
  }
  return best === undefined ? '' : ` (did you mean '--${best}'?)`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
