/**
 * The replicated mode's log file: the same format as the embedded store's
 * (controller/ledger/log-file.ts: magic, canonical genesis, length-prefixed
 * stored blocks), so `audit verify` reads either, and an export is a copy
 * of the file. The embedded store cuts and signs its own blocks; here
 * blocks are decided by CometBFT and arrive built and sealed, so this store
 * only appends them (after their commit is known) and re-verifies the file
 * on open. A block is durable once its append is fdatasync'ed; a torn last
 * record (an append that never finished) is cut off on open: CometBFT
 * replays that height to the application anyway.
 */
import { closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writevSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  LOG_FILE, LedgerDecodeError, checkBlockInChain, decodeStoredBlock, decodeTransaction, encodeLogHeader, genesisBlock, genesisJson,
  nextRecord, parseGenesis, readLogHeader, recordPrefix, validatorKeys, type Block, type Genesis, type Transaction,
} from '../ledger/index.js';
import { verifyCometCommit } from './commit.js';
import { ReplicatedLogError } from './errors.js';

export interface StoredBlock {
  block: Block;
  txs: Transaction[];
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class ReplicatedStore {
  readonly genesis: Genesis;
  readonly path: string;
  /** Bytes cut off a torn end on open. */
  readonly truncatedBytes: number;
  private fd: number | undefined;
  private length: number;
  private headBlock: Block;

  private constructor(path: string, genesis: Genesis, onBlock: (b: StoredBlock) => void) {
    this.path = path;
    const fd = openSync(path, 'r+');
    this.fd = fd;
    try {
      const file = readFileSync(fd);
      let header;
      try {
        header = readLogHeader(file);
      } catch (e) {
        throw new ReplicatedLogError('corrupt', `${path}: ${(e as Error).message}`, 0);
      }
      this.genesis = parseGenesis(header.genesisText);
      if (genesisJson(this.genesis) !== genesisJson(genesis)) throw new ReplicatedLogError('genesis-mismatch', `${path} is the log of another genesis (chain ${this.genesis.chainId})`);
      const g = genesisBlock(this.genesis);
      const validators = validatorKeys(this.genesis);
      let prev: Block | undefined;
      let offset = header.end;
      for (;;) {
        const rec = nextRecord(file, offset);
        if (rec.kind !== 'record') break;
        const height = prev === undefined ? 0 : prev.height + 1;
        let problem: string | undefined;
        let stored: StoredBlock | undefined;
        try {
          const block = decodeStoredBlock(rec.block);
          const txs = block.transactions.map((t) => decodeTransaction(t));
          const p = checkBlockInChain(block, prev, g, validators, txs.map((t) => t.id));
          problem = p ? `${p.reason}: ${p.detail}` : height === 0 ? undefined : verifyCometCommit(block, this.genesis);
          stored = { block, txs };
        } catch (e) {
          if (!(e instanceof LedgerDecodeError)) throw e;
          problem = e.message;
        }
        if (problem !== undefined) {
          if (rec.next !== file.length) throw new ReplicatedLogError('corrupt', `${path}: block ${height}: ${problem}`, height);
          break;
        }
        onBlock(stored!);
        prev = stored!.block;
        offset = rec.next;
      }
      if (prev === undefined) throw new ReplicatedLogError('corrupt', `${path}: no block 0`, 0);
      this.headBlock = prev;
      this.truncatedBytes = file.length - offset;
      this.length = offset;
      if (this.truncatedBytes > 0) {
        ftruncateSync(fd, offset);
        fsyncSync(fd);
      }
    } catch (e) {
      closeSync(fd);
      this.fd = undefined;
      throw e;
    }
  }

  /** Opens (creating from `genesis` if missing) the log in `dir`; `onBlock` sees every stored block, from block 0, in order. */
  static open(dir: string, genesis: Genesis, onBlock: (b: StoredBlock) => void): ReplicatedStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, LOG_FILE);
    if (!existsSync(path)) {
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
    return new ReplicatedStore(path, genesis, onBlock);
  }

  /** The last durable block. */
  get head(): Block {
    return this.headBlock;
  }

  private get openFd(): number {
    if (this.fd === undefined) throw new ReplicatedLogError('closed', `${this.path} is closed`);
    return this.fd;
  }

  /** Appends the next block (with its commit) and fdatasyncs; on failure the file is left at a record boundary. */
  append(block: Block): void {
    const fd = this.openFd;
    if (block.height !== this.headBlock.height + 1 || !block.previousHash.equals(this.headBlock.hash)) {
      throw new ReplicatedLogError('out-of-order', `block ${block.height} does not follow stored block ${this.headBlock.height}`, block.height);
    }
    const at = this.length;
    try {
      const n = writevSync(fd, [recordPrefix(block.stored.length), block.stored], at);
      if (n !== 4 + block.stored.length) throw new Error(`short write: ${n} of ${4 + block.stored.length} bytes`);
      fdatasyncSync(fd);
    } catch (e) {
      try {
        ftruncateSync(fd, at);
      } catch {
        /* reopening cuts the torn record anyway */
      }
      throw new ReplicatedLogError('io', `appending block ${block.height} to ${this.path}: ${(e as Error).message}`, block.height);
    }
    this.length = at + 4 + block.stored.length;
    this.headBlock = block;
  }

  /** The whole log (what `audit verify` reads). */
  exportBytes(): Buffer {
    const b = Buffer.allocUnsafe(this.length);
    const n = readSync(this.openFd, b, 0, this.length, 0);
    if (n !== this.length) throw new ReplicatedLogError('io', `${this.path}: short read`);
    return b;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
