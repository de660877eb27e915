/**
 * A domain's controller on the replicated orchestration log (docs/ledger.md,
 * replicated mode): the controller is its validator's ABCI application.
 *
 * The datastore is the ledger's state. Every controller applies every
 * committed request, in commit order, inside the commit that decides it
 * (LedgerApp onRequest), so the model every validator checks the next block
 * against is the same everywhere; and its datastore is rebuilt from the
 * ledger on every start (the stored blocks replayed, then CometBFT's), so
 * replaying a block never meets a datastore that is already past it.
 * Execution is therefore never repeated on a live datastore: it is
 * idempotent by construction.
 *
 * The domains a request targets (intent/target-domains.ts) are computed from
 * the datastore just before it is applied, once, and kept: a response's
 * validation later asks the same question of a datastore that moved on.
 * The controllers of those domains answer with a response their orchestrator
 * key signs (ReplicatedLog), carrying the outcome they computed at commit.
 *
 * A RESTCONF write: the signed request is checked against the HTTP request
 * and this replica (the model's refusal keeps its tag and path; If-Match and
 * other preconditions are checked here only: the signed instruction does not
 * carry them), submitted through this domain's validator, and answered once
 * it is committed and applied here and the response of its domain (this
 * one when it is a target) is committed.
 */
import type { Logger } from '../agent/log.js';
import { AbciServer, type CometRpc } from './abci/index.js';
import { flowDomains, targetDomains } from './intent/target-domains.js';
import { DatastoreModel, LOG_PRINCIPAL, asInvalidInstruction, isOperationPath, principalOfKey, type Instruction } from './instruction-model.js';
import { hex, type Genesis, type HistoryFilter, type RegisteredKey, type Request, type Response, type Signer } from './ledger/index.js';
import {
  RESPONSE_ID_HEADER, TX_ID_HEADER, keysRegisteredBy, refusal, signedRequestOf, type HttpWrite, type WriteLog,
} from './orchestration-log.js';
import { LedgerApp, LedgerRefusalError, ReplicatedLog, ReplicatedLogError, RpcCommitSource, type Execution, type HistoryRow } from './replicated/index.js';
import { YANG_JSON, type DataApi, type HttpReply } from './restconf/data.js';
import type { OperationsApi } from './restconf/operations.js';
import { RestconfFailure } from './restconf/errors.js';
import type { Principal } from './restconf/principal.js';

export interface ReplicatedControllerOptions {
  /** Directory of this validator's ledger file. */
  dir: string;
  genesis: Genesis;
  /** This domain's validator key (readCometValidatorSigner of its CometBFT home): seals its proposals. */
  validator: Signer;
  /** The orchestrator key the genesis registers for `domain`; absent: this controller validates and applies, and answers nothing. */
  orchestrator?: Signer;
  domain: string;
  /** Where CometBFT reaches this application (unix:///path or tcp://host:port). */
  abciAddress: string;
  /** This domain's validator's RPC: writes are broadcast there, commits read from there. */
  rpc: CometRpc;
  log: Logger;
  /** How long a write waits for its commit, then its response (ms; default 30000 each). */
  timeoutMs?: number;
}

interface Executed {
  execution: Execution;
  reply?: HttpReply;
  failure?: RestconfFailure;
}

/** Outcomes kept for writes still waiting on them and for answers not yet committed. */
const KEEP_OUTCOMES = 10_000;

export class ReplicatedControllerLog implements WriteLog {
  readonly app: LedgerApp;
  readonly model: DatastoreModel;
  private readonly replicated: ReplicatedLog;
  private readonly abci: AbciServer;
  private readonly targets = new Map<string, string[]>();
  private readonly outcomes = new Map<string, Executed | Promise<Executed>>();
  /** False while the stored blocks are replayed at start: an invocation's effect is not the datastore's, so it is not run again. */
  private live = false;
  private readonly revision: () => number;
  private readonly datastore: () => Record<string, unknown>;

  private constructor(private readonly o: ReplicatedControllerOptions, access: InstructionAccess) {
    this.revision = access.revision;
    this.datastore = access.datastore;
    this.model = new DatastoreModel(access.data, access.operations, (r) => this.targetsOf(r));
    this.app = new LedgerApp({
      dir: o.dir, genesis: o.genesis, validator: o.validator, model: this.model, keysRegisteredBy,
      onRequest: (r, _info, signer) => this.execute(r, signer),
      onError: (e) => o.log.log('error', 'ledger_error', { error: (e as Error).message }),
    });
    this.replicated = new ReplicatedLog({
      app: this.app, rpc: o.rpc, domain: o.domain, ...(o.orchestrator ? { orchestrator: o.orchestrator } : {}),
      execute: async (r) => (await this.outcomes.get(r.idHex))?.execution ?? notExecuted(r),
      onError: (e) => o.log.log('warn', 'ledger_answer_failed', { error: (e as Error).message }),
    });
    this.abci = new AbciServer(this.app);
    this.live = true;
  }

  /**
   * Opens the ledger (replaying it into the datastore, which must start
   * empty: Controller.resetIntent), listens for CometBFT and starts sealing
   * and answering. CometBFT may start before or after.
   */
  static async start(o: ReplicatedControllerOptions, access: InstructionAccess): Promise<ReplicatedControllerLog> {
    const t0 = Date.now();
    const log = new ReplicatedControllerLog(o, access);
    const revision = access.revision;
    await log.abci.listen(o.abciAddress);
    log.app.startSealing(new RpcCommitSource(o.rpc, log.app.genesis));
    log.replicated.start();
    o.log.log('info', 'ledger_replicated_started', {
      domain: o.domain, answers: o.orchestrator !== undefined, abci: o.abciAddress, ledgerHeight: log.app.headBlock.height, revision: revision(), replayMs: Date.now() - t0,
    });
    return log;
  }

  /** The domains a request targets: computed once, from the datastore just before the request is applied. */
  private targetsOf(r: Request): string[] {
    let t = this.targets.get(r.idHex);
    if (t === undefined) {
      const now = this.datastore();
      try {
        const i = this.model.prepareAs(LOG_PRINCIPAL, r.method, r.path, r.body);
        t = i.kind === 'data' ? targetDomains(i.write.doc, i.write.next) : flowDomains(now, i.invocation.scope().flows);
      } catch {
        // It will fail when applied: every domain the intent names records that.
        t = targetDomains(now, now);
      }
      this.targets.set(r.idHex, t);
    }
    return t;
  }

  /**
   * Applies a committed request as its signer: every controller commits
   * every write to its datastore; an invocation runs only at the domains it
   * targets (their AuCs hold the keys it changes), and only live.
   */
  private execute(r: Request, signer: RegisteredKey | undefined): void {
    const targets = this.targetsOf(r);
    const p = principalOfKey(signer);
    let e: Executed | Promise<Executed>;
    try {
      const i: Instruction = this.model.prepareAs(p, r.method, r.path, r.body);
      if (i.kind === 'operation' && !(this.live && targets.includes(this.o.domain))) return;
      const applied = this.model.apply(i, this.revision);
      e = applied instanceof Promise
        ? applied.then((a) => ({ execution: { outcome: 'ok' as const, result: a.result }, reply: a.reply }), failed)
        : { execution: { outcome: 'ok', result: applied.result }, reply: applied.reply };
    } catch (err) {
      e = failed(err);
    }
    this.outcomes.set(r.idHex, e);
    if (this.outcomes.size > KEEP_OUTCOMES) this.outcomes.delete(this.outcomes.keys().next().value!);
  }

  async write(p: Principal, signed: string | undefined, http: HttpWrite): Promise<HttpReply> {
    const { tx, bytes, key } = signedRequestOf(this.app.registry, p, signed, http);
    try {
      this.model.prepareAs(p, tx.method, tx.path, tx.body, http.headers);
    } catch (e) {
      if (e instanceof RestconfFailure) throw asInvalidInstruction(e);
      throw e;
    }
    const committed = this.app.committedTx(tx.idHex)?.info;
    // A replay: the request is executed once, whoever sends it again.
    if (committed) throw refusal('duplicate', `request ${tx.idHex} is already committed (ledger height ${committed.height})`);
    const timeoutMs = this.o.timeoutMs ?? 30_000;
    try {
      await this.replicated.submit(bytes, timeoutMs);
    } catch (e) {
      if (e instanceof LedgerRefusalError) throw refusal(e.reason, e.detail);
      if (e instanceof ReplicatedLogError) {
        throw RestconfFailure.of('operation-failed', `the replicated log did not commit the request: ${e.message}; it may still commit (its id is ${tx.idHex})`, { status: 503, type: 'application', appTag: `esfc-ledger:${e.code}` });
      }
      throw e;
    }
    const info = this.app.committedTx(tx.idHex)?.info;
    this.o.log.log('info', 'ledger_request_committed', { id: tx.idHex, signer: key ? `${key.role}:${key.name}` : hex(tx.keyId), method: tx.method, path: tx.path, height: info?.height, cometHeight: info?.cometHeight });
    const targets = this.targetsOf(tx);
    // An invocation that targets other domains is not run here: the answer is theirs.
    const elsewhere = isOperationPath(tx.path) && !targets.includes(this.o.domain);
    const done = await this.outcomes.get(tx.idHex);
    if (done === undefined && !elsewhere) throw RestconfFailure.of('operation-failed', `request ${tx.idHex} committed but its outcome here is gone`, { status: 500 });
    const answerer = this.o.orchestrator !== undefined && targets.includes(this.o.domain) ? this.o.domain : targets[0];
    let response: Response | undefined;
    if (answerer !== undefined) {
      try {
        response = await this.replicated.awaitResponse(tx.idHex, answerer, timeoutMs);
      } catch (e) {
        if (!(e instanceof ReplicatedLogError)) throw e;
        this.o.log.log('warn', 'ledger_response_late', { id: tx.idHex, domain: answerer, error: e.message });
      }
    }
    const ids = { [TX_ID_HEADER]: tx.idHex, ...(response ? { [RESPONSE_ID_HEADER]: response.idHex } : {}) };
    if (done === undefined) return replyOf(tx.idHex, response, ids);
    if (done.failure) {
      const f = new RestconfFailure(done.failure.errors, done.failure.status);
      f.headers = { ...done.failure.headers, ...ids };
      throw f;
    }
    return { ...done.reply!, headers: { ...done.reply!.headers, ...ids } };
  }

  exportBytes(): Buffer {
    return this.app.exportBytes();
  }

  history(f: HistoryFilter): HistoryRow[] {
    return this.app.history(f);
  }

  async close(): Promise<void> {
    await this.replicated.stop();
    await this.abci.close();
    await this.app.close();
  }
}

/** What the controller gives the log: its data and operations APIs and the datastore they act on. */
export interface InstructionAccess {
  data: DataApi;
  operations: OperationsApi;
  revision: () => number;
  datastore: () => Record<string, unknown>;
}

function failed(err: unknown): Executed {
  const failure = err instanceof RestconfFailure ? err : RestconfFailure.of('operation-failed', (err as Error).message, { status: 500 });
  return { execution: { outcome: 'error', result: JSON.parse(failure.body()) as object }, failure };
}

/** The RESTCONF reply of another domain's execution, from its committed response. */
function replyOf(idHex: string, response: Response | undefined, ids: Record<string, string>): HttpReply {
  if (response === undefined) {
    const f = RestconfFailure.of('operation-failed', `request ${idHex} is committed; the domains it targets have not answered yet (see /esfc-ledger/v1/history)`, { status: 504, type: 'application' });
    f.headers = ids;
    throw f;
  }
  const result = JSON.parse(response.result) as Record<string, unknown>;
  if (response.outcome === 'error') {
    const f = RestconfFailure.fromBody(result) ?? RestconfFailure.of('operation-failed', `request ${idHex} failed where it ran`, { type: 'application' });
    f.headers = ids;
    throw f;
  }
  const output = result.output;
  if (output === undefined) return { status: 204, headers: ids };
  const body = JSON.stringify(output);
  return { status: 200, headers: { 'content-type': YANG_JSON, 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-cache', ...ids }, body };
}

function notExecuted(r: Request): Execution {
  return { outcome: 'error', result: { 'ietf-restconf:errors': { error: [{ 'error-type': 'application', 'error-tag': 'operation-failed', 'error-message': `request ${r.idHex} was not applied by this controller` }] } } };
}
