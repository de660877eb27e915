/**
 * The genesis (docs/ledger.md, `genesis.json`): the chain id, the
 * validators (who may propose and commit blocks), the keys registered from
 * the start and the timestamp window. Block 0 binds the log to it: its
 * transaction root is SHA-256 of the canonical genesis JSON. Parsing is
 * strict (no unknown members) so that the canonical form of what was
 * checked is the canonical form of what was given.
 */
import type { KeyObject } from 'node:crypto';
import { unsignedEmptyBlock, type Block } from './block.js';
import { canonicalJson } from './canonical-json.js';
import { sha256 } from './hash.js';
import { KeyRegistry, LedgerKeyError, algOfKey, checkRegisteredKey, keyIdOf, publicKeyFrom, type KeyAlg, type RegisteredKey } from './keys.js';

export const DEFAULT_TIMESTAMP_WINDOW_MS = 30_000;

export interface GenesisValidator {
  name: string;
  domain: string;
  /** SHA-256 of the SPKI DER, hex */
  keyId: string;
  /** SPKI DER base64; the algorithm is the key's own (Ed25519 or 2048-bit RSA-PSS). */
  publicKey: string;
}

export interface Genesis {
  chainId: string;
  /** ms since the Unix epoch: block 0's time. */
  time: number;
  validators: GenesisValidator[];
  keys: RegisteredKey[];
  timestampWindowMs: number;
}

export class LedgerGenesisError extends Error {
  override readonly name = 'LedgerGenesisError';

  /** where: a JSON path such as "validators[1].keyId". */
  constructor(readonly where: string, problem: string) {
    super(`genesis ${where}: ${problem}`);
  }
}

type Json = Record<string, unknown>;

function object(v: unknown, where: string, members: readonly string[], optional: readonly string[] = []): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LedgerGenesisError(where, 'is not an object');
  const o = v as Json;
  for (const k of Object.keys(o)) if (!members.includes(k) && !optional.includes(k)) throw new LedgerGenesisError(`${where}.${k}`, 'is not a genesis member');
  for (const k of members) if (o[k] === undefined) throw new LedgerGenesisError(`${where}.${k}`, 'is missing');
  return o;
}

function string(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new LedgerGenesisError(where, 'is not a non-empty string');
  return v;
}

function integer(v: unknown, where: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new LedgerGenesisError(where, `is not an integer >= ${min}`);
  return v;
}

function array(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new LedgerGenesisError(where, 'is not an array');
  return v;
}

/** Parses and checks a genesis (JSON text, bytes, or an already parsed value). */
export function parseGenesis(input: unknown): Genesis {
  let v: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new LedgerGenesisError('', `is not JSON: ${(e as Error).message}`);
    }
  }
  const g = object(v, '$', ['chainId', 'time', 'validators', 'keys', 'timestampWindowMs']);
  const ids = new Set<string>();
  const validators = array(g.validators, 'validators').map((x, i): GenesisValidator => {
    const where = `validators[${i}]`;
    const o = object(x, where, ['name', 'domain', 'keyId', 'publicKey']);
    const val: GenesisValidator = { name: string(o.name, `${where}.name`), domain: string(o.domain, `${where}.domain`), keyId: string(o.keyId, `${where}.keyId`), publicKey: string(o.publicKey, `${where}.publicKey`) };
    try {
      publicKeyFrom(val.publicKey);
    } catch (e) {
      throw new LedgerGenesisError(`${where}.publicKey`, (e as Error).message);
    }
    if (keyIdOf(Buffer.from(val.publicKey, 'base64')).toString('hex') !== val.keyId) throw new LedgerGenesisError(`${where}.keyId`, 'is not SHA-256 of its public key');
    if (ids.has(val.keyId)) throw new LedgerGenesisError(`${where}.keyId`, 'appears twice');
    ids.add(val.keyId);
    return val;
  });
  if (validators.length === 0) throw new LedgerGenesisError('validators', 'is empty: someone must propose blocks');
  const keyIds = new Set<string>();
  const keys = array(g.keys, 'keys').map((x, i): RegisteredKey => {
    const where = `keys[${i}]`;
    const o = object(x, where, ['keyId', 'alg', 'publicKey', 'role', 'name'], ['domain']);
    const k = o as unknown as RegisteredKey;
    try {
      checkRegisteredKey(k);
    } catch (e) {
      throw new LedgerGenesisError(where, e instanceof LedgerKeyError ? e.message : String(e));
    }
    if (keyIds.has(k.keyId)) throw new LedgerGenesisError(`${where}.keyId`, 'appears twice');
    keyIds.add(k.keyId);
    const r: RegisteredKey = { keyId: k.keyId, alg: k.alg, publicKey: k.publicKey, role: k.role, name: k.name };
    if (k.domain !== undefined) r.domain = k.domain;
    return r;
  });
  return {
    chainId: string(g.chainId, 'chainId'),
    time: integer(g.time, 'time', 0),
    validators,
    keys,
    timestampWindowMs: integer(g.timestampWindowMs, 'timestampWindowMs', 1),
  };
}

/** The canonical genesis JSON (what block 0 commits to, and what an export carries). */
export function genesisJson(g: Genesis): string {
  return canonicalJson(g);
}

/** Block 0: no transactions, no signature, root = SHA-256 of the canonical genesis. */
export function genesisBlock(g: Genesis): Block {
  return unsignedEmptyBlock(g.time, sha256(Buffer.from(genesisJson(g), 'utf8')));
}

export function genesisRegistry(g: Genesis): KeyRegistry {
  return new KeyRegistry(g.keys);
}

export interface ValidatorKey {
  validator: GenesisValidator;
  alg: KeyAlg;
  publicKey: KeyObject;
}

/** The validators by key id hex, with their parsed keys (block proposers are looked up here). */
export function validatorKeys(g: Genesis): Map<string, ValidatorKey> {
  const m = new Map<string, ValidatorKey>();
  for (const v of g.validators) {
    const publicKey = publicKeyFrom(v.publicKey);
    m.set(v.keyId, { validator: v, alg: algOfKey(publicKey)!, publicKey });
  }
  return m;
}

/** A validator entry for a generated or loaded key. */
export function genesisValidator(k: { keyId: string; publicKey: string }, name: string, domain: string): GenesisValidator {
  return { name, domain, keyId: k.keyId, publicKey: k.publicKey };
}
