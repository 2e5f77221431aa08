/**
 * A minimal TCP endpoint playing the guest in tests: active or passive open, in-order receive with
 * an immediate cumulative ACK for every segment (out-of-order segments are dropped and re-ACKed),
 * a receive buffer the test drains with read() (so the window can close), sending within the
 * peer's window, FIN and RST. No timers: the backend is the side that must recover from loss.
 */

import { F_ACK, F_FIN, F_PSH, F_RST, F_SYN, GATEWAY_IP, GUEST_IP, concat, fromUtf8, synOptions, utf8, tcpFrame, type ParsedFrame } from './frames.js';

type Tcp = NonNullable<ParsedFrame['tcp']>;

export interface GuestTcpOptions {
  /** Delivers a frame to the backend. */
  send: (frame: Uint8Array) => void;
  localIp?: number;
  localPort: number;
  remoteIp?: number;
  remotePort: number;
  /** Receive buffer size (bytes held until read()). */
  rcvBuf?: number;
  mss?: number;
  /** Window scale to offer; undefined offers none. */
  wscale?: number;
  /** Read everything as it arrives (window stays open). */
  autoRead?: boolean;
  /** Drop out-of-order segments instead of queueing them (the harshest receiver). */
  discardOutOfOrder?: boolean;
}

function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export class GuestTcp {
  state: 'closed' | 'syn-sent' | 'listen' | 'syn-rcvd' | 'established' | 'fin-wait' | 'close-wait' | 'done' = 'closed';
  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  remotePort: number;
  reset = false;
  /** The peer's FIN arrived. */
  peerClosed = false;
  /** Bytes received and read. */
  readonly received: Uint8Array[] = [];
  receivedBytes = 0;
  /** Segments that arrived out of order or duplicated (seen the loss). */
  outOfOrder = 0;
  duplicates = 0;
  /** Window values the peer advertised (scaled). */
  peerWindow = 0;
  peerMss = 536;
  segmentsIn = 0;

  private readonly opts: GuestTcpOptions;
  private readonly rcvBuf: number;
  private unread: Uint8Array[] = [];
  private unreadBytes = 0;
  private iss = 0x10000000;
  private sndUna = 0;
  private sndNxt = 0;
  private rcvNxt = 0;
  private peerShift = 0;
  private myShift = 0;
  private sendQueue: Uint8Array = new Uint8Array(0);
  /** Offset in sendQueue of sndUna. */
  private closeRequested = false;
  /** Out-of-order segments by sequence number. */
  private readonly ooo = new Map<number, Uint8Array>();
  private finSent = false;

  constructor(opts: GuestTcpOptions) {
    this.opts = opts;
    this.localIp = opts.localIp ?? GUEST_IP;
    this.localPort = opts.localPort;
    this.remoteIp = opts.remoteIp ?? GATEWAY_IP;
    this.remotePort = opts.remotePort;
    this.rcvBuf = opts.rcvBuf ?? 256 * 1024;
  }

  connect(): void {
    this.state = 'syn-sent';
    this.sndUna = this.iss;
    this.sndNxt = this.iss + 1;
    this.emit(this.iss, F_SYN, new Uint8Array(0), synOptions(this.opts.mss ?? 1460, this.opts.wscale));
  }

  /** Waits for a SYN to localPort (from any remote port). */
  listen(): void {
    this.state = 'listen';
  }

  /** Whether a parsed frame belongs to this endpoint. */
  matches(f: ParsedFrame): boolean {
    if (!f.tcp || !f.ip || f.ip.dst !== this.localIp || f.tcp.dstPort !== this.localPort || f.ip.src !== this.remoteIp) return false;
    return this.state === 'listen' || f.tcp.srcPort === this.remotePort;
  }

  write(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? utf8(data) : data;
    this.sendQueue = concat([this.sendQueue, bytes]);
    this.pump();
  }

  close(): void {
    this.closeRequested = true;
    this.pump();
  }

  abort(): void {
    this.emit(this.sndNxt, F_RST | F_ACK, new Uint8Array(0));
    this.state = 'done';
  }

  /** Reads up to `max` buffered bytes (opening the window again). */
  read(max = Infinity, sendWindowUpdate = true): Uint8Array {
    const parts: Uint8Array[] = [];
    let n = 0;
    while (this.unread.length > 0 && n < max) {
      const c = this.unread[0];
      const take = Math.min(c.length, max - n);
      parts.push(c.subarray(0, take));
      if (take === c.length) this.unread.shift();
      else this.unread[0] = c.subarray(take);
      n += take;
    }
    this.unreadBytes -= n;
    const out = concat(parts);
    this.received.push(out);
    this.receivedBytes += out.length;
    if (n > 0 && sendWindowUpdate && this.state !== 'done') this.ack(); // window update
    return out;
  }

  get bufferedUnread(): number {
    return this.unreadBytes;
  }

  text(): string {
    return fromUtf8(concat(this.received));
  }

  bytes(): Uint8Array {
    return concat(this.received);
  }

  /** Bytes written but not yet acknowledged by the peer, plus unsent ones. */
  get unacked(): number {
    return this.sendQueue.length;
  }

  input(f: ParsedFrame): void {
    const t = f.tcp as Tcp;
    this.segmentsIn++;
    if (!t.checksumOk) throw new Error('backend sent a TCP segment with a bad checksum');
    if (t.flags & F_RST) {
      this.reset = true;
      this.state = 'done';
      return;
    }
    if (this.state === 'listen') {
      if (!(t.flags & F_SYN)) return;
      this.remotePort = t.srcPort;
      this.rcvNxt = (t.seq + 1) >>> 0;
      this.takeOptions(t);
      this.state = 'syn-rcvd';
      this.sndUna = this.iss;
      this.sndNxt = this.iss + 1;
      this.emit(this.iss, F_SYN | F_ACK, new Uint8Array(0), synOptions(this.opts.mss ?? 1460, t.wscale !== undefined ? this.opts.wscale : undefined));
      return;
    }
    if (this.state === 'syn-sent') {
      if ((t.flags & (F_SYN | F_ACK)) !== (F_SYN | F_ACK) || t.ack !== this.sndNxt) return;
      this.rcvNxt = (t.seq + 1) >>> 0;
      this.takeOptions(t);
      this.sndUna = t.ack;
      this.peerWindow = t.window;
      this.state = 'established';
      this.ack();
      this.pump();
      return;
    }
    if (t.flags & F_SYN) {
      this.ack(); // a retransmitted SYN-ACK / SYN
      return;
    }
    if (this.state === 'syn-rcvd' && t.flags & F_ACK && t.ack === this.sndNxt) this.state = 'established';
    if (t.flags & F_ACK && !seqLt(t.ack, this.sndUna) && !seqLt(this.sndNxt, t.ack)) {
      let acked = (t.ack - this.sndUna) | 0;
      if (this.finSent && t.ack === this.sndNxt) acked--; // our FIN
      this.sendQueue = this.sendQueue.subarray(Math.min(acked, this.sendQueue.length));
      this.sndUna = t.ack;
      this.peerWindow = t.window << this.peerShift;
    }
    const len = t.payload.length;
    if (len > 0 || t.flags & F_FIN) {
      if (t.seq !== this.rcvNxt) {
        if (seqLt(t.seq, this.rcvNxt)) this.duplicates++;
        else {
          this.outOfOrder++;
          const ahead = (t.seq - this.rcvNxt) | 0;
          if (!this.opts.discardOutOfOrder && len > 0 && !(t.flags & F_FIN) && ahead + len <= this.rcvBuf - this.unreadBytes) {
            this.ooo.set(t.seq, t.payload.slice());
          }
        }
        this.ack();
        return;
      }
      if (len > 0) {
        const room = this.rcvBuf - this.unreadBytes;
        const take = Math.min(room, len);
        if (take > 0) {
          this.unread.push(t.payload.slice(0, take));
          this.unreadBytes += take;
          this.rcvNxt = (this.rcvNxt + take) >>> 0;
        }
        if (take < len) {
          this.ack();
          return;
        }
        // Segments queued out of order that now continue the stream.
        for (let next = this.ooo.get(this.rcvNxt); next !== undefined; next = this.ooo.get(this.rcvNxt)) {
          this.ooo.delete(this.rcvNxt);
          this.unread.push(next);
          this.unreadBytes += next.length;
          this.rcvNxt = (this.rcvNxt + next.length) >>> 0;
        }
        for (const k of [...this.ooo.keys()]) if (seqLt(k, this.rcvNxt)) this.ooo.delete(k);
      }
      if (t.flags & F_FIN) {
        this.rcvNxt = (this.rcvNxt + 1) >>> 0;
        this.peerClosed = true;
        if (this.state === 'established') this.state = 'close-wait';
      }
      if (this.opts.autoRead) this.read(Infinity, false);
      this.ack();
    }
    if (this.finSent && this.sndUna === this.sndNxt && this.peerClosed) this.state = 'done';
    this.pump();
  }

  private takeOptions(t: Tcp): void {
    this.peerMss = t.mss ?? 536;
    if (t.wscale !== undefined && this.opts.wscale !== undefined) {
      this.peerShift = t.wscale;
      this.myShift = this.opts.wscale;
    }
  }

  private window(): number {
    return Math.min(0xffff, Math.max(0, this.rcvBuf - this.unreadBytes) >>> this.myShift);
  }

  private ack(): void {
    this.emit(this.sndNxt, F_ACK, new Uint8Array(0));
  }

  /** Sends queued data within the peer's window, then the FIN if asked. */
  private pump(): void {
    if (this.state !== 'established' && this.state !== 'close-wait') return;
    const mss = Math.min(this.peerMss, this.opts.mss ?? 1460);
    for (;;) {
      const offset = (this.sndNxt - this.sndUna) | 0;
      const avail = this.sendQueue.length - offset;
      const room = this.peerWindow - offset;
      const len = Math.min(avail, mss, room);
      if (len <= 0 || this.finSent) break;
      // State first: the backend may answer synchronously, from inside emit().
      const seq = this.sndNxt;
      this.sndNxt = (this.sndNxt + len) >>> 0;
      this.emit(seq, F_ACK | F_PSH, this.sendQueue.subarray(offset, offset + len));
    }
    if (this.closeRequested && !this.finSent && ((this.sndNxt - this.sndUna) | 0) === this.sendQueue.length) {
      const seq = this.sndNxt;
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      this.finSent = true;
      this.state = this.state === 'close-wait' ? 'done' : 'fin-wait';
      this.emit(seq, F_FIN | F_ACK, new Uint8Array(0));
    }
  }

  private emit(seq: number, flags: number, payload: Uint8Array, options?: Uint8Array): void {
    this.opts.send(
      tcpFrame({
        src: this.localIp,
        dst: this.remoteIp,
        srcPort: this.localPort,
        dstPort: this.remotePort,
        seq,
        ack: flags & F_ACK ? this.rcvNxt : 0,
        flags,
        window: flags & F_SYN ? Math.min(0xffff, this.rcvBuf) : this.window(),
        options,
        payload,
      }),
    );
  }
}
