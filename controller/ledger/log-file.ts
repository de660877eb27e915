/**
 * The log file format, shared by the embedded store (its file on disk) and
 * the export that `audit verify` reads (the same bytes): a magic, the
 * canonical genesis JSON, then every stored block from block 0 as a u32
 * length-prefixed record. One format for both means an export is a copy
 * and the audit reads exactly what the store wrote.
 */
import { LedgerDecodeError, Reader, Writer } from './codec.js';

/** "ESFCLOG" and a format version byte. */
export const LOG_MAGIC: Buffer = Buffer.from('ESFCLOG\x01', 'latin1');

export function encodeLogHeader(genesisJson: string): Buffer {
  const n = Buffer.byteLength(genesisJson, 'utf8');
  return new Writer(LOG_MAGIC.length + 4 + n).bytes(LOG_MAGIC).string32(genesisJson, 'log.genesis').finish();
}

export interface LogHeader {
  genesisText: string;
  /** Offset of the first record (block 0). */
  end: number;
}

export function readLogHeader(buf: Buffer): LogHeader {
  const r = new Reader(buf);
  const magic = r.bytes(LOG_MAGIC.length, 'log.magic');
  if (!magic.equals(LOG_MAGIC)) throw new LedgerDecodeError('log.magic', 0, 'not an esfc orchestration log (bad magic or format version)');
  const genesisText = r.string32('log.genesis');
  return { genesisText, end: r.offset };
}

export function recordPrefix(length: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(length, 0);
  return b;
}

export type NextRecord =
  | { kind: 'record'; block: Buffer; next: number }
  | { kind: 'end' }
  /** The bytes left cannot hold the record they start: a torn append. */
  | { kind: 'torn'; need: number; have: number };

/** The record at `offset` (a view). */
export function nextRecord(buf: Buffer, offset: number): NextRecord {
  const have = buf.length - offset;
  if (have === 0) return { kind: 'end' };
  if (have < 4) return { kind: 'torn', need: 4, have };
  const n = buf.readUInt32BE(offset);
  if (n > have - 4) return { kind: 'torn', need: n + 4, have };
  return { kind: 'record', block: buf.subarray(offset + 4, offset + 4 + n), next: offset + 4 + n };
}
