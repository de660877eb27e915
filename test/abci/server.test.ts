/**
 * The ABCI server's wire, without CometBFT: varint framing across arbitrary
 * chunk boundaries, responses in request order on a connection even when the
 * application answers asynchronously, several connections at once, and a
 * throwing application answered with ResponseException.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AbciApplication, FinalizeBlockRequest } from '../../controller/abci/application.js';
import { fitTxs } from '../../controller/abci/application.js';
import { AbciFramingError, FrameDecoder, frame } from '../../controller/abci/framing.js';
import { decodeResponse, encodeRequest } from '../../controller/abci/proto.js';
import { AbciServer, parseAbciAddress } from '../../controller/abci/server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('framing', () => {
  test('round-trips messages of every prefix length, split at every byte', () => {
    const msgs = [0, 1, 127, 128, 300, 16384, 70000].map((n) => Buffer.alloc(n, n % 251));
    const stream = Buffer.concat(msgs.map((m) => frame(m)));
    for (const step of [1, 2, 3, 7, 1000, stream.length]) {
      const d = new FrameDecoder(1 << 20);
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) out.push(...d.push(stream.subarray(i, i + step)));
      assert.deepEqual(out.map((b) => b.length), msgs.map((m) => m.length), `chunk size ${step}`);
      assert.ok(out.every((b, i) => b.equals(msgs[i]!)));
      assert.ok(d.idle);
    }
  });

  test('refuses a message over the limit and an over-long prefix', () => {
    assert.throws(() => new FrameDecoder(100).push(frame(Buffer.alloc(101))), AbciFramingError);
    assert.throws(() => new FrameDecoder(100).push(Buffer.alloc(11, 0xff)), AbciFramingError);
  });

  test('fitTxs counts the protobuf overhead CometBFT counts', () => {
    const txs = [Buffer.alloc(10), Buffer.alloc(200), Buffer.alloc(5)];
    // 10 -> 12 bytes, 200 -> 203 bytes (2-byte length), 5 -> 7 bytes
    assert.equal(fitTxs(txs, 12).length, 1);
    assert.equal(fitTxs(txs, 214).length, 1);
    assert.equal(fitTxs(txs, 215).length, 2);
    assert.equal(fitTxs(txs, 222).length, 3);
  });

  test('parses CometBFT proxy_app addresses', () => {
    assert.deepEqual(parseAbciAddress('unix:///tmp/a.sock'), { kind: 'unix', path: '/tmp/a.sock' });
    assert.deepEqual(parseAbciAddress('tcp://127.0.0.1:26658'), { kind: 'tcp', host: '127.0.0.1', port: 26658 });
    assert.deepEqual(parseAbciAddress('tcp://[::1]:1'), { kind: 'tcp', host: '::1', port: 1 });
    assert.throws(() => parseAbciAddress('http://x'));
  });
});

/** A client that speaks the socket protocol the way CometBFT's socket client does. */
class Client {
  private readonly decoder = new FrameDecoder(1 << 24);
  private readonly got: (Record<string, unknown> & { value: string })[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => {
      for (const m of this.decoder.push(c)) this.got.push(decodeResponse(m));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(path, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  /** Writes all requests as one stream cut into pieces of `chunk` bytes, with pauses between. */
  async send(reqs: Record<string, unknown>[], chunk = 5): Promise<void> {
    const bytes = Buffer.concat(reqs.map((r) => frame(encodeRequest(r))));
    for (let i = 0; i < bytes.length; i += chunk) {
      this.sock.write(bytes.subarray(i, i + chunk));
      if (i % (chunk * 8) === 0) await sleep(1);
    }
  }

  async take(n: number, timeoutMs = 5000): Promise<(Record<string, unknown> & { value: string })[]> {
    const t0 = Date.now();
    while (this.got.length < n) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`got ${this.got.length} of ${n} responses`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.got.splice(0, n);
  }
}

describe('AbciServer over a unix socket', () => {
  let dir: string;
  let server: AbciServer;
  const finalized: FinalizeBlockRequest[] = [];
  const app: AbciApplication = {
    info: () => ({ lastBlockHeight: 7, lastBlockAppHash: Buffer.from('abcd', 'hex'), version: 'test' }),
    initChain: () => ({}),
    // Async with a delay that shrinks with the tx: later requests finish first unless the server serialises.
    checkTx: async ({ tx }) => {
      await sleep(Math.max(0, 20 - tx.length));
      if (tx.toString().startsWith('bad')) return { code: 3, log: `refused ${tx.toString()}` };
      return { code: 0 };
    },
    prepareProposal: ({ txs, maxTxBytes }) => fitTxs(txs, maxTxBytes),
    processProposal: ({ txs }) => txs.every((t) => !t.toString().startsWith('bad')),
    finalizeBlock: (req) => {
      finalized.push(req);
      return { txResults: req.txs.map(() => ({ code: 0 })), appHash: Buffer.from([req.height]) };
    },
    commit: () => ({ retainHeight: 0 }),
    query: ({ path }) => {
      if (path === '/boom') throw new Error('query exploded');
      return { code: 0, value: Buffer.from(path) };
    },
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'esfc-abci-unit-'));
    server = new AbciServer(app);
    await server.listen(`unix://${join(dir, 'app.sock')}`);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('answers pipelined requests in order, split into 5-byte chunks', async () => {
    const c = await Client.open(join(dir, 'app.sock'));
    try {
      const reqs = [
        { echo: { message: 'hi' } },
        { info: { version: '0.38.26', blockVersion: 11, p2pVersion: 8, abciVersion: '2.0.0' } },
        ...Array.from({ length: 20 }, (_, i) => ({ checkTx: { tx: Buffer.from(i % 3 === 0 ? `bad${i}` : 'x'.repeat(i)) } })),
        { prepareProposal: { maxTxBytes: 8, txs: [Buffer.from('aaaa'), Buffer.from('bbbb')], height: 3 } },
        { processProposal: { txs: [Buffer.from('ok'), Buffer.from('bad')], height: 3 } },
        { finalizeBlock: { txs: [Buffer.from('t1'), Buffer.from('t2')], height: 3, time: { seconds: 1700000000, nanos: 5e8 },
          proposerAddress: Buffer.alloc(20, 1), decidedLastCommit: { round: 0, votes: [{ validator: { address: Buffer.alloc(20, 2), power: 10 }, blockIdFlag: 2 }] } } },
        { commit: {} },
        { flush: {} },
      ];
      await c.send(reqs);
      const res = await c.take(reqs.length);
      assert.deepEqual(res.map((r) => r.value), ['echo', 'info', ...Array(20).fill('checkTx'), 'prepareProposal', 'processProposal', 'finalizeBlock', 'commit', 'flush']);
      assert.deepEqual(res[0]!.echo, { message: 'hi' });
      const info = res[1]!.info as { lastBlockHeight: number; lastBlockAppHash: Buffer; version: string };
      assert.equal(info.lastBlockHeight, 7);
      assert.equal(info.lastBlockAppHash.toString('hex'), 'abcd');
      for (let i = 0; i < 20; i++) {
        const r = res[2 + i]!.checkTx as { code: number; log: string };
        assert.equal(r.code, i % 3 === 0 ? 3 : 0, `checkTx ${i}`);
        if (i % 3 === 0) assert.equal(r.log, `refused bad${i}`);
      }
      assert.equal((res[22]!.prepareProposal as { txs: Buffer[] }).txs.length, 1);
      assert.equal((res[23]!.processProposal as { status: number }).status, 2);
      const fb = res[24]!.finalizeBlock as { txResults: unknown[]; appHash: Buffer };
      assert.equal(fb.txResults.length, 2);
      assert.deepEqual([...fb.appHash], [3]);
      const f = finalized.at(-1)!;
      assert.equal(f.time.getTime(), 1700000000500);
      assert.equal(f.decidedLastCommit.votes[0]!.flag, 'commit');
      assert.equal(f.decidedLastCommit.votes[0]!.power, 10);
    } finally {
      c.sock.destroy();
    }
  });

  test('serves several connections at once; an application error is a ResponseException on that connection only', async () => {
    const [a, b] = await Promise.all([Client.open(join(dir, 'app.sock')), Client.open(join(dir, 'app.sock'))]);
    try {
      await Promise.all([
        a.send([{ query: { path: '/boom' } }, { echo: { message: 'after' } }, { flush: {} }], 3),
        b.send([{ query: { path: '/k' } }, { flush: {} }], 2),
      ]);
      const [ra, rb] = await Promise.all([a.take(3), b.take(2)]);
      assert.equal(ra[0]!.value, 'exception');
      assert.match((ra[0]!.exception as { error: string }).error, /query exploded/);
      assert.deepEqual(ra.slice(1).map((r) => r.value), ['echo', 'flush']);
      assert.equal((rb[0]!.query as { value: Buffer }).value.toString(), '/k');
    } finally {
      a.sock.destroy();
      b.sock.destroy();
    }
  });

  test('a framing error closes that connection and the server keeps serving', async () => {
    const bad = await Client.open(join(dir, 'app.sock'));
    const closed = new Promise<void>((r) => bad.sock.once('close', () => r()));
    bad.sock.write(Buffer.alloc(12, 0xff));
    await closed;
    const good = await Client.open(join(dir, 'app.sock'));
    try {
      await good.send([{ echo: { message: 'still here' } }], 100);
      assert.deepEqual((await good.take(1))[0]!.echo, { message: 'still here' });
    } finally {
      good.sock.destroy();
    }
  });
});
