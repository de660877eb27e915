/**
 * A child process for the kill -9 test: appends blocks to the embedded store
 * as fast as it can and prints each block's height and transaction ids once
 * cut() has returned (that is, once the block is acknowledged).
 * argv: dir, genesis JSON, proposer PEM, tenant PEM.
 */
import { EmbeddedStore } from '../../controller/ledger/embedded-store.js';
import { parseGenesis } from '../../controller/ledger/genesis.js';
import { signerFromPem } from '../../controller/ledger/keys.js';
import { newRequest, signTransaction } from '../../controller/ledger/transaction.js';
import { chainBody, chainPath, model } from './fixtures.js';

const [dir, genesisText, proposerPem, tenantPem] = process.argv.slice(2) as [string, string, string, string];
const tenant = signerFromPem(tenantPem);
const store = EmbeddedStore.open({ dir, genesis: parseGenesis(genesisText), proposer: signerFromPem(proposerPem), model, maxTxs: 20 });
console.log(JSON.stringify({ ready: store.height }));
for (;;) {
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const v = store.submit(signTransaction(newRequest(tenant, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme') }), tenant).bytes);
    if (!v.ok) throw new Error(`${v.reason}: ${v.detail}`);
    ids.push(v.tx.idHex);
  }
  for (const b of store.cut(Date.now())) console.log(JSON.stringify({ height: b.height, ids }));
}
