/**
 * The node's interfaces as rtnetlink reports them, through `ip -d -j link`
 * (netns-correct; /sys/class/net is not, under `nsenter --net`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LinkInfo } from '../datapath/compile.js';

const run = promisify(execFile);

interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  linkinfo?: { info_kind?: string };
}

export async function listLinks(): Promise<Map<string, LinkInfo>> {
  const { stdout } = await run('ip', ['-d', '-j', 'link', 'show']);
  const links = JSON.parse(stdout) as IpLink[];
  return new Map(links.map((l) => [l.ifname, {
    name: l.ifname, ifindex: l.ifindex, mac: (l.address ?? '00:00:00:00:00:00').toLowerCase(), mtu: l.mtu,
    kind: l.linkinfo?.info_kind ?? '',
  }]));
}
