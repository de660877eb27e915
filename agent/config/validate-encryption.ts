/**
 * The encryption sections of a node configuration: EFs and this node's ends
 * of encrypted hops. Besides syntax this is where invariant 2 (EFs sit with
 * their SFs) is refused in configuration: the plaintext on either side of an
 * EF pair must stay on this node. Pure: no I/O.
 */
import type { EfConfig, EncryptedHopConfig, HopKeyConfig, NodeConfig, PathConfig } from './types.js';
import { Checker, IFNAME, NAME, isIpv4, type Json } from './validate-config.js';

const HEX_KEY = /^(?:[0-9a-f]{40}|[0-9a-f]{72})$/i;
export const DEFAULT_REPLAY_WINDOW = 128;
/** The kernel's ESN replay bitmap limit. */
export const MAX_REPLAY_WINDOW = 4096;

export function encryptionSections(c: Checker, root: Record<string, Json>): Pick<NodeConfig, 'efs' | 'encryptedHops'> {
  const efs: EfConfig[] = c.arr(root.efs, 'efs').map((e, i) => {
    const path = `efs[${i}]`;
    const o = c.obj(e, path) ?? {};
    c.unknownKeys(o, path, ['name', 'netns', 'interface', 'address']);
    const ef: EfConfig = {
      name: c.str(o.name, `${path}.name`, NAME, 'a lower-case name') ?? '',
      netns: c.str(o.netns, `${path}.netns`, NAME, 'a network namespace name (under /run/netns)') ?? '',
      interface: c.str(o.interface, `${path}.interface`, IFNAME, 'an interface name') ?? '',
      address: c.str(o.address, `${path}.address`, /./, 'an IPv4 address') ?? '',
    };
    if (ef.address && !isIpv4(ef.address)) c.fail(`${path}.address`, `not an IPv4 address: ${ef.address}`, 'write a.b.c.d');
    return ef;
  });
  const encryptedHops: EncryptedHopConfig[] = c.arr(root.encryptedHops, 'encryptedHops').map((h, i) => {
    const path = `encryptedHops[${i}]`;
    const o = c.obj(h, path) ?? {};
    c.unknownKeys(o, path, ['ef', 'role', 'spi', 'si', 'espi', 'peer', 'keys', 'replayWindow']);
    const hop: EncryptedHopConfig = {
      ef: c.str(o.ef, `${path}.ef`, NAME, 'the name of an EF under efs') ?? '',
      role: c.oneOf(o.role, `${path}.role`, ['encrypt', 'decrypt'] as const) ?? 'encrypt',
      spi: c.int(o.spi, `${path}.spi`, 1, 0xffffff) ?? 0,
      si: c.int(o.si, `${path}.si`, 2, 255) ?? 0,
      espi: c.int(o.espi, `${path}.espi`, 1, 0xffffff) ?? 0,
      peer: c.str(o.peer, `${path}.peer`, /./, 'the peer EF\'s IPv4 address') ?? '',
      keys: c.secret(() => c.arr(o.keys, `${path}.keys`)).map((k, j) => key(c, k, `${path}.keys[${j}]`)),
      replayWindow: o.replayWindow === undefined ? DEFAULT_REPLAY_WINDOW : c.int(o.replayWindow, `${path}.replayWindow`, 0, MAX_REPLAY_WINDOW) ?? 0,
    };
    if (hop.peer && !isIpv4(hop.peer)) c.fail(`${path}.peer`, `not an IPv4 address: ${hop.peer}`, 'write a.b.c.d');
    if (hop.keys.length === 0) c.fail(`${path}.keys`, 'an encrypted hop needs at least one key', 'add {"spi", "epoch", "key"}');
    return hop;
  });
  return { efs, encryptedHops };
}

/** Key generations are secret as a whole: a problem names the field, never a value (even a misplaced one). */
function key(c: Checker, k: Json, path: string): HopKeyConfig {
  return c.secret(() => keyFields(c, k, path));
}

function keyFields(c: Checker, k: Json, path: string): HopKeyConfig {
  const o = c.obj(k, path) ?? {};
  c.unknownKeys(o, path, ['spi', 'epoch', 'key', 'notAfter']);
  const out: HopKeyConfig = {
    spi: c.int(o.spi, `${path}.spi`, 256, 0xffffffff) ?? 0,
    epoch: c.int(o.epoch, `${path}.epoch`, 0, 0xffff) ?? 0,
    key: c.str(o.key, `${path}.key`, HEX_KEY, '40 or 72 hex digits (AES-128 or AES-256 key, then the 4-byte salt)') ?? '',
  };
  if (o.notAfter !== undefined) {
    const s = c.str(o.notAfter, `${path}.notAfter`, /./, 'an ISO 8601 time');
    if (s !== undefined && Number.isNaN(Date.parse(s))) c.fail(`${path}.notAfter`, 'not a time (value not shown: secret)', 'write e.g. 2026-11-22T18:00:00Z');
    else if (s !== undefined) out.notAfter = s;
  }
  return out;
}

function hopAt(paths: PathConfig[], layer: 'sf' | 'ef', spi: number, si: number) {
  return paths.find((p) => p.layer === layer && p.spi === spi)?.hops.find((h) => h.si === si)?.to;
}

export function checkEncryption(c: Checker, cfg: NodeConfig): void {
  const efByName = new Map<string, EfConfig>();
  cfg.efs.forEach((ef, i) => {
    if (efByName.has(ef.name)) c.fail(`efs[${i}].name`, `duplicate EF ${ef.name}`, 'one entry per EF');
    efByName.set(ef.name, ef);
    if (!cfg.ports.some((p) => p.kind === 'ef' && p.function === ef.name)) {
      c.fail(`efs[${i}].name`, `no port of kind ef has "function": "${ef.name}"`, `declare the ef port the EF sits behind, with "function": "${ef.name}"`);
    }
  });
  const portOf = (name: string) => cfg.ports.find((p) => p.name === name);
  const isEfPort = (to: ReturnType<typeof hopAt>, ef: string): boolean =>
    to !== undefined && 'port' in to && portOf(to.port)?.kind === 'ef' && portOf(to.port)?.function === ef;
  const espis = new Map<string, number>();
  const spisByEf = new Map<string, Set<number>>();

  cfg.encryptedHops.forEach((h, i) => {
    const at = `encryptedHops[${i}]`;
    const ef = efByName.get(h.ef);
    if (!ef) {
      c.fail(`${at}.ef`, `no EF named ${h.ef}`, `declare it under efs or use one of ${[...efByName.keys()].join(', ') || '(none)'}`);
      return;
    }
    const id = `${h.ef}/${h.role}/${h.espi}`;
    if (espis.has(id)) c.fail(`${at}.espi`, `${h.ef} already ${h.role}s E-SPI ${h.espi} (encryptedHops[${espis.get(id)}])`, 'one entry per EF, role and E-SPI');
    espis.set(id, i);
    const spis = spisByEf.get(h.ef) ?? new Set<number>();
    spisByEf.set(h.ef, spis);
    h.keys.forEach((k, j) => {
      if (spis.has(k.spi)) c.fail(`${at}.keys[${j}].spi`, `ESP SPI ${k.spi} is used twice in EF ${h.ef}`, 'give every key generation of an EF its own SPI');
      spis.add(k.spi);
    });
    if (h.peer === ef.address) c.fail(`${at}.peer`, 'the peer is the EF itself', 'give the other EF\'s tunnel address');

    if (h.role === 'encrypt') {
      if (!isEfPort(hopAt(cfg.paths, 'sf', h.spi, h.si), h.ef)) {
        c.fail(at, `SPI ${h.spi} SI ${h.si} is not sent to ${h.ef}'s port on this node`, `add {"si": ${h.si}, "to": {"port": <ef port of ${h.ef}>}} to path ${h.spi}`);
      }
      const before = hopAt(cfg.paths, 'sf', h.spi, h.si + 1);
      const fromLocalSf = before !== undefined && 'port' in before && ['sf', 'sf-proxy'].includes(portOf(before.port)?.kind ?? '');
      const fromLocalEdge = h.si === 255 && cfg.classifier.some((r) => r.spi === h.spi);
      // Back-to-back pairs: the plaintext comes out of a decrypting EF on this node.
      const fromLocalEf = cfg.encryptedHops.some((d) => d.role === 'decrypt' && d.spi === h.spi && d.si - 1 === h.si);
      if (!fromLocalSf && !fromLocalEdge && !fromLocalEf) {
        c.fail(at, `misplaced EF: the plaintext ${h.ef} encrypts (SPI ${h.spi} SI ${h.si}) does not come from an SF, edge or EF on this node, so it would cross the underlay in clear (invariant 2)`,
          `run ${h.ef} on the node of the SF at SI ${h.si + 1}, or that SF here`);
      }
      const next = hopAt(cfg.paths, 'ef', h.espi, 255);
      if (!next || 'deliver' in next) {
        c.fail(at, `E-SPI ${h.espi} has no EF-layer hop for E-SI 255 on this node`, `add {"spi": ${h.espi}, "layer": "ef", "hops": [{"si": 255, "to": {"node": <peer EF's node>}}]}`);
      }
    } else {
      if (!isEfPort(hopAt(cfg.paths, 'ef', h.espi, 255), h.ef)) {
        c.fail(at, `E-SPI ${h.espi} E-SI 255 is not sent to ${h.ef}'s port on this node`, `add {"spi": ${h.espi}, "layer": "ef", "hops": [{"si": 255, "to": {"port": <ef port of ${h.ef}>}}]}`);
      }
      const after = hopAt(cfg.paths, 'sf', h.spi, h.si - 1);
      if (!after) {
        c.fail(at, `SPI ${h.spi} has no hop for SI ${h.si - 1}, where the decrypted packets continue`, `add {"si": ${h.si - 1}, "to": ...} to path ${h.spi}`);
      } else if ('node' in after) {
        c.fail(at, `misplaced EF: the plaintext ${h.ef} decrypts (SPI ${h.spi} SI ${h.si - 1}) goes to another node over the underlay in clear (invariant 2)`,
          `run ${h.ef} on the node of the SF at SI ${h.si - 1}, or that SF here`);
      }
    }
  });

  // Every SF-layer hop into an EF must be one the EF encrypts, or it would drop it all.
  cfg.paths.filter((p) => p.layer === 'sf').forEach((p) => p.hops.forEach((hop, j) => {
    if (!('port' in hop.to)) return;
    const port = portOf(hop.to.port);
    if (port?.kind !== 'ef') return;
    if (!cfg.encryptedHops.some((h) => h.role === 'encrypt' && h.ef === port.function && h.spi === p.spi && h.si === hop.si)) {
      c.fail(`paths[${cfg.paths.indexOf(p)}].hops[${j}]`, `SPI ${p.spi} SI ${hop.si} goes to EF ${port.function}, which has no encryptedHops entry for it`,
        `add {"ef": "${port.function}", "role": "encrypt", "spi": ${p.spi}, "si": ${hop.si}, ...} under encryptedHops`);
    }
  }));
}
