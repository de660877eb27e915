/**
 * The node configuration an operator (and later the controller) gives one agent.
 * Versioned by `apiVersion`; validated by `validate-config.ts`, which names the
 * field and the fix for every problem.
 */

export const CONFIG_API_VERSION = 'esfc.io/v1alpha1';

/**
 * Where a port's program runs: XDP on physical NICs, TC on virtual ports, or
 * the agent's choice; or `p4`: the node's SFF runs on BMv2 alone (set on the
 * underlay, it is the choice of every port; no eBPF program is attached).
 */
export type HookChoice = 'auto' | 'xdp' | 'tc' | 'p4';

/** What sits behind a port; decides which frames its ingress accepts. */
export type PortKind = 'edge' | 'sf' | 'sf-proxy' | 'ef' | 'punt';

export interface UnderlayConfig {
  /** Interface facing the other compute nodes. */
  interface: string;
  /** This node's IPv4 address on the underlay (outer source address). */
  address: string;
  hook: HookChoice;
}

export interface PeerConfig {
  /** Name used by path hops (`{ "node": name }`). */
  name: string;
  /** The peer node's underlay IPv4 address. */
  address: string;
  /** MAC of the peer (or gateway) on the underlay; resolved from the neighbour table when absent. */
  mac?: string;
}

export interface PortConfig {
  /** Name used by path hops and classifier rules. */
  name: string;
  interface: string;
  kind: PortKind;
  hook: HookChoice;
  /** MAC of the SF, EF, client or server behind the port: destination of frames sent to it. */
  peerMac?: string;
  /** For sf, sf-proxy and ef ports: the function behind it; both arms of one SF share it. */
  function?: string;
  /** Forward NSH OAM (O bit) packets instead of punting/dropping them. */
  forwardOam: boolean;
}

/** One position on a path: what to do with packets carrying (spi, si). */
export type HopTarget =
  | { port: string }      // local SF/EF (NSH or proxied, by port kind)
  | { node: string }      // remote node over VXLAN-GPE
  | { deliver: string };  // end of chain: strip NSH, send the original packet out of this edge port

export interface HopConfig {
  si: number;
  to: HopTarget;
  /**
   * Peer nodes (peers[].name) that hand this position to this node over the
   * underlay. VXLAN-GPE frames for it from any other address are dropped and
   * counted (drop_peer_source): the transit network cannot inject into a chain.
   */
  from?: string[];
  /**
   * Protection: where this position goes while the function behind `to`
   * (an sf or sf-proxy port) is down. The agent switches by itself the
   * moment it sees the failure (link state, liveness probe) and back after
   * the hold-down; sources for the standby are installed in advance.
   */
  standby?: HopTarget;
}

/** Which table a path programs: SF layer (NSH SPI/SI) or EF layer (MD type 3 E-SPI/E-SI). */
export type PathLayer = 'sf' | 'ef';

export interface PathConfig {
  /** Service Path Identifier, 1..2^24-1 (the E-SPI for an EF-layer path). */
  spi: number;
  layer: PathLayer;
  /** Only the positions this node handles. */
  hops: HopConfig[];
}

export interface PortRange {
  from: number;
  to: number;
}

export interface ClassifierRule {
  /** Edge port the rule applies to; absent: every edge port. */
  port?: string;
  /** IPv4 prefixes, "a.b.c.d/len"; absent: any. */
  source?: string;
  destination?: string;
  protocol?: 'tcp' | 'udp' | 'icmp' | number;
  sourcePorts?: PortRange;
  destinationPorts?: PortRange;
  /** Path the matching flow enters at SI 255. */
  spi: number;
}

/** An encryption function on this node: a network namespace whose XFRM state the agent owns. */
export interface EfConfig {
  /** The function name its port(s) carry (`ports[].function`). */
  name: string;
  /** Network namespace of the EF: a name under /run/netns. */
  netns: string;
  /** Its interface in that namespace, facing the SFF (the peer of its ef port). */
  interface: string;
  /** Its tunnel endpoint, an IPv4 address on that interface: source of its ESP packets. */
  address: string;
}

/** One generation of an encrypted hop's key. */
export interface HopKeyConfig {
  /** ESP SPI of this generation (256..2^32-1), unique within the EF. */
  spi: number;
  /** Key epoch carried in MD type 3 (0..65535), so a capture tells generations apart. */
  epoch: number;
  /** AES-GCM key followed by its 4-byte salt, hex: 40 digits (AES-128) or 72 (AES-256). */
  key: string;
  /** ISO 8601 time after which the key must not be used: the SA's hard lifetime ends here. */
  notAfter?: string;
}

/** This node's end of one encrypted hop (an EF pair on one flow path). */
export interface EncryptedHopConfig {
  /** The local EF (efs[].name) doing this end. */
  ef: string;
  role: 'encrypt' | 'decrypt';
  /** SF-layer path and the SI packets carry into the encrypting EF (and, in clear, inside MD type 3). */
  spi: number;
  si: number;
  /** EF-layer path between the pair; the encrypting EF sends E-SI 255. */
  espi: number;
  /** Tunnel address of the other EF of the pair. */
  peer: string;
  /**
   * Key generations. An encrypting end sends with the last one only; a
   * decrypting end accepts every one listed. Rekey make-before-break: add the
   * new key at the decrypting end, then at the encrypting end, then drop the old.
   */
  keys: HopKeyConfig[];
  /** Anti-replay window in packets (ESN on); 0 turns anti-replay off. */
  replayWindow: number;
}

/** A liveness probe through an NSH-unaware SF: a UDP datagram sent into it that it must forward back to us. */
export interface ProbeConfig {
  /** The SF (ports[].function) probed. */
  function: string;
  /** Its port the probe is sent into (the chain's way in); it must come back out of another of its ports. */
  port: string;
  /** IPv4 source and destination of the probe: an address the SF forwards towards its egress port. */
  source: string;
  destination: string;
  /** Milliseconds between probes; the SF is down after 3 unanswered ones. */
  intervalMs: number;
}

/** How the agent judges the SFs behind its ports (protection). */
export interface LivenessConfig {
  /** A function that failed is used again only after it has been up this long (ms): no flapping. */
  holdDownMs: number;
  probes: ProbeConfig[];
}

export interface NodeConfig {
  apiVersion: typeof CONFIG_API_VERSION;
  node: {
    name: string;
    /** bpffs directory for this node's pinned maps and links; under /sys/fs/bpf, no "." or ".." parts. */
    pinDir: string;
    /** NSH TTL the classifier sets (RFC 8300 default 63). */
    nshTtl: number;
    /** MD type value of the encrypted-hop header (DESIGN.md: configurable, default 3). */
    md3Type: number;
  };
  underlay?: UnderlayConfig;
  peers: PeerConfig[];
  ports: PortConfig[];
  paths: PathConfig[];
  classifier: ClassifierRule[];
  efs: EfConfig[];
  encryptedHops: EncryptedHopConfig[];
  /** Absent: link state only, with the default hold-down. */
  liveness?: LivenessConfig;
}
