# The interpreter's warm-up program (see src/hart/warmup.ts): a few thousand instructions that
# reach every path of the hart's run loop a guest will use - every integer, compressed, FP, atomic
# and CSR instruction form with small, large and negative operands, misaligned accesses, traps
# taken in M and S mode, Sv39 and Sv48 paging (user pages, A/D updates, permission faults), a
# system call from U mode, WFI, and the slow paths of atomics - so the host JavaScript engine
# has seen them all before it optimises the loop (otherwise each first use later costs a deoptimisation and
# recompilation of the whole loop). Its results are not used. Bare metal at 0x8000_0000, M-mode.
#
# Build: src/hart/warmup/build.sh (regenerates src/hart/warmup-program.ts).

  .option norvc
  .option norelax
  .section .text.init
  .globl _start
_start:
  lla t0, trap_m
  csrw mtvec, t0
  li t0, 0x6000            # mstatus.FS = dirty: FP on
  csrs mstatus, t0
  li s11, 8                # rounds
round:
  lla s0, values
  li s1, 12                # value pairs
  .option rvc
pairs:
  ld a0, 0(s0)
  ld a1, 8(s0)
  # ---- RV64I / M register-register and immediates
  add a2, a0, a1
  sub a3, a0, a1
  sll a4, a0, a1
  slt a5, a0, a1
  sltu a6, a0, a1
  xor a7, a0, a1
  srl t3, a0, a1
  sra t4, a0, a1
  or t5, a0, a1
  and t6, a0, a1
  addw a2, a0, a1
  subw a3, a0, a1
  sllw a4, a0, a1
  srlw a5, a0, a1
  sraw a6, a0, a1
  addi a2, a0, -1
  slti a3, a0, 5
  sltiu a4, a0, -5
  xori a5, a0, 0x555
  ori a6, a0, -0x100
  andi a7, a0, 0x7f
  slli t3, a0, 13
  srli t4, a0, 7
  srai t5, a0, 63
  addiw t6, a0, 2047
  slliw a2, a0, 31
  srliw a3, a0, 3
  sraiw a4, a0, 17
  lui a5, 0xfffff
  auipc a6, 0x12345
  mul a2, a0, a1
  mulh a3, a0, a1
  mulhsu a4, a0, a1
  mulhu a5, a0, a1
  div a6, a0, a1
  divu a7, a0, a1
  rem t3, a0, a1
  remu t4, a0, a1
  mulw t5, a0, a1
  divw t6, a0, a1
  divuw a2, a0, a1
  remw a3, a0, a1
  remuw a4, a0, a1
  div a5, a0, zero
  rem a6, a0, zero
  # ---- compressed forms (rvc: the assembler picks them)
  mv a2, a0
  add a2, a2, a1
  addi a2, a2, 7
  li a3, -9
  slli a3, a3, 3
  srli a3, a3, 2
  srai a3, a3, 1
  andi a3, a3, 15
  sub a3, a3, a2
  xor a3, a3, a2
  or a3, a3, a2
  and a3, a3, a2
  addw a3, a3, a2
  subw a3, a3, a2
  addiw a3, a3, 3
  lui a4, 0x1f
  addi sp, sp, -32
  addi a5, sp, 16
  sd a0, 0(sp)
  ld a4, 0(sp)
  sw a1, 8(sp)
  lw a4, 8(sp)
  lla a5, buf
  sd a0, 8(a5)
  ld a4, 8(a5)
  sw a1, 4(a5)
  lw a4, 4(a5)
  fsd fa0, 16(a5)
  fld fa1, 16(a5)
  fsd fa0, 24(sp)
  fld fa2, 24(sp)
  addi sp, sp, 32
  # ---- loads and stores of every width, aligned and not
  .option norvc
  lla t0, buf
  sb a0, 0(t0)
  sh a0, 2(t0)
  sw a0, 4(t0)
  sd a0, 8(t0)
  lb a2, 0(t0)
  lh a3, 2(t0)
  lw a4, 4(t0)
  ld a5, 8(t0)
  lbu a6, 1(t0)
  lhu a7, 2(t0)
  lwu t3, 4(t0)
  ld t4, 3(t0)
  sw a1, 17(t0)
  lw t5, 17(t0)
  sh a1, 33(t0)
  lhu t6, 33(t0)
  # ---- branches both ways, jumps
  beq a0, a1, 1f
  bne a0, a1, 1f
1:
  blt a0, a1, 1f
  bge a0, a1, 1f
1:
  bltu a0, a1, 1f
  bgeu a0, a1, 1f
1:
  bge a1, a0, 1f
  blt a1, a0, 1f
1:
  jal ra, leaf
  jal ra, farleaf          # a jal and a branch that leave the page
  beq zero, zero, farjump
farback:
  li t3, 0x7fffffff7fffffff
  mul t4, t3, t3           # partial products whose sums overflow 31-bit integers
  mulh t5, t3, t3
  mulhu t6, t3, t3
  mulhsu t4, t3, t3
  lla t0, leaf
  jalr ra, 0(t0)
  .option rvc
  jalr t0
  beqz a0, 1f
  bnez a0, 1f
1:
  j 1f
1:
  .option norvc
  # ---- floating point, double and single (in the last two rounds only: a Linux boot uses
  # hardly any, and all rounds of it took a third of the warm-up, ~14 ms)
  li t0, 2
  bgt s11, t0, 5f
  fmv.d.x fa0, a0
  fmv.d.x fa1, a1
  fcvt.d.l fa2, a0
  fcvt.d.lu fa3, a1
  fcvt.d.w fa4, a0
  fcvt.d.wu fa5, a1
  fadd.d ft0, fa2, fa3
  fsub.d ft1, fa2, fa3
  fmul.d ft2, fa2, fa3
  fdiv.d ft3, fa2, fa3
  fsqrt.d ft4, fa3
  fmin.d ft5, fa0, fa1
  fmax.d ft6, fa0, fa1
  fmadd.d ft7, fa2, fa3, fa4
  fmsub.d ft8, fa2, fa3, fa4
  fnmadd.d ft9, fa2, fa3, fa4
  fnmsub.d ft10, fa2, fa3, fa4
  fsgnj.d ft11, fa2, fa3
  fsgnjn.d ft0, fa2, fa3
  fsgnjx.d ft1, fa2, fa3
  feq.d a2, fa2, fa3
  flt.d a3, fa2, fa3
  fle.d a4, fa0, fa1
  fclass.d a5, fa0
  fcvt.w.d a6, ft2
  fcvt.wu.d a7, ft2
  fcvt.l.d t3, ft3
  fcvt.lu.d t4, ft3
  fmv.x.d t5, ft4
  fcvt.s.d fs0, ft2
  fcvt.d.s fs1, fs0
  fmv.w.x fa0, a0
  fmv.w.x fa1, a1
  fcvt.s.l fa2, a0
  fcvt.s.lu fa3, a1
  fcvt.s.w fa4, a0
  fcvt.s.wu fa5, a1
  fadd.s ft0, fa2, fa3
  fsub.s ft1, fa2, fa3
  fmul.s ft2, fa2, fa3
  fdiv.s ft3, fa2, fa3
  fsqrt.s ft4, fa3
  fmin.s ft5, fa0, fa1
  fmax.s ft6, fa0, fa1
  fmadd.s ft7, fa2, fa3, fa4
  fmsub.s ft8, fa2, fa3, fa4
  fnmadd.s ft9, fa2, fa3, fa4
  fnmsub.s ft10, fa2, fa3, fa4
  fsgnj.s ft11, fa2, fa3
  fsgnjn.s ft0, fa2, fa3
  fsgnjx.s ft1, fa2, fa3
  feq.s a2, fa2, fa3
  flt.s a3, fa2, fa3
  fle.s a4, fa0, fa1
  fclass.s a5, fa0
  fcvt.w.s a6, ft2
  fcvt.wu.s a7, ft2
  fcvt.l.s t3, ft3
  fcvt.lu.s t4, ft3
  fmv.x.w t5, ft4
  lla t0, buf
  fsw ft0, 40(t0)
  flw ft1, 40(t0)
  fsd ft2, 48(t0)
  fld ft3, 48(t0)
  fadd.d ft0, fa2, fa3, rtz
  fmul.s ft1, fa2, fa3, rdn
  frflags t6
  fsflags zero
  frrm t6
  fsrm t6
  frcsr t6
  fscsr t6
5:
  # ---- atomics
  lla t0, atom
  amoadd.w a2, a0, (t0)
  amoswap.w a3, a1, (t0)
  amoand.w a4, a0, (t0)
  amoor.w a5, a1, (t0)
  amoxor.w a6, a0, (t0)
  amomax.w a7, a1, (t0)
  amomin.w t3, a0, (t0)
  amomaxu.w t4, a1, (t0)
  amominu.w t5, a0, (t0)
  amoadd.d a2, a0, (t0)
  amoswap.d a3, a1, (t0)
  amoand.d a4, a0, (t0)
  amoor.d a5, a1, (t0)
  amoxor.d a6, a0, (t0)
  amomax.d a7, a1, (t0)
  amomin.d t3, a0, (t0)
  amomaxu.d t4, a1, (t0)
  amominu.d t5, a0, (t0)
  lr.w a2, (t0)
  sc.w a3, a1, (t0)
  lr.d a4, (t0)
  sc.d a5, a0, (t0)
  sc.d a5, a0, (t0)
  addi s0, s0, 8
  addi s1, s1, -1
  bnez s1, pairs
  # ---- CSRs, counters, fences, an M-mode trap
  csrrw a2, mscratch, a0
  csrrs a3, mscratch, a1
  csrrc a4, mscratch, a1
  csrrwi a5, mscratch, 5
  csrrsi a6, mscratch, 3
  csrrci a7, mscratch, 1
  csrr t3, mstatus
  csrr t4, misa
  csrr t5, mhartid
  rdcycle t6
  rdtime a2
  rdinstret a3
  fence
  li t1, 0x10000000        # no RAM and no device here: access faults, skipped by trap_m
  lw a2, 0(t1)
  sw a2, 0(t1)
  # ---- an interrupt taken in M mode (a software interrupt the program raises itself)
  lla t0, irq_m
  csrw mtvec, t0
  li t0, 2                 # SSIE / SSIP (not delegated yet: taken in M mode)
  csrs mie, t0
  csrsi mstatus, 8         # MIE
  csrs mip, t0             # pending and enabled: taken before the next instruction
  nop
  csrci mstatus, 8
  lla t0, trap_m
  csrw mtvec, t0
  li t0, 1                 # in the last round: code written over (with itself) after it ran,
  bne s11, t0, 1f          # which drops its decoded page (and translation)
  lla t0, leaf
  lw t1, 0(t0)
  sw t1, 0(t0)
  fence.i
  jal ra, leaf
1:
  ecall
  # ---- S-mode with Sv39: identity gigapages for RAM, traps delegated to S
  lla t0, pagetable        # the Sv48 root: entries 0 and 255 point to the Sv39 root as a level-2 table
  srli t0, t0, 12
  slli t0, t0, 10
  ori t0, t0, 1            # V: a pointer
  lla t1, pagetable48
  sd t0, 0(t1)
  sd t0, 255 * 8(t1)
  lla t0, trap_s
  csrw stvec, t0
  li t0, (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15)   # delegate U-mode ecalls and page faults
  csrw medeleg, t0
  li t0, 2                 # and the supervisor software interrupt
  csrw mideleg, t0
  lla t0, pagetable
  srli t0, t0, 12
  li t1, 8 << 60           # Sv39
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  li t0, 3 << 11           # mstatus.MPP = S
  csrc mstatus, t0
  li t0, 1 << 11
  csrs mstatus, t0
  lla t0, smode
  csrw mepc, t0
  mret
smode:
  # ---- an interrupt delegated to and taken in S mode
  lla t0, irq_s
  csrw stvec, t0
  csrsi sstatus, 2         # SIE
  csrsi sip, 2             # SSIP (delegated): taken at once
  nop
  csrci sstatus, 2
  lla t0, trap_s
  csrw stvec, t0
  lla t0, buf
  ld a2, 0(t0)
  sd a2, 8(t0)
  lw a3, 5(t0)
  csrr a4, sstatus
  csrw sscratch, a4
  csrr a5, scause
  li t0, 1 << 18           # sstatus.SUM
  csrs sstatus, t0
  csrc sstatus, t0
  sfence.vma
  lla t0, buf              # first accesses after the flush: the slow path of every width
  lb a2, 1(t0)
  sfence.vma
  lbu a2, 1(t0)
  sfence.vma
  lh a2, 2(t0)
  sfence.vma
  lhu a2, 2(t0)
  sfence.vma
  lw a2, 4(t0)
  sfence.vma
  lwu a2, 4(t0)
  sfence.vma
  sb a2, 1(t0)
  sfence.vma
  sh a2, 2(t0)
  sfence.vma
  sw a2, 4(t0)
  li t1, 0x40000000        # unmapped: a load page fault, handled in S mode
  ld a6, 0(t1)
  sd a6, 0(t1)
  li t1, 0x8000000000000000 # not canonical: a page fault from a large high address word
  ld a6, 0(t1)
  sd a6, 0(t1)
  jalr ra, 0(t1)           # and a fetch from there (trap_s returns to ra)
  # In the last round only (once the engine has run long enough to keep feedback; each of these
  # is a deoptimisation in a Linux boot otherwise):
  li t0, 1
  bne s11, t0, 9f
  # a jump into the middle of a block (where it runs translated, a miss; not every round: the
  # engine makes a target it misses often an entry point, and the retranslation cost ~4 ms)
  jal ra, 3f
  lla t0, 3f
  jalr ra, 4(t0)
  j 4f
3:
  addi a2, a2, 1
  addi a2, a2, 1
  ret
4:
  # atomics on their slow paths: after a flush, and faulting
  lla t0, atom
  sfence.vma t0            # one page's entries (as Linux's flush_tlb_page)
  lr.d a2, (t0)
  sfence.vma
  sc.d a3, a2, (t0)
  sfence.vma
  lr.w a2, (t0)
  sfence.vma
  sc.w a3, a2, (t0)
  sfence.vma
  sc.d a3, a2, (t0)        # no reservation left: fails
  addi t2, t0, 8
  lr.d a2, (t0)
  sfence.vma
  sc.d a3, a2, (t2)        # a reservation of another address: fails
  sfence.vma
  amoadd.d a4, a2, (t0)
  sfence.vma
  amoor.w a4, a2, (t0)
  li t1, 0x40000000        # unmapped: page faults, handled in S mode
  lr.d a2, (t0)
  sc.d a3, a2, (t1)        # with a reservation held
  lr.w a2, (t1)
  amoadd.d a4, a2, (t1)
  # a user page from S mode: refused without SUM, allowed with it
  lla t0, buf
  li t1, 0x40000000
  add t0, t0, t1           # buf's alias in the user gigapage at 0xc000_0000
  ld a2, 0(t0)             # a load page fault (a permission fault)
  li t1, 1 << 18           # sstatus.SUM
  csrs sstatus, t1
  ld a2, 0(t0)
  sd a2, 8(t0)
  csrc sstatus, t1
  # a gigapage whose A and D bits are clear: the page walk sets them (once: on the first round)
  lla t0, buf
  li t1, 0x80000000
  add t0, t0, t1           # buf's alias at 0x1_0000_0000
  ld a2, 0(t0)
  sd a2, 8(t0)
  # Sv48 for a moment: a user address above 2^43, whose TLB tag is past 32-bit integers
  lla t0, pagetable48
  srli t0, t0, 12
  li t1, 9 << 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  li t1, 1 << 18           # sstatus.SUM
  csrs sstatus, t1
  lla t0, buf
  li t2, 0x7f8040000000
  add t0, t0, t2           # buf's alias at 0x7f80_c000_0000 (root entry 255, then the user gigapage)
  ld a2, 0(t0)
  sd a2, 8(t0)
  csrc sstatus, t1
  lla t0, pagetable
  srli t0, t0, 12
  li t1, 8 << 60
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  # U mode: code in the user gigapage, which makes a system call (trap_s returns to ra in S mode)
  lla t0, uentry
  li t1, 0x40000000
  add t0, t0, t1
  csrw sepc, t0
  li t1, 1 << 8            # sstatus.SPP = U
  csrc sstatus, t1
  lla ra, 2f
  sret
2:
  wfi                      # S mode, nothing pending: the run stops here, the next goes on
9:
  # the same code at its kernel-like high alias: fetch, loads and stores with high address words
  li t1, 0xffffffff00000000
  lla t0, high
  add t0, t0, t1
  jalr ra, 0(t0)
  jal ra, cross
  ecall                    # back to M mode (trap_m sees an S-mode ecall)
  li t0, 0
  csrw satp, t0
  sfence.vma
  addi s11, s11, -1
  bnez s11, round
  ebreak                   # the runner stops here

leaf:
  addi a0, a0, 1
  ret

uentry:                    # runs in U mode, at its alias in the user gigapage
  lla t0, buf
  ld a2, 0(t0)
  sd a2, 8(t0)
  ecall

high:                      # runs at 0xffff_ffff_8xxx_xxxx
  lla t0, buf
  ld a2, 0(t0)
  sd a2, 8(t0)
  lw a3, 5(t0)
  sltu a4, a2, t0
  bltu a2, t0, 1f
1:
  ret

  .option rvc
  .org 0xff8               # a 32-bit instruction across a page boundary (from 0xffe)
cross:
  c.nop
  c.nop
  c.nop
  .option norvc
  addi a0, a0, 1
  ret
  .option rvc
  .balign 4                # (with compressed nops available for the 2-byte pad)
  .option norvc

# M-mode traps: skip the instruction; an ecall from S mode returns to M mode after it.
# (The handlers use s3-s5 only: the code they interrupt keeps its temporaries.)
  .balign 4
trap_m:
  csrr s3, mcause
  csrr s4, mepc
  addi s4, s4, 4
  csrw mepc, s4
  li s5, 9                 # ecall from S
  bne s3, s5, 1f
  li s3, 3 << 11           # MPP = M
  csrs mstatus, s3
1:
  mret

# S-mode traps: skip the faulting instruction.
  .balign 4
trap_s:
  csrr s3, scause
  csrr s4, stval
  csrr s4, sepc
  addi s4, s4, 4
  li s5, 12                # fetch page fault: back to the caller
  bne s3, s5, 1f
  mv s4, ra
1:
  li s5, 8                 # ecall from U mode: back to S mode, at ra
  bne s3, s5, 1f
  mv s4, ra
  li s5, 1 << 8            # sstatus.SPP = S
  csrs sstatus, s5
  li s5, 1 << 5            # SPIE clear: S mode goes on with interrupts off, as before
  csrc sstatus, s5
1:
  csrw sepc, s4
  sret

# Interrupts: clear the software interrupt and return to the interrupted instruction.
  .balign 4
irq_m:
  csrci mip, 2
  mret
  .balign 4
irq_s:
  csrci sip, 2
  sret

farleaf:                   # on the second page: reached by jal from the first
  addi a0, a0, 1
  ret
farjump:                   # reached by a branch from the first page; jumps back
  j farback

  .section .data
  .balign 8
values:                    # consecutive pairs: equal and unequal high words, signs, overflows
  .dword 0x7fffffffffffffff, -1, 3, 5, 0x123456789abcdef0, 0x12345678fedcba98, -0x8000000000000000
  .dword 0x80000000, -7, -3, 12345678901, 0xffffffff, 0x7fffffff, 0xfffffffffff00000
buf:
  .fill 64, 1, 0
atom:
  .dword 0x1122334455667788
  .balign 4096
pagetable:                 # level 2: 1 GiB leaves (V R W X A D): 0x0, 0x8000_0000, and
  .dword (0x00000000 >> 2) | 0xcf   # 0xffff_ffff_8000_0000 -> 0x8000_0000 (where Linux runs)
  .dword 0
  .dword (0x80000000 >> 2) | 0xcf
  .dword (0x80000000 >> 2) | 0xdf   # 0xc000_0000 -> 0x8000_0000 for U mode (V R W X U A D)
  .dword (0x80000000 >> 2) | 0x0f   # 0x1_0000_0000 -> 0x8000_0000, A and D clear (V R W X)
  .fill 505, 8, 0
  .dword (0x80000000 >> 2) | 0xcf
  .dword 0
pagetable48:               # Sv48 root (filled by the program)
  .fill 512, 8, 0
