/**
 * The committed P4 build (p4/build) is what p4/*.p4 compiles to, and the P4
 * program counts and classifies with the numbers of the eBPF core: the same
 * stat names mean the same thing on both targets.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf } from '../../agent/kernel/btf.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const p4Dir = join(repo, 'p4');
const P4C_COMMIT = /^P4C_COMMIT=([0-9a-f]{40})$/m.exec(readFileSync(join(repo, 'scripts/p4-compile.sh'), 'utf8'))?.[1];
const p4c = join(process.env['ESFC_P4_CACHE'] ?? '/var/cache/esfc-p4', `p4c-${(P4C_COMMIT ?? '').slice(0, 7)}`, 'bin/p4c-bm2-ss');

/** `const bit<N> NAME = VALUE;` of a P4 file. */
function p4Constants(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of readFileSync(join(p4Dir, file), 'utf8').matchAll(/^const bit<\d+>\s+(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+);/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe('p4/ program', () => {
  test('p4/build/SOURCES names the compiler and the digest of every p4/*.p4 as they are now (run scripts/p4-compile.sh after changing p4/)', () => {
    assert.ok(P4C_COMMIT, 'scripts/p4-compile.sh pins P4C_COMMIT');
    const [first, ...lines] = readFileSync(join(p4Dir, 'build/SOURCES'), 'utf8').trim().split('\n');
    assert.equal(first, `p4c ${P4C_COMMIT}`);
    const recorded = new Map(lines.map((l) => { const [h, f] = l.split(/\s+/); return [f!, h!]; }));
    const sources = readdirSync(p4Dir).filter((f) => f.endsWith('.p4')).sort();
    assert.deepEqual([...recorded.keys()].sort(), sources, 'the build covers exactly the P4 sources');
    for (const f of sources) {
      const h = createHash('sha256').update(readFileSync(join(p4Dir, f))).digest('hex');
      assert.equal(recorded.get(f), h, `p4/${f} changed since p4/build was compiled: run scripts/p4-compile.sh`);
    }
    const p4info = JSON.parse(readFileSync(join(p4Dir, 'build/esfc.p4info.json'), 'utf8')) as { tables: { preamble: { name: string } }[] };
    assert.deepEqual(p4info.tables.map((t) => t.preamble.name.replace(/^EsfcIngress\./, '')).sort(), [
      'esfc_classifier', 'esfc_classifier_l3', 'esfc_config', 'esfc_inner', 'esfc_outer', 'esfc_peer_sources',
      'esfc_ports', 'esfc_rx', 'esfc_sources', 'esfc_state', 'esfc_tx',
    ]);
  });

  test('recompiling p4/ gives the committed BMv2 JSON and P4Info', { skip: existsSync(p4c) ? false : `p4c is not installed here (${p4c}; scripts/p4c-build.sh builds it in about 40 min)` }, () => {
    const out = mkdtempSync(join(tmpdir(), 'esfc-p4c-'));
    try {
      execFileSync('bash', [join(repo, 'scripts/p4-compile.sh'), out], { stdio: ['ignore', 'ignore', 'pipe'] });
      for (const f of ['esfc.json', 'esfc.p4info.json', 'SOURCES']) {
        assert.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(p4Dir, 'build', f), 'utf8'), `p4/build/${f} is not what p4/ compiles to: run scripts/p4-compile.sh`);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('stat numbers, port kinds and next-hop kinds are the values of the eBPF objects (BTF)', () => {
    const btf = new Btf(readFileSync(join(repo, 'bpf/build/esfc_tc.o')));
    const p4 = p4Constants('stats.p4');
    const stats = btf.enumValues('esfc_stat')!;
    let compared = 0;
    for (const [name, value] of stats) {
      const short = name.replace(/^ESFC_/, '');
      if (/_(FIRST|MAX)$/.test(short)) continue;
      assert.equal(p4.get(short), value, `p4/stats.p4 ${short} must be ${value} (enum esfc_stat)`);
      compared++;
    }
    assert.ok(compared >= 28, `compared ${compared} stats`);
    for (const name of p4.keys()) {
      if (name.startsWith('STAT_')) assert.ok(stats.has(`ESFC_${name}`), `p4/stats.p4 ${name} is not in enum esfc_stat`);
    }
    assert.equal(/#define STAT_MAX (\d+)/.exec(readFileSync(join(p4Dir, 'stats.p4'), 'utf8'))?.[1], String(stats.get('ESFC_STAT_MAX')));
    for (const [name, value] of btf.enumValues('esfc_port_kind')!) {
      if (name === 'ESFC_PORT_NONE') continue;
      assert.equal(p4.get(name.replace(/^ESFC_/, '')), value, name);
    }
    for (const [name, value] of btf.enumValues('esfc_nh_kind')!) {
      if (name === 'ESFC_NH_NONE') continue;
      assert.equal(p4.get(name.replace(/^ESFC_/, '')), value, name);
    }
  });
});
