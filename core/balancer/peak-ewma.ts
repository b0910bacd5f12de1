/**
 * p2c-ewma: power of two choices over a peak-sensitive, time-decayed latency average (Finagle's
 * and Linkerd's "peak EWMA"). O(1) per pick, no allocation.
 *
 * Per endpoint the balancer keeps an estimate E (ms), the time of its last update and the
 * requests in flight. cost = E(now) * (inflight + 1), where E(now) = E * exp(-(now - t) / tau):
 * the estimate decays towards 0 while an endpoint goes unused, so an endpoint that was slow is
 * tried again after a while (Linkerd does the same) and its next sample re-establishes E.
 * A pick draws two distinct candidates (proportionally to weight when weights differ, see
 * sampler.ts; weights are then a preference, not an exact share) and takes the cheaper one, the
 * first drawn on a tie.
 *
 * A sample s at time `now` (onEnd):
 *  - first sample of the endpoint: E = s (the seed below is a prior, not an observation);
 *  - s > E(now): E = s at once — the "peak": a slowdown is believed immediately;
 *  - otherwise E = E * w + s * (1 - w) with w = exp(-(now - t) / tau): lower samples decay in
 *    at a rate set by elapsed time, not by request rate. Samples at the same instant as the last
 *    one therefore only count when higher (so pass a clock with sub-ms resolution).
 *  Non-finite or negative latencies are ignored (the in-flight count still drops).
 *
 * Endpoints with no sample yet cost `defaultRttMs` (default 30 ms, Linkerd's default), decaying
 * from when they appeared (the latest time the balancer had seen when update() added them). Not 0 (Finagle's choice, which needs an extra
 * penalty to stop every request going to a new endpoint before it has answered once) and not a
 * large penalty such as 1 s (which would starve a new endpoint until the penalty decays below
 * real latencies, ~35 s for a 30 ms service). Set it near the service's typical latency.
 *
 * Failures (ok = false) count as a sample of max(latency, failurePenaltyMs) (default 1 s): as a
 * peak it takes effect at once, so an endpoint that fails fast does not attract traffic by
 * looking quick, and it then decays back with tau as successes come in.
 */
import { EndpointSet } from './endpoints.js';
import { CandidateSampler } from './sampler.js';
import type { Balancer, Endpoint, PickContext, RandomSource } from './types.js';

export interface PeakEwmaOptions {
  decayMs: number;
  defaultRttMs: number;
  failurePenaltyMs: number;
}

export class PeakEwmaBalancer implements Balancer {
  readonly kind = 'p2c-ewma' as const;
  private readonly set = new EndpointSet();
  private readonly sampler: CandidateSampler;
  private readonly invTau: number;
  private estimate = new Float64Array(0);
  /** Time of the estimate's last update (for a seed: when the endpoint appeared). */
  private stamp = new Float64Array(0);
  /** Latest time seen in any call; NaN before the first. */
  private clock = Number.NaN;
  private sampled = new Uint8Array(0);
  private active = new Int32Array(0);

  constructor(
    random: RandomSource,
    private readonly options: PeakEwmaOptions,
  ) {
    this.sampler = new CandidateSampler(random);
    this.invTau = 1 / options.decayMs;
  }

  update(endpoints: readonly Endpoint[]): void {
    const change = this.set.replace(endpoints);
    if (change === null) return;
    const n = this.set.size;
    const estimate = new Float64Array(n).fill(this.options.defaultRttMs);
    const stamp = new Float64Array(n).fill(this.clock);
    const sampled = new Uint8Array(n);
    const active = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const prev = change.previous.get(this.set.ids[i]!);
      if (prev === undefined) continue;
      estimate[i] = this.estimate[prev]!;
      stamp[i] = this.stamp[prev]!;
      sampled[i] = this.sampled[prev]!;
      active[i] = this.active[prev]!;
    }
    this.estimate = estimate;
    this.stamp = stamp;
    this.sampled = sampled;
    this.active = active;
    this.sampler.reset(this.set);
  }

  pick(ctx: PickContext): Endpoint | null {
    const sampler = this.sampler;
    const n = sampler.size;
    if (n === 0) return null;
    if (n === 1) return this.set.refs[sampler.only()]!;
    sampler.drawPair();
    const a = sampler.first;
    const b = sampler.second;
    const now = ctx.now;
    this.observe(now);
    return this.set.refs[this.cost(b, now) < this.cost(a, now) ? b : a]!;
  }

  /** Advances the clock; the first time seen also starts the decay of the seeds added before it. */
  private observe(now: number): void {
    if (now > this.clock) {
      this.clock = now;
    } else if (this.clock !== this.clock) {
      this.clock = now;
      this.stamp.fill(now);
    }
  }

  private cost(i: number, now: number): number {
    const dt = now - this.stamp[i]!;
    const e = dt > 0 ? this.estimate[i]! * Math.exp(-dt * this.invTau) : this.estimate[i]!;
    return e * (this.active[i]! + 1);
  }

  onStart(id: string, now: number): void {
    this.observe(now);
    const i = this.set.indexOf.get(id);
    if (i !== undefined) this.active[i]!++;
  }

  onEnd(id: string, now: number, latencyMs: number, ok: boolean): void {
    this.observe(now);
    const i = this.set.indexOf.get(id);
    if (i === undefined) return;
    if (this.active[i]! > 0) this.active[i]!--;
    if (!(latencyMs >= 0 && latencyMs < Infinity)) return;
    const sample = ok ? latencyMs : Math.max(latencyMs, this.options.failurePenaltyMs);
    if (this.sampled[i] === 0) {
      this.sampled[i] = 1;
      this.estimate[i] = sample;
      this.stamp[i] = Math.max(this.stamp[i]!, now);
      return;
    }
    const dt = now - this.stamp[i]!;
    const w = dt > 0 ? Math.exp(-dt * this.invTau) : 1;
    const current = this.estimate[i]! * w;
    this.estimate[i] = sample > current ? sample : current + sample * (1 - w);
    if (dt > 0) this.stamp[i] = now;
  }
}
