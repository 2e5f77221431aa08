// RV64M: MUL MULH MULHSU MULHU DIV DIVU REM REMU MULW DIVW DIVUW REMW REMUW.
// Division by zero and signed overflow follow the table in the unprivileged
// spec ("M" extension, division operations): x/0 -> quotient all ones
// (-1 signed, 2^XLEN-1 unsigned), remainder = dividend; -2^(L-1) / -1 ->
// quotient = dividend, remainder 0. W forms operate on the low 32 bits and
// sign-extend the 32-bit result (DIVUW/REMUW too).
// Expected values were computed by hand from those rules (a small Python
// model of the spec equations was used to do the 128-bit arithmetic).
#include "test.h"
  TEST_START
  TEST_RR 1, mul, 0x0, 0x0, 0x0
  TEST_RR 2, mul, 0x15, 0x3, 0x7
  TEST_RR 3, mul, 0x1, 0xffffffffffffffff, 0xffffffffffffffff
  TEST_RR 4, mul, 0xffffffffffffffeb, 0xfffffffffffffffd, 0x7
  TEST_RR 5, mul, 0xfffffffffffffffe, 0x7fffffffffffffff, 0x2
  TEST_RR 6, mul, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 7, mul, 0xd77d742cce1833a9, 0x123456789, 0x987654321
  TEST_RR 8, mul, 0xfffffffe00000001, 0xffffffff, 0xffffffff
  TEST_RR 9, mulh, 0x0, 0x0, 0x0
  TEST_RR 10, mulh, 0x0, 0xffffffffffffffff, 0xffffffffffffffff
  TEST_RR 11, mulh, 0xffffffffffffffff, 0xffffffffffffffff, 0x1
  TEST_RR 12, mulh, 0x4000000000000000, 0x8000000000000000, 0x8000000000000000
  TEST_RR 13, mulh, 0x0, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 14, mulh, 0x3fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff
  TEST_RR 15, mulh, 0xffeb49923cc09532, 0x123456789abcdef0, 0xfedcba9876543210
  TEST_RR 16, mulh, 0xffffffffffffffff, 0x2, 0xfffffffffffffffd
  TEST_RR 17, mulhu, 0x0, 0x0, 0x0
  TEST_RR 18, mulhu, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff
  TEST_RR 19, mulhu, 0x0, 0xffffffffffffffff, 0x1
  TEST_RR 20, mulhu, 0x4000000000000000, 0x8000000000000000, 0x8000000000000000
  TEST_RR 21, mulhu, 0x121fa00ad77d7422, 0x123456789abcdef0, 0xfedcba9876543210
  TEST_RR 22, mulhu, 0x1, 0x100000000, 0x100000000
  TEST_RR 23, mulhsu, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff
  TEST_RR 24, mulhsu, 0xffffffffffffffff, 0xffffffffffffffff, 0x1
  TEST_RR 25, mulhsu, 0x0, 0x1, 0xffffffffffffffff
  TEST_RR 26, mulhsu, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 27, mulhsu, 0x121fa00ad77d7422, 0x123456789abcdef0, 0xfedcba9876543210
  TEST_RR 28, mulhsu, 0xffffffffffffffff, 0xfffffffffffffffe, 0x3
  TEST_RR 29, mulhsu, 0x7ffffffffffffffe, 0x7fffffffffffffff, 0xffffffffffffffff
  TEST_RR 30, div, 0x3, 0x14, 0x6
  TEST_RR 31, div, 0xfffffffffffffffd, 0xffffffffffffffec, 0x6
  TEST_RR 32, div, 0xfffffffffffffffd, 0x14, 0xfffffffffffffffa
  TEST_RR 33, div, 0x3, 0xffffffffffffffec, 0xfffffffffffffffa
  TEST_RR 34, div, 0x8000000000000000, 0x8000000000000000, 0x1
  TEST_RR 35, div, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 36, div, 0xffffffffffffffff, 0x8000000000000000, 0x0
  TEST_RR 37, div, 0xffffffffffffffff, 0x1, 0x0
  TEST_RR 38, div, 0xffffffffffffffff, 0x0, 0x0
  TEST_RR 39, div, 0xffffffffffffffff, 0xffffffffffffffff, 0x0
  TEST_RR 40, div, 0x8000000000000001, 0x7fffffffffffffff, 0xffffffffffffffff
  TEST_RR 41, divu, 0x3, 0x14, 0x6
  TEST_RR 42, divu, 0x2aaaaaaaaaaaaaa7, 0xffffffffffffffec, 0x6
  TEST_RR 43, divu, 0x0, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 44, divu, 0x8000000000000000, 0x8000000000000000, 0x1
  TEST_RR 45, divu, 0xffffffffffffffff, 0xffffffffffffffff, 0x0
  TEST_RR 46, divu, 0xffffffffffffffff, 0x0, 0x0
  TEST_RR 47, divu, 0x1, 0xffffffffffffffff, 0xffffffffffffffff
  TEST_RR 48, divu, 0x0, 0x5, 0x7
  TEST_RR 49, rem, 0x2, 0x14, 0x6
  TEST_RR 50, rem, 0xfffffffffffffffe, 0xffffffffffffffec, 0x6
  TEST_RR 51, rem, 0x2, 0x14, 0xfffffffffffffffa
  TEST_RR 52, rem, 0xfffffffffffffffe, 0xffffffffffffffec, 0xfffffffffffffffa
  TEST_RR 53, rem, 0x0, 0x8000000000000000, 0x1
  TEST_RR 54, rem, 0x0, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 55, rem, 0x8000000000000000, 0x8000000000000000, 0x0
  TEST_RR 56, rem, 0x1, 0x1, 0x0
  TEST_RR 57, rem, 0xfffffffffffffff9, 0xfffffffffffffff9, 0x0
  TEST_RR 58, rem, 0x0, 0x0, 0x0
  TEST_RR 59, remu, 0x2, 0x14, 0x6
  TEST_RR 60, remu, 0x2, 0xffffffffffffffec, 0x6
  TEST_RR 61, remu, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff
  TEST_RR 62, remu, 0xffffffffffffffff, 0xffffffffffffffff, 0x0
  TEST_RR 63, remu, 0x0, 0x0, 0x0
  TEST_RR 64, remu, 0x5, 0x5, 0x7
  TEST_RR 65, remu, 0xffffffff, 0xffffffffffffffff, 0x100000000
  TEST_RR 66, mulw, 0x15, 0x3, 0x7
  TEST_RR 67, mulw, 0x1, 0xffffffffffffffff, 0xffffffffffffffff
  TEST_RR 68, mulw, 0xfffffffffffffffe, 0x7fffffff, 0x2
  TEST_RR 69, mulw, 0x0, 0x10000, 0x10000
  TEST_RR 70, mulw, 0x23456789, 0x123456789, 0x1
  TEST_RR 71, mulw, 0xf, 0xffffffff00000003, 0x100000005
  TEST_RR 72, mulw, 0xffffffff80000000, 0x80000000, 0xffffffffffffffff
  TEST_RR 73, mulw, 0xffffffff80000000, 0x8000, 0x10000
  TEST_RR 74, divw, 0x3, 0x14, 0x6
  TEST_RR 75, divw, 0xfffffffffffffffd, 0xffffffffffffffec, 0x6
  TEST_RR 76, divw, 0xffffffff80000000, 0x80000000, 0xffffffffffffffff
  TEST_RR 77, divw, 0xffffffff80000000, 0x80000000, 0x1
  TEST_RR 78, divw, 0xffffffffffffffff, 0x1, 0x0
  TEST_RR 79, divw, 0xffffffffffffffff, 0x100000000, 0x0
  TEST_RR 80, divw, 0xfffffffffffffffd, 0x1ffffffec, 0x6
  TEST_RR 81, divw, 0xffffffff80000001, 0x7fffffff, 0xffffffff
  TEST_RR 82, divuw, 0x3, 0x14, 0x6
  TEST_RR 83, divuw, 0xffffffffffffffff, 0xffffffff, 0x1
  TEST_RR 84, divuw, 0x40000000, 0x80000000, 0x2
  TEST_RR 85, divuw, 0x2aaaaaa7, 0xffffffec, 0x6
  TEST_RR 86, divuw, 0xffffffffffffffff, 0x5, 0x0
  TEST_RR 87, divuw, 0xffffffffffffffff, 0x1ffffffff, 0x100000000
  TEST_RR 88, divuw, 0x1, 0xffffffff, 0xffffffff
  TEST_RR 89, remw, 0x2, 0x14, 0x6
  TEST_RR 90, remw, 0xfffffffffffffffe, 0xffffffffffffffec, 0x6
  TEST_RR 91, remw, 0x2, 0x14, 0xfffffffffffffffa
  TEST_RR 92, remw, 0x0, 0x80000000, 0xffffffffffffffff
  TEST_RR 93, remw, 0xffffffff80000000, 0x80000000, 0x0
  TEST_RR 94, remw, 0x23456789, 0x123456789, 0x0
  TEST_RR 95, remw, 0xfffffffffffffffd, 0x1ffffffeb, 0x6
  TEST_RR 96, remuw, 0x2, 0x14, 0x6
  TEST_RR 97, remuw, 0x2, 0xffffffec, 0x6
  TEST_RR 98, remuw, 0xffffffff80000000, 0x80000000, 0x0
  TEST_RR 99, remuw, 0x23456789, 0x123456789, 0x0
  TEST_RR 100, remuw, 0xffffffffffffffff, 0xffffffff, 0x100000000
  TEST_RR 101, remuw, 0x1, 0xffffffffffffffff, 0x7fffffff

  // x0 destination, rd == rs1 == rs2
  li a1, 12345
  mul x0, a1, a1
  div x0, a1, zero
  CHECK 200, zero, 0
  li a1, -9
  mul a1, a1, a1
  CHECK 201, a1, 81
  li a1, 0x40000000
  mulw a1, a1, a1          // 2^60 -> low 32 bits are 0
  CHECK 202, a1, 0
  li a1, -7
  rem a1, a1, a1
  CHECK 203, a1, 0
  li a1, -7
  div a1, a1, a1
  CHECK 204, a1, 1
  // rs2 = x0: division by zero through x0
  li a1, 77
  divu a2, a1, zero
  CHECK 205, a2, -1
  remu a2, a1, zero
  CHECK 206, a2, 77
  // mul followed by mulh of the same operands (the fused-pair idiom)
  li a1, 0xfedcba9876543210
  li a2, 0x0123456789abcdef
  mulh a3, a1, a2
  mul a4, a1, a2
  CHECK 207, a4, 0x2236d88fe5618cf0
  CHECK 208, a3, 0xfffeb49923cc0953
  TEST_END
