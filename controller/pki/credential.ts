/**
 * A credential: private key, certificate and the CA certificate that vouches
 * for it, all PEM. It is what the CA issues, what a bundle file holds and what
 * the TLS helpers take. console.log, util.inspect and JSON.stringify show
 * everything but the key, so a credential dropped into a log line by mistake
 * does not leak it.
 */
import { X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import { canonicalSerial } from './serial.js';

/** The three PEM parts; anything with these fields can be written as a bundle. */
export interface CredentialParts {
  key: string;
  cert: string;
  ca: string;
}

const REDACTED = '[private key redacted]';

export class Credential implements CredentialParts {
  constructor(
    readonly key: string,
    readonly cert: string,
    readonly ca: string,
  ) {}

  /** Canonical serial of cert (what revocation lists hold). */
  get serial(): string {
    return canonicalSerial(new X509Certificate(this.cert).serialNumber);
  }

  get notAfter(): Date {
    return new Date(new X509Certificate(this.cert).validTo);
  }

  toJSON(): { key: string; cert: string; ca: string } {
    return { key: REDACTED, cert: this.cert, ca: this.ca };
  }

  [inspect.custom](): string {
    return `Credential { serial: ${this.serial}, key: ${REDACTED} }`;
  }
}
