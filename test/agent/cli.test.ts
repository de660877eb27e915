/** The CLI answers --help with usage, and refuses flag values it cannot parse instead of falling back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../agent/cli.js', import.meta.url));

function esfc(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

for (const args of [['--help'], ['help'], [], ['agent', '--help'], ['agent', 'check', '--help'], ['bench', '--help'], ['demo', '--help']]) {
  test(`esfc ${args.join(' ') || '(nothing)'} prints usage and exits 0`, async () => {
    const r = await esfc(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /usage:/);
    assert.equal(r.stderr, '');
  });
}

test('a bad flag value is an error naming the flag, not a silent fallback', async () => {
  const r = await esfc(['agent', '--config', '/nonexistent.json', '--metrics-port', 'abc']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--metrics-port "abc" is not a port number/);
  assert.match(r.stderr, /usage:/);
});

test('an unknown flag, subcommand or command is a usage error', async () => {
  for (const args of [['agent', '--confg', 'x'], ['agent', 'stauts', '--config', 'x'], ['frobnicate']]) {
    const r = await esfc(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /usage:/);
  }
});

test('--uninstall needs a config or a pin directory under /sys/fs/bpf', async () => {
  assert.match((await esfc(['agent', '--uninstall'])).stderr, /--uninstall needs --config FILE or --pin-dir DIR/);
  const r = await esfc(['agent', '--uninstall', '--pin-dir', '/etc']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not a pin directory under \/sys\/fs\/bpf/);
});
