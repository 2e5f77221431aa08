/*
 * A tiny static Linux program for test/e2e/jit-smc.test.ts. It runs a hot loop (a xorshift-style
 * mix, long enough for the JIT to translate it), prints "v<ID> <16 hex digits>" and exits with
 * status 40 + ID.
 *
 * Variants are built from this one file (build.sh passes ID and the loop's immediates), with the
 * same layout, so their code sits at the same addresses and file offsets and differs only in the
 * immediates: a translation of one variant's code run for another gives a wrong result. The
 * test computes the expected output itself (jit-smc.test.ts, variantOutput).
 */
#define SYS_write 64
#define SYS_exit 93
#define ITERATIONS 200000
#define SEED 0x12345678

    .option norvc          /* 4-byte instructions only: every variant has the same layout */
    .text
    .globl _start
_start:
    li      s0, ITERATIONS
    li      s1, SEED
1:  slli    t0, s1, SHIFT_A
    xor     s1, s1, t0
    srli    t0, s1, SHIFT_B
    xor     s1, s1, t0
    slli    t0, s1, SHIFT_C
    xor     s1, s1, t0
    addi    s1, s1, ADDEND
    addi    s0, s0, -1
    bnez    s0, 1b

    /* "v<ID> " then 16 hex digits of s1, most significant first, then a newline */
    addi    sp, sp, -32
    li      t1, 'v'
    sb      t1, 0(sp)
    li      t1, '0' + ID
    sb      t1, 1(sp)
    li      t1, ' '
    sb      t1, 2(sp)
    addi    t2, sp, 18
    li      t3, 16
    li      t6, 10
2:  andi    t4, s1, 15
    addi    t5, t4, '0'
    blt     t4, t6, 3f
    addi    t5, t4, 'a' - 10
3:  sb      t5, 0(t2)
    srli    s1, s1, 4
    addi    t2, t2, -1
    addi    t3, t3, -1
    bnez    t3, 2b
    li      t1, '\n'
    sb      t1, 19(sp)

    li      a0, 1
    mv      a1, sp
    li      a2, 20
    li      a7, SYS_write
    ecall
    li      a0, 40 + ID
    li      a7, SYS_exit
    ecall
