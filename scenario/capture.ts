/**
 * Captures what crosses the scenario's underlay (the bridge standing in for
 * ISP-B's transit) and decodes esfc's frames on it, for tests and the demo.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap, type PcapRecord } from './pcap.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
import type { ScenarioNet } from './net.js';
import { spawnInNs, stopProcess } from './sh.js';

export interface Ul { ts: number; src: string; dst: string; spi: number; si: number; mdType: number; espi: number; e: boolean; epoch: number; innerProto: number; espSpi: number; espSeq: number; udpPayload: Buffer }

/** Ethernet/IPv4/UDP 4790/VXLAN-GPE/NSH, decoded; undefined for anything else. */
export function parseUl(r: PcapRecord): Ul | undefined {
  const f = r.frame;
  if (f.length < 14 + 20 + 8 + 8 + 8 || f.readUInt16BE(12) !== 0x0800 || f[23] !== 17 || f.readUInt16BE(36) !== 4790) return undefined;
  const ip = (o: number): string => `${f[o]}.${f[o + 1]}.${f[o + 2]}.${f[o + 3]}`;
  const n = 50;
  const mdType = f[n + 2]! & 0x0f;
  const w = f.readUInt32BE(n + 4);
  const len = (f.readUInt16BE(n) & 0x3f) * 4;
  const md3 = mdType === 3 && f.length >= n + 16;
  const innerAt = n + len;
  return {
    ts: r.ts, src: ip(26), dst: ip(30), spi: w >>> 8, si: w & 0xff, mdType,
    espi: md3 ? f.readUInt32BE(n + 8) >>> 8 : 0, e: md3 ? (f.readUInt32BE(n + 12) & 0x80000000) !== 0 : false,
    epoch: md3 ? f.readUInt32BE(n + 12) & 0xffff : 0,
    innerProto: f.length > innerAt + 9 ? f[innerAt + 9]! : -1,
    espSpi: f.length >= innerAt + 28 ? f.readUInt32BE(innerAt + 20) : 0,
    espSeq: f.length >= innerAt + 28 ? f.readUInt32BE(innerAt + 24) : 0,
    udpPayload: f.subarray(42),
  };
}

/** Resolves once tcpdump has told stderr it is listening; rejects when it exits first or after timeoutMs. */
function listening(p: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`tcpdump not listening after ${timeoutMs} ms: ${err.slice(-500)}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      err += d.toString();
      if (!err.includes('listening on')) return;
      clearTimeout(timer);
      p.stderr!.off('data', onData);
      resolve();
    };
    p.stderr!.on('data', onData);
    p.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tcpdump exited (${code ?? 'signal'}) before listening: ${err.slice(-500)}`)); });
  });
}

/**
 * Everything that crosses the underlay while `during` runs: every frame on
 * the bridge all inter-node traffic crosses (ISP-B's network), unfiltered,
 * and every frame the transit host's link sees. `records` has both;
 * `file` is the bridge capture (for tshark).
 */
export async function captureUnderlay(net: ScenarioNet, slow: number, during: () => Promise<unknown>): Promise<{ records: PcapRecord[]; file: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'esfc-enc-cap-'));
  const file = join(dir, 'isp-b.pcap');
  const transitFile = join(dir, 'transit.pcap');
  const caps = [
    spawnInNs(net.ns('ul'), ['tcpdump', '-i', 'br0', '-n', '-U', '-s', '0', '-w', file]),
    spawnInNs(net.ns('transit'), ['tcpdump', '-i', 'eth0', '-n', '-U', '-s', '0', '-w', transitFile]),
  ];
  try {
    // tcpdump says "listening on" once it captures: what is sent before that would be missing.
    await Promise.all(caps.map((c) => listening(c, 30_000 * slow)));
    await during();
    await sleep(300 * slow);
  } finally {
    for (const c of caps) await stopProcess(c, 'SIGINT');
  }
  const records = [file, transitFile].flatMap((f) => readPcap(readFileSync(f)));
  return { records, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

