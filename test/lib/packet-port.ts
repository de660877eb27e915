/**
 * Raw frames in and out of one interface (AF_PACKET, ETH_P_ALL), for tests
 * that talk to BMv2 through a veth: send a frame, take what comes back.
 * Receiving polls with a deadline, so a test waits for frames without
 * blocking on a socket forever.
 */
import koffi from 'koffi';

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
}

let libc: Libc | undefined;
function api(): Libc {
  if (!libc) {
    const l = koffi.load('libc.so.6');
    libc = {
      socket: l.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
      bind: l.func('int bind(int fd, const void *addr, uint32_t len)') as Libc['bind'],
      setsockopt: l.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as Libc['setsockopt'],
      send: l.func('long send(int fd, const void *buf, size_t len, int flags)') as Libc['send'],
      recv: l.func('long recv(int fd, void *buf, size_t len, int flags)') as Libc['recv'],
      close: l.func('int close(int fd)') as Libc['close'],
    };
  }
  return libc;
}

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ALL = 0x0003;
const SOL_PACKET = 263;
const PACKET_IGNORE_OUTGOING = 23;
const EAGAIN = 11;

export class PacketPort {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(65536);
  private closed = false;

  constructor(readonly ifindex: number) {
    const c = api();
    this.fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (this.fd < 0) throw new Error(`AF_PACKET socket: errno ${koffi.errno()}`);
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    // Our own sends are not answers.
    if (c.setsockopt(this.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, one, 4) !== 0) this.fail('PACKET_IGNORE_OUTGOING');
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(ETH_P_ALL, 2);
    sll.writeInt32LE(ifindex, 4);
    if (c.bind(this.fd, sll, sll.length) !== 0) this.fail(`bind to ifindex ${ifindex}`);
  }

  private fail(what: string): never {
    const e = koffi.errno();
    this.close();
    throw new Error(`packet port on ifindex ${this.ifindex}: ${what}: errno ${e}`);
  }

  send(frame: Buffer): void {
    const n = api().send(this.fd, frame, frame.length, 0);
    if (n !== frame.length) throw new Error(`send of ${frame.length} bytes on ifindex ${this.ifindex}: ${n < 0 ? `errno ${koffi.errno()}` : `${n} sent`}`);
  }

  /** The next frame, or undefined when none arrives within timeoutMs. */
  async recv(timeoutMs: number): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.tryRecv();
      if (f) return f;
      if (Date.now() >= deadline) return undefined;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** A frame already queued, or undefined. */
  tryRecv(): Buffer | undefined {
    const n = api().recv(this.fd, this.buf, this.buf.length, 0);
    if (n >= 0) return Buffer.from(this.buf.subarray(0, n));
    const e = koffi.errno();
    if (e === EAGAIN) return undefined;
    throw new Error(`recv on ifindex ${this.ifindex}: errno ${e}`);
  }

  /** Throws away what is queued (frames of an earlier case). */
  drain(): number {
    let n = 0;
    while (this.tryRecv()) n++;
    return n;
  }

  close(): void {
    if (!this.closed) api().close(this.fd);
    this.closed = true;
  }
}

const htons = (v: number): number => ((v & 0xff) << 8) | ((v >> 8) & 0xff);
