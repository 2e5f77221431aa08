/**
 * Hart unit tests for the parts the ISA conformance programs cannot see: decoded-code
 * invalidation, instructions straddling pages, state save/restore, dirty logging, the host API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cause, ExitReason, Hart, HartStateError, PhysicalMemory } from './index.js';

const RAM = 0x8000_0000;

// A few RV64 encodings (unprivileged spec, chapter 24 formats).
const addi = (rd: number, rs1: number, imm: number): number => ((imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
const sw = (rs2: number, rs1: number, imm: number): number =>
  (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | ((imm & 31) << 7) | 0x23;
const jal = (rd: number, off: number): number =>
  (((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) | (((off >> 12) & 0xff) << 12) | (rd << 7) | 0x6f;
const ECALL = 0x00000073;

function machine(words: number[], at = RAM): { mem: PhysicalMemory; hart: Hart } {
  const mem = new PhysicalMemory();
  mem.addRam(RAM, 1 << 20);
  const bytes = new Uint8Array(words.length * 4);
  const dv = new DataView(bytes.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  mem.writeBytes(at, bytes);
  const hart = new Hart(mem, { hartId: 0 });
  hart.setPc(BigInt(at));
  hart.interceptExceptions = 1 << Cause.EcallFromM;
  return { mem, hart };
}

function runToEcall(hart: Hart, budget = 10_000): void {
  const r = hart.run(budget);
  assert.equal(r, ExitReason.Exception, 'program should end at its ecall');
  assert.equal(hart.exitCause, Cause.EcallFromM);
}

test('a store into already-decoded code takes effect on the next execution', () => {
  // The loop body at `target` is executed once (decoded), then overwritten with `addi a0, a0, 100`.
  const newInsn = addi(10, 10, 100);
  const code: number[] = [];
  code[0] = addi(10, 0, 0); // a0 = 0
  code[1] = addi(12, 0, 2); // a2 = 2
  // loop (index 2): jal ra, body; then patch body; decrement; branch
  code[2] = jal(1, (16 - 2) * 4); // call body at index 16
  code[3] = sw(13, 11, 0); // *(a1) = a3  (patch the body's first instruction)
  code[4] = addi(12, 12, -1); // a2--
  code[5] = 0; // bne, below
  code[6] = ECALL;
  code[7] = jal(0, (2 - 7) * 4); // back to loop
  for (let i = 8; i < 16; i++) code[i] = addi(0, 0, 0);
  code[16] = addi(10, 10, 1); // body: a0 += 1   (patched to a0 += 100)
  code[17] = 0x00008067; // ret
  // bne a2, x0, +8: B-type imm 8 -> imm[4:1] = 4 at bits 11:8
  code[5] = (0 << 25) | (0 << 20) | (12 << 15) | (1 << 12) | (8 << 7) | 0x63;
  const { hart } = machine(code);
  hart.setX(11, BigInt(RAM + 16 * 4));
  hart.setX(13, BigInt(newInsn >>> 0));
  runToEcall(hart);
  // First call adds 1 (original), second call adds 100 (patched).
  assert.equal(hart.getX(10), 101n);
});

test('a 32-bit instruction that straddles two pages executes', () => {
  const mem = new PhysicalMemory();
  mem.addRam(RAM, 1 << 20);
  // c.nop at page offset 0xffc, then a 32-bit addi at 0xffe whose upper half is on the next page.
  const start = RAM + 0xffc;
  mem.writePhys(start, 2, 0x0001n);
  const insn = addi(10, 0, 42);
  const at = RAM + 0xffe;
  mem.writePhys(at, 2, BigInt(insn & 0xffff));
  mem.writePhys(at + 2, 2, BigInt(insn >>> 16));
  mem.writePhys(at + 4, 4, BigInt(ECALL));
  const hart = new Hart(mem, { hartId: 0 });
  hart.interceptExceptions = 1 << Cause.EcallFromM;
  hart.setPc(BigInt(start));
  runToEcall(hart);
  assert.equal(hart.getX(10), 42n);
  assert.equal(hart.getPc(), BigInt(at + 4));
});

test('save and load state: a restored hart continues to the same result', () => {
  // a0 = sum of 1..200 via a loop, interrupted half-way and restored into a fresh hart.
  const code = [
    addi(10, 0, 0),
    addi(11, 0, 200),
    addi(10, 10, 0), // placeholder replaced by add a0, a0, a1
    addi(11, 11, -1),
    (0x3f << 25) | (0 << 20) | (11 << 15) | (1 << 12) | (0x1d << 7) | 0x63, // bne a1, x0, -8 (to index 2)
    ECALL,
  ];
  code[2] = (0 << 25) | (11 << 20) | (10 << 15) | (0 << 12) | (10 << 7) | 0x33; // add a0, a0, a1
  // bne a1, x0, -8: imm = -8 -> imm[12]=1, imm[10:5]=0x3f, imm[4:1]=0xc, imm[11]=1
  code[4] = (1 << 31) | (0x3f << 25) | (0 << 20) | (11 << 15) | (1 << 12) | (0xc << 8) | (1 << 7) | 0x63;
  const a = machine(code);
  runToEcall(a.hart);
  assert.equal(a.hart.getX(10), 20100n);

  const b = machine(code);
  assert.equal(b.hart.run(301), ExitReason.Budget);
  const saved = JSON.parse(JSON.stringify(b.hart.saveState()));
  const c = machine(code);
  c.mem.writeBytes(RAM, b.mem.readBytes(RAM, 4096));
  c.hart.loadState(saved);
  runToEcall(c.hart);
  assert.equal(c.hart.getX(10), 20100n);
  assert.equal(c.hart.instret, a.hart.instret);
});

test('loadState rejects malformed state without changing the hart', () => {
  const { hart } = machine([ECALL]);
  hart.setX(5, 77n);
  const good = hart.saveState();
  const bad = [
    { ...good, version: 2 },
    { ...good, x: good.x.slice(1) },
    { ...good, pc: '-1' },
    { ...good, priv: 2 },
    { ...good, csrs: { ...good.csrs, csr64: '1,2,3' } },
    { ...good, x: good.x.map((v, i) => (i === 3 ? '18446744073709551616' : v)) },
  ];
  for (const s of bad) {
    assert.throws(() => hart.loadState(s as typeof good), HartStateError);
  }
  assert.equal(hart.getX(5), 77n);
});

test('dirty log reports written pages once', () => {
  const code = [sw(0, 11, 0), ECALL];
  const { mem, hart } = machine(code);
  const region = mem.ram[0];
  mem.getDirtyLog(region); // clear what loading the program dirtied
  hart.setX(11, BigInt(RAM + 0x5000));
  runToEcall(hart);
  const log = mem.getDirtyLog(region);
  assert.equal(log[5], 1);
  assert.equal(log.reduce((a, b) => a + b, 0), 1);
  assert.equal(mem.getDirtyLog(region).reduce((a, b) => a + b, 0), 0);
});

test('host register access: x0 stays zero, values are unsigned 64-bit', () => {
  const { hart } = machine([ECALL]);
  hart.setX(0, 5n);
  assert.equal(hart.getX(0), 0n);
  hart.setX(7, -1n);
  assert.equal(hart.getX(7), 0xffff_ffff_ffff_ffffn);
  assert.throws(() => hart.getX(32), RangeError);
  assert.throws(() => hart.getCsr(0x7c0), RangeError);
  assert.equal(hart.getCsr(0x301) >> 62n, 2n, 'misa.MXL = 64-bit');
});

test('an instruction fetch from unmapped memory is an access fault with tval = pc', () => {
  const mem = new PhysicalMemory();
  mem.addRam(RAM, 1 << 16);
  const hart = new Hart(mem, { hartId: 0 });
  hart.interceptExceptions = 1 << Cause.InstructionAccessFault;
  hart.setPc(0x4000_0000n);
  assert.equal(hart.run(10), ExitReason.Exception);
  assert.equal(hart.exitCause, Cause.InstructionAccessFault);
  assert.equal(hart.exitTval, 0x4000_0000n);
});

test('csrrs on mip does not latch the external SEIP signal into the software bit', () => {
  // csrrsi x0, mip, 2 (set SSIP) while the PLIC drives SEIP; privileged spec 3.1.9.
  const csrrsiMip = (0x344 << 20) | (2 << 15) | (6 << 12) | (0 << 7) | 0x73;
  const { hart } = machine([csrrsiMip, ECALL]);
  hart.setInterruptLevel(9, true);
  runToEcall(hart);
  hart.setInterruptLevel(9, false);
  const mip = hart.getCsr(0x344);
  assert.equal(mip & (1n << 9n), 0n, 'SEIP must follow the external signal once it drops');
  assert.equal(mip & (1n << 1n), 2n, 'SSIP was set by the csrrs');
});

test('sfence.vma with an address drops that page\'s translation, and a whole superpage\'s', () => {
  // M-mode with MPRV and MPP = S: data accesses go through Sv39. The program loads from a1, remaps
  // its page (with MPRV off), runs sfence.vma a5, and loads again: it must see the new page.
  const CSR_MSTATUS = 0x300;
  const ld = (rd: number, rs1: number): number => (rs1 << 15) | (3 << 12) | (rd << 7) | 0x03;
  const sd = (rs2: number, rs1: number): number => (rs2 << 20) | (rs1 << 15) | (3 << 12) | 0x23;
  const csr = (f3: number, rs1: number): number => (CSR_MSTATUS << 20) | (rs1 << 15) | (f3 << 12) | 0x73;
  const sfence = (rs1: number): number => (0x09 << 25) | (rs1 << 15) | 0x73;
  const program = [ld(10, 11), csr(3, 5), sd(13, 14), csr(2, 5), sfence(15), ld(12, 11), ECALL];
  const root = RAM + 0x10000;
  const l1 = RAM + 0x11000;
  const l0 = RAM + 0x12000;
  const l1b = RAM + 0x13000;
  const pte = (pa: number, flags: number): bigint => (BigInt(pa >>> 12) << 10n) | BigInt(flags);
  const LEAF = 0xc7; // V R W A D
  for (const superpage of [false, true]) {
    const { mem, hart } = machine(program);
    mem.addRam(RAM + (1 << 20), 15 << 20);
    mem.writePhys(root, 8, pte(l1, 1)); // VA 0x0000_0000 (1 GiB)
    mem.writePhys(root + 8, 8, pte(l1b, 1)); // VA 0x4000_0000 (1 GiB)
    mem.writePhys(l1, 8, pte(l0, 1));
    const [oldPa, newPa] = superpage ? [RAM + 0x20_0000, RAM + 0x40_0000] : [RAM + 0x2_0000, RAM + 0x2_1000];
    const va = superpage ? 0x4000_1000 : 0x1000;
    const offset = superpage ? 0x1000 : 0;
    const pteAddr = superpage ? l1b : l0 + 8;
    mem.writePhys(pteAddr, 8, pte(oldPa, LEAF));
    mem.writePhys(oldPa + offset, 8, 0x1111n);
    mem.writePhys(newPa + offset, 8, 0x2222n);
    hart.setCsr(0x180, (8n << 60n) | BigInt(root >>> 12)); // satp: Sv39
    hart.setCsr(CSR_MSTATUS, (1n << 17n) | (1n << 11n)); // MPRV, MPP = S
    hart.setX(5, 1n << 17n);
    hart.setX(11, BigInt(va));
    hart.setX(13, pte(newPa, LEAF));
    hart.setX(14, BigInt(pteAddr));
    // The flush names another 4 KiB page of the same superpage: it must still drop a1's entry.
    hart.setX(15, BigInt(superpage ? 0x4000_0000 : va));
    runToEcall(hart);
    assert.equal(hart.getX(10), 0x1111n, superpage ? 'superpage' : '4 KiB page');
    assert.equal(hart.getX(12), 0x2222n, superpage ? 'superpage' : '4 KiB page');
  }
});
