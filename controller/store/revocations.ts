/**
 * Revoked certificate serials in the controller's database: `esfc controller
 * revoke` writes them (another process), the server asks on every request, so
 * a revocation takes effect on the next request of a kept-alive connection.
 */
import { canonicalSerial, type RevocationList } from '../pki/index.js';
import type { Db } from './db.js';

export class SqliteRevocations implements RevocationList {
  private readonly lookup;

  constructor(private readonly db: Db) {
    this.lookup = db.prepare('SELECT 1 FROM revoked WHERE serial = ?');
  }

  revoke(serialHex: string, at = new Date()): string {
    const serial = canonicalSerial(serialHex);
    this.db.prepare('INSERT OR IGNORE INTO revoked (serial, at) VALUES (?, ?)').run(serial, at.toISOString());
    return serial;
  }

  isRevoked(serialHex: string): boolean {
    return this.lookup.get(canonicalSerial(serialHex)) !== undefined;
  }
}
