/**
 * Loaders for the Linux boot path: the RISC-V kernel `Image` (with its boot header, Linux
 * Documentation/riscv/boot-image-header.rst), gzip-compressed images, ELF kernels, and placement
 * of the initrd and device tree in RAM as QEMU's virt board places them.
 *
 * RISC-V Image header (64 bytes, little-endian):
 *
 *   0x00 u32 code0        executable code (a jump over the header)
 *   0x04 u32 code1
 *   0x08 u64 text_offset  offset of the image from the start of RAM (2 MiB on RV64)
 *   0x10 u64 image_size   effective image size, including bss
 *   0x18 u64 flags        bit 0: endianness (0 = little)
 *   0x20 u32 version      header version (0.2 = 0x2)
 *   0x24 u32 res1
 *   0x28 u64 res2
 *   0x30 u64 magic        "RISCV\0\0\0" (deprecated)
 *   0x38 u32 magic2       "RSC\x05"
 *   0x3c u32 res3
 */

import { PhysicalMemory } from '../hart/index.js';
import { ElfError, loadElf, parseElf } from './elf.js';

export class LoaderError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoaderError';
    this.code = code;
  }
}

/** Decompresses gzip data (injected: zlib on Node, DecompressionStream in a browser). */
export type Gunzip = (data: Uint8Array) => Uint8Array;

const MAGIC2 = 0x05435352; // "RSC\x05"
const MAGIC = 'RISCV\0\0\0';
/** Default text offset when the header gives none: 2 MiB, as on RV64. */
const DEFAULT_TEXT_OFFSET = 0x20_0000;

export function isGzip(data: Uint8Array): boolean {
  return data.length >= 3 && data[0] === 0x1f && data[1] === 0x8b && data[2] === 8;
}

export interface LoadedKernel {
  /** Physical entry address. */
  entry: number;
  /** First byte after the kernel image in RAM (including bss when the header says so). */
  end: number;
  format: 'image' | 'elf';
}

/**
 * Loads a kernel (Image, Image.gz or ELF) into RAM starting at `ramBase`. A RISC-V Image goes to
 * ramBase + text_offset. Throws LoaderError with a one-line message on a bad file.
 */
export function loadKernel(bytes: Uint8Array, memory: PhysicalMemory, ramBase: number, ramSize: number,
  gunzip: Gunzip, name = 'kernel'): LoadedKernel {
  let data = bytes;
  if (isGzip(data)) {
    try {
      data = gunzip(data);
    } catch (cause) {
      throw new LoaderError('EBADGZIP', `${name}: corrupt gzip data`, { cause });
    }
  }
  if (data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46) {
    try {
      const image = parseElf(data);
      loadElf(image, memory);
      let end = 0;
      for (const s of image.segments) end = Math.max(end, Number(s.paddr + s.memSize));
      return { entry: Number(image.entryPhys), end, format: 'elf' };
    } catch (cause) {
      if (cause instanceof ElfError) throw new LoaderError(cause.code, `${name}: ${cause.message}`, { cause });
      throw new LoaderError('ELOAD', `${name}: ${(cause as Error).message}`, { cause });
    }
  }
  if (data.length < 64) throw new LoaderError('ETRUNC', `${name}: too short for a RISC-V Image (${data.length} bytes)`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic2 = dv.getUint32(0x38, true);
  let magicOk = magic2 === MAGIC2;
  if (!magicOk) {
    let m = '';
    for (let i = 0; i < 8; i++) m += String.fromCharCode(data[0x30 + i]);
    magicOk = m === MAGIC;
  }
  if (!magicOk) {
    throw new LoaderError('ENOTKERNEL', `${name}: not a RISC-V kernel (no Image header magic, not an ELF)`);
  }
  const textOffset = Number(dv.getBigUint64(0x08, true)) || DEFAULT_TEXT_OFFSET;
  const imageSize = Number(dv.getBigUint64(0x10, true));
  if ((dv.getBigUint64(0x18, true) & 1n) !== 0n) {
    throw new LoaderError('EENDIAN', `${name}: big-endian kernel images are not supported`);
  }
  const size = Math.max(imageSize, data.length);
  if (textOffset % 0x1000 !== 0 || textOffset + size > ramSize) {
    throw new LoaderError('E2BIG', `${name}: does not fit in ${ramSize >>> 20} MiB of RAM (needs ${Math.ceil((textOffset + size) / 1048576)} MiB)`);
  }
  const entry = ramBase + textOffset;
  memory.writeBytes(entry, data);
  return { entry, end: entry + size, format: 'image' };
}

/**
 * Where the initrd goes: high enough that the kernel decompressing and setting up does not
 * clobber it (half of RAM, at most 128 MiB in), like QEMU's virt board.
 */
export function placeInitrd(ramBase: number, ramSize: number, kernelEnd: number, initrdSize: number,
  fdtReserve: number): number {
  let start = ramBase + Math.min(Math.floor(ramSize / 2), 128 << 20);
  start = Math.max(start, alignUp(kernelEnd, 0x20_0000));
  start = alignUp(start, 0x1000);
  if (start + initrdSize > ramBase + ramSize - fdtReserve) {
    throw new LoaderError('E2BIG', `initrd of ${initrdSize} bytes does not fit in RAM after the kernel`);
  }
  return start;
}

/** The FDT goes at the top of RAM (below 3 GiB into RAM), aligned down to 2 MiB, as QEMU does. */
export function placeFdt(ramBase: number, ramSize: number, fdtSize: number): number {
  const top = ramBase + Math.min(ramSize, 3 * 1024 * 1048576);
  return alignDown(top - fdtSize, 0x20_0000);
}

export function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

export function alignDown(v: number, a: number): number {
  return Math.floor(v / a) * a;
}
