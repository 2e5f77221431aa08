/*
 * fp.h - macros for the F/D conformance programs (include after test.h).
 * Operands go in f1, f2, f3; results in f4 (FP) or a0 (integer).
 * Every macro clears fflags first and checks the exact fflags afterwards.
 * Single-precision results are also checked to be NaN-boxed (upper 32 bits
 * of the 64-bit register all ones).
 */
#ifndef TSVM_CONFORMANCE_FP_H
#define TSVM_CONFORMANCE_FP_H

/* single-precision constants */
#define S_ZERO   0x00000000
#define S_NZERO  0x80000000
#define S_ONE    0x3f800000
#define S_NONE   0xbf800000
#define S_TWO    0x40000000
#define S_THREE  0x40400000
#define S_FOUR   0x40800000
#define S_HALF   0x3f000000
#define S_INF    0x7f800000
#define S_NINF   0xff800000
#define S_QNAN   0x7fc00000    /* canonical NaN */
#define S_SNAN   0x7f800001
#define S_MAX    0x7f7fffff
#define S_NMAX   0xff7fffff
#define S_MINNORM 0x00800000
#define S_MINSUB 0x00000001

/* double-precision constants */
#define D_ZERO   0x0000000000000000
#define D_NZERO  0x8000000000000000
#define D_ONE    0x3ff0000000000000
#define D_NONE   0xbff0000000000000
#define D_TWO    0x4000000000000000
#define D_THREE  0x4008000000000000
#define D_FOUR   0x4010000000000000
#define D_HALF   0x3fe0000000000000
#define D_INF    0x7ff0000000000000
#define D_NINF   0xfff0000000000000
#define D_QNAN   0x7ff8000000000000  /* canonical NaN */
#define D_SNAN   0x7ff0000000000001
#define D_MAX    0x7fefffffffffffff
#define D_NMAX   0xffefffffffffffff
#define D_MINNORM 0x0010000000000000
#define D_MINSUB 0x0000000000000001

.macro LDS freg, val
  li t0, \val
  fmv.w.x \freg, t0
.endm

.macro LDD freg, val
  li t0, \val
  fmv.d.x \freg, t0
.endm

/* CHK_S freg, bits : freg is NaN-boxed and its low 32 bits equal `bits` */
.macro CHK_S freg, res
  fmv.x.d t5, \freg
  srai t6, t5, 32
  addi t6, t6, 1
  beqz t6, .Lcs1\@
  j fail
.Lcs1\@:
  sext.w t5, t5
  li t6, \res
  sext.w t6, t6
  beq t5, t6, .Lcs2\@
  j fail
.Lcs2\@:
.endm

.macro CHK_D freg, res
  fmv.x.d t5, \freg
  li t6, \res
  beq t5, t6, .Lcd\@
  j fail
.Lcd\@:
.endm

.macro CHK_FLAGS flags
  frflags t5
  li t6, \flags
  beq t5, t6, .Lcf\@
  j fail
.Lcf\@:
.endm

.macro CHK_X reg, val
  li t6, \val
  beq \reg, t6, .Lcx\@
  j fail
.Lcx\@:
.endm

/* ---- single precision ---- */
.macro FS_R2 num, op, res, flags, a, b
  li gp, \num
  LDS f1, \a
  LDS f2, \b
  fsflags zero
  \op f4, f1, f2
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_R2RM num, op, rm, res, flags, a, b
  li gp, \num
  LDS f1, \a
  LDS f2, \b
  fsflags zero
  \op f4, f1, f2, \rm
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_R1 num, op, res, flags, a
  li gp, \num
  LDS f1, \a
  fsflags zero
  \op f4, f1
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_R1RM num, op, rm, res, flags, a
  li gp, \num
  LDS f1, \a
  fsflags zero
  \op f4, f1, \rm
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_R3 num, op, res, flags, a, b, c
  li gp, \num
  LDS f1, \a
  LDS f2, \b
  LDS f3, \c
  fsflags zero
  \op f4, f1, f2, f3
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_R3RM num, op, rm, res, flags, a, b, c
  li gp, \num
  LDS f1, \a
  LDS f2, \b
  LDS f3, \c
  fsflags zero
  \op f4, f1, f2, f3, \rm
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_CMP num, op, res, flags, a, b
  li gp, \num
  LDS f1, \a
  LDS f2, \b
  fsflags zero
  \op a0, f1, f2
  CHK_FLAGS \flags
  CHK_X a0, \res
.endm
.macro FS_F2I num, op, rm, res, flags, a
  li gp, \num
  LDS f1, \a
  fsflags zero
  \op a0, f1, \rm
  CHK_FLAGS \flags
  CHK_X a0, \res
.endm
.macro FS_I2F num, op, rm, res, flags, a
  li gp, \num
  li a1, \a
  fsflags zero
  \op f4, a1, \rm
  CHK_FLAGS \flags
  CHK_S f4, \res
.endm
.macro FS_CLASS num, res, a
  li gp, \num
  LDS f1, \a
  fsflags zero
  fclass.s a0, f1
  CHK_FLAGS 0
  CHK_X a0, \res
.endm

/* ---- double precision ---- */
.macro FD_R2 num, op, res, flags, a, b
  li gp, \num
  LDD f1, \a
  LDD f2, \b
  fsflags zero
  \op f4, f1, f2
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_R2RM num, op, rm, res, flags, a, b
  li gp, \num
  LDD f1, \a
  LDD f2, \b
  fsflags zero
  \op f4, f1, f2, \rm
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_R1 num, op, res, flags, a
  li gp, \num
  LDD f1, \a
  fsflags zero
  \op f4, f1
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_R1RM num, op, rm, res, flags, a
  li gp, \num
  LDD f1, \a
  fsflags zero
  \op f4, f1, \rm
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_R3 num, op, res, flags, a, b, c
  li gp, \num
  LDD f1, \a
  LDD f2, \b
  LDD f3, \c
  fsflags zero
  \op f4, f1, f2, f3
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_R3RM num, op, rm, res, flags, a, b, c
  li gp, \num
  LDD f1, \a
  LDD f2, \b
  LDD f3, \c
  fsflags zero
  \op f4, f1, f2, f3, \rm
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_CMP num, op, res, flags, a, b
  li gp, \num
  LDD f1, \a
  LDD f2, \b
  fsflags zero
  \op a0, f1, f2
  CHK_FLAGS \flags
  CHK_X a0, \res
.endm
.macro FD_F2I num, op, rm, res, flags, a
  li gp, \num
  LDD f1, \a
  fsflags zero
  \op a0, f1, \rm
  CHK_FLAGS \flags
  CHK_X a0, \res
.endm
.macro FD_I2F num, op, rm, res, flags, a
  li gp, \num
  li a1, \a
  fsflags zero
  \op f4, a1, \rm
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_I2FX num, op, res, flags, a
  li gp, \num
  li a1, \a
  fsflags zero
  \op f4, a1
  CHK_FLAGS \flags
  CHK_D f4, \res
.endm
.macro FD_CLASS num, res, a
  li gp, \num
  LDD f1, \a
  fsflags zero
  fclass.d a0, f1
  CHK_FLAGS 0
  CHK_X a0, \res
.endm

/* FP_START: enable the FPU (FS=Initial is set by TEST_START), frm = RNE */
.macro FP_START
  li t0, MSTATUS_FS
  csrs mstatus, t0            /* FS = Dirty */
  fscsr zero
.endm

#endif
