/**
 * kill -9 of the controller at any moment loses no acknowledged write: the
 * `esfc controller` process is killed in the middle of a stream of writes,
 * three times, and every write it answered 2xx to is there when it comes
 * back, with the same revision and per-node generations.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, type Dispatcher } from 'undici';
import { jsonLogger } from '../../agent/log.js';
import { startController } from '../../controller/embedded.js';
import { signedWrite } from '../../controller/ledger-client.js';
import { generateKey, registeredKey } from '../../controller/ledger/index.js';
import { clientDispatcher, readBundle } from '../../controller/pki/index.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';
import { waitForLine } from '../../scenario/sh.js';

const CLI = fileURLToPath(new URL('../../agent/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'esfc-durable-'));
/** The controller process running now: a failed assertion must not leave it behind (the test would never end). */
let running: ChildProcess | undefined;
after(() => {
  running?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const exited = (p: ChildProcess): Promise<void> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));

async function start(): Promise<{ p: ChildProcess; url: string }> {
  const p = spawn(process.execPath, [CLI, 'controller', '--state', dir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  running = p;
  const line = await waitForLine(p, (l) => l.includes('"event":"controller_ready"'), 20_000);
  const { address } = JSON.parse(line) as { address: string };
  // Keep draining the log so the controller never blocks on a full pipe.
  p.stdout!.resume();
  return { p, url: `https://${address}` };
}

async function state(url: string, d: Dispatcher): Promise<{ descriptions: Map<string, string>; gens: Map<string, string> }> {
  const r = await request(`${url}/restconf/data`, { dispatcher: d });
  const data = (JSON.parse(await r.body.text()) as Record<string, Record<string, unknown>>)['ietf-restconf:data']!;
  const chains = (data['esfc-intent:chains'] as { chain: { name: string; description?: string }[] }).chain;
  const nodes = (data['esfc-state:nodes-state'] as { node: { name: string; 'desired-generation': string }[] }).node;
  return {
    descriptions: new Map(chains.map((c) => [c.name, c.description ?? ''])),
    gens: new Map(nodes.map((n) => [n.name, n['desired-generation']])),
  };
}

test('kill -9 in the middle of writes: every acknowledged write survives, and the restarted controller has the same state', { timeout: 120_000 }, async () => {
  // State and certificates made once, as `esfc controller init/enroll` would.
  // The operator's signing key is this test's; the controller gets its public half in the log's genesis.
  const alice = generateKey('ed25519');
  const setup = await startController(dir, jsonLogger({}, () => undefined), { ledgerKeys: [registeredKey(alice, 'operator', 'alice')] });
  const op = clientDispatcher(readBundle(await setup.enroll('operator', 'alice')));
  await setup.close();
  const ep = planEncryptedScenario();
  let { p, url } = await start();
  const whole = JSON.stringify({ 'ietf-restconf:data': scenarioIntent(ep.base, { efs: ep.efs, flows: DESIGN_FLOWS }) });
  const put = await request(`${url}/restconf/data`, {
    method: 'PUT', dispatcher: op, headers: { 'content-type': 'application/yang-data+json', ...signedWrite(alice.signer, 'PUT', '/restconf/data', whole).headers }, body: whole,
  });
  assert.equal(put.statusCode, 201, await put.body.text());
  const acknowledged = new Map<string, string>();
  let n = 0;
  for (let round = 0; round < 3; round++) {
    // Writers keep going while the process is killed under them.
    let stop = false;
    const writer = async (chain: string): Promise<void> => {
      while (!stop) {
        const value = `write-${n++}`;
        try {
          const path = `/restconf/data/esfc-intent:chains/chain=${chain}/description`;
          const body = JSON.stringify({ 'esfc-intent:description': value });
          const r = await request(`${url}${path}`, {
            method: 'PUT', dispatcher: op, headers: { 'content-type': 'application/yang-data+json', ...signedWrite(alice.signer, 'PUT', path, body).headers }, body,
          });
          await r.body.text();
          if (r.statusCode === 201 || r.statusCode === 204) acknowledged.set(chain, value);
        } catch {
          return; // the controller died mid-request: that write was never acknowledged
        }
      }
    };
    const writers = [writer('mail-chain'), writer('web-chain')];
    const from = n;
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
    // Each write is committed to the orchestration log (and fsync'ed) before it is applied: on a busy host, give the writers a few writes each before the kill.
    for (const until = Date.now() + 15_000; n - from < 12 && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
    p.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    await exited(p);
    ({ p, url } = await start());
    const s = await state(url, op);
    // The last acknowledged write, or one sent after it whose answer the kill swallowed.
    const seq = (v: string | undefined): number => Number(/^write-(\d+)$/.exec(v ?? '')?.[1] ?? -1);
    for (const [chain, value] of acknowledged) {
      assert.ok(seq(s.descriptions.get(chain)) >= seq(value), `round ${round}: ${chain} holds ${s.descriptions.get(chain)}, but ${value} was acknowledged`);
    }
    assert.ok(n > 10, `only ${n} writes were attempted`);
  }
  // A restart without a kill: the same revision, state and generations.
  const before = await state(url, op);
  p.kill('SIGTERM');
  await exited(p);
  ({ p, url } = await start());
  const afterRestart = await state(url, op);
  assert.deepEqual(afterRestart.descriptions, before.descriptions);
  assert.deepEqual(afterRestart.gens, before.gens);
  p.kill('SIGTERM');
  await exited(p);
});
