/**
 * Revocation: the serials the controller no longer accepts. Certificates are
 * short-lived enough that a plain list beats CRL/OCSP machinery; the server
 * asks isRevoked(principal.serial) on every request (a request, not just a
 * handshake, because connections are kept alive and sessions resumed).
 *
 * Implementations: RevokedSerials (in memory), RevocationFile (one serial a
 * line, re-read when it changes); the controller can implement the same
 * interface over its SQLite database.
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PkiError, fsError } from './errors.js';
import { checkDirectory } from './files.js';
import { canonicalSerial } from './serial.js';

export interface RevocationList {
  /**
   * Whether the certificate with this serial (any case, with or without ':')
   * is revoked. May throw PkiError('revocation_unavailable') when the list
   * cannot be read: deny the request then, never allow it.
   */
  isRevoked(serialHex: string): boolean;
}

export class RevokedSerials implements RevocationList {
  private readonly serials = new Set<string>();

  constructor(serials: Iterable<string> = []) {
    for (const s of serials) this.add(s);
  }

  add(serialHex: string): void {
    this.serials.add(canonicalSerial(serialHex));
  }

  isRevoked(serialHex: string): boolean {
    return this.serials.has(canonicalSerial(serialHex));
  }

  get size(): number {
    return this.serials.size;
  }

  [Symbol.iterator](): IterableIterator<string> {
    return this.serials.values();
  }
}

/** Parses revocation-file text: a serial per line, '#' starts a comment. */
export function parseRevocationText(text: string, source: string): RevokedSerials {
  const list = new RevokedSerials();
  text.split('\n').forEach((line, i) => {
    const s = line.replace(/#.*/, '').trim();
    if (s === '') return;
    try {
      list.add(s);
    } catch (e) {
      // A line we cannot read may be the serial that matters: refuse the whole list.
      throw new PkiError('revocation_unavailable', `${source} line ${i + 1}: ${(e as Error).message}`, source, { cause: e });
    }
  });
  return list;
}

/**
 * A revocation list kept in a text file, so `esfc ctl` (or an operator with
 * an editor) can revoke without restarting the controller: every check stats
 * the file and re-reads it when inode, size or times changed. The file must
 * not be writable by group or others (they could un-revoke); a missing or
 * unreadable file makes isRevoked throw rather than answer "not revoked".
 */
export class RevocationFile implements RevocationList {
  private cached: { stamp: string; list: RevokedSerials } | undefined;

  private constructor(readonly path: string) {}

  /** Opens path, creating an empty list (0644) if it does not exist and create is not false. */
  static open(path: string, opts: { create?: boolean } = {}): RevocationFile {
    if (opts.create !== false) {
      checkDirectory(dirname(path));
      try {
        const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o644);
        if (fstatSync(fd).size === 0) fchmodSync(fd, 0o644);
        closeSync(fd);
      } catch (e) {
        throw fsError('create revocation list', path, e);
      }
    }
    const f = new RevocationFile(path);
    f.load();
    return f;
  }

  isRevoked(serialHex: string): boolean {
    return this.load().isRevoked(serialHex);
  }

  /** Every revoked serial, canonical. */
  serials(): string[] {
    return [...this.load()];
  }

  /** Appends serial (with an optional note, e.g. who and why) to the file. */
  revoke(serialHex: string, note?: string): void {
    const serial = canonicalSerial(serialHex);
    const comment = note ? `  # ${note.replace(/[\r\n]+/g, ' ')}` : '';
    try {
      const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW);
      try {
        writeSync(fd, `${serial}${comment}\n`);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw fsError('revoke in', this.path, e);
    }
    this.cached = undefined;
  }

  private load(): RevokedSerials {
    const fail = (why: string, cause?: unknown): PkiError =>
      new PkiError('revocation_unavailable', `revocation list ${this.path}: ${why}; refusing requests until it can be read`, this.path, { cause });
    let st;
    try {
      st = statSync(this.path);
    } catch (e) {
      throw fail((e as NodeJS.ErrnoException).code ?? String(e), e);
    }
    if (!st.isFile()) throw fail('not a regular file');
    if ((st.mode & 0o022) !== 0) throw fail(`writable by group or others (mode ${(st.mode & 0o7777).toString(8)}); chmod 644 ${this.path}`);
    // Appends always change the size; an edit in place changes mtime/ctime.
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    if (this.cached?.stamp === stamp) return this.cached.list;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      throw fail((e as NodeJS.ErrnoException).code ?? String(e), e);
    }
    const list = parseRevocationText(text, this.path);
    this.cached = { stamp, list };
    return list;
  }
}
