/**
 * The kernel lab itself: a guest boots, runs the command with the host's
 * files, reports its status and output, carries ESP (AES-GCM) between two
 * namespaces, and a hung guest is killed and reported with its console.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labAvailable, runInLab } from './kernel-lab.js';

const isRoot = process.getuid?.() === 0;
const avail = labAvailable();
const skip = !isRoot ? 'needs root' : avail.ok ? false : `kernel lab not built: ${avail.reason}`;

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

test('the lab boots Debian 6.1, runs node from the host, reports status and output', { skip, timeout: 300_000 }, async () => {
  const r = await runInLab(['sh', '-c', 'uname -r; node -e "console.log(process.versions.node)"; exit 7'], { timeoutMs: 240_000 });
  assert.equal(r.timedOut, false, r.console.slice(-2000));
  assert.equal(r.exitCode, 7);
  const [release, nodeVersion] = r.output.trim().split('\n');
  assert.match(release!, /^6\.1\./);
  assert.equal(nodeVersion, process.versions.node);
  assert.ok(r.bootMs > 0 && r.bootMs < r.durationMs);
  process.stdout.write(`# lab: boot ${r.bootMs} ms, total ${r.durationMs} ms\n`);
});

test('ESP with rfc4106(gcm(aes)) carries a ping between two namespaces in the lab', { skip, timeout: 300_000 }, async () => {
  const r = await runInLab(['sh', '-c', ESP_PING], { timeoutMs: 240_000 });
  assert.equal(r.exitCode, 0, r.output + r.console.slice(-2000));
  assert.match(r.output, /3 received/);
  // The receiving side's inbound SA counted the three echo requests.
  assert.match(r.output, /spi 0x00000100[^]*?lifetime current:\s*\n\s*\d+\(bytes\), 3\(packets\)/);
});

test('a hung guest is killed at the timeout and reported with its console', { skip, timeout: 300_000 }, async () => {
  const r = await runInLab(['sleep', '1000'], { timeoutMs: 25_000 });
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, null);
  assert.match(r.console, /lab: kernel 6\.1\.\S+ ready/);
});
