/**
 * Ejection state per service: turns the detector's decisions (core/health/detector.ts) into
 * instance state transitions, each with its evidence. Pure: time comes in as `now`.
 *
 *            eject (cap allows)               ejection time elapsed
 *   healthy ─────────────────────► ejected ─────────────────────────► probing
 *      ▲                             ▲  ▲                                │
 *      │   probe.successesRequired   │  └── probe-failure / eject ───────┤ (next backoff)
 *      └──── successful windows ─────┼───────────────────────────────────┘
 *                                    └── heartbeat lost (held until heartbeats resume)
 *
 * Envoy's rules, with the differences named:
 *
 * - Duration. Each ejection increments a backoff multiplier k (while k × base < max + base, as
 *   Envoy) and lasts min(base × k, max): 10 s, 20 s, 30 s … with our defaults (linear, so the
 *   second ejection is twice the first, then capped at max).
 * - Decay. While an instance stays healthy after being restored, k drops by one every
 *   `ejection.decayMs` (Envoy: every `interval` sweep once an interval has passed since the
 *   unejection; ours is counted from the restore time, so it does not depend on how often
 *   apply() is called).
 * - Cap. An outlier ejection is allowed when 100 × (held + 1) <= maxEjectionPercent × hosts,
 *   compared in integers: `held` counts instances ejected or probing because of outlier
 *   detection, `hosts` every listed instance. So with 50 %: 1 of 2, 2 of 4, 2 of 5 (2.5 rounds
 *   down), 0 of 1. `alwaysEjectOne` (Envoy's always_eject_one_host, default off in both) also
 *   allows the first ejection whatever the percent. A refused ejection is reported as overflow.
 *   Re-ejecting a probing instance is always allowed: it is already held out.
 * - Heartbeat. An instance that stopped heartbeating is ejected without a cap (it is gone, not an
 *   outlier; Envoy likewise does not cap active health-check failures), does not bump the
 *   backoff, and stays ejected (`until: null`) until a `restore-probe` says heartbeats resumed.
 * - Half-open (Meshdeck). When the ejection time ends, the instance goes to `probing`: it takes
 *   `probe.share` of its normal traffic; after `probe.successesRequired` successful windows it is
 *   healthy again; a failed window or any eject decision re-ejects it with the next backoff.
 *   successesRequired = 0 restores at once, as Envoy does.
 * - Panic. Each step reports the healthy share and whether the balancer (core/balancer/locality,
 *   one priority level) is in panic: share < panicThreshold and the level is short
 *   (overprovisioningFactor × share < 1). Then the balancers send traffic to every instance,
 *   ejected ones included; the status says so, so a console can explain why ejected instances
 *   still get traffic.
 */
import type { DecisionKind, Evidence, OutlierDecision } from '../health/evidence.js';
import type { OutlierPolicy } from './policy.js';
import { priorityLevels } from './locality.js';

export type HostState = 'healthy' | 'ejected' | 'probing';

/** Evidence the tracker adds itself (time-driven transitions and refusals). */
export type TrackerEvidence =
  | { rule: 'ejection-elapsed'; at: number; samples: { ejectedAt: number; durationMs: number; backoff: number }; thresholds: { baseMs: number; maxMs: number } }
  | { rule: 'probe-restored'; at: number; samples: { successes: number; probeEvidence: Evidence }; thresholds: { successesRequired: number } }
  | { rule: 'heartbeat-resumed'; at: number; samples: { ejectedAt: number; until: number | null; heartbeatEvidence: Evidence }; thresholds: Record<string, never> };

export interface EjectionTransition {
  service: string;
  instanceId: string;
  at: number;
  from: HostState;
  to: HostState;
  /** ejected: when probing starts (null: held until heartbeats resume). Otherwise null. */
  until: number | null;
  /** ejected: this ejection's length (null when held for heartbeat). */
  durationMs: number | null;
  /** Backoff multiplier after the transition (Envoy's eject time backoff). */
  backoff: number;
  /** Ejections of this instance so far (Envoy's num_ejections). */
  ejections: number;
  reason: string;
  evidence: Evidence | TrackerEvidence;
}

export interface EjectionOverflow {
  instanceId: string;
  at: number;
  reason: string;
  /** Outlier-held instances, all instances, and the policy's percent. */
  held: number;
  hosts: number;
  maxEjectionPercent: number;
  decision: OutlierDecision;
}

export interface ServiceHealthStatus {
  hosts: number;
  healthy: number;
  ejected: number;
  probing: number;
  /** healthy / hosts (1 with no hosts). */
  healthyShare: number;
  panicThreshold: number;
  /** The balancer's panic mode for this service (one priority level); see the file header. */
  panic: boolean;
  /** One line for people, set when panic is true. */
  panicReason: string | null;
}

export interface InstanceHealth {
  instanceId: string;
  state: HostState;
  /** Multiply the endpoint's weight by this: 1 healthy, probe.share probing, 0 ejected. */
  weightFactor: number;
  until: number | null;
  backoff: number;
  ejections: number;
  probeSuccesses: number;
  /** Ejected for lost heartbeats: stays so until they resume. */
  heartbeatHold: boolean;
  /** The transition that put it in its state (null: healthy since first seen). */
  last: EjectionTransition | null;
}

export interface TrackerStep {
  service: string;
  at: number;
  transitions: EjectionTransition[];
  /** Ejections refused by maxEjectionPercent (Envoy's ejections_overflow). */
  overflow: EjectionOverflow[];
  /** Detections with enforced = false: what would have been ejected. */
  reported: OutlierDecision[];
  /** Backoff multipliers that decayed in this step. */
  decayed: Array<{ instanceId: string; from: number; to: number }>;
  status: ServiceHealthStatus;
}

type StepLog = Omit<TrackerStep, 'status'>;

interface HostRecord {
  state: HostState;
  /** Why it is held out: outlier detection (capped) or a lost heartbeat (not capped). */
  origin: 'outlier' | 'heartbeat' | null;
  backoff: number;
  ejections: number;
  ejectedAt: number | null;
  until: number | null;
  durationMs: number | null;
  heartbeatHold: boolean;
  probeSuccesses: number;
  /** Restore time, then advanced by each decay step. */
  decayFrom: number | null;
  last: EjectionTransition | null;
}

export class EjectionTracker {
  private readonly services = new Map<string, Map<string, HostRecord>>();

  /**
   * One step for `service`: syncs the instance list (new ones start healthy, missing ones are
   * forgotten), applies time (ejections that ended, backoff decay), then the decisions in order.
   * Call it after every evaluate() and at least once per interval so that time-driven
   * transitions happen.
   */
  apply(service: string, instances: readonly string[], decisions: readonly OutlierDecision[], policy: OutlierPolicy, now: number): TrackerStep {
    const hosts = this.sync(service, instances);
    const step: Omit<TrackerStep, 'status'> = { service, at: now, transitions: [], overflow: [], reported: [], decayed: [] };

    for (const [id, r] of hosts) {
      if (r.state === 'ejected' && r.until !== null && now >= r.until && !r.heartbeatHold) {
        this.endEjection(service, id, r, policy, now, step, {
          rule: 'ejection-elapsed',
          at: now,
          samples: { ejectedAt: r.ejectedAt ?? now, durationMs: r.durationMs ?? 0, backoff: r.backoff },
          thresholds: { baseMs: policy.ejection.baseMs, maxMs: policy.ejection.maxMs },
        });
      }
      if (r.state === 'healthy' && r.backoff > 0 && r.decayFrom !== null) {
        const steps = Math.floor((now - r.decayFrom) / policy.ejection.decayMs);
        if (steps > 0) {
          const from = r.backoff;
          r.backoff = Math.max(0, r.backoff - steps);
          r.decayFrom += steps * policy.ejection.decayMs;
          step.decayed.push({ instanceId: id, from, to: r.backoff });
        }
      }
    }

    for (const d of decisions) {
      if (d.service !== service) continue;
      const r = hosts.get(d.instanceId);
      if (!r) continue;
      this.decide(service, d, r, hosts, policy, now, step);
    }

    return { ...step, status: this.status(hosts, policy) };
  }

  /** Per-instance view (sorted by id), e.g. for building endpoint sets and the console. */
  instances(service: string, policy: Pick<OutlierPolicy, 'probe'>): InstanceHealth[] {
    const hosts = this.services.get(service);
    if (!hosts) return [];
    return [...hosts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([instanceId, r]) => ({
        instanceId,
        state: r.state,
        weightFactor: r.state === 'healthy' ? 1 : r.state === 'probing' ? policy.probe.share : 0,
        until: r.until,
        backoff: r.backoff,
        ejections: r.ejections,
        probeSuccesses: r.probeSuccesses,
        heartbeatHold: r.heartbeatHold,
        last: r.last,
      }));
  }

  /** Ids in a state: pass `ejected` and `probing` to OutlierDetector.evaluate(). */
  inState(service: string, state: HostState): string[] {
    const hosts = this.services.get(service);
    return hosts ? [...hosts].filter(([, r]) => r.state === state).map(([id]) => id).sort() : [];
  }

  forget(service: string): void {
    this.services.delete(service);
  }

  // --- internals

  private decide(service: string, d: OutlierDecision, r: HostRecord, hosts: Map<string, HostRecord>, policy: OutlierPolicy, now: number, step: StepLog): void {
    const kind: DecisionKind = d.kind;
    switch (kind) {
      case 'eject': {
        if (!d.enforced) {
          step.reported.push(d);
          return;
        }
        const heartbeat = d.evidence.rule === 'heartbeat';
        if (r.state === 'ejected') {
          if (heartbeat && !r.heartbeatHold) r.heartbeatHold = true; // stays ejected until heartbeats resume
          return;
        }
        if (heartbeat) {
          this.holdForHeartbeat(service, d, r, now, step);
          return;
        }
        if (r.state === 'probing') {
          this.eject(service, d.instanceId, r, policy, now, step, `failed while probing: ${d.reason}`, d.evidence);
          return;
        }
        const held = [...hosts.values()].filter((h) => h.origin === 'outlier' && h.state !== 'healthy').length;
        if (!ejectionAllowed(held, hosts.size, policy.ejection)) {
          step.overflow.push({
            instanceId: d.instanceId,
            at: now,
            reason: `not ejected: ${held + 1} of ${hosts.size} would exceed max ejection ${policy.ejection.maxEjectionPercent} %`,
            held,
            hosts: hosts.size,
            maxEjectionPercent: policy.ejection.maxEjectionPercent,
            decision: d,
          });
          return;
        }
        this.eject(service, d.instanceId, r, policy, now, step, d.reason, d.evidence);
        return;
      }
      case 'probe-failure':
        if (r.state === 'probing') this.eject(service, d.instanceId, r, policy, now, step, d.reason, d.evidence);
        return;
      case 'probe-success': {
        if (r.state !== 'probing' || d.evidence.rule !== 'probe') return;
        r.probeSuccesses += d.evidence.samples.succeeded;
        if (r.probeSuccesses >= policy.probe.successesRequired) {
          this.restore(service, d.instanceId, r, now, step, `${r.probeSuccesses} successful probe window(s) (${policy.probe.successesRequired} required)`, {
            rule: 'probe-restored',
            at: now,
            samples: { successes: r.probeSuccesses, probeEvidence: d.evidence },
            thresholds: { successesRequired: policy.probe.successesRequired },
          });
        }
        return;
      }
      case 'restore-probe': {
        if (r.state !== 'ejected' || !r.heartbeatHold) return;
        r.heartbeatHold = false;
        // An outlier ejection that is still running keeps its time; a heartbeat-only one ends now.
        if (r.until === null || now >= r.until) {
          this.endEjection(service, d.instanceId, r, policy, now, step, {
            rule: 'heartbeat-resumed',
            at: now,
            samples: { ejectedAt: r.ejectedAt ?? now, until: r.until, heartbeatEvidence: d.evidence },
            thresholds: {},
          });
        }
        return;
      }
    }
  }

  private eject(service: string, id: string, r: HostRecord, policy: OutlierPolicy, now: number, step: StepLog, reason: string, evidence: Evidence): void {
    const { baseMs, maxMs } = policy.ejection;
    // Envoy: the multiplier grows while k × base < max + base, so one decay step from the cap
    // still gives the maximum duration.
    if (r.backoff * baseMs < maxMs + baseMs) r.backoff++;
    const durationMs = Math.min(baseMs * r.backoff, maxMs);
    const from = r.state;
    r.state = 'ejected';
    r.origin = 'outlier';
    r.ejections++;
    r.ejectedAt = now;
    r.until = now + durationMs;
    r.durationMs = durationMs;
    r.probeSuccesses = 0;
    r.decayFrom = null;
    this.record(step, r, { service, instanceId: id, at: now, from, to: 'ejected', until: r.until, durationMs, backoff: r.backoff, ejections: r.ejections, reason, evidence });
  }

  private holdForHeartbeat(service: string, d: OutlierDecision, r: HostRecord, now: number, step: StepLog): void {
    const from = r.state;
    r.state = 'ejected';
    r.origin = 'heartbeat';
    r.heartbeatHold = true;
    r.ejections++;
    r.ejectedAt = now;
    r.until = null;
    r.durationMs = null;
    r.probeSuccesses = 0;
    r.decayFrom = null;
    this.record(step, r, {
      service,
      instanceId: d.instanceId,
      at: now,
      from,
      to: 'ejected',
      until: null,
      durationMs: null,
      backoff: r.backoff,
      ejections: r.ejections,
      reason: d.reason,
      evidence: d.evidence,
    });
  }

  private endEjection(service: string, id: string, r: HostRecord, policy: OutlierPolicy, now: number, step: StepLog, evidence: TrackerEvidence): void {
    const how = evidence.rule === 'heartbeat-resumed' ? 'heartbeats resumed' : `ejection of ${r.durationMs ?? 0} ms ended`;
    if (policy.probe.successesRequired === 0) {
      this.restore(service, id, r, now, step, `${how}; restored without probing`, evidence);
      return;
    }
    r.state = 'probing';
    r.until = null;
    r.probeSuccesses = 0;
    this.record(step, r, {
      service,
      instanceId: id,
      at: now,
      from: 'ejected',
      to: 'probing',
      until: null,
      durationMs: null,
      backoff: r.backoff,
      ejections: r.ejections,
      reason: `${how}; probing with ${policy.probe.share * 100} % of its traffic until ${policy.probe.successesRequired} windows succeed`,
      evidence,
    });
  }

  private restore(service: string, id: string, r: HostRecord, now: number, step: StepLog, reason: string, evidence: Evidence | TrackerEvidence): void {
    const from = r.state;
    r.state = 'healthy';
    r.origin = null;
    r.until = null;
    r.durationMs = null;
    r.heartbeatHold = false;
    r.probeSuccesses = 0;
    r.decayFrom = now;
    this.record(step, r, { service, instanceId: id, at: now, from, to: 'healthy', until: null, durationMs: null, backoff: r.backoff, ejections: r.ejections, reason, evidence });
  }

  private record(step: StepLog, r: HostRecord, t: EjectionTransition): void {
    r.last = t;
    step.transitions.push(t);
  }

  private sync(service: string, instances: readonly string[]): Map<string, HostRecord> {
    let hosts = this.services.get(service);
    if (!hosts) {
      hosts = new Map();
      this.services.set(service, hosts);
    }
    const listed = new Set(instances);
    for (const id of hosts.keys()) if (!listed.has(id)) hosts.delete(id);
    for (const id of listed) {
      if (!hosts.has(id)) {
        hosts.set(id, {
          state: 'healthy',
          origin: null,
          backoff: 0,
          ejections: 0,
          ejectedAt: null,
          until: null,
          durationMs: null,
          heartbeatHold: false,
          probeSuccesses: 0,
          decayFrom: null,
          last: null,
        });
      }
    }
    return hosts;
  }

  private status(hosts: Map<string, HostRecord>, policy: OutlierPolicy): ServiceHealthStatus {
    let healthy = 0;
    let ejected = 0;
    let probing = 0;
    for (const r of hosts.values()) {
      if (r.state === 'healthy') healthy++;
      else if (r.state === 'ejected') ejected++;
      else probing++;
    }
    const total = hosts.size;
    const [level] = priorityLevels([{ endpoints: total, available: healthy }], policy.overprovisioningFactor, policy.panicThreshold);
    const panic = total > 0 && level !== undefined && level.panic;
    const healthyShare = total === 0 ? 1 : healthy / total;
    return {
      hosts: total,
      healthy,
      ejected,
      probing,
      healthyShare,
      panicThreshold: policy.panicThreshold,
      panic,
      panicReason: panic
        ? `${healthy} of ${total} instances healthy (${(healthyShare * 100).toFixed(1)} %) < panic threshold ${(policy.panicThreshold * 100).toFixed(0)} %: balancers ignore health and spread traffic over all ${total}, ejected ones included`
        : null,
    };
  }
}

/**
 * Whether one more outlier ejection fits: 100 × (held + 1) <= maxEjectionPercent × hosts (exact,
 * in integers, as Envoy's `100 × (ejected + 1) / hosts <= max`), or alwaysEjectOne and none held.
 */
export function ejectionAllowed(held: number, hosts: number, ejection: Pick<OutlierPolicy['ejection'], 'maxEjectionPercent' | 'alwaysEjectOne'>): boolean {
  if (hosts <= 0) return false;
  if (100 * (held + 1) <= ejection.maxEjectionPercent * hosts) return true;
  return ejection.alwaysEjectOne && held === 0;
}

/** Most instances of `hosts` that outlier detection may hold out at once. */
export function maxEjectable(hosts: number, ejection: Pick<OutlierPolicy['ejection'], 'maxEjectionPercent' | 'alwaysEjectOne'>): number {
  if (hosts <= 0) return 0;
  const byPercent = Math.floor((ejection.maxEjectionPercent * hosts) / 100);
  return ejection.alwaysEjectOne ? Math.max(1, byPercent) : byPercent;
}
