/**
 * Blocks (docs/ledger.md "Blocks"). The block bytes (header and the signed
 * transactions) are what is hashed; the proposer signs that hash. The
 * stored block appends the proposer signature and, in replicated mode, the
 * validators' commit signatures: those are made after the block is decided,
 * so they cannot be inside the hashed bytes; their meaning (CometBFT vote
 * sign bytes) belongs to the replicated mode, which passes a verifier.
 */
import { LedgerDecodeError, LedgerEncodeError, Reader, Writer } from './codec.js';
import { HASH_LENGTH, sha256 } from './hash.js';
import { merkleRoot } from './merkle.js';
import { KEY_ID_LENGTH, SIGNATURE_LENGTH, signBytes, verifyBytes, type KeyAlg, type Signer } from './keys.js';
import type { KeyObject } from 'node:crypto';

export const BLOCK_VERSION = 1;
export const ZERO_HASH: Buffer = Buffer.alloc(HASH_LENGTH);
/** version, height, previous hash, time, transaction root, proposer key id, transaction count. */
const HEADER_LENGTH = 1 + 8 + HASH_LENGTH + 8 + HASH_LENGTH + KEY_ID_LENGTH + 4;

export interface BlockHeader {
  height: number;
  previousHash: Buffer;
  /** ms since the Unix epoch */
  time: number;
  txRoot: Buffer;
  proposerKeyId: Buffer;
}

/** One validator's signature on the commit of a height (CometBFT: a precommit vote). */
export interface CommitSignature {
  /** The validator's key id as in the genesis (32 bytes). */
  validatorKeyId: Buffer;
  /** ns since the Unix epoch: CometBFT's vote sign bytes carry the vote time at ns precision. */
  timestamp: bigint;
  signature: Buffer;
}

/**
 * The commit of a height in replicated mode. `context` is opaque bytes the
 * verifier needs besides the signatures (for CometBFT: the round and the
 * CometBFT block id the votes are for, which are not part of our block).
 */
export interface Commit {
  context: Buffer;
  signatures: CommitSignature[];
}

export interface Block extends BlockHeader {
  /** The signed transactions, in order (views into `stored`). */
  transactions: Buffer[];
  /** SHA-256 of `body`. */
  hash: Buffer;
  /** The proposer's signature over `hash` (empty for block 0). */
  signature: Buffer;
  commit?: Commit;
  /** The hashed bytes: header and transactions. */
  body: Buffer;
  /** The block as stored: body, signature, commit. */
  stored: Buffer;
}

export function blockHash(body: Uint8Array): Buffer {
  return sha256(body);
}

function commitLength(c: Commit | undefined): number {
  if (c === undefined) return 4;
  return 4 + c.context.length + c.signatures.reduce((n, s) => n + KEY_ID_LENGTH + 8 + 2 + s.signature.length, 0);
}

function writeTrailer(w: Writer, signature: Uint8Array, commit: Commit | undefined): void {
  w.bytes16(signature, 'block.signature');
  w.bytes16(commit?.context ?? Buffer.alloc(0), 'block.commit.context');
  const sigs = commit?.signatures ?? [];
  w.u16(sigs.length, 'block.commit.count');
  sigs.forEach((s, i) => {
    w.fixed(s.validatorKeyId, KEY_ID_LENGTH, `block.commit[${i}].validatorKeyId`).u64big(s.timestamp, `block.commit[${i}].timestamp`)
      .bytes16(s.signature, `block.commit[${i}].signature`);
  });
}

function writeBody(w: Writer, h: BlockHeader, txs: readonly Buffer[]): void {
  w.u8(BLOCK_VERSION, 'block.version').u64(h.height, 'block.height').fixed(h.previousHash, HASH_LENGTH, 'block.previousHash')
    .u64(h.time, 'block.time').fixed(h.txRoot, HASH_LENGTH, 'block.txRoot').fixed(h.proposerKeyId, KEY_ID_LENGTH, 'block.proposerKeyId')
    .u32(txs.length, 'block.count');
  txs.forEach((t, i) => w.bytes32(t, `block.transaction[${i}]`));
}

function bodyLength(txs: readonly Buffer[]): number {
  let n = HEADER_LENGTH;
  for (const t of txs) n += 4 + t.length;
  return n;
}

/** The hashed bytes of a block. */
export function encodeBlockBody(h: BlockHeader, txs: readonly Buffer[]): Buffer {
  const w = new Writer(bodyLength(txs));
  writeBody(w, h, txs);
  return w.finish();
}

export interface NewBlock {
  height: number;
  previousHash: Buffer;
  time: number;
  /** Signed transactions, in block order. */
  transactions: Buffer[];
  /** Their ids, same order (the caller has them from validation; not recomputed). */
  txIds: Buffer[];
  proposer: Signer;
}

/** Builds, hashes and signs a block, writing its stored form in one buffer. */
export function makeBlock(b: NewBlock): Block {
  if (b.txIds.length !== b.transactions.length) throw new LedgerEncodeError('block.txIds', `${b.txIds.length} ids for ${b.transactions.length} transactions`);
  const header: BlockHeader = { height: b.height, previousHash: b.previousHash, time: b.time, txRoot: merkleRoot(b.txIds), proposerKeyId: b.proposer.keyId };
  const n = bodyLength(b.transactions);
  const w = new Writer(n + 2 + SIGNATURE_LENGTH[b.proposer.alg] + commitLength(undefined));
  writeBody(w, header, b.transactions);
  const body = w.finish();
  const hash = blockHash(body);
  const signature = signBytes(b.proposer, hash);
  writeTrailer(w, signature, undefined);
  const stored = w.finish();
  return { ...header, transactions: transactionViews(stored, b.transactions), hash, signature: stored.subarray(n + 2, n + 2 + signature.length), body: stored.subarray(0, n), stored };
}

function transactionViews(stored: Buffer, txs: readonly Buffer[]): Buffer[] {
  let at = HEADER_LENGTH;
  return txs.map((t) => {
    const v = stored.subarray(at + 4, at + 4 + t.length);
    at += 4 + t.length;
    return v;
  });
}

/** A block with its (replicated mode) commit attached: a new stored form, same hash. */
export function withCommit(block: Block, commit: Commit | undefined): Block {
  const w = new Writer(block.body.length + 2 + block.signature.length + commitLength(commit));
  w.bytes(block.body);
  writeTrailer(w, block.signature, commit);
  const stored = w.finish();
  const b: Block = { ...block, stored, body: stored.subarray(0, block.body.length), transactions: transactionViews(stored, block.transactions) };
  if (commit === undefined) delete b.commit;
  else b.commit = commit;
  return b;
}

/** A block with no transactions and no signature whose time and root are given (block 0). */
export function unsignedEmptyBlock(time: number, txRoot: Buffer): Block {
  const header: BlockHeader = { height: 0, previousHash: ZERO_HASH, time, txRoot, proposerKeyId: Buffer.alloc(KEY_ID_LENGTH) };
  const w = new Writer(HEADER_LENGTH + 2 + commitLength(undefined));
  writeBody(w, header, []);
  const body = w.finish();
  writeTrailer(w, Buffer.alloc(0), undefined);
  const stored = w.finish();
  return { ...header, transactions: [], hash: blockHash(body), signature: stored.subarray(HEADER_LENGTH + 2, HEADER_LENGTH + 2), body: stored.subarray(0, HEADER_LENGTH), stored };
}

/**
 * Strict decode of a stored block. Transactions are returned as views, not
 * decoded (the store and the audit decide how much to check).
 */
export function decodeStoredBlock(stored: Buffer): Block {
  const r = new Reader(stored);
  const version = r.u8('block.version');
  if (version !== BLOCK_VERSION) throw new LedgerDecodeError('block.version', 0, `unknown version ${version}`);
  const height = r.u64('block.height');
  const previousHash = r.bytes(HASH_LENGTH, 'block.previousHash');
  const time = r.u64('block.time');
  const txRoot = r.bytes(HASH_LENGTH, 'block.txRoot');
  const proposerKeyId = r.bytes(KEY_ID_LENGTH, 'block.proposerKeyId');
  const count = r.u32('block.count');
  // Each transaction takes at least its 4-byte length: refuse a count the bytes cannot hold before allocating for it.
  if (count > r.remaining / 4) throw new LedgerDecodeError('block.count', r.offset - 4, `${count} transactions cannot fit in ${r.remaining} bytes`);
  const transactions: Buffer[] = [];
  for (let i = 0; i < count; i++) transactions.push(r.bytes32(`block.transaction[${i}]`));
  const body = stored.subarray(0, r.offset);
  const sigAt = r.offset;
  const signature = r.bytes16('block.signature');
  if (height === 0 ? signature.length !== 0 : !(Object.values(SIGNATURE_LENGTH) as number[]).includes(signature.length)) {
    throw new LedgerDecodeError('block.signature', sigAt, `${signature.length} bytes is no proposer signature length${height === 0 ? ' (block 0 is unsigned)' : ''}`);
  }
  const context = r.bytes16('block.commit.context');
  const n = r.u16('block.commit.count');
  const signatures: CommitSignature[] = [];
  for (let i = 0; i < n; i++) {
    signatures.push({
      validatorKeyId: r.bytes(KEY_ID_LENGTH, `block.commit[${i}].validatorKeyId`),
      timestamp: r.u64big(`block.commit[${i}].timestamp`),
      signature: r.bytes16(`block.commit[${i}].signature`),
    });
  }
  r.done('block');
  const block: Block = { height, previousHash, time, txRoot, proposerKeyId, transactions, hash: blockHash(body), signature, body, stored };
  if (context.length > 0 || signatures.length > 0) block.commit = { context, signatures };
  return block;
}

export function verifyBlockSignature(block: Block, alg: KeyAlg, key: KeyObject): boolean {
  return block.signature.length === SIGNATURE_LENGTH[alg] && verifyBytes(alg, key, block.hash, block.signature);
}
