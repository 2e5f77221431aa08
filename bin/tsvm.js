#!/usr/bin/env node
// The tsvm launcher: runs the compiled CLI, building it first when dist/ is missing
// (a fresh clone). Plain JavaScript so it runs before any build.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
// One-file bundle of the same code (scripts/bundle.js): faster to load. Used only while it is newer
// than the last TypeScript build (tsc -b rewrites its .tsbuildinfo files whenever it emits).
const bundle = join(root, 'dist', 'tsvm.mjs');
const buildInfos = [join(root, 'dist', '.core.tsbuildinfo'), join(root, 'dist', '.node.tsbuildinfo')];

if (!existsSync(entry)) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write("tsvm: not built and TypeScript is not installed; run 'npm install' in " + root + '\n');
    process.exit(1);
  }
  process.stderr.write('tsvm: first run: building from the TypeScript sources (tsc -b)...\n');
  // Compiler messages go to stderr: stdout belongs to the guest console.
  spawnSync(process.execPath, [tsc, '-b', 'tsconfig.json'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (!existsSync(entry)) {
    process.stderr.write("tsvm: the build failed; run 'npm run build' in " + root + ' to see why\n');
    process.exit(1);
  }
  spawnSync(process.execPath, [join(root, 'scripts', 'bundle.js')], { cwd: root, stdio: ['ignore', 2, 2] });
}

function bundleIsCurrent() {
  try {
    const made = statSync(bundle).mtimeMs;
    return buildInfos.every((f) => !existsSync(f) || statSync(f).mtimeMs <= made);
  } catch {
    return false;
  }
}

const { main } = await import(pathToFileURL(bundleIsCurrent() ? bundle : entry).href);
process.exitCode = await main(process.argv.slice(2));
