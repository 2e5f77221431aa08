#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports) into one file,
// dist/tsvm.mjs, which bin/tsvm.js loads: Node then reads one module instead of about a hundred,
// which takes ~30 ms off every tsvm start (a boot, a restore, `tsvm img`). Run after `tsc -b`
// (npm run build, prepare, test and bench do). bin/tsvm.js uses the bundle only while it is
// newer than the last TypeScript build, so a build without it never runs stale code.
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
const out = join(root, 'dist', 'tsvm.mjs');

export async function bundle() {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build with tsc -b first`);
  const { build } = await import('esbuild');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: out,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await bundle();
  } catch (e) {
    console.error(`bundle: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
