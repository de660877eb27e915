/**
 * Request bodies -> JSON values, strictly. RFC 7951 requires I-JSON (RFC
 * 7493): a member name may appear only once in an object, and strings must
 * be valid Unicode. JSON.parse silently keeps the last of two equal names,
 * so a body like {"trust": "trusted", "trust": "untrusted"} would mean
 * whatever the parser happened to keep; here it is refused, with the line
 * and column. Nesting is bounded so a hostile body cannot exhaust the stack.
 * Messages give positions, never the body's text.
 */
import { restconfError, type RestconfError } from './errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [member: string]: JsonValue };

export type JsonParseResult = { ok: true; value: JsonValue } | { ok: false; errors: RestconfError[] };

/** Deeper than any document of esfc's modules (they nest 6 levels) by a wide margin. */
export const DEFAULT_MAX_DEPTH = 64;

class JsonSyntaxError extends Error {
  constructor(readonly offset: number, readonly problem: string) {
    super(problem);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class JsonReader {
  private i = 0;

  constructor(private readonly s: string, private readonly maxDepth: number) {}

  private fail(problem: string, at = this.i): never {
    throw new JsonSyntaxError(at, problem);
  }

  private ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.i++;
    }
  }

  document(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i < this.s.length) this.fail('unexpected text after the JSON value');
    return v;
  }

  private value(depth: number): JsonValue {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} levels`);
    const c = this.s[this.i];
    switch (c) {
      case '{': return this.object(depth);
      case '[': return this.array(depth);
      case '"': return this.string();
      case 't': return this.word('true', true);
      case 'f': return this.word('false', false);
      case 'n': return this.word('null', null);
      case undefined: return this.fail('unexpected end of the body');
      default:
        if (c === '-' || (c >= '0' && c <= '9')) return this.number();
        return this.fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }

  private word<T extends JsonValue>(w: string, v: T): T {
    if (!this.s.startsWith(w, this.i)) this.fail('expected true, false or null');
    this.i += w.length;
    return v;
  }

  private number(): number {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) return this.fail('malformed number');
    const n = Number(m[0]);
    if (!Number.isFinite(n)) this.fail('number out of range');
    this.i += m[0].length;
    return n;
  }

  private string(): string {
    const start = this.i;
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) return this.fail('unterminated string', start);
      if (c === '"') {
        this.i++;
        break;
      }
      if (c === '\\') {
        const e = this.s[this.i + 1];
        if (e === 'u') {
          const hex = this.s.slice(this.i + 2, this.i + 6);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('malformed \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
        } else if (e !== undefined && e in ESCAPES) {
          out += ESCAPES[e];
          this.i += 2;
        } else {
          this.fail('invalid escape');
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) this.fail('control character in a string (escape it)');
      out += c;
      this.i++;
    }
    // I-JSON: no lone surrogates, whether written raw or as \u escapes.
    if (LONE_SURROGATE.test(out)) this.fail('string is not valid Unicode (lone surrogate)', start);
    return out;
  }

  private array(depth: number): JsonValue[] {
    this.i++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return out;
      }
      this.fail("expected ',' or ']' in an array");
    }
  }

  private object(depth: number): { [member: string]: JsonValue } {
    this.i++;
    const out: { [member: string]: JsonValue } = {};
    const seen = new Set<string>();
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a member name (a string)');
      const at = this.i;
      const name = this.string();
      if (seen.has(name)) this.fail(`member ${JSON.stringify(name.length > 64 ? `${name.slice(0, 61)}...` : name)} appears twice in one object (RFC 7493 2.3)`, at);
      seen.add(name);
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expected ':' after a member name");
      this.i++;
      this.ws();
      // defineProperty: a member named "__proto__" is data, not the object's prototype.
      Object.defineProperty(out, name, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return out;
      }
      this.fail("expected ',' or '}' in an object");
    }
  }
}

function lineColumn(s: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < s.length; k++) {
    if (s.charCodeAt(k) === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Parses a request body; every failure is one malformed-message error naming line and column. */
export function parseJsonText(text: string, opts: { maxDepth?: number } = {}): JsonParseResult {
  try {
    return { ok: true, value: new JsonReader(text, opts.maxDepth ?? DEFAULT_MAX_DEPTH).document() };
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    const { line, column } = lineColumn(text, e.offset);
    return { ok: false, errors: [restconfError('malformed-message', 'rpc', `the body is not valid JSON: line ${line} column ${column}: ${e.problem}`)] };
  }
}
