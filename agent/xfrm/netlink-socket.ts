/**
 * A raw NETLINK_XFRM socket through koffi: one request at a time, answered
 * synchronously (the kernel answers XFRM requests before send() returns).
 * Optionally created inside another network namespace, where it stays bound.
 */
import koffi from 'koffi';
import { withNetns } from '../node/netns.js';
import { errno, ffi } from '../kernel/libbpf.js';
import { nlmsg, NlFlag, NlType, parseError, parseMessages, type NlMessage } from './xfrm-codec.js';
import { XfrmError } from './xfrm-errors.js';

const libc = koffi.load('libc.so.6');
const c = {
  socket: libc.func('int socket(int domain, int type, int protocol)') as (d: number, t: number, p: number) => number,
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as (fd: number, l: number, n: number, v: Buffer, len: number) => number,
  send: libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)') as (fd: number, b: Buffer, len: number, f: number) => number,
  recv: libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)') as (fd: number, b: Buffer, len: number, f: number) => number,
};

const AF_NETLINK = 16;
const SOCK_RAW_CLOEXEC = 3 | 0o2000000;
const NETLINK_XFRM = 6;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const EINTR = 4;
const RECV_BUF = 1 << 16;

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly buf = Buffer.alloc(RECV_BUF);

  private constructor(private fd: number) {}

  static open(netns?: string): NetlinkSocket {
    const make = (): number => c.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_XFRM);
    const fd = netns ? withNetns(netns, make) : make();
    if (fd < 0) throw new XfrmError('open NETLINK_XFRM socket', errno());
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    // Error messages then carry the kernel's text, and not the whole echoed request.
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
    return new NetlinkSocket(fd);
  }

  /** Send one request; return the reply messages (several for a dump), throwing the kernel's error if any. */
  request(op: string, type: number, flags: number, payload: Buffer): NlMessage[] {
    if (this.fd < 0) throw new XfrmError(op, 9 /* EBADF */, 'socket closed');
    const seq = ++this.seq >>> 0;
    const msg = nlmsg(type, flags | NlFlag.request | NlFlag.ack, seq, payload);
    if (c.send(this.fd, msg, msg.length, 0) < 0) throw new XfrmError(op, errno());
    const out: NlMessage[] = [];
    const dump = (flags & NlFlag.dump) === NlFlag.dump;
    for (;;) {
      const n = c.recv(this.fd, this.buf, this.buf.length, 0);
      if (n < 0) {
        if (errno() === EINTR) continue;
        throw new XfrmError(op, errno());
      }
      for (const m of parseMessages(this.buf.subarray(0, n))) {
        if (m.seq !== seq) continue; // a late answer to an earlier request
        if (m.type === NlType.error) {
          const e = parseError(m);
          if (e.errno) throw new XfrmError(op, e.errno, e.message);
          if (!dump) return out;
          continue;
        }
        if (m.type === NlType.done) return out;
        out.push({ ...m, payload: Buffer.from(m.payload) });
        if (!dump && !(m.flags & NlFlag.multi)) return out;
      }
    }
  }

  close(): void {
    if (this.fd >= 0) ffi.close(this.fd);
    this.fd = -1;
  }
}
