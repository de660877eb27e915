/** Writes Ethernet frames as a classic pcap file (for tshark, the independent dissector). */
import { writeFileSync } from 'node:fs';

export function writePcap(path: string, frames: readonly Buffer[]): void {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const records = frames.map((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1_700_000_000 + i, 0);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    return Buffer.concat([h, f]);
  });
  writeFileSync(path, Buffer.concat([header, ...records]));
}

export interface PcapRecord { ts: number; frame: Buffer }

/** Reads a classic pcap file (what tcpdump -w writes), microsecond or nanosecond, either byte order. */
export function readPcap(data: Buffer): PcapRecord[] {
  if (data.length < 24) return [];
  const magic = data.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  if (!le && data.readUInt32BE(0) !== 0xa1b2c3d4 && data.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const u32 = (o: number): number => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const out: PcapRecord[] = [];
  for (let off = 24; off + 16 <= data.length;) {
    const caplen = u32(off + 8);
    if (off + 16 + caplen > data.length) break; // cut short by the capture being stopped
    out.push({ ts: u32(off) + u32(off + 4) / (nano ? 1e9 : 1e6), frame: data.subarray(off + 16, off + 16 + caplen) });
    off += 16 + caplen;
  }
  return out;
}
