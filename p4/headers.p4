/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-wire layouts (network byte order, as bpf/lib/headers.h) and the packet
 * description the controls share (as struct esfc_pkt in bpf/lib/parse.h).
 */
#ifndef ESFC_P4_HEADERS
#define ESFC_P4_HEADERS

/* Wire constants: the values of bpf/include/esfc_shared.h. */
const bit<16> ETH_P_IPV4      = 0x0800;
const bit<16> ETH_P_IPV6      = 0x86DD;
const bit<16> ETH_P_NSH       = 0x894F;
const bit<16> ETH_P_SLOW_PATH = 0x88B5;
const bit<16> VXLAN_GPE_PORT  = 4790;
const bit<16> PROBE_PORT      = 0xE5FC;
const bit<64> PROBE_MAGIC     = 0x4553464370726f62;
const bit<8>  NP_IPV4 = 1;
const bit<8>  NP_IPV6 = 2;
const bit<8>  NP_ETH  = 3;
const bit<8>  GPE_NP_NSH = 4;
const bit<4>  MD1 = 1;
const bit<4>  MD2 = 2;
const bit<32> UNDERLAY_OVERHEAD = 36;   /* IPv4 + UDP + VXLAN-GPE */
const bit<32> SRC_EF_LAYER = 0x80000000;
/* Metadata words after the NSH base header: Length is 6 bits, minus the 2 base words. */
#define MD_WORDS 61

header eth_h {
    bit<48> dst;
    bit<48> src;
    bit<16> proto;
}

/* docs/protocol.md "Slow-path header": the port a frame came in on, or leaves by. */
header slow_path_h {
    bit<32> ifindex;
}

header ipv4_h {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  tos;
    bit<16> tot_len;
    bit<16> id;
    bit<16> frag_off;
    bit<8>  ttl;
    bit<8>  proto;
    bit<16> check;
    bit<32> saddr;
    bit<32> daddr;
}

header ip_opts_h {
    varbit<320> opts;
}

/* The ports of TCP, UDP and SCTP; UDP's length and checksum follow as udp_rest_h. */
header l4_ports_h {
    bit<16> sport;
    bit<16> dport;
}

header udp_rest_h {
    bit<16> len;
    bit<16> check;
}

header gpe_h {
    bit<2>  rsvd0;
    bit<2>  ver;
    bit<1>  i;
    bit<1>  p;
    bit<1>  b;
    bit<1>  o;
    bit<16> rsvd;
    bit<8>  next_proto;
    bit<32> vni_rsvd;
}

/* RFC 8300 2.2/2.3: base header and service path header. */
header nsh_h {
    bit<2>  ver;
    bit<1>  o;
    bit<1>  u;
    bit<6>  ttl;
    bit<6>  len;
    bit<4>  md_bits;
    bit<4>  md_type;
    bit<8>  next_proto;
    bit<24> spi;
    bit<8>  si;
}

/* Every metadata format is whole words: MD1's context, MD2's TLVs, MD type 3, unknown types. */
header word_h {
    bit<32> w;
}

/* The agent's liveness probe (esfc_shared.h struct esfc_probe_payload). */
header probe_h {
    bit<64> magic;
    bit<32> sf_id;
    bit<32> seq;
    bit<64> sent_ns;
}

struct headers_t {
    eth_h       sp_eth;
    slow_path_h sp;
    eth_h       eth;
    /* Pushed in front of what was parsed: underlay towards another node, NSH for a plain packet. */
    ipv4_h      push_ip;
    l4_ports_h  push_l4;
    udp_rest_h  push_udp;
    gpe_h       push_gpe;
    nsh_h       push_nsh;
    word_h[4]   push_md;
    /* As parsed: the underlay headers, or a plain packet's own IPv4. */
    ipv4_h      ipv4;
    ip_opts_h   ip_opts;
    l4_ports_h  l4;
    udp_rest_h  udp;
    probe_h     probe;
    gpe_h       gpe;
    nsh_h       nsh;
    word_h[MD_WORDS] md;
    eth_h       inner_eth;
    ipv4_h      inner_ipv4;
    ip_opts_h   inner_opts;
    l4_ports_h  inner_l4;
}

/* What the parser ran out of bytes in. */
const bit<8> TRUNC_NONE     = 0;
const bit<8> TRUNC_UDP      = 1;   /* UDP or VXLAN-GPE after an IPv4 header */
const bit<8> TRUNC_NSH      = 2;   /* the NSH base header */
const bit<8> TRUNC_MD       = 3;   /* metadata inside the NSH Length */

struct meta_t {
    /* parser */
    bit<32> off;
    bit<32> rem;
    bit<8>  trunc;
    bit<8>  md_left;
    bit<8>  body_left;
    bit<1>  md_overrun;     /* an MD2 TLV claims more than the NSH Length leaves */
    bit<8>  md_words;       /* metadata words parsed */
    /* port */
    bit<32> in_ifindex;
    bit<1>  rx_punt;
    bit<8>  gen;
    bit<8>  md3_type;
    bit<8>  default_ttl;
    bit<8>  kind;
    bit<8>  slot;
    bit<32> sf_id;
    bit<32> port_flags;
    bit<32> local_ip;
    /* packet (struct esfc_pkt) */
    bit<32> len;
    bit<32> outer_len;
    bit<32> outer_saddr;
    bit<16> outer_sport;
    bit<8>  outer_tos;
    bit<1>  o;
    bit<1>  u;
    bit<4>  md_bits;
    bit<32> nsh_len;
    bit<24> spi;
    bit<8>  si;
    bit<8>  ttl;
    bit<4>  md_type;
    bit<8>  next_proto;
    bit<24> espi;
    bit<8>  esi;
    bit<1>  e_bit;
    bit<128> context;
    bit<1>  have_nsh;
    /* inner flow */
    bit<1>  f_valid;
    bit<1>  f_frag;
    bit<32> f_saddr;
    bit<32> f_daddr;
    bit<16> f_sport;
    bit<16> f_dport;
    bit<8>  f_proto;
    bit<8>  f_tos;
    /* lookups */
    bit<32> src_spi;
    bit<8>  src_si;
    bit<1>  ef_layer;
    bit<8>  nh_kind;
    bit<32> nh_ifindex;
    bit<32> nh_flags;
    bit<32> nh_mtu;
    bit<32> nh_saddr;
    bit<32> nh_daddr;
    bit<48> nh_smac;
    bit<48> nh_dmac;
    bit<32> nh_sf_id;
    bit<32> nh_from0;
    bit<32> nh_from1;
    bit<32> nh_from2;
    bit<32> nh_from3;
    bit<24> class_spi;
    bit<1>  class_uses_ports;
    /* verdict */
    bit<8>  stat;
    bit<8>  event;
    bit<1>  done;
    bit<1>  count_it;
    bit<1>  rewrite_outer;
    bit<32> out_ifindex;
}

#endif
