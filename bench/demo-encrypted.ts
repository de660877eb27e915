/**
 * The encrypted half of `esfc demo`: DESIGN.md's scenario with its six EFs.
 * e-mail (TCP 25) goes SF1 -> EF1 -> EF2 -> SF3, web (TCP 80) goes
 * SF1 -> EF3 -> EF4 -> SF2 -> EF5 -> EF6 -> SF3, provisioned through the
 * controller: the intent says which domain is untrusted, the controller places
 * the EF pairs and generates their keys. Shows what ISP-B sees on its underlay
 * (tshark) and the SAs in the EFs. Needs a kernel with ESP: `esfc demo` runs
 * this in the kernel lab when the host has none.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROBE_MARKER, runProbe } from '../scenario/udp-probe.js';
import { planEncryptedScenario } from '../scenario/encrypted.js';
import { ControllerProcess } from '../scenario/controller-process.js';
import { DESIGN_FLOWS, scenarioIntent } from '../scenario/intent.js';
import { ScenarioNet } from '../scenario/net.js';
import { captureUnderlay, parseUl } from '../scenario/capture.js';
import { nsh, sh, spawnInNs, stopProcess, waitForLine } from '../scenario/sh.js';

const ECHO = "const n=require('net');for(const p of [25,80]){n.createServer(s=>s.pipe(s)).listen(p)};console.log('listening')";
const client = (port: number, text: string): string =>
  `const s=require('net').connect(${port},'172.16.2.1',()=>s.write(${JSON.stringify(text)}));let b='';s.on('data',d=>{b+=d;if(b.length>=${text.length}){console.log(b);s.end()}});s.setTimeout(60000,()=>{console.log('timeout');process.exit(1)})`;

export async function demoEncrypted(slow: number): Promise<number> {
  const out = (s: string): void => { process.stdout.write(s); };
  const ep = planEncryptedScenario();
  out('\nencrypted scenario: nodes A (ISP-A), B (ISP-B), C (ISP-C); EF1, EF3 at A; EF4, EF5 at B; EF2, EF6 at C\n');
  out('  e-mail (TCP/UDP 25, 110): client -> SF1 -> EF1 => EF2 -> SF3 -> server\n');
  out('  web    (TCP/UDP 80, 443): client -> SF1 -> EF3 => EF4 -> SF2 -> EF5 => EF6 -> SF3 -> server\n');
  const net = await ScenarioNet.build(ep.base, { encrypted: ep }, 'demoe');
  const dir = mkdtempSync(join(tmpdir(), 'esfc-demo-ctl-'));
  const ctl = new ControllerProcess(dir);
  try {
    const bundles = await ctl.enroll([['operator', 'demo'], ...ep.base.nodes.map((n) => ['agent', n.name] as ['agent', string])]);
    await ctl.start();
    for (const node of ep.base.nodes) {
      out(`  starting agent ${node.name} (controller mode)\n`);
      await net.startControllerAgent(node.name, ctl.endpoint, bundles.get(`agent:${node.name}`)!);
    }
    const op = ctl.client(bundles.get('operator:demo')!);
    out('  PUT /restconf/data: ISP-B untrusted; EF slots on the nodes; flows mail and web, sensitive\n');
    await op.ok('PUT', '/restconf/data', { 'ietf-restconf:data': scenarioIntent(ep.base, { efs: ep.efs, nsOf: (e) => net.ns(e), flows: DESIGN_FLOWS }) });
    await op.converged(120_000 * slow);
    out('  the controller placed six EFs in three pairs per direction and sent each agent its pairs\' keys\n');
    const srv = spawnInNs(net.ns('server'), [process.execPath, '-e', ECHO]);
    await waitForLine(srv, (l) => l.includes('listening'), 30_000 * slow);
    const replies: string[] = [];
    const cap = await captureUnderlay(net, slow, async () => {
      for (const port of [25, 80]) {
        const text = `${PROBE_MARKER.toString()} over port ${port}`;
        replies.push((await nsh(net.ns('client'), [process.execPath, '-e', client(port, text)], { timeoutMs: 90_000 * slow })).trim());
      }
    });
    await stopProcess(srv);
    out(`\n$ echo through port 25 and port 80 (the server echoes)\n${replies.map((r) => `  ${r}`).join('\n')}\n`);
    out('\nwhat ISP-B captures on the underlay (tshark: outer addresses, NSH SPI/SI/MD type; MD type 3 = encrypted hop):\n');
    const ts = await sh(['tshark', '-r', cap.file, '-T', 'fields', '-E', 'separator= ', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'nsh.spi', '-e', 'nsh.si', '-e', 'nsh.mdtype']);
    const counts = new Map<string, number>();
    for (const l of ts.trim().split('\n').filter(Boolean)) counts.set(l.replace(/,\S+/g, ''), (counts.get(l.replace(/,\S+/g, '')) ?? 0) + 1);
    out('  src        dst        spi si md  frames\n');
    for (const [k, n] of [...counts].sort()) out(`  ${k.padEnd(40)} ${n}\n`);
    const frames = cap.records.map(parseUl).filter((u) => u !== undefined);
    const leaked = cap.records.some((r) => r.frame.includes(PROBE_MARKER));
    out(`  ${frames.length} frames; every one MD type 3 with E=1 and ESP inside: ${frames.every((u) => u.mdType === 3 && u.e && u.innerProto === 50) ? 'yes' : 'NO'}; payload text found on the underlay: ${leaked ? 'YES' : 'no'}\n`);
    cap.cleanup();

    out('\n$ esfc agent status --pin-dir ...   (node A, EF part: SAs with their SPIs and counters, never a key)\n');
    const st = await net.cli('node-a', ['agent', 'status', '--pin-dir', net.configs.get('node-a')!.node.pinDir]);
    out(st.slice(st.indexOf('\nef ') + 1));

    out('\n$ esfc ctl rekey --flow mail   (while UDP to port 110, the e-mail flow, runs at 64 pps)\n');
    let espis: number[] = [];
    const done = (e: number): boolean => ctl.logs.some((l) => l.event === 'rekey_done' && l.espi === e);
    const r = await runProbe(net, '172.16.2.1', 110, Math.round(15 * slow), async () => {
      const res = JSON.parse((await op.ok('POST', '/restconf/operations/esfc-intent:rekey', { 'esfc-intent:input': { flow: 'mail' } })).text) as { 'esfc-intent:output': { 'e-spi': number[] } };
      espis = res['esfc-intent:output']['e-spi'];
      out(`  key change started for E-SPI ${espis.join(', ')}\n`);
      const deadline = Date.now() + 60_000 * slow;
      while (!espis.every(done) && Date.now() < deadline) await new Promise((res2) => setTimeout(res2, 100));
    }, slow);
    for (const l of ctl.logs.filter((x) => String(x.event).startsWith('rekey_') && espis.includes(x.espi as number))) {
      out(`  ${String(l.event).padEnd(13)} E-SPI ${String(l.espi)}${l.step ? ` ${String(l.step).padEnd(8)} nodes ${JSON.stringify(l.nodes)}` : ''}${l.epoch !== undefined ? ` epoch ${String(l.epoch)}` : ''}${l.ms !== undefined ? ` ${String(l.ms)} ms` : ''}\n`);
    }
    const rekeyed = espis.length > 0 && espis.every(done);
    out(`  probe: ${r.total} sent, ${r.lost} lost; keys changed (new inbound at the decrypting end, new outbound at the encrypting end, old removed): ${rekeyed ? 'yes' : 'NO'}\n`);
    return replies.every((x) => x.includes(PROBE_MARKER.toString())) && !leaked && rekeyed && r.lost === 0 ? 0 : 1;
  } finally {
    out('\ncleaning up the encrypted scenario\n');
    await net.destroy();
    await ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
