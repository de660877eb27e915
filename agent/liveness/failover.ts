/**
 * Protection, as the agent applies it: a position whose SF is down goes to
 * its standby. Pure: the configuration the datapath is compiled from, given
 * the functions judged down and the interfaces that exist.
 *
 * The switched hop keeps the primary as its `standby`, so the primary's ports
 * stay valid sources: packets still inside it when it failed, or inside the
 * standby when traffic moves back, are not dropped on their way out.
 */
import type { HopConfig, HopTarget, NodeConfig } from '../config/types.js';

export interface Switched {
  spi: number;
  si: number;
  /** The SF that failed, and where its position goes now. */
  function: string;
  to: HopTarget;
}

export interface FailoverResult {
  cfg: NodeConfig;
  switched: Switched[];
  /** Positions whose SF is down with nowhere to go (unprotected): their packets are dropped until the controller places the SF again. */
  stranded: { spi: number; si: number; function: string }[];
}

const targetId = (t: HopTarget): string => ('port' in t ? `port:${t.port}` : 'node' in t ? `node:${t.node}` : `deliver:${t.deliver}`);

/** A stable name for a set of switches, to tell whether the datapath must change. */
export const switchesId = (s: readonly Switched[]): string => s.map((x) => `${x.spi}/${x.si}>${targetId(x.to)}`).sort().join(',');

export function withFailover(cfg: NodeConfig, down: ReadonlySet<string>, hasInterface: (ifname: string) => boolean): FailoverResult {
  const fnOf = new Map(cfg.ports.map((p) => [p.name, p.function]));
  const sfPorts = new Set(cfg.ports.filter((p) => p.kind === 'sf' || p.kind === 'sf-proxy').map((p) => p.name));
  const isDown = (t: HopTarget | undefined): boolean => !!t && 'port' in t && down.has(fnOf.get(t.port) ?? '');
  // A down SF whose interfaces are gone (its namespace deleted) cannot be programmed at all.
  const gone = new Set(cfg.ports.filter((p) => (p.kind === 'sf' || p.kind === 'sf-proxy') && p.function && down.has(p.function) && !hasInterface(p.interface)).map((p) => p.name));
  const switched: Switched[] = [];
  const stranded: FailoverResult['stranded'] = [];
  const paths = cfg.paths.map((path) => ({
    ...path,
    hops: path.hops.flatMap((h): HopConfig[] => {
      // An EF that is down has no standby here: the controller moves its pairs to another EF.
      if (path.layer !== 'sf' || !isDown(h.to) || !('port' in h.to && sfPorts.has(h.to.port))) return [h];
      const fn = fnOf.get((h.to as { port: string }).port)!;
      if (h.standby && !isDown(h.standby) && !('port' in h.standby && gone.has(h.standby.port))) {
        switched.push({ spi: path.spi, si: h.si, function: fn, to: h.standby });
        const out: HopConfig = { ...h, to: h.standby };
        if (gone.has((h.to as { port: string }).port)) delete out.standby;
        else out.standby = h.to;
        return [out];
      }
      stranded.push({ spi: path.spi, si: h.si, function: fn });
      return gone.has((h.to as { port: string }).port) ? [] : [h];
    }),
  }));
  if (!switched.length && !gone.size) return { cfg, switched, stranded };
  return { cfg: { ...cfg, ports: cfg.ports.filter((p) => !gone.has(p.name)), paths }, switched, stranded };
}
