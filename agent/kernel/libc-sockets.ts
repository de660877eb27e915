/**
 * The libc socket calls esfc makes itself (koffi, as agent/kernel/libbpf.ts
 * loads libbpf): packet sockets for probes and tests, the UDP sink of a p4
 * node. Loaded once, on first use.
 */
import koffi from 'koffi';

export interface LibcSockets {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
}

export const AF_INET = 2;
export const AF_PACKET = 17;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

let api: LibcSockets | undefined;

export function libcSockets(): LibcSockets {
  if (!api) {
    const l = koffi.load('libc.so.6');
    api = {
      socket: l.func('int socket(int domain, int type, int protocol)') as LibcSockets['socket'],
      bind: l.func('int bind(int fd, const void *addr, uint32_t len)') as LibcSockets['bind'],
      setsockopt: l.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as LibcSockets['setsockopt'],
      send: l.func('long send(int fd, const void *buf, size_t len, int flags)') as LibcSockets['send'],
      sendto: l.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as LibcSockets['sendto'],
      recv: l.func('long recv(int fd, void *buf, size_t len, int flags)') as LibcSockets['recv'],
      close: l.func('int close(int fd)') as LibcSockets['close'],
    };
  }
  return api;
}
