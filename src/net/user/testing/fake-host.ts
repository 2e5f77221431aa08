/**
 * A fake UserNetHost for tests and fuzzing: a manual clock, timers that fire on advance(), and
 * sockets that record what the backend does and let the test play the host's side. Opens nothing
 * real. Events are queued and delivered by deliver()/advance(), never inside the backend's call,
 * as the host contract requires.
 */

import type {
  HostTcpEvents,
  HostTcpListenEvents,
  HostTcpListener,
  HostTcpSocket,
  HostUdpEvents,
  HostUdpSocket,
  UdpBindOptions,
  UserNetHost,
  UserNetTimer,
} from '../host.js';
import { fromUtf8, utf8 } from './frames.js';

export class FakeTcpSocket implements HostTcpSocket {
  readonly written: Uint8Array[] = [];
  writtenBytes = 0;
  ended = false;
  paused = false;
  aborted = false;
  closed = false;
  /** What bufferedBytes() reports: written bytes the "network" has not taken yet. */
  buffered = 0;
  events: HostTcpEvents | null;

  constructor(
    private readonly host: FakeUserNetHost,
    readonly address: string,
    readonly port: number,
    events: HostTcpEvents | null,
  ) {
    this.events = events;
  }

  write(data: Uint8Array): void {
    if (this.closed) throw new Error('write after close');
    if (this.ended) throw new Error('write after end');
    this.written.push(data);
    this.writtenBytes += data.length;
    if (this.host.holdWrites) this.buffered += data.length;
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  end(): void {
    this.ended = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  abort(): void {
    this.aborted = true;
    this.closed = true;
  }

  /** All bytes the backend wrote, concatenated. */
  text(): string {
    return fromUtf8(this.bytes());
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.writtenBytes);
    let o = 0;
    for (const w of this.written) {
      out.set(w, o);
      o += w.length;
    }
    return out;
  }

  // The host's side: queue events for the backend.
  accept(): void {
    this.host.queue(() => this.events?.connected());
  }
  refuse(code = 'ECONNREFUSED'): void {
    this.closed = true;
    this.host.queue(() => this.events?.closed(code));
  }
  push(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? utf8(data) : data;
    this.host.queue(() => {
      if (!this.closed) this.events?.data(bytes);
    });
  }
  peerEnd(): void {
    this.host.queue(() => {
      if (!this.closed) this.events?.end();
    });
  }
  /** The network took `n` buffered bytes; sends `drain`. */
  drain(n = this.buffered): void {
    this.buffered = Math.max(0, this.buffered - n);
    this.host.queue(() => {
      if (!this.closed) this.events?.drain();
    });
  }
  close(error?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.host.queue(() => this.events?.closed(error));
  }
}

export class FakeTcpListener implements HostTcpListener {
  closed = false;
  readonly accepted: FakeTcpSocket[] = [];
  constructor(
    private readonly host: FakeUserNetHost,
    readonly address: string,
    readonly port: number,
    readonly events: HostTcpListenEvents,
  ) {}

  close(): void {
    this.closed = true;
  }

  /** A host client connects; returns its socket, or null when the backend refused it. */
  connectClient(peerPort = 40000): FakeTcpSocket | null {
    const s = new FakeTcpSocket(this.host, '127.0.0.1', peerPort, null);
    s.paused = true;
    const ev = this.events.connection(s, { address: '127.0.0.1', port: peerPort });
    if (ev === null) return null;
    s.events = ev;
    this.accepted.push(s);
    return s;
  }
}

export class FakeUdpSocket implements HostUdpSocket {
  readonly sent: { data: Uint8Array; address: string; port: number }[] = [];
  closed = false;
  constructor(
    private readonly host: FakeUserNetHost,
    readonly events: HostUdpEvents,
    readonly bind: UdpBindOptions | undefined,
  ) {}

  send(data: Uint8Array, address: string, port: number): void {
    if (this.closed) throw new Error('send after close');
    if (port <= 0 || port > 65535) throw new Error(`bad port ${port}`);
    this.sent.push({ data, address, port });
  }
  close(): void {
    this.closed = true;
  }
  /** A datagram arrives from address:port. */
  receive(data: Uint8Array, address: string, port: number): void {
    this.host.queue(() => {
      if (!this.closed) this.events.message(data, address, port);
    });
  }
}

interface FakeTimer {
  due: number;
  order: number;
  callback: () => void;
  cancelled: boolean;
}

export interface DnsCall {
  query: Uint8Array;
  callback: (response: Uint8Array | null) => void;
}

export class FakeUserNetHost implements UserNetHost {
  time = 1000;
  readonly connects: FakeTcpSocket[] = [];
  readonly listeners: FakeTcpListener[] = [];
  readonly udpSockets: FakeUdpSocket[] = [];
  readonly dnsCalls: DnsCall[] = [];
  /** Accept every outgoing TCP connection automatically. */
  autoConnect = false;
  /** Report listening for every listener automatically (port 0 becomes 30000+n). */
  autoListen = true;
  /** Writes stay in bufferedBytes() until drain() (flow-control tests). */
  holdWrites = false;
  private timers: FakeTimer[] = [];
  private order = 0;
  private pending: (() => void)[] = [];

  now(): number {
    return this.time;
  }

  setTimer(delayMs: number, callback: () => void): UserNetTimer {
    const t: FakeTimer = { due: this.time + Math.max(0, delayMs), order: this.order++, callback, cancelled: false };
    this.timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  tcpConnect(address: string, port: number, events: HostTcpEvents): HostTcpSocket {
    const s = new FakeTcpSocket(this, address, port, events);
    this.connects.push(s);
    if (this.autoConnect) s.accept();
    return s;
  }

  tcpListen(address: string, port: number, events: HostTcpListenEvents): HostTcpListener {
    const l = new FakeTcpListener(this, address, port, events);
    this.listeners.push(l);
    if (this.autoListen) this.queue(() => events.listening(port === 0 ? 30000 + this.listeners.length : port));
    return l;
  }

  udpOpen(events: HostUdpEvents, bind?: UdpBindOptions): HostUdpSocket {
    const s = new FakeUdpSocket(this, events, bind);
    this.udpSockets.push(s);
    if (bind !== undefined && this.autoListen) this.queue(() => events.listening?.(bind.port === 0 ? 31000 + this.udpSockets.length : bind.port));
    return s;
  }

  dnsQuery(query: Uint8Array, callback: (response: Uint8Array | null) => void): void {
    this.dnsCalls.push({ query, callback });
  }

  /** Answers a recorded DNS query (asynchronously, as the contract says). */
  answerDns(call: DnsCall, response: Uint8Array | null): void {
    this.queue(() => call.callback(response));
  }

  queue(event: () => void): void {
    this.pending.push(event);
  }

  /** Delivers queued events (and those they queue) in order. */
  deliver(): void {
    for (let i = 0; i < this.pending.length; i++) this.pending[i]();
    this.pending = [];
  }

  /** Moves the clock, firing due timers in order, and delivers events. */
  advance(ms: number): void {
    const target = this.time + ms;
    this.deliver();
    for (;;) {
      let next: FakeTimer | null = null;
      for (const t of this.timers) {
        if (t.cancelled || t.due > target) continue;
        if (next === null || t.due < next.due || (t.due === next.due && t.order < next.order)) next = t;
      }
      if (next === null) break;
      this.time = Math.max(this.time, next.due);
      next.cancelled = true;
      next.callback();
      this.deliver();
    }
    this.timers = this.timers.filter((t) => !t.cancelled);
    this.time = target;
  }

  /** Timers still pending. */
  get timerCount(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
