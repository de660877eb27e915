/** A BPF map by fd: typed-free byte access, iteration, per-CPU reads. */
import { BpfError } from './errors.js';
import { errText, ffi } from './libbpf.js';

const PERCPU_TYPES = new Set([5, 6, 10]); // PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH
const ENOENT = 2;
let possibleCpus = 0;

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  name: string;
}

export function mapInfo(fd: number): MapInfo {
  const buf = Buffer.alloc(128);
  const len = [buf.length];
  const rc = ffi.objGetInfoByFd(fd, buf, len);
  if (rc < 0) throw new BpfError('ESFC_BPF_MAP', `map info of fd ${fd}`, -rc, errText(rc));
  const name = buf.subarray(24, 40);
  return {
    type: buf.readUInt32LE(0), id: buf.readUInt32LE(4), keySize: buf.readUInt32LE(8),
    valueSize: buf.readUInt32LE(12), maxEntries: buf.readUInt32LE(16),
    name: name.subarray(0, name.indexOf(0) < 0 ? 16 : name.indexOf(0)).toString(),
  };
}

export class BpfMap {
  readonly perCpu: boolean;
  readonly info: MapInfo;

  constructor(readonly fd: number, private readonly owned = false) {
    this.info = mapInfo(fd);
    this.perCpu = PERCPU_TYPES.has(this.info.type);
  }

  static openPinned(path: string): BpfMap {
    const fd = ffi.objGet(path);
    if (fd < 0) throw new BpfError('ESFC_BPF_PIN', `open pinned map ${path}`, -fd, errText(fd), 'is the agent installed on this node (esfc agent --config ...)?');
    return new BpfMap(fd, true);
  }

  get name(): string { return this.info.name; }
  get maxEntries(): number { return this.info.maxEntries; }

  private valueBufSize(): number {
    if (!this.perCpu) return this.info.valueSize;
    if (!possibleCpus) possibleCpus = ffi.numPossibleCpus();
    return Math.ceil(this.info.valueSize / 8) * 8 * possibleCpus;
  }

  lookup(key: Buffer): Buffer | undefined {
    const v = Buffer.alloc(this.valueBufSize());
    const rc = ffi.mapLookup(this.fd, key, v);
    if (rc === -ENOENT) return undefined;
    if (rc < 0) throw new BpfError('ESFC_BPF_MAP', `lookup in ${this.name}`, -rc, errText(rc));
    return v;
  }

  /** One value per possible CPU. */
  lookupPerCpu(key: Buffer): Buffer[] {
    const all = this.lookup(key);
    return all ? this.perCpuCells(all) : [];
  }

  update(key: Buffer, value: Buffer, flags = 0): void {
    if (key.length !== this.info.keySize || (!this.perCpu && value.length !== this.info.valueSize)) {
      throw new BpfError('ESFC_BPF_MAP', `update ${this.name}`, 22, `key ${key.length}/${this.info.keySize} or value ${value.length}/${this.info.valueSize} bytes do not match the map`);
    }
    const rc = ffi.mapUpdate(this.fd, key, value, flags);
    if (rc < 0) throw new BpfError('ESFC_BPF_MAP', `update ${this.name}`, -rc, errText(rc), -rc === 7 ? `the map holds at most ${this.maxEntries} entries` : undefined);
  }

  delete(key: Buffer): void {
    const rc = ffi.mapDelete(this.fd, key);
    if (rc < 0 && rc !== -ENOENT) throw new BpfError('ESFC_BPF_MAP', `delete from ${this.name}`, -rc, errText(rc));
  }

  /**
   * `count` values of an array map (plain or per-CPU) from index `start`, in
   * index order, with BPF_MAP_LOOKUP_BATCH: a few syscalls instead of one per
   * index (esfc_ports has 65536 slots per generation, and reading them one by
   * one costs a reconcile 0.15 s, seconds under emulation). Per-CPU values
   * come as lookup() returns them: one 8-byte aligned cell per possible CPU.
   */
  arrayValues(start = 0, count = this.info.maxEntries - start): Buffer {
    const { keySize, maxEntries } = this.info;
    if ((this.info.type !== 2 /* ARRAY */ && this.info.type !== 6 /* PERCPU_ARRAY */) || keySize !== 4) {
      throw new BpfError('ESFC_BPF_MAP', `batch read of ${this.name}`, 22, 'not an array map');
    }
    if (start < 0 || count < 0 || start + count > maxEntries) throw new BpfError('ESFC_BPF_MAP', `batch read of ${this.name}`, 22, `indices ${start}..${start + count - 1} beyond ${maxEntries} entries`);
    const valueSize = this.valueBufSize();
    const out = Buffer.alloc(count * valueSize);
    const chunk = Math.min(count, 8192);
    const keys = Buffer.alloc(chunk * 4);
    const values = Buffer.alloc(chunk * valueSize);
    // The batch token is the last index read; the kernel continues after it.
    let inBatch: Buffer | null = start > 0 ? Buffer.from(new Uint32Array([start - 1]).buffer) : null;
    for (let done = 0; done < count;) {
      const outBatch = Buffer.alloc(4);
      const n = [Math.min(chunk, count - done)];
      const rc = ffi.mapLookupBatch(this.fd, inBatch, outBatch, keys, values, n, null);
      if (rc < 0 && rc !== -ENOENT) throw new BpfError('ESFC_BPF_MAP', `batch read of ${this.name}`, -rc, errText(rc));
      // An array hands out consecutive indices: one copy per chunk.
      if (n[0]) values.copy(out, (keys.readUInt32LE(0) - start) * valueSize, 0, n[0] * valueSize);
      done += n[0]!;
      if (rc === -ENOENT || n[0] === 0) break;
      inBatch = outBatch;
    }
    return out;
  }

  /** Per-CPU cells of one value as arrayValues() or lookup() return it. */
  perCpuCells(value: Buffer): Buffer[] {
    const stride = Math.ceil(this.info.valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let o = 0; o + stride <= value.length; o += stride) out.push(value.subarray(o, o + this.info.valueSize));
    return out;
  }

  *keys(): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.info.keySize);
      const rc = ffi.mapNextKey(this.fd, prev, next);
      if (rc === -ENOENT) return;
      if (rc < 0) throw new BpfError('ESFC_BPF_MAP', `iterate ${this.name}`, -rc, errText(rc));
      yield next;
      prev = next;
    }
  }

  close(): void {
    if (this.owned) ffi.close(this.fd);
  }
}

