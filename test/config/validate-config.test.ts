import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../agent/config/validate-config.js';
import { planScenario, scenarioConfigs } from '../lib/scenario.js';

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
  { name: 'underlay address', mutate: (c) => { c.underlay.address = '10.250.0.300'; }, path: 'underlay.address', match: /not an IPv4/ },
];

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
