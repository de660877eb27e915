/**
 * Typed failures of the XFRM layer. XfrmError is what the kernel (or the
 * socket under it) refused; XfrmDecodeError is a reply the codec could not
 * trust; XfrmSpecError is a request the codec refused to build.
 */
import { constants } from 'node:os';
import koffi from 'koffi';

// The first name wins for aliases (EAGAIN before EWOULDBLOCK, ENOTSUP before EOPNOTSUPP).
const names = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!names.has(value)) names.set(value, name);

export const errnoName = (e: number): string => names.get(e) ?? `errno ${e}`;

// Loaded on first use so that the pure codec, which imports this module, does no FFI.
let strerrorFn: ((e: number) => string) | undefined;

/** glibc's own text ("Invalid argument"), as `ip` and strace print it. */
export function strerror(e: number): string {
  strerrorFn ??= koffi.load('libc.so.6').func('const char *strerror(int errnum)') as (e: number) => string;
  return strerrorFn(e);
}

export interface KernelDetail {
  /** NLMSGERR_ATTR_MSG: the kernel's extended-ack text. */
  message?: string;
  /** NLMSGERR_ATTR_OFFS: byte offset of the offending attribute in the request. */
  offset?: number;
  /** NLMSGERR_ATTR_MISS_TYPE: a required attribute that was missing. */
  missingAttr?: number;
}

/** What the kernel said beyond the errno, and what this side knows about the failure. */
export interface XfrmErrorDetail extends KernelDetail {
  /** Context from this side (never the kernel's words), e.g. "recv" or "socket closed". */
  note?: string;
}

export class XfrmError extends Error {
  readonly code = 'ESFC_XFRM';
  readonly errnoName: string;
  readonly description: string;
  readonly kernelMessage: string | undefined;
  readonly kernelOffset: number | undefined;
  readonly missingAttr: number | undefined;

  /** op names the request and its object, e.g. "add SA 10.0.0.1->10.0.0.2 spi 0x100". */
  constructor(readonly op: string, readonly errno: number, detail: XfrmErrorDetail = {}) {
    const name = errnoName(errno);
    const description = strerror(errno);
    const extra = [
      detail.message,
      detail.missingAttr !== undefined ? `missing attribute ${detail.missingAttr}` : undefined,
      detail.offset !== undefined ? `at byte ${detail.offset} of the request` : undefined,
      detail.note,
    ].filter((x) => x !== undefined && x !== '');
    super(`XFRM ${op}: ${name} (${description})${extra.length ? `: ${extra.join('; ')}` : ''}`);
    this.name = 'XfrmError';
    this.errnoName = name;
    this.description = description;
    this.kernelMessage = detail.message;
    this.kernelOffset = detail.offset;
    this.missingAttr = detail.missingAttr;
  }
}

export type DecodeFault = 'truncated' | 'malformed' | 'unsupported';

export class XfrmDecodeError extends Error {
  readonly code = 'ESFC_XFRM_DECODE';
  /**
   * truncated: a length (of the buffer, or one claimed inside it) runs past the end;
   * malformed: a value no kernel sends; unsupported: valid XFRM that esfc does not model (IPv6, AH, BEET...).
   */
  constructor(readonly fault: DecodeFault, readonly what: string, detail: string) {
    super(`${fault} ${what}: ${detail}`);
    this.name = 'XfrmDecodeError';
  }
}

export class XfrmSpecError extends Error {
  readonly code = 'ESFC_XFRM_SPEC';
  constructor(readonly field: string, readonly detail: string, readonly op?: string) {
    super(`invalid XFRM request${op ? ` (${op})` : ''}: ${field}: ${detail}`);
    this.name = 'XfrmSpecError';
  }

  /** The same refusal, naming the operation it stopped. */
  during(op: string): XfrmSpecError {
    return new XfrmSpecError(this.field, this.detail, op);
  }
}
