/**
 * The client's half of a signed write: the request for exactly the method,
 * path and body about to be sent, signed with the tenant's or operator's own
 * key (which never leaves the client), as the header the controller wants.
 * Writes are data writes and operation invocations (POST
 * /restconf/operations/module:rpc): both are orchestration operations.
 */
import { DATA_PREFIX, SIGNED_REQUEST_HEADER } from './orchestration-log.js';
import { OPERATIONS_ROOT } from './restconf/operations.js';
import { newRequest, signTransaction, type KeyRole, type Method, type RegisteredKey, type Signer } from './ledger/index.js';

export interface SignedHeader {
  headers: Record<string, string>;
  /** The request's transaction id (hex): the reply names it in esfc-transaction-id. */
  id: string;
}

export function signedWrite(signer: Signer, method: Method, path: string, body: string | undefined): SignedHeader {
  const tx = signTransaction(newRequest(signer, { method, path, body: body ?? '' }), signer);
  return { headers: { [SIGNED_REQUEST_HEADER]: tx.bytes.toString('base64') }, id: tx.id.toString('hex') };
}

const WRITE_METHODS: readonly string[] = ['POST', 'PUT', 'PATCH', 'DELETE'];

/** A RESTCONF data write or operation invocation (what must be signed); a path may carry a query. */
export function isSignedWrite(method: string, path: string): method is Method {
  const p = path.split('?')[0]!;
  if (method === 'POST' && p.startsWith(`${OPERATIONS_ROOT}/`)) return true;
  return WRITE_METHODS.includes(method) && (p === DATA_PREFIX || p.startsWith(`${DATA_PREFIX}/`));
}

/** The headers a write needs (none for a read): signs the path without its query, as the server compares it. */
export function signIfWrite(signer: Signer | undefined, method: string, path: string, body: string | undefined): Record<string, string> {
  if (!isSignedWrite(method, path)) return {};
  if (!signer) throw new Error(`${method} ${path} is a write: it must be signed with your key (esfc ctl --sign-key FILE or ESFC_SIGN_KEY)`);
  return signedWrite(signer, method, path.split('?')[0]!, body).headers;
}

/** An operator's registration of a public key (esfc-intent:signing-keys): the PUT's path and body. */
export function keyRegistration(k: Pick<RegisteredKey, 'keyId' | 'alg' | 'publicKey'> & { role: KeyRole; name: string; domain?: string | undefined }): { path: string; body: Record<string, unknown> } {
  return {
    path: `${DATA_PREFIX}/esfc-intent:signing-keys/key=${k.keyId}`,
    body: {
      'esfc-intent:key': [{
        'key-id': k.keyId, algorithm: k.alg, role: k.role, name: k.name, 'public-key': k.publicKey,
        ...(k.domain !== undefined ? { domain: k.domain } : {}),
      }],
    },
  };
}
