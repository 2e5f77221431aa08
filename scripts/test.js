#!/usr/bin/env node
// `npm test`: installs the Debian tools the tests compare against (when missing and running as
// root), builds the TypeScript, then runs every *.test.js under dist/ with node's test runner.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Debian packages the tests use, by a file each one provides.
const debianTools = [
  ['/usr/bin/qemu-riscv64-static', 'qemu-user-static'],
  ['/usr/bin/qemu-system-riscv64', 'qemu-system-misc'],
  ['/usr/bin/dtc', 'device-tree-compiler'],
  ['/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin', 'opensbi'],
];

function ensureDebianTools() {
  const missing = debianTools.filter(([file]) => !existsSync(file)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    console.log(`test: missing Debian packages (${missing.join(', ')}); tests that need them will skip`);
    return;
  }
  console.log(`test: installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const install = update.status === 0
    ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env })
    : update;
  if (install.status !== 0) console.log('test: apt-get failed; tests that need these tools will skip');
}

function build() {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('test: TypeScript build failed');
    process.exit(r.status ?? 1);
  }
  // The one-file CLI bin/tsvm.js runs (what users run, so what the end-to-end tests run).
  const b = spawnSync(process.execPath, [join(root, 'scripts', 'bundle.js')], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) {
    console.error('test: bundling the CLI failed');
    process.exit(b.status ?? 1);
  }
}

function findTests(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

ensureDebianTools();
build();
const filter = process.argv.slice(2);
let tests = [...findTests(join(root, 'dist', 'src'), []), ...findTests(join(root, 'dist', 'test'), [])].sort();
if (filter.length > 0) tests = tests.filter((t) => filter.some((f) => t.includes(f)));
if (tests.length === 0) {
  console.error('test: no test files found');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...tests], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
