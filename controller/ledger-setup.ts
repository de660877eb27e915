/**
 * The controller's part of the orchestration log's state: its own signing
 * key (it signs responses as the orchestrator of its domain, and blocks as
 * the embedded log's one validator), kept sealed with the key-encryption key
 * like EF keys, and the genesis it creates the log with. Tenants' and
 * operators' keys come from outside: their public halves only.
 */
import { randomBytes, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kek } from './keys/kek.js';
import {
  DEFAULT_TIMESTAMP_WINDOW_MS, generateKey, genesisJson, genesisValidator, parseGenesis, registeredKey, signerFromPem,
  type GeneratedKey, type Genesis, type RegisteredKey, type Signer,
} from './ledger/index.js';

/** The embedded controller executes for every domain under this name. */
export const EMBEDDED_DOMAIN = 'controller';
const SEALED = 'orchestrator.key.sealed';
const AAD = 'esfc-ledger-orchestrator';

export interface ControllerLedger {
  dir: string;
  orchestrator: Signer;
  domain: string;
  genesis: Genesis;
}

/** Whether the state directory has its orchestration log (its orchestrator key) already. */
export function hasControllerLedger(stateDir: string): boolean {
  return existsSync(join(stateDir, 'ledger', SEALED));
}

/**
 * The log directory's orchestrator key, made (and the genesis with it) on
 * first use. `keys`: public keys registered from the start (operators', and
 * tenants' if known then); later ones are registered by operators' signed
 * requests (esfc-intent:signing-keys).
 */
export function ensureControllerLedger(stateDir: string, kek: Kek, keys: readonly RegisteredKey[] = []): ControllerLedger {
  const dir = join(stateDir, 'ledger');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sealedPath = join(dir, SEALED);
  if (existsSync(sealedPath)) {
    const orchestrator = unsealOrchestratorKey(stateDir, kek);
    if (!existsSync(join(dir, 'genesis.json'))) throw new Error(`${dir} has the orchestrator key but no genesis.json: restore it from a backup`);
    return { dir, orchestrator, domain: EMBEDDED_DOMAIN, genesis: parseGenesis(readFileSync(join(dir, 'genesis.json'), 'utf8')) };
  }
  const k = generateKey('ed25519');
  const genesis: Genesis = {
    chainId: `esfc-${randomBytes(6).toString('hex')}`,
    time: Date.now(),
    validators: [genesisValidator(k, 'controller', EMBEDDED_DOMAIN)],
    keys: [registeredKey(k, 'orchestrator', 'controller', EMBEDDED_DOMAIN), ...keys],
    timestampWindowMs: DEFAULT_TIMESTAMP_WINDOW_MS,
  };
  // The genesis first: a key without its genesis is refused above, a genesis without its key is just made again.
  writeFileSync(join(dir, 'genesis.json'), `${genesisJson(genesis)}\n`, { mode: 0o644 });
  sealOrchestratorKey(stateDir, kek, k);
  return { dir, orchestrator: k.signer, domain: EMBEDDED_DOMAIN, genesis };
}

/** Keeps the controller's orchestrator key sealed with its KEK in state/ledger (it never lies on disk in clear). */
export function sealOrchestratorKey(stateDir: string, kek: Kek, k: GeneratedKey): void {
  const dir = join(stateDir, 'ledger');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const der = createPrivateKey(k.privateKeyPem()).export({ type: 'pkcs8', format: 'der' });
  writeFileSync(join(dir, SEALED), kek.seal(der, AAD), { mode: 0o600 });
}

export function unsealOrchestratorKey(stateDir: string, kek: Kek): Signer {
  const pkcs8 = kek.unseal(readFileSync(join(stateDir, 'ledger', SEALED)), AAD);
  return signerFromPem(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString());
}
