/**
 * The kernel lab (DESIGN.md "Kernel lab"): runs one command under Debian's
 * distribution kernel in qemu (TCG, never KVM: nested KVM hangs here), with
 * this host's root filesystem shared read-only over 9p, so node, dist/ and
 * the tools are the very same files, under a fresh writable overlay. Built by
 * scripts/lab-setup.sh. Everything in the guest is emulated and runs ~10x
 * slower than on the host: timings taken inside are ratios at best.
 *
 * The guest's /init (test/lab/lab-init.sh) and this file talk through a
 * scratch directory shared as /lab: job.sh (written here) in; output,
 * started and exit-status (written by the guest) out.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export const LAB_CACHE = process.env.ESFC_LAB_CACHE ?? '/var/cache/esfc-lab';
const QEMU = 'qemu-system-x86_64';
const SETUP_FIX = 'run bash scripts/lab-setup.sh (as root)';

export interface LabResult {
  /** The command's exit status; null if the guest never reported one (timeout, panic, qemu failure). */
  exitCode: number | null;
  /** The command's stdout and stderr, interleaved as written. */
  output: string;
  /** The guest's serial console (kernel and /init messages), then qemu's own stderr if it wrote any. */
  console: string;
  timedOut: boolean;
  /** From spawning qemu until the job started (0 if it never did). */
  bootMs: number;
  durationMs: number;
  /** The scratch directory, when opts.keepScratch kept it. */
  scratch?: string;
}

export interface LabOptions {
  /** Working directory of the command, a path of the host's tree (default: this process's cwd). */
  cwd?: string;
  /** Added to PATH (this process's), HOME=/root and ESFC_IN_LAB=1; nothing else of this process's environment goes in. */
  env?: Record<string, string>;
  /** qemu is killed after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Live output of the command, as the guest writes it (polled every 100 ms). */
  onOutput?: (chunk: string) => void;
  /** Memory of the guest in MiB (default 3072). */
  memoryMb?: number;
  /** Keep the scratch directory (job.sh, output, console.log) for a post-mortem; its path is in the result. */
  keepScratch?: boolean;
}

/** The lab is not built or cannot run here; the message names what is missing and the fix. */
export class LabError extends Error {
  readonly code = 'ESFC_LAB';
  constructor(readonly what: string, readonly fix = SETUP_FIX) {
    super(`kernel lab: ${what} (fix: ${fix})`);
    this.name = 'LabError';
  }
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d !== '' && existsSync(join(d, bin)));
}

export function labAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ok: false, reason: `the lab runs on x86_64 Linux, not ${process.platform}/${process.arch}` };
  if (!onPath(QEMU)) return { ok: false, reason: `${QEMU} is not installed (${SETUP_FIX} installs it)` };
  for (const f of ['vmlinux', 'initramfs.cpio.gz', 'kernel-version']) {
    if (!existsSync(join(LAB_CACHE, f))) return { ok: false, reason: `${join(LAB_CACHE, f)} is missing (${SETUP_FIX} builds it)` };
  }
  return { ok: true };
}

/** The kernel release the lab boots, e.g. "6.1.0-56-amd64". */
export function labKernelVersion(): string {
  const f = join(LAB_CACHE, 'kernel-version');
  if (!existsSync(f)) throw new LabError(`${f} is missing`);
  return readFileSync(f, 'utf8').trim();
}

/**
 * Whether the running kernel can hold ESP SAs with AES-GCM, so the IPsec
 * tests can run here instead of in the lab. Nothing is tried (creating an SA
 * to find out would change the host); the answer comes from what the kernel
 * says about itself:
 *  - esp4 and gcm loaded (/sys/module lists every loaded module; this is also
 *    the answer inside the lab, whose /boot is the host's);
 *  - else its configuration (/proc/config.gz, else /boot/config-RELEASE):
 *    INET_ESP and CRYPTO_GCM built in, or modules whose files are installed
 *    for this release, so the kernel can load them on demand.
 * ESFC_HOST_ESP=0 or 1 overrides it (0 sends the IPsec suites to the lab).
 */
export function hostHasEsp(): boolean {
  if (process.env.ESFC_HOST_ESP === '0') return false;
  if (process.env.ESFC_HOST_ESP === '1') return true;
  if (existsSync('/sys/module/esp4') && existsSync('/sys/module/gcm')) return true;
  let release: string;
  let config = '';
  try {
    release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    if (existsSync('/proc/config.gz')) config = gunzipSync(readFileSync('/proc/config.gz')).toString();
    else if (existsSync(`/boot/config-${release}`)) config = readFileSync(`/boot/config-${release}`, 'utf8');
  } catch {
    return false;
  }
  const opt = (name: string): string | undefined => new RegExp(`^CONFIG_${name}=([ym])$`, 'm').exec(config)?.[1];
  let modulesDep = '';
  try {
    modulesDep = readFileSync(`/lib/modules/${release}/modules.dep`, 'utf8');
  } catch {
    // No module tree: only what is built in counts.
  }
  const usable = (name: string, ko: string): boolean => {
    const v = opt(name);
    return v === 'y' || (v === 'm' && opt('MODULES') === 'y' && new RegExp(`/${ko}\\.ko[^:]*:`).test(modulesDep));
  };
  return usable('INET_ESP', 'esp4') && usable('CRYPTO_GCM', 'gcm');
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

// A qemu left behind by a test runner that exits early would run until its guest's watchdog.
const running = new Set<{ kill: (signal: NodeJS.Signals) => boolean }>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/**
 * Runs one command in the lab; resolves when the guest powers off or the
 * timeout kills it. Throws LabError when the lab is not built or qemu cannot
 * start; a failing command is a result, not an exception.
 */
export async function runInLab(command: readonly string[], opts: LabOptions = {}): Promise<LabResult> {
  if (command.length === 0) throw new Error('runInLab: empty command');
  const avail = labAvailable();
  if (!avail.ok) throw new LabError(avail.reason);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
    HOME: '/root',
    ESFC_IN_LAB: '1',
    ...opts.env,
  };
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runInLab: ${JSON.stringify(k)} is not an environment variable name`);
  }
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const start = Date.now();
  const scratch = mkdtempSync(join(tmpdir(), 'esfc-lab-'));
  const file = (f: string): string => join(scratch, f);
  writeFileSync(file('job.sh'), [
    '#!/bin/sh',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shQuote(v)}`),
    ': > /lab/started',
    `cd ${shQuote(opts.cwd ?? process.cwd())} || exit 125`,
    `exec ${command.map(shQuote).join(' ')}`,
    '',
  ].join('\n'));
  writeFileSync(file('output'), '');
  // The guest powers itself off a little after the host would have killed it.
  writeFileSync(file('watchdog'), `${Math.ceil(timeoutMs / 1000) + 30}\n`);

  const args = [
    '-machine', 'q35', '-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '2', '-m', String(opts.memoryMb ?? 3072),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', join(LAB_CACHE, 'vmlinux'), '-initrd', join(LAB_CACHE, 'initramfs.cpio.gz'),
    // panic=-1 with -no-reboot: a panicking guest ends qemu at once instead of hanging until the timeout.
    '-append', 'console=ttyS0 quiet panic=-1 oops=panic',
    '-fsdev', 'local,id=host,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=host,mount_tag=host',
    '-fsdev', `local,id=scratch,path=${scratch},security_model=none`,
    '-device', 'virtio-9p-pci,fsdev=scratch,mount_tag=scratch',
    '-serial', `file:${file('console.log')}`,
  ];
  const qemu = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(qemu);
  let qemuErr = '';
  qemu.stderr.on('data', (d: Buffer) => { qemuErr += d.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; qemu.kill('SIGKILL'); }, timeoutMs);

  // The scratch share is a plain host directory: follow the output file as the guest writes it.
  let startedAt = 0;
  let offset = 0;
  const decoder = new StringDecoder('utf8');
  const follow = (): void => {
    if (!startedAt && existsSync(file('started'))) startedAt = Date.now();
    if (!opts.onOutput) return;
    const fd = openSync(file('output'), 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      let n: number;
      while ((n = readSync(fd, buf, 0, buf.length, offset)) > 0) {
        offset += n;
        const text = decoder.write(buf.subarray(0, n));
        if (text) opts.onOutput(text);
      }
    } finally {
      closeSync(fd);
    }
  };
  const poll = setInterval(follow, 100);
  let spawnError: Error | undefined;
  await new Promise<void>((resolve) => {
    qemu.once('error', (e) => { spawnError = e; resolve(); });
    qemu.once('close', () => resolve());
  });
  running.delete(qemu);
  clearTimeout(timer);
  clearInterval(poll);
  if (spawnError) {
    rmSync(scratch, { recursive: true, force: true });
    throw new LabError(`cannot start ${QEMU}: ${spawnError.message}`);
  }
  follow();
  const tail = decoder.end();
  if (tail && opts.onOutput) opts.onOutput(tail);

  const read = (f: string): string => (existsSync(file(f)) ? readFileSync(file(f), 'utf8') : '');
  const status = read('exit-status').trim();
  const result: LabResult = {
    exitCode: /^\d+$/.test(status) ? Number(status) : null,
    output: read('output'),
    console: read('console.log') + (qemuErr ? `\n[qemu] ${qemuErr}` : ''),
    timedOut,
    bootMs: startedAt ? startedAt - start : 0,
    durationMs: Date.now() - start,
  };
  if (opts.keepScratch) result.scratch = scratch;
  else rmSync(scratch, { recursive: true, force: true });
  return result;
}
