/** Running commands for tests, inside network namespaces by name, with typed failures. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly exitCode: number | null, readonly stderr: string) {
    super(`command failed (${exitCode}): ${argv.join(' ')}\n${stderr.trim()}`);
  }
}

export async function sh(argv: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(argv[0]!, argv.slice(1), { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    throw new CommandError(argv, typeof err.code === 'number' ? err.code : null, err.stderr ?? String(e));
  }
}

/** nsenter keeps the mount namespace (bpffs stays visible), unlike `ip netns exec`. */
export const inNs = (ns: string, argv: string[]): string[] => ['nsenter', `--net=/run/netns/${ns}`, '--', ...argv];

export function nsh(ns: string, argv: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return sh(inNs(ns, argv), opts);
}

export function spawnInNs(ns: string, argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
}

/** Resolves with the first stdout line that matches, or rejects on exit/timeout. */
export function waitForLine(p: ChildProcess, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let errBuf = '';
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for output; stderr: ${errBuf.slice(-2000)}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (match(line)) {
          clearTimeout(timer);
          p.stdout!.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', (d: Buffer) => { errBuf += d.toString(); });
    p.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before the expected output; stderr: ${errBuf.slice(-2000)}; stdout: ${buf.slice(-2000)}`)); });
  });
}

/**
 * Every JSON line the process writes on stdout, parsed, appended to `into`
 * (other lines are skipped). Also keeps the pipe drained, so the process
 * never blocks on a full one.
 */
export function collectJsonLines(p: ChildProcess, into: Record<string, unknown>[]): void {
  let buf = '';
  p.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { into.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON */ }
    }
  });
}

export function stopProcess(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => { clearTimeout(t); resolve(code); });
    p.kill(signal);
  });
}

/**
 * How long a process of ours may take to say it is ready: under the kernel
 * lab's emulation (and a busy CI machine) starting Node and loading BPF takes
 * many times what it takes on a host.
 */
export const STARTUP_MS = process.env.ESFC_IN_LAB === '1' ? 150_000 : 30_000;
