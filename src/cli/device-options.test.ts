import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiskOption, parseNetOption, splitOptions } from './device-options.js';
import { UsageError } from './args.js';

test('splitOptions: commas separate, doubled commas are literal', () => {
  assert.deepEqual(splitOptions('a,b=c,,d,e'), ['a', 'b=c,d', 'e']);
  assert.deepEqual(splitOptions('x'), ['x']);
});

test('--disk: path and keys', () => {
  assert.deepEqual(parseDiskOption('vm.qcow2'), { path: 'vm.qcow2', readOnly: false, cache: 'writeback' });
  assert.deepEqual(parseDiskOption('a,,b.img,format=raw,readonly=on,cache=none,serial=disk1'),
    { path: 'a,b.img', format: 'raw', readOnly: true, cache: 'none', serial: 'disk1' });
  for (const bad of ['', 'format=raw', 'x,format=vmdk', 'x,readonly=maybe', 'x,cache=unsafe', 'x,bogus=1',
    'x,serial=123456789012345678901']) {
    assert.throws(() => parseDiskOption(bad), UsageError, bad);
  }
});

test('--net: user, switch and socket forms', () => {
  const u = parseNetOption('user,hostfwd=tcp:127.0.0.1:8080-:80,mac=52:54:00:12:34:56');
  assert.equal(u.kind, 'user');
  assert.ok(u.kind === 'user' && u.spec === 'user,hostfwd=tcp:127.0.0.1:8080-:80');
  assert.deepEqual(Array.from(u.mac ?? []), [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  assert.deepEqual(parseNetOption('switch=lan'), { kind: 'switch', name: 'lan', mac: undefined });
  assert.deepEqual(parseNetOption('socket,listen=unix:/tmp/s'),
    { kind: 'socket', mode: 'listen', address: { unix: '/tmp/s' }, mac: undefined });
  assert.deepEqual(parseNetOption('socket,connect=tcp:127.0.0.1:4000'),
    { kind: 'socket', mode: 'connect', address: { host: '127.0.0.1', port: 4000 }, mac: undefined });
  for (const bad of ['tap', 'switch=', 'socket', 'socket,listen=udp:x', 'socket,connect=tcp:h:0',
    'user,mac=01:00:00:00:00:01', 'user,mac=zz']) {
    assert.throws(() => parseNetOption(bad), UsageError, bad);
  }
});
