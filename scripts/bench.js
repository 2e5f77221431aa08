#!/usr/bin/env node
// `npm run bench`: builds, then runs each benchmark in bench/ (compiled to dist/bench/).
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const b = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (b.status !== 0) process.exit(b.status ?? 1);
// The one-file CLI that bin/tsvm.js runs (scripts/bundle.js).
const u = spawnSync(process.execPath, [join(root, 'scripts', 'bundle.js')], { cwd: root, stdio: 'inherit' });
if (u.status !== 0) process.exit(u.status ?? 1);
const dir = join(root, 'dist', 'bench');
const only = process.argv.slice(2);
const benches = existsSync(dir)
  ? readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'support.js' && (only.length === 0 || only.some((o) => f.includes(o)))).sort()
  : [];
let failed = 0;
for (const f of benches) {
  console.log(`\n== ${f.replace(/\.js$/, '')}`);
  const r = spawnSync(process.execPath, [join(dir, f)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
