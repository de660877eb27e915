/**
 * The agent's XFRM interface: SAs and policies over NETLINK_XFRM, in this
 * network namespace or another one. Every failure is an XfrmError naming the
 * operation, the errno and the kernel's extended-ack message.
 */
import { NetlinkSocket } from './netlink-socket.js';
import {
  decodePolicy, decodeSa, encodePolicy, encodePolicyId, encodeSa, encodeSaId, NlFlag, XfrmMsg,
} from './xfrm-codec.js';
import type { Policy, PolicyId, PolicySpec, Sa, SaId, SaSpec } from './xfrm-types.js';

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
const saName = (s: { src?: string; dst: string; spi: number }): string => `${s.src ? `${s.src}->` : ''}${s.dst} spi ${hex(s.spi)}`;
const polName = (p: { dir: string; selector: { src: string; dst: string }; mark?: { value: number } }): string =>
  `${p.dir} ${p.selector.src}->${p.selector.dst}${p.mark ? ` mark ${hex(p.mark.value)}` : ''}`;

export class XfrmClient {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** netns: a path such as /run/netns/NAME; absent: this thread's namespace. */
  static open(opts: { netns?: string } = {}): XfrmClient {
    return new XfrmClient(NetlinkSocket.open(opts.netns));
  }

  addSa(s: SaSpec): void {
    this.sock.request(`add SA ${saName(s)}`, XfrmMsg.newSa, NlFlag.create | NlFlag.excl, encodeSa(s));
  }

  updateSa(s: SaSpec): void {
    this.sock.request(`update SA ${saName(s)}`, XfrmMsg.updSa, 0, encodeSa(s));
  }

  deleteSa(id: SaId): void {
    this.sock.request(`delete SA ${saName(id)}`, XfrmMsg.delSa, 0, encodeSaId(id));
  }

  getSa(id: SaId): Sa | undefined {
    try {
      const [m] = this.sock.request(`get SA ${saName(id)}`, XfrmMsg.getSa, 0, encodeSaId(id));
      return m ? decodeSa(m.payload) : undefined;
    } catch (e) {
      if ((e as { errno?: number }).errno === 3 /* ESRCH */) return undefined;
      throw e;
    }
  }

  listSas(): Sa[] {
    return this.sock.request('dump SAs', XfrmMsg.getSa, NlFlag.dump, Buffer.alloc(0))
      .filter((m) => m.type === XfrmMsg.newSa).map((m) => decodeSa(m.payload));
  }

  addPolicy(p: PolicySpec): void {
    this.sock.request(`add policy ${polName(p)}`, XfrmMsg.newPolicy, NlFlag.create | NlFlag.excl, encodePolicy(p));
  }

  updatePolicy(p: PolicySpec): void {
    this.sock.request(`update policy ${polName(p)}`, XfrmMsg.updPolicy, NlFlag.create, encodePolicy(p));
  }

  deletePolicy(id: PolicyId): void {
    this.sock.request(`delete policy ${polName(id)}`, XfrmMsg.delPolicy, 0, encodePolicyId(id));
  }

  getPolicy(id: PolicyId): Policy | undefined {
    try {
      const [m] = this.sock.request(`get policy ${polName(id)}`, XfrmMsg.getPolicy, 0, encodePolicyId(id));
      return m ? decodePolicy(m.payload) : undefined;
    } catch (e) {
      if ((e as { errno?: number }).errno === 2 /* ENOENT */) return undefined;
      throw e;
    }
  }

  listPolicies(): Policy[] {
    return this.sock.request('dump policies', XfrmMsg.getPolicy, NlFlag.dump, Buffer.alloc(0))
      .filter((m) => m.type === XfrmMsg.newPolicy).map((m) => decodePolicy(m.payload));
  }

  close(): void {
    this.sock.close();
  }
}
