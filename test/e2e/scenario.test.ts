/**
 * End to end on real namespaces with real agents: client -> SF1 (node A) ->
 * SF2 (node B) -> SF3 (node C) -> server and back, default offloads on every
 * endpoint. Dissection of the underlay is done by tshark, not by our code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planScenario } from '../../scenario/plan.js';
import { ScenarioNet } from '../../scenario/net.js';
import { nsh, sh, spawnInNs, stopProcess, waitForLine } from '../../scenario/sh.js';
import { runProbe } from '../../scenario/udp-probe.js';
import { eth, ipv4, nsh as nshHeader, udp } from '../../scenario/frames.js';

const isRoot = process.getuid?.() === 0;
const plan = planScenario();

async function ping(net: ScenarioNet, count = 5): Promise<number> {
  const out = await nsh(net.ns('client'), ['ping', '-c', String(count), '-i', '0.2', '-W', '2', plan.server.ip]).catch((e: Error) => e.message);
  const m = /(\d+) received/.exec(out);
  return m ? Number(m[1]) : 0;
}

async function iperf(net: ScenarioNet, seconds = 3): Promise<{ bps: number; bytes: number }> {
  const srv = spawnInNs(net.ns('server'), ['iperf3', '-s', '-1', '-p', '5201', '--forceflush']);
  try {
    await waitForLine(srv, (l) => l.includes('Server listening'), 10_000);
    const out = await nsh(net.ns('client'), ['iperf3', '-c', plan.server.ip, '-p', '5201', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
    return { bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes };
  } finally {
    await stopProcess(srv);
  }
}

interface Row { src: string; dst: string; spi: number; si: number; ttl: number; len: number; payloadHex: string }

async function captureUnderlay(net: ScenarioNet, during: () => Promise<unknown>): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-cap-'));
  const file = join(dir, 'ul.pcap');
  const cap = spawnInNs(net.ns('ul'), ['tcpdump', '-i', 'br0', '-n', '-U', '-s', '256', '-w', file, 'udp port 4790']);
  try {
    await new Promise((r) => setTimeout(r, 700));
    await during();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await stopProcess(cap, 'SIGINT');
  }
  const out = await sh(['tshark', '-r', file, '-Y', 'nsh', '-T', 'fields', '-E', 'separator=|',
    '-e', 'ip.src', '-e', 'ip.dst', '-e', 'nsh.spi', '-e', 'nsh.si', '-e', 'nsh.ttl', '-e', 'frame.len', '-e', 'data.data']);
  rmSync(dir, { recursive: true, force: true });
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const [src, dst, spi, si, ttl, len, data] = l.split('|');
    return { src: src!.split(',')[0]!, dst: dst!.split(',')[0]!, spi: Number(spi), si: Number(si), ttl: Number(ttl), len: Number(len), payloadHex: data ?? '' };
  });
}

describe('scenario on three nodes, auto hooks (TC on every veth)', { skip: isRoot ? false : 'needs root (namespaces, BPF)' }, () => {
  let net: ScenarioNet;
  before(async () => {
    net = await ScenarioNet.build(plan, {}, 'a');
    await net.startAgents();
  });
  after(async () => { await net?.destroy(); });

  test('ping traverses SF1 -> SF2 -> SF3 and back', async () => {
    assert.equal(await ping(net), 5);
  });

  test('iperf3 TCP through the chain; tshark sees VXLAN-GPE/NSH with SI decreasing hop by hop, and GSO kept', async () => {
    let result = { bps: 0, bytes: 0 };
    const rows = await captureUnderlay(net, async () => { result = await iperf(net, 3); });
    assert.ok(result.bytes > 10_000_000, `TCP moved ${result.bytes} bytes`);
    const fwd = rows.filter((r) => r.spi === 1);
    const rev = rows.filter((r) => r.spi === 2);
    const hops = (rs: Row[]) => [...new Set(rs.map((r) => `${r.src}>${r.dst} si=${r.si}`))].sort();
    assert.deepEqual(hops(fwd), ['10.250.0.1>10.250.0.2 si=254', '10.250.0.2>10.250.0.3 si=253']);
    assert.deepEqual(hops(rev), ['10.250.0.2>10.250.0.1 si=253', '10.250.0.3>10.250.0.2 si=254']);
    // Each SFF lookup takes one off the NSH TTL (63 at the classifier).
    assert.ok(fwd.filter((r) => r.si === 254).every((r) => r.ttl === 61));
    assert.ok(fwd.filter((r) => r.si === 253).every((r) => r.ttl === 59));
    // Super-packets larger than the underlay MTU on the veth wire: GSO survived the push.
    assert.ok(fwd.some((r) => r.len > plan.underlayMtu + 14), `largest frame ${fwd.reduce((m, r) => Math.max(m, r.len), 0)}`);
  });

  test('a packet forged inside SF2 with another chain\'s SPI/SI is dropped and counted (invariant 3)', async () => {
    const before = JSON.parse(await net.cli('node-b', ['agent', 'status', '--json', '--config', net.configPath('node-b')])) as { counters: { port: string; stat: string; packets: number }[] };
    const count = (s: typeof before, stat: string) => s.counters.find((c) => c.port === 'sf2b' && c.stat === stat)?.packets ?? 0;
    const sf2 = plan.nodes[1]!.sfs[0]!;
    // SF2 may hand back (SPI 1, SI 253) and (SPI 2, SI 253); SI 252 of SPI 2 belongs to SF1.
    const forged = Buffer.concat([eth(sf2.armB.hostMac, sf2.armB.sfMac, 0x894f), nshHeader({ spi: 2, si: 252 }),
      ipv4({ src: '172.16.2.1', dst: '172.16.1.1', proto: 17 }, udp(1, 2, Buffer.from('forged')))]);
    const py = `import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${sf2.armB.sf}',0)); [s.send(bytes.fromhex(sys.argv[1])) for _ in range(5)]`;
    await nsh(net.ns(sf2.name), ['python3', '-c', py, forged.toString('hex')]);
    await new Promise((r) => setTimeout(r, 200));
    const afterS = JSON.parse(await net.cli('node-b', ['agent', 'status', '--json', '--config', net.configPath('node-b')])) as typeof before;
    assert.equal(count(afterS, 'drop_source') - count(before, 'drop_source'), 5);
  });

  test('agent restart during traffic loses no packet at 64 pps (the datapath stays pinned)', async () => {
    const s = await runProbe(net, plan.server.ip, 7000, 6, async () => {
      await new Promise((r) => setTimeout(r, 1500));
      for (const node of ['node-b', 'node-a']) {
        assert.equal(await net.stopAgent(node), 0, 'SIGTERM exits cleanly');
        await new Promise((r) => setTimeout(r, 500));
        await net.startAgent(node);
      }
    });
    assert.equal(s.total, 384);
    assert.equal(s.lost, 0, `lost ${JSON.stringify(s.lostSeqs)}`);
    // The restarted agent adopted the pins rather than rebuilding them.
    const opened = net.logs.get('node-b')!.filter((l) => l.event === 'datapath_open');
    assert.equal(opened.at(-1)!.adopted, true);
  });

  test('status and Prometheus metrics show hooks, tables and counters', async () => {
    const st = JSON.parse(await net.cli('node-a', ['agent', 'status', '--json', '--config', net.configPath('node-a')])) as {
      hooks: { ifname: string; hook: string; mechanism: string }[]; tables: { name: string; entries: number }[]; counters: { port: string; stat: string; packets: number }[];
    };
    assert.deepEqual(st.hooks.map((h) => `${h.ifname}:${h.hook}:${h.mechanism}`).sort(), ['edge-c:tc:tcx', 'sf1a:tc:tcx', 'sf1b:tc:tcx', 'ul0:tc:tcx']);
    assert.equal(st.tables.find((t) => t.name === 'esfc_inner')!.entries, 4);
    assert.ok(st.counters.some((c) => c.port === 'client' && c.stat === 'classified' && c.packets > 0));
    const metrics = await nsh(net.ns('node-a'), [process.execPath, '-e', "fetch('http://127.0.0.1:9464/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))"]);
    assert.match(metrics, /esfc_packets_total\{node="node-a",port="client",stat="classified",drop="false"\} [1-9]\d*/);
    assert.match(metrics, /esfc_table_entries\{node="node-a",table="esfc_inner"\} 4/);
  });

  test('a config change is applied incrementally; a bad one is rejected and the old state stays', async () => {
    const file = net.configPath('node-a');
    const original = readFileSync(file, 'utf8');
    const cfg = JSON.parse(original) as { classifier: { destinationPorts?: unknown; protocol?: string }[] };
    const log = net.logs.get('node-a')!;
    const mark = log.length;
    cfg.classifier[0]!.protocol = 'icmp';
    writeFileSync(file, JSON.stringify(cfg));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !log.slice(mark).some((l) => l.event === 'config_applied')) await new Promise((r) => setTimeout(r, 50));
    const writes = log.slice(mark).filter((l) => l.event === 'table_write').map((l) => l.what);
    assert.deepEqual(writes, ['classifier rule 0'], 'one rule changed, one write');
    writeFileSync(file, '{"apiVersion": "esfc.io/v1alpha1", "node": {"name": "node-a"}, "paths": [{"spi": 0}]}');
    const d2 = Date.now() + 5000;
    while (Date.now() < d2 && !log.slice(mark).some((l) => l.event === 'config_rejected')) await new Promise((r) => setTimeout(r, 50));
    const rej = log.slice(mark).find((l) => l.event === 'config_rejected') as { problems: { path: string }[] } | undefined;
    assert.ok(rej, 'rejection logged');
    assert.ok(rej.problems.some((p) => p.path === 'paths[0].spi'));
    assert.equal(await ping(net, 2), 2, 'ICMP still classified by the last good config');
    writeFileSync(file, original);
  });
  test('esfc agent --uninstall removes the node\'s pins, links and hooks, and its forwarding stops', async () => {
    // Last in this suite: node C loses its datapath.
    await net.stopAgent('node-c');
    assert.equal(await ping(net, 2), 2, 'the pinned datapath forwards with no agent running (invariant 6)');
    await net.cli('node-c', ['agent', '--uninstall', '--config', net.configPath('node-c')]);
    const pinDir = net.configs.get('node-c')!.node.pinDir;
    assert.equal(existsSync(pinDir), false, `${pinDir} removed`);
    // With its links detached, node C's ports no longer steer anything: the chain is cut there.
    assert.equal(await ping(net, 2), 0, 'no esfc on node C, no chain');
    await assert.rejects(net.cli('node-c', ['agent', 'status', '--config', net.configPath('node-c')]), /no datapath pinned/);
  });

});

describe('scenario on three nodes, XDP on the underlay ports', { skip: isRoot ? false : 'needs root (namespaces, BPF)' }, () => {
  let net: ScenarioNet;
  before(async () => {
    // The underlay stands in for a wire: frames arrive segmented with finished
    // checksums, as from a NIC. Endpoints receiving XDP_REDIRECTed frames on a
    // veth need NAPI on their side (GRO on); checksum offloads stay default.
    net = await ScenarioNet.build(plan, { underlayHook: 'xdp', wire: true, endpointGro: true }, 'x');
    await net.startAgents();
  });
  after(async () => { await net?.destroy(); });

  test('hooks: XDP link on ul0, TC on the virtual ports', async () => {
    const st = JSON.parse(await net.cli('node-b', ['agent', 'status', '--json', '--config', net.configPath('node-b')])) as { hooks: { ifname: string; hook: string; mechanism: string }[] };
    assert.deepEqual(st.hooks.map((h) => `${h.ifname}:${h.hook}:${h.mechanism}`).sort(), ['sf2a:tc:tcx', 'sf2b:tc:tcx', 'ul0:xdp:xdp-link']);
  });

  test('ping and iperf3 TCP traverse the chain', async () => {
    assert.equal(await ping(net), 5);
    const r = await iperf(net, 3);
    assert.ok(r.bytes > 1_000_000, `TCP moved ${r.bytes} bytes`);
  });
});
