/** `esfc agent --uninstall`: remove what the agent created for this node, and nothing else. */
import { loadConfigFile } from '../config/load-config.js';
import type { Logger } from '../log.js';
import { removeDatapath } from './kernel-datapath.js';

export async function uninstall(configPath: string, log: Logger): Promise<number> {
  const cfg = await loadConfigFile(configPath);
  const removed = removeDatapath(cfg.node.pinDir, cfg.node.name);
  log.log('info', 'uninstalled', { node: cfg.node.name, pinDir: cfg.node.pinDir, removed });
  return 0;
}
