/**
 * What the history lookups need from a request: the chain it names. Only
 * the request is read (never the datastore), so the answer is the same when
 * the log is reopened, whatever the datastore holds by then.
 */

/**
 * The chain name in `/restconf/data/esfc-intent:chains/chain=NAME[/...]`
 * (RFC 8040 key values are percent-encoded), or undefined.
 */
export function chainOfPath(path: string): string | undefined {
  const q = path.indexOf('?');
  const segs = (q < 0 ? path : path.slice(0, q)).split('/');
  for (let i = 0; i + 1 < segs.length; i++) {
    const s = segs[i]!;
    if (s !== 'esfc-intent:chains' && s !== 'chains') continue;
    const next = segs[i + 1]!;
    if (!next.startsWith('chain=')) return undefined;
    try {
      return decodeURIComponent(next.slice('chain='.length));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The chain a request is about: the one its data path names, or, for an
 * operation (/restconf/operations/...), the `chain` its input names
 * (esfc-intent:rekey). Read from the request alone, as chainOfPath.
 */
export function chainOfRequest(r: { path: string; body: string }): string | undefined {
  if (!r.path.startsWith('/restconf/operations/')) return chainOfPath(r.path);
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const input = Object.entries(body).find(([k]) => k === 'input' || k.endsWith(':input'))?.[1] as Record<string, unknown> | undefined;
  return typeof input?.chain === 'string' ? input.chain : undefined;
}
