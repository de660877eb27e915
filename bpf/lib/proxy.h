/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * SF proxy for NSH-unaware SFs (RFC 8300 / RFC 7665 "SFC proxy"): NSH is
 * stripped towards the SF and restored with SI-1 when the SF hands the flow
 * back. The path is remembered per (SF, 5-tuple), so one SF can serve several
 * paths at once; an SF that rewrites the 5-tuple (NAT) needs to be NSH-aware.
 */
#ifndef ESFC_PROXY_H
#define ESFC_PROXY_H

#include "esfc_shared.h"
#include "maps.h"
#include "parse.h"

static __always_inline void flow_key(struct esfc_flow_key *k, __u32 sf_id,
				     const struct esfc_flow *f)
{
	k->sf_id = sf_id;
	k->saddr_be = f->saddr;
	k->daddr_be = f->daddr;
	k->sport_be = f->sport;
	k->dport_be = f->dport;
	k->proto = f->proto;
}

/* BPF has no memcmp; the state is seven 32-bit words. */
static __always_inline int proxy_state_equal(const struct esfc_proxy_state *a,
					     const struct esfc_proxy_state *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* Remember what to restore; 0 on success. Only IPv4 can be proxied. */
static __always_inline int proxy_remember(const struct esfc_next_hop *nh,
					  const struct esfc_pkt *pkt)
{
	struct esfc_flow_key key = {};
	struct esfc_proxy_state st = {};
	const struct esfc_proxy_state *cur;

	if (!pkt->flow.valid || pkt->next_proto != ESFC_NSH_NP_IPV4)
		return -1;
	flow_key(&key, nh->sf_id, &pkt->flow);
	st.spi = pkt->spi;
	st.si = pkt->si;
	st.ttl = pkt->ttl;
	st.md_type = pkt->md_type == ESFC_NSH_MD1 ? ESFC_NSH_MD1 : ESFC_NSH_MD2;
	st.w0_bits = pkt->w0_bits;
	st.md_bits = pkt->md_bits;
	__builtin_memcpy(st.context, pkt->context, 16);
	/* Most packets of a flow carry what is stored already: read, don't write. */
	cur = bpf_map_lookup_elem(&esfc_proxy_flows, &key);
	if (cur && proxy_state_equal(cur, &st))
		return 0;
	return bpf_map_update_elem(&esfc_proxy_flows, &key, &st, BPF_ANY) ? -1 : 0;
}

/* A plain IPv4 frame came back from the SF: recover its path position. */
static __always_inline int proxy_restore(void *data, void *data_end,
					 const struct esfc_port *port, struct esfc_pkt *pkt)
{
	struct esfc_flow_key key = {};
	const struct esfc_proxy_state *st;

	parse_flow(data, data_end, ESFC_ETH_LEN, &pkt->flow);
	if (!pkt->flow.valid)
		return ESFC_STAT_DROP_MALFORMED;
	flow_key(&key, port->sf_id, &pkt->flow);
	st = bpf_map_lookup_elem(&esfc_proxy_flows, &key);
	if (!st && (key.sport_be || key.dport_be)) {
		/* Sent as fragments (recorded without ports), handed back reassembled. */
		key.sport_be = 0;
		key.dport_be = 0;
		st = bpf_map_lookup_elem(&esfc_proxy_flows, &key);
	}
	if (!st || st->si == 0)
		return ESFC_STAT_DROP_PROXY_STATE;
	pkt->spi = st->spi;
	pkt->si = st->si - 1;
	pkt->ttl = st->ttl;
	pkt->md_type = st->md_type;
	pkt->nsh_len = st->md_type == ESFC_NSH_MD1 ? ESFC_NSH_MD1_LEN : ESFC_NSH_MD2_MIN_LEN;
	pkt->next_proto = ESFC_NSH_NP_IPV4;
	pkt->w0_bits = st->w0_bits;
	pkt->md_bits = st->md_bits;
	__builtin_memcpy(pkt->context, st->context, 16);
	return 0;
}

#endif /* ESFC_PROXY_H */
