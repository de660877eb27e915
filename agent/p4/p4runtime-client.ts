/**
 * A P4Runtime client for one device (BMv2's simple_switch_grpc): arbitration
 * on the StreamChannel (the primary controller is the one allowed to write),
 * the forwarding pipeline and its cookie, batched writes whose failures come
 * back with the gRPC status and each failed update's P4Runtime error, reads
 * of table entries and counters.
 *
 * The messages are protobufjs types loaded from the P4Runtime .proto files
 * that scripts/p4-setup.sh unpacks from the pinned sources (agent/p4/p4-paths.ts);
 * gRPC is @grpc/grpc-js with those types as (de)serialisers.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { P4Entity } from './p4-entities.js';
import { describeEntity, P4Info, type TableEntryMsg } from './p4info.js';

const SERVICE = '/p4.v1.P4Runtime';

/** Update.Type of p4runtime.proto. */
export type UpdateType = 'INSERT' | 'MODIFY' | 'DELETE';
export interface Update { type: UpdateType; entity: P4Entity }

/** One failed update of a Write, from the p4.v1.Error details. */
export interface UpdateError { index: number; code: number; codeName: string; message: string; update?: Update }

export class P4RuntimeError extends Error {
  constructor(
    readonly operation: string,
    /** gRPC status code (grpc.status). */
    readonly code: number,
    readonly details: string,
    /** Per-update errors of a Write (only the failed ones). */
    readonly updates: UpdateError[] = [],
  ) {
    const first = updates.slice(0, 3).map((u) => `#${u.index} ${u.codeName}: ${u.message}${u.update ? ` (${u.update.type} ${describeEntity(u.update.entity)})` : ''}`);
    super(`P4Runtime ${operation}: ${grpc.status[code] ?? code} ${details}${first.length ? `; ${first.join('; ')}${updates.length > 3 ? `; and ${updates.length - 3} more` : ''}` : ''}`);
    this.name = 'P4RuntimeError';
  }
}

type Msg = Record<string, unknown>;

interface Types {
  root: protobuf.Root;
  type(name: string): protobuf.Type;
}

const typesCache = new Map<string, Types>();
function loadTypes(protoDir: string): Types {
  let t = typesCache.get(protoDir);
  if (!t) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => join(protoDir, target);
    root.loadSync('p4/v1/p4runtime.proto', { keepCase: false });
    root.resolveAll();
    t = { root, type: (name) => root.lookupType(name) };
    typesCache.set(protoDir, t);
  }
  return t;
}

const toObj = (type: protobuf.Type, b: Buffer): Msg =>
  type.toObject(type.decode(b), { longs: String, enums: String, bytes: Buffer, defaults: false }) as Msg;

export interface ConnectOptions {
  /** host:port of simple_switch_grpc's P4Runtime server. */
  address: string;
  protoDir: string;
  p4info: P4Info;
  deviceId?: number;
  /** Larger wins arbitration; the agent uses one id, so a restarted agent takes over at once. */
  electionId?: number;
  /** How long to wait for the server and for arbitration. */
  timeoutMs?: number;
  /** false: a reader (status, metrics) that never writes and so needs no arbitration. */
  arbitrate?: boolean;
}

/** Canonical codes of google.rpc.Code, for messages. */
const codeName = (c: number): string => grpc.status[c] ?? String(c);

export class P4RuntimeClient extends EventEmitter {
  private stream: grpc.ClientDuplexStream<Msg, Msg> | undefined;
  private closed = false;
  /** Write batches of at most this many updates (BMv2 handles far more; this bounds one message). */
  static readonly BATCH = 1000;

  private constructor(
    private readonly client: grpc.Client,
    private readonly t: Types,
    readonly p4info: P4Info,
    readonly deviceId: number,
    readonly electionId: number,
  ) {
    super();
  }

  static async connect(o: ConnectOptions): Promise<P4RuntimeClient> {
    const t = loadTypes(o.protoDir);
    const client = new grpc.Client(o.address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20,
    });
    const c = new P4RuntimeClient(client, t, o.p4info, o.deviceId ?? 1, o.electionId ?? 1);
    const timeoutMs = o.timeoutMs ?? 10_000;
    try {
      await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())));
      if (o.arbitrate !== false) await c.arbitrate(timeoutMs);
    } catch (e) {
      client.close();
      if (e instanceof P4RuntimeError) throw e;
      throw new P4RuntimeError('connect', grpc.status.UNAVAILABLE, `${o.address}: ${(e as Error).message}`);
    }
    return c;
  }

  /** Opens the StreamChannel and becomes primary (P4Runtime 5: only the primary may write). */
  private arbitrate(timeoutMs: number): Promise<void> {
    const req = this.t.type('p4.v1.StreamMessageRequest');
    const res = this.t.type('p4.v1.StreamMessageResponse');
    const stream = this.client.makeBidiStreamRequest(
      `${SERVICE}/StreamChannel`, (m: Msg) => Buffer.from(req.encode(req.fromObject(m)).finish()), (b: Buffer) => toObj(res, b),
    );
    this.stream = stream;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => finish(new P4RuntimeError('arbitration', grpc.status.DEADLINE_EXCEEDED, `no answer in ${timeoutMs} ms`)), timeoutMs);
      const finish = (e?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      };
      stream.on('data', (m: Msg) => {
        const arb = m['arbitration'] as { status?: { code?: number; message?: string } } | undefined;
        if (!arb) return;
        const code = arb.status?.code ?? 0;
        if (code === grpc.status.OK) finish();
        else finish(new P4RuntimeError('arbitration', code, `not primary: ${arb.status?.message ?? ''} (election id ${this.electionId})`));
      });
      stream.on('error', (e: grpc.ServiceError) => {
        if (!settled) finish(new P4RuntimeError('arbitration', e.code ?? grpc.status.UNKNOWN, e.details ?? e.message));
        else if (!this.closed) this.emit('disconnected', e);
      });
      stream.on('end', () => {
        if (!settled) finish(new P4RuntimeError('arbitration', grpc.status.UNAVAILABLE, 'stream ended'));
        else if (!this.closed) this.emit('disconnected', new Error('P4Runtime stream ended'));
      });
      stream.write({ arbitration: { deviceId: this.deviceId, electionId: { high: 0, low: this.electionId } } });
    });
  }

  private unary(method: string, reqType: string, resType: string, msg: Msg, deadlineMs = 60_000): Promise<Msg> {
    const req = this.t.type(reqType);
    const res = this.t.type(resType);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `${SERVICE}/${method}`, (m: Msg) => Buffer.from(req.encode(req.fromObject(m)).finish()), (b: Buffer) => toObj(res, b),
        msg, new grpc.Metadata(), { deadline: Date.now() + deadlineMs },
        (e, r) => (e ? reject(e) : resolve(r ?? {})),
      );
    });
  }

  private get election(): Msg {
    return { high: 0, low: this.electionId };
  }

  /** The cookie of the pipeline BMv2 runs, or undefined when it runs none. */
  async pipelineCookie(): Promise<bigint | undefined> {
    try {
      const r = await this.unary('GetForwardingPipelineConfig', 'p4.v1.GetForwardingPipelineConfigRequest', 'p4.v1.GetForwardingPipelineConfigResponse',
        { deviceId: this.deviceId, responseType: 'COOKIE_ONLY' });
      const cookie = (r['config'] as { cookie?: { cookie?: string } } | undefined)?.cookie?.cookie;
      return cookie === undefined ? undefined : BigInt(cookie);
    } catch (e) {
      const err = e as grpc.ServiceError;
      // No pipeline yet: BMv2 answers FAILED_PRECONDITION.
      if (err.code === grpc.status.FAILED_PRECONDITION) return undefined;
      throw this.wrap('GetForwardingPipelineConfig', err);
    }
  }

  /** VERIFY_AND_COMMIT: the program (BMv2 JSON) with this client's P4Info; every table empties. */
  async setPipeline(deviceConfig: Buffer, cookie: bigint): Promise<void> {
    const p4info = this.t.type('p4.config.v1.P4Info').fromObject(this.p4info.json);
    try {
      await this.unary('SetForwardingPipelineConfig', 'p4.v1.SetForwardingPipelineConfigRequest', 'p4.v1.SetForwardingPipelineConfigResponse', {
        deviceId: this.deviceId, electionId: this.election, action: 'VERIFY_AND_COMMIT',
        config: { p4info, p4DeviceConfig: deviceConfig, cookie: { cookie: cookie.toString() } },
      });
    } catch (e) {
      throw this.wrap('SetForwardingPipelineConfig', e as grpc.ServiceError);
    }
  }

  /** Writes updates in order, in batches; the first batch with a failure throws with each failed update named. */
  async write(updates: readonly Update[]): Promise<void> {
    for (let i = 0; i < updates.length; i += P4RuntimeClient.BATCH) {
      const batch = updates.slice(i, i + P4RuntimeClient.BATCH);
      const msgs = batch.map((u) => ({ type: u.type, entity: { tableEntry: this.p4info.encodeEntry(u.entity) } }));
      await this.writeMsgs(msgs, batch, i);
    }
  }

  /** Sets a table's default action (P4Runtime: MODIFY of the entry with is_default_action). */
  async setDefault(table: string, action: string, params: Record<string, bigint>): Promise<void> {
    await this.writeMsgs([{ type: 'MODIFY', entity: { tableEntry: this.p4info.encodeDefault(table, action, params) } }], [], 0);
  }

  private async writeMsgs(msgs: Msg[], batch: readonly Update[], offset: number): Promise<void> {
    try {
      await this.unary('Write', 'p4.v1.WriteRequest', 'p4.v1.WriteResponse', {
        deviceId: this.deviceId, electionId: this.election, updates: msgs, atomicity: 'CONTINUE_ON_ERROR',
      });
    } catch (e) {
      const err = this.wrap('Write', e as grpc.ServiceError);
      throw new P4RuntimeError('Write', err.code, err.details, err.updates.map((u) => {
        const update = batch[u.index];
        return update ? { ...u, index: u.index + offset, update } : { ...u, index: u.index + offset };
      }));
    }
  }

  private readEntities(entities: Msg[]): Promise<Msg[]> {
    const req = this.t.type('p4.v1.ReadRequest');
    const res = this.t.type('p4.v1.ReadResponse');
    return new Promise((resolve, reject) => {
      const out: Msg[] = [];
      const call = this.client.makeServerStreamRequest(
        `${SERVICE}/Read`, (m: Msg) => Buffer.from(req.encode(req.fromObject(m)).finish()), (b: Buffer) => toObj(res, b),
        { deviceId: this.deviceId, entities }, new grpc.Metadata(), { deadline: Date.now() + 60_000 },
      );
      call.on('data', (r: Msg) => out.push(...((r['entities'] as Msg[] | undefined) ?? [])));
      call.on('error', (e: grpc.ServiceError) => reject(this.wrap('Read', e)));
      call.on('end', () => resolve(out));
    });
  }

  /** Every entry of a table, or of every table (no default entries). */
  async readTable(table?: string): Promise<P4Entity[]> {
    const tableId = table === undefined ? 0 : this.p4info.table(table).id;
    const got = await this.readEntities([{ tableEntry: { tableId } }]);
    return got.map((e) => this.p4info.decodeEntry(e['tableEntry'] as TableEntryMsg));
  }

  /** A table's default action with its parameters. */
  async readDefault(table: string): Promise<{ action: string; params: Record<string, bigint> }> {
    const got = await this.readEntities([{ tableEntry: { tableId: this.p4info.table(table).id, isDefaultAction: true } }]);
    const msg = got[0]?.['tableEntry'] as TableEntryMsg | undefined;
    if (!msg) throw new P4RuntimeError('Read', grpc.status.NOT_FOUND, `${table} returned no default entry`);
    const e = this.p4info.decodeEntry({ ...msg, match: [] });
    return { action: e.action, params: e.params };
  }

  /** Cells of an indexed counter: index -> packets, bytes. */
  async readCounter(name: string, indexes?: readonly number[]): Promise<Map<number, { packets: bigint; bytes: bigint }>> {
    const id = this.p4info.counter(name).id;
    const entities = indexes ? indexes.map((index) => ({ counterEntry: { counterId: id, index: { index } } })) : [{ counterEntry: { counterId: id } }];
    const got = await this.readEntities(entities);
    const out = new Map<number, { packets: bigint; bytes: bigint }>();
    for (const e of got) {
      const c = e['counterEntry'] as { index?: { index?: string }; data?: { byteCount?: string; packetCount?: string } };
      out.set(Number(c.index?.index ?? 0), { packets: BigInt(c.data?.packetCount ?? 0), bytes: BigInt(c.data?.byteCount ?? 0) });
    }
    return out;
  }

  /** The gRPC error as a P4RuntimeError, with the p4.v1.Error of each failed update (grpc-status-details-bin). */
  private wrap(operation: string, e: grpc.ServiceError): P4RuntimeError {
    if (e instanceof P4RuntimeError) return e;
    const updates: UpdateError[] = [];
    const bin = e.metadata?.get('grpc-status-details-bin')[0];
    if (Buffer.isBuffer(bin)) {
      try {
        const status = this.t.type('google.rpc.Status').decode(bin) as unknown as { details?: { type_url?: string; typeUrl?: string; value: Uint8Array }[] };
        const errType = this.t.type('p4.v1.Error');
        (status.details ?? []).forEach((any, index) => {
          const pe = errType.toObject(errType.decode(any.value), { defaults: true }) as { canonicalCode: number; message: string };
          if (pe.canonicalCode !== grpc.status.OK) updates.push({ index, code: pe.canonicalCode, codeName: codeName(pe.canonicalCode), message: pe.message });
        });
      } catch {
        // Details that do not decode leave the status's own message.
      }
    }
    return new P4RuntimeError(operation, e.code ?? grpc.status.UNKNOWN, e.details ?? e.message, updates);
  }

  close(): void {
    this.closed = true;
    this.stream?.cancel();
    this.client.close();
  }
}
