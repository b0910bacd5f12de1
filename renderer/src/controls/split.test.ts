import { describe, expect, it } from 'vitest';
import { nothingServes, takesTraffic, trafficSplit } from './split';

const inst = (instanceId: string, weight: number, extra: { state?: 'healthy' | 'draining' | 'down'; ejected?: boolean; zone?: string } = {}) => ({
  instanceId,
  zone: extra.zone ?? 'zone-a',
  weight,
  state: extra.state ?? ('healthy' as const),
  failover: extra.ejected ? ({ state: 'ejected' } as never) : null,
});

describe('trafficSplit', () => {
  it('shares traffic by weight among serving instances, before and after one instance changes', () => {
    const rows = trafficSplit([inst('a', 100), inst('b', 100), inst('c', 200)], { instanceId: 'c', weight: 0 });
    expect(rows.map((r) => r.shareBefore)).toEqual([0.25, 0.25, 0.5]);
    expect(rows.map((r) => r.shareAfter)).toEqual([0.5, 0.5, 0]);
    expect(rows.map((r) => r.changed)).toEqual([false, false, true]);
    expect(rows[2]).toMatchObject({ weightBefore: 200, weightAfter: 0 });
  });

  it('gives ejected, draining and down instances no share, whatever their weight', () => {
    const rows = trafficSplit([inst('a', 100), inst('b', 100, { ejected: true }), inst('c', 100, { state: 'draining' }), inst('d', 100, { state: 'down' })], { instanceId: 'a', weight: 300 });
    expect(rows.map((r) => r.shareAfter)).toEqual([1, 0, 0, 0]);
    expect(rows.map((r) => r.serving)).toEqual([true, false, false, false]);
  });

  it('sets every instance when the change names none; equal weights split evenly', () => {
    const rows = trafficSplit([inst('a', 100), inst('b', 300)], { weight: 50 });
    expect(rows.map((r) => r.weightAfter)).toEqual([50, 50]);
    expect(rows.map((r) => r.shareAfter)).toEqual([0.5, 0.5]);
  });

  it('without a change, before and after are the same; all weights 0 means nothing serves', () => {
    const rows = trafficSplit([inst('a', 1), inst('b', 3)], null);
    expect(rows.map((r) => r.shareAfter)).toEqual([0.25, 0.75]);
    expect(nothingServes(rows)).toBe(false);
    const zero = trafficSplit([inst('a', 100), inst('b', 0)], { instanceId: 'a', weight: 0 });
    expect(zero.map((r) => r.shareAfter)).toEqual([0, 0]);
    expect(nothingServes(zero)).toBe(true);
  });

  it('counts probing instances as taking traffic', () => {
    expect(takesTraffic({ state: 'healthy', failover: { state: 'probing' } as never })).toBe(true);
    expect(takesTraffic({ state: 'healthy', failover: { state: 'ejected' } as never })).toBe(false);
  });
});
