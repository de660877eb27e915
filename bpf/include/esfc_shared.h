/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * esfc_shared.h: every layout that crosses the BPF/userspace boundary.
 *
 * Included by the BPF programs and read by the agent through the BTF of the
 * compiled objects: the TypeScript codecs are checked against that BTF in a
 * test, and the names of counters come from `enum esfc_stat` in the BTF, so
 * each name lives only here. No functions in this file.
 *
 * All multi-byte fields are host byte order unless the name ends in _be.
 */
#ifndef ESFC_SHARED_H
#define ESFC_SHARED_H

#include <linux/types.h>

#define ESFC_ABI_VERSION 3

/* Table sizes. The agent reads max_entries from the maps, not from here. */
#define ESFC_MAX_PORTS      64
/* esfc_ports is indexed by ifindex (an array lookup is inlined; a hash one is not). */
#define ESFC_MAX_IFINDEX    65536
/* Ports with larger ifindexes (hosts with thousands of interfaces) live in a hash. */
#define ESFC_MAX_BIG_PORTS  1024
#define ESFC_MAX_PATHS      16384
#define ESFC_MAX_CLASS_RULES 64
#define ESFC_MAX_SRC_ENTRIES 16384
#define ESFC_MAX_PEER_SRC_ENTRIES 16384
#define ESFC_MAX_PROXY_FLOWS 65536
#define ESFC_MAX_PROBES     1024

/*
 * Generations. Every table the forwarding decision reads exists twice; the
 * agent writes the inactive copy and then switches esfc_state.active with one
 * map write, so a packet sees either the old configuration or the new one,
 * never a mix (an all-or-nothing reconcile). Keys carry the generation
 * (0 or 1); array tables are indexed gen * size + index.
 */
#define ESFC_GENERATIONS    2
/* Bound on MD type 2 TLVs walked before the packet is punted. */
#define ESFC_MAX_MD2_TLVS   8

/* Wire constants (RFC 8300, RFC 7348bis VXLAN-GPE). */
#define ESFC_ETH_P_NSH      0x894F
#define ESFC_VXLAN_GPE_PORT 4790
#define ESFC_NSH_NP_IPV4    0x1
#define ESFC_NSH_NP_IPV6    0x2
#define ESFC_NSH_NP_ETH     0x3
#define ESFC_NSH_NP_NSH     0x4
#define ESFC_GPE_NP_NSH     0x4
#define ESFC_NSH_MD1        0x1
#define ESFC_NSH_MD2        0x2
/* MD type 3, the encrypted-hop header, unless the agent configures another value. */
#define ESFC_NSH_MD3_DEFAULT 0x3

/* Header sizes in bytes. */
#define ESFC_ETH_LEN        14
#define ESFC_IPV4_LEN       20
#define ESFC_UDP_LEN        8
#define ESFC_GPE_LEN        8
#define ESFC_NSH_BASE_LEN   8   /* base header + service path header */
#define ESFC_NSH_MD1_LEN    24
#define ESFC_NSH_MD2_MIN_LEN 8
#define ESFC_NSH_MD3_LEN    16
/* IPv4 + UDP + VXLAN-GPE pushed in front of NSH between nodes. */
#define ESFC_UNDERLAY_OVERHEAD (ESFC_IPV4_LEN + ESFC_UDP_LEN + ESFC_GPE_LEN)

/*
 * Slow-path header (docs/protocol.md "Slow-path header"): 18 bytes in front of
 * the original Ethernet frame on the punt port, both ways. Towards BMv2 (a
 * punt) ifindex_be is the port the frame arrived on; from BMv2 back to the
 * eBPF side it is the port the frame must leave by. An Ethernet header of its
 * own, so captures on the punt port dissect, and so the kernel can carry it
 * as an ordinary frame. Wire format: network order, packed.
 */
#define ESFC_ETH_P_SLOW_PATH   0x88B5  /* IEEE 802 Local Experimental EtherType 1 */
#define ESFC_SLOW_PATH_HDR_LEN 18
/* Destination and source MAC of the slow-path header (locally administered). */
#define ESFC_SLOW_PATH_MAC     { 0x02, 0xe5, 0xfc, 0x00, 0x00, 0x00 }

struct esfc_slow_path_hdr {
	__u8   dst[6];       /* ESFC_SLOW_PATH_MAC */
	__u8   src[6];       /* ESFC_SLOW_PATH_MAC */
	__be16 proto;        /* ESFC_ETH_P_SLOW_PATH */
	__be32 ifindex_be;   /* ingress port (punt) or egress port (back from BMv2) */
} __attribute__((packed));

_Static_assert(sizeof(struct esfc_slow_path_hdr) == ESFC_SLOW_PATH_HDR_LEN,
	       "slow-path header is 18 bytes on the wire");

/*
 * Counters. One per (port slot, stat). Every packet ends in exactly one
 * terminal stat (below ESFC_STAT_EVENT_FIRST, or a drop reason at or above
 * ESFC_STAT_DROP_FIRST), so a port's received count is their sum and costs no
 * second counter update; events (classified, proxy return) are counted on top.
 * The agent shows them under their enum names with the ESFC_STAT_ prefix
 * removed and lower-cased. Append only within each range: numbers are ABI.
 */
enum esfc_stat {
	ESFC_STAT_PASS = 0,           /* not ours, handed to the stack untouched */
	ESFC_STAT_FWD_LOCAL,          /* sent to a local NSH-aware SF/EF port */
	ESFC_STAT_FWD_PROXY,          /* NSH stripped, sent to an NSH-unaware SF */
	ESFC_STAT_FWD_REMOTE,         /* VXLAN-GPE pushed or rewritten, sent to another node */
	ESFC_STAT_END_OF_CHAIN,       /* NSH removed, original packet delivered */
	ESFC_STAT_PUNT,               /* handed to the slow-path port behind a slow-path header */
	ESFC_STAT_PROBE,              /* the agent's liveness probe came back out of an NSH-unaware SF: recorded, consumed */
	ESFC_STAT_SLOW_PATH = 7,      /* came back from the slow path and was sent out of the port it named (shared with p4/stats.p4) */
	ESFC_STAT_EVENT_FIRST = 8,
	ESFC_STAT_CLASSIFIED = ESFC_STAT_EVENT_FIRST, /* matched a classifier rule, NSH pushed */
	ESFC_STAT_PROXY_RETURN,       /* came back from an NSH-unaware SF, NSH restored */
	ESFC_STAT_DROP_FIRST = 16,
	ESFC_STAT_DROP_MALFORMED = ESFC_STAT_DROP_FIRST, /* truncated or inconsistent headers */
	ESFC_STAT_DROP_NSH_VERSION,   /* NSH Ver != 0 */
	ESFC_STAT_DROP_NSH_LENGTH,    /* Length field below the MD type's minimum or beyond the packet */
	ESFC_STAT_DROP_MD_TYPE0,      /* MD type 0 is reserved (RFC 8300 2.2) */
	ESFC_STAT_DROP_NEXT_PROTO,    /* unsupported NSH or VXLAN-GPE Next Protocol */
	ESFC_STAT_DROP_TTL,           /* TTL reached 0 at this SFF */
	ESFC_STAT_DROP_SI_ZERO,       /* SI 0 cannot be forwarded */
	ESFC_STAT_DROP_NO_PATH,       /* unknown (SPI, SI) */
	ESFC_STAT_DROP_SOURCE,        /* (SPI, SI) not assigned to the ingress port (invariant 3) */
	ESFC_STAT_DROP_OAM,           /* O bit set and OAM forwarding not configured */
	ESFC_STAT_DROP_PROXY_STATE,   /* packet from an NSH-unaware SF with no recorded path */
	ESFC_STAT_DROP_MTU,           /* too big for the egress port after encapsulation */
	ESFC_STAT_DROP_LAYER,         /* MD3 on an SF-layer hop or plain NSH on an EF-layer hop (invariant 2) */
	ESFC_STAT_DROP_NO_PUNT_PORT,  /* needs the slow path and none is attached */
	ESFC_STAT_DROP_ADJUST,        /* the kernel refused a header push/pop */
	ESFC_STAT_DROP_GPE,           /* VXLAN-GPE flags or version invalid */
	ESFC_STAT_DROP_CLEAR_ON_UNDERLAY, /* encrypted-hop packet without E=1 headed for the underlay (invariant 1) */
	ESFC_STAT_DROP_PEER_SOURCE,   /* (SPI, SI) from an underlay address that is not the peer node assigned to send it */
	ESFC_STAT_DROP_FRAGMENT,      /* IPv4 fragment whose classification would depend on ports it may not carry */
	ESFC_STAT_DROP_SLOW_PATH_EGRESS = 35, /* frame from the slow path that is not a slow-path frame or names no esfc port (shared with p4/stats.p4) */
	ESFC_STAT_MAX = 40,
};

/* What a port is; decides which packets its ingress accepts. */
enum esfc_port_kind {
	ESFC_PORT_NONE = 0,
	ESFC_PORT_UNDERLAY = 1,  /* VXLAN-GPE/NSH to and from other nodes */
	ESFC_PORT_SF = 2,        /* NSH-aware SF: Ethernet/NSH both ways */
	ESFC_PORT_SF_PROXY = 3,  /* NSH-unaware SF: plain IP, esfc proxies NSH */
	ESFC_PORT_EF = 4,        /* encryption function: Ethernet/NSH MD3 both ways */
	ESFC_PORT_CLASSIFY = 5,  /* client/edge traffic: plain IP in, classified */
	ESFC_PORT_PUNT = 6,      /* slow path (BMv2): slow-path header in front of every frame, both ways */
};

#define ESFC_PORT_F_OAM_FORWARD 0x1   /* forward O-bit packets instead of dropping */

/* esfc_ports: ifindex -> port; kind ESFC_PORT_NONE marks an unused index. */
struct esfc_port {
	__u32 kind;          /* enum esfc_port_kind */
	__u32 slot;          /* index of this port's counter block, < ESFC_MAX_PORTS */
	__u32 sf_id;         /* proxy state key: both arms of one SF share it */
	__u32 flags;         /* ESFC_PORT_F_* */
	__u32 mtu;           /* L3 MTU of the port */
	__u32 underlay_ip_be;/* underlay ports: this node's address, network order */
	__u8  mac[6];        /* this port's MAC: source of frames we send out of it */
	__u8  pad[2];
};

enum esfc_nh_kind {
	ESFC_NH_NONE = 0,
	ESFC_NH_LOCAL = 1,   /* Ethernet/NSH to an NSH-aware SF or EF port */
	ESFC_NH_PROXY = 2,   /* strip NSH, plain IP to an NSH-unaware SF port */
	ESFC_NH_REMOTE = 3,  /* VXLAN-GPE/NSH to another node over the underlay */
	ESFC_NH_END = 4,     /* strip NSH, deliver the original packet */
};

#define ESFC_NH_F_PEER 0x1  /* egress is a veth: TC delivers straight into its peer (bpf_redirect_peer) */
#define ESFC_NH_F_EF   0x2  /* egress is an EF port: plaintext for it must not come from the underlay */
#define ESFC_NH_F_FROM_MAP 0x4  /* more underlay senders than from_be holds: all are in esfc_peer_sources */

/* Underlay senders of a position kept in its next hop (a hash lookup less per packet). */
#define ESFC_NH_MAX_FROM 4

/*
 * A next hop. The forwarding tables map a path position to one of these;
 * every field the rewrite needs is here so the fast path does one lookup.
 */
struct esfc_next_hop {
	__u32 kind;          /* enum esfc_nh_kind */
	__u32 ifindex;       /* egress port */
	__u32 flags;         /* ESFC_NH_F_* */
	__u32 mtu;           /* L3 MTU available on the egress port */
	__u32 saddr_be;      /* REMOTE: outer IPv4 source (this node) */
	__u32 daddr_be;      /* REMOTE: outer IPv4 destination (next node) */
	__u8  smac[6];       /* source MAC written on egress */
	__u8  dmac[6];       /* destination MAC written on egress */
	__u32 sf_id;         /* PROXY: the SF behind the port (key of its flow state) */
	/* Peer nodes (outer IPv4 source, network order; 0 unused) that may hand
	 * this position to us over the underlay. */
	__u32 from_be[ESFC_NH_MAX_FROM];
};

/* esfc_ports_big: ports whose ifindex does not fit the esfc_ports array. */
struct esfc_port_key {
	__u32 ifindex;
	__u32 gen;
};

/* Key of the inner (SF layer) and outer (EF layer) tables. The EF glue's maps
 * use it too, with gen 0 (they are not generation-switched). */
struct esfc_path_key {
	__u32 spi;           /* 24 bits used */
	__u8  si;
	__u8  gen;
	__u16 pad;
};

/* esfc_sources: which (SPI, SI) may enter from which port (invariant 3).
 * EF-layer entries (E-SPI, E-SI of MD type 3 packets) carry ESFC_SRC_EF_LAYER in spi. */
#define ESFC_SRC_EF_LAYER 0x80000000
struct esfc_src_key {
	__u32 ifindex;
	__u32 spi;
	__u8  si;
	__u8  gen;
	__u16 pad;
};

/* esfc_peer_sources: which (SPI, SI) a peer node may send over the underlay,
 * by the outer IPv4 source address (ESFC_SRC_EF_LAYER marks EF-layer entries),
 * for positions with more senders than esfc_next_hop.from_be holds. */
struct esfc_peer_src_key {
	__u32 saddr_be;
	__u32 spi;
	__u8  si;
	__u8  gen;
	__u16 pad;
};

/* Classifier: IPv4 5-tuple ranges in priority order (array index = priority). */
struct esfc_class_rule {
	__u32 in_ifindex;    /* 0: any classify port */
	__u32 src_be;        /* network order */
	__u32 src_mask_be;
	__u32 dst_be;
	__u32 dst_mask_be;
	__u16 sport_lo, sport_hi;
	__u16 dport_lo, dport_hi;
	__u8  proto;         /* 0: any */
	__u8  valid;         /* 0 ends the rule list */
	__u8  pad[2];
	__u32 spi;           /* path assigned, SI starts at 255 */
};

/* Proxy flow state: what NSH to restore when the SF returns a flow. */
struct esfc_flow_key {
	__u32 sf_id;
	__u32 saddr_be;
	__u32 daddr_be;
	__u16 sport_be;
	__u16 dport_be;
	__u8  proto;
	__u8  pad[3];
};

struct esfc_proxy_state {
	__u32 spi;
	__u32 si;            /* SI the packet had on the way to the SF */
	__u8  ttl;           /* NSH TTL on the way to the SF */
	__u8  md_type;
	__u8  w0_bits;       /* O and U bits of NSH word 0 (high byte & 0x30), restored unchanged */
	__u8  md_bits;       /* the 4 unassigned bits before MD type (0xf0), restored unchanged */
	__u8  context[16];   /* MD type 1 context, restored unchanged */
};

/*
 * Liveness probes through an NSH-unaware SF. The agent sends Ethernet/IPv4/UDP
 * to ESFC_PROBE_PORT into the SF's ingress arm; the SF routes it like any
 * packet, and when it comes back out of one of the SF's arms the datapath
 * records it in esfc_probe and consumes it. The port is in the dynamic range
 * (RFC 6335: never assigned), and a frame only counts as a probe with the
 * magic and the sf_id of the port it arrives on, so a user flow that happens
 * to use the port is forwarded as usual.
 */
#define ESFC_PROBE_PORT     0xE5FC  /* 58876 */
/* "ESFCprob", read as one 64-bit big-endian word. */
#define ESFC_PROBE_MAGIC    0x4553464370726f62ULL

/* The UDP payload of a probe (wire format: network order, packed like every header in a frame). */
struct esfc_probe_payload {
	__u32 magic_be[2];   /* ESFC_PROBE_MAGIC, most significant byte first */
	__u32 sf_id_be;      /* the SF probed (esfc_port.sf_id of its arms) */
	__u32 seq_be;        /* the sender's sequence number */
	__u64 sent_ns_be;    /* the sender's CLOCK_MONOTONIC at sending; not read by the datapath */
} __attribute__((packed));

/* esfc_probe: sf_id -> the last probe that came back out of that SF. */
struct esfc_probe_seen {
	__u64 ns;            /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at its arrival */
	__u32 seq;           /* its sequence number, host order */
	__u32 count;         /* probes seen since the entry was created (wraps) */
};

/* Node-wide settings, one element per generation. */
struct esfc_config {
	__u32 abi_version;   /* ESFC_ABI_VERSION; 0 means "not configured yet" */
	__u32 md3_type;      /* MD type value of the encrypted-hop header */
	__u32 punt_ifindex;  /* 0: no slow path attached */
	__u32 default_ttl;   /* NSH TTL set by the classifier */
};

/* esfc_state: one element; which generation the datapath reads. */
struct esfc_state {
	__u32 active;        /* 0 or 1 */
	__u32 pad;
	__u64 generation;    /* the agent's configuration generation in force, for status */
};

/* Per-CPU counter cell; index = port slot * ESFC_STAT_MAX + stat. */
struct esfc_counter {
	__u64 packets;
	__u64 bytes;
};


/*
 * Encryption function (EF) glue: a TC program pair on the EF's interface in
 * the EF's own network namespace, around the kernel's XFRM (ESP tunnel mode).
 * Maps are per EF (pinned under <pinDir>/ef/<name>), programmed by the agent.
 */
#define ESFC_EF_MAX_PAIRS 1024
#define ESFC_EF_MAX_SAS   4096
/* skb marks that select an EF pair's SAs: base | E-SPI. */
#define ESFC_EF_MARK_BASE 0xE5000000
#define ESFC_EF_MARK_MASK 0xFF000000

enum esfc_ef_stat {
	ESFC_EF_STAT_PASS = 0,           /* not esfc's (ESP on its way to XFRM, our own restored NSH) */
	ESFC_EF_STAT_TO_ENCRYPT,         /* NSH removed, plaintext handed to XFRM with the pair's mark */
	ESFC_EF_STAT_ENCRYPTED,          /* ESP from XFRM, MD type 3 (E=1) pushed towards the SFF */
	ESFC_EF_STAT_TO_DECRYPT,         /* MD type 3 removed, ESP handed to XFRM with the pair's mark */
	ESFC_EF_STAT_DECRYPTED,          /* plaintext from XFRM, NSH restored towards the SFF */
	ESFC_EF_STAT_DROP_FIRST = 8,
	ESFC_EF_STAT_DROP_MALFORMED = ESFC_EF_STAT_DROP_FIRST, /* headers cut short or invalid */
	ESFC_EF_STAT_DROP_NO_PAIR,       /* (SPI, SI) or (E-SPI, E-SI) this EF has no pair for */
	ESFC_EF_STAT_DROP_NOT_ENCRYPTED, /* MD type 3 with E=0, or plaintext without NSH */
	ESFC_EF_STAT_DROP_CLEAR,         /* non-ESP leaving towards the SFF: fail closed (invariant 5) */
	ESFC_EF_STAT_DROP_UNKNOWN_SA,    /* ESP or decrypted packet of an SA esfc did not install */
	ESFC_EF_STAT_DROP_ADJUST,        /* the kernel refused a header push/pop */
	ESFC_EF_STAT_MAX = 16,
};

struct esfc_ef_config {
	__u32 abi_version;   /* ESFC_ABI_VERSION; 0: not configured, everything is dropped */
	__u32 md3_type;
	__u32 ifindex;       /* the EF's interface towards its SFF, in the EF's namespace */
	__u32 nsh_ttl;       /* TTL of the MD type 3 header the EF writes */
};

/* esfc_ef_encrypt: SF-layer (SPI, SI) arriving at an encrypting EF (key: struct esfc_path_key). */
struct esfc_ef_encrypt {
	__u32 mark;          /* selects the pair's outbound policy and SAs */
	__u32 espi;
};

/* esfc_ef_decrypt: EF-layer (E-SPI, E-SI) arriving at a decrypting EF (key: struct esfc_path_key). */
struct esfc_ef_decrypt {
	__u32 mark;          /* selects the pair's inbound SAs */
	__u32 pad;
};

#define ESFC_EF_DIR_OUT 1    /* this EF encrypts with the SA */
#define ESFC_EF_DIR_IN  2    /* this EF decrypts with the SA */

/* esfc_ef_sas: ESP SPI (host order) -> what goes around packets of that SA. */
struct esfc_ef_sa {
	__u32 dir;           /* ESFC_EF_DIR_* */
	__u32 spi;           /* SF-layer SPI */
	__u32 si;            /* OUT: SI carried in MD type 3; IN: SI of the restored NSH */
	__u32 espi;          /* OUT: E-SPI written; IN: E-SPI the SA belongs to */
	__u32 esi;           /* OUT: E-SI written */
	__u32 epoch;         /* OUT: key epoch written into MD type 3 */
	__u32 reqid;         /* IN: reqid of the SA that must have decrypted the packet */
	__u32 pad;
};

#endif /* ESFC_SHARED_H */
