/**
 * Moves this process's main thread into a fresh, private network namespace
 * (unshare(CLONE_NEWNET)). BPF syscalls made from JavaScript, and children
 * spawned from it, then see only the interfaces a test creates; everything
 * vanishes with the process, also when a test fails.
 */
import koffi from 'koffi';

const CLONE_NEWNET = 0x40000000;
let done = false;

export function enterPrivateNetns(): void {
  if (done) return;
  const libc = koffi.load('libc.so.6');
  const unshare = libc.func('int unshare(int flags)') as (f: number) => number;
  if (unshare(CLONE_NEWNET) !== 0) throw new Error('unshare(CLONE_NEWNET) failed: tests that build interfaces need root');
  done = true;
}
