/**
 * The CA certificate as a trust anchor: parsed once, then used for every
 * connection's principal check (parsing per request would be wasted work).
 */
import { X509Certificate } from 'node:crypto';
import { PkiError } from './errors.js';
import { pemBlocks } from './pem.js';

export class TrustAnchor {
  private constructor(
    /** The CA certificate, PEM. */
    readonly pem: string,
    readonly cert: X509Certificate,
  ) {}

  /** source names where the PEM came from, for errors. */
  static fromPem(pem: string, source = 'CA certificate'): TrustAnchor {
    const certs = pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE');
    if (certs.length !== 1) {
      throw new PkiError('malformed', `${source}: expected exactly one CERTIFICATE block, found ${certs.length}`);
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certs[0]!.text);
    } catch (e) {
      throw new PkiError('malformed', `${source}: the certificate does not parse (${(e as Error).message})`, undefined, { cause: e });
    }
    if (!cert.ca) throw new PkiError('malformed', `${source}: ${cert.subject.replace(/\n/g, ', ')} is not a CA certificate (basicConstraints CA:FALSE)`);
    return new TrustAnchor(certs[0]!.text, cert);
  }

  /** Whether cert was signed by this CA (issuer name and signature). */
  issued(cert: X509Certificate): boolean {
    return cert.checkIssued(this.cert) && cert.verify(this.cert.publicKey);
  }
}

/** Accepts a TrustAnchor, or a CA PEM string (parsed on each call), or anything holding one. */
export type TrustInput = TrustAnchor | string | { trust: TrustAnchor };

export function toTrustAnchor(t: TrustInput): TrustAnchor {
  if (typeof t === 'string') return TrustAnchor.fromPem(t);
  if (t instanceof TrustAnchor) return t;
  return t.trust;
}
