/**
 * Per-edge counters an agent keeps between telemetry flushes: requests, errors by class,
 * retries and a latency sketch for each (direction, peer service, peer instance).
 */
import { LatencySketch } from '../../core/protocol/sketch.js';
import type { CircuitReport, EdgeStats } from '../../core/protocol/messages.js';

export type Outcome = 'ok' | 'http4xx' | 'http5xx' | 'connect' | 'timeout';

interface EdgeCounters {
  direction: 'outbound' | 'inbound';
  peerService: string;
  peerInstance: string | undefined;
  requests: number;
  http5xx: number;
  http4xx: number;
  connect: number;
  timeout: number;
  retries: number;
  /** Outbound requests the caller's circuit breaker answered itself. */
  refused: number;
  circuit?: CircuitReport;
  latency: LatencySketch;
}

export function outcomeOfStatus(status: number): Outcome {
  if (status >= 500) return 'http5xx';
  if (status >= 400) return 'http4xx';
  return 'ok';
}

export class TelemetryRecorder {
  private edges = new Map<string, EdgeCounters>();
  private published = new Map<string, { type: string; exchange: string; count: number }>();
  private consumed = new Map<string, { type: string; queue: string; count: number; failed: number }>();
  private windowStart: number;
  private circuits: (() => Map<string, CircuitReport>) | null = null;

  constructor(now: number) {
    this.windowStart = now;
  }

  record(direction: 'outbound' | 'inbound', peerService: string, peerInstance: string | undefined, outcome: Outcome, latencyMs: number): void {
    const edge = this.edge(direction, peerService, peerInstance);
    edge.requests += 1;
    if (outcome !== 'ok') edge[outcome] += 1;
    edge.latency.add(latencyMs);
  }

  recordRetry(peerService: string, peerInstance: string | undefined): void {
    this.edge('outbound', peerService, peerInstance).retries += 1;
  }

  /** A request to `peerService` refused by the caller's circuit breaker (never sent). */
  recordRefused(peerService: string): void {
    this.edge('outbound', peerService, undefined).refused += 1;
  }

  /** Where drain() gets the circuit-breaker state per called service (put on one of the window's edges to it). */
  reportCircuits(source: () => Map<string, CircuitReport>): void {
    this.circuits = source;
  }

  recordPublished(type: string, exchange: string): void {
    const key = `${type}\u0000${exchange}`;
    const entry = this.published.get(key) ?? { type, exchange, count: 0 };
    entry.count += 1;
    this.published.set(key, entry);
  }

  recordConsumed(type: string, queue: string, ok: boolean): void {
    const key = `${type}\u0000${queue}`;
    const entry = this.consumed.get(key) ?? { type, queue, count: 0, failed: 0 };
    entry.count += 1;
    if (!ok) entry.failed += 1;
    this.consumed.set(key, entry);
  }

  /** Everything recorded since the last drain, and a fresh window from `now`. */
  drain(now: number): { windowStart: number; windowMs: number; edges: EdgeStats[]; events: { published: Array<{ type: string; exchange: string; count: number }>; consumed: Array<{ type: string; queue: string; count: number; failed: number }> } } {
    for (const [peerService, circuit] of this.circuits?.() ?? []) this.outboundEdgeOf(peerService).circuit = circuit;
    const edges: EdgeStats[] = [...this.edges.values()].map((e) => ({
      direction: e.direction,
      peerService: e.peerService,
      ...(e.peerInstance ? { peerInstance: e.peerInstance } : {}),
      requests: e.requests,
      errors: { http5xx: e.http5xx, http4xx: e.http4xx, connect: e.connect, timeout: e.timeout },
      retries: e.retries,
      latency: e.latency.toWire(),
      ...(e.refused ? { refused: e.refused } : {}),
      ...(e.circuit ? { circuit: e.circuit } : {}),
    }));
    const out = {
      windowStart: this.windowStart,
      windowMs: Math.max(100, Math.min(60_000, now - this.windowStart)),
      edges,
      events: { published: [...this.published.values()], consumed: [...this.consumed.values()] },
    };
    this.edges = new Map();
    this.published = new Map();
    this.consumed = new Map();
    this.windowStart = now;
    return out;
  }

  /** An outbound edge to `peerService` recorded in this window (made without a peer instance when there is none). */
  private outboundEdgeOf(peerService: string): EdgeCounters {
    for (const e of this.edges.values()) if (e.direction === 'outbound' && e.peerService === peerService) return e;
    return this.edge('outbound', peerService, undefined);
  }

  private edge(direction: 'outbound' | 'inbound', peerService: string, peerInstance: string | undefined): EdgeCounters {
    const key = `${direction}\u0000${peerService}\u0000${peerInstance ?? ''}`;
    let edge = this.edges.get(key);
    if (!edge) {
      edge = { direction, peerService, peerInstance, requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0, refused: 0, latency: new LatencySketch() };
      this.edges.set(key, edge);
    }
    return edge;
  }
}
