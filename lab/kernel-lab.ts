/**
 * The kernel lab: runs one command under one of Debian's distribution
 * kernels in qemu (TCG, never KVM), with this host's root filesystem shared
 * read-only over 9p (so node, the build and the tests are the same files)
 * and a fresh writable overlay. Two kernels, so both of the agent's code
 * paths run somewhere: Debian 12's 6.1 (cls_bpf, no adjust_room decap flag,
 * the older verifier) and Debian 13's 6.12 (tcx, the decap flags). Built by
 * scripts/lab-setup.sh. Everything in it runs ~10x slower than on the host:
 * timings taken inside are ratios at best.
 *
 * The guest's /init (lab/lab-init.sh) and this file talk through a
 * scratch directory shared as /lab: job.sh and watchdog in; started, output
 * and exit-status out.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export const LAB_CACHE = process.env.ESFC_LAB_CACHE ?? '/var/cache/esfc-lab';
const QEMU = 'qemu-system-x86_64';
const SETUP_FIX = 'run bash scripts/lab-setup.sh (as root)';

/** The kernels the lab boots, by series; scripts/lab-setup.sh builds each under LAB_CACHE/<series>. */
export const LAB_KERNELS = ['6.1', '6.12'] as const;
export type LabKernel = (typeof LAB_KERNELS)[number];
/** Where each comes from, for messages and test names. */
export const LAB_KERNEL_SOURCE: Readonly<Record<LabKernel, string>> = { '6.1': 'Debian 12', '6.12': 'Debian 13' };

export interface LabResult {
  /** The command's exit status; null if the guest never reported one (timeout, panic, qemu failure). */
  exitCode: number | null;
  /** The command's stdout and stderr, interleaved as written. */
  output: string;
  /** The guest's serial console (kernel and init messages), then qemu's own stderr if it wrote any. */
  console: string;
  timedOut: boolean;
  /** From the call until the job started, failed boots included (0 if it never did). */
  bootMs: number;
  durationMs: number;
  /** The kernel series booted, and its release (what `uname -r` says in the guest). */
  kernel: LabKernel;
  release: string;
  /** The scratch directory, when opts.keepScratch kept it. */
  scratch?: string;
  /**
   * Boots that panicked before the job started and were followed by another boot, one line each
   * (the kernel's own words), oldest first. Their consoles head `console`.
   */
  bootPanics: string[];
}

export interface LabOptions {
  /** Which kernel to boot (default: ESFC_LAB_KERNEL, else 6.1, the one every caller had before there were two). */
  kernel?: LabKernel;
  /** Working directory of the command, a path of the host's tree (default: this process's cwd). */
  cwd?: string;
  /** Added to PATH (this process's) and HOME=/root; nothing else of this process's environment goes in. */
  env?: Record<string, string>;
  /** qemu is killed after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Live output of the command, as it is written. */
  onOutput?: (chunk: string) => void;
  /** Memory of the guest in MiB (default 3072). */
  memoryMb?: number;
  /** Keep the scratch directory (job.sh, output, console.log) for a post-mortem; its path is in the result. */
  keepScratch?: boolean;
  /** Boots tried when the guest panics before the job starts (default 3). */
  bootAttempts?: number;
  /** Added to the kernel's command line (e.g. to make a boot fail on purpose). */
  append?: readonly string[];
}

export class LabError extends Error {
  readonly code = 'ESFC_LAB';
  constructor(what: string, readonly fix = SETUP_FIX) {
    super(`kernel lab: ${what} (fix: ${fix})`);
    this.name = 'LabError';
  }
}

/** A kernel series from user input (CLI flag, environment); throws a LabError naming the known ones. */
export function parseLabKernel(s: string): LabKernel {
  const k = LAB_KERNELS.find((x) => x === s);
  if (!k) throw new LabError(`unknown kernel ${JSON.stringify(s)}`, `use one of ${LAB_KERNELS.join(', ')}`);
  return k;
}

/** ESFC_LAB_KERNEL picks the kernel for callers that name none (the demo, the benchmarks). */
export function defaultLabKernel(): LabKernel {
  const env = process.env.ESFC_LAB_KERNEL;
  return env ? parseLabKernel(env) : '6.1';
}

/**
 * The kernels this machine's lab is meant to have: ESFC_LAB_KERNELS (as scripts/lab-setup.sh
 * reads it, e.g. "6.1"), else all. Tests skip the others, naming the variable, instead of failing.
 */
export function selectedLabKernels(): LabKernel[] {
  const env = process.env.ESFC_LAB_KERNELS?.trim();
  return env ? env.split(/[\s,]+/).map(parseLabKernel) : [...LAB_KERNELS];
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d !== '' && existsSync(join(d, bin)));
}

const kernelDir = (kernel: LabKernel): string => join(LAB_CACHE, kernel);

export function labAvailable(kernel: LabKernel = defaultLabKernel()): { ok: true } | { ok: false; reason: string } {
  if (!onPath(QEMU)) return { ok: false, reason: `${QEMU} is not installed (${SETUP_FIX} installs it)` };
  for (const f of ['vmlinux', 'initramfs.cpio.gz', 'kernel-version']) {
    const path = join(kernelDir(kernel), f);
    if (!existsSync(path)) return { ok: false, reason: `${path} is missing: the ${kernel} kernel is not built (${SETUP_FIX} builds it)` };
  }
  return { ok: true };
}

/** The release a kernel series boots as, e.g. "6.1.0-57-amd64" (what `uname -r` prints in the guest). */
export function labKernelRelease(kernel: LabKernel = defaultLabKernel()): string {
  const f = join(kernelDir(kernel), 'kernel-version');
  if (!existsSync(f)) throw new LabError(`${f} is missing`);
  return readFileSync(f, 'utf8').trim();
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

// A test runner that exits early would leave its qemu running until the guest's watchdog.
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
  const kernel = opts.kernel ?? defaultLabKernel();
  const avail = labAvailable(kernel);
  if (!avail.ok) throw new LabError(avail.reason);
  // One release for the whole run, even if lab-setup moves the series' link meanwhile.
  const dir = realpathSync(kernelDir(kernel));
  const release = readFileSync(join(dir, 'kernel-version'), 'utf8').trim();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: '/root', ...opts.env };
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`runInLab: ${JSON.stringify(k)} is not an environment variable name`);
  }
  const attempts = Math.max(1, opts.bootAttempts ?? 3);
  const start = Date.now();
  const deadline = start + (opts.timeoutMs ?? 10 * 60_000);
  const bootPanics: string[] = [];
  let earlier = '';
  for (let attempt = 1; ; attempt++) {
    const bootStart = Date.now();
    const boot = await bootOnce(command, opts, { kernel, dir, release, env, timeoutMs: Math.max(1000, deadline - bootStart) });
    const panic = boot.started || boot.result.timedOut ? undefined : panicLine(boot.result.console);
    if (panic === undefined || attempt >= attempts || Date.now() >= deadline) {
      const bootMs = boot.result.bootMs ? boot.result.bootMs + (bootStart - start) : 0;
      return { ...boot.result, console: earlier + boot.result.console, bootMs, durationMs: Date.now() - start, bootPanics };
    }
    // Under TCG with two vCPUs, Debian's kernels have (rarely) panicked while booting, before any
    // of our code ran: the job never started, so booting again is safe and is not a retry of it.
    bootPanics.push(panic);
    // Its console is kept below; a kept scratch of a boot that never ran the job holds nothing more.
    if (boot.result.scratch) rmSync(boot.result.scratch, { recursive: true, force: true });
    earlier += `[lab] boot ${attempt} panicked before the job started: ${panic}\n${boot.result.console}\n[lab] boot ${attempt + 1}\n`;
  }
}

/**
 * The line that says why a guest's kernel died, from its console: the first BUG or oops
 * (oops=panic makes either end the guest), else the panic's own reason. Undefined if it did not panic.
 */
export function panicLine(console: string): string | undefined {
  const lines = console.split('\n');
  const panic = lines.find((l) => /Kernel panic - not syncing/.test(l));
  if (panic === undefined) return undefined;
  const first = lines.find((l) => /\b(BUG:|Oops:|general protection fault)/.test(l)) ?? panic;
  return first.replace(/^\[\s*[\d.]+\]\s*/, '').trim();
}

interface Boot {
  kernel: LabKernel;
  dir: string;
  release: string;
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/** One qemu run of the job; `started` says whether the guest got as far as the job. */
async function bootOnce(command: readonly string[], opts: LabOptions, boot: Boot): Promise<{ result: Omit<LabResult, 'bootPanics'>; started: boolean }> {
  const { kernel, dir, release, env, timeoutMs } = boot;
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
  // The guest powers itself off a little after the host would have killed it (for a host that died first).
  writeFileSync(file('watchdog'), `${Math.ceil(timeoutMs / 1000) + 30}\n`);
  const args = [
    '-machine', 'q35', '-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '2', '-m', String(opts.memoryMb ?? 3072),
    '-kernel', join(dir, 'vmlinux'), '-initrd', join(dir, 'initramfs.cpio.gz'),
    // panic=-1 with -no-reboot: a panicking guest ends qemu at once instead of hanging until the timeout.
    '-append', ['console=ttyS0 quiet panic=-1 oops=panic', ...(opts.append ?? [])].join(' '),
    '-fsdev', 'local,id=host,path=/,security_model=none,readonly=on,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=host,mount_tag=host',
    '-fsdev', `local,id=scratch,path=${scratch},security_model=none`, '-device', 'virtio-9p-pci,fsdev=scratch,mount_tag=scratch',
    '-serial', `file:${file('console.log')}`, '-display', 'none', '-monitor', 'none', '-vga', 'none', '-nic', 'none', '-no-reboot',
  ];
  // setpriv (util-linux) makes the kernel kill qemu when this process dies, even by SIGKILL or a
  // test runner's SIGTERM, which skip the 'exit' handler above; it execs qemu, so the pid is qemu's.
  const [bin, argv] = onPath('setpriv') ? ['setpriv', ['--pdeathsig', 'KILL', QEMU, ...args]] : [QEMU, args];
  const qemu = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(qemu);
  let qemuErr = '';
  qemu.stderr.on('data', (d: Buffer) => { qemuErr += d.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; qemu.kill('SIGKILL'); }, timeoutMs);

  // The scratch share is a plain host directory: follow the output file as the guest writes it.
  let startedAt = 0;
  let offset = 0;
  const decoder = new StringDecoder('utf8'); // a read may end inside a multi-byte character
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
  const started = existsSync(file('started'));
  const result: Omit<LabResult, 'bootPanics'> = {
    exitCode: /^\d+$/.test(status) ? Number(status) : null,
    output: read('output'),
    console: read('console.log') + (qemuErr ? `\n[qemu] ${qemuErr}` : ''),
    timedOut,
    bootMs: startedAt ? startedAt - start : 0,
    durationMs: Date.now() - start,
    kernel,
    release,
  };
  if (opts.keepScratch) result.scratch = scratch;
  else rmSync(scratch, { recursive: true, force: true });
  return { result, started };
}
