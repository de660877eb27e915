/**
 * Validation of a node configuration: every problem names the field (as a
 * path like `ports[2].peerMac`), says what is wrong and how to fix it, and
 * all problems are reported at once. Pure: no I/O.
 */
import {
  CONFIG_API_VERSION, type ClassifierRule, type HookChoice, type HopConfig, type HopTarget,
  type NodeConfig, type PathConfig, type PeerConfig, type PortConfig, type PortKind, type PortRange,
  type UnderlayConfig, type LivenessConfig, type ProbeConfig,
} from './types.js';
import { checkEncryption, encryptionSections } from './validate-encryption.js';

export interface ConfigProblem {
  path: string;
  problem: string;
  fix: string;
}

export class ConfigError extends Error {
  readonly code = 'ESFC_CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[], readonly source = 'config') {
    super(`${source}: ${problems.length} problem(s):\n` +
      problems.map((p) => `  ${p.path}: ${p.problem} (fix: ${p.fix})`).join('\n'));
  }
}

export type Json = unknown;
const PORT_KINDS: readonly PortKind[] = ['edge', 'sf', 'sf-proxy', 'ef', 'punt'];
const HOOKS: readonly HookChoice[] = ['auto', 'xdp', 'tc', 'p4'];
export const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;
export const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export class Checker {
  readonly problems: ConfigProblem[] = [];
  /** Inside a secret (a key generation): problems never quote a value. */
  private secretDepth = 0;
  fail(path: string, problem: string, fix: string): void {
    this.problems.push({ path, problem, fix });
  }
  /** Run fn with every value it checks treated as secret: described by its shape, never quoted. */
  secret<T>(fn: () => T): T {
    this.secretDepth++;
    try {
      return fn();
    } finally {
      this.secretDepth--;
    }
  }
  private describe(v: Json): string {
    return this.secretDepth ? describeSecret(v) : describe(v);
  }
  obj(v: Json, path: string): Record<string, Json> | undefined {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, Json>;
    this.fail(path, `expected an object, got ${this.describe(v)}`, 'write a JSON object here');
    return undefined;
  }
  arr(v: Json, path: string): Json[] {
    if (v === undefined) return [];
    if (Array.isArray(v)) return v;
    this.fail(path, `expected a list, got ${this.describe(v)}`, 'write a JSON array here');
    return [];
  }
  str(v: Json, path: string, re?: RegExp, what = 'a string'): string | undefined {
    if (typeof v !== 'string' || (re && !re.test(v))) {
      this.fail(path, `expected ${what}, got ${this.describe(v)}`, `give ${what}`);
      return undefined;
    }
    return v;
  }
  int(v: Json, path: string, min: number, max: number): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `expected an integer in ${min}..${max}, got ${this.describe(v)}`, `use a value between ${min} and ${max}`);
      return undefined;
    }
    return v;
  }
  oneOf<T extends string>(v: Json, path: string, options: readonly T[], dflt?: T): T | undefined {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v === 'string' && (options as readonly string[]).includes(v)) return v as T;
    this.fail(path, `expected one of ${options.join(', ')}, got ${this.describe(v)}`, `pick one of ${options.join(', ')}`);
    return undefined;
  }
  unknownKeys(o: Record<string, Json>, path: string, known: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.fail(`${path}.${k}`.replace(/^\./, ''), 'unknown field', `remove it or use one of ${known.join(', ')}`);
    }
  }
}

export function describe(v: Json): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** What is wrong with a secret value, without any of its characters. */
export function describeSecret(v: Json): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') {
    const nonHex = [...v].filter((ch) => !/[0-9a-f]/i.test(ch)).length;
    return `a string of ${v.length} characters${nonHex ? `, ${nonHex} of them not hex digits` : ''} (value not shown: secret)`;
  }
  if (Array.isArray(v)) return `a list of ${v.length} (value not shown: secret)`;
  return `${v === null ? 'null' : typeof v} (value not shown: secret)`;
}

/**
 * bpffs directories the agent may own (and delete on uninstall): absolute,
 * under /sys/fs/bpf, plain names only, so no ".." can lead it elsewhere.
 */
export const PIN_DIR = /^\/sys\/fs\/bpf(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9_.-]{1,64}){1,8}$/;

export function isIpv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255);
}

export function parsePrefix(s: string): { addr: string; len: number } | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d{1,2}))?$/.exec(s);
  if (!m || !isIpv4(m[1]!)) return undefined;
  const len = m[2] === undefined ? 32 : Number(m[2]);
  return len <= 32 ? { addr: m[1]!, len } : undefined;
}

/** Validate parsed JSON; returns the typed config with defaults, or throws ConfigError. */
export function validateConfig(input: Json, source = 'config'): NodeConfig {
  const c = new Checker();
  const root = c.obj(input, '(root)');
  if (!root) throw new ConfigError(c.problems, source);
  c.unknownKeys(root, '', ['apiVersion', 'node', 'underlay', 'peers', 'ports', 'paths', 'classifier', 'efs', 'encryptedHops', 'liveness']);
  if (root.apiVersion !== CONFIG_API_VERSION) {
    c.fail('apiVersion', `expected "${CONFIG_API_VERSION}", got ${describe(root.apiVersion)}`, `set "apiVersion": "${CONFIG_API_VERSION}"`);
  }

  const n = c.obj(root.node, 'node') ?? {};
  c.unknownKeys(n, 'node', ['name', 'pinDir', 'nshTtl', 'md3Type']);
  const name = c.str(n.name, 'node.name', NAME, 'a lower-case name') ?? '';
  const pinDir = n.pinDir === undefined ? `/sys/fs/bpf/esfc/${name}` : c.str(n.pinDir, 'node.pinDir', PIN_DIR, 'a directory under /sys/fs/bpf made of plain names (no ".", "..", "//" or trailing "/")') ?? '';
  const nshTtl = n.nshTtl === undefined ? 63 : c.int(n.nshTtl, 'node.nshTtl', 2, 63) ?? 63;
  const md3Type = n.md3Type === undefined ? 3 : c.int(n.md3Type, 'node.md3Type', 3, 15) ?? 3;

  let underlay: UnderlayConfig | undefined;
  if (root.underlay !== undefined) {
    const u = c.obj(root.underlay, 'underlay') ?? {};
    c.unknownKeys(u, 'underlay', ['interface', 'address', 'hook']);
    underlay = {
      interface: c.str(u.interface, 'underlay.interface', IFNAME, 'an interface name') ?? '',
      address: c.str(u.address, 'underlay.address', /./, 'an IPv4 address') ?? '',
      hook: c.oneOf(u.hook, 'underlay.hook', HOOKS, 'auto') ?? 'auto',
    };
    if (underlay.address && !isIpv4(underlay.address)) c.fail('underlay.address', `not an IPv4 address: ${underlay.address}`, 'write a.b.c.d');
  }

  const peers: PeerConfig[] = c.arr(root.peers, 'peers').map((p, i) => {
    const path = `peers[${i}]`;
    const o = c.obj(p, path) ?? {};
    c.unknownKeys(o, path, ['name', 'address', 'mac']);
    const peer: PeerConfig = {
      name: c.str(o.name, `${path}.name`, NAME, 'a lower-case name') ?? '',
      address: c.str(o.address, `${path}.address`, /./, 'an IPv4 address') ?? '',
    };
    if (peer.address && !isIpv4(peer.address)) c.fail(`${path}.address`, `not an IPv4 address: ${peer.address}`, 'write a.b.c.d');
    if (o.mac !== undefined) peer.mac = c.str(o.mac, `${path}.mac`, MAC, 'a MAC like 02:00:00:00:00:01')?.toLowerCase();
    return peer;
  });

  const ports: PortConfig[] = c.arr(root.ports, 'ports').map((p, i) => {
    const path = `ports[${i}]`;
    const o = c.obj(p, path) ?? {};
    c.unknownKeys(o, path, ['name', 'interface', 'kind', 'hook', 'peerMac', 'function', 'forwardOam']);
    const port: PortConfig = {
      name: c.str(o.name, `${path}.name`, NAME, 'a lower-case name') ?? '',
      interface: c.str(o.interface, `${path}.interface`, IFNAME, 'an interface name (at most 15 characters)') ?? '',
      kind: c.oneOf(o.kind, `${path}.kind`, PORT_KINDS) ?? 'edge',
      hook: c.oneOf(o.hook, `${path}.hook`, HOOKS, 'auto') ?? 'auto',
      forwardOam: o.forwardOam === undefined ? false : o.forwardOam === true,
    };
    if (o.peerMac !== undefined) port.peerMac = c.str(o.peerMac, `${path}.peerMac`, MAC, 'a MAC like 02:00:00:00:00:01')?.toLowerCase();
    if (o.function !== undefined) port.function = c.str(o.function, `${path}.function`, NAME, 'a lower-case name');
    if (port.kind !== 'punt' && port.kind !== 'edge' && !port.function) {
      c.fail(`${path}.function`, `a ${port.kind} port needs the function behind it`, 'add "function": "<sf or ef name>"');
    }
    if ((port.kind === 'sf' || port.kind === 'sf-proxy' || port.kind === 'ef') && !port.peerMac) {
      c.fail(`${path}.peerMac`, `a ${port.kind} port needs the MAC of the function behind it`, 'add "peerMac": "xx:xx:xx:xx:xx:xx"');
    }
    return port;
  });

  const paths: PathConfig[] = c.arr(root.paths, 'paths').map((p, i) => {
    const path = `paths[${i}]`;
    const o = c.obj(p, path) ?? {};
    c.unknownKeys(o, path, ['spi', 'layer', 'hops']);
    return {
      spi: c.int(o.spi, `${path}.spi`, 1, 0xffffff) ?? 0,
      layer: c.oneOf(o.layer, `${path}.layer`, ['sf', 'ef'] as const, 'sf') ?? 'sf',
      hops: c.arr(o.hops, `${path}.hops`).map((h, j) => hop(c, h, `${path}.hops[${j}]`)),
    };
  });

  const classifier: ClassifierRule[] = c.arr(root.classifier, 'classifier').map((r, i) => rule(c, r, `classifier[${i}]`));

  const cfg: NodeConfig = {
    apiVersion: CONFIG_API_VERSION,
    node: { name, pinDir, nshTtl, md3Type },
    peers, ports, paths, classifier,
    ...encryptionSections(c, root),
  };
  if (underlay) cfg.underlay = underlay;
  if (root.liveness !== undefined) cfg.liveness = liveness(c, root.liveness);
  crossCheck(c, cfg);
  checkEncryption(c, cfg);
  if (c.problems.length) throw new ConfigError(c.problems, source);
  return cfg;
}

function target(c: Checker, v: Json, path: string): HopTarget {
  const t = c.obj(v, path) ?? {};
  const keys = Object.keys(t);
  if (keys.length !== 1 || !['port', 'node', 'deliver'].includes(keys[0]!)) {
    c.fail(path, `expected exactly one of port, node, deliver; got ${describe(t)}`, 'write {"port": name}, {"node": peer} or {"deliver": edge port}');
    return { port: '' };
  }
  const k = keys[0] as 'port' | 'node' | 'deliver';
  const name = c.str(t[k], `${path}.${k}`, NAME, 'a name') ?? '';
  return k === 'port' ? { port: name } : k === 'node' ? { node: name } : { deliver: name };
}

function hop(c: Checker, h: Json, path: string): HopConfig {
  const o = c.obj(h, path) ?? {};
  c.unknownKeys(o, path, ['si', 'to', 'from', 'standby']);
  const si = c.int(o.si, `${path}.si`, 1, 255) ?? 0;
  const out: HopConfig = { si, to: target(c, o.to, `${path}.to`) };
  if (o.from !== undefined) {
    const list = typeof o.from === 'string' ? [o.from] : c.arr(o.from, `${path}.from`);
    out.from = list.map((f, k) => c.str(f, `${path}.from${typeof o.from === 'string' ? '' : `[${k}]`}`, NAME, 'a peer name') ?? '');
  }
  if (o.standby !== undefined) out.standby = target(c, o.standby, `${path}.standby`);
  return out;
}

/** Default hold-down before a function that failed is used again. */
export const DEFAULT_HOLD_DOWN_MS = 1000;

function liveness(c: Checker, v: Json): LivenessConfig {
  const o = c.obj(v, 'liveness') ?? {};
  c.unknownKeys(o, 'liveness', ['holdDownMs', 'probes']);
  return {
    holdDownMs: o.holdDownMs === undefined ? DEFAULT_HOLD_DOWN_MS : c.int(o.holdDownMs, 'liveness.holdDownMs', 0, 3_600_000) ?? DEFAULT_HOLD_DOWN_MS,
    probes: c.arr(o.probes, 'liveness.probes').map((p, i): ProbeConfig => {
      const path = `liveness.probes[${i}]`;
      const q = c.obj(p, path) ?? {};
      c.unknownKeys(q, path, ['function', 'port', 'source', 'destination', 'intervalMs']);
      const out: ProbeConfig = {
        function: c.str(q.function, `${path}.function`, NAME, 'an SF name (ports[].function)') ?? '',
        port: c.str(q.port, `${path}.port`, NAME, 'the name of the SF\'s ingress port') ?? '',
        source: c.str(q.source, `${path}.source`, /./, 'an IPv4 address') ?? '',
        destination: c.str(q.destination, `${path}.destination`, /./, 'an IPv4 address') ?? '',
        intervalMs: q.intervalMs === undefined ? 10 : c.int(q.intervalMs, `${path}.intervalMs`, 1, 60_000) ?? 10,
      };
      for (const k of ['source', 'destination'] as const) {
        if (out[k] && !isIpv4(out[k])) c.fail(`${path}.${k}`, `not an IPv4 address: ${out[k]}`, 'write a.b.c.d');
      }
      return out;
    }),
  };
}

function range(c: Checker, v: Json, path: string): PortRange | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    const n = c.int(v, path, 0, 65535);
    return n === undefined ? undefined : { from: n, to: n };
  }
  const o = c.obj(v, path) ?? {};
  const from = c.int(o.from, `${path}.from`, 0, 65535) ?? 0;
  const to = c.int(o.to, `${path}.to`, 0, 65535) ?? 65535;
  if (from > to) c.fail(path, `from ${from} is above to ${to}`, 'swap them');
  return { from, to };
}

function rule(c: Checker, r: Json, path: string): ClassifierRule {
  const o = c.obj(r, path) ?? {};
  c.unknownKeys(o, path, ['port', 'source', 'destination', 'protocol', 'sourcePorts', 'destinationPorts', 'spi']);
  const out: ClassifierRule = { spi: c.int(o.spi, `${path}.spi`, 1, 0xffffff) ?? 0 };
  if (o.port !== undefined) out.port = c.str(o.port, `${path}.port`, NAME, 'an edge port name');
  for (const k of ['source', 'destination'] as const) {
    if (o[k] === undefined) continue;
    const s = c.str(o[k], `${path}.${k}`, /./, 'an IPv4 prefix');
    if (s !== undefined && !parsePrefix(s)) c.fail(`${path}.${k}`, `not an IPv4 prefix: ${s}`, 'write a.b.c.d/len');
    else if (s !== undefined) out[k] = s;
  }
  if (o.protocol !== undefined) {
    if (typeof o.protocol === 'number') out.protocol = c.int(o.protocol, `${path}.protocol`, 1, 255);
    else out.protocol = c.oneOf(o.protocol, `${path}.protocol`, ['tcp', 'udp', 'icmp'] as const);
  }
  const sp = range(c, o.sourcePorts, `${path}.sourcePorts`);
  const dp = range(c, o.destinationPorts, `${path}.destinationPorts`);
  if (sp) out.sourcePorts = sp;
  if (dp) out.destinationPorts = dp;
  if ((sp || dp) && out.protocol !== 'tcp' && out.protocol !== 'udp' && out.protocol !== 6 && out.protocol !== 17) {
    c.fail(`${path}.protocol`, 'port ranges need a protocol with ports', 'set "protocol": "tcp" or "udp"');
  }
  return out;
}

/**
 * A standby takes over a position whose SF failed: it only makes sense on an
 * SF-layer hop to an SF port (whose function is watched), and it must lead
 * somewhere else that can carry the position: another SF, or another node.
 */
function checkStandby(c: Checker, cfg: NodeConfig, ports: ReadonlyMap<string, PortConfig>, peers: ReadonlySet<string>, layer: PathConfig['layer'], h: HopConfig, at: string): void {
  const primary = 'port' in h.to ? ports.get(h.to.port) : undefined;
  if (layer !== 'sf' || !primary || (primary.kind !== 'sf' && primary.kind !== 'sf-proxy')) {
    c.fail(`${at}.standby`, 'a standby protects an SF-layer hop to an sf or sf-proxy port', 'remove the standby, or put it on the hop that enters the protected SF');
    return;
  }
  const s = h.standby!;
  if ('port' in s) {
    const p = ports.get(s.port);
    if (!p || (p.kind !== 'sf' && p.kind !== 'sf-proxy')) c.fail(`${at}.standby.port`, `${s.port} is not an sf or sf-proxy port`, 'name the port of the standby SF');
    else if (p.function === primary.function) c.fail(`${at}.standby.port`, `${s.port} belongs to ${p.function}, the SF it should stand in for`, 'name a port of another SF');
  } else if ('node' in s) {
    if (!cfg.underlay) c.fail(`${at}.standby.node`, 'a standby on another node needs an underlay', 'add the underlay section');
    if (!peers.has(s.node)) c.fail(`${at}.standby.node`, `no peer named ${s.node}`, 'declare it under peers');
  } else {
    c.fail(`${at}.standby`, 'a standby stands in for an SF; it cannot end the chain', 'name the standby SF\'s port or its node');
  }
}

/**
 * `p4` is a node-wide choice (BMv2 forwards between its own ports only): set on
 * the underlay, every port follows it; a port cannot choose it alone.
 */
function p4Node(c: Checker, cfg: NodeConfig): void {
  const onP4 = cfg.underlay ? cfg.underlay.hook === 'p4' : cfg.ports.length > 0 && cfg.ports.every((p) => p.hook === 'p4');
  cfg.ports.forEach((p, i) => {
    if (!onP4) {
      if (p.hook === 'p4') c.fail(`ports[${i}].hook`, `p4 on port ${p.name} alone: BMv2 runs the whole node or only its slow path`, 'set "underlay": { "hook": "p4" } for a BMv2 node, or give the node a punt port for the slow path');
      return;
    }
    if (p.kind === 'punt') c.fail(`ports[${i}].kind`, `a punt port on a p4 node: there is no eBPF core to punt from`, 'remove the port (BMv2 handles everything on this node)');
    else if (p.hook === 'auto') p.hook = 'p4';
    else if (p.hook !== 'p4') c.fail(`ports[${i}].hook`, `${p.hook} on a p4 node`, 'leave the hook out (auto) or write "p4": the underlay chose BMv2 for the node');
  });
}

/** References between sections: names exist, are unique, and hops make sense. */
function crossCheck(c: Checker, cfg: NodeConfig): void {
  const portByName = new Map<string, PortConfig>();
  const ifaces = new Map<string, string>();
  cfg.ports.forEach((p, i) => {
    if (portByName.has(p.name)) c.fail(`ports[${i}].name`, `duplicate port name ${p.name}`, 'give each port its own name');
    portByName.set(p.name, p);
    const other = ifaces.get(p.interface);
    if (other) c.fail(`ports[${i}].interface`, `${p.interface} is already port ${other}`, 'one interface per port');
    ifaces.set(p.interface, p.name);
    if (cfg.underlay && p.interface === cfg.underlay.interface) {
      c.fail(`ports[${i}].interface`, `${p.interface} is the underlay interface`, 'use another interface');
    }
  });
  if (cfg.ports.filter((p) => p.kind === 'punt').length > 1) c.fail('ports', 'more than one punt port', 'keep one slow-path port');
  p4Node(c, cfg);
  if (cfg.ports.length + 1 > 63) c.fail('ports', 'more than 62 ports', 'split the node');
  const peerNames = new Set<string>();
  cfg.peers.forEach((p, i) => {
    if (peerNames.has(p.name)) c.fail(`peers[${i}].name`, `duplicate peer ${p.name}`, 'give each peer its own name');
    peerNames.add(p.name);
  });
  const seen = new Set<string>();
  cfg.paths.forEach((path, i) => {
    const id = `${path.layer}/${path.spi}`;
    if (seen.has(id)) c.fail(`paths[${i}].spi`, `${path.layer === 'ef' ? 'E-SPI' : 'SPI'} ${path.spi} listed twice`, 'merge the hops into one path entry');
    seen.add(id);
    const sis = new Set<number>();
    path.hops.forEach((h, j) => {
      const at = `paths[${i}].hops[${j}]`;
      if (sis.has(h.si)) c.fail(`${at}.si`, `SI ${h.si} appears twice on SPI ${path.spi}`, 'one entry per SI');
      sis.add(h.si);
      for (const f of h.from ?? []) {
        if (!cfg.underlay) c.fail(`${at}.from`, 'packets from a peer node need an underlay', 'add the underlay section');
        if (!peerNames.has(f)) c.fail(`${at}.from`, `no peer named ${f}`, `declare it under peers or use one of ${[...peerNames].join(', ') || '(none)'}`);
      }
      if ('port' in h.to) {
        const p = portByName.get(h.to.port);
        if (!p) c.fail(`${at}.to.port`, `no port named ${h.to.port}`, `declare it under ports or use one of ${[...portByName.keys()].join(', ') || '(none)'}`);
        else if (p.kind !== 'sf' && p.kind !== 'sf-proxy' && p.kind !== 'ef') {
          c.fail(`${at}.to.port`, `port ${p.name} is a ${p.kind} port`, 'hops go to sf, sf-proxy or ef ports; use {"deliver": port} to end the chain');
        } else if (path.layer === 'ef' && p.kind !== 'ef') {
          c.fail(`${at}.to.port`, `EF-layer path ${path.spi} leads to ${p.kind} port ${p.name}`, 'EF-layer (MD type 3) hops go to ef ports or other nodes');
        }
      } else if ('node' in h.to) {
        if (!cfg.underlay) c.fail(`${at}.to.node`, 'a remote hop needs an underlay', 'add the underlay section');
        if (!peerNames.has(h.to.node)) c.fail(`${at}.to.node`, `no peer named ${h.to.node}`, 'declare it under peers');
      } else if (path.layer === 'ef') {
        c.fail(`${at}.to`, 'an EF-layer path cannot end the chain: its packets are ciphertext', 'send it to the decrypting EF\'s port or node');
      } else {
        const p = portByName.get(h.to.deliver);
        if (!p || p.kind !== 'edge') c.fail(`${at}.to.deliver`, `${h.to.deliver} is not an edge port`, 'deliver through a port of kind edge');
        else if (!p.peerMac) c.fail(`ports[${cfg.ports.indexOf(p)}].peerMac`, `edge port ${p.name} delivers packets but has no peerMac`, 'add the MAC of the host behind it');
      }
      if (h.standby) checkStandby(c, cfg, portByName, peerNames, path.layer, h, at);
    });
  });
  cfg.liveness?.probes.forEach((p, i) => {
    const arms = cfg.ports.filter((x) => x.function === p.function);
    if (!arms.length || arms.some((x) => x.kind !== 'sf-proxy')) {
      c.fail(`liveness.probes[${i}].function`, `${p.function} is not an SF behind sf-proxy ports of this node`, 'probe NSH-unaware SFs (link state watches NSH-aware ones), or name the function its ports carry');
    } else if (!arms.some((x) => x.name === p.port) || arms.length < 2) {
      c.fail(`liveness.probes[${i}].port`, `the probe goes into ${p.function} through one of its ports and comes back through another; ${p.function} has ${arms.map((x) => x.name).join(', ')}`, `name one of ${arms.map((x) => x.name).join(', ')} (the SF needs two ports to be probed through)`);
    }
  });
  cfg.classifier.forEach((r, i) => {
    if (r.port !== undefined) {
      const p = portByName.get(r.port);
      if (!p || p.kind !== 'edge') c.fail(`classifier[${i}].port`, `${r.port} is not an edge port`, 'classify on a port of kind edge');
    }
    if (!cfg.paths.some((p) => p.layer === 'sf' && p.spi === r.spi && p.hops.some((h) => h.si === 255))) {
      c.fail(`classifier[${i}].spi`, `SPI ${r.spi} has no hop for SI 255 on this node`, `add {"si": 255, "to": ...} to the path with spi ${r.spi}`);
    }
  });
}
