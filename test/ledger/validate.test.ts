/**
 * The one validation function: every rule of docs/ledger.md with a case it
 * accepts and a case it refuses with the rule's reason, and the order of
 * the rules (the first failing one names the refusal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Writer } from '../../controller/ledger/codec.js';
import { signBytes } from '../../controller/ledger/keys.js';
import { decodeTransaction, encodeUnsigned, newRequest } from '../../controller/ledger/transaction.js';
import { REFUSAL_REASONS, validate, type RefusalReason, type Validation } from '../../controller/ledger/validate.js';
import { chainBody, chainPath, keys, MapContext, request, response } from './fixtures.js';

const k = keys();

function refused(v: Validation, reason: RefusalReason, detail?: RegExp): void {
  assert.equal(v.ok, false, `expected ${reason}, was accepted`);
  if (v.ok) return;
  assert.equal(v.reason, reason, v.detail);
  if (detail) assert.match(v.detail, detail);
}

function accepted(v: Validation): void {
  assert.ok(v.ok, v.ok ? '' : `${v.reason}: ${v.detail}`);
}

const ed25519L = (1n << 252n) + 27742317777372353535851937790883648493n;

/** The same Ed25519 signature with S replaced by S + L: valid under a lax verifier, refused by a strict one. */
function malleateEd25519(bytes: Buffer): Buffer {
  const b = Buffer.from(bytes);
  const s0 = b.length - 32;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(b[s0 + i]!);
  s += ed25519L;
  for (let i = 0; i < 32; i++) {
    b[s0 + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  assert.equal(s, 0n);
  return b;
}

test('the refusal reasons are the contract table, in its order', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/ledger.md', import.meta.url)), 'utf8');
  const table = doc.slice(doc.indexOf('| reason | rule |'));
  const reasons = [...table.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(reasons, [...REFUSAL_REASONS]);
});

test('accepts: a tenant on its own chain, an operator on anything, the right orchestrator\'s response', () => {
  const ctx = new MapContext();
  accepted(validate(request(k.acme, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme') }).bytes, ctx));
  accepted(validate(request(k.globex, { method: 'PATCH', path: chainPath('erp'), body: '{"esfc-intent:chain":[{"name":"erp","description":"x"}]}' }).bytes, ctx));
  accepted(validate(request(k.acme, { method: 'PUT', path: chainPath('new'), body: chainBody('new', 'acme') }).bytes, ctx));
  accepted(validate(request(k.operator, { method: 'PUT', path: '/restconf/data/esfc-intent:nodes/node=node-a', body: '{}' }).bytes, ctx));
  accepted(validate(request(k.operator, { method: 'DELETE', path: chainPath('erp') }).bytes, ctx));
  const req = ctx.commitRequest(request(k.acme, { method: 'DELETE', path: chainPath('mail') }).bytes);
  accepted(validate(response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 7 } }).bytes, ctx));
  accepted(validate(response(k.orchB, { requestId: req.id, outcome: 'error', result: { 'ietf-restconf:errors': {} } }).bytes, ctx));
  const v = validate(request(k.acme, { method: 'DELETE', path: chainPath('web') }).bytes, ctx);
  assert.ok(v.ok && v.key.name === 'acme' && v.tx.type === 'request');
});

test('malformed: strict decoding (trailing byte, wrong signature length, bad UTF-8, unknown method)', () => {
  const ctx = new MapContext();
  const { bytes } = request(k.acme, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme') });
  accepted(validate(bytes, ctx));
  refused(validate(Buffer.concat([bytes, Buffer.from([0])]), ctx), 'malformed', /trailing/);
  refused(validate(Buffer.concat([bytes.subarray(0, bytes.length - 66), Buffer.from([0, 65]), bytes.subarray(bytes.length - 64), Buffer.from([0])]), ctx), 'malformed', /signature/);
  const badUtf8 = Buffer.from(bytes);
  badUtf8[62] = 0xff;
  refused(validate(badUtf8, ctx), 'malformed', /invalid UTF-8/);
  const method = Buffer.from(bytes);
  method[59] = 7;
  refused(validate(method, ctx), 'malformed', /unknown method 7/);
  refused(validate(Buffer.alloc(0), ctx), 'malformed');
});

test('unknown-key: a key that is not registered', () => {
  const ctx = new MapContext();
  refused(validate(request(k.stranger, { method: 'DELETE', path: chainPath('web') }).bytes, ctx), 'unknown-key', /not registered/);
  refused(validate(response(k.stranger, { requestId: Buffer.alloc(32), outcome: 'ok', result: {} }).bytes, ctx), 'unknown-key', /orchestrator key/);
});

test('bad-signature: forged, signed by another key, malleated Ed25519 (S + L); RSA-PSS', () => {
  const ctx = new MapContext();
  for (const key of [k.acme, k.globex]) {
    const { bytes } = request(key, { method: 'PUT', path: chainPath(key === k.acme ? 'web' : 'erp'), body: '{}' });
    accepted(validate(bytes, new MapContext()));
    const forged = Buffer.from(bytes);
    forged[forged.length - 10]! ^= 0x01;
    refused(validate(forged, ctx), 'bad-signature', /does not verify/);
    const body = Buffer.from(bytes);
    body[70]! ^= 0x01; // a byte of the signed path, signature unchanged
    refused(validate(body, ctx), 'bad-signature');
  }
  // The stranger signs a request that claims to be acme's.
  const claimed = newRequest(k.acme.signer, { method: 'DELETE', path: chainPath('web') });
  const unsigned = encodeUnsigned(claimed);
  const sig = signBytes(k.stranger.signer, unsigned);
  refused(validate(new Writer().bytes(unsigned).bytes16(sig, 'sig').finish(), ctx), 'bad-signature');
  // S + L: a strict Ed25519 (libsodium's, and OpenSSL's) refuses it, so the malleated twin never gets in.
  const { bytes } = request(k.acme, { method: 'DELETE', path: chainPath('web') });
  const twin = malleateEd25519(bytes);
  assert.equal(decodeTransaction(twin).idHex, decodeTransaction(bytes).idHex, 'same unsigned bytes, same id');
  refused(validate(twin, ctx), 'bad-signature');
  accepted(validate(bytes, ctx));
});

/** Little-endian bytes <-> bigint, as Ed25519 encodes scalars. */
const leInt = (b: Uint8Array): bigint => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
const leBytes = (n: bigint, len: number): Buffer => Buffer.from(Array.from({ length: len }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn)));

/**
 * A signature its key's holder can make that only the equation accepts: R
 * the identity (a point of small order), S = H(R, A, M) * a, so that
 * [S]B - [H]A is the identity. libsodium refuses a small-order R; OpenSSL
 * does not.
 */
function identityRSignature(key: KeyObject, publicKey: KeyObject, message: Buffer): Buffer {
  const seed = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
  const h = createHash('sha512').update(seed).digest();
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  const a = leInt(h.subarray(0, 32));
  const A = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const R = leBytes(1n, 32);
  const k = leInt(createHash('sha512').update(R).update(A).update(message).digest()) % ed25519L;
  return Buffer.concat([R, leBytes((k * a) % ed25519L, 32)]);
}

test('bad-signature: a small-order R the key holder made, which OpenSSL would accept (one rule on every validator: libsodium\'s)', () => {
  const claimed = newRequest(k.acme.signer, { method: 'DELETE', path: chainPath('web') });
  const unsigned = encodeUnsigned(claimed);
  const pub = createPublicKey(k.acme.signer.privateKey);
  const sig = identityRSignature(k.acme.signer.privateKey, pub, unsigned);
  assert.equal(verify(null, unsigned, pub, sig), true, 'OpenSSL checks only the equation');
  refused(validate(new Writer().bytes(unsigned).bytes16(sig, 'sig').finish(), new MapContext()), 'bad-signature');
  accepted(validate(new Writer().bytes(unsigned).bytes16(signBytes(k.acme.signer, unsigned), 'sig').finish(), new MapContext()));
});

test('wrong-role: an orchestrator cannot request, a tenant or operator cannot respond', () => {
  const ctx = new MapContext();
  const req = ctx.commitRequest(request(k.acme, { method: 'DELETE', path: chainPath('web') }).bytes);
  refused(validate(request(k.orchA, { method: 'DELETE', path: chainPath('web') }).bytes, ctx), 'wrong-role', /tenant or operator/);
  refused(validate(response(k.acme, { requestId: req.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx), 'wrong-role', /orchestrator keys/);
  refused(validate(response(k.operator, { requestId: req.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx), 'wrong-role');
});

test('stale-timestamp: more than the window from now either way (clock skew); at the edge accepted', () => {
  const ctx = new MapContext();
  const at = (ms: number): Buffer => request(k.acme, { method: 'DELETE', path: chainPath('web'), timestamp: ctx.nowMs + ms }).bytes;
  refused(validate(at(30_001), ctx), 'stale-timestamp', /window 30000 ms/);
  refused(validate(at(-30_001), ctx), 'stale-timestamp');
  refused(validate(at(-3_600_000), ctx), 'stale-timestamp');
  accepted(validate(at(30_000), ctx));
  accepted(validate(at(-30_000), ctx));
  ctx.timestampWindowMs = 5_000;
  refused(validate(at(6_000), ctx), 'stale-timestamp');
});

test('duplicate: a replay of a committed or pending request; a re-signed RSA-PSS twin has the same id', () => {
  const ctx = new MapContext();
  const { bytes, id } = request(k.acme, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'acme') });
  accepted(validate(bytes, ctx));
  ctx.pending.add(id.toString('hex'));
  refused(validate(bytes, ctx), 'duplicate', /already pending/);
  ctx.pending.clear();
  ctx.committed.set(id.toString('hex'), true);
  refused(validate(bytes, ctx), 'duplicate', /already committed/);
  // RSA-PSS is randomised: signing the same request again gives other bytes, but the same id.
  const fields = newRequest(k.globex.signer, { method: 'DELETE', path: chainPath('erp') });
  const unsigned = encodeUnsigned(fields);
  const first = new Writer().bytes(unsigned).bytes16(signBytes(k.globex.signer, unsigned), 's').finish();
  const second = new Writer().bytes(unsigned).bytes16(signBytes(k.globex.signer, unsigned), 's').finish();
  assert.ok(!first.equals(second), 'two PSS signatures differ');
  const v = validate(first, ctx);
  accepted(v);
  if (v.ok) ctx.committed.set(v.tx.idHex, true);
  refused(validate(second, ctx), 'duplicate');
  // A response replayed is a duplicate too.
  const req = ctx.commitRequest(request(k.acme, { method: 'DELETE', path: chainPath('mail') }).bytes);
  const resp = response(k.orchA, { requestId: req.id, outcome: 'ok', result: { revision: 2 } });
  accepted(validate(resp.bytes, ctx));
  ctx.committed.set(resp.id.toString('hex'), true);
  refused(validate(resp.bytes, ctx), 'duplicate');
});

test('invalid-instruction: a write that is not valid on the model', () => {
  const ctx = new MapContext();
  refused(validate(request(k.operator, { method: 'PUT', path: '/restconf/data/esfc-intent:no-such-node', body: '{}' }).bytes, ctx), 'invalid-instruction', /no-such-node/);
  refused(validate(request(k.operator, { method: 'PUT', path: '/restconf/data/other:x', body: '{}' }).bytes, ctx), 'invalid-instruction');
  refused(validate(request(k.acme, { method: 'PUT', path: chainPath('web') }).bytes, ctx), 'invalid-instruction', /needs a body/);
});

test('not-authorised: a tenant on another tenant\'s chain, on non-tenant data, creating a chain for another tenant', () => {
  const ctx = new MapContext();
  refused(validate(request(k.acme, { method: 'DELETE', path: chainPath('erp') }).bytes, ctx), 'not-authorised', /tenant globex/);
  refused(validate(request(k.globex, { method: 'PUT', path: chainPath('web'), body: chainBody('web', 'globex') }).bytes, ctx), 'not-authorised');
  refused(validate(request(k.acme, { method: 'PUT', path: '/restconf/data/esfc-intent:nodes/node=node-a', body: '{}' }).bytes, ctx), 'not-authorised', /other data/);
  refused(validate(request(k.acme, { method: 'PUT', path: chainPath('new'), body: chainBody('new', 'globex') }).bytes, ctx), 'not-authorised');
  accepted(validate(request(k.operator, { method: 'DELETE', path: chainPath('erp') }).bytes, ctx));
});

test('unknown-request: a response to a request that is not committed (unknown, or only pending)', () => {
  const ctx = new MapContext();
  refused(validate(response(k.orchA, { requestId: Buffer.alloc(32, 9), outcome: 'ok', result: { revision: 1 } }).bytes, ctx), 'unknown-request');
  const pending = request(k.acme, { method: 'DELETE', path: chainPath('web') });
  ctx.pending.add(pending.id.toString('hex'));
  refused(validate(response(k.orchA, { requestId: pending.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx), 'unknown-request');
});

test('wrong-orchestrator: a response by an orchestrator of a domain the request does not change', () => {
  const ctx = new MapContext();
  const web = ctx.commitRequest(request(k.acme, { method: 'DELETE', path: chainPath('web') }).bytes); // dom-a only
  refused(validate(response(k.orchB, { requestId: web.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx), 'wrong-orchestrator', /dom-b.*dom-a/);
  accepted(validate(response(k.orchA, { requestId: web.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx));
});

test('duplicate-response: one response per request and domain', () => {
  const ctx = new MapContext();
  const mail = ctx.commitRequest(request(k.acme, { method: 'DELETE', path: chainPath('mail') }).bytes); // dom-a and dom-b
  const first = validate(response(k.orchA, { requestId: mail.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx);
  accepted(first);
  ctx.responses.add(`${mail.idHex}/dom-a`);
  refused(validate(response(k.orchA, { requestId: mail.id, outcome: 'error', result: {}, timestamp: Date.now() + 1 }).bytes, ctx), 'duplicate-response', /domain dom-a/);
  accepted(validate(response(k.orchB, { requestId: mail.id, outcome: 'ok', result: { revision: 1 } }).bytes, ctx));
});

test('rules apply in the contract order: the first failing rule names the refusal', () => {
  const ctx = new MapContext();
  const stale = ctx.nowMs - 60_000;
  // unknown key before stale
  refused(validate(request(k.stranger, { method: 'DELETE', path: chainPath('web'), timestamp: stale }).bytes, ctx), 'unknown-key');
  // bad signature before wrong role
  const orch = Buffer.from(request(k.orchA, { method: 'DELETE', path: chainPath('web') }).bytes);
  orch[orch.length - 1]! ^= 1;
  refused(validate(orch, ctx), 'bad-signature');
  // wrong role before stale
  refused(validate(request(k.orchA, { method: 'DELETE', path: chainPath('web'), timestamp: stale }).bytes, ctx), 'wrong-role');
  // stale before duplicate
  const old = request(k.acme, { method: 'DELETE', path: chainPath('web'), timestamp: stale });
  ctx.committed.set(old.id.toString('hex'), true);
  refused(validate(old.bytes, ctx), 'stale-timestamp');
  // duplicate before invalid-instruction and not-authorised
  const bad = request(k.acme, { method: 'DELETE', path: '/restconf/data/esfc-intent:no-such-node' });
  refused(validate(bad.bytes, ctx), 'invalid-instruction');
  ctx.committed.set(bad.id.toString('hex'), true);
  refused(validate(bad.bytes, ctx), 'duplicate');
  // invalid-instruction before not-authorised
  refused(validate(request(k.acme, { method: 'DELETE', path: '/restconf/data/esfc-intent:nodes/no-such-node' }).bytes, ctx), 'invalid-instruction');
  // unknown-request before wrong-orchestrator; wrong-orchestrator before duplicate-response
  refused(validate(response(k.orchB, { requestId: Buffer.alloc(32, 3), outcome: 'ok', result: {} }).bytes, ctx), 'unknown-request');
  const web = ctx.commitRequest(request(k.acme, { method: 'DELETE', path: chainPath('web') }).bytes);
  ctx.responses.add(`${web.idHex}/dom-b`);
  refused(validate(response(k.orchB, { requestId: web.id, outcome: 'ok', result: {} }).bytes, ctx), 'wrong-orchestrator');
});

test('a caller may supply pre-verified signatures (verifySignature), used instead of verifying again', () => {
  const ctx = new MapContext();
  const { bytes } = request(k.acme, { method: 'DELETE', path: chainPath('web') });
  let calls = 0;
  ctx.verifySignature = () => {
    calls++;
    return false;
  };
  refused(validate(bytes, ctx), 'bad-signature');
  assert.equal(calls, 1);
});
