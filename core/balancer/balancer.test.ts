/** The contract every algorithm shares: createBalancer, validation, edge cases, updates. */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { BALANCER_KINDS, createBalancer, isBalancerKind, type BalancerKind, type BalancerOptions, type Endpoint } from './index.js';
import { countPicks, endpoint, endpoints, mulberry32, shuffle } from './test-helpers.js';

function make(kind: BalancerKind, seed = 1) {
  return createBalancer(kind, { random: mulberry32(seed) });
}

function ctx(i: number) {
  return { now: i, hashKey: `key-${i}` };
}

describe('createBalancer', () => {
  it.each(BALANCER_KINDS)('creates %s', (kind) => {
    expect(make(kind).kind).toBe(kind);
    expect(isBalancerKind(kind)).toBe(true);
  });

  it('rejects an unknown kind with a ValidationError naming the field', () => {
    const bad = () => createBalancer('random' as BalancerKind);
    expect(bad).toThrow(ValidationError);
    expect(bad).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', issues: [expect.objectContaining({ path: 'kind' })] }));
    expect(isBalancerKind('random')).toBe(false);
  });

  it.each<[BalancerOptions, string]>([
    [{ activeRequestBias: -1 }, 'activeRequestBias'],
    [{ decayMs: 0 }, 'decayMs'],
    [{ defaultRttMs: Number.NaN }, 'defaultRttMs'],
    [{ failurePenaltyMs: -5 }, 'failurePenaltyMs'],
    [{ vnodesPerEndpoint: 0 }, 'vnodesPerEndpoint'],
    [{ minRingSize: 0 }, 'minRingSize'],
    [{ minRingSize: 2048, maxRingSize: 1024 }, 'maxRingSize'],
    [{ tableSize: 1000 }, 'tableSize'],
    [{ tableSize: 2 ** 25 + 1 }, 'tableSize'],
    [{ random: 'dice' as unknown as () => number }, 'random'],
  ])('rejects %j', (options, path) => {
    const bad = () => createBalancer('p2c-ewma', options);
    expect(bad).toThrow(ValidationError);
    expect(bad).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ path })] }));
  });

  it('lists every problem at once', () => {
    try {
      createBalancer('nope' as BalancerKind, { decayMs: -1, tableSize: 4 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['kind', 'decayMs', 'tableSize']);
    }
  });

  it('rejects options that are not an object', () => {
    expect(() => createBalancer('maglev', null as unknown as BalancerOptions)).toThrow(ValidationError);
  });
});

describe.each(BALANCER_KINDS)('%s: the shared contract', (kind) => {
  it('returns null for an empty set, all-zero weights or nothing healthy', () => {
    const b = make(kind);
    expect(b.pick(ctx(0))).toBeNull();
    b.update([]);
    expect(b.pick(ctx(0))).toBeNull();
    b.update(endpoints(5, 'ep', { weight: 0 }));
    expect(b.pick(ctx(0))).toBeNull();
    b.update(endpoints(5, 'ep', { healthy: false }));
    expect(b.pick(ctx(0))).toBeNull();
  });

  it('only ever picks healthy endpoints with weight > 0, returning the caller’s objects', () => {
    const b = make(kind);
    const set = [endpoint('a'), endpoint('b', { healthy: false }), endpoint('c', { weight: 0 }), endpoint('d', { weight: 2 }), endpoint('e', { healthy: false, weight: 0 })];
    b.update(set);
    const seen = new Set<Endpoint>();
    for (let i = 0; i < 5000; i++) seen.add(b.pick(ctx(i))!);
    expect([...seen].map((e) => e.id).sort()).toEqual(['a', 'd']);
    for (const e of seen) expect(set).toContain(e);
  });

  it('always picks a single selectable endpoint', () => {
    const b = make(kind);
    b.update([endpoint('only'), endpoint('down', { healthy: false })]);
    expect(Object.fromEntries(countPicks(b, 500, ctx))).toEqual({ only: 500 });
  });

  it('rejects invalid endpoints with a ValidationError and keeps the previous set', () => {
    const b = make(kind);
    b.update(endpoints(3));
    const invalid: [unknown, string][] = [
      [[endpoint('a', { weight: -1 })], 'endpoints[0].weight'],
      [[endpoint('a', { weight: Number.POSITIVE_INFINITY })], 'endpoints[0].weight'],
      [[endpoint('a'), endpoint('a')], 'endpoints[1].id'],
      [[endpoint('')], 'endpoints[0].id'],
      [[{ id: 'a', weight: 1, healthy: true }], 'endpoints[0].zone'],
      [[endpoint('a', { healthy: 'yes' as unknown as boolean })], 'endpoints[0].healthy'],
      [[endpoint('a', { priority: -1 })], 'endpoints[0].priority'],
      [[endpoint('a', { priority: 1.5 })], 'endpoints[0].priority'],
      [[null], 'endpoints[0]'],
      ['not a list', 'endpoints'],
    ];
    for (const [input, path] of invalid) {
      const bad = () => b.update(input as Endpoint[]);
      expect(bad).toThrow(ValidationError);
      expect(bad).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ path })] }));
    }
    expect(new Set(Array.from({ length: 300 }, (_, i) => b.pick(ctx(i))!.id))).toEqual(new Set(['ep-0', 'ep-1', 'ep-2']));
  });

  it('adopts new objects from an update with an unchanged set, in any order', () => {
    const b = make(kind);
    b.update(endpoints(4));
    const copies = shuffle(endpoints(4), 3);
    b.update(copies);
    for (let i = 0; i < 200; i++) expect(copies).toContain(b.pick(ctx(i)));
  });

  it('picks the same sequence whatever order the set is listed in (same seed)', () => {
    const set = endpoints(20).map((e, i) => ({ ...e, weight: 1 + (i % 3) }));
    const a = make(kind, 5);
    const b = make(kind, 5);
    a.update(set);
    b.update(shuffle(set, 11));
    for (let i = 0; i < 500; i++) {
      expect(b.pick(ctx(i))!.id).toBe(a.pick(ctx(i))!.id);
      a.onStart(`ep-${i % 20}`, i);
      b.onStart(`ep-${i % 20}`, i);
      a.onEnd(`ep-${(i * 7) % 20}`, i, i % 50, i % 9 !== 0);
      b.onEnd(`ep-${(i * 7) % 20}`, i, i % 50, i % 9 !== 0);
    }
  });

  it('ignores feedback for unknown ids', () => {
    const b = make(kind);
    b.update(endpoints(2));
    expect(() => {
      b.onStart('ghost', 0);
      b.onEnd('ghost', 1, 10, false);
    }).not.toThrow();
    expect(b.pick(ctx(0))).not.toBeNull();
  });
});

describe('update with an unchanged set is cheap', () => {
  // Relative timing in one process, so it holds on slow machines: a rebuild for 1000 endpoints
  // fills a 65 537-slot maglev table or sorts a 160 000-point ring (milliseconds); an unchanged
  // update only compares fields (≈ 0.1 ms), whether it gets the same objects or equal copies.
  it.each(['maglev', 'ring-hash'] as const)('%s: an unchanged update costs far less than a rebuild', (kind) => {
    const b = make(kind);
    const sets = [endpoints(1000, 'a'), endpoints(1000, 'b')];
    const time = (fn: () => void) => {
      const start = performance.now();
      fn();
      return performance.now() - start;
    };
    const rebuild: number[] = [];
    const same: number[] = [];
    for (let round = 0; round < 8; round++) {
      const set = sets[round % 2]!;
      rebuild.push(time(() => b.update(set)));
      const copy = set.map((e) => ({ ...e }));
      same.push(time(() => b.update(copy)) + time(() => b.update(set)));
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    console.log(kind, rebuild, same);
    expect(median(same)).toBeLessThan(median(rebuild) / 5);
  });
});
