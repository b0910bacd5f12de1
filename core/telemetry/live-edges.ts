/**
 * Live per-edge view of the mesh's traffic, fed by telemetry batches: for every edge
 * (caller service → callee service) a ring of 1-second windows with request and error counts
 * and a merged latency sketch. Reads give rates and percentiles over a recent span.
 * (History, rollups and persistence build on this in core/telemetry.)
 */
import { LatencySketch } from '../protocol/sketch.js';
import type { CircuitReport, EdgeStats, TelemetryBatch } from '../protocol/messages.js';

const WINDOW_MS = 1000;

interface Window {
  start: number;
  requests: number;
  http5xx: number;
  http4xx: number;
  connect: number;
  timeout: number;
  retries: number;
  refused: number;
  latency: LatencySketch;
  /** Outbound edges: requests per caller instance. */
  byCaller: Map<string, number>;
}

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

class EdgeSeries {
  readonly windows: Window[] = [];
  readonly circuits = new Map<string, CircuitReport & { at: number }>();
  lastSeen = 0;
  constructor(
    readonly from: string,
    readonly to: string,
    private readonly keep: number,
  ) {}

  window(start: number): Window {
    let w = this.windows.at(-1);
    if (w && w.start === start) return w;
    w = this.windows.find((x) => x.start === start);
    if (w) return w;
    w = { start, requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0, refused: 0, latency: new LatencySketch(), byCaller: new Map() };
    this.windows.push(w);
    this.windows.sort((a, b) => a.start - b.start);
    while (this.windows.length > this.keep) this.windows.shift();
    return w;
  }
}

/**
 * Caller and callee of an edge a service reported, or null when it is not counted: outbound
 * edges are the caller's view (the callee's own view would count them twice); inbound edges
 * count only traffic from outside the mesh.
 */
export function edgeEnds(service: string, edge: Pick<EdgeStats, 'direction' | 'peerService'>): { from: string; to: string } | null {
  if (edge.direction === 'outbound') return { from: service, to: edge.peerService };
  if (edge.peerService === 'external') return { from: 'external', to: service };
  return null;
}

export class LiveEdges {
  private readonly edges = new Map<string, EdgeSeries>();

  constructor(private readonly keepWindows = 300) {}

  ingest(batch: TelemetryBatch, receivedAt: number): void {
    const start = Math.floor(batch.windowStart / WINDOW_MS) * WINDOW_MS;
    for (const edge of batch.edges) {
      const ends = edgeEnds(batch.service, edge);
      if (!ends) continue;
      const { from, to } = ends;
      const key = `${from}\u0000${to}`;
      let series = this.edges.get(key);
      if (!series) {
        series = new EdgeSeries(from, to, this.keepWindows);
        this.edges.set(key, series);
      }
      const w = series.window(start);
      w.requests += edge.requests;
      w.http5xx += edge.errors.http5xx;
      w.http4xx += edge.errors.http4xx;
      w.connect += edge.errors.connect;
      w.timeout += edge.errors.timeout;
      w.retries += edge.retries;
      w.refused += edge.refused ?? 0;
      w.latency.mergeWire(edge.latency);
      if (edge.direction === 'outbound') {
        w.byCaller.set(batch.instanceId, (w.byCaller.get(batch.instanceId) ?? 0) + edge.requests + (edge.refused ?? 0));
        if (edge.circuit) series.circuits.set(batch.instanceId, { ...edge.circuit, at: receivedAt });
      }
      series.lastSeen = receivedAt;
    }
  }

  /** Every edge seen within `spanMs` before `now`, summarised over that span. */
  summaries(now: number, spanMs = 10_000): EdgeSummary[] {
    const since = now - spanMs;
    const out: EdgeSummary[] = [];
    for (const series of this.edges.values()) {
      if (series.lastSeen < since) continue;
      const latency = new LatencySketch();
      const totals = { requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0, refused: 0 };
      for (const w of series.windows) {
        if (w.start + WINDOW_MS <= since) continue;
        totals.requests += w.requests;
        totals.http5xx += w.http5xx;
        totals.http4xx += w.http4xx;
        totals.connect += w.connect;
        totals.timeout += w.timeout;
        totals.retries += w.retries;
        totals.refused += w.refused;
        latency.merge(w.latency);
      }
      const failed = totals.http5xx + totals.connect + totals.timeout;
      out.push({
        from: series.from,
        to: series.to,
        rps: totals.requests / (spanMs / 1000),
        requests: totals.requests,
        errors: { http5xx: totals.http5xx, http4xx: totals.http4xx, connect: totals.connect, timeout: totals.timeout },
        errorRate: totals.requests ? failed / totals.requests : 0,
        retries: totals.retries,
        p50: latency.quantile(0.5),
        p95: latency.quantile(0.95),
        p99: latency.quantile(0.99),
        lastSeen: series.lastSeen,
        refused: totals.refused,
        ...circuitOf(series, now),
      });
    }
    return out.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  }

  /** Requests (sent or refused by a breaker) per caller instance on the edge over the span. */
  callerRequests(from: string, to: string, now: number, spanMs = 10_000): Map<string, number> {
    const out = new Map<string, number>();
    const series = this.edges.get(`${from}\u0000${to}`);
    if (!series) return out;
    const since = now - spanMs;
    for (const w of series.windows) {
      if (w.start + WINDOW_MS <= since) continue;
      for (const [id, n] of w.byCaller) out.set(id, (out.get(id) ?? 0) + n);
    }
    return out;
  }
}

const SEVERITY: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

function circuitOf(series: EdgeSeries, now: number): { circuit?: EdgeCircuit } {
  for (const [id, r] of series.circuits) if (now - r.at > CIRCUIT_REPORT_TTL_MS) series.circuits.delete(id);
  if (series.circuits.size === 0) return {};
  const instances = [...series.circuits.entries()]
    .map(([instanceId, r]) => ({ instanceId, state: r.state, since: r.since, until: r.until ?? null, manual: r.manual, rule: r.rule, reason: r.reason, at: r.at }))
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const state = instances.reduce<CircuitState>((worst, i) => (SEVERITY[i.state] > SEVERITY[worst] ? i.state : worst), 'closed');
  return { circuit: { state, instances } };
}
