/**
 * Certificate serial numbers. Each certificate gets 16 random bytes so
 * serials are unguessable and never collide across CA restarts (no counter to
 * persist). Revocation compares serials as text, so every place that takes
 * one in (our issuer, Node's PeerCertificate, a revocation file, SQLite)
 * goes through canonicalSerial first.
 */
import { randomBytes } from 'node:crypto';
import { PkiError } from './errors.js';

/** 16 random bytes as 32 lowercase hex digits. */
export function newSerial(): string {
  const b = randomBytes(16);
  // DER INTEGERs are signed and minimal: clear the top bit so the serial is
  // positive (RFC 5280 4.1.2.2) and set the next one so the first byte is never
  // 0x00 and gets dropped. Then the hex we record is the hex every parser prints.
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

/**
 * Lowercase hex without separators or leading zeros: the same integer always
 * gives the same string, whether it came from Node ("4A1B..."), openssl
 * ("4a:1b:...") or a file.
 */
export function canonicalSerial(serial: string): string {
  const hex = serial.trim().replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 64) {
    throw new PkiError('invalid_serial', `serial ${JSON.stringify(serial.slice(0, 80))} is not a hexadecimal certificate serial`);
  }
  return hex.replace(/^0+(?=.)/, '');
}
