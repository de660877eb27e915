/**
 * The suites that need kernel IPsec, run in the kernel lab when this kernel
 * has no ESP: once per lab kernel (Debian 12's 6.1, where the agent attaches
 * with cls_bpf, and Debian 13's 6.12, where it uses tcx), one guest boot
 * each, node's test runner inside; its result is this test's result. Where
 * the host has ESP those files run directly instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { hostHasEsp, LAB_KERNELS, LAB_KERNEL_SOURCE, labAvailable, labKernelRelease, runInLab, selectedLabKernels } from '../../lab/kernel-lab.js';

const SUITES = ['../xfrm/xfrm-netlink.test.js', '../encryption/encrypted-hops.test.js'].map((f) => fileURLToPath(new URL(f, import.meta.url)));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root' : hostHasEsp() ? 'this kernel has ESP: the suites run directly on the host' : false;
const selected = selectedLabKernels();
// The guest names its kernel first, so a log shows which run is which.
const RELEASE_TAG = 'lab kernel release: ';

for (const kernel of LAB_KERNELS) {
  const avail = labAvailable(kernel);
  const release = avail.ok ? labKernelRelease(kernel) : `${kernel} (not built)`;
  const skipThis = skip || (selected.includes(kernel) ? false : `ESFC_LAB_KERNELS=${process.env.ESFC_LAB_KERNELS ?? ''} leaves ${kernel} out`);
  test(`XFRM and encrypted-hop suites pass under ${LAB_KERNEL_SOURCE[kernel]}'s ${release} in the kernel lab (qemu TCG)`, { skip: skipThis, timeout: 30 * 60_000 }, async (t) => {
    // Not built is a failure, not a skip: setup builds both kernels, so this is a broken setup.
    assert.ok(avail.ok, avail.ok ? '' : `kernel lab not available: ${avail.reason}`);
    const prefix = `  [lab ${kernel}] `;
    // Output arrives in chunks that may end mid-line: prefix only what starts a line.
    let lineStart = true;
    const prefixed = (s: string): string => {
      const out = s.replace(/\n(?=.)/g, `\n${prefix}`);
      const head = lineStart && s !== '' ? prefix : '';
      lineStart = s.endsWith('\n');
      return head + out;
    };
    const r = await runInLab(['sh', '-c', `echo "${RELEASE_TAG}$(uname -r)"; exec "$@"`, 'sh',
      process.execPath, '--test', '--test-concurrency=1', '--test-reporter=spec', ...SUITES], {
      kernel, cwd: REPO, env: { ESFC_IN_LAB: '1' }, timeoutMs: 25 * 60_000,
      onOutput: (s) => process.stdout.write(prefixed(s)),
    });
    t.diagnostic(`lab ${kernel}: ${r.release}, ${r.timedOut ? 'timed out' : `exit ${r.exitCode}`} after ${Math.round(r.durationMs / 1000)} s`);
    for (const p of r.bootPanics) t.diagnostic(`lab ${kernel}: a boot panicked before the suites started and the guest was booted again: ${p}`);
    assert.equal(r.timedOut, false, `the guest hung; console:\n${r.console.slice(-4000)}`);
    assert.ok(r.output.startsWith(`${RELEASE_TAG}${r.release}\n`), `the guest did not boot ${r.release}:\n${r.output.slice(0, 500)}`);
    assert.equal(r.exitCode, 0, `a suite failed in the lab under ${r.release}:\n${r.output.slice(-8000)}`);
    // A test skipped in the lab proves nothing; only the host-only "no ESP" check may skip there.
    const skipped = r.output.split('\n').filter((l) => l.includes('\u{FE63}'));
    assert.deepEqual(skipped.filter((l) => !l.includes('the SA round trip runs instead')), [], 'tests skipped inside the lab');
    assert.match(r.output, /ℹ pass (1[4-9]|[2-9]\d)/);
  });
}
