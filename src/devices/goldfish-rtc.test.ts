import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue } from '../hart/memory.js';
import { DeviceStateError } from './device-state.js';
import {
  GoldfishRtc,
  RTC_ALARM_HIGH,
  RTC_ALARM_LOW,
  RTC_ALARM_STATUS,
  RTC_CLEAR_ALARM,
  RTC_CLEAR_INTERRUPT,
  RTC_IRQ_ENABLED,
  RTC_TIME_HIGH,
  RTC_TIME_LOW,
} from './goldfish-rtc.js';

function setup(startMs = 1_700_000_000_000): { rtc: GoldfishRtc; clock: { ms: number }; line: boolean[] } {
  const clock = { ms: startMs };
  const line: boolean[] = [];
  const rtc = new GoldfishRtc(() => clock.ms, (l) => line.push(l));
  return { rtc, clock, line };
}

const v = new MmioValue();
function rd(rtc: GoldfishRtc, offset: number): number {
  rtc.read(offset, 4, v);
  return v.lo >>> 0;
}
function wr(rtc: GoldfishRtc, offset: number, value: number): void {
  rtc.write(offset, 4, value | 0, 0);
}
/** The guest driver's read: TIME_LOW, then TIME_HIGH. */
function readTime(rtc: GoldfishRtc): bigint {
  const lo = rd(rtc, RTC_TIME_LOW);
  const hi = rd(rtc, RTC_TIME_HIGH);
  return (BigInt(hi) << 32n) | BigInt(lo);
}
function setTime(rtc: GoldfishRtc, ns: bigint): void {
  wr(rtc, RTC_TIME_HIGH, Number(ns >> 32n));
  wr(rtc, RTC_TIME_LOW, Number(ns & 0xffff_ffffn));
}
function setAlarm(rtc: GoldfishRtc, ns: bigint): void {
  wr(rtc, RTC_ALARM_HIGH, Number(ns >> 32n));
  wr(rtc, RTC_ALARM_LOW, Number(ns & 0xffff_ffffn));
}

test('time is the wall clock in ns; TIME_LOW latches TIME_HIGH', () => {
  const { rtc, clock } = setup();
  assert.equal(readTime(rtc), 1_700_000_000_000n * 1_000_000n);
  clock.ms += 1.5;
  assert.equal(readTime(rtc), 1_700_000_000_001_500n * 1000n);
  // TIME_HIGH keeps its latched value until TIME_LOW is read again.
  const latched = rd(rtc, RTC_TIME_HIGH);
  clock.ms += 10 * 365 * 86400 * 1000; // ten years: the high half moves
  assert.equal(rd(rtc, RTC_TIME_HIGH), latched);
  rd(rtc, RTC_TIME_LOW);
  assert.notEqual(rd(rtc, RTC_TIME_HIGH), latched);
  // Bad accesses.
  rtc.read(RTC_TIME_LOW, 8, v);
  assert.equal(v.lo, 0);
  rtc.read(RTC_TIME_LOW + 1, 4, v);
  assert.equal(v.lo, 0);
  assert.equal(rd(rtc, 0x20), 0);
  wr(rtc, 0x800, 5);
});

test('writing the time sets an offset that follows the clock', () => {
  const { rtc, clock } = setup();
  setTime(rtc, 0x1234_5678_9abc_def0n);
  assert.equal(readTime(rtc), 0x1234_5678_9abc_def0n);
  clock.ms += 2;
  assert.equal(readTime(rtc), 0x1234_5678_9abc_def0n + 2_000_000n);
  setTime(rtc, 5n); // into the past
  clock.ms += 1;
  assert.equal(readTime(rtc), 1_000_005n);
  assert.equal(rtc.nowNs(), 1_000_005n);
});

test('alarm: fires at its time, interrupt gated by IRQ_ENABLED, cleared by CLEAR_INTERRUPT', () => {
  const { rtc, clock, line } = setup(1000);
  const now = readTime(rtc);
  assert.equal(rtc.nextAlarmMs(), Infinity);
  wr(rtc, RTC_IRQ_ENABLED, 1);
  setAlarm(rtc, now + 5_500_000n); // 5.5 ms
  assert.equal(rd(rtc, RTC_ALARM_STATUS), 1);
  assert.equal(rd(rtc, RTC_ALARM_LOW), Number((now + 5_500_000n) & 0xffff_ffffn));
  assert.equal(rtc.nextAlarmMs(), 6);
  clock.ms += 5;
  rtc.update();
  assert.deepEqual(line, []);
  assert.equal(rtc.nextAlarmMs(), 1);
  clock.ms += 1;
  assert.equal(rtc.nextAlarmMs(), 0);
  rtc.update();
  assert.deepEqual(line, [true]);
  assert.equal(rd(rtc, RTC_ALARM_STATUS), 0);
  assert.equal(rtc.nextAlarmMs(), Infinity);
  wr(rtc, RTC_IRQ_ENABLED, 0);
  assert.deepEqual(line, [true, false]);
  wr(rtc, RTC_IRQ_ENABLED, 1); // still pending
  assert.deepEqual(line, [true, false, true]);
  wr(rtc, RTC_CLEAR_INTERRUPT, 1);
  assert.deepEqual(line, [true, false, true, false]);
  assert.equal(rd(rtc, RTC_IRQ_ENABLED), 1);
});

test('alarm in the past fires at once; CLEAR_ALARM disarms', () => {
  const { rtc, clock, line } = setup(1000);
  wr(rtc, RTC_IRQ_ENABLED, 1);
  setAlarm(rtc, 1n);
  assert.deepEqual(line, [true]);
  wr(rtc, RTC_CLEAR_INTERRUPT, 1);
  setAlarm(rtc, readTime(rtc) + 1_000_000n);
  wr(rtc, RTC_CLEAR_ALARM, 1);
  assert.equal(rd(rtc, RTC_ALARM_STATUS), 0);
  clock.ms += 10;
  rtc.update();
  assert.deepEqual(line, [true, false]);
});

test('a broken wall clock does not throw', () => {
  const { rtc, clock } = setup();
  clock.ms = NaN;
  assert.equal(readTime(rtc), 0n);
  clock.ms = -5;
  assert.equal(readTime(rtc), 0n);
  clock.ms = Infinity;
  rtc.update();
  assert.equal(rtc.nextAlarmMs(), Infinity);
});

test('state round-trips: the guest clock setting and an armed alarm survive', () => {
  const a = setup(1000);
  setTime(a.rtc, 1_000_000_000n);
  wr(a.rtc, RTC_IRQ_ENABLED, 1);
  setAlarm(a.rtc, 1_050_000_000n);
  const saved = JSON.parse(JSON.stringify(a.rtc.saveState())) as unknown;

  const b = setup(1000);
  b.rtc.loadState(saved);
  assert.deepEqual(b.rtc.saveState(), a.rtc.saveState());
  assert.equal(readTime(b.rtc), 1_000_000_000n);
  assert.equal(b.rtc.nextAlarmMs(), 50);
  b.clock.ms += 50;
  b.rtc.update();
  assert.deepEqual(b.line, [false, true]); // load re-sends the line's level

  // A pending interrupt is re-sent on load.
  const c = setup(1000);
  c.rtc.loadState(b.rtc.saveState());
  assert.deepEqual(c.line, [true]);

  const d = setup(1000);
  const good = d.rtc.saveState();
  for (const patch of [
    { version: 0 },
    { offsetNs: '-1' },
    { offsetNs: '18446744073709551616' },
    { alarmNs: 5 },
    { timeHigh: 2 ** 32 },
    { alarmArmed: 'yes' },
    { bogus: true },
  ]) {
    assert.throws(() => d.rtc.loadState({ ...(saved as object), ...patch }), DeviceStateError);
    assert.deepEqual(d.rtc.saveState(), good);
  }
});

test('reset clears alarm and interrupt but keeps the clock setting', () => {
  const { rtc, line } = setup(1000);
  setTime(rtc, 5_000_000_000n);
  wr(rtc, RTC_IRQ_ENABLED, 1);
  setAlarm(rtc, 1n);
  assert.deepEqual(line, [true]);
  setAlarm(rtc, 9_000_000_000n);
  rtc.reset();
  assert.deepEqual(line, [true, false]);
  assert.equal(rd(rtc, RTC_ALARM_STATUS), 0);
  assert.equal(rd(rtc, RTC_IRQ_ENABLED), 0);
  assert.equal(readTime(rtc), 5_000_000_000n);
});
