import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, validateConfig } from '../../agent/config/validate-config.js';
import { loadConfigFile, parseJson } from '../../agent/config/load-config.js';
import { planScenario, scenarioConfigs } from '../../scenario/plan.js';
import { encryptedConfigs, planEncryptedScenario } from '../../scenario/encrypted.js';

const good = (): Record<string, unknown> => JSON.parse(JSON.stringify(
  scenarioConfigs(planScenario(), { pinRoot: '/sys/fs/bpf/esfc-test' }).get('node-a'),
)) as Record<string, unknown>;

function problems(input: unknown): { path: string; problem: string; fix: string }[] {
  try {
    validateConfig(input);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('config was accepted');
}

test('p4 on the underlay puts every port of the node on BMv2', () => {
  const c = good();
  (c['underlay'] as Record<string, unknown>)['hook'] = 'p4';
  const v = validateConfig(c);
  assert.equal(v.underlay?.hook, 'p4');
  assert.ok(v.ports.length > 0);
  for (const p of v.ports) assert.equal(p.hook, 'p4', p.name);
});

test('the scenario configs of every node validate and keep their values', () => {
  for (const [name, cfg] of scenarioConfigs(planScenario(), { pinRoot: '/sys/fs/bpf/x' })) {
    const v = validateConfig(JSON.parse(JSON.stringify(cfg)));
    assert.equal(v.node.name, name);
    assert.deepEqual(v.paths, cfg.paths);
    assert.deepEqual(v.classifier, cfg.classifier);
  }
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- mutating arbitrary JSON
const cases: { name: string; mutate: (c: Record<string, any>) => void; path: string; match: RegExp }[] = [
  { name: 'wrong apiVersion', mutate: (c) => { c.apiVersion = 'v0'; }, path: 'apiVersion', match: /expected "esfc.io\/v1alpha1"/ },
  { name: 'SPI out of range', mutate: (c) => { c.paths[0].spi = 0x1000000; }, path: 'paths[0].spi', match: /1\.\.16777215/ },
  { name: 'SI 0', mutate: (c) => { c.paths[0].hops[0].si = 0; }, path: 'paths[0].hops[0].si', match: /1\.\.255/ },
  { name: 'hop to an unknown port', mutate: (c) => { c.paths[0].hops[0].to = { port: 'nope' }; }, path: 'paths[0].hops[0].to.port', match: /no port named nope/ },
  { name: 'hop to an unknown peer', mutate: (c) => { c.paths[0].hops[1].to = { node: 'node-z' }; }, path: 'paths[0].hops[1].to.node', match: /no peer named node-z/ },
  { name: 'hop with two targets', mutate: (c) => { c.paths[0].hops[0].to = { port: 'sf1a', node: 'node-b' }; }, path: 'paths[0].hops[0].to', match: /exactly one/ },
  { name: 'bad MAC', mutate: (c) => { c.ports[1].peerMac = '02:00:00'; }, path: 'ports[1].peerMac', match: /MAC/ },
  { name: 'sf-proxy port without function', mutate: (c) => { delete c.ports[1].function; }, path: 'ports[1].function', match: /needs the function/ },
  { name: 'unknown field', mutate: (c) => { c.ports[0].colour = 'red'; }, path: 'ports[0].colour', match: /unknown field/ },
  { name: 'duplicate interface', mutate: (c) => { c.ports[2].interface = c.ports[1].interface; }, path: 'ports[2].interface', match: /already port/ },
  { name: 'classifier into a path without SI 255 here', mutate: (c) => { c.classifier[0].spi = 2; }, path: 'classifier[0].spi', match: /no hop for SI 255/ },
  { name: 'bad prefix', mutate: (c) => { c.classifier[0].destination = '172.16.2.0/33'; }, path: 'classifier[0].destination', match: /not an IPv4 prefix/ },
  { name: 'ports without protocol', mutate: (c) => { c.classifier[0].destinationPorts = 25; }, path: 'classifier[0].protocol', match: /port ranges need/ },
  { name: 'hook typo', mutate: (c) => { c.underlay.hook = 'xpd'; }, path: 'underlay.hook', match: /one of auto, xdp, tc/ },
  { name: 'p4 on one port of an eBPF node', mutate: (c) => { c.ports[1].hook = 'p4'; }, path: 'ports[1].hook', match: /p4 on port .* alone/ },
  { name: 'an eBPF hook on a port of a p4 node', mutate: (c) => { c.underlay.hook = 'p4'; c.ports[1].hook = 'tc'; }, path: 'ports[1].hook', match: /tc on a p4 node/ },
  { name: 'a punt port on a p4 node', mutate: (c) => { c.underlay.hook = 'p4'; c.ports.push({ name: 'slow', interface: 'bm0', kind: 'punt' }); }, path: 'ports[3].kind', match: /no eBPF core to punt from/ },
  { name: 'underlay address', mutate: (c) => { c.underlay.address = '10.250.0.300'; }, path: 'underlay.address', match: /not an IPv4/ },
  { name: 'pinDir escaping bpffs with ..', mutate: (c) => { c.node.pinDir = '/sys/fs/bpf/../../etc'; }, path: 'node.pinDir', match: /no "\.", "\.\."/ },
  { name: 'pinDir with a . component', mutate: (c) => { c.node.pinDir = '/sys/fs/bpf/./esfc'; }, path: 'node.pinDir', match: /plain names/ },
  { name: 'pinDir that is bpffs itself', mutate: (c) => { c.node.pinDir = '/sys/fs/bpf'; }, path: 'node.pinDir', match: /under \/sys\/fs\/bpf/ },
  { name: 'pinDir with a trailing slash', mutate: (c) => { c.node.pinDir = '/sys/fs/bpf/esfc/'; }, path: 'node.pinDir', match: /trailing/ },
  { name: 'a hop from an unknown peer', mutate: (c) => { c.paths[1].hops[0].from = ['node-z']; }, path: 'paths[1].hops[0].from', match: /no peer named node-z/ },
  { name: 'a standby on a hop that enters no SF', mutate: (c) => { c.paths[0].hops[1].standby = { port: 'sf1a' }; }, path: 'paths[0].hops[1].standby', match: /protects an SF-layer hop to an sf or sf-proxy port/ },
  { name: 'a standby that is the same SF', mutate: (c) => { c.paths[0].hops[0].standby = { port: 'sf1b' }; }, path: 'paths[0].hops[0].standby.port', match: /belongs to sf1, the SF it should stand in for/ },
  { name: 'a standby on an unknown node', mutate: (c) => { c.paths[0].hops[0].standby = { node: 'node-z' }; }, path: 'paths[0].hops[0].standby.node', match: /no peer named node-z/ },
  { name: 'a standby that ends the chain', mutate: (c) => { c.paths[0].hops[0].standby = { deliver: 'client' }; }, path: 'paths[0].hops[0].standby', match: /cannot end the chain/ },
  { name: 'a probe of something that is no SF here', mutate: (c) => { c.liveness = { probes: [{ function: 'nope', port: 'sf1a', source: '172.16.1.1', destination: '172.16.2.1' }] }; }, path: 'liveness.probes[0].function', match: /not an SF behind sf-proxy ports/ },
  { name: 'a probe sent into another port', mutate: (c) => { c.liveness = { probes: [{ function: 'sf1', port: 'client', source: '172.16.1.1', destination: '172.16.2.1' }] }; }, path: 'liveness.probes[0].port', match: /comes back through another; sf1 has sf1a, sf1b/ },
  { name: 'a probe to no IPv4 address', mutate: (c) => { c.liveness = { probes: [{ function: 'sf1', port: 'sf1a', source: '172.16.1.1', destination: 'server' }] }; }, path: 'liveness.probes[0].destination', match: /not an IPv4 address/ },
  { name: 'a hold-down of more than an hour', mutate: (c) => { c.liveness = { holdDownMs: 4_000_000 }; }, path: 'liveness.holdDownMs', match: /0\.\.3600000/ },
];

test('protection: a standby (port or node) and probes are accepted with their defaults', () => {
  const c = good() as { paths: { hops: Record<string, unknown>[] }[]; liveness?: unknown };
  c.paths[0]!.hops[0]!.standby = { node: 'node-b' };
  c.liveness = { probes: [{ function: 'sf1', port: 'sf1a', source: '172.16.1.1', destination: '172.16.2.1' }] };
  const v = validateConfig(c);
  assert.deepEqual(v.paths[0]!.hops[0]!.standby, { node: 'node-b' });
  assert.deepEqual(v.liveness, { holdDownMs: 1000, probes: [{ function: 'sf1', port: 'sf1a', source: '172.16.1.1', destination: '172.16.2.1', intervalMs: 10 }] });
});

test('pinDir: ordinary directories under /sys/fs/bpf are accepted', () => {
  for (const d of ['/sys/fs/bpf/esfc/node-a', '/sys/fs/bpf/esfc-t123a/node.b', '/sys/fs/bpf/x']) {
    const c = good() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    c.node.pinDir = d;
    assert.equal(validateConfig(c).node.pinDir, d);
  }
});

test('"from" names the peers that may send a position over the underlay (a name or a list)', () => {
  const c = good() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const arriving = c.paths.flatMap((p: { hops: { from?: string[] }[] }) => p.hops).filter((h: { from?: string[] }) => h.from);
  assert.ok(arriving.length > 0, 'the scenario marks what arrives from node B');
  c.paths[1].hops[0].from = 'node-b';
  assert.deepEqual(validateConfig(c).paths[1]!.hops[0]!.from, ['node-b']);
});

for (const tc of cases) {
  test(`a bad config names the field and the fix: ${tc.name}`, () => {
    const c = good();
    tc.mutate(c as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    const p = problems(c);
    const hit = p.find((x) => x.path === tc.path);
    assert.ok(hit, `no problem at ${tc.path}; got ${JSON.stringify(p)}`);
    assert.match(hit.problem, tc.match);
    assert.ok(hit.fix.length > 5, 'every problem says how to fix it');
  });
}

test('all problems are reported at once', () => {
  const c = good() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  c.paths[0].spi = -1;
  c.ports[1].peerMac = 'x';
  c.underlay.hook = 'nope';
  assert.equal(problems(c).length >= 3, true);
});

test('not an object at all', () => {
  assert.equal(problems('hello')[0]!.path, '(root)');
});

/** An encrypted hop whose keys are broken in every way a key can be, with the secret material used. */
function withBadKeys(): { cfg: Record<string, unknown>; secrets: string[] } {
  const key = '0123456789abcdef0123456789abcdef01234567';
  const c = good() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  c.efs = [{ name: 'efx', netns: 'efx', interface: 'eth0', address: '10.200.0.1' }];
  c.encryptedHops = [{
    ef: 'efx', role: 'encrypt', spi: 1, si: 254, espi: 9, peer: '10.200.0.2',
    keys: [
      { spi: 4096, epoch: 1, key: key.slice(0, 38) + 'zz' },      // not hex
      { spi: 4097, epoch: 1, key: key.slice(0, 39) },             // one digit short
      { spi: 4098, epoch: key, key: 5 },                          // the key in the wrong field
      { spi: 4099, epoch: 1, key, notAfter: `${key}Z` },          // a key where a time belongs
      { spi: 4100, epoch: 1, key, secret: key },                  // an unknown field holding it
    ],
  }, { ef: 'efx', role: 'encrypt', spi: 1, si: 253, espi: 10, peer: '10.200.0.2', keys: key }];
  return { cfg: c, secrets: [key, key.slice(0, 38), key.slice(0, 16), key.slice(20, 36)] };
}

test('no key in any error: each broken key is named by its field and what is wrong, never by its value', () => {
  const { cfg, secrets } = withBadKeys();
  let err: ConfigError | undefined;
  try { validateConfig(cfg); } catch (e) { err = e as ConfigError; }
  assert.ok(err instanceof ConfigError);
  const text = `${err.message}\n${JSON.stringify(err.problems)}`;
  for (const s of secrets) assert.ok(!text.includes(s), `key material ${s} in: ${text}`);
  const at = (path: string) => err!.problems.find((p) => p.path === path)?.problem ?? '';
  assert.match(at('encryptedHops[0].keys[0].key'), /a string of 40 characters, 2 of them not hex digits \(value not shown: secret\)/);
  assert.match(at('encryptedHops[0].keys[1].key'), /a string of 39 characters/);
  assert.match(at('encryptedHops[0].keys[2].epoch'), /a string of 40 characters/);
  assert.match(at('encryptedHops[0].keys[3].notAfter'), /not a time \(value not shown: secret\)/);
  assert.match(at('encryptedHops[0].keys[4].secret'), /unknown field/);
  assert.match(at('encryptedHops[1].keys'), /expected a list, got a string of 40 characters/);
});

test('a JSON syntax error is located by line and column, without quoting the text around it', () => {
  const key = 'fedcba9876543210fedcba9876543210fedcba98';
  const text = `{\n  "apiVersion": "esfc.io/v1alpha1",\n  "key": "${key}" x\n}`;
  assert.throws(() => parseJson(text, 'node.json'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /syntax error at line 3, column/);
    assert.ok(!e.message.includes(key.slice(0, 12)), e.message);
    return true;
  });
});

test('a config file holding keys that group or others can read is refused, or accepted with a warning when asked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-perm-'));
  try {
    const f = join(dir, 'node.json');
    const c = good() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    writeFileSync(f, JSON.stringify(c), { mode: 0o644 });
    chmodSync(f, 0o644);
    assert.ok((await loadConfigFile(f)).node.name, 'no keys: the mode does not matter');
    const enc = encryptedConfigs(planEncryptedScenario(), { pinRoot: '/sys/fs/bpf/x', nsOf: (e) => e }).get('node-a')!;
    writeFileSync(f, JSON.stringify(enc));
    chmodSync(f, 0o640);
    await assert.rejects(loadConfigFile(f), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /holds encryption keys and is readable by its group \(mode 0640\)/);
      assert.match(e.message, new RegExp(`chmod 600 ${f}`));
      return true;
    });
    const warnings: Record<string, unknown>[] = [];
    assert.equal((await loadConfigFile(f, { allowReadableKeys: true, warn: (_e, w) => warnings.push(w) })).node.name, 'node-a');
    assert.match(String(warnings[0]?.note), /accepted because of --allow-readable-keys/);
    chmodSync(f, 0o600);
    assert.equal((await loadConfigFile(f)).node.name, 'node-a');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
