/*
 * paging.h - the body shared by paging_sv39.S and paging_sv48.S.
 * Define LEVELS (3 = Sv39, 4 = Sv48) before including.
 *
 * Page tables are built at run time in M-mode. Virtual layout (same for both
 * modes; in Sv48 root[0] points at the table `l2` that plays Sv39's root):
 *   0x0000_1000 .. 0x0000_f000  4 KiB pages in l0_a (see the table below)
 *   0x0020_0000                 2 MiB megapage -> megaphys (A=D=0 initially)
 *   0x0040_0000                 megapage with a misaligned PPN -> page fault
 *   0x4000_0000                 1 GiB U-mode alias of the program (U|RWX)
 *   0x8000_0000                 1 GiB identity map of the program (RWX)
 *   0xC000_0000                 1 GiB gigapage alias of the program (RW)
 *   0x1_0000_0000               gigapage with a misaligned PPN -> page fault
 *   Sv48 only: 0x80_0000_0000   512 GiB terapage at PA 0
 * The M-mode trap handler runs untranslated; page faults go to M unless
 * delegated (the last part delegates them to an S-mode handler).
 */

#if LEVELS == 4
#define SATP_MODE 9
#define TOP l2
#define NONCANON 0x0001000000001000   /* bit 48 != bit 47 */
#else
#define SATP_MODE 8
#define TOP root
#define NONCANON 0x0000008000001000   /* bit 39 != bit 38 */
#endif

#define VA_RW    0x1000   /* R W A D        -> tp0 */
#define VA_RO    0x2000   /* R A            -> tp1 */
#define VA_XO    0x3000   /* X A            -> xpage */
#define VA_URW   0x4000   /* U R W A D      -> tp3 */
#define VA_INV   0x5000   /* V = 0 */
#define VA_WO    0x6000   /* W (no R): reserved */
#define VA_AD1   0x7000   /* R W, A = D = 0 -> tp4 */
#define VA_AD2   0x8000   /* R W, A = D = 0 -> tp5 */
#define VA_XA    0x9000   /* X R, A = 0     -> xpage */
#define VA_INV2  0xa000   /* V = 0 (the page after VA_XA) */
#define VA_UX    0xb000   /* U X R A        -> xpage */
#define VA_SF    0xc000   /* R W A D        -> tp6, later tp7 */
#define VA_PTR   0xd000   /* non-leaf PTE at level 0 */
#define VA_RSV   0xe000   /* reserved PTE bit 60 set */
#define VA_URO   0xf000   /* U R A          -> tp3 */
#define VA_NXRO  0x10000  /* R A            -> PA 0 (no memory there) */
#define VA_NXRW  0x11000  /* R W A D        -> PA 0 (no memory there) */
#define VA_MEGA  0x200000
#define VA_MEGA_BAD 0x400000
#define UALIAS   0x40000000
#define GIGA_OFF 0x40000000
#define VA_GIGA_BAD 0x100000000

#define PTE_RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

/* STORE_PTE table, idx (value in t0) */
.macro STORE_PTE table, idx
  la t1, \table
  li t2, (\idx) * 8
  add t1, t1, t2
  sd t0, 0(t1)
.endm
.macro PTE_PTR table, idx, next
  la t0, \next
  srli t0, t0, 12
  slli t0, t0, 10
  ori t0, t0, PTE_V
  STORE_PTE \table, \idx
.endm
.macro PTE_SYM table, idx, target, flags
  la t0, \target
  srli t0, t0, 12
  slli t0, t0, 10
  li t2, \flags
  or t0, t0, t2
  STORE_PTE \table, \idx
.endm
.macro PTE_PA table, idx, pa, flags
  li t0, (((\pa) >> 12) << 10) | (\flags)
  STORE_PTE \table, \idx
.endm
.macro LOAD_PTE reg, table, idx
  la \reg, \table
  li t2, (\idx) * 8
  add \reg, \reg, t2
  ld \reg, 0(\reg)
.endm
/* ENTER_U label: mret to U-mode at the U alias of `label` */
.macro ENTER_U label
  li t6, MSTATUS_MPP
  csrc mstatus, t6
  la t6, \label
  li t5, UALIAS
  sub t6, t6, t5
  csrw mepc, t6
  mret
.endm
/* CHECK_FAULT num, cause, tval : the last M trap */
.macro CHECK_FAULT num, cause, tval
  li gp, \num
  la t5, trap_rec
  ld t6, TR_CAUSE(t5)
  li t5, \cause
  beq t5, t6, .Lcf1\@
  j fail
.Lcf1\@:
  la t5, trap_rec
  ld t6, TR_TVAL(t5)
  li t5, \tval
  beq t5, t6, .Lcf2\@
  j fail
.Lcf2\@:
.endm
.macro SET_MSTATUS bits
  li t0, \bits
  csrs mstatus, t0
.endm
.macro CLR_MSTATUS bits
  li t0, \bits
  csrc mstatus, t0
.endm

  TEST_START
  // ---- initial contents of the test pages (physical) ----
  la t0, pt_start
  la t1, pt_end
1:
  sd zero, 0(t0)
  addi t0, t0, 8
  bltu t0, t1, 1b
  li a0, 0x1111
  la t0, tp0
  sd a0, 0(t0)
  li a0, 0x2222
  la t0, tp1
  sd a0, 0(t0)
  li a0, 0x4444
  la t0, tp3
  sd a0, 0(t0)
  li a0, 0x6666
  la t0, tp6
  sd a0, 0(t0)
  li a0, 0x7777
  la t0, tp7
  sd a0, 0(t0)

  // ---- page tables ----
#if LEVELS == 4
  PTE_PTR root, 0, l2
  PTE_PA root, 1, 0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D     // 512 GiB terapage
#endif
  PTE_PTR TOP, 0, l1_a
  PTE_PA TOP, 1, 0x80000000, PTE_RWXAD | PTE_U                 // U alias
  PTE_PA TOP, 2, 0x80000000, PTE_RWXAD                         // identity
  PTE_PA TOP, 3, 0x80000000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  PTE_PA TOP, 4, 0x80200000, PTE_V | PTE_R | PTE_A              // misaligned gigapage
  PTE_PTR l1_a, 0, l0_a
  PTE_SYM l1_a, 1, megaphys, PTE_V | PTE_R | PTE_W              // A = D = 0
  PTE_SYM l1_a, 2, megaphys + 0x1000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  PTE_SYM l0_a, 1, tp0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  PTE_SYM l0_a, 2, tp1, PTE_V | PTE_R | PTE_A
  PTE_SYM l0_a, 3, xpage, PTE_V | PTE_X | PTE_A
  PTE_SYM l0_a, 4, tp3, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
  PTE_SYM l0_a, 5, tp2, PTE_R | PTE_W | PTE_A | PTE_D           // V = 0
  PTE_SYM l0_a, 6, tp2, PTE_V | PTE_W | PTE_A | PTE_D           // W without R
  PTE_SYM l0_a, 7, tp4, PTE_V | PTE_R | PTE_W
  PTE_SYM l0_a, 8, tp5, PTE_V | PTE_R | PTE_W
  PTE_SYM l0_a, 9, xpage, PTE_V | PTE_X | PTE_R
  PTE_SYM l0_a, 11, xpage, PTE_V | PTE_X | PTE_R | PTE_U | PTE_A
  PTE_SYM l0_a, 12, tp6, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  PTE_SYM l0_a, 13, tp7, PTE_V                                   // pointer at level 0
  PTE_SYM l0_a, 14, tp7, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  LOAD_PTE t0, l0_a, 14
  li t1, (1 << 60)                                               // reserved bit
  or t0, t0, t1
  STORE_PTE l0_a, 14
  PTE_SYM l0_a, 15, tp3, PTE_V | PTE_R | PTE_U | PTE_A
  PTE_PA l0_a, 16, 0, PTE_V | PTE_R | PTE_A
  PTE_PA l0_a, 17, 0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D

  la t0, root
  srli t0, t0, 12
  li t1, (SATP_MODE << 60)
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  csrr a0, satp
  CHECKEQ 1, a0, t0

  // ---- S-mode accesses through 4K pages, a gigapage and a megapage ----
  ENTER_MODE PRV_S, 2f
2:
  li t0, VA_RW
  ld a0, 0(t0)
  CHECK 2, a0, 0x1111
  li a1, 0xabcd
  sd a1, 8(t0)
  la t0, tp0
  li t1, GIGA_OFF
  add t0, t0, t1                        // tp0 through the gigapage at 0xC0000000
  ld a2, 0(t0)
  CHECK 3, a2, 0x1111
  li t0, VA_MEGA + 0x1230
  li a1, 0x5a5a
  sd a1, 0(t0)
  ld a3, 0(t0)
  CHECK 4, a3, 0x5a5a
  RETURN_TO_M
  la t0, tp0
  ld a0, 8(t0)
  CHECK 5, a0, 0xabcd                   // the store reached tp0
  la t0, megaphys
  li t1, 0x1230
  add t0, t0, t1
  ld a0, 0(t0)
  CHECK 6, a0, 0x5a5a                   // and megaphys
  LOAD_PTE a0, l1_a, 1
  andi a0, a0, PTE_A | PTE_D
  CHECK 7, a0, PTE_A | PTE_D            // hardware set A and D on the megapage

#if LEVELS == 4
  // the terapage: VA 0x80_0000_0000 + PA
  ENTER_MODE PRV_S, 3f
3:
  la t0, tp0
  li t1, 0x8000000000
  add t0, t0, t1
  ld a0, 0(t0)
  CHECK 8, a0, 0x1111
  RETURN_TO_M
#else
  // in Sv39 the same address is not canonical
  li gp, 8
  EXPECT_TRAP 3f
  ENTER_MODE PRV_S, 4f
4:
  la t0, tp0
  li t1, 0x8000000000
  add a1, t0, t1
noncanon39:
  ld a0, 0(a1)
  j fail
3:
  la t0, tp0
  li t1, 0x8000000000
  add a1, t0, t1
  CHECK_TRAP 9, CAUSE_LOAD_PAGE, noncanon39
  CHECK_TVAL_REG 10, a1
#endif

  // ---- permission faults ----
  li gp, 11
  EXPECT_TRAP 5f
  ENTER_MODE PRV_S, pf_st_ro
pf_st_ro:
  li t0, VA_RO + 0x18
  sd zero, 0(t0)
  j fail
5:
  CHECK_FAULT 12, CAUSE_STORE_PAGE, VA_RO + 0x18
  li gp, 13
  EXPECT_TRAP 6f
  ENTER_MODE PRV_S, pf_ld_xo
pf_ld_xo:
  li t0, VA_XO + 4
  lw a0, 0(t0)
  j fail
6:
  CHECK_FAULT 14, CAUSE_LOAD_PAGE, VA_XO + 4
  // MXR: loads from executable pages succeed
  SET_MSTATUS MSTATUS_MXR
  ENTER_MODE PRV_S, 7f
7:
  li t0, VA_XO
  lwu a0, 0(t0)
  RETURN_TO_M
  CLR_MSTATUS MSTATUS_MXR
  CHECK 15, a0, 0x07700513              // "li a0, 0x77" at the start of xpage
  // fetch from an execute-only page works
  ENTER_MODE PRV_S, 8f
8:
  li a0, 0
  li t0, VA_XO
  jalr ra, 0(t0)
  RETURN_TO_M
  CHECK 16, a0, 0x77
  // fetch from a page without X
  li gp, 17
  EXPECT_TRAP 9f
  ENTER_MODE PRV_S, 10f
10:
  li t0, VA_RW
  jalr ra, 0(t0)
  j fail
9:
  CHECK_FAULT 18, CAUSE_FETCH_PAGE, VA_RW
  la t5, trap_rec
  ld t0, TR_EPC(t5)
  CHECK 19, t0, VA_RW
  // S-mode load from a U page with SUM = 0
  li gp, 20
  EXPECT_TRAP 11f
  ENTER_MODE PRV_S, 12f
12:
  li t0, VA_URW
  ld a0, 0(t0)
  j fail
11:
  CHECK_FAULT 21, CAUSE_LOAD_PAGE, VA_URW
  li gp, 22
  EXPECT_TRAP 13f
  ENTER_MODE PRV_S, 14f
14:
  li t0, VA_URW + 8
  sd zero, 0(t0)
  j fail
13:
  CHECK_FAULT 23, CAUSE_STORE_PAGE, VA_URW + 8
  // SUM = 1: loads and stores to U pages work from S
  SET_MSTATUS MSTATUS_SUM
  ENTER_MODE PRV_S, 15f
15:
  li t0, VA_URW
  ld a0, 0(t0)
  li a1, 0x4545
  sd a1, 16(t0)
  RETURN_TO_M
  CHECK 24, a0, 0x4444
  la t0, tp3
  ld a0, 16(t0)
  CHECK 25, a0, 0x4545
  // ... but S never executes U pages
  li gp, 26
  EXPECT_TRAP 16f
  ENTER_MODE PRV_S, 17f
17:
  li t0, VA_UX
  jalr ra, 0(t0)
  j fail
16:
  CHECK_FAULT 27, CAUSE_FETCH_PAGE, VA_UX
  CLR_MSTATUS MSTATUS_SUM
  // invalid PTE
  li gp, 28
  EXPECT_TRAP 18f
  ENTER_MODE PRV_S, 19f
19:
  li t0, VA_INV
  ld a0, 0(t0)
  j fail
18:
  CHECK_FAULT 29, CAUSE_LOAD_PAGE, VA_INV
  li gp, 30
  EXPECT_TRAP 20f
  ENTER_MODE PRV_S, 21f
21:
  li t0, VA_INV + 0x7f8
  sd zero, 0(t0)
  j fail
20:
  CHECK_FAULT 31, CAUSE_STORE_PAGE, VA_INV + 0x7f8
  // W without R is reserved
  li gp, 32
  EXPECT_TRAP 22f
  ENTER_MODE PRV_S, 23f
23:
  li t0, VA_WO
  sd zero, 0(t0)
  j fail
22:
  CHECK_FAULT 33, CAUSE_STORE_PAGE, VA_WO
  li gp, 34
  EXPECT_TRAP 24f
  ENTER_MODE PRV_S, 25f
25:
  li t0, VA_WO
  ld a0, 0(t0)
  j fail
24:
  CHECK_FAULT 35, CAUSE_LOAD_PAGE, VA_WO
  // a pointer PTE at the last level
  li gp, 36
  EXPECT_TRAP 26f
  ENTER_MODE PRV_S, 27f
27:
  li t0, VA_PTR
  ld a0, 0(t0)
  j fail
26:
  CHECK_FAULT 37, CAUSE_LOAD_PAGE, VA_PTR
  // reserved PTE bits 63:54 set
  li gp, 38
  EXPECT_TRAP 28f
  ENTER_MODE PRV_S, 29f
29:
  li t0, VA_RSV
  ld a0, 0(t0)
  j fail
28:
  CHECK_FAULT 39, CAUSE_LOAD_PAGE, VA_RSV
  // misaligned megapage and gigapage
  li gp, 40
  EXPECT_TRAP 30f
  ENTER_MODE PRV_S, 31f
31:
  li t0, VA_MEGA_BAD + 0x10
  ld a0, 0(t0)
  j fail
30:
  CHECK_FAULT 41, CAUSE_LOAD_PAGE, VA_MEGA_BAD + 0x10
  li gp, 42
  EXPECT_TRAP 32f
  ENTER_MODE PRV_S, 33f
33:
  li t0, VA_GIGA_BAD + 0x20
  ld a0, 0(t0)
  j fail
32:
  CHECK_FAULT 43, CAUSE_LOAD_PAGE, VA_GIGA_BAD + 0x20
  // non-canonical addresses
  li gp, 44
  EXPECT_TRAP 34f
  ENTER_MODE PRV_S, 35f
35:
  li t0, NONCANON
  ld a0, 0(t0)
  j fail
34:
  CHECK_FAULT 45, CAUSE_LOAD_PAGE, NONCANON
  li gp, 46
  EXPECT_TRAP 36f
  ENTER_MODE PRV_S, 37f
37:
  li t0, NONCANON
  sw zero, 0(t0)
  j fail
36:
  CHECK_FAULT 47, CAUSE_STORE_PAGE, NONCANON
  li gp, 48
  EXPECT_TRAP 38f
  ENTER_MODE PRV_S, 39f
39:
  li t0, 0x8000000000001000             // bit 63 set alone
  ld a0, 0(t0)
  j fail
38:
  CHECK_FAULT 49, CAUSE_LOAD_PAGE, 0x8000000000001000
  // canonical upper-half address with nothing mapped
  li gp, 50
  EXPECT_TRAP 40f
  ENTER_MODE PRV_S, 41f
41:
  li t0, 0xffffffffc0001000
  ld a0, 0(t0)
  j fail
40:
  CHECK_FAULT 51, CAUSE_LOAD_PAGE, 0xffffffffc0001000

  // ---- priorities: translation faults come before access faults and before
  // decoding; access faults through a valid mapping report the virtual address
  li gp, 52
  EXPECT_TRAP 80f
  ENTER_MODE PRV_S, 81f
81:
  li t0, VA_NXRO + 0x10
  sd zero, 0(t0)                        // read-only AND no memory: page fault
  j fail
80:
  CHECK_FAULT 53, CAUSE_STORE_PAGE, VA_NXRO + 0x10
  li gp, 54
  EXPECT_TRAP 82f
  ENTER_MODE PRV_S, 83f
83:
  li t0, VA_NXRO + 0x20
  ld a0, 0(t0)                          // readable, but no memory: access fault
  j fail
82:
  CHECK_FAULT 130, CAUSE_LOAD_ACCESS, VA_NXRO + 0x20
  li gp, 131
  EXPECT_TRAP 84f
  ENTER_MODE PRV_S, 85f
85:
  li t0, VA_NXRW + 0x30
  sd zero, 0(t0)
  j fail
84:
  CHECK_FAULT 132, CAUSE_STORE_ACCESS, VA_NXRW + 0x30
  li gp, 133
  EXPECT_TRAP 86f
  ENTER_MODE PRV_S, 87f
87:
  li t0, VA_RO                          // not executable; its bytes are not code
  jalr ra, 0(t0)
  j fail
86:
  CHECK_FAULT 134, CAUSE_FETCH_PAGE, VA_RO

  // ---- accessed / dirty bits set by hardware ----
  LOAD_PTE a0, l0_a, 7
  andi a0, a0, PTE_A | PTE_D
  CHECK 55, a0, 0
  ENTER_MODE PRV_S, 42f
42:
  li t0, VA_AD1
  ld a0, 0(t0)
  RETURN_TO_M
  LOAD_PTE a0, l0_a, 7
  andi a0, a0, PTE_A | PTE_D
  CHECK 56, a0, PTE_A                   // a load sets A only
  ENTER_MODE PRV_S, 43f
43:
  li t0, VA_AD1
  sd t0, 0(t0)
  RETURN_TO_M
  LOAD_PTE a0, l0_a, 7
  andi a0, a0, PTE_A | PTE_D
  CHECK 57, a0, PTE_A | PTE_D           // a store sets D
  ENTER_MODE PRV_S, 44f
44:
  li t0, VA_AD2
  sw zero, 4(t0)
  RETURN_TO_M
  LOAD_PTE a0, l0_a, 8
  andi a0, a0, PTE_A | PTE_D
  CHECK 58, a0, PTE_A | PTE_D           // a store to a never-accessed page sets both
  LOAD_PTE a1, l0_a, 8                  // the rest of the PTE is untouched
  la t0, tp5
  srli t0, t0, 12
  slli t0, t0, 10
  ori t0, t0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  CHECKEQ 59, a1, t0
  ENTER_MODE PRV_S, 45f
45:
  li a0, 0
  li t0, VA_XA
  jalr ra, 0(t0)
  RETURN_TO_M
  CHECK 60, a0, 0x77
  LOAD_PTE a0, l0_a, 9
  andi a0, a0, PTE_A | PTE_D
  CHECK 61, a0, PTE_A                   // a fetch sets A

  // ---- a 32-bit instruction straddling into an invalid page ----
  li gp, 62
  EXPECT_TRAP 46f
  ENTER_MODE PRV_S, 47f
47:
  li t0, VA_XA + 0xffe
  jalr ra, 0(t0)
  j fail
46:
  CHECK_FAULT 63, CAUSE_FETCH_PAGE, VA_INV2   // tval: the part that faulted
  la t5, trap_rec
  ld t0, TR_EPC(t5)
  CHECK 64, t0, VA_XA + 0xffe                 // epc: the instruction

  // ---- sfence.vma after changing a PTE ----
  ENTER_MODE PRV_S, 48f
48:
  li t0, VA_SF
  ld a0, 0(t0)
  RETURN_TO_M
  CHECK 65, a0, 0x6666
  PTE_SYM l0_a, 12, tp7, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  ENTER_MODE PRV_S, 49f
49:
  sfence.vma                            // S-mode flushes after the change
  li t0, VA_SF
  ld a0, 0(t0)
  RETURN_TO_M
  CHECK 66, a0, 0x7777
  PTE_SYM l0_a, 12, tp6, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  ENTER_MODE PRV_S, 50f
50:
  li t0, VA_SF
  sfence.vma t0, zero                   // flush just this address
  ld a0, 0(t0)
  RETURN_TO_M
  CHECK 67, a0, 0x6666
  // invalidating a PTE + sfence.vma makes the next access fault
  PTE_SYM l0_a, 12, tp6, PTE_R | PTE_W | PTE_A | PTE_D
  sfence.vma                            // M-mode may flush too
  li gp, 68
  EXPECT_TRAP 51f
  ENTER_MODE PRV_S, 52f
52:
  li t0, VA_SF
  ld a0, 0(t0)
  j fail
51:
  CHECK_FAULT 69, CAUSE_LOAD_PAGE, VA_SF

  // ---- U-mode (running from the U alias) ----
  li gp, 70
  EXPECT_TRAP 53f
  ENTER_U 54f
54:
  li t0, VA_URW
  ld a0, 0(t0)
  li a1, 0x4646
  sd a1, 24(t0)
  li t0, VA_UX
  li a2, 0
  jalr ra, 0(t0)                        // U fetch from a U|X page
  mv a3, a0
  ld a0, 0(t0)                          // and U|X|R is readable
u_ecall1:
  ecall                                 // back to M at 53f
  j fail
53:
  CHECK_TRAP 71, CAUSE_ECALL_U, u_ecall1 - UALIAS
  CHECK 72, a3, 0x77
  la t0, tp3
  ld a0, 24(t0)
  CHECK 73, a0, 0x4646
  li gp, 74
  EXPECT_TRAP 55f
  ENTER_U 56f
56:
  li t0, VA_RW                          // S page from U
  ld a0, 0(t0)
  j fail
55:
  CHECK_FAULT 75, CAUSE_LOAD_PAGE, VA_RW
  li gp, 76
  EXPECT_TRAP 57f
  ENTER_U 58f
58:
  li t0, VA_URO
  sd zero, 0(t0)                        // read-only U page
  j fail
57:
  CHECK_FAULT 77, CAUSE_STORE_PAGE, VA_URO
  li gp, 78
  EXPECT_TRAP 59f
  ENTER_U 60f
60:
  li t0, VA_XO                          // S-only executable page
  jalr ra, 0(t0)
  j fail
59:
  CHECK_FAULT 79, CAUSE_FETCH_PAGE, VA_XO
  // SUM does not open S pages to U
  SET_MSTATUS MSTATUS_SUM
  li gp, 80
  EXPECT_TRAP 61f
  ENTER_U 62f
62:
  li t0, VA_RW
  ld a0, 0(t0)
  j fail
61:
  CHECK_FAULT 81, CAUSE_LOAD_PAGE, VA_RW
  CLR_MSTATUS MSTATUS_SUM

  // ---- MPRV: M-mode loads/stores translated with the privilege in MPP ----
  CLR_MSTATUS MSTATUS_MPP
  SET_MSTATUS MSTATUS_MPP_S | MSTATUS_MPRV
  li t0, VA_RW
  ld a0, 0(t0)                          // translated as S
  CLR_MSTATUS MSTATUS_MPRV
  CHECK 85, a0, 0x1111
  SET_MSTATUS MSTATUS_MPRV
  li t0, VA_RW
  li a1, 0x1234
  sd a1, 16(t0)
  CLR_MSTATUS MSTATUS_MPRV
  la t0, tp0
  ld a0, 16(t0)
  CHECK 86, a0, 0x1234
  // MPP = U: the S page faults (taken from M: mepc is this M code)
  CLR_MSTATUS MSTATUS_MPP
  li gp, 87
  EXPECT_TRAP 63f
  SET_MSTATUS MSTATUS_MPRV
  li t0, VA_RW
mprv_ld:
  ld a0, 0(t0)
  CLR_MSTATUS MSTATUS_MPRV
  j fail
63:
  CLR_MSTATUS MSTATUS_MPRV
  CHECK_TRAP 88, CAUSE_LOAD_PAGE, mprv_ld
  CHECK_TVAL 89, VA_RW
  // MPP = U: the U page is fine
  CLR_MSTATUS MSTATUS_MPP
  SET_MSTATUS MSTATUS_MPRV
  li t0, VA_URW
  ld a0, 0(t0)
  CLR_MSTATUS MSTATUS_MPRV
  CHECK 90, a0, 0x4444
  // MPP = S with SUM = 0: U page faults; SUM = 1: allowed
  SET_MSTATUS MSTATUS_MPP_S
  li gp, 91
  EXPECT_TRAP 64f
  SET_MSTATUS MSTATUS_MPRV
  li t0, VA_URW
mprv_sum:
  ld a0, 0(t0)
  CLR_MSTATUS MSTATUS_MPRV
  j fail
64:
  CLR_MSTATUS MSTATUS_MPRV
  CHECK_TRAP 92, CAUSE_LOAD_PAGE, mprv_sum
  CLR_MSTATUS MSTATUS_MPP
  SET_MSTATUS MSTATUS_MPP_S | MSTATUS_SUM | MSTATUS_MPRV
  li t0, VA_URW
  ld a0, 0(t0)
  CLR_MSTATUS MSTATUS_MPRV | MSTATUS_SUM
  CHECK 93, a0, 0x4444
  // MPP = M: no translation (physical address of tp0)
  SET_MSTATUS MSTATUS_MPP_M | MSTATUS_MPRV
  la t0, tp0
  ld a0, 0(t0)
  CLR_MSTATUS MSTATUS_MPRV
  CHECK 94, a0, 0x1111

  // ---- page faults delegated to S: scause / stval / sepc ----
  la t0, s_handler
  csrw stvec, t0
  li t0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
  csrw medeleg, t0
  la t0, s_rec
  la t1, 65f
  sd t1, 24(t0)
  li gp, 99
  ENTER_MODE PRV_S, s_ld_pre
s_ld_pre:
  li t0, VA_INV + 0x40
s_ld:
  ld a0, 0(t0)
  j fail
65:                                     // S-mode
  la t0, s_rec
  la t1, 66f
  sd t1, 24(t0)
s_st:
  li t0, VA_RO + 0x48
  sd a0, 0(t0)
  j fail
66:
  la t0, s_rec
  la t1, 67f
  sd t1, 24(t0)
  li t0, VA_RW
  jalr ra, 0(t0)
  j fail
67:
  RETURN_TO_M
  csrw medeleg, zero
  la s0, s_rec
  ld a0, 32(s0)
  CHECK 100, a0, CAUSE_LOAD_PAGE
  ld a0, 40(s0)
  CHECK 101, a0, VA_INV + 0x40
  ld a0, 48(s0)
  la t0, s_ld
  CHECKEQ 102, a0, t0
  ld a0, 56(s0)
  CHECK 103, a0, CAUSE_STORE_PAGE
  ld a0, 64(s0)
  CHECK 104, a0, VA_RO + 0x48
  ld a0, 80(s0)
  CHECK 105, a0, CAUSE_FETCH_PAGE
  ld a0, 88(s0)
  CHECK 106, a0, VA_RW
  ld a0, 96(s0)
  CHECK 107, a0, VA_RW
  ld a0, 8(s0)
  CHECK 108, a0, 3                      // three S traps

  csrw satp, zero
  sfence.vma
  TEST_END

// S-mode handler: appends (scause, stval, sepc) to s_rec, resumes in S at
// s_rec.resume (physical == virtual for this code)
  .align 2
s_handler:
  la t5, s_rec
  ld t6, 8(t5)
  addi t6, t6, 1
  sd t6, 8(t5)
  addi t6, t6, -1
  slli t5, t6, 4
  slli t6, t6, 3
  add t6, t6, t5                        // 24 * index
  la t5, s_rec + 32
  add t5, t5, t6
  csrr t6, scause
  sd t6, 0(t5)
  csrr t6, stval
  sd t6, 8(t5)
  csrr t6, sepc
  sd t6, 16(t5)
  la t5, s_rec
  ld t6, 24(t5)
  beqz t6, 1f
  sd zero, 24(t5)
  csrw sepc, t6
  li t6, MSTATUS_SPP
  csrs sstatus, t6
  sret
1:
  j fail

  .data
  .align 4
s_rec:
  .dword 0, 0, 0, 0          // -, count, -, resume
  .dword 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

// an executable page: "li a0, 0x77; ret" at the start, and a 32-bit
// instruction at offset 0xffe that straddles into the next page
  .text
  .balign 4096
xpage:
  .option push
  .option norvc
  li a0, 0x77
  ret
  .skip 0xffe - 8
  addi a0, a0, 1                        // bytes 0xffe..0x1001
  .option pop
xpage_end:

  .bss
  .balign 4096
pt_start:
root: .skip 4096
l2:   .skip 4096
l1_a: .skip 4096
l0_a: .skip 4096
pt_end:
tp0: .skip 4096
tp1: .skip 4096
tp2: .skip 4096
tp3: .skip 4096
tp4: .skip 4096
tp5: .skip 4096
tp6: .skip 4096
tp7: .skip 4096
  .balign 0x200000
megaphys: .skip 0x200000
