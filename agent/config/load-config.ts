/** Reads and validates a node configuration file. */
import { readFile, stat } from 'node:fs/promises';
import type { NodeConfig } from './types.js';
import { ConfigError, validateConfig } from './validate-config.js';

/**
 * JSON.parse, but a syntax error is reported by line and column only: V8's
 * message quotes the text around the error, which may be key material.
 */
export function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    let where = 'somewhere';
    if (m) {
      const before = text.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      where = `at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
    } else if (/end of (JSON )?input/i.test((e as Error).message)) {
      where = 'at the end (it stops early)';
    }
    throw new ConfigError([{ path: '(file)', problem: `not valid JSON: syntax error ${where}`, fix: 'fix the JSON syntax there' }], source);
  }
}

export interface LoadOptions {
  /** Accept a file with keys that group or others can read (with a warning instead of a refusal). */
  allowReadableKeys?: boolean;
  warn?: (event: string, fields: Record<string, unknown>) => void;
}

export async function loadConfigFile(path: string, opts: LoadOptions = {}): Promise<NodeConfig> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(path, 'utf8');
    mode = (await stat(path)).mode & 0o777;
  } catch (e) {
    throw new ConfigError([{ path: '(file)', problem: `cannot read ${path}: ${(e as Error).message}`, fix: 'check the --config path' }], path);
  }
  const cfg = validateConfig(parseJson(text, path), path);
  const hasKeys = cfg.encryptedHops.some((h) => h.keys.length > 0);
  if (hasKeys && (mode & 0o077)) {
    const problem = `${path} holds encryption keys and is readable by ${mode & 0o070 ? 'its group' : ''}${(mode & 0o070) && (mode & 0o007) ? ' and ' : ''}${mode & 0o007 ? 'others' : ''} (mode ${mode.toString(8).padStart(4, '0')})`;
    if (!opts.allowReadableKeys) throw new ConfigError([{ path: '(file)', problem, fix: `chmod 600 ${path} (or pass --allow-readable-keys to accept the risk)` }], path);
    opts.warn?.('config_readable', { file: path, mode: mode.toString(8).padStart(4, '0'), note: `${problem}; accepted because of --allow-readable-keys; chmod 600 ${path}` });
  }
  return cfg;
}
