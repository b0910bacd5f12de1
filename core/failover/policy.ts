/**
 * The per-service fault-detection and recovery policy: which outliers to eject and how, how
 * ejected instances come back, per-edge circuit breaking, zone failover and fail-back. Persisted
 * as JSON (one object per service); `OutlierPolicy.parse({})` gives Meshdeck's defaults and
 * `ENVOY_DEFAULTS` the preset with Envoy's documented outlier-detection defaults.
 *
 * Units are in the field names: `…Ms` milliseconds, `…Percent` an integer 0..100 (Envoy's
 * percent fields), `…Share`/`…Rate`/`panicThreshold` a fraction 0..1 (the balancer's units),
 * counts are integers. Every field is documented below and in README.md (with Envoy's values and
 * why ours differ).
 *
 * Unknown keys are refused (a typo in a stored policy must not silently fall back to a default).
 */
import { z } from 'zod';
import { DEFAULTS as BALANCER_DEFAULTS } from '../balancer/options.js';
import { parseSettings } from '../lib/errors.js';

const Ms = z.number().int().min(0).max(86_400_000);
const PositiveMs = z.number().int().min(1).max(86_400_000);
const Count = z.number().int().min(1).max(1_000_000);
const Percent = z.number().int().min(0).max(100);
const Fraction = z.number().min(0).max(1);

/** Consecutive failures: 5xx + connect + timeout (Envoy's consecutive_5xx, local-origin errors folded in). */
const ConsecutiveFailures = z
  .object({
    enabled: z.boolean().default(true),
    /** Failed requests in a row (see the window approximation in core/health/detector.ts). */
    threshold: Count.default(3),
    /** Chance (%) that a detection is enforced; below 100 some are only reported. */
    enforcingPercent: Percent.default(100),
  })
  .strict();

/** Consecutive gateway failures: connect + timeout only (Envoy: 502/503/504 and local-origin errors). */
const ConsecutiveGatewayFailures = z
  .object({
    enabled: z.boolean().default(true),
    threshold: Count.default(3),
    enforcingPercent: Percent.default(100),
  })
  .strict();

/** Envoy's success-rate outlier detection (mean − stdevFactor × stdev, population stdev, rates in %). */
const SuccessRate = z
  .object({
    enabled: z.boolean().default(true),
    /** Hosts with at least `requestVolume` requests (within `maxIntervals`) needed to run the rule at all. */
    minimumHosts: Count.default(3),
    /**
     * Requests a host needs to be part of the statistics: gathered over its most recent intervals
     * (newest first) until there are this many, over at most `maxIntervals` of them.
     */
    requestVolume: Count.default(20),
    /**
     * How many of its most recent intervals a host's success rate may span to reach
     * `requestVolume`: 1 is Envoy's rule (the last interval alone); 10 lets a host with 2
     * requests/s be judged on its last 10 s.
     */
    maxIntervals: z.number().int().min(1).max(60).default(10),
    /** Envoy's success_rate_stdev_factor / 1000 (1900 → 1.9). */
    stdevFactor: z.number().min(0).max(100).default(1.9),
    enforcingPercent: Percent.default(100),
  })
  .strict();

/** Latency outliers (Meshdeck only): p99 above max(floorMs, factor × median of the other hosts' p99s). */
const Latency = z
  .object({
    enabled: z.boolean().default(true),
    /** How many times the service's median p99 a host's p99 may reach. */
    factor: z.number().min(1).max(1000).default(3),
    /** Absolute floor of the threshold (ms): below it no host is a latency outlier. */
    floorMs: z.number().min(0).max(3_600_000).default(50),
    /** Hosts with enough requests needed to compute a median at all. */
    minimumHosts: Count.default(2),
    /**
     * Requests a host needs for its p99 to count: gathered over its most recent intervals (newest
     * first) until there are this many, over at most `maxIntervals` of them.
     */
    requestVolume: Count.default(50),
    /**
     * How many of its most recent intervals a host's p99 may span to reach `requestVolume`: 1 is
     * one interval only (as the success-rate rule); 10 lets a host with 5 requests/s be judged
     * on its last 10 s.
     */
    maxIntervals: z.number().int().min(1).max(60).default(10),
    enforcingPercent: Percent.default(100),
  })
  .strict();

/** Direct signals (Meshdeck only): sidecars report connect-refused / reset at once. */
const DirectSignal = z
  .object({
    enabled: z.boolean().default(true),
    /** Reports about one instance within `windowMs` that make it an ejection candidate. */
    threshold: Count.default(3),
    windowMs: PositiveMs.default(2_000),
    enforcingPercent: Percent.default(100),
  })
  .strict();

/** Heartbeat liveness: silent longer than missedIntervals × the instance's heartbeat interval. */
const Heartbeat = z
  .object({
    enabled: z.boolean().default(true),
    /** TTL = missedIntervals × heartbeatIntervalMs (the registry's missedHeartbeats, 3). */
    missedIntervals: Count.default(3),
    /**
     * The shorter TTL, in heartbeat intervals, of an instance a caller could not connect to
     * (a connect-refused report) after its last heartbeat: nothing listens there and it has not
     * said otherwise since. 0: no shorter TTL (the Envoy preset: no direct signals).
     */
    refusedIntervals: z.number().min(0).max(1000).default(1),
  })
  .strict();

const Ejection = z
  .object({
    /** First ejection lasts this long; the n-th (without decay) n × this, capped at maxMs. */
    baseMs: PositiveMs.default(10_000),
    /** Longest ejection. */
    maxMs: PositiveMs.default(120_000),
    /** Most of a service's instances (%) that outlier detection may hold out at once. */
    maxEjectionPercent: Percent.default(50),
    /** Envoy's always_eject_one_host: allow one ejection even when the percent does not. */
    alwaysEjectOne: z.boolean().default(false),
    /** Time healthy after which the backoff multiplier drops by one (Envoy: every interval). */
    decayMs: PositiveMs.default(30_000),
  })
  .strict();

/** Half-open re-admission of an instance whose ejection time has elapsed. */
const Probe = z
  .object({
    /** Probe traffic as a share of the instance's normal traffic (its weight is multiplied by it). */
    share: z.number().gt(0).max(1).default(0.05),
    /** Successful observation windows needed before full restore; 0 = restore at once (Envoy). */
    successesRequired: z.number().int().min(0).max(1000).default(3),
    /** Requests a window needs to count as a probe observation at all. */
    minRequests: Count.default(1),
    /** Failed share of a probe window (5xx + connect + timeout) above which the probe fails. */
    maxFailureRate: Fraction.default(0.1),
  })
  .strict();

/** Gradual fail-back of a recovering zone (see core/failover/locality.ts). */
const Failback = z
  .object({
    /** Effective zone health admitted per interval (0.25 → the zone's share grows ≈ 25 points per step). */
    step: z.number().gt(0).max(1).default(0.25),
    /** Time between steps; 0 = restore at once (Envoy). */
    intervalMs: Ms.default(5_000),
  })
  .strict();

/** Per edge (caller service → this service). */
const CircuitBreaker = z
  .object({
    /** Requests waiting in the caller for a slot; more are refused at once. */
    maxPending: Count.default(128),
    /** Requests sent and not yet answered; more are refused at once. */
    maxInflight: Count.default(1024),
    /**
     * Enables the closed → open → half-open state machine (the limits above always apply). Off by
     * default: a breaker per edge opens on the whole callee service, so with it on, one failing
     * instance (a caller's only local endpoint) cuts the caller off before outlier detection can
     * eject that instance and move the traffic. Turn it on per service where failures are
     * service-wide (a shared dependency down) rather than per instance.
     */
    enabled: z.boolean().default(false),
    /** Failures in a row that open the breaker. */
    consecutiveFailures: Count.default(5),
    /** Failure rate (0..1) in the rolling window that opens the breaker, once minRequests were seen. */
    failureRateThreshold: Fraction.default(0.5),
    failureRateWindowMs: PositiveMs.default(10_000),
    failureRateMinRequests: Count.default(20),
    /** Time the breaker stays open before letting probes through. */
    openMs: PositiveMs.default(5_000),
    /** Probe requests let through half-open; all must succeed to close. */
    halfOpenProbes: Count.default(3),
  })
  .strict();

const PolicyShape = z
  .object({
    /** Evaluation interval (ms) of the statistical rules (success rate, latency); Envoy's `interval`. */
    intervalMs: PositiveMs.default(1_000),
    consecutiveFailures: ConsecutiveFailures.prefault({}),
    consecutiveGatewayFailures: ConsecutiveGatewayFailures.prefault({}),
    successRate: SuccessRate.prefault({}),
    latency: Latency.prefault({}),
    directSignal: DirectSignal.prefault({}),
    heartbeat: Heartbeat.prefault({}),
    ejection: Ejection.prefault({}),
    probe: Probe.prefault({}),
    /** Healthy share (0..1) below which balancers ignore health (Envoy's healthy panic threshold). */
    panicThreshold: Fraction.default(BALANCER_DEFAULTS.panicThreshold),
    /** Envoy's overprovisioning factor (>= 1): a zone at 1/1.4 ≈ 71 % healthy still takes all its traffic. */
    overprovisioningFactor: z.number().min(1).max(100).default(BALANCER_DEFAULTS.overprovisioningFactor),
    failback: Failback.prefault({}),
    circuitBreaker: CircuitBreaker.prefault({}),
  })
  .strict();

export const OutlierPolicy = PolicyShape.superRefine((p, ctx) => {
  if (p.ejection.maxMs < p.ejection.baseMs) {
    ctx.addIssue({ code: 'custom', path: ['ejection', 'maxMs'], message: 'must be >= ejection.baseMs (Envoy refuses this too)' });
  }
});

/** A complete policy (every field present), as the detector, tracker and planners read it. */
export type OutlierPolicy = z.output<typeof OutlierPolicy>;
/** What may be stored or sent: any subset; missing fields take Meshdeck's defaults. */
export type OutlierPolicyInput = z.input<typeof OutlierPolicy>;

/** Parses a stored or submitted policy. Throws ValidationError listing every bad field. */
export function parseOutlierPolicy(input: unknown): OutlierPolicy {
  return parseSettings(OutlierPolicy, input, 'Invalid outlier policy');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Meshdeck's default policy (tuned for fast detection; see README.md). Frozen: copy to change. */
export const DEFAULT_OUTLIER_POLICY: Readonly<OutlierPolicy> = deepFreeze(OutlierPolicy.parse({}));

/**
 * Envoy's documented defaults (config.cluster.v3.OutlierDetection, circuit breaker thresholds,
 * panic threshold, overprovisioning factor), mapped onto this schema. Where Envoy has no such
 * feature it is switched off (latency rule, direct signals, the breaker's open/half-open state
 * machine) or made to behave as Envoy does (no probing: restored when the ejection time ends;
 * immediate fail-back). Heartbeat TTL is Meshdeck's registry liveness, kept as in the default.
 */
export const ENVOY_DEFAULTS: Readonly<OutlierPolicy> = deepFreeze(
  OutlierPolicy.parse({
    intervalMs: 10_000,
    consecutiveFailures: { enabled: true, threshold: 5, enforcingPercent: 100 },
    // Envoy's enforcing_consecutive_gateway_failure defaults to 0: detected and logged, not enforced.
    consecutiveGatewayFailures: { enabled: true, threshold: 5, enforcingPercent: 0 },
    successRate: { enabled: true, minimumHosts: 5, requestVolume: 100, maxIntervals: 1, stdevFactor: 1.9, enforcingPercent: 100 },
    latency: { enabled: false },
    directSignal: { enabled: false },
    heartbeat: { enabled: true, missedIntervals: 3, refusedIntervals: 0 },
    ejection: { baseMs: 30_000, maxMs: 300_000, maxEjectionPercent: 10, alwaysEjectOne: false, decayMs: 10_000 },
    probe: { successesRequired: 0 },
    panicThreshold: 0.5,
    overprovisioningFactor: 1.4,
    failback: { step: 1, intervalMs: 0 },
    circuitBreaker: { maxPending: 1024, maxInflight: 1024, enabled: false },
  } satisfies OutlierPolicyInput),
);
