/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parser reads what every port kind might carry and leaves the verdict
 * to the ingress control, which knows the port (the parser cannot look up a
 * table). It never runs past the end of the frame: each extract is preceded
 * by a length check, so a short frame leaves the headers before it valid and
 * the rest as payload, and `trunc` says where it ended, instead of a parser
 * error whose handling differs between targets. Bounds as bpf/lib/parse.h.
 */
#ifndef ESFC_P4_PARSER
#define ESFC_P4_PARSER

#include "headers.p4"

parser EsfcParser(packet_in pkt, out headers_t hdr, inout meta_t meta,
                  inout standard_metadata_t sm) {

    state start {
        meta.off = 0;
        meta.trunc = TRUNC_NONE;
        meta.rem = sm.packet_length;
        transition select(meta.rem >= 14) {
            true: first_eth;
            default: accept;
        }
    }

    state first_eth {
        transition select(pkt.lookahead<eth_h>().proto) {
            ETH_P_SLOW_PATH: slow_path;
            default: eth;
        }
    }

    state slow_path {
        transition select(meta.rem >= 18) {
            true: slow_path_hdr;
            default: accept;
        }
    }

    state slow_path_hdr {
        pkt.extract(hdr.sp_eth);
        pkt.extract(hdr.sp);
        meta.off = 18;
        meta.rem = sm.packet_length - 18;
        transition select(meta.rem >= 14) {
            true: eth;
            default: accept;
        }
    }

    state eth {
        pkt.extract(hdr.eth);
        meta.off = meta.off + 14;
        meta.rem = sm.packet_length - meta.off;
        transition select(hdr.eth.proto) {
            ETH_P_IPV4: ipv4_check;
            ETH_P_NSH: nsh_check;
            default: accept;
        }
    }

    state ipv4_check {
        transition select(meta.rem >= 20) {
            true: ipv4;
            default: accept;
        }
    }

    state ipv4 {
        pkt.extract(hdr.ipv4);
        meta.off = meta.off + 20;
        meta.rem = sm.packet_length - meta.off;
        transition select(hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.frag_off & 0x3fff) {
            (4, 5, 0): ipv4_l4;
            (4, 0 &&& 0xc, _): accept;      /* IHL below 5: no ports (as parse_flow) */
            (4, 4, _): accept;
            (4, _, 0): ipv4_opts_check;
            default: accept;                 /* not IPv4, or a fragment: no ports */
        }
    }

    state ipv4_opts_check {
        transition select(meta.rem >= ((bit<32>)hdr.ipv4.ihl - 5) * 4) {
            true: ipv4_opts;
            default: accept;
        }
    }

    state ipv4_opts {
        pkt.extract(hdr.ip_opts, ((bit<32>)hdr.ipv4.ihl - 5) * 32);
        meta.off = meta.off + ((bit<32>)hdr.ipv4.ihl - 5) * 4;
        meta.rem = sm.packet_length - meta.off;
        /* With options it cannot be the underlay (bpf: ver_ihl == 0x45): ports only. */
        transition select(hdr.ipv4.proto) {
            6: l4_check;
            17: l4_check;
            132: l4_check;
            default: accept;
        }
    }

    state ipv4_l4 {
        transition select(hdr.ipv4.proto) {
            6: l4_check;
            132: l4_check;
            17: udp_check;
            default: accept;
        }
    }

    state l4_check {
        transition select(meta.rem >= 4) {
            true: l4;
            default: accept;
        }
    }

    state l4 {
        pkt.extract(hdr.l4);
        meta.off = meta.off + 4;
        meta.rem = sm.packet_length - meta.off;
        transition accept;
    }

    state udp_check {
        meta.trunc = TRUNC_UDP;
        transition select(meta.rem >= 8) {
            true: udp;
            default: udp_ports_only;
        }
    }

    state udp_ports_only {
        transition select(meta.rem >= 4) {
            true: l4;
            default: accept;
        }
    }

    state udp {
        pkt.extract(hdr.l4);
        pkt.extract(hdr.udp);
        meta.trunc = TRUNC_NONE;
        meta.off = meta.off + 8;
        meta.rem = sm.packet_length - meta.off;
        transition select(hdr.l4.dport) {
            VXLAN_GPE_PORT: gpe_check;
            PROBE_PORT: probe_check;
            default: accept;
        }
    }

    state probe_check {
        transition select(meta.rem >= 24) {
            true: probe;
            default: accept;
        }
    }

    state probe {
        pkt.extract(hdr.probe);
        transition accept;
    }

    state gpe_check {
        transition select(meta.rem >= 8) {
            true: gpe;
            default: gpe_short;
        }
    }

    state gpe_short {
        meta.trunc = TRUNC_UDP;
        transition accept;
    }

    state gpe {
        pkt.extract(hdr.gpe);
        meta.off = meta.off + 8;
        meta.rem = sm.packet_length - meta.off;
        transition select(hdr.gpe.ver, hdr.gpe.p, hdr.gpe.next_proto) {
            (0, 1, GPE_NP_NSH): nsh_check;
            default: accept;
        }
    }

    state nsh_check {
        transition select(meta.rem >= 8) {
            true: nsh;
            default: nsh_short;
        }
    }

    state nsh_short {
        meta.trunc = TRUNC_NSH;
        transition accept;
    }

    state nsh {
        pkt.extract(hdr.nsh);
        meta.off = meta.off + 8;
        meta.rem = sm.packet_length - meta.off;
        meta.md_left = (bit<8>)hdr.nsh.len - 2;
        meta.md_words = 0;
        /* Ver, MD type 0 and a Length below the base header: the ingress drops these. */
        transition select(hdr.nsh.ver, hdr.nsh.md_type, hdr.nsh.len) {
            (0, 0, _): accept;
            (0, _, 0): accept;
            (0, _, 1): accept;
            (0, MD1, 6): md_word;
            (0, MD1, _): accept;
            (0, MD2, _): tlv;
            (0, _, _): md_word;     /* MD type 3 and unknown types: Length words, opaque */
            default: accept;
        }
    }

    /* Opaque metadata words, md_left of them. */
    state md_word {
        transition select(meta.md_left, meta.rem >= 4) {
            (0, _): after_md;
            (_, true): md_word_extract;
            default: md_short;
        }
    }

    state md_word_extract {
        pkt.extract(hdr.md.next);
        meta.off = meta.off + 4;
        meta.rem = meta.rem - 4;
        meta.md_left = meta.md_left - 1;
        meta.md_words = meta.md_words + 1;
        transition md_word;
    }

    state md_short {
        meta.trunc = TRUNC_MD;
        transition accept;
    }

    /* MD type 2: every TLV, however many; Length must be exactly their sum. */
    state tlv {
        transition select(meta.md_left, meta.rem >= 4) {
            (0, _): after_md;
            (_, true): tlv_header;
            default: md_short;
        }
    }

    state tlv_header {
        pkt.extract(hdr.md.next);
        meta.off = meta.off + 4;
        meta.rem = meta.rem - 4;
        meta.md_left = meta.md_left - 1;
        meta.md_words = meta.md_words + 1;
        meta.body_left = ((bit<8>)(hdr.md.last.w[6:0]) + 3) >> 2;
        transition select(meta.body_left > meta.md_left) {
            true: tlv_overrun;
            default: tlv_body;
        }
    }

    state tlv_overrun {
        meta.md_overrun = 1;
        transition accept;
    }

    state tlv_body {
        transition select(meta.body_left, meta.rem >= 4) {
            (0, _): tlv;
            (_, true): tlv_body_word;
            default: md_short;
        }
    }

    state tlv_body_word {
        pkt.extract(hdr.md.next);
        meta.off = meta.off + 4;
        meta.rem = meta.rem - 4;
        meta.md_left = meta.md_left - 1;
        meta.md_words = meta.md_words + 1;
        meta.body_left = meta.body_left - 1;
        transition tlv_body;
    }

    state after_md {
        transition select(hdr.nsh.next_proto) {
            NP_IPV4: inner_ipv4_check;
            NP_ETH: inner_eth_check;
            default: accept;
        }
    }

    state inner_eth_check {
        transition select(meta.rem >= 14) {
            true: inner_eth;
            default: accept;
        }
    }

    state inner_eth {
        pkt.extract(hdr.inner_eth);
        transition accept;
    }

    state inner_ipv4_check {
        transition select(meta.rem >= 20) {
            true: inner_ipv4;
            default: accept;
        }
    }

    state inner_ipv4 {
        pkt.extract(hdr.inner_ipv4);
        meta.off = meta.off + 20;
        meta.rem = sm.packet_length - meta.off;
        transition select(hdr.inner_ipv4.version, hdr.inner_ipv4.ihl, hdr.inner_ipv4.frag_off & 0x3fff,
                          hdr.inner_ipv4.proto) {
            (4, 5, 0, 6): inner_l4_check;
            (4, 5, 0, 17): inner_l4_check;
            (4, 5, 0, 132): inner_l4_check;
            (4, 0 &&& 0xc, _, _): accept;
            (4, 4, _, _): accept;
            (4, 5, _, _): accept;
            (4, _, 0, 6): inner_opts_check;
            (4, _, 0, 17): inner_opts_check;
            (4, _, 0, 132): inner_opts_check;
            default: accept;
        }
    }

    state inner_opts_check {
        transition select(meta.rem >= ((bit<32>)hdr.inner_ipv4.ihl - 5) * 4) {
            true: inner_opts;
            default: accept;
        }
    }

    state inner_opts {
        pkt.extract(hdr.inner_opts, ((bit<32>)hdr.inner_ipv4.ihl - 5) * 32);
        meta.off = meta.off + ((bit<32>)hdr.inner_ipv4.ihl - 5) * 4;
        meta.rem = sm.packet_length - meta.off;
        transition inner_l4_check;
    }

    state inner_l4_check {
        transition select(meta.rem >= 4) {
            true: inner_l4;
            default: accept;
        }
    }

    state inner_l4 {
        pkt.extract(hdr.inner_l4);
        transition accept;
    }
}

#endif
