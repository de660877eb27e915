/**
 * CometBFT validators as processes: a home directory per validator (made by
 * `cometbft init`, then config.toml patched and a shared genesis written), and
 * start / stop / kill / restart / wait-for-height over the validator's RPC.
 *
 * createLocalNetwork puts N validators on one machine (127.0.0.1, distinct
 * ports, each its own ABCI address): tests, demos, and the shape of a
 * multi-operator deployment, where each operator runs one of these homes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CometRpc, CometRpcError, type CometStatus } from './rpc.js';
import { fileTail } from '../../agent/log.js';

const execFileP = promisify(execFile);

/** Must match scripts/cometbft-setup.sh. */
export const COMETBFT_VERSION = '0.38.26';

export class CometNodeError extends Error {
  constructor(readonly node: string, message: string) {
    super(`${node}: ${message}`);
    this.name = 'CometNodeError';
  }
}

/**
 * The cometbft binary: $ESFC_COMETBFT, else the path scripts/cometbft-setup.sh
 * wrote into $ESFC_TOOLS_CACHE/cometbft-current (default /var/cache/esfc-tools).
 * Undefined when neither names an executable file.
 */
export function findCometbft(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.ESFC_COMETBFT) return existsSync(env.ESFC_COMETBFT) ? env.ESFC_COMETBFT : undefined;
  const pointer = join(env.ESFC_TOOLS_CACHE ?? '/var/cache/esfc-tools', 'cometbft-current');
  if (!existsSync(pointer)) return undefined;
  const bin = readFileSync(pointer, 'utf8').trim();
  return bin !== '' && existsSync(bin) ? bin : undefined;
}

/** `cometbft version` of binary (e.g. "0.38.26"). */
export async function cometbftVersion(binary: string): Promise<string> {
  const { stdout } = await execFileP(binary, ['version'], { timeout: 10_000 });
  return stdout.trim();
}

// ---------------------------------------------------------------- config.toml

export type TomlValue = string | number | boolean;

/**
 * Sets keys in CometBFT's generated config.toml, keeping its comments.
 * Keys are "key" (top level) or "section.key". A key the file does not have
 * is an error: a renamed option must not be silently ignored.
 */
export function setTomlValues(text: string, values: Record<string, TomlValue>): string {
  const pending = new Map(Object.entries(values));
  let section = '';
  const lines = text.split('\n').map((line) => {
    const sec = /^\s*\[([A-Za-z0-9_.-]+)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1]!;
      return line;
    }
    const kv = /^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)/.exec(line);
    if (!kv) return line;
    const full = section ? `${section}.${kv[2]}` : kv[2]!;
    if (!pending.has(full)) return line;
    const v = pending.get(full)!;
    pending.delete(full);
    return `${kv[1]}${kv[2]}${kv[3]}${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
  });
  if (pending.size > 0) throw new CometNodeError('config.toml', `no such keys: ${[...pending.keys()].join(', ')}`);
  return lines.join('\n');
}

/** Reads one key ("key" or "section.key") of config.toml: strings unquoted, anything else as written. */
export function readTomlValue(text: string, key: string): string | undefined {
  let section = '';
  for (const line of text.split('\n')) {
    const sec = /^\s*\[([A-Za-z0-9_.-]+)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    const kv = /^\s*([A-Za-z0-9_-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!kv || (section ? `${section}.${kv[1]}` : kv[1]) !== key) continue;
    const raw = kv[2]!;
    return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  return undefined;
}

// ---------------------------------------------------------------- keys

export interface ValidatorKey {
  /** Hex (upper case) of the first 20 bytes of SHA-256 of the public key. */
  address: string;
  /** Raw Ed25519 public key, base64 (as genesis.json carries it). */
  pubKeyBase64: string;
}

function readJson(path: string, node: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof v !== 'object' || v === null) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new CometNodeError(node, `${path}: ${(e as Error).message}`);
  }
}

function keyValue(v: unknown, expectType: string, path: string, node: string): string {
  const o = v as { type?: unknown; value?: unknown } | undefined;
  if (o?.type !== expectType || typeof o.value !== 'string') throw new CometNodeError(node, `${path}: expected a ${expectType}`);
  return o.value;
}

export function readValidatorKey(home: string, node = home): ValidatorKey {
  const path = join(home, 'config', 'priv_validator_key.json');
  const j = readJson(path, node);
  const pub = keyValue(j.pub_key, 'tendermint/PubKeyEd25519', path, node);
  const address = createHash('sha256').update(Buffer.from(pub, 'base64')).digest().subarray(0, 20).toString('hex').toUpperCase();
  return { address, pubKeyBase64: pub };
}

/** The P2P node id: hex of the first 20 bytes of SHA-256 of node_key.json's Ed25519 public key (its last 32 bytes). */
export function readNodeId(home: string, node = home): string {
  const path = join(home, 'config', 'node_key.json');
  const priv = Buffer.from(keyValue(readJson(path, node).priv_key, 'tendermint/PrivKeyEd25519', path, node), 'base64');
  if (priv.length !== 64) throw new CometNodeError(node, `${path}: an Ed25519 private key is 64 bytes, not ${priv.length}`);
  return createHash('sha256').update(priv.subarray(32)).digest().subarray(0, 20).toString('hex');
}

// ---------------------------------------------------------------- genesis

export interface GenesisValidator { name: string; key: ValidatorKey; power: number }

export interface GenesisOptions {
  chainId: string;
  validators: GenesisValidator[];
  time?: Date;
  /** Height from which votes carry extensions (ExtendVote/VerifyVoteExtension are called); 0 = never. */
  voteExtensionsEnableHeight?: number;
  /** genesis.json's app_state, handed to the application's initChain as JSON bytes. */
  appState?: unknown;
  /** The largest block (consensus_params.block.max_bytes); default MAX_BLOCK_BYTES. */
  maxBlockBytes?: number;
}

/**
 * The largest CometBFT block by default. CometBFT v0.38's own default is
 * 21 MiB; a proposal that large takes longer to reach the other validators
 * than timeout_propose allows, and a backlog would then cost whole rounds.
 */
export const MAX_BLOCK_BYTES = 22_020_096;

/** CometBFT's genesis.json (int64 values as strings, as its JSON wants them). */
export function buildGenesis(o: GenesisOptions): string {
  const g = {
    genesis_time: (o.time ?? new Date()).toISOString(),
    chain_id: o.chainId,
    initial_height: '1',
    consensus_params: {
      block: { max_bytes: String(o.maxBlockBytes ?? MAX_BLOCK_BYTES), max_gas: '-1' },
      evidence: { max_age_num_blocks: '100000', max_age_duration: '172800000000000', max_bytes: '1048576' },
      validator: { pub_key_types: ['ed25519'] },
      version: { app: '0' },
      abci: { vote_extensions_enable_height: String(o.voteExtensionsEnableHeight ?? 0) },
    },
    validators: o.validators.map((v) => ({
      address: v.key.address,
      pub_key: { type: 'tendermint/PubKeyEd25519', value: v.key.pubKeyBase64 },
      power: String(v.power),
      name: v.name,
    })),
    app_hash: '',
    ...(o.appState === undefined ? {} : { app_state: o.appState }),
  };
  return `${JSON.stringify(g, null, 2)}\n`;
}

// ---------------------------------------------------------------- processes

// Every validator this process started and has not seen exit: killed if this process exits first.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** SIGKILLs every validator this process started (for a test's signal handler; 'exit' does it already). */
export function killAllCometNodes(): void {
  for (const c of live) c.kill('SIGKILL');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllCometNodes);
}

const SETPRIV = '/usr/bin/setpriv';

export interface ConsensusTimeouts {
  proposeMs: number;
  proposeDeltaMs: number;
  prevoteMs: number;
  prevoteDeltaMs: number;
  precommitMs: number;
  precommitDeltaMs: number;
  /** Pause after a block before the next height starts; sets the block rate under load. */
  commitMs: number;
}

/** CometBFT's defaults (config.toml as `cometbft init` writes it). */
export const DEFAULT_TIMEOUTS: ConsensusTimeouts = {
  proposeMs: 3000, proposeDeltaMs: 500, prevoteMs: 1000, prevoteDeltaMs: 500, precommitMs: 1000, precommitDeltaMs: 500, commitMs: 1000,
};

/** Short enough for tests on one machine; the propose timeout is what a dead proposer costs per round. */
export const FAST_TIMEOUTS: ConsensusTimeouts = {
  proposeMs: 1000, proposeDeltaMs: 200, prevoteMs: 300, prevoteDeltaMs: 100, precommitMs: 300, precommitDeltaMs: 100, commitMs: 300,
};

export interface CometNodeOptions {
  binary: string;
  name: string;
  home: string;
  rpcPort: number;
  p2pPort: number;
  host?: string;
  /** Start under `setpriv --pdeathsig KILL` so the validator dies with this process even on SIGKILL. Default true. */
  dieWithParent?: boolean;
}

export class CometNode {
  readonly name: string;
  readonly home: string;
  readonly rpc: CometRpc;
  readonly rpcPort: number;
  readonly p2pPort: number;
  readonly nodeId: string;
  readonly validator: ValidatorKey;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private lastExit: string | undefined;

  constructor(private readonly o: CometNodeOptions) {
    this.name = o.name;
    this.home = o.home;
    this.rpcPort = o.rpcPort;
    this.p2pPort = o.p2pPort;
    this.rpc = new CometRpc(`http://${o.host ?? '127.0.0.1'}:${o.rpcPort}`, 10_000);
    this.nodeId = readNodeId(o.home, o.name);
    this.validator = readValidatorKey(o.home, o.name);
    this.logFile = join(o.home, 'cometbft.log');
  }

  /** A validator whose home already exists (made by createLocalNetwork or by hand): ports from its config.toml. */
  static open(binary: string, home: string, name = home, dieWithParent?: boolean): CometNode {
    const config = readFileSync(join(home, 'config', 'config.toml'), 'utf8');
    const addr = (key: string): { host: string; port: number } => {
      const v = readTomlValue(config, key);
      const m = v === undefined ? null : /^tcp:\/\/([^:]+):(\d+)$/.exec(v);
      if (!m) throw new CometNodeError(name, `${key} in config.toml is ${v ?? 'missing'}, not tcp://host:port`);
      return { host: m[1]!, port: Number(m[2]) };
    };
    const rpc = addr('rpc.laddr');
    const host = rpc.host === '0.0.0.0' ? '127.0.0.1' : rpc.host;
    return new CometNode({ binary, name, home, rpcPort: rpc.port, p2pPort: addr('p2p.laddr').port, host, dieWithParent });
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How the last run ended ("exit 0", "SIGKILL"), if one did. */
  get exitReason(): string | undefined {
    return this.lastExit;
  }

  /**
   * Starts `cometbft start` (its ABCI application must already listen: CometBFT
   * fails at once otherwise) and waits until its RPC answers, which is after
   * the handshake with the application (and any replay of stored blocks).
   */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child) throw new CometNodeError(this.name, `already running (pid ${this.child.pid})`);
    const t0 = Date.now();
    const args = ['start', '--home', this.home];
    const useSetpriv = (this.o.dieWithParent ?? true) && existsSync(SETPRIV);
    const [cmd, argv] = useSetpriv ? [SETPRIV, ['--pdeathsig', 'KILL', '--', this.o.binary, ...args]] : [this.o.binary, args];
    const fd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(cmd, argv, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    installExitHook();
    live.add(child);
    this.child = child;
    this.lastExit = undefined;
    child.once('error', (e) => {
      this.lastExit = `spawn error: ${e.message}`;
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      this.lastExit ??= signal ?? `exit ${code}`;
      if (this.child === child) this.child = undefined;
    });
    while (Date.now() - t0 < timeoutMs) {
      if (this.child !== child) throw new CometNodeError(this.name, `cometbft exited at start (${this.lastExit}); log tail:\n${this.logTail()}`);
      try {
        await this.rpc.call('health', {}, 1000);
        return;
      } catch (e) {
        if (!(e instanceof CometRpcError)) throw e;
      }
      await sleep(100);
    }
    await this.kill();
    throw new CometNodeError(this.name, `RPC did not answer within ${timeoutMs} ms; log tail:\n${this.logTail()}`);
  }

  /** SIGTERM (CometBFT shuts down cleanly), SIGKILL after graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = waitExit(child);
    child.kill('SIGTERM');
    if (!(await withTimeout(exited, graceMs))) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** SIGKILL: a crash, as far as CometBFT's stores are concerned. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = waitExit(child);
    child.kill('SIGKILL');
    await exited;
  }

  async restart(timeoutMs = 30_000): Promise<void> {
    await this.stop();
    await this.start(timeoutMs);
  }

  status(): Promise<CometStatus> {
    return this.rpc.status();
  }

  /** Waits until the latest block height is at least height; resolves to the height seen. */
  async waitForHeight(height: number, timeoutMs = 30_000): Promise<number> {
    const t0 = Date.now();
    let last = -1;
    let lastError = '';
    while (Date.now() - t0 < timeoutMs) {
      if (!this.child) throw new CometNodeError(this.name, `not running (${this.lastExit ?? 'never started'}) while waiting for height ${height}`);
      try {
        last = (await this.rpc.status()).height;
        if (last >= height) return last;
      } catch (e) {
        if (!(e instanceof CometRpcError)) throw e;
        lastError = e.message;
      }
      await sleep(150);
    }
    throw new CometNodeError(this.name, `height ${last} after ${timeoutMs} ms, waiting for ${height}${lastError ? ` (${lastError})` : ''}; log tail:\n${this.logTail()}`);
  }

  /** The end of the validator's log (stdout and stderr of every run). */
  logTail(bytes = 3000): string {
    return fileTail(this.logFile, bytes);
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function withTimeout(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([p.then(() => true), t]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ports free on host right now (all held at once, so distinct). Another process may still take one before use. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => resolve(s));
  })));
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

// ---------------------------------------------------------------- a local network

export interface LocalValidatorSpec {
  name: string;
  /** Where this validator's application listens: unix:///path or tcp://host:port (CometBFT's proxy_app). */
  abciAddress: string;
  power?: number;
}

export interface LocalNetworkOptions {
  binary: string;
  /** Homes go to baseDir/<name>; each must not exist yet or be empty. */
  baseDir: string;
  chainId: string;
  validators: LocalValidatorSpec[];
  timeouts?: Partial<ConsensusTimeouts>;
  /** false (default): a block only when there are transactions (and one after, proving the new app hash). */
  createEmptyBlocks?: false | { intervalMs: number };
  voteExtensionsEnableHeight?: number;
  appState?: unknown;
  /** consensus_params.block.max_bytes (default MAX_BLOCK_BYTES). */
  maxBlockBytes?: number;
  /** CometBFT's log_level; default keeps the log to state changes and errors. */
  logLevel?: string;
  host?: string;
  dieWithParent?: boolean;
}

const duration = (ms: number): string => `${Math.round(ms)}ms`;

/**
 * Writes one home per validator (cometbft init, the shared genesis, config.toml
 * with every other validator as a persistent peer) and returns the validators,
 * not started.
 */
export async function createLocalNetwork(o: LocalNetworkOptions): Promise<CometNode[]> {
  if (o.validators.length === 0) throw new CometNodeError(o.chainId, 'no validators');
  const names = new Set(o.validators.map((v) => v.name));
  if (names.size !== o.validators.length) throw new CometNodeError(o.chainId, 'validator names must be distinct');
  const host = o.host ?? '127.0.0.1';
  const homes = o.validators.map((v) => join(o.baseDir, v.name));
  for (const [i, home] of homes.entries()) {
    if (existsSync(home) && readdirSync(home).length > 0) throw new CometNodeError(o.validators[i]!.name, `${home} is not empty`);
    mkdirSync(home, { recursive: true });
  }
  // cometbft init writes priv_validator_key.json, node_key.json, the default config.toml and a one-validator genesis.
  await Promise.all(homes.map((home, i) => execFileP(o.binary, ['init', '--home', home], { timeout: 30_000 }).catch((e: unknown) => {
    throw new CometNodeError(o.validators[i]!.name, `cometbft init failed: ${(e as Error).message}`);
  })));
  const keys = homes.map((home, i) => readValidatorKey(home, o.validators[i]!.name));
  const ids = homes.map((home, i) => readNodeId(home, o.validators[i]!.name));
  const ports = await freePorts(2 * homes.length, host);
  const genesis = buildGenesis({
    chainId: o.chainId,
    validators: o.validators.map((v, i) => ({ name: v.name, key: keys[i]!, power: v.power ?? 10 })),
    voteExtensionsEnableHeight: o.voteExtensionsEnableHeight,
    appState: o.appState,
    ...(o.maxBlockBytes !== undefined ? { maxBlockBytes: o.maxBlockBytes } : {}),
  });
  const t = { ...FAST_TIMEOUTS, ...o.timeouts };
  const empty = o.createEmptyBlocks ?? false;
  return homes.map((home, i) => {
    const spec = o.validators[i]!;
    const p2pPort = ports[2 * i]!;
    const rpcPort = ports[2 * i + 1]!;
    const peers = homes.map((_, j) => j).filter((j) => j !== i).map((j) => `${ids[j]}@${host}:${ports[2 * j]}`).join(',');
    writeFileSync(join(home, 'config', 'genesis.json'), genesis);
    const configPath = join(home, 'config', 'config.toml');
    writeFileSync(configPath, setTomlValues(readFileSync(configPath, 'utf8'), {
      proxy_app: spec.abciAddress,
      moniker: spec.name,
      abci: 'socket',
      log_level: o.logLevel ?? 'main:info,state:info,consensus:error,p2p:error,*:error',
      'rpc.laddr': `tcp://${host}:${rpcPort}`,
      'p2p.laddr': `tcp://${host}:${p2pPort}`,
      'p2p.persistent_peers': peers,
      // All validators share one IP, and 127.0.0.1 is not a routable address: CometBFT refuses both by default.
      'p2p.addr_book_strict': false,
      'p2p.allow_duplicate_ip': true,
      'p2p.pex': false,
      // The default 100 ms batching of p2p messages would dominate block time on one machine.
      'p2p.flush_throttle_timeout': '10ms',
      // Peers' gossip routines sleep this long when they have nothing to send (default 100 ms): on one machine that idles each height.
      'consensus.peer_gossip_sleep_duration': '10ms',
      // 5 MB/s per peer by default: a block of a few thousand requests, gossiped to three peers, would wait on it.
      'p2p.send_rate': 52_428_800,
      'p2p.recv_rate': 52_428_800,
      'consensus.timeout_propose': duration(t.proposeMs),
      'consensus.timeout_propose_delta': duration(t.proposeDeltaMs),
      'consensus.timeout_prevote': duration(t.prevoteMs),
      'consensus.timeout_prevote_delta': duration(t.prevoteDeltaMs),
      'consensus.timeout_precommit': duration(t.precommitMs),
      'consensus.timeout_precommit_delta': duration(t.precommitDeltaMs),
      'consensus.timeout_commit': duration(t.commitMs),
      // Nothing reads CometBFT's transaction index or its stored FinalizeBlock results (the ledger
      // is the record, and broadcast_tx_commit waits on events): both would only copy every transaction again.
      'tx_index.indexer': 'null',
      // Validators are each other's persistent peers (a full mesh): a transaction sent to every peer arrives
      // at each validator up to n-1 times, and on one machine the duplicates cost about as much CPU as the
      // rest of CometBFT's work. Two gossip links per validator still reach the others (through the peers'
      // links, or in the block itself); a proposer without it proposes it when it has it.
      'mempool.experimental_max_gossip_connections_to_persistent_peers': 2,
      'storage.discard_abci_responses': true,
      'consensus.create_empty_blocks': empty !== false,
      'consensus.create_empty_blocks_interval': empty === false ? '0s' : duration(empty.intervalMs),
    }));
    return new CometNode({ binary: o.binary, name: spec.name, home, rpcPort, p2pPort, host, dieWithParent: o.dieWithParent });
  });
}
