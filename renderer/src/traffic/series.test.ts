import { describe, expect, it } from 'vitest';
import type { SeriesPoint } from '../../../core/api/contract';
import { brushWindow, chartRows, chartState, parseTarget, pickResolution, seriesQuery, summarize, targetLabel, tickFormatter, timeWindow } from './series';

const T0 = Date.UTC(2026, 10, 27, 14, 2, 0);

function point(t: number, requests: number, failed = 0, p99: number | null = 20): SeriesPoint {
  return {
    t,
    requests,
    rps: requests,
    errors: { http5xx: failed, http4xx: 0, connect: 0, timeout: 0 },
    errorRate: requests ? failed / requests : 0,
    retries: 0,
    p50: p99 === null ? null : p99 / 4,
    p95: p99 === null ? null : p99 / 2,
    p99,
  };
}

describe('traffic series shaping', () => {
  it('time window: the range back from now, unless a zoom gives start and end', () => {
    expect(timeWindow('15m', T0)).toEqual({ start: T0 - 15 * 60_000, end: T0 });
    expect(timeWindow('7d', T0).start).toBe(T0 - 7 * 24 * 3600_000);
    expect(timeWindow('live', T0)).toEqual({ start: T0 - 5 * 60_000, end: T0 });
    expect(timeWindow('1h', T0, { start: T0 - 1000, end: T0 })).toEqual({ start: T0 - 1000, end: T0 });
    expect(timeWindow('1h', T0, { start: T0, end: T0 - 1 })).toEqual({ start: T0 - 3600_000, end: T0 });
  });

  it('targets from the route, and the query for each', () => {
    expect(parseTarget({ service: null, edge: 'checkout>payments', instance: null })).toEqual({ kind: 'edge', from: 'checkout', to: 'payments' });
    expect(parseTarget({ service: 'payments', edge: null, instance: 'payments-b-1' })).toEqual({ kind: 'instance', service: 'payments', instance: 'payments-b-1' });
    expect(parseTarget({ service: 'payments', edge: null, instance: null })).toEqual({ kind: 'service', service: 'payments' });
    expect(parseTarget({ service: null, edge: 'broken', instance: null })).toBeNull();
    expect(targetLabel({ kind: 'edge', from: 'a', to: 'b' })).toBe('a → b');
    expect(seriesQuery('cli', { kind: 'edge', from: 'a', to: 'b' }, { start: 1.5, end: 9.2 })).toEqual({ profileId: 'cli', kind: 'edge', from: 'a', to: 'b', start: 1, end: 10, resolution: '1s' });
    expect(seriesQuery('cli', { kind: 'instance', service: 's', instance: 'i' }, { start: 1, end: 2 })).toMatchObject({ kind: 'instance', service: 's', instance: 'i' });
  });

  it('resolution: the finest that fits the chart and is still kept', () => {
    const back = (ms: number) => ({ start: T0 - ms, end: T0 });
    expect(pickResolution(back(5 * 60_000), T0)).toBe('1s');
    expect(pickResolution(back(15 * 60_000), T0)).toBe('10s');
    expect(pickResolution(back(3600_000), T0)).toBe('10s');
    expect(pickResolution(back(6 * 3600_000), T0)).toBe('1m');
    expect(pickResolution(back(7 * 86_400_000), T0)).toBe('auto');
    // A short window long ago: 1 s rows are gone by then, 10 s ones are not.
    expect(pickResolution({ start: T0 - 86_400_000, end: T0 - 86_400_000 + 60_000 }, T0)).toBe('10s');
  });

  it('rows: error percent only where there were requests; latency gaps stay gaps', () => {
    const rows = chartRows([point(T0, 10, 1), point(T0 + 1000, 0, 0, null)]);
    expect(rows).toEqual([
      { t: T0, rps: 10, errorPct: 10, p50: 5, p95: 10, p99: 20 },
      { t: T0 + 1000, rps: 0, errorPct: null, p50: null, p95: null, p99: null },
    ]);
  });

  it('states: loading, error, never recorded, quiet window, ready', () => {
    expect(chartState({ state: 'loading' })).toEqual({ state: 'loading' });
    expect(chartState({ state: 'error', error: new Error('boom') })).toEqual({ state: 'error', message: 'boom' });
    const data = (series: number, points: SeriesPoint[]) => ({ state: 'ready' as const, data: { series, points, stepMs: 1000, resolution: '1s' } });
    expect(chartState(data(0, [point(T0, 0)]))).toEqual({ state: 'no-data', reason: 'never' });
    expect(chartState(data(2, [point(T0, 0), point(T0 + 1000, 0)]))).toEqual({ state: 'no-data', reason: 'quiet' });
    expect(chartState(data(1, [point(T0, 3)]))).toMatchObject({ state: 'ready', stepMs: 1000, resolution: '1s', rows: [{ rps: 3 }] });
  });

  it('brush: whole steps of the selection, null for everything', () => {
    const rows = chartRows([0, 1, 2, 3].map((i) => point(T0 + i * 10_000, 1)));
    expect(brushWindow(rows, 1, 2, 10_000)).toEqual({ start: T0 + 10_000, end: T0 + 30_000 });
    expect(brushWindow(rows, 2, 1, 10_000)).toEqual({ start: T0 + 10_000, end: T0 + 30_000 });
    expect(brushWindow(rows, 0, 3, 10_000)).toBeNull();
    expect(brushWindow([], 0, 0, 1000)).toBeNull();
  });

  it('ticks get coarser with the span', () => {
    expect(tickFormatter(5 * 60_000)(T0)).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(tickFormatter(3600_000)(T0)).toMatch(/^\d\d:\d\d$/);
    expect(tickFormatter(7 * 24 * 3600_000)(T0)).toMatch(/^\d\d\/11 \d\d:\d\d$/);
  });

  it('summary: mean rate, request-weighted errors, worst p99', () => {
    const s = summarize(chartRows([point(T0, 10, 0, 10), point(T0 + 1, 30, 3, 50), point(T0 + 2, 0, 0, null)]));
    expect(s.rps).toBeCloseTo(40 / 3);
    expect(s.errorPct).toBeCloseTo(7.5);
    expect(s.p99).toBe(50);
    expect(summarize([])).toEqual({ rps: 0, errorPct: null, p99: null });
  });
});
