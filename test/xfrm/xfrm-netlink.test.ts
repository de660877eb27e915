/**
 * XfrmClient against the running kernel, inside a private network namespace
 * made for this test, with `ip -s xfrm` as the independent reader of what
 * was installed. Policies work on every kernel with XFRM_USER. SAs need ESP
 * and GCM: on the build machines (no ESP) adding one must fail with a clear
 * XfrmError, and the SA round trip runs in the kernel lab instead:
 *   node dist/lab/run.js -- node --test dist/test/xfrm/xfrm-netlink.test.js
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sh, nsh } from '../../scenario/sh.js';
import { XfrmClient } from '../../agent/xfrm/xfrm-client.js';
import { XfrmError } from '../../agent/xfrm/xfrm-errors.js';
import type { Policy, PolicySpec, Sa, SaSpec } from '../../agent/xfrm/xfrm-types.js';

const isRoot = process.getuid?.() === 0;
const ns = `esfc-x${process.pid}`;
const nsPath = `/run/netns/${ns}`;

/** A refusal that means "this kernel has no ESP or no AES-GCM" rather than "the request is wrong". */
const NO_ESP_ERRNOS = ['ENOSYS', 'EPROTONOSUPPORT', 'ENOENT'];

// --- reading `ip -s xfrm` ------------------------------------------------------------------------

const PROTOS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, sctp: 132 };
const num = (s: string): number => Number(s); // "0x5" and "5" alike

/** Objects start at an unindented "src ..." line. */
const blocks = (text: string): string[] => text.split(/^(?=src )/m).map((b) => b.trim()).filter(Boolean);

function match(block: string, re: RegExp, what: string): RegExpExecArray {
  const m = re.exec(block);
  assert.ok(m, `\`ip -s xfrm\` shows no ${what} in:\n${block}`);
  return m;
}

interface IpPolicy {
  src: string; dst: string; proto?: number; dport?: number; sport?: number; dir: string; action: string; index: number; priority: number;
  mark?: { value: number; mask: number }; ifId?: number;
  templates: { src: string; dst: string; spi: number; reqid: number; mode: string }[];
}

function parseIpPolicy(b: string): IpPolicy {
  const head = match(b, /^src (\S+) dst (\S+)(.*)$/m, 'selector');
  const d = match(b, /dir (\w+) action (\w+) index (\d+) priority (\d+)/, 'dir/action/index/priority');
  const p: IpPolicy = {
    src: head[1]!, dst: head[2]!, dir: d[1]!, action: d[2]!, index: num(d[3]!), priority: num(d[4]!),
    templates: [...b.matchAll(/tmpl src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)\S* reqid (\d+)\S* mode (\w+)/g)]
      .map((t) => ({ src: t[1]!, dst: t[2]!, spi: num(t[3]!), reqid: num(t[4]!), mode: t[5]! })),
  };
  const proto = / proto (\S+)/.exec(head[3]!)?.[1];
  if (proto) p.proto = PROTOS[proto] ?? num(proto);
  const dport = / dport (\d+)/.exec(head[3]!)?.[1];
  if (dport) p.dport = num(dport);
  const sport = / sport (\d+)/.exec(head[3]!)?.[1];
  if (sport) p.sport = num(sport);
  const mark = /^\s*mark (\S+)\/(\S+)/m.exec(b);
  if (mark) p.mark = { value: num(mark[1]!), mask: num(mark[2]!) };
  const ifId = /^\s*if_id (\S+)/m.exec(b);
  if (ifId) p.ifId = num(ifId[1]!);
  return p;
}

async function ipPolicies(): Promise<IpPolicy[]> {
  return blocks(await nsh(ns, ['ip', '-s', 'xfrm', 'policy'])).map(parseIpPolicy);
}

function assertSamePolicy(ours: Policy, ip: IpPolicy | undefined, label: string): void {
  assert.ok(ip, `${label}: \`ip xfrm policy\` does not show it`);
  const t = ours.templates.map((x) => ({ src: x.src, dst: x.dst, spi: x.spi ?? 0, reqid: x.reqid, mode: x.mode }));
  const fromOurs = {
    src: ours.selector.src, dst: ours.selector.dst, proto: ours.selector.proto, dport: ours.selector.dport, sport: ours.selector.sport,
    dir: ours.dir, action: ours.action, index: ours.index, priority: ours.priority, mark: ours.mark, ifId: ours.ifId, templates: t,
  };
  const fromIp = { proto: undefined, dport: undefined, sport: undefined, mark: undefined, ifId: undefined, ...ip };
  assert.deepEqual(fromOurs, fromIp, label);
}

interface IpSa {
  src: string; dst: string; spi: number; reqid: number; mode: string; flags: number; replayWindow: number;
  aead: { name: string; key: string; icvBits: number }; mark?: { value: number; mask: number }; ifId?: number;
  limits: { softBytes: string; hardBytes: string; softPackets: string; hardPackets: string; softSeconds: number; hardSeconds: number };
  selector?: { src: string; dst: string };
}

function parseIpSa(b: string): IpSa {
  const head = match(b, /^src (\S+) dst (\S+)/m, 'endpoints');
  const id = match(b, /proto esp spi (0x[0-9a-f]+)\S* reqid (\d+)\S* mode (\w+)/, 'spi/reqid/mode');
  // -s prints the flag byte as bits: "(0x10000000)" is 0x80, ESN.
  const flags = match(b, /replay-window (\d+) .*\(0x([01]{8})\)/, 'replay-window and flag bits (needs -s)');
  const esnWindow = /replay_window (\d+), bitmap-length \d+/.exec(b)?.[1];
  const aead = match(b, /aead (\S+) 0x([0-9a-f]+)(?: \(\d+ bits\))? (\d+)/, 'aead');
  const bytes = match(b, /limit: soft (\S+)\(bytes\), hard (\S+)\(bytes\)/, 'byte limits');
  const packets = match(b, /limit: soft (\S+)\(packets\), hard (\S+)\(packets\)/, 'packet limits');
  const secs = match(b, /expire add: soft (\d+)\(sec\), hard (\d+)\(sec\)/, 'add expiry');
  const sa: IpSa = {
    src: head[1]!, dst: head[2]!, spi: num(id[1]!), reqid: num(id[2]!), mode: id[3]!, flags: parseInt(flags[2]!, 2),
    replayWindow: num(esnWindow ?? flags[1]!), aead: { name: aead[1]!, key: aead[2]!, icvBits: num(aead[3]!) },
    limits: { softBytes: bytes[1]!, hardBytes: bytes[2]!, softPackets: packets[1]!, hardPackets: packets[2]!, softSeconds: num(secs[1]!), hardSeconds: num(secs[2]!) },
  };
  const mark = /^\s*mark (\S+)\/(\S+)/m.exec(b);
  if (mark) sa.mark = { value: num(mark[1]!), mask: num(mark[2]!) };
  const ifId = /^\s*if_id (\S+)/m.exec(b);
  if (ifId) sa.ifId = num(ifId[1]!);
  const sel = /^\s*sel src (\S+) dst (\S+)/m.exec(b);
  if (sel) sa.selector = { src: sel[1]!, dst: sel[2]! };
  return sa;
}

async function ipSas(): Promise<IpSa[]> {
  return blocks(await nsh(ns, ['ip', '-s', 'xfrm', 'state'])).map(parseIpSa);
}

const limit = (v: bigint | number | undefined): string => (v ? String(v) : '(INF)');

function assertSameSa(ours: Sa, ip: IpSa | undefined, label: string): void {
  assert.ok(ip, `${label}: \`ip xfrm state\` does not show it`);
  const lt = ours.lifetime ?? {};
  assert.deepEqual({
    src: ours.src, dst: ours.dst, spi: ours.spi, reqid: ours.reqid, mode: ours.mode, esn: ours.esn, replayWindow: ours.replayWindow,
    aead: { name: ours.aead.name, key: ours.aead.key.toString('hex'), icvBits: ours.aead.icvBits }, mark: ours.mark, ifId: ours.ifId,
    limits: {
      softBytes: limit(lt.softBytes), hardBytes: limit(lt.hardBytes), softPackets: limit(lt.softPackets), hardPackets: limit(lt.hardPackets),
      softSeconds: lt.softSeconds ?? 0, hardSeconds: lt.hardSeconds ?? 0,
    },
    selector: { src: ours.selector.src, dst: ours.selector.dst },
  }, {
    src: ip.src, dst: ip.dst, spi: ip.spi, reqid: ip.reqid, mode: ip.mode, esn: (ip.flags & 0x80) !== 0, replayWindow: ip.replayWindow,
    aead: ip.aead, mark: ip.mark, ifId: ip.ifId, limits: ip.limits, selector: ip.selector,
  }, label);
}

// --- fixtures -------------------------------------------------------------------------------------

const tunnel = { src: '192.0.2.1', dst: '192.0.2.2', proto: 'esp' as const, mode: 'tunnel' as const, reqid: 0x51 };
const mark = { value: 0x5a01, mask: 0xffff };
const outPolicy: PolicySpec = {
  dir: 'out', selector: { src: '10.1.0.0/16', dst: '10.2.0.0/16' }, priority: 100, action: 'allow', mark, templates: [tunnel],
};
const inPolicy: PolicySpec = {
  dir: 'in', selector: { src: '10.2.0.0/16', dst: '10.1.0.0/16', proto: 17, dport: 6081 }, priority: 200, action: 'allow', mark,
  templates: [{ ...tunnel, src: tunnel.dst, dst: tunnel.src }],
};
const fwdPolicy: PolicySpec = {
  dir: 'fwd', selector: { src: '10.3.0.0/24', dst: '10.4.0.0/24' }, priority: 300, action: 'block', ifId: 7, templates: [],
};

const aead = (hex: string) => ({ name: 'rfc4106(gcm(aes))' as const, key: Buffer.from(hex, 'hex'), icvBits: 128 as const });
const sa128: SaSpec = {
  src: '192.0.2.1', dst: '192.0.2.2', spi: 0x1001, proto: 'esp', mode: 'tunnel', reqid: 0x51,
  aead: aead('00112233445566778899aabbccddeeff01020304'), replayWindow: 128, esn: true, mark, ifId: 7,
  lifetime: { softSeconds: 3000, hardSeconds: 3600, softBytes: 1n << 40n, hardBytes: 1n << 41n, softPackets: 1_000_000n, hardPackets: 2_000_000n },
  selector: { src: '10.1.0.0/16', dst: '10.2.0.0/16' },
};
const sa256: SaSpec = {
  src: '192.0.2.2', dst: '192.0.2.1', spi: 0x1002, proto: 'esp', mode: 'tunnel', reqid: 0x52,
  aead: aead('ffeeddccbbaa99887766554433221100ffeeddccbbaa9988776655443322110005060708'), replayWindow: 32, esn: false,
  flags: ['noecn', 'decap-dscp'], extraFlags: ['dont-encap-dscp'],
};
const saWide: SaSpec = {
  src: '192.0.2.2', dst: '192.0.2.1', spi: 0x1003, proto: 'esp', mode: 'transport', reqid: 0x52, aead: sa256.aead, replayWindow: 1024, esn: false,
  selector: { src: '192.0.2.2/32', dst: '192.0.2.1/32' },
};

const idOf = (s: SaSpec) => ({ dst: s.dst, spi: s.spi, proto: 'esp' as const, ...(s.mark ? { mark: s.mark } : {}) });
/** An SA without the kernel's running state: what was asked for. */
function specOf(s: Sa): Partial<Sa> {
  const o: Partial<Sa> = { ...s };
  for (const k of ['curlft', 'stats', 'seq', 'oseq', 'replay'] as const) delete o[k];
  return o;
}

function assertXfrmError(f: () => unknown, errnoName: string, op: RegExp): XfrmError {
  let caught: unknown;
  try { f(); } catch (e) { caught = e; }
  assert.ok(caught instanceof XfrmError, `expected an XfrmError ${errnoName}, got ${String(caught)}`);
  assert.equal(caught.errnoName, errnoName, caught.message);
  assert.match(caught.message, op);
  assert.ok(caught.message.includes(`${errnoName} (${caught.description})`), caught.message);
  return caught;
}

// --- the tests ------------------------------------------------------------------------------------

describe('XFRM over NETLINK_XFRM, in a private network namespace', { skip: isRoot ? false : 'needs root (network namespaces, XFRM)' }, () => {
  let x: XfrmClient | undefined;
  /** Set when adding an ESP SA failed the way a kernel without ESP/GCM fails. */
  let noEsp: XfrmError | undefined;
  const client = (): XfrmClient => { assert.ok(x, 'no client: before() failed'); return x; };

  before(async () => {
    await sh(['ip', 'netns', 'add', ns]);
    x = XfrmClient.open({ netns: nsPath });
    const probe: SaSpec = { ...sa256, spi: 0xfff1 };
    try {
      x.addSa(probe);
      x.deleteSa(idOf(probe));
    } catch (e) {
      if (!(e instanceof XfrmError && NO_ESP_ERRNOS.includes(e.errnoName))) throw e;
      noEsp = e;
    }
  });

  after(async () => {
    x?.close();
    await sh(['ip', 'netns', 'del', ns]).catch((e: unknown) => console.error(`could not delete netns ${ns}: ${String(e)}`));
  });

  test('policies out, in and fwd (mark, tunnel template, ports, if_id, block) list and get as `ip -s xfrm policy` shows them', async () => {
    const c = client();
    for (const p of [outPolicy, inPolicy, fwdPolicy]) c.addPolicy(p);
    const listed = c.listPolicies();
    assert.equal(listed.length, 3);
    const ip = await ipPolicies();
    for (const p of [outPolicy, inPolicy, fwdPolicy]) {
      const ours = listed.find((l) => l.dir === p.dir)!;
      const { index, curlft, ...spec } = ours;
      assert.deepEqual(spec, p, `${p.dir}: decoded as installed`);
      assert.ok(index > 0 && (index & 7) === ['in', 'out', 'fwd'].indexOf(p.dir), `${p.dir}: the kernel's index ${index} carries the direction`);
      assert.ok(curlft.addTime > 0, `${p.dir}: the kernel stamped its add time`);
      assertSamePolicy(ours, ip.find((i) => i.index === index), p.dir);
      const bySelector = c.getPolicy({ dir: p.dir, selector: p.selector, ...(p.mark ? { mark: p.mark } : {}), ...(p.ifId ? { ifId: p.ifId } : {}) });
      assert.deepEqual(bySelector, ours, `${p.dir}: get by selector`);
      assert.deepEqual(c.getPolicy({ dir: p.dir, index, ...(p.mark ? { mark: p.mark } : {}), ...(p.ifId ? { ifId: p.ifId } : {}) }), ours, `${p.dir}: get by index`);
    }
  });

  test('a policy that `ip` installed decodes to what `ip` shows', async () => {
    await nsh(ns, ['ip', 'xfrm', 'policy', 'add', 'src', '10.5.0.0/16', 'dst', '10.6.0.0/16', 'proto', 'tcp', 'dport', '443', 'dir', 'out',
      'priority', '1000', 'mark', '0x100', 'mask', '0xf00', 'if_id', '9',
      'tmpl', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'spi', '0x1234', 'reqid', '7', 'mode', 'tunnel',
      'tmpl', 'src', '0.0.0.0', 'dst', '192.0.2.9', 'proto', 'esp', 'reqid', '8', 'mode', 'transport']);
    const ours = client().getPolicy({ dir: 'out', selector: { src: '10.5.0.0/16', dst: '10.6.0.0/16', proto: 6, dport: 443 }, mark: { value: 0x100, mask: 0xf00 }, ifId: 9 });
    assert.ok(ours);
    assert.equal(ours.templates[0]!.spi, 0x1234);
    assertSamePolicy(ours, (await ipPolicies()).find((i) => i.index === ours.index), 'ip-made policy');
    client().deletePolicy({ dir: 'out', index: ours.index, mark: { value: 0x100, mask: 0xf00 }, ifId: 9 });
  });

  test('update changes a policy in place; a duplicate add is EEXIST; a missing policy is ENOENT', async () => {
    const c = client();
    const was = c.getPolicy({ dir: 'out', selector: outPolicy.selector, mark })!;
    c.updatePolicy({ ...outPolicy, priority: 150, templates: [{ ...tunnel, reqid: 0x99 }] });
    const now = c.getPolicy({ dir: 'out', selector: outPolicy.selector, mark })!;
    assert.equal(now.priority, 150);
    assert.equal(now.templates[0]!.reqid, 0x99);
    assert.equal(now.index, was.index, 'replaced in place, same index');
    assertSamePolicy(now, (await ipPolicies()).find((i) => i.index === now.index), 'updated out policy');

    const dup = assertXfrmError(() => c.addPolicy(outPolicy), 'EEXIST', /^XFRM add policy out 10\.1\.0\.0\/16->10\.2\.0\.0\/16 mark 0x5a01\/0xffff: EEXIST \(File exists\)/);
    assert.equal(dup.errno, 17);
    // The kernel reports a missing policy as ENOENT (xfrm_get_policy), unlike a missing SA (ESRCH).
    assertXfrmError(() => c.deletePolicy({ dir: 'out', selector: outPolicy.selector, mark: { value: 0x5a02, mask: 0xffff } }), 'ENOENT',
      /^XFRM delete policy out 10\.1\.0\.0\/16->10\.2\.0\.0\/16 mark 0x5a02\/0xffff: ENOENT/);
    assertXfrmError(() => c.deletePolicy({ dir: 'in', index: 0xfff8 }), 'ENOENT', /delete policy in index 65528/);
    assert.equal(c.getPolicy({ dir: 'fwd', selector: outPolicy.selector }), undefined);
  });

  test('policies are deleted by selector and by index, and `ip` agrees they are gone', async () => {
    const c = client();
    c.deletePolicy({ dir: 'out', selector: outPolicy.selector, mark });
    const inIndex = c.getPolicy({ dir: 'in', selector: inPolicy.selector, mark })!.index;
    c.deletePolicy({ dir: 'in', index: inIndex, mark });
    c.deletePolicy({ dir: 'fwd', selector: fwdPolicy.selector, ifId: 7 });
    assert.deepEqual(c.listPolicies(), []);
    assert.deepEqual(await ipPolicies(), []);
  });

  test('SA errors: get of a missing SA is undefined; delete and update of one are ESRCH', () => {
    const c = client();
    assert.equal(c.getSa(idOf(sa128)), undefined);
    assertXfrmError(() => c.deleteSa(idOf(sa128)), 'ESRCH', /^XFRM delete SA 192\.0\.2\.2 spi 0x1001 mark 0x5a01\/0xffff: ESRCH \(No such process\)$/);
    if (!noEsp) assertXfrmError(() => c.updateSa(sa128), 'ESRCH', /^XFRM update SA 192\.0\.2\.1->192\.0\.2\.2 spi 0x1001/);
  });

  test('SA add where the kernel has no ESP/GCM: an XfrmError naming the SA, the errno and the kernel\'s reason', (t: TestContext) => {
    if (!noEsp) { t.skip('this kernel has ESP and AES-GCM: the SA round trip runs instead'); return; }
    // This host (6.18, no GCM): ENOSYS "Requested AEAD algorithm not found"; with GCM but no ESP: EPROTONOSUPPORT "Requested type not found".
    const e = assertXfrmError(() => client().addSa(sa128), noEsp.errnoName, /^XFRM add SA 192\.0\.2\.1->192\.0\.2\.2 spi 0x1001 mark 0x5a01\/0xffff: /);
    assert.ok(e.kernelMessage && e.kernelMessage.length > 0, 'the kernel said why (extended ack)');
    assert.ok(e.message.endsWith(e.kernelMessage), e.message);
    t.diagnostic(`no ESP here: ${e.message}`);
    assert.deepEqual(client().listSas(), [], 'nothing half-made');
  });

  test('SA round trip: AEAD 128/256, ESN, replay windows, mark, if_id, lifetimes; get, list, `ip -s xfrm state`, update, delete', async (t: TestContext) => {
    if (noEsp) { t.skip(`this kernel has no ESP/AES-GCM (${noEsp.message}); run it in the kernel lab`); return; }
    const c = client();
    const all = [sa128, sa256, saWide];
    for (const s of all) c.addSa(s);
    const ip = await ipSas();
    for (const s of all) {
      const got = c.getSa(idOf(s));
      assert.ok(got, `spi ${s.spi}: get`);
      const want = { ...s, selector: s.selector ?? { src: '0.0.0.0/0', dst: '0.0.0.0/0' }, ...(s.lifetime ? { lifetime: { ...s.lifetime } } : {}) };
      assert.deepEqual(specOf(got), want, `spi ${s.spi}: decoded as installed`);
      assert.equal(got.replay.form, s.esn || s.replayWindow > 32 ? 'bitmap' : 'legacy');
      assert.equal(got.replay.bitmapWords, s.esn || s.replayWindow > 32 ? Math.ceil(s.replayWindow / 32) : 1);
      assert.ok(got.curlft.addTime > 0);
      assertSameSa(got, ip.find((i) => i.spi === s.spi), `spi ${s.spi}`);
    }
    const listed = c.listSas();
    assert.deepEqual(listed.map((s) => s.spi).sort(), all.map((s) => s.spi).sort());
    for (const l of listed) assert.deepEqual(specOf(l), specOf(c.getSa(idOf(all.find((s) => s.spi === l.spi)!))!));

    assertXfrmError(() => c.addSa(sa256), 'EEXIST', /^XFRM add SA 192\.0\.2\.2->192\.0\.2\.1 spi 0x1002: EEXIST/);
    c.updateSa({ ...sa128, lifetime: { softSeconds: 6000, hardSeconds: 7200 } });
    assert.deepEqual(c.getSa(idOf(sa128))!.lifetime, { softSeconds: 6000, hardSeconds: 7200 });
    assertSameSa(c.getSa(idOf(sa128))!, (await ipSas()).find((i) => i.spi === sa128.spi), 'updated SA');

    for (const s of all) c.deleteSa(idOf(s));
    for (const s of all) assert.equal(c.getSa(idOf(s)), undefined);
    assertXfrmError(() => c.deleteSa(idOf(sa256)), 'ESRCH', /delete SA 192\.0\.2\.1 spi 0x1002/);
    assert.deepEqual(c.listSas(), []);
    assert.deepEqual(await ipSas(), []);
  });

  test('an SA that `ip` installed decodes to what `ip` shows', async (t: TestContext) => {
    if (noEsp) { t.skip(`this kernel has no ESP/AES-GCM (${noEsp.errnoName})`); return; }
    await nsh(ns, ['ip', 'xfrm', 'state', 'add', 'src', '192.0.2.7', 'dst', '192.0.2.8', 'proto', 'esp', 'spi', '0x2001', 'reqid', '9',
      'mode', 'tunnel', 'replay-window', '64', 'flag', 'esn', 'mark', '0x7', 'mask', '0xff', 'if_id', '0x11',
      'aead', 'rfc4106(gcm(aes))', '0x0102030405060708090a0b0c0d0e0f1011121314', '128', 'limit', 'time-hard', '900']);
    const id = { dst: '192.0.2.8', spi: 0x2001, proto: 'esp' as const, mark: { value: 7, mask: 0xff } };
    const ours = client().getSa(id);
    assert.ok(ours);
    assert.deepEqual([ours.esn, ours.replayWindow, ours.ifId, ours.lifetime], [true, 64, 0x11, { hardSeconds: 900 }]);
    assertSameSa(ours, (await ipSas()).find((i) => i.spi === 0x2001), 'ip-made SA');
    client().deleteSa(id);
  });
});
