/**
 * A circuit breaker per edge (caller service → callee service). Pure: every call takes `now`.
 *
 *   closed ──(consecutiveFailures in a row, or failure rate >= threshold over the rolling
 *             window once failureRateMinRequests were seen)──► open
 *   open ──(openMs elapsed; checked by poll/admit/record)──► half-open
 *   half-open: lets halfOpenProbes requests through, refuses the rest;
 *              all probes succeed ──► closed (counters and window cleared)
 *              any probe fails ──► open again (for openMs)
 *
 * Independently of the state, `admit` refuses a request when the caller already has maxInflight
 * requests in flight on the edge or maxPending waiting (Envoy's max_requests and
 * max_pending_requests thresholds, which are overflow limits, not states). Envoy has no
 * open/half-open state machine; with `enabled: false` only the limits apply.
 *
 * Outcomes come either per request (`record`) — the sidecar's view — or per telemetry window
 * (`recordWindow`) — the core's view, aggregated over the edge's callers. Windows count the
 * streak the same way as the outlier detector: a window in which every request failed adds its
 * failures, a window with a success resets it.
 *
 * The rolling window is 10 buckets of windowMs / 10; a bucket counts while its start is within
 * the last windowMs. The failure rate is compared with >=, the consecutive count with >=: exactly
 * at the threshold opens. Outcomes that arrive while open (requests sent before it opened) are ignored.
 *
 * An operator can `trip` the breaker (open until `reset`, or for a duration after which it goes
 * half-open like any open breaker) and `reset` it (closed, counters cleared) whatever its state.
 */
import type { OutlierPolicy } from './policy.js';

export type BreakerState = 'closed' | 'open' | 'half-open';
export type BreakerSettings = OutlierPolicy['circuitBreaker'];

export interface Edge {
  from: string;
  to: string;
}

export type BreakerRule = 'consecutive-failures' | 'failure-rate' | 'open-elapsed' | 'probes-succeeded' | 'probe-failed' | 'manual-trip' | 'manual-reset';

export interface BreakerEvidence {
  rule: BreakerRule;
  at: number;
  samples: {
    consecutiveFailures: number;
    /** Requests and failures in the rolling window (closed) or among the probes (half-open). */
    requests: number;
    failures: number;
    failureRate: number;
    openedAt?: number;
    probeSuccesses?: number;
  };
  thresholds: {
    consecutiveFailures: number;
    failureRateThreshold: number;
    failureRateWindowMs: number;
    failureRateMinRequests: number;
    openMs: number;
    halfOpenProbes: number;
  };
}

export interface BreakerTransition {
  edge: Edge;
  at: number;
  from: BreakerState;
  to: BreakerState;
  /** open: when it will let probes through. Otherwise null. */
  until: number | null;
  reason: string;
  evidence: BreakerEvidence;
}

export type AdmissionReason = 'closed' | 'half-open-probe' | 'open' | 'probes-in-flight' | 'max-inflight' | 'max-pending';

export interface Admission {
  allowed: boolean;
  state: BreakerState;
  reason: AdmissionReason;
  /** Refusals: what was counted against which limit. */
  detail: string;
  /** The open → half-open transition this call caused, if any. */
  transition: BreakerTransition | null;
}

export interface BreakerSnapshot {
  edge: Edge;
  state: BreakerState;
  until: number | null;
  /** Opened by trip() and not yet reset or elapsed. */
  manual: boolean;
  consecutiveFailures: number;
  window: { requests: number; failures: number };
  probesAdmitted: number;
  probeSuccesses: number;
  last: BreakerTransition | null;
}

const BUCKETS = 10;

interface Bucket {
  start: number;
  requests: number;
  failures: number;
}

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private openedAt = 0;
  private until: number | null = null;
  private consecutive = 0;
  private buckets: Bucket[] = [];
  private probesAdmitted = 0;
  private probeSuccesses = 0;
  private last: BreakerTransition | null = null;
  private manual = false;

  constructor(
    readonly edge: Edge,
    private settings: BreakerSettings,
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /** Opened by an operator and not yet reset (or its duration elapsed). */
  get tripped(): boolean {
    return this.manual;
  }

  /** New settings (a policy change); the state is kept. */
  configure(settings: BreakerSettings): void {
    this.settings = settings;
  }

  /** Moves open → half-open once openMs has passed. */
  poll(now: number): BreakerTransition | null {
    if (this.current !== 'open' || this.until === null || now < this.until) return null;
    const evidence = this.evidence('open-elapsed', now, { openedAt: this.openedAt });
    this.probesAdmitted = 0;
    this.probeSuccesses = 0;
    const why = this.manual ? `tripped by an operator ${now - this.openedAt} ms ago, duration over` : `open for ${now - this.openedAt} ms (>= ${this.settings.openMs} ms)`;
    this.manual = false;
    return this.move('half-open', now, null, `${why}: letting ${this.settings.halfOpenProbes} probe(s) through`, evidence);
  }

  /**
   * May one more request go out? `inflight`: requests sent on this edge and not answered;
   * `pending`: requests waiting in the caller for a slot. An allowed half-open request is a probe:
   * report its outcome with record().
   */
  admit(now: number, load: { inflight: number; pending?: number } = { inflight: 0 }): Admission {
    const transition = this.poll(now);
    const s = this.settings;
    const pending = load.pending ?? 0;
    if (load.inflight >= s.maxInflight) {
      return { allowed: false, state: this.current, reason: 'max-inflight', detail: `${load.inflight} in flight >= max ${s.maxInflight}`, transition };
    }
    if (pending >= s.maxPending) {
      return { allowed: false, state: this.current, reason: 'max-pending', detail: `${pending} pending >= max ${s.maxPending}`, transition };
    }
    if (this.current === 'open' && this.manual) {
      return { allowed: false, state: 'open', reason: 'open', detail: this.until === null ? 'tripped by an operator until reset' : `tripped by an operator until ${this.until}`, transition };
    }
    if (!s.enabled || this.current === 'closed') return { allowed: true, state: this.current, reason: 'closed', detail: '', transition };
    if (this.current === 'open') {
      return { allowed: false, state: 'open', reason: 'open', detail: `open until ${this.until ?? now}`, transition };
    }
    if (this.probesAdmitted >= s.halfOpenProbes) {
      return { allowed: false, state: 'half-open', reason: 'probes-in-flight', detail: `${this.probesAdmitted} of ${s.halfOpenProbes} probes already let through`, transition };
    }
    this.probesAdmitted++;
    return { allowed: true, state: 'half-open', reason: 'half-open-probe', detail: `probe ${this.probesAdmitted} of ${s.halfOpenProbes}`, transition };
  }

  /** An admitted request that went out without an outcome to record: a half-open probe slot is given back. */
  abandon(): void {
    if (this.current === 'half-open' && this.probesAdmitted > 0) this.probesAdmitted--;
  }

  /** One request's outcome (ok: answered without 5xx, connect error or timeout). */
  record(now: number, ok: boolean): BreakerTransition | null {
    return this.recordWindow(now, { requests: 1, failures: ok ? 0 : 1 });
  }

  /** Outcomes of a telemetry window (or any batch) on this edge. */
  recordWindow(now: number, window: { requests: number; failures: number }): BreakerTransition | null {
    const polled = this.poll(now);
    const failures = Math.max(0, Math.floor(window.failures));
    const requests = Math.max(Math.floor(window.requests), failures);
    if (requests === 0 || !this.settings.enabled) return polled;
    switch (this.current) {
      case 'open':
        return polled;
      case 'half-open': {
        if (failures > 0) {
          const evidence = this.evidence('probe-failed', now, { probeSuccesses: this.probeSuccesses }, { requests, failures });
          return this.open(now, `probe failed (${failures} of ${requests}) while half-open`, evidence);
        }
        this.probeSuccesses += requests;
        if (this.probeSuccesses < this.settings.halfOpenProbes) return polled;
        const evidence = this.evidence('probes-succeeded', now, { probeSuccesses: this.probeSuccesses }, { requests: this.probeSuccesses, failures: 0 });
        this.consecutive = 0;
        this.buckets = [];
        return this.move('closed', now, null, `${this.probeSuccesses} probe(s) succeeded (${this.settings.halfOpenProbes} required)`, evidence);
      }
      case 'closed': {
        this.add(now, requests, failures);
        if (failures === requests) this.consecutive += failures;
        else this.consecutive = 0;
        const s = this.settings;
        if (this.consecutive >= s.consecutiveFailures) {
          return this.open(now, `${this.consecutive} consecutive failures >= ${s.consecutiveFailures}`, this.evidence('consecutive-failures', now));
        }
        const w = this.windowTotals(now);
        if (w.requests >= s.failureRateMinRequests && w.failures / w.requests >= s.failureRateThreshold) {
          return this.open(
            now,
            `failure rate ${((w.failures / w.requests) * 100).toFixed(1)} % (${w.failures}/${w.requests} in ${s.failureRateWindowMs} ms) >= ${(s.failureRateThreshold * 100).toFixed(1)} %`,
            this.evidence('failure-rate', now),
          );
        }
        return polled;
      }
    }
  }

  /**
   * Operator trip: open now, refusing everything until reset() or, with `durationMs`, until that
   * time has passed (then half-open, as after openMs). Works with `enabled: false` too.
   */
  trip(now: number, durationMs: number | null, reason: string): BreakerTransition {
    this.poll(now);
    const evidence = this.evidence('manual-trip', now);
    this.openedAt = now;
    this.probesAdmitted = 0;
    this.probeSuccesses = 0;
    this.manual = true;
    return this.move('open', now, durationMs === null ? null : now + durationMs, reason, evidence);
  }

  /** Operator reset: closed now, with the streak, the rolling window and any trip cleared. */
  reset(now: number, reason: string): BreakerTransition {
    const evidence = this.evidence('manual-reset', now);
    this.manual = false;
    this.consecutive = 0;
    this.buckets = [];
    this.probesAdmitted = 0;
    this.probeSuccesses = 0;
    return this.move('closed', now, null, reason, evidence);
  }

  snapshot(now: number): BreakerSnapshot {
    return {
      edge: this.edge,
      state: this.current,
      until: this.until,
      manual: this.manual,
      consecutiveFailures: this.consecutive,
      window: this.windowTotals(now),
      probesAdmitted: this.probesAdmitted,
      probeSuccesses: this.probeSuccesses,
      last: this.last,
    };
  }

  private open(now: number, reason: string, evidence: BreakerEvidence): BreakerTransition {
    this.openedAt = now;
    this.manual = false;
    this.consecutive = 0;
    this.buckets = [];
    this.probesAdmitted = 0;
    this.probeSuccesses = 0;
    return this.move('open', now, now + this.settings.openMs, reason, evidence);
  }

  private move(to: BreakerState, now: number, until: number | null, reason: string, evidence: BreakerEvidence): BreakerTransition {
    const t: BreakerTransition = { edge: this.edge, at: now, from: this.current, to, until, reason, evidence };
    this.current = to;
    this.until = until;
    this.last = t;
    return t;
  }

  private add(now: number, requests: number, failures: number): void {
    const size = Math.max(1, Math.floor(this.settings.failureRateWindowMs / BUCKETS));
    const start = Math.floor(now / size) * size;
    const lastBucket = this.buckets.at(-1);
    if (lastBucket && lastBucket.start === start) {
      lastBucket.requests += requests;
      lastBucket.failures += failures;
    } else this.buckets.push({ start, requests, failures });
    this.prune(now);
  }

  /** A bucket counts while its start is within the last windowMs (so an outcome counts for 0.9 to 1 × windowMs). */
  private prune(now: number): void {
    const since = now - this.settings.failureRateWindowMs;
    this.buckets = this.buckets.filter((b) => b.start > since);
  }

  private windowTotals(now: number): { requests: number; failures: number } {
    this.prune(now);
    let requests = 0;
    let failures = 0;
    for (const b of this.buckets) {
      requests += b.requests;
      failures += b.failures;
    }
    return { requests, failures };
  }

  private evidence(rule: BreakerRule, now: number, extra: { openedAt?: number; probeSuccesses?: number } = {}, counts?: { requests: number; failures: number }): BreakerEvidence {
    const s = this.settings;
    const w = counts ?? this.windowTotals(now);
    return {
      rule,
      at: now,
      samples: { consecutiveFailures: this.consecutive, requests: w.requests, failures: w.failures, failureRate: w.requests ? w.failures / w.requests : 0, ...extra },
      thresholds: {
        consecutiveFailures: s.consecutiveFailures,
        failureRateThreshold: s.failureRateThreshold,
        failureRateWindowMs: s.failureRateWindowMs,
        failureRateMinRequests: s.failureRateMinRequests,
        openMs: s.openMs,
        halfOpenProbes: s.halfOpenProbes,
      },
    };
  }
}

/** True when every setting is equal. */
export function sameBreakerSettings(a: BreakerSettings, b: BreakerSettings): boolean {
  return (Object.keys(a) as Array<keyof BreakerSettings>).every((k) => a[k] === b[k]);
}

/** One breaker per edge, made on first use with the callee's settings. */
export class CircuitBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>();

  get(from: string, to: string, settings: BreakerSettings): CircuitBreaker {
    const key = `${from}\u0000${to}`;
    let breaker = this.breakers.get(key);
    if (!breaker) {
      breaker = new CircuitBreaker({ from, to }, settings);
      this.breakers.set(key, breaker);
    } else breaker.configure(settings);
    return breaker;
  }

  all(): CircuitBreaker[] {
    return [...this.breakers.values()];
  }

  delete(from: string, to: string): void {
    this.breakers.delete(`${from}\u0000${to}`);
  }
}
