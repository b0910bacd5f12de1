import { useEffect, useState } from 'react';
import type { IncidentDetail, IncidentSummary, MethodOutput } from '../../../core/api/contract';
import { useApi, useHashParam, useQuery, useTopic } from '../api/hooks';
import { ago, formatMs, formatPercent } from '../format';
import './incidents.css';

interface Props {
  /** The mesh (profile) the console speaks for; null when none is connected. */
  profileId: string | null;
}

const SEVERITY_ICON = { failing: '✕', degraded: '▲' } as const;
const STATUS_LABEL = { open: 'Open', acknowledged: 'Acknowledged', resolved: 'Resolved' } as const;

export function SeverityPill({ incident }: { incident: Pick<IncidentSummary, 'severity' | 'status'> }) {
  const health = incident.status === 'resolved' ? 'unknown' : incident.severity;
  return (
    <span className={`pill pill-${health}`} data-severity={incident.severity}>
      <span aria-hidden="true" className="pill-icon">
        {SEVERITY_ICON[incident.severity]}
      </span>
      {incident.severity}
    </span>
  );
}

function duration(from: number, to: number): string {
  const s = Math.max(0, Math.round((to - from) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** The time now, refreshed every `everyMs` (ages and durations tick without a server push). */
function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** Incidents: the list (open first, by severity, with age), or one incident's page (#/incidents?id=N). */
export function IncidentsView({ profileId }: Props) {
  const [id, setId] = useHashParam('id');
  if (!profileId) {
    return (
      <div className="view">
        <div className="view-header">
          <h1>Incidents</h1>
        </div>
        <div className="empty-state">
          <h2>Not connected to a broker</h2>
          <p>Incidents are opened by the rules of a connected mesh. Connect a profile first.</p>
        </div>
      </div>
    );
  }
  return id ? <IncidentPage profileId={profileId} id={Number(id)} onBack={() => setId(null)} /> : <IncidentList profileId={profileId} onOpen={(n) => setId(String(n))} />;
}

function IncidentList({ profileId, onOpen }: { profileId: string; onOpen: (id: number) => void }) {
  const view = useTopic('incidents.changed')?.find((v) => v.profileId === profileId);
  const [list, reload] = useQuery('incidents.list', { profileId, status: 'all', limit: 200 });
  const now = useNow();
  // The topic says something changed: read the list again.
  useEffect(reload, [reload, view?.at]);
  return (
    <div className="view incidents">
      <div className="view-header">
        <h1>Incidents</h1>
        {view && (
          <span className="muted" data-testid="open-count">
            {view.open.length} open
          </span>
        )}
      </div>
      {view?.queueRules.onHold && (
        <p className="warning" role="status" data-testid="queue-rules-on-hold">
          Queue rules on hold{view.queueRules.since !== null ? ` for ${duration(view.queueRules.since, now)}` : ''}: {view.queueRules.reason}. Backlog and
          consumer-gone incidents open again once the broker reports queue depths and consumers.
        </p>
      )}
      {list.state === 'loading' ? (
        <p className="muted">Loading…</p>
      ) : list.state === 'error' ? (
        <p className="error-box" role="alert">
          {list.error.message}
        </p>
      ) : list.data.length === 0 ? (
        <div className="empty-state" data-testid="incidents-empty">
          <h2>No incidents</h2>
          <p>
            Incidents open when a rule holds for a few seconds: errors (≥ 0.1 % degraded, ≥ 10 % failing), p99 over its SLO, an instance lost,
            a zone below capacity, a queue backlog growing or its consumer gone. They resolve by themselves when the symptom is gone.
          </p>
        </div>
      ) : (
        <table className="grid" data-testid="incident-list">
          <thead>
            <tr>
              <th>Severity</th>
              <th>Incident</th>
              <th>Status</th>
              <th>First suspect</th>
              <th>Opened</th>
              <th className="num">Age</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((i) => (
              <tr key={i.id} data-incident={i.id} data-status={i.status} className={`incident-row ${i.status === 'resolved' ? 'resolved' : ''}`} onClick={() => onOpen(i.id)}>
                <td>
                  <SeverityPill incident={i} />
                </td>
                <td>
                  <a href={`#/incidents?id=${i.id}`} onClick={(e) => e.preventDefault()}>
                    #{i.id} {i.title}
                  </a>
                </td>
                <td>
                  {STATUS_LABEL[i.status]}
                  {i.assignee ? <span className="muted"> · {i.assignee}</span> : null}
                </td>
                <td className="mono">{i.topSuspect ?? '—'}</td>
                <td className="muted">{ago(i.openedAt, now)}</td>
                <td className="num">{duration(i.onsetAt, i.resolvedAt ?? now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function IncidentPage({ profileId, id, onBack }: { profileId: string; id: number; onBack: () => void }) {
  const api = useApi();
  const view = useTopic('incidents.changed')?.find((v) => v.profileId === profileId);
  const [detail, reload] = useQuery('incidents.get', { profileId, id });
  const [note, setNote] = useState('');
  const [assignee, setAssignee] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const now = useNow();
  useEffect(reload, [reload, view?.at]);

  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      reload();
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const download = (format: 'markdown' | 'json') =>
    act(async () => {
      const out = await api.call('incidents.export', { profileId, id, format });
      const url = URL.createObjectURL(new Blob([out.content], { type: out.contentType }));
      const a = document.createElement('a');
      a.href = url;
      a.download = out.filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });

  if (detail.state !== 'ready') {
    return (
      <div className="view">
        <button className="link" onClick={onBack}>
          ← All incidents
        </button>
        {detail.state === 'loading' ? (
          <p className="muted">Loading…</p>
        ) : (
          <p className="error-box" role="alert">
            {detail.error.message}
          </p>
        )}
      </div>
    );
  }
  const i: IncidentDetail = detail.data;
  const resolved = i.status === 'resolved';
  return (
    <div className="view incident-page" data-testid="incident-page" data-status={i.status}>
      <button className="link" onClick={onBack}>
        ← All incidents
      </button>
      <div className="view-header">
        <SeverityPill incident={i} />
        <h1>
          #{i.id} {i.title}
        </h1>
        <span className="muted" data-testid="incident-status">
          {STATUS_LABEL[i.status]}
          {i.acknowledgedBy ? ` · acknowledged by ${i.acknowledgedBy}` : ''}
          {i.assignee ? ` · assigned to ${i.assignee}` : ''}
          {i.resolvedBy ? ` · by ${i.resolvedBy}` : ''}
        </span>
      </div>
      <dl className="facts">
        <dt>Onset</dt>
        <dd>
          {new Date(i.onsetAt).toLocaleString()} ({ago(i.onsetAt, now)})
        </dd>
        <dt>Duration</dt>
        <dd>{duration(i.onsetAt, i.resolvedAt ?? now)}</dd>
        <dt>Peak severity</dt>
        <dd>{i.peakSeverity}</dd>
        {i.rules.length > 0 && (
          <>
            <dt>Rules</dt>
            <dd>
              {i.rules.map((r) => (
                <div key={`${r.rule}/${r.subject}`}>
                  <strong>{r.rule}</strong> {r.severity} — <span className="muted">{r.text}</span>
                </div>
              ))}
            </dd>
          </>
        )}
      </dl>
      <div className="actions">
        {i.status === 'open' && (
          <button className="primary" disabled={busy} onClick={() => act(() => api.call('incidents.acknowledge', { profileId, id }))}>
            Acknowledge
          </button>
        )}
        {!resolved && (
          <button disabled={busy} onClick={() => act(() => api.call('incidents.resolve', { profileId, id, reason: 'resolved from the console' }))}>
            Resolve
          </button>
        )}
        <span className="spacer" />
        <button disabled={busy} onClick={() => download('markdown')}>
          Export Markdown
        </button>
        <button disabled={busy} onClick={() => download('json')}>
          Export JSON
        </button>
      </div>
      {error && (
        <p className="error-box" role="alert">
          {error}
        </p>
      )}
      <div className="incident-columns">
        <section className="panel" aria-label="Suspects">
          <h2>Suspects</h2>
          {i.suspects.length === 0 ? (
            <p className="muted">None ranked yet: suspects come from the traffic since the onset.</p>
          ) : (
            <ol className="suspects" data-testid="suspects">
              {i.suspects.map((s) => (
                <li key={s.rank} data-suspect={s.target}>
                  <div className="suspect-head">
                    <span className="mono">{s.target}</span> <span className="muted">{s.kind}</span>
                    <span className="score" title="How much of the symptom this explains (0–1)">
                      <span className="score-bar" style={{ width: `${Math.round(s.score * 100)}%` }} />
                      {s.score.toFixed(2)}
                    </span>
                  </div>
                  <p className="reasoning">{s.reasoning}</p>
                </li>
              ))}
            </ol>
          )}
          {i.service && <WindowChart profileId={profileId} incident={i} />}
        </section>
        <section className="panel" aria-label="Timeline">
          <h2>Timeline</h2>
          <ol className="timeline" data-testid="timeline">
            {i.timeline.map((e) => (
              <li key={e.id} className={`tl-${e.kind}`} data-kind={e.kind}>
                <span className="muted mono">{new Date(e.at).toLocaleTimeString()}</span> <span className="tl-kind">{e.kind}</span>
                {e.actor ? <span className="muted"> {e.actor}</span> : null} <span>{e.text}</span>
                {e.evidence !== null && e.evidence !== undefined && (
                  <details>
                    <summary>evidence</summary>
                    <pre>{JSON.stringify(e.evidence, null, 2)}</pre>
                  </details>
                )}
              </li>
            ))}
          </ol>
          {!resolved && (
            <div className="incident-forms">
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  void act(() => api.call('incidents.note', { profileId, id, text: note })).then((ok) => ok && setNote(''));
                }}
              >
                <label className="field">
                  <span className="field-label">Note</span>
                  <textarea value={note} onChange={(e) => setNote(e.target.value)} rows={2} maxLength={4000} aria-label="Note" />
                </label>
                <button type="submit" disabled={busy || note.trim() === ''}>
                  Add note
                </button>
              </form>
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  void act(() => api.call('incidents.assign', { profileId, id, assignee: assignee.trim() || null })).then((ok) => ok && setAssignee(''));
                }}
              >
                <label className="field">
                  <span className="field-label">Assign to</span>
                  <input value={assignee} onChange={(e) => setAssignee(e.target.value)} placeholder={i.assignee ?? 'name'} aria-label="Assignee" />
                </label>
                <button type="submit" disabled={busy}>
                  Assign
                </button>
              </form>
            </div>
          )}
        </section>
      </div>
    </div>
  );
}

type Series = MethodOutput<'telemetry.series'>;

/** The service's error rate and p99 over the incident's window (from a minute before the onset). */
function WindowChart({ profileId, incident }: { profileId: string; incident: IncidentDetail }) {
  const api = useApi();
  const [series, setSeries] = useState<Series | null>(null);
  const [error, setError] = useState<string | null>(null);
  const start = incident.onsetAt - 60_000;
  const end = incident.resolvedAt ? incident.resolvedAt + 60_000 : null;
  useEffect(() => {
    let live = true;
    const load = () =>
      api.call('telemetry.series', { profileId, kind: 'service', service: incident.service!, start, end: end ?? Date.now() }).then(
        (s) => live && setSeries(s),
        (err: Error) => live && setError(err.message),
      );
    void load();
    const timer = end ? null : setInterval(load, 5000);
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
  }, [api, profileId, incident.service, start, end]);
  if (error) return <p className="muted">Chart unavailable: {error}</p>;
  if (!series) return null;
  const points = series.points;
  const maxP99 = Math.max(1, ...points.map((p) => p.p99 ?? 0));
  const x = (t: number) => ((t - series.start) / Math.max(1, series.end - series.start)) * 400;
  const line = (value: (p: Series['points'][number]) => number | null, max: number) =>
    points
      .filter((p) => value(p) !== null)
      .map((p) => `${x(p.t).toFixed(1)},${(80 - (value(p)! / max) * 76).toFixed(1)}`)
      .join(' ');
  const peakRate = Math.max(0, ...points.map((p) => p.errorRate));
  return (
    <figure className="window-chart" data-testid="window-chart">
      <figcaption>
        <h3>{incident.service} during the incident</h3>
        <span className="legend-errors">errors (peak {formatPercent(peakRate)})</span> · <span className="legend-p99">p99 (peak {formatMs(maxP99)})</span> ·{' '}
        <span className="muted">every {series.stepMs / 1000} s</span>
      </figcaption>
      <svg viewBox="0 0 400 80" preserveAspectRatio="none" role="img" aria-label={`Error rate and p99 of ${incident.service}`}>
        <line className="onset" x1={x(incident.onsetAt)} x2={x(incident.onsetAt)} y1={0} y2={80} />
        {incident.resolvedAt && <line className="onset" x1={x(incident.resolvedAt)} x2={x(incident.resolvedAt)} y1={0} y2={80} />}
        <polyline className="p99" points={line((p) => p.p99, maxP99)} />
        <polyline className="errors" points={line((p) => p.errorRate, Math.max(0.01, peakRate))} />
      </svg>
    </figure>
  );
}
