/** Blocks, the Merkle root, the genesis and block 0, commit signatures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  decodeStoredBlock, encodeBlockBody, makeBlock, verifyBlockSignature, withCommit, ZERO_HASH, type Commit,
} from '../../controller/ledger/block.js';
import { canonicalJson } from '../../controller/ledger/canonical-json.js';
import { LedgerDecodeError } from '../../controller/ledger/codec.js';
import { genesisBlock, genesisJson, LedgerGenesisError, parseGenesis, validatorKeys } from '../../controller/ledger/genesis.js';
import { merkleRoot } from '../../controller/ledger/merkle.js';
import { publicKeyFrom } from '../../controller/ledger/keys.js';
import { chainBody, chainPath, genesis, keys, request, response } from './fixtures.js';

const k = keys();
const sha = (...parts: (Buffer | number[])[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(Buffer.isBuffer(p) ? p : Buffer.from(p));
  return h.digest();
};

test('Merkle root: empty, one, two, three (odd node promoted), domain-separated leaves and nodes', () => {
  const ids = [1, 2, 3, 4, 5].map((i) => Buffer.alloc(32, i));
  const leaf = (id: Buffer): Buffer => sha([0], id);
  const node = (l: Buffer, r: Buffer): Buffer => sha([1], l, r);
  assert.deepEqual(merkleRoot([]), sha());
  assert.deepEqual(merkleRoot(ids.slice(0, 1)), leaf(ids[0]!));
  assert.deepEqual(merkleRoot(ids.slice(0, 2)), node(leaf(ids[0]!), leaf(ids[1]!)));
  assert.deepEqual(merkleRoot(ids.slice(0, 3)), node(node(leaf(ids[0]!), leaf(ids[1]!)), leaf(ids[2]!)));
  assert.deepEqual(merkleRoot(ids), node(node(node(leaf(ids[0]!), leaf(ids[1]!)), node(leaf(ids[2]!), leaf(ids[3]!))), leaf(ids[4]!)));
  // Promotion, not duplication: [a, b, c] and [a, b, c, c] differ.
  assert.notDeepEqual(merkleRoot(ids.slice(0, 3)), merkleRoot([...ids.slice(0, 3), ids[2]!]));
});

test('a block round-trips through its stored form; hash, root and proposer signature check out', () => {
  const txs = [
    request(k.acme, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme') }),
    response(k.orchB, { requestId: Buffer.alloc(32, 1), outcome: 'ok', result: { revision: 3 } }),
  ];
  const block = makeBlock({ height: 5, previousHash: Buffer.alloc(32, 0xaa), time: 1_700_000_000_000, transactions: txs.map((t) => t.bytes), txIds: txs.map((t) => t.id), proposer: k.validator.signer });
  const d = decodeStoredBlock(block.stored);
  assert.equal(d.height, 5);
  assert.equal(d.time, 1_700_000_000_000);
  assert.deepEqual(d.previousHash, Buffer.alloc(32, 0xaa));
  assert.deepEqual(d.txRoot, merkleRoot(txs.map((t) => t.id)));
  assert.deepEqual(d.proposerKeyId, k.validator.signer.keyId);
  assert.deepEqual(d.transactions, txs.map((t) => t.bytes));
  assert.deepEqual(block.transactions, txs.map((t) => t.bytes));
  assert.deepEqual(d.hash, sha(d.body));
  assert.deepEqual(d.hash, block.hash);
  assert.deepEqual(d.body, encodeBlockBody(d, d.transactions));
  assert.equal(d.commit, undefined);
  const v = validatorKeys(genesis()).get(k.validator.keyId)!;
  assert.ok(verifyBlockSignature(d, v.alg, v.publicKey));
  assert.ok(!verifyBlockSignature({ ...d, hash: sha(d.hash) }, v.alg, v.publicKey));
  // An RSA-PSS proposer works the same way.
  const rsa = makeBlock({ height: 1, previousHash: ZERO_HASH, time: 1, transactions: [], txIds: [], proposer: k.orchB.signer });
  assert.equal(rsa.signature.length, 256);
  assert.ok(verifyBlockSignature(decodeStoredBlock(rsa.stored), 'rsa-pss-2048', publicKeyFrom(k.orchB.publicKey)));
});

test('strict block decoding: trailing bytes, a count the bytes cannot hold, a torn transaction, wrong signature length', () => {
  const tx = request(k.acme, { method: 'DELETE', path: chainPath('web') });
  const block = makeBlock({ height: 1, previousHash: ZERO_HASH, time: 1, transactions: [tx.bytes], txIds: [tx.id], proposer: k.validator.signer });
  assert.throws(() => decodeStoredBlock(Buffer.concat([block.stored, Buffer.from([0])])), /trailing/);
  const count = Buffer.from(block.stored);
  count.writeUInt32BE(0xffffffff, 1 + 8 + 32 + 8 + 32 + 32);
  assert.throws(() => decodeStoredBlock(count), (e: unknown) => e instanceof LedgerDecodeError && e.field === 'block.count');
  assert.throws(() => decodeStoredBlock(block.stored.subarray(0, 150)), LedgerDecodeError);
  const sigLen = Buffer.from(block.stored);
  sigLen.writeUInt16BE(63, block.body.length);
  assert.throws(() => decodeStoredBlock(sigLen), /block\.signature/);
  const version = Buffer.from(block.stored);
  version[0] = 2;
  assert.throws(() => decodeStoredBlock(version), /block\.version/);
});

test('commit signatures (replicated mode): stored after the proposer signature, outside the hash', () => {
  const block = makeBlock({ height: 2, previousHash: ZERO_HASH, time: 2, transactions: [], txIds: [], proposer: k.validator.signer });
  const commit: Commit = {
    context: Buffer.from('round 0, cometbft block id'),
    signatures: [
      { validatorKeyId: Buffer.alloc(32, 1), timestamp: 1_700_000_000_123_456_789n, signature: Buffer.alloc(64, 2) },
      { validatorKeyId: Buffer.alloc(32, 3), timestamp: 0xffff_ffff_ffff_ffffn, signature: Buffer.alloc(64, 4) },
    ],
  };
  const withC = withCommit(block, commit);
  assert.deepEqual(withC.hash, block.hash, 'the commit is not hashed');
  const d = decodeStoredBlock(withC.stored);
  assert.deepEqual(d.commit, commit);
  assert.deepEqual(d.hash, block.hash);
  assert.deepEqual(decodeStoredBlock(withCommit(d, undefined).stored).commit, undefined);
  assert.deepEqual(withCommit(d, undefined).stored, block.stored);
});

test('the genesis: strict parsing, canonical JSON, block 0 binds the log to it', () => {
  const g = genesis();
  const text = genesisJson(g);
  assert.ok(!/\s/.test(text.replace(/"[^"]*"/g, '')), 'no whitespace outside strings');
  assert.deepEqual(parseGenesis(text), g);
  // Keys sorted, undefined members left out, the same whatever the input order.
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined, A: { z: 0, y: -1.5 } }), '{"A":{"y":-1.5,"z":0},"a":[true,null,"x"],"b":1}');
  const shuffled = JSON.parse(JSON.stringify({ timestampWindowMs: g.timestampWindowMs, keys: g.keys, validators: g.validators, time: g.time, chainId: g.chainId })) as unknown;
  assert.equal(genesisJson(parseGenesis(JSON.stringify(shuffled, null, 2))), text);

  const b0 = genesisBlock(g);
  assert.equal(b0.height, 0);
  assert.equal(b0.transactions.length, 0);
  assert.equal(b0.signature.length, 0);
  assert.deepEqual(b0.previousHash, ZERO_HASH);
  assert.deepEqual(b0.proposerKeyId, Buffer.alloc(32));
  assert.equal(b0.time, g.time);
  assert.deepEqual(b0.txRoot, sha(Buffer.from(text)));
  assert.deepEqual(decodeStoredBlock(b0.stored), b0);
  assert.notDeepEqual(genesisBlock({ ...g, chainId: 'other' }).hash, b0.hash);

  const bad: [string, unknown][] = [
    ['unknown member', { ...g, extra: 1 }],
    ['missing member', { ...g, timestampWindowMs: undefined }],
    ['validator key id not the hash of its key', { ...g, validators: [{ ...g.validators[0]!, keyId: 'ab'.repeat(32) }] }],
    ['no validators', { ...g, validators: [] }],
    ['orchestrator without domain', { ...g, keys: [{ ...g.keys[3]!, domain: undefined }] }],
    ['key registered as the other algorithm', { ...g, keys: [{ ...g.keys[1]!, alg: 'rsa-pss-2048' }] }],
    ['same key twice', { ...g, keys: [g.keys[0]!, g.keys[0]!] }],
    ['time not an integer', { ...g, time: 1.5 }],
  ];
  for (const [name, v] of bad) assert.throws(() => parseGenesis(JSON.stringify(v)), LedgerGenesisError, name);
});

test('sizes: empty block (Ed25519 and RSA-PSS proposer), block 0', () => {
  const sizes: Record<string, number> = {};
  for (const key of [k.validator, k.orchB]) {
    sizes[`empty block, ${key.alg} proposer`] = makeBlock({ height: 1, previousHash: ZERO_HASH, time: 1, transactions: [], txIds: [], proposer: key.signer }).stored.length;
  }
  sizes['block 0'] = genesisBlock(genesis()).stored.length;
  console.log('block sizes (bytes):', JSON.stringify(sizes));
  assert.equal(sizes['empty block, ed25519 proposer'], 117 + 2 + 64 + 4);
});
