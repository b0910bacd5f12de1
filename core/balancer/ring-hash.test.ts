import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { createBalancer, type Endpoint } from './index.js';
import { RingHashBalancer } from './ring-hash.js';
import { countPicks, endpoint, endpoints, mulberry32, share, shuffle } from './test-helpers.js';

const KEYS = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);

function ring(set: readonly Endpoint[], seed = 1) {
  const b = createBalancer('ring-hash', { random: mulberry32(seed) });
  b.update(set);
  return b;
}

function place(b: ReturnType<typeof ring>, keys = KEYS): string[] {
  return keys.map((hashKey) => b.pick({ now: 0, hashKey })!.id);
}

function tally(ids: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

describe('ring-hash (Ketama-style consistent hashing)', () => {
  it('maps a key to the same endpoint every time, in every sidecar, whatever the input order', () => {
    const set = endpoints(10);
    const a = place(ring(set, 1), KEYS.slice(0, 5000));
    expect(place(ring(set, 1), KEYS.slice(0, 5000))).toEqual(a);
    const shuffled = shuffle(set, 9);
    expect(place(ring(shuffled, 2), KEYS.slice(0, 5000))).toEqual(a);
  });

  it.each(['ep', 'pod', '10.0.3'])('spreads 100k keys over 10 endpoints ("%s-i") within ±25%% of the fair share', (prefix) => {
    const set = endpoints(10, prefix);
    const counts = tally(place(ring(set)));
    // 160 virtual nodes each: an endpoint's arc share has a relative spread of about 1/√160 ≈ 8%,
    // key sampling adds ≈ 1%, so ±25% is about 3σ per endpoint (measured: 12-14% worst of 10).
    for (const e of set) expect(Math.abs(counts.get(e.id)! / 10_000 - 1)).toBeLessThan(0.25);
  });

  it('honours weights roughly (1:2:3:4 → 10/20/30/40%, each within ±25% relative)', () => {
    const set = [1, 2, 3, 4].map((weight) => endpoint(`w${weight}`, { weight }));
    const counts = tally(place(ring(set)));
    for (const e of set) expect(Math.abs(share(counts, e.id) / (e.weight / 10) - 1)).toBeLessThan(0.25);
  });

  it.each([10, 50])('moves only the removed endpoint’s keys when one of %d leaves', (n) => {
    const set = endpoints(n);
    const before = place(ring(set));
    const gone = set[3]!.id;
    const after = place(ring(set.filter((e) => e.id !== gone)));
    const moved = before.filter((id, i) => id !== after[i]!).length / KEYS.length;
    expect(moved).toBeGreaterThanOrEqual(0.5 / n);
    expect(moved).toBeLessThanOrEqual(2 / n);
    // Equal weights keep every other endpoint's virtual nodes exactly, so no other key moves…
    expect(before.every((id, i) => id === gone || id === after[i])).toBe(true);
    // …and the leaver's keys spread over several successors rather than one neighbour.
    const heirs = new Set(after.filter((_, i) => before[i] === gone));
    expect(heirs.size).toBeGreaterThanOrEqual(Math.min(n - 1, 8));
  });

  it('treats an unhealthy endpoint as removed and restores its keys when it recovers', () => {
    const set = endpoints(10);
    const b = ring(set);
    const before = place(b, KEYS.slice(0, 20_000));
    b.update(set.map((e) => (e.id === 'ep-5' ? { ...e, healthy: false } : e)));
    const during = place(b, KEYS.slice(0, 20_000));
    expect(during).not.toContain('ep-5');
    expect(during.filter((id, i) => id !== before[i]).length).toBe(before.filter((id) => id === 'ep-5').length);
    b.update(set);
    expect(place(b, KEYS.slice(0, 20_000))).toEqual(before);
  });

  it('sizes the ring: at least minRingSize, 160 per endpoint, at most maxRingSize', () => {
    const options = { vnodesPerEndpoint: 160, minRingSize: 1024, maxRingSize: 1 << 20 };
    const sizeFor = (set: Endpoint[], o = options) => {
      const b = new RingHashBalancer(mulberry32(1), o);
      b.update(set);
      return b.ringSize;
    };
    expect(sizeFor(endpoints(2))).toBe(1024);
    expect(sizeFor(endpoints(10))).toBe(1600);
    expect(sizeFor(endpoints(1000))).toBe(160_000);
    expect(sizeFor([endpoint('a', { weight: 1 }), endpoint('b', { weight: 3 })])).toBe(1024); // 256 + 768
    expect(sizeFor(endpoints(1000), { ...options, maxRingSize: 50_000 })).toBeLessThanOrEqual(50_000);
    expect(sizeFor(endpoints(10, 'ep', { weight: 0 }))).toBe(0);
  });

  it('spreads picks without a hashKey uniformly at random over the ring', () => {
    const b = ring(endpoints(10), 4);
    const counts = countPicks(b, 100_000);
    // Same arc-share spread as keyed picks (see above).
    for (let i = 0; i < 10; i++) expect(Math.abs(counts.get(`ep-${i}`)! / 10_000 - 1)).toBeLessThan(0.25);
  });

  it('rejects bad ring options', () => {
    expect(() => createBalancer('ring-hash', { vnodesPerEndpoint: 0 })).toThrow(ValidationError);
    expect(() => createBalancer('ring-hash', { vnodesPerEndpoint: 1.5 })).toThrow(ValidationError);
    expect(() => createBalancer('ring-hash', { minRingSize: 4096, maxRingSize: 1024 })).toThrow(ValidationError);
  });
});
