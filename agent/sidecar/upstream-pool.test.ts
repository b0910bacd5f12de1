import { describe, expect, it } from 'vitest';
import { UpstreamPool } from './upstream-pool.js';

function pool(clock: { now: number }) {
  const p = new UpstreamPool('round-robin', 'zone-a', { baseMs: 1000, maxMs: 4000, consecutiveFailures: 3 }, () => clock.now);
  p.update({
    service: 'pay',
    revision: 1,
    endpoints: [
      { instanceId: 'p1', zone: 'zone-a', address: '127.0.0.1:1001', weight: 100, state: 'healthy' },
      { instanceId: 'p2', zone: 'zone-a', address: '127.0.0.1:1002', weight: 100, state: 'healthy' },
    ],
  });
  return p;
}

const picks = (p: UpstreamPool, n = 40) => new Set(Array.from({ length: n }, () => p.pick('pay', new Set())?.id));

describe('UpstreamPool local ejection', () => {
  it('sets an endpoint aside at once on a refused connection, and re-admits it when the time is up', () => {
    const clock = { now: 0 };
    const p = pool(clock);
    const events: string[] = [];
    p.onLocalEjection((e) => events.push(`${e.instanceId} until ${e.until}: ${e.reason}`));
    p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED');
    expect(events).toEqual(['p1 until 1000: connection refused']);
    expect(p.localEjections('pay')).toEqual(['p1']);
    expect(picks(p)).toEqual(new Set(['p2']));
    clock.now = 999;
    expect(picks(p)).toEqual(new Set(['p2']));
    clock.now = 1000;
    expect(picks(p)).toEqual(new Set(['p1', 'p2']));
    expect(p.localEjections('pay')).toEqual([]);
  });

  it('a retry never falls back to an endpoint set aside here', () => {
    const clock = { now: 0 };
    const p = new UpstreamPool('round-robin', 'zone-a', { baseMs: 1000, maxMs: 4000, consecutiveFailures: 3 }, () => clock.now);
    p.update({
      service: 'pay',
      revision: 1,
      endpoints: [
        { instanceId: 'p1', zone: 'zone-a', address: '127.0.0.1:1001', weight: 100, state: 'healthy' },
        { instanceId: 'p2', zone: 'zone-b', address: '127.0.0.1:1002', weight: 100, state: 'healthy' },
        { instanceId: 'p3', zone: 'zone-b', address: '127.0.0.1:1003', weight: 100, state: 'healthy' },
      ],
    });
    p.reportConnectFailure('pay', 'p2', 'ECONNREFUSED');
    // p1 (the local zone) was tried: the balancer keeps choosing it, so the pick falls back to
    // another endpoint the core lists as healthy: p3, not p2, which refused this sidecar.
    expect(new Set(Array.from({ length: 20 }, () => p.pick('pay', new Set(['p1']))?.id))).toEqual(new Set(['p3']));
    // Nothing else left: the tried one again rather than the one set aside.
    expect(p.pick('pay', new Set(['p1', 'p3']))?.id).toBe('p1');
    clock.now = 1000; // the local ejection is over
    expect(p.pick('pay', new Set(['p1', 'p3']))?.id).toBe('p2');
  });

  it('doubles the ejection each time, up to the cap', () => {
    const clock = { now: 0 };
    const p = pool(clock);
    const untils: number[] = [];
    p.onLocalEjection((e) => untils.push(e.until - clock.now));
    for (let i = 0; i < 4; i++) {
      p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED');
      clock.now += 10_000;
    }
    expect(untils).toEqual([1000, 2000, 4000, 4000]);
  });

  it('forgets the backoff once the endpoint has answered for baseMs after its last ejection', () => {
    const clock = { now: 0 };
    const p = pool(clock);
    const untils: number[] = [];
    p.onLocalEjection((e) => untils.push(e.until - clock.now));
    p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED'); // until 1000
    clock.now = 5000;
    p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED'); // refused again on its way back: 2000, until 7000
    clock.now = 7500;
    p.reportReachable('pay', 'p1'); // back, but for less than baseMs: the backoff stays
    clock.now = 7999;
    p.reportReachable('pay', 'p1');
    clock.now = 20_000;
    p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED'); // 4000: still backing off
    clock.now = 30_000;
    p.reportReachable('pay', 'p1'); // answered 6 s after the ejection ended (>= baseMs)
    clock.now = 40_000;
    p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED'); // a new failure starts from baseMs again
    expect(untils).toEqual([1000, 2000, 4000, 1000]);
  });

  it('needs several other connection failures in a row, and a reachable try resets the streak', () => {
    const clock = { now: 0 };
    const p = pool(clock);
    p.reportConnectFailure('pay', 'p1', 'ECONNRESET');
    p.reportConnectFailure('pay', 'p1', 'ECONNRESET');
    p.reportReachable('pay', 'p1');
    p.reportConnectFailure('pay', 'p1', 'ECONNRESET');
    p.reportConnectFailure('pay', 'p1', 'ECONNRESET');
    expect(p.localEjections('pay')).toEqual([]);
    p.reportConnectFailure('pay', 'p1', 'ECONNRESET');
    expect(p.localEjections('pay')).toEqual(['p1']);
  });

  it('keeps a local ejection across an endpoint push that still says healthy', () => {
    const clock = { now: 0 };
    const p = pool(clock);
    p.reportConnectFailure('pay', 'p1', 'ECONNREFUSED');
    p.update({
      service: 'pay',
      revision: 2,
      endpoints: [
        { instanceId: 'p1', zone: 'zone-a', address: '127.0.0.1:1001', weight: 100, state: 'healthy' },
        { instanceId: 'p2', zone: 'zone-a', address: '127.0.0.1:1002', weight: 100, state: 'healthy' },
      ],
    });
    expect(picks(p)).toEqual(new Set(['p2']));
  });
});

describe('UpstreamPool zone caps (the endpoint set’s zones)', () => {
  const endpoints = [
    { instanceId: 'a1', zone: 'zone-a', address: '127.0.0.1:1001', weight: 100, state: 'healthy' as const },
    { instanceId: 'b1', zone: 'zone-b', address: '127.0.0.1:1002', weight: 100, state: 'healthy' as const },
  ];
  const zoneAShare = (p: UpstreamPool, n = 4000) => Array.from({ length: n }, () => p.pick('pay', new Set())?.zone).filter((z) => z === 'zone-a').length / n;

  it('follows the admitted health of each set, and drops the cap with a set without zones', () => {
    const p = new UpstreamPool('round-robin', 'zone-a');
    p.update({ service: 'pay', revision: 1, endpoints });
    expect(zoneAShare(p)).toBe(1);
    p.update({ service: 'pay', revision: 2, endpoints, zones: { 'zone-a': { admitted: 0 } } });
    expect(zoneAShare(p)).toBe(0);
    p.update({ service: 'pay', revision: 3, endpoints, zones: { 'zone-a': { admitted: 0.5 } } });
    // Binomial over 4 000 picks: 5σ ≈ 0.04.
    expect(Math.abs(zoneAShare(p) - 0.5)).toBeLessThan(0.04);
    // An older revision changes nothing.
    p.update({ service: 'pay', revision: 2, endpoints, zones: { 'zone-a': { admitted: 0 } } });
    expect(Math.abs(zoneAShare(p) - 0.5)).toBeLessThan(0.04);
    p.update({ service: 'pay', revision: 4, endpoints });
    expect(zoneAShare(p)).toBe(1);
  });
});
