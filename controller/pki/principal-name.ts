/**
 * Who a client certificate speaks for. The principal lives in exactly one URI
 * SAN, `urn:esfc:<kind>:<name>`: a SAN is typed and signed, unlike the subject
 * DN, whose free-text CN could be made to look like anything. The name
 * grammar has no ':' so the URI splits one way only, and it is the agent
 * config's node-name grammar so every node name fits.
 */
import { PkiError } from './errors.js';

export const PRINCIPAL_KINDS = ['operator', 'tenant', 'agent'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export interface PrincipalName {
  kind: PrincipalKind;
  /** operator or tenant name, or the agent's node name. */
  name: string;
}

/** A principal as seen on a connection: who, and which certificate said so (for revocation and audit). */
export interface Principal extends PrincipalName {
  /** Canonical serial of the certificate (lowercase hex, see canonicalSerial). */
  serial: string;
}

export const PRINCIPAL_URN_PREFIX = 'urn:esfc:';
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function isPrincipalKind(s: string): s is PrincipalKind {
  return (PRINCIPAL_KINDS as readonly string[]).includes(s);
}

/** Throws PkiError('invalid_name') unless kind and name can be put in a certificate. */
export function checkPrincipalName(p: PrincipalName): void {
  if (!isPrincipalKind(p.kind)) {
    throw new PkiError('invalid_name', `unknown principal kind ${JSON.stringify(p.kind)}; expected one of ${PRINCIPAL_KINDS.join(', ')}`);
  }
  if (!NAME.test(p.name)) {
    throw new PkiError('invalid_name', `${p.kind} name ${JSON.stringify(p.name)} must match ${NAME.source} (lowercase letters, digits, '_', '.', '-'; at most 63)`);
  }
}

export function principalUri(p: PrincipalName): string {
  checkPrincipalName(p);
  return `${PRINCIPAL_URN_PREFIX}${p.kind}:${p.name}`;
}

/** The principal a URI names, or undefined for anything else (other URNs, unknown kinds, bad names). */
export function parsePrincipalUri(uri: string): PrincipalName | undefined {
  if (!uri.startsWith(PRINCIPAL_URN_PREFIX)) return undefined;
  const rest = uri.slice(PRINCIPAL_URN_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon < 0) return undefined;
  const kind = rest.slice(0, colon);
  const name = rest.slice(colon + 1);
  if (!isPrincipalKind(kind) || !NAME.test(name)) return undefined;
  return { kind, name };
}

/** Whether a URI claims to be an esfc principal at all (used to refuse certificates claiming two). */
export function isEsfcUri(uri: string): boolean {
  return uri.toLowerCase().startsWith(PRINCIPAL_URN_PREFIX);
}
