/**
 * Four real CometBFT v0.38 validators on this machine, one process each, each
 * with its own ABCI application (a key/value app defined here) served by
 * AbciServer from this test process on its own unix socket.
 *
 * Skipped when cometbft is not installed (scripts/cometbft-setup.sh).
 * Everything (processes, sockets, the temp dir) is removed in after(), also on
 * failure; validators run under `setpriv --pdeathsig KILL` so they die with
 * this process even if it is killed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  fitTxs, type AbciApplication, type AbciInfo, type CheckTxRequest, type CommitResult, type FinalizeBlockRequest, type FinalizeBlockResult,
  type PrepareProposalRequest, type ProcessProposalRequest, type QueryRequest, type QueryResult, type TxResult,
} from '../../controller/abci/application.js';
import { CometNode, createLocalNetwork, findCometbft } from '../../controller/abci/cometbft-node.js';
import { AbciServer } from '../../controller/abci/server.js';

const BAD_CODE = 7;
const isBad = (tx: Buffer): boolean => tx.subarray(0, 3).toString('latin1') === 'bad';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * key=value transactions; anything starting with "bad" is invalid (refused by
 * checkTx, and a proposal holding one is rejected). State changes are staged
 * in finalizeBlock and made current in commit, so a block finalized again
 * after a crash between the two is applied once.
 */
class KvApp implements AbciApplication {
  height = 0;
  appHash: Buffer = Buffer.alloc(0);
  readonly committed: string[] = [];
  readonly kv = new Map<string, string>();
  private staged: { height: number; txs: string[]; appHash: Buffer } | undefined;
  /** Test switch: this validator, when proposer, adds this (invalid) tx and votes for its own proposal. */
  byzantine: Buffer | undefined;
  readonly stats = { initChain: 0, injected: 0, rejectedProposals: 0, acceptedProposals: 0, extendVote: 0, verifyVoteExtension: 0, finalizeBlock: 0 };

  info(): AbciInfo {
    return { lastBlockHeight: this.height, lastBlockAppHash: this.appHash, version: 'kv-test' };
  }

  initChain(): Record<string, never> {
    this.stats.initChain++;
    return {};
  }

  checkTx({ tx }: CheckTxRequest): TxResult {
    if (isBad(tx)) return { code: BAD_CODE, log: `kv: "${tx.toString()}" starts with bad`, codespace: 'kv' };
    return { code: 0 };
  }

  prepareProposal({ txs, maxTxBytes }: PrepareProposalRequest): Buffer[] {
    if (!this.byzantine) return fitTxs(txs, maxTxBytes);
    this.stats.injected++;
    return [this.byzantine, ...fitTxs(txs, maxTxBytes - this.byzantine.length - 4)];
  }

  processProposal({ txs }: ProcessProposalRequest): boolean {
    const ok = txs.every((t) => !isBad(t)) || (this.byzantine !== undefined && txs.some((t) => t.equals(this.byzantine!)));
    if (ok) this.stats.acceptedProposals++;
    else this.stats.rejectedProposals++;
    return ok;
  }

  finalizeBlock({ height, txs }: FinalizeBlockRequest): FinalizeBlockResult {
    this.stats.finalizeBlock++;
    if (height !== this.height + 1) throw new Error(`finalizeBlock ${height} after committed height ${this.height}`);
    // The app hash changes only with transactions: with create_empty_blocks off, a hash that changed every block would make blocks forever.
    let appHash = this.appHash;
    for (const tx of txs) appHash = createHash('sha256').update(appHash).update(createHash('sha256').update(tx).digest()).digest();
    this.staged = { height, txs: txs.map((t) => t.toString()), appHash };
    return { txResults: txs.map((t) => (isBad(t) ? { code: BAD_CODE, log: 'bad tx in a block' } : { code: 0 })), appHash };
  }

  commit(): CommitResult {
    const s = this.staged;
    if (!s) throw new Error('commit without finalizeBlock');
    for (const tx of s.txs) {
      this.committed.push(tx);
      const eq = tx.indexOf('=');
      if (eq > 0) this.kv.set(tx.slice(0, eq), tx.slice(eq + 1));
    }
    this.height = s.height;
    this.appHash = s.appHash;
    this.staged = undefined;
    return { retainHeight: 0 };
  }

  query({ path, data }: QueryRequest): QueryResult {
    if (path === '/get') {
      const v = this.kv.get(data.toString());
      return v === undefined ? { code: 1, log: 'no such key', height: this.height } : { code: 0, key: data, value: Buffer.from(v), height: this.height };
    }
    return { code: 2, log: `unknown path ${path}` };
  }

  extendVote(): Buffer {
    this.stats.extendVote++;
    return Buffer.alloc(0);
  }

  verifyVoteExtension(): boolean {
    this.stats.verifyVoteExtension++;
    return true;
  }
}

const binary = findCometbft();
const N = 4;

describe('four CometBFT validators with ABCI apps in this process', { skip: binary ? false : 'cometbft is not installed (run scripts/cometbft-setup.sh; it reads /var/cache/esfc-tools/cometbft-current or $ESFC_COMETBFT)' }, () => {
  let dir = '';
  const apps: KvApp[] = [];
  const servers: AbciServer[] = [];
  let nodes: CometNode[] = [];
  let failed = false;
  const timings: string[] = [];

  /** Runs a test body; on failure, after() prints the validators' logs. */
  const step = (name: string, fn: () => Promise<void>): void => {
    test(name, async () => {
      const t0 = Date.now();
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        timings.push(`${name}: ${Date.now() - t0} ms`);
      }
    });
  };

  const sock = (i: number): string => join(dir, `v${i}.sock`);

  async function serve(i: number, app: KvApp): Promise<void> {
    apps[i] = app;
    servers[i] = new AbciServer(app);
    await servers[i]!.listen(`unix://${sock(i)}`);
  }

  /** Polls until every running validator and its app are at the same height (and no block is in flight). */
  async function settle(which: number[], timeoutMs = 30_000): Promise<number> {
    const t0 = Date.now();
    let seen = '';
    while (Date.now() - t0 < timeoutMs) {
      const heights = await Promise.all(which.map((i) => nodes[i]!.status().then((s) => s.height, () => -1)));
      const appHeights = which.map((i) => apps[i]!.height);
      seen = `node heights ${heights.join(',')}, app heights ${appHeights.join(',')}`;
      if (heights.every((h) => h === heights[0] && h >= 1) && appHeights.every((h) => h === heights[0])) {
        await sleep(700); // a proof block may follow the last tx block: make sure none starts
        const again = await Promise.all(which.map((i) => nodes[i]!.status().then((s) => s.height, () => -1)));
        if (again.every((h) => h === heights[0])) return heights[0]!;
      }
      await sleep(200);
    }
    throw new Error(`validators did not settle in ${timeoutMs} ms: ${seen}`);
  }

  async function committedEverywhere(tx: string, which: number[], timeoutMs = 20_000): Promise<void> {
    const t0 = Date.now();
    while (!which.every((i) => apps[i]!.committed.includes(tx))) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`${tx} not committed on ${which.filter((i) => !apps[i]!.committed.includes(tx)).map((i) => `v${i}`).join(',')}`);
      await sleep(100);
    }
  }

  before(async () => {
    const t0 = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'esfc-cometbft-'));
    for (let i = 0; i < N; i++) await serve(i, new KvApp());
    nodes = await createLocalNetwork({
      binary: binary!,
      baseDir: dir,
      chainId: 'esfc-abci-test',
      validators: Array.from({ length: N }, (_, i) => ({ name: `v${i}`, abciAddress: `unix://${sock(i)}` })),
      // ExtendVote / VerifyVoteExtension are exercised from the first height.
      voteExtensionsEnableHeight: 1,
    });
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(nodes.map((n) => n.waitForHeight(1, 30_000)));
    timings.push(`setup (init, start, height 1): ${Date.now() - t0} ms`);
  });

  after(async () => {
    if (failed) {
      for (const n of nodes) console.error(`---- ${n.name} (${n.running ? `pid ${n.pid}` : n.exitReason ?? 'not started'}) ${n.logFile}\n${n.logTail(2500)}`);
    }
    await Promise.all(nodes.map((n) => n.stop(5000)));
    await Promise.all(servers.map((s) => s.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`# timings: ${timings.join('; ')}`);
  });

  step('a tx broadcast to one validator commits on all four; the query path reads the state', async () => {
    const r = await nodes[0]!.rpc.broadcastTxCommit(Buffer.from('k1=v1'));
    assert.equal(r.checkTx.code, 0);
    assert.equal(r.txResult.code, 0);
    assert.ok(r.height >= 1);
    await committedEverywhere('k1=v1', [0, 1, 2, 3]);
    const s = await nodes[2]!.rpc.broadcastTxSync(Buffer.from('k2=v2'));
    assert.equal(s.code, 0);
    await committedEverywhere('k2=v2', [0, 1, 2, 3]);
    const q = await nodes[3]!.rpc.abciQuery('/get', Buffer.from('k1'));
    assert.equal(q.code, 0);
    assert.equal(q.value.toString(), 'v1');
    assert.equal((await nodes[1]!.rpc.abciQuery('/get', Buffer.from('nope'))).code, 1);
  });

  step('a tx refused by checkTx is refused with the app\'s code and log and never commits', async () => {
    const s = await nodes[1]!.rpc.broadcastTxSync(Buffer.from('bad-sync'));
    assert.equal(s.code, BAD_CODE);
    assert.equal(s.log, 'kv: "bad-sync" starts with bad');
    assert.equal(s.codespace, 'kv');
    const c = await nodes[2]!.rpc.broadcastTxCommit(Buffer.from('bad-commit'));
    assert.equal(c.checkTx.code, BAD_CODE);
    assert.equal(c.height, 0);
    await nodes[0]!.rpc.broadcastTxCommit(Buffer.from('k3=after-bad'));
    await committedEverywhere('k3=after-bad', [0, 1, 2, 3]);
    for (const a of apps) assert.ok(!a.committed.some((t) => t.startsWith('bad')), a.committed.join(','));
  });

  step('with one validator killed (SIGKILL), txs still commit', async () => {
    await nodes[3]!.kill();
    assert.equal(nodes[3]!.running, false);
    for (let i = 0; i < 4; i++) {
      const r = await nodes[i % 3]!.rpc.broadcastTxCommit(Buffer.from(`down${i}=x`));
      assert.equal(r.txResult.code, 0, `down${i}`);
    }
    await committedEverywhere('down3=x', [0, 1, 2]);
    assert.ok(!apps[3]!.committed.includes('down0=x'));
  });

  step('the killed validator, restarted with a fresh app, replays and catches up to the same height and app hash', async () => {
    // A fresh application (height 0): CometBFT's handshake runs InitChain and replays its stored blocks, then block sync fetches the rest.
    await servers[3]!.close();
    await serve(3, new KvApp());
    await nodes[3]!.start();
    const h = await settle([0, 1, 2, 3], 60_000);
    assert.equal(apps[3]!.stats.initChain, 1);
    const statuses = await Promise.all(nodes.map((n) => n.status()));
    assert.ok(statuses.every((s) => s.appHash === statuses[0]!.appHash && s.height === h), JSON.stringify(statuses.map((s) => [s.height, s.appHash])));
    assert.ok(apps[3]!.appHash.equals(apps[0]!.appHash));
    assert.deepEqual(apps[3]!.committed, apps[0]!.committed);
    // And it takes part again: a tx sent to it commits everywhere.
    const r = await nodes[3]!.rpc.broadcastTxCommit(Buffer.from('back=1'));
    assert.equal(r.txResult.code, 0);
    await committedEverywhere('back=1', [0, 1, 2, 3]);
  });

  step('a proposer that puts an invalid tx in its block is rejected by the others, the tx never commits, the chain goes on', async () => {
    const evil = Buffer.from('bad-injected-by-v1');
    apps[1]!.byzantine = evil;
    const honest = [0, 2, 3];
    const rejectedBefore = honest.map((i) => apps[i]!.stats.rejectedProposals);
    try {
      let i = 0;
      // Proposers rotate; each tx makes a block and a proof block, so v1 proposes within a few txs.
      while (apps[1]!.stats.injected === 0 || i < 2) {
        assert.ok(i < 12, 'v1 never proposed');
        const r = await nodes[[0, 2, 3][i % 3]!]!.rpc.broadcastTxCommit(Buffer.from(`byz${i}=y`));
        assert.equal(r.txResult.code, 0);
        i++;
      }
      await committedEverywhere(`byz${i - 1}=y`, [0, 1, 2, 3]);
    } finally {
      apps[1]!.byzantine = undefined;
    }
    assert.ok(apps[1]!.stats.injected > 0);
    for (const [k, idx] of honest.entries()) {
      assert.ok(apps[idx]!.stats.rejectedProposals > rejectedBefore[k]!, `v${idx} rejected no proposal`);
    }
    for (const a of apps) assert.ok(!a.committed.includes(evil.toString()));
  });

  step('all four apps hold identical committed tx sequences and app hashes', async () => {
    const h = await settle([0, 1, 2, 3]);
    for (const a of apps.slice(1)) {
      assert.deepEqual(a.committed, apps[0]!.committed);
      assert.ok(a.appHash.equals(apps[0]!.appHash));
      assert.equal(a.height, h);
    }
    const c = apps[0]!.committed;
    for (const tx of ['k1=v1', 'k2=v2', 'k3=after-bad', 'down0=x', 'down3=x', 'back=1', 'byz0=y']) assert.ok(c.includes(tx), tx);
    assert.ok(c.indexOf('k1=v1') < c.indexOf('k3=after-bad') && c.indexOf('k3=after-bad') < c.indexOf('back=1'));
    assert.ok(!c.some((t) => t.startsWith('bad')));
    // Vote extensions are on from height 1: every live validator extended and verified votes.
    for (const a of apps.slice(0, 3)) assert.ok(a.stats.extendVote > 0 && a.stats.verifyVoteExtension > 0, JSON.stringify(a.stats));
    // The committed blocks as CometBFT stores them carry the same txs.
    const tip = await nodes[2]!.rpc.block(h);
    assert.equal(tip.height, h);
    // The commit that decided a block: signatures of at least 3 of the 4 validators (what the ledger keeps for audit).
    const commit = await nodes[0]!.rpc.commit(h - 1);
    assert.equal(commit.chainId, 'esfc-abci-test');
    const signed = commit.signatures.filter((x) => x.blockIdFlag === 2);
    assert.ok(signed.length >= 3, JSON.stringify(commit.signatures));
    assert.ok(signed.every((x) => x.signature.length === 64));
    const addresses = new Set(nodes.map((n) => n.validator.address));
    assert.ok(signed.every((x) => addresses.has(x.validatorAddress)));
  });
});
