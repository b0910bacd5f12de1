/**
 * least-request: Envoy's LEAST_REQUEST with power of two choices. O(1) per pick, no allocation.
 *
 * Equal weights (Envoy's unweighted path): draw two distinct selectable endpoints uniformly and
 * take the one with fewer requests in flight (the first drawn on a tie, i.e. a random one).
 *
 * Different weights: Envoy gives each host the effective weight weight / (active + 1)^bias, which
 * at steady state makes in-flight requests proportional to weight. We keep that goal but stay
 * O(1): both candidates are drawn proportionally to weight (alias table) and the one with the
 * lower active^bias / weight wins, the first drawn on a tie. With no load every comparison ties,
 * so traffic splits exactly by weight (pairwise comparing Envoy's own formula would not: with no
 * load it always prefers the heavier of the two, sending 100% to the heavier of two endpoints);
 * under load, in-flight counts settle proportional to weight, as in Envoy.
 * bias 0 ignores load (weighted random); bias 1 (default) compares by integer products.
 *
 * In-flight counts (onStart / onEnd) are kept for ids that remain across updates, including
 * endpoints that became unhealthy, whose requests can still complete.
 */
import { EndpointSet } from './endpoints.js';
import { CandidateSampler } from './sampler.js';
import type { Balancer, Endpoint, PickContext, RandomSource } from './types.js';

export class LeastRequestBalancer implements Balancer {
  readonly kind = 'least-request' as const;
  private readonly set = new EndpointSet();
  private readonly sampler: CandidateSampler;
  private active = new Int32Array(0);

  constructor(
    random: RandomSource,
    private readonly bias: number,
  ) {
    this.sampler = new CandidateSampler(random);
  }

  update(endpoints: readonly Endpoint[]): void {
    const change = this.set.replace(endpoints);
    if (change === null) return;
    const old = this.active;
    const active = new Int32Array(this.set.size);
    for (let i = 0; i < active.length; i++) {
      const prev = change.previous.get(this.set.ids[i]!);
      if (prev !== undefined) active[i] = old[prev]!;
    }
    this.active = active;
    this.sampler.reset(this.set);
  }

  pick(_ctx: PickContext): Endpoint | null {
    const sampler = this.sampler;
    const n = sampler.size;
    if (n === 0) return null;
    if (n === 1) return this.set.refs[sampler.only()]!;
    sampler.drawPair();
    const a = sampler.first;
    const b = sampler.second;
    const active = this.active;
    let second: boolean;
    if (!sampler.isWeighted) {
      second = active[b]! < active[a]!;
    } else if (this.bias === 1) {
      second = active[b]! * this.set.weights[a]! < active[a]! * this.set.weights[b]!;
    } else if (this.bias === 0) {
      second = false;
    } else {
      second = Math.pow(active[b]!, this.bias) / this.set.weights[b]! < Math.pow(active[a]!, this.bias) / this.set.weights[a]!;
    }
    return this.set.refs[second ? b : a]!;
  }

  onStart(id: string, _now: number): void {
    const i = this.set.indexOf.get(id);
    if (i !== undefined) this.active[i]!++;
  }

  onEnd(id: string, _now: number, _latencyMs: number, _ok: boolean): void {
    const i = this.set.indexOf.get(id);
    if (i !== undefined && this.active[i]! > 0) this.active[i]!--;
  }
}
