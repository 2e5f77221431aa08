#!/usr/bin/env -S node --v8-pool-size=1
// The tsvm launcher: runs the compiled CLI, building it first when dist/ is missing
// (a fresh clone). Plain JavaScript so it runs before any build.
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';

// Translated guest code is many small WebAssembly functions (one per guest block), and V8
// recompiles one with its optimising compiler once it has run a while (the tiering budget, 1.8 M
// by default). In a Linux boot thousands of blocks get there, and those background compiles cost
// more than they save: with 55 times the budget a boot to the prompt takes ~8% less, and hot
// loops are still optimised within a fraction of a second (compute.elf: 1140 MIPS vs 1330 in
// the benchmark's short runs). And functions compile when their module does, on V8's compiler
// threads, rather than each at its first call on the guest's thread (V8's lazy default: ~6000
// baseline compiles in a boot, ~65 ms of the guest's thread): with both, interleaved CLI boots
// took 797 ms against 842 (median of 8).
setFlagsFromString('--wasm-tiering-budget=100000000');
setFlagsFromString('--no-wasm-lazy-compilation');
// --v8-pool-size=1 (in the first line, and in `npm start`): Node's V8 platform has 4 worker threads
// by default, for compiles and the garbage collector; on a 2-core machine they took CPU from the
// guest's thread (boots in process 645 -> 575 ms, interleaved CLI boots 815 -> 729 ms, medians
// of 10). It is a Node option, read before any script runs: `node --v8-pool-size=1 bin/tsvm.js`.
// No on-stack replacement: the hart's run loop returns to its caller every slice, so its
// optimised code is taken up at the next call anyway, and an OSR compile of that large function
// (60-160 ms of a compiler thread, in the first second of a boot) only competed with the
// guest's other compiles.
setFlagsFromString('--no-use-osr');
// Less inlining by V8's optimising compiler (320 bytes of bytecode inlined per function, not
// 920): its one worker thread spends a boot compiling the hart's loop and the translator (330 ms,
// with the wasm compiles waiting behind) and inlining is most of that; the hot loops run as fast
// (compute.elf: interpreter 155, JIT 1300-1330 MIPS either way), the compiles take 15% less and
// boots in process 562 -> 540 ms (medians of 6).
setFlagsFromString('--max-inlined-bytecode-size-cumulative=320');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
// One-file bundle of the same code (scripts/bundle.js): faster to load. Used only while it is newer
// than the last TypeScript build (tsc -b rewrites its .tsbuildinfo files whenever it emits).
const bundle = join(root, 'dist', 'tsvm.cjs');
// V8's code cache for the bundle: the bytecode of every function a `tsvm run` compiled, so the
// next start neither parses nor compiles them again (20-60 ms of a boot to the prompt).
const cacheFile = `${bundle}.cache`;
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

/** Loads the bundle through vm.Script with the code cache; returns its main and a cache writer. */
function loadBundle() {
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const params = '(function (exports, require, module, __filename, __dirname, __tsvmBundleUrl) {'; // (the bundle begins "use strict")
  const script = new vm.Script(params + readFileSync(bundle, 'utf8') + '\n})', { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle),
    pathToFileURL(bundle).href);
  const usedCache = cachedData !== undefined && !script.cachedDataRejected;
  /** After a `tsvm run`: stores the cache if there was none (or V8 refused it). Best effort. */
  const saveCache = () => {
    if (usedCache) return;
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // A read-only installation: starts stay uncached.
      try {
        rmSync(tmp, { force: true });
      } catch {
        // (nothing was written)
      }
    }
  };
  return { main: module.exports.main, saveCache };
}

const args = process.argv.slice(2);
if (bundleIsCurrent()) {
  const { main, saveCache } = loadBundle();
  process.exitCode = await main(args);
  // A run has compiled the functions a boot needs: those are worth caching (`--help` is not).
  if (args[0] === 'run' && !args.includes('--help') && !args.includes('-h')) saveCache();
} else {
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(args);
}
