// march: rv64g
// Trap delegation to S-mode: medeleg, S-mode trap entry (scause, sepc,
// stval, sstatus.SPP/SPIE/SIE), exceptions in M never delegated, sret
// semantics, sstatus as a restricted view of mstatus, sie/sip as views of
// mie/mip restricted by mideleg.
#include "test.h"

#define SR_CAUSE 0
#define SR_EPC 8
#define SR_TVAL 16
#define SR_STATUS 24
#define SR_RESUME 32
#define SR_COUNT 40

// arm the S-mode handler (run in M or S)
.macro S_EXPECT_TRAP label
  la t6, \label
  la t5, s_rec
  sd t6, SR_RESUME(t5)
.endm

// check an S trap record field
.macro CHECK_SREC num, off, val
  li gp, \num
  la t5, s_rec
  ld t5, \off(t5)
  li t6, \val
  beq t5, t6, .Lcsr\@
  j fail
.Lcsr\@:
.endm
.macro CHECK_SREC_LABEL num, off, label
  li gp, \num
  la t5, s_rec
  ld t5, \off(t5)
  la t6, \label
  beq t5, t6, .Lcsrl\@
  j fail
.Lcsrl\@:
.endm
// sstatus field from the S record
.macro CHECK_SREC_FIELD num, shift, mask, val
  li gp, \num
  la t5, s_rec
  ld t5, SR_STATUS(t5)
  srli t5, t5, \shift
  andi t5, t5, \mask
  li t6, \val
  beq t5, t6, .Lcsf\@
  j fail
.Lcsf\@:
.endm

  TEST_START
  la t0, s_handler
  csrw stvec, t0
  csrwi mie, 0
  li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ILLEGAL_INSN) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_LOAD_ACCESS)
  csrw medeleg, t0
  csrr a0, medeleg
  CHECKEQ 1, a0, t0

  // ---- ecall from U goes to S ----
  RESET_TRAP_COUNT
  li t0, MSTATUS_SIE
  csrs mstatus, t0                     // SIE = 1 before the trap (no interrupts enabled)
  li gp, 2
  S_EXPECT_TRAP 1f
  ENTER_MODE PRV_U, deleg_ecall
deleg_ecall:
  ecall
  j fail
1:                                     // in S-mode now
  csrr s0, sstatus
  RETURN_TO_M
  CHECK_SREC 3, SR_CAUSE, CAUSE_ECALL_U
  CHECK_SREC_LABEL 4, SR_EPC, deleg_ecall
  CHECK_SREC 5, SR_TVAL, 0
  CHECK_SREC_FIELD 6, 8, 1, 0          // SPP = U
  CHECK_SREC_FIELD 7, 5, 1, 1          // SPIE = old SIE
  CHECK_SREC_FIELD 8, 1, 1, 0          // SIE cleared
  CHECK_TRAP_COUNT 9, 0                // M-mode never saw it
  li t0, MSTATUS_SIE
  csrc mstatus, t0

  // ---- illegal instruction from U: stval = instruction bits ----
  li gp, 10
  S_EXPECT_TRAP 2f
  ENTER_MODE PRV_U, deleg_ill
deleg_ill:
  .word 0xfe000033
  j fail
2:
  RETURN_TO_M
  CHECK_SREC 11, SR_CAUSE, CAUSE_ILLEGAL_INSN
  CHECK_SREC_LABEL 12, SR_EPC, deleg_ill
  CHECK_SREC 13, SR_TVAL, 0xfe000033
  // ---- breakpoint from U ----
  li gp, 14
  S_EXPECT_TRAP 3f
  ENTER_MODE PRV_U, deleg_bk
deleg_bk:
  ebreak
  j fail
3:
  RETURN_TO_M
  CHECK_SREC 15, SR_CAUSE, CAUSE_BREAKPOINT
  CHECK_SREC_LABEL 16, SR_EPC, deleg_bk
  // ---- load access fault from U: stval = address ----
  li gp, 17
  S_EXPECT_TRAP 4f
  ENTER_MODE PRV_U, deleg_laf
deleg_laf:
  ld a0, 0x28(zero)
  j fail
4:
  RETURN_TO_M
  CHECK_SREC 18, SR_CAUSE, CAUSE_LOAD_ACCESS
  CHECK_SREC 19, SR_TVAL, 0x28
  // ---- a delegated exception raised in S stays in S, SPP = S ----
  li gp, 20
  S_EXPECT_TRAP 5f
  ENTER_MODE PRV_S, deleg_s_ill
deleg_s_ill:
  .word 0xfe000033
  j fail
5:
  RETURN_TO_M
  CHECK_SREC 21, SR_CAUSE, CAUSE_ILLEGAL_INSN
  CHECK_SREC_LABEL 22, SR_EPC, deleg_s_ill
  CHECK_SREC_FIELD 23, 8, 1, 1         // SPP = S
  // ---- a store access fault is not delegated: it goes to M ----
  li gp, 24
  EXPECT_TRAP 6f
  ENTER_MODE PRV_U, deleg_saf
deleg_saf:
  sd zero, 0x28(zero)
  j fail
6:
  CHECK_TRAP 25, CAUSE_STORE_ACCESS, deleg_saf
  // ---- ecall from S is not delegated ----
  li gp, 26
  li a7, 0
  EXPECT_TRAP 7f
  ENTER_MODE PRV_S, deleg_ecs
deleg_ecs:
  ecall
  j fail
7:
  CHECK_TRAP 27, CAUSE_ECALL_S, deleg_ecs
  // ---- exceptions in M are never delegated ----
  li gp, 28
  EXPECT_TRAP 8f
deleg_m_ill:
  .word 0xfe000033
  j fail
8:
  CHECK_TRAP 29, CAUSE_ILLEGAL_INSN, deleg_m_ill
  li gp, 30
  EXPECT_TRAP 9f
deleg_m_bk:
  ebreak
  j fail
9:
  CHECK_TRAP 31, CAUSE_BREAKPOINT, deleg_m_bk

  // ---- sret: mode = SPP, SIE = SPIE, SPIE = 1, SPP = U ----
  li gp, 35
  ENTER_MODE PRV_S, 10f
10:                                    // S-mode
  li t0, MSTATUS_SPP | MSTATUS_SIE
  csrc sstatus, t0
  li t0, MSTATUS_SPIE
  csrs sstatus, t0
  la t0, sret_u
  csrw sepc, t0
  S_EXPECT_TRAP 11f
  sret
  j fail
sret_u:                                // U-mode, SIE now 1
  ecall
  j fail
11:
  CHECK_SREC 36, SR_CAUSE, CAUSE_ECALL_U
  CHECK_SREC_FIELD 37, 5, 1, 1         // SPIE = SIE at the trap = 1
  CHECK_SREC_FIELD 38, 8, 1, 0
  // sret to S: afterwards SPP = U and SPIE = 1
  li t0, MSTATUS_SPP
  csrs sstatus, t0
  li t0, MSTATUS_SPIE | MSTATUS_SIE
  csrc sstatus, t0
  la t0, 12f
  csrw sepc, t0
  sret
  j fail
12:
  csrr s0, sstatus                     // still S (would trap in U)
  RETURN_TO_M
  srli a0, s0, 8
  andi a0, a0, 1
  CHECK 39, a0, 0
  srli a0, s0, 5
  andi a0, a0, 1
  CHECK 40, a0, 1
  andi a0, s0, MSTATUS_SIE
  CHECK 41, a0, 0                      // SIE = old SPIE = 0

  // ---- sstatus is a view of mstatus ----
  li t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
  csrc mstatus, t0
  li t1, MSTATUS_SIE | MSTATUS_SPP | MSTATUS_SUM
  csrs mstatus, t1
  csrr a0, sstatus
  and a0, a0, t0
  CHECKEQ 45, a0, t1
  li t1, MSTATUS_SPIE | MSTATUS_MXR
  csrw sstatus, t1                     // replaces the S fields only
  csrr a0, mstatus
  and a0, a0, t0
  CHECKEQ 46, a0, t1
  // M-only fields are invisible in sstatus and cannot be written through it
  li t0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  csrs mstatus, t0
  csrr a0, sstatus
  and a0, a0, t0
  CHECK 47, a0, 0
  csrc sstatus, t0
  csrr a0, mstatus
  and a0, a0, t0
  CHECKEQ 48, a0, t0
  li t0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  csrc mstatus, t0
  // UXL and FS are visible
  csrr a0, sstatus
  srli a1, a0, 32
  andi a1, a1, 3
  CHECK 49, a1, 2
  li t0, MSTATUS_FS
  csrs mstatus, t0
  csrr a0, sstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 50, a1, 3
  srli a1, a0, 63
  CHECK 51, a1, 1                      // SD too
  li t0, MSTATUS_FS
  csrc sstatus, t0                     // FS writable through sstatus
  csrr a0, mstatus
  srli a1, a0, 13
  andi a1, a1, 3
  CHECK 52, a1, 0
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  li t0, MSTATUS_SPIE | MSTATUS_MXR
  csrc mstatus, t0

  // ---- sie / sip are views of mie / mip through mideleg ----
  csrwi mie, 0
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mideleg, t0
  csrr a0, mideleg
  and a0, a0, t0                       // (with the H extension, VS bits read 1)
  CHECKEQ 55, a0, t0
  li t1, -1
  csrw sie, t1
  csrr a0, sie
  CHECK 56, a0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrr a0, mie
  CHECK 57, a0, MIP_SSIP | MIP_STIP | MIP_SEIP
  li t0, MIP_MSIP | MIP_MTIP | MIP_MEIP
  csrs mie, t0
  csrr a0, sie
  CHECK 58, a0, MIP_SSIP | MIP_STIP | MIP_SEIP   // M bits are not visible
  csrw sie, zero
  csrr a0, mie
  CHECK 59, a0, MIP_MSIP | MIP_MTIP | MIP_MEIP   // M bits unchanged
  csrwi mie, 0
  // sip.SSIP is writable, STIP is read-only in sip; both reflect mip
  csrwi mip, 0
  csrsi mip, MIP_SSIP
  csrr a0, sip
  andi a0, a0, 0x222
  CHECK 60, a0, MIP_SSIP
  csrci sip, MIP_SSIP
  csrr a0, mip
  andi a0, a0, MIP_SSIP
  CHECK 61, a0, 0
  csrsi sip, MIP_SSIP
  csrr a0, mip
  andi a0, a0, MIP_SSIP
  CHECK 62, a0, MIP_SSIP
  li t0, MIP_STIP
  csrs mip, t0
  csrr a0, sip
  andi a0, a0, 0x222
  CHECK 63, a0, MIP_SSIP | MIP_STIP
  csrc sip, t0                         // no effect
  csrr a0, mip
  andi a0, a0, MIP_STIP
  CHECK 64, a0, MIP_STIP
  // not delegated: read-only zero in sie and sip
  csrw mideleg, zero
  csrr a0, sip
  CHECK 65, a0, 0
  li t0, MIP_SSIP | MIP_STIP
  csrw mie, t0
  csrr a0, sie
  CHECK 66, a0, 0
  csrwi mie, 0
  li t0, MIP_SSIP | MIP_STIP
  csrc mip, t0
  csrr a0, mip
  andi a0, a0, 0x222
  CHECK 67, a0, 0
  // from S-mode, sie/sip are accessible
  li t0, MIP_SSIP
  csrw mideleg, t0
  ENTER_MODE PRV_S, 13f
13:
  csrsi sie, MIP_SSIP
  csrr s1, sie
  csrci sie, MIP_SSIP
  csrr s2, sip
  RETURN_TO_M
  CHECK 68, s1, MIP_SSIP
  CHECK 69, s2, 0
  csrw mideleg, zero
  csrw medeleg, zero

  TEST_END

// ---- S-mode trap handler: record, then resume at s_rec.resume in S ----
  .align 2
s_handler:
  la t6, s_rec
  csrr t5, scause
  sd t5, SR_CAUSE(t6)
  csrr t5, sepc
  sd t5, SR_EPC(t6)
  csrr t5, stval
  sd t5, SR_TVAL(t6)
  csrr t5, sstatus
  sd t5, SR_STATUS(t6)
  ld t5, SR_COUNT(t6)
  addi t5, t5, 1
  sd t5, SR_COUNT(t6)
  ld t5, SR_RESUME(t6)
  beqz t5, s_unexpected
  sd zero, SR_RESUME(t6)
  csrw sepc, t5
  li t5, MSTATUS_SPP
  csrs sstatus, t5
  sret
s_unexpected:
  j fail

  .data
  .align 4
s_rec:
  .dword 0, 0, 0, 0, 0, 0
