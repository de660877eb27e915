/**
 * Where the P4 fallback's pieces are on this machine: scripts/p4-setup.sh
 * builds simple_switch_grpc and unpacks the P4Runtime .proto files into a
 * cache outside the repository and names both in `<cache>/current`; the
 * compiled program is committed in p4/build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_P4_CACHE = '/var/cache/esfc-p4';

export class P4PathsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'P4PathsError';
  }
}

export interface P4Paths {
  /** simple_switch_grpc */
  bmv2: string;
  /** Include root of p4/v1/p4runtime.proto and friends. */
  protoDir: string;
  /** p4/build/esfc.json (BMv2's program). */
  programJson: string;
  /** p4/build/esfc.p4info.json (P4Info in protobuf JSON). */
  p4infoJson: string;
}

export const p4CacheDir = (): string => process.env['ESFC_P4_CACHE'] ?? DEFAULT_P4_CACHE;

/** The repository's root, from this file's place in dist/agent/p4 or agent/p4. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'p4', 'build', 'esfc.json'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new P4PathsError('p4/build/esfc.json not found above the agent: run from a checkout of esfc');
}

export function p4Paths(): P4Paths {
  const cache = p4CacheDir();
  const current = join(cache, 'current');
  if (!existsSync(current)) {
    throw new P4PathsError(`${current} is missing: BMv2 is not installed; run scripts/p4-setup.sh (setup does) as root`);
  }
  const [prefix, protoDir] = readFileSync(current, 'utf8').trim().split('\n');
  const bmv2 = join(prefix ?? '', 'bin', 'simple_switch_grpc');
  if (!prefix || !existsSync(bmv2)) throw new P4PathsError(`${bmv2} is missing: re-run scripts/p4-setup.sh`);
  if (!protoDir || !existsSync(join(protoDir, 'p4', 'v1', 'p4runtime.proto'))) {
    throw new P4PathsError(`P4Runtime protos missing under ${protoDir ?? cache}: re-run scripts/p4-setup.sh`);
  }
  const root = repoRoot();
  return {
    bmv2, protoDir,
    programJson: join(root, 'p4', 'build', 'esfc.json'),
    p4infoJson: join(root, 'p4', 'build', 'esfc.p4info.json'),
  };
}
