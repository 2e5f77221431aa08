// Interrupts: machine timer (CLINT mtimecmp/mtime), machine software (CLINT
// msip), supervisor software (mip.SSIP) and timer (mip.STIP written by
// M-mode), delegation of S interrupts (mideleg, scause with bit 63),
// priorities (pairs where QEMU 7.2 agrees with the spec; the full order
// MSI > MTI > SEI > SSI > STI is in strict_irq.S), global enables (mstatus.MIE/SIE and
// the "always enabled in a lower mode" rule), WFI waking up with interrupts
// disabled globally but enabled in mie, mepc of an interrupt, vectored mtvec.
#include "test.h"

#define INT(c) ((1 << 63) | (c))
#define IR_COUNT 0
#define IR_EPC 8
#define IR_STATUS 16
#define IR_SEQ 24

// wait until int_rec.count reaches n (bounded)
.macro WAIT_COUNT num, n
  li gp, \num
  li s10, 20000000
.Lwc\@:
  la t5, int_rec
  ld t5, IR_COUNT(t5)
  li t6, \n
  beq t5, t6, .Lwcok\@
  addi s10, s10, -1
  bnez s10, .Lwc\@
  j fail
.Lwcok\@:
.endm
.macro CHECK_COUNT num, n
  li gp, \num
  la t5, int_rec
  ld t5, IR_COUNT(t5)
  li t6, \n
  beq t5, t6, .Lcc\@
  j fail
.Lcc\@:
.endm
.macro CHECK_SEQ num, idx, cause
  li gp, \num
  la t5, int_rec
  ld t5, (IR_SEQ + 8 * \idx)(t5)
  li t6, \cause
  beq t5, t6, .Lcs\@
  j fail
.Lcs\@:
.endm
.macro RESET_INTS
  la t5, int_rec
  sd zero, IR_COUNT(t5)
  la t5, s_rec
  sd zero, 0(t5)
.endm
.macro SET_MTIMECMP_DELTA delta
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  li t2, \delta
  add t1, t1, t2
  li t0, CLINT_MTIMECMP
  sd t1, 0(t0)
.endm
.macro SET_MTIMECMP val
  li t0, CLINT_MTIMECMP
  li t1, \val
  sd t1, 0(t0)
.endm
.macro SET_MSIP val
  li t0, CLINT_MSIP
  li t1, \val
  sw t1, 0(t0)
.endm

  TEST_START
  la t0, int_handler
  csrw mtvec, t0
  la t0, s_handler
  csrw stvec, t0
  SET_MTIMECMP -1
  SET_MSIP 0
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrc mip, t0
  RESET_INTS

  // ---- mtime advances, and the time CSR follows it ----
  li t0, CLINT_MTIME
  ld a0, 0(t0)
  li a2, 100000
1:
  ld a1, 0(t0)
  bne a1, a0, 2f
  addi a2, a2, -1
  bnez a2, 1b
  li gp, 1
  j fail
2:
  li gp, 2
  bltu a1, a0, fail_near
  rdtime a2
  li gp, 3
  bltu a2, a1, fail_near               // time >= an earlier mtime read

  // ---- machine timer interrupt ----
  li t0, MIP_MTIP
  csrw mie, t0
  SET_MTIMECMP_DELTA 1000
  csrsi mstatus, MSTATUS_MIE
  WAIT_COUNT 5, 1
  CHECK_SEQ 6, 0, INT(7)               // mcause: bit 63 + 7
  csrr a0, mip
  andi a0, a0, MIP_MTIP
  CHECK 7, a0, MIP_MTIP                // still pending until mtimecmp moves
  SET_MTIMECMP -1
  csrr a0, mip
  andi a0, a0, MIP_MTIP
  CHECK 8, a0, 0
  la t5, int_rec
  ld a0, IR_STATUS(t5)                 // inside the handler: MPIE = 1, MIE = 0, MPP = M
  srli a1, a0, 7
  andi a1, a1, 1
  CHECK 9, a1, 1
  andi a1, a0, MSTATUS_MIE
  CHECK 10, a1, 0
  csrr a0, mstatus
  andi a0, a0, MSTATUS_MIE
  CHECK 11, a0, MSTATUS_MIE            // mret restored MIE
  // mepc of an interrupt is the instruction that did not execute yet
  li t0, MIP_MTIP
  csrw mie, t0
  SET_MTIMECMP_DELTA 500
  li s10, 2000000
  li gp, 12
spin:
  addi s10, s10, -1
  bnez s10, spin
  j fail_after_spin
spin_done:
  la t5, int_rec
  ld a0, IR_EPC(t5)
  la a1, spin
  li gp, 13
  bltu a0, a1, fail_near
  la a1, spin_done
  bgeu a0, a1, fail_near               // mepc lies inside the loop
  SET_MTIMECMP -1

  // ---- machine software interrupt (CLINT msip) ----
  RESET_INTS
  li t0, MIP_MSIP
  csrw mie, t0
  SET_MSIP 1
  WAIT_COUNT 15, 1
  CHECK_SEQ 16, 0, INT(3)
  csrr a0, mip
  andi a0, a0, MIP_MSIP
  CHECK 17, a0, MIP_MSIP
  SET_MSIP 0
  csrr a0, mip
  andi a0, a0, MIP_MSIP
  CHECK 18, a0, 0

  // ---- supervisor software interrupt taken in M (not delegated) ----
  RESET_INTS
  li t0, MIP_SSIP
  csrw mie, t0
  csrsi mip, MIP_SSIP
  WAIT_COUNT 20, 1
  CHECK_SEQ 21, 0, INT(1)
  csrci mip, MIP_SSIP
  // supervisor timer interrupt taken in M
  RESET_INTS
  li t0, MIP_STIP
  csrw mie, t0
  csrs mip, t0
  WAIT_COUNT 22, 1
  CHECK_SEQ 23, 0, INT(5)
  li t0, MIP_STIP
  csrc mip, t0
  // supervisor external interrupt (mip.SEIP written by M) taken in M
  RESET_INTS
  li t0, MIP_SEIP
  csrw mie, t0
  csrs mip, t0
  WAIT_COUNT 24, 1
  CHECK_SEQ 25, 0, INT(9)
  li t0, MIP_SEIP
  csrc mip, t0

  // ---- global enable: MIE = 0 holds interrupts off in M ----
  csrci mstatus, MSTATUS_MIE
  RESET_INTS
  li t0, MIP_MSIP
  csrw mie, t0
  SET_MSIP 1
  .rept 20
  nop
  .endr
  CHECK_COUNT 30, 0
  csrsi mstatus, MSTATUS_MIE           // now it is taken
  WAIT_COUNT 31, 1
  SET_MSIP 0
  // ... but M interrupts are always enabled in S and U
  csrci mstatus, MSTATUS_MIE
  RESET_INTS
  li t0, MIP_MSIP
  csrw mie, t0
  SET_MSIP 1
  li t0, MSTATUS_MPIE                  // so that MIE stays 0 after the mret
  csrc mstatus, t0
  ENTER_MODE PRV_S, 3f
3:
  nop
  nop
  RETURN_TO_M
  CHECK_COUNT 32, 1
  la t5, int_rec
  ld a0, IR_STATUS(t5)
  srli a0, a0, 11
  andi a0, a0, 3
  CHECK 33, a0, PRV_S                  // interrupted S-mode
  csrci mstatus, MSTATUS_MIE
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  RESET_INTS
  li t0, MIP_MSIP
  csrw mie, t0
  ENTER_MODE PRV_U, 4f
4:
  nop
  nop
  li a7, SVC_RETURN_TO_M
  ecall
  CHECK_COUNT 34, 1
  la t5, int_rec
  ld a0, IR_STATUS(t5)
  srli a0, a0, 11
  andi a0, a0, 3
  CHECK 35, a0, PRV_U
  SET_MSIP 0

  // ---- priorities between pairs (the full order is in strict_irq.S) ----
  // MSI > MTI
  csrci mstatus, MSTATUS_MIE
  csrw mideleg, zero
  RESET_INTS
  SET_MSIP 1
  SET_MTIMECMP 0
  li t0, MIP_MSIP | MIP_MTIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE           // the handler masks each one it takes
  WAIT_COUNT 40, 2
  CHECK_SEQ 41, 0, INT(3)
  CHECK_SEQ 42, 1, INT(7)
  SET_MSIP 0
  // MTI > SEI
  csrci mstatus, MSTATUS_MIE
  RESET_INTS
  li t0, MIP_SEIP
  csrs mip, t0
  li t0, MIP_MTIP | MIP_SEIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE
  WAIT_COUNT 43, 2
  CHECK_SEQ 44, 0, INT(7)
  CHECK_SEQ 45, 1, INT(9)
  SET_MTIMECMP -1
  li t0, MIP_SEIP
  csrc mip, t0
  // SSI > STI
  csrci mstatus, MSTATUS_MIE
  RESET_INTS
  li t0, MIP_SSIP | MIP_STIP
  csrs mip, t0
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE
  WAIT_COUNT 46, 2
  CHECK_SEQ 47, 0, INT(1)
  CHECK_SEQ 48, 1, INT(5)
  li t0, MIP_SSIP | MIP_STIP
  csrc mip, t0
  // a pending M-level interrupt is taken before a pending S-level one even
  // when the S one was delegated and we are in S with SIE = 1 (MTI vs STI)
  csrci mstatus, MSTATUS_MIE
  RESET_INTS
  li t0, MIP_STIP
  csrw mideleg, t0
  csrs mip, t0
  SET_MTIMECMP 0
  li t0, MIP_MTIP | MIP_STIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_SIE
  ENTER_MODE PRV_S, 12f
12:
  nop
  nop
  la t5, s_rec
  ld s1, 0(t5)                         // the S handler ran (after the M one)
  RETURN_TO_M
  CHECK_COUNT 49, 1
  CHECK_SEQ 90, 0, INT(7)
  CHECK 91, s1, 1
  SET_MTIMECMP -1
  li t0, MIP_STIP
  csrc mip, t0
  csrci mstatus, MSTATUS_SIE
  csrw mideleg, zero
  j 5f
fail_after_spin:
fail_near:
  j fail
5:

  // ---- delegated supervisor timer interrupt (STIP set by M) ----
  csrci mstatus, MSTATUS_MIE
  csrwi mie, 0
  RESET_INTS
  li t0, MIP_STIP
  csrw mideleg, t0
  csrs mip, t0                         // M-mode raises STIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE | MSTATUS_SIE
  .rept 10
  nop
  .endr
  csrci mstatus, MSTATUS_MIE
  la t5, s_rec
  ld a0, 0(t5)
  CHECK 50, a0, 0                      // delegated: never taken in M
  CHECK_COUNT 51, 0
  csrci mstatus, MSTATUS_SIE
  ENTER_MODE PRV_S, 6f
6:
  nop                                  // SIE = 0: held off in S
  nop
  la t5, s_rec
  ld s0, 0(t5)
  csrsi sstatus, MSTATUS_SIE           // taken now
  nop
  nop
  la t5, s_rec
  ld s1, 0(t5)
  RETURN_TO_M
  CHECK 52, s0, 0
  CHECK 53, s1, 1
  la t5, s_rec
  ld a0, 8(t5)
  CHECK 54, a0, INT(5)                 // scause
  ld a0, 16(t5)
  srli a0, a0, 8
  andi a0, a0, 1
  CHECK 55, a0, 1                      // SPP = S
  CHECK_COUNT 56, 0                    // M saw nothing
  li t0, MIP_STIP
  csrc mip, t0
  csrci mstatus, MSTATUS_SIE

  // ---- delegated supervisor software interrupt raised by S itself ----
  RESET_INTS
  li t0, MIP_SSIP
  csrw mideleg, t0
  ENTER_MODE PRV_S, 7f
7:
  csrsi sie, MIP_SSIP
  csrsi sstatus, MSTATUS_SIE
  csrsi sip, MIP_SSIP                  // S raises its own software interrupt
  nop
  nop
  la t5, s_rec
  ld s1, 0(t5)
  csrci sip, MIP_SSIP
  csrci sstatus, MSTATUS_SIE
  RETURN_TO_M
  CHECK 60, s1, 1
  la t5, s_rec
  ld a0, 8(t5)
  CHECK 61, a0, INT(1)
  // in U-mode, S interrupts are enabled whatever SIE says
  RESET_INTS
  csrsi mip, MIP_SSIP
  li t0, MIP_SSIP
  csrw mie, t0
  csrci mstatus, MSTATUS_SIE
  ENTER_MODE PRV_U, 8f
8:
  nop
  nop
  la t5, s_rec
  ld s1, 0(t5)
  li a7, SVC_RETURN_TO_M
  ecall
  CHECK 62, s1, 1
  la t5, s_rec
  ld a0, 16(t5)
  srli a0, a0, 8
  andi a0, a0, 1
  CHECK 63, a0, 0                      // SPP = U
  csrci mip, MIP_SSIP
  csrw mideleg, zero
  csrwi mie, 0

  // ---- WFI wakes up with MIE = 0 when an enabled interrupt is pending ----
  csrci mstatus, MSTATUS_MIE
  RESET_INTS
  li t0, MIP_MTIP
  csrw mie, t0
  SET_MTIMECMP_DELTA 2000
  li s10, 1000000
  li gp, 70
9:
  wfi                                  // may also return early: loop on mip
  csrr a0, mip
  andi a0, a0, MIP_MTIP
  bnez a0, 10f
  addi s10, s10, -1
  bnez s10, 9b
  j fail
10:
  CHECK_COUNT 71, 0                    // no trap was taken
  SET_MTIMECMP -1
  // WFI with an interrupt already pending returns at once
  li t0, MIP_MSIP
  csrw mie, t0
  SET_MSIP 1
  wfi
  CHECK_COUNT 72, 0
  SET_MSIP 0
  csrwi mie, 0

  // ---- vectored mtvec: interrupts go to BASE + 4 * cause ----
  RESET_INTS
  la t0, vec_table
  ori t0, t0, 1
  csrw mtvec, t0
  li t0, MIP_MSIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE
  SET_MSIP 1
  WAIT_COUNT 75, 1
  la t5, int_rec
  ld a0, IR_SEQ + 8 * 7(t5)            // the marker written by vector slot 3
  CHECK 76, a0, 0x3333
  SET_MSIP 0
  RESET_INTS
  li t0, MIP_SSIP
  csrw mie, t0
  csrsi mip, MIP_SSIP                  // slot 1
  WAIT_COUNT 77, 1
  la t5, int_rec
  ld a0, IR_SEQ + 8 * 7(t5)
  CHECK 78, a0, 0x1111
  csrci mip, MIP_SSIP
  // exceptions still go to BASE (slot 0)
  li gp, 79
  EXPECT_TRAP 11f
vec_exc:
  ebreak
  j fail
11:
  CHECK_TRAP 80, CAUSE_BREAKPOINT, vec_exc
  csrci mstatus, MSTATUS_MIE
  la t0, int_handler
  csrw mtvec, t0
  csrwi mie, 0

  TEST_END

// ---- M-mode handler: exceptions -> the generic handler; interrupts are
// recorded (sequence of causes), the taken interrupt is masked in mie, and
// execution resumes where it was interrupted ----
  .align 2
int_handler:
  csrr tp, mcause
  bltz tp, 1f
  j trap_handler_m
1:
  la t6, int_rec
  csrr tp, mepc
  sd tp, IR_EPC(t6)
  csrr tp, mstatus
  sd tp, IR_STATUS(t6)
  ld tp, IR_COUNT(t6)
  slli tp, tp, 3
  add tp, tp, t6
  csrr t6, mcause
  sd t6, IR_SEQ(tp)
  la t6, int_rec
  ld tp, IR_COUNT(t6)
  addi tp, tp, 1
  sd tp, IR_COUNT(t6)
  csrr tp, mcause
  li t6, 1
  sll t6, t6, tp                       // sll uses the low 6 bits: 1 << code
  csrc mie, t6
  la t6, spin
  csrr tp, mepc
  bltu tp, t6, 2f
  la t6, spin_done
  bgeu tp, t6, 2f
  csrw mepc, t6                        // leave the spin loop
2:
  mret

// vectored table: slot 0 exceptions, slots 1 and 3 mark and continue
  .align 8
vec_table:
  .option push
  .option norvc                        // 4-byte slots
  j trap_handler_m
  j vec_ssi
  j int_handler
  j vec_msi
  .rept 12
  j int_handler
  .endr
  .option pop
vec_ssi:
  la t6, int_rec
  li tp, 0x1111
  sd tp, IR_SEQ + 8 * 7(t6)
  j int_handler
vec_msi:
  la t6, int_rec
  li tp, 0x3333
  sd tp, IR_SEQ + 8 * 7(t6)
  j int_handler

// ---- S-mode handler: count, scause, sstatus; mask the interrupt in sie ----
  .align 2
s_handler:
  la t6, s_rec
  ld tp, 0(t6)
  addi tp, tp, 1
  sd tp, 0(t6)
  csrr tp, scause
  sd tp, 8(t6)
  csrr tp, sstatus
  sd tp, 16(t6)
  bgez tp, 3f                          // (sstatus.SD is irrelevant here)
3:
  csrr tp, scause
  bgez tp, 4f                          // exceptions are not expected here
  li t6, 1
  sll t6, t6, tp
  csrc sie, t6
  sret
4:
  j fail

  .data
  .align 4
int_rec:
  .dword 0, 0, 0
  .dword 0, 0, 0, 0, 0, 0, 0, 0        // sequence
s_rec:
  .dword 0, 0, 0
