/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Header writers. Each takes a fresh pointer and does its own bounds check. */
#ifndef ESFC_REWRITE_H
#define ESFC_REWRITE_H

#include <bpf/bpf_endian.h>
#include "esfc_shared.h"
#include "headers.h"
#include "parse.h"

/* UDP source port from the inner 5-tuple (docs/protocol.md "Flow entropy"). */
static __always_inline __u16 flow_src_port(const struct esfc_flow *f, __u32 spi)
{
	__u32 h;

	if (!f->valid)
		h = spi;
	else
		h = bpf_ntohl(f->saddr) ^ bpf_ntohl(f->daddr) ^
		    (((__u32)bpf_ntohs(f->sport) << 16) | bpf_ntohs(f->dport)) ^ f->proto;
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return 49152 | (h & 0x3fff);
}

static __always_inline __u16 ipv4_csum(const struct esfc_ipv4 *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static __always_inline int write_eth(void *data, void *data_end, const __u8 *dst,
				     const __u8 *src, __u16 proto)
{
	struct esfc_eth *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->dst, dst, 6);
	__builtin_memcpy(eth->src, src, 6);
	eth->proto = bpf_htons(proto);
	return 0;
}

/*
 * IPv4/UDP/VXLAN-GPE right after the Ethernet header. l3_len is the length of
 * everything from the outer IPv4 header on; for GSO super-packets the kernel
 * rewrites lengths and checksums per segment.
 */
static __always_inline int write_underlay(void *data, void *data_end,
					  const struct esfc_next_hop *nh, __u32 l3_len,
					  __u8 tos, __u16 sport)
{
	struct esfc_ipv4 *ip = data + ESFC_ETH_LEN;
	struct esfc_udp *udp = (void *)(ip + 1);
	struct esfc_gpe *gpe = (void *)(udp + 1);

	if ((void *)(gpe + 1) > data_end)
		return -1;
	if (l3_len > 0xffff)
		l3_len = 0xffff;
	ip->ver_ihl = 0x45;
	ip->tos = tos;
	ip->tot_len = bpf_htons(l3_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);
	ip->ttl = 64;
	ip->proto = IPPROTO_UDP;
	ip->check = 0;
	ip->saddr = nh->saddr_be;
	ip->daddr = nh->daddr_be;
	ip->check = ipv4_csum(ip);

	udp->source = bpf_htons(sport);
	udp->dest = bpf_htons(ESFC_VXLAN_GPE_PORT);
	udp->len = bpf_htons(l3_len - ESFC_IPV4_LEN);
	udp->check = 0;

	gpe->flags = ESFC_GPE_F_I | ESFC_GPE_F_P;
	gpe->rsvd[0] = 0;
	gpe->rsvd[1] = 0;
	gpe->next_proto = ESFC_GPE_NP_NSH;
	gpe->vni_rsvd = 0;
	return 0;
}

/* Word 0 of an NSH header esfc originates: Ver 0, no flags. */
static __always_inline __be16 nsh_word0(__u32 ttl, __u32 len_bytes)
{
	return bpf_htons(((ttl & ESFC_NSH_TTL_MASK) << ESFC_NSH_TTL_SHIFT) |
			 ((len_bytes / 4) & ESFC_NSH_LEN_MASK));
}

/* The NSH base header at `off`, or NULL if it is not all in the packet. */
static __always_inline struct esfc_nsh *nsh_at(void *data, void *data_end, __u32 off)
{
	struct esfc_nsh *nsh;

	if (off > ESFC_ETH_LEN + ESFC_UNDERLAY_OVERHEAD)
		return NULL;
	nsh = data + off;
	if ((void *)(nsh + 1) > data_end)
		return NULL;
	return nsh;
}

/*
 * A fresh NSH header (MD type 1 with context, or MD type 2 without TLVs) for
 * a plain packet: classified (all flags 0) or back from an NSH-unaware SF (the
 * O and unassigned bits it had on the way there).
 */
static __always_inline int write_nsh(void *data, void *data_end, __u32 off,
				     const struct esfc_pkt *pkt)
{
	struct esfc_nsh *nsh = nsh_at(data, data_end, off);

	if (!nsh)
		return -1;
	nsh->ver_flags_ttl_len = bpf_htons(((__u16)(pkt->w0_bits & ESFC_NSH_W0_KEEP) << 8) |
					   ((pkt->ttl & ESFC_NSH_TTL_MASK) << ESFC_NSH_TTL_SHIFT) |
					   ((pkt->nsh_len / 4) & ESFC_NSH_LEN_MASK));
	nsh->md_type = (pkt->md_bits & ~ESFC_NSH_MDTYPE_MASK) | (pkt->md_type & ESFC_NSH_MDTYPE_MASK);
	nsh->next_proto = pkt->next_proto;
	nsh->spi_si = bpf_htonl((pkt->spi << 8) | (pkt->si & 0xff));
	if (pkt->md_type != ESFC_NSH_MD1)
		return 0;
	if ((void *)nsh + ESFC_NSH_MD1_LEN > data_end)
		return -1;
	__builtin_memcpy((void *)(nsh + 1), pkt->context, 16);
	return 0;
}

/* Update TTL in an NSH header that stays in the packet; every other bit stays as it came. */
static __always_inline int nsh_store_ttl(void *data, void *data_end, __u32 off,
					 const struct esfc_pkt *pkt)
{
	struct esfc_nsh *nsh = nsh_at(data, data_end, off);
	__u16 word;

	if (!nsh)
		return -1;
	word = bpf_ntohs(nsh->ver_flags_ttl_len);
	word &= ~(ESFC_NSH_TTL_MASK << ESFC_NSH_TTL_SHIFT);
	word |= (pkt->ttl & ESFC_NSH_TTL_MASK) << ESFC_NSH_TTL_SHIFT;
	nsh->ver_flags_ttl_len = bpf_htons(word);
	return 0;
}

#endif /* ESFC_REWRITE_H */
