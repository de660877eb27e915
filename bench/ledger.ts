/**
 * `esfc bench ledger`: the orchestration log against the paper's Figure 6
 * and its sizes, in one run. Prints a markdown table (each value beside its
 * bar and the paper's number), writes bench/out/ledger.json and
 * bench/out/ledger.svg (throughput against instruction size, one series per
 * mode).
 *
 * - embedded: pre-signed requests and their responses submitted to an
 *   EmbeddedStore (a real file, one fdatasync per block of up to 1000) as
 *   fast as one thread can, per instruction size and algorithm; signatures
 *   verified inline or ahead on the thread pool (ParallelVerifier).
 * - delay: one signed chain PUT through a real controller over mutual TLS;
 *   the log's share measured inside the request, and the same write on a
 *   controller without the log when that still exists.
 * - sizes and growth per day, from real encodings.
 * - replicated: 1, 4, 7 CometBFT validators, each with the committed
 *   LedgerApp in its own process (bench/ledger-validator.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as httpRequest, type Dispatcher } from 'undici';
import { jsonLogger } from '../agent/log.js';
import { createLocalNetwork, findCometbft, setTomlValues, type CometNode } from '../controller/abci/index.js';
import { startController, type Embedded } from '../controller/embedded.js';
import { signedWrite } from '../controller/ledger-client.js';
import {
  EmbeddedStore, decodeStoredBlock, generateKey, genesisJson, genesisRegistry, genesisValidator, makeBlock, newRequest, newResponse, nextRecord, parseGenesis,
  readLogHeader, registeredKey, signTransaction, type GeneratedKey, type Genesis, type KeyAlg,
} from '../controller/ledger/index.js';
import { ParallelVerifier } from '../controller/ledger/parallel-verify.js';
import { encodeBatch, isSeal, readCometValidatorSigner } from '../controller/replicated/index.js';
import { clientDispatcher, readBundle } from '../controller/pki/index.js';
import { planEncryptedScenario } from '../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../scenario/intent.js';
import { lineChart, type Series } from './chart.js';
import { BENCH_DOMAIN, BENCH_TENANT, benchModel, chainPath, instruction, signAll } from './ledger-model.js';
import type { ValidatorChildConfig } from './ledger-validator.js';

const PAPER = { peakTxPerSec: 803.3, addedDelayS: 0.06, addedDelayPct: 3, requestB: 637, responseB: 655, emptyBlockB: 859, cores: 32 };
const BARS = { embeddedTxPerSec: 8000, fourValidatorsTxPerSec: 1600, addedDelayMs: 10, requestB: 300 };
const SIZES = [16, 64, 256, 1024];
const BLOCK_TXS = 1000;

const median = (xs: readonly number[]): number => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------- embedded throughput

export interface EmbeddedRow {
  alg: KeyAlg;
  verify: 'inline' | 'parallel';
  /** Instruction (request body) bytes. */
  size: number;
  requests: number;
  responses: number;
  blocks: number;
  seconds: number;
  txPerSec: number;
  /** Parallel rows: hook calls answered from the thread pool's results, and those verified inline. */
  verifiedAhead?: number;
  verifiedInline?: number;
}

interface EmbeddedKeys { tenant: GeneratedKey; controller: GeneratedKey }

function embeddedGenesis(k: EmbeddedKeys): Genesis {
  // The embedded controller's one key signs responses (orchestrator) and blocks (the one validator).
  return parseGenesis({
    chainId: 'esfc-bench', time: Date.now() - 60_000, timestampWindowMs: 30_000,
    validators: [genesisValidator(k.controller, 'controller', BENCH_DOMAIN)],
    keys: [registeredKey(k.tenant, 'tenant', BENCH_TENANT), registeredKey(k.controller, 'orchestrator', 'controller', BENCH_DOMAIN)],
  });
}

async function embeddedRun(k: EmbeddedKeys, size: number, pairs: number, parallel: boolean): Promise<EmbeddedRow> {
  const body = instruction(size);
  const reqs = await signAll(k.tenant.signer, Array.from({ length: pairs }, (_, i) => newRequest(k.tenant.signer, { method: 'PUT', path: chainPath(i), body })));
  const resps = await signAll(k.controller.signer, reqs.map((r, i) => newResponse(k.controller.signer, { requestId: r.id, outcome: 'ok', result: { revision: i + 1 } })));
  // Each batch of requests is committed before its responses: a response may only name a committed request.
  const batches: Buffer[][] = [];
  for (let i = 0; i < pairs; i += BLOCK_TXS) {
    batches.push(reqs.slice(i, i + BLOCK_TXS).map((t) => t.bytes), resps.slice(i, i + BLOCK_TXS).map((t) => t.bytes));
  }
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-ledger-'));
  try {
    const genesis = embeddedGenesis(k);
    // One registry for the store and the verifier: a result is used only for the key validate() looks up.
    const registry = genesisRegistry(genesis);
    const verifier = new ParallelVerifier(registry);
    const store = EmbeddedStore.open({
      dir, genesis, proposer: k.controller.signer, model: benchModel, maxTxs: BLOCK_TXS, registry,
      ...(parallel ? { verifySignature: verifier.verifySignature } : {}),
    });
    const opened = store.height;
    const t0 = nowMs();
    let ahead = parallel ? verifier.verifyAhead(batches[0]!) : undefined;
    for (const [i, batch] of batches.entries()) {
      if (ahead) {
        await ahead;
        ahead = i + 1 < batches.length ? verifier.verifyAhead(batches[i + 1]!) : undefined;
      }
      for (const b of batch) {
        const v = store.submit(b);
        if (!v.ok) throw new Error(`embedded ${k.tenant.alg} ${size} B: refused: ${v.reason}: ${v.detail}`);
      }
      store.flush(Date.now());
    }
    const seconds = (nowMs() - t0) / 1000;
    const blocks = store.height - opened;
    store.close();
    return {
      alg: k.tenant.alg, verify: parallel ? 'parallel' : 'inline', size, requests: pairs, responses: pairs, blocks, seconds: r3(seconds),
      txPerSec: Math.round((2 * pairs) / seconds),
      ...(parallel ? { verifiedAhead: verifier.stats.ahead, verifiedInline: verifier.stats.inline } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- sizes and growth

/** The chain write the size and delay rows use: the scenario's web chain, as a tenant provisions it. */
export const TYPICAL_CHAIN = (name: string): { 'esfc-intent:chain': { name: string; tenant: string; 'service-function': string[] }[] } => ({
  'esfc-intent:chain': [{ name, tenant: BENCH_TENANT, 'service-function': ['sf1', 'sf2', 'sf3'] }],
});

export interface SizeRow {
  alg: KeyAlg;
  /** Signed request: PUT of TYPICAL_CHAIN('web-chain') at its chain path. */
  requestB: number;
  /** Signed ok response, result {"revision":1234}. */
  responseB: number;
  /** Stored empty block (header, proposer signature, empty commit), embedded; +4 B record prefix in the file. */
  emptyBlockB: number;
}

function sizesFor(alg: KeyAlg): SizeRow {
  const tenant = generateKey(alg);
  const controller = generateKey(alg);
  const path = '/restconf/data/esfc-intent:chains/chain=web-chain';
  const req = signTransaction(newRequest(tenant.signer, { method: 'PUT', path, body: JSON.stringify(TYPICAL_CHAIN('web-chain')) }), tenant.signer);
  const resp = signTransaction(newResponse(controller.signer, { requestId: req.id, outcome: 'ok', result: { revision: 1234 } }), controller.signer);
  const empty = makeBlock({ height: 1, previousHash: Buffer.alloc(32), time: Date.now(), transactions: [], txIds: [], proposer: controller.signer });
  return { alg, requestB: req.bytes.length, responseB: resp.bytes.length, emptyBlockB: empty.stored.length };
}

export interface GrowthRow {
  alg: KeyAlg;
  blocking: string;
  txPerBlock: number;
  /** Bytes a day: transactions, their 4 B length prefixes in blocks, block overhead and each block's 4 B record prefix. */
  bytesPerDay: number;
  gibPerDay: number;
}

/**
 * 100 tx/s = 50 requests and their 50 responses a second. Two block
 * cadences: the embedded controller as it runs (a block per commitSoon turn:
 * at 50 writes a second spread out, each request and each response gets its
 * own block), and one block a second (CometBFT-like).
 */
function growth(s: SizeRow, emptyBlockB: number, blocking: string, txPerBlock: number): GrowthRow {
  const txPerSec = 100;
  const avgTx = (s.requestB + s.responseB) / 2;
  const blocksPerSec = txPerSec / txPerBlock;
  const bytesPerDay = 86_400 * (txPerSec * (avgTx + 4) + blocksPerSec * (emptyBlockB + 4));
  return { alg: s.alg, blocking, txPerBlock, bytesPerDay: Math.round(bytesPerDay), gibPerDay: r3(bytesPerDay / 2 ** 30) };
}

// ---------------------------------------------------------------- added delay (real controller, real TLS)

const J = 'application/yang-data+json';
const quiet = jsonLogger({}, () => undefined);

export interface DelayResult {
  runs: number;
  /** The signed chain PUT as the client sees it (request sent -> reply read), ms: median. */
  withLogMs: number;
  /** The log's steps inside that request (see notes), ms: median of each run's sum. */
  logShareMs: number;
  logSharePct: number;
  parts: { validateRequestMs: number; waitForCutMs: number; appendRequestBlockMs: number; signResponseMs: number; validateResponseMs: number; appendResponseBlockMs: number };
  /** The same write (unsigned) on a controller started without the log, ms: median; undefined when that is not possible. */
  withoutLogMs?: number;
  withoutLogSkipped?: string;
  /** withLogMs - withoutLogMs. */
  differenceMs?: number;
  /** Client-side Ed25519 signing of the request (before sending, not in withLogMs), ms: median. */
  clientSignMs: number;
  requestB: number;
}

interface Timed { submit: number[]; flush: { start: number; end: number }[]; submitEnd: number[] }

async function putIntent(c: Embedded, d: Dispatcher, signer: GeneratedKey | undefined): Promise<void> {
  const ep = planEncryptedScenario();
  const intent = scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `ns-${e}`, flows: DESIGN_FLOWS });
  const body = JSON.stringify({ 'ietf-restconf:data': intent });
  const r = await httpRequest(`${c.url}/restconf/data`, {
    method: 'PUT', dispatcher: d, body,
    headers: { 'content-type': J, ...(signer ? signedWrite(signer.signer, 'PUT', '/restconf/data', body).headers : {}) },
  });
  const text = await r.body.text();
  if (r.statusCode >= 300) throw new Error(`PUT of the scenario intent: ${r.statusCode} ${text.slice(0, 300)}`);
}

/** One chain PUT, timed from sending to the reply's body read; returns ms. */
async function putChain(c: Embedded, d: Dispatcher, name: string, headers: Record<string, string>, body: string): Promise<number> {
  const path = `/restconf/data/esfc-intent:chains/chain=${name}`;
  const t0 = nowMs();
  const r = await httpRequest(`${c.url}${path}`, { method: 'PUT', dispatcher: d, body, headers: { 'content-type': J, ...headers } });
  const text = await r.body.text();
  const ms = nowMs() - t0;
  if (r.statusCode >= 300) throw new Error(`PUT ${path}: ${r.statusCode} ${text.slice(0, 300)}`);
  return ms;
}

async function measureDelay(runs: number, log: (s: string) => void): Promise<DelayResult> {
  const op = generateKey('ed25519');
  const dir = mkdtempSync(join(tmpdir(), 'esfc-bench-ledger-ctl-'));
  const closers: (() => Promise<void>)[] = [];
  try {
    const c = await startController(join(dir, 'with-log'), quiet, { ledgerKeys: [registeredKey(op, 'operator', 'alice')] });
    closers.push(() => c.close());
    const d = clientDispatcher(readBundle(await c.enroll('operator', 'alice')));
    closers.push(() => d.close());
    await putIntent(c, d, op);
    const store = c.server.embeddedLog.store;
    // Timestamps of the store's own steps inside each request: the log's share is measured, not inferred.
    const t: Timed = { submit: [], flush: [], submitEnd: [] };
    const submit = store.submit.bind(store);
    const flush = store.flush.bind(store);
    store.submit = (b) => {
      const s = nowMs();
      const v = submit(b);
      const e = nowMs();
      t.submit.push(e - s);
      t.submitEnd.push(e);
      return v;
    };
    store.flush = (n) => {
      const s = nowMs();
      const blocks = flush(n);
      t.flush.push({ start: s, end: nowMs() });
      return blocks;
    };
    const rows: { total: number; parts: DelayResult['parts'] }[] = [];
    const signMs: number[] = [];
    const warmup = 3;
    for (let i = 0; i < warmup + runs; i++) {
      const name = `bench-${i}`;
      const body = JSON.stringify(TYPICAL_CHAIN(name));
      const s0 = nowMs();
      const h = signedWrite(op.signer, 'PUT', `/restconf/data/esfc-intent:chains/chain=${name}`, body).headers;
      signMs.push(nowMs() - s0);
      t.submit.length = 0;
      t.submitEnd.length = 0;
      t.flush.length = 0;
      const total = await putChain(c, d, name, h, body);
      if (t.submit.length !== 2 || t.flush.length !== 2) throw new Error(`expected 2 submits and 2 cuts in one write, saw ${t.submit.length} and ${t.flush.length}`);
      // The controller signs the response (its own Ed25519 key) between the request's block and the response's submit; timed here on the same algorithm.
      const resp = newResponse(op.signer, { requestId: Buffer.alloc(32), outcome: 'ok', result: { revision: 1234 } });
      const r0 = nowMs();
      signTransaction(resp, op.signer);
      const signResponseMs = nowMs() - r0;
      if (i < warmup) continue;
      rows.push({
        total,
        parts: {
          validateRequestMs: t.submit[0]!, waitForCutMs: t.flush[0]!.start - t.submitEnd[0]! + (t.flush[1]!.start - t.submitEnd[1]!),
          appendRequestBlockMs: t.flush[0]!.end - t.flush[0]!.start, signResponseMs,
          validateResponseMs: t.submit[1]!, appendResponseBlockMs: t.flush[1]!.end - t.flush[1]!.start,
        },
      });
    }
    const share = rows.map((r) => Object.values(r.parts).reduce((a, b) => a + b, 0));
    const withLogMs = median(rows.map((r) => r.total));
    const med = (k: keyof DelayResult['parts']): number => r3(median(rows.map((r) => r.parts[k])));
    const res: DelayResult = {
      runs, withLogMs: r3(withLogMs), logShareMs: r3(median(share)), logSharePct: r1((100 * median(share)) / withLogMs),
      parts: {
        validateRequestMs: med('validateRequestMs'), waitForCutMs: med('waitForCutMs'), appendRequestBlockMs: med('appendRequestBlockMs'),
        signResponseMs: med('signResponseMs'), validateResponseMs: med('validateResponseMs'), appendResponseBlockMs: med('appendResponseBlockMs'),
      },
      clientSignMs: r3(median(signMs.slice(warmup))),
      requestB: Buffer.from(signedWrite(op.signer, 'PUT', '/restconf/data/esfc-intent:chains/chain=bench-0', JSON.stringify(TYPICAL_CHAIN('bench-0'))).headers['esfc-signed-request']!, 'base64').length,
    };
    log(`delay: signed chain PUT with the log ${res.withLogMs} ms (median of ${runs}); the log's steps inside it ${res.logShareMs} ms (${res.logSharePct} %): ${JSON.stringify(res.parts)}`);

    // The same writes on a controller without the log, if this build can still start one.
    try {
      const b = await startController(join(dir, 'without-log'), quiet);
      closers.push(() => b.close());
      if (b.server.ledger) throw new Error('a controller started without ledgerKeys has an orchestration log');
      const bd = clientDispatcher(readBundle(await b.enroll('operator', 'alice')));
      closers.push(() => bd.close());
      await putIntent(b, bd, undefined);
      const plain: number[] = [];
      for (let i = 0; i < warmup + runs; i++) {
        const name = `bench-${i}`;
        const ms = await putChain(b, bd, name, {}, JSON.stringify(TYPICAL_CHAIN(name)));
        if (i >= warmup) plain.push(ms);
      }
      res.withoutLogMs = r3(median(plain));
      res.differenceMs = r3(res.withLogMs - res.withoutLogMs);
      log(`delay: the same PUT (unsigned) on a controller without the log ${res.withoutLogMs} ms; difference ${res.differenceMs} ms`);
    } catch (e) {
      res.withoutLogSkipped = (e as Error).message.slice(0, 300);
      log(`delay: no controller without the log to compare with (${res.withoutLogSkipped})`);
    }
    return res;
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- replicated (CometBFT)

/** Requests per CometBFT transaction in the replicated points: one each, and batches as a busy controller's ReplicatedLog sends them. */
const PER_TX = [1, 100] as const;

export interface ReplicatedRow {
  validators: number;
  size: number;
  /** Requests per CometBFT transaction: 1, or a batch (controller/replicated/batch.ts) as a busy controller sends. */
  perTx: number;
  /** Requests offered (pre-signed), accepted by CheckTx, and found committed in CometBFT blocks. */
  offered: number;
  accepted: number;
  committed: number;
  /** First submission -> the block holding the last accepted request seen, s. */
  seconds: number;
  txPerSec: number;
  /** CometBFT heights the point spanned, and those that carried ledger transactions. */
  heights: number;
  ledgerBlocks: number;
  /** CPU time per committed request over the point, µs: the validators' applications, their CometBFT processes, the bench (offering, polling); and how busy the machine's cores were. */
  cpu?: { appsUs: number; cometbftUs: number; benchUs: number; busyPct: number };
}

export interface ReplicatedResult {
  rows: ReplicatedRow[];
  /** A stored replicated block's overhead (header, proposer seal, commit of every validator), bytes, by validator count. */
  blockOverheadB: Record<string, number>;
  skipped?: string;
  childStats: Record<string, unknown[]>;
}

const CHILD = fileURLToPath(new URL('./ledger-validator.js', import.meta.url));

function startChild(cfg: ValidatorChildConfig, stats: unknown[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000); });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      if (l === 'ready') resolve(child);
      else if (l.startsWith('stats ')) stats.push(JSON.parse(l.slice(6)) as unknown);
    });
    child.once('exit', (code) => reject(new Error(`validator app exited (${code ?? 'signal'}) before ready: ${err}`)));
  });
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

type Json = Record<string, unknown>;

/**
 * broadcast_tx_sync of many transactions in one HTTP request (a JSON-RPC
 * batch, which CometBFT's RPC accepts): one request per transaction would
 * measure the RPC's HTTP handling rather than the mempool and consensus.
 */
async function broadcastBatch(url: string, txs: readonly Buffer[]): Promise<{ code: number; log: string }[]> {
  const body = JSON.stringify(txs.map((t, id) => ({ jsonrpc: '2.0', id, method: 'broadcast_tx_sync', params: { tx: t.toString('base64') } })));
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  const out = JSON.parse(text) as unknown;
  if (!Array.isArray(out)) throw new Error(`broadcast batch: HTTP ${res.status}, not a JSON-RPC batch reply: ${text.slice(0, 200)}`);
  return (out as Json[]).map((r) => {
    const err = r.error as Json | undefined;
    if (err) return { code: -1, log: `rpc: ${String(err.data ?? err.message ?? '')}` };
    const result = (r.result ?? {}) as Json;
    return { code: Number(result.code ?? 0), log: String(result.log ?? '') };
  });
}

/** A process's CPU time (user + system) in seconds, from /proc (0 once it is gone). */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th (clock ticks of 1/100 s).
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds so far of the apps, the CometBFT nodes and this process. */
function cpuNow(nodes: readonly CometNode[], apps: readonly ChildProcess[]): { apps: number; cometbft: number; bench: number } {
  const own = process.cpuUsage();
  return {
    apps: apps.reduce((n, c) => n + cpuSecondsOf(c.pid), 0),
    cometbft: nodes.reduce((n, c) => n + cpuSecondsOf(c.pid), 0),
    bench: (own.user + own.system) / 1e6,
  };
}

/** Submits txs in batches of `batch`, `concurrency` batches in flight, round-robin over the validators, until done or untilMs. */
async function offer(nodes: CometNode[], txs: readonly Buffer[], batch: number, concurrency: number, untilMs: number, perTx: number): Promise<{ accepted: number; refused: Map<string, number> }> {
  let next = 0;
  let accepted = 0;
  const refused = new Map<string, number>();
  const count = (k: string): void => { refused.set(k, (refused.get(k) ?? 0) + 1); };
  const worker = async (w: number): Promise<void> => {
    while (next < txs.length && nowMs() < untilMs) {
      const at = next;
      next += batch;
      try {
        for (const r of await broadcastBatch(nodes[(at / batch + w) % nodes.length]!.rpc.url, txs.slice(at, at + batch))) {
          if (r.code === 0) accepted += perTx;
          else count(r.log.slice(0, 60).split(':')[0]!);
        }
      } catch (e) {
        count((e as Error).message.slice(0, 240));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return { accepted, refused };
}

async function replicatedPoint(nodes: CometNode[], apps: readonly ChildProcess[], tenant: GeneratedKey, v: number, size: number, offerCount: number, seconds: number, perTx: number, log: (s: string) => void): Promise<ReplicatedRow> {
  const body = instruction(size);
  // Distinct paths per point: the same request signed again at another timestamp is another transaction anyway.
  const txs = (await signAll(tenant.signer, Array.from({ length: offerCount }, (_, i) => newRequest(tenant.signer, { method: 'PUT', path: chainPath(i), body })))).map((t) => t.bytes);
  const units = perTx === 1 ? txs : Array.from({ length: Math.ceil(txs.length / perTx) }, (_, i) => encodeBatch(txs.slice(i * perTx, (i + 1) * perTx)));
  const rpc = nodes[0]!.rpc;
  const h0 = (await rpc.status()).height;
  const cpu0 = cpuNow(nodes, apps);
  const t0 = nowMs();
  const { accepted, refused } = await offer(nodes, units, perTx === 1 ? 100 : 4, perTx === 1 ? 32 : 8, t0 + seconds * 1000, perTx);
  // Count the requests in every new block until all accepted ones are in (or 30 s without progress).
  let committed = 0;
  let ledgerBlocks = 0;
  let h = h0;
  let tEnd = nowMs();
  let lastProgress = nowMs();
  while (committed < accepted && nowMs() - lastProgress < 30_000) {
    const top = (await rpc.status()).height;
    for (; h < top; h++) {
      const b = await rpc.block(h + 1);
      const n = b.txs.filter((t) => !isSeal(t)).length;
      if (n > 0) {
        committed += n;
        ledgerBlocks++;
        tEnd = nowMs();
        lastProgress = tEnd;
      }
    }
    if (committed < accepted) await sleep(50);
  }
  const secs = (tEnd - t0) / 1000;
  const cpu1 = cpuNow(nodes, apps);
  const wall = (nowMs() - t0) / 1000;
  const perRequest = (a: number, b: number): number => (committed > 0 ? Math.round(((b - a) * 1e6) / committed) : 0);
  const row: ReplicatedRow = {
    validators: v, size, perTx, offered: offerCount, accepted, committed, seconds: r3(secs), txPerSec: Math.round(committed / secs), heights: h - h0, ledgerBlocks,
    cpu: {
      appsUs: perRequest(cpu0.apps, cpu1.apps), cometbftUs: perRequest(cpu0.cometbft, cpu1.cometbft), benchUs: perRequest(cpu0.bench, cpu1.bench),
      busyPct: Math.round((100 * (cpu1.apps + cpu1.cometbft + cpu1.bench - cpu0.apps - cpu0.cometbft - cpu0.bench)) / (wall * cpus().length)),
    },
  };
  log(`  ${v} validator${v > 1 ? 's' : ''}, ${String(size).padStart(4)} B, ${perTx === 1 ? 'one per CometBFT tx' : `batches of ${perTx}`}: ${row.txPerSec} tx/s (${committed} of ${accepted} accepted of ${offerCount} offered, ${row.seconds} s, ${ledgerBlocks} ledger blocks in ${row.heights} heights; CPU per request: apps ${row.cpu!.appsUs} us, CometBFT ${row.cpu!.cometbftUs} us, bench ${row.cpu!.benchUs} us; cores ${row.cpu!.busyPct} % busy)${refused.size ? `; refused: ${JSON.stringify(Object.fromEntries(refused))}` : ''}`);
  return row;
}

/** A stored block's overhead in a replicated log file: stored length minus its transactions and their length prefixes. */
function blockOverhead(ledgerFile: string): number | undefined {
  const file = readFileSync(ledgerFile);
  let offset = readLogHeader(file).end;
  let best: number | undefined;
  for (;;) {
    const rec = nextRecord(file, offset);
    if (rec.kind !== 'record') break;
    const b = decodeStoredBlock(rec.block);
    if (b.height > 0) best = rec.block.length - b.transactions.reduce((n, t) => n + 4 + t.length, 0);
    offset = rec.next;
  }
  return best;
}

async function measureReplicated(counts: number[], sizes: number[], seconds: number, log: (s: string) => void): Promise<ReplicatedResult> {
  const binary = findCometbft();
  const res: ReplicatedResult = { rows: [], blockOverheadB: {}, childStats: {} };
  if (!binary) {
    res.skipped = 'cometbft is not installed (scripts/cometbft-setup.sh)';
    log(`replicated: skipped: ${res.skipped}`);
    return res;
  }
  const tenant = generateKey('ed25519');
  for (const v of counts) {
    const dir = mkdtempSync(join(tmpdir(), `esfc-bench-ledger-v${v}-`));
    const children: ChildProcess[] = [];
    let nodes: CometNode[] = [];
    const stats: unknown[] = [];
    try {
      const sock = (i: number): string => join(dir, `v${i}.sock`);
      nodes = await createLocalNetwork({
        binary, baseDir: dir, chainId: `esfc-bench-${v}`,
        validators: Array.from({ length: v }, (_, i) => ({ name: `v${i}`, abciAddress: `unix://${sock(i)}` })),
        // Empty blocks keep CometBFT's block time (median of the last votes) within the timestamp window between points.
        createEmptyBlocks: { intervalMs: 2000 },
        timeouts: { commitMs: 100 },
      });
      // CometBFT caps a JSON-RPC batch at 10 requests by default; the offer sends batches of 100.
      for (const n of nodes) {
        const cfg = join(n.home, 'config', 'config.toml');
        writeFileSync(cfg, setTomlValues(readFileSync(cfg, 'utf8'), { 'rpc.max_request_batch_size': 100 }));
      }
      const signers = nodes.map((n) => readCometValidatorSigner(n.home));
      const genesis = parseGenesis({
        chainId: `esfc-bench-${v}`, time: Date.now() - 60_000, timestampWindowMs: 30_000,
        validators: signers.map((s, i) => genesisValidator(s, `v${i}`, BENCH_DOMAIN)),
        keys: [registeredKey(tenant, 'tenant', BENCH_TENANT)],
      });
      const genesisFile = join(dir, 'ledger-genesis.json');
      writeFileSync(genesisFile, genesisJson(genesis));
      for (let i = 0; i < v; i++) {
        children.push(await startChild({ dir: join(dir, `ledger-v${i}`), home: nodes[i]!.home, genesisFile, socket: sock(i), rpcUrl: nodes[i]!.rpc.url }, stats));
      }
      await Promise.all(nodes.map((n) => n.start(60_000)));
      await Promise.all(nodes.map((n) => n.waitForHeight(1, 60_000)));
      for (const size of sizes) {
        for (const perTx of PER_TX) {
          // More than the few seconds can take at the 2-core rate; the rest is not sent.
          res.rows.push(await replicatedPoint(nodes, children, tenant, v, size, Math.max(perTx === 1 ? 2000 : 4000, Math.round((perTx === 1 ? 3000 : 8000) * seconds)), seconds, perTx, log));
        }
      }
      // Let the sealers append the last blocks with their commits before reading an overhead.
      await sleep(1500);
      const overhead = blockOverhead(join(dir, 'ledger-v0', 'ledger.log'));
      if (overhead !== undefined) res.blockOverheadB[String(v)] = overhead;
    } catch (e) {
      log(`replicated: ${v} validators failed: ${(e as Error).message.slice(0, 2000)}`);
      for (const n of nodes) log(`---- ${n.name}: ${n.logTail(600)}`);
      res.skipped = `${res.skipped ? `${res.skipped}; ` : ''}${v} validators: ${(e as Error).message.slice(0, 300)}`;
    } finally {
      await Promise.all(nodes.map((n) => n.stop(5000)));
      await Promise.all(children.map((c) => stopChild(c)));
      res.childStats[String(v)] = stats;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return res;
}

// ---------------------------------------------------------------- the command

const SERIES_COLOR: Record<string, string> = {
  'embedded Ed25519, parallel verify': '#1f77b4', 'embedded Ed25519, inline verify': '#aec7e8',
  'embedded RSA-PSS, parallel verify': '#d62728', 'embedded RSA-PSS, inline verify': '#ff9896',
  'replicated, 1 validator': '#98df8a', 'replicated, 4 validators': '#ffbb78', 'replicated, 7 validators': '#c5b0d5',
  'replicated, 1 validator, batches of 100': '#2ca02c', 'replicated, 4 validators, batches of 100': '#ff7f0e', 'replicated, 7 validators, batches of 100': '#9467bd',
};

export async function benchLedger(o: { quick: boolean; out: string; only?: string; validators?: number[] }): Promise<number> {
  const parts = new Set(o.only ? o.only.split(',') : ['embedded', 'delay', 'replicated']);
  const log = (s: string): void => { process.stdout.write(`${s}\n`); };
  mkdirSync(o.out, { recursive: true });
  const load0 = loadavg()[0]!;
  log(`ledger: ${cpus().length} cores, load average ${load0.toFixed(2)} at start (shared machine: rates are this machine's under this load)`);
  const sizes = o.quick ? [16, 1024] : SIZES;

  // -- sizes first: pure and quick
  const sizeRows = (['ed25519', 'rsa-pss-2048'] as const).map(sizesFor);
  for (const s of sizeRows) log(`sizes ${s.alg}: request ${s.requestB} B, response ${s.responseB} B, empty block ${s.emptyBlockB} B`);

  // -- embedded throughput
  const embedded: EmbeddedRow[] = [];
  const pairsOf: Record<KeyAlg, number> = o.quick ? { ed25519: 2000, 'rsa-pss-2048': 500 } : { ed25519: 10_000, 'rsa-pss-2048': 2500 };
  log(`embedded: pre-signed requests then their responses, batches of ${BLOCK_TXS} -> one block each (fdatasync), fresh log file per point; ${pairsOf.ed25519} pairs (Ed25519) / ${pairsOf['rsa-pss-2048']} pairs (RSA-PSS)`);
  for (const alg of parts.has('embedded') ? (['ed25519', 'rsa-pss-2048'] as const) : []) {
    const k: EmbeddedKeys = { tenant: generateKey(alg), controller: generateKey(alg) };
    // A discarded first run: the first point would otherwise also pay for JIT compilation and the thread pool's start.
    await embeddedRun(k, sizes[0]!, Math.min(500, pairsOf[alg]), true);
    for (const size of sizes) {
      for (const parallel of [true, false]) {
        const row = await embeddedRun(k, size, pairsOf[alg], parallel);
        embedded.push(row);
        log(`  ${alg.padEnd(12)} ${String(size).padStart(4)} B ${row.verify.padEnd(8)}: ${row.txPerSec} tx/s (${2 * row.requests} tx, ${row.blocks} blocks, ${row.seconds} s${parallel ? `; verified ahead ${row.verifiedAhead}, inline ${row.verifiedInline}` : ''})`);
      }
    }
  }

  // -- added delay
  const delay = parts.has('delay') ? await measureDelay(o.quick ? 8 : 30, log) : undefined;

  // -- replicated
  const replicated: ReplicatedResult = !parts.has('replicated') ? { rows: [], blockOverheadB: {}, childStats: {}, skipped: 'not asked (--only)' } : await measureReplicated(o.validators ?? (o.quick ? [1, 4] : [1, 4, 7]), o.quick ? [256] : [16, 256, 1024], o.quick ? 2 : 4, log);

  // -- growth
  const growthRows = sizeRows.flatMap((s) => [
    growth(s, s.emptyBlockB, 'embedded controller: a block per request and per response', 1),
    growth(s, s.emptyBlockB, 'one block a second', 100),
  ]);
  const overhead4 = replicated.blockOverheadB['4'];
  if (overhead4 !== undefined) growthRows.push(growth(sizeRows[0]!, overhead4, 'replicated, 4 validators, one block a second (block with 4 commit signatures)', 100));

  // -- table
  const emb = (alg: KeyAlg, v: 'inline' | 'parallel', size: number): EmbeddedRow | undefined => embedded.find((r) => r.alg === alg && r.verify === v && r.size === size);
  const rep = (v: number, size: number, perTx: number): ReplicatedRow | undefined => replicated.rows.find((r) => r.validators === v && r.size === size && r.perTx === perTx);
  const carried = (perTx: number): string => (perTx === 1 ? 'one request per CometBFT tx' : `batches of ${perTx} requests`);
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const lines: string[] = [];
  lines.push(`| measure | measured (${cpus().length} cores, shared, load ~${load0.toFixed(1)}) | bar (2 cores) | paper (${PAPER.cores} cores) |`, '|---|---|---|---|');
  for (const size of parts.has('embedded') ? sizes : []) {
    const p = emb('ed25519', 'parallel', size)!;
    const i = emb('ed25519', 'inline', size)!;
    lines.push(`| embedded tx/s, Ed25519, ${size} B instruction (parallel verify / inline) | ${p.txPerSec} / ${i.txPerSec} | >= ${BARS.embeddedTxPerSec}: ${met(p.txPerSec >= BARS.embeddedTxPerSec)} | ${PAPER.peakTxPerSec} peak (replicated) |`);
  }
  for (const size of parts.has('embedded') ? sizes : []) {
    const p = emb('rsa-pss-2048', 'parallel', size)!;
    const i = emb('rsa-pss-2048', 'inline', size)!;
    lines.push(`| embedded tx/s, RSA-PSS 2048, ${size} B (parallel / inline) | ${p.txPerSec} / ${i.txPerSec} | (none) | ${PAPER.peakTxPerSec} peak |`);
  }
  for (const r of replicated.rows) {
    const bar = r.validators === 4 ? `>= ${BARS.fourValidatorsTxPerSec}: ${met(r.txPerSec >= BARS.fourValidatorsTxPerSec)}` : '(none)';
    lines.push(`| replicated tx/s, ${r.validators} validator${r.validators > 1 ? 's' : ''}, ${r.size} B, ${carried(r.perTx)} (Ed25519) | ${r.txPerSec} | ${bar} | ${PAPER.peakTxPerSec} peak |`);
  }
  if (replicated.skipped) lines.push(`| replicated | ${replicated.skipped} | | |`);
  if (delay) lines.push(`| added delay, one signed chain PUT, embedded (log's steps inside it) | ${delay.logShareMs} ms of ${delay.withLogMs} ms (${delay.logSharePct} %) | < ${BARS.addedDelayMs} ms: ${met(delay.logShareMs < BARS.addedDelayMs)} | ${PAPER.addedDelayS * 1000} ms (${PAPER.addedDelayPct} %) |`);
  if (delay?.withoutLogMs !== undefined) lines.push(`| same PUT without the log (controller without ledgerKeys, unsigned) | ${delay.withoutLogMs} ms (difference ${delay.differenceMs} ms) | | |`);
  for (const s of sizeRows) {
    const name = s.alg === 'ed25519' ? 'Ed25519' : 'RSA-PSS 2048';
    lines.push(`| request (chain PUT), ${name} | ${s.requestB} B | ${s.alg === 'ed25519' ? `< ${BARS.requestB}: ${met(s.requestB < BARS.requestB)}` : '(none)'} | ${PAPER.requestB} B |`);
    lines.push(`| response (ok), ${name} | ${s.responseB} B | | ${PAPER.responseB} B |`);
    lines.push(`| empty block, embedded, ${name} proposer | ${s.emptyBlockB} B | | ${PAPER.emptyBlockB} B |`);
  }
  for (const [v, b] of Object.entries(replicated.blockOverheadB)) lines.push(`| block overhead, replicated, ${v} validator${v === '1' ? '' : 's'} (header, seal, commit) | ${b} B | | ${PAPER.emptyBlockB} B |`);
  for (const g of growthRows) lines.push(`| growth per day at 100 tx/s, ${g.alg}, ${g.blocking} | ${g.gibPerDay} GiB | | |`);
  log('');
  for (const l of lines) log(l);
  const load1 = loadavg()[0]!;
  log(`(load average ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end; rates are lower than on an idle machine)`);

  // -- chart: x is log2 of the size so 16..1024 B spread evenly
  const series: Series[] = [];
  for (const alg of ['ed25519', 'rsa-pss-2048'] as const) {
    for (const v of ['parallel', 'inline'] as const) {
      const name = `embedded ${alg === 'ed25519' ? 'Ed25519' : 'RSA-PSS'}, ${v} verify`;
      series.push({ name, color: SERIES_COLOR[name]!, points: sizes.map((s) => ({ x: Math.log2(s), y: emb(alg, v, s)?.txPerSec ?? NaN })) });
    }
  }
  for (const v of [...new Set(replicated.rows.map((r) => r.validators))]) {
    for (const perTx of PER_TX) {
      const base = `replicated, ${v} validator${v > 1 ? 's' : ''}`;
      const name = perTx === 1 ? base : `${base}, batches of ${perTx}`;
      series.push({ name, color: SERIES_COLOR[name] ?? '#000', points: sizes.map((s) => ({ x: Math.log2(s), y: rep(v, s, perTx)?.txPerSec ?? NaN })) });
    }
  }
  const svg = join(o.out, 'ledger.svg');
  writeFileSync(svg, lineChart({
    title: 'Orchestration log throughput against instruction size', xLabel: 'instruction size, log2 bytes (4 = 16 B, 10 = 1 KiB)', yLabel: 'tx/s',
    note: `${cpus().length} shared cores, load ~${load0.toFixed(1)}; paper: ${PAPER.peakTxPerSec} tx/s peak on ${PAPER.cores} cores`, series,
  }));

  const json = join(o.out, 'ledger.json');
  writeFileSync(json, JSON.stringify({
    date: new Date().toISOString(), kernel: release(), cpus: cpus().length, loadavg: { start: load0, end: load1 }, quick: o.quick,
    paper: PAPER, bars: BARS,
    notes: [
      'Machine: 2 cores shared with other jobs (see loadavg): every rate is a floor for this hardware, not its idle capacity.',
      `embedded: per point a fresh EmbeddedStore on ext4 (${tmpdir()}), real fdatasync per block. Requests (PUT, body = a JSON instruction of exactly \`size\` bytes) and their ok responses are signed before the clock starts (tenant key; the controller key signs responses and blocks, same algorithm as the row). Submitted in batches of ${BLOCK_TXS}: a batch of requests is cut into one block, then their responses into the next. txPerSec = (requests + responses) / wall time of submit + cut. The InstructionModel is a stand-in (JSON.parse of the body, tenant acme, domain dom-a): the YANG check is not in these rows.`,
      'embedded parallel verify: ParallelVerifier (controller/ledger/parallel-verify.ts) verifies the next batch\'s signatures with async crypto.verify on libuv\'s thread pool while the event loop validates and appends the current one; results reach validate() through ValidationContext.verifySignature (EmbeddedStoreOptions.verifySignature). Inline: validate() verifies each signature itself.',
      'delay: a real controller (startController with ledgerKeys) over mutual TLS; the operator PUTs the scenario intent, then one new chain per run (PUT /restconf/data/esfc-intent:chains/chain=bench-N, the scenario\'s web chain shape), 3 warm-up runs, then `runs` timed; withLogMs = client send -> reply read (client-side request signing excluded, see clientSignMs). logShareMs = per run the sum of: EmbeddedStore.submit of the request (decode, Ed25519 verify, rules, the YANG check through the controller\'s model), the wait from submit to the cut (commitSoon\'s timer turn, both transactions), the request block\'s append + fdatasync, the response signing (timed in the bench with the same algorithm, since it runs inside the controller\'s execute), submit of the response, its block\'s append + fdatasync; median over runs. Measured by wrapping the store\'s submit and flush on the live controller. withoutLogMs: the same unsigned PUTs on a controller started without ledgerKeys (if that option exists in this build).',
      'sizes: request = signed PUT of {"esfc-intent:chain":[{"name":"web-chain","tenant":"acme","service-function":["sf1","sf2","sf3"]}]} at /restconf/data/esfc-intent:chains/chain=web-chain; response = ok with {"revision":1234}; empty block = stored block with no transactions (header 117 B, u16 + proposer signature, empty commit 4 B), +4 B record prefix in the file.',
      'growth: 100 tx/s = 50 requests + their 50 responses a second, (request + response)/2 per tx, +4 B length prefix per tx in its block, + (block overhead + 4 B record prefix) per block; cadences as named.',
      'replicated: CometBFT v0.38 validators on this machine (createLocalNetwork: FAST timeouts, timeout_commit 100 ms, empty blocks every 2 s, rpc.max_request_batch_size 100, otherwise CometBFT defaults: mempool recheck on), each with the committed LedgerApp (controller/replicated) in its own Node process over a unix socket, sealing blocks with commits from its RPC. Requests only (Ed25519, pre-signed, body of `size` bytes) offered with broadcast_tx_sync in JSON-RPC batches of 100, 32 batches in flight, round-robin over the validators, for `seconds` or until all offered; committed = ledger requests found in CometBFT blocks; txPerSec = committed / (first submission -> the block holding the last accepted request observed, polled every 50 ms). Each request is validated by checkTx on every validator (and on mempool recheck), processProposal and finalizeBlock on each. accepted counts CheckTx replies received: a batch whose HTTP reply was lost under load (refused: fetch failed) may still have been admitted, so committed can exceed accepted; txPerSec uses committed. Within a batch CometBFT runs broadcast_tx_sync one after another, so the offer window may end after the first round of batches (offered - accepted were never sent).',
    ],
    sizes: sizeRows, growth: growthRows, embedded, delay, replicated,
  }, null, 2));
  log(`\nwrote ${json}, ${svg}`);
  return 0;
}
