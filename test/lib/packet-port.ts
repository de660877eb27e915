/**
 * Raw frames in and out of one interface (AF_PACKET, ETH_P_ALL), for tests
 * that talk to BMv2 through a veth: send a frame, take what comes back.
 * Receiving polls with a deadline, so a test waits for frames without
 * blocking on a socket forever.
 */
import koffi from 'koffi';
import { AF_PACKET, libcSockets as api, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW } from '../../agent/kernel/libc-sockets.js';

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
