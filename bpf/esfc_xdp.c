// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* XDP entry: frames as they arrive from the wire (underlay NICs). */
#include "ctx/xdp.h"
#include "sff.h"

SEC("xdp")
int esfc_xdp(struct xdp_md *ctx)
{
	return esfc_process(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
