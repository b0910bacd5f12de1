/**
 * What the outlier detector (detector.ts) decides and the evidence it records: plain types with no
 * runtime code, shared by the failover engine, the stored ejection history and the API contract
 * (the renderer reads them through core/api/contract.ts, so nothing here may import Node).
 */
export type RuleName = 'consecutive-failures' | 'success-rate' | 'latency' | 'direct-signal' | 'heartbeat' | 'probe';
export type DecisionKind = 'eject' | 'restore-probe' | 'probe-success' | 'probe-failure';
export type DirectSignalKind = 'connect-refused' | 'reset';

export interface WindowCounts {
  at: number;
  requests: number;
  http5xx: number;
  connect: number;
  timeout: number;
}

export interface ConsecutiveEvidence {
  rule: 'consecutive-failures';
  at: number;
  samples: {
    /** 'all': 5xx + connect + timeout; 'gateway': connect + timeout. */
    variant: 'all' | 'gateway';
    /** Failed requests in a row (approximation: see the file header). */
    streak: number;
    /** Windows that made up the streak, oldest first. */
    windows: WindowCounts[];
  };
  thresholds: { consecutive: number; enforcingPercent: number };
}

export interface HostRate {
  instanceId: string;
  requests: number;
  /** Percent, 0..100. */
  successRate: number;
  /** Sweep intervals its requests span (absent from evidence recorded before the rule had windows: 1). */
  intervals?: number;
}

export interface SuccessRateEvidence {
  rule: 'success-rate';
  at: number;
  samples: {
    requests: number;
    failures: number;
    /** Percent, 0..100 (as Envoy). */
    successRate: number;
    /** Sweep intervals the host's requests span (absent from evidence recorded before the rule had windows: 1). */
    intervals?: number;
    mean: number;
    stdev: number;
    /** Every host that met the request volume (the statistics' population). */
    hosts: HostRate[];
  };
  thresholds: { ejectionThreshold: number; stdevFactor: number; minimumHosts: number; requestVolume: number; maxIntervals?: number; enforcingPercent: number };
}

export interface HostLatency {
  instanceId: string;
  requests: number;
  p99: number;
  /** Absent from evidence recorded before the rule had windows. */
  p50?: number;
  /** Sweep intervals its window spans (absent from evidence recorded before the rule had windows: 1). */
  intervals?: number;
  /** Its own outbound calls over the same intervals (absent: none observed). */
  outbound?: OutboundLatency;
}

/** A host's outbound calls: per callee service, and the largest p99 and p50 among them. */
export interface OutboundLatency {
  requests: number;
  p99: number;
  p50: number;
  callees: Array<{ service: string; requests: number; p99: number; p50: number }>;
}

/**
 * A host's latency with its callees' taken out: p99 and p50 minus the largest p99 and p50 among
 * its callees (at least 0), and the bars over the other hosts' own latencies (p50 only when judged over more
 * than one interval).
 */
export interface OwnLatency {
  p99: number;
  p50: number;
  medianP99: number;
  threshold: number;
  medianP50?: number;
  p50Threshold?: number;
}

/** A host above the latency bars whose own latency is not: not ejected this sweep. */
export interface SparedHost {
  instanceId: string;
  reason: string;
  samples: { requests: number; intervals: number; p99: number; p50: number; outbound: OutboundLatency; own: OwnLatency };
  thresholds: { threshold: number; p50Threshold?: number };
  /** Which own latency is under its bar: its p99, else (a host judged over more than one interval) its p50. */
  ownBy: 'p99' | 'p50';
}

export interface LatencyEvidence {
  rule: 'latency';
  at: number;
  /** medianP99: the median p99 of the other hosts (the host's peers). */
  /** p50 and medianP50 (the other hosts' median p50): only for a host judged over more than one interval. */
  /** own: its latency without its callees' (only when its outbound calls were observed): still above the bars. */
  samples: { requests: number; p99: number; medianP99: number; hosts: HostLatency[]; intervals?: number; p50?: number; medianP50?: number; own?: OwnLatency };
  thresholds: {
    /** max(floorMs, factor × medianP99). */
    threshold: number;
    factor: number;
    floorMs: number;
    quantile: 0.99;
    minimumHosts: number;
    requestVolume: number;
    /** Absent from evidence recorded before the rule had windows (one interval then). */
    maxIntervals?: number;
    /** max(floorMs, factor × medianP50): only for a host judged over more than one interval. */
    p50Threshold?: number;
    enforcingPercent: number;
  };
}

export interface DirectSignalEvidence {
  rule: 'direct-signal';
  at: number;
  samples: { count: number; signals: Array<{ kind: DirectSignalKind; at: number }> };
  thresholds: { count: number; windowMs: number; enforcingPercent: number };
}

export interface HeartbeatEvidence {
  rule: 'heartbeat';
  at: number;
  samples: {
    lastHeartbeat: number;
    heartbeatIntervalMs: number;
    /** How long it was (eject) or had been (restore-probe) silent. */
    silentMs: number;
    /** restore-probe only: when heartbeats resumed. */
    resumedAt?: number;
    /** eject after a refusal only: when a caller last reported a refused connection. */
    refusedAt?: number;
  };
  /**
   * ttlMs: the TTL applied (missedIntervals × interval, or refusedIntervals × interval after a
   * refusal, plus graceMs); graceMs: silence forgiven because the core itself was behind.
   */
  thresholds: { ttlMs: number; missedIntervals: number; refusedIntervals?: number; graceMs?: number };
}

export interface ProbeWindow {
  at: number;
  requests: number;
  failures: number;
  failureRate: number;
  p99: number | null;
  /** Absent from evidence recorded before probes were judged by p50 at low volume. */
  p50?: number | null;
  /**
   * Absent from older evidence (judged by p99 then). Which percentile the window's latency was judged by: p99 when it had latency.requestVolume
   * requests or more, else p50 (the p99 of a few probe requests is their maximum: one slow
   * new connection would fail the probe).
   */
  judged?: 'p99' | 'p50';
  ok: boolean;
}

export interface ProbeEvidence {
  rule: 'probe';
  at: number;
  samples: { windows: ProbeWindow[]; succeeded: number; failed: number };
  thresholds: { minRequests: number; maxFailureRate: number; latencyThreshold: number | null };
}

export type Evidence = ConsecutiveEvidence | SuccessRateEvidence | LatencyEvidence | DirectSignalEvidence | HeartbeatEvidence | ProbeEvidence;

export interface OutlierDecision {
  kind: DecisionKind;
  service: string;
  instanceId: string;
  at: number;
  /** eject: false when the rule's enforcingPercent drew "report only". Always true otherwise. */
  enforced: boolean;
  /** One line for people, e.g. "success rate 52.0 % < threshold 68.4 % (mean 91.2 %, stdev 11.3, 6 hosts)". */
  reason: string;
  evidence: Evidence;
}

/** What the last statistical sweep of a service saw, for the console (also when nothing fired). */
export interface SweepReport {
  at: number;
  successRate: { hosts: number; mean: number; stdev: number; threshold: number } | { skipped: string };
  /** spared: outliers whose slowness their callees explain (see the latency rule). */
  latency: { hosts: number; medianP99: number; threshold: number; spared?: SparedHost[] } | { skipped: string };
}
