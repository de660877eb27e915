/**
 * A controller in this process, with its state in a directory: what
 * `esfc controller` runs, for the demo, the control benchmark and tests that
 * need one beside them. Creates the state (CA, KEK, server certificate) on
 * first use, and issues client bundles.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../agent/log.js';
import { Controller } from './controller.js';
import { Kek } from './keys/kek.js';
import { Auc } from './keys/auc.js';
import { KeyStore } from './keys/key-store.js';
import { REKEY_OPERATION, rekeyOperation } from './keys/rekey-operation.js';
import { CertificateAuthority, readBundle, writeBundle } from './pki/index.js';
import type { PrincipalKind } from './restconf/principal.js';
import { RestconfServer } from './restconf/server.js';
import { openDb, resetIntent, type Db } from './store/db.js';
import { SqliteRevocations } from './store/revocations.js';
import { ensureControllerLedger, hasControllerLedger, type ControllerLedger } from './ledger-setup.js';
import type { ReplicatedControllerOptions } from './replicated-orchestration.js';
import type { RegisteredKey } from './ledger/index.js';

export interface Embedded {
  url: string;
  port: number;
  ca: CertificateAuthority;
  db: Db;
  controller: Controller;
  server: RestconfServer;
  /** The key changes (schedule and on demand), running. */
  auc: Auc;
  /** A client bundle (0600) for a principal, written under the state directory; returns its path. */
  enroll(kind: PrincipalKind, name: string, opts?: { days?: number; notBefore?: Date; notAfter?: Date }): Promise<string>;
  revoke(bundlePath: string): void;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  port?: number;
  host?: string;
  unix?: string;
  /** Key-encryption key file (default: `kek` in the state directory, or ESFC_KEK). */
  kekFile?: string;
  /** Make the state (CA, server certificate, KEK) when the directory has none; `esfc controller` wants `init` instead. */
  create?: boolean;
  /**
   * Every write goes through the orchestration log. When the state directory
   * has no log yet, its genesis accepts these public keys from the start
   * (operators' at least: without one nobody can write; later keys are
   * registered by operators' signed requests). A directory that has a log
   * keeps its genesis and ignores them.
   */
  ledgerKeys?: RegisteredKey[];
  /**
   * Run as a domain's controller on the replicated orchestration log (this
   * domain's CometBFT validator's application) instead of the state
   * directory's embedded log. The intent is rebuilt from the ledger at
   * start; start the validator (CometNode) once this returns.
   */
  replicated?: Omit<ReplicatedControllerOptions, 'log'>;
  /** As esfc controller --rekey-interval / --key-lifetime (defaults 3600 and twice that). */
  rekeyIntervalS?: number;
  keyLifetimeS?: number;
}

export class NoControllerState extends Error {}

/** A new controller state directory: its CA, a server certificate (localhost, 127.0.0.1 and the names given) and its key-encryption key. */
export async function initControllerState(dir: string, names: { dns?: readonly string[]; ip?: readonly string[] } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await CertificateAuthority.create(join(dir, 'ca'));
  writeBundle(join(dir, 'server.pem'), await ca.issueServer({ dnsNames: ['localhost', ...(names.dns ?? [])], ipAddresses: ['127.0.0.1', ...(names.ip ?? [])] }));
  Kek.create(join(dir, 'kek'));
}

export async function startController(dir: string, log: Logger, opts: EmbeddedOptions = {}): Promise<Embedded> {
  const host = opts.host ?? '127.0.0.1';
  if (!existsSync(join(dir, 'ca'))) {
    if (opts.create === false) throw new NoControllerState(`no controller state in ${dir}: run esfc controller init --state ${dir}`);
    await initControllerState(dir);
  }
  const hadLedger = hasControllerLedger(dir);
  if (!hadLedger && opts.create === false && !opts.replicated) {
    throw new NoControllerState(`no orchestration log in ${dir}: run esfc controller init --state ${dir} --operator-key NAME=PUBFILE`);
  }
  const kek = Kek.load(opts.kekFile ?? (existsSync(join(dir, 'kek')) ? join(dir, 'kek') : undefined));
  const ca = await CertificateAuthority.load(join(dir, 'ca'));
  const db = openDb(join(dir, 'controller.db'));
  const rekeyIntervalS = opts.rekeyIntervalS ?? 3600;
  const keys = new KeyStore(db, kek, { lifetimeS: opts.keyLifetimeS ?? 2 * rekeyIntervalS });
  // On the replicated log the ledger is the instruction log, and the intent is what replaying it gives.
  if (opts.replicated) resetIntent(db);
  const controller = opts.replicated ? new Controller(db, keys, log, () => undefined) : new Controller(db, keys, log);
  const auc = new Auc(controller, keys, log, { rekeyIntervalS });
  const revocations = new SqliteRevocations(db);
  /** The state directory's own log, made on first use; keys given for a log that exists are ignored (its genesis stands). */
  const embeddedLog = (): ControllerLedger & { log: Logger } => {
    const ledger = ensureControllerLedger(dir, kek, opts.ledgerKeys ?? []);
    if (hadLedger && opts.ledgerKeys?.length) {
      const known = new Set(ledger.genesis.keys.map((k) => k.keyId));
      const ignored = opts.ledgerKeys.filter((k) => !known.has(k.keyId));
      if (ignored.length) {
        log.log('warn', 'ledger_keys_ignored', {
          dir: ledger.dir, keys: ignored.map((k) => `${k.role}:${k.name}:${k.keyId}`),
          reason: 'the state directory already has an orchestration log: its genesis stands; register new keys with an operator-signed write (esfc ctl register-key)',
        });
      }
    } else if (!hadLedger && !ledger.genesis.keys.some((k) => k.role === 'operator')) {
      log.log('warn', 'ledger_no_operator_key', { dir: ledger.dir, reason: 'the orchestration log was created without an operator key: nobody can write' });
    }
    return { ...ledger, log };
  };
  const server = new RestconfServer({
    controller, trust: ca.trust, credential: readBundle(join(dir, 'server.pem')), log,
    ledger: opts.replicated ? { replicated: { ...opts.replicated, log } } : embeddedLog(),
    operations: new Map([[REKEY_OPERATION, rekeyOperation(controller, auc)]]),
    keyChanges: auc,
    isRevoked: (serial) => revocations.isRevoked(serial),
  });
  await server.openLedger();
  const port = await server.listen(opts.port ?? 0, host);
  if (opts.unix) {
    rmSync(opts.unix, { force: true });
    await server.listenUnix(opts.unix);
  }
  auc.start();
  return {
    url: `https://${host}:${port}`, port, ca, db, controller, server, auc,
    async enroll(kind, name, o = {}) {
      mkdirSync(join(dir, 'clients'), { recursive: true, mode: 0o700 });
      const path = join(dir, 'clients', `${kind}-${name}.pem`);
      writeBundle(path, await ca.issueClient({ kind, name }, o), { overwrite: true });
      return path;
    },
    revoke(bundlePath) {
      revocations.revoke(readBundle(bundlePath).serial);
    },
    async close() {
      await auc.stop();
      await server.close();
      controller.close();
      db.close();
    },
  };
}
