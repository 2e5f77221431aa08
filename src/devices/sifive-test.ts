/**
 * The SiFive test finisher ("sifive,test1", with "sifive,test0" and "syscon" as fallbacks) at
 * 0x0010_0000 on QEMU's `virt` board: a guest writes a status word to power off, reset, or end a
 * test run with an exit code. Linux drives it through the syscon-poweroff/syscon-reboot bindings,
 * OpenSBI through its sifive_test system-reset driver.
 *
 * Register map:
 *
 *   offset  size  name    access
 *   0x0     4     finish  W   bits 15:0 status, bits 31:16 exit code
 *                             0x5555 PASS  -> poweroff (exit code 0)
 *                             0x7777 RESET -> reset
 *                             0x3333 FAIL  -> fail with exit code bits 31:16
 *                             other values are ignored
 *   reads return 0; the rest of the 4 KiB region is reserved.
 */

import type { MmioHandler, MmioValue } from '../hart/index.js';

export const SIFIVE_TEST_SIZE = 0x1000;
export const SIFIVE_TEST_FAIL = 0x3333;
export const SIFIVE_TEST_PASS = 0x5555;
export const SIFIVE_TEST_RESET = 0x7777;

export interface SifiveTestEvent {
  kind: 'poweroff' | 'reset' | 'fail';
  /** Exit code: 0 for poweroff and reset, bits 31:16 of the written word for fail. */
  code: number;
}

export class SifiveTest implements MmioHandler {
  private readonly onEvent: (event: SifiveTestEvent) => void;

  constructor(onEvent: (event: SifiveTestEvent) => void) {
    this.onEvent = onEvent;
  }

  read(_offset: number, _size: number, value: MmioValue): void {
    value.lo = 0;
    value.hi = 0;
  }

  write(offset: number, size: number, lo: number, _hi: number): void {
    // The status word is one 32-bit register; 16-bit writes of the low half are accepted (OpenSBI
    // writes the finisher with a 16-bit store; QEMU accepts 2- and 4-byte accesses).
    if (offset !== 0 || size < 2) return;
    const status = lo & 0xffff;
    if (status === SIFIVE_TEST_PASS) this.onEvent({ kind: 'poweroff', code: 0 });
    else if (status === SIFIVE_TEST_RESET) this.onEvent({ kind: 'reset', code: 0 });
    else if (status === SIFIVE_TEST_FAIL) this.onEvent({ kind: 'fail', code: (lo >>> 16) & 0xffff });
  }
}
