/**
 * simple_switch_grpc as a process the agent starts, finds again after its own
 * restart (a pid file and the command line it was started with), and stops.
 * BMv2 runs detached from the agent, so an agent restart does not take the
 * slow path (or a p4 node's whole SFF) down with it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileTail } from '../log.js';
import { connect } from 'node:net';

export interface Bmv2Port { port: number; ifname: string }

export interface Bmv2Options {
  binary: string;
  ports: readonly Bmv2Port[];
  /** host:port for P4Runtime. */
  grpcAddress: string;
  deviceId: number;
  logFile: string;
  pidFile: string;
  /** BMv2's own log level (trace..off); warn keeps the log small under load. */
  logLevel?: string;
  startTimeoutMs?: number;
}

export class Bmv2Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Bmv2Error';
  }
}

export interface Bmv2Handle { pid: number; args: string[] }

export function bmv2Args(o: Bmv2Options): string[] {
  const args = ['--device-id', String(o.deviceId), '--no-p4', '--log-file', o.logFile, '--log-level', o.logLevel ?? 'warn', '--log-flush'];
  for (const p of [...o.ports].sort((a, b) => a.port - b.port)) args.push('-i', `${p.port}@${p.ifname}`);
  args.push('--', '--grpc-server-addr', o.grpcAddress);
  return args;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function cmdline(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

/** The BMv2 its pid file names, if that process is still simple_switch_grpc (not a recycled pid). */
export function findBmv2(pidFile: string): Bmv2Handle | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  const argv = cmdline(pid);
  if (!argv?.[0]?.endsWith('simple_switch_grpc')) return undefined;
  // A zombie (killed, not yet reaped by whoever started it) is not a switch.
  try {
    if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return undefined;
  } catch {
    return undefined;
  }
  return { pid, args: argv.slice(1) };
}

/** The last bytes of BMv2's log (for errors: why it did not start). */
export function logTail(logFile: string, bytes = 2000): string {
  return fileTail(logFile, bytes) || fileTail(`${logFile}.txt`, bytes);
}

function portOpen(address: string): Promise<boolean> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts BMv2 detached and waits until its P4Runtime server listens. */
export async function startBmv2(o: Bmv2Options): Promise<Bmv2Handle> {
  const args = bmv2Args(o);
  const out = openSync(`${o.logFile}.stdout`, 'a');
  let exited: string | undefined;
  try {
    const child = spawn(o.binary, args, { detached: true, stdio: ['ignore', out, out] });
    child.once('exit', (code, signal) => { exited = signal ?? `exit ${code}`; });
    child.once('error', (e) => { exited = e.message; });
    if (!child.pid) throw new Bmv2Error(`${o.binary} did not start`);
    child.unref();
    writeFileSync(o.pidFile, `${child.pid}\n`);
    const deadline = Date.now() + (o.startTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      if (exited) break;
      if (await portOpen(o.grpcAddress)) return { pid: child.pid, args };
      await new Promise((r) => setTimeout(r, 100));
    }
    const tail = (logTail(`${o.logFile}.stdout`) + logTail(o.logFile)).trim().split('\n').slice(-8).join(' | ');
    if (!exited) process.kill(child.pid, 'SIGKILL');
    rmSync(o.pidFile, { force: true });
    throw new Bmv2Error(`simple_switch_grpc ${exited ? `exited (${exited})` : `did not listen on ${o.grpcAddress} in time`}: ${tail || 'no log'}`);
  } finally {
    closeSync(out);
  }
}

/** SIGTERM, then SIGKILL after timeoutMs; removes the pid file. */
export async function stopBmv2(pidFile: string, timeoutMs = 3000): Promise<boolean> {
  const h = findBmv2(pidFile);
  rmSync(pidFile, { force: true });
  if (!h) return false;
  try {
    process.kill(h.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive(h.pid) && cmdline(h.pid)?.length) await new Promise((r) => setTimeout(r, 50));
  if (alive(h.pid) && cmdline(h.pid)?.length) process.kill(h.pid, 'SIGKILL');
  return true;
}
