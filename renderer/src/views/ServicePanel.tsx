import { useEffect, useState } from 'react';
import type { InstanceInfo } from '../../../core/api/contract';
import type { LiveEdge, LiveMesh } from '../../../core/api/mesh-live';
import { useApi } from '../api/hooks';
import { CONDITION_META, instanceCondition } from '../failover-words';
import { ago, edgeHealth, formatMs, formatPercent, formatRate } from '../format';
import { FaultDialog } from '../controls/FaultDialog';
import { WeightsDialog } from '../controls/WeightsDialog';
import { ZonesPanel } from '../controls/ZonesPanel';
import { circuitAction, edgeId } from '../graph/edge-panel';
import { ActionDialog, type OperatorAction } from './ActionDialog';
import { InstanceEvidence } from './InstanceEvidence';
import { TrafficChart } from './TrafficChart';

interface Props {
  profileId: string;
  service: string;
  mesh: LiveMesh;
  onClose: () => void;
  /** Opens an edge's own panel (by its graph id). */
  onOpenEdge?: (id: string) => void;
}

/** The dialog open on the panel: a plain action, or one with inputs of its own. */
type Acting =
  | { kind: 'action'; target: { service: string; instanceId?: string }; action: OperatorAction; title: string }
  | { kind: 'weights'; instanceId?: string }
  | { kind: 'fault' };

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
export function ServicePanel({ profileId, service, mesh, onClose, onOpenEdge }: Props) {
  const api = useApi();
  const [instances, setInstances] = useState<InstanceInfo[] | null>(null);
  const [history, setHistory] = useState<HistoryRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [acting, setActing] = useState<Acting | null>(null);
  const act = (target: { service: string; instanceId?: string }, action: OperatorAction, title: string) => setActing({ kind: 'action', target, action, title });
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
                    {i.spared && (
                      <span className="spared-mark" title={i.spared.reason}>
                        {' '}
                        · slow (callees)
                      </span>
                    )}
                  </td>
                  <td className="num">{i.weight}</td>
                  <td className="muted">{ago(i.lastSeen)}</td>
                  <td className="row-actions">
                    {i.state === 'draining' ? (
                      <button onClick={() => act({ service, instanceId: i.instanceId }, { action: 'restore' }, `Restore ${i.instanceId}`)}>Restore</button>
                    ) : (
                      <button onClick={() => act({ service, instanceId: i.instanceId }, { action: 'drain' }, `Drain ${i.instanceId}`)}>Drain</button>
                    )}
                    <button onClick={() => setActing({ kind: 'weights', instanceId: i.instanceId })} aria-label={`Weight of ${i.instanceId}`}>
                      Weight
                    </button>
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
          <button disabled={!instances?.length} onClick={() => setActing({ kind: 'weights' })}>
            Weights…
          </button>
          <button onClick={() => setActing({ kind: 'fault' })}>Fault drill…</button>
          <a href={`#/audit?service=${encodeURIComponent(service)}`}>Audit ›</a>
        </div>
        {acting?.kind === 'action' && (
          <ActionDialog profileId={profileId} target={acting.target} action={acting.action} title={acting.title} onClose={() => setActing(null)} />
        )}
        {acting?.kind === 'weights' && instances && (
          <WeightsDialog profileId={profileId} service={service} instances={instances} instanceId={acting.instanceId} onClose={() => setActing(null)} />
        )}
        {acting?.kind === 'fault' && <FaultDialog profileId={profileId} service={service} onClose={() => setActing(null)} />}
        <h3>Zones</h3>
        <ZonesPanel
          profileId={profileId}
          service={service}
          at={mesh.at}
          onFailover={(zone) => act({ service }, { action: 'failover-zone', zone }, `Fail ${service} over away from zone ${zone}`)}
          onRestore={(zone) => act({ service }, { action: 'restore-zone', zone }, `Restore zone ${zone} of ${service}`)}
        />
        <div className="card-header">
          <h3>Traffic in (live, 5 min)</h3>
          <a href={`#/traffic?service=${encodeURIComponent(service)}&range=1h`}>Open in Traffic ›</a>
        </div>
        <TrafficChart profileId={profileId} target={{ kind: 'service', service }} range="live" compact />
        <EdgeList title="Called by" edges={inbound} peer={(e) => e.from} onOpen={onOpenEdge} />
        <EdgeList
          title="Calls"
          edges={outbound}
          peer={(e) => e.to}
          onOpen={onOpenEdge}
          circuit={(e) => {
            const c = circuitAction(service, e.to, e.circuit?.state);
            act({ service }, c.action, c.title);
          }}
        />
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

export const BREAKER_ICON = { closed: '●', open: '⊘', 'half-open': '◐' } as const;

/** Traffic along edges; with `circuit`, the callers' breaker state and Trip/Reset per edge. */
export function EdgeList({
  title,
  edges,
  peer,
  onOpen,
  circuit,
}: {
  title: string;
  edges: LiveEdge[];
  peer: (e: LiveEdge) => string;
  onOpen?: (id: string) => void;
  circuit?: (e: LiveEdge) => void;
}) {
  return (
    <>
      <h3>{title}</h3>
      {edges.length === 0 ? (
        <p className="muted">No traffic in the last 10 s.</p>
      ) : (
        <table className="grid compact">
          <tbody>
            {edges.map((e) => (
              <tr key={`${e.from}>${e.to}`} data-edge-row={`${e.from}>${e.to}`} data-circuit={e.circuit?.state ?? 'closed'}>
                <td>
                  {onOpen ? (
                    <button className="link" onClick={() => onOpen(edgeId('http', e.from, e.to))} aria-label={`Open the edge ${e.from} → ${e.to}`}>
                      {peer(e)}
                    </button>
                  ) : (
                    peer(e)
                  )}
                </td>
                <td className="num">{formatRate(e.rps)}</td>
                <td className={`num text-${edgeHealth(e.errorRate, e.requests)}`}>{formatPercent(e.errorRate)}</td>
                <td className="num">p99 {formatMs(e.p99)}</td>
                {circuit && <BreakerCell edge={e} onAct={() => circuit(e)} />}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function BreakerCell({ edge, onAct }: { edge: LiveEdge; onAct: () => void }) {
  const state = edge.circuit?.state ?? 'closed';
  const manual = edge.circuit?.instances.some((i) => i.manual && i.state !== 'closed');
  const why = edge.circuit?.instances.find((i) => i.state !== 'closed')?.reason;
  return (
    <>
      <td className={`breaker breaker-${state}`} title={`circuit ${state}: ${why ?? 'every caller instance has it closed'}`}>
        <span aria-hidden="true">{BREAKER_ICON[state]}</span> {state}
        {manual ? ' · operator' : ''}
      </td>
      <td className="row-actions">
        <button onClick={onAct}>{circuitAction(edge.from, edge.to, state).button}</button>
      </td>
    </>
  );
}
