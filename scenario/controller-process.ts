/**
 * The controller as the demo and the end-to-end tests run it: `esfc
 * controller` as its own process (so it can be stopped, killed -9 and
 * restarted under traffic), on loopback TCP and a Unix socket that the agents
 * in the scenario's node namespaces reach. Its state directory is made (CA,
 * KEK, server certificate) and clients are enrolled with the embedded API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { jsonLogger } from '../agent/log.js';
import { startController } from '../controller/embedded.js';
import { controllerEndpoint, readBundle } from '../controller/pki/index.js';
import type { PrincipalKind } from '../controller/restconf/principal.js';
import { CLI } from './net.js';
import { collectJsonLines, STARTUP_MS, stopProcess, waitForLine } from './sh.js';

export class ControllerProcess {
  private proc: ChildProcess | undefined;
  readonly socket: string;
  /** Every JSON log line of every run of the controller. */
  readonly logs: Record<string, unknown>[] = [];

  constructor(readonly dir: string) {
    this.socket = join(dir, 'controller.sock');
  }

  /** The unix: endpoint agents and clients use. */
  get endpoint(): string {
    return `unix:${this.socket}`;
  }

  /** Create the state (first time) and client bundles; returns the bundle paths by `kind:name`. */
  async enroll(principals: [PrincipalKind, string][]): Promise<Map<string, string>> {
    const c = await startController(this.dir, jsonLogger({}, () => undefined));
    const out = new Map<string, string>();
    try {
      for (const [kind, name] of principals) out.set(`${kind}:${name}`, await c.enroll(kind, name));
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

  /** A RESTCONF client for a principal's bundle. */
  client(bundle: string): RestconfClient {
    const ep = controllerEndpoint(this.endpoint, readBundle(bundle));
    return new RestconfClient(ep.origin, ep.dispatcher);
  }
}

export interface Reply { status: number; headers: Record<string, string>; text: string }

/** Just enough of a RESTCONF client for scripts: method, data path, JSON body. */
export class RestconfClient {
  constructor(readonly origin: string, readonly dispatcher: Dispatcher) {}

  async call(method: string, path: string, body?: unknown): Promise<Reply> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const r = await request(`${this.origin}${path}`, {
      method: method as 'GET', dispatcher: this.dispatcher,
      headers: text !== undefined ? { 'content-type': 'application/yang-data+json' } : {},
      ...(text !== undefined ? { body: text } : {}),
    });
    return { status: r.statusCode, headers: r.headers as Record<string, string>, text: await r.body.text() };
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
