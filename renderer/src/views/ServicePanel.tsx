import { useEffect, useState } from 'react';
import type { EdgeSummary, InstanceInfo, MeshSummary } from '../../../core/api/contract';
import { useApi } from '../api/hooks';
import { CONDITION_META, instanceCondition } from '../failover-words';
import { ago, edgeHealth, formatMs, formatPercent, formatRate } from '../format';
import { ActionDialog, type OperatorAction } from './ActionDialog';
import { InstanceEvidence } from './InstanceEvidence';
import { TrafficChart } from './TrafficChart';

interface Props {
  profileId: string;
  service: string;
  mesh: MeshSummary;
  onClose: () => void;
}

interface HistoryRow {
  id: number;
  at: number;
  instanceId: string;
  kind: string;
  from: string | null;
  to: string | null;
  detail: string;
}

/** The side panel for one service: its instances, its traffic in and out, its recent history. */
export function ServicePanel({ profileId, service, mesh, onClose }: Props) {
  const api = useApi();
  const [instances, setInstances] = useState<InstanceInfo[] | null>(null);
  const [history, setHistory] = useState<HistoryRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [acting, setActing] = useState<{ target: { service: string; instanceId?: string }; action: OperatorAction; title: string } | null>(null);
  const [probe, setProbe] = useState<{ share: number; successesRequired: number } | null>(null);

  // The policy in force says how much traffic a probing instance gets and for how long.
  useEffect(() => {
    let live = true;
    api.call('failover.policy', { profileId, service }).then(
      (p) => live && setProbe({ share: p.policy.probe.share, successesRequired: p.policy.probe.successesRequired }),
      () => live && setProbe(null),
    );
    return () => {
      live = false;
    };
  }, [api, profileId, service]);

  // Refresh with every mesh summary (about once a second): cheap queries on the core's memory.
  useEffect(() => {
    let live = true;
    Promise.all([api.call('mesh.instances', { profileId, service }), api.call('mesh.history', { profileId, service, limit: 20 })]).then(
      ([i, h]) => {
        if (!live) return;
        setInstances(i);
        setHistory(h);
        setError(null);
      },
      (err: Error) => live && setError(err.message),
    );
    return () => {
      live = false;
    };
  }, [api, profileId, service, mesh.at]);

  const inbound = mesh.edges.filter((e) => e.to === service);
  const outbound = mesh.edges.filter((e) => e.from === service);

  return (
    <aside className="side-panel service-panel" aria-label={`Service ${service}`} data-testid="service-panel">
      <div className="panel">
        <div className="card-header">
          <h2>{service}</h2>
          <button onClick={onClose} aria-label="Close panel">
            ✕
          </button>
        </div>
        {error && (
          <p className="error-box" role="alert">
            {error}
          </p>
        )}
        <h3>Instances</h3>
        {!instances ? (
          <p className="muted">Loading…</p>
        ) : (
          <table className="grid compact" data-testid="instances">
            <thead>
              <tr>
                <th>Instance</th>
                <th>Zone</th>
                <th>State</th>
                <th className="num">Weight</th>
                <th>Seen</th>
                <th>Act</th>
              </tr>
            </thead>
            <tbody>
              {instances.map((i) => {
                const condition = instanceCondition(i);
                return [
                <tr key={i.instanceId} data-instance={i.instanceId} data-state={i.state} data-condition={condition} className={`instance-${condition}`}>
                  <td className="mono instance-id" title={i.address}>
                    {i.instanceId}
                  </td>
                  <td>{i.zone}</td>
                  <td className={`state-${condition}`} title={i.failover?.reason ?? ''}>
                    <span aria-hidden="true">{CONDITION_META[condition].icon}</span> {CONDITION_META[condition].label}
                  </td>
                  <td className="num">{i.weight}</td>
                  <td className="muted">{ago(i.lastSeen)}</td>
                  <td className="row-actions">
                    {i.state === 'draining' ? (
                      <button onClick={() => setActing({ target: { service, instanceId: i.instanceId }, action: { action: 'restore' }, title: `Restore ${i.instanceId}` })}>
                        Restore
                      </button>
                    ) : (
                      <button onClick={() => setActing({ target: { service, instanceId: i.instanceId }, action: { action: 'drain' }, title: `Drain ${i.instanceId}` })}>
                        Drain
                      </button>
                    )}
                  </td>
                </tr>,
                <tr key={`${i.instanceId}-evidence`} className="instance-evidence-row" data-instance-evidence={i.instanceId}>
                  <td colSpan={6}>
                    <InstanceEvidence profileId={profileId} instance={i} condition={condition} probe={probe} now={mesh.at} />
                  </td>
                </tr>,
                ];
              })}
            </tbody>
          </table>
        )}
        <div className="actions">
          <button
            onClick={() =>
              setActing({
                target: { service },
                action: { action: 'fault', fault: { share: 0.5, delayMs: 0, abortStatus: 503, durationMs: 60_000 } },
                title: `Fault drill on ${service}: 503 for half of requests, 60 s`,
              })
            }
          >
            Fault drill…
          </button>
          {[...new Set((instances ?? []).map((i) => i.zone))].sort().map((zone) => (
            <button
              key={zone}
              onClick={() => setActing({ target: { service }, action: { action: 'failover-zone', zone }, title: `Fail ${service} over away from zone ${zone}` })}
            >
              Fail over {zone}…
            </button>
          ))}
        </div>
        {acting && <ActionDialog profileId={profileId} target={acting.target} action={acting.action} title={acting.title} onClose={() => setActing(null)} />}
        <div className="card-header">
          <h3>Traffic in (live, 5 min)</h3>
          <a href={`#/traffic?service=${encodeURIComponent(service)}&range=1h`}>Open in Traffic ›</a>
        </div>
        <TrafficChart profileId={profileId} target={{ kind: 'service', service }} range="live" compact />
        <EdgeList title="Called by" edges={inbound} peer={(e) => e.from} />
        <EdgeList title="Calls" edges={outbound} peer={(e) => e.to} />
        <h3>Recent changes</h3>
        {!history ? (
          <p className="muted">Loading…</p>
        ) : history.length === 0 ? (
          <p className="muted">No registry changes recorded.</p>
        ) : (
          <ol className="history">
            {history.map((h) => (
              <li key={h.id}>
                <span className="muted">{new Date(h.at).toLocaleTimeString()}</span> <span className="mono">{h.instanceId}</span>{' '}
                {h.kind === 'registered' ? '' : h.from && h.to ? `${h.from} → ${h.to} ` : `${h.kind} `}
                <span className="muted">{h.detail}</span>
              </li>
            ))}
          </ol>
        )}
      </div>
    </aside>
  );
}

function EdgeList({ title, edges, peer }: { title: string; edges: EdgeSummary[]; peer: (e: EdgeSummary) => string }) {
  return (
    <>
      <h3>{title}</h3>
      {edges.length === 0 ? (
        <p className="muted">No traffic in the last 10 s.</p>
      ) : (
        <table className="grid compact">
          <tbody>
            {edges.map((e) => (
              <tr key={`${e.from}>${e.to}`}>
                <td>{peer(e)}</td>
                <td className="num">{formatRate(e.rps)}</td>
                <td className={`num text-${edgeHealth(e.errorRate, e.requests)}`}>{formatPercent(e.errorRate)}</td>
                <td className="num">p99 {formatMs(e.p99)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
