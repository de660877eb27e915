/**
 * Link state of this namespace's interfaces, kept current from rtnetlink's
 * link notifications (RTNLGRP_LINK). A read costs one non-blocking recv when
 * nothing changed, so it can run on every liveness tick; the kernel tells
 * the moment a veth loses its carrier (its far end went down or away).
 */
import { NetlinkSocket, NETLINK_CONSTANTS } from '../kernel/netlink-socket.js';
import { NlFlag, parseAttrs, type NlMessage } from '../xfrm/xfrm-codec.js';
import { RTNL } from '../node/links.js';

/** From linux/rtnetlink.h and linux/if.h. */
export const LINK_EVENTS = { RTM_DELLINK: 17, RTNLGRP_LINK: 1, IFF_UP: 0x1, IFF_LOWER_UP: 0x10000 } as const;

export interface LinkState {
  ifindex: number;
  /** Administratively up and with carrier: frames sent into it can arrive. */
  up: boolean;
}

function decode(m: NlMessage): { name: string; state: LinkState } | undefined {
  if (m.payload.length < RTNL.IFINFOMSG_SIZE) return undefined;
  const name = parseAttrs(m.payload, RTNL.IFINFOMSG_SIZE, 'link').get(RTNL.IFLA_IFNAME);
  if (!name) return undefined;
  const flags = m.payload.readUInt32LE(8);
  const up = (flags & LINK_EVENTS.IFF_UP) !== 0 && (flags & LINK_EVENTS.IFF_LOWER_UP) !== 0;
  const end = name.indexOf(0);
  return { name: name.subarray(0, end < 0 ? name.length : end).toString(), state: { ifindex: m.payload.readInt32LE(4), up } };
}

export class LinkWatch {
  private readonly sock = NetlinkSocket.open({ protocol: NETLINK_CONSTANTS.NETLINK_ROUTE, groups: 1 << (LINK_EVENTS.RTNLGRP_LINK - 1) });
  private readonly links = new Map<string, LinkState>();

  constructor() {
    this.resync();
  }

  /** Every link by name, as of now. */
  read(): ReadonlyMap<string, LinkState> {
    const { messages, overrun } = this.sock.drain('read link notifications');
    // Lost notifications: the whole table again (the ones queued are older than the dump).
    if (overrun) this.resync();
    else for (const m of messages) this.apply(m);
    return this.links;
  }

  private apply(m: NlMessage): void {
    const l = decode(m);
    if (!l) return;
    if (m.type === LINK_EVENTS.RTM_DELLINK) this.links.delete(l.name);
    else if (m.type === RTNL.RTM_NEWLINK) this.links.set(l.name, l.state);
  }

  private resync(): void {
    // What was queued is older than the dump: dropped. What arrives during it is applied
    // after it (at worst a repeat of what the dump already showed).
    this.sock.drain('discard link notifications');
    const dump = NetlinkSocket.open({ protocol: NETLINK_CONSTANTS.NETLINK_ROUTE });
    try {
      const msgs = dump.request('dump links', RTNL.RTM_GETLINK, NlFlag.dump, Buffer.alloc(RTNL.IFINFOMSG_SIZE));
      this.links.clear();
      for (const m of msgs) this.apply(m);
    } finally {
      dump.close();
    }
  }

  close(): void {
    this.sock.close();
  }
}
