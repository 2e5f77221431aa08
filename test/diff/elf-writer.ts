/**
 * A minimal static ELF64 little-endian RISC-V executable writer: an ELF header, one program header
 * and one RWX PT_LOAD segment that maps the whole file (headers included) at `loadAddress`.
 * No section headers are written; the loaders we care about (QEMU user mode and our own harness)
 * only look at the program headers.
 */

export const ELF_HEADER_SIZE = 64;
export const PHDR_SIZE = 56;

/** EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE */
export const EF_RISCV_RVC_DOUBLE = 0x5;

export interface ElfImage {
  /** Virtual (and physical) address the file is mapped at; page aligned. */
  readonly loadAddress: number;
  /** Offset in the file (= in the segment) where the payload starts. */
  readonly payloadOffset: number;
  /** The payload: code and data. Its first byte lands at loadAddress + payloadOffset. */
  readonly payload: Uint8Array;
  /** Entry point (virtual address). */
  readonly entry: number;
  /** Extra zero-filled memory after the file contents (p_memsz - p_filesz). */
  readonly bssSize?: number;
}

/** Builds the file. `payloadOffset` must be at least 64 + 56 bytes. */
export function writeElf(image: ElfImage): Uint8Array {
  const { loadAddress, payloadOffset, payload, entry } = image;
  if (payloadOffset < ELF_HEADER_SIZE + PHDR_SIZE) throw new Error('payload overlaps the ELF headers');
  if (loadAddress % 0x1000 !== 0) throw new Error('load address must be page aligned');
  const fileSize = payloadOffset + payload.length;
  const out = new Uint8Array(fileSize);
  const dv = new DataView(out.buffer);
  const u16 = (o: number, v: number): void => dv.setUint16(o, v, true);
  const u32 = (o: number, v: number): void => dv.setUint32(o, v, true);
  const u64 = (o: number, v: number): void => dv.setBigUint64(o, BigInt(v), true);

  // e_ident
  out.set([0x7f, 0x45, 0x4c, 0x46], 0); // \x7fELF
  out[4] = 2; // ELFCLASS64
  out[5] = 1; // ELFDATA2LSB
  out[6] = 1; // EV_CURRENT
  out[7] = 0; // ELFOSABI_SYSV
  u16(16, 2); // e_type = ET_EXEC
  u16(18, 243); // e_machine = EM_RISCV
  u32(20, 1); // e_version
  u64(24, entry); // e_entry
  u64(32, ELF_HEADER_SIZE); // e_phoff
  u64(40, 0); // e_shoff
  u32(48, EF_RISCV_RVC_DOUBLE); // e_flags
  u16(52, ELF_HEADER_SIZE); // e_ehsize
  u16(54, PHDR_SIZE); // e_phentsize
  u16(56, 1); // e_phnum
  u16(58, 64); // e_shentsize
  u16(60, 0); // e_shnum
  u16(62, 0); // e_shstrndx

  // The program header
  const ph = ELF_HEADER_SIZE;
  u32(ph + 0, 1); // p_type = PT_LOAD
  u32(ph + 4, 7); // p_flags = R | W | X
  u64(ph + 8, 0); // p_offset
  u64(ph + 16, loadAddress); // p_vaddr
  u64(ph + 24, loadAddress); // p_paddr
  u64(ph + 32, fileSize); // p_filesz
  u64(ph + 40, fileSize + (image.bssSize ?? 0)); // p_memsz
  u64(ph + 48, 0x1000); // p_align

  out.set(payload, payloadOffset);
  return out;
}

/** The one loadable segment of an ELF written by {@link writeElf} (or any single-PT_LOAD ELF64 LE file). */
export interface LoadSegment {
  readonly vaddr: number;
  readonly data: Uint8Array;
  readonly memSize: number;
}

export interface ParsedElf {
  readonly entry: number;
  readonly segments: readonly LoadSegment[];
}

/** Reads back the PT_LOAD segments of an ELF64 LE executable (for the user-mode harness). */
export function readElf(file: Uint8Array): ParsedElf {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (dv.getUint32(0, false) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1) throw new Error('not an ELF64 LE file');
  if (dv.getUint16(18, true) !== 243) throw new Error('not a RISC-V ELF');
  const entry = Number(dv.getBigUint64(24, true));
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const segments: LoadSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== 1) continue;
    const offset = Number(dv.getBigUint64(p + 8, true));
    const vaddr = Number(dv.getBigUint64(p + 16, true));
    const filesz = Number(dv.getBigUint64(p + 32, true));
    const memsz = Number(dv.getBigUint64(p + 40, true));
    segments.push({ vaddr, data: file.subarray(offset, offset + filesz), memSize: memsz });
  }
  return { entry, segments };
}
