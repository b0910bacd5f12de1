/**
 * Live per-edge view of the mesh's traffic, fed by telemetry batches: for every edge
 * (caller service → callee service) request and error counts in 1 s windows for the last minute
 * and latency sketches in 1 s windows for the last 10 s, 10 s blocks for the rest of the minute;
 * behind it counts in 10 s blocks and sketches in 60 s blocks, held compactly (edge-windows.ts: typed arrays,
 * sketches as sketch-codec blobs, merged on read). Reads give rates and percentiles over a
 * recent span.
 * (History, rollups and persistence build on this in core/telemetry.)
 */
import type { CircuitReport, EdgeStats, TelemetryBatch } from '../protocol/messages.js';
import { DenseSketch, sketchBlobOf } from './sketch-codec.js';
import { CONNECT, COUNTERS, EdgeWindows, FINE_SECONDS, HTTP4XX, HTTP5XX, REFUSED, REQUESTS, RETRIES, SKETCH_SECONDS, TIMEOUT, COARSE_SECONDS, MINUTE_SECONDS, type WindowTotals } from './edge-windows.js';

const WINDOW_MS = 1000;

/** A caller instance's breaker report is shown this long after it last came (agents resend open ones every window). */
const CIRCUIT_REPORT_TTL_MS = 30_000;

export type CircuitState = CircuitReport['state'];

export interface EdgeCircuit {
  /** The worst state among the caller instances' reports: open, then half-open, then closed. */
  state: CircuitState;
  instances: Array<{ instanceId: string; state: CircuitState; since: number; until: number | null; manual: boolean; rule: string; reason: string; at: number }>;
}

export interface EdgeSummary {
  from: string;
  to: string;
  /** Requests per second over the span. */
  rps: number;
  requests: number;
  errors: { http5xx: number; http4xx: number; connect: number; timeout: number };
  /** Share of requests that failed (5xx, connect, timeout), 0..1. 4xx are the caller's fault. */
  errorRate: number;
  retries: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  lastSeen: number;
  /** Requests the callers' circuit breakers answered themselves (not in requests or errors). */
  refused: number;
  /** Breaker state reported by the callers (absent when none reported lately). */
  circuit?: EdgeCircuit;
}

/** Caller instances an edge's table holds before it reuses the ones out of the 1 s windows. */
const CALLER_TABLE_SOFT_LIMIT = 16;

class EdgeSeries {
  readonly windows: EdgeWindows;
  /** Breaker reports by caller instance, made on the first one. */
  circuits: Map<string, CircuitReport & { at: number }> | null = null;
  /** Caller instances the 1 s windows count requests of (index = id in the window records), and the newest second each reported. */
  callers: string[] | null = null;
  callerSeconds: number[] | null = null;
  /** Newest 1 s window seen (epoch seconds). */
  newest = -Infinity;
  lastSeen = 0;
  constructor(
    readonly from: string,
    readonly to: string,
    coarseSlots: number,
    minuteSlots: number,
  ) {
    this.windows = new EdgeWindows(coarseSlots, minuteSlots);
  }

  /** The table index of a caller instance for a 1 s window `second` the fine ring keeps. */
  callerIndex(instanceId: string, second: number): number {
    const callers = this.callers;
    const seconds = this.callerSeconds;
    if (!callers || !seconds) {
      // Made with their first entry: an array grown from empty by push() reserves 17 slots
      // (152 bytes), twice per edge, and most edges have one or a few callers.
      this.callers = [instanceId];
      this.callerSeconds = [second];
      return 0;
    }
    let i = callers.indexOf(instanceId);
    if (i < 0) {
      if (callers.length >= CALLER_TABLE_SOFT_LIMIT) {
        // An entry no 1 s window still refers to (its newest second is past SKETCH_SECONDS, where windows drop their callers).
        const stale = Math.max(this.newest, second) - SKETCH_SECONDS;
        i = seconds.findIndex((s) => s <= stale);
      }
      if (i < 0) {
        i = callers.length;
        callers.push(instanceId);
        seconds.push(second);
      } else {
        callers[i] = instanceId;
        seconds[i] = second;
      }
    } else if (second > seconds[i]!) seconds[i] = second;
    return i;
  }

  setCircuit(instanceId: string, report: CircuitReport, at: number): void {
    const circuits = (this.circuits ??= new Map());
    circuits.set(instanceId, { ...report, at });
    if (circuits.size > 8) pruneCircuits(circuits, at);
  }
}

/**
 * The caller of an edge a service reported, or null when it is not counted: outbound edges are
 * the caller's view (the callee's own view would count them twice); inbound edges count only
 * traffic from outside the mesh. (Two functions rather than one returning both ends: the ingest
 * paths call them for every edge of every batch, and an object each time was garbage.)
 */
export function edgeCaller(service: string, edge: Pick<EdgeStats, 'direction' | 'peerService'>): string | null {
  if (edge.direction === 'outbound') return service;
  return edge.peerService === 'external' ? 'external' : null;
}

/** The callee of an edge edgeCaller() counts. */
export function edgeCallee(service: string, edge: Pick<EdgeStats, 'direction' | 'peerService'>): string {
  return edge.direction === 'outbound' ? edge.peerService : service;
}

/**
 * The live view. Counts over spans up to a minute are summed from 1 s windows (a window counts
 * when it ends after the span starts); longer spans (up to `keepSeconds`) take whole 10 s blocks
 * for the part older than a minute, their old end rounded down to a 10 s boundary. Percentiles
 * come from the merged sketches of the windows read: exact over the last 10 s (SKETCH_SECONDS);
 * a longer span's old end is rounded down to a 10 s boundary up to a minute back (at most 9 s
 * more samples) and to a minute beyond (at most 59 s more). Requests per caller instance are
 * kept in the 1 s windows of the last 10 s only: callerRequests() covers at most those.
 */
export class LiveEdges {
  /** Caller → callee → series: found without building a key string per edge and batch. */
  private readonly edges = new Map<string, Map<string, EdgeSeries>>();
  private edgeCount = 0;
  private readonly coarseSlots: number;
  private readonly minuteSlots: number;
  private readonly totals: WindowTotals = { counters: new Float64Array(COUNTERS), callers: new Map(), sketch: new DenseSketch() };
  private readonly counters = new Float64Array(COUNTERS);

  /** `keepSeconds`: the longest span answered (the API's is 300 s). */
  constructor(private readonly keepSeconds = 300) {
    // Blocks behind the fine ring that reach keepSeconds back, plus the partial ones at both ends.
    this.coarseSlots = Math.max(1, Math.ceil(Math.max(0, keepSeconds - FINE_SECONDS) / COARSE_SECONDS) + 2);
    this.minuteSlots = Math.max(1, Math.ceil(Math.max(0, keepSeconds - FINE_SECONDS) / MINUTE_SECONDS) + 2);
  }

  ingest(batch: TelemetryBatch, receivedAt: number): void {
    const second = Math.floor(batch.windowStart / WINDOW_MS);
    const c = this.counters;
    for (const edge of batch.edges) {
      const from = edgeCaller(batch.service, edge);
      if (from === null) continue;
      const to = edgeCallee(batch.service, edge);
      let byTo = this.edges.get(from);
      if (!byTo) this.edges.set(from, (byTo = new Map()));
      let series = byTo.get(to);
      if (!series) {
        series = new EdgeSeries(from, to, this.coarseSlots, this.minuteSlots);
        byTo.set(to, series);
        this.edgeCount += 1;
      }
      c[REQUESTS] = edge.requests;
      c[HTTP5XX] = edge.errors.http5xx;
      c[HTTP4XX] = edge.errors.http4xx;
      c[CONNECT] = edge.errors.connect;
      c[TIMEOUT] = edge.errors.timeout;
      c[RETRIES] = edge.retries;
      const refused = edge.refused ?? 0;
      c[REFUSED] = refused;
      const recent = second > series.newest - SKETCH_SECONDS;
      const caller = edge.direction === 'outbound' && recent ? series.callerIndex(batch.instanceId, second) : -1;
      series.windows.add(second, c, caller, edge.requests + refused, sketchBlobOf(edge.latency));
      if (second > series.newest) series.newest = second;
      if (edge.direction === 'outbound' && edge.circuit) series.setCircuit(batch.instanceId, edge.circuit, receivedAt);
      series.lastSeen = receivedAt;
    }
  }

  /** Every edge seen within `spanMs` before `now`, summarised over that span. */
  summaries(now: number, spanMs = 10_000): EdgeSummary[] {
    const since = now - spanMs;
    const forgetBefore = now - (this.keepSeconds + FINE_SECONDS) * 1000;
    const out: EdgeSummary[] = [];
    const sinceSecond = Math.floor(since / WINDOW_MS);
    for (const [from, byTo] of this.edges) {
      for (const [to, series] of byTo) {
        if (series.lastSeen < since) {
          if (series.lastSeen < forgetBefore) {
            byTo.delete(to);
            this.edgeCount -= 1;
          }
          continue;
        }
        out.push(this.summarize(series, sinceSecond, spanMs, now));
      }
      if (byTo.size === 0) this.edges.delete(from);
    }
    this.totals.sketch.reset();
    return out.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  }

  /** One edge summarised as `summaries` does, without reading the others; null when it was not seen within `spanMs`. */
  summary(from: string, to: string, now: number, spanMs = 10_000): EdgeSummary | null {
    const series = this.edges.get(from)?.get(to);
    if (!series || series.lastSeen < now - spanMs) return null;
    const out = this.summarize(series, Math.floor((now - spanMs) / WINDOW_MS), spanMs, now);
    this.totals.sketch.reset();
    return out;
  }

  private summarize(series: EdgeSeries, sinceSecond: number, spanMs: number, now: number): EdgeSummary {
    const { counters: t, sketch } = this.totals;
    t.fill(0);
    sketch.reset();
    series.windows.read(sinceSecond, this.totals, false);
    const [p50, p95, p99] = sketch.quantiles([0.5, 0.95, 0.99]);
    const failed = t[HTTP5XX]! + t[CONNECT]! + t[TIMEOUT]!;
    return {
      from: series.from,
      to: series.to,
      rps: t[REQUESTS]! / (spanMs / 1000),
      requests: t[REQUESTS]!,
      errors: { http5xx: t[HTTP5XX]!, http4xx: t[HTTP4XX]!, connect: t[CONNECT]!, timeout: t[TIMEOUT]! },
      errorRate: t[REQUESTS] ? failed / t[REQUESTS] : 0,
      retries: t[RETRIES]!,
      p50: p50 ?? null,
      p95: p95 ?? null,
      p99: p99 ?? null,
      lastSeen: series.lastSeen,
      refused: t[REFUSED]!,
      ...circuitOf(series, now),
    };
  }

  /** Requests (sent or refused by a breaker) per caller instance on the edge over the span (at most the last SKETCH_SECONDS of windows). */
  callerRequests(from: string, to: string, now: number, spanMs = 10_000): Map<string, number> {
    const out = new Map<string, number>();
    const series = this.edges.get(from)?.get(to);
    if (!series?.callers) return out;
    const since = now - spanMs;
    const totals = this.totals;
    totals.counters.fill(0);
    totals.callers.clear();
    totals.sketch.reset();
    series.windows.read(Math.max(Math.floor(since / WINDOW_MS), series.newest - SKETCH_SECONDS + 1), totals, true);
    totals.sketch.reset();
    for (const [id, n] of totals.callers) {
      const name = series.callers[id]!;
      out.set(name, (out.get(name) ?? 0) + n);
    }
    totals.callers.clear();
    return out;
  }

  /** Edges held. */
  get size(): number {
    return this.edgeCount;
  }

  /**
   * Bytes the live view holds, counted structurally: the typed arrays' capacity plus a fixed
   * estimate per edge for its objects (EDGE_OBJECT_BYTES), without the caller names and keys.
   */
  retainedBytes(): number {
    let bytes = 0;
    for (const byTo of this.edges.values()) for (const series of byTo.values()) bytes += series.windows.byteLength + EDGE_OBJECT_BYTES;
    return bytes;
  }
}

/**
 * V8 heap per edge besides its typed array's contents, estimated: the map entry and key
 * (~100 B), the series and ring objects (~170 B), one typed array with its ArrayBuffer and
 * backing-store record (~200 B), the caller table (~100 B, names shared with the batches).
 */
export const EDGE_OBJECT_BYTES = 500;

function pruneCircuits(circuits: Map<string, { at: number }>, now: number): void {
  for (const [id, r] of circuits) if (now - r.at > CIRCUIT_REPORT_TTL_MS) circuits.delete(id);
}

const SEVERITY: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

function circuitOf(series: EdgeSeries, now: number): { circuit?: EdgeCircuit } {
  if (!series.circuits) return {};
  pruneCircuits(series.circuits, now);
  if (series.circuits.size === 0) {
    series.circuits = null;
    return {};
  }
  const instances = [...series.circuits.entries()]
    .map(([instanceId, r]) => ({ instanceId, state: r.state, since: r.since, until: r.until ?? null, manual: r.manual, rule: r.rule, reason: r.reason, at: r.at }))
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const state = instances.reduce<CircuitState>((worst, i) => (SEVERITY[i.state] > SEVERITY[worst] ? i.state : worst), 'closed');
  return { circuit: { state, instances } };
}
