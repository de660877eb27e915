/**
 * The slow path on live veths (not BPF_PROG_TEST_RUN): the agent attaches the
 * datapath on an SF port and on the punt port, a frame the fast path cannot
 * handle reaches the far end of the punt veth (where BMv2 sits) behind the
 * slow-path header, and a slow-path frame sent from there leaves through the
 * port it names, header removed. Here the real skb is grown and shrunk, and
 * the redirected frame passes a veth's transmit (tcx on 6.6+, cls_bpf before).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { validateConfig } from '../../agent/config/validate-config.js';
import { compile } from '../../agent/datapath/compile.js';
import { planMaps } from '../../agent/datapath/plan.js';
import { applyOps, readGenerations, writeState } from '../../agent/datapath/tables.js';
import { KernelDatapath, readCounters, removeDatapath } from '../../agent/datapath/kernel-datapath.js';
import { MapName, STAT_MAX, STAT_PUNT, STAT_SLOW_PATH } from '../../agent/datapath/layout.js';
import { listLinks } from '../../agent/node/links.js';
import { enterPrivateNetns } from '../lib/private-netns.js';
import { sh } from '../../scenario/sh.js';
import { eth, ipv4, nsh, udp } from '../../scenario/frames.js';

const isRoot = process.getuid?.() === 0;
const run = promisify(execFile);
const PIN = `/sys/fs/bpf/esfc-test-slowpath-${process.pid}`;
const MAC = { nsf: '02:00:00:00:5a:01', nsfPeer: '02:00:00:00:5a:02', punt: '02:00:00:00:5b:01', puntPeer: '02:00:00:00:5b:02' };

/** The slow-path header as docs/protocol.md specifies it, built here. */
const spHdr = (ifindex: number): Buffer => {
  const h = Buffer.from('02e5fc00000002e5fc00000088b500000000', 'hex');
  h.writeUInt32BE(ifindex, 14);
  return h;
};

/*
 * Sends `frame` out of one interface (AF_PACKET) and prints, one hex line
 * each, the frames that arrive at another within `ms` (IPv6 neighbour
 * discovery of the freshly-up links skipped).
 */
const EXCHANGE = `
import select, socket, sys, time
tx, rx, frame, ms = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
r.bind((rx, 0))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((tx, 0))
s.send(frame)
end = time.time() + ms / 1000
while time.time() < end:
    ready, _, _ = select.select([r], [], [], 0.05)
    if not ready:
        continue
    data, addr = r.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING or data[12:14] == b'\\x86\\xdd':
        continue
    print(data.hex())
`;

async function exchange(tx: string, rx: string, frame: Buffer, ms = 500): Promise<string[]> {
  const { stdout } = await run('python3', ['-c', EXCHANGE, tx, rx, frame.toString('hex'), String(ms)]);
  return stdout.split('\n').filter(Boolean);
}

describe('slow path on live veths', { skip: isRoot ? false : 'needs root (a private network namespace, BPF, AF_PACKET)' }, () => {
  let dp: KernelDatapath | undefined;
  const ifindex = new Map<string, number>();
  const slotOf = new Map<string, number>();

  before(async () => {
    enterPrivateNetns();
    await sh(['ip', 'link', 'add', 'nsf', 'address', MAC.nsf, 'type', 'veth', 'peer', 'name', 'nsf-p', 'address', MAC.nsfPeer]);
    // The punt veth carries 18 bytes more than the widest port.
    await sh(['ip', 'link', 'add', 'punt0', 'mtu', '1518', 'address', MAC.punt, 'type', 'veth', 'peer', 'name', 'punt0-p', 'mtu', '1518', 'address', MAC.puntPeer]);
    for (const l of ['nsf', 'nsf-p', 'punt0', 'punt0-p']) await sh(['ip', 'link', 'set', l, 'up']);
    const config = validateConfig({
      apiVersion: 'esfc.io/v1alpha1',
      node: { name: 'slowpath-test', pinDir: PIN },
      peers: [],
      ports: [
        { name: 'nsf', interface: 'nsf', kind: 'sf', function: 'nsf1', peerMac: MAC.nsfPeer },
        { name: 'punt', interface: 'punt0', kind: 'punt' },
      ],
      paths: [{ spi: 9, hops: [{ si: 255, to: { port: 'nsf' } }] }],
      classifier: [],
    });
    const links = await listLinks();
    for (const [n, l] of links) ifindex.set(n, l.ifindex);
    dp = KernelDatapath.open(PIN, 'slowpath-test');
    const desired = compile(config, { links, peerMacs: new Map(), existingSlots: new Map() });
    assert.deepEqual(desired.warnings, []);
    applyOps(dp.maps, planMaps(desired, readGenerations(dp.maps)[1]!, 1));
    writeState(dp.maps, { active: 1, generation: 1n });
    for (const a of desired.attachments) dp.attach(a);
    assert.deepEqual(dp.attachments().map((a) => `${a.ifname}/${a.hook}`).sort(), ['nsf/tc', 'punt0/tc']);
    for (const [slot, name] of desired.slotNames) slotOf.set(name, slot);
  });

  after(() => {
    dp?.close();
    try { removeDatapath(PIN, 'slowpath-test'); } catch { rmSync(PIN, { recursive: true, force: true }); }
  });

  const packets = (port: string, stat: number): bigint =>
    readCounters(dp!.maps[MapName.counters] as never).get(slotOf.get(port)! * STAT_MAX + stat)?.packets ?? 0n;
  const payload = (n: number): Buffer => ipv4({ src: '172.16.1.1', dst: '172.16.2.1', proto: 17 }, udp(4000, 5000, Buffer.alloc(n, 0x5a)));

  test('an NSH frame the fast path cannot handle (unknown MD type) reaches BMv2\'s end of the punt veth behind the header, unchanged', async () => {
    const f = Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254, mdType: 5, lengthWords: 2 }), payload(64)]);
    const before = packets('nsf', STAT_PUNT);
    const got = await exchange('nsf-p', 'punt0-p', f);
    assert.deepEqual(got, [Buffer.concat([spHdr(ifindex.get('nsf')!), f]).toString('hex')]);
    assert.equal(packets('nsf', STAT_PUNT), before + 1n);
  });

  test('a full-size frame is punted too (the punt veth has the room)', async () => {
    const f = Buffer.concat([eth(MAC.nsf, MAC.nsfPeer, 0x894f), nsh({ spi: 9, si: 254, mdType: 5, lengthWords: 2 }), payload(1500 - 8 - 28)]);
    assert.equal(f.length, 1514);
    const got = await exchange('nsf-p', 'punt0-p', f);
    assert.deepEqual(got, [Buffer.concat([spHdr(ifindex.get('nsf')!), f]).toString('hex')]);
  });

  for (const size of [64, 1400]) {
    test(`a slow-path frame from BMv2 (${size}-byte payload) leaves through the port it names, header removed`, async () => {
      const f = Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 9, si: 255, ttl: 9 }), payload(size)]);
      const before = packets('punt', STAT_SLOW_PATH);
      const got = await exchange('punt0-p', 'nsf-p', Buffer.concat([spHdr(ifindex.get('nsf')!), f]));
      assert.deepEqual(got, [f.toString('hex')]);
      assert.equal(packets('punt', STAT_SLOW_PATH), before + 1n);
    });
  }

  test('a frame from BMv2 that names no esfc port goes nowhere', async () => {
    const f = Buffer.concat([eth(MAC.nsfPeer, MAC.nsf, 0x894f), nsh({ spi: 9, si: 255, ttl: 9 }), payload(64)]);
    assert.deepEqual(await exchange('punt0-p', 'nsf-p', Buffer.concat([spHdr(ifindex.get('nsf-p')!), f])), []);
  });
});
