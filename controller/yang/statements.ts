/**
 * YANG's concrete syntax (RFC 7950 section 6): text -> a tree of generic
 * statements (keyword, optional argument, substatements). Knows nothing of
 * what the keywords mean; build-schema.ts does. Every statement keeps its
 * file, line and column so schema errors can point at the source.
 *
 * Covered: comments, unquoted arguments, single-quoted strings (literal),
 * double-quoted strings (escapes \n \t \" \\ only, as YANG 1.1 requires,
 * and the indentation/trailing-whitespace stripping of section 6.1.3), and
 * '+' concatenation of quoted strings.
 */

export interface SourceLocation {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in characters. */
  readonly column: number;
}

export interface Statement {
  /** 'container', or 'prefix:name' for an extension statement. */
  readonly keyword: string;
  /** undefined when the statement has no argument (e.g. `input { ... }`). */
  readonly arg: string | undefined;
  readonly children: readonly Statement[];
  readonly loc: SourceLocation;
}

export class YangSyntaxError extends Error {
  readonly code = 'ESFC_YANG_SYNTAX';
  constructor(readonly loc: SourceLocation, readonly problem: string) {
    super(`${loc.file}:${loc.line}:${loc.column}: ${problem}`);
  }
}

type Token =
  | { kind: 'punct'; text: '{' | '}' | ';'; loc: SourceLocation }
  | { kind: 'word'; text: string; loc: SourceLocation }
  | { kind: 'quoted'; text: string; loc: SourceLocation }
  | { kind: 'plus'; loc: SourceLocation }
  | { kind: 'eof'; loc: SourceLocation };

/** Characters that end an unquoted string (besides white space and comment starts). */
const UNQUOTED_STOP = new Set([';', '{', '}', '"', "'"]);
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
/** RFC 7950 6.1.3: a tab counts as 8 columns when stripping indentation. */
const TAB_WIDTH = 8;

class Lexer {
  private pos = 0;
  private line = 1;
  /** Offset of the first character of the current line. */
  private lineStart = 0;

  constructor(private readonly text: string, private readonly file: string) {}

  private here(): SourceLocation {
    return { file: this.file, line: this.line, column: this.pos - this.lineStart + 1 };
  }

  private fail(problem: string, loc = this.here()): never {
    throw new YangSyntaxError(loc, problem);
  }

  private advance(): string {
    const c = this.text[this.pos++]!;
    if (c === '\n') {
      this.line++;
      this.lineStart = this.pos;
    }
    return c;
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) return;
      if (isSpace(c)) {
        this.advance();
      } else if (c === '/' && this.text[this.pos + 1] === '/') {
        while (this.pos < this.text.length && this.text[this.pos] !== '\n') this.advance();
      } else if (c === '/' && this.text[this.pos + 1] === '*') {
        const start = this.here();
        this.pos += 2;
        const end = this.text.indexOf('*/', this.pos);
        if (end < 0) this.fail('unterminated /* comment', start);
        while (this.pos < end + 2) this.advance();
      } else {
        return;
      }
    }
  }

  next(): Token {
    this.skipSpaceAndComments();
    const loc = this.here();
    const c = this.text[this.pos];
    if (c === undefined) return { kind: 'eof', loc };
    if (c === '{' || c === '}' || c === ';') {
      this.advance();
      return { kind: 'punct', text: c, loc };
    }
    if (c === '"') return { kind: 'quoted', text: this.doubleQuoted(), loc };
    if (c === "'") return { kind: 'quoted', text: this.singleQuoted(), loc };
    if (c === '+' && (this.pos + 1 >= this.text.length || isSpace(this.text[this.pos + 1]!) || this.text[this.pos + 1] === '"' || this.text[this.pos + 1] === "'")) {
      // '+' alone is the concatenation operator; '+' starting a longer unquoted string is text.
      this.advance();
      return { kind: 'plus', loc };
    }
    return { kind: 'word', text: this.unquoted(), loc };
  }

  private unquoted(): string {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (isSpace(c) || UNQUOTED_STOP.has(c)) break;
      if (c === '/' && (this.text[this.pos + 1] === '/' || this.text[this.pos + 1] === '*')) break;
      if (c === '*' && this.text[this.pos + 1] === '/') this.fail("'*/' outside a comment");
      this.advance();
    }
    return this.text.slice(start, this.pos);
  }

  private singleQuoted(): string {
    const start = this.here();
    this.advance();
    const end = this.text.indexOf("'", this.pos);
    if (end < 0) this.fail('unterminated single-quoted string', start);
    const s = this.text.slice(this.pos, end);
    while (this.pos <= end) this.advance();
    return s;
  }

  /** RFC 7950 6.1.3: escapes, then indentation up to the opening quote's column and trailing white space are stripped per line. */
  private doubleQuoted(): string {
    const start = this.here();
    const quoteColumn = this.visualColumn(this.lineStart, this.pos);
    this.advance();
    let raw = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) this.fail('unterminated double-quoted string', start);
      if (c === '"') {
        this.advance();
        break;
      }
      if (c === '\\') {
        const e = this.text[this.pos + 1];
        const map: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };
        if (e === undefined || !(e in map)) this.fail(`invalid escape '\\${e ?? ''}' in a double-quoted string (YANG 1.1 allows \\n \\t \\" \\\\)`);
        // Escaped characters are kept apart from layout white space: \u0000 markers never occur in YANG text.
        raw += `\u0000${e}`;
        this.advance();
        this.advance();
        continue;
      }
      raw += this.advance();
    }
    const lines = raw.replace(/\r\n/g, '\n').split('\n');
    const out = lines.map((l, i) => {
      let s = l;
      if (i > 0) s = stripIndent(s, quoteColumn + 1);
      if (i < lines.length - 1) s = s.replace(/[ \t]+$/, '');
      return s;
    });
    return out.join('\n').replace(/\u0000(.)/gs, (_m, e: string) => ({ n: '\n', t: '\t', '"': '"', '\\': '\\' })[e]!);
  }

  /** Column (0-based) of offset `to` in its line, tabs expanded to 8. */
  private visualColumn(from: number, to: number): number {
    let col = 0;
    for (let i = from; i < to; i++) col = this.text[i] === '\t' ? col + TAB_WIDTH - (col % TAB_WIDTH) : col + 1;
    return col;
  }
}

/** Removes leading white space up to `width` columns (tabs = 8) or the first other character, whichever comes first. */
function stripIndent(line: string, width: number): string {
  let col = 0;
  let i = 0;
  while (i < line.length && col < width) {
    const c = line[i];
    if (c === ' ') col++;
    else if (c === '\t') col += TAB_WIDTH - (col % TAB_WIDTH);
    else break;
    i++;
  }
  // A tab that reaches past the width leaves its excess as spaces.
  return (col > width ? ' '.repeat(col - width) : '') + line.slice(i);
}

class Parser {
  private tok: Token;

  constructor(private readonly lexer: Lexer) {
    this.tok = lexer.next();
  }

  private peekKind(): Token['kind'] {
    return this.tok.kind;
  }

  private take(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  statement(): Statement {
    const kw = this.take();
    if (kw.kind !== 'word') throw new YangSyntaxError(kw.loc, `expected a keyword, found ${describe(kw)}`);
    if (!/^([A-Za-z_][A-Za-z0-9_.-]*:)?[A-Za-z_][A-Za-z0-9_.-]*$/.test(kw.text)) {
      throw new YangSyntaxError(kw.loc, `'${kw.text}' is not a keyword`);
    }
    let arg: string | undefined;
    const first = this.tok;
    if (first.kind === 'word') {
      this.take();
      arg = first.text;
    } else if (first.kind === 'quoted') {
      arg = '';
      for (;;) {
        const q = this.take();
        if (q.kind !== 'quoted') throw new YangSyntaxError(q.loc, `expected a quoted string after '+', found ${describe(q)}`);
        arg += q.text;
        if (this.peekKind() !== 'plus') break;
        this.take();
      }
    }
    const end = this.take();
    const children: Statement[] = [];
    if (end.kind === 'punct' && end.text === '{') {
      while (!(this.tok.kind === 'punct' && this.tok.text === '}')) {
        if (this.tok.kind === 'eof') throw new YangSyntaxError(this.tok.loc, `'${kw.text}' at line ${kw.loc.line} is not closed with '}'`);
        children.push(this.statement());
      }
      this.take();
    } else if (!(end.kind === 'punct' && end.text === ';')) {
      throw new YangSyntaxError(end.loc, `expected ';' or '{' after '${kw.text}${arg === undefined ? '' : ' ' + abbreviate(arg)}', found ${describe(end)}`);
    }
    return { keyword: kw.text, arg, children, loc: kw.loc };
  }

  end(): void {
    if (this.tok.kind !== 'eof') throw new YangSyntaxError(this.tok.loc, `text after the end of the module: ${describe(this.tok)}`);
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'the end of the file';
    case 'plus': return "'+'";
    case 'punct': return `'${t.text}'`;
    case 'quoted': return `the string "${abbreviate(t.text)}"`;
    case 'word': return `'${abbreviate(t.text)}'`;
  }
}

const abbreviate = (s: string): string => (s.length > 40 ? `${s.slice(0, 37)}...` : s);

/** Parses one YANG file: exactly one top-level statement (module or submodule). */
export function parseStatements(text: string, file: string): Statement {
  // NUL never occurs in YANG text, and the lexer uses it to mark escaped characters.
  const nul = text.indexOf('\u0000');
  if (nul >= 0) {
    const before = text.slice(0, nul).split('\n');
    throw new YangSyntaxError({ file, line: before.length, column: before[before.length - 1]!.length + 1 }, 'NUL character in the module text');
  }
  const p = new Parser(new Lexer(text.startsWith('\uFEFF') ? text.slice(1) : text, file));
  const s = p.statement();
  p.end();
  return s;
}

/** The first substatement with this keyword, if any. */
export function sub(s: Statement, keyword: string): Statement | undefined {
  return s.children.find((c) => c.keyword === keyword);
}

/** Every substatement with this keyword. */
export function subs(s: Statement, keyword: string): Statement[] {
  return s.children.filter((c) => c.keyword === keyword);
}
