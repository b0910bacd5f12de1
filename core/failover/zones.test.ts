import { describe, expect, it } from 'vitest';
import { createBalancer, createLocalityAware, type Endpoint } from '../balancer/index.js';
import { DEFAULT_OUTLIER_POLICY, ENVOY_DEFAULTS } from './policy.js';
import { ZoneFailback, countZones, probingZones, type ZoneEndpoint } from './zones.js';

const policy = DEFAULT_OUTLIER_POLICY; // failback: 0.25 every 5 000 ms, overprovisioning 1.4

/** `total` endpoints in `zone`, the first `healthy` of them healthy. */
function zone(name: string, total: number, healthy: number): ZoneEndpoint[] {
  return Array.from({ length: total }, (_, i) => ({ zone: name, weight: 100, state: i < healthy ? 'healthy' : 'down' }));
}

/** The load a caller in zone `a` sends to `a`, with the sidecar's balancer and the set's caps. */
function localLoad(endpoints: ZoneEndpoint[], zones: Record<string, { admitted: number }> | undefined): number {
  const b = createLocalityAware(() => createBalancer('round-robin'));
  b.update(endpoints.map((e, i): Endpoint => ({ id: `${e.zone}-${i}`, zone: e.zone, weight: e.weight, healthy: e.state === 'healthy', priority: e.zone === 'a' ? 0 : 1 })));
  b.admit(zones ? Object.fromEntries(Object.entries(zones).map(([z, v]) => [z, v.admitted])) : null);
  return b.state().priorityLoad[0]!;
}

describe('countZones', () => {
  it('counts like the balancer: weight > 0 only, healthy = state healthy; sorted by zone', () => {
    expect(countZones([...zone('b', 2, 1), { zone: 'a', weight: 0, state: 'healthy' }, ...zone('a', 3, 3), { zone: 'a', weight: 5, state: 'draining' }])).toEqual([
      { zone: 'a', healthy: 3, total: 4 },
      { zone: 'b', healthy: 1, total: 2 },
    ]);
  });
});

describe('ZoneFailback', () => {
  it('admits the real health at once on the first plan (nothing to ramp from) and publishes no caps', () => {
    for (const healthyInA of [0, 1, 2]) {
      const zones = new ZoneFailback();
      expect(zones.update('pay', [...zone('a', 2, healthyInA), ...zone('b', 2, 2)], policy, 0)).toBeNull();
      expect(zones.zonesField('pay')).toBeUndefined();
      expect(zones.view('pay')!.admitted.a).toBeCloseTo(Math.min(1, (1.4 * healthyInA) / 2), 12);
    }
  });

  it('fails over at once and fails back in steps of 25 % per interval, only when each step is due', () => {
    const zones = new ZoneFailback();
    const up = [...zone('a', 2, 2), ...zone('b', 2, 2)];
    const down = [...zone('a', 2, 0), ...zone('b', 2, 2)];
    zones.update('pay', up, policy, 0);
    const lost = zones.update('pay', down, policy, 1000)!;
    expect(lost).toMatchObject({ from: { a: 1, b: 1 }, to: { a: 0, b: 1 }, nextStepAt: null });
    expect(lost.reason).toMatch(/zone a lost health \(0\/2 healthy/);
    expect(lost.evidence).toMatchObject({ overprovisioningFactor: 1.4, step: 0.25, intervalMs: 5000, counts: [{ zone: 'a', healthy: 0, total: 2 }, { zone: 'b', healthy: 2, total: 2 }] });
    expect(zones.zonesField('pay')).toBeUndefined(); // health 0 = admitted 0: nothing to cap

    // Back: held at 0 until one interval has passed.
    expect(zones.update('pay', up, policy, 2000)).toBeNull();
    expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0 } });
    expect(zones.view('pay')!.nextStepAt).toBe(7000);
    expect(zones.due(6999)).toEqual([]);
    expect(zones.due(7000)).toEqual(['pay']);
    // A replan in between (any registry change) does not advance the ramp.
    expect(zones.update('pay', up, policy, 6000)).toBeNull();

    const admitted: number[] = [0];
    const loads: number[] = [localLoad(up, zones.zonesField('pay'))];
    for (let t = 7000; t <= 22_000; t += 5000) {
      const change = zones.update('pay', up, policy, t)!;
      expect(change.reason).toMatch(/zone a fails back/);
      admitted.push(change.to.a!);
      loads.push(localLoad(up, zones.zonesField('pay')));
    }
    expect(admitted).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(loads.map((l) => Math.round(l * 1e9) / 1e9)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(zones.zonesField('pay')).toBeUndefined();
    expect(zones.view('pay')!.nextStepAt).toBeNull();
    expect(zones.due(1e9)).toEqual([]);
  });

  it('a zone losing health during its ramp loses it at once; a zone whose instances all left fails back when they return', () => {
    const zones = new ZoneFailback();
    zones.update('pay', [...zone('a', 4, 4), ...zone('b', 4, 4)], policy, 0);
    zones.update('pay', zone('b', 4, 4), policy, 100); // every instance of a left the set
    expect(zones.view('pay')!.admitted).toEqual({ a: 0, b: 1 });
    zones.update('pay', [...zone('a', 4, 4), ...zone('b', 4, 4)], policy, 200);
    expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0 } });
    zones.update('pay', [...zone('a', 4, 4), ...zone('b', 4, 4)], policy, 5200);
    expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0.25 } });
    // 1 of 4 healthy: health 0.35 → still above 0.25, the ramp goes on to 0.35.
    zones.update('pay', [...zone('a', 4, 1), ...zone('b', 4, 4)], policy, 5300);
    expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0.25 } });
    const dropped = zones.update('pay', [...zone('a', 4, 0), ...zone('b', 4, 4)], policy, 5400)!;
    expect(dropped.to.a).toBe(0);
  });

  it('holds an operator’s failed-over zone at 0 while healthy, and ramps it back after the restore', () => {
    const zones = new ZoneFailback();
    const up = [...zone('a', 2, 2), ...zone('b', 2, 2)];
    zones.update('pay', up, policy, 0);
    const over = zones.update('pay', up, policy, 10, new Set(['a']))!;
    expect(over.to).toEqual({ a: 0, b: 1 });
    expect(over.failedOver).toEqual(['a']);
    expect(over.reason).toMatch(/zone a failed over by an operator \(2\/2 healthy\)/);
    expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0 } });
    expect(localLoad(up, zones.zonesField('pay'))).toBe(0);
    // Time passes: no ramp while failed over.
    expect(zones.update('pay', up, policy, 60_000, new Set(['a']))).toBeNull();
    expect(zones.due(1e9)).toEqual([]);
    // Restored: gradual.
    expect(zones.update('pay', up, policy, 70_000)).toBeNull();
    expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0 } });
    expect(zones.update('pay', up, policy, 75_000)!.to.a).toBe(0.25);
  });

  it('with Envoy’s preset (immediate fail-back) never caps', () => {
    const zones = new ZoneFailback();
    zones.update('pay', [...zone('a', 2, 0), ...zone('b', 2, 2)], ENVOY_DEFAULTS, 0);
    const back = zones.update('pay', [...zone('a', 2, 2), ...zone('b', 2, 2)], ENVOY_DEFAULTS, 1)!;
    expect(back.to).toEqual({ a: 1, b: 1 });
    expect(zones.zonesField('pay')).toBeUndefined();
  });

  describe('a zone whose every healthy instance is probing', () => {
    // The core's set: a probing instance is `healthy` at weight × probe.share (100 → 5).
    const probe = (zone: string): ZoneEndpoint => ({ zone, weight: 5, state: 'healthy', probing: true });
    const ejected = (zone: string): ZoneEndpoint => ({ zone, weight: 100, state: 'ejected' });
    const share = policy.probe.share; // 0.05

    it('probingZones: only zones with a healthy instance, all of them probing', () => {
      expect([...probingZones([probe('a'), ...zone('b', 1, 1), probe('c'), ...zone('c', 1, 1), probe('d'), ejected('d'), ...zone('e', 1, 0)])].sort()).toEqual(['a', 'd']);
    });

    it('alone in its zone: admitted the probe share of its zone’s health, the rest spills to the next zone; the ramp waits; restored, it fails back from there', () => {
      const zones = new ZoneFailback();
      const up = [...zone('a', 1, 1), ...zone('b', 1, 1)];
      zones.update('pay', up, policy, 0);
      expect(zones.update('pay', [ejected('a'), ...zone('b', 1, 1)], policy, 1000)!.to).toEqual({ a: 0, b: 1 });

      // Half-open: without the cap the ramp's first step (25 %) would reach it after one interval.
      const probing = [probe('a'), ...zone('b', 1, 1)];
      const change = zones.update('pay', probing, policy, 11_000)!;
      expect(change.to).toEqual({ a: share, b: 1 });
      expect(change.probing).toEqual(['a']);
      expect(change.reason).toMatch(/zone a probing \(1\/1 healthy, every healthy instance probing\): admitted 5 %/);
      expect(change.evidence).toMatchObject({ probing: ['a'], probeShare: share, loads: [{ zone: 'a', load: share }, { zone: 'b', load: 1 - share }] });
      expect(zones.zonesField('pay')).toEqual({ a: { admitted: share } });
      expect(localLoad(probing, zones.zonesField('pay'))).toBeCloseTo(share, 12);
      // No ramp step while it probes, however long.
      expect(zones.view('pay')!.nextStepAt).toBeNull();
      expect(zones.due(1e12)).toEqual([]);
      for (const t of [16_000, 21_000, 60_000]) expect(zones.update('pay', probing, policy, t)).toBeNull();
      expect(localLoad(probing, zones.zonesField('pay'))).toBeCloseTo(share, 12);

      // Restored: the zone keeps the probe share for one interval, then ramps by 25 % per interval.
      expect(zones.update('pay', up, policy, 61_000)).toBeNull();
      expect(zones.zonesField('pay')).toEqual({ a: { admitted: share } });
      expect(zones.view('pay')!.nextStepAt).toBe(66_000);
      const admitted: number[] = [];
      for (let t = 66_000; t <= 81_000; t += 5000) admitted.push(zones.update('pay', up, policy, t)!.to.a!);
      expect(admitted.map((a) => Math.round(a * 1e9) / 1e9)).toEqual([0.3, 0.55, 0.8, 1]);
      expect(zones.zonesField('pay')).toBeUndefined();
    });

    it('with only ejected peers: the probe share of the zone’s health (1 of 2 healthy: 5 % of 70 %)', () => {
      const zones = new ZoneFailback();
      zones.update('pay', [...zone('a', 2, 2), ...zone('b', 2, 2)], policy, 0);
      zones.update('pay', [ejected('a'), ejected('a'), ...zone('b', 2, 2)], policy, 1000);
      const set = [probe('a'), ejected('a'), ...zone('b', 2, 2)];
      expect(zones.update('pay', set, policy, 11_000)!.to.a).toBeCloseTo(share * 0.7, 12);
      expect(localLoad(set, zones.zonesField('pay'))).toBeCloseTo(share * 0.7, 12);
    });

    it('with a healthy peer in its zone: no cap (its weight × probe.share already keeps it to its share)', () => {
      const zones = new ZoneFailback();
      zones.update('pay', [...zone('a', 2, 2), ...zone('b', 1, 1)], policy, 0);
      zones.update('pay', [ejected('a'), ...zone('a', 1, 1), ...zone('b', 1, 1)], policy, 1000);
      const set = [probe('a'), ...zone('a', 1, 1), ...zone('b', 1, 1)];
      zones.update('pay', set, policy, 11_000);
      expect(zones.view('pay')!.probing).toEqual([]);
      // Health 0.7 → 1: held at 0.7 by the ramp like any recovering zone, not at the probe share.
      expect(zones.view('pay')!.capped.a).toBeCloseTo(0.7, 12);
    });

    it('re-ejected while probing: admitted 0 at once; an operator’s failover wins over probing', () => {
      const zones = new ZoneFailback();
      zones.update('pay', [...zone('a', 1, 1), ...zone('b', 1, 1)], policy, 0);
      zones.update('pay', [probe('a'), ...zone('b', 1, 1)], policy, 10);
      expect(zones.view('pay')!.admitted.a).toBeCloseTo(share, 12);
      const lost = zones.update('pay', [ejected('a'), ...zone('b', 1, 1)], policy, 20)!;
      expect(lost.to.a).toBe(0);
      expect(lost.reason).toMatch(/zone a lost health/);
      zones.update('pay', [probe('a'), ...zone('b', 1, 1)], policy, 30, new Set(['a']));
      expect(zones.zonesField('pay')).toEqual({ a: { admitted: 0 } });
    });

    it('the only zone of a service: capped at the probe share, but with nowhere to spill the caller still sends it everything (loads normalised)', () => {
      const zones = new ZoneFailback();
      zones.update('pay', zone('a', 1, 1), policy, 0);
      zones.update('pay', [probe('a')], policy, 10);
      expect(zones.zonesField('pay')).toEqual({ a: { admitted: share } });
      expect(localLoad([probe('a')], zones.zonesField('pay'))).toBe(1);
    });
  });
});
