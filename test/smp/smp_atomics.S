# SMP stress test for the virt board, run as M-mode firmware (-bios) on 4 harts.
# Every hart adds 1 to two shared counters N times each: once with amoadd.w and once with an
# lr.w/sc.w loop. Harts 1..3 then wait in WFI for a machine software interrupt (an IPI through the
# CLINT's msip) from hart 0 and acknowledge it. Hart 0 checks both counters equal 4*N and that all
# IPIs were acknowledged, then ends the run through the sifive,test1 finisher at 0x100000:
# 0x5555 = pass, (code << 16) | 0x3333 = fail with code.
        .equ N, 20000
        .equ HARTS, 4
        .equ CLINT, 0x2000000
        .equ FINISHER, 0x100000

        .section .text
        .globl _start
_start:
        csrr    s0, mhartid
        la      t0, trap
        csrw    mtvec, t0
        la      s1, counter_amo
        la      s2, counter_lrsc
        li      s3, N
        li      t1, 1
        # 7 instructions per iteration: slice boundaries (every 20000 instructions) fall at every
        # point of the loop, including between an lr.w and its sc.w.
1:      amoadd.w zero, t1, (s1)
2:      lr.w    t2, (s2)
        addi    t2, t2, 1
        sc.w    t3, t2, (s2)
        bnez    t3, 2b
        addi    s3, s3, -1
        bnez    s3, 1b
        la      t0, done
        li      t1, 1
        amoadd.w zero, t1, (t0)
        bnez    s0, secondary

        # Hart 0: wait for all harts to finish counting.
        li      t2, HARTS
3:      lw      t1, (t0)
        bne     t1, t2, 3b
        li      t1, N * HARTS
        lw      t3, (s1)
        li      a0, 1
        bne     t3, t1, fail
        lw      t3, (s2)
        li      a0, 2
        bne     t3, t1, fail
        # Send an IPI to harts 1..3 and wait for their acknowledgements.
        li      t4, CLINT
        li      t5, 1
        sw      t5, 4(t4)
        sw      t5, 8(t4)
        sw      t5, 12(t4)
        la      t0, acks
        li      t2, HARTS - 1
        li      s4, 50000000
4:      lw      t1, (t0)
        beq     t1, t2, pass
        addi    s4, s4, -1
        bnez    s4, 4b
        li      a0, 3
        j       fail
pass:
        li      t0, FINISHER
        li      t1, 0x5555
        sw      t1, (t0)
        j       .
fail:
        slli    a0, a0, 16
        li      t1, 0x3333
        or      a0, a0, t1
        li      t0, FINISHER
        sw      a0, (t0)
        j       .

secondary:
        li      t0, 8                   # mie.MSIE
        csrw    mie, t0
5:      wfi
        csrr    t0, mip
        andi    t0, t0, 8
        beqz    t0, 5b
        # Clear our msip and acknowledge.
        li      t4, CLINT
        slli    t1, s0, 2
        add     t4, t4, t1
        sw      zero, (t4)
        la      t0, acks
        li      t1, 1
        amoadd.w zero, t1, (t0)
6:      wfi
        j       6b

trap:   csrr    a0, mcause
        addi    a0, a0, 16
        j       fail

        .section .data
        .align 6
counter_amo:    .word 0
        .align 6
counter_lrsc:   .word 0
        .align 6
done:           .word 0
acks:           .word 0
