/**
 * Loading BPF objects with their maps pinned by name under a pin root: a
 * second object (the other hook) or a restarted agent reuses the pinned maps
 * instead of creating new ones. No esfc policy here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { BpfError } from './errors.js';
import { BpfMap } from './bpf-map.js';
import { address, alloc, errText, errno, ffi, free, isNull, readBytes } from './libbpf.js';

const LOG_SIZE = 4 << 20;

export interface LoadedObject {
  path: string;
  programs: Map<string, number>;
  maps: Map<string, BpfMap>;
  close(): void;
}

export function ensureBpffs(): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  if (!mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf')) {
    mkdirSync('/sys/fs/bpf', { recursive: true });
    execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  }
}

function cString(s: string): unknown {
  const b = Buffer.from(`${s}\0`);
  const p = alloc(b.length);
  ffi.memcpyIn(p, b, b.length);
  return p;
}

export function loadObject(objectPath: string, pinRoot: string, programNames: readonly string[], mapNames: readonly string[]): LoadedObject {
  if (!existsSync(objectPath)) throw new BpfError('ESFC_BPF_LOAD', `open ${objectPath}`, 2, 'no such file', 'run `npm run build` (make -C bpf)');
  ensureBpffs();
  mkdirSync(pinRoot, { recursive: true });
  // struct bpf_object_open_opts as of libbpf 1.1 (80 bytes); newer libbpf accepts the smaller sz.
  const opts = Buffer.alloc(80);
  const root = cString(pinRoot);
  opts.writeBigUInt64LE(80n, 0);
  opts.writeBigUInt64LE(address(root), 24);
  const obj = ffi.objectOpenFile(objectPath, opts);
  free(root);
  if (isNull(obj)) {
    const e = errno();
    throw new BpfError('ESFC_BPF_LOAD', `open ${objectPath}`, e, errText(e), 'is it a BPF object built by `make -C bpf`?');
  }
  const logs = new Map<string, unknown>();
  for (const name of programNames) {
    const prog = ffi.findProgram(obj, name);
    if (isNull(prog)) {
      ffi.objectClose(obj);
      throw new BpfError('ESFC_BPF_LOAD', `find program ${name} in ${objectPath}`, 2, 'not in the object');
    }
    const log = alloc(LOG_SIZE);
    logs.set(name, log);
    ffi.programSetLogBuf(prog, log, LOG_SIZE);
  }
  const rc = ffi.objectLoad(obj);
  if (rc < 0) {
    const text = [...logs.values()].map((l) => readBytes(l, LOG_SIZE)).map((b) => b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString()).join('\n').trim();
    for (const l of logs.values()) free(l);
    ffi.objectClose(obj);
    throw new BpfError('ESFC_BPF_LOAD', `load ${objectPath}`, -rc, errText(rc),
      -rc === 1 ? 'needs root (CAP_BPF, CAP_NET_ADMIN)' : 'the kernel rejected a program or a pinned map does not match this build (esfc agent --uninstall clears old pins)',
      text.slice(-16000) || undefined);
  }
  for (const l of logs.values()) free(l);
  const programs = new Map(programNames.map((n) => [n, ffi.programFd(ffi.findProgram(obj, n))]));
  const maps = new Map<string, BpfMap>();
  for (const n of mapNames) {
    const m = ffi.findMap(obj, n);
    if (isNull(m)) continue;
    maps.set(n, new BpfMap(ffi.mapFd(m)));
  }
  return { path: objectPath, programs, maps, close: () => ffi.objectClose(obj) };
}

/** Program id and tag by fd (for status and to tell whether a link already runs this build). */
export function programInfo(fd: number): { id: number; tag: string; name: string } {
  const buf = Buffer.alloc(256);
  const len = [buf.length];
  const rc = ffi.objGetInfoByFd(fd, buf, len);
  if (rc < 0) throw new BpfError('ESFC_BPF_LOAD', `program info of fd ${fd}`, -rc, errText(rc));
  const name = buf.subarray(64, 80);
  return { id: buf.readUInt32LE(4), tag: buf.subarray(8, 16).toString('hex'), name: name.subarray(0, Math.max(0, name.indexOf(0))).toString() };
}
