/**
 * esfc-state:keys-state: the Authentication Centre's view of every deployed
 * EF pair's keys, built from KeyStore.info() and the AuC. info() reads no
 * sealed column, so no key material can reach this document.
 */
import type { Controller } from '../controller.js';
import type { EfPair } from '../intent/compile.js';
import type { KeyTiming } from '../keys/pair-timing.js';
import type { YangObject } from '../yang/index.js';

/** What only the AuC knows about a pair (controller/keys/auc.ts Auc has it). */
export interface KeyChanges {
  isChanging(espi: number): boolean;
  timing(p: EfPair): KeyTiming;
}

export function keysState(c: Controller, auc: KeyChanges): YangObject {
  const pairs = [...c.deployedPairs()].sort((a, b) => a.espi - b.espi).map((p): YangObject => ({
    'e-spi': p.espi,
    flow: p.flow,
    direction: p.direction,
    'encrypting-end': { node: p.enc.node, 'encryption-function': p.enc.ef },
    'decrypting-end': { node: p.dec.node, 'encryption-function': p.dec.ef },
    'rekey-interval': auc.timing(p).rekeyIntervalS,
    stage: c.keys.stage(p.espi),
    changing: auc.isChanging(p.espi),
    generation: c.keys.info(p.espi).map((g): YangObject => ({
      spi: g.spi,
      epoch: g.epoch,
      ...(g.created ? { created: g.created } : {}),
      ...(g.notAfter ? { 'not-after': g.notAfter } : {}),
      'at-decrypting-end': g.atDecrypt,
      'at-encrypting-end': g.atEncrypt,
    })),
  }));
  return { 'esfc-state:keys-state': { pair: pairs } };
}
