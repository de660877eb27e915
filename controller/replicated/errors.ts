/** Errors of the replicated orchestration log. */
import type { RefusalReason } from '../ledger/index.js';

export type ReplicatedErrorCode =
  | 'bad-validator-key'
  | 'genesis-mismatch'
  | 'corrupt'
  | 'io'
  | 'closed'
  /** A decided block that our rules refuse: >1/3 of the voting power is faulty or validation is not deterministic. */
  | 'invalid-decided-block'
  | 'out-of-order'
  | 'timeout'
  | 'rpc';

export class ReplicatedLogError extends Error {
  override readonly name = 'ReplicatedLogError';

  constructor(readonly code: ReplicatedErrorCode, message: string, readonly height?: number) {
    super(message);
  }
}

/** A transaction the ledger refused (CheckTx's verdict through CometBFT, or our own). */
export class LedgerRefusalError extends Error {
  override readonly name = 'LedgerRefusalError';

  constructor(readonly reason: RefusalReason, readonly detail: string) {
    super(`${reason}: ${detail}`);
  }
}
