// march: rv64g
// RV64I control transfer: BEQ BNE BLT BGE BLTU BGEU (taken / not taken,
// signed vs unsigned edges, forward / backward, long offsets), JAL and JALR
// (link values, rd = x0, rd == rs1, JALR clearing bit 0 of the target).
#include "test.h"

// TEST_BR num, op, taken(0/1), a, b
.macro TEST_BR num, op, taken, a, b
  li gp, \num
  li a1, \a
  li a2, \b
  li a0, 0
  \op a1, a2, .Lbt\@
  li a0, 1
  j .Lbj\@
.Lbt\@:
  li a0, 2
.Lbj\@:
  li t6, (1 + \taken)
  beq a0, t6, .Lbok\@
  j fail
.Lbok\@:
.endm

  TEST_START

  TEST_BR 1,  beq, 1, 0, 0
  TEST_BR 2,  beq, 1, -1, -1
  TEST_BR 3,  beq, 0, 0, 1
  TEST_BR 4,  beq, 0, 0x100000000, 0        // upper bits matter
  TEST_BR 5,  beq, 0, 0x8000000000000000, 0
  TEST_BR 6,  bne, 0, 0, 0
  TEST_BR 7,  bne, 1, 1, 0
  TEST_BR 8,  bne, 1, 0xffffffff00000000, 0
  TEST_BR 9,  bne, 0, 0x123456789abcdef0, 0x123456789abcdef0
  TEST_BR 10, blt, 1, -1, 0
  TEST_BR 11, blt, 0, 0, -1
  TEST_BR 12, blt, 1, 0x8000000000000000, 0x7fffffffffffffff
  TEST_BR 13, blt, 0, 0x7fffffffffffffff, 0x8000000000000000
  TEST_BR 14, blt, 0, 5, 5
  TEST_BR 15, blt, 1, -2, -1
  TEST_BR 16, blt, 1, 0xffffffff, 0x100000000
  TEST_BR 17, bge, 0, -1, 0
  TEST_BR 18, bge, 1, 0, -1
  TEST_BR 19, bge, 1, 5, 5
  TEST_BR 20, bge, 0, 0x8000000000000000, 0x7fffffffffffffff
  TEST_BR 21, bge, 1, 0x7fffffffffffffff, 0x8000000000000000
  TEST_BR 22, bge, 1, -1, -1
  TEST_BR 23, bltu, 0, -1, 0
  TEST_BR 24, bltu, 1, 0, -1
  TEST_BR 25, bltu, 0, 0x8000000000000000, 0x7fffffffffffffff
  TEST_BR 26, bltu, 1, 0x7fffffffffffffff, 0x8000000000000000
  TEST_BR 27, bltu, 0, 7, 7
  TEST_BR 28, bltu, 1, 0xffffffff, 0x100000000
  TEST_BR 29, bgeu, 1, -1, 0
  TEST_BR 30, bgeu, 0, 0, -1
  TEST_BR 31, bgeu, 1, 0x8000000000000000, 0x7fffffffffffffff
  TEST_BR 32, bgeu, 0, 0x7fffffffffffffff, 0x8000000000000000
  TEST_BR 33, bgeu, 1, 7, 7
  TEST_BR 34, bgeu, 1, 0, 0

  // comparisons against x0
  li gp, 40
  li a1, -5
  bltz a1, 1f            // blt a1, x0
  j fail
1:
  bgez a1, fail_near     // bge a1, x0: not taken
  bgtz a1, fail_near     // blt x0, a1: not taken
  li a1, 0
  blez a1, 2f            // bge x0, a1
  j fail
2:
  bnez a1, fail_near
  li gp, 41
  li a1, 1
  bltu zero, a1, 3f      // snez-style unsigned compare
  j fail
3:
  bgeu zero, a1, fail_near
  // same register in both operands
  li gp, 42
  li a1, 99
  beq a1, a1, 4f
  j fail
4:
  bne a1, a1, fail_near
  blt a1, a1, fail_near
  bltu a1, a1, fail_near
  bge a1, a1, 5f
  j fail
5:
  bgeu a1, a1, 6f
  j fail
6:
  j 7f
fail_near:
  j fail
7:

  // backward branch: loop 10 times
  li gp, 45
  li a0, 0
  li a1, 10
8:
  addi a0, a0, 3
  addi a1, a1, -1
  bnez a1, 8b
  CHECK 45, a0, 30
  // backward unsigned loop
  li a0, 0
  li a1, 0
  li a2, 5
9:
  addi a0, a0, 1
  addi a1, a1, 1
  bltu a1, a2, 9b
  CHECK 46, a0, 5

  // long branch offsets (close to the +/-4 KiB limit)
  li gp, 47
  li a1, 1
  bnez a1, far_fwd
  j fail
far_back:
  li a0, 0x47
  j far_done
far_fwd_src:
  .skip 4000
far_fwd:
  li a2, 2
  beq a2, a2, far_back_chk      // short hop, then long backward
  j fail
far_back_chk:
  li gp, 48
  bne a2, zero, far_back
  j fail
far_done:
  CHECK 49, a0, 0x47

  // ---- JAL ----
jal1:
  jal ra, jal1_t
jal1_ret:
  j fail
jal1_t:
  la a0, jal1_ret
  CHECKEQ 50, ra, a0
  la a0, jal1
  addi a0, a0, 4
  CHECKEQ 51, ra, a0
  // jal with a link register other than ra, backward target
  j jal2_src
jal2_t:
  la a0, jal2_ret
  CHECKEQ 52, t1, a0
  j jal2_done
jal2_src:
  li t1, 0
jal2:
  jal t1, jal2_t
jal2_ret:
  j fail
jal2_done:
  // jal x0 (j): no link written
  li ra, 0x1234
  jal x0, jal3_t
  j fail
jal3_t:
  CHECK 53, ra, 0x1234
  CHECK 54, zero, 0
  // long jal across 64 KiB
  jal ra, jal4_t
jal4_ret:
  j fail
  .skip 65536
jal4_t:
  la a0, jal4_ret
  CHECKEQ 55, ra, a0
  j jal5_src
  .skip 65536
jal5_t:
  la a0, jal5_ret
  CHECKEQ 56, s0, a0
  j jal5_done
jal5_src:
  jal s0, jal5_t
jal5_ret:
  j fail
jal5_done:

  // ---- JALR ----
  la t0, jalr1_t
jalr1:
  jalr ra, 0(t0)
jalr1_ret:
  j fail
jalr1_t:
  la a0, jalr1_ret
  CHECKEQ 60, ra, a0
  la a0, jalr1
  addi a0, a0, 4
  CHECKEQ 61, ra, a0
  // positive offset
  la t0, jalr2_t - 8
  jalr ra, 8(t0)
jalr2_ret:
  j fail
jalr2_t:
  la a0, jalr2_ret
  CHECKEQ 62, ra, a0
  // negative offset
  la t0, jalr3_t + 12
  jalr ra, -12(t0)
jalr3_ret:
  j fail
jalr3_t:
  la a0, jalr3_ret
  CHECKEQ 63, ra, a0
  // target with bit 0 set in the register: bit 0 is cleared
  la t0, jalr4_t
  addi t0, t0, 1
  jalr ra, 0(t0)
jalr4_ret:
  j fail
jalr4_t:
  la a0, jalr4_ret
  CHECKEQ 64, ra, a0
  // odd immediate: (rs1 + 1) & ~1
  la t0, jalr5_t
  jalr ra, 1(t0)
jalr5_ret:
  j fail
jalr5_t:
  la a0, jalr5_ret
  CHECKEQ 65, ra, a0
  // odd sum from an odd register and even... (rs1 = t-3, imm = 4 -> t+1 -> t)
  la t0, jalr6_t - 3
  jalr ra, 4(t0)
  j fail
jalr6_t:
  // rd == rs1: the target uses the old value
  la t0, jalr7_t
jalr7:
  jalr t0, 0(t0)
jalr7_ret:
  j fail
jalr7_t:
  la a0, jalr7_ret
  CHECKEQ 66, t0, a0
  // jalr x0 (jr / ret): no link written
  li a3, 0x55
  la t0, jalr8_t
  jalr x0, 0(t0)
  j fail
jalr8_t:
  CHECK 67, zero, 0
  CHECK 68, a3, 0x55
  // call/ret through the stack: recursive factorial(10)
  li a0, 10
  call fact
  CHECK 69, a0, 3628800
  // jalr to an address computed with the maximum negative offset
  la t1, jalr9_t + 2048
  jalr ra, -2048(t1)
jalr9_ret:
  j fail
jalr9_t:
  la a0, jalr9_ret
  CHECKEQ 70, ra, a0
  // jalr with the maximum positive offset
  la t1, jalr10_t - 2047
  jalr ra, 2047(t1)          // (t-2047+2047) = t
jalr10_ret:
  j fail
jalr10_t:
  la a0, jalr10_ret
  CHECKEQ 71, ra, a0

  TEST_END

// factorial(a0), recursive, uses the stack
fact:
  addi sp, sp, -16
  sd ra, 8(sp)
  sd a0, 0(sp)
  li t0, 1
  bleu a0, t0, fact_base
  addi a0, a0, -1
  call fact
  ld t1, 0(sp)
  mul a0, a0, t1
  j fact_out
fact_base:
  li a0, 1
fact_out:
  ld ra, 8(sp)
  addi sp, sp, 16
  ret
