/**
 * The `esfc-intent:rekey` operation: a key change now for the EF pairs of a
 * chain, a flow, or all of them. Operators may ask for any; a tenant only for
 * its own chains and flows (RFC 8341 access-denied otherwise).
 */
import type { Controller } from '../controller.js';
import { intentFromDoc } from '../intent/from-doc.js';
import { RestconfFailure } from '../restconf/errors.js';
import type { OperationHandler } from '../restconf/operations.js';
import type { Auc } from './auc.js';

export const REKEY_OPERATION = 'esfc-intent:rekey';

export function rekeyOperation(controller: Controller, auc: Auc): OperationHandler {
  // Agents never get here: the operations API refuses them before any handler.
  return (p, input) => {
    const chain = typeof input.chain === 'string' ? input.chain : undefined;
    const flow = typeof input.flow === 'string' ? input.flow : undefined;
    const flows = intentFromDoc(controller.datastore.doc).flows
      .filter((f) => (chain === undefined || f.chain === chain) && (flow === undefined || f.name === flow));
    if (p.kind === 'tenant') {
      const foreign = flows.find((f) => f.tenant !== p.name && (chain !== undefined || flow !== undefined));
      if (foreign) throw RestconfFailure.of('access-denied', `tenant ${p.name} may not change the keys of ${flow !== undefined ? `flow ${flow}` : `chain ${chain!}`} (another tenant's)`, { type: 'application', status: 403 });
    }
    const names = new Set(flows.filter((f) => p.kind !== 'tenant' || f.tenant === p.name).map((f) => f.name));
    const espis = auc.rekeyNow((pair) => names.has(pair.flow)).sort((a, b) => a - b);
    return Promise.resolve({ pairs: espis.length, 'e-spi': espis });
  };
}
