/**
 * The virt board's boot ROM (0x1000): the reset vector every hart starts at when M-mode firmware
 * runs (`--bios FILE`). It enters the firmware with the registers OpenSBI's fw_dynamic and
 * fw_jump expect:
 *
 *   a0 = mhartid, a1 = FDT address, a2 = address of a fw_dynamic_info block
 *
 * Layout (written here, not taken from any other project):
 *
 *   0x00  auipc t0, 0            t0 = ROM base
 *   0x04  addi  a2, t0, 0x28     a2 = &fw_dynamic_info
 *   0x08  csrr  a0, mhartid
 *   0x0c  ld    a1, 0x20(t0)     a1 = FDT address
 *   0x10  ld    t0, 0x18(t0)     t0 = firmware entry
 *   0x14  jr    t0
 *   0x18  u64 firmware entry
 *   0x20  u64 FDT address
 *   0x28  fw_dynamic_info (OpenSBI's documented structure, version 2):
 *         u64 magic 0x4942534f ("OSBI"), u64 version 2, u64 next_addr, u64 next_mode (1 = S),
 *         u64 options 0, u64 boot_hart
 */

export const BOOT_ROM_BASE = 0x1000;
export const BOOT_ROM_SIZE = 0xf000;

const FW_DYNAMIC_INFO_MAGIC = 0x4942534fn;
const FW_DYNAMIC_INFO_VERSION = 2n;
const NEXT_MODE_S = 1n;

function iType(opcode: number, rd: number, funct3: number, rs1: number, imm: number): number {
  return ((imm & 0xfff) << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode;
}

const T0 = 5;
const A0 = 10;
const A1 = 11;
const A2 = 12;

export interface BootRomConfig {
  firmwareEntry: bigint;
  fdtAddress: bigint;
  /** Where the firmware jumps next (the kernel), in S-mode. */
  nextAddress: bigint;
  bootHart: number;
}

/** Builds the ROM contents (one page). */
export function buildBootRom(config: BootRomConfig): Uint8Array {
  const rom = new Uint8Array(0x1000);
  const dv = new DataView(rom.buffer);
  const code = [
    0x00000297, // auipc t0, 0
    iType(0x13, A2, 0, T0, 0x28), // addi a2, t0, 0x28
    (0xf14 << 20) | (2 << 12) | (A0 << 7) | 0x73, // csrrs a0, mhartid, x0
    iType(0x03, A1, 3, T0, 0x20), // ld a1, 0x20(t0)
    iType(0x03, T0, 3, T0, 0x18), // ld t0, 0x18(t0)
    iType(0x67, 0, 0, T0, 0), // jalr x0, 0(t0)
  ];
  code.forEach((insn, i) => dv.setUint32(i * 4, insn >>> 0, true));
  dv.setBigUint64(0x18, config.firmwareEntry, true);
  dv.setBigUint64(0x20, config.fdtAddress, true);
  const info = [FW_DYNAMIC_INFO_MAGIC, FW_DYNAMIC_INFO_VERSION, config.nextAddress, NEXT_MODE_S, 0n,
    BigInt(config.bootHart)];
  info.forEach((v, i) => dv.setBigUint64(0x28 + i * 8, v, true));
  return rom;
}
