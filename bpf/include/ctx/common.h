/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* What the forwarding core may ask of either context layer. */
#ifndef ESFC_CTX_COMMON_H
#define ESFC_CTX_COMMON_H

/* ctx_resize_hdr() `how` bits; the low byte carries the tunnel's inner L2 length. */
#define ESFC_RESIZE_ENCAP_UDP  0x100  /* pushing IPv4/UDP/VXLAN-GPE(+NSH) */
#define ESFC_RESIZE_DECAP_UDP  0x200  /* popping IPv4/UDP/VXLAN-GPE(+NSH) */
#define ESFC_RESIZE_L2_MASK    0xff

#endif /* ESFC_CTX_COMMON_H */
