/**
 * The controller's persistent state in one embedded SQLite file
 * (better-sqlite3, WAL, synchronous FULL): a write the API acknowledged is on
 * disk, so kill -9 at any moment loses none, and a restarted controller comes
 * back with the same intent, numbers and per-node generations.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync } from 'node:fs';

export type Db = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The intent datastore: one RFC 7951 document, its revision and when it changed.
CREATE TABLE IF NOT EXISTS datastore (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  doc TEXT NOT NULL,
  revision INTEGER NOT NULL,
  modified TEXT NOT NULL
);
-- When each list entry (by data path) last changed: Last-Modified of its resources.
CREATE TABLE IF NOT EXISTS entry_modified (path TEXT PRIMARY KEY, modified TEXT NOT NULL);
-- Numbers the intent compiler handed out (controller/intent/allocations.ts).
CREATE TABLE IF NOT EXISTS allocations (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
-- Per node: the desired state (without keys), its generation, and what the agent last reported.
CREATE TABLE IF NOT EXISTS node_desired (
  node TEXT PRIMARY KEY,
  generation INTEGER NOT NULL,
  config TEXT NOT NULL,
  changed TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS node_report (
  node TEXT PRIMARY KEY,
  applied_generation INTEGER,
  last_error TEXT,
  report TEXT NOT NULL,
  at TEXT NOT NULL
);
-- The instruction log: every accepted write, append only (controller/store/instruction-log.ts).
CREATE TABLE IF NOT EXISTS instructions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  principal TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  body TEXT,
  revision INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS instructions_append_only_u BEFORE UPDATE ON instructions BEGIN SELECT RAISE(ABORT, 'the instruction log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS instructions_append_only_d BEFORE DELETE ON instructions BEGIN SELECT RAISE(ABORT, 'the instruction log is append-only'); END;
-- EF pair keys, sealed with the key-encryption key (controller/keys/).
CREATE TABLE IF NOT EXISTS ef_keys (
  espi INTEGER NOT NULL,
  esp_spi INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  not_after TEXT,
  sealed BLOB NOT NULL,
  -- When it was made (the rekey schedule counts from here) and which ends of the pair carry it.
  created TEXT,
  at_dec INTEGER NOT NULL DEFAULT 1,
  at_enc INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (espi, epoch)
);
CREATE TABLE IF NOT EXISTS revoked (serial TEXT PRIMARY KEY, at TEXT NOT NULL);
`;

export function openDb(path: string): Db {
  const fresh = path !== ':memory:' && !existsSync(path);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: every commit is fsynced before the API answers, so an acknowledged write survives anything.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  migrate(db);
  if (fresh) chmodSync(path, 0o600);
  return db;
}

/** Columns added since a database was first made; CREATE TABLE IF NOT EXISTS does not add them. */
function migrate(db: Db): void {
  const have = new Set((db.prepare('PRAGMA table_info(ef_keys)').all() as { name: string }[]).map((c) => c.name));
  if (!have.has('created')) db.exec('ALTER TABLE ef_keys ADD COLUMN created TEXT');
  if (!have.has('at_dec')) db.exec('ALTER TABLE ef_keys ADD COLUMN at_dec INTEGER NOT NULL DEFAULT 1');
  if (!have.has('at_enc')) db.exec('ALTER TABLE ef_keys ADD COLUMN at_enc INTEGER NOT NULL DEFAULT 1');
}

/**
 * Forgets the intent (datastore, allocations, entry times) and keeps what
 * nodes were given and reported: a controller on the replicated log rebuilds
 * its intent from the ledger on every start, and the per-node generations
 * only move on from where they were.
 */
export function resetIntent(db: Db): void {
  db.transaction(() => {
    for (const table of ['datastore', 'allocations', 'entry_modified']) db.prepare(`DELETE FROM ${table}`).run();
  })();
}
