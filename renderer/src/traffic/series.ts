/**
 * Shaping telemetry series for charts: time ranges, what to ask the core, rows for the chart,
 * and the chart's state (loading / error / no data / ready). Pure: no DOM, no React.
 */
import type { MethodInput, SeriesPoint } from '../../../core/api/contract';

export type TrafficTarget = { kind: 'service'; service: string } | { kind: 'edge'; from: string; to: string } | { kind: 'instance'; service: string; instance: string };

export const RANGES = [
  { id: 'live', label: 'Live ▸', ms: 5 * 60_000 },
  { id: '15m', label: '15 m', ms: 15 * 60_000 },
  { id: '1h', label: '1 h', ms: 60 * 60_000 },
  { id: '6h', label: '6 h', ms: 6 * 60 * 60_000 },
  { id: '24h', label: '24 h', ms: 24 * 60 * 60_000 },
  { id: '7d', label: '7 d', ms: 7 * 24 * 60 * 60_000 },
] as const;
export type RangeId = (typeof RANGES)[number]['id'];

export function isRange(value: string | null): value is RangeId {
  return RANGES.some((r) => r.id === value);
}

/** The window to chart: an explicit start/end (a zoom or a shared link) wins over the range. */
export function timeWindow(range: RangeId, now: number, explicit?: { start: number | null; end: number | null }): { start: number; end: number } {
  if (explicit?.start != null && explicit.end != null && explicit.end > explicit.start) return { start: explicit.start, end: explicit.end };
  const ms = RANGES.find((r) => r.id === range)!.ms;
  return { start: now - ms, end: now };
}

/** Target from route parameters: edge=from>to, instance (with service), or service. */
export function parseTarget(p: { service: string | null; edge: string | null; instance: string | null }): TrafficTarget | null {
  if (p.edge) {
    const [from, to] = p.edge.split('>');
    if (from && to) return { kind: 'edge', from, to };
  }
  if (p.instance && p.service) return { kind: 'instance', service: p.service, instance: p.instance };
  if (p.service) return { kind: 'service', service: p.service };
  return null;
}

export function targetLabel(t: TrafficTarget): string {
  if (t.kind === 'edge') return `${t.from} → ${t.to}`;
  if (t.kind === 'instance') return `${t.instance} (${t.service})`;
  return `${t.service} (all callers)`;
}

/** A readable chart: at most this many points (the core's 'auto' allows 4 000). */
export const CHART_POINTS = 600;
/** The core's default retention per resolution (core/telemetry/resolutions.ts). */
const RETENTION_MS = { '1s': 6 * 3600_000, '10s': 3 * 86_400_000, '1m': 30 * 86_400_000 };
const STEP_MS = { '1s': 1000, '10s': 10_000, '1m': 60_000 };

/** The finest resolution that keeps the chart at most CHART_POINTS and is still kept for the window; else the core's choice. */
export function pickResolution(window: { start: number; end: number }, now: number): '1s' | '10s' | '1m' | 'auto' {
  for (const r of ['1s', '10s', '1m'] as const) {
    if ((window.end - window.start) / STEP_MS[r] <= CHART_POINTS && window.start >= now - RETENTION_MS[r]) return r;
  }
  return 'auto';
}

export function seriesQuery(profileId: string, target: TrafficTarget, window: { start: number; end: number }, now = window.end): MethodInput<'telemetry.series'> {
  const base = { profileId, start: Math.floor(window.start), end: Math.ceil(window.end), resolution: pickResolution(window, now) };
  if (target.kind === 'edge') return { ...base, kind: 'edge', from: target.from, to: target.to };
  if (target.kind === 'instance') return { ...base, kind: 'instance', service: target.service, instance: target.instance };
  return { ...base, kind: 'service', service: target.service };
}

export interface ChartRow {
  t: number;
  rps: number;
  /** Percent of requests that failed (5xx, connect, timeout); null without requests. */
  errorPct: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export function chartRows(points: readonly SeriesPoint[]): ChartRow[] {
  return points.map((p) => ({
    t: p.t,
    rps: p.rps,
    errorPct: p.requests > 0 ? p.errorRate * 100 : null,
    p50: p.p50,
    p95: p.p95,
    p99: p.p99,
  }));
}

export type ChartState =
  | { state: 'loading' }
  | { state: 'error'; message: string }
  | { state: 'no-data'; reason: 'never' | 'quiet' }
  | { state: 'ready'; rows: ChartRow[]; stepMs: number; resolution: string };

/** From the query's state: nothing ever recorded, recorded but quiet in this window, or rows. */
export function chartState(
  q: { state: 'loading' } | { state: 'error'; error: Error } | { state: 'ready'; data: { series: number; points: SeriesPoint[]; stepMs: number; resolution: string } },
): ChartState {
  if (q.state === 'loading') return q;
  if (q.state === 'error') return { state: 'error', message: q.error.message };
  if (q.data.series === 0) return { state: 'no-data', reason: 'never' };
  if (!q.data.points.some((p) => p.requests > 0)) return { state: 'no-data', reason: 'quiet' };
  return { state: 'ready', rows: chartRows(q.data.points), stepMs: q.data.stepMs, resolution: q.data.resolution };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Axis ticks: HH:MM:SS under 10 minutes, HH:MM up to 2 days, DD/MM HH:MM beyond. */
export function tickFormatter(spanMs: number): (t: number) => string {
  return (t) => {
    const d = new Date(t);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (spanMs <= 10 * 60_000) return `${hm}:${pad(d.getSeconds())}`;
    if (spanMs <= 2 * 24 * 60 * 60_000) return hm;
    return `${pad(d.getDate())}/${pad(d.getMonth() + 1)} ${hm}`;
  };
}

/** The time window a brush selection covers (whole steps), or null for the whole chart. */
export function brushWindow(rows: readonly ChartRow[], startIndex: number, endIndex: number, stepMs: number): { start: number; end: number } | null {
  if (rows.length === 0) return null;
  const a = Math.max(0, Math.min(startIndex, endIndex));
  const b = Math.min(rows.length - 1, Math.max(startIndex, endIndex));
  if (a === 0 && b === rows.length - 1) return null;
  return { start: rows[a]!.t, end: rows[b]!.t + stepMs };
}

/** Averages and worst values over the rows, for the chart's header. */
export function summarize(rows: readonly ChartRow[]): { rps: number; errorPct: number | null; p99: number | null } {
  if (rows.length === 0) return { rps: 0, errorPct: null, p99: null };
  const rps = rows.reduce((s, r) => s + r.rps, 0) / rows.length;
  const withReq = rows.filter((r) => r.errorPct !== null);
  const weight = withReq.reduce((s, r) => s + r.rps, 0);
  const errorPct = weight > 0 ? withReq.reduce((s, r) => s + r.errorPct! * r.rps, 0) / weight : null;
  const p99s = rows.map((r) => r.p99).filter((v): v is number => v !== null);
  return { rps, errorPct, p99: p99s.length ? Math.max(...p99s) : null };
}
