/**
 * The controller's PKI: its CA, the certificates it issues to the controller
 * and to operators, tenants and agents, enrollment bundles, revocation, and
 * the TLS settings both ends use. Import from here.
 */
export { PkiError, type PkiErrorCode } from './errors.js';
export { CertificateAuthority, CA_CERT_FILE, CA_KEY_FILE, type CaCreateOptions, type ServerCertOptions } from './ca.js';
export { DEFAULT_LEAF_DAYS, DEFAULT_CA_YEARS, type ValidityOptions, type ServerNames } from './profiles.js';
export { Credential, type CredentialParts } from './credential.js';
export { readBundle, writeBundle, checkCredential } from './bundle.js';
export type { WriteOptions } from './files.js';
export {
  PRINCIPAL_KINDS, principalUri, parsePrincipalUri, type Principal, type PrincipalKind, type PrincipalName,
} from './principal-name.js';
export { principalOf, checkPeer, sanUris, type PeerCheck, type PeerInput } from './principal.js';
export { RevokedSerials, type RevocationList } from './revocation.js';
export { canonicalSerial } from './serial.js';
export { serverTlsOptions, clientDispatcher, controllerEndpoint, type ClientDispatcherOptions } from './tls.js';
export { TrustAnchor, type TrustInput } from './trust.js';
