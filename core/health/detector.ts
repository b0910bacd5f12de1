/**
 * Outlier detection: decides which instances of a service look faulty, from the telemetry their
 * callers report, and says why. Pure: no I/O, no timers; `now` (ms) comes with every call and
 * randomness (only for enforcement percentages below 100) through the `random` option.
 *
 * The core feeds it, per instance (service, instanceId):
 *   observe(…, { requests, http5xx, connect, timeout, latency }, now)   one evaluation window,
 *       aggregated over every caller of the instance (4xx are the caller's fault: not counted);
 *   directSignal(…, 'connect-refused' | 'reset', now)                   a sidecar's immediate report;
 *   heartbeat(…, now, heartbeatIntervalMs)                              the instance's heartbeat;
 * and asks `evaluate(service, instances, policy, now, { ejected, probing })` for decisions. Each
 * decision carries its evidence: the rule, the samples it looked at, the policy thresholds and
 * the time. The detector does not hold ejection state: EjectionTracker (core/failover) does, and
 * tells the detector which instances are ejected or probing.
 *
 * Rules (evaluated in this order; a rule that fires resets its own counter, as Envoy does):
 *
 * - heartbeat: silent for more than missedIntervals × heartbeatIntervalMs → eject, once per
 *   silence; when heartbeats resume, a `restore-probe` decision (the cause has cleared). When a
 *   caller reported a refused connection to the instance after its last heartbeat, silent for
 *   more than refusedIntervals × heartbeatIntervalMs suffices (default 1 interval instead of 3):
 *   nothing listens at its address and it has not heartbeated since. A killed instance is so
 *   ejected about 1 s after its last heartbeat instead of 3, and the set pushed without it
 *   reaches the callers that never tried it themselves (a retry or a zone failover would try it
 *   next). A live instance keeps heartbeating, so a refusal alone never ejects it.
 * - direct-signal: `threshold` sidecar reports within `windowMs` → eject, without waiting for the
 *   next telemetry window or the evaluation interval.
 * - consecutive-failures: Envoy counts failures in a row per request. Telemetry arrives
 *   aggregated per window (counts, not an ordered stream), so the streak is approximated:
 *     a window in which every request failed adds its failures to the streak;
 *     a window with at least one success resets the streak to 0;
 *     a window without requests leaves it unchanged.
 *   Because the order inside a window is unknown, a mixed window may have ended with a run of
 *   failures that we drop: the streak is a lower bound of the true one (never ejects where a
 *   per-request count over the same stream would not). Two differences remain: the stream is
 *   every caller's traffic merged (one Envoy sees only its own), so a streak builds up faster
 *   at high fan-in; and a run spread over windows that each also contain a success is missed.
 *   The gateway variant counts connect + timeout only; a window with any 5xx or success
 *   resets it (Envoy resets it on a non-gateway 5xx too).
 * - success-rate (Envoy's algorithm, once per `intervalMs`): each host's sample is a sliding
 *   window of its most recent sweep intervals, newest first, until they hold requestVolume
 *   requests, over at most successRate.maxIntervals of them (1: the interval since the previous
 *   sweep alone, as Envoy); hosts whose window holds >= requestVolume and that are neither
 *   ejected nor probing count; with fewer than minimumHosts such hosts nothing is decided. Rates
 *   are in percent, mean and population stdev over those hosts, threshold = mean − stdevFactor ×
 *   stdev, and a host strictly below the threshold is an outlier. A host's window is emptied
 *   when the rule fires on it and while it is ejected or probing. Note: one outlier among n
 *   otherwise equal hosts is at most √(n − 1) standard deviations below the mean, so with
 *   stdevFactor 1.9 the rule can only fire with 5 or more hosts, whatever minimumHosts says.
 * - latency (Meshdeck): same population rules with latency.requestVolume/minimumHosts, but each
 *   host's sample is a sliding window: its most recent sweep intervals, newest first, until they
 *   hold requestVolume requests, over at most latency.maxIntervals of them (a host at 13 req/s
 *   reaches 50 requests in 4 intervals; a busy host uses its last interval alone). Each host's
 *   p99 from the merged sketch of its window; a host's threshold = max(floorMs, factor × median
 *   of the OTHER hosts' p99s) (leave-one-out, so two hosts suffice); strictly above it is an
 *   outlier. A host judged over more than one interval must also be slow in its median: p50
 *   above max(floorMs, factor × median of the other hosts' p50s) (the p99 of a few dozen requests
 *   is their slowest one or two). A host's window is emptied when the rule fires on it and while
 *   it is ejected or probing, so it is judged again on samples taken after that.
 *   A slow callee makes its callers slow by the same delay. When the core also passes a host's
 *   own outbound calls (`observe(…, { outbound })`: the latency of its calls per callee service,
 *   merged over the same intervals), an outlier is ejected only if it is still one on its own
 *   latency: each host's p99 and p50 minus the largest p99 and p50 among its callees (at least
 *   0: a request that calls each callee waits at least for the slowest one; a host
 *   without outbound samples counts whole), against the same bars over the other hosts' own
 *   latencies. One that is not is spared (its slowness is its callees'), kept in the sweep
 *   report's `latency.spared` with its samples and the bars, and its window is kept: it is
 *   judged again next sweep, when the callee is ejected or its caller has been slow on its own.
 *   Probe windows are judged against max(floorMs, factor × median of the non-outliers), by
 *   their p99 when they hold latency.requestVolume requests, else by their p50.
 *
 * Probing instances (half-open) are judged per window: a window with >= probe.minRequests
 * requests succeeds when its failed share is <= probe.maxFailureRate and its p99 is not above
 * the last latency threshold; evaluate() sums them into one `probe-success` or `probe-failure`
 * decision per instance.
 *
 * Enforcement: a rule with enforcingPercent p is enforced with probability p % (Envoy's
 * `enforcing_*`); a decision that is not enforced is still returned (`enforced: false`) so the
 * console can show what would have happened.
 */
import type { OutlierPolicy } from '../failover/policy.js';
import { LatencySketch, type SketchWire } from '../protocol/sketch.js';
import { addBlobPart, blobOfParts, DenseSketch, encodeSketch, quantilesOfParts } from '../telemetry/sketch-codec.js';
import { graceText } from '../registry/heartbeat-lag.js';

/** The decisions and their evidence are declared in evidence.ts (no runtime imports: the renderer reads them). */
export type {
  RuleName, DecisionKind, DirectSignalKind, WindowCounts, ConsecutiveEvidence, HostRate, SuccessRateEvidence, HostLatency,
  OutboundLatency, OwnLatency, SparedHost, LatencyEvidence, DirectSignalEvidence, HeartbeatEvidence, ProbeWindow, ProbeEvidence,
  Evidence, OutlierDecision, SweepReport,
} from './evidence.js';
import type { DirectSignalKind, WindowCounts, HostRate, HostLatency, OutboundLatency, OwnLatency, SparedHost, ProbeWindow, OutlierDecision, SweepReport } from './evidence.js';

/** One evaluation window of one instance, merged over all its callers. */
export interface WindowObservation {
  requests: number;
  http5xx: number;
  connect: number;
  timeout: number;
  latency?: LatencySketch | SketchWire | Uint8Array;
  /**
   * The instance's own outbound calls in the same window (as a caller), per callee service: what
   * it waited on. Lets the latency rule tell a slow host from the caller of one.
   */
  outbound?: Record<string, { requests: number; latency?: LatencySketch | SketchWire | Uint8Array }>;
}

export interface EvaluateContext {
  /** Instances currently ejected: left out of the statistics (they get no traffic). */
  ejected?: Iterable<string>;
  /** Instances in half-open probing: left out of the statistics, judged per probe window. */
  probing?: Iterable<string>;
  /** Silence forgiven on top of the heartbeat TTLs because the core itself is behind (core/registry/heartbeat-lag.ts). */
  heartbeatGraceMs?: number;
}

export interface DetectorOptions {
  /** Uniform [0, 1) source for enforcement draws (default Math.random). */
  random?: () => number;
}

/** Windows kept per instance between evaluations (probe judgement), and per streak (evidence). */
const MAX_PENDING_WINDOWS = 64;
const MAX_STREAK_WINDOWS = 32;
const MAX_SIGNALS = 256;

/** ", p99 812 ms > 120 ms" when the probe window was judged too slow, else "". */
function slowText(w: ProbeWindow, threshold: number | null): string {
  const judged = w.judged ?? 'p99';
  const latency = (judged === 'p99' ? w.p99 : w.p50) ?? null;
  return latency !== null && threshold !== null && latency > threshold ? `, ${judged} ${ms(latency)} > ${ms(threshold)}` : '';
}

interface Streak {
  failures: number;
  windows: WindowCounts[];
}

/**
 * Outbound calls per callee service; latency as sketch blobs (core/telemetry/sketch-codec.ts),
 * merged when read: a sweep of 10 000 hosts merged Map-based sketches for about a third of the
 * core's CPU (npm run bench:console at 1 000 services).
 */
type Calls = Map<string, { requests: number; latency: Uint8Array[] }>;

function addCalls(into: Calls, callee: string, requests: number, latency: Uint8Array): void {
  let c = into.get(callee);
  if (!c) into.set(callee, (c = { requests: 0, latency: [] }));
  c.requests += requests;
  addBlobPart(c.latency, latency);
}

/** A sketch in any form the detector is given, as a blob. */
function blobOf(latency: LatencySketch | SketchWire | Uint8Array): Uint8Array {
  if (latency instanceof Uint8Array) return latency;
  return encodeSketch(latency instanceof LatencySketch ? latency.toWire() : latency);
}

/** p50 and p99, in the order quantilesOfParts() answers them. */
const QUANTILES = [0.5, 0.99] as const;
/** latencyWindow()'s accumulator, reset for every host. */
const windowSketch = new DenseSketch();

/**
 * One sweep interval of a host, as the latency rule keeps it (up to latency.maxIntervals of
 * them): its own latency and its outbound calls' per callee, their blobs back to back in one
 * Buffer. 10 000 hosts keep up to 10 intervals each, and every object kept for seconds is work
 * for the collector: a Map with an entry object, a parts list and a Buffer per callee, and a
 * Buffer for the host's own latency, took a third of the sweep's time in garbage collection
 * (`npm run bench:failover-tick -- --heap-snapshot` shows what is kept).
 */
interface LatencyInterval {
  requests: number;
  /** The interval's latency blob, then its outbound calls' blobs, back to back (null: none of them). */
  bytes: Uint8Array | null;
  /** Where the interval's own latency blob ends in `bytes` (0: none, an interval without requests). */
  latencyEnd: number;
  /**
   * The host's own outbound calls, flat: callee service, requests, and where the callee's blob
   * ends in `bytes` (it starts where the previous one ended), per callee (null: none).
   */
  outbound: ReadonlyArray<string | number> | null;
}

/** An interval of the sweep's totals of a host: latency parts and calls per callee each merged into one blob, all copied into one Buffer. */
function latencyInterval(requests: number, latencyParts: readonly Uint8Array[], calls: Calls): LatencyInterval {
  const latency = latencyParts.length > 0 ? blobOfParts(latencyParts) : null;
  let callBlobs: Uint8Array[] | null = null;
  let size = latency?.length ?? 0;
  for (const c of calls.values()) {
    const blob = blobOfParts(c.latency);
    (callBlobs ??= []).push(blob);
    size += blob.length;
  }
  if (size === 0) return { requests, bytes: null, latencyEnd: 0, outbound: null };
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  if (latency) {
    bytes.set(latency, 0);
    at = latency.length;
  }
  const latencyEnd = at;
  let outbound: Array<string | number> | null = null;
  if (callBlobs) {
    // Of its exact size: grown from empty by push() it reserved 17 slots (176 bytes) for the usual 3 callees' 9.
    outbound = new Array<string | number>(calls.size * 3);
    let i = 0;
    for (const [callee, c] of calls) {
      const blob = callBlobs[i]!;
      bytes.set(blob, at);
      at += blob.length;
      outbound[3 * i] = callee;
      outbound[3 * i + 1] = c.requests;
      outbound[3 * i + 2] = at;
      i++;
    }
  }
  return { requests, bytes, latencyEnd, outbound };
}

interface RateInterval {
  requests: number;
  failures: number;
}

/**
 * The interval of a host that had no requests, shared: a quiet mesh of 10 000 instances kept
 * 100 000 such objects in its windows (npm run bench:mesh-size -- --baseline-only --heap-snapshot).
 */
const NO_LATENCY: Readonly<LatencyInterval> = Object.freeze({ requests: 0, bytes: null, latencyEnd: 0, outbound: null });
const NO_RATE: Readonly<RateInterval> = Object.freeze({ requests: 0, failures: 0 });

/** A window observed since the last evaluate: judged by the probe rule when the host is probing (its percentiles read then). */
interface PendingWindow extends WindowCounts {
  latency: Uint8Array | null;
}

interface InstanceSignals {
  streak: Streak;
  gatewayStreak: Streak;
  /** Totals since the last statistical sweep. */
  sweep: { requests: number; failures: number; latency: Uint8Array[]; outbound: Calls };
  /** The latency rule's sliding window: the last sweeps' intervals, newest last (at most latency.maxIntervals). */
  latencyWindow: LatencyInterval[];
  /** The success-rate rule's sliding window: requests and failures of the last sweeps' intervals, newest last (at most successRate.maxIntervals). */
  rateWindow: RateInterval[];
  pending: PendingWindow[];
  signals: Array<{ kind: DirectSignalKind; at: number }>;
  /** The latest connect-refused report about it (kept apart from `signals`, which the direct-signal rule clears). */
  refusedAt: number | null;
  lastHeartbeat: number | null;
  heartbeatIntervalMs: number;
  /** Set when a heartbeat ejection was emitted for the current silence. */
  silentSince: number | null;
  /** A heartbeat arrived after a reported silence: emit restore-probe at the next evaluate. */
  resumed: { at: number; silentMs: number; lastHeartbeat: number } | null;
}

interface ServiceSignals {
  instances: Map<string, InstanceSignals>;
  lastSweepAt: number | null;
  /** Latency threshold of the last sweep that computed one (judges probe windows). */
  latencyThreshold: number | null;
  report: SweepReport | null;
}

export class OutlierDetector {
  private readonly services = new Map<string, ServiceSignals>();
  private readonly random: () => number;

  constructor(options: DetectorOptions = {}) {
    this.random = options.random ?? Math.random;
  }

  observe(service: string, instanceId: string, window: WindowObservation, now: number): void {
    const s = this.instance(service, instanceId);
    const http5xx = count(window.http5xx);
    const connect = count(window.connect);
    const timeout = count(window.timeout);
    const failures = http5xx + connect + timeout;
    // Failures are requests too; a reporter that counted them apart must not make the rate negative.
    const requests = Math.max(count(window.requests), failures);

    if (requests > 0) {
      // The window's counts are kept by a streak it extends (evidence), made only then: a
      // healthy host's windows extend none.
      const allFailed = failures === requests;
      const gatewayFailed = connect + timeout === requests;
      const counts: WindowCounts | null = allFailed || gatewayFailed ? { at: now, requests, http5xx, connect, timeout } : null;
      if (allFailed) extend(s.streak, failures, counts!);
      else reset(s.streak);
      if (gatewayFailed) extend(s.gatewayStreak, connect + timeout, counts!);
      else reset(s.gatewayStreak);
    }

    const latency = window.latency ? blobOf(window.latency) : null;
    if (latency) addBlobPart(s.sweep.latency, latency);
    const outbound = window.outbound;
    if (outbound) {
      for (const callee of Object.keys(outbound)) {
        const out = outbound[callee]!;
        if (count(out.requests) === 0 || !out.latency) continue;
        addCalls(s.sweep.outbound, callee, count(out.requests), blobOf(out.latency));
      }
    }
    s.sweep.requests += requests;
    s.sweep.failures += failures;
    s.pending.push({ at: now, requests, http5xx, connect, timeout, latency });
    if (s.pending.length > MAX_PENDING_WINDOWS) s.pending.shift();
  }

  directSignal(service: string, instanceId: string, kind: DirectSignalKind, now: number): void {
    const s = this.instance(service, instanceId);
    if (kind === 'connect-refused') s.refusedAt = Math.max(s.refusedAt ?? now, now);
    s.signals.push({ kind, at: now });
    if (s.signals.length > MAX_SIGNALS) s.signals.shift();
  }

  heartbeat(service: string, instanceId: string, now: number, heartbeatIntervalMs = 1000): void {
    const s = this.instance(service, instanceId);
    if (s.silentSince !== null && s.lastHeartbeat !== null) {
      s.resumed = { at: now, silentMs: now - s.lastHeartbeat, lastHeartbeat: s.lastHeartbeat };
      s.silentSince = null;
    }
    s.lastHeartbeat = now;
    s.heartbeatIntervalMs = heartbeatIntervalMs;
  }

  /**
   * Decisions for `service` at `now`. `instances` is the service's current instance list (from
   * the registry): state of instances not in it is dropped. Streak, direct-signal and heartbeat
   * rules run on every call; success-rate and latency once per policy.intervalMs (the first
   * call sweeps at once). Eject decisions come worst first within each rule.
   */
  evaluate(service: string, instances: readonly string[], policy: OutlierPolicy, now: number, context: EvaluateContext = {}): OutlierDecision[] {
    const svc = this.serviceState(service);
    const listed = new Set(instances);
    for (const id of svc.instances.keys()) if (!listed.has(id)) svc.instances.delete(id);
    const ejected = new Set(context.ejected ?? []);
    const probing = new Set(context.probing ?? []);
    const decisions: OutlierDecision[] = [];
    const ids = [...listed].sort();

    for (const id of ids) {
      const s = svc.instances.get(id);
      if (!s) continue;
      this.heartbeatRule(service, id, s, policy, now, decisions, context.heartbeatGraceMs ?? 0);
      this.directSignalRule(service, id, s, policy, now, decisions);
      this.consecutiveRule(service, id, s.streak, 'all', policy.consecutiveFailures, now, decisions);
      this.consecutiveRule(service, id, s.gatewayStreak, 'gateway', policy.consecutiveGatewayFailures, now, decisions);
    }

    if (svc.lastSweepAt === null || now - svc.lastSweepAt >= policy.intervalMs) {
      const population = ids.filter((id) => !ejected.has(id) && !probing.has(id) && svc.instances.has(id));
      const judged = new Set(population);
      for (const [id, s] of svc.instances) {
        if (!judged.has(id)) {
          // Ejected or probing: what it did before or meanwhile is not what it will do when back.
          s.latencyWindow = [];
          s.rateWindow = [];
          continue;
        }
        s.rateWindow.push(s.sweep.requests === 0 && s.sweep.failures === 0 ? NO_RATE : { requests: s.sweep.requests, failures: s.sweep.failures });
        trimWindow(s.rateWindow, policy.successRate.enabled ? policy.successRate.maxIntervals : 0, policy.successRate.requestVolume);
        // An interval without requests keeps its place (it ages the others) but no sketch.
        if (s.sweep.requests > 0 || s.sweep.outbound.size > 0) {
          s.latencyWindow.push(latencyInterval(s.sweep.requests, s.sweep.requests > 0 ? s.sweep.latency : [], s.sweep.outbound));
        } else {
          s.latencyWindow.push(NO_LATENCY);
        }
        trimWindow(s.latencyWindow, policy.latency.enabled ? policy.latency.maxIntervals : 0, policy.latency.requestVolume);
      }
      const report: SweepReport = { at: now, successRate: { skipped: 'disabled' }, latency: { skipped: 'disabled' } };
      if (policy.successRate.enabled) report.successRate = this.successRateRule(service, svc, population, policy, now, decisions);
      if (policy.latency.enabled) report.latency = this.latencyRule(service, svc, population, policy, now, decisions);
      svc.report = report;
      svc.lastSweepAt = now;
      for (const s of svc.instances.values()) {
        s.sweep.requests = 0;
        s.sweep.failures = 0;
        if (s.sweep.latency.length > 0) s.sweep.latency = [];
        if (s.sweep.outbound.size > 0) s.sweep.outbound.clear();
      }
    }

    for (const id of ids) {
      const s = svc.instances.get(id);
      if (!s) continue;
      if (probing.has(id)) this.probeRule(service, id, s, svc, policy, now, decisions);
      s.pending = [];
    }
    return decisions;
  }

  /** The last statistical sweep of a service (null before the first). */
  sweepReport(service: string): SweepReport | null {
    return this.services.get(service)?.report ?? null;
  }

  /** Current streaks, for the console. */
  streaks(service: string, instanceId: string): { failures: number; gatewayFailures: number } | null {
    const s = this.services.get(service)?.instances.get(instanceId);
    return s ? { failures: s.streak.failures, gatewayFailures: s.gatewayStreak.failures } : null;
  }

  /** Drops what is known about one instance, or about a whole service. */
  forget(service: string, instanceId?: string): void {
    if (instanceId === undefined) this.services.delete(service);
    else this.services.get(service)?.instances.delete(instanceId);
  }

  // --- rules

  private heartbeatRule(service: string, id: string, s: InstanceSignals, policy: OutlierPolicy, now: number, out: OutlierDecision[], graceMs: number): void {
    const rule = policy.heartbeat;
    if (!rule.enabled) {
      s.resumed = null;
      return;
    }
    // The TTLs, plus what the core's own lag excuses (it is the core that did not hear, not the instance that was silent).
    const ttlMs = rule.missedIntervals * s.heartbeatIntervalMs + graceMs;
    const thresholds = { ttlMs, missedIntervals: rule.missedIntervals, ...(graceMs > 0 ? { graceMs } : {}) };
    if (s.resumed) {
      const r = s.resumed;
      s.resumed = null;
      out.push({
        kind: 'restore-probe',
        service,
        instanceId: id,
        at: now,
        enforced: true,
        reason: `heartbeats resumed after ${r.silentMs} ms of silence`,
        evidence: {
          rule: 'heartbeat',
          at: now,
          samples: { lastHeartbeat: r.lastHeartbeat, heartbeatIntervalMs: s.heartbeatIntervalMs, silentMs: r.silentMs, resumedAt: r.at },
          thresholds,
        },
      });
    }
    if (s.lastHeartbeat === null || s.silentSince !== null) return;
    const silentMs = now - s.lastHeartbeat;
    // A caller's refused connection after the last heartbeat shortens the TTL (refusedIntervals).
    const refusedAt = refusedSince(s, rule);
    const refusedTtlMs = rule.refusedIntervals * s.heartbeatIntervalMs + graceMs;
    const byRefusal = refusedAt !== null && refusedTtlMs < ttlMs && silentMs > refusedTtlMs;
    if (!byRefusal && silentMs <= ttlMs) return;
    s.silentSince = s.lastHeartbeat;
    const behind = graceText(graceMs);
    out.push({
      kind: 'eject',
      service,
      instanceId: id,
      at: now,
      enforced: true,
      reason: byRefusal
        ? `no heartbeat for ${silentMs} ms > ${refusedTtlMs} ms (${rule.refusedIntervals} × ${s.heartbeatIntervalMs} ms${behind}) and a caller's connection was refused ${now - refusedAt} ms ago, after its last heartbeat`
        : `no heartbeat for ${silentMs} ms > TTL ${ttlMs} ms (${rule.missedIntervals} × ${s.heartbeatIntervalMs} ms${behind})`,
      evidence: byRefusal
        ? {
            rule: 'heartbeat',
            at: now,
            samples: { lastHeartbeat: s.lastHeartbeat, heartbeatIntervalMs: s.heartbeatIntervalMs, silentMs, refusedAt },
            thresholds: { ttlMs: refusedTtlMs, missedIntervals: rule.missedIntervals, refusedIntervals: rule.refusedIntervals, ...(graceMs > 0 ? { graceMs } : {}) },
          }
        : { rule: 'heartbeat', at: now, samples: { lastHeartbeat: s.lastHeartbeat, heartbeatIntervalMs: s.heartbeatIntervalMs, silentMs }, thresholds },
    });
  }

  /**
   * When `service` next needs an evaluation for the heartbeat rule's shorter TTL after a refusal
   * (the earliest moment such an instance would be ejected), or null: the caller (the engine)
   * evaluates then instead of waiting for the next interval.
   */
  heartbeatDue(service: string, policy: OutlierPolicy): number | null {
    const svc = this.services.get(service);
    const rule = policy.heartbeat;
    if (!svc || !rule.enabled) return null;
    let due: number | null = null;
    for (const s of svc.instances.values()) {
      if (s.lastHeartbeat === null || s.silentSince !== null || refusedSince(s, rule) === null) continue;
      const at = s.lastHeartbeat + rule.refusedIntervals * s.heartbeatIntervalMs + 1; // strictly more silent than the TTL
      due = due === null ? at : Math.min(due, at);
    }
    return due;
  }

  private directSignalRule(service: string, id: string, s: InstanceSignals, policy: OutlierPolicy, now: number, out: OutlierDecision[]): void {
    const rule = policy.directSignal;
    s.signals = s.signals.filter((x) => x.at > now - rule.windowMs && x.at <= now);
    if (!rule.enabled || s.signals.length < rule.threshold) return;
    const signals = s.signals;
    s.signals = [];
    const kinds = [...new Set(signals.map((x) => x.kind))].join(' / ');
    out.push({
      kind: 'eject',
      service,
      instanceId: id,
      at: now,
      enforced: this.enforce(rule.enforcingPercent),
      reason: `${signals.length} ${kinds} reports within ${rule.windowMs} ms (threshold ${rule.threshold})`,
      evidence: {
        rule: 'direct-signal',
        at: now,
        samples: { count: signals.length, signals },
        thresholds: { count: rule.threshold, windowMs: rule.windowMs, enforcingPercent: rule.enforcingPercent },
      },
    });
  }

  private consecutiveRule(
    service: string,
    id: string,
    streak: Streak,
    variant: 'all' | 'gateway',
    rule: OutlierPolicy['consecutiveFailures'],
    now: number,
    out: OutlierDecision[],
  ): void {
    if (!rule.enabled || streak.failures < rule.threshold) return;
    const samples = { variant, streak: streak.failures, windows: streak.windows };
    // The evidence keeps the windows: the streak starts a list of its own.
    streak.failures = 0;
    streak.windows = [];
    const what = variant === 'all' ? 'failed requests (5xx, connect, timeout)' : 'gateway failures (connect, timeout)';
    out.push({
      kind: 'eject',
      service,
      instanceId: id,
      at: now,
      enforced: this.enforce(rule.enforcingPercent),
      reason: `${samples.streak} consecutive ${what} >= ${rule.threshold}`,
      evidence: { rule: 'consecutive-failures', at: now, samples, thresholds: { consecutive: rule.threshold, enforcingPercent: rule.enforcingPercent } },
    });
  }

  private successRateRule(service: string, svc: ServiceSignals, population: string[], policy: OutlierPolicy, now: number, out: OutlierDecision[]): SweepReport['successRate'] {
    const rule = policy.successRate;
    const hosts: HostRate[] = [];
    const failuresOf = new Map<string, number>();
    for (const id of population) {
      // Its newest intervals until they hold requestVolume requests (trimWindow kept no more).
      let requests = 0;
      let failures = 0;
      const window = svc.instances.get(id)!.rateWindow;
      for (const w of window) {
        requests += w.requests;
        failures += w.failures;
      }
      if (requests < rule.requestVolume) continue;
      // As Envoy: success × 100 / total.
      hosts.push({ instanceId: id, requests, successRate: ((requests - failures) * 100) / requests, intervals: window.length });
      failuresOf.set(id, failures);
    }
    if (hosts.length === 0 || hosts.length < rule.minimumHosts) {
      return { skipped: `${hosts.length} host(s) with >= ${rule.requestVolume} requests ${windowSpan(rule.maxIntervals)}; ${rule.minimumHosts} needed` };
    }
    const mean = hosts.reduce((sum, h) => sum + h.successRate, 0) / hosts.length;
    const variance = hosts.reduce((sum, h) => sum + (h.successRate - mean) ** 2, 0) / hosts.length;
    const stdev = Math.sqrt(variance);
    const threshold = mean - rule.stdevFactor * stdev;
    const thresholds = {
      ejectionThreshold: threshold,
      stdevFactor: rule.stdevFactor,
      minimumHosts: rule.minimumHosts,
      requestVolume: rule.requestVolume,
      maxIntervals: rule.maxIntervals,
      enforcingPercent: rule.enforcingPercent,
    };
    const outliers = hosts.filter((h) => h.successRate < threshold).sort((a, b) => a.successRate - b.successRate || a.instanceId.localeCompare(b.instanceId));
    for (const h of outliers) {
      out.push({
        kind: 'eject',
        service,
        instanceId: h.instanceId,
        at: now,
        enforced: this.enforce(rule.enforcingPercent),
        reason: `success rate ${pct(h.successRate)} < threshold ${pct(threshold)} (mean ${pct(mean)}, stdev ${stdev.toFixed(2)}, ${hosts.length} hosts)`,
        evidence: {
          rule: 'success-rate',
          at: now,
          samples: { requests: h.requests, failures: failuresOf.get(h.instanceId) ?? 0, successRate: h.successRate, intervals: h.intervals ?? 1, mean, stdev, hosts },
          thresholds,
        },
      });
      // Judged again on requests after this decision, not on the same ones next sweep.
      svc.instances.get(h.instanceId)!.rateWindow = [];
    }
    return { hosts: hosts.length, mean, stdev, threshold };
  }

  private latencyRule(service: string, svc: ServiceSignals, population: string[], policy: OutlierPolicy, now: number, out: OutlierDecision[]): SweepReport['latency'] {
    const rule = policy.latency;
    const hosts: HostLatency[] = [];
    // Each host's window (the intervals its sample spans), kept to read its outbound calls from
    // should any host be above the bars: in a healthy sweep none is, and those are not read.
    const windows: Array<{ intervals: readonly LatencyInterval[]; from: number }> = [];
    for (const id of population) {
      const intervals = svc.instances.get(id)!.latencyWindow;
      const window = latencyWindow(intervals, rule.requestVolume);
      if (!window) continue;
      const { p99, p50 } = window;
      if (p99 === null || p50 === null) continue;
      hosts.push({ instanceId: id, requests: window.requests, p99, p50, intervals: window.intervals });
      windows.push({ intervals, from: intervals.length - window.intervals });
    }
    if (hosts.length === 0 || hosts.length < rule.minimumHosts) {
      return { skipped: `${hosts.length} host(s) with >= ${rule.requestVolume} requests ${windowSpan(rule.maxIntervals)} and latency samples; ${rule.minimumHosts} needed` };
    }
    // Each host is measured against the median of its peers (the other hosts), so that with
    // two busy hosts (one per zone, the demo's shape) a host ten times slower than the other is
    // found: a median over both would sit halfway and hide it.
    const thresholdOf = (peersMedian: number): number => Math.max(rule.floorMs, rule.factor * peersMedian);
    // A host judged over more than its last interval must be slow in its median too: the p99 of a
    // few dozen requests spread over seconds is its slowest one or two, and a process stalled
    // for a moment on a busy machine is enough for that. A slowed instance is slow in every request.
    const peersP99 = peerMedians(hosts.map((h) => h.p99));
    const peersP50 = peerMedians(hosts.map((h) => h.p50 ?? h.p99));
    const judged = hosts.map((h, i) => {
      const peersMedian = peersP99[i]!;
      const p50 = (h.intervals ?? 1) > 1 ? { peersMedian: peersP50[i]!, threshold: thresholdOf(peersP50[i]!) } : null;
      return { host: h, peersMedian, threshold: thresholdOf(peersMedian), p50 };
    });
    const above = judged
      .filter((j) => j.host.p99 > j.threshold && (j.p50 === null || (j.host.p50 ?? j.host.p99) > j.p50.threshold))
      .sort((a, b) => b.host.p99 - a.host.p99 || a.host.instanceId.localeCompare(b.host.instanceId));
    // A host above the bars is judged on its own latency against its peers' own, and the evidence
    // lists every host with its calls: only then are the hosts' outbound calls read.
    if (above.length > 0) {
      hosts.forEach((h, i) => {
        const outbound = outboundLatency(outboundOf(windows[i]!.intervals, windows[i]!.from));
        if (outbound) h.outbound = outbound;
      });
    }
    // A host above the bars whose own latency (its callees' taken out) is not: the slowness is a
    // callee's, which its own service's rule judges. Ejecting the caller would move the traffic
    // to a peer that calls the same slow callee, or cut a zone off for nothing.
    const ownOf = (h: HostLatency) => ({ p99: Math.max(0, h.p99 - (h.outbound?.p99 ?? 0)), p50: Math.max(0, (h.p50 ?? h.p99) - (h.outbound?.p50 ?? 0)) });
    const ownJudged = (h: HostLatency, twoBars: boolean): OwnLatency => {
      const peers = hosts.filter((o) => o !== h).map(ownOf);
      const own = ownOf(h);
      const medianP99 = median(peers.map((o) => o.p99));
      const out: OwnLatency = { ...own, medianP99, threshold: thresholdOf(medianP99) };
      if (twoBars) {
        out.medianP50 = median(peers.map((o) => o.p50));
        out.p50Threshold = thresholdOf(out.medianP50);
      }
      return out;
    };
    const spared: SparedHost[] = [];
    const outliers: Array<(typeof judged)[number] & { own: OwnLatency | null }> = [];
    for (const j of above) {
      const own = j.host.outbound ? ownJudged(j.host, j.p50 !== null) : null;
      if (!own || (own.p99 > own.threshold && (own.p50Threshold === undefined || own.p50 > own.p50Threshold))) {
        outliers.push({ ...j, own });
        continue;
      }
      const h = j.host;
      const out = h.outbound!;
      const ownBy = own.p99 <= own.threshold ? 'p99' : 'p50';
      const bar = ownBy === 'p99' ? `own p99 ${ms(own.p99)} <= ${ms(own.threshold)}` : `own p50 ${ms(own.p50)} <= ${ms(own.p50Threshold!)}`;
      spared.push({
        instanceId: h.instanceId,
        reason: `spared: p99 ${ms(h.p99)} > ${ms(j.threshold)}, but its outbound calls explain it (${out.callees.map((c) => `${c.service}: ${c.requests}, p99 ${ms(c.p99)}, p50 ${ms(c.p50)}`).join('; ')}): ${bar} (${rule.factor} × the other hosts' own latency); its callee is slow, not it`,
        samples: { requests: h.requests, intervals: h.intervals ?? 1, p99: h.p99, p50: h.p50 ?? h.p99, outbound: out, own },
        thresholds: { threshold: j.threshold, ...(j.p50 ? { p50Threshold: j.p50.threshold } : {}) },
        ownBy,
      });
    }
    // Probe windows are judged against the hosts that are not above the bars, spared or not (all of them if every
    // host is one, which cannot happen with factor >= 1 and two or more hosts).
    const normal = hosts.filter((h) => !above.some((o) => o.host === h));
    const medianP99 = median((normal.length > 0 ? normal : hosts).map((h) => h.p99));
    const threshold = thresholdOf(medianP99);
    svc.latencyThreshold = threshold;
    const base = {
      factor: rule.factor,
      floorMs: rule.floorMs,
      quantile: 0.99 as const,
      minimumHosts: rule.minimumHosts,
      requestVolume: rule.requestVolume,
      maxIntervals: rule.maxIntervals,
      enforcingPercent: rule.enforcingPercent,
    };
    for (const { host: h, peersMedian, threshold: t, p50, own } of outliers) {
      // The rule fired: the host is judged again on samples taken after this sweep.
      svc.instances.get(h.instanceId)!.latencyWindow = [];
      const over = (h.intervals ?? 1) > 1 ? ` over the last ${h.intervals} intervals` : '';
      const median50 = p50 ? `; p50 ${ms(h.p50 ?? h.p99)} > ${ms(p50.threshold)} (${rule.factor} × their median p50 ${ms(p50.peersMedian)})` : '';
      const ownText = own ? `; own p99 ${ms(own.p99)} > ${ms(own.threshold)} without its slowest callee's p99 ${ms(h.outbound!.p99)}` : '';
      out.push({
        kind: 'eject',
        service,
        instanceId: h.instanceId,
        at: now,
        enforced: this.enforce(rule.enforcingPercent),
        reason: `p99 ${ms(h.p99)}${over} > threshold ${ms(t)} (max(${rule.floorMs} ms, ${rule.factor} × the other hosts' median p99 ${ms(peersMedian)}), ${hosts.length} hosts)${median50}${ownText}`,
        evidence: {
          rule: 'latency',
          at: now,
          samples: {
            requests: h.requests,
            p99: h.p99,
            medianP99: peersMedian,
            hosts,
            intervals: h.intervals ?? 1,
            ...(p50 ? { p50: h.p50 ?? h.p99, medianP50: p50.peersMedian } : {}),
            ...(own ? { own } : {}),
          },
          thresholds: { threshold: t, ...base, ...(p50 ? { p50Threshold: p50.threshold } : {}) },
        },
      });
    }
    return { hosts: hosts.length, medianP99, threshold, ...(spared.length > 0 ? { spared } : {}) };
  }

  private probeRule(service: string, id: string, s: InstanceSignals, svc: ServiceSignals, policy: OutlierPolicy, now: number, out: OutlierDecision[]): void {
    const rule = policy.probe;
    const latencyThreshold = policy.latency.enabled ? svc.latencyThreshold : null;
    const windows: ProbeWindow[] = [];
    for (const w of s.pending) {
      if (w.requests < rule.minRequests) continue;
      const failures = w.http5xx + w.connect + w.timeout;
      const failureRate = failures / w.requests;
      const judged = w.requests >= policy.latency.requestVolume ? 'p99' : 'p50';
      const [p50 = null, p99 = null] = w.latency ? quantilesOfParts([w.latency], QUANTILES) : [];
      const latency = judged === 'p99' ? p99 : p50;
      const slow = latencyThreshold !== null && latency !== null && latency > latencyThreshold;
      windows.push({ at: w.at, requests: w.requests, failures, failureRate, p99, p50, judged, ok: failureRate <= rule.maxFailureRate && !slow });
    }
    if (windows.length === 0) return;
    const failed = windows.filter((w) => !w.ok).length;
    const succeeded = windows.length - failed;
    const worst = windows.find((w) => !w.ok);
    out.push({
      kind: failed > 0 ? 'probe-failure' : 'probe-success',
      service,
      instanceId: id,
      at: now,
      enforced: true,
      reason:
        failed > 0 && worst
          ? `probe window failed: ${worst.failures}/${worst.requests} failed (max ${pct(rule.maxFailureRate * 100)})${slowText(worst, latencyThreshold)}`
          : `${succeeded} probe window(s) succeeded`,
      evidence: {
        rule: 'probe',
        at: now,
        samples: { windows, succeeded, failed },
        thresholds: { minRequests: rule.minRequests, maxFailureRate: rule.maxFailureRate, latencyThreshold },
      },
    });
  }

  // --- helpers

  private enforce(percent: number): boolean {
    if (percent >= 100) return true;
    if (percent <= 0) return false;
    return this.random() * 100 < percent;
  }

  private serviceState(service: string): ServiceSignals {
    let svc = this.services.get(service);
    if (!svc) {
      svc = { instances: new Map(), lastSweepAt: null, latencyThreshold: null, report: null };
      this.services.set(service, svc);
    }
    return svc;
  }

  private instance(service: string, instanceId: string): InstanceSignals {
    const svc = this.serviceState(service);
    let s = svc.instances.get(instanceId);
    if (!s) {
      s = {
        streak: { failures: 0, windows: [] },
        gatewayStreak: { failures: 0, windows: [] },
        sweep: { requests: 0, failures: 0, latency: [], outbound: new Map() },
        latencyWindow: [],
        rateWindow: [],
        pending: [],
        signals: [],
        refusedAt: null,
        lastHeartbeat: null,
        heartbeatIntervalMs: 1000,
        silentSince: null,
        resumed: null,
      };
      svc.instances.set(instanceId, s);
    }
    return s;
  }
}

/** How far back a rule's sliding window reaches, in words: "in the last interval", "within the last 10 intervals". */
function windowSpan(maxIntervals: number): string {
  return maxIntervals === 1 ? 'in the last interval' : `within the last ${maxIntervals} intervals`;
}

/**
 * Keeps a sliding window to what its rule can read: at most `maxIntervals` intervals, and none
 * older than the newest ones that already hold `volume` requests (the rule takes the newest
 * first, so a busy host keeps its last interval alone).
 */
function trimWindow(window: Array<{ requests: number }>, maxIntervals: number, volume: number): void {
  if (window.length > maxIntervals) window.splice(0, window.length - maxIntervals);
  let from = window.length;
  for (let need = volume; from > 0 && need > 0; ) need -= window[--from]!.requests;
  if (from > 0) window.splice(0, from);
}

/**
 * The latency rule's sample of one host: its intervals merged newest first until they hold
 * `volume` requests; null when all of them together hold fewer.
 */
function latencyWindow(intervals: readonly LatencyInterval[], volume: number): { requests: number; intervals: number; p99: number | null; p50: number | null } | null {
  let requests = 0;
  let n = 0;
  for (let i = intervals.length - 1; i >= 0 && requests < volume; i--, n++) requests += intervals[i]!.requests;
  if (requests < volume) return null;
  const dense = windowSketch;
  dense.reset();
  for (let i = intervals.length - n; i < intervals.length; i++) {
    const { bytes, latencyEnd } = intervals[i]!;
    if (bytes && latencyEnd > 0) dense.addBlob(bytes, 0, latencyEnd);
  }
  const [p50 = null, p99 = null] = dense.quantiles(QUANTILES);
  dense.reset();
  return { requests, intervals: n, p99, p50 };
}

/** A host's outbound calls over its window's intervals (from `from` on), per callee (their blobs gathered, not merged). */
function outboundOf(intervals: readonly LatencyInterval[], from: number): Calls | null {
  let outbound: Calls | null = null;
  for (let i = from; i < intervals.length; i++) {
    const { bytes, latencyEnd, outbound: flat } = intervals[i]!;
    if (!flat || !bytes) continue;
    for (let k = 0, start = latencyEnd; k < flat.length; k += 3) {
      const callee = flat[k] as string;
      const requests = flat[k + 1] as number;
      const end = flat[k + 2] as number;
      const latency = bytes.subarray(start, end);
      start = end;
      outbound ??= new Map();
      const into = outbound.get(callee);
      if (into) {
        into.requests += requests;
        into.latency.push(latency);
      } else outbound.set(callee, { requests, latency: [latency] });
    }
  }
  return outbound;
}

/** Per callee its p99 and p50, and the largest of each (null: no outbound samples). */
function outboundLatency(calls: Calls | null): OutboundLatency | null {
  const callees: OutboundLatency['callees'] = [];
  for (const [service, c] of [...(calls ?? [])].sort(([a], [b]) => a.localeCompare(b))) {
    const [p50 = null, p99 = null] = quantilesOfParts(c.latency, QUANTILES);
    if (p99 !== null && p50 !== null) callees.push({ service, requests: c.requests, p99, p50 });
  }
  if (callees.length === 0) return null;
  return {
    requests: callees.reduce((n, c) => n + c.requests, 0),
    p99: Math.max(...callees.map((c) => c.p99)),
    p50: Math.max(...callees.map((c) => c.p50)),
    callees,
  };
}

/** The latest refusal reported about the instance after its last heartbeat, when the rule uses refusals; else null. */
function refusedSince(s: InstanceSignals, rule: OutlierPolicy['heartbeat']): number | null {
  if (!(rule.refusedIntervals > 0) || s.refusedAt === null || s.lastHeartbeat === null || s.refusedAt <= s.lastHeartbeat) return null;
  return s.refusedAt;
}

function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function extend(streak: Streak, failures: number, window: WindowCounts): void {
  streak.failures += failures;
  streak.windows.push(window);
  if (streak.windows.length > MAX_STREAK_WINDOWS) streak.windows.shift();
}

/** Ends a streak (a window with a success). Its list is replaced, not emptied, when it holds windows: evidence may hold it; an empty one stays (no new array per healthy window). */
function reset(streak: Streak): void {
  streak.failures = 0;
  if (streak.windows.length > 0) streak.windows = [];
}

/** Median; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * For each value, the median of all the others: what median() gives for the list without it
 * (NaN for a list of one), from one sort instead of one per value.
 */
export function peerMedians(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const sorted = order.map((i) => values[i]!);
  const out = new Array<number>(values.length);
  const m = values.length - 1;
  order.forEach((index, k) => {
    // The sorted values with the one at k left out.
    const at = (j: number) => sorted[j < k ? j : j + 1]!;
    out[index] = m === 0 ? NaN : m % 2 ? at(m >> 1) : (at((m >> 1) - 1) + at(m >> 1)) / 2;
  });
  return out;
}

function pct(v: number): string {
  return `${v.toFixed(1)} %`;
}

function ms(v: number): string {
  return `${v.toFixed(1)} ms`;
}
