/**
 * The incident monitor of one mesh: fed with telemetry batches, registry changes, failover
 * transitions, operator actions (from the audit log) and, when available, queue snapshots; once
 * a second it evaluates the rules, opens, updates and resolves incidents in SQLite, appends
 * what happened to the timelines of open incidents and re-ranks their suspects.
 */
import { EventEmitter } from 'node:events';
import type { BrokerSnapshot } from '../api/contract.js';
import type { AuditEntry, AuditLog } from '../control/audit.js';
import type { EjectionTransition } from '../failover/ejections.js';
import type { Logger } from '../lib/log.js';
import type { TelemetryBatch } from '../protocol/messages.js';
import type { RegistryChange } from '../registry/registry.js';
import type { Db } from '../store/database.js';
import { exportIncident, type ExportFormat } from './export.js';
import {
  DEFAULT_RULES,
  RuleEvaluator,
  parseIncidentRules,
  serviceScope,
  severityOf,
  type Crossing,
  type IncidentRules,
  type InstanceStateInput,
  type Level,
  type QueueInput,
  type RuleName,
  type RuleStatus,
} from './rules.js';
import type { ActiveRule, IncidentDetail, IncidentSummary } from './schema.js';
import { NO_SNAPSHOT_YET, QueueFeed, type QueueFeedOptions } from './queue-feed.js';
import { Trace, TrafficSignals } from './signals.js';
import { IncidentStore, type ListFilter } from './store.js';
import { CHANGE_WEIGHT, rankSuspects, type ChangeEvent } from './suspects.js';

export interface IncidentMonitorOptions {
  mesh: string;
  db: Db;
  logger: Logger;
  services: () => string[];
  instances: (service: string) => InstanceStateInput[];
  /** Operator actions are read from here (new entries only, polled every tick). */
  audit?: AuditLog;
  /** Thresholds for services without saved rules (default: Meshdeck's). */
  rules?: { defaults?: unknown; services?: Record<string, unknown> };
  now?: () => number;
  /** Who resolves automatically (timeline actor). */
  actor?: string;
  /** How broker snapshots become queue trends (queue-feed.ts). */
  queueFeed?: QueueFeedOptions;
}

const RULE_TITLE: Record<RuleName, string> = {
  'error-rate': 'Errors',
  'latency-p99': 'Slow responses',
  'instance-lost': 'Instance lost',
  'zone-capacity': 'Zone below capacity',
  'queue-backlog': 'Queue backlog growing',
  'consumer-gone': 'Consumer gone',
};

/** Changes kept for the timeline of an incident that opens a little after them. */
const CHANGE_MEMORY_MS = 10 * 60_000;
/** Changes this long before the onset are part of an incident's story. */
const LOOKBACK_MS = 60_000;
/** Changes kept at most (a flapping mesh brings thousands a second). */
const MAX_RECENT = 5000;
const NONE: IncidentSummary[] = [];

interface RecentChange extends ChangeEvent {
  kind: 'registry' | 'failover' | 'action';
  actor: string | null;
  text: string;
  evidence: unknown;
}

/** A crossing's evidence for the timeline: the value, and the measurements behind it (queue rules: depths, rates, consumers, times). */
const crossingEvidence = (c: Crossing) => ({ rule: c.rule, subject: c.subject, value: c.assessment.value, onset: c.onset, ...(c.assessment.evidence ? { measured: c.assessment.evidence } : {}) });
const scopeService = (scope: string) => (scope.startsWith('service:') ? scope.slice('service:'.length) : null);
const maxLevel = (rules: RuleStatus[]): Level => rules.reduce<Level>((m, r) => (r.level > m ? r.level : m), 0);

export class IncidentMonitor extends EventEmitter<{ changed: []; opened: [IncidentSummary] }> {
  readonly store: IncidentStore;
  readonly signals = new TrafficSignals();
  private readonly evaluator: RuleEvaluator;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly rulesCache = new Map<string, IncidentRules>();
  private readonly defaults: IncidentRules;
  private queues: QueueInput[] | undefined;
  private readonly recent: RecentChange[] = [];
  private readonly queueSnapshot = new Map<string, QueueInput>();
  private readonly queueFeed: QueueFeed;
  /** Why the broker's queue figures cannot be used (null: they can). */
  /** Why the queue rules are on hold (null: they run); on hold until the first broker snapshot. */
  private queueGap: string | null = NO_SNAPSHOT_YET;
  private queueGapSince: number | null;
  private lastAuditId = 0;
  private lastOpenedId: number | null = null;
  private readonly suspectsWritten = new Map<number, string>();
  /** Per open incident: its service's traffic since the onset. */
  private readonly traces = new Map<number, Trace>();
  /** Services of an open incident's dependency suspects: their changes belong to its timeline too. */
  private readonly related = new Map<number, Set<string>>();
  /** Open incidents, read from SQLite only after something changed them. */
  private openCache: IncidentSummary[] | null = null;
  /** Open incidents by the services whose changes concern them (null: to rebuild). */
  private byService: Map<string, IncidentSummary[]> | null = null;
  /** Registry changes for open incidents' timelines, written with the next tick. */
  private unwritten: RecentChange[] = [];
  /** `recent` by service, built by the first ranking after a change was kept. */
  private recentByService: Map<string, RecentChange[]> | null = null;

  constructor(private readonly options: IncidentMonitorOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child('incidents');
    this.store = new IncidentStore(options.db, options.mesh);
    this.defaults = options.rules?.defaults ? parseIncidentRules(options.rules.defaults) : DEFAULT_RULES;
    this.signals.coverOnsetAfter(this.defaults.openAfterSeconds);
    this.evaluator = new RuleEvaluator((scope) => this.rulesFor(scope));
    this.queueFeed = new QueueFeed(options.queueFeed);
    this.queueGapSince = this.now();
    this.lastAuditId = options.audit?.query({ limit: 1 }).entries[0]?.id ?? 0;
  }

  /** The thresholds in force for a scope: saved for its service, else configured, else defaults. */
  rulesFor(scope: string): IncidentRules {
    const cached = this.rulesCache.get(scope);
    if (cached) return cached;
    const service = scopeService(scope);
    const saved = service ? this.store.rulesOf(service) : null;
    const configured = service ? this.options.rules?.services?.[service] : undefined;
    const rules = saved?.rules ?? (configured ? parseIncidentRules(configured) : this.defaults);
    this.rulesCache.set(scope, rules);
    // A rule that waits longer to open needs the instances and edges kept from further back.
    this.signals.coverOnsetAfter(rules.openAfterSeconds);
    return rules;
  }

  /** Saves a service's thresholds (null: back to the configured ones or the defaults). */
  setRules(service: string, rules: unknown, actor: string): IncidentRules {
    this.store.saveRules(service, rules, actor, this.now());
    this.rulesCache.delete(serviceScope(service));
    return this.rulesFor(serviceScope(service));
  }

  /** A service's thresholds and where they come from, for the API. */
  rulesInfo(service: string): { service: string; source: 'default' | 'saved'; rules: IncidentRules; updatedAt: number | null; updatedBy: string | null } {
    const saved = this.store.rulesOf(service);
    return { service, source: saved ? 'saved' : 'default', rules: this.rulesFor(serviceScope(service)), updatedAt: saved?.updatedAt ?? null, updatedBy: saved?.updatedBy ?? null };
  }

  // --- inputs ---------------------------------------------------------------------------------

  ingest(batch: TelemetryBatch): void {
    this.signals.ingest(batch);
  }

  /** The latest broker snapshot of queues (depth, consumers); used from the next tick on. */
  observeQueues(queues: QueueInput[]): void {
    this.queues = queues;
    for (const q of queues) if (q.unknown === undefined) this.queueSnapshot.set(q.queue, q);
  }

  /**
   * A broker snapshot (core/broker): its queues become the queue rules' inputs through the
   * adapter. While the broker's figures cannot be used (statistics off, no permission, API
   * away) the queue rules hold their states; the change is logged and written to the
   * timelines of open queue incidents.
   */
  observeBroker(snapshot: BrokerSnapshot): void {
    // Called from the broker monitor's event: a failure here is logged, never thrown into its poll loop.
    try {
      this.takeSnapshot(snapshot);
    } catch (err) {
      this.logger.error('broker snapshot not taken in by the queue rules; the last queue figures stay in use', { err, profile: snapshot.profileId, at: snapshot.at });
    }
  }

  private takeSnapshot(snapshot: BrokerSnapshot): void {
    const { queues, gap } = this.queueFeed.observe(snapshot);
    if (gap !== this.queueGap) {
      const at = this.now();
      const text = gap ? `Queue rules on hold: ${gap}` : 'Queue rules resumed: the broker reports depths and consumers again';
      if (gap) this.logger.warn('queue rules on hold: the broker snapshot has no usable queue figures', { reason: gap, profile: snapshot.profileId });
      else this.logger.info('queue rules resumed', { profile: snapshot.profileId });
      const queueRules = new Set(this.evaluator.active().filter((r) => r.rule === 'queue-backlog' || r.rule === 'consumer-gone').map((r) => r.scope));
      for (const incident of this.openIncidents()) {
        if (!queueRules.has(incident.scope)) continue;
        this.safely(() => this.store.append(incident.id, { at, kind: 'note', actor: this.options.actor ?? 'meshdeck-core', text, evidence: { capabilities: snapshot.capabilities, snapshotAt: snapshot.at } }));
      }
      this.queueGap = gap;
      this.queueGapSince = gap ? at : null;
      // The topic shows whether the queue rules run: any change of that is news too.
      this.emit('changed');
    }
    this.observeQueues(queues);
  }

  /** Why the queue rules are on hold, or null while they run on the broker's figures. */
  queueRulesGap(): string | null {
    return this.queueGap;
  }

  /**
   * Registry changes are kept at once (a new incident's look-back reads them) and written to the
   * timelines of the open incidents they concern with the next tick, in its transaction: a sweep
   * or a flapping mesh can bring thousands a second, and a commit per change held the event loop.
   */
  registryChanges(changes: readonly RegistryChange[]): void {
    for (const c of changes) {
      const weight = c.to === 'down' ? CHANGE_WEIGHT.down : c.to === 'draining' ? CHANGE_WEIGHT.drain : c.kind === 'registered' ? CHANGE_WEIGHT.registered : c.kind === 'updated' ? CHANGE_WEIGHT.updated : CHANGE_WEIGHT.other;
      const what = c.kind === 'state' || (c.from && c.from !== c.to) ? `${c.instanceId} ${c.from ?? 'new'} → ${c.to}` : `${c.instanceId} ${c.kind}`;
      const change: RecentChange = { kind: 'registry', at: c.at, service: c.service, instanceId: c.instanceId, what, weight, actor: null, text: `${what}${c.detail ? ` (${c.detail})` : ''}`, evidence: c };
      this.remember(change);
      if (this.concerning(change).length) this.unwritten.push(change);
    }
  }

  failoverTransition(t: EjectionTransition): void {
    const what = `${t.instanceId} ${t.to === 'ejected' ? 'ejected' : t.to === 'probing' ? 'probing' : 'restored'} by the core`;
    this.record({
      kind: 'failover',
      at: t.at,
      service: t.service,
      instanceId: t.instanceId,
      what,
      weight: t.to === 'ejected' ? CHANGE_WEIGHT.ejected : CHANGE_WEIGHT.other,
      actor: 'meshdeck-core',
      text: `${what}: ${t.reason}`,
      evidence: { from: t.from, to: t.to, until: t.until, ejections: t.ejections, evidence: t.evidence },
    });
  }

  private auditEntry(e: AuditEntry): void {
    // Automatic decisions arrive as failover transitions, with their evidence.
    if (e.origin === 'automatic' || e.event === 'result') return;
    const target = e.instanceId ? `${e.service}/${e.instanceId}` : e.service;
    const what = `${e.action} on ${target} by ${e.actor}${e.event === 'refused' ? ' (refused)' : ''}`;
    const weight = e.action === 'fault' ? CHANGE_WEIGHT.fault : e.action === 'drain' ? CHANGE_WEIGHT.drain : e.action === 'eject' ? CHANGE_WEIGHT.ejected : CHANGE_WEIGHT.other;
    this.record({ kind: 'action', at: e.at, service: e.service, instanceId: e.instanceId, what, weight, actor: e.actor, text: `${what}${e.reason ? `: ${e.reason}` : ''}`, evidence: { action: e.action, detail: e.detail, actionId: e.actionId, origin: e.origin } });
  }

  /** Keeps a change for later incidents and appends it to the open ones it concerns now. */
  private record(change: RecentChange): void {
    this.remember(change);
    let touched = false;
    for (const incident of this.concerning(change)) {
      this.safely(() => this.store.append(incident.id, { at: change.at, kind: change.kind, actor: change.actor, text: change.text, evidence: change.evidence }));
      touched = true;
    }
    if (touched) this.emit('changed');
  }

  private remember(change: RecentChange): void {
    this.recent.push(change);
    this.recentByService = null;
    const horizon = this.now() - CHANGE_MEMORY_MS;
    // Cut in steps (amortised O(1) per change): the look-back and rankings filter by time anyway.
    if (this.recent.length < 2 * MAX_RECENT && this.recent[0]!.at >= horizon - CHANGE_MEMORY_MS / 10) return;
    let drop = 0;
    while (drop < this.recent.length && this.recent[drop]!.at < horizon) drop++;
    if (this.recent.length - drop > MAX_RECENT) drop = this.recent.length - MAX_RECENT;
    if (drop) this.recent.splice(0, drop);
  }

  /** Writes the registry changes kept since the last tick to the open incidents they concern; true when it wrote one. */
  private writeUnwritten(): boolean {
    const changes = this.unwritten;
    if (changes.length === 0) return false;
    this.unwritten = [];
    let touched = false;
    for (const change of changes) {
      for (const incident of this.concerning(change)) {
        touched = this.safely(() => this.store.append(incident.id, { at: change.at, kind: change.kind, actor: change.actor, text: change.text, evidence: change.evidence })) || touched;
      }
    }
    return touched;
  }

  /** Open incidents a change concerns: by their service, or a dependency suspect's (an index, rebuilt when those change). */
  private concerning(change: ChangeEvent): IncidentSummary[] {
    const open = this.openIncidents();
    if (!this.byService) {
      const index = new Map<string, IncidentSummary[]>();
      const add = (service: string, incident: IncidentSummary) => {
        const list = index.get(service);
        if (!list) index.set(service, [incident]);
        else if (!list.includes(incident)) list.push(incident);
      };
      for (const incident of open) {
        if (incident.service !== null) add(incident.service, incident);
        for (const service of this.related.get(incident.id) ?? []) add(service, incident);
      }
      this.byService = index;
    }
    return this.byService.get(change.service) ?? NONE;
  }

  private concerns(incident: IncidentSummary, change: ChangeEvent): boolean {
    return incident.service === change.service || (this.related.get(incident.id)?.has(change.service) ?? false);
  }

  private openIncidents(): IncidentSummary[] {
    if (!this.openCache) {
      this.openCache = this.store.list({ status: 'open', limit: 500 });
      this.byService = null;
    }
    return this.openCache;
  }

  // --- the tick -------------------------------------------------------------------------------

  /** Evaluates one second: call every second. A failure (SQLite) is logged; the next second tries again. */
  tick(): void {
    try {
      // One transaction per second: every timeline entry and ranking of the tick in one commit.
      this.options.db.transaction(() => this.evaluateSecond())();
    } catch (err) {
      this.logger.error('incident rules not evaluated this second', { err });
    }
  }

  private evaluateSecond(): void {
    const at = this.now();
    if (this.options.audit) {
      try {
        const fresh = this.options.audit
          .query({ since: at - CHANGE_MEMORY_MS, limit: 500 })
          .entries.filter((e) => e.id > this.lastAuditId)
          .reverse();
        for (const e of fresh) {
          this.lastAuditId = Math.max(this.lastAuditId, e.id);
          this.auditEntry(e);
        }
      } catch (err) {
        this.logger.error('audit log not read for incidents', { err });
      }
    }
    let changed = this.writeUnwritten();
    // Rules with the same window read the same traffic: once per service and window.
    const traffic = new Map<string, ReturnType<TrafficSignals['traffic']>>();
    const crossings = this.evaluator.evaluate({
      at,
      services: this.options.services(),
      traffic: (service, windowSeconds) => {
        const key = `${windowSeconds}\u0000${service}`;
        let w = traffic.get(key);
        if (!w) traffic.set(key, (w = this.signals.traffic(service, windowSeconds, at)));
        return w;
      },
      instances: this.options.instances,
      ...(this.queues ? { queues: this.queues } : {}),
    });
    const byScope = new Map<string, Crossing[]>();
    for (const c of crossings) byScope.set(c.scope, [...(byScope.get(c.scope) ?? []), c]);
    for (const [scope, list] of byScope) {
      changed = this.safely(() => this.apply(scope, list, at)) || changed;
    }
    if (changed) this.openCache = null;
    for (const incident of this.openIncidents()) {
      changed = this.safely(() => this.rank(incident, at)) || changed;
    }
    if (changed) this.emit('changed');
  }

  private safely(fn: () => boolean | number | void): boolean {
    try {
      return Boolean(fn());
    } catch (err) {
      this.logger.error('incident not updated', { err });
      return false;
    }
  }

  private activeRules(scope: string): ActiveRule[] {
    return this.evaluator.active(scope).map((r) => ({ rule: r.rule, subject: r.subject, severity: severityOf(r.level), text: r.last?.text ?? '', onset: r.onset }));
  }

  private apply(scope: string, crossings: Crossing[], at: number): boolean {
    const active = this.evaluator.active(scope);
    const level = maxLevel(active);
    const open = this.store.openFor(scope);
    const service = scopeService(scope);
    const crossingText = (c: Crossing) => `${c.rule} on ${c.subject}: ${severityOf(c.from) ?? 'ok'} → ${severityOf(c.to) ?? 'ok'} — ${c.assessment.text}`;
    if (!open) {
      if (level === 0) return false;
      const first = crossings.find((c) => c.to > 0) ?? crossings[0]!;
      const onset = Math.min(...active.map((r) => r.onset ?? at));
      const subject = service ?? scope.slice('queue:'.length);
      const incident = this.store.open({
        scope,
        service,
        title: `${RULE_TITLE[first.rule]}: ${first.rule === 'zone-capacity' ? first.subject : subject}`,
        severity: severityOf(level)!,
        onsetAt: onset,
        at,
        rules: this.activeRules(scope),
      });
      this.lastOpenedId = incident.id;
      this.store.append(incident.id, { at: onset, kind: 'opened', text: `Onset: ${first.rule} on ${first.subject} over its threshold` });
      // What changed shortly before: registry changes, ejections, operator actions.
      for (const change of this.recent) {
        if (change.at >= onset - LOOKBACK_MS && this.concerns(incident, change)) {
          this.store.append(incident.id, { at: change.at, kind: change.kind, actor: change.actor, text: change.text, evidence: change.evidence });
        }
      }
      for (const c of crossings) this.store.append(incident.id, { at, kind: 'rule', text: crossingText(c), evidence: crossingEvidence(c) });
      this.rank(incident, at);
      this.logger.warn('incident opened', { id: incident.id, scope, severity: incident.severity });
      this.emit('opened', this.store.summary(incident.id));
      return true;
    }
    for (const c of crossings) this.store.append(open.id, { at, kind: 'rule', text: crossingText(c), evidence: crossingEvidence(c) });
    if (level === 0) {
      const r = this.rulesFor(scope);
      this.store.update(open.id, { rules: [], at });
      this.store.resolve(open.id, this.options.actor ?? 'meshdeck-core', at, `Resolved automatically: every rule under its lower threshold for ${r.resolveAfterSeconds} s`);
      this.forget(open.id);
      this.logger.info('incident resolved', { id: open.id, scope });
      return true;
    }
    const severity = severityOf(level)!;
    if (severity !== open.severity) this.store.append(open.id, { at, kind: 'severity', text: `Severity ${open.severity} → ${severity}` });
    this.store.update(open.id, { severity, rules: this.activeRules(scope), at });
    return true;
  }

  /** The kept changes of one service, oldest first (indexed once per tick). */
  private recentOf(service: string): RecentChange[] {
    if (!this.recentByService) {
      const index = new Map<string, RecentChange[]>();
      for (const c of this.recent) {
        const list = index.get(c.service);
        if (list) list.push(c);
        else index.set(c.service, [c]);
      }
      this.recentByService = index;
    }
    return this.recentByService.get(service) ?? [];
  }

  /** Ranks the suspects of an open incident from the traffic since its onset; writes them when they changed. */
  private rank(incident: IncidentSummary, at: number): boolean {
    const scope = incident.scope;
    const rules = this.rulesFor(scope);
    const active = this.evaluator.active(scope);
    const service = incident.service ?? scope;
    const queueRules = active.filter((r) => r.rule === 'queue-backlog' || r.rule === 'consumer-gone');
    const suspects = rankSuspects({
      service,
      onset: incident.onsetAt,
      rules: active.map((r) => r.rule),
      since: this.signals.breakdown(this.traceOf(incident), Math.floor(at / 1000) * 1000),
      // rankSuspects weighs only the changes of the incident's own service: those, from a per-tick index.
      changes: this.recentOf(service).filter((c) => c.at >= incident.onsetAt - LOOKBACK_MS && c.at >= at - CHANGE_MEMORY_MS),
      p99SloMs: rules.latency.p99SloMs,
      queues: queueRules.map((r) => {
        const q = this.queueSnapshot.get(r.subject);
        return {
          queue: r.subject,
          depth: q?.depth ?? 0,
          consumers: q?.consumers ?? 0,
          rule: r.rule,
          consumerServices: q?.consumerServices ?? [],
          publisherServices: q?.publisherServices ?? [],
          trend: q?.trend?.text ?? null,
        };
      }),
    });
    const key = JSON.stringify(suspects);
    if (this.suspectsWritten.get(incident.id) === key) return false;
    // Ranking only over what it saw: after a restart, a ranking from before is kept until traffic arrives.
    if (suspects.length === 0 && this.suspectsWritten.get(incident.id) === undefined && incident.topSuspect) return false;
    this.store.setSuspects(incident.id, suspects);
    this.suspectsWritten.set(incident.id, key);
    this.related.set(incident.id, new Set(suspects.filter((s) => s.kind === 'dependency').map((s) => s.service)));
    this.byService = null;
    return true;
  }

  // --- operator actions -----------------------------------------------------------------------

  list(filter: ListFilter): IncidentSummary[] {
    return this.store.list(filter);
  }

  get(id: number): IncidentDetail {
    return this.store.detail(id);
  }

  /** From the 1 s window that first crossed (the one that ended at the onset's tick). */
  private traceOf(incident: IncidentSummary): Trace {
    let trace = this.traces.get(incident.id);
    if (!trace) this.traces.set(incident.id, (trace = new Trace(incident.service ?? incident.scope, Math.floor(incident.onsetAt / 1000) * 1000 - 1000)));
    return trace;
  }

  private forget(id: number): void {
    this.traces.delete(id);
    this.suspectsWritten.delete(id);
    this.related.delete(id);
    this.openCache = null;
    this.byService = null;
  }

  acknowledge(id: number, actor: string): IncidentSummary {
    const out = this.store.acknowledge(id, actor, this.now());
    this.openCache = null;
    this.emit('changed');
    return out;
  }

  assign(id: number, assignee: string | null, actor: string): IncidentSummary {
    const out = this.store.assign(id, assignee, actor, this.now());
    this.openCache = null;
    this.emit('changed');
    return out;
  }

  note(id: number, text: string, actor: string): IncidentDetail {
    this.store.summary(id);
    this.store.append(id, { at: this.now(), kind: 'note', actor, text });
    this.emit('changed');
    return this.store.detail(id);
  }

  /** Resolved by an operator: rule states of the scope start over, so a symptom that persists opens a new incident. */
  resolve(id: number, actor: string, reason: string): IncidentSummary {
    const out = this.store.resolve(id, actor, this.now(), `Resolved by ${actor}${reason ? `: ${reason}` : ''}`);
    this.evaluator.reset(out.scope);
    this.forget(id);
    this.emit('changed');
    return out;
  }

  export(id: number, format: ExportFormat): ReturnType<typeof exportIncident> {
    return exportIncident(this.store.detail(id), format);
  }

  /** Open incidents (failing first, then newest) and the newest that opened, for the topic. */
  view(): { open: IncidentSummary[]; lastOpened: number | null; queueRules: { onHold: boolean; reason: string | null; since: number | null } } {
    return {
      open: this.store.list({ status: 'open', limit: 200 }),
      lastOpened: this.lastOpenedId,
      queueRules: { onHold: this.queueGap !== null, reason: this.queueGap, since: this.queueGapSince },
    };
  }
}
