import { useEffect, useState } from 'react';
import type { AuditEntryInfo, MethodInput } from '../../../core/api/contract';
import { useHashParam, useQuery, useTopic } from '../api/hooks';
import { localClock } from '../failover-words';
import { auditRows, type AuditRow } from './audit-rows';

interface Props {
  /** The mesh (profile) the console speaks for; null when none is connected. */
  profileId: string | null;
}

type Result = AuditEntryInfo['result'];
type ActionName = NonNullable<MethodInput<'control.audit'>['action']>;
/** The contract's action names (the renderer imports only its types). */
const ACTIONS: ActionName[] = ['drain', 'eject', 'restore', 'set-weight', 'fault', 'clear-fault', 'trip-circuit', 'reset-circuit', 'failover-zone', 'restore-zone'];
const RESULT_HEALTH: Record<Result, string> = {
  pending: 'unknown',
  acked: 'healthy',
  'partially-acked': 'degraded',
  rejected: 'failing',
  expired: 'failing',
  refused: 'failing',
};
const RESULT_ICON: Record<Result, string> = { pending: '…', acked: '✓', 'partially-acked': '◐', rejected: '✕', expired: '⌛', refused: '✕' };
const PAGE = 100;

/** Every control action, operator's and automatic: who, when, why, the result and each agent's ack. */
export function AuditView({ profileId }: Props) {
  if (!profileId) {
    return (
      <div className="view">
        <div className="view-header">
          <h1>Audit</h1>
        </div>
        <div className="empty-state">
          <h2>Not connected to a broker</h2>
          <p>The audit log belongs to a mesh. Connect a profile to read it.</p>
        </div>
      </div>
    );
  }
  return <AuditList profileId={profileId} />;
}

function AuditList({ profileId }: { profileId: string }) {
  const [service, setService] = useHashParam('service');
  const [action, setAction] = useHashParam('action');
  const [origin, setOrigin] = useHashParam('origin');
  const [limit, setLimit] = useState(PAGE);
  const knownAction = ACTIONS.find((a) => a === action);
  const parsedOrigin = origin === 'operator' || origin === 'automatic' || origin === 'undo' ? origin : undefined;
  const [query, reload] = useQuery('control.audit', {
    profileId,
    limit,
    ...(service ? { service } : {}),
    ...(knownAction ? { action: knownAction } : {}),
    ...(parsedOrigin ? { origin: parsedOrigin } : {}),
  });
  // New actions and acks arrive on the control topic: read the log again then.
  const pushedAt = useTopic('control.actions')?.find((v) => v.profileId === profileId)?.at;
  useEffect(() => {
    if (pushedAt !== undefined) reload();
  }, [pushedAt, reload]);

  const rows = query.state === 'ready' ? auditRows(query.data.entries) : [];
  return (
    <div className="view audit-view" data-testid="audit-view">
      <div className="view-header">
        <h1>Audit</h1>
        <span className="muted">every control action, by operators and by automatic failover, newest first</span>
      </div>
      <div className="filters field-row">
        <label className="field">
          <span className="field-label">Service</span>
          <input name="audit-service" value={service ?? ''} onChange={(e) => setService(e.target.value.trim() || null)} placeholder="all services" />
        </label>
        <label className="field">
          <span className="field-label">Action</span>
          <select name="audit-action" value={action ?? ''} onChange={(e) => setAction(e.target.value || null)}>
            <option value="">all actions</option>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span className="field-label">By</span>
          <select name="audit-origin" value={origin ?? ''} onChange={(e) => setOrigin(e.target.value || null)}>
            <option value="">operators, undos and automation</option>
            <option value="operator">operators</option>
            <option value="undo">undos</option>
            <option value="automatic">automatic failover</option>
          </select>
        </label>
      </div>
      {query.state === 'loading' ? (
        <p className="muted">Loading the audit log…</p>
      ) : query.state === 'error' ? (
        <p className="error-box" role="alert">
          Could not read the audit log: {query.error.message}
        </p>
      ) : rows.length === 0 ? (
        <div className="empty-state">
          <h2>No actions recorded{service || action || origin ? ' for this filter' : ' yet'}</h2>
          <p>Drain, weights, fault drills, circuit and zone actions from a service's panel, and automatic ejections, are listed here.</p>
        </div>
      ) : (
        <>
          <table className="grid audit-table" data-testid="audit-table">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>What</th>
                <th>Why</th>
                <th>Result</th>
                <th>Acks</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <AuditLine key={r.key} row={r} />
              ))}
            </tbody>
          </table>
          {query.data.nextCursor !== null && limit < 500 && (
            <div className="actions">
              <button onClick={() => setLimit((n) => Math.min(500, n + PAGE))}>Show older</button>
            </div>
          )}
        </>
      )}
    </div>
  );
}

function AuditLine({ row }: { row: AuditRow }) {
  const health = RESULT_HEALTH[row.result];
  return (
    <tr data-audit-action={row.action} data-result={row.result} data-origin={row.origin}>
      <td className="mono" title={new Date(row.at).toISOString()}>
        {localClock(row.at)}
      </td>
      <td>
        {row.actor}
        {row.origin !== 'operator' && <span className="muted"> · {row.origin}</span>}
      </td>
      <td>
        <strong>{row.action}</strong> <span className="mono">{row.instanceId ?? row.service}</span>
        {row.summary && <div className="muted">{row.summary}</div>}
      </td>
      <td>{row.reason}</td>
      <td className={`text-${health}`}>
        <span aria-hidden="true">{RESULT_ICON[row.result]}</span> {row.result}
        {row.finishedAt !== null && <div className="muted">{localClock(row.finishedAt)}</div>}
      </td>
      <td>
        {row.acks ? (
          <details>
            <summary>
              {row.acks.acked}/{row.acks.expected}
              {row.acks.rejected ? `, ${row.acks.rejected} rejected` : ''}
            </summary>
            <ul className="ack-list">
              {row.instances.map((i) => (
                <li key={i.instanceId} data-status={i.status}>
                  <span className="mono">{i.instanceId}</span> {i.status}
                  {i.detail && <span className="muted"> — {i.detail}</span>}
                </li>
              ))}
            </ul>
          </details>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
    </tr>
  );
}
