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
  return { spis: {}, espis: {}, efs: {}, nextSpi: 1, nextEspi: 1 };
}

/** A working copy: lookups of what exists, new numbers on demand, and only what was used survives. */
export class Allocator {
  private readonly used: Allocations = emptyAllocations();

  constructor(private readonly prev: Allocations) {
    this.used.nextSpi = prev.nextSpi;
    this.used.nextEspi = prev.nextEspi;
  }

  spi(id: string): number {
    return (this.used.spis[id] ??= this.prev.spis[id] ?? this.fresh('nextSpi'));
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
