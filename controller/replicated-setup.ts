/**
 * The replicated orchestration log on one machine: what an operator tries
 * the replicated mode with (`esfc controller init-replicated`), and what
 * `esfc controller --replicated FILE` runs.
 *
 * Per domain: a controller state directory (CA, KEK, server certificate, and
 * the domain's orchestrator key sealed with that KEK), a CometBFT validator
 * home, and a config file naming both. One ledger genesis names the
 * validators (their CometBFT keys), the orchestrators (one per answering
 * domain) and the operators. An observer domain validates and applies
 * every write and answers none (no orchestrator key).
 *
 * Across machines the same files are what each operator holds for its own
 * domain; making the shared genesis there is a ceremony this does not do.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLocalNetwork } from './abci/index.js';
import { initControllerState } from './embedded.js';
import { Kek } from './keys/kek.js';
import { sealOrchestratorKey } from './ledger-setup.js';
import { generateKey, genesisJson, genesisValidator, parseGenesis, registeredKey, DEFAULT_TIMESTAMP_WINDOW_MS, type Genesis, type RegisteredKey } from './ledger/index.js';
import { readCometValidatorSigner } from './replicated/index.js';

/** What `esfc controller --replicated FILE` reads (JSON). */
export interface ReplicatedConfig {
  domain: string;
  /** The ledger genesis (JSON file). */
  genesis: string;
  /** This domain's CometBFT validator home. */
  cometHome: string;
  /** Where CometBFT reaches the controller (unix:///path), as the home's config.toml proxy_app says. */
  abci: string;
  /** This validator's ledger file directory. */
  ledgerDir: string;
  /** Whether this domain answers writes (its orchestrator key is sealed in the controller's state). */
  answers: boolean;
}

export class ReplicatedConfigError extends Error {}

export function readReplicatedConfig(path: string): ReplicatedConfig {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ReplicatedConfigError(`--replicated ${path}: ${(e as Error).message}`);
  }
  const str = (k: keyof ReplicatedConfig, fix: string): string => {
    const v = j[k];
    if (typeof v !== 'string' || v === '') throw new ReplicatedConfigError(`${path}: "${k}" must be a non-empty string: ${fix}`);
    return v;
  };
  const cfg: ReplicatedConfig = {
    domain: str('domain', 'the domain this controller runs'),
    genesis: str('genesis', 'the ledger genesis file'),
    cometHome: str('cometHome', 'the CometBFT home of this domain\'s validator'),
    abci: str('abci', 'unix:///path where CometBFT reaches this controller (proxy_app in its config.toml)'),
    ledgerDir: str('ledgerDir', 'a directory for this validator\'s ledger file'),
    answers: j['answers'] === true,
  };
  if (typeof j['answers'] !== 'boolean') throw new ReplicatedConfigError(`${path}: "answers" must be true (this domain executes and answers writes) or false (it only validates)`);
  for (const k of ['genesis', 'cometHome'] as const) {
    if (!existsSync(cfg[k])) throw new ReplicatedConfigError(`${path}: "${k}" ${cfg[k]} does not exist`);
  }
  return cfg;
}

export interface InitReplicatedOptions {
  out: string;
  binary: string;
  /** Domains that answer (an orchestrator key each). */
  domains: string[];
  /** Domains that only validate. */
  observers: string[];
  operators: RegisteredKey[];
  chainId?: string;
}

export interface InitReplicated {
  genesis: Genesis;
  /** Per domain: its state directory and config file. */
  domains: { domain: string; state: string; config: string }[];
}

export async function initReplicated(o: InitReplicatedOptions): Promise<InitReplicated> {
  const all = [...o.domains, ...o.observers];
  if (all.length < 4) throw new ReplicatedConfigError(`${all.length} validators tolerate no faulty one: give at least 4 domains (--domain and --observer together)`);
  if (new Set(all).size !== all.length) throw new ReplicatedConfigError('a domain is named twice');
  const out = resolve(o.out);
  if (existsSync(out)) throw new ReplicatedConfigError(`${out} exists: choose a new directory`);
  const chainId = o.chainId ?? `esfc-${Date.now().toString(36)}`;
  const nodes = await createLocalNetwork({
    binary: o.binary, baseDir: join(out, 'comet'), chainId,
    validators: all.map((d) => ({ name: d, abciAddress: `unix://${join(out, d, 'abci.sock')}` })),
    // Empty blocks every few seconds keep CometBFT's block time (BFT time) within the timestamp window after idle periods.
    createEmptyBlocks: { intervalMs: 3000 },
  });
  const orchestrators: RegisteredKey[] = [];
  const domains: InitReplicated['domains'] = [];
  for (const [i, d] of all.entries()) {
    const state = join(out, d, 'state');
    await initControllerState(state);
    if (i < o.domains.length) {
      const k = generateKey('ed25519');
      sealOrchestratorKey(state, Kek.load(join(state, 'kek')), k);
      orchestrators.push(registeredKey(k, 'orchestrator', `orchestrator-${d}`, d));
    }
    domains.push({ domain: d, state, config: join(out, d, 'replicated.json') });
  }
  const genesis = parseGenesis({
    chainId, time: Date.now(), timestampWindowMs: DEFAULT_TIMESTAMP_WINDOW_MS,
    validators: nodes.map((n, i) => genesisValidator(readCometValidatorSigner(n.home), `validator-${all[i]}`, all[i]!)),
    keys: [...o.operators, ...orchestrators],
  });
  const genesisFile = join(out, 'genesis.json');
  writeFileSync(genesisFile, `${genesisJson(genesis)}\n`, { mode: 0o644 });
  for (const [i, d] of domains.entries()) {
    const cfg: ReplicatedConfig = {
      domain: d.domain, genesis: genesisFile, cometHome: nodes[i]!.home, abci: `unix://${join(out, d.domain, 'abci.sock')}`,
      ledgerDir: join(out, d.domain, 'ledger'), answers: i < o.domains.length,
    };
    writeFileSync(d.config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o644 });
  }
  return { genesis, domains };
}
