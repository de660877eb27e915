/**
 * CometBFT's commit as the ledger's commit trailer (docs/ledger.md
 * "Blocks"), and the verifier `audit verify` needs for it.
 *
 * One key per validator: the ledger's genesis validator key IS the
 * validator's CometBFT Ed25519 key (its SPKI DER). So the proposer seal of
 * a block, the precommit signatures in its trailer and the CometBFT
 * validator set are checked against the same public keys, and an auditor
 * needs nothing but the ledger genesis to re-check every precommit.
 *
 * The trailer keeps only the precommits for the block (flag COMMIT); the
 * context carries what CometBFT's canonical vote sign bytes need besides the
 * signatures: the CometBFT height, the round and the block id.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CometRpcError, type CometRpc } from '../abci/index.js';
import {
  LedgerDecodeError, Reader, Writer, hex, keyIdOf, verifyBytes, type Block, type Commit, type CommitSignature, type Genesis,
  type GenesisValidator, type Signer,
} from '../ledger/index.js';
import { ReplicatedLogError } from './errors.js';
import { encodeSeal } from './seal.js';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A CometBFT validator key as the ledger sees it. */
export interface CometValidatorKey {
  /** CometBFT's address: SHA-256 of the raw public key, first 20 bytes. */
  address: Buffer;
  /** Raw 32-byte Ed25519 public key. */
  rawPublicKey: Buffer;
  /** SPKI DER, base64: the ledger genesis validator's publicKey. */
  publicKey: string;
  /** SHA-256 of the SPKI DER, hex: the ledger key id. */
  keyId: string;
}

export function cometAddress(rawPublicKey: Uint8Array): Buffer {
  return createHash('sha256').update(rawPublicKey).digest().subarray(0, 20);
}

export function validatorKeyFromRaw(rawPublicKey: Buffer): CometValidatorKey {
  if (rawPublicKey.length !== 32) throw new ReplicatedLogError('bad-validator-key', `an Ed25519 public key is 32 bytes, not ${rawPublicKey.length}`);
  const spki = Buffer.concat([SPKI_ED25519_PREFIX, rawPublicKey]);
  return { address: cometAddress(rawPublicKey), rawPublicKey, publicKey: spki.toString('base64'), keyId: keyIdOf(spki).toString('hex') };
}

/** The raw key inside a ledger validator's SPKI (undefined when it is not Ed25519: it cannot be a CometBFT validator). */
export function rawPublicKeyOf(v: Pick<GenesisValidator, 'publicKey'>): Buffer | undefined {
  const spki = Buffer.from(v.publicKey, 'base64');
  if (spki.length !== 44 || !spki.subarray(0, 12).equals(SPKI_ED25519_PREFIX)) return undefined;
  return spki.subarray(12);
}

export interface CometValidatorSigner extends CometValidatorKey {
  signer: Signer;
}

/**
 * A CometBFT home's priv_validator_key.json as a ledger signer: the proposer
 * seals its blocks with the key it votes with.
 */
export function readCometValidatorSigner(home: string): CometValidatorSigner {
  const path = join(home, 'config', 'priv_validator_key.json');
  let priv: Buffer;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { priv_key?: { type?: unknown; value?: unknown } };
    if (j.priv_key?.type !== 'tendermint/PrivKeyEd25519' || typeof j.priv_key.value !== 'string') throw new Error('no tendermint/PrivKeyEd25519 priv_key');
    priv = Buffer.from(j.priv_key.value, 'base64');
  } catch (e) {
    throw new ReplicatedLogError('bad-validator-key', `${path}: ${(e as Error).message}`);
  }
  if (priv.length !== 64) throw new ReplicatedLogError('bad-validator-key', `${path}: an Ed25519 private key is 64 bytes (seed, public key), not ${priv.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, priv.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  const raw = Buffer.from(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })).subarray(12);
  if (!raw.equals(priv.subarray(32))) throw new ReplicatedLogError('bad-validator-key', `${path}: the public half does not match the seed`);
  const key = validatorKeyFromRaw(raw);
  return { ...key, signer: { alg: 'ed25519', keyId: Buffer.from(key.keyId, 'hex'), privateKey } };
}

// ---------------------------------------------------------------- context

/** What the precommits were for, besides the signatures. */
export interface CometCommitContext {
  /** CometBFT's height (not the ledger's: CometBFT heights without ledger transactions make no ledger block). */
  cometHeight: number;
  round: number;
  /** CometBFT block id: hash and part set header. */
  blockHash: Buffer;
  partsTotal: number;
  partsHash: Buffer;
  /**
   * CometBFT's header as the leaves its hash is the Merkle root of (version,
   * chain id, height, time, last block id, last commit hash, data hash,
   * validators hash, next validators hash, consensus hash, app hash, last
   * results hash, evidence hash, proposer address; types/block.go
   * Header.Hash): what ties the block id the precommits sign to this ledger
   * block's transactions (data hash) and proposer.
   */
  header: Buffer[];
}

const CONTEXT_VERSION = 2;
const HEADER_FIELDS = 14;
const H_CHAIN = 1;
const H_HEIGHT = 2;
const H_DATA = 6;
const H_PROPOSER = 13;

export function encodeCommitContext(c: CometCommitContext): Buffer {
  if (c.header.length !== HEADER_FIELDS) throw new RangeError(`a CometBFT header has ${HEADER_FIELDS} fields, not ${c.header.length}`);
  const w = new Writer(1 + 8 + 4 + 32 + 4 + 32 + c.header.reduce((n, l) => n + 2 + l.length, 0)).u8(CONTEXT_VERSION, 'context.version').u64(c.cometHeight, 'context.cometHeight').u32(c.round, 'context.round')
    .fixed(c.blockHash, 32, 'context.blockHash').u32(c.partsTotal, 'context.partsTotal').fixed(c.partsHash, 32, 'context.partsHash');
  for (const [i, l] of c.header.entries()) w.bytes16(l, `context.header[${i}]`);
  return w.finish();
}

export function decodeCommitContext(b: Buffer): CometCommitContext {
  const r = new Reader(b);
  const v = r.u8('context.version');
  if (v !== CONTEXT_VERSION) throw new LedgerDecodeError('context.version', 0, `unknown version ${v}`);
  const c = {
    cometHeight: r.u64('context.cometHeight'), round: r.u32('context.round'), blockHash: r.bytes(32, 'context.blockHash'), partsTotal: r.u32('context.partsTotal'), partsHash: r.bytes(32, 'context.partsHash'),
    header: Array.from({ length: HEADER_FIELDS }, (_, i) => r.bytes16(`context.header[${i}]`)),
  };
  r.done('context');
  return c;
}

// ---------------------------------------------------------------- CometBFT's header and data hash

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** CometBFT's merkle.HashFromByteSlices (RFC 6962: 0x00 leaves, 0x01 inner nodes, split at the largest power of two below n). */
export function cometMerkleRoot(items: readonly Uint8Array[]): Buffer {
  if (items.length === 0) return sha256();
  if (items.length === 1) return sha256(Buffer.from([0]), items[0]!);
  let k = 1;
  while (k * 2 < items.length) k *= 2;
  return sha256(Buffer.from([1]), cometMerkleRoot(items.slice(0, k)), cometMerkleRoot(items.slice(k)));
}

/** A block's data hash: the Merkle root over SHA-256 of each transaction (types/tx.go Txs.Hash). */
export function cometDataHash(txs: readonly Uint8Array[]): Buffer {
  return cometMerkleRoot(txs.map((t) => sha256(t)));
}

/** gogoproto wrappers (StringValue, Int64Value, BytesValue): field 1, left out when zero or empty. */
const bytesValue = (b: Buffer): Buffer => (b.length === 0 ? Buffer.alloc(0) : field(0x0a, b));
const uvarintField = (tag: number, n: number | bigint): Buffer => (BigInt(n) === 0n ? Buffer.alloc(0) : Buffer.concat([Buffer.from([tag]), varint(n)]));

// ---------------------------------------------------------------- vote sign bytes

function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

const field = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), varint(body.length), body]);

function sfixed64(tag: number, v: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = tag;
  b.writeBigInt64LE(BigInt(v), 1);
  return b;
}

const PRECOMMIT = 2;

/**
 * CometBFT v0.38's VoteSignBytes for a precommit for a block: the
 * length-delimited protobuf of CanonicalVote (types/vote.go,
 * proto/tendermint/types/canonical.proto), as gogoproto writes it: proto3
 * zero values left out, except the non-nullable part set header and
 * timestamp, which are always written.
 */
export function precommitSignBytes(chainId: string, c: CometCommitContext, timestampNs: bigint): Buffer {
  const parts: Buffer[] = [Buffer.from([0x08, PRECOMMIT])];
  if (c.cometHeight !== 0) parts.push(sfixed64(0x11, c.cometHeight));
  if (c.round !== 0) parts.push(sfixed64(0x19, c.round));
  const psh = Buffer.concat([c.partsTotal !== 0 ? Buffer.concat([Buffer.from([0x08]), varint(c.partsTotal)]) : Buffer.alloc(0), c.partsHash.length > 0 ? field(0x12, c.partsHash) : Buffer.alloc(0)]);
  parts.push(field(0x22, Buffer.concat([c.blockHash.length > 0 ? field(0x0a, c.blockHash) : Buffer.alloc(0), field(0x12, psh)])));
  const seconds = timestampNs / 1_000_000_000n;
  const nanos = timestampNs % 1_000_000_000n;
  const ts = Buffer.concat([seconds !== 0n ? Buffer.concat([Buffer.from([0x08]), varint(seconds)]) : Buffer.alloc(0), nanos !== 0n ? Buffer.concat([Buffer.from([0x10]), varint(nanos)]) : Buffer.alloc(0)]);
  parts.push(field(0x2a, ts));
  if (chainId !== '') parts.push(field(0x32, Buffer.from(chainId, 'utf8')));
  const msg = Buffer.concat(parts);
  return Buffer.concat([varint(msg.length), msg]);
}

// ---------------------------------------------------------------- verifier

/**
 * The commit verifier for verifyLog (AuditOptions.verifyCommit): every
 * precommit in the trailer must be by a distinct genesis validator and
 * verify over CometBFT's canonical vote for the context's block id, and
 * they must be more than 2/3 of the validators. Voting power is taken as
 * equal (the ledger genesis does not carry it; createLocalNetwork and
 * deployments give every operator the same power).
 */
export function verifyCometCommit(block: Block, genesis: Genesis): string | undefined {
  const commit = block.commit;
  if (commit === undefined) return 'the block carries no commit';
  let ctx: CometCommitContext;
  try {
    ctx = decodeCommitContext(commit.context);
  } catch (e) {
    return `commit context: ${(e as Error).message}`;
  }
  const byId = new Map(genesis.validators.map((v) => [v.keyId, v]));
  const signed = new Set<string>();
  for (const [i, s] of commit.signatures.entries()) {
    const id = hex(s.validatorKeyId);
    const v = byId.get(id);
    if (v === undefined) return `commit signature ${i}: ${id} is not a genesis validator`;
    if (signed.has(id)) return `commit signature ${i}: validator ${v.name} signed twice`;
    const raw = rawPublicKeyOf(v);
    if (raw === undefined) return `validator ${v.name} has no Ed25519 key: it cannot sign CometBFT votes`;
    const key: KeyObject = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    if (!verifyBytes('ed25519', key, precommitSignBytes(genesis.chainId, ctx, s.timestamp), s.signature)) {
      return `commit signature ${i} of validator ${v.name} does not verify over the precommit for CometBFT block ${hex(ctx.blockHash)} (height ${ctx.cometHeight}, round ${ctx.round})`;
    }
    signed.add(id);
  }
  if (3 * signed.size <= 2 * genesis.validators.length) return `${signed.size} of ${genesis.validators.length} validators signed: not more than 2/3`;
  return checkHeader(block, genesis, ctx);
}

/** The block id the precommits sign is CometBFT's block of exactly this ledger block: its transactions, then its proposer's seal. */
function checkHeader(block: Block, genesis: Genesis, ctx: CometCommitContext): string | undefined {
  const h = ctx.header;
  if (!cometMerkleRoot(h).equals(ctx.blockHash)) return `the CometBFT header in the commit context does not hash to the block id the precommits sign (${hex(ctx.blockHash)})`;
  if (!h[H_CHAIN]!.equals(bytesValue(Buffer.from(genesis.chainId, 'utf8')))) return `the CometBFT header is of another chain than ${genesis.chainId}`;
  if (!h[H_HEIGHT]!.equals(uvarintField(0x08, ctx.cometHeight))) return `the CometBFT header is not of height ${ctx.cometHeight}`;
  const data = cometDataHash([...block.transactions, encodeSeal(block.proposerKeyId, block.signature)]);
  if (!h[H_DATA]!.equals(bytesValue(data))) return `CometBFT block ${hex(ctx.blockHash)} (height ${ctx.cometHeight}) holds other transactions than ledger block ${block.height} and its seal`;
  const proposer = genesis.validators.find((v) => v.keyId === hex(block.proposerKeyId));
  const raw = proposer === undefined ? undefined : rawPublicKeyOf(proposer);
  if (raw === undefined || !h[H_PROPOSER]!.equals(bytesValue(cometAddress(raw)))) return `CometBFT block ${hex(ctx.blockHash)} was proposed by another validator than the ledger block's proposer`;
  return undefined;
}

// ---------------------------------------------------------------- from the RPC

/** RFC 3339 with up to 9 fraction digits (CometBFT's vote times) as ns since the epoch. */
export function parseRfc3339Ns(s: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) throw new ReplicatedLogError('rpc', `${JSON.stringify(s)} is not an RFC 3339 UTC time`);
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) throw new ReplicatedLogError('rpc', `${s} is not a time`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** Where the app gets the commit of a CometBFT height (its own validator's RPC). */
export interface CommitSource {
  /** The canonical commit (the one in the next block's LastCommit), or undefined while there is none yet. */
  canonicalCommit(cometHeight: number): Promise<Commit | undefined>;
}

type Json = Record<string, unknown>;
const obj = (v: unknown, what: string): Json => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ReplicatedLogError('rpc', `commit: ${what} is not an object`);
  return v as Json;
};
const int = (v: unknown, what: string): number => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ReplicatedLogError('rpc', `commit: ${what} is not an integer`);
  return n;
};
const hexBytes = (v: unknown, what: string): Buffer => {
  if (typeof v !== 'string' || !/^([0-9A-Fa-f]{2})*$/.test(v)) throw new ReplicatedLogError('rpc', `commit: ${what} is not hex`);
  return Buffer.from(v, 'hex');
};

/** The header's hash leaves from CometBFT's JSON (proto encodings as Header.Hash makes them). */
export function headerLeaves(h: Json): Buffer[] {
  const version = obj(h.version, 'header.version');
  const lastId = obj(h.last_block_id, 'header.last_block_id');
  const lastParts = obj(lastId.parts, 'header.last_block_id.parts');
  const ns = parseRfc3339Ns(String(h.time));
  const partsHash = hexBytes(lastParts.hash, 'last_block_id.parts.hash');
  const psh = Buffer.concat([uvarintField(0x08, int(lastParts.total, 'last_block_id.parts.total')), partsHash.length === 0 ? Buffer.alloc(0) : field(0x12, partsHash)]);
  const hashOf = (k: string): Buffer => bytesValue(hexBytes(h[k], `header.${k}`));
  return [
    Buffer.concat([uvarintField(0x08, int(version.block, 'version.block')), uvarintField(0x10, int(version.app ?? 0, 'version.app'))]),
    bytesValue(Buffer.from(String(h.chain_id), 'utf8')),
    uvarintField(0x08, int(h.height, 'header.height')),
    Buffer.concat([uvarintField(0x08, ns / 1_000_000_000n), uvarintField(0x10, ns % 1_000_000_000n)]),
    Buffer.concat([bytesValue(hexBytes(lastId.hash, 'last_block_id.hash')), field(0x12, psh)]),
    hashOf('last_commit_hash'), hashOf('data_hash'), hashOf('validators_hash'), hashOf('next_validators_hash'), hashOf('consensus_hash'),
    hashOf('app_hash'), hashOf('last_results_hash'), hashOf('evidence_hash'), hashOf('proposer_address'),
  ];
}

/**
 * Reads /commit of a height and keeps the precommits for the block.
 * CometRpc.commit() does not return the part set header or the canonical
 * flag, both of which this needs, hence the raw call.
 */
export class RpcCommitSource implements CommitSource {
  private readonly byAddress: Map<string, Buffer>;

  constructor(private readonly rpc: CometRpc, genesis: Genesis) {
    this.byAddress = new Map();
    for (const v of genesis.validators) {
      const raw = rawPublicKeyOf(v);
      if (raw !== undefined) this.byAddress.set(cometAddress(raw).toString('hex').toUpperCase(), Buffer.from(v.keyId, 'hex'));
    }
  }

  async canonicalCommit(cometHeight: number): Promise<Commit | undefined> {
    let result: unknown;
    try {
      result = await this.rpc.call('commit', { height: String(cometHeight) }, 5000);
    } catch (e) {
      if (e instanceof CometRpcError) return undefined;
      throw e;
    }
    const r = obj(result, 'result');
    if (r.canonical !== true) return undefined;
    const sh = obj(r.signed_header, 'signed_header');
    const c = obj(sh.commit, 'commit');
    if (int(c.height, 'height') !== cometHeight) throw new ReplicatedLogError('rpc', `commit of height ${cometHeight} says height ${String(c.height)}`);
    const bid = obj(c.block_id, 'block_id');
    const parts = obj(bid.parts, 'block_id.parts');
    const ctx: CometCommitContext = {
      cometHeight, round: int(c.round ?? 0, 'round'), blockHash: hexBytes(bid.hash, 'block_id.hash'),
      partsTotal: int(parts.total, 'parts.total'), partsHash: hexBytes(parts.hash, 'parts.hash'), header: headerLeaves(obj(sh.header, 'header')),
    };
    const signatures: CommitSignature[] = [];
    for (const [i, x] of (Array.isArray(c.signatures) ? c.signatures : []).entries()) {
      const s = obj(x, `signatures[${i}]`);
      if (int(s.block_id_flag, `signatures[${i}].block_id_flag`) !== 2) continue;
      const keyId = this.byAddress.get(String(s.validator_address).toUpperCase());
      if (keyId === undefined) throw new ReplicatedLogError('rpc', `commit of height ${cometHeight}: validator ${String(s.validator_address)} is not in the ledger genesis`);
      signatures.push({ validatorKeyId: keyId, timestamp: parseRfc3339Ns(String(s.timestamp)), signature: Buffer.from(String(s.signature), 'base64') });
    }
    return { context: encodeCommitContext(ctx), signatures };
  }
}
