/**
 * The embedded orchestration log: the default mode, inside the controller.
 * One append-only file per log (controller/ledger/log-file.ts format: the
 * genesis, then length-prefixed stored blocks). A block is acknowledged
 * only after its append is fdatasync'ed, so kill -9 loses no acknowledged
 * block; on open the chain is re-verified and a torn last record (an append
 * that never finished, hence never acknowledged) is cut off. Submitted
 * transactions wait in a pending pool (memory only: one fsync per block,
 * not per transaction, is what makes thousands of tx/s possible) until a
 * block is cut by size or by age; the caller drives time through cut(now).
 */
import {
  closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync,
  writeFileSync, writevSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeStoredBlock, makeBlock, type Block } from './block.js';
import { checkBlockInChain } from './chain-check.js';
import { LedgerDecodeError } from './codec.js';
import { genesisBlock, genesisJson, genesisRegistry, parseGenesis, validatorKeys, type Genesis } from './genesis.js';
import { hex } from './hash.js';
import type { KeyRegistry, RegisteredKey, Signer } from './keys.js';
import { encodeLogHeader, nextRecord, readLogHeader, recordPrefix } from './log-file.js';
import { chainOfRequest } from './request-path.js';
import { decodeTransaction, type Request, type Transaction } from './transaction.js';
import { validate, type InstructionModel, type Validation, type ValidationContext } from './validate.js';

export const LOG_FILE = 'ledger.log';

export type LedgerStoreErrorCode = 'no-genesis' | 'genesis-mismatch' | 'not-a-validator' | 'corrupt' | 'closed' | 'io';

export class LedgerStoreError extends Error {
  override readonly name = 'LedgerStoreError';

  constructor(readonly code: LedgerStoreErrorCode, message: string, readonly path?: string, readonly height?: number) {
    super(message);
  }
}

export interface EmbeddedStoreOptions {
  /** Directory of the log (created if missing). */
  dir: string;
  /** Required to create a log; when opening, must equal the log's own. */
  genesis?: Genesis;
  /** Signs blocks; must be a genesis validator. */
  proposer: Signer;
  model: InstructionModel;
  /** Keys registered after the genesis are added here by the controller; default: the genesis keys. */
  registry?: KeyRegistry;
  /** Cut a block when this many transactions are pending (default 1000). */
  maxTxs?: number;
  /** ... or when their signed bytes reach this size (default 1 MiB). */
  maxBytes?: number;
  /** ... or when the oldest pending transaction has waited this long, ms (default 50). */
  intervalMs?: number;
  /** The clock validation compares timestamps with (default Date.now). */
  clock?: () => number;
  /** Signature results verified ahead in parallel (ParallelVerifier.verifySignature); default: verify inline. */
  verifySignature?: ValidationContext['verifySignature'];
}

/** Where a committed transaction is, and what history filters on. */
export interface CommittedMeta {
  idHex: string;
  type: 'request' | 'response';
  height: number;
  /** Position in its block. */
  index: number;
  blockTime: number;
  timestamp: number;
  /** The tenant whose key signed the request (for a response: its request's). */
  tenant?: string;
  /** The chain named by the request's path (for a response: its request's). */
  chain?: string;
  /** For a response. */
  requestIdHex?: string;
  /** File offset and length of the signed bytes. */
  offset: number;
  length: number;
}

export type LoggedTransaction =
  | { status: 'committed'; tx: Transaction; meta: CommittedMeta }
  | { status: 'pending'; tx: Transaction };

export interface HistoryFilter {
  tenant?: string;
  chain?: string;
  /** Transaction timestamps from (inclusive), ms. */
  from?: number;
  /** ... to (exclusive), ms. */
  to?: number;
  /** At most this many, oldest first (default 1000). */
  limit?: number;
}

export interface Recovery {
  /** Bytes cut off the end of the file on open. */
  truncatedBytes: number;
  reason: string;
}

interface Pending {
  tx: Transaction;
  key: RegisteredKey;
  /** When it was submitted (clock ms): the age that triggers an interval cut. */
  at: number;
  tenant?: string;
  chain?: string;
  responseDomain?: string;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class EmbeddedStore {
  readonly genesis: Genesis;
  readonly registry: KeyRegistry;
  readonly path: string;
  /** Set when open cut a torn last record off. */
  readonly recovery: Recovery | undefined;
  readonly maxTxs: number;
  readonly maxBytes: number;
  readonly intervalMs: number;

  private fd: number | undefined;
  private fileLength: number;
  private head: Block;
  /** File offset and length of each stored block, by height. */
  private readonly blockAt: { offset: number; length: number }[] = [];
  private readonly committed = new Map<string, CommittedMeta>();
  private readonly ordered: CommittedMeta[] = [];
  /** Request id hex -> domains that responded (committed or pending), for duplicate-response. */
  private readonly responded = new Map<string, Set<string>>();
  private readonly pendingById = new Map<string, Pending>();
  private pendingQueue: Pending[] = [];
  private pendingHead = 0;
  private pendingSize = 0;
  private readonly proposer: Signer;
  private readonly clock: () => number;
  private readonly ctx: ValidationContext;

  private constructor(opts: EmbeddedStoreOptions, path: string, file: Buffer, fd: number) {
    this.path = path;
    this.fd = fd;
    this.proposer = opts.proposer;
    this.clock = opts.clock ?? Date.now;
    this.maxTxs = opts.maxTxs ?? 1000;
    this.maxBytes = opts.maxBytes ?? 1 << 20;
    this.intervalMs = opts.intervalMs ?? 50;

    let header;
    try {
      header = readLogHeader(file);
    } catch (e) {
      throw new LedgerStoreError('corrupt', `${path}: ${(e as Error).message}`, path, 0);
    }
    this.genesis = parseGenesis(header.genesisText);
    if (opts.genesis !== undefined && genesisJson(opts.genesis) !== genesisJson(this.genesis)) {
      throw new LedgerStoreError('genesis-mismatch', `${path} is the log of another genesis (chain ${this.genesis.chainId})`, path);
    }
    const validators = validatorKeys(this.genesis);
    if (!validators.has(hex(opts.proposer.keyId))) {
      throw new LedgerStoreError('not-a-validator', `proposer key ${hex(opts.proposer.keyId)} is not a validator in the genesis`, path);
    }
    this.registry = opts.registry ?? genesisRegistry(this.genesis);

    // Replay the file: every block must chain; only the last record may be bad (a torn append).
    const g = genesisBlock(this.genesis);
    let prev: Block | undefined;
    let offset = header.end;
    let recovery: Recovery | undefined;
    for (;;) {
      const rec = nextRecord(file, offset);
      if (rec.kind === 'end') break;
      const height = prev === undefined ? 0 : prev.height + 1;
      if (rec.kind === 'torn') {
        recovery = { truncatedBytes: file.length - offset, reason: `torn record at block ${height}: ${rec.have} of ${rec.need} bytes` };
        break;
      }
      const problem = this.replayBlock(rec.block, offset + 4, prev, g, validators);
      if (typeof problem === 'string') {
        if (rec.next !== file.length) throw new LedgerStoreError('corrupt', `${path}: block ${height}: ${problem}`, path, height);
        recovery = { truncatedBytes: file.length - offset, reason: `last record (block ${height}) is bad, an unfinished append: ${problem}` };
        break;
      }
      prev = problem;
      offset = rec.next;
    }
    if (prev === undefined) throw new LedgerStoreError('corrupt', `${path}: no block 0`, path, 0);
    this.head = prev;
    this.fileLength = offset;
    this.recovery = recovery;
    if (recovery !== undefined) {
      ftruncateSync(fd, offset);
      fsyncSync(fd);
    }

    this.ctx = {
      now: this.clock,
      timestampWindowMs: this.genesis.timestampWindowMs,
      registry: this.registry,
      seen: (id) => (this.committed.has(id) ? 'committed' : this.pendingById.has(id) ? 'pending' : undefined),
      committedRequest: (id) => this.committedRequest(id),
      hasResponse: (id, domain) => this.responded.get(id)?.has(domain) ?? false,
      model: opts.model,
      ...(opts.verifySignature ? { verifySignature: opts.verifySignature } : {}),
    };
  }

  /** Opens the log in `dir`, creating it from `opts.genesis` if there is none. */
  static open(opts: EmbeddedStoreOptions): EmbeddedStore {
    mkdirSync(opts.dir, { recursive: true });
    const path = join(opts.dir, LOG_FILE);
    if (!existsSync(path)) {
      if (opts.genesis === undefined) throw new LedgerStoreError('no-genesis', `${path} does not exist and no genesis was given to create it`, path);
      EmbeddedStore.create(path, opts.genesis);
    }
    const fd = openSync(path, 'r+');
    try {
      return new EmbeddedStore(opts, path, readFileSync(fd), fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Header and block 0 written to a temporary file and renamed: a crash leaves no log or a whole one. */
  private static create(path: string, genesis: Genesis): void {
    const g = parseGenesis(genesis);
    const b0 = genesisBlock(g);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writevSync(fd, [encodeLogHeader(genesisJson(g)), recordPrefix(b0.stored.length), b0.stored]);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    fsyncDir(dirname(path));
  }

  /** Verifies one stored block as the next in the chain and indexes it; a string is the problem. */
  private replayBlock(bytes: Buffer, fileOffset: number, prev: Block | undefined, g: Block, validators: ReturnType<typeof validatorKeys>): Block | string {
    let block: Block;
    const txs: Transaction[] = [];
    try {
      block = decodeStoredBlock(bytes);
      block.transactions.forEach((t) => txs.push(decodeTransaction(t)));
    } catch (e) {
      if (e instanceof LedgerDecodeError) return e.message;
      throw e;
    }
    const problem = checkBlockInChain(block, prev, g, validators, txs.map((t) => t.id));
    if (problem !== undefined) return `${problem.reason}: ${problem.detail}`;
    this.blockAt.push({ offset: fileOffset, length: bytes.length });
    this.indexBlock(block, fileOffset, txs.map((tx) => ({ tx, ...this.describe(tx) })));
    return block;
  }

  /** Tenant and chain (from the request, for a response) and a response's domain; `key` when the caller has it. */
  private describe(tx: Transaction, key = this.registry.get(tx.keyId)?.key): Omit<Pending, 'tx' | 'key' | 'at'> {
    if (tx.type === 'request') {
      const d: Omit<Pending, 'tx' | 'key' | 'at'> = {};
      if (key?.role === 'tenant') d.tenant = key.name;
      const chain = chainOfRequest(tx);
      if (chain !== undefined) d.chain = chain;
      return d;
    }
    const req = this.committed.get(hex(tx.requestId));
    const d: Omit<Pending, 'tx' | 'key' | 'at'> = {};
    if (req?.tenant !== undefined) d.tenant = req.tenant;
    if (req?.chain !== undefined) d.chain = req.chain;
    const domain = key?.domain;
    if (domain !== undefined) d.responseDomain = domain;
    return d;
  }

  private indexBlock(block: Block, fileOffset: number, txs: readonly Omit<Pending, 'key' | 'at'>[]): void {
    // Transaction views are into the stored block; their file offset is the block's plus their position in it.
    const base = fileOffset - block.stored.byteOffset;
    txs.forEach((p, index) => {
      const tx = p.tx;
      const view = block.transactions[index]!;
      const meta: CommittedMeta = {
        idHex: tx.idHex, type: tx.type, height: block.height, index, blockTime: block.time, timestamp: tx.timestamp,
        offset: base + view.byteOffset, length: view.length,
      };
      if (p.tenant !== undefined) meta.tenant = p.tenant;
      if (p.chain !== undefined) meta.chain = p.chain;
      if (tx.type === 'response') {
        meta.requestIdHex = hex(tx.requestId);
        if (p.responseDomain !== undefined) this.markResponded(meta.requestIdHex, p.responseDomain);
      }
      this.committed.set(tx.idHex, meta);
      this.ordered.push(meta);
    });
  }

  private markResponded(requestIdHex: string, domain: string): void {
    let s = this.responded.get(requestIdHex);
    if (s === undefined) this.responded.set(requestIdHex, (s = new Set()));
    s.add(domain);
  }

  private get openFd(): number {
    if (this.fd === undefined) throw new LedgerStoreError('closed', `${this.path} is closed`, this.path);
    return this.fd;
  }

  /** Height of the last committed block. */
  get height(): number {
    return this.head.height;
  }

  get headBlock(): Block {
    return this.head;
  }

  get pendingCount(): number {
    return this.pendingQueue.length - this.pendingHead;
  }

  get pendingBytes(): number {
    return this.pendingSize;
  }

  get committedCount(): number {
    return this.ordered.length;
  }

  /**
   * Validates a signed transaction and, if accepted, adds it to the pending
   * pool. `bytes` is kept, not copied: the caller must not reuse it.
   */
  submit(bytes: Buffer): Validation {
    if (this.fd === undefined) throw new LedgerStoreError('closed', `${this.path} is closed`, this.path);
    const v = validate(bytes, this.ctx);
    if (!v.ok) return v;
    const p: Pending = { tx: v.tx, key: v.key, at: this.clock(), ...this.describe(v.tx, v.key) };
    if (p.responseDomain !== undefined && v.tx.type === 'response') this.markResponded(hex(v.tx.requestId), p.responseDomain);
    this.pendingById.set(v.tx.idHex, p);
    this.pendingQueue.push(p);
    this.pendingSize += bytes.length;
    return v;
  }

  /**
   * Cuts the blocks that are due at `now`: full ones (maxTxs or maxBytes
   * reached), then the rest if the oldest pending transaction is intervalMs
   * old. Each block is durable when returned.
   */
  cut(now: number): Block[] {
    const blocks: Block[] = [];
    while (this.pendingCount >= this.maxTxs || this.pendingSize >= this.maxBytes) blocks.push(this.cutOne(now));
    if (this.pendingCount > 0 && now - this.pendingQueue[this.pendingHead]!.at >= this.intervalMs) {
      while (this.pendingCount > 0) blocks.push(this.cutOne(now));
    }
    return blocks;
  }

  /** Cuts every pending transaction into blocks now, whatever their age. */
  flush(now: number): Block[] {
    const blocks: Block[] = [];
    while (this.pendingCount > 0) blocks.push(this.cutOne(now));
    return blocks;
  }

  private cutOne(now: number): Block {
    const fd = this.openFd;
    const take: Pending[] = [];
    let bytes = 0;
    for (let i = this.pendingHead; i < this.pendingQueue.length && take.length < this.maxTxs; i++) {
      const p = this.pendingQueue[i]!;
      if (take.length > 0 && bytes + p.tx.bytes.length > this.maxBytes) break;
      take.push(p);
      bytes += p.tx.bytes.length;
    }
    const block = makeBlock({
      height: this.head.height + 1, previousHash: this.head.hash, time: Math.max(now, this.head.time),
      transactions: take.map((p) => p.tx.bytes), txIds: take.map((p) => p.tx.id), proposer: this.proposer,
    });
    const at = this.fileLength;
    try {
      const prefix = recordPrefix(block.stored.length);
      const n = writevSync(fd, [prefix, block.stored], at);
      if (n !== 4 + block.stored.length) throw new Error(`short write: ${n} of ${4 + block.stored.length} bytes`);
      fdatasyncSync(fd);
    } catch (e) {
      // Leave the file as it was so the next append starts at a record boundary; the transactions stay pending.
      try {
        ftruncateSync(fd, at);
      } catch {
        /* reopening will cut the torn record anyway */
      }
      throw new LedgerStoreError('io', `appending block ${block.height} to ${this.path}: ${(e as Error).message}`, this.path, block.height);
    }
    this.fileLength = at + 4 + block.stored.length;
    this.blockAt.push({ offset: at + 4, length: block.stored.length });
    this.indexBlock(block, at + 4, take);
    this.head = block;
    for (const p of take) this.pendingById.delete(p.tx.idHex);
    this.pendingHead += take.length;
    this.pendingSize -= bytes;
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pendingQueue.length) {
      this.pendingQueue = this.pendingQueue.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    return block;
  }

  status(idHex: string): 'committed' | 'pending' | undefined {
    return this.ctx.seen(idHex);
  }

  private readAt(offset: number, length: number): Buffer {
    const b = Buffer.allocUnsafe(length);
    const n = readSync(this.openFd, b, 0, length, offset);
    if (n !== length) throw new LedgerStoreError('io', `${this.path}: short read at ${offset}`, this.path);
    return b;
  }

  /** A committed or pending transaction by id (hex). */
  transaction(idHex: string): LoggedTransaction | undefined {
    const meta = this.committed.get(idHex);
    if (meta !== undefined) return { status: 'committed', tx: decodeTransaction(this.readAt(meta.offset, meta.length)), meta };
    const p = this.pendingById.get(idHex);
    return p === undefined ? undefined : { status: 'pending', tx: p.tx };
  }

  committedRequest(idHex: string): Request | undefined {
    const meta = this.committed.get(idHex);
    if (meta?.type !== 'request') return undefined;
    const tx = decodeTransaction(this.readAt(meta.offset, meta.length));
    return tx.type === 'request' ? tx : undefined;
  }

  /** Committed transactions matching every given filter, oldest first. */
  history(f: HistoryFilter = {}): { meta: CommittedMeta; tx: Transaction }[] {
    const limit = f.limit ?? 1000;
    const out: { meta: CommittedMeta; tx: Transaction }[] = [];
    for (const m of this.ordered) {
      if (out.length >= limit) break;
      if (f.tenant !== undefined && m.tenant !== f.tenant) continue;
      if (f.chain !== undefined && m.chain !== f.chain) continue;
      if (f.from !== undefined && m.timestamp < f.from) continue;
      if (f.to !== undefined && m.timestamp >= f.to) continue;
      out.push({ meta: m, tx: decodeTransaction(this.readAt(m.offset, m.length)) });
    }
    return out;
  }

  /** A committed block by height. */
  block(height: number): Block | undefined {
    const at = this.blockAt[height];
    return at === undefined ? undefined : decodeStoredBlock(this.readAt(at.offset, at.length));
  }

  /** The whole log as one file (what `audit verify` reads): the genesis and every committed block. */
  exportBytes(): Buffer {
    return this.readAt(0, this.fileLength);
  }

  /** Writes the export to `path` (temporary file, fsync, rename). */
  exportTo(path: string): void {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, this.exportBytes(), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }

  /** Closes the file; pending transactions (never acknowledged) are dropped. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface CutTimer {
  stop(): void;
}

/**
 * Cuts due blocks every `tickMs` (default: half the store's interval). The
 * timer is unref'ed: it does not keep the process alive by itself.
 */
export function runCutTimer(
  store: EmbeddedStore,
  opts: { tickMs?: number; now?: () => number; onBlocks?: (blocks: Block[]) => void; onError?: (e: unknown) => void } = {},
): CutTimer {
  const now = opts.now ?? Date.now;
  const t = setInterval(() => {
    try {
      const blocks = store.cut(now());
      if (blocks.length > 0) opts.onBlocks?.(blocks);
    } catch (e) {
      opts.onError?.(e);
    }
  }, opts.tickMs ?? Math.max(1, Math.floor(store.intervalMs / 2)));
  t.unref();
  return { stop: () => clearInterval(t) };
}
