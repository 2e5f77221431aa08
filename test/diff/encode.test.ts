/**
 * Checks the encoder against GNU as: the instructions of a few generated programs (plus the
 * prologue/epilogue) are written out as assembler text, assembled with riscv64-unknown-elf-as
 * and the bytes compared. Skipped when the assembler is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Insn } from './encode.js';
import { ALL_MNEMONICS, buildProgram, generateProgram } from './generate.js';

const AS = '/usr/bin/riscv64-unknown-elf-as';
const OBJCOPY = '/usr/bin/riscv64-unknown-elf-objcopy';
const haveAs = existsSync(AS) && existsSync(OBJCOPY);

/** GNU as has no rounding-mode operand for these exact conversions (it always encodes rm = 0). */
const NO_RM_OPERAND = new Set(['fcvt.d.w', 'fcvt.d.wu', 'fcvt.d.s']);

function asText(insn: Insn): { text: string; bits: number } {
  if (NO_RM_OPERAND.has(insn.mnemonic)) {
    const text = insn.text.replace(/, (rne|rtz|rdn|rup|rmm|dyn)$/, '');
    return { text, bits: (insn.bits & ~(7 << 12)) >>> 0 };
  }
  return { text: insn.text, bits: insn.bits };
}

test('encoder matches GNU as', { skip: haveAs ? false : `${AS} not installed` }, () => {
  const insns: Insn[] = [];
  for (let seed = 1; seed <= 12; seed++) {
    const b = buildProgram(generateProgram(1000 + seed, { length: 1500 }));
    for (const list of [b.prologue, b.body, b.epilogue]) for (const pi of list) insns.push(pi.insn);
  }
  const seen = new Set(insns.map((i) => i.mnemonic));
  for (const m of ALL_MNEMONICS) assert.ok(seen.has(m), `encoder test never saw ${m}`);

  const lines: string[] = ['.text'];
  const expected: number[] = [];
  let rvc: boolean | undefined;
  for (const insn of insns) {
    const c = insn.size === 2;
    if (c !== rvc) {
      lines.push(c ? '.option rvc' : '.option norvc');
      rvc = c;
    }
    const { text, bits } = asText(insn);
    lines.push(text);
    expected.push(bits & 0xff, (bits >>> 8) & 0xff);
    if (!c) expected.push((bits >>> 16) & 0xff, (bits >>> 24) & 0xff);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsvm-enc-'));
  try {
    writeFileSync(join(dir, 't.s'), lines.join('\n') + '\n');
    const r = spawnSync(AS, ['-march=rv64gc_zihintpause', '-mno-relax', '-o', join(dir, 't.o'), join(dir, 't.s')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `as failed:\n${r.stderr.split('\n').slice(0, 30).join('\n')}`);
    const c = spawnSync(OBJCOPY, ['-O', 'binary', '-j', '.text', join(dir, 't.o'), join(dir, 't.bin')], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    const got = new Uint8Array(readFileSync(join(dir, 't.bin')));
    assert.equal(got.length, expected.length, 'assembled size differs');
    // Report the first few differing instructions with their text.
    const bad: string[] = [];
    let p = 0;
    for (const insn of insns) {
      const n = insn.size;
      for (let k = 0; k < n; k++) {
        if (got[p + k] !== expected[p + k]) {
          const gotBits = n === 2 ? (got[p] ?? 0) | ((got[p + 1] ?? 0) << 8) : new DataView(got.buffer).getUint32(p, true);
          bad.push(`${insn.text}: ours ${asText(insn).bits.toString(16)} as ${gotBits.toString(16)}`);
          break;
        }
      }
      p += n;
      if (bad.length >= 20) break;
    }
    assert.deepEqual(bad, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
