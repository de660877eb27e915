/**
 * The controller's HTTPS server (TLS 1.3, client certificates from the
 * controller's CA only): RESTCONF for operators and tenants, and the agent
 * channel (/esfc-agent/v1) for node agents. Every request is authenticated by
 * its certificate (unknown CA, expired: refused at the handshake; revoked:
 * 403), every refusal is an RFC 8040 error body, one JSON log line per request.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../agent/log.js';
import { checkPeer, type PeerCheck, serverTlsOptions, type CredentialParts, type TrustAnchor } from '../pki/index.js';
import type { ChangeEvent, Controller } from '../controller.js';
import { loadSchema, type SchemaTree } from '../yang/index.js';
import { DataApi, YANG_JSON, type HttpReply } from './data.js';
import { RestconfFailure } from './errors.js';
import { parseQuery } from './query.js';
import { OrchestrationLog, SIGNED_REQUEST_HEADER, type OrchestrationLogOptions, type WriteLog } from '../orchestration-log.js';
import { ReplicatedControllerLog, type InstructionAccess, type ReplicatedControllerOptions } from '../replicated-orchestration.js';
import { apiRoot, DATASTORE_STREAM, hostMeta, libraryModules, restconfState, yangLibrary, type LibraryModule } from './library.js';
import { principalId, type Principal } from './principal.js';
import { agentDesired, agentReport, AGENT_PREFIX } from './agent-channel.js';
import { OperationsApi, OPERATIONS_ROOT, type OperationHandlers } from './operations.js';
import { ledgerRead, LEDGER_PREFIX } from './ledger-api.js';
import { CONNECTED_WITHIN_MS } from './state.js';
import type { KeyChanges } from './keys-state.js';

export interface ServerOptions {
  controller: Controller;
  trust: TrustAnchor;
  credential: Pick<CredentialParts, 'key' | 'cert'>;
  isRevoked: (serialHex: string) => boolean;
  log: Logger;
  /** Largest request body accepted (RFC 8040 too-big above). */
  maxBodyBytes?: number;
  /** Handlers of the schema's rpcs by "module:rpc"; an rpc without one answers 501. */
  operations?: OperationHandlers;
  /** The AuC, for esfc-state:keys-state (absent: no keys-state). */
  keyChanges?: KeyChanges;
  /**
   * The orchestration log every data write goes through (its DataApi is this
   * server's): a write needs its signer's request, and is applied only once
   * the log holds it.
   */
  ledger: Omit<OrchestrationLogOptions, keyof InstructionAccess> | { replicated: ReplicatedControllerOptions };
}

export class RestconfServer {
  /** One HTTPS server per listening address (TCP, or a Unix socket for agents on this host). */
  readonly servers: Server[] = [];
  private readonly tree: SchemaTree;
  private readonly data: DataApi;
  private log: WriteLog | undefined;
  private readonly operations: OperationsApi;
  private readonly mods: LibraryModule[];
  private readonly seen = new Map<string, number>();
  /** The checked certificate of each connection (see principal()). */
  private readonly peers = new WeakMap<TLSSocket, PeerCheck>();
  private readonly streams = new Set<ServerResponse>();
  private readonly maxBody: number;

  constructor(private readonly o: ServerOptions) {
    this.tree = loadSchema();
    this.mods = libraryModules(this.tree);
    this.data = new DataApi(this.tree, o.controller, (n) => this.seen.get(n), o.keyChanges);
    this.operations = new OperationsApi(this.tree, o.operations ?? new Map(), () => o.controller.datastore.doc);
    if (!('replicated' in o.ledger)) this.log = OrchestrationLog.open({ ...o.ledger, ...this.instructionAccess() });
    this.maxBody = o.maxBodyBytes ?? 1 << 20;
    o.controller.events.on('change', (ev: ChangeEvent) => this.publish(ev));
    // A rollout waits only for agents that are there.
    o.controller.connected = (n) => {
      const t = this.seen.get(n);
      return t !== undefined && Date.now() - t < CONNECTED_WITHIN_MS;
    };
  }

  private instructionAccess(): InstructionAccess {
    return {
      data: this.data, operations: this.operations,
      datastore: () => this.o.controller.datastore.doc as Record<string, unknown>, revision: () => this.o.controller.datastore.revision,
    };
  }

  /**
   * The orchestration log writes go through. On the replicated log it opens
   * (replaying the ledger into the datastore) and starts serving CometBFT
   * here: call it before listening.
   */
  async openLedger(): Promise<WriteLog> {
    if (this.log) return this.log;
    if (!('replicated' in this.o.ledger)) throw new Error('unreachable: the embedded log opens in the constructor');
    this.log = await ReplicatedControllerLog.start(this.o.ledger.replicated, this.instructionAccess());
    return this.log;
  }

  /** The embedded log (tests and the ledger benchmark look inside it). */
  get embeddedLog(): OrchestrationLog {
    if (!(this.log instanceof OrchestrationLog)) throw new Error('this controller runs on the replicated log');
    return this.log;
  }

  get ledger(): WriteLog {
    if (!this.log) throw new Error('the replicated orchestration log is not open: RestconfServer.openLedger() first');
    return this.log;
  }

  private newServer(): Server {
    // A data write carries its signed request (the body again, base64) in a header: headers as large as the largest body allows.
    const maxHeaderSize = Math.ceil((this.maxBody * 4) / 3) + 64 * 1024;
    const server = createServer({ ...serverTlsOptions(this.o.trust, this.o.credential), maxHeaderSize }, (req, res) => { void this.handle(req, res); });
    // Many agents hold a subscription open at once.
    server.maxConnections = 100_000;
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 70_000;
    server.requestTimeout = 0;
    this.servers.push(server);
    return server;
  }

  /** Listen on TCP; resolves with the port (useful with 0). */
  listen(port: number, host: string): Promise<number> {
    const server = this.newServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /**
   * Listen on a Unix socket too: agents on this host reach it from any
   * network namespace (TLS and certificates as over TCP).
   */
  listenUnix(path: string): Promise<void> {
    const server = this.newServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    await Promise.all(this.servers.map((server) => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    }));
    await this.log?.close();
  }

  private base(req: IncomingMessage): string {
    return `https://${req.headers.host ?? 'localhost'}`;
  }

  private principal(req: IncomingMessage): Principal {
    // A connection's certificate cannot change (TLS 1.3 has no renegotiation): parse and verify it
    // once per connection, but check its validity period and revocation on every request.
    const socket = req.socket as TLSSocket;
    let r = this.peers.get(socket);
    if (!r) {
      r = checkPeer(socket.getPeerCertificate(), this.o.trust);
      this.peers.set(socket, r);
    }
    if (!r.ok) throw RestconfFailure.of('access-denied', `client certificate refused: ${r.reason}`, { status: 401 });
    const now = new Date();
    if (now < r.validFrom || now > r.validTo) {
      throw RestconfFailure.of('access-denied', `client certificate refused: not valid now (valid ${r.validFrom.toISOString()} to ${r.validTo.toISOString()})`, { status: 401 });
    }
    let revoked: boolean;
    try {
      revoked = this.o.isRevoked(r.principal.serial);
    } catch {
      throw RestconfFailure.of('operation-failed', 'the revocation list cannot be read: refusing everyone until it can', { status: 503 });
    }
    if (revoked) throw RestconfFailure.of('access-denied', `certificate ${r.principal.serial} of ${r.principal.kind} ${r.principal.name} is revoked`, { status: 403 });
    return r.principal;
  }

  private async body(req: IncomingMessage): Promise<string | undefined> {
    const len = Number(req.headers['content-length'] ?? 0);
    if (len > this.maxBody) throw RestconfFailure.of('too-big', `request body of ${len} bytes; at most ${this.maxBody}`, { type: 'transport', status: 413 });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > this.maxBody) throw RestconfFailure.of('too-big', `request body over ${this.maxBody} bytes`, { type: 'transport', status: 413 });
      chunks.push(c as Buffer);
    }
    if (!size) return undefined;
    return Buffer.concat(chunks).toString('utf8');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'https://x');
    const method = req.method ?? 'GET';
    let who = 'unknown';
    let reply: HttpReply;
    try {
      const p = this.principal(req);
      who = principalId(p);
      if (url.pathname.startsWith(LEDGER_PREFIX)) {
        reply = ledgerRead(p, this.ledger, url, method);
      } else if (url.pathname.startsWith(AGENT_PREFIX)) {
        if (p.kind === 'agent') this.seen.set(p.name, Date.now());
        const ac = new AbortController();
        res.once('close', () => ac.abort());
        reply = url.pathname.endsWith('/report')
          ? agentReport(p, this.o.controller, url, method, await this.body(req), (n) => this.seen.set(n, Date.now()))
          : await agentDesired(p, this.o.controller, url, method, req.headers['if-none-match'], ac.signal);
      } else {
        const r = await this.restconf(p, req, res, url, method);
        if (r === 'streaming') return;
        reply = r;
      }
    } catch (e) {
      const f = e instanceof RestconfFailure ? e : RestconfFailure.of('operation-failed', `internal error: ${(e as Error).message}`, { type: 'application', status: 500 });
      if (!(e instanceof RestconfFailure)) this.o.log.log('error', 'request_failed', { method, path: url.pathname, error: (e as Error).stack ?? String(e) });
      const body = f.body();
      reply = { status: f.status, headers: { ...f.headers, 'content-type': YANG_JSON, 'content-length': String(Buffer.byteLength(body)) }, body };
      if (req.readable) req.resume();
    }
    if (!res.headersSent) res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
    this.o.log.log(reply.status >= 500 ? 'error' : 'info', 'request', {
      method, path: url.pathname, principal: who, status: reply.status, ms: Number(process.hrtime.bigint() - started) / 1e6,
    });
  }

  private async restconf(p: Principal, req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<HttpReply | 'streaming'> {
    const path = url.pathname;
    const text = (status: number, body: string, type: string): HttpReply => ({ status, headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) }, body });
    const jsonReply = (v: unknown): HttpReply => text(200, JSON.stringify(v), YANG_JSON);
    const readOnly = (): void => {
      if (method !== 'GET' && method !== 'HEAD') throw RestconfFailure.of('operation-not-supported', `${path} is read-only`, { status: 405 });
    };
    if (path === '/.well-known/host-meta') { readOnly(); return text(200, hostMeta(), 'application/xrd+xml'); }
    if (path === '/restconf' || path === '/restconf/') { readOnly(); return jsonReply(apiRoot()); }
    if (path === OPERATIONS_ROOT || path.startsWith(`${OPERATIONS_ROOT}/`)) {
      this.checkAccept(req);
      const answer = this.operations.route(p, method, path.slice(OPERATIONS_ROOT.length));
      if (answer) return answer;
      // An invocation is an orchestration operation: signed, logged, run once committed.
      const body = await this.body(req);
      if (body !== undefined) this.checkContentType(req);
      return this.ledger.write(p, req.headers[SIGNED_REQUEST_HEADER] as string | undefined, { method, path, body, headers: {} });
    }
    if (path === '/restconf/yang-library-version') { readOnly(); return jsonReply({ 'ietf-restconf:yang-library-version': '2019-01-04' }); }
    if (path.startsWith('/restconf/yang/')) {
      readOnly();
      const m = this.mods.find((x) => path === `/restconf/yang/${x.name}@${x.revision}.yang`);
      if (!m) throw RestconfFailure.of('invalid-value', `no module source at ${path}`, { status: 404 });
      return text(200, m.source, 'application/yang');
    }
    if (path === '/restconf/data/ietf-yang-library:yang-library') { readOnly(); return jsonReply(yangLibrary(this.mods, this.base(req))); }
    if (path === '/restconf/data/ietf-restconf-monitoring:restconf-state' || path.startsWith('/restconf/data/ietf-restconf-monitoring:restconf-state/')) {
      readOnly();
      return jsonReply(restconfState(this.base(req)));
    }
    if (path === `/restconf/streams/${DATASTORE_STREAM}/json`) {
      readOnly();
      if (p.kind !== 'operator') throw RestconfFailure.of('access-denied', `${p.kind} ${p.name} may not subscribe to datastore changes`, { status: 403 });
      this.subscribe(res);
      return 'streaming';
    }
    if (path !== '/restconf/data' && !path.startsWith('/restconf/data/')) throw RestconfFailure.of('invalid-value', `no resource at ${path} (see /restconf)`, { status: 404 });
    const dataPath = path.slice('/restconf/data'.length);
    const headers = Object.fromEntries(['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'].map((h) => [h, req.headers[h] as string | undefined]));
    switch (method) {
      case 'GET':
      case 'HEAD':
        this.checkAccept(req);
        return this.data.get(p, dataPath, url.searchParams, headers, method === 'HEAD');
      case 'OPTIONS':
        return { status: 200, headers: { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS', 'accept-patch': YANG_JSON } };
      case 'POST':
      case 'PUT':
      case 'PATCH':
      case 'DELETE': {
        const body = await this.body(req);
        if (body !== undefined) this.checkContentType(req);
        parseQuery(url.searchParams, method);
        return this.ledger.write(p, req.headers[SIGNED_REQUEST_HEADER] as string | undefined, { method, path, body, headers });
      }
      default:
        throw RestconfFailure.of('operation-not-supported', `${method} is not supported on ${path}`, { status: 405 });
    }
  }

  private checkContentType(req: IncomingMessage): void {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== YANG_JSON && ct !== 'application/json') {
      throw RestconfFailure.of('invalid-value', `content-type ${ct || '(none)'}: this server takes ${YANG_JSON}`, { status: 415 });
    }
  }

  private checkAccept(req: IncomingMessage): void {
    const accept = req.headers.accept;
    if (!accept) return;
    const ok = accept.split(',').map((s) => s.split(';')[0]!.trim().toLowerCase()).some((t) => t === YANG_JSON || t === 'application/json' || t === '*/*' || t === 'application/*');
    if (!ok) throw RestconfFailure.of('invalid-value', `Accept: ${accept}: this server answers ${YANG_JSON}`, { status: 406 });
  }

  /** RFC 8040 6.4: text/event-stream, one notification per event. */
  private subscribe(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': esfc datastore changes\n\n');
    this.streams.add(res);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    res.once('close', () => {
      clearInterval(keepAlive);
      this.streams.delete(res);
    });
  }

  private publish(ev: ChangeEvent): void {
    const n = {
      'ietf-restconf:notification': {
        eventTime: ev.at,
        'ietf-netconf-notifications:netconf-config-change': {
          'changed-by': { username: ev.principal, 'session-id': 0 },
          datastore: 'running',
          edit: [{ target: ev.path, operation: ev.method === 'DELETE' ? 'delete' : ev.method === 'POST' ? 'create' : ev.method === 'PATCH' ? 'merge' : 'replace' }],
        },
      },
    };
    const line = `data: ${JSON.stringify(n)}\n\n`;
    for (const s of this.streams) s.write(line);
  }
}
