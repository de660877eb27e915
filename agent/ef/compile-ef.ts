/**
 * Desired state of each EF on this node: the glue's map contents and the
 * XFRM SAs and policies in the EF's namespace. Pure: time and the EF's
 * interface index are inputs.
 *
 * One SA per (flow path, EF pair, key generation), bound to the pair by mark
 * and reqid (ESFC_EF_MARK_BASE | E-SPI). Keys past their notAfter are left
 * out, so a key that was not renewed stops its flow (invariant 5); the
 * outbound policy stays, so XFRM drops rather than forwards in clear.
 */
import type { EncryptedHopConfig, HopKeyConfig, NodeConfig } from '../config/types.js';
import { ABI_VERSION } from '../datapath/layout.js';
import type { PolicySpec, SaSpec } from '../xfrm/xfrm-types.js';
import { EfDir, EF_MARK_MASK, pairMark, type EsfcEfConfig, type EsfcEfDecrypt, type EsfcEfEncrypt, type EsfcEfSa } from './ef-layout.js';

export const EF_POLICY_PRIORITY = 100;
/** Soft lifetime this long before the hard one: the kernel then reports the SA as expiring. */
export const SOFT_LIFETIME_MARGIN_S = 10;

export interface EfDesired {
  name: string;
  netns: string;
  ifname: string;
  address: string;
  config: EsfcEfConfig;
  /** Keyed by pathKeyId(spi, si). */
  encrypt: Map<string, { spi: number; si: number; value: EsfcEfEncrypt }>;
  /** Keyed by pathKeyId(espi, esi). */
  decrypt: Map<string, { spi: number; si: number; value: EsfcEfDecrypt }>;
  /** Keyed by ESP SPI. */
  sas: Map<number, EsfcEfSa>;
  xfrmSas: SaSpec[];
  xfrmPolicies: PolicySpec[];
  /** Key generations left out because their notAfter has passed. */
  expired: { espi: number; role: EncryptedHopConfig['role']; spi: number; epoch: number; notAfter: string }[];
  /** Earliest future notAfter: when the desired state changes by itself. */
  nextExpiry?: number;
}

const keyId = (a: number, b: number): string => `${a}/${b}`;

function lifetime(k: HopKeyConfig, now: number): SaSpec['lifetime'] | undefined {
  if (!k.notAfter) return undefined;
  // Rounded down: the kernel deletes the SA `hard` whole seconds after adding it, so the key
  // dies at or before its notAfter (up to a second early), never after it.
  const hard = Math.max(1, Math.floor((Date.parse(k.notAfter) - now) / 1000));
  return { hardSeconds: hard, softSeconds: Math.max(1, hard - SOFT_LIFETIME_MARGIN_S) };
}

const live = (k: HopKeyConfig, now: number): boolean => !k.notAfter || Date.parse(k.notAfter) > now;

export function compileEfs(cfg: NodeConfig, efIfindex: ReadonlyMap<string, number>, now: number): EfDesired[] {
  return cfg.efs.map((ef) => {
    const out: EfDesired = {
      name: ef.name, netns: ef.netns, ifname: ef.interface, address: ef.address,
      config: { abi_version: ABI_VERSION, md3_type: cfg.node.md3Type, ifindex: efIfindex.get(ef.name) ?? 0, nsh_ttl: cfg.node.nshTtl },
      encrypt: new Map(), decrypt: new Map(), sas: new Map(), xfrmSas: [], xfrmPolicies: [], expired: [],
    };
    for (const h of cfg.encryptedHops.filter((x) => x.ef === ef.name)) {
      const mark = pairMark(h.espi);
      const markSpec = { value: mark, mask: 0xffffffff };
      const outbound = h.role === 'encrypt';
      const [src, dst] = outbound ? [ef.address, h.peer] : [h.peer, ef.address];
      if (outbound) out.encrypt.set(keyId(h.spi, h.si), { spi: h.spi, si: h.si, value: { mark, espi: h.espi } });
      else out.decrypt.set(keyId(h.espi, 255), { spi: h.espi, si: 255, value: { mark } });

      for (const k of h.keys) {
        if (k.notAfter && live(k, now)) {
          const t = Date.parse(k.notAfter);
          if (out.nextExpiry === undefined || t < out.nextExpiry) out.nextExpiry = t;
        }
      }
      const usable = h.keys.filter((k) => live(k, now));
      for (const k of h.keys) {
        if (!live(k, now)) out.expired.push({ espi: h.espi, role: h.role, spi: k.spi, epoch: k.epoch, notAfter: k.notAfter! });
      }
      // Sending uses the newest generation only; receiving accepts every live one.
      const installed = outbound ? usable.slice(-1) : usable;
      for (const k of installed) {
        const sa: SaSpec = {
          src, dst, spi: k.spi, proto: 'esp', mode: 'tunnel', reqid: mark,
          aead: { name: 'rfc4106(gcm(aes))', key: Buffer.from(k.key, 'hex'), icvBits: 128 },
          replayWindow: h.replayWindow, esn: h.replayWindow > 0, mark: markSpec,
        };
        const lt = lifetime(k, now);
        if (lt) sa.lifetime = lt;
        out.xfrmSas.push(sa);
        out.sas.set(k.spi, outbound
          ? { dir: EfDir.out, spi: h.spi, si: h.si, espi: h.espi, esi: 255, epoch: k.epoch, reqid: mark }
          : { dir: EfDir.in, spi: h.spi, si: h.si - 1, espi: h.espi, esi: 255, epoch: k.epoch, reqid: mark });
      }
      // The selector is everything: the mark set by the glue picks the pair.
      const any = { src: '0.0.0.0/0', dst: '0.0.0.0/0' };
      const tmpl = [{ src, dst, proto: 'esp' as const, mode: 'tunnel' as const, reqid: mark }];
      if (outbound) {
        out.xfrmPolicies.push({ dir: 'out', selector: any, priority: EF_POLICY_PRIORITY, action: 'allow', mark: markSpec, templates: tmpl });
      } else {
        // Plaintext with this pair's mark that reached the stack without its SA is refused.
        out.xfrmPolicies.push({ dir: 'in', selector: any, priority: EF_POLICY_PRIORITY, action: 'allow', mark: markSpec, templates: tmpl });
        out.xfrmPolicies.push({ dir: 'fwd', selector: any, priority: EF_POLICY_PRIORITY, action: 'allow', mark: markSpec, templates: tmpl });
      }
    }
    return out;
  });
}

/** SAs and policies esfc owns carry its mark/reqid range; nothing else is touched. */
export const ownsMark = (mark: { value: number; mask: number } | undefined): boolean =>
  mark !== undefined && ((mark.value & EF_MARK_MASK) >>> 0) === (pairMark(0) & EF_MARK_MASK) >>> 0;
