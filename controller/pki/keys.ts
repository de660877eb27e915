/**
 * ECDSA P-256 keys through WebCrypto (what @peculiar/x509 signs with). Private
 * keys leave this module only as PKCS#8 PEM strings headed for a 0600 file,
 * or as CryptoKeys; the CA's own signing key is imported non-extractable so
 * nothing that later holds the CA object can export it.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { PkiError } from './errors.js';

/** Node 20's global WebCrypto; typed as the DOM Crypto that @peculiar/x509 expects. */
export const webcrypto: Crypto = globalThis.crypto;

export const EC_KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** A fresh key pair; the private half is extractable once so it can be written to its bundle. */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify']);
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', key));
  try {
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
  } finally {
    der.fill(0); // the PEM string cannot be wiped, but this copy can
  }
}

/** Parses a PEM private key; the error never quotes the text. */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new PkiError('malformed', `${source}: the private key does not parse (${(e as Error).message.split('\n')[0]})`, undefined, { cause: e });
  }
}

/** Imports a PEM P-256 private key as a non-extractable signing key. */
export async function importSigningKey(pem: string, source: string): Promise<CryptoKey> {
  const key = parsePrivateKey(pem, source);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PkiError('malformed', `${source}: expected an ECDSA P-256 key, found ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trimEnd());
  }
  const der = key.export({ format: 'der', type: 'pkcs8' });
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, EC_KEY_ALGORITHM, false, ['sign']);
  } finally {
    der.fill(0);
  }
}
