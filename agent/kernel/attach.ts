/**
 * Attaching programs so that they outlive the agent:
 * - XDP: a BPF link (BPF_XDP), pinned.
 * - TC ingress: a tcx link (6.6+), pinned; on older kernels (the kernel lab's
 *   6.1) a cls_bpf direct-action filter on clsact, which the kernel keeps
 *   without a pin; a record of it is kept in the agent's state directory.
 * Re-attaching over an existing pin swaps the program atomically
 * (bpf_link_update / BPF_TC_F_REPLACE): no packet sees an empty hook.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfError } from './errors.js';
import { AttachType, errText, ffi } from './libbpf.js';

export type Mechanism = 'xdp-link' | 'tcx' | 'cls_bpf';
/** 'tc' is TC ingress; only the EF glue uses egress. */
export type Hook = 'xdp' | 'tc' | 'tc-egress';

export interface AttachResult {
  mechanism: Mechanism;
  replaced: boolean;
}

export interface AttachmentRecord {
  ifname: string;
  ifindex: number;
  hook: Hook;
  mechanism: Mechanism;
}

const EINVAL = 22;
const EOPNOTSUPP = 95;
const EEXIST = 17;
const TC_HANDLE = 0xe5fc;
const TC_PRIORITY = 1;

function tcHook(ifindex: number, egress = false): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(24n, 0);
  b.writeInt32LE(ifindex, 8);
  b.writeUInt32LE(egress ? 2 /* BPF_TC_EGRESS */ : 1 /* BPF_TC_INGRESS */, 12);
  return b;
}

function tcOpts(progFd: number, flags: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(32n, 0);
  b.writeInt32LE(progFd, 8);
  b.writeUInt32LE(flags, 12);
  b.writeUInt32LE(TC_HANDLE, 20);
  b.writeUInt32LE(TC_PRIORITY, 24);
  return b;
}

/** Where one attachment's pin (or record) lives. */
export class AttachmentStore {
  constructor(readonly linkDir: string, readonly stateDir: string) {}

  /** bpffs refuses names with dots, which interface names may have (eth0.100). */
  linkPath(ifname: string, hook: Hook): string {
    return join(this.linkDir, `${ifname.replace(/%/g, '%25').replace(/\./g, '%2E')}_${hook}`);
  }

  recordPath(ifname: string, hook: Hook): string {
    return join(this.stateDir, 'attachments', `${ifname}.${hook}.json`);
  }

  write(r: AttachmentRecord): void {
    mkdirSync(join(this.stateDir, 'attachments'), { recursive: true });
    writeFileSync(this.recordPath(r.ifname, r.hook), JSON.stringify(r) + '\n');
  }

  list(): AttachmentRecord[] {
    const dir = join(this.stateDir, 'attachments');
    const recs: AttachmentRecord[] = existsSync(dir)
      ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as AttachmentRecord)
      : [];
    // A pinned link with no record (state dir lost: /run is tmpfs) is still ours.
    if (existsSync(this.linkDir)) {
      for (const f of readdirSync(this.linkDir)) {
        const m = /^(.+)_(xdp|tc|tc-egress)$/.exec(f);
        const ifname = m ? decodeURIComponent(m[1]!) : '';
        if (m && !recs.some((r) => r.ifname === ifname && r.hook === m[2])) {
          recs.push({ ifname, ifindex: 0, hook: m[2] as Hook, mechanism: m[2] === 'xdp' ? 'xdp-link' : 'tcx' });
        }
      }
    }
    return recs;
  }
}

function linkAttach(progFd: number, ifindex: number, type: number, pin: string): AttachResult | number {
  if (existsSync(pin)) {
    const fd = ffi.objGet(pin);
    if (fd < 0) throw new BpfError('ESFC_BPF_PIN', `open link ${pin}`, -fd, errText(fd));
    const rc = ffi.linkUpdate(fd, progFd, null);
    ffi.close(fd);
    if (rc < 0) throw new BpfError('ESFC_BPF_ATTACH', `update link ${pin}`, -rc, errText(rc));
    return { mechanism: type === AttachType.xdp ? 'xdp-link' : 'tcx', replaced: true };
  }
  const fd = ffi.linkCreate(progFd, ifindex, type, null);
  if (fd < 0) return fd;
  const rc = ffi.objPin(fd, pin);
  ffi.close(fd);
  if (rc < 0) throw new BpfError('ESFC_BPF_PIN', `pin link at ${pin}`, -rc, errText(rc), 'without the pin the hook would vanish with the agent');
  return { mechanism: type === AttachType.xdp ? 'xdp-link' : 'tcx', replaced: false };
}

export function attachXdp(store: AttachmentStore, progFd: number, ifname: string, ifindex: number): AttachResult {
  mkdirSync(store.linkDir, { recursive: true });
  const r = linkAttach(progFd, ifindex, AttachType.xdp, store.linkPath(ifname, 'xdp'));
  if (typeof r === 'number') {
    throw new BpfError('ESFC_BPF_ATTACH', `attach XDP to ${ifname}`, -r, errText(r),
      -r === 16 ? `another XDP program is attached to ${ifname} (ip link set dev ${ifname} xdp off)` :
        -r === 34 ? `the MTU of ${ifname} is too large for XDP without multi-buffer support` : undefined);
  }
  store.write({ ifname, ifindex, hook: 'xdp', mechanism: r.mechanism });
  return r;
}

export function attachTcIngress(store: AttachmentStore, progFd: number, ifname: string, ifindex: number): AttachResult {
  return attachTc(store, progFd, ifname, ifindex, 'tc');
}

export function attachTc(store: AttachmentStore, progFd: number, ifname: string, ifindex: number, hook: 'tc' | 'tc-egress'): AttachResult {
  const egress = hook === 'tc-egress';
  const dir = egress ? 'egress' : 'ingress';
  mkdirSync(store.linkDir, { recursive: true });
  const prior = store.list().find((x) => x.ifname === ifname && x.hook === hook);
  if (!prior || prior.mechanism === 'tcx') {
    const r = linkAttach(progFd, ifindex, egress ? AttachType.tcxEgress : AttachType.tcxIngress, store.linkPath(ifname, hook));
    if (typeof r !== 'number') {
      store.write({ ifname, ifindex, hook, mechanism: r.mechanism });
      return r;
    }
    // Kernels before 6.6 do not know BPF_TCX_INGRESS/EGRESS.
    if (-r !== EINVAL && -r !== EOPNOTSUPP) throw new BpfError('ESFC_BPF_ATTACH', `attach tcx ${dir} to ${ifname}`, -r, errText(r));
  }
  const tcHookBuf = tcHook(ifindex, egress);
  let rc = ffi.tcHookCreate(tcHookBuf);
  if (rc < 0 && -rc !== EEXIST) throw new BpfError('ESFC_BPF_ATTACH', `create clsact on ${ifname}`, -rc, errText(rc));
  rc = ffi.tcAttach(tcHookBuf, tcOpts(progFd, 1 /* BPF_TC_F_REPLACE */));
  if (rc < 0) throw new BpfError('ESFC_BPF_ATTACH', `attach cls_bpf ${dir} to ${ifname}`, -rc, errText(rc));
  store.write({ ifname, ifindex, hook, mechanism: 'cls_bpf' });
  return { mechanism: 'cls_bpf', replaced: prior !== undefined };
}

/** Remove one attachment; a link is released by unpinning (and detaching, if something else holds it). */
export function detach(store: AttachmentStore, rec: AttachmentRecord): void {
  const pin = store.linkPath(rec.ifname, rec.hook);
  if (existsSync(pin)) {
    const fd = ffi.objGet(pin);
    if (fd >= 0) {
      ffi.linkDetach(fd);
      ffi.close(fd);
    }
    rmSync(pin, { force: true });
  }
  if (rec.mechanism === 'cls_bpf' && rec.ifindex) {
    const rc = ffi.tcDetach(tcHook(rec.ifindex, rec.hook === 'tc-egress'), tcOpts(0, 0));
    // ENOENT: the interface or filter is already gone.
    if (rc < 0 && rc !== -2 && rc !== -19) throw new BpfError('ESFC_BPF_ATTACH', `detach cls_bpf from ${rec.ifname}`, -rc, errText(rc));
  }
  rmSync(store.recordPath(rec.ifname, rec.hook), { force: true });
}

/** Program id currently behind an attachment (0 if it cannot be read). */
export function attachedProgramId(store: AttachmentStore, rec: AttachmentRecord): number {
  const pin = store.linkPath(rec.ifname, rec.hook);
  if (existsSync(pin)) {
    const fd = ffi.objGet(pin);
    if (fd < 0) return 0;
    const info = Buffer.alloc(64);
    const rc = ffi.objGetInfoByFd(fd, info, [info.length]);
    ffi.close(fd);
    return rc < 0 ? 0 : info.readUInt32LE(8);
  }
  if (rec.mechanism === 'cls_bpf' && rec.ifindex) {
    const o = tcOpts(0, 0);
    return ffi.tcQuery(tcHook(rec.ifindex), o) < 0 ? 0 : o.readUInt32LE(16);
  }
  return 0;
}
