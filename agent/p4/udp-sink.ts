/**
 * On a p4 node BMv2 reads frames with a packet socket, so the kernel gets a
 * copy of every one. VXLAN-GPE addressed to the node would make it answer
 * "port unreachable" to the sender for each packet BMv2 forwards. A bound UDP
 * socket that is never read takes them instead: once its small buffer is
 * full the kernel drops them quietly (UDP RcvbufErrors), at the cost of a
 * socket lookup, not of a read in the agent.
 */
import koffi from 'koffi';
import { AF_INET, libcSockets as api, SOCK_CLOEXEC, SOCK_DGRAM } from '../kernel/libc-sockets.js';

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;

export class UdpSink {
  private fd: number;

  /** Bind `address:port` (the node's underlay address and 4790). */
  constructor(readonly address: string, readonly port: number) {
    const c = api();
    this.fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new Error(`UDP socket for ${address}:${port}: errno ${koffi.errno()}`);
    const small = Buffer.alloc(4);
    small.writeInt32LE(4096);
    c.setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, small, 4);
    const sin = Buffer.alloc(16);
    sin.writeUInt16LE(AF_INET, 0);
    sin.writeUInt16BE(port, 2);
    Buffer.from(address.split('.').map(Number)).copy(sin, 4);
    if (c.bind(this.fd, sin, sin.length) !== 0) {
      const e = koffi.errno();
      c.close(this.fd);
      this.fd = -1;
      throw new Error(`bind ${address}:${port}: errno ${e}${e === 98 ? ' (address in use: another esfc agent or VXLAN device on this node?)' : ''}`);
    }
  }

  close(): void {
    if (this.fd >= 0) api().close(this.fd);
    this.fd = -1;
  }
}
