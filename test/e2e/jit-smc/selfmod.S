/*
 * A static Linux program that rewrites its own code, for test/e2e/jit-smc.test.ts. Its one
 * segment is writable and executable (linked with -N). For each of ROUNDS rounds it patches two
 * instructions, runs fence.i and then runs the patched code CALLS times:
 *   - `bump` (alone on its own page) adds an immediate to a0: the store hits a page whose code is
 *     hot from the previous rounds while the code doing the store runs elsewhere;
 *   - the `addi a1` inside the calling loop, on the page the patching store itself runs from.
 * Each round prints "r<round> <a0 as 16 hex digits> <a1 as 16 hex digits>"; exit status 0.
 * The test computes the expected lines (jit-smc.test.ts, selfmodOutput).
 */
#define SYS_write 64
#define SYS_exit 93
#define CALLS 50000

/* addi a0/a1, a0/a1, imm (I-type: imm[11:0] rs1 000 rd 0010011), built at assembly time */
#define ADDI_A0(imm) (((imm) & 0xfff) << 20 | 10 << 15 | 10 << 7 | 0x13)
#define ADDI_A1(imm) (((imm) & 0xfff) << 20 | 11 << 15 | 11 << 7 | 0x13)

    .option norvc
    .text
    .globl _start
_start:
    la      s2, patches
    la      s3, patches_end
    la      s4, bump
    la      s5, inline_site
    addi    sp, sp, -64

round:
    lw      t0, 0(s2)           /* new instruction for bump */
    lw      t1, 4(s2)           /* new instruction for the loop */
    sw      t0, 0(s4)
    sw      t1, 0(s5)
    fence.i
    li      s0, CALLS
    li      a0, 0
    li      a1, 0
1:  call    bump
inline_site:
    addi    a1, a1, 0           /* patched */
    addi    s0, s0, -1
    bnez    s0, 1b

    /* "r<n> <a0> <a1>\n": n is the round's index (s2 - patches) / 8 */
    mv      s6, a0
    mv      s7, a1
    la      t0, patches
    sub     t0, s2, t0
    srli    t0, t0, 3
    addi    t0, t0, '0'
    li      t1, 'r'
    sb      t1, 0(sp)
    sb      t0, 1(sp)
    li      t1, ' '
    sb      t1, 2(sp)
    sb      t1, 19(sp)
    li      t1, '\n'
    sb      t1, 36(sp)
    mv      a0, s6
    addi    a1, sp, 18
    call    hex16
    mv      a0, s7
    addi    a1, sp, 35
    call    hex16
    li      a0, 1
    mv      a1, sp
    li      a2, 37
    li      a7, SYS_write
    ecall

    addi    s2, s2, 8
    bltu    s2, s3, round
    li      a0, 0
    li      a7, SYS_exit
    ecall

/* Writes a0 as 16 hex digits ending at a1 (the last digit at a1, the first at a1 - 15). */
hex16:
    li      t3, 16
    li      t6, 10
2:  andi    t4, a0, 15
    addi    t5, t4, '0'
    blt     t4, t6, 3f
    addi    t5, t4, 'a' - 10
3:  sb      t5, 0(a1)
    srli    a0, a0, 4
    addi    a1, a1, -1
    addi    t3, t3, -1
    bnez    t3, 2b
    ret

    .balign 4
patches:                        /* per round: bump's instruction, the loop's instruction */
    .word   ADDI_A0(1),     ADDI_A1(-1)
    .word   ADDI_A0(7),     ADDI_A1(3)
    .word   ADDI_A0(-3),    ADDI_A1(100)
    .word   ADDI_A0(2047),  ADDI_A1(-2048)
    .word   ADDI_A0(-2048), ADDI_A1(2047)
    .word   ADDI_A0(0),     ADDI_A1(1)
patches_end:

    .balign 4096                /* bump alone on the next page */
bump:
    addi    a0, a0, 0           /* patched */
    ret
