// RV64F: single-precision arithmetic, FMA (results that differ from an
// unfused multiply+add), all rounding modes (rm field and frm), exact fflags
// after every operation (NX UF OF DZ NV), NaN-boxing of inputs and results,
// canonical NaNs, fmin/fmax with NaNs and signed zeros, fclass, conversions
// with saturation, fmv.x.w sign extension, fsgnj*, flw/fsw, fcsr access.
#include "test.h"
#include "fp.h"

#define S_1P24  0x33800000   /* 2^-24 */
#define S_1P25x3 0x33c00000  /* 1.5 * 2^-24 */
#define S_A     0x3f800800   /* 1 + 2^-12 */
#define S_A2    0x3f801000   /* 1 + 2^-11 */
#define S_NA2   0xbf801000

  TEST_START
  FP_START

  // ---- basic arithmetic ----
  FS_R2 1,  fadd.s, S_THREE, 0, S_ONE, S_TWO
  FS_R2 2,  fadd.s, 0x3e99999a, FF_NX, 0x3dcccccd, 0x3e4ccccd         // 0.1f + 0.2f
  FS_R2 3,  fadd.s, S_ZERO, 0, S_ONE, S_NONE                          // x + -x = +0 (RNE)
  FS_R2 4,  fadd.s, S_NZERO, 0, S_NZERO, S_NZERO
  FS_R2 5,  fadd.s, S_ZERO, 0, S_ZERO, S_NZERO
  FS_R2 6,  fadd.s, S_INF, 0, S_INF, S_ONE
  FS_R2 7,  fadd.s, S_QNAN, FF_NV, S_INF, S_NINF                      // inf - inf
  FS_R2 8,  fsub.s, S_NONE, 0, S_ONE, S_TWO
  FS_R2 9,  fsub.s, S_ZERO, 0, S_ONE, S_ONE
  FS_R2 10, fsub.s, S_QNAN, FF_NV, S_INF, S_INF
  FS_R2 11, fsub.s, S_NINF, 0, S_NINF, S_INF
  FS_R2 12, fmul.s, 0xc1200000, 0, 0x40200000, 0xc0800000           // 2.5 * -4 = -10
  FS_R2 13, fmul.s, S_QNAN, FF_NV, S_ZERO, S_INF
  FS_R2 14, fmul.s, S_NZERO, 0, S_NZERO, S_ONE
  FS_R2 15, fmul.s, S_INF, FF_OF | FF_NX, S_MAX, S_TWO                 // overflow
  FS_R2 16, fmul.s, S_NINF, FF_OF | FF_NX, S_NMAX, S_TWO
  FS_R2 17, fmul.s, 0x00400000, 0, S_MINNORM, S_HALF                  // exact subnormal: no UF
  FS_R2 18, fmul.s, S_ZERO, FF_UF | FF_NX, S_MINSUB, S_HALF            // tie to even -> 0
  FS_R2 19, fmul.s, 0x00400000, FF_UF | FF_NX, 0x00800001, S_HALF      // tie to even -> 0x400000
  FS_R2 20, fmul.s, S_MINNORM, FF_UF | FF_NX, 0x3f7fffff, 0x00800001 - 1 + 0  // tiny after rounding -> UF
  FS_R2 21, fdiv.s, 0x3eaaaaab, FF_NX, S_ONE, S_THREE
  FS_R2 22, fdiv.s, S_INF, FF_DZ, S_ONE, S_ZERO
  FS_R2 23, fdiv.s, S_NINF, FF_DZ, S_NONE, S_ZERO
  FS_R2 24, fdiv.s, S_INF, FF_DZ, S_NONE, S_NZERO
  FS_R2 25, fdiv.s, S_QNAN, FF_NV, S_ZERO, S_ZERO
  FS_R2 26, fdiv.s, S_QNAN, FF_NV, S_INF, S_NINF
  FS_R2 27, fdiv.s, S_ZERO, 0, S_ONE, S_INF
  FS_R2 28, fdiv.s, S_NZERO, 0, S_NZERO, S_TWO
  FS_R2 29, fdiv.s, S_TWO, 0, S_FOUR, S_TWO
  FS_R1 30, fsqrt.s, S_TWO, 0, S_FOUR
  FS_R1 31, fsqrt.s, 0x3fb504f3, FF_NX, S_TWO
  FS_R1 32, fsqrt.s, S_NZERO, 0, S_NZERO
  FS_R1 33, fsqrt.s, S_QNAN, FF_NV, S_NONE
  FS_R1 34, fsqrt.s, S_INF, 0, S_INF
  FS_R1 35, fsqrt.s, S_QNAN, FF_NV, S_NINF

  // ---- NaN inputs: canonical NaN results, NV only for signaling ----
  FS_R2 40, fadd.s, S_QNAN, 0, 0x7fc12345, S_ONE                      // payload not propagated
  FS_R2 41, fadd.s, S_QNAN, 0, 0xffc00000, S_ONE                      // sign not propagated
  FS_R2 42, fadd.s, S_QNAN, FF_NV, S_SNAN, S_ONE
  FS_R2 43, fmul.s, S_QNAN, FF_NV, S_ONE, 0xff800123
  FS_R2 44, fdiv.s, S_QNAN, 0, S_QNAN, S_ZERO                         // NaN/0: no DZ
  FS_R1 45, fsqrt.s, S_QNAN, FF_NV, S_SNAN
  FS_R1 46, fsqrt.s, S_QNAN, 0, 0xffc00001

  // ---- rounding modes via the rm field: 1 + 2^-24 (a tie) and -(1 + 2^-24) ----
  FS_R2RM 50, fadd.s, rne, S_ONE,      FF_NX, S_ONE, S_1P24
  FS_R2RM 51, fadd.s, rtz, S_ONE,      FF_NX, S_ONE, S_1P24
  FS_R2RM 52, fadd.s, rdn, S_ONE,      FF_NX, S_ONE, S_1P24
  FS_R2RM 53, fadd.s, rup, 0x3f800001, FF_NX, S_ONE, S_1P24
  FS_R2RM 54, fadd.s, rmm, 0x3f800001, FF_NX, S_ONE, S_1P24
  FS_R2RM 55, fadd.s, rne, S_NONE,     FF_NX, S_NONE, 0xb3800000
  FS_R2RM 56, fadd.s, rtz, S_NONE,     FF_NX, S_NONE, 0xb3800000
  FS_R2RM 57, fadd.s, rdn, 0xbf800001, FF_NX, S_NONE, 0xb3800000
  FS_R2RM 58, fadd.s, rup, S_NONE,     FF_NX, S_NONE, 0xb3800000
  FS_R2RM 59, fadd.s, rmm, 0xbf800001, FF_NX, S_NONE, 0xb3800000
  // not a tie: 1 + 1.5*2^-24
  FS_R2RM 60, fadd.s, rne, 0x3f800001, FF_NX, S_ONE, S_1P25x3
  FS_R2RM 61, fadd.s, rtz, S_ONE,      FF_NX, S_ONE, S_1P25x3
  // the tie 1 + 3*2^-24 = 1.00000018: between 0x3f800001 and 0x3f800002 -> even is ...02
  FS_R2RM 62, fadd.s, rne, 0x3f800002, FF_NX, S_ONE, 0x34400000
  FS_R2RM 63, fadd.s, rmm, 0x3f800002, FF_NX, S_ONE, 0x34400000
  FS_R2RM 64, fadd.s, rtz, 0x3f800001, FF_NX, S_ONE, 0x34400000
  // x - x is -0 only when rounding down
  FS_R2RM 65, fsub.s, rdn, S_NZERO, 0, S_ONE, S_ONE
  FS_R2RM 66, fsub.s, rup, S_ZERO, 0, S_ONE, S_ONE
  // overflow behaviour depends on the rounding mode
  FS_R2RM 67, fmul.s, rne, S_INF, FF_OF | FF_NX, S_MAX, S_TWO
  FS_R2RM 68, fmul.s, rtz, S_MAX, FF_OF | FF_NX, S_MAX, S_TWO
  FS_R2RM 69, fmul.s, rdn, S_MAX, FF_OF | FF_NX, S_MAX, S_TWO
  FS_R2RM 70, fmul.s, rup, S_INF, FF_OF | FF_NX, S_MAX, S_TWO
  FS_R2RM 71, fmul.s, rmm, S_INF, FF_OF | FF_NX, S_MAX, S_TWO
  FS_R2RM 72, fmul.s, rdn, S_NINF, FF_OF | FF_NX, S_NMAX, S_TWO
  FS_R2RM 73, fmul.s, rup, S_NMAX, FF_OF | FF_NX, S_NMAX, S_TWO
  FS_R2RM 74, fmul.s, rup, S_MINSUB, FF_UF | FF_NX, S_MINSUB, S_HALF
  FS_R2RM 75, fmul.s, rdn, S_ZERO, FF_UF | FF_NX, S_MINSUB, S_HALF
  FS_R2RM 76, fdiv.s, rup, 0x3eaaaaab, FF_NX, S_ONE, S_THREE
  FS_R2RM 77, fdiv.s, rdn, 0x3eaaaaaa, FF_NX, S_ONE, S_THREE
  FS_R2RM 78, fdiv.s, rtz, 0x3eaaaaaa, FF_NX, S_ONE, S_THREE
  FS_R1RM 79, fsqrt.s, rdn, 0x3fb504f3, FF_NX, S_TWO
  FS_R1RM 80, fsqrt.s, rup, 0x3fb504f4, FF_NX, S_TWO

  // ---- rounding modes via frm (dyn) ----
  li gp, 85
  fsrmi 3                     // RUP
  frrm a0
  CHECKR a0, 3
  FS_R2 86, fadd.s, 0x3f800001, FF_NX, S_ONE, S_1P24
  fsrmi 1                     // RTZ
  FS_R2 87, fadd.s, S_ONE, FF_NX, S_ONE, S_1P24
  fsrmi 2                     // RDN
  FS_R2 88, fadd.s, 0xbf800001, FF_NX, S_NONE, 0xb3800000
  FS_R2 89, fsub.s, S_NZERO, 0, S_TWO, S_TWO
  fsrmi 4                     // RMM
  FS_R2 90, fadd.s, 0x3f800001, FF_NX, S_ONE, S_1P24
  fsrmi 0                     // RNE
  FS_R2 91, fadd.s, S_ONE, FF_NX, S_ONE, S_1P24
  // a static rm overrides frm
  fsrmi 3
  FS_R2RM 92, fadd.s, rtz, S_ONE, FF_NX, S_ONE, S_1P24
  fsrmi 0

  // ---- fused multiply-add: one rounding ----
  // (1+2^-12)^2 = 1 + 2^-11 + 2^-24; rounding the product first would lose 2^-24
  FS_R3 100, fmadd.s,  S_1P24, 0, S_A, S_A, S_NA2
  FS_R3 101, fmsub.s,  S_1P24, 0, S_A, S_A, S_A2
  FS_R3 102, fnmsub.s, 0xb3800000, 0, S_A, S_A, S_A2
  FS_R3 103, fnmadd.s, 0xb3800000, 0, S_A, S_A, S_NA2
  // unfused reference: fmul then fadd loses the low term
  li gp, 104
  LDS f1, S_A
  LDS f3, S_NA2
  fmul.s f5, f1, f1
  fadd.s f4, f5, f3
  CHK_S f4, S_ZERO
  FS_R3 105, fmadd.s, 0x40e00000, 0, S_TWO, S_THREE, S_ONE            // 2*3+1 = 7
  FS_R3 106, fmsub.s, 0x40a00000, 0, S_TWO, S_THREE, S_ONE            // 2*3-1 = 5
  FS_R3 107, fnmsub.s, 0xc0a00000, 0, S_TWO, S_THREE, S_ONE           // -(2*3)+1 = -5
  FS_R3 108, fnmadd.s, 0xc0e00000, 0, S_TWO, S_THREE, S_ONE           // -(2*3)-1 = -7
  FS_R3 109, fmadd.s, S_NZERO, 0, S_ONE, S_NZERO, S_NZERO
  FS_R3 110, fmadd.s, S_ZERO, 0, S_ONE, S_NZERO, S_ZERO
  FS_R3 111, fnmadd.s, S_NZERO, 0, S_ONE, S_ZERO, S_ZERO             // -(+0) - (+0) = -0
  FS_R3 112, fmadd.s, S_QNAN, FF_NV, S_INF, S_ZERO, S_QNAN            // inf*0 + qNaN: NV
  FS_R3 113, fmadd.s, S_QNAN, FF_NV, S_INF, S_ONE, S_NINF
  FS_R3 114, fmadd.s, S_QNAN, 0, S_ONE, S_ONE, S_QNAN
  FS_R3 115, fmadd.s, S_QNAN, FF_NV, S_ONE, S_ONE, S_SNAN
  FS_R3 116, fmadd.s, S_INF, FF_OF | FF_NX, S_MAX, S_TWO, S_NONE
  FS_R3RM 117, fmadd.s, rup, 0x3f800001, FF_NX, S_ONE, S_ONE, S_1P24
  FS_R3RM 118, fmadd.s, rne, S_ONE, FF_NX, S_ONE, S_ONE, S_1P24
  FS_R3RM 119, fmsub.s, rdn, S_NZERO, 0, S_ONE, S_ONE, S_ONE
  // 2^-75 * -2^-76 + 2^-126 = 2^-126 (1 - 2^-25): tininess is detected after
  // rounding; rounded to 24 bits with an unbounded exponent it is 2^-126, so
  // UF stays clear and only NX is raised.
  FS_R3 120, fmadd.s, S_MINNORM, FF_NX, 0x1a000000, 0x99800000, S_MINNORM
  // 2^-75 * -2^-75 + 2^-126 = 2^-126 (1 - 2^-24): tiny, exact in 24 bits but
  // not representable as a subnormal -> rounds to 2^-126 with UF|NX.
  FS_R3 121, fmadd.s, S_MINNORM, FF_UF | FF_NX, 0x1a000000, 0x9a000000, S_MINNORM

  // ---- fmin / fmax ----
  FS_R2 130, fmin.s, S_ONE, 0, S_ONE, S_TWO
  FS_R2 131, fmax.s, S_TWO, 0, S_ONE, S_TWO
  FS_R2 132, fmin.s, S_ONE, 0, S_QNAN, S_ONE
  FS_R2 133, fmax.s, S_ONE, 0, S_ONE, S_QNAN
  FS_R2 134, fmin.s, S_ONE, FF_NV, S_SNAN, S_ONE
  FS_R2 135, fmax.s, S_ONE, FF_NV, S_ONE, S_SNAN
  FS_R2 136, fmin.s, S_QNAN, 0, S_QNAN, 0x7fc0abcd                   // both NaN: canonical
  FS_R2 137, fmax.s, S_QNAN, FF_NV, S_SNAN, S_QNAN
  FS_R2 138, fmin.s, S_NZERO, 0, S_NZERO, S_ZERO
  FS_R2 139, fmin.s, S_NZERO, 0, S_ZERO, S_NZERO
  FS_R2 140, fmax.s, S_ZERO, 0, S_NZERO, S_ZERO
  FS_R2 141, fmax.s, S_ZERO, 0, S_ZERO, S_NZERO
  FS_R2 142, fmin.s, S_NINF, 0, S_NINF, 0x40a00000
  FS_R2 143, fmax.s, S_INF, 0, S_INF, S_MAX
  FS_R2 144, fmin.s, 0xc0000000, 0, 0xc0000000, S_NONE

  // ---- sign injection: bit operations, no flags, NaN payloads kept ----
  FS_R2 150, fsgnj.s,  S_NONE, 0, S_ONE, 0xc0000000
  FS_R2 151, fsgnj.s,  S_ONE, 0, S_NONE, S_TWO
  FS_R2 152, fsgnjn.s, S_NONE, 0, S_ONE, S_TWO
  FS_R2 153, fsgnjn.s, S_ONE, 0, S_ONE, S_NONE
  FS_R2 154, fsgnjx.s, S_NONE, 0, S_ONE, S_NONE
  FS_R2 155, fsgnjx.s, S_ONE, 0, S_NONE, S_NONE
  FS_R2 156, fsgnjx.s, S_NONE, 0, S_NONE, S_ONE
  FS_R2 157, fsgnj.s,  0xffc12345, 0, 0x7fc12345, S_NZERO
  FS_R2 158, fsgnjn.s, 0x7f800001, 0, S_SNAN, S_NZERO                 // sNaN: no NV
  FS_R2 159, fsgnjx.s, S_NZERO, 0, S_ZERO, S_NINF

  // ---- comparisons ----
  FS_CMP 160, feq.s, 1, 0, S_ONE, S_ONE
  FS_CMP 161, feq.s, 0, 0, S_ONE, S_TWO
  FS_CMP 162, feq.s, 1, 0, S_NZERO, S_ZERO
  FS_CMP 163, feq.s, 0, 0, S_QNAN, S_QNAN                             // quiet: no NV
  FS_CMP 164, feq.s, 0, FF_NV, S_SNAN, S_ONE
  FS_CMP 165, flt.s, 1, 0, S_ONE, S_TWO
  FS_CMP 166, flt.s, 0, 0, S_TWO, S_ONE
  FS_CMP 167, flt.s, 0, 0, S_NZERO, S_ZERO
  FS_CMP 168, flt.s, 0, FF_NV, S_QNAN, S_ONE                          // signaling compare
  FS_CMP 169, flt.s, 1, 0, S_NINF, S_INF
  FS_CMP 170, fle.s, 1, 0, S_NZERO, S_ZERO
  FS_CMP 171, fle.s, 0, 0, S_TWO, S_ONE
  FS_CMP 172, fle.s, 1, 0, S_ONE, S_ONE
  FS_CMP 173, fle.s, 0, FF_NV, S_ONE, S_QNAN
  FS_CMP 174, flt.s, 1, 0, 0xc0000000, S_NONE

  // ---- fclass.s ----
  FS_CLASS 180, 0x001, S_NINF
  FS_CLASS 181, 0x002, S_NONE
  FS_CLASS 182, 0x004, 0x80000001
  FS_CLASS 183, 0x008, S_NZERO
  FS_CLASS 184, 0x010, S_ZERO
  FS_CLASS 185, 0x020, 0x007fffff
  FS_CLASS 186, 0x040, S_MINNORM
  FS_CLASS 187, 0x080, S_INF
  FS_CLASS 188, 0x100, S_SNAN
  FS_CLASS 189, 0x200, S_QNAN
  FS_CLASS 190, 0x200, 0xffc00001
  FS_CLASS 191, 0x100, 0xffbfffff

  // ---- float -> integer (saturating; NaN -> max positive) ----
  FS_F2I 200, fcvt.w.s, rne, 2, FF_NX, 0x3fc00000                     // 1.5
  FS_F2I 201, fcvt.w.s, rtz, 1, FF_NX, 0x3fc00000
  FS_F2I 202, fcvt.w.s, rdn, 1, FF_NX, 0x3fc00000
  FS_F2I 203, fcvt.w.s, rup, 2, FF_NX, 0x3fc00000
  FS_F2I 204, fcvt.w.s, rmm, 2, FF_NX, 0x3fc00000
  FS_F2I 205, fcvt.w.s, rne, 2, FF_NX, 0x40200000                     // 2.5 -> even
  FS_F2I 206, fcvt.w.s, rmm, 3, FF_NX, 0x40200000
  FS_F2I 207, fcvt.w.s, rne, -2, FF_NX, 0xbfc00000                    // -1.5
  FS_F2I 208, fcvt.w.s, rtz, -1, FF_NX, 0xbfc00000
  FS_F2I 209, fcvt.w.s, rdn, -2, FF_NX, 0xbfc00000
  FS_F2I 210, fcvt.w.s, rup, -1, FF_NX, 0xbfc00000
  FS_F2I 211, fcvt.w.s, rmm, -2, FF_NX, 0xbfc00000
  FS_F2I 212, fcvt.w.s, rtz, -1, 0, S_NONE                            // sign-extended
  FS_F2I 213, fcvt.w.s, rtz, 0x7fffffff, FF_NV, 0x4f32d05e            // 3e9
  FS_F2I 214, fcvt.w.s, rtz, 0xffffffff80000000, FF_NV, 0xcf32d05e
  FS_F2I 215, fcvt.w.s, rtz, 0x7fffffff, FF_NV, S_INF
  FS_F2I 216, fcvt.w.s, rtz, 0xffffffff80000000, FF_NV, S_NINF
  FS_F2I 217, fcvt.w.s, rtz, 0x7fffffff, FF_NV, S_QNAN
  FS_F2I 218, fcvt.w.s, rtz, 0x7fffffff, FF_NV, 0xffc00000            // negative NaN too
  FS_F2I 219, fcvt.w.s, rtz, 0xffffffff80000000, 0, 0xcf000000        // -2^31 exact
  FS_F2I 220, fcvt.w.s, rtz, 0x7fffffff, FF_NV, 0x4f000000            // 2^31
  FS_F2I 221, fcvt.w.s, rne, 0, FF_NX, 0x3f000000                     // 0.5 -> 0
  FS_F2I 222, fcvt.w.s, rtz, 0, 0, S_NZERO
  FS_F2I 223, fcvt.wu.s, rtz, 0, FF_NV, S_NONE
  FS_F2I 224, fcvt.wu.s, rtz, 0, FF_NX, 0xbf000000                    // -0.5 -> 0: in range
  FS_F2I 225, fcvt.wu.s, rdn, 0, FF_NV, 0xbf000000                    // -0.5 -> -1: invalid
  FS_F2I 226, fcvt.wu.s, rtz, 0xffffffffb2d05e00, 0, 0x4f32d05e       // 3e9, sign-extended
  FS_F2I 227, fcvt.wu.s, rtz, 0xffffffffffffffff, FF_NV, 0x4f800000   // 2^32
  FS_F2I 228, fcvt.wu.s, rtz, 0xffffffffffffffff, FF_NV, S_QNAN
  FS_F2I 229, fcvt.wu.s, rtz, 0xffffffffffffffff, FF_NV, S_INF
  FS_F2I 230, fcvt.wu.s, rtz, 0, FF_NV, S_NINF
  FS_F2I 231, fcvt.wu.s, rup, 2, FF_NX, 0x3fc00000
  FS_F2I 232, fcvt.l.s, rtz, 0x7fffffffffffffff, FF_NV, 0x5f000000    // 2^63
  FS_F2I 233, fcvt.l.s, rtz, 0x8000000000000000, 0, 0xdf000000        // -2^63 exact
  FS_F2I 234, fcvt.l.s, rtz, 0x8000000000000000, FF_NV, 0xdf000001
  FS_F2I 235, fcvt.l.s, rtz, 0x7fffffffffffffff, FF_NV, S_QNAN
  FS_F2I 236, fcvt.l.s, rtz, 0x8000000000000000, FF_NV, S_NINF
  FS_F2I 237, fcvt.l.s, rne, 0x00000000b2d05e00, 0, 0x4f32d05e
  FS_F2I 238, fcvt.l.s, rdn, -3, FF_NX, 0xc0200000                    // -2.5
  FS_F2I 239, fcvt.lu.s, rtz, 0x8000000000000000, 0, 0x5f000000
  FS_F2I 240, fcvt.lu.s, rtz, 0xffffffffffffffff, FF_NV, 0x5f800000   // 2^64
  FS_F2I 241, fcvt.lu.s, rtz, 0, FF_NV, 0xdf000000
  FS_F2I 242, fcvt.lu.s, rtz, 0xffffffffffffffff, FF_NV, S_SNAN
  FS_F2I 243, fcvt.lu.s, rtz, 0, FF_NV, S_NINF
  FS_F2I 244, fcvt.lu.s, rne, 4, FF_NX, 0x40600000                    // 3.5 -> 4

  // ---- integer -> float ----
  FS_I2F 250, fcvt.s.w, rne, 0x4f000000, FF_NX, 0x7fffffff            // 2^31-1 -> 2^31
  FS_I2F 251, fcvt.s.w, rtz, 0x4effffff, FF_NX, 0x7fffffff
  FS_I2F 252, fcvt.s.w, rne, S_NONE, 0, 0xffffffffffffffff
  FS_I2F 253, fcvt.s.w, rne, S_TWO, 0, 0x0000000100000002             // upper bits ignored
  FS_I2F 254, fcvt.s.w, rne, S_ZERO, 0, 0
  FS_I2F 255, fcvt.s.w, rne, 0xcf000000, 0, 0x80000000                // -2^31
  FS_I2F 256, fcvt.s.wu, rne, 0x4f800000, FF_NX, 0xffffffff
  FS_I2F 257, fcvt.s.wu, rne, 0x4f000000, 0, 0xffffffff80000000
  FS_I2F 258, fcvt.s.wu, rdn, 0x4f7fffff, FF_NX, 0xffffffff
  FS_I2F 259, fcvt.s.l, rne, 0xdf000000, 0, 0x8000000000000000
  FS_I2F 260, fcvt.s.l, rne, 0x5f000000, FF_NX, 0x7fffffffffffffff
  FS_I2F 261, fcvt.s.l, rne, 0x4b800000, FF_NX, 16777217             // tie -> even
  FS_I2F 262, fcvt.s.l, rup, 0x4b800001, FF_NX, 16777217
  FS_I2F 263, fcvt.s.l, rne, 0x4b800001, 0, 16777218
  FS_I2F 264, fcvt.s.l, rdn, 0xcb800001, FF_NX, -16777217
  FS_I2F 265, fcvt.s.lu, rne, 0x5f800000, FF_NX, 0xffffffffffffffff
  FS_I2F 266, fcvt.s.lu, rtz, 0x5f7fffff, FF_NX, 0xffffffffffffffff
  FS_I2F 267, fcvt.s.lu, rne, 0x5f000000, 0, 0x8000000000000000
  FS_I2F 268, fcvt.s.l, rne, S_NONE, 0, -1

  // ---- moves: fmv.x.w sign-extends, fmv.w.x boxes ----
  li gp, 270
  LDS f1, 0x80000000
  fmv.x.w a0, f1
  CHECKR a0, 0xffffffff80000000
  LDS f1, 0x7fffffff
  fmv.x.w a0, f1
  CHECK 271, a0, 0x7fffffff
  li gp, 272
  li a1, 0x123456783f800000
  fmv.w.x f4, a1                    // upper 32 bits of x are ignored
  fmv.x.d a0, f4
  CHECKR a0, 0xffffffff3f800000
  li gp, 273
  LDD f1, 0x1234567887654321        // not NaN-boxed: fmv.x.w moves the raw low bits
  fmv.x.w a0, f1
  CHECKR a0, 0xffffffff87654321
  LDS f1, S_SNAN                    // moves never touch NaNs or flags
  fsflags zero
  fmv.x.w a0, f1
  CHECK 274, a0, 0x7f800001
  CHK_FLAGS 0

  // ---- NaN-boxing: improperly boxed inputs read as the canonical NaN ----
  li gp, 280
  LDD f1, 0x000000003f800000        // 1.0 with zero upper bits
  LDS f2, S_ONE
  fsflags zero
  fadd.s f4, f1, f2
  CHK_S f4, S_QNAN
  CHK_FLAGS 0
  li gp, 281
  LDD f1, 0xfffffffe3f800000        // one upper bit clear is enough
  fmul.s f4, f2, f1
  CHK_S f4, S_QNAN
  li gp, 282
  LDD f1, 0x000000007f800001        // looks like an sNaN but is not boxed: quiet canonical
  fsflags zero
  fadd.s f4, f1, f2
  CHK_FLAGS 0
  CHK_S f4, S_QNAN
  li gp, 283
  LDD f1, 0x0000000040000000
  fsgnj.s f4, f1, f2                // canonical NaN with the sign of f2
  CHK_S f4, S_QNAN
  LDS f3, S_NONE
  fsgnj.s f4, f1, f3
  CHK_S f4, 0xffc00000
  li gp, 284
  fsgnj.s f4, f2, f1                // sign source not boxed: canonical NaN is positive
  CHK_S f4, S_ONE
  fsgnjn.s f4, f2, f1
  CHK_S f4, S_NONE
  li gp, 285
  fclass.s a0, f1
  CHK_X a0, 0x200
  li gp, 286
  fsflags zero
  feq.s a0, f1, f1
  CHK_X a0, 0
  CHK_FLAGS 0
  li gp, 287
  fcvt.w.s a0, f1, rtz
  CHK_X a0, 0x7fffffff
  CHK_FLAGS FF_NV
  li gp, 288
  fmin.s f4, f1, f2
  CHK_S f4, S_ONE
  li gp, 289
  LDS f3, S_TWO
  fmadd.s f4, f2, f2, f1
  CHK_S f4, S_QNAN
  li gp, 290
  fsqrt.s f4, f1
  CHK_S f4, S_QNAN
  fmv.s f5, f1                      // fmv.s is fsgnj.s: result canonical NaN
  CHK_S f5, S_QNAN

  // ---- flw / fsw ----
  la a1, fdata
  li gp, 300
  flw f4, 0(a1)
  CHK_S f4, 0x7f800001              // sNaN loaded unchanged, NaN-boxed
  li gp, 301
  flw f4, 4(a1)
  CHK_S f4, 0xc0490fdb
  fsw f4, 8(a1)
  lwu a0, 8(a1)
  CHECK 302, a0, 0xc0490fdb
  li gp, 303
  LDD f5, 0xaaaaaaaa7fc12345        // fsw stores the low 32 bits as they are
  fsw f5, 12(a1)
  lwu a0, 12(a1)
  CHECKR a0, 0x7fc12345
  ld a0, 8(a1)
  CHECK 304, a0, 0x7fc12345c0490fdb
  li gp, 305
  addi a2, a1, 16
  flw f6, -12(a2)
  CHK_S f6, 0xc0490fdb
  li gp, 306
  flw f6, 1(a1)                     // misaligned FP load
  fmv.x.w a0, f6
  CHECKR a0, 0xffffffffdb7f8000
  li gp, 307
  LDS f7, 0x11223344
  fsw f7, 17(a1)                    // misaligned FP store
  ld a0, 16(a1)
  CHECKR a0, 0x0000001122334400

  // ---- fcsr / frm / fflags ----
  li gp, 310
  li a0, 0xff
  fscsr a1, a0
  frcsr a2
  CHECKR a2, 0xff
  frrm a2
  CHECK 311, a2, 7
  frflags a2
  CHECK 312, a2, 0x1f
  li gp, 313
  fsflagsi 0x5
  frcsr a2
  CHECKR a2, 0xe5
  fsrmi a3, 2
  CHECK 314, a3, 7                  // old frm
  frcsr a2
  CHECK 315, a2, 0x45
  csrr a2, fflags
  CHECK 316, a2, 0x5
  csrr a2, frm
  CHECK 317, a2, 2
  li gp, 318
  csrwi fcsr, 0
  LDS f1, S_ONE
  LDS f2, S_THREE
  fdiv.s f4, f1, f2                 // NX
  LDS f2, S_ZERO
  fdiv.s f4, f1, f2                 // DZ: flags accrue
  frflags a2
  CHECKR a2, FF_NX | FF_DZ
  csrrci a2, fflags, FF_NX
  CHECK 319, a2, FF_NX | FF_DZ
  frflags a2
  CHECK 320, a2, FF_DZ
  csrrsi a2, fflags, FF_OF
  frflags a2
  CHECK 321, a2, FF_DZ | FF_OF
  fscsr zero

  // ---- reserved rounding modes are illegal ----
  li gp, 330
  EXPECT_TRAP 1f
bad_rm5:
  .word 0x0020d253                  // fadd.s f4, f1, f2, rm=5
  j fail
1:
  CHECK_TRAP 331, CAUSE_ILLEGAL_INSN, bad_rm5
  li gp, 332
  EXPECT_TRAP 2f
  .word 0x0020e253                  // rm=6
  j fail
2:
  li gp, 333
  fsrmi 5                           // frm = 5 is writable, but dyn then is illegal
  EXPECT_TRAP 3f
  fadd.s f4, f1, f2
  j fail
3:
  la t5, trap_rec
  ld t0, TR_CAUSE(t5)
  CHECK 334, t0, CAUSE_ILLEGAL_INSN
  li gp, 335
  fsrmi 7
  EXPECT_TRAP 4f
  fcvt.w.s a0, f1                   // dyn
  j fail
4:
  fsrmi 0
  li gp, 336
  fcvt.w.s a0, f1, rtz              // static rm with invalid frm is fine
  fsgnj.s f4, f1, f1                // no rm at all

  TEST_END

  .data
  .align 4
fdata:
  .word 0x7f800001, 0xc0490fdb, 0, 0
  .dword 0, 0
