/** The Prometheus rendering of a node snapshot: datapath counters, EF glue counters and SA state (that no key gets there is checked against real SAs in the kernel lab, test/encryption). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderPrometheus, type NodeSnapshot } from '../../agent/status/snapshot.js';

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
