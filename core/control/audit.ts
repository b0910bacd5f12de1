/**
 * The audit log of control actions: append-only rows in SQLite. Each action leaves a
 * `requested` entry when it is written to the outbox (who, when, what, why, and for automatic
 * decisions the evidence), a `result` entry when its commands settle or expire (acked,
 * partially-acked, rejected or expired, with every instance's answer), and a `refused` entry
 * when the core would not take it (outbox full, no leader, …). Entries are never updated.
 */
import type { Db } from '../store/database.js';

export const AUDIT_EVENTS = ['requested', 'result', 'refused'] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];
export const AUDIT_RESULTS = ['pending', 'acked', 'partially-acked', 'rejected', 'expired', 'refused'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];
export const ACTION_ORIGINS = ['operator', 'automatic', 'undo'] as const;
export type ActionOrigin = (typeof ACTION_ORIGINS)[number];

/** Evidence and detail JSON is capped; an automatic decision's evidence must fit. */
export const MAX_AUDIT_JSON_BYTES = 64 * 1024;

export interface AuditEntryInput {
  at: number;
  event: AuditEvent;
  actor: string;
  origin: ActionOrigin;
  /** The control action (`drain`, `set-weight`, …). */
  action: string;
  service: string;
  instanceId?: string | null;
  reason: string;
  result: AuditResult;
  /** Parameters of the action, per-instance answers, the refusal: whatever explains the entry. */
  detail?: unknown;
  evidence?: unknown;
  actionId?: string | null;
  commandIds?: readonly string[];
  undoOf?: string | null;
  /** The core that wrote the entry. */
  coreId: string;
}

export interface AuditEntry {
  id: number;
  at: number;
  event: AuditEvent;
  actor: string;
  origin: ActionOrigin;
  action: string;
  service: string;
  instanceId: string | null;
  reason: string;
  result: AuditResult;
  detail: unknown;
  evidence: unknown;
  actionId: string | null;
  commandIds: string[];
  undoOf: string | null;
  coreId: string;
}

export interface AuditQuery {
  actor?: string;
  service?: string;
  instanceId?: string;
  action?: string;
  event?: AuditEvent;
  result?: AuditResult;
  origin?: ActionOrigin;
  actionId?: string;
  /** Inclusive lower bound (ms since epoch). */
  since?: number;
  /** Exclusive upper bound (ms since epoch). */
  until?: number;
  /** Paging: entries older than this id (the previous page's `nextCursor`). */
  cursor?: number;
  limit: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: number | null;
}

interface AuditRow {
  id: number;
  at: number;
  event: AuditEvent;
  actor: string;
  origin: ActionOrigin;
  action: string;
  service: string;
  instance_id: string | null;
  reason: string;
  result: AuditResult;
  detail: string;
  evidence: string | null;
  action_id: string | null;
  command_ids: string;
  undo_of: string | null;
  core_id: string;
}

/** JSON text of `value`, refusing (RangeError) what does not serialise or is over the cap. */
export function auditJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value ?? null);
  } catch (err) {
    throw new RangeError(`${what} is not JSON-serialisable: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new RangeError(`${what} is not JSON-serialisable`);
  if (Buffer.byteLength(text) > MAX_AUDIT_JSON_BYTES) throw new RangeError(`${what} is ${Buffer.byteLength(text)} bytes as JSON, over the ${MAX_AUDIT_JSON_BYTES}-byte limit`);
  return text;
}

export class AuditLog {
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly mesh: string,
  ) {
    this.insert = db.prepare(
      `INSERT INTO control_audit (mesh, at, event, actor, origin, action, service, instance_id, reason, result, detail, evidence, action_id, command_ids, undo_of, core_id)
       VALUES (@mesh, @at, @event, @actor, @origin, @action, @service, @instanceId, @reason, @result, @detail, @evidence, @actionId, @commandIds, @undoOf, @coreId)`,
    );
  }

  append(entry: AuditEntryInput): number {
    const result = this.insert.run({
      mesh: this.mesh,
      at: entry.at,
      event: entry.event,
      actor: entry.actor.slice(0, 256),
      origin: entry.origin,
      action: entry.action,
      service: entry.service,
      instanceId: entry.instanceId ?? null,
      reason: entry.reason.slice(0, 1024),
      result: entry.result,
      detail: auditJson(entry.detail ?? {}, 'audit detail'),
      evidence: entry.evidence === undefined || entry.evidence === null ? null : auditJson(entry.evidence, 'evidence'),
      actionId: entry.actionId ?? null,
      commandIds: JSON.stringify(entry.commandIds ?? []),
      undoOf: entry.undoOf ?? null,
      coreId: entry.coreId,
    });
    return Number(result.lastInsertRowid);
  }

  /** Newest first, filtered, one page at a time. */
  query(filter: AuditQuery): AuditPage {
    const where = ['mesh = @mesh'];
    const params: Record<string, unknown> = { mesh: this.mesh, limit: filter.limit + 1 };
    const eq = (column: string, key: keyof AuditQuery) => {
      if (filter[key] === undefined) return;
      where.push(`${column} = @${key}`);
      params[key] = filter[key];
    };
    eq('actor', 'actor');
    eq('service', 'service');
    eq('instance_id', 'instanceId');
    eq('action', 'action');
    eq('event', 'event');
    eq('result', 'result');
    eq('origin', 'origin');
    if (filter.actionId !== undefined) {
      // An action's own entries and those of its undo.
      where.push('(action_id = @actionId OR undo_of = @actionId)');
      params.actionId = filter.actionId;
    }
    if (filter.since !== undefined) {
      where.push('at >= @since');
      params.since = filter.since;
    }
    if (filter.until !== undefined) {
      where.push('at < @until');
      params.until = filter.until;
    }
    if (filter.cursor !== undefined) {
      where.push('id < @cursor');
      params.cursor = filter.cursor;
    }
    const rows = this.db
      .prepare(`SELECT * FROM control_audit WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`)
      .all(params) as AuditRow[];
    const more = rows.length > filter.limit;
    const page = more ? rows.slice(0, filter.limit) : rows;
    return { entries: page.map(toEntry), nextCursor: more ? (page.at(-1)?.id ?? null) : null };
  }

  /** Deletes entries older than `before` (retention). */
  prune(before: number): number {
    return this.db.prepare('DELETE FROM control_audit WHERE mesh = ? AND at < ?').run(this.mesh, before).changes;
  }
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    event: row.event,
    actor: row.actor,
    origin: row.origin,
    action: row.action,
    service: row.service,
    instanceId: row.instance_id,
    reason: row.reason,
    result: row.result,
    detail: JSON.parse(row.detail) as unknown,
    evidence: row.evidence === null ? null : (JSON.parse(row.evidence) as unknown),
    actionId: row.action_id,
    commandIds: JSON.parse(row.command_ids) as string[],
    undoOf: row.undo_of,
    coreId: row.core_id,
  };
}
