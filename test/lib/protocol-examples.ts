/**
 * The example packets of docs/protocol.md, built from the frame builders.
 * test/packet/protocol-doc.test.ts checks that the document shows exactly
 * these bytes, so the document and the tests cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eth, flowPort, ipv4, nsh, tcp, underlay, udp, gpe } from '../../scenario/frames.js';

export const MAC = { client: '02:00:00:00:0c:01', edgeA: '02:00:00:00:0a:01', nodeA: '02:00:0a:fa:00:01', nodeB: '02:00:0a:fa:00:02', sf: '02:00:00:00:1a:02', sfPort: '02:00:00:00:1a:01' };
export const PAYLOAD = Buffer.from('esfc-marker-7f3a');
const inner = ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 6, ttl: 64 }, tcp('172.16.1.1', '172.16.2.1', 40000, 25, PAYLOAD));
const sport = flowPort('172.16.1.1', '172.16.2.1', 40000, 25, 6);
const ctx = Buffer.from('000000010000000200000003000000ff', 'hex');

export interface Example { name: string; caption: string; bytes: Buffer; valid: boolean }

export function protocolExamples(): Example[] {
  const ul = (n: Buffer, payload = inner) => Buffer.concat([eth(MAC.nodeB, MAC.nodeA, 0x0800), underlay({ src: '10.250.0.1', dst: '10.250.0.2', sport }, Buffer.concat([n, payload]))]);
  const esp = Buffer.concat([Buffer.from('0000100000000001', 'hex'), Buffer.alloc(32, 0x5a)]);
  const espPacket = ipv4({ src: '192.168.100.1', dst: '192.168.100.2', proto: 50, ttl: 64 }, esp);
  return [
    { name: 'inner-tcp', caption: 'the client\'s packet as it enters node A on its edge port: Ethernet / IPv4 172.16.1.1:40000 -> 172.16.2.1:25 / TCP with the payload "esfc-marker-7f3a"', bytes: Buffer.concat([eth(MAC.edgeA, MAC.client, 0x0800), inner]), valid: true },
    { name: 'local-md1', caption: 'the same packet classified into SPI 42, SI 255, to an NSH-aware SF on a local port: Ethernet (0x894F) / NSH MD1 (TTL 62 after the lookup, context 00000001 00000002 00000003 000000ff) / IPv4', bytes: Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x894f), nsh({ spi: 42, si: 255, ttl: 62, context: ctx }), inner]), valid: true },
    { name: 'underlay-md1', caption: `after the SF (SI 254), node A to node B on the underlay: Ethernet / IPv4 10.250.0.1 -> 10.250.0.2 / UDP ${sport} -> 4790 / VXLAN-GPE (I, P; next protocol NSH) / NSH MD1 SPI 42 SI 254 TTL 61 / IPv4`, bytes: ul(nsh({ spi: 42, si: 254, ttl: 61, context: ctx })), valid: true },
    { name: 'local-md2', caption: 'MD type 2 with two TLVs (class 0x0101 type 1 "abcdef" padded to 8 bytes; class 0x0102 type 2 four bytes): Length 7 words', bytes: Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x894f), nsh({ spi: 42, si: 255, ttl: 62, mdType: 2, tlvs: [{ cls: 0x0101, type: 1, value: Buffer.from('abcdef') }, { cls: 0x0102, type: 2, value: Buffer.from('wxyz') }] }), inner]), valid: true },
    { name: 'underlay-md3', caption: 'an encrypted hop, MD type 3 (Length 4): SPI 42 SI 254 in clear, E-SPI 0x000100, E-SI 200, E=1, key epoch 7; payload IPv4 192.168.100.1 -> 192.168.100.2 / ESP SPI 0x00001000 seq 1 and 32 bytes of ciphertext', bytes: ul(nsh({ spi: 42, si: 254, ttl: 61, mdType: 3, md3: { espi: 0x100, esi: 200, e: true, epoch: 7 } }), espPacket), valid: true },
    { name: 'bad-md-type-0', caption: 'invalid: MD type 0 (reserved): dropped, drop_md_type0', bytes: ul(nsh({ spi: 42, si: 254, ttl: 61, mdType: 0, lengthWords: 2 })), valid: false },
    { name: 'bad-version-1', caption: 'invalid: NSH version 1: dropped, drop_nsh_version', bytes: ul(nsh({ spi: 42, si: 254, ttl: 61, version: 1, context: ctx })), valid: false },
    { name: 'ttl-1', caption: 'TTL 1 arriving at an SFF: the decrement reaches 0, dropped, drop_ttl', bytes: ul(nsh({ spi: 42, si: 254, ttl: 1, context: ctx })), valid: false },
    { name: 'bad-length', caption: 'invalid: MD type 2 whose Length (40 words) runs past the end of the packet: dropped, drop_nsh_length', bytes: Buffer.concat([eth(MAC.sf, MAC.sfPort, 0x894f), nsh({ spi: 42, si: 255, ttl: 62, mdType: 2, lengthWords: 40 })]), valid: false },
    { name: 'truncated-gpe', caption: 'invalid: UDP 4790 with only 3 bytes of VXLAN-GPE: dropped, drop_malformed', bytes: Buffer.concat([eth(MAC.nodeB, MAC.nodeA, 0x0800), ipv4({ src: '10.250.0.1', dst: '10.250.0.2', proto: 17 }, udp(sport, 4790, gpe().subarray(0, 3)))]), valid: false },
  ];
}

/** The byte-exact examples as docs/protocol.md prints them, by name. */
export function docExamples(): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const re = /```hex example=([a-z0-9-]+)\n([\s\S]*?)```/g;
  const text = readFileSync(fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url)), 'utf8');
  for (let m = re.exec(text); m; m = re.exec(text)) out.set(m[1]!, Buffer.from(m[2]!.replace(/\s+/g, ''), 'hex'));
  return out;
}
