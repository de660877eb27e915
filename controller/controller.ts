/**
 * The controller's state and its one write path.
 *
 *   authorise -> validate against the model -> compile -> append to the
 *   instruction log -> apply to the datastore (one SQLite transaction) -> notify
 *
 * The RESTCONF layer does the first two (it knows the request); commit() does
 * the rest. Per node it keeps the compiled desired state (without keys) and a
 * generation that moves only when that node's state changes, so editing one
 * chain touches only the nodes it must; agents long-poll for their node's
 * state and get it with its EF keys, which exist only sealed at rest and in
 * the memory of the two agents of a pair.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NodeConfig } from '../agent/config/types.js';
import type { FunctionLiveness } from '../agent/liveness/liveness.js';
import type { Logger } from '../agent/log.js';
import { compileIntent, type Compiled, type EfPair } from './intent/compile.js';
import { phases } from './rollout.js';
import { emptyAllocations, type Allocations } from './intent/allocations.js';
import { intentFromDoc } from './intent/from-doc.js';
import type { KeyStore } from './keys/key-store.js';
import type { Db } from './store/db.js';
import { appendInstruction, type Instruction, type InstructionLog } from './store/instruction-log.js';

export type Doc = Record<string, unknown>;

export interface NodeDesired {
  generation: number;
  config: NodeConfig;
  /** sha256 of the config, to tell a real change from a recompilation. */
  hash: string;
  changed: string;
}

export interface NodeReportRow {
  appliedGeneration?: number;
  desiredGeneration?: number;
  lastError?: string;
  report: Record<string, unknown>;
  at: string;
}

export interface ChangeEvent {
  revision: number;
  at: string;
  principal: string;
  method: string;
  path: string;
  /** Nodes whose desired state moved to a new generation. */
  nodes: string[];
}

/** How long agents' reports may stay only in memory. */
const REPORT_FLUSH_MS = 1000;

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

export class Controller {
  private doc: Doc = {};
  private revision = 0;
  private modified = new Date(0).toISOString();
  private allocations: Allocations = emptyAllocations();
  private readonly desired = new Map<string, NodeDesired>();
  private readonly entryModified = new Map<string, string>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private target: Compiled | undefined;
  private rollout: Promise<void> = Promise.resolve();
  private readonly reports = new Map<string, NodeReportRow>();
  private readonly unsaved = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** SFs their own node's agent reports down: compiled around (standby or another SF of the kind). */
  private failed = new Set<string>();
  /** EF slots ("node/slot") their node's agent reports down: their pairs move to another slot. */
  private failedEfs = new Set<string>();
  /** The last judgement of each SF (by name) and EF slot ("node/slot"). */
  private readonly health = new Map<string, FunctionLiveness>();
  /** Which node each SF of the intent runs on, and the nodes' EF slots (per revision: reports come every few seconds from every agent). */
  private placesOf: { revision: number; sfs: Map<string, string>; efs: Set<string> } = { revision: -1, sfs: new Map(), efs: new Set() };
  /** Whether a node's agent is there to wait for (the server knows); others are not waited for. */
  connected: (node: string) => boolean = () => true;
  /** How long a phase waits for agents, and how long in-flight packets get before old paths go. */
  phaseTimeoutMs = 5000;
  drainMs = 200;
  /** 'change' (ChangeEvent) after every commit; 'report' (node) after an agent reported. */
  readonly events = new EventEmitter();

  constructor(readonly db: Db, readonly keys: KeyStore, private readonly log: Logger, readonly instructions: InstructionLog = appendInstruction) {
    this.events.setMaxListeners(0);
    const ds = db.prepare('SELECT doc, revision, modified FROM datastore WHERE id = 1').get() as { doc: string; revision: number; modified: string } | undefined;
    if (ds) {
      this.doc = JSON.parse(ds.doc) as Doc;
      this.revision = ds.revision;
      this.modified = ds.modified;
    }
    const al = db.prepare('SELECT doc FROM allocations WHERE id = 1').get() as { doc: string } | undefined;
    if (al) this.allocations = JSON.parse(al.doc) as Allocations;
    for (const r of db.prepare('SELECT node, generation, config, changed FROM node_desired').all() as { node: string; generation: number; config: string; changed: string }[]) {
      this.desired.set(r.node, { generation: r.generation, config: JSON.parse(r.config) as NodeConfig, hash: sha(r.config), changed: r.changed });
    }
    for (const r of db.prepare('SELECT node, applied_generation, last_error, report, at FROM node_report').all() as { node: string; applied_generation: number | null; last_error: string | null; report: string; at: string }[]) {
      const report = JSON.parse(r.report) as Record<string, unknown>;
      this.reports.set(r.node, {
        ...(r.applied_generation !== null ? { appliedGeneration: r.applied_generation } : {}),
        ...(typeof report.desiredGeneration === 'number' ? { desiredGeneration: report.desiredGeneration } : {}),
        ...(r.last_error ? { lastError: r.last_error } : {}),
        report, at: r.at,
      });
    }
    for (const r of db.prepare('SELECT path, modified FROM entry_modified').all() as { path: string; modified: string }[]) this.entryModified.set(r.path, r.modified);
    // What the agents last said of their SFs and EFs: a restarted controller keeps compiling around the failed ones.
    for (const [node, r] of this.reports) {
      if (Array.isArray(r.report.functions)) this.judge(node, r.report.functions as FunctionLiveness[]);
    }
    log.log('info', 'controller_state_loaded', { revision: this.revision, nodes: this.desired.size, failed: this.failedFunctions() });
    // A rollout the last run did not finish (or never started) resumes.
    if (ds) {
      this.target = this.compile(this.doc);
      void this.converge();
    }
  }

  get datastore(): { doc: Doc; revision: number; modified: string } {
    return { doc: this.doc, revision: this.revision, modified: this.modified };
  }

  /** When the list entry at `path` (e.g. /esfc-intent:chains/chain=web) last changed, if known. */
  entryTime(path: string): string | undefined {
    return this.entryModified.get(path);
  }

  /** Compile a candidate document without changing anything (throws IntentError with the reasons). */
  compile(doc: Doc): Compiled {
    const c = compileIntent(intentFromDoc(doc), this.allocations, { failed: this.failed, failedEfs: this.failedEfs });
    if (c.notes.length) this.log.log('warn', 'intent_notes', { notes: c.notes });
    return c;
  }

  /** SFs and EF slots ("node/slot") reported down now. */
  failedFunctions(): string[] {
    return [...this.failed, ...this.failedEfs].sort();
  }

  /**
   * An agent's view of the SFs behind its ports. Only a node's own agent
   * speaks for its SFs. When the set of failed SFs changes, the intent is
   * compiled around them and rolled out (make before break): the standby or
   * another SF of the kind takes the position for good, and a primary back up
   * (after its node's hold-down) gets it back.
   */
  private sfReport(node: string, functions: readonly FunctionLiveness[]): void {
    const was = new Set([...this.failed, ...this.failedEfs]);
    if (!this.judge(node, functions)) return;
    const now = new Set([...this.failed, ...this.failedEfs]);
    let compiled: Compiled;
    try {
      compiled = this.compile(this.doc);
    } catch (e) {
      this.log.log('error', 'reprovision_failed', { error: (e as Error).message, failed: [...now] });
      return;
    }
    this.db.prepare('INSERT INTO allocations (id, doc) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc').run(JSON.stringify(compiled.allocations));
    this.allocations = compiled.allocations;
    this.target = compiled;
    this.log.log('warn', 'sf_reprovision', {
      node, down: [...now].filter((n) => !was.has(n)), up: [...was].filter((n) => !now.has(n)), failed: [...now],
      nodesToChange: [...compiled.nodes.keys()].filter((n) => this.desired.get(n)?.hash !== sha(JSON.stringify(compiled.nodes.get(n)))),
    });
    void this.converge();
  }

  /** Takes a node's judgement of its SFs and EFs; true when the set of failed ones changed. */
  private judge(node: string, functions: readonly FunctionLiveness[]): boolean {
    if (this.placesOf.revision !== this.revision) {
      const intent = intentFromDoc(this.doc);
      this.placesOf = {
        revision: this.revision,
        sfs: new Map(intent.serviceFunctions.map((x) => [x.name, x.node])),
        efs: new Set(intent.nodes.flatMap((n) => n.efs.map((e) => `${n.name}/${e.name}`))),
      };
    }
    const { sfs, efs } = this.placesOf;
    const reported = new Set<string>();
    for (const f of functions) {
      const key = sfs.get(f.name) === node ? f.name : efs.has(`${node}/${f.name}`) ? `${node}/${f.name}` : undefined;
      if (!key) continue;
      this.health.set(key, f);
      reported.add(key);
    }
    // What this node no longer watches (an EF slot nothing uses any more) is not known to be down.
    const ofNode = (key: string): boolean => sfs.get(key) === node || key.startsWith(`${node}/`);
    for (const key of [...this.health.keys()]) if ((!sfs.has(key) && !efs.has(key)) || (ofNode(key) && !reported.has(key))) this.health.delete(key);
    const down = [...this.health].filter(([, f]) => !f.live).map(([k]) => k);
    const failed = new Set(down.filter((k) => sfs.has(k)));
    const failedEfs = new Set(down.filter((k) => efs.has(k)));
    const same = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => [...a].sort().join() === [...b].sort().join();
    if (same(failed, this.failed) && same(failedEfs, this.failedEfs)) return false;
    this.failed = failed;
    this.failedEfs = failedEfs;
    return true;
  }

  /**
   * Make `doc` the datastore: compile it, then log the instruction and apply
   * it in one transaction, then notify. `entries` are the list entries the
   * write touched (their Last-Modified moves). The nodes follow in phases
   * (rollout.ts), in the background; a later write takes over from wherever
   * they are.
   */
  commit(instr: Omit<Instruction, 'revision' | 'at'>, doc: Doc, entries: string[]): ChangeEvent {
    const compiled = this.compile(doc);
    const at = new Date().toISOString();
    const revision = this.revision + 1;
    this.db.transaction(() => {
      this.instructions(this.db, { ...instr, at, revision });
      this.db.prepare('INSERT INTO datastore (id, doc, revision, modified) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, revision = excluded.revision, modified = excluded.modified')
        .run(JSON.stringify(doc), revision, at);
      this.db.prepare('INSERT INTO allocations (id, doc) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc').run(JSON.stringify(compiled.allocations));
      const em = this.db.prepare('INSERT INTO entry_modified (path, modified) VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET modified = excluded.modified');
      for (const e of entries) em.run(e, at);
    })();
    this.doc = doc;
    this.revision = revision;
    this.modified = at;
    this.allocations = compiled.allocations;
    this.target = compiled;
    for (const e of entries) this.entryModified.set(e, at);
    const ev: ChangeEvent = { revision, at, principal: instr.principal, method: instr.method, path: instr.path, nodes: [...compiled.nodes.keys()].filter((n) => this.desired.get(n)?.hash !== sha(JSON.stringify(compiled.nodes.get(n)))) };
    this.log.log('info', 'datastore_changed', { revision, principal: instr.principal, method: instr.method, path: instr.path, nodesToChange: ev.nodes });
    this.events.emit('change', ev);
    this.converge();
    return ev;
  }

  /** Bring the nodes to the compiled intent, phase by phase (serialised: one rollout at a time, always towards the latest intent). */
  converge(): Promise<void> {
    this.rollout = this.rollout.then(() => this.runRollout()).catch((e: unknown) => {
      this.log.log('error', 'rollout_failed', { error: (e as Error).message });
    });
    return this.rollout;
  }

  /** Resolves when the nodes run what the latest commit compiled (or gave up waiting for some). */
  settled(): Promise<void> {
    return this.rollout;
  }

  private async runRollout(): Promise<void> {
    const target = this.target;
    if (!target) return;
    const current = new Map([...this.desired].map(([n, d]) => [n, d.config]));
    // Keys exist before any agent can be handed a pair (desiredFor only reads them).
    for (const p of target.pairs) this.keys.ensure(p.espi);
    const steps = phases(current, target.nodes);
    for (const [i, step] of steps.entries()) {
      if (this.target !== target) return; // a newer commit took over; it starts from here
      // Packets already on their way along a path that is about to go get to finish it.
      if (step.phase === 'break' && steps[i - 1]?.phase === 'switch') await new Promise((r) => setTimeout(r, this.drainMs));
      const gens = this.publish(step.nodes);
      const waitFor = [...gens].filter(([n]) => this.connected(n));
      const late = await this.waitApplied(waitFor, this.phaseTimeoutMs);
      this.log.log(late.length ? 'warn' : 'info', 'rollout_phase', { revision: this.revision, phase: step.phase, nodes: Object.fromEntries(gens), ...(late.length ? { notApplied: late } : {}) });
    }
    if (this.target === target) this.keys.retain(new Set(target.pairs.map((p) => p.espi)));
  }

  /** New generations for the nodes whose state changes (undefined: the node is gone); persisted, then agents woken. */
  private publish(nodes: ReadonlyMap<string, NodeConfig | undefined>): Map<string, number> {
    const at = new Date().toISOString();
    const gens = new Map<string, number>();
    this.db.transaction(() => {
      const put = this.db.prepare('INSERT INTO node_desired (node, generation, config, changed) VALUES (?, ?, ?, ?) ON CONFLICT(node) DO UPDATE SET generation = excluded.generation, config = excluded.config, changed = excluded.changed');
      for (const [n, cfg] of nodes) {
        if (!cfg) {
          this.db.prepare('DELETE FROM node_desired WHERE node = ?').run(n);
          continue;
        }
        const text = JSON.stringify(cfg);
        const generation = (this.desired.get(n)?.generation ?? 0) + 1;
        put.run(n, generation, text, at);
        gens.set(n, generation);
      }
    })();
    for (const [n, cfg] of nodes) {
      if (cfg) this.desired.set(n, { generation: gens.get(n)!, config: cfg, hash: sha(JSON.stringify(cfg)), changed: at });
      else this.desired.delete(n);
      this.wake(n);
    }
    return gens;
  }

  /**
   * A new generation of the nodes' current desired state: what they run does
   * not change, but what desiredFor() adds to it (their pairs' keys) did.
   */
  republish(nodes: readonly string[]): Map<string, number> {
    const m = new Map<string, NodeConfig>();
    for (const n of nodes) {
      const d = this.desired.get(n);
      if (d) m.set(n, d.config);
    }
    return this.publish(m);
  }

  /** EF pairs of the latest intent whose two ends are in their nodes' desired state now. */
  deployedPairs(): EfPair[] {
    const has = (node: string, espi: number): boolean => !!this.desired.get(node)?.config.encryptedHops.some((h) => h.espi === espi);
    return (this.target?.pairs ?? []).filter((p) => has(p.enc.node, p.espi) && has(p.dec.node, p.espi));
  }

  /**
   * Waits until each node reports the generation applied (or, unless
   * `onlyApplied`, failed); returns the nodes that did not within the time.
   */
  waitApplied(nodes: [string, number][], ms: number, onlyApplied = false): Promise<string[]> {
    const pending = new Map(nodes);
    const check = (n: string): void => {
      const gen = pending.get(n);
      const r = this.reportOf(n);
      if (gen !== undefined && ((r?.appliedGeneration ?? -1) >= gen || (!onlyApplied && (r?.desiredGeneration ?? -1) >= gen && r?.lastError))) pending.delete(n);
    };
    for (const [n] of nodes) check(n);
    if (!pending.size) return Promise.resolve([]);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.events.off('report', onReport);
        resolve([...pending.keys()]);
      };
      const onReport = (node: string): void => {
        check(node);
        if (!pending.size) done();
      };
      const t = setTimeout(done, ms);
      this.events.on('report', onReport);
    });
  }

  nodes(): string[] {
    return [...this.desired.keys()].sort();
  }

  generationOf(node: string): number | undefined {
    return this.desired.get(node)?.generation;
  }

  /** The desired state for the node's agent, with the keys of its EF pairs. Only the agent channel calls this. */
  desiredFor(node: string): { generation: number; config: NodeConfig } | undefined {
    const d = this.desired.get(node);
    if (!d) return undefined;
    return { generation: d.generation, config: this.keys.withKeys(d.config) };
  }

  /** Resolves when the node's generation is no longer `known`, or after `ms`; false when it timed out. */
  waitFor(node: string, known: number | undefined, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.desired.get(node)?.generation !== known) return Promise.resolve(true);
    return new Promise((resolve) => {
      const set = this.waiters.get(node) ?? new Set<() => void>();
      this.waiters.set(node, set);
      const done = (changed: boolean): void => {
        clearTimeout(t);
        set.delete(wake);
        resolve(changed);
      };
      const wake = (): void => done(true);
      const t = setTimeout(() => done(false), ms);
      set.add(wake);
      signal?.addEventListener('abort', () => done(false), { once: true });
    });
  }

  private wake(node: string): void {
    for (const w of [...(this.waiters.get(node) ?? [])]) w();
  }

  /**
   * What an agent reported (kept, shown as operational state; never key
   * material: agents do not send any). Reports live in memory and reach the
   * database in batches: an agent reports after every apply and on every
   * heartbeat, and a thousand of them must not each wait for an fsync. A
   * report lost in a crash is sent again by the next heartbeat.
   */
  report(node: string, r: { appliedGeneration?: number; desiredGeneration?: number; error?: Record<string, unknown>; status?: Record<string, unknown>; functions?: FunctionLiveness[] }): void {
    const lastError = r.error ? String(r.error.error ?? JSON.stringify(r.error)) : undefined;
    // A report without status (an agent saying "applied" between heartbeats) keeps the last one's.
    const previous = { ...this.reports.get(node)?.report };
    delete previous.error;
    delete previous.desiredGeneration;
    const status = r.status ?? previous;
    this.reports.set(node, {
      ...(r.appliedGeneration !== undefined ? { appliedGeneration: r.appliedGeneration } : {}),
      ...(r.desiredGeneration !== undefined ? { desiredGeneration: r.desiredGeneration } : {}),
      ...(lastError ? { lastError } : {}),
      report: { ...status, ...(r.error ? { error: r.error } : {}), ...(r.desiredGeneration !== undefined ? { desiredGeneration: r.desiredGeneration } : {}) },
      at: new Date().toISOString(),
    });
    if (r.functions) this.reports.get(node)!.report.functions = r.functions;
    this.unsaved.add(node);
    this.flushTimer ??= setTimeout(() => this.flushReports(), REPORT_FLUSH_MS);
    this.events.emit('report', node);
    if (r.functions) this.sfReport(node, r.functions);
  }

  reportOf(node: string): NodeReportRow | undefined {
    return this.reports.get(node);
  }

  /** Write the reports received since the last flush, in one transaction. */
  flushReports(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.unsaved.size || !this.db.open) return;
    const put = this.db.prepare('INSERT INTO node_report (node, applied_generation, last_error, report, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(node) DO UPDATE SET applied_generation = excluded.applied_generation, last_error = excluded.last_error, report = excluded.report, at = excluded.at');
    this.db.transaction(() => {
      for (const n of this.unsaved) {
        const r = this.reports.get(n)!;
        put.run(n, r.appliedGeneration ?? null, r.lastError ?? null, JSON.stringify(r.report), r.at);
      }
    })();
    this.unsaved.clear();
  }

  /** Stop: pending reports are saved. */
  close(): void {
    this.flushReports();
  }
}
