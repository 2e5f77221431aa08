// The built-in SBI's hart masks (SBI §3.1: hart_mask, hart_mask_base; base -1 means every hart),
// through handleSbiCall with a hart of its own and a recording host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hart, PhysicalMemory } from '../hart/index.js';
import { EID_IPI, EID_RFENCE, SBI_ERR_INVALID_PARAM, SBI_SUCCESS, handleSbiCall, type SbiHost } from './sbi.js';

function host(ids: number[]): SbiHost & { ipis: number[]; sfences: number[] } {
  const mem = new PhysicalMemory();
  mem.addRam(0x8000_0000, 4096);
  const ipis: number[] = [];
  const sfences: number[] = [];
  return {
    hart: new Hart(mem),
    id: 0,
    ipis,
    sfences,
    setTimer: () => {},
    sendIpi: (id) => {
      if (!ids.includes(id)) return false;
      ipis.push(id);
      return true;
    },
    remoteSfence: (id) => {
      if (!ids.includes(id)) return false;
      sfences.push(id);
      return true;
    },
    hartStart: () => 0,
    hartStop: () => 0,
    hartStatus: () => 0,
    systemEvent: () => {},
    consoleWrite: () => {},
    consoleReadByte: () => -1,
    hartIds: () => ids,
  };
}

function call(h: SbiHost, eid: number, fid: number, mask: bigint, base: bigint): number {
  h.hart.setX(17, BigInt(eid));
  h.hart.setX(16, BigInt(fid));
  h.hart.setX(10, mask);
  h.hart.setX(11, base);
  handleSbiCall(h);
  return Number(BigInt.asIntN(64, h.hart.getX(10)));
}

test('SBI hart masks: bits above the base, base -1 for all, bit 63, and harts that do not exist', () => {
  const ids = [0, 1, 2, 3, 4, 5, 6, 7, 40, 70];
  let h = host(ids);
  assert.equal(call(h, EID_IPI, 0, 0b10101n, 2n), SBI_SUCCESS);
  assert.deepEqual(h.ipis, [2, 4, 6]);

  h = host(ids);
  assert.equal(call(h, EID_IPI, 0, 0n, BigInt.asUintN(64, -1n)), SBI_SUCCESS);
  assert.deepEqual(h.ipis, ids);

  // Bits in the high word of the mask.
  h = host(ids);
  assert.equal(call(h, EID_RFENCE, 1, (1n << 38n) | 1n, 2n), SBI_SUCCESS);
  assert.deepEqual(h.sfences, [2, 40]);
  h = host(ids);
  assert.equal(call(h, EID_RFENCE, 1, 1n << 63n, 7n), SBI_SUCCESS);
  assert.deepEqual(h.sfences, [70]);

  // A hart that does not exist, an id beyond 4095, a huge base: invalid.
  h = host(ids);
  assert.equal(call(h, EID_IPI, 0, 0b11n, 8n), SBI_ERR_INVALID_PARAM);
  assert.equal(call(h, EID_IPI, 0, 1n << 40n, 4060n), SBI_ERR_INVALID_PARAM);
  assert.equal(call(h, EID_IPI, 0, 1n, 1n << 40n), SBI_ERR_INVALID_PARAM);
  // An empty mask is no request at all.
  assert.equal(call(h, EID_IPI, 0, 0n, 1n << 40n), SBI_SUCCESS);
  assert.deepEqual(h.ipis, []);
});
