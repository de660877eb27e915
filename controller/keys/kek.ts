/**
 * The key-encryption key: EF keys are stored sealed with it (AES-256-GCM) and
 * never in clear. It comes from a 0600 file (32 bytes as 64 hex digits) or the
 * ESFC_KEK environment variable; a controller without one refuses to start.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readSecretFile, writeSecretFile } from '../pki/files.js';

export class KekError extends Error {
  readonly code = 'ESFC_KEK';
}

export class Kek {
  private constructor(private readonly key: Buffer) {}

  static fromHex(hex: string, source: string): Kek {
    const t = hex.trim();
    if (!/^[0-9a-f]{64}$/i.test(t)) throw new KekError(`${source}: a key-encryption key is 64 hex digits (32 bytes); this is not (value not shown)`);
    return new Kek(Buffer.from(t, 'hex'));
  }

  /** From --kek-file (a regular 0600 file of this user or root) or ESFC_KEK; says how to make one when neither is there. */
  static load(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Kek {
    if (file) {
      let text: string;
      try {
        text = readSecretFile(file, 'the key-encryption key file');
      } catch (e) {
        throw new KekError((e as Error).message);
      }
      return Kek.fromHex(text, file);
    }
    if (env.ESFC_KEK) return Kek.fromHex(env.ESFC_KEK, 'ESFC_KEK');
    throw new KekError('no key-encryption key: give --kek-file FILE (64 hex digits, mode 0600; `esfc controller init` makes one) or set ESFC_KEK; EF keys are never stored in clear');
  }

  /** A new random KEK written to `file` with mode 0600 (refuses to overwrite). */
  static create(file: string): void {
    writeSecretFile(file, `${randomBytes(32).toString('hex')}\n`);
  }

  /** iv(12) | tag(16) | ciphertext; `aad` binds the blob to what it is (it cannot be swapped for another key's). */
  seal(plain: Buffer, aad: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }

  unseal(blob: Buffer, aad: string): Buffer {
    const d = createDecipheriv('aes-256-gcm', this.key, blob.subarray(0, 12));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(blob.subarray(12, 28));
    try {
      return Buffer.concat([d.update(blob.subarray(28)), d.final()]);
    } catch {
      throw new KekError(`a sealed key (${aad}) does not open with this key-encryption key: wrong KEK, or the database was tampered with`);
    }
  }
}
