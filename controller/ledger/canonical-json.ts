/**
 * Canonical JSON (docs/ledger.md "Blocks", genesis): object keys sorted by
 * UTF-16 code units (JavaScript's default sort, as in RFC 8785), no
 * whitespace, strings and numbers as JSON.stringify writes them, members
 * whose value is undefined left out. Block 0 commits to the genesis by
 * hashing this form, so any two parties serialise the same genesis to the
 * same bytes.
 */

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CanonicalJsonError(`${v} has no JSON form`);
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map((x: unknown) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const members = Object.keys(o).filter((k) => o[k] !== undefined).sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`);
    return `{${members.join(',')}}`;
  }
  throw new CanonicalJsonError(`a ${typeof v} has no JSON form`);
}
