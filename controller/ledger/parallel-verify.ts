/**
 * Signature verification ahead of validation, on other threads.
 *
 * validate() verifies one signature per transaction on the calling thread,
 * and Ed25519 verification is most of what validation costs. A caller that
 * has a batch in hand (the benchmark, a replica replaying a block) can start
 * the batch's verifications here (Ed25519: libsodium through koffi's
 * asynchronous calls; RSA: Node's asynchronous crypto.verify on the thread
 * pool) while its own thread validates and appends the previous batch; the results then reach
 * validate() through ValidationContext.verifySignature.
 *
 * The hook must answer exactly as verifyBytes would, so a result is used
 * only when it was computed over the same bytes, with the key the registry
 * now holds for the transaction, and for the same unsigned/signature split
 * the strict decoder found; anything else is verified inline.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { ed25519VerifyAsync } from './ed25519.js';
import { ALG_OF_BYTE, KEY_ID_LENGTH, SIGNATURE_LENGTH, verifyBytes, type KeyAlg, type KeyEntry, type KeyRegistry } from './keys.js';
import type { Transaction } from './transaction.js';

interface Result {
  alg: KeyAlg;
  publicKey: KeyObject;
  unsignedLength: number;
  ok: boolean;
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

/** Header bytes before the key id: version, type, alg. */
const KEY_ID_AT = 3;

export class ParallelVerifier {
  /** Keyed by the signed bytes' Buffer: validate() sees the same object the caller passes to submit. */
  private results = new WeakMap<Buffer, Result>();
  /** How many hook calls found a usable result, and how many fell back to verifying inline. */
  readonly stats = { ahead: 0, inline: 0 };

  constructor(private readonly registry: KeyRegistry) {}

  /**
   * Starts verifying each transaction's signature on the thread pool;
   * resolves when all are done. Bytes that do not parse far enough to find a
   * key and a signature get no result (validate() refuses or verifies them
   * itself). The caller must not modify the buffers afterwards.
   */
  verifyAhead(txs: readonly Buffer[]): Promise<void> {
    let left = 0;
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => { done = resolve; });
    for (const bytes of txs) {
      const alg = ALG_OF_BYTE.get(bytes[2] ?? -1);
      if (alg === undefined || bytes.length < KEY_ID_AT + KEY_ID_LENGTH) continue;
      const entry = this.registry.get(bytes.subarray(KEY_ID_AT, KEY_ID_AT + KEY_ID_LENGTH));
      const sigLength = SIGNATURE_LENGTH[alg];
      const unsignedLength = bytes.length - 2 - sigLength;
      if (entry === undefined || unsignedLength <= KEY_ID_AT + KEY_ID_LENGTH) continue;
      const data = bytes.subarray(0, unsignedLength);
      const signature = bytes.subarray(unsignedLength + 2);
      const publicKey = entry.publicKey;
      const record = (e: Error | null, ok: boolean): void => {
        this.results.set(bytes, { alg, publicKey, unsignedLength, ok: e === null && ok });
        if (--left === 0) done();
      };
      left++;
      try {
        if (alg === 'ed25519') ed25519VerifyAsync(publicKey, data, signature, (ok) => record(null, ok));
        else verify('sha256', data, { key: publicKey, ...PSS }, signature, record);
      } catch (e) {
        // Argument errors are thrown synchronously; verifyBytes would say false.
        record(e as Error, false);
      }
    }
    if (left === 0) done();
    return all;
  }

  /** The ValidationContext hook: the result verified ahead when it is for this very check, else verifyBytes. */
  readonly verifySignature = (tx: Transaction, key: KeyEntry): boolean => {
    const r = this.results.get(tx.bytes);
    if (r !== undefined && r.alg === tx.alg && r.publicKey === key.publicKey && r.unsignedLength === tx.unsigned.length) {
      this.results.delete(tx.bytes);
      this.stats.ahead++;
      return r.ok;
    }
    this.stats.inline++;
    return verifyBytes(tx.alg, key.publicKey, tx.unsigned, tx.signature);
  };

  /** Drops every result not used yet. */
  clear(): void {
    this.results = new WeakMap();
  }
}
