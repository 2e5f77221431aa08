// Privileged-spec WARL details that QEMU 7.2 does not follow (so
// validate-qemu.sh expects QEMU 7.2 to fail check 2 here; tsvm must pass):
//  - mstatus.MPP is WARL and 2 is not a privilege mode: writing 2 must read
//    back a legal value (0, 1 or 3). QEMU 7.2 reads back 2.
//  - medeleg[11] (environment call from M-mode) is read-only zero.
//    QEMU 7.2 lets it be set.
//  - On RV64, pmpaddr bits 63:54 are read-only zero (the register holds
//    address bits 55:2). QEMU 7.2 keeps all 64 bits.
//  - mepc[0] and sepc[0] always read zero. QEMU 7.2 keeps bit 0.
//  - (priv 1.12) an MRET to a mode below M clears MPRV. QEMU 7.2
//    leaves MPRV set.
#include "test.h"
  TEST_START

  li gp, 1
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, (2 << 11)
  csrs mstatus, t0
  csrr a0, mstatus
  srli a0, a0, 11
  andi a0, a0, 3
  li gp, 2
  li t0, 2
  bne a0, t0, 1f
  j fail
1:
  li t0, MSTATUS_MPP
  csrs mstatus, t0

  li t0, -1
  csrw medeleg, t0
  csrr a0, medeleg
  srli a0, a0, 11
  andi a0, a0, 1
  CHECK 3, a0, 0
  csrw medeleg, zero

  li t0, -1
  csrw pmpaddr1, t0
  csrr a0, pmpaddr1
  CHECK 4, a0, 0x003fffffffffffff
  csrw pmpaddr1, zero

  li t0, 0x80000003
  csrw mepc, t0
  csrr a0, mepc
  CHECK 5, a0, 0x80000002
  csrw sepc, t0
  csrr a0, sepc
  CHECK 6, a0, 0x80000002

  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  li gp, 7
  EXPECT_TRAP 1f
  ENTER_MODE PRV_S, 2f
2:
  ecall
  j fail
1:
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  la t5, trap_rec
  ld a0, TR_STATUS(t5)
  srli a0, a0, 17
  andi a0, a0, 1
  CHECK 8, a0, 0
  TEST_END
