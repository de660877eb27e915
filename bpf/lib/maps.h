/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Map definitions, safe to include from any entry file. Every map is pinned by
 * name under the agent's pin root, so the XDP and TC objects share them and a
 * restarted agent adopts them.
 */
#ifndef ESFC_MAPS_H
#define ESFC_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "esfc_shared.h"

/* Which generation of the tables below is in force (esfc_shared.h, "Generations"). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct esfc_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_state SEC(".maps");

/* Index gen * ESFC_MAX_IFINDEX + ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct esfc_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ports SEC(".maps");

/* Ports with ifindex >= ESFC_MAX_IFINDEX. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_BIG_PORTS);
	__type(key, struct esfc_port_key);
	__type(value, struct esfc_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_ports_big SEC(".maps");

/* SF layer: (SPI, SI) -> next hop. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_PATHS);
	__type(key, struct esfc_path_key);
	__type(value, struct esfc_next_hop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_inner SEC(".maps");

/* EF layer: (E-SPI, E-SI) -> next hop, used for MD type 3 packets only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_PATHS);
	__type(key, struct esfc_path_key);
	__type(value, struct esfc_next_hop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_outer SEC(".maps");

/* Invariant 3: (ingress port, SPI, SI) a function may emit. Value unused (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_SRC_ENTRIES);
	__type(key, struct esfc_src_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_sources SEC(".maps");

/* The underlay's counterpart: (peer address, SPI, SI) a peer node may send. Value unused (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_PEER_SRC_ENTRIES);
	__type(key, struct esfc_peer_src_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_peer_sources SEC(".maps");

/* Index gen * ESFC_MAX_CLASS_RULES + priority. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ESFC_GENERATIONS * ESFC_MAX_CLASS_RULES);
	__type(key, __u32);
	__type(value, struct esfc_class_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_classifier SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ESFC_MAX_PROXY_FLOWS);
	__type(key, struct esfc_flow_key);
	__type(value, struct esfc_proxy_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_proxy_flows SEC(".maps");

/*
 * Liveness probes (esfc_shared.h): sf_id -> the last one seen back. Not
 * generation-switched: it is an observation written by the datapath, read by
 * the agent, not configuration.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESFC_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct esfc_probe_seen);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_probe SEC(".maps");

/* Index = generation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ESFC_GENERATIONS);
	__type(key, __u32);
	__type(value, struct esfc_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ESFC_MAX_PORTS * ESFC_STAT_MAX);
	__type(key, __u32);
	__type(value, struct esfc_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esfc_counters SEC(".maps");

/*
 * Not used by the programs. The kernel waits for every running BPF program to
 * finish (synchronize_rcu) when userspace updates a map-of-maps; the agent
 * writes esfc_barrier after switching generations, so that once the write
 * returns no packet is still being processed with the old generation and its
 * tables may be rewritten.
 */
struct esfc_barrier_slot {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

/* Each object gets its own (a map-in-map's inner map cannot be pinned); any will do. */
struct esfc_barrier_slot esfc_barrier_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct esfc_barrier_slot);
} esfc_barrier SEC(".maps") = {
	.values = { &esfc_barrier_inner },
};

/*
 * Never called: its signature makes clang emit the shared enums into BTF,
 * where the agent reads counter names and kinds (named once, in C).
 */
__attribute__((noinline, used)) int esfc_btf_enums(enum esfc_stat s, enum esfc_port_kind p,
						   enum esfc_nh_kind n)
{
	return s + p + n;
}

#endif /* ESFC_MAPS_H */
