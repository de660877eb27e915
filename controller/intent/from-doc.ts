/**
 * The intent datastore (RFC 7951 JSON of YANG module esfc-intent, already
 * validated against the module) as the compiler's typed Intent. Defaults of
 * the module are applied here too, so a document that omits them compiles the
 * same as one that spells them out.
 */
import type { HookChoice, PortKind } from '../../agent/config/types.js';
import type { Intent, IntentMatch, PortRange, Trust } from './types.js';

type J = Record<string, unknown>;
const list = (o: unknown, k: string): J[] => (((o as J | undefined)?.[k] ?? []) as J[]);
const str = (o: J, k: string): string => String(o[k]);
const opt = (o: J, k: string): string | undefined => (o[k] === undefined ? undefined : String(o[k]));
const bool = (o: J, k: string, d: boolean): boolean => (o[k] === undefined ? d : o[k] === true);
const num = (o: J, k: string, d: number): number => (o[k] === undefined ? d : Number(o[k]));
const range = (o: unknown): PortRange | undefined => {
  if (o === undefined) return undefined;
  const r = o as J;
  return { from: num(r, 'from', 0), to: num(r, 'to', r.from === undefined ? 65535 : Number(r.from)) };
};

const probe = (p: J): { source: string; destination: string; intervalMs: number } => ({
  source: str(p, 'source'), destination: str(p, 'destination'), intervalMs: num(p, 'interval', 10),
});

export const INTENT_MODULE = 'esfc-intent';

export function intentFromDoc(doc: J): Intent {
  const top = (k: string): J | undefined => doc[`${INTENT_MODULE}:${k}`] as J | undefined;
  return {
    domains: list(top('domains'), 'domain').map((d) => ({
      name: str(d, 'name'), trust: str(d, 'trust') as Trust, neighbours: ((d.neighbours ?? []) as string[]).map(String),
    })),
    nodes: list(top('nodes'), 'node').map((n) => {
      const u = (n.underlay ?? {}) as J;
      return {
        name: str(n, 'name'), domain: str(n, 'domain'), nshTtl: num(n, 'nsh-ttl', 63), md3Type: num(n, 'md3-type', 3), holdDownMs: num(n, 'hold-down', 1000),
        underlay: { interface: str(u, 'interface'), address: str(u, 'address'), hook: (opt(u, 'hook') ?? 'auto') as HookChoice, ...(u.mac ? { mac: str(u, 'mac') } : {}) },
        ports: list(n, 'port').map((p) => ({
          name: str(p, 'name'), interface: str(p, 'interface'), kind: str(p, 'kind') as PortKind,
          hook: (opt(p, 'hook') ?? 'auto') as HookChoice, forwardOam: bool(p, 'forward-oam', false),
          ...(p['peer-mac'] ? { peerMac: str(p, 'peer-mac') } : {}),
        })),
        efs: list(n, 'encryption-function').map((e) => ({
          name: str(e, 'name'), netns: str(e, 'netns'), interface: str(e, 'interface'), address: str(e, 'address'), port: str(e, 'port'),
        })),
      };
    }),
    serviceFunctions: list(top('service-functions'), 'service-function').map((s) => ({
      name: str(s, 'name'), kind: opt(s, 'kind') ?? 'sf', node: str(s, 'node'), nshAware: bool(s, 'nsh-aware', false),
      ingressPort: str(s, 'ingress-port'), egressPort: opt(s, 'egress-port') ?? str(s, 'ingress-port'),
      ...(s['liveness-probe'] ? { livenessProbe: probe(s['liveness-probe'] as J) } : {}),
    })),
    chains: list(top('chains'), 'chain').map((c) => ({
      name: str(c, 'name'), tenant: str(c, 'tenant'), serviceFunctions: ((c['service-function'] ?? []) as string[]).map(String),
      protection: list(c, 'protection').map((p) => ({ serviceFunction: str(p, 'service-function'), standby: str(p, 'standby') })),
      ...(c['rekey-interval'] !== undefined ? { rekeyIntervalS: Number(c['rekey-interval']) } : {}),
    })),
    flows: list(top('flows'), 'flow').map((f) => ({
      name: str(f, 'name'), tenant: str(f, 'tenant'), chain: str(f, 'chain'),
      sensitive: bool(f, 'sensitive', true), bidirectional: bool(f, 'bidirectional', true),
      ingress: { node: str(f.ingress as J, 'node'), port: str(f.ingress as J, 'port') },
      egress: { node: str(f.egress as J, 'node'), port: str(f.egress as J, 'port') },
      match: list(f, 'match').map((m): IntentMatch => {
        const out: IntentMatch = {};
        if (m.protocol !== undefined) out.protocol = typeof m.protocol === 'number' ? m.protocol : (String(m.protocol) as IntentMatch['protocol']);
        if (m['source-prefix']) out.sourcePrefix = str(m, 'source-prefix');
        if (m['destination-prefix']) out.destinationPrefix = str(m, 'destination-prefix');
        const sp = range(m['source-ports']);
        const dp = range(m['destination-ports']);
        if (sp) out.sourcePorts = sp;
        if (dp) out.destinationPorts = dp;
        return out;
      }),
    })),
  };
}
