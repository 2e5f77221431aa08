/**
 * Interoperability with QEMU's own tools (Debian's qemu-utils: qemu-img, qemu-io). Images that
 * qemu-img makes are written by our library and must pass `qemu-img check` and read back in QEMU as
 * we wrote them; images QEMU writes (including compressed clusters and internal snapshots) must read
 * back in our library; and a process writing through our library is killed -9 at random moments,
 * after which `qemu-img check` must find no corruption and all flushed data must be intact.
 * Skipped, with a message, when qemu-img is not installed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { check, commit, createQcow2, rebase, type Image } from '../../src/block/index.js';
import { Rng } from '../../src/block/testing.js';
import { NodeBlockFile, nodeOpenBacking, openImageFile } from '../../src/host/node-file.js';
import { repoRoot } from '../support/repo-root.js';
import { crashOps, sectorData } from './crash-ops.js';

const haveQemu = spawnSync('qemu-img', ['--version']).status === 0 && spawnSync('qemu-io', ['--version']).status === 0;
const skip = haveQemu ? false : 'qemu-img/qemu-io not installed (apt-get install qemu-utils)';
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvm-interop-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(cmd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function qemuImg(...args: string[]): string {
  const r = run('qemu-img', ...args);
  assert.equal(r.status, 0, `qemu-img ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `qemu-img check` must report no corruption (leaks allowed when `leaksOk`). */
function qemuCheck(name: string, leaksOk = false): string {
  const r = run('qemu-img', 'check', name);
  const ok = r.status === 0 || (leaksOk && r.status === 3);
  assert.ok(ok, `qemu-img check ${name} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The virtual disk as QEMU reads it. */
function qemuRaw(name: string, extra: string[] = []): Uint8Array {
  const out = `${name}.out.raw`;
  qemuImg('convert', ...extra, '-O', 'raw', name, out);
  const data = new Uint8Array(readFileSync(join(dir, out)));
  rmSync(join(dir, out));
  return data;
}

function assertSame(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  if (Buffer.from(got).equals(Buffer.from(want))) return;
  let i = 0;
  while (got[i] === want[i]) i++;
  assert.fail(`${what}: first difference at byte ${i} (0x${i.toString(16)})`);
}

const path = (name: string): string => join(dir, name);
const open = (name: string, options: Parameters<typeof openImageFile>[1] = {}): Promise<Image> => openImageFile(path(name), options);

/** Random writes of random lengths (partial clusters, across cluster and L2 boundaries). */
async function scribble(img: Image, model: Uint8Array, rng: Rng, count: number, maxLen: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const len = 1 + rng.int(maxLen);
    const off = rng.int(img.size - len);
    const d = rng.bytes(len);
    await img.write(off, d);
    model.set(d, off);
    if (i % 40 === 39) await img.flush();
  }
}

test('images made by qemu-img, written by us, pass qemu-img check and read back in QEMU', { skip }, async () => {
  const cases: [string, string[]][] = [
    ['default', []],
    ['compat 0.10', ['-o', 'compat=0.10']],
    ['4K clusters, 1-bit refcounts', ['-o', 'cluster_size=4096,refcount_bits=1']],
    ['512 B clusters, 64-bit refcounts', ['-o', 'cluster_size=512,refcount_bits=64']],
  ];
  for (const [label, opts] of cases) {
    const name = `q-${label.replace(/[^a-z0-9]/gi, '')}.qcow2`;
    qemuImg('create', '-f', 'qcow2', ...opts, name, '24M');
    const img = await open(name);
    const model = new Uint8Array(img.size);
    await scribble(img, model, new Rng(label.length), 150, 200_000);
    // A known pattern for qemu-io to verify.
    await img.write(3 * 65536 + 1000, new Uint8Array(70_000).fill(0xab));
    model.fill(0xab, 3 * 65536 + 1000, 3 * 65536 + 71_000);
    await img.close();
    const out = qemuCheck(name);
    assert.match(out, /No errors were found on the image/, label);
    assertSame(qemuRaw(name), model, label);
    const io = run('qemu-io', '-f', 'qcow2', '-r', '-c', `read -P 0xab ${3 * 65536 + 1000} 70000`, name);
    assert.equal(io.status, 0, io.stderr);
    assert.match(io.stdout, /read 70000\/70000 bytes/);
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed/);
  }
});

test('an overlay made by qemu-img on a backing file, written by us (partial clusters keep backing data)', { skip }, async () => {
  const rng = new Rng(42);
  const baseData = rng.bytes(16 << 20);
  writeFileSync(path('ov-base.raw'), baseData);
  qemuImg('create', '-f', 'qcow2', '-b', 'ov-base.raw', '-F', 'raw', 'ov.qcow2');
  const img = await open('ov.qcow2');
  assert.equal(img.backing?.format, 'raw');
  const model = baseData.slice();
  await scribble(img, model, rng, 120, 150_000);
  await img.close();
  qemuCheck('ov.qcow2');
  assertSame(qemuRaw('ov.qcow2'), model, 'overlay in QEMU');
  assertSame(new Uint8Array(readFileSync(path('ov-base.raw'))), baseData, 'base untouched');
});

test('data written by qemu-io (patterns, zeroes, discards) reads back in our library', { skip }, async () => {
  qemuImg('create', '-f', 'qcow2', 'io.qcow2', '8M');
  const cmds = [
    'write -P 0xab 0 64k',
    'write -P 0xcd 100000 300000',
    'write -P 0x11 1048576 4096',
    'write -z 1048576 65536',
    'write -P 0x22 2097152 262144',
    'discard 2097152 131072',
    'write -P 0x33 8323072 65536',
  ];
  const r = run('qemu-io', '-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), 'io.qcow2');
  assert.equal(r.status, 0, r.stderr);
  const model = new Uint8Array(8 << 20);
  model.fill(0xab, 0, 65536);
  model.fill(0xcd, 100000, 400000);
  model.fill(0x22, 2097152 + 131072, 2097152 + 262144);
  model.fill(0x33, 8323072, 8388608);
  const img = await open('io.qcow2', { readOnly: true });
  const got = new Uint8Array(img.size);
  await img.read(0, got);
  assertSame(got, model, 'qemu-io writes');
  const c = await check(img);
  assert.equal(c.corruptions + c.leaks, 0, c.messages.join('\n'));
  await img.close();
});

test('compressed clusters from qemu-img convert -c read correctly; our writes over them pass check', { skip }, async () => {
  const size = 6 << 20;
  const src = new Uint8Array(size);
  const rng = new Rng(9);
  const words = ['qcow2 ', 'cluster ', 'deflate ', 'tsvm ', '\n', 'zero '];
  for (let i = 0, o = 0; o < size - 16; i++) {
    const w = words[rng.int(words.length)];
    for (let k = 0; k < w.length; k++) src[o++] = w.charCodeAt(k);
    if (i % 5000 === 0) o += 70000; // zero gaps
  }
  src.set(rng.bytes(100000), 4 << 20); // incompressible data stays uncompressed
  writeFileSync(path('plain.raw'), src);
  qemuImg('convert', '-c', '-O', 'qcow2', 'plain.raw', 'packed.qcow2');
  const info = JSON.parse(qemuImg('check', '--output', 'json', 'packed.qcow2')) as { 'compressed-clusters'?: number };
  assert.ok((info['compressed-clusters'] ?? 0) > 10, 'qemu-img wrote compressed clusters');
  const img = await open('packed.qcow2');
  const got = new Uint8Array(size);
  await img.read(0, got);
  assertSame(got, src, 'compressed image');
  const c = await check(img);
  assert.ok(c.compressedClusters > 10);
  assert.equal(c.corruptions + c.leaks, 0, c.messages.join('\n'));
  // Partial writes into compressed clusters: copy-on-write out of the compressed data.
  const model = src.slice();
  await scribble(img, model, rng, 60, 30000);
  await img.close();
  qemuCheck('packed.qcow2');
  assertSame(qemuRaw('packed.qcow2'), model, 'after writes over compressed clusters');
});

test('linked clones: base plus two overlays written differently', { skip }, async () => {
  qemuImg('create', '-f', 'qcow2', 'lc-base.qcow2', '16M');
  assert.equal(run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 0 16M', 'lc-base.qcow2').status, 0);
  const baseBefore = readFileSync(path('lc-base.qcow2'));
  const models: Uint8Array[] = [];
  for (const n of ['lc-a.qcow2', 'lc-b.qcow2']) {
    const f = await NodeBlockFile.open(path(n), { create: true });
    await createQcow2(f, { size: 16 << 20, backing: { name: 'lc-base.qcow2', format: 'qcow2' } });
    await f.close();
    const img = await open(n);
    const model = new Uint8Array(16 << 20).fill(0x5a);
    await scribble(img, model, new Rng(n.charCodeAt(3)), 80, 100_000);
    await img.close();
    models.push(model);
  }
  for (const [i, n] of ['lc-a.qcow2', 'lc-b.qcow2'].entries()) {
    qemuCheck(n);
    assertSame(qemuRaw(n), models[i], n);
    const back = await open(n, { readOnly: true });
    const got = new Uint8Array(back.size);
    await back.read(0, got);
    assertSame(got, models[i], `${n} in our library`);
    await back.close();
  }
  assert.ok(readFileSync(path('lc-base.qcow2')).equals(baseBefore), 'base unchanged');
  const info = JSON.parse(qemuImg('info', '--output', 'json', 'lc-a.qcow2')) as Record<string, unknown>;
  assert.equal(info['backing-filename'], 'lc-base.qcow2');
  assert.equal(info['backing-filename-format'], 'qcow2');
});

test('internal snapshots made by qemu-img: listed, preserved by copy-on-write', { skip }, async () => {
  qemuImg('create', '-f', 'qcow2', 'snap.qcow2', '8M');
  assert.equal(run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x77 0 8M', 'snap.qcow2').status, 0);
  qemuImg('snapshot', '-c', 'before', 'snap.qcow2');
  const img = await open('snap.qcow2');
  assert.deepEqual(img.info().snapshots.map((s) => s.name), ['before']);
  const model = new Uint8Array(8 << 20).fill(0x77);
  await scribble(img, model, new Rng(5), 60, 100_000);
  await img.close();
  qemuCheck('snap.qcow2');
  assertSame(qemuRaw('snap.qcow2'), model, 'active layer');
  assertSame(qemuRaw('snap.qcow2', ['-l', 'snapshot.name=before']), new Uint8Array(8 << 20).fill(0x77), 'snapshot unchanged');
});

test('our create, resize, commit and rebase produce images qemu-img accepts', { skip }, async () => {
  for (const compat of ['1.1', '0.10'] as const) {
    const n = `ours-${compat}.qcow2`;
    const f = await NodeBlockFile.open(path(n), { create: true });
    await createQcow2(f, { size: 8 << 20, compat, clusterSize: 4096 }); // small clusters: resize moves the L1 table
    await f.close();
    const info = JSON.parse(qemuImg('info', '--output', 'json', n)) as { 'format-specific': { data: { compat: string; 'refcount-bits': number } } };
    assert.equal(info['format-specific'].data.compat, compat);
    assert.equal(info['format-specific'].data['refcount-bits'], 16);
    qemuCheck(n);
    const img = await open(n);
    const model = new Uint8Array(8 << 20);
    await scribble(img, model, new Rng(7), 40, 100_000);
    await img.resize(40 << 20);
    const grown = new Uint8Array(40 << 20);
    grown.set(model);
    const d = new Uint8Array(5000).fill(9);
    await img.write((40 << 20) - 5000, d);
    grown.set(d, (40 << 20) - 5000);
    await img.close();
    qemuCheck(n);
    assertSame(qemuRaw(n), grown, `resized ${compat}`);
  }

  // commit: overlay (ours) into a qcow2 base (qemu's).
  qemuImg('create', '-f', 'qcow2', 'cm-base.qcow2', '8M');
  assert.equal(run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x31 0 8M', 'cm-base.qcow2').status, 0);
  qemuImg('create', '-f', 'qcow2', '-b', 'cm-base.qcow2', '-F', 'qcow2', 'cm-top.qcow2');
  const top = await open('cm-top.qcow2', { writableBacking: true });
  const model = new Uint8Array(8 << 20).fill(0x31);
  await scribble(top, model, new Rng(8), 40, 100_000);
  await commit(top);
  await top.close();
  qemuCheck('cm-base.qcow2');
  qemuCheck('cm-top.qcow2');
  assertSame(qemuRaw('cm-base.qcow2'), model, 'base after commit');
  assertSame(qemuRaw('cm-top.qcow2'), model, 'top after commit');

  // rebase (safe): onto a different base, the disk reads the same.
  writeFileSync(path('rb-new.raw'), new Uint8Array(8 << 20).fill(0x32));
  const rb = await open('cm-top.qcow2');
  await rebase(rb, { name: 'rb-new.raw', format: 'raw' }, { openBacking: nodeOpenBacking });
  await rb.close();
  qemuCheck('cm-top.qcow2');
  const rbInfo = JSON.parse(qemuImg('info', '--output', 'json', 'cm-top.qcow2')) as Record<string, unknown>;
  assert.equal(rbInfo['backing-filename'], 'rb-new.raw');
  assertSame(qemuRaw('cm-top.qcow2'), model, 'after safe rebase');
});

test('kill -9 while writing: qemu-img check passes and flushed data is intact', { skip, timeout: 120_000 }, async () => {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const child = join(here, '..', ts ? 'crash-child.ts' : 'crash-child.js');
  assert.ok(existsSync(child), child);
  const root = repoRoot(import.meta.url);
  const size = 8 << 20;
  const sectors = size / 512;
  qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=4096', 'crash.qcow2', '8M');
  const rng = new Rng(31337);
  let baseline: Uint8Array = new Uint8Array(size); // what the image reads as at the start of the round
  for (let round = 0; round < 8; round++) {
    const seed = round + 1;
    const proc = spawn(process.execPath, [...(ts ? ['--import', 'tsx'] : []), child, path('crash.qcow2'), String(seed)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // Let it start (module loading), then kill at a random moment while it writes.
    await new Promise<void>((resolve, reject) => {
      const wait = (): void => {
        if (out.includes('flushed')) {
          setTimeout(() => {
            proc.kill('SIGKILL');
            resolve();
          }, 20 + rng.int(300));
        } else if (proc.exitCode !== null) reject(new Error(`child exited early: ${err}`));
        else setTimeout(wait, 10);
      };
      wait();
    });
    await new Promise((resolve) => proc.once('close', resolve));
    const flushedLines = out.split('\n').filter((l) => l.startsWith('flushed '));
    assert.ok(flushedLines.length > 0, `round ${round}: the child flushed (stderr: ${err})`);
    const lastFlushed = Number(flushedLines[flushedLines.length - 1].slice(8));

    const checked = run('qemu-img', 'check', 'crash.qcow2');
    if (process.env.TSVM_DEBUG) console.log(`round ${round}: last flush after op ${lastFlushed}, ${out.split('\n').length} lines, check exit ${checked.status}`);
    qemuCheck('crash.qcow2', true);
    const got = qemuRaw('crash.qcow2');

    // Replay: the state at the last flush, and what later operations may have left per sector.
    const flushed = baseline.slice();
    const later: { tag: number; first: number; end: number }[] = [];
    let n = 0;
    for (const op of crashOps(seed, sectors)) {
      if (n > lastFlushed + 4000) break;
      if (op.kind !== 'flush') {
        const data = op.kind === 'write' ? sectorData(op.tag, op.first, op.count) : new Uint8Array(op.count * 512);
        if (n < lastFlushed) flushed.set(data, op.first * 512);
        else later.push({ tag: op.kind === 'write' ? op.tag : 0, first: op.first, end: op.first + op.count });
      }
      n++;
    }
    for (let s = 0; s < sectors; s++) {
      const actual = got.subarray(s * 512, s * 512 + 512);
      if (Buffer.from(actual).equals(Buffer.from(flushed.subarray(s * 512, s * 512 + 512)))) continue;
      const ok = later.some(
        (w) => s >= w.first && s < w.end && Buffer.from(actual).equals(Buffer.from(w.tag === 0 ? new Uint8Array(512) : sectorData(w.tag, s, 1))),
      );
      if (!ok) assert.fail(`round ${round}: sector ${s} lost flushed data (last flush after op ${lastFlushed})`);
    }
    baseline = got;
  }
  // Leaks from the kills are repaired by our check, and then qemu-img finds nothing at all.
  const img = await open('crash.qcow2', { repair: true });
  const r = await check(img, { repair: 'all' });
  assert.equal(r.corruptions, 0);
  await img.close();
  assert.match(qemuCheck('crash.qcow2'), /No errors were found/);
  assert.ok(!existsSync(path('crash.qcow2.lock')), 'stale lock taken over and released');
});
