/**
 * The home-directory helpers of controller/abci/cometbft-node.ts: config.toml
 * patching, genesis, and the ids we derive ourselves checked against what
 * the cometbft binary says (skipped without it); then one validator alone
 * over TCP (ABCI on tcp://127.0.0.1:<port>), stopped with SIGTERM.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { AbciApplication } from '../../controller/abci/application.js';
import {
  COMETBFT_VERSION, CometNode, CometNodeError, buildGenesis, cometbftVersion, createLocalNetwork, findCometbft, readNodeId,
  readTomlValue, readValidatorKey, setTomlValues,
} from '../../controller/abci/cometbft-node.js';
import { AbciServer } from '../../controller/abci/server.js';

test('setTomlValues edits keys in their sections and refuses unknown keys', () => {
  const text = 'a = "x"\n# c\n[rpc]\nladdr = "tcp://0.0.0.0:1"\n[p2p]\nladdr = "tcp://0.0.0.0:2"\npex = true\n';
  const out = setTomlValues(text, { a: 'y', 'p2p.laddr': 'tcp://127.0.0.1:9', 'p2p.pex': false });
  assert.equal(out, 'a = "y"\n# c\n[rpc]\nladdr = "tcp://0.0.0.0:1"\n[p2p]\nladdr = "tcp://127.0.0.1:9"\npex = false\n');
  assert.equal(readTomlValue(out, 'p2p.laddr'), 'tcp://127.0.0.1:9');
  assert.equal(readTomlValue(out, 'rpc.laddr'), 'tcp://0.0.0.0:1');
  assert.equal(readTomlValue(out, 'p2p.pex'), 'false');
  assert.throws(() => setTomlValues(text, { 'rpc.nope': 1 }), CometNodeError);
});

test('buildGenesis carries validators, vote extension height and app_state', () => {
  const g = JSON.parse(buildGenesis({
    chainId: 'c', time: new Date(0), voteExtensionsEnableHeight: 5, appState: { x: 1 },
    validators: [{ name: 'op1', power: 10, key: { address: 'AB', pubKeyBase64: 'cHVi' } }],
  })) as Record<string, unknown> & { consensus_params: { abci: { vote_extensions_enable_height: string } }; validators: { power: string }[] };
  assert.equal(g.genesis_time, '1970-01-01T00:00:00.000Z');
  assert.equal(g.consensus_params.abci.vote_extensions_enable_height, '5');
  assert.equal(g.validators[0]!.power, '10');
  assert.deepEqual(g.app_state, { x: 1 });
});

const binary = findCometbft();

describe('against the cometbft binary', { skip: binary ? false : 'cometbft is not installed (scripts/cometbft-setup.sh)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-cometbft-node-'));
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is the version scripts/cometbft-setup.sh installs', async () => {
    assert.equal(await cometbftVersion(binary!), COMETBFT_VERSION);
  });

  test('node id and validator address match cometbft show-node-id and priv_validator_key.json', () => {
    const home = join(dir, 'ids');
    execFileSync(binary!, ['init', '--home', home], { stdio: 'ignore' });
    assert.equal(readNodeId(home), execFileSync(binary!, ['show-node-id', '--home', home], { encoding: 'utf8' }).trim());
    const key = readValidatorKey(home);
    const j = JSON.parse(readFileSync(join(home, 'config', 'priv_validator_key.json'), 'utf8')) as { address: string };
    assert.equal(key.address, j.address);
  });

  test('one validator with its ABCI app on TCP: blocks, then stop (SIGTERM) and CometNode.open on the same home', async () => {
    let height = 0;
    let hash = Buffer.alloc(0);
    const app: AbciApplication = {
      info: () => ({ lastBlockHeight: height, lastBlockAppHash: hash }),
      initChain: () => ({}),
      checkTx: () => ({ code: 0 }),
      prepareProposal: ({ txs }) => txs,
      processProposal: () => true,
      finalizeBlock: ({ txs, height: h }) => {
        if (txs.length > 0) hash = Buffer.from([h]);
        return { txResults: txs.map(() => ({ code: 0 })), appHash: hash };
      },
      commit: () => {
        height++;
        return { retainHeight: 0 };
      },
      query: () => ({ code: 0 }),
    };
    const server = new AbciServer(app);
    const address = await server.listen('tcp://127.0.0.1:0');
    cleanup.push(() => server.close());
    assert.match(address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    const [node] = await createLocalNetwork({
      binary: binary!, baseDir: join(dir, 'net'), chainId: 'solo', validators: [{ name: 'solo', abciAddress: address }],
      // Empty blocks every 300 ms: this test needs blocks without transactions.
      createEmptyBlocks: { intervalMs: 300 },
    });
    cleanup.push(() => node!.stop(5000));
    await node!.start();
    await node!.waitForHeight(3, 20_000);
    assert.ok(server.connectionCount >= 3, `${server.connectionCount} ABCI connections`);
    const t0 = Date.now();
    await node!.stop(10_000);
    assert.equal(node!.exitReason, 'exit 0', `stopped by ${node!.exitReason} after ${Date.now() - t0} ms`);
    const again = CometNode.open(binary!, node!.home, 'solo');
    assert.equal(again.rpcPort, node!.rpcPort);
    assert.equal(again.nodeId, node!.nodeId);
    cleanup.push(() => again.stop(5000));
    await again.start();
    assert.ok((await again.status()).height >= 3);
    // The app kept its state across the restart, so the handshake replayed nothing and blocks go on from there.
    await again.waitForHeight(height + 2, 20_000);
  });
});
