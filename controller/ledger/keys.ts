/**
 * Keys of the orchestration log (docs/ledger.md "Keys"): who may sign what.
 * A key id is SHA-256 of the SubjectPublicKeyInfo DER, so it names the key
 * itself and not a label someone chose. Public KeyObjects are parsed once
 * when a key is registered and cached: validation verifies a signature per
 * transaction and must not re-parse DER each time.
 */
import {
  constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject,
} from 'node:crypto';
import { ed25519Verify } from './ed25519.js';

export type KeyAlg = 'ed25519' | 'rsa-pss-2048';
export type KeyRole = 'tenant' | 'orchestrator' | 'operator';

export const KEY_ALGS: readonly KeyAlg[] = ['ed25519', 'rsa-pss-2048'];
export const KEY_ROLES: readonly KeyRole[] = ['tenant', 'orchestrator', 'operator'];

/** The alg byte of the canonical encoding. */
export const ALG_BYTE: Readonly<Record<KeyAlg, number>> = { ed25519: 1, 'rsa-pss-2048': 2 };
export const ALG_OF_BYTE: ReadonlyMap<number, KeyAlg> = new Map([[1, 'ed25519'], [2, 'rsa-pss-2048']]);
/** The only signature length each algorithm may carry (a second length would be a second encoding). */
export const SIGNATURE_LENGTH: Readonly<Record<KeyAlg, number>> = { ed25519: 64, 'rsa-pss-2048': 256 };

export const KEY_ID_LENGTH = 32;

/** A key as the genesis and the key registry hold it: public material only. */
export interface RegisteredKey {
  /** SHA-256 of the SPKI DER, hex. */
  keyId: string;
  alg: KeyAlg;
  /** SPKI DER, base64. */
  publicKey: string;
  role: KeyRole;
  /** A tenant key's name is the tenant name the RESTCONF access rules use. */
  name: string;
  /** An orchestrator key's domain: the domain whose nodes it executes for. */
  domain?: string;
}

/** What signs: the private half, with the id and algorithm the encoding needs. */
export interface Signer {
  alg: KeyAlg;
  keyId: Buffer;
  privateKey: KeyObject;
}

export type KeyErrorCode = 'bad-public-key' | 'bad-private-key' | 'key-id-mismatch' | 'wrong-alg' | 'bad-role' | 'duplicate-key';

export class LedgerKeyError extends Error {
  override readonly name = 'LedgerKeyError';

  constructor(readonly code: KeyErrorCode, message: string, readonly keyId?: string) {
    super(message);
  }
}

export function keyIdOf(spkiDer: Uint8Array): Buffer {
  return createHash('sha256').update(spkiDer).digest();
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/**
 * The algorithm a public (or private) key is for, or undefined when it is
 * neither Ed25519 nor 2048-bit RSA usable with PSS/SHA-256. RSA keys may be
 * plain rsaEncryption or id-RSASSA-PSS; a PSS key restricted to another
 * hash could never verify our signatures, so it is refused here.
 */
export function algOfKey(key: KeyObject): KeyAlg | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') return undefined;
  const d = key.asymmetricKeyDetails;
  if (d?.modulusLength !== 2048) return undefined;
  if (key.asymmetricKeyType === 'rsa-pss') {
    if (d.hashAlgorithm !== undefined && d.hashAlgorithm !== 'sha256') return undefined;
    if (d.mgf1HashAlgorithm !== undefined && d.mgf1HashAlgorithm !== 'sha256') return undefined;
    if (d.saltLength !== undefined && d.saltLength > 32) return undefined;
  }
  return 'rsa-pss-2048';
}

/** Parses SPKI DER (base64 or bytes) and checks it is a key of `alg` when given. */
export function publicKeyFrom(spki: string | Uint8Array, alg?: KeyAlg): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: typeof spki === 'string' ? Buffer.from(spki, 'base64') : Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (e) {
    throw new LedgerKeyError('bad-public-key', `public key is not SPKI DER: ${(e as Error).message}`);
  }
  const actual = algOfKey(key);
  if (actual === undefined) throw new LedgerKeyError('wrong-alg', `public key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519 or 2048-bit RSA`);
  if (alg !== undefined && actual !== alg) throw new LedgerKeyError('wrong-alg', `public key is ${actual}, registered as ${alg}`);
  return key;
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

/** Signs data: Ed25519 (pure), or RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32. */
export function signBytes(signer: Signer, data: Uint8Array): Buffer {
  return signer.alg === 'ed25519'
    ? sign(null, data, signer.privateKey)
    : sign('sha256', data, { key: signer.privateKey, ...PSS });
}

/**
 * Verifies a signature; never throws on bad input (a wrong-length or
 * garbage signature is just false). Ed25519 is libsodium's rule
 * (ed25519.ts): S < L, so (R, S + L) does not verify, and neither R nor the
 * key of small order. Throws Ed25519LibraryError when libsodium is missing:
 * refusing every signature would look like forgeries.
 */
export function verifyBytes(alg: KeyAlg, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (alg === 'ed25519') return ed25519Verify(key, data, signature);
  try {
    return verify('sha256', data, { key, ...PSS }, signature);
  } catch {
    return false;
  }
}

/** A freshly generated key pair: for tests, benchmarks and `esfc ctl`. */
export interface GeneratedKey {
  alg: KeyAlg;
  /** hex */
  keyId: string;
  /** SPKI DER, base64 */
  publicKey: string;
  signer: Signer;
  /** PKCS#8 PEM, for writing to a 0600 file; never put it in the log or an API reply. */
  privateKeyPem(): string;
}

export function generateKey(alg: KeyAlg = 'ed25519'): GeneratedKey {
  const { publicKey, privateKey } = alg === 'ed25519'
    ? generateKeyPairSync('ed25519')
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = spkiOf(publicKey);
  const keyId = keyIdOf(spki);
  return {
    alg,
    keyId: keyId.toString('hex'),
    publicKey: spki.toString('base64'),
    signer: { alg, keyId, privateKey },
    privateKeyPem: () => privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** A Signer from a private key PEM (PKCS#8 or the traditional forms OpenSSL reads). */
export function signerFromPem(pem: string): Signer {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new LedgerKeyError('bad-private-key', `private key does not parse: ${(e as Error).message}`);
  }
  const alg = algOfKey(privateKey);
  if (alg === undefined) throw new LedgerKeyError('wrong-alg', `private key is ${privateKey.asymmetricKeyType ?? 'unknown'}, not Ed25519 or 2048-bit RSA`);
  return { alg, keyId: keyIdOf(spkiOf(createPublicKey(privateKey))), privateKey };
}

/** The public registration of a generated key. */
export function registeredKey(k: Pick<GeneratedKey, 'alg' | 'keyId' | 'publicKey'>, role: KeyRole, name: string, domain?: string): RegisteredKey {
  const r: RegisteredKey = { keyId: k.keyId, alg: k.alg, publicKey: k.publicKey, role, name };
  if (domain !== undefined) r.domain = domain;
  return r;
}

/** A registered key with its parsed public key. */
export interface KeyEntry {
  readonly key: RegisteredKey;
  readonly publicKey: KeyObject;
}

const HEX_ID = /^[0-9a-f]{64}$/;

/**
 * Checks a registration is self-consistent (its key id is the hash of its
 * key, the key is of its algorithm, an orchestrator names its domain) and
 * parses the key.
 */
export function checkRegisteredKey(k: RegisteredKey): KeyEntry {
  if (typeof k.keyId !== 'string' || !HEX_ID.test(k.keyId)) throw new LedgerKeyError('key-id-mismatch', 'keyId is not 64 lowercase hex digits', String(k.keyId));
  if (!KEY_ALGS.includes(k.alg)) throw new LedgerKeyError('wrong-alg', `alg ${String(k.alg)} is not one of ${KEY_ALGS.join(', ')}`, k.keyId);
  if (!KEY_ROLES.includes(k.role)) throw new LedgerKeyError('bad-role', `role ${String(k.role)} is not one of ${KEY_ROLES.join(', ')}`, k.keyId);
  if (typeof k.name !== 'string' || k.name === '') throw new LedgerKeyError('bad-role', 'a registered key needs a name', k.keyId);
  if (k.role === 'orchestrator' && (typeof k.domain !== 'string' || k.domain === '')) {
    throw new LedgerKeyError('bad-role', `orchestrator key ${k.name} needs the domain it executes for`, k.keyId);
  }
  if (k.domain !== undefined && typeof k.domain !== 'string') throw new LedgerKeyError('bad-role', 'domain must be a string', k.keyId);
  const publicKey = publicKeyFrom(k.publicKey, k.alg);
  const actualId = keyIdOf(Buffer.from(k.publicKey, 'base64')).toString('hex');
  if (actualId !== k.keyId) throw new LedgerKeyError('key-id-mismatch', `keyId ${k.keyId} is not SHA-256 of its public key (${actualId})`, k.keyId);
  return { key: { ...k }, publicKey };
}

/** The registered keys, by key id. Keys are only ever added (an operator's request registers one). */
export class KeyRegistry {
  private readonly byId = new Map<string, KeyEntry>();

  constructor(keys: Iterable<RegisteredKey> = []) {
    for (const k of keys) this.add(k);
  }

  add(k: RegisteredKey): KeyEntry {
    if (this.byId.has(k.keyId)) throw new LedgerKeyError('duplicate-key', `key ${k.keyId} (${k.name}) is already registered`, k.keyId);
    const entry = checkRegisteredKey(k);
    this.byId.set(entry.key.keyId, entry);
    return entry;
  }

  /** By key id: the 32 bytes as in a transaction, or hex. */
  get(keyId: Uint8Array | string): KeyEntry | undefined {
    return this.byId.get(typeof keyId === 'string' ? keyId : Buffer.from(keyId.buffer, keyId.byteOffset, keyId.length).toString('hex'));
  }

  has(keyId: Uint8Array | string): boolean {
    return this.get(keyId) !== undefined;
  }

  get size(): number {
    return this.byId.size;
  }

  list(): RegisteredKey[] {
    return [...this.byId.values()].map((e) => ({ ...e.key }));
  }
}
