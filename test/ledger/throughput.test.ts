/**
 * A quick throughput figure for the embedded mode: validate + append of
 * pre-signed Ed25519 transactions (requests, then one response each), blocks
 * of up to 1000 fdatasync'ed as they fill. Printed for the record; the
 * assertion is only a floor that catches an order-of-magnitude regression.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyLog } from '../../controller/ledger/audit.js';
import { EmbeddedStore } from '../../controller/ledger/embedded-store.js';
import { chainBody, chainPath, genesis, keys, model, request, response, tempDir } from './fixtures.js';

test('validate + append throughput (Ed25519, blocks of 1000)', { timeout: 120_000 }, () => {
  const k = keys();
  const { dir, cleanup } = tempDir('tput');
  try {
    const N = 5000;
    const s = EmbeddedStore.open({ dir, genesis: genesis(), proposer: k.validator.signer, model, maxTxs: 1000 });
    const reqs = Array.from({ length: N }, (_, i) => request(k.acme, { method: 'PUT', path: chainPath(`web${i % 7}`), body: chainBody(`web${i % 7}`, 'acme') }));
    const run = (txs: Buffer[]): number => {
      const t0 = process.hrtime.bigint();
      for (const b of txs) {
        const v = s.submit(b);
        if (!v.ok) throw new Error(`${v.reason}: ${v.detail}`);
        if (s.pendingCount >= s.maxTxs) s.cut(Date.now());
      }
      s.flush(Date.now());
      return txs.length / (Number(process.hrtime.bigint() - t0) / 1e9);
    };
    const reqRate = run(reqs.map((r) => r.bytes));
    const resps = reqs.map((r) => response(k.orchA, { requestId: r.id, outcome: 'ok', result: { revision: 1 } }).bytes);
    const respRate = run(resps);
    console.log(`validate+append: requests ${reqRate.toFixed(0)} tx/s, responses ${respRate.toFixed(0)} tx/s (${N} each, ${s.height} blocks)`);
    const t0 = process.hrtime.bigint();
    const audit = verifyLog(s.exportBytes());
    console.log(`verifyLog: ${((2 * N) / (Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(0)} tx/s`);
    assert.ok(audit.ok);
    assert.ok(reqRate > 500 && respRate > 500);
    s.close();
  } finally {
    cleanup();
  }
});
