import { describe, expect, it } from 'vitest';
import { createBalancer, type BalancerOptions } from './index.js';
import { countPicks, endpoint, endpoints, mulberry32, share, simulation } from './test-helpers.js';

const TAU = 10_000;

function ewma(options: BalancerOptions = {}, seed = 1) {
  return createBalancer('p2c-ewma', { random: mulberry32(seed), ...options });
}

/** Two endpoints: P2C always compares both, so every pick is deterministic (ties go to the first draw). */
function pair(options: BalancerOptions = {}) {
  const b = ewma(options);
  b.update([endpoint('a'), endpoint('b')]);
  const pickAt = (now: number) => b.pick({ now })!.id;
  return { b, pickAt };
}

/** Records a finished request of `latency` ms ending at `now`. */
function sample(b: ReturnType<typeof ewma>, id: string, now: number, latency: number, ok = true) {
  b.onStart(id, now - latency);
  b.onEnd(id, now, latency, ok);
}

describe('p2c-ewma (peak EWMA, Finagle / Linkerd)', () => {
  it('prefers the endpoint with the lower latency estimate', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 100);
    sample(b, 'b', 0, 10);
    expect(new Set(Array.from({ length: 50 }, () => pickAt(0)))).toEqual(new Set(['b']));
  });

  it('believes a slowdown at once: a sample above the estimate replaces it (the peak)', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 100);
    sample(b, 'b', 0, 10);
    sample(b, 'b', 1, 1000);
    expect(pickAt(1)).toBe('a');
  });

  it('decays lower samples in with the time constant: E = E·w + s·(1 − w), w = exp(−Δt/τ)', () => {
    // a: 100 at t=0, then 10 at t=τ → 100/e + 10(1 − 1/e) ≈ 43.11. b's single sample is taken as is.
    for (const [bLatency, expected] of [
      [43.0, 'b'],
      [43.2, 'a'],
    ] as const) {
      const { b, pickAt } = pair();
      sample(b, 'a', 0, 100);
      sample(b, 'a', TAU, 10);
      sample(b, 'b', TAU, bLatency);
      expect(pickAt(TAU)).toBe(expected);
    }
  });

  it('decays an unused estimate towards 0, so a once-slow endpoint is tried again after about τ·ln(ratio)', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 1000);
    sample(b, 'b', 0, 50);
    // b keeps answering in 50 ms; a's 1000 ms decays and undercuts 50 once 1000·e^(−t/τ) < 50: t > τ·ln 20 ≈ 29 957 ms.
    let firstA = -1;
    for (let t = 100; t <= 40_000 && firstA < 0; t += 100) {
      const id = pickAt(t);
      if (id === 'a') firstA = t;
      else sample(b, 'b', t, 50);
    }
    expect(firstA).toBeGreaterThanOrEqual(29_957);
    expect(firstA).toBeLessThanOrEqual(30_100);
  });

  it('multiplies by in-flight + 1', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 10);
    sample(b, 'b', 0, 10);
    for (let i = 0; i < 3; i++) b.onStart('a', 0); // a: 10·4 = 40 vs b: 10
    expect(pickAt(0)).toBe('b');
    for (let i = 0; i < 4; i++) b.onStart('b', 0); // b: 10·5 = 50 vs a: 40
    expect(pickAt(0)).toBe('a');
    b.onEnd('b', 0, 10, true);
    b.onEnd('b', 0, 10, true); // b: 10·3 = 30
    expect(pickAt(0)).toBe('b');
  });

  it('starts endpoints without samples at defaultRttMs (30 ms by default) and lets the first sample replace it', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 50);
    expect(pickAt(0)).toBe('b'); // 30 < 50
    const slowDefault = pair({ defaultRttMs: 100 });
    sample(slowDefault.b, 'a', 0, 50);
    expect(slowDefault.pickAt(0)).toBe('a'); // 100 > 50
    sample(slowDefault.b, 'b', 0, 5); // first sample: taken as is, not blended with the 100 ms seed
    sample(slowDefault.b, 'a', 0, 6);
    expect(slowDefault.pickAt(0)).toBe('b');
  });

  it('penalises failures as a sample of max(latency, failurePenaltyMs)', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 200);
    sample(b, 'b', 0, 10);
    sample(b, 'b', 1, 1, false); // fails fast: counts as 1000 ms
    expect(pickAt(1)).toBe('a');
    const lenient = pair({ failurePenaltyMs: 0 });
    sample(lenient.b, 'a', 0, 200);
    sample(lenient.b, 'b', 0, 10);
    sample(lenient.b, 'b', 1, 1, false);
    expect(lenient.pickAt(1)).toBe('b');
  });

  it('ignores non-finite and negative latencies but still counts the request as ended', () => {
    const { b, pickAt } = pair();
    sample(b, 'a', 0, 20);
    sample(b, 'b', 0, 10);
    b.onStart('b', 0);
    b.onEnd('b', 0, Number.NaN, true);
    b.onStart('b', 0);
    b.onEnd('b', 0, -5, true);
    b.onEnd('b', 0, Number.POSITIVE_INFINITY, true);
    expect(pickAt(0)).toBe('b'); // still 10 ms and nothing in flight
  });

  it('gives a 10x slower endpoint a small share under load, and its share back after it recovers', () => {
    const b = ewma({}, 3);
    b.update(endpoints(5));
    let slow = 10;
    // 1000 req/s; 10 ms everywhere except ep-0 (100 ms until t = 20 s). Fair share 0.2.
    const sim = simulation(b, { intervalMs: 1, latency: (id) => (id === 'ep-0' ? 10 * slow : 10) });
    sim.run(10_000);
    expect(share(sim.run(20_000), 'ep-0')).toBeLessThan(0.02); // measured ≈ 0.0004
    slow = 1;
    // Its 100 ms estimate decays with τ = 10 s, so recovery takes a few τ (measured: 0.05 in the
    // first 5 s, 0.17 at 35-40 s, ≈ 0.2 from 45 s).
    const early = share(sim.run(25_000), 'ep-0');
    sim.run(60_000);
    const late = share(sim.run(80_000), 'ep-0');
    expect(early).toBeLessThan(0.1);
    expect(late).toBeGreaterThan(0.17);
    expect(late).toBeLessThan(0.23);
  });

  it('spreads evenly over equally fast endpoints under load', () => {
    const b = ewma({}, 2);
    b.update(endpoints(5));
    const sim = simulation(b, { intervalMs: 1, latency: () => 10, seed: 2 });
    sim.run(10_000);
    const counts = sim.run(40_000);
    // Feedback makes picks correlated, so no multinomial bound; measured shares 0.198-0.202.
    for (let i = 0; i < 5; i++) expect(Math.abs(share(counts, `ep-${i}`) - 0.2)).toBeLessThan(0.02);
  });

  it('keeps estimates and in-flight counts for endpoints that remain across updates', () => {
    const b = ewma();
    b.update(endpoints(3));
    sample(b, 'ep-0', 0, 5_000);
    b.onStart('ep-2', 0);
    b.update([endpoint('ep-0'), endpoint('ep-2'), endpoint('ep-9')]);
    sample(b, 'ep-9', 1, 50);
    sample(b, 'ep-2', 1, 50); // ep-2: 50 ms and still one in flight → 100; ep-9: 50
    const counts = countPicks(b, 1000, () => ({ now: 1 }));
    expect(counts.get('ep-0') ?? 0).toBe(0);
    expect(counts.get('ep-9')).toBeGreaterThan(counts.get('ep-2')!);
    b.update([endpoint('ep-2'), endpoint('ep-9')]);
    b.update([endpoint('ep-0'), endpoint('ep-2'), endpoint('ep-9')]); // re-added: a fresh 30 ms seed
    // ep-0 now undercuts both, winning every pick it is drawn for: 2 of 3 pairs.
    expect(countPicks(b, 3000, () => ({ now: 1 })).get('ep-0')).toBeGreaterThan(1800);
  });

  it('draws candidates by weight when weights differ', () => {
    const b = ewma({}, 4);
    b.update([endpoint('a', { weight: 1 }), endpoint('b', { weight: 9 })]);
    // Equal (seed) costs: the first draw wins ties, so the split is the weight split, 10% / 90%.
    const counts = countPicks(b, 20_000);
    expect(Math.abs(share(counts, 'a') - 0.1)).toBeLessThan(0.015);
  });
});
