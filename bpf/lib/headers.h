/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* On-wire layouts esfc parses and writes (network byte order throughout). */
#ifndef ESFC_HEADERS_H
#define ESFC_HEADERS_H

#include <linux/types.h>

struct esfc_eth {
	__u8   dst[6];
	__u8   src[6];
	__be16 proto;
} __attribute__((packed));

struct esfc_ipv4 {
	__u8   ver_ihl;
	__u8   tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8   ttl;
	__u8   proto;
	__u16  check;
	__be32 saddr;
	__be32 daddr;
} __attribute__((packed));

struct esfc_udp {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16  check;
} __attribute__((packed));

struct esfc_ports_hdr {
	__be16 source;
	__be16 dest;
} __attribute__((packed));

/* VXLAN-GPE: flags (R R Ver(2) I P B O), 16 reserved bits, next protocol, VNI, reserved. */
struct esfc_gpe {
	__u8   flags;
	__u8   rsvd[2];
	__u8   next_proto;
	__be32 vni_rsvd;
} __attribute__((packed));

#define ESFC_GPE_F_I   0x08
#define ESFC_GPE_F_P   0x04
#define ESFC_GPE_F_VER 0x30
#define ESFC_GPE_F_O   0x01

/*
 * NSH base + service path header (RFC 8300 2.2, 2.3):
 * Ver(2) O(1) U(1) TTL(6) Length(6) U(4) MDtype(4) NextProto(8) | SPI(24) SI(8)
 */
struct esfc_nsh {
	__be16 ver_flags_ttl_len;
	__u8   md_type;
	__u8   next_proto;
	__be32 spi_si;
} __attribute__((packed));

#define ESFC_NSH_VER_SHIFT  14
#define ESFC_NSH_O_BIT      0x2000
/* O and the unassigned bit after it, in word 0's high byte: carried unchanged (RFC 8300 2.2). */
#define ESFC_NSH_W0_KEEP    0x30
#define ESFC_NSH_TTL_SHIFT  6
#define ESFC_NSH_TTL_MASK   0x3f
#define ESFC_NSH_LEN_MASK   0x3f
#define ESFC_NSH_MDTYPE_MASK 0x0f

/* MD type 3 words after the service path header (esfc's encrypted-hop header). */
struct esfc_md3 {
	__be32 espi_esi;
	__be32 e_epoch;      /* E(1) | reserved(15) | key epoch(16) */
} __attribute__((packed));

#define ESFC_MD3_E_BIT 0x80000000

#endif /* ESFC_HEADERS_H */
