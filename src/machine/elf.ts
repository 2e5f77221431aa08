/**
 * ELF64 little-endian loader for RISC-V executables (ELF spec, "System V ABI" gABI chapters 4-5;
 * RISC-V psABI for EM_RISCV = 243).
 *
 * The file is untrusted input: every offset, count and size is checked against the file length
 * and against sane limits before it is used, and any problem is reported as an ElfError with a
 * short code and a one-line message (the caller adds the file name).
 *
 * Only what a machine needs to boot a program is parsed: the file header, the PT_LOAD program
 * headers, and the symbol table (SHT_SYMTAB and its linked string table) so callers can find
 * symbols such as `tohost` and `fromhost`. Not a hot path: DataView and BigInt are fine here.
 */

import type { PhysicalMemory } from '../hart/index.js';

/** ElfError codes. */
export type ElfErrorCode =
  | 'ENOTELF' // bad magic, or a file too short to hold an identification
  | 'EBADCLASS' // not ELFCLASS64
  | 'EBADDATA' // not little-endian
  | 'EBADVERSION' // EI_VERSION / e_version is not EV_CURRENT
  | 'ETYPE' // not an executable (ET_EXEC / ET_DYN)
  | 'EMACHINE' // e_machine is not EM_RISCV
  | 'ETRUNC' // a header, table or segment lies past the end of the file
  | 'EBADHDR' // inconsistent header fields (entry sizes, counts)
  | 'EBADSEG' // a segment with impossible sizes or addresses
  | 'EOVERLAP' // two PT_LOAD segments overlap
  | 'ENOSEG' // no loadable segment
  | 'EENTRY' // the entry point is not inside a loaded segment
  | 'EBADSYM' // malformed symbol or string table
  | 'ENOSYM' // a required symbol is missing
  | 'ENOTRAM'; // a segment does not fit in guest RAM

export class ElfError extends Error {
  readonly code: ElfErrorCode;
  constructor(code: ElfErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ElfError';
    this.code = code;
  }
}

/** Segment permission bits (p_flags). */
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const EM_RISCV = 243;
export const ET_EXEC = 2;
export const ET_DYN = 3;

export interface ElfSegment {
  /** Physical load address (p_paddr). */
  readonly paddr: bigint;
  /** Virtual address (p_vaddr). */
  readonly vaddr: bigint;
  /** The p_filesz bytes from the file (a copy). */
  readonly data: Uint8Array;
  /** p_memsz: bytes past data.length up to memSize are zero-filled. */
  readonly memSize: bigint;
  /** p_flags: PF_R | PF_W | PF_X. */
  readonly flags: number;
}

export interface ElfImage {
  /** e_entry, as written in the file (a virtual address). */
  readonly entry: bigint;
  /** The physical address of the entry point (e_entry moved by its segment's paddr - vaddr). */
  readonly entryPhys: bigint;
  /** e_type: ET_EXEC or ET_DYN. */
  readonly type: number;
  /** e_flags (RISC-V: float ABI, RVC, RVE, TSO). */
  readonly flags: number;
  /** PT_LOAD segments with a nonzero memory size, in file order. */
  readonly segments: readonly ElfSegment[];
  /** Named symbols (st_value); a global symbol wins over a local one of the same name. */
  readonly symbols: ReadonlyMap<string, bigint>;
}

// Limits against absurd files. Guest RAM is below 4 GiB in one arena, so no real segment is larger.
const MAX_SEGMENT_BYTES = 1n << 32n;
const MAX_PHNUM = 4096; // far more than any linker emits
const MAX_SHNUM = 65536;
const MAX_SYMBOL_NAME = 4096;
const U64_LIMIT = 1n << 64n;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;

const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHN_UNDEF = 0;
const SHN_XINDEX = 0xffff;
const PN_XNUM = 0xffff;
const STB_LOCAL = 0;
const STT_SECTION = 3;
const STT_FILE = 4;

/** Parses and validates an ELF64 RISC-V executable. Throws ElfError on any problem. */
export function parseElf(bytes: Uint8Array): ElfImage {
  const size = bytes.length;
  if (size < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError('ENOTELF', 'not an ELF file (bad magic)');
  }
  if (size < 16) throw new ElfError('ETRUNC', `truncated ELF identification (${size} bytes)`);
  if (bytes[4] !== 2) {
    const what = bytes[4] === 1 ? '32-bit ELF' : `ELF class ${bytes[4]}`;
    throw new ElfError('EBADCLASS', `not a RISC-V 64 ELF (${what}, expected ELFCLASS64)`);
  }
  if (bytes[5] !== 1) {
    throw new ElfError('EBADDATA', `not a little-endian ELF (EI_DATA ${bytes[5]})`);
  }
  if (bytes[6] !== 1) throw new ElfError('EBADVERSION', `unknown ELF version ${bytes[6]}`);
  if (size < EHDR_SIZE) throw new ElfError('ETRUNC', `truncated ELF header (${size} of 64 bytes)`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (machine !== EM_RISCV) {
    throw new ElfError('EMACHINE', `not a RISC-V 64 ELF (e_machine ${machine})`);
  }
  if (type !== ET_EXEC && type !== ET_DYN) {
    throw new ElfError('ETYPE', `not an executable ELF (e_type ${type})`);
  }
  const version = view.getUint32(20, true);
  if (version !== 1) throw new ElfError('EBADVERSION', `unknown ELF version ${version}`);
  const entry = view.getBigUint64(24, true);
  const phoff = view.getBigUint64(32, true);
  const shoff = view.getBigUint64(40, true);
  const flags = view.getUint32(48, true);
  const ehsize = view.getUint16(52, true);
  const phentsize = view.getUint16(54, true);
  let phnum = view.getUint16(56, true);
  const shentsize = view.getUint16(58, true);
  let shnum = view.getUint16(60, true);
  if (ehsize < EHDR_SIZE) throw new ElfError('EBADHDR', `bad e_ehsize ${ehsize}`);

  // Section 0 carries the real counts when they overflow the 16-bit header fields.
  const sec0 = shoff !== 0n ? sectionHeaderAt(view, size, shoff, shentsize, 0) : undefined;
  if (phnum === PN_XNUM) {
    if (sec0 === undefined) throw new ElfError('EBADHDR', 'e_phnum is PN_XNUM but there is no section 0');
    phnum = sec0.info;
  }
  if (shoff !== 0n && shnum === 0) {
    if (sec0 === undefined || sec0.size > BigInt(MAX_SHNUM)) {
      throw new ElfError('EBADHDR', 'bad extended section count');
    }
    shnum = Number(sec0.size);
  }

  // ---- program headers ----
  if (phnum === 0) throw new ElfError('ENOSEG', 'no program headers (nothing to load)');
  if (phnum > MAX_PHNUM) throw new ElfError('EBADHDR', `too many program headers (${phnum})`);
  if (phentsize < PHDR_SIZE) throw new ElfError('EBADHDR', `bad e_phentsize ${phentsize}`);
  const phEnd = phoff + BigInt(phnum) * BigInt(phentsize);
  if (phEnd > BigInt(size)) {
    throw new ElfError('ETRUNC', `program headers at ${hex(phoff)} run past the end of the file (${size} bytes)`);
  }
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = Number(phoff) + i * phentsize;
    if (view.getUint32(at, true) !== PT_LOAD) continue;
    const pflags = view.getUint32(at + 4, true);
    const offset = view.getBigUint64(at + 8, true);
    const vaddr = view.getBigUint64(at + 16, true);
    const paddr = view.getBigUint64(at + 24, true);
    const filesz = view.getBigUint64(at + 32, true);
    const memsz = view.getBigUint64(at + 40, true);
    if (filesz > memsz) {
      throw new ElfError('EBADSEG', `segment ${i}: file size ${hex(filesz)} exceeds memory size ${hex(memsz)}`);
    }
    if (memsz > MAX_SEGMENT_BYTES) throw new ElfError('EBADSEG', `segment ${i}: absurd size ${hex(memsz)}`);
    if (paddr + memsz > U64_LIMIT || vaddr + memsz > U64_LIMIT) {
      throw new ElfError('EBADSEG', `segment ${i}: address range wraps around 2^64`);
    }
    if (filesz > 0n && offset + filesz > BigInt(size)) {
      throw new ElfError(
        'ETRUNC',
        `segment ${i}: ${filesz} bytes at offset ${hex(offset)} run past the end of the file (${size} bytes)`,
      );
    }
    if (memsz === 0n) continue;
    const start = Number(offset);
    const data = filesz > 0n ? bytes.slice(start, start + Number(filesz)) : new Uint8Array(0);
    segments.push({ paddr, vaddr, data, memSize: memsz, flags: pflags });
  }
  if (segments.length === 0) throw new ElfError('ENOSEG', 'no loadable (PT_LOAD) segment');
  for (let i = 0; i < segments.length; i++) {
    const a = segments[i];
    for (let j = i + 1; j < segments.length; j++) {
      const b = segments[j];
      if (a.paddr < b.paddr + b.memSize && b.paddr < a.paddr + a.memSize) {
        throw new ElfError(
          'EOVERLAP',
          `segments at ${hex(a.paddr)}+${hex(a.memSize)} and ${hex(b.paddr)}+${hex(b.memSize)} overlap`,
        );
      }
    }
  }

  const entrySegment = segments.find((s) => entry >= s.vaddr && entry < s.vaddr + s.memSize);
  if (entrySegment === undefined) {
    throw new ElfError('EENTRY', `entry point ${hex(entry)} is outside every loaded segment`);
  }
  const entryPhys = entry - entrySegment.vaddr + entrySegment.paddr;

  const symbols = shoff !== 0n && shnum > 0 ? readSymbols(view, size, shoff, shentsize, shnum) : new Map<string, bigint>();
  return { entry, entryPhys, type, flags, segments, symbols };
}

/**
 * Copies every segment into guest memory and zero-fills the rest of each segment's memory size.
 * Throws ElfError('ENOTRAM') if a segment does not lie entirely inside one RAM region.
 */
export function loadElf(image: ElfImage, memory: PhysicalMemory): void {
  // Check everything first so a failed load does not leave a half-written guest.
  for (const seg of image.segments) {
    const inRam = memory.ram.some(
      (r) => seg.paddr >= BigInt(r.base) && seg.paddr + seg.memSize <= BigInt(r.base) + BigInt(r.size),
    );
    if (!inRam) {
      throw new ElfError(
        'ENOTRAM',
        `segment at ${hex(seg.paddr)}+${hex(seg.memSize)} is not inside guest RAM (${ramList(memory)})`,
      );
    }
  }
  const zeros = new Uint8Array(64 * 1024); // zero-fill in chunks: bss may be large
  for (const seg of image.segments) {
    const base = Number(seg.paddr);
    memory.writeBytes(base, seg.data);
    let done = seg.data.length;
    const total = Number(seg.memSize);
    while (done < total) {
      const n = Math.min(zeros.length, total - done);
      memory.writeBytes(base + done, n === zeros.length ? zeros : zeros.subarray(0, n));
      done += n;
    }
  }
}

/**
 * Translates a virtual address (a symbol value) to a physical one through the segment holding it,
 * or returns undefined when no segment holds it.
 */
export function elfVirtToPhys(image: ElfImage, vaddr: bigint): bigint | undefined {
  for (const s of image.segments) {
    if (vaddr >= s.vaddr && vaddr < s.vaddr + s.memSize) return vaddr - s.vaddr + s.paddr;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

interface SectionHeader {
  readonly type: number;
  readonly offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly info: number;
  readonly entsize: bigint;
}

function sectionHeaderAt(view: DataView, size: number, shoff: bigint, shentsize: number, index: number): SectionHeader {
  if (shentsize < SHDR_SIZE) throw new ElfError('EBADHDR', `bad e_shentsize ${shentsize}`);
  const at = shoff + BigInt(index) * BigInt(shentsize);
  if (at + BigInt(SHDR_SIZE) > BigInt(size)) {
    throw new ElfError('ETRUNC', `section header ${index} at ${hex(at)} runs past the end of the file (${size} bytes)`);
  }
  const o = Number(at);
  return {
    type: view.getUint32(o + 4, true),
    offset: view.getBigUint64(o + 24, true),
    size: view.getBigUint64(o + 32, true),
    link: view.getUint32(o + 40, true),
    info: view.getUint32(o + 44, true),
    entsize: view.getBigUint64(o + 56, true),
  };
}

function readSymbols(view: DataView, size: number, shoff: bigint, shentsize: number, shnum: number): Map<string, bigint> {
  if (shnum > MAX_SHNUM) throw new ElfError('EBADHDR', `too many section headers (${shnum})`);
  if (shentsize < SHDR_SIZE) throw new ElfError('EBADHDR', `bad e_shentsize ${shentsize}`);
  if (shoff + BigInt(shnum) * BigInt(shentsize) > BigInt(size)) {
    throw new ElfError('ETRUNC', `section headers at ${hex(shoff)} run past the end of the file (${size} bytes)`);
  }
  const symbols = new Map<string, bigint>();
  let symtab: SectionHeader | undefined;
  for (let i = 0; i < shnum && symtab === undefined; i++) {
    const sh = sectionHeaderAt(view, size, shoff, shentsize, i);
    if (sh.type === SHT_SYMTAB) symtab = sh;
  }
  if (symtab === undefined) return symbols; // stripped: no symbols, which is not an error

  if (symtab.link === 0 || symtab.link >= shnum) {
    throw new ElfError('EBADSYM', `symbol table links to bad string table section ${symtab.link}`);
  }
  const strtab = sectionHeaderAt(view, size, shoff, shentsize, symtab.link);
  if (strtab.type !== SHT_STRTAB) throw new ElfError('EBADSYM', 'symbol table string section is not SHT_STRTAB');
  checkInFile('string table', strtab.offset, strtab.size, size);
  checkInFile('symbol table', symtab.offset, symtab.size, size);
  const entsize = symtab.entsize === 0n ? BigInt(SYM_SIZE) : symtab.entsize;
  if (entsize < BigInt(SYM_SIZE) || entsize > 1024n) {
    throw new ElfError('EBADSYM', `bad symbol entry size ${entsize}`);
  }
  const count = Number(symtab.size / entsize);
  const strStart = Number(strtab.offset);
  const strSize = Number(strtab.size);
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const globalNames = new Set<string>();
  for (let i = 1; i < count; i++) {
    const at = Number(symtab.offset) + i * Number(entsize);
    const nameOff = view.getUint32(at, true);
    const info = view.getUint8(at + 4);
    const shndx = view.getUint16(at + 6, true);
    const value = view.getBigUint64(at + 8, true);
    const symType = info & 0xf;
    const binding = info >> 4;
    if (nameOff === 0 || shndx === SHN_UNDEF || symType === STT_SECTION || symType === STT_FILE) continue;
    if (shndx === SHN_XINDEX) continue; // index in SHT_SYMTAB_SHNDX; the value is still usable, but rare
    if (nameOff >= strSize) throw new ElfError('EBADSYM', `symbol ${i} name offset ${nameOff} is past the string table`);
    const name = cString(bytes, strStart + nameOff, strStart + strSize);
    if (name === undefined) throw new ElfError('EBADSYM', `symbol ${i} name is not NUL-terminated`);
    const isGlobal = binding !== STB_LOCAL;
    if (!symbols.has(name) || (isGlobal && !globalNames.has(name))) {
      symbols.set(name, value);
      if (isGlobal) globalNames.add(name);
    }
  }
  return symbols;
}

function checkInFile(what: string, offset: bigint, length: bigint, size: number): void {
  if (offset + length > BigInt(size)) {
    throw new ElfError('ETRUNC', `${what} at ${hex(offset)} runs past the end of the file (${size} bytes)`);
  }
}

/** Reads a NUL-terminated byte string (symbol names are bytes; decoded as Latin-1). */
function cString(bytes: Uint8Array, start: number, end: number): string | undefined {
  let s = '';
  const limit = Math.min(end, start + MAX_SYMBOL_NAME);
  for (let i = start; i < limit; i++) {
    const b = bytes[i];
    if (b === 0) return s;
    s += String.fromCharCode(b);
  }
  return undefined;
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function ramList(memory: PhysicalMemory): string {
  if (memory.ram.length === 0) return 'no RAM';
  return memory.ram.map((r) => `${'0x' + r.base.toString(16)}+${'0x' + r.size.toString(16)}`).join(', ');
}
