/**
 * The client's half of a signed write: the request for exactly the method,
 * path and body about to be sent, signed with the tenant's or operator's own
 * key (which never leaves the client), as the header the controller wants.
 */
import { SIGNED_REQUEST_HEADER } from './orchestration-log.js';
import { newRequest, signTransaction, type Method, type Signer } from './ledger/index.js';

export interface SignedHeader {
  headers: Record<string, string>;
  /** The request's transaction id (hex): the reply names it in esfc-transaction-id. */
  id: string;
}

export function signedWrite(signer: Signer, method: Method, path: string, body: string | undefined): SignedHeader {
  const tx = signTransaction(newRequest(signer, { method, path, body: body ?? '' }), signer);
  return { headers: { [SIGNED_REQUEST_HEADER]: tx.bytes.toString('base64') }, id: tx.id.toString('hex') };
}
