/**
 * Reads of the telemetry history: golden-signal series of an edge, a service (every edge into
 * it, merged) or an instance, at a resolution chosen from the range.
 *
 * Every point merges the stored windows it covers: counts add, latency sketches merge bucket by
 * bucket, and p50/p95/p99 are read from the merged sketch — so a percentile of a 1 min point,
 * of a 5 min point made of 1 min rows or of a service made of many edges is as exact (1 %) as one
 * of a single 1 s window. Points come from the resolution table plus the staging table (the last
 * minute or so, not yet compacted); the two never hold the same window. Deltas still in memory
 * (at most one flush interval) are not visible.
 */
import { z } from 'zod';
import { ValidationError, type FieldIssue } from '../lib/errors.js';
import type { Db } from '../store/database.js';
import { HistoryStore, type RawWindow, type SeriesRow } from './history-store.js';
import { RESOLUTION_SECONDS, RESOLUTIONS, resolveRetention, type Resolution, type Retention } from './resolutions.js';
import { DenseSketch } from './sketch-codec.js';

/** 'auto' keeps a chart at or below this many points. */
export const MAX_AUTO_POINTS = 4000;
/** An explicit resolution may return at most this many points. */
export const MAX_POINTS = 20_000;
const QUANTILES = [0.5, 0.95, 0.99];
const NO_QUANTILES: ReadonlyArray<number | null> = [null, null, null];
/** Point spacings 'auto' may use above 1 min, built from 1 min rows (minutes). */
const COARSE_STEPS_MIN = [2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

export const SeriesQuery = z
  .object({
    mesh: z.string().min(1),
    kind: z.enum(['edge', 'service', 'instance']),
    /** edge: caller service ("external" for traffic from outside the mesh). */
    from: z.string().min(1).optional(),
    /** edge: callee service. */
    to: z.string().min(1).optional(),
    /** service, instance: the (callee) service. */
    service: z.string().min(1).optional(),
    /** instance: the instance id. */
    instance: z.string().min(1).optional(),
    /** ms since the epoch; the range is [start, end). */
    start: z.number().int().nonnegative(),
    end: z.number().int().nonnegative(),
    resolution: z.enum(['auto', '1s', '10s', '1m']).default('auto'),
  })
  .strict()
  .superRefine((q, ctx) => {
    const need = (field: 'from' | 'to' | 'service' | 'instance') => {
      if (!q[field]) ctx.addIssue({ code: 'custom', path: [field], message: `required for kind "${q.kind}"` });
    };
    if (q.end <= q.start) ctx.addIssue({ code: 'custom', path: ['end'], message: 'end must be after start' });
    if (q.kind === 'edge') {
      need('from');
      need('to');
    } else if (q.kind === 'service') need('service');
    else {
      need('service');
      need('instance');
    }
  });
export type SeriesQueryInput = z.input<typeof SeriesQuery>;

export interface SeriesPoint {
  /** Start of the point's interval (ms since the epoch). */
  t: number;
  requests: number;
  /** requests / the point's interval in seconds. */
  rps: number;
  errors: { http5xx: number; http4xx: number; connect: number; timeout: number };
  /** (5xx + connect + timeout) / requests, 0..1 (4xx are the caller's fault), 0 without requests. */
  errorRate: number;
  retries: number;
  /** ms; null when the point has no latency samples. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface SeriesResult {
  /** The stored resolution read. */
  resolution: Resolution;
  /** Spacing of the points (ms): the resolution's, or a multiple of 1 min for long 'auto' ranges. */
  stepMs: number;
  /** First point's t (start rounded down to the step) and the requested end. */
  start: number;
  end: number;
  /** Stored series merged into the points (0: nothing was ever recorded for the query). */
  series: number;
  /** Every step of the range, in order, zero where there was no traffic. */
  points: SeriesPoint[];
}

/**
 * The resolution 'auto' reads: the finest whose points fit MAX_AUTO_POINTS and whose retention
 * still covers `start`; beyond 1 min, 1 min rows merged into wider points.
 */
export function chooseResolution(start: number, end: number, now: number, retention: Retention): { resolution: Resolution; stepMs: number } {
  const fits = (stepMs: number) => pointCount(start, end, stepMs) <= MAX_AUTO_POINTS;
  for (const resolution of RESOLUTIONS) {
    const stepMs = RESOLUTION_SECONDS[resolution] * 1000;
    if (fits(stepMs) && start >= now - retention[resolution]) return { resolution, stepMs };
  }
  for (const minutes of COARSE_STEPS_MIN) {
    if (fits(minutes * 60_000)) return { resolution: '1m', stepMs: minutes * 60_000 };
  }
  const days = Math.ceil((end - start) / 86_400_000 / MAX_AUTO_POINTS) + 1;
  return { resolution: '1m', stepMs: days * 86_400_000 };
}

function pointCount(start: number, end: number, stepMs: number): number {
  const first = Math.floor(start / stepMs) * stepMs;
  return Math.ceil((end - first) / stepMs);
}

export interface TelemetryQueriesOptions {
  /** The retention the history keeps (for 'auto': a resolution is used only where it still has data). */
  retention?: Partial<Retention>;
  now?: () => number;
}

export class TelemetryQueries {
  private readonly store: HistoryStore;
  private readonly retention: Retention;
  private readonly now: () => number;
  private readonly acc = new DenseSketch();

  constructor(db: Db, options: TelemetryQueriesOptions = {}) {
    this.store = new HistoryStore(db);
    this.retention = resolveRetention(options.retention);
    this.now = options.now ?? Date.now;
  }

  /** The stored series of a query: an edge, a service (every edge into it, merged at ingest) or an instance. */
  seriesFor(q: Pick<z.output<typeof SeriesQuery>, 'mesh' | 'kind' | 'from' | 'to' | 'service' | 'instance'>): SeriesRow[] {
    const row =
      q.kind === 'edge'
        ? this.store.findSeries(q.mesh, 'edge', q.from!, q.to!)
        : q.kind === 'service'
          ? this.store.findSeries(q.mesh, 'service', '', q.service!)
          : this.store.findSeries(q.mesh, 'instance', q.service!, q.instance!);
    return row ? [row] : [];
  }

  series(input: SeriesQueryInput): SeriesResult {
    const parsed = SeriesQuery.safeParse(input);
    if (!parsed.success) {
      const issues: FieldIssue[] = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      throw new ValidationError('Invalid telemetry series query', issues);
    }
    const q = parsed.data;
    let resolution: Resolution;
    let stepMs: number;
    if (q.resolution === 'auto') ({ resolution, stepMs } = chooseResolution(q.start, q.end, this.now(), this.retention));
    else {
      resolution = q.resolution;
      stepMs = RESOLUTION_SECONDS[resolution] * 1000;
      const n = pointCount(q.start, q.end, stepMs);
      if (n > MAX_POINTS) {
        throw new ValidationError(`${n} points at ${resolution} is more than ${MAX_POINTS}: use a shorter range, a coarser resolution or "auto"`, [
          { path: 'resolution', message: `too many points (${n})` },
        ]);
      }
    }
    const first = Math.floor(q.start / stepMs) * stepMs;
    const n = pointCount(q.start, q.end, stepMs);
    const series = this.seriesFor(q);

    // Per point: six counters, and the sketches to merge (most points have exactly one).
    const counts = new Float64Array(n * 6);
    const firstSketch: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(n);
    const moreSketches = new Map<number, Uint8Array[]>();
    const add = (rows: RawWindow[]) => {
      for (const [t, requests, http5xx, http4xx, connect, timeout, retries, sketch] of rows) {
        const i = Math.floor((t * 1000 - first) / stepMs);
        if (i < 0 || i >= n) continue;
        const c = i * 6;
        counts[c] = counts[c]! + requests;
        counts[c + 1] = counts[c + 1]! + http5xx;
        counts[c + 2] = counts[c + 2]! + http4xx;
        counts[c + 3] = counts[c + 3]! + connect;
        counts[c + 4] = counts[c + 4]! + timeout;
        counts[c + 5] = counts[c + 5]! + retries;
        if (firstSketch[i] === undefined) firstSketch[i] = sketch;
        else {
          const list = moreSketches.get(i);
          if (list) list.push(sketch);
          else moreSketches.set(i, [sketch]);
        }
      }
    };
    const fromSec = Math.floor(first / 1000);
    const toSec = Math.ceil(q.end / 1000);
    const staged = series.length ? this.store.recentBounds(q.mesh) : null;
    for (const s of series) {
      add(this.store.windows(resolution, s.id, fromSec, toSec));
      if (staged) add(this.store.recentRange(q.mesh, s.id, Math.max(fromSec, staged.lo), Math.min(toSec, staged.hi + 1)));
    }

    const seconds = stepMs / 1000;
    const points: SeriesPoint[] = new Array<SeriesPoint>(n);
    for (let i = 0; i < n; i++) {
      const c = i * 6;
      const requests = counts[c]!;
      const errors = { http5xx: counts[c + 1]!, http4xx: counts[c + 2]!, connect: counts[c + 3]!, timeout: counts[c + 4]! };
      let p = NO_QUANTILES;
      const sketch = firstSketch[i];
      if (sketch) {
        this.acc.reset();
        this.acc.addBlob(sketch);
        const more = moreSketches.get(i);
        if (more) for (const blob of more) this.acc.addBlob(blob);
        p = this.acc.quantiles(QUANTILES);
      }
      points[i] = {
        t: first + i * stepMs,
        requests,
        rps: requests / seconds,
        errors,
        errorRate: requests ? (errors.http5xx + errors.connect + errors.timeout) / requests : 0,
        retries: counts[c + 5]!,
        p50: p[0] ?? null,
        p95: p[1] ?? null,
        p99: p[2] ?? null,
      };
    }
    return { resolution, stepMs, start: first, end: q.end, series: series.length, points };
  }
}
