/** Errors of the kernel layer: a stable code, the errno, what was tried, what to do. */
export type BpfErrorCode = 'ESFC_BPF_LOAD' | 'ESFC_BPF_ATTACH' | 'ESFC_BPF_MAP' | 'ESFC_BPF_PIN' | 'ESFC_BPF_TEST_RUN';

export class BpfError extends Error {
  constructor(
    readonly code: BpfErrorCode,
    readonly operation: string,
    readonly errno: number,
    message: string,
    readonly hint?: string,
    /** The verifier's log when a program was rejected. */
    readonly verifierLog?: string,
  ) {
    super(`${operation}: ${message}${hint ? ` (${hint})` : ''}${verifierLog ? `\n--- verifier log ---\n${verifierLog}` : ''}`);
  }

  /** EAGAIN/EBUSY/EINTR may pass on a retry; the rest will not. */
  get retryable(): boolean {
    return [4, 11, 16].includes(this.errno);
  }
}
