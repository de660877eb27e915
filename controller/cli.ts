/**
 * `esfc controller ...` (run it, set up its state, enroll and revoke
 * principals) and `esfc ctl ...` (an operator's or tenant's client).
 *
 * State directory (default /var/lib/esfc): ca/ (the CA, key 0600), server.pem
 * (its TLS bundle), kek (key-encryption key, 0600), controller.db (SQLite),
 * ledger/ (the orchestration log: its genesis, the controller's sealed key).
 *
 * Every data write `esfc ctl` sends is signed with the operator's or
 * tenant's own key (--sign-key, made by `esfc ctl keygen`): the controller
 * commits it to the orchestration log before applying it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { jsonLogger } from '../agent/log.js';
import { CometNode, findCometbft } from './abci/index.js';
import { NoControllerState, initControllerState, startController, type Embedded, type EmbeddedOptions } from './embedded.js';
import { Kek } from './keys/kek.js';
import { openDb } from './store/db.js';
import { SqliteRevocations } from './store/revocations.js';
import { CertificateAuthority, controllerEndpoint, readBundle, writeBundle } from './pki/index.js';
import { readSecretFile, writeSecretFile } from './pki/files.js';
import { ensureControllerLedger, hasControllerLedger, unsealOrchestratorKey } from './ledger-setup.js';
import { initReplicated, readReplicatedConfig, ReplicatedConfigError } from './replicated-setup.js';
import { readCometValidatorSigner } from './replicated/index.js';
import { keyRegistration, signIfWrite } from './ledger-client.js';
import { TX_ID_HEADER } from './orchestration-log.js';
import {
  algOfKey, generateKey, keyIdOf, KEY_ALGS, KEY_ROLES, LedgerKeyError, parseGenesis, publicKeyFrom, registeredKey, signerFromPem,
  type KeyAlg, type KeyRole, type RegisteredKey, type Signer,
} from './ledger/index.js';

export const CONTROLLER_USAGE = `usage:
  esfc controller init --operator-key NAME=PUBFILE... [--state DIR] [--dns NAME]... [--ip ADDR]...
      create the CA, the key-encryption key, the server certificate (localhost, 127.0.0.1 and the names
      given) and the orchestration log, whose genesis accepts the operators' public keys given (PUBFILE:
      base64 SPKI or a PEM public key, as esfc ctl keygen prints; repeat for each operator; NAME is the
      operator's certificate name); every other key is registered by an operator (esfc ctl register-key).
      On state made before the log, adds the log only
  esfc controller enroll (--agent NODE | --tenant NAME | --operator NAME) --out FILE [--state DIR] [--days N]
      issue a client certificate bundle (key + certificate + CA, mode 0600)
  esfc controller revoke (--bundle FILE | --serial HEX) [--state DIR]
      refuse a certificate from now on (403)
  esfc controller init-replicated --out DIR --domain D... [--observer D]... --operator-key NAME=PUBFILE...
      the replicated orchestration log on this machine: one CometBFT validator per domain (at least 4
      in all), each with a controller state directory (its orchestrator key sealed with its KEK; an
      --observer validates and answers nothing), and one ledger genesis; prints each controller's command
  esfc controller [--state DIR] [--listen HOST:PORT] [--unix PATH] [--kek-file FILE] [--replicated FILE]
                  [--rekey-interval SECONDS] [--key-lifetime SECONDS]
      run the controller in the foreground (JSON logs on stdout; default 127.0.0.1:8443; --unix also
      listens on a Unix socket, for agents on this host in other network namespaces); EF pair keys
      change every --rekey-interval (default 3600) and each key dies after --key-lifetime (default
      twice the interval) if it was not changed by then; --replicated FILE (from init-replicated): run as
      this domain's controller on the replicated log, starting its CometBFT validator (the intent is
      rebuilt from the ledger at every start)
`;

export const CTL_USAGE = `usage (--controller URL --cert BUNDLE, or ESFC_CONTROLLER and ESFC_CERT; writes also
       --sign-key FILE or ESFC_SIGN_KEY: your signing key, a PEM private key of mode 0600):
  esfc ctl get [PATH] [--json] [--depth N] [--fields EXPR] [--content config|nonconfig|all]
  esfc ctl apply FILE [--replace]     merge an intent document into the datastore (--replace: replace it whole)
  esfc ctl put PATH FILE              create or replace one resource
  esfc ctl delete PATH
                                      writes are signed and committed to the orchestration log first;
                                      each prints its transaction id
  esfc ctl keygen --out FILE [--alg ed25519|rsa-pss-2048]
                                      make your signing key (FILE, mode 0600; it never leaves you); prints
                                      its key id and public key for the operator to register
  esfc ctl register-key --role tenant|operator|orchestrator --name NAME --public-key B64 [--domain D]
                                      (operators) register a public key with the orchestration log; a
                                      tenant's NAME is its certificate name (an orchestrator needs --domain)
  esfc ctl status [--json]            every node: connected, generation desired vs applied, last error
  esfc ctl rekey [--chain C] [--flow F] [--json]
                                      change the keys of those EF pairs now (all of them without a filter;
                                      a tenant: all of its own); signed and logged like a write
`;

class CliError extends Error {}

const stateDir = (v: string | undefined): string => v ?? '/var/lib/esfc';

export async function controllerCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      state: { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:8443' }, unix: { type: 'string' }, 'kek-file': { type: 'string' },
      dns: { type: 'string', multiple: true }, ip: { type: 'string', multiple: true },
      agent: { type: 'string' }, tenant: { type: 'string' }, operator: { type: 'string' }, out: { type: 'string' }, days: { type: 'string' },
      bundle: { type: 'string' }, serial: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      'rekey-interval': { type: 'string' }, 'key-lifetime': { type: 'string' }, 'operator-key': { type: 'string', multiple: true },
      replicated: { type: 'string' }, domain: { type: 'string', multiple: true }, observer: { type: 'string', multiple: true },
    },
  });
  if (values.help) {
    process.stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  const dir = stateDir(values.state);
  const sub = positionals[0];
  if (sub === 'init-replicated') {
    if (!values.out) throw new CliError('init-replicated needs --out DIR (a new directory)');
    const operators = (values['operator-key'] ?? []).map(operatorKey);
    if (!operators.length) throw new CliError('init-replicated needs --operator-key NAME=PUBFILE (at least one): operators register every other key');
    const binary = findCometbft();
    if (!binary) throw new CliError('cometbft is not installed: run bash scripts/cometbft-setup.sh');
    try {
      const r = await initReplicated({ out: values.out, binary, domains: values.domain ?? [], observers: values.observer ?? [], operators });
      process.stdout.write(`replicated orchestration log (chain ${r.genesis.chainId}) with ${r.domains.length} validators in ${values.out}; run each domain's controller:\n`);
      for (const d of r.domains) process.stdout.write(`  esfc controller --state ${d.state} --replicated ${d.config} --listen 127.0.0.1:PORT\n`);
      return 0;
    } catch (e) {
      if (e instanceof ReplicatedConfigError) throw new CliError(e.message);
      throw e;
    }
  }
  if (sub === 'init') {
    const operators = (values['operator-key'] ?? []).map(operatorKey);
    if (!operators.length) {
      throw new CliError('init needs --operator-key NAME=PUBFILE (at least one): every write is signed, and operators register every other key (make one with esfc ctl keygen --out FILE)');
    }
    const seen = new Set<string>();
    for (const k of operators) {
      if (seen.has(k.keyId)) throw new CliError(`--operator-key: key ${k.keyId} is given twice`);
      seen.add(k.keyId);
    }
    if (existsSync(join(dir, 'ca'))) {
      if (hasControllerLedger(dir)) throw new CliError(`${dir} is initialised already (it has a CA and an orchestration log); register more operators with esfc ctl register-key --role operator`);
      const ledger = ensureControllerLedger(dir, Kek.load(values['kek-file'] ?? (existsSync(join(dir, 'kek')) ? join(dir, 'kek') : undefined)), operators);
      process.stdout.write(`orchestration log created in ${ledger.dir} (chain ${ledger.genesis.chainId}) for the existing state in ${dir}; operators: ${operators.map((k) => `${k.name} (${k.keyId})`).join(', ')}\n`);
      return 0;
    }
    await initControllerState(dir, { dns: values.dns ?? [], ip: values.ip ?? [] });
    const ledger = ensureControllerLedger(dir, Kek.load(join(dir, 'kek')), operators);
    process.stdout.write(`controller state created in ${dir}: CA (ca/), server certificate (server.pem), key-encryption key (kek), orchestration log (ledger/, chain ${ledger.genesis.chainId}); operators: ${operators.map((k) => `${k.name} (${k.keyId})`).join(', ')}\n`);
    return 0;
  }
  if (sub === 'enroll') {
    const chosen = (['agent', 'tenant', 'operator'] as const).filter((k) => values[k] !== undefined);
    if (chosen.length !== 1) throw new CliError('enroll needs exactly one of --agent NODE, --tenant NAME, --operator NAME');
    if (!values.out) throw new CliError('enroll needs --out FILE');
    const days = values.days === undefined ? undefined : Number(values.days);
    if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw new CliError(`--days ${values.days} is not a whole number of days`);
    const ca = await CertificateAuthority.load(join(dir, 'ca'));
    const kind = chosen[0]!;
    const cred = await ca.issueClient({ kind, name: values[kind]! }, days ? { days } : {});
    writeBundle(values.out, cred);
    process.stdout.write(`${values.out}: ${kind} ${values[kind]} (mode 0600)\n`);
    return 0;
  }
  if (sub === 'revoke') {
    const serial = values.serial ?? (values.bundle ? readBundle(values.bundle).serial : undefined);
    if (!serial) throw new CliError('revoke needs --bundle FILE or --serial HEX');
    const db = openDb(join(dir, 'controller.db'));
    const revoked = new SqliteRevocations(db).revoke(serial);
    db.close();
    process.stdout.write(`revoked ${revoked}\n`);
    return 0;
  }
  if (sub !== undefined) throw new CliError(`unknown subcommand ${sub}`);
  return runController(dir, values.listen, values.unix, values['kek-file'], keyTiming(values['rekey-interval'], values['key-lifetime']), values.replicated);
}

/** A public key as a file holds it: a PEM public key or base64 SPKI DER (what esfc ctl keygen prints). */
export function publicKeyText(text: string, source: string): { alg: KeyAlg; keyId: string; publicKey: string } {
  const t = text.trim();
  let der: Buffer;
  if (t.startsWith('-----BEGIN')) {
    const m = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(t);
    if (!m) throw new CliError(`${source}: not a PEM public key (-----BEGIN PUBLIC KEY-----); never give a private key here`);
    der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  } else {
    if (!/^[A-Za-z0-9+/=\s]+$/.test(t)) throw new CliError(`${source}: neither base64 SPKI nor a PEM public key`);
    der = Buffer.from(t.replace(/\s+/g, ''), 'base64');
  }
  try {
    const key = publicKeyFrom(der);
    const spki = key.export({ type: 'spki', format: 'der' });
    const alg = algOfKey(key)!;
    return { alg, keyId: keyIdOf(spki).toString('hex'), publicKey: spki.toString('base64') };
  } catch (e) {
    if (e instanceof LedgerKeyError) throw new CliError(`${source}: ${e.message}`);
    throw e;
  }
}

/** --operator-key NAME=PUBFILE */
function operatorKey(v: string): RegisteredKey {
  const i = v.indexOf('=');
  if (i <= 0 || i === v.length - 1) throw new CliError(`--operator-key ${v}: say NAME=PUBFILE (the operator's certificate name, the file of its public key)`);
  const name = v.slice(0, i);
  const file = v.slice(i + 1);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`--operator-key ${name}: ${(e as Error).message}`);
  }
  if (/PRIVATE KEY-----/.test(text)) throw new CliError(`--operator-key ${name}: ${file} holds a private key; give the public key only (esfc ctl keygen prints it)`);
  return registeredKey(publicKeyText(text, file), 'operator', name);
}

/** --rekey-interval and --key-lifetime, checked: a key must outlive the interval that replaces it. */
export function keyTiming(interval: string | undefined, lifetime: string | undefined): { rekeyIntervalS: number; lifetimeS: number } {
  const secs = (v: string, flag: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1) throw new CliError(`${flag} ${v}: a whole number of seconds >= 1`);
    return n;
  };
  const rekeyIntervalS = interval === undefined ? 3600 : secs(interval, '--rekey-interval');
  const lifetimeS = lifetime === undefined ? 2 * rekeyIntervalS : secs(lifetime, '--key-lifetime');
  if (lifetimeS <= rekeyIntervalS) throw new CliError(`--key-lifetime ${lifetimeS} must be longer than --rekey-interval ${rekeyIntervalS}: a key would die before the next one is in place (e.g. --key-lifetime ${2 * rekeyIntervalS})`);
  return { rekeyIntervalS, lifetimeS };
}

/**
 * On the replicated log: this domain's validator, run and restarted by the
 * controller (CometBFT connects to the controller, so it starts after it).
 */
function replicatedValidator(dir: string, file: string, kekFile: string | undefined): { options: NonNullable<EmbeddedOptions['replicated']>; node: CometNode } {
  const binary = findCometbft();
  if (!binary) throw new CliError('cometbft is not installed: run bash scripts/cometbft-setup.sh');
  let cfg;
  try {
    cfg = readReplicatedConfig(file);
  } catch (e) {
    if (e instanceof ReplicatedConfigError) throw new CliError(e.message);
    throw e;
  }
  const node = CometNode.open(binary, cfg.cometHome, cfg.domain);
  const orchestrator = cfg.answers ? unsealOrchestratorKey(dir, Kek.load(kekFile ?? join(dir, 'kek'))) : undefined;
  return {
    node,
    options: {
      dir: cfg.ledgerDir, genesis: parseGenesis(readFileSync(cfg.genesis, 'utf8')), validator: readCometValidatorSigner(cfg.cometHome).signer,
      domain: cfg.domain, abciAddress: cfg.abci, rpc: node.rpc, ...(orchestrator ? { orchestrator } : {}),
    },
  };
}

async function runController(dir: string, listen: string, unix: string | undefined, kekFile: string | undefined, timing: { rekeyIntervalS: number; lifetimeS: number }, replicatedFile?: string): Promise<number> {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new CliError(`--listen ${listen} is not HOST:PORT`);
  const log = jsonLogger({ component: 'controller' });
  const validator = replicatedFile ? replicatedValidator(dir, replicatedFile, kekFile) : undefined;
  let c: Embedded;
  try {
    c = await startController(dir, log, {
      create: false, host: m[1]!, port: Number(m[2]), ...(unix ? { unix } : {}), ...(kekFile ? { kekFile } : {}),
      rekeyIntervalS: timing.rekeyIntervalS, keyLifetimeS: timing.lifetimeS, ...(validator ? { replicated: validator.options } : {}),
    });
  } catch (e) {
    if (e instanceof NoControllerState) throw new CliError(e.message);
    throw e;
  }
  let stopping = false;
  let supervise: NodeJS.Timeout | undefined;
  if (validator) {
    const node = validator.node;
    await node.start(60_000);
    log.log('info', 'cometbft_started', { domain: validator.options.domain, pid: node.pid, rpcPort: node.rpcPort, log: node.logFile });
    // A validator that died is started again: the log goes on without it meanwhile (3 of 4 commit), and it catches up.
    supervise = setInterval(() => {
      if (stopping || node.running) return;
      log.log('warn', 'cometbft_exited', { domain: validator.options.domain, reason: node.exitReason, log: node.logFile });
      node.start(60_000).then(() => log.log('info', 'cometbft_started', { domain: validator.options.domain, pid: node.pid }))
        .catch((e: unknown) => log.log('error', 'cometbft_start_failed', { error: (e as Error).message }));
    }, 2000);
  }
  log.log('info', 'controller_ready', { address: `${m[1]}:${c.port}`, ...(unix ? { unix } : {}), pid: process.pid, state: dir, revision: c.controller.datastore.revision, ...(validator ? { replicated: validator.options.domain } : {}), ...timing });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      stopping = true;
      if (supervise) clearInterval(supervise);
      log.log('info', 'controller_stopping', { signal });
      void (validator ? validator.node.stop() : Promise.resolve()).catch(() => undefined).then(() => c.close()).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

interface Conn { url: string; dispatcher: ReturnType<typeof controllerEndpoint>['dispatcher'] }

function connect(url: string | undefined, cert: string | undefined): Conn {
  const u = url ?? process.env.ESFC_CONTROLLER;
  const c = cert ?? process.env.ESFC_CERT;
  if (!u || !c) throw new CliError('say which controller and with which certificate: --controller https://HOST:PORT|unix:/PATH --cert BUNDLE (or ESFC_CONTROLLER, ESFC_CERT)');
  const ep = controllerEndpoint(u, readBundle(c));
  return { url: ep.origin, dispatcher: ep.dispatcher };
}

async function call(conn: Conn, method: string, path: string, body?: string, signer?: () => Signer): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const res = await request(`${conn.url}${path}`, {
    method: method as 'GET', dispatcher: conn.dispatcher,
    headers: {
      accept: 'application/yang-data+json', ...(body !== undefined ? { 'content-type': 'application/yang-data+json' } : {}),
      ...(signer ? signIfWrite(signer(), method, path, body) : {}),
    },
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
}

/** An RFC 8040 error body as lines a person reads. */
function errorLines(text: string): string {
  try {
    const e = (JSON.parse(text) as { 'ietf-restconf:errors': { error: Record<string, string>[] } })['ietf-restconf:errors'].error;
    return e.map((x) => `  ${x['error-tag']}${x['error-path'] ? ` at ${x['error-path']}` : ''}: ${x['error-message']}`).join('\n');
  } catch {
    return text;
  }
}

/** The signing key for writes: --sign-key or ESFC_SIGN_KEY, a PEM private key only its owner may read. */
function signKey(file: string | undefined): () => Signer {
  let signer: Signer | undefined;
  return () => {
    if (signer) return signer;
    const f = file ?? process.env.ESFC_SIGN_KEY;
    if (!f) throw new CliError('a write must be signed with your key: --sign-key FILE or ESFC_SIGN_KEY (a PEM private key, mode 0600; make one with esfc ctl keygen --out FILE and have an operator register its public key)');
    let pem: string;
    try {
      pem = readSecretFile(f, 'signing key');
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    try {
      signer = signerFromPem(pem);
    } catch (e) {
      throw new CliError(`${f}: ${(e as Error).message}`);
    }
    return signer;
  };
}

const txOf = (r: { headers: Record<string, unknown> }): string => (r.headers[TX_ID_HEADER] ? `, transaction ${String(r.headers[TX_ID_HEADER])}` : '');
const txNote = (r: { headers: Record<string, unknown> }): string => (r.headers[TX_ID_HEADER] ? ` (transaction ${String(r.headers[TX_ID_HEADER])})` : '');

const dataPath = (p: string | undefined): string => `/restconf/data${p && p !== '/' ? (p.startsWith('/') ? p : `/${p}`) : ''}`;

export async function ctlCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      controller: { type: 'string' }, cert: { type: 'string' }, json: { type: 'boolean' }, replace: { type: 'boolean' },
      depth: { type: 'string' }, fields: { type: 'string' }, content: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      chain: { type: 'string' }, flow: { type: 'string' }, 'sign-key': { type: 'string' },
      out: { type: 'string' }, alg: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, 'public-key': { type: 'string' }, domain: { type: 'string' },
    },
  });
  const [sub, ...args] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(CTL_USAGE);
    return values.help ? 0 : 2;
  }
  if (sub === 'keygen') {
    if (!values.out) throw new CliError('keygen needs --out FILE (the private key is written there, mode 0600)');
    const alg = (values.alg ?? 'ed25519') as KeyAlg;
    if (!KEY_ALGS.includes(alg)) throw new CliError(`--alg ${values.alg}: one of ${KEY_ALGS.join(', ')}`);
    const k = generateKey(alg);
    try {
      writeSecretFile(values.out, k.privateKeyPem());
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    process.stdout.write(`${values.out}: ${alg} signing key (mode 0600; keep it, it never leaves you)\nkey id: ${k.keyId}\npublic key: ${k.publicKey}\n`);
    return 0;
  }
  const sign = signKey(values['sign-key']);
  const conn = connect(values.controller, values.cert);
  const done = (r: { status: number; text: string }, what: string): number => {
    if (r.status >= 400) {
      process.stderr.write(`esfc ctl ${what}: ${r.status}\n${errorLines(r.text)}\n`);
      return 1;
    }
    return 0;
  };
  switch (sub) {
    case 'get': {
      const q = new URLSearchParams();
      if (values.depth) q.set('depth', values.depth);
      if (values.fields) q.set('fields', values.fields);
      if (values.content) q.set('content', values.content);
      const r = await call(conn, 'GET', `${dataPath(args[0])}${q.size ? `?${q}` : ''}`);
      if (done(r, 'get')) return 1;
      process.stdout.write(values.json ? `${r.text}\n` : `${JSON.stringify(JSON.parse(r.text), null, 2)}\n`);
      return 0;
    }
    case 'apply': {
      if (!args[0]) throw new CliError('apply needs an intent FILE (- for stdin)');
      const doc = JSON.parse(readFileSync(args[0] === '-' ? 0 : args[0], 'utf8')) as Record<string, unknown>;
      const body = JSON.stringify('ietf-restconf:data' in doc ? doc : { 'ietf-restconf:data': doc });
      const r = await call(conn, values.replace ? 'PUT' : 'PATCH', '/restconf/data', body, sign);
      if (done(r, 'apply')) return 1;
      process.stdout.write(`applied (${r.status}, etag ${String(r.headers.etag ?? '')}${txOf(r)})\n`);
      return 0;
    }
    case 'put': {
      if (!args[0] || !args[1]) throw new CliError('put needs PATH and FILE');
      const r = await call(conn, 'PUT', dataPath(args[0]), readFileSync(args[1] === '-' ? 0 : args[1], 'utf8'), sign);
      if (done(r, 'put')) return 1;
      process.stdout.write(`${r.status === 201 ? 'created' : 'replaced'} ${args[0]}${txNote(r)}\n`);
      return 0;
    }
    case 'delete': {
      if (!args[0]) throw new CliError('delete needs a PATH');
      const r = await call(conn, 'DELETE', dataPath(args[0]), undefined, sign);
      if (done(r, 'delete')) return 1;
      process.stdout.write(`deleted ${args[0]}${txNote(r)}\n`);
      return 0;
    }
    case 'register-key': {
      const role = values.role as KeyRole | undefined;
      if (!role || !KEY_ROLES.includes(role)) throw new CliError(`register-key needs --role ${KEY_ROLES.join('|')}`);
      if (!values.name) throw new CliError('register-key needs --name NAME (a tenant\'s or operator\'s certificate name)');
      if (!values['public-key']) throw new CliError('register-key needs --public-key B64 (base64 SPKI, as esfc ctl keygen prints it)');
      if (role === 'orchestrator' && !values.domain) throw new CliError('an orchestrator key needs --domain D (the domain it executes for)');
      const pub = publicKeyText(values['public-key'], '--public-key');
      const reg = keyRegistration({ ...pub, role, name: values.name, domain: values.domain });
      const r = await call(conn, 'PUT', reg.path, JSON.stringify(reg.body), sign);
      if (done(r, 'register-key')) return 1;
      process.stdout.write(`registered ${role} key ${values.name} (${pub.alg}, key id ${pub.keyId}${txOf(r)})\n`);
      return 0;
    }
    case 'status': {
      const r = await call(conn, 'GET', '/restconf/data/esfc-state:nodes-state');
      if (done(r, 'status')) return 1;
      if (values.json) {
        process.stdout.write(`${r.text}\n`);
        return 0;
      }
      const nodes = ((JSON.parse(r.text) as Record<string, { node?: Record<string, unknown>[] }>)['esfc-state:nodes-state']?.node ?? []);
      process.stdout.write(`${'node'.padEnd(16)}${'connected'.padEnd(11)}${'desired'.padStart(8)}${'applied'.padStart(9)}  last error\n`);
      for (const n of nodes) {
        process.stdout.write(`${String(n.name).padEnd(16)}${(n.connected ? 'yes' : 'no').padEnd(11)}${String(n['desired-generation'] ?? '-').padStart(8)}${String(n['applied-generation'] ?? '-').padStart(9)}  ${String(n['last-error'] ?? '')}\n`);
      }
      return 0;
    }
    case 'rekey': {
      const input = { ...(values.chain ? { chain: values.chain } : {}), ...(values.flow ? { flow: values.flow } : {}) };
      const r = await call(conn, 'POST', '/restconf/operations/esfc-intent:rekey', JSON.stringify({ 'esfc-intent:input': input }), sign);
      if (done(r, 'rekey')) return 1;
      const out = r.text ? (JSON.parse(r.text) as { 'esfc-intent:output'?: { pairs?: number; 'e-spi'?: number[] } })['esfc-intent:output'] ?? {} : {};
      process.stdout.write(values.json ? `${r.text}\n` : `key change started for ${out.pairs ?? 0} EF pair(s)${out['e-spi']?.length ? ` (E-SPI ${out['e-spi'].join(', ')})` : ''}${txNote(r)}\n`);
      return 0;
    }
    default:
      throw new CliError(`unknown ctl command ${sub}`);
  }
}

export { CliError };
