/**
 * CSR numbers, exception causes and status-register bits of RV64 as the RISC-V privileged
 * specification v1.12 defines them (chapter 2 "CSR listing", 3.1 "Machine-level CSRs",
 * 4.1 "Supervisor CSRs").
 */

export const CSR = {
  fflags: 0x001,
  frm: 0x002,
  fcsr: 0x003,
  cycle: 0xc00,
  time: 0xc01,
  instret: 0xc02,
  sstatus: 0x100,
  sie: 0x104,
  stvec: 0x105,
  scounteren: 0x106,
  senvcfg: 0x10a,
  sscratch: 0x140,
  sepc: 0x141,
  scause: 0x142,
  stval: 0x143,
  sip: 0x144,
  satp: 0x180,
  mvendorid: 0xf11,
  marchid: 0xf12,
  mimpid: 0xf13,
  mhartid: 0xf14,
  mconfigptr: 0xf15,
  mstatus: 0x300,
  misa: 0x301,
  medeleg: 0x302,
  mideleg: 0x303,
  mie: 0x304,
  mtvec: 0x305,
  mcounteren: 0x306,
  menvcfg: 0x30a,
  mcountinhibit: 0x320,
  mscratch: 0x340,
  mepc: 0x341,
  mcause: 0x342,
  mtval: 0x343,
  mip: 0x344,
  pmpcfg0: 0x3a0,
  pmpaddr0: 0x3b0,
  mcycle: 0xb00,
  minstret: 0xb02,
} as const;

/** Synchronous exception causes (mcause with the interrupt bit clear). */
export const Cause = {
  InstructionMisaligned: 0,
  InstructionAccessFault: 1,
  IllegalInstruction: 2,
  Breakpoint: 3,
  LoadMisaligned: 4,
  LoadAccessFault: 5,
  StoreMisaligned: 6,
  StoreAccessFault: 7,
  EcallFromU: 8,
  EcallFromS: 9,
  EcallFromM: 11,
  InstructionPageFault: 12,
  LoadPageFault: 13,
  StorePageFault: 15,
} as const;

/** Interrupt numbers (bit positions in mip/mie). */
export const Irq = {
  SSI: 1,
  MSI: 3,
  STI: 5,
  MTI: 7,
  SEI: 9,
  MEI: 11,
} as const;

export const MIP_SSIP = 1 << Irq.SSI;
export const MIP_MSIP = 1 << Irq.MSI;
export const MIP_STIP = 1 << Irq.STI;
export const MIP_MTIP = 1 << Irq.MTI;
export const MIP_SEIP = 1 << Irq.SEI;
export const MIP_MEIP = 1 << Irq.MEI;

// mstatus bits in the low word (the high word is fixed: UXL = SXL = 2, and SD in bit 63).
export const MSTATUS_SIE = 1 << 1;
export const MSTATUS_MIE = 1 << 3;
export const MSTATUS_SPIE = 1 << 5;
export const MSTATUS_MPIE = 1 << 7;
export const MSTATUS_SPP = 1 << 8;
export const MSTATUS_MPP_SHIFT = 11;
export const MSTATUS_MPP = 3 << 11;
export const MSTATUS_FS_SHIFT = 13;
export const MSTATUS_FS = 3 << 13;
export const MSTATUS_MPRV = 1 << 17;
export const MSTATUS_SUM = 1 << 18;
export const MSTATUS_MXR = 1 << 19;
export const MSTATUS_TVM = 1 << 20;
export const MSTATUS_TW = 1 << 21;
export const MSTATUS_TSR = 1 << 22;
/** High word of mstatus: UXL (bits 33:32) = 2 and SXL (35:34) = 2, i.e. XLEN 64 in U and S. */
export const MSTATUS_HI_XL = 0xa;

/** Writable bits of the low word of mstatus. */
export const MSTATUS_WRITABLE =
  MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP |
  MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
/** Bits of the low word visible through sstatus. */
export const SSTATUS_MASK =
  MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;

/** misa: MXL = 2 (64-bit) and extensions I M A F D C S U. */
export const MISA_LO =
  (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
export const MISA_HI = 2 << 30;

/** Interrupts that can be delegated to S-mode and are writable in mie. */
export const MIDELEG_WRITABLE = MIP_SSIP | MIP_STIP | MIP_SEIP;
export const MIE_WRITABLE = MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP;
/** mip bits software may write from M-mode (the rest are driven by devices). */
export const MIP_SW_WRITABLE = MIP_SSIP | MIP_STIP | MIP_SEIP;
/** Exceptions that may be delegated (all but ecall-from-M and the reserved numbers). */
export const MEDELEG_WRITABLE = 0xb3ff;

export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;
