/**
 * The kernel lab itself, on each kernel it boots: the guest runs the named
 * kernel, runs the command with the host's files (node included), reports
 * its status and output, has bpffs, and carries ESP (AES-GCM) between two
 * namespaces. A hung guest is killed and reported with its console.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAB_KERNELS, LAB_KERNEL_SOURCE, LabError, labAvailable, labKernelRelease, panicLine, parseLabKernel, runInLab, selectedLabKernels, type LabKernel } from '../../lab/kernel-lab.js';

const isRoot = process.getuid?.() === 0;
const skipFor = (kernel: LabKernel): string | false => {
  if (!isRoot) return 'needs root';
  if (!selectedLabKernels().includes(kernel)) return `ESFC_LAB_KERNELS=${process.env.ESFC_LAB_KERNELS ?? ''} leaves ${kernel} out`;
  const avail = labAvailable(kernel);
  return avail.ok ? false : `kernel lab not built: ${avail.reason}`;
};
const escape = (s: string): string => s.replace(/[.+*?^$()[\]{}|\\]/g, '\\$&');

// Two namespaces joined by a veth, an ESP tunnel with AES-GCM-128 both ways, a ping through it.
const ESP_PING = `
set -e
ip netns add a; ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a addr add 10.9.0.1/24 dev va; ip -n a link set va up; ip -n a link set lo up
ip -n b addr add 10.9.0.2/24 dev vb; ip -n b link set vb up; ip -n b link set lo up
K=0x0102030405060708090a0b0c0d0e0f1011121314
for ns in a b; do
  ip -n $ns xfrm state add src 10.9.0.1 dst 10.9.0.2 proto esp spi 0x100 reqid 1 mode tunnel aead 'rfc4106(gcm(aes))' $K 128
  ip -n $ns xfrm state add src 10.9.0.2 dst 10.9.0.1 proto esp spi 0x200 reqid 2 mode tunnel aead 'rfc4106(gcm(aes))' $K 128
done
ip -n a xfrm policy add src 10.9.0.1 dst 10.9.0.2 dir out tmpl src 10.9.0.1 dst 10.9.0.2 proto esp reqid 1 mode tunnel
ip -n b xfrm policy add src 10.9.0.2 dst 10.9.0.1 dir out tmpl src 10.9.0.2 dst 10.9.0.1 proto esp reqid 2 mode tunnel
# Without an inbound policy the kernel rejects what a tunnel-mode SA decrypted (XfrmInNoPols).
ip -n b xfrm policy add src 10.9.0.1 dst 10.9.0.2 dir in tmpl src 10.9.0.1 dst 10.9.0.2 proto esp reqid 1 mode tunnel
ip -n a xfrm policy add src 10.9.0.2 dst 10.9.0.1 dir in tmpl src 10.9.0.2 dst 10.9.0.1 proto esp reqid 2 mode tunnel
ip netns exec a ping -c 3 -i 0.2 -W 5 10.9.0.2
ip -n b -s xfrm state
`;

// What the guest says about itself, one fact per line.
const FACTS = [
  'uname -r',
  'node -e "console.log(process.versions.node)"',
  "grep -c ' /sys/fs/bpf bpf ' /proc/mounts",
  'exit 7',
].join('; ');

test('a kernel series is named 6.1 or 6.12; anything else is refused with the choices', () => {
  assert.equal(parseLabKernel('6.12'), '6.12');
  assert.throws(() => parseLabKernel('5.10'), (e: unknown) => e instanceof LabError && /use one of 6\.1, 6\.12/.test(e.message));
});

for (const kernel of LAB_KERNELS) {
  const skip = skipFor(kernel);
  const release = skip === false ? labKernelRelease(kernel) : kernel;
  const name = `${LAB_KERNEL_SOURCE[kernel]}'s ${release}`;

  test(`the lab boots ${name}, runs node from the host with bpffs mounted, reports status and output`, { skip, timeout: 300_000 }, async (t) => {
    const r = await runInLab(['sh', '-c', FACTS], { kernel, timeoutMs: 240_000 });
    assert.equal(r.timedOut, false, r.console.slice(-2000));
    assert.equal(r.exitCode, 7, r.output + r.console.slice(-2000));
    const [uname, nodeVersion, bpffs] = r.output.trim().split('\n');
    assert.equal(r.kernel, kernel);
    assert.equal(uname, r.release);
    assert.match(uname!, new RegExp(`^${escape(kernel)}\\.`));
    assert.equal(nodeVersion, process.versions.node);
    assert.equal(bpffs, '1', 'bpffs is mounted at /sys/fs/bpf');
    assert.match(r.console, new RegExp(`lab: kernel ${escape(r.release)} ready`));
    assert.ok(r.bootMs > 0 && r.bootMs < r.durationMs);
    t.diagnostic(`lab ${r.release}: boot ${r.bootMs} ms, total ${r.durationMs} ms${r.bootPanics.length ? `; booted again after: ${r.bootPanics.join(' | ')}` : ''}`);
  });

  test(`ESP with rfc4106(gcm(aes)) carries a ping between two namespaces under ${name}`, { skip, timeout: 300_000 }, async () => {
    const r = await runInLab(['sh', '-c', ESP_PING], { kernel, timeoutMs: 240_000 });
    assert.equal(r.exitCode, 0, r.output + r.console.slice(-2000));
    assert.match(r.output, /3 received/);
    // The receiving side's inbound SA counted the three echo requests.
    assert.match(r.output, /spi 0x00000100[^]*?lifetime current:\s*\n\s*\d+\(bytes\), 3\(packets\)/);
  });
}

test('a console that ends in a panic is named by its first BUG or oops, else by the panic; a clean one is not', () => {
  // Abridged from a boot of 6.12 under TCG that died in devtmpfs before the job started.
  const died = [
    '[    1.63] BUG: kernel NULL pointer dereference, address: 0000000000000008',
    '[    1.63] Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI',
    '[    1.63] RIP: 0010:sched_clock_cpu+0x9/0x1d0',
    '[    1.63] Kernel panic - not syncing: Fatal exception in interrupt',
  ].join('\n');
  assert.equal(panicLine(died), 'BUG: kernel NULL pointer dereference, address: 0000000000000008');
  assert.equal(panicLine('[ 0.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)'),
    'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
  // An oops the kernel survived is no reason to boot again; neither is a clean boot.
  assert.equal(panicLine('[ 2.1] BUG: scheduling while atomic\nlab: kernel 6.1.0 ready'), undefined);
  assert.equal(panicLine('lab: kernel 6.1.0-57-amd64 ready'), undefined);
});

// The runner's own behaviour: once, on the first kernel there is.
const anyKernel = selectedLabKernels()[0] ?? '6.1';

test('a guest that panics before the job starts is booted again, up to bootAttempts, and each panic is named', { skip: skipFor(anyKernel), timeout: 300_000 }, async () => {
  // No /init to run: the kernel panics looking for a root filesystem, every time, before the job.
  const r = await runInLab(['true'], { kernel: anyKernel, timeoutMs: 240_000, bootAttempts: 2, append: ['rdinit=/nonexistent'] });
  assert.equal(r.timedOut, false, r.console.slice(-2000));
  assert.equal(r.exitCode, null, 'the job never ran');
  assert.equal(r.bootPanics.length, 1, r.console.slice(-3000));
  assert.match(r.bootPanics[0]!, /Kernel panic - not syncing/);
  assert.match(r.console, /\[lab\] boot 1 panicked before the job started: Kernel panic[^]*\[lab\] boot 2\n[^]*Kernel panic - not syncing/);
  assert.equal(r.bootMs, 0);
});

test('a hung guest is killed at the timeout and reported with its console', { skip: skipFor(anyKernel), timeout: 300_000 }, async () => {
  const r = await runInLab(['sleep', '1000'], { kernel: anyKernel, timeoutMs: 25_000 });
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, null);
  assert.match(r.console, new RegExp(`lab: kernel ${escape(r.release)} ready`));
});
