/**
 * Shared fixtures for the ledger tests: real keys (Ed25519 and RSA-PSS),
 * a genesis, a small stand-in for the controller's InstructionModel, and a
 * validation context over plain maps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey, registeredKey, type GeneratedKey, KeyRegistry } from '../../controller/ledger/keys.js';
import { genesisValidator, type Genesis } from '../../controller/ledger/genesis.js';
import {
  newRequest, newResponse, signTransaction, type Method, type NewRequest, type NewResponse, type Request, type SignedTransaction,
} from '../../controller/ledger/transaction.js';
import type { InstructionModel, ValidationContext } from '../../controller/ledger/validate.js';
import { decodeTransaction } from '../../controller/ledger/transaction.js';

export const CHAINS = '/restconf/data/esfc-intent:chains';
export const chainPath = (name: string): string => `${CHAINS}/chain=${name}`;

export interface Keys {
  operator: GeneratedKey;
  acme: GeneratedKey;
  /** A tenant with an RSA-PSS key. */
  globex: GeneratedKey;
  orchA: GeneratedKey;
  /** An orchestrator with an RSA-PSS key. */
  orchB: GeneratedKey;
  validator: GeneratedKey;
  /** Generated but never registered. */
  stranger: GeneratedKey;
}

let cached: Keys | undefined;

/** One set of keys per test process: RSA key generation is slow. */
export function keys(): Keys {
  cached ??= {
    operator: generateKey('ed25519'),
    acme: generateKey('ed25519'),
    globex: generateKey('rsa-pss-2048'),
    orchA: generateKey('ed25519'),
    orchB: generateKey('rsa-pss-2048'),
    validator: generateKey('ed25519'),
    stranger: generateKey('ed25519'),
  };
  return cached;
}

export function genesis(k: Keys = keys(), time = Date.UTC(2025, 0, 1)): Genesis {
  return {
    chainId: 'esfc-test',
    time,
    validators: [genesisValidator(k.validator, 'controller', 'dom-a')],
    keys: [
      registeredKey(k.operator, 'operator', 'alice'),
      registeredKey(k.acme, 'tenant', 'acme'),
      registeredKey(k.globex, 'tenant', 'globex'),
      registeredKey(k.orchA, 'orchestrator', 'orch-a', 'dom-a'),
      registeredKey(k.orchB, 'orchestrator', 'orch-b', 'dom-b'),
    ],
    timestampWindowMs: 30_000,
  };
}

/** Which tenant owns which chain, as the controller's datastore would say. */
const OWNER: Record<string, string> = { web: 'acme', mail: 'acme', erp: 'globex' };

/**
 * A stand-in for the controller's YANG model: writes under
 * /restconf/data/esfc-intent: are valid unless the path names
 * "no-such-node"; chains belong to OWNER (or to the body's tenant for a new
 * one); chain "web" runs on dom-a, every other chain on dom-a and dom-b.
 */
export const model: InstructionModel = {
  check(method: Method, path: string, body: string) {
    if (!path.startsWith('/restconf/data/esfc-intent:')) return `${path} is not a data resource of esfc-intent`;
    if (path.includes('no-such-node')) return `${path}: unknown-element no-such-node`;
    if (method !== 'DELETE' && body === '') return `${method} needs a body`;
    return undefined;
  },
  tenantsTouched(_method: Method, path: string, body: string) {
    const m = /^\/restconf\/data\/esfc-intent:chains\/chain=([^/]+)/.exec(path);
    if (m === null) return 'other';
    const owner = OWNER[m[1]!];
    if (owner !== undefined) return [owner];
    const t = body === '' ? undefined : (JSON.parse(body) as { 'esfc-intent:chain'?: { tenant?: string }[] })['esfc-intent:chain']?.[0]?.tenant;
    return t === undefined ? [] : [t];
  },
  domainsOf(request: Request) {
    return request.path.includes('chain=web') ? ['dom-a'] : ['dom-a', 'dom-b'];
  },
};

export function chainBody(name: string, tenant: string, sfs: string[] = ['sf1', 'sf2']): string {
  return JSON.stringify({ 'esfc-intent:chain': [{ name, tenant, 'service-function': sfs }] });
}

export function request(k: GeneratedKey, r: NewRequest): SignedTransaction {
  return signTransaction(newRequest(k.signer, r), k.signer);
}

export function response(k: GeneratedKey, r: NewResponse): SignedTransaction {
  return signTransaction(newResponse(k.signer, r), k.signer);
}

/** A validation context over maps the test fills in. */
export class MapContext implements ValidationContext {
  nowMs = Date.now();
  timestampWindowMs = 30_000;
  registry: KeyRegistry;
  committed = new Map<string, Request | true>();
  pending = new Set<string>();
  responses = new Set<string>();
  model = model;
  verifySignature?: ValidationContext['verifySignature'];

  constructor(g: Genesis = genesis()) {
    this.registry = new KeyRegistry(g.keys);
  }

  now(): number {
    return this.nowMs;
  }

  seen(id: string): 'committed' | 'pending' | undefined {
    return this.committed.has(id) ? 'committed' : this.pending.has(id) ? 'pending' : undefined;
  }

  committedRequest(id: string): Request | undefined {
    const r = this.committed.get(id);
    return r === undefined || r === true ? undefined : r;
  }

  hasResponse(requestId: string, domain: string): boolean {
    return this.responses.has(`${requestId}/${domain}`);
  }

  /** Commits a signed request so responses can name it. */
  commitRequest(bytes: Buffer): Request {
    const tx = decodeTransaction(bytes);
    if (tx.type !== 'request') throw new Error('not a request');
    this.committed.set(tx.idHex, tx);
    return tx;
  }
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `esfc-ledger-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
