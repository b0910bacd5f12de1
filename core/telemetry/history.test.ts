import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BinaryEdgeScanner, writeBinaryTelemetry } from '../protocol/binary-telemetry.js';
import type { TelemetryBatch } from '../protocol/messages.js';
import type { Db } from '../store/database.js';
import { LatencySketch } from '../protocol/sketch.js';
import { TelemetryHistory, type TelemetryHistoryOptions } from './history.js';
import { HistoryStore, RECENT_COLUMNS, RECENT_ROWS_PER_STATEMENT } from './history-store.js';
import { TelemetryQueries } from './queries.js';
import type { SketchArena } from './sketch-arena.js';
import { decodeSketch, encodeSketch } from './sketch-codec.js';
import { RESOLUTION_TABLE, RESOLUTIONS, telemetryConsumer } from './resolutions.js';
import { exactQuantile, logNormal, prng, telemetryBatch, tempDb, type TempDb } from './test-support.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0); // a minute boundary
const MESH = 'mesh-a';
const STREAM = 'meshdeck.telemetry';
const CONSUMER = telemetryConsumer(MESH);

let tmp: TempDb;
let clock: number;

beforeEach(() => {
  tmp = tempDb();
  clock = T0;
});
afterEach(() => tmp.cleanup());

function history(options: Partial<TelemetryHistoryOptions> = {}): TelemetryHistory {
  return new TelemetryHistory({ db: tmp.db, mesh: MESH, now: () => clock, minFlushIntervalMs: 0, ...options });
}

function queries(): TelemetryQueries {
  return new TelemetryQueries(tmp.db, { now: () => clock });
}

function count(table: string): number {
  return (tmp.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

function sum(points: Array<{ requests: number }>): number {
  return points.reduce((s, p) => s + p.requests, 0);
}

/** Every staged and resolution row, by series name, in a stable order (sketches as hex). */
function rows(db: Db): string[] {
  const out: string[] = [];
  for (const table of ['telemetry_recent', ...RESOLUTIONS.map((r) => RESOLUTION_TABLE[r])]) {
    const list = db
      .prepare(
        `SELECT s.kind, s.a, s.b, r.t, r.requests, r.http5xx, r.http4xx, r.connect, r.timeout, r.retries, hex(r.sketch) AS sketch
         FROM ${table} r JOIN telemetry_series s ON s.id = r.series ORDER BY s.kind, s.a, s.b, r.t`,
      )
      .raw(true)
      .all() as unknown[][];
    for (const row of list) out.push(`${table} ${row.join(' ')}`);
  }
  return out;
}

describe('TelemetryHistory: ingest, flush, query', () => {
  function feedThreeSeconds(h: TelemetryHistory): void {
    for (let s = 0; s < 3; s++) {
      const at = T0 + s * 1000;
      h.ingest(telemetryBatch('checkout', 'c1', at, [{ peerService: 'payments', peerInstance: 'p1', values: [10, 20, 30], errors: { http5xx: 1 }, retries: 1 }]), at + 1000);
      h.ingest(
        telemetryBatch('checkout', 'c2', at, [
          { peerService: 'payments', peerInstance: 'p2', values: [40], errors: { timeout: 1, http4xx: 0 } },
          // the callee's view of a mesh call: counted by the caller's outbound edge, not again here
          { direction: 'inbound', peerService: 'frontend', peerInstance: 'f1', values: [99] },
        ]),
        at + 1000,
      );
      h.ingest(
        telemetryBatch('frontend', 'f1', at, [
          { peerService: 'payments', peerInstance: 'p1', values: [5], errors: { http4xx: 1 } },
          { direction: 'inbound', peerService: 'external', values: [1, 2] },
        ]),
        at + 1000,
      );
    }
  }

  it('round-trips edges, services and instances through staging and through compaction', () => {
    const h = history();
    feedThreeSeconds(h);
    expect(h.pendingWindows).toBe(3 * 8); // 3 edges + 2 services + 3 instances, 3 seconds
    clock = T0 + 3500;
    const flushed = h.flush();
    expect(flushed).toMatchObject({ written: true, windows: 24, late: 0 });
    expect(count('telemetry_recent')).toBe(24);

    const check = () => {
      const q = queries();
      const edge = q.series({ mesh: MESH, kind: 'edge', from: 'checkout', to: 'payments', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(edge).toMatchObject({ resolution: '1s', stepMs: 1000, start: T0, series: 1 });
      expect(edge.points).toHaveLength(3);
      for (const p of edge.points) {
        expect(p).toMatchObject({ requests: 4, rps: 4, retries: 1, errors: { http5xx: 1, http4xx: 0, connect: 0, timeout: 1 }, errorRate: 0.5 });
        // rank floor(0.5 · 3) = 1 of [10, 20, 30, 40], within 1 %
        expect(Math.abs(p.p50! - 20) / 20).toBeLessThanOrEqual(0.01);
        expect(Math.abs(p.p99! - 30) / 30).toBeLessThanOrEqual(0.01); // rank floor(0.99 · 3) = 2
      }
      const service = q.series({ mesh: MESH, kind: 'service', service: 'payments', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(service.series).toBe(1);
      expect(service.points.map((p) => p.requests)).toEqual([5, 5, 5]);
      expect(service.points[0]!.errors).toEqual({ http5xx: 1, http4xx: 1, connect: 0, timeout: 1 });
      expect(h.store.seriesInto(MESH, 'edge', 'payments').map((e) => e.a)).toEqual(['checkout', 'frontend']);
      // Both edges into payments merged: [5, 10, 20, 30, 40], rank floor(0.5 · 4) = 2.
      expect(Math.abs(service.points[0]!.p50! - 20) / 20).toBeLessThanOrEqual(0.01);
      const p1 = q.series({ mesh: MESH, kind: 'instance', service: 'payments', instance: 'p1', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(p1.points.map((p) => p.requests)).toEqual([4, 4, 4]);
      const p2 = q.series({ mesh: MESH, kind: 'instance', service: 'payments', instance: 'p2', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(p2.points.map((p) => p.requests)).toEqual([1, 1, 1]);
      const external = q.series({ mesh: MESH, kind: 'edge', from: 'external', to: 'frontend', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(external.points.map((p) => p.requests)).toEqual([2, 2, 2]);
      const f1 = q.series({ mesh: MESH, kind: 'instance', service: 'frontend', instance: 'f1', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(f1.points.map((p) => p.requests)).toEqual([2, 2, 2]);
      const ignored = q.series({ mesh: MESH, kind: 'edge', from: 'frontend', to: 'checkout', start: T0, end: T0 + 3000, resolution: '1s' });
      expect(ignored.series).toBe(0);
      expect(ignored.points.map((p) => [p.requests, p.p50])).toEqual([
        [0, null],
        [0, null],
        [0, null],
      ]);
      // The same traffic at 10 s and 1 min: one point each.
      for (const resolution of ['10s', '1m'] as const) {
        const r = q.series({ mesh: MESH, kind: 'edge', from: 'checkout', to: 'payments', start: T0, end: T0 + 3000, resolution });
        expect(r.points).toHaveLength(1);
        expect(r.points[0]).toMatchObject({ t: T0, requests: 12, retries: 3, errorRate: 0.5 });
        expect(r.points[0]!.rps).toBeCloseTo(12 / (resolution === '10s' ? 10 : 60), 12);
      }
    };
    check(); // from staging

    clock = T0 + 69_000; // minute T0 ends at +60 s; grace 10 s: not yet
    expect(h.flush().compaction).toMatchObject({ steps: 0, done: true });
    clock = T0 + 70_000;
    expect(h.flush().compaction).toMatchObject({ steps: 1, rows: 24, done: true });
    expect(count('telemetry_recent')).toBe(0);
    expect(count('telemetry_1s')).toBe(24);
    expect(count('telemetry_10s')).toBe(8);
    expect(count('telemetry_1m')).toBe(8);
    expect(h.compactedThrough).toBe(T0 + 60_000);
    check(); // from the resolution tables
  });

  it('reads binary bodies in place into the same rows as their decoded batches, through a failed write, late windows and a growing sketch arena', () => {
    const other = tempDb();
    try {
      const fromObjects = history();
      const fromBodies = history({ db: other.db });
      const scanner = new BinaryEdgeScanner();
      const rng = prng(0xb0d1e5);
      const take = (batch: TelemetryBatch, receivedAt: number) => {
        fromObjects.ingest(batch, receivedAt);
        const body = writeBinaryTelemetry({ id: `b-${receivedAt}-${batch.instanceId}`, source: 'meshdeck://test/history', time: receivedAt }, batch);
        expect(fromBodies.ingestBinary(body, receivedAt, scanner)).toBeNull();
      };
      const second = (at: number) => {
        for (let i = 0; i < 160; i++) {
          const service = `svc-${i % 8}`;
          take(
            telemetryBatch(service, `${service}-${i}`, at, [
              { peerService: `svc-${(i + 1) % 8}`, peerInstance: `svc-${(i + 1) % 8}-${i % 5}`, values: Array.from({ length: 1 + (i % 8) }, () => logNormal(rng, 3, 0.8)), errors: { http5xx: i % 3, timeout: i % 2 } },
              { peerService: 'svc-0', values: [logNormal(rng, 4, 0.5)], retries: i % 2 },
              { direction: 'inbound', peerService: 'external', values: [logNormal(rng, 2, 1)] },
              { direction: 'inbound', peerService: `svc-${(i + 3) % 8}`, peerInstance: 'x', values: [9] },
            ]),
            at + 1000,
          );
        }
      };
      for (let t = 0; t < 90; t++) {
        clock = T0 + t * 1000 + 500;
        second(T0 + t * 1000);
        if (t === 20) {
          // The binary side's write fails once: what it ingested stays in memory (and its blobs in the arena) for the next.
          const store = fromBodies.store as unknown as { addRecentMany: (values: unknown[]) => void };
          const real = store.addRecentMany.bind(fromBodies.store);
          store.addRecentMany = () => {
            throw new Error('disk full');
          };
          expect(() => fromBodies.flush(undefined, { force: true })).toThrow('disk full');
          store.addRecentMany = real;
          continue;
        }
        // Seconds pile up between writes, 40 of them once: the sketch arena grows past its first 64 KB.
        if (t % 3 === 0 || (t > 30 && t < 70)) continue;
        if (t === 70) expect((fromBodies as unknown as { arena: SketchArena }).arena.capacity).toBeGreaterThan(64 * 1024);
        fromObjects.flush(undefined, { force: true });
        fromBodies.flush(undefined, { force: true });
      }
      // Late windows of minutes already compacted go straight to the resolution tables on both sides.
      clock = T0 + 200_000;
      second(T0 + 5_000);
      for (const h of [fromObjects, fromBodies]) {
        h.flush(undefined, { force: true });
        h.compact(clock);
      }
      expect(fromBodies.stats).toEqual(fromObjects.stats);
      expect(fromBodies.stats.lateWindows).toBeGreaterThan(0);
      const objects = rows(tmp.db);
      expect(objects.length).toBeGreaterThan(10_000);
      expect(rows(other.db)).toEqual(objects);
    } finally {
      other.cleanup();
    }
  });

  it('merges several batches of one window (split batches, many instances) into one row', () => {
    const h = history();
    for (let i = 0; i < 5; i++) h.ingest(telemetryBatch('a', `a${i}`, T0 + 250, [{ peerService: 'b', values: [i + 1] }]), T0 + 1000);
    h.flush();
    for (let i = 5; i < 8; i++) h.ingest(telemetryBatch('a', `a${i}`, T0 + 999, [{ peerService: 'b', values: [i + 1] }]), T0 + 1500);
    h.flush(); // the second delta of the same window is added to the staged rows (edge and service)
    expect(count('telemetry_recent')).toBe(2);
    const row = tmp.db
      .prepare("SELECT requests, sketch FROM telemetry_recent WHERE series = (SELECT id FROM telemetry_series WHERE kind = 'edge')")
      .get() as { requests: number; sketch: Buffer };
    expect(row.requests).toBe(8);
    expect(decodeSketch(row.sketch).buckets.reduce((s, [, c]) => s + c, 0)).toBe(8);
  });

  it('adds windows of already compacted minutes straight into the 1 s, 10 s and 1 min rows', () => {
    const h = history();
    h.ingest(telemetryBatch('a', 'a1', T0 + 5000, [{ peerService: 'b', values: [10, 10] }]), T0 + 6000);
    clock = T0 + 80_000;
    h.flush();
    expect(h.compactedThrough).toBe(T0 + 60_000);
    // A straggler for the same second and one for another second of the compacted minute.
    h.ingest(telemetryBatch('a', 'a2', T0 + 5000, [{ peerService: 'b', values: [1000, 1000, 1000] }]), clock);
    h.ingest(telemetryBatch('a', 'a2', T0 + 42_000, [{ peerService: 'b', values: [7] }]), clock);
    expect(h.flush()).toMatchObject({ windows: 4, late: 4 }); // edge and service, twice
    expect(count('telemetry_recent')).toBe(0);
    const q = queries();
    const at1s = q.series({ mesh: MESH, kind: 'edge', from: 'a', to: 'b', start: T0, end: T0 + 60_000, resolution: '1s' });
    expect(at1s.points[5]!.requests).toBe(5);
    expect(at1s.points[42]!.requests).toBe(1);
    const at1m = q.series({ mesh: MESH, kind: 'edge', from: 'a', to: 'b', start: T0, end: T0 + 60_000, resolution: '1m' });
    expect(at1m.points[0]!.requests).toBe(6);
    // [7, 10, 10, 1000, 1000, 1000]: the late samples are in the merged sketch
    expect(Math.abs(at1m.points[0]!.p99! - 1000) / 1000).toBeLessThanOrEqual(0.01);
    expect(Math.abs(at1m.points[0]!.p50! - 10) / 10).toBeLessThanOrEqual(0.01);
    const at10s = q.series({ mesh: MESH, kind: 'edge', from: 'a', to: 'b', start: T0, end: T0 + 60_000, resolution: '10s' });
    expect(at10s.points.map((p) => p.requests)).toEqual([5, 0, 0, 0, 1, 0]);
    expect(h.stats.lateWindows).toBe(4);
    const service = q.series({ mesh: MESH, kind: 'service', service: 'b', start: T0, end: T0 + 60_000, resolution: '1m' });
    expect(service.points[0]).toMatchObject({ requests: 6, p99: at1m.points[0]!.p99 });
  });

  it('catching up on a backlog, compacts each minute once the stream has moved past it: no window takes the late path', () => {
    // A console that was away 5 minutes reads them from the stream, 20 s of windows per wall second.
    const h = history();
    const away = 300;
    clock = T0 + away * 1000;
    let sent = 0;
    for (let s = 0; s < away; s++) {
      const at = T0 + s * 1000;
      h.ingest(telemetryBatch('a', 'a1', at, [{ peerService: 'b', peerInstance: 'b1', values: [10, 20] }]), clock);
      sent += 2;
      if (s % 20 === 19) {
        h.flush();
        clock += 1000;
      }
    }
    h.flush();
    expect(h.stats.lateWindows).toBe(0);
    // The stream has gone quiet: the clock governs again and everything due is compacted.
    clock += 20_000;
    for (let i = 0; i < 10 && !h.compact().done; i++);
    expect(h.compactedThrough).toBe(T0 + 300_000);
    const q = queries();
    const points = q.series({ mesh: MESH, kind: 'instance', service: 'b', instance: 'b1', start: T0, end: T0 + away * 1000, resolution: '1s' }).points;
    expect(sum(points)).toBe(sent);
    expect(count('telemetry_recent')).toBe(0);
  });

  it('drops batches from too far in the future or older than the longest retention', () => {
    const h = history();
    h.ingest(telemetryBatch('a', 'a1', T0 + 11 * 60_000, [{ peerService: 'b', values: [1] }]), T0);
    h.ingest(telemetryBatch('a', 'a1', T0 - 31 * 86_400_000, [{ peerService: 'b', values: [1] }]), T0);
    expect(h.stats).toMatchObject({ droppedFuture: 1, droppedOld: 1, batches: 0 });
    expect(h.pendingWindows).toBe(0);
  });

  it('writes at most every minFlushIntervalMs unless forced', () => {
    const h = history({ minFlushIntervalMs: 1000 });
    h.ingest(telemetryBatch('a', 'a1', T0, [{ peerService: 'b', values: [1] }]), T0 + 1000);
    clock = T0 + 1000;
    expect(h.flush().written).toBe(true);
    h.ingest(telemetryBatch('a', 'a1', T0 + 1000, [{ peerService: 'b', values: [1] }]), T0 + 2000);
    clock = T0 + 1500;
    expect(h.flush()).toMatchObject({ written: false, skipped: 'throttled' });
    expect(h.pendingWindows).toBe(2); // edge and service
    expect(h.flush(undefined, { force: true }).written).toBe(true);
    expect(h.pendingWindows).toBe(0);
  });

  it('uses primary keys for one series\u2019 range and for staged windows (no table scans)', () => {
    history(); // registers the merge function
    const plan = (sql: string) =>
      (tmp.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
    for (const r of RESOLUTIONS) {
      expect(plan(`SELECT * FROM ${RESOLUTION_TABLE[r]} WHERE series = 1 AND t >= 0 AND t < 10 ORDER BY t`)).toMatch(
        new RegExp(`SEARCH ${RESOLUTION_TABLE[r]} USING PRIMARY KEY \\(series=\\? AND t>\\? AND t<\\?\\)`),
      );
    }
    const staged = plan(`WITH RECURSIVE ts(t) AS (SELECT 0 UNION ALL SELECT t + 1 FROM ts WHERE t + 1 < 10)
      SELECT r.* FROM ts CROSS JOIN telemetry_recent r ON r.mesh = 'm' AND r.t = ts.t AND r.series = 1`);
    expect(staged).toMatch(/SEARCH r USING PRIMARY KEY \(mesh=\? AND t=\? AND series=\?\)/);
    // Compaction slices: per second, a range over the slice's series (never the whole minute).
    const slice = plan(`WITH RECURSIVE ts(t) AS (SELECT 0 UNION ALL SELECT t + 1 FROM ts WHERE t + 1 < 60)
      SELECT r.* FROM ts CROSS JOIN telemetry_recent r ON r.mesh = 'm' AND r.t = ts.t AND r.series >= 1 AND r.series < 9`);
    expect(slice).toMatch(/SEARCH r USING PRIMARY KEY \(mesh=\? AND t=\? AND series>\? AND series<\?\)/);
    expect(plan(`DELETE FROM telemetry_recent WHERE mesh = 'm' AND t = 5 AND series >= 1 AND series < 9`)).toMatch(
      /SEARCH telemetry_recent USING PRIMARY KEY \(mesh=\? AND t=\? AND series>\? AND series<\?\)/,
    );
  });
});

describe('TelemetryHistory: rollups keep percentiles exact to the sketch accuracy', () => {
  it('p50/p95/p99 at 1 s, 10 s, 1 min and 2 min points are within 1 % of the exact quantiles of the raw samples', () => {
    const random = prng(42);
    const h = history();
    const raw = new Map<number, number[]>(); // second → all latencies of the edge in it
    const seconds = 20 * 60; // 20 minutes
    for (let s = 0; s < seconds; s++) {
      const at = T0 + s * 1000;
      // Each second its own distribution (median 2..200 ms, varying shape), from 3 instances.
      const median = 2 + 198 * random();
      const sigma = 0.1 + random();
      const all: number[] = [];
      for (let i = 0; i < 3; i++) {
        const values = Array.from({ length: 5 + Math.floor(random() * 60) }, () => Math.max(0.5, logNormal(random, median * (1 + i), sigma)));
        all.push(...values);
        h.ingest(telemetryBatch('web', `web-${i}`, at, [{ peerService: 'api', peerInstance: `api-${i % 2}`, values }]), at + 1000 + i * 100);
      }
      raw.set(s, all);
      clock = at + 1300;
      if (s % 3 === 2) h.flush();
    }
    clock = T0 + seconds * 1000 + 120_000;
    h.flush();
    h.compact(clock);
    expect(count('telemetry_recent')).toBe(0);

    const q = queries();
    const checkPoints = (points: Array<{ t: number; requests: number; p50: number | null; p95: number | null; p99: number | null }>, stepS: number) => {
      let checked = 0;
      for (const p of points) {
        const first = (p.t - T0) / 1000;
        const values: number[] = [];
        for (let s = first; s < first + stepS; s++) values.push(...(raw.get(s) ?? []));
        expect(p.requests).toBe(values.length);
        if (!values.length) continue;
        values.sort((a, b) => a - b);
        for (const [quantile, got] of [
          [0.5, p.p50],
          [0.95, p.p95],
          [0.99, p.p99],
        ] as const) {
          const exact = exactQuantile(values, quantile)!;
          expect(Math.abs(got! - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-9);
        }
        checked++;
      }
      return checked;
    };
    const range = { mesh: MESH, kind: 'edge' as const, from: 'web', to: 'api', start: T0, end: T0 + seconds * 1000 };
    expect(checkPoints(q.series({ ...range, resolution: '1s' }).points, 1)).toBe(seconds);
    expect(checkPoints(q.series({ ...range, resolution: '10s' }).points, 10)).toBe(seconds / 10);
    expect(checkPoints(q.series({ ...range, resolution: '1m' }).points, 60)).toBe(seconds / 60);
    // A 5-day range: 'auto' reads 1 min rows and merges them into 2 min points.
    const wide = q.series({ ...range, start: T0 - 4 * 86_400_000, end: T0 + 86_400_000 });
    expect(wide).toMatchObject({ resolution: '1m', stepMs: 120_000 });
    const burst = wide.points.filter((p) => p.t >= T0 && p.t < T0 + seconds * 1000);
    expect(checkPoints(burst, 120)).toBe(seconds / 120);
    // The service (every edge into api) and its instances add up to the edge.
    const svc = q.series({ mesh: MESH, kind: 'service', service: 'api', start: T0, end: T0 + seconds * 1000, resolution: '1m' });
    expect(checkPoints(svc.points, 60)).toBe(seconds / 60);
    const inst = [0, 1].map((i) => sum(q.series({ mesh: MESH, kind: 'instance', service: 'api', instance: `api-${i}`, start: T0, end: T0 + seconds * 1000, resolution: '10s' }).points));
    expect(inst[0]! + inst[1]!).toBe([...raw.values()].reduce((s, v) => s + v.length, 0));
  }, 30_000);
});

describe('TelemetryHistory: crash safety (exactly once with the stream offset)', () => {
  interface Message {
    offset: number;
    receivedAt: number;
    batch: TelemetryBatch;
  }

  /** A telemetry stream: 3 callers × 2 callees, one batch per caller per second, with late stragglers. */
  function stream(seed: number, seconds: number): Message[] {
    const random = prng(seed);
    const out: Message[] = [];
    for (let s = 0; s < seconds; s++) {
      for (let c = 0; c < 3; c++) {
        const windowStart = T0 + s * 1000;
        const edges = ['db', 'cache'].map((callee, k) => ({
          peerService: callee,
          peerInstance: `${callee}-${(s + c + k) % 3}`,
          values: Array.from({ length: 1 + Math.floor(random() * 20) }, () => 0.5 + random() * 100),
          errors: { http5xx: Math.floor(random() * 2), timeout: Math.floor(random() * 2) },
          retries: Math.floor(random() * 3),
        }));
        // Every 17th batch arrives 80 s late: after its minute was compacted.
        const late = (s * 3 + c) % 17 === 0;
        out.push({ offset: 0, receivedAt: windowStart + (late ? 80_000 : 1000 + c * 150), batch: telemetryBatch(`svc-${c}`, `svc-${c}-1`, windowStart, edges) });
      }
    }
    out.sort((a, b) => a.receivedAt - b.receivedAt);
    out.forEach((m, i) => (m.offset = i));
    return out;
  }

  interface Expected {
    requests: Map<string, number>;
    sketches: Map<string, LatencySketch>;
  }

  /** Per edge and instance: total requests, and the merged latency sketch per minute. */
  function expected(messages: Message[]): Expected {
    const requests = new Map<string, number>();
    const sketches = new Map<string, LatencySketch>();
    for (const { batch } of messages) {
      for (const e of batch.edges) {
        const minute = Math.floor(batch.windowStart / 60_000) * 60_000;
        for (const key of [`edge ${batch.service} ${e.peerService}`, `service - ${e.peerService}`, `instance ${e.peerService} ${e.peerInstance}`]) {
          requests.set(key, (requests.get(key) ?? 0) + e.requests);
          const sk = `${key} ${minute}`;
          let s = sketches.get(sk);
          if (!s) sketches.set(sk, (s = new LatencySketch()));
          s.mergeWire(e.latency);
        }
      }
    }
    return { requests, sketches };
  }

  /** Feeds messages [from, to) like the stream consumer: ingest each, flush(offset) after every batch of `batchSize`. */
  function consume(h: TelemetryHistory, messages: Message[], from: number, to: number, batchSize: number, flushLast = true): void {
    for (let i = from; i < to; i++) {
      const m = messages[i]!;
      clock = Math.max(clock, m.receivedAt);
      h.ingest(m.batch, clock);
      if ((i + 1 - from) % batchSize === 0 || (flushLast && i === to - 1)) h.flush({ consumer: CONSUMER, stream: STREAM, offset: m.offset });
    }
  }

  function verify(messages: Message[]): void {
    const want = expected(messages);
    const q = queries();
    const end = T0 + 10 * 60_000;
    for (const [key, total] of want.requests) {
      const [kind, a, b] = key.split(' ') as ['edge' | 'service' | 'instance', string, string];
      const query = kind === 'edge' ? { kind, from: a, to: b } : kind === 'service' ? { kind, service: b } : { kind, service: a, instance: b };
      for (const resolution of ['1s', '10s', '1m'] as const) {
        const r = q.series({ mesh: MESH, ...query, start: T0, end, resolution });
        expect(sum(r.points), `${key} at ${resolution}`).toBe(total);
      }
      const minutes = q.series({ mesh: MESH, ...query, start: T0, end, resolution: '1m' });
      for (const p of minutes.points) {
        const s = want.sketches.get(`${key} ${p.t}`);
        if (!s) continue;
        expect([p.p50, p.p95, p.p99], `${key} minute ${p.t}`).toEqual([s.quantile(0.5), s.quantile(0.95), s.quantile(0.99)]);
      }
    }
  }

  function finish(h: TelemetryHistory): void {
    clock += 3 * 60_000;
    h.flush(undefined, { force: true });
    h.compact(clock);
    expect(count('telemetry_recent')).toBe(0);
  }

  it('with no crash, every message is counted once', () => {
    const messages = stream(1, 180);
    const h = history({ compactSeriesPerStep: 3, compactStepsPerFlush: 1 });
    consume(h, messages, 0, messages.length, 7);
    finish(h);
    expect(h.offset()).toBe(messages.length - 1);
    expect(h.stats.lateWindows).toBeGreaterThan(0);
    verify(messages);
  });

  it.each([
    { seed: 2, crashAt: 100, batchSize: 1 },
    { seed: 3, crashAt: 333, batchSize: 7 },
    { seed: 4, crashAt: 401, batchSize: 13 },
    { seed: 5, crashAt: 517, batchSize: 50 },
  ])('after a crash and a replay from the stored offset (seed $seed, crash at $crashAt, batches of $batchSize): no gap, no double count', ({ seed, crashAt, batchSize }) => {
    const messages = stream(seed, 180);
    const options = { compactSeriesPerStep: 3, compactStepsPerFlush: 1, minFlushIntervalMs: 0 };
    const before = history(options);
    // Up to the crash: every full batch is flushed with its offset; what follows is only ingested.
    consume(before, messages, 0, crashAt, batchSize, false);
    for (let i = crashAt; i < crashAt + 3; i++) before.ingest(messages[i]!.batch, messages[i]!.receivedAt);
    expect(before.pendingWindows).toBeGreaterThan(0);
    const stored = before.offset();
    expect(stored).not.toBeNull();
    // A timer flush() now must not write what was ingested after the offset it knows.
    expect(before.flush()).toMatchObject({ written: false, skipped: 'unanchored' });

    tmp.reopen(); // the crash: memory is gone, the file stays
    const after = history(options);
    const resume = after.offset()! + 1;
    expect(resume).toBe(stored! + 1);
    expect(resume).toBeLessThanOrEqual(crashAt);
    consume(after, messages, resume, messages.length, batchSize);
    finish(after);
    verify(messages);
  });

  it('a write that fails halfway leaves neither rows nor the offset behind; the replay then counts everything once', () => {
    const messages = stream(6, 60);
    const h = history();
    consume(h, messages, 0, 50, 10);
    const stored = h.offset();
    for (let i = 50; i < 80; i++) h.ingest(messages[i]!.batch, messages[i]!.receivedAt);
    const store = h.store as unknown as { addRecentMany: (values: unknown[]) => void };
    const real = store.addRecentMany.bind(h.store);
    let rows = 0;
    store.addRecentMany = (values: unknown[]) => {
      // Half the staging rows go in, then the disk is full.
      rows = values.length / RECENT_COLUMNS;
      real(values.slice(0, Math.floor(rows / 2) * RECENT_COLUMNS));
      throw new Error('disk full');
    };
    expect(() => h.flush({ consumer: CONSUMER, stream: STREAM, offset: 79 })).toThrow('disk full');
    expect(rows).toBeGreaterThan(2);
    expect(h.offset()).toBe(stored);
    tmp.reopen();
    const after = history();
    consume(after, messages, after.offset()! + 1, messages.length, 10);
    finish(after);
    verify(messages);
  });

  it('a compaction step that fails is rolled back and done again', () => {
    const messages = stream(7, 120);
    const h = history({ compactStepsPerFlush: 0 });
    consume(h, messages, 0, messages.length, 20);
    const store = h.store as unknown as { putMarks: (...args: unknown[]) => void };
    const real = store.putMarks.bind(h.store);
    store.putMarks = () => {
      throw new Error('I/O error');
    };
    clock += 5 * 60_000;
    const staged = count('telemetry_recent');
    expect(() => h.compact(clock)).toThrow('I/O error');
    expect(count('telemetry_recent')).toBe(staged);
    expect(count('telemetry_1s')).toBe(0);
    store.putMarks = real;
    finish(h);
    verify(messages);
  });
});

describe('TelemetryHistory: retention', () => {
  it('prunes each resolution to its retention in small batches and forgets series without data', () => {
    const retention = { '1s': 5 * 60_000, '10s': 30 * 60_000, '1m': 2 * 3_600_000 };
    const h = history({ retention, minFlushIntervalMs: 0 });
    const hours = 4;
    // Edge a→b all along, one batch every 5 s; edge a→gone only in the first 10 minutes.
    for (let s = 0; s < hours * 3600; s += 5) {
      const at = T0 + s * 1000;
      const edges = [{ peerService: 'b', values: [1, 2, 3] }];
      if (s < 600) edges.push({ peerService: 'gone', values: [4] });
      clock = at + 1000;
      h.ingest(telemetryBatch('a', 'a1', at, edges), clock);
      if (s % 60 === 0) h.flush();
    }
    clock += 60_000;
    h.flush(undefined, { force: true });
    h.compact(clock);
    const nowSec = Math.floor(clock / 1000);
    const minT = (table: string) => (tmp.db.prepare(`SELECT min(t) AS t FROM ${table}`).get() as { t: number }).t;
    expect(minT('telemetry_1s')).toBeLessThan(nowSec - 3600); // nothing pruned yet

    let calls = 0;
    let deleted = 0;
    for (;;) {
      const r = h.prune(clock, { maxRows: 200 });
      calls++;
      deleted += r.deleted;
      expect(r.deleted).toBeLessThanOrEqual(200);
      if (r.done) break;
    }
    expect(calls).toBeGreaterThan(5);
    expect(deleted).toBe(h.stats.prunedRows);
    expect(minT('telemetry_1s')).toBeGreaterThanOrEqual(nowSec - 5 * 60);
    expect(minT('telemetry_1s')).toBeLessThan(nowSec - 4 * 60); // kept what is within retention
    expect(minT('telemetry_10s')).toBeGreaterThanOrEqual(nowSec - 30 * 60);
    expect(minT('telemetry_10s')).toBeLessThan(nowSec - 29 * 60);
    expect(minT('telemetry_1m')).toBeGreaterThanOrEqual(nowSec - 2 * 3600);
    expect(minT('telemetry_1m')).toBeLessThan(nowSec - 2 * 3600 + 120);
    const names = (tmp.db.prepare('SELECT b FROM telemetry_series WHERE kind = ? ORDER BY b').all('edge') as Array<{ b: string }>).map((r) => r.b);
    expect(names).toEqual(['b']); // a→gone: no window left in any table
    expect(h.stats.seriesForgotten).toBe(2); // the edge a→gone and the service gone
    expect(h.prune(clock)).toEqual({ deleted: 0, done: true });

    // The series comes back under a new id when it reports again.
    h.ingest(telemetryBatch('a', 'a1', clock, [{ peerService: 'gone', values: [1] }]), clock);
    h.flush(undefined, { force: true });
    expect(queries().series({ mesh: MESH, kind: 'edge', from: 'a', to: 'gone', start: clock, end: clock + 1000 }).points[0]!.requests).toBe(1);
    // So does its callee service's (an edge finds it through a reference, dropped when series are forgotten).
    expect(queries().series({ mesh: MESH, kind: 'service', service: 'gone', start: clock, end: clock + 1000 }).points[0]!.requests).toBe(1);
  });
});

describe('HistoryStore staging writes', () => {
  it('addRecentMany writes what addRecent writes row by row, conflicts included', () => {
    const store = new HistoryStore(tmp.db);
    const rows: unknown[][] = [];
    for (let i = 0; i < 3 * RECENT_ROWS_PER_STATEMENT + 5; i++) {
      const sketch = new LatencySketch();
      sketch.add(i + 1);
      sketch.add(2 * i + 3);
      rows.push(['m', 100 + (i % 7), 1 + (i % 11), i + 1, i % 2, 0, i % 3, 0, 1, encodeSketch(sketch.toWire())]);
    }
    for (const r of rows) expect(r).toHaveLength(RECENT_COLUMNS);
    const read = () => tmp.db.prepare('SELECT mesh, t, series, requests, http5xx, http4xx, connect, timeout, retries, hex(sketch) AS sketch FROM telemetry_recent ORDER BY mesh, t, series').all();
    for (const r of rows) {
      store.addRecent('m', r[2] as number, { t: r[1] as number, requests: r[3] as number, http5xx: r[4] as number, http4xx: r[5] as number, connect: r[6] as number, timeout: r[7] as number, retries: r[8] as number, sketch: r[9] as Uint8Array });
    }
    const one = read();
    expect(one).toHaveLength(77); // 7 seconds × 11 series: most rows met a conflict
    tmp.db.prepare('DELETE FROM telemetry_recent').run();
    store.addRecentMany(rows.flat());
    expect(read()).toEqual(one);
    expect(() => store.addRecentMany(['m', 1])).toThrow(RangeError);
  });
});

describe('TelemetryHistory: compaction keeps pace with the mesh, a bounded number of steps per flush', () => {
  /** 200 callers, one edge each to a callee instance of their own: 600 series (edge, service, instance). */
  function run(options: Partial<TelemetryHistoryOptions>, seconds: number): { trailS: number; maxSteps: number } {
    const h = history({ compactSeriesPerStep: 5, compactStepsPerFlush: 1, minFlushIntervalMs: 1000, ...options });
    let maxSteps = 0;
    for (let s = 0; s < seconds; s++) {
      for (let i = 0; i < 200; i++) h.ingest(telemetryBatch(`caller-${i}`, `caller-${i}-1`, clock, [{ peerService: `callee-${i}`, peerInstance: `callee-${i}-1`, values: [5, 7] }]), clock + 1000);
      clock += 1000;
      maxSteps = Math.max(maxSteps, h.flush({ consumer: CONSUMER, stream: STREAM, offset: s }).compaction.steps);
    }
    return { trailS: (clock - h.compactedThrough) / 1000, maxSteps };
  }

  it('runs as many steps as the series need (and no more than maxCompactStepsPerFlush), so compaction does not trail', () => {
    // 600 series in slices of 5: 121 steps a minute; one step per flush (a flush a second) would be 60.
    const adaptive = run({ maxCompactStepsPerFlush: 8 }, 240);
    expect(adaptive.maxSteps).toBeLessThanOrEqual(8);
    expect(adaptive.trailS).toBeLessThanOrEqual(60 + 10 + 60);
    clock = T0;
    tmp.cleanup();
    tmp = tempDb();
    const fixed = run({ maxCompactStepsPerFlush: 1 }, 240);
    expect(fixed.maxSteps).toBe(1);
    expect(fixed.trailS).toBeGreaterThan(adaptive.trailS + 60);
  });
});
