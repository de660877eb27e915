/**
 * Node hardening end to end, real agents on namespaces: the transit network
 * cannot inject into a chain; a reconcile is all or nothing whichever step
 * fails; what was removed while the agent was down is removed when it comes
 * back; tables changed behind the agent's back are repaired; --uninstall needs no config; a key never appears in an error; a pure
 * transit node forwards, and XDP on a veth underlay is refused where its
 * frames would be lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConfig } from '../../agent/config/types.js';
import { RECONCILE_STEPS } from '../../agent/transaction.js';
import { MapName } from '../../agent/datapath/layout.js';
import { BpfMap } from '../../agent/kernel/bpf-map.js';
import { planScenario } from '../../scenario/plan.js';
import { ScenarioNet } from '../../scenario/net.js';
import { nsh, sh, spawnInNs, stopProcess, waitForLine } from '../../scenario/sh.js';
import { gpe, ipv4, nsh as nshHeader, udp } from '../../scenario/frames.js';

const isRoot = process.getuid?.() === 0;
const PASS_OBJECT = fileURLToPath(new URL('../../../bpf/build/esfc_xdp_pass.o', import.meta.url));
const skip = isRoot ? false : 'needs root (namespaces, BPF)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Status {
  generation?: number;
  hooks: { ifname: string; hook: string; mechanism: string }[];
  tables: { name: string; entries: number }[];
  counters: { port: string; stat: string; packets: number }[];
}

async function status(net: ScenarioNet, node: string): Promise<Status> {
  return JSON.parse(await net.cli(node, ['agent', 'status', '--json', '--config', net.configPath(node)])) as Status;
}
const count = (s: Status, port: string, stat: string): number => s.counters.find((c) => c.port === port && c.stat === stat)?.packets ?? 0;
const hooks = (s: Status): string[] => s.hooks.map((h) => `${h.ifname}:${h.hook}`).sort();

async function ping(net: ScenarioNet, count = 3): Promise<number> {
  const plan = net.plan;
  const out = await nsh(net.ns('client'), ['ping', '-c', String(count), '-i', '0.2', '-W', '2', plan.server.ip]).catch((e: Error) => e.message);
  return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
}

/** Send UDP datagrams (VXLAN-GPE payloads) from a namespace to a node's port 4790. */
async function sendVxlan(net: ScenarioNet, fromNs: string, to: string, payloads: Buffer[]): Promise<void> {
  const py = `import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(bytes.fromhex(h), ('${to}', 4790)) for h in sys.argv[1:]]`;
  await nsh(net.ns(fromNs), ['python3', '-c', py, ...payloads.map((p) => p.toString('hex'))]);
}

describe('hardening on three nodes (TC)', { skip }, () => {
  let net: ScenarioNet;
  const faults = join(mkdtempSync(join(tmpdir(), 'esfc-faults-')), 'faults');
  before(async () => {
    net = await ScenarioNet.build(planScenario(), {}, 'h');
    for (const n of net.plan.nodes) await net.startAgent(n.name, { ...process.env, ESFC_TEST_FAULTS: faults });
  });
  after(async () => {
    await net?.destroy();
    rmSync(join(faults, '..'), { recursive: true, force: true });
  });

  test('the transit network cannot inject: forged VXLAN-GPE skipping SF3 is dropped and counted, the server gets nothing', async () => {
    const marker = Buffer.from('FORGED-skip-the-firewall');
    const inner = ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 17 }, udp(4444, 5555, marker));
    // SPI 1 SI 252 is what SF3 hands back (delivered to the server next); SI 253 is node B's to send.
    const forged = [252, 253].map((si) => Buffer.concat([gpe(), nshHeader({ spi: 1, si }), inner]));
    const cap = spawnInNs(net.ns('server'), ['tcpdump', '-i', 'eth0', '-n', '-U', '-A', 'udp port 5555']);
    let seen = '';
    cap.stdout!.on('data', (d: Buffer) => { seen += d.toString(); });
    await sleep(500);
    const before = await status(net, 'node-c');
    try {
      await sendVxlan(net, 'transit', net.plan.nodes[2]!.ulIp, [...forged, ...forged]);
      // A peer that is not the one assigned to these positions is refused too.
      await sendVxlan(net, 'node-a', net.plan.nodes[2]!.ulIp, forged);
      await sleep(400);
    } finally {
      await stopProcess(cap, 'SIGINT');
    }
    assert.ok(!seen.includes(marker.toString()), 'a forged packet reached the server');
    const afterS = await status(net, 'node-c');
    assert.equal(count(afterS, 'underlay', 'drop_peer_source') - count(before, 'underlay', 'drop_peer_source'), 6);
    assert.equal(await ping(net), 3, 'the chain itself still works');
  });

  test('a reconcile is all or nothing: a failure injected at each step leaves the datapath as it was, and says which step', async () => {
    // The change: a new edge port (new hook, new port entry) and a classifier rule for it.
    await sh(['ip', '-n', net.ns('node-a'), 'link', 'add', 'extra0', 'type', 'veth', 'peer', 'name', 'extra1']);
    await sh(['ip', '-n', net.ns('node-a'), 'link', 'set', 'extra0', 'up']);
    const base = net.configs.get('node-a')!;
    const changed: NodeConfig = JSON.parse(JSON.stringify(base)) as NodeConfig;
    changed.ports.push({ name: 'extra', interface: 'extra0', kind: 'edge', hook: 'auto', peerMac: '02:00:00:00:ee:01', forwardOam: false });
    changed.classifier.unshift({ port: 'extra', destination: '172.16.9.0/24', spi: 1 });
    const st0 = await status(net, 'node-a');
    for (const step of RECONCILE_STEPS.filter((s) => s !== 'ef')) {
      writeFileSync(faults, `${step}\n`);
      const log = net.logs.get('node-a')!;
      const from = log.length;
      assert.equal(await net.applyConfig('node-a', changed), 'rejected', `fault at ${step}`);
      const rej = log.slice(from).find((l) => l.event === 'config_rejected') as { step: string; error: string; undone: string[] };
      assert.equal(rej.step, step);
      assert.match(rej.error, new RegExp(`fault injected at ${step}`));
      if (step === 'switch') assert.ok(rej.undone.some((u) => u.startsWith('extra0')), `the new hook was undone: ${JSON.stringify(rej.undone)}`);
      const st = await status(net, 'node-a');
      assert.deepEqual(hooks(st), hooks(st0), `${step}: hooks as before`);
      assert.deepEqual(st.tables, st0.tables, `${step}: tables in force as before`);
      assert.equal(st.generation, st0.generation, `${step}: generation as before`);
      assert.equal(await ping(net, 2), 2, `${step}: traffic flows as before`);
    }
    writeFileSync(faults, '');
    assert.equal(await net.applyConfig('node-a', changed), 'applied');
    const st1 = await status(net, 'node-a');
    assert.ok(hooks(st1).includes('extra0:tc'));
    assert.equal(st1.tables.find((t) => t.name === 'esfc_classifier')!.entries, 2);
    assert.equal(st1.generation, st0.generation! + 1);
    assert.equal(await net.applyConfig('node-a', base), 'applied');
    assert.deepEqual(hooks(await status(net, 'node-a')), hooks(st0));
    assert.equal(await ping(net, 2), 2);
  });

  test('a port removed from the config while the agent was down is removed when it starts (adopt what matches, remove the rest)', async () => {
    await sh(['ip', '-n', net.ns('node-a'), 'link', 'add', 'gone0', 'type', 'veth', 'peer', 'name', 'gone1']);
    await sh(['ip', '-n', net.ns('node-a'), 'link', 'set', 'gone0', 'up']);
    const base = net.configs.get('node-a')!;
    const withPort: NodeConfig = JSON.parse(JSON.stringify(base)) as NodeConfig;
    withPort.ports.push({ name: 'gone', interface: 'gone0', kind: 'edge', hook: 'auto', peerMac: '02:00:00:00:ee:02', forwardOam: false });
    assert.equal(await net.applyConfig('node-a', withPort), 'applied');
    assert.ok(hooks(await status(net, 'node-a')).includes('gone0:tc'));
    assert.equal(await net.stopAgent('node-a'), 0);
    writeFileSync(net.configPath('node-a'), JSON.stringify(base));
    net.configs.set('node-a', base);
    await net.startAgent('node-a', { ...process.env, ESFC_TEST_FAULTS: faults });
    const st = await status(net, 'node-a');
    assert.ok(!hooks(st).includes('gone0:tc'), 'the hook of the removed port is gone');
    assert.equal(st.tables.find((t) => t.name === 'esfc_ports')!.entries, base.ports.length + 1);
    assert.equal(await ping(net, 2), 2);
  });

  test('an entry changed behind the agent\'s back (a stray bpftool) is found within --verify-every and repaired', async () => {
    assert.equal(await net.stopAgent('node-b'), 0);
    await net.startAgent('node-b', undefined, ['--verify-every', '1']);
    const from = net.logs.get('node-b')!.length;
    const inner = BpfMap.openPinned(join(net.configs.get('node-b')!.node.pinDir, MapName.inner));
    try {
      const keys = [...inner.keys()];
      assert.ok(keys.length > 0, 'node B forwards on inner hops');
      for (const k of keys) inner.delete(k);
      const drift = await net.waitForLog('node-b', (l) => l.event === 'tables_drift', 10_000, from);
      assert.equal(drift.entries, keys.length, 'every missing entry is counted');
      await net.waitForLog('node-b', (l) => l.event === 'config_applied', 10_000, from);
      assert.equal([...inner.keys()].length, keys.length, 'every entry is back');
      assert.equal(await ping(net), 3);
    } finally {
      inner.close();
    }
  });

  test('no key in any error: a malformed key is named by its field, never shown, in the agent\'s log and on stderr', async () => {
    const key = 'c0ffee00deadbeef0123456789abcdef0badf00d'.slice(0, 38) + 'zz';
    const bad = JSON.parse(JSON.stringify(net.configs.get('node-b'))) as Record<string, unknown>;
    bad.efs = [{ name: 'efx', netns: 'nowhere', interface: 'eth0', address: '10.200.0.99' }];
    bad.encryptedHops = [{ ef: 'efx', role: 'encrypt', spi: 1, si: 254, espi: 77, peer: '10.200.0.98', keys: [{ spi: 4096, epoch: 1, key }, { spi: 4097, epoch: key, key: 12 }] }];
    const log = net.logs.get('node-b')!;
    const from = log.length;
    writeFileSync(net.configPath('node-b'), JSON.stringify(bad), { mode: 0o600 });
    let rej: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !rej; i++) {
      rej = log.slice(from).find((l) => l.event === 'config_rejected');
      await sleep(50);
    }
    assert.ok(rej, 'rejected');
    const text = JSON.stringify(log.slice(from));
    assert.match(text, /encryptedHops\[0\]\.keys\[0\]\.key/);
    for (const secret of [key, key.slice(0, 16), key.slice(-16)]) assert.ok(!text.includes(secret), `the log shows key material ${secret}`);
    const stderr = await net.cli('node-b', ['agent', 'check', '--config', net.configPath('node-b')]).then(() => '', (e: Error) => e.message);
    assert.match(stderr, /keys\[0\]\.key: expected 40 or 72 hex digits .*, got a string of 40 characters, 2 of them not hex digits \(value not shown: secret\)/);
    assert.ok(!stderr.includes(key.slice(0, 16)), 'stderr shows key material');
    assert.equal(await net.applyConfig('node-b', net.configs.get('node-b')!), 'applied');
  });

  test('--uninstall works from the pin directory alone (the config is lost)', async () => {
    const pinDir = net.configs.get('node-c')!.node.pinDir;
    await net.stopAgent('node-c');
    await net.cli('node-c', ['agent', '--uninstall', '--pin-dir', pinDir]);
    assert.equal(existsSync(pinDir), false);
    assert.equal((await sh(['ip', '-n', net.ns('node-c'), 'link', 'show', 'ul0'])).includes('xdp'), false);
    assert.equal(await ping(net, 2), 0, 'no esfc on node C, no chain');
    // A pin directory outside bpffs is refused before anything is deleted.
    await assert.rejects(net.cli('node-c', ['agent', '--uninstall', '--pin-dir', '/sys/fs/bpf/../../etc']), /not a pin directory under \/sys\/fs\/bpf/);
  });
});

describe('a pure transit node (remote in, remote out)', { skip }, () => {
  // SF1 on node A, SF2 on node C; node B only carries traffic between them, as a provider's core would.
  const plan = planScenario({ sfCount: 2, sfNodes: [0, 2] });

  test('TC on every underlay: ping and TCP cross node B, which forwards on (SPI, SI) only', async () => {
    const net = await ScenarioNet.build(plan, { transitNode: 'node-b' }, 'p');
    try {
      await net.startAgents();
      assert.equal(await ping(net), 3);
      const iperfSrv = spawnInNs(net.ns('server'), ['iperf3', '-s', '-1', '-p', '5201', '--forceflush']);
      await waitForLine(iperfSrv, (l) => l.includes('Server listening'), 10_000);
      const out = JSON.parse(await nsh(net.ns('client'), ['iperf3', '-c', plan.server.ip, '-p', '5201', '-t', '2', '-J'], { timeoutMs: 30_000 })) as { end: { sum_received: { bytes: number } } };
      await stopProcess(iperfSrv);
      assert.ok(out.end.sum_received.bytes > 1_000_000, `TCP moved ${out.end.sum_received.bytes} bytes`);
      const st = await status(net, 'node-b');
      assert.ok(count(st, 'underlay', 'fwd_remote') > 100, 'node B forwarded remote to remote');
      assert.equal(count(st, 'underlay', 'drop_peer_source'), 0);
    } finally {
      await net.destroy();
    }
  });

  test('XDP on node B\'s veth underlay is refused while its peer would lose XDP_TX frames, and works once the peer has an XDP program', async () => {
    const net = await ScenarioNet.build(plan, { transitNode: 'node-b', underlayHook: { 'node-b': 'xdp' }, wire: true }, 'q');
    try {
      await net.startAgent('node-a');
      await net.startAgent('node-c');
      await assert.rejects(net.startAgent('node-b'), (e: Error) => {
        assert.match(e.message, /XDP on ul0 sends frames into veth ul0 \(transit hops send frames back out of the underlay with XDP_TX\)/);
        assert.match(e.message, new RegExp(`attach an XDP program to p1 in netns ${net.ns('ul')}`));
        return true;
      });
      // GRO on the peer does not help XDP_TX (it does for XDP_REDIRECT): still refused.
      await nsh(net.ns('ul'), ['ethtool', '-K', 'p1', 'gro', 'on']);
      await assert.rejects(net.startAgent('node-b'), /has no XDP program/);
      await sh(['ip', '-n', net.ns('ul'), 'link', 'set', 'dev', 'p1', 'xdp', 'object', PASS_OBJECT, 'program', 'esfc_xdp_pass']);
      await net.startAgent('node-b');
      assert.equal(await ping(net), 3, 'delivered through the XDP transit hop');
      const st = await status(net, 'node-b');
      assert.ok(st.hooks.some((h) => h.ifname === 'ul0' && h.hook === 'xdp'));
      assert.ok(count(st, 'underlay', 'fwd_remote') >= 6);
    } finally {
      await net.destroy();
    }
  });
});
