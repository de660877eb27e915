/**
 * The suites that need kernel IPsec, run in the kernel lab when this kernel
 * has no ESP: one guest boot, node's test runner inside, its result is this
 * test's result. Where the host has ESP those files run directly instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { hostHasEsp, labAvailable, runInLab } from './kernel-lab.js';

const SUITES = ['../xfrm/xfrm-netlink.test.js', '../encryption/encrypted-hops.test.js'].map((f) => fileURLToPath(new URL(f, import.meta.url)));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : hostHasEsp() ? 'this kernel has ESP: the suites run directly on the host' : false;

test('XFRM and encrypted-hop suites pass under Debian\'s 6.1 kernel in the kernel lab (qemu TCG)', { skip, timeout: 50 * 60_000 }, async () => {
  const avail = labAvailable();
  assert.ok(avail.ok, avail.ok ? '' : `kernel lab not available: ${avail.reason}`);
  const r = await runInLab([process.execPath, '--test', '--test-concurrency=1', '--test-reporter=spec', ...SUITES], {
    cwd: REPO, env: { ESFC_IN_LAB: '1' }, timeoutMs: 45 * 60_000,
    onOutput: (s) => process.stdout.write(s.replace(/^(?=.)/gm, '  [lab] ')),
  });
  assert.equal(r.timedOut, false, `the guest hung; console:\n${r.console.slice(-4000)}`);
  assert.equal(r.exitCode, 0, `a suite failed in the lab:\n${r.output.slice(-8000)}`);
  // A test skipped in the lab proves nothing; only the host-only "no ESP" check may skip there.
  const skipped = r.output.split('\n').filter((l) => l.includes('\u{FE63}'));
  assert.deepEqual(skipped.filter((l) => !l.includes('the SA round trip runs instead')), [], 'tests skipped inside the lab');
  assert.match(r.output, /ℹ pass (1[4-9]|[2-9]\d)/);
});
