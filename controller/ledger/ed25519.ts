/**
 * Ed25519 verification of the orchestration log: libsodium's
 * crypto_sign_ed25519_verify_detached, through koffi.
 *
 * Why libsodium and not Node's crypto.verify: every validator verifies every
 * request, so the verification is most of what a replicated log spends per
 * transaction; libsodium takes 48 us where OpenSSL through Node takes 105 us
 * on our 2-core machines (docs/ledger.md "Keys").
 *
 * Why there is no fallback: validators must agree on which signatures are
 * valid, or one accepts a block another rejects. Ed25519 implementations
 * differ at the edges: libsodium also refuses a signature whose R is of
 * small order (which the signer can make with its own key, R the identity
 * and S = H(R, A, M) * a) and a public key of small order, where OpenSSL
 * checks only the equation. So the rule is libsodium's, everywhere: the
 * embedded store, every validator, `esfc audit verify`.
 */
import koffi from 'koffi';
import type { KeyObject } from 'node:crypto';

/** Debian's package (12 and 13): scripts/setup.sh installs it. */
const LIBRARY = 'libsodium.so.23';
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** At most this many asynchronous verifications in flight (koffi caps its asynchronous calls). */
const MAX_IN_FLIGHT = 32;

export class Ed25519LibraryError extends Error {
  override readonly name = 'Ed25519LibraryError';
}

type VerifyFn = ((sig: Uint8Array, m: Uint8Array, mlen: number, pk: Uint8Array) => number) & {
  async: (sig: Uint8Array, m: Uint8Array, mlen: number, pk: Uint8Array, cb: (err: unknown, res: number) => void) => void;
};

let verifyFn: VerifyFn | undefined;

function sodium(): VerifyFn {
  if (verifyFn) return verifyFn;
  let lib: koffi.IKoffiLib;
  try {
    lib = koffi.load(LIBRARY);
  } catch (e) {
    throw new Ed25519LibraryError(`the orchestration log verifies Ed25519 with libsodium, and ${LIBRARY} does not load (${(e as Error).message}); fix: apt-get install libsodium23 (scripts/setup.sh does)`);
  }
  // sodium_init picks the implementation for this CPU; 1 means an earlier call did.
  if ((lib.func('int sodium_init(void)') as () => number)() < 0) throw new Ed25519LibraryError('sodium_init failed');
  verifyFn = lib.func('int crypto_sign_ed25519_verify_detached(const uint8_t *sig, const uint8_t *m, unsigned long long mlen, const uint8_t *pk)') as VerifyFn;
  return verifyFn;
}

/** The 32 raw bytes of Ed25519 public keys, parsed once per KeyObject. */
const rawKeys = new WeakMap<KeyObject, Buffer>();

/** The key's raw bytes, or undefined when it is not an Ed25519 public key. */
function rawKeyOf(key: KeyObject): Buffer | undefined {
  let raw = rawKeys.get(key);
  if (raw === undefined) {
    if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') return undefined;
    const jwk = key.export({ format: 'jwk' });
    raw = Buffer.from(typeof jwk.x === 'string' ? jwk.x : '', 'base64url');
    if (raw.length !== PUBLIC_KEY_BYTES) return undefined;
    rawKeys.set(key, raw);
  }
  return raw;
}

/** Loads libsodium now: a controller or validator that cannot verify should not start. */
export function checkEd25519(): void {
  sodium();
}

/** Whether `signature` is `key`'s over `data`; false for any malformed input. */
export function ed25519Verify(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const verify = sodium();
  const pk = rawKeyOf(key);
  if (pk === undefined || signature.length !== SIGNATURE_BYTES) return false;
  return verify(signature, data, data.length, pk) === 0;
}

const queue: (() => void)[] = [];
let inFlight = 0;

/**
 * The same answer as ed25519Verify, computed on a worker thread (koffi's
 * asynchronous call) so the caller's thread can go on; at most
 * MAX_IN_FLIGHT at once, the rest queued.
 */
export function ed25519VerifyAsync(key: KeyObject, data: Uint8Array, signature: Uint8Array, done: (ok: boolean) => void): void {
  const verify = sodium();
  const pk = rawKeyOf(key);
  if (pk === undefined || signature.length !== SIGNATURE_BYTES) {
    queueMicrotask(() => done(false));
    return;
  }
  const run = (): void => {
    inFlight++;
    verify.async(signature, data, data.length, pk, (err, res) => {
      inFlight--;
      queue.shift()?.();
      done(err === null && res === 0);
    });
  };
  if (inFlight < MAX_IN_FLIGHT) run();
  else queue.push(run);
}
