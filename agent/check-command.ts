/**
 * `esfc agent check`: validate a config file, and with --kernel compile it
 * against this node as the agent would (interfaces exist, MTUs leave room for
 * the encapsulation, XDP can deliver, EF interfaces are in their namespaces)
 * without changing anything.
 */
import { loadConfigFile } from './config/load-config.js';
import { ConfigError } from './config/validate-config.js';
import { compile } from './datapath/compile.js';
import { efLink } from './ef/ef-runtime.js';
import { gatherEnvironment } from './node/environment.js';

export async function checkCommand(configPath: string, opts: { kernel: boolean; allowReadableKeys: boolean }): Promise<number> {
  const warnings: string[] = [];
  const cfg = await loadConfigFile(configPath, { allowReadableKeys: opts.allowReadableKeys, warn: (_e, f) => warnings.push(String(f.note)) });
  if (opts.kernel) {
    const desired = compile(cfg, await gatherEnvironment(cfg));
    for (const w of desired.warnings) warnings.push(String(w.fields.note ?? w.event));
    const problems = cfg.efs.flatMap((ef, i) => (efLink(ef.netns, ef.interface) ? [] : [{
      path: `efs[${i}].interface`, problem: `${ef.interface} does not exist in network namespace ${ef.netns}`, fix: `create the namespace and move the EF's end of its veth into it (ip link set IF netns ${ef.netns})`,
    }]));
    if (problems.length) throw new ConfigError(problems, `${configPath} on this node`);
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`${configPath}: valid${opts.kernel ? ' on this node' : ''}\n`);
  return 0;
}
