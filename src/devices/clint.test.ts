import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue } from '../hart/index.js';
import { Clint, CLINT_MTIME, CLINT_MTIMECMP, MIP_MSIP_BIT, MIP_MTIP_BIT, type HartInterruptLines } from './clint.js';
import { DeviceStateError } from './device-state.js';

/** A fake hart recording its interrupt lines and every change sent to them. */
class FakeHart implements HartInterruptLines {
  readonly levels = new Map<number, boolean>();
  readonly log: string[] = [];
  setInterruptLevel(bit: number, level: boolean): void {
    this.levels.set(bit, level);
    this.log.push(`${bit}=${level ? 1 : 0}`);
  }
  get msip(): boolean {
    return this.levels.get(MIP_MSIP_BIT) === true;
  }
  get mtip(): boolean {
    return this.levels.get(MIP_MTIP_BIT) === true;
  }
}

function setup(harts = 2, start = 0): { clint: Clint; harts: FakeHart[]; time: { now: number } } {
  const time = { now: start };
  const fakes = Array.from({ length: harts }, () => new FakeHart());
  return { clint: new Clint(fakes, () => time.now), harts: fakes, time };
}

const v = new MmioValue();
function read(clint: Clint, offset: number, size: number): bigint {
  clint.read(offset, size, v);
  const lo = BigInt(v.lo >>> 0);
  return size === 8 ? (BigInt(v.hi >>> 0) << 32n) | lo : lo;
}
function write(clint: Clint, offset: number, size: number, value: bigint): void {
  clint.write(offset, size, Number(value & 0xffff_ffffn), Number((value >> 32n) & 0xffff_ffffn));
}

test('msip drives MSIP per hart; only bit 0 is kept', () => {
  const { clint, harts } = setup(3);
  write(clint, 4, 4, 0xffff_ffffn); // hart 1
  assert.equal(harts[1].msip, true);
  assert.equal(harts[0].levels.has(MIP_MSIP_BIT), false);
  assert.equal(read(clint, 4, 4), 1n);
  write(clint, 4, 4, 2n);
  assert.equal(harts[1].msip, false);
  assert.equal(read(clint, 4, 4), 0n);
  // Registers of absent harts read 0 and ignore writes.
  write(clint, 12, 4, 1n);
  assert.equal(read(clint, 12, 4), 0n);
  // An 8-byte access covers two harts' msip.
  write(clint, 0, 8, 0x1_0000_0001n);
  assert.equal(harts[0].msip && harts[1].msip, true);
  assert.equal(read(clint, 0, 8), 0x1_0000_0001n);
});

test('mtime follows the clock and guest writes set an offset', () => {
  const { clint, time } = setup(1, 1000);
  assert.equal(read(clint, CLINT_MTIME, 8), 1000n);
  time.now = 1500.7; // fractions dropped
  assert.equal(read(clint, CLINT_MTIME, 8), 1500n);
  assert.equal(clint.readMtime(), 1500);
  write(clint, CLINT_MTIME, 8, 0x1234_5678_9abc_def0n);
  assert.equal(read(clint, CLINT_MTIME, 8), 0x1234_5678_9abc_def0n);
  time.now += 10;
  assert.equal(read(clint, CLINT_MTIME, 8), 0x1234_5678_9abc_defan);
  // 4-byte halves.
  assert.equal(read(clint, CLINT_MTIME, 4), 0x9abc_defan);
  assert.equal(read(clint, CLINT_MTIME + 4, 4), 0x1234_5678n);
  write(clint, CLINT_MTIME + 4, 4, 0n);
  assert.equal(read(clint, CLINT_MTIME, 8), 0x9abc_defan);
  write(clint, CLINT_MTIME, 4, 5n);
  assert.equal(read(clint, CLINT_MTIME, 8), 5n);
  // Wrap-around at 2^64 is exact.
  write(clint, CLINT_MTIME, 8, 0xffff_ffff_ffff_fffen);
  time.now += 3;
  assert.equal(read(clint, CLINT_MTIME, 8), 1n);
});

test('mtimecmp resets to never and drives MTIP exactly', () => {
  const { clint, harts, time } = setup(2, 100);
  assert.equal(read(clint, CLINT_MTIMECMP, 8), 0xffff_ffff_ffff_ffffn);
  clint.update();
  assert.equal(harts[0].mtip, false);
  assert.equal(clint.nextDeadline(), Infinity);

  write(clint, CLINT_MTIMECMP + 8, 8, 150n); // hart 1
  assert.equal(harts[1].mtip, false);
  assert.equal(clint.nextDeadline(), 50);
  time.now = 149;
  clint.update();
  assert.equal(harts[1].mtip, false);
  time.now = 150;
  assert.equal(clint.nextDeadline(), 0, 'deadline reached but not yet delivered');
  clint.update();
  assert.equal(harts[1].mtip, true);
  assert.equal(harts[0].levels.has(MIP_MTIP_BIT), false);
  assert.equal(clint.nextDeadline(), Infinity, 'delivered deadlines are not waited for');
  // Writing a later compare value lowers MTIP immediately.
  write(clint, CLINT_MTIMECMP + 8, 8, 1000n);
  assert.equal(harts[1].mtip, false);
  // Writing a past value raises it immediately.
  write(clint, CLINT_MTIMECMP + 8, 4, 10n); // low half: 10
  assert.equal(read(clint, CLINT_MTIMECMP + 8, 8), 10n);
  assert.equal(harts[1].mtip, true);
});

test('compares 64-bit values exactly near 2^64 and across the 32-bit boundary', () => {
  const { clint, harts, time } = setup(1, 0);
  write(clint, CLINT_MTIME, 8, 0xffff_ffff_ffff_fff0n);
  write(clint, CLINT_MTIMECMP, 8, 0xffff_ffff_ffff_fffen);
  assert.equal(harts[0].mtip, false);
  assert.equal(clint.nextDeadline(), 14);
  time.now = 13;
  clint.update();
  assert.equal(harts[0].mtip, false);
  time.now = 14;
  clint.update();
  assert.equal(harts[0].mtip, true);

  // Across the 32-bit boundary: mtime = 0xffff_ffff, mtimecmp = 0x1_0000_0000.
  write(clint, CLINT_MTIME, 8, 0xffff_ffffn);
  write(clint, CLINT_MTIMECMP, 8, 0x1_0000_0000n);
  assert.equal(harts[0].mtip, false);
  time.now += 1;
  clint.update();
  assert.equal(harts[0].mtip, true);
  // The usual "write high half to all-ones first" sequence never glitches to a past value.
  write(clint, CLINT_MTIMECMP + 4, 4, 0xffff_ffffn);
  assert.equal(harts[0].mtip, false);
  write(clint, CLINT_MTIMECMP, 4, 0x2000_0000n);
  write(clint, CLINT_MTIMECMP + 4, 4, 1n);
  assert.equal(read(clint, CLINT_MTIMECMP, 8), 0x1_2000_0000n);
  assert.equal(harts[0].mtip, false);
});

test('MTIP changes are sent only when the level changes', () => {
  const { clint, harts, time } = setup(1, 0);
  write(clint, CLINT_MTIMECMP, 8, 10n);
  time.now = 20;
  clint.update();
  clint.update();
  clint.update();
  assert.deepEqual(harts[0].log, ['7=1']);
});

test('ignores 1- and 2-byte, misaligned and unmapped accesses', () => {
  const { clint, harts } = setup(1, 0);
  write(clint, 0, 1, 1n);
  write(clint, 0, 2, 1n);
  write(clint, 2, 4, 1n);
  assert.equal(harts[0].log.length, 0);
  assert.equal(read(clint, 0, 1), 0n);
  assert.equal(read(clint, 0x8000, 4), 0n);
  assert.equal(read(clint, CLINT_MTIMECMP + 4, 8), 0n); // misaligned 8-byte
  write(clint, 0xfff0, 8, 1n);
  assert.equal(read(clint, 0xfff0, 8), 0n);
});

test('state round-trip keeps registers, continues mtime and re-sends lines', () => {
  const a = setup(2, 5000);
  write(a.clint, 4, 4, 1n);
  write(a.clint, CLINT_MTIMECMP, 8, 0xffff_ffff_0000_0001n);
  write(a.clint, CLINT_MTIMECMP + 8, 8, 4000n);
  a.clint.update();
  const state = a.clint.saveState();
  assert.deepEqual(state, {
    version: 1,
    harts: 2,
    msip: [0, 1],
    mtimecmp: ['18446744069414584321', '4000'],
    mtime: '5000',
  });
  const json = JSON.parse(JSON.stringify(state)) as unknown;

  const b = setup(2, 123_456); // another host clock
  b.clint.loadState(json);
  assert.equal(read(b.clint, CLINT_MTIME, 8), 5000n, 'mtime continues from the saved value');
  b.time.now += 7;
  assert.equal(read(b.clint, CLINT_MTIME, 8), 5007n);
  assert.equal(read(b.clint, CLINT_MTIMECMP, 8), 0xffff_ffff_0000_0001n);
  assert.equal(b.harts[1].msip, true);
  assert.equal(b.harts[1].mtip, true);
  assert.equal(b.harts[0].msip, false);
  assert.equal(b.harts[0].mtip, false);
  assert.deepEqual(b.clint.saveState(), { ...state, mtime: '5007' });
});

test('loadState rejects invalid state without changing anything', () => {
  const { clint } = setup(2, 0);
  write(clint, CLINT_MTIMECMP, 8, 77n);
  const good = clint.saveState();
  const bad: unknown[] = [
    null,
    42,
    [],
    { ...good, version: 2 },
    { ...good, harts: 3 },
    { ...good, msip: [0] },
    { ...good, msip: [0, 2] },
    { ...good, mtimecmp: ['1'] },
    { ...good, mtimecmp: ['1', '18446744073709551616'] },
    { ...good, mtimecmp: ['1', '-1'] },
    { ...good, mtimecmp: ['1', 5] },
    { ...good, mtimecmp: ['01', '1'] },
    { ...good, mtime: '1e3' },
    { ...good, extra: true },
  ];
  for (const s of bad) {
    assert.throws(() => clint.loadState(s), DeviceStateError, JSON.stringify(s));
  }
  assert.equal(read(clint, CLINT_MTIMECMP, 8), 77n);
});
