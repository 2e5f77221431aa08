// RV64D: double-precision arithmetic, FMA (results that differ from unfused),
// all rounding modes (rm field and frm), exact fflags after every operation,
// canonical NaNs, fmin/fmax with NaNs and signed zeros, fclass.d, conversions
// (D<->integer with saturation, D<->S incl. NaN-boxing of the S input),
// fmv.x.d/fmv.d.x, fsgnj*.d, fld/fsd.
#include "test.h"
#include "fp.h"

#define D_1P53   0x3ca0000000000000   /* 2^-53 */
#define D_N1P53  0xbca0000000000000
#define D_1P53x15 0x3ca8000000000000  /* 1.5 * 2^-53 */
#define D_A      0x3ff0000002000000   /* 1 + 2^-27 */
#define D_A2     0x3ff0000004000000   /* 1 + 2^-26 */
#define D_NA2    0xbff0000004000000
#define D_THIRD  0x3fd5555555555555

  TEST_START
  FP_START

  // ---- basic arithmetic ----
  FD_R2 1,  fadd.d, D_THREE, 0, D_ONE, D_TWO
  FD_R2 2,  fadd.d, 0x3fd3333333333334, FF_NX, 0x3fb999999999999a, 0x3fc999999999999a  // 0.1+0.2
  FD_R2 3,  fadd.d, D_ZERO, 0, D_ONE, D_NONE
  FD_R2 4,  fadd.d, D_NZERO, 0, D_NZERO, D_NZERO
  FD_R2 5,  fadd.d, D_QNAN, FF_NV, D_INF, D_NINF
  FD_R2 6,  fadd.d, D_NINF, 0, D_NINF, D_MAX
  FD_R2 7,  fsub.d, D_NONE, 0, D_ONE, D_TWO
  FD_R2 8,  fsub.d, D_ZERO, 0, D_THREE, D_THREE
  FD_R2 9,  fsub.d, D_QNAN, FF_NV, D_NINF, D_NINF
  FD_R2 10, fmul.d, 0xc024000000000000, 0, 0x4004000000000000, 0xc010000000000000   // 2.5*-4
  FD_R2 11, fmul.d, D_QNAN, FF_NV, D_NZERO, D_INF
  FD_R2 12, fmul.d, D_INF, FF_OF | FF_NX, D_MAX, D_TWO
  FD_R2 13, fmul.d, 0x0008000000000000, 0, D_MINNORM, D_HALF                       // exact: no UF
  FD_R2 14, fmul.d, D_ZERO, FF_UF | FF_NX, D_MINSUB, D_HALF
  FD_R2 15, fmul.d, 0x0008000000000000, FF_UF | FF_NX, 0x0010000000000001, D_HALF
  FD_R2 16, fmul.d, D_NZERO, FF_UF | FF_NX, D_MINSUB, 0xbfe0000000000000
  FD_R2 17, fdiv.d, D_THIRD, FF_NX, D_ONE, D_THREE
  FD_R2 18, fdiv.d, D_INF, FF_DZ, D_ONE, D_ZERO
  FD_R2 19, fdiv.d, D_NINF, FF_DZ, D_ONE, D_NZERO
  FD_R2 20, fdiv.d, D_QNAN, FF_NV, D_ZERO, D_NZERO
  FD_R2 21, fdiv.d, D_QNAN, FF_NV, D_INF, D_INF
  FD_R2 22, fdiv.d, D_NZERO, 0, D_NONE, D_INF
  FD_R2 23, fdiv.d, D_TWO, 0, D_FOUR, D_TWO
  FD_R1 24, fsqrt.d, D_TWO, 0, D_FOUR
  FD_R1 25, fsqrt.d, 0x3ff6a09e667f3bcd, FF_NX, D_TWO
  FD_R1 26, fsqrt.d, D_NZERO, 0, D_NZERO
  FD_R1 27, fsqrt.d, D_QNAN, FF_NV, D_NONE
  FD_R1 28, fsqrt.d, D_INF, 0, D_INF
  FD_R1 29, fsqrt.d, D_QNAN, FF_NV, D_MINSUB | D_NZERO                           // -subnormal

  // ---- NaN inputs ----
  FD_R2 30, fadd.d, D_QNAN, 0, 0x7ff8000000012345, D_ONE
  FD_R2 31, fadd.d, D_QNAN, 0, 0xfff8000000000000, D_ONE
  FD_R2 32, fadd.d, D_QNAN, FF_NV, D_SNAN, D_ONE
  FD_R2 33, fmul.d, D_QNAN, FF_NV, D_ONE, 0xfff0000000000123
  FD_R2 34, fdiv.d, D_QNAN, 0, D_QNAN, D_ZERO
  FD_R2 35, fadd.d, D_QNAN, 0, 0xffffffff3f800000, D_ONE    // a boxed single is a double NaN
  FD_R1 36, fsqrt.d, D_QNAN, FF_NV, D_SNAN

  // ---- rounding modes via rm: 1 + 2^-53 is a tie ----
  FD_R2RM 40, fadd.d, rne, D_ONE, FF_NX, D_ONE, D_1P53
  FD_R2RM 41, fadd.d, rtz, D_ONE, FF_NX, D_ONE, D_1P53
  FD_R2RM 42, fadd.d, rdn, D_ONE, FF_NX, D_ONE, D_1P53
  FD_R2RM 43, fadd.d, rup, 0x3ff0000000000001, FF_NX, D_ONE, D_1P53
  FD_R2RM 44, fadd.d, rmm, 0x3ff0000000000001, FF_NX, D_ONE, D_1P53
  FD_R2RM 45, fadd.d, rne, D_NONE, FF_NX, D_NONE, D_N1P53
  FD_R2RM 46, fadd.d, rtz, D_NONE, FF_NX, D_NONE, D_N1P53
  FD_R2RM 47, fadd.d, rdn, 0xbff0000000000001, FF_NX, D_NONE, D_N1P53
  FD_R2RM 48, fadd.d, rup, D_NONE, FF_NX, D_NONE, D_N1P53
  FD_R2RM 49, fadd.d, rmm, 0xbff0000000000001, FF_NX, D_NONE, D_N1P53
  FD_R2RM 50, fadd.d, rne, 0x3ff0000000000001, FF_NX, D_ONE, D_1P53x15
  FD_R2RM 51, fadd.d, rne, 0x3ff0000000000002, FF_NX, D_ONE, 0x3cb8000000000000  // 1+3*2^-53
  FD_R2RM 52, fsub.d, rdn, D_NZERO, 0, D_TWO, D_TWO
  FD_R2RM 53, fmul.d, rtz, D_MAX, FF_OF | FF_NX, D_MAX, D_TWO
  FD_R2RM 54, fmul.d, rdn, D_MAX, FF_OF | FF_NX, D_MAX, D_TWO
  FD_R2RM 55, fmul.d, rup, D_INF, FF_OF | FF_NX, D_MAX, D_TWO
  FD_R2RM 56, fmul.d, rdn, D_NINF, FF_OF | FF_NX, D_NMAX, D_TWO
  FD_R2RM 57, fmul.d, rup, D_NMAX, FF_OF | FF_NX, D_NMAX, D_TWO
  FD_R2RM 58, fmul.d, rmm, D_NINF, FF_OF | FF_NX, D_NMAX, D_TWO
  FD_R2RM 59, fmul.d, rup, D_MINSUB, FF_UF | FF_NX, D_MINSUB, D_HALF
  FD_R2RM 60, fdiv.d, rup, 0x3fd5555555555556, FF_NX, D_ONE, D_THREE
  FD_R2RM 61, fdiv.d, rdn, D_THIRD, FF_NX, D_ONE, D_THREE
  FD_R2RM 62, fdiv.d, rmm, D_THIRD, FF_NX, D_ONE, D_THREE
  FD_R1RM 63, fsqrt.d, rdn, 0x3ff6a09e667f3bcc, FF_NX, D_TWO
  FD_R1RM 64, fsqrt.d, rup, 0x3ff6a09e667f3bcd, FF_NX, D_TWO
  FD_R1RM 65, fsqrt.d, rtz, 0x3ff6a09e667f3bcc, FF_NX, D_TWO

  // ---- rounding modes via frm ----
  fsrmi 3
  FD_R2 70, fadd.d, 0x3ff0000000000001, FF_NX, D_ONE, D_1P53
  fsrmi 2
  FD_R2 71, fadd.d, 0xbff0000000000001, FF_NX, D_NONE, D_N1P53
  fsrmi 1
  FD_R2 72, fdiv.d, D_THIRD, FF_NX, D_ONE, D_THREE
  fsrmi 4
  FD_R2 73, fadd.d, 0x3ff0000000000001, FF_NX, D_ONE, D_1P53
  fsrmi 2
  FD_R2RM 74, fadd.d, rup, 0x3ff0000000000001, FF_NX, D_ONE, D_1P53   // static wins
  fsrmi 0
  FD_R2 75, fadd.d, D_ONE, FF_NX, D_ONE, D_1P53

  // ---- fused multiply-add ----
  // (1+2^-27)^2 = 1 + 2^-26 + 2^-54: an unfused multiply would drop 2^-54
  FD_R3 80, fmadd.d,  0x3c90000000000000, 0, D_A, D_A, D_NA2
  FD_R3 81, fmsub.d,  0x3c90000000000000, 0, D_A, D_A, D_A2
  FD_R3 82, fnmsub.d, 0xbc90000000000000, 0, D_A, D_A, D_A2
  FD_R3 83, fnmadd.d, 0xbc90000000000000, 0, D_A, D_A, D_NA2
  li gp, 84
  LDD f1, D_A
  LDD f3, D_NA2
  fmul.d f5, f1, f1
  fadd.d f4, f5, f3
  CHK_D f4, D_ZERO
  FD_R3 85, fmadd.d, 0x401c000000000000, 0, D_TWO, D_THREE, D_ONE    // 7
  FD_R3 86, fmsub.d, 0x4014000000000000, 0, D_TWO, D_THREE, D_ONE    // 5
  FD_R3 87, fnmsub.d, 0xc014000000000000, 0, D_TWO, D_THREE, D_ONE   // -5
  FD_R3 88, fnmadd.d, 0xc01c000000000000, 0, D_TWO, D_THREE, D_ONE   // -7
  FD_R3 89, fmadd.d, D_NZERO, 0, D_NONE, D_ZERO, D_NZERO
  FD_R3 90, fmadd.d, D_QNAN, FF_NV, D_ZERO, D_NINF, D_QNAN
  FD_R3 91, fmadd.d, D_QNAN, FF_NV, D_INF, D_ONE, D_NINF
  FD_R3 92, fmadd.d, D_QNAN, FF_NV, D_ONE, D_SNAN, D_ONE
  FD_R3 93, fmsub.d, D_QNAN, 0, D_QNAN, D_ONE, D_ONE
  FD_R3RM 94, fmadd.d, rup, 0x3ff0000000000001, FF_NX, D_ONE, D_ONE, D_1P53
  FD_R3RM 95, fnmsub.d, rdn, D_NZERO, 0, D_ONE, D_ONE, D_ONE
  // 2^-538 * -2^-538 + 2^-1022 = 2^-1022 (1 - 2^-54): not tiny after rounding
  FD_R3 96, fmadd.d, D_MINNORM, FF_NX, 0x1e50000000000000, 0x9e50000000000000, D_MINNORM
  // 2^-537 * -2^-538 + 2^-1022 = 2^-1022 (1 - 2^-53): tiny -> UF
  FD_R3 97, fmadd.d, D_MINNORM, FF_UF | FF_NX, 0x1e60000000000000, 0x9e50000000000000, D_MINNORM
  FD_R3 98, fmadd.d, D_INF, FF_OF | FF_NX, D_MAX, D_MAX, D_NMAX

  // ---- fmin / fmax ----
  FD_R2 100, fmin.d, D_ONE, 0, D_ONE, D_TWO
  FD_R2 101, fmax.d, D_TWO, 0, D_TWO, D_ONE
  FD_R2 102, fmin.d, D_ONE, 0, D_QNAN, D_ONE
  FD_R2 103, fmax.d, D_ONE, FF_NV, D_ONE, D_SNAN
  FD_R2 104, fmin.d, D_QNAN, FF_NV, D_SNAN, D_SNAN
  FD_R2 105, fmax.d, D_QNAN, 0, 0x7ff8000000000abc, 0xfff8000000000000
  FD_R2 106, fmin.d, D_NZERO, 0, D_ZERO, D_NZERO
  FD_R2 107, fmax.d, D_ZERO, 0, D_NZERO, D_ZERO
  FD_R2 108, fmin.d, D_NINF, 0, D_NMAX, D_NINF
  FD_R2 109, fmax.d, D_NMAX, 0, D_NMAX, D_NINF

  // ---- sign injection ----
  FD_R2 110, fsgnj.d,  D_NONE, 0, D_ONE, 0xc000000000000000
  FD_R2 111, fsgnjn.d, D_NONE, 0, D_ONE, D_ONE
  FD_R2 112, fsgnjx.d, D_ONE, 0, D_NONE, D_NONE
  FD_R2 113, fsgnjx.d, D_NONE, 0, D_ONE, D_NZERO
  FD_R2 114, fsgnj.d,  0xfff0000000000001, 0, D_SNAN, D_NINF        // payload kept, no NV
  FD_R2 115, fsgnjn.d, 0x7ff8000000012345, 0, 0xfff8000000012345, D_NONE

  // ---- comparisons ----
  FD_CMP 120, feq.d, 1, 0, D_ONE, D_ONE
  FD_CMP 121, feq.d, 1, 0, D_ZERO, D_NZERO
  FD_CMP 122, feq.d, 0, 0, D_QNAN, D_ONE
  FD_CMP 123, feq.d, 0, FF_NV, D_ONE, D_SNAN
  FD_CMP 124, flt.d, 1, 0, D_NONE, D_ONE
  FD_CMP 125, flt.d, 0, 0, D_NZERO, D_ZERO
  FD_CMP 126, flt.d, 0, FF_NV, D_QNAN, D_QNAN
  FD_CMP 127, fle.d, 1, 0, D_NZERO, D_ZERO
  FD_CMP 128, fle.d, 0, FF_NV, D_QNAN, D_ONE
  FD_CMP 129, fle.d, 1, 0, D_NINF, D_NINF
  FD_CMP 130, flt.d, 1, 0, D_MINSUB, D_MINNORM

  // ---- fclass.d ----
  FD_CLASS 140, 0x001, D_NINF
  FD_CLASS 141, 0x002, D_NMAX
  FD_CLASS 142, 0x004, 0x800fffffffffffff
  FD_CLASS 143, 0x008, D_NZERO
  FD_CLASS 144, 0x010, D_ZERO
  FD_CLASS 145, 0x020, D_MINSUB
  FD_CLASS 146, 0x040, D_ONE
  FD_CLASS 147, 0x080, D_INF
  FD_CLASS 148, 0x100, D_SNAN
  FD_CLASS 149, 0x200, D_QNAN
  FD_CLASS 150, 0x100, 0xfff7ffffffffffff
  FD_CLASS 151, 0x200, 0xffffffff3f800000     // a boxed single seen as a double

  // ---- double -> integer ----
  FD_F2I 160, fcvt.w.d, rne, 0x7fffffff, FF_NV, 0x41dfffffffe00000   // 2^31-0.5 rounds out of range
  FD_F2I 161, fcvt.w.d, rtz, 0x7fffffff, FF_NX, 0x41dfffffffe00000
  FD_F2I 162, fcvt.w.d, rtz, 0xffffffff80000000, FF_NX, 0xc1e0000000100000   // -2^31-0.5
  FD_F2I 163, fcvt.w.d, rne, 0xffffffff80000000, FF_NX, 0xc1e0000000100000
  FD_F2I 164, fcvt.w.d, rdn, 0xffffffff80000000, FF_NV, 0xc1e0000000100000
  FD_F2I 165, fcvt.w.d, rtz, 0x7fffffff, FF_NV, D_QNAN
  FD_F2I 166, fcvt.w.d, rtz, 0xffffffff80000000, FF_NV, D_NINF
  FD_F2I 167, fcvt.w.d, rmm, 3, FF_NX, 0x4004000000000000           // 2.5
  FD_F2I 168, fcvt.w.d, rne, 2, FF_NX, 0x4004000000000000
  FD_F2I 169, fcvt.w.d, rtz, -1, 0, D_NONE
  FD_F2I 170, fcvt.wu.d, rtz, 0xffffffffffffffff, 0, 0x41efffffffe00000  // 2^32-1, sign-extended
  FD_F2I 171, fcvt.wu.d, rtz, 0xffffffffffffffff, FF_NV, 0x41f0000000000000
  FD_F2I 172, fcvt.wu.d, rtz, 0, FF_NV, D_NONE
  FD_F2I 173, fcvt.wu.d, rtz, 0, 0, D_NZERO
  FD_F2I 174, fcvt.wu.d, rtz, 0xffffffffffffffff, FF_NV, D_SNAN
  FD_F2I 175, fcvt.l.d, rtz, 0x7fffffffffffffff, FF_NV, 0x43e0000000000000
  FD_F2I 176, fcvt.l.d, rtz, 0x8000000000000000, 0, 0xc3e0000000000000
  FD_F2I 177, fcvt.l.d, rtz, 0x8000000000000000, FF_NV, D_NINF
  FD_F2I 178, fcvt.l.d, rtz, 0x7fffffffffffffff, FF_NV, D_QNAN
  FD_F2I 179, fcvt.l.d, rdn, -4, FF_NX, 0xc00c000000000000          // -3.5
  FD_F2I 180, fcvt.l.d, rup, -3, FF_NX, 0xc00c000000000000
  FD_F2I 181, fcvt.l.d, rtz, 0x001fffffffffffff, 0, 0x433fffffffffffff  // 2^53-1
  FD_F2I 182, fcvt.lu.d, rtz, 0x8000000000000000, 0, 0x43e0000000000000
  FD_F2I 183, fcvt.lu.d, rtz, 0xfffffffffffff800, 0, 0x43efffffffffffff
  FD_F2I 184, fcvt.lu.d, rtz, 0xffffffffffffffff, FF_NV, 0x43f0000000000000
  FD_F2I 185, fcvt.lu.d, rtz, 0, FF_NV, 0xc000000000000000
  FD_F2I 186, fcvt.lu.d, rtz, 0, FF_NX, 0xbfe0000000000000          // -0.5 -> 0
  FD_F2I 187, fcvt.lu.d, rtz, 0xffffffffffffffff, FF_NV, D_INF

  // ---- integer -> double ----
  FD_I2FX 190, fcvt.d.w, 0x41dfffffffc00000, 0, 0x7fffffff
  FD_I2FX 191, fcvt.d.w, D_NONE, 0, 0x00000000ffffffff          // low word only
  FD_I2FX 192, fcvt.d.w, 0xc1e0000000000000, 0, 0x80000000
  FD_I2FX 193, fcvt.d.wu, 0x41efffffffe00000, 0, 0xffffffffffffffff
  FD_I2FX 194, fcvt.d.wu, D_ZERO, 0, 0xffffffff00000000
  FD_I2F 195, fcvt.d.l, rne, 0x4340000000000000, FF_NX, 0x20000000000001   // 2^53+1 -> tie -> even
  FD_I2F 196, fcvt.d.l, rup, 0x4340000000000001, FF_NX, 0x20000000000001
  FD_I2F 197, fcvt.d.l, rne, 0x43e0000000000000, FF_NX, 0x7fffffffffffffff
  FD_I2F 198, fcvt.d.l, rtz, 0x43dfffffffffffff, FF_NX, 0x7fffffffffffffff
  FD_I2F 199, fcvt.d.l, rne, 0xc3e0000000000000, 0, 0x8000000000000000
  FD_I2F 200, fcvt.d.lu, rne, 0x43f0000000000000, FF_NX, 0xffffffffffffffff
  FD_I2F 201, fcvt.d.lu, rtz, 0x43efffffffffffff, FF_NX, 0xffffffffffffffff
  FD_I2F 202, fcvt.d.lu, rne, 0x43e0000000000000, 0, 0x8000000000000000
  FD_I2F 203, fcvt.d.l, rne, D_NONE, 0, -1

  // ---- double <-> single ----
  li gp, 210
  LDD f1, D_THIRD
  fsflags zero
  fcvt.s.d f4, f1
  CHK_FLAGS FF_NX
  CHK_S f4, 0x3eaaaaab
  li gp, 211
  LDD f1, D_MAX
  fsflags zero
  fcvt.s.d f4, f1                   // dyn = RNE
  CHK_FLAGS FF_OF | FF_NX
  CHK_S f4, S_INF
  li gp, 212
  fsflags zero
  fcvt.s.d f4, f1, rtz
  CHK_FLAGS FF_OF | FF_NX
  CHK_S f4, S_MAX
  li gp, 213
  LDD f1, 0x3690000000000000        // 2^-150: a tie between 0 and 2^-149
  fsflags zero
  fcvt.s.d f4, f1
  CHK_FLAGS FF_UF | FF_NX
  CHK_S f4, S_ZERO
  li gp, 214
  fsflags zero
  fcvt.s.d f4, f1, rup
  CHK_FLAGS FF_UF | FF_NX
  CHK_S f4, S_MINSUB
  li gp, 215
  LDD f1, D_SNAN
  fsflags zero
  fcvt.s.d f4, f1
  CHK_FLAGS FF_NV
  CHK_S f4, S_QNAN
  li gp, 216
  LDD f1, 0xfff8000000012345
  fsflags zero
  fcvt.s.d f4, f1
  CHK_FLAGS 0
  CHK_S f4, S_QNAN
  li gp, 217
  LDD f1, D_NZERO
  fcvt.s.d f4, f1
  CHK_S f4, S_NZERO
  li gp, 218
  LDD f1, 0x36a0000000000000        // 2^-149 exactly
  fsflags zero
  fcvt.s.d f4, f1
  CHK_FLAGS 0
  CHK_S f4, S_MINSUB
  li gp, 220
  LDS f1, S_ONE
  fsflags zero
  fcvt.d.s f4, f1
  CHK_FLAGS 0
  CHK_D f4, D_ONE
  li gp, 221
  LDS f1, S_MINSUB
  fcvt.d.s f4, f1                   // subnormal single is a normal double
  CHK_D f4, 0x36a0000000000000
  li gp, 222
  LDS f1, S_SNAN
  fsflags zero
  fcvt.d.s f4, f1
  CHK_FLAGS FF_NV
  CHK_D f4, D_QNAN
  li gp, 223
  LDS f1, 0xffc00123
  fsflags zero
  fcvt.d.s f4, f1
  CHK_FLAGS 0
  CHK_D f4, D_QNAN
  li gp, 224
  LDD f1, 0x000000003f800000        // not NaN-boxed -> canonical NaN, quiet
  fsflags zero
  fcvt.d.s f4, f1
  CHK_FLAGS 0
  CHK_D f4, D_QNAN
  li gp, 225
  LDS f1, S_NINF
  fcvt.d.s f4, f1
  CHK_D f4, D_NINF
  li gp, 226
  LDS f1, S_MAX
  fcvt.d.s f4, f1
  CHK_D f4, 0x47efffffe0000000

  // ---- moves ----
  li gp, 230
  li a1, 0x8000000000000001
  fmv.d.x f4, a1
  fmv.x.d a0, f4
  CHECKR a0, 0x8000000000000001
  li gp, 231
  LDD f1, D_SNAN
  fsflags zero
  fmv.x.d a0, f1
  CHK_FLAGS 0
  CHECKR a0, D_SNAN
  li gp, 232
  fmv.d f5, f1                      // fsgnj.d: bits kept
  CHK_D f5, D_SNAN
  fneg.d f5, f1
  CHK_D f5, 0xfff0000000000001
  fabs.d f6, f5
  CHK_D f6, D_SNAN
  CHK_FLAGS 0

  // ---- fld / fsd ----
  la a1, ddata
  li gp, 240
  fld f4, 0(a1)
  CHK_D f4, 0x7ff0000000000bad      // sNaN loaded unchanged
  fsd f4, 16(a1)
  ld a0, 16(a1)
  CHECK 241, a0, 0x7ff0000000000bad
  li gp, 242
  fld f5, 8(a1)
  CHK_D f5, 0x400921fb54442d18
  LDS f6, 0x3f800000                // fsd of a boxed single stores all 64 bits
  fsd f6, 24(a1)
  ld a0, 24(a1)
  CHECK 243, a0, 0xffffffff3f800000
  li gp, 244
  addi a2, a1, 32
  fld f7, -24(a2)
  CHK_D f7, 0x400921fb54442d18
  li gp, 245
  fld f7, 4(a1)                     // misaligned
  CHK_D f7, 0x54442d187ff00000
  li gp, 246
  LDD f8, 0x0102030405060708
  fsd f8, 33(a1)                    // misaligned
  ld a0, 32(a1)
  CHECKR a0, 0x0203040506070800
  ld a0, 40(a1)
  CHECK 247, a0, 0x01

  // ---- reserved rm on a D instruction ----
  li gp, 250
  EXPECT_TRAP 1f
bad_rm:
  .word 0x0220d253                  // fadd.d f4, f1, f2, rm=5
  j fail
1:
  CHECK_TRAP 251, CAUSE_ILLEGAL_INSN, bad_rm

  TEST_END

  .data
  .align 4
ddata:
  .dword 0x7ff0000000000bad, 0x400921fb54442d18, 0, 0, 0, 0
