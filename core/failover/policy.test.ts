import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { DEFAULT_OUTLIER_POLICY, ENVOY_DEFAULTS, OutlierPolicy, parseOutlierPolicy } from './policy.js';

describe('OutlierPolicy', () => {
  it('parses {} to Meshdeck’s defaults', () => {
    const p = OutlierPolicy.parse({});
    expect(p).toEqual(DEFAULT_OUTLIER_POLICY);
    expect(p).toMatchObject({
      intervalMs: 1000,
      consecutiveFailures: { enabled: true, threshold: 3, enforcingPercent: 100 },
      consecutiveGatewayFailures: { enabled: true, threshold: 3, enforcingPercent: 100 },
      successRate: { enabled: true, minimumHosts: 3, requestVolume: 20, stdevFactor: 1.9, enforcingPercent: 100 },
      latency: { enabled: true, factor: 3, floorMs: 50, minimumHosts: 2, requestVolume: 50 },
      directSignal: { enabled: true, threshold: 3, windowMs: 2000 },
      heartbeat: { enabled: true, missedIntervals: 3 },
      ejection: { baseMs: 10_000, maxMs: 120_000, maxEjectionPercent: 50, alwaysEjectOne: false, decayMs: 30_000 },
      probe: { share: 0.05, successesRequired: 3, minRequests: 1, maxFailureRate: 0.1 },
      panicThreshold: 0.5,
      overprovisioningFactor: 1.4,
      failback: { step: 0.25, intervalMs: 5000 },
      circuitBreaker: { maxPending: 128, maxInflight: 1024, enabled: false, consecutiveFailures: 5, failureRateThreshold: 0.5, openMs: 5000, halfOpenProbes: 3 },
    });
  });

  it('ENVOY_DEFAULTS carries Envoy’s documented defaults', () => {
    expect(ENVOY_DEFAULTS).toMatchObject({
      intervalMs: 10_000, // interval
      consecutiveFailures: { threshold: 5, enforcingPercent: 100 }, // consecutive_5xx, enforcing_consecutive_5xx
      consecutiveGatewayFailures: { threshold: 5, enforcingPercent: 0 }, // consecutive_gateway_failure; enforcing_… defaults to 0
      successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9, enforcingPercent: 100 },
      ejection: { baseMs: 30_000, maxMs: 300_000, maxEjectionPercent: 10, alwaysEjectOne: false },
      probe: { successesRequired: 0 },
      panicThreshold: 0.5,
      overprovisioningFactor: 1.4,
      failback: { intervalMs: 0 },
      latency: { enabled: false },
      directSignal: { enabled: false },
      circuitBreaker: { maxPending: 1024, maxInflight: 1024, enabled: false },
    });
  });

  it('fills a partial group from the defaults and round-trips through JSON', () => {
    const p = OutlierPolicy.parse({ successRate: { minimumHosts: 5 } });
    expect(p.successRate).toEqual({ ...DEFAULT_OUTLIER_POLICY.successRate, minimumHosts: 5 });
    expect(OutlierPolicy.parse(JSON.parse(JSON.stringify(p)))).toEqual(p);
  });

  it('refuses unknown keys, out-of-range values and max < base, naming every field', () => {
    expect(() => parseOutlierPolicy({ consecutiveFailures: { treshold: 3 } })).toThrow(ValidationError);
    try {
      parseOutlierPolicy({ ejection: { baseMs: 20_000, maxMs: 10_000, maxEjectionPercent: 101 }, probe: { share: 0 } });
      expect.unreachable();
    } catch (err) {
      const issues = (err as ValidationError).issues.map((i) => i.path);
      expect(issues).toEqual(expect.arrayContaining(['ejection.maxEjectionPercent', 'probe.share']));
    }
    try {
      parseOutlierPolicy({ ejection: { baseMs: 20_000, maxMs: 10_000 } });
      expect.unreachable();
    } catch (err) {
      expect((err as ValidationError).issues).toEqual([{ path: 'ejection.maxMs', message: 'must be >= ejection.baseMs (Envoy refuses this too)' }]);
    }
  });

  it('treats null/undefined as {} and freezes the presets', () => {
    expect(parseOutlierPolicy(undefined)).toEqual(DEFAULT_OUTLIER_POLICY);
    expect(Object.isFrozen(DEFAULT_OUTLIER_POLICY.ejection)).toBe(true);
    expect(Object.isFrozen(ENVOY_DEFAULTS)).toBe(true);
  });
});
