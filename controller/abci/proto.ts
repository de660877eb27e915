/**
 * The subset of CometBFT v0.38's ABCI messages this server reads and writes,
 * as a protobufjs reflection root built from the published field numbers.
 *
 * Source of the numbers: proto/tendermint/abci/types.proto (package
 * tendermint.abci) in github.com/cometbft/cometbft@v0.38.26, plus
 * tendermint/crypto/keys.proto (PublicKey) and google/protobuf/timestamp.proto.
 * Only the fields we use are declared: protobufjs skips unknown fields on
 * decode, and proto3 lets a writer omit any field. Enums are declared as int32
 * (same varint on the wire) so no enum tables are needed.
 *
 * v1.x of CometBFT renamed the package (cometbft.abci.v1) and its messages; the
 * socket protocol does not carry type names, but the oneof numbers and some
 * fields differ, so this file is tied to the v0.38 line.
 */
import protobuf from 'protobufjs';

type FieldDef = { id: number; type: string; rule?: 'repeated' };
type MessageDef = { fields: Record<string, FieldDef>; oneofs?: Record<string, { oneof: string[] }> };

const f = (id: number, type: string): FieldDef => ({ id, type });
const rep = (id: number, type: string): FieldDef => ({ id, type, rule: 'repeated' });

const messages: Record<string, MessageDef> = {
  // google/protobuf/timestamp.proto
  Timestamp: { fields: { seconds: f(1, 'int64'), nanos: f(2, 'int32') } },
  // tendermint/crypto/keys.proto
  PublicKey: { fields: { ed25519: f(1, 'bytes'), secp256k1: f(2, 'bytes') }, oneofs: { sum: { oneof: ['ed25519', 'secp256k1'] } } },

  Request: {
    fields: {
      echo: f(1, 'RequestEcho'),
      flush: f(2, 'Empty'),
      info: f(3, 'RequestInfo'),
      initChain: f(5, 'RequestInitChain'),
      query: f(6, 'RequestQuery'),
      checkTx: f(8, 'RequestCheckTx'),
      commit: f(11, 'Empty'),
      listSnapshots: f(12, 'Empty'),
      offerSnapshot: f(13, 'Empty'),
      loadSnapshotChunk: f(14, 'Empty'),
      applySnapshotChunk: f(15, 'Empty'),
      prepareProposal: f(16, 'RequestPrepareProposal'),
      processProposal: f(17, 'RequestProcessProposal'),
      extendVote: f(18, 'RequestExtendVote'),
      verifyVoteExtension: f(19, 'RequestVerifyVoteExtension'),
      finalizeBlock: f(20, 'RequestFinalizeBlock'),
    },
    oneofs: {
      value: {
        oneof: ['echo', 'flush', 'info', 'initChain', 'query', 'checkTx', 'commit', 'listSnapshots', 'offerSnapshot',
          'loadSnapshotChunk', 'applySnapshotChunk', 'prepareProposal', 'processProposal', 'extendVote',
          'verifyVoteExtension', 'finalizeBlock'],
      },
    },
  },
  Empty: { fields: {} },
  RequestEcho: { fields: { message: f(1, 'string') } },
  RequestInfo: { fields: { version: f(1, 'string'), blockVersion: f(2, 'uint64'), p2pVersion: f(3, 'uint64'), abciVersion: f(4, 'string') } },
  RequestInitChain: {
    fields: { time: f(1, 'Timestamp'), chainId: f(2, 'string'), validators: rep(4, 'ValidatorUpdate'), appStateBytes: f(5, 'bytes'), initialHeight: f(6, 'int64') },
  },
  RequestQuery: { fields: { data: f(1, 'bytes'), path: f(2, 'string'), height: f(3, 'int64'), prove: f(4, 'bool') } },
  RequestCheckTx: { fields: { tx: f(1, 'bytes'), type: f(2, 'int32') } },
  RequestPrepareProposal: {
    fields: {
      maxTxBytes: f(1, 'int64'), txs: rep(2, 'bytes'), localLastCommit: f(3, 'ExtendedCommitInfo'), misbehavior: rep(4, 'Misbehavior'),
      height: f(5, 'int64'), time: f(6, 'Timestamp'), nextValidatorsHash: f(7, 'bytes'), proposerAddress: f(8, 'bytes'),
    },
  },
  RequestProcessProposal: {
    fields: {
      txs: rep(1, 'bytes'), proposedLastCommit: f(2, 'CommitInfo'), misbehavior: rep(3, 'Misbehavior'), hash: f(4, 'bytes'),
      height: f(5, 'int64'), time: f(6, 'Timestamp'), nextValidatorsHash: f(7, 'bytes'), proposerAddress: f(8, 'bytes'),
    },
  },
  RequestExtendVote: {
    fields: {
      hash: f(1, 'bytes'), height: f(2, 'int64'), time: f(3, 'Timestamp'), txs: rep(4, 'bytes'), proposedLastCommit: f(5, 'CommitInfo'),
      misbehavior: rep(6, 'Misbehavior'), nextValidatorsHash: f(7, 'bytes'), proposerAddress: f(8, 'bytes'),
    },
  },
  RequestVerifyVoteExtension: {
    fields: { hash: f(1, 'bytes'), validatorAddress: f(2, 'bytes'), height: f(3, 'int64'), voteExtension: f(4, 'bytes') },
  },
  RequestFinalizeBlock: {
    fields: {
      txs: rep(1, 'bytes'), decidedLastCommit: f(2, 'CommitInfo'), misbehavior: rep(3, 'Misbehavior'), hash: f(4, 'bytes'),
      height: f(5, 'int64'), time: f(6, 'Timestamp'), nextValidatorsHash: f(7, 'bytes'), proposerAddress: f(8, 'bytes'),
    },
  },

  Response: {
    fields: {
      exception: f(1, 'ResponseException'),
      echo: f(2, 'ResponseEcho'),
      flush: f(3, 'Empty'),
      info: f(4, 'ResponseInfo'),
      initChain: f(6, 'ResponseInitChain'),
      query: f(7, 'ResponseQuery'),
      checkTx: f(9, 'ResponseCheckTx'),
      commit: f(12, 'ResponseCommit'),
      listSnapshots: f(13, 'Empty'),
      offerSnapshot: f(14, 'ResponseResult'),
      loadSnapshotChunk: f(15, 'Empty'),
      applySnapshotChunk: f(16, 'ResponseResult'),
      prepareProposal: f(17, 'ResponsePrepareProposal'),
      processProposal: f(18, 'ResponseStatus'),
      extendVote: f(19, 'ResponseExtendVote'),
      verifyVoteExtension: f(20, 'ResponseStatus'),
      finalizeBlock: f(21, 'ResponseFinalizeBlock'),
    },
    oneofs: {
      value: {
        oneof: ['exception', 'echo', 'flush', 'info', 'initChain', 'query', 'checkTx', 'commit', 'listSnapshots', 'offerSnapshot',
          'loadSnapshotChunk', 'applySnapshotChunk', 'prepareProposal', 'processProposal', 'extendVote', 'verifyVoteExtension',
          'finalizeBlock'],
      },
    },
  },
  ResponseException: { fields: { error: f(1, 'string') } },
  ResponseEcho: { fields: { message: f(1, 'string') } },
  ResponseInfo: {
    fields: { data: f(1, 'string'), version: f(2, 'string'), appVersion: f(3, 'uint64'), lastBlockHeight: f(4, 'int64'), lastBlockAppHash: f(5, 'bytes') },
  },
  ResponseInitChain: { fields: { validators: rep(2, 'ValidatorUpdate'), appHash: f(3, 'bytes') } },
  ResponseQuery: {
    fields: {
      code: f(1, 'uint32'), log: f(3, 'string'), info: f(4, 'string'), index: f(5, 'int64'), key: f(6, 'bytes'), value: f(7, 'bytes'),
      height: f(9, 'int64'), codespace: f(10, 'string'),
    },
  },
  // ResponseCheckTx and ExecTxResult share numbers 1-8 (code, data, log, info, gas_wanted, gas_used, events, codespace).
  ResponseCheckTx: { fields: { code: f(1, 'uint32'), data: f(2, 'bytes'), log: f(3, 'string'), info: f(4, 'string'), events: rep(7, 'Event'), codespace: f(8, 'string') } },
  ExecTxResult: { fields: { code: f(1, 'uint32'), data: f(2, 'bytes'), log: f(3, 'string'), info: f(4, 'string'), events: rep(7, 'Event'), codespace: f(8, 'string') } },
  ResponseCommit: { fields: { retainHeight: f(3, 'int64') } },
  // ResponseOfferSnapshot.result and ResponseApplySnapshotChunk.result are both field 1.
  ResponseResult: { fields: { result: f(1, 'int32') } },
  ResponsePrepareProposal: { fields: { txs: rep(1, 'bytes') } },
  // ResponseProcessProposal.status and ResponseVerifyVoteExtension.status: field 1, 1 ACCEPT / 2 REJECT.
  ResponseStatus: { fields: { status: f(1, 'int32') } },
  ResponseExtendVote: { fields: { voteExtension: f(1, 'bytes') } },
  ResponseFinalizeBlock: {
    fields: { events: rep(1, 'Event'), txResults: rep(2, 'ExecTxResult'), validatorUpdates: rep(3, 'ValidatorUpdate'), appHash: f(5, 'bytes') },
  },

  CommitInfo: { fields: { round: f(1, 'int32'), votes: rep(2, 'VoteInfo') } },
  ExtendedCommitInfo: { fields: { round: f(1, 'int32'), votes: rep(2, 'ExtendedVoteInfo') } },
  Validator: { fields: { address: f(1, 'bytes'), power: f(3, 'int64') } },
  ValidatorUpdate: { fields: { pubKey: f(1, 'PublicKey'), power: f(2, 'int64') } },
  VoteInfo: { fields: { validator: f(1, 'Validator'), blockIdFlag: f(3, 'int32') } },
  ExtendedVoteInfo: { fields: { validator: f(1, 'Validator'), voteExtension: f(3, 'bytes'), extensionSignature: f(4, 'bytes'), blockIdFlag: f(5, 'int32') } },
  Misbehavior: { fields: { type: f(1, 'int32'), validator: f(2, 'Validator'), height: f(3, 'int64'), time: f(4, 'Timestamp'), totalVotingPower: f(5, 'int64') } },
  Event: { fields: { type: f(1, 'string'), attributes: rep(2, 'EventAttribute') } },
  EventAttribute: { fields: { key: f(1, 'string'), value: f(2, 'string'), index: f(3, 'bool') } },
};

const root = protobuf.Root.fromJSON({ nested: { abci: { nested: messages } } });
const RequestType = root.lookupType('abci.Request');
const ResponseType = root.lookupType('abci.Response');

/* Decoded shapes (after toObject with longs: Number, defaults: true, oneofs: true). */
export interface TimestampMsg { seconds: number; nanos: number }
export interface ValidatorMsg { address: Buffer; power: number }
export interface PublicKeyMsg { ed25519?: Buffer; secp256k1?: Buffer }
export interface ValidatorUpdateMsg { pubKey?: PublicKeyMsg; power: number }
export interface VoteInfoMsg { validator?: ValidatorMsg; blockIdFlag: number }
export interface ExtendedVoteInfoMsg extends VoteInfoMsg { voteExtension: Buffer; extensionSignature: Buffer }
export interface CommitInfoMsg { round: number; votes: VoteInfoMsg[] }
export interface ExtendedCommitInfoMsg { round: number; votes: ExtendedVoteInfoMsg[] }
export interface MisbehaviorMsg { type: number; validator?: ValidatorMsg; height: number; time?: TimestampMsg; totalVotingPower: number }
interface BlockFields { txs: Buffer[]; misbehavior: MisbehaviorMsg[]; height: number; time?: TimestampMsg; nextValidatorsHash: Buffer; proposerAddress: Buffer }
export interface EventMsg { type: string; attributes: { key: string; value: string; index: boolean }[] }

export type RequestMsg =
  | { value: 'echo'; echo: { message: string } }
  | { value: 'flush' }
  | { value: 'info'; info: { version: string; blockVersion: number; p2pVersion: number; abciVersion: string } }
  | { value: 'initChain'; initChain: { time?: TimestampMsg; chainId: string; validators: ValidatorUpdateMsg[]; appStateBytes: Buffer; initialHeight: number } }
  | { value: 'query'; query: { data: Buffer; path: string; height: number; prove: boolean } }
  | { value: 'checkTx'; checkTx: { tx: Buffer; type: number } }
  | { value: 'commit' }
  | { value: 'listSnapshots' | 'offerSnapshot' | 'loadSnapshotChunk' | 'applySnapshotChunk' }
  | { value: 'prepareProposal'; prepareProposal: BlockFields & { maxTxBytes: number; localLastCommit?: ExtendedCommitInfoMsg } }
  | { value: 'processProposal'; processProposal: BlockFields & { hash: Buffer; proposedLastCommit?: CommitInfoMsg } }
  | { value: 'extendVote'; extendVote: BlockFields & { hash: Buffer; proposedLastCommit?: CommitInfoMsg } }
  | { value: 'verifyVoteExtension'; verifyVoteExtension: { hash: Buffer; validatorAddress: Buffer; height: number; voteExtension: Buffer } }
  | { value: 'finalizeBlock'; finalizeBlock: BlockFields & { hash: Buffer; decidedLastCommit?: CommitInfoMsg } };

export type RequestKind = RequestMsg['value'];

export interface TxResultMsg { code: number; data?: Uint8Array; log?: string; info?: string; events?: EventMsg[]; codespace?: string }

/** What we write: exactly one member of Response's oneof. */
export type ResponseMsg =
  | { exception: { error: string } }
  | { echo: { message: string } }
  | { flush: Record<string, never> }
  | { info: { data: string; version: string; appVersion: number; lastBlockHeight: number; lastBlockAppHash: Uint8Array } }
  | { initChain: { validators?: ValidatorUpdateMsg[]; appHash?: Uint8Array } }
  | { query: { code: number; log?: string; info?: string; index?: number; key?: Uint8Array; value?: Uint8Array; height?: number; codespace?: string } }
  | { checkTx: TxResultMsg }
  | { commit: { retainHeight: number } }
  | { listSnapshots: Record<string, never> }
  | { offerSnapshot: { result: number } }
  | { loadSnapshotChunk: Record<string, never> }
  | { applySnapshotChunk: { result: number } }
  | { prepareProposal: { txs: Uint8Array[] } }
  | { processProposal: { status: number } }
  | { extendVote: { voteExtension: Uint8Array } }
  | { verifyVoteExtension: { status: number } }
  | { finalizeBlock: { events?: EventMsg[]; txResults: TxResultMsg[]; validatorUpdates?: ValidatorUpdateMsg[]; appHash: Uint8Array } };

/** ResponseProcessProposal.ProposalStatus / ResponseVerifyVoteExtension.VerifyStatus. */
export const STATUS_ACCEPT = 1;
export const STATUS_REJECT = 2;
/** ResponseOfferSnapshot.Result.REJECT, ResponseApplySnapshotChunk.Result.ABORT. */
export const OFFER_SNAPSHOT_REJECT = 3;
export const APPLY_CHUNK_ABORT = 2;
/** CheckTxType.RECHECK. */
export const CHECK_TX_RECHECK = 1;

export class AbciDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbciDecodeError';
  }
}

/** Decodes one Request (without its length prefix). Throws AbciDecodeError on bad bytes or an empty oneof. */
export function decodeRequest(bytes: Uint8Array): RequestMsg {
  let obj: { value?: string };
  try {
    obj = RequestType.toObject(RequestType.decode(bytes), { longs: Number, defaults: true, arrays: true, oneofs: true }) as { value?: string };
  } catch (e) {
    throw new AbciDecodeError(`undecodable Request (${bytes.length} bytes): ${(e as Error).message}`);
  }
  if (typeof obj.value !== 'string') throw new AbciDecodeError(`Request with no known member (${bytes.length} bytes; a newer ABCI?)`);
  return obj as RequestMsg;
}

/** Encodes one Response (without its length prefix). */
export function encodeResponse(msg: ResponseMsg): Uint8Array {
  return ResponseType.encode(ResponseType.fromObject(msg)).finish();
}

/** Encodes one Request; for tests and for a client of this server (CometBFT itself is the real one). */
export function encodeRequest(msg: Record<string, unknown>): Uint8Array {
  return RequestType.encode(RequestType.fromObject(msg)).finish();
}

/** Decodes one Response; the counterpart of encodeRequest, for tests. */
export function decodeResponse(bytes: Uint8Array): Record<string, unknown> & { value: string } {
  return ResponseType.toObject(ResponseType.decode(bytes), { longs: Number, defaults: true, arrays: true, oneofs: true }) as Record<string, unknown> & { value: string };
}

export function timestampToDate(t: TimestampMsg | undefined): Date {
  return t ? new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6)) : new Date(0);
}

/** Bytes of txs inside a block's Data, as CometBFT counts them against max_tx_bytes (types.ComputeProtoSizeForTxs). */
export function protoSizeOfTxs(txs: readonly Uint8Array[]): number {
  let n = 0;
  for (const tx of txs) n += 1 + varintSize(tx.length) + tx.length;
  return n;
}

export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}
