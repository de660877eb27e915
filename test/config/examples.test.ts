/**
 * The examples in examples/ are what an operator copies: each node config
 * passes `esfc agent check`, the three-node ones are the scenario the e2e
 * tests run, and `check --kernel` holds them against a node's interfaces;
 * the intent documents fit the YANG model and compile; the units verify.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planScenario, scenarioConfigs } from '../../scenario/plan.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, PLAIN_FLOW, scenarioIntent, VIDEO_FLOW } from '../../scenario/intent.js';
import { compileIntent } from '../../controller/intent/compile.js';
import { emptyAllocations } from '../../controller/intent/allocations.js';
import { intentFromDoc } from '../../controller/intent/from-doc.js';
import { decode, loadSchema } from '../../controller/yang/index.js';
import { sh } from '../../scenario/sh.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/agent/cli.js');
const EXAMPLES = join(ROOT, 'examples');
const isRoot = process.getuid?.() === 0;

function esfc(args: string[], netns?: string): Promise<{ code: number; out: string }> {
  const argv = netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }));
  });
}

const files = ['single-node.json', ...readdirSync(join(EXAMPLES, 'scenario')).map((f) => `scenario/${f}`)];

for (const f of files) {
  test(`examples/${f} passes esfc agent check`, async () => {
    const r = await esfc(['agent', 'check', '--config', join(EXAMPLES, f)]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /: valid\n/);
  });
}

test('examples/scenario is the three-node scenario the end-to-end tests run', () => {
  const cfgs = scenarioConfigs(planScenario(), { pinRoot: '/sys/fs/bpf/esfc' });
  for (const [name, c] of cfgs) {
    const ex = JSON.parse(readFileSync(join(EXAMPLES, 'scenario', `${name}.json`), 'utf8')) as Record<string, unknown>;
    // The examples leave pinDir at its default and have no encrypted hops.
    const want: Record<string, unknown> = { ...c, node: { name: c.node.name, nshTtl: c.node.nshTtl, md3Type: c.node.md3Type } };
    delete want.efs;
    delete want.encryptedHops;
    assert.deepEqual(ex, want, `${name}.json differs from scenarioConfigs()`);
  }
});

test('examples/intent are the scenario as intent: they fit the YANG model and compile to every node\'s state', () => {
  const ep = planEncryptedScenario();
  const want: Record<string, unknown> = {
    'scenario.json': scenarioIntent(planScenario(), { flows: [PLAIN_FLOW] }),
    'scenario-encrypted.json': scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `esfc-${e}`, flows: [...DESIGN_FLOWS, VIDEO_FLOW] }),
  };
  assert.deepEqual(readdirSync(join(EXAMPLES, 'intent')).sort(), Object.keys(want).sort());
  for (const [f, doc] of Object.entries(want)) {
    const ex = JSON.parse(readFileSync(join(EXAMPLES, 'intent', f), 'utf8')) as { 'ietf-restconf:data': Record<string, unknown> };
    assert.deepEqual(ex['ietf-restconf:data'], doc, `examples/intent/${f} differs from scenario/intent.ts`);
    const d = decode(loadSchema(), ex['ietf-restconf:data'], {});
    assert.ok(d.ok, `${f}: ${d.ok ? '' : JSON.stringify(d.errors)}`);
    const compiled = compileIntent(intentFromDoc(d.value as Record<string, unknown>), emptyAllocations());
    assert.deepEqual([...compiled.nodes.keys()].sort(), ['node-a', 'node-b', 'node-c']);
  }
});

const hasSystemd = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].some((p) => existsSync(p));
test('the systemd units are well-formed', { skip: hasSystemd ? false : 'systemd-analyze is not installed' }, async () => {
  for (const [file, exec] of [
    ['esfc-agent@.service', /ExecStart=\/usr\/bin\/env node \$\{ESFC_HOME\}\/dist\/agent\/cli\.js agent --config \/etc\/esfc\/%i\.json/],
    ['esfc-controller.service', /ExecStart=\/usr\/bin\/env node \$\{ESFC_HOME\}\/dist\/agent\/cli\.js controller --state \/var\/lib\/esfc/],
  ] as const) {
    const unit = join(EXAMPLES, 'systemd', file);
    const r = await new Promise<{ code: number; out: string }>((resolve) => execFile('systemd-analyze', ['verify', unit], (err, so, se) => resolve({ code: err ? 1 : 0, out: so + se })));
    assert.equal(r.code, 0, r.out);
    assert.match(readFileSync(unit, 'utf8'), exec);
  }
});

describe('esfc agent check --kernel against a node\'s interfaces', { skip: isRoot ? false : 'needs root (a network namespace)' }, () => {
  const ns = `esfc-x${process.pid}-check`;
  before(async () => {
    await sh(['ip', 'netns', 'add', ns]);
    for (const [a, b] of [['veth-cl', 'cl'], ['veth-sv', 'sv'], ['veth-fw0', 'fw0'], ['veth-fw1', 'fw1']]) await sh(['ip', '-n', ns, 'link', 'add', a!, 'type', 'veth', 'peer', 'name', b!]);
    await sh(['ip', '-n', ns, 'link', 'add', 'ul0', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'ul1']);
    for (const i of ['sf1a', 'sf1b', 'edge-c']) await sh(['ip', '-n', ns, 'link', 'add', i, 'type', 'veth', 'peer', 'name', `${i}-p`]);
  });
  after(async () => { await sh(['ip', 'netns', 'del', ns]).catch(() => undefined); });

  test('the single-node example is valid where its interfaces exist', async () => {
    const r = await esfc(['agent', 'check', '--kernel', '--config', join(EXAMPLES, 'single-node.json')], ns);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /valid on this node/);
  });

  test('a missing interface and an underlay MTU without room for the encapsulation are named with their fix', async () => {
    await sh(['ip', '-n', ns, 'link', 'del', 'veth-sv']);
    const r = await esfc(['agent', 'check', '--kernel', '--config', join(EXAMPLES, 'single-node.json')], ns);
    assert.equal(r.code, 2);
    assert.match(r.out, /ports\[1\]\.interface: interface veth-sv does not exist on this node/);
    const a = await esfc(['agent', 'check', '--kernel', '--config', join(EXAMPLES, 'scenario', 'node-a.json')], ns);
    assert.equal(a.code, 2);
    assert.match(a.out, /exceed the underlay ul0 MTU 1500 \(fix: raise the MTU of ul0 to 1560/);
  });
});
