/**
 * `esfc audit verify FILE|URL` and `esfc audit history`: anyone holding a
 * copy of the orchestration log (an operator's export, or the controller's
 * live log over mutual TLS) re-checks it without trusting the controller:
 * every block hash and link, transaction root, proposer and transaction
 * signature, and that every response answers an earlier request once per
 * domain. The first bad block is named.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { keysRegisteredBy } from './orchestration-log.js';
import { verifyLog } from './ledger/index.js';
import { verifyCometCommit } from './replicated/commit.js';
import { controllerEndpoint, readBundle } from './pki/index.js';
import { LEDGER_PREFIX } from './restconf/ledger-api.js';

export const AUDIT_USAGE = `usage:
  esfc audit verify FILE|URL [--cert BUNDLE]
      re-check an exported log (FILE), or the controller's (URL https://HOST:PORT, an operator's --cert or ESFC_CERT);
      exit 0 when every block checks, 1 naming the first bad block
  esfc audit history [--controller URL] [--cert BUNDLE] [--chain C] [--tenant T] [--from TIME] [--to TIME] [--limit N] [--json]
      requests and responses, oldest first (a tenant sees its own); TIME is ISO 8601 or ms since the epoch
`;

class AuditCliError extends Error {}

async function fetchLedger(origin: string, cert: string | undefined, path: string): Promise<{ status: number; body: Buffer }> {
  const c = cert ?? process.env['ESFC_CERT'];
  if (!c) throw new AuditCliError(`reading ${origin} needs a client certificate: --cert BUNDLE (or ESFC_CERT)`);
  const ep = controllerEndpoint(origin, readBundle(c));
  const r = await request(`${ep.origin}${LEDGER_PREFIX}${path}`, { method: 'GET', dispatcher: ep.dispatcher });
  return { status: r.statusCode, body: Buffer.from(await r.body.arrayBuffer()) };
}

export async function auditCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      controller: { type: 'string' }, cert: { type: 'string' }, chain: { type: 'string' }, tenant: { type: 'string' },
      from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const [sub, target] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(AUDIT_USAGE);
    return values.help ? 0 : 2;
  }
  try {
    if (sub === 'verify') {
      if (!target) throw new AuditCliError('verify what? give an exported log FILE or the controller URL');
      let bytes: Buffer;
      if (/^(https:|unix:)/.test(target)) {
        const r = await fetchLedger(target, values.cert, '/export');
        if (r.status !== 200) throw new AuditCliError(`${target}: ${r.status} ${r.body.toString('utf8').slice(0, 400)}`);
        bytes = r.body;
      } else {
        bytes = readFileSync(target);
      }
      const v = verifyLog(bytes, { keysRegisteredBy, verifyCommit: verifyCometCommit });
      if (!v.ok) {
        process.stdout.write(`${values.json ? JSON.stringify(v) : `FAILED at block ${v.height}: ${v.reason}: ${v.detail}`}\n`);
        return 1;
      }
      process.stdout.write(values.json
        ? `${JSON.stringify({ ok: true, chainId: v.genesis.chainId, blocks: v.blocks, transactions: v.transactions, requests: v.requests, responses: v.responses, headHash: v.headHash })}\n`
        : `ok: ${v.blocks} blocks, ${v.transactions} transactions (${v.requests} requests, ${v.responses} responses), chain ${v.genesis.chainId}, head ${v.headHash}\n`);
      return 0;
    }
    if (sub === 'history') {
      const origin = values.controller ?? process.env['ESFC_CONTROLLER'];
      if (!origin) throw new AuditCliError('history from which controller? --controller URL (or ESFC_CONTROLLER)');
      const q = new URLSearchParams();
      for (const k of ['chain', 'tenant', 'from', 'to', 'limit'] as const) if (values[k] !== undefined) q.set(k, values[k]);
      const r = await fetchLedger(origin, values.cert, `/history${q.size ? `?${q}` : ''}`);
      if (r.status !== 200) throw new AuditCliError(`${origin}: ${r.status} ${r.body.toString('utf8').slice(0, 400)}`);
      if (values.json) {
        process.stdout.write(`${r.body.toString('utf8')}\n`);
        return 0;
      }
      const rows = (JSON.parse(r.body.toString('utf8')) as { 'esfc-ledger:history': { height: number; blockTime: string; tenant?: string; transaction: { id: string; type: string; method?: string; path?: string; outcome?: string; requestId?: string } }[] })['esfc-ledger:history'];
      for (const h of rows) {
        const t = h.transaction;
        const what = t.type === 'request' ? `${t.method} ${t.path}` : `${t.outcome} for ${t.requestId?.slice(0, 16)}`;
        process.stdout.write(`${h.blockTime}  #${String(h.height).padEnd(6)} ${t.type.padEnd(8)} ${t.id.slice(0, 16)}  ${(h.tenant ?? '-').padEnd(12)} ${what}\n`);
      }
      return 0;
    }
    throw new AuditCliError(`unknown audit command ${sub}\n${AUDIT_USAGE}`);
  } catch (e) {
    if (e instanceof AuditCliError) {
      process.stderr.write(`esfc audit: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
