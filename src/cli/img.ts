/**
 * `tsvm img`: the disk image tool, in the spirit of qemu-img (same verbs, option letters, output
 * layout, JSON keys and check exit codes):
 *
 *   create   [-f raw|qcow2] [-b BACKING [-F FMT]] [-o OPTIONS] FILE [SIZE]
 *   info     [-f FMT] [--output human|json] [--backing-chain] FILE
 *   check    [-f FMT] [-r leaks|all] [--output human|json] FILE     exit 0 ok, 2 corrupt, 3 leaks
 *   convert  [-f FMT] [-O FMT] [-o OPTIONS] [-p] SRC DST
 *   resize   [-f FMT] [--shrink] FILE [+]SIZE
 *   commit   [-f FMT] [-d] [-p] FILE
 *   rebase   [-f FMT] [-u] [-p] -b BACKING [-F FMT] FILE
 *   snapshot -l FILE
 *
 * The shared parser declares the union of every verb's options; each verb then refuses options
 * that are not its own.
 */

import { stat } from 'node:fs/promises';

import { formatHelp, type CommandSpec, type OptionSpec, type ParsedArgs, UsageError } from './args.js';
import { EXIT_FAILURE, EXIT_OK, type CliIo, type Subcommand } from './command.js';
import {
  BlockError,
  check,
  commit,
  convert,
  createQcow2,
  createRaw,
  openImage,
  Qcow2Image,
  rebase,
  type CheckResult,
  type Image,
  type ImageFormat,
} from '../block/index.js';
import { NodeBlockFile, nodeOpenBacking, openImageFile, resolveBackingPath } from '../host/node-file.js';
import { checkHuman, checkJson, infoHuman, infoJson, parseSize, snapshotTable, type InfoEntry } from './img-format.js';

/** qemu-img's check exit statuses. */
export const CHECK_CORRUPT = 2;
export const CHECK_LEAKS = 3;
export const CHECK_UNSUPPORTED = 63;

const O = {
  format: { name: 'format', short: 'f', kind: 'string', valueName: 'FMT', description: 'image format: raw or qcow2 (probed when absent)' },
  outputFormat: { name: 'output-format', short: 'O', kind: 'string', valueName: 'FMT', description: 'output format: raw (default) or qcow2' },
  backing: { name: 'backing', short: 'b', kind: 'string', valueName: 'FILE', description: 'backing file (relative names are relative to the image)' },
  backingFormat: { name: 'backing-format', short: 'F', kind: 'string', valueName: 'FMT', description: 'backing file format: raw or qcow2' },
  options: {
    name: 'options',
    short: 'o',
    kind: 'string',
    valueName: 'OPTS',
    description: 'qcow2 options: cluster_size=64K,compat=1.1|0.10,refcount_bits=16',
  },
  repair: { name: 'repair', short: 'r', kind: 'string', valueName: 'leaks|all', description: 'repair leaked clusters, or all repairable problems' },
  progress: { name: 'progress', short: 'p', kind: 'flag', description: 'show a progress bar on stderr' },
  unsafe: { name: 'unsafe', short: 'u', kind: 'flag', description: 'only rewrite the backing file name (no data comparison)' },
  list: { name: 'list', short: 'l', kind: 'flag', description: 'list internal snapshots' },
  output: { name: 'output', kind: 'string', valueName: 'human|json', description: 'output format (default human)' },
  backingChain: { name: 'backing-chain', kind: 'flag', description: 'show every image of the backing chain' },
  shrink: { name: 'shrink', kind: 'flag', description: 'allow shrinking a raw image (discards data at the end)' },
  keep: { name: 'keep', short: 'd', kind: 'flag', description: 'keep the committed data in the image (do not empty it)' },
  help: { name: 'help', short: 'h', kind: 'flag', description: 'show this help' },
} satisfies Record<string, OptionSpec>;

interface Verb {
  readonly name: string;
  readonly summary: string;
  readonly spec: CommandSpec;
  /** Positional arguments after the verb: [min, max]. */
  readonly args: [number, number];
  run(args: ParsedArgs, positionals: readonly string[], io: CliIo): Promise<number>;
}

function verbSpec(name: string, usage: string, summary: string, options: OptionSpec[], epilog?: string): CommandSpec {
  return { name: `tsvm img ${name}`, usage: [usage], summary, options: [...options, O.help], maxPositionals: 4, epilog };
}

const VERBS: Verb[] = [
  {
    name: 'create',
    summary: 'create a new disk image',
    spec: verbSpec(
      'create',
      'tsvm img create [-f raw|qcow2] [-b BACKING [-F FMT]] [-o OPTIONS] FILE [SIZE]',
      'Create a disk image of SIZE bytes (suffixes K, M, G, T). With -b, a qcow2 overlay on BACKING,\n' +
        'by default of the backing image\'s size.',
      [O.format, O.backing, O.backingFormat, O.options],
      'examples:\n  tsvm img create -f qcow2 disk.qcow2 10G\n  tsvm img create -f qcow2 -b base.qcow2 -F qcow2 clone.qcow2',
    ),
    args: [1, 2],
    run: runCreate,
  },
  {
    name: 'info',
    summary: 'show information about an image',
    spec: verbSpec('info', 'tsvm img info [-f FMT] [--output human|json] [--backing-chain] FILE', 'Show an image\'s format, sizes, backing file and format-specific details.', [
      O.format,
      O.output,
      O.backingChain,
    ]),
    args: [1, 1],
    run: runInfo,
  },
  {
    name: 'check',
    summary: 'check an image for consistency (and repair it)',
    spec: verbSpec(
      'check',
      'tsvm img check [-f FMT] [-r leaks|all] [--output human|json] FILE',
      'Check a qcow2 image\'s metadata; -r repairs leaked clusters, or everything repairable.',
      [O.format, O.repair, O.output],
      'exit status: 0 consistent, 1 check failed, 2 corruptions found, 3 leaked clusters found,\n63 the format does not support checks (raw).',
    ),
    args: [1, 1],
    run: runCheck,
  },
  {
    name: 'convert',
    summary: 'copy an image (flattening its backing chain) to a new image',
    spec: verbSpec(
      'convert',
      'tsvm img convert [-f FMT] [-O raw|qcow2] [-o OPTIONS] [-p] SRC DST',
      'Copy the virtual disk of SRC, with its backing chain, into a new image DST, skipping zeroes.',
      [O.format, O.outputFormat, O.options, O.progress],
    ),
    args: [2, 2],
    run: runConvert,
  },
  {
    name: 'resize',
    summary: 'change the virtual size of an image',
    spec: verbSpec('resize', 'tsvm img resize [-f FMT] [--shrink] FILE [+]SIZE', 'Grow an image to SIZE, or by +SIZE (qcow2 images cannot shrink).', [
      O.format,
      O.shrink,
    ]),
    args: [2, 2],
    run: runResize,
  },
  {
    name: 'commit',
    summary: 'write an overlay\'s changes into its backing image',
    spec: verbSpec('commit', 'tsvm img commit [-f FMT] [-d] [-p] FILE', 'Write the data of overlay FILE into its backing image, then empty FILE (unless -d).', [
      O.format,
      O.keep,
      O.progress,
    ]),
    args: [1, 1],
    run: runCommit,
  },
  {
    name: 'rebase',
    summary: 'change the backing file of an overlay',
    spec: verbSpec(
      'rebase',
      'tsvm img rebase [-f FMT] [-u] [-p] -b BACKING [-F FMT] FILE',
      'Point FILE at BACKING. By default the virtual disk is kept identical: data that differs between\n' +
        'the old and new backing files is copied into FILE first. -u only rewrites the name.',
      [O.format, O.unsafe, O.progress, O.backing, O.backingFormat],
    ),
    args: [1, 1],
    run: runRebase,
  },
  {
    name: 'snapshot',
    summary: 'list internal snapshots',
    spec: verbSpec('snapshot', 'tsvm img snapshot -l FILE', 'List the internal snapshots of a qcow2 image (creating them is not supported).', [O.list]),
    args: [1, 1],
    run: runSnapshot,
  },
];

const ALL_OPTIONS: OptionSpec[] = Object.values(O);

const spec: CommandSpec = {
  name: 'tsvm img',
  usage: ['tsvm img COMMAND [options] ARGS'],
  summary: 'Create, inspect, check and convert disk images (raw and qcow2), in the manner of qemu-img.',
  options: ALL_OPTIONS,
  maxPositionals: 4,
  epilog: [
    'commands:',
    ...VERBS.map((v) => `  ${v.spec.usage[0].replace('tsvm img ', '')}`),
    '',
    "Run 'tsvm img COMMAND --help' for a command's options.",
  ].join('\n'),
};

export const imgCommand: Subcommand = {
  name: 'img',
  summary: 'create, inspect, check, convert and commit disk images (qemu-img)',
  spec,
  async execute(args: ParsedArgs, io: CliIo): Promise<number> {
    const [verbName, ...rest] = args.positionals;
    if (verbName === undefined) {
      if (args.flag('help')) {
        io.writeStdout(imgHelp());
        return EXIT_OK;
      }
      throw new UsageError('missing command (create, info, check, convert, resize, commit, rebase, snapshot)', 'tsvm img --help');
    }
    const verb = VERBS.find((v) => v.name === verbName);
    if (verb === undefined) throw new UsageError(`unknown command '${verbName}'`, 'tsvm img --help');
    const hint = `tsvm img ${verb.name} --help`;
    for (const o of ALL_OPTIONS) {
      if (args.has(o.name) && !verb.spec.options.includes(o)) {
        throw new UsageError(`option '--${o.name}' does not apply to 'tsvm img ${verb.name}'`, hint);
      }
    }
    if (args.flag('help')) {
      io.writeStdout(formatHelp(verb.spec));
      return EXIT_OK;
    }
    const [min, max] = verb.args;
    if (rest.length < min) throw new UsageError(`missing argument (usage: ${verb.spec.usage[0]})`, hint);
    if (rest.length > max) throw new UsageError(`unexpected argument '${rest[max]}'`, hint);
    try {
      return await verb.run(args, rest, io);
    } catch (e) {
      if (e instanceof BlockError) {
        io.writeStderr(`tsvm: ${e.message}\n`);
        return EXIT_FAILURE;
      }
      throw e;
    }
  },
};

function imgHelp(): string {
  return formatHelp({ ...spec, options: [O.help] });
}

// -------------------------------------------------------------------------------------------------
// Option helpers

function formatOption(args: ParsedArgs, name: 'format' | 'output-format' | 'backing-format', hint: string): ImageFormat | undefined {
  const v = args.string(name);
  if (v === undefined) return undefined;
  if (v !== 'raw' && v !== 'qcow2') throw new UsageError(`unknown image format '${v}' (raw or qcow2)`, hint);
  return v;
}

function outputOption(args: ParsedArgs, hint: string): 'human' | 'json' {
  const v = args.string('output') ?? 'human';
  if (v !== 'human' && v !== 'json') throw new UsageError(`--output must be human or json, not '${v}'`, hint);
  return v;
}

interface Qcow2CreateOptions {
  clusterSize?: number;
  compat?: '0.10' | '1.1';
  refcountBits?: number;
  backingFile?: string;
  backingFormat?: ImageFormat;
}

/** Parses -o key=value[,key=value] (the qcow2 creation options we support). */
function parseCreateOptions(text: string | undefined, hint: string): Qcow2CreateOptions {
  const out: Qcow2CreateOptions = {};
  if (text === undefined) return out;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    switch (key) {
      case 'cluster_size': {
        const n = parseSize(value);
        if (n === undefined) throw new UsageError(`invalid cluster_size '${value}'`, hint);
        out.clusterSize = n;
        break;
      }
      case 'compat':
        if (value === '0.10' || value === 'v2') out.compat = '0.10';
        else if (value === '1.1' || value === 'v3') out.compat = '1.1';
        else throw new UsageError(`compat must be 0.10 or 1.1, not '${value}'`, hint);
        break;
      case 'refcount_bits': {
        const n = Number(value);
        if (!Number.isInteger(n)) throw new UsageError(`invalid refcount_bits '${value}'`, hint);
        out.refcountBits = n;
        break;
      }
      case 'backing_file':
        out.backingFile = value;
        break;
      case 'backing_fmt':
        if (value !== 'raw' && value !== 'qcow2') throw new UsageError(`unknown backing format '${value}'`, hint);
        out.backingFormat = value;
        break;
      case 'lazy_refcounts':
      case 'preallocation':
        if (value !== 'off' && value !== '') {
          throw new UsageError(`${key}=${value} is not supported (only off)`, hint);
        }
        break;
      default:
        throw new UsageError(`unknown option '${key}' in -o (cluster_size, compat, refcount_bits, backing_file, backing_fmt)`, hint);
    }
  }
  return out;
}

async function actualSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.blocks * 512;
  } catch {
    return undefined;
  }
}

/** A progress bar on stderr like qemu-img's "    (42.00/100%)". */
function progressBar(io: CliIo, enabled: boolean): { update: (done: number, total: number) => void; end: () => void } {
  let last = -1;
  let shown = false;
  return {
    update: (done, total) => {
      if (!enabled) return;
      const pct = total === 0 ? 100 : Math.floor((10000 * done) / total) / 100;
      if (pct - last < 1 && pct !== 100) return;
      last = pct;
      shown = true;
      io.writeStderr(`    (${pct.toFixed(2)}/100%)\r`);
    },
    end: () => {
      if (enabled && shown) io.writeStderr('\n');
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Verbs

async function runCreate(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img create --help';
  const format = formatOption(args, 'format', hint) ?? 'raw';
  const o = parseCreateOptions(args.string('options'), hint);
  const [path, sizeText] = pos;
  const backingName = args.string('backing') ?? o.backingFile;
  const backingFormatArg = formatOption(args, 'backing-format', hint) ?? o.backingFormat;
  let size: number | undefined;
  if (sizeText !== undefined) {
    size = parseSize(sizeText);
    if (size === undefined) throw new UsageError(`invalid size '${sizeText}' (a number with an optional K, M, G, T suffix)`, hint);
  }
  if (format === 'raw') {
    if (backingName !== undefined) throw new UsageError('raw images cannot have a backing file (use -f qcow2)', hint);
    if (args.has('options')) throw new UsageError('-o options apply to qcow2 images only', hint);
    if (size === undefined) throw new UsageError('missing SIZE', hint);
    const file = await NodeBlockFile.open(path, { create: true });
    try {
      await createRaw(file, size);
    } finally {
      await file.close();
    }
    io.writeStdout(`Formatting '${path}', fmt=raw size=${size}\n`);
    return EXIT_OK;
  }

  let backing: { name: string; format: ImageFormat; size: number } | undefined;
  if (backingName !== undefined) {
    // Open the backing image (relative to the new image) to learn its size and format.
    const bf = await NodeBlockFile.open(resolveBackingPath(backingName, path), { readOnly: true });
    const b = await openImage(bf, { readOnly: true, format: backingFormatArg, openBacking: nodeOpenBacking, noBacking: true });
    backing = { name: backingName, format: b.format, size: b.size };
    await b.close();
  } else if (args.has('backing-format')) {
    throw new UsageError('-F needs -b BACKING', hint);
  }
  if (size === undefined && backing === undefined) throw new UsageError('missing SIZE (or -b BACKING to take it from)', hint);
  const finalSize = size ?? backing?.size ?? 0;
  const file = await NodeBlockFile.open(path, { create: true });
  try {
    await createQcow2(file, {
      size: finalSize % 512 === 0 ? finalSize : finalSize + 512 - (finalSize % 512),
      clusterSize: o.clusterSize,
      compat: o.compat,
      refcountBits: o.refcountBits,
      backing,
    });
  } finally {
    await file.close();
  }
  const parts = [`Formatting '${path}', fmt=qcow2`, `cluster_size=${o.clusterSize ?? 65536}`, `compat=${o.compat ?? '1.1'}`];
  if (backing !== undefined) parts.push(`backing_file=${backing.name}`, `backing_fmt=${backing.format}`);
  parts.push(`size=${finalSize}`, `refcount_bits=${o.refcountBits ?? 16}`);
  io.writeStdout(parts.join(' ') + '\n');
  return EXIT_OK;
}

async function runInfo(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img info --help';
  const output = outputOption(args, hint);
  const chain = args.flag('backing-chain');
  const path = pos[0];
  const image = await openImageFile(path, { readOnly: true, format: formatOption(args, 'format', hint), noBacking: !chain });
  try {
    const entries: InfoEntry[] = [];
    let name = path;
    for (let img: Image | undefined = image; img !== undefined; img = chain ? img.backing : undefined) {
      const info = img.info();
      const full = info.backingFilename === undefined ? undefined : resolveBackingPath(info.backingFilename, name);
      entries.push({ info, filename: name, actualSize: await actualSize(name), fullBackingFilename: full });
      if (full === undefined) break;
      name = full;
    }
    if (output === 'json') {
      const json = chain ? entries.map(infoJson) : infoJson(entries[0]);
      io.writeStdout(JSON.stringify(json, null, 4) + '\n');
    } else {
      io.writeStdout(entries.map(infoHuman).join('\n'));
    }
  } finally {
    await image.close();
  }
  return EXIT_OK;
}

async function runCheck(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img check --help';
  const output = outputOption(args, hint);
  const repairText = args.string('repair');
  if (repairText !== undefined && repairText !== 'leaks' && repairText !== 'all') {
    throw new UsageError(`-r must be leaks or all, not '${repairText}'`, hint);
  }
  const repair = repairText as 'leaks' | 'all' | undefined;
  const path = pos[0];
  const image = await openImageFile(path, {
    readOnly: repair === undefined,
    format: formatOption(args, 'format', hint),
    noBacking: true,
    repair: repair !== undefined,
  });
  let result: CheckResult;
  let again: CheckResult | undefined;
  try {
    result = await check(image, { repair });
    if (!result.supported) {
      io.writeStderr(`tsvm: ${path}: this image format (${result.format}) does not support checks\n`);
      return CHECK_UNSUPPORTED;
    }
    if (repair !== undefined && (result.leaksFixed > 0 || result.corruptionsFixed > 0)) again = await check(image);
  } finally {
    await image.close();
  }
  if (output === 'json') io.writeStdout(JSON.stringify(checkJson(path, result, again), null, 4) + '\n');
  else io.writeStdout(checkHuman(result, again));
  const final = again ?? result;
  if (final.corruptions - final.corruptionsFixed > 0) return CHECK_CORRUPT;
  if (final.leaks - final.leaksFixed > 0) return CHECK_LEAKS;
  return EXIT_OK;
}

async function runConvert(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img convert --help';
  const [srcPath, dstPath] = pos;
  const outFormat = formatOption(args, 'output-format', hint) ?? 'raw';
  const o = parseCreateOptions(args.string('options'), hint);
  if (outFormat === 'raw' && args.has('options')) throw new UsageError('-o options apply to qcow2 output only', hint);
  if (o.backingFile !== undefined) throw new UsageError('convert writes a standalone image: backing_file is not supported', hint);
  const src = await openImageFile(srcPath, { readOnly: true, format: formatOption(args, 'format', hint) });
  const bar = progressBar(io, args.flag('progress'));
  try {
    const size = src.size;
    const file = await NodeBlockFile.open(dstPath, { create: true });
    let dst: Image;
    try {
      if (outFormat === 'raw') await createRaw(file, size);
      else {
        await createQcow2(file, {
          size: size % 512 === 0 ? size : size + 512 - (size % 512),
          clusterSize: o.clusterSize,
          compat: o.compat,
          refcountBits: o.refcountBits,
        });
      }
      dst = await openImage(file, { format: outFormat, openBacking: nodeOpenBacking });
    } catch (e) {
      await file.close();
      throw e;
    }
    try {
      await convert(src, dst, { onProgress: bar.update });
    } finally {
      await dst.close();
    }
  } finally {
    bar.end();
    await src.close();
  }
  return EXIT_OK;
}

async function runResize(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img resize --help';
  const [path, sizeText] = pos;
  const relative = sizeText.startsWith('+');
  const amount = parseSize(relative ? sizeText.slice(1) : sizeText);
  if (amount === undefined) throw new UsageError(`invalid size '${sizeText}' ([+]SIZE with an optional K, M, G, T suffix)`, hint);
  const image = await openImageFile(path, { format: formatOption(args, 'format', hint), noBacking: true });
  try {
    const newSize = relative ? image.size + amount : amount;
    if (newSize < image.size && !args.flag('shrink')) {
      throw new BlockError('EINVAL', `${path}: the new size is smaller than the current ${image.size} bytes; use --shrink to shrink (raw only)`);
    }
    await image.resize(newSize, { allowShrink: args.flag('shrink') });
  } finally {
    await image.close();
  }
  io.writeStdout('Image resized.\n');
  return EXIT_OK;
}

async function runCommit(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img commit --help';
  const path = pos[0];
  const image = await openImageFile(path, { format: formatOption(args, 'format', hint), writableBacking: true });
  const bar = progressBar(io, args.flag('progress'));
  try {
    if (image.backing === undefined) throw new BlockError('EINVAL', `${path}: the image has no backing file to commit into`);
    await commit(image, { onProgress: bar.update, keepTop: args.flag('keep') });
  } finally {
    bar.end();
    await image.close();
  }
  io.writeStdout('Image committed.\n');
  return EXIT_OK;
}

async function runRebase(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img rebase --help';
  const path = pos[0];
  const backingName = args.string('backing');
  if (backingName === undefined) throw new UsageError('missing -b BACKING (the new backing file)', hint);
  const unsafe = args.flag('unsafe');
  const image = await openImageFile(path, { format: formatOption(args, 'format', hint), noBacking: unsafe });
  const bar = progressBar(io, args.flag('progress'));
  try {
    if (!(image instanceof Qcow2Image)) throw new BlockError('EUNSUPPORTED', `${path}: only qcow2 images have a backing file`);
    await rebase(image, { name: backingName, format: formatOption(args, 'backing-format', hint) }, {
      unsafe,
      openBacking: nodeOpenBacking,
      onProgress: bar.update,
    });
  } finally {
    bar.end();
    await image.close();
  }
  return EXIT_OK;
}

async function runSnapshot(args: ParsedArgs, pos: readonly string[], io: CliIo): Promise<number> {
  const hint = 'tsvm img snapshot --help';
  if (!args.flag('list')) throw new UsageError('only -l (list) is supported: creating, applying and deleting snapshots are not', hint);
  const image = await openImageFile(pos[0], { readOnly: true, noBacking: true });
  try {
    const snapshots = image.info().snapshots;
    if (snapshots.length > 0) io.writeStdout(snapshotTable(snapshots).join('\n') + '\n');
  } finally {
    await image.close();
  }
  return EXIT_OK;
}
