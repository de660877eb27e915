/**
 * XFRM objects as the agent sees them: what it asks the kernel to install
 * (specs) and what the kernel reports back (decoded). IPv4 only, ESP only:
 * what esfc's encrypted hops use.
 */

export interface Mark { value: number; mask: number }

export interface Selector {
  /** IPv4 prefix "a.b.c.d/len" (a bare address means /32). */
  src: string;
  dst: string;
  /** IP protocol number; absent: any. */
  proto?: number;
  sport?: number;
  dport?: number;
  ifindex?: number;
}

export type XfrmMode = 'transport' | 'tunnel';

export interface Aead {
  name: 'rfc4106(gcm(aes))';
  /** Key followed by the 4-byte salt: 20 bytes (AES-128), 28 (AES-192) or 36 (AES-256). */
  key: Buffer;
  icvBits: 128;
}

/** Limits on an SA. Absent or 0: no limit. */
export interface Lifetime {
  softSeconds?: number;
  hardSeconds?: number;
  softBytes?: bigint | number;
  hardBytes?: bigint | number;
  softPackets?: bigint | number;
  hardPackets?: bigint | number;
}

/** xfrm_usersa_info.flags other than ESN, spelled as `ip xfrm state ... flag` spells them. */
export type SaFlag = 'noecn' | 'decap-dscp' | 'nopmtudisc' | 'wildrecv' | 'icmp' | 'af-unspec' | 'align4';
/** XFRMA_SA_EXTRA_FLAGS, spelled as `ip xfrm state ... extra-flag` spells them. */
export type SaExtraFlag = 'dont-encap-dscp' | 'oseq-may-wrap';

export interface SaSpec {
  /** Tunnel endpoints (outer addresses). */
  src: string;
  dst: string;
  spi: number;
  proto: 'esp';
  mode: XfrmMode;
  reqid: number;
  aead: Aead;
  /** Anti-replay window in packets (at most 4096); 0 turns it off. */
  replayWindow: number;
  /** 64-bit sequence numbers (RFC 4303 ESN). */
  esn: boolean;
  mark?: Mark;
  ifId?: number;
  lifetime?: Lifetime;
  /** Inner traffic the SA accepts; absent: any IPv4. */
  selector?: Selector;
  flags?: SaFlag[];
  extraFlags?: SaExtraFlag[];
}

export interface SaCurrent { bytes: bigint; packets: bigint; addTime: number; useTime: number }
export interface SaStats { replayWindow: number; replay: number; integrityFailed: number }

export interface ReplayState {
  /** Highest sequence number received / sent, low 32 bits. */
  seq: number;
  oseq: number;
  /** High 32 bits (ESN only; 0 otherwise). */
  seqHi: number;
  oseqHi: number;
  /** Window bitmap in 32-bit words: 1 for the legacy 32-packet state, bmp_len for the ESN form. */
  bitmapWords: number;
  /** Which of the kernel's two replay states the SA carries. */
  form: 'legacy' | 'bitmap';
}

/** What the kernel reports for an SA: the spec (lifetime limits, lists of flags) plus its running state. */
export interface Sa extends SaSpec {
  selector: Selector;
  curlft: SaCurrent;
  stats: SaStats;
  /** Same as replay.seq / replay.oseq. */
  seq: number;
  oseq: number;
  replay: ReplayState;
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
  /** Absent: the kernel picks one (it encodes the direction in the low 3 bits). */
  index?: number;
}

export interface Policy extends PolicySpec {
  index: number;
  curlft: SaCurrent;
}

/** A policy is found by its selector (with mark and if_id) or by the index the kernel gave it. */
export type PolicyId =
  | { dir: PolicyDir; selector: Selector; mark?: Mark; ifId?: number }
  | { dir: PolicyDir; index: number; mark?: Mark; ifId?: number };
