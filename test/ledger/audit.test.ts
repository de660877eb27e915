/**
 * verifyLog on exported logs: a good log passes; any single flipped bit
 * anywhere in a small export is caught and the failure names the block the
 * byte belongs to; each transaction-level rule the audit re-checks fails
 * where it should.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyLog, type AuditReason } from '../../controller/ledger/audit.js';
import { makeBlock, withCommit, type Block } from '../../controller/ledger/block.js';
import { EmbeddedStore } from '../../controller/ledger/embedded-store.js';
import { genesisBlock, genesisJson, type Genesis } from '../../controller/ledger/genesis.js';
import { generateKey, registeredKey } from '../../controller/ledger/keys.js';
import { encodeLogHeader, recordPrefix } from '../../controller/ledger/log-file.js';
import type { SignedTransaction } from '../../controller/ledger/transaction.js';
import { chainBody, chainPath, genesis, keys, model, request, response, tempDir } from './fixtures.js';

const k = keys();
const g = genesis();

/** An export built by hand: block i+1 holds txsPerBlock[i]. */
function buildLog(txsPerBlock: SignedTransaction[][], opts: { genesis?: Genesis; mutate?: (b: Block) => Block } = {}): { bytes: Buffer; blocks: Block[] } {
  const gen = opts.genesis ?? g;
  const blocks: Block[] = [genesisBlock(gen)];
  for (const txs of txsPerBlock) {
    const prev = blocks[blocks.length - 1]!;
    let b = makeBlock({ height: prev.height + 1, previousHash: prev.hash, time: prev.time + 1000, transactions: txs.map((t) => t.bytes), txIds: txs.map((t) => t.id), proposer: k.validator.signer });
    if (opts.mutate) b = opts.mutate(b);
    blocks.push(b);
  }
  return { bytes: Buffer.concat([encodeLogHeader(genesisJson(gen)), ...blocks.flatMap((b) => [recordPrefix(b.stored.length), b.stored])]), blocks };
}

function fails(bytes: Buffer, height: number, reason: AuditReason, opts: Parameters<typeof verifyLog>[1] = {}): void {
  const r = verifyLog(bytes, opts);
  assert.equal(r.ok, false, `expected ${reason} at ${height}`);
  if (!r.ok) assert.deepEqual([r.height, r.reason], [height, reason], r.detail);
}

test('a good log verifies: counts and head hash', () => {
  const req = request(k.acme, { method: 'PUT', path: chainPath('mail'), body: chainBody('mail', 'acme') });
  const { bytes, blocks } = buildLog([[req], [response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 1 } }), response(k.orchB, { requestId: req.id, outcome: 'ok', result: { revision: 1 } })], []]);
  const r = verifyLog(bytes);
  assert.ok(r.ok, r.ok ? '' : r.detail);
  assert.deepEqual([r.blocks, r.transactions, r.requests, r.responses, r.headHash], [4, 3, 1, 2, blocks[3]!.hash.toString('hex')]);
});

test('flipping any single bit of a small exported log is detected, naming the block the byte is in', () => {
  const { dir, cleanup } = tempDir('flip');
  try {
    const s = EmbeddedStore.open({ dir, genesis: g, proposer: k.validator.signer, model });
    const req = request(k.acme, { method: 'DELETE', path: chainPath('web') });
    s.submit(req.bytes);
    s.submit(request(k.globex, { method: 'DELETE', path: chainPath('erp') }).bytes);
    s.flush(Date.now());
    s.submit(response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 9 } }).bytes);
    s.flush(Date.now());
    const log = s.exportBytes();
    // Where each block's record (length prefix and stored block) starts.
    const starts: number[] = [];
    let at = log.length;
    for (let h = s.height; h >= 0; h--) {
      at -= 4 + s.block(h)!.stored.length;
      starts.unshift(at);
    }
    s.close();
    assert.ok(verifyLog(log).ok);
    const blockOf = (offset: number): number => {
      let h = 0;
      while (h + 1 < starts.length && offset >= starts[h + 1]!) h++;
      return h; // bytes of the header (magic, genesis) belong to block 0
    };
    const reasons = new Map<string, number>();
    for (let i = 0; i < log.length; i++) {
      const bad = Buffer.from(log);
      bad[i]! ^= 1 << (i % 8);
      const r = verifyLog(bad);
      assert.equal(r.ok, false, `flip at byte ${i} (block ${blockOf(i)}) not detected`);
      if (!r.ok) {
        assert.equal(r.height, blockOf(i), `flip at byte ${i}: ${r.reason} ${r.detail}`);
        reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
      }
    }
    console.log(`${log.length} bytes, ${s.height + 1} blocks; first failures by reason:`, JSON.stringify(Object.fromEntries(reasons)));
  } finally {
    cleanup();
  }
});

test('chain failures: truncation, a block out of order, a foreign proposer, a wrong root', () => {
  const req = request(k.acme, { method: 'DELETE', path: chainPath('web') });
  const { bytes, blocks } = buildLog([[req], []]);
  fails(bytes.subarray(0, bytes.length - 1), 2, 'truncated');
  fails(Buffer.from('not a log'), 0, 'bad-header');
  fails(encodeLogHeader(genesisJson(g)), 0, 'no-blocks');
  // The genesis in another (non-canonical) spelling.
  const spaced = Buffer.concat([encodeLogHeader(JSON.stringify(JSON.parse(genesisJson(g)), null, 1)), recordPrefix(blocks[0]!.stored.length), blocks[0]!.stored]);
  fails(spaced, 0, 'bad-header');
  // Blocks 1 and 2 swapped.
  const swapped = Buffer.concat([encodeLogHeader(genesisJson(g)), ...[blocks[0]!, blocks[2]!, blocks[1]!].flatMap((b) => [recordPrefix(b.stored.length), b.stored])]);
  fails(swapped, 1, 'wrong-height');
  // Signed by a key that is no validator.
  const other = makeBlock({ height: 1, previousHash: blocks[0]!.hash, time: g.time + 5, transactions: [], txIds: [], proposer: k.orchA.signer });
  fails(Buffer.concat([encodeLogHeader(genesisJson(g)), recordPrefix(blocks[0]!.stored.length), blocks[0]!.stored, recordPrefix(other.stored.length), other.stored]), 1, 'unknown-proposer');
  // A root that is not of the transactions (properly signed by the proposer).
  const wrongRoot = makeBlock({ height: 1, previousHash: blocks[0]!.hash, time: g.time + 5, transactions: [req.bytes], txIds: [Buffer.alloc(32)], proposer: k.validator.signer });
  fails(Buffer.concat([encodeLogHeader(genesisJson(g)), recordPrefix(blocks[0]!.stored.length), blocks[0]!.stored, recordPrefix(wrongRoot.stored.length), wrongRoot.stored]), 1, 'bad-tx-root');
  // Time going back.
  const back = makeBlock({ height: 1, previousHash: blocks[0]!.hash, time: g.time - 1, transactions: [], txIds: [], proposer: k.validator.signer });
  fails(Buffer.concat([encodeLogHeader(genesisJson(g)), recordPrefix(blocks[0]!.stored.length), blocks[0]!.stored, recordPrefix(back.stored.length), back.stored]), 1, 'time-regressed');
});

test('transaction failures the proposer signed anyway: unknown key, wrong role, duplicate, unknown or same-block request, second response per domain', () => {
  const req = request(k.acme, { method: 'DELETE', path: chainPath('mail') });
  const okA = response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 1 } });
  fails(buildLog([[request(k.stranger, { method: 'DELETE', path: chainPath('web') })]]).bytes, 1, 'unknown-key');
  fails(buildLog([[request(k.orchA, { method: 'DELETE', path: chainPath('web') })]]).bytes, 1, 'wrong-role');
  fails(buildLog([[req], [response(k.acme, { requestId: req.id, outcome: 'ok', result: {} })]]).bytes, 2, 'wrong-role');
  fails(buildLog([[req], [], [req]]).bytes, 3, 'duplicate');
  fails(buildLog([[req], [okA], [okA]]).bytes, 3, 'duplicate');
  fails(buildLog([[okA]]).bytes, 1, 'unknown-request');
  fails(buildLog([[req, okA]]).bytes, 1, 'unknown-request'); // a response needs a request committed in an earlier block
  fails(buildLog([[req], [okA, response(k.orchA, { requestId: req.id, outcome: 'error', result: {}, timestamp: Date.now() + 1 })]]).bytes, 2, 'duplicate-response');
  // A transaction signature broken but the block re-signed: only the transaction check can see it.
  const broken = Buffer.from(req.bytes);
  broken[broken.length - 1]! ^= 1;
  fails(buildLog([[{ bytes: broken, id: req.id }]]).bytes, 1, 'bad-signature');
  const malformed = Buffer.concat([req.bytes, Buffer.from([0])]);
  fails(buildLog([[{ bytes: malformed, id: req.id }]]).bytes, 1, 'malformed-transaction');
});

test('keys registered by an operator\'s request count from the next block', () => {
  const late = generateKey('ed25519');
  const reg = request(k.operator, { method: 'POST', path: '/restconf/data/esfc-intent:keys', body: { key: registeredKey(late, 'tenant', 'initech') } });
  const byLate = request(late, { method: 'DELETE', path: chainPath('x') });
  const keysRegisteredBy = (r: { body: string }) => {
    const b = JSON.parse(r.body) as { key?: ReturnType<typeof registeredKey> };
    return b.key ? [b.key] : [];
  };
  assert.ok(verifyLog(buildLog([[reg], [byLate]]).bytes, { keysRegisteredBy }).ok);
  fails(buildLog([[reg, byLate]]).bytes, 1, 'unknown-key', { keysRegisteredBy });
  fails(buildLog([[reg], [byLate]]).bytes, 2, 'unknown-key');
});

test('commit signatures: refused unverified, checked by the given verifier', () => {
  const commit = { context: Buffer.from([0, 0, 0, 0]), signatures: [{ validatorKeyId: k.validator.signer.keyId, timestamp: 1n, signature: Buffer.alloc(64, 7) }] };
  const { bytes } = buildLog([[], []], { mutate: (b) => withCommit(b, commit) });
  fails(bytes, 1, 'unverified-commit');
  assert.ok(verifyLog(bytes, { verifyCommit: () => undefined }).ok);
  const seen: number[] = [];
  fails(bytes, 2, 'bad-commit', { verifyCommit: (b, gen) => { seen.push(b.height); assert.equal(gen.chainId, g.chainId); return b.height === 2 ? 'not enough voting power' : undefined; } });
  assert.deepEqual(seen, [1, 2]);
});
