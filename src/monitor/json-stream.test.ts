import { test } from 'node:test';
import assert from 'node:assert/strict';

import { JsonStreamReader, parseJson, type JsonStreamItem } from './json-stream.js';

function values(items: JsonStreamItem[]): unknown[] {
  return items.map((i) => (i.kind === 'value' ? i.value : { error: i.message }));
}

test('objects split anywhere come out whole', () => {
  const text = '{"execute": "query-status", "arguments": {"a": [1, 2, {"b": "}]\\""}]}, "id": "x{"}';
  for (let cut = 0; cut <= text.length; cut++) {
    const r = new JsonStreamReader();
    const out = [...r.push(text.slice(0, cut)), ...r.push(text.slice(cut))];
    assert.deepEqual(values(out), [JSON.parse(text)], `cut at ${cut}`);
  }
  // One character at a time.
  const r = new JsonStreamReader();
  const out: JsonStreamItem[] = [];
  for (const ch of text) out.push(...r.push(ch));
  assert.deepEqual(values(out), [JSON.parse(text)]);
});

test('several values in one chunk, with or without whitespace between', () => {
  const r = new JsonStreamReader();
  assert.deepEqual(values(r.push('{"a":1}{"b":2}\r\n  [3] "s" 4 true null {"c":{}}')), [{ a: 1 }, { b: 2 }, [3], 's', 4, true, null, { c: {} }]);
  assert.deepEqual(values(r.push('\n')), []);
});

test('a bare token ends at the next delimiter, even across chunks', () => {
  const r = new JsonStreamReader();
  assert.deepEqual(values(r.push('nul')), []);
  assert.deepEqual(values(r.push('l {"x":1}')), [null, { x: 1 }]);
  assert.deepEqual(values(r.push('12')), []);
  assert.deepEqual(values(r.end()), [12]);
});

test('single-quoted strings and \\\' are accepted', () => {
  assert.deepEqual(parseJson(`{'execute': 'it\\'s', "b": 'say "hi"'}`), { execute: "it's", b: 'say "hi"' });
  const r = new JsonStreamReader();
  assert.deepEqual(values(r.push(`{'a': '}'}`)), [{ a: '}' }]);
});

test('garbage gets an error and reading goes on', () => {
  const r = new JsonStreamReader();
  const out = values(r.push('{"execute": }{"ok":1}}\n{"x":1,}[1 2]'));
  assert.equal(out.length, 5);
  assert.match((out[0] as { error: string }).error, /JSON parse error/);
  assert.deepEqual(out[1], { ok: 1 });
  assert.match((out[2] as { error: string }).error, /unexpected '}'/);
  assert.match((out[3] as { error: string }).error, /JSON parse error/);
  assert.match((out[4] as { error: string }).error, /JSON parse error/);
  assert.deepEqual(values(r.push('{"after": true}')), [{ after: true }]);
});

test('a control character resets the reader (the specification\'s way to resync)', () => {
  const r = new JsonStreamReader();
  assert.deepEqual(values(r.push('{"execute": "never-finished", "arguments": {')), []);
  const out = values(r.push('\x01{"execute":"next"}'));
  assert.equal(out.length, 2);
  assert.match((out[0] as { error: string }).error, /control character 0x01/);
  assert.deepEqual(out[1], { execute: 'next' });
  // Invalid UTF-8 (decoded to U+FFFD) outside a string does the same; inside a string it is data.
  const out2 = values(r.push('\ufffd{"s":"\ufffd"}'));
  assert.match((out2[0] as { error: string }).error, /UTF-8/);
  assert.deepEqual(out2[1], { s: '\ufffd' });
});

test('a raw control character inside a string is an error', () => {
  const r = new JsonStreamReader();
  const out = values(r.push('{"a":"x\x02y"}'));
  assert.match((out[0] as { error: string }).error, /control character/);
  // The rest of the broken object is garbage; a control character brings the reader back.
  assert.deepEqual(values(r.push('\x01{"b":1}')).at(-1), { b: 1 });
});

test('oversized and over-deep values are reported once and skipped', () => {
  const r = new JsonStreamReader({ maxValueChars: 100, maxDepth: 8 });
  const big = `{"a":"${'x'.repeat(500)}"}`;
  const out = values(r.push(big + '{"next":1}'));
  assert.equal(out.length, 2);
  assert.match((out[0] as { error: string }).error, /longer than 100/);
  assert.deepEqual(out[1], { next: 1 });
  const deep = '['.repeat(20) + ']'.repeat(20);
  const out2 = values(r.push(deep + '{"next":2}'));
  assert.equal(out2.length, 2);
  assert.match((out2[0] as { error: string }).error, /deeper than 8/);
  assert.deepEqual(out2[1], { next: 2 });
});

test('"__proto__" keys are plain data', () => {
  const v = parseJson('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ['__proto__', 'a']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('parseJson agrees with JSON.parse on valid JSON', () => {
  const samples = [
    '{"a":[1,-2.5e3,0,1E+2,true,false,null],"b":{"c":"\\u00e9\\n\\t\\\\\\/"}}',
    '[]', '{}', '"\\ud83d\\ude00"', '-0', '123456789012345',
  ];
  for (const s of samples) assert.deepEqual(parseJson(s), JSON.parse(s));
  for (const bad of ['{', '[1,]', '{"a"}', '01', '1.', '"\\x"', 'tru', '{"a":1 "b":2}']) {
    assert.throws(() => parseJson(bad), Error, bad);
  }
});

test('fuzz: random input never throws', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const alphabet = '{}[]"\':,\\ \n\tabc01-.eEtrufalsn\x01\x7f\u00e9';
  const r = new JsonStreamReader({ maxValueChars: 1000, maxDepth: 16 });
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const n = rand(40);
    for (let j = 0; j < n; j++) s += alphabet[rand(alphabet.length)];
    for (const item of r.push(s)) assert.ok(item.kind === 'value' || typeof item.message === 'string');
  }
  // After a control character the reader is back in a known state.
  const out = r.push('\x01{"ok":true}');
  assert.deepEqual(out.at(-1), { kind: 'value', value: { ok: true } });
});
