/**
 * A Flattened Device Tree builder: produces a DTB (format version 17, last compatible version 16)
 * as described in the Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree (DTB)
 * Format").
 *
 * Blob layout written here (all integers big-endian):
 *
 *   offset  block                       alignment
 *   0       header (10 x u32, 40 bytes)  8
 *   40      memory reservation block     8   pairs of u64 (address, size), ended by (0, 0)
 *   ...     structure block              4   tokens: FDT_BEGIN_NODE name\0 pad, FDT_PROP len
 *                                            nameoff value pad, FDT_END_NODE, ..., FDT_END
 *   ...     strings block                1   property names, NUL-terminated, deduplicated
 *
 * Header fields: magic 0xd00dfeed, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap,
 * version 17, last_comp_version 16, boot_cpuid_phys, size_dt_strings, size_dt_struct.
 *
 * Nodes and properties keep insertion order. Setting a property that exists replaces its value in
 * place. Phandles are allocated by the builder in call order (1, 2, ...), so a caller can reproduce
 * another tool's numbering by allocating in the same order.
 */

import { encodeUtf8 } from '../block/utf8.js';

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;
const FDT_HEADER_SIZE = 40;

export type FdtErrorCode = 'EINVAL' | 'EEXIST';

/** A programming or configuration error while building a tree (never guest-caused). */
export class FdtError extends Error {
  readonly code: FdtErrorCode;
  constructor(code: FdtErrorCode, message: string) {
    super(message);
    this.name = 'FdtError';
    this.code = code;
  }
}

/** Node names: 1..31 characters of [0-9a-zA-Z,._+-], then optionally @unit-address (spec §2.2.1). */
const NODE_NAME = /^[0-9a-zA-Z,._+-]{1,31}(@[0-9a-zA-Z,._+-]+)?$/;
/** Property names: 1..31 characters of [0-9a-zA-Z,._+?#-] (spec §2.2.4). */
const PROP_NAME = /^[0-9a-zA-Z,._+?#-]{1,31}$/;

export interface FdtProperty {
  readonly name: string;
  value: Uint8Array;
}

export class FdtNode {
  readonly name: string;
  readonly children: FdtNode[] = [];
  readonly properties: FdtProperty[] = [];

  /** Use FdtBuilder.root and addNode(); the root's name is empty. */
  constructor(name: string) {
    this.name = name;
  }

  /** Adds a child node (names must be unique among siblings). */
  addNode(name: string): FdtNode {
    if (!NODE_NAME.test(name)) throw new FdtError('EINVAL', `invalid device tree node name '${name}'`);
    if (this.child(name) !== undefined) {
      throw new FdtError('EEXIST', `node '${name}' already exists under '${this.name || '/'}'`);
    }
    const node = new FdtNode(name);
    this.children.push(node);
    return node;
  }

  child(name: string): FdtNode | undefined {
    return this.children.find((c) => c.name === name);
  }

  getProperty(name: string): Uint8Array | undefined {
    return this.properties.find((p) => p.name === name)?.value;
  }

  /** Sets a property to raw bytes (copied). */
  setBytes(name: string, value: Uint8Array): this {
    if (!PROP_NAME.test(name)) throw new FdtError('EINVAL', `invalid device tree property name '${name}'`);
    const copy = value.slice();
    const existing = this.properties.find((p) => p.name === name);
    if (existing !== undefined) existing.value = copy;
    else this.properties.push({ name, value: copy });
    return this;
  }

  /** A property with no value (a boolean such as `interrupt-controller`). */
  setEmpty(name: string): this {
    return this.setBytes(name, new Uint8Array(0));
  }

  setU32(name: string, value: number): this {
    return this.setU32Array(name, [value]);
  }

  /** A <prop-encoded-array> of 32-bit cells. */
  setU32Array(name: string, values: readonly number[]): this {
    const out = new Uint8Array(values.length * 4);
    const dv = new DataView(out.buffer);
    values.forEach((v, i) => dv.setUint32(i * 4, checkU32(name, v)));
    return this.setBytes(name, out);
  }

  /** A 64-bit value (two cells, high first). Numbers must be safe integers. */
  setU64(name: string, value: number | bigint): this {
    return this.setU64Array(name, [value]);
  }

  setU64Array(name: string, values: readonly (number | bigint)[]): this {
    const out = new Uint8Array(values.length * 8);
    const dv = new DataView(out.buffer);
    values.forEach((v, i) => dv.setBigUint64(i * 8, checkU64(name, v)));
    return this.setBytes(name, out);
  }

  /** A NUL-terminated string (UTF-8). */
  setString(name: string, value: string): this {
    return this.setStringList(name, [value]);
  }

  /** A <stringlist>: NUL-terminated strings one after another. */
  setStringList(name: string, values: readonly string[]): this {
    const parts = values.map((s) => {
      if (s.includes('\0')) throw new FdtError('EINVAL', `property '${name}' holds a string with a NUL`);
      return encodeUtf8(s);
    });
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length + 1; // the NUL is already 0
    }
    return this.setBytes(name, out);
  }

  /** Sets this node's `phandle` property. */
  setPhandle(phandle: number): this {
    return this.setU32('phandle', phandle);
  }
}

export class FdtBuilder {
  readonly root = new FdtNode('');
  /** Physical id of the boot CPU (header field boot_cpuid_phys). */
  bootCpuId = 0;
  private readonly reservations: [bigint, bigint][] = [];
  private nextPhandle = 1;

  /** Returns a fresh phandle (1, 2, ... in call order). */
  allocatePhandle(): number {
    return this.nextPhandle++;
  }

  /** Adds an entry to the memory reservation block. */
  addReservation(address: number | bigint, size: number | bigint): void {
    this.reservations.push([checkU64('reservation address', address), checkU64('reservation size', size)]);
  }

  /** Looks a node up by absolute path ("/soc/plic@c000000"); undefined when absent. */
  node(path: string): FdtNode | undefined {
    if (!path.startsWith('/')) return undefined;
    let node: FdtNode | undefined = this.root;
    for (const part of path.split('/').filter((p) => p !== '')) {
      node = node.child(part);
      if (node === undefined) return undefined;
    }
    return node;
  }

  /** Serializes the tree into a DTB. */
  build(): Uint8Array {
    // Strings block: each property name once.
    const nameOffsets = new Map<string, number>();
    const strings = new ByteWriter();
    const structure = new ByteWriter();
    const emitNode = (node: FdtNode): void => {
      structure.u32(FDT_BEGIN_NODE);
      structure.bytes(encodeUtf8(node.name));
      structure.u8(0);
      structure.align(4);
      for (const p of node.properties) {
        let off = nameOffsets.get(p.name);
        if (off === undefined) {
          off = strings.length;
          nameOffsets.set(p.name, off);
          strings.bytes(encodeUtf8(p.name));
          strings.u8(0);
        }
        structure.u32(FDT_PROP);
        structure.u32(p.value.length);
        structure.u32(off);
        structure.bytes(p.value);
        structure.align(4);
      }
      for (const c of node.children) emitNode(c);
      structure.u32(FDT_END_NODE);
    };
    emitNode(this.root);
    structure.u32(FDT_END);

    const rsvOffset = FDT_HEADER_SIZE; // 40: already 8-aligned
    const rsvSize = (this.reservations.length + 1) * 16;
    const structOffset = rsvOffset + rsvSize; // 8-aligned, hence 4-aligned
    const stringsOffset = structOffset + structure.length;
    const total = stringsOffset + strings.length;

    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, FDT_MAGIC);
    dv.setUint32(4, total);
    dv.setUint32(8, structOffset);
    dv.setUint32(12, stringsOffset);
    dv.setUint32(16, rsvOffset);
    dv.setUint32(20, FDT_VERSION);
    dv.setUint32(24, FDT_LAST_COMP_VERSION);
    dv.setUint32(28, checkU32('boot_cpuid_phys', this.bootCpuId));
    dv.setUint32(32, strings.length);
    dv.setUint32(36, structure.length);
    this.reservations.forEach(([a, s], i) => {
      dv.setBigUint64(rsvOffset + i * 16, a);
      dv.setBigUint64(rsvOffset + i * 16 + 8, s);
    });
    // The terminating (0, 0) entry is already zero.
    out.set(structure.result(), structOffset);
    out.set(strings.result(), stringsOffset);
    return out;
  }
}

/** A growable big-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1024);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }

  u32(v: number): void {
    this.reserve(4);
    const b = this.buf;
    const at = this.length;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
    this.length += 4;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.length);
    this.length += data.length;
  }

  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function checkU32(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new FdtError('EINVAL', `${what}: ${v} is not an unsigned 32-bit integer`);
  }
  return v;
}

function checkU64(what: string, v: number | bigint): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new FdtError('EINVAL', `${what}: ${v} is not an unsigned integer below 2^53`);
    }
    return BigInt(v);
  }
  if (v < 0n || v >= 1n << 64n) throw new FdtError('EINVAL', `${what}: ${v} is not an unsigned 64-bit integer`);
  return v;
}
