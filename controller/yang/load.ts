/**
 * Loads the controller's schema from the .yang files at run time, so the
 * modules in controller/yang/modules/ stay the one source of truth (the same
 * files pyang checks in CI and the YANG library serves).
 *
 * tsc does not copy .yang files into dist/, and dist/ mirrors the source
 * layout, so the directory is looked for beside this file (running from
 * source) and then at the same place in the source tree seen from
 * dist/controller/yang/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, type ModuleSource } from './build-schema.js';
import type { SchemaTree } from './schema.js';

const CANDIDATES = [
  new URL('./modules/', import.meta.url),
  new URL('../../../controller/yang/modules/', import.meta.url),
];

export class YangModulesNotFoundError extends Error {
  readonly code = 'ESFC_YANG_MODULES_NOT_FOUND';
  constructor(readonly tried: readonly string[]) {
    super(`the YANG modules directory was not found; tried ${tried.join(', ')}`);
  }
}

/** The directory holding esfc's .yang files. */
export function modulesDir(): string {
  const tried = CANDIDATES.map((u) => fileURLToPath(u));
  const dir = tried.find((d) => existsSync(join(d, 'esfc-intent.yang')));
  if (!dir) throw new YangModulesNotFoundError(tried);
  return dir;
}

/** Every .yang file of a directory, by file name order (stable module order in the tree). */
export function readModuleSources(dir: string): ModuleSource[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yang'))
    .sort()
    .map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
}

const cache = new Map<string, SchemaTree>();

/**
 * The schema of every module in `dir` (default: modulesDir()), built once
 * per directory. Throws YangSyntaxError / YangSchemaError naming file and
 * line if a module is broken.
 */
export function loadSchema(dir: string = modulesDir()): SchemaTree {
  let tree = cache.get(dir);
  if (!tree) {
    tree = buildSchema(readModuleSources(dir));
    cache.set(dir, tree);
  }
  return tree;
}
