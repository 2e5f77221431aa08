import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue } from '../hart/memory.js';
import type { HartInterruptLines } from './clint.js';
import { DeviceStateError } from './device-state.js';
import {
  MIP_MEIP_BIT,
  MIP_SEIP_BIT,
  Plic,
  PLIC_CONTEXT,
  PLIC_CONTEXT_STRIDE,
  PLIC_ENABLE,
  PLIC_ENABLE_STRIDE,
  PLIC_PENDING,
} from './plic.js';

class FakeHart implements HartInterruptLines {
  readonly levels = new Map<number, boolean>();
  sends = 0;
  setInterruptLevel(bit: number, level: boolean): void {
    this.levels.set(bit, level);
    this.sends++;
  }
  get meip(): boolean {
    return this.levels.get(MIP_MEIP_BIT) === true;
  }
  get seip(): boolean {
    return this.levels.get(MIP_SEIP_BIT) === true;
  }
}

function setup(harts = 2, ndev?: number): { plic: Plic; harts: FakeHart[] } {
  const fakes = Array.from({ length: harts }, () => new FakeHart());
  return { plic: new Plic(fakes, ndev), harts: fakes };
}

const v = new MmioValue();
function rd(plic: Plic, offset: number, size = 4): number {
  plic.read(offset, size, v);
  return v.lo >>> 0;
}
function wr(plic: Plic, offset: number, value: number, size = 4): void {
  plic.write(offset, size, value | 0, 0);
}
const prio = (s: number): number => 4 * s;
const enable = (ctx: number, word = 0): number => PLIC_ENABLE + PLIC_ENABLE_STRIDE * ctx + 4 * word;
const threshold = (ctx: number): number => PLIC_CONTEXT + PLIC_CONTEXT_STRIDE * ctx;
const claim = (ctx: number): number => PLIC_CONTEXT + PLIC_CONTEXT_STRIDE * ctx + 4;

test('priority registers are 3 bits; source 0 and absent sources read 0', () => {
  const { plic } = setup();
  wr(plic, prio(5), 0xffff_ffff);
  assert.equal(rd(plic, prio(5)), 7);
  wr(plic, prio(5), 3);
  assert.equal(rd(plic, prio(5)), 3);
  wr(plic, prio(0), 7);
  assert.equal(rd(plic, prio(0)), 0);
  wr(plic, prio(97), 7);
  assert.equal(rd(plic, prio(97)), 0);
  wr(plic, prio(96), 7);
  assert.equal(rd(plic, prio(96)), 7);
  // Non-32-bit accesses are ignored.
  assert.equal(rd(plic, prio(5), 8), 0);
  assert.equal(rd(plic, prio(5) + 1, 1), 0);
  wr(plic, prio(6), 5, 1);
  assert.equal(rd(plic, prio(6)), 0);
});

test('a pending, enabled source above threshold raises MEIP / SEIP of its context', () => {
  const { plic, harts } = setup(2);
  wr(plic, prio(10), 1);
  plic.setIrq(10, true);
  assert.equal(rd(plic, PLIC_PENDING), 1 << 10);
  assert.equal(harts[0].meip, false); // not enabled anywhere
  wr(plic, enable(1), 1 << 10); // hart 0 S-mode
  assert.equal(harts[0].seip, true);
  assert.equal(harts[0].meip, false);
  assert.equal(harts[1].seip, false);
  wr(plic, threshold(1), 1); // priority must exceed the threshold
  assert.equal(harts[0].seip, false);
  wr(plic, threshold(1), 0);
  assert.equal(harts[0].seip, true);
  wr(plic, enable(2), 1 << 10); // hart 1 M-mode too
  assert.equal(harts[1].meip, true);
  wr(plic, prio(10), 0); // priority 0 never interrupts
  assert.equal(harts[0].seip, false);
  assert.equal(harts[1].meip, false);
  // Source 0's enable bit does not stick.
  wr(plic, enable(0), 0xffff_ffff);
  assert.equal(rd(plic, enable(0)), 0xffff_fffe);
  wr(plic, enable(0, 3), 0xffff_ffff);
  assert.equal(rd(plic, enable(0, 3)), 1); // only source 96 exists in word 3
});

test('claim picks the highest priority, ties to the lowest ID, and clears pending', () => {
  const { plic, harts } = setup(1);
  for (const s of [3, 7, 40]) {
    wr(plic, prio(s), s === 40 ? 5 : 2);
    plic.setIrq(s, true);
  }
  wr(plic, enable(1), (1 << 3) | (1 << 7));
  wr(plic, enable(1, 1), 1 << 8); // source 40
  assert.equal(harts[0].seip, true);
  assert.equal(rd(plic, claim(1)), 40);
  assert.equal(rd(plic, PLIC_PENDING + 4), 0);
  assert.equal(rd(plic, claim(1)), 3); // tie between 3 and 7 at priority 2
  assert.equal(rd(plic, claim(1)), 7);
  assert.equal(harts[0].seip, false);
  assert.equal(rd(plic, claim(1)), 0); // nothing left
  // Claims respect the threshold.
  wr(plic, threshold(1), 5);
  plic.setIrq(40, false);
  wr(plic, claim(1), 40); // complete
  plic.setIrq(40, true);
  assert.equal(rd(plic, claim(1)), 0);
  assert.equal(rd(plic, PLIC_PENDING + 4), 1 << 8);
});

test('complete reopens the gateway: a still-asserted level source is pending again', () => {
  const { plic, harts } = setup(1);
  wr(plic, prio(10), 1);
  wr(plic, enable(0), 1 << 10);
  plic.setIrq(10, true);
  assert.equal(harts[0].meip, true);
  assert.equal(rd(plic, claim(0)), 10);
  assert.equal(harts[0].meip, false);
  // While in service, the line's changes are not forwarded.
  plic.setIrq(10, false);
  plic.setIrq(10, true);
  assert.equal(rd(plic, PLIC_PENDING), 0);
  assert.equal(harts[0].meip, false);
  assert.equal(rd(plic, claim(0)), 0);
  // Completion while the line is high: pending again.
  wr(plic, claim(0), 10);
  assert.equal(rd(plic, PLIC_PENDING), 1 << 10);
  assert.equal(harts[0].meip, true);
  assert.equal(rd(plic, claim(0)), 10);
  // Completion with the line low: nothing pending.
  plic.setIrq(10, false);
  wr(plic, claim(0), 10);
  assert.equal(rd(plic, PLIC_PENDING), 0);
  assert.equal(harts[0].meip, false);
  // A request withdrawn before the claim (QEMU's behaviour).
  plic.setIrq(10, true);
  assert.equal(harts[0].meip, true);
  plic.setIrq(10, false);
  assert.equal(harts[0].meip, false);
  assert.equal(rd(plic, claim(0)), 0);
});

test('completion of a source not enabled for the context is ignored', () => {
  const { plic } = setup(1);
  wr(plic, prio(4), 1);
  wr(plic, enable(1), 1 << 4);
  plic.setIrq(4, true);
  assert.equal(rd(plic, claim(1)), 4);
  wr(plic, claim(0), 4); // M context: source 4 not enabled there
  assert.equal(rd(plic, PLIC_PENDING), 0); // still in service
  wr(plic, enable(1), 0);
  wr(plic, claim(1), 4); // disabled now: ignored too
  assert.equal(rd(plic, PLIC_PENDING), 0);
  wr(plic, enable(1), 1 << 4);
  wr(plic, claim(1), 4);
  assert.equal(rd(plic, PLIC_PENDING), 1 << 4);
  // Garbage completions are harmless.
  wr(plic, claim(1), 0);
  wr(plic, claim(1), 1000);
  wr(plic, claim(1), 0xffff_ffff);
  // Absent contexts and sources.
  assert.equal(rd(plic, claim(2)), 0);
  wr(plic, threshold(5), 3);
  assert.equal(rd(plic, threshold(5)), 0);
  plic.setIrq(0, true);
  plic.setIrq(97, true);
  plic.setIrq(-1, true);
  plic.setIrq(NaN, true);
  assert.equal(rd(plic, PLIC_PENDING), 1 << 4);
});

test('lines are only re-sent when they change', () => {
  const { plic, harts } = setup(1);
  wr(plic, prio(1), 1);
  wr(plic, prio(2), 1);
  wr(plic, enable(0), 6);
  const before = harts[0].sends;
  plic.setIrq(1, true);
  plic.setIrq(2, true);
  plic.setIrq(2, true);
  assert.equal(harts[0].sends, before + 1);
});

test('state round-trips and restores the output lines', () => {
  const a = setup(2);
  wr(a.plic, prio(10), 3);
  wr(a.plic, prio(96), 7);
  wr(a.plic, enable(3), 1 << 10);
  wr(a.plic, enable(0, 3), 1);
  wr(a.plic, threshold(2), 2);
  a.plic.setIrq(10, true);
  a.plic.setIrq(96, true);
  assert.equal(rd(a.plic, claim(0)), 96); // in service
  const saved = JSON.parse(JSON.stringify(a.plic.saveState())) as unknown;

  const b = setup(2);
  b.plic.loadState(saved);
  assert.deepEqual(b.plic.saveState(), a.plic.saveState());
  assert.equal(b.harts[1].seip, true);
  assert.equal(b.harts[0].meip, false);
  assert.equal(rd(b.plic, claim(3)), 10);
  plic96Complete(b.plic);
  assert.equal(b.harts[0].meip, true);

  // Invalid state is refused without changing anything.
  const c = setup(2);
  const good = c.plic.saveState();
  const bad = (patch: Record<string, unknown>): void => {
    assert.throws(() => c.plic.loadState({ ...(saved as object), ...patch }), DeviceStateError);
    assert.deepEqual(c.plic.saveState(), good);
  };
  bad({ version: 2 });
  bad({ ndev: 95 });
  bad({ contexts: 2 });
  bad({ priority: new Array(97).fill(8) });
  bad({ priority: [1, ...new Array(96).fill(0)] });
  bad({ pending: [1, 0, 0, 0] }); // source 0
  bad({ level: [0, 0, 0, 2] }); // source 97
  bad({ enable: [0] });
  bad({ threshold: [0, 0, 0, 'x'] });
  bad({ extra: 1 });
  assert.throws(() => c.plic.loadState(null), DeviceStateError);
  assert.throws(() => setup(1).plic.loadState(saved), DeviceStateError);
});

function plic96Complete(plic: Plic): void {
  wr(plic, claim(0), 96);
}

test('reset clears the registers and lowers every line; asserted inputs stay pending', () => {
  const { plic, harts } = setup(1);
  wr(plic, prio(3), 2);
  wr(plic, enable(0), 1 << 3);
  wr(plic, threshold(1), 4);
  plic.setIrq(3, true);
  assert.equal(harts[0].meip, true);
  assert.equal(rd(plic, claim(0)), 3);
  plic.reset();
  assert.equal(harts[0].meip, false);
  assert.equal(harts[0].seip, false);
  assert.equal(rd(plic, prio(3)), 0);
  assert.equal(rd(plic, enable(0)), 0);
  assert.equal(rd(plic, threshold(1)), 0);
  assert.equal(rd(plic, PLIC_PENDING), 1 << 3); // the line is still high, the gateway open
  wr(plic, prio(3), 1);
  wr(plic, enable(0), 1 << 3);
  assert.equal(harts[0].meip, true);
});
