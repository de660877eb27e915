/**
 * One error type for the controller's PKI, with a machine-readable code so
 * callers (the RESTCONF server, `esfc ctl`) can map failures to statuses and
 * fixes without matching on message text. Messages name the file, principal
 * or field involved and what to do; they never quote key material.
 */
export type PkiErrorCode =
  /** A principal name, DNS name or IP address that cannot go into a certificate. */
  | 'invalid_name'
  /** notBefore/notAfter that are inverted or outlive the CA. */
  | 'invalid_validity'
  /** A serial number that is not hexadecimal. */
  | 'invalid_serial'
  /** A file the caller asked to create already exists. */
  | 'exists'
  /** A file or directory that does not exist. */
  | 'not_found'
  /** A key file readable (or writable) by group or others, or not a regular file. */
  | 'insecure_permissions'
  /** A directory group or others can write into (they could swap files). */
  | 'insecure_directory'
  /** PEM or certificate content that does not parse or is not what was expected. */
  | 'malformed'
  /** A private key that does not belong to the certificate next to it. */
  | 'key_mismatch'
  /** A certificate that our CA did not issue. */
  | 'untrusted'
  /** The revocation list cannot be read: deny rather than guess. */
  | 'revocation_unavailable'
  /** Any other file-system failure. */
  | 'io';

export class PkiError extends Error {
  override readonly name = 'PkiError';

  /** path names the file or directory concerned, when there is one. */
  constructor(
    readonly code: PkiErrorCode,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Turns a Node fs error into a PkiError that names the operation and the path. */
export function fsError(op: string, path: string, e: unknown): PkiError {
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOENT') return new PkiError('not_found', `${op} ${path}: no such file or directory`, path, { cause: e });
  if (errno === 'EEXIST') return new PkiError('exists', `${op} ${path}: already exists`, path, { cause: e });
  if (errno === 'ELOOP') return new PkiError('insecure_permissions', `${op} ${path}: is a symbolic link; refusing to follow it (PKI files must be regular files)`, path, { cause: e });
  return new PkiError('io', `${op} ${path}: ${errno ?? String(e)}`, path, { cause: e });
}
