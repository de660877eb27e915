/**
 * The libbpf loader: a program the verifier rejects comes back as a typed
 * error carrying the verifier's log; maps pinned by name are reused by a
 * second load (how the XDP and TC objects share maps and an agent adopts them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfError } from '../../agent/kernel/errors.js';
import { loadObject } from '../../agent/kernel/loader.js';

const isRoot = process.getuid?.() === 0;
const ARCH_INC = `/usr/include/${execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim()}-linux-gnu`;

function compile(dir: string, name: string, src: string): string {
  const c = join(dir, `${name}.c`);
  const o = join(dir, `${name}.o`);
  writeFileSync(c, src);
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I${ARCH_INC}`, '-c', c, '-o', o]);
  return o;
}

const HEADER = '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nchar LICENSE[] SEC("license") = "GPL";\n';

test('a rejected program surfaces the verifier log in a typed error', { skip: isRoot ? false : 'needs root (BPF)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-ld-'));
  const pin = `/sys/fs/bpf/esfc-test-ld-${process.pid}`;
  try {
    // Reads a byte past the checked end of the packet: the verifier must refuse it.
    const o = compile(dir, 'bad', `${HEADER}SEC("xdp") int bad(struct xdp_md *ctx) {
      unsigned char *d = (void *)(long)ctx->data; unsigned char *e = (void *)(long)ctx->data_end;
      if (d + 1 > e) return XDP_DROP; return d[1]; }`);
    assert.throws(() => loadObject(o, pin, ['bad'], []), (e: unknown) => {
      assert.ok(e instanceof BpfError);
      assert.equal(e.code, 'ESFC_BPF_LOAD');
      assert.match(e.verifierLog ?? '', /invalid access to packet/);
      assert.match(e.message, /verifier log/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pin, { recursive: true, force: true });
  }
});

test('maps pinned by name are shared by a second object and survive the first', { skip: isRoot ? false : 'needs root (BPF)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-ld-'));
  const pin = `/sys/fs/bpf/esfc-test-ld-${process.pid}`;
  try {
    const o = compile(dir, 'ok', `${HEADER}struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64);
      __uint(pinning, LIBBPF_PIN_BY_NAME); } shared SEC(".maps");
      SEC("xdp") int ok(struct xdp_md *ctx) { __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&shared, &k); if (v) (*v)++; return XDP_PASS; }`);
    const first = loadObject(o, pin, ['ok'], ['shared']);
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(41n);
    first.maps.get('shared')!.update(Buffer.alloc(4), v);
    first.close();
    const second = loadObject(o, pin, ['ok'], ['shared']);
    assert.equal(second.maps.get('shared')!.lookup(Buffer.alloc(4))!.readBigUInt64LE(0), 41n);
    second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pin, { recursive: true, force: true });
  }
});
