/**
 * SQL of the telemetry history (tables: migration 4 in core/store/migrations.ts): series,
 * the time-ordered staging table, the series-major resolution tables, compaction marks and the
 * stream offset. Shared by the writer (history.ts), the reader (queries.ts) and the benchmark.
 * No policy here: what goes where is decided by TelemetryHistory.
 */
import type Database from 'better-sqlite3';
import type { Db } from '../store/database.js';
import { mergeSketchBlobs } from './sketch-codec.js';
import { RESOLUTIONS, RESOLUTION_TABLE, type Resolution } from './resolutions.js';

export type SeriesKind = 'edge' | 'service' | 'instance';

export interface SeriesRow {
  id: number;
  mesh: string;
  kind: SeriesKind;
  /** edge: caller service ("external" from outside the mesh); service: ''; instance: the service. */
  a: string;
  /** edge: callee service; service: the service; instance: the instance id. */
  b: string;
  firstSeen: number;
  lastSeen: number;
}

/** One window of one series; t in seconds since the epoch. */
export interface WindowRow {
  t: number;
  requests: number;
  http5xx: number;
  http4xx: number;
  connect: number;
  timeout: number;
  retries: number;
  sketch: Uint8Array;
}

/** Raw read order: [t, requests, http5xx, http4xx, connect, timeout, retries, sketch]. */
export type RawWindow = [number, number, number, number, number, number, number, Uint8Array];
/** Raw staging slice order: [series, t, requests, http5xx, http4xx, connect, timeout, retries, sketch]. */
export type RawSeriesWindow = [number, number, number, number, number, number, number, number, Uint8Array];

export const SKETCH_MERGE_FUNCTION = 'meshdeck_sketch_merge';

const COLUMNS = 'requests, http5xx, http4xx, connect, timeout, retries, sketch';
const ADD_ON_CONFLICT = `requests = requests + excluded.requests, http5xx = http5xx + excluded.http5xx,
  http4xx = http4xx + excluded.http4xx, connect = connect + excluded.connect, timeout = timeout + excluded.timeout,
  retries = retries + excluded.retries, sketch = ${SKETCH_MERGE_FUNCTION}(sketch, excluded.sketch)`;

/** Registers the SQL function the upserts use to merge sketch blobs (idempotent per connection). */
export function registerSketchMerge(db: Db): void {
  db.function(SKETCH_MERGE_FUNCTION, { deterministic: true }, (a: unknown, b: unknown) =>
    mergeSketchBlobs(a as Uint8Array, b as Uint8Array),
  );
}

type Stmt = Database.Statement<unknown[]>;

/** Values per staging row in addRecentMany(). */
export const RECENT_COLUMNS = 10;
/** Staging rows per multi-row statement. */
export const RECENT_ROWS_PER_STATEMENT = 64;

export class HistoryStore {
  private readonly stmts;
  /** Multi-row staging upserts by row count (RECENT_ROWS_PER_STATEMENT, and the remainders met). */
  private readonly recentRows = new Map<number, Stmt>();
  private readonly add: Record<Resolution, Stmt>;
  private readonly insert: Record<Resolution, Stmt>;
  private readonly range: Record<Resolution, Stmt>;
  private readonly prune: Record<Resolution, Stmt>;

  constructor(readonly db: Db) {
    registerSketchMerge(db);
    const table = RESOLUTION_TABLE;
    const each = (make: (table: string) => string) =>
      Object.fromEntries(RESOLUTIONS.map((r) => [r, db.prepare(make(table[r]))])) as Record<Resolution, Stmt>;
    this.add = each(
      (t) => `INSERT INTO ${t} (series, t, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series, t) DO UPDATE SET ${ADD_ON_CONFLICT}`,
    );
    this.insert = each((t) => `INSERT INTO ${t} (series, t, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.range = each((t) => `SELECT t, ${COLUMNS} FROM ${t} WHERE series = ? AND t >= ? AND t < ? ORDER BY t`);
    for (const r of RESOLUTIONS) this.range[r].raw(true);
    // At most @limit rows of one series older than @cutoff: the oldest, by primary key.
    this.prune = each(
      (t) => `DELETE FROM ${t} WHERE series = @series AND t < @cutoff AND t < coalesce(
        (SELECT t FROM ${t} WHERE series = @series AND t < @cutoff ORDER BY t LIMIT 1 OFFSET @limit), @cutoff)`,
    );
    this.stmts = {
      seriesOf: db.prepare('SELECT id, mesh, kind, a, b, first_seen AS firstSeen, last_seen AS lastSeen FROM telemetry_series WHERE mesh = ? ORDER BY id'),
      findSeries: db.prepare(
        'SELECT id, mesh, kind, a, b, first_seen AS firstSeen, last_seen AS lastSeen FROM telemetry_series WHERE mesh = ? AND kind = ? AND a = ? AND b = ?',
      ),
      seriesInto: db.prepare(
        'SELECT id, mesh, kind, a, b, first_seen AS firstSeen, last_seen AS lastSeen FROM telemetry_series WHERE mesh = ? AND kind = ? AND b = ? ORDER BY id',
      ),
      insertSeries: db.prepare('INSERT INTO telemetry_series (mesh, kind, a, b, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)'),
      touchSeries: db.prepare('UPDATE telemetry_series SET last_seen = max(last_seen, ?) WHERE id = ?'),
      deleteSeries: db.prepare('DELETE FROM telemetry_series WHERE id = ?'),
      addRecent: db.prepare(
        `INSERT INTO telemetry_recent (mesh, t, series, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (mesh, t, series) DO UPDATE SET ${ADD_ON_CONFLICT}`,
      ),
      // One primary-key lookup per second of the range: the staging table is time-major.
      recentRange: db
        .prepare(
          `WITH RECURSIVE ts(t) AS (SELECT @from UNION ALL SELECT t + 1 FROM ts WHERE t + 1 < @to)
           SELECT r.t, r.requests, r.http5xx, r.http4xx, r.connect, r.timeout, r.retries, r.sketch
           FROM ts CROSS JOIN telemetry_recent r ON r.mesh = @mesh AND r.t = ts.t AND r.series = @series`,
        )
        .raw(true),
      recentBounds: db.prepare('SELECT min(t) AS lo, max(t) AS hi FROM telemetry_recent WHERE mesh = ?'),
      recentMin: db.prepare('SELECT min(t) AS lo FROM telemetry_recent WHERE mesh = ?'),
      // Slices of staging: per second of the range, a primary-key range over the series slice,
      // so a slice never scans the other series' rows of the minute.
      recentSlice: db
        .prepare(
          `WITH RECURSIVE ts(t) AS (SELECT @from UNION ALL SELECT t + 1 FROM ts WHERE t + 1 < @to)
           SELECT r.series, r.t, r.requests, r.http5xx, r.http4xx, r.connect, r.timeout, r.retries, r.sketch
           FROM ts CROSS JOIN telemetry_recent r ON r.mesh = @mesh AND r.t = ts.t AND r.series >= @lo AND r.series < @hi`,
        )
        .raw(true),
      moveRecentSlice: db.prepare(
        `WITH RECURSIVE ts(t) AS (SELECT @from UNION ALL SELECT t + 1 FROM ts WHERE t + 1 < @to)
         INSERT INTO telemetry_1s (series, t, ${COLUMNS})
         SELECT r.series, r.t, r.requests, r.http5xx, r.http4xx, r.connect, r.timeout, r.retries, r.sketch
         FROM ts CROSS JOIN telemetry_recent r ON r.mesh = @mesh AND r.t = ts.t AND r.series >= @lo AND r.series < @hi
         WHERE true
         ON CONFLICT (series, t) DO UPDATE SET ${ADD_ON_CONFLICT}`,
      ),
      deleteRecentSecond: db.prepare('DELETE FROM telemetry_recent WHERE mesh = @mesh AND t = @t AND series >= @lo AND series < @hi'),
      countRecent: db.prepare('SELECT count(*) AS n FROM telemetry_recent WHERE mesh = ?'),
      marks: db.prepare('SELECT compacted_through AS through, cursor FROM telemetry_marks WHERE mesh = ?'),
      putMarks: db.prepare(
        `INSERT INTO telemetry_marks (mesh, compacted_through, cursor) VALUES (?, ?, ?)
         ON CONFLICT (mesh) DO UPDATE SET compacted_through = excluded.compacted_through, cursor = excluded.cursor`,
      ),
      getOffset: db.prepare('SELECT offset FROM stream_offsets WHERE consumer = ?'),
      putOffset: db.prepare(
        `INSERT INTO stream_offsets (consumer, stream, offset, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (consumer) DO UPDATE SET stream = excluded.stream, offset = excluded.offset, updated_at = excluded.updated_at`,
      ),
    };
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- series ----------------------------------------------------------------------------------

  seriesOf(mesh: string): SeriesRow[] {
    return this.stmts.seriesOf.all(mesh) as SeriesRow[];
  }

  findSeries(mesh: string, kind: SeriesKind, a: string, b: string): SeriesRow | undefined {
    return this.stmts.findSeries.get(mesh, kind, a, b) as SeriesRow | undefined;
  }

  /** Series of `kind` whose `b` is `b`: with kind 'edge', every edge into service `b`. */
  seriesInto(mesh: string, kind: SeriesKind, b: string): SeriesRow[] {
    return this.stmts.seriesInto.all(mesh, kind, b) as SeriesRow[];
  }

  insertSeries(mesh: string, kind: SeriesKind, a: string, b: string, firstSeen: number, lastSeen: number): number {
    return Number(this.stmts.insertSeries.run(mesh, kind, a, b, firstSeen, lastSeen).lastInsertRowid);
  }

  touchSeries(id: number, lastSeen: number): void {
    this.stmts.touchSeries.run(lastSeen, id);
  }

  deleteSeries(id: number): void {
    this.stmts.deleteSeries.run(id);
  }

  // --- staging ---------------------------------------------------------------------------------

  addRecent(mesh: string, series: number, w: WindowRow): void {
    this.stmts.addRecent.run(mesh, w.t, series, w.requests, w.http5xx, w.http4xx, w.connect, w.timeout, w.retries, w.sketch);
  }

  /**
   * addRecent() for many windows: `values` holds RECENT_COLUMNS values per window, in
   * addRecent's order (mesh, t, series, requests, http5xx, http4xx, connect, timeout, retries,
   * sketch). Written RECENT_ROWS_PER_STATEMENT rows per statement: one statement per window
   * cost more than the rows themselves at 40 000 windows a second.
   */
  addRecentMany(values: unknown[]): void {
    const rows = values.length / RECENT_COLUMNS;
    if (!Number.isInteger(rows)) throw new RangeError(`addRecentMany: ${values.length} values are not whole rows of ${RECENT_COLUMNS}`);
    let at = 0;
    const full = RECENT_ROWS_PER_STATEMENT * RECENT_COLUMNS;
    if (values.length === full) {
      this.addRecentRows(RECENT_ROWS_PER_STATEMENT).run(values);
      return;
    }
    while (values.length - at >= full) {
      this.addRecentRows(RECENT_ROWS_PER_STATEMENT).run(values.slice(at, at + full));
      at += full;
    }
    if (at < values.length) this.addRecentRows((values.length - at) / RECENT_COLUMNS).run(values.slice(at));
  }

  private addRecentRows(n: number): Stmt {
    let stmt = this.recentRows.get(n);
    if (!stmt) {
      const row = `(${Array.from({ length: RECENT_COLUMNS }, () => '?').join(', ')})`;
      stmt = this.db.prepare(
        `INSERT INTO telemetry_recent (mesh, t, series, ${COLUMNS}) VALUES ${Array.from({ length: n }, () => row).join(', ')}
         ON CONFLICT (mesh, t, series) DO UPDATE SET ${ADD_ON_CONFLICT}`,
      );
      this.recentRows.set(n, stmt);
    }
    return stmt;
  }

  /** Staging windows of one series with from ≤ t < to, ascending. */
  recentRange(mesh: string, series: number, from: number, to: number): RawWindow[] {
    if (to <= from) return [];
    return this.stmts.recentRange.all({ mesh, series, from, to }) as RawWindow[];
  }

  recentBounds(mesh: string): { lo: number; hi: number } | null {
    const row = this.stmts.recentBounds.get(mesh) as { lo: number | null; hi: number | null };
    return row.lo === null || row.hi === null ? null : { lo: row.lo, hi: row.hi };
  }

  recentMin(mesh: string): number | null {
    return (this.stmts.recentMin.get(mesh) as { lo: number | null }).lo;
  }

  recentCount(mesh: string): number {
    return (this.stmts.countRecent.get(mesh) as { n: number }).n;
  }

  /** Staging windows with from ≤ t < to and lo ≤ series < hi, by ascending t (then series). */
  recentSlice(mesh: string, from: number, to: number, lo: number, hi: number): RawSeriesWindow[] {
    if (to <= from) return [];
    return this.stmts.recentSlice.all({ mesh, from, to, lo, hi }) as RawSeriesWindow[];
  }

  /** Adds those staging windows to telemetry_1s, inside SQLite (no row crosses into JavaScript). */
  moveRecentSliceTo1s(mesh: string, from: number, to: number, lo: number, hi: number): number {
    if (to <= from) return 0;
    return this.stmts.moveRecentSlice.run({ mesh, from, to, lo, hi }).changes;
  }

  deleteRecentSlice(mesh: string, from: number, to: number, lo: number, hi: number): number {
    let deleted = 0;
    for (let t = from; t < to; t++) deleted += this.stmts.deleteRecentSecond.run({ mesh, t, lo, hi }).changes;
    return deleted;
  }

  // --- resolution tables -----------------------------------------------------------------------

  /** Adds a window to a resolution table (counts add, sketches merge). */
  addWindow(resolution: Resolution, series: number, w: WindowRow): void {
    this.add[resolution].run(series, w.t, w.requests, w.http5xx, w.http4xx, w.connect, w.timeout, w.retries, w.sketch);
  }

  /** Plain insert (fails on an existing row): bulk loads. */
  insertWindow(resolution: Resolution, series: number, w: WindowRow): void {
    this.insert[resolution].run(series, w.t, w.requests, w.http5xx, w.http4xx, w.connect, w.timeout, w.retries, w.sketch);
  }

  /** Windows of one series with from ≤ t < to, ascending. */
  windows(resolution: Resolution, series: number, from: number, to: number): RawWindow[] {
    if (to <= from) return [];
    return this.range[resolution].all(series, from, to) as RawWindow[];
  }

  /** Deletes at most `limit` windows of one series older than `cutoff` (seconds); returns how many. */
  pruneSeries(resolution: Resolution, series: number, cutoff: number, limit: number): number {
    return this.prune[resolution].run({ series, cutoff, limit }).changes;
  }

  // --- marks and offsets -----------------------------------------------------------------------

  marks(mesh: string): { through: number; cursor: number } {
    return (this.stmts.marks.get(mesh) as { through: number; cursor: number } | undefined) ?? { through: 0, cursor: 0 };
  }

  putMarks(mesh: string, through: number, cursor: number): void {
    this.stmts.putMarks.run(mesh, through, cursor);
  }

  offset(consumer: string): number | null {
    const row = this.stmts.getOffset.get(consumer) as { offset: number } | undefined;
    return row ? row.offset : null;
  }

  putOffset(consumer: string, stream: string, offset: number, at: number): void {
    this.stmts.putOffset.run(consumer, stream, offset, at);
  }
}
