/**
 * The console's own view of the mesh in the Prometheus text exposition format 0.0.4, so an
 * existing Prometheus can scrape what Meshdeck sees. A pure function of the live view
 * (LiveEdges summaries and registry instance counts); serve it with PROMETHEUS_CONTENT_TYPE.
 *
 * Families (all gauges, one sample per line, grouped by family, sorted by labels):
 *
 *   meshdeck_edge_requests_per_second{mesh,from,to}        requests per second over the span
 *   meshdeck_edge_error_ratio{mesh,from,to}                (5xx + connect + timeout) / requests, 0..1
 *   meshdeck_edge_latency_ms{mesh,from,to,quantile}        p50, p95, p99 in milliseconds
 *   meshdeck_service_instances{mesh,service,state}         instances per registry state
 *
 * Latency is exposed as gauges with a `quantile` label, not as a `summary`: the quantiles come
 * from the merged latency sketches of the last span (a sliding window), and the wire sketches
 * carry no sum, so the `_sum`/`_count` pair a summary needs (cumulative counters) does not
 * exist. As with any quantile, do not average them across edges in PromQL; the console's
 * history (core/telemetry/queries.ts) merges sketches instead. Milliseconds (not the Prometheus
 * base unit, seconds) match the rest of Meshdeck; the unit is in the name.
 *
 * An edge without latency samples in the span has no latency samples in the output (rather
 * than NaN). Every service gets one instances sample per known state, 0 included, so series do
 * not appear and vanish with state changes.
 */
import type { InstanceState } from '../registry/registry.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The subset of an EdgeSummary (core/telemetry/live-edges.ts) the exposition needs. */
export interface PrometheusEdge {
  from: string;
  to: string;
  rps: number;
  errorRate: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface PrometheusService {
  service: string;
  /** Instance count per state; missing known states count as 0. */
  instances: Readonly<Partial<Record<string, number>>>;
}

export interface PrometheusMesh {
  /** The mesh (broker profile) id. */
  mesh: string;
  edges: readonly PrometheusEdge[];
  services?: readonly PrometheusService[];
}

export interface PrometheusOptions {
  /** Span the live figures cover, for the HELP text (seconds). Default 10. */
  spanSeconds?: number;
}

export const INSTANCE_STATES = ['healthy', 'draining', 'down', 'deregistered'] as const satisfies readonly InstanceState[];

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.95', 'p95'],
  ['0.99', 'p99'],
] as const;

/** Label value escaping of the text format: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** HELP text escaping: backslash and line feed (quotes stay as they are). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

/** Sample values as Go's ParseFloat reads them: NaN, +Inf, -Inf or a decimal number. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function labels(pairs: ReadonlyArray<readonly [string, string]>): string {
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** Counts instances per service and state, e.g. from Registry.list() or the API's instance list. */
export function instanceCounts(instances: Iterable<{ service: string; state: string }>): PrometheusService[] {
  const byService = new Map<string, Record<string, number>>();
  for (const i of instances) {
    let counts = byService.get(i.service);
    if (!counts) byService.set(i.service, (counts = {}));
    counts[i.state] = (counts[i.state] ?? 0) + 1;
  }
  return [...byService.entries()].map(([service, instances]) => ({ service, instances }));
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function renderPrometheus(meshes: readonly PrometheusMesh[], options: PrometheusOptions = {}): string {
  const span = options.spanSeconds ?? 10;
  const sortedMeshes = [...meshes].sort((a, b) => byText(a.mesh, b.mesh));
  const edges = sortedMeshes.flatMap((m) =>
    [...m.edges].sort((a, b) => byText(a.from, b.from) || byText(a.to, b.to)).map((e) => ({ mesh: m.mesh, edge: e })),
  );
  const lines: string[] = [];
  const family = (name: string, help: string) => {
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} gauge`);
  };

  family('meshdeck_edge_requests_per_second', `Requests per second from caller to callee over the last ${span} s, as the console sees them.`);
  for (const { mesh, edge } of edges) {
    lines.push(`meshdeck_edge_requests_per_second${labels([['mesh', mesh], ['from', edge.from], ['to', edge.to]])} ${formatValue(edge.rps)}`);
  }

  family('meshdeck_edge_error_ratio', `Share of requests that failed (HTTP 5xx, connect errors, timeouts; not 4xx) over the last ${span} s, 0 to 1.`);
  for (const { mesh, edge } of edges) {
    lines.push(`meshdeck_edge_error_ratio${labels([['mesh', mesh], ['from', edge.from], ['to', edge.to]])} ${formatValue(edge.errorRate)}`);
  }

  family(
    'meshdeck_edge_latency_ms',
    `Request latency quantiles in milliseconds over the last ${span} s, from merged latency sketches (1 % relative accuracy). Gauges per quantile; do not average across edges.`,
  );
  for (const { mesh, edge } of edges) {
    for (const [quantile, field] of QUANTILES) {
      const value = edge[field];
      if (value === null) continue;
      lines.push(`meshdeck_edge_latency_ms${labels([['mesh', mesh], ['from', edge.from], ['to', edge.to], ['quantile', quantile]])} ${formatValue(value)}`);
    }
  }

  family('meshdeck_service_instances', 'Instances of a service per registry state (healthy, draining, down, deregistered).');
  for (const m of sortedMeshes) {
    for (const s of [...(m.services ?? [])].sort((a, b) => byText(a.service, b.service))) {
      const states = [...INSTANCE_STATES, ...Object.keys(s.instances).filter((k) => !(INSTANCE_STATES as readonly string[]).includes(k)).sort(byText)];
      for (const state of states) {
        lines.push(`meshdeck_service_instances${labels([['mesh', m.mesh], ['service', s.service], ['state', state]])} ${formatValue(s.instances[state] ?? 0)}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
