/**
 * File rules for key material, in one place:
 *  - secret files are created 0600 with O_EXCL|O_NOFOLLOW (no pre-planted file
 *    or symlink is reused), and replaced only by rename of a fresh 0600 file,
 *    so a key is never, even briefly, in a file with a looser mode;
 *  - nothing is written into a directory that group or others can write to
 *    (unless sticky, like /tmp): they could rename the file away and put
 *    their own in its place;
 *  - a secret file is read only if it is a regular file owned by us (or
 *    root) that neither group nor others can read or write: ssh's rule, and
 *    the agent's rule for config files holding keys.
 */
import {
  closeSync, constants, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { PkiError, fsError } from './errors.js';

export interface WriteOptions {
  /** Replace an existing file (atomically, by rename). Default: refuse with PkiError('exists'). */
  overwrite?: boolean;
}

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** Throws unless dir exists, is a directory, and group/others cannot replace files in it. */
export function checkDirectory(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw fsError('directory', dir, e);
  }
  if (!st.isDirectory()) throw new PkiError('not_found', `${dir} is not a directory`, dir);
  const sticky = (st.mode & 0o1000) !== 0; // S_ISVTX: only owners may rename or delete entries
  if ((st.mode & 0o022) !== 0 && !sticky) {
    const who = st.mode & 0o002 ? 'everyone' : 'its group';
    throw new PkiError(
      'insecure_directory',
      `refusing to write key material into ${dir}: ${who} can write there (mode ${octal(st.mode)}) and could replace the file; use a directory only you can write to (chmod 700 ${dir})`,
      dir,
    );
  }
}

function writeExclusive(path: string, content: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    throw fsError('create', path, e);
  }
  try {
    fchmodSync(fd, mode); // exactly this mode, whatever the umask did
    const buf = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    buf.fill(0);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(path); } catch { /* already gone */ }
    throw fsError('write', path, e);
  }
  closeSync(fd);
}

/** Writes content to path with the given mode, following the rules above. */
export function writeFileSecurely(path: string, content: string, mode: number, opts: WriteOptions = {}): void {
  checkDirectory(dirname(path));
  if (!opts.overwrite) {
    writeExclusive(path, content, mode);
    return;
  }
  // Fresh file next to the target, then rename over it: readers see the old or
  // the new file, never a half-written one, and a symlink at path is replaced,
  // not followed.
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  writeExclusive(tmp, content, mode);
  try {
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw fsError('replace', path, e);
  }
}

/** 0600: private keys and bundles. */
export function writeSecretFile(path: string, content: string, opts: WriteOptions = {}): void {
  writeFileSecurely(path, content, 0o600, opts);
}

/** 0644: certificates, which anyone may read but only we may change. */
export function writePublicFile(path: string, content: string, opts: WriteOptions = {}): void {
  writeFileSecurely(path, content, 0o644, opts);
}

/**
 * Reads a file holding a private key. The checks run on the opened file
 * (fstat), so the file checked is the file read. `what` names it in errors.
 */
export function readSecretFile(path: string, what: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at path must not hang us; the fstat below refuses it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fsError(`read ${what}`, path, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PkiError('insecure_permissions', `${what} ${path} is not a regular file`, path);
    const uid = process.geteuid?.();
    if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
      throw new PkiError(
        'insecure_permissions',
        `${what} ${path} belongs to uid ${st.uid}, not to this user (uid ${uid}) or root: whoever owns it can swap the key; chown it and chmod 600 ${path}`,
        path,
      );
    }
    if ((st.mode & 0o077) !== 0) {
      const readable = st.mode & 0o044;
      const who = [st.mode & 0o070 ? 'its group' : '', st.mode & 0o007 ? 'others' : ''].filter(Boolean).join(' and ');
      throw new PkiError(
        'insecure_permissions',
        `${what} ${path} holds a private key and is ${readable ? 'readable' : 'accessible'} by ${who} (mode ${octal(st.mode)}); run chmod 600 ${path}`,
        path,
      );
    }
    return readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof PkiError) throw e;
    throw fsError(`read ${what}`, path, e);
  } finally {
    closeSync(fd);
  }
}

/** Reads a public file (certificates); only existence matters. */
export function readPublicFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw fsError(`read ${what}`, path, e);
  }
}
