import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.js';
import { TelemetryHistory } from './history.js';
import { chooseResolution, MAX_AUTO_POINTS, TelemetryQueries } from './queries.js';
import { DEFAULT_RETENTION } from './resolutions.js';
import { telemetryBatch, tempDb, type TempDb } from './test-support.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);

describe('chooseResolution', () => {
  const pick = (start: number, end: number) => chooseResolution(start, end, NOW, DEFAULT_RETENTION);

  it.each([
    ['the last 5 minutes', NOW - 5 * MIN, NOW, '1s', 1000],
    ['the last hour', NOW - HOUR, NOW, '1s', 1000],
    ['the last 66 minutes (3 960 points at 1 s)', NOW - 66 * MIN, NOW, '1s', 1000],
    ['the last 2 hours', NOW - 2 * HOUR, NOW, '10s', 10_000],
    ['an hour that ended 8 hours ago (1 s data is gone)', NOW - 9 * HOUR, NOW - 8 * HOUR, '10s', 10_000],
    ['the last 11 hours', NOW - 11 * HOUR, NOW, '10s', 10_000],
    ['the last 24 hours', NOW - DAY, NOW, '1m', MIN],
    ['an hour 4 days ago (10 s data is gone)', NOW - 4 * DAY, NOW - 4 * DAY + HOUR, '1m', MIN],
    ['the last 7 days', NOW - 7 * DAY, NOW, '1m', 5 * MIN],
    ['the last 30 days', NOW - 30 * DAY, NOW, '1m', 15 * MIN],
  ] as const)('%s → %s every %i ms', (_, start, end, resolution, stepMs) => {
    expect(pick(start, end)).toEqual({ resolution, stepMs });
  });

  it('never gives a chart more than MAX_AUTO_POINTS points', () => {
    for (let range = 1000; range < 400 * DAY; range = Math.ceil(range * 1.37)) {
      const { stepMs } = pick(NOW - range, NOW);
      expect(Math.ceil((NOW - Math.floor((NOW - range) / stepMs) * stepMs) / stepMs)).toBeLessThanOrEqual(MAX_AUTO_POINTS);
    }
  });
});

describe('TelemetryQueries', () => {
  let tmp: TempDb;
  beforeEach(() => {
    tmp = tempDb();
  });
  afterEach(() => tmp.cleanup());

  it('refuses invalid queries with field issues', () => {
    const q = new TelemetryQueries(tmp.db, { now: () => NOW });
    const issues = (input: Parameters<TelemetryQueries['series']>[0]) => {
      try {
        q.series(input);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).issues.map((i) => i.path).sort();
      }
      throw new Error('no error');
    };
    expect(issues({ mesh: 'm', kind: 'edge', start: 0, end: 1000 })).toEqual(['from', 'to']);
    expect(issues({ mesh: 'm', kind: 'service', start: 0, end: 1000 })).toEqual(['service']);
    expect(issues({ mesh: 'm', kind: 'instance', service: 's', start: 0, end: 1000 })).toEqual(['instance']);
    expect(issues({ mesh: 'm', kind: 'service', service: 's', start: 5000, end: 5000 })).toEqual(['end']);
    // 7 days at 1 s would be 604 800 points.
    expect(issues({ mesh: 'm', kind: 'service', service: 's', start: NOW - 7 * DAY, end: NOW, resolution: '1s' })).toEqual(['resolution']);
  });

  it('aligns points to the step, fills quiet steps with zeros and reads rps per step', () => {
    let clock = NOW;
    const h = new TelemetryHistory({ db: tmp.db, mesh: 'm', now: () => clock, minFlushIntervalMs: 0 });
    h.ingest(telemetryBatch('a', 'a1', NOW + 12_000, [{ peerService: 'b', values: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5] }]), NOW + 13_000);
    h.ingest(telemetryBatch('a', 'a1', NOW + 47_000, [{ peerService: 'b', values: [9], errors: { connect: 1 } }]), NOW + 48_000);
    clock = NOW + 50_000;
    h.flush();
    const q = new TelemetryQueries(tmp.db, { now: () => clock });
    const r = q.series({ mesh: 'm', kind: 'edge', from: 'a', to: 'b', start: NOW + 5_500, end: NOW + 50_000, resolution: '10s' });
    expect(r).toMatchObject({ resolution: '10s', stepMs: 10_000, start: NOW, end: NOW + 50_000, series: 1 });
    expect(r.points.map((p) => p.t - NOW)).toEqual([0, 10_000, 20_000, 30_000, 40_000]);
    expect(r.points.map((p) => p.requests)).toEqual([0, 10, 0, 0, 1]);
    expect(r.points.map((p) => p.rps)).toEqual([0, 1, 0, 0, 0.1]);
    expect(r.points[4]).toMatchObject({ errorRate: 1, errors: { connect: 1 } });
    expect(r.points[0]).toMatchObject({ p50: null, p95: null, p99: null, errorRate: 0 });
    expect(Math.abs(r.points[1]!.p50! - 5) / 5).toBeLessThanOrEqual(0.01);
  });

  it('keeps meshes apart', () => {
    const clock = NOW;
    for (const mesh of ['m1', 'm2']) {
      const h = new TelemetryHistory({ db: tmp.db, mesh, now: () => clock, minFlushIntervalMs: 0 });
      h.ingest(telemetryBatch('a', 'a1', NOW, [{ peerService: 'b', values: mesh === 'm1' ? [1] : [1, 2, 3] }]), NOW + 1000);
      h.flush();
    }
    const q = new TelemetryQueries(tmp.db, { now: () => clock });
    const requests = (mesh: string) => q.series({ mesh, kind: 'service', service: 'b', start: NOW, end: NOW + 1000 }).points[0]!.requests;
    expect([requests('m1'), requests('m2'), requests('m3')]).toEqual([1, 3, 0]);
  });
});
