/**
 * What `esfc bench ledger` feeds the log: requests whose instruction (the
 * RESTCONF body) has an exact size, and a stand-in InstructionModel for
 * them. The stand-in parses the body and accepts any chain write by tenant
 * acme: the ledger's own work (decode, signature, rules, blocks, fsync) is
 * what the throughput rows measure, not the controller's YANG check, whose
 * cost is in the added-delay row (a real controller).
 */
import { constants, sign } from 'node:crypto';
import {
  encodeUnsigned, txId, type InstructionModel, type Method, type Request, type Signer, type SignedTransaction, type UnsignedTransaction,
} from '../controller/ledger/index.js';

export const CHAINS = '/restconf/data/esfc-intent:chains';
export const BENCH_TENANT = 'acme';
export const BENCH_DOMAIN = 'dom-a';

/** A JSON object of exactly `size` bytes (size >= 8): {"d":"xxx..."}. */
export function instruction(size: number): string {
  if (size < 8) throw new RangeError(`an instruction is at least 8 bytes, not ${size}`);
  return `{"d":"${'x'.repeat(size - 8)}"}`;
}

export const chainPath = (i: number): string => `${CHAINS}/chain=c${i % 100}`;

export const benchModel: InstructionModel = {
  check(method: Method, path: string, body: string) {
    if (!path.startsWith(`${CHAINS}/chain=`)) return `${path} is not a chain`;
    if (method !== 'DELETE') JSON.parse(body);
    return undefined;
  },
  tenantsTouched: () => [BENCH_TENANT],
  domainsOf: (_r: Request) => [BENCH_DOMAIN],
};

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

/**
 * Signs every transaction on libuv's thread pool (RSA-PSS signing is a
 * millisecond each: doing thousands inline would cost more than the run).
 * Same bytes as signTransaction: unsigned || u16 length || signature.
 */
export function signAll(signer: Signer, txs: readonly UnsignedTransaction[]): Promise<SignedTransaction[]> {
  return Promise.all(txs.map((tx) => new Promise<SignedTransaction>((resolve, reject) => {
    const unsigned = encodeUnsigned(tx);
    const done = (e: Error | null, sig: Buffer): void => {
      if (e) return reject(e);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(sig.length);
      resolve({ bytes: Buffer.concat([unsigned, len, sig]), id: txId(unsigned) });
    };
    if (signer.alg === 'ed25519') sign(null, unsigned, signer.privateKey, done);
    else sign('sha256', unsigned, { key: signer.privateKey, ...PSS }, done);
  })));
}
