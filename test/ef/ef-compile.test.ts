/**
 * Pure logic of encrypted hops: the configuration checks (invariant 2 refused
 * in config), what the agent compiles for the SFF and each EF, and the order
 * of XFRM changes during a rekey (make-before-break, RFC 9061).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError } from '../../agent/config/validate-config.js';
import type { NodeConfig } from '../../agent/config/types.js';
import { compile, type LinkInfo } from '../../agent/datapath/compile.js';
import { SRC_EF_LAYER, NH_F_EF } from '../../agent/datapath/layout.js';
import { compileEfs } from '../../agent/ef/compile-ef.js';
import { planXfrm, type SaSeen } from '../../agent/ef/plan-xfrm.js';
import { EfDir, pairMark } from '../../agent/ef/ef-layout.js';
import { encryptedConfigs, planEncryptedScenario } from '../../scenario/encrypted.js';

const nsOf = (ef: string): string => `ns-${ef}`;
const configs = (place: Record<string, string> = {}) =>
  encryptedConfigs(planEncryptedScenario({ placeEf: place }), { pinRoot: '/sys/fs/bpf/unit', nsOf });
const json = (c: NodeConfig): unknown => JSON.parse(JSON.stringify(c));

function problemsOf(input: unknown): { path: string; problem: string; fix: string }[] {
  try {
    validateConfig(input);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('the scenario\'s node configs are valid', () => {
  for (const [node, cfg] of configs()) assert.deepEqual(problemsOf(json(cfg)), [], node);
});

test('a misplaced EF is refused with the reason and the fix (invariant 2)', () => {
  // EF1 moved to ISP-B: SF1's plaintext would cross the underlay to reach it.
  const p = problemsOf(json(configs({ ef1: 'node-b' }).get('node-b')!));
  const enc = p.find((x) => x.problem.includes('ef1 encrypts'))!;
  assert.match(enc.problem, /misplaced EF: .*would cross the underlay in clear \(invariant 2\)/);
  assert.match(enc.fix, /run ef1 on the node of the SF at SI 255/);
  const dec = p.find((x) => x.problem.includes('ef1 decrypts'))!;
  assert.match(dec.problem, /goes to another node over the underlay in clear/);
});

test('encryption fields are checked one by one, naming field and fix', () => {
  const cfg = json(configs().get('node-a')!) as { encryptedHops: Record<string, unknown>[]; efs: Record<string, unknown>[] };
  const h = cfg.encryptedHops[0]!;
  (h.keys as Record<string, unknown>[])[0]!.key = 'abcd';
  (h.keys as Record<string, unknown>[])[0]!.notAfter = 'tomorrow';
  h.replayWindow = 5000;
  h.peer = '10.200.0.300';
  cfg.efs[0]!.address = 'nowhere';
  const p = problemsOf(cfg);
  const at = (path: string) => p.find((x) => x.path === path);
  assert.match(at('encryptedHops[0].keys[0].key')!.fix, /40 or 72 hex digits/);
  assert.ok(at('encryptedHops[0].keys[0].notAfter'));
  assert.match(at('encryptedHops[0].replayWindow')!.problem, /0\.\.4096/);
  assert.ok(at('encryptedHops[0].peer'));
  assert.ok(at('efs[0].address'));
});

test('an SPI reused across key generations of one EF is refused', () => {
  const cfg = json(configs().get('node-a')!) as { encryptedHops: { keys: { spi: number }[] }[] };
  cfg.encryptedHops[1]!.keys[0]!.spi = cfg.encryptedHops[0]!.keys[0]!.spi;
  assert.ok(problemsOf(cfg).some((x) => /ESP SPI \d+ is used twice in EF ef1/.test(x.problem)));
});

const links = (names: string[]): Map<string, LinkInfo> =>
  new Map(names.map((n, i) => [n, { name: n, ifindex: i + 2, mac: `02:00:00:00:00:${(i + 2).toString(16).padStart(2, '0')}`, mtu: n.startsWith('ef') ? 1600 : n === 'ul0' ? 1700 : 1500, kind: 'veth' }]));

test('SFF tables: EF-layer paths go to the outer table, EFs may only emit what their pairs produce', () => {
  const cfg = validateConfig(json(configs().get('node-a')!));
  const l = links(['ul0', 'edge-c', 'sf1a', 'sf1b', 'ef1', 'ef3']);
  const d = compile(cfg, { links: l, peerMacs: new Map([['node-b', '02:00:00:00:0b:01'], ['node-c', '02:00:00:00:0c:01']]), existingSlots: new Map() });
  const ef1 = l.get('ef1')!.ifindex;
  assert.equal(d.inner.get('10/254')!.ifindex, ef1);
  assert.ok(d.inner.get('10/254')!.flags & NH_F_EF, 'plaintext for EF1 is marked so the underlay cannot deliver it');
  assert.equal(d.outer.get('1000/255')!.daddr_be, '10.250.0.3', 'mail EF path to node C');
  assert.equal(d.outer.get('1100/255')!.ifindex, ef1, 'returning mail EF path to EF1');
  const fromEf1 = [...d.sources.values()].filter((s) => s.ifindex === ef1).map((s) => `${s.spi >>> 0}/${s.si}`).sort();
  // Encrypting: only its EF path (E-SPI 1000, E-SI 255); decrypting the way back: SPI 11 at SI 253 (the pair held 254).
  assert.deepEqual(fromEf1, [`${(1000 | SRC_EF_LAYER) >>> 0}/255`, '11/253'].sort());
});

test('EF state: marks bind pairs, only the newest key sends, every live key receives, expired keys are left out', () => {
  const ep = planEncryptedScenario();
  const now = Date.parse('2026-11-22T12:00:00Z');
  ep.keys.set(1000, [
    { spi: 0x5001, epoch: 1, key: '11'.repeat(36), notAfter: '2026-11-22T11:59:59Z' },
    { spi: 0x5002, epoch: 2, key: '22'.repeat(36) },
    { spi: 0x5003, epoch: 3, key: '33'.repeat(36), notAfter: '2026-11-22T12:01:00Z' },
  ]);
  const a = validateConfig(json(encryptedConfigs(ep, { pinRoot: '/sys/fs/bpf/unit', nsOf }).get('node-a')!));
  const c = validateConfig(json(encryptedConfigs(ep, { pinRoot: '/sys/fs/bpf/unit', nsOf }).get('node-c')!));
  const ef1 = compileEfs(a, new Map([['ef1', 7]]), now).find((e) => e.name === 'ef1')!;
  const ef2 = compileEfs(c, new Map([['ef2', 9]]), now).find((e) => e.name === 'ef2')!;

  const out = ef1.xfrmSas.filter((s) => s.reqid === pairMark(1000));
  assert.deepEqual(out.map((s) => s.spi), [0x5003], 'EF1 sends with the newest live generation');
  assert.equal(out[0]!.lifetime!.hardSeconds, 60);
  // A notAfter between whole seconds: the SA dies before it, never after.
  assert.equal(compileEfs(a, new Map([['ef1', 7]]), now + 400).find((e) => e.name === 'ef1')!.xfrmSas.find((s) => s.spi === 0x5003)!.lifetime!.hardSeconds, 59);
  assert.equal(out[0]!.src, '10.200.0.1');
  const inn = ef2.xfrmSas.filter((s) => s.reqid === pairMark(1000));
  assert.deepEqual(inn.map((s) => s.spi), [0x5002, 0x5003], 'EF2 accepts both live generations');
  assert.deepEqual(ef2.expired.map((x) => x.spi), [0x5001]);
  assert.equal(ef1.nextExpiry, Date.parse('2026-11-22T12:01:00Z'));
  assert.deepEqual(ef1.sas.get(0x5003), { dir: EfDir.out, spi: 10, si: 254, espi: 1000, esi: 255, epoch: 3, reqid: pairMark(1000) });
  assert.deepEqual(ef2.sas.get(0x5002), { dir: EfDir.in, spi: 10, si: 253, espi: 1000, esi: 255, epoch: 2, reqid: pairMark(1000) });
  assert.deepEqual(ef1.encrypt.get('10/254')!.value, { mark: pairMark(1000), espi: 1000 });
  assert.deepEqual(ef2.decrypt.get('1000/255')!.value, { mark: pairMark(1000) });
  // The outbound policy stays even with no live key: XFRM then drops instead of sending in clear.
  ep.keys.set(1000, [{ spi: 0x5001, epoch: 1, key: '11'.repeat(36), notAfter: '2026-11-22T11:59:59Z' }]);
  const a2 = validateConfig(json(encryptedConfigs(ep, { pinRoot: '/sys/fs/bpf/unit', nsOf }).get('node-a')!));
  const dead = compileEfs(a2, new Map([['ef1', 7]]), now).find((e) => e.name === 'ef1')!;
  assert.equal(dead.xfrmSas.filter((s) => s.reqid === pairMark(1000)).length, 0);
  assert.ok(dead.xfrmPolicies.some((p) => p.dir === 'out' && p.mark?.value === pairMark(1000)));
});

test('XFRM plan orders a rekey make-before-break and never touches what esfc did not create', () => {
  const sa = (dst: string, spi: number, reqid = pairMark(1000)): SaSeen => ({ src: dst === '10.200.0.1' ? '10.200.0.2' : '10.200.0.1', dst, spi, reqid });
  const spec = (s: SaSeen) => ({ ...s, proto: 'esp' as const, mode: 'tunnel' as const, aead: { name: 'rfc4106(gcm(aes))' as const, key: Buffer.alloc(36), icvBits: 128 as const }, replayWindow: 128, esn: true });
  // EF1: sends to 10.200.0.2 (outbound), receives from it (inbound to 10.200.0.1).
  const actual = { sas: [sa('10.200.0.2', 0x100), sa('10.200.0.1', 0x200), sa('10.200.0.2', 0x999, 42)], policies: [] };
  const desired = { sas: [spec(sa('10.200.0.2', 0x101)), spec(sa('10.200.0.1', 0x201))], policies: [], localAddress: '10.200.0.1' };
  const ops = planXfrm(desired, actual).map((o) => `${o.op} ${'sa' in o ? o.sa.spi.toString(16) : o.policy.dir}`);
  assert.deepEqual(ops, ['add-sa 201', 'add-sa 101', 'delete-sa 100', 'delete-sa 200'],
    'new inbound, new outbound, old outbound, old inbound; the foreign SA (reqid 42) stays');
  assert.deepEqual(planXfrm({ ...desired, sas: desired.sas }, { sas: [sa('10.200.0.2', 0x101), sa('10.200.0.1', 0x201)], policies: [] }), [], 'idempotent');
});
