/**
 * What an ABCI 2.0 application implements (CometBFT v0.38). The server
 * (server.ts) owns the wire; an application only sees typed requests. The
 * orchestration log plugs the ledger's validate() into checkTx and
 * processProposal and hands finalizeBlock's transactions to the controller.
 *
 * Every method may return a promise. Requests of one CometBFT connection are
 * answered strictly in order, one at a time; requests of different
 * connections (consensus, mempool, query, snapshot) may interleave while a
 * method awaits, so an async application guards its own state.
 *
 * A method that throws is answered with ResponseException, which makes
 * CometBFT stop that connection (and the node): an application bug must halt
 * the validator rather than let it vote on a guess.
 *
 * Heights are numbers: 2^53 blocks is beyond any chain's lifetime.
 */
import { varintSize } from './proto.js';

export type MaybePromise<T> = T | Promise<T>;

export interface InfoRequest { version: string; blockVersion: number; p2pVersion: number; abciVersion: string }

export interface AbciInfo {
  /** Height of the last block the application committed (0 before the first). */
  lastBlockHeight: number;
  /** App hash after that block (empty before the first). CometBFT replays blocks past lastBlockHeight. */
  lastBlockAppHash: Buffer;
  data?: string;
  version?: string;
  appVersion?: number;
}

export interface ValidatorUpdate {
  /** Raw 32-byte Ed25519 public key. */
  ed25519PubKey: Buffer;
  /** Voting power; 0 removes the validator. */
  power: number;
}

export interface InitChainRequest {
  time: Date;
  chainId: string;
  validators: ValidatorUpdate[];
  /** genesis.json's app_state, as CometBFT passes it (JSON bytes). */
  appStateBytes: Buffer;
  initialHeight: number;
}

export interface InitChainResult {
  /** Omit to keep the genesis app hash. */
  appHash?: Buffer;
  /** Omit (or empty) to keep the genesis validators. */
  validators?: ValidatorUpdate[];
}

export interface AbciEvent { type: string; attributes: { key: string; value: string; index?: boolean }[] }

export interface CheckTxRequest {
  tx: Buffer;
  /** True when CometBFT re-checks a mempool transaction after a block was committed. */
  recheck: boolean;
}

export interface TxResult {
  /** 0 accepts; anything else rejects, and the client sees code and log. */
  code: number;
  log?: string;
  data?: Buffer;
  info?: string;
  codespace?: string;
  events?: AbciEvent[];
}

/** Block id flags (tendermint/types/validator.proto BlockIDFlag). */
export type BlockIdFlag = 'unknown' | 'absent' | 'commit' | 'nil';

export interface VoteInfo {
  /** First 20 bytes of SHA-256 of the validator's public key. */
  validatorAddress: Buffer;
  power: number;
  flag: BlockIdFlag;
}

export interface CommitInfo { round: number; votes: VoteInfo[] }

export interface Misbehavior {
  type: 'unknown' | 'duplicate-vote' | 'light-client-attack';
  validatorAddress: Buffer;
  height: number;
  time: Date;
  totalVotingPower: number;
}

interface BlockRequest {
  height: number;
  time: Date;
  txs: Buffer[];
  proposerAddress: Buffer;
  misbehavior: Misbehavior[];
  nextValidatorsHash: Buffer;
}

export interface PrepareProposalRequest extends BlockRequest {
  /** The returned transactions, with their protobuf overhead (see fitTxs), must not exceed this. */
  maxTxBytes: number;
  localLastCommit: CommitInfo & { votes: (VoteInfo & { voteExtension: Buffer })[] };
}

export interface ProcessProposalRequest extends BlockRequest {
  /** Merkle root of the proposed block's header fields. */
  hash: Buffer;
  proposedLastCommit: CommitInfo;
}

export interface FinalizeBlockRequest extends BlockRequest {
  hash: Buffer;
  /** The commit signatures of the previous block, as decided. */
  decidedLastCommit: CommitInfo;
}

export interface FinalizeBlockResult {
  /** One per transaction of the block, in order. */
  txResults: TxResult[];
  /** The application state's hash after this block; it goes into the next block's header. */
  appHash: Buffer;
  validatorUpdates?: ValidatorUpdate[];
  events?: AbciEvent[];
}

export interface CommitResult {
  /** Blocks below this height may be pruned by CometBFT; 0 keeps everything. */
  retainHeight: number;
}

export interface QueryRequest { path: string; data: Buffer; height: number; prove: boolean }

export interface QueryResult {
  code: number;
  value?: Buffer;
  key?: Buffer;
  log?: string;
  info?: string;
  height?: number;
}

export interface ExtendVoteRequest { hash: Buffer; height: number; time: Date; txs: Buffer[]; proposerAddress: Buffer }
export interface VerifyVoteExtensionRequest { hash: Buffer; validatorAddress: Buffer; height: number; voteExtension: Buffer }

export interface AbciApplication {
  info(req: InfoRequest): MaybePromise<AbciInfo>;
  initChain(req: InitChainRequest): MaybePromise<InitChainResult>;
  checkTx(req: CheckTxRequest): MaybePromise<TxResult>;
  /** Returns the block's transactions (may drop, reorder or add; must fit maxTxBytes). */
  prepareProposal(req: PrepareProposalRequest): MaybePromise<Buffer[]>;
  /** False makes this validator prevote nil on the proposal. Must be deterministic across honest validators. */
  processProposal(req: ProcessProposalRequest): MaybePromise<boolean>;
  /** Executes a decided block. State becomes durable at commit(); the same height may be finalized again after a crash. */
  finalizeBlock(req: FinalizeBlockRequest): MaybePromise<FinalizeBlockResult>;
  commit(): MaybePromise<CommitResult>;
  query(req: QueryRequest): MaybePromise<QueryResult>;
  /** Default: an empty extension. Only called when the genesis enables vote extensions. */
  extendVote?(req: ExtendVoteRequest): MaybePromise<Buffer>;
  /** Default: accept. */
  verifyVoteExtension?(req: VerifyVoteExtensionRequest): MaybePromise<boolean>;
}

/**
 * The longest prefix of txs that fits a block of maxTxBytes as CometBFT
 * counts it (each tx costs its length plus its protobuf tag and length), so a
 * proposal never fails CometBFT's own size check.
 */
export function fitTxs(txs: readonly Buffer[], maxTxBytes: number): Buffer[] {
  const out: Buffer[] = [];
  let used = 0;
  for (const tx of txs) {
    const cost = 1 + varintSize(tx.length) + tx.length;
    if (used + cost > maxTxBytes) break;
    used += cost;
    out.push(tx);
  }
  return out;
}
