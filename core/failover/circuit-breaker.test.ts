import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitBreakers, type BreakerSettings } from './circuit-breaker.js';
import { DEFAULT_OUTLIER_POLICY, ENVOY_DEFAULTS } from './policy.js';

const EDGE = { from: 'web', to: 'orders' };

function settings(o: Partial<BreakerSettings> = {}): BreakerSettings {
  return {
    ...DEFAULT_OUTLIER_POLICY.circuitBreaker,
    enabled: true,
    consecutiveFailures: 5,
    failureRateThreshold: 0.5,
    failureRateWindowMs: 10_000,
    failureRateMinRequests: 20,
    openMs: 5_000,
    halfOpenProbes: 3,
    maxInflight: 100,
    maxPending: 10,
    ...o,
  };
}

/** A breaker opened by consecutive failures at `at`. */
function opened(at = 0, o: Partial<BreakerSettings> = {}): CircuitBreaker {
  const b = new CircuitBreaker(EDGE, settings(o));
  for (let i = 0; i < 5; i++) b.record(at, false);
  expect(b.state).toBe('open');
  return b;
}

describe('CircuitBreaker: closed → open', () => {
  it('opens at exactly N consecutive failures, not N − 1', () => {
    const b = new CircuitBreaker(EDGE, settings());
    for (let i = 0; i < 4; i++) expect(b.record(i, false)).toBeNull();
    expect(b.state).toBe('closed');
    const t = b.record(4, false);
    expect(t).toMatchObject({
      edge: EDGE,
      from: 'closed',
      to: 'open',
      at: 4,
      until: 5_004,
      evidence: { rule: 'consecutive-failures', samples: { consecutiveFailures: 5, requests: 5, failures: 5, failureRate: 1 }, thresholds: { consecutiveFailures: 5, openMs: 5_000 } },
    });
  });

  it('a success resets the streak', () => {
    const b = new CircuitBreaker(EDGE, settings());
    for (let i = 0; i < 4; i++) b.record(i, false);
    b.record(4, true);
    for (let i = 0; i < 4; i++) b.record(5 + i, false);
    expect(b.state).toBe('closed');
  });

  it.each([
    [20, 10, 'open'], // 50 % = threshold over the minimum volume
    [20, 9, 'closed'], // 45 %
    [19, 10, 'closed'], // one request short of the minimum
  ])('%d requests with %d failures spread evenly → %s', (requests, failures, state) => {
    const b = new CircuitBreaker(EDGE, settings());
    // Failures spread evenly (never 5 in a row, so only the rate can open it).
    const failAt = (i: number) => Math.floor(((i + 1) * failures) / requests) > Math.floor((i * failures) / requests);
    let failed = 0;
    for (let i = 0; i < requests; i++) {
      if (failAt(i)) failed++;
      b.record(i, !failAt(i));
    }
    expect(failed).toBe(failures);
    expect(b.state).toBe(state);
    if (state === 'open') expect(b.snapshot(requests).last?.evidence).toMatchObject({ rule: 'failure-rate', samples: { requests: 20, failures: 10, failureRate: 0.5 } });
  });

  it('forgets outcomes older than the rolling window', () => {
    const b = new CircuitBreaker(EDGE, settings());
    for (let i = 0; i < 10; i++) b.record(0, i % 2 === 0); // 5 failures at t=0
    expect(b.snapshot(9_999).window).toEqual({ requests: 10, failures: 5 });
    expect(b.snapshot(10_000).window).toEqual({ requests: 0, failures: 0 });
    for (let i = 0; i < 10; i++) b.record(10_000, i % 2 === 0);
    expect(b.state).toBe('closed'); // only 10 in the window
  });

  it('telemetry windows: an all-failed window adds to the streak, a mixed one resets it', () => {
    const b = new CircuitBreaker(EDGE, settings({ failureRateMinRequests: 1000 }));
    expect(b.recordWindow(1000, { requests: 3, failures: 3 })).toBeNull();
    expect(b.recordWindow(2000, { requests: 10, failures: 9 })).toBeNull();
    expect(b.snapshot(2000).consecutiveFailures).toBe(0);
    expect(b.recordWindow(3000, { requests: 5, failures: 5 })).toMatchObject({ to: 'open', evidence: { rule: 'consecutive-failures', samples: { consecutiveFailures: 5 } } });
  });
});

describe('CircuitBreaker: open → half-open → closed / open', () => {
  it('refuses while open and goes half-open exactly after openMs', () => {
    const b = opened(0);
    expect(b.admit(4_999)).toMatchObject({ allowed: false, state: 'open', reason: 'open', transition: null });
    const a = b.admit(5_000);
    expect(a).toMatchObject({ allowed: true, state: 'half-open', reason: 'half-open-probe' });
    expect(a.transition).toMatchObject({ from: 'open', to: 'half-open', at: 5_000, until: null, evidence: { rule: 'open-elapsed', samples: { openedAt: 0 } } });
  });

  it('lets M probes through; M successes close it', () => {
    const b = opened(0);
    expect([1, 2, 3, 4].map(() => b.admit(5_000).reason)).toEqual(['half-open-probe', 'half-open-probe', 'half-open-probe', 'probes-in-flight']);
    expect(b.record(5_010, true)).toBeNull();
    expect(b.record(5_020, true)).toBeNull();
    expect(b.record(5_030, true)).toMatchObject({ from: 'half-open', to: 'closed', evidence: { rule: 'probes-succeeded', samples: { probeSuccesses: 3 } } });
    expect(b.admit(5_040)).toMatchObject({ allowed: true, reason: 'closed' });
    expect(b.snapshot(5_040)).toMatchObject({ consecutiveFailures: 0, window: { requests: 0, failures: 0 } });
  });

  it('a failed probe opens it again for openMs', () => {
    const b = opened(0);
    b.admit(5_000);
    b.record(5_010, true);
    expect(b.record(5_020, false)).toMatchObject({ from: 'half-open', to: 'open', until: 10_020, evidence: { rule: 'probe-failed' } });
    expect(b.admit(10_019).allowed).toBe(false);
    expect(b.admit(10_020).reason).toBe('half-open-probe');
  });

  it('ignores outcomes that arrive while open', () => {
    const b = opened(0);
    expect(b.record(100, true)).toBeNull();
    expect(b.record(200, false)).toBeNull();
    expect(b.state).toBe('open');
  });

  it('moves to half-open on a late outcome too (record polls the clock)', () => {
    const b = opened(0);
    expect(b.record(6_000, true)).toMatchObject({ to: 'half-open' });
  });
});

describe('CircuitBreaker: limits', () => {
  it.each([
    [{ inflight: 99, pending: 9 }, true, 'closed'],
    [{ inflight: 100, pending: 0 }, false, 'max-inflight'],
    [{ inflight: 0, pending: 10 }, false, 'max-pending'],
  ])('%j → allowed %s (%s)', (load, allowed, reason) => {
    const b = new CircuitBreaker(EDGE, settings());
    expect(b.admit(0, load)).toMatchObject({ allowed, reason });
  });

  it('with the state machine disabled (Envoy) it never opens, but the limits apply', () => {
    const b = new CircuitBreaker(EDGE, { ...ENVOY_DEFAULTS.circuitBreaker });
    for (let i = 0; i < 100; i++) expect(b.record(i, false)).toBeNull();
    expect(b.admit(100)).toMatchObject({ allowed: true, state: 'closed' });
    expect(b.admit(100, { inflight: 1024 })).toMatchObject({ allowed: false, reason: 'max-inflight' });
  });
});

describe('CircuitBreakers', () => {
  it('keeps one breaker per edge and updates its settings', () => {
    const set = new CircuitBreakers();
    const a = set.get('web', 'orders', settings());
    expect(set.get('web', 'orders', settings({ openMs: 1 }))).toBe(a);
    expect(set.get('orders', 'web', settings())).not.toBe(a);
    expect(set.all()).toHaveLength(2);
    for (let i = 0; i < 5; i++) a.record(0, false);
    expect(a.snapshot(0).until).toBe(1); // openMs 1 from the new settings
  });
});

describe('CircuitBreaker: operator trip and reset', () => {
  it('trip opens it with evidence; without a duration it stays open past openMs; reset closes it and clears the streak', () => {
    const b = new CircuitBreaker(EDGE, settings());
    for (let i = 0; i < 4; i++) b.record(i, false);
    const t = b.trip(10, null, 'operator');
    expect(t).toMatchObject({ from: 'closed', to: 'open', until: null, reason: 'operator', evidence: { rule: 'manual-trip', samples: { consecutiveFailures: 4 } } });
    expect(b.snapshot(10)).toMatchObject({ state: 'open', manual: true });
    expect(b.admit(1_000_000)).toMatchObject({ allowed: false, reason: 'open', detail: 'tripped by an operator until reset' });
    expect(b.record(1_000_001, true)).toBeNull(); // outcomes of requests sent before are ignored
    const r = b.reset(1_000_002, 'operator');
    expect(r).toMatchObject({ from: 'open', to: 'closed', evidence: { rule: 'manual-reset' } });
    expect(b.snapshot(1_000_002)).toMatchObject({ state: 'closed', manual: false, consecutiveFailures: 0 });
    for (let i = 0; i < 4; i++) b.record(1_000_003 + i, false);
    expect(b.state).toBe('closed'); // the streak started again from 0
  });

  it('a trip with a duration goes half-open exactly when it ends, and is no longer manual', () => {
    const b = new CircuitBreaker(EDGE, settings());
    b.trip(0, 2_000, 'drill');
    expect(b.poll(1_999)).toBeNull();
    expect(b.poll(2_000)).toMatchObject({ to: 'half-open', evidence: { rule: 'open-elapsed' } });
    expect(b.tripped).toBe(false);
  });

  it('a trip overrides enabled: false and the limits still come first', () => {
    const b = new CircuitBreaker(EDGE, settings({ enabled: false }));
    b.trip(0, null, 'x');
    expect(b.admit(1).reason).toBe('open');
    expect(b.admit(1, { inflight: 100 }).reason).toBe('max-inflight');
  });
});
