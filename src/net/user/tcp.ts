/**
 * One TCP connection of the user-mode network: a TCP endpoint (RFC 9293) facing the guest, bridged
 * to a host TCP socket. The guest sees a peer at the address it connected to (or, for host
 * forwards, the gateway); bytes flow between the guest and the host socket.
 *
 *   guest --SYN--> [connecting] --host connects--> SYN-ACK [syn-rcvd] --ACK--> [established]
 *   host forward:  accept --> SYN [syn-sent] --SYN-ACK--> ACK [established]
 *   host FIN (end) ---> our FIN:  established -> fin-wait-1 -> fin-wait-2 / closing -> time-wait
 *   guest FIN -> host end():      established -> close-wait -> (host end) last-ack -> closed
 *
 * Towards the guest: MSS and window scale options (RFC 7323), retransmission with an RFC 6298 timer
 * (Karn's rule, exponential backoff), go-back-N on timeout, fast retransmit on three duplicate ACKs
 * with NewReno-style recovery (RFC 6582), slow start and congestion avoidance (RFC 5681) so bursts
 * do not overrun the NIC's receive ring, and zero-window probes. From the guest: in-order data
 * only (out-of-order segments are answered with a duplicate ACK), RST and SYN checks of RFC 5961.
 *
 * Flow control: host data beyond SND_BUF_MAX bytes not yet acknowledged by the guest pauses the host
 * socket; the window advertised to the guest is what the host socket's write buffer can still take.
 */

import { ByteQueue } from './byte-queue.js';
import type { HostTcpSocket, UserNetTimer } from './host.js';
import {
  IPPROTO_TCP,
  L4_OFFSET,
  TCP_ACK,
  TCP_FIN,
  TCP_HLEN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCPOPT_MSS,
  TCPOPT_NOP,
  TCPOPT_WSCALE,
  newIpv4Frame,
  setTransportChecksum,
  writeU16,
  writeU32,
  type Ipv4,
} from './wire.js';

/** Our MSS: an Ethernet MTU minus IPv4 and TCP headers. */
export const TCP_OUR_MSS = 1460;
/** RFC 9293 §3.7.1: the MSS assumed when the peer sends none. */
const DEFAULT_MSS = 536;
/** Lower bound on the guest's MSS, so a hostile tiny MSS cannot make us send 1-byte segments. */
const MIN_MSS = 64;
/** Host bytes buffered for the guest before the host socket is paused. */
export const TCP_SND_BUF_MAX = 256 * 1024;
/** Guest bytes we accept into the host socket's write buffer (our receive window). */
export const TCP_RCV_BUF = 256 * 1024;
/** Our window scale: 65535 << 3 covers TCP_RCV_BUF. */
const RCV_WSCALE = 3;
/** RFC 7323 §2.3: the largest shift. */
const MAX_WSCALE = 14;
const RTO_INITIAL_MS = 1000;
/** Below RFC 6298's 1 s, as Linux does: the link is local, but the guest may be slow to ACK. */
const RTO_MIN_MS = 250;
const RTO_MAX_MS = 60_000;
/** Consecutive timeouts with an open window before the connection is given up. */
const MAX_RETRANSMITS = 12;
const SYN_RETRIES = 6;
/** Shortened 2*MSL: the only peer that could send stray segments is the local guest. */
const TIME_WAIT_MS = 2000;
/** How long a host connect may take before the guest gets a reset. */
const CONNECT_TIMEOUT_MS = 75_000;
const INITIAL_CWND_SEGMENTS = 10;
const MAX_CWND = 16 * 1024 * 1024;

export type TcpState =
  | 'connecting'
  | 'syn-sent'
  | 'syn-rcvd'
  | 'established'
  | 'fin-wait-1'
  | 'fin-wait-2'
  | 'close-wait'
  | 'closing'
  | 'last-ack'
  | 'time-wait'
  | 'closed';

/** A TCP segment from the guest, already validated; `payload` is a view that must be copied to keep. */
export interface TcpSegmentIn {
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payload: Uint8Array;
  /** Option values, -1 when absent. */
  mss: number;
  wscale: number;
}

/** What a connection needs from the backend. */
export interface TcpContext {
  now(): number;
  setTimer(delayMs: number, callback: () => void): UserNetTimer;
  /** Delivers a frame made by newIpv4Frame to the guest. */
  output(frame: Uint8Array): void;
  /** The connection is finished; forget it. */
  remove(conn: TcpConnection): void;
  nextIpId(): number;
  nextIsn(): number;
  /** True while the guest's device hands over a burst of frames (NetBackend.beginBurst). */
  inBurst(): boolean;
  /** Calls conn.flushDeferredAck() at the end of the burst. */
  deferAck(conn: TcpConnection): void;
}

export interface TcpEndpoints {
  guestIp: Ipv4;
  guestPort: number;
  /** The peer as the guest sees it. */
  remoteIp: Ipv4;
  remotePort: number;
}

/** Signed distance a - b in sequence space. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** A reset for a segment that belongs to no connection (RFC 9293 §3.10.7.1). */
export function buildResetFor(ep: TcpEndpoints, seg: TcpSegmentIn, ident: number): Uint8Array {
  if (seg.flags & TCP_ACK) return buildSegment(ep, seg.ack, 0, TCP_RST, 0, ident);
  let len = seg.payload.length;
  if (seg.flags & TCP_SYN) len++;
  if (seg.flags & TCP_FIN) len++;
  return buildSegment(ep, 0, seqAdd(seg.seq, len), TCP_RST | TCP_ACK, 0, ident);
}

/** A TCP segment without options or data, from the remote end to the guest. */
function buildSegment(ep: TcpEndpoints, seq: number, ack: number, flags: number, window: number, ident: number): Uint8Array {
  const frame = newIpv4Frame(ep.remoteIp, ep.guestIp, IPPROTO_TCP, TCP_HLEN, ident);
  const t = L4_OFFSET;
  writeU16(frame, t, ep.remotePort);
  writeU16(frame, t + 2, ep.guestPort);
  writeU32(frame, t + 4, seq);
  writeU32(frame, t + 8, ack);
  frame[t + 12] = (TCP_HLEN / 4) << 4;
  frame[t + 13] = flags;
  writeU16(frame, t + 14, window);
  setTransportChecksum(frame);
  return frame;
}

export class TcpConnection implements TcpEndpoints {
  readonly key: string;
  readonly guestIp: Ipv4;
  readonly guestPort: number;
  readonly remoteIp: Ipv4;
  readonly remotePort: number;
  state: TcpState;
  /** Whether the guest opened it (false: a host forward). */
  readonly outbound: boolean;

  private readonly ctx: TcpContext;
  private socket: HostTcpSocket | null = null;
  /** The host socket reported `closed`. */
  private hostGone = false;
  /** An ACK is held back until the end of the current burst (flushDeferredAck). */
  private ackDeferred = false;
  /** The acknowledgement number our last segment carried. */
  private ackedTo = -1;
  private hostPaused = false;
  /** We called end() on the host socket (the guest sent FIN). */
  private hostWriteEnded = false;

  // Send side (our bytes to the guest).
  private readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  /** Highest sequence number sent (sndNxt goes back on a timeout, sndMax does not). */
  private sndMax: number;
  private sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private sndShift = 0;
  /** The largest window the guest offered (for silly-window avoidance). */
  private maxSndWnd = 0;
  /** Bytes from sndUna on: sent but unacknowledged, then not yet sent. */
  private readonly sendBuf = new ByteQueue();
  /** The host ended its side: a FIN follows the buffered bytes. */
  private finQueued = false;
  /** The FIN went out at least once. */
  private finSent = false;
  private mss = DEFAULT_MSS;
  private cwnd = DEFAULT_MSS * INITIAL_CWND_SEGMENTS;
  private ssthresh = MAX_CWND;
  private dupAcks = 0;
  private inRecovery = false;
  private recover = 0;
  private srtt = 0;
  private rttvar = 0;
  private haveRtt = false;
  private rto = RTO_INITIAL_MS;
  private rttTiming = false;
  private rttSeq = 0;
  private rttStartMs = 0;
  private retransmits = 0;

  // Receive side (the guest's bytes to us).
  private irs = 0;
  private rcvNxt = 0;
  /** rcvNxt + the window last advertised: the right edge never moves left. */
  private rcvAdvEdge = 0;
  private rcvShift = 0;
  /** We offer window scaling (host forwards always; outbound when the guest did). */
  private offerWscale = false;
  private guestFin = false;

  private timer: UserNetTimer | null = null;
  /** When the pending timer fires, and when the work it stands for is due (0: none). */
  private timerFireAt = 0;
  private timerDeadline = 0;
  private removed = false;

  private constructor(ctx: TcpContext, ep: TcpEndpoints, state: TcpState, outbound: boolean) {
    this.ctx = ctx;
    this.guestIp = ep.guestIp;
    this.guestPort = ep.guestPort;
    this.remoteIp = ep.remoteIp;
    this.remotePort = ep.remotePort;
    this.key = tcpKey(ep.guestIp, ep.guestPort, ep.remoteIp, ep.remotePort);
    this.state = state;
    this.outbound = outbound;
    this.iss = ctx.nextIsn() >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
  }

  /** A connection the guest opens with `syn`; the caller then connects the host socket. */
  static fromGuestSyn(ctx: TcpContext, ep: TcpEndpoints, syn: TcpSegmentIn): TcpConnection {
    const c = new TcpConnection(ctx, ep, 'connecting', true);
    c.irs = syn.seq;
    c.rcvNxt = seqAdd(syn.seq, 1);
    c.rcvAdvEdge = c.rcvNxt;
    c.takeSynOptions(syn);
    c.offerWscale = syn.wscale >= 0;
    c.sndWnd = syn.window;
    c.armTimer(CONNECT_TIMEOUT_MS);
    return c;
  }

  /** A connection to the guest for an accepted host socket (paused until established). */
  static toGuest(ctx: TcpContext, ep: TcpEndpoints, socket: HostTcpSocket): TcpConnection {
    const c = new TcpConnection(ctx, ep, 'syn-sent', false);
    c.socket = socket;
    c.hostPaused = true;
    c.offerWscale = true;
    c.sendSyn();
    return c;
  }

  /** Attaches the host socket of an outbound connection (its events arrive later). */
  attachSocket(socket: HostTcpSocket): void {
    this.socket = socket;
  }

  /** Bytes buffered towards the guest (for tests and stats). */
  get bufferedToGuest(): number {
    return this.sendBuf.length;
  }

  // ---- host socket events ----

  onHostConnected(): void {
    if (this.removed || this.state !== 'connecting') return;
    this.state = 'syn-rcvd';
    this.retransmits = 0;
    this.sendSyn();
  }

  onHostData(data: Uint8Array): void {
    if (this.removed || this.finQueued) return;
    this.sendBuf.push(data);
    if (!this.hostPaused && this.sendBuf.length > TCP_SND_BUF_MAX && this.socket !== null) {
      this.socket.pause();
      this.hostPaused = true;
    }
    this.output(false);
  }

  onHostEnd(): void {
    if (this.removed || this.finQueued) return;
    this.finQueued = true;
    if (this.state === 'established') this.state = 'fin-wait-1';
    else if (this.state === 'close-wait') this.state = 'last-ack';
    this.output(false);
  }

  onHostDrain(): void {
    if (this.removed || !this.isSynchronized()) return;
    // Tell the guest the window reopened if what it was last told is small.
    if (seqDiff(this.rcvAdvEdge, this.rcvNxt) < Math.max(this.mss, TCP_RCV_BUF >>> 2) && this.windowAvailable() > seqDiff(this.rcvAdvEdge, this.rcvNxt)) {
      this.sendAck();
    }
  }

  onHostClosed(error: string | undefined): void {
    if (this.removed) return;
    this.hostGone = true;
    if (this.state === 'connecting') {
      // The connect failed: refuse the guest's SYN.
      this.ctx.output(buildSegment(this, 0, this.rcvNxt, TCP_RST | TCP_ACK, 0, this.ctx.nextIpId()));
      this.finish(false);
      return;
    }
    if (error !== undefined || this.state === 'syn-sent') {
      this.resetGuest();
      return;
    }
    // An orderly close we did not see an end for: treat as the host's FIN.
    if (!this.finQueued) this.onHostEnd();
  }

  // ---- segments from the guest ----

  /** Handles a segment for this connection; false when it opens a new connection instead (a SYN in TIME-WAIT). */
  input(seg: TcpSegmentIn): boolean {
    if (this.removed) return true;
    switch (this.state) {
      case 'connecting':
        if (seg.flags & TCP_RST) {
          if (seg.seq === this.rcvNxt || seg.seq === this.irs) this.finish(true);
          return true;
        }
        return true; // a retransmitted SYN: the SYN-ACK follows when the host connects
      case 'syn-sent':
        this.inputSynSent(seg);
        return true;
      case 'time-wait':
        if ((seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && seqDiff(seg.seq, this.rcvNxt) > 0) {
          this.finish(false);
          return false;
        }
        break;
      case 'closed':
        return true;
      default:
        break;
    }
    this.inputSynchronized(seg);
    return true;
  }

  private inputSynSent(seg: TcpSegmentIn): void {
    const ackOk = (seg.flags & TCP_ACK) !== 0 && seg.ack === seqAdd(this.iss, 1);
    if (seg.flags & TCP_ACK && !ackOk) {
      if (!(seg.flags & TCP_RST)) this.ctx.output(buildSegment(this, seg.ack, 0, TCP_RST, 0, this.ctx.nextIpId()));
      return;
    }
    if (seg.flags & TCP_RST) {
      if (ackOk) this.finish(true); // connection refused by the guest
      return;
    }
    if (!(seg.flags & TCP_SYN) || !ackOk) return; // simultaneous open is not supported
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdvEdge = seqAdd(this.rcvNxt, Math.min(TCP_RCV_BUF, 0xffff));
    this.takeSynOptions(seg);
    if (seg.wscale >= 0) {
      this.sndShift = Math.min(seg.wscale, MAX_WSCALE);
      this.rcvShift = RCV_WSCALE;
    } else {
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.sndUna = seg.ack;
    this.sndWnd = seg.window; // never scaled in a SYN
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.disarmTimer();
    this.retransmits = 0;
    this.state = 'established';
    if (this.finQueued) this.state = 'fin-wait-1';
    if (this.socket !== null && this.hostPaused && this.sendBuf.length <= TCP_SND_BUF_MAX) {
      this.socket.resume();
      this.hostPaused = false;
    }
    if (!this.output(false)) this.sendAck();
  }

  private inputSynchronized(seg: TcpSegmentIn): void {
    const len = seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0);
    // 1. Sequence acceptability (RFC 9293 §3.10.7.4).
    const wnd = Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
    const start = seqDiff(seg.seq, this.rcvNxt);
    let acceptable: boolean;
    if (len === 0) acceptable = wnd === 0 ? start === 0 : start >= 0 && start < wnd;
    else acceptable = wnd === 0 ? false : (start >= 0 && start < wnd) || (start + len - 1 >= 0 && start + len - 1 < wnd);
    if (this.state === 'syn-rcvd' && seg.flags & TCP_SYN && !(seg.flags & TCP_ACK) && seg.seq === this.irs) {
      this.sendSyn(); // our SYN-ACK was lost
      return;
    }
    if (!acceptable) {
      // A zero-window probe or a retransmission: acknowledge. An in-window RST is handled below.
      if (!(seg.flags & TCP_RST)) this.sendAck();
      return;
    }
    // 2. RST (RFC 5961 §3): exact match resets, anything else in the window gets a challenge ACK.
    if (seg.flags & TCP_RST) {
      if (start === 0) this.finish(true);
      else this.sendAck();
      return;
    }
    // 4. SYN in a synchronized state (RFC 5961 §4): challenge ACK.
    if (seg.flags & TCP_SYN) {
      this.sendAck();
      return;
    }
    // 5. ACK.
    if (!(seg.flags & TCP_ACK)) return;
    if (this.state === 'syn-rcvd') {
      if (seqDiff(seg.ack, this.sndUna) <= 0 || seqDiff(seg.ack, this.sndMax) > 0) {
        this.ctx.output(buildSegment(this, seg.ack, 0, TCP_RST, 0, this.ctx.nextIpId()));
        return;
      }
      this.state = this.finQueued ? 'fin-wait-1' : 'established';
      this.sndUna = seqAdd(this.iss, 1); // our SYN is acknowledged; data starts after it
      this.retransmits = 0;
      this.disarmTimer();
      this.sndWnd = seg.window << this.sndShift;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
    }
    if (!this.processAck(seg)) return;
    if (this.removed) return;
    // 7. Data.
    let needAck = false;
    let dataDone = true;
    if (seg.payload.length > 0) {
      needAck = true;
      if (this.state === 'established' || this.state === 'fin-wait-1' || this.state === 'fin-wait-2') {
        if (this.hostGone || this.hostWriteEnded || this.socket === null) {
          this.resetGuest(); // nowhere to deliver it
          return;
        }
        if (start > 0) {
          dataDone = false; // out of order: the duplicate ACK asks for what is missing
        } else {
          const data = seg.payload.subarray(-start);
          const take = Math.min(data.length, Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt)));
          if (take > 0) {
            this.socket.write(data.slice(0, take));
            this.rcvNxt = seqAdd(this.rcvNxt, take);
          }
          dataDone = take === data.length;
        }
      }
    }
    // 8. FIN.
    if (seg.flags & TCP_FIN && dataDone) {
      needAck = true;
      if (!this.guestFin && seqAdd(seg.seq, seg.payload.length) === this.rcvNxt) {
        this.guestFin = true;
        this.rcvNxt = seqAdd(this.rcvNxt, 1);
        this.rcvAdvEdge = seqDiff(this.rcvAdvEdge, this.rcvNxt) < 0 ? this.rcvNxt : this.rcvAdvEdge;
        if (this.socket !== null && !this.hostGone && !this.hostWriteEnded) {
          this.hostWriteEnded = true;
          this.socket.end();
        }
        switch (this.state) {
          case 'established':
            this.state = 'close-wait';
            break;
          case 'fin-wait-1':
            this.state = this.finAcked() ? 'time-wait' : 'closing';
            break;
          case 'fin-wait-2':
            this.state = 'time-wait';
            break;
          default:
            break;
        }
        if (this.state === 'time-wait') this.enterTimeWait();
      } else if (this.state === 'time-wait') {
        this.enterTimeWait(); // the guest retransmitted its FIN: our ACK was lost
      }
    }
    if (!this.output(false) && needAck) {
      // In-order data that arrives in a burst (a whole transmit queue of the guest's) gets one
      // ACK for all of it, at the burst's end. Anything else (out of order, a FIN, more than the
      // window, a frame on its own) is acknowledged at once.
      if (!dataDone || (seg.flags & TCP_FIN) !== 0 || !this.ctx.inBurst()) this.sendAck();
      else if (!this.ackDeferred) {
        this.ackDeferred = true;
        this.ctx.deferAck(this);
      }
    }
  }

  /** End of a burst: the ACK held back for it, unless a segment has carried it meanwhile. */
  flushDeferredAck(): void {
    if (!this.ackDeferred) return;
    this.ackDeferred = false;
    if (!this.removed && this.ackedTo !== this.rcvNxt) this.sendAck();
  }

  /** ACK processing; false when the segment must be dropped. */
  private processAck(seg: TcpSegmentIn): boolean {
    const ack = seg.ack;
    if (seqDiff(ack, this.sndMax) > 0) {
      this.sendAck(); // acknowledges something we never sent
      return false;
    }
    const advance = seqDiff(ack, this.sndUna);
    const window = seg.window << this.sndShift;
    if (advance > 0) {
      const dataAcked = Math.min(advance, this.sendBuf.length);
      this.sendBuf.discard(dataAcked);
      this.sndUna = ack;
      if (seqDiff(this.sndNxt, this.sndUna) < 0) this.sndNxt = this.sndUna;
      this.retransmits = 0;
      this.dupAcks = 0;
      if (this.rttTiming && seqDiff(ack, this.rttSeq) >= 0) this.rttSample();
      else this.rto = this.computeRto(); // new data acknowledged: undo the timeout backoff (as Linux does)
      if (this.inRecovery) {
        if (seqDiff(ack, this.recover) >= 0) {
          this.inRecovery = false;
          this.cwnd = this.ssthresh;
        } else {
          this.retransmitFirst(); // a partial ACK: the next hole
          this.cwnd = Math.max(this.cwnd - advance + this.mss, this.mss);
        }
      } else if (this.cwnd < this.ssthresh) {
        this.cwnd = Math.min(this.cwnd + Math.min(advance, this.mss), MAX_CWND);
      } else {
        this.cwnd = Math.min(this.cwnd + Math.max(1, Math.floor((this.mss * this.mss) / this.cwnd)), MAX_CWND);
      }
      if (this.outstanding() > 0) this.armTimer(this.rto, true);
      else this.disarmTimer();
      if (this.hostPaused && this.socket !== null && !this.hostGone && this.sendBuf.length <= TCP_SND_BUF_MAX / 2 && this.state !== 'syn-sent') {
        this.socket.resume();
        this.hostPaused = false;
      }
      if (this.finQueued && this.finAcked()) {
        if (this.state === 'fin-wait-1') this.state = 'fin-wait-2';
        else if (this.state === 'closing') {
          this.state = 'time-wait';
          this.enterTimeWait();
        } else if (this.state === 'last-ack') {
          this.finish(false);
          return false;
        }
      }
    } else if (
      advance === 0 &&
      seg.payload.length === 0 &&
      !(seg.flags & TCP_FIN) &&
      window === this.sndWnd &&
      this.sndWnd !== 0 &&
      this.outstanding() > 0
    ) {
      this.dupAcks++;
      if (this.dupAcks === 3) {
        this.ssthresh = Math.max(this.outstanding() >>> 1, 2 * this.mss);
        this.retransmitFirst();
        this.cwnd = this.ssthresh + 3 * this.mss;
        this.inRecovery = true;
        this.recover = this.sndMax;
      } else if (this.dupAcks > 3) {
        this.cwnd = Math.min(this.cwnd + this.mss, MAX_CWND);
      }
    }
    // Window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2).
    if (advance >= 0 && (seqDiff(this.sndWl1, seg.seq) < 0 || (this.sndWl1 === seg.seq && seqDiff(this.sndWl2, ack) <= 0))) {
      this.sndWnd = window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
    }
    return true;
  }

  // ---- output ----

  private isSynchronized(): boolean {
    return this.state !== 'connecting' && this.state !== 'syn-sent' && this.state !== 'closed';
  }

  /** Sequence space sent and not yet acknowledged. */
  private outstanding(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }

  private finAcked(): boolean {
    return this.finQueued && this.finSent && this.sendBuf.length === 0 && this.sndUna === this.sndMax;
  }

  /**
   * Sends what the windows allow; `force` sends one segment even if the congestion window is full
   * (after a timeout). Sender silly-window avoidance (RFC 9293 §3.8.6.2.1): a short segment goes
   * only when it is all there is, nothing is in flight, or it is half the largest window seen.
   * Returns whether any segment was sent.
   */
  private output(force: boolean): boolean {
    if (this.removed) return false;
    const canSendData =
      this.state === 'established' || this.state === 'close-wait' || this.state === 'fin-wait-1' || this.state === 'last-ack' || this.state === 'closing';
    if (!canSendData) return false;
    let sent = false;
    let forced = force;
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndUna);
      const avail = this.sendBuf.length - offset;
      if (avail < 0) break; // the FIN is already out
      let room = Math.min(this.sndWnd, this.cwnd) - offset;
      if (forced) room = Math.max(room, Math.min(this.mss, this.sndWnd - offset));
      const len = Math.min(avail, this.mss, Math.max(room, 0));
      if (len > 0 && (len === avail || len === this.mss || offset === 0 || forced || len * 2 >= this.maxSndWnd)) {
        const fin = this.finQueued && len === avail;
        this.sendData(this.sndNxt, offset, len, fin);
        this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
        if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
        forced = false;
        sent = true;
        continue;
      }
      if (avail === 0 && this.finQueued) {
        this.sendData(this.sndNxt, offset, 0, true);
        this.sndNxt = seqAdd(this.sndNxt, 1);
        if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
        sent = true;
      }
      break;
    }
    if (this.outstanding() > 0) this.armTimer(this.rto, false);
    else if (this.sendBuf.length > 0 && this.sndWnd === 0) this.armTimer(this.rto, false); // persist
    return sent;
  }

  private sendData(seq: number, offset: number, len: number, fin: boolean): void {
    let flags = TCP_ACK;
    if (len > 0 && offset + len === this.sendBuf.length) flags |= TCP_PSH;
    if (fin) {
      flags |= TCP_FIN;
      this.finSent = true;
    }
    const frame = this.newSegment(seq, flags, 0, len);
    if (len > 0) this.sendBuf.copyTo(offset, len, frame, L4_OFFSET + TCP_HLEN);
    setTransportChecksum(frame);
    if (!this.rttTiming && len > 0 && seq === this.sndMax) {
      this.rttTiming = true;
      this.rttSeq = seqAdd(seq, len);
      this.rttStartMs = this.ctx.now();
    }
    this.ctx.output(frame);
  }

  /** Resends the first unacknowledged segment (fast retransmit, partial ACKs). */
  private retransmitFirst(): void {
    const len = Math.min(this.mss, this.sendBuf.length, this.outstanding());
    const fin = this.finQueued && len === this.sendBuf.length && this.finSent && len < this.outstanding();
    if (len === 0 && !fin) return;
    this.rttTiming = false; // Karn: no samples from retransmitted data
    this.sendData(this.sndUna, 0, len, fin);
  }

  private sendAck(): void {
    const frame = this.newSegment(this.sndNxt, TCP_ACK, 0, 0);
    setTransportChecksum(frame);
    this.ctx.output(frame);
  }

  /** SYN (host forward) or SYN-ACK (outbound), with MSS and, when agreed, window scale options. */
  private sendSyn(): void {
    const synAck = this.state === 'syn-rcvd';
    const wscale = this.offerWscale;
    const optLen = 4 + (wscale ? 4 : 0);
    const frame = this.newSegment(this.iss, synAck ? TCP_SYN | TCP_ACK : TCP_SYN, optLen, 0);
    const o = L4_OFFSET + TCP_HLEN;
    frame[o] = TCPOPT_MSS;
    frame[o + 1] = 4;
    writeU16(frame, o + 2, TCP_OUR_MSS);
    if (wscale) {
      frame[o + 4] = TCPOPT_NOP;
      frame[o + 5] = TCPOPT_WSCALE;
      frame[o + 6] = 3;
      frame[o + 7] = RCV_WSCALE;
    }
    setTransportChecksum(frame);
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.ctx.output(frame);
    this.armTimer(this.rto * (1 << Math.min(this.retransmits, 6)), true);
  }

  /** A frame for one segment with room for `optLen` option and `dataLen` data bytes (checksum not set). */
  private newSegment(seq: number, flags: number, optLen: number, dataLen: number): Uint8Array {
    const frame = newIpv4Frame(this.remoteIp, this.guestIp, IPPROTO_TCP, TCP_HLEN + optLen + dataLen, this.ctx.nextIpId());
    const t = L4_OFFSET;
    writeU16(frame, t, this.remotePort);
    writeU16(frame, t + 2, this.guestPort);
    writeU32(frame, t + 4, seq);
    if (flags & TCP_ACK) {
      writeU32(frame, t + 8, this.rcvNxt);
      this.ackedTo = this.rcvNxt;
    }
    frame[t + 12] = ((TCP_HLEN + optLen) / 4) << 4;
    frame[t + 13] = flags;
    writeU16(frame, t + 14, this.advertiseWindow(flags & TCP_SYN ? 0 : this.rcvShift));
    return frame;
  }

  /** Bytes the host socket can still take from the guest. */
  private windowAvailable(): number {
    const buffered = this.socket !== null && !this.hostGone ? this.socket.bufferedBytes() : 0;
    return Math.max(0, TCP_RCV_BUF - buffered);
  }

  /** The window field for the next segment; moves rcvAdvEdge right, never left. */
  private advertiseWindow(shift: number): number {
    const unit = 1 << shift;
    const promised = Math.max(0, seqDiff(this.rcvAdvEdge, this.rcvNxt));
    let field = Math.min(Math.floor(this.windowAvailable() / unit), 0xffff);
    field = Math.max(field, Math.min(Math.ceil(promised / unit), 0xffff));
    if (this.state !== 'syn-sent') {
      const edge = seqAdd(this.rcvNxt, field * unit);
      if (seqDiff(edge, this.rcvAdvEdge) > 0) this.rcvAdvEdge = edge;
    }
    return field;
  }

  private takeSynOptions(seg: TcpSegmentIn): void {
    const mss = seg.mss >= 0 ? seg.mss : DEFAULT_MSS;
    this.mss = Math.max(MIN_MSS, Math.min(mss, TCP_OUR_MSS));
    this.cwnd = this.mss * INITIAL_CWND_SEGMENTS;
    if (this.state === 'connecting') {
      this.sndShift = seg.wscale >= 0 ? Math.min(seg.wscale, MAX_WSCALE) : 0;
      this.rcvShift = seg.wscale >= 0 ? RCV_WSCALE : 0;
    }
  }

  /** RFC 6298 §2 estimator. */
  private rttSample(): void {
    if (!this.rttTiming) return;
    const r = Math.max(0, this.ctx.now() - this.rttStartMs);
    this.rttTiming = false;
    if (!this.haveRtt) {
      this.haveRtt = true;
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = this.computeRto();
  }

  private computeRto(): number {
    if (!this.haveRtt) return RTO_INITIAL_MS;
    return Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  // ---- timers ----

  /**
   * Asks for onTimer in `delayMs`. Without `restart`, an earlier pending deadline is kept. The host
   * timer is only replaced when it would fire too late; an early one re-arms itself.
   */
  private armTimer(delayMs: number, restart = false): void {
    const deadline = this.ctx.now() + delayMs;
    if (this.timerDeadline !== 0 && !restart && this.timerDeadline <= deadline) return;
    this.timerDeadline = deadline;
    if (this.timer !== null && this.timerFireAt <= deadline) return;
    this.timer?.cancel();
    this.timerFireAt = deadline;
    this.timer = this.ctx.setTimer(delayMs, () => this.timerFired());
  }

  private disarmTimer(): void {
    this.timerDeadline = 0;
  }

  private timerFired(): void {
    this.timer = null;
    if (this.removed || this.timerDeadline === 0) return;
    const now = this.ctx.now();
    if (now < this.timerDeadline) {
      this.timerFireAt = this.timerDeadline;
      this.timer = this.ctx.setTimer(this.timerDeadline - now, () => this.timerFired());
      return;
    }
    this.timerDeadline = 0;
    this.onTimeout();
  }

  private onTimeout(): void {
    switch (this.state) {
      case 'connecting':
        // The host connect is taking too long: give up.
        this.socket?.abort();
        this.ctx.output(buildSegment(this, 0, this.rcvNxt, TCP_RST | TCP_ACK, 0, this.ctx.nextIpId()));
        this.finish(false);
        return;
      case 'syn-sent':
      case 'syn-rcvd':
        if (++this.retransmits > SYN_RETRIES) {
          this.finish(true);
          return;
        }
        this.sendSyn();
        return;
      case 'time-wait':
        this.finish(false);
        return;
      case 'closed':
        return;
      default:
        break;
    }
    if (this.sndWnd === 0) {
      if (this.outstanding() === 0 && this.sendBuf.length === 0) return;
      // Zero-window probe (as Linux does): an ACK one below SND.UNA makes the guest answer with its
      // current window. What was in flight is sent again once the window opens.
      this.sndNxt = this.sndUna;
      this.rttTiming = false;
      const frame = this.newSegment(seqAdd(this.sndUna, -1), TCP_ACK, 0, 0);
      setTransportChecksum(frame);
      this.ctx.output(frame);
      this.rto = Math.min(this.rto * 2, RTO_MAX_MS);
      this.armTimer(this.rto, true);
      return;
    }
    if (this.outstanding() === 0) return;
    if (++this.retransmits > MAX_RETRANSMITS) {
      this.resetGuest();
      return;
    }
    // RFC 5681 §3.1 on a timeout: one segment, then slow start; go back to the first unacked byte.
    this.ssthresh = Math.max(this.outstanding() >>> 1, 2 * this.mss);
    this.cwnd = this.mss;
    this.dupAcks = 0;
    this.inRecovery = false;
    this.rttTiming = false;
    this.sndNxt = this.sndUna;
    this.rto = Math.min(this.rto * 2, RTO_MAX_MS);
    this.output(true);
    this.armTimer(this.rto, true);
  }

  private enterTimeWait(): void {
    this.armTimer(TIME_WAIT_MS, true);
  }

  // ---- teardown ----

  /** Resets the guest's side and aborts the host's. */
  private resetGuest(): void {
    this.ctx.output(buildSegment(this, this.sndMax, this.rcvNxt, TCP_RST | TCP_ACK, 0, this.ctx.nextIpId()));
    this.finish(true);
  }

  /** Forgets the connection; `abortHost` drops the host socket with a reset, else it closes by itself. */
  private finish(abortHost: boolean): void {
    if (this.removed) return;
    this.removed = true;
    this.state = 'closed';
    this.timer?.cancel();
    this.timer = null;
    this.timerDeadline = 0;
    if (this.socket !== null && !this.hostGone) {
      if (abortHost) this.socket.abort();
      else if (!this.hostWriteEnded) this.socket.end();
    }
    this.sendBuf.clear();
    this.ctx.remove(this);
  }

  /** Drops everything at once (backend close). */
  destroy(): void {
    this.finish(true);
  }
}

export function tcpKey(guestIp: Ipv4, guestPort: number, remoteIp: Ipv4, remotePort: number): string {
  return `${guestIp}:${guestPort}>${remoteIp}:${remotePort}`;
}
