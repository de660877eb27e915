/**
 * `node dist/lab/run.js [--kernel 6.1|6.12] [--timeout SECONDS] [--cwd DIR] [--env K=V]... [--keep] -- COMMAND...`
 * runs a command in the kernel lab, streaming its output; exits with its
 * status (124 on a timeout, 125 if the guest never reported one).
 */
import { LAB_KERNELS, LabError, parseLabKernel, runInLab, type LabOptions } from './kernel-lab.js';

const USAGE = `usage: node dist/lab/run.js [--kernel ${LAB_KERNELS.join('|')}] [--timeout SECONDS] [--cwd DIR] [--env K=V]... [--keep] -- COMMAND...\n`;
const fail = (msg: string): never => {
  process.stderr.write(`${msg}\n${USAGE}`);
  process.exit(2);
};

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
if (dash < 0 || dash === argv.length - 1) fail('no command');
const command = argv.slice(dash + 1);
const env: Record<string, string> = {};
const opts: LabOptions = { timeoutMs: 30 * 60_000, env, onOutput: (s) => process.stdout.write(s) };
try {
  for (let i = 0; i < dash; i++) {
    const a = argv[i]!;
    const value = (): string => (i + 1 < dash ? argv[++i]! : fail(`${a} needs a value`));
    if (a === '--kernel') opts.kernel = parseLabKernel(value());
    else if (a === '--timeout') {
      const s = Number(value());
      if (!(s > 0)) fail('--timeout takes a positive number of seconds');
      opts.timeoutMs = s * 1000;
    } else if (a === '--cwd') opts.cwd = value();
    else if (a === '--env') {
      const [k, ...v] = value().split('=');
      if (!k || v.length === 0) fail('--env takes NAME=VALUE');
      env[k!] = v.join('=');
    } else if (a === '--keep') opts.keepScratch = true;
    else fail(`unknown option ${a}`);
  }
  const r = await runInLab(command, opts);
  const how = r.timedOut ? 'timed out' : r.exitCode === null ? 'no exit status (the guest died?)' : `exit ${r.exitCode}`;
  process.stderr.write(`[lab] ${r.release}: ${how} after ${(r.durationMs / 1000).toFixed(1)} s (boot ${(r.bootMs / 1000).toFixed(1)} s)\n`);
  for (const [i, p] of r.bootPanics.entries()) process.stderr.write(`[lab] boot ${i + 1} panicked before the job started and was booted again: ${p}\n`);
  if (r.scratch) process.stderr.write(`[lab] scratch kept: ${r.scratch}\n`);
  if (r.exitCode === null) process.stderr.write(`[lab] the end of the console:\n${r.console.slice(-3000)}\n`);
  process.exit(r.timedOut ? 124 : r.exitCode ?? 125);
} catch (e) {
  if (!(e instanceof LabError)) throw e;
  process.stderr.write(`${e.message}\n`);
  process.exit(125);
}
