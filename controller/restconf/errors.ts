/**
 * RFC 8040 errors: every refusal is an `ietf-restconf:errors` body with the
 * error-type, error-tag and status of RFC 8040 section 7, a path when there is
 * one, and a message that says what is wrong and what to do.
 */

/** error-tag -> HTTP status (RFC 8040 section 7). */
export const ERROR_STATUS = {
  'in-use': 409,
  'invalid-value': 400,
  'too-big': 413,
  'missing-attribute': 400,
  'bad-attribute': 400,
  'unknown-attribute': 400,
  'bad-element': 400,
  'unknown-element': 400,
  'unknown-namespace': 400,
  'access-denied': 403,
  'lock-denied': 409,
  'resource-denied': 409,
  'rollback-failed': 500,
  'data-exists': 409,
  'data-missing': 409,
  'operation-not-supported': 405,
  'operation-failed': 500,
  'partial-operation': 500,
  'malformed-message': 400,
} as const;

export type ErrorTag = keyof typeof ERROR_STATUS;
export type ErrorType = 'transport' | 'rpc' | 'protocol' | 'application';

export interface RestconfErrorItem {
  type: ErrorType;
  tag: ErrorTag;
  message: string;
  /** An instance identifier (RFC 7951 section 6.11), e.g. /esfc-intent:chains/chain=web. */
  path?: string;
}

export class RestconfError extends Error {
  readonly code = 'ESFC_RESTCONF';
  readonly status: number;
  constructor(readonly errors: RestconfErrorItem[], status?: number) {
    super(errors.map((e) => `${e.tag}${e.path ? ` at ${e.path}` : ''}: ${e.message}`).join('; '));
    this.status = status ?? ERROR_STATUS[errors[0]?.tag ?? 'operation-failed'];
  }

  static of(tag: ErrorTag, message: string, path?: string, type: ErrorType = 'protocol', status?: number): RestconfError {
    return new RestconfError([{ type, tag, message, ...(path ? { path } : {}) }], status);
  }

  body(): string {
    return JSON.stringify({
      'ietf-restconf:errors': {
        error: this.errors.map((e) => ({
          'error-type': e.type, 'error-tag': e.tag,
          ...(e.path ? { 'error-path': e.path } : {}),
          'error-message': e.message,
        })),
      },
    });
  }
}
