/**
 * The traffic the incident rules and the suspect ranking read: telemetry batches folded into
 * 1 s windows per service (all traffic into it), per callee instance (both with merged latency
 * sketches), and per edge (caller → callee, counts only), kept for `keepSeconds` in memory. Same
 * direction rules as LiveEdges: outbound edges are the caller's view; inbound edges count only
 * from "external".
 *
 * The ring covers the rules' windows and the look-back of a new incident; an open incident's
 * totals since its onset are kept by a `Trace` that takes in each second once it has settled
 * (SETTLE_MS: late batches still land in it), so an incident of any length is ranked over its
 * whole duration without keeping its seconds; the seconds not yet settled are read fresh.
 */
import type { TelemetryBatch } from '../protocol/messages.js';
import { edgeEnds } from '../telemetry/live-edges.js';
import { addBlobPart, quantilesOfParts, sketchBlobOf } from '../telemetry/sketch-codec.js';
import type { TrafficWindow } from './rules.js';

interface Counts {
  requests: number;
  failed: number;
}
interface Cell extends Counts {
  /** Latency as the edges' sketch blobs (shared with the live view and history; sketch-codec.ts addBlobPart). */
  latency: Uint8Array[];
}

interface Second {
  start: number;
  services: Map<string, Cell>;
  /** service → instance → traffic into that instance */
  instances: Map<string, Map<string, Cell>>;
  /** callee → caller → traffic on that edge */
  callers: Map<string, Map<string, Counts>>;
  /** caller → callee → traffic on that edge */
  calls: Map<string, Map<string, Counts>>;
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

/** A second is taken into a trace this long after it ended (agents report each second within it). */
export const SETTLE_MS = 3000;

function inner<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = map.get(key);
  if (!m) map.set(key, (m = new Map()));
  return m;
}

function addCell(map: Map<string, Cell>, key: string, requests: number, failed: number, latency: Uint8Array): void {
  let c = map.get(key);
  if (!c) map.set(key, (c = { requests: 0, failed: 0, latency: [] }));
  c.requests += requests;
  c.failed += failed;
  addBlobPart(c.latency, latency);
}

function addCounts(map: Map<string, Counts>, key: string, requests: number, failed: number): void {
  const c = map.get(key);
  if (c) {
    c.requests += requests;
    c.failed += failed;
  } else map.set(key, { requests, failed });
}

class Accumulator {
  requests = 0;
  failed = 0;
  readonly latency: Uint8Array[] = [];
  add(c: Counts & { latency?: readonly Uint8Array[] }): void {
    this.requests += c.requests;
    this.failed += c.failed;
    if (c.latency) for (const blob of c.latency) addBlobPart(this.latency, blob);
  }
  totals(): Totals {
    return { requests: this.requests, failed: this.failed, p99: this.latency.length ? (quantilesOfParts(this.latency, P99)[0] ?? null) : null };
  }
  static of(other: Accumulator): Accumulator {
    const a = new Accumulator();
    a.add(other);
    return a;
  }
}

const P99 = [0.99];

function addSecond(service: string, s: Second, total: Accumulator, instances: Map<string, Accumulator>, callers: Map<string, Accumulator>, dependencies: Map<string, Accumulator>): void {
  const into = (map: Map<string, Accumulator>, key: string, c: Counts & { latency?: readonly Uint8Array[] }) => {
    let a = map.get(key);
    if (!a) map.set(key, (a = new Accumulator()));
    a.add(c);
  };
  const c = s.services.get(service);
  if (c) total.add(c);
  for (const [id, cell] of s.instances.get(service) ?? []) into(instances, id, cell);
  for (const [from, cell] of s.callers.get(service) ?? []) into(callers, from, cell);
  for (const [to, cell] of s.calls.get(service) ?? []) into(dependencies, to, cell);
}

/** A service's traffic summed over seconds, added one second at a time. */
export class Trace {
  private readonly total = new Accumulator();
  private readonly instances = new Map<string, Accumulator>();
  private readonly callers = new Map<string, Accumulator>();
  private readonly dependencies = new Map<string, Accumulator>();
  /** Start of the next second to add. */
  next: number;

  constructor(
    readonly service: string,
    since: number,
  ) {
    this.next = since;
  }

  add(s: Second): void {
    addSecond(this.service, s, this.total, this.instances, this.callers, this.dependencies);
  }

  /** The totals, with `tail` (seconds not taken in yet) added to a copy. */
  breakdown(tail: readonly Second[] = []): ServiceBreakdown {
    const copy = (m: Map<string, Accumulator>) => new Map([...m].map(([k, a]) => [k, Accumulator.of(a)]));
    const total = Accumulator.of(this.total);
    const instances = copy(this.instances);
    const callers = copy(this.callers);
    const dependencies = copy(this.dependencies);
    for (const s of tail) addSecond(this.service, s, total, instances, callers, dependencies);
    const done = (m: Map<string, Accumulator>) => new Map([...m].map(([k, a]) => [k, a.totals()]));
    return { service: total.totals(), instances: done(instances), callers: done(callers), dependencies: done(dependencies) };
  }
}

export class TrafficSignals {
  private readonly seconds: Second[] = [];

  /** Enough for the longest rule window and the look-back of a new incident (onset − 1 s). */
  constructor(private readonly keepSeconds = 60) {}

  ingest(batch: TelemetryBatch): void {
    const start = Math.floor(batch.windowStart / 1000) * 1000;
    const s = this.second(start);
    if (!s) return;
    for (const edge of batch.edges) {
      const ends = edgeEnds(batch.service, edge);
      if (!ends) continue;
      const { from, to } = ends;
      const failed = edge.errors.http5xx + edge.errors.connect + edge.errors.timeout;
      const latency = sketchBlobOf(edge.latency);
      addCell(s.services, to, edge.requests, failed, latency);
      addCounts(inner(s.callers, to), from, edge.requests, failed);
      addCounts(inner(s.calls, from), to, edge.requests, failed);
      const instance = edge.direction === 'outbound' ? edge.peerInstance : batch.instanceId;
      if (instance) addCell(inner(s.instances, to), instance, edge.requests, failed, latency);
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

  /**
   * Everything about the trace's service from its start to `until` (the ranking's input): the
   * seconds that have settled are taken into the trace for good, the rest read fresh.
   */
  breakdown(trace: Trace, until: number): ServiceBreakdown {
    const settled = until - SETTLE_MS;
    if (settled > trace.next) {
      for (const s of this.range(trace.next, settled)) trace.add(s);
      trace.next = settled;
    }
    return trace.breakdown(this.range(trace.next, until));
  }
}
