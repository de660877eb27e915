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
import { KeyStore } from './keys/key-store.js';
import { CertificateAuthority, canonicalSerial, readBundle, writeBundle } from './pki/index.js';
import type { PrincipalKind } from './restconf/principal.js';
import { RestconfServer } from './restconf/server.js';
import { openDb, type Db } from './store/db.js';

export interface Embedded {
  url: string;
  port: number;
  ca: CertificateAuthority;
  db: Db;
  controller: Controller;
  server: RestconfServer;
  /** A client bundle (0600) for a principal, written under the state directory; returns its path. */
  enroll(kind: PrincipalKind, name: string, opts?: { days?: number; notBefore?: Date; notAfter?: Date }): Promise<string>;
  revoke(bundlePath: string): void;
  close(): Promise<void>;
}

export async function startController(dir: string, log: Logger, opts: { port?: number; host?: string; unix?: string } = {}): Promise<Embedded> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const host = opts.host ?? '127.0.0.1';
  if (!existsSync(join(dir, 'ca'))) {
    const ca = await CertificateAuthority.create(join(dir, 'ca'));
    writeBundle(join(dir, 'server.pem'), await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
    Kek.create(join(dir, 'kek'));
  }
  const ca = await CertificateAuthority.load(join(dir, 'ca'));
  const db = openDb(join(dir, 'controller.db'));
  const controller = new Controller(db, new KeyStore(db, Kek.load(join(dir, 'kek'))), log);
  const revoked = db.prepare('SELECT 1 FROM revoked WHERE serial = ?');
  const server = new RestconfServer({
    controller, trust: ca.trust, credential: readBundle(join(dir, 'server.pem')), log,
    isRevoked: (serial) => revoked.get(canonicalSerial(serial)) !== undefined,
  });
  const port = await server.listen(opts.port ?? 0, host);
  if (opts.unix) {
    rmSync(opts.unix, { force: true });
    await server.listenUnix(opts.unix);
  }
  mkdirSync(join(dir, 'clients'), { recursive: true, mode: 0o700 });
  return {
    url: `https://${host}:${port}`, port, ca, db, controller, server,
    async enroll(kind, name, o = {}) {
      const path = join(dir, 'clients', `${kind}-${name}.pem`);
      writeBundle(path, await ca.issueClient({ kind, name }, o), { overwrite: true });
      return path;
    },
    revoke(bundlePath) {
      db.prepare('INSERT OR IGNORE INTO revoked (serial, at) VALUES (?, ?)').run(readBundle(bundlePath).serial, new Date().toISOString());
    },
    async close() {
      await server.close();
      controller.close();
      db.close();
    },
  };
}
