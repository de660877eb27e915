/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esfc's SFF as a P4_16 program for BMv2 (v1model): the slow path behind the
 * eBPF core's punt port, and the whole SFF of a node on the `p4` hook.
 *
 * It makes the decisions of bpf/lib/sff.h in the same order, with the same
 * tables (P4Runtime tables instead of BPF maps, filled from the same compile
 * of the node's state) and counts every packet under the same stat numbers.
 * Where the eBPF core punts, this program finishes the job: MD type 2 with
 * any number of TLVs, unknown MD types (metadata carried as opaque words) and
 * OAM packets (forwarded on their path, O bit kept, RFC 8300 2.2).
 *
 * A frame comes in either on a port the agent maps to an esfc port (the `p4`
 * hook), or on the punt port behind the slow-path header, which names the
 * esfc port it arrived on; frames leave the same way (esfc_tx).
 */
#include <core.p4>
#include <v1model.p4>

#include "headers.p4"
#include "stats.p4"
#include "parser.p4"

const bit<48> SLOW_PATH_MAC = 0x02e5fc000000;
#define PROXY_SLOTS 65536

control EsfcVerify(inout headers_t hdr, inout meta_t meta) {
    apply { }
}

control EsfcIngress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {

    counter(MAX_PORTS * STAT_MAX, CounterType.packets_and_bytes) esfc_counters;

    /* SF proxy state (bpf/lib/proxy.h), hashed: a marker byte then the flow key, and what to restore. */
    register<bit<144>>(PROXY_SLOTS) proxy_keys;
    register<bit<192>>(PROXY_SLOTS) proxy_state;

    bit<32> ifindex_in = 0;
    bit<8>  has_port = 0;
    bit<8>  has_config = 0;
    bit<8>  has_nh = 0;
    bit<8>  has_source = 0;
    bit<8>  has_peer = 0;
    bit<8>  tx_kind = 0;
    bit<9>  tx_egress = 0;

    action drop_frame() {
        mark_to_drop(sm);
    }

    action stop(bit<8> stat) {
        meta.stat = stat;
        meta.done = 1;
        meta.count_it = 1;
        mark_to_drop(sm);
    }

    /* Not ours: the eBPF core hands it to the stack; here the stack has its own copy. */
    action pass_frame() {
        meta.stat = STAT_PASS;
        meta.done = 1;
        meta.count_it = 1;
        mark_to_drop(sm);
    }

    /* --- where the frame came from --- */

    action rx_port(bit<32> ifindex) {
        ifindex_in = ifindex;
    }

    action rx_punt() {
        meta.rx_punt = 1;
    }

    table esfc_rx {
        key = { sm.ingress_port : exact @name("port"); }
        actions = { rx_port; rx_punt; drop_frame; }
        default_action = drop_frame();
        size = 512;
    }

    action set_gen(bit<8> active, bit<64> generation) {
        meta.gen = active;
    }

    table esfc_state {
        actions = { set_gen; }
        default_action = set_gen(0, 0);
    }

    action set_config(bit<8> md3_type, bit<8> default_ttl) {
        has_config = 1;
        meta.md3_type = md3_type;
        meta.default_ttl = default_ttl;
    }

    table esfc_config {
        key = { meta.gen : exact @name("gen"); }
        actions = { set_config; NoAction; }
        default_action = NoAction();
        size = 2;
    }

    action set_port(bit<8> kind, bit<8> slot, bit<32> sf_id, bit<32> flags, bit<32> mtu,
                    bit<32> underlay_ip, bit<48> mac) {
        has_port = 1;
        meta.kind = kind;
        meta.slot = slot;
        meta.sf_id = sf_id;
        meta.port_flags = flags;
        meta.local_ip = underlay_ip;
    }

    table esfc_ports {
        key = {
            meta.gen : exact @name("gen");
            meta.in_ifindex : exact @name("ifindex");
        }
        actions = { set_port; NoAction; }
        default_action = NoAction();
        size = 2048;
    }

    /* --- forwarding tables --- */

    action set_next_hop(bit<8> kind, bit<32> ifindex, bit<32> flags, bit<32> mtu,
                        bit<32> saddr, bit<32> daddr, bit<48> smac, bit<48> dmac, bit<32> sf_id,
                        bit<32> from0, bit<32> from1, bit<32> from2, bit<32> from3) {
        has_nh = 1;
        meta.nh_kind = kind;
        meta.nh_ifindex = ifindex;
        meta.nh_flags = flags;
        meta.nh_mtu = mtu;
        meta.nh_saddr = saddr;
        meta.nh_daddr = daddr;
        meta.nh_smac = smac;
        meta.nh_dmac = dmac;
        meta.nh_sf_id = sf_id;
        meta.nh_from0 = from0;
        meta.nh_from1 = from1;
        meta.nh_from2 = from2;
        meta.nh_from3 = from3;
    }

    /* SF layer: (SPI, SI) of the NSH header. */
    table esfc_inner {
        key = {
            meta.gen : exact @name("gen");
            meta.spi : exact @name("spi");
            meta.si  : exact @name("si");
        }
        actions = { set_next_hop; NoAction; }
        default_action = NoAction();
        size = 32768;
    }

    /* EF layer: (E-SPI, E-SI) of MD type 3. */
    table esfc_outer {
        key = {
            meta.gen  : exact @name("gen");
            meta.espi : exact @name("spi");
            meta.esi  : exact @name("si");
        }
        actions = { set_next_hop; NoAction; }
        default_action = NoAction();
        size = 32768;
    }

    action source_hit() {
        has_source = 1;
    }

    /* Invariant 3: the positions each port may hand over (spi carries SRC_EF_LAYER for E-SPIs). */
    table esfc_sources {
        key = {
            meta.gen       : exact @name("gen");
            meta.in_ifindex : exact @name("ifindex");
            meta.src_spi   : exact @name("spi");
            meta.src_si    : exact @name("si");
        }
        actions = { source_hit; NoAction; }
        default_action = NoAction();
        size = 32768;
    }

    action peer_hit() {
        has_peer = 1;
    }

    /* Underlay senders of positions with more of them than a next hop holds. */
    table esfc_peer_sources {
        key = {
            meta.gen         : exact @name("gen");
            meta.outer_saddr : exact @name("saddr");
            meta.src_spi     : exact @name("spi");
            meta.src_si      : exact @name("si");
        }
        actions = { peer_hit; NoAction; }
        default_action = NoAction();
        size = 32768;
    }

    action classify(bit<24> spi) {
        meta.class_spi = spi;
        meta.class_uses_ports = 1;
        meta.event = 1;
    }

    action classify_l3(bit<24> spi, bit<1> uses_ports) {
        meta.class_spi = spi;
        meta.class_uses_ports = uses_ports;
        meta.event = 1;
    }

    /* Rules in the agent's order (priority); the first that matches decides. */
    table esfc_classifier {
        key = {
            meta.gen        : exact @name("gen");
            meta.in_ifindex : ternary @name("in_ifindex");
            meta.f_saddr    : ternary @name("saddr");
            meta.f_daddr    : ternary @name("daddr");
            meta.f_proto    : ternary @name("proto");
            meta.f_sport    : range @name("sport");
            meta.f_dport    : range @name("dport");
        }
        actions = { classify; NoAction; }
        default_action = NoAction();
        size = 128;
    }

    /* The same rules without ports, for fragments (docs/protocol.md "Fragments"). */
    table esfc_classifier_l3 {
        key = {
            meta.gen        : exact @name("gen");
            meta.in_ifindex : ternary @name("in_ifindex");
            meta.f_saddr    : ternary @name("saddr");
            meta.f_daddr    : ternary @name("daddr");
            meta.f_proto    : ternary @name("proto");
        }
        actions = { classify_l3; NoAction; }
        default_action = NoAction();
        size = 128;
    }

    /* --- where the frame leaves --- */

    action tx_port(bit<9> port) {
        tx_kind = 1;
        tx_egress = port;
    }

    action tx_punt(bit<9> port) {
        tx_kind = 2;
        tx_egress = port;
    }

    table esfc_tx {
        key = { meta.out_ifindex : exact @name("ifindex"); }
        actions = { tx_port; tx_punt; NoAction; }
        default_action = NoAction();
        size = 512;
    }

    /* --- helpers over meta --- */

    /* parse_flow() on the frame's own IPv4 header (classifier, proxy return). */
    action flow_from_frame() {
        meta.f_valid = 1;
        meta.f_saddr = hdr.ipv4.saddr;
        meta.f_daddr = hdr.ipv4.daddr;
        meta.f_proto = hdr.ipv4.proto;
        meta.f_tos = hdr.ipv4.tos;
        meta.f_frag = (bit<1>)((hdr.ipv4.frag_off & 0x3fff) != 0);
    }

    /* parse_flow() on the IPv4 packet after NSH. */
    action flow_from_inner() {
        meta.f_valid = 1;
        meta.f_saddr = hdr.inner_ipv4.saddr;
        meta.f_daddr = hdr.inner_ipv4.daddr;
        meta.f_proto = hdr.inner_ipv4.proto;
        meta.f_tos = hdr.inner_ipv4.tos;
        meta.f_frag = (bit<1>)((hdr.inner_ipv4.frag_off & 0x3fff) != 0);
    }

    apply {
        bit<32> old_len = 0;
        bit<32> new_len = 0;
        bit<1>  keep_nsh = 0;
        bit<1>  deliver_eth = 0;
        bit<16> sport = 0;
        bit<32> l3_len = 0;
        bit<32> proxy_idx = 0;
        bit<144> proxy_key = 0;
        bit<144> stored_key = 0;
        bit<192> stored = 0;

        if (!esfc_rx.apply().hit)
            return;     /* a BMv2 port the agent did not map */
        if (meta.rx_punt == 1) {
            if (!hdr.sp.isValid()) {
                mark_to_drop(sm);
                return;
            }
            ifindex_in = hdr.sp.ifindex;
            meta.len = sm.packet_length - 18;
        } else {
            meta.len = sm.packet_length;
        }
        meta.in_ifindex = ifindex_in;

        esfc_state.apply();
        esfc_ports.apply();
        esfc_config.apply();
        if (has_port == 0 || meta.kind == 0 || has_config == 0) {
            mark_to_drop(sm);   /* as the eBPF core: not an esfc port, not counted */
            return;
        }
        if (!hdr.eth.isValid()) {
            stop(STAT_DROP_MALFORMED);
        }

        /* ---- what kind of packet for this port: NSH, or plain IPv4 with a path position ---- */
        if (meta.done == 0) {
            if (meta.kind == PORT_UNDERLAY) {
                /* parse_underlay(): only Ethernet/IPv4/UDP 4790/VXLAN-GPE addressed to this node. */
                if (hdr.eth.proto != ETH_P_IPV4 || !hdr.ipv4.isValid()) {
                    pass_frame();
                } else if (hdr.ipv4.version != 4 || hdr.ipv4.ihl != 5 || hdr.ipv4.proto != 17 ||
                           hdr.ipv4.daddr != meta.local_ip || (hdr.ipv4.frag_off & 0x3fff) != 0) {
                    pass_frame();
                } else if (!hdr.udp.isValid()) {
                    stop(STAT_DROP_MALFORMED);
                } else if (hdr.l4.dport != VXLAN_GPE_PORT) {
                    pass_frame();
                } else if (!hdr.gpe.isValid()) {
                    stop(STAT_DROP_MALFORMED);
                } else if (hdr.gpe.ver != 0 || hdr.gpe.p != 1) {
                    stop(STAT_DROP_GPE);
                } else if (hdr.gpe.next_proto != GPE_NP_NSH) {
                    stop(STAT_DROP_NEXT_PROTO);
                } else {
                    meta.outer_len = UNDERLAY_OVERHEAD;
                    meta.outer_saddr = hdr.ipv4.saddr;
                    meta.outer_sport = hdr.l4.sport;
                    meta.outer_tos = hdr.ipv4.tos;
                    meta.have_nsh = 1;
                }
            } else if (meta.kind == PORT_SF || meta.kind == PORT_EF || meta.kind == PORT_SF_PROXY) {
                if (hdr.eth.proto == ETH_P_NSH) {
                    meta.have_nsh = 1;
                } else if (meta.kind != PORT_SF_PROXY || hdr.eth.proto != ETH_P_IPV4) {
                    pass_frame();
                } else if (hdr.probe.isValid() && hdr.ipv4.version == 4 && hdr.ipv4.ihl == 5 &&
                           hdr.probe.magic == PROBE_MAGIC && hdr.probe.sf_id == meta.sf_id) {
                    /* The agent's liveness probe has no path position to restore: it ends here. */
                    stop(STAT_PROBE);
                } else if (!hdr.ipv4.isValid() || hdr.ipv4.version != 4) {
                    stop(STAT_DROP_MALFORMED);
                } else {
                    /* proxy_restore(): the SF handed back a flow; find what it had on the way in. */
                    flow_from_frame();
                    if (meta.f_frag == 0 && hdr.l4.isValid()) {
                        meta.f_sport = hdr.l4.sport;
                        meta.f_dport = hdr.l4.dport;
                    }
                    proxy_key = 8w1 ++ meta.sf_id ++ meta.f_saddr ++ meta.f_daddr ++
                                meta.f_sport ++ meta.f_dport ++ meta.f_proto;
                    hash(proxy_idx, HashAlgorithm.crc32, 32w0, { proxy_key }, 32w65536);
                    proxy_keys.read(stored_key, proxy_idx);
                    if (stored_key != proxy_key && (meta.f_sport != 0 || meta.f_dport != 0)) {
                        /* Sent as fragments (recorded without ports), handed back reassembled. */
                        proxy_key = 8w1 ++ meta.sf_id ++ meta.f_saddr ++ meta.f_daddr ++
                                    16w0 ++ 16w0 ++ meta.f_proto;
                        hash(proxy_idx, HashAlgorithm.crc32, 32w0, { proxy_key }, 32w65536);
                        proxy_keys.read(stored_key, proxy_idx);
                    }
                    proxy_state.read(stored, proxy_idx);
                    if (stored_key != proxy_key || stored[167:160] == 0) {
                        stop(STAT_DROP_PROXY_STATE);
                    } else {
                        meta.spi = stored[191:168];
                        meta.si = stored[167:160] - 1;
                        meta.ttl = stored[159:152];
                        meta.md_type = stored[147:144];
                        meta.o = stored[141:141];
                        meta.u = stored[140:140];
                        meta.md_bits = stored[131:128];
                        meta.context = stored[127:0];
                        meta.nsh_len = meta.md_type == MD1 ? 32w24 : 32w8;
                        meta.next_proto = NP_IPV4;
                        meta.event = 2;
                    }
                }
            } else if (meta.kind == PORT_CLASSIFY) {
                if (hdr.eth.proto != ETH_P_IPV4 || !hdr.ipv4.isValid() || hdr.ipv4.version != 4) {
                    pass_frame();
                } else {
                    flow_from_frame();
                    if (meta.f_frag == 0 && hdr.l4.isValid()) {
                        meta.f_sport = hdr.l4.sport;
                        meta.f_dport = hdr.l4.dport;
                    }
                    if (meta.f_frag == 1) {
                        esfc_classifier_l3.apply();
                    } else {
                        esfc_classifier.apply();
                    }
                    if (meta.event == 0) {
                        pass_frame();
                    } else if (meta.f_frag == 1 && meta.class_uses_ports == 1) {
                        meta.event = 0;
                        stop(STAT_DROP_FRAGMENT);
                    } else {
                        meta.spi = meta.class_spi;
                        meta.si = 255;
                        meta.ttl = meta.default_ttl;
                        meta.md_type = MD1;
                        meta.nsh_len = 24;
                        meta.next_proto = NP_IPV4;
                    }
                }
            } else {
                pass_frame();
            }
        }

        /* ---- parse_nsh(): RFC 8300 validity, in the eBPF core's order ---- */
        if (meta.done == 0 && meta.have_nsh == 1) {
            if (!hdr.nsh.isValid()) {
                stop(STAT_DROP_MALFORMED);
            } else if (hdr.nsh.ver != 0) {
                stop(STAT_DROP_NSH_VERSION);
            } else if (hdr.nsh.md_type == 0) {
                stop(STAT_DROP_MD_TYPE0);
            } else if (hdr.nsh.len < 2) {
                stop(STAT_DROP_NSH_LENGTH);
            } else if (hdr.nsh.md_type == MD1 && hdr.nsh.len != 6) {
                stop(STAT_DROP_NSH_LENGTH);
            } else if (hdr.nsh.md_type != MD1 && hdr.nsh.md_type != MD2 &&
                       (bit<8>)hdr.nsh.md_type == meta.md3_type && hdr.nsh.len != 4) {
                stop(STAT_DROP_NSH_LENGTH);
            } else if (meta.md_overrun == 1 || meta.trunc == TRUNC_MD) {
                stop(STAT_DROP_NSH_LENGTH);
            } else if (hdr.nsh.next_proto != NP_IPV4 && hdr.nsh.next_proto != NP_IPV6 &&
                       hdr.nsh.next_proto != NP_ETH) {
                stop(STAT_DROP_NEXT_PROTO);
            } else {
                meta.o = hdr.nsh.o;
                meta.u = hdr.nsh.u;
                meta.ttl = (bit<8>)hdr.nsh.ttl;
                meta.md_bits = hdr.nsh.md_bits;
                meta.md_type = hdr.nsh.md_type;
                meta.next_proto = hdr.nsh.next_proto;
                meta.nsh_len = (bit<32>)hdr.nsh.len * 4;
                meta.spi = hdr.nsh.spi;
                meta.si = hdr.nsh.si;
                if (hdr.nsh.md_type == MD1) {
                    meta.context = hdr.md[0].w ++ hdr.md[1].w ++ hdr.md[2].w ++ hdr.md[3].w;
                }
                if (hdr.nsh.md_type != MD1 && hdr.nsh.md_type != MD2 &&
                    (bit<8>)hdr.nsh.md_type == meta.md3_type) {
                    meta.espi = hdr.md[0].w[31:8];
                    meta.esi = hdr.md[0].w[7:0];
                    meta.e_bit = hdr.md[1].w[31:31];
                    meta.ef_layer = 1;
                }
                /* OAM: the slow path forwards it on its path like any packet (RFC 8300 2.2). */
            }
        }

        /* ---- source validation (invariant 3) and RFC 8300 TTL/SI rules ---- */
        if (meta.done == 0 && meta.ef_layer == 1) {
            if (meta.kind != PORT_UNDERLAY && meta.kind != PORT_EF) {
                stop(STAT_DROP_LAYER);
            }
            meta.src_spi = SRC_EF_LAYER | (bit<32>)meta.espi;
            meta.src_si = meta.esi;
        } else {
            meta.src_spi = (bit<32>)meta.spi;
            meta.src_si = meta.si;
        }
        /* Plain packets need no check: the classifier or the proxy state gave the position. */
        if (meta.done == 0 && meta.have_nsh == 1 && meta.kind != PORT_UNDERLAY) {
            esfc_sources.apply();
            if (has_source == 0)
                stop(STAT_DROP_SOURCE);
        }
        if (meta.done == 0) {
            /* Decrement before the lookup; an incoming 0 becomes 63 (6 bits). */
            meta.ttl = (meta.ttl - 1) & 0x3f;
            if (meta.ttl == 0) {
                stop(STAT_DROP_TTL);
            } else if (meta.ef_layer == 0 && meta.si == 0) {
                stop(STAT_DROP_SI_ZERO);
            }
        }
        if (meta.done == 0) {
            if (meta.ef_layer == 1) {
                esfc_outer.apply();
            } else {
                esfc_inner.apply();
            }
            if (has_nh == 0)
                stop(STAT_DROP_NO_PATH);
        }
        if (meta.done == 0 && meta.kind == PORT_UNDERLAY) {
            /* peer_ok(): only a node assigned to send this position may, over the underlay. */
            if ((meta.nh_from0 != 0 && meta.nh_from0 == meta.outer_saddr) ||
                (meta.nh_from1 != 0 && meta.nh_from1 == meta.outer_saddr) ||
                (meta.nh_from2 != 0 && meta.nh_from2 == meta.outer_saddr) ||
                (meta.nh_from3 != 0 && meta.nh_from3 == meta.outer_saddr)) {
                has_peer = 1;
            } else if ((meta.nh_flags & NH_F_FROM_MAP) != 0) {
                esfc_peer_sources.apply();
            }
            if (has_peer == 0)
                stop(STAT_DROP_PEER_SOURCE);
        }
        if (meta.done == 0) {
            if (meta.ef_layer == 0) {
                /* Plaintext bound for an EF came over the underlay: the EF is misplaced. */
                if ((meta.nh_flags & NH_F_EF) != 0 && meta.kind == PORT_UNDERLAY)
                    stop(STAT_DROP_LAYER);
            } else if (meta.nh_kind == NH_REMOTE && meta.e_bit == 0) {
                stop(STAT_DROP_CLEAR_ON_UNDERLAY);
            } else if (meta.nh_kind != NH_REMOTE &&
                       !(meta.nh_kind == NH_LOCAL && (meta.nh_flags & NH_F_EF) != 0)) {
                stop(STAT_DROP_LAYER);
            }
        }

        /* ---- the inner 5-tuple, for the proxy state or fresh UDP entropy ---- */
        if (meta.done == 0 && meta.have_nsh == 1 && meta.ef_layer == 0 &&
            meta.next_proto == NP_IPV4 &&
            (meta.nh_kind == NH_PROXY || (meta.nh_kind == NH_REMOTE && meta.outer_len == 0)) &&
            hdr.inner_ipv4.isValid() && hdr.inner_ipv4.version == 4) {
            flow_from_inner();
            if (meta.f_frag == 0 && hdr.inner_l4.isValid()) {
                meta.f_sport = hdr.inner_l4.sport;
                meta.f_dport = hdr.inner_l4.dport;
            }
        }
        if (meta.done == 0 && meta.nh_kind == NH_PROXY) {
            /* proxy_remember(): only IPv4 can be proxied. */
            if (meta.f_valid == 0 || meta.next_proto != NP_IPV4) {
                stop(STAT_DROP_PROXY_STATE);
            } else {
                proxy_key = 8w1 ++ meta.nh_sf_id ++ meta.f_saddr ++ meta.f_daddr ++
                            meta.f_sport ++ meta.f_dport ++ meta.f_proto;
                hash(proxy_idx, HashAlgorithm.crc32, 32w0, { proxy_key }, 32w65536);
                proxy_keys.write(proxy_idx, proxy_key);
                proxy_state.write(proxy_idx, meta.spi ++ meta.si ++ meta.ttl ++
                                  4w0 ++ (meta.md_type == MD1 ? MD1 : MD2) ++
                                  2w0 ++ meta.o ++ meta.u ++ 4w0 ++ 4w0 ++ meta.md_bits ++
                                  meta.context);
            }
        }

        /* ---- send_to(): rewrite for the next hop ---- */
        if (meta.done == 0) {
            keep_nsh = (bit<1>)(meta.nh_kind == NH_LOCAL || meta.nh_kind == NH_REMOTE);
            deliver_eth = (bit<1>)(meta.have_nsh == 1 && keep_nsh == 0 && meta.next_proto == NP_ETH);
            if (deliver_eth == 1 && !hdr.inner_eth.isValid())
                stop(STAT_DROP_MALFORMED);
        }
        if (meta.done == 0) {
            old_len = meta.outer_len;
            if (meta.have_nsh == 1 && keep_nsh == 0)
                old_len = old_len + meta.nsh_len;
            if (deliver_eth == 1)
                old_len = old_len + 14;
            if (meta.nh_kind == NH_REMOTE) {
                new_len = UNDERLAY_OVERHEAD;
                if (meta.outer_len != 0) {
                    /* Transit keeps the entropy the first node derived from the inner flow. */
                    sport = meta.outer_sport;
                } else {
                    /* flow_src_port() (docs/protocol.md "Flow entropy"): a murmur3 finalizer. */
                    bit<32> h = (bit<32>)meta.spi;
                    if (meta.f_valid == 1)
                        h = meta.f_saddr ^ meta.f_daddr ^ (meta.f_sport ++ meta.f_dport) ^
                            (bit<32>)meta.f_proto;
                    h = h ^ (h >> 16);
                    h = h * 0x7feb352d;
                    h = h ^ (h >> 15);
                    h = h * 0x846ca68b;
                    h = h ^ (h >> 16);
                    sport = 49152 | (h[15:0] & 0x3fff);
                }
            }
            if (meta.have_nsh == 0 && keep_nsh == 1)
                new_len = new_len + meta.nsh_len;
            /* Encapsulation overhead counts against the egress MTU. */
            if (meta.nh_mtu != 0 && meta.len - 14 + new_len - old_len > meta.nh_mtu)
                stop(STAT_DROP_MTU);
        }
        if (meta.done == 0) {
            if (keep_nsh == 1 && meta.have_nsh == 1) {
                hdr.nsh.ttl = meta.ttl[5:0];
            }
            if (meta.outer_len != 0 && meta.nh_kind != NH_REMOTE) {
                hdr.ipv4.setInvalid();
                hdr.l4.setInvalid();
                hdr.udp.setInvalid();
                hdr.gpe.setInvalid();
            }
            if (meta.have_nsh == 1 && keep_nsh == 0) {
                hdr.nsh.setInvalid();
                hdr.md.pop_front(MD_WORDS);
            }
            if (deliver_eth == 1) {
                /* An Ethernet payload is delivered as the frame it is: its own header replaces ours. */
                hdr.eth = hdr.inner_eth;
                hdr.inner_eth.setInvalid();
            } else {
                hdr.eth.dst = meta.nh_dmac;
                hdr.eth.src = meta.nh_smac;
                if (keep_nsh == 1) {
                    hdr.eth.proto = meta.nh_kind == NH_REMOTE ? ETH_P_IPV4 : ETH_P_NSH;
                } else {
                    hdr.eth.proto = meta.next_proto == NP_IPV6 ? ETH_P_IPV6 : ETH_P_IPV4;
                }
            }
            if (meta.nh_kind == NH_REMOTE) {
                l3_len = meta.len + new_len - old_len - 14;
                if (l3_len > 0xffff)
                    l3_len = 0xffff;
                if (meta.outer_len == 0) {
                    hdr.push_ip.setValid();
                    hdr.push_l4.setValid();
                    hdr.push_udp.setValid();
                    hdr.push_gpe.setValid();
                    hdr.push_ip.tos = meta.f_tos;
                    hdr.push_ip.tot_len = l3_len[15:0];
                    hdr.push_ip.saddr = meta.nh_saddr;
                    hdr.push_ip.daddr = meta.nh_daddr;
                    hdr.push_l4.sport = sport;
                    hdr.push_udp.len = l3_len[15:0] - 20;
                } else {
                    /* Transit: the underlay headers are rewritten where they are. */
                    hdr.push_ip = hdr.ipv4;
                    hdr.push_ip.tot_len = l3_len[15:0];
                    hdr.push_ip.saddr = meta.nh_saddr;
                    hdr.push_ip.daddr = meta.nh_daddr;
                    hdr.push_l4 = hdr.l4;
                    hdr.push_udp = hdr.udp;
                    hdr.push_udp.len = l3_len[15:0] - 20;
                    hdr.push_gpe = hdr.gpe;
                    hdr.ipv4.setInvalid();
                    hdr.l4.setInvalid();
                    hdr.udp.setInvalid();
                    hdr.gpe.setInvalid();
                }
                hdr.push_ip.version = 4;
                hdr.push_ip.ihl = 5;
                hdr.push_ip.id = 0;
                hdr.push_ip.frag_off = 0x4000;
                hdr.push_ip.ttl = 64;
                hdr.push_ip.proto = 17;
                hdr.push_l4.dport = VXLAN_GPE_PORT;
                hdr.push_udp.check = 0;
                hdr.push_gpe.rsvd0 = 0;
                hdr.push_gpe.ver = 0;
                hdr.push_gpe.i = 1;
                hdr.push_gpe.p = 1;
                hdr.push_gpe.b = 0;
                hdr.push_gpe.o = 0;
                hdr.push_gpe.rsvd = 0;
                hdr.push_gpe.next_proto = GPE_NP_NSH;
                hdr.push_gpe.vni_rsvd = 0;
            }
            if (meta.have_nsh == 0 && keep_nsh == 1) {
                /* write_nsh(): a fresh header for a classified or proxied-back packet. */
                hdr.push_nsh.setValid();
                hdr.push_nsh.ver = 0;
                hdr.push_nsh.o = meta.o;
                hdr.push_nsh.u = meta.u;
                hdr.push_nsh.ttl = meta.ttl[5:0];
                hdr.push_nsh.len = (bit<6>)(meta.nsh_len >> 2);
                hdr.push_nsh.md_bits = meta.md_bits;
                hdr.push_nsh.md_type = meta.md_type;
                hdr.push_nsh.next_proto = meta.next_proto;
                hdr.push_nsh.spi = meta.spi;
                hdr.push_nsh.si = meta.si;
                if (meta.md_type == MD1) {
                    hdr.push_md[0].setValid();
                    hdr.push_md[1].setValid();
                    hdr.push_md[2].setValid();
                    hdr.push_md[3].setValid();
                    hdr.push_md[0].w = meta.context[127:96];
                    hdr.push_md[1].w = meta.context[95:64];
                    hdr.push_md[2].w = meta.context[63:32];
                    hdr.push_md[3].w = meta.context[31:0];
                }
            }
            if (meta.nh_kind == NH_LOCAL) {
                meta.stat = STAT_FWD_LOCAL;
            } else if (meta.nh_kind == NH_PROXY) {
                meta.stat = STAT_FWD_PROXY;
            } else if (meta.nh_kind == NH_REMOTE) {
                meta.stat = STAT_FWD_REMOTE;
            } else {
                meta.stat = STAT_END_OF_CHAIN;
            }
            meta.count_it = 1;
            meta.out_ifindex = meta.nh_ifindex;
            esfc_tx.apply();
            if (tx_kind == 0) {
                /* The next hop's port is not one of BMv2's: the target refused the send. */
                stop(STAT_DROP_ADJUST);
            } else {
                sm.egress_spec = tx_egress;
                if (tx_kind == 2) {
                    hdr.sp_eth.setValid();
                    hdr.sp.setValid();
                    hdr.sp_eth.dst = SLOW_PATH_MAC;
                    hdr.sp_eth.src = SLOW_PATH_MAC;
                    hdr.sp_eth.proto = ETH_P_SLOW_PATH;
                    hdr.sp.ifindex = meta.out_ifindex;
                } else {
                    hdr.sp_eth.setInvalid();
                    hdr.sp.setInvalid();
                }
            }
        }

        /* One terminal stat per packet, events on top (bytes: the frame without a slow-path header). */
        if (meta.event == 1) {
            esfc_counters.count((bit<32>)meta.slot * STAT_MAX + (bit<32>)STAT_CLASSIFIED);
        } else if (meta.event == 2) {
            esfc_counters.count((bit<32>)meta.slot * STAT_MAX + (bit<32>)STAT_PROXY_RETURN);
        }
        if (meta.count_it == 1) {
            esfc_counters.count((bit<32>)meta.slot * STAT_MAX + (bit<32>)meta.stat);
        }
    }
}

control EsfcEgress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply { }
}

/* Only headers this program wrote get a new checksum: a packet's own IPv4 header stays as it came. */
control EsfcComputeChecksum(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.push_ip.isValid(),
            { hdr.push_ip.version, hdr.push_ip.ihl, hdr.push_ip.tos, hdr.push_ip.tot_len,
              hdr.push_ip.id, hdr.push_ip.frag_off, hdr.push_ip.ttl, hdr.push_ip.proto,
              hdr.push_ip.saddr, hdr.push_ip.daddr },
            hdr.push_ip.check, HashAlgorithm.csum16);
    }
}

control EsfcDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.sp_eth);
        pkt.emit(hdr.sp);
        pkt.emit(hdr.eth);
        pkt.emit(hdr.push_ip);
        pkt.emit(hdr.push_l4);
        pkt.emit(hdr.push_udp);
        pkt.emit(hdr.push_gpe);
        pkt.emit(hdr.push_nsh);
        pkt.emit(hdr.push_md);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.ip_opts);
        pkt.emit(hdr.l4);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.probe);
        pkt.emit(hdr.gpe);
        pkt.emit(hdr.nsh);
        pkt.emit(hdr.md);
        pkt.emit(hdr.inner_eth);
        pkt.emit(hdr.inner_ipv4);
        pkt.emit(hdr.inner_opts);
        pkt.emit(hdr.inner_l4);
    }
}

V1Switch(EsfcParser(), EsfcVerify(), EsfcIngress(), EsfcEgress(), EsfcComputeChecksum(),
         EsfcDeparser()) main;
