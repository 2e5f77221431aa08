// The WebAssembly binary writer: LEB128 encodings and a module the host accepts and runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { wasmApi } from '../hart/wasm-api.js';
import { ByteWriter, Code, T, W, assembleModule } from './wasm.js';

const bytes = (f: (w: ByteWriter) => void): number[] => {
  const w = new ByteWriter();
  f(w);
  return [...w.finish()];
};

test('LEB128: unsigned and signed 32-bit, signed 64-bit', () => {
  assert.deepEqual(bytes((w) => w.u32(0)), [0]);
  assert.deepEqual(bytes((w) => w.u32(624485)), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(bytes((w) => w.u32(0xffff_ffff)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.deepEqual(bytes((w) => w.s32(-1)), [0x7f]);
  assert.deepEqual(bytes((w) => w.s32(63)), [0x3f]);
  assert.deepEqual(bytes((w) => w.s32(64)), [0xc0, 0x00]);
  assert.deepEqual(bytes((w) => w.s32(-123456)), [0xc0, 0xbb, 0x78]);
  assert.deepEqual(bytes((w) => w.s32(-0x8000_0000)), [0x80, 0x80, 0x80, 0x80, 0x78]);
  assert.deepEqual(bytes((w) => w.s64(-(2n ** 63n))), [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f]);
  assert.deepEqual(bytes((w) => w.s64(2n ** 63n - 1n)), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]);
  assert.deepEqual(bytes((w) => w.s64(0xffff_ffff)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
});

test('an assembled module validates, imports a memory and runs', () => {
  // f(a: i32) -> i64 = sext(mem[a] as i32) * 2^33 + i64.const(-5)
  const body = new Code();
  body.get(0);
  body.mem(W.I64Load32S, 2, 0);
  body.i64(2 ** 33);
  body.op(W.I64Mul);
  body.i64(-5);
  body.op(W.I64Add);
  body.op(W.End);
  const bin = assembleModule({
    types: [{ params: [T.I32], results: [T.I64] }],
    importFuncs: [],
    importMemory: { module: 'h', name: 'mem', minPages: 1 },
    funcs: [{ type: 0, locals: [], body }],
    exports: [{ name: 'f', func: 0 }],
  });
  assert.ok(wasmApi.validate(bin));
  const mem = new wasmApi.Memory({ initial: 1 });
  new Int32Array(mem.buffer)[2] = -3;
  const f = new wasmApi.Instance(new wasmApi.Module(bin), { h: { mem } }).exports.f;
  assert.equal(typeof f, 'function');
  assert.equal((f as (a: number) => bigint)(8), -3n * 2n ** 33n - 5n);
});

test('a module of many functions, long bodies and many locals: sizes of every LEB128 width', () => {
  // Function i: (a: i32) -> i32 with 1, 131 or 261 i32 locals, adding a to its copy in local 1
  // i times (bodies from 8 to ~1800 bytes, so entry sizes and the section size take 1-3 bytes),
  // and returning it; the bodies are views of one writer, as the translator passes them.
  const all = new Code(16);
  const funcs = [];
  const n = 300;
  for (let i = 0; i < n; i++) {
    const start = all.length;
    all.get(0);
    all.set(1);
    for (let j = 0; j < i; j++) {
      all.get(1);
      all.get(0);
      all.op(W.I32Add);
      all.set(1);
    }
    all.get(1);
    all.op(W.End);
    funcs.push({ type: 0, locals: [[1 + 130 * (i % 3), T.I32] as [number, T]], body: all.view(start, all.length) });
  }
  const types = [{ params: [T.I32], results: [T.I32] }];
  const bin = assembleModule({
    types,
    importFuncs: [],
    funcs,
    exports: [{ name: 'f0', func: 0 }, { name: 'f7', func: 7 }, { name: 'f299', func: 299 }],
  });
  assert.ok(wasmApi.validate(bin));
  const ex = new wasmApi.Instance(new wasmApi.Module(bin), {}).exports as Record<string, (a: number) => number>;
  assert.equal(ex.f0(5), 5);
  assert.equal(ex.f7(5), 40);
  assert.equal(ex.f299(5), 1500);
  // The next module reuses the assembler's buffers: the bytes returned before are a copy.
  const copy = Uint8Array.from(bin);
  const next = assembleModule({ types, importFuncs: [], funcs: funcs.slice(0, 1), exports: [{ name: 'f0', func: 0 }] });
  assert.ok(wasmApi.validate(next));
  assert.deepEqual(bin, copy);
});
