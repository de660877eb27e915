/**
 * One leaf value against its YANG type, in the three forms it travels in:
 * - JSON (RFC 7951 section 6): bodies and replies. 64-bit integers are
 *   strings, smaller ones numbers, enumerations strings, empty is [null];
 * - lexical (RFC 7950 section 9): list keys in resource paths and
 *   `default` statements, always a string;
 * - JS: the decoded value the controller works with: number for integers
 *   up to 32 bits, bigint for 64-bit ones, string, boolean, null for empty.
 * Every restriction (range, length, pattern, enum) is checked here, and a
 * refusal says what the type expects.
 */
import type { IntegerBase, Interval, StringType, ValueType } from './schema.js';

export type YangScalar = string | number | bigint | boolean | null;

export type Checked = { ok: true; value: YangScalar } | { ok: false; problem: string };

const ok = (value: YangScalar): Checked => ({ ok: true, value });
const no = (problem: string): Checked => ({ ok: false, problem });

export const INTEGER_BOUNDS: Readonly<Record<IntegerBase, Interval>> = {
  int8: { min: -128n, max: 127n },
  int16: { min: -32768n, max: 32767n },
  int32: { min: -2147483648n, max: 2147483647n },
  int64: { min: -9223372036854775808n, max: 9223372036854775807n },
  uint8: { min: 0n, max: 255n },
  uint16: { min: 0n, max: 65535n },
  uint32: { min: 0n, max: 4294967295n },
  uint64: { min: 0n, max: 18446744073709551615n },
};

/** RFC 7951 6.1: int64 and uint64 travel as JSON strings (JSON numbers lose precision past 2^53). */
export const is64Bit = (b: IntegerBase): boolean => b === 'int64' || b === 'uint64';

const LEXICAL_INTEGER = /^[+-]?[0-9]+$/;

export function formatIntervals(set: readonly Interval[]): string {
  return set.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}..${r.max}`)).join(' | ');
}

const inSet = (v: bigint, set: readonly Interval[]): boolean => set.some((r) => v >= r.min && v <= r.max);

/** A short description of what the type accepts, for messages: 'uint8 in 2..63', 'one of auto, xdp, tc'. */
export function describeType(t: ValueType): string {
  switch (t.kind) {
    case 'integer': {
      const last = t.ranges[t.ranges.length - 1];
      const core = `${t.base}${last ? ` in ${formatIntervals(last)}` : ''}`;
      return t.name === t.base ? core : `${t.name} (${core})`;
    }
    case 'string': {
      const parts: string[] = [];
      const last = t.lengths[t.lengths.length - 1];
      if (last) parts.push(`${formatIntervals(last)} characters`);
      for (const p of t.patterns) parts.push(`${p.invert ? 'not matching' : 'matching'} '${p.source}'`);
      const core = parts.length ? `a string of ${parts.join(', ')}` : 'a string';
      return t.name === 'string' ? core : `${t.name} (${core})`;
    }
    case 'boolean': return 'a boolean';
    case 'empty': return 'empty ([null])';
    case 'enumeration': return `${t.name === 'enumeration' ? '' : `${t.name}: `}one of ${t.enums.map((e) => e.name).join(', ')}`;
    case 'union': return t.members.map(describeType).join(' or ');
  }
}

/** How a JSON value is named in messages, without quoting more than a little of it. */
export function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return `the string ${JSON.stringify(v.length > 64 ? `${v.slice(0, 61)}...` : v)}`;
    case 'number': return `the number ${v}`;
    case 'boolean': return `${v}`;
    case 'object': return 'an object';
    default: return `a ${typeof v}`;
  }
}

/** A string value in a message: quoted, and cut short if long. */
const quote = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);

function checkInteger(t: Extract<ValueType, { kind: 'integer' }>, v: bigint, shown: string): Checked {
  const b = INTEGER_BOUNDS[t.base];
  if (v < b.min || v > b.max) return no(`${shown} is out of range for ${t.base} (${b.min}..${b.max})`);
  for (const set of t.ranges) {
    if (!inSet(v, set)) return no(`${shown} is out of range for ${describeType(t)}`);
  }
  return ok(is64Bit(t.base) ? v : Number(v));
}

function checkString(t: StringType, s: string): Checked {
  // YANG lengths count characters (code points), not UTF-16 units.
  const n = BigInt([...s].length);
  for (const set of t.lengths) {
    if (!inSet(n, set)) return no(`${quote(s)} has ${n} characters; ${t.name} allows ${formatIntervals(set)}`);
  }
  for (const p of t.patterns) {
    if (p.regex.test(s) === p.invert) {
      return no(p.errorMessage !== undefined
        ? `${quote(s)} is not a valid ${t.name}: ${p.errorMessage}`
        : `${quote(s)} is not a valid ${t.name}: it ${p.invert ? 'matches' : 'does not match'} the pattern '${p.source}'`);
    }
  }
  return ok(s);
}

function checkEnum(t: Extract<ValueType, { kind: 'enumeration' }>, s: string): Checked {
  return t.enums.some((e) => e.name === s) ? ok(s) : no(`${quote(s)} is not ${describeType(t)}`);
}

/** Union: the first member type that takes the value wins; otherwise every member's reason. */
function firstMember(t: Extract<ValueType, { kind: 'union' }>, attempt: (m: ValueType) => Checked, shown: string): Checked {
  const reasons: string[] = [];
  for (const m of t.members) {
    const r = attempt(m);
    if (r.ok) return r;
    reasons.push(r.problem);
  }
  return no(`${shown} is not ${describeType(t)} (${reasons.join('; ')})`);
}

/** RFC 7951 JSON value -> JS value. */
export function fromJson(t: ValueType, j: unknown): Checked {
  const wrongKind = (want: string): Checked => no(`expected ${describeType(t)} as ${want}, got ${describeJson(j)}`);
  switch (t.kind) {
    case 'integer':
      if (is64Bit(t.base)) {
        if (typeof j !== 'string') return wrongKind('a JSON string (RFC 7951: 64-bit integers are strings)');
        if (!LEXICAL_INTEGER.test(j)) return no(`${quote(j)} is not ${describeType(t)}: not a decimal integer`);
        return checkInteger(t, BigInt(j), j);
      }
      if (typeof j !== 'number') return wrongKind('a JSON number');
      if (!Number.isSafeInteger(j)) return no(`${j} is not ${describeType(t)}: not an integer`);
      return checkInteger(t, BigInt(j), String(j));
    case 'string':
      return typeof j === 'string' ? checkString(t, j) : wrongKind('a JSON string');
    case 'boolean':
      return typeof j === 'boolean' ? ok(j) : wrongKind('true or false');
    case 'empty':
      return Array.isArray(j) && j.length === 1 && j[0] === null ? ok(null) : wrongKind('[null]');
    case 'enumeration':
      return typeof j === 'string' ? checkEnum(t, j) : wrongKind('a JSON string');
    case 'union':
      return firstMember(t, (m) => fromJson(m, j), typeof j === 'string' ? quote(j) : describeJson(j));
  }
}

/** Lexical (string) form -> JS value: list keys in paths, defaults in modules. */
export function fromLexical(t: ValueType, s: string): Checked {
  switch (t.kind) {
    case 'integer':
      if (!LEXICAL_INTEGER.test(s)) return no(`${quote(s)} is not ${describeType(t)}: not a decimal integer`);
      return checkInteger(t, BigInt(s), s);
    case 'string':
      return checkString(t, s);
    case 'boolean':
      return s === 'true' || s === 'false' ? ok(s === 'true') : no(`${quote(s)} is not a boolean (true or false)`);
    case 'empty':
      return s === '' ? ok(null) : no(`${quote(s)} is not empty`);
    case 'enumeration':
      return checkEnum(t, s);
    case 'union':
      return firstMember(t, (m) => fromLexical(m, s), quote(s));
  }
}

/** A JS value from the controller (number or bigint both fine for any integer) -> its normal JS form, checked. */
export function fromJs(t: ValueType, v: unknown): Checked {
  const wrong = (): Checked => no(`expected ${describeType(t)}, got ${describeJson(v)}`);
  switch (t.kind) {
    case 'integer':
      if (typeof v === 'bigint') return checkInteger(t, v, `${v}`);
      if (typeof v === 'number' && Number.isSafeInteger(v)) return checkInteger(t, BigInt(v), `${v}`);
      return wrong();
    case 'string':
      return typeof v === 'string' ? checkString(t, v) : wrong();
    case 'boolean':
      return typeof v === 'boolean' ? ok(v) : wrong();
    case 'empty':
      return v === null ? ok(null) : wrong();
    case 'enumeration':
      return typeof v === 'string' ? checkEnum(t, v) : wrong();
    case 'union':
      return firstMember(t, (m) => fromJs(m, v), describeJson(v));
  }
}

/** A normal JS value (from fromJs/fromJson) -> RFC 7951 JSON. */
export function toJson(v: YangScalar): string | number | boolean | [null] {
  if (v === null) return [null];
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/** A normal JS value -> canonical lexical form (RFC 7950 9.x canonical forms of the types used here). */
export function toLexical(v: YangScalar): string {
  if (v === null) return '';
  return String(v);
}
