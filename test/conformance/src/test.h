/*
 * test.h - shared macros for the tsvm conformance programs.
 *
 * Every program is a bare-metal M-mode ELF linked at 0x80000000 (link.ld).
 *
 * Register conventions (the tests themselves must not use these):
 *   gp (x3)  - number of the check in progress (TESTNUM); reported on failure
 *   tp (x4)  - clobbered by the M-mode trap handler
 *   t5 (x30) - scratch for the check macros
 *   t6 (x31) - scratch for the check macros and the trap handler
 *
 * Reporting:
 *   pass: tohost <- 1, then the sifive,test1 finisher (0x100000) <- 0x5555
 *   fail: tohost <- (TESTNUM << 1) | 1, finisher <- (TESTNUM << 16) | 0x3333
 *   then the hart spins forever.
 *
 * Traps: the M-mode handler `trap_handler_m` records mcause/mepc/mtval/mstatus
 * into `trap_rec`. A test that expects a trap arms it with EXPECT_TRAP label:
 * the handler then resumes at `label` in M-mode (MPP is forced to M unless
 * trap_rec.keepmode is nonzero). A trap that was not armed fails the current
 * check. Lower modes get back to M-mode with RETURN_TO_M (ecall with a7='M'),
 * and `fail` works from any mode (ecall with a7='F').
 */
#ifndef TSVM_CONFORMANCE_TEST_H
#define TSVM_CONFORMANCE_TEST_H

#define TESTNUM gp

/* ---- CSR field constants ------------------------------------------------ */
#define MSTATUS_SIE   (1 << 1)
#define MSTATUS_MIE   (1 << 3)
#define MSTATUS_SPIE  (1 << 5)
#define MSTATUS_UBE   (1 << 6)
#define MSTATUS_MPIE  (1 << 7)
#define MSTATUS_SPP   (1 << 8)
#define MSTATUS_VS    (3 << 9)
#define MSTATUS_MPP   (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define MSTATUS_MPP_M (3 << 11)
#define MSTATUS_FS    (3 << 13)
#define MSTATUS_FS_INITIAL (1 << 13)
#define MSTATUS_FS_CLEAN   (2 << 13)
#define MSTATUS_FS_DIRTY   (3 << 13)
#define MSTATUS_XS    (3 << 15)
#define MSTATUS_MPRV  (1 << 17)
#define MSTATUS_SUM   (1 << 18)
#define MSTATUS_MXR   (1 << 19)
#define MSTATUS_TVM   (1 << 20)
#define MSTATUS_TW    (1 << 21)
#define MSTATUS_TSR   (1 << 22)
#define MSTATUS_UXL   (3 << 32)
#define MSTATUS_SXL   (3 << 34)
#define MSTATUS_SBE   (1 << 36)
#define MSTATUS_MBE   (1 << 37)
#define MSTATUS_SD    (1 << 63)

#define MIP_SSIP (1 << 1)
#define MIP_MSIP (1 << 3)
#define MIP_STIP (1 << 5)
#define MIP_MTIP (1 << 7)
#define MIP_SEIP (1 << 9)
#define MIP_MEIP (1 << 11)

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL_INSN     2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE        13
#define CAUSE_STORE_PAGE       15
#define CAUSE_INTR             (1 << 63)

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* fflags bits */
#define FF_NX 0x01
#define FF_UF 0x02
#define FF_OF 0x04
#define FF_DZ 0x08
#define FF_NV 0x10

/* sv39/sv48 PTE bits */
#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

/* platform */
#define FINISHER_BASE 0x100000
#define CLINT_BASE    0x2000000
#define CLINT_MSIP    (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME   (CLINT_BASE + 0xBFF8)

/* trap record layout */
#define TR_CAUSE    0
#define TR_EPC      8
#define TR_TVAL     16
#define TR_STATUS   24
#define TR_RESUME   32
#define TR_COUNT    40
#define TR_KEEPMODE 48

#define SVC_RETURN_TO_M 0x4d   /* 'M' */
#define SVC_FAIL        0x46   /* 'F' */

/* ---- program skeleton ---------------------------------------------------- */

/* TEST_START: entry point. Sets up the trap vector, a stack, an all-memory
 * PMP entry (so S/U-mode may access memory on implementations that enforce
 * PMP), FS=Initial, and clears delegation/paging. */
.macro TEST_START
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  li gp, 0
  la t0, trap_handler_m
  csrw mtvec, t0
  la sp, stack_top
  csrwi mie, 0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f               /* NAPOT, R W X */
  csrw pmpcfg0, t0
  csrwi satp, 0
  csrwi medeleg, 0
  csrwi mideleg, 0
  li t0, (MSTATUS_MIE | MSTATUS_SIE | MSTATUS_MPRV | MSTATUS_FS | MSTATUS_MPP)
  csrc mstatus, t0
  li t0, (MSTATUS_FS_INITIAL | MSTATUS_MPP_M)
  csrs mstatus, t0
  la t0, trap_rec
  sd zero, TR_RESUME(t0)
  sd zero, TR_COUNT(t0)
  sd zero, TR_KEEPMODE(t0)
  j test_body
  .align 2
test_body:
.endm

/* TEST_END: everything after the last check; the code falls into `pass`. */
.macro TEST_END
  j pass

/* fail from any privilege mode: ask M-mode with an ecall */
  .globl fail
fail:
  li a7, SVC_FAIL
  ecall
  /* the ecall came back (should not happen): report directly */
fail_m:
  bnez gp, 1f
  li gp, 0x3ff               /* failure before the first check */
1:
  slli a0, gp, 1
  ori a0, a0, 1
  la t0, tohost
  sd a0, 0(t0)
  li t1, FINISHER_BASE
  slli t2, gp, 16
  li t3, 0x3333
  or t2, t2, t3
  sw t2, 0(t1)
2:
  j 2b

  .globl pass
pass:
  li a0, 1
  la t0, tohost
  sd a0, 0(t0)
  li t1, FINISHER_BASE
  li t2, 0x5555
  sw t2, 0(t1)
3:
  j 3b

/* ---- M-mode trap handler ---- */
  .align 2
  .globl trap_handler_m
trap_handler_m:
  csrr tp, mcause
  /* service ecalls: cause 8 (U), 9 (S), 11 (M) with a7 = 'F' or 'M' */
  li t6, CAUSE_ECALL_U
  beq tp, t6, 4f
  li t6, CAUSE_ECALL_S
  beq tp, t6, 4f
  li t6, CAUSE_ECALL_M
  beq tp, t6, 4f
  j 6f
4:
  li t6, SVC_FAIL
  beq a7, t6, fail_m
  li t6, SVC_RETURN_TO_M
  bne a7, t6, 6f
  la t6, trap_rec
  ld t6, TR_RESUME(t6)
  bnez t6, 6f                /* an armed trap takes precedence */
  li a7, 0
  csrr tp, mepc
  addi tp, tp, 4
  csrw mepc, tp
  li tp, MSTATUS_MPP
  csrs mstatus, tp
  mret
6:
  la t6, trap_rec
  sd tp, TR_CAUSE(t6)
  csrr tp, mepc
  sd tp, TR_EPC(t6)
  csrr tp, mtval
  sd tp, TR_TVAL(t6)
  csrr tp, mstatus
  sd tp, TR_STATUS(t6)
  ld tp, TR_COUNT(t6)
  addi tp, tp, 1
  sd tp, TR_COUNT(t6)
  ld tp, TR_RESUME(t6)
  beqz tp, fail_m            /* unexpected trap: fail the current check */
  sd zero, TR_RESUME(t6)
  csrw mepc, tp
  ld tp, TR_KEEPMODE(t6)
  bnez tp, 5f
  li tp, MSTATUS_MPP
  csrs mstatus, tp
5:
  mret

  .section .tohost, "aw", @progbits
  .align 6
  .globl tohost
tohost: .dword 0
  .align 6
  .globl fromhost
fromhost: .dword 0

  .data
  .align 6
  .globl trap_rec
trap_rec: .dword 0, 0, 0, 0, 0, 0, 0, 0

  .bss
  .align 4
stack_bottom: .skip 4096
  .globl stack_top
stack_top:
  .text                      /* code after TEST_END lands in .text */
.endm

/* ---- check macros ---------------------------------------------------------- */

/* CHECK num, reg, value: TESTNUM <- num; fail unless reg == value (64-bit). */
.macro CHECK num, reg, val
  li gp, \num
  li t6, \val
  beq \reg, t6, .Lck\@
  j fail
.Lck\@:
.endm

/* CHECKR reg, value: like CHECK, but keeps the current TESTNUM. */
.macro CHECKR reg, val
  li t6, \val
  beq \reg, t6, .Lckr\@
  j fail
.Lckr\@:
.endm

/* CHECKEQ num, reg1, reg2 */
.macro CHECKEQ num, r1, r2
  li gp, \num
  beq \r1, \r2, .Lckeq\@
  j fail
.Lckeq\@:
.endm

/* CHECKNE num, reg1, reg2 */
.macro CHECKNE num, r1, r2
  li gp, \num
  bne \r1, \r2, .Lckne\@
  j fail
.Lckne\@:
.endm

/* CHECKMEM num, width(ld/lw/...), symbol, value */
.macro CHECKMEM num, ldop, sym, val
  li gp, \num
  la t5, \sym
  \ldop t5, 0(t5)
  li t6, \val
  beq t5, t6, .Lckm\@
  j fail
.Lckm\@:
.endm

/* TEST_RR num, op, expected, a, b : op a0, a1(=a), a2(=b) */
.macro TEST_RR num, op, res, a, b
  li gp, \num
  li a1, \a
  li a2, \b
  \op a0, a1, a2
  li t6, \res
  beq a0, t6, .Lrr\@
  j fail
.Lrr\@:
.endm

/* TEST_RI num, op, expected, a, imm : op a0, a1(=a), imm */
.macro TEST_RI num, op, res, a, imm
  li gp, \num
  li a1, \a
  \op a0, a1, \imm
  li t6, \res
  beq a0, t6, .Lri\@
  j fail
.Lri\@:
.endm

/* ---- trap helpers ---------------------------------------------------------- */

/* EXPECT_TRAP label: the next trap resumes at `label` (in M-mode). */
.macro EXPECT_TRAP label
  la t6, \label
  la t5, trap_rec
  sd t6, TR_RESUME(t5)
.endm

/* CHECK_TRAP num, cause, epc_label : check the recorded cause and mepc */
.macro CHECK_TRAP num, cause, epc
  li gp, \num
  la t5, trap_rec
  ld t5, TR_CAUSE(t5)
  li t6, \cause
  beq t5, t6, .Lct1\@
  j fail
.Lct1\@:
  la t5, trap_rec
  ld t5, TR_EPC(t5)
  la t6, \epc
  beq t5, t6, .Lct2\@
  j fail
.Lct2\@:
.endm

/* CHECK_TVAL num, value */
.macro CHECK_TVAL num, val
  li gp, \num
  la t5, trap_rec
  ld t5, TR_TVAL(t5)
  li t6, \val
  beq t5, t6, .Lctv\@
  j fail
.Lctv\@:
.endm

/* CHECK_TVAL_REG num, reg */
.macro CHECK_TVAL_REG num, reg
  li gp, \num
  la t5, trap_rec
  ld t5, TR_TVAL(t5)
  beq t5, \reg, .Lctvr\@
  j fail
.Lctvr\@:
.endm

/* CHECK_TRAP_COUNT num, n */
.macro CHECK_TRAP_COUNT num, n
  li gp, \num
  la t5, trap_rec
  ld t5, TR_COUNT(t5)
  li t6, \n
  beq t5, t6, .Lctc\@
  j fail
.Lctc\@:
.endm

/* RESET_TRAP_COUNT */
.macro RESET_TRAP_COUNT
  la t5, trap_rec
  sd zero, TR_COUNT(t5)
.endm

/* ENTER_MODE mode, label : mret to `label` in privilege `mode` (0/1/3). */
.macro ENTER_MODE mode, label
  li t6, MSTATUS_MPP
  csrc mstatus, t6
  li t6, ((\mode) << 11)
  csrs mstatus, t6
  la t6, \label
  csrw mepc, t6
  mret
.endm

/* RETURN_TO_M: from S/U-mode, continue with the next instruction in M-mode. */
.macro RETURN_TO_M
  li a7, SVC_RETURN_TO_M
  ecall
.endm

#endif
