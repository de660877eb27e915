/**
 * An ABCI 2.0 server over CometBFT v0.38's socket protocol: CometBFT connects
 * (unix socket or TCP) as the client, four times (consensus, mempool, query,
 * snapshot), and on each connection writes length-prefixed Requests and reads
 * the Responses in the same order (abci/client/socket_client.go matches them
 * by position, and stops on a mismatch or a ResponseException).
 */
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../agent/log.js';
import type {
  AbciApplication, AbciEvent, BlockIdFlag, CommitInfo, Misbehavior, TxResult, ValidatorUpdate,
} from './application.js';
import { AbciFramingError, FrameDecoder, frame } from './framing.js';
import {
  APPLY_CHUNK_ABORT, CHECK_TX_RECHECK, OFFER_SNAPSHOT_REJECT, STATUS_ACCEPT, STATUS_REJECT, decodeRequest, encodeResponse,
  timestampToDate, type CommitInfoMsg, type EventMsg, type MisbehaviorMsg, type RequestKind, type RequestMsg, type ResponseMsg,
  type TxResultMsg, type ValidatorUpdateMsg,
} from './proto.js';

export interface AbciServerOptions {
  logger?: Logger;
  /** Largest accepted Request; default 64 MiB (a default CometBFT block is at most 21 MiB). */
  maxMessageBytes?: number;
}

export class AbciServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbciServerError';
  }
}

/** A response the application got wrong (a bug in it, reported to CometBFT as an exception). */
export class AbciApplicationError extends Error {
  constructor(readonly request: RequestKind, message: string) {
    super(`${request}: ${message}`);
    this.name = 'AbciApplicationError';
  }
}

export type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses CometBFT's proxy_app syntax: unix:///abs/path, tcp://host:port, or a bare absolute path. */
export function parseAbciAddress(address: string): ListenAddress {
  if (address.startsWith('unix://')) return { kind: 'unix', path: address.slice('unix://'.length) };
  if (address.startsWith('/')) return { kind: 'unix', path: address };
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(address);
  if (!m) throw new AbciServerError(`not an ABCI address (unix:///path or tcp://host:port): ${address}`);
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

// Pause reading a connection while this many requests wait for the application.
const HIGH_WATER = 256;
const LOW_WATER = 32;

const FLAGS: BlockIdFlag[] = ['unknown', 'absent', 'commit', 'nil'];
const MISBEHAVIOR: Misbehavior['type'][] = ['unknown', 'duplicate-vote', 'light-client-attack'];

const commitInfo = (c: CommitInfoMsg | undefined): CommitInfo => ({
  round: c?.round ?? 0,
  votes: (c?.votes ?? []).map((v) => ({
    validatorAddress: v.validator?.address ?? Buffer.alloc(0),
    power: v.validator?.power ?? 0,
    flag: FLAGS[v.blockIdFlag] ?? 'unknown',
  })),
});

const misbehavior = (list: MisbehaviorMsg[]): Misbehavior[] => list.map((m) => ({
  type: MISBEHAVIOR[m.type] ?? 'unknown',
  validatorAddress: m.validator?.address ?? Buffer.alloc(0),
  height: m.height,
  time: timestampToDate(m.time),
  totalVotingPower: m.totalVotingPower,
}));

const validatorsIn = (list: ValidatorUpdateMsg[]): ValidatorUpdate[] =>
  list.filter((v) => v.pubKey?.ed25519 !== undefined).map((v) => ({ ed25519PubKey: v.pubKey!.ed25519!, power: v.power }));
const validatorsOut = (list: ValidatorUpdate[] | undefined): ValidatorUpdateMsg[] =>
  (list ?? []).map((v) => ({ pubKey: { ed25519: v.ed25519PubKey }, power: v.power }));

const eventsOut = (list: AbciEvent[] | undefined): EventMsg[] =>
  (list ?? []).map((e) => ({ type: e.type, attributes: e.attributes.map((a) => ({ key: a.key, value: a.value, index: a.index ?? true })) }));

function txResultOut(r: TxResult, what: RequestKind): TxResultMsg {
  if (!Number.isInteger(r.code) || r.code < 0 || r.code > 0xffff_ffff) throw new AbciApplicationError(what, `code ${r.code} is not a uint32`);
  return { code: r.code, data: r.data, log: r.log ?? '', info: r.info ?? '', codespace: r.codespace ?? '', events: eventsOut(r.events) };
}

function bytesOut(b: unknown, what: RequestKind, field: string): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new AbciApplicationError(what, `${field} must be a Buffer`);
  return b;
}

export class AbciServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private unixPath: string | undefined;
  private seq = 0;
  private boundAddress: string | undefined;
  private readonly maxMessageBytes: number;

  constructor(private readonly app: AbciApplication, private readonly opts: AbciServerOptions = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? 64 * 1024 * 1024;
  }

  /** The address CometBFT's proxy_app should name, once listening. */
  get address(): string | undefined {
    return this.boundAddress;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /**
   * Listens on unix:///path (a stale socket file there is replaced) or
   * tcp://host:port (port 0 picks one). Resolves to the bound address.
   */
  async listen(address: string): Promise<string> {
    if (this.server) throw new AbciServerError(`already listening on ${this.boundAddress}`);
    const where = parseAbciAddress(address);
    const server = createServer((sock) => this.serve(sock));
    if (where.kind === 'unix') {
      // A socket file left by a killed process refuses new binds; anything else there is not ours to delete.
      if (existsSync(where.path)) {
        if (!lstatSync(where.path).isSocket()) throw new AbciServerError(`${where.path} exists and is not a socket`);
        rmSync(where.path);
      }
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (where.kind === 'unix') server.listen(where.path, resolve);
      else server.listen(where.port, where.host, resolve);
    });
    server.on('error', (e) => this.opts.logger?.log('error', 'abci.listener-error', { error: e.message }));
    this.server = server;
    if (where.kind === 'unix') {
      this.unixPath = where.path;
      this.boundAddress = `unix://${where.path}`;
    } else {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : where.port;
      this.boundAddress = `tcp://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}`;
    }
    this.opts.logger?.log('info', 'abci.listening', { address: this.boundAddress });
    return this.boundAddress;
  }

  /** Stops listening and drops every connection (CometBFT then stops: it cannot run without its app). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.unixPath && existsSync(this.unixPath)) rmSync(this.unixPath, { force: true });
    this.unixPath = undefined;
    this.boundAddress = undefined;
  }

  private serve(sock: Socket): void {
    const conn = ++this.seq;
    const log = this.opts.logger?.child({ conn });
    this.sockets.add(sock);
    if (typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
    log?.log('debug', 'abci.connected', {});
    const decoder = new FrameDecoder(this.maxMessageBytes);
    let chain: Promise<void> = Promise.resolve();
    let waiting = 0;
    const kinds = new Set<RequestKind>();

    sock.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        const msg = e instanceof AbciFramingError ? e.message : String(e);
        log?.log('error', 'abci.framing-error', { error: msg });
        sock.destroy();
        return;
      }
      for (const body of frames) {
        waiting++;
        if (waiting >= HIGH_WATER) sock.pause();
        chain = chain.then(async () => {
          const { response, fatal } = await this.answer(body, kinds, log);
          waiting--;
          if (waiting <= LOW_WATER && sock.isPaused()) sock.resume();
          if (sock.destroyed) return;
          let bytes: Uint8Array;
          try {
            bytes = encodeResponse(response);
          } catch (e) {
            // A value protobufjs cannot encode (e.g. a height that is not an integer): still answer in order.
            log?.log('error', 'abci.encode-error', { error: (e as Error).message });
            bytes = encodeResponse({ exception: { error: `cannot encode the response: ${(e as Error).message}` } });
          }
          sock.write(frame(bytes));
          if (fatal) sock.end();
        }).catch((e: unknown) => {
          log?.log('error', 'abci.internal-error', { error: e instanceof Error ? e.message : String(e) });
          sock.destroy();
        });
      }
    });
    sock.on('error', (e) => log?.log('warn', 'abci.connection-error', { error: e.message }));
    sock.on('close', () => {
      this.sockets.delete(sock);
      log?.log('debug', 'abci.disconnected', { requests: [...kinds], midMessage: !decoder.idle });
    });
  }

  /** Never rejects: a failure becomes a ResponseException (fatal = close the connection after it). */
  private async answer(body: Buffer, kinds: Set<RequestKind>, log: Logger | undefined): Promise<{ response: ResponseMsg; fatal: boolean }> {
    let req: RequestMsg;
    try {
      req = decodeRequest(body);
    } catch (e) {
      log?.log('error', 'abci.decode-error', { error: (e as Error).message });
      return { response: { exception: { error: (e as Error).message } }, fatal: true };
    }
    kinds.add(req.value);
    try {
      return { response: await this.dispatch(req), fatal: false };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      log?.log('error', 'abci.application-error', { request: req.value, error });
      return { response: { exception: { error: `${req.value}: ${error}` } }, fatal: false };
    }
  }

  private async dispatch(req: RequestMsg): Promise<ResponseMsg> {
    const app = this.app;
    switch (req.value) {
      case 'echo':
        return { echo: { message: req.echo.message } };
      case 'flush':
        return { flush: {} };
      case 'info': {
        const r = await app.info({ ...req.info });
        return {
          info: {
            data: r.data ?? '', version: r.version ?? '', appVersion: r.appVersion ?? 0,
            lastBlockHeight: r.lastBlockHeight, lastBlockAppHash: bytesOut(r.lastBlockAppHash, 'info', 'lastBlockAppHash'),
          },
        };
      }
      case 'initChain': {
        const q = req.initChain;
        const r = await app.initChain({
          time: timestampToDate(q.time), chainId: q.chainId, validators: validatorsIn(q.validators),
          appStateBytes: q.appStateBytes, initialHeight: q.initialHeight,
        });
        return { initChain: { validators: validatorsOut(r.validators), appHash: r.appHash ?? Buffer.alloc(0) } };
      }
      case 'query': {
        const q = req.query;
        const r = await app.query({ path: q.path, data: q.data, height: q.height, prove: q.prove });
        return { query: { code: r.code, value: r.value, key: r.key, log: r.log ?? '', info: r.info ?? '', height: r.height ?? 0 } };
      }
      case 'checkTx': {
        const r = await app.checkTx({ tx: req.checkTx.tx, recheck: req.checkTx.type === CHECK_TX_RECHECK });
        return { checkTx: txResultOut(r, 'checkTx') };
      }
      case 'commit': {
        const r = await app.commit();
        return { commit: { retainHeight: r.retainHeight } };
      }
      // State sync is not offered: no snapshots, refuse any offered.
      case 'listSnapshots':
        return { listSnapshots: {} };
      case 'offerSnapshot':
        return { offerSnapshot: { result: OFFER_SNAPSHOT_REJECT } };
      case 'loadSnapshotChunk':
        return { loadSnapshotChunk: {} };
      case 'applySnapshotChunk':
        return { applySnapshotChunk: { result: APPLY_CHUNK_ABORT } };
      case 'prepareProposal': {
        const q = req.prepareProposal;
        const txs = await app.prepareProposal({
          height: q.height, time: timestampToDate(q.time), txs: q.txs, proposerAddress: q.proposerAddress,
          misbehavior: misbehavior(q.misbehavior), nextValidatorsHash: q.nextValidatorsHash, maxTxBytes: q.maxTxBytes,
          localLastCommit: {
            round: q.localLastCommit?.round ?? 0,
            votes: (q.localLastCommit?.votes ?? []).map((v) => ({
              validatorAddress: v.validator?.address ?? Buffer.alloc(0), power: v.validator?.power ?? 0,
              flag: FLAGS[v.blockIdFlag] ?? 'unknown', voteExtension: v.voteExtension,
            })),
          },
        });
        return { prepareProposal: { txs: txs.map((t, i) => bytesOut(t, 'prepareProposal', `txs[${i}]`)) } };
      }
      case 'processProposal': {
        const q = req.processProposal;
        const ok = await app.processProposal({
          height: q.height, time: timestampToDate(q.time), txs: q.txs, proposerAddress: q.proposerAddress,
          misbehavior: misbehavior(q.misbehavior), nextValidatorsHash: q.nextValidatorsHash, hash: q.hash,
          proposedLastCommit: commitInfo(q.proposedLastCommit),
        });
        return { processProposal: { status: ok ? STATUS_ACCEPT : STATUS_REJECT } };
      }
      case 'extendVote': {
        const q = req.extendVote;
        const ext = app.extendVote
          ? await app.extendVote({ hash: q.hash, height: q.height, time: timestampToDate(q.time), txs: q.txs, proposerAddress: q.proposerAddress })
          : Buffer.alloc(0);
        return { extendVote: { voteExtension: bytesOut(ext, 'extendVote', 'voteExtension') } };
      }
      case 'verifyVoteExtension': {
        const q = req.verifyVoteExtension;
        const ok = app.verifyVoteExtension ? await app.verifyVoteExtension({ ...q }) : true;
        return { verifyVoteExtension: { status: ok ? STATUS_ACCEPT : STATUS_REJECT } };
      }
      case 'finalizeBlock': {
        const q = req.finalizeBlock;
        const r = await app.finalizeBlock({
          height: q.height, time: timestampToDate(q.time), txs: q.txs, proposerAddress: q.proposerAddress,
          misbehavior: misbehavior(q.misbehavior), nextValidatorsHash: q.nextValidatorsHash, hash: q.hash,
          decidedLastCommit: commitInfo(q.decidedLastCommit),
        });
        // CometBFT would fail the block on a count mismatch too, but later and with a vaguer message.
        if (r.txResults.length !== q.txs.length) {
          throw new AbciApplicationError('finalizeBlock', `${r.txResults.length} tx results for ${q.txs.length} txs at height ${q.height}`);
        }
        return {
          finalizeBlock: {
            txResults: r.txResults.map((t) => txResultOut(t, 'finalizeBlock')),
            appHash: bytesOut(r.appHash, 'finalizeBlock', 'appHash'),
            validatorUpdates: validatorsOut(r.validatorUpdates),
            events: eventsOut(r.events),
          },
        };
      }
    }
  }
}
