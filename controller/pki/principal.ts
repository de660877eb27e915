/**
 * Who is on the other end of a connection, from its client certificate.
 *
 * The TLS server (tls.ts) already refuses certificates our CA did not sign or
 * that are expired, at the handshake. This check repeats what matters of that
 * on every request anyway, because a resumed TLS session or a long keep-alive
 * connection is not re-verified by TLS, and because callers may hand in a
 * certificate that did not come from our handshake at all. It then reads the
 * principal from the one `urn:esfc:` URI SAN (principal-name.ts).
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { isEsfcUri, parsePrincipalUri, type Principal } from './principal-name.js';
import { canonicalSerial } from './serial.js';
import { toTrustAnchor, type TrustInput } from './trust.js';

/** What a TLSSocket's getPeerCertificate() returns (an empty object without a certificate), or DER bytes. */
export type PeerInput = PeerCertificate | Partial<PeerCertificate> | Uint8Array | null | undefined;

export type PeerCheck = { ok: true; principal: Principal; validFrom: Date; validTo: Date } | { ok: false; reason: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function derOf(peer: PeerInput): Uint8Array | undefined {
  if (!peer) return undefined;
  if (peer instanceof Uint8Array) return peer;
  return peer.raw instanceof Uint8Array && peer.raw.length > 0 ? peer.raw : undefined;
}

/**
 * URI names of Node's subjectAltName text ("DNS:a, URI:urn:esfc:agent:n1"),
 * where a value holding separators or quotes comes JSON-quoted. Node's own
 * parse (OpenSSL), not a second ASN.1 parser: this runs for every new
 * connection. Undefined when the text does not follow that grammar.
 */
export function sanUris(text: string | undefined): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  const s = text ?? '';
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) return undefined;
    const type = s.slice(i, colon);
    let value: string;
    let end: number;
    if (s[colon + 1] === '"') {
      // A JSON string: find its closing quote (skipping escapes) and let JSON decode it.
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) return undefined;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        return undefined;
      }
      end = j + 1;
    } else {
      const sep = s.indexOf(', ', colon + 1);
      end = sep < 0 ? s.length : sep;
      value = s.slice(colon + 1, end);
    }
    if (type === 'URI') out.push(value);
    if (end === s.length) break;
    if (s.slice(end, end + 2) !== ', ') return undefined;
    i = end + 2;
  }
  return out;
}

/** Like principalOf, but says why a certificate is refused (for the log and the 401/403 body). */
export function checkPeer(peer: PeerInput, trust: TrustInput, now: Date = new Date()): PeerCheck {
  const der = derOf(peer);
  if (!der) return { ok: false, reason: 'no client certificate' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return { ok: false, reason: 'client certificate does not parse' };
  }
  // Signature first: nothing below parses bytes our CA has not signed.
  if (!toTrustAnchor(trust).issued(cert)) return { ok: false, reason: 'client certificate was not issued by the esfc CA' };
  if (cert.ca) return { ok: false, reason: 'client certificate is a CA certificate' };
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (!(now >= from && now <= to)) {
    return { ok: false, reason: `client certificate is not valid now (valid ${from.toISOString()} to ${to.toISOString()})` };
  }
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH)) return { ok: false, reason: 'client certificate lacks extendedKeyUsage clientAuth' };

  const uris = sanUris(cert.subjectAltName);
  if (!uris) return { ok: false, reason: 'client certificate subjectAltName does not parse' };
  const claims = uris.filter(isEsfcUri);
  if (claims.length !== 1) {
    return { ok: false, reason: `client certificate names ${claims.length} esfc principals; exactly one urn:esfc: URI SAN is required` };
  }
  const p = parsePrincipalUri(claims[0]!);
  if (!p) return { ok: false, reason: `client certificate names an unknown principal ${JSON.stringify(claims[0]!.slice(0, 100))}` };
  return { ok: true, principal: { ...p, serial: canonicalSerial(cert.serialNumber) }, validFrom: from, validTo: to };
}

/**
 * The operator, tenant or agent a client certificate speaks for, or undefined
 * when there is no certificate, our CA did not issue it, it is not valid now,
 * or it names no single principal of a known kind. Revocation is separate
 * (revocation.ts): check principal.serial against the list.
 */
export function principalOf(peer: PeerInput, trust: TrustInput, now: Date = new Date()): Principal | undefined {
  const r = checkPeer(peer, trust, now);
  return r.ok ? r.principal : undefined;
}
