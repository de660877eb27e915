/**
 * Liveness of NSH-unaware SFs, probed through them: every interval a small
 * IPv4/UDP frame goes into the SF's ingress arm (AF_PACKET, so it leaves the
 * host-side veth as if the chain had sent it); the SF routes it like any
 * packet, and the datapath notes it in esfc_probe when it comes back out
 * (bpf/lib/probe.h). An SF is alive while one of its last `misses` probes
 * came back. Only transitions are reported: at 100 probes per second per SF,
 * anything per probe would drown the log.
 */
import koffi from 'koffi';
import { AF_PACKET, libcSockets as api, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW } from '../kernel/libc-sockets.js';
import { ipv4ToBytes, macToBytes } from '../datapath/struct-codec.js';
import { PROBE_MAGIC, PROBE_PAYLOAD_LEN, PROBE_PORT, probeSeenCodec } from '../datapath/layout.js';

export interface ProbeTarget {
  /** The SF's name (the config's `function`): what onChange reports. */
  fn: string;
  /** esfc_port.sf_id of the SF's arms: the datapath records the probe under it. */
  sfId: number;
  /** Host-side interface of the SF's ingress arm: the probe leaves through it. */
  ifindex: number;
  /** That interface's MAC (Ethernet source). */
  srcMac: string;
  /** MAC of the SF's arm behind it (Ethernet destination). */
  dstMac: string;
  /** IPv4 source and destination: addresses the SF routes out of its egress arm. */
  source: string;
  destination: string;
  intervalMs: number;
}

/** What the datapath last saw come back for an SF (esfc_probe). */
export type ProbeRead = (sfId: number) => { ns: bigint; seq: number } | undefined;

export interface ProbeDetail {
  /** Sequence number of the newest probe back since the target was set; undefined: none yet. */
  lastSeq: number | undefined;
  /** Milliseconds since it came back (datapath clock at arrival, agent clock now). */
  sinceMs: number | undefined;
  /** Its round trip through the SF, microseconds. */
  rttUs: number | undefined;
  /** Probes sent since the target was set, and how many of the newest went unanswered. */
  sent: number;
  unanswered: number;
  /** sendto() failures since the target was set (an arm down, for one). */
  sendErrors: number;
}

export type ProbeChange = (fn: string, alive: boolean, detail: ProbeDetail) => void;

/** Reader of esfc_probe through anything with BpfMap's lookup (one syscall per call). */
export function probeMapReader(map: { lookup(key: Buffer): Buffer | undefined }): ProbeRead {
  const key = Buffer.alloc(4);
  return (sfId) => {
    // The key is a host-order __u32, like every key the agent writes.
    key.writeUInt32LE(sfId >>> 0);
    const v = map.lookup(key);
    if (!v) return undefined;
    const seen = probeSeenCodec.decode(v);
    return { ns: seen.ns, seq: seen.seq };
  };
}

const ETH_LEN = 14;
const IPV4_LEN = 20;
const UDP_LEN = 8;
const PAYLOAD_OFF = ETH_LEN + IPV4_LEN + UDP_LEN;
export const PROBE_FRAME_LEN = PAYLOAD_OFF + PROBE_PAYLOAD_LEN;
const SEQ_OFF = PAYLOAD_OFF + 12;
const SENT_OFF = PAYLOAD_OFF + 16;

function ipv4Checksum(h: Buffer): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += h.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * A probe frame: Ethernet / IPv4 (TTL 64, DF, no options) / UDP to PROBE_PORT
 * (checksum 0: optional over IPv4, and the payload is checked by its magic) /
 * magic, sf_id, seq, sent time. Only seq and the time change between probes,
 * and the IPv4 checksum does not cover them, so the prober patches one
 * template per target.
 */
export function probeFrame(t: Pick<ProbeTarget, 'sfId' | 'srcMac' | 'dstMac' | 'source' | 'destination'>, seq: number, sentNs: bigint): Buffer {
  const f = Buffer.alloc(PROBE_FRAME_LEN);
  macToBytes(t.dstMac).copy(f, 0);
  macToBytes(t.srcMac).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = f.subarray(ETH_LEN, ETH_LEN + IPV4_LEN);
  ip[0] = 0x45;
  ip.writeUInt16BE(IPV4_LEN + UDP_LEN + PROBE_PAYLOAD_LEN, 2);
  ip.writeUInt16BE(0x4000, 6); // DF: a probe is never fragmented (the datapath ignores fragments)
  ip[8] = 64;
  ip[9] = 17;
  ipv4ToBytes(t.source).copy(ip, 12);
  ipv4ToBytes(t.destination).copy(ip, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  f.writeUInt16BE(PROBE_PORT, ETH_LEN + IPV4_LEN);
  f.writeUInt16BE(PROBE_PORT, ETH_LEN + IPV4_LEN + 2);
  f.writeUInt16BE(UDP_LEN + PROBE_PAYLOAD_LEN, ETH_LEN + IPV4_LEN + 4);
  f.writeBigUInt64BE(PROBE_MAGIC, PAYLOAD_OFF);
  f.writeUInt32BE(t.sfId >>> 0, PAYLOAD_OFF + 8);
  f.writeUInt32BE(seq >>> 0, SEQ_OFF);
  f.writeBigUInt64BE(sentNs, SENT_OFF);
  return f;
}

/**
 * The judgement, apart from timers and sockets. Sequence numbers start at a
 * random value so that what a previous agent left in esfc_probe is not taken
 * for an answer; a seq counts only if this judge sent it.
 */
export class LivenessJudge {
  /** Probes sent so far; the next one carries start + sent. */
  sent = 0;
  /** Offset (seq - start) of the newest probe back, -1: none. */
  private back = -1;
  private backNs = 0n;
  /** Send times of recent probes, by offset modulo their length (round trips). */
  private readonly sentAt: bigint[] = new Array<bigint>(64).fill(0n);

  constructor(readonly misses: number, readonly start: number = (Math.random() * 2 ** 32) >>> 0) {}

  /** The seq of the next probe; call sentProbe() once it is out. */
  nextSeq(): number {
    return (this.start + this.sent) >>> 0;
  }

  sentProbe(ns: bigint): void {
    this.sentAt[this.sent % this.sentAt.length] = ns;
    this.sent++;
  }

  /** What the datapath holds now: remember it if it is an answer newer than the last. */
  observe(seen: { ns: bigint; seq: number } | undefined): void {
    if (!seen) return;
    const off = (seen.seq - this.start) >>> 0;
    if (off >= this.sent || off <= this.back) return;
    this.back = off;
    this.backNs = seen.ns;
  }

  /** How many of the newest probes are unanswered (all of them when none came back). */
  get unanswered(): number {
    return this.sent - 1 - this.back;
  }

  /**
   * Alive while one of the last `misses` probes came back; undefined before
   * the first judgement (no answer yet, and fewer than `misses` sent).
   */
  verdict(): boolean | undefined {
    if (this.back >= 0 && this.unanswered < this.misses) return true;
    return this.sent >= this.misses ? false : undefined;
  }

  detail(nowNs: bigint, sendErrors: number): ProbeDetail {
    const any = this.back >= 0;
    const sentNs = any && this.sent - this.back <= this.sentAt.length ? this.sentAt[this.back % this.sentAt.length]! : 0n;
    return {
      lastSeq: any ? (this.start + this.back) >>> 0 : undefined,
      sinceMs: any ? Math.max(0, Number(nowNs - this.backNs) / 1e6) : undefined,
      rttUs: any && sentNs ? Math.max(0, Number(this.backNs - sentNs) / 1e3) : undefined,
      sent: this.sent,
      unanswered: this.unanswered,
      sendErrors,
    };
  }
}

const ETH_P_IP = 0x0800;

/** struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8]. */
function sockaddrLl(ifindex: number, dstMac: string): Buffer {
  const a = Buffer.alloc(20);
  a.writeUInt16LE(AF_PACKET, 0);
  a.writeUInt16BE(ETH_P_IP, 2);
  a.writeInt32LE(ifindex, 4);
  a[11] = 6;
  macToBytes(dstMac).copy(a, 12);
  return a;
}

/** Sends frames out of interfaces by ifindex; receives nothing. */
export interface FrameSender {
  send(ifindex: number, addr: Buffer, frame: Buffer): boolean;
  close(): void;
}

/**
 * One AF_PACKET socket for every target. Protocol 0: the kernel queues no
 * received frame on it, so it costs nothing but the sends. Non-blocking: a
 * stuck interface loses a probe (which is what it should say) instead of
 * stalling the agent.
 */
export function openPacketSender(): FrameSender {
  const c = api();
  const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const e = koffi.errno();
    throw new Error(`AF_PACKET socket for SF liveness probes: errno ${e}${e === 1 ? ' (needs CAP_NET_RAW)' : ''}`);
  }
  let open = true;
  return {
    send: (_ifindex, addr, frame) => open && c.sendto(fd, frame, frame.length, 0, addr, addr.length) === frame.length,
    close: () => {
      if (open) c.close(fd);
      open = false;
    },
  };
}

interface TargetState {
  target: ProbeTarget;
  judge: LivenessJudge;
  frame: Buffer;
  addr: Buffer;
  /** What was last reported; undefined before the first judgement. */
  alive: boolean | undefined;
  sendErrors: number;
}

const sameTarget = (a: ProbeTarget, b: ProbeTarget): boolean =>
  a.sfId === b.sfId && a.ifindex === b.ifindex && a.srcMac === b.srcMac && a.dstMac === b.dstMac &&
  a.source === b.source && a.destination === b.destination && a.intervalMs === b.intervalMs;

export interface SfProberOptions {
  /** Unanswered probes in a row that make an SF not alive (default 3). */
  misses?: number;
  /** How frames leave (default: an AF_PACKET socket, opened with the first target). */
  sender?: () => FrameSender;
}

export class SfProber {
  /** Called on each transition, and on the first judgement of a target. */
  onChange: ProbeChange = () => {};
  private readonly misses: number;
  private readonly targets = new Map<string, TargetState>();
  /**
   * One timer per distinct interval, ticking every target that has it: a
   * timer wake-up costs the agent far more than a probe does (about 100 us
   * against 1 us of JavaScript and two syscalls, measured on a loaded 2-core VM).
   */
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private sender: FrameSender | undefined;
  private readonly openSender: () => FrameSender;

  constructor(private readonly read: ProbeRead, o: SfProberOptions = {}) {
    this.misses = o.misses ?? 3;
    if (!Number.isInteger(this.misses) || this.misses < 1) throw new RangeError(`misses must be a positive integer, got ${this.misses}`);
    this.openSender = o.sender ?? openPacketSender;
  }

  /**
   * The SFs to probe from now on. An unchanged target keeps its judgement; a
   * changed one starts judging afresh but keeps what was last reported, so
   * only a real change of state is reported. Throws, changing nothing, on a
   * malformed target.
   */
  set(targets: ProbeTarget[]): void {
    const wanted = new Map(targets.map((t) => [t.fn, t]));
    if (wanted.size !== targets.length) throw new Error('SF liveness probes: two targets with the same fn');
    for (const t of targets) {
      if (!(t.intervalMs >= 1)) throw new RangeError(`SF ${t.fn}: probe interval ${t.intervalMs} ms`);
      probeFrame(t, 0, 0n); // addresses and MACs checked before anything changes
    }
    if (wanted.size && !this.sender) this.sender = this.openSender();
    const carried = new Map<string, boolean | undefined>();
    for (const [fn, st] of this.targets) {
      const t = wanted.get(fn);
      if (t && sameTarget(t, st.target)) continue;
      if (t) carried.set(fn, st.alive);
      this.targets.delete(fn);
    }
    const fresh: TargetState[] = [];
    for (const t of targets) {
      if (this.targets.has(t.fn)) continue;
      const st: TargetState = {
        target: { ...t },
        judge: new LivenessJudge(this.misses),
        frame: probeFrame(t, 0, 0n),
        addr: sockaddrLl(t.ifindex, t.dstMac),
        alive: carried.get(t.fn),
        sendErrors: 0,
      };
      this.targets.set(t.fn, st);
      fresh.push(st);
    }
    const intervals = new Set(targets.map((t) => t.intervalMs));
    for (const [ms, timer] of this.timers) {
      if (intervals.has(ms)) continue;
      clearInterval(timer);
      this.timers.delete(ms);
    }
    for (const ms of intervals) {
      if (this.timers.has(ms)) continue;
      const timer = setInterval(() => this.tickAll(ms), ms);
      timer.unref();
      this.timers.set(ms, timer);
    }
    // The first probe now, not an interval from now: the first judgement comes one interval sooner.
    for (const st of fresh) this.tick(st);
    if (!this.targets.size) this.closeSender();
  }

  /** The current verdicts (undefined: not judged yet). */
  states(): Map<string, boolean | undefined> {
    return new Map([...this.targets].map(([fn, st]) => [fn, st.alive]));
  }

  stop(): void {
    for (const timer of this.timers.values()) clearInterval(timer);
    this.timers.clear();
    this.targets.clear();
    this.closeSender();
  }

  private closeSender(): void {
    this.sender?.close();
    this.sender = undefined;
  }

  private tickAll(intervalMs: number): void {
    for (const st of this.targets.values()) if (st.target.intervalMs === intervalMs) this.tick(st);
  }

  /** One interval of one target: read what came back, judge, send the next probe. */
  private tick(st: TargetState): void {
    try {
      st.judge.observe(this.read(st.target.sfId));
    } catch {
      // A failed read is an unanswered probe: the judgement says so after `misses`.
    }
    const now = process.hrtime.bigint();
    const verdict = st.judge.verdict();
    if (verdict !== undefined && verdict !== st.alive) {
      st.alive = verdict;
      this.onChange(st.target.fn, verdict, st.judge.detail(now, st.sendErrors));
    }
    st.frame.writeUInt32BE(st.judge.nextSeq(), SEQ_OFF);
    st.frame.writeBigUInt64BE(now, SENT_OFF);
    if (!this.sender?.send(st.target.ifindex, st.addr, st.frame)) st.sendErrors++;
    st.judge.sentProbe(now);
  }
}
