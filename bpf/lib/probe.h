/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Liveness probes through NSH-unaware SFs (esfc_shared.h, "Liveness probes").
 * The agent sends a probe into an SF's ingress arm; this notices it coming
 * back out of the SF, records when, and consumes it: the SF forwarded a
 * packet just now. Everything else is left to the forwarding path untouched.
 */
#ifndef ESFC_PROBE_H
#define ESFC_PROBE_H

#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include "esfc_shared.h"
#include "headers.h"
#include "maps.h"

/* Where the payload starts: the agent sends IPv4 without options, and a router keeps it so. */
#define ESFC_PROBE_OFF (ESFC_ETH_LEN + ESFC_IPV4_LEN + ESFC_UDP_LEN)

/*
 * The probe of this port's SF in a plain IPv4 frame, or NULL. The checks are
 * ordered cheapest first: almost every frame is user traffic and leaves at
 * the protocol or port test.
 */
static __always_inline const struct esfc_probe_payload *
probe_payload(void *data, void *data_end, const struct esfc_port *port)
{
	struct esfc_ipv4 *ip = data + ESFC_ETH_LEN;
	struct esfc_udp *udp = data + ESFC_ETH_LEN + ESFC_IPV4_LEN;
	const struct esfc_probe_payload *p = data + ESFC_PROBE_OFF;

	if ((void *)(p + 1) > data_end)
		return NULL;
	/* Options or fragments are not what the agent sends. */
	if (ip->ver_ihl != 0x45 || ip->proto != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff)))
		return NULL;
	if (udp->dest != bpf_htons(ESFC_PROBE_PORT))
		return NULL;
	if (p->magic_be[0] != bpf_htonl((__u32)(ESFC_PROBE_MAGIC >> 32)) ||
	    p->magic_be[1] != bpf_htonl((__u32)ESFC_PROBE_MAGIC))
		return NULL;
	/* Another SF's probe (a misrouted one, or one looped between SFs) says nothing about this SF. */
	if (p->sf_id_be != bpf_htonl(port->sf_id))
		return NULL;
	return p;
}

/*
 * A probe of this port's SF came back: record it in esfc_probe and return 1
 * (the caller drops the frame and counts ESFC_STAT_PROBE); 0 for any other
 * frame. Only NSH-unaware SF ports see probes come back.
 */
static __always_inline int probe_returned(void *data, void *data_end, const struct esfc_port *port)
{
	const struct esfc_probe_payload *p;
	struct esfc_probe_seen fresh = {}, *seen;
	__u32 sf_id = port->sf_id;

	if (port->kind != ESFC_PORT_SF_PROXY)
		return 0;
	p = probe_payload(data, data_end, port);
	if (!p)
		return 0;
	fresh.ns = bpf_ktime_get_ns();
	fresh.seq = bpf_ntohl(p->seq_be);
	seen = bpf_map_lookup_elem(&esfc_probe, &sf_id);
	if (seen) {
		/* In place: no allocation per probe. Both arms may race; the agent only needs the newest. */
		seen->ns = fresh.ns;
		seen->seq = fresh.seq;
		__sync_fetch_and_add(&seen->count, 1);
		return 1;
	}
	fresh.count = 1;
	/* A full map (more SFs than ESFC_MAX_PROBES) loses the record, not the verdict: the probe is still ours. */
	bpf_map_update_elem(&esfc_probe, &sf_id, &fresh, BPF_NOEXIST);
	return 1;
}

#endif /* ESFC_PROBE_H */
