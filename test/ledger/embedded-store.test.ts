/**
 * The embedded store on real files: blocks cut by size, bytes and age,
 * lookups and history, reopening (the id index is rebuilt, duplicates are
 * still refused), a torn last record cut off, corruption refused, kill -9
 * losing no acknowledged block, and an export that verifyLog accepts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { verifyLog } from '../../controller/ledger/audit.js';
import { EmbeddedStore, LedgerStoreError, LOG_FILE, runCutTimer, type EmbeddedStoreOptions } from '../../controller/ledger/embedded-store.js';
import { genesisJson } from '../../controller/ledger/genesis.js';
import { chainBody, chainPath, genesis, keys, model, request, response, tempDir } from './fixtures.js';

const k = keys();
const g = genesis();
const temps: (() => void)[] = [];
after(() => temps.forEach((c) => c()));

function newDir(prefix: string): string {
  const t = tempDir(prefix);
  temps.push(t.cleanup);
  return t.dir;
}

function open(dir: string, extra: Partial<EmbeddedStoreOptions> = {}): EmbeddedStore {
  return EmbeddedStore.open({ dir, genesis: g, proposer: k.validator.signer, model, ...extra });
}

const put = (name: string, tenant = k.acme, tenantName = 'acme'): ReturnType<typeof request> =>
  request(tenant, { method: 'PUT', path: chainPath(name), body: chainBody(name, tenantName) });

function submitOk(s: EmbeddedStore, bytes: Buffer): string {
  const v = s.submit(bytes);
  assert.ok(v.ok, v.ok ? '' : `${v.reason}: ${v.detail}`);
  return v.tx.idHex;
}

test('a new store holds block 0; blocks are cut by count, bytes and age; lookups and history', () => {
  const dir = newDir('cut');
  let clock = Date.now();
  const s = open(dir, { maxTxs: 3, maxBytes: 4096, intervalMs: 100, clock: () => clock });
  assert.equal(s.height, 0);
  assert.deepEqual(s.block(0)!.txRoot.length, 32);

  const ids = [0, 1, 2, 3].map(() => submitOk(s, put('web').bytes));
  assert.equal(s.pendingCount, 4);
  assert.equal(s.status(ids[0]!), 'pending');
  const dup = s.submit(s.transaction(ids[0]!)!.tx.bytes);
  assert.ok(!dup.ok && dup.reason === 'duplicate' && /pending/.test(dup.detail));
  // Size: one full block of 3, the 4th waits for its age.
  const b1 = s.cut(clock);
  assert.deepEqual(b1.map((b) => [b.height, b.transactions.length]), [[1, 3]]);
  assert.equal(s.status(ids[0]!), 'committed');
  assert.equal(s.cut(clock + 99).length, 0);
  clock += 100;
  assert.deepEqual(s.cut(clock).map((b) => [b.height, b.transactions.length]), [[2, 1]]);
  assert.equal(s.cut(clock + 1000).length, 0, 'no empty blocks');

  // Bytes: each ~260-byte request; 4096 bytes of them cut a block before 3 if maxBytes is small.
  const small = open(newDir('bytes'), { maxTxs: 100, maxBytes: 600 });
  for (let i = 0; i < 5; i++) submitOk(small, put('web').bytes);
  const cut = small.cut(Date.now());
  assert.deepEqual(cut.map((b) => b.transactions.length), [2, 2]);
  assert.equal(small.pendingCount, 1);
  assert.deepEqual(small.flush(Date.now()).map((b) => b.transactions.length), [1]);
  small.close();

  // Responses; pending responses count for duplicate-response.
  const req = s.transaction(ids[0]!)!.tx;
  const r1 = submitOk(s, response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 1 } }).bytes);
  const again = s.submit(response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 1 }, timestamp: Date.now() + 5 }).bytes);
  assert.ok(!again.ok && again.reason === 'duplicate-response');
  const notYet = s.submit(response(k.orchA, { requestId: Buffer.from(submitOk(s, put('mail').bytes), 'hex'), outcome: 'ok', result: {} }).bytes);
  assert.ok(!notYet.ok && notYet.reason === 'unknown-request', 'a pending request cannot be answered yet');
  const globex = submitOk(s, put('erp', k.globex, 'globex').bytes);
  const op = submitOk(s, request(k.operator, { method: 'DELETE', path: chainPath('erp') }).bytes);
  s.flush(clock);

  const got = s.transaction(r1)!;
  assert.equal(got.status, 'committed');
  if (got.status === 'committed') {
    assert.equal(got.meta.height, 3);
    assert.equal(got.meta.requestIdHex, req.idHex);
    assert.equal(got.meta.tenant, 'acme');
    assert.equal(got.meta.chain, 'web');
    assert.equal(got.tx.type, 'response');
  }
  assert.equal(s.transaction('00'.repeat(32)), undefined);
  assert.deepEqual(s.history({ tenant: 'globex' }).map((h) => h.meta.idHex), [globex]);
  assert.deepEqual(s.history({ chain: 'erp' }).map((h) => h.meta.idHex), [globex, op]);
  assert.equal(s.history({ tenant: 'acme', chain: 'web' }).length, 5); // 4 requests and the response
  assert.equal(s.history({ tenant: 'acme', limit: 2 }).length, 2);
  assert.equal(s.history({ from: Date.now() + 60_000 }).length, 0);
  assert.equal(s.history({ to: 0 }).length, 0);
  assert.equal(s.history().length, s.committedCount);

  const audit = verifyLog(s.exportBytes());
  assert.ok(audit.ok, audit.ok ? '' : `${audit.height} ${audit.reason} ${audit.detail}`);
  assert.equal(audit.blocks, s.height + 1);
  assert.equal(audit.transactions, s.committedCount);
  const out = join(dir, 'export.log');
  s.exportTo(out);
  assert.deepEqual(readFileSync(out), s.exportBytes());
  s.close();
  assert.throws(() => s.submit(put('web').bytes), (e: unknown) => e instanceof LedgerStoreError && e.code === 'closed');
});

test('reopening rebuilds the id index: replays and second responses are still refused', () => {
  const dir = newDir('reopen');
  const s = open(dir);
  const req = put('mail');
  submitOk(s, req.bytes);
  s.flush(Date.now());
  const resp = response(k.orchB, { requestId: req.id, outcome: 'ok', result: { revision: 4 } });
  submitOk(s, resp.bytes);
  s.flush(Date.now());
  const pendingOnly = put('web');
  submitOk(s, pendingOnly.bytes); // never cut: never acknowledged, gone after close
  const before = s.history().map((h) => h.meta);
  s.close();

  const r = open(dir);
  assert.equal(r.height, 2);
  assert.equal(r.recovery, undefined);
  assert.deepEqual(r.history().map((h) => h.meta), before);
  const replay = r.submit(req.bytes);
  assert.ok(!replay.ok && replay.reason === 'duplicate' && /committed/.test(replay.detail));
  const replayResp = r.submit(resp.bytes);
  assert.ok(!replayResp.ok && replayResp.reason === 'duplicate');
  const second = r.submit(response(k.orchB, { requestId: req.id, outcome: 'error', result: {}, timestamp: Date.now() + 1 }).bytes);
  assert.ok(!second.ok && second.reason === 'duplicate-response');
  submitOk(r, response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 4 } }).bytes);
  assert.equal(r.status(pendingOnly.id.toString('hex')), undefined);
  submitOk(r, pendingOnly.bytes);
  r.flush(Date.now());
  r.close();
});

test('a torn last record (any cut point) is dropped on open; earlier blocks are intact and appends continue', () => {
  const dir = newDir('torn');
  const s = open(dir, { maxTxs: 2 });
  for (let i = 0; i < 6; i++) submitOk(s, put('web').bytes);
  s.cut(Date.now());
  assert.equal(s.height, 3);
  const full = s.exportBytes();
  const lastStart = full.length - 4 - s.block(3)!.stored.length;
  const kept = s.history().filter((h) => h.meta.height < 3).map((h) => h.meta.idHex);
  const lost = s.history().filter((h) => h.meta.height === 3).map((h) => h.meta.idHex);
  s.close();

  const file = join(dir, LOG_FILE);
  for (const cut of [lastStart + 1, lastStart + 3, lastStart + 4, lastStart + 100, full.length - 1]) {
    writeFileSync(file, full.subarray(0, cut));
    const r = open(dir);
    assert.equal(r.height, 2, `cut at ${cut}`);
    assert.equal(r.recovery?.truncatedBytes, cut - lastStart);
    assert.match(r.recovery!.reason, /block 3/);
    assert.equal(statSync(file).size, lastStart, 'the torn bytes are gone from the file');
    assert.deepEqual(r.history().map((h) => h.meta.idHex), kept);
    for (const id of lost) assert.equal(r.status(id), undefined);
    r.close();
  }
  // Appending after recovery gives a valid chain again.
  const r = open(dir);
  submitOk(r, put('web').bytes);
  r.flush(Date.now());
  assert.equal(r.height, 3);
  assert.ok(verifyLog(r.exportBytes()).ok);
  r.close();
});

test('a complete but bad last record is dropped; a bad record before the last is corruption and refused', () => {
  const dir = newDir('bad');
  const s = open(dir, { maxTxs: 1 });
  for (let i = 0; i < 3; i++) submitOk(s, put('web').bytes);
  s.cut(Date.now());
  const full = s.exportBytes();
  const b2 = s.block(2)!.stored.length;
  const b3 = s.block(3)!.stored.length;
  s.close();
  const file = join(dir, LOG_FILE);
  // A whole record of zeros at the end: the length landed, the data did not.
  appendFileSync(file, Buffer.concat([Buffer.from([0, 0, 0, 200]), Buffer.alloc(200)]));
  const r = open(dir);
  assert.equal(r.height, 3);
  assert.match(r.recovery!.reason, /block 4/);
  r.close();
  // A flipped bit inside block 2 (not the last): refuse to open, naming it.
  const bad = Buffer.from(full);
  bad[full.length - 4 - b3 - b2 + 20]! ^= 0x04;
  writeFileSync(file, bad);
  assert.throws(() => open(dir), (e: unknown) => e instanceof LedgerStoreError && e.code === 'corrupt' && e.height === 2);
});

test('opening: a log of another genesis, a proposer that is no validator, no genesis to create from', () => {
  const dir = newDir('open');
  open(dir).close();
  assert.throws(() => open(dir, { genesis: { ...g, chainId: 'other' } }), (e: unknown) => e instanceof LedgerStoreError && e.code === 'genesis-mismatch');
  assert.throws(() => open(dir, { proposer: k.orchA.signer }), (e: unknown) => e instanceof LedgerStoreError && e.code === 'not-a-validator');
  const s = EmbeddedStore.open({ dir, proposer: k.validator.signer, model });
  assert.equal(genesisJson(s.genesis), genesisJson(g), 'the genesis comes from the log');
  s.close();
  assert.throws(() => EmbeddedStore.open({ dir: newDir('none'), proposer: k.validator.signer, model }), (e: unknown) => e instanceof LedgerStoreError && e.code === 'no-genesis');
});

test('the cut timer cuts aged transactions on its own', async () => {
  const s = open(newDir('timer'), { intervalMs: 20 });
  const cut: number[] = [];
  const timer = runCutTimer(s, { onBlocks: (bs) => cut.push(...bs.map((b) => b.height)) });
  const id = submitOk(s, put('web').bytes);
  const deadline = Date.now() + 5000;
  while (s.status(id) !== 'committed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  timer.stop();
  assert.equal(s.status(id), 'committed');
  assert.deepEqual(cut, [1]);
  s.close();
});

test('kill -9 while appending loses no acknowledged block', { timeout: 60_000 }, async () => {
  const dir = newDir('kill');
  const child = fileURLToPath(new URL('./store-writer-child.js', import.meta.url));
  for (let round = 0; round < 3; round++) {
    const p = spawn(process.execPath, [child, dir, genesisJson(g), k.validator.privateKeyPem(), k.acme.privateKeyPem()], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: { height: number; ids: string[] }[] = [];
    const lines = createInterface({ input: p.stdout! });
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    await new Promise<void>((resolve) => {
      lines.on('line', (l) => {
        const m = JSON.parse(l) as { height?: number; ids?: string[] };
        if (m.height !== undefined) acked.push({ height: m.height, ids: m.ids! });
        // Kill at a different moment each round, in the middle of appends.
        if (acked.length === 5 + round * 7) {
          p.kill('SIGKILL');
          resolve();
        }
      });
    });
    await exited;
    const s = open(dir);
    const last = acked[acked.length - 1]!.height;
    assert.ok(s.height >= last, `round ${round}: height ${s.height} < acknowledged ${last}`);
    for (const a of acked) for (const id of a.ids) assert.equal(s.status(id), 'committed', `round ${round}: block ${a.height}`);
    assert.ok(verifyLog(s.exportBytes()).ok);
    s.close();
  }
});
