/**
 * The transaction root of a block (docs/ledger.md "Blocks"). Leaves and
 * inner nodes are hashed with different prefixes (0x00, 0x01) so an inner
 * node can never pass for a leaf (the second-preimage attack on naive
 * Merkle trees); an odd node is promoted unchanged, not duplicated, so two
 * different id lists cannot share a root by repeating the last id.
 */
import { createHash } from 'node:crypto';

const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

export function merkleLeaf(id: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF).update(id).digest();
}

export function merkleNode(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

/** Root over transaction ids in block order; an empty list's root is SHA-256 of nothing. */
export function merkleRoot(ids: readonly Uint8Array[]): Buffer {
  if (ids.length === 0) return createHash('sha256').digest();
  let level = ids.map(merkleLeaf);
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(merkleNode(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}
