import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MAX_QUEUED, QmpError, QmpMonitor, type QmpSession } from './qmp.js';

/** A session on a transport that records what the server sends. */
function connect(monitor: QmpMonitor): { session: QmpSession; out: Record<string, unknown>[]; raw: string[]; flow: string[] } {
  const out: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const flow: string[] = [];
  const session = monitor.createSession({
    write: (line) => {
      raw.push(line);
      out.push(JSON.parse(line) as Record<string, unknown>);
    },
    pause: () => flow.push('pause'),
    resume: () => flow.push('resume'),
  });
  session.start();
  return { session, out, raw, flow };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

function monitorWithCommands(): QmpMonitor {
  const m = new QmpMonitor({ now: () => 1_700_000_000_123.456 });
  m.register({ name: 'echo', args: { value: 'any', 'times?': 'int' }, run: (a) => ({ value: a.value, times: a.times ?? 1 }) });
  m.register({ name: 'nothing', run: () => undefined });
  m.register({ name: 'fail', run: () => { throw new QmpError('DeviceNotFound', 'no such device'); } });
  m.register({ name: 'crash', run: () => { throw new TypeError('oops'); } });
  m.register({
    name: 'slow',
    args: { ms: 'int' },
    run: async (a) => {
      await new Promise((resolve) => setTimeout(resolve, a.ms as number));
      return a.ms;
    },
  });
  m.register({ name: 'list', args: { items: 'str[]' }, run: (a) => (a.items as string[]).length });
  return m;
}

test('greeting: version triple, package, no capabilities; every line ends with CRLF', () => {
  const { out, raw } = connect(new QmpMonitor());
  assert.deepEqual(out[0], { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'tsvm' }, capabilities: [] } });
  assert.ok(raw[0].endsWith('\r\n'));
});

test('capabilities negotiation comes first, once', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"echo","arguments":{"value":1},"id":1}');
  session.receive('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":2}');
  session.receive('{"execute":"qmp_capabilities","id":3}');
  session.receive('{"execute":"qmp_capabilities","id":4}');
  session.receive('{"execute":"echo","arguments":{"value":1},"id":5}');
  await settle();
  assert.equal((out[1].error as { class: string }).class, 'CommandNotFound');
  assert.equal(out[1].id, 1);
  assert.equal((out[2].error as { class: string }).class, 'GenericError'); // oob is not offered
  assert.deepEqual(out[3], { return: {}, id: 3 });
  assert.equal((out[4].error as { class: string }).class, 'CommandNotFound');
  assert.deepEqual(out[5], { return: { value: 1, times: 1 }, id: 5 });
});

test('id passthrough for any JSON value, on success and on error', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  const ids: unknown[] = [0, 'abc', [1, { x: 2 }], { deep: [null] }, null, 1.5, true];
  for (const id of ids) session.receive(JSON.stringify({ execute: 'nothing', id }));
  for (const id of ids) session.receive(JSON.stringify({ execute: 'no-such', id }));
  session.receive('{"execute":"nothing"}');
  await settle();
  const replies = out.slice(2);
  ids.forEach((id, i) => assert.deepEqual(replies[i], { return: {}, id }));
  ids.forEach((id, i) => {
    assert.deepEqual(replies[ids.length + i].id, id);
    assert.equal((replies[ids.length + i].error as { class: string }).class, 'CommandNotFound');
  });
  assert.deepEqual(replies.at(-1), { return: {} });
});

test('malformed requests get GenericError and the session goes on', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  const bad = [
    '[1,2]', '"text"', '42', '{"foo":1,"id":7}', '{"execute":1}', '{"execute":"echo","arguments":[]}',
    '{"execute":"echo","arguments":null}', '{"id":3}', '{"execute":"echo","exec-oob":"echo"}',
    '{"exec-oob":"nothing","id":9}', '{"execute": }', '}',
  ];
  for (const b of bad) session.receive(b + '\n');
  session.receive('{"execute":"nothing","id":"still-alive"}');
  await settle();
  const replies = out.slice(2);
  assert.equal(replies.length, bad.length + 1);
  for (const [i, r] of replies.slice(0, -1).entries()) {
    const e = r.error as { class: string; desc: string } | undefined;
    assert.ok(e !== undefined, `${bad[i]} → ${JSON.stringify(r)}`);
    assert.equal(e.class, 'GenericError', bad[i]);
    assert.equal(typeof e.desc, 'string');
  }
  assert.equal(replies[3].id, 7);
  assert.equal(replies[9].id, 9);
  assert.equal(replies[0].id, undefined);
  assert.deepEqual(replies.at(-1), { return: {}, id: 'still-alive' });
});

test('arguments are type-checked: unknown, missing and mistyped ones are refused', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  session.receive('{"execute":"echo","arguments":{"value":1,"extra":2},"id":1}');
  session.receive('{"execute":"echo","arguments":{},"id":2}');
  session.receive('{"execute":"echo","arguments":{"value":1,"times":"3"},"id":3}');
  session.receive('{"execute":"echo","arguments":{"value":1,"times":1.5},"id":4}');
  session.receive('{"execute":"list","arguments":{"items":["a",2]},"id":5}');
  session.receive('{"execute":"list","arguments":{"items":["a","b"]},"id":6}');
  session.receive('{"execute":"nothing","arguments":{"x":1},"id":7}');
  await settle();
  const r = out.slice(2);
  assert.match((r[0].error as { desc: string }).desc, /unexpected argument 'extra'/);
  assert.match((r[1].error as { desc: string }).desc, /missing argument 'value'/);
  assert.match((r[2].error as { desc: string }).desc, /'times' must be an integer/);
  assert.match((r[3].error as { desc: string }).desc, /'times' must be an integer/);
  assert.match((r[4].error as { desc: string }).desc, /'items' must be a list of strings/);
  assert.deepEqual(r[5], { return: 2, id: 6 });
  assert.match((r[6].error as { desc: string }).desc, /unexpected argument 'x'/);
});

test('command errors keep their class; other exceptions become GenericError', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}{"execute":"fail","id":1}{"execute":"crash","id":2}');
  await settle();
  assert.deepEqual(out[2], { error: { class: 'DeviceNotFound', desc: 'no such device' }, id: 1 });
  assert.deepEqual(out[3], { error: { class: 'GenericError', desc: 'oops' }, id: 2 });
});

test('replies come in request order even when commands are asynchronous', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  session.receive('{"execute":"slow","arguments":{"ms":30},"id":"a"}{"execute":"nothing","id":"b"}');
  session.receive('{"execute":"slow","arguments":{"ms":1},"id":"c"}');
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(out.slice(2).map((r) => r.id), ['a', 'b', 'c']);
});

test('events: only in command mode, to every session, with timestamp', async () => {
  const monitor = monitorWithCommands();
  const a = connect(monitor);
  const b = connect(monitor);
  monitor.emitEvent('EARLY');
  a.session.receive('{"execute":"qmp_capabilities"}');
  await settle();
  monitor.emitEvent('STOP');
  monitor.emitEvent('JOB_STATUS_CHANGE', { status: 'created', id: 'j' });
  b.session.receive('{"execute":"qmp_capabilities"}');
  await settle();
  monitor.emitEvent('RESUME');
  assert.deepEqual(a.out.slice(2).map((e) => e.event), ['STOP', 'JOB_STATUS_CHANGE', 'RESUME']);
  assert.deepEqual(b.out.slice(2).map((e) => e.event), ['RESUME']);
  assert.deepEqual(a.out[2], { timestamp: { seconds: 1_700_000_000, microseconds: 123_456 }, event: 'STOP' });
  assert.deepEqual(a.out[3].data, { status: 'created', id: 'j' });
  a.session.close();
  monitor.emitEvent('AFTER-CLOSE');
  assert.equal(a.out.at(-1)?.event, 'RESUME');
  assert.equal(monitor.sessionCount, 1);
});

test('output is ASCII: non-ASCII text is \\u-escaped', async () => {
  const { session, raw, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  session.receive(Buffer.from('{"execute":"echo","arguments":{"value":"é☃😀"}}'));
  await settle();
  assert.ok(/^[\x20-\x7e]*\r\n$/.test(raw[2]), raw[2]);
  assert.deepEqual(out[2], { return: { value: 'é☃😀', times: 1 } });
});

test('UTF-8 split across chunks is decoded', async () => {
  const { session, out } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  const bytes = Buffer.from('{"execute":"echo","arguments":{"value":"☃"}}');
  const cut = bytes.indexOf(0xe2) + 1;
  session.receive(bytes.subarray(0, cut));
  session.receive(bytes.subarray(cut));
  await settle();
  assert.deepEqual(out[2], { return: { value: '☃', times: 1 } });
});

test('a flood of requests pauses the transport until the queue drains', async () => {
  const { session, out, flow } = connect(monitorWithCommands());
  session.receive('{"execute":"qmp_capabilities"}');
  let text = '{"execute":"slow","arguments":{"ms":5}}';
  for (let i = 0; i < MAX_QUEUED * 3; i++) text += `{"execute":"nothing","id":${i}}`;
  session.receive(text);
  assert.deepEqual(flow, ['pause']);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(flow, ['pause', 'resume']);
  assert.equal(out.length, 2 + 1 + MAX_QUEUED * 3);
});

test('a transport that fails to write closes the session instead of throwing', () => {
  const monitor = new QmpMonitor();
  let calls = 0;
  const session = monitor.createSession({
    write: () => {
      calls++;
      throw new Error('EPIPE');
    },
  });
  session.start();
  session.receive('{"execute":"qmp_capabilities"}');
  assert.equal(calls, 1);
  assert.ok(session.isClosed);
  assert.equal(monitor.sessionCount, 0);
});
