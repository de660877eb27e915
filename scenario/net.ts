/**
 * Builds the scenario of plan.ts out of network namespaces and veths,
 * writes each node's agent config and runs the real agents (esfc agent,
 * spawned inside the node namespaces). destroy() removes every namespace,
 * pin and process it made; sweep() removes those of dead test runs.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HookChoice, NodeConfig } from '../agent/config/types.js';
import { scenarioConfigs, type ScenarioPlan } from './plan.js';
import { removeBmv2 } from '../agent/p4/bmv2-runtime.js';
import { encryptedConfigs, type EncryptedPlan } from './encrypted.js';
import { collectJsonLines, nsh, sh, spawnInNs, STARTUP_MS, stopProcess, waitForLine } from './sh.js';

export const CLI = fileURLToPath(new URL('../agent/cli.js', import.meta.url));
const PREFIX = 'esfc-t';
/** The transit host's address on the underlay (not a peer of any node). */
export const TRANSIT_IP = '10.250.0.100';

export interface BuildOptions {
  /** Hook of the underlay ports: one for every node, or per node name (others auto). */
  underlayHook?: HookChoice | Record<string, HookChoice>;
  /** A node every hop between two other nodes goes through (plan.ts ConfigOptions.transit). */
  transitNode?: string;
  /** Make the underlay behave like a wire: frames leave it segmented with finished checksums. */
  wire?: boolean;
  /** Enable NAPI (GRO) on the endpoints' veths so XDP_REDIRECT can deliver into them. */
  endpointGro?: boolean;
  /** Build DESIGN.md's encrypted scenario (EF namespaces, EF pairs, keys) instead of the plain chain. */
  encrypted?: EncryptedPlan;
}

export class ScenarioNet {
  readonly agents = new Map<string, ChildProcess>();
  /** Every JSON log line of every agent this scenario started, by node. */
  readonly logs = new Map<string, Record<string, unknown>[]>();
  readonly configPaths = new Map<string, string>();
  readonly configs: Map<string, NodeConfig>;
  private readonly dir: string;
  private readonly pinRoot: string;
  private readonly created: string[] = [];

  private constructor(readonly plan: ScenarioPlan, readonly tag: string, opts: BuildOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'esfc-scn-'));
    this.pinRoot = `/sys/fs/bpf/${PREFIX}${tag}`;
    this.configs = opts.encrypted
      ? encryptedConfigs(opts.encrypted, { pinRoot: this.pinRoot, nsOf: (ef) => this.ns(ef) })
      : scenarioConfigs(plan, { pinRoot: this.pinRoot, underlayHook: opts.underlayHook ?? 'auto', ...(opts.transitNode ? { transit: opts.transitNode } : {}) });
  }

  /** Namespace name of a role: node-a, client, server, ul, sf3... */
  ns(role: string): string {
    return `${PREFIX}${this.tag}-${role}`;
  }

  static async sweep(): Promise<void> {
    const list = await sh(['ip', 'netns', 'list']);
    for (const line of list.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      // Test (esfc-t), bench pps (esfc-b) and kernel-chain (esfc-k) namespaces of dead runs.
      const m = /^esfc-[tbk](\d+)[a-z]*-/.exec(name);
      if (!m) continue;
      let alive = false;
      try { process.kill(Number(m[1]), 0); alive = true; } catch { /* dead */ }
      if (!alive) await sh(['ip', 'netns', 'del', name]).catch(() => undefined);
    }
    // Pins and agent state of dead runs (their namespaces are gone, so their links are too).
    for (const [dir, re] of [['/sys/fs/bpf', /^esfc-[tb](\d+)/], ['/run/esfc', /^esfc-[tb](\d+)/]] as const) {
      if (!existsSync(dir)) continue;
      for (const entry of readdirSync(dir)) {
        const m = re.exec(entry);
        if (!m) continue;
        try {
          process.kill(Number(m[1]), 0);
        } catch {
          // An agent's BMv2 runs detached: it outlives a killed test run.
          if (dir === '/run/esfc') await removeBmv2(join(dir, entry));
          rmSync(join(dir, entry), { recursive: true, force: true });
        }
      }
    }
  }

  static async build(plan: ScenarioPlan, opts: BuildOptions = {}, suffix = ''): Promise<ScenarioNet> {
    await ScenarioNet.sweep();
    const net = new ScenarioNet(plan, `${process.pid}${suffix}`, opts);
    try {
      await net.create(opts);
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  private async addNs(role: string): Promise<string> {
    const n = this.ns(role);
    await sh(['ip', 'netns', 'add', n]);
    this.created.push(n);
    await sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
    return n;
  }

  private async create(opts: BuildOptions): Promise<void> {
    const p = this.plan;
    const ul = await this.addNs('ul');
    await sh(['ip', '-n', ul, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh(['ip', '-n', ul, 'link', 'set', 'br0', 'up']);
    // A host on the transit network between the nodes (ISP-B's core in the scenario): it can
    // reach every node's UDP 4790, so it is where forged frames come from in tests.
    const transit = await this.addNs('transit');
    await sh(['ip', '-n', ul, 'link', 'add', 'pt', 'mtu', String(p.underlayMtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', transit]);
    await sh(['ip', '-n', ul, 'link', 'set', 'pt', 'master', 'br0', 'up']);
    await sh(['ip', '-n', transit, 'link', 'set', 'eth0', 'mtu', String(p.underlayMtu), 'up']);
    await sh(['ip', '-n', transit, 'addr', 'add', `${TRANSIT_IP}/24`, 'dev', 'eth0']);
    for (const [i, node] of p.nodes.entries()) {
      const n = await this.addNs(node.name);
      const port = `p${i}`;
      await sh(['ip', '-n', ul, 'link', 'add', port, 'mtu', String(p.underlayMtu), 'type', 'veth', 'peer', 'name', 'ul0', 'netns', n]);
      await sh(['ip', '-n', ul, 'link', 'set', port, 'master', 'br0', 'up']);
      if (opts.wire) await nsh(ul, ['ethtool', '-K', port, 'tx', 'off']);
      await sh(['ip', '-n', n, 'link', 'set', 'ul0', 'address', node.ulMac, 'mtu', String(p.underlayMtu), 'up']);
      await sh(['ip', '-n', n, 'addr', 'add', `${node.ulIp}/24`, 'dev', 'ul0']);
      for (const sf of node.sfs) {
        const s = await this.addNs(sf.name);
        await nsh(s, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
        for (const arm of [sf.armA, sf.armB]) {
          await sh(['ip', '-n', n, 'link', 'add', arm.host, 'address', arm.hostMac, 'type', 'veth', 'peer', 'name', arm.sf, 'netns', s, 'address', arm.sfMac]);
          await sh(['ip', '-n', n, 'addr', 'add', `${arm.hostIp}/24`, 'dev', arm.host]);
          await sh(['ip', '-n', n, 'link', 'set', arm.host, 'up']);
          await sh(['ip', '-n', s, 'addr', 'add', `${arm.sfIp}/24`, 'dev', arm.sf]);
          await sh(['ip', '-n', s, 'link', 'set', arm.sf, 'up']);
          if (opts.endpointGro) await nsh(s, ['ethtool', '-K', arm.sf, 'gro', 'on']);
        }
        await sh(['ip', '-n', s, 'route', 'add', '172.16.2.0/24', 'via', sf.armB.hostIp]);
        await sh(['ip', '-n', s, 'route', 'add', '172.16.1.0/24', 'via', sf.armA.hostIp]);
      }
    }
    // EFs: a namespace each behind an ef port; the agent does the rest (address, route, glue, SAs).
    for (const ef of opts.encrypted?.efs ?? []) {
      const e = await this.addNs(ef.name);
      const node = this.ns(ef.node);
      const mtu = String(opts.encrypted!.efMtu);
      await sh(['ip', '-n', node, 'link', 'add', ef.name, 'address', ef.hostMac, 'mtu', mtu, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', e, 'address', ef.mac, 'mtu', mtu]);
      await sh(['ip', '-n', node, 'link', 'set', ef.name, 'up']);
    }
    for (const [role, ep, ifname] of [['client', p.client, 'edge-c'], ['server', p.server, 'edge-s']] as const) {
      const e = await this.addNs(role);
      const node = this.ns(ep.node);
      await sh(['ip', '-n', node, 'link', 'add', ifname, 'address', ep.gwMac, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', e, 'address', ep.mac]);
      await sh(['ip', '-n', node, 'addr', 'add', `${ep.gw}/24`, 'dev', ifname]);
      await sh(['ip', '-n', node, 'link', 'set', ifname, 'up']);
      await sh(['ip', '-n', e, 'addr', 'add', `${ep.ip}/24`, 'dev', 'eth0']);
      await sh(['ip', '-n', e, 'link', 'set', 'eth0', 'up']);
      await sh(['ip', '-n', e, 'route', 'add', 'default', 'via', ep.gw]);
      if (opts.endpointGro) await nsh(e, ['ethtool', '-K', 'eth0', 'gro', 'on']);
    }
    for (const [name, cfg] of this.configs) {
      const f = join(this.dir, `${name}.json`);
      // Configs with keys must not be readable by others (the agent refuses them otherwise).
      writeFileSync(f, JSON.stringify(cfg, null, 2), { mode: 0o600 });
      this.configPaths.set(name, f);
    }
  }

  configPath(node: string): string {
    return this.configPaths.get(node)!;
  }

  /** Replace a node's config file and wait until its agent applied it (or rejected it). */
  async applyConfig(node: string, cfg: NodeConfig, timeoutMs = 30_000): Promise<'applied' | 'rejected'> {
    const log = this.logs.get(node) ?? [];
    const from = log.length;
    this.configs.set(node, cfg);
    writeFileSync(this.configPath(node), JSON.stringify(cfg, null, 2));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ev = log.slice(from).find((l) => l.event === 'config_applied' || l.event === 'config_rejected');
      if (ev) return ev.event === 'config_applied' ? 'applied' : 'rejected';
      if (Date.now() > deadline) throw new Error(`${node}: config not applied within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Environment each node's agent was last started with (a restart keeps it). */
  private readonly agentEnv = new Map<string, NodeJS.ProcessEnv>();

  /** Start the agent of one node and wait until it has applied its config. */
  async startAgent(node: string, env: NodeJS.ProcessEnv = this.agentEnv.get(node) ?? process.env, args: readonly string[] = []): Promise<ChildProcess> {
    this.agentEnv.set(node, env);
    const p = spawnInNs(this.ns(node), [process.execPath, CLI, 'agent', '--config', this.configPath(node), '--metrics-port', '9464', ...args], env);
    this.agents.set(node, p);
    const ready = waitForLine(p, (l) => l.includes('"event":"agent_ready"'), STARTUP_MS);
    const log = this.logs.get(node) ?? [];
    this.logs.set(node, log);
    collectJsonLines(p, log);
    await ready;
    return p;
  }

  /**
   * Start a node's agent provisioned by a controller (no config file): it
   * pins where the file-mode agent would, so destroy() cleans it the same way.
   */
  async startControllerAgent(node: string, controller: string, bundle: string, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
    const pinDir = this.configs.get(node)!.node.pinDir;
    const p = spawnInNs(this.ns(node), [process.execPath, CLI, 'agent', '--controller', controller, '--node', node, '--cert', bundle, '--pin-dir', pinDir, '--metrics-port', '0'], env);
    this.agents.set(node, p);
    const log = this.logs.get(node) ?? [];
    this.logs.set(node, log);
    const ready = waitForLine(p, (l) => l.includes('"event":"agent_ready"'), STARTUP_MS);
    collectJsonLines(p, log);
    await ready;
    return p;
  }

  /** Wait until a node's agent logged an event matching `pred` after log position `from`. */
  async waitForLog(node: string, pred: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = (this.logs.get(node) ?? []).slice(from).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`${node}: no matching log event within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async startAgents(): Promise<void> {
    for (const n of this.plan.nodes) await this.startAgent(n.name);
  }

  async stopAgent(node: string): Promise<number | null> {
    const p = this.agents.get(node);
    this.agents.delete(node);
    return p ? stopProcess(p) : null;
  }

  /** Run the CLI for a node (status, check, uninstall) inside its namespace. */
  cli(node: string, args: string[]): Promise<string> {
    return nsh(this.ns(node), [process.execPath, CLI, ...args]);
  }

  async destroy(): Promise<void> {
    for (const n of [...this.agents.keys()]) await this.stopAgent(n);
    for (const node of this.plan.nodes) {
      await this.cli(node.name, ['agent', '--uninstall', '--config', this.configPath(node.name)]).catch(() => undefined);
    }
    rmSync(this.pinRoot, { recursive: true, force: true });
    for (const n of this.created.reverse()) await sh(['ip', 'netns', 'del', n]).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

