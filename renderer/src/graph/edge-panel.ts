/**
 * What an edge's side panel shows, picked out of what the console already has: the edge named in
 * the URL, the event types (with their exchanges and queues) behind an event edge, the broker's
 * figures for those queues, an HTTP edge's errors by class. Pure: no DOM, no React.
 */
import type { BrokerQueue, BrokerSnapshot, EdgeSummary, EventTypeFlow } from '../../../core/api/contract';
import type { LiveEdge } from '../../../core/api/mesh-live';

export type EdgeKind = 'http' | 'event';

/** A selected edge: its graph id ("from>to" for HTTP, "event:from>to" for events) and its ends. */
export interface EdgeRef {
  id: string;
  kind: EdgeKind;
  from: string;
  to: string;
}

const EVENT_PREFIX = 'event:';

/** The graph id of an edge (GraphEdge.id). */
export function edgeId(kind: EdgeKind, from: string, to: string): string {
  return `${kind === 'event' ? EVENT_PREFIX : ''}${from}>${to}`;
}

/** The edge a graph id names (service names have no '>'); null for anything else. */
export function parseEdgeId(id: string | null): EdgeRef | null {
  if (!id) return null;
  const kind: EdgeKind = id.startsWith(EVENT_PREFIX) ? 'event' : 'http';
  const ends = (kind === 'event' ? id.slice(EVENT_PREFIX.length) : id).split('>');
  if (ends.length !== 2 || !ends[0] || !ends[1]) return null;
  return { id, kind, from: ends[0], to: ends[1] };
}

/** One event type carried along an event edge: where the producer publishes it and where the consumer takes it from. */
export interface EventLeg {
  type: string;
  exchanges: string[];
  queues: string[];
  /** Published by the producer service (events/s), consumed by the consumer service (events/s), failed handlings. */
  published: number;
  consumed: number;
  failed: number;
}

/** The event types `from` publishes and `to` consumes, with their exchanges, queues and rates; totals over them. */
export function eventEdgeDetail(flows: readonly EventTypeFlow[], from: string, to: string): { legs: EventLeg[]; consumed: number; failed: number } {
  const legs: EventLeg[] = [];
  for (const flow of flows) {
    const producers = flow.producers.filter((p) => p.service === from);
    const consumers = flow.consumers.filter((c) => c.service === to);
    if (producers.length === 0 || consumers.length === 0 || from === to) continue;
    legs.push({
      type: flow.type,
      exchanges: [...new Set(producers.map((p) => p.exchange))].sort(),
      queues: [...new Set(consumers.map((c) => c.queue))].sort(),
      published: producers.reduce((n, p) => n + p.perSecond, 0),
      consumed: consumers.reduce((n, c) => n + c.perSecond, 0),
      failed: consumers.reduce((n, c) => n + c.failed, 0),
    });
  }
  legs.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  return { legs, consumed: legs.reduce((n, l) => n + l.consumed, 0), failed: legs.reduce((n, l) => n + l.failed, 0) };
}

/** The broker's figures for the named queues, in that order; `missing` names those the snapshot does not list. */
export function queueFigures(snapshot: Pick<BrokerSnapshot, 'queues'>, names: readonly string[]): { queues: BrokerQueue[]; missing: string[] } {
  const byName = new Map(snapshot.queues.map((q) => [q.name, q]));
  const queues: BrokerQueue[] = [];
  const missing: string[] = [];
  for (const name of [...new Set(names)]) {
    const q = byName.get(name);
    if (q) queues.push(q);
    else missing.push(name);
  }
  return { queues, missing };
}

export interface ErrorClass {
  label: string;
  count: number;
  /** Of the edge's requests, 0..1 (0 without requests). */
  share: number;
  /** Counted into the error rate (5xx, connect failures, timeouts), or not (4xx: the caller's fault). */
  counted: boolean;
}

/** An edge's errors by class, as shares of its requests; the classes the core counts as failures first. */
export function errorClasses(e: Pick<EdgeSummary, 'errors' | 'requests'>): ErrorClass[] {
  const share = (n: number) => (e.requests ? n / e.requests : 0);
  return [
    { label: '5xx', count: e.errors.http5xx, share: share(e.errors.http5xx), counted: true },
    { label: 'connect', count: e.errors.connect, share: share(e.errors.connect), counted: true },
    { label: 'timeout', count: e.errors.timeout, share: share(e.errors.timeout), counted: true },
    { label: '4xx', count: e.errors.http4xx, share: share(e.errors.http4xx), counted: false },
  ];
}

export type CircuitWord = 'closed' | 'open' | 'half-open';

/** The breaker action an edge offers: trip it while closed, reset it otherwise (both on the caller, naming the callee). */
export function circuitAction(from: string, to: string, state: CircuitWord | undefined): { action: { action: 'trip-circuit' | 'reset-circuit'; callee: string }; title: string; button: string } {
  return !state || state === 'closed'
    ? { action: { action: 'trip-circuit', callee: to }, title: `Trip the circuit ${from} → ${to}`, button: 'Trip…' }
    : { action: { action: 'reset-circuit', callee: to }, title: `Reset the circuit ${from} → ${to}`, button: 'Reset…' };
}

/** Several edges as one: their rate and requests summed, the failed share over all their requests, the worst p99. */
export function edgesTotal(edges: ReadonlyArray<Pick<LiveEdge, 'rps' | 'requests' | 'errorRate' | 'p99'>>): { rps: number; requests: number; errorRate: number; worstP99: number | null } {
  let rps = 0;
  let requests = 0;
  let failed = 0;
  let worstP99: number | null = null;
  for (const e of edges) {
    rps += e.rps;
    requests += e.requests;
    failed += e.errorRate * e.requests;
    if (e.p99 !== null) worstP99 = Math.max(worstP99 ?? 0, e.p99);
  }
  return { rps, requests, errorRate: requests > 0 ? failed / requests : 0, worstP99 };
}
