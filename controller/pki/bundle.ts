/**
 * Enrollment bundles: one PEM file with a principal's private key, its
 * certificate and the CA certificate, which is all an agent or `esfc ctl`
 * needs to talk to the controller. Written 0600 and read only when still
 * 0600 (files.ts); both directions check the parts belong together, so a
 * mixed-up bundle fails here with a clear error instead of at a TLS
 * handshake with an opaque one.
 */
import { X509Certificate } from 'node:crypto';
import { Credential, type CredentialParts } from './credential.js';
import { PkiError } from './errors.js';
import { readSecretFile, writeSecretFile, type WriteOptions } from './files.js';
import { parsePrivateKey } from './keys.js';
import { pemBlocks, PRIVATE_KEY_LABELS } from './pem.js';
import { TrustAnchor } from './trust.js';

function parseCert(pem: string, what: string, source: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new PkiError('malformed', `${source}: the ${what} does not parse (${(e as Error).message})`, undefined, { cause: e });
  }
}

/** Checks the parts and returns them as a Credential; source names the bundle in errors. */
export function checkCredential(parts: CredentialParts, source: string): Credential {
  const keys = pemBlocks(parts.key).filter((b) => PRIVATE_KEY_LABELS.includes(b.label));
  if (keys.length !== 1) throw new PkiError('malformed', `${source}: expected one private key, found ${keys.length}`);
  const key = parsePrivateKey(keys[0]!.text, source);
  const certBlocks = pemBlocks(parts.cert).filter((b) => b.label === 'CERTIFICATE');
  if (certBlocks.length !== 1) throw new PkiError('malformed', `${source}: expected one certificate, found ${certBlocks.length}`);
  const cert = parseCert(certBlocks[0]!.text, 'certificate', source);
  const trust = TrustAnchor.fromPem(parts.ca, `${source} (CA certificate)`);
  if (!cert.checkPrivateKey(key)) throw new PkiError('key_mismatch', `${source}: the private key does not belong to the certificate`);
  if (!trust.issued(cert)) {
    throw new PkiError('untrusted', `${source}: the certificate (issuer ${cert.issuer.replace(/\n/g, ', ')}) was not signed by the CA certificate in it`);
  }
  return new Credential(keys[0]!.text, certBlocks[0]!.text, trust.pem);
}

function header(c: Credential): string {
  const cert = new X509Certificate(c.cert);
  const who = (cert.subjectAltName ?? cert.subject).replace(/[\r\n]+/g, ', ');
  // Only public facts: enough for a human to tell bundles apart.
  return `# esfc credential: ${who}\n# serial ${c.serial}, valid until ${c.notAfter.toISOString()}\n`;
}

/**
 * Writes key, certificate and CA certificate to path, mode 0600. Refuses an
 * existing file unless opts.overwrite, and a directory others can write to.
 */
export function writeBundle(path: string, parts: CredentialParts, opts: WriteOptions = {}): void {
  const c = checkCredential(parts, path);
  writeSecretFile(path, header(c) + c.key + c.cert + c.ca, opts);
}

/**
 * Reads a bundle. Refuses one group or others can access (chmod 600) or that
 * belongs to another user. The leaf is the certificate matching the key; the
 * other one is the CA.
 */
export function readBundle(path: string): Credential {
  const text = readSecretFile(path, 'bundle');
  const blocks = pemBlocks(text);
  const keys = blocks.filter((b) => PRIVATE_KEY_LABELS.includes(b.label));
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY')) {
    throw new PkiError('malformed', `${path}: the private key is encrypted; esfc bundles hold an unencrypted key protected by mode 0600`, path);
  }
  if (keys.length !== 1 || certs.length !== 2) {
    throw new PkiError('malformed', `${path}: expected one private key and two certificates (own, then CA), found ${keys.length} and ${certs.length}`, path);
  }
  const key = parsePrivateKey(keys[0]!.text, path);
  const leafIdx = certs.findIndex((b) => parseCert(b.text, 'certificate', path).checkPrivateKey(key));
  if (leafIdx < 0) throw new PkiError('key_mismatch', `${path}: the private key belongs to neither certificate`, path);
  return checkCredential({ key: keys[0]!.text, cert: certs[leafIdx]!.text, ca: certs[1 - leafIdx]!.text }, path);
}
