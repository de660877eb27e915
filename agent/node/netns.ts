/**
 * Runs a function with this thread (the one making BPF syscalls, netlink
 * sockets and spawning children) inside a named network namespace, and comes
 * back afterwards. Sockets created inside stay bound to that namespace.
 * Synchronous only: an await inside would run other work in the wrong namespace.
 */
import koffi from 'koffi';
import { closeSync, openSync } from 'node:fs';

const CLONE_NEWNET = 0x40000000;
const libc = koffi.load('libc.so.6');
const setns = libc.func('int setns(int fd, int nstype)') as (fd: number, t: number) => number;

export const netnsPath = (name: string): string => (name.startsWith('/') ? name : `/run/netns/${name}`);

export function withNetns<T>(name: string, fn: () => T): T {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(netnsPath(name), 'r');
  try {
    if (setns(target, CLONE_NEWNET) !== 0) throw new Error(`setns into ${name} failed`);
    try {
      return fn();
    } finally {
      if (setns(home, CLONE_NEWNET) !== 0) throw new Error('setns back to the original namespace failed');
    }
  } finally {
    closeSync(home);
    closeSync(target);
  }
}
