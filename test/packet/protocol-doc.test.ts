/**
 * docs/protocol.md shows exactly the bytes our builders make, and an
 * independent dissector (tshark) reads them as we mean them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docExamples, protocolExamples } from '../lib/protocol-examples.js';
import { writePcap } from '../../scenario/pcap.js';


test('every example in docs/protocol.md is byte-for-byte what the builders produce', () => {
  const doc = docExamples();
  const ours = protocolExamples();
  assert.deepEqual([...doc.keys()].sort(), ours.map((e) => e.name).sort());
  for (const e of ours) assert.equal(doc.get(e.name)!.toString('hex'), e.bytes.toString('hex'), e.name);
});

let tshark = true;
try { execFileSync('tshark', ['--version'], { stdio: 'ignore' }); } catch { tshark = false; }

test('tshark dissects the examples as documented', { skip: tshark ? false : 'tshark is not installed (scripts/setup.sh installs it)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-doc-'));
  try {
    const ex = protocolExamples();
    const file = join(dir, 'ex.pcap');
    writePcap(file, ex.map((e) => e.bytes));
    const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
      '-e', 'nsh.spi', '-e', 'nsh.si', '-e', 'nsh.ttl', '-e', 'nsh.mdtype', '-e', 'nsh.nextproto', '-e', 'nsh.length',
      '-e', 'vxlan.next_proto', '-e', 'vxlan.p_bit', '-e', 'udp.srcport', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.payload', '-e', 'nsh.contextheader'], { encoding: 'utf8' });
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    const row = (name: string) => rows[ex.findIndex((e) => e.name === name)]!;
    const [spi, si, ttl, md, np, len, gpeNp, pBit] = row('underlay-md1');
    assert.deepEqual([Number(spi), Number(si), Number(ttl), Number(md), Number(np), Number(len)], [42, 254, 61, 1, 1, 6]);
    assert.equal(Number(gpeNp), 4, 'VXLAN-GPE next protocol NSH');
    assert.ok(pBit === 'True' || pBit === '1', `P bit ${pBit}`);
    assert.equal(row('underlay-md1')[9], '10.250.0.1');
    assert.equal(Buffer.from(row('inner-tcp')[11]!.replace(/:/g, ''), 'hex').toString(), 'esfc-marker-7f3a');
    const local = row('local-md1');
    assert.deepEqual([Number(local[0]), Number(local[1]), Number(local[2]), Number(local[3])], [42, 255, 62, 1]);
    const md2 = row('local-md2');
    assert.deepEqual([Number(md2[3]), Number(md2[5])], [2, 7]);
    const md3 = row('underlay-md3');
    assert.deepEqual([Number(md3[0]), Number(md3[1]), Number(md3[3]), Number(md3[5])], [42, 254, 3, 4]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
