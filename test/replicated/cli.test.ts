/**
 * The replicated mode as an operator runs it: `esfc controller
 * init-replicated` makes four domains (three answering, one observer), four
 * `esfc controller --replicated` processes each start their own CometBFT
 * validator, `esfc ctl apply` writes the intent through isp-a's controller,
 * `esfc ctl get` reads it back from isp-c's, `esfc ctl rekey` asks isp-b's
 * for a key change, and `esfc audit` checks the log the observer holds. SIGTERM stops each controller and its validator.
 *
 * Skipped when cometbft is not installed. Processes and the temp dir are
 * removed in after(), also on failure.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { findCometbft, freePorts } from '../../controller/abci/index.js';
import { generateKey } from '../../controller/ledger/index.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';
import { CLI } from '../../scenario/net.js';

const run = promisify(execFile);
const DOMAINS = ['isp-a', 'isp-b', 'isp-c', 'audit'];

describe('esfc controller --replicated: four controller processes, each with its validator', { skip: findCometbft() ? false : 'cometbft is not installed (scripts/cometbft-setup.sh)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-replicated-cli-'));
  const net = join(dir, 'net');
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const esfc = (args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
  const logOf = (d: string): string => {
    try {
      return readFileSync(join(dir, `${d}.log`), 'utf8');
    } catch {
      return '';
    }
  };

  before(async () => {
    const op = generateKey('ed25519');
    writeFileSync(join(dir, 'op.key'), op.privateKeyPem(), { mode: 0o600 });
    writeFileSync(join(dir, 'op.pub'), op.publicKey);
    const init = await esfc(['controller', 'init-replicated', '--out', net, '--domain', 'isp-a', '--domain', 'isp-b', '--domain', 'isp-c', '--observer', 'audit', '--operator-key', `alice=${join(dir, 'op.pub')}`]);
    assert.match(init.stdout, /with 4 validators/);
    ports.push(...await freePorts(DOMAINS.length));
    for (const [i, d] of DOMAINS.entries()) {
      const fd = openSync(join(dir, `${d}.log`), 'a');
      procs.push(spawn(process.execPath, [CLI, 'controller', '--state', join(net, d, 'state'), '--replicated', join(net, d, 'replicated.json'), '--listen', `127.0.0.1:${ports[i]}`], { stdio: ['ignore', fd, fd] }));
      closeSync(fd);
      await esfc(['controller', 'enroll', '--state', join(net, d, 'state'), '--operator', 'alice', '--out', join(dir, `alice-${d}.pem`)]);
    }
    const t0 = Date.now();
    while (!DOMAINS.every((d) => logOf(d).includes('"controller_ready"'))) {
      if (Date.now() - t0 > 60_000) throw new Error(`controllers not ready:\n${DOMAINS.map((d) => `${d}: ${logOf(d).slice(-1500)}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const url = (i: number): string => `https://127.0.0.1:${ports[i]}`;

  test('a signed apply at isp-a is read back at isp-c, and the observer\'s log verifies', async () => {
    const ep = planEncryptedScenario();
    writeFileSync(join(dir, 'intent.json'), JSON.stringify({ 'ietf-restconf:data': scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => `ns-${e}`, flows: DESIGN_FLOWS }) }));
    const apply = await esfc(['ctl', 'apply', join(dir, 'intent.json'), '--replace', '--controller', url(0), '--cert', join(dir, 'alice-isp-a.pem'), '--sign-key', join(dir, 'op.key')]);
    assert.match(apply.stdout, /^applied \(201, .*transaction [0-9a-f]{64}\)/);
    let chains = '';
    for (let i = 0; i < 50 && !chains.includes('mail-chain'); i++) {
      chains = (await esfc(['ctl', 'get', 'esfc-intent:chains', '--controller', url(2), '--cert', join(dir, 'alice-isp-c.pem')])).stdout;
      if (!chains.includes('mail-chain')) await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(chains, /"mail-chain"/);
    const audit = await esfc(['audit', 'verify', url(3)], { ESFC_CERT: join(dir, 'alice-audit.pem') });
    assert.match(audit.stdout, /^ok: \d+ blocks, [1-9]\d* transactions/);
  });

  test('esfc ctl rekey at isp-b is signed and logged; without a signing key it is refused before anything is sent', async () => {
    const r = await esfc(['ctl', 'rekey', '--flow', 'mail', '--controller', url(1), '--cert', join(dir, 'alice-isp-b.pem'), '--sign-key', join(dir, 'op.key')]);
    assert.match(r.stdout, /^key change started for [1-9]\d* EF pair\(s\) \(E-SPI [\d, ]+\) \(transaction [0-9a-f]{64}\)$/m);
    const unsigned = await esfc(['ctl', 'rekey', '--flow', 'mail', '--controller', url(1), '--cert', join(dir, 'alice-isp-b.pem')]).then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(unsigned, 'an unsigned rekey fails');
    assert.match(unsigned.stderr, /must be signed with your key/);
  });

  test('SIGTERM stops each controller and its validator', async () => {
    await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
      if (p.exitCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    })));
    for (const [i, p] of procs.entries()) assert.equal(p.exitCode, 0, `${DOMAINS[i]}: ${logOf(DOMAINS[i]!).slice(-800)}`);
    const { stdout } = await run('pgrep', ['-f', `cometbft start --home ${net}`]).catch(() => ({ stdout: '' }));
    assert.equal(stdout.trim(), '', 'no validator outlives its controller');
  });
});
