/**
 * The one validation function of the orchestration log (docs/ledger.md
 * "Validation"): the embedded store, the CometBFT application (CheckTx and
 * ProcessProposal) and the audit's replay all call this, so a transaction
 * is accepted by the same rules whichever mode runs. Rules are checked in
 * the contract's order and the first failure names the refusal. Everything
 * that needs state (what is committed or pending, the YANG model) comes in
 * through the context; this module does no I/O.
 */
import { LedgerDecodeError } from './codec.js';
import { hex } from './hash.js';
import { verifyBytes, type KeyEntry, type KeyRegistry, type RegisteredKey } from './keys.js';
import { decodeTransaction, type Method, type Request, type Transaction } from './transaction.js';

/** The refusal reasons, in the order the rules are checked. */
export const REFUSAL_REASONS = [
  'malformed',
  'unknown-key',
  'bad-signature',
  'wrong-role',
  'stale-timestamp',
  'duplicate',
  'invalid-instruction',
  'not-authorised',
  'unknown-request',
  'wrong-orchestrator',
  'duplicate-response',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** What the controller answers from its data model; the validator stays pure. */
export interface InstructionModel {
  /** A problem when the write is not a valid RESTCONF write on the YANG model, else undefined. */
  check(method: Method, path: string, body: string): string | undefined;
  /** The tenants whose chains/flows the write touches, or 'other' when it touches anything else. */
  tenantsTouched(method: Method, path: string, body: string): string[] | 'other';
  /** The domains of the nodes the request changes. */
  domainsOf(request: Request): string[];
}

export interface ValidationContext {
  /** ms since the Unix epoch */
  now(): number;
  /** Allowed |timestamp - now|, ms (the genesis's timestampWindowMs). */
  timestampWindowMs: number;
  registry: KeyRegistry;
  /** Whether a transaction id (hex) is already committed or pending. */
  seen(idHex: string): 'committed' | 'pending' | undefined;
  /** The committed request with this id (hex), if any. */
  committedRequest(idHex: string): Request | undefined;
  /** Whether the request already has a response (committed or pending) from an orchestrator of `domain`. */
  hasResponse(requestIdHex: string, domain: string): boolean;
  model: InstructionModel;
  /**
   * Replaces the signature check, for a caller that verified signatures
   * ahead of time in parallel (a batch on the thread pool); it must give the
   * same answer as verifyBytes(key.alg, publicKey, tx.unsigned, tx.signature).
   */
  verifySignature?(tx: Transaction, key: KeyEntry): boolean;
}

export type Validation =
  | { ok: true; tx: Transaction; key: RegisteredKey }
  | { ok: false; reason: RefusalReason; detail: string };

function refuse(reason: RefusalReason, detail: string): Validation {
  return { ok: false, reason, detail };
}

/**
 * Validates a signed transaction. `txBytes` is not copied: the accepted
 * transaction's fields are views into it, so the caller must not reuse the
 * buffer.
 */
export function validate(txBytes: Buffer, ctx: ValidationContext): Validation {
  let tx: Transaction;
  try {
    tx = decodeTransaction(txBytes);
  } catch (e) {
    if (e instanceof LedgerDecodeError) return refuse('malformed', e.message);
    throw e;
  }
  const entry = ctx.registry.get(tx.keyId);
  if (entry === undefined) return refuse('unknown-key', `${tx.type === 'request' ? 'sender' : 'orchestrator'} key ${hex(tx.keyId)} is not registered`);
  const key = entry.key;
  if (key.alg !== tx.alg) return refuse('bad-signature', `signed as ${tx.alg}, key ${key.name} is ${key.alg}`);
  const good = ctx.verifySignature ? ctx.verifySignature(tx, entry) : verifyBytes(tx.alg, entry.publicKey, tx.unsigned, tx.signature);
  if (!good) return refuse('bad-signature', `signature does not verify with ${key.role} key ${key.name} (${key.keyId})`);
  if (tx.type === 'request' ? key.role === 'orchestrator' : key.role !== 'orchestrator') {
    return refuse('wrong-role', `a ${tx.type} signed by ${key.role} key ${key.name}; ${tx.type === 'request' ? 'requests come from tenant or operator keys' : 'responses come from orchestrator keys'}`);
  }
  const now = ctx.now();
  if (Math.abs(tx.timestamp - now) > ctx.timestampWindowMs) {
    return refuse('stale-timestamp', `timestamp ${new Date(tx.timestamp).toISOString()} is ${tx.timestamp - now} ms from now (window ${ctx.timestampWindowMs} ms)`);
  }
  const seen = ctx.seen(tx.idHex);
  if (seen !== undefined) return refuse('duplicate', `transaction ${tx.idHex} is already ${seen}`);

  if (tx.type === 'request') {
    const problem = ctx.model.check(tx.method, tx.path, tx.body);
    if (problem !== undefined) return refuse('invalid-instruction', problem);
    if (key.role === 'tenant') {
      const touched = ctx.model.tenantsTouched(tx.method, tx.path, tx.body);
      if (touched === 'other') return refuse('not-authorised', `tenant ${key.name} may write only its own chains and flows; ${tx.method} ${tx.path} touches other data`);
      const foreign = touched.find((t) => t !== key.name);
      if (foreign !== undefined) return refuse('not-authorised', `tenant ${key.name} may not write tenant ${foreign}'s chains or flows (${tx.method} ${tx.path})`);
    }
    return { ok: true, tx, key };
  }

  const requestIdHex = hex(tx.requestId);
  const request = ctx.committedRequest(requestIdHex);
  if (request === undefined) return refuse('unknown-request', `no committed request ${requestIdHex}`);
  const domains = ctx.model.domainsOf(request);
  if (key.domain === undefined || !domains.includes(key.domain)) {
    return refuse('wrong-orchestrator', `orchestrator ${key.name} executes for domain ${key.domain ?? '(none)'}; request ${requestIdHex} changes nodes of ${domains.length === 0 ? 'no domain' : domains.join(', ')}`);
  }
  if (ctx.hasResponse(requestIdHex, key.domain)) return refuse('duplicate-response', `request ${requestIdHex} already has a response from domain ${key.domain}`);
  return { ok: true, tx, key };
}
