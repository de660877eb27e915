/**
 * The argument of a leafref's `path` (RFC 7950 9.9.2, path-arg): an
 * absolute path from the data root or '../'s then a relative one, whose
 * list steps may carry predicates of the one form YANG allows there,
 * [key = current()/../.../leaf]. Module prefixes are resolved by the caller
 * (they mean what the module the path is written in says they mean).
 */
import type { LeafrefPath, LeafrefPredicate, LeafrefStep } from './schema.js';

export class LeafrefPathError extends Error {
  readonly code = 'ESFC_YANG_LEAFREF_PATH';
  constructor(readonly text: string, readonly offset: number, readonly problem: string) {
    super(`leafref path '${text}': ${problem}`);
  }
}

const NODE_IDENTIFIER = /^(?:([A-Za-z_][A-Za-z0-9_.-]*):)?([A-Za-z_][A-Za-z0-9_.-]*)/;

/** `moduleOf` maps a prefix (undefined: none written) to a module name, or throws. */
export function parseLeafrefPath(text: string, moduleOf: (prefix: string | undefined) => string): LeafrefPath {
  let i = 0;
  const fail = (problem: string): never => {
    throw new LeafrefPathError(text, i, problem);
  };
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expect = (lit: string): void => {
    ws();
    if (!text.startsWith(lit, i)) fail(`expected '${lit}' at offset ${i}`);
    i += lit.length;
  };
  const qname = (): { module: string; name: string } => {
    ws();
    const m = NODE_IDENTIFIER.exec(text.slice(i));
    if (!m) return fail(`expected a node name at offset ${i}`);
    i += m[0].length;
    return { module: moduleOf(m[1]), name: m[2]! };
  };
  /** '../' repeated: how many levels up. */
  const ups = (): number => {
    let n = 0;
    for (;;) {
      ws();
      if (!text.startsWith('..', i)) return n;
      i += 2;
      expect('/');
      n++;
    }
  };

  const absolute = text.trimStart().startsWith('/');
  let up = 0;
  if (absolute) {
    expect('/');
  } else {
    up = ups();
    if (up === 0) fail("it must start with '/' or '../'");
  }
  const steps: LeafrefStep[] = [];
  for (;;) {
    const step = qname();
    const predicates: LeafrefPredicate[] = [];
    for (;;) {
      ws();
      if (text[i] !== '[') break;
      i++;
      const key = qname();
      expect('=');
      expect('current()');
      expect('/');
      const pup = ups();
      if (pup === 0) fail("a predicate's current()/ must go up with '../'");
      const down = [qname()];
      for (;;) {
        ws();
        if (text[i] !== '/') break;
        i++;
        down.push(qname());
      }
      expect(']');
      predicates.push({ key, up: pup, down });
    }
    steps.push({ ...step, predicates });
    ws();
    if (i >= text.length) break;
    expect('/');
  }
  return { text, absolute, up, steps };
}
