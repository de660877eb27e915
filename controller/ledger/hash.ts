/** SHA-256, the one hash of the orchestration log (ids, block hashes, Merkle nodes, key ids). */
import { createHash } from 'node:crypto';

export const HASH_LENGTH = 32;

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Hex of bytes that may be a view into a larger buffer. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}
