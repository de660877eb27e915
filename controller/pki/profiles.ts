/**
 * What goes into each kind of certificate the CA issues (the certificate
 * profiles), kept apart from key handling and files so the rules read in one
 * place:
 *  - CA: basicConstraints CA:TRUE pathlen 0 (no intermediates: every
 *    certificate TLS accepts was signed by this key), keyUsage keyCertSign +
 *    cRLSign, both critical.
 *  - server (the controller): SANs for each DNS name and IP address clients
 *    dial, EKU serverAuth only.
 *  - client (operator, tenant, agent): the principal's URI SAN, EKU
 *    clientAuth only, so a client certificate cannot serve and the controller's
 *    server certificate cannot log in.
 * Leaves are CA:FALSE with keyUsage digitalSignature (all an ECDSA TLS 1.3 key
 * does), critical.
 */
import { isIP } from 'node:net';
import { x509 } from './x509.js';
import { PkiError } from './errors.js';
import { principalUri, type PrincipalName } from './principal-name.js';

const DAY_MS = 86_400_000;
/** Clients and servers alike: a year unless told otherwise. */
export const DEFAULT_LEAF_DAYS = 365;
export const DEFAULT_CA_YEARS = 10;
/**
 * notBefore is backdated this much by default: an agent whose clock runs a
 * little behind the controller's must not refuse a certificate issued a
 * moment ago.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

export interface ValidityOptions {
  /** Default: now minus 5 minutes. */
  notBefore?: Date;
  /** Default: now plus `days`. Tests pass past dates to get expired certificates. */
  notAfter?: Date;
  /** Lifetime when notAfter is not given; default 365. */
  days?: number;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** Resolves defaults and refuses inverted windows and certificates that would outlive their CA. */
export function leafValidity(opts: ValidityOptions, caNotAfter: Date, now = new Date()): Validity {
  const days = opts.days ?? DEFAULT_LEAF_DAYS;
  if (!(days > 0)) throw new PkiError('invalid_validity', `days must be positive, got ${days}`);
  const notBefore = opts.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_MS);
  const notAfter = opts.notAfter ?? new Date(now.getTime() + days * DAY_MS);
  checkWindow(notBefore, notAfter);
  if (notAfter.getTime() > caNotAfter.getTime()) {
    throw new PkiError(
      'invalid_validity',
      `notAfter ${notAfter.toISOString()} is after the CA's own notAfter ${caNotAfter.toISOString()}; issue a shorter certificate or renew the CA`,
    );
  }
  return { notBefore, notAfter };
}

export function caValidity(opts: { notBefore?: Date; notAfter?: Date; years?: number }, now = new Date()): Validity {
  const notBefore = opts.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_MS);
  let notAfter = opts.notAfter;
  if (!notAfter) {
    notAfter = new Date(now);
    notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (opts.years ?? DEFAULT_CA_YEARS));
  }
  checkWindow(notBefore, notAfter);
  return { notBefore, notAfter };
}

function checkWindow(notBefore: Date, notAfter: Date): void {
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    throw new PkiError('invalid_validity', 'notBefore and notAfter must be valid dates');
  }
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new PkiError('invalid_validity', `notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}`);
  }
}

export async function caExtensions(publicKey: CryptoKey, crypto: Crypto): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
  ];
}

/** Extensions every leaf carries; usage is serverAuth or clientAuth. */
async function leafExtensions(
  publicKey: CryptoKey, caKeyId: string, usage: x509.ExtendedKeyUsage, names: x509.JsonGeneralName[], crypto: Crypto,
): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([usage], false),
    new x509.SubjectAlternativeNameExtension(names, false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    new x509.AuthorityKeyIdentifierExtension(caKeyId, false),
  ];
}

export interface ServerNames {
  /** DNS names clients dial, e.g. "localhost", "controller.example.net". */
  dnsNames?: string[];
  /** IP addresses clients dial, e.g. "127.0.0.1", "::1". */
  ipAddresses?: string[];
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Checks and converts server names into SAN entries. */
export function serverSans(names: ServerNames): x509.JsonGeneralName[] {
  const dns = names.dnsNames ?? [];
  const ips = names.ipAddresses ?? [];
  if (dns.length + ips.length === 0) {
    throw new PkiError('invalid_name', 'a server certificate needs at least one DNS name or IP address (clients check the name they dial against it)');
  }
  for (const d of dns) {
    if (d.length > 253 || !d.toLowerCase().split('.').every((l) => DNS_LABEL.test(l))) {
      throw new PkiError('invalid_name', `${JSON.stringify(d)} is not a DNS name (no wildcards, no IP addresses: put those in ipAddresses)`);
    }
  }
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new PkiError('invalid_name', `${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  }
  return [
    ...dns.map((d): x509.JsonGeneralName => ({ type: 'dns', value: d.toLowerCase() })),
    ...ips.map((ip): x509.JsonGeneralName => ({ type: 'ip', value: ip })),
  ];
}

export async function serverExtensions(publicKey: CryptoKey, caKeyId: string, names: ServerNames, crypto: Crypto): Promise<x509.Extension[]> {
  return leafExtensions(publicKey, caKeyId, x509.ExtendedKeyUsage.serverAuth, serverSans(names), crypto);
}

export async function clientExtensions(publicKey: CryptoKey, caKeyId: string, principal: PrincipalName, crypto: Crypto): Promise<x509.Extension[]> {
  const uri: x509.JsonGeneralName = { type: 'url', value: principalUri(principal) };
  return leafExtensions(publicKey, caKeyId, x509.ExtendedKeyUsage.clientAuth, [uri], crypto);
}

/** Subject DN of a client: for humans reading `openssl x509`; the controller reads only the URI SAN. */
export function clientSubject(p: PrincipalName): x509.JsonName {
  return [{ O: ['esfc'] }, { OU: [p.kind] }, { CN: [p.name] }];
}
