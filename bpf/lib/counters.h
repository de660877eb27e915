/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
#ifndef ESFC_COUNTERS_H
#define ESFC_COUNTERS_H

#include "maps.h"

/* Per-CPU, so no atomics on the hot path; the agent sums over CPUs. */
static __always_inline void count(__u32 slot, __u32 stat, __u32 bytes)
{
	__u32 idx = slot * ESFC_STAT_MAX + stat;
	struct esfc_counter *c;

	if (slot >= ESFC_MAX_PORTS || stat >= ESFC_STAT_MAX)
		return;
	c = bpf_map_lookup_elem(&esfc_counters, &idx);
	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
}

#endif /* ESFC_COUNTERS_H */
