/** Structured logs: one JSON event per line on stdout, for journald and jq. */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
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

/** The last `bytes` of a file (a child process's log, for an error message), or '' when it is not there. */
export function fileTail(path: string, bytes = 2000): string {
  if (!existsSync(path)) return '';
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, b, 0, b.length, size - b.length);
    return b.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
