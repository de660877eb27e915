/**
 * The controller's PKI without a network: the CA and its files, what is in
 * each certificate (checked with openssl, independently of our code),
 * principal extraction, enrollment bundles and their file modes, revocation
 * lists. Runs without root (the one ownership check needs root and skips).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  CA_CERT_FILE, CA_KEY_FILE, canonicalSerial, CertificateAuthority, checkPeer, Credential, parsePrincipalUri, PkiError, principalOf, sanUris,
  principalUri, readBundle, RevokedSerials, writeBundle,
} from '../../controller/pki/index.js';
import { generateKeyPair, importSigningKey, SIGNING_ALGORITHM, webcrypto } from '../../controller/pki/keys.js';
import { x509 } from '../../controller/pki/x509.js';
import { openDb } from '../../controller/store/db.js';
import { SqliteRevocations } from '../../controller/store/revocations.js';

const DAY = 86_400_000;
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const needsOpenssl = { skip: hasOpenssl ? false : 'openssl is not installed' };

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'esfc-pki-'));
  ca = await CertificateAuthority.create(join(dir, 'ca'));
  otherCa = await CertificateAuthority.create(join(dir, 'other-ca'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mode = (p: string): number => statSync(p).mode & 0o7777;

function pkiError(fn: () => unknown, code: string, re?: RegExp): PkiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PkiError, `expected PkiError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected PkiError ${code}`);
}

async function pkiErrorAsync(fn: () => Promise<unknown>, code: string, re?: RegExp): Promise<PkiError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof PkiError, `expected PkiError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected PkiError ${code}`);
}

/** openssl's text dump of a PEM certificate. */
function opensslText(pem: string): string {
  const path = join(dir, `cert-${Math.random().toString(16).slice(2)}.pem`);
  writeFileSync(path, pem);
  try {
    return execFileSync('openssl', ['x509', '-noout', '-text', '-nameopt', 'oneline', '-in', path], { encoding: 'utf8' });
  } finally {
    unlinkSync(path);
  }
}

/** Section of `openssl x509 -text` under an extension heading, e.g. "X509v3 Subject Alternative Name". */
function extension(text: string, name: string): string {
  const m = new RegExp(`${name}:( critical)?\\s*\\n\\s*(.*)`).exec(text);
  assert.ok(m, `no ${name} in:\n${text}`);
  return `${m[1] ? 'critical: ' : ''}${m[2]!.trim()}`;
}

function opensslVerify(caPem: string, certPem: string, purpose: string): { ok: boolean; out: string } {
  const caPath = join(dir, 'verify-ca.pem');
  const certPath = join(dir, 'verify-cert.pem');
  writeFileSync(caPath, caPem);
  writeFileSync(certPath, certPem);
  const r = spawnSync('openssl', ['verify', '-CAfile', caPath, '-purpose', purpose, certPath], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** A certificate signed with our CA's key but SANs of the test's choosing, to probe principalOf. */
async function forge(uris: string[], eku = x509.ExtendedKeyUsage.clientAuth): Promise<Uint8Array> {
  const signingKey = await importSigningKey(readFileSync(join(dir, 'ca', CA_KEY_FILE), 'utf8'), 'test');
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '4a01',
    subject: 'CN=forged',
    issuer: caCert.subjectName,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([eku]),
      new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value }))),
    ],
  }, webcrypto);
  return new Uint8Array(cert.rawData);
}

const der = (c: Credential): Uint8Array => new X509Certificate(c.cert).raw;

test('CA: key 0600, certificate 0644; a self-signed ECDSA P-256 CA for 10 years (openssl)', needsOpenssl, () => {
  assert.equal(mode(join(dir, 'ca')), 0o700);
  assert.equal(mode(join(dir, 'ca', CA_KEY_FILE)), 0o600);
  assert.equal(mode(join(dir, 'ca', CA_CERT_FILE)), 0o644);
  const text = opensslText(ca.certPem);
  assert.match(text, /ASN1 OID: prime256v1/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /Issuer: O = esfc, CN = esfc controller CA/);
  assert.match(text, /Subject: O = esfc, CN = esfc controller CA/);
  assert.equal(extension(text, 'X509v3 Basic Constraints'), 'critical: CA:TRUE, pathlen:0');
  assert.equal(extension(text, 'X509v3 Key Usage'), 'critical: Certificate Sign, CRL Sign');
  const years = (ca.notAfter.getTime() - Date.now()) / (365.25 * DAY);
  assert.ok(years > 9.99 && years < 10.01, `CA valid for ${years} years`);
  assert.ok(opensslVerify(ca.certPem, ca.certPem, 'any').ok);
});

test('CA.create refuses to replace a CA; CA.load reads it back and issues certificates that chain to it', async () => {
  await pkiErrorAsync(() => CertificateAuthority.create(join(dir, 'ca')), 'exists', /ca\.key\.pem/);
  const loaded = await CertificateAuthority.load(join(dir, 'ca'));
  assert.equal(loaded.certPem, ca.certPem);
  const c = await loaded.issueClient({ kind: 'agent', name: 'node-b' });
  assert.deepEqual(principalOf(der(c), ca.trust), { kind: 'agent', name: 'node-b', serial: c.serial });
  // The loaded CA's key cannot be exported from the object (non-extractable).
  assert.doesNotMatch(inspect(loaded, { depth: 5, showHidden: true }), /PRIVATE KEY/);
});

test('CA.load refuses a key others can read (naming chmod 600) and a key of another CA', async () => {
  const copy = join(dir, 'ca-copy');
  mkdirSync(copy, { mode: 0o700 });
  copyFileSync(join(dir, 'ca', CA_CERT_FILE), join(copy, CA_CERT_FILE));
  copyFileSync(join(dir, 'ca', CA_KEY_FILE), join(copy, CA_KEY_FILE));
  chmodSync(join(copy, CA_KEY_FILE), 0o644);
  await pkiErrorAsync(() => CertificateAuthority.load(copy), 'insecure_permissions', /chmod 600 .*ca\.key\.pem/);
  chmodSync(join(copy, CA_KEY_FILE), 0o600);
  copyFileSync(join(dir, 'other-ca', CA_KEY_FILE), join(copy, CA_KEY_FILE));
  await pkiErrorAsync(() => CertificateAuthority.load(copy), 'key_mismatch', /is not the private key of/);
  await pkiErrorAsync(() => CertificateAuthority.load(join(dir, 'nowhere')), 'not_found');
});

test('client certificates: principal in the URI SAN and CN, EKU clientAuth only, CA:FALSE (openssl)', needsOpenssl, async () => {
  for (const [kind, name] of [['operator', 'isp-a'], ['tenant', 'acme'], ['agent', 'node-a']] as const) {
    const c = await ca.issueClient({ kind, name });
    const text = opensslText(c.cert);
    assert.equal(extension(text, 'X509v3 Subject Alternative Name'), `URI:urn:esfc:${kind}:${name}`);
    assert.equal(extension(text, 'X509v3 Extended Key Usage'), 'TLS Web Client Authentication');
    assert.equal(extension(text, 'X509v3 Basic Constraints'), 'critical: CA:FALSE');
    assert.equal(extension(text, 'X509v3 Key Usage'), 'critical: Digital Signature');
    assert.match(text, new RegExp(`Subject: O = esfc, OU = ${kind}, CN = ${name}\\n`));
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.ok(opensslVerify(ca.certPem, c.cert, 'sslclient').ok);
    const asServer = opensslVerify(ca.certPem, c.cert, 'sslserver');
    assert.ok(!asServer.ok && /(unsuitable|unsupported) certificate purpose/.test(asServer.out), asServer.out);
    assert.ok(!opensslVerify(otherCa.certPem, c.cert, 'sslclient').ok);
  }
});

test('serials: 16 random bytes, positive, fresh per certificate, the same as openssl and Node print', needsOpenssl, async () => {
  const serials = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const c = await ca.issueClient({ kind: 'tenant', name: 'acme' });
    assert.match(c.serial, /^[4-7][0-9a-f]{31}$/);
    serials.add(c.serial);
    if (i === 0) {
      const path = join(dir, 'serial.pem');
      writeFileSync(path, c.cert);
      const out = execFileSync('openssl', ['x509', '-noout', '-serial', '-in', path], { encoding: 'utf8' });
      assert.equal(canonicalSerial(out.trim().replace(/^serial=/, '')), c.serial);
      assert.equal(canonicalSerial(new X509Certificate(c.cert).serialNumber), c.serial);
    }
  }
  assert.equal(serials.size, 20);
  assert.equal(canonicalSerial('00:4A:0B'), '4a0b');
  pkiError(() => canonicalSerial('4g'), 'invalid_serial');
});

test('server certificate: DNS and IP SANs, EKU serverAuth only (openssl)', needsOpenssl, async () => {
  const s = await ca.issueServer({ dnsNames: ['localhost', 'Controller.Example.NET'], ipAddresses: ['127.0.0.1', '::1'] });
  const text = opensslText(s.cert);
  assert.equal(
    extension(text, 'X509v3 Subject Alternative Name'),
    'DNS:localhost, DNS:controller.example.net, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
  );
  assert.equal(extension(text, 'X509v3 Extended Key Usage'), 'TLS Web Server Authentication');
  assert.equal(extension(text, 'X509v3 Basic Constraints'), 'critical: CA:FALSE');
  assert.match(text, /Subject: O = esfc, CN = esfc controller\n/);
  assert.ok(opensslVerify(ca.certPem, s.cert, 'sslserver').ok);
  assert.ok(!opensslVerify(ca.certPem, s.cert, 'sslclient').ok);
  const x = new X509Certificate(s.cert);
  assert.equal(x.checkHost('localhost'), 'localhost');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(x.checkHost('evil.example'), undefined);
  await pkiErrorAsync(() => ca.issueServer({}), 'invalid_name', /at least one DNS name or IP address/);
  await pkiErrorAsync(() => ca.issueServer({ dnsNames: ['*.example.net'] }), 'invalid_name');
  await pkiErrorAsync(() => ca.issueServer({ dnsNames: ['127.0.0.1.'] }), 'invalid_name');
  await pkiErrorAsync(() => ca.issueServer({ ipAddresses: ['localhost'] }), 'invalid_name', /not an IPv4 or IPv6 address/);
});

test('validity: a year by default, overrides honoured, inverted windows and certificates outliving the CA refused', async () => {
  const now = Date.now();
  const c = new X509Certificate((await ca.issueClient({ kind: 'operator', name: 'isp-a' })).cert);
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  assert.ok(from <= now && from >= now - 6 * 60_000, 'notBefore: a few minutes back for clock skew');
  assert.ok(Math.abs(to - (now + 365 * DAY)) < 60_000, 'notAfter: a year');
  const notBefore = new Date(Math.floor(now / 1000) * 1000 - 2 * DAY);
  const notAfter = new Date(Math.floor(now / 1000) * 1000 - DAY);
  const expired = new X509Certificate((await ca.issueClient({ kind: 'agent', name: 'node-a' }, { notBefore, notAfter })).cert);
  assert.equal(new Date(expired.validFrom).getTime(), notBefore.getTime());
  assert.equal(new Date(expired.validTo).getTime(), notAfter.getTime());
  const short = new X509Certificate((await ca.issueClient({ kind: 'agent', name: 'node-a' }, { days: 1 })).cert);
  assert.ok(Math.abs(new Date(short.validTo).getTime() - (now + DAY)) < 60_000);
  await pkiErrorAsync(() => ca.issueClient({ kind: 'agent', name: 'node-a' }, { notBefore: notAfter, notAfter: notBefore }), 'invalid_validity');
  await pkiErrorAsync(() => ca.issueClient({ kind: 'agent', name: 'node-a' }, { days: 0 }), 'invalid_validity');
  await pkiErrorAsync(
    () => ca.issueClient({ kind: 'agent', name: 'node-a' }, { notAfter: new Date(ca.notAfter.getTime() + DAY) }),
    'invalid_validity', /after the CA's own notAfter/,
  );
});

test('principal names that could be ambiguous or forged are refused; URIs parse one way only', async () => {
  for (const name of ['', 'Alice', 'a:b', 'a/b', 'a b', '-x', 'x'.repeat(64), 'é']) {
    await pkiErrorAsync(() => ca.issueClient({ kind: 'operator', name }), 'invalid_name');
  }
  await pkiErrorAsync(() => ca.issueClient({ kind: 'admin' as 'operator', name: 'root' }), 'invalid_name', /unknown principal kind/);
  assert.equal(principalUri({ kind: 'agent', name: 'node-a.dc1' }), 'urn:esfc:agent:node-a.dc1');
  assert.deepEqual(parsePrincipalUri('urn:esfc:tenant:acme'), { kind: 'tenant', name: 'acme' });
  for (const uri of ['urn:esfc:admin:root', 'urn:esfc:tenant:acme:extra', 'urn:esfc:tenant:', 'urn:esfc:tenant', 'URN:ESFC:tenant:acme', 'https://x/']) {
    assert.equal(parsePrincipalUri(uri), undefined, uri);
  }
});

test('the private key is not in the certificate, and logging or serialising a credential does not show it', async () => {
  const c = await ca.issueClient({ kind: 'tenant', name: 'acme' });
  assert.match(c.key, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.doesNotMatch(c.cert, /PRIVATE KEY/);
  assert.doesNotMatch(c.ca, /PRIVATE KEY/);
  const d = Buffer.from(createPrivateKey(c.key).export({ format: 'jwk' }).d!, 'base64url');
  assert.equal(d.length, 32);
  assert.equal(Buffer.from(der(c)).indexOf(d), -1, 'private scalar found in the certificate');
  const keyBody = c.key.split('\n').slice(1, -2).join('');
  assert.ok(!c.cert.replace(/\n/g, '').includes(keyBody));
  for (const shown of [JSON.stringify(c), inspect(c), inspect({ nested: { c } }, { depth: 5 }), `${JSON.stringify({ c })}`]) {
    assert.doesNotMatch(shown, /PRIVATE KEY/, shown);
    assert.ok(!shown.includes(keyBody));
  }
  assert.equal(JSON.parse(JSON.stringify(c)).cert, c.cert);
});

test('principalOf: each kind from DER or a PeerCertificate; undefined for anything not one principal of our CA', async () => {
  const op = await ca.issueClient({ kind: 'operator', name: 'isp-a' });
  assert.deepEqual(principalOf(der(op), ca.trust), { kind: 'operator', name: 'isp-a', serial: op.serial });
  assert.deepEqual(principalOf({ raw: Buffer.from(der(op)) }, ca.certPem), { kind: 'operator', name: 'isp-a', serial: op.serial });
  assert.deepEqual(principalOf(der(op), ca), { kind: 'operator', name: 'isp-a', serial: op.serial });

  const reasons = async (): Promise<[string, Parameters<typeof principalOf>[0], RegExp][]> => [
    ['no certificate (getPeerCertificate() returns {})', {}, /no client certificate/],
    ['nothing', undefined, /no client certificate/],
    ['garbage', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), /does not parse/],
    ['another CA', der(await otherCa.issueClient({ kind: 'operator', name: 'isp-a' })), /not issued by the esfc CA/],
    ['the CA itself', new X509Certificate(ca.certPem).raw, /CA certificate/],
    ['expired', der(await ca.issueClient({ kind: 'operator', name: 'isp-a' }, {
      notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY),
    })), /not valid now/],
    ['server certificate', der(await ca.issueServer({ ipAddresses: ['127.0.0.1'] })), /lacks extendedKeyUsage clientAuth/],
    ['unknown kind', await forge(['urn:esfc:admin:root']), /unknown principal/],
    ['two principals', await forge(['urn:esfc:tenant:acme', 'urn:esfc:operator:isp-a']), /names 2 esfc principals/],
    ['a principal in other case', await forge(['URN:ESFC:operator:isp-a']), /unknown principal/],
    ['no principal', await forge(['https://esfc.example/operator/isp-a']), /names 0 esfc principals/],
    ['principal but serverAuth', await forge(['urn:esfc:operator:isp-a'], x509.ExtendedKeyUsage.serverAuth), /lacks extendedKeyUsage clientAuth/],
  ];
  for (const [what, peer, re] of await reasons()) {
    assert.equal(principalOf(peer, ca.trust), undefined, what);
    const r = checkPeer(peer, ca.trust);
    assert.ok(!r.ok && re.test(r.reason), `${what}: ${JSON.stringify(r)}`);
  }
  // The forging helper itself is sound: with a good SAN it is accepted.
  assert.equal(principalOf(await forge(['urn:esfc:agent:node-c']), ca.trust)?.name, 'node-c');
  // A SAN value that smuggles a separator and a second principal is one (quoted) name, not two.
  const smuggled = await forge(['urn:esfc:agent:node-c', 'https://x.example/a, URI:urn:esfc:operator:isp-a']);
  assert.deepEqual(checkPeer(smuggled, ca.trust).ok && principalOf(smuggled, ca.trust), { kind: 'agent', name: 'node-c', serial: principalOf(smuggled, ca.trust)!.serial });
  assert.deepEqual(sanUris('URI:urn:esfc:agent:a, DNS:x, URI:"https://x/a, URI:urn:esfc:operator:b"'), ['urn:esfc:agent:a', 'https://x/a, URI:urn:esfc:operator:b']);
  assert.equal(sanUris('URI:"unterminated'), undefined);
  // Validity is checked against the time asked about (a kept-alive connection outliving its certificate).
  assert.equal(principalOf(der(op), ca.trust, new Date(Date.now() + 400 * DAY)), undefined);
});

test('bundles are written 0600 (whatever the umask), never over an existing file or through a symlink unless asked', async () => {
  const c = await ca.issueClient({ kind: 'agent', name: 'node-a' });
  const path = join(dir, 'node-a.pem');
  const old = process.umask(0);
  try {
    writeBundle(path, c);
  } finally {
    process.umask(old);
  }
  assert.equal(mode(path), 0o600);
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^# esfc credential: URI:urn:esfc:agent:node-a\n/);
  assert.deepEqual(text.match(/-----BEGIN [A-Z ]+-----/g), ['-----BEGIN PRIVATE KEY-----', '-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE-----']);
  // openssl reads the same file as key + certificate.
  if (hasOpenssl) {
    const mod = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' });
    assert.equal(mod(['pkey', '-in', path, '-pubout']), mod(['x509', '-in', path, '-noout', '-pubkey']));
  }

  pkiError(() => writeBundle(path, c), 'exists', /already exists/);
  chmodSync(path, 0o644);
  const c2 = await ca.issueClient({ kind: 'agent', name: 'node-a' });
  writeBundle(path, c2, { overwrite: true });
  assert.equal(mode(path), 0o600, 'an overwrite is a fresh 0600 file, not the old file with its old mode');
  assert.equal(readBundle(path).serial, c2.serial);

  const target = join(dir, 'elsewhere.pem');
  writeFileSync(target, 'untouched');
  const link = join(dir, 'link.pem');
  symlinkSync(target, link);
  pkiError(() => writeBundle(link, c), 'exists');
  assert.equal(readFileSync(target, 'utf8'), 'untouched');
});

test('bundles are not written into a directory others can write to, nor with parts that do not belong together', async () => {
  const c = await ca.issueClient({ kind: 'agent', name: 'node-a' });
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  pkiError(() => writeBundle(join(open, 'b.pem'), c), 'insecure_directory', /everyone can write there.*chmod 700/);
  chmodSync(open, 0o775);
  pkiError(() => writeBundle(join(open, 'b.pem'), c), 'insecure_directory', /its group can write there/);
  chmodSync(open, 0o1777); // sticky, like /tmp: others cannot replace our file
  writeBundle(join(open, 'b.pem'), c);

  const other = await ca.issueClient({ kind: 'agent', name: 'node-b' });
  const foreign = await otherCa.issueClient({ kind: 'agent', name: 'node-a' });
  pkiError(() => writeBundle(join(dir, 'x1.pem'), { ...c, key: other.key }), 'key_mismatch');
  pkiError(() => writeBundle(join(dir, 'x2.pem'), { ...foreign, ca: ca.certPem }), 'untrusted', /not signed by the CA certificate/);
  pkiError(() => writeBundle(join(dir, 'x3.pem'), { ...c, ca: c.cert }), 'malformed', /not a CA certificate/);
  pkiError(() => writeBundle(join(dir, 'x4.pem'), { ...c, key: 'nope' }), 'malformed', /expected one private key/);
});

test('readBundle refuses a bundle group or others can read, naming chmod 600', async () => {
  const c = await ca.issueClient({ kind: 'operator', name: 'isp-a' });
  const path = join(dir, 'op.pem');
  writeBundle(path, c);
  const back = readBundle(path);
  assert.deepEqual([back.key, back.cert, back.ca], [c.key, c.cert, c.ca]);
  for (const m of [0o644, 0o640, 0o604, 0o620]) {
    chmodSync(path, m);
    const e = pkiError(() => readBundle(path), 'insecure_permissions', /run chmod 600 /);
    assert.ok(e.message.includes(`chmod 600 ${path}`), e.message);
    assert.ok(e.message.includes(`mode 0${m.toString(8)}`), e.message);
    assert.equal(e.path, path);
    assert.doesNotMatch(e.message, /BEGIN/);
  }
  assert.match(pkiError(() => { chmodSync(path, 0o644); readBundle(path); }, 'insecure_permissions').message, /readable by its group and others/);
  chmodSync(path, 0o400);
  assert.equal(readBundle(path).serial, c.serial);
  pkiError(() => readBundle(join(dir, 'missing.pem')), 'not_found');
});

test('readBundle refuses a bundle owned by another user', { skip: process.geteuid?.() === 0 ? false : 'needs root to chown' }, async () => {
  const c = await ca.issueClient({ kind: 'operator', name: 'isp-a' });
  const path = join(dir, 'theirs.pem');
  writeBundle(path, c);
  chownSync(path, 65534, 65534);
  pkiError(() => readBundle(path), 'insecure_permissions', /belongs to uid 65534/);
});

test('readBundle refuses malformed bundles with a reason and without quoting them', async () => {
  const c = await ca.issueClient({ kind: 'operator', name: 'isp-a' });
  const other = await ca.issueClient({ kind: 'operator', name: 'isp-b' });
  const cases: [string, string, string, RegExp][] = [
    ['no key', c.cert + c.ca, 'malformed', /found 0 and 2/],
    ['no CA', c.key + c.cert, 'malformed', /found 1 and 1/],
    ['someone else\'s key', other.key + c.cert + c.ca, 'key_mismatch', /neither certificate/],
    ['encrypted key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n' + c.cert + c.ca, 'malformed', /encrypted/],
    ['CA first', c.key + c.ca + c.cert, '', /./],
  ];
  for (const [what, text, code, re] of cases) {
    const path = join(dir, `bad-${what.replace(/\W/g, '')}.pem`);
    writeFileSync(path, text, { mode: 0o600 });
    if (code === '') {
      assert.equal(readBundle(path).serial, c.serial, `${what}: the order of the certificates does not matter`);
      continue;
    }
    const e = pkiError(() => readBundle(path), code, re);
    assert.doesNotMatch(e.message, /BEGIN|PRIVATE KEY/, what);
    assert.ok(!e.message.includes(c.key.split('\n')[1]!), what);
  }
});

test('revocation: serials compared canonically; the controller\'s list in its database, a revocation by another process seen at the next check', async () => {
  const set = new RevokedSerials(['4A:0B:CD']);
  assert.ok(set.isRevoked('4a0bcd'));
  assert.ok(set.isRevoked('004A0BCD'));
  assert.ok(!set.isRevoked('4a0bce'));
  pkiError(() => set.isRevoked('zz'), 'invalid_serial');

  const path = join(dir, 'revocations.db');
  const db = openDb(path);
  const other = openDb(path);
  try {
    const list = new SqliteRevocations(db);
    const c = await ca.issueClient({ kind: 'tenant', name: 'acme' });
    assert.ok(!list.isRevoked(c.serial));
    // esfc controller revoke: another connection (process) on the same database, any spelling of the serial.
    assert.equal(new SqliteRevocations(other).revoke(c.serial.toUpperCase()), canonicalSerial(c.serial));
    assert.ok(list.isRevoked(c.serial), 'a revocation by another instance is seen at the next check');
    assert.ok(list.isRevoked(`00${c.serial}`));
    pkiError(() => list.isRevoked('zz'), 'invalid_serial');
  } finally {
    db.close();
    other.close();
  }
});
