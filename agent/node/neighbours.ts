/**
 * Underlay MACs of peer nodes from the kernel's neighbour table. A missing
 * entry is solicited by sending one datagram to the peer's VXLAN-GPE port
 * (which the peer's datapath or stack drops) and read again.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface IpNeigh { dst: string; lladdr?: string; state?: string[] }

async function readNeigh(dev: string): Promise<Map<string, string>> {
  const { stdout } = await run('ip', ['-j', 'neigh', 'show', 'dev', dev]);
  const rows = JSON.parse(stdout || '[]') as IpNeigh[];
  const out = new Map<string, string>();
  for (const r of rows) {
    if (r.lladdr && !(r.state ?? []).includes('FAILED') && !(r.state ?? []).includes('INCOMPLETE')) out.set(r.dst, r.lladdr.toLowerCase());
  }
  return out;
}

function solicit(addr: string): Promise<void> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.on('error', () => { s.close(); resolve(); });
    s.send(Buffer.alloc(0), 4790, addr, () => { s.close(); resolve(); });
  });
}

export async function resolvePeerMacs(dev: string, addrs: string[], timeoutMs = 3000): Promise<Map<string, string>> {
  let known = await readNeigh(dev);
  const deadline = Date.now() + timeoutMs;
  while (addrs.some((a) => !known.has(a)) && Date.now() < deadline) {
    await Promise.all(addrs.filter((a) => !known.has(a)).map(solicit));
    await new Promise((r) => setTimeout(r, 100));
    known = await readNeigh(dev);
  }
  return known;
}
