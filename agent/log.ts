/** Structured logs: one JSON event per line on stdout, for journald and jq. */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: Level, event: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function jsonLogger(base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return {
    log(level, event, fields = {}) {
      write(JSON.stringify({ ts: new Date().toISOString(), level, event, ...base, ...fields }, bigintSafe) + '\n');
    },
    child(fields) {
      return jsonLogger({ ...base, ...fields }, write);
    },
  };
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
