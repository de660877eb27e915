/**
 * A batch: several signed ledger transactions in one CometBFT transaction
 * (docs/ledger.md, "Batches"). CometBFT's cost is per transaction (mempool
 * admission, gossip to every peer, RPC), so under load a controller sends
 * what it has as one; the ledger never stores a batch. CheckTx admits it
 * only when every transaction in it is valid, in order; the proposer
 * unpacks batches into its proposal, so blocks hold the transactions
 * themselves and every later check is the usual one.
 *
 * Bytes: 0x02 "esfc-batch", u32 count, then per transaction u32 length and
 * its bytes (big-endian). 0x02 starts no ledger transaction (their version
 * byte is 1) and no seal (0x00).
 */
export const BATCH_PREFIX: Buffer = Buffer.from('\x02esfc-batch', 'latin1');
/** More transactions than this in one batch is refused (a CheckTx must stay short). */
export const MAX_BATCH = 1000;

export function isBatch(tx: Buffer): boolean {
  return tx.length > 0 && tx[0] === 2;
}

export function encodeBatch(txs: readonly Buffer[]): Buffer {
  if (txs.length === 0 || txs.length > MAX_BATCH) throw new RangeError(`a batch holds 1 to ${MAX_BATCH} transactions, not ${txs.length}`);
  const head = Buffer.alloc(BATCH_PREFIX.length + 4);
  BATCH_PREFIX.copy(head);
  head.writeUInt32BE(txs.length, BATCH_PREFIX.length);
  const parts: Buffer[] = [head];
  for (const t of txs) {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(t.length);
    parts.push(n, t);
  }
  return Buffer.concat(parts);
}

/** The transactions of a batch (views into `tx`), or why it is malformed. */
export function decodeBatch(tx: Buffer): Buffer[] | string {
  if (tx.length < BATCH_PREFIX.length + 4 || !tx.subarray(0, BATCH_PREFIX.length).equals(BATCH_PREFIX)) return 'not an esfc batch (bad prefix)';
  const count = tx.readUInt32BE(BATCH_PREFIX.length);
  if (count === 0 || count > MAX_BATCH) return `a batch holds 1 to ${MAX_BATCH} transactions, this one says ${count}`;
  const out: Buffer[] = [];
  let at = BATCH_PREFIX.length + 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > tx.length) return `transaction ${i}: length cut off at byte ${at}`;
    const n = tx.readUInt32BE(at);
    at += 4;
    if (n === 0 || at + n > tx.length) return `transaction ${i}: ${n} bytes do not fit (${tx.length - at} left)`;
    out.push(tx.subarray(at, at + n));
    at += n;
  }
  if (at !== tx.length) return `${tx.length - at} bytes after the last of ${count} transactions`;
  return out;
}
