/**
 * What `esfc agent status` and the metrics endpoint report: a plain,
 * JSON-serialisable snapshot of one node's datapath, and its renderings.
 * Pure.
 */
import type { EfStatus } from '../ef/ef-runtime.js';


export interface HookStatus {
  port: string;
  ifname: string;
  ifindex: number;
  hook: 'xdp' | 'tc' | 'tc-egress';
  mechanism: string;     // xdp-link, tcx, cls_bpf
  programId: number;
}

export interface CounterRow {
  port: string;
  slot: number;
  stat: string;
  drop: boolean;
  packets: bigint;
  bytes: bigint;
}

export interface TableSize {
  name: string;
  entries: number;
  maxEntries: number;
}

export interface NodeSnapshot {
  node: string;
  pinDir: string;
  /** Configuration generation in force (the agent's, or the one recorded in the pins). */
  generation?: number;
  hooks: HookStatus[];
  tables: TableSize[];
  counters: CounterRow[];
  /** Encryption functions on this node: glue counters and the SAs in their namespaces. */
  efs?: EfStatus[];
  /** BMv2, where the node runs it (slow path or p4 node). */
  bmv2?: Bmv2Snapshot;
}

export interface Bmv2Snapshot {
  pid?: number;
  alive: boolean;
  /** P4Runtime address. */
  address: string;
  /** punt: behind the eBPF core; ports: the node's SFF (hook p4). */
  mode: 'punt' | 'ports';
  ports: { port: number; ifname: string }[];
  connected?: boolean;
  restarts?: number;
  lastError?: string;
  /** When the counters were read (BMv2 is asked over P4Runtime, at most once a second). */
  countersAt?: string;
  counters: CounterRow[];
}

export function snapshotToJson(s: NodeSnapshot): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2);
}

export function renderHuman(s: NodeSnapshot): string {
  const lines: string[] = [];
  lines.push(`node ${s.node}  pins ${s.pinDir}${s.generation === undefined ? '' : `  generation ${s.generation}`}`);
  lines.push('', 'hooks:');
  for (const h of s.hooks) lines.push(`  ${h.port.padEnd(12)} ${h.ifname.padEnd(12)} ${h.hook.padEnd(4)} ${h.mechanism.padEnd(8)} prog ${h.programId}`);
  if (!s.hooks.length) lines.push('  (none attached)');
  lines.push('', 'tables:');
  for (const t of s.tables) lines.push(`  ${t.name.padEnd(18)} ${String(t.entries).padStart(6)} / ${t.maxEntries}`);
  lines.push('', 'counters (packets, bytes):');
  renderCounters(lines, s.counters);
  for (const ef of s.efs ?? []) {
    lines.push('', `ef ${ef.name} (netns ${ef.netns}, ${ef.ifname}): ${ef.hooks.map((h) => `${h.hook}/${h.mechanism}`).join(' ') || 'no hooks'}`);
    for (const c of ef.counters) lines.push(`    ${(c.drop ? 'DROP ' : '') + c.stat}`.padEnd(36) + `${String(c.packets).padStart(12)} ${String(c.bytes).padStart(14)}`);
    for (const sa of ef.sas) {
      lines.push(`    SA ${sa.dir.padEnd(3)} spi 0x${sa.spi.toString(16).padStart(8, '0')} E-SPI ${sa.espi} ${sa.src} -> ${sa.dst}  ${sa.packets} pkts  replay ${sa.replayErrors}  icv-fail ${sa.integrityFailed}`);
    }
  }
  if (s.bmv2) {
    const b = s.bmv2;
    lines.push('', `bmv2 (${b.mode === 'punt' ? 'slow path' : 'the node\'s SFF'}): ${b.alive ? `pid ${b.pid}` : 'NOT RUNNING'}  P4Runtime ${b.address}${b.connected === false ? ' (not connected)' : ''}` +
      `${b.restarts ? `  restarts ${b.restarts}` : ''}  ports ${b.ports.map((p) => `${p.port}@${p.ifname}`).join(' ')}`);
    if (b.lastError) lines.push(`  last error: ${b.lastError}`);
    lines.push(`  counters (packets, bytes)${b.countersAt ? ` at ${b.countersAt}` : ''}:`);
    renderCounters(lines, b.counters, '  ');
  }
  return lines.join('\n') + '\n';
}

function renderCounters(lines: string[], counters: readonly CounterRow[], indent = ''): void {
  const byPort = new Map<string, CounterRow[]>();
  for (const c of counters) byPort.set(c.port, [...(byPort.get(c.port) ?? []), c]);
  for (const [port, rows] of byPort) {
    lines.push(`${indent}  ${port}:`);
    for (const r of rows) lines.push(`${indent}    ${(r.drop ? 'DROP ' : '') + r.stat}`.padEnd(36) + `${String(r.packets).padStart(12)} ${String(r.bytes).padStart(14)}`);
  }
  if (!counters.length) lines.push(`${indent}  (all zero)`);
}

/** Prometheus text exposition format 0.0.4. */
export function renderPrometheus(s: NodeSnapshot): string {
  const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const out: string[] = [
    '# HELP esfc_packets_total Packets seen by the esfc datapath, by port and outcome.',
    '# TYPE esfc_packets_total counter',
  ];
  for (const c of s.counters) out.push(`esfc_packets_total{node="${esc(s.node)}",port="${esc(c.port)}",stat="${c.stat}",drop="${c.drop}"} ${c.packets}`);
  out.push('# HELP esfc_bytes_total Bytes seen by the esfc datapath, by port and outcome.', '# TYPE esfc_bytes_total counter');
  for (const c of s.counters) out.push(`esfc_bytes_total{node="${esc(s.node)}",port="${esc(c.port)}",stat="${c.stat}",drop="${c.drop}"} ${c.bytes}`);
  out.push('# HELP esfc_table_entries Entries in each datapath table.', '# TYPE esfc_table_entries gauge');
  for (const t of s.tables) out.push(`esfc_table_entries{node="${esc(s.node)}",table="${t.name}"} ${t.entries}`);
  if (s.generation !== undefined) {
    out.push('# HELP esfc_config_generation Configuration generation applied by the agent.', '# TYPE esfc_config_generation gauge');
    out.push(`esfc_config_generation{node="${esc(s.node)}"} ${s.generation}`);
  }
  const efs = s.efs ?? [];
  if (efs.length) {
    out.push('# HELP esfc_ef_packets_total Packets seen by the EF glue, by EF and outcome.', '# TYPE esfc_ef_packets_total counter');
    for (const ef of efs) for (const c of ef.counters) out.push(`esfc_ef_packets_total{node="${esc(s.node)}",ef="${esc(ef.name)}",stat="${c.stat}",drop="${c.drop}"} ${c.packets}`);
    out.push('# HELP esfc_ef_sas Security associations installed in each EF, by direction.', '# TYPE esfc_ef_sas gauge');
    for (const ef of efs) {
      for (const dir of ['in', 'out'] as const) out.push(`esfc_ef_sas{node="${esc(s.node)}",ef="${esc(ef.name)}",dir="${dir}"} ${ef.sas.filter((x) => x.dir === dir).length}`);
    }
    // Per SA: identified by ESP SPI and E-SPI; never the key.
    const sa = (name: string, help: string, value: (x: EfStatus['sas'][number]) => bigint | number): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const ef of efs) {
        for (const x of ef.sas) out.push(`${name}{node="${esc(s.node)}",ef="${esc(ef.name)}",spi="0x${x.spi.toString(16).padStart(8, '0')}",espi="${x.espi}",dir="${x.dir}"} ${value(x)}`);
      }
    };
    sa('esfc_ef_sa_packets_total', 'Packets through an SA (XFRM lifetime counters).', (x) => x.packets);
    sa('esfc_ef_sa_bytes_total', 'Bytes through an SA.', (x) => x.bytes);
    sa('esfc_ef_sa_replay_errors_total', 'Packets the SA refused as replays.', (x) => x.replayErrors);
    sa('esfc_ef_sa_integrity_failures_total', 'Packets that failed the SA\'s integrity check (ICV).', (x) => x.integrityFailed);
  }
  if (s.bmv2) {
    const b = s.bmv2;
    out.push('# HELP esfc_bmv2_up Whether BMv2 runs on this node (1) or not (0).', '# TYPE esfc_bmv2_up gauge');
    out.push(`esfc_bmv2_up{node="${esc(s.node)}",mode="${b.mode}"} ${b.alive ? 1 : 0}`);
    out.push('# HELP esfc_bmv2_packets_total Packets seen by the P4 program on BMv2, by port and outcome.', '# TYPE esfc_bmv2_packets_total counter');
    for (const c of b.counters) out.push(`esfc_bmv2_packets_total{node="${esc(s.node)}",port="${esc(c.port)}",stat="${c.stat}",drop="${c.drop}"} ${c.packets}`);
    out.push('# HELP esfc_bmv2_bytes_total Bytes seen by the P4 program on BMv2 (without the slow-path header).', '# TYPE esfc_bmv2_bytes_total counter');
    for (const c of b.counters) out.push(`esfc_bmv2_bytes_total{node="${esc(s.node)}",port="${esc(c.port)}",stat="${c.stat}",drop="${c.drop}"} ${c.bytes}`);
  }
  return out.join('\n') + '\n';
}
