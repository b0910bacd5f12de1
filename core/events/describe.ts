/**
 * How each thing the core sees reads as one line of the events tail. Pure: the collector
 * (collector.ts) calls these with what the registry, failover, control plane, incidents,
 * connections and storage report.
 */
import type { ConnectionState } from '../api/contract.js';
import type { AuditEntry } from '../control/audit.js';
import type { LeadershipState } from '../control/leader.js';
import type { IncidentSummary } from '../incidents/schema.js';
import type { ControlAck, HealthSignal } from '../protocol/messages.js';
import type { RegistryChange } from '../registry/registry.js';
import type { StoreHealthState } from '../store/store-health.js';
import type { EventTypeFlow } from '../telemetry/live-events.js';
import type { TailEvent } from './schema.js';

export type TailInput = Omit<TailEvent, 'seq'>;

const base = (profileId: string | null, at: number) => ({ profileId, at, service: null, instanceId: null, actor: null });

export function registryEvent(profileId: string, c: RegistryChange): TailInput {
  // The registry's own detail already says "joined <zone> at <address>", "weight 1 → 2", …
  const text =
    c.kind === 'registered' && !c.from
      ? `${c.instanceId} ${c.detail || 'joined'} (${c.to})`
      : c.kind === 'state' && c.from && c.from !== c.to
        ? `${c.instanceId} ${c.from} → ${c.to}${c.detail ? ` (${c.detail})` : ''}`
        : `${c.instanceId} ${c.detail || c.kind}`;
  return { ...base(profileId, c.at), kind: 'registry', level: c.to === 'down' ? 'warning' : 'info', service: c.service, instanceId: c.instanceId, text };
}

const AUTOMATIC_VERBS: Record<string, string> = { eject: 'ejected', probe: 'probing', restore: 'restored', 'zone-failover': 'zone failed over', 'zone-failback': 'zone failing back' };

export function auditEvent(profileId: string, e: AuditEntry): TailInput {
  const target = e.instanceId ?? e.service;
  const automatic = e.origin === 'automatic';
  const common = { ...base(profileId, e.at), service: e.service || null, instanceId: e.instanceId, actor: e.actor };
  if (automatic) {
    const verb = AUTOMATIC_VERBS[e.action] ?? e.action;
    return { ...common, kind: 'failover', level: e.action === 'eject' || e.action === 'zone-failover' ? 'warning' : 'info', text: `${target} ${verb} by the core: ${e.reason}` };
  }
  const label = `${e.origin === 'undo' ? 'undo: ' : ''}${e.action} ${target}`;
  if (e.event === 'requested') return { ...common, kind: 'control', level: 'info', text: `${label} requested: ${e.reason}` };
  if (e.event === 'refused') return { ...common, kind: 'control', level: 'warning', text: `${label} refused: ${refusal(e.detail) ?? e.reason}` };
  return { ...common, kind: 'control', level: e.result === 'acked' ? 'info' : 'warning', text: `${label}: ${e.result}` };
}

function refusal(detail: unknown): string | null {
  if (detail && typeof detail === 'object') {
    const d = detail as Record<string, unknown>;
    for (const key of ['message', 'error', 'reason']) if (typeof d[key] === 'string') return d[key] as string;
  }
  return null;
}

export function ackEvent(profileId: string, ack: ControlAck, at: number): TailInput {
  return {
    ...base(profileId, at),
    kind: 'ack',
    level: ack.status === 'rejected' ? 'warning' : 'info',
    service: ack.service,
    instanceId: ack.instanceId,
    actor: ack.instanceId,
    text: `${ack.instanceId} ${ack.status} command ${ack.commandId.slice(0, 8)}${ack.detail ? `: ${ack.detail}` : ''}`,
  };
}

export function signalEvent(profileId: string, s: HealthSignal, at: number): TailInput {
  return {
    ...base(profileId, at),
    kind: 'signal',
    level: 'warning',
    service: s.target.service,
    instanceId: s.target.instanceId,
    actor: s.reporter.instanceId,
    text: `${s.target.instanceId} ${s.kind} as seen by ${s.reporter.instanceId}${s.detail ? ` (${s.detail})` : ''}`,
  };
}

export function leadershipEvent(profileId: string, s: LeadershipState, at: number): TailInput {
  const text = s.isLeader ? `This console (${s.self.host}) leads the mesh` : s.leader ? `${s.leader.host} leads the mesh` : 'No console is known to lead the mesh';
  return { ...base(profileId, at), kind: 'leadership', level: s.leader ? 'info' : 'warning', text };
}

type IncidentMark = Pick<IncidentSummary, 'id' | 'title' | 'severity' | 'status' | 'service'>;

/** What changed between two lists of open incidents: opened, severity, acknowledged, resolved. */
export function incidentEvents(profileId: string, before: ReadonlyMap<number, IncidentMark>, open: readonly IncidentMark[], at: number): TailInput[] {
  const out: TailInput[] = [];
  const level = (i: IncidentMark) => (i.severity === 'failing' ? 'critical' : 'warning');
  const line = (i: IncidentMark, text: string, lvl: TailInput['level']): TailInput => ({ ...base(profileId, at), kind: 'incident', level: lvl, service: i.service, text: `Incident #${i.id} ${text}: ${i.title}` });
  const now = new Map(open.map((i) => [i.id, i]));
  for (const i of open) {
    const was = before.get(i.id);
    if (!was) out.push(line(i, `opened (${i.severity})`, level(i)));
    else {
      if (was.severity !== i.severity) out.push(line(i, `${i.severity === 'failing' ? 'escalated' : 'eased'} to ${i.severity}`, level(i)));
      if (was.status !== i.status) out.push(line(i, i.status, 'info'));
    }
  }
  for (const [id, was] of before) if (!now.has(id)) out.push(line(was, 'resolved', 'info'));
  return out;
}

/** Connection states that changed status (or attempt) since `before`. */
export function connectionEvents(before: ReadonlyMap<string, ConnectionState>, states: readonly ConnectionState[], at: number): TailInput[] {
  const out: TailInput[] = [];
  for (const s of states) {
    const was = before.get(s.profileId);
    if (was && was.status === s.status && was.attempt === s.attempt) continue;
    if (!was && s.status === 'idle') continue;
    const detail =
      s.status === 'reconnecting' ? ` · attempt ${s.attempt}${s.error ? `: ${s.error}` : ''}` : s.status === 'failed' ? `: ${s.error ?? 'refused'}` : s.status === 'blocked' ? `: ${s.blockedReason ?? 'resource alarm'}` : '';
    const level = s.status === 'failed' ? 'critical' : s.status === 'reconnecting' || s.status === 'blocked' ? 'warning' : 'info';
    out.push({ ...base(s.profileId, at), kind: 'connection', level, text: `Broker connection ${s.status}${detail}` });
  }
  return out;
}

export function storageEvent(state: StoreHealthState, at: number): TailInput {
  return state.state === 'ok'
    ? { ...base(null, at), kind: 'storage', level: 'info', text: 'Database writes succeed again' }
    : { ...base(null, at), kind: 'storage', level: 'critical', text: `Database writes failing (${state.problem ?? 'other'}): ${state.message ?? ''}`.trim() };
}

/** Publishers and consumers of domain event types not seen before (adds them to `seen`). */
export function flowEvents(profileId: string, seen: Set<string>, flows: readonly EventTypeFlow[], at: number, maxSeen = 10_000): TailInput[] {
  const out: TailInput[] = [];
  const add = (key: string, service: string, text: string) => {
    if (seen.has(key) || seen.size >= maxSeen) return;
    seen.add(key);
    out.push({ ...base(profileId, at), kind: 'flow', level: 'info', service, text });
  };
  for (const f of flows) {
    for (const p of f.producers) add(`p\u0000${f.type}\u0000${p.service}`, p.service, `${p.service} publishes ${f.type} (exchange ${p.exchange})`);
    for (const c of f.consumers) add(`c\u0000${f.type}\u0000${c.service}`, c.service, `${c.service} consumes ${f.type} (queue ${c.queue})`);
  }
  return out;
}
