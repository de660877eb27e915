/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Classifier: IPv4 flows -> (SPI, SI=255), rules scanned in priority order. */
#ifndef ESFC_CLASSIFY_H
#define ESFC_CLASSIFY_H

#include "esfc_shared.h"
#include "maps.h"
#include "parse.h"

/* Ingress port, addresses and protocol: what every fragment carries. */
static __always_inline int rule_matches_l3(const struct esfc_class_rule *r, __u32 ifindex,
					   const struct esfc_flow *f)
{
	if (r->in_ifindex && r->in_ifindex != ifindex)
		return 0;
	if ((f->saddr & r->src_mask_be) != r->src_be || (f->daddr & r->dst_mask_be) != r->dst_be)
		return 0;
	return !r->proto || r->proto == f->proto;
}

static __always_inline int rule_uses_ports(const struct esfc_class_rule *r)
{
	return r->sport_lo || r->sport_hi != 0xffff || r->dport_lo || r->dport_hi != 0xffff;
}

static __always_inline int rule_matches(const struct esfc_class_rule *r, __u32 ifindex,
					const struct esfc_flow *f)
{
	__u16 sport = bpf_ntohs(f->sport), dport = bpf_ntohs(f->dport);

	if (!rule_matches_l3(r, ifindex, f))
		return 0;
	if (sport < r->sport_lo || sport > r->sport_hi)
		return 0;
	if (dport < r->dport_lo || dport > r->dport_hi)
		return 0;
	return 1;
}

/*
 * Returns 1 and fills pkt with a fresh MD type 1 path position when a rule
 * matches, 0 when the frame should pass untouched, or a negated drop reason.
 *
 * Fragments (docs/protocol.md "Fragments"): the first rule that could match
 * a fragment decides. If it looks at ports, which non-first fragments do not
 * carry, every fragment of the datagram is dropped and counted: classifying
 * some and passing the rest would let them bypass the chain and its
 * encryption. If it does not, all fragments follow it like any packet.
 */
static __always_inline int classify(void *data, void *data_end, __u32 ifindex,
				    const struct esfc_config *cfg, struct esfc_pkt *pkt)
{
	__u32 i;

	parse_flow(data, data_end, ESFC_ETH_LEN, &pkt->flow);
	if (!pkt->flow.valid)
		return 0;
	for (i = 0; i < ESFC_MAX_CLASS_RULES; i++) {
		const struct esfc_class_rule *r;
		__u32 idx = pkt->gen * ESFC_MAX_CLASS_RULES + i;

		r = bpf_map_lookup_elem(&esfc_classifier, &idx);
		if (!r || !r->valid)
			return 0;
		if (pkt->flow.frag) {
			if (!rule_matches_l3(r, ifindex, &pkt->flow))
				continue;
			if (rule_uses_ports(r))
				return -ESFC_STAT_DROP_FRAGMENT;
		} else if (!rule_matches(r, ifindex, &pkt->flow)) {
			continue;
		}
		pkt->spi = r->spi;
		pkt->si = 255;
		pkt->ttl = cfg->default_ttl;
		pkt->md_type = ESFC_NSH_MD1;
		pkt->nsh_len = ESFC_NSH_MD1_LEN;
		pkt->next_proto = ESFC_NSH_NP_IPV4;
		return 1;
	}
	return 0;
}

#endif /* ESFC_CLASSIFY_H */
