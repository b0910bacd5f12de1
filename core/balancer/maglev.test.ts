import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { createBalancer, type Endpoint } from './index.js';
import { countPicks, endpoint, endpoints, mulberry32, share, shuffle, sigmaBound } from './test-helpers.js';

const KEYS = Array.from({ length: 100_000 }, (_, i) => `session-${i}`);

function maglev(set: readonly Endpoint[], seed = 1, tableSize?: number) {
  const b = createBalancer('maglev', { random: mulberry32(seed), ...(tableSize ? { tableSize } : {}) });
  b.update(set);
  return b;
}

function place(b: ReturnType<typeof maglev>, keys = KEYS): string[] {
  return keys.map((hashKey) => b.pick({ now: 0, hashKey })!.id);
}

function tally(ids: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

describe('maglev', () => {
  it('maps a key to the same endpoint every time, in every sidecar, whatever the input order', () => {
    const set = endpoints(10);
    const a = place(maglev(set, 1), KEYS.slice(0, 5000));
    expect(place(maglev(set, 1), KEYS.slice(0, 5000))).toEqual(a);
    expect(place(maglev(shuffle(set, 9), 2), KEYS.slice(0, 5000))).toEqual(a);
  });

  it.each(['ep', 'pod', '10.0.3'])('spreads 100k keys over 10 endpoints ("%s-i") within ±5%% of the fair share', (prefix) => {
    const set = endpoints(10, prefix);
    const counts = tally(place(maglev(set)));
    // The table gives each endpoint 6553 or 6554 of 65 537 slots, so only key sampling is left:
    // σ = √(100k · 0.1 · 0.9) ≈ 95 keys ≈ 0.95% of 10 000, and 5% is over 5σ (measured ≤ 2.2%).
    for (const e of set) expect(Math.abs(counts.get(e.id)! - 10_000)).toBeLessThan(500);
  });

  it('honours weights (1:2:3:4 → 10/20/30/40%, each within 5σ of key sampling)', () => {
    const set = [1, 2, 3, 4].map((weight) => endpoint(`w${weight}`, { weight }));
    const counts = tally(place(maglev(set)));
    for (const e of set) {
      const p = e.weight / 10;
      // Slots are proportional to weight to within one turn per endpoint; keys add binomial noise.
      expect(Math.abs(counts.get(e.id)! - KEYS.length * p)).toBeLessThan(sigmaBound(KEYS.length, p) + 10);
    }
  });

  it.each([
    [10, 0.02, 0.99],
    [100, 0.01, 0.985],
  ])('moves about 1/N of the keys when one of %d endpoints leaves (extra ≤ %d, others stay ≥ %d)', (n, extra, stay) => {
    const set = endpoints(n);
    const before = place(maglev(set));
    const gone = set[3]!.id;
    const after = place(maglev(set.filter((e) => e.id !== gone)));
    const moved = before.filter((id, i) => id !== after[i]).length / KEYS.length;
    // The leaver's own keys (≈ 1/N) must move; Maglev adds a little disruption among the others
    // (the paper's "minimal disruption" is near-minimal). Measured: +0.3% of keys at N=10, +0.6% at N=100.
    expect(moved).toBeGreaterThanOrEqual(0.8 / n);
    expect(moved).toBeLessThanOrEqual(1 / n + extra);
    const others = before.map((id, i) => [id, after[i]] as const).filter(([id]) => id !== gone);
    expect(others.filter(([b, a]) => a === b).length / others.length).toBeGreaterThanOrEqual(stay);
  });

  it('treats an unhealthy endpoint as removed and restores its keys when it recovers', () => {
    const set = endpoints(10);
    const b = maglev(set);
    const before = place(b, KEYS.slice(0, 20_000));
    b.update(set.map((e) => (e.id === 'ep-5' ? { ...e, healthy: false } : e)));
    expect(place(b, KEYS.slice(0, 20_000))).not.toContain('ep-5');
    b.update(set);
    expect(place(b, KEYS.slice(0, 20_000))).toEqual(before);
  });

  it('spreads picks without a hashKey uniformly over the table', () => {
    const counts = countPicks(maglev(endpoints(10), 3), 100_000);
    for (let i = 0; i < 10; i++) expect(Math.abs(counts.get(`ep-${i}`)! - 10_000)).toBeLessThan(sigmaBound(100_000, 0.1));
  });

  it('works with a small prime table and rejects a table size that is not prime', () => {
    const counts = tally(place(maglev(endpoints(3), 1, 257)));
    for (let i = 0; i < 3; i++) expect(Math.abs(share(counts, `ep-${i}`) - 1 / 3)).toBeLessThan(0.03); // 85 or 86 slots of 257
    expect(() => createBalancer('maglev', { tableSize: 65_536 })).toThrow(ValidationError);
    expect(() => createBalancer('maglev', { tableSize: 2 })).toThrow(ValidationError);
  });
});
