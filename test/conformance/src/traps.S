// march: rv64g
// Synchronous exceptions taken in M-mode: ECALL from M/S/U (causes 11/9/8,
// mtval = 0), EBREAK (cause 3, mepc = pc, mtval = pc or 0 -- both allowed by
// the spec; QEMU writes 0), illegal instructions (cause 2, mtval = the
// instruction bits -- the spec allows 0 or the bits; QEMU and tsvm write the
// bits), privileged instructions from lower modes (mret/sret/wfi/sfence.vma,
// TSR/TVM/TW), load/store/fetch access faults on unmapped addresses (causes
// 5/7/1, mtval = address), mret/MPP/MPIE/MPRV behaviour, vectored mtvec for
// exceptions, and exception priority where the spec fixes it.
#include "test.h"

// CHECK_STATUS_FIELD num, shift, mask, value : trap_rec.status field
.macro CHECK_STATUS_FIELD num, shift, mask, val
  li gp, \num
  la t5, trap_rec
  ld t5, TR_STATUS(t5)
  srli t5, t5, \shift
  andi t5, t5, \mask
  li t6, \val
  beq t5, t6, .Lcsf\@
  j fail
.Lcsf\@:
.endm

  TEST_START

  // ---- ECALL from M ----
  li gp, 1
  EXPECT_TRAP 1f
ec_m:
  ecall
  j fail
1:
  CHECK_TRAP 2, CAUSE_ECALL_M, ec_m
  CHECK_TVAL 3, 0
  CHECK_STATUS_FIELD 4, 11, 3, PRV_M   // MPP = M
  // ---- ECALL from S ----
  li gp, 5
  li a7, 0                             // not a service request
  EXPECT_TRAP 2f
  ENTER_MODE PRV_S, ec_s
ec_s:
  ecall
  j fail
2:
  CHECK_TRAP 6, CAUSE_ECALL_S, ec_s
  CHECK_TVAL 7, 0
  CHECK_STATUS_FIELD 8, 11, 3, PRV_S
  // ---- ECALL from U ----
  li gp, 9
  EXPECT_TRAP 3f
  ENTER_MODE PRV_U, ec_u
ec_u:
  ecall
  j fail
3:
  CHECK_TRAP 10, CAUSE_ECALL_U, ec_u
  CHECK_TVAL 11, 0
  CHECK_STATUS_FIELD 12, 11, 3, PRV_U

  // ---- EBREAK ----
  li gp, 15
  EXPECT_TRAP 4f
ebk:
  ebreak
  j fail
4:
  CHECK_TRAP 16, CAUSE_BREAKPOINT, ebk
  li gp, 17                            // mtval: 0 or the pc of the ebreak
  la t5, trap_rec
  ld t5, TR_TVAL(t5)
  beqz t5, 5f
  la t6, ebk
  beq t5, t6, 5f
  j fail
5:
  li gp, 18
  EXPECT_TRAP 6f
  ENTER_MODE PRV_U, ebk_u
ebk_u:
  ebreak
  j fail
6:
  CHECK_TRAP 19, CAUSE_BREAKPOINT, ebk_u
  CHECK_STATUS_FIELD 20, 11, 3, PRV_U

  // ---- illegal instructions: mtval = instruction bits ----
  li gp, 25
  EXPECT_TRAP 7f
ill1:
  .word 0xfe000033                     // OP with an unused funct7
  j fail
7:
  CHECK_TRAP 26, CAUSE_ILLEGAL_INSN, ill1
  CHECK_TVAL 27, 0xfe000033
  li gp, 28
  EXPECT_TRAP 8f
ill2:
  .word 0x7c002573                     // csrr a0, 0x7c0 (unimplemented CSR)
  j fail
8:
  CHECK_TRAP 29, CAUSE_ILLEGAL_INSN, ill2
  CHECK_TVAL 30, 0x7c002573
  li gp, 31
  EXPECT_TRAP 9f
ill3:
  .word 0x00000000                     // all zeros: illegal in every encoding
  j fail
9:
  CHECK_TRAP 32, CAUSE_ILLEGAL_INSN, ill3
  CHECK_TVAL 33, 0
  li gp, 34
  EXPECT_TRAP 10f
ill4:
  .word 0xf1401073                     // csrw mhartid, zero (read-only CSR)
  j fail
10:
  CHECK_TRAP 35, CAUSE_ILLEGAL_INSN, ill4
  CHECK_TVAL 36, 0xf1401073
  li gp, 37
  EXPECT_TRAP 11f
ill5:
  .word 0x0000707f                     // opcode 0x7f (reserved long encoding)
  j fail
11:
  CHECK_TRAP 38, CAUSE_ILLEGAL_INSN, ill5

  // ---- privileged instructions from lower modes ----
  li gp, 40
  EXPECT_TRAP 12f
  ENTER_MODE PRV_S, mret_s
mret_s:
  mret
  j fail
12:
  CHECK_TRAP 41, CAUSE_ILLEGAL_INSN, mret_s
  CHECK_TVAL 42, 0x30200073
  li gp, 43
  EXPECT_TRAP 13f
  ENTER_MODE PRV_U, sret_u
sret_u:
  sret
  j fail
13:
  CHECK_TRAP 44, CAUSE_ILLEGAL_INSN, sret_u
  CHECK_TVAL 45, 0x10200073
  li gp, 46
  EXPECT_TRAP 14f
  ENTER_MODE PRV_U, mret_u
mret_u:
  mret
  j fail
14:
  CHECK_TRAP 47, CAUSE_ILLEGAL_INSN, mret_u
  li gp, 48
  EXPECT_TRAP 15f
  ENTER_MODE PRV_U, sfence_u
sfence_u:
  sfence.vma
  j fail
15:
  CHECK_TRAP 49, CAUSE_ILLEGAL_INSN, sfence_u
  CHECK_TVAL 50, 0x12000073
  // TSR: sret in S-mode is illegal
  li t0, MSTATUS_TSR
  csrs mstatus, t0
  li gp, 51
  EXPECT_TRAP 16f
  ENTER_MODE PRV_S, sret_tsr
sret_tsr:
  sret
  j fail
16:
  CHECK_TRAP 52, CAUSE_ILLEGAL_INSN, sret_tsr
  li t0, MSTATUS_TSR
  csrc mstatus, t0
  // TVM: sfence.vma and satp in S-mode are illegal
  li t0, MSTATUS_TVM
  csrs mstatus, t0
  li gp, 53
  EXPECT_TRAP 17f
  ENTER_MODE PRV_S, sfence_tvm
sfence_tvm:
  sfence.vma
  j fail
17:
  CHECK_TRAP 54, CAUSE_ILLEGAL_INSN, sfence_tvm
  li gp, 55
  EXPECT_TRAP 18f
  ENTER_MODE PRV_S, satp_tvm
satp_tvm:
  csrr a0, satp
  j fail
18:
  CHECK_TRAP 56, CAUSE_ILLEGAL_INSN, satp_tvm
  CHECK_TVAL 57, 0x18002573
  li t0, MSTATUS_TVM
  csrc mstatus, t0
  // without TVM both are fine in S-mode
  RESET_TRAP_COUNT
  ENTER_MODE PRV_S, 19f
19:
  sfence.vma
  csrr a0, satp
  RETURN_TO_M
  CHECK_TRAP_COUNT 58, 0
  // TW: wfi in S-mode is illegal (no interrupt can complete it here)
  li t0, MSTATUS_TW
  csrs mstatus, t0
  li gp, 59
  EXPECT_TRAP 20f
  ENTER_MODE PRV_S, wfi_tw
wfi_tw:
  wfi
  j fail
20:
  CHECK_TRAP 60, CAUSE_ILLEGAL_INSN, wfi_tw
  CHECK_TVAL 61, 0x10500073
  li t0, MSTATUS_TW
  csrc mstatus, t0

  // ---- access faults on unmapped physical addresses ----
  li gp, 65
  EXPECT_TRAP 21f
laf:
  ld a0, 0(zero)
  j fail
21:
  CHECK_TRAP 66, CAUSE_LOAD_ACCESS, laf
  CHECK_TVAL 67, 0
  li gp, 68
  li a1, 0x8
  EXPECT_TRAP 22f
laf2:
  lw a0, 0(a1)
  j fail
22:
  CHECK_TRAP 69, CAUSE_LOAD_ACCESS, laf2
  CHECK_TVAL 70, 0x8
  li gp, 71
  li a1, 0x10
  EXPECT_TRAP 23f
saf:
  sd a0, 8(a1)
  j fail
23:
  CHECK_TRAP 72, CAUSE_STORE_ACCESS, saf
  CHECK_TVAL 73, 0x18
  li gp, 74
  li a1, 0x20
  li a2, 1
  EXPECT_TRAP 24f
aaf:
  amoadd.d a0, a2, (a1)                // the spec: a store/AMO access fault (7);
  j fail                               // QEMU 7.2 raises 5 (strict check: strict_amo.S)
24:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  ori t0, t0, 2                        // 5 -> 7, 7 -> 7
  CHECK 75, t0, CAUSE_STORE_ACCESS
  CHECK_TVAL 76, 0x20
  // instruction fetch access fault: mepc = mtval = target
  li gp, 77
  li a1, 0x40
  EXPECT_TRAP 25f
  jalr ra, 0(a1)
iaf_ret:
  j fail
25:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  CHECK 78, t0, CAUSE_FETCH_ACCESS
  ld t0, TR_EPC(t5)
  CHECK 79, t0, 0x40
  CHECK_TVAL 80, 0x40
  la t0, iaf_ret
  CHECKEQ 81, ra, t0                   // the jump itself completed
  // loads from S and U also fault (the same PMA, not a PMP issue)
  li gp, 82
  EXPECT_TRAP 26f
  ENTER_MODE PRV_U, laf_u
laf_u:
  lbu a0, 0x30(zero)
  j fail
26:
  CHECK_TRAP 83, CAUSE_LOAD_ACCESS, laf_u
  CHECK_TVAL 84, 0x30

  // ---- mret: privilege = MPP, MIE = MPIE, MPIE = 1, MPP = U ----
  // into S with MPIE = 1: the next ecall comes from S with MPIE = 1 (MIE was 1)
  csrwi mie, 0
  li t0, MSTATUS_MIE
  csrc mstatus, t0
  li t0, MSTATUS_MPIE
  csrs mstatus, t0
  li gp, 90
  EXPECT_TRAP 27f
  ENTER_MODE PRV_S, mret1
mret1:
  ecall
  j fail
27:
  CHECK_TRAP 91, CAUSE_ECALL_S, mret1
  CHECK_STATUS_FIELD 92, 7, 1, 1       // MPIE = the MIE that mret restored (1)
  CHECK_STATUS_FIELD 93, 3, 1, 0       // MIE cleared on trap entry
  // into U with MPIE = 0
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  li gp, 94
  EXPECT_TRAP 28f
  ENTER_MODE PRV_U, mret2
mret2:
  ecall
  j fail
28:
  CHECK_TRAP 95, CAUSE_ECALL_U, mret2
  CHECK_STATUS_FIELD 96, 7, 1, 0
  // mret staying in M: afterwards MPP = U, MPIE = 1, MIE = old MPIE (0)
  li t0, MSTATUS_MPIE | MSTATUS_MIE
  csrc mstatus, t0
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  la t0, 29f
  csrw mepc, t0
  mret
  j fail
29:
  csrr a0, mstatus
  srli a1, a0, 11
  andi a1, a1, 3
  CHECK 97, a1, PRV_U
  srli a1, a0, 7
  andi a1, a1, 1
  CHECK 98, a1, 1
  andi a1, a0, MSTATUS_MIE
  CHECK 99, a1, 0
  // (mret to S/U clearing MPRV is checked in strict_priv.S: QEMU 7.2 keeps it)
  // mret to M keeps MPRV (read mstatus before any load/store)
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  la t0, 31f
  csrw mepc, t0
  mret
31:
  csrr a0, mstatus
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  srli a0, a0, 17
  andi a0, a0, 1
  CHECK 102, a0, 1
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  // mret jumps to mepc exactly
  la t0, 32f
  csrw mepc, t0
  mret
  j fail
32:

  // ---- a trap saves MIE into MPIE and clears MIE ----
  li t0, MSTATUS_MIE                   // (mie = 0: no interrupt can fire)
  csrs mstatus, t0
  li gp, 105
  EXPECT_TRAP 33f
  ecall
33:
  CHECK_STATUS_FIELD 106, 7, 1, 1
  CHECK_STATUS_FIELD 107, 3, 1, 0
  csrr a0, mstatus                     // the handler's mret restored MIE = 1
  andi a0, a0, MSTATUS_MIE
  CHECK 108, a0, MSTATUS_MIE
  li t0, MSTATUS_MIE
  csrc mstatus, t0

  // ---- vectored mtvec: exceptions still go to BASE ----
  la t0, trap_handler_m
  ori t0, t0, 1
  csrw mtvec, t0
  li gp, 110
  EXPECT_TRAP 34f
vec_ec:
  ecall
  j fail
34:
  CHECK_TRAP 111, CAUSE_ECALL_M, vec_ec
  la t0, trap_handler_m
  csrw mtvec, t0

  // ---- exception priority ----
  // FP instruction with FS=Off on an unmapped address: illegal wins
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li gp, 115
  EXPECT_TRAP 35f
prio1:
  fld f1, 0(zero)
  j fail
35:
  CHECK_TRAP 116, CAUSE_ILLEGAL_INSN, prio1
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  // privileged CSR write from U to an unmapped... csr: illegal, no access
  li gp, 117
  EXPECT_TRAP 36f
  ENTER_MODE PRV_U, prio2
prio2:
  csrw mscratch, zero
  j fail
36:
  CHECK_TRAP 118, CAUSE_ILLEGAL_INSN, prio2
  CHECK_TVAL 119, 0x34001073
  // fetch access fault beats whatever the (missing) bytes would decode to
  li gp, 120
  li a1, 0x100
  EXPECT_TRAP 37f
  jr a1
37:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  CHECK 121, t0, CAUSE_FETCH_ACCESS

  TEST_END
