/**
 * What the history lookups need from a request's RESTCONF path: the chain
 * it names. Only the path is read (not the body), so the answer is the
 * same when the log is reopened, whatever the datastore holds by then.
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
