/**
 * Incident rules, pure: each second every rule assesses its subjects from that second's inputs
 * (a level from the upper thresholds, a "held" level from the lower ones), and a shared
 * hysteresis turns assessments into openings, escalations, de-escalations and resolutions.
 *
 * - A rule opens (level 0 → 1 or 2) after `openAfterSeconds` consecutive seconds at or over its
 *   degraded threshold; it escalates after as many seconds over its failing threshold.
 * - It de-escalates or resolves after `resolveAfterSeconds` consecutive seconds under the LOWER
 *   threshold of its level (the upper one × `resolveFactor`); a value between the two keeps the
 *   level, so a metric hovering at the threshold does not flap.
 * - A second without data (no traffic, no queue snapshot) counts as under every threshold.
 */
import { z } from 'zod';
import { parseSettings } from '../lib/errors.js';

export const SEVERITIES = ['degraded', 'failing'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** 0: no problem, 1: degraded, 2: failing. */
export type Level = 0 | 1 | 2;
export const severityOf = (level: Level): Severity | null => (level === 2 ? 'failing' : level === 1 ? 'degraded' : null);

export const RULE_NAMES = ['error-rate', 'latency-p99', 'instance-lost', 'zone-capacity', 'queue-backlog', 'consumer-gone'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

const Fraction = z.number().min(0).max(1);
const Seconds = z.number().int().min(1).max(3600);
/** Traffic windows are read from the seconds kept in memory (core/incidents/signals.ts). */
export const MAX_TRAFFIC_WINDOW_SECONDS = 30;
const TrafficWindowSeconds = z.number().int().min(1).max(MAX_TRAFFIC_WINDOW_SECONDS);

/** Every threshold, with Meshdeck's defaults. `IncidentRules.parse({})` gives the defaults. */
export const IncidentRules = z
  .object({
    /** Consecutive seconds over a threshold before a rule opens (or escalates). */
    openAfterSeconds: Seconds.default(3),
    /** Consecutive seconds under the lower threshold before a rule de-escalates or resolves. */
    resolveAfterSeconds: Seconds.default(10),
    /** Lower threshold = upper threshold × this (error rate, latency, backlog). */
    resolveFactor: Fraction.default(0.5),
    errorRate: z
      .object({
        enabled: z.boolean().default(true),
        /** Kiali's defaults: ≥ 0.1 % of requests failing (5xx, connect, timeout) is degraded… */
        degraded: Fraction.default(0.001),
        /** …≥ 10 % is failing. */
        failing: Fraction.default(0.1),
        /** The rate is taken over this many seconds (1 s windows are noisy at low rates). */
        windowSeconds: TrafficWindowSeconds.default(5),
        /** Fewer requests than this in the window: no data. */
        minRequests: z.number().int().min(1).max(1_000_000).default(20),
      })
      .strict()
      .prefault({}),
    latency: z
      .object({
        enabled: z.boolean().default(true),
        /** p99 at or over the SLO is degraded… */
        p99SloMs: z.number().min(1).max(3_600_000).default(1000),
        /** …at or over SLO × this is failing. */
        failingFactor: z.number().min(1).max(1000).default(2),
        windowSeconds: TrafficWindowSeconds.default(5),
        minRequests: z.number().int().min(1).max(1_000_000).default(20),
      })
      .strict()
      .prefault({}),
    instanceLost: z
      .object({
        enabled: z.boolean().default(true),
        /** Share of a service's instances down (missed heartbeats) from which it is failing; one is degraded. */
        failingShare: Fraction.default(0.5),
      })
      .strict()
      .prefault({}),
    zoneCapacity: z
      .object({
        enabled: z.boolean().default(true),
        /** Healthy share of a zone's instances under which the zone is degraded… */
        degradedBelow: Fraction.default(0.75),
        /** …and failing. */
        failingBelow: Fraction.default(0.5),
        /** Zones with fewer instances are not assessed (instance-lost covers them). */
        minInstances: z.number().int().min(1).max(10_000).default(2),
      })
      .strict()
      .prefault({}),
    queueBacklog: z
      .object({
        enabled: z.boolean().default(true),
        /** Messages ready while the depth grew over the window: degraded… */
        degradedDepth: z.number().int().min(1).default(100),
        /** …and failing. */
        failingDepth: z.number().int().min(1).default(1000),
        windowSeconds: Seconds.default(10),
      })
      .strict()
      .prefault({}),
    consumerGone: z
      .object({
        /** A queue that had consumers and has none: degraded while empty, failing once messages wait. */
        enabled: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type IncidentRules = z.output<typeof IncidentRules>;
export type IncidentRulesInput = z.input<typeof IncidentRules>;
export const DEFAULT_RULES: IncidentRules = IncidentRules.parse({});

/** Validates rules (omitted fields take the defaults); a bad field throws ValidationError naming it. */
export function parseIncidentRules(input: unknown): IncidentRules {
  return parseSettings(IncidentRules, input, 'Invalid incident rules');
}

// ---------------------------------------------------------------------------------------------
// Inputs: one second of the mesh, as the collector (signals.ts) and adapters build it
// ---------------------------------------------------------------------------------------------

export interface TrafficWindow {
  requests: number;
  /** 5xx + connect + timeout (4xx are the caller's fault, as in LiveEdges). */
  failed: number;
  p99: number | null;
}

export interface InstanceStateInput {
  instanceId: string;
  zone: string;
  state: 'healthy' | 'draining' | 'down';
  /** Ejected by the failover engine (no traffic from any caller). */
  ejected: boolean;
}

/** A queue as seen in a broker snapshot: the adapter from core/broker fills these. */
export interface QueueInput {
  queue: string;
  /** The service that consumes it, when known: its incidents then live on that service. */
  service?: string;
  /** Messages ready. */
  depth: number;
  consumers: number;
  /** The depth trend over the last broker readings (queue-feed.ts); without it, depth now vs `windowSeconds` ago. */
  trend?: QueueTrend;
  /** Set when the broker's figures cannot be used (statistics off, no permission, …): the queue's rule states hold. */
  unknown?: string;
  /** Services consuming it (or last seen consuming it) and publishing into it, for the suspects. */
  consumerServices?: string[];
  publisherServices?: string[];
  /** The figures behind the assessment (depths, rates, consumer counts, times), for the timeline. */
  evidence?: Record<string, unknown>;
}

/** What the broker's last readings say of a queue's depth. */
export interface QueueTrend {
  growing: boolean;
  /** The depth fell at the last reading: recovery, nothing holds the backlog level. */
  draining: boolean;
  text: string;
}

export interface SecondInput {
  at: number;
  /** Per service: traffic into it over each rule's window (the collector merges the seconds). */
  traffic: (service: string, windowSeconds: number) => TrafficWindow;
  services: string[];
  instances: (service: string) => InstanceStateInput[];
  /** Queue snapshots of this second; omitted when no broker snapshot is available. */
  queues?: QueueInput[];
}

// ---------------------------------------------------------------------------------------------
// Hysteresis, shared by every rule
// ---------------------------------------------------------------------------------------------

export interface Assessment {
  /** Level by the upper thresholds. */
  level: Level;
  /** Level still justified by the lower thresholds. */
  held: Level;
  /** The measured value and what it is compared with, for the timeline. */
  value: number | null;
  text: string;
  /** The measurements behind it, for the timeline (queue rules: the broker's figures). */
  evidence?: Record<string, unknown>;
}

export interface RuleState {
  level: Level;
  /** Consecutive seconds with level > state.level, and the lowest such level seen (what all of them justify). */
  up: number;
  upLevel: Level;
  /** Consecutive seconds with held < state.level, and the highest held level seen. */
  down: number;
  downLevel: Level;
  /** First second of the current run over the degraded threshold (the incident's onset). */
  onset: number | null;
  last: Assessment | null;
}

export const initialState = (): RuleState => ({ level: 0, up: 0, upLevel: 0, down: 0, downLevel: 0, onset: null, last: null });

export interface Crossing {
  rule: RuleName;
  subject: string;
  scope: string;
  at: number;
  from: Level;
  to: Level;
  onset: number;
  assessment: Assessment;
}

/** One second of hysteresis. Returns the new state and the level change, if any. */
export function stepRule(state: RuleState, a: Assessment, at: number, rules: Pick<IncidentRules, 'openAfterSeconds' | 'resolveAfterSeconds'>): { state: RuleState; change: { from: Level; to: Level } | null } {
  const s: RuleState = { ...state, last: a };
  if (a.level >= 1) s.onset ??= at;
  else if (s.level === 0) s.onset = null;
  if (a.level > s.level) {
    s.upLevel = (s.up === 0 ? a.level : Math.min(s.upLevel, a.level)) as Level;
    s.up += 1;
  } else {
    s.up = 0;
    s.upLevel = 0;
  }
  if (s.level > 0 && a.held < s.level) {
    s.downLevel = (s.down === 0 ? a.held : Math.max(s.downLevel, a.held)) as Level;
    s.down += 1;
  } else {
    s.down = 0;
    s.downLevel = 0;
  }
  const from = s.level;
  if (s.up >= rules.openAfterSeconds) {
    s.level = s.upLevel;
    s.up = s.down = 0;
  } else if (s.down >= rules.resolveAfterSeconds) {
    s.level = s.downLevel;
    s.up = s.down = 0;
    if (s.level === 0) s.onset = null;
  }
  return { state: s, change: s.level === from ? null : { from, to: s.level } };
}

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)} %`;

/** Level of a value where higher is worse: ≥ failing → 2, ≥ degraded → 1. */
function above(value: number, degraded: number, failing: number): Level {
  return value >= failing ? 2 : value >= degraded ? 1 : 0;
}

export function assessErrorRate(w: TrafficWindow, r: IncidentRules): Assessment {
  const c = r.errorRate;
  if (w.requests < c.minRequests) return { level: 0, held: 0, value: null, text: `${w.requests} requests in ${c.windowSeconds} s (under ${c.minRequests}: no data)` };
  const rate = w.failed / w.requests;
  return {
    level: above(rate, c.degraded, c.failing),
    held: above(rate, c.degraded * r.resolveFactor, c.failing * r.resolveFactor),
    value: rate,
    text: `${pct(rate)} of ${w.requests} requests failed in ${c.windowSeconds} s (degraded ≥ ${pct(c.degraded)}, failing ≥ ${pct(c.failing)})`,
  };
}

export function assessLatency(w: TrafficWindow, r: IncidentRules): Assessment {
  const c = r.latency;
  if (w.requests < c.minRequests || w.p99 === null) return { level: 0, held: 0, value: null, text: `${w.requests} requests in ${c.windowSeconds} s (no data)` };
  const failing = c.p99SloMs * c.failingFactor;
  return {
    level: above(w.p99, c.p99SloMs, failing),
    held: above(w.p99, c.p99SloMs * r.resolveFactor, failing * r.resolveFactor),
    value: w.p99,
    text: `p99 ${Math.round(w.p99)} ms over ${c.windowSeconds} s (SLO ${c.p99SloMs} ms, failing ≥ ${Math.round(failing)} ms)`,
  };
}

export function assessInstanceLost(instances: InstanceStateInput[], r: IncidentRules): Assessment {
  const down = instances.filter((i) => i.state === 'down');
  if (instances.length === 0) return { level: 0, held: 0, value: null, text: 'no instances listed' };
  const share = down.length / instances.length;
  const level: Level = down.length === 0 ? 0 : share >= r.instanceLost.failingShare ? 2 : 1;
  const names = down.map((i) => i.instanceId).join(', ');
  return { level, held: level, value: down.length, text: `${down.length} of ${instances.length} instances down (missed heartbeats)${names ? `: ${names}` : ''}` };
}

export function assessZone(zone: string, instances: InstanceStateInput[], r: IncidentRules): Assessment | null {
  const c = r.zoneCapacity;
  const inZone = instances.filter((i) => i.zone === zone);
  if (inZone.length < c.minInstances) return null;
  const serving = inZone.filter((i) => i.state === 'healthy' && !i.ejected).length;
  const share = serving / inZone.length;
  const level: Level = share < c.failingBelow ? 2 : share < c.degradedBelow ? 1 : 0;
  return { level, held: level, value: share, text: `${serving} of ${inZone.length} instances in ${zone} serving (${pct(share)}; degraded under ${pct(c.degradedBelow)}, failing under ${pct(c.failingBelow)})` };
}

export function assessBacklog(depth: number, depthBefore: number | null, r: IncidentRules): Assessment {
  const c = r.queueBacklog;
  if (depthBefore === null) return { level: 0, held: 0, value: depth, text: `${depth} ready (no earlier snapshot to compare)` };
  const growth = depth - depthBefore;
  const growing = growth > 0;
  return {
    level: growing ? above(depth, c.degradedDepth, c.failingDepth) : 0,
    // Draining (growth < 0) is recovery: nothing holds the level any more.
    held: growth >= 0 ? above(depth, c.degradedDepth * r.resolveFactor, c.failingDepth * r.resolveFactor) : 0,
    value: depth,
    text: `${depth} messages ready, ${growth >= 0 ? '+' : ''}${growth} in ${c.windowSeconds} s (degraded ≥ ${c.degradedDepth} and growing, failing ≥ ${c.failingDepth})`,
  };
}

/** The backlog from the adapter's trend: growing over the depth thresholds opens, draining releases. */
export function assessBacklogTrend(q: QueueInput & { trend: QueueTrend }, r: IncidentRules): Assessment {
  const c = r.queueBacklog;
  const { depth, trend } = q;
  return {
    level: trend.growing ? above(depth, c.degradedDepth, c.failingDepth) : 0,
    held: trend.draining ? 0 : above(depth, c.degradedDepth * r.resolveFactor, c.failingDepth * r.resolveFactor),
    value: depth,
    text: `${depth} messages ready, ${trend.text} (degraded ≥ ${c.degradedDepth} and growing, failing ≥ ${c.failingDepth})`,
    ...(q.evidence ? { evidence: q.evidence } : {}),
  };
}

export function assessConsumers(q: QueueInput, hadConsumers: boolean): Assessment {
  const evidence = q.evidence ? { evidence: q.evidence } : {};
  if (!hadConsumers || q.consumers > 0) return { level: 0, held: 0, value: q.consumers, text: `${q.consumers} consumers`, ...evidence };
  const level: Level = q.depth > 0 ? 2 : 1;
  const who = q.consumerServices?.length ? ` (last consumed by ${q.consumerServices.join(', ')})` : '';
  return { level, held: level, value: 0, text: `no consumer left (it had some)${who}; ${q.depth} messages waiting`, ...evidence };
}

// ---------------------------------------------------------------------------------------------
// The evaluator: rule states per (rule, subject), crossings out
// ---------------------------------------------------------------------------------------------

/** Where a rule's incident lives: one incident per service (or per queue without a known service). */
export const serviceScope = (service: string) => `service:${service}`;
export const queueScope = (q: QueueInput) => (q.service ? serviceScope(q.service) : `queue:${q.queue}`);

export interface RuleStatus {
  rule: RuleName;
  subject: string;
  scope: string;
  level: Level;
  onset: number | null;
  last: Assessment | null;
}

export class RuleEvaluator {
  private readonly states = new Map<string, RuleStatus & { state: RuleState }>();
  private readonly depthHistory = new Map<string, Array<{ at: number; depth: number }>>();
  private readonly hadConsumers = new Set<string>();

  constructor(private readonly rulesFor: (scope: string) => IncidentRules = () => DEFAULT_RULES) {}

  /** Assesses every rule for one second and returns the level changes, in a stable order. */
  evaluate(input: SecondInput): Crossing[] {
    const crossings: Crossing[] = [];
    const seen = new Set<string>();
    const feed = (rule: RuleName, subject: string, subjectScope: string, a: Assessment) => {
      const key = `${rule}\u0000${subject}`;
      seen.add(key);
      const entry = this.states.get(key) ?? { rule, subject, scope: subjectScope, level: 0 as Level, onset: null, last: null, state: initialState() };
      // A subject whose scope changed (a queue's consumer became known) moves while its rule is at 0; an open one stays with its incident.
      const scope = entry.level === 0 ? subjectScope : entry.scope;
      const { state, change } = stepRule(entry.state, a, input.at, this.rulesFor(scope));
      this.states.set(key, { ...entry, scope, state, level: state.level, onset: state.onset, last: a });
      if (change) crossings.push({ rule, subject, scope, at: input.at, from: change.from, to: change.to, onset: state.onset ?? entry.state.onset ?? input.at, assessment: a });
    };
    for (const service of input.services) {
      const scope = serviceScope(service);
      const r = this.rulesFor(scope);
      if (r.errorRate.enabled) feed('error-rate', service, scope, assessErrorRate(input.traffic(service, r.errorRate.windowSeconds), r));
      if (r.latency.enabled) feed('latency-p99', service, scope, assessLatency(input.traffic(service, r.latency.windowSeconds), r));
      const instances = input.instances(service);
      if (r.instanceLost.enabled) feed('instance-lost', service, scope, assessInstanceLost(instances, r));
      if (r.zoneCapacity.enabled) {
        for (const zone of [...new Set(instances.map((i) => i.zone))].sort()) {
          const a = assessZone(zone, instances, r);
          if (a) feed('zone-capacity', `${service}@${zone}`, scope, a);
        }
      }
    }
    for (const q of input.queues ?? []) {
      if (q.unknown !== undefined) {
        // No usable figures: the states hold (no opening, no resolution on missing data).
        seen.add(`queue-backlog\u0000${q.queue}`);
        seen.add(`consumer-gone\u0000${q.queue}`);
        continue;
      }
      const scope = queueScope(q);
      const r = this.rulesFor(scope);
      const history = this.depthHistory.get(q.queue) ?? [];
      history.push({ at: input.at, depth: q.depth });
      const horizon = input.at - r.queueBacklog.windowSeconds * 1000;
      while (history.length > 1 && history[1]!.at <= horizon) history.shift();
      this.depthHistory.set(q.queue, history);
      const before = history[0]!.at <= horizon ? history[0]!.depth : null;
      const trend = q.trend;
      if (r.queueBacklog.enabled) feed('queue-backlog', q.queue, scope, trend ? assessBacklogTrend({ ...q, trend }, r) : assessBacklog(q.depth, before, r));
      if (r.consumerGone.enabled) feed('consumer-gone', q.queue, scope, assessConsumers(q, this.hadConsumers.has(q.queue)));
      if (q.consumers > 0) this.hadConsumers.add(q.queue);
    }
    // Subjects that vanished (a service forgotten, a zone emptied, no queue snapshot): no data.
    for (const [key, entry] of this.states) {
      if (seen.has(key) || entry.level === 0) {
        if (!seen.has(key)) this.states.delete(key);
        continue;
      }
      feed(entry.rule, entry.subject, entry.scope, { level: 0, held: 0, value: null, text: 'no longer reported' });
    }
    return crossings;
  }

  /** Rule states above level 0, or every state of one scope. */
  active(scope?: string): RuleStatus[] {
    return [...this.states.values()]
      .filter((s) => (scope ? s.scope === scope : true) && s.level > 0)
      .map(({ state: _state, ...rest }) => rest);
  }

  /** Forgets the states of a scope (an operator resolved its incident): a symptom that persists opens a new one. */
  reset(scope: string): void {
    for (const [key, entry] of this.states) if (entry.scope === scope) this.states.delete(key);
  }
}
