import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MmioValue } from '../hart/index.js';
import { SifiveTest, type SifiveTestEvent } from './sifive-test.js';

test('finisher status words: pass, reset, fail with code; others ignored', () => {
  const events: SifiveTestEvent[] = [];
  const dev = new SifiveTest((e) => events.push(e));
  dev.write(0, 4, 0x5555, 0);
  dev.write(0, 4, 0x7777, 0);
  dev.write(0, 4, (42 << 16) | 0x3333, 0);
  dev.write(0, 4, (0xffff << 16) | 0x3333, 0); // signed int32 from the hart
  dev.write(0, 4, 0x1234, 0); // unknown status
  dev.write(4, 4, 0x5555, 0); // other offset
  dev.write(0, 1, 0x55, 0); // byte access: ignored
  dev.write(0, 2, 0x5555, 0); // 16-bit access, as OpenSBI's sifive_test driver does
  assert.deepEqual(events, [
    { kind: 'poweroff', code: 0 },
    { kind: 'reset', code: 0 },
    { kind: 'fail', code: 42 },
    { kind: 'fail', code: 0xffff },
    { kind: 'poweroff', code: 0 },
  ]);
  const v = new MmioValue();
  v.lo = 7;
  dev.read(0, 4, v);
  assert.equal(v.lo, 0);
});
