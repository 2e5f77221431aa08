#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports) into one file,
// dist/tsvm.cjs, which bin/tsvm.js loads: Node then reads one script instead of about a hundred
// modules, which takes ~30 ms off every tsvm start (a boot, a restore, `tsvm img`). A script (a
// CommonJS function body, `import.meta.url` passed in as __tsvmBundleUrl) rather than an ES
// module, because bin/tsvm.js compiles it with vm.Script, which can reuse V8's code cache
// (dist/tsvm.cjs.cache). Run after `tsc -b` (npm run build, prepare, test and bench do).
// bin/tsvm.js uses the bundle only while it is newer than the last TypeScript build, so a build
// without it never runs stale code.
import { existsSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
const out = join(root, 'dist', 'tsvm.cjs');

export async function bundle() {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build with tsc -b first`);
  const { build } = await import('esbuild');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: out,
    define: { 'import.meta.url': '__tsvmBundleUrl' },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  // The code cache of the previous bundle (V8 would reject it anyway: the source changed).
  rmSync(`${out}.cache`, { force: true });
  // The ES-module bundle of earlier versions.
  rmSync(join(root, 'dist', 'tsvm.mjs'), { force: true });
  rmSync(join(root, 'dist', 'tsvm.mjs.map'), { force: true });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await bundle();
  } catch (e) {
    console.error(`bundle: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
