/**
 * DNS over TCP to the relay address (RFC 1035 §4.2.2, RFC 7766): resolvers retry a truncated UDP
 * answer over TCP. The guest's TCP connection to 10.0.2.3:53 is terminated by tcp.ts as usual, but
 * instead of a host socket it is bridged to this in-core stream: every length-prefixed query goes
 * through UserNetHost.dnsQuery and its answer comes back length-prefixed.
 */

import type { HostTcpEvents, HostTcpSocket, UserNetHost, UserNetTimer } from './host.js';

/** Queries one connection may have outstanding (RFC 7766 §6.2.1.1 pipelining, bounded). */
const MAX_PENDING = 16;
/** Largest DNS message over TCP (the length prefix is 16 bits). */
const MAX_MESSAGE = 0xffff;

export class DnsTcpStream implements HostTcpSocket {
  private readonly host: UserNetHost;
  private readonly serverFailure: (query: Uint8Array) => Uint8Array;
  private readonly onQuery: () => void;
  private events: HostTcpEvents | null = null;
  private buf = new Uint8Array(0);
  private pending = 0;
  private ended = false;
  private closed = false;
  /** Pending zero-delay timers (events are never delivered synchronously). */
  private readonly timers = new Set<UserNetTimer>();

  /** `serverFailure` builds the SERVFAIL answer used when the host resolver gives none; `onQuery` counts queries. */
  constructor(host: UserNetHost, serverFailure: (query: Uint8Array) => Uint8Array, onQuery: () => void = () => undefined) {
    this.host = host;
    this.serverFailure = serverFailure;
    this.onQuery = onQuery;
  }

  /** Wires the events and reports the connection as established (asynchronously, as hosts do). */
  open(events: HostTcpEvents): void {
    this.events = events;
    this.later(() => this.events?.connected());
  }

  write(data: Uint8Array): void {
    if (this.closed) return;
    const joined = new Uint8Array(this.buf.length + data.length);
    joined.set(this.buf);
    joined.set(data, this.buf.length);
    this.buf = joined;
    while (this.buf.length >= 2) {
      const len = (this.buf[0] << 8) | this.buf[1];
      if (len < 12) {
        this.fail('EPROTO'); // shorter than a DNS header: not DNS
        return;
      }
      if (this.buf.length < 2 + len) break;
      const query = this.buf.slice(2, 2 + len);
      this.buf = this.buf.slice(2 + len);
      if (this.pending >= MAX_PENDING) {
        this.fail('EPROTO');
        return;
      }
      this.pending++;
      this.onQuery();
      let answered = false;
      this.host.dnsQuery(query, (response) => {
        if (answered) return;
        answered = true;
        this.pending--;
        if (this.closed) return;
        const body = response !== null && response.length >= 12 && response.length <= MAX_MESSAGE ? response : this.serverFailure(query);
        const out = new Uint8Array(2 + body.length);
        out[0] = body.length >>> 8;
        out[1] = body.length & 0xff;
        out.set(body, 2);
        this.events?.data(out);
        this.maybeFinish();
      });
    }
  }

  bufferedBytes(): number {
    return 0;
  }

  end(): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    this.later(() => this.maybeFinish());
  }

  pause(): void {
    // Answers are small and bounded by MAX_PENDING: no flow control needed.
  }

  resume(): void {}

  abort(): void {
    this.closed = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
  }

  /** After the guest's FIN and the last answer: our FIN, then gone. */
  private maybeFinish(): void {
    if (this.closed || !this.ended || this.pending > 0) return;
    this.closed = true;
    this.events?.end();
    this.events?.closed(undefined);
  }

  private fail(code: string): void {
    if (this.closed) return;
    this.closed = true;
    this.later(() => this.events?.closed(code));
  }

  private later(fn: () => void): void {
    const t = this.host.setTimer(0, () => {
      this.timers.delete(t);
      fn();
    });
    this.timers.add(t);
  }
}
