/** A VirtMachine host for tests: fixed wall clock, constant entropy, console output collected. */
import { gunzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';

import type { VirtHost } from '../../src/machine/virt.js';

export interface DeterministicHost extends VirtHost {
  /** Everything the guest wrote to its console so far. */
  output(): string;
}

export function deterministicHost(): DeterministicHost {
  const out: Buffer[] = [];
  return {
    monotonicMs: () => performance.now(),
    wallClockMs: () => 1_700_000_000_000,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    gunzip: (d) => new Uint8Array(gunzipSync(d)),
    consoleWrite: (bytes) => {
      out.push(Buffer.from(bytes));
    },
    entropy: (buf) => {
      buf.fill(0x5a);
    },
    output: () => Buffer.concat(out).toString('latin1'),
  };
}
