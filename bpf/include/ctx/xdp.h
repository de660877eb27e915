/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Context layer for XDP. An entry file includes exactly one ctx/ header before
 * lib/; the forwarding core only uses what is defined here and never names
 * struct xdp_md.
 */
#ifndef ESFC_CTX_XDP_H
#define ESFC_CTX_XDP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "common.h"

#define __ctx_buff xdp_md
#define ESFC_HOOK_XDP 1

#define CTX_ACT_OK   XDP_PASS
#define CTX_ACT_DROP XDP_DROP

/*
 * Loads of ctx->data and ctx->data_end spelled out in asm: clang otherwise
 * may keep &ctx->data in a register across calls and dereference that, and
 * the verifier only accepts loads from the unmodified context pointer.
 */
#define ESFC_CTX_LOAD(ctx, field) ({						\
	void *__v;								\
	asm volatile("%0 = *(u32 *)(%1 + %2)"					\
		     : "=r"(__v) : "r"(ctx), "i"(__builtin_offsetof(struct xdp_md, field)));	\
	__v;									\
})

static __always_inline void *ctx_data(const struct xdp_md *ctx)
{
	return ESFC_CTX_LOAD(ctx, data);
}

static __always_inline void *ctx_data_end(const struct xdp_md *ctx)
{
	return ESFC_CTX_LOAD(ctx, data_end);
}

static __always_inline __u32 ctx_ifindex(const struct xdp_md *ctx)
{
	return ctx->ingress_ifindex;
}

/* A helper, because the verifier forbids arithmetic on the packet end pointer. */
static __always_inline __u32 ctx_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx);
}

/* XDP frames are never GSO: every frame is checked against the egress MTU. */
static __always_inline int ctx_is_gso(const struct xdp_md *ctx)
{
	return 0;
}

/*
 * Make the headers in front of the payload new_len bytes long instead of
 * old_len (both counted after the Ethernet header). The payload does not move;
 * bytes [0, ETH + new_len) are the caller's to rewrite afterwards.
 */
static __always_inline int ctx_resize_hdr(struct xdp_md *ctx, __u32 old_len,
					  __u32 new_len, __u32 how)
{
	int delta = (int)new_len - (int)old_len;

	if (!delta)
		return 0;
	return bpf_xdp_adjust_head(ctx, -delta);
}

/* len more bytes in front of the frame; bytes [0, len) are the caller's to write. */
static __always_inline int ctx_push_front(struct xdp_md *ctx, __u32 len)
{
	return bpf_xdp_adjust_head(ctx, -(int)len);
}

/* Remove the first len bytes (the kernel keeps at least an Ethernet header). */
static __always_inline int ctx_pop_front(struct xdp_md *ctx, __u32 len)
{
	return bpf_xdp_adjust_head(ctx, (int)len);
}

static __always_inline int ctx_redirect(struct xdp_md *ctx, __u32 ifindex,
					__u32 nh_flags)
{
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}

#endif /* ESFC_CTX_XDP_H */
