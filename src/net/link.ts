/**
 * Links: Ethernet frames over a byte stream (a unix or TCP socket, later a WebSocket), joining
 * switches or VMs in different processes or hosts, like QEMU's `-netdev stream` (and the older
 * `-netdev socket`). This file is the transport-independent core; src/host/net-socket.ts binds it
 * to Node sockets.
 *
 * Wire format (the same as QEMU's stream netdev and passt's qemu mode):
 *
 *   +-----------------------------+---------------------------+
 *   | length: u32, big-endian     | frame: `length` bytes     |   repeated
 *   +-----------------------------+---------------------------+
 *
 * A frame is a whole Ethernet frame without FCS. A length above LINK_MAX_FRAME (65535 plus 4 KiB
 * of headroom, the size of QEMU's receive buffer) cannot be a frame: the stream is out of sync or
 * hostile, so the link closes with an error. Zero-length records are skipped.
 *
 * The decoder copes with any split of the stream into chunks; a frame wholly inside one chunk is
 * passed on as a view of it (no copy), a frame split across chunks is assembled in one buffer
 * reused for every frame. Either way the receiver gets a view valid only during the call.
 */

import type { NetBackend, NetStats } from './backend.js';

export const LINK_HEADER_SIZE = 4;
/** Longest record accepted: 64 KiB plus 4 KiB of headroom (QEMU's NET_BUFSIZE). */
export const LINK_MAX_FRAME = 65536 + 4096;
/** Longest frame sent: what a switch or NIC passes (larger frames are dropped, not sent). */
export const LINK_MAX_SEND_FRAME = 65535;
/** Unsent bytes above which frames are dropped instead of queued (a slow or stuck peer). */
export const LINK_DEFAULT_MAX_BUFFERED = 4 << 20;

/** Where a link listens or connects. */
export type LinkAddress = { unix: string } | { host: string; port: number };

export class LinkError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LinkError';
    this.code = code;
  }
}

/** "unix:PATH" or "tcp:HOST:PORT" ("tcp:[::1]:PORT" for IPv6) as a LinkAddress. */
export function parseLinkAddress(text: string): LinkAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path.length === 0) throw new LinkError('EINVAL', `'${text}': a unix address needs a path (unix:/run/tsvm/net.sock)`);
    return { unix: path };
  }
  if (text.startsWith('tcp:')) {
    const rest = text.slice(4);
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(rest);
    const port = m === null ? -1 : Number(m[3]);
    if (m === null || port < 1 || port > 65535) {
      throw new LinkError('EINVAL', `'${text}': expected tcp:HOST:PORT with a port in 1..65535 (tcp:127.0.0.1:5555)`);
    }
    return { host: m[1] ?? m[2], port };
  }
  throw new LinkError('EINVAL', `'${text}': a link address is unix:PATH or tcp:HOST:PORT`);
}

export function formatLinkAddress(address: LinkAddress): string {
  if ('unix' in address) return `unix:${address.unix}`;
  return address.host.includes(':') ? `tcp:[${address.host}]:${address.port}` : `tcp:${address.host}:${address.port}`;
}

/** One frame as a record: length prefix and the frame, in a new array (the stream may keep it). */
export function encodeFrame(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(LINK_HEADER_SIZE + frame.length);
  const n = frame.length;
  out[0] = n >>> 24;
  out[1] = (n >>> 16) & 0xff;
  out[2] = (n >>> 8) & 0xff;
  out[3] = n & 0xff;
  out.set(frame, LINK_HEADER_SIZE);
  return out;
}

/** Splits a byte stream into frames. */
export class FrameDecoder {
  private readonly onFrame: (frame: Uint8Array) => void;
  private readonly maxFrame: number;
  private readonly header = new Uint8Array(LINK_HEADER_SIZE);
  private headerFill = 0;
  /** Length of the frame being assembled, or -1 while reading a header. */
  private frameLen = -1;
  private assembly: Uint8Array | undefined;
  private assemblyFill = 0;
  private error: LinkError | undefined;

  constructor(onFrame: (frame: Uint8Array) => void, maxFrameBytes = LINK_MAX_FRAME) {
    this.onFrame = onFrame;
    this.maxFrame = maxFrameBytes;
  }

  /** The error that stopped the decoder, if any. */
  get failed(): LinkError | undefined {
    return this.error;
  }

  /** Back to the start of a stream (a new connection). */
  reset(): void {
    this.headerFill = 0;
    this.frameLen = -1;
    this.assemblyFill = 0;
    this.error = undefined;
  }

  /**
   * Feeds the next bytes of the stream, passing each complete frame to onFrame. Returns the error
   * when the stream is malformed; the decoder then ignores everything until reset().
   */
  push(chunk: Uint8Array): LinkError | undefined {
    if (this.error !== undefined) return this.error;
    const end = chunk.length;
    let p = 0;
    while (p < end) {
      if (this.frameLen < 0) {
        let len: number;
        if (this.headerFill === 0 && end - p >= LINK_HEADER_SIZE) {
          len = ((chunk[p] << 24) | (chunk[p + 1] << 16) | (chunk[p + 2] << 8) | chunk[p + 3]) >>> 0;
          p += LINK_HEADER_SIZE;
        } else {
          // A header split across chunks: at most 3 bytes at a time.
          while (this.headerFill < LINK_HEADER_SIZE && p < end) this.header[this.headerFill++] = chunk[p++];
          if (this.headerFill < LINK_HEADER_SIZE) break;
          const h = this.header;
          len = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
          this.headerFill = 0;
        }
        if (len > this.maxFrame) {
          this.error = new LinkError('EFRAMELEN', `peer sent a record of ${len} bytes; the most a frame can be is ${this.maxFrame}`);
          return this.error;
        }
        if (len === 0) continue;
        if (end - p >= len) {
          // The whole frame is in this chunk: no copy.
          this.onFrame(chunk.subarray(p, p + len));
          p += len;
          continue;
        }
        this.frameLen = len;
      }
      // Assembling a frame split across chunks.
      const buf = this.assembly ?? (this.assembly = new Uint8Array(this.maxFrame));
      const n = Math.min(this.frameLen - this.assemblyFill, end - p);
      buf.set(chunk.subarray(p, p + n), this.assemblyFill);
      this.assemblyFill += n;
      p += n;
      if (this.assemblyFill === this.frameLen) {
        const len = this.frameLen;
        this.frameLen = -1;
        this.assemblyFill = 0;
        this.onFrame(buf.subarray(0, len));
      }
    }
    return undefined;
  }
}

/** The byte stream under a link (a connected socket). */
export interface LinkChannel {
  /** Queues bytes for the peer; the channel may keep the array. */
  write(bytes: Uint8Array): void;
  /** Bytes written but not yet sent (for dropping frames when the peer does not keep up). */
  readonly bufferedBytes: number;
  /** Closes the stream (abruptly: used on a protocol error and on close()). */
  close(): void;
}

export interface FramedLinkOptions {
  /** Unsent bytes above which frames are dropped (default 4 MiB). */
  maxBufferedBytes?: number;
  /** The peer came or went (`error` when the link closed because of one). */
  onPeer?: (connected: boolean, error?: LinkError) => void;
}

/**
 * Link counters: framesIn = frames from the peer passed to the receiver; framesOut = frames
 * written to the peer; dropped = frames sent while no peer was connected, too long, or refused
 * because the peer fell behind.
 */
export interface LinkStats extends NetStats {
  bytesIn: number;
  bytesOut: number;
  /** Connections closed because the peer broke the framing. */
  protocolErrors: number;
}

/**
 * A NetBackend carrying frames over whatever channel is attached. A listening link gets a new
 * channel per peer; a connecting one gets one. Frames sent while no channel is attached are
 * dropped. Nothing here throws at a peer's misbehaviour: the channel is closed and the error kept.
 */
export class FramedLink implements NetBackend {
  readonly stats: LinkStats = { framesIn: 0, framesOut: 0, dropped: 0, bytesIn: 0, bytesOut: 0, protocolErrors: 0 };
  /** The last protocol error (the reason the last peer was disconnected), if any. */
  lastError: LinkError | undefined;
  private channel: LinkChannel | undefined;
  private receiver: ((frame: Uint8Array) => void) | undefined;
  private readonly decoder: FrameDecoder;
  private readonly maxBuffered: number;
  private readonly onPeer: ((connected: boolean, error?: LinkError) => void) | undefined;
  private isClosed = false;

  constructor(options: FramedLinkOptions = {}) {
    this.maxBuffered = options.maxBufferedBytes ?? LINK_DEFAULT_MAX_BUFFERED;
    this.onPeer = options.onPeer;
    this.decoder = new FrameDecoder((frame) => {
      if (this.channel === undefined) return; // closed while this chunk was being decoded
      this.stats.framesIn++;
      this.stats.bytesIn += frame.length;
      try {
        this.receiver?.(frame);
      } catch {
        // A receiver's fault must not tear down the stream (or the event loop) under the peer.
        this.stats.dropped++;
      }
    });
  }

  /** A peer is connected. */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Starts carrying frames over `channel` (a new peer); false if closed or a peer is already here. */
  attach(channel: LinkChannel): boolean {
    if (this.isClosed || this.channel !== undefined) return false;
    this.channel = channel;
    this.decoder.reset();
    this.onPeer?.(true);
    return true;
  }

  /** Bytes from the peer on `channel`. */
  receiveBytes(channel: LinkChannel, bytes: Uint8Array): void {
    if (channel !== this.channel) return;
    const error = this.decoder.push(bytes);
    if (error !== undefined && channel === this.channel) {
      this.stats.protocolErrors++;
      this.lastError = error;
      this.detach(channel, error);
      channel.close();
    }
  }

  /** The channel ended (peer closed, socket error). */
  detach(channel: LinkChannel, error?: LinkError): void {
    if (channel !== this.channel) return;
    this.channel = undefined;
    this.onPeer?.(false, error);
  }

  send(frame: Uint8Array): void {
    const ch = this.channel;
    if (ch === undefined || frame.length === 0 || frame.length > LINK_MAX_SEND_FRAME || ch.bufferedBytes > this.maxBuffered) {
      this.stats.dropped++;
      return;
    }
    this.stats.framesOut++;
    this.stats.bytesOut += frame.length;
    ch.write(encodeFrame(frame));
  }

  setReceiver(receive: (frame: Uint8Array) => void): void {
    this.receiver = receive;
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const ch = this.channel;
    if (ch !== undefined) {
      this.detach(ch);
      ch.close();
    }
  }
}
