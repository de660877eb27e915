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
  /** Connect to this Unix socket instead of the URL's host and port (TLS runs over it all the same). */
  socketPath?: string;
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
      ...(opts.socketPath !== undefined ? { socketPath: opts.socketPath } : {}),
    },
  });
}

/**
 * Where a client reaches the controller: `https://HOST:PORT`, or
 * `unix:/path/to.sock` (the controller on this host, reachable from any
 * network namespace; the server certificate is checked for "localhost").
 */
export function controllerEndpoint(url: string, bundle: CredentialParts, opts: ClientDispatcherOptions = {}): { origin: string; dispatcher: Agent } {
  if (url.startsWith('unix:')) {
    return { origin: 'https://localhost', dispatcher: clientDispatcher(bundle, { ...opts, socketPath: url.slice('unix:'.length), servername: 'localhost' }) };
  }
  return { origin: url.replace(/\/$/, ''), dispatcher: clientDispatcher(bundle, opts) };
}
