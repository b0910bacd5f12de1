/**
 * The failover engine: drives the pure detector and ejection tracker from what the core
 * receives (telemetry batches, health signals, heartbeats) and turns their transitions into
 * endpoint-set changes. It owns no I/O: the mesh runtime feeds it and applies its output.
 *
 * Per instance, observations are the merge of every caller's outbound edge to that instance in
 * one evaluation window (policy.intervalMs), so every caller's view counts. With them goes the
 * instance's own outbound calls (its sidecar's outbound edges, merged per callee service) in the same
 * window: the latency rule spares a host whose slowness its callees explain.
 */
import { OutlierDetector, type OutlierDecision, type SparedHost } from '../health/detector.js';
import type { HealthSignal, TelemetryBatch } from '../protocol/messages.js';
import { addBlobPart, blobOfParts, sketchBlobOf } from '../telemetry/sketch-codec.js';
import { EjectionTracker, type EjectionTransition, type InstanceHealth, type ServiceHealthStatus } from './ejections.js';
import { DEFAULT_OUTLIER_POLICY, type OutlierPolicy } from './policy.js';

interface Window {
  requests: number;
  http5xx: number;
  connect: number;
  timeout: number;
  /** The edges' latency as sketch blobs (shared with the live view), merged when the window is evaluated. */
  latency: Uint8Array[];
}

/** An instance's calls to one callee service in the current window. */
interface Calls {
  requests: number;
  latency: Uint8Array[];
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
  private windows = new Map<string, Map<string, Window>>();
  /** Per caller service → caller instance: its outbound calls in the current window. */
  private outbound = new Map<string, Map<string, Map<string, Calls>>>();
  private readonly lastEvaluation = new Map<string, number>();
  private readonly now: () => number;
  private readonly policyFor: (service: string) => OutlierPolicy;

  constructor(private readonly options: FailoverEngineOptions) {
    this.now = options.now ?? Date.now;
    this.policyFor = options.policyFor ?? (() => DEFAULT_OUTLIER_POLICY);
  }

  /** Folds a batch's outbound edges into the callee instances' current windows. */
  observeBatch(batch: TelemetryBatch): void {
    // The reporting instance's own calls: looked up once per batch, when it made any.
    let calls: Map<string, Calls> | undefined;
    for (const edge of batch.edges) {
      if (edge.direction !== 'outbound') continue;
      if (edge.requests > 0) {
        calls ??= this.callsOf(batch.service, batch.instanceId);
        let out = calls.get(edge.peerService);
        if (!out) calls.set(edge.peerService, (out = { requests: 0, latency: [] }));
        out.requests += edge.requests;
        addBlobPart(out.latency, sketchBlobOf(edge.latency));
      }
      if (!edge.peerInstance || edge.peerService === 'external') continue;
      let service = this.windows.get(edge.peerService);
      if (!service) {
        service = new Map();
        this.windows.set(edge.peerService, service);
      }
      let w = service.get(edge.peerInstance);
      if (!w) {
        w = { requests: 0, http5xx: 0, connect: 0, timeout: 0, latency: [] };
        service.set(edge.peerInstance, w);
      }
      w.requests += edge.requests;
      w.http5xx += edge.errors.http5xx;
      w.connect += edge.errors.connect;
      w.timeout += edge.errors.timeout;
      addBlobPart(w.latency, sketchBlobOf(edge.latency));
    }
  }

  /** A caller instance's outbound calls in the current window, per callee service. */
  private callsOf(service: string, instanceId: string): Map<string, Calls> {
    let callers = this.outbound.get(service);
    if (!callers) this.outbound.set(service, (callers = new Map()));
    let calls = callers.get(instanceId);
    if (!calls) callers.set(instanceId, (calls = new Map()));
    return calls;
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
    if (this.windows.size > 0 || this.outbound.size > 0) {
      const listed = new Set(services);
      for (const service of this.windows.keys()) if (!listed.has(service)) this.windows.delete(service);
      for (const service of this.outbound.keys()) if (!listed.has(service)) this.outbound.delete(service);
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
    this.windows.delete(service);
    this.outbound.delete(service);
    this.lastEvaluation.delete(service);
  }

  private evaluate(service: string, now: number): FailoverStep | null {
    const instances = this.options.instancesOf(service);
    const windows = this.windows.get(service) ?? new Map<string, Window>();
    this.windows.delete(service);
    const outbound = this.outbound.get(service) ?? new Map<string, Map<string, Calls>>();
    this.outbound.delete(service);
    // No instance to judge (all down): what they sent is dropped, as for one instance not listed.
    if (instances.length === 0) return null;
    const policy = this.policyFor(service);
    const listed = new Set(instances);
    const observe = (instanceId: string) => {
      if (!listed.has(instanceId)) return;
      const w = windows.get(instanceId);
      const out = outbound.get(instanceId);
      this.detector.observe(
        service,
        instanceId,
        {
          requests: w?.requests ?? 0,
          http5xx: w?.http5xx ?? 0,
          connect: w?.connect ?? 0,
          timeout: w?.timeout ?? 0,
          ...(w ? { latency: w.latency.length ? blobOfParts(w.latency) : { zero: 0, buckets: [] } } : {}),
          ...(out ? { outbound: Object.fromEntries([...out].map(([callee, c]) => [callee, { requests: c.requests, latency: blobOfParts(c.latency) }])) } : {}),
        },
        now,
      );
    };
    for (const instanceId of windows.keys()) observe(instanceId);
    for (const instanceId of outbound.keys()) if (!windows.has(instanceId)) observe(instanceId);
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
}
