// The full interrupt priority order for interrupts destined for M-mode:
// MEI > MSI > MTI > SEI > SSI > STI (privileged spec, "Machine Interrupt
// Registers"). MEI needs an external interrupt controller, so the order of
// the other five is checked by making them all pending at once and letting
// the handler mask each one it takes. QEMU 7.2 (without AIA) takes the
// lowest-numbered pending interrupt first (SSI, MSI, STI, MTI, SEI), so
// validate-qemu.sh expects it to fail check 2 here; tsvm must pass.
#include "test.h"

#define INT(c) ((1 << 63) | (c))

  TEST_START
  la t0, int_handler
  csrw mtvec, t0
  csrwi mie, 0
  csrw mideleg, zero
  li t0, CLINT_MSIP
  li t1, 1
  sw t1, 0(t0)
  li t0, CLINT_MTIMECMP
  sd zero, 0(t0)
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrs mip, t0
  li t0, MIP_MSIP | MIP_MTIP | MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE
  li gp, 1
  li s10, 20000000
1:
  la t5, seq_count
  ld t5, 0(t5)
  li t6, 5
  beq t5, t6, 2f
  addi s10, s10, -1
  bnez s10, 1b
  j fail
2:
  csrci mstatus, MSTATUS_MIE
  la s0, seq
  ld a0, 0(s0)
  CHECK 2, a0, INT(3)
  ld a0, 8(s0)
  CHECK 3, a0, INT(7)
  ld a0, 16(s0)
  CHECK 4, a0, INT(9)
  ld a0, 24(s0)
  CHECK 5, a0, INT(1)
  ld a0, 32(s0)
  CHECK 6, a0, INT(5)
  li t0, CLINT_MSIP
  sw zero, 0(t0)
  li t0, CLINT_MTIMECMP
  li t1, -1
  sd t1, 0(t0)
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrc mip, t0
  TEST_END

  .align 2
int_handler:
  csrr tp, mcause
  bltz tp, 1f
  j trap_handler_m
1:
  la t6, seq_count
  ld tp, 0(t6)
  addi tp, tp, 1
  sd tp, 0(t6)
  addi tp, tp, -1
  slli tp, tp, 3
  la t6, seq
  add t6, t6, tp
  csrr tp, mcause
  sd tp, 0(t6)
  li t6, 1
  sll t6, t6, tp
  csrc mie, t6
  mret

  .data
  .align 4
seq_count: .dword 0
seq: .dword 0, 0, 0, 0, 0, 0, 0, 0
