/**
 * The ledger app's ABCI methods driven directly (no CometBFT): proposals
 * drop what no longer validates, seals are required and checked, a decided
 * block the rules refuse halts the app; the commit verifier and the store's
 * recovery. The CometBFT network test proves the same against real votes.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  LOG_FILE, decodeTransaction, generateKey, genesisValidator, hex, newRequest, newResponse, parseGenesis, registeredKey, signBytes, signTransaction,
  verifyLog, withCommit, type Genesis, type InstructionModel,
} from '../../controller/ledger/index.js';
import {
  LedgerApp, ReplicatedLogError, cometAddress, cometDataHash, cometMerkleRoot, decodeCommitContext, encodeCommitContext, parseRfc3339Ns, precommitSignBytes, rawPublicKeyOf, refusalCode,
  verifyCometCommit, type CometCommitContext, type CommitSource,
} from '../../controller/replicated/index.js';
import type { Commit } from '../../controller/ledger/index.js';

const dir = mkdtempSync(join(tmpdir(), 'esfc-ledger-app-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const vals = [0, 1, 2, 3].map(() => generateKey('ed25519'));
const tenant = generateKey();
const east = generateKey();
const west = generateKey();
const T0 = Date.now();
const genesis: Genesis = parseGenesis({
  chainId: 'unit', time: T0, timestampWindowMs: 30_000,
  validators: vals.map((v, i) => genesisValidator(v, `v${i}`, `d${i}`)),
  keys: [registeredKey(tenant, 'tenant', 'acme'), registeredKey(east, 'orchestrator', 'oe', 'east'), registeredKey(west, 'orchestrator', 'ow', 'west')],
});
const model: InstructionModel = {
  check: (_m, path) => (path.startsWith('/restconf/data/') ? undefined : 'not data'),
  tenantsTouched: () => ['acme'],
  domainsOf: (r) => [r.path.endsWith('east') ? 'east' : 'west'],
};
const addr = (i: number): Buffer => cometAddress(rawPublicKeyOf(genesis.validators[i]!)!);
const req = (name: string, timestamp = T0 + 1000): Buffer =>
  signTransaction(newRequest(tenant.signer, { method: 'PUT', path: `/restconf/data/x/${name}`, body: { n: name }, timestamp }), tenant.signer).bytes;
const block = (height: number, txs: Buffer[], proposer = 0, time = new Date(T0 + 2000)) => ({
  height, time, txs, proposerAddress: addr(proposer), misbehavior: [], nextValidatorsHash: Buffer.alloc(32), hash: Buffer.alloc(32),
});

function appFor(i: number, sub: string): LedgerApp {
  return new LedgerApp({ dir: join(dir, sub), genesis, validator: vals[i]!.signer, model, clock: () => T0 + 1000 });
}

/** A CometBFT header's hash leaves for a block of these transactions (seal included), by validator `proposer`. */
function fakeHeader(cometHeight: number, cometTxs: Buffer[], proposer: number): Buffer[] {
  const bv = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x0a, b.length]), b]);
  return [
    Buffer.from([0x08, 11]), bv(Buffer.from('unit')), Buffer.from([0x08, cometHeight]), Buffer.from([0x08, 0x80, 0x01]), Buffer.from([0x12, 0]),
    bv(Buffer.alloc(32, 1)), bv(cometDataHash(cometTxs)), bv(Buffer.alloc(32, 2)), bv(Buffer.alloc(32, 2)), bv(Buffer.alloc(32, 3)),
    bv(Buffer.alloc(32, 4)), bv(Buffer.alloc(32, 5)), bv(Buffer.alloc(32, 6)), bv(addr(proposer)),
  ];
}

/** Precommits of these validators for the CometBFT block of `cometTxs` (the header's hash is the block id). */
function fakeCommit(cometHeight: number, cometTxs: Buffer[], signers = [0, 1, 2, 3], header = fakeHeader(cometHeight, cometTxs, 0)): Commit {
  const ctx: CometCommitContext = { cometHeight, round: 1, blockHash: cometMerkleRoot(header), partsTotal: 1, partsHash: Buffer.alloc(32, 9), header };
  return {
    context: encodeCommitContext(ctx),
    signatures: signers.map((i) => {
      const ts = BigInt(T0) * 1_000_000n + 123n;
      return { validatorKeyId: vals[i]!.signer.keyId, timestamp: ts, signature: signBytes(vals[i]!.signer, precommitSignBytes('unit', ctx, ts)) };
    }),
  };
}

test('a proposal keeps what validates in order, drops duplicates and stale txs, and is sealed; others accept it and reach the same app hash', async () => {
  const a = appFor(0, 'a');
  const b = appFor(1, 'b');
  for (const x of [a, b]) x.initChain({ time: new Date(T0), chainId: 'unit', validators: vals.map((v) => ({ ed25519PubKey: rawPublicKeyOf(v)!, power: 10 })), appStateBytes: Buffer.alloc(0), initialHeight: 1 });
  const r1 = req('east');
  const stale = req('old', T0 - 60_000);
  const txs = a.prepareProposal({ ...block(1, [r1, r1, stale]), maxTxBytes: 1 << 20, localLastCommit: { round: 0, votes: [] } });
  assert.equal(txs.length, 2, 'r1 and the seal');
  assert.ok(txs[0]!.equals(r1) && txs[1]![0] === 0);
  assert.equal(b.processProposal({ ...block(1, txs), proposedLastCommit: { round: 0, votes: [] } }), true);
  // Missing seal, a seal by someone else than the proposer, a tampered seal: rejected.
  assert.equal(b.processProposal({ ...block(1, [r1]), proposedLastCommit: { round: 0, votes: [] } }), false);
  assert.equal(b.processProposal({ ...block(1, txs, 2), proposedLastCommit: { round: 0, votes: [] } }), false);
  const tampered = [txs[0]!, Buffer.from(txs[1]!)];
  tampered[1]![tampered[1]!.length - 1]! ^= 1;
  assert.equal(b.processProposal({ ...block(1, tampered), proposedLastCommit: { round: 0, votes: [] } }), false);
  // A different block time is a different block: the seal no longer verifies.
  assert.equal(b.processProposal({ ...block(1, txs, 0, new Date(T0 + 2001)), proposedLastCommit: { round: 0, votes: [] } }), false);
  const fa = a.finalizeBlock({ ...block(1, txs), decidedLastCommit: { round: 0, votes: [] } });
  const fb = b.finalizeBlock({ ...block(1, txs), decidedLastCommit: { round: 0, votes: [] } });
  assert.ok(fa.appHash.equals(fb.appHash));
  a.commit();
  b.commit();
  assert.equal(a.headBlock.height, 1);
  assert.equal(a.checkTx({ tx: r1, recheck: false }).code, refusalCode('duplicate'));
  // A response by the wrong domain is refused in a proposal (and a decided block holding one halts the app).
  const wrong = signTransaction(newResponse(west.signer, { requestId: decodeTransaction(r1).id, outcome: 'ok', result: { revision: 1 } }), west.signer).bytes;
  assert.deepEqual(a.awaitingResponse('east').map((r) => r.idHex), [hex(decodeTransaction(r1).id)]);
  assert.equal(a.checkTx({ tx: wrong, recheck: false }).code, refusalCode('wrong-orchestrator'));
  a.testInjectIntoProposals = [wrong];
  const evil = a.prepareProposal({ ...block(3, []), maxTxBytes: 1 << 20, localLastCommit: { round: 0, votes: [] } });
  a.testInjectIntoProposals = undefined;
  assert.equal(b.processProposal({ ...block(3, evil), proposedLastCommit: { round: 0, votes: [] } }), false);
  assert.match(b.lastRejection ?? '', /wrong-orchestrator/);
  b.finalizeBlock({ ...block(2, []), decidedLastCommit: { round: 0, votes: [] } });
  b.commit();
  assert.throws(() => b.finalizeBlock({ ...block(3, evil), decidedLastCommit: { round: 0, votes: [] } }), (e: unknown) => e instanceof ReplicatedLogError && e.code === 'invalid-decided-block');

  // Sealing with a commit makes the block durable; a reopened app resumes at its CometBFT height.
  const source: CommitSource = { canonicalCommit: (h) => Promise.resolve(h === 1 ? fakeCommit(1, txs) : undefined) };
  a.startSealing(source);
  const t0 = Date.now();
  while (a.unsealedCount > 0) {
    assert.ok(Date.now() - t0 < 5000, a.lastSealError);
    await new Promise((r) => setTimeout(r, 20));
  }
  const audit = verifyLog(a.exportBytes(), { verifyCommit: verifyCometCommit });
  assert.ok(audit.ok && audit.blocks === 2, JSON.stringify(audit));
  await a.close();
  await b.close();
  const again = appFor(0, 'a');
  assert.equal(again.info().lastBlockHeight, 1);
  assert.ok(again.info().lastBlockAppHash.equals(fa.appHash));
  await again.close();

  // A torn append at the end is cut off on open.
  const path = join(dir, 'a', LOG_FILE);
  const size = statSync(path).size;
  appendFileSync(path, Buffer.from([0, 0, 1, 0, 1, 2]));
  const cut = appFor(0, 'a');
  assert.equal(statSync(path).size, size);
  await cut.close();
});

test('the commit verifier wants more than 2/3 distinct genesis validators with good precommit signatures', () => {
  const a = appFor(0, 'v');
  const r1 = req('east');
  const txs = a.prepareProposal({ ...block(1, [r1]), maxTxBytes: 1 << 20, localLastCommit: { round: 0, votes: [] } });
  a.finalizeBlock({ ...block(1, txs), decidedLastCommit: { round: 0, votes: [] } });
  a.commit();
  const b = a.headBlock;
  assert.equal(verifyCometCommit(withCommit(b, fakeCommit(1, txs)), genesis), undefined);
  assert.equal(verifyCometCommit(withCommit(b, fakeCommit(1, txs, [0, 1, 3])), genesis), undefined);
  assert.match(verifyCometCommit(withCommit(b, fakeCommit(1, txs, [0, 1])), genesis) ?? '', /2 of 4 validators signed/);
  const dup = fakeCommit(1, txs, [0, 1, 1]);
  assert.match(verifyCometCommit(withCommit(b, dup), genesis) ?? '', /signed twice/);
  // Good precommits for a CometBFT block of other transactions, or by another proposer, or a header that is not the block id's.
  assert.match(verifyCometCommit(withCommit(b, fakeCommit(1, [req('other'), txs[1]!])), genesis) ?? '', /holds other transactions than ledger block 1/);
  assert.match(verifyCometCommit(withCommit(b, fakeCommit(1, txs, [0, 1, 2, 3], fakeHeader(1, txs, 2))), genesis) ?? '', /proposed by another validator/);
  const swapped = fakeCommit(1, txs);
  const sctx = decodeCommitContext(swapped.context);
  sctx.header[9] = Buffer.concat([Buffer.from([0x0a, 32]), Buffer.alloc(32, 8)]);
  swapped.context = encodeCommitContext(sctx);
  assert.match(verifyCometCommit(withCommit(b, swapped), genesis) ?? '', /does not hash to the block id/);
  const bad = fakeCommit(1, txs);
  bad.signatures[2]!.timestamp += 1n;
  assert.match(verifyCometCommit(withCommit(b, bad), genesis) ?? '', /does not verify/);
  void a.close();
});

test('RFC 3339 vote times keep their nanoseconds', () => {
  assert.equal(parseRfc3339Ns('1970-01-01T00:00:01.000000002Z'), 1_000_000_002n);
  assert.equal(parseRfc3339Ns('2024-05-06T07:08:09.5Z'), BigInt(Date.parse('2024-05-06T07:08:09Z')) * 1_000_000n + 500_000_000n);
  assert.equal(parseRfc3339Ns('2024-05-06T07:08:09Z'), BigInt(Date.parse('2024-05-06T07:08:09Z')) * 1_000_000n);
  assert.throws(() => parseRfc3339Ns('2024-05-06 07:08:09Z'), ReplicatedLogError);
});
