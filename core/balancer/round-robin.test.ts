import { describe, expect, it } from 'vitest';
import { createBalancer } from './index.js';
import { countPicks, endpoint, endpoints, mulberry32 } from './test-helpers.js';

describe('round-robin', () => {
  it('is exactly even over N*k picks, each window of N picks covering every endpoint once', () => {
    const b = createBalancer('round-robin', { random: mulberry32(1) });
    const set = endpoints(7);
    b.update(set);
    const picks = Array.from({ length: 7 * 1000 }, () => b.pick({ now: 0 })!.id);
    for (let w = 0; w < picks.length; w += 7) expect(new Set(picks.slice(w, w + 7)).size).toBe(7);
    const counts = new Map<string, number>();
    for (const id of picks) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.values()]).toEqual(Array(7).fill(1000));
  });

  it('skips unhealthy and weight-0 endpoints and otherwise ignores weights', () => {
    const b = createBalancer('round-robin', { random: mulberry32(1) });
    b.update([
      endpoint('a', { weight: 5 }),
      endpoint('b', { healthy: false }),
      endpoint('c', { weight: 0 }),
      endpoint('d'),
      endpoint('e', { weight: 0.1 }),
    ]);
    const counts = countPicks(b, 3000);
    expect(Object.fromEntries(counts)).toEqual({ a: 1000, d: 1000, e: 1000 });
  });

  it('starts at a random position, so sidecars started together spread their first requests', () => {
    const firsts = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const b = createBalancer('round-robin', { random: mulberry32(seed) });
      b.update(endpoints(5));
      firsts.add(b.pick({ now: 0 })!.id);
    }
    // With 40 independent starts over 5 endpoints, missing any one has probability 5 * 0.8^40 ≈ 7e-4.
    expect(firsts.size).toBe(5);
  });

  it('stays even over the new set after a change and returns null when nothing is selectable', () => {
    const b = createBalancer('round-robin', { random: mulberry32(3) });
    const set = endpoints(4);
    b.update(set);
    countPicks(b, 5);
    b.update(set.slice(1));
    expect([...countPicks(b, 300).values()]).toEqual([100, 100, 100]);
    b.update(set.map((e) => ({ ...e, healthy: false })));
    expect(b.pick({ now: 0 })).toBeNull();
  });
});
