// RV64I loads and stores: LB LH LW LD LBU LHU LWU SB SH SW SD, sign and zero
// extension, offsets at the 12-bit limits, loads into x0, rd == rs1, and
// misaligned accesses (which must complete without a trap on tsvm and QEMU),
// including ones that cross an 8-byte boundary and a 4 KiB page boundary.
#include "test.h"

// TEST_LD num, op, expected, offset   (base a1 = ld_data)
.macro TEST_LD num, op, res, off
  li gp, \num
  la a1, ld_data
  \op a0, \off(a1)
  li t6, \res
  beq a0, t6, .Lld\@
  j fail
.Lld\@:
.endm

// FILL: fill st_buf[0..31] with 0x11 bytes
.macro FILL
  la a1, st_buf
  li t0, 0x1111111111111111
  sd t0, 0(a1)
  sd t0, 8(a1)
  sd t0, 16(a1)
  sd t0, 24(a1)
.endm

// CHECK_BUF num, off, expected : the aligned dword st_buf[off]
.macro CHECK_BUF num, off, val
  li gp, \num
  la t5, st_buf
  ld t5, \off(t5)
  li t6, \val
  beq t5, t6, .Lcb\@
  j fail
.Lcb\@:
.endm

  TEST_START

  // ---- aligned loads, sign/zero extension ----
  TEST_LD 1,  lb,  0xffffffffffffff81, 0
  TEST_LD 2,  lbu, 0x81, 0
  TEST_LD 3,  lb,  0x02, 1
  TEST_LD 4,  lb,  0xfffffffffffffff8, 7
  TEST_LD 5,  lbu, 0xf8, 7
  TEST_LD 6,  lb,  0x7f, 14
  TEST_LD 7,  lh,  0x0281, 0
  TEST_LD 8,  lh,  0x0483, 2
  TEST_LD 9,  lh,  0xffffffffffff8685, 4
  TEST_LD 10, lhu, 0x8685, 4
  TEST_LD 11, lh,  0xfffffffffffff807, 6
  TEST_LD 12, lhu, 0xf807, 6
  TEST_LD 13, lw,  0x04830281, 0
  TEST_LD 14, lw,  0xfffffffff8078685, 4
  TEST_LD 15, lwu, 0xf8078685, 4
  TEST_LD 16, lwu, 0x04830281, 0
  TEST_LD 17, ld,  0xf807868504830281, 0
  TEST_LD 18, ld,  0x907fee5dcc3baa19, 8
  TEST_LD 19, lw,  0xffffffffcc3baa19, 8
  TEST_LD 20, lw,  0xffffffff907fee5d, 12
  TEST_LD 21, lh,  0xffffffffffff907f, 14
  TEST_LD 22, lbu, 0x90, 15
  TEST_LD 23, ld,  0x0fedcba987654321, 16

  // ---- negative offsets and the 12-bit offset limits ----
  li gp, 30
  la a1, ld_data + 8
  lbu a0, -8(a1)
  CHECKR a0, 0x81
  lw a0, -4(a1)
  CHECK 31, a0, 0xfffffffff8078685
  ld a0, -8(a1)
  CHECK 32, a0, 0xf807868504830281
  la a1, ld_data + 2048
  lbu a0, -2048(a1)
  CHECK 33, a0, 0x81
  la a1, ld_data - 2047
  lbu a0, 2047(a1)
  CHECK 34, a0, 0x81
  la a1, ld_data - 2040
  ld a0, 2040(a1)
  CHECK 35, a0, 0xf807868504830281

  // ---- x0 as destination, rd == rs1 ----
  la a1, ld_data
  lw x0, 0(a1)
  ld x0, 8(a1)
  CHECK 36, zero, 0
  ld a1, 0(a1)
  CHECK 37, a1, 0xf807868504830281
  la a2, ld_data
  lbu a2, 15(a2)
  CHECK 38, a2, 0x90

  // ---- misaligned loads ----
  TEST_LD 40, lh,  0xffffffffffff8302, 1
  TEST_LD 41, lhu, 0x8302, 1
  TEST_LD 42, lh,  0x19f8, 7                    // crosses the 8-byte boundary
  TEST_LD 43, lhu, 0x19f8, 7
  TEST_LD 44, lw,  0xffffffff85048302, 1
  TEST_LD 45, lwu, 0x85048302, 1
  TEST_LD 46, lwu, 0x07868504, 3
  TEST_LD 47, lw,  0xffffffffaa19f807, 6          // crosses
  TEST_LD 48, lwu, 0xaa19f807, 6
  TEST_LD 49, lw,  0x3baa19f8, 7                  // crosses
  TEST_LD 50, ld,  0x19f8078685048302, 1          // crosses
  TEST_LD 51, ld,  0x5dcc3baa19f80786, 5
  TEST_LD 52, ld,  0x7fee5dcc3baa19f8, 7
  TEST_LD 53, ld,  0xedcba98765432190, 15
  TEST_LD 54, lh,  0x2190, 15
  TEST_LD 55, lw,  0x21907fee, 13
  TEST_LD 56, lw,  0x65432190, 15
  TEST_LD 57, ld,  0xa987654321907fee, 13

  // ---- stores: only the addressed bytes change ----
  FILL
  li a0, 0x123456789abcdeab
  sb a0, 0(a1)
  CHECK_BUF 60, 0, 0x11111111111111ab
  sb a0, 7(a1)
  CHECK_BUF 61, 0, 0xab111111111111ab
  CHECK_BUF 62, 8, 0x1111111111111111
  FILL
  li a0, 0xffffffffffffbeef
  sh a0, 2(a1)
  CHECK_BUF 63, 0, 0x11111111beef1111
  sh a0, 6(a1)
  CHECK_BUF 64, 0, 0xbeef1111beef1111
  FILL
  li a0, 0xffffffff12345678
  sw a0, 4(a1)
  CHECK_BUF 65, 0, 0x1234567811111111
  sw a0, 8(a1)
  CHECK_BUF 66, 8, 0x1111111112345678
  FILL
  li a0, 0x0102030405060708
  sd a0, 8(a1)
  CHECK_BUF 67, 8, 0x0102030405060708
  CHECK_BUF 68, 0, 0x1111111111111111
  CHECK_BUF 69, 16, 0x1111111111111111
  // store, then load back with every width
  FILL
  li a0, 0x8899aabbccddeeff
  sd a0, 0(a1)
  lb a2, 0(a1)
  CHECK 70, a2, 0xffffffffffffffff
  lhu a2, 6(a1)
  CHECK 71, a2, 0x8899
  lw a2, 4(a1)
  CHECK 72, a2, 0xffffffff8899aabb
  lwu a2, 0(a1)
  CHECK 73, a2, 0xccddeeff
  // store x0
  sw zero, 0(a1)
  CHECK_BUF 74, 0, 0x8899aabb00000000
  sb zero, 7(a1)
  CHECK_BUF 75, 0, 0x0099aabb00000000
  // store with negative offset and the offset limits
  FILL
  la a2, st_buf + 16
  li a0, 0x77
  sb a0, -16(a2)
  CHECK_BUF 76, 0, 0x1111111111111177
  la a2, st_buf + 2048
  li a0, 0x66
  sb a0, -2047(a2)
  CHECK_BUF 77, 0, 0x1111111111116677
  la a2, st_buf - 2045
  li a0, 0x55
  sb a0, 2047(a2)
  CHECK_BUF 78, 0, 0x1111111111556677

  // ---- misaligned stores ----
  FILL
  li a0, 0xa1b2
  sh a0, 7(a1)                                  // crosses the 8-byte boundary
  CHECK_BUF 80, 0, 0xb211111111111111
  CHECK_BUF 81, 8, 0x11111111111111a1
  FILL
  li a0, 0xdeadbeef
  sw a0, 5(a1)                                  // crosses
  CHECK_BUF 82, 0, 0xadbeef1111111111
  CHECK_BUF 83, 8, 0x11111111111111de
  FILL
  li a0, 0x0102030405060708
  sd a0, 3(a1)                                  // crosses
  CHECK_BUF 84, 0, 0x0405060708111111
  CHECK_BUF 85, 8, 0x1111111111010203
  FILL
  li a0, 0xcafef00d
  sw a0, 1(a1)                                  // misaligned, same dword
  CHECK_BUF 86, 0, 0x111111cafef00d11
  FILL
  li a0, 0x5a5b
  sh a0, 3(a1)
  CHECK_BUF 87, 0, 0x1111115a5b111111
  FILL
  li a0, 0xf0e0d0c0b0a09080
  sd a0, 9(a1)
  CHECK_BUF 88, 8, 0xe0d0c0b0a0908011
  CHECK_BUF 89, 16, 0x11111111111111f0
  // misaligned load of what a misaligned store wrote
  ld a2, 9(a1)
  CHECK 90, a2, 0xf0e0d0c0b0a09080
  lw a2, 11(a1)
  CHECK 91, a2, 0xffffffffd0c0b0a0
  lhu a2, 15(a1)
  CHECK 92, a2, 0xf0e0

  // ---- misaligned accesses crossing a 4 KiB page boundary ----
  la a1, page_buf + 4093
  li a0, 0x8877665544332211
  sd a0, 0(a1)
  ld a2, 0(a1)
  CHECK 95, a2, 0x8877665544332211
  la a1, page_buf + 4096
  ld a2, 0(a1)
  CHECK 96, a2, 0x0000008877665544
  la a1, page_buf + 4094
  lw a2, 0(a1)
  CHECK 97, a2, 0x55443322
  la a1, page_buf + 4095
  lh a2, 0(a1)
  CHECK 98, a2, 0x4433
  li a0, 0xfedc
  sh a0, 0(a1)
  la a1, page_buf + 4088
  ld a2, 0(a1)
  CHECK 99, a2, 0xdc22110000000000
  la a1, page_buf + 4096
  lbu a2, 0(a1)
  CHECK 100, a2, 0xfe

  TEST_END

  .data
  .align 4
ld_data:
  .byte 0x81, 0x02, 0x83, 0x04, 0x85, 0x86, 0x07, 0xf8
  .byte 0x19, 0xaa, 0x3b, 0xcc, 0x5d, 0xee, 0x7f, 0x90
  .byte 0x21, 0x43, 0x65, 0x87, 0xa9, 0xcb, 0xed, 0x0f
  .dword 0
  .align 4
st_buf:
  .skip 32
  .align 12
page_buf:
  .skip 8192
