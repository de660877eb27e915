/** Reads and validates a node configuration file. */
import { readFile } from 'node:fs/promises';
import type { NodeConfig } from './types.js';
import { ConfigError, validateConfig } from './validate-config.js';

export async function loadConfigFile(path: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '(file)', problem: `cannot read ${path}: ${(e as Error).message}`, fix: 'check the --config path' }], path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([{ path: '(file)', problem: `not JSON: ${(e as Error).message}`, fix: 'fix the JSON syntax' }], path);
  }
  return validateConfig(json, path);
}
