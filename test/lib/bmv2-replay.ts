/**
 * Replays frames through a real BMv2 wired as the eBPF core's slow path (one
 * port, frames carrying the slow-path header both ways), with given tables:
 * what the differential suite compares with BPF_PROG_TEST_RUN.
 *
 * Synchronisation is by counters, not by sleeping: every frame the program
 * sees is counted once, so a frame is done when esfc_counters changed. A frame
 * that BMv2 sends although the eBPF core did not is caught either at once or
 * as a stray ahead of a later case's output (and by the final drain), so no
 * difference goes unseen, only possibly misattributed by one case.
 */
import { execFileSync } from 'node:child_process';
import { slowPathDecode, slowPathEncode, STAT_MAX } from '../../agent/datapath/layout.js';
import { diffEntities, wiringEntities, type P4Entity } from '../../agent/p4/p4-entities.js';
import { Bmv2Harness } from './bmv2-harness.js';
import type { Bmv2Outcome } from './differential.js';
import { PacketPort } from './packet-port.js';

const COUNTERS = 'esfc_counters';


export class Bmv2Replay {
  private loaded: P4Entity[] = [];
  private loadedRef: readonly P4Entity[] | undefined;
  private gen = -1;
  private counters = new Map<number, bigint>();
  /** Frames that came out while no case expected one. */
  readonly strays: Buffer[] = [];

  private constructor(
    private readonly bm: Bmv2Harness,
    private readonly port: PacketPort,
    /** Stats whose frame leaves (forwarded, delivered, punted, sent on from the slow path). */
    private readonly sending: ReadonlySet<number>,
  ) {}

  /** BMv2 on a fresh veth (bm0, its peer bm0-p is the test's end) in the current namespace. */
  static async start(ifindexes: readonly number[], sending: ReadonlySet<number>): Promise<Bmv2Replay> {
    execFileSync('ip', ['link', 'add', 'bm0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'bm0-p', 'mtu', '9000']);
    for (const l of ['bm0', 'bm0-p']) {
      // No IPv6 on the link: no router solicitations or DAD frames among the cases.
      execFileSync('sysctl', ['-qw', `net.ipv6.conf.${l}.disable_ipv6=1`]);
      execFileSync('ip', ['link', 'set', l, 'up']);
    }
    // Not /sys/class/net: sysfs shows the namespace it was mounted in, not this one.
    const peer = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'bm0-p']).toString()) as { ifindex: number }[])[0]!.ifindex;
    const bm = await Bmv2Harness.start([{ port: 1, ifname: 'bm0' }]);
    const r = new Bmv2Replay(bm, new PacketPort(peer), sending);
    try {
      await bm.client.write(wiringEntities({ mode: 'punt', port: 1, ifindexes }).map((entity) => ({ type: 'INSERT' as const, entity })));
      r.counters = await r.readCounters();
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  private async readCounters(): Promise<Map<number, bigint>> {
    const m = new Map<number, bigint>();
    for (const [i, c] of await this.bm.client.readCounter(COUNTERS)) if (c.packets) m.set(i, c.packets);
    return m;
  }

  /** Makes BMv2's generation tables exactly `entities` (written as a diff) and gen the active one. */
  async load(entities: readonly P4Entity[], gen: number): Promise<void> {
    if (entities !== this.loadedRef) {
      const d = diffEntities(entities, this.loaded);
      await this.bm.client.write([
        ...d.delete.map((entity) => ({ type: 'DELETE' as const, entity })),
        ...d.modify.map((entity) => ({ type: 'MODIFY' as const, entity })),
        ...d.insert.map((entity) => ({ type: 'INSERT' as const, entity })),
      ]);
      this.loaded = [...entities];
      this.loadedRef = entities;
    }
    if (gen !== this.gen) {
      await this.bm.client.setDefault('esfc_state', 'set_gen', { active: BigInt(gen), generation: BigInt(gen) + 1n });
      this.gen = gen;
    }
  }

  /**
   * One frame as if the eBPF core had punted it from `ifindex`. Whether to
   * wait for an output is BMv2's own answer (it counted a stat that sends
   * the frame on), so a slow output under load is never taken for none.
   */
  async replay(ifindex: number, frame: Buffer, timeoutMs = 10_000): Promise<Bmv2Outcome> {
    for (let f = this.port.tryRecv(); f; f = this.port.tryRecv()) this.strays.push(f);
    this.port.send(slowPathEncode(ifindex, frame));
    const deadline = Date.now() + timeoutMs;
    let now = this.counters;
    for (;;) {
      now = await this.readCounters();
      if ([...now].some(([i, n]) => n !== (this.counters.get(i) ?? 0n)) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    const counted = new Map<number, bigint>();
    for (const [i, n] of now) {
      const d = n - (this.counters.get(i) ?? 0n);
      if (d) counted.set(i, d);
    }
    this.counters = now;
    const sends = [...counted.keys()].some((cell) => this.sending.has(cell % STAT_MAX));
    const out = sends ? await this.port.recv(Math.max(0, deadline - Date.now()) + 1000) : this.port.tryRecv();
    if (!out) return { counted };
    const sp = slowPathDecode(out);
    return sp ? { counted, output: sp } : { counted, output: { ifindex: -1, frame: out } };
  }

  /** Anything still arriving after the last case (a late stray). */
  async drain(ms = 200): Promise<Buffer[]> {
    const end = Date.now() + ms;
    for (;;) {
      const f = await this.port.recv(Math.max(1, end - Date.now()));
      if (f) this.strays.push(f);
      if (Date.now() >= end) break;
    }
    return this.strays;
  }

  get harness(): Bmv2Harness {
    return this.bm;
  }

  async close(): Promise<void> {
    this.port.close();
    await this.bm.close();
    try {
      execFileSync('ip', ['link', 'del', 'bm0']);
    } catch {
      // Gone with the namespace.
    }
  }
}
