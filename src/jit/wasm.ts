/**
 * A minimal WebAssembly binary writer (WebAssembly core specification 2.0, chapter 5): LEB128
 * numbers, the opcodes the translator emits, and module assembly from types, imports, functions
 * and exports.
 */

/** Value types. */
export const enum T {
  I32 = 0x7f,
  I64 = 0x7e,
  F32 = 0x7d,
  F64 = 0x7c,
  /** Block type of a block with no result. */
  Void = 0x40,
}

/** Opcodes (one byte each). */
export const enum W {
  Unreachable = 0x00,
  Block = 0x02,
  Loop = 0x03,
  If = 0x04,
  Else = 0x05,
  End = 0x0b,
  Br = 0x0c,
  BrIf = 0x0d,
  BrTable = 0x0e,
  Return = 0x0f,
  Call = 0x10,
  CallIndirect = 0x11,
  Drop = 0x1a,
  Select = 0x1b,
  LocalGet = 0x20,
  LocalSet = 0x21,
  LocalTee = 0x22,
  I32Load = 0x28,
  I64Load = 0x29,
  F64Load = 0x2b,
  I32Load16S = 0x2e,
  I64Load8S = 0x30,
  I64Load8U = 0x31,
  I64Load16S = 0x32,
  I64Load16U = 0x33,
  I64Load32S = 0x34,
  I64Load32U = 0x35,
  I32Store = 0x36,
  I64Store = 0x37,
  I64Store8 = 0x3c,
  I64Store16 = 0x3d,
  I64Store32 = 0x3e,
  I32Const = 0x41,
  I64Const = 0x42,
  I32Eqz = 0x45,
  I32Eq = 0x46,
  I32Ne = 0x47,
  I32LtS = 0x48,
  I32LtU = 0x49,
  I32GeS = 0x4e,
  I64Eqz = 0x50,
  I64Eq = 0x51,
  I64Ne = 0x52,
  I64LtS = 0x53,
  I64LtU = 0x54,
  I64GeS = 0x59,
  I64GeU = 0x5a,
  F64Eq = 0x61,
  F64Ne = 0x62,
  I32Add = 0x6a,
  I32Sub = 0x6b,
  I32Mul = 0x6c,
  I32DivS = 0x6d,
  I32DivU = 0x6e,
  I32RemS = 0x6f,
  I32RemU = 0x70,
  I32And = 0x71,
  I32Or = 0x72,
  I32Xor = 0x73,
  I32Shl = 0x74,
  I32ShrS = 0x75,
  I32ShrU = 0x76,
  I64Add = 0x7c,
  I64Sub = 0x7d,
  I64Mul = 0x7e,
  I64DivS = 0x7f,
  I64DivU = 0x80,
  I64RemS = 0x81,
  I64RemU = 0x82,
  I64And = 0x83,
  I64Or = 0x84,
  I64Xor = 0x85,
  I64Shl = 0x86,
  I64ShrS = 0x87,
  I64ShrU = 0x88,
  I32WrapI64 = 0xa7,
  I64ExtendI32S = 0xac,
  I64ExtendI32U = 0xad,
  F64ConvertI64S = 0xb9,
  I64Extend32S = 0xc4,
}

/** Writes the unsigned LEB128 of `v` (below 2^32) at `i`; returns the index after it. */
function putU32(buf: Uint8Array, i: number, v: number): number {
  let x = v >>> 0;
  while (x >= 0x80) {
    buf[i++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  buf[i++] = x;
  return i;
}

/** Writes the signed LEB128 of `v` (in [-2^31, 2^31)) at `i`; returns the index after it. */
function putS32(buf: Uint8Array, i: number, v: number): number {
  let x = v | 0;
  for (;;) {
    const b = x & 0x7f;
    x >>= 7;
    if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) {
      buf[i++] = b;
      return i;
    }
    buf[i++] = b | 0x80;
  }
}

/** A growable byte buffer with LEB128 encoders. */
export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** Makes room for `n` more bytes at once (the writes after it then never copy). */
  reserve(n: number): void {
    this.ensure(n);
  }

  private ensure(n: number): void {
    if (this.length + n > this.buf.length) this.grow(n);
  }

  /** The buffer, with room for `n` more bytes (the emitters write to it directly). */
  protected room(n: number): Uint8Array {
    if (this.length + n > this.buf.length) this.grow(n);
    return this.buf;
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1)[this.length++] = b;
  }

  bytes(data: ArrayLike<number>): void {
    this.ensure(data.length);
    for (let i = 0; i < data.length; i++) this.buf[this.length++] = data[i];
  }

  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  u32(v: number): void {
    this.length = putU32(this.room(5), this.length, v);
  }

  /** Signed LEB128 of an integer in [-2^31, 2^31). */
  s32(v: number): void {
    this.length = putS32(this.room(5), this.length, v);
  }

  /** Signed LEB128 of a 64-bit integer (a safe integer number, or any bigint in [-2^63, 2^63)). */
  s64(v: number | bigint): void {
    if (typeof v === 'number' && v >= -0x8000_0000 && v <= 0x7fff_ffff) {
      this.s32(v);
      return;
    }
    let x = BigInt.asIntN(64, BigInt(v));
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  /** A name: its UTF-8 length, then its bytes (ASCII only here). */
  name(s: string): void {
    this.u32(s.length);
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i) & 0x7f);
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** Appends another writer's bytes, preceded by their length. */
  sized(w: ByteWriter): void {
    this.u32(w.length);
    this.append(w);
  }

  /** Appends another writer's bytes (or a byte array). */
  append(w: ByteWriter | Uint8Array): void {
    const src = w instanceof Uint8Array ? w : w.buf.subarray(0, w.length);
    this.ensure(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
  }

  /** A view of bytes [start, end) written so far (valid until the next write). */
  view(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }
}

/** A function body under construction: locals and an instruction stream. */
export class Code extends ByteWriter {
  op(o: W): void {
    this.room(1)[this.length++] = o;
  }
  get(local: number): void {
    this.opU32(W.LocalGet, local);
  }
  set(local: number): void {
    this.opU32(W.LocalSet, local);
  }
  tee(local: number): void {
    this.opU32(W.LocalTee, local);
  }
  i32(v: number): void {
    const buf = this.room(6);
    buf[this.length] = W.I32Const;
    this.length = putS32(buf, this.length + 1, v);
  }
  /** An opcode and an unsigned LEB128 immediate. */
  private opU32(o: number, v: number): void {
    const buf = this.room(6);
    buf[this.length] = o;
    this.length = putU32(buf, this.length + 1, v);
  }
  i64(v: number | bigint): void {
    this.byte(W.I64Const);
    this.s64(v);
  }
  /** A load from a constant address: `i32.const 0`, the load, its alignment exponent and offset. */
  loadAt(o: W, alignLog2: number, offset: number): void {
    const buf = this.room(13);
    buf[this.length] = W.I32Const;
    buf[this.length + 1] = 0;
    buf[this.length + 2] = o;
    this.length = putU32(buf, putU32(buf, this.length + 3, alignLog2), offset);
  }
  /** A load or store with its alignment exponent and constant offset. */
  mem(o: W, alignLog2: number, offset: number): void {
    const buf = this.room(11);
    buf[this.length] = o;
    this.length = putU32(buf, putU32(buf, this.length + 1, alignLog2), offset);
  }
  block(type: T = T.Void): void {
    this.byte(W.Block);
    this.byte(type);
  }
  loop(type: T = T.Void): void {
    this.byte(W.Loop);
    this.byte(type);
  }
  if(type: T = T.Void): void {
    this.byte(W.If);
    this.byte(type);
  }
  br(depth: number): void {
    this.opU32(W.Br, depth);
  }
  brIf(depth: number): void {
    this.opU32(W.BrIf, depth);
  }
  call(func: number): void {
    this.opU32(W.Call, func);
  }
  /** return_call (tail call proposal, in every current engine): the callee replaces this frame. */
  returnCall(func: number): void {
    this.opU32(0x12, func);
  }
  /** return_call_indirect through table 0 with a function of type `type` (index on the stack). */
  returnCallIndirect(type: number): void {
    this.byte(0x13);
    this.u32(type);
    this.byte(0x00);
  }
  /** call_indirect through table 0 with a function of type `type` (index on the stack). */
  callIndirect(type: number): void {
    this.byte(W.CallIndirect);
    this.u32(type);
    this.byte(0x00);
  }
}

export interface FuncType {
  params: T[];
  results: T[];
}

export interface FuncDef {
  type: number;
  /** Local declarations after the parameters: [count, type] runs. */
  locals: [number, T][];
  /** The instructions, ending with W.End. */
  body: ByteWriter | Uint8Array;
}

export interface ModuleDef {
  types: FuncType[];
  /** Imported functions, in function-index order before the defined ones. */
  importFuncs: { module: string; name: string; type: number }[];
  /** An imported memory (module, name, minimum pages). */
  importMemory?: { module: string; name: string; minPages: number };
  /** An imported table of functions (module, name, minimum size). */
  importTable?: { module: string; name: string; min: number };
  funcs: FuncDef[];
  /** Exported functions: name and function index (imports first). */
  exports: { name: string; func: number }[];
}

function section(out: ByteWriter, id: number, content: ByteWriter): void {
  out.byte(id);
  out.sized(content);
}

/** Bytes of the unsigned LEB128 encoding of `v` (below 2^32). */
function u32Size(v: number): number {
  let n = 1;
  for (let x = v >>> 7; x !== 0; x >>>= 7) n++;
  return n;
}

/**
 * Where modules are assembled, reused from one to the next (a translation module is ~10-300 KiB:
 * allocating and zeroing fresh buffers for it, then copying it from buffer to buffer, was a
 * fifth of the translator's time). Small sections go through `sectionScratch`. Both start small,
 * so that they grow in the warm-up's first modules already (a path first run in the guest's
 * would cost a deoptimisation).
 */
const moduleScratch = new ByteWriter(16);
const sectionScratch = new ByteWriter(16);

/** Assembles a module's binary. */
export function assembleModule(m: ModuleDef): Uint8Array {
  const out = moduleScratch;
  const sec = sectionScratch;
  out.length = 0;
  out.bytes(WASM_HEADER);

  sec.length = 0;
  sec.u32(m.types.length);
  for (const t of m.types) {
    sec.byte(0x60);
    sec.u32(t.params.length);
    for (const p of t.params) sec.byte(p);
    sec.u32(t.results.length);
    for (const r of t.results) sec.byte(r);
  }
  section(out, 1, sec);

  sec.length = 0;
  sec.u32(m.importFuncs.length + (m.importMemory === undefined ? 0 : 1) + (m.importTable === undefined ? 0 : 1));
  if (m.importTable !== undefined) {
    sec.name(m.importTable.module);
    sec.name(m.importTable.name);
    sec.byte(0x01);
    sec.byte(0x70); // funcref
    sec.byte(0x00); // limits: minimum only
    sec.u32(m.importTable.min);
  }
  if (m.importMemory !== undefined) {
    sec.name(m.importMemory.module);
    sec.name(m.importMemory.name);
    sec.byte(0x02);
    sec.byte(0x00); // limits: minimum only
    sec.u32(m.importMemory.minPages);
  }
  for (const f of m.importFuncs) {
    sec.name(f.module);
    sec.name(f.name);
    sec.byte(0x00);
    sec.u32(f.type);
  }
  section(out, 2, sec);

  sec.length = 0;
  sec.u32(m.funcs.length);
  for (const f of m.funcs) sec.u32(f.type);
  section(out, 3, sec);

  sec.length = 0;
  sec.u32(m.exports.length);
  for (const e of m.exports) {
    sec.name(e.name);
    sec.byte(0x00);
    sec.u32(e.func);
  }
  section(out, 7, sec);

  // The code section, written in place: its size first (each entry is its size, the local
  // declarations and the body), then the entries.
  let size = u32Size(m.funcs.length);
  for (const f of m.funcs) {
    const n = localsSize(f) + f.body.length;
    size += u32Size(n) + n;
  }
  out.byte(10);
  out.u32(size);
  out.u32(m.funcs.length);
  for (const f of m.funcs) {
    out.u32(localsSize(f) + f.body.length);
    out.u32(f.locals.length);
    for (const [count, type] of f.locals) {
      out.u32(count);
      out.byte(type);
    }
    out.append(f.body); // the body's instructions end with W.End (the caller writes it)
  }
  return out.finish();
}

/** Bytes of a function's local declarations. */
function localsSize(f: FuncDef): number {
  let n = u32Size(f.locals.length);
  for (const [count] of f.locals) n += u32Size(count) + 1;
  return n;
}

const WASM_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
