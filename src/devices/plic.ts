/**
 * The platform-level interrupt controller of QEMU's `virt` board (DT "sifive,plic-1.0.0" /
 * "riscv,plic0" at 0x0C00_0000), after the RISC-V PLIC specification 1.0.0 and the SiFive PLIC
 * memory map. Sources 1..ndev (ndev = 96 on virt, QEMU 7.2's `riscv,ndev`), priorities 0..7
 * (7 levels; 0 = never interrupts), two contexts per hart: context 2h is hart h's M-mode (drives
 * mip.MEIP, bit 11) and 2h+1 its S-mode (drives mip.SEIP, bit 9).
 *
 * Register map (offsets from the region base, 32-bit registers):
 *
 *   offset                       name                 access
 *   0x000000 + 4*s               priority[s]          RW  3 bits (WARL); source 0 reads 0
 *   0x001000 + 4*w               pending[w]           RO  bit b = source 32w+b pending
 *   0x002000 + 0x80*c + 4*w      enable[c][w]         RW  bit b enables source 32w+b for context c
 *   0x200000 + 0x1000*c          threshold[c]         RW  3 bits; only priority > threshold interrupts
 *   0x200004 + 0x1000*c          claim/complete[c]    R: claim, W: complete
 *
 * A context's interrupt line is raised while some source is pending, enabled for it and of
 * priority above its threshold. Claim returns the highest-priority such source (ties go to the
 * lowest ID), or 0, and clears its pending bit; the source is then "in service" and its gateway
 * forwards no new request. Complete (writing the ID back) ends service when the source is enabled
 * for that context (otherwise the write is ignored, as the spec says); a level source that is still
 * asserted becomes pending again at once.
 *
 * Sources are level-triggered (setIrq). A source whose line drops before it is claimed withdraws
 * its request, as QEMU's PLIC does (the spec lets the request stand; guests are tested against
 * QEMU, and dropping it avoids spurious claims).
 *
 * Accesses other than aligned 32-bit ones read 0 and are ignored, as are registers of sources or
 * contexts that do not exist.
 */

import type { MmioHandler, MmioValue } from '../hart/memory.js';
import type { HartInterruptLines } from './clint.js';
import { DeviceStateError, intArrayField, intField, rejectUnknownFields, stateRecord } from './device-state.js';

export const PLIC_SIZE = 0x60_0000;
export const PLIC_PRIORITY = 0x00_0000;
export const PLIC_PENDING = 0x00_1000;
export const PLIC_ENABLE = 0x00_2000;
export const PLIC_ENABLE_STRIDE = 0x80;
export const PLIC_CONTEXT = 0x20_0000;
export const PLIC_CONTEXT_STRIDE = 0x1000;
export const PLIC_CLAIM = 4; // within a context's block
/** Highest priority (3 priority bits: 7 levels above 0). */
export const PLIC_MAX_PRIORITY = 7;
/** Sources 1..96 on the virt board. */
export const PLIC_DEFAULT_NDEV = 96;
/** The PLIC spec's limit: sources 1..1023. */
export const PLIC_MAX_NDEV = 1023;
/** Harts addressable in PLIC_SIZE: (0x60_0000 - 0x20_0000) / 0x1000 / 2. */
export const PLIC_MAX_HARTS = 512;
export const MIP_SEIP_BIT = 9;
export const MIP_MEIP_BIT = 11;

export interface PlicState {
  version: 1;
  ndev: number;
  contexts: number;
  /** priority[s] for s in 0..ndev (priority[0] is always 0). */
  priority: number[];
  /** Bitmaps of sources, one u32 per 32 sources. */
  pending: number[];
  inService: number[];
  level: number[];
  /** enable[c * words + w]. */
  enable: number[];
  threshold: number[];
}

export class Plic implements MmioHandler {
  readonly ndev: number;
  private readonly harts: readonly HartInterruptLines[];
  private readonly contexts: number;
  /** u32 words per source bitmap. */
  private readonly words: number;
  private readonly priority: Uint8Array;
  private readonly pending: Uint32Array;
  private readonly inService: Uint32Array;
  private readonly level: Uint32Array;
  private readonly enable: Uint32Array;
  private readonly threshold: Uint8Array;
  /** The line level last sent for each context. */
  private readonly output: Uint8Array;

  /**
   * @param harts interrupt lines of each hart, by hart index (contexts 2h and 2h+1)
   * @param ndev number of sources (1..ndev); the virt board has 96
   */
  constructor(harts: readonly HartInterruptLines[], ndev = PLIC_DEFAULT_NDEV) {
    if (harts.length < 1 || harts.length > PLIC_MAX_HARTS) {
      throw new RangeError(`the PLIC supports 1..${PLIC_MAX_HARTS} harts, not ${harts.length}`);
    }
    if (!Number.isInteger(ndev) || ndev < 1 || ndev > PLIC_MAX_NDEV) {
      throw new RangeError(`the PLIC supports 1..${PLIC_MAX_NDEV} sources, not ${ndev}`);
    }
    this.harts = harts;
    this.ndev = ndev;
    this.contexts = harts.length * 2;
    this.words = (ndev >>> 5) + 1; // bit 0 of word 0 is source 0, which does not exist
    this.priority = new Uint8Array(ndev + 1);
    this.pending = new Uint32Array(this.words);
    this.inService = new Uint32Array(this.words);
    this.level = new Uint32Array(this.words);
    this.enable = new Uint32Array(this.words * this.contexts);
    this.threshold = new Uint8Array(this.contexts);
    this.output = new Uint8Array(this.contexts);
  }

  /** Drives a source's (level-triggered) line. Sources outside 1..ndev are ignored. */
  setIrq(source: number, level: boolean): void {
    if (!(source >= 1 && source <= this.ndev)) return;
    const w = source >>> 5;
    const bit = 1 << (source & 31);
    if (level) this.level[w] |= bit;
    else this.level[w] &= ~bit;
    if ((this.inService[w] & bit) !== 0) return; // gateway closed until completion
    const was = this.pending[w];
    this.pending[w] = level ? was | bit : was & ~bit;
    if (this.pending[w] !== was) this.updateAll();
  }

  /** Machine reset: priorities, enables, thresholds and claims cleared; input lines kept. */
  reset(): void {
    this.priority.fill(0);
    this.inService.fill(0);
    this.enable.fill(0);
    this.threshold.fill(0);
    this.pending.set(this.level); // every gateway is open again
    for (let c = 0; c < this.contexts; c++) {
      this.output[c] = 0;
      this.harts[c >>> 1].setInterruptLevel((c & 1) === 0 ? MIP_MEIP_BIT : MIP_SEIP_BIT, false);
    }
  }

  // ---- MmioHandler ----

  read(offset: number, size: number, value: MmioValue): void {
    value.hi = 0;
    value.lo = size === 4 && (offset & 3) === 0 ? this.read32(offset) | 0 : 0;
  }

  write(offset: number, size: number, lo: number, _hi: number): void {
    if (size === 4 && (offset & 3) === 0) this.write32(offset, lo >>> 0);
  }

  // ---- state ----

  saveState(): PlicState {
    return {
      version: 1,
      ndev: this.ndev,
      contexts: this.contexts,
      priority: Array.from(this.priority),
      pending: Array.from(this.pending),
      inService: Array.from(this.inService),
      level: Array.from(this.level),
      enable: Array.from(this.enable),
      threshold: Array.from(this.threshold),
    };
  }

  /** Restores saved state (validated first; nothing changes when it is invalid). */
  loadState(state: unknown): void {
    const name = 'PLIC';
    const rec = stateRecord(name, state, 1);
    rejectUnknownFields(name, rec, ['version', 'ndev', 'contexts', 'priority', 'pending', 'inService', 'level', 'enable', 'threshold']);
    const ndev = intField(name, rec, 'ndev', 1, PLIC_MAX_NDEV);
    const contexts = intField(name, rec, 'contexts', 2, PLIC_MAX_HARTS * 2);
    if (ndev !== this.ndev || contexts !== this.contexts) {
      throw new DeviceStateError(name, `saved with ${ndev} sources and ${contexts} contexts, this PLIC has ${this.ndev} and ${this.contexts}`);
    }
    const w = this.words;
    const priority = intArrayField(name, rec, 'priority', 0, PLIC_MAX_PRIORITY, ndev + 1, ndev + 1);
    const pending = intArrayField(name, rec, 'pending', 0, 0xffff_ffff, w, w);
    const inService = intArrayField(name, rec, 'inService', 0, 0xffff_ffff, w, w);
    const level = intArrayField(name, rec, 'level', 0, 0xffff_ffff, w, w);
    const enable = intArrayField(name, rec, 'enable', 0, 0xffff_ffff, w * contexts, w * contexts);
    const threshold = intArrayField(name, rec, 'threshold', 0, PLIC_MAX_PRIORITY, contexts, contexts);
    if (priority[0] !== 0) throw new DeviceStateError(name, 'source 0 has a priority');
    // Bits of sources that do not exist must be clear.
    const valid = new Uint32Array(w);
    for (let s = 1; s <= ndev; s++) valid[s >>> 5] |= 1 << (s & 31);
    const check = (field: string, words: number[]): void => {
      words.forEach((v, i) => {
        if ((v & ~valid[i % w]) !== 0) throw new DeviceStateError(name, `field '${field}' has bits of sources that do not exist`);
      });
    };
    check('pending', pending);
    check('inService', inService);
    check('level', level);
    check('enable', enable);

    this.priority.set(priority);
    this.pending.set(pending);
    this.inService.set(inService);
    this.level.set(level);
    this.enable.set(enable);
    this.threshold.set(threshold);
    // Re-send every context's line.
    for (let c = 0; c < contexts; c++) {
      const on = this.best(c) !== 0;
      this.output[c] = on ? 1 : 0;
      this.harts[c >>> 1].setInterruptLevel((c & 1) === 0 ? MIP_MEIP_BIT : MIP_SEIP_BIT, on);
    }
  }

  // ---- internals ----

  private read32(offset: number): number {
    if (offset < PLIC_PENDING) {
      const s = offset >>> 2;
      return s <= this.ndev ? this.priority[s] : 0;
    }
    if (offset < PLIC_ENABLE) {
      const w = (offset - PLIC_PENDING) >>> 2;
      return w < this.words ? this.pending[w] : 0;
    }
    if (offset < PLIC_CONTEXT) {
      const c = Math.floor((offset - PLIC_ENABLE) / PLIC_ENABLE_STRIDE);
      const w = ((offset - PLIC_ENABLE) % PLIC_ENABLE_STRIDE) >>> 2;
      return c < this.contexts && w < this.words ? this.enable[c * this.words + w] : 0;
    }
    const c = Math.floor((offset - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE);
    if (c >= this.contexts) return 0;
    const reg = (offset - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
    if (reg === 0) return this.threshold[c];
    if (reg === PLIC_CLAIM) return this.claim(c);
    return 0;
  }

  private write32(offset: number, v: number): void {
    if (offset < PLIC_PENDING) {
      const s = offset >>> 2;
      if (s === 0 || s > this.ndev) return;
      this.priority[s] = v & PLIC_MAX_PRIORITY;
      this.updateAll();
      return;
    }
    if (offset < PLIC_ENABLE) return; // pending bits are read-only
    if (offset < PLIC_CONTEXT) {
      const c = Math.floor((offset - PLIC_ENABLE) / PLIC_ENABLE_STRIDE);
      const w = ((offset - PLIC_ENABLE) % PLIC_ENABLE_STRIDE) >>> 2;
      if (c >= this.contexts || w >= this.words) return;
      let mask = 0xffff_ffff;
      if (w === 0) mask &= ~1; // source 0 does not exist
      if (w === this.words - 1) mask = mask & (2 ** ((this.ndev & 31) + 1) - 1);
      this.enable[c * this.words + w] = v & mask;
      this.update(c);
      return;
    }
    const c = Math.floor((offset - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE);
    if (c >= this.contexts) return;
    const reg = (offset - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
    if (reg === 0) {
      this.threshold[c] = v & PLIC_MAX_PRIORITY;
      this.update(c);
    } else if (reg === PLIC_CLAIM) {
      this.complete(c, v);
    }
  }

  /** The highest-priority pending, enabled source above the context's threshold (0 if none). */
  private best(c: number): number {
    let bestSource = 0;
    let bestPriority = this.threshold[c];
    const base = c * this.words;
    for (let w = 0; w < this.words; w++) {
      let bits = this.pending[w] & this.enable[base + w];
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits); // lowest set bit: lower IDs win ties
        bits &= bits - 1;
        const s = (w << 5) | b;
        if (this.priority[s] > bestPriority) {
          bestPriority = this.priority[s];
          bestSource = s;
        }
      }
    }
    return bestSource;
  }

  private claim(c: number): number {
    const s = this.best(c);
    if (s !== 0) {
      const w = s >>> 5;
      const bit = 1 << (s & 31);
      this.pending[w] &= ~bit;
      this.inService[w] |= bit;
      this.updateAll();
    }
    return s;
  }

  private complete(c: number, s: number): void {
    if (s < 1 || s > this.ndev) return;
    const w = s >>> 5;
    const bit = 1 << (s & 31);
    if ((this.enable[c * this.words + w] & bit) === 0) return; // spec: silently ignored
    if ((this.inService[w] & bit) === 0) return;
    this.inService[w] &= ~bit;
    if ((this.level[w] & bit) !== 0) {
      this.pending[w] |= bit;
      this.updateAll();
    }
  }

  private updateAll(): void {
    for (let c = 0; c < this.contexts; c++) this.update(c);
  }

  /** Sends context c's line if it changed. */
  private update(c: number): void {
    const on = this.best(c) !== 0 ? 1 : 0;
    if (on === this.output[c]) return;
    this.output[c] = on;
    this.harts[c >>> 1].setInterruptLevel((c & 1) === 0 ? MIP_MEIP_BIT : MIP_SEIP_BIT, on !== 0);
  }
}
