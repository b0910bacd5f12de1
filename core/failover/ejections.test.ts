import { describe, expect, it } from 'vitest';
import { OutlierDetector, type Evidence, type OutlierDecision } from '../health/detector.js';
import { EjectionTracker, ejectionAllowed, maxEjectable } from './ejections.js';
import { OutlierPolicy, type OutlierPolicyInput } from './policy.js';

const SVC = 'orders';

function policy(overrides: OutlierPolicyInput = {}): OutlierPolicy {
  return OutlierPolicy.parse({ ejection: { baseMs: 10_000, maxMs: 30_000, maxEjectionPercent: 50, decayMs: 30_000 }, probe: { successesRequired: 3, share: 0.05 }, ...overrides });
}

const consecutive = (at: number): Evidence => ({
  rule: 'consecutive-failures',
  at,
  samples: { variant: 'all', streak: 3, windows: [] },
  thresholds: { consecutive: 3, enforcingPercent: 100 },
});

function eject(instanceId: string, at: number, evidence: Evidence = consecutive(at), enforced = true): OutlierDecision {
  return { kind: 'eject', service: SVC, instanceId, at, enforced, reason: 'test', evidence };
}

function heartbeatLost(instanceId: string, at: number): OutlierDecision {
  return eject(instanceId, at, { rule: 'heartbeat', at, samples: { lastHeartbeat: 0, heartbeatIntervalMs: 1000, silentMs: at }, thresholds: { ttlMs: 3000, missedIntervals: 3 } });
}

function heartbeatBack(instanceId: string, at: number): OutlierDecision {
  return {
    kind: 'restore-probe',
    service: SVC,
    instanceId,
    at,
    enforced: true,
    reason: 'heartbeats resumed',
    evidence: { rule: 'heartbeat', at, samples: { lastHeartbeat: 0, heartbeatIntervalMs: 1000, silentMs: at, resumedAt: at }, thresholds: { ttlMs: 3000, missedIntervals: 3 } },
  };
}

function probe(instanceId: string, at: number, ok: boolean, windows = 1): OutlierDecision {
  return {
    kind: ok ? 'probe-success' : 'probe-failure',
    service: SVC,
    instanceId,
    at,
    enforced: true,
    reason: ok ? 'ok' : 'failed',
    evidence: {
      rule: 'probe',
      at,
      samples: {
        windows: Array.from({ length: windows }, () => ({ at, requests: 10, failures: ok ? 0 : 5, failureRate: ok ? 0 : 0.5, p99: null, ok })),
        succeeded: ok ? windows : 0,
        failed: ok ? 0 : windows,
      },
      thresholds: { minRequests: 1, maxFailureRate: 0.1, latencyThreshold: null },
    },
  };
}

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `i${i}`);

describe('EjectionTracker: eject, half-open, restore', () => {
  it('ejects a healthy instance for the base time, with the decision’s evidence', () => {
    const t = new EjectionTracker();
    const step = t.apply(SVC, hosts(4), [eject('i0', 1000)], policy(), 1000);
    expect(step.transitions).toEqual([
      expect.objectContaining({ instanceId: 'i0', from: 'healthy', to: 'ejected', at: 1000, until: 11_000, durationMs: 10_000, backoff: 1, ejections: 1, evidence: consecutive(1000) }),
    ]);
    expect(step.status).toMatchObject({ hosts: 4, healthy: 3, ejected: 1, probing: 0, healthyShare: 0.75, panic: false });
  });

  it('moves to probing exactly when the ejection time ends; restores after K successful windows', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    expect(t.apply(SVC, hosts(4), [], p, 9_999).transitions).toEqual([]);
    const probing = t.apply(SVC, hosts(4), [], p, 10_000).transitions;
    expect(probing).toEqual([
      expect.objectContaining({ from: 'ejected', to: 'probing', evidence: expect.objectContaining({ rule: 'ejection-elapsed', samples: { ejectedAt: 0, durationMs: 10_000, backoff: 1 } }) }),
    ]);
    expect(t.instances(SVC, p).find((i) => i.instanceId === 'i0')).toMatchObject({ state: 'probing', weightFactor: 0.05 });
    expect(t.inState(SVC, 'probing')).toEqual(['i0']);

    expect(t.apply(SVC, hosts(4), [probe('i0', 11_000, true, 2)], p, 11_000).transitions).toEqual([]); // 2 of 3
    const restored = t.apply(SVC, hosts(4), [probe('i0', 12_000, true)], p, 12_000).transitions;
    expect(restored).toEqual([
      expect.objectContaining({ from: 'probing', to: 'healthy', backoff: 1, evidence: expect.objectContaining({ rule: 'probe-restored', samples: expect.objectContaining({ successes: 3 }) }) }),
    ]);
  });

  it('re-ejects on a probe failure with the next backoff (twice the base)', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    t.apply(SVC, hosts(4), [], p, 10_000);
    const [again] = t.apply(SVC, hosts(4), [probe('i0', 11_000, false)], p, 11_000).transitions;
    expect(again).toMatchObject({ from: 'probing', to: 'ejected', durationMs: 20_000, until: 31_000, backoff: 2, ejections: 2, evidence: { rule: 'probe' } });
  });

  it('re-ejects a probing instance on any eject decision, even with the cap reached', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(2), [eject('i0', 0)], p, 0); // 1 of 2 = 50 %: the cap
    t.apply(SVC, hosts(2), [], p, 10_000);
    const step = t.apply(SVC, hosts(2), [eject('i0', 10_500)], p, 10_500);
    expect(step.transitions).toEqual([expect.objectContaining({ from: 'probing', to: 'ejected', backoff: 2 })]);
    expect(step.transitions[0]?.reason).toMatch(/^failed while probing/);
    expect(step.overflow).toEqual([]);
  });

  it('with successesRequired 0 (Envoy) restores when the ejection time ends', () => {
    const t = new EjectionTracker();
    const p = policy({ probe: { successesRequired: 0 } });
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    expect(t.apply(SVC, hosts(4), [], p, 10_000).transitions).toEqual([expect.objectContaining({ from: 'ejected', to: 'healthy' })]);
  });

  it('ignores eject decisions for an instance already ejected, and lists unenforced ones as reported', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    const step = t.apply(SVC, hosts(4), [eject('i0', 1), eject('i1', 1, consecutive(1), false)], p, 1);
    expect(step.transitions).toEqual([]);
    expect(step.reported.map((d) => d.instanceId)).toEqual(['i1']);
  });

  it('forgets instances that are no longer listed', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    const step = t.apply(SVC, ['i1', 'i2', 'i3'], [], p, 1);
    expect(step.status).toMatchObject({ hosts: 3, healthy: 3, ejected: 0 });
  });
});

describe('EjectionTracker: backoff and decay', () => {
  /** Ejects i0, lets it probe, fails the probe: returns the durations of consecutive ejections. */
  function durations(n: number, p: OutlierPolicy): number[] {
    const t = new EjectionTracker();
    let now = 0;
    const out: number[] = [];
    let [first] = t.apply(SVC, hosts(4), [eject('i0', now)], p, now).transitions;
    out.push(first!.durationMs!);
    for (let i = 1; i < n; i++) {
      now = first!.until!;
      t.apply(SVC, hosts(4), [], p, now); // → probing
      [first] = t.apply(SVC, hosts(4), [probe('i0', now, false)], p, now).transitions;
      out.push(first!.durationMs!);
    }
    return out;
  }

  it('grows linearly (base × k: the second is twice the first) and is capped at maxMs', () => {
    expect(durations(5, policy())).toEqual([10_000, 20_000, 30_000, 30_000, 30_000]);
    expect(durations(4, policy({ ejection: { baseMs: 30_000, maxMs: 300_000 } }))).toEqual([30_000, 60_000, 90_000, 120_000]);
  });

  it('stops the multiplier one step above the cap, as Envoy (k × base < max + base)', () => {
    const t = new EjectionTracker();
    const p = policy();
    let last = t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0).transitions[0]!;
    for (let i = 0; i < 6; i++) {
      const now = last.until!;
      t.apply(SVC, hosts(4), [], p, now);
      last = t.apply(SVC, hosts(4), [probe('i0', now, false)], p, now).transitions[0]!;
    }
    expect(last.backoff).toBe(4); // 3 × 10 s < 40 s → 4; 4 × 10 s = 40 s: no more
    expect(last.durationMs).toBe(30_000);
  });

  it('decays the multiplier by one per decayMs healthy after the restore', () => {
    const t = new EjectionTracker();
    const p = policy({ probe: { successesRequired: 0 } });
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    t.apply(SVC, hosts(4), [], p, 10_000); // restored, backoff 1
    t.apply(SVC, hosts(4), [eject('i0', 10_000)], p, 10_000); // backoff 2, 20 s
    const restored = t.apply(SVC, hosts(4), [], p, 30_000);
    expect(restored.transitions[0]).toMatchObject({ to: 'healthy', backoff: 2 });
    expect(t.apply(SVC, hosts(4), [], p, 59_999).decayed).toEqual([]);
    expect(t.apply(SVC, hosts(4), [], p, 60_000).decayed).toEqual([{ instanceId: 'i0', from: 2, to: 1 }]);
    // A late call catches up on every elapsed step.
    expect(t.apply(SVC, hosts(4), [], p, 200_000).decayed).toEqual([{ instanceId: 'i0', from: 1, to: 0 }]);
    expect(t.apply(SVC, hosts(4), [eject('i0', 200_000)], p, 200_000).transitions[0]).toMatchObject({ backoff: 1, durationMs: 10_000 });
  });

  it('does not decay while ejected or probing', () => {
    const t = new EjectionTracker();
    const p = policy({ probe: { successesRequired: 3 } });
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    t.apply(SVC, hosts(4), [], p, 10_000); // probing
    expect(t.apply(SVC, hosts(4), [], p, 500_000).decayed).toEqual([]);
  });
});

describe('EjectionTracker: max ejection percent', () => {
  it.each([
    // hosts, percent, alwaysEjectOne, most ejectable
    [1, 50, false, 0],
    [2, 50, false, 1],
    [4, 50, false, 2],
    [5, 50, false, 2], // 2.5 rounds down: 100 × 3 = 300 > 250
    [10, 10, false, 1],
    [9, 10, false, 0], // Envoy's defaults eject nothing below 10 hosts…
    [9, 10, true, 1], // …unless always_eject_one_host
    [1, 50, true, 1],
    [3, 0, false, 0],
    [3, 0, true, 1],
    [3, 100, false, 3],
  ])('%d hosts at %d %% (alwaysEjectOne %s): %d', (n, percent, one, expected) => {
    const e = { maxEjectionPercent: percent, alwaysEjectOne: one };
    expect(maxEjectable(n, e)).toBe(expected);
    let held = 0;
    while (ejectionAllowed(held, n, e) && held <= n) held++;
    expect(held).toBe(expected);
  });

  it('caps ejections and reports the rest as overflow', () => {
    const t = new EjectionTracker();
    const step = t.apply(SVC, hosts(5), hosts(5).map((id) => eject(id, 0)), policy(), 0);
    expect(step.transitions.map((x) => x.instanceId)).toEqual(['i0', 'i1']);
    expect(step.overflow.map((o) => [o.instanceId, o.held, o.hosts, o.maxEjectionPercent])).toEqual([
      ['i2', 2, 5, 50],
      ['i3', 2, 5, 50],
      ['i4', 2, 5, 50],
    ]);
    expect(step.overflow[0]?.reason).toBe('not ejected: 3 of 5 would exceed max ejection 50 %');
  });

  it('counts probing instances as held out', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(4), [eject('i0', 0), eject('i1', 0)], p, 0);
    t.apply(SVC, hosts(4), [], p, 10_000); // both probing
    expect(t.apply(SVC, hosts(4), [eject('i2', 10_001)], p, 10_001).overflow).toHaveLength(1);
  });
});

describe('EjectionTracker: heartbeat and panic', () => {
  it('holds a silent instance out without a cap or backoff until heartbeats resume, then probes', () => {
    const t = new EjectionTracker();
    const p = policy();
    const step = t.apply(SVC, hosts(2), [heartbeatLost('i0', 5000), heartbeatLost('i1', 5000)], p, 5000);
    expect(step.transitions.map((x) => [x.instanceId, x.to, x.until, x.backoff])).toEqual([
      ['i0', 'ejected', null, 0],
      ['i1', 'ejected', null, 0],
    ]);
    expect(step.overflow).toEqual([]);
    expect(t.apply(SVC, hosts(2), [], p, 1_000_000).transitions).toEqual([]); // no timer
    const back = t.apply(SVC, hosts(2), [heartbeatBack('i0', 1_000_001)], p, 1_000_001);
    expect(back.transitions).toEqual([expect.objectContaining({ instanceId: 'i0', from: 'ejected', to: 'probing', evidence: expect.objectContaining({ rule: 'heartbeat-resumed' }) })]);
  });

  it('keeps an outlier ejection running after heartbeats resume, and holds it past its time while silent', () => {
    const t = new EjectionTracker();
    const p = policy();
    t.apply(SVC, hosts(4), [eject('i0', 0)], p, 0); // until 10 s
    t.apply(SVC, hosts(4), [heartbeatLost('i0', 4000)], p, 4000);
    expect(t.apply(SVC, hosts(4), [], p, 20_000).transitions).toEqual([]); // held
    expect(t.apply(SVC, hosts(4), [heartbeatBack('i0', 21_000)], p, 21_000).transitions).toEqual([expect.objectContaining({ to: 'probing' })]);

    const u = new EjectionTracker();
    u.apply(SVC, hosts(4), [eject('i0', 0)], p, 0);
    u.apply(SVC, hosts(4), [heartbeatLost('i0', 4000)], p, 4000);
    expect(u.apply(SVC, hosts(4), [heartbeatBack('i0', 5000)], p, 5000).transitions).toEqual([]); // 5 s left
    expect(u.apply(SVC, hosts(4), [], p, 10_000).transitions).toEqual([expect.objectContaining({ to: 'probing' })]);
  });

  it('reports panic when the healthy share falls below the threshold (the balancer’s rule)', () => {
    const t = new EjectionTracker();
    const p = policy();
    const half = t.apply(SVC, hosts(4), [eject('i0', 0), eject('i1', 0)], p, 0).status;
    expect(half).toMatchObject({ healthy: 2, healthyShare: 0.5, panic: false, panicReason: null }); // 50 % is not below 50 %
    const quarter = t.apply(SVC, hosts(4), [heartbeatLost('i2', 1)], p, 1).status;
    expect(quarter).toMatchObject({ healthy: 1, ejected: 3, healthyShare: 0.25, panic: true });
    expect(quarter.panicReason).toBe('1 of 4 instances healthy (25.0 %) < panic threshold 50 %: balancers ignore health and spread traffic over all 4, ejected ones included');
  });

  it('no panic when the healthy share is below the threshold but the level still absorbs everything', () => {
    // panicThreshold 0.8 with overprovisioning 1.4: 3 of 4 healthy → health min(1, 1.05) = 1: not short.
    const t = new EjectionTracker();
    const status = t.apply(SVC, hosts(4), [eject('i0', 0)], policy({ panicThreshold: 0.8 }), 0).status;
    expect(status).toMatchObject({ healthyShare: 0.75, panic: false });
  });
});

describe('detector → tracker', () => {
  it('ejects failing instances up to the cap, probes them back, restores', () => {
    const p = OutlierPolicy.parse({ probe: { successesRequired: 2, minRequests: 1 } });
    const detector = new OutlierDetector();
    const tracker = new EjectionTracker();
    const ids = hosts(4);
    const step = (now: number) => {
      const decisions = detector.evaluate(SVC, ids, p, now, { ejected: tracker.inState(SVC, 'ejected'), probing: tracker.inState(SVC, 'probing') });
      return tracker.apply(SVC, ids, decisions, p, now);
    };
    // i0, i1, i2 fail every request for a window of 3: all three trip the consecutive rule.
    for (const id of ids) detector.observe(SVC, id, { requests: 3, http5xx: id === 'i3' ? 0 : 3, connect: 0, timeout: 0 }, 1000);
    const first = step(1000);
    expect(first.transitions.map((x) => `${x.instanceId}:${x.to}`)).toEqual(['i0:ejected', 'i1:ejected']);
    expect(first.overflow.map((o) => o.instanceId)).toEqual(['i2']);
    // Ejection over at 11 s: probing. Two clean probe windows restore both.
    expect(step(11_000).transitions.map((x) => `${x.instanceId}:${x.to}`)).toEqual(['i0:probing', 'i1:probing']);
    for (const t of [12_000, 13_000]) {
      for (const id of ['i0', 'i1']) detector.observe(SVC, id, { requests: 1, http5xx: 0, connect: 0, timeout: 0 }, t);
      const s = step(t);
      if (t === 13_000) expect(s.transitions.map((x) => `${x.instanceId}:${x.from}→${x.to}`)).toEqual(['i0:probing→healthy', 'i1:probing→healthy']);
    }
  });
});
