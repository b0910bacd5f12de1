/**
 * ring-hash: Ketama-style consistent hashing. Every selectable endpoint gets virtual nodes on a
 * 32-bit ring at murmur3(id, seed = 0, 1, 2, …); a request key goes to the first virtual node at
 * or after murmur3(key) (binary search, O(log ring)), wrapping around.
 *
 * Virtual nodes per endpoint = max(1, round(K * weight / mean weight)), with
 * K = max(vnodesPerEndpoint, ceil(minRingSize / endpoints)), scaled down if the ring would exceed
 * maxRingSize. With equal weights and enough endpoints (K = vnodesPerEndpoint, from 7 endpoints
 * with the defaults) every endpoint keeps exactly its own virtual nodes when another one leaves,
 * so only the leaver's keys move (1/N of them). Envoy instead sizes per endpoint from
 * minRingSize / N, which also reshuffles some keys between the endpoints that stay.
 * Points depend only on ids, and equal points are ordered by id, so every sidecar builds the same
 * ring from the same set. Without a hashKey a pick lands on a uniformly random point.
 */
import { EndpointSet } from './endpoints.js';
import { murmur3, SEED_KEY } from './hash.js';
import type { Balancer, Endpoint, PickContext, RandomSource } from './types.js';

export interface RingHashOptions {
  vnodesPerEndpoint: number;
  minRingSize: number;
  maxRingSize: number;
}

/** 2^20 = MAX_ENDPOINTS: the endpoint index fits below the hash when packed for sorting. */
const INDEX_SPAN = 1 << 20;

export class RingHashBalancer implements Balancer {
  readonly kind = 'ring-hash' as const;
  private readonly set = new EndpointSet();
  private points = new Uint32Array(0);
  private owners = new Int32Array(0);

  constructor(
    private readonly random: RandomSource,
    private readonly options: RingHashOptions,
  ) {}

  /** Virtual nodes on the ring (for diagnostics). */
  get ringSize(): number {
    return this.points.length;
  }

  update(endpoints: readonly Endpoint[]): void {
    if (this.set.replace(endpoints) === null) return;
    const set = this.set;
    const sel = set.selectable();
    const n = sel.length;
    const counts = new Int32Array(n);
    let total = 0;
    if (n > 0) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += set.weights[sel[k]!]!;
      const mean = sum / n;
      const { vnodesPerEndpoint, minRingSize, maxRingSize } = this.options;
      let scale = Math.max(vnodesPerEndpoint, Math.ceil(minRingSize / n)) / mean;
      let round = Math.round;
      for (let k = 0; k < n; k++) total += Math.max(1, round(set.weights[sel[k]!]! * scale));
      if (total > maxRingSize) {
        scale *= maxRingSize / total;
        round = Math.floor; // rounding down keeps the total within maxRingSize (but >= 1 each)
      }
      total = 0;
      for (let k = 0; k < n; k++) {
        counts[k] = Math.max(1, round(set.weights[sel[k]!]! * scale));
        total += counts[k]!;
      }
    }
    const packed = new Float64Array(total);
    let p = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const id = set.ids[i]!;
      for (let v = 0; v < counts[k]!; v++) packed[p++] = murmur3(id, v) * INDEX_SPAN + i;
    }
    packed.sort();
    const points = new Uint32Array(total);
    const owners = new Int32Array(total);
    for (let q = 0; q < total; q++) {
      const point = Math.floor(packed[q]! / INDEX_SPAN);
      points[q] = point;
      owners[q] = packed[q]! - point * INDEX_SPAN;
    }
    this.points = points;
    this.owners = owners;
  }

  pick(ctx: PickContext): Endpoint | null {
    const points = this.points;
    const len = points.length;
    if (len === 0) return null;
    const h = ctx.hashKey !== undefined ? murmur3(ctx.hashKey, SEED_KEY) : (this.random() * 4294967296) >>> 0;
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.set.refs[this.owners[lo === len ? 0 : lo]!]!;
  }

  onStart(_id: string, _now: number): void {}

  onEnd(_id: string, _now: number, _latencyMs: number, _ok: boolean): void {}
}
