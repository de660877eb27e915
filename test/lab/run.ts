/**
 * `node dist/test/lab/run.js [--timeout SECONDS] -- COMMAND...`: run a command
 * in the kernel lab, streaming its output; exits with its status.
 */
import { runInLab } from './kernel-lab.js';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const opts = dash < 0 ? [] : argv.slice(0, dash);
const cmd = dash < 0 ? argv : argv.slice(dash + 1);
const t = opts.indexOf('--timeout');
const timeoutMs = t >= 0 ? Number(opts[t + 1]) * 1000 : 30 * 60_000;
if (!cmd.length) {
  process.stderr.write('usage: node dist/test/lab/run.js [--timeout SECONDS] -- COMMAND...\n');
  process.exit(2);
}
const r = await runInLab(cmd, { timeoutMs, onOutput: (s) => process.stdout.write(s) });
process.stderr.write(`[lab] ${r.timedOut ? 'timed out' : `exit ${r.exitCode}`} after ${(r.durationMs / 1000).toFixed(1)} s (boot ${(r.bootMs / 1000).toFixed(1)} s)\n`);
if (r.exitCode === null) process.stderr.write(r.console.slice(-3000) + '\n');
process.exit(r.timedOut ? 124 : r.exitCode ?? 1);
