/**
 * Public types of the load-balancing library (core/balancer), shared by the sidecar (agent/) and
 * the core. The library is pure: no I/O, no timers, no clock. Time is always supplied by the
 * caller: `now` is a monotonic clock in milliseconds (the sidecar passes `performance.now()`),
 * latencies are milliseconds too.
 */

/** One instance of a service, as the control plane describes it. */
export interface Endpoint {
  /** Instance id; unique within a set. */
  id: string;
  zone: string;
  /** Relative weight, finite and >= 0. 0 = receives no traffic (not even in panic mode). */
  weight: number;
  /** false when the control plane marks the instance down, ejected or draining. */
  healthy: boolean;
  /** Locality priority, an integer 0..255; 0 (the default) is the most preferred. Only the
   *  locality-aware wrapper reads it. */
  priority?: number;
}

export interface PickContext {
  /** Caller's monotonic clock, in ms. */
  now: number;
  /** Request affinity key for ring-hash and maglev (e.g. a user or session id). Without it those
   *  two pick a uniformly random point. Other algorithms ignore it. */
  hashKey?: string;
}

export const BALANCER_KINDS = ['round-robin', 'weighted-round-robin', 'least-request', 'p2c-ewma', 'ring-hash', 'maglev'] as const;

export type BalancerKind = (typeof BALANCER_KINDS)[number];

export interface Balancer {
  readonly kind: BalancerKind;
  /**
   * Replaces the endpoint set. Per-endpoint state (in-flight counts, latency estimates, smooth-WRR
   * credit) is kept for ids that remain. The input order does not matter: every balancer given
   * the same set builds the same ring / table, so all sidecars agree on key placement. An
   * update with an unchanged set (same ids, weights, health, priorities — in any order) rebuilds
   * nothing; it only adopts the new endpoint objects, which `pick` returns from then on.
   * Throws ValidationError (and keeps the previous set) when the input is invalid.
   */
  update(endpoints: readonly Endpoint[]): void;
  /** The endpoint for one request, or null when no endpoint is selectable (none healthy with
   *  weight > 0). Returns the caller's own objects. */
  pick(ctx: PickContext): Endpoint | null;
  /** A request to `id` started (in-flight +1). No-op for algorithms that do not track load and for
   *  unknown ids. */
  onStart(id: string, now: number): void;
  /** A request to `id` ended (in-flight -1) after `latencyMs`; `ok` false for a failure. No-op for
   *  algorithms that do not track load and for unknown ids. */
  onEnd(id: string, now: number, latencyMs: number, ok: boolean): void;
}

/** Uniform random number in [0, 1). Defaults to Math.random; tests pass a seeded generator. */
export type RandomSource = () => number;

/** Options of createBalancer. Each field applies to the algorithms named; the others ignore it. */
export interface BalancerOptions {
  /** All algorithms that randomise (round-robin's start, P2C candidates, hash-less ring/maglev picks). */
  random?: RandomSource;
  /** least-request: how strongly in-flight requests count, Envoy's active_request_bias (>= 0,
   *  default 1). 0 ignores load (weighted random). */
  activeRequestBias?: number;
  /** p2c-ewma: time constant of the latency EWMA in ms (> 0, default 10 000, as Linkerd). */
  decayMs?: number;
  /** p2c-ewma: latency assumed for an endpoint with no sample yet, in ms (>= 0, default 30, as
   *  Linkerd). Set it near the service's typical latency. */
  defaultRttMs?: number;
  /** p2c-ewma: a failed request counts as a sample of max(latency, this) ms (>= 0, default 1000). */
  failurePenaltyMs?: number;
  /** ring-hash: virtual nodes per endpoint of average weight (integer >= 1, default 160). */
  vnodesPerEndpoint?: number;
  /** ring-hash: minimum number of virtual nodes on the ring (integer >= 1, default 1024). */
  minRingSize?: number;
  /** ring-hash: maximum number of virtual nodes on the ring (integer >= minRingSize, default 2^20). */
  maxRingSize?: number;
  /** maglev: lookup table size, a prime (default 65 537, as Envoy); keep it >= 100 x endpoints. */
  tableSize?: number;
}
