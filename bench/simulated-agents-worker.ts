/** Worker thread of SimulatedAgents: one long-poll loop per agent, each on its own TLS connection and certificate. */
import { parentPort, workerData } from 'node:worker_threads';
import { request } from 'undici';
import { agentPaths } from '../agent/controller-link.js';
import { controllerEndpoint, readBundle } from '../controller/pki/index.js';
import { now, type Arrival, type SimulatedAgentSpec } from './simulated-agents.js';

const { controller, agents } = workerData as { controller: string; agents: SimulatedAgentSpec[] };

async function run(spec: SimulatedAgentSpec): Promise<void> {
  const { origin, dispatcher } = controllerEndpoint(controller, readBundle(spec.bundle));
  let gen: number | undefined;
  for (;;) {
    try {
      const r = await request(`${origin}${agentPaths.desired(spec.node)}?wait=30`, {
        dispatcher, headersTimeout: 60_000,
        headers: gen === undefined ? {} : { 'if-none-match': `"g${gen}"` },
      });
      const text = await r.body.text();
      if (r.statusCode !== 200) continue;
      gen = (JSON.parse(text) as { generation: number }).generation;
      parentPort!.postMessage({ node: spec.node, generation: gen, at: now() } satisfies Arrival);
      const rep = await request(`${origin}${agentPaths.report(spec.node)}`, {
        method: 'POST', dispatcher, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ desiredGeneration: gen, appliedGeneration: gen }),
      });
      await rep.body.text();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

for (const a of agents) void run(a);
parentPort!.postMessage('ready');
