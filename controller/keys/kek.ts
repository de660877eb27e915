/**
 * The key-encryption key: EF keys are stored sealed with it (AES-256-GCM) and
 * never in clear. It comes from a 0600 file (32 bytes as 64 hex digits) or the
 * ESFC_KEK environment variable; a controller without one refuses to start.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';

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

  /** From --kek-file (must be 0600) or ESFC_KEK; says how to make one when neither is there. */
  static load(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Kek {
    if (file) {
      let mode: number;
      try {
        mode = statSync(file).mode & 0o777;
      } catch (e) {
        throw new KekError(`cannot read the key-encryption key file ${file}: ${(e as Error).message}`);
      }
      if (mode & 0o077) throw new KekError(`${file} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${file}`);
      return Kek.fromHex(readFileSync(file, 'utf8'), file);
    }
    if (env.ESFC_KEK) return Kek.fromHex(env.ESFC_KEK, 'ESFC_KEK');
    throw new KekError('no key-encryption key: give --kek-file FILE (64 hex digits, mode 0600; `esfc controller init` makes one) or set ESFC_KEK; EF keys are never stored in clear');
  }

  /** A new random KEK written to `file` with mode 0600 (refuses to overwrite). */
  static create(file: string): void {
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
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
