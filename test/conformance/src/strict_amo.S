// Strict misaligned AMO / SC exception causes.
// The privileged spec classifies AMOs and SC as store/AMO operations, so a
// misaligned AMO or SC must raise store/AMO address-misaligned (6) or
// store/AMO access fault (7), never a load exception, and must not write
// memory. Likewise an AMO to a non-existent address is a store/AMO access
// fault (7). QEMU 7.2 deviates (cause 4 for misaligned AMOs, cause 5 for AMO
// access faults; a misaligned SC just fails), so validate-qemu.sh expects
// this program to fail check 2 on QEMU 7.2.
#include "test.h"

.macro CHECK_STORE_CAUSE num
  li gp, \num
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  addi t0, t0, -CAUSE_MISALIGNED_STORE
  sltiu t0, t0, 2
  CHECKR t0, 1
.endm

  TEST_START
  la a1, amo_buf
  li t0, 0x0102030405060708
  sd t0, 0(a1)
  li a2, 1

  li gp, 1
  addi a4, a1, 2
  EXPECT_TRAP 1f
  amoadd.w a0, a2, (a4)
  j fail
1:
  CHECK_STORE_CAUSE 2
  li gp, 3
  addi a4, a1, 4
  EXPECT_TRAP 2f
  amoswap.d a0, a2, (a4)
  j fail
2:
  CHECK_STORE_CAUSE 4
  li gp, 5
  addi a4, a1, 1
  EXPECT_TRAP 3f
  amominu.w a0, a2, (a4)
  j fail
3:
  CHECK_STORE_CAUSE 6
  li gp, 7
  addi a4, a1, 6
  EXPECT_TRAP 4f
  sc.w a0, a2, (a4)
  j fail
4:
  CHECK_STORE_CAUSE 8
  ld t0, 0(a1)
  CHECK 9, t0, 0x0102030405060708
  // AMO to an unmapped address: store/AMO access fault with mtval = address
  li gp, 10
  li a4, 0x20
  EXPECT_TRAP 5f
amo_af:
  amoor.w a0, a2, (a4)
  j fail
5:
  CHECK_TRAP 11, CAUSE_STORE_ACCESS, amo_af
  CHECK_TVAL 12, 0x20
  TEST_END

  .data
  .align 4
amo_buf:
  .dword 0, 0
