/**
 * A raw netlink socket through koffi (NETLINK_XFRM for SAs and policies,
 * NETLINK_ROUTE for links): one request at a time, answered with blocking
 * reads (the kernel answers these requests at once; a receive timeout stops
 * a lost answer from hanging the agent). Optionally created inside another
 * network namespace, where it stays bound for its lifetime.
 */
import { closeSync, openSync } from 'node:fs';
import koffi from 'koffi';
import { decodeSockaddrNl, encodeNlmsg, encodeSockaddrNl, Layout, NlFlag, parseMessages, ReplyCollector, type NlMessage } from '../xfrm/xfrm-codec.js';
import { errnoName, strerror, XfrmError, type XfrmErrorDetail } from '../xfrm/xfrm-errors.js';

const libc = koffi.load('libc.so.6');
const c = {
  socket: libc.func('int socket(int domain, int type, int protocol)') as (d: number, t: number, p: number) => number,
  bind: libc.func('int bind(int fd, const void *addr, uint32_t len)') as (fd: number, a: Buffer, len: number) => number,
  getsockname: libc.func('int getsockname(int fd, void *addr, _Inout_ uint32_t *len)') as (fd: number, a: Buffer, len: number[]) => number,
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as (fd: number, l: number, n: number, v: Buffer, len: number) => number,
  send: libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)') as (fd: number, b: Buffer, len: number, f: number) => number,
  recv: libc.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as (fd: number, b: Buffer, len: number, f: number) => number,
  close: libc.func('int close(int fd)') as (fd: number) => number,
  setns: libc.func('int setns(int fd, int nstype)') as (fd: number, t: number) => number,
};

/** Values from the C headers; a test compiles them and compares. */
export const NETLINK_CONSTANTS = {
  AF_NETLINK: 16, SOCK_RAW: 3, SOCK_CLOEXEC: 0o2000000, NETLINK_ROUTE: 0, NETLINK_XFRM: 6, SOL_SOCKET: 1, SO_RCVTIMEO: 20, SOL_NETLINK: 270,
  NETLINK_CAP_ACK: 10, NETLINK_EXT_ACK: 11, MSG_TRUNC: 0x20, MSG_DONTWAIT: 0x40, CLONE_NEWNET: 0x40000000, ENOBUFS: 105,
  EINTR: 4, EBADF: 9, EAGAIN: 11, EBUSY: 16, EMSGSIZE: 90,
} as const;
const {
  AF_NETLINK, SOCK_RAW, SOCK_CLOEXEC, NETLINK_ROUTE, NETLINK_XFRM, SOL_SOCKET, SO_RCVTIMEO, SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK,
  MSG_TRUNC, MSG_DONTWAIT, CLONE_NEWNET, EINTR, EBADF, EAGAIN, EBUSY, EMSGSIZE, ENOBUFS,
} = NETLINK_CONSTANTS;
/** Dumps come in datagrams of at most 32 KiB; single answers are one SA or policy. */
const RECV_BUF = 1 << 16;
const DUMP_ATTEMPTS = 5;

/** A failure of a request or of the socket, typed by the protocol's user (XfrmError for XFRM). */
export type NetlinkFailure = (op: string, errno: number, detail?: XfrmErrorDetail) => Error;

/** A netlink failure outside XFRM (rtnetlink): the operation, the errno's name and text, the kernel's words. */
export class NetlinkError extends Error {
  readonly code = 'ESFC_NETLINK';
  constructor(readonly op: string, readonly errno: number, detail: XfrmErrorDetail = {}) {
    const extra = [detail.message, detail.note].filter((x) => x);
    super(`netlink ${op}: ${errnoName(errno)} (${strerror(errno)})${extra.length ? `: ${extra.join('; ')}` : ''}`);
    this.name = 'NetlinkError';
  }
}

const PROTOCOL_NAMES: Record<number, string> = { [NETLINK_ROUTE]: 'NETLINK_ROUTE', [NETLINK_XFRM]: 'NETLINK_XFRM' };

export interface NetlinkSocketOptions {
  /** NETLINK_XFRM (default) or NETLINK_ROUTE. */
  protocol?: number;
  /** How failures are typed (default: XfrmError for XFRM, NetlinkError otherwise). */
  failure?: NetlinkFailure;
  /** A network namespace file such as /run/netns/NAME (a bare NAME means that); absent: this thread's namespace. */
  netns?: string;
  /** How long to wait for each datagram of an answer before giving up (default 5000). */
  timeoutMs?: number;
  /** Multicast groups to listen to (a bit mask of 1 << (group - 1)); read them with drain(). */
  groups?: number;
}

const errnoOf = (e: unknown): number => Math.abs((e as { errno?: number }).errno ?? 0) || 2;

/**
 * Runs `fn` with this thread in the namespace at `path` and always comes
 * back: /proc/thread-self, not /proc/self, because setns moves one thread.
 */
function inNetns<T>(path: string, fn: () => T, fail: NetlinkFailure): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  let target: number;
  try {
    target = openSync(path, 'r');
  } catch (e) {
    closeSync(home);
    throw fail(`open network namespace ${path}`, errnoOf(e));
  }
  try {
    if (c.setns(target, CLONE_NEWNET) !== 0) throw fail(`enter network namespace ${path}`, koffi.errno());
    try {
      return fn();
    } finally {
      if (c.setns(home, CLONE_NEWNET) !== 0) {
        // Nothing later on this thread could be trusted to run in the right namespace.
        throw fail(`return from network namespace ${path}`, koffi.errno());
      }
    }
  } finally {
    closeSync(home);
    closeSync(target);
  }
}

function setIntOption(fd: number, level: number, name: number, what: string, fail: NetlinkFailure): void {
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  if (c.setsockopt(fd, level, name, one, 4) !== 0) throw fail(`set ${what} on the netlink socket`, koffi.errno());
}

function setReceiveTimeout(fd: number, ms: number, fail: NetlinkFailure): void {
  const tv = Buffer.alloc(16); // struct timeval on 64-bit Linux
  tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length) !== 0) throw fail('set SO_RCVTIMEO on the netlink socket', koffi.errno());
}

/** Port id 0 lets the kernel pick ours; we learn it to recognise the answers addressed to us. */
function bindAndLearnPort(fd: number, groups: number, fail: NetlinkFailure): number {
  const addr = encodeSockaddrNl(0, groups);
  if (c.bind(fd, addr, addr.length) !== 0) throw fail('bind the netlink socket', koffi.errno());
  const out = Buffer.alloc(Layout.sockaddr_nl.sizeof);
  const len = [out.length];
  if (c.getsockname(fd, out, len) !== 0) throw fail('read the netlink socket address', koffi.errno());
  return decodeSockaddrNl(out).pid;
}

function configure(fd: number, timeoutMs: number, groups: number, fail: NetlinkFailure): number {
  // Errors then carry the kernel's text, and not a copy of the whole request.
  setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 'NETLINK_EXT_ACK', fail);
  setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 'NETLINK_CAP_ACK', fail);
  setReceiveTimeout(fd, timeoutMs, fail);
  return bindAndLearnPort(fd, groups, fail);
}

export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly buf = Buffer.alloc(RECV_BUF);

  private constructor(private fd: number, readonly portId: number, readonly netns: string | undefined, private readonly fail: NetlinkFailure) {}

  static open(opts: NetlinkSocketOptions = {}): NetlinkSocket {
    const protocol = opts.protocol ?? NETLINK_XFRM;
    const fail: NetlinkFailure = opts.failure ?? (protocol === NETLINK_XFRM
      ? (op, errno, detail) => new XfrmError(op, errno, detail)
      : (op, errno, detail) => new NetlinkError(op, errno, detail));
    const netns = opts.netns && !opts.netns.includes('/') ? `/run/netns/${opts.netns}` : opts.netns;
    const where = netns ? ` in ${netns}` : '';
    const make = (): number => {
      const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
      if (fd < 0) throw fail(`open a ${PROTOCOL_NAMES[protocol] ?? `netlink ${protocol}`} socket${where}`, koffi.errno());
      return fd;
    };
    const fd = netns ? inNetns(netns, make, fail) : make();
    try {
      return new NetlinkSocket(fd, configure(fd, opts.timeoutMs ?? 5000, opts.groups ?? 0, fail), netns, fail);
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /**
   * Sends one request and returns the answer's messages (none for a plain
   * ACK, several for a dump). The kernel's refusal is thrown as the socket's failure type.
   */
  request(op: string, type: number, flags: number, payload: Buffer): NlMessage[] {
    const dump = (flags & NlFlag.dump) === NlFlag.dump;
    for (let attempt = 1; ; attempt++) {
      const r = this.once(op, type, flags, payload, dump);
      // A dump that raced with a change is inconsistent: take it again.
      if (!r.interrupted) return r.messages;
      if (attempt === DUMP_ATTEMPTS) throw this.fail(op, EBUSY, { note: `dump interrupted by concurrent changes ${DUMP_ATTEMPTS} times` });
    }
  }

  private once(op: string, type: number, flags: number, payload: Buffer, dump: boolean): { messages: NlMessage[]; interrupted: boolean } {
    if (this.fd < 0) throw this.fail(op, EBADF, { note: 'socket closed' });
    this.seq = (this.seq + 1) >>> 0;
    const msg = encodeNlmsg({ type, flags: flags | NlFlag.request | NlFlag.ack, seq: this.seq, pid: 0 }, payload);
    this.send(op, msg);
    const reply = new ReplyCollector(this.seq, this.portId, dump);
    for (;;) {
      const r = reply.feed(this.receive(op));
      if (!r) continue;
      if (r.error) throw this.fail(op, r.error.errno, r.error);
      return r;
    }
  }

  private send(op: string, msg: Buffer): void {
    for (;;) {
      const n = Number(c.send(this.fd, msg, msg.length, 0));
      if (n === msg.length) return;
      const e = n < 0 ? koffi.errno() : EMSGSIZE;
      if (e !== EINTR) throw this.fail(op, e, { note: n < 0 ? 'send' : `short send: ${n} of ${msg.length} bytes` });
    }
  }

  private receive(op: string): Buffer {
    for (;;) {
      // MSG_TRUNC makes recv() report a datagram's true length, so a cut one is caught, not parsed.
      const n = Number(c.recv(this.fd, this.buf, this.buf.length, MSG_TRUNC));
      if (n > this.buf.length) throw this.fail(op, EMSGSIZE, { note: `answer datagram of ${n} bytes exceeds the ${this.buf.length}-byte buffer` });
      if (n >= 0) return this.buf.subarray(0, n);
      const e = koffi.errno();
      if (e === EINTR) continue;
      throw this.fail(op, e, { note: e === EAGAIN ? 'no answer from the kernel before the receive timeout' : 'recv' });
    }
  }

  /**
   * The multicast notifications queued so far, without waiting. `overrun` says
   * the kernel dropped some (the socket's buffer was full): the caller must
   * look at the whole state again rather than trust the events.
   */
  drain(op: string): { messages: NlMessage[]; overrun: boolean } {
    const messages: NlMessage[] = [];
    let overrun = false;
    for (;;) {
      if (this.fd < 0) throw this.fail(op, EBADF, { note: 'socket closed' });
      const n = Number(c.recv(this.fd, this.buf, this.buf.length, MSG_DONTWAIT | MSG_TRUNC));
      if (n > this.buf.length) throw this.fail(op, EMSGSIZE, { note: `notification of ${n} bytes exceeds the ${this.buf.length}-byte buffer` });
      if (n >= 0) {
        messages.push(...parseMessages(Buffer.from(this.buf.subarray(0, n))));
        continue;
      }
      const e = koffi.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return { messages, overrun };
      if (e === ENOBUFS) { overrun = true; continue; }
      throw this.fail(op, e, { note: 'recv' });
    }
  }

  close(): void {
    if (this.fd >= 0) c.close(this.fd);
    this.fd = -1;
  }
}
