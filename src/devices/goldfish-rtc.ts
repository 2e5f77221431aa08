/**
 * The Goldfish real-time clock (DT compatible "google,goldfish-rtc"), as on QEMU's `virt` board at
 * 0x0010_1000 with PLIC source 11. Time is a 64-bit count of nanoseconds since the Unix epoch; it
 * follows an injected wall clock plus an offset the guest sets by writing the time.
 *
 * Register map (32-bit registers, offsets from the region base):
 *
 *   offset  name             access
 *   0x00    TIME_LOW         R: low 32 bits of the time now; latches the high 32 bits into TIME_HIGH
 *                            W: sets the time to TIME_HIGH:value
 *   0x04    TIME_HIGH        RW the latched / to-be-written high 32 bits of the time
 *   0x08    ALARM_LOW        R: low half of the alarm; W: arms the alarm at ALARM_HIGH:value
 *   0x0c    ALARM_HIGH       RW high half of the alarm time
 *   0x10    IRQ_ENABLED      RW bit 0: the alarm interrupt reaches the line
 *   0x14    CLEAR_ALARM      W  disarms the alarm
 *   0x18    ALARM_STATUS     R  1 while an alarm is armed
 *   0x1c    CLEAR_INTERRUPT  W  clears the pending alarm interrupt
 *
 * Reading the time is TIME_LOW then TIME_HIGH; setting it is TIME_HIGH then TIME_LOW; setting an
 * alarm is ALARM_HIGH then ALARM_LOW. An alarm at or before the current time fires at once. The
 * line is high while an alarm interrupt is pending and IRQ_ENABLED is set.
 *
 * The device never runs on its own: the machine calls update() between hart slices (and every
 * register access does too) and may sleep nextAlarmMs() when all harts idle. Other sizes than
 * 4 bytes, unaligned accesses and unknown offsets read 0 and are ignored.
 *
 * The RTC is accessed a handful of times per boot, so 64-bit arithmetic uses BigInt.
 */

import type { MmioHandler, MmioValue } from '../hart/memory.js';
import { boolField, intField, parseU64, rejectUnknownFields, stateRecord, u64ToString } from './device-state.js';

export const GOLDFISH_RTC_SIZE = 0x1000;
export const RTC_TIME_LOW = 0x00;
export const RTC_TIME_HIGH = 0x04;
export const RTC_ALARM_LOW = 0x08;
export const RTC_ALARM_HIGH = 0x0c;
export const RTC_IRQ_ENABLED = 0x10;
export const RTC_CLEAR_ALARM = 0x14;
export const RTC_ALARM_STATUS = 0x18;
export const RTC_CLEAR_INTERRUPT = 0x1c;

const U64_MASK = (1n << 64n) - 1n;
const NS_PER_MS = 1_000_000;

export interface GoldfishRtcState {
  version: 1;
  /** Guest time minus host wall time, in ns, mod 2^64: the guest keeps its clock setting. */
  offsetNs: string;
  timeHigh: number;
  alarmHigh: number;
  /** The armed alarm's time in ns. */
  alarmNs: string;
  alarmArmed: boolean;
  irqEnabled: boolean;
  irqPending: boolean;
}

export class GoldfishRtc implements MmioHandler {
  private readonly wallClockMs: () => number;
  private readonly irq: (level: boolean) => void;
  private offsetNs = 0n;
  private timeHigh = 0;
  private alarmHigh = 0;
  private alarmNs = 0n;
  private alarmArmed = false;
  private irqEnabled = false;
  private irqPending = false;
  private lineLevel = false;

  /**
   * @param wallClockMs host wall clock in milliseconds since the epoch (Date.now-like; fractions
   *   count to the microsecond)
   * @param irq the interrupt line (PLIC source 11 on virt)
   */
  constructor(wallClockMs: () => number, irq: (level: boolean) => void) {
    this.wallClockMs = wallClockMs;
    this.irq = irq;
  }

  /** Machine reset: alarm and interrupt cleared; the clock keeps its setting, as a real RTC does. */
  reset(): void {
    this.timeHigh = 0;
    this.alarmHigh = 0;
    this.alarmNs = 0n;
    this.alarmArmed = false;
    this.irqEnabled = false;
    this.irqPending = false;
    this.updateLine();
  }

  /** The guest's current time in ns since the epoch. */
  nowNs(): bigint {
    return (this.hostNs() + this.offsetNs) & U64_MASK;
  }

  /** Fires the alarm when its time has come. Call between hart slices. */
  update(): void {
    if (this.alarmArmed && this.nowNs() >= this.alarmNs) {
      this.alarmArmed = false;
      this.irqPending = true;
    }
    this.updateLine();
  }

  /** Host milliseconds until the armed alarm fires: 0 when due, Infinity when none is armed. */
  nextAlarmMs(): number {
    if (!this.alarmArmed) return Infinity;
    const left = this.alarmNs - this.nowNs();
    if (left <= 0n) return 0;
    return Math.ceil(Number(left) / NS_PER_MS);
  }

  // ---- MmioHandler ----

  read(offset: number, size: number, value: MmioValue): void {
    value.hi = 0;
    value.lo = 0;
    if (size !== 4 || (offset & 3) !== 0) return;
    this.update();
    let r = 0;
    switch (offset) {
      case RTC_TIME_LOW: {
        const now = this.nowNs();
        this.timeHigh = Number(now >> 32n);
        r = Number(now & 0xffff_ffffn);
        break;
      }
      case RTC_TIME_HIGH:
        r = this.timeHigh;
        break;
      case RTC_ALARM_LOW:
        r = Number(this.alarmNs & 0xffff_ffffn);
        break;
      case RTC_ALARM_HIGH:
        r = this.alarmHigh;
        break;
      case RTC_IRQ_ENABLED:
        r = this.irqEnabled ? 1 : 0;
        break;
      case RTC_ALARM_STATUS:
        r = this.alarmArmed ? 1 : 0;
        break;
    }
    value.lo = r | 0;
  }

  write(offset: number, size: number, lo: number, _hi: number): void {
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = lo >>> 0;
    switch (offset) {
      case RTC_TIME_LOW: {
        const target = (BigInt(this.timeHigh) << 32n) | BigInt(v);
        this.offsetNs = (target - this.hostNs()) & U64_MASK;
        break;
      }
      case RTC_TIME_HIGH:
        this.timeHigh = v;
        break;
      case RTC_ALARM_LOW:
        this.alarmNs = (BigInt(this.alarmHigh) << 32n) | BigInt(v);
        this.alarmArmed = true;
        break;
      case RTC_ALARM_HIGH:
        this.alarmHigh = v;
        break;
      case RTC_IRQ_ENABLED:
        this.irqEnabled = (v & 1) !== 0;
        break;
      case RTC_CLEAR_ALARM:
        this.alarmArmed = false;
        break;
      case RTC_CLEAR_INTERRUPT:
        this.irqPending = false;
        break;
      default:
        return;
    }
    this.update();
  }

  // ---- state ----

  saveState(): GoldfishRtcState {
    const off = this.offsetNs;
    const alarm = this.alarmNs;
    return {
      version: 1,
      offsetNs: u64ToString(Number(off & 0xffff_ffffn), Number(off >> 32n)),
      timeHigh: this.timeHigh,
      alarmHigh: this.alarmHigh,
      alarmNs: u64ToString(Number(alarm & 0xffff_ffffn), Number(alarm >> 32n)),
      alarmArmed: this.alarmArmed,
      irqEnabled: this.irqEnabled,
      irqPending: this.irqPending,
    };
  }

  /** Restores saved state (validated first; nothing changes when it is invalid). */
  loadState(state: unknown): void {
    const name = 'goldfish RTC';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, ['version', 'offsetNs', 'timeHigh', 'alarmHigh', 'alarmNs', 'alarmArmed', 'irqEnabled', 'irqPending']);
    const [offLo, offHi] = parseU64(name, 'offsetNs', rec.offsetNs);
    const timeHigh = intField(name, rec, 'timeHigh', 0, 0xffff_ffff);
    const alarmHigh = intField(name, rec, 'alarmHigh', 0, 0xffff_ffff);
    const [alarmLo, alarmHi] = parseU64(name, 'alarmNs', rec.alarmNs);
    const alarmArmed = boolField(name, rec, 'alarmArmed');
    const irqEnabled = boolField(name, rec, 'irqEnabled');
    const irqPending = boolField(name, rec, 'irqPending');

    this.offsetNs = (BigInt(offHi) << 32n) | BigInt(offLo);
    this.timeHigh = timeHigh;
    this.alarmHigh = alarmHigh;
    this.alarmNs = (BigInt(alarmHi) << 32n) | BigInt(alarmLo);
    this.alarmArmed = alarmArmed;
    this.irqEnabled = irqEnabled;
    this.irqPending = irqPending;
    this.lineLevel = !(irqPending && irqEnabled); // force the line to be re-sent
    this.update();
  }

  // ---- internals ----

  /** Host wall time in ns (µs resolution; a broken clock reads as the epoch). */
  private hostNs(): bigint {
    const ms = this.wallClockMs();
    if (!(ms >= 0) || !Number.isFinite(ms)) return 0n;
    return BigInt(Math.floor(ms * 1000)) * 1000n;
  }

  private updateLine(): void {
    const level = this.irqPending && this.irqEnabled;
    if (level === this.lineLevel) return;
    this.lineLevel = level;
    this.irq(level);
  }
}
