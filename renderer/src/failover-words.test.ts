import { describe, expect, it } from 'vitest';
import type { FailoverEvidence, FailoverTransitionInfo } from '../../core/api/contract';
import { auditTransition, evidenceFacts, evidenceSentence, formatDuration, instanceCondition, instanceTimeline, sparedSentence, transitionSentence } from './failover-words';

const T0 = Date.UTC(2026, 10, 27, 12, 3, 4);
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

const consecutive: FailoverEvidence = {
  rule: 'consecutive-failures',
  at: T0,
  samples: {
    variant: 'all',
    streak: 5,
    windows: [
      { at: T0 - 1000, requests: 2, http5xx: 2, connect: 0, timeout: 0 },
      { at: T0, requests: 3, http5xx: 3, connect: 0, timeout: 0 },
    ],
  },
  thresholds: { consecutive: 3, enforcingPercent: 100 },
};

function transition(over: Partial<FailoverTransitionInfo>): FailoverTransitionInfo {
  return { at: T0, from: 'healthy', to: 'ejected', until: T0 + 20_000, durationMs: 20_000, backoff: 2, ejections: 1, reason: 'r', evidence: consecutive, ...over };
}

describe('evidenceSentence, one rule at a time', () => {
  it('consecutive failures: names the class, the threshold and the windows', () => {
    expect(evidenceSentence(consecutive)).toBe('5 consecutive 5xx (threshold 3) over 2 windows');
  });

  it('consecutive failures of mixed classes lists them', () => {
    const mixed: FailoverEvidence = {
      ...consecutive,
      samples: { variant: 'all', streak: 4, windows: [{ at: T0, requests: 4, http5xx: 1, connect: 2, timeout: 1 }] },
    } as FailoverEvidence;
    expect(evidenceSentence(mixed)).toBe('4 consecutive failures (1 × 5xx, 2 × connect, 1 × timeout) (threshold 3) over 1 window');
    const gateway = { ...mixed, samples: { variant: 'gateway', streak: 3, windows: [{ at: T0, requests: 3, http5xx: 0, connect: 3, timeout: 0 }] } } as FailoverEvidence;
    expect(evidenceSentence(gateway)).toBe('3 consecutive connect errors (threshold 3) over 1 window');
  });

  it('success rate: rate, threshold and the population', () => {
    const e: FailoverEvidence = {
      rule: 'success-rate',
      at: T0,
      samples: { requests: 100, failures: 50, successRate: 50, mean: 90, stdev: 20, hosts: Array.from({ length: 5 }, (_, i) => ({ instanceId: `i${i}`, requests: 100, successRate: 90 })) },
      thresholds: { ejectionThreshold: 52, stdevFactor: 1.9, minimumHosts: 3, requestVolume: 20, enforcingPercent: 100 },
    };
    expect(evidenceSentence(e)).toBe('success rate 50.0 % below the threshold 52.0 % (mean 90.0 % − 1.9 × stdev 20.0 over 5 hosts; 50 of 100 requests failed)');
    // A low-volume host judged over several sweep intervals says so.
    const windowed: FailoverEvidence = { ...e, samples: { ...e.samples, requests: 24, failures: 12, intervals: 4 } };
    expect(evidenceSentence(windowed)).toBe('success rate 50.0 % below the threshold 52.0 % (mean 90.0 % − 1.9 × stdev 20.0 over 5 hosts; 12 of 24 requests failed over its last 4 intervals)');
  });

  it('latency: p99 against the threshold and how it was derived', () => {
    const e: FailoverEvidence = {
      rule: 'latency',
      at: T0,
      samples: { requests: 80, p99: 812, medianP99: 40, hosts: [1, 2, 3].map((n) => ({ instanceId: `i${n}`, requests: 80, p99: 40 })) },
      thresholds: { threshold: 120, factor: 3, floorMs: 50, quantile: 0.99, minimumHosts: 3, requestVolume: 50, enforcingPercent: 100 },
    };
    expect(evidenceSentence(e)).toBe('p99 812 ms above the threshold 120 ms (max of 50 ms and 3 × the median p99 40 ms of the other 2 hosts; 80 requests)');
    // A low-volume host judged over several sweep intervals says so.
    const windowed: FailoverEvidence = { ...e, samples: { ...e.samples, requests: 52, intervals: 4, p50: 700, medianP50: 20 }, thresholds: { ...e.thresholds, p50Threshold: 60 } };
    expect(evidenceSentence(windowed)).toBe('p99 812 ms above the threshold 120 ms (max of 50 ms and 3 × the median p99 40 ms of the other 2 hosts; 52 requests over its last 4 intervals), and its p50 700 ms above 60 ms too');
  });

  it('direct signals: what callers reported, in which window', () => {
    const e: FailoverEvidence = {
      rule: 'direct-signal',
      at: T0,
      samples: { count: 3, signals: [0, 1, 2].map((n) => ({ kind: 'connect-refused' as const, at: T0 - n })) },
      thresholds: { count: 3, windowMs: 2000, enforcingPercent: 100 },
    };
    expect(evidenceSentence(e)).toBe('3 connection refusals reported by callers within 2 s (threshold 3)');
  });

  it('heartbeat: silence against the TTL, and resumption', () => {
    const lost: FailoverEvidence = { rule: 'heartbeat', at: T0, samples: { lastHeartbeat: T0 - 4200, heartbeatIntervalMs: 1000, silentMs: 4200 }, thresholds: { ttlMs: 3000, missedIntervals: 3 } };
    expect(evidenceSentence(lost)).toBe('no heartbeat for 4.2 s (limit 3 s: 3 missed × 1 s)');
    const refused: FailoverEvidence = { rule: 'heartbeat', at: T0, samples: { lastHeartbeat: T0 - 1100, heartbeatIntervalMs: 1000, silentMs: 1100, refusedAt: T0 - 900 }, thresholds: { ttlMs: 1000, missedIntervals: 3, refusedIntervals: 1 } };
    expect(evidenceSentence(refused)).toBe("no heartbeat for 1.1 s after a caller's connection was refused (limit 1 s: 1 × 1 s)");
    // While the console was behind in hearing heartbeats, the limit carried that much more.
    const behind: FailoverEvidence = { ...lost, samples: { ...lost.samples, silentMs: 9200 }, thresholds: { ttlMs: 9000, missedIntervals: 3, graceMs: 6000 } };
    expect(evidenceSentence(behind)).toBe('no heartbeat for 9.2 s (limit 9 s: 3 missed × 1 s + 6 s the console was behind)');
    const back = { ...lost, samples: { ...lost.samples, silentMs: 12_500, resumedAt: T0 } } as Extract<FailoverEvidence, { rule: 'heartbeat' }>;
    expect(evidenceSentence(back)).toBe('heartbeats resumed after 13 s of silence');
    expect(evidenceSentence({ rule: 'heartbeat-resumed', at: T0, samples: { ejectedAt: T0 - 9000, until: null, heartbeatEvidence: back }, thresholds: {} })).toBe(
      'heartbeats resumed after 13 s of silence',
    );
  });

  it('probe windows: success, failure by rate, failure by latency', () => {
    const ok: FailoverEvidence = {
      rule: 'probe',
      at: T0,
      samples: { windows: [{ at: T0, requests: 4, failures: 0, failureRate: 0, p99: 10, ok: true }], succeeded: 1, failed: 0 },
      thresholds: { minRequests: 1, maxFailureRate: 0.1, latencyThreshold: 100 },
    };
    expect(evidenceSentence(ok)).toBe('1 probe window succeeded');
    const bad = { ...ok, samples: { windows: [{ at: T0, requests: 10, failures: 3, failureRate: 0.3, p99: 400, ok: false }], succeeded: 0, failed: 1 } } as FailoverEvidence;
    expect(evidenceSentence(bad)).toBe('probe window failed: 3 of 10 requests failed (max 10 %), p99 400 ms above 100 ms');
  });

  it('tracker rules: ejection time over, probes restored', () => {
    expect(evidenceSentence({ rule: 'ejection-elapsed', at: T0, samples: { ejectedAt: T0 - 20_000, durationMs: 20_000, backoff: 2 }, thresholds: { baseMs: 10_000, maxMs: 120_000 } })).toBe(
      'its 20 s ejection ended',
    );
    expect(evidenceSentence({ rule: 'probe-restored', at: T0, samples: { successes: 3, probeEvidence: consecutive }, thresholds: { successesRequired: 3 } })).toBe(
      '3 successful probe windows (3 required)',
    );
  });
});

describe('transitionSentence', () => {
  it('an ejection: time, why, when it comes back and at what share', () => {
    expect(transitionSentence(transition({}), { now: T0, clock, probeShare: 0.05 })).toBe(
      'ejected 12:03:04 — 5 consecutive 5xx (threshold 3) over 2 windows; back in 20 s, then probed at 5.0 % traffic',
    );
    expect(transitionSentence(transition({ ejections: 3 }), { now: T0 + 25_000, clock })).toBe(
      'ejected 12:03:04 (ejection 3) — 5 consecutive 5xx (threshold 3) over 2 windows; probing due now',
    );
  });

  it('an ejection for lost heartbeats is held until they resume', () => {
    const hb: FailoverEvidence = { rule: 'heartbeat', at: T0, samples: { lastHeartbeat: T0 - 4000, heartbeatIntervalMs: 1000, silentMs: 4000 }, thresholds: { ttlMs: 3000, missedIntervals: 3 } };
    expect(transitionSentence(transition({ until: null, durationMs: null, evidence: hb }), { now: T0, clock, probeShare: 0.05 })).toBe(
      'ejected 12:03:04 — no heartbeat for 4 s (limit 3 s: 3 missed × 1 s); held until heartbeats resume, then probed at 5.0 % traffic',
    );
  });

  it('probing and restored', () => {
    const elapsed: FailoverEvidence = { rule: 'ejection-elapsed', at: T0, samples: { ejectedAt: T0 - 10_000, durationMs: 10_000, backoff: 1 }, thresholds: { baseMs: 10_000, maxMs: 120_000 } };
    expect(transitionSentence(transition({ from: 'ejected', to: 'probing', until: null, evidence: elapsed }), { now: T0, clock, probeShare: 0.05, successesRequired: 3 })).toBe(
      'probing since 12:03:04 at 5.0 % traffic — its 10 s ejection ended; restored after 3 good windows',
    );
    const restored: FailoverEvidence = { rule: 'probe-restored', at: T0, samples: { successes: 3, probeEvidence: consecutive }, thresholds: { successesRequired: 3 } };
    expect(transitionSentence(transition({ from: 'probing', to: 'healthy', until: null, evidence: restored }), { now: T0, clock })).toBe(
      'restored 12:03:04 — 3 successful probe windows (3 required)',
    );
  });
});

describe('sparedSentence', () => {
  it('slow against its peers, the callees that explain it (slowest first), and its own latency under the bar', () => {
    const spared = {
      at: T0,
      reason: 'spared: …',
      p99: 812,
      threshold: 120,
      ownP99: 12,
      ownThreshold: 120,
      ownBy: 'p99' as const,
      callees: [
        { service: 'ledger', requests: 40, p99: 30, p50: 10 },
        { service: 'payments', requests: 40, p99: 800, p50: 790 },
      ],
    };
    expect(sparedSentence(spared, clock)).toBe(
      'slow but not ejected 12:03:04 — p99 812 ms above the bar 120 ms, explained by its calls to payments (p99 800 ms), ledger (p99 30 ms); its own p99 12 ms is under 120 ms',
    );
  });

  it('spared on its own median (judged over several intervals): names the p50 bar, not the p99 it is above', () => {
    const spared = {
      at: T0,
      reason: 'spared: …',
      p99: 1130,
      threshold: 924,
      ownP99: 388,
      ownThreshold: 341,
      ownBy: 'p50' as const,
      ownP50: 82,
      ownP50Threshold: 285,
      callees: [{ service: 'payments', requests: 50, p99: 743, p50: 646 }],
    };
    expect(sparedSentence(spared, clock)).toBe(
      'slow but not ejected 12:03:04 — p99 1130 ms above the bar 924 ms, explained by its calls to payments (p99 743 ms); its own p50 82 ms is under 285 ms',
    );
  });
});

describe('helpers', () => {
  it('formatDuration', () => {
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(20_000)).toBe('20 s');
    expect(formatDuration(150_000)).toBe('2 min 30 s');
    expect(formatDuration(120_000)).toBe('2 min');
    expect(formatDuration(3_900_000)).toBe('1 h 5 min');
  });

  it('instanceCondition puts the registry first, then failover, then draining', () => {
    const held = { state: 'ejected' as const, until: null, reason: '', ejections: 1 };
    expect(instanceCondition({ state: 'down', failover: held })).toBe('down');
    expect(instanceCondition({ state: 'healthy', failover: held })).toBe('ejected');
    expect(instanceCondition({ state: 'draining', failover: null })).toBe('draining');
    expect(instanceCondition({ state: 'healthy', failover: null })).toBe('healthy');
  });

  it('auditTransition reads automatic audit entries and nothing else', () => {
    const entry = { origin: 'automatic' as const, at: T0, reason: 'r', detail: { from: 'healthy', to: 'ejected', until: T0 + 1, durationMs: 10_000, backoff: 1, ejections: 1 }, evidence: consecutive };
    expect(auditTransition(entry)).toMatchObject({ from: 'healthy', to: 'ejected', durationMs: 10_000, evidence: { rule: 'consecutive-failures' } });
    expect(auditTransition({ ...entry, origin: 'operator' })).toBeNull();
    expect(auditTransition({ ...entry, detail: { reset: true } })).toBeNull();
    expect(auditTransition({ ...entry, evidence: null })).toBeNull();
  });

  it('evidenceFacts lists samples and thresholds', () => {
    const facts = evidenceFacts(consecutive, clock);
    expect(facts).toContainEqual(['rule', 'consecutive-failures']);
    expect(facts).toContainEqual(['decided at', '12:03:04']);
    expect(facts).toContainEqual(['streak', '5']);
    expect(facts).toContainEqual(['windows', '2 items']);
    expect(facts).toContainEqual(['threshold consecutive', '3']);
  });

  it('instanceTimeline merges registry and failover rows, newest first', () => {
    const rows = instanceTimeline(
      [{ at: T0 - 60_000, kind: 'registered', from: null, to: null, detail: 'zone-a' }],
      [transition({}), transition({ at: T0 + 20_000, from: 'ejected', to: 'probing', evidence: { rule: 'ejection-elapsed', at: T0, samples: { ejectedAt: T0, durationMs: 20_000, backoff: 2 }, thresholds: { baseMs: 1, maxMs: 2 } } })],
      { now: T0 + 30_000, clock },
    );
    expect(rows.map((r) => r.source)).toEqual(['failover', 'failover', 'registry']);
    expect(rows[0]!.text).toBe('probing since 12:03:24 — its 20 s ejection ended');
    expect(rows[1]!.text).toBe('ejected 12:03:04 — 5 consecutive 5xx (threshold 3) over 2 windows; for 20 s');
    expect(rows[2]!.text).toBe('12:02:04 registered — zone-a');
  });
});
