/**
 * `esfc demo`, act 3: protection (scenario/protection.ts). Four nodes, the
 * chain SF1 (A) -> SF2 (B) -> SF3 (C) with SF4 on A standing in for SF1 and
 * SF5 on D for SF2; under a 64 pps probe SF1's link goes down, node A's agent
 * moves the chain to SF4 by itself, the controller then places SF4; SF1 comes
 * back and gets its place again after the hold-down. Then the same without
 * protection: SF3 fails and the controller places the spare SF6.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerProcess, type RestconfClient } from '../scenario/controller-process.js';
import { ScenarioNet } from '../scenario/net.js';
import { protectionIntent, protectionPlan, sfLinkDown, sfLinkUp, sfRx } from '../scenario/protection.js';
import { runProbe } from '../scenario/udp-probe.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function demoProtection(): Promise<number> {
  const out = (x: string): void => { process.stdout.write(x); };
  const plan = protectionPlan();
  out('\nact 3, protection: four nodes in a row (client at A, server at D); the chain sf1 (A) -> sf2 (B) -> sf3 (C)\n');
  out('  sf4 on A stands in for sf1, sf5 on D for sf2; sf3 is not protected, sf6 on C is a spare firewall; every SF probed every 10 ms, hold-down 1 s\n');
  const net = await ScenarioNet.build(plan, {}, 'dprot');
  const dir = mkdtempSync(join(tmpdir(), 'esfc-demo-prot-'));
  const ctl = new ControllerProcess(dir);
  try {
    const bundles = await ctl.enroll([['operator', 'demo'], ...plan.nodes.map((n) => ['agent', n.name] as ['agent', string])]);
    await ctl.start();
    for (const n of plan.nodes) await net.startControllerAgent(n.name, ctl.endpoint, bundles.get(`agent:${n.name}`)!);
    const op: RestconfClient = ctl.client(bundles.get('operator:demo')!);
    await op.ok('PUT', '/restconf/data', { 'ietf-restconf:data': protectionIntent(plan, { probeIntervalMs: 10, holdDownMs: 1000 }) });
    await op.converged();
    out('  provisioned through RESTCONF; node A\'s hop into sf1 names sf4 as its standby, node B\'s into sf2 names node D\n');
    let failed = 0;
    for (const [sf, standby, node, how] of [['sf1', 'sf4', 'node-a', 'its agent switches to the standby'], ['sf3', 'sf6', 'node-c', 'the controller places the spare']] as const) {
      const from = net.logs.get(node)!.length;
      const cfrom = ctl.logs.length;
      const rx = await sfRx(net, standby);
      const r = await runProbe(net, plan.server.ip, sf === 'sf1' ? 7400 : 7410, 5, async () => {
        await sleep(1000);
        out(`\n$ ip -n <${sf}'s namespace> link set eth0 down     (${sf} fails; ${how})\n`);
        await sfLinkDown(net, sf);
        await ctl.waitForLog((l) => l.event === 'sf_reprovision', cfrom, 20_000);
        await op.converged();
        await sleep(1000);
      });
      const events = net.logs.get(node)!.slice(from).filter((l) => ['sf_down', 'failover_switched'].includes(String(l.event)));
      for (const e of events) out(`  ${node}: ${JSON.stringify({ event: e.event, ...(e.reason ? { reason: e.reason } : {}), ...(e.ms !== undefined ? { ms: e.ms } : {}) })}\n`);
      const re = ctl.logs.slice(cfrom).find((l) => l.event === 'sf_reprovision');
      if (re) out(`  controller: ${JSON.stringify({ event: re.event, down: re.down, nodesToChange: re.nodesToChange })}\n`);
      out(`  probe: ${r.total} sent, ${r.lost} lost, longest gap ${r.maxGapMs?.toFixed(0) ?? '?'} ms (the paper: ${sf === 'sf1' ? '5.0 s with protection' : '211 s without'}); ${standby} received ${(await sfRx(net, standby)) - rx} packets (the chain's and its liveness probes)\n`);
      if ((await sfRx(net, standby)) === rx) failed++;
      const back = await runProbe(net, plan.server.ip, sf === 'sf1' ? 7401 : 7411, 5, async () => {
        await sleep(500);
        out(`$ ip -n <${sf}'s namespace> link set eth0 up       (${sf} is back; it gets its place again after the 1 s hold-down)\n`);
        await sfLinkUp(net, sf);
        await ctl.waitForLog((l) => l.event === 'sf_reprovision' && (l.up as string[]).includes(sf), cfrom, 20_000);
        await op.converged();
        await sleep(800);
      });
      out(`  probe while ${sf} came back: ${back.total} sent, ${back.lost} lost\n`);
      if (back.lost) failed++;
    }
    return failed ? 1 : 0;
  } finally {
    out('\ncleaning up act 3\n');
    await net.destroy();
    await ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
