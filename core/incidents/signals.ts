/**
 * The traffic the incident rules and the suspect ranking read: telemetry batches folded into
 * 1 s windows per service (all traffic into it), per callee instance, and per edge
 * (caller → callee), kept for `keepSeconds` in memory. Same direction rules as LiveEdges:
 * outbound edges are the caller's view; inbound edges count only from "external".
 */
import type { TelemetryBatch } from '../protocol/messages.js';
import { LatencySketch } from '../protocol/sketch.js';
import { edgeEnds } from '../telemetry/live-edges.js';
import type { TrafficWindow } from './rules.js';

interface Cell {
  requests: number;
  failed: number;
  latency: LatencySketch;
}

interface Second {
  start: number;
  services: Map<string, Cell>;
  /** service → instance → traffic into that instance */
  instances: Map<string, Map<string, Cell>>;
  /** callee → caller → traffic on that edge */
  callers: Map<string, Map<string, Cell>>;
  /** caller → callee → traffic on that edge */
  calls: Map<string, Map<string, Cell>>;
}

export interface Totals {
  requests: number;
  failed: number;
  p99: number | null;
}

export interface ServiceBreakdown {
  service: Totals;
  instances: Map<string, Totals>;
  /** Callers of the service (edge from → service). */
  callers: Map<string, Totals>;
  /** The service's own calls (edge service → to): a failing dependency shows here. */
  dependencies: Map<string, Totals>;
}

const cell = (): Cell => ({ requests: 0, failed: 0, latency: new LatencySketch() });

function inner(map: Map<string, Map<string, Cell>>, key: string): Map<string, Cell> {
  let m = map.get(key);
  if (!m) map.set(key, (m = new Map()));
  return m;
}

function add(map: Map<string, Cell>, key: string, requests: number, failed: number, latency: TelemetryBatch['edges'][number]['latency']): void {
  let c = map.get(key);
  if (!c) map.set(key, (c = cell()));
  c.requests += requests;
  c.failed += failed;
  c.latency.mergeWire(latency);
}

class Accumulator {
  requests = 0;
  failed = 0;
  readonly latency = new LatencySketch();
  add(c: Cell): void {
    this.requests += c.requests;
    this.failed += c.failed;
    this.latency.merge(c.latency);
  }
  totals(): Totals {
    return { requests: this.requests, failed: this.failed, p99: this.latency.quantile(0.99) };
  }
}

export class TrafficSignals {
  private readonly seconds: Second[] = [];

  constructor(private readonly keepSeconds = 900) {}

  ingest(batch: TelemetryBatch): void {
    const start = Math.floor(batch.windowStart / 1000) * 1000;
    const s = this.second(start);
    if (!s) return;
    for (const edge of batch.edges) {
      const ends = edgeEnds(batch.service, edge);
      if (!ends) continue;
      const { from, to } = ends;
      const failed = edge.errors.http5xx + edge.errors.connect + edge.errors.timeout;
      add(s.services, to, edge.requests, failed, edge.latency);
      add(inner(s.callers, to), from, edge.requests, failed, edge.latency);
      add(inner(s.calls, from), to, edge.requests, failed, edge.latency);
      const instance = edge.direction === 'outbound' ? edge.peerInstance : batch.instanceId;
      if (instance) add(inner(s.instances, to), instance, edge.requests, failed, edge.latency);
    }
  }

  private second(start: number): Second | null {
    const last = this.seconds.at(-1);
    if (last?.start === start) return last;
    const existing = this.seconds.find((x) => x.start === start);
    if (existing) return existing;
    if (last && start < last.start - this.keepSeconds * 1000) return null; // older than what is kept
    const s: Second = { start, services: new Map(), instances: new Map(), callers: new Map(), calls: new Map() };
    this.seconds.push(s);
    if (last && start < last.start) this.seconds.sort((a, b) => a.start - b.start);
    const horizon = this.seconds.at(-1)!.start - this.keepSeconds * 1000;
    while (this.seconds.length && this.seconds[0]!.start < horizon) this.seconds.shift();
    return s;
  }

  /** Seconds in [since, until), oldest first; walks back from the newest (ranges are recent). */
  private range(since: number, until: number): Second[] {
    const out: Second[] = [];
    for (let i = this.seconds.length - 1; i >= 0; i--) {
      const s = this.seconds[i]!;
      if (s.start < since) break;
      if (s.start < until) out.push(s);
    }
    return out.reverse();
  }

  /**
   * Traffic into `service` over the last `windowSeconds` complete seconds before `now` (the
   * second in progress is left out: its batches are still arriving).
   */
  traffic(service: string, windowSeconds: number, now: number): TrafficWindow {
    const until = Math.floor(now / 1000) * 1000;
    const acc = new Accumulator();
    for (const s of this.range(until - windowSeconds * 1000, until)) {
      const c = s.services.get(service);
      if (c) acc.add(c);
    }
    return acc.totals();
  }

  /** Everything about `service` in [since, until): the ranking's input. */
  breakdown(service: string, since: number, until: number): ServiceBreakdown {
    const total = new Accumulator();
    const instances = new Map<string, Accumulator>();
    const callers = new Map<string, Accumulator>();
    const dependencies = new Map<string, Accumulator>();
    const into = (map: Map<string, Accumulator>, key: string, c: Cell) => {
      let a = map.get(key);
      if (!a) map.set(key, (a = new Accumulator()));
      a.add(c);
    };
    for (const s of this.range(since, until)) {
      const c = s.services.get(service);
      if (c) total.add(c);
      for (const [id, c] of s.instances.get(service) ?? []) into(instances, id, c);
      for (const [from, c] of s.callers.get(service) ?? []) into(callers, from, c);
      for (const [to, c] of s.calls.get(service) ?? []) into(dependencies, to, c);
    }
    const done = (m: Map<string, Accumulator>) => new Map([...m].map(([k, a]) => [k, a.totals()]));
    return { service: total.totals(), instances: done(instances), callers: done(callers), dependencies: done(dependencies) };
  }
}
