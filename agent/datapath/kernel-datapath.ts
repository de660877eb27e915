/**
 * One node's datapath in the kernel: the XDP and TC objects loaded against
 * the maps pinned under the node's pin directory, and their attachments.
 * Everything forwarding-related the agent does to the kernel goes through here.
 */
import { existsSync, readFileSync, realpathSync, rmSync, statfsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { BpfMap } from '../kernel/bpf-map.js';
import { Btf } from '../kernel/btf.js';
import { loadObject, type LoadedObject } from '../kernel/loader.js';
import { AttachmentStore, attachTcIngress, attachXdp, attachedProgramId, detach, type AttachmentRecord, type AttachResult } from '../kernel/attach.js';
import type { Attachment, Hook } from './compile.js';
import type { ActualTables } from './plan.js';
import { BarrierMapName, counterCodec, MapName, MAX_PORTS, STAT_MAX } from './layout.js';
import { statNamesFromEnum, type StatName } from './stat-names.js';
import { countEntries, readGenerations, readState, type TableMaps } from './tables.js';
import type { HookStatus, TableSize } from '../status/snapshot.js';
import { programInfo } from '../kernel/loader.js';

export const BPF_DIR = process.env.ESFC_BPF_DIR ?? fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
const TABLE_MAPS = Object.values(MapName);
const MAP_NAMES = [...TABLE_MAPS, ...Object.values(BarrierMapName)];

export function objectPath(hook: Hook): string {
  return join(BPF_DIR, hook === 'xdp' ? 'esfc_xdp.o' : 'esfc_tc.o');
}

/** Agent state outside bpffs (cls_bpf records), one directory per pin directory. */
export function stateDirFor(pinDir: string): string {
  return join('/run/esfc', pinDir.replace(/^\/sys\/fs\/bpf\//, '').replace(/\//g, '_'));
}

export function storeFor(pinDir: string, _node: string): AttachmentStore {
  return new AttachmentStore(join(pinDir, 'links'), stateDirFor(pinDir));
}

export function loadStatNames(): Map<number, StatName> {
  const values = new Btf(readFileSync(objectPath('tc'))).enumValues('esfc_stat');
  if (!values) throw new Error(`${objectPath('tc')} has no enum esfc_stat in its BTF`);
  return statNamesFromEnum(values);
}

/** Sum per-CPU counters; only non-zero cells. Index = slot * STAT_MAX + stat. */
export function readCounters(m: BpfMap): Map<number, { packets: bigint; bytes: bigint }> {
  const out = new Map<number, { packets: bigint; bytes: bigint }>();
  const n = Math.min(m.maxEntries, MAX_PORTS * STAT_MAX);
  // One batch read, not one syscall per counter: the agent reports after every apply.
  const all = m.arrayValues(0, n);
  const stride = all.length / n;
  for (let i = 0; i < n; i++) {
    let packets = 0n, bytes = 0n;
    for (const cell of m.perCpuCells(all.subarray(i * stride, (i + 1) * stride))) {
      const c = counterCodec.decode(cell);
      packets += c.packets;
      bytes += c.bytes;
    }
    if (packets || bytes) out.set(i, { packets, bytes });
  }
  return out;
}

/** Entries of each table in the generation in force (status). */
export function tableSizes(maps: TableMaps, active: ActualTables = readGenerations(maps)[readState(maps).active]!): TableSize[] {
  return TABLE_MAPS.flatMap((name) => {
    const entries = countEntries(active, name);
    return entries === undefined ? [] : [{ name, entries, maxEntries: maps[name].maxEntries }];
  });
}

export class KernelDatapath {
  slotNames = new Map<number, string>();
  readonly statNames = loadStatNames();
  readonly store: AttachmentStore;

  private constructor(
    readonly pinDir: string,
    readonly adopted: boolean,
    private readonly xdp: LoadedObject,
    private readonly tc: LoadedObject,
    node: string,
  ) {
    this.store = storeFor(pinDir, node);
  }

  static open(pinDir: string, node: string): KernelDatapath {
    const adopted = existsSync(join(pinDir, MapName.config));
    const tc = loadObject(objectPath('tc'), pinDir, ['esfc_tc'], MAP_NAMES);
    let xdp: LoadedObject;
    try {
      xdp = loadObject(objectPath('xdp'), pinDir, ['esfc_xdp'], MAP_NAMES);
    } catch (e) {
      tc.close();
      throw e;
    }
    return new KernelDatapath(pinDir, adopted, xdp, tc, node);
  }

  programFd(hook: Hook): number {
    return hook === 'xdp' ? this.xdp.programs.get('esfc_xdp')! : this.tc.programs.get('esfc_tc')!;
  }

  get maps(): TableMaps {
    const get = (n: MapName): BpfMap => this.tc.maps.get(n)!;
    return Object.fromEntries(TABLE_MAPS.map((n) => [n, get(n)])) as unknown as TableMaps;
  }

  /**
   * Returns once no BPF program is still running with what it read before
   * this call: writing a map-of-maps makes the kernel wait for them
   * (synchronize_rcu). After a generation switch, the old generation may then
   * be rewritten.
   */
  barrier(): void {
    const inner = this.tc.maps.get(BarrierMapName.inner)!;
    const key = Buffer.alloc(4);
    const fd = Buffer.alloc(4);
    fd.writeUInt32LE(inner.fd);
    this.tc.maps.get(BarrierMapName.outer)!.update(key, fd);
  }

  /** Whether the hook already runs this agent's program (then attaching again is a no-op). */
  isAttached(a: Attachment): boolean {
    const rec = this.store.list().find((r) => r.ifname === a.ifname && r.hook === a.hook);
    if (!rec || (rec.ifindex && rec.ifindex !== a.ifindex)) return false;
    return attachedProgramId(this.store, rec) === programInfo(this.programFd(a.hook)).id;
  }

  readCounters(): Map<number, { packets: bigint; bytes: bigint }> {
    return readCounters(this.tc.maps.get(MapName.counters)!);
  }

  tableSizes(active?: ActualTables): TableSize[] {
    return tableSizes(this.maps, active);
  }

  attach(a: Attachment): AttachResult & { programId: number } {
    if (a.hook === 'p4') throw new RangeError(`${a.ifname}: a p4 port is BMv2's, not an eBPF hook`);
    const r = a.hook === 'xdp'
      ? attachXdp(this.store, this.xdp.programs.get('esfc_xdp')!, a.ifname, a.ifindex)
      : attachTcIngress(this.store, this.tc.programs.get('esfc_tc')!, a.ifname, a.ifindex);
    const rec = { ifname: a.ifname, ifindex: a.ifindex, hook: a.hook, mechanism: r.mechanism };
    return { ...r, programId: attachedProgramId(this.store, rec) };
  }

  /** The node's own hooks (EF glue lives in its own store). */
  private records(): (AttachmentRecord & { hook: Hook })[] {
    return this.store.list().filter((r): r is AttachmentRecord & { hook: Hook } => r.hook !== 'tc-egress');
  }

  attachments(): { ifname: string; hook: Hook }[] {
    return this.records();
  }

  detach(ifname: string, hook: Hook): void {
    const rec = this.store.list().find((r) => r.ifname === ifname && r.hook === hook);
    if (rec) detach(this.store, rec);
  }

  hookStatus(): HookStatus[] {
    return this.records().map((r) => ({
      port: r.ifname,
      ifname: r.ifname, ifindex: r.ifindex, hook: r.hook, mechanism: r.mechanism,
      programId: attachedProgramId(this.store, r),
    }));
  }

  close(): void {
    this.xdp.close();
    this.tc.close();
  }
}

export async function openDatapath(pinDir: string, node: string): Promise<KernelDatapath> {
  return KernelDatapath.open(pinDir, node);
}

const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * The pin directory must be a directory on bpffs under /sys/fs/bpf (the
 * config already refuses "..", but a symlink could still lead elsewhere):
 * uninstall deletes it recursively.
 */
export function assertPinDir(pinDir: string): void {
  const real = existsSync(pinDir) ? realpathSync(pinDir) : pinDir;
  if (real !== pinDir || !/^\/sys\/fs\/bpf\/./.test(real) || real.split('/').includes('..')) {
    throw new Error(`refusing to remove ${pinDir}: it resolves to ${real}, not a directory under /sys/fs/bpf`);
  }
  if (existsSync(real) && statfsSync(real).type !== BPF_FS_MAGIC) {
    throw new Error(`refusing to remove ${pinDir}: it is not on a bpf filesystem`);
  }
}

/** Remove every attachment and pin of a node; nothing outside its pin and state directories. */
export function removeDatapath(pinDir: string, node: string): string[] {
  assertPinDir(pinDir);
  const store = storeFor(pinDir, node);
  const removed: string[] = [];
  for (const rec of store.list()) {
    detach(store, rec);
    removed.push(`${rec.ifname}.${rec.hook}`);
  }
  for (const n of MAP_NAMES) {
    const p = join(pinDir, n);
    if (existsSync(p)) { rmSync(p); removed.push(n); }
  }
  rmSync(join(pinDir, 'links'), { recursive: true, force: true });
  rmSync(pinDir, { recursive: true, force: true });
  rmSync(stateDirFor(pinDir), { recursive: true, force: true });
  return removed;
}
