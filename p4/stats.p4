/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counter numbers and the kinds of ports and next hops: the values of
 * enum esfc_stat, esfc_port_kind and esfc_nh_kind in bpf/include/esfc_shared.h
 * (test/p4/p4-program.test.ts holds them equal to the BPF objects' BTF).
 * One counter per (port slot, stat), index slot * STAT_MAX + stat.
 */
#ifndef ESFC_P4_STATS
#define ESFC_P4_STATS

const bit<8> STAT_PASS = 0;
const bit<8> STAT_FWD_LOCAL = 1;
const bit<8> STAT_FWD_PROXY = 2;
const bit<8> STAT_FWD_REMOTE = 3;
const bit<8> STAT_END_OF_CHAIN = 4;
const bit<8> STAT_PUNT = 5;
const bit<8> STAT_PROBE = 6;
const bit<8> STAT_SLOW_PATH = 7;
const bit<8> STAT_CLASSIFIED = 8;
const bit<8> STAT_PROXY_RETURN = 9;
const bit<8> STAT_DROP_MALFORMED = 16;
const bit<8> STAT_DROP_NSH_VERSION = 17;
const bit<8> STAT_DROP_NSH_LENGTH = 18;
const bit<8> STAT_DROP_MD_TYPE0 = 19;
const bit<8> STAT_DROP_NEXT_PROTO = 20;
const bit<8> STAT_DROP_TTL = 21;
const bit<8> STAT_DROP_SI_ZERO = 22;
const bit<8> STAT_DROP_NO_PATH = 23;
const bit<8> STAT_DROP_SOURCE = 24;
const bit<8> STAT_DROP_OAM = 25;
const bit<8> STAT_DROP_PROXY_STATE = 26;
const bit<8> STAT_DROP_MTU = 27;
const bit<8> STAT_DROP_LAYER = 28;
const bit<8> STAT_DROP_NO_PUNT_PORT = 29;
const bit<8> STAT_DROP_ADJUST = 30;
const bit<8> STAT_DROP_GPE = 31;
const bit<8> STAT_DROP_CLEAR_ON_UNDERLAY = 32;
const bit<8> STAT_DROP_PEER_SOURCE = 33;
const bit<8> STAT_DROP_FRAGMENT = 34;
const bit<8> STAT_DROP_SLOW_PATH_EGRESS = 35;
#define STAT_MAX 40
#define MAX_PORTS 64

const bit<8> PORT_UNDERLAY = 1;
const bit<8> PORT_SF = 2;
const bit<8> PORT_SF_PROXY = 3;
const bit<8> PORT_EF = 4;
const bit<8> PORT_CLASSIFY = 5;
const bit<8> PORT_PUNT = 6;
const bit<32> PORT_F_OAM_FORWARD = 0x1;

const bit<8> NH_LOCAL = 1;
const bit<8> NH_PROXY = 2;
const bit<8> NH_REMOTE = 3;
const bit<8> NH_END = 4;
const bit<32> NH_F_EF = 0x2;
const bit<32> NH_F_FROM_MAP = 0x4;

#endif
