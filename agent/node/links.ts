/**
 * The node's interfaces, from one RTM_GETLINK dump on a NETLINK_ROUTE socket
 * of this thread's network namespace (netns-correct, unlike /sys/class/net
 * under `nsenter --net`). A reconcile asks every time, so this is a syscall
 * or two, not a spawned `ip`.
 */
import { NetlinkSocket, NETLINK_CONSTANTS } from '../kernel/netlink-socket.js';
import { NlFlag, parseAttrs } from '../xfrm/xfrm-codec.js';
import type { LinkInfo } from '../datapath/compile.js';

/** From linux/rtnetlink.h and linux/if_link.h (a test compares them with the headers). */
export const RTNL = {
  RTM_NEWLINK: 16, RTM_GETLINK: 18, IFINFOMSG_SIZE: 16,
  IFLA_ADDRESS: 1, IFLA_IFNAME: 3, IFLA_MTU: 4, IFLA_LINKINFO: 18, IFLA_INFO_KIND: 1,
} as const;

/** Decode one RTM_NEWLINK payload (ifinfomsg + attributes); undefined if it is not a link we can name. */
export function decodeLink(payload: Buffer): LinkInfo | undefined {
  if (payload.length < RTNL.IFINFOMSG_SIZE) return undefined;
  const ifindex = payload.readInt32LE(4);
  const a = parseAttrs(payload, RTNL.IFINFOMSG_SIZE, 'link');
  const name = a.get(RTNL.IFLA_IFNAME);
  if (!name) return undefined;
  const mtu = a.get(RTNL.IFLA_MTU);
  const addr = a.get(RTNL.IFLA_ADDRESS);
  const info = a.get(RTNL.IFLA_LINKINFO);
  const kind = info ? parseAttrs(info, 0, 'linkinfo').get(RTNL.IFLA_INFO_KIND) : undefined;
  const cstr = (b: Buffer): string => b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString();
  return {
    name: cstr(name), ifindex,
    mac: addr && addr.length === 6 ? [...addr].map((x) => x.toString(16).padStart(2, '0')).join(':') : '00:00:00:00:00:00',
    mtu: mtu && mtu.length >= 4 ? mtu.readUInt32LE(0) : 0,
    kind: kind ? cstr(kind) : '',
  };
}

export function listLinks(): Promise<Map<string, LinkInfo>> {
  const sock = NetlinkSocket.open({ protocol: NETLINK_CONSTANTS.NETLINK_ROUTE });
  try {
    const req = Buffer.alloc(RTNL.IFINFOMSG_SIZE); // AF_UNSPEC: every link
    const out = new Map<string, LinkInfo>();
    for (const m of sock.request('dump links', RTNL.RTM_GETLINK, NlFlag.dump, req)) {
      if (m.type !== RTNL.RTM_NEWLINK) continue;
      const l = decodeLink(m.payload);
      if (l) out.set(l.name, l);
    }
    return Promise.resolve(out);
  } finally {
    sock.close();
  }
}
