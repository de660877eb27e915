/**
 * `audit verify`: re-checks an exported log from its bytes alone (plus,
 * for a replicated log, a verifier of the validators' commit signatures),
 * trusting nothing the exporting controller says. It names the first bad
 * block: everything before it is proven, nothing from it on is.
 *
 * What it can check without the controller's data model: the chain (block
 * hashes, links, Merkle roots, proposer signatures), every transaction's
 * strict decoding, registered key, signature and role, that no id appears
 * twice, and the pairing of responses with requests committed in earlier
 * blocks (one response per request and domain). Whether an instruction was
 * valid on the YANG model is the controller's business at admission.
 */
import type { Block } from './block.js';
import { decodeStoredBlock } from './block.js';
import { checkBlockInChain, type ChainProblemReason } from './chain-check.js';
import { LedgerDecodeError } from './codec.js';
import { genesisBlock, genesisJson, genesisRegistry, parseGenesis, validatorKeys, type Genesis } from './genesis.js';
import { hex } from './hash.js';
import { verifyBytes, type KeyRegistry, type RegisteredKey } from './keys.js';
import { nextRecord, readLogHeader } from './log-file.js';
import { decodeTransaction, type Request, type Transaction } from './transaction.js';

export type AuditReason =
  | 'bad-header'
  | 'no-blocks'
  | 'truncated'
  | 'malformed-block'
  | ChainProblemReason
  | 'unverified-commit'
  | 'bad-commit'
  | 'malformed-transaction'
  | 'unknown-key'
  | 'bad-signature'
  | 'wrong-role'
  | 'duplicate'
  | 'unknown-request'
  | 'duplicate-response';

export interface AuditOptions {
  /**
   * Checks a block's commit signatures (replicated mode) against the
   * genesis validators; returns a problem, or undefined when the commit is
   * good. Without it, a block that carries a commit fails ('unverified-commit'):
   * an audit never passes bytes it did not check.
   */
  verifyCommit?: (block: Block, genesis: Genesis) => string | undefined;
  /**
   * The keys an operator's committed request registers (the controller
   * knows which writes those are). They count from the next block on.
   */
  keysRegisteredBy?: (request: Request) => RegisteredKey[];
}

export type AuditResult =
  | { ok: true; genesis: Genesis; blocks: number; transactions: number; requests: number; responses: number; headHash: string }
  | { ok: false; height: number; reason: AuditReason; detail: string };

export function verifyLog(bytes: Buffer, opts: AuditOptions = {}): AuditResult {
  const fail = (height: number, reason: AuditReason, detail: string): AuditResult => ({ ok: false, height, reason, detail });

  let header;
  let genesis: Genesis;
  try {
    header = readLogHeader(bytes);
    genesis = parseGenesis(header.genesisText);
  } catch (e) {
    return fail(0, 'bad-header', (e as Error).message);
  }
  // Byte-exact: a second spelling of the same genesis would be bytes no check covers.
  if (genesisJson(genesis) !== header.genesisText) return fail(0, 'bad-header', 'the genesis is not in canonical JSON form');

  const g = genesisBlock(genesis);
  const validators = validatorKeys(genesis);
  const registry: KeyRegistry = genesisRegistry(genesis);
  const seen = new Set<string>();
  /** Committed requests (id hex) of earlier blocks. */
  const requests = new Set<string>();
  const responded = new Map<string, Set<string>>();
  let prev: Block | undefined;
  let offset = header.end;
  let transactions = 0;
  let nRequests = 0;
  let nResponses = 0;

  for (;;) {
    const height = prev === undefined ? 0 : prev.height + 1;
    const rec = nextRecord(bytes, offset);
    if (rec.kind === 'end') break;
    if (rec.kind === 'torn') return fail(height, 'truncated', `record needs ${rec.need} bytes, ${rec.have} left`);
    let block: Block;
    const txs: Transaction[] = [];
    try {
      block = decodeStoredBlock(rec.block);
    } catch (e) {
      if (e instanceof LedgerDecodeError) return fail(height, 'malformed-block', e.message);
      throw e;
    }
    for (let i = 0; i < block.transactions.length; i++) {
      try {
        txs.push(decodeTransaction(block.transactions[i]!));
      } catch (e) {
        if (e instanceof LedgerDecodeError) return fail(height, 'malformed-transaction', `transaction ${i}: ${e.message}`);
        throw e;
      }
    }
    const problem = checkBlockInChain(block, prev, g, validators, txs.map((t) => t.id));
    if (problem !== undefined) return fail(height, problem.reason, problem.detail);
    if (block.commit !== undefined) {
      if (opts.verifyCommit === undefined) return fail(height, 'unverified-commit', 'the block carries commit signatures and no commit verifier was given');
      const bad = opts.verifyCommit(block, genesis);
      if (bad !== undefined) return fail(height, 'bad-commit', bad);
    }

    const newKeys: RegisteredKey[] = [];
    const newRequests: string[] = [];
    for (let i = 0; i < txs.length; i++) {
      const tx = txs[i]!;
      const at = `transaction ${i} (${tx.idHex})`;
      const entry = registry.get(tx.keyId);
      if (entry === undefined) return fail(height, 'unknown-key', `${at}: key ${hex(tx.keyId)} is not registered`);
      const key = entry.key;
      if (key.alg !== tx.alg || !verifyBytes(tx.alg, entry.publicKey, tx.unsigned, tx.signature)) {
        return fail(height, 'bad-signature', `${at}: signature does not verify with key ${key.name}`);
      }
      if (tx.type === 'request' ? key.role === 'orchestrator' : key.role !== 'orchestrator') {
        return fail(height, 'wrong-role', `${at}: a ${tx.type} signed by ${key.role} key ${key.name}`);
      }
      if (seen.has(tx.idHex)) return fail(height, 'duplicate', `${at} is already in the log`);
      seen.add(tx.idHex);
      if (tx.type === 'request') {
        nRequests++;
        newRequests.push(tx.idHex);
        if (key.role === 'operator' && opts.keysRegisteredBy) newKeys.push(...opts.keysRegisteredBy(tx));
        continue;
      }
      nResponses++;
      const rid = hex(tx.requestId);
      if (!requests.has(rid)) return fail(height, 'unknown-request', `${at}: request ${rid} is not committed in an earlier block`);
      const domain = key.domain ?? '';
      let s = responded.get(rid);
      if (s === undefined) responded.set(rid, (s = new Set()));
      if (s.has(domain)) return fail(height, 'duplicate-response', `${at}: request ${rid} already has a response from domain ${domain}`);
      s.add(domain);
    }
    for (const r of newRequests) requests.add(r);
    for (const k of newKeys) {
      try {
        if (!registry.has(k.keyId)) registry.add(k);
      } catch (e) {
        return fail(height, 'unknown-key', `a key registered in this block is not valid: ${(e as Error).message}`);
      }
    }
    transactions += txs.length;
    prev = block;
    offset = rec.next;
  }
  if (prev === undefined) return fail(0, 'no-blocks', 'the log has no block 0');
  return { ok: true, genesis, blocks: prev.height + 1, transactions, requests: nRequests, responses: nResponses, headHash: hex(prev.hash) };
}
