/**
 * `esfc agent status`: read the pinned datapath directly (no agent needed,
 * which is the point: the datapath outlives the agent).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../config/load-config.js';
import { BpfMap } from '../kernel/bpf-map.js';
import { attachedProgramId } from '../kernel/attach.js';
import { loadStatNames, readCounters, stateDirFor, storeFor, tableSizes } from '../datapath/kernel-datapath.js';
import { MapName, PortKind } from '../datapath/layout.js';
import { readBmv2Snapshot } from '../p4/bmv2-runtime.js';
import { counterRows } from './counter-rows.js';
import { readActivePorts, readState, type TableMaps } from '../datapath/tables.js';
import { listLinks } from '../node/links.js';
import { ownedEfs, readEfStatus } from '../ef/ef-runtime.js';
import { renderHuman, snapshotToJson, type NodeSnapshot } from './snapshot.js';

/**
 * From a config file, or from the pin directory alone (a node the controller
 * provisions has no config file: ports are then named by their interfaces,
 * EFs come from the agent's records).
 */
export async function statusCommand(target: { configPath?: string; pinDir?: string }, json: boolean): Promise<number> {
  const cfg = target.configPath ? await loadConfigFile(target.configPath, { allowReadableKeys: true }) : undefined;
  const pinDir = cfg?.node.pinDir ?? target.pinDir!;
  const nodeName = cfg?.node.name ?? pinDir.split('/').pop()!;
  if (!existsSync(join(pinDir, MapName.state))) {
    process.stderr.write(`esfc: no datapath pinned at ${pinDir}: the agent for ${nodeName} has not run on this node\n`);
    return 3;
  }
  const maps = new Map(Object.values(MapName).map((n) => [n, BpfMap.openPinned(join(pinDir, n))]));
  try {
    const links = await listLinks();
    const nameByIfindex = new Map([...links.values()].map((l) => [l.ifindex, l.name]));
    const portByIf = new Map((cfg?.ports ?? []).map((p) => [p.interface, p.name]));
    if (cfg?.underlay) portByIf.set(cfg.underlay.interface, 'underlay');
    // Without a config: the underlay is the port whose entry carries an underlay address.
    if (!cfg) for (const [ifindex, port] of readActivePorts(Object.fromEntries(maps) as unknown as TableMaps)) if (port.kind === PortKind.underlay) portByIf.set(nameByIfindex.get(ifindex) ?? '', 'underlay');
    const slotNames = new Map<number, string>();
    const tables = Object.fromEntries(maps) as unknown as TableMaps;
    for (const [ifindex, port] of readActivePorts(tables)) {
      const ifname = nameByIfindex.get(ifindex) ?? `ifindex${ifindex}`;
      slotNames.set(port.slot, portByIf.get(ifname) ?? ifname);
    }
    const stats = loadStatNames();
    const counters = counterRows(readCounters(maps.get(MapName.counters)!), stats, slotNames);
    const bmv2 = await readBmv2Snapshot(stateDirFor(pinDir), stats);
    const store = storeFor(pinDir, nodeName);
    const snap: NodeSnapshot = {
      node: nodeName, pinDir, generation: Number(readState(tables).generation),
      hooks: store.list().map((r) => ({
        port: portByIf.get(r.ifname) ?? r.ifname, ifname: r.ifname, ifindex: r.ifindex || (links.get(r.ifname)?.ifindex ?? 0),
        hook: r.hook, mechanism: r.mechanism, programId: attachedProgramId(store, r),
      })),
      tables: tableSizes(tables),
      counters,
      ...(bmv2 ? { bmv2 } : {}),
      efs: cfg ? cfg.efs.map((ef) => readEfStatus(pinDir, ef)) : ownedEfs(pinDir).flatMap((e) => (e.record ? [readEfStatus(pinDir, e.record)] : [])),
    };
    process.stdout.write(json ? `${snapshotToJson(snap)}\n` : renderHuman(snap));
    return 0;
  } finally {
    for (const m of maps.values()) m.close();
  }
}
