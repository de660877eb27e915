/**
 * One domain's controller on the replicated log: it submits signed requests
 * through its own validator (broadcast_tx_sync) and waits for them to be
 * committed, and it executes the committed requests whose target nodes are
 * in its domain, answering each with a response signed by its orchestrator
 * key, broadcast the same way.
 *
 * controller/orchestration-log.ts plugs in here: its write path calls
 * submit(requestBytes) and then awaitResponse(request id, its domain); its
 * execute() (datastore commit as the signer) is the Executor. Execution
 * happens once per request and domain in this process (the signed response
 * is kept and re-broadcast if it does not commit); after a crash, a request
 * whose response never committed is executed again, so execution must be
 * idempotent (a RESTCONF write of the same content is).
 */
import { CometRpcError, type CometRpc } from '../abci/index.js';
import {
  decodeTransaction, hex, newResponse, signTransaction, type Outcome, type RegisteredKey, type Request, type Response, type Signer,
} from '../ledger/index.js';
import { MAX_BATCH, encodeBatch } from './batch.js';
import { LedgerRefusalError, ReplicatedLogError } from './errors.js';
import { CODESPACE, reasonOfCode, type CommittedTxInfo, type LedgerApp } from './ledger-app.js';

/** Bytes of transactions in one batch at most (CometBFT refuses transactions over mempool.max_tx_bytes, 1 MiB by default). */
const MAX_BATCH_BYTES = 256 * 1024;

export interface Execution {
  outcome: Outcome;
  /** `{"revision":N}` when ok, the RFC 8040 ietf-restconf:errors body when not (object or JSON text). */
  result: string | object;
}

/** Executes a committed request as its signer (`signer` is its registered key). */
export type Executor = (request: Request, signer: RegisteredKey | undefined) => Execution | Promise<Execution>;

export interface ReplicatedLogOptions {
  app: LedgerApp;
  /** This domain's own validator. */
  rpc: CometRpc;
  /** The orchestrator key registered for `domain`; absent: this process submits and waits, and never answers (a validator that only audits). */
  orchestrator?: Signer;
  domain: string;
  execute: Executor;
  /** A response not committed this long after its broadcast is broadcast again (re-signed if needed); default 5000 ms. */
  rebroadcastMs?: number;
  /** How often the executor looks for work besides commit events; default 1000 ms. */
  pollMs?: number;
  clock?: () => number;
  onError?: (e: unknown) => void;
}

interface Outgoing {
  bytes: Buffer;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface InFlight {
  execution: Execution;
  sentAt: number;
  responseIdHex: string;
}

export class ReplicatedLog {
  private readonly app: LedgerApp;
  private readonly clock: () => number;
  private readonly inFlight = new Map<string, InFlight>();
  private readonly outbox: Outgoing[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Requests this domain executed, in order (request id hex). */
  readonly executed: string[] = [];
  lastError: string | undefined;

  constructor(private readonly o: ReplicatedLogOptions) {
    this.app = o.app;
    this.clock = o.clock ?? Date.now;
    const key = o.orchestrator === undefined ? undefined : o.app.registry.get(o.orchestrator.keyId)?.key;
    if (o.orchestrator !== undefined && (key?.role !== 'orchestrator' || key.domain !== o.domain)) {
      throw new ReplicatedLogError('bad-validator-key', `key ${hex(o.orchestrator.keyId)} is not a registered orchestrator key of domain ${o.domain}`);
    }
  }

  /** Starts executing this domain's committed requests (on every commit, and every pollMs). */
  start(): void {
    this.stopped = false;
    this.unsubscribe = this.app.onHeight(() => this.kick());
    this.timer = setInterval(() => this.kick(), this.o.pollMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /**
   * Broadcasts a signed request through this domain's validator and waits
   * until this validator's ledger has committed it. A refusal (CheckTx)
   * rejects with LedgerRefusalError, the ledger's reason and detail.
   */
  async submit(bytes: Buffer, timeoutMs = 30_000): Promise<CommittedTxInfo> {
    const idHex = decodeTransaction(Buffer.from(bytes)).idHex;
    const done = this.app.committedTx(idHex);
    if (done) return done.info;
    await this.send(bytes);
    return this.awaitCommitted(idHex, timeoutMs);
  }

  /**
   * Broadcasts a transaction; those sent in the same turn of the event loop
   * go as one batch (controller/replicated/batch.ts): CometBFT's cost is per
   * transaction it carries. A batch is admitted whole or not at all, so when
   * one is refused each is sent again on its own and gets its own answer.
   */
  private send(bytes: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.outbox.push({ bytes, resolve, reject });
      if (this.outbox.length === 1) setImmediate(() => void this.flushOutbox());
    });
  }

  private async flushOutbox(): Promise<void> {
    // Well under CometBFT's default max_tx_bytes (1 MiB): a large body or two fill a batch.
    let bytes = 0;
    let n = 0;
    while (n < this.outbox.length && n < MAX_BATCH && (n === 0 || bytes + this.outbox[n]!.bytes.length <= MAX_BATCH_BYTES)) bytes += this.outbox[n++]!.bytes.length;
    const q = this.outbox.splice(0, n);
    if (this.outbox.length > 0) setImmediate(() => void this.flushOutbox());
    const one = async (x: Outgoing): Promise<void> => {
      try {
        await this.broadcast(x.bytes);
        x.resolve();
      } catch (e) {
        x.reject(e);
      }
    };
    if (q.length === 1) return one(q[0]!);
    try {
      await this.broadcast(encodeBatch(q.map((x) => x.bytes)));
      for (const x of q) x.resolve();
    } catch {
      // One refused (or the batch as a whole): each on its own gets its own answer.
      await Promise.all(q.map(one));
    }
  }

  /** Resolves when the transaction is committed in this validator's ledger. */
  awaitCommitted(idHex: string, timeoutMs = 30_000): Promise<CommittedTxInfo> {
    return this.waitFor(() => this.app.committedTx(idHex)?.info, timeoutMs, `transaction ${idHex} committed`);
  }

  /** Resolves with the committed response of `domain` to a request. */
  awaitResponse(requestIdHex: string, domain = this.o.domain, timeoutMs = 30_000): Promise<Response> {
    return this.waitFor(() => this.app.responseOf(requestIdHex, domain), timeoutMs, `a response of ${domain} to ${requestIdHex}`);
  }

  private waitFor<T>(get: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const now = get();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const off = this.app.onHeight(() => {
        const v = get();
        if (v === undefined) return;
        cleanup();
        resolve(v);
      });
      const t = setTimeout(() => {
        cleanup();
        reject(new ReplicatedLogError('timeout', `no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        off();
        clearTimeout(t);
      };
    });
  }

  private async broadcast(bytes: Buffer): Promise<void> {
    let r;
    try {
      r = await this.o.rpc.broadcastTxSync(bytes);
    } catch (e) {
      if (e instanceof CometRpcError) throw new ReplicatedLogError('rpc', e.message);
      throw e;
    }
    if (r.code === 0) return;
    const reason = r.codespace === CODESPACE ? reasonOfCode(r.code) : undefined;
    if (reason === undefined) throw new ReplicatedLogError('rpc', `CometBFT refused the transaction: code ${r.code} (${r.codespace}): ${r.log}`);
    throw new LedgerRefusalError(reason, r.log.startsWith(`${reason}: `) ? r.log.slice(reason.length + 2) : r.log);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().catch((e: unknown) => {
      this.lastError = (e as Error).message;
      this.o.onError?.(e);
    }).finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Executes (once) and answers every committed request of this domain without a committed response, in commit order. */
  private async run(): Promise<void> {
    const orchestrator = this.o.orchestrator;
    if (orchestrator === undefined) return;
    const work = this.app.awaitingResponse(this.o.domain);
    for (const id of [...this.inFlight.keys()]) if (!work.some((r) => r.idHex === id)) this.inFlight.delete(id);
    if (work.length === 0) return;
    // While the validator replays or block-syncs, later blocks may already hold our answers: act only when caught up.
    let status;
    try {
      status = await this.o.rpc.status();
    } catch (e) {
      if (e instanceof CometRpcError) return;
      throw e;
    }
    if (status.catchingUp) return;
    const sends: Promise<void>[] = [];
    for (const request of this.app.awaitingResponse(this.o.domain)) {
      if (this.stopped) break;
      const now = this.clock();
      let f = this.inFlight.get(request.idHex);
      if (f !== undefined && now - f.sentAt < (this.o.rebroadcastMs ?? 5000)) continue;
      if (f === undefined) {
        let execution: Execution;
        try {
          execution = await this.o.execute(request, this.app.registry.get(request.keyId)?.key);
        } catch (e) {
          execution = { outcome: 'error', result: { 'ietf-restconf:errors': { error: [{ 'error-type': 'application', 'error-tag': 'operation-failed', 'error-message': (e as Error).message }] } } };
        }
        this.executed.push(request.idHex);
        f = { execution, sentAt: 0, responseIdHex: '' };
        this.inFlight.set(request.idHex, f);
      }
      // Signed at send time: a re-broadcast long after execution must still be within the timestamp window.
      const signed = signTransaction(newResponse(orchestrator, { requestId: request.id, ...f.execution }), orchestrator);
      f.sentAt = now;
      f.responseIdHex = signed.id.toString('hex');
      // Sent together (one batch) rather than one after another.
      sends.push(this.send(signed.bytes).catch((e: unknown) => {
        // Already answered (pending or committed): the commit will clear it.
        if (e instanceof LedgerRefusalError && (e.reason === 'duplicate-response' || e.reason === 'duplicate')) return;
        this.lastError = (e as Error).message;
        if (e instanceof ReplicatedLogError && e.code === 'rpc') return;
        this.o.onError?.(e);
      }));
    }
    await Promise.all(sends);
  }
}
