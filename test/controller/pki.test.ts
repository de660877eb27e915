/**
 * The controller's PKI over real TLS: an https server on 127.0.0.1 built with
 * serverTlsOptions answers with the principal it sees; undici clients built
 * with clientDispatcher (or deliberately broken variants) call it. Runs
 * without root.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import {
  CertificateAuthority, checkPeer, clientDispatcher, Credential, PkiError, readBundle, RevokedSerials,
  serverTlsOptions, writeBundle, type RevocationList,
} from '../../controller/pki/index.js';
import { openDb } from '../../controller/store/db.js';
import { SqliteRevocations } from '../../controller/store/revocations.js';

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let server: Credential;
const creds: Record<string, Credential> = {};

/** What the server saw: requests that reached the handler and TLS errors before that. */
interface Harness {
  url: string;
  handled: number;
  /** Requests that arrived on a resumed TLS session. */
  resumed: number;
  tlsErrors: string[];
  close(): Promise<void>;
}

/**
 * The tiny handler the brief asks for: principal from the peer certificate,
 * 401 without one, 403 if revoked, 503 if the list cannot be read.
 */
async function startServer(revoked: RevocationList, serverCred: Credential = server): Promise<Harness> {
  const h: Harness = { url: '', handled: 0, resumed: 0, tlsErrors: [], close: async () => {} };
  const srv: Server = createServer(serverTlsOptions(ca, serverCred), (req, res) => {
    h.handled++;
    if ((req.socket as TLSSocket).isSessionReused()) h.resumed++;
    const check = checkPeer((req.socket as TLSSocket).getPeerCertificate(), ca.trust);
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (!check.ok) return reply(401, { error: check.reason });
    try {
      if (revoked.isRevoked(check.principal.serial)) return reply(403, { error: 'certificate revoked', serial: check.principal.serial });
    } catch (e) {
      return reply(503, { error: e instanceof PkiError ? e.code : 'error' });
    }
    reply(200, check.principal);
  });
  srv.on('tlsClientError', (e: Error) => h.tlsErrors.push(e.message));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  h.url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
  h.close = () => new Promise<void>((resolve) => {
    srv.closeAllConnections();
    srv.close(() => resolve());
  });
  return h;
}

async function get(url: string, dispatcher: Agent): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const res = await request(url, { dispatcher });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  } finally {
    await dispatcher.close();
  }
}

/** Asserts the request fails at the TLS layer and never reaches a handler; returns the client's error. */
async function refused(h: Harness, dispatcher: Agent): Promise<NodeJS.ErrnoException> {
  const before = h.handled;
  let err: unknown;
  try {
    const r = await get(h.url, dispatcher);
    assert.fail(`expected the handshake to fail, got HTTP ${r.status} ${JSON.stringify(r.body)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.equal(h.handled, before, 'the request reached the handler');
  return err as NodeJS.ErrnoException;
}

/**
 * Node checks a client certificate after OpenSSL's part of the handshake and,
 * with rejectUnauthorized, destroys the socket without an alert: the client
 * sees the connection closed (undici UND_ERR_SOCKET), the server a
 * tlsClientError "socket hang up". verdict() below shows why.
 */
function assertClosedByServer(e: NodeJS.ErrnoException): void {
  assert.equal(e.code, 'UND_ERR_SOCKET', `unexpected client error ${e.code}: ${e.message}`);
}

/** Lets the server's tlsClientError event arrive (it can trail the client's error). */
async function serverSaw(h: Harness, re: RegExp): Promise<void> {
  for (let i = 0; i < 50 && !h.tlsErrors.some((m) => re.test(m)); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(h.tlsErrors.some((m) => re.test(m)), `server TLS errors ${JSON.stringify(h.tlsErrors)} do not match ${re}`);
}

/**
 * OpenSSL's verdict on a client certificate and what checkPeer says: from a
 * server with the same options except rejectUnauthorized false (a
 * misconfiguration, here on purpose), whose handler reports both.
 */
async function verdict(c: Credential): Promise<{ tls: string; check: string }> {
  const srv = createServer({ ...serverTlsOptions(ca, server), rejectUnauthorized: false }, (req, res) => {
    const s = req.socket as TLSSocket;
    const check = checkPeer(s.getPeerCertificate(), ca.trust);
    res.end(JSON.stringify({ tls: s.authorized ? 'authorized' : String(s.authorizationError), check: check.ok ? 'ok' : check.reason }));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const r = await get(`https://127.0.0.1:${(srv.address() as AddressInfo).port}/`, clientDispatcher(c, { ca: ca.certPem }));
    return r.body as { tls: string; check: string };
  } finally {
    srv.closeAllConnections();
    srv.close();
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'esfc-pki-tls-'));
  ca = await CertificateAuthority.create(join(dir, 'ca'));
  otherCa = await CertificateAuthority.create(join(dir, 'other-ca'), { commonName: 'esfc controller CA' }); // same name, other key
  server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  creds.operator = await ca.issueClient({ kind: 'operator', name: 'isp-a' });
  creds.tenant = await ca.issueClient({ kind: 'tenant', name: 'acme' });
  creds.agent = await ca.issueClient({ kind: 'agent', name: 'node-a' });
  creds.foreign = await otherCa.issueClient({ kind: 'operator', name: 'isp-a' });
  const day = 86_400_000;
  creds.expired = await ca.issueClient({ kind: 'operator', name: 'isp-a' }, {
    notBefore: new Date(Date.now() - 2 * day), notAfter: new Date(Date.now() - day),
  });
  creds.notYet = await ca.issueClient({ kind: 'operator', name: 'isp-a' }, {
    notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 2 * day),
  });
  creds.revoked = await ca.issueClient({ kind: 'tenant', name: 'mallory' });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('each principal is recognised from its certificate: operator, tenant, agent', async () => {
  const h = await startServer(new RevokedSerials());
  try {
    for (const [kind, name] of [['operator', 'isp-a'], ['tenant', 'acme'], ['agent', 'node-a']] as const) {
      const r = await get(h.url, clientDispatcher(creds[kind]!));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { kind, name, serial: creds[kind]!.serial });
    }
    assert.deepEqual(h.tlsErrors, []);
  } finally {
    await h.close();
  }
});

test('clients work from bundles written to and read back from disk, also over "localhost"', async () => {
  const h = await startServer(new RevokedSerials());
  try {
    const path = join(dir, 'agent-node-a.pem');
    writeBundle(path, creds.agent!);
    const bundle = readBundle(path);
    const r = await get(h.url.replace('127.0.0.1', 'localhost'), clientDispatcher(bundle));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { kind: 'agent', name: 'node-a', serial: creds.agent!.serial });
  } finally {
    await h.close();
  }
});

test('a resumed TLS session (no certificate exchange) still yields the principal', async () => {
  const h = await startServer(new RevokedSerials());
  const dispatcher = clientDispatcher(creds.agent!);
  try {
    for (let i = 0; i < 2; i++) {
      // "connection: close" makes undici open a new connection, which resumes the cached session.
      const r = await request(h.url, { dispatcher, headers: { connection: 'close' } });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(await r.body.json(), { kind: 'agent', name: 'node-a', serial: creds.agent!.serial });
    }
    assert.equal(h.resumed, 1, 'the second connection resumed the first one\'s session');
  } finally {
    await dispatcher.close();
    await h.close();
  }
});

test('a certificate from another CA is refused at the handshake', async () => {
  const h = await startServer(new RevokedSerials());
  try {
    // The client trusts our CA for the server, so only its own certificate is wrong.
    assertClosedByServer(await refused(h, clientDispatcher(creds.foreign!, { ca: ca.certPem })));
    await serverSaw(h, /socket hang up/);
  } finally {
    await h.close();
  }
  // Same CA name, other key: OpenSSL cannot verify the signature, and checkPeer agrees.
  assert.deepEqual(await verdict(creds.foreign!), {
    tls: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', check: 'client certificate was not issued by the esfc CA',
  });
});

test('an expired certificate, and one not yet valid, are refused at the handshake', async () => {
  const h = await startServer(new RevokedSerials());
  try {
    assertClosedByServer(await refused(h, clientDispatcher(creds.expired!)));
    assertClosedByServer(await refused(h, clientDispatcher(creds.notYet!)));
  } finally {
    await h.close();
  }
  const expired = await verdict(creds.expired!);
  assert.equal(expired.tls, 'CERT_HAS_EXPIRED');
  assert.match(expired.check, /^client certificate is not valid now/);
  const notYet = await verdict(creds.notYet!);
  assert.equal(notYet.tls, 'CERT_NOT_YET_VALID');
  assert.match(notYet.check, /^client certificate is not valid now/);
});

test('a revoked certificate gets 403 from the handler; others still pass', async () => {
  const h = await startServer(new RevokedSerials([creds.revoked!.serial.toUpperCase()]));
  try {
    const r = await get(h.url, clientDispatcher(creds.revoked!));
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'certificate revoked');
    assert.equal((await get(h.url, clientDispatcher(creds.tenant!))).status, 200);
  } finally {
    await h.close();
  }
});

test('a revocation in the controller\'s database takes effect on the next request of a kept-alive connection', async () => {
  const path = join(dir, 'revoked.db');
  const db = openDb(path);
  const h = await startServer(new SqliteRevocations(db));
  const dispatcher = clientDispatcher(creds.operator!);
  try {
    const first = await request(h.url, { dispatcher });
    assert.equal(first.statusCode, 200);
    await first.body.dump();
    // Another process (esfc controller revoke) on the same database.
    const other = openDb(path);
    new SqliteRevocations(other).revoke(creds.operator!.serial);
    other.close();
    const second = await request(h.url, { dispatcher });
    assert.equal(second.statusCode, 403);
    await second.body.dump();
    assert.equal(h.tlsErrors.length, 0);
  } finally {
    await dispatcher.close();
    await h.close();
    db.close();
  }
});

test('TLS 1.2 is refused', async () => {
  const h = await startServer(new RevokedSerials());
  try {
    const c = creds.operator!;
    const tls12 = new Agent({ connect: { key: c.key, cert: c.cert, ca: [c.ca], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } });
    const e = await refused(h, tls12);
    // Refused in the ClientHello, with a protocol_version alert.
    assert.equal(e.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    await serverSaw(h, /unsupported protocol/);
  } finally {
    await h.close();
  }
});

test('a client without a certificate is refused', async () => {
  const h = await startServer(new RevokedSerials());
  try {
    assertClosedByServer(await refused(h, new Agent({ connect: { ca: [ca.certPem], minVersion: 'TLSv1.3' } })));
    await serverSaw(h, /peer did not return a certificate/);
  } finally {
    await h.close();
  }
});

test("the controller's server certificate cannot be used to log in (EKU serverAuth only)", async () => {
  const h = await startServer(new RevokedSerials());
  try {
    assertClosedByServer(await refused(h, clientDispatcher(server)));
  } finally {
    await h.close();
  }
  assert.deepEqual(await verdict(server), { tls: 'INVALID_PURPOSE', check: 'client certificate lacks extendedKeyUsage clientAuth' });
});

test('clients refuse a server from another CA and a server name the certificate does not hold', async () => {
  const fake = await otherCa.issueServer({ ipAddresses: ['127.0.0.1'] });
  const h = await startServer(new RevokedSerials(), fake);
  try {
    const e = await refused(h, clientDispatcher(creds.agent!));
    assert.equal(e.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  } finally {
    await h.close();
  }
  const h2 = await startServer(new RevokedSerials());
  try {
    const e = await refused(h2, clientDispatcher(creds.agent!, { servername: 'controller.example.net' }));
    assert.equal(e.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  } finally {
    await h2.close();
  }
});
