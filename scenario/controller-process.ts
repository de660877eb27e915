/**
 * The controller as the demo and the end-to-end tests run it: `esfc
 * controller` as its own process (so it can be stopped, killed -9 and
 * restarted under traffic), on loopback TCP and a Unix socket that the agents
 * in the scenario's node namespaces reach. Its state directory is made (CA,
 * KEK, server certificate, the orchestration log) and clients are enrolled
 * with the embedded API.
 *
 * This process is the operators and tenants: it generates their signing
 * keys and keeps the private halves; the controller gets the public ones
 * only (operators' in the log's genesis, tenants' by an operator's signed
 * write), and every data write of a client() is signed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { jsonLogger } from '../agent/log.js';
import { startController } from '../controller/embedded.js';
import { keyRegistration, signIfWrite } from '../controller/ledger-client.js';
import { generateKey, registeredKey, type GeneratedKey, type Signer } from '../controller/ledger/index.js';
import { TX_ID_HEADER } from '../controller/orchestration-log.js';
import { controllerEndpoint, readBundle } from '../controller/pki/index.js';
import type { PrincipalKind } from '../controller/restconf/principal.js';
import { CLI } from './net.js';
import { collectJsonLines, STARTUP_MS, stopProcess, waitForLine } from './sh.js';

export class ControllerProcess {
  private proc: ChildProcess | undefined;
  readonly socket: string;
  /** Every JSON log line of every run of the controller. */
  readonly logs: Record<string, unknown>[] = [];
  /** Signing keys of the operators and tenants enrolled, by `kind:name` (private halves: they stay in this process). */
  readonly keys = new Map<string, GeneratedKey>();
  /** Keys the controller knows (in the genesis or registered). */
  private readonly registered = new Set<string>();
  private readonly bundleKeys = new Map<string, GeneratedKey>();

  constructor(readonly dir: string) {
    this.socket = join(dir, 'controller.sock');
  }

  /** The unix: endpoint agents and clients use. */
  get endpoint(): string {
    return `unix:${this.socket}`;
  }

  /**
   * Create the state (first time) and client bundles; returns the bundle
   * paths by `kind:name`. Operators and tenants get a signing key each: the
   * first operators' go into the log's genesis, later ones and tenants' are
   * registered by an operator's signed write.
   */
  async enroll(principals: [PrincipalKind, string][]): Promise<Map<string, string>> {
    for (const [kind, name] of principals) {
      if (kind !== 'agent' && !this.keys.has(`${kind}:${name}`)) this.keys.set(`${kind}:${name}`, generateKey('ed25519'));
    }
    const first = this.registered.size === 0;
    const operators = [...this.keys].filter(([id]) => id.startsWith('operator:'));
    const c = await startController(this.dir, jsonLogger({}, () => undefined), first ? { ledgerKeys: operators.map(([id, k]) => registeredKey(k, 'operator', id.slice('operator:'.length))) } : {});
    const out = new Map<string, string>();
    try {
      if (first) for (const [id] of operators) this.registered.add(id);
      for (const [kind, name] of principals) {
        const path = await c.enroll(kind, name);
        out.set(`${kind}:${name}`, path);
        const k = this.keys.get(`${kind}:${name}`);
        if (k) this.bundleKeys.set(path, k);
      }
      const unregistered = [...this.keys].filter(([id]) => !this.registered.has(id));
      if (unregistered.length) {
        const opId = [...this.registered].find((id) => id.startsWith('operator:'));
        if (!opId) throw new Error(`${unregistered.map(([id]) => id).join(', ')}: an operator registers their signing keys; enroll one with them`);
        const [, opName] = opId.split(':') as [string, string];
        const op = new RestconfClient(c.url, controllerEndpoint(c.url, readBundle(await c.enroll('operator', opName))).dispatcher, this.keys.get(opId)!.signer);
        for (const [id, k] of unregistered) {
          const [role, name] = id.split(':') as ['tenant' | 'operator', string];
          const reg = keyRegistration({ ...k, role, name });
          await op.ok('PUT', reg.path, reg.body);
          this.registered.add(id);
        }
      }
    } finally {
      await c.close();
    }
    return out;
  }

  async start(): Promise<void> {
    const p = spawn(process.execPath, [CLI, 'controller', '--state', this.dir, '--listen', '127.0.0.1:0', '--unix', this.socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    const ready = waitForLine(p, (l) => l.includes('"event":"controller_ready"'), STARTUP_MS);
    collectJsonLines(p, this.logs);
    await ready;
  }

  /** SIGKILL: no shutdown of any kind. */
  async kill9(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p) await stopProcess(p, 'SIGKILL');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p) await stopProcess(p);
  }

  /** The first log line matching `pred` after position `from` (ctl.logs.length before an action), waiting for it. */
  async waitForLog(pred: (l: Record<string, unknown>) => boolean, from = 0, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.slice(from).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`controller: no matching log event within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A RESTCONF client for a principal's bundle; its data writes are signed with the principal's key. */
  client(bundle: string): RestconfClient {
    const ep = controllerEndpoint(this.endpoint, readBundle(bundle));
    return new RestconfClient(ep.origin, ep.dispatcher, this.bundleKeys.get(bundle)?.signer);
  }
}

export interface Reply { status: number; headers: Record<string, string>; text: string }

/**
 * Just enough of a RESTCONF client for scripts: method, data path, JSON body;
 * data writes are signed with `signer` (the orchestration log refuses them
 * unsigned).
 */
export class RestconfClient {
  /** The transaction id of the last write the controller committed. */
  lastTransaction: string | undefined;

  constructor(readonly origin: string, readonly dispatcher: Dispatcher, readonly signer?: Signer) {}

  async call(method: string, path: string, body?: unknown): Promise<Reply> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const r = await request(`${this.origin}${path}`, {
      method: method as 'GET', dispatcher: this.dispatcher,
      headers: { ...(text !== undefined ? { 'content-type': 'application/yang-data+json' } : {}), ...signIfWrite(this.signer, method, path, text) },
      ...(text !== undefined ? { body: text } : {}),
    });
    const headers = r.headers as Record<string, string>;
    if (headers[TX_ID_HEADER]) this.lastTransaction = headers[TX_ID_HEADER];
    return { status: r.statusCode, headers, text: await r.body.text() };
  }

  /** Fails with the RFC 8040 error text unless the status is 2xx. */
  async ok(method: string, path: string, body?: unknown): Promise<Reply> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r;
  }

  async nodesState(): Promise<{ name: string; connected: boolean; desired: number; applied?: number; lastError?: string }[]> {
    const r = await this.ok('GET', '/restconf/data/esfc-state:nodes-state');
    const nodes = (JSON.parse(r.text) as Record<string, { node?: Record<string, unknown>[] }>)['esfc-state:nodes-state']?.node ?? [];
    return nodes.map((n) => ({
      name: String(n.name), connected: n.connected === true, desired: Number(n['desired-generation'] ?? 0),
      ...(n['applied-generation'] !== undefined ? { applied: Number(n['applied-generation']) } : {}),
      ...(n['last-error'] !== undefined ? { lastError: String(n['last-error']) } : {}),
    }));
  }

  /** Until every node's agent applied its desired generation (and no phase is pending for that long). */
  async converged(timeoutMs = 60_000, nodes?: string[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const st = (await this.nodesState()).filter((n) => !nodes || nodes.includes(n.name));
      last = JSON.stringify(st);
      if (st.length && st.every((n) => n.applied === n.desired)) {
        // Stable for a moment: a rollout's next phase would have moved `desired` by now.
        await new Promise((r) => setTimeout(r, 300));
        const again = (await this.nodesState()).filter((n) => !nodes || nodes.includes(n.name));
        if (again.every((n) => n.applied === n.desired) && JSON.stringify(again) === last) return;
      }
      if (Date.now() > deadline) throw new Error(`not converged within ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
