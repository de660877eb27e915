/**
 * EF pair keys (the Authentication Centre's store): generated from a CSPRNG,
 * stored sealed, handed out only into the desired state sent to the two
 * agents of the pair.
 *
 * A pair has one or more key generations; each says whether the decrypting
 * end and the encrypting end carry it. A key change moves through those flags
 * in the RFC 9061 order (controller/keys/auc.ts drives it):
 *
 *   begin    new generation at the decrypting end only (a new inbound SA)
 *   switch   ... and at the encrypting end, which sends with its newest
 *   retire   older generations gone at both ends
 *
 * so the stage of a pair is read from its rows and survives a restart.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { EncryptedHopConfig, HopKeyConfig, NodeConfig } from '../../agent/config/types.js';
import type { Db } from '../store/db.js';
import type { Kek } from './kek.js';

/** AES-256 key + 4-byte salt (rfc4106). */
const KEY_BYTES = 36;
/** MD type 3 carries a 16-bit epoch; 0 is never used. */
const EPOCH_MAX = 0xffff;

interface Row { rowid: number; espi: number; esp_spi: number; epoch: number; not_after: string | null; created: string | null; at_dec: number; at_enc: number; sealed: Buffer }

/** Where a pair is in a key change. */
export type RekeyStage = 'steady' | 'inbound-added' | 'outbound-switched';

/** What may be said about a pair's keys anywhere (status, logs): never the key. */
export interface KeyGenerationInfo {
  spi: number;
  epoch: number;
  notAfter?: string;
  created?: string;
  atDecrypt: boolean;
  atEncrypt: boolean;
}

export interface KeyPolicy {
  /**
   * How long a generation may be used: its SAs' hard lifetime. A pair whose
   * chain has its own rekey-interval gets twice that instead (the AuC passes it).
   */
  lifetimeS: number;
}

export class KeyStore {
  constructor(private readonly db: Db, private readonly kek: Kek, private readonly policy: KeyPolicy = { lifetimeS: 7200 }) {}

  /** The hard lifetime a new generation gets unless its pair has its own (a chain's rekey-interval). */
  get lifetimeS(): number {
    return this.policy.lifetimeS;
  }

  private aad(espi: number, epoch: number): string {
    return `esfc-ef-key espi=${espi} epoch=${epoch}`;
  }

  /** Generations of a pair, oldest first. */
  private rows(espi: number): Row[] {
    return this.db.prepare('SELECT rowid, * FROM ef_keys WHERE espi = ? ORDER BY rowid').all(espi) as Row[];
  }

  /** A pair about to be published gets its first generation, at both ends (no-op when it has keys). */
  ensure(espi: number, lifetimeS = this.policy.lifetimeS): void {
    if (!this.rows(espi).length) this.add(espi, { atDecrypt: true, atEncrypt: true }, Date.now(), lifetimeS);
  }

  /** Key generations one end of a pair carries, oldest first (an encrypting end sends with the last). */
  keysFor(espi: number, role: EncryptedHopConfig['role']): HopKeyConfig[] {
    return this.rows(espi).filter((r) => (role === 'decrypt' ? r.at_dec : r.at_enc)).map((r) => ({
      spi: r.esp_spi, epoch: r.epoch,
      key: this.kek.unseal(r.sealed, this.aad(espi, r.epoch)).toString('hex'),
      ...(r.not_after ? { notAfter: r.not_after } : {}),
    }));
  }

  /** The pair's generations without key material. */
  info(espi: number): KeyGenerationInfo[] {
    return this.rows(espi).map((r) => ({
      spi: r.esp_spi, epoch: r.epoch, atDecrypt: !!r.at_dec, atEncrypt: !!r.at_enc,
      ...(r.not_after ? { notAfter: r.not_after } : {}), ...(r.created ? { created: r.created } : {}),
    }));
  }

  stage(espi: number): RekeyStage {
    const rows = this.rows(espi);
    if (rows.some((r) => !r.at_enc)) return 'inbound-added';
    return rows.length > 1 ? 'outbound-switched' : 'steady';
  }

  /** A new generation from the CSPRNG, with an ESP SPI no other stored key has and the next epoch. */
  private add(espi: number, at: { atDecrypt: boolean; atEncrypt: boolean }, now: number, lifetimeS: number): KeyGenerationInfo {
    const taken = this.db.prepare('SELECT 1 FROM ef_keys WHERE esp_spi = ?');
    let spi: number;
    do spi = randomInt(0x1000, 0xffffffff); while (taken.get(spi));
    const rows = this.rows(espi);
    const last = rows[rows.length - 1]?.epoch ?? 0;
    const epoch = last >= EPOCH_MAX ? 1 : last + 1;
    const key = randomBytes(KEY_BYTES);
    const created = new Date(now).toISOString();
    const notAfter = new Date(now + lifetimeS * 1000).toISOString();
    this.db.prepare('INSERT INTO ef_keys (espi, esp_spi, epoch, not_after, created, at_dec, at_enc, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(espi, spi, epoch, notAfter, created, at.atDecrypt ? 1 : 0, at.atEncrypt ? 1 : 0, this.kek.seal(key, this.aad(espi, epoch)));
    key.fill(0);
    return { spi, epoch, notAfter, created, atDecrypt: at.atDecrypt, atEncrypt: at.atEncrypt };
  }

  /** Step 1: a new generation at the decrypting end only (`lifetimeS`: the pair's own, see KeyPolicy). */
  begin(espi: number, now = Date.now(), lifetimeS = this.policy.lifetimeS): KeyGenerationInfo {
    if (!this.rows(espi).length) throw new Error(`pair ${espi} has no key to change yet (it gets its first when it is published)`);
    if (this.stage(espi) !== 'steady') throw new Error(`pair ${espi} is already changing keys (${this.stage(espi)})`);
    return this.add(espi, { atDecrypt: true, atEncrypt: false }, now, lifetimeS);
  }

  /** Step 2: the encrypting end gets the new generation and sends with it. */
  switchOutbound(espi: number): void {
    this.db.prepare('UPDATE ef_keys SET at_enc = 1 WHERE rowid = (SELECT MAX(rowid) FROM ef_keys WHERE espi = ?)').run(espi);
  }

  /** Step 3: every older generation goes, at both ends. */
  retireOld(espi: number): void {
    this.db.prepare('DELETE FROM ef_keys WHERE espi = ? AND rowid < (SELECT MAX(rowid) FROM ef_keys WHERE espi = ?)').run(espi, espi);
  }

  /** Pairs that no longer exist lose their keys. */
  retain(espis: ReadonlySet<number>): void {
    const all = this.db.prepare('SELECT DISTINCT espi FROM ef_keys').all() as { espi: number }[];
    const del = this.db.prepare('DELETE FROM ef_keys WHERE espi = ?');
    for (const { espi } of all) if (!espis.has(espi)) del.run(espi);
  }

  /** A node's desired state with its pairs' keys, each end what it carries: what goes to its agent, and nowhere else. */
  withKeys(cfg: NodeConfig): NodeConfig {
    return { ...cfg, encryptedHops: cfg.encryptedHops.map((h) => ({ ...h, keys: this.keysFor(h.espi, h.role) })) };
  }
}
