/**
 * The failover engine: drives the pure detector and ejection tracker from what the core
 * receives (telemetry batches, health signals, heartbeats) and turns their transitions into
 * endpoint-set changes. It owns no I/O: the mesh runtime feeds it and applies its output.
 *
 * Per instance, observations are the merge of every caller's outbound edge to that instance in
 * one evaluation window (policy.intervalMs), so every caller's view counts. With them goes the
 * instance's own outbound calls (its sidecar's outbound edges, merged per callee service) in the same
 * window: the latency rule spares a host whose slowness its callees explain.
 *
 * Both are gathered per service (ServiceWindows) in records kept from one window to the next,
 * with the latency blobs copied into an arena: ingest, thousands of batches a second, keeps
 * nothing of a batch alive for the interval, so scavenges have nothing of it to promote.
 */
import { OutlierDetector, type OutlierDecision, type SparedHost } from '../health/detector.js';
import type { HealthSignal, TelemetryBatch } from '../protocol/messages.js';
import { NO_CHAIN, SketchArena } from '../telemetry/sketch-arena.js';
import { MAX_BLOB_PARTS, sketchBlobOf } from '../telemetry/sketch-codec.js';
import { EjectionTracker, type EjectionTransition, type InstanceHealth, type ServiceHealthStatus } from './ejections.js';
import { DEFAULT_OUTLIER_POLICY, type OutlierPolicy } from './policy.js';

/**
 * A callee instance's traffic in the current window, from every caller. Kept from one window to
 * the next (its fields reset at each evaluation) rather than rebuilt: ingest then creates no
 * object that lives a whole interval, which every scavenge in between would have to promote.
 */
interface Window {
  requests: number;
  http5xx: number;
  connect: number;
  timeout: number;
  /** The edges' latency: a chain of sketch blobs in the service's arena (NO_CHAIN: none yet), and its part count. */
  head: number;
  parts: number;
  /** Whether an edge reached it in the current window: only those are observed, and one idle for a whole window is dropped. */
  seen: boolean;
}

/** An instance's calls to one callee service in the current window (kept and reset as a Window is). */
interface Calls {
  requests: number;
  head: number;
  parts: number;
  seen: boolean;
}

/**
 * What the engine gathers about one service until its next evaluation, which consumes all of it:
 * its instances' windows (as callees) and their outbound calls (as callers). Both chains of
 * latency blobs live in the service's one arena, which copies the bytes in (a batch's blobs are
 * not kept alive) and is emptied at each evaluation.
 */
interface ServiceWindows {
  readonly arena: SketchArena;
  /** Per callee instance. */
  readonly windows: Map<string, Window>;
  /** Per caller instance → callee service. */
  readonly outbound: Map<string, Map<string, Calls>>;
}

export interface FailoverStep {
  service: string;
  transitions: EjectionTransition[];
  decisions: OutlierDecision[];
  status: ServiceHealthStatus;
  /** Latency outliers of a sweep made in this step that were not ejected: their callees explain them. */
  spared: SparedHost[];
  /** Whether a statistical sweep (success rate, latency) ran in this step. */
  swept: boolean;
  /** When the step was evaluated. */
  sweptAt: number;
}

export interface FailoverEngineOptions {
  /** Silence forgiven on top of the heartbeat TTLs because the core itself is behind (default none). */
  heartbeatGraceMs?: (now: number) => number;
  /** The instances a service has now (listed in the registry, any state but deregistered). */
  instancesOf: (service: string) => string[];
  services: () => string[];
  /**
   * Whether the registry lists `service` now: asked for every batch about a service with nothing
   * gathered (seen for the first time, or not listed), so it must be cheap (a lookup). Telemetry
   * of a service not listed is not gathered (tick() would drop it unjudged). Absent: everything
   * is gathered until the next tick.
   */
  listed?: (service: string) => boolean;
  policyFor?: (service: string) => OutlierPolicy;
  now?: () => number;
  /**
   * How often tick() is called (ms). Given, a tick evaluates no more services than their share of
   * one tick (with slack, and at least SPREAD_MIN_SERVICES), the most overdue first: a large mesh's
   * services, all due together after start, spread over the interval's ticks instead of being
   * judged in one block that holds the event loop (200 ms at 1 000 services). Absent: every due
   * service in every tick.
   */
  tickIntervalMs?: number;
}

/** A mesh this small is judged in one tick whatever its share (a few ms of work). */
export const SPREAD_MIN_SERVICES = 50;
/** Room above the exact share per tick, for timer jitter and services that came due late. */
const SPREAD_SLACK = 1.25;

export class FailoverEngine {
  readonly detector = new OutlierDetector();
  readonly tracker = new EjectionTracker();
  /** Per service: its instances' current windows and outbound calls. */
  private readonly gathered = new Map<string, ServiceWindows>();
  private readonly lastEvaluation = new Map<string, number>();
  private readonly now: () => number;
  private readonly policyFor: (service: string) => OutlierPolicy;

  constructor(private readonly options: FailoverEngineOptions) {
    this.now = options.now ?? Date.now;
    this.policyFor = options.policyFor ?? (() => DEFAULT_OUTLIER_POLICY);
  }

  /** Folds a batch's outbound edges into the callee instances' current windows. */
  observeBatch(batch: TelemetryBatch): void {
    // The reporting instance's own calls (in its service's arena): looked up once per batch, when it made any.
    let caller: ServiceWindows | null | undefined;
    let calls: Map<string, Calls> | undefined;
    for (const edge of batch.edges) {
      if (edge.direction !== 'outbound') continue;
      if (edge.requests > 0) {
        if (caller === undefined) caller = this.gatheredFor(batch.service);
        if (caller) {
          calls ??= callsOf(caller, batch.instanceId);
          let out = calls.get(edge.peerService);
          if (!out) calls.set(edge.peerService, (out = { requests: 0, head: NO_CHAIN, parts: 0, seen: true }));
          out.seen = true;
          out.requests += edge.requests;
          addLatency(caller.arena, out, sketchBlobOf(edge.latency));
        }
      }
      if (!edge.peerInstance || edge.peerService === 'external') continue;
      const callee = this.gatheredFor(edge.peerService);
      if (!callee) continue;
      let w = callee.windows.get(edge.peerInstance);
      if (!w) {
        w = { requests: 0, http5xx: 0, connect: 0, timeout: 0, head: NO_CHAIN, parts: 0, seen: true };
        callee.windows.set(edge.peerInstance, w);
      }
      // An edge without requests makes the window seen too: the instance is observed (with zeros).
      w.seen = true;
      w.requests += edge.requests;
      w.http5xx += edge.errors.http5xx;
      w.connect += edge.errors.connect;
      w.timeout += edge.errors.timeout;
      addLatency(callee.arena, w, sketchBlobOf(edge.latency));
    }
  }

  /**
   * What is gathered for `service` until its next evaluation: created on its first telemetry if
   * the registry lists it (`listed`), kept while it is listed; null for a service not listed.
   */
  private gatheredFor(service: string): ServiceWindows | null {
    let g = this.gathered.get(service);
    if (!g) {
      if (this.options.listed && !this.options.listed(service)) return null;
      this.gathered.set(service, (g = { arena: new SketchArena(), windows: new Map(), outbound: new Map() }));
    }
    return g;
  }

  /**
   * For tests and diagnostics: what is held for `service` between evaluations: callee instances'
   * windows, caller instances with outbound calls (both kept across windows, dropped after a
   * whole window without traffic), and the bytes its arena uses (0 right after an evaluation).
   */
  held(service: string): { windows: number; callers: number; sketchBytes: number } {
    const g = this.gathered.get(service);
    return { windows: g?.windows.size ?? 0, callers: g?.outbound.size ?? 0, sketchBytes: g?.arena.size ?? 0 };
  }

  heartbeat(service: string, instanceId: string, heartbeatIntervalMs: number): void {
    this.detector.heartbeat(service, instanceId, this.now(), heartbeatIntervalMs);
  }

  /** A sidecar could not connect: evidence at once, and an evaluation of that service now. */
  signal(signal: HealthSignal): FailoverStep | null {
    const now = this.now();
    this.detector.directSignal(signal.target.service, signal.target.instanceId, signal.kind === 'connect-refused' ? 'connect-refused' : 'reset', now);
    return this.evaluate(signal.target.service, now);
  }

  /**
   * Closes the current windows of services whose interval has passed and evaluates them; also a
   * service with an instance due for the heartbeat rule's shorter TTL after a refused connection.
   */
  tick(): FailoverStep[] {
    const now = this.now();
    const steps: FailoverStep[] = [];
    const services = this.options.services();
    // Telemetry about services the registry does not list (not registered yet, or gone) is never
    // judged: dropped, not merged into what their first evaluation would see later.
    if (this.gathered.size > 0) {
      const listed = new Set(services);
      for (const service of this.gathered.keys()) if (!listed.has(service)) this.gathered.delete(service);
    }
    const tickMs = this.options.tickIntervalMs;
    let share = 0;
    const urgent: string[] = [];
    const due: Array<{ service: string; last: number }> = [];
    for (const service of services) {
      const policy = this.policyFor(service);
      if (tickMs !== undefined) share += Math.min(1, tickMs / policy.intervalMs);
      const last = this.lastEvaluation.get(service) ?? 0;
      // Early when an instance a caller could not connect to reaches its shorter heartbeat TTL.
      const heartbeatDue = this.detector.heartbeatDue(service, policy);
      if (heartbeatDue !== null && now >= heartbeatDue) urgent.push(service);
      else if (now - last >= policy.intervalMs) due.push({ service, last });
    }
    const budget = tickMs === undefined ? Infinity : Math.max(SPREAD_MIN_SERVICES, Math.ceil(share * SPREAD_SLACK));
    // The most overdue first (sort is stable: the registry's order among equals).
    if (due.length > budget) due.sort((a, b) => a.last - b.last).length = budget;
    for (const service of [...urgent, ...due.map((d) => d.service)]) {
      const step = this.evaluate(service, now);
      if (step) steps.push(step);
    }
    return steps;
  }

  /** Health of each instance (state, weight factor, last transition with its evidence). */
  health(service: string): InstanceHealth[] {
    return this.tracker.instances(service, this.policyFor(service));
  }

  forgetService(service: string): void {
    this.tracker.forget(service);
    this.detector.forget(service);
    this.gathered.delete(service);
    this.lastEvaluation.delete(service);
  }

  private evaluate(service: string, now: number): FailoverStep | null {
    const instances = this.options.instancesOf(service);
    const gathered = this.gathered.get(service);
    // No instance to judge (all down): what they sent is dropped, as for one instance not listed.
    if (instances.length === 0) {
      if (gathered) closeWindow(gathered);
      return null;
    }
    const policy = this.policyFor(service);
    if (gathered) {
      this.observeWindow(service, gathered, new Set(instances), now);
      closeWindow(gathered);
    }
    this.lastEvaluation.set(service, now);
    const decisions = this.detector.evaluate(service, instances, policy, now, {
      ejected: this.tracker.inState(service, 'ejected'),
      probing: this.tracker.inState(service, 'probing'),
      heartbeatGraceMs: this.options.heartbeatGraceMs?.(now) ?? 0,
    });
    const step = this.tracker.apply(service, instances, decisions, policy, now);
    const report = this.detector.sweepReport(service);
    const swept = report?.at === now;
    const spared = swept && 'spared' in report.latency ? (report.latency.spared ?? []) : [];
    return { service, transitions: step.transitions, decisions, status: step.status, spared, swept, sweptAt: now };
  }

  /**
   * Hands the detector the current window of each listed instance that had traffic in it: as a
   * callee (its window, merged over every caller), as a caller (its calls per callee service), or both.
   */
  private observeWindow(service: string, gathered: ServiceWindows, listed: ReadonlySet<string>, now: number): void {
    const { arena, windows, outbound } = gathered;
    const observe = (instanceId: string, w: Window | null, calls: Map<string, Calls> | undefined) => {
      if (!listed.has(instanceId)) return;
      let out: Record<string, { requests: number; latency: Uint8Array }> | null = null;
      if (calls) {
        for (const [callee, c] of calls) {
          // parts > 0 always: a Calls is only ever seen with a blob added.
          if (c.seen) (out ??= {})[callee] = { requests: c.requests, latency: arena.blob(c.head)! };
        }
      }
      this.detector.observe(
        service,
        instanceId,
        {
          requests: w?.requests ?? 0,
          http5xx: w?.http5xx ?? 0,
          connect: w?.connect ?? 0,
          timeout: w?.timeout ?? 0,
          // Every edge adds a part, so a seen window has one; were it to have none, its latency is an
          // empty sketch (there was a window), not absent. arena.blob() returns a blob of its own: the
          // detector may keep it after the arena is reset.
          ...(w ? { latency: w.parts > 0 ? arena.blob(w.head)! : { zero: 0, buckets: [] } } : {}),
          ...(out ? { outbound: out } : {}),
        },
        now,
      );
    };
    for (const [instanceId, w] of windows) if (w.seen) observe(instanceId, w, outbound.get(instanceId));
    for (const [instanceId, calls] of outbound) if (!windows.get(instanceId)?.seen && anySeen(calls)) observe(instanceId, null, calls);
  }
}

/** A caller instance's outbound calls in the current window, per callee service. */
function callsOf(gathered: ServiceWindows, instanceId: string): Map<string, Calls> {
  let calls = gathered.outbound.get(instanceId);
  if (!calls) gathered.outbound.set(instanceId, (calls = new Map()));
  return calls;
}

/** Adds an edge's latency blob (copied into the arena) to a window's chain, merged whenever MAX_BLOB_PARTS pile up. */
function addLatency(arena: SketchArena, into: { head: number; parts: number }, blob: Uint8Array): void {
  into.head = arena.add(into.head, blob);
  if (++into.parts >= MAX_BLOB_PARTS) {
    into.head = arena.merge(into.head);
    into.parts = 1;
  }
}

function anySeen(calls: Map<string, Calls>): boolean {
  for (const c of calls.values()) if (c.seen) return true;
  return false;
}

/**
 * Ends the current window of a service (after its evaluation read it): the records seen in it are
 * reset for the next one and kept, those idle for the whole window are dropped (an instance that
 * left the mesh, a callee no longer called), and the arena forgets every chain.
 */
function closeWindow(gathered: ServiceWindows): void {
  for (const [instanceId, w] of gathered.windows) {
    if (!w.seen) {
      gathered.windows.delete(instanceId);
      continue;
    }
    w.requests = w.http5xx = w.connect = w.timeout = 0;
    w.head = NO_CHAIN;
    w.parts = 0;
    w.seen = false;
  }
  for (const [instanceId, calls] of gathered.outbound) {
    for (const [callee, c] of calls) {
      if (!c.seen) {
        calls.delete(callee);
        continue;
      }
      c.requests = 0;
      c.head = NO_CHAIN;
      c.parts = 0;
      c.seen = false;
    }
    if (calls.size === 0) gathered.outbound.delete(instanceId);
  }
  gathered.arena.reset();
}
