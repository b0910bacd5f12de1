import { useEffect, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import type { ControlActionRecord, ControlPreview, MethodInput } from '../../../core/api/contract';
import { ApiError } from '../api/client';
import { sameAction } from '../controls/same-action';
import { useApi, useTopic } from '../api/hooks';
import { formatPercent } from '../format';

export type OperatorAction = MethodInput<'control.act'>['action'];

interface Props {
  profileId: string;
  target: { service: string; instanceId?: string };
  action: OperatorAction;
  title: string;
  onClose: () => void;
  /** Inputs that shape the action (a weight slider, a drill form), shown above the blast radius until confirmed. */
  editor?: ReactNode;
  /** Why the edited action cannot be sent yet (confirm stays disabled), or null. */
  invalid?: string | null;
}

/** Actions whose blast radius is a share of requests rather than of capacity. */
const TRAFFIC_ACTIONS = new Set<OperatorAction['action']>(['fault', 'trip-circuit', 'failover-zone']);

/**
 * Acting safely: what will change and its blast radius first, a reason, a confirmation (typing
 * the service name for wide actions); then the agents' acknowledgements as they arrive, and Undo.
 */
export function ActionDialog({ profileId, target, action, title, onClose, editor, invalid = null }: Props) {
  const api = useApi();
  const [preview, setPreview] = useState<ControlPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [record, setRecord] = useState<ControlActionRecord | null>(null);
  const [undone, setUndone] = useState<ControlActionRecord | null>(null);
  const views = useTopic('control.actions');

  useEffect(() => {
    let live = true;
    api.call('control.preview', { profileId, action, target }).then(
      (p) => {
        if (!live) return;
        setPreview(p);
        setError(null);
      },
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
  }, [api, profileId, action, target]);

  // Live progress of what we sent (the topic pushes as acks arrive).
  const latest = (id: string | undefined) => views?.find((v) => v.profileId === profileId)?.actions.find((a) => a.id === id);
  const current = (record && latest(record.id)) ?? record;
  const undoCurrent = (undone && latest(undone.id)) ?? undone;
  const wide = preview !== null && (target.instanceId === undefined || (preview.affectedShare ?? 0) > 0.5);
  // The blast radius on screen must be the one of the action being confirmed (editors change it).
  const fresh = preview !== null && sameAction(preview.action, action);
  const confirmed = fresh && invalid === null && (!wide || typed.trim() === target.service);

  const run = async (fn: () => Promise<ControlActionRecord>, set: (r: ControlActionRecord) => void) => {
    setBusy(true);
    setError(null);
    try {
      set(await fn());
    } catch (err) {
      setError(err instanceof ApiError ? err.message : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  // On the body: the side panel it opens from must not clip it or stack the canvas above it.
  return createPortal(
    <div className="dialog-backdrop" role="presentation">
      <div className="dialog panel" role="dialog" aria-modal="true" aria-label={title} data-testid="action-dialog">
        <h2>{title}</h2>
        {error && (
          <p className="error-box" role="alert">
            {error}
          </p>
        )}
        {!current && editor}
        {!current && invalid && <p className="muted" role="status">{invalid}</p>}
        {!preview && !error && <p className="muted">Working out the blast radius…</p>}
        {preview && !current && (
          <>
            <p data-testid="preview-summary">{preview.summary}</p>
            <dl className={`facts${fresh ? '' : ' stale'}`} data-testid="blast-radius" data-fresh={fresh}>
              <dt>Instances affected</dt>
              <dd>
                {preview.affected} of {preview.instances.length}
              </dd>
              <dt>Healthy capacity affected</dt>
              <dd>{preview.affectedShare === null ? '—' : formatPercent(preview.affectedShare)}</dd>
              <dt>Capacity left</dt>
              <dd>{preview.capacityAfter === null ? '—' : formatPercent(preview.capacityAfter)}</dd>
              {TRAFFIC_ACTIONS.has(action.action) && (
                <>
                  <dt>Traffic affected</dt>
                  <dd data-testid="traffic-affected">{formatPercent(preview.trafficAffectedShare)}</dd>
                </>
              )}
              <dt>Undo</dt>
              <dd>{preview.undo ? preview.undo.summary : 'cannot be undone'}</dd>
            </dl>
            {preview.warnings.map((w) => (
              <p className="warning" key={w} role="alert">
                ⚠ {w}
              </p>
            ))}
            <label className="field">
              <span className="field-label">Reason (kept in the audit log)</span>
              <input name="reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. 5xx spike on payments-b" />
            </label>
            {wide && (
              <label className="field">
                <span className="field-label">
                  This touches {target.instanceId ? 'most' : 'all'} of <strong>{target.service}</strong>: type its name to confirm
                </span>
                <input name="confirm-name" value={typed} onChange={(e) => setTyped(e.target.value)} />
              </label>
            )}
            <div className="actions">
              <span className="spacer" />
              <button onClick={onClose}>Cancel</button>
              <button
                className="primary"
                disabled={busy || !confirmed}
                onClick={() => run(() => api.call('control.act', { profileId, action, target, reason }), setRecord)}
              >
                {busy ? 'Sending…' : 'Confirm'}
              </button>
            </div>
          </>
        )}
        {current && (
          <>
            <p data-testid="action-progress">
              <strong>{current.summary}</strong> — {current.progress.acked}/{current.progress.expected} acknowledged
              {current.progress.rejected ? `, ${current.progress.rejected} rejected` : ''} · {current.state}
            </p>
            <ul className="ack-list">
              {current.progress.instances.map((i) => (
                  <li key={i.instanceId} data-ack={i.instanceId} data-status={i.status}>
                  <span className="mono">{i.instanceId}</span> {i.status}
                  {i.detail ? <span className="muted"> — {i.detail}</span> : null}
                </li>
              ))}
            </ul>
            {undoCurrent && (
              <p data-testid="undo-progress">
                Undone: {undoCurrent.summary} — {undoCurrent.progress.acked}/{undoCurrent.progress.expected} acknowledged · {undoCurrent.state}
              </p>
            )}
            <div className="actions">
              <span className="spacer" />
              {current.undo && !undoCurrent && (
                <button disabled={busy} onClick={() => run(() => api.call('control.undo', { profileId, actionId: current.id, reason: `undo: ${reason}` }), setUndone)}>
                  Undo
                </button>
              )}
              <button className="primary" onClick={onClose}>
                Done
              </button>
            </div>
          </>
        )}
      </div>
    </div>,
    document.body,
  );
}
