// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* EF glue entries: TC ingress and egress on an encryption function's interface. */
#include "ctx/skb.h"
#include "ef.h"

SEC("tc")
int esfc_ef_ingress(struct __sk_buff *ctx)
{
	return esfc_ef_ingress_process(ctx);
}

SEC("tc")
int esfc_ef_egress(struct __sk_buff *ctx)
{
	return esfc_ef_egress_process(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
