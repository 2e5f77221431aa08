// RV64C: every compressed instruction of RV64GC, written with explicit c.
// mnemonics: c.addi4spn c.fld c.lw c.ld c.fsd c.sw c.sd | c.nop c.addi
// c.addiw c.li c.addi16sp c.lui c.srli c.srai c.andi c.sub c.xor c.or c.and
// c.subw c.addw c.j c.beqz c.bnez | c.slli c.fldsp c.lwsp c.ldsp c.jr c.mv
// c.ebreak c.jalr c.add c.fsdsp c.swsp c.sdsp. Also 32-bit instructions at
// 2-byte-aligned addresses and one that straddles a 4 KiB page boundary, and
// the all-zero 16-bit illegal instruction.
#include "test.h"
#include "fp.h"

  TEST_START
  FP_START

  // ---- stack-pointer based: c.addi4spn, c.addi16sp ----
  mv s1, sp
  c.addi4spn a0, sp, 16
  sub a0, a0, s1
  CHECK 1, a0, 16
  c.addi4spn s0, sp, 1020
  sub s0, s0, s1
  CHECK 2, s0, 1020
  c.addi4spn a5, sp, 4
  sub a5, a5, s1
  CHECK 3, a5, 4
  c.addi16sp sp, -64
  sub a0, s1, sp
  CHECK 4, a0, 64
  c.addi16sp sp, 496
  sub a0, sp, s1
  CHECK 5, a0, 432
  c.addi16sp sp, -512
  sub a0, s1, sp
  CHECK 6, a0, 80
  mv sp, s1

  // ---- register loads/stores (x8..x15) ----
  la a1, cdata
  c.lw a0, 0(a1)
  CHECK 10, a0, 0xffffffff87654321        // sign-extended
  c.lw a2, 4(a1)
  CHECK 11, a2, 0x12345678
  c.ld a3, 8(a1)
  CHECK 12, a3, 0x8877665544332211
  c.lw s0, 124(a1)
  CHECK 13, s0, 0x7c7c7c7c
  c.ld s1, 248(a1)
  CHECK 14, s1, 0xf8f8f8f8f8f8f8f8
  li a4, 0x00000000abcdef01
  c.sw a4, 16(a1)
  ld a0, 16(a1)
  CHECK 15, a0, 0x00000000abcdef01
  li a4, 0xfedcba9876543210
  c.sd a4, 24(a1)
  ld a0, 24(a1)
  CHECK 16, a0, 0xfedcba9876543210
  c.sw a4, 120(a1)
  lwu a0, 120(a1)
  CHECK 17, a0, 0x76543210
  c.sd a4, 240(a1)
  ld a0, 240(a1)
  CHECK 18, a0, 0xfedcba9876543210
  // FP loads/stores (f8..f15)
  li gp, 19
  c.fld fs0, 8(a1)
  fmv.x.d a0, fs0
  CHECKR a0, 0x8877665544332211
  c.fsd fs0, 32(a1)
  ld a0, 32(a1)
  CHECK 20, a0, 0x8877665544332211
  c.fld fa5, 248(a1)
  fmv.x.d a0, fa5
  CHECK 21, a0, 0xf8f8f8f8f8f8f8f8

  // ---- stack-pointer loads/stores ----
  addi sp, sp, -512
  li t0, 0x1122334455667788
  c.sdsp t0, 0(sp)
  ld a0, 0(sp)
  CHECK 25, a0, 0x1122334455667788
  li t1, 0x99aabbcc
  c.swsp t1, 252(sp)
  lwu a0, 252(sp)
  CHECK 26, a0, 0x99aabbcc
  c.lwsp t2, 252(sp)
  CHECK 27, t2, 0xffffffff99aabbcc
  c.ldsp ra, 0(sp)
  CHECK 28, ra, 0x1122334455667788
  li t0, 0xa5a5a5a5a5a5a5a5
  c.sdsp t0, 504(sp)
  c.ldsp s2, 504(sp)
  CHECK 29, s2, 0xa5a5a5a5a5a5a5a5
  li t0, 0x0123456789abcdef
  fmv.d.x ft3, t0
  c.fsdsp ft3, 16(sp)
  ld a0, 16(sp)
  CHECK 30, a0, 0x0123456789abcdef
  c.fldsp ft4, 504(sp)
  fmv.x.d a0, ft4
  CHECK 31, a0, 0xa5a5a5a5a5a5a5a5
  c.lwsp a0, 0(sp)
  c.swsp a0, 8(sp)
  lw a1, 8(sp)
  CHECK 32, a1, 0x55667788
  addi sp, sp, 512

  // ---- constants and immediates ----
  c.li a0, -32
  CHECK 35, a0, -32
  c.li t0, 31
  CHECK 36, t0, 31
  c.li s3, 0
  CHECK 37, s3, 0
  c.lui a0, 0x1f
  CHECK 38, a0, 0x1f000
  c.lui a1, 1
  CHECK 39, a1, 0x1000
  c.lui t3, 0xfffe0                         // nzimm = -32: sign-extends
  CHECK 40, t3, 0xfffffffffffe0000
  c.lui s4, 0xfffff
  CHECK 41, s4, 0xfffffffffffff000
  li a0, 10
  c.addi a0, -32
  CHECK 42, a0, -22
  c.addi a0, 31
  CHECK 43, a0, 9
  li t4, 0x7fffffff
  c.addi t4, 1                              // 64-bit add: no wrap
  CHECK 44, t4, 0x80000000
  li a0, 0x7fffffff
  c.addiw a0, 1
  CHECK 45, a0, 0xffffffff80000000
  li a1, 0x123456789
  c.addiw a1, 0                             // sext.w
  CHECK 46, a1, 0x23456789
  li a2, 0xffffffff
  c.addiw a2, -32
  CHECK 47, a2, -33
  c.nop
  CHECK 48, zero, 0

  // ---- shifts and andi ----
  li a0, 0x8000000000000000
  c.srli a0, 63
  CHECK 50, a0, 1
  li a0, 0x8000000000000000
  c.srai a0, 63
  CHECK 51, a0, -1
  li a1, 0xf0
  c.srli a1, 4
  CHECK 52, a1, 0xf
  li a2, -64
  c.srai a2, 3
  CHECK 53, a2, -8
  li a3, 0x8000000000000000
  c.srli a3, 32
  CHECK 54, a3, 0x80000000
  li a0, 1
  c.slli a0, 63
  CHECK 55, a0, 0x8000000000000000
  li t5, 0xff
  c.slli t5, 8
  CHECK 56, t5, 0xff00
  li s5, 0x12345678
  c.slli s5, 32
  CHECK 57, s5, 0x1234567800000000
  li a4, 0x1234
  c.andi a4, -32                            // 0x...ffe0
  CHECK 58, a4, 0x1220
  li a5, 0x1234
  c.andi a5, 31
  CHECK 59, a5, 0x14
  li a5, -1
  c.andi a5, 0
  CHECK 60, a5, 0

  // ---- register-register ----
  li a0, 100
  li a1, 58
  c.sub a0, a1
  CHECK 65, a0, 42
  li a0, 0xff00ff00ff00ff00
  li a1, 0x0ff00ff00ff00ff0
  c.xor a0, a1
  CHECK 66, a0, 0xf0f0f0f0f0f0f0f0
  li a2, 0xff00ff00ff00ff00
  c.or a2, a1
  CHECK 67, a2, 0xfff0fff0fff0fff0
  li a3, 0xff00ff00ff00ff00
  c.and a3, a1
  CHECK 68, a3, 0x0f000f000f000f00
  li s0, 0x7fffffff
  li s1, 1
  c.addw s0, s1
  CHECK 69, s0, 0xffffffff80000000
  li s0, 0x80000000
  li s1, 1
  c.subw s0, s1
  CHECK 70, s0, 0x7fffffff
  li a4, 0x100000000
  li a5, 1
  c.subw a4, a5
  CHECK 71, a4, -1
  li a4, 0x100000005
  li a5, 0x200000003
  c.addw a4, a5
  CHECK 72, a4, 8
  li a0, 0
  li a1, 1
  c.sub a0, a1
  CHECK 73, a0, -1
  li t0, 0x123456789
  c.mv t1, t0
  CHECK 74, t1, 0x123456789
  li s6, 0x1000
  li s7, 0x234
  c.add s6, s7
  CHECK 75, s6, 0x1234
  li a0, 0x7fffffffffffffff
  li a1, 1
  c.add a0, a1
  CHECK 76, a0, 0x8000000000000000

  // ---- control transfer ----
  li gp, 80
  li a0, 0
  c.j 1f
  li a0, 1                                  // skipped
1:
  CHECKR a0, 0
  li gp, 81
  li s0, 0
  c.beqz s0, 2f
  j fail
2:
  li s0, 5
  c.beqz s0, fail_near                      // not taken
  c.bnez s0, 3f
  j fail
3:
  li a2, 0
  c.bnez a2, fail_near                      // not taken
  li gp, 82
  li a3, 4                                  // backward c.bnez loop
  li a4, 0
4:
  addi a4, a4, 3
  addi a3, a3, -1
  c.bnez a3, 4b
  CHECKR a4, 12
  li a5, 0x100000000                        // upper bits count for c.beqz
  c.beqz a5, fail_near
  j 5f
fail_near:
  j fail
5:
  // c.j backward
  li gp, 83
  j 7f
6:
  li a0, 0x83
  j 8f
7:
  c.j 6b
8:
  CHECKR a0, 0x83
  // c.jr
  li gp, 84
  la t0, 9f
  c.jr t0
  j fail
9:
  // c.jalr: link = pc + 2
  li gp, 85
  la t1, 10f
cjalr1:
  c.jalr t1
cjalr1_ret:
  j fail
10:
  la t2, cjalr1_ret
  CHECKEQ 86, ra, t2
  la t2, cjalr1
  addi t2, t2, 2
  CHECKEQ 87, ra, t2
  // c.jalr through ra itself: target is the old ra
  la ra, 11f
  c.jalr ra
cjalr2_ret:
  j fail
11:
  la t2, cjalr2_ret
  CHECKEQ 88, ra, t2
  // call a leaf that returns with c.jr ra
  li a0, 20
  call cleaf
  CHECK 89, a0, 41

  // ---- c.ebreak ----
  li gp, 90
  EXPECT_TRAP 12f
cebreak:
  c.ebreak
  j fail
12:
  CHECK_TRAP 91, CAUSE_BREAKPOINT, cebreak

  // ---- the all-zero halfword is an illegal instruction ----
  li gp, 92
  EXPECT_TRAP 13f
czero:
  .half 0x0000
  j fail
13:
  CHECK_TRAP 93, CAUSE_ILLEGAL_INSN, czero
  CHECK_TVAL 94, 0

  // ---- mixing 16- and 32-bit instructions: 32-bit ones at 2 mod 4 ----
  li a0, 0
  .balign 4
  c.addi a0, 1
  .option push
  .option norvc
  addi a0, a0, 2                            // at an address = 2 (mod 4)
  .option pop
  c.addi a0, 4
  .option push
  .option norvc
  addi a0, a0, 8
  .option pop
  CHECK 95, a0, 15

  // ---- a 32-bit instruction straddling a page boundary ----
  li a0, 0
  j straddle
  .balign 4096
  .skip 4094 - 2
  c.nop
  .option push
  .option norvc
straddle:
  addi a0, a0, 0x123                        // bytes 4094..4097 of the page
  addi a0, a0, 1
  .option pop
  CHECK 96, a0, 0x124
  // and a compressed instruction that ends exactly at a page boundary
  li a0, 0
  j cend
  .balign 4096
  .skip 4096 - 2
cend:
  c.addi a0, 7
  c.addi a0, 1
  CHECK 97, a0, 8

  TEST_END

cleaf:
  slli a0, a0, 1
  c.addi a0, 1
  c.jr ra

  .data
  .align 4
cdata:
  .word 0x87654321, 0x12345678
  .dword 0x8877665544332211
  .skip 104
  .word 0, 0x7c7c7c7c                      // offset 120, 124
  .skip 112
  .dword 0xf8f8f8f8f8f8f8f8                // offset 240 (overwritten), 248
  .dword 0xf8f8f8f8f8f8f8f8
