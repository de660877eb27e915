/**
 * The AuC's key changes, seen from the agents' side of the controller: every
 * node runs a loop that takes its desired state the way the agent channel
 * hands it out (desiredFor) and acknowledges it (report). What each end of a
 * pair carries is recorded after every step, so the RFC 9061 order can be
 * checked as an invariant over every state the two ends were ever in. Real
 * traffic through real SAs during a key change runs in the kernel lab
 * (test/encryption/encrypted-hops.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HopKeyConfig } from '../../agent/config/types.js';
import { jsonLogger, type Logger } from '../../agent/log.js';
import { Controller } from '../../controller/controller.js';
import { Auc } from '../../controller/keys/auc.js';
import { Kek } from '../../controller/keys/kek.js';
import { KeyStore } from '../../controller/keys/key-store.js';
import { changeDue, pairTiming } from '../../controller/keys/pair-timing.js';
import { openDb, type Db } from '../../controller/store/db.js';
import { listInstructions } from '../../controller/store/instruction-log.js';
import { planEncryptedScenario } from '../../scenario/encrypted.js';
import { DESIGN_FLOWS, scenarioIntent } from '../../scenario/intent.js';

const kek = Kek.fromHex('5a'.repeat(32), 'test');
const NODES = planEncryptedScenario().base.nodes.map((n) => n.name);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Seen { node: string; espi: number; role: string; epochs: number[]; at: number }

/** Logs kept as the JSON lines a controller writes, to grep for keys. */
function lines(): { log: Logger; text: string[] } {
  const text: string[] = [];
  return { text, log: jsonLogger({ component: 'controller' }, (l) => { text.push(l); }) };
}

/** One loop per node: take each new generation as the agent channel hands it out, acknowledge it unless paused. */
function agents(c: Controller, seen: Seen[], keysSeen: Set<string>): { paused: Set<string>; stop: () => Promise<void> } {
  const paused = new Set<string>();
  let stopped = false;
  for (const node of NODES) {
    void (async () => {
      let known: number | undefined;
      while (!stopped) {
        await c.waitFor(node, known, 50);
        if (stopped) break;
        if (paused.has(node)) { await sleep(10); continue; }
        const d = c.desiredFor(node);
        if (!d || d.generation === known) continue;
        known = d.generation;
        for (const h of d.config.encryptedHops) {
          h.keys.forEach((k: HopKeyConfig) => keysSeen.add(k.key));
          seen.push({ node, espi: h.espi, role: h.role, epochs: h.keys.map((k) => k.epoch), at: Date.now() });
        }
        c.report(node, { appliedGeneration: d.generation });
      }
    })();
  }
  // Stopped loops may be inside waitFor for up to 50 ms more.
  return { paused, stop: async () => { stopped = true; await sleep(80); } };
}

/** The state of both ends of `espi` after every acknowledged step: [decrypt epochs, encrypt epochs]. */
function history(seen: Seen[], espi: number): [number[], number[]][] {
  const out: [number[], number[]][] = [];
  let dec: number[] = [];
  let enc: number[] = [];
  for (const s of seen.filter((x) => x.espi === espi)) {
    if (s.role === 'decrypt') dec = s.epochs; else enc = s.epochs;
    out.push([dec, enc]);
  }
  return out;
}

interface Provisioned { c: Controller; keys: KeyStore; seen: Seen[]; a: ReturnType<typeof agents> }

/**
 * A controller on `db` with the encrypted scenario committed (unless the
 * database has it; `intervals`: chain -> its rekey-interval) and its nodes'
 * agents in step.
 */
async function provisioned(db: Db, log: Logger, keysSeen = new Set<string>(), intervals: Record<string, number> = {}): Promise<Provisioned> {
  const keys = new KeyStore(db, kek, { lifetimeS: 60 });
  const c = new Controller(db, keys, log);
  c.drainMs = 20;
  const ep = planEncryptedScenario();
  const doc = scenarioIntent(ep.base, { efs: ep.efs, flows: DESIGN_FLOWS });
  for (const ch of (doc['esfc-intent:chains'] as { chain: Record<string, unknown>[] }).chain) {
    if (intervals[String(ch.name)] !== undefined) ch['rekey-interval'] = intervals[String(ch.name)];
  }
  if (!c.datastore.revision) c.commit({ principal: 'operator:test', method: 'PUT', path: '/' }, doc, []);
  const seen: Seen[] = [];
  const a = agents(c, seen, keysSeen);
  await c.settled();
  await sleep(200);
  return { c, keys, seen, a };
}

test('a key change goes in the RFC 9061 order at both ends of every pair, each step after the agents acknowledged the last, and nothing of a key is in a log line, the instruction log or the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-auc-'));
  const db = openDb(join(dir, 'controller.db'));
  const { log, text } = lines();
  const keysSeen = new Set<string>();
  const { c, keys, seen, a } = await provisioned(db, log, keysSeen);
  const auc = new Auc(c, keys, log, { rekeyIntervalS: 3600, drainMs: 20, stepTimeoutMs: 200 });
  try {
    const pairs = c.deployedPairs();
    assert.ok(pairs.length >= 4, `pairs: ${pairs.length}`);
    for (const p of pairs) assert.deepEqual(keys.info(p.espi).map((k) => k.epoch), [1]);

    // Twice, so the second change starts from a pair that has already changed once.
    for (let round = 2; round <= 3; round++) {
      const started = auc.rekeyNow(() => true);
      assert.deepEqual(started.sort(), pairs.map((p) => p.espi).sort());
      await auc.idle();
      for (const p of pairs) {
        assert.deepEqual(keys.info(p.espi).map((k) => [k.epoch, k.atDecrypt, k.atEncrypt]), [[round, true, true]], `pair ${p.espi} after round ${round}`);
      }
    }
    for (const p of pairs) {
      const h = history(seen, p.espi);
      // At every moment the key the encrypting end sends with (its newest) is one the decrypting end accepts.
      for (const [dec, enc] of h) if (enc.length && dec.length) assert.ok(dec.includes(enc.at(-1)!), `pair ${p.espi}: encrypting with ${enc.at(-1)} while the decrypting end has ${dec}`);
      // Inbound first: each new epoch reaches the decrypting end before the encrypting end has it at all.
      for (const epoch of [2, 3]) {
        const dec = h.findIndex(([d]) => d.includes(epoch));
        const enc = h.findIndex(([, e]) => e.includes(epoch));
        assert.ok(dec >= 0 && enc > dec, `pair ${p.espi} epoch ${epoch}: decrypting end at step ${dec}, encrypting end at ${enc}`);
        // ... and the old one leaves the decrypting end only after the encrypting end sends with the new one.
        const oldGone = h.findIndex(([d], i) => i > dec && !d.includes(epoch - 1));
        assert.ok(oldGone > enc, `pair ${p.espi}: epoch ${epoch - 1} left the decrypting end at step ${oldGone}, the encrypting end switched at ${enc}`);
      }
      assert.deepEqual(h.at(-1), [[3], [3]]);
    }
  } finally {
    await a.stop();
    await auc.stop();
    c.close();
    db.close();
  }
  // No key in any log line, the instruction log or the database files (hex and base64).
  assert.ok(keysSeen.size >= 12, `${keysSeen.size} keys seen`);
  const db2 = openDb(join(dir, 'controller.db'));
  const instr = JSON.stringify(listInstructions(db2));
  db2.close();
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
  for (const k of keysSeen) {
    const raw = Buffer.from(k, 'hex');
    for (const form of [k, raw.toString('base64'), k.toUpperCase()]) {
      assert.ok(!text.some((l) => l.includes(form)), 'key in a log line');
      assert.ok(!instr.includes(form), 'key in the instruction log');
    }
    for (const f of files) assert.ok(!f.includes(raw.subarray(0, 16)) && !f.includes(Buffer.from(k.slice(0, 32))), 'key in a database file');
  }
  rmSync(dir, { recursive: true, force: true });
});

test('an agent that does not acknowledge holds its pair at the step it missed; it gets the current keys when it comes back, and the change completes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-auc-'));
  const db = openDb(join(dir, 'controller.db'));
  const { log, text } = lines();
  const { c, keys, seen, a } = await provisioned(db, log);
  const auc = new Auc(c, keys, log, { rekeyIntervalS: 3600, drainMs: 20, stepTimeoutMs: 100 });
  try {
    const p = c.deployedPairs()[0]!;
    // The decrypting end is away: step 1 is published but not acknowledged.
    a.paused.add(p.dec.node);
    auc.rekeyNow((x) => x.espi === p.espi);
    await sleep(400);
    assert.equal(keys.stage(p.espi), 'inbound-added');
    assert.deepEqual(keys.info(p.espi).map((k) => [k.epoch, k.atDecrypt, k.atEncrypt]), [[1, true, true], [2, true, false]], 'the encrypting end is not switched');
    assert.ok(text.some((l) => l.includes('"event":"rekey_waiting"') && l.includes(p.dec.node)));
    // Back: it takes the newest generation (with both keys) and the change goes on.
    a.paused.delete(p.dec.node);
    await auc.idle();
    assert.deepEqual(keys.info(p.espi).map((k) => k.epoch), [2]);
    assert.deepEqual(history(seen, p.espi).at(-1), [[2], [2]]);
  } finally {
    await a.stop();
    await auc.stop();
    c.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a controller restarted in the middle of a key change resumes it from the step it was at; the schedule changes keys by itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-auc-'));
  const path = join(dir, 'controller.db');
  let db = openDb(path);
  let { c, keys, a } = await provisioned(db, lines().log);
  const p = c.deployedPairs()[0]!;
  // Stopped after step 1 (what kill -9 between two steps leaves behind).
  keys.begin(p.espi);
  await a.stop();
  c.close();
  db.close();

  db = openDb(path);
  ({ c, keys, a } = await provisioned(db, lines().log));
  // A schedule of 2 s: the resumed pair finishes, then every pair changes on its own.
  const auc = new Auc(c, keys, lines().log, { rekeyIntervalS: 2, drainMs: 20, stepTimeoutMs: 200, tickMs: 100 });
  try {
    auc.start();
    await sleep(300);
    await auc.idle();
    assert.deepEqual(keys.info(p.espi).map((k) => k.epoch), [2], 'resumed and finished');
    await sleep(2500);
    await auc.idle();
    for (const q of c.deployedPairs()) assert.ok(keys.info(q.espi)[0]!.epoch >= 2, `pair ${q.espi} changed on schedule`);
    assert.ok(keys.info(p.espi)[0]!.epoch >= 3);
  } finally {
    await a.stop();
    await auc.stop();
    c.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a chain with its own rekey-interval changes its pairs\' keys on that schedule, with keys that live twice the interval; a chain without one keeps the global schedule', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-auc-'));
  const db = openDb(join(dir, 'controller.db'));
  const { log, text } = lines();
  const { c, keys, a } = await provisioned(db, log, new Set(), { 'mail-chain': 1 });
  const auc = new Auc(c, keys, log, { rekeyIntervalS: 3600, drainMs: 20, stepTimeoutMs: 200 });
  try {
    const mail = c.deployedPairs().filter((p) => p.flow === 'mail');
    const web = c.deployedPairs().filter((p) => p.flow === 'web');
    assert.ok(mail.length >= 2 && web.length >= 2, `mail ${mail.length}, web ${web.length} pairs`);
    assert.ok(mail.every((p) => p.rekeyIntervalS === 1) && web.every((p) => p.rekeyIntervalS === undefined), 'the chain\'s interval reaches its pairs');
    // Not given a tickMs: the AuC looks often enough for the shortest interval it has.
    auc.start();
    await sleep(2600);
    await auc.stop();
    for (const p of mail) {
      const gens = keys.info(p.espi);
      assert.ok(gens.at(-1)!.epoch >= 2, `mail pair ${p.espi} changed keys (epoch ${gens.at(-1)!.epoch})`);
      for (const g of gens.filter((x) => x.epoch > 1)) {
        assert.equal(Date.parse(g.notAfter!) - Date.parse(g.created!), 2000, `mail pair ${p.espi} epoch ${g.epoch} lives twice the chain's interval`);
      }
    }
    for (const p of web) {
      assert.deepEqual(keys.info(p.espi).map((g) => g.epoch), [1], `web pair ${p.espi} kept its key`);
      assert.equal(Date.parse(keys.info(p.espi)[0]!.notAfter!) - Date.parse(keys.info(p.espi)[0]!.created!), 60_000, 'the global lifetime');
    }
    const started = text.filter((l) => l.includes('"event":"rekey_started"')).map((l) => JSON.parse(l) as { espi: number; why: string });
    assert.ok(started.every((e) => mail.some((p) => p.espi === e.espi) && e.why === 'schedule'), 'only the mail pairs, on schedule');
  } finally {
    await a.stop();
    await auc.stop();
    c.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the schedule: a key changes once it is one interval old, or earlier when it would not outlive its pair\'s next change by the pair\'s slack', () => {
  const global = { rekeyIntervalS: 3600, lifetimeS: 7200 };
  assert.deepEqual(pairTiming({}, global), global);
  assert.deepEqual(pairTiming({ rekeyIntervalS: 10 }, global), { rekeyIntervalS: 10, lifetimeS: 20 }, 'a 10 s chain does not keep keys for 2 h');
  assert.deepEqual(pairTiming({ rekeyIntervalS: 7200 }, { rekeyIntervalS: 1800, lifetimeS: 3600 }), { rekeyIntervalS: 7200, lifetimeS: 14_400 }, 'a 2 h chain\'s keys do not die after 1 h');
  const t0 = Date.parse('2026-12-03T10:00:00Z');
  const key = (lifetimeS: number) => ({ spi: 0x1234, epoch: 1, atDecrypt: true, atEncrypt: true, created: new Date(t0).toISOString(), notAfter: new Date(t0 + lifetimeS * 1000).toISOString() });
  const s = (x: number): number => t0 + x * 1000;
  // Keys made under the rule: due at one interval, not before.
  assert.equal(changeDue(key(7200), global, s(3599)), false);
  assert.equal(changeDue(key(7200), global, s(3600)), true);
  assert.equal(changeDue(key(20), pairTiming({ rekeyIntervalS: 10 }, global), s(9.9)), false);
  assert.equal(changeDue(key(20), pairTiming({ rekeyIntervalS: 10 }, global), s(10)), true);
  // An operator's --key-lifetime just above the interval does not make keys change early.
  assert.equal(changeDue(key(3700), { rekeyIntervalS: 3600, lifetimeS: 3700 }, s(3599)), false);
  // A first key made with the global lifetime (1 h) for a chain that changes every 2 h: changed now, before it dies.
  assert.equal(changeDue(key(3600), pairTiming({ rekeyIntervalS: 7200 }, global), s(1)), true);
  // A chain whose 10 s interval was removed: its 20 s key is changed at once, not an hour later.
  assert.equal(changeDue(key(20), global, s(1)), true);
  // A key without a recorded creation time (an older controller's) is due.
  assert.equal(changeDue({ spi: 1, epoch: 1, atDecrypt: true, atEncrypt: true }, global, s(0)), true);
  assert.equal(changeDue(undefined, global, s(0)), true);
});
