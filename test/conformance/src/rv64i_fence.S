// FENCE (all predecessor/successor sets, FENCE.TSO, the PAUSE hint) and
// Zifencei FENCE.I: code written by stores becomes visible to instruction
// fetch after FENCE.I, also when the same address is rewritten repeatedly
// (an implementation that caches decoded instructions must drop them), for
// 32-bit and compressed instructions.
#include "test.h"

  TEST_START

  // ---- FENCE forms execute as ordering no-ops ----
  li a0, 5
  fence
  fence rw, rw
  fence r, r
  fence w, w
  fence r, rw
  fence rw, w
  fence io, io
  fence iorw, iorw
  fence i, o
  fence.tso
  .word 0x0100000f                   // pause (fence w, 0)
  .word 0x0000000f                   // fence 0, 0 (a hint)
  CHECK 1, a0, 5
  // stores and loads around fences
  la a1, data
  li a2, 0x1234
  sd a2, 0(a1)
  fence w, r
  ld a3, 0(a1)
  CHECK 2, a3, 0x1234

  // ---- FENCE.I and self-modifying code ----
  la s0, code_buf
  li t0, 0x02a00513                  // addi a0, zero, 42
  sw t0, 0(s0)
  li t0, 0x00008067                  // ret
  sw t0, 4(s0)
  fence.i
  li a0, 0
  jalr ra, 0(s0)
  CHECK 3, a0, 42
  // rewrite the same instruction and run it again
  li t0, 0x02b00513                  // addi a0, zero, 43
  sw t0, 0(s0)
  fence.i
  li a0, 0
  jalr ra, 0(s0)
  CHECK 4, a0, 43
  // a loop that rewrites the immediate each time: 1..10
  li s1, 1
  li s2, 0
1:
  slli t0, s1, 20
  li t1, 0x00000513                  // addi a0, zero, imm
  or t0, t0, t1
  sw t0, 0(s0)
  fence.i
  jalr ra, 0(s0)
  add s2, s2, a0
  addi s1, s1, 1
  li t1, 11
  bltu s1, t1, 1b
  CHECK 5, s2, 55
  // change the second instruction only (the first one stays cached)
  li t0, 0x00100513                  // addi a0, zero, 1
  sw t0, 0(s0)
  li t0, 0x00150513                  // addi a0, a0, 1
  sw t0, 4(s0)
  li t0, 0x00008067                  // ret
  sw t0, 8(s0)
  fence.i
  jalr ra, 0(s0)
  CHECK 6, a0, 2
  li t0, 0x00551513                  // slli a0, a0, 5
  sw t0, 4(s0)
  fence.i
  jalr ra, 0(s0)
  CHECK 7, a0, 32
  // compressed instructions written as halfwords
  li t0, 0x4515                      // c.li a0, 5
  sh t0, 0(s0)
  li t0, 0x8082                      // c.jr ra
  sh t0, 2(s0)
  fence.i
  li a0, 0
  jalr ra, 0(s0)
  CHECK 8, a0, 5
  // a 32-bit instruction at a 2-byte offset, written with a misaligned store
  li t0, 0x0001                      // c.nop
  sh t0, 0(s0)
  li t0, 0x07b00513                  // addi a0, zero, 123 at offset 2
  sw t0, 2(s0)
  li t0, 0x8082                      // c.jr ra at offset 6
  sh t0, 6(s0)
  fence.i
  li a0, 0
  jalr ra, 0(s0)
  CHECK 9, a0, 123
  // code written with a single 64-bit store: addi a0, zero, 7 ; ret
  li t0, 0x0000806700700513
  sd t0, 0(s0)
  fence.i
  li a0, 0
  jalr ra, 0(s0)
  CHECK 10, a0, 7
  // code placed by an AMO (amoswap.w) then executed
  la a1, code_buf
  li t0, 0x06300513                  // addi a0, zero, 99
  amoswap.w zero, t0, (a1)
  fence.i
  li a0, 0
  jalr ra, 0(s0)
  CHECK 11, a0, 99

  TEST_END

  .data
  .align 4
data:
  .dword 0
  .align 6
code_buf:
  .skip 64
