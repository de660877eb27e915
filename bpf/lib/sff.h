/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The forwarding core: SFF (inner and outer tables), classifier, SF proxy and
 * source validation. Written against the ctx layer only; the entry file
 * decides whether this runs on XDP or TC.
 */
#ifndef ESFC_SFF_H
#define ESFC_SFF_H

#include "esfc_shared.h"
#include "headers.h"
#include "maps.h"
#include "counters.h"
#include "parse.h"
#include "rewrite.h"
#include "classify.h"
#include "proxy.h"
#include "probe.h"

/* Verdict meaning "hand the unchanged frame to the slow path" (punt()); no CTX_ACT_* is negative but TC_ACT_UNSPEC. */
#define ESFC_V_PUNT     (-2)

/* The generation in force; every table lookup of this packet uses it. */
static __always_inline __u32 active_gen(void)
{
	__u32 zero = 0;
	const struct esfc_state *st = bpf_map_lookup_elem(&esfc_state, &zero);

	return st ? st->active & 1 : 0;
}

static __always_inline const struct esfc_config *node_config(__u32 gen)
{
	return bpf_map_lookup_elem(&esfc_config, &gen);
}

/* The array covers ordinary ifindexes with an inlined lookup; the rest is a hash. */
static __always_inline const struct esfc_port *port_of(__u32 ifindex, __u32 gen)
{
	struct esfc_port_key key = { .ifindex = ifindex, .gen = gen };
	__u32 idx;

	if (ifindex < ESFC_MAX_IFINDEX) {
		idx = gen * ESFC_MAX_IFINDEX + ifindex;
		return bpf_map_lookup_elem(&esfc_ports, &idx);
	}
	return bpf_map_lookup_elem(&esfc_ports_big, &key);
}

/* The Ethernet header an NSH packet with Next Protocol 0x3 carries after NSH. */
static __always_inline int read_inner_eth(struct __ctx_buff *ctx, const struct esfc_pkt *pkt,
					  struct esfc_eth *out)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	__u32 off = ESFC_ETH_LEN + pkt->outer_len + pkt->nsh_len;
	struct esfc_eth *e;

	if (off > ESFC_ETH_LEN + ESFC_UNDERLAY_OVERHEAD + ESFC_NSH_MAX_LEN)
		return -1;
	e = data + off;
	if ((void *)(e + 1) > data_end)
		return -1;
	__builtin_memcpy(out, e, sizeof(*out));
	return 0;
}

/*
 * Send the packet described by pkt to nh. pkt->nsh_len > 0 with have_nsh
 * means the frame still carries that NSH header after pkt->outer_len bytes of
 * underlay headers; otherwise it is a plain IP frame and NSH is built here.
 */
static __always_inline int send_to(struct __ctx_buff *ctx, const struct esfc_next_hop *nh,
				   struct esfc_pkt *pkt, int have_nsh, __u32 *stat)
{
	__u32 old_len, new_len, nsh_off = 0, how = 0, l3_len;
	int keep_nsh = nh->kind == ESFC_NH_LOCAL || nh->kind == ESFC_NH_REMOTE;
	int deliver_eth = have_nsh && !keep_nsh && pkt->next_proto == ESFC_NSH_NP_ETH;
	struct esfc_eth inner_eth;
	__u16 sport = 0, eth_proto;
	void *data, *data_end;

	if (deliver_eth && read_inner_eth(ctx, pkt, &inner_eth)) {
		*stat = ESFC_STAT_DROP_MALFORMED;
		return CTX_ACT_DROP;
	}

	old_len = pkt->outer_len;
	new_len = 0;
	if (have_nsh && !keep_nsh)
		old_len += pkt->nsh_len;
	/* An Ethernet payload is delivered as the frame it is: its own header replaces ours. */
	if (deliver_eth)
		old_len += ESFC_ETH_LEN;
	if (nh->kind == ESFC_NH_REMOTE) {
		new_len = ESFC_UNDERLAY_OVERHEAD;
		/* Transit keeps the entropy the first node derived from the inner flow. */
		sport = pkt->outer_len ? bpf_ntohs(pkt->outer_sport) : flow_src_port(&pkt->flow, pkt->spi);
	}
	if (!have_nsh && keep_nsh) {
		nsh_off = ESFC_ETH_LEN + new_len;
		new_len += pkt->nsh_len;
	}

	/* Encapsulation overhead counts against the egress MTU; GSO is resegmented. */
	if (nh->mtu && !ctx_is_gso(ctx) &&
	    pkt->len - ESFC_ETH_LEN + new_len - old_len > nh->mtu) {
		*stat = ESFC_STAT_DROP_MTU;
		return CTX_ACT_DROP;
	}

	if (nh->kind == ESFC_NH_REMOTE && !pkt->outer_len)
		how = ESFC_RESIZE_ENCAP_UDP | ((new_len - ESFC_IPV4_LEN - ESFC_UDP_LEN) +
					       (have_nsh ? pkt->nsh_len : 0));
	else if (pkt->outer_len && nh->kind != ESFC_NH_REMOTE && !deliver_eth)
		how = ESFC_RESIZE_DECAP_UDP;
	if (ctx_resize_hdr(ctx, old_len, new_len, how)) {
		*stat = ESFC_STAT_DROP_ADJUST;
		return CTX_ACT_DROP;
	}

	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	if (keep_nsh)
		eth_proto = nh->kind == ESFC_NH_REMOTE ? 0x0800 : ESFC_ETH_P_NSH;
	else
		eth_proto = pkt->next_proto == ESFC_NSH_NP_IPV6 ? 0x86DD : 0x0800;
	if (deliver_eth) {
		if (write_eth(data, data_end, inner_eth.dst, inner_eth.src, bpf_ntohs(inner_eth.proto)))
			goto fail;
	} else if (write_eth(data, data_end, nh->dmac, nh->smac, eth_proto)) {
		goto fail;
	}
	if (nh->kind == ESFC_NH_REMOTE) {
		l3_len = pkt->len + new_len - old_len - ESFC_ETH_LEN;
		if (write_underlay(data, data_end, nh, l3_len,
				   pkt->outer_len ? pkt->outer_tos : pkt->flow.tos, sport))
			goto fail;
	}
	if (nsh_off && write_nsh(data, data_end, nsh_off, pkt))
		goto fail;

	switch (nh->kind) {
	case ESFC_NH_LOCAL:
		*stat = ESFC_STAT_FWD_LOCAL;
		break;
	case ESFC_NH_PROXY:
		*stat = ESFC_STAT_FWD_PROXY;
		break;
	case ESFC_NH_REMOTE:
		*stat = ESFC_STAT_FWD_REMOTE;
		break;
	default:
		*stat = ESFC_STAT_END_OF_CHAIN;
		break;
	}
	return ctx_redirect(ctx, nh->ifindex, nh->flags);
fail:
	*stat = ESFC_STAT_DROP_MALFORMED;
	return CTX_ACT_DROP;
}

/*
 * RFC 8300 2.2: decrement before the lookup; an incoming 0 becomes 63 (the
 * field is 6 bits), and what is 0 after the decrement is not forwarded.
 * Returns 0 when the packet may go on.
 */
static __always_inline int ttl_expired(struct esfc_pkt *pkt)
{
	pkt->ttl = (pkt->ttl - 1) & ESFC_NSH_TTL_MASK;
	return pkt->ttl == 0;
}

/*
 * From the underlay: only a peer node assigned to send this position may. Its
 * senders usually fit in the next hop; the map holds positions with more.
 */
static __always_inline int peer_ok(const struct esfc_pkt *pkt, const struct esfc_next_hop *nh,
				   __u32 spi, __u32 si)
{
	struct esfc_peer_src_key key = {
		.saddr_be = pkt->outer_saddr, .spi = spi, .si = si, .gen = pkt->gen,
	};
	int i;

	for (i = 0; i < ESFC_NH_MAX_FROM; i++) {
		if (nh->from_be[i] && nh->from_be[i] == pkt->outer_saddr)
			return 1;
	}
	if (!(nh->flags & ESFC_NH_F_FROM_MAP))
		return 0;
	return bpf_map_lookup_elem(&esfc_peer_sources, &key) != NULL;
}

/*
 * TTL and SI rules of RFC 8300 2.2/2.3, the table lookup, then who may hand
 * this position over (invariant 3 on the underlay) and the layer rule.
 */
static __always_inline const struct esfc_next_hop *
lookup_hop(const struct esfc_port *port, struct esfc_pkt *pkt, __u32 *stat)
{
	struct esfc_path_key key = {};
	const struct esfc_next_hop *nh;

	if (ttl_expired(pkt)) {
		*stat = ESFC_STAT_DROP_TTL;
		return NULL;
	}
	if (pkt->si == 0) {
		*stat = ESFC_STAT_DROP_SI_ZERO;
		return NULL;
	}
	key.spi = pkt->spi;
	key.si = pkt->si;
	key.gen = pkt->gen;
	nh = bpf_map_lookup_elem(&esfc_inner, &key);
	if (!nh) {
		*stat = ESFC_STAT_DROP_NO_PATH;
		return NULL;
	}
	if (port->kind == ESFC_PORT_UNDERLAY && !peer_ok(pkt, nh, pkt->spi, pkt->si)) {
		*stat = ESFC_STAT_DROP_PEER_SOURCE;
		return NULL;
	}
	/* Plaintext bound for an EF came over the underlay: the EF is misplaced. */
	if ((nh->flags & ESFC_NH_F_EF) && port->kind == ESFC_PORT_UNDERLAY) {
		*stat = ESFC_STAT_DROP_LAYER;
		return NULL;
	}
	return nh;
}

static __always_inline int source_ok(__u32 ifindex, __u32 spi, __u32 si, __u32 gen)
{
	struct esfc_src_key key = { .ifindex = ifindex, .spi = spi, .si = si, .gen = gen };

	return bpf_map_lookup_elem(&esfc_sources, &key) != NULL;
}

/* MD type 3: forward on (E-SPI, E-SI) in the outer table (EF layer). */
static __always_inline int forward_md3(struct __ctx_buff *ctx, const struct esfc_port *port,
				       struct esfc_pkt *pkt, __u32 *stat)
{
	struct esfc_path_key key = { .spi = pkt->espi, .si = pkt->esi, .gen = pkt->gen };
	const struct esfc_next_hop *nh;

	if (port->kind != ESFC_PORT_UNDERLAY && port->kind != ESFC_PORT_EF) {
		*stat = ESFC_STAT_DROP_LAYER;
		return CTX_ACT_DROP;
	}
	if (port->kind == ESFC_PORT_EF &&
	    !source_ok(ctx_ifindex(ctx), pkt->espi | ESFC_SRC_EF_LAYER, pkt->esi, pkt->gen)) {
		*stat = ESFC_STAT_DROP_SOURCE;
		return CTX_ACT_DROP;
	}
	if (ttl_expired(pkt)) {
		*stat = ESFC_STAT_DROP_TTL;
		return CTX_ACT_DROP;
	}
	nh = bpf_map_lookup_elem(&esfc_outer, &key);
	if (!nh) {
		*stat = ESFC_STAT_DROP_NO_PATH;
		return CTX_ACT_DROP;
	}
	if (port->kind == ESFC_PORT_UNDERLAY && !peer_ok(pkt, nh, pkt->espi | ESFC_SRC_EF_LAYER, pkt->esi)) {
		*stat = ESFC_STAT_DROP_PEER_SOURCE;
		return CTX_ACT_DROP;
	}
	if (nh->kind == ESFC_NH_REMOTE && !pkt->e_bit) {
		*stat = ESFC_STAT_DROP_CLEAR_ON_UNDERLAY;
		return CTX_ACT_DROP;
	}
	if (nh->kind != ESFC_NH_REMOTE && !(nh->kind == ESFC_NH_LOCAL && (nh->flags & ESFC_NH_F_EF))) {
		*stat = ESFC_STAT_DROP_LAYER;
		return CTX_ACT_DROP;
	}
	if (nsh_store_ttl(ctx_data(ctx), ctx_data_end(ctx), ESFC_ETH_LEN + pkt->outer_len, pkt)) {
		*stat = ESFC_STAT_DROP_MALFORMED;
		return CTX_ACT_DROP;
	}
	return send_to(ctx, nh, pkt, 1, stat);
}

/* An NSH frame from the underlay or from an SF/EF port. */
static __always_inline int forward_nsh(struct __ctx_buff *ctx, const struct esfc_port *port,
				       const struct esfc_config *cfg, struct esfc_pkt *pkt,
				       __u32 *stat)
{
	const struct esfc_next_hop *nh;
	int ret;

	ret = parse_nsh(ctx_data(ctx), ctx_data_end(ctx), ESFC_ETH_LEN + pkt->outer_len,
			cfg->md3_type, pkt);
	if (ret == ESFC_PARSE_PUNT)
		return ESFC_V_PUNT;
	if (ret != ESFC_PARSE_OK) {
		*stat = ret;
		return CTX_ACT_DROP;
	}
	if (pkt->oam && !(port->flags & ESFC_PORT_F_OAM_FORWARD)) {
		/* OAM belongs to the slow path; without one it is not forwarded. */
		if (cfg->punt_ifindex)
			return ESFC_V_PUNT;
		*stat = ESFC_STAT_DROP_OAM;
		return CTX_ACT_DROP;
	}
	if (pkt->md_type == cfg->md3_type)
		return forward_md3(ctx, port, pkt, stat);
	if (port->kind != ESFC_PORT_UNDERLAY &&
	    !source_ok(ctx_ifindex(ctx), pkt->spi, pkt->si, pkt->gen)) {
		*stat = ESFC_STAT_DROP_SOURCE;
		return CTX_ACT_DROP;
	}
	nh = lookup_hop(port, pkt, stat);
	if (!nh)
		return CTX_ACT_DROP;
	/* The inner 5-tuple is only needed to proxy or to pick fresh UDP entropy. */
	if (pkt->next_proto == ESFC_NSH_NP_IPV4 &&
	    (nh->kind == ESFC_NH_PROXY || (nh->kind == ESFC_NH_REMOTE && !pkt->outer_len)))
		parse_flow(ctx_data(ctx), ctx_data_end(ctx),
			   ESFC_ETH_LEN + pkt->outer_len + (pkt->nsh_len & 0xff), &pkt->flow);
	if (nh->kind == ESFC_NH_PROXY && proxy_remember(nh, pkt)) {
		*stat = ESFC_STAT_DROP_PROXY_STATE;
		return CTX_ACT_DROP;
	}
	if ((nh->kind == ESFC_NH_LOCAL || nh->kind == ESFC_NH_REMOTE) &&
	    nsh_store_ttl(ctx_data(ctx), ctx_data_end(ctx), ESFC_ETH_LEN + pkt->outer_len, pkt)) {
		*stat = ESFC_STAT_DROP_MALFORMED;
		return CTX_ACT_DROP;
	}
	return send_to(ctx, nh, pkt, 1, stat);
}

/* A plain IPv4 frame that now has a path position (classified or proxied back). */
static __always_inline int forward_plain(struct __ctx_buff *ctx, const struct esfc_port *port,
					 struct esfc_pkt *pkt, __u32 *stat)
{
	const struct esfc_next_hop *nh = lookup_hop(port, pkt, stat);

	if (!nh)
		return CTX_ACT_DROP;
	if (nh->kind == ESFC_NH_PROXY && proxy_remember(nh, pkt)) {
		*stat = ESFC_STAT_DROP_PROXY_STATE;
		return CTX_ACT_DROP;
	}
	return send_to(ctx, nh, pkt, 0, stat);
}

/* A byte at a time from the macro: an array would become a .rodata map of its own. */
static __always_inline void write_slow_path_mac(__u8 *m)
{
	m[0] = ((__u8[])ESFC_SLOW_PATH_MAC)[0];
	m[1] = ((__u8[])ESFC_SLOW_PATH_MAC)[1];
	m[2] = ((__u8[])ESFC_SLOW_PATH_MAC)[2];
	m[3] = ((__u8[])ESFC_SLOW_PATH_MAC)[3];
	m[4] = ((__u8[])ESFC_SLOW_PATH_MAC)[4];
	m[5] = ((__u8[])ESFC_SLOW_PATH_MAC)[5];
}

/*
 * Hand the frame, as it arrived, to the slow path (BMv2 behind the punt port)
 * behind a slow-path header that names the port it came in on: BMv2 applies
 * that port's rules as this core would have.
 */
static __always_inline int punt(struct __ctx_buff *ctx, const struct esfc_config *cfg,
				__u32 ifindex, __u32 *stat)
{
	struct esfc_slow_path_hdr *sp;
	void *data, *data_end;

	if (!cfg->punt_ifindex) {
		*stat = ESFC_STAT_DROP_NO_PUNT_PORT;
		return CTX_ACT_DROP;
	}
	if (ctx_push_front(ctx, ESFC_SLOW_PATH_HDR_LEN)) {
		*stat = ESFC_STAT_DROP_ADJUST;
		return CTX_ACT_DROP;
	}
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	sp = data;
	if ((void *)(sp + 1) > data_end) {
		*stat = ESFC_STAT_DROP_MALFORMED;
		return CTX_ACT_DROP;
	}
	write_slow_path_mac(sp->dst);
	write_slow_path_mac(sp->src);
	sp->proto = bpf_htons(ESFC_ETH_P_SLOW_PATH);
	sp->ifindex_be = bpf_htonl(ifindex);
	*stat = ESFC_STAT_PUNT;
	return ctx_redirect(ctx, cfg->punt_ifindex, 0);
}

/*
 * A frame BMv2 sends back through the punt port: the slow-path header names
 * the port it must leave by. BMv2 already applied every rule (source checks,
 * TTL, rewrites), so nothing is checked again here but that the port is one
 * of ours; and nothing from here is ever punted, so a frame cannot loop
 * between the two.
 */
static __always_inline int from_slow_path(struct __ctx_buff *ctx, __u32 gen, __u32 *stat)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	struct esfc_slow_path_hdr *sp = data;
	struct esfc_eth *eth = data;
	const struct esfc_port *out;
	__u32 oif;

	if ((void *)(eth + 1) > data_end || eth->proto != bpf_htons(ESFC_ETH_P_SLOW_PATH)) {
		*stat = ESFC_STAT_DROP_SLOW_PATH_EGRESS;
		return CTX_ACT_DROP;
	}
	/* The header, and the Ethernet header of the frame behind it. */
	if ((void *)(sp + 1) > data_end ||
	    data + ESFC_SLOW_PATH_HDR_LEN + ESFC_ETH_LEN > data_end) {
		*stat = ESFC_STAT_DROP_MALFORMED;
		return CTX_ACT_DROP;
	}
	oif = bpf_ntohl(sp->ifindex_be);
	out = port_of(oif, gen);
	if (!out || out->kind == ESFC_PORT_NONE || out->kind == ESFC_PORT_PUNT ||
	    oif == ctx_ifindex(ctx)) {
		*stat = ESFC_STAT_DROP_SLOW_PATH_EGRESS;
		return CTX_ACT_DROP;
	}
	if (ctx_pop_front(ctx, ESFC_SLOW_PATH_HDR_LEN)) {
		*stat = ESFC_STAT_DROP_ADJUST;
		return CTX_ACT_DROP;
	}
	*stat = ESFC_STAT_SLOW_PATH;
	/*
	 * Through the egress port's transmit, never straight into a veth peer:
	 * the skb still has the slow-path header's protocol, and a veth's
	 * transmit parses the Ethernet header again.
	 */
	return ctx_redirect(ctx, oif, 0);
}

static __always_inline int esfc_process(struct __ctx_buff *ctx)
{
	__u32 ifindex = ctx_ifindex(ctx), len = ctx_len(ctx), slot, stat = ESFC_STAT_PASS;
	__u32 gen = active_gen();
	struct esfc_pkt pkt = { .len = len, .gen = gen };
	const struct esfc_config *cfg;
	const struct esfc_port *port;
	struct esfc_eth *eth;
	void *data, *data_end;
	int verdict = CTX_ACT_OK, ret;

	port = port_of(ifindex, gen);
	cfg = node_config(gen);
	if (!port || port->kind == ESFC_PORT_NONE || !cfg || !cfg->abi_version)
		return CTX_ACT_OK;
	slot = port->slot;

	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	eth = data;
	if ((void *)(eth + 1) > data_end) {
		stat = ESFC_STAT_DROP_MALFORMED;
		verdict = CTX_ACT_DROP;
		goto out;
	}

	switch (port->kind) {
	case ESFC_PORT_UNDERLAY:
		ret = parse_underlay(data, data_end, port->underlay_ip_be, &pkt);
		if (ret == 0)
			goto out;
		if (ret != 1) {
			stat = ret;
			verdict = CTX_ACT_DROP;
			goto out;
		}
		verdict = forward_nsh(ctx, port, cfg, &pkt, &stat);
		break;
	case ESFC_PORT_SF:
	case ESFC_PORT_EF:
	case ESFC_PORT_SF_PROXY:
		if (eth->proto == bpf_htons(ESFC_ETH_P_NSH)) {
			verdict = forward_nsh(ctx, port, cfg, &pkt, &stat);
			break;
		}
		if (port->kind != ESFC_PORT_SF_PROXY || eth->proto != bpf_htons(0x0800))
			goto out;
		/* The agent's liveness probe has no path position to restore: it ends here. */
		if (probe_returned(data, data_end, port)) {
			stat = ESFC_STAT_PROBE;
			verdict = CTX_ACT_DROP;
			goto out;
		}
		ret = proxy_restore(data, data_end, port, &pkt);
		if (ret) {
			stat = ret;
			verdict = CTX_ACT_DROP;
			goto out;
		}
		/*
		 * No source check here: the state is keyed by this SF, so it can
		 * only restore a path position esfc handed to this SF.
		 */
		count(slot, ESFC_STAT_PROXY_RETURN, len);
		verdict = forward_plain(ctx, port, &pkt, &stat);
		break;
	case ESFC_PORT_PUNT:
		verdict = from_slow_path(ctx, gen, &stat);
		goto out;
	case ESFC_PORT_CLASSIFY:
		if (eth->proto != bpf_htons(0x0800))
			goto out;
		ret = classify(data, data_end, ifindex, cfg, &pkt);
		if (ret <= 0) {
			if (ret < 0) {
				stat = -ret;
				verdict = CTX_ACT_DROP;
			}
			goto out;
		}
		count(slot, ESFC_STAT_CLASSIFIED, len);
		verdict = forward_plain(ctx, port, &pkt, &stat);
		break;
	default:
		goto out;
	}

	if (verdict == ESFC_V_PUNT)
		verdict = punt(ctx, cfg, ifindex, &stat);
out:
	count(slot, stat, len);
	return verdict;
}

#endif /* ESFC_SFF_H */
