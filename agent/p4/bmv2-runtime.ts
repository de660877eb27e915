/**
 * BMv2 beside the agent: started (or adopted after an agent restart), the
 * program pushed only when BMv2 runs none or another one (the cookie is a
 * digest of the program), its tables reconciled as the BPF maps are (both
 * generations, read back over P4Runtime, diffed, only changes written), the
 * generation switched with one write, and supervised: BMv2 dying is logged,
 * it is restarted and gets the whole state again.
 *
 * Two wirings (agent/p4/p4-entities.ts Bmv2Wiring): behind the eBPF core on
 * the punt veth's far end (slow path), or as the node's whole SFF (hook p4),
 * one BMv2 port per esfc port.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { StatName } from '../datapath/stat-names.js';
import { counterRows, type Cells } from '../status/counter-rows.js';
import type { Bmv2Snapshot } from '../status/snapshot.js';
import { SLOW_PATH_HDR_LEN } from '../datapath/layout.js';
import { findBmv2, startBmv2, stopBmv2, type Bmv2Port } from './bmv2-process.js';
import { diffEntities, ofGeneration, wiringEntities, WIRING_TABLES, type Bmv2Wiring, type P4Entity } from './p4-entities.js';
import { p4Paths, type P4Paths } from './p4-paths.js';
import { P4Info, type P4InfoJson } from './p4info.js';
import { P4RuntimeClient } from './p4runtime-client.js';

export const DEFAULT_BMV2_GRPC = '127.0.0.1:9559';
const DEVICE_ID = 1;

/** What BMv2 is wired to: its ports (interface names) and what the program's esfc_rx/esfc_tx say. */
export interface Bmv2Layout {
  ports: Bmv2Port[];
  wiring: Bmv2Wiring;
}

/** What the agent records next to the pid file, for itself after a restart and for `esfc agent status`. */
export interface Bmv2Record {
  pid: number;
  address: string;
  mode: Bmv2Wiring['mode'];
  ports: Bmv2Port[];
  /** slot -> port name, for naming counters without the agent. */
  slotNames: [number, string][];
}

export interface Bmv2Status {
  pid: number | undefined;
  alive: boolean;
  address: string;
  mode: Bmv2Wiring['mode'];
  ports: Bmv2Port[];
  connected: boolean;
  restarts: number;
  lastError?: string;
}

export const bmv2Dir = (stateDir: string): string => join(stateDir, 'bmv2');

export function readBmv2Record(stateDir: string): Bmv2Record | undefined {
  const f = join(bmv2Dir(stateDir), 'bmv2.json');
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, 'utf8')) as Bmv2Record;
}

/** The pipeline cookie: a digest of the program and its P4Info (48 bits: exact in every protobuf long mode). */
export function programCookie(paths: P4Paths): bigint {
  const h = createHash('sha256').update(readFileSync(paths.programJson)).update(readFileSync(paths.p4infoJson)).digest();
  return BigInt(`0x${h.subarray(0, 6).toString('hex')}`);
}

const sameLayout = (a: readonly Bmv2Port[], b: readonly Bmv2Port[]): boolean =>
  JSON.stringify([...a].sort((x, y) => x.port - y.port)) === JSON.stringify([...b].sort((x, y) => x.port - y.port));

const isWiring = (e: P4Entity): boolean => (WIRING_TABLES as readonly string[]).includes(e.table);

export class Bmv2Runtime {
  private readonly paths: P4Paths;
  private readonly p4info: P4Info;
  private readonly dir: string;
  private client: P4RuntimeClient | undefined;
  private layout: Bmv2Layout | undefined;
  /** What BMv2 should hold: each generation's entries, and which one is in force. */
  private readonly gens = new Map<number, P4Entity[]>();
  private state: { active: number; generation: bigint } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private restarts = 0;
  private lastError: string | undefined;
  private slotNames: Map<number, string> = new Map();
  private cells: { at: Date; cells: Cells } | undefined;

  constructor(stateDir: string, private readonly log: Logger, readonly address = process.env['ESFC_BMV2_GRPC'] ?? DEFAULT_BMV2_GRPC) {
    this.paths = p4Paths();
    this.p4info = new P4Info(JSON.parse(readFileSync(this.paths.p4infoJson, 'utf8')) as P4InfoJson);
    this.dir = bmv2Dir(stateDir);
  }

  private get pidFile(): string {
    return join(this.dir, 'bmv2.pid');
  }

  /** Serialised: the supervisor and the reconcile never interleave their writes. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn);
    this.busy = p.then(() => undefined, () => undefined);
    return p;
  }

  /** BMv2 running with this layout and this program, and a primary connection to it. */
  prepare(layout: Bmv2Layout, slotNames: Map<number, string>): Promise<void> {
    return this.serial(async () => {
      this.slotNames = slotNames;
      const changed = !this.layout || !sameLayout(this.layout.ports, layout.ports);
      this.layout = layout;
      await this.ensure(changed);
      this.record();
    });
  }

  private record(): void {
    const h = findBmv2(this.pidFile);
    if (!h || !this.layout) return;
    const r: Bmv2Record = { pid: h.pid, address: this.address, mode: this.layout.wiring.mode, ports: this.layout.ports, slotNames: [...this.slotNames] };
    writeFileSync(join(this.dir, 'bmv2.json'), `${JSON.stringify(r, null, 2)}\n`);
  }

  private async ensure(layoutChanged: boolean): Promise<void> {
    const layout = this.layout!;
    mkdirSync(this.dir, { recursive: true });
    let h = findBmv2(this.pidFile);
    const rec = readBmv2Record(join(this.dir, '..'));
    if (h && (layoutChanged && (!rec || !sameLayout(rec.ports, layout.ports)))) {
      this.log.log('info', 'bmv2_restart', { reason: 'ports changed', ports: layout.ports });
      this.client?.close();
      this.client = undefined;
      await stopBmv2(this.pidFile);
      h = undefined;
    }
    let started = false;
    if (!h) {
      for (const p of layout.ports) {
        // Router solicitations and DAD of BMv2's links would be frames to forward.
        try {
          execFileSync('sysctl', ['-qw', `net.ipv6.conf.${p.ifname}.disable_ipv6=1`], { stdio: 'ignore' });
          execFileSync('ip', ['link', 'set', p.ifname, 'up'], { stdio: 'ignore' });
        } catch {
          // Named in BMv2's own error if the interface is really missing.
        }
      }
      this.client?.close();
      this.client = undefined;
      h = await startBmv2({
        binary: this.paths.bmv2, ports: layout.ports, grpcAddress: this.address, deviceId: DEVICE_ID,
        logFile: join(this.dir, 'bmv2.log'), pidFile: this.pidFile,
      });
      started = true;
      this.log.log('info', 'bmv2_started', { pid: h.pid, address: this.address, mode: layout.wiring.mode, ports: layout.ports });
    }
    if (!this.client) {
      this.client = await P4RuntimeClient.connect({ address: this.address, protoDir: this.paths.protoDir, p4info: this.p4info, deviceId: DEVICE_ID });
      this.client.on('disconnected', () => {
        this.client?.close();
        this.client = undefined;
      });
      const cookie = programCookie(this.paths);
      const running = await this.client.pipelineCookie();
      if (running !== cookie) {
        await this.client.setPipeline(readFileSync(this.paths.programJson), cookie);
        this.log.log('info', 'bmv2_pipeline_set', { cookie: cookie.toString(16), previous: running?.toString(16) ?? null });
      } else {
        this.log.log('info', 'bmv2_adopted', { pid: h.pid, started, cookie: cookie.toString(16) });
      }
    }
  }

  /** Writes what brings BMv2's entries of `gen` (and the wiring) to `entities`; returns the number of writes. */
  private async sync(gen: number, entities: readonly P4Entity[]): Promise<number> {
    const c = this.client!;
    const all = await c.readTable();
    const desired = [...wiringEntities(this.layout!.wiring), ...entities];
    const actual = [...all.filter(isWiring), ...ofGeneration(all, gen)];
    const d = diffEntities(desired, actual);
    await c.write([
      ...d.delete.map((entity) => ({ type: 'DELETE' as const, entity })),
      ...d.modify.map((entity) => ({ type: 'MODIFY' as const, entity })),
      ...d.insert.map((entity) => ({ type: 'INSERT' as const, entity })),
    ]);
    const n = d.delete.length + d.modify.length + d.insert.length;
    if (n) this.log.log('info', 'bmv2_table_writes', { gen, inserts: d.insert.length, modifies: d.modify.length, deletes: d.delete.length });
    return n;
  }

  /** Writes generation `gen` (not in force): the stage of a reconcile. */
  stage(gen: number, entities: P4Entity[]): Promise<number> {
    this.gens.set(gen, entities);
    return this.serial(async () => {
      if (!this.client) await this.ensure(false);
      return this.sync(gen, entities);
    });
  }

  /** Makes `active` the generation BMv2 reads: one write of esfc_state's default action. */
  switchTo(active: number, generation: bigint): Promise<void> {
    this.state = { active, generation };
    return this.serial(async () => {
      if (!this.client) await this.ensure(false);
      await this.client!.setDefault('esfc_state', 'set_gen', { active: BigInt(active), generation });
    });
  }

  /** Polls BMv2 every `everyMs`: a dead or unreachable BMv2 is restarted and given the whole state again. */
  supervise(everyMs = 1000): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.check(), everyMs);
    this.timer.unref();
  }

  private check(): Promise<void> {
    return this.serial(async () => {
      if (!this.layout) return;
      const alive = findBmv2(this.pidFile) !== undefined;
      if (alive && this.client) {
        try {
          this.cells = { at: new Date(), cells: await this.client.readCounter('esfc_counters') };
        } catch {
          // Unreachable: the next tick reconnects.
          this.client?.close();
          this.client = undefined;
        }
        return;
      }
      const t0 = Date.now();
      if (!alive) this.log.log('warn', 'bmv2_died', { pidFile: this.pidFile, note: 'restarting it; the eBPF fast path is not affected' });
      try {
        await this.ensure(false);
        for (const [gen, entities] of this.gens) await this.sync(gen, entities);
        if (this.state) await this.client!.setDefault('esfc_state', 'set_gen', { active: BigInt(this.state.active), generation: this.state.generation });
        if (!alive) this.restarts++;
        this.lastError = undefined;
        this.record();
        this.log.log('info', 'bmv2_recovered', { restarted: !alive, ms: Date.now() - t0 });
      } catch (e) {
        this.lastError = (e as Error).message;
        this.log.log('error', 'bmv2_unavailable', { error: this.lastError, note: 'retrying every second' });
      }
    });
  }

  /** Counter cells by index (slot * STAT_MAX + stat), packets and bytes. */
  async counters(): Promise<Map<number, { packets: bigint; bytes: bigint }>> {
    return this.serial(async () => {
      if (!this.client) throw new Error('BMv2 is not connected');
      return this.client.readCounter('esfc_counters');
    });
  }

  /** For `esfc agent status` and /metrics: state, and counters as of the last supervisor tick. */
  snapshot(stats: ReadonlyMap<number, StatName>): Bmv2Snapshot {
    const st = this.status();
    const cells = this.cells?.cells ?? new Map();
    return {
      ...st, ...(this.cells ? { countersAt: this.cells.at.toISOString() } : {}),
      counters: counterRows(st.mode === 'punt' ? withoutHeader(cells) : cells, stats, this.slotNames),
    };
  }

  status(): Bmv2Status {
    const h = findBmv2(this.pidFile);
    return {
      pid: h?.pid, alive: h !== undefined, address: this.address, mode: this.layout?.wiring.mode ?? 'punt', ports: this.layout?.ports ?? [],
      connected: this.client !== undefined, restarts: this.restarts, ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Stops supervising and disconnects; BMv2 keeps running (adopted by the next agent). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    this.client?.close();
    this.client = undefined;
  }

  /** Stops BMv2 too (uninstall, or a node that no longer needs it). */
  async shutdown(): Promise<void> {
    await this.close();
    if (await stopBmv2(this.pidFile)) this.log.log('info', 'bmv2_stopped', {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops the BMv2 of a node's state directory, if any (uninstall, without an agent). */
export async function removeBmv2(stateDir: string): Promise<boolean> {
  const dir = bmv2Dir(stateDir);
  const stopped = await stopBmv2(join(dir, 'bmv2.pid'));
  rmSync(dir, { recursive: true, force: true });
  return stopped;
}

/** Bytes as the frames were, without the slow-path header each carried to BMv2. */
export function withoutHeader(cells: Cells): Cells {
  return new Map([...cells].map(([i, c]) => [i, { packets: c.packets, bytes: c.bytes - BigInt(SLOW_PATH_HDR_LEN) * c.packets }]));
}

/** BMv2's snapshot without the agent (`esfc agent status`): from its record, counters read over P4Runtime. */
export async function readBmv2Snapshot(stateDir: string, stats: ReadonlyMap<number, StatName>): Promise<Bmv2Snapshot | undefined> {
  const rec = readBmv2Record(stateDir);
  if (!rec) return undefined;
  const alive = findBmv2(join(bmv2Dir(stateDir), 'bmv2.pid')) !== undefined;
  const snap: Bmv2Snapshot = { pid: rec.pid, alive, address: rec.address, mode: rec.mode, ports: rec.ports, counters: [] };
  if (!alive) return snap;
  let client: P4RuntimeClient | undefined;
  try {
    const paths = p4Paths();
    const p4info = new P4Info(JSON.parse(readFileSync(paths.p4infoJson, 'utf8')) as P4InfoJson);
    client = await P4RuntimeClient.connect({ address: rec.address, protoDir: paths.protoDir, p4info, deviceId: DEVICE_ID, arbitrate: false, timeoutMs: 3000 });
    const cells = await client.readCounter('esfc_counters');
    snap.countersAt = new Date().toISOString();
    snap.counters = counterRows(rec.mode === 'punt' ? withoutHeader(cells) : cells, stats, new Map(rec.slotNames));
    snap.connected = true;
  } catch (e) {
    snap.connected = false;
    snap.lastError = (e as Error).message;
  } finally {
    client?.close();
  }
  return snap;
}
