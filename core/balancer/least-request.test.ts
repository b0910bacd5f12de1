import { describe, expect, it } from 'vitest';
import { createBalancer } from './index.js';
import { CHI2_CRITICAL_0_001, chiSquare, countPicks, endpoint, endpoints, mulberry32, share, sigmaBound, simulation } from './test-helpers.js';

function leastRequest(seed = 1, bias?: number) {
  return createBalancer('least-request', { random: mulberry32(seed), ...(bias === undefined ? {} : { activeRequestBias: bias }) });
}

describe('least-request (P2C, Envoy LEAST_REQUEST)', () => {
  it.each([1, 2, 3])('spreads evenly when load is equal (chi-square, seed %d)', (seed) => {
    const b = leastRequest(seed);
    b.update(endpoints(10));
    const picks = 100_000;
    const counts = countPicks(b, picks);
    const observed = Array.from({ length: 10 }, (_, i) => counts.get(`ep-${i}`) ?? 0);
    // 9 degrees of freedom; a uniform multinomial exceeds 27.88 with probability 0.001.
    expect(chiSquare(observed, Array(10).fill(picks / 10))).toBeLessThan(CHI2_CRITICAL_0_001[9]!);
  });

  it('sends nothing to an endpoint holding many in-flight requests while others hold fewer', () => {
    const b = leastRequest();
    b.update(endpoints(10));
    for (let i = 0; i < 50; i++) b.onStart('ep-0', 0);
    // Two distinct candidates are compared, and ep-0 loses to any other: exactly 0, not just "less".
    const counts = countPicks(b, 20_000);
    expect(counts.get('ep-0') ?? 0).toBe(0);
    for (let i = 1; i < 10; i++) expect(Math.abs(share(counts, `ep-${i}`) - 1 / 9)).toBeLessThan(sigmaBound(20_000, 1 / 9) / 20_000);
    for (let i = 0; i < 50; i++) b.onEnd('ep-0', 1, 5, true);
    expect(countPicks(b, 20_000).get('ep-0')).toBeGreaterThan(1500); // back near 1/10 (2000)
  });

  it('steers away from a slow endpoint whose requests pile up (simulated load)', () => {
    const b = leastRequest();
    b.update(endpoints(5));
    // 1000 req/s, 10 ms on four endpoints and 100 ms on ep-0: round robin would give it 20%.
    const sim = simulation(b, { intervalMs: 1, latency: (id) => (id === 'ep-0' ? 100 : 10) });
    sim.run(5_000);
    const counts = sim.run(20_000);
    expect(share(counts, 'ep-0')).toBeLessThan(0.08); // measured ≈ 0.04; fair share 0.2
  });

  it('splits exactly by weight when idle (weights differ: candidates drawn by weight)', () => {
    const b = leastRequest(5);
    b.update([endpoint('a', { weight: 1 }), endpoint('b', { weight: 2 }), endpoint('c', { weight: 3 }), endpoint('d', { weight: 4 })]);
    const picks = 100_000;
    const counts = countPicks(b, picks);
    [0.1, 0.2, 0.3, 0.4].forEach((p, i) => {
      expect(Math.abs(counts.get('abcd'[i]!)! - picks * p)).toBeLessThan(sigmaBound(picks, p));
    });
  });

  it('keeps in-flight requests proportional to weight under load (weights 1:3)', () => {
    const b = leastRequest(2);
    b.update([endpoint('a', { weight: 1 }), endpoint('b', { weight: 3 })]);
    const sim = simulation(b, { intervalMs: 1, latency: () => 10 });
    sim.run(5_000);
    // Same latency everywhere, so throughput follows in-flight; ideal share of a is 0.25 (measured ≈ 0.27).
    const a = share(sim.run(40_000), 'a');
    expect(a).toBeGreaterThan(0.2);
    expect(a).toBeLessThan(0.3);
  });

  it('uses in-flight per weight when weights differ', () => {
    const b = leastRequest(3);
    b.update([endpoint('a', { weight: 1 }), endpoint('b', { weight: 4 })]);
    for (let i = 0; i < 3; i++) b.onStart('b', 0); // b: 3/4 per weight, a: 0 → a wins every mixed pair
    const counts = countPicks(b, 10_000);
    // a is picked unless both draws are b: 1 - 0.8 * 0.8^4 (the second is redrawn up to 3 times) ≈ 0.67.
    expect(share(counts, 'a')).toBeGreaterThan(0.64);
    expect(share(counts, 'a')).toBeLessThan(0.70);
    for (let i = 0; i < 4; i++) b.onStart('a', 0); // a: 4/1 per weight, b: 3/4 → b wins every mixed pair
    expect(share(countPicks(b, 10_000), 'a')).toBeLessThan(0.05); // only (a, a) draws: 0.2 * 0.2^4
  });

  it('ignores load with activeRequestBias 0 (weighted random)', () => {
    const b = leastRequest(4, 0);
    b.update([endpoint('a', { weight: 1 }), endpoint('b', { weight: 3 })]);
    for (let i = 0; i < 100; i++) b.onStart('b', 0);
    const counts = countPicks(b, 40_000);
    expect(Math.abs(counts.get('a')! - 10_000)).toBeLessThan(sigmaBound(40_000, 0.25));
  });

  it('keeps in-flight counts for endpoints that remain across updates, and forgets removed ones', () => {
    const b = leastRequest();
    const set = endpoints(4);
    b.update(set);
    for (let i = 0; i < 10; i++) b.onStart('ep-0', 0);
    b.update([...set.slice(0, 3), endpoint('new')]);
    expect(countPicks(b, 5000).get('ep-0') ?? 0).toBe(0);
    b.update(set.slice(1));
    b.update(set);
    expect(countPicks(b, 5000).get('ep-0')).toBeGreaterThan(1000); // fresh state: ≈ 1/4 of picks
  });

  it('never lets in-flight counts go negative', () => {
    const b = leastRequest();
    b.update(endpoints(2));
    for (let i = 0; i < 5; i++) b.onEnd('ep-0', 0, 1, true);
    b.onStart('ep-1', 0);
    // ep-0 at 0 (not -5) vs ep-1 at 1: ep-0 wins every pick.
    expect(countPicks(b, 100).get('ep-0')).toBe(100);
    b.onStart('ep-0', 0);
    b.onStart('ep-0', 0);
    expect(countPicks(b, 100).get('ep-1')).toBe(100);
  });
});
