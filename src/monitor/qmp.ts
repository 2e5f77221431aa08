/**
 * The QEMU Machine Protocol (QMP) server side, without sockets: a QmpMonitor holds the command
 * table and the connected sessions; a QmpSession speaks the protocol over one injected transport.
 * Written from QEMU's docs/interop/qmp-spec.rst:
 *
 *   server greeting   { "QMP": { "version": {...}, "capabilities": [] } }
 *   request           { "execute": "name", "arguments": {...}, "id": any }     (arguments, id optional)
 *   success           { "return": value, "id": any }
 *   error             { "error": { "class": "GenericError", "desc": "..." }, "id": any }
 *   event             { "event": "NAME", "data": {...}, "timestamp": { "seconds": n, "microseconds": n } }
 *
 * A session starts in capabilities negotiation mode: only `qmp_capabilities` runs, anything else
 * gets CommandNotFound, and no events are sent. After it, every command but `qmp_capabilities`
 * runs and events are delivered. Every line the server sends is ASCII JSON ended by CRLF.
 *
 * Requests run one at a time, in order, even when a command is asynchronous; while more than
 * MAX_QUEUED requests wait, the session asks its transport to stop reading (flow control, as the
 * specification describes). Out-of-band execution is not offered (the greeting lists no "oob").
 * Arguments are type-checked against each command's declaration before it runs: unknown and
 * missing arguments are errors, as in QEMU.
 */

import { JsonStreamReader } from './json-stream.js';

/** QMP error classes (QEMU's ErrorClass). */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound' | 'KVMMissingCap';

/** A command's failure, reported to the client as { "error": { "class", "desc" } }. */
export class QmpError extends Error {
  readonly errorClass: QmpErrorClass;
  constructor(errorClass: QmpErrorClass, desc: string) {
    super(desc);
    this.name = 'QmpError';
    this.errorClass = errorClass;
  }
}

/** The version triple the greeting and query-version report. */
export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/**
 * Argument types: 'str', 'int', 'number', 'bool', 'object', 'any', or an array of one of them as
 * 'str[]' etc. A name ending in '?' is optional.
 */
export type QmpArgType = 'str' | 'int' | 'number' | 'bool' | 'object' | 'any' | 'str[]' | 'int[]' | 'object[]';

export interface QmpCommandContext {
  readonly monitor: QmpMonitor;
  readonly session: QmpSession;
  /** Runs `callback` once this command's reply has been sent (e.g. quit, starting a job). */
  afterReply(callback: () => void): void;
}

export interface QmpCommand {
  name: string;
  /** Declared arguments: name (suffix '?' = optional) → type. Undeclared arguments are refused. */
  args?: Readonly<Record<string, QmpArgType>>;
  /** Returns the value of "return" (undefined means {}); throws QmpError (or any Error) to fail. */
  run(args: Record<string, unknown>, ctx: QmpCommandContext): unknown;
}

export interface QmpTransport {
  /** Sends one protocol line (already ended by CRLF). */
  write(line: string): void;
  /** Flow control: stop and resume reading the peer's input. */
  pause?(): void;
  resume?(): void;
}

export interface QmpMonitorOptions {
  version?: QmpVersion;
  /** Wall-clock time in ms since the epoch, for event timestamps (default Date.now). */
  now?: () => number;
  /** Where to report internal problems (a command throwing a non-Error, a transport failing). */
  log?: (message: string) => void;
}

/** Requests waiting in one session beyond which its transport is paused. */
export const MAX_QUEUED = 8;

export const DEFAULT_QMP_VERSION: QmpVersion = { qemu: { major: 7, minor: 2, micro: 0 }, package: 'tsvm' };

const REQUEST_MEMBERS = new Set(['execute', 'exec-oob', 'arguments', 'id']);

export class QmpMonitor {
  readonly version: QmpVersion;
  private readonly now: () => number;
  readonly log: (message: string) => void;
  private readonly commands = new Map<string, QmpCommand>();
  private readonly sessions = new Set<QmpSession>();
  private nextSessionId = 1;

  constructor(options: QmpMonitorOptions = {}) {
    this.version = options.version ?? DEFAULT_QMP_VERSION;
    this.now = options.now ?? (() => Date.now());
    this.log = options.log ?? (() => {});
    this.register({
      name: 'qmp_capabilities',
      args: { 'enable?': 'str[]' },
      run: () => {
        // Reached only in command mode (the session handles negotiation itself).
        throw new QmpError('CommandNotFound', 'capabilities negotiation is already complete');
      },
    });
  }

  register(command: QmpCommand): void {
    if (this.commands.has(command.name)) throw new Error(`QMP command ${command.name} is registered twice`);
    this.commands.set(command.name, command);
  }

  command(name: string): QmpCommand | undefined {
    return this.commands.get(name);
  }

  /** Names of all commands, for query-commands. */
  commandNames(): string[] {
    return [...this.commands.keys()];
  }

  /** A new session on `transport`; call start() to send the greeting. */
  createSession(transport: QmpTransport): QmpSession {
    const session = new QmpSession(this, transport, this.nextSessionId++);
    this.sessions.add(session);
    return session;
  }

  /** Called by a session when it closes. */
  removeSession(session: QmpSession): void {
    this.sessions.delete(session);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sends an event to every session in command mode. `data` is omitted when not given. */
  emitEvent(event: string, data?: Record<string, unknown>): void {
    const line = formatEvent(event, data, this.now());
    for (const s of this.sessions) s.sendEvent(line);
  }
}

/** One connected client. */
export class QmpSession {
  readonly id: number;
  private readonly monitor: QmpMonitor;
  private readonly transport: QmpTransport;
  private readonly reader = new JsonStreamReader();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private negotiated = false;
  private closed = false;
  private queue: unknown[] = [];
  private running = false;
  private paused = false;

  constructor(monitor: QmpMonitor, transport: QmpTransport, id: number) {
    this.monitor = monitor;
    this.transport = transport;
    this.id = id;
  }

  /** True once qmp_capabilities succeeded (command mode). */
  get commandMode(): boolean {
    return this.negotiated;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends the greeting. */
  start(): void {
    this.send({ QMP: { version: this.monitor.version, capabilities: [] } });
  }

  /** Feeds bytes (UTF-8) or text received from the client. */
  receive(chunk: Uint8Array | string): void {
    if (this.closed) return;
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    for (const item of this.reader.push(text)) {
      if (item.kind === 'error') this.queue.push(new QmpError('GenericError', item.message));
      else this.queue.push(item.value);
    }
    this.pump();
  }

  /** The client is gone: pending requests are dropped, no more output. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.monitor.removeSession(this);
  }

  /** Sends a preformatted event line (command mode only). */
  sendEvent(line: string): void {
    if (this.negotiated && !this.closed) this.write(line);
  }

  private pump(): void {
    if (this.closed) return;
    if (!this.paused && this.queue.length > MAX_QUEUED) {
      this.paused = true;
      this.transport.pause?.();
    }
    if (this.running) return;
    this.running = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.closed) {
        const request = this.queue.shift();
        await this.handle(request);
        if (this.paused && this.queue.length <= MAX_QUEUED / 2) {
          this.paused = false;
          this.transport.resume?.();
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Runs one request and sends its reply. Never throws. */
  private async handle(request: unknown): Promise<void> {
    if (request instanceof QmpError) {
      this.sendError(request, undefined);
      return;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      this.sendError(new QmpError('GenericError', 'a QMP request must be a JSON object'), undefined);
      return;
    }
    const req = request as Record<string, unknown>;
    const hasId = Object.prototype.hasOwnProperty.call(req, 'id');
    const id = hasId ? { id: req.id } : undefined;
    const fail = (errorClass: QmpErrorClass, desc: string): void => this.sendError(new QmpError(errorClass, desc), id);

    for (const key of Object.keys(req)) {
      if (!REQUEST_MEMBERS.has(key)) return fail('GenericError', `unexpected member '${key}' in a QMP request`);
    }
    const hasExecute = Object.prototype.hasOwnProperty.call(req, 'execute');
    const hasOob = Object.prototype.hasOwnProperty.call(req, 'exec-oob');
    if (hasExecute && hasOob) return fail('GenericError', "a QMP request has either 'execute' or 'exec-oob', not both");
    if (!hasExecute && !hasOob) return fail('GenericError', "a QMP request needs 'execute'");
    const name = hasExecute ? req.execute : req['exec-oob'];
    if (typeof name !== 'string') return fail('GenericError', `'${hasExecute ? 'execute' : 'exec-oob'}' must be a string`);
    const rawArgs = Object.prototype.hasOwnProperty.call(req, 'arguments') ? req.arguments : {};
    if (typeof rawArgs !== 'object' || rawArgs === null || Array.isArray(rawArgs)) {
      return fail('GenericError', "'arguments' must be an object");
    }
    if (hasOob) return fail('GenericError', 'out-of-band execution is not available: the server does not offer capability oob');

    if (!this.negotiated) {
      if (name !== 'qmp_capabilities') {
        return fail('CommandNotFound', `capabilities negotiation comes first: send 'qmp_capabilities' before '${name}'`);
      }
      const args = rawArgs as Record<string, unknown>;
      const problem = checkArgs(args, { 'enable?': 'str[]' });
      if (problem !== null) return fail('GenericError', problem);
      for (const cap of (args.enable as string[] | undefined) ?? []) {
        if (cap === 'oob') return fail('GenericError', "capability 'oob' is not offered by this server");
        return fail('GenericError', `unknown capability '${cap}'`);
      }
      this.negotiated = true;
      this.sendReturn({}, id);
      return;
    }

    const command = this.monitor.command(name);
    if (command === undefined) return fail('CommandNotFound', `there is no command '${name}'`);
    const args = rawArgs as Record<string, unknown>;
    const problem = checkArgs(args, command.args ?? {});
    if (problem !== null) return fail('GenericError', problem);

    const after: (() => void)[] = [];
    const ctx: QmpCommandContext = { monitor: this.monitor, session: this, afterReply: (cb) => after.push(cb) };
    try {
      const result = await command.run(args, ctx);
      this.sendReturn(result === undefined ? {} : result, id);
    } catch (e) {
      if (e instanceof QmpError) this.sendError(e, id);
      else if (e instanceof Error) this.sendError(new QmpError('GenericError', e.message), id);
      else {
        this.monitor.log(`QMP command ${name} threw ${String(e)}`);
        this.sendError(new QmpError('GenericError', `command '${name}' failed`), id);
      }
    }
    for (const cb of after) {
      try {
        cb();
      } catch (e) {
        this.monitor.log(`QMP command ${name}: after-reply action failed: ${String(e)}`);
      }
    }
  }

  private sendReturn(value: unknown, id: { id: unknown } | undefined): void {
    this.send(id === undefined ? { return: value } : { return: value, id: id.id });
  }

  private sendError(e: QmpError, id: { id: unknown } | undefined): void {
    const error = { class: e.errorClass, desc: e.message };
    this.send(id === undefined ? { error } : { error, id: id.id });
  }

  private send(message: unknown): void {
    this.write(toAsciiJson(message) + '\r\n');
  }

  private write(line: string): void {
    if (this.closed) return;
    try {
      this.transport.write(line);
    } catch (e) {
      this.monitor.log(`QMP session ${this.id}: write failed: ${String(e)}`);
      this.close();
    }
  }
}

/** An event line; `nowMs` is wall-clock milliseconds since the epoch. */
export function formatEvent(event: string, data: Record<string, unknown> | undefined, nowMs: number): string {
  let timestamp: { seconds: number; microseconds: number };
  if (Number.isFinite(nowMs) && nowMs >= 0) {
    const us = Math.floor(nowMs * 1000);
    timestamp = { seconds: Math.floor(us / 1_000_000), microseconds: us % 1_000_000 };
  } else {
    timestamp = { seconds: -1, microseconds: -1 }; // the specification's value for "no host time"
  }
  const message: Record<string, unknown> = { timestamp, event };
  if (data !== undefined) message.data = data;
  return toAsciiJson(message) + '\r\n';
}

/** JSON with every non-ASCII character escaped (QMP output is ASCII). */
export function toAsciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** Checks arguments against a declaration; returns a problem description or null. */
export function checkArgs(args: Record<string, unknown>, decl: Readonly<Record<string, QmpArgType>>): string | null {
  const types = new Map<string, { type: QmpArgType; optional: boolean }>();
  for (const [key, type] of Object.entries(decl)) {
    const optional = key.endsWith('?');
    types.set(optional ? key.slice(0, -1) : key, { type, optional });
  }
  for (const key of Object.keys(args)) {
    if (!types.has(key)) return `unexpected argument '${key}'`;
  }
  for (const [key, { type, optional }] of types) {
    if (!Object.prototype.hasOwnProperty.call(args, key) || args[key] === undefined) {
      if (optional) continue;
      return `missing argument '${key}'`;
    }
    const v = args[key];
    if (type.endsWith('[]')) {
      const element = type.slice(0, -2) as QmpArgType;
      if (!Array.isArray(v) || !v.every((x) => hasType(x, element))) return `argument '${key}' must be ${TYPE_NAMES[type]}`;
    } else if (!hasType(v, type)) {
      return `argument '${key}' must be ${TYPE_NAMES[type]}`;
    }
  }
  return null;
}

const TYPE_NAMES: Record<QmpArgType, string> = {
  str: 'a string', int: 'an integer', number: 'a number', bool: 'a boolean', object: 'an object', any: 'a value',
  'str[]': 'a list of strings', 'int[]': 'a list of integers', 'object[]': 'a list of objects',
};

function hasType(v: unknown, type: QmpArgType): boolean {
  switch (type) {
    case 'str': return typeof v === 'string';
    case 'int': return typeof v === 'number' && Number.isSafeInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'bool': return typeof v === 'boolean';
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'any': return true;
    default: return false;
  }
}
