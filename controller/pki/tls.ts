/**
 * TLS settings for both ends, mutually authenticated, TLS 1.3 only.
 *
 * Server (node:https createServer): the client must present a certificate
 * that chains to our CA and is valid now, or the handshake fails; OpenSSL
 * also checks its extendedKeyUsage allows clientAuth. Nothing reaches a
 * request handler without one; the handler then reads the principal
 * (principal.ts) and checks revocation (revocation.ts).
 *
 * Client (undici): trusts only our CA (not the system store, so a public CA
 * cannot vouch for a fake controller) and presents the bundle's certificate.
 */
import type { ServerOptions } from 'node:https';
import { Agent } from 'undici';
import type { CredentialParts } from './credential.js';
import { toTrustAnchor, type TrustInput } from './trust.js';

/** Options for https.createServer: our certificate, our CA as the only one clients may come from. */
export function serverTlsOptions(ca: TrustInput, server: Pick<CredentialParts, 'key' | 'cert'>): ServerOptions {
  return {
    key: server.key,
    cert: server.cert,
    ca: [toTrustAnchor(ca).pem],
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
  };
}

export interface ClientDispatcherOptions {
  /** CA certificate (PEM) to trust for the server; default the bundle's own CA. */
  ca?: string;
  /** Name to check the server certificate against, when it differs from the host in the URL. */
  servername?: string;
  /** Milliseconds for TCP connect + TLS handshake (undici's default is 10 s). */
  connectTimeout?: number;
}

/** An undici dispatcher presenting bundle's certificate; pass it as `dispatcher` to request()/fetch(). */
export function clientDispatcher(bundle: CredentialParts, opts: ClientDispatcherOptions = {}): Agent {
  return new Agent({
    connect: {
      key: bundle.key,
      cert: bundle.cert,
      ca: [opts.ca ?? bundle.ca],
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      // undici derives SNI from the URL's host (none for IP addresses); set it only when asked.
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      ...(opts.connectTimeout !== undefined ? { timeout: opts.connectTimeout } : {}),
    },
  });
}
