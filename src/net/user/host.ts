/**
 * What the user-mode network needs from the host, injected so the NAT core imports no Node module:
 * a monotonic clock and timers, TCP connections and listeners, UDP sockets and a DNS resolver.
 * The Node implementation is src/host/user-net-host.ts; tests use testing/fake-host.ts.
 *
 * Rules every implementation follows:
 * - Event callbacks never run synchronously inside the call that causes them (as with Node's
 *   sockets): the core may call `write`, `end`, `abort`... while its state is half updated.
 * - After `closed` (TCP) or `close()` (any handle), no more events arrive for that handle.
 * - Addresses are IPv4 dotted quads; the core only ever asks to connect or send where the guest
 *   asked (10.0.2.2 becomes 127.0.0.1 before it reaches the host) and to listen where the
 *   configuration's host forwards say.
 */

export interface UserNetTimer {
  cancel(): void;
}

/** Events of one host TCP connection, delivered to the core. */
export interface HostTcpEvents {
  /** An outgoing connection is established (never sent for accepted connections). */
  connected(): void;
  /** Bytes from the peer; the core takes ownership of `data`. */
  data(data: Uint8Array): void;
  /** The peer half-closed its side (FIN received); the core may still write. */
  end(): void;
  /** The write buffer drained below its high-water mark (bufferedBytes() decreased). */
  drain(): void;
  /**
   * The connection is gone. `error` is a short code ('ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'...)
   * when it failed or was reset (including a failed connect), undefined after an orderly close.
   */
  closed(error?: string): void;
}

export interface HostTcpSocket {
  /** Queues bytes to the peer; the host takes ownership of `data`. */
  write(data: Uint8Array): void;
  /** Bytes written but not yet handed to the host's network stack. */
  bufferedBytes(): number;
  /** Half-closes (sends FIN after queued data). */
  end(): void;
  /** Stops / restarts `data` events (flow control towards the peer). */
  pause(): void;
  resume(): void;
  /** Drops the connection at once, with a reset when the host can send one. */
  abort(): void;
}

export interface HostTcpPeer {
  address: string;
  port: number;
}

export interface HostTcpListenEvents {
  /** Listening; `port` is the bound port (useful when 0 was asked). */
  listening(port: number): void;
  /**
   * A connection was accepted. It starts paused (no `data` until `resume()`); the core returns the
   * events to deliver for it, or null to refuse it (the host then aborts it).
   */
  connection(socket: HostTcpSocket, peer: HostTcpPeer): HostTcpEvents | null;
  /** Listening failed (e.g. 'EADDRINUSE'); no more events follow. */
  error(code: string, message: string): void;
}

export interface HostTcpListener {
  /** Stops accepting; connections already accepted are not affected. */
  close(): void;
}

export interface HostUdpEvents {
  /** Listening; `port` is the bound port. */
  listening?(port: number): void;
  /** A datagram from address:port; the core takes ownership of `data`. */
  message(data: Uint8Array, address: string, port: number): void;
  error(code: string, message: string): void;
}

export interface HostUdpSocket {
  send(data: Uint8Array, address: string, port: number): void;
  close(): void;
}

export interface UdpBindOptions {
  address: string;
  port: number;
}

export interface UserNetHost {
  /** Milliseconds from a monotonic clock. */
  now(): number;
  setTimer(delayMs: number, callback: () => void): UserNetTimer;
  tcpConnect(address: string, port: number, events: HostTcpEvents): HostTcpSocket;
  tcpListen(address: string, port: number, events: HostTcpListenEvents): HostTcpListener;
  /** A UDP socket, bound to `bind` or to an ephemeral port on all addresses. */
  udpOpen(events: HostUdpEvents, bind?: UdpBindOptions): HostUdpSocket;
  /**
   * Resolves one DNS message (RFC 1035 §4, as sent over UDP) with the host's resolver; the callback
   * gets the raw response or null when no answer came. Called asynchronously, at most once.
   */
  dnsQuery(query: Uint8Array, callback: (response: Uint8Array | null) => void): void;
}
