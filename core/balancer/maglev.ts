/**
 * maglev: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted as Envoy does.
 * A lookup table of prime size M (default 65 537) is filled by letting the selectable endpoints
 * take turns claiming their next preferred free slot, each following its own permutation
 * offset + j * skip (mod M), with offset = murmur3(id) mod M and skip = murmur3'(id) mod (M - 1) + 1.
 * Weights: an endpoint takes a turn in round r only while r * (weight / max weight) has reached
 * the turns it already took, so slots end up proportional to weight.
 * pick = table[murmur3(key) mod M]: O(1). Without a hashKey a pick takes a uniformly random slot.
 *
 * Endpoints take turns in id order and permutations depend only on ids, so every sidecar builds
 * the same table from the same set. When one of N endpoints leaves, its ~1/N of the slots move,
 * plus a small extra share (the paper's "minimal disruption" is near-minimal, not minimal).
 * Building costs about M log M steps (a few ms for the default M); keep M >= 100 x endpoints
 * for an even spread.
 */
import { EndpointSet } from './endpoints.js';
import { murmur3, SEED_KEY, SEED_OFFSET, SEED_SKIP } from './hash.js';
import type { Balancer, Endpoint, PickContext, RandomSource } from './types.js';

export class MaglevBalancer implements Balancer {
  readonly kind = 'maglev' as const;
  private readonly set = new EndpointSet();
  /** Slot → endpoint index; empty when nothing is selectable. */
  private table = new Int32Array(0);

  constructor(
    private readonly random: RandomSource,
    private readonly tableSize: number,
  ) {}

  update(endpoints: readonly Endpoint[]): void {
    if (this.set.replace(endpoints) === null) return;
    const set = this.set;
    const sel = set.selectable();
    const n = sel.length;
    if (n === 0) {
      this.table = new Int32Array(0);
      return;
    }
    const m = this.tableSize;
    let maxWeight = 0;
    for (let k = 0; k < n; k++) maxWeight = Math.max(maxWeight, set.weights[sel[k]!]!);
    const weight = new Float64Array(n);
    const turns = new Float64Array(n);
    const next = new Int32Array(n);
    const skip = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const id = set.ids[sel[k]!]!;
      weight[k] = set.weights[sel[k]!]! / maxWeight;
      next[k] = murmur3(id, SEED_OFFSET) % m;
      skip[k] = (murmur3(id, SEED_SKIP) % (m - 1)) + 1;
    }
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    for (let round = 1; filled < m; round++) {
      for (let k = 0; k < n && filled < m; k++) {
        if (round * weight[k]! < turns[k]!) continue;
        turns[k]!++;
        const s = skip[k]!;
        let c = next[k]!;
        while (table[c] !== -1) {
          c += s;
          if (c >= m) c -= m;
        }
        table[c] = sel[k]!;
        c += s;
        next[k] = c >= m ? c - m : c;
        filled++;
      }
    }
    this.table = table;
  }

  pick(ctx: PickContext): Endpoint | null {
    const table = this.table;
    const m = table.length;
    if (m === 0) return null;
    let slot: number;
    if (ctx.hashKey !== undefined) {
      slot = murmur3(ctx.hashKey, SEED_KEY) % m;
    } else {
      slot = (this.random() * m) | 0;
      if (slot >= m) slot = m - 1;
    }
    return this.set.refs[table[slot]!]!;
  }

  onStart(_id: string, _now: number): void {}

  onEnd(_id: string, _now: number, _latencyMs: number, _ok: boolean): void {}
}
