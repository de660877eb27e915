// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* TC entry (tcx or cls_bpf direct action): virtual ports and GSO super-packets. */
#include "ctx/skb.h"
#include "sff.h"

SEC("tc")
int esfc_tc(struct __sk_buff *ctx)
{
	return esfc_process(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
