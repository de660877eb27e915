/**
 * The controller's write path through the orchestration log (docs/ledger.md,
 * BSec-NFVO): a RESTCONF write (a data write, or an operation's POST)
 * carries the request its tenant or operator signed; the request is validated (the ledger's one validation function,
 * answered by the YANG model and the access rules), committed in a block,
 * executed as the signer, and answered with a response the controller signs
 * as the orchestrator; the HTTP reply comes once both are durable and names
 * both transactions. A write without a valid signature changes nothing.
 *
 * Embedded mode: the log is a file in the controller's state directory
 * (controller/ledger/embedded-store.ts), blocks cut as requests arrive
 * (those arriving together share a block and its fsync).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../agent/log.js';
import {
  EmbeddedStore, KeyRegistry, checkEd25519, decodeTransaction, genesisJson, hex, newResponse, parseGenesis, signTransaction,
  type Genesis, type HistoryFilter, type RefusalReason, type RegisteredKey, type Request, type Signer, type Transaction,
} from './ledger/index.js';
import type { DataApi, HttpReply } from './restconf/data.js';
import type { OperationsApi } from './restconf/operations.js';
import { DATA_PREFIX, DatastoreModel, asInvalidInstruction, type Applied } from './instruction-model.js';

export { DATA_PREFIX } from './instruction-model.js';
import { RestconfFailure, type ErrorTag } from './restconf/errors.js';
import type { Principal } from './restconf/principal.js';

/** The request, signed (base64 of its bytes), on a RESTCONF write. */
export const SIGNED_REQUEST_HEADER = 'esfc-signed-request';
/** On the reply: the request's transaction id, and the response's. */
export const TX_ID_HEADER = 'esfc-transaction-id';
export const RESPONSE_ID_HEADER = 'esfc-response-id';

/** How a refusal reads over RESTCONF: who is refused (403) or what is wrong with it (400, 409). */
const REFUSAL_TAG: Record<RefusalReason, { tag: ErrorTag; status: number }> = {
  malformed: { tag: 'malformed-message', status: 400 },
  'unknown-key': { tag: 'access-denied', status: 403 },
  'bad-signature': { tag: 'access-denied', status: 403 },
  'wrong-role': { tag: 'access-denied', status: 403 },
  'stale-timestamp': { tag: 'invalid-value', status: 400 },
  duplicate: { tag: 'data-exists', status: 409 },
  'invalid-instruction': { tag: 'invalid-value', status: 400 },
  'not-authorised': { tag: 'access-denied', status: 403 },
  'unknown-request': { tag: 'invalid-value', status: 400 },
  'wrong-orchestrator': { tag: 'access-denied', status: 403 },
  'duplicate-response': { tag: 'data-exists', status: 409 },
};

export function refusal(reason: RefusalReason | 'unsigned' | 'mismatch', detail: string): RestconfFailure {
  const t = reason === 'unsigned' ? { tag: 'access-denied' as const, status: 403 } : reason === 'mismatch' ? { tag: 'invalid-value' as const, status: 400 } : REFUSAL_TAG[reason];
  // RFC 6241 Appendix A: a malformed message is an error of the rpc layer; the rest are the application's.
  return RestconfFailure.of(t.tag, detail, { status: t.status, type: reason === 'malformed' ? 'rpc' : 'application', appTag: `esfc-ledger:${reason}` });
}

const KEYS_TOP = 'esfc-intent:signing-keys';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys an operator registered in the datastore (esfc-intent:signing-keys), as the ledger takes them. */
export function datastoreKeys(doc: Json): RegisteredKey[] {
  const holder = doc[KEYS_TOP];
  const list = isObj(holder) && Array.isArray(holder['key']) ? (holder['key'] as Json[]) : [];
  return list.map((k) => ({
    keyId: String(k['key-id']), alg: String(k['algorithm']) as RegisteredKey['alg'], role: String(k['role']) as RegisteredKey['role'],
    name: String(k['name']), publicKey: String(k['public-key']), ...(k['domain'] !== undefined ? { domain: String(k['domain']) } : {}),
  }));
}

/**
 * The keys a committed request registers (for an audit, which replays the
 * log without the datastore): writes of esfc-intent:signing-keys, whole or
 * one entry, or the whole datastore.
 */
export function keysRegisteredBy(r: Request): RegisteredKey[] {
  if (r.method === 'DELETE' || r.body === '') return [];
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    return [];
  }
  if (!isObj(body)) return [];
  if (r.path === DATA_PREFIX) return datastoreKeys(isObj(body['ietf-restconf:data']) ? body['ietf-restconf:data'] : body);
  // PUT/PATCH of the container carries it whole; POST to it, or a write of one entry, carries the list member.
  if (r.path === `${DATA_PREFIX}/${KEYS_TOP}` && KEYS_TOP in body) return datastoreKeys({ [KEYS_TOP]: body[KEYS_TOP] });
  if (r.path === `${DATA_PREFIX}/${KEYS_TOP}` || r.path.startsWith(`${DATA_PREFIX}/${KEYS_TOP}/key=`)) return datastoreKeys({ [KEYS_TOP]: { key: body['esfc-intent:key'] } });
  return [];
}

/** A RESTCONF write's signed request, checked against the HTTP request and the TLS principal (before the ledger validates it). */
export interface HttpWrite { method: string; path: string; body: string | undefined; headers: Record<string, string | undefined> }

export function signedRequestOf(registry: KeyRegistry, p: Principal, signed: string | undefined, http: HttpWrite): { tx: Request; bytes: Buffer; key: RegisteredKey | undefined } {
  if (!signed) {
    throw refusal('unsigned', `a write needs its request signed by your key in the ${SIGNED_REQUEST_HEADER} header (esfc ctl signs with --sign-key); nothing was changed`);
  }
  const bytes = Buffer.from(signed, 'base64');
  let tx: Transaction;
  try {
    tx = decodeTransaction(bytes);
  } catch (e) {
    throw refusal('malformed', `${SIGNED_REQUEST_HEADER}: ${(e as Error).message}`);
  }
  if (tx.type !== 'request') throw refusal('mismatch', `${SIGNED_REQUEST_HEADER} holds a response, not a request`);
  const body = http.body ?? '';
  if (tx.method !== http.method || tx.path !== http.path || tx.body !== body) {
    throw refusal('mismatch', `the signed request is ${tx.method} ${tx.path} (${Buffer.byteLength(tx.body)} bytes of body), this one is ${http.method} ${http.path} (${Buffer.byteLength(body)} bytes)`);
  }
  const key = registry.get(tx.keyId)?.key;
  if (key && (key.role !== p.kind || key.name !== p.name)) {
    throw refusal('not-authorised', `the request is signed by ${key.role} key ${key.name}, but this client is ${p.kind} ${p.name}`);
  }
  return { tx, bytes, key };
}

/** What the RESTCONF server writes through and reads the log from, in either mode. */
export interface WriteLog {
  write(p: Principal, signed: string | undefined, http: HttpWrite): Promise<HttpReply>;
  exportBytes(): Buffer;
  history(f: HistoryFilter): { meta: { height: number; blockTime: number; tenant?: string; chain?: string }; tx: Transaction }[];
  close(): void | Promise<void>;
}

export interface OrchestrationLogOptions {
  /** Directory of the log (state/ledger). */
  dir: string;
  /** Required when the directory holds no log yet; then written beside it as genesis.json. */
  genesis?: Genesis;
  /** The controller's own key: signs responses (as the orchestrator of `domain`) and blocks. */
  orchestrator: Signer;
  domain: string;
  data: DataApi;
  /** Operation invocations go through the log too. */
  operations: OperationsApi;
  /** The datastore now (registered keys are read from it). */
  datastore: () => Json;
  /** Its revision: what an ok response records. */
  revision: () => number;
  log: Logger;
  /** A block is cut at most this long after its first request (ms; default: the next turn of the event loop). */
  intervalMs?: number;
}

export class OrchestrationLog implements WriteLog {
  /** What the validator asks of the data model; embedded, this controller executes every request, as the orchestrator of its domain. */
  readonly model: DatastoreModel;

  readonly store: EmbeddedStore;
  private readonly registry: KeyRegistry;
  private flushing: Promise<void> | undefined;
  /** Serialises execution: requests run in the order they were committed. */
  private executing: Promise<unknown> = Promise.resolve();

  private constructor(private readonly o: OrchestrationLogOptions, genesis: Genesis) {
    checkEd25519();
    this.model = new DatastoreModel(o.data, o.operations, () => [o.domain]);
    this.registry = new KeyRegistry(genesis.keys);
    this.store = EmbeddedStore.open({
      dir: o.dir, genesis, proposer: o.orchestrator, model: this.model, registry: this.registry,
      // The controller cuts blocks itself (commitSoon); these only bound one block.
      maxTxs: 10_000, intervalMs: 3_600_000,
    });
    this.syncKeys();
  }

  static open(o: OrchestrationLogOptions): OrchestrationLog {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const file = join(o.dir, 'genesis.json');
    let genesis: Genesis;
    if (existsSync(file)) {
      genesis = parseGenesis(readFileSync(file, 'utf8'));
    } else {
      if (!o.genesis) throw new Error(`no orchestration log in ${o.dir}: it needs a genesis (esfc controller init makes one)`);
      genesis = o.genesis;
      writeFileSync(file, `${genesisJson(genesis)}\n`, { mode: 0o644 });
    }
    return new OrchestrationLog(o, genesis);
  }

  /** Adds keys operators registered since (the registry only grows; a removed entry stays known for the log's past). */
  private syncKeys(): void {
    for (const k of datastoreKeys(this.o.datastore())) {
      if (this.registry.has(k.keyId)) continue;
      try {
        this.registry.add(k);
      } catch (e) {
        this.o.log.log('warn', 'ledger_key_skipped', { keyId: k.keyId, name: k.name, error: (e as Error).message });
      }
    }
  }

  /** Cuts what is pending into a block at the next turn of the event loop: requests arriving together share it. */
  private commitSoon(): Promise<void> {
    this.flushing ??= new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        this.flushing = undefined;
        try {
          this.store.flush(Date.now());
          resolve();
        } catch (e) {
          reject(e);
        }
      }, this.o.intervalMs ?? 0);
    });
    return this.flushing;
  }

  private submit(bytes: Buffer, as?: Principal): Transaction {
    this.syncKeys();
    const { result: v, failure } = this.model.validatingAs(as, () => this.store.submit(bytes));
    if (!v.ok) {
      // The model's refusal as the model gave it (tag, status, error-path), marked as the log's reason.
      if (v.reason === 'invalid-instruction' && failure) throw asInvalidInstruction(failure);
      throw refusal(v.reason, v.detail);
    }
    return v.tx;
  }

  /**
   * A signed RESTCONF write: `signed` must be the request for exactly this
   * method, path and body, by a key of the principal the TLS client
   * certificate names.
   */
  async write(p: Principal, signed: string | undefined, http: HttpWrite): Promise<HttpReply> {
    const { tx, bytes, key } = signedRequestOf(this.registry, p, signed, http);
    this.submit(bytes, p);
    await this.commitSoon();
    this.o.log.log('info', 'ledger_request_committed', { id: tx.idHex, signer: key ? `${key.role}:${key.name}` : hex(tx.keyId), method: tx.method, path: tx.path, height: this.store.height });
    // Execute in commit order, as the signer; a request that fails now (the datastore moved on) gets an error response.
    const run = this.executing.then(() => this.execute(p, tx, http.headers));
    this.executing = run.catch(() => undefined);
    return run;
  }

  private async execute(p: Principal, tx: Transaction & { type: 'request' }, headers: Record<string, string | undefined>): Promise<HttpReply> {
    let applied: Applied | undefined;
    let failure: RestconfFailure | undefined;
    try {
      applied = await this.model.apply(this.model.prepareAs(p, tx.method, tx.path, tx.body, headers), this.o.revision);
    } catch (e) {
      failure = e instanceof RestconfFailure ? e : RestconfFailure.of('operation-failed', (e as Error).message, { status: 500 });
    }
    const result = failure ? JSON.parse(failure.body()) as Json : applied!.result;
    const response = signTransaction(newResponse(this.o.orchestrator, { requestId: tx.id, outcome: failure ? 'error' : 'ok', result }), this.o.orchestrator);
    this.submit(response.bytes);
    await this.commitSoon();
    const ids = { [TX_ID_HEADER]: tx.idHex, [RESPONSE_ID_HEADER]: response.id.toString('hex') };
    if (failure) {
      failure.headers = { ...failure.headers, ...ids };
      throw failure;
    }
    return { ...applied!.reply, headers: { ...applied!.reply.headers, ...ids } };
  }

  exportBytes(): Buffer {
    return this.store.exportBytes();
  }

  history(f: HistoryFilter): ReturnType<EmbeddedStore['history']> {
    return this.store.history(f);
  }

  close(): void {
    this.store.close();
  }
}

