/**
 * Parsing of `tsvm run`'s device options, in QEMU's `key=value,...` style:
 *
 *   --disk PATH[,format=raw|qcow2][,readonly=on|off][,cache=writeback|none][,serial=ID]
 *   --net user[,hostfwd=tcp:ADDR:PORT-:PORT][,restrict=on][,mac=52:54:00:12:34:56]
 *   --net switch=NAME[,mac=...]                     VMs of one process on one L2 switch
 *   --net socket,listen=unix:PATH|tcp:HOST:PORT     join a switch in another process
 *   --net socket,connect=unix:PATH|tcp:HOST:PORT
 *
 * A comma inside a value is written twice (",,"), as in QEMU.
 */

import { UsageError } from './args.js';

const HINT = 'tsvm run --help';

export interface DiskOption {
  path: string;
  format?: 'raw' | 'qcow2';
  readOnly: boolean;
  cache: 'writeback' | 'none';
  serial?: string;
}

export type NetOption =
  | { kind: 'user'; spec: string; mac?: Uint8Array }
  | { kind: 'switch'; name: string; mac?: Uint8Array }
  | { kind: 'socket'; mode: 'listen' | 'connect'; address: SocketAddress; mac?: Uint8Array };

export type SocketAddress = { unix: string } | { host: string; port: number };

/** Splits "a,b=c,,d" into ["a", "b=c,d"] (",," is a literal comma). */
export function splitOptions(text: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts;
}

function onOff(option: string, key: string, value: string): boolean {
  if (value === 'on' || value === 'true' || value === 'yes') return true;
  if (value === 'off' || value === 'false' || value === 'no') return false;
  throw new UsageError(`${option}: ${key}=${value}: expected on or off`, HINT);
}

export function parseDiskOption(text: string): DiskOption {
  const [path, ...rest] = splitOptions(text);
  if (path === undefined || path === '' || path.includes('=')) {
    throw new UsageError(`--disk ${text}: the first field must be the image path`, HINT);
  }
  const disk: DiskOption = { path, readOnly: false, cache: 'writeback' };
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? '' : kv.slice(eq + 1);
    switch (key) {
      case 'format':
        if (value !== 'raw' && value !== 'qcow2') {
          throw new UsageError(`--disk: format=${value}: expected raw or qcow2`, HINT);
        }
        disk.format = value;
        break;
      case 'readonly':
        disk.readOnly = onOff('--disk', key, value);
        break;
      case 'cache':
        if (value !== 'writeback' && value !== 'none') {
          throw new UsageError(`--disk: cache=${value}: expected writeback or none`, HINT);
        }
        disk.cache = value;
        break;
      case 'serial':
        if (value.length > 20) throw new UsageError('--disk: serial= is at most 20 characters', HINT);
        disk.serial = value;
        break;
      default:
        throw new UsageError(`--disk: unknown key '${key}' (format, readonly, cache, serial)`, HINT);
    }
  }
  return disk;
}

export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text);
  if (m === null) throw new UsageError(`mac=${text}: expected six hex bytes like 52:54:00:12:34:56`, HINT);
  const mac = Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
  if ((mac[0] & 1) !== 0) throw new UsageError(`mac=${text}: a multicast address cannot be a NIC's`, HINT);
  return mac;
}

export function parseSocketAddress(text: string): SocketAddress {
  if (text.startsWith('unix:') && text.length > 5) return { unix: text.slice(5) };
  const m = /^tcp:(.+):(\d{1,5})$/.exec(text);
  if (m !== null) {
    const port = Number(m[2]);
    if (port >= 1 && port <= 65535) return { host: m[1], port };
  }
  throw new UsageError(`socket address ${text}: expected unix:PATH or tcp:HOST:PORT`, HINT);
}

export function parseNetOption(text: string): NetOption {
  const parts = splitOptions(text);
  const head = parts[0] ?? '';
  let mac: Uint8Array | undefined;
  const others: string[] = [];
  for (const kv of parts.slice(1)) {
    if (kv.startsWith('mac=')) mac = parseMac(kv.slice(4));
    else others.push(kv);
  }
  if (head === 'user') {
    // The user backend validates its own options (hostfwd, restrict, ...).
    return { kind: 'user', spec: ['user', ...others].join(','), mac };
  }
  if (head.startsWith('switch=')) {
    const name = head.slice(7);
    if (name === '' || others.length > 0) throw new UsageError(`--net ${text}: expected switch=NAME[,mac=...]`, HINT);
    return { kind: 'switch', name, mac };
  }
  if (head === 'socket') {
    if (others.length !== 1) throw new UsageError(`--net ${text}: expected socket,listen=ADDR or socket,connect=ADDR`, HINT);
    const [kv] = others;
    if (kv.startsWith('listen=')) return { kind: 'socket', mode: 'listen', address: parseSocketAddress(kv.slice(7)), mac };
    if (kv.startsWith('connect=')) return { kind: 'socket', mode: 'connect', address: parseSocketAddress(kv.slice(8)), mac };
    throw new UsageError(`--net ${text}: expected listen= or connect=`, HINT);
  }
  throw new UsageError(`--net ${text}: expected user, switch=NAME or socket`, HINT);
}
