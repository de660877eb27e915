/** The Prometheus rendering of a node snapshot: datapath counters, EF glue counters and SA state (that no key gets there is checked against real SAs in the kernel lab, test/encryption). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHuman, renderPrometheus, type NodeSnapshot } from '../../agent/status/snapshot.js';

const snap: NodeSnapshot = {
  node: 'node-a', pinDir: '/sys/fs/bpf/esfc/node-a', generation: 7,
  hooks: [], tables: [{ name: 'esfc_inner', entries: 4, maxEntries: 32768 }],
  counters: [{ port: 'client', slot: 2, stat: 'classified', drop: false, packets: 10n, bytes: 1000n }],
  efs: [{
    name: 'ef1', netns: 'esfc-ef1', ifname: 'eth0', hooks: [],
    counters: [{ stat: 'to_encrypt', drop: false, packets: 5n, bytes: 500n }, { stat: 'drop_clear', drop: true, packets: 2n, bytes: 120n }],
    sas: [
      { spi: 0x1001, dir: 'out', espi: 1000, reqid: 0xe50003e8, src: '10.200.0.1', dst: '10.200.0.2', bytes: 4096n, packets: 32n, replayErrors: 0, integrityFailed: 0, addTime: 1 },
      { spi: 0x2001, dir: 'in', espi: 1100, reqid: 0xe500044c, src: '10.200.0.2', dst: '10.200.0.1', bytes: 2048n, packets: 16n, replayErrors: 3, integrityFailed: 1, addTime: 1 },
    ],
  }],
};

test('EF counters and SA state are on the metrics endpoint', () => {
  const text = renderPrometheus(snap);
  assert.match(text, /^esfc_packets_total\{node="node-a",port="client",stat="classified",drop="false"\} 10$/m);
  assert.match(text, /^esfc_config_generation\{node="node-a"\} 7$/m);
  assert.match(text, /^esfc_ef_packets_total\{node="node-a",ef="ef1",stat="drop_clear",drop="true"\} 2$/m);
  assert.match(text, /^esfc_ef_sas\{node="node-a",ef="ef1",dir="out"\} 1$/m);
  assert.match(text, /^esfc_ef_sa_packets_total\{node="node-a",ef="ef1",spi="0x00001001",espi="1000",dir="out"\} 32$/m);
  assert.match(text, /^esfc_ef_sa_replay_errors_total\{node="node-a",ef="ef1",spi="0x00002001",espi="1100",dir="in"\} 3$/m);
  assert.match(text, /^esfc_ef_sa_integrity_failures_total\{node="node-a",ef="ef1",spi="0x00002001",espi="1100",dir="in"\} 1$/m);
  // Exposition format: every sample line is NAME{labels} VALUE, each family announced once.
  for (const line of text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+\{[^}]*\} \d+)$/);
  const types = text.split('\n').filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]);
  assert.equal(new Set(types).size, types.length);
});

test('BMv2 (where a node runs it) is on the metrics endpoint and in the human status: up, its counters without the slow-path header', () => {
  const withBmv2: NodeSnapshot = {
    ...snap, efs: [],
    bmv2: {
      pid: 4242, alive: true, address: '127.0.0.1:9559', mode: 'punt', ports: [{ port: 1, ifname: 'punt0-p' }], connected: true, restarts: 1,
      countersAt: '2026-12-04T00:00:00.000Z', counters: [{ port: 'underlay', slot: 1, stat: 'fwd_remote', drop: false, packets: 3n, bytes: 300n }],
    },
  };
  const text = renderPrometheus(withBmv2);
  assert.match(text, /^esfc_bmv2_up\{node="node-a",mode="punt"\} 1$/m);
  assert.match(text, /^esfc_bmv2_packets_total\{node="node-a",port="underlay",stat="fwd_remote",drop="false"\} 3$/m);
  assert.match(text, /^esfc_bmv2_bytes_total\{node="node-a",port="underlay",stat="fwd_remote",drop="false"\} 300$/m);
  for (const line of text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+\{[^}]*\} \d+)$/);
  const human = renderHuman(withBmv2);
  assert.match(human, /^bmv2 \(slow path\): pid 4242 {2}P4Runtime 127\.0\.0\.1:9559 {2}restarts 1 {2}ports 1@punt0-p$/m);
  assert.match(human, /^ {4}underlay:\n {6}fwd_remote +3 +300$/m);
  const down = renderHuman({ ...withBmv2, bmv2: { ...withBmv2.bmv2!, alive: false, pid: undefined, lastError: 'connect refused' } });
  assert.match(down, /NOT RUNNING/);
  assert.match(down, /last error: connect refused/);
});
