// RV64A: LR/SC (.W/.D, success and failure), every AMO in .W and .D forms,
// sign extension of .W results (including the unsigned AMOs), upper bits of
// rs2 ignored by .W, rd = x0, rd = rs2, aq/rl variants, misaligned AMO/LR/SC
// raising an address-misaligned or access-fault exception.
//
// Note: the spec makes a misaligned AMO raise a store/AMO exception (cause 6
// or 7), but QEMU 7.2 raises a load address-misaligned exception (cause 4) for
// misaligned AMOs, so this program accepts causes 4..7 for them. The strict
// check lives in strict_amo.S (a known QEMU 7.2 deviation).
#include "test.h"

// TEST_AMO_D num, op, init, src, old, new
.macro TEST_AMO_D num, op, init, src, old, new
  li gp, \num
  la a1, amo_buf
  li t0, \init
  sd t0, 0(a1)
  li a2, \src
  \op a0, a2, (a1)
  li t6, \old
  beq a0, t6, .Lad1\@
  j fail
.Lad1\@:
  ld t0, 0(a1)
  li t6, \new
  beq t0, t6, .Lad2\@
  j fail
.Lad2\@:
.endm

// TEST_AMO_W num, op, init32, src, old(sign-extended), new32
// the upper word of the dword (0xdeadbeef) must stay untouched
.macro TEST_AMO_W num, op, init, src, old, new
  li gp, \num
  la a1, amo_buf
  li t0, (0xdeadbeef << 32) | \init
  sd t0, 0(a1)
  li a2, \src
  \op a0, a2, (a1)
  li t6, \old
  beq a0, t6, .Law1\@
  j fail
.Law1\@:
  ld t0, 0(a1)
  li t6, (0xdeadbeef << 32) | \new
  beq t0, t6, .Law2\@
  j fail
.Law2\@:
.endm

  TEST_START

  // ---- SC without a reservation fails (nothing has done an LR yet) ----
  la a1, amo_buf
  li t0, 0x1111
  sd t0, 0(a1)
  li a2, 0x2222
  sc.d a0, a2, (a1)
  li gp, 1
  beqz a0, fail_near               // must be nonzero
  ld t0, 0(a1)
  CHECK 2, t0, 0x1111              // and memory must be unchanged
  sc.w a0, a2, (a1)
  li gp, 3
  beqz a0, fail_near
  ld t0, 0(a1)
  CHECK 4, t0, 0x1111

  // ---- LR.D / SC.D success ----
  lr.d a0, (a1)
  CHECK 5, a0, 0x1111
  li a2, 0x123456789abcdef0
  sc.d a3, a2, (a1)
  CHECK 6, a3, 0
  ld t0, 0(a1)
  CHECK 7, t0, 0x123456789abcdef0
  // a second SC after a successful one has no reservation: fails
  li a2, 0x5555
  sc.d a3, a2, (a1)
  li gp, 8
  beqz a3, fail_near
  ld t0, 0(a1)
  CHECK 9, t0, 0x123456789abcdef0

  // ---- LR.W / SC.W, sign extension of LR.W ----
  li t0, 0x0000000080000001
  sd t0, 0(a1)
  lr.w a0, (a1)
  CHECK 10, a0, 0xffffffff80000001
  li a2, 0xffffffff7ffffffe        // only the low word is stored
  sc.w a3, a2, (a1)
  CHECK 11, a3, 0
  ld t0, 0(a1)
  CHECK 12, t0, 0x7ffffffe
  sc.w a3, a2, (a1)
  li gp, 13
  beqz a3, fail_near

  // ---- SC to an address other than the reserved one fails ----
  la a1, amo_buf
  sd zero, 8(a1)
  lr.d a0, (a1)
  addi a4, a1, 8
  li a2, 0x77
  sc.d a3, a2, (a4)
  li gp, 14
  beqz a3, fail_near
  ld t0, 8(a1)
  CHECK 15, t0, 0
  // and the failed SC invalidated the reservation on amo_buf too
  sc.d a3, a2, (a1)
  li gp, 16
  beqz a3, fail_near
  ld t0, 0(a1)
  CHECK 17, t0, 0x7ffffffe

  // ---- aq/rl variants; an LR/SC increment loop ----
  li t0, 40
  sd t0, 0(a1)
  li a5, 0
1:
  lr.d.aq a0, (a1)
  addi a0, a0, 2
  sc.d.rl a3, a0, (a1)
  bnez a3, 1b
  addi a5, a5, 1
  li t1, 5
  bltu a5, t1, 1b
  ld t0, 0(a1)
  CHECK 18, t0, 50
  sw zero, 4(a1)
2:
  lr.w.aqrl a0, (a1)
  addi a0, a0, -51
  sc.w.aqrl a3, a0, (a1)
  bnez a3, 2b
  ld t0, 0(a1)
  CHECK 19, t0, 0xffffffff
  j 3f
fail_near:
  j fail
3:

  // ---- AMO*.D ----
  TEST_AMO_D 20, amoswap.d, 0x1122334455667788, 0xaabbccddeeff0011, 0x1122334455667788, 0xaabbccddeeff0011
  TEST_AMO_D 21, amoadd.d, 0x7fffffffffffffff, 1, 0x7fffffffffffffff, 0x8000000000000000
  TEST_AMO_D 22, amoadd.d, -1, -1, -1, -2
  TEST_AMO_D 23, amoand.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0x0f000f000f000f00
  TEST_AMO_D 24, amoor.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xfff0fff0fff0fff0
  TEST_AMO_D 25, amoxor.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0
  TEST_AMO_D 26, amomin.d, -5, 3, -5, -5
  TEST_AMO_D 27, amomin.d, 3, -5, 3, -5
  TEST_AMO_D 28, amomin.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x8000000000000000
  TEST_AMO_D 29, amomax.d, -5, 3, -5, 3
  TEST_AMO_D 30, amomax.d, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff
  TEST_AMO_D 31, amominu.d, -5, 3, -5, 3
  TEST_AMO_D 32, amominu.d, 3, -5, 3, 3
  TEST_AMO_D 33, amomaxu.d, -5, 3, -5, -5
  TEST_AMO_D 34, amomaxu.d, 0x7fffffffffffffff, 0x8000000000000000, 0x7fffffffffffffff, 0x8000000000000000
  TEST_AMO_D 35, amomin.d, 7, 7, 7, 7
  TEST_AMO_D 36, amoadd.d.aqrl, 100, -1, 100, 99
  TEST_AMO_D 37, amoswap.d.aq, 5, 6, 5, 6
  TEST_AMO_D 38, amoor.d.rl, 0, 0x8000000000000000, 0, 0x8000000000000000

  // ---- AMO*.W ----
  TEST_AMO_W 40, amoswap.w, 0x80000001, 0x12345678, 0xffffffff80000001, 0x12345678
  TEST_AMO_W 41, amoswap.w, 0x7fffffff, 0xffffffffffffffff, 0x7fffffff, 0xffffffff
  TEST_AMO_W 42, amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0x80000000
  TEST_AMO_W 43, amoadd.w, 0x7fffffff, 0xffffffff00000001, 0x7fffffff, 0x80000000
  TEST_AMO_W 44, amoadd.w, 0xffffffff, 1, 0xffffffffffffffff, 0x00000000   // no carry into the upper word
  TEST_AMO_W 45, amoand.w, 0xf0f0f0f0, 0xffffffff0ff00ff0, 0xfffffffff0f0f0f0, 0x00f000f0
  TEST_AMO_W 46, amoor.w, 0x0000ffff, 0x80000000, 0x0000ffff, 0x8000ffff
  TEST_AMO_W 47, amoxor.w, 0xaaaaaaaa, 0xffffffff, 0xffffffffaaaaaaaa, 0x55555555
  TEST_AMO_W 48, amomin.w, 0x80000000, 1, 0xffffffff80000000, 0x80000000
  TEST_AMO_W 49, amomin.w, 5, 0x1ffffffff, 5, 0xffffffff         // low word of rs2 is -1
  TEST_AMO_W 50, amomin.w, 0xfffffffe, 0xffffffff, 0xfffffffffffffffe, 0xfffffffe
  TEST_AMO_W 51, amomax.w, 0x80000000, 1, 0xffffffff80000000, 1
  TEST_AMO_W 52, amomax.w, 5, 0x1ffffffff, 5, 5
  TEST_AMO_W 53, amominu.w, 0x80000000, 1, 0xffffffff80000000, 1
  TEST_AMO_W 54, amominu.w, 5, 0xffffffff00000003, 5, 3
  TEST_AMO_W 55, amomaxu.w, 0x80000000, 1, 0xffffffff80000000, 0x80000000
  TEST_AMO_W 56, amomaxu.w, 5, 0xffffffff00000003, 5, 5
  TEST_AMO_W 57, amomaxu.w, 0x7fffffff, 0x80000000, 0x7fffffff, 0x80000000
  TEST_AMO_W 58, amoadd.w.aqrl, 10, 0xfffffffffffffff6, 10, 0
  TEST_AMO_W 59, amoxor.w.aq, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f, 0xffffffff

  // ---- AMO on the upper word of a dword (address offset 4) ----
  li gp, 60
  la a1, amo_buf
  li t0, 0x0000000512345678
  sd t0, 0(a1)
  addi a4, a1, 4
  li a2, 3
  amoadd.w a0, a2, (a4)
  CHECKR a0, 5
  ld t0, 0(a1)
  CHECK 61, t0, 0x0000000812345678

  // ---- rd = x0: memory still updated ----
  li t0, 10
  sd t0, 0(a1)
  li a2, 7
  amoadd.d x0, a2, (a1)
  CHECK 62, zero, 0
  ld t0, 0(a1)
  CHECK 63, t0, 17
  // ---- rd = rs2: rs2 is read before rd is written ----
  li a2, 0x99
  amoswap.d a2, a2, (a1)
  CHECK 64, a2, 17
  ld t0, 0(a1)
  CHECK 65, t0, 0x99
  li a2, 1
  amoadd.w a2, a2, (a1)
  CHECK 66, a2, 0x99
  ld t0, 0(a1)
  CHECK 67, t0, 0x9a
  // rd = rs1: the address is read before rd is written
  la a1, amo_buf
  li t0, 0x55
  sd t0, 0(a1)
  li a2, 0x11
  mv a6, a1
  amoor.d a6, a2, (a6)
  CHECK 71, a6, 0x55
  ld t0, 0(a1)
  CHECK 72, t0, 0x55
  mv a6, a1
  amoadd.w a6, a2, (a6)
  CHECK 73, a6, 0x55
  ld t0, 0(a1)
  CHECK 74, t0, 0x66
  li t0, 0x9a
  sd t0, 0(a1)
  // an AMO breaks nothing for a following LR/SC pair
  lr.d a0, (a1)
  CHECK 68, a0, 0x9a
  li a2, 0xabc
  sc.d a3, a2, (a1)
  CHECK 69, a3, 0
  ld t0, 0(a1)
  CHECK 70, t0, 0xabc

  // ---- misaligned AMOs raise cause 6 (or 7), memory unchanged ----
  la a1, amo_buf
  li t0, 0x0102030405060708
  sd t0, 0(a1)
  li gp, 80
  addi a4, a1, 2
  li a2, 1
  EXPECT_TRAP 4f
mis1:
  amoadd.w a0, a2, (a4)
  j fail
4:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  addi t0, t0, -CAUSE_MISALIGNED_LOAD
  sltiu t0, t0, 4                   // cause in {4..7}: see the note at the top
  CHECK 81, t0, 1
  la t5, trap_rec
  ld t0, TR_EPC(t5)
  la t1, mis1
  CHECKEQ 82, t0, t1
  ld t0, 0(a1)
  CHECK 83, t0, 0x0102030405060708
  li gp, 84
  addi a4, a1, 4
  EXPECT_TRAP 5f
  amoswap.d a0, a2, (a4)
  j fail
5:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  addi t0, t0, -CAUSE_MISALIGNED_LOAD
  sltiu t0, t0, 4
  CHECK 85, t0, 1
  ld t0, 0(a1)
  CHECK 86, t0, 0x0102030405060708
  li gp, 87
  addi a4, a1, 1
  EXPECT_TRAP 6f
  amomaxu.d a0, a2, (a4)
  j fail
6:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  addi t0, t0, -CAUSE_MISALIGNED_LOAD
  sltiu t0, t0, 4
  CHECK 88, t0, 1
  // misaligned LR: load address misaligned (4) or load access fault (5)
  li gp, 89
  addi a4, a1, 2
  EXPECT_TRAP 7f
  lr.w a0, (a4)
  j fail
7:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  addi t0, t0, -CAUSE_MISALIGNED_LOAD
  sltiu t0, t0, 2
  CHECK 90, t0, 1
  // misaligned SC: the spec asks for an exception (cause 6 or 7); QEMU 7.2
  // instead just fails the SC (no reservation can exist at a misaligned
  // address). Accept both here; memory must not change either way.
  li gp, 91
  addi a4, a1, 4
  li a0, 0
  EXPECT_TRAP 8f
  sc.d a0, a2, (a4)
  beqz a0, fail_near2               // no trap: SC must report failure
  la t5, trap_rec
  sd zero, TR_RESUME(t5)            // disarm
  j 9f
8:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  addi t0, t0, -CAUSE_MISALIGNED_STORE
  sltiu t0, t0, 2
  CHECK 92, t0, 1
9:
  ld t0, 0(a1)
  CHECK 93, t0, 0x0102030405060708
  j 10f
fail_near2:
  j fail
10:

  TEST_END

  .data
  .align 4
amo_buf:
  .dword 0, 0
