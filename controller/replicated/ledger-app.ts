/**
 * The orchestration log as a CometBFT ABCI 2.0 application (docs/ledger.md,
 * replicated mode): one validator per operator, each running this app over
 * its own copy of the ledger.
 *
 * Mapping CometBFT onto the ledger:
 * - checkTx, prepareProposal, processProposal and finalizeBlock all run the
 *   ledger's one validate(). Only checkTx (mempool admission, not consensus)
 *   reads the local clock; the other three take "now" from CometBFT's block
 *   time, so every validator decides the same, also when replaying old blocks.
 * - A CometBFT block with ledger transactions makes one ledger block; a
 *   CometBFT block without any makes none (and leaves the app hash alone, so
 *   CometBFT stops after the proof block). Ledger heights are therefore not
 *   CometBFT heights; the commit trailer records the CometBFT height.
 * - The ledger block must be signed by its proposer over its hash, and every
 *   validator must store the same bytes. The proposer knows the whole block
 *   in prepareProposal (CometBFT's block time there is the final one), so it
 *   signs it there and appends the signature as a last "seal" transaction;
 *   processProposal rejects a proposal whose seal is missing or does not
 *   verify; finalizeBlock takes the signature from the seal. The proposer's
 *   ledger validator key is its CometBFT validator key (commit.ts).
 * - The app hash is the hash of the ledger's head block.
 * - A block becomes durable only with its commit trailer: the precommits that
 *   decided it, which exist only once the next CometBFT block carries them
 *   (its LastCommit). ABCI passes votes without signatures, so a sealer reads
 *   the canonical commit from the validator's RPC and appends the block then.
 *   Until that, the block lives in memory; after a crash, info() reports the
 *   CometBFT height of the last durable block and CometBFT replays the rest,
 *   which recomputes the same blocks (deterministic, seal included).
 */
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type {
  AbciApplication, AbciInfo, CheckTxRequest, CommitResult, FinalizeBlockRequest, FinalizeBlockResult, InitChainRequest,
  InitChainResult, PrepareProposalRequest, ProcessProposalRequest, QueryRequest, QueryResult, TxResult,
} from '../abci/index.js';
import { fitTxs } from '../abci/index.js';
import {
  KeyRegistry, REFUSAL_REASONS, blockHash, decodeTransaction, sha256, encodeBlockBody, genesisBlock, genesisJson, hex, merkleRoot, parseGenesis, signBytes,
  chainOfRequest, checkEd25519, validate, verifyBytes, withCommit, type Block, type HistoryFilter, type BlockHeader, type Genesis, type InstructionModel, type RefusalReason,
  type KeyEntry, type RegisteredKey, type Request, type Response, type Signer, type Transaction, type ValidationContext, validatorKeys,
} from '../ledger/index.js';
import { cometAddress, decodeCommitContext, rawPublicKeyOf, verifyCometCommit, type CommitSource } from './commit.js';
import { decodeBatch, isBatch } from './batch.js';
import { SEAL_LENGTH, decodeSeal, encodeSeal, isSeal } from './seal.js';
import { ReplicatedLogError } from './errors.js';
import { ReplicatedStore, type StoredBlock } from './store.js';

/** Verified signatures remembered (about 100 B each). */
const MAX_VERIFIED = 100_000;

export const CODESPACE = 'esfc-ledger';

/** CheckTx / tx result code of a refusal: its position in REFUSAL_REASONS, from 1. */
export function refusalCode(reason: RefusalReason): number {
  return REFUSAL_REASONS.indexOf(reason) + 1;
}

export function reasonOfCode(code: number): RefusalReason | undefined {
  return REFUSAL_REASONS[code - 1];
}

export interface LedgerAppOptions {
  /** Directory of this validator's ledger file. */
  dir: string;
  genesis: Genesis;
  /** This validator's CometBFT key as a ledger signer (readCometValidatorSigner): seals its proposals. */
  validator: Signer;
  model: InstructionModel;
  /**
   * Called for each committed request in commit order, after domainsOf has
   * been asked about it and before the next transaction is validated or
   * applied: a controller executes it here, so the state the model reads is
   * the ledger's state at every height (also when the stored blocks are
   * replayed on start).
   */
  onRequest?: (request: Request, info: CommittedTxInfo, signer: RegisteredKey | undefined) => void;
  /** Keys an operator's committed request registers (from the next block on), as the audit is told. */
  keysRegisteredBy?: (request: Request) => RegisteredKey[];
  /** The clock checkTx compares timestamps with (default Date.now); consensus uses block time. */
  clock?: () => number;
  /** How often the sealer polls for a commit that is not canonical yet (ms, default 200). */
  sealPollMs?: number;
  onError?: (e: unknown) => void;
}

/** A ledger block as committed (in memory: it may not be durable yet). */
export interface CommittedLedgerBlock {
  cometHeight: number;
  block: Block;
  txs: Transaction[];
}

export interface CommittedTxInfo {
  idHex: string;
  /** Ledger height. */
  height: number;
  cometHeight: number;
  /** The ledger block's time (ms). */
  blockTime: number;
}

/** A committed transaction with what history filters on (as the embedded store's history). */
export interface HistoryRow {
  meta: { height: number; blockTime: number; tenant?: string; chain?: string };
  tx: Transaction;
}

interface Awaiting {
  request: Request;
  /** Domains that have not answered yet. */
  domains: Set<string>;
}

/** Validation state added by the transactions before this one in the same proposal. */
interface Overlay {
  ids: Set<string>;
  responded: Map<string, Set<string>>;
}

interface Staged {
  cometHeight: number;
  ledger: CommittedLedgerBlock | undefined;
}

export class LedgerApp implements AbciApplication {
  readonly genesis: Genesis;
  readonly registry: KeyRegistry;
  readonly address: Buffer;
  private readonly store: ReplicatedStore;
  private readonly model: InstructionModel;
  private readonly clock: () => number;
  private readonly validatorsByAddress = new Map<string, Buffer>();
  private readonly proposerKeys: ReturnType<typeof validatorKeys>;
  private readonly committed = new Map<string, { tx: Transaction; info: CommittedTxInfo }>();
  private readonly responded = new Map<string, Set<string>>();
  private readonly awaiting = new Map<string, Awaiting>();
  private readonly events = new EventEmitter();
  private head: Block;
  private applied = 0;
  private staged: Staged | undefined;
  private readonly unsealed: CommittedLedgerBlock[] = [];
  private commits: CommitSource | undefined;
  private sealing: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  /** Last sealer problem (RPC down, a commit that does not verify), for diagnosis. */
  lastSealError: string | undefined;
  /**
   * Test switch: when this validator proposes, these transactions go first
   * into its proposal unvalidated, sealed, and it accepts its own proposal.
   */
  testInjectIntoProposals: Buffer[] | undefined;
  readonly stats = { proposals: 0, injected: 0, acceptedProposals: 0, rejectedProposals: 0, dropped: 0, ledgerBlocks: 0, signaturesVerified: 0, signaturesKnown: 0, finalizedAsProcessed: 0 };
  /**
   * Good signatures this validator verified, by transaction id: checkTx,
   * mempool rechecks, processProposal and finalizeBlock meet the same
   * transaction up to four times, and for the same bytes (its id is the hash
   * of the signed part; the signature is compared) and the same key the
   * answer cannot change.
   */
  private readonly verified = new Map<string, { signature: Buffer; publicKey: KeyObject }>();
  /** The proposal processProposal accepted last: finalizeBlock of the same block on the same state need not validate it again. */
  private accepted: { height: number; hash: string; applied: number } | undefined;
  lastRejection: string | undefined;

  constructor(private readonly o: LedgerAppOptions) {
    checkEd25519();
    this.genesis = parseGenesis(o.genesis);
    this.model = o.model;
    this.clock = o.clock ?? Date.now;
    this.registry = new KeyRegistry(this.genesis.keys);
    this.proposerKeys = validatorKeys(this.genesis);
    for (const v of this.genesis.validators) {
      const raw = rawPublicKeyOf(v);
      if (raw === undefined) throw new ReplicatedLogError('bad-validator-key', `genesis validator ${v.name} has no Ed25519 key: CometBFT validators are Ed25519`);
      this.validatorsByAddress.set(cometAddress(raw).toString('hex'), Buffer.from(v.keyId, 'hex'));
    }
    const me = this.genesis.validators.find((v) => v.keyId === hex(o.validator.keyId));
    if (me === undefined || o.validator.alg !== 'ed25519') throw new ReplicatedLogError('bad-validator-key', `key ${hex(o.validator.keyId)} is not an Ed25519 validator of the genesis`);
    this.address = cometAddress(rawPublicKeyOf(me)!);
    this.head = genesisBlock(this.genesis);
    this.store = ReplicatedStore.open(o.dir, this.genesis, (b) => this.replayStored(b));
  }

  private replayStored({ block, txs }: StoredBlock): void {
    // The store has checked the chain and every commit.
    if (block.height === 0) return;
    this.apply({ cometHeight: cometHeightOf(block), block, txs });
  }

  // ---------------------------------------------------------------- state

  /** CometBFT height this app has committed. */
  get appliedHeight(): number {
    return this.applied;
  }

  /** The ledger's head (committed; maybe not durable yet). */
  get headBlock(): Block {
    return this.head;
  }

  /** The last durable block. */
  get sealedHead(): Block {
    return this.store.head;
  }

  get unsealedCount(): number {
    return this.unsealed.length;
  }

  get appHash(): Buffer {
    return this.head.hash;
  }

  committedTx(idHex: string): { tx: Transaction; info: CommittedTxInfo } | undefined {
    return this.committed.get(idHex);
  }

  /** The committed response of `domain` to a request, if any. */
  responseOf(requestIdHex: string, domain: string): Response | undefined {
    if (!(this.responded.get(requestIdHex)?.has(domain) ?? false)) return undefined;
    for (const { tx } of this.committed.values()) {
      if (tx.type === 'response' && hex(tx.requestId) === requestIdHex && this.registry.get(tx.keyId)?.key.domain === domain) return tx;
    }
    return undefined;
  }

  /** Committed requests that `domain` must answer and has not, in commit order. */
  awaitingResponse(domain: string): Request[] {
    const out: Request[] = [];
    for (const a of this.awaiting.values()) if (a.domains.has(domain)) out.push(a.request);
    return out;
  }

  /** Committed transactions matching every given filter, oldest first (what /esfc-ledger/v1/history serves). */
  history(f: HistoryFilter = {}): HistoryRow[] {
    const limit = f.limit ?? 1000;
    const out: HistoryRow[] = [];
    for (const { tx, info } of this.committed.values()) {
      if (out.length >= limit) break;
      const request = tx.type === 'request' ? tx : this.committed.get(hex(tx.requestId))?.tx;
      const key = request === undefined ? undefined : this.registry.get(request.keyId)?.key;
      const tenant = key?.role === 'tenant' ? key.name : undefined;
      const chain = request?.type === 'request' ? chainOfRequest(request) : undefined;
      if (f.tenant !== undefined && tenant !== f.tenant) continue;
      if (f.chain !== undefined && chain !== f.chain) continue;
      if (f.from !== undefined && tx.timestamp < f.from) continue;
      if (f.to !== undefined && tx.timestamp >= f.to) continue;
      out.push({ meta: { height: info.height, blockTime: info.blockTime, ...(tenant !== undefined ? { tenant } : {}), ...(chain !== undefined ? { chain } : {}) }, tx });
    }
    return out;
  }

  /** Called after each ledger block is committed (not yet durable). */
  onCommitted(fn: (b: CommittedLedgerBlock) => void): () => void {
    this.events.on('block', fn);
    return () => this.events.off('block', fn);
  }

  /** Called after each CometBFT height is committed, with or without a ledger block. */
  onHeight(fn: (cometHeight: number) => void): () => void {
    this.events.on('height', fn);
    return () => this.events.off('height', fn);
  }

  private apply(b: CommittedLedgerBlock): void {
    const newKeys: RegisteredKey[] = [];
    b.txs.forEach((tx) => {
      const info: CommittedTxInfo = { idHex: tx.idHex, height: b.block.height, cometHeight: b.cometHeight, blockTime: b.block.time };
      this.committed.set(tx.idHex, { tx, info });
      this.verified.delete(tx.idHex);
      if (tx.type === 'request') {
        const domains = new Set(this.model.domainsOf(tx));
        if (domains.size > 0) this.awaiting.set(tx.idHex, { request: tx, domains });
        if (this.registry.get(tx.keyId)?.key.role === 'operator' && this.o.keysRegisteredBy) newKeys.push(...this.o.keysRegisteredBy(tx));
        this.o.onRequest?.(tx, info, this.registry.get(tx.keyId)?.key);
        return;
      }
      const rid = hex(tx.requestId);
      const domain = this.registry.get(tx.keyId)?.key.domain ?? '';
      addTo(this.responded, rid, domain);
      const a = this.awaiting.get(rid);
      if (a !== undefined) {
        a.domains.delete(domain);
        if (a.domains.size === 0) this.awaiting.delete(rid);
      }
    });
    for (const k of newKeys) {
      try {
        if (!this.registry.has(k.keyId)) this.registry.add(k);
      } catch (e) {
        // Deterministic on every validator (same request, same check): the key is simply not registered.
        this.o.onError?.(e);
      }
    }
    this.head = b.block;
    this.applied = b.cometHeight;
    this.stats.ledgerBlocks++;
  }

  private readonly verifySignature = (tx: Transaction, key: KeyEntry): boolean => {
    const known = this.verified.get(tx.idHex);
    if (known !== undefined && known.publicKey === key.publicKey && known.signature.equals(tx.signature)) {
      this.stats.signaturesKnown++;
      return true;
    }
    this.stats.signaturesVerified++;
    const ok = verifyBytes(tx.alg, key.publicKey, tx.unsigned, tx.signature);
    if (ok) {
      this.verified.set(tx.idHex, { signature: Buffer.from(tx.signature), publicKey: key.publicKey });
      if (this.verified.size > MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value!);
    }
    return ok;
  };

  private context(now: number, overlay?: Overlay): ValidationContext {
    return {
      verifySignature: this.verifySignature,
      now: () => now,
      timestampWindowMs: this.genesis.timestampWindowMs,
      registry: this.registry,
      seen: (id) => (this.committed.has(id) ? 'committed' : overlay?.ids.has(id) === true ? 'pending' : undefined),
      committedRequest: (id) => {
        const t = this.committed.get(id)?.tx;
        return t?.type === 'request' ? t : undefined;
      },
      hasResponse: (id, domain) => (this.responded.get(id)?.has(domain) ?? false) || (overlay?.responded.get(id)?.has(domain) ?? false),
      model: this.model,
    };
  }

  /** Validates txs in order against the state plus the ones before; returns the accepted and the first refusal. */
  private validateAll(txs: readonly Buffer[], now: number, keepGoing: boolean): { ok: Transaction[]; refused?: string; reason?: RefusalReason } {
    const overlay: Overlay = { ids: new Set(), responded: new Map() };
    const ctx = this.context(now, overlay);
    const ok: Transaction[] = [];
    for (const [i, bytes] of txs.entries()) {
      const v = isSeal(bytes) || isBatch(bytes) ? { ok: false as const, reason: 'malformed' as const, detail: isSeal(bytes) ? 'a seal before the last transaction' : 'a batch inside a block or a batch' } : validate(Buffer.from(bytes), ctx);
      if (!v.ok) {
        if (!keepGoing) return { ok, refused: `transaction ${i}: ${v.reason}: ${v.detail}`, reason: v.reason };
        this.stats.dropped++;
        continue;
      }
      overlay.ids.add(v.tx.idHex);
      if (v.tx.type === 'response') addTo(overlay.responded, hex(v.tx.requestId), v.key.domain ?? '');
      ok.push(v.tx);
    }
    return { ok };
  }

  /** Block time in ms: CometBFT's (ms precision), never before the previous ledger block's. */
  private blockTime(t: Date): number {
    return Math.max(t.getTime(), this.head.time);
  }

  private header(time: number, ids: readonly Buffer[], proposerKeyId: Buffer): BlockHeader {
    return { height: this.head.height + 1, previousHash: this.head.hash, time, txRoot: merkleRoot(ids), proposerKeyId };
  }

  /** Checks a proposal's ledger part; a string is why it must be rejected. */
  private checkProposal(txs: readonly Buffer[], time: Date, proposerAddress: Buffer, validated = false): { header: BlockHeader; txs: Transaction[]; signature: Buffer } | undefined | string {
    if (txs.length === 0) return undefined;
    const seal = decodeSeal(txs[txs.length - 1]!);
    if (seal === undefined) return 'ledger transactions without a proposer seal last';
    const expected = this.validatorsByAddress.get(proposerAddress.toString('hex'));
    if (expected === undefined || !expected.equals(seal.keyId)) return `seal by ${hex(seal.keyId)}, the proposer ${proposerAddress.toString('hex')} is ${expected ? hex(expected) : 'not a ledger validator'}`;
    const body = txs.slice(0, -1);
    if (body.length === 0) return 'a seal without ledger transactions';
    const now = this.blockTime(time);
    // Validated: processProposal accepted this very block (same CometBFT block hash) on this very state.
    const v = validated ? { ok: body.map((b) => decodeTransaction(Buffer.from(b))), refused: undefined } : this.validateAll(body, now, false);
    if (v.refused !== undefined) return v.refused;
    const header = this.header(now, v.ok.map((t) => t.id), seal.keyId);
    const hash = blockHash(encodeBlockBody(header, v.ok.map((t) => t.bytes)));
    const pk = this.proposerKeys.get(hex(seal.keyId))!;
    if (!verifyBytes('ed25519', pk.publicKey, hash, seal.signature)) return 'the proposer seal does not verify over the ledger block';
    return { header, txs: v.ok, signature: Buffer.from(seal.signature) };
  }

  // ---------------------------------------------------------------- ABCI

  info(): AbciInfo {
    return { lastBlockHeight: this.applied, lastBlockAppHash: this.head.hash, version: 'esfc-ledger/1', data: `ledger height ${this.head.height}` };
  }

  initChain(req: InitChainRequest): InitChainResult {
    if (req.chainId !== this.genesis.chainId) throw new ReplicatedLogError('genesis-mismatch', `CometBFT chain ${req.chainId}, ledger genesis chain ${this.genesis.chainId}`);
    const theirs = new Set(req.validators.map((v) => cometAddress(v.ed25519PubKey).toString('hex')));
    const ours = [...this.validatorsByAddress.keys()];
    if (theirs.size !== ours.length || !ours.every((a) => theirs.has(a))) {
      throw new ReplicatedLogError('genesis-mismatch', 'the CometBFT validators are not the ledger genesis validators');
    }
    if (new Set(req.validators.map((v) => v.power)).size > 1) throw new ReplicatedLogError('genesis-mismatch', 'ledger validators have equal voting power (the commit check counts validators)');
    return { appHash: genesisBlock(this.genesis).hash };
  }

  checkTx({ tx }: CheckTxRequest): TxResult {
    if (isSeal(tx)) return { code: refusalCode('malformed'), codespace: CODESPACE, log: 'malformed: seals are made by the proposer, not submitted' };
    if (isBatch(tx)) {
      // Admitted whole or not at all: the submitter resends the rest without the refused one.
      const inner = decodeBatch(tx);
      if (typeof inner === 'string') return { code: refusalCode('malformed'), codespace: CODESPACE, log: `malformed: ${inner}` };
      const v = this.validateAll(inner, this.clock(), false);
      return v.reason === undefined ? { code: 0 } : { code: refusalCode(v.reason), codespace: CODESPACE, log: `${v.reason}: batch ${v.refused!}` };
    }
    const v = validate(Buffer.from(tx), this.context(this.clock()));
    return v.ok ? { code: 0 } : { code: refusalCode(v.reason), codespace: CODESPACE, log: `${v.reason}: ${v.detail}` };
  }

  prepareProposal(req: PrepareProposalRequest): Buffer[] {
    this.stats.proposals++;
    const now = this.blockTime(req.time);
    const inject = this.testInjectIntoProposals ?? [];
    const room = req.maxTxBytes - (2 + SEAL_LENGTH) - inject.reduce((n, b) => n + 8 + b.length, 0);
    // Batches are unpacked: blocks hold ledger transactions only.
    const flat = req.txs.filter((t) => !isSeal(t)).flatMap((t) => {
      if (!isBatch(t)) return [t];
      const inner = decodeBatch(t);
      return typeof inner === 'string' ? [] : inner;
    });
    const txs: { bytes: Buffer; id: Buffer }[] = this.validateAll(fitTxs(flat, room), now, true).ok;
    if (inject.length > 0) {
      this.stats.injected++;
      txs.unshift(...inject.map((b) => ({ bytes: b, id: idOf(b) })));
    }
    if (txs.length === 0) return [];
    const bodies = txs.map((t) => t.bytes);
    const header = this.header(now, txs.map((t) => t.id), this.o.validator.keyId);
    const signature = signBytes(this.o.validator, blockHash(encodeBlockBody(header, bodies)));
    return [...bodies, encodeSeal(this.o.validator.keyId, signature)];
  }

  processProposal(req: ProcessProposalRequest): boolean {
    if (this.testInjectIntoProposals !== undefined && req.proposerAddress.equals(this.address)) return true;
    const r = this.checkProposal(req.txs, req.time, req.proposerAddress);
    if (typeof r === 'string') {
      this.stats.rejectedProposals++;
      this.lastRejection = `height ${req.height}: ${r}`;
      return false;
    }
    this.stats.acceptedProposals++;
    this.accepted = { height: req.height, hash: req.hash.toString('hex'), applied: this.applied };
    return true;
  }

  finalizeBlock(req: FinalizeBlockRequest): FinalizeBlockResult {
    if (this.closed) throw new ReplicatedLogError('closed', 'the ledger app is closed');
    if (req.height !== this.applied + 1) throw new ReplicatedLogError('out-of-order', `finalizeBlock ${req.height} after committed height ${this.applied}`, req.height);
    const a = this.accepted;
    const processed = a !== undefined && a.height === req.height && a.applied === this.applied && a.hash === req.hash.toString('hex');
    if (processed) this.stats.finalizedAsProcessed++;
    const r = this.checkProposal(req.txs, req.time, req.proposerAddress, processed);
    // Decided by >2/3 that ran the same checks: refusing it here means faulty validators or a non-deterministic model; halt rather than fork.
    if (typeof r === 'string') throw new ReplicatedLogError('invalid-decided-block', `CometBFT height ${req.height}: ${r}`, req.height);
    if (r === undefined) {
      this.staged = { cometHeight: req.height, ledger: undefined };
      return { txResults: [], appHash: this.head.hash };
    }
    const body = encodeBlockBody(r.header, r.txs.map((t) => t.bytes));
    const block = withCommit({ ...r.header, transactions: r.txs.map((t) => t.bytes), hash: blockHash(body), signature: r.signature, body, stored: body }, undefined);
    // Re-decode from the block's own bytes: the index must not hold views into CometBFT's request buffers.
    const txs = block.transactions.map((b) => decodeTransaction(b));
    this.staged = { cometHeight: req.height, ledger: { cometHeight: req.height, block, txs } };
    const results: TxResult[] = r.txs.map(() => ({ code: 0 }));
    results.push({ code: 0, info: 'proposer seal' });
    return { txResults: results, appHash: block.hash };
  }

  commit(): CommitResult {
    const s = this.staged;
    if (s === undefined) throw new ReplicatedLogError('out-of-order', 'commit without finalizeBlock');
    this.staged = undefined;
    if (s.ledger !== undefined) {
      this.apply(s.ledger);
      this.unsealed.push(s.ledger);
      this.wake?.();
      this.events.emit('block', s.ledger);
    } else {
      this.applied = s.cometHeight;
    }
    this.events.emit('height', s.cometHeight);
    // CometBFT must keep every block: a restarted app replays from its last durable block.
    return { retainHeight: 0 };
  }

  query(req: QueryRequest): QueryResult {
    if (req.path === '/tx') {
      const id = req.data.length === 32 ? req.data.toString('hex') : req.data.toString('utf8');
      const c = this.committed.get(id);
      return c === undefined ? { code: 1, log: `transaction ${id} is not committed`, height: this.applied }
        : { code: 0, key: Buffer.from(id, 'hex'), value: Buffer.from(c.tx.bytes), info: JSON.stringify(c.info), height: this.applied };
    }
    if (req.path === '/head') {
      return { code: 0, value: Buffer.from(JSON.stringify({ height: this.head.height, hash: hex(this.head.hash), sealedHeight: this.store.head.height, cometHeight: this.applied })), height: this.applied };
    }
    return { code: 2, log: `unknown query path ${req.path} (/tx, /head)` };
  }

  // ---------------------------------------------------------------- durability

  /** Starts appending committed blocks with their commits, read from `source` (the validator's RPC). */
  startSealing(source: CommitSource): void {
    this.commits = source;
    this.sealing ??= this.sealLoop().catch((e: unknown) => {
      this.lastSealError = (e as Error).message;
      this.o.onError?.(e);
    });
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async sealLoop(): Promise<void> {
    const poll = this.o.sealPollMs ?? 200;
    while (!this.closed) {
      const next = this.unsealed[0];
      if (next === undefined || this.commits === undefined) {
        await this.sleep(1000);
        continue;
      }
      let commit;
      try {
        commit = await this.commits.canonicalCommit(next.cometHeight);
      } catch (e) {
        this.lastSealError = (e as Error).message;
      }
      if (this.closed) return;
      if (commit === undefined) {
        await this.sleep(poll);
        continue;
      }
      const sealed = withCommit(next.block, commit);
      const bad = verifyCometCommit(sealed, this.genesis);
      if (bad !== undefined) {
        // Never make a block durable with a commit an audit would refuse; keep asking (a node mid-restart may answer oddly).
        this.lastSealError = `ledger block ${next.block.height} (CometBFT ${next.cometHeight}): ${bad}`;
        await this.sleep(1000);
        continue;
      }
      this.store.append(sealed);
      this.unsealed.shift();
      this.lastSealError = undefined;
    }
  }

  exportBytes(): Buffer {
    return this.store.exportBytes();
  }

  /** Stops sealing and closes the file; committed but unsealed blocks are replayed by CometBFT on the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.sealing;
    this.store.close();
    this.events.removeAllListeners();
  }

  /** The canonical genesis JSON this app runs (for the CometBFT genesis's app_state, if wanted). */
  get genesisText(): string {
    return genesisJson(this.genesis);
  }
}

function addTo(m: Map<string, Set<string>>, key: string, v: string): void {
  let s = m.get(key);
  if (s === undefined) m.set(key, (s = new Set()));
  s.add(v);
}

/** The CometBFT height in a stored block's commit context. */
function cometHeightOf(block: Block): number {
  return decodeCommitContext(block.commit!.context).cometHeight;
}

/** A transaction's id as validate() computes it, or a hash of the bytes when they do not decode (only injected test bytes). */
function idOf(bytes: Buffer): Buffer {
  try {
    return decodeTransaction(bytes).id;
  } catch {
    return sha256(bytes);
  }
}
