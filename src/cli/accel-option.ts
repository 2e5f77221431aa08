/**
 * `--accel ENGINE[,tb-size=MiB][,hot=N]`: the execution engine, and for the JIT the most
 * translated code (WebAssembly) it keeps alive, in MiB, as QEMU's `-accel tcg,tb-size=`, and how
 * many instructions a page of code runs in the interpreter before it is translated.
 */

import { UsageError } from './args.js';

export interface AccelChoice {
  engine: 'interp' | 'jit';
  /** JIT code cache in MiB (undefined: the engine's default). */
  tbSizeMiB?: number;
  /** Instructions a page runs interpreted before the JIT translates it (undefined: the default). */
  hotThreshold?: number;
}

/** Largest code cache accepted, in MiB. */
export const MAX_TB_SIZE_MIB = 1024;
/** Largest hotness threshold accepted, in instructions. */
export const MAX_HOT_THRESHOLD = 1_000_000_000;

export function parseAccel(text: string | undefined, hint: string): AccelChoice {
  if (text === undefined) return { engine: 'jit' };
  const [engine, ...props] = text.split(',');
  if (engine !== 'interp' && engine !== 'jit') throw new UsageError(`--accel ${engine}: must be interp or jit`, hint);
  const choice: AccelChoice = { engine };
  for (const prop of props) {
    const eq = prop.indexOf('=');
    const key = eq < 0 ? prop : prop.slice(0, eq);
    const value = eq < 0 ? '' : prop.slice(eq + 1);
    if (key !== 'tb-size' && key !== 'hot') throw new UsageError(`--accel: unknown property '${key}' (known: tb-size, hot)`, hint);
    if (engine !== 'jit') throw new UsageError(`--accel: ${key} applies to the jit engine only`, hint);
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (key === 'tb-size') {
      if (!(n >= 1 && n <= MAX_TB_SIZE_MIB)) {
        throw new UsageError(`--accel: tb-size must be a whole number of MiB from 1 to ${MAX_TB_SIZE_MIB}, not '${value}'`, hint);
      }
      choice.tbSizeMiB = n;
    } else {
      if (!(n >= 0 && n <= MAX_HOT_THRESHOLD)) {
        throw new UsageError(`--accel: hot must be a whole number of instructions from 0 to ${MAX_HOT_THRESHOLD}, not '${value}'`, hint);
      }
      choice.hotThreshold = n;
    }
  }
  return choice;
}
