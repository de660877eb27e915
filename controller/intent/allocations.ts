/**
 * Numbers the compiler hands out and must keep: SPIs of flow paths, E-SPIs of
 * EF pairs, and which EF slot does which end of a pair. They are kept between
 * compilations (the controller stores them with the intent), so that adding or
 * editing one chain never renumbers another: an SPI in use stays with its
 * flow path until the path goes, and a freed number is not handed out again.
 */

export interface Allocations {
  /** "flow/direction" -> SPI. */
  spis: Record<string, number>;
  /**
   * "flow/direction" -> what the path was when its SPI was handed out (its
   * elements, nodes and EF pairs). A path that changes gets a new SPI, so the
   * old one can keep forwarding packets in flight while the new one is set up
   * (make before break), and no SI ever changes meaning under a packet.
   */
  signatures?: Record<string, string>;
  /** "flow/direction/from>to" -> E-SPI of the EF pair between those two elements. */
  espis: Record<string, number>;
  /** "flow/direction/from>to/enc|dec" -> EF slot name on that end's node. */
  efs: Record<string, string>;
  /** Next numbers to hand out (never reused). */
  nextSpi: number;
  nextEspi: number;
}

export const MAX_SPI = 0xffffff;

export function emptyAllocations(): Allocations {
  return { spis: {}, signatures: {}, espis: {}, efs: {}, nextSpi: 1, nextEspi: 1 };
}

/** A working copy: lookups of what exists, new numbers on demand, and only what was used survives. */
export class Allocator {
  private readonly used: Allocations = emptyAllocations();

  constructor(private readonly prev: Allocations) {
    this.used.nextSpi = prev.nextSpi;
    this.used.nextEspi = prev.nextEspi;
  }

  /** The path's SPI: the one it had while it stays the same path; a new one when it changed. */
  spi(id: string, signature: string): number {
    const had = this.prev.spis[id];
    const was = this.prev.signatures?.[id];
    // A number handed out before signatures were kept is adopted as it is.
    const same = had !== undefined && (was === undefined || was === signature);
    this.used.signatures![id] = signature;
    return (this.used.spis[id] ??= same ? had : this.fresh('nextSpi'));
  }

  espi(id: string): number {
    return (this.used.espis[id] ??= this.prev.espis[id] ?? this.fresh('nextEspi'));
  }

  /** The EF slot this end of a pair had, if it still exists (fresh: false); otherwise `choose()` picks one. */
  ef(id: string, stillThere: (name: string) => boolean, choose: () => string | undefined): { name: string; fresh: boolean } | undefined {
    const had = this.used.efs[id] ?? this.prev.efs[id];
    const fresh = had === undefined || !stillThere(had);
    const name = fresh ? choose() : had;
    if (name === undefined) return undefined;
    this.used.efs[id] = name;
    return { name, fresh };
  }

  private fresh(which: 'nextSpi' | 'nextEspi'): number {
    const n = this.used[which];
    if (n > MAX_SPI) throw new RangeError(`out of ${which === 'nextSpi' ? 'SPIs' : 'E-SPIs'} (24 bits)`);
    this.used[which] = n + 1;
    return n;
  }

  result(): Allocations {
    return this.used;
  }
}
