/**
 * Request and response transactions (docs/ledger.md "Canonical encoding").
 * A signed transaction is `unsigned || u16 signature length || signature`;
 * its id is SHA-256 of the unsigned bytes, so re-signing (RSA-PSS is
 * randomised) or malleating a signature yields the same id: a duplicate.
 * Decoding is strict and returns views into the input (no copies): the
 * validator runs it on every submitted transaction.
 */
import { randomBytes } from 'node:crypto';
import { LedgerDecodeError, LedgerEncodeError, Reader, Writer, utf8Length } from './codec.js';
import { HASH_LENGTH, hex, sha256 } from './hash.js';
import { ALG_BYTE, ALG_OF_BYTE, KEY_ID_LENGTH, SIGNATURE_LENGTH, signBytes, type KeyAlg, type Signer } from './keys.js';

export const TX_VERSION = 1;
export const NONCE_LENGTH = 16;

export type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export const METHODS: readonly Method[] = ['POST', 'PUT', 'PATCH', 'DELETE'];
const METHOD_BYTE: Readonly<Record<Method, number>> = { POST: 1, PUT: 2, PATCH: 3, DELETE: 4 };

export type Outcome = 'ok' | 'error';

export interface UnsignedRequest {
  type: 'request';
  alg: KeyAlg;
  /** The sender's key id (32 bytes). */
  keyId: Buffer;
  /** ms since the Unix epoch */
  timestamp: number;
  nonce: Buffer;
  method: Method;
  /** RESTCONF data resource path, e.g. /restconf/data/esfc-intent:chains/chain=web, or an operation's (/restconf/operations/esfc-intent:rekey) */
  path: string;
  /** RFC 7951 JSON as sent; '' for DELETE. */
  body: string;
}

export interface UnsignedResponse {
  type: 'response';
  alg: KeyAlg;
  /** The orchestrator's key id (32 bytes). */
  keyId: Buffer;
  timestamp: number;
  requestId: Buffer;
  outcome: Outcome;
  /** `{"revision":N}` when ok, the RFC 8040 ietf-restconf:errors body when not. */
  result: string;
}

export type UnsignedTransaction = UnsignedRequest | UnsignedResponse;

/** What decoding a signed transaction adds. Buffers are views into `bytes`. */
export interface SignedParts {
  /** SHA-256 of `unsigned`. */
  id: Buffer;
  /** `id` in hex: the key of every index and the id in JSON. */
  idHex: string;
  /** The signed bytes (what was signed). */
  unsigned: Buffer;
  signature: Buffer;
  /** The whole signed transaction. */
  bytes: Buffer;
}

export type Request = UnsignedRequest & SignedParts;
export type Response = UnsignedResponse & SignedParts;
export type Transaction = Request | Response;

const HEAD = 1 + 1 + 1 + KEY_ID_LENGTH + 8;
const REQUEST_FIXED = HEAD + NONCE_LENGTH + 1 + 2 + 4;
const RESPONSE_FIXED = HEAD + HASH_LENGTH + 1 + 4;

function unsignedLength(tx: UnsignedTransaction): number {
  return tx.type === 'request'
    ? REQUEST_FIXED + utf8Length(tx.path) + utf8Length(tx.body)
    : RESPONSE_FIXED + utf8Length(tx.result);
}

function writeUnsigned(w: Writer, tx: UnsignedTransaction): void {
  const t = tx.type;
  if (!(tx.alg in ALG_BYTE)) throw new LedgerEncodeError(`${t}.alg`, `unknown algorithm ${String(tx.alg)}`);
  w.u8(TX_VERSION, `${t}.version`).u8(t === 'request' ? 1 : 2, `${t}.type`).u8(ALG_BYTE[tx.alg], `${t}.alg`)
    .fixed(tx.keyId, KEY_ID_LENGTH, `${t}.keyId`).u64(tx.timestamp, `${t}.timestamp`);
  if (tx.type === 'request') {
    const m = METHOD_BYTE[tx.method];
    if (m === undefined) throw new LedgerEncodeError('request.method', `unknown method ${String(tx.method)}`);
    if (tx.method === 'DELETE' && tx.body !== '') throw new LedgerEncodeError('request.body', 'a DELETE has no body');
    w.fixed(tx.nonce, NONCE_LENGTH, 'request.nonce').u8(m, 'request.method')
      .string16(tx.path, 'request.path').string32(tx.body, 'request.body');
  } else {
    if (tx.outcome !== 'ok' && tx.outcome !== 'error') throw new LedgerEncodeError('response.outcome', `unknown outcome ${String(tx.outcome)}`);
    w.fixed(tx.requestId, HASH_LENGTH, 'response.requestId').u8(tx.outcome === 'ok' ? 0 : 1, 'response.outcome')
      .string32(tx.result, 'response.result');
  }
}

/** The canonical unsigned bytes (what is signed and hashed into the id). */
export function encodeUnsigned(tx: UnsignedTransaction): Buffer {
  const w = new Writer(unsignedLength(tx));
  writeUnsigned(w, tx);
  return w.finish();
}

export function txId(unsigned: Uint8Array): Buffer {
  return sha256(unsigned);
}

export interface SignedTransaction {
  bytes: Buffer;
  id: Buffer;
}

/** Encodes and signs in one buffer (no copy of the unsigned part). */
export function signTransaction(tx: UnsignedTransaction, signer: Signer): SignedTransaction {
  if (signer.alg !== tx.alg) throw new LedgerEncodeError(`${tx.type}.alg`, `transaction says ${tx.alg}, the signer's key is ${signer.alg}`);
  if (!signer.keyId.equals(tx.keyId)) throw new LedgerEncodeError(`${tx.type}.keyId`, "the signer's key id is not the transaction's");
  const n = unsignedLength(tx);
  const sigLen = SIGNATURE_LENGTH[tx.alg];
  const w = new Writer(n + 2 + sigLen);
  writeUnsigned(w, tx);
  const unsigned = w.finish();
  const signature = signBytes(signer, unsigned);
  w.bytes16(signature, `${tx.type}.signature`);
  return { bytes: w.finish(), id: txId(unsigned) };
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Strict decode of a signed transaction (every `malformed` refusal of the
 * contract). Throws LedgerDecodeError; the result's buffers are views into
 * `bytes`, which the caller must not modify afterwards.
 */
export function decodeTransaction(bytes: Buffer): Transaction {
  const r = new Reader(bytes);
  const version = r.u8('transaction.version');
  if (version !== TX_VERSION) throw new LedgerDecodeError('transaction.version', 0, `unknown version ${version}`);
  const typeByte = r.u8('transaction.type');
  if (typeByte !== 1 && typeByte !== 2) throw new LedgerDecodeError('transaction.type', 1, `unknown type ${typeByte}`);
  const t = typeByte === 1 ? 'request' : 'response';
  const alg = ALG_OF_BYTE.get(r.u8(`${t}.alg`));
  if (alg === undefined) throw new LedgerDecodeError(`${t}.alg`, 2, `unknown algorithm ${bytes[2]}`);
  const keyId = r.bytes(KEY_ID_LENGTH, `${t}.keyId`);
  const timestamp = r.u64(`${t}.timestamp`);
  let fields: UnsignedTransaction;
  if (typeByte === 1) {
    const nonce = r.bytes(NONCE_LENGTH, 'request.nonce');
    const at = r.offset;
    const m = r.u8('request.method');
    const method = METHODS[m - 1];
    if (method === undefined) throw new LedgerDecodeError('request.method', at, `unknown method ${m}`);
    const path = r.string16('request.path');
    const bodyAt = r.offset;
    const body = r.string32('request.body');
    if (method === 'DELETE' ? body !== '' : body !== '' && !isJson(body)) {
      throw new LedgerDecodeError('request.body', bodyAt, method === 'DELETE' ? 'a DELETE has no body' : 'body is not JSON');
    }
    fields = { type: 'request', alg, keyId, timestamp, nonce, method, path, body };
  } else {
    const requestId = r.bytes(HASH_LENGTH, 'response.requestId');
    const at = r.offset;
    const o = r.u8('response.outcome');
    if (o > 1) throw new LedgerDecodeError('response.outcome', at, `unknown outcome ${o}`);
    const resultAt = r.offset;
    const result = r.string32('response.result');
    if (!isJson(result)) throw new LedgerDecodeError('response.result', resultAt, 'result is not JSON');
    fields = { type: 'response', alg, keyId, timestamp, requestId, outcome: o === 0 ? 'ok' : 'error', result };
  }
  const unsignedEnd = r.offset;
  const sigAt = r.offset;
  const signature = r.bytes16(`${t}.signature`);
  if (signature.length !== SIGNATURE_LENGTH[alg]) {
    throw new LedgerDecodeError(`${t}.signature`, sigAt, `${signature.length} bytes, ${alg} signatures are ${SIGNATURE_LENGTH[alg]}`);
  }
  r.done(t);
  const unsigned = bytes.subarray(0, unsignedEnd);
  const id = txId(unsigned);
  return Object.assign(fields, { id, idHex: id.toString('hex'), unsigned, signature, bytes }) as Transaction;
}

export interface NewRequest {
  method: Method;
  path: string;
  /** JSON text as it will be sent ('' for DELETE); objects are serialised with JSON.stringify. */
  body?: string | object;
  timestamp?: number;
  nonce?: Buffer;
}

/** A request's fields with a fresh random nonce and the current time unless given. */
export function newRequest(signer: Signer, r: NewRequest): UnsignedRequest {
  return {
    type: 'request', alg: signer.alg, keyId: signer.keyId, timestamp: r.timestamp ?? Date.now(),
    nonce: r.nonce ?? randomBytes(NONCE_LENGTH), method: r.method, path: r.path,
    body: r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body),
  };
}

export interface NewResponse {
  requestId: Buffer;
  outcome: Outcome;
  /** `{"revision":N}` for ok, the ietf-restconf:errors body for error. */
  result: string | object;
  timestamp?: number;
}

export function newResponse(signer: Signer, r: NewResponse): UnsignedResponse {
  return {
    type: 'response', alg: signer.alg, keyId: signer.keyId, timestamp: r.timestamp ?? Date.now(),
    requestId: r.requestId, outcome: r.outcome, result: typeof r.result === 'string' ? r.result : JSON.stringify(r.result),
  };
}

/** A transaction for humans and APIs: ids in hex, the signed bytes in base64 so anyone can re-verify. */
export type TransactionJson = {
  id: string;
  alg: KeyAlg;
  keyId: string;
  timestamp: number;
  time: string;
  signature: string;
  signed: string;
} & (
  | { type: 'request'; nonce: string; method: Method; path: string; body?: unknown }
  | { type: 'response'; requestId: string; outcome: Outcome; result: unknown }
);

export function transactionJson(tx: Transaction): TransactionJson {
  const common = {
    id: tx.idHex, alg: tx.alg, keyId: hex(tx.keyId), timestamp: tx.timestamp, time: new Date(tx.timestamp).toISOString(),
    signature: tx.signature.toString('base64'), signed: tx.bytes.toString('base64'),
  };
  if (tx.type === 'request') {
    const j: TransactionJson = { ...common, type: 'request', nonce: hex(tx.nonce), method: tx.method, path: tx.path };
    if (tx.body !== '') j.body = JSON.parse(tx.body) as unknown;
    return j;
  }
  return { ...common, type: 'response', requestId: hex(tx.requestId), outcome: tx.outcome, result: JSON.parse(tx.result) as unknown };
}
