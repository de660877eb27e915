/**
 * The proposer's seal: the last CometBFT transaction of a block that carries
 * ledger transactions, holding the proposer's signature over the ledger
 * block (docs/ledger.md, replicated mode). It is part of the CometBFT block
 * (its data hash covers it), never of the ledger block, which keeps the
 * signature in its header instead; an auditor rebuilds it from there.
 */

/** First bytes of a seal: 0x00 can start no ledger transaction (their version byte is 1). */
export const SEAL_PREFIX: Buffer = Buffer.from('\x00esfc-seal', 'latin1');
export const SEAL_LENGTH = SEAL_PREFIX.length + 32 + 64;

export function isSeal(tx: Buffer): boolean {
  return tx.length > 0 && tx[0] === 0;
}

export function encodeSeal(keyId: Buffer, signature: Buffer): Buffer {
  return Buffer.concat([SEAL_PREFIX, keyId, signature]);
}

export function decodeSeal(tx: Buffer): { keyId: Buffer; signature: Buffer } | undefined {
  if (tx.length !== SEAL_LENGTH || !tx.subarray(0, SEAL_PREFIX.length).equals(SEAL_PREFIX)) return undefined;
  return { keyId: tx.subarray(SEAL_PREFIX.length, SEAL_PREFIX.length + 32), signature: tx.subarray(SEAL_PREFIX.length + 32) };
}
