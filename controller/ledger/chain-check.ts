/**
 * The checks that make a sequence of stored blocks one chain: heights in
 * order, each previous-hash the hash of the block before, time never going
 * back, block 0 exactly the genesis block, every later block signed by a
 * genesis validator over its hash and carrying the Merkle root of its
 * transactions. Shared by the embedded store (when it reopens its file) and
 * the audit (which also re-checks every transaction).
 */
import type { Block } from './block.js';
import { verifyBlockSignature } from './block.js';
import type { ValidatorKey } from './genesis.js';
import { hex } from './hash.js';
import { merkleRoot } from './merkle.js';

export type ChainProblemReason =
  | 'wrong-height'
  | 'broken-link'
  | 'time-regressed'
  | 'bad-genesis-block'
  | 'unknown-proposer'
  | 'bad-proposer-signature'
  | 'bad-tx-root';

export interface ChainProblem {
  reason: ChainProblemReason;
  detail: string;
}

/**
 * Problems of `block` as the block after `prev` (undefined for block 0,
 * which must equal `genesis` byte for byte). `txIds` are the ids of its
 * transactions, computed by the caller while decoding them.
 */
export function checkBlockInChain(
  block: Block, prev: Block | undefined, genesis: Block, validators: ReadonlyMap<string, ValidatorKey>, txIds: readonly Buffer[],
): ChainProblem | undefined {
  const height = prev === undefined ? 0 : prev.height + 1;
  if (block.height !== height) return { reason: 'wrong-height', detail: `block at position ${height} says height ${block.height}` };
  if (prev === undefined) {
    return block.stored.equals(genesis.stored) ? undefined : { reason: 'bad-genesis-block', detail: 'block 0 is not the block of the genesis in this log' };
  }
  if (!block.previousHash.equals(prev.hash)) return { reason: 'broken-link', detail: `previous hash ${hex(block.previousHash)} is not block ${prev.height}'s hash ${hex(prev.hash)}` };
  if (block.time < prev.time) return { reason: 'time-regressed', detail: `time ${block.time} is before block ${prev.height}'s ${prev.time}` };
  const v = validators.get(hex(block.proposerKeyId));
  if (v === undefined) return { reason: 'unknown-proposer', detail: `proposer ${hex(block.proposerKeyId)} is not a genesis validator` };
  if (!verifyBlockSignature(block, v.alg, v.publicKey)) return { reason: 'bad-proposer-signature', detail: `signature of proposer ${v.validator.name} does not verify` };
  if (!merkleRoot(txIds).equals(block.txRoot)) return { reason: 'bad-tx-root', detail: 'transaction root is not the Merkle root of the transaction ids' };
  return undefined;
}
