#!/usr/bin/env node
// The tsvm launcher: runs the compiled CLI, building it first when dist/ is missing
// (a fresh clone). Plain JavaScript so it runs before any build.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');

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
}

const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
