// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Programs for `esfc bench fastpath` only (not part of the datapath):
 * a traffic generator for BPF_PROG_RUN live frames, a counting sink, and the
 * bare XDP forwarder that is the ceiling esfc is compared with.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_FRAME_LEN 128

struct bench_frame {
	__u8 bytes[BENCH_FRAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_frame);
} bench_template SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_count SEC(".maps");

/* Live frames are recycled with whatever the receiver wrote: rewrite every run. */
SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct bench_frame *t = bpf_map_lookup_elem(&bench_template, &zero);

	if (!t || data + BENCH_FRAME_LEN > data_end)
		return XDP_DROP;
	__builtin_memcpy(data, t->bytes, BENCH_FRAME_LEN);
	return XDP_TX;
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_count, &zero);

	if (n)
		(*n)++;
	return XDP_DROP;
}

/* The ceiling: swap MACs and send the frame back where it came from. */
SEC("xdp")
int bench_bare_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *eth = data;
	__u8 tmp[6];

	if (data + 14 > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth, 6);
	__builtin_memcpy(eth, eth + 6, 6);
	__builtin_memcpy(eth + 6, tmp, 6);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
