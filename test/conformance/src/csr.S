// Zicsr and machine/supervisor CSR behaviour: all six CSR instruction forms,
// read-only CSRs (write -> illegal instruction, read-only access is fine),
// misa, mhartid, mstatus fields (WARL/WPRI, SD, UXL/SXL, FS), FS=Off making
// FP instructions and FP CSRs illegal and FS becoming Dirty after FP writes,
// cycle/instret counting, mcounteren/scounteren gating from S and U,
// CSR privilege checks, pmpcfg0/pmpaddr0 read-back, menvcfg/senvcfg, satp
// WARL mode, mepc/sepc alignment, mtvec modes.
#include "test.h"

// expect an illegal-instruction trap at the instruction labelled `at`
.macro EXPECT_ILLEGAL num, at
  CHECK_TRAP \num, CAUSE_ILLEGAL_INSN, \at
.endm

  TEST_START

  // ---- csrrw / csrrs / csrrc / csrrwi / csrrsi / csrrci on mscratch ----
  li a1, 0x123456789abcdef0
  csrw mscratch, a1
  li a2, 0xfedcba9876543210
  csrrw a0, mscratch, a2
  CHECK 1, a0, 0x123456789abcdef0
  csrr a0, mscratch
  CHECK 2, a0, 0xfedcba9876543210
  li a2, 0x0f
  csrrs a0, mscratch, a2
  CHECK 3, a0, 0xfedcba9876543210
  csrr a0, mscratch
  CHECK 4, a0, 0xfedcba987654321f
  li a2, 0xf000000000000003
  csrrc a0, mscratch, a2
  CHECK 5, a0, 0xfedcba987654321f
  csrr a0, mscratch
  CHECK 6, a0, 0x0edcba987654321c
  csrrwi a0, mscratch, 31
  CHECK 7, a0, 0x0edcba987654321c
  csrr a0, mscratch
  CHECK 8, a0, 31                      // uimm is zero-extended
  csrrci a0, mscratch, 0x15
  CHECK 9, a0, 31
  csrr a0, mscratch
  CHECK 10, a0, 0x0a
  csrrsi a0, mscratch, 0x10
  CHECK 11, a0, 0x0a
  csrr a0, mscratch
  CHECK 12, a0, 0x1a
  csrrsi a0, mscratch, 0               // read only, no write
  CHECK 13, a0, 0x1a
  csrrci a0, mscratch, 0
  CHECK 14, a0, 0x1a
  csrrs a0, mscratch, x0
  CHECK 15, a0, 0x1a
  // rd == rs1: swap
  li a0, 0x55
  csrrw a0, mscratch, a0
  CHECK 16, a0, 0x1a
  csrr a0, mscratch
  CHECK 17, a0, 0x55
  // rd = x0 still writes
  li a1, 0x66
  csrrw x0, mscratch, a1
  csrr a0, mscratch
  CHECK 18, a0, 0x66
  // sscratch is a separate full-width register
  li a1, -1
  csrw sscratch, a1
  csrr a0, sscratch
  CHECK 19, a0, -1
  csrr a0, mscratch
  CHECK 20, a0, 0x66

  // ---- identification ----
  csrr a0, misa
  srli a1, a0, 62
  CHECK 25, a1, 2                      // MXL = 2 (64-bit)
  li t0, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20)
  and a1, a0, t0                       // A C D F I M S U
  CHECKEQ 26, a1, t0
  csrr a0, mhartid
  CHECK 27, a0, 0
  csrr a0, mvendorid                   // these exist (values are implementation's)
  csrr a0, marchid
  csrr a0, mimpid
  csrr a0, mconfigptr

  // ---- read-only CSRs ----
  li gp, 30
  EXPECT_TRAP 1f
ro1:
  csrw mhartid, zero
  j fail
1:
  EXPECT_ILLEGAL 31, ro1
  li gp, 32
  li a1, 1
  EXPECT_TRAP 2f
ro2:
  csrrs a0, mvendorid, a1              // a set with nonzero rs1 writes
  j fail
2:
  EXPECT_ILLEGAL 33, ro2
  li gp, 34
  EXPECT_TRAP 3f
ro3:
  csrrwi a0, cycle, 0                  // csrrwi always writes
  j fail
3:
  EXPECT_ILLEGAL 35, ro3
  li gp, 36
  EXPECT_TRAP 4f
ro4:
  csrrci a0, instret, 1
  j fail
4:
  EXPECT_ILLEGAL 37, ro4
  // reading them (csrrs/csrrc with x0, csrrsi/csrrci with 0) is fine
  RESET_TRAP_COUNT
  csrrs a0, mhartid, x0
  csrrc a0, mhartid, x0
  csrrsi a0, mhartid, 0
  csrrci a0, marchid, 0
  CHECK_TRAP_COUNT 38, 0
  // an unimplemented CSR number is illegal (0x7c0 is custom, unused here)
  li gp, 39
  EXPECT_TRAP 5f
ro5:
  csrr a0, 0x7c0
  j fail
5:
  EXPECT_ILLEGAL 40, ro5

  // ---- mstatus ----
  csrr a0, mstatus
  srli a1, a0, 32
  andi a1, a1, 0xf
  CHECK 45, a1, 0xa                    // UXL = SXL = 2
  li t0, MSTATUS_UXL | MSTATUS_SXL
  csrc mstatus, t0                     // UXL/SXL stay 2 here
  csrr a0, mstatus
  srli a1, a0, 32
  andi a1, a1, 0xf
  CHECK 46, a1, 0xa
  // single-bit fields are writable
  .irp bit, 1, 3, 5, 7, 8, 17, 18, 19, 20, 21, 22
  li t0, (1 << \bit)
  csrs mstatus, t0
  csrr a0, mstatus
  and a0, a0, t0
  CHECK (50 + \bit), a0, (1 << \bit)
  csrc mstatus, t0
  csrr a0, mstatus
  and a0, a0, t0
  CHECK (80 + \bit), a0, 0
  .endr
  // MPP: M, S, U are legal
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  csrr a0, mstatus
  and a0, a0, t0
  CHECK 110, a0, 0
  li t1, MSTATUS_MPP_S
  csrs mstatus, t1
  csrr a0, mstatus
  and a0, a0, t0
  CHECK 111, a0, MSTATUS_MPP_S
  csrs mstatus, t0
  csrr a0, mstatus
  and a0, a0, t0
  CHECK 112, a0, MSTATUS_MPP_M
  // WPRI bits 0, 2, 4, 23..31 read as zero; XS is read-only 0 (no custom
  // extension state); little-endian only: UBE/SBE/MBE are 0
  li t0, (1 << 0) | (1 << 2) | (1 << 4) | (0x1ff << 23) | MSTATUS_XS | MSTATUS_UBE | MSTATUS_SBE | MSTATUS_MBE
  csrs mstatus, t0
  csrr a0, mstatus
  and a0, a0, t0
  CHECK 113, a0, 0
  // FS and SD
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t1, MSTATUS_FS_CLEAN
  csrs mstatus, t1
  csrr a0, mstatus
  srli a1, a0, 63
  CHECK 114, a1, 0                     // SD = 0 unless something is Dirty
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 115, a1, 2
  csrs mstatus, t0                     // Dirty
  csrr a0, mstatus
  srli a1, a0, 63
  CHECK 116, a1, 1                     // SD = 1
  // writing SD directly has no effect
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t1, MSTATUS_SD
  csrs mstatus, t1
  csrr a0, mstatus
  srli a1, a0, 63
  CHECK 117, a1, 0

  // ---- FS = Off: FP instructions and FP CSRs are illegal ----
  li gp, 120
  EXPECT_TRAP 1f
fpo1:
  fadd.s f1, f2, f3
  j fail
1:
  EXPECT_ILLEGAL 121, fpo1
  li gp, 122
  EXPECT_TRAP 2f
fpo2:
  frcsr a0
  j fail
2:
  EXPECT_ILLEGAL 123, fpo2
  li gp, 124
  la a1, fpbuf
  EXPECT_TRAP 3f
fpo3:
  fld f1, 0(a1)
  j fail
3:
  EXPECT_ILLEGAL 125, fpo3
  li gp, 126
  EXPECT_TRAP 4f
fpo4:
  fmv.x.d a0, f1
  j fail
4:
  EXPECT_ILLEGAL 127, fpo4
  li gp, 128
  EXPECT_TRAP 5f
fpo5:
  csrwi fflags, 1
  j fail
5:
  EXPECT_ILLEGAL 129, fpo5
  li gp, 130
  EXPECT_TRAP 6f
fpo6:
  fsd f1, 0(a1)
  j fail
6:
  EXPECT_ILLEGAL 131, fpo6
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 132, a1, 0                     // still Off
  // FS = Initial, then an FP register write makes it Dirty
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  li a0, 0x3f800000
  fmv.w.x f1, a0
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 133, a1, 3
  srli a1, a0, 63
  CHECK 134, a1, 1
  // FS = Clean, then an fcsr write makes it Dirty
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  csrwi fflags, 0
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 135, a1, 3
  // FS = Clean, then an FP load makes it Dirty
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  la a1, fpbuf
  fld f2, 0(a1)
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 136, a1, 3
  // FS = Clean, then an FP arithmetic op makes it Dirty
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  fadd.d f3, f2, f2
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 137, a1, 3

  // ---- counters ----
  csrr a0, mcycle
  csrr a2, minstret
  rdcycle a1
  rdinstret a3
  li gp, 140
  bltu a1, a0, fail_near               // cycle does not go backwards
  li gp, 141
  bltu a3, a2, fail_near
  rdinstret s0
  .rept 100
  addi a5, a5, 1
  .endr
  rdinstret s1
  sub s1, s1, s0
  li gp, 142
  li t0, 100
  bltu s1, t0, fail_near               // at least 100 instructions retired
  rdcycle s0
  .rept 100
  addi a5, a5, 1
  .endr
  rdcycle s1
  li gp, 143
  bgeu s0, s1, fail_near               // cycle increased
  // minstret / mcycle are writable
  li t0, 1000000000
  csrw minstret, t0
  csrr a0, minstret
  li gp, 144
  bltu a0, t0, fail_near
  li t1, 1000000000 + 100000000
  bgeu a0, t1, fail_near
  li t0, 5000000000
  csrw mcycle, t0
  csrr a0, mcycle
  li gp, 145
  bltu a0, t0, fail_near
  li t0, 0
  csrw minstret, t0
  j 7f
fail_near:
  j fail
7:

  // ---- mcounteren / scounteren gating ----
  csrwi mcounteren, 7
  csrr a0, mcounteren
  andi a0, a0, 7
  CHECK 150, a0, 7
  csrwi scounteren, 7
  csrr a0, scounteren
  andi a0, a0, 7
  CHECK 151, a0, 7
  // S-mode: mcounteren.CY = 0 -> rdcycle illegal
  csrwi mcounteren, 0
  li gp, 152
  EXPECT_TRAP 1f
  ENTER_MODE PRV_S, 2f
2:
  rdcycle a0
  j fail
1:
  EXPECT_ILLEGAL 153, 2b
  // S-mode: IR = 0 -> rdinstret illegal even with CY = 1
  csrwi mcounteren, 1
  li gp, 154
  EXPECT_TRAP 3f
  ENTER_MODE PRV_S, 4f
4:
  rdcycle a0                           // allowed
  rdinstret a0                         // not allowed
  j fail
3:
  CHECK_TRAP 155, CAUSE_ILLEGAL_INSN, 4b + 4
  // S-mode: CY and IR set -> both readable
  csrwi mcounteren, 5
  RESET_TRAP_COUNT
  ENTER_MODE PRV_S, 5f
5:
  rdcycle a0
  rdinstret a0
  RETURN_TO_M
  CHECK_TRAP_COUNT 156, 0
  // U-mode: needs both mcounteren and scounteren
  csrwi mcounteren, 5
  csrwi scounteren, 0
  li gp, 157
  EXPECT_TRAP 6f
  ENTER_MODE PRV_U, 8f
8:
  rdcycle a0
  j fail
6:
  EXPECT_ILLEGAL 158, 8b
  csrwi mcounteren, 0
  csrwi scounteren, 5
  li gp, 159
  EXPECT_TRAP 9f
  ENTER_MODE PRV_U, 10f
10:
  rdinstret a0
  j fail
9:
  EXPECT_ILLEGAL 160, 10b
  csrwi mcounteren, 5
  csrwi scounteren, 5
  RESET_TRAP_COUNT
  ENTER_MODE PRV_U, 11f
11:
  rdcycle a0
  rdinstret a0
  RETURN_TO_M
  CHECK_TRAP_COUNT 161, 0

  // time: readable in M; from S only with mcounteren.TM
  rdtime a0
  rdtime a1
  li gp, 162
  bltu a1, a0, fail_near2
  csrwi mcounteren, 5                  // CY | IR, no TM
  li gp, 163
  EXPECT_TRAP 22f
  ENTER_MODE PRV_S, 23f
23:
  rdtime a0
  j fail
22:
  EXPECT_ILLEGAL 164, 23b
  csrwi mcounteren, 2                  // TM
  RESET_TRAP_COUNT
  ENTER_MODE PRV_S, 24f
24:
  rdtime a0
  RETURN_TO_M
  CHECK_TRAP_COUNT 176, 0
  csrwi mcounteren, 0
  csrwi scounteren, 0
  j 25f
fail_near2:
  j fail
25:

  // ---- CSR privilege: M CSRs from S, S CSRs from U ----
  li gp, 165
  EXPECT_TRAP 12f
  ENTER_MODE PRV_S, 13f
13:
  csrr a0, mstatus
  j fail
12:
  EXPECT_ILLEGAL 166, 13b
  li gp, 167
  EXPECT_TRAP 14f
  ENTER_MODE PRV_S, 15f
15:
  csrw mscratch, zero
  j fail
14:
  EXPECT_ILLEGAL 168, 15b
  li gp, 169
  EXPECT_TRAP 16f
  ENTER_MODE PRV_U, 17f
17:
  csrr a0, sstatus
  j fail
16:
  EXPECT_ILLEGAL 170, 17b
  li gp, 171
  EXPECT_TRAP 18f
  ENTER_MODE PRV_U, 19f
19:
  csrr a0, sscratch
  j fail
18:
  EXPECT_ILLEGAL 172, 19b
  // S-mode may use its own CSRs
  li a1, 0xabc
  RESET_TRAP_COUNT
  ENTER_MODE PRV_S, 20f
20:
  csrw sscratch, a1
  csrr a2, sscratch
  csrr a3, sstatus
  RETURN_TO_M
  CHECK_TRAP_COUNT 173, 0
  CHECK 174, a2, 0xabc
  // and U-mode its FP CSRs (FS is on)
  RESET_TRAP_COUNT
  ENTER_MODE PRV_U, 21f
21:
  frcsr a2
  fsflags zero
  RETURN_TO_M
  CHECK_TRAP_COUNT 175, 0

  // ---- PMP CSRs read back ----
  li a1, 0x12345678
  csrw pmpaddr1, a1
  csrr a0, pmpaddr1
  CHECK 180, a0, 0x12345678
  li a1, -1
  csrw pmpaddr1, a1
  csrr a0, pmpaddr1
  li t0, 0x003fffffffffffff            // pmpaddr holds address bits 55:2
  and a0, a0, t0                       // (bits 63:54 read 0: see strict_priv.S)
  CHECK 181, a0, 0x003fffffffffffff
  csrr a0, pmpaddr0
  and a0, a0, t0
  CHECK 182, a0, 0x003fffffffffffff    // set by TEST_START
  csrr a0, pmpcfg0
  andi a0, a0, 0xff
  CHECK 183, a0, 0x1f                  // NAPOT | X | W | R (set by TEST_START)
  li t0, 0x0d00                        // entry 1: TOR | X | R
  csrs pmpcfg0, t0
  csrr a0, pmpcfg0
  li t1, 0xffff
  and a0, a0, t1
  CHECK 184, a0, 0x0d1f
  csrc pmpcfg0, t0
  csrw pmpaddr1, zero
  csrr a0, pmpcfg0
  CHECK 185, a0, 0x1f

  // ---- menvcfg / senvcfg exist ----
  csrr a0, menvcfg
  csrw menvcfg, zero
  csrr a0, menvcfg
  CHECK 190, a0, 0
  csrr a0, senvcfg
  csrw senvcfg, zero
  csrr a0, senvcfg
  CHECK 191, a0, 0

  // ---- satp: an unsupported MODE makes the whole write have no effect ----
  csrw satp, zero
  li t0, (15 << 60) | 0x1234
  csrw satp, t0
  csrr a0, satp
  CHECK 192, a0, 0
  li t0, (1 << 60) | 0x1234            // mode 1 (Sv32) does not exist on RV64
  csrw satp, t0
  csrr a0, satp
  CHECK 193, a0, 0

  // ---- mepc/sepc hold 2-byte aligned addresses (IALIGN = 16 with C) ----
  // (bit 0 reading as zero is checked in strict_priv.S)
  li t0, 0x80000002
  csrw mepc, t0
  csrr a0, mepc
  CHECK 195, a0, 0x80000002
  csrw sepc, t0
  csrr a0, sepc
  CHECK 196, a0, 0x80000002
  // ---- mtvec: direct and vectored modes read back ----
  csrr s0, mtvec
  la t0, trap_handler_m
  ori t1, t0, 1
  csrw mtvec, t1
  csrr a0, mtvec
  CHECKEQ 197, a0, t1
  csrw mtvec, s0
  csrr a0, mtvec
  CHECKEQ 198, a0, s0
  // stvec
  la t0, fpbuf
  csrw stvec, t0
  csrr a0, stvec
  CHECKEQ 199, a0, t0
  // mcause / mtval / scause / stval are writable
  li t0, 0x8000000000000005
  csrw mcause, t0
  csrr a0, mcause
  CHECK 200, a0, 0x8000000000000005
  li t0, 0x123456789
  csrw mtval, t0
  csrr a0, mtval
  CHECK 201, a0, 0x123456789
  csrw stval, t0
  csrr a0, stval
  CHECK 202, a0, 0x123456789
  li t0, 0xd
  csrw scause, t0
  csrr a0, scause
  CHECK 203, a0, 0xd

  TEST_END

  .data
  .align 4
fpbuf:
  .dword 0x3ff0000000000000
