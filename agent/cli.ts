#!/usr/bin/env node
/**
 * esfc: one CLI for every component. `esfc --help` and `esfc COMMAND --help`
 * print the usage; a flag value that does not parse is an error, never a
 * silent default.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { jsonLogger } from './log.js';
import { ConfigError } from './config/validate-config.js';

const USAGE: Record<string, string> = {
  '': `usage: esfc COMMAND [options]   (esfc COMMAND --help for each)

commands:
  agent           run the node agent, or check, inspect or uninstall a node
  controller      run the RESTCONF controller; init its state, enroll and revoke certificates
  ctl             talk to the controller (get, apply, put, delete, status)
  audit           re-check the orchestration log (verify FILE|URL) and read its history
  bench           benchmarks (fastpath, encryption, control, provisioning)
  demo            the scenario of docs/design.md, live
`,
  agent: `usage:
  esfc agent --config FILE [--metrics-port N] [--verify-every S] [--allow-readable-keys]
      run the node agent in the foreground (JSON logs on stdout; SIGHUP or an edit of FILE re-applies it)
  esfc agent --controller URL --node NAME --cert BUNDLE [--pin-dir DIR] [--metrics-port N] [--verify-every S]
      run the node agent provisioned by the controller (mutual TLS with the bundle "esfc controller enroll" wrote)
  esfc agent check --config FILE [--kernel] [--allow-readable-keys]
      validate FILE; with --kernel also against this node (interfaces exist, MTUs fit, XDP delivery)
  esfc agent status (--config FILE | --pin-dir DIR) [--json]
      hooks, tables, counters, EFs and SAs of the node, read from its pins (no agent needed)
  esfc agent --uninstall (--config FILE | --pin-dir DIR)
      remove everything the agent created for the node (hooks, pins, EF glue, SAs, policies)

options:
  --config FILE            the node configuration (JSON, see examples/)
  --metrics-port N         Prometheus endpoint on 127.0.0.1:N (default 9464; 0 turns it off)
  --verify-every S         compare the kernel's tables with what the agent wrote every S seconds and
                           re-apply on a difference (default 60; 0 turns it off)
  --allow-readable-keys    accept a config file with keys that group or others can read (a warning instead of a refusal)
  --pin-dir DIR            the node's pin directory under /sys/fs/bpf (default /sys/fs/bpf/esfc/NAME; uninstall without a config)
  --controller URL         https://HOST:PORT of the controller, or unix:/PATH (a controller on this host)
  --node NAME              this node's name in the controller's intent
  --cert BUNDLE            key + certificate + CA bundle (mode 0600) for this node's agent
  --json                   machine-readable status
  --kernel                 check against the running kernel too
`,
  bench: `usage:
  esfc bench fastpath [--quick] [--runs N] [--out DIR]     pps and TCP through N SF hops, with baselines
  esfc bench encryption [--quick] [--only tcp|rekey] [--out DIR]   EF hops vs SF hops, loss per rekey (kernel lab without ESP)
  esfc bench control [--quick] [--out DIR]                 RESTCONF write -> applied, fan-out, compile
  esfc bench provisioning [--quick] [--only failover|keys] [--out DIR]   the paper's Table 1: provisioning, key change, failover
`,
  demo: `usage:
  esfc demo [--seconds N] [--act all|fastpath|encrypted|protection]
`,
};

class UsageError extends Error {
  constructor(readonly command: string, message: string) {
    super(message);
  }
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    throw new UsageError(command, (e as Error).message);
  }
}

/** A TCP port number, or a usage error naming the flag. */
function port(command: string, flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(command, `${flag} ${JSON.stringify(value)} is not a port number (0-65535)`);
  return n;
}

async function agentCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('agent', argv, {
    config: { type: 'string' }, json: { type: 'boolean' }, uninstall: { type: 'boolean' }, kernel: { type: 'boolean' },
    'metrics-port': { type: 'string', default: '9464' }, 'allow-readable-keys': { type: 'boolean' }, 'pin-dir': { type: 'string' },
    'verify-every': { type: 'string', default: '60' }, controller: { type: 'string' }, node: { type: 'string' }, cert: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(USAGE.agent!);
    return 0;
  }
  const sub = positionals[0];
  if (sub !== undefined && sub !== 'check' && sub !== 'status') throw new UsageError('agent', `unknown subcommand ${sub}`);
  if (positionals.length > 1) throw new UsageError('agent', `unexpected ${positionals.slice(1).join(' ')}`);
  const allowReadableKeys = values['allow-readable-keys'] === true;
  const metricsPort = port('agent', '--metrics-port', values['metrics-port']);
  const verify = values['verify-every'];
  if (!/^\d+(\.\d+)?$/.test(verify) || Number(verify) > 86_400) throw new UsageError('agent', `--verify-every ${JSON.stringify(verify)} is not a number of seconds (0-86400)`);
  const verifyEveryMs = Number(verify) * 1000;
  if (values.uninstall) {
    if (!values.config && !values['pin-dir']) throw new UsageError('agent', '--uninstall needs --config FILE or --pin-dir DIR');
    const { uninstall } = await import('./datapath/uninstall.js');
    return uninstall({ ...(values.config ? { configPath: values.config } : {}), ...(values['pin-dir'] ? { pinDir: values['pin-dir'] } : {}) }, jsonLogger({ component: 'agent' }));
  }
  if (values.controller !== undefined && sub === undefined) {
    if (values.config) throw new UsageError('agent', '--config and --controller are two ways to run an agent: pick one');
    if (!values.node || !values.cert) throw new UsageError('agent', '--controller needs --node NAME and --cert BUNDLE');
    if (!/^(https:\/\/[^/]+|unix:\/.+)$/.test(values.controller)) throw new UsageError('agent', `--controller ${JSON.stringify(values.controller)} is not https://HOST:PORT or unix:/PATH`);
    const pinDir = values['pin-dir'] ?? `/sys/fs/bpf/esfc/${values.node}`;
    const { PIN_DIR } = await import('./config/validate-config.js');
    if (!PIN_DIR.test(pinDir)) throw new UsageError('agent', `--pin-dir ${JSON.stringify(pinDir)} is not a directory under /sys/fs/bpf made of plain names`);
    const { readBundle, controllerEndpoint } = await import('../controller/pki/index.js');
    const { ControllerLink } = await import('./controller-link.js');
    const log = jsonLogger({ component: 'agent', node: values.node });
    const ep = controllerEndpoint(values.controller, readBundle(values.cert));
    const link = new ControllerLink({ url: ep.origin, node: values.node, dispatcher: ep.dispatcher, log });
    return runAgent({ source: { kind: 'controller', node: values.node, pinDir, link }, log, metricsPort, verifyEveryMs });
  }
  if (sub === 'status' && !values.config && values['pin-dir']) {
    const { statusCommand } = await import('./status/status-command.js');
    return statusCommand({ pinDir: values['pin-dir'] }, values.json === true);
  }
  if (!values.config) throw new UsageError('agent', '--config FILE (or --controller URL) is required');
  if (sub === 'check') {
    const { checkCommand } = await import('./check-command.js');
    return checkCommand(values.config, { kernel: values.kernel === true, allowReadableKeys });
  }
  if (sub === 'status') {
    const { statusCommand } = await import('./status/status-command.js');
    return statusCommand({ configPath: values.config }, values.json === true);
  }
  return runAgent({ source: { kind: 'file', configPath: values.config, allowReadableKeys }, log: jsonLogger({ component: 'agent' }), metricsPort, verifyEveryMs });
}

/** Run an agent in the foreground until SIGTERM/SIGINT (the datapath stays); SIGHUP re-applies. */
async function runAgent(opts: import('./agent.js').AgentOptions): Promise<number> {
  const { Agent } = await import('./agent.js');
  const log = opts.log;
  const agent = new Agent(opts);
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
    case 'controller':
    case 'ctl': {
      const c = await import('../controller/cli.js');
      try {
        return cmd === 'controller' ? await c.controllerCommand(rest) : await c.ctlCommand(rest);
      } catch (e) {
        if (e instanceof c.CliError || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
          process.stderr.write(`esfc ${cmd}: ${(e as Error).message}\n\n${cmd === 'controller' ? c.CONTROLLER_USAGE : c.CTL_USAGE}`);
          return 2;
        }
        throw e;
      }
    }
    case 'audit': {
      const { auditCommand } = await import('../controller/audit-command.js');
      return auditCommand(rest);
    }
    case 'bench':
    case 'demo': {
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(USAGE[cmd]!);
        return 0;
      }
      if (cmd === 'bench') {
        const { benchCommand } = await import('../bench/bench-command.js');
        return benchCommand(rest);
      }
      const { demoCommand } = await import('../bench/demo.js');
      return demoCommand(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE['']!);
      return 0;
    default:
      throw new UsageError('', `unknown command ${cmd}`);
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`esfc${e.command ? ` ${e.command}` : ''}: ${e.message}\n\n${USAGE[e.command]}`);
    process.exitCode = 2;
    return;
  }
  if (e instanceof ConfigError) {
    process.stderr.write(`${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  const err = e as Error & { code?: string };
  process.stderr.write(`esfc: ${err.code ? `[${err.code}] ` : ''}${err.message}\n`);
  process.exitCode = 1;
});
