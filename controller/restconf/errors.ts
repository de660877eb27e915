/**
 * RFC 8040 errors: every refusal is an `ietf-restconf:errors` body with the
 * error-type, error-tag and status of RFC 8040 section 7, a path when there is
 * one, and a message that says what is wrong and what to do. Errors from the
 * YANG codec (controller/yang) have the same shape and are thrown as they are.
 */
import type { RestconfError as YangError } from '../yang/index.js';

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
  'missing-element': 400,
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

export interface ErrorItem {
  type: ErrorType;
  tag: ErrorTag;
  appTag?: string;
  /** error-path: an instance identifier (RFC 7951 6.11). */
  path?: string;
  message: string;
}

/** A refusal: thrown by handlers, turned into a reply by the server. */
export class RestconfFailure extends Error {
  readonly code = 'ESFC_RESTCONF';
  /** Headers the reply carries besides the error body (the orchestration log's transaction ids). */
  headers: Record<string, string> = {};
  constructor(readonly errors: readonly ErrorItem[], readonly status: number = statusOf(errors)) {
    super(errors.map((e) => `${e.tag}${e.path ? ` at ${e.path}` : ''}: ${e.message}`).join('; '));
  }

  static of(tag: ErrorTag, message: string, opts: { path?: string; type?: ErrorType; status?: number; appTag?: string } = {}): RestconfFailure {
    return new RestconfFailure([{
      type: opts.type ?? 'protocol', tag, message,
      ...(opts.path ? { path: opts.path } : {}), ...(opts.appTag ? { appTag: opts.appTag } : {}),
    }], opts.status);
  }

  /** From the YANG codec's errors. */
  static fromYang(errors: readonly YangError[]): RestconfFailure {
    return new RestconfFailure(errors.map((e) => ({
      type: e.type, tag: e.tag, message: e.message,
      ...(e.path ? { path: e.path } : {}), ...(e.appTag ? { appTag: e.appTag } : {}),
    })));
  }

  /** From an RFC 8040 errors body (as body() writes it, parsed), or undefined when it is not one. */
  static fromBody(json: unknown): RestconfFailure | undefined {
    const holder = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['ietf-restconf:errors'] : undefined;
    const list = typeof holder === 'object' && holder !== null ? (holder as Record<string, unknown>)['error'] : undefined;
    if (!Array.isArray(list) || list.length === 0) return undefined;
    const items: ErrorItem[] = [];
    for (const e of list as Record<string, unknown>[]) {
      const tag = e['error-tag'];
      if (typeof tag !== 'string' || !(tag in ERROR_STATUS)) return undefined;
      const type = e['error-type'];
      items.push({
        type: type === 'transport' || type === 'rpc' || type === 'protocol' ? type : 'application', tag: tag as ErrorTag, message: String(e['error-message'] ?? ''),
        ...(typeof e['error-path'] === 'string' ? { path: e['error-path'] } : {}), ...(typeof e['error-app-tag'] === 'string' ? { appTag: e['error-app-tag'] } : {}),
      });
    }
    return new RestconfFailure(items);
  }

  body(): string {
    return JSON.stringify({
      'ietf-restconf:errors': {
        error: this.errors.map((e) => ({
          'error-type': e.type, 'error-tag': e.tag,
          ...(e.appTag ? { 'error-app-tag': e.appTag } : {}),
          ...(e.path ? { 'error-path': e.path } : {}),
          'error-message': e.message,
        })),
      },
    });
  }
}

function statusOf(errors: readonly ErrorItem[]): number {
  const first = errors[0];
  if (!first) return 500;
  // RFC 7950 15: too-few/too-many-elements are validation failures of the request body.
  if (first.tag === 'operation-failed' && (first.appTag === 'too-few-elements' || first.appTag === 'too-many-elements')) return 400;
  return ERROR_STATUS[first.tag];
}
