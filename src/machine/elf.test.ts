import { repoRoot } from '../../test/support/repo-root.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parseElf, loadElf, elfVirtToPhys, ElfError, PF_R, PF_W, PF_X, type ElfErrorCode } from './elf.js';
import { PhysicalMemory } from '../hart/index.js';

const root = repoRoot(import.meta.url);
const fixture = (p: string): Uint8Array => new Uint8Array(readFileSync(join(root, 'test/fixtures', p)));

function expectElfError(bytes: Uint8Array, code: ElfErrorCode, pattern?: RegExp): void {
  assert.throws(
    () => parseElf(bytes),
    (e: unknown) => {
      assert.ok(e instanceof ElfError, `expected ElfError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.ok(!e.message.includes('\n'), 'message is one line');
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
  );
}

function patch(bytes: Uint8Array, fn: (view: DataView, b: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  fn(new DataView(copy.buffer), copy);
  return copy;
}

test('parses a real bare-metal ELF: entry, segments, symbols', () => {
  const img = parseElf(fixture('bare/hello.elf'));
  assert.equal(img.entry, 0x8000_0000n);
  assert.equal(img.entryPhys, 0x8000_0000n);
  assert.equal(img.symbols.get('tohost'), 0x8000_1000n);
  assert.equal(img.symbols.get('fromhost'), 0x8000_1040n);
  assert.equal(img.symbols.get('_start'), 0x8000_0000n);
  assert.ok(img.segments.length >= 1);
  const text = img.segments.find((s) => s.paddr === 0x8000_0000n);
  assert.ok(text);
  assert.ok((text.flags & PF_X) !== 0 && (text.flags & PF_R) !== 0);
  // First instruction: lui t0, 0x10000 (0x100002b7).
  assert.deepEqual([...text.data.subarray(0, 4)], [0xb7, 0x02, 0x00, 0x10]);
});

test('zero-fills bss (memSize > file size) and prefers global symbols', () => {
  const img = parseElf(fixture('elf/sections.elf'));
  const seg = img.segments.find((s) => s.memSize > BigInt(s.data.length));
  assert.ok(seg, 'a segment with bss');
  assert.ok((seg.flags & PF_W) !== 0);
  assert.equal(img.symbols.get('dup'), 0x8000_1018n, 'global dup wins over the local one');
  const bss = img.symbols.get('big_bss');
  const marker = img.symbols.get('marker');
  assert.ok(bss !== undefined && marker !== undefined);

  const mem = new PhysicalMemory();
  mem.addRam(0x8000_0000, 1 << 20);
  // Dirty the bss area first: loading must zero it.
  mem.writeBytes(Number(bss), new Uint8Array(65536).fill(0xaa));
  loadElf(img, mem);
  assert.equal(mem.readPhys(Number(marker), 8), 0x0123456789abcdefn);
  const bssBytes = mem.readBytes(Number(bss), 65536);
  assert.ok(bssBytes.every((b) => b === 0), 'bss is zero');
  assert.equal(mem.readPhys(0x8000_0000, 4), 0xa001n); // c.j 0 (j _start)
  assert.equal(elfVirtToPhys(img, marker), marker);
  assert.equal(elfVirtToPhys(img, 0x1000n), undefined);
});

test('loadElf refuses segments outside RAM and writes nothing', () => {
  const img = parseElf(fixture('bare/hello.elf'));
  const mem = new PhysicalMemory();
  mem.addRam(0x8000_0000, 0x1000); // too small for the data page at 0x80001000
  assert.throws(
    () => loadElf(img, mem),
    (e: unknown) => e instanceof ElfError && e.code === 'ENOTRAM' && /0x80001000/.test(e.message),
  );
  assert.equal(mem.readPhys(0x8000_0000, 4), 0n, 'nothing was written');
  const none = new PhysicalMemory();
  assert.throws(() => loadElf(img, none), (e: unknown) => e instanceof ElfError && e.code === 'ENOTRAM');
});

test('rejects files that are not ELF', () => {
  expectElfError(new Uint8Array(0), 'ENOTELF');
  expectElfError(new Uint8Array([0x7f, 0x45, 0x4c]), 'ENOTELF');
  expectElfError(new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'ENOTELF');
  expectElfError(patch(fixture('bare/hello.elf'), (_v, b) => (b[1] = 0x46)), 'ENOTELF', /magic/);
});

test('rejects wrong class, byte order, type and machine', () => {
  const good = fixture('bare/hello.elf');
  expectElfError(patch(good, (_v, b) => (b[4] = 1)), 'EBADCLASS', /32-bit/);
  expectElfError(patch(good, (_v, b) => (b[4] = 9)), 'EBADCLASS');
  expectElfError(patch(good, (_v, b) => (b[5] = 2)), 'EBADDATA');
  expectElfError(patch(good, (_v, b) => (b[6] = 0)), 'EBADVERSION');
  expectElfError(patch(good, (v) => v.setUint16(18, 62, true)), 'EMACHINE', /^not a RISC-V 64 ELF \(e_machine 62\)$/);
  expectElfError(patch(good, (v) => v.setUint16(16, 1, true)), 'ETYPE'); // ET_REL
});

test('rejects a host x86-64 executable', { skip: !existsSync('/bin/true') }, () => {
  const bytes = new Uint8Array(readFileSync('/bin/true'));
  if (bytes[0] !== 0x7f || bytes[4] !== 2 || bytes[18] !== 62) return; // not an x86-64 host
  expectElfError(bytes, 'EMACHINE', /e_machine 62/);
});

test('rejects truncated files at every length', () => {
  const good = fixture('bare/hello.elf');
  // Every prefix must fail cleanly with an ElfError (never a RangeError from DataView).
  const codes = new Set<string>();
  for (let n = 0; n < good.length; n += n < 256 ? 1 : 97) {
    try {
      parseElf(good.subarray(0, n));
      // A prefix can parse only if it still holds every segment and table, which this file does not.
      assert.fail(`prefix of ${n} bytes parsed`);
    } catch (e) {
      assert.ok(e instanceof ElfError, `prefix ${n}: ${String(e)}`);
      codes.add(e.code);
    }
  }
  assert.ok(codes.has('ETRUNC'));
  expectElfError(good.subarray(0, 40), 'ETRUNC', /header/);
});

test('rejects headers and segments pointing past the end or with absurd sizes', () => {
  const good = fixture('bare/hello.elf');
  const phoff = Number(new DataView(good.buffer, good.byteOffset).getBigUint64(32, true));
  // Locate the first PT_LOAD program header.
  const view = new DataView(good.buffer, good.byteOffset);
  let load = -1;
  for (let i = 0; i < view.getUint16(56, true); i++) {
    if (view.getUint32(phoff + i * 56, true) === 1) {
      load = phoff + i * 56;
      break;
    }
  }
  assert.ok(load > 0);
  expectElfError(patch(good, (v) => v.setBigUint64(32, 0xffff_ffff_ffff_0000n, true)), 'ETRUNC', /program headers/);
  expectElfError(patch(good, (v) => v.setUint16(56, 0, true)), 'ENOSEG');
  expectElfError(patch(good, (v) => v.setUint16(54, 8, true)), 'EBADHDR');
  expectElfError(patch(good, (v) => v.setBigUint64(load + 8, 0xffff_ffff_0000n, true)), 'ETRUNC', /segment/);
  expectElfError(patch(good, (v) => v.setBigUint64(load + 32, 0x100000n, true)), 'EBADSEG'); // filesz > memsz
  expectElfError(
    patch(good, (v) => {
      v.setBigUint64(load + 40, 0x7fff_ffff_ffff_ffffn, true);
    }),
    'EBADSEG',
    /absurd/,
  );
  expectElfError(
    patch(good, (v) => {
      v.setBigUint64(load + 24, 0xffff_ffff_ffff_fff0n, true); // paddr + memsz wraps
    }),
    'EBADSEG',
  );
  expectElfError(patch(good, (v) => v.setBigUint64(40, 0xffff_ffff_0000n, true)), 'ETRUNC', /section/);
  expectElfError(patch(good, (v) => v.setBigUint64(24, 0x1234n, true)), 'EENTRY', /0x1234/);
});

test('rejects overlapping segments', () => {
  const good = fixture('bare/hello.elf');
  const view = new DataView(good.buffer, good.byteOffset);
  const phoff = Number(view.getBigUint64(32, true));
  const loads: number[] = [];
  for (let i = 0; i < view.getUint16(56, true); i++) {
    if (view.getUint32(phoff + i * 56, true) === 1) loads.push(phoff + i * 56);
  }
  assert.ok(loads.length >= 2, 'hello.elf has two PT_LOAD segments');
  expectElfError(
    patch(good, (v) => {
      v.setBigUint64(loads[1] + 24, 0x8000_0010n, true); // second segment's paddr inside the first
    }),
    'EOVERLAP',
  );
});

test('rejects malformed symbol tables', () => {
  const good = fixture('bare/hello.elf');
  const view = new DataView(good.buffer, good.byteOffset);
  const shoff = Number(view.getBigUint64(40, true));
  const shnum = view.getUint16(60, true);
  let symtab = -1;
  for (let i = 0; i < shnum; i++) if (view.getUint32(shoff + i * 64 + 4, true) === 2) symtab = shoff + i * 64;
  assert.ok(symtab > 0);
  expectElfError(patch(good, (v) => v.setUint32(symtab + 40, 0, true)), 'EBADSYM'); // sh_link
  expectElfError(patch(good, (v) => v.setUint32(symtab + 40, 999, true)), 'EBADSYM');
  expectElfError(patch(good, (v) => v.setBigUint64(symtab + 32, 0xffff_ffffn, true)), 'ETRUNC', /symbol table/);
  // A named symbol whose name offset points past the string table.
  const symOff = Number(view.getBigUint64(symtab + 24, true));
  const symCount = Number(view.getBigUint64(symtab + 32, true)) / 24;
  let named = -1;
  for (let i = 1; i < symCount && named < 0; i++) {
    const at = symOff + i * 24;
    if (view.getUint32(at, true) !== 0 && (view.getUint8(at + 4) & 0xf) < 3 && view.getUint16(at + 6, true) !== 0) named = at;
  }
  assert.ok(named > 0);
  expectElfError(patch(good, (v) => v.setUint32(named, 0xffff_fff0, true)), 'EBADSYM');
});

test('a stripped ELF has no symbols but still parses', () => {
  const good = fixture('bare/hello.elf');
  const img = parseElf(patch(good, (v) => v.setBigUint64(40, 0n, true)));
  assert.equal(img.symbols.size, 0);
});

test('random corruption never escapes as anything but ElfError', () => {
  const good = fixture('bare/hello.elf');
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < 2000; round++) {
    const b = good.slice();
    const flips = 1 + rand(8);
    for (let i = 0; i < flips; i++) {
      // Mostly hit the headers (first 512 bytes and the section table at the end).
      const at = rand(3) === 0 ? rand(b.length) : rand(2) === 0 ? rand(512) : b.length - 1 - rand(600);
      b[at] = rand(256);
    }
    try {
      parseElf(b);
    } catch (e) {
      assert.ok(e instanceof ElfError, `round ${round}: ${String(e)}`);
    }
  }
});

const gcc = 'riscv64-unknown-elf-gcc';
const haveGcc = spawnSync(gcc, ['--version']).status === 0;

test('parses an ELF freshly built by riscv64-unknown-elf-gcc from C', { skip: !haveGcc && 'no cross compiler' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-elf-'));
  try {
    writeFileSync(
      join(dir, 'prog.c'),
      [
        'volatile unsigned long tohost __attribute__((section(".tohost")));',
        'unsigned long counter = 42;',
        'unsigned long table[1000];',
        'void _start(void) { table[3] = counter; tohost = (table[3] == 42) ? 1 : 3; for (;;) {} }',
        '',
      ].join('\n'),
    );
    const r = spawnSync(
      gcc,
      ['-O1', '-nostdlib', '-march=rv64imac', '-mabi=lp64', '-mcmodel=medany', '-Wl,--no-warn-rwx-segments',
        '-T', join(root, 'test/fixtures/bare/link.ld'), '-o', join(dir, 'prog.elf'), join(dir, 'prog.c')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const img = parseElf(new Uint8Array(readFileSync(join(dir, 'prog.elf'))));
    assert.equal(img.entry, img.symbols.get('_start'));
    assert.equal(img.symbols.get('tohost'), 0x8000_1000n);
    assert.ok(img.symbols.has('table'));
    const mem = new PhysicalMemory();
    mem.addRam(0x8000_0000, 1 << 20);
    loadElf(img, mem);
    const counter = img.symbols.get('counter');
    assert.ok(counter !== undefined);
    assert.equal(mem.readPhys(Number(counter), 8), 42n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
