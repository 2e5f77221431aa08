/**
 * The QMP server on a unix socket (`--monitor unix:PATH`): every client that connects gets its own
 * QmpSession on the shared QmpMonitor (commands, events).
 *
 * Accepted address forms (QEMU's chardev syntax, a subset):
 *   unix:PATH                      listen on PATH
 *   unix:PATH,server,nowait        the same (QEMU's old spelling)
 *   unix:PATH,server=on,wait=off   the same (QEMU's new spelling)
 *   ...,wait / wait=on             also listen; `waitForClient()` resolves at the first connection,
 *                                  for callers that start the guest only then (QEMU's default)
 * A ',' inside PATH is written ',,'. A stale socket file left by a dead process is replaced; a
 * socket another process still serves, or a file that is not a socket, is refused.
 */

import type { Server, Socket } from 'node:net';
import { chmod, lstat, unlink } from 'node:fs/promises';

import { nodeNet } from '../host/node-modules.js';

import type { QmpMonitor, QmpSession } from './qmp.js';

export class MonitorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MonitorError';
    this.code = code;
  }
}

export interface MonitorAddress {
  kind: 'unix';
  path: string;
  /** Hold the guest until a client connects (QEMU's `wait`). */
  wait: boolean;
}

/** Most clients served at once; more are refused. */
export const MAX_CLIENTS = 32;
/** Output queued for a client that does not read, beyond which it is disconnected. */
export const MAX_CLIENT_BACKLOG = 16 << 20;

/** Parses a `--monitor` address. */
export function parseMonitorAddress(spec: string): MonitorAddress {
  if (!spec.startsWith('unix:')) {
    throw new MonitorError('EINVAL', `monitor address '${spec}': only unix:PATH is supported (e.g. unix:/tmp/vm.sock,server,nowait)`);
  }
  // Split on single commas; ',,' is a literal comma.
  const parts: string[] = [];
  let cur = '';
  const rest = spec.slice('unix:'.length);
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === ',' && rest[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (rest[i] === ',') {
      parts.push(cur);
      cur = '';
    } else {
      cur += rest[i];
    }
  }
  parts.push(cur);
  const [path, ...options] = parts;
  if (path.length === 0) throw new MonitorError('EINVAL', `monitor address '${spec}': the socket path is empty`);
  let wait = false;
  for (const opt of options) {
    const [key, value] = opt.includes('=') ? [opt.slice(0, opt.indexOf('=')), opt.slice(opt.indexOf('=') + 1)] : [opt, undefined];
    const flag = (): boolean => {
      if (value === undefined || value === 'on' || value === 'yes' || value === 'true') return true;
      if (value === 'off' || value === 'no' || value === 'false') return false;
      throw new MonitorError('EINVAL', `monitor address '${spec}': '${key}' takes on or off, not '${value}'`);
    };
    if (key === 'server') {
      if (!flag()) throw new MonitorError('EINVAL', `monitor address '${spec}': tsvm's monitor is always a server`);
    } else if (key === 'wait') {
      wait = flag();
    } else if (key === 'nowait' && value === undefined) {
      wait = false;
    } else {
      throw new MonitorError('EINVAL', `monitor address '${spec}': unknown option '${opt}' (expected server, nowait, wait=on|off)`);
    }
  }
  return { kind: 'unix', path, wait };
}

export class QmpServer {
  readonly address: MonitorAddress;
  private readonly monitor: QmpMonitor;
  private server: Server | undefined;
  private readonly clients = new Map<Socket, QmpSession>();
  private firstClient: Promise<void>;
  private firstClientArrived: () => void = () => {};

  constructor(monitor: QmpMonitor, address: MonitorAddress) {
    this.monitor = monitor;
    this.address = address;
    this.firstClient = new Promise((resolve) => {
      this.firstClientArrived = resolve;
    });
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Starts listening (the socket file is owner-only: a monitor controls the whole VM). */
  async listen(): Promise<void> {
    const path = this.address.path;
    await removeStaleSocket(path);
    const server = nodeNet().createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(new MonitorError(e.code ?? 'EIO', `cannot listen on ${path}: ${e.message}`, { cause: e }));
      };
      server.once('error', onError);
      server.listen(path, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (e) => this.monitor.log(`monitor socket ${path}: ${e.message}`));
    this.server = server;
    await chmod(path, 0o600).catch(() => undefined);
  }

  /** Resolves when the first client has connected. */
  waitForClient(): Promise<void> {
    return this.firstClient;
  }

  /** Disconnects every client, stops listening and removes the socket file. */
  async close(): Promise<void> {
    for (const [socket, session] of this.clients) {
      session.close();
      socket.destroy();
    }
    this.clients.clear();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.address.path).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    if (this.clients.size >= MAX_CLIENTS) {
      this.monitor.log(`monitor: refusing a client (${MAX_CLIENTS} connected)`);
      socket.destroy();
      return;
    }
    const session = this.monitor.createSession({
      write: (line) => {
        if (socket.writableLength > MAX_CLIENT_BACKLOG) {
          this.monitor.log('monitor: a client does not read its output; disconnecting it');
          socket.destroy();
          return;
        }
        socket.write(line);
      },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    });
    this.clients.set(socket, session);
    const drop = (): void => {
      session.close();
      this.clients.delete(socket);
    };
    socket.on('data', (chunk: Buffer) => session.receive(chunk));
    socket.on('end', () => socket.end());
    socket.on('close', drop);
    socket.on('error', () => drop());
    session.start();
    this.firstClientArrived();
  }
}

/** Removes a socket file no process serves; refuses a live socket or a file of another kind. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new MonitorError('EEXIST', `${path} exists and is not a socket; not replacing it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = nodeNet().createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new MonitorError('EADDRINUSE', `${path} is in use by another running monitor`);
  await unlink(path).catch(() => undefined);
}
