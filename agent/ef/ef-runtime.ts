/**
 * The effect side of EFs: each EF's namespace plumbing, its TC glue (loaded
 * with maps pinned under <pinDir>/ef/<name>, attached inside the namespace),
 * the glue's maps and the XFRM SAs and policies, reconciled to compile-ef's
 * desired state. XFRM goes through the agent's own netlink codec.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from '../kernel/bpf-map.js';
import { Btf } from '../kernel/btf.js';
import { loadObject, type LoadedObject } from '../kernel/loader.js';
import { AttachmentStore, attachTc, attachedProgramId, detach } from '../kernel/attach.js';
import { BPF_DIR, readCounters, stateDirFor } from '../datapath/kernel-datapath.js';
import { statNamesFromEnum, type StatName } from '../datapath/stat-names.js';
import { pathKeyCodec } from '../datapath/layout.js';
import { netnsPath, withNetns } from '../node/netns.js';
import { XfrmClient } from '../xfrm/xfrm-client.js';
import { XfrmError } from '../xfrm/xfrm-errors.js';
import type { Sa } from '../xfrm/xfrm-types.js';
import type { EfDesired } from './compile-ef.js';
import { planXfrm, type XfrmOp } from './plan-xfrm.js';
import {
  efConfigCodec, efDecryptCodec, efEncryptCodec, EfDir, EfMapName, efSaCodec, isEsfcReqid,
} from './ef-layout.js';

export const EF_OBJECT = (): string => join(BPF_DIR, 'esfc_ef.o');
const PROGRAMS = ['esfc_ef_ingress', 'esfc_ef_egress'] as const;
const MAPS = Object.values(EfMapName);
/** Next hop the EF routes everything to; its MAC is the SFF port's. Link-local, never on a wire. */
export const EF_GATEWAY = '169.254.0.1';

export interface EfCounter { stat: string; drop: boolean; packets: bigint; bytes: bigint }
export interface EfSaStatus {
  spi: number; dir: 'in' | 'out'; espi: number; reqid: number; src: string; dst: string;
  bytes: bigint; packets: bigint; replayErrors: number; integrityFailed: number; addTime: number;
}
export interface EfStatus { name: string; netns: string; ifname: string; hooks: { hook: string; mechanism: string; programId: number }[]; counters: EfCounter[]; sas: EfSaStatus[] }

export class EfError extends Error {
  readonly code = 'ESFC_EF';
  constructor(readonly ef: string, readonly step: string, readonly detail: string, readonly hint?: string) {
    super(`EF ${ef}: ${step}: ${detail}${hint ? ` (${hint})` : ''}`);
  }
}

const pinRootFor = (pinDir: string, ef: string): string => join(pinDir, 'ef', ef);
const stateDirForEf = (pinDir: string, ef: string): string => join(stateDirFor(pinDir), 'ef', ef);
const storeForEf = (pinDir: string, ef: string): AttachmentStore =>
  new AttachmentStore(join(pinRootFor(pinDir, ef), 'links'), stateDirForEf(pinDir, ef));

/** Where an EF lives, kept beside its attachment records so it can be removed without the config that made it. */
export interface EfRecord { name: string; netns: string; interface: string; address: string }

const recordPath = (pinDir: string, ef: string): string => join(stateDirForEf(pinDir, ef), 'ef.json');

/** Every EF this node's agent has set up: by record, or by pins alone when the records were lost. */
export function ownedEfs(pinDir: string): { name: string; record?: EfRecord }[] {
  const names = new Set<string>();
  for (const dir of [join(stateDirFor(pinDir), 'ef'), join(pinDir, 'ef')]) {
    if (existsSync(dir)) for (const n of readdirSync(dir)) names.add(n);
  }
  return [...names].sort().map((name) => {
    const f = recordPath(pinDir, name);
    return existsSync(f) ? { name, record: JSON.parse(readFileSync(f, 'utf8')) as EfRecord } : { name };
  });
}

/** Register an undo step for the current reconcile (run in reverse order if it fails before the switch). */
export type Undo = (what: string, fn: () => void) => void;

function ipn(netns: string, args: string[]): string {
  return execFileSync('ip', ['-n', netns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The interface, in the EF's namespace; undefined if either does not exist. */
export function efLink(netns: string, ifname: string): { ifindex: number; mac: string; mtu: number } | undefined {
  if (!existsSync(netnsPath(netns))) return undefined;
  try {
    const [l] = JSON.parse(ipn(netns, ['-j', 'link', 'show', 'dev', ifname])) as { ifindex: number; address: string; mtu: number }[];
    return l ? { ifindex: l.ifindex, mac: l.address, mtu: l.mtu } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What an EF needs around XFRM: forwarding (plaintext in, ESP out), no
 * reverse-path filter (ESP arrives from addresses only the tunnel knows), its
 * tunnel address, and one route to the SFF for everything.
 */
function plumb(ef: EfDesired, sffMac: string): void {
  withNetns(ef.netns, () => {
    const set = (k: string, v: string): void => writeFileSync(`/proc/sys/net/${k}`, v);
    set('ipv4/ip_forward', '1');
    set('ipv4/conf/all/rp_filter', '0');
    set(`ipv4/conf/${ef.ifname}/rp_filter`, '0');
    // The glue lets only ESP out: IPv6 autoconfiguration would just be counted drops.
    if (existsSync(`/proc/sys/net/ipv6/conf/${ef.ifname}`)) set(`ipv6/conf/${ef.ifname}/disable_ipv6`, '1');
  });
  const addrs = JSON.parse(ipn(ef.netns, ['-j', '-4', 'addr', 'show', 'dev', ef.ifname])) as { addr_info?: { local: string }[] }[];
  if (!addrs.some((a) => a.addr_info?.some((x) => x.local === ef.address))) ipn(ef.netns, ['addr', 'add', `${ef.address}/32`, 'dev', ef.ifname]);
  ipn(ef.netns, ['link', 'set', ef.ifname, 'up']);
  ipn(ef.netns, ['neigh', 'replace', EF_GATEWAY, 'lladdr', sffMac, 'dev', ef.ifname, 'nud', 'permanent']);
  ipn(ef.netns, ['route', 'replace', 'default', 'via', EF_GATEWAY, 'dev', ef.ifname, 'onlink']);
}

function saSeen(s: Sa): { src: string; dst: string; spi: number; reqid: number; mark?: { value: number; mask: number }; key?: Buffer } {
  return { src: s.src, dst: s.dst, spi: s.spi, reqid: s.reqid, ...(s.mark ? { mark: s.mark } : {}), ...(s.aead ? { key: s.aead.key } : {}) };
}

let efNames: Map<number, StatName> | undefined;

/** The EF counters' names from the object's BTF, read once per process (reports and scrapes ask often). */
export function efStatNames(): Map<number, StatName> {
  if (efNames) return efNames;
  const values = new Btf(readFileSync(EF_OBJECT())).enumValues('esfc_ef_stat');
  if (!values) throw new Error(`${EF_OBJECT()} has no enum esfc_ef_stat in its BTF`);
  efNames = statNamesFromEnum(values, 'ESFC_EF_STAT_');
  return efNames;
}

/** One EF's state read from its pins and its namespace: works with no agent running. */
export function readEfStatus(pinDir: string, ef: { name: string; netns: string; interface: string }, names = efStatNames()): EfStatus {
  const root = pinRootFor(pinDir, ef.name);
  const counters: EfCounter[] = [];
  const sasGlue = new Map<number, number>();
  if (existsSync(join(root, EfMapName.counters))) {
    const m = BpfMap.openPinned(join(root, EfMapName.counters));
    for (const [i, c] of readCounters(m)) {
      const n = names.get(i);
      if (n) counters.push({ stat: n.name, drop: n.drop, ...c });
    }
    m.close();
    const g = BpfMap.openPinned(join(root, EfMapName.sas));
    for (const k of g.keys()) sasGlue.set(k.readUInt32LE(0), g.lookup(k)?.readUInt32LE(0) ?? 0);
    g.close();
  }
  const store = storeForEf(pinDir, ef.name);
  const hooks = store.list().map((r) => ({ hook: r.hook, mechanism: r.mechanism, programId: attachedProgramId(store, r) }));
  let sas: EfSaStatus[] = [];
  if (existsSync(netnsPath(ef.netns))) {
    const x = XfrmClient.open({ netns: netnsPath(ef.netns) });
    try {
      sas = x.listSas().filter((s) => isEsfcReqid(s.reqid)).map((s) => ({
        spi: s.spi, dir: sasGlue.get(s.spi) === EfDir.out ? 'out' : 'in', espi: (s.reqid & 0xffffff) >>> 0, reqid: s.reqid, src: s.src, dst: s.dst,
        bytes: s.curlft.bytes, packets: s.curlft.packets, replayErrors: s.stats.replay, integrityFailed: s.stats.integrityFailed, addTime: s.curlft.addTime,
      }));
    } finally {
      x.close();
    }
  }
  return { name: ef.name, netns: ef.netns, ifname: ef.interface, hooks, counters, sas };
}

export class EfRuntime {
  private readonly loaded = new Map<string, LoadedObject>();
  private readonly plumbed = new Map<string, string>();

  constructor(readonly pinDir: string, private readonly log: (event: string, fields: Record<string, unknown>) => void) {}

  private object(name: string): LoadedObject {
    let o = this.loaded.get(name);
    if (!o) {
      o = loadObject(EF_OBJECT(), pinRootFor(this.pinDir, name), PROGRAMS, MAPS);
      this.loaded.set(name, o);
    }
    return o;
  }

  private glue(ef: EfDesired) {
    const pathEntries = <V extends object>(m: Map<string, { spi: number; si: number; value: V }>, codec: { encode(v: V): Buffer }) =>
      new Map([...m].map(([id, e]) => [id, { key: pathKeyCodec.encode({ spi: e.spi, si: e.si, gen: 0 }), value: codec.encode(e.value) }]));
    const pathId = (k: Buffer): string => { const p = pathKeyCodec.decode(k); return `${p.spi}/${p.si}`; };
    const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
    const o = this.object(ef.name);
    return [
      { map: o.maps.get(EfMapName.encrypt)!, want: pathEntries(ef.encrypt, efEncryptCodec), idOf: pathId },
      { map: o.maps.get(EfMapName.decrypt)!, want: pathEntries(ef.decrypt, efDecryptCodec), idOf: pathId },
      { map: o.maps.get(EfMapName.sas)!, want: new Map([...ef.sas].map(([spi, v]) => [String(spi), { key: u32(spi), value: efSaCodec.encode(v) }])), idOf: (k: Buffer) => String(k.readUInt32LE(0)) },
    ];
  }

  /**
   * Everything an EF needs for its new state that does not take anything
   * away: plumbing, glue, new glue entries, new SAs and policies (RFC 9061
   * order). Each change registers its undo. Returns the XFRM operations done.
   */
  stage(ef: EfDesired, sffMac: string, undo: Undo): XfrmOp[] {
    if (!existsSync(netnsPath(ef.netns))) throw new EfError(ef.name, 'namespace', `${netnsPath(ef.netns)} does not exist`, 'create the EF\'s network namespace first');
    // compileEfs got the interface's index from efLink(); 0 means it was not there.
    const ifindex = ef.config.ifindex;
    if (!ifindex) throw new EfError(ef.name, 'interface', `${ef.ifname} does not exist in namespace ${ef.netns}`, 'move the EF end of its veth into the namespace');
    // Namespace plumbing once per EF and interface: a rekey only touches SAs and maps.
    const plumbId = `${ef.netns}|${ifindex}|${ef.address}|${sffMac}`;
    if (this.plumbed.get(ef.name) !== plumbId) {
      plumb(ef, sffMac);
      this.plumbed.set(ef.name, plumbId);
    }
    if (!existsSync(pinRootFor(this.pinDir, ef.name))) undo(`remove new EF ${ef.name}`, () => this.remove({ name: ef.name, netns: ef.netns, address: ef.address }));
    const record: EfRecord = { name: ef.name, netns: ef.netns, interface: ef.ifname, address: ef.address };
    mkdirSync(stateDirForEf(this.pinDir, ef.name), { recursive: true });
    writeFileSync(recordPath(this.pinDir, ef.name), JSON.stringify(record) + '\n');

    const o = this.object(ef.name);
    const put = (m: BpfMap, key: Buffer, value: Buffer, what: string): void => {
      const cur = m.lookup(key);
      if (cur?.equals(value)) return;
      m.update(key, value);
      undo(what, () => (cur ? m.update(key, cur) : m.delete(key)));
    };
    put(o.maps.get(EfMapName.config)!, Buffer.alloc(4), efConfigCodec.encode(ef.config), `${ef.name} glue config`);
    // Glue entries for new SAs exist before XFRM may use them; stale ones go in retire().
    for (const g of this.glue(ef)) for (const [id, e] of g.want) put(g.map, e.key, e.value, `${ef.name} ${g.map.name} ${id}`);

    const store = storeForEf(this.pinDir, ef.name);
    withNetns(ef.netns, () => {
      for (const [prog, hook] of [['esfc_ef_ingress', 'tc'], ['esfc_ef_egress', 'tc-egress']] as const) {
        const had = store.list().some((r) => r.hook === hook && r.ifname === ef.ifname);
        attachTc(store, o.programs.get(prog)!, ef.ifname, ifindex, hook);
        if (!had) undo(`${ef.name} ${hook} hook`, () => withNetns(ef.netns, () => { for (const r of store.list()) if (r.hook === hook && r.ifname === ef.ifname) detach(store, r); }));
      }
    });
    return this.xfrm(ef, 'stage', undo);
  }

  /** After the switch: the SAs, policies and glue entries the new state no longer uses. */
  retire(ef: EfDesired): XfrmOp[] {
    const ops = this.xfrm(ef, 'retire');
    for (const g of this.glue(ef)) for (const k of [...g.map.keys()]) if (!g.want.has(g.idOf(k))) g.map.delete(k);
    for (const x of ef.expired) this.log('ef_key_expired', { ef: ef.name, ...x });
    return ops;
  }

  private xfrm(ef: EfDesired, phase: XfrmOp['phase'], undo?: Undo): XfrmOp[] {
    const x = XfrmClient.open({ netns: netnsPath(ef.netns) });
    try {
      const ops = planXfrm({ sas: ef.xfrmSas, policies: ef.xfrmPolicies, localAddress: ef.address },
        { sas: x.listSas().map(saSeen), policies: x.listPolicies() }).filter((op) => op.phase === phase);
      for (const op of ops) {
        try {
          this.xfrmOp(x, op);
        } catch (e) {
          const noEsp = e instanceof XfrmError && (e.errnoName === 'ENOSYS' || e.errnoName === 'EPROTONOSUPPORT');
          throw new EfError(ef.name, 'xfrm', (e as Error).message,
            noEsp ? 'this kernel lacks ESP or AES-GCM (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM); distribution kernels have both' : undefined);
        }
        if (undo) this.registerUndo(ef, op, undo);
        this.log('ef_xfrm', { ef: ef.name, op: op.op, ...('sa' in op ? { spi: op.sa.spi, dst: op.sa.dst } : { dir: op.policy.dir, mark: op.policy.mark?.value }) });
      }
      return ops;
    } finally {
      x.close();
    }
  }

  private registerUndo(ef: EfDesired, op: XfrmOp, undo: Undo): void {
    const inverse: XfrmOp | undefined =
      op.op === 'add-sa' ? { op: 'delete-sa', sa: op.sa, phase: 'retire' } :
        op.op === 'add-policy' ? { op: 'delete-policy', policy: op.policy, phase: 'retire' } :
          op.op === 'update-policy' ? { op: 'update-policy', policy: { ...op.previous, action: 'allow' }, previous: op.policy, phase: 'stage' } :
            undefined;
    if (!inverse) {
      // A replaced SA (same SPI, new key) cannot be put back: its old key is not kept.
      this.log('ef_undo_impossible', { ef: ef.name, op: op.op, note: 'an SA replaced under the same SPI is not restored by a rollback' });
      return;
    }
    undo(`${ef.name} ${op.op}`, () => {
      const x = XfrmClient.open({ netns: netnsPath(ef.netns) });
      try { this.xfrmOp(x, inverse); } finally { x.close(); }
    });
  }

  private xfrmOp(x: XfrmClient, op: XfrmOp): void {
    switch (op.op) {
      case 'add-sa': x.addSa(op.sa); break;
      case 'delete-sa': x.deleteSa({ dst: op.sa.dst, spi: op.sa.spi, proto: 'esp', ...(op.sa.mark ? { mark: op.sa.mark } : {}) }); break;
      case 'add-policy': x.addPolicy(op.policy); break;
      case 'update-policy': x.updatePolicy(op.policy); break;
      case 'delete-policy': x.deletePolicy({ dir: op.policy.dir, selector: op.policy.selector, ...(op.policy.mark ? { mark: op.policy.mark } : {}) }); break;
    }
  }

  /**
   * Detach the glue, unpin its maps and delete the XFRM objects esfc made in
   * the EF's namespace. Needs only the EF's name when its namespace is gone
   * (its SAs went with it) or unknown (records lost: the pinned links still
   * detach, from any namespace).
   */
  remove(ef: { name: string; netns?: string; address?: string }): void {
    const store = storeForEf(this.pinDir, ef.name);
    const nsExists = ef.netns !== undefined && existsSync(netnsPath(ef.netns));
    const run = (): void => { for (const r of store.list()) detach(store, r); };
    if (nsExists) withNetns(ef.netns!, run); else run();
    if (nsExists) {
      const x = XfrmClient.open({ netns: netnsPath(ef.netns!) });
      try {
        // Nothing desired: the plan is the deletion of everything esfc made, in a safe order.
        for (const op of planXfrm({ sas: [], policies: [], localAddress: ef.address ?? '' }, { sas: x.listSas().map(saSeen), policies: x.listPolicies() })) this.xfrmOp(x, op);
      } finally {
        x.close();
      }
    }
    this.loaded.get(ef.name)?.close();
    this.loaded.delete(ef.name);
    this.plumbed.delete(ef.name);
    rmSync(pinRootFor(this.pinDir, ef.name), { recursive: true, force: true });
    rmSync(stateDirForEf(this.pinDir, ef.name), { recursive: true, force: true });
  }

  /** Remove every EF this node owns that is not in `keep`; returns their names. */
  removeOthers(keep: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const { name, record } of ownedEfs(this.pinDir)) {
      if (keep.has(name)) continue;
      this.remove(record ? { name, netns: record.netns, address: record.address } : { name });
      gone.push(name);
    }
    return gone;
  }

  close(): void {
    for (const o of this.loaded.values()) o.close();
    this.loaded.clear();
  }
}
