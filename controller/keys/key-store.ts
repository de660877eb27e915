/**
 * EF pair keys: generated from a CSPRNG, one generation per E-SPI to start
 * with, stored sealed, handed out only into the desired state sent to the two
 * agents of the pair. The Authentication Centre's rekeying builds on this.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { HopKeyConfig, NodeConfig } from '../../agent/config/types.js';
import type { Db } from '../store/db.js';
import type { Kek } from './kek.js';

/** AES-256 key + 4-byte salt (rfc4106). */
const KEY_BYTES = 36;

interface Row { espi: number; esp_spi: number; epoch: number; not_after: string | null; sealed: Buffer }

export class KeyStore {
  constructor(private readonly db: Db, private readonly kek: Kek) {}

  private aad(espi: number, epoch: number): string {
    return `esfc-ef-key espi=${espi} epoch=${epoch}`;
  }

  /** Key generations of a pair, oldest first; a pair without keys gets its first now. */
  keysFor(espi: number): HopKeyConfig[] {
    let rows = this.db.prepare('SELECT * FROM ef_keys WHERE espi = ? ORDER BY epoch').all(espi) as Row[];
    if (!rows.length) {
      this.add(espi, 1);
      rows = this.db.prepare('SELECT * FROM ef_keys WHERE espi = ? ORDER BY epoch').all(espi) as Row[];
    }
    return rows.map((r) => ({
      spi: r.esp_spi, epoch: r.epoch,
      key: this.kek.unseal(r.sealed, this.aad(espi, r.epoch)).toString('hex'),
      ...(r.not_after ? { notAfter: r.not_after } : {}),
    }));
  }

  /** A new generation from the CSPRNG, with an ESP SPI no other stored key has. */
  add(espi: number, epoch: number, notAfter?: string): void {
    const taken = this.db.prepare('SELECT 1 FROM ef_keys WHERE esp_spi = ?');
    let spi: number;
    do spi = randomInt(0x1000, 0xffffffff); while (taken.get(spi));
    const key = randomBytes(KEY_BYTES);
    this.db.prepare('INSERT INTO ef_keys (espi, esp_spi, epoch, not_after, sealed) VALUES (?, ?, ?, ?, ?)')
      .run(espi, spi, epoch, notAfter ?? null, this.kek.seal(key, this.aad(espi, epoch)));
    key.fill(0);
  }

  /** Pairs that no longer exist lose their keys. */
  retain(espis: ReadonlySet<number>): void {
    const all = this.db.prepare('SELECT DISTINCT espi FROM ef_keys').all() as { espi: number }[];
    const del = this.db.prepare('DELETE FROM ef_keys WHERE espi = ?');
    for (const { espi } of all) if (!espis.has(espi)) del.run(espi);
  }

  /** A node's desired state with its pairs' keys: what goes to its agent, and nowhere else. */
  withKeys(cfg: NodeConfig): NodeConfig {
    return { ...cfg, encryptedHops: cfg.encryptedHops.map((h) => ({ ...h, keys: this.keysFor(h.espi) })) };
  }
}
