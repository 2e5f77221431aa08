/**
 * A QMP client over a unix socket, written from the QMP specification: reads the greeting,
 * negotiates capabilities, sends commands and matches replies (in order; by `id` when given),
 * and collects asynchronous events. Used by the tests (against tsvm and against QEMU) and usable
 * by tools that drive a running VM.
 */

import type { Socket } from 'node:net';

import { nodeNet } from '../host/node-modules.js';

export type QmpMessage = Record<string, unknown>;

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export class QmpClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QmpClientError';
    this.code = code;
  }
}

interface Waiter {
  resolve(m: QmpMessage): void;
  reject(e: Error): void;
}

export class QmpClient {
  /** The server's greeting ({ QMP: { version, capabilities } }). */
  greeting: QmpMessage = {};
  /** Every event received, oldest first. */
  readonly events: QmpEvent[] = [];
  /** Every line received, raw (for tests comparing wire formats). */
  readonly lines: string[] = [];
  private readonly socket: Socket;
  private buffer = '';
  private readonly waiters: Waiter[] = [];
  private readonly eventWaiters: { match: (e: QmpEvent) => boolean; resolve: (e: QmpEvent) => void }[] = [];
  private greetingWaiter: Waiter | undefined;
  private nextId = 1;
  private closedError: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.onData(text));
    socket.on('close', () => this.onClose(new QmpClientError('ECLOSED', 'the QMP connection closed')));
    socket.on('error', (e) => this.onClose(new QmpClientError('EIO', `QMP connection: ${e.message}`, { cause: e })));
  }

  /** Connects to a unix socket and reads the greeting. */
  static async connect(path: string, options: { timeoutMs?: number } = {}): Promise<QmpClient> {
    const socket = nodeNet().createConnection(path);
    const client = new QmpClient(socket);
    const greeting = new Promise<QmpMessage>((resolve, reject) => {
      client.greetingWaiter = { resolve, reject };
    });
    client.greeting = await withTimeout(greeting, options.timeoutMs ?? 10_000, 'the QMP greeting');
    return client;
  }

  /** qmp_capabilities; throws if refused. */
  async negotiate(): Promise<void> {
    const r = await this.execute('qmp_capabilities');
    if ('error' in r) throw new QmpClientError('EQMP', `qmp_capabilities refused: ${JSON.stringify(r.error)}`);
  }

  /**
   * Sends a command (with a fresh numeric id unless `id` is given, or none when id is null) and
   * resolves with the whole reply ({ return } or { error }).
   */
  execute(command: string, args?: Record<string, unknown>, options: { id?: unknown; timeoutMs?: number } = {}): Promise<QmpMessage> {
    const message: QmpMessage = { execute: command };
    if (args !== undefined) message.arguments = args;
    if (options.id !== null) message.id = options.id ?? this.nextId++;
    return this.sendRaw(JSON.stringify(message) + '\n', options.timeoutMs);
  }

  /** Sends raw text and resolves with the next reply (for malformed-input tests). */
  sendRaw(text: string | Uint8Array, timeoutMs = 10_000): Promise<QmpMessage> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const reply = new Promise<QmpMessage>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.socket.write(text);
    return withTimeout(reply, timeoutMs, 'a QMP reply');
  }

  /** Writes raw text expecting no reply (e.g. half a request). */
  writeRaw(text: string | Uint8Array): void {
    this.socket.write(text);
  }

  /** Waits for an event (already received ones count, consumed from `since`). */
  waitForEvent(name: string, options: { since?: number; timeoutMs?: number; match?: (e: QmpEvent) => boolean } = {}): Promise<QmpEvent> {
    const match = (e: QmpEvent): boolean => e.event === name && (options.match === undefined || options.match(e));
    const seen = this.events.slice(options.since ?? 0).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    const p = new Promise<QmpEvent>((resolve) => this.eventWaiters.push({ match, resolve }));
    return withTimeout(p, options.timeoutMs ?? 10_000, `QMP event ${name}`);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves when the server closes the connection. */
  closed(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  private onData(text: string): void {
    this.buffer += text;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (line.trim().length === 0) continue;
      this.lines.push(line);
      let message: QmpMessage;
      try {
        message = JSON.parse(line) as QmpMessage;
      } catch (e) {
        this.onClose(new QmpClientError('EPROTO', `the server sent invalid JSON: ${line.slice(0, 200)}`, { cause: e }));
        this.socket.destroy();
        return;
      }
      this.dispatch(message);
    }
  }

  private dispatch(message: QmpMessage): void {
    if ('QMP' in message && this.greetingWaiter !== undefined) {
      const w = this.greetingWaiter;
      this.greetingWaiter = undefined;
      w.resolve(message);
      return;
    }
    if (typeof message.event === 'string') {
      const e = message as unknown as QmpEvent;
      this.events.push(e);
      for (let i = 0; i < this.eventWaiters.length; i++) {
        if (this.eventWaiters[i].match(e)) {
          this.eventWaiters[i].resolve(e);
          this.eventWaiters.splice(i--, 1);
        }
      }
      return;
    }
    // In-band replies come in request order.
    this.waiters.shift()?.resolve(message);
  }

  private onClose(e: Error): void {
    if (this.closedError !== undefined) return;
    this.closedError = e;
    this.greetingWaiter?.reject(e);
    for (const w of this.waiters.splice(0)) w.reject(e);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new QmpClientError('ETIMEDOUT', `no ${what} within ${ms} ms`)), ms);
    p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    }, (e: unknown) => {
      clearTimeout(timer);
      reject(e instanceof Error ? e : new Error(String(e)));
    });
  });
}
