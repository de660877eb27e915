/**
 * How an agent judges its SFs, on real links in a private network namespace:
 * a port losing its carrier (its far end went down) makes the SF down at the
 * next tick; it is live again only after staying healthy for the hold-down,
 * and a flap inside the hold-down starts it again; a vanished port and an
 * unanswered probe count too. Failover from these judgements is in
 * test/controller/protection.test.ts (pure) and test/e2e/failover.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { CONFIG_API_VERSION, type NodeConfig } from '../../agent/config/types.js';
import { Liveness, type FunctionLiveness } from '../../agent/liveness/liveness.js';
import { enterPrivateNetns } from '../lib/private-netns.js';

const isRoot = process.getuid?.() === 0;
const ip = (...args: string[]): void => { execFileSync('ip', args); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const cfg = (holdDownMs: number): NodeConfig => ({
  apiVersion: CONFIG_API_VERSION,
  node: { name: 'n', pinDir: '/sys/fs/bpf/esfc/n', nshTtl: 63, md3Type: 3 },
  peers: [], paths: [], classifier: [], efs: [], encryptedHops: [],
  ports: [
    { name: 'sfxa', interface: 'lv0a', kind: 'sf-proxy', hook: 'tc', peerMac: '02:00:00:00:00:01', function: 'sfx', forwardOam: false },
    { name: 'sfxb', interface: 'lv1a', kind: 'sf-proxy', hook: 'tc', peerMac: '02:00:00:00:00:02', function: 'sfx', forwardOam: false },
    { name: 'client', interface: 'lo', kind: 'edge', hook: 'tc', forwardOam: false },
  ],
  liveness: { holdDownMs, probes: [] },
});

test('an SF is down the moment a port loses its link, live again only after the hold-down; flaps restart it', { skip: isRoot ? false : 'needs root (network namespaces)' }, async () => {
  enterPrivateNetns();
  for (const n of ['lv0', 'lv1']) {
    ip('link', 'add', `${n}a`, 'type', 'veth', 'peer', 'name', `${n}b`);
    ip('link', 'set', `${n}a`, 'up');
    ip('link', 'set', `${n}b`, 'up');
  }
  const seen: (FunctionLiveness & { at: number })[] = [];
  const l = new Liveness({ onChange: (c) => seen.push(...c.map((x) => ({ ...x, at: Date.now() }))), tickMs: 10 });
  try {
    l.watch(cfg(300));
    assert.deepEqual(l.states().map((s) => [s.name, s.live]), [['sfx', true]], 'only SF ports are watched');
    const waitFor = async (n: number, ms = 2000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (seen.length < n && Date.now() < deadline) await sleep(5);
      assert.ok(seen.length >= n, `${n} change(s) expected, saw ${JSON.stringify(seen)}`);
    };

    let t = Date.now();
    ip('link', 'set', 'lv1b', 'down');
    await waitFor(1);
    assert.deepEqual([seen[0]!.live, seen[0]!.reason], [false, 'link lv1a down']);
    process.stdout.write(`# link down seen after ${seen[0]!.at - t} ms\n`);
    assert.deepEqual([...l.down()], ['sfx']);

    // Up again, then down within the hold-down: still down, and the hold-down starts over.
    ip('link', 'set', 'lv1b', 'up');
    await sleep(150);
    assert.match(l.states()[0]!.reason ?? '', /^hold-down until /);
    ip('link', 'set', 'lv1b', 'down');
    await sleep(50);
    assert.equal(l.states()[0]!.reason, 'link lv1a down');
    t = Date.now();
    ip('link', 'set', 'lv1b', 'up');
    await waitFor(2);
    assert.equal(seen.length, 2, 'the flap was not reported');
    assert.equal(seen[1]!.live, true);
    assert.ok(seen[1]!.at - t >= 290, `live again ${seen[1]!.at - t} ms after the link came back (hold-down 300 ms)`);

    // A port that vanishes (the SF's namespace deleted) and a probe that stops coming back.
    ip('link', 'del', 'lv0a');
    await waitFor(3);
    assert.deepEqual([seen[2]!.live, seen[2]!.reason], [false, 'link lv0a missing']);
    ip('link', 'add', 'lv0a', 'type', 'veth', 'peer', 'name', 'lv0b');
    ip('link', 'set', 'lv0a', 'up');
    ip('link', 'set', 'lv0b', 'up');
    await waitFor(4);
    let alive = false;
    l.probes = { alive: () => alive, set: () => undefined, stop: () => undefined };
    await waitFor(5, 500);
    assert.deepEqual([seen[4]!.live, seen[4]!.reason], [false, 'probe unanswered']);
    alive = true;
    await waitFor(6);
    assert.equal(seen[5]!.live, true);

    // A configuration without the SF stops watching it.
    l.watch({ ...cfg(300), ports: cfg(300).ports.filter((p) => p.kind === 'edge') });
    assert.deepEqual(l.states(), []);
  } finally {
    l.stop();
  }
});
