/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Context layer for TC (tcx or cls_bpf, direct action). Here the kernel hands
 * over GSO super-packets; header pushes and pops go through
 * bpf_skb_adjust_room with tunnel flags so that GSO survives them.
 */
#ifndef ESFC_CTX_SKB_H
#define ESFC_CTX_SKB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.h"

#define __ctx_buff __sk_buff
#define ESFC_HOOK_TC 1

#define CTX_ACT_OK   TC_ACT_OK
#define CTX_ACT_DROP TC_ACT_SHOT

/* Not in Debian 12's uapi headers; the kernel lab's 6.1 rejects it (EINVAL). */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#endif


/* Payload shift for frames the kernel does not treat as IP: 64-byte steps. */
#define ESFC_SHIFT_CHUNK 64
#define ESFC_SHIFT_MAX_CHUNKS 160  /* 10 KB: jumbo frames and then some */

/*
 * Loads of ctx->data and ctx->data_end spelled out in asm: clang otherwise
 * may keep &ctx->data in a register across calls and dereference that, and
 * the verifier only accepts loads from the unmodified context pointer.
 */
#define ESFC_CTX_LOAD(ctx, field) ({						\
	void *__v;								\
	asm volatile("%0 = *(u32 *)(%1 + %2)"					\
		     : "=r"(__v) : "r"(ctx), "i"(__builtin_offsetof(struct __sk_buff, field)));	\
	__v;									\
})

static __always_inline void *ctx_data(const struct __sk_buff *ctx)
{
	return ESFC_CTX_LOAD(ctx, data);
}

static __always_inline void *ctx_data_end(const struct __sk_buff *ctx)
{
	return ESFC_CTX_LOAD(ctx, data_end);
}

static __always_inline __u32 ctx_ifindex(const struct __sk_buff *ctx)
{
	return ctx->ifindex;
}

static __always_inline __u32 ctx_len(const struct __sk_buff *ctx)
{
	return ctx->len;
}

static __always_inline int ctx_is_gso(const struct __sk_buff *ctx)
{
	return ctx->gso_segs > 1;
}

/*
 * Move everything from `from` to the end down by `by` bytes, then trim.
 * A global function: the verifier checks it once, not at every call site.
 */
__attribute__((noinline)) int esfc_skb_shift_down(struct __sk_buff *ctx, __u32 from, __u32 by)
{
	__u8 buf[ESFC_SHIFT_CHUNK];
	__u32 len = ctx->len;
	__u32 off = from;
	int i;

	if (!ctx || by > off || ctx_is_gso(ctx))
		return -1;
	for (i = 0; i < ESFC_SHIFT_MAX_CHUNKS; i++) {
		__u64 n;

		if (off >= len)
			break;
		n = len - off;
		if (n > ESFC_SHIFT_CHUNK)
			n = ESFC_SHIFT_CHUNK;
		/* Keep the bounds on the register the helper gets (no 32-bit copy). */
		asm volatile("" : "+r"(n));
		if (n < 1 || n > ESFC_SHIFT_CHUNK)
			return -1;
		/*
		 * A no-op for n in [1, 64] that spells the lower bound out: the 6.1
		 * verifier does not learn n >= 1 from the check above and refuses a
		 * possibly zero-sized load.
		 */
		n = ((n - 1) & (ESFC_SHIFT_CHUNK - 1)) + 1;
		if (bpf_skb_load_bytes(ctx, off, buf, n) ||
		    bpf_skb_store_bytes(ctx, off - by, buf, n, 0))
			return -1;
		off += n;
	}
	if (off < len)
		return -1;
	return bpf_skb_change_tail(ctx, len - by, 0);
}

/*
 * Make the headers in front of the payload new_len bytes long instead of
 * old_len (both counted after the Ethernet header). The payload keeps its
 * content; bytes [0, ETH + new_len) are the caller's to rewrite afterwards.
 */
static __always_inline int ctx_resize_hdr(struct __sk_buff *ctx, __u32 old_len,
					  __u32 new_len, __u32 how)
{
	int delta = (int)new_len - (int)old_len;

	if (!delta)
		return 0;
	if (ctx->protocol != bpf_htons(ETH_P_IP) && ctx->protocol != bpf_htons(ETH_P_IPV6)) {
		/* adjust_room only works on skbs the kernel parsed as IP. */
		if (delta > 0)
			return bpf_skb_change_head(ctx, delta, 0);
		return esfc_skb_shift_down(ctx, ETH_HLEN + old_len, -delta);
	}
	if ((how & ESFC_RESIZE_ENCAP_UDP) &&
	    !bpf_skb_adjust_room(ctx, delta, BPF_ADJ_ROOM_MAC,
				 BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
				 BPF_F_ADJ_ROOM_ENCAP_L2(how & ESFC_RESIZE_L2_MASK)))
		return 0;
	/*
	 * A packet decapsulated by esfc earlier keeps skb->encapsulation (no
	 * helper clears it) and the encap flags then fail with -EALREADY. Its
	 * inner header offsets survived the pop and describe the same layout
	 * after a push of the same size, so a plain push keeps GSO consistent.
	 */
	if ((how & ESFC_RESIZE_DECAP_UDP) &&
	    !bpf_skb_adjust_room(ctx, delta, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_DECAP_L3_IPV4))
		return 0;
	/* Before 6.3 there is no decap flag; the pop still keeps TCP working. */
	return bpf_skb_adjust_room(ctx, delta, BPF_ADJ_ROOM_MAC, 0);
}

/*
 * len more bytes in front of the frame; bytes [0, len) are the caller's to
 * write. adjust_room cannot push in front of the MAC header; change_head can
 * (and keeps GSO: the offsets of the headers behind move with the data).
 */
static __always_inline int ctx_push_front(struct __sk_buff *ctx, __u32 len)
{
	return bpf_skb_change_head(ctx, len, 0);
}

/*
 * Remove the first len bytes. The frames this pops (slow-path frames,
 * EtherType 0x88B5) are ones the kernel did not parse as IP, and adjust_room
 * refuses those (-ENOTSUPP on 6.1 and 6.18): the rest of the frame is copied
 * down instead, which refuses GSO skbs and frames over ESFC_SHIFT_MAX_CHUNKS
 * chunks (10 KB).
 */
static __always_inline int ctx_pop_front(struct __sk_buff *ctx, __u32 len)
{
	return esfc_skb_shift_down(ctx, len, len);
}

static __always_inline int ctx_redirect(struct __sk_buff *ctx, __u32 ifindex,
					__u32 nh_flags)
{
	struct ethhdr *eth = ctx_data(ctx);

	if (!(nh_flags & 0x1 /* ESFC_NH_F_PEER */))
		return bpf_redirect(ifindex, 0);
	/*
	 * Straight into a veth peer's ingress saves a trip through the backlog,
	 * but nothing re-reads the Ethernet header there. A frame whose skb the
	 * kernel parsed as something else (IPv4 that arrived as NSH through a veth
	 * transmit, an Ethernet payload delivered at the end of a chain) would
	 * reach the endpoint's stack with the wrong protocol and vanish; it goes
	 * through the veth's transmit instead, which re-parses it. NSH frames
	 * keep the IP protocol on purpose: the next esfc hook can then pop
	 * headers with adjust_room, which keeps GSO and checksum offload.
	 */
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return bpf_redirect(ifindex, 0);
	if (eth->h_proto != ctx->protocol && eth->h_proto != bpf_htons(0x894F /* ESFC_ETH_P_NSH */))
		return bpf_redirect(ifindex, 0);
	return bpf_redirect_peer(ifindex, 0);
}

#endif /* ESFC_CTX_SKB_H */
