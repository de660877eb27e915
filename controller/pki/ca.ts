/**
 * The controller's certificate authority: one ECDSA P-256 key and a
 * self-signed certificate in a directory (ca.key.pem 0600, ca.crt.pem 0644),
 * issuing the controller's server certificate and the client certificates of
 * operators, tenants and agents (profiles.ts says what is in each).
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { x509 } from './x509.js';
import { Credential } from './credential.js';
import { PkiError } from './errors.js';
import { readPublicFile, readSecretFile, writePublicFile, writeSecretFile } from './files.js';
import { generateKeyPair, importSigningKey, parsePrivateKey, privateKeyToPem, SIGNING_ALGORITHM, webcrypto } from './keys.js';
import { checkPrincipalName, type PrincipalName } from './principal-name.js';
import {
  caExtensions, caValidity, clientExtensions, clientSubject, leafValidity, serverExtensions, type ServerNames, type ValidityOptions,
} from './profiles.js';
import { newSerial } from './serial.js';
import { TrustAnchor } from './trust.js';

export const CA_KEY_FILE = 'ca.key.pem';
export const CA_CERT_FILE = 'ca.crt.pem';

export interface CaCreateOptions {
  /** Default "esfc controller CA". */
  commonName?: string;
  /** Default 10. */
  years?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface ServerCertOptions extends ServerNames, ValidityOptions {
  /** Default "esfc controller". */
  commonName?: string;
}

export class CertificateAuthority {
  private constructor(
    private readonly cert: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    /** Subject key identifier, copied into every issued certificate's authority key identifier. */
    private readonly keyId: string,
    /** The CA certificate as a parsed trust anchor (for principalOf and TLS options). */
    readonly trust: TrustAnchor,
  ) {}

  /** The CA certificate, PEM: what servers and clients trust. */
  get certPem(): string {
    return this.trust.pem;
  }

  get notAfter(): Date {
    return this.cert.notAfter;
  }

  get subject(): string {
    return this.cert.subject;
  }

  /**
   * Creates a CA and writes it to dir (created 0700 if missing). Refuses an
   * existing CA there: replacing it would orphan every certificate it issued.
   */
  static async create(dir: string, opts: CaCreateOptions = {}): Promise<CertificateAuthority> {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new PkiError('io', `create CA directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, dir, { cause: e });
    }
    const keys = await generateKeyPair();
    const { notBefore, notAfter } = caValidity(opts);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: newSerial(),
      name: [{ O: ['esfc'] }, { CN: [opts.commonName ?? 'esfc controller CA'] }],
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: await caExtensions(keys.publicKey, webcrypto),
    }, webcrypto);
    const keyPath = join(dir, CA_KEY_FILE);
    const certPath = join(dir, CA_CERT_FILE);
    writeSecretFile(keyPath, await privateKeyToPem(keys.privateKey));
    try {
      writePublicFile(certPath, cert.toString('pem') + '\n');
    } catch (e) {
      unlinkSync(keyPath); // a key without its certificate is useless and would block the next create
      throw e;
    }
    // From here on the signing key is held non-extractable, like a loaded one.
    return CertificateAuthority.load(dir);
  }

  /** Loads the CA in dir, checking the key file's permissions and that key and certificate belong together. */
  static async load(dir: string): Promise<CertificateAuthority> {
    const keyPath = join(dir, CA_KEY_FILE);
    const certPath = join(dir, CA_CERT_FILE);
    const keyPem = readSecretFile(keyPath, 'CA key');
    const trust = TrustAnchor.fromPem(readPublicFile(certPath, 'CA certificate'), certPath);
    if (!trust.cert.checkPrivateKey(parsePrivateKey(keyPem, keyPath))) {
      throw new PkiError('key_mismatch', `${keyPath} is not the private key of ${certPath}`, keyPath);
    }
    if (!trust.issued(trust.cert)) {
      throw new PkiError('malformed', `${certPath} is not self-signed; esfc's CA is a root`, certPath);
    }
    const cert = new x509.X509Certificate(trust.pem);
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const keyId = ski?.keyId
      ?? (await x509.SubjectKeyIdentifierExtension.create(await cert.publicKey.export(webcrypto), false, webcrypto)).keyId;
    return new CertificateAuthority(cert, await importSigningKey(keyPem, keyPath), keyId, trust);
  }

  /** The controller's TLS server certificate. */
  async issueServer(opts: ServerCertOptions): Promise<Credential> {
    const keys = await generateKeyPair();
    const extensions = await serverExtensions(keys.publicKey, this.keyId, opts, webcrypto);
    return this.sign(keys, [{ O: ['esfc'] }, { CN: [opts.commonName ?? 'esfc controller'] }], extensions, opts);
  }

  /** A client certificate for an operator, a tenant or an agent (node). */
  async issueClient(principal: PrincipalName, opts: ValidityOptions = {}): Promise<Credential> {
    checkPrincipalName(principal);
    const keys = await generateKeyPair();
    const extensions = await clientExtensions(keys.publicKey, this.keyId, principal, webcrypto);
    return this.sign(keys, clientSubject(principal), extensions, opts);
  }

  private async sign(keys: CryptoKeyPair, subject: x509.JsonName, extensions: x509.Extension[], opts: ValidityOptions): Promise<Credential> {
    const { notBefore, notAfter } = leafValidity(opts, this.cert.notAfter);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: newSerial(),
      subject,
      issuer: this.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions,
    }, webcrypto);
    return new Credential(await privateKeyToPem(keys.privateKey), cert.toString('pem') + '\n', this.certPem);
  }
}
