/**
 * 128-byte frames through one node, five ways, in one run:
 *   kernel  Linux IP forwarding (hairpin route back out the port)
 *   bare    a bare XDP program swapping MACs and XDP_TX (the ceiling)
 *   esfc-xdp / esfc-tc  the esfc agent forwarding VXLAN-GPE/NSH on (SPI, SI)
 *   esfc-p4  the same node with hook p4: the agent's BMv2 (simple_switch_grpc)
 *            is the SFF, the software switch the paper's SFFs ran on
 * The generator is BPF_PROG_RUN in XDP live-frames mode out of a veth; a
 * counting XDP sink on the same veth receives what the node sends back.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObject } from '../agent/kernel/loader.js';
import { AttachmentStore, attachXdp } from '../agent/kernel/attach.js';
import { testRunLive } from '../agent/kernel/test-run.js';
import { CONFIG_API_VERSION, type NodeConfig } from '../agent/config/types.js';
import { stateDirFor } from '../agent/datapath/kernel-datapath.js';
import { removeBmv2 } from '../agent/p4/bmv2-runtime.js';
import { eth, ipv4, nsh, udp, underlay } from '../scenario/frames.js';
import { withNetns } from '../agent/node/netns.js';
import { CLI } from '../scenario/net.js';
import { nsh as inNs, sh, spawnInNs, stopProcess, waitForLine } from '../scenario/sh.js';

export type PpsMode = 'generator' | 'kernel' | 'bare' | 'esfc-xdp' | 'esfc-tc' | 'esfc-p4';
/** `seconds`: the counting window of a paced run (esfc-p4); pps and offeredPps are over it. */
export interface PpsResult { mode: PpsMode; pps: number; offeredPps: number; frameBytes: number; seconds?: number }

/**
 * BMv2 forwards tens of kpps. A burst at the generator's rate (millions of
 * pps) would spend the shared core on packet-socket drops and starve BMv2, and
 * a fixed frame count would measure how long the generator took, not BMv2. So
 * the generator is paced at a rate above what BMv2 forwards (BMv2 stays
 * saturated), and what comes back is counted over a fixed window.
 */
export interface PacedOptions { offeredPps: number; seconds: number; warmupSeconds: number }
export const P4_PACING: PacedOptions = { offeredPps: 20_000, seconds: 5, warmupSeconds: 1 };
const TICK_MS = 5;

const BENCH_OBJ = fileURLToPath(new URL('../../bpf/build/bench_progs.o', import.meta.url));
const G_MAC = '02:00:00:00:be:01';
const N_MAC = '02:00:00:00:be:02';
const FRAME = 128;

function pad(b: Buffer): Buffer {
  return b.length >= FRAME ? b : Buffer.concat([b, Buffer.alloc(FRAME - b.length)]);
}

function plainFrame(): Buffer {
  const payload = Buffer.alloc(FRAME - 14 - 20 - 8);
  return Buffer.concat([eth(N_MAC, G_MAC, 0x0800), ipv4({ src: '10.9.0.2', dst: '10.9.1.2', proto: 17 }, udp(9, 9, payload))]);
}

/** Checksums are whole (IPv4 header summed, UDP 0): BMv2 gets the bytes as they are, no offload fixes them. */
function nshFrame(): Buffer {
  const innerLen = FRAME - 14 - 36 - 24;
  const inner = ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 17 }, udp(1000, 2000, Buffer.alloc(innerLen - 28)));
  return pad(Buffer.concat([eth(N_MAC, G_MAC, 0x0800), underlay({ src: '10.250.0.2', dst: '10.250.0.1', sport: 50000 }, Buffer.concat([nsh({ spi: 1, si: 255, ttl: 63 }), inner]))]));
}

function dutConfig(hook: 'xdp' | 'tc' | 'p4', pinDir: string): NodeConfig {
  return {
    apiVersion: CONFIG_API_VERSION,
    node: { name: 'dut', pinDir, nshTtl: 63, md3Type: 3 },
    underlay: { interface: 'n0', address: '10.250.0.1', hook },
    peers: [{ name: 'gen', address: '10.250.0.2', mac: G_MAC }],
    ports: [],
    paths: [{ spi: 1, layer: 'sf', hops: [{ si: 255, to: { node: 'gen' }, from: ['gen'] }] }],
    classifier: [], efs: [], encryptedHops: [],
  };
}

/**
 * threaded: run the node's NAPI in a kthread so it can use the other core than the
 * generator. Measured here it added cross-core noise rather than removing the
 * generator's share, so the benchmark reports the shared-core rate and subtracts
 * the generator's own cost instead.
 * `frames` is the burst of every mode but esfc-p4, which runs `paced` instead.
 */
export async function measurePps(mode: PpsMode, frames: number, threaded = false, paced: PacedOptions = P4_PACING): Promise<PpsResult> {
  const tag = `esfc-b${process.pid}`;
  const gen = `${tag}-gen`, dut = `${tag}-dut`;
  const pin = `/sys/fs/bpf/${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'esfc-pps-'));
  let agent: ReturnType<typeof spawnInNs> | undefined;
  let cfgPath: string | undefined;
  await sh(['ip', 'netns', 'add', gen]);
  await sh(['ip', 'netns', 'add', dut]);
  try {
    await sh(['ip', '-n', gen, 'link', 'add', 'g0', 'mtu', '1600', 'address', G_MAC, 'type', 'veth', 'peer', 'name', 'n0', 'netns', dut, 'address', N_MAC, 'mtu', '1600']);
    await sh(['ip', '-n', gen, 'link', 'set', 'g0', 'up']);
    await sh(['ip', '-n', dut, 'link', 'set', 'n0', 'up']);
    await sh(['ip', '-n', dut, 'link', 'set', 'lo', 'up']);
    const obj = withNetns(gen, () => loadObject(BENCH_OBJ, `${pin}/gen`, ['bench_gen', 'bench_sink', 'bench_bare_fwd'], ['bench_template', 'bench_count']));
    try {
      const g0 = ifindexOf(gen, 'g0');
      withNetns(gen, () => attachXdp(new AttachmentStore(`${pin}/gen/links`, join(dir, 'gen')), obj.programs.get('bench_sink')!, 'g0', g0));
      const frame = mode === 'kernel' || mode === 'bare' ? plainFrame() : nshFrame();
      obj.maps.get('bench_template')!.update(Buffer.alloc(4), pad(frame));
      // 'generator': the node drops at XDP; the sink on g0 counts nothing, the offered rate is the ceiling.

      if (mode === 'kernel') {
        await inNs(dut, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.n0.send_redirects=0']);
        await sh(['ip', '-n', dut, 'addr', 'add', '10.9.0.1/24', 'dev', 'n0']);
        await sh(['ip', '-n', dut, 'neigh', 'add', '10.9.0.2', 'lladdr', G_MAC, 'dev', 'n0']);
        await sh(['ip', '-n', dut, 'route', 'add', '10.9.1.0/24', 'via', '10.9.0.2']);
      }
      // BMv2 reads n0 with a packet socket, so the kernel gets a copy of every frame too; the
      // agent absorbs the VXLAN-GPE copies with a UDP socket bound to the underlay address,
      // which must therefore exist here (the eBPF modes consume frames before the stack).
      if (mode === 'esfc-p4') await sh(['ip', '-n', dut, 'addr', 'add', '10.250.0.1/24', 'dev', 'n0']);
      // Frames XDP_TX'd into a veth need NAPI on the receiving side: an XDP program or GRO
      // (which merges none of these: UDP to no GRO-enabled socket).
      if (mode === 'kernel' || mode === 'esfc-tc' || mode === 'esfc-p4') await inNs(dut, ['ethtool', '-K', 'n0', 'gro', 'on']);
      if (mode === 'generator') {
        const n0 = ifindexOf(dut, 'n0');
        withNetns(dut, () => attachXdp(new AttachmentStore(`${pin}/dut/links`, join(dir, 'dut')), obj.programs.get('bench_sink')!, 'n0', n0));
      }
      if (mode === 'bare') {
        const n0 = ifindexOf(dut, 'n0');
        withNetns(dut, () => attachXdp(new AttachmentStore(`${pin}/dut/links`, join(dir, 'dut')), obj.programs.get('bench_bare_fwd')!, 'n0', n0));
      }
      if (mode === 'esfc-xdp' || mode === 'esfc-tc' || mode === 'esfc-p4') {
        cfgPath = join(dir, 'dut.json');
        writeFileSync(cfgPath, JSON.stringify(dutConfig(mode === 'esfc-xdp' ? 'xdp' : mode === 'esfc-tc' ? 'tc' : 'p4', `${pin}/esfc`)));
        agent = spawnInNs(dut, [process.execPath, CLI, 'agent', '--config', cfgPath, '--metrics-port', '0']);
        // A p4 node starts BMv2 and pushes the program over P4Runtime before it is ready.
        await waitForLine(agent, (l) => l.includes('agent_ready'), mode === 'esfc-p4' ? 60_000 : 30_000);
      }

      // Threaded NAPI (possible once NAPI is on: XDP attached or GRO) lets the node
      // under test run on the other core than the generator, so the rate measured
      // is the node's rather than generator + node on one core.
      if (threaded) {
        await sh(['ip', 'netns', 'exec', dut, 'sh', '-c', 'echo 1 > /sys/class/net/n0/threaded']);
        await sh(['ip', 'netns', 'exec', gen, 'sh', '-c', 'echo 1 > /sys/class/net/g0/threaded']);
      }
      const count = (): bigint => obj.maps.get('bench_count')!.lookupPerCpu(Buffer.alloc(4)).reduce((a, b) => a + b.readBigUInt64LE(0), 0n);
      if (mode === 'esfc-p4') {
        const r = await pacedRun((n) => withNetns(gen, () => testRunLive(obj.programs.get('bench_gen')!, pad(frame), g0, n)), count, paced);
        if (r.returned === 0) throw new Error(`pps ${mode}: BMv2 returned no frame of ${r.sent} in ${f1(r.secs)} s; read its counters (esfc agent status) and its log (${stateDirFor(`${pin}/esfc`)}/bmv2/bmv2.log)`);
        return { mode, pps: r.returned / r.secs, offeredPps: r.sent / r.secs, frameBytes: FRAME, seconds: r.secs };
      }
      withNetns(gen, () => testRunLive(obj.programs.get('bench_gen')!, pad(frame), g0, 200_000));
      await new Promise((r) => setTimeout(r, 100));
      const c0 = count();
      const t0 = process.hrtime.bigint();
      withNetns(gen, () => testRunLive(obj.programs.get('bench_gen')!, pad(frame), g0, frames));
      const t1 = process.hrtime.bigint();
      await new Promise((r) => setTimeout(r, 100));
      const c1 = count();
      const secs = Number(t1 - t0) / 1e9;
      // A node that forwards nothing is a broken setup, not a data point.
      if (mode !== 'generator' && c1 === c0) throw new Error(`pps ${mode}: the node returned no frame of ${frames}; read its drop counters (esfc agent status)`);
      return { mode, pps: mode === 'generator' ? frames / secs : Number(c1 - c0) / secs, offeredPps: frames / secs, frameBytes: FRAME };
    } finally {
      obj.close();
    }
  } finally {
    if (agent) await stopProcess(agent);
    // BMv2 runs detached from the agent and outlives it: uninstall is what stops it.
    if (mode === 'esfc-p4' && cfgPath) {
      await inNs(dut, [process.execPath, CLI, 'agent', '--uninstall', '--config', cfgPath]).catch(() => undefined);
      await removeBmv2(stateDirFor(`${pin}/esfc`)).catch(() => false);
    }
    await sh(['ip', 'netns', 'del', gen]).catch(() => undefined);
    await sh(['ip', 'netns', 'del', dut]).catch(() => undefined);
    rmSync(pin, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    rmSync(`/run/esfc/${tag}_esfc`, { recursive: true, force: true });
  }
}

const f1 = (x: number): string => x.toFixed(1);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends at `offeredPps` in ticks of TICK_MS (each tick sends the frames owed
 * since the start, so a late timer catches up), and reads the sink's count at
 * the start and at the end of a window opened after the warm-up: frames still
 * queued in BMv2 when the window closes are not counted, and the queues are
 * already full when it opens. Returns what came back and what was sent in the window.
 */
async function pacedRun(send: (n: number) => void, count: () => bigint, o: PacedOptions): Promise<{ returned: number; sent: number; secs: number }> {
  const start = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
  let sent = 0;
  let window: { c0: bigint; t0: number; s0: number } | undefined;
  for (;;) {
    const now = elapsed();
    if (!window && now >= o.warmupSeconds) window = { c0: count(), t0: now, s0: sent };
    if (window && now - window.t0 >= o.seconds) {
      return { returned: Number(count() - window.c0), sent: sent - window.s0, secs: now - window.t0 };
    }
    const owed = Math.floor(now * o.offeredPps) - sent;
    if (owed > 0) {
      send(owed);
      sent += owed;
    }
    await sleep(TICK_MS);
  }
}

function ifindexOf(ns: string, ifname: string): number {
  const out = execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname], { encoding: 'utf8' });
  return (JSON.parse(out) as { ifindex: number }[])[0]!.ifindex;
}
