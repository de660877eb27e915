/**
 * Splitting PEM text into its blocks. Bundles and CA files are concatenated
 * PEM; text between blocks (our header comment) is ignored, as openssl does.
 */
export interface PemBlock {
  /** The word(s) after BEGIN, e.g. "CERTIFICATE", "PRIVATE KEY". */
  label: string;
  /** The whole block, BEGIN to END line, newline-terminated: what Node's tls options take. */
  text: string;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

export function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(BLOCK)].map((m) => ({ label: m[1]!, text: `${m[0]}\n` }));
}

/** Labels of private-key blocks Node can use (PKCS#8 and SEC1). */
export const PRIVATE_KEY_LABELS = ['PRIVATE KEY', 'EC PRIVATE KEY'];
