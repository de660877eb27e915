/**
 * `esfc agent`: keeps one node's datapath equal to its configuration.
 * reconcile() = gather environment -> compile (pure) -> plan (pure) -> apply.
 * The datapath is pinned: stopping the agent (SIGTERM) leaves it forwarding,
 * and a new agent adopts it without touching a packet.
 */
import { watch, type FSWatcher } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { loadConfigFile } from './config/load-config.js';
import type { NodeConfig } from './config/types.js';
import { ConfigError } from './config/validate-config.js';
import { compile, type Environment } from './datapath/compile.js';
import { planMaps } from './datapath/plan.js';
import { applyOps, readTables } from './datapath/tables.js';
import { MapName } from './datapath/layout.js';
import type { Logger } from './log.js';
import { listLinks } from './node/links.js';
import { resolvePeerMacs } from './node/neighbours.js';
import { renderPrometheus, type NodeSnapshot } from './status/snapshot.js';
import { openDatapath, type KernelDatapath } from './datapath/kernel-datapath.js';
import { takeSnapshot } from './status/take-snapshot.js';
import { compileEfs, SOFT_LIFETIME_MARGIN_S } from './ef/compile-ef.js';
import { efLink, EfRuntime } from './ef/ef-runtime.js';

export interface AgentOptions {
  configPath: string;
  log: Logger;
  /** Prometheus endpoint on 127.0.0.1; 0 disables it. */
  metricsPort: number;
}

export class Agent {
  private dp: KernelDatapath | undefined;
  private cfg: NodeConfig | undefined;
  private generation = 0;
  private watcher: FSWatcher | undefined;
  private server: Server | undefined;
  private pending: Promise<void> = Promise.resolve();
  private efs: EfRuntime | undefined;
  private expiryTimers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: AgentOptions) {}

  async start(): Promise<void> {
    const cfg = await loadConfigFile(this.opts.configPath);
    this.dp = await openDatapath(cfg.node.pinDir, cfg.node.name);
    this.efs = new EfRuntime(cfg.node.pinDir, (event, fields) => this.opts.log.log('info', event, fields));
    this.opts.log.log('info', 'datapath_open', { pinDir: cfg.node.pinDir, adopted: this.dp.adopted });
    await this.reconcile(cfg);
    this.watchConfig();
    if (this.opts.metricsPort) await this.serveMetrics();
  }

  /** Apply a configuration; on failure the previous state stays in force. */
  async reconcile(cfg: NodeConfig): Promise<void> {
    const dp = this.dp!;
    const log = this.opts.log;
    const links = await listLinks();
    const peerMacs = new Map<string, string>();
    const unresolved = cfg.peers.filter((p) => !p.mac);
    for (const p of cfg.peers) if (p.mac) peerMacs.set(p.name, p.mac);
    if (unresolved.length && cfg.underlay) {
      const found = await resolvePeerMacs(cfg.underlay.interface, unresolved.map((p) => p.address));
      for (const p of unresolved) {
        const m = found.get(p.address);
        if (m) peerMacs.set(p.name, m);
      }
    }
    const actual = readTables(dp.maps);
    const env: Environment = {
      links, peerMacs,
      existingSlots: new Map([...actual.ports].map(([i, p]) => [i, p.slot])),
    };
    const desired = compile(cfg, env);
    const ops = planMaps(desired, actual, dp.maps[MapName.classifier].maxEntries);
    applyOps(dp.maps, ops);
    for (const op of ops) log.log('info', 'table_write', { op: op.op, what: op.what });

    // Make before break: attach what is wanted (updating links in place), then detach the rest.
    const want = new Map(desired.attachments.map((a) => [`${a.ifname}/${a.hook}`, a]));
    for (const a of desired.attachments) {
      if (a.hook === 'xdp' && links.get(a.ifname)?.kind === 'veth') {
        // Works (tested), but only if the wire side finishes checksums and local veth peers have NAPI.
        log.log('warn', 'xdp_on_veth', {
          ifname: a.ifname,
          note: 'XDP on a veth: its peer must deliver finished checksums (tx off) and local veth ports need GRO on at their far end to receive XDP_REDIRECTed frames',
        });
      }
      const r = dp.attach(a);
      log.log('info', 'hook_attached', { port: a.port, ifname: a.ifname, hook: a.hook, mechanism: r.mechanism, programId: r.programId, replaced: r.replaced });
    }
    for (const h of dp.attachments()) {
      if (!want.has(`${h.ifname}/${h.hook}`)) {
        await dp.detach(h.ifname, h.hook);
        log.log('info', 'hook_detached', { ifname: h.ifname, hook: h.hook });
      }
    }
    this.reconcileEfs(cfg, links);
    this.cfg = cfg;
    this.generation++;
    dp.slotNames = desired.slotNames;
    log.log('info', 'config_applied', { generation: this.generation, writes: ops.length, attachments: desired.attachments.length });
  }

  /**
   * EFs after the SFF tables: their namespaces, glue and SAs. Keys expire by
   * the clock, so a timer re-runs this when the next notAfter passes (the
   * kernel's hard lifetime deletes the SA at the same moment; this makes sure
   * it is not re-installed and says so in the log).
   */
  private reconcileEfs(cfg: NodeConfig, links: Awaited<ReturnType<typeof listLinks>>): void {
    const efs = this.efs!;
    const log = this.opts.log;
    for (const old of this.cfg?.efs ?? []) {
      if (!cfg.efs.some((e) => e.name === old.name)) {
        efs.remove(old);
        log.log('info', 'ef_removed', { ef: old.name });
      }
    }
    const ifindex = new Map<string, number>();
    for (const ef of cfg.efs) ifindex.set(ef.name, efLink(ef.netns, ef.interface)?.ifindex ?? 0);
    const desired = compileEfs(cfg, ifindex, Date.now());
    for (const t of this.expiryTimers) clearTimeout(t);
    this.expiryTimers = [];
    for (const ef of desired) {
      const port = cfg.ports.find((p) => p.kind === 'ef' && p.function === ef.name)!;
      const sffMac = links.get(port.interface)?.mac ?? '00:00:00:00:00:00';
      const ops = efs.apply(ef, sffMac);
      log.log('info', 'ef_applied', { ef: ef.name, netns: ef.netns, sas: ef.xfrmSas.length, policies: ef.xfrmPolicies.length, xfrmOps: ops.length, expired: ef.expired.length });
      if (ef.nextExpiry !== undefined) {
        const inMs = ef.nextExpiry - Date.now();
        const soft = inMs - SOFT_LIFETIME_MARGIN_S * 1000;
        if (soft > 0) this.expiryTimers.push(setTimeout(() => log.log('warn', 'ef_key_expiring', { ef: ef.name, notAfter: new Date(ef.nextExpiry!).toISOString() }), soft));
        this.expiryTimers.push(setTimeout(() => void this.reload(), Math.max(0, inMs) + 20));
      }
    }
  }

  private watchConfig(): void {
    let timer: NodeJS.Timeout | undefined;
    // Editors replace files; watch the file and re-arm on rename.
    const arm = (): void => {
      this.watcher?.close();
      try {
        this.watcher = watch(this.opts.configPath, () => {
          clearTimeout(timer);
          timer = setTimeout(() => { arm(); this.reload(); }, 100);
        });
      } catch {
        setTimeout(arm, 500);
      }
    };
    arm();
  }

  /** Re-read the config file and apply it; serialised so two edits never interleave. */
  reload(): Promise<void> {
    this.pending = this.pending.then(async () => {
      try {
        const cfg = await loadConfigFile(this.opts.configPath);
        await this.reconcile(cfg);
      } catch (e) {
        const fields: Record<string, unknown> = { error: (e as Error).message };
        if (e instanceof ConfigError) fields.problems = e.problems;
        this.opts.log.log('error', 'config_rejected', { ...fields, keeping: this.generation });
      }
    });
    return this.pending;
  }

  snapshot(): NodeSnapshot {
    return takeSnapshot(this.dp!, this.cfg!.node.name, this.cfg!.node.pinDir, this.generation);
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
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.pending;
    for (const t of this.expiryTimers) clearTimeout(t);
    this.efs?.close();
    this.dp?.close();
  }
}

