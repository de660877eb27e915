/**
 * BPF_PROG_TEST_RUN: run a loaded program on a crafted packet (and context)
 * and get back the verdict, the rewritten packet and the context.
 */
import { BpfError } from './errors.js';
import { address, alloc, errText, ffi, free, readBytes } from './libbpf.js';

export interface TestRunInput {
  data: Buffer;
  ctx?: Buffer;
  /** Room for growth of the packet (encapsulation). */
  extraOut?: number;
  repeat?: number;
  flags?: number;
}

export interface TestRunResult {
  retval: number;
  data: Buffer;
  ctx: Buffer;
  durationNs: number;
}

export function testRun(progFd: number, input: TestRunInput): TestRunResult {
  const outSize = input.data.length + (input.extraOut ?? 256);
  const ctxSize = input.ctx?.length ?? 0;
  const din = alloc(input.data.length);
  const dout = alloc(outSize);
  const cin = alloc(ctxSize);
  const cout = alloc(ctxSize);
  try {
    ffi.memcpyIn(din, input.data, input.data.length);
    if (input.ctx) ffi.memcpyIn(cin, input.ctx, ctxSize);
    // struct bpf_test_run_opts (libbpf 1.1 layout, 80 bytes).
    const o = Buffer.alloc(80);
    o.writeBigUInt64LE(80n, 0);
    o.writeBigUInt64LE(address(din), 8);
    o.writeBigUInt64LE(address(dout), 16);
    o.writeUInt32LE(input.data.length, 24);
    o.writeUInt32LE(outSize, 28);
    if (input.ctx) {
      o.writeBigUInt64LE(address(cin), 32);
      o.writeBigUInt64LE(address(cout), 40);
      o.writeUInt32LE(ctxSize, 48);
      o.writeUInt32LE(ctxSize, 52);
    }
    o.writeInt32LE(input.repeat ?? 1, 60);
    o.writeUInt32LE(input.flags ?? 0, 68);
    const rc = ffi.testRun(progFd, o);
    if (rc < 0) throw new BpfError('ESFC_BPF_TEST_RUN', `test run of program fd ${progFd}`, -rc, errText(rc));
    return {
      retval: o.readUInt32LE(56),
      data: readBytes(dout, o.readUInt32LE(28)),
      ctx: readBytes(cout, input.ctx ? o.readUInt32LE(52) : 0),
      durationNs: o.readUInt32LE(64),
    };
  } finally {
    for (const p of [din, dout, cin, cout]) free(p);
  }
}

/** struct __sk_buff fields that BPF_PROG_TEST_RUN accepts (offsets checked against vmlinux BTF in a test). */
export const SkbCtx = { size: 192, ifindex: 40, ingressIfindex: 36, mark: 8, gsoSegs: 164, gsoSize: 176, wireLen: 160 } as const;
export const XdpCtx = { size: 24, dataEnd: 4, ingressIfindex: 12, rxQueueIndex: 16 } as const;

export function skbContext(f: { ifindex: number; gsoSegs?: number; gsoSize?: number }): Buffer {
  const b = Buffer.alloc(SkbCtx.size);
  b.writeUInt32LE(f.ifindex, SkbCtx.ifindex);
  b.writeUInt32LE(f.ifindex, SkbCtx.ingressIfindex);
  b.writeUInt32LE(f.gsoSegs ?? 0, SkbCtx.gsoSegs);
  b.writeUInt32LE(f.gsoSize ?? 0, SkbCtx.gsoSize);
  return b;
}

export function xdpContext(f: { ingressIfindex: number; dataLen: number }): Buffer {
  const b = Buffer.alloc(XdpCtx.size);
  b.writeUInt32LE(f.dataLen, XdpCtx.dataEnd);
  b.writeUInt32LE(f.ingressIfindex, XdpCtx.ingressIfindex);
  return b;
}

const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

/**
 * XDP live-frames mode: the kernel runs the program `repeat` times on fresh
 * copies of `data` and really transmits what it returns XDP_TX/REDIRECT for,
 * out of the ctx's ingress interface. A traffic generator that keeps up.
 */
export function testRunLive(progFd: number, data: Buffer, ingressIfindex: number, repeat: number, batchSize = 64): void {
  const ctx = xdpContext({ ingressIfindex, dataLen: data.length });
  const din = alloc(data.length);
  const cin = alloc(ctx.length);
  try {
    ffi.memcpyIn(din, data, data.length);
    ffi.memcpyIn(cin, ctx, ctx.length);
    const o = Buffer.alloc(80);
    o.writeBigUInt64LE(80n, 0);
    o.writeBigUInt64LE(address(din), 8);
    o.writeUInt32LE(data.length, 24);
    o.writeBigUInt64LE(address(cin), 32);
    o.writeUInt32LE(ctx.length, 48);
    o.writeInt32LE(repeat, 60);
    o.writeUInt32LE(BPF_F_TEST_XDP_LIVE_FRAMES, 68);
    o.writeUInt32LE(batchSize, 76);
    const rc = ffi.testRun(progFd, o);
    if (rc < 0) throw new BpfError('ESFC_BPF_TEST_RUN', `live-frames run of program fd ${progFd}`, -rc, errText(rc));
  } finally {
    free(din);
    free(cin);
  }
}
