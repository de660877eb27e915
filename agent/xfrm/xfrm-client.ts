/**
 * The agent's XFRM interface: SAs and policies over NETLINK_XFRM, in this
 * network namespace or another one. Every kernel refusal is an XfrmError
 * naming the operation and its object, the errno and the kernel's
 * extended-ack text; a request the codec cannot build is an XfrmSpecError
 * and is never sent.
 */
import { NetlinkSocket, type NetlinkSocketOptions } from '../kernel/netlink-socket.js';
import {
  decodePolicy, decodeSa, encodePolicy, encodePolicyId, encodeSa, encodeSaId, NlFlag, XfrmMsg, type NlMessage,
} from './xfrm-codec.js';
import { XfrmDecodeError, XfrmError, XfrmSpecError } from './xfrm-errors.js';
import type { Mark, Policy, PolicyId, PolicySpec, Sa, SaId, SaSpec, Selector } from './xfrm-types.js';

const ENOENT = 2, ESRCH = 3;

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
const markName = (m?: Mark): string => (m ? ` mark ${hex(m.value)}/${hex(m.mask)}` : '');
const ifIdName = (i?: number): string => (i ? ` if_id ${hex(i)}` : '');
const saName = (s: { src?: string; dst: string; spi: number; mark?: Mark }): string =>
  `${s.src ? `${s.src}->` : ''}${s.dst} spi ${hex(s.spi)}${markName(s.mark)}`;
const selName = (s: Selector): string => `${s.src}->${s.dst}`;
const policyName = (p: PolicySpec | PolicyId): string =>
  `${p.dir} ${'selector' in p ? selName(p.selector) : `index ${p.index}`}${markName(p.mark)}${ifIdName(p.ifId)}`;

const isErrno = (e: unknown, errno: number): boolean => e instanceof XfrmError && e.errno === errno;

function encode(op: string, build: () => Buffer): Buffer {
  try {
    return build();
  } catch (e) {
    throw e instanceof XfrmSpecError ? e.during(op) : e;
  }
}

/** Dumps hold every object in the namespace; ones esfc cannot model (IPv6, AH, socket policies) are not its own. */
function decodeOwn<T>(messages: NlMessage[], type: number, decode: (p: Buffer) => T): T[] {
  const out: T[] = [];
  for (const m of messages) {
    if (m.type !== type) continue;
    try {
      out.push(decode(m.payload));
    } catch (e) {
      if (!(e instanceof XfrmDecodeError && e.fault === 'unsupported')) throw e;
    }
  }
  return out;
}

export class XfrmClient {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** netns: a path such as /run/netns/NAME; absent: this thread's namespace. */
  static open(opts: NetlinkSocketOptions = {}): XfrmClient {
    return new XfrmClient(NetlinkSocket.open(opts));
  }

  addSa(s: SaSpec): void {
    const op = `add SA ${saName(s)}`;
    this.sock.request(op, XfrmMsg.newSa, NlFlag.create | NlFlag.excl, encode(op, () => encodeSa(s)));
  }

  /** Changes what the kernel lets change in place (lifetimes, selector of SPI-less SAs); ESRCH if absent. */
  updateSa(s: SaSpec): void {
    const op = `update SA ${saName(s)}`;
    this.sock.request(op, XfrmMsg.updSa, 0, encode(op, () => encodeSa(s)));
  }

  deleteSa(id: SaId): void {
    const op = `delete SA ${saName(id)}`;
    this.sock.request(op, XfrmMsg.delSa, 0, encode(op, () => encodeSaId(id)));
  }

  /** Undefined when there is no such SA (the kernel's ESRCH). */
  getSa(id: SaId): Sa | undefined {
    const op = `get SA ${saName(id)}`;
    try {
      const [m] = this.sock.request(op, XfrmMsg.getSa, 0, encode(op, () => encodeSaId(id)));
      return m ? decodeSa(m.payload) : undefined;
    } catch (e) {
      if (isErrno(e, ESRCH)) return undefined;
      throw e;
    }
  }

  listSas(): Sa[] {
    return decodeOwn(this.sock.request('dump SAs', XfrmMsg.getSa, NlFlag.dump, Buffer.alloc(0)), XfrmMsg.newSa, decodeSa);
  }

  addPolicy(p: PolicySpec): void {
    const op = `add policy ${policyName(p)}`;
    this.sock.request(op, XfrmMsg.newPolicy, NlFlag.create | NlFlag.excl, encode(op, () => encodePolicy(p)));
  }

  /** Replaces the policy with the same selector, direction, mark and if_id, or adds it. */
  updatePolicy(p: PolicySpec): void {
    const op = `update policy ${policyName(p)}`;
    this.sock.request(op, XfrmMsg.updPolicy, NlFlag.create | NlFlag.replace, encode(op, () => encodePolicy(p)));
  }

  /** The kernel answers ENOENT (not ESRCH, as for SAs) when there is no such policy. */
  deletePolicy(id: PolicyId): void {
    const op = `delete policy ${policyName(id)}`;
    this.sock.request(op, XfrmMsg.delPolicy, 0, encode(op, () => encodePolicyId(id)));
  }

  /** Undefined when there is no such policy (the kernel's ENOENT). */
  getPolicy(id: PolicyId): Policy | undefined {
    const op = `get policy ${policyName(id)}`;
    try {
      const [m] = this.sock.request(op, XfrmMsg.getPolicy, 0, encode(op, () => encodePolicyId(id)));
      return m ? decodePolicy(m.payload) : undefined;
    } catch (e) {
      if (isErrno(e, ENOENT)) return undefined;
      throw e;
    }
  }

  listPolicies(): Policy[] {
    return decodeOwn(this.sock.request('dump policies', XfrmMsg.getPolicy, NlFlag.dump, Buffer.alloc(0)), XfrmMsg.newPolicy, decodePolicy);
  }

  close(): void {
    this.sock.close();
  }
}
