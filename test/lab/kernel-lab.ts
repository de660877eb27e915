/**
 * The kernel lab: runs one command under Debian's 6.1 distribution kernel in
 * qemu (TCG, never KVM), with this host's root filesystem shared read-only
 * over 9p (so node, the build and the tests are the same files) and a fresh
 * writable overlay. Built by scripts/lab-setup.sh. Everything in it runs
 * ~10x slower than on the host: timings taken inside are ratios at best.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LAB_CACHE = process.env.ESFC_LAB_CACHE ?? '/var/cache/esfc-lab';
const QEMU = 'qemu-system-x86_64';

export interface LabResult {
  /** The command's exit status; null if the guest never reported one. */
  exitCode: number | null;
  /** The command's stdout and stderr. */
  output: string;
  /** The guest's serial console (kernel and init messages). */
  console: string;
  timedOut: boolean;
  /** Until the job started, as reported by the console. */
  bootMs: number;
  durationMs: number;
}

export interface LabOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Live output of the command, as it is written. */
  onOutput?: (chunk: string) => void;
  /** Memory of the guest in MiB (default 3072). */
  memoryMb?: number;
}

export class LabError extends Error {
  readonly code = 'ESFC_LAB';
  constructor(what: string, readonly fix = 'run bash scripts/lab-setup.sh (as root)') {
    super(`kernel lab: ${what} (fix: ${fix})`);
  }
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => existsSync(join(d, bin)));
}

export function labAvailable(): { ok: true } | { ok: false; reason: string } {
  if (!onPath(QEMU)) return { ok: false, reason: `${QEMU} is not installed (bash scripts/lab-setup.sh installs it)` };
  for (const f of ['vmlinux', 'initramfs.cpio.gz', 'kernel-version']) {
    if (!existsSync(join(LAB_CACHE, f))) return { ok: false, reason: `${join(LAB_CACHE, f)} is missing (bash scripts/lab-setup.sh builds it)` };
  }
  return { ok: true };
}

/**
 * Whether this kernel can hold ESP SAs with AES-GCM. Read from the kernel's
 * own configuration (/proc/config.gz or /boot/config-*): ESP and GCM built in
 * or as modules, and module loading possible when they are modules.
 */
export function hostHasEsp(): boolean {
  if (process.env.ESFC_HOST_ESP === '0') return false;
  let config = '';
  try {
    if (existsSync('/proc/config.gz')) config = gunzipSync(readFileSync('/proc/config.gz')).toString();
    else {
      const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
      if (existsSync(`/boot/config-${release}`)) config = readFileSync(`/boot/config-${release}`, 'utf8');
    }
  } catch {
    return false;
  }
  const opt = (name: string): string | undefined => new RegExp(`^CONFIG_${name}=([ym])$`, 'm').exec(config)?.[1];
  const esp = opt('INET_ESP'), gcm = opt('CRYPTO_GCM'), modules = opt('MODULES');
  if (!esp || !gcm) return false;
  return (esp === 'y' && gcm === 'y') || modules === 'y';
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run one command in the lab; resolves when the guest powers off or the timeout kills it. */
export async function runInLab(command: readonly string[], opts: LabOptions = {}): Promise<LabResult> {
  const avail = labAvailable();
  if (!avail.ok) throw new LabError(avail.reason);
  const start = Date.now();
  const scratch = mkdtempSync(join(tmpdir(), 'esfc-lab-'));
  const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: '/root', ...opts.env };
  writeFileSync(join(scratch, 'job.sh'), [
    '#!/bin/sh',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shQuote(v)}`),
    ': > /lab/started',
    `cd ${shQuote(opts.cwd ?? process.cwd())} || exit 125`,
    `exec ${command.map(shQuote).join(' ')}`,
    '',
  ].join('\n'));
  writeFileSync(join(scratch, 'output'), '');
  const consoleFile = join(scratch, 'console.log');
  const args = [
    '-machine', 'q35', '-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '2', '-m', String(opts.memoryMb ?? 3072),
    '-kernel', join(LAB_CACHE, 'vmlinux'), '-initrd', join(LAB_CACHE, 'initramfs.cpio.gz'),
    '-append', 'console=ttyS0 quiet panic=-1 oops=panic',
    '-fsdev', 'local,id=host,path=/,security_model=none,readonly=on,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=host,mount_tag=host',
    '-fsdev', `local,id=scratch,path=${scratch},security_model=none`, '-device', 'virtio-9p-pci,fsdev=scratch,mount_tag=scratch',
    '-serial', `file:${consoleFile}`, '-display', 'none', '-monitor', 'none', '-vga', 'none', '-nic', 'none', '-no-reboot',
  ];
  const qemu = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  qemu.stderr.on('data', (d: Buffer) => { qemuErr += d.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; qemu.kill('SIGKILL'); }, opts.timeoutMs ?? 10 * 60_000);
  // The scratch share is a plain host directory: follow the output file as the guest writes it.
  let offset = 0;
  let startedAt = 0;
  const follow = (): void => {
    if (!startedAt && existsSync(join(scratch, 'started'))) startedAt = Date.now();
    if (!opts.onOutput) return;
    const size = statSync(join(scratch, 'output')).size;
    if (size <= offset) return;
    const fd = openSync(join(scratch, 'output'), 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    offset = size;
    opts.onOutput(buf.toString());
  };
  const poll = setInterval(follow, 100);
  await new Promise<void>((resolve) => qemu.on('exit', () => resolve()));
  clearTimeout(timer);
  clearInterval(poll);
  follow();
  const read = (f: string): string => (existsSync(join(scratch, f)) ? readFileSync(join(scratch, f), 'utf8') : '');
  const consoleText = read('console.log') + (qemuErr ? `\n[qemu] ${qemuErr}` : '');
  const status = read('exit-status').trim();
  const result: LabResult = {
    exitCode: status === '' ? null : Number(status),
    output: read('output'),
    console: consoleText,
    timedOut,
    bootMs: startedAt ? startedAt - start : 0,
    durationMs: Date.now() - start,
  };
  rmSync(scratch, { recursive: true, force: true });
  return result;
}
