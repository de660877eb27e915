// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Passes everything. For the far end of a veth underlay: veth delivers the
 * frames esfc's XDP sends back out of it (XDP_TX) only to a peer that has an
 * XDP program of its own (GRO on is not enough for XDP_TX). The agent's fix
 * for that case names this object:
 *   ip link set dev PEER xdp object bpf/build/esfc_xdp_pass.o program esfc_xdp_pass
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int esfc_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
