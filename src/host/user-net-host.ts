/**
 * The Node implementation of UserNetHost (src/net/user/host.ts): TCP through node:net, UDP through
 * node:dgram, DNS by relaying the guest's raw query over UDP to the host's nameservers (from
 * /etc/resolv.conf, else node:dns's configured servers; a truncated answer is fetched again over
 * TCP), timers on setTimeout (unref'd: they never keep the process alive by themselves).
 */

import type * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';

import { nodeDgram, nodeDns, nodeNet } from './node-modules.js';

import {
  createUserNet,
  parseUserNetOptions,
  type UserNetBackend,
  type HostTcpEvents,
  HostTcpListenEvents,
  HostTcpListener,
  HostTcpSocket,
  HostUdpEvents,
  HostUdpSocket,
  UdpBindOptions,
  UserNetHost,
  UserNetTimer,
} from '../net/user/index.js';

export interface NodeUserNetHostOptions {
  /**
   * Nameservers for the DNS relay, as 'address' or 'address:port' ('[v6]:port' for IPv6). Default:
   * the nameserver lines of /etc/resolv.conf, else dns.getServers().
   */
  dnsServers?: string[];
  /** How long to wait for each nameserver. */
  dnsTimeoutMs?: number;
}

interface DnsServer {
  address: string;
  port: number;
  family: 'udp4' | 'udp6';
}

const DEFAULT_DNS_TIMEOUT_MS = 2500;
/** resolv.conf's MAXNS: at most three servers are tried. */
const MAX_DNS_SERVERS = 3;

function errorCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') return (e as { code: string }).code;
  return 'EIO';
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A plain Uint8Array view of a Buffer (no copy). */
function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Parses 'a.b.c.d', 'a.b.c.d:port', '[v6]:port' or a bare IPv6 address. */
export function parseDnsServer(text: string): DnsServer | null {
  let address = text.trim();
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracket) {
    address = bracket[1];
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (nodeNet().isIPv4(address.split(':')[0]) && address.includes(':')) {
    const [a, p] = address.split(':');
    address = a;
    port = Number(p);
  }
  address = address.replace(/%.*$/, ''); // zone index of a link-local address
  const family = nodeNet().isIPv4(address) ? 'udp4' : nodeNet().isIPv6(address) ? 'udp6' : null;
  if (family === null || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { address, port, family };
}

/** The nameservers of /etc/resolv.conf (empty when it cannot be read). */
export function resolvConfServers(path = '/etc/resolv.conf'): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

/** Wraps a node:net socket as a HostTcpSocket; `attach` wires its events to the core. */
function wrapTcp(sock: net.Socket): { handle: HostTcpSocket; attach(events: HostTcpEvents): void } {
  let closed = false;
  const handle: HostTcpSocket = {
    write(data) {
      if (!closed && !sock.destroyed && sock.writable) sock.write(data);
    },
    bufferedBytes() {
      return sock.writableLength;
    },
    end() {
      if (!closed && !sock.destroyed) sock.end();
    },
    pause() {
      if (!closed) sock.pause();
    },
    resume() {
      if (!closed) sock.resume();
    },
    abort() {
      if (closed || sock.destroyed) return;
      if (typeof sock.resetAndDestroy === 'function' && sock.readyState !== 'opening') sock.resetAndDestroy();
      else sock.destroy();
    },
  };
  const attach = (events: HostTcpEvents): void => {
    let error: string | undefined;
    sock.on('connect', () => events.connected());
    sock.on('data', (b: Buffer) => events.data(view(b)));
    sock.on('end', () => events.end());
    sock.on('drain', () => events.drain());
    sock.on('error', (e) => {
      error ??= errorCode(e);
    });
    sock.on('close', (hadError: boolean) => {
      closed = true;
      events.closed(error ?? (hadError ? 'EIO' : undefined));
    });
  };
  return { handle, attach };
}

/** One DNS query over TCP (2-byte length prefixes); null on any failure. */
function dnsOverTcp(server: DnsServer, query: Uint8Array, timeoutMs: number, callback: (answer: Uint8Array | null) => void): void {
  let done = false;
  let got = Buffer.alloc(0);
  const sock = nodeNet().connect({ host: server.address, port: server.port });
  const finish = (answer: Uint8Array | null): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.destroy();
    callback(answer);
  };
  const timer = setTimeout(() => finish(null), timeoutMs);
  timer.unref();
  sock.on('connect', () => {
    const prefix = Buffer.from([query.length >>> 8, query.length & 0xff]);
    sock.write(Buffer.concat([prefix, query]));
  });
  sock.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    if (got.length >= 2) {
      const len = got.readUInt16BE(0);
      if (got.length >= 2 + len) finish(len >= 12 && got.readUInt16BE(2) === ((query[0] << 8) | query[1]) ? new Uint8Array(got.subarray(2, 2 + len)) : null);
    }
  });
  sock.on('error', () => finish(null));
  sock.on('close', () => finish(null));
}

export function createNodeUserNetHost(options: NodeUserNetHostOptions = {}): UserNetHost {
  const dnsTimeoutMs = options.dnsTimeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  let dnsServers: DnsServer[] | null = null;
  const servers = (): DnsServer[] => {
    if (dnsServers === null) {
      let list = options.dnsServers ?? resolvConfServers();
      if (list.length === 0) list = nodeDns().getServers();
      dnsServers = list
        .map(parseDnsServer)
        .filter((s): s is DnsServer => s !== null)
        .slice(0, MAX_DNS_SERVERS);
    }
    return dnsServers;
  };

  return {
    now: () => performance.now(),

    setTimer(delayMs: number, callback: () => void): UserNetTimer {
      const t = setTimeout(callback, Math.max(0, delayMs));
      t.unref();
      return { cancel: () => clearTimeout(t) };
    },

    tcpConnect(address: string, port: number, events: HostTcpEvents): HostTcpSocket {
      const sock = nodeNet().connect({ host: address, port, allowHalfOpen: true, noDelay: true });
      const w = wrapTcp(sock);
      w.attach(events);
      return w.handle;
    },

    tcpListen(address: string, port: number, events: HostTcpListenEvents): HostTcpListener {
      const server = nodeNet().createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
      let listening = false;
      let failed = false;
      server.on('connection', (sock: net.Socket) => {
        sock.setNoDelay(true);
        const w = wrapTcp(sock);
        const ev = events.connection(w.handle, { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 });
        if (ev === null) {
          sock.on('error', () => undefined);
          sock.destroy();
          return;
        }
        w.attach(ev);
      });
      server.on('error', (e) => {
        if (failed) return;
        failed = true;
        if (!listening) events.error(errorCode(e), errorMessage(e));
      });
      server.listen({ host: address, port }, () => {
        listening = true;
        const a = server.address();
        events.listening(typeof a === 'object' && a !== null ? a.port : port);
      });
      return { close: () => server.close() };
    },

    udpOpen(events: HostUdpEvents, bind?: UdpBindOptions): HostUdpSocket {
      const sock = nodeDgram().createSocket({ type: 'udp4' });
      let closed = false;
      sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
        if (!closed) events.message(view(msg), rinfo.address, rinfo.port);
      });
      sock.on('error', (e) => {
        if (!closed) events.error(errorCode(e), errorMessage(e));
      });
      sock.bind(bind?.port ?? 0, bind?.address, () => {
        if (!closed) events.listening?.(sock.address().port);
      });
      return {
        send(data, address, port) {
          if (closed) return;
          try {
            sock.send(data, port, address, () => undefined); // UDP is lossy: send errors are not reported
          } catch {
            // A bad address or a socket closing underneath: the datagram is lost, as UDP allows.
          }
        },
        close() {
          if (closed) return;
          closed = true;
          try {
            sock.close();
          } catch {
            // already closed
          }
        },
      };
    },

    dnsQuery(query: Uint8Array, callback: (response: Uint8Array | null) => void): void {
      const list = servers();
      const id = query.length >= 2 ? (query[0] << 8) | query[1] : -1;
      let done = false;
      const finish = (r: Uint8Array | null): void => {
        if (done) return;
        done = true;
        callback(r);
      };
      const attempt = (i: number): void => {
        if (i >= list.length) {
          finish(null);
          return;
        }
        const server = list[i];
        const sock = nodeDgram().createSocket({ type: server.family });
        let over = false;
        const stop = (): void => {
          over = true;
          clearTimeout(timer);
          try {
            sock.close();
          } catch {
            // already closed
          }
        };
        const timer = setTimeout(() => {
          stop();
          attempt(i + 1);
        }, dnsTimeoutMs);
        timer.unref();
        sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
          if (over || rinfo.port !== server.port || msg.length < 12 || ((msg[0] << 8) | msg[1]) !== id) return;
          stop();
          const answer = new Uint8Array(msg);
          if ((answer[2] & 0x02) === 0) {
            finish(answer);
            return;
          }
          // Truncated (TC): ask the same server over TCP for the whole answer (RFC 7766 §5).
          dnsOverTcp(server, query, dnsTimeoutMs, (full) => finish(full ?? answer));
        });
        sock.on('error', () => {
          if (over) return;
          stop();
          attempt(i + 1);
        });
        sock.send(query, server.port, server.address);
      };
      if (list.length === 0) setImmediate(() => finish(null));
      else attempt(0);
    },
  };
}

/**
 * Opens a `user` backend from its QEMU-style options (`user,hostfwd=tcp::2222-:22,...`) on the
 * Node host, once its host forwards listen. Throws UserNetConfigError: EOPTION/EVALUE/EHOSTFWD for
 * bad options, ELISTEN when a forward cannot listen (the backend is closed again).
 */
export async function openUserNet(spec: string, options: NodeUserNetHostOptions = {}): Promise<UserNetBackend> {
  const backend = createUserNet(parseUserNetOptions(spec), createNodeUserNetHost(options));
  try {
    await backend.ready;
  } catch (e) {
    backend.close();
    throw e;
  }
  return backend;
}
