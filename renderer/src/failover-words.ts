/**
 * Automatic failover decisions in words: what state an instance is in, and why, in one sentence
 * an operator can read in the middle of an incident ("ejected 12:03:04 — 5 consecutive 5xx
 * (threshold 3) over 2 windows; back in 20 s, then probed at 5 % traffic"), plus the raw
 * evidence as label/value facts. Pure: time and the clock format come in as arguments.
 */
import type { AuditEntryInfo, FailoverEvidence, FailoverTransitionInfo, InstanceInfo } from '../../core/api/contract';
import { formatMs, formatPercent } from './format';

/** What an operator sees on an instance: the registry's state with failover's view on top. */
export type InstanceCondition = 'healthy' | 'ejected' | 'probing' | 'draining' | 'down' | 'deregistered';

export const CONDITION_META: Record<InstanceCondition, { icon: string; label: string; health: 'healthy' | 'degraded' | 'failing' | 'unknown' }> = {
  healthy: { icon: '●', label: 'healthy', health: 'healthy' },
  probing: { icon: '◔', label: 'probing', health: 'degraded' },
  draining: { icon: '◐', label: 'draining', health: 'degraded' },
  ejected: { icon: '⊘', label: 'ejected', health: 'failing' },
  down: { icon: '✕', label: 'down', health: 'failing' },
  deregistered: { icon: '○', label: 'deregistered', health: 'unknown' },
};

export function instanceCondition(i: Pick<InstanceInfo, 'state' | 'failover'>): InstanceCondition {
  if (i.state === 'down' || i.state === 'deregistered') return i.state;
  if (i.failover) return i.failover.state;
  if (i.state === 'draining') return 'draining';
  return 'healthy';
}

/** 20 s, 1.5 s, 2 min, 2 min 30 s, 1 h 5 min. */
export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 10_000) {
    const s = ms / 1000;
    return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  }
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total} s`;
  const m = Math.floor(total / 60);
  const s = total % 60;
  if (m < 60) return s ? `${m} min ${s} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Which failure classes made up a streak: "5xx", or "failures (3 × 5xx, 2 × connect)". */
function streakClasses(windows: Array<{ http5xx: number; connect: number; timeout: number }>, variant: 'all' | 'gateway'): string {
  const sums = { '5xx': 0, connect: 0, timeout: 0 };
  for (const w of windows) {
    sums['5xx'] += variant === 'all' ? w.http5xx : 0;
    sums.connect += w.connect;
    sums.timeout += w.timeout;
  }
  const present = Object.entries(sums).filter(([, n]) => n > 0);
  const names: Record<string, string> = { '5xx': '5xx', connect: 'connect errors', timeout: 'timeouts' };
  if (present.length === 1) return names[present[0]![0]]!;
  if (present.length === 0) return variant === 'all' ? 'failures' : 'gateway failures';
  return `${variant === 'all' ? 'failures' : 'gateway failures'} (${present.map(([k, n]) => `${n} × ${k}`).join(', ')})`;
}

const pct100 = (v: number) => `${v.toFixed(1)} %`;

/** The evidence of one decision in words, per rule. */
export function evidenceSentence(e: FailoverEvidence): string {
  switch (e.rule) {
    case 'consecutive-failures': {
      const { streak, windows, variant } = e.samples;
      return `${streak} consecutive ${streakClasses(windows, variant)} (threshold ${e.thresholds.consecutive}) over ${plural(windows.length, 'window')}`;
    }
    case 'success-rate': {
      const s = e.samples;
      return `success rate ${pct100(s.successRate)} below the threshold ${pct100(e.thresholds.ejectionThreshold)} (mean ${pct100(s.mean)} − ${e.thresholds.stdevFactor} × stdev ${s.stdev.toFixed(1)} over ${plural(s.hosts.length, 'host')}; ${s.failures} of ${s.requests} requests failed${(s.intervals ?? 1) > 1 ? ` over its last ${s.intervals} intervals` : ''})`;
    }
    case 'latency': {
      const s = e.samples;
      const t = e.thresholds;
      return `p99 ${formatMs(s.p99)} above the threshold ${formatMs(t.threshold)} (max of ${formatMs(t.floorMs)} and ${t.factor} × the median p99 ${formatMs(s.medianP99)} of the other ${plural(s.hosts.length - 1, 'host')}; ${s.requests} requests${(s.intervals ?? 1) > 1 ? ` over its last ${s.intervals} intervals` : ''})${s.p50 !== undefined && t.p50Threshold !== undefined ? `, and its p50 ${formatMs(s.p50)} above ${formatMs(t.p50Threshold)} too` : ''}${s.own ? `; without its outbound calls (its callees' time) still ${formatMs(s.own.p99)}, above ${formatMs(s.own.threshold)}` : ''}`;
    }
    case 'direct-signal': {
      const kinds = [...new Set(e.samples.signals.map((x) => (x.kind === 'connect-refused' ? 'connection refusals' : 'connection resets')))].join(' and ') || 'reports';
      return `${e.samples.count} ${kinds} reported by callers within ${formatDuration(e.thresholds.windowMs)} (threshold ${e.thresholds.count})`;
    }
    case 'heartbeat': {
      const s = e.samples;
      if (s.resumedAt !== undefined) return `heartbeats resumed after ${formatDuration(s.silentMs)} of silence`;
      const behind = e.thresholds.graceMs ? ` + ${formatDuration(e.thresholds.graceMs)} the console was behind` : '';
      if (s.refusedAt !== undefined) {
        return `no heartbeat for ${formatDuration(s.silentMs)} after a caller's connection was refused (limit ${formatDuration(e.thresholds.ttlMs)}: ${e.thresholds.refusedIntervals ?? 1} × ${formatDuration(s.heartbeatIntervalMs)}${behind})`;
      }
      return `no heartbeat for ${formatDuration(s.silentMs)} (limit ${formatDuration(e.thresholds.ttlMs)}: ${e.thresholds.missedIntervals} missed × ${formatDuration(s.heartbeatIntervalMs)}${behind})`;
    }
    case 'probe': {
      const s = e.samples;
      const failed = s.windows.find((w) => !w.ok);
      if (!failed) return `${plural(s.succeeded, 'probe window')} succeeded`;
      // Older evidence has no `judged`: it was judged by p99.
      const judged = failed.judged ?? 'p99';
      const latency = judged === 'p99' ? failed.p99 : (failed.p50 ?? null);
      const slow = latency !== null && e.thresholds.latencyThreshold !== null && latency > e.thresholds.latencyThreshold;
      return `probe window failed: ${failed.failures} of ${failed.requests} requests failed (max ${formatPercent(e.thresholds.maxFailureRate)})${slow ? `, ${judged} ${formatMs(latency)} above ${formatMs(e.thresholds.latencyThreshold)}` : ''}`;
    }
    case 'ejection-elapsed':
      return `its ${formatDuration(e.samples.durationMs)} ejection ended`;
    case 'probe-restored':
      return `${plural(e.samples.successes, 'successful probe window')} (${e.thresholds.successesRequired} required)`;
    case 'heartbeat-resumed':
      return e.samples.heartbeatEvidence.rule === 'heartbeat'
        ? `heartbeats resumed after ${formatDuration(e.samples.heartbeatEvidence.samples.silentMs)} of silence`
        : 'heartbeats resumed';
    default:
      return (e as { rule: string }).rule;
  }
}

export interface SentenceOptions {
  now: number;
  /** HH:MM:SS of a timestamp; local time by default. */
  clock?: (ms: number) => string;
  /** The policy's probe share (0.05 = 5 % of its normal traffic), when known. */
  probeShare?: number;
  /** Successful probe windows needed to restore, when known. */
  successesRequired?: number;
}

export const localClock = (ms: number): string => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });

/**
 * A latency outlier the rule spared, in words: slow against its peers, but its calls explain it
 * ("slow but not ejected 12:03:04 — p99 812 ms above the bar 120 ms, explained by its calls to
 * payments (p99 800 ms); its own p99 12 ms is under 120 ms"); "its own p50 …" when the rule
 * spared it on its median.
 */
export function sparedSentence(s: NonNullable<InstanceInfo['spared']>, clock: (ms: number) => string = localClock): string {
  const slowest = [...s.callees].sort((a, b) => b.p99 - a.p99 || a.service.localeCompare(b.service));
  const calls = slowest.map((c) => `${c.service} (p99 ${formatMs(c.p99)})`).join(', ');
  // The bar its own latency is under: its p99's, or (judged over several intervals, its own p99
  // one stall) its median's.
  const own = s.ownBy === 'p50' && s.ownP50 !== undefined && s.ownP50Threshold !== undefined ? `p50 ${formatMs(s.ownP50)} is under ${formatMs(s.ownP50Threshold)}` : `p99 ${formatMs(s.ownP99)} is under ${formatMs(s.ownThreshold)}`;
  return `slow but not ejected ${clock(s.at)} — p99 ${formatMs(s.p99)} above the bar ${formatMs(s.threshold)}, explained by its calls to ${calls || 'other services'}; its own ${own}`;
}

/** One transition in words: the verb and time, why, and what happens next. */
export function transitionSentence(t: FailoverTransitionInfo, options: SentenceOptions): string {
  const clock = options.clock ?? localClock;
  const why = evidenceSentence(t.evidence);
  const probe = options.probeShare !== undefined ? ` at ${formatPercent(options.probeShare)} traffic` : '';
  if (t.to === 'ejected') {
    const nth = t.ejections > 1 ? ` (ejection ${t.ejections})` : '';
    let next: string;
    if (t.until === null) next = `held until heartbeats resume, then probed${probe}`;
    else if (t.until > options.now) next = `back in ${formatDuration(t.until - options.now)}, then probed${probe}`;
    else next = `probing due now${probe}`;
    return `ejected ${clock(t.at)}${nth} — ${why}; ${next}`;
  }
  if (t.to === 'probing') {
    const need = options.successesRequired !== undefined ? `; restored after ${plural(options.successesRequired, 'good window')}` : '';
    return `probing since ${clock(t.at)}${probe} — ${why}${need}`;
  }
  return `restored ${clock(t.at)} — ${why}`;
}

/**
 * An automatic decision as the audit log keeps it (`detail` holds from/to/until/durationMs/
 * backoff/ejections, `evidence` the evidence), back as a transition; null for anything else.
 */
export function auditTransition(entry: Pick<AuditEntryInfo, 'origin' | 'at' | 'reason' | 'detail' | 'evidence'>): FailoverTransitionInfo | null {
  if (entry.origin !== 'automatic') return null;
  const d = entry.detail as Partial<Record<'from' | 'to' | 'until' | 'durationMs' | 'backoff' | 'ejections', unknown>> | null;
  const e = entry.evidence as { rule?: unknown } | null;
  const states = ['healthy', 'ejected', 'probing'];
  if (!d || !e || typeof e.rule !== 'string' || !states.includes(d.from as string) || !states.includes(d.to as string)) return null;
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    at: entry.at,
    from: d.from as FailoverTransitionInfo['from'],
    to: d.to as FailoverTransitionInfo['to'],
    until: num(d.until),
    durationMs: num(d.durationMs),
    backoff: num(d.backoff) ?? 0,
    ejections: num(d.ejections) ?? 0,
    reason: entry.reason,
    evidence: entry.evidence as FailoverEvidence,
  };
}

/** The raw evidence as label/value pairs (samples and thresholds); lists are summarised. */
export function evidenceFacts(e: FailoverEvidence, clock: (ms: number) => string = localClock): Array<[string, string]> {
  const facts: Array<[string, string]> = [
    ['rule', e.rule],
    ['decided at', clock(e.at)],
  ];
  const add = (prefix: string, obj: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v === null || v === undefined) facts.push([`${prefix}${k}`, '—']);
      else if (typeof v === 'number') facts.push([`${prefix}${k}`, Number.isInteger(v) ? String(v) : v.toFixed(3)]);
      else if (typeof v === 'string' || typeof v === 'boolean') facts.push([`${prefix}${k}`, String(v)]);
      else if (Array.isArray(v)) facts.push([`${prefix}${k}`, `${v.length} item${v.length === 1 ? '' : 's'}`]);
      else if (typeof v === 'object' && 'rule' in (v as object)) facts.push([`${prefix}${k}`, evidenceSentence(v as FailoverEvidence)]);
      else facts.push([`${prefix}${k}`, JSON.stringify(v)]);
    }
  };
  add('', e.samples as Record<string, unknown>);
  add('threshold ', e.thresholds as Record<string, unknown>);
  return facts;
}

export interface TimelineEntry {
  at: number;
  source: 'registry' | 'failover';
  text: string;
}

/** Registry changes and automatic failover decisions of one instance, newest first. */
export function instanceTimeline(
  registry: Array<{ at: number; kind: string; from: string | null; to: string | null; detail: string }>,
  transitions: FailoverTransitionInfo[],
  options: SentenceOptions,
): TimelineEntry[] {
  const clock = options.clock ?? localClock;
  const rows: TimelineEntry[] = [
    ...registry.map((h) => ({
      at: h.at,
      source: 'registry' as const,
      text: `${clock(h.at)} ${h.from && h.to ? `${h.from} → ${h.to}` : h.kind}${h.detail ? ` — ${h.detail}` : ''}`,
    })),
    ...transitions.map((t) => ({
      at: t.at,
      source: 'failover' as const,
      // Past decisions: "back in" would be relative to now, so say how long the ejection was instead.
      text:
        t.to === 'ejected'
          ? `ejected ${clock(t.at)} — ${evidenceSentence(t.evidence)}${t.durationMs !== null ? `; for ${formatDuration(t.durationMs)}` : '; held until heartbeats resume'}`
          : transitionSentence(t, { ...options, probeShare: undefined, successesRequired: undefined }),
    })),
  ];
  return rows.sort((a, b) => b.at - a.at);
}
