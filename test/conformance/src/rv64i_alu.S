// RV64I integer computational instructions: OP, OP-IMM, OP-32, OP-IMM-32,
// LUI, AUIPC. Expected values follow the unprivileged spec, chapter "RV64I".
#include "test.h"
  TEST_START

  // ---- ADD ----
  TEST_RR 1,  add, 0, 0, 0
  TEST_RR 2,  add, 2, 1, 1
  TEST_RR 3,  add, 10, 3, 7
  TEST_RR 4,  add, 0x8000000000000000, 0x7fffffffffffffff, 1     // wraps, no trap
  TEST_RR 5,  add, 0, -1, 1
  TEST_RR 6,  add, 0, 0x8000000000000000, 0x8000000000000000
  TEST_RR 7,  add, 0x100000000, 0xffffffff, 1                     // carries past bit 31
  TEST_RR 8,  add, 0xfffffffffffffffe, -1, -1
  // ---- SUB ----
  TEST_RR 10, sub, 0xffffffffffffffff, 0, 1
  TEST_RR 11, sub, 0x7fffffffffffffff, 0x8000000000000000, 1
  TEST_RR 12, sub, 2, 5, 3
  TEST_RR 13, sub, -2, 3, 5
  TEST_RR 14, sub, 0x8000000000000000, 0, 0x8000000000000000
  TEST_RR 15, sub, 0, 0x123456789abcdef0, 0x123456789abcdef0
  // ---- ADDI ----
  TEST_RI 20, addi, 0x8000000000000000, 0x7fffffffffffffff, 1
  TEST_RI 21, addi, -2048, 0, -2048
  TEST_RI 22, addi, 2047, 0, 2047
  TEST_RI 23, addi, 0, -1, 1
  TEST_RI 24, addi, 0xffffffff, 0x100000000, -1
  TEST_RI 25, addi, 0x7fffffffffffffff, 0x8000000000000000, -1
  // ---- SLT / SLTU / SLTI / SLTIU ----
  TEST_RR 30, slt, 1, -1, 1
  TEST_RR 31, slt, 0, 1, -1
  TEST_RR 32, slt, 1, 0x8000000000000000, 0x7fffffffffffffff
  TEST_RR 33, slt, 0, 5, 5
  TEST_RR 34, slt, 0, 0x7fffffffffffffff, 0x8000000000000000
  TEST_RR 35, sltu, 0, -1, 1
  TEST_RR 36, sltu, 1, 1, -1
  TEST_RR 37, sltu, 0, 0, 0
  TEST_RR 38, sltu, 1, 0, 1
  TEST_RR 39, sltu, 0, 0x8000000000000000, 0x7fffffffffffffff
  TEST_RI 40, slti, 1, -1, 0
  TEST_RI 41, slti, 0, 0, -1
  TEST_RI 42, slti, 0, 0x7fffffffffffffff, -2048
  TEST_RI 43, slti, 1, 5, 2047
  TEST_RI 44, slti, 1, 0x8000000000000000, -2048
  TEST_RI 45, sltiu, 1, 0, -1          // imm sign-extends to 2^64-1, compared unsigned
  TEST_RI 46, sltiu, 0, -1, -1
  TEST_RI 47, sltiu, 1, 5, 6
  TEST_RI 48, sltiu, 1, 0, 1           // seqz
  TEST_RI 49, sltiu, 0, 2, 1
  TEST_RI 50, sltiu, 1, 0x7fffffffffffffff, -2048
  // ---- AND / OR / XOR and immediates ----
  TEST_RR 55, and, 0x0f000f000f000f00, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
  TEST_RR 56, or,  0xfff0fff0fff0fff0, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
  TEST_RR 57, xor, 0xf0f0f0f0f0f0f0f0, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
  TEST_RR 58, and, 0, 0x5555555555555555, 0xaaaaaaaaaaaaaaaa
  TEST_RR 59, or,  -1, 0x5555555555555555, 0xaaaaaaaaaaaaaaaa
  TEST_RR 60, xor, 0, 0x123456789abcdef0, 0x123456789abcdef0
  TEST_RI 61, andi, 0xff00ff00ff00ff00, 0xff00ff00ff00ff00, -256
  TEST_RI 62, andi, 0x6f0, 0x123456789abcdef0, 0x7ff
  TEST_RI 63, andi, 0x8000000000000000, 0x8000000000000000, -2048
  TEST_RI 64, ori, -1, 0, -1
  TEST_RI 65, ori, 0x10ff, 0x1000, 0x0ff
  TEST_RI 66, ori, 0xff00ff00ff00fff0, 0xff00ff00ff00ff00, 0x0f0
  TEST_RI 67, ori, 0xfffffffffffff800, 0, -2048
  TEST_RI 68, xori, 0xff00ff00ff00ff00, 0x00ff00ff00ff00ff, -1       // not
  TEST_RI 69, xori, 0xff00ff00ff00f80f, 0xff00ff00ff00ff00, 0x70f
  TEST_RI 70, xori, 0x00000000000007ff, 0xfffffffffffff800, -1
  // ---- SLL / SRL / SRA (shift amount = rs2[5:0]) ----
  TEST_RR 75, sll, 0x8000000000000000, 1, 63
  TEST_RR 76, sll, 1, 1, 64
  TEST_RR 77, sll, 0xffffffff00000000, -1, 32
  TEST_RR 78, sll, 0x21, 0x21, 0
  TEST_RR 79, sll, 2, 1, 0xffffffffffffffc1
  TEST_RR 80, sll, 0x0000000100000000, 1, 32
  TEST_RR 81, srl, 1, 0x8000000000000000, 63
  TEST_RR 82, srl, 0x7fffffffffffffff, -1, 1
  TEST_RR 83, srl, 0x0fffffffffffffff, -1, 68
  TEST_RR 84, srl, 0x80000000, 0x8000000000000000, 32
  TEST_RR 85, srl, 0x8000000000000000, 0x8000000000000000, 0
  TEST_RR 86, sra, -1, 0x8000000000000000, 63
  TEST_RR 87, sra, 0xc000000000000000, 0x8000000000000000, 1
  TEST_RR 88, sra, 1, 0x7fffffffffffffff, 62
  TEST_RR 89, sra, -1, -1, 0
  TEST_RR 90, sra, -1, 0x8000000000000000, 0x7f
  TEST_RR 91, sra, 0xffffffff80000000, 0x8000000000000000, 32
  TEST_RI 92, slli, 0x8000000000000000, 1, 63
  TEST_RI 93, slli, 0xff00000000000000, 0xff, 56
  TEST_RI 94, slli, 0x123456789abcdef0, 0x123456789abcdef0, 0
  TEST_RI 95, slli, 0x0000000100000000, 1, 32
  TEST_RI 96, srli, 1, -1, 63
  TEST_RI 97, srli, 0x8000000000000000, 0x8000000000000000, 0
  TEST_RI 98, srli, 0x00000000ffffffff, -1, 32
  TEST_RI 99, srli, 0x0123456789abcdef, 0x123456789abcdef0, 4
  TEST_RI 100, srai, -1, 0x8000000000000000, 63
  TEST_RI 101, srai, 1, 0x4000000000000000, 62
  TEST_RI 102, srai, 0xc000000000000000, 0x8000000000000001, 1
  TEST_RI 103, srai, 0x0123456789abcdef, 0x123456789abcdef0, 4
  TEST_RI 104, srai, 0xffffffff80000000, 0x8000000000000000, 32
  // ---- ADDW / SUBW (32-bit result, sign-extended) ----
  TEST_RR 110, addw, 0xffffffff80000000, 0x7fffffff, 1
  TEST_RR 111, addw, 0, 0xffffffff, 1
  TEST_RR 112, addw, 8, 0x100000005, 0x200000003
  TEST_RR 113, addw, -2, -1, -1
  TEST_RR 114, addw, 0, 0x80000000, 0x80000000
  TEST_RR 115, addw, 0x7fffffff, 0xffffffff80000000, -1
  TEST_RR 116, subw, -1, 0, 1
  TEST_RR 117, subw, 0x7fffffff, 0x80000000, 1
  TEST_RR 118, subw, 0xffffffff80000000, 0x7fffffff, -1
  TEST_RR 119, subw, 0, 0x100000000, 0
  TEST_RR 120, subw, 0xffffffff80000000, 0, 0x80000000
  TEST_RI 121, addiw, 0xffffffff80000000, 0x7fffffff, 1
  TEST_RI 122, addiw, -1, 0xffffffff, 0                  // sext.w
  TEST_RI 123, addiw, 0x23456789, 0x123456789, 0
  TEST_RI 124, addiw, 0x7fffffff, 0x80000000, -1
  TEST_RI 125, addiw, -2048, 0, -2048
  TEST_RI 126, addiw, 0x7ff, 0xffffffff00000000, 2047
  // ---- SLLW / SRLW / SRAW (shift amount = rs2[4:0]) ----
  TEST_RR 130, sllw, 0xffffffff80000000, 1, 31
  TEST_RR 131, sllw, 1, 1, 32
  TEST_RR 132, sllw, 0xffffffffffff0000, 0xffffffff, 16
  TEST_RR 133, sllw, 0x23456780, 0x12345678, 4
  TEST_RR 134, sllw, 0xfffffffff0f0f0f0, 0x0f0f0f0f, 4
  TEST_RR 135, sllw, 0, 0xffffffff00000000, 0
  TEST_RR 136, srlw, 1, 0x80000000, 31
  TEST_RR 137, srlw, 0xffffffff80000000, 0xffffffff80000000, 0
  TEST_RR 138, srlw, 0, 0xffffffff00000000, 1
  TEST_RR 139, srlw, 0x7fffffff, -1, 1
  TEST_RR 140, srlw, 0x40000000, 0x180000000, 33
  TEST_RR 141, sraw, -1, 0x80000000, 31
  TEST_RR 142, sraw, 1, 0x7fffffff, 30
  TEST_RR 143, sraw, 0xfffffffff8000000, 0x80000000, 4
  TEST_RR 144, sraw, -1, 0xffffffff, 0
  TEST_RR 145, sraw, 0x7fffffff, 0xfffffffe7fffffff, 0
  TEST_RR 146, sraw, 0xffffffffc0000000, 0x80000000, 0xffffffffffffffe1
  TEST_RI 150, slliw, 0xffffffff80000000, 1, 31
  TEST_RI 151, slliw, 0xffffffff80000000, 0xffffffff, 31
  TEST_RI 152, slliw, 0xffffffffc0000000, 3, 30
  TEST_RI 153, slliw, 0x12345678, 0xff12345678, 0
  TEST_RI 154, srliw, 1, 0x80000000, 31
  TEST_RI 155, srliw, -1, -1, 0
  TEST_RI 156, srliw, 0x7fffffff, 0xffffffff, 1
  TEST_RI 157, srliw, 0x09abcdef, 0x123456789abcdef0, 4
  TEST_RI 158, sraiw, -1, 0x80000000, 31
  TEST_RI 159, sraiw, 0xffffffff80000000, 0x80000000, 0
  TEST_RI 160, sraiw, 0, 0x7fffffff, 31
  TEST_RI 161, sraiw, 0xfffffffff9abcdef, 0x123456789abcdef0, 4
  TEST_RI 162, sraiw, 0x07654321, 0xff76543210, 4

  // ---- LUI ----
  li gp, 170
  lui a0, 0
  CHECKR a0, 0
  lui a0, 0xfffff
  CHECK 171, a0, 0xfffffffffffff000
  lui a0, 0x80000
  CHECK 172, a0, 0xffffffff80000000     // bit 31 sign-extends
  lui a0, 0x7ffff
  CHECK 173, a0, 0x7ffff000
  lui a0, 0x12345
  CHECK 174, a0, 0x12345000
  // ---- AUIPC ----
auipc0:
  auipc a0, 0
  la a1, auipc0
  CHECKEQ 180, a0, a1
auipc1:
  auipc a0, 1
  la a1, auipc1
  sub a0, a0, a1
  CHECK 181, a0, 0x1000
auipc2:
  auipc a0, 0xfffff
  la a1, auipc2
  sub a0, a0, a1
  CHECK 182, a0, -0x1000
auipc3:
  auipc a0, 0x80000
  la a1, auipc3
  sub a0, a0, a1
  CHECK 183, a0, 0xffffffff80000000
auipc4:
  auipc a0, 0x7ffff
  la a1, auipc4
  sub a0, a0, a1
  CHECK 184, a0, 0x7ffff000

  // ---- x0 as destination and source; rd == rs ----
  li a1, 123
  li a2, 456
  add x0, a1, a2
  CHECK 190, x0, 0
  addi x0, x0, 5
  CHECK 191, zero, 0
  lui x0, 0x12345
  CHECK 192, zero, 0
  slli x0, a1, 3
  addw x0, a1, a2
  sltiu x0, zero, 1
  CHECK 193, zero, 0
  add a0, x0, a1
  CHECK 194, a0, 123
  sub a0, x0, a1
  CHECK 195, a0, -123
  li a1, 21
  add a1, a1, a1
  CHECK 196, a1, 42
  li a1, 0x7fffffff
  addw a1, a1, a1
  CHECK 197, a1, -2
  li a1, 5
  sub a1, a1, a1
  CHECK 198, a1, 0
  li a1, 3
  sll a1, a1, a1
  CHECK 199, a1, 24
  li a1, -8
  sra a1, a1, a1     // shift by 58 (0x..f8 & 63 = 56)? -8 = ...11111000 -> rs2[5:0] = 56
  CHECK 200, a1, -1
  nop
  CHECK 201, zero, 0

  TEST_END
