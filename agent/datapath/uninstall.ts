/**
 * `esfc agent --uninstall`: remove what the agent created for this node, and
 * nothing else. What it owns is found under its pin directory and in its
 * state directory (EF records, attachment records), so it works with the
 * config file that made it, with an edited one, or with none (--pin-dir).
 */
import { loadConfigFile } from '../config/load-config.js';
import { ConfigError, PIN_DIR } from '../config/validate-config.js';
import type { Logger } from '../log.js';
import { removeDatapath, stateDirFor } from './kernel-datapath.js';
import { removeBmv2 } from '../p4/bmv2-runtime.js';
import { EfRuntime } from '../ef/ef-runtime.js';

export interface UninstallTarget {
  configPath?: string;
  pinDir?: string;
}

export async function uninstall(target: UninstallTarget, log: Logger): Promise<number> {
  let pinDir = target.pinDir;
  let node = '';
  const fromConfig: { name: string; netns: string; address: string }[] = [];
  if (target.configPath) {
    // Keys are not needed to remove their SAs: a readable file is fine here.
    const cfg = await loadConfigFile(target.configPath, { allowReadableKeys: true });
    pinDir = cfg.node.pinDir;
    node = cfg.node.name;
    fromConfig.push(...cfg.efs);
  }
  if (!pinDir || !PIN_DIR.test(pinDir)) {
    throw new ConfigError([{ path: '--pin-dir', problem: `${pinDir ?? 'nothing'} is not a pin directory under /sys/fs/bpf`, fix: 'give --config FILE or --pin-dir /sys/fs/bpf/esfc/<node>' }], 'uninstall');
  }
  // EFs first: their glue and SAs live in their own namespaces, their pins under the node's.
  const efs = new EfRuntime(pinDir, () => undefined);
  const removedEfs: string[] = [];
  try {
    for (const ef of fromConfig) {
      efs.remove(ef);
      removedEfs.push(ef.name);
    }
    removedEfs.push(...efs.removeOthers(new Set()));
  } finally {
    efs.close();
  }
  // BMv2 before the state directory that names it goes.
  const bmv2 = await removeBmv2(stateDirFor(pinDir)) ? ['bmv2'] : [];
  const removed = [...removedEfs.map((e) => `ef/${e}`), ...bmv2, ...removeDatapath(pinDir, node)];
  log.log('info', 'uninstalled', { ...(node ? { node } : {}), pinDir, removed });
  return 0;
}
