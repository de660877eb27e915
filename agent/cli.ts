#!/usr/bin/env node
/**
 * esfc: one CLI for every component.
 *   esfc agent --config FILE [--metrics-port N]   run a node agent (foreground, JSON logs)
 *   esfc agent status --config FILE [--json]       hooks, tables and counters of a node
 *   esfc agent --uninstall --config FILE           remove everything the agent created
 *   esfc agent check --config FILE                 validate a config file and exit
 *   esfc bench fastpath [--quick] [--out DIR]      the fast-path benchmark
 *   esfc bench encryption [--quick] [--out DIR]    EF hops vs SF hops, loss per rekey (kernel lab without ESP)
 *   esfc demo                                      the scenario of DESIGN.md, live
 */
import { parseArgs } from 'node:util';
import { jsonLogger } from './log.js';
import { ConfigError } from './config/validate-config.js';

const USAGE = `usage:
  esfc agent --config FILE [--metrics-port N]
  esfc agent status --config FILE [--json]
  esfc agent check --config FILE
  esfc agent --uninstall --config FILE
  esfc bench fastpath [--quick] [--out DIR]
  esfc bench encryption [--quick] [--out DIR]
  esfc demo [--seconds N] [--act all|fastpath|encrypted]
`;

async function agentCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      config: { type: 'string' }, json: { type: 'boolean' }, uninstall: { type: 'boolean' },
      'metrics-port': { type: 'string', default: '9464' },
    },
  });
  if (!values.config) {
    process.stderr.write(`esfc agent: --config FILE is required\n${USAGE}`);
    return 2;
  }
  const sub = positionals[0];
  if (sub === 'check') {
    const { loadConfigFile } = await import('./config/load-config.js');
    await loadConfigFile(values.config);
    process.stdout.write(`${values.config}: valid\n`);
    return 0;
  }
  if (sub === 'status') {
    const { statusCommand } = await import('./status/status-command.js');
    return statusCommand(values.config, values.json === true);
  }
  if (values.uninstall) {
    const { uninstall } = await import('./datapath/uninstall.js');
    return uninstall(values.config, jsonLogger({ component: 'agent' }));
  }
  if (sub !== undefined) {
    process.stderr.write(`esfc agent: unknown subcommand ${sub}\n${USAGE}`);
    return 2;
  }
  const { Agent } = await import('./agent.js');
  const log = jsonLogger({ component: 'agent' });
  const agent = new Agent({ configPath: values.config, log, metricsPort: Number(values['metrics-port']) });
  await agent.start();
  log.log('info', 'agent_ready', { pid: process.pid });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.log('info', 'agent_stopping', { signal, datapath: 'left pinned and forwarding' });
      agent.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => { void agent.reload(); });
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'agent':
      return agentCommand(rest);
    case 'bench': {
      const { benchCommand } = await import('../bench/bench-command.js');
      return benchCommand(rest);
    }
    case 'demo': {
      const { demoCommand } = await import('../bench/demo.js');
      return demoCommand(rest);
    }
    default:
      process.stderr.write(USAGE);
      return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  const err = e as Error & { code?: string };
  process.stderr.write(`esfc: ${err.code ? `[${err.code}] ` : ''}${err.message}\n`);
  process.exitCode = 1;
});
