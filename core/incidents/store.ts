/**
 * Incidents of one mesh in SQLite (migration 6): the incident rows, their timelines, their
 * ranked suspects, and per-service rule overrides. No policy here: IncidentMonitor decides.
 */
import type Database from 'better-sqlite3';
import { auditJson } from '../control/audit.js';
import { ConflictError, NotFoundError } from '../lib/errors.js';
import type { Db } from '../store/database.js';
import { parseIncidentRules, type IncidentRules } from './rules.js';
import type { ActiveRule, IncidentDetail, IncidentSeverity, IncidentStatus, IncidentSummary, SuspectInfo, TimelineEntry, TimelineKind } from './schema.js';
import type { Suspect } from './suspects.js';

interface IncidentRow {
  id: number;
  mesh: string;
  scope: string;
  service: string | null;
  title: string;
  status: IncidentStatus;
  severity: IncidentSeverity;
  peak_severity: IncidentSeverity;
  onset_at: number;
  opened_at: number;
  updated_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  assignee: string | null;
  rules: string;
  top_suspect: string | null;
}

interface TimelineRow {
  id: number;
  at: number;
  kind: TimelineKind;
  actor: string | null;
  text: string;
  evidence: string | null;
}

const SELECT = `SELECT i.*, (SELECT s.target FROM incident_suspects s WHERE s.incident = i.id AND s.rank = 1) AS top_suspect FROM incidents i`;

function toSummary(row: IncidentRow): IncidentSummary {
  return {
    id: row.id,
    mesh: row.mesh,
    scope: row.scope,
    service: row.service,
    title: row.title,
    status: row.status,
    severity: row.severity,
    peakSeverity: row.peak_severity,
    onsetAt: row.onset_at,
    openedAt: row.opened_at,
    updatedAt: row.updated_at,
    resolvedAt: row.resolved_at,
    resolvedBy: row.resolved_by,
    acknowledgedAt: row.acknowledged_at,
    acknowledgedBy: row.acknowledged_by,
    assignee: row.assignee,
    rules: JSON.parse(row.rules) as ActiveRule[],
    topSuspect: row.top_suspect,
  };
}

const toEntry = (r: TimelineRow): TimelineEntry => ({ ...r, evidence: r.evidence === null ? null : (JSON.parse(r.evidence) as unknown) });

type Statement = Database.Statement<unknown[]>;

export interface ListFilter {
  status?: 'open' | 'resolved' | 'all';
  service?: string;
  limit: number;
}

export class IncidentStore {
  /** Prepared statements by SQL text: the tick appends and updates many rows a second. */
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: Db,
    readonly mesh: string,
  ) {}

  private prepare(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.db.prepare(sql)));
    return stmt;
  }

  open(input: { scope: string; service: string | null; title: string; severity: IncidentSeverity; onsetAt: number; at: number; rules: ActiveRule[] }): IncidentSummary {
    const id = this.db.transaction(() => {
      const existing = this.openFor(input.scope);
      if (existing) throw new ConflictError(`An incident is already open for ${input.scope}`, { id: existing.id });
      const result = this
        .prepare(
          `INSERT INTO incidents (mesh, scope, service, title, status, severity, peak_severity, onset_at, opened_at, updated_at, rules)
           VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)`,
        )
        .run(this.mesh, input.scope, input.service, input.title, input.severity, input.severity, input.onsetAt, input.at, input.at, JSON.stringify(input.rules));
      return Number(result.lastInsertRowid);
    })();
    return this.summary(id);
  }

  openFor(scope: string): IncidentSummary | null {
    const row = this.prepare(`${SELECT} WHERE i.mesh = ? AND i.scope = ? AND i.status <> 'resolved'`).get(this.mesh, scope) as IncidentRow | undefined;
    return row ? toSummary(row) : null;
  }

  summary(id: number): IncidentSummary {
    const row = this.prepare(`${SELECT} WHERE i.mesh = ? AND i.id = ?`).get(this.mesh, id) as IncidentRow | undefined;
    if (!row) throw new NotFoundError('Incident', String(id));
    return toSummary(row);
  }

  /** Open (and acknowledged) ones first, failing before degraded, then newest. */
  list(filter: ListFilter): IncidentSummary[] {
    const where = ['i.mesh = @mesh'];
    if (filter.status === 'open') where.push(`i.status <> 'resolved'`);
    if (filter.status === 'resolved') where.push(`i.status = 'resolved'`);
    if (filter.service) where.push('i.service = @service');
    const rows = this
      .prepare(
        `${SELECT} WHERE ${where.join(' AND ')}
         ORDER BY (i.status = 'resolved'), (i.severity = 'failing') DESC, i.opened_at DESC, i.id DESC LIMIT @limit`,
      )
      .all({ mesh: this.mesh, service: filter.service ?? null, limit: filter.limit }) as IncidentRow[];
    return rows.map(toSummary);
  }

  detail(id: number): IncidentDetail {
    const summary = this.summary(id);
    const timeline = (this.prepare('SELECT id, at, kind, actor, text, evidence FROM incident_timeline WHERE incident = ? ORDER BY at, id').all(id) as TimelineRow[]).map(toEntry);
    const suspects = (
      this.prepare('SELECT rank, kind, target, service, score, reasoning, evidence FROM incident_suspects WHERE incident = ? ORDER BY rank').all(id) as Array<Omit<SuspectInfo, 'evidence'> & { evidence: string }>
    ).map((s) => ({ ...s, evidence: JSON.parse(s.evidence) as SuspectInfo['evidence'] }));
    return { ...summary, timeline, suspects, notes: timeline.filter((e) => e.kind === 'note') };
  }

  append(id: number, entry: { at: number; kind: TimelineKind; actor?: string | null; text: string; evidence?: unknown }): number {
    const evidence = entry.evidence === undefined || entry.evidence === null ? null : auditJson(entry.evidence, 'timeline evidence');
    const result = this.db.transaction(() => {
      const r = this
        .prepare('INSERT INTO incident_timeline (incident, at, kind, actor, text, evidence) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, entry.at, entry.kind, entry.actor ?? null, entry.text.slice(0, 4096), evidence);
      this.prepare('UPDATE incidents SET updated_at = max(updated_at, ?) WHERE id = ?').run(entry.at, id);
      return r;
    })();
    return Number(result.lastInsertRowid);
  }

  update(id: number, patch: { severity?: IncidentSeverity; rules?: ActiveRule[]; at: number }): void {
    const current = this.summary(id);
    const severity = patch.severity ?? current.severity;
    const peak = current.peakSeverity === 'failing' || severity === 'failing' ? 'failing' : 'degraded';
    this
      .prepare('UPDATE incidents SET severity = ?, peak_severity = ?, rules = ?, updated_at = max(updated_at, ?) WHERE id = ?')
      .run(severity, peak, JSON.stringify(patch.rules ?? current.rules), patch.at, id);
  }

  setSuspects(id: number, suspects: Suspect[]): void {
    this.db.transaction(() => {
      this.prepare('DELETE FROM incident_suspects WHERE incident = ?').run(id);
      const insert = this.prepare('INSERT INTO incident_suspects (incident, rank, kind, target, service, score, reasoning, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      suspects.forEach((s, i) => insert.run(id, i + 1, s.kind, s.target, s.service, s.score, s.reasoning, JSON.stringify(s.evidence)));
    })();
  }

  private requireUnresolved(id: number): IncidentSummary {
    const current = this.summary(id);
    if (current.status === 'resolved') throw new ConflictError(`Incident ${id} is already resolved`, { id, resolvedAt: current.resolvedAt });
    return current;
  }

  acknowledge(id: number, actor: string, at: number): IncidentSummary {
    const current = this.requireUnresolved(id);
    if (current.status === 'acknowledged') return current;
    this.db.transaction(() => {
      this.prepare(`UPDATE incidents SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, updated_at = max(updated_at, ?) WHERE id = ?`).run(at, actor, at, id);
      this.append(id, { at, kind: 'acknowledged', actor, text: `Acknowledged by ${actor}` });
    })();
    return this.summary(id);
  }

  assign(id: number, assignee: string | null, actor: string, at: number): IncidentSummary {
    this.summary(id);
    this.db.transaction(() => {
      this.prepare('UPDATE incidents SET assignee = ?, updated_at = max(updated_at, ?) WHERE id = ?').run(assignee, at, id);
      this.append(id, { at, kind: 'assigned', actor, text: assignee ? `Assigned to ${assignee} by ${actor}` : `Unassigned by ${actor}` });
    })();
    return this.summary(id);
  }

  resolve(id: number, by: string, at: number, text: string, evidence?: unknown): IncidentSummary {
    this.requireUnresolved(id);
    this.db.transaction(() => {
      this.prepare(`UPDATE incidents SET status = 'resolved', resolved_at = ?, resolved_by = ?, updated_at = max(updated_at, ?) WHERE id = ?`).run(at, by, at, id);
      this.append(id, { at, kind: 'resolved', actor: by, text, evidence });
    })();
    return this.summary(id);
  }

  /** Saved rule overrides of a service (validated), or null. */
  rulesOf(service: string): { rules: IncidentRules; updatedAt: number; updatedBy: string } | null {
    const row = this.prepare('SELECT rules, updated_at, updated_by FROM incident_rules WHERE mesh = ? AND service = ?').get(this.mesh, service) as
      | { rules: string; updated_at: number; updated_by: string }
      | undefined;
    return row ? { rules: parseIncidentRules(JSON.parse(row.rules)), updatedAt: row.updated_at, updatedBy: row.updated_by } : null;
  }

  saveRules(service: string, rules: unknown, actor: string, at: number): IncidentRules | null {
    if (rules === null) {
      this.prepare('DELETE FROM incident_rules WHERE mesh = ? AND service = ?').run(this.mesh, service);
      return null;
    }
    const parsed = parseIncidentRules(rules);
    this
      .prepare(
        `INSERT INTO incident_rules (mesh, service, rules, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (mesh, service) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
      )
      .run(this.mesh, service, JSON.stringify(parsed), at, actor);
    return parsed;
  }
}
