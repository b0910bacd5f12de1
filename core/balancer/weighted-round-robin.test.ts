import { describe, expect, it } from 'vitest';
import { createBalancer } from './index.js';
import { countPicks, endpoint } from './test-helpers.js';

function swrr(weights: Record<string, number>) {
  const b = createBalancer('weighted-round-robin');
  b.update(Object.entries(weights).map(([id, weight]) => endpoint(id, { weight })));
  return b;
}

function sequence(b: ReturnType<typeof swrr>, n: number): string {
  return Array.from({ length: n }, () => b.pick({ now: 0 })!.id).join('');
}

describe('weighted-round-robin (smooth, nginx)', () => {
  it('produces nginx’s sequence for 5:1:1, the same in every cycle', () => {
    const b = swrr({ a: 5, b: 1, c: 1 });
    expect(sequence(b, 7)).toBe('aabacaa');
    expect(sequence(b, 7 * 20)).toBe('aabacaa'.repeat(20));
  });

  it('gives exact counts over many cycles and never picks weight 0 or unhealthy endpoints', () => {
    const b = createBalancer('weighted-round-robin');
    b.update([endpoint('a', { weight: 5 }), endpoint('b'), endpoint('c'), endpoint('z', { weight: 0 }), endpoint('u', { weight: 9, healthy: false })]);
    expect(Object.fromEntries(countPicks(b, 7 * 1000))).toEqual({ a: 5000, b: 1000, c: 1000 });
  });

  it.each([[[5, 1, 1]], [[3, 2, 1, 1]], [[7, 5, 3, 2, 1]], [[1, 1, 1, 10]]])('interleaves %j evenly: every prefix within one pick of the exact share', (weights) => {
    const b = createBalancer('weighted-round-robin');
    b.update(weights.map((weight, i) => endpoint(`e${i}`, { weight })));
    const total = weights.reduce((a, w) => a + w, 0);
    const counts = weights.map(() => 0);
    for (let t = 1; t <= total * 50; t++) {
      counts[Number(b.pick({ now: 0 })!.id.slice(1))]!++;
      weights.forEach((w, i) => expect(Math.abs(counts[i]! - (t * w) / total)).toBeLessThan(1));
      if (t % total === 0) expect(counts).toEqual(weights.map((w) => (w * t) / total));
    }
  });

  it('honours fractional weights', () => {
    const b = swrr({ a: 0.5, b: 0.25, c: 0.25 });
    expect(Object.fromEntries(countPicks(b, 400))).toEqual({ a: 200, b: 100, c: 100 });
  });

  it('keeps its position when updated with the same set (new objects, other order)', () => {
    const reference = sequence(swrr({ a: 5, b: 1, c: 1 }), 14);
    const b = swrr({ a: 5, b: 1, c: 1 });
    const first = sequence(b, 3);
    b.update([endpoint('c'), endpoint('a', { weight: 5 }), endpoint('b')]);
    expect(first + sequence(b, 11)).toBe(reference);
  });

  it('keeps credit for endpoints that remain and converges to the new weights', () => {
    const b = swrr({ a: 5, b: 1, c: 1 });
    sequence(b, 3);
    b.update([endpoint('a', { weight: 5 }), endpoint('b'), endpoint('d', { weight: 2 })]);
    // Credit carried over is bounded, so counts stay within a pick or so of the exact shares.
    const counts = countPicks(b, 800);
    expect(Math.abs(counts.get('a')! - 500)).toBeLessThanOrEqual(1);
    expect(Math.abs(counts.get('b')! - 100)).toBeLessThanOrEqual(1);
    expect(Math.abs(counts.get('d')! - 200)).toBeLessThanOrEqual(1);
    expect(counts.has('c')).toBe(false);
  });
});
