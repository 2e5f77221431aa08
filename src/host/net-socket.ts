/**
 * Socket links (Node): a NetBackend carrying Ethernet frames over a unix or TCP stream socket, in
 * the framing of src/net/link.ts (4-byte big-endian length, then the frame — QEMU's
 * `-netdev stream` format). Plug one into a switch port (sw.connect(link)) to join switches in
 * different processes or hosts, or give one straight to a VM's virtio-net.
 *
 *   listenLink(address)   listens; one peer at a time (a second one is refused while the first is
 *                         connected), and a new peer may connect after the previous one left —
 *                         like QEMU's `-netdev stream,server=on`
 *   connectLink(address)  connects once (no reconnect); resolves when connected
 *
 * Frames sent while no peer is connected are dropped and counted. A peer that breaks the framing
 * (an absurd length) is disconnected, with the error kept in `lastError`; nothing is thrown.
 * close() ends the connection and the listener (a unix socket file is removed by Node).
 */

import type { Server, Socket } from 'node:net';

import { nodeNet } from './node-modules.js';

import {
  FramedLink,
  LinkError,
  formatLinkAddress,
  type FramedLinkOptions,
  type LinkAddress,
  type LinkChannel,
} from '../net/link.js';

export interface SocketLinkOptions extends FramedLinkOptions {
  /** connectLink: give up after this long (default 10 000 ms). */
  timeoutMs?: number;
}

export class SocketLink extends FramedLink {
  /** The address listened on (with the real port when 0 was asked for) or connected to. */
  readonly address: LinkAddress;
  private server: Server | undefined;
  private socket: Socket | undefined;
  private waiters: (() => void)[] = [];
  private serverClosed: Promise<void> = Promise.resolve();

  /** @internal use listenLink / connectLink */
  constructor(address: LinkAddress, options: SocketLinkOptions) {
    const onPeer = options.onPeer;
    super({
      ...options,
      onPeer: (connected, error) => {
        if (connected) {
          const w = this.waiters;
          this.waiters = [];
          for (const resolve of w) resolve();
        }
        onPeer?.(connected, error);
      },
    });
    this.address = address;
  }

  /** Resolves when a peer is connected (at once if one is). */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new LinkError('ECLOSED', 'the link is closed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new LinkError('ETIMEDOUT', `no peer on ${formatLinkAddress(this.address)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    this.socket?.destroy();
    this.socket = undefined;
    const server = this.server;
    if (server !== undefined) {
      this.server = undefined;
      this.serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** close(), then waits until the listener has let go of its address. */
  async closeAndWait(): Promise<void> {
    this.close();
    await this.serverClosed;
  }

  /** @internal */
  setServer(server: Server): void {
    this.server = server;
  }

  /** @internal Carries frames over a connected socket; refuses it when a peer is already here. */
  plug(socket: Socket): void {
    const channel: LinkChannel = {
      write: (bytes) => {
        socket.write(bytes);
      },
      get bufferedBytes(): number {
        return socket.writableLength;
      },
      close: () => {
        socket.destroy();
      },
    };
    if (!this.attach(channel)) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    if (!('unix' in this.address)) socket.setNoDelay(true);
    // Plain Uint8Array views: a Buffer's slice() shares memory, and receivers may rely on slice() copying.
    socket.on('data', (data: Buffer) => this.receiveBytes(channel, new Uint8Array(data.buffer, data.byteOffset, data.length)));
    socket.on('error', (e: Error) => {
      this.detach(channel, new LinkError('ESOCKET', `link ${formatLinkAddress(this.address)}: ${e.message}`, { cause: e }));
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.detach(channel);
    });
  }
}

/** Listens on `address` for one peer at a time. Rejects (LinkError 'ELISTEN') when it cannot. */
export async function listenLink(address: LinkAddress, options: SocketLinkOptions = {}): Promise<SocketLink> {
  const server = nodeNet().createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if ('unix' in address) server.listen(address.unix, () => resolve());
      else server.listen(address.port, address.host, () => resolve());
    });
  } catch (e) {
    server.close();
    throw new LinkError('ELISTEN', `cannot listen on ${formatLinkAddress(address)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const bound = server.address();
  const actual: LinkAddress = 'unix' in address || bound === null || typeof bound === 'string'
    ? address
    : { host: address.host, port: bound.port };
  const link = new SocketLink(actual, options);
  link.setServer(server);
  server.on('connection', (socket: Socket) => link.plug(socket));
  server.on('error', () => {
    // Accept errors (EMFILE...) leave the listener as it is; the current peer is unaffected.
  });
  return link;
}

/** Connects to a listening link. Rejects (LinkError 'ECONNECT') when it cannot. */
export async function connectLink(address: LinkAddress, options: SocketLinkOptions = {}): Promise<SocketLink> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = 'unix' in address ? nodeNet().connect(address.unix) : nodeNet().connect(address.port, address.host);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    socket.destroy();
    throw new LinkError('ECONNECT', `cannot connect to ${formatLinkAddress(address)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const link = new SocketLink(address, options);
  link.plug(socket);
  return link;
}
