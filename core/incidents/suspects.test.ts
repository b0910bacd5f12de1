import { describe, expect, it } from 'vitest';
import type { ServiceBreakdown, Totals } from './signals.js';
import { CHANGE_HALF_LIFE_MS, rankSuspects } from './suspects.js';

const t = (requests: number, failed: number, p99: number | null = 5): Totals => ({ requests, failed, p99 });
const breakdown = (b: Partial<ServiceBreakdown> & { service: Totals }): ServiceBreakdown => ({ instances: new Map(), callers: new Map(), dependencies: new Map(), ...b });
const onset = 1_000_000;

describe('rankSuspects', () => {
  it('puts the instance with the failures first; evenly spread failures score evenly', () => {
    const concentrated = rankSuspects({
      service: 'pay',
      onset,
      rules: ['error-rate'],
      since: breakdown({ service: t(300, 100), instances: new Map([['a', t(100, 0)], ['b', t(100, 100)], ['c', t(100, 0)]]) }),
      changes: [],
      p99SloMs: 1000,
    });
    expect(concentrated.map((s) => s.target)).toEqual(['b']); // the others explain nothing: score 0, left out
    expect(concentrated[0]!.score).toBeCloseTo(0.55 + 0.25 * (1 - 1 / 3), 3);
    const spread = rankSuspects({
      service: 'pay',
      onset,
      rules: ['error-rate'],
      since: breakdown({ service: t(300, 30), instances: new Map([['a', t(100, 10)], ['b', t(100, 10)], ['c', t(100, 10)]]) }),
      changes: [],
      p99SloMs: 1000,
    });
    expect(new Set(spread.map((s) => s.score)).size).toBe(1);
    expect(spread[0]!.evidence.concentration).toBe(0);
  });

  it('weighs a change on an instance by its closeness to the onset', () => {
    const rank = (at: number) =>
      rankSuspects({
        service: 'pay',
        onset,
        rules: ['instance-lost'],
        since: breakdown({ service: t(0, 0) }),
        changes: [{ at, service: 'pay', instanceId: 'a', what: 'a healthy → down', weight: 1 }],
        p99SloMs: 1000,
      })[0]!;
    expect(rank(onset).score).toBeCloseTo(0.2, 3);
    expect(rank(onset - CHANGE_HALF_LIFE_MS).score).toBeCloseTo(0.1, 3);
    expect(rank(onset + 2000).reasoning).toMatch(/a healthy → down at \d\d:\d\d:\d\d \(2 s after the onset\)/);
  });

  it('names a failing dependency and a caller that concentrates the failures', () => {
    const out = rankSuspects({
      service: 'checkout',
      onset,
      rules: ['error-rate'],
      since: breakdown({
        service: t(200, 100),
        instances: new Map([['c1', t(100, 50)], ['c2', t(100, 50)]]),
        dependencies: new Map([['payments', t(100, 100)]]),
        callers: new Map([['web', t(100, 90)], ['mobile', t(100, 10)]]),
      }),
      changes: [],
      p99SloMs: 1000,
    });
    expect(out[0]).toMatchObject({ kind: 'dependency', target: 'checkout → payments', score: 0.9 });
    expect(out[0]!.reasoning).toBe('checkout’s calls to payments failed 100 times (100 % of 100), as many as 100 % of checkout’s own failures');
    const caller = out.find((s) => s.kind === 'caller')!;
    expect(caller).toMatchObject({ target: 'web → checkout', score: 0.2 });
  });
});

describe('rankSuspects for queue rules', () => {
  it('the queue first, then its consumers, then its publishers; one row per candidate at its higher score', () => {
    const out = rankSuspects({
      service: 'billing',
      onset,
      rules: ['queue-backlog', 'consumer-gone'],
      since: breakdown({ service: t(0, 0) }),
      changes: [],
      p99SloMs: 1000,
      queues: [
        { queue: 'jobs', depth: 500, consumers: 0, rule: 'queue-backlog', consumerServices: ['billing'], publisherServices: ['orders'], trend: 'growing: 100 → 500 ready over 3 readings' },
        { queue: 'jobs', depth: 500, consumers: 0, rule: 'consumer-gone', consumerServices: ['billing'], publisherServices: ['orders'] },
      ],
    });
    expect(out.map((s) => [s.kind, s.target, s.score])).toEqual([
      ['queue', 'jobs', 0.9],
      ['consumer', 'billing', 0.6],
      ['publisher', 'orders', 0.4],
    ]);
    expect(out[1]!.reasoning).toBe('billing consumed jobs and no longer does (0 consumers, 500 messages waiting)');
    expect(out[2]!.reasoning).toBe('orders publishes into jobs, which grows; growing: 100 → 500 ready over 3 readings');
  });
});

describe('Trace', () => {
  it('keeps an incident\u2019s totals beyond the ring, and takes late batches of unsettled seconds', async () => {
    const { TrafficSignals, Trace, SETTLE_MS } = await import('./signals.js');
    const { telemetryBatch } = await import('../telemetry/test-support.js');
    const signals = new TrafficSignals({ keepSeconds: 10, detailSeconds: 10 }); // a 10 s ring
    const trace = new Trace('pay', 0);
    const batch = (t: number, failed: number) => telemetryBatch('web', 'web-1', t, [{ peerService: 'pay', peerInstance: 'pay-1', values: [5, 5, 5, 5], errors: { http5xx: failed } }]);
    for (let s = 0; s < 60; s++) {
      signals.ingest(batch(s * 1000, 1));
      // A straggler for the previous second, within the settle time.
      if (s > 0) signals.ingest(batch((s - 1) * 1000, 1));
      signals.breakdown(trace, (s + 1) * 1000);
    }
    expect(SETTLE_MS).toBeGreaterThan(1000);
    // 60 seconds (59 with a straggler), all counted once, though the ring keeps 10.
    const b = signals.breakdown(trace, 60_000);
    expect(b.service).toMatchObject({ requests: 4 * 119, failed: 119 });
    expect(b.instances.get('pay-1')).toMatchObject({ requests: 4 * 119, failed: 119, p99: expect.closeTo(5, 0) });
    expect(b.callers.get('web')).toMatchObject({ failed: 119 });
  });
});
