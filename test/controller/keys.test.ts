/** EF keys at rest: sealed with the key-encryption key, never in the database in clear. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kek, KekError } from '../../controller/keys/kek.js';
import { KeyStore } from '../../controller/keys/key-store.js';
import { openDb } from '../../controller/store/db.js';

test('the key-encryption key comes from a 0600 file or ESFC_KEK, and its absence stops the controller with the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-kek-'));
  try {
    const f = join(dir, 'kek');
    Kek.create(f);
    assert.equal(readFileSync(f, 'utf8').trim().length, 64);
    assert.ok(Kek.load(f));
    assert.throws(() => Kek.create(f), /already exists/, 'never overwritten');
    chmodSync(f, 0o644);
    assert.throws(() => Kek.load(f), (e: unknown) => e instanceof KekError && /chmod 600/.test(e.message));
    assert.throws(() => Kek.load(undefined, {}), /no key-encryption key: give --kek-file/);
    assert.ok(Kek.load(undefined, { ESFC_KEK: 'ab'.repeat(32) }));
    assert.throws(() => Kek.load(undefined, { ESFC_KEK: 'secret-but-short' }), (e: unknown) => e instanceof KekError && !e.message.includes('secret-but-short'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('EF keys: CSPRNG, one generation per pair, unique ESP SPIs, sealed at rest, bound to their pair, useless with another KEK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-keys-'));
  try {
    const dbPath = join(dir, 'controller.db');
    const db = openDb(dbPath);
    const kek = Kek.fromHex('11'.repeat(32), 'test');
    const ks = new KeyStore(db, kek);
    assert.deepEqual(ks.keysFor(1000, 'decrypt'), [], 'no key until the pair is published');
    ks.ensure(1000);
    ks.ensure(2000);
    ks.ensure(1000);
    const a = ks.keysFor(1000, 'decrypt');
    const b = ks.keysFor(2000, 'decrypt');
    assert.deepEqual(ks.keysFor(1000, 'encrypt'), a, 'the first generation is at both ends');
    assert.equal(a.length, 1);
    assert.match(a[0]!.key, /^[0-9a-f]{72}$/);
    assert.notEqual(a[0]!.key, b[0]!.key);
    assert.notEqual(a[0]!.spi, b[0]!.spi);
    assert.deepEqual(ks.keysFor(1000, 'decrypt'), a, 'stable across calls');
    db.close();
    // Nothing of a key is in the database files.
    const bytes = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
    for (const k of [a[0]!.key, b[0]!.key]) {
      const raw = Buffer.from(k, 'hex');
      for (const blob of bytes) {
        assert.ok(!blob.includes(raw.subarray(0, 16)), 'raw key bytes at rest');
        assert.ok(!blob.includes(Buffer.from(k.slice(0, 32))), 'hex key at rest');
      }
    }
    const db2 = openDb(dbPath);
    assert.deepEqual(new KeyStore(db2, kek).keysFor(1000, 'decrypt'), a, 'the same after a restart');
    assert.throws(() => new KeyStore(db2, Kek.fromHex('22'.repeat(32), 'other')).keysFor(1000, 'decrypt'), /does not open with this key-encryption key/);
    // A sealed blob moved to another pair does not open (it is bound to its E-SPI).
    db2.prepare('UPDATE ef_keys SET espi = 3000 WHERE espi = 1000').run();
    assert.throws(() => new KeyStore(db2, kek).keysFor(3000, 'decrypt'), /does not open/);
    db2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the instruction log is append-only', () => {
  const db = openDb(':memory:');
  db.prepare("INSERT INTO instructions (at, principal, method, path, body, revision) VALUES ('t', 'operator:o', 'PUT', '/x', '{}', 1)").run();
  assert.throws(() => db.prepare("UPDATE instructions SET path = '/y'").run(), /append-only/);
  assert.throws(() => db.prepare('DELETE FROM instructions').run(), /append-only/);
});
