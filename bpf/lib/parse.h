/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Parsing with a cursor and explicit bounds checks. Everything the rewrite
 * needs is copied into struct esfc_pkt first, because packet pointers die
 * when headers are pushed or popped.
 */
#ifndef ESFC_PARSE_H
#define ESFC_PARSE_H

#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include "esfc_shared.h"
#include "headers.h"

/* Parse results that are not drop reasons. */
#define ESFC_PARSE_OK    0
#define ESFC_PARSE_PUNT  (-1)

/* Longest NSH header we accept in the fast path: Length is 6 bits of words. */
#define ESFC_NSH_MAX_LEN 252

struct esfc_flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   tos;
	__u8   valid;
	__u8   frag;     /* an IPv4 fragment (first or not): ports are left 0 */
};

struct esfc_pkt {
	__u32 len;         /* frame length as received */
	__u32 gen;         /* generation of the tables this packet is forwarded with */
	__u32 outer_len;   /* bytes between Ethernet and NSH: 0 or ESFC_UNDERLAY_OVERHEAD */
	__be32 outer_saddr; /* underlay IPv4 source: the peer node that sent the frame */
	__be16 outer_sport; /* underlay UDP source port (flow entropy chosen upstream) */
	__u8  outer_tos;
	__u8  w0_bits;     /* O and U bits of NSH word 0's high byte (0x30), kept as received */
	__u8  md_bits;     /* the 4 unassigned bits in front of MD type (0xf0), kept as received */
	__u32 nsh_len;     /* NSH header bytes; 0 while the frame is plain IP */
	__u32 spi;
	__u32 si;
	__u32 ttl;
	__u32 md_type;
	__u32 next_proto;
	__u32 oam;
	__u32 espi;
	__u32 esi;
	__u32 e_bit;
	__u8  context[16];
	struct esfc_flow flow;
};

/* Inner IPv4 5-tuple at `off`, for the UDP source port and the SF proxy. */
static __always_inline void parse_flow(void *data, void *data_end, __u32 off,
				       struct esfc_flow *flow)
{
	struct esfc_ipv4 *ip;
	struct esfc_ports_hdr *l4;
	__u32 ihl;

	flow->valid = 0;
	if (off > ESFC_ETH_LEN + ESFC_UNDERLAY_OVERHEAD + ESFC_NSH_MAX_LEN)
		return;
	ip = data + off;
	if ((void *)(ip + 1) > data_end || (ip->ver_ihl >> 4) != 4)
		return;
	flow->saddr = ip->saddr;
	flow->daddr = ip->daddr;
	flow->proto = ip->proto;
	flow->tos = ip->tos;
	flow->sport = 0;
	flow->dport = 0;
	flow->valid = 1;
	/*
	 * Non-first fragments carry no ports. The first one does, but is treated
	 * like the others so that every fragment of a datagram gets the same
	 * flow hash (entropy, proxy state) and the same classifier verdict.
	 */
	flow->frag = !!(ip->frag_off & bpf_htons(0x3fff));
	if (flow->frag)
		return;
	if (ip->proto != IPPROTO_TCP && ip->proto != IPPROTO_UDP && ip->proto != IPPROTO_SCTP)
		return;
	ihl = (ip->ver_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip))
		return;
	l4 = (void *)ip + ihl;
	if ((void *)(l4 + 1) > data_end)
		return;
	flow->sport = l4->source;
	flow->dport = l4->dest;
}

/* Walk MD type 2 TLVs; a Length that lies about them is a drop, too many is a punt. */
static __always_inline int parse_md2(void *nsh, void *data_end, __u32 hdr_len)
{
	__u32 off = ESFC_NSH_BASE_LEN;
	int i;

	for (i = 0; i < ESFC_MAX_MD2_TLVS; i++) {
		__u8 *tlv;
		__u32 tlen;

		if (off == hdr_len)
			return ESFC_PARSE_OK;
		if (off > ESFC_NSH_MAX_LEN - 4)
			return ESFC_STAT_DROP_NSH_LENGTH;
		tlv = nsh + off;
		/* Inside the claimed Length but past the packet: the Length lies. */
		if ((void *)(tlv + 4) > data_end)
			return ESFC_STAT_DROP_NSH_LENGTH;
		tlen = ((tlv[3] & 0x7f) + 3) & ~3U;
		off += 4 + tlen;
		if (off > hdr_len)
			return ESFC_STAT_DROP_NSH_LENGTH;
	}
	return off == hdr_len ? ESFC_PARSE_OK : ESFC_PARSE_PUNT;
}

/*
 * Validate the NSH header at `off` per RFC 8300 and copy it into pkt. Returns
 * ESFC_PARSE_OK, ESFC_PARSE_PUNT, or a drop reason (enum esfc_stat).
 */
static __always_inline int parse_nsh(void *data, void *data_end, __u32 off,
				     __u32 md3_type, struct esfc_pkt *pkt)
{
	struct esfc_nsh *nsh;
	__u16 word;
	__u32 hdr_len, spi_si;
	int ret;

	if (off > ESFC_ETH_LEN + ESFC_UNDERLAY_OVERHEAD)
		return ESFC_STAT_DROP_MALFORMED;
	nsh = data + off;
	if ((void *)(nsh + 1) > data_end)
		return ESFC_STAT_DROP_MALFORMED;

	word = bpf_ntohs(nsh->ver_flags_ttl_len);
	if (word >> ESFC_NSH_VER_SHIFT)
		return ESFC_STAT_DROP_NSH_VERSION;
	pkt->oam = !!(word & ESFC_NSH_O_BIT);
	pkt->w0_bits = (word >> 8) & ESFC_NSH_W0_KEEP;
	pkt->md_bits = nsh->md_type & ~ESFC_NSH_MDTYPE_MASK;
	pkt->ttl = (word >> ESFC_NSH_TTL_SHIFT) & ESFC_NSH_TTL_MASK;
	hdr_len = (word & ESFC_NSH_LEN_MASK) * 4;
	pkt->md_type = nsh->md_type & ESFC_NSH_MDTYPE_MASK;
	pkt->next_proto = nsh->next_proto;
	spi_si = bpf_ntohl(nsh->spi_si);
	pkt->spi = spi_si >> 8;
	pkt->si = spi_si & 0xff;
	pkt->nsh_len = hdr_len;

	if (pkt->md_type == 0)
		return ESFC_STAT_DROP_MD_TYPE0;
	if (hdr_len < ESFC_NSH_BASE_LEN)
		return ESFC_STAT_DROP_NSH_LENGTH;

	/*
	 * Fixed-size MD types are bounds-checked with constant offsets before the
	 * generic Length check below: checked the other way round, newer clang
	 * drops the constant check as implied, and the verifier cannot see it.
	 */
	if (pkt->md_type == ESFC_NSH_MD1) {
		if (hdr_len != ESFC_NSH_MD1_LEN)
			return ESFC_STAT_DROP_NSH_LENGTH;
		if ((void *)nsh + ESFC_NSH_MD1_LEN > data_end)
			return ESFC_STAT_DROP_NSH_LENGTH;
		__builtin_memcpy(pkt->context, (void *)(nsh + 1), 16);
	} else if (pkt->md_type == ESFC_NSH_MD2) {
		ret = parse_md2(nsh, data_end, hdr_len);
		if (ret != ESFC_PARSE_OK)
			return ret;
	} else if (pkt->md_type == md3_type) {
		struct esfc_md3 *md3 = (void *)(nsh + 1);
		__u32 w;

		if (hdr_len != ESFC_NSH_MD3_LEN)
			return ESFC_STAT_DROP_NSH_LENGTH;
		if ((void *)(md3 + 1) > data_end)
			return ESFC_STAT_DROP_NSH_LENGTH;
		w = bpf_ntohl(md3->espi_esi);
		pkt->espi = w >> 8;
		pkt->esi = w & 0xff;
		pkt->e_bit = !!(bpf_ntohl(md3->e_epoch) & ESFC_MD3_E_BIT);
	} else {
		/* Unknown MD types are the slow path's business. */
		return ESFC_PARSE_PUNT;
	}
	if ((void *)nsh + hdr_len > data_end)
		return ESFC_STAT_DROP_NSH_LENGTH;

	if (pkt->next_proto != ESFC_NSH_NP_IPV4 && pkt->next_proto != ESFC_NSH_NP_IPV6 &&
	    pkt->next_proto != ESFC_NSH_NP_ETH)
		return ESFC_STAT_DROP_NEXT_PROTO;
	return ESFC_PARSE_OK;
}

/*
 * Underlay frame: Ethernet/IPv4/UDP 4790/VXLAN-GPE addressed to this node.
 * Returns 1 when it is ours (pkt->outer_len set), 0 to pass it to the stack,
 * or a drop reason.
 */
static __always_inline int parse_underlay(void *data, void *data_end, __u32 local_ip_be,
					  struct esfc_pkt *pkt)
{
	struct esfc_eth *eth = data;
	struct esfc_ipv4 *ip;
	struct esfc_udp *udp;
	struct esfc_gpe *gpe;

	if ((void *)(eth + 1) > data_end || eth->proto != bpf_htons(0x0800))
		return 0;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return 0;
	/* Options or fragments are not what this node sends: leave them to the stack. */
	if (ip->ver_ihl != 0x45 || ip->proto != IPPROTO_UDP || ip->daddr != local_ip_be ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return ESFC_STAT_DROP_MALFORMED;
	if (udp->dest != bpf_htons(ESFC_VXLAN_GPE_PORT))
		return 0;
	gpe = (void *)(udp + 1);
	if ((void *)(gpe + 1) > data_end)
		return ESFC_STAT_DROP_MALFORMED;
	if ((gpe->flags & (ESFC_GPE_F_P | ESFC_GPE_F_VER)) != ESFC_GPE_F_P)
		return ESFC_STAT_DROP_GPE;
	if (gpe->next_proto != ESFC_GPE_NP_NSH)
		return ESFC_STAT_DROP_NEXT_PROTO;
	pkt->outer_len = ESFC_UNDERLAY_OVERHEAD;
	pkt->outer_saddr = ip->saddr;
	pkt->outer_sport = udp->source;
	pkt->outer_tos = ip->tos;
	return 1;
}

#endif /* ESFC_PARSE_H */
