/**
 * A streaming JSON reader for QMP input: text arrives in arbitrary pieces (half an object, several
 * objects in one chunk, garbage between them) and comes out as one item per top-level value or
 * per error. Nothing the peer sends makes it throw.
 *
 * How values are delimited: outside strings, brackets are counted; a value is complete when the
 * count returns to zero (objects, arrays), at its closing quote (a top-level string) or at the
 * next delimiter (a top-level number or literal). Then the text is parsed by a small JSON parser
 * that also accepts 'single-quoted' strings and the escape \' (QMP's documented extension).
 *
 * Recovery (as the QMP specification describes): an ASCII control character other than tab,
 * CR and LF, or a byte that is not UTF-8, outside a string, is a lexical error: the partial value
 * is dropped, an error is reported and reading starts afresh. A value longer than maxValueChars or
 * nested deeper than maxDepth is reported once and skipped to its end.
 */

export type JsonStreamItem = { kind: 'value'; value: unknown } | { kind: 'error'; message: string };

export interface JsonStreamOptions {
  /** Longest value, in UTF-16 units (default 16 Mi). */
  maxValueChars?: number;
  /** Deepest nesting of objects and arrays (default 1024). */
  maxDepth?: number;
}

const REPLACEMENT = 0xfffd;

export class JsonStreamReader {
  private readonly maxValueChars: number;
  private readonly maxDepth: number;
  /** Text of the value being read. */
  private buf = '';
  private depth = 0;
  /** The open quote character while inside a string, else ''. */
  private quote = '';
  private escape = false;
  /** A bare top-level token (number, literal, junk) being read. */
  private bare = false;
  /** Skipping the rest of a value already reported as too large or too deep. */
  private skipping = false;

  constructor(options: JsonStreamOptions = {}) {
    this.maxValueChars = options.maxValueChars ?? 16 << 20;
    this.maxDepth = options.maxDepth ?? 1024;
  }

  /** Feeds text; returns the values and errors completed by it, in order. */
  push(text: string): JsonStreamItem[] {
    const out: JsonStreamItem[] = [];
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      const code = text.charCodeAt(i);
      if (this.quote !== '') {
        this.take(ch, out);
        if (this.escape) this.escape = false;
        else if (ch === '\\') this.escape = true;
        else if (ch === this.quote) {
          this.quote = '';
          if (this.depth === 0) this.finish(out);
        } else if (code < 0x20) {
          this.fail(out, 'control character in a string');
        }
        continue;
      }
      if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || code === 0x7f || code === REPLACEMENT) {
        this.fail(out, code === REPLACEMENT ? 'invalid UTF-8 byte' : `stray control character 0x${code.toString(16).padStart(2, '0')}`);
        continue;
      }
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
        if (this.bare) this.finish(out);
        else if (this.depth > 0) this.take(ch, out);
        continue;
      }
      if (ch === '{' || ch === '[') {
        if (this.bare) this.finish(out);
        this.depth++;
        if (this.depth > this.maxDepth && !this.skipping) {
          out.push({ kind: 'error', message: `JSON nested deeper than ${this.maxDepth} levels` });
          this.skipping = true;
          this.buf = '';
        }
        this.take(ch, out);
        continue;
      }
      if (ch === '}' || ch === ']') {
        if (this.bare) this.finish(out);
        if (this.depth === 0) {
          out.push({ kind: 'error', message: `JSON parse error: unexpected '${ch}'` });
          continue;
        }
        this.take(ch, out);
        this.depth--;
        if (this.depth === 0) this.finish(out);
        continue;
      }
      if (ch === '"' || ch === "'") {
        if (this.bare) this.finish(out);
        this.quote = ch;
        this.take(ch, out);
        continue;
      }
      if (this.depth === 0) this.bare = true;
      this.take(ch, out);
    }
    return out;
  }

  /** Ends the input: a value still open is reported as incomplete (a bare token completes). */
  end(): JsonStreamItem[] {
    const out: JsonStreamItem[] = [];
    if (this.bare) this.finish(out);
    else if (this.depth > 0 || this.quote !== '') this.fail(out, 'JSON parse error: input ended inside a value');
    return out;
  }

  private take(ch: string, out: JsonStreamItem[]): void {
    if (this.skipping) return;
    this.buf += ch;
    if (this.buf.length > this.maxValueChars) {
      out.push({ kind: 'error', message: `JSON value longer than ${this.maxValueChars} characters` });
      this.skipping = true;
      this.buf = '';
    }
  }

  private finish(out: JsonStreamItem[]): void {
    const text = this.buf;
    const skipped = this.skipping;
    this.reset();
    if (skipped) return;
    try {
      out.push({ kind: 'value', value: parseJson(text) });
    } catch (e) {
      out.push({ kind: 'error', message: `JSON parse error: ${(e as Error).message}` });
    }
  }

  private fail(out: JsonStreamItem[], message: string): void {
    this.reset();
    out.push({ kind: 'error', message });
  }

  private reset(): void {
    this.buf = '';
    this.depth = 0;
    this.quote = '';
    this.escape = false;
    this.bare = false;
    this.skipping = false;
  }
}

/**
 * Parses one JSON text, also accepting single-quoted strings and \' inside strings. Object keys
 * are set as own properties (a key "__proto__" does not change the prototype).
 */
export function parseJson(text: string): unknown {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.pos < text.length) throw new Error(`unexpected '${text[p.pos]}' after the value`);
  return v;
}

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.pos++;
    }
  }

  value(depth: number): unknown {
    const s = this.s;
    if (depth > MAX_PARSE_DEPTH) throw new Error('nested too deeply');
    if (this.pos >= s.length) throw new Error('expecting a value');
    const c = s[this.pos];
    if (c === '{') return this.object(depth + 1);
    if (c === '[') return this.array(depth + 1);
    if (c === '"' || c === "'") return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of LITERALS) {
      if (s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    throw new Error(`expecting a value at '${c}'`);
  }

  private object(depth: number): Record<string, unknown> {
    const obj: Record<string, unknown> = {};
    this.pos++; // {
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.ws();
      const q = this.s[this.pos];
      if (q !== '"' && q !== "'") throw new Error('expecting a string as object key');
      const key = this.string();
      this.ws();
      if (this.s[this.pos] !== ':') throw new Error("expecting ':'");
      this.pos++;
      this.ws();
      Object.defineProperty(obj, key, { value: this.value(depth), enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.s[this.pos];
      this.pos++;
      if (c === '}') return obj;
      if (c !== ',') throw new Error("expecting ',' or '}'");
    }
  }

  private array(depth: number): unknown[] {
    const arr: unknown[] = [];
    this.pos++; // [
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return arr;
    }
    for (;;) {
      this.ws();
      arr.push(this.value(depth));
      this.ws();
      const c = this.s[this.pos];
      this.pos++;
      if (c === ']') return arr;
      if (c !== ',') throw new Error("expecting ',' or ']'");
    }
  }

  private string(): string {
    const s = this.s;
    const quote = s[this.pos++];
    let out = '';
    let start = this.pos;
    for (;;) {
      if (this.pos >= s.length) throw new Error('unterminated string');
      const c = s[this.pos];
      if (c === quote) {
        out += s.slice(start, this.pos);
        this.pos++;
        return out;
      }
      if (s.charCodeAt(this.pos) < 0x20) throw new Error('control character in a string');
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      out += s.slice(start, this.pos);
      const e = s[this.pos + 1];
      this.pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "'": out += "'"; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = s.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Error('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          throw new Error(`bad escape '\\${e ?? ''}'`);
      }
      start = this.pos;
    }
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.s);
    if (m === null) throw new Error('bad number');
    this.pos += m[0].length;
    return Number(m[0]);
  }
}

/** Recursion bound of the parser (the stream reader stops at its own, smaller, maxDepth). */
const MAX_PARSE_DEPTH = 4096;
const LITERALS: [string, unknown][] = [['true', true], ['false', false], ['null', null]];
const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
