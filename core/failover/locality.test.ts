import { describe, expect, it } from 'vitest';
import { createBalancer, createLocalityAware, type Endpoint } from '../balancer/index.js';
import { ValidationError } from '../lib/errors.js';
import { planZoneFailover, priorityLevels, zoneLoads, zoneOrder, type ZoneCounts } from './locality.js';
import { DEFAULT_OUTLIER_POLICY, ENVOY_DEFAULTS } from './policy.js';

const OPTIONS = { overprovisioningFactor: 1.4, panicThreshold: 0.5 };
const policy = DEFAULT_OUTLIER_POLICY; // failback: step 0.25 every 5 s

/** Every (total, healthy) pair with total 0..max. */
function pairs(max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let total = 0; total <= max; total++) for (let healthy = 0; healthy <= total; healthy++) out.push([total, healthy]);
  return out;
}

describe('priorityLevels is the balancer’s computation', () => {
  // Pins the restated formula to core/balancer/locality.ts: every combination of up to three
  // levels with 0..4 endpoints each, for several factors and thresholds, must match state().
  it.each([
    [1.4, 0.5],
    [1, 0.5],
    [1.4, 0],
    [2, 0.8],
  ])('matches createLocalityAware(...).state() exactly (overprovisioning %d, panic %d)', (overprovisioningFactor, panicThreshold) => {
    const grid = pairs(4);
    let checked = 0;
    for (let levels = 1; levels <= 3; levels++) {
      const combos = levels === 1 ? grid.map((g) => [g]) : levels === 2 ? grid.flatMap((a) => grid.map((b) => [a, b])) : grid.flatMap((a) => grid.flatMap((b) => grid.map((c) => [a, b, c])));
      for (const combo of combos) {
        const endpoints: Endpoint[] = combo.flatMap(([total, healthy], p) =>
          Array.from({ length: total }, (_, i) => ({ id: `p${p}-${i}`, zone: `z${p}`, weight: 1, healthy: i < healthy, priority: p })),
        );
        // The balancer only knows levels up to the highest priority that has an endpoint.
        let top = -1;
        combo.forEach(([total], p) => {
          if (total > 0) top = p;
        });
        if (top < 0) continue;
        const used = combo.slice(0, top + 1);
        const b = createLocalityAware(() => createBalancer('round-robin'), { overprovisioningFactor, panicThreshold });
        b.update(endpoints);
        const ours = priorityLevels(
          used.map(([total, healthy]) => ({ endpoints: total, available: healthy })),
          overprovisioningFactor,
          panicThreshold,
        );
        expect(ours).toEqual(b.state().levels);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(3000);
  });

  it('caps a level’s health at its admitted health', () => {
    const [a, b] = priorityLevels([{ endpoints: 10, available: 10, admittedHealth: 0.25 }, { endpoints: 10, available: 10 }], 1.4, 0.5);
    expect(a).toMatchObject({ health: 0.25, load: 0.25, panic: false });
    expect(b).toMatchObject({ health: 1, load: 0.75 });
  });
});

describe('zoneLoads', () => {
  it.each([
    [[10, 10], [10, 10], 1, 0, 0],
    [[10, 5], [10, 10], 0.7, 0.3, 0.3], // Envoy: 50 % healthy × 1.4 = 70 %
    [[10, 0], [10, 10], 0, 1, 1],
    [[10, 8], [10, 10], 1, 0, 0], // 80 % × 1.4 ≥ 1: no spill
  ])('local %j, remote %j → loads %d / %d, spill %d', ([t0, h0], [t1, h1], l0, l1, spill) => {
    const zones: ZoneCounts[] = [
      { zone: 'a', total: t0!, healthy: h0! },
      { zone: 'b', total: t1!, healthy: h1! },
    ];
    const r = zoneLoads(zones, OPTIONS);
    expect(r.zones[0]!.load).toBeCloseTo(l0, 12);
    expect(r.zones[1]!.load).toBeCloseTo(l1, 12);
    expect(r.spill).toBeCloseTo(spill, 12);
    expect(r.panic).toBe(false);
  });

  it('reports panic when the zones together are short and a loaded zone is below the threshold', () => {
    const r = zoneLoads(
      [
        { zone: 'a', total: 4, healthy: 1 },
        { zone: 'b', total: 4, healthy: 1 },
      ],
      OPTIONS,
    );
    expect(r.panic).toBe(true);
    expect(r.totalHealth).toBeCloseTo(0.7, 12);
    expect(r.zones.map((z) => z.load)).toEqual([0.5, 0.5]); // every level in panic: by endpoint counts
  });

  it('refuses bad counts with every issue', () => {
    const bad = () =>
      zoneLoads(
        [
          { zone: 'a', total: 2, healthy: 3 },
          { zone: 'a', total: -1, healthy: 0 },
        ],
        OPTIONS,
      );
    expect(bad).toThrow(ValidationError);
    try {
      bad();
    } catch (err) {
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['zones.0.healthy', 'zones.1.zone', 'zones.1.total', 'zones.1.healthy']);
    }
  });
});

describe('planZoneFailover', () => {
  const recovered: ZoneCounts[] = [
    { zone: 'a', total: 10, healthy: 10 },
    { zone: 'b', total: 10, healthy: 10 },
  ];

  it('fails back in steps of 25 % per interval', () => {
    const plan = planZoneFailover({ zones: recovered, admitted: { a: 0, b: 1 }, policy, now: 1000 });
    expect(plan.steps.map((s) => s.at)).toEqual([1000, 6000, 11_000, 16_000, 21_000]);
    expect(plan.steps.map((s) => s.report.zones[0]!.load)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(plan.steps.map((s) => s.report.spill)).toEqual([1, 0.75, 0.5, 0.25, 0]);
    expect(plan.steps.map((s) => s.admitted)).toEqual([
      { a: 0, b: 1 },
      { a: 0.25, b: 1 },
      { a: 0.5, b: 1 },
      { a: 0.75, b: 1 },
      { a: 1, b: 1 },
    ]);
    expect(plan.target.zones.map((z) => z.load)).toEqual([1, 0]);
    expect(plan.evidence.zones.map((z) => [z.zone, z.action])).toEqual([
      ['a', 'failback'],
      ['b', 'steady'],
    ]);
  });

  it('stops at the zone’s real health when it recovers only partly', () => {
    const plan = planZoneFailover({
      zones: [
        { zone: 'a', total: 10, healthy: 5 },
        { zone: 'b', total: 10, healthy: 10 },
      ],
      admitted: { a: 0, b: 1 },
      policy,
      now: 0,
    });
    const loads = plan.steps.map((s) => s.report.zones[0]!.load);
    expect(loads).toHaveLength(4);
    expect(loads.slice(0, 3)).toEqual([0, 0.25, 0.5]);
    expect(loads[3]).toBeCloseTo(0.7, 12);
  });

  it('fails over at once: a zone that lost health loses its traffic in step 0', () => {
    const plan = planZoneFailover({
      zones: [
        { zone: 'a', total: 10, healthy: 0 },
        { zone: 'b', total: 10, healthy: 10 },
      ],
      admitted: { a: 1, b: 1 },
      policy,
      now: 0,
    });
    expect(plan.steps).toHaveLength(1);
    expect(plan.steps[0]!.report.zones.map((z) => z.load)).toEqual([0, 1]);
    expect(plan.evidence.zones[0]).toMatchObject({ zone: 'a', action: 'failover', previousAdmitted: 1, admitted: 0, health: 0 });
  });

  it('continues a ramp from the admitted state of the step in effect', () => {
    const first = planZoneFailover({ zones: recovered, admitted: { a: 0, b: 1 }, policy, now: 0 });
    const again = planZoneFailover({ zones: recovered, admitted: first.steps[2]!.admitted, policy, now: 10_000 });
    expect(again.steps.map((s) => s.report.zones[0]!.load)).toEqual([0.5, 0.75, 1]);
  });

  it('judges panic on real counts: a healthy zone that is still ramping is not in panic', () => {
    const plan = planZoneFailover({
      zones: [
        { zone: 'a', total: 10, healthy: 10 },
        { zone: 'b', total: 10, healthy: 1 },
      ],
      admitted: { a: 0.25, b: 0.14 },
      policy,
      now: 0,
    });
    const [a, b] = plan.steps[0]!.report.zones;
    expect(a).toMatchObject({ panic: false, admittedHealth: 0.25 });
    expect(b!.panic).toBe(true);
    expect(a!.load + b!.load).toBeCloseTo(1, 12);
  });

  it('without a previous state, or with Envoy’s preset, goes to the target at once', () => {
    expect(planZoneFailover({ zones: recovered, policy, now: 0 }).steps).toHaveLength(1);
    const envoy = planZoneFailover({ zones: recovered, admitted: { a: 0, b: 1 }, policy: ENVOY_DEFAULTS, now: 0 });
    expect(envoy.steps).toHaveLength(1);
    expect(envoy.steps[0]!.report.zones.map((z) => z.load)).toEqual([1, 0]);
  });

  it('zoneOrder puts the caller’s zone first', () => {
    expect(zoneOrder('c', [{ zone: 'a' }, { zone: 'b' }, { zone: 'c' }]).map((z) => z.zone)).toEqual(['c', 'a', 'b']);
  });
});
