/**
 * End-to-end tests of the `tsvm` command: they spawn `node bin/tsvm.js` (the installed entry point)
 * on real and corrupt programs and check the exit status and the exact stderr lines.
 */
import { repoRoot } from '../../test/support/repo-root.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = repoRoot(import.meta.url);
const bare = (name: string): string => join(root, 'test/fixtures/bare', `${name}.elf`);
let tmp = '';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tsvm launcher (`bin/tsvm.js` of a package) to completion. */
function launch(bin: string, args: string[], cwd = root): Run {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tsvm(...args: string[]): Run {
  return launch(join(root, 'bin/tsvm.js'), args);
}

/** stderr must be exactly `lines.length` lines, each matching, and never a stack trace. */
function assertStderr(r: Run, ...lines: RegExp[]): void {
  const got = r.stderr.split('\n');
  assert.equal(got.pop(), '', `stderr ends with a newline: ${JSON.stringify(r.stderr)}`);
  assert.equal(got.length, lines.length, `stderr lines: ${JSON.stringify(r.stderr)}`);
  lines.forEach((re, i) => assert.match(got[i], re));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

before(() => {
  // The launcher builds only when dist/ is missing; make sure it runs the current sources.
  // Other layers may have type errors while in progress: tsc -b still emits, so only check output.
  spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.json'], {
    cwd: root,
    stdio: 'ignore',
  });
  assert.ok(existsSync(join(root, 'dist/src/cli/main.js')), 'the build produced dist/src/cli/main.js');
  tmp = mkdtempSync(join(tmpdir(), 'tsvm-cli-'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('--help, --version and run --help', () => {
  const help = tsvm('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: tsvm COMMAND/);
  assert.match(help.stdout, /\n {2}run {2}/);
  const version = tsvm('--version');
  assert.equal(version.status, 0);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout, `tsvm ${pkg.version}\n`);
  const runHelp = tsvm('run', '--help');
  assert.equal(runHelp.status, 0);
  for (const opt of ['--bios', '--kernel', '--memory', '--timeout', '--max-instructions']) {
    assert.ok(runHelp.stdout.includes(opt), `run --help lists ${opt}`);
  }
  assert.equal(runHelp.stderr, '');
});

test('usage errors: one line plus a hint, exit 2', () => {
  const cases: [string[], RegExp, RegExp][] = [
    [[], /^tsvm: missing command/, /^Try 'tsvm --help'/],
    [['frobnicate'], /^tsvm: unknown command 'frobnicate'$/, /^Try 'tsvm --help' for more information\.$/],
    [['--frob'], /^tsvm: unknown option '--frob'$/, /^Try 'tsvm --help'/],
    [['run', '--frob'], /^tsvm: unknown option '--frob'$/, /^Try 'tsvm run --help' for more information\.$/],
    [['run', '--kernal', 'x'], /^tsvm: unknown option '--kernal' \(did you mean '--kernel'\?\)$/, /^Try 'tsvm run --help'/],
    [['run', '-kernel', 'x'], /^tsvm: unknown option '-kernel' \(did you mean '--kernel'\?\)$/, /^Try/],
    [['run', '--kernel'], /^tsvm: option '--kernel' needs a value \(FILE\)$/, /^Try/],
    [['run', '--bios', 'none'], /^tsvm: --bios none needs --kernel FILE/, /^Try/],
    [['run', '--cpus', '99'], /^tsvm: --cpus 99: must be from 1 to 8$/, /^Try/],
    [['run', '--cpus', '0'], /^tsvm: --cpus 0: must be from 1 to 8$/, /^Try/],
    [['run', '--memory', '0'], /^tsvm: --memory 0: must be from 16 to \d+ MiB$/, /^Try/],
    [['run', '--clock', 'bogus'], /^tsvm: --clock bogus: must be host or virtual$/, /^Try/],
    [['run', '--bios=none', '--kernel=x', '--memory=12x'], /^tsvm: option '--memory' needs a whole number, not '12x'$/, /^Try/],
    [['run', '--bios', 'none', '--kernel', 'x', '--memory', '0'], /^tsvm: --memory must be from 1 to 4095 MiB, not 0$/, /^Try/],
    [['run', '--bios', 'none', '--kernel', 'x', '--timeout', '-1'], /^tsvm: option '--timeout' needs a value/, /^Try/],
    [['run', '--bios', 'none', '--kernel', 'x', '--timeout', '0'], /^tsvm: --timeout must be a positive number/, /^Try/],
    [['run', '--bios', 'none', '--bios', 'none'], /^tsvm: option '--bios' given more than once$/, /^Try/],
    [['run', '--help=yes'], /^tsvm: option '--help' takes no value$/, /^Try/],
    [['run', 'extra'], /^tsvm: unexpected argument 'extra'$/, /^Try/],
  ];
  for (const [args, line1, line2] of cases) {
    const r = tsvm(...args);
    assert.equal(r.status, 2, `tsvm ${args.join(' ')}: ${r.stderr}`);
    assertStderr(r, line1, line2);
    assert.equal(r.stdout, '');
  }
});

test('corrupt and foreign ELF files: one-line error, exit 1', () => {
  const good = readFileSync(bare('hello'));
  const write = (name: string, bytes: Uint8Array): string => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };
  const truncated = write('truncated.elf', good.subarray(0, 100));
  const magic = write('magic.elf', Uint8Array.from(good, (b, i) => (i === 0 ? 0x7e : b)));
  const machine = write('machine.elf', Uint8Array.from(good, (b, i) => (i === 18 ? 62 : i === 19 ? 0 : b)));
  const class32 = write('class32.elf', Uint8Array.from(good, (b, i) => (i === 4 ? 1 : b)));
  const text = write('text.elf', new TextEncoder().encode('not a program\n'));
  const empty = write('empty.elf', new Uint8Array(0));
  const cases: [string, RegExp][] = [
    [truncated, /^tsvm: .*truncated\.elf: .*past the end of the file/],
    [magic, /^tsvm: .*magic\.elf: not an ELF file \(bad magic\)$/],
    [machine, /^tsvm: .*machine\.elf: not a RISC-V 64 ELF \(e_machine 62\)$/],
    [class32, /^tsvm: .*class32\.elf: not a RISC-V 64 ELF \(32-bit ELF, expected ELFCLASS64\)$/],
    [text, /^tsvm: .*text\.elf: not an ELF file/],
    [empty, /^tsvm: .*empty\.elf: not an ELF file/],
    [bare('notohost'), /^tsvm: .*notohost\.elf: no tohost symbol; bare-metal programs report their result by writing \(code << 1\) \| 1 to tohost$/],
    [join(tmp, 'missing.elf'), /^tsvm: .*missing\.elf: no such file$/],
    [tmp, /^tsvm: .*: is a directory, not a program file$/],
  ];
  if (existsSync('/bin/true')) cases.push(['/bin/true', /^tsvm: \/bin\/true: not a RISC-V 64 ELF \(e_machine \d+\)$/]);
  for (const [file, line] of cases) {
    const r = tsvm('run', '--bios', 'none', '--kernel', file);
    assert.equal(r.status, 1, `${file}: ${r.stderr}`);
    assertStderr(r, line);
    assert.equal(r.stdout, '');
  }
});

test('a bare-metal program printing "hi" and writing 1 to tohost exits 0', () => {
  const r = tsvm('run', '--bios', 'none', '--kernel', bare('hello'));
  assert.equal(r.stdout, 'hi\n');
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});

test('a program writing (3 << 1) | 1 to tohost exits 3', () => {
  const r = tsvm('run', '--bios', 'none', '--kernel', bare('exit3'), '--memory', '16');
  assert.equal(r.status, 3);
  assertStderr(r, /^tsvm: .*exit3\.elf failed with exit code 3$/);
});

test('riscv-tests syscalls print and exit; the test finisher sets the exit code', () => {
  const sys = tsvm('run', '--bios', 'none', '--kernel', bare('syscall'));
  assert.equal(sys.stdout, 'sys\n!');
  assert.equal(sys.status, 0);
  const fin = tsvm('run', '--bios', 'none', '--kernel', bare('finisher'));
  assert.equal(fin.status, 7);
  assertStderr(fin, /failed with exit code 7$/);
});

test('a program that loops forever is stopped by --timeout with exit 124', () => {
  const start = Date.now();
  const r = tsvm('run', '--bios', 'none', '--kernel', bare('loop'), '--timeout', '1');
  const elapsed = Date.now() - start;
  assert.equal(r.status, 124);
  assertStderr(r, /^tsvm: .*loop\.elf timed out after 1 s \(\d+ instructions\)$/);
  assert.ok(elapsed >= 1000 && elapsed < 20_000, `took ${elapsed} ms`);
});

test('--max-instructions stops a looping program with exit 124', () => {
  const r = tsvm('run', '--bios', 'none', '--kernel', bare('loop'), '--max-instructions=5000');
  assert.equal(r.status, 124);
  assertStderr(r, /^tsvm: .*loop\.elf reached --max-instructions 5000 without finishing$/);
});

test('Ctrl-C (SIGINT) stops a running program cleanly with exit 130', async () => {
  const child = spawn(process.execPath, [join(root, 'bin/tsvm.js'), 'run', '--bios', 'none', '--kernel', bare('loop')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr += s));
  // Let it start running guest code, then interrupt it.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  child.kill('SIGINT');
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  assert.equal(status, 130);
  assertStderr({ status, stdout: '', stderr }, /^tsvm: interrupted by SIGINT; stopped .*loop\.elf after \d+ instructions$/);
});

test('the launcher: the bundle\'s code cache is written after a run, reused, and a corrupt one is replaced', () => {
  // A package of its own (the launcher, the bundle, package.json), so this cache is this test's.
  const pkg = mkdtempSync(join(tmpdir(), 'tsvm-launcher-'));
  try {
    const bundle = join(root, 'dist', 'tsvm.cjs');
    assert.ok(existsSync(bundle), 'npm run build makes dist/tsvm.cjs');
    mkdirSync(join(pkg, 'bin'));
    mkdirSync(join(pkg, 'dist', 'src', 'cli'), { recursive: true });
    copyFileSync(join(root, 'bin', 'tsvm.js'), join(pkg, 'bin', 'tsvm.js'));
    copyFileSync(bundle, join(pkg, 'dist', 'tsvm.cjs'));
    copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
    writeFileSync(join(pkg, 'dist', 'src', 'cli', 'main.js'), ''); // (the launcher checks it is built)
    const cache = join(pkg, 'dist', 'tsvm.cjs.cache');
    const run = (...args: string[]): Run => launch(join(pkg, 'bin', 'tsvm.js'), args, pkg);
    const hello = (): void => {
      const r = run('run', '--bios', 'none', '--kernel', bare('hello'));
      assert.deepEqual(r, { status: 0, stdout: 'hi\n', stderr: '' });
    };

    assert.match(run('run', '--help').stdout, /^usage: tsvm run/);
    assert.ok(!existsSync(cache), '--help compiles too little to be worth a cache');
    hello();
    const first = readFileSync(cache);
    assert.ok(first.length > 10_000, `a cache of the compiled functions (${first.length} bytes)`);
    hello();
    assert.ok(readFileSync(cache).equals(first), 'V8 took the cache, so it was not written again');
    writeFileSync(cache, Buffer.alloc(first.length, 0x5a));
    hello();
    const again = readFileSync(cache);
    assert.ok(again.length > 10_000 && !again.equals(Buffer.alloc(first.length, 0x5a)), 'a rejected cache is written anew');
  } finally {
    rmSync(pkg, { recursive: true, force: true });
  }
});
