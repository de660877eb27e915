/**
 * One validator's ABCI application for the replicated rows of `esfc bench
 * ledger`: the committed LedgerApp (controller/replicated) over its own
 * ledger file, serving its CometBFT node on a unix socket, sealing blocks
 * with the commits read from that node's RPC. A process per validator, as
 * each operator would run it, so the validators' validation is spread over
 * the machine's cores rather than queued on one event loop.
 *
 * argv[2]: JSON ValidatorChildConfig. Prints "ready" once listening; exits
 * on SIGTERM or when its stdin closes (the bench died).
 */
import { readFileSync } from 'node:fs';
import { AbciServer, CometRpc } from '../controller/abci/index.js';
import { parseGenesis } from '../controller/ledger/index.js';
import { LedgerApp, RpcCommitSource, readCometValidatorSigner } from '../controller/replicated/index.js';
import { benchModel } from './ledger-model.js';

export interface ValidatorChildConfig {
  /** Ledger file directory. */
  dir: string;
  /** The CometBFT home (its priv_validator_key.json is the ledger validator key). */
  home: string;
  genesisFile: string;
  socket: string;
  rpcUrl: string;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '') as ValidatorChildConfig;
  const genesis = parseGenesis(readFileSync(cfg.genesisFile, 'utf8'));
  const app = new LedgerApp({
    dir: cfg.dir, genesis, validator: readCometValidatorSigner(cfg.home).signer, model: benchModel,
    onError: (e) => process.stderr.write(`ledger app: ${(e as Error).message}\n`),
  });
  const server = new AbciServer(app);
  await server.listen(`unix://${cfg.socket}`);
  app.startSealing(new RpcCommitSource(new CometRpc(cfg.rpcUrl, 5000), genesis));
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`stats ${JSON.stringify({ ...app.stats, unsealed: app.unsealedCount, sealError: app.lastSealError ?? null, rejection: app.lastRejection ?? null })}\n`);
    await server.close();
    await app.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.stdout.write('ready\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
