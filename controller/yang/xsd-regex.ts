/**
 * YANG `pattern` arguments are XML Schema regular expressions (XSD 1.0
 * Part 2, Appendix F), not JavaScript ones. They differ where it matters:
 * an XSD pattern always matches the whole value (no anchors), '^' and '$'
 * are ordinary characters, '.' excludes only \n and \r, \d and \w are
 * Unicode classes, and a class may subtract another ('[a-z-[aeiou]]').
 * This translates one into an anchored JS RegExp with the 'v' flag (whose
 * nested classes and '--' subtraction carry those semantics over), emitting
 * every literal as a \u{...} escape so no character means more than it
 * should. Unicode block escapes (\p{IsBasicLatin}) and the XML name classes
 * (\i, \c) have no JS equivalent: they are refused, not approximated.
 */

export class XsdPatternError extends Error {
  readonly code = 'ESFC_YANG_PATTERN';
  constructor(readonly pattern: string, readonly offset: number, readonly problem: string) {
    super(`pattern '${pattern}' at offset ${offset}: ${problem}`);
  }
}

/** XSD single-character escapes and the characters they stand for. */
const SINGLE_ESCAPES: Record<string, string> = {
  n: '\n', r: '\r', t: '\t', '\\': '\\', '|': '|', '.': '.', '?': '?', '*': '*', '+': '+',
  '(': '(', ')': ')', '{': '{', '}': '}', '-': '-', '[': '[', ']': ']', '^': '^',
};

/** Unicode general categories XSD allows in \p{..}, all of which JS knows by the same names. */
const CATEGORIES = new Set([
  'L', 'Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'M', 'Mn', 'Mc', 'Me', 'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Ps', 'Pe', 'Pi', 'Pf', 'Po', 'Z', 'Zs', 'Zl', 'Zp',
  'S', 'Sm', 'Sc', 'Sk', 'So', 'C', 'Cc', 'Cf', 'Co', 'Cn',
]);

const XSD_SPACE = '[\\u{9}\\u{a}\\u{d}\\u{20}]';
/** Multi-character escapes as 'v'-mode class operands (valid inside and outside a class). */
const MULTI_ESCAPES: Record<string, string> = {
  d: '\\p{Nd}',
  D: '\\P{Nd}',
  s: XSD_SPACE,
  S: '[^\\u{9}\\u{a}\\u{d}\\u{20}]',
  w: '[^\\p{P}\\p{Z}\\p{C}]',
  W: '[\\p{P}\\p{Z}\\p{C}]',
};

const lit = (c: string): string => `\\u{${c.codePointAt(0)!.toString(16)}}`;

class Translator {
  private i = 0;
  private readonly chars: string[];

  constructor(private readonly pattern: string) {
    // By code point, so astral characters are one character as in XSD.
    this.chars = [...pattern];
  }

  private fail(problem: string, offset = this.i): never {
    throw new XsdPatternError(this.pattern, offset, problem);
  }

  private peek(k = 0): string | undefined {
    return this.chars[this.i + k];
  }

  translate(): string {
    let out = '';
    while (this.i < this.chars.length) {
      const c = this.chars[this.i]!;
      switch (c) {
        case '\\': {
          const e = this.escape();
          out += e.kind === 'char' ? lit(e.char) : e.operand;
          break;
        }
        case '[':
          out += this.charClass();
          break;
        case '.':
          this.i++;
          out += '[^\\u{a}\\u{d}]';
          break;
        case '(': case ')': case '|': case '*': case '+': case '?':
          this.i++;
          out += c;
          break;
        case '{':
          out += this.quantifier();
          break;
        case ']': case '}':
          this.fail(`'${c}' must be escaped`);
          break;
        default:
          this.i++;
          out += /[A-Za-z0-9]/.test(c) ? c : lit(c);
      }
    }
    return out;
  }

  private quantifier(): string {
    const rest = this.chars.slice(this.i).join('');
    const m = /^\{(\d+)(,(\d*))?\}/.exec(rest);
    if (!m) this.fail("'{' starts no quantifier ({n}, {n,} or {n,m}); escape it as \\{");
    if (m[3] !== undefined && m[3] !== '' && Number(m[3]) < Number(m[1])) this.fail(`quantifier ${m[0]} has its maximum below its minimum`);
    this.i += [...m[0]].length;
    return m[0];
  }

  private escape(): { kind: 'char'; char: string } | { kind: 'class'; operand: string } {
    const e = this.peek(1);
    const at = this.i;
    if (e === undefined) this.fail('the pattern ends with a lone backslash');
    this.i += 2;
    if (e in SINGLE_ESCAPES) return { kind: 'char', char: SINGLE_ESCAPES[e]! };
    if (e in MULTI_ESCAPES) return { kind: 'class', operand: MULTI_ESCAPES[e]! };
    if (e === 'p' || e === 'P') {
      const rest = this.chars.slice(this.i).join('');
      const m = /^\{([A-Za-z0-9-]+)\}/.exec(rest);
      if (!m) this.fail(`\\${e} must be followed by {Category}`, at);
      this.i += m[0].length;
      if (!CATEGORIES.has(m[1]!)) this.fail(`\\${e}{${m[1]}}: only Unicode general categories are supported (block escapes like IsBasicLatin are not)`, at);
      return { kind: 'class', operand: `\\${e}{${m[1]}}` };
    }
    if ('iIcC'.includes(e)) this.fail(`\\${e} (XML name characters) is not supported`, at);
    return this.fail(`'\\${e}' is not an XSD escape`, at);
  }

  /** '[' already current. XSD: '[' '^'? items ('-' class)? ']' -> a 'v'-mode class. */
  private charClass(): string {
    this.i++;
    const negated = this.peek() === '^';
    if (negated) this.i++;
    const items: string[] = [];
    let subtract: string | undefined;
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail("unterminated '[' class");
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      if (c === '-' && this.peek(1) === '[' && !first) {
        this.i++;
        subtract = this.charClass();
        if (this.peek() !== ']') this.fail("a class subtraction must end the class: '-[...]' then ']'");
        this.i++;
        break;
      }
      if (c === '[') this.fail("'[' inside a class must be escaped");
      const startChar = this.classChar(first);
      first = false;
      if (startChar.kind === 'class') {
        items.push(startChar.operand);
        continue;
      }
      // A range 'a-z' (a '-' right before ']' or '-[' is a literal).
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '[' && this.peek(1) !== undefined) {
        this.i++;
        const end = this.classChar(false);
        if (end.kind === 'class') this.fail('a range cannot end with a multi-character escape');
        if (end.char.codePointAt(0)! < startChar.char.codePointAt(0)!) this.fail(`range ${startChar.char}-${end.char} is reversed`);
        items.push(`${lit(startChar.char)}-${lit(end.char)}`);
      } else {
        items.push(lit(startChar.char));
      }
    }
    if (items.length === 0) this.fail('empty character class');
    const base = `[${negated ? '^' : ''}${items.join('')}]`;
    return subtract === undefined ? base : `[${base}--${subtract}]`;
  }

  private classChar(first: boolean): { kind: 'char'; char: string } | { kind: 'class'; operand: string } {
    const c = this.peek()!;
    if (c === '\\') return this.escape();
    if (c === '-' && !first && this.peek(1) !== ']') this.fail("'-' inside a class must be escaped unless first or last");
    this.i++;
    return { kind: 'char', char: c };
  }
}

/** The JS source (for the 'v' flag) matching exactly what the XSD pattern matches, anchored. */
export function xsdToJsSource(pattern: string): string {
  return `^(?:${new Translator(pattern).translate()})$`;
}

/** Compiles an XSD pattern into an anchored RegExp; XsdPatternError when it is invalid or unsupported. */
export function compileXsdPattern(pattern: string): RegExp {
  const src = xsdToJsSource(pattern);
  try {
    return new RegExp(src, 'v');
  } catch (e) {
    throw new XsdPatternError(pattern, 0, `no JavaScript equivalent (${(e as Error).message})`);
  }
}
