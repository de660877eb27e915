/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Encryption function glue around the kernel's XFRM, on the EF's interface in
 * the EF's network namespace (TC only: it needs the skb's XFRM secpath).
 *
 *   SFF -> EF, NSH (SPI, SI)       ingress: pop NSH, mark  -> stack -> XFRM out
 *   XFRM out -> ESP                egress:  push MD3 (E=1)  -> SFF
 *   SFF -> EF, MD3 (E-SPI, E-SI)   ingress: pop MD3, mark  -> stack -> XFRM in
 *   XFRM in -> plaintext           ingress: push NSH (SI-1) -> straight into the SFF
 *
 * Egress lets out only ESP of SAs esfc installed (restored NSH frames go
 * straight into the SFF and never pass it): if XFRM lost its policy or SA,
 * the plaintext is dropped here, never sent (invariant 5).
 */
#ifndef ESFC_EF_H
#define ESFC_EF_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "esfc_shared.h"
#include "headers.h"
#include "parse.h"
#include "rewrite.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct esfc_ef_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ef_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_EF_MAX_PAIRS);
	__type(key, struct esfc_path_key);
	__type(value, struct esfc_ef_encrypt);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ef_encrypt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_EF_MAX_PAIRS);
	__type(key, struct esfc_path_key);
	__type(value, struct esfc_ef_decrypt);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ef_decrypt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_EF_MAX_SAS);
	__type(key, __u32);              /* ESP SPI, host order */
	__type(value, struct esfc_ef_sa);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ef_sas SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ESFC_EF_STAT_MAX);
	__type(key, __u32);
	__type(value, struct esfc_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ef_counters SEC(".maps");

/* Emits enum esfc_ef_stat into BTF, where the agent reads the counter names. */
__attribute__((noinline, used)) int esfc_ef_btf_enums(enum esfc_ef_stat s)
{
	return s;
}

struct esfc_esp {
	__be32 spi;
	__be32 seq;
} __attribute__((packed));

static __always_inline int ef_count(struct __sk_buff *ctx, __u32 stat)
{
	struct esfc_counter *c;
	__u32 idx = stat;

	c = bpf_map_lookup_elem(&esfc_ef_counters, &idx);
	if (c) {
		c->packets++;
		c->bytes += ctx->len;
	}
	return stat >= ESFC_EF_STAT_DROP_FIRST ? TC_ACT_SHOT : TC_ACT_OK;
}

static __always_inline int ef_marked(const struct __sk_buff *ctx)
{
	return (ctx->mark & ESFC_EF_MARK_MASK) == ESFC_EF_MARK_BASE;
}

/*
 * Hand a frame whose NSH was just removed to the EF's IP stack. An skb the
 * kernel parsed as NSH (arrived through a veth transmit) has the wrong
 * skb->protocol for ip_rcv; a loop through this device's ingress re-parses
 * the Ethernet header, and the second pass recognises it by its mark.
 */
static __always_inline int ef_to_stack(struct __sk_buff *ctx, const struct esfc_ef_config *cfg)
{
	if (ctx->protocol == bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	return bpf_redirect(cfg->ifindex, BPF_F_INGRESS);
}

/* Replace the NSH header in front of an IPv4 packet by nothing; Ethernet says IPv4. */
static __always_inline int ef_pop_nsh(struct __sk_buff *ctx, __u32 nsh_len)
{
	struct esfc_eth *eth;

	if (ctx_resize_hdr(ctx, nsh_len, 0, 0))
		return -1;
	eth = ctx_data(ctx);
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return -1;
	eth->proto = bpf_htons(ETH_P_IP);
	return 0;
}

static __always_inline int ef_from_sff(struct __sk_buff *ctx, const struct esfc_ef_config *cfg)
{
	struct esfc_pkt pkt = {};
	struct esfc_path_key key = {};
	int ret;

	ret = parse_nsh(ctx_data(ctx), ctx_data_end(ctx), ESFC_ETH_LEN, cfg->md3_type, &pkt);
	if (ret != ESFC_PARSE_OK || pkt.next_proto != ESFC_NSH_NP_IPV4)
		return ef_count(ctx, ESFC_EF_STAT_DROP_MALFORMED);
	if (pkt.md_type == cfg->md3_type) {
		struct esfc_ef_decrypt *d;

		if (!pkt.e_bit)
			return ef_count(ctx, ESFC_EF_STAT_DROP_NOT_ENCRYPTED);
		key.spi = pkt.espi;
		key.si = pkt.esi;
		d = bpf_map_lookup_elem(&esfc_ef_decrypt, &key);
		if (!d)
			return ef_count(ctx, ESFC_EF_STAT_DROP_NO_PAIR);
		ctx->mark = d->mark;
		if (ef_pop_nsh(ctx, pkt.nsh_len))
			return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
		ef_count(ctx, ESFC_EF_STAT_TO_DECRYPT);
	} else {
		struct esfc_ef_encrypt *e;

		key.spi = pkt.spi;
		key.si = pkt.si;
		e = bpf_map_lookup_elem(&esfc_ef_encrypt, &key);
		if (!e)
			return ef_count(ctx, ESFC_EF_STAT_DROP_NO_PAIR);
		ctx->mark = e->mark;
		if (ef_pop_nsh(ctx, pkt.nsh_len))
			return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
		ef_count(ctx, ESFC_EF_STAT_TO_ENCRYPT);
	}
	return ef_to_stack(ctx, cfg);
}

/* Plaintext XFRM just decrypted: put NSH back (SI one less) and send it to the SFF. */
static __always_inline int ef_decrypted(struct __sk_buff *ctx, const struct esfc_ef_config *cfg,
					const struct bpf_xfrm_state *st)
{
	struct esfc_ef_sa *sa;
	struct esfc_eth *eth;
	struct esfc_pkt pkt = {};
	__u32 spi = bpf_ntohl(st->spi);
	__u8 mac[6];

	sa = bpf_map_lookup_elem(&esfc_ef_sas, &spi);
	if (!sa || sa->dir != ESFC_EF_DIR_IN || sa->reqid != st->reqid)
		return ef_count(ctx, ESFC_EF_STAT_DROP_UNKNOWN_SA);
	pkt.spi = sa->spi;
	pkt.si = sa->si;
	pkt.ttl = cfg->nsh_ttl;
	pkt.md_type = ESFC_NSH_MD1;
	pkt.next_proto = ESFC_NSH_NP_IPV4;
	pkt.nsh_len = ESFC_NSH_MD1_LEN;
	if (ctx_resize_hdr(ctx, 0, ESFC_NSH_MD1_LEN, 0))
		return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
	eth = ctx_data(ctx);
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
	/* The frame came from the SFF: answer it with the addresses swapped. */
	__builtin_memcpy(mac, eth->dst, 6);
	__builtin_memcpy(eth->dst, eth->src, 6);
	__builtin_memcpy(eth->src, mac, 6);
	eth->proto = bpf_htons(ESFC_ETH_P_NSH);
	if (write_nsh(ctx_data(ctx), ctx_data_end(ctx), ESFC_ETH_LEN, &pkt))
		return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
	ctx->mark = 0;
	ef_count(ctx, ESFC_EF_STAT_DECRYPTED);
	/*
	 * Into the SFF's ingress directly: the skb keeps its IPv4 protocol, so the
	 * SFF pops and pushes with adjust_room (GSO and checksum offload intact),
	 * which a veth transmit (re-parsing the frame as NSH) would prevent.
	 */
	return bpf_redirect_peer(cfg->ifindex, 0);
}

static __always_inline struct esfc_ef_config *ef_config(void)
{
	__u32 zero = 0;
	struct esfc_ef_config *cfg = bpf_map_lookup_elem(&esfc_ef_config, &zero);

	return cfg && cfg->abi_version == ESFC_ABI_VERSION ? cfg : NULL;
}

static __always_inline int esfc_ef_ingress_process(struct __sk_buff *ctx)
{
	struct esfc_ef_config *cfg = ef_config();
	struct bpf_xfrm_state st;
	struct esfc_eth *eth = ctx_data(ctx);
	struct esfc_ipv4 *ip;

	if (!cfg)
		return ef_count(ctx, ESFC_EF_STAT_DROP_NO_PAIR);
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return ef_count(ctx, ESFC_EF_STAT_DROP_MALFORMED);
	if (eth->proto == bpf_htons(ESFC_ETH_P_NSH))
		return ef_from_sff(ctx, cfg);
	if (eth->proto != bpf_htons(ETH_P_IP))
		return ef_count(ctx, ESFC_EF_STAT_PASS);
	if (!bpf_skb_get_xfrm_state(ctx, 0, &st, sizeof(st), 0))
		return ef_decrypted(ctx, cfg, &st);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > ctx_data_end(ctx))
		return ef_count(ctx, ESFC_EF_STAT_DROP_MALFORMED);
	/* Second pass of a frame ef_to_stack() looped back (ESP to decrypt, or plaintext to encrypt). */
	if (ef_marked(ctx))
		return TC_ACT_OK;
	return ef_count(ctx, ESFC_EF_STAT_DROP_NOT_ENCRYPTED);
}

static __always_inline int esfc_ef_egress_process(struct __sk_buff *ctx)
{
	struct esfc_ef_config *cfg = ef_config();
	struct esfc_eth *eth = ctx_data(ctx);
	struct esfc_ipv4 *ip;
	struct esfc_esp *esp;
	struct esfc_ef_sa *sa;
	struct esfc_nsh *nsh;
	struct esfc_md3 *md3;
	__u32 spi;

	if (!cfg)
		return ef_count(ctx, ESFC_EF_STAT_DROP_CLEAR);
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return ef_count(ctx, ESFC_EF_STAT_DROP_MALFORMED);
	ip = (void *)(eth + 1);
	esp = (void *)(ip + 1);
	if (eth->proto != bpf_htons(ETH_P_IP) || (void *)(esp + 1) > ctx_data_end(ctx) ||
	    ip->ver_ihl != 0x45 || ip->proto != IPPROTO_ESP)
		return ef_count(ctx, ESFC_EF_STAT_DROP_CLEAR);
	spi = bpf_ntohl(esp->spi);
	sa = bpf_map_lookup_elem(&esfc_ef_sas, &spi);
	if (!sa || sa->dir != ESFC_EF_DIR_OUT)
		return ef_count(ctx, ESFC_EF_STAT_DROP_UNKNOWN_SA);

	if (ctx_resize_hdr(ctx, 0, ESFC_NSH_MD3_LEN, 0))
		return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
	eth = ctx_data(ctx);
	nsh = (void *)(eth + 1);
	md3 = (void *)(nsh + 1);
	if ((void *)(md3 + 1) > ctx_data_end(ctx))
		return ef_count(ctx, ESFC_EF_STAT_DROP_ADJUST);
	eth->proto = bpf_htons(ESFC_ETH_P_NSH);
	nsh->ver_flags_ttl_len = nsh_word0(cfg->nsh_ttl, ESFC_NSH_MD3_LEN);
	nsh->md_type = cfg->md3_type & ESFC_NSH_MDTYPE_MASK;
	nsh->next_proto = ESFC_NSH_NP_IPV4;
	nsh->spi_si = bpf_htonl((sa->spi << 8) | (sa->si & 0xff));
	md3->espi_esi = bpf_htonl((sa->espi << 8) | (sa->esi & 0xff));
	md3->e_epoch = bpf_htonl(ESFC_MD3_E_BIT | (sa->epoch & 0xffff));
	return ef_count(ctx, ESFC_EF_STAT_ENCRYPTED);
}

#endif /* ESFC_EF_H */
