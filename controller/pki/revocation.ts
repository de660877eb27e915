/**
 * Revocation: the serials the controller no longer accepts. Certificates are
 * short-lived enough that a plain list beats CRL/OCSP machinery; the server
 * asks isRevoked(principal.serial) on every request (a request, not just a
 * handshake, because connections are kept alive and sessions resumed).
 *
 * Implementations: RevokedSerials (in memory); the controller's is
 * SqliteRevocations (controller/store/revocations.ts), written by
 * `esfc controller revoke` from another process.
 */
import { canonicalSerial } from './serial.js';

export interface RevocationList {
  /**
   * Whether the certificate with this serial (any case, with or without ':')
   * is revoked. May throw when the list cannot be read: deny the request
   * then, never allow it.
   */
  isRevoked(serialHex: string): boolean;
}

export class RevokedSerials implements RevocationList {
  private readonly serials = new Set<string>();

  constructor(serials: Iterable<string> = []) {
    for (const s of serials) this.add(s);
  }

  add(serialHex: string): void {
    this.serials.add(canonicalSerial(serialHex));
  }

  isRevoked(serialHex: string): boolean {
    return this.serials.has(canonicalSerial(serialHex));
  }

  get size(): number {
    return this.serials.size;
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.serials.values();
  }
}
