/**
 * The far end of a veth: its name, the namespace it is in, and whether it can
 * receive frames an XDP program sends into the veth (a native XDP program of
 * its own, or GRO on, which gives it NAPI: enough for XDP_REDIRECT, not for
 * XDP_TX). The peer is found through rtnetlink's
 * link_index / link_netnsid and the named namespaces this one knows.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { VethPeerInfo } from '../datapath/compile.js';

const run = promisify(execFile);

interface IpLinkDetail { ifindex: number; ifname: string; link?: string; link_index?: number; link_netnsid?: number; xdp?: { mode?: number }; linkinfo?: { info_kind?: string } }

async function links(netnsPath?: string): Promise<IpLinkDetail[]> {
  const argv = ['ip', '-d', '-j', 'link', 'show'];
  const { stdout } = netnsPath ? await run('nsenter', [`--net=${netnsPath}`, '--', ...argv]) : await run(argv[0]!, argv.slice(1));
  return JSON.parse(stdout) as IpLinkDetail[];
}

async function groOn(ifname: string, netnsPath?: string): Promise<boolean> {
  const argv = ['ethtool', '-k', ifname];
  const { stdout } = netnsPath ? await run('nsenter', [`--net=${netnsPath}`, '--', ...argv]) : await run(argv[0]!, argv.slice(1));
  return /^generic-receive-offload:\s+on/m.test(stdout);
}

/** Peers of the given veths of this namespace; a veth whose peer cannot be located maps to {}. */
export async function vethPeers(ifnames: readonly string[]): Promise<Map<string, VethPeerInfo>> {
  const out = new Map<string, VethPeerInfo>();
  if (!ifnames.length) return out;
  const here = await links();
  let ids: { nsid: number; name?: string }[] = [];
  try {
    ids = JSON.parse((await run('ip', ['-j', 'netns', 'list-id'])).stdout || '[]') as { nsid: number; name?: string }[];
  } catch { /* no namespace ids: every peer is local or unknown */ }
  for (const name of ifnames) {
    const l = here.find((x) => x.ifname === name);
    if (!l || l.linkinfo?.info_kind !== 'veth') { out.set(name, {}); continue; }
    // A peer in this namespace: ip names it ("link") instead of giving its index.
    if (l.link !== undefined && l.link_netnsid === undefined) {
      const peer = here.find((x) => x.ifname === l.link);
      out.set(name, peer ? { peer: { ifname: peer.ifname, xdp: peer.xdp !== undefined && peer.xdp.mode !== 2, gro: await groOn(peer.ifname) } } : {});
      continue;
    }
    if (l.link_index === undefined) { out.set(name, {}); continue; }
    try {
      let netns: string | undefined;
      let path: string | undefined;
      if (l.link_netnsid !== undefined) {
        const id = ids.find((x) => x.nsid === l.link_netnsid);
        // An id without a name is usually the host's own namespace.
        netns = id?.name ?? 'pid 1';
        path = id?.name ? `/run/netns/${id.name}` : '/proc/1/ns/net';
      }
      const peer = (path ? await links(path) : here).find((x) => x.ifindex === l.link_index && x.linkinfo?.info_kind === 'veth');
      if (!peer) { out.set(name, {}); continue; }
      out.set(name, { peer: { ifname: peer.ifname, ...(netns ? { netns } : {}), xdp: peer.xdp !== undefined && peer.xdp.mode !== 2 /* generic XDP does not count */, gro: await groOn(peer.ifname, path) } });
    } catch {
      out.set(name, {});
    }
  }
  return out;
}
