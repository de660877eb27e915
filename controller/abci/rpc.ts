/**
 * A client of the few CometBFT v0.38 RPC methods the orchestration log needs
 * (JSON-RPC 2.0 over HTTP POST). In that JSON, []byte parameters are base64,
 * HexBytes are hex and int64 values are decimal strings.
 */

export class CometRpcError extends Error {
  constructor(readonly method: string, message: string, readonly rpcCode?: number) {
    super(`${method}: ${message}`);
    this.name = 'CometRpcError';
  }
}

export interface CometStatus {
  nodeId: string;
  network: string;
  height: number;
  /** Hex (upper case, as CometBFT prints it) of the latest block's hash and its header's app hash. */
  blockHash: string;
  appHash: string;
  catchingUp: boolean;
  validatorAddress: string;
  votingPower: number;
}

export interface CheckTxOutcome { code: number; log: string; codespace: string; data: Buffer }
export interface BroadcastSyncResult extends CheckTxOutcome { hash: string }
export interface BroadcastCommitResult {
  hash: string;
  /** 0 when CheckTx refused the transaction. */
  height: number;
  checkTx: CheckTxOutcome;
  txResult: CheckTxOutcome;
}
export interface QueryOutcome { code: number; log: string; value: Buffer; key: Buffer; height: number }
export interface CommitSignature {
  /** 1 absent, 2 commit, 3 nil (tendermint/types/validator.proto BlockIDFlag). */
  blockIdFlag: number;
  validatorAddress: string;
  timestamp: string;
  /** Ed25519 signature over the canonical vote (empty when absent). */
  signature: Buffer;
}
/** The +2/3 precommits that decided a block (what the ledger's replicated blocks carry for audit). */
export interface BlockCommit { height: number; round: number; blockHash: string; chainId: string; signatures: CommitSignature[] }
export interface BlockSummary { height: number; hash: string; time: string; proposerAddress: string; appHash: string; txs: Buffer[] }

type Json = Record<string, unknown>;

function obj(v: unknown, method: string, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CometRpcError(method, `${what} is not an object`);
  return v as Json;
}
function str(v: unknown, method: string, what: string): string {
  if (typeof v !== 'string') throw new CometRpcError(method, `${what} is not a string`);
  return v;
}
/** int64 arrives as a decimal string, uint32 as a number. */
function int(v: unknown, method: string, what: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new CometRpcError(method, `${what} is not an integer`);
  return n;
}
const b64 = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : '', 'base64');

function checkTxOutcome(v: unknown, method: string, what: string): CheckTxOutcome {
  const o = obj(v, method, what);
  return {
    code: o.code === undefined ? 0 : int(o.code, method, `${what}.code`),
    log: typeof o.log === 'string' ? o.log : '',
    codespace: typeof o.codespace === 'string' ? o.codespace : '',
    data: b64(o.data),
  };
}

export class CometRpc {
  private id = 0;

  /** url: http://127.0.0.1:26657 (no trailing path). */
  constructor(readonly url: string, private readonly timeoutMs = 15_000) {}

  async call(method: string, params: Json = {}, timeoutMs = this.timeoutMs): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++this.id, method, params }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new CometRpcError(method, `${this.url} unreachable: ${cause ?? (e as Error).message}`);
    }
    const text = await res.text();
    let body: Json;
    try {
      body = obj(JSON.parse(text), method, 'response');
    } catch {
      throw new CometRpcError(method, `HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
    }
    if (body.error !== undefined) {
      const err = obj(body.error, method, 'error');
      const detail = [err.message, err.data].filter((x) => typeof x === 'string' && x !== '').join(': ');
      throw new CometRpcError(method, detail || JSON.stringify(err), typeof err.code === 'number' ? err.code : undefined);
    }
    return body.result;
  }

  async status(): Promise<CometStatus> {
    const m = 'status';
    const r = obj(await this.call(m), m, 'result');
    const node = obj(r.node_info, m, 'node_info');
    const sync = obj(r.sync_info, m, 'sync_info');
    const val = obj(r.validator_info, m, 'validator_info');
    return {
      nodeId: str(node.id, m, 'node_info.id'),
      network: str(node.network, m, 'node_info.network'),
      height: int(sync.latest_block_height, m, 'latest_block_height'),
      blockHash: str(sync.latest_block_hash, m, 'latest_block_hash'),
      appHash: str(sync.latest_app_hash, m, 'latest_app_hash'),
      catchingUp: sync.catching_up === true,
      validatorAddress: str(val.address, m, 'validator_info.address'),
      votingPower: int(val.voting_power, m, 'validator_info.voting_power'),
    };
  }

  /** Submits tx and returns CheckTx's verdict (the mempool's), not waiting for a block. */
  async broadcastTxSync(tx: Buffer): Promise<BroadcastSyncResult> {
    const m = 'broadcast_tx_sync';
    const r = obj(await this.call(m, { tx: tx.toString('base64') }), m, 'result');
    return { ...checkTxOutcome(r, m, 'result'), hash: str(r.hash, m, 'hash') };
  }

  /** Submits tx and waits until it is in a block (or CheckTx refuses it); CometBFT's own timeout is rpc.timeout_broadcast_tx_commit. */
  async broadcastTxCommit(tx: Buffer): Promise<BroadcastCommitResult> {
    const m = 'broadcast_tx_commit';
    const r = obj(await this.call(m, { tx: tx.toString('base64') }, Math.max(this.timeoutMs, 30_000)), m, 'result');
    return {
      hash: str(r.hash, m, 'hash'),
      height: int(r.height ?? '0', m, 'height'),
      checkTx: checkTxOutcome(r.check_tx, m, 'check_tx'),
      txResult: checkTxOutcome(r.tx_result ?? {}, m, 'tx_result'),
    };
  }

  async abciQuery(path: string, data: Buffer, height = 0): Promise<QueryOutcome> {
    const m = 'abci_query';
    const r = obj(await this.call(m, { path, data: data.toString('hex'), height: String(height), prove: false }), m, 'result');
    const q = obj(r.response, m, 'response');
    return {
      code: q.code === undefined ? 0 : int(q.code, m, 'code'),
      log: typeof q.log === 'string' ? q.log : '',
      value: b64(q.value),
      key: b64(q.key),
      height: q.height === undefined ? 0 : int(q.height, m, 'height'),
    };
  }

  async commit(height: number): Promise<BlockCommit> {
    const m = 'commit';
    const r = obj(await this.call(m, { height: String(height) }), m, 'result');
    const sh = obj(r.signed_header, m, 'signed_header');
    const header = obj(sh.header, m, 'header');
    const c = obj(sh.commit, m, 'commit');
    const sigs = Array.isArray(c.signatures) ? c.signatures : [];
    return {
      height: int(c.height, m, 'commit.height'),
      round: int(c.round ?? 0, m, 'commit.round'),
      blockHash: str(obj(c.block_id, m, 'commit.block_id').hash, m, 'commit.block_id.hash'),
      chainId: str(header.chain_id, m, 'header.chain_id'),
      signatures: sigs.map((x, i) => {
        const o = obj(x, m, `signatures[${i}]`);
        return {
          blockIdFlag: int(o.block_id_flag, m, `signatures[${i}].block_id_flag`),
          validatorAddress: typeof o.validator_address === 'string' ? o.validator_address : '',
          timestamp: typeof o.timestamp === 'string' ? o.timestamp : '',
          signature: b64(o.signature),
        };
      }),
    };
  }

  async block(height: number): Promise<BlockSummary> {
    const m = 'block';
    const r = obj(await this.call(m, { height: String(height) }), m, 'result');
    const id = obj(r.block_id, m, 'block_id');
    const block = obj(r.block, m, 'block');
    const header = obj(block.header, m, 'block.header');
    const data = obj(block.data, m, 'block.data');
    const txs = Array.isArray(data.txs) ? data.txs : [];
    return {
      height: int(header.height, m, 'header.height'),
      hash: str(id.hash, m, 'block_id.hash'),
      time: str(header.time, m, 'header.time'),
      proposerAddress: str(header.proposer_address, m, 'header.proposer_address'),
      appHash: str(header.app_hash, m, 'header.app_hash'),
      txs: txs.map((t) => b64(t)),
    };
  }
}
