/**
 * The instruction log: every accepted write, in order, with who made it.
 * Behind one function type so that the signed, replicated log (BSec-NFVO, a
 * later issue) can take its place: it is called inside the same transaction
 * that applies the write, so the log and the datastore never disagree.
 * Instructions carry intent only; intent holds no key material.
 */
import type { Db } from './db.js';

export interface Instruction {
  at: string;
  /** kind:name of the client certificate's principal. */
  principal: string;
  method: string;
  path: string;
  /** The request body as received (RFC 7951 JSON), or undefined for DELETE. */
  body?: string;
  /** Datastore revision this instruction produced. */
  revision: number;
}

export type InstructionLog = (db: Db, instr: Instruction) => void;

export const appendInstruction: InstructionLog = (db, i) => {
  db.prepare('INSERT INTO instructions (at, principal, method, path, body, revision) VALUES (?, ?, ?, ?, ?, ?)')
    .run(i.at, i.principal, i.method, i.path, i.body ?? null, i.revision);
};

export function listInstructions(db: Db, since = 0, limit = 1000): (Instruction & { seq: number })[] {
  return db.prepare('SELECT seq, at, principal, method, path, body, revision FROM instructions WHERE seq > ? ORDER BY seq LIMIT ?').all(since, limit) as (Instruction & { seq: number })[];
}
