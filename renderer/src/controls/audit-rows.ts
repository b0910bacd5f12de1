/**
 * The audit log as the Audit view lists it: one row per action (its `requested` or `refused`
 * entry joined with its `result`), newest first; entries without an action stand alone. Pure.
 */
import type { AuditEntryInfo } from '../../../core/api/contract';

export interface AuditRow {
  key: string;
  at: number;
  actor: string;
  origin: AuditEntryInfo['origin'];
  action: string;
  service: string;
  instanceId: string | null;
  reason: string;
  summary: string | null;
  /** The result entry's result; `pending` while no result is recorded (or on an older page). */
  result: AuditEntryInfo['result'];
  finishedAt: number | null;
  acks: { expected: number; acked: number; rejected: number } | null;
  /** Per instance answers, when the result recorded them. */
  instances: Array<{ instanceId: string; status: string; detail: string }>;
  undoOf: string | null;
  actionId: string | null;
}

type Entry = Pick<AuditEntryInfo, 'id' | 'at' | 'event' | 'actor' | 'origin' | 'action' | 'service' | 'instanceId' | 'reason' | 'result' | 'detail' | 'actionId' | 'undoOf'>;

const record = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});

/** Counts from a result's detail: actions record `counts`, bare commands `progress`. */
function acksOf(detail: unknown): AuditRow['acks'] {
  const d = record(detail);
  const c = record(d.counts ?? d.progress);
  return typeof c.expected === 'number' && typeof c.acked === 'number' ? { expected: c.expected, acked: c.acked, rejected: typeof c.rejected === 'number' ? c.rejected : 0 } : null;
}

function instancesOf(detail: unknown): AuditRow['instances'] {
  const d = record(detail);
  const list = Array.isArray(d.instances) ? d.instances : Array.isArray(record(d.progress).instances) ? (record(d.progress).instances as unknown[]) : [];
  return list.map((i) => record(i)).map((i) => ({ instanceId: String(i.instanceId ?? ''), status: String(i.status ?? ''), detail: String(i.detail ?? '') }));
}

export function auditRows(entries: Entry[]): AuditRow[] {
  const rows = new Map<string, AuditRow>();
  // Oldest first, so the request starts a row and its result completes it.
  for (const e of [...entries].sort((a, b) => a.at - b.at || a.id - b.id)) {
    const key = e.actionId ?? `entry-${e.id}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        key,
        at: e.at,
        actor: e.actor,
        origin: e.origin,
        action: e.action,
        service: e.service,
        instanceId: e.instanceId,
        reason: e.reason,
        summary: null,
        result: e.event === 'refused' ? 'refused' : 'pending',
        finishedAt: null,
        acks: null,
        instances: [],
        undoOf: e.undoOf,
        actionId: e.actionId,
      };
      rows.set(key, row);
    }
    const summary = record(e.detail).summary;
    if (typeof summary === 'string') row.summary = summary;
    if (e.event === 'refused') row.result = 'refused';
    if (e.event === 'result') {
      row.result = e.result;
      row.finishedAt = e.at;
      row.acks = acksOf(e.detail);
      row.instances = instancesOf(e.detail);
    }
  }
  return [...rows.values()].sort((a, b) => b.at - a.at);
}
