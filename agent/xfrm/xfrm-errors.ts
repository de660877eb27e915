/** Failures of XFRM requests, with the kernel's errno and extended-ack text. */
import { constants } from 'node:os';

const names = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export const errnoName = (e: number): string => names.get(e) ?? `errno ${e}`;

export class XfrmError extends Error {
  readonly code = 'ESFC_XFRM';
  readonly errnoName: string;
  constructor(readonly op: string, readonly errno: number, readonly kernelMessage?: string) {
    const name = errnoName(errno);
    super(`XFRM ${op}: ${name}${kernelMessage ? `: ${kernelMessage}` : ''}`);
    this.errnoName = name;
  }
}
