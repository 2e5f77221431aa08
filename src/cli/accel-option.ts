/**
 * `--accel ENGINE[,tb-size=MiB]`: the execution engine, and for the JIT the most translated code
 * (WebAssembly) it keeps alive, in MiB, as QEMU's `-accel tcg,tb-size=`.
 */

import { UsageError } from './args.js';

export interface AccelChoice {
  engine: 'interp' | 'jit';
  /** JIT code cache in MiB (undefined: the engine's default). */
  tbSizeMiB?: number;
}

/** Largest code cache accepted, in MiB. */
export const MAX_TB_SIZE_MIB = 1024;

export function parseAccel(text: string | undefined, hint: string): AccelChoice {
  if (text === undefined) return { engine: 'jit' };
  const [engine, ...props] = text.split(',');
  if (engine !== 'interp' && engine !== 'jit') throw new UsageError(`--accel ${engine}: must be interp or jit`, hint);
  const choice: AccelChoice = { engine };
  for (const prop of props) {
    const eq = prop.indexOf('=');
    const key = eq < 0 ? prop : prop.slice(0, eq);
    const value = eq < 0 ? '' : prop.slice(eq + 1);
    if (key !== 'tb-size') throw new UsageError(`--accel: unknown property '${key}' (known: tb-size)`, hint);
    if (engine !== 'jit') throw new UsageError('--accel: tb-size applies to the jit engine only', hint);
    const mib = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(mib >= 1 && mib <= MAX_TB_SIZE_MIB)) {
      throw new UsageError(`--accel: tb-size must be a whole number of MiB from 1 to ${MAX_TB_SIZE_MIB}, not '${value}'`, hint);
    }
    choice.tbSizeMiB = mib;
  }
  return choice;
}
