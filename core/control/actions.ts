/**
 * Operator actions: drain, eject (optionally for a duration), restore, set-weight, fault drills
 * (delay and/or abort for a share of requests, for a duration) and clear-fault. Each action is
 * written in one SQLite transaction as an action row (with how to undo it), its command(s) in the
 * outbox, and a `requested` audit entry; the control plane's loop then publishes the commands.
 *
 * Undo: drain and eject → restore; set-weight → the previous weight of each instance (from the
 * registry at the time of the action); fault → clear-fault. restore and clear-fault cannot be
 * undone (what they ended is not known), nor can an undo (act again instead).
 *
 * `preview` tells what an action would touch before the operator confirms it: the instances and
 * their share of the service's healthy capacity by weight, and what would remain.
 *
 * Circuit actions target the caller service (every instance, or one) and name the callee in the
 * action: trip-circuit opens the callers' breakers towards it (until reset, or for durationMs),
 * reset-circuit closes them; each undoes the other. Their preview adds each caller instance's
 * share of the caller → callee traffic (from live telemetry) and the share that would be refused.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors.js';
import type { ControlAction } from '../protocol/messages.js';
import type { Instance } from '../registry/registry.js';
import type { Db } from '../store/database.js';
import { auditJson, type ActionOrigin, type AuditLog } from './audit.js';
import { isOpenState, type CommandRecord, type CommandState, type CommandTarget, type NewCommand, type Outbox, type Progress } from './outbox.js';
import type { ActionSnapshot, ForwardedRequest, UndoPlan } from './wire.js';

/** What the actions need of the registry. */
export interface RegistryView {
  instances(service: string): Instance[];
  get(service: string, instanceId: string): Instance | undefined;
}

export interface ActionRequest {
  action: ControlAction;
  target: CommandTarget;
  reason: string;
  /** How long agents accept the command (default 60 s). */
  ttlMs?: number;
}

export interface ActContext {
  actor: string;
  /** `automatic` for decisions of the core itself (failover); they carry evidence. */
  origin?: 'operator' | 'automatic';
  /** Why an automatic decision was taken: the signals it saw. Stored as JSON (at most 64 KiB). */
  evidence?: unknown;
}

export interface ActionCommand {
  commandId: string;
  target: CommandTarget;
  action: ControlAction;
  state: CommandState;
  publishedAt: number | null;
  lastError: string | null;
}

export interface ActionRecord {
  id: string;
  origin: ActionOrigin;
  actor: string;
  reason: string;
  target: CommandTarget;
  action: ControlAction;
  summary: string;
  createdAt: number;
  expiresAt: number;
  /** How to undo it; null when it cannot be undone. */
  undo: UndoPlan | null;
  undoOf: string | null;
  undoneBy: string | null;
  evidence: unknown;
  /** The core where the action was created (a follower's actions are executed by the leader). */
  coreId: string;
  /** Aggregate over the action's commands. */
  state: CommandState;
  progress: Progress;
  commands: ActionCommand[];
}

export interface PreviewInstance {
  instanceId: string;
  zone: string;
  state: Instance['state'];
  weight: number;
  affected: boolean;
  /** Its weight over the service's healthy weight (0 when not healthy). */
  shareOfHealthy: number;
  /** Circuit actions: its share of the caller → callee requests lately (null: no traffic seen). */
  shareOfTraffic?: number | null;
}

export interface ActionPreview {
  target: CommandTarget;
  action: ControlAction;
  summary: string;
  instances: PreviewInstance[];
  affected: number;
  affectedHealthy: number;
  healthyWeight: number;
  affectedHealthyWeight: number;
  /** Affected share of the service's healthy capacity (by weight), 0..1; null when nothing is healthy. */
  affectedShare: number | null;
  /** Healthy capacity after the action relative to now (0 = none left, 1 = unchanged, >1 for restore); null when nothing is healthy now. */
  capacityAfter: number | null;
  /**
   * Share of the service's requests a fault drill would hit (affectedShare × fault share); for
   * trip-circuit the share of the caller → callee requests that would be refused; 0 otherwise.
   */
  trafficAffectedShare: number;
  undo: UndoPlan | null;
  warnings: string[];
}

export interface ActionsOptions {
  db: Db;
  mesh: string;
  outbox: Outbox;
  audit: AuditLog;
  registry: RegistryView;
  coreId: string;
  /** Called after commands were written, so the loop publishes them without waiting for its timer. */
  kick: () => void;
  defaultTtlMs?: number;
  now?: () => number;
}

/** Requests per caller instance on an edge (caller service → callee service) over a recent span. */
export type EdgeTrafficView = (from: string, to: string) => Map<string, number>;

interface ActionRow {
  id: string;
  origin: ActionOrigin;
  actor: string;
  reason: string;
  service: string;
  instance_id: string | null;
  action: string;
  summary: string;
  undo: string | null;
  undo_of: string | null;
  undone_by: string | null;
  evidence: string | null;
  core_id: string;
  created_at: number;
  expires_at: number;
}

const STATE_ORDER: readonly CommandState[] = ['pending', 'forwarded', 'published'];

/** One state for several commands: the least advanced open one, else the final outcome. */
export function aggregateState(states: readonly CommandState[]): CommandState {
  const open = states.filter(isOpenState);
  if (open.length) return STATE_ORDER.find((s) => open.includes(s)) ?? 'pending';
  if (states.length && states.every((s) => s === 'acked')) return 'acked';
  if (states.length && states.every((s) => s === 'rejected')) return 'rejected';
  if (states.includes('expired')) return 'expired';
  return 'partially-acked';
}

export function aggregateProgress(records: readonly CommandRecord[]): Progress {
  const out: Progress = { expected: 0, acked: 0, rejected: 0, waiting: 0, instances: [] };
  for (const r of records) {
    out.expected += r.progress.expected;
    out.acked += r.progress.acked;
    out.rejected += r.progress.rejected;
    out.waiting += r.progress.waiting;
    out.instances.push(...r.progress.instances);
  }
  return out;
}

export function describeTarget(target: CommandTarget): string {
  return target.instanceId ? `${target.service}/${target.instanceId}` : `${target.service} (every instance)`;
}

export function describeAction(action: ControlAction, target: CommandTarget): string {
  const where = describeTarget(target);
  switch (action.action) {
    case 'drain':
      return `drain ${where}`;
    case 'eject':
      return `eject ${where}${action.durationMs ? ` for ${Math.round(action.durationMs / 1000)} s` : ' until restored'}`;
    case 'restore':
      return `restore ${where}`;
    case 'set-weight':
      return `set the weight of ${where} to ${action.weight}`;
    case 'fault': {
      const f = action.fault;
      const what = [f.delayMs > 0 ? `+${f.delayMs} ms delay` : '', f.abortStatus >= 400 ? `abort ${f.abortStatus}` : ''].filter(Boolean).join(' and ');
      return `fault drill on ${where}: ${what} for ${Math.round(f.share * 100)} % of requests, ${Math.round(f.durationMs / 1000)} s`;
    }
    case 'clear-fault':
      return `clear the fault on ${where}`;
    case 'trip-circuit':
      return `trip the circuit ${where} → ${action.callee}${action.durationMs ? ` for ${Math.round(action.durationMs / 1000)} s` : ' until reset'}`;
    case 'reset-circuit':
      return `reset the circuit ${where} → ${action.callee}`;
    case 'failover-zone':
      return `fail ${target.service} over away from zone ${action.zone}`;
    case 'restore-zone':
      return `restore zone ${action.zone} of ${target.service} (gradual fail-back)`;
  }
}

/** Actions on a zone of a service (one command per instance of that zone). */
export function isZoneAction(action: ControlAction): action is Extract<ControlAction, { action: 'failover-zone' | 'restore-zone' }> {
  return action.action === 'failover-zone' || action.action === 'restore-zone';
}

/**
 * What the mesh adds to actions: `recorded` runs inside the transaction that records an action
 * (here or forwarded; a throw rolls it back), `zoneTraffic` estimates the share of a service's
 * traffic a zone takes now (null when unknown) for the preview of zone actions.
 */
export interface ActionHooks {
  recorded?: (action: ActionSnapshot) => void;
  zoneTraffic?: (service: string, zone: string) => number | null;
}

export class ControlActions {
  private readonly db: Db;
  private readonly mesh: string;
  private readonly outbox: Outbox;
  private readonly audit: AuditLog;
  private readonly registry: RegistryView;
  private readonly coreId: string;
  private readonly kick: () => void;
  private readonly defaultTtlMs: number;
  private readonly now: () => number;
  private readonly stmt;
  private traffic: EdgeTrafficView = () => new Map();
  private hooks: ActionHooks = {};

  constructor(options: ActionsOptions) {
    this.db = options.db;
    this.mesh = options.mesh;
    this.outbox = options.outbox;
    this.audit = options.audit;
    this.registry = options.registry;
    this.coreId = options.coreId;
    this.kick = options.kick;
    this.defaultTtlMs = options.defaultTtlMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.stmt = {
      insert: this.db.prepare(
        `INSERT INTO control_actions (mesh, id, origin, actor, reason, service, instance_id, action, summary, undo, undo_of, undone_by, evidence, core_id, created_at, expires_at)
         VALUES (@mesh, @id, @origin, @actor, @reason, @service, @instanceId, @action, @summary, @undo, @undoOf, NULL, @evidence, @coreId, @createdAt, @expiresAt)`,
      ),
      get: this.db.prepare('SELECT * FROM control_actions WHERE mesh = ? AND id = ?'),
      recent: this.db.prepare('SELECT * FROM control_actions WHERE mesh = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      undoneBy: this.db.prepare('UPDATE control_actions SET undone_by = ? WHERE mesh = ? AND id = ? AND undone_by IS NULL'),
      prune: this.db.prepare(
        `DELETE FROM control_actions WHERE mesh = @mesh AND created_at < @before
           AND NOT EXISTS (SELECT 1 FROM control_commands c WHERE c.mesh = @mesh AND c.action_id = control_actions.id)`,
      ),
    };
    // The result of an action is audited in the transaction that settles its last command.
    this.outbox.onSettled((record) => this.auditResult(record));
  }

  /** Where circuit previews read the traffic per caller instance. */
  useTraffic(view: EdgeTrafficView): void {
    this.traffic = view;
  }

  setHooks(hooks: ActionHooks): void {
    this.hooks = hooks;
  }

  // --- preview --------------------------------------------------------------------------------

  preview(request: Pick<ActionRequest, 'action' | 'target'>): ActionPreview {
    const { action, target } = request;
    const all = this.registry.instances(target.service);
    this.checkTarget(target, all, action);
    const affectedIds = new Set(this.affectedOf(action, target, all).map((i) => i.instanceId));
    const healthy = all.filter((i) => i.state === 'healthy');
    const healthyWeight = healthy.reduce((sum, i) => sum + i.weight, 0);
    const affected = all.filter((i) => affectedIds.has(i.instanceId));
    const affectedHealthy = affected.filter((i) => i.state === 'healthy');
    const affectedHealthyWeight = affectedHealthy.reduce((sum, i) => sum + i.weight, 0);
    const affectedShare = healthyWeight > 0 ? affectedHealthyWeight / healthyWeight : null;

    let weightAfter = healthyWeight;
    switch (action.action) {
      case 'drain':
      case 'eject':
      case 'failover-zone':
        weightAfter = healthyWeight - affectedHealthyWeight;
        break;
      case 'set-weight':
        weightAfter = healthyWeight - affectedHealthyWeight + action.weight * affectedHealthy.length;
        break;
      case 'restore':
        weightAfter = healthyWeight + affected.filter((i) => i.state === 'draining').reduce((sum, i) => sum + i.weight, 0);
        break;
      default:
        break;
    }
    const capacityAfter = healthyWeight > 0 ? weightAfter / healthyWeight : null;
    const circuit = action.action === 'trip-circuit' || action.action === 'reset-circuit' ? action.callee : null;
    const traffic = circuit ? this.traffic(target.service, circuit) : new Map<string, number>();
    const edgeRequests = [...traffic.values()].reduce((a, b) => a + b, 0);
    const shareOfTraffic = (id: string): number | null => (edgeRequests > 0 ? (traffic.get(id) ?? 0) / edgeRequests : null);
    const zoneTraffic = isZoneAction(action) ? (this.hooks.zoneTraffic?.(target.service, action.zone) ?? null) : null;
    let trafficAffectedShare =
      action.action === 'fault' && affectedShare !== null ? affectedShare * action.fault.share : action.action === 'failover-zone' ? (zoneTraffic ?? affectedShare ?? 0) : 0;
    if (action.action === 'trip-circuit') trafficAffectedShare = affected.reduce((sum, i) => sum + (shareOfTraffic(i.instanceId) ?? 0), 0);

    const warnings: string[] = [];
    const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;
    if (healthy.length === 0) warnings.push(`${target.service} has no healthy instance now`);
    if (capacityAfter !== null && capacityAfter <= 0 && healthyWeight > 0) warnings.push(`no healthy capacity would remain for ${target.service}`);
    else if (capacityAfter !== null && capacityAfter < 0.5) warnings.push(`only ${pct(capacityAfter)} of ${target.service}'s healthy capacity would remain`);
    if (action.action === 'fault' && trafficAffectedShare >= 0.5) warnings.push(`the drill would hit about ${pct(trafficAffectedShare)} of ${target.service}'s requests`);
    for (const i of affected) if (i.state === 'down') warnings.push(`${i.instanceId} is down: the command waits in its queue and may expire unanswered`);
    if (action.action === 'set-weight' && target.instanceId && affected[0]?.weight === action.weight) warnings.push(`${target.instanceId} already has weight ${action.weight}`);
    if (circuit && edgeRequests === 0) warnings.push(`no traffic from ${target.service} to ${circuit} was seen lately`);
    if (action.action === 'trip-circuit' && trafficAffectedShare > 0) warnings.push(`about ${pct(trafficAffectedShare)} of ${target.service}'s requests to ${circuit} would be refused (503) at once`);
    if (action.action === 'failover-zone') {
      const basis = zoneTraffic === null ? ` (the zone's share of the healthy capacity: no traffic to ${target.service} seen lately)` : '';
      warnings.push(`about ${pct(trafficAffectedShare)} of ${target.service}'s traffic moves to other zones${basis}`);
      if (healthyWeight > 0 && healthyWeight === affectedHealthyWeight) warnings.push(`no other zone of ${target.service} has a healthy instance: callers keep using zone ${action.zone}`);
    }

    return {
      target,
      action,
      summary: describeAction(action, target),
      instances: all.map((i) => ({
        instanceId: i.instanceId,
        zone: i.zone,
        state: i.state,
        weight: i.weight,
        affected: affectedIds.has(i.instanceId),
        shareOfHealthy: i.state === 'healthy' && healthyWeight > 0 ? i.weight / healthyWeight : 0,
        ...(circuit ? { shareOfTraffic: shareOfTraffic(i.instanceId) } : {}),
      })),
      affected: affected.length,
      affectedHealthy: affectedHealthy.length,
      healthyWeight,
      affectedHealthyWeight,
      affectedShare,
      capacityAfter,
      trafficAffectedShare,
      undo: this.undoPlan(action, target, affected),
      warnings,
    };
  }

  // --- act and undo ----------------------------------------------------------------------------

  /** Writes the action, its command(s) and the audit entry in one transaction; the loop publishes. */
  act(request: ActionRequest, ctx: ActContext): ActionRecord {
    const origin: ActionOrigin = ctx.origin ?? 'operator';
    const now = this.now();
    const all = this.registry.instances(request.target.service);
    this.checkTarget(request.target, all, request.action);
    const affected = this.affectedOf(request.action, request.target, all);
    const evidence = this.checkEvidence(ctx.evidence);
    const snapshot: ActionSnapshot = {
      id: `act-${randomUUID()}`,
      origin,
      actor: ctx.actor.slice(0, 256),
      reason: request.reason,
      target: request.target,
      action: request.action,
      summary: describeAction(request.action, request.target),
      undo: this.undoPlan(request.action, request.target, affected),
      undoOf: null,
      ...(evidence === undefined ? {} : { evidence }),
      createdAt: now,
      expiresAt: now + (request.ttlMs ?? this.defaultTtlMs),
      coreId: this.coreId,
    };
    const commands = this.expand(request.target, request.action).map((target) => this.newCommand(snapshot, target, request.action));
    return this.write(snapshot, commands);
  }

  /** Issues the inverse of an action, audited as its undo. */
  undo(actionId: string, reason: string, ctx: { actor: string; ttlMs?: number }): ActionRecord {
    const original = this.get(actionId);
    if (!original) throw new NotFoundError('Control action', actionId);
    if (original.undoneBy) throw new ConflictError(`Action ${actionId} was already undone by ${original.undoneBy}`, { actionId, undoneBy: original.undoneBy });
    if (!original.undo) {
      const why =
        original.origin === 'undo'
          ? 'it is itself an undo; issue the action you want instead'
          : `${original.action.action} has no known inverse (what it ended is not recorded)`;
      throw new ConflictError(`Action ${actionId} cannot be undone: ${why}`, { actionId });
    }
    const plan = original.undo;
    const now = this.now();
    const first = plan.commands[0]!;
    const snapshot: ActionSnapshot = {
      id: `act-${randomUUID()}`,
      origin: 'undo',
      actor: ctx.actor.slice(0, 256),
      reason,
      target: original.target,
      action: first.action,
      summary: `undo "${original.summary}": ${plan.summary}`.slice(0, 1024),
      undo: null,
      undoOf: original.id,
      createdAt: now,
      expiresAt: now + (ctx.ttlMs ?? this.defaultTtlMs),
      coreId: this.coreId,
    };
    const commands = plan.commands.flatMap((c) => this.expand(c.target, c.action).map((target) => this.newCommand(snapshot, target, c.action)));
    return this.write(snapshot, commands);
  }

  /**
   * On the leader: records an action a follower created and queues its command (idempotent: a
   * request delivered twice changes nothing). Returns false when the outbox refused it.
   */
  acceptForwarded(request: ForwardedRequest): { accepted: boolean; reason?: string } {
    const command: NewCommand = {
      commandId: request.command.commandId,
      actionId: request.action?.id ?? null,
      target: request.command.target,
      action: request.command.command,
      issuer: request.command.issuer,
      reason: request.command.reason,
      createdAt: Date.parse(request.command.issuedAt),
      expiresAt: Date.parse(request.command.expiresAt),
      expected: request.expected,
    };
    const snapshot = request.action;
    try {
      this.db.transaction(() => {
        if (snapshot && !this.stmt.get.get(this.mesh, snapshot.id)) {
          this.recordRequested(snapshot, this.now(), [command.commandId], { forwardedBy: request.from, createdOn: snapshot.coreId });
        }
        this.outbox.enqueueIfAbsent(command);
      })();
    } catch (err) {
      const reason = (err as Error).message;
      this.audit.append({
        at: this.now(),
        event: 'refused',
        actor: snapshot?.actor ?? command.issuer,
        origin: snapshot?.origin ?? 'operator',
        action: command.action.action,
        service: command.target.service,
        instanceId: command.target.instanceId ?? null,
        reason: command.reason,
        result: 'refused',
        detail: { error: reason, forwardedBy: request.from },
        actionId: snapshot?.id ?? null,
        commandIds: [command.commandId],
        coreId: this.coreId,
      });
      return { accepted: false, reason };
    }
    this.kick();
    return { accepted: true };
  }

  // --- reading ---------------------------------------------------------------------------------

  get(actionId: string): ActionRecord | null {
    const row = this.stmt.get.get(this.mesh, actionId) as ActionRow | undefined;
    return row ? this.toRecord(row) : null;
  }

  recent(limit: number): ActionRecord[] {
    return (this.stmt.recent.all(this.mesh, limit) as ActionRow[]).map((r) => this.toRecord(r));
  }

  /** The snapshot a follower forwards with each of the action's commands. */
  snapshot(actionId: string): ActionSnapshot | null {
    const row = this.stmt.get.get(this.mesh, actionId) as ActionRow | undefined;
    if (!row) return null;
    const record = this.toRecord(row);
    return {
      id: record.id,
      origin: record.origin,
      actor: record.actor,
      reason: record.reason,
      target: record.target,
      action: record.action,
      summary: record.summary,
      undo: record.undo,
      undoOf: record.undoOf,
      ...(record.evidence === null ? {} : { evidence: record.evidence }),
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      coreId: record.coreId,
    };
  }

  /** Deletes actions older than `before` whose commands were pruned already. */
  prune(before: number): number {
    return this.stmt.prune.run({ mesh: this.mesh, before }).changes;
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Stores a new action, runs the `recorded` hook, marks what it undoes, and audits it as
   * `requested` — inside the caller's transaction, so a throwing hook rolls all of it back.
   */
  private recordRequested(snapshot: ActionSnapshot, at: number, commandIds: string[], detail: Record<string, unknown>): void {
    this.insertAction(snapshot);
    this.hooks.recorded?.(snapshot);
    if (snapshot.undoOf) this.stmt.undoneBy.run(snapshot.id, this.mesh, snapshot.undoOf);
    this.audit.append({
      at,
      event: 'requested',
      actor: snapshot.actor,
      origin: snapshot.origin,
      action: snapshot.action.action,
      service: snapshot.target.service,
      instanceId: snapshot.target.instanceId ?? null,
      reason: snapshot.reason,
      result: 'pending',
      detail: { action: snapshot.action, summary: snapshot.summary, ...detail },
      evidence: snapshot.evidence,
      actionId: snapshot.id,
      commandIds,
      undoOf: snapshot.undoOf,
      coreId: this.coreId,
    });
  }

  private write(snapshot: ActionSnapshot, commands: NewCommand[]): ActionRecord {
    try {
      this.db.transaction(() => {
        this.outbox.assertRoom(commands.length);
        this.recordRequested(
          snapshot,
          snapshot.createdAt,
          commands.map((c) => c.commandId),
          {
            expected: commands.flatMap((c) => c.expected),
            undo: snapshot.undo,
            ...(commands.length > 1 ? { commands: commands.map((c) => ({ commandId: c.commandId, target: c.target, action: c.action })) } : {}),
          },
        );
        for (const command of commands) this.outbox.enqueue(command);
      })();
    } catch (err) {
      // Refusals are audited too (outside the rolled-back transaction): someone tried.
      if (err instanceof Error && !(err instanceof ValidationError)) {
        this.audit.append({
          at: this.now(),
          event: 'refused',
          actor: snapshot.actor,
          origin: snapshot.origin,
          action: snapshot.action.action,
          service: snapshot.target.service,
          instanceId: snapshot.target.instanceId ?? null,
          reason: snapshot.reason,
          result: 'refused',
          detail: { error: err.message, summary: snapshot.summary },
          evidence: snapshot.evidence,
          actionId: snapshot.id,
          undoOf: snapshot.undoOf,
          coreId: this.coreId,
        });
      }
      throw err;
    }
    this.kick();
    const record = this.get(snapshot.id);
    if (!record) throw new NotFoundError('Control action', snapshot.id);
    return record;
  }

  private insertAction(snapshot: ActionSnapshot): void {
    this.stmt.insert.run({
      mesh: this.mesh,
      id: snapshot.id,
      origin: snapshot.origin,
      actor: snapshot.actor,
      reason: snapshot.reason,
      service: snapshot.target.service,
      instanceId: snapshot.target.instanceId ?? null,
      action: JSON.stringify(snapshot.action),
      summary: snapshot.summary,
      undo: snapshot.undo ? JSON.stringify(snapshot.undo) : null,
      undoOf: snapshot.undoOf,
      evidence: snapshot.evidence === undefined ? null : auditJson(snapshot.evidence, 'evidence'),
      coreId: snapshot.coreId,
      createdAt: snapshot.createdAt,
      expiresAt: snapshot.expiresAt,
    });
  }

  private newCommand(snapshot: ActionSnapshot, target: CommandTarget, action: ControlAction): NewCommand {
    return {
      commandId: randomUUID(),
      actionId: snapshot.id,
      target,
      action,
      issuer: `${snapshot.origin === 'automatic' ? 'automation' : 'console'}:${snapshot.actor}`.slice(0, 128),
      reason: snapshot.reason,
      createdAt: snapshot.createdAt,
      expiresAt: snapshot.expiresAt,
      expected: this.expectedFor(target),
    };
  }

  /** The target instance, or every instance of the service that is not down. */
  expectedFor(target: CommandTarget): string[] {
    if (target.instanceId) return [target.instanceId];
    const live = this.registry.instances(target.service).filter((i) => i.state !== 'down');
    if (live.length === 0) {
      throw new ValidationError(`${target.service} has no live instance to send the command to`, [
        { path: 'target.service', message: `no live instance of ${target.service} is known` },
      ]);
    }
    return live.map((i) => i.instanceId);
  }

  /** The instances an action touches: the target instance, a zone's instances, or all. */
  private affectedOf(action: ControlAction, target: CommandTarget, all: Instance[]): Instance[] {
    if (isZoneAction(action)) return all.filter((i) => i.zone === action.zone);
    return target.instanceId ? all.filter((i) => i.instanceId === target.instanceId) : all;
  }

  /**
   * The command targets of an action: itself, or for a zone action one per instance of the zone
   * that is not down (every instance of the zone when all are down: the commands wait in their queues).
   */
  private expand(target: CommandTarget, action: ControlAction): CommandTarget[] {
    if (!isZoneAction(action)) return [target];
    const zone = this.registry.instances(target.service).filter((i) => i.zone === action.zone);
    const live = zone.filter((i) => i.state !== 'down');
    return (live.length ? live : zone).map((i) => ({ service: target.service, instanceId: i.instanceId }));
  }

  private checkTarget(target: CommandTarget, all: Instance[], action?: ControlAction): void {
    if (all.length === 0) {
      throw new ValidationError(`No instance of service "${target.service}" is known`, [{ path: 'target.service', message: `no instance of ${target.service} is known` }]);
    }
    if (target.instanceId && !all.some((i) => i.instanceId === target.instanceId)) {
      throw new ValidationError(`Service "${target.service}" has no instance "${target.instanceId}"`, [
        { path: 'target.instanceId', message: `${target.service} has no instance ${target.instanceId}` },
      ]);
    }
    if (action && isZoneAction(action)) {
      if (target.instanceId) {
        throw new ValidationError(`${action.action} acts on a zone of a service, not on one instance`, [{ path: 'target.instanceId', message: 'leave it out: the action targets every instance of the zone' }]);
      }
      if (!all.some((i) => i.zone === action.zone)) {
        throw new ValidationError(`Service "${target.service}" has no instance in zone "${action.zone}"`, [
          { path: 'action.zone', message: `${target.service} has instances in ${[...new Set(all.map((i) => i.zone))].sort().join(', ')}` },
        ]);
      }
    }
  }

  private checkEvidence(evidence: unknown): unknown {
    if (evidence === undefined) return undefined;
    try {
      return JSON.parse(auditJson(evidence, 'evidence')) as unknown;
    } catch (err) {
      throw new ValidationError(`Invalid evidence: ${(err as Error).message}`, [{ path: 'evidence', message: (err as Error).message }]);
    }
  }

  private undoPlan(action: ControlAction, target: CommandTarget, affected: Instance[]): UndoPlan | null {
    switch (action.action) {
      case 'drain':
      case 'eject':
        return { summary: `restore ${describeTarget(target)}`, commands: [{ target, action: { action: 'restore' } }] };
      case 'fault':
        return { summary: `clear the fault on ${describeTarget(target)}`, commands: [{ target, action: { action: 'clear-fault' } }] };
      case 'set-weight': {
        const instances = target.instanceId ? affected : affected.filter((i) => i.state !== 'down');
        if (instances.length === 0) return null;
        const weights = new Set(instances.map((i) => i.weight));
        const list = instances.map((i) => `${i.instanceId} → ${i.weight}`).join(', ');
        if (target.instanceId || weights.size === 1) {
          const weight = instances[0]!.weight;
          return { summary: `weight of ${describeTarget(target)} back to ${weight}`, commands: [{ target, action: { action: 'set-weight', weight } }] };
        }
        return {
          summary: `weights back to ${list}`.slice(0, 1024),
          commands: instances.map((i) => ({ target: { service: target.service, instanceId: i.instanceId }, action: { action: 'set-weight' as const, weight: i.weight } })),
        };
      }
      case 'trip-circuit':
        return { summary: `reset the circuit ${describeTarget(target)} → ${action.callee}`, commands: [{ target, action: { action: 'reset-circuit', callee: action.callee } }] };
      case 'reset-circuit':
        return { summary: `trip the circuit ${describeTarget(target)} → ${action.callee} again, until reset`, commands: [{ target, action: { action: 'trip-circuit', callee: action.callee } }] };
      case 'failover-zone':
        return { summary: `restore zone ${action.zone} of ${target.service} (gradual fail-back)`, commands: [{ target, action: { action: 'restore-zone', zone: action.zone } }] };
      case 'restore':
      case 'clear-fault':
      case 'restore-zone':
        return null;
    }
  }

  private auditResult(record: CommandRecord): void {
    if (!record.actionId) {
      this.audit.append({
        at: record.finishedAt ?? this.now(),
        event: 'result',
        actor: record.issuer,
        origin: 'operator',
        action: record.action.action,
        service: record.target.service,
        instanceId: record.target.instanceId ?? null,
        reason: record.reason,
        result: record.state === 'expired' ? 'expired' : (record.state as 'acked' | 'partially-acked' | 'rejected'),
        detail: { progress: record.progress, commandState: record.state },
        commandIds: [record.commandId],
        coreId: this.coreId,
      });
      return;
    }
    const row = this.stmt.get.get(this.mesh, record.actionId) as ActionRow | undefined;
    if (!row) return;
    const commands = this.outbox.byAction(record.actionId);
    if (commands.some((c) => isOpenState(c.state))) return; // more to come
    const state = aggregateState(commands.map((c) => c.state));
    const progress = aggregateProgress(commands);
    this.audit.append({
      at: record.finishedAt ?? this.now(),
      event: 'result',
      actor: row.actor,
      origin: row.origin,
      action: (JSON.parse(row.action) as ControlAction).action,
      service: row.service,
      instanceId: row.instance_id,
      reason: row.reason,
      result: state === 'pending' || state === 'forwarded' || state === 'published' ? 'pending' : state,
      detail: {
        summary: row.summary,
        counts: { expected: progress.expected, acked: progress.acked, rejected: progress.rejected, waiting: progress.waiting },
        instances: progress.instances,
        commands: commands.map((c) => ({ commandId: c.commandId, state: c.state, lastError: c.lastError })),
      },
      actionId: row.id,
      commandIds: commands.map((c) => c.commandId),
      undoOf: row.undo_of,
      coreId: this.coreId,
    });
  }

  private toRecord(row: ActionRow): ActionRecord {
    const commands = this.outbox.byAction(row.id);
    return {
      id: row.id,
      origin: row.origin,
      actor: row.actor,
      reason: row.reason,
      target: { service: row.service, ...(row.instance_id ? { instanceId: row.instance_id } : {}) },
      action: JSON.parse(row.action) as ControlAction,
      summary: row.summary,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      undo: row.undo ? (JSON.parse(row.undo) as UndoPlan) : null,
      undoOf: row.undo_of,
      undoneBy: row.undone_by,
      evidence: row.evidence === null ? null : (JSON.parse(row.evidence) as unknown),
      coreId: row.core_id,
      state: commands.length ? aggregateState(commands.map((c) => c.state)) : 'expired',
      progress: aggregateProgress(commands),
      commands: commands.map((c) => ({ commandId: c.commandId, target: c.target, action: c.action, state: c.state, publishedAt: c.publishedAt, lastError: c.lastError })),
    };
  }
}

