/**
 * XFRM objects as the agent sees them: what it asks the kernel to install
 * (specs) and what the kernel reports back (decoded). IPv4 only, ESP only:
 * what esfc's encrypted hops use.
 */

export interface Mark { value: number; mask: number }

export interface Selector {
  /** IPv4 prefix "a.b.c.d/len". */
  src: string;
  dst: string;
  proto?: number;
  sport?: number;
  dport?: number;
  ifindex?: number;
}

export type XfrmMode = 'transport' | 'tunnel';

export interface Aead {
  name: 'rfc4106(gcm(aes))';
  /** Key followed by the 4-byte salt: 20 bytes (AES-128) or 36 (AES-256). */
  key: Buffer;
  icvBits: 128;
}

export interface Lifetime {
  softSeconds?: number;
  hardSeconds?: number;
  softBytes?: bigint;
  hardBytes?: bigint;
  softPackets?: bigint;
  hardPackets?: bigint;
}

export interface SaSpec {
  /** Tunnel endpoints (outer addresses). */
  src: string;
  dst: string;
  spi: number;
  proto: 'esp';
  mode: XfrmMode;
  reqid: number;
  aead: Aead;
  /** Anti-replay window in packets; 0 turns it off. */
  replayWindow: number;
  /** 64-bit sequence numbers (RFC 4303 ESN); carries the window in XFRMA_REPLAY_ESN_VAL. */
  esn: boolean;
  mark?: Mark;
  ifId?: number;
  /** Absent or 0 fields: no limit. */
  lifetime?: Lifetime;
  selector?: Selector;
}

export interface SaCurrent { bytes: bigint; packets: bigint; addTime: number; useTime: number }
export interface SaStats { replayWindow: number; replay: number; integrityFailed: number }

export interface Sa extends SaSpec {
  curlft: SaCurrent;
  stats: SaStats;
  /** Highest sequence number seen (inbound) and sent (outbound), low 32 bits. */
  seq: number;
  oseq: number;
}

export interface SaId { dst: string; spi: number; proto: 'esp'; mark?: Mark }

export type PolicyDir = 'in' | 'out' | 'fwd';

export interface Template { src: string; dst: string; proto: 'esp'; mode: XfrmMode; reqid: number; spi?: number }

export interface PolicySpec {
  dir: PolicyDir;
  selector: Selector;
  priority: number;
  action: 'allow' | 'block';
  mark?: Mark;
  ifId?: number;
  templates: Template[];
  index?: number;
}

export interface Policy extends PolicySpec {
  index: number;
  curlft: SaCurrent;
}

export interface PolicyId { dir: PolicyDir; selector: Selector; mark?: Mark; ifId?: number }
