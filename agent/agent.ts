/**
 * `esfc agent`: keeps one node's datapath equal to its configuration.
 *
 * A reconcile is all or nothing from the datapath's point of view:
 *   prepare  gather the environment, compile tables and EF state (pure)
 *   stage    write the inactive generation of the tables, attach new hooks,
 *            add what EFs need (new SAs, policies, glue entries); every
 *            change registers its undo
 *   switch   one map write makes the new generation the one packets read
 *   retire   wait for packets of the old generation to finish, bring the old
 *            copy up to date, detach removed hooks, delete old SAs and glue,
 *            remove EFs and proxy state that are no longer configured
 * A failure before the switch undoes the stage and names the step; the
 * datapath never runs half of a configuration. The datapath is pinned:
 * stopping the agent leaves it forwarding, and a new agent adopts it.
 */
import { watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { loadConfigFile } from './config/load-config.js';
import type { NodeConfig } from './config/types.js';
import { ConfigError, validateConfig } from './config/validate-config.js';
import type { ControllerLink, NodeDesiredState, NodeReport } from './controller-link.js';
import { compile, type DesiredState, type LinkInfo } from './datapath/compile.js';
import { planMaps, tablesAfter, type ActualTables, type MapOp } from './datapath/plan.js';
import { applyOps, purgeProbeRecords, purgeProxyFlows, readGenerations, readState, writeState } from './datapath/tables.js';
import type { Logger } from './log.js';
import { gatherEnvironment, VethPeerCache } from './node/environment.js';
import { renderPrometheus, type NodeSnapshot } from './status/snapshot.js';
import { openDatapath, stateDirFor, type KernelDatapath } from './datapath/kernel-datapath.js';
import { bmv2Layout } from './p4/bmv2-layout.js';
import { Bmv2Runtime } from './p4/bmv2-runtime.js';
import { generationEntities } from './p4/p4-entities.js';
import { UdpSink } from './p4/udp-sink.js';
import { takeSnapshot } from './status/take-snapshot.js';
import { compileEfs, SOFT_LIFETIME_MARGIN_S, type EfDesired } from './ef/compile-ef.js';
import { efLink, EfRuntime, readEfStatus } from './ef/ef-runtime.js';
import { LongTimer } from './timers.js';
import { switchesId, withFailover, type Switched } from './liveness/failover.js';
import { Liveness, type FunctionLiveness } from './liveness/liveness.js';
import { probeMapReader, SfProber, type ProbeTarget } from './liveness/probe.js';
import { MapName } from './datapath/layout.js';
import { readFaults, ReconcileError, Transaction } from './transaction.js';

/** A key's reapply runs this long after its notAfter: the kernel has deleted the SA by then. */
const AFTER_EXPIRY_MS = 20;

/** Where the node's configuration comes from: a file an operator edits, or the controller. */
export type AgentSource =
  | {
    kind: 'file';
    configPath: string;
    /** Accept a config file with keys that group or others may read (warn instead of refusing). */
    allowReadableKeys?: boolean;
  }
  | {
    kind: 'controller';
    node: string;
    /** Local: the controller does not decide where this node pins its datapath. */
    pinDir: string;
    link: ControllerLink;
  };

export interface AgentOptions {
  source: AgentSource;
  log: Logger;
  /** Prometheus endpoint on 127.0.0.1; 0 disables it. */
  metricsPort: number;
  /** How often the tables in the kernel are compared with what the agent wrote (ms); 0 never. Default 60 s. */
  verifyEveryMs?: number;
}

/** What stage() leaves for retire(). */
interface Staged {
  cfg: NodeConfig;
  desired: DesiredState;
  efs: EfDesired[];
  /** Generation packets read now, and the one they read before the switch (with its tables). */
  active: number;
  previous: number;
  /** Both generations' tables before this reconcile, and the active one's after it. */
  gens: ActualTables[];
  after: ActualTables;
  /** What brings the previous generation to the new tables (written after the switch). */
  mirrorOps: MapOp[];
  tableWrites: number;
  /** Protected positions sent to their standby, and unprotected ones whose SF is down. */
  switched: Switched[];
  stranded: { spi: number; si: number; function: string }[];
}

export class Agent {
  private dp: KernelDatapath | undefined;
  private cfg: NodeConfig | undefined;
  private node = '';
  private pinDir = '';
  private generation = 0;
  /** Controller mode: the controller's generation last received, last applied, and why the last one failed. */
  private desiredGeneration: number | undefined;
  private appliedGeneration: number | undefined;
  private lastError: Record<string, unknown> | undefined;
  private watcher: FSWatcher | undefined;
  private server: Server | undefined;
  private pending: Promise<void> = Promise.resolve();
  private efs: EfRuntime | undefined;
  private timers: LongTimer[] = [];
  /**
   * What the agent last wrote into each generation of the tables, so a
   * reconcile plans without reading 2 x 65536 ports back (tens of ms, seconds
   * under emulation). Undefined means unknown: read the kernel. It is dropped
   * after any failure, and checked against the kernel every minute.
   */
  private known: ActualTables[] | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  private readonly veths = new VethPeerCache();
  private readonly puntPeer = new VethPeerCache();
  private readonly liveness = new Liveness({ onChange: (c) => this.onLiveness(c) });
  /** The protection switches the datapath runs with (switchesId). */
  private switches = '';
  /** BMv2: the slow path behind the eBPF core, or a p4 node's whole SFF. */
  private bmv2: Bmv2Runtime | undefined;
  /** On a p4 node: takes the kernel's copy of VXLAN-GPE (BMv2 reads frames with a packet socket). */
  private sink: UdpSink | undefined;

  constructor(private readonly opts: AgentOptions) {}

  private loadConfig(): Promise<NodeConfig> {
    const src = this.opts.source;
    if (src.kind !== 'file') throw new Error('no config file in controller mode');
    return loadConfigFile(src.configPath, {
      allowReadableKeys: src.allowReadableKeys === true,
      warn: (event, fields) => this.opts.log.log('warn', event, fields),
    });
  }

  private async openDatapath(node: string, pinDir: string): Promise<void> {
    this.node = node;
    this.pinDir = pinDir;
    this.dp = await openDatapath(pinDir, node);
    this.generation = Number(readState(this.dp.maps).generation);
    this.efs = new EfRuntime(pinDir, (event, fields) => this.opts.log.log('info', event, fields));
    const prober = new SfProber(probeMapReader(this.dp.maps[MapName.probe]));
    prober.onChange = (fn, alive, detail) => {
      this.opts.log.log(alive ? 'info' : 'warn', 'sf_probe', { function: fn, alive, ...detail });
      // The judgement at once, not at the next tick.
      this.liveness.tick();
    };
    this.liveness.probes = { alive: (fn) => prober.states().get(fn), stop: () => prober.stop(), set: (t) => prober.set(t) };
    this.opts.log.log('info', 'datapath_open', { node, pinDir, adopted: this.dp.adopted, generation: this.generation });
  }

  async start(): Promise<void> {
    const src = this.opts.source;
    if (src.kind === 'file') {
      const cfg = await this.loadConfig();
      await this.openDatapath(cfg.node.name, cfg.node.pinDir);
      await this.reconcile(cfg);
      this.watchConfig(src.configPath);
    } else {
      // The pinned datapath (if any) keeps forwarding until the controller says otherwise.
      await this.openDatapath(src.node, src.pinDir);
      src.link.start((d) => this.applyDesired(d), () => this.report());
    }
    if (this.opts.metricsPort) await this.serveMetrics();
    const every = this.opts.verifyEveryMs ?? 60_000;
    if (every > 0) this.driftTimer = setInterval(() => void this.verifyTables(), every);
  }

  /**
   * Something else may write esfc's maps (bpftool, a second agent by
   * mistake): compare both generations with what the agent wrote and, on any
   * difference, say so and apply the configuration again from the kernel's
   * real contents.
   */
  verifyTables(): Promise<void> {
    let drift = false;
    this.pending = this.pending.then(() => {
      const known = this.known;
      if (!known || !this.dp) return;
      let kernel: ActualTables[];
      try {
        kernel = readGenerations(this.dp.maps);
      } catch (e) {
        this.opts.log.log('error', 'tables_unreadable', { error: (e as Error).message });
        return;
      }
      const differences = known.map((k, g) => (k.config ? planMaps({ ...k, config: k.config }, kernel[g]!, g) : []));
      const n = differences.reduce((a, d) => a + d.length, 0);
      if (!n) return;
      drift = true;
      this.known = undefined;
      this.opts.log.log('warn', 'tables_drift', {
        entries: n, examples: differences.flat().slice(0, 5).map((d) => d.what),
        note: 'the kernel tables differ from what this agent wrote (another writer?); applying the configuration again',
      });
    });
    return this.pending.then(() => (drift ? this.reapply() : undefined));
  }

  /**
   * A desired state from the controller: validated and applied exactly like a
   * file; one that fails is reported back with its reasons and nothing of it
   * is applied.
   */
  private applyDesired(d: NodeDesiredState): Promise<void> {
    const src = this.opts.source as Extract<AgentSource, { kind: 'controller' }>;
    this.desiredGeneration = d.generation;
    this.pending = this.pending.then(async () => {
      try {
        const cfg = validateConfig(d.config, `controller generation ${d.generation}`);
        if (cfg.node.name !== this.node) {
          throw new ConfigError([{ path: 'node.name', problem: `the controller sent the state of ${cfg.node.name} to ${this.node}`, fix: 'check --node and the agent certificate' }], 'controller');
        }
        cfg.node.pinDir = this.pinDir;
        // The controller hears "applied" the moment packets use the new generation: its next
        // phase does not wait for this node's clean-up behind it.
        await this.reconcile(cfg, () => {
          this.appliedGeneration = d.generation;
          this.lastError = undefined;
          return src.link.send(this.report(false));
        });
      } catch (e) {
        this.lastError = rejection(e);
        this.opts.log.log('error', 'config_rejected', { ...this.lastError, controllerGeneration: d.generation, keeping: this.generation });
        await src.link.send(this.report(false));
        return;
      }
      // The full status (hooks, tables, counters) once the clean-up is done too.
      await src.link.send(this.report());
    });
    return this.pending;
  }

  /** What the controller hears about this node: generations, errors, hooks, counters, EFs and SAs (never keys). */
  private report(withStatus = true): NodeReport {
    let status: Record<string, unknown> | undefined;
    if (withStatus) {
      try {
        status = this.snapshot() as unknown as Record<string, unknown>;
      } catch (e) {
        status = { error: (e as Error).message };
      }
    }
    return {
      ...(this.desiredGeneration !== undefined ? { desiredGeneration: this.desiredGeneration } : {}),
      ...(this.appliedGeneration !== undefined ? { appliedGeneration: this.appliedGeneration } : {}),
      ...(this.lastError ? { error: this.lastError } : {}),
      functions: this.liveness.states(),
      ...(status ? { status } : {}),
    };
  }

  /** Probes through the SFs the configuration asks for, from the ports just compiled. */
  private setProbes(cfg: NodeConfig, desired: DesiredState): void {
    const targets: ProbeTarget[] = [];
    for (const p of cfg.liveness?.probes ?? []) {
      const port = cfg.ports.find((x) => x.name === p.port);
      const a = desired.attachments.find((x) => x.port === p.port);
      const dp = a && desired.ports.get(a.ifindex);
      if (!port?.peerMac || !a || !dp) continue;
      targets.push({ fn: p.function, sfId: dp.sf_id, ifindex: a.ifindex, srcMac: dp.mac, dstMac: port.peerMac, source: p.source, destination: p.destination, intervalMs: p.intervalMs });
    }
    try {
      this.liveness.probes?.set(targets);
    } catch (e) {
      this.opts.log.log('error', 'probe_failed', { error: (e as Error).message, note: 'the SFs are judged by link state only' });
    }
  }

  /**
   * An SF failed or came back (after its hold-down): the positions it
   * protects move at once, locally; then the controller hears of it (it
   * re-provisions what has no standby, and fixes other nodes).
   */
  private onLiveness(changed: FunctionLiveness[]): void {
    const detected = Date.now();
    const log = this.opts.log;
    for (const f of changed) log.log(f.live ? 'info' : 'warn', f.live ? 'sf_up' : 'sf_down', { function: f.name, ...(f.reason ? { reason: f.reason } : {}) });
    const cfg = this.cfg;
    const src = this.opts.source;
    if (cfg && switchesId(withFailover(cfg, this.liveness.down(), () => true).switched) !== this.switches) {
      this.pending = this.pending.then(() => this.reconcile(cfg, () => {
        log.log('info', 'failover_switched', { functions: changed.map((f) => ({ name: f.name, live: f.live })), ms: Date.now() - detected });
        return Promise.resolve();
      }).catch((e: unknown) => {
        log.log('error', 'config_rejected', { ...rejection(e), keeping: this.generation, why: 'failover' });
      }));
    }
    if (src.kind === 'controller') this.pending = this.pending.then(() => src.link.send(this.report(false)));
  }

  /** Apply a configuration; on failure (ReconcileError) the previous state stays in force. */
  async reconcile(cfg: NodeConfig, switched?: () => Promise<void>): Promise<void> {
    const tx = new Transaction(readFaults());
    let staged: Staged;
    // SFs new to this configuration are judged before it is compiled: one already down starts on its standby.
    this.liveness.watch(cfg, { efs: false });
    try {
      staged = await this.stage(cfg, tx);
    } catch (e) {
      this.known = undefined;
      throw tx.fail(e);
    }
    // The new generation is in force; the other one still holds what it held.
    this.known = staged.gens.map((g, i) => (i === staged.active ? staged.after : g));
    this.cfg = staged.cfg;
    this.switches = switchesId(staged.switched);
    // Its EFs are set up now (links up): from here on they are watched too.
    this.liveness.watch(staged.cfg);
    this.setProbes(staged.cfg, staged.desired);
    this.generation++;
    this.dp!.slotNames = staged.desired.slotNames;
    tx.enter('report');
    await switched?.();
    tx.enter('retire');
    this.retire(staged, tx);
  }

  private async stage(cfg: NodeConfig, tx: Transaction): Promise<Staged> {
    const dp = this.dp!;
    const log = this.opts.log;
    // Both generations, read once: the active one to diff against and keep counter slots
    // of, the inactive one to write the diff into (nothing else writes them meanwhile).
    const state = readState(dp.maps);
    const gens = this.known ?? readGenerations(dp.maps);
    this.known = undefined;
    tx.enter('environment');
    tx.fault('environment');
    const env = await gatherEnvironment(cfg, new Map([...gens[state.active]!.ports].map(([i, p]) => [i, p.slot])), this.veths);

    tx.enter('compile');
    tx.fault('compile');
    // What runs: the configuration with the positions of failed SFs on their standbys.
    const fo = withFailover(cfg, this.liveness.down(), (ifname) => env.links.has(ifname));
    const desired = compile(fo.cfg, env);
    for (const w of desired.warnings) log.log('warn', w.event, w.fields);
    const efIfindex = new Map(cfg.efs.map((ef) => [ef.name, efLink(ef.netns, ef.interface)?.ifindex ?? 0]));
    const efs = compileEfs(fo.cfg, efIfindex, Date.now());

    tx.enter('stage-tables');
    // The diff against the generation in force: whether anything changes, and later the mirror.
    const mirrorOps = planMaps(desired, gens[state.active]!, state.active);
    const changed = mirrorOps.length > 0;
    const target = changed ? 1 - state.active : state.active;
    let tableWrites = 0;
    if (changed) {
      // The inactive copy holds the previous generation: this is the incremental diff.
      const ops = planMaps(desired, gens[target]!, target);
      const half = Math.ceil(ops.length / 2);
      applyOps(dp.maps, ops.slice(0, half));
      tx.fault('stage-tables');
      applyOps(dp.maps, ops.slice(half));
      for (const op of ops) log.log('info', 'table_write', { op: op.op, what: op.what, generation: this.generation + 1 });
      tableWrites = ops.length;
    }

    tx.enter('bmv2');
    const p4Node = await this.stageBmv2(cfg, desired, target, env.links);
    tx.fault('bmv2');

    tx.enter('attach');
    const links = env.links;
    for (const a of desired.attachments) {
      // BMv2's ports: the slow path wires them (no eBPF program on a p4 node).
      if (a.hook === 'p4' || dp.isAttached(a)) continue;
      if (a.hook === 'xdp' && links.get(a.ifname)?.kind === 'veth') {
        log.log('warn', 'xdp_on_veth', {
          ifname: a.ifname,
          note: 'XDP on a veth: its peer must deliver finished checksums (tx off), and the veths XDP sends frames into need an XDP program or GRO on at their far end',
        });
      }
      const had = dp.attachments().some((h) => h.ifname === a.ifname && h.hook === a.hook);
      const r = dp.attach(a);
      if (!had) tx.undo(`${a.ifname} ${a.hook} hook`, () => dp.detach(a.ifname, a.hook));
      log.log('info', 'hook_attached', { port: a.port, ifname: a.ifname, hook: a.hook, mechanism: r.mechanism, programId: r.programId, replaced: r.replaced });
      tx.fault('attach');
    }

    for (const ef of efs) {
      tx.enter(`ef:${ef.name}`);
      const port = cfg.ports.find((p) => p.kind === 'ef' && p.function === ef.name)!;
      const sffMac = links.get(port.interface)?.mac ?? '00:00:00:00:00:00';
      const ops = this.efs!.stage(ef, sffMac, tx.undo);
      log.log('info', 'ef_staged', { ef: ef.name, netns: ef.netns, sas: ef.xfrmSas.length, policies: ef.xfrmPolicies.length, xfrmOps: ops.length });
      tx.fault(`ef:${ef.name}`);
      tx.fault('ef');
    }

    tx.enter('switch');
    tx.fault('switch');
    writeState(dp.maps, { active: target, generation: BigInt(this.generation + 1) });
    if (this.bmv2) {
      try {
        await this.bmv2.switchTo(target, BigInt(this.generation + 1));
      } catch (e) {
        if (p4Node) throw e;
        log.log('error', 'bmv2_failed', { step: 'switch', error: (e as Error).message, note: 'BMv2 is restarted with the new state; the fast path is not affected' });
      }
    }
    return { cfg, desired, efs, active: target, previous: state.active, gens, after: tablesAfter(desired), mirrorOps, tableWrites, switched: fo.switched, stranded: fo.stranded };
  }

  /**
   * BMv2's part of a stage: wired as the configuration needs (or stopped when
   * it needs none), the generation being staged written. On a p4 node a
   * failure fails the reconcile; behind the eBPF core it is logged and the
   * supervisor keeps trying (punted frames wait, the fast path does not).
   * Returns whether BMv2 is the node's SFF.
   */
  private async stageBmv2(cfg: NodeConfig, desired: DesiredState, target: number, links: ReadonlyMap<string, LinkInfo>): Promise<boolean> {
    const log = this.opts.log;
    const p4Node = desired.attachments.some((a) => a.hook === 'p4');
    try {
      const punt = cfg.ports.find((p) => p.kind === 'punt');
      // Cached like the underlay's peers: finding a peer spawns ip and ethtool, too much for every reconcile.
      const peer = punt ? (await this.puntPeer.get([punt.interface], links)).get(punt.interface)?.peer : undefined;
      const layout = bmv2Layout(cfg, desired, peer);
      if (!layout) {
        if (this.bmv2) {
          await this.bmv2.shutdown();
          this.bmv2 = undefined;
        }
        this.sink?.close();
        this.sink = undefined;
        return false;
      }
      this.bmv2 ??= new Bmv2Runtime(stateDirFor(this.pinDir), log.child({ component: 'bmv2' }));
      this.bmv2.supervise();
      await this.bmv2.prepare(layout, desired.slotNames);
      await this.bmv2.stage(target, generationEntities(desired, desired.config, target));
      if (p4Node && cfg.underlay && !this.sink) this.sink = new UdpSink(cfg.underlay.address, 4790);
    } catch (e) {
      if (p4Node) throw e;
      log.log('error', 'bmv2_failed', { step: 'stage', error: (e as Error).message, note: 'punted frames are dropped until BMv2 is back; the fast path is not affected' });
    }
    return p4Node;
  }

  /** After the switch: the new generation is in force; clean up behind it. Failures here are logged and retried by the next reconcile. */
  private retire(s: Staged, tx: Transaction): void {
    const dp = this.dp!;
    const log = this.opts.log;
    const attempt = (what: string, fn: () => void): boolean => {
      try {
        fn();
        return true;
      } catch (e) {
        log.log('error', 'retire_failed', { what, error: (e as Error).message, note: 'the new configuration is in force; the next reconcile retries this' });
        return false;
      }
    };
    if (s.active !== s.previous) {
      const mirrored = attempt('mirror the tables into the previous generation', () => {
        // Nothing may still be forwarding with the old copy when it is rewritten.
        dp.barrier();
        applyOps(dp.maps, s.mirrorOps);
        if (s.mirrorOps.length) log.log('info', 'tables_mirrored', { generation: s.previous, writes: s.mirrorOps.length });
      });
      this.known = mirrored ? [s.after, s.after] : undefined;
      // BMv2's previous generation too (serialised behind the switch, like the maps' mirror).
      this.bmv2?.stage(s.previous, generationEntities(s.desired, s.desired.config, s.previous)).catch((e: unknown) => {
        log.log('error', 'retire_failed', { what: 'mirror BMv2\'s tables into the previous generation', error: (e as Error).message });
      });
    }
    const want = new Set(s.desired.attachments.map((a) => `${a.ifname}/${a.hook}`));
    for (const h of dp.attachments()) {
      if (want.has(`${h.ifname}/${h.hook}`)) continue;
      attempt(`detach ${h.ifname} ${h.hook}`, () => {
        dp.detach(h.ifname, h.hook);
        log.log('info', 'hook_detached', { ifname: h.ifname, hook: h.hook });
      });
    }
    for (const ef of s.efs) {
      attempt(`retire old state of EF ${ef.name}`, () => {
        const ops = this.efs!.retire(ef);
        log.log('info', 'ef_applied', { ef: ef.name, netns: ef.netns, sas: ef.xfrmSas.length, policies: ef.xfrmPolicies.length, xfrmOps: ops.length, expired: ef.expired.length });
      });
    }
    attempt('remove EFs no longer configured', () => {
      for (const name of this.efs!.removeOthers(new Set(s.cfg.efs.map((e) => e.name)))) log.log('info', 'ef_removed', { ef: name });
    });
    // Proxy state of an SF that is gone must not restore paths for whatever comes next.
    const ids = new Set([...s.desired.ports.values()].map((p) => p.sf_id));
    const gone = new Set([...s.gens[s.previous]!.ports.values()].map((p) => p.sf_id).filter((id) => id && !ids.has(id)));
    if (gone.size) {
      attempt('purge proxy state of removed SFs', () => log.log('info', 'proxy_state_purged', { sfIds: [...gone], flows: purgeProxyFlows(dp.maps, gone), probeRecords: purgeProbeRecords(dp.maps, gone) }));
    }

    this.armTimers(s.efs);
    log.log('info', 'config_applied', {
      generation: this.generation, writes: s.tableWrites, switched: s.active !== s.previous, attachments: s.desired.attachments.length, ms: tx.timings(),
      ...(s.switched.length ? { onStandby: s.switched } : {}), ...(s.stranded.length ? { stranded: s.stranded } : {}),
    });
  }

  /**
   * Keys expire by the clock: at the next notAfter of any EF the config is
   * applied again (the kernel's hard lifetime deletes the SA at that moment;
   * this makes sure it is not re-installed and says so). Armed for every EF
   * from the committed state, however far away the time is.
   */
  private armTimers(efs: EfDesired[]): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
    const log = this.opts.log;
    let first = Infinity;
    for (const ef of efs) {
      if (ef.nextExpiry === undefined) continue;
      const at = ef.nextExpiry;
      first = Math.min(first, at);
      const soft = at - SOFT_LIFETIME_MARGIN_S * 1000;
      if (soft > Date.now()) this.timers.push(new LongTimer(soft, () => log.log('warn', 'ef_key_expiring', { ef: ef.name, notAfter: new Date(at).toISOString() })));
    }
    // One reapply covers every EF (it arms the next expiry again); just after the kernel deleted the SA.
    if (first !== Infinity) this.timers.push(new LongTimer(first + AFTER_EXPIRY_MS, () => void this.reapply()));
  }

  private watchConfig(path: string): void {
    let timer: NodeJS.Timeout | undefined;
    // Editors replace files; watch the file and re-arm on rename.
    const arm = (): void => {
      this.watcher?.close();
      try {
        this.watcher = watch(path, () => {
          clearTimeout(timer);
          timer = setTimeout(() => { arm(); void this.reload(); }, 100);
        });
      } catch {
        setTimeout(arm, 500);
      }
    };
    arm();
  }

  /** Apply the configuration again (a key expired): the file is read again; the controller's last state is reused. */
  reapply(): Promise<void> {
    if (this.opts.source.kind === 'file') return this.reload();
    const cfg = this.cfg;
    if (!cfg) return this.pending;
    this.pending = this.pending.then(() => this.reconcile(cfg).catch((e: unknown) => {
      this.opts.log.log('error', 'config_rejected', { ...rejection(e), keeping: this.generation });
    }));
    return this.pending;
  }

  /** Re-read the config file and apply it; serialised so two edits never interleave. */
  reload(): Promise<void> {
    if (this.opts.source.kind !== 'file') return this.reapply();
    this.pending = this.pending.then(async () => {
      try {
        await this.reconcile(await this.loadConfig());
      } catch (e) {
        this.opts.log.log('error', 'config_rejected', { ...rejection(e), keeping: this.generation });
      }
    });
    return this.pending;
  }

  snapshot(): NodeSnapshot {
    const active = this.known?.[readState(this.dp!.maps).active];
    const snap = takeSnapshot(this.dp!, this.node, this.pinDir, this.generation, active);
    if (this.cfg?.efs.length) snap.efs = this.cfg.efs.map((ef) => readEfStatus(this.pinDir, ef));
    if (this.bmv2) snap.bmv2 = this.bmv2.snapshot(this.dp!.statNames);
    return snap;
  }

  private serveMetrics(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('see /metrics\n');
        return;
      }
      try {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderPrometheus(this.snapshot()));
      } catch (e) {
        res.writeHead(500).end(`${(e as Error).message}\n`);
      }
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.metricsPort, '127.0.0.1', () => {
        this.opts.log.log('info', 'metrics_listening', { address: `127.0.0.1:${this.opts.metricsPort}` });
        resolve();
      });
    });
  }

  /** Stop the agent; the datapath stays pinned and keeps forwarding. */
  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.opts.source.kind === 'controller') await this.opts.source.link.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    clearInterval(this.driftTimer);
    await this.pending;
    for (const t of this.timers) t.cancel();
    this.liveness.stop();
    this.efs?.close();
    await this.bmv2?.close();
    this.sink?.close();
    this.dp?.close();
  }
}

/** Log fields of a rejected configuration: which step, what, what was undone. Never a secret value. */
function rejection(e: unknown): Record<string, unknown> {
  const cause = e instanceof ReconcileError ? e.cause : e;
  const fields: Record<string, unknown> = { error: (cause as Error).message };
  if (e instanceof ReconcileError) {
    fields.step = e.step;
    fields.undone = e.undone;
    if (e.undoFailures.length) fields.undoFailures = e.undoFailures;
  } else {
    fields.step = 'load';
  }
  if (cause instanceof ConfigError) fields.problems = cause.problems;
  return fields;
}
