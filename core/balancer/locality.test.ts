import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { createBalancer, createLocalityAware, type BalancerKind, type Endpoint, type LocalityOptions } from './index.js';
import { priorityLevels } from './locality.js';
import { countPicks, endpoint, mulberry32, share, sigmaBound } from './test-helpers.js';

/** `total` endpoints "<name>-i" at `priority`, the first `healthy` of them healthy. */
function level(name: string, priority: number, total: number, healthy: number, extra: Partial<Endpoint> = {}): Endpoint[] {
  return Array.from({ length: total }, (_, i) => endpoint(`${name}-${i}`, { priority, zone: name, healthy: i < healthy, ...extra }));
}

function locality(set: Endpoint[], options: LocalityOptions = {}, inner: BalancerKind = 'round-robin', seed = 1) {
  const random = mulberry32(seed);
  const b = createLocalityAware(() => createBalancer(inner, { random }), { random, ...options });
  b.update(set);
  return b;
}

/** Share of picks per zone (= per priority level here). */
function zoneShares(b: ReturnType<typeof locality>, picks: number, hashKeys = false) {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const zone = b.pick({ now: 0, ...(hashKeys ? { hashKey: `k${i}` } : {}) })?.zone ?? 'null';
    counts.set(zone, (counts.get(zone) ?? 0) + 1);
  }
  return (zone: string) => share(counts, zone, picks);
}

describe('createLocalityAware (Envoy priority levels, overprovisioning and panic)', () => {
  it('sends everything to priority 0 while it is healthy', () => {
    const b = locality([...level('p0', 0, 5, 5), ...level('p1', 1, 5, 5)]);
    expect(b.state()).toMatchObject({ priorityLoad: [1, 0], panic: false });
    expect(zoneShares(b, 10_000)('p0')).toBe(1);
  });

  it('sends 70% / 30% with priority 0 at 50% healthy and overprovisioning 1.4', () => {
    const b = locality([...level('p0', 0, 10, 5), ...level('p1', 1, 10, 10)], { overprovisioningFactor: 1.4 });
    const { priorityLoad, panic } = b.state();
    expect(priorityLoad[0]).toBeCloseTo(0.7, 12);
    expect(priorityLoad[1]).toBeCloseTo(0.3, 12);
    expect(panic).toBe(false);
    const picks = 100_000;
    const counts = countPicks(b, picks);
    const p0 = [...counts].filter(([id]) => id.startsWith('p0-'));
    // Binomial: σ = √(100k · 0.7 · 0.3) ≈ 145 picks (0.15%); 5σ ≈ 0.7%.
    expect(Math.abs(p0.reduce((s, [, c]) => s + c, 0) - 0.7 * picks)).toBeLessThan(sigmaBound(picks, 0.7));
    expect(p0.map(([id]) => id).sort()).toEqual(['p0-0', 'p0-1', 'p0-2', 'p0-3', 'p0-4']); // only the healthy ones
  });

  it('fails over completely when priority 0 is down', () => {
    const b = locality([...level('p0', 0, 4, 0), ...level('p1', 1, 4, 4)]);
    expect(b.state()).toMatchObject({ priorityLoad: [0, 1], panic: false });
    expect(zoneShares(b, 10_000)('p1')).toBe(1);
  });

  // Envoy's documentation tables (priority levels, panic threshold), 100 endpoints per level.
  it.each([
    [100, 100, 1, 0, false, false],
    [72, 72, 1, 0, false, false],
    [71, 71, 0.994, 0.006, false, false], // Envoy, in integer percent: 99 / 1
    [50, 60, 0.7, 0.3, false, false],
    [25, 100, 0.35, 0.65, false, false],
    [25, 25, 0.5, 0.5, true, true],
    [5, 65, 7 / 98, 91 / 98, true, false], // Envoy: 7 / 93
  ])('P0 %d%% and P1 %d%% healthy → loads %d / %d, panic %s / %s (Envoy’s tables)', (h0, h1, load0, load1, panic0, panic1) => {
    const b = locality([...level('p0', 0, 100, h0), ...level('p1', 1, 100, h1)]);
    const { priorityLoad, levels, panic } = b.state();
    expect(priorityLoad[0]).toBeCloseTo(load0, 9);
    expect(priorityLoad[1]).toBeCloseTo(load1, 9);
    expect(levels.map((l) => l.panic)).toEqual([panic0, panic1]);
    expect(panic).toBe(panic0 || panic1);
    expect(levels[0]).toMatchObject({ priority: 0, endpoints: 100, available: h0 });
    expect(levels[0]!.health).toBeCloseTo(Math.min(1, (1.4 * h0) / 100), 12);
  });

  it('panics below the threshold: traffic goes to every endpoint, unhealthy ones included', () => {
    const set = level('p0', 0, 4, 1); // 25% healthy: health 0.35 < 1 and 25% < 50%
    const b = locality(set);
    expect(b.state()).toMatchObject({ priorityLoad: [1], panic: true });
    const counts = countPicks(b, 4000);
    expect([...counts.values()]).toEqual([1000, 1000, 1000, 1000]); // round-robin inside the level
    const picked = new Set(Array.from({ length: 8 }, () => b.pick({ now: 0 })));
    expect([...picked].every((e) => set.includes(e!))).toBe(true); // the caller's objects, health untouched
  });

  it('does not panic while lower priorities can absorb the traffic (normalised total health is 100%)', () => {
    const b = locality([...level('p0', 0, 10, 1), ...level('p1', 1, 10, 10)]);
    const { priorityLoad, panic } = b.state();
    expect(priorityLoad[0]).toBeCloseTo(0.14, 12);
    expect(panic).toBe(false);
    const counts = countPicks(b, 20_000);
    expect([...counts.keys()].filter((id) => id.startsWith('p0-'))).toEqual(['p0-0']);
  });

  it('splits by endpoint counts when every level is in panic', () => {
    const b = locality([...level('p0', 0, 4, 1), ...level('p1', 1, 6, 1)]);
    const { priorityLoad, panic, levels } = b.state();
    expect(levels.map((l) => l.panic)).toEqual([true, true]);
    expect(priorityLoad[0]).toBeCloseTo(0.4, 12);
    expect(priorityLoad[1]).toBeCloseTo(0.6, 12);
    expect(panic).toBe(true);
    const counts = countPicks(b, 100_000);
    expect(counts.size).toBe(10);
    expect(Math.abs([...counts].filter(([id]) => id.startsWith('p0-')).reduce((s, [, c]) => s + c, 0) - 40_000)).toBeLessThan(sigmaBound(100_000, 0.4));
  });

  it('with nothing healthy: panics onto all endpoints, or returns null when panic is disabled (threshold 0)', () => {
    const set = [...level('p0', 0, 3, 0), ...level('p1', 1, 3, 0)];
    expect(countPicks(locality(set), 600).size).toBe(6);
    const strict = locality(set, { panicThreshold: 0 });
    expect(strict.state()).toMatchObject({ priorityLoad: [1, 0], panic: false });
    expect(strict.pick({ now: 0 })).toBeNull();
  });

  it('excludes weight-0 endpoints from the health counts and never picks them, even in panic', () => {
    const drained = level('d', 0, 8, 0, { weight: 0 });
    const b = locality([...level('p0', 0, 2, 2), ...drained]);
    expect(b.state()).toMatchObject({ priorityLoad: [1], panic: false, levels: [{ endpoints: 2, available: 2, health: 1 }] });
    const panicking = locality([...level('p0', 0, 4, 1), ...drained]);
    expect(panicking.state().panic).toBe(true);
    expect([...countPicks(panicking, 1000).keys()].sort()).toEqual(['p0-0', 'p0-1', 'p0-2', 'p0-3']);
  });

  it('keeps a key on one endpoint and still splits keys by the priority loads (hash-based inner balancer)', () => {
    const b = locality([...level('p0', 0, 10, 5), ...level('p1', 1, 10, 10)], {}, 'ring-hash');
    for (const hashKey of ['alice', 'bob', 'carol']) {
      const first = b.pick({ now: 0, hashKey })!.id;
      for (let i = 0; i < 20; i++) expect(b.pick({ now: i, hashKey })!.id).toBe(first);
    }
    // Keys hash uniformly, so the P0 share over 100k keys is binomial around 0.7.
    const p0 = zoneShares(b, 100_000, true)('p0');
    expect(Math.abs(p0 - 0.7) * 100_000).toBeLessThan(sigmaBound(100_000, 0.7));
  });

  it('routes feedback to the inner balancer of the endpoint’s level', () => {
    const b = locality([...level('p0', 0, 2, 2), ...level('p1', 1, 2, 2)], {}, 'least-request');
    for (let i = 0; i < 5; i++) b.onStart('p0-0', 0);
    expect(Object.fromEntries(countPicks(b, 1000))).toEqual({ 'p0-1': 1000 });
    for (let i = 0; i < 5; i++) b.onEnd('p0-0', 1, 3, true);
    b.onStart('p0-1', 1);
    expect(Object.fromEntries(countPicks(b, 1000))).toEqual({ 'p0-0': 1000 });
    b.onStart('unknown', 1); // ignored
  });

  it('handles gaps between priorities and follows updates', () => {
    const b = locality([...level('p0', 0, 2, 2), ...level('p2', 2, 2, 2)]);
    expect(b.state().priorityLoad).toEqual([1, 0, 0]);
    b.update([...level('p0', 0, 2, 0), ...level('p2', 2, 2, 2)]);
    expect(b.state().priorityLoad).toEqual([0, 0, 1]);
    expect(zoneShares(b, 1000)('p2')).toBe(1);
    b.update([]);
    expect(b.state()).toEqual({ priorityLoad: [], panic: false, levels: [] });
    expect(b.pick({ now: 0 })).toBeNull();
  });

  it('reports the inner kind and returns state snapshots the caller cannot corrupt', () => {
    const b = locality(level('p0', 0, 2, 2), {}, 'p2c-ewma');
    expect(b.kind).toBe('p2c-ewma');
    b.state().priorityLoad[0] = 0;
    b.state().levels[0]!.load = 0;
    expect(b.state().priorityLoad).toEqual([1]);
  });

  it.each([
    [{ overprovisioningFactor: 0.9 }, 'overprovisioningFactor'],
    [{ overprovisioningFactor: Number.NaN }, 'overprovisioningFactor'],
    [{ panicThreshold: 1.5 }, 'panicThreshold'],
    [{ panicThreshold: -0.1 }, 'panicThreshold'],
    [{ random: 42 as unknown as () => number }, 'random'],
  ])('rejects invalid options %j', (options, path) => {
    const make = () => createLocalityAware(() => createBalancer('round-robin'), options);
    expect(make).toThrow(ValidationError);
    expect(make).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', issues: [expect.objectContaining({ path })] }));
  });

  it('rejects a factory that is not a function', () => {
    expect(() => createLocalityAware('round-robin' as unknown as () => never)).toThrow(ValidationError);
  });
});

describe('admitted zone health (the core’s fail-back and zone failover)', () => {
  const recovered = () => [...level('a', 0, 4, 4), ...level('b', 1, 4, 4)];

  it('caps a zone at its admitted health: 0 → 25 → 50 → 75 → 100 % of its traffic', () => {
    const b = locality(recovered());
    for (const admitted of [0, 0.25, 0.5, 0.75, 1]) {
      b.admit({ a: admitted });
      expect(b.state().priorityLoad[0]).toBeCloseTo(admitted, 12);
      expect(b.state().priorityLoad[1]).toBeCloseTo(1 - admitted, 12);
      expect(b.state().panic).toBe(false);
      // Binomial, 20 000 picks: 5σ ≤ 354 picks (1.8 %).
      const picks = 20_000;
      expect(Math.abs(zoneShares(b, picks)('a') * picks - admitted * picks)).toBeLessThanOrEqual(sigmaBound(picks, admitted) + 1e-9);
    }
  });

  it('never lifts a zone above its real health: min(health, admitted)', () => {
    const b = locality([...level('a', 0, 10, 5), ...level('b', 1, 10, 10)]);
    b.admit({ a: 1 });
    expect(b.state().priorityLoad[0]).toBeCloseTo(0.7, 12); // 1.4 × 50 %, the cap is above it
    b.admit({ a: 0.7 });
    expect(b.state().priorityLoad[0]).toBeCloseTo(0.7, 12); // at the boundary
    b.admit({ a: 0.69 });
    expect(b.state().priorityLoad[0]).toBeCloseTo(0.69, 12); // just below it
  });

  it('a capped zone still takes the traffic nothing else can take (no black hole)', () => {
    const b = locality(level('a', 0, 3, 3));
    b.admit({ a: 0 });
    expect(b.state().priorityLoad).toEqual([1]);
    expect(b.pick({ now: 0 })?.zone).toBe('a');
  });

  it('judges panic on real counts: a healthy zone held at 0 is not in panic', () => {
    const b = locality([...level('a', 0, 4, 4), ...level('b', 1, 4, 1)]);
    b.admit({ a: 0 });
    const { levels } = b.state();
    expect(levels[0]).toMatchObject({ panic: false, load: 0, health: 0 });
    expect(levels[1]!.panic).toBe(true);
    expect(levels[1]!.load).toBe(1);
  });

  it('is the same computation as priorityLevels with admittedHealth, over every 2-zone combination', () => {
    let checked = 0;
    for (const [t0, h0, t1, h1] of [0, 1, 2, 3, 4].flatMap((t0) =>
      Array.from({ length: t0 + 1 }, (_, h0) => [0, 1, 2, 3, 4].flatMap((t1) => Array.from({ length: t1 + 1 }, (_, h1) => [t0, h0, t1, h1] as const))).flat(),
    )) {
      if (t1 === 0) continue; // the balancer only knows levels up to the highest one with an endpoint
      for (const [c0, c1] of [
        [0, undefined],
        [0.25, 1],
        [0.5, 0.3],
        [1, 0],
        [undefined, 0.6],
      ] as const) {
        const b = locality([...level('a', 0, t0, h0), ...level('b', 1, t1, h1)], { overprovisioningFactor: 1.4, panicThreshold: 0.5 });
        b.admit({ ...(c0 === undefined ? {} : { a: c0 }), ...(c1 === undefined ? {} : { b: c1 }) });
        const expected = priorityLevels(
          [
            { endpoints: t0, available: h0, ...(c0 === undefined ? {} : { admittedHealth: c0 }) },
            { endpoints: t1, available: h1, ...(c1 === undefined ? {} : { admittedHealth: c1 }) },
          ],
          1.4,
          0.5,
        );
        expect(b.state().levels.map((l) => [l.load, l.health, l.panic])).toEqual(expected.map((l) => [l.load, l.health, l.panic]));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('caps each zone of a level that holds several zones by its own admitted health', () => {
    // Level 1 = zones b and c, 4 endpoints each, all healthy. c held at 0: level 1 counts as
    // 4 healthy of 8 → health 0.7; with level 0 down, it still takes everything (normalised),
    // but within level 1 the picks are not changed: the cap moves traffic between levels only.
    const b = locality([...level('a', 0, 4, 4), ...level('b', 1, 4, 4), ...level('c', 1, 4, 4)]);
    b.admit({ a: 0.5, c: 0 });
    const [l0, l1] = b.state().levels;
    expect(l0!.health).toBeCloseTo(0.5, 12);
    expect(l1!.health).toBeCloseTo(0.7, 12);
    expect(l0!.load).toBeCloseTo(0.5, 12);
    expect(l1!.load).toBeCloseTo(0.5, 12);
  });

  it('unchanged caps rebuild nothing; null removes them; a bad value is refused and the caps kept', () => {
    const b = locality(recovered());
    b.admit({ a: 0.25 });
    const before = b.state();
    b.admit({ a: 0.25 });
    expect(b.state()).toEqual(before);
    expect(() => b.admit({ a: 1.5 })).toThrow(ValidationError);
    expect(() => b.admit({ a: Number.NaN })).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ path: 'admitted.a' })] }));
    expect(b.state().priorityLoad[0]).toBeCloseTo(0.25, 12);
    b.admit(null);
    expect(b.state().priorityLoad).toEqual([1, 0]);
    // Caps survive endpoint updates.
    b.admit({ a: 0.5 });
    b.update(recovered().map((e) => ({ ...e })));
    expect(b.state().priorityLoad[0]).toBeCloseTo(0.5, 12);
  });
});
