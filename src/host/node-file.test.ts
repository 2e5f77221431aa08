/** The Node BlockFile: positional I/O, error messages, the image lock, backing-path resolution. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { BlockError, createQcow2 } from '../block/index.js';
import { NodeBlockFile, openImageFile, resolveBackingPath } from './node-file.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvm-nodefile-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('reads, writes, sizes, truncates and flushes', async () => {
  const p = join(dir, 'f.bin');
  const f = await NodeBlockFile.open(p, { create: true });
  assert.equal(await f.size(), 0);
  await f.write(1000, new Uint8Array([1, 2, 3]));
  assert.equal(await f.size(), 1003);
  const buf = new Uint8Array(10);
  assert.equal(await f.read(998, buf), 5, 'short read at the end of the file');
  assert.deepEqual([...buf.subarray(0, 5)], [0, 0, 1, 2, 3]);
  await f.flush();
  await f.truncate(1 << 20);
  assert.equal(await f.size(), 1 << 20);
  await f.close();
  assert.ok(!existsSync(`${p}.lock`), 'lock released on close');
});

test('host errors are one-line BlockErrors naming the file', async () => {
  await assert.rejects(NodeBlockFile.open(join(dir, 'missing.img'), { readOnly: true }), (e: BlockError) => {
    return e instanceof BlockError && e.code === 'ENOENT' && e.message === `${join(dir, 'missing.img')}: No such file or directory`;
  });
  await assert.rejects(NodeBlockFile.open(dir, { readOnly: true }), (e: BlockError) => e instanceof BlockError && /directory/i.test(e.message));
});

test('an image open for writing cannot be opened for writing again; readers are allowed', async () => {
  const p = join(dir, 'locked.img');
  writeFileSync(p, new Uint8Array(4096));
  const a = await NodeBlockFile.open(p);
  assert.equal(readFileSync(`${p}.lock`, 'utf8'), `${process.pid} ${hostname()}\n`);
  await assert.rejects(NodeBlockFile.open(p), (e: BlockError) => e.code === 'ELOCKED' && e.message.includes(`process ${process.pid}`));
  const r = await NodeBlockFile.open(p, { readOnly: true });
  await r.close();
  await a.close();
  const b = await NodeBlockFile.open(p);
  await b.close();
});

test('another live process holding the lock is respected; a dead one\'s lock is taken over', async () => {
  const p = join(dir, 'shared.img');
  writeFileSync(p, new Uint8Array(4096));
  // A live holder: a child process sleeping with a lock file naming it.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  try {
    writeFileSync(`${p}.lock`, `${child.pid} ${hostname()}\n`);
    await assert.rejects(NodeBlockFile.open(p), (e: BlockError) => e.code === 'ELOCKED' && e.message.includes(`process ${child.pid}`) && e.message.includes('remove'));
  } finally {
    child.kill('SIGKILL');
  }
  // A dead holder: the lock is stale.
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(`${p}.lock`, `${gone.stdout} ${hostname()}\n`);
  const f = await NodeBlockFile.open(p);
  assert.equal(readFileSync(`${p}.lock`, 'utf8'), `${process.pid} ${hostname()}\n`);
  await f.close();
  // Another host's lock is never presumed stale.
  writeFileSync(`${p}.lock`, `1 some-other-host\n`);
  await assert.rejects(NodeBlockFile.open(p), { code: 'ELOCKED' });
  rmSync(`${p}.lock`);
});

test('backing files resolve relative to the image that names them', async () => {
  assert.equal(resolveBackingPath('base.raw', '/a/b/top.qcow2'), '/a/b/base.raw');
  assert.equal(resolveBackingPath('/abs/base.raw', '/a/b/top.qcow2'), '/abs/base.raw');
  assert.equal(resolveBackingPath('../c/base.raw', 'x/top.qcow2'), 'c/base.raw');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'base.raw'), new Uint8Array(1 << 20).fill(4));
  const top = await NodeBlockFile.open(join(dir, 'sub', 'top.qcow2'), { create: true });
  await createQcow2(top, { size: 1 << 20, backing: { name: 'base.raw', format: 'raw' } });
  await top.close();
  const img = await openImageFile(join(dir, 'sub', 'top.qcow2'), { readOnly: true });
  assert.equal(img.backing?.file.name, join(dir, 'sub', 'base.raw'));
  const buf = new Uint8Array(512);
  await img.read(4096, buf);
  assert.ok(buf.every((b) => b === 4));
  await img.close();
});
