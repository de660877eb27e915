/** Request/response encoding: round trips, ids, strict decoding, sizes, the JSON view. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { LedgerDecodeError } from '../../controller/ledger/codec.js';
import {
  decodeTransaction, encodeUnsigned, newRequest, signTransaction, transactionJson, txId, type Request, type Response,
} from '../../controller/ledger/transaction.js';
import { chainBody, chainPath, keys, request, response } from './fixtures.js';

const k = keys();
const TS = Date.UTC(2025, 5, 1, 12);

test('a request round-trips (Ed25519 and RSA-PSS); its id is SHA-256 of the unsigned bytes', () => {
  for (const key of [k.acme, k.globex]) {
    const fields = newRequest(key.signer, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme'), timestamp: TS });
    const { bytes, id } = signTransaction(fields, key.signer);
    const unsigned = encodeUnsigned(fields);
    assert.deepEqual(id, createHash('sha256').update(unsigned).digest());
    assert.deepEqual(txId(unsigned), id);
    const tx = decodeTransaction(bytes) as Request;
    assert.equal(tx.type, 'request');
    assert.equal(tx.alg, key.alg);
    assert.deepEqual(tx.keyId, key.signer.keyId);
    assert.equal(tx.timestamp, TS);
    assert.deepEqual(tx.nonce, fields.nonce);
    assert.equal(tx.method, 'PUT');
    assert.equal(tx.path, fields.path);
    assert.equal(tx.body, fields.body);
    assert.deepEqual(tx.unsigned, unsigned);
    assert.equal(tx.idHex, id.toString('hex'));
    assert.equal(tx.signature.length, key.alg === 'ed25519' ? 64 : 256);
  }
});

test('a response round-trips, ok and error', () => {
  const req = request(k.acme, { method: 'DELETE', path: chainPath('web') });
  for (const [outcome, result] of [['ok', { revision: 42 }], ['error', { 'ietf-restconf:errors': { error: [{ 'error-type': 'application', 'error-tag': 'operation-failed' }] } }]] as const) {
    const { bytes } = response(k.orchB, { requestId: req.id, outcome, result, timestamp: TS });
    const tx = decodeTransaction(bytes) as Response;
    assert.equal(tx.type, 'response');
    assert.deepEqual(tx.requestId, req.id);
    assert.equal(tx.outcome, outcome);
    assert.deepEqual(JSON.parse(tx.result), result);
  }
});

/** Rewrites a signed request's path bytes (same length) to `raw`. */
function withPathBytes(bytes: Buffer, raw: number[]): Buffer {
  const b = Buffer.from(bytes);
  const at = 1 + 1 + 1 + 32 + 8 + 16 + 1; // version..method
  const len = b.readUInt16BE(at);
  assert.ok(raw.length <= len);
  b.set(raw, at + 2);
  return b;
}

test('strict decoding: each non-canonical or broken encoding is a LedgerDecodeError naming the field', () => {
  const { bytes } = request(k.acme, { method: 'PATCH', path: chainPath('web'), body: chainBody('web', 'acme'), timestamp: TS });
  const rsa = request(k.globex, { method: 'PATCH', path: chainPath('erp'), body: '{}', timestamp: TS }).bytes;
  const del = request(k.acme, { method: 'DELETE', path: chainPath('web'), timestamp: TS }).bytes;
  const refusals: [string, Buffer, RegExp][] = [
    ['trailing byte', Buffer.concat([bytes, Buffer.from([0])]), /^request at byte \d+: 1 trailing bytes/],
    ['truncated', bytes.subarray(0, bytes.length - 1), /request\.signature/],
    ['unknown version', Buffer.concat([Buffer.from([2]), bytes.subarray(1)]), /transaction\.version.*unknown version 2/],
    ['unknown type', Buffer.concat([Buffer.from([1, 3]), bytes.subarray(2)]), /transaction\.type/],
    ['unknown alg', Buffer.concat([bytes.subarray(0, 2), Buffer.from([9]), bytes.subarray(3)]), /request\.alg/],
    ['unknown method', (() => { const b = Buffer.from(bytes); b[59] = 5; return b; })(), /request\.method at byte 59: unknown method 5/],
    ['method 0', (() => { const b = Buffer.from(bytes); b[59] = 0; return b; })(), /unknown method 0/],
    ['bad UTF-8 in the path', withPathBytes(bytes, [0xc3, 0x28]), /request\.path at byte 60: invalid UTF-8/],
    ['Ed25519 signature of 63 bytes', Buffer.concat([bytes.subarray(0, bytes.length - 66), Buffer.from([0, 63]), bytes.subarray(bytes.length - 63)]), /63 bytes, ed25519 signatures are 64/],
    ['RSA-PSS alg with a 64-byte signature', (() => { const b = Buffer.from(bytes); b[2] = 2; return b; })(), /64 bytes, rsa-pss-2048 signatures are 256/],
    ['Ed25519 alg with a 256-byte signature', (() => { const b = Buffer.from(rsa); b[2] = 1; return b; })(), /256 bytes, ed25519 signatures are 64/],
    ['body that is not JSON', request(k.acme, { method: 'PUT', path: chainPath('web'), body: '{"a":', timestamp: TS }).bytes, /request\.body.*not JSON/],
    ['DELETE with a body', (() => {
      // Same request as `del` with a 2-byte body spliced in: a DELETE carries no body.
      const at = del.length - 66 - 4;
      return Buffer.concat([del.subarray(0, at), Buffer.from([0, 0, 0, 2, 0x7b, 0x7d]), del.subarray(at + 4)]);
    })(), /request\.body.*a DELETE has no body/],
    ['timestamp above 2^53', (() => { const b = Buffer.from(bytes); b[35] = 0xff; return b; })(), /request\.timestamp at byte 35: u64 above 2\^53/],
  ];
  for (const [name, b, expect] of refusals) {
    assert.throws(() => decodeTransaction(b), (e: unknown) => e instanceof LedgerDecodeError && expect.test(e.message), name);
  }
  // Responses: unknown outcome, result not JSON.
  const resp = response(k.orchA, { requestId: Buffer.alloc(32, 1), outcome: 'ok', result: { revision: 1 }, timestamp: TS }).bytes;
  const badOutcome = Buffer.from(resp);
  badOutcome[1 + 1 + 1 + 32 + 8 + 32] = 2;
  assert.throws(() => decodeTransaction(badOutcome), /response\.outcome.*unknown outcome 2/);
  assert.throws(() => decodeTransaction(response(k.orchA, { requestId: Buffer.alloc(32, 1), outcome: 'ok', result: '', timestamp: TS }).bytes), /response\.result.*not JSON/);
});

test('a typical Ed25519 chain write is under 300 bytes; sizes of both algorithms', () => {
  const sizes: Record<string, number> = {};
  for (const key of [k.acme, k.globex]) {
    const put = request(key, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme'), timestamp: TS }).bytes;
    const del = request(key, { method: 'DELETE', path: chainPath('web'), timestamp: TS }).bytes;
    sizes[`${key.alg} PUT chain request`] = put.length;
    sizes[`${key.alg} DELETE chain request`] = del.length;
  }
  for (const key of [k.orchA, k.orchB]) {
    sizes[`${key.alg} ok response`] = response(key, { requestId: Buffer.alloc(32), outcome: 'ok', result: { revision: 123456 }, timestamp: TS }).bytes.length;
  }
  console.log('transaction sizes (bytes):', JSON.stringify(sizes));
  assert.ok(sizes['ed25519 PUT chain request']! < 300, `${sizes['ed25519 PUT chain request']} bytes`);
});

test('the JSON view carries ids, fields and the signed bytes, never a private key', () => {
  const { bytes } = request(k.acme, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme'), timestamp: TS });
  const j = transactionJson(decodeTransaction(bytes));
  assert.equal(j.type, 'request');
  assert.equal(j.time, new Date(TS).toISOString());
  assert.deepEqual(Buffer.from(j.signed, 'base64'), bytes);
  if (j.type === 'request') assert.deepEqual(j.body, JSON.parse(chainBody('web', 'acme')));
  const text = JSON.stringify(j);
  const pem = k.acme.privateKeyPem().replace(/-----[A-Z ]+-----|\s/g, '');
  assert.ok(!text.includes(pem.slice(20, 60)));
  assert.ok(!/PRIVATE/.test(text));
  // A DELETE has no body member.
  const d = transactionJson(decodeTransaction(request(k.acme, { method: 'DELETE', path: chainPath('web'), timestamp: TS }).bytes));
  assert.ok(!('body' in d));
});

test('signing refuses a signer that is not the transaction\'s key', () => {
  const fields = newRequest(k.acme.signer, { method: 'DELETE', path: chainPath('web') });
  assert.throws(() => signTransaction(fields, k.operator.signer), /key id/);
  assert.throws(() => signTransaction(fields, k.globex.signer), /ed25519/);
});
