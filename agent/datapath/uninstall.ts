/** `esfc agent --uninstall`: remove what the agent created for this node, and nothing else. */
import { loadConfigFile } from '../config/load-config.js';
import type { Logger } from '../log.js';
import { removeDatapath } from './kernel-datapath.js';
import { EfRuntime } from '../ef/ef-runtime.js';

export async function uninstall(configPath: string, log: Logger): Promise<number> {
  const cfg = await loadConfigFile(configPath);
  // EFs first: their glue and SAs live in their own namespaces, their pins under the node's.
  const efs = new EfRuntime(cfg.node.pinDir, () => undefined);
  for (const ef of cfg.efs) efs.remove(ef);
  efs.close();
  const removed = [...cfg.efs.map((e) => `ef/${e.name}`), ...removeDatapath(cfg.node.pinDir, cfg.node.name)];
  log.log('info', 'uninstalled', { node: cfg.node.name, pinDir: cfg.node.pinDir, removed });
  return 0;
}
