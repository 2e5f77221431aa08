/**
 * The warm-up program (src/hart/warmup/warmup.S) runs to its final ebreak on the interpreter,
 * reaching traps in M and S mode and Sv39 paging, and ends in the same state under the JIT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Cause } from './csr.js';
import { runWarmUp, warmUpHart } from './warmup.js';

test('the warm-up program runs to its ebreak, identically on both engines', () => {
  const interp = runWarmUp(false);
  assert.equal(interp.exitCause, Cause.Breakpoint);
  assert.ok(interp.instret > 10_000 && interp.instret < 1_000_000, `instret ${interp.instret}`);
  const jit = runWarmUp(true);
  assert.equal(jit.exitCause, Cause.Breakpoint);
  assert.equal(jit.instret, interp.instret);
  assert.equal(jit.getPc(), interp.getPc());
  for (let i = 0; i < 32; i++) assert.equal(jit.getX(i), interp.getX(i), `x${i}`);
  for (let i = 0; i < 32; i++) assert.equal(jit.getF(i), interp.getF(i), `f${i}`);
  assert.ok((jit.jit?.stats.executed ?? 0) > interp.instret / 2, 'the JIT ran most of it');
  warmUpHart({ jit: true }); // idempotent, and safe to call again
  warmUpHart();
});
