/**
 * The replicated orchestration log on four real CometBFT v0.38 validators
 * on this machine: one per domain (east, west, core) plus one (audit), each
 * with its own LedgerApp over its own ledger file, served from this test
 * process; real Ed25519 keys (the validators' CometBFT keys are the ledger's
 * validator keys); execution is an injected function per domain.
 *
 * Skipped when cometbft is not installed. Processes, sockets and the temp
 * dir are removed in after(), also on failure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AbciServer, CometNode, createLocalNetwork, findCometbft } from '../../controller/abci/index.js';
import {
  decodeStoredBlock, generateKey, nextRecord, readLogHeader, genesisValidator, hex, newRequest, newResponse, parseGenesis, registeredKey, signTransaction, verifyLog,
  type GeneratedKey, type Genesis, type InstructionModel, type Request, type SignedTransaction,
} from '../../controller/ledger/index.js';
import {
  CODESPACE, LedgerApp, LedgerRefusalError, encodeBatch, ReplicatedLog, RpcCommitSource, decodeCommitContext, readCometValidatorSigner, refusalCode,
  verifyCometCommit, type CometValidatorSigner,
} from '../../controller/replicated/index.js';

const binary = findCometbft();
const N = 4;
const CHAIN = 'esfc-replicated-test';
const DOMAINS = ['east', 'west', 'core', 'audit'] as const;
const EXECUTING = 3; // v0..v2 run a domain's controller; v3 only validates
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

interface ChainBody { 'esfc-intent:chain': { name: string; tenant: string; nodes: string[] }[] }
const PATH = /^\/restconf\/data\/esfc-intent:chains\/chain=([a-z0-9-]+)$/;

function chainOf(body: string): ChainBody['esfc-intent:chain'][number] | undefined {
  try {
    return (JSON.parse(body) as ChainBody)['esfc-intent:chain'][0];
  } catch {
    return undefined;
  }
}

/** A deterministic model: chains name their nodes, a node "east-1" is in domain east. */
const model: InstructionModel = {
  check: (method, path, body) => {
    if (!PATH.test(path)) return `${path} is not a chain`;
    if (method !== 'DELETE' && chainOf(body)?.name !== PATH.exec(path)![1]) return 'the body is not this chain';
    return undefined;
  },
  tenantsTouched: (_m, _p, body) => {
    const c = chainOf(body);
    return c ? [c.tenant] : 'other';
  },
  domainsOf: (r: Request) => [...new Set((chainOf(r.body)?.nodes ?? []).map((n) => n.split('-')[0]!))].filter((d) => (DOMAINS as readonly string[]).includes(d)).sort(),
};

describe('replicated orchestration log on four CometBFT validators', { skip: binary ? false : 'cometbft is not installed (scripts/cometbft-setup.sh)' }, () => {
  let dir = '';
  let nodes: CometNode[] = [];
  let genesis: Genesis;
  let validators: CometValidatorSigner[] = [];
  const apps: LedgerApp[] = [];
  const servers: AbciServer[] = [];
  const logs: (ReplicatedLog | undefined)[] = [];
  const orchestrators = new Map<string, GeneratedKey>();
  const tenant = generateKey();
  const executed = new Map<string, string[]>();
  const requests = new Map<string, SignedTransaction>();
  let failed = false;
  const timings: string[] = [];

  const step = (name: string, fn: () => Promise<void>): void => {
    test(name, async () => {
      const t0 = Date.now();
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        timings.push(`${name.slice(0, 40)}: ${Date.now() - t0} ms`);
      }
    });
  };

  const sock = (i: number): string => join(dir, `v${i}.sock`);

  function chainRequest(name: string, nodeNames: string[], timestamp?: number): SignedTransaction {
    const body = { 'esfc-intent:chain': [{ name, tenant: 'acme', nodes: nodeNames }] };
    const tx = signTransaction(newRequest(tenant.signer, { method: 'PUT', path: `/restconf/data/esfc-intent:chains/chain=${name}`, body, ...(timestamp ? { timestamp } : {}) }), tenant.signer);
    requests.set(name, tx);
    return tx;
  }

  /** Starts validator i's ledger app (from its file), its ABCI server and, for a domain validator, its controller. */
  async function bringUp(i: number): Promise<void> {
    const app = new LedgerApp({ dir: join(dir, `ledger-v${i}`), genesis, validator: validators[i]!.signer, model, onError: (e) => console.error(`v${i}:`, e) });
    apps[i] = app;
    servers[i] = new AbciServer(app);
    await servers[i]!.listen(`unix://${sock(i)}`);
  }

  function startController(i: number): void {
    const domain = DOMAINS[i]!;
    apps[i]!.startSealing(new RpcCommitSource(nodes[i]!.rpc, genesis));
    if (i >= EXECUTING) return;
    const log = new ReplicatedLog({
      app: apps[i]!, rpc: nodes[i]!.rpc, orchestrator: orchestrators.get(domain)!.signer, domain, pollMs: 500, rebroadcastMs: 3000,
      execute: (r) => {
        const list = executed.get(domain) ?? [];
        list.push(r.idHex);
        executed.set(domain, list);
        return { outcome: 'ok', result: { revision: list.length } };
      },
      onError: (e) => console.error(`${domain} controller:`, e),
    });
    log.start();
    logs[i] = log;
  }

  async function takeDown(i: number): Promise<void> {
    await nodes[i]!.kill();
    await logs[i]?.stop();
    logs[i] = undefined;
    await servers[i]!.close();
    await apps[i]!.close();
  }

  const committedOn = (which: number[], id: string): boolean => which.every((i) => apps[i]!.committedTx(id) !== undefined);
  const answeredOn = (which: number[], id: string, domain: string): boolean => which.every((i) => apps[i]!.responseOf(id, domain) !== undefined);

  before(async () => {
    const t0 = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'esfc-replicated-'));
    const time = Date.now();
    nodes = await createLocalNetwork({
      binary: binary!, baseDir: dir, chainId: CHAIN,
      validators: Array.from({ length: N }, (_, i) => ({ name: `v${i}`, abciAddress: `unix://${sock(i)}` })),
      // Empty blocks every few seconds keep CometBFT's block time (BFT time: the previous commit's median vote time) within the timestamp window after idle periods.
      createEmptyBlocks: { intervalMs: 3000 },
      timeouts: { commitMs: 300 },
    });
    validators = nodes.map((n) => readCometValidatorSigner(n.home));
    for (const d of DOMAINS.slice(0, EXECUTING)) orchestrators.set(d, generateKey());
    genesis = parseGenesis({
      chainId: CHAIN, time, timestampWindowMs: 30_000,
      validators: validators.map((v, i) => genesisValidator(v, `v${i}`, DOMAINS[i]!)),
      keys: [registeredKey(tenant, 'tenant', 'acme'), ...[...orchestrators].map(([d, k]) => registeredKey(k, 'orchestrator', `orchestrator-${d}`, d))],
    });
    for (let i = 0; i < N; i++) await bringUp(i);
    await Promise.all(nodes.map((n) => n.start()));
    for (let i = 0; i < N; i++) startController(i);
    await Promise.all(nodes.map((n) => n.waitForHeight(1, 30_000)));
    timings.push(`setup: ${Date.now() - t0} ms`);
  });

  after(async () => {
    if (failed) {
      for (const [i, n] of nodes.entries()) {
        console.error(`---- ${n.name} (${n.running ? `pid ${n.pid}` : n.exitReason ?? 'not started'}) app: ${JSON.stringify(apps[i]?.stats)} rejection: ${apps[i]?.lastRejection} seal: ${apps[i]?.lastSealError}\n${n.logTail(2000)}`);
      }
    }
    await Promise.all(logs.map((l) => l?.stop()));
    await Promise.all(nodes.map((n) => n.stop(5000)));
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(apps.map((a) => a.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`# timings: ${timings.join('; ')}`);
  });

  step('signed requests commit on all four; each domain answers the requests for its nodes, and the answers commit', async () => {
    const r1 = chainRequest('c1', ['east-1']);
    const r2 = chainRequest('c2', ['west-1', 'core-1']);
    const r3 = chainRequest('c3', ['east-2', 'west-2']);
    const [c1, c2, c3] = await Promise.all([logs[0]!.submit(r1.bytes), logs[1]!.submit(r2.bytes), logs[2]!.submit(r3.bytes)]);
    for (const c of [c1, c2, c3]) assert.ok(c.height >= 1 && c.cometHeight >= c.height);
    const all = [0, 1, 2, 3];
    const expect: [SignedTransaction, string][] = [[r1, 'east'], [r2, 'west'], [r2, 'core'], [r3, 'east'], [r3, 'west']];
    await waitUntil('every response committed everywhere', () => expect.every(([r, d]) => answeredOn(all, hex(r.id), d)));
    const resp = await logs[0]!.awaitResponse(hex(r1.id), 'east');
    assert.equal(resp.outcome, 'ok');
    assert.ok(committedOn(all, resp.idHex));
    // Only the domains of a request's nodes answered it, each once, in commit order.
    const sorted = (xs: SignedTransaction[]): string[] => xs.map((x) => hex(x.id)).sort();
    assert.deepEqual([...executed.get('east')!].sort(), sorted([r1, r3]));
    assert.deepEqual([...executed.get('west')!].sort(), sorted([r2, r3]));
    assert.deepEqual(executed.get('core'), [hex(r2.id)]);
    for (const list of executed.values()) {
      const heights = list.map((id) => apps[0]!.committedTx(id)!.info.height);
      assert.deepEqual(heights, [...heights].sort((a, b) => a - b));
    }
    assert.equal(apps[0]!.responseOf(hex(r1.id), 'west'), undefined);
  });

  step('CheckTx refuses with the ledger reason: wrong-orchestrator, stale-timestamp, bad-signature', async () => {
    const r2 = requests.get('c2')!;
    const wrong = signTransaction(newResponse(orchestrators.get('east')!.signer, { requestId: r2.id, outcome: 'ok', result: { revision: 9 } }), orchestrators.get('east')!.signer);
    const s = await nodes[3]!.rpc.broadcastTxSync(wrong.bytes);
    assert.equal(s.code, refusalCode('wrong-orchestrator'));
    assert.equal(s.codespace, CODESPACE);
    assert.match(s.log, /^wrong-orchestrator: orchestrator orchestrator-east executes for domain east; request [0-9a-f]+ changes nodes of core, west$/);
    await assert.rejects(logs[0]!.submit(wrong.bytes), (e: unknown) => e instanceof LedgerRefusalError && e.reason === 'wrong-orchestrator');
    await assert.rejects(logs[1]!.submit(chainRequest('old', ['east-9'], Date.now() - 60_000).bytes), (e: unknown) => e instanceof LedgerRefusalError && e.reason === 'stale-timestamp');
    const forged = Buffer.from(chainRequest('forged', ['east-9']).bytes);
    forged[forged.length - 1]! ^= 1;
    await assert.rejects(logs[2]!.submit(forged), (e: unknown) => e instanceof LedgerRefusalError && e.reason === 'bad-signature');
  });

  step('submissions in the same turn go as one batch; a refused one is answered on its own and the others commit', async () => {
    const good = [chainRequest('batch-1', ['east-1']), chainRequest('batch-2', ['west-1'])];
    const stale = chainRequest('batch-old', ['east-1'], Date.now() - 60_000);
    const [a, b, c] = await Promise.allSettled([...good, stale].map((t) => logs[0]!.submit(t.bytes)));
    assert.equal(a!.status, 'fulfilled');
    assert.equal(b!.status, 'fulfilled');
    assert.ok(c!.status === 'rejected' && c.reason instanceof LedgerRefusalError && c.reason.reason === 'stale-timestamp', String(c!.status === 'rejected' ? c.reason : 'committed'));
    await waitUntil('both on all four', () => good.every((t) => committedOn([0, 1, 2, 3], hex(t.id))));
    assert.equal(apps[0]!.committedTx(hex(stale.id)), undefined);
    // A batch is admitted whole or not at all, with the reason of the first refused.
    const lone = chainRequest('batch-3', ['east-1']);
    const r = await nodes[1]!.rpc.broadcastTxSync(encodeBatch([lone.bytes, stale.bytes]));
    assert.equal(r.code, refusalCode('stale-timestamp'));
    assert.match(r.log, /^stale-timestamp: batch transaction 1: /);
    const ok = await nodes[1]!.rpc.broadcastTxSync(encodeBatch([lone.bytes]));
    assert.equal(ok.code, 0, ok.log);
    await waitUntil('the batch\'s request on all four', () => committedOn([0, 1, 2, 3], hex(lone.id)));
    // Blocks hold the requests, never the batch.
    assert.ok(apps[0]!.committedTx(hex(lone.id))!.tx.bytes.equals(lone.bytes));
    const malformed = await nodes[2]!.rpc.broadcastTxSync(Buffer.concat([encodeBatch([lone.bytes]), Buffer.from([0])]));
    assert.equal(malformed.code, refusalCode('malformed'));
  });

  step('with validator v2 (core) killed, requests still commit; east answers, core cannot', async () => {
    await takeDown(2);
    const r4 = chainRequest('c4', ['core-4', 'east-4']);
    const r5 = chainRequest('c5', ['core-5']);
    await logs[0]!.submit(r4.bytes);
    await logs[1]!.submit(r5.bytes);
    const live = [0, 1, 3];
    await waitUntil('east answers c4 on the live validators', () => answeredOn(live, hex(r4.id), 'east'));
    assert.ok(committedOn(live, hex(r5.id)));
    assert.equal(apps[0]!.responseOf(hex(r4.id), 'core'), undefined);
    assert.deepEqual(apps[0]!.awaitingResponse('core').map((r) => r.idHex), [hex(r4.id), hex(r5.id)]);
  });

  step('a proposer that seals an invalid transaction into its block is rejected by the others; the chain goes on without it', async () => {
    const east = orchestrators.get('east')!.signer;
    const evil = signTransaction(newResponse(east, { requestId: requests.get('c5')!.id, outcome: 'ok', result: { revision: 666 } }), east);
    const honest = [0, 3];
    const before = honest.map((i) => apps[i]!.stats.rejectedProposals);
    apps[1]!.testInjectIntoProposals = [evil.bytes];
    try {
      let i = 0;
      // Proposers rotate; keep blocks coming until v1 has proposed (and been refused) and two more requests committed.
      while (apps[1]!.stats.injected === 0 || i < 2) {
        assert.ok(i < 20, 'v1 never proposed');
        await logs[i % 2 === 0 ? 0 : 1]!.submit(chainRequest(`byz${i}`, ['west-7']).bytes);
        i++;
      }
    } finally {
      apps[1]!.testInjectIntoProposals = undefined;
    }
    assert.ok(apps[1]!.stats.injected > 0);
    for (const [k, i] of honest.entries()) {
      assert.ok(apps[i]!.stats.rejectedProposals > before[k]!, `v${i} rejected no proposal`);
      assert.match(apps[i]!.lastRejection ?? '', /wrong-orchestrator/);
    }
    for (const i of [0, 1, 3]) assert.equal(apps[i]!.committedTx(evil.id.toString('hex')), undefined);
  });

  step('the killed validator restarts from its ledger file, replays and catches up; core then answers what it missed', async () => {
    await bringUp(2);
    // Reopened from its file: it knows the blocks it made durable, and CometBFT's handshake replays the rest.
    const reopenedAt = apps[2]!.appliedHeight;
    assert.ok(apps[2]!.sealedHead.height >= 1 && reopenedAt >= 1);
    await nodes[2]!.start(60_000);
    startController(2);
    const r4 = hex(requests.get('c4')!.id);
    const r5 = hex(requests.get('c5')!.id);
    await logs[2]!.awaitResponse(r5, 'core', 60_000);
    const all = [0, 1, 2, 3];
    await waitUntil('core answers c4 and c5 everywhere', () => answeredOn(all, r4, 'core') && answeredOn(all, r5, 'core'));
    assert.ok(executed.get('core')!.includes(r4) && executed.get('core')!.includes(r5));
    assert.ok(committedOn([2], hex(requests.get('byz0')!.id)));
    assert.ok(apps[2]!.appliedHeight > reopenedAt);
  });

  step('all four ledgers are byte-identical and pass verifyLog with the CometBFT commit verifier (real Ed25519 precommit checks)', async () => {
    await waitUntil('every ledger sealed to the same head', () => {
      const h = apps[0]!.headBlock.hash;
      return apps.every((a) => a.unsealedCount === 0 && a.headBlock.hash.equals(h) && a.sealedHead.hash.equals(h));
    }, 30_000);
    const exports = apps.map((a) => a.exportBytes());
    for (const e of exports.slice(1)) assert.ok(e.equals(exports[0]!), 'ledgers differ');
    const audit = verifyLog(exports[0]!, { verifyCommit: verifyCometCommit });
    assert.ok(audit.ok, JSON.stringify(audit));
    assert.equal(audit.headHash, hex(apps[0]!.headBlock.hash));
    assert.ok(audit.requests >= 7 && audit.responses >= 9, JSON.stringify(audit));
    // Every block after 0 carries a commit of more than 2/3 of the validators, naming its CometBFT height.
    const b = decodeStoredBlock(apps[0]!.sealedHead.stored);
    assert.ok(b.commit !== undefined && b.commit.signatures.length >= 3);
    assert.ok(decodeCommitContext(b.commit.context).cometHeight >= b.height);
    // Blocks decided after a failed round (the rejected proposals) exercise the round in the vote sign bytes.
    const rounds: number[] = [];
    for (let at = readLogHeader(exports[0]!).end, rec = nextRecord(exports[0]!, at); rec.kind === 'record'; at = rec.next, rec = nextRecord(exports[0]!, at)) {
      const blk = decodeStoredBlock(rec.block);
      if (blk.commit) rounds.push(decodeCommitContext(blk.commit.context).round);
    }
    timings.push(`ledger blocks ${rounds.length}, decided in round > 0: ${rounds.filter((r) => r > 0).length}`);
    // Without a verifier the audit refuses the commits; a flipped bit in a precommit signature is found.
    const noVerifier = verifyLog(exports[0]!);
    assert.ok(!noVerifier.ok && noVerifier.reason === 'unverified-commit' && noVerifier.height === 1);
    const tampered = Buffer.from(exports[0]!);
    tampered[tampered.length - 1]! ^= 1;
    const bad = verifyLog(tampered, { verifyCommit: verifyCometCommit });
    assert.ok(!bad.ok && bad.reason === 'bad-commit' && bad.height === apps[0]!.headBlock.height, JSON.stringify(bad));
  });
});
