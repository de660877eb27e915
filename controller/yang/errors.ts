/**
 * RESTCONF errors (RFC 8040 section 7) as the YANG layer reports them, and
 * their reply body (the ietf-restconf "errors" container in JSON) and HTTP
 * status. The YANG layer never throws for bad input: it returns every
 * problem it found, each with its tag, its location and a message that
 * says what was expected.
 */
import { instanceIdentifier, resourcePath, type DataPath } from './data-path.js';

/**
 * The tags this layer uses (RFC 6241 Appendix A, RFC 7950 section 15):
 * - malformed-message: not JSON, or JSON of the wrong shape (an array where
 *   a container belongs, a body without the target's member, ...);
 * - unknown-element: a member or path step the schema does not have;
 * - missing-element: a mandatory leaf or a list key is absent;
 * - invalid-value: a value that breaks its type (kind, range, length,
 *   pattern, enum), or a key that contradicts the request URI;
 * - bad-element: a node the schema has but that may not appear there
 *   (state in a configuration body, a second entry with the same key);
 * - operation-failed: too few/too many elements (app-tag too-few-elements /
 *   too-many-elements, RFC 7950 15.2/15.3);
 * - data-missing: a leafref to nothing (app-tag instance-required, 15.5).
 */
export type ErrorTag =
  | 'malformed-message'
  | 'unknown-element'
  | 'missing-element'
  | 'invalid-value'
  | 'bad-element'
  | 'operation-failed'
  | 'data-missing';

/**
 * rpc for malformed-message (the only type RFC 6241 allows it), protocol
 * for problems in the request URI, application for problems in the data.
 */
export type ErrorType = 'transport' | 'rpc' | 'protocol' | 'application';

export interface RestconfError {
  readonly type: ErrorType;
  readonly tag: ErrorTag;
  readonly appTag?: string;
  /** error-path: an instance-identifier (RFC 8040 7.1, RFC 7951 6.11), e.g. /esfc-intent:chains/chain[name='web']/tenant. */
  readonly path?: string;
  /** The same location as a RESTCONF resource path (RFC 8040 3.5.3), e.g. /esfc-intent:chains/chain=web/tenant: for logs. */
  readonly resource?: string;
  readonly message: string;
}

export function restconfError(tag: ErrorTag, type: ErrorType, message: string, at?: DataPath, appTag?: string): RestconfError {
  const e: { -readonly [K in keyof RestconfError]: RestconfError[K] } = { type, tag, message };
  if (appTag !== undefined) e.appTag = appTag;
  if (at !== undefined && at.length > 0) {
    e.path = instanceIdentifier(at);
    e.resource = resourcePath(at);
  }
  return e;
}

/** The JSON body of an error reply (RFC 8040 7.1). */
export interface ErrorsDocument {
  'ietf-restconf:errors': {
    error: {
      'error-type': ErrorType;
      'error-tag': ErrorTag;
      'error-app-tag'?: string;
      'error-path'?: string;
      'error-message': string;
    }[];
  };
}

export function errorsDocument(errors: readonly RestconfError[]): ErrorsDocument {
  return {
    'ietf-restconf:errors': {
      error: errors.map((e) => ({
        'error-type': e.type,
        'error-tag': e.tag,
        ...(e.appTag !== undefined ? { 'error-app-tag': e.appTag } : {}),
        ...(e.path !== undefined ? { 'error-path': e.path } : {}),
        'error-message': e.message,
      })),
    },
  };
}

/**
 * The HTTP status for a set of errors: RFC 8040 7's table for the first one.
 * operation-failed maps to 412/500 there, which fit neither a body with
 * too few elements nor this layer: its min/max-elements refusals are 400.
 */
export function httpStatus(errors: readonly RestconfError[]): number {
  const first = errors[0];
  if (!first) return 200;
  switch (first.tag) {
    case 'data-missing': return 409;
    case 'operation-failed': return first.appTag === 'too-few-elements' || first.appTag === 'too-many-elements' ? 400 : 500;
    default: return 400;
  }
}
