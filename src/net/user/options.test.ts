import { test } from 'node:test';
import assert from 'node:assert/strict';

import { parseUserNetOptions, parseHostForward, UserNetConfigError, validateUserNetConfig, DEFAULT_USER_NET_CONFIG } from './options.js';

function fails(text: string, code: string, pattern: RegExp): void {
  assert.throws(
    () => parseUserNetOptions(text),
    (e: unknown) => e instanceof UserNetConfigError && e.code === code && pattern.test(e.message),
    text,
  );
}

test('defaults are QEMU’s', () => {
  const c = parseUserNetOptions('user');
  assert.equal(c.network, '10.0.2.0');
  assert.equal(c.prefixLength, 24);
  assert.equal(c.host, '10.0.2.2');
  assert.equal(c.dns, '10.0.2.3');
  assert.equal(c.dhcpStart, '10.0.2.15');
  assert.equal(c.restrict, false);
  assert.deepEqual(c.hostForwards, []);
  assert.deepEqual(parseUserNetOptions(''), c);
});

test('host forwards in QEMU syntax', () => {
  const c = parseUserNetOptions('user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-10.0.2.20:53,hostfwd=:0.0.0.0:2222-:22,restrict=on');
  assert.equal(c.id, 'n0');
  assert.equal(c.restrict, true);
  assert.deepEqual(c.hostForwards, [
    { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestAddress: '10.0.2.15', guestPort: 80 },
    { protocol: 'udp', hostAddress: '0.0.0.0', hostPort: 5353, guestAddress: '10.0.2.20', guestPort: 53 },
    { protocol: 'tcp', hostAddress: '0.0.0.0', hostPort: 2222, guestAddress: '10.0.2.15', guestPort: 22 },
  ]);
  assert.deepEqual(parseHostForward('tcp::0-:1', '10.0.2.15').hostPort, 0);
});

test('net= moves the default addresses; explicit ones win', () => {
  const c = parseUserNetOptions('user,net=192.168.76.0/24,dns=192.168.76.53,hostname=vm,domainname=lan');
  assert.equal(c.network, '192.168.76.0');
  assert.equal(c.host, '192.168.76.2');
  assert.equal(c.dns, '192.168.76.53');
  assert.equal(c.dhcpStart, '192.168.76.15');
  assert.equal(c.hostname, 'vm');
  assert.equal(c.domainName, 'lan');
  const m = parseUserNetOptions('net=172.16.0.9/255.255.0.0');
  assert.equal(m.network, '172.16.0.0');
  assert.equal(m.prefixLength, 16);
  assert.equal(parseUserNetOptions('restrict=yes,ipv6=off,ipv4=on').restrict, true);
  assert.equal(parseUserNetOptions('hostname=a,,b').hostname, 'a,b', 'a doubled comma is a literal comma');
});

test('bad options fail with messages that name the problem', () => {
  fails('user,bogus=1', 'EOPTION', /unknown option 'bogus'.*known: id, net/);
  fails('user,restrict', 'EOPTION', /expected key=value/);
  fails('user,restrict=maybe', 'EVALUE', /restrict=maybe: expected on or off/);
  fails('user,restrict=on,restrict=off', 'EOPTION', /given twice/);
  fails('user,net=10.0.2.0/33', 'EVALUE', /net=10.0.2.0\/33/);
  fails('user,net=10.0.2.0/255.0.255.0', 'EVALUE', /not contiguous/);
  fails('user,host=10.0.3.2', 'EVALUE', /host 10.0.3.2 is not a host address of 10.0.2.0\/24/);
  fails('user,dns=10.0.2.2', 'EVALUE', /host and dns are both/);
  fails('user,dns=300.1.1.1', 'EVALUE', /not an IPv4 address/);
  fails('user,dhcpstart=10.0.2.255', 'EVALUE', /dhcpstart/);
  fails('user,ipv4=off', 'EVALUE', /only does IPv4/);
  fails('user,hostfwd=tcp:127.0.0.1:8080:80', 'EHOSTFWD', /expected \[tcp\|udp\]:\[hostaddr\]:hostport-\[guestaddr\]:guestport/);
  fails('user,hostfwd=sctp::1-:2', 'EHOSTFWD', /protocol 'sctp'/);
  fails('user,hostfwd=tcp::70000-:22', 'EHOSTFWD', /host port 70000 is out of range/);
  fails('user,hostfwd=tcp::2222-:0', 'EHOSTFWD', /guest port 0 is out of range \(1-65535\)/);
  fails('user,hostfwd=tcp::x-:22', 'EHOSTFWD', /'x' is not a port number/);
  fails('user,hostfwd=tcp:localhost:1-:2', 'EHOSTFWD', /host address 'localhost'/);
  fails('user,hostfwd=tcp::1-10.9.9.9:2', 'EHOSTFWD', /guest address is not a guest address/);
  fails('user,hostfwd=tcp::2222-:22,hostfwd=tcp::2222-:23', 'EHOSTFWD', /forwarded twice/);
});

test('hand-built configurations are validated too', () => {
  assert.throws(() => validateUserNetConfig({ ...DEFAULT_USER_NET_CONFIG, network: '10.0.2.1' }), /host bits set/);
  assert.throws(() => validateUserNetConfig({ ...DEFAULT_USER_NET_CONFIG, prefixLength: 30 }), /prefix length 30/);
});
