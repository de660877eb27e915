/**
 * The `esfc-intent:rekey` operation: a key change now for the EF pairs of a
 * chain, a flow, or all of them. Operators may ask for any; a tenant only for
 * its own chains and flows. Naming another tenant's is refused by the
 * orchestration log (not-authorised) from the scope below, before anything
 * runs; with nothing named, a tenant's invocation reaches its own flows only.
 */
import type { Controller } from '../controller.js';
import { intentFromDoc } from '../intent/from-doc.js';
import type { IntentFlow } from '../intent/types.js';
import type { OperationHandler } from '../restconf/operations.js';
import type { Auc } from './auc.js';

export const REKEY_OPERATION = 'esfc-intent:rekey';

interface Selector { chain: string | undefined; flow: string | undefined }

const selectorOf = (input: Record<string, unknown>): Selector => ({
  chain: typeof input.chain === 'string' ? input.chain : undefined,
  flow: typeof input.flow === 'string' ? input.flow : undefined,
});

function selected(doc: Readonly<Record<string, unknown>>, s: Selector): IntentFlow[] {
  return intentFromDoc(doc).flows.filter((f) => (s.chain === undefined || f.chain === s.chain) && (s.flow === undefined || f.name === s.flow));
}

export function rekeyOperation(controller: Controller, auc: Auc): OperationHandler {
  return {
    scope(input, doc) {
      const s = selectorOf(input);
      const flows = selected(doc, s);
      // Nothing named: the invoker's own flows at run time, so no other tenant's.
      const named = s.chain !== undefined || s.flow !== undefined;
      const tenants = new Set(named ? flows.map((f) => f.tenant) : []);
      if (s.chain !== undefined) for (const c of intentFromDoc(doc).chains) if (c.name === s.chain) tenants.add(c.tenant);
      return { tenants: [...tenants], flows: flows.map((f) => f.name) };
    },
    invoke(p, input) {
      // Agents never get here: the operations API refuses them before any handler.
      const names = new Set(selected(controller.datastore.doc, selectorOf(input)).filter((f) => p.kind !== 'tenant' || f.tenant === p.name).map((f) => f.name));
      const espis = auc.rekeyNow((pair) => names.has(pair.flow)).sort((a, b) => a - b);
      return Promise.resolve({ pairs: espis.length, 'e-spi': espis });
    },
  };
}
