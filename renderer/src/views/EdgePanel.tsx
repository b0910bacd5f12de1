import { useEffect, useMemo, useState } from 'react';
import type { EdgeSummary } from '../../../core/api/contract';
import { liveEdgeOf } from '../../../core/api/mesh-live';
import { useApi, useTopic, type LivePair } from '../api/hooks';
import { FaultDialog } from '../controls/FaultDialog';
import { ago, edgeHealth, formatMs, formatPercent, formatRate } from '../format';
import { SortableTable, type Column } from '../components/SortableTable';
import { circuitAction, errorClasses, eventEdgeDetail, queueFigures, type EdgeRef, type EventLeg } from '../graph/edge-panel';
import { QUEUE_COLUMNS } from './Broker';
import { ActionDialog, type OperatorAction } from './ActionDialog';
import { BREAKER_ICON } from './ServicePanel';
import { HEALTH_ICON } from './TopologyGraph';
import { TrafficChart } from './TrafficChart';

/** The Broker view's queue columns but the type: the side panel is narrow. */
const QUEUE_PANEL_COLUMNS = QUEUE_COLUMNS.filter((c) => c.key !== 'type');

const LEG_COLUMNS: Column<EventLeg>[] = [
  { key: 'type', label: 'Event type', value: (l) => l.type, render: (l) => <span className="mono">{l.type}</span> },
  {
    key: 'route',
    label: 'Exchange → queue',
    value: (l) => `${l.exchanges.join(', ')} → ${l.queues.join(', ')}`,
    render: (l) => <span className="mono">{`${l.exchanges.join(', ')} → ${l.queues.join(', ')}`}</span>,
  },
  { key: 'published', label: 'Published', value: (l) => l.published, render: (l) => formatRate(l.published), numeric: true },
  { key: 'consumed', label: 'Consumed', value: (l) => l.consumed, render: (l) => formatRate(l.consumed), numeric: true },
  { key: 'failed', label: 'Failed', value: (l) => l.failed, numeric: true },
];

interface Props {
  live: LivePair;
  edge: EdgeRef;
  /** Opens a service's panel (the edge's caller or callee). */
  onSelectService: (service: string) => void;
  onClose: () => void;
}

/** The side panel for one edge: its golden metrics live, its chart, its circuit and the actions on it; for an event edge, its event types, exchanges and queues. */
export function EdgePanel({ live, edge, onSelectService, onClose }: Props) {
  const services = live.topology.services;
  const known = (name: string) => services.some((s) => s.name === name);
  const end = (name: string) =>
    known(name) ? (
      <button className="link" onClick={() => onSelectService(name)} title={`Open ${name}`}>
        {name}
      </button>
    ) : (
      <span>{name === 'external' ? 'external clients' : name}</span>
    );
  return (
    <aside className="side-panel edge-panel" aria-label={`Edge ${edge.from} to ${edge.to}`} data-testid="edge-panel" data-edge-kind={edge.kind} data-panel-edge={edge.id}>
      <div className="panel">
        <div className="card-header">
          <h2>
            {end(edge.from)} <span aria-hidden="true">→</span>
            <span className="visually-hidden">to</span> {end(edge.to)}
          </h2>
          <button onClick={onClose} aria-label="Close panel">
            ✕
          </button>
        </div>
        <p className="muted">{edge.kind === 'http' ? 'Requests from caller to callee, as the callers\u2019 sidecars report them.' : 'Domain events the first service publishes and the second consumes, through the broker.'}</p>
        {edge.kind === 'http' ? <HttpEdge live={live} edge={edge} callerKnown={known(edge.from)} calleeKnown={known(edge.to)} /> : <EventEdge live={live} edge={edge} />}
      </div>
    </aside>
  );
}

function HttpEdge({ live, edge, callerKnown, calleeKnown }: { live: LivePair; edge: EdgeRef; callerKnown: boolean; calleeKnown: boolean }) {
  const api = useApi();
  const { topology, traffic } = live;
  const profileId = topology.profileId;
  // This second's figures, the same the graph's label shows.
  const figures = useMemo(() => liveEdgeOf(topology, traffic, edge.from, edge.to), [topology, traffic, edge.from, edge.to]);
  // What the live topics do not carry (errors by class, retries, p95, each caller's breaker), asked once a frame.
  const [detail, setDetail] = useState<EdgeSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  // What the dialog acts on is fixed when it opens: the breaker's state changes under it once confirmed.
  const [acting, setActing] = useState<{ kind: 'circuit'; target: { service: string }; action: OperatorAction; title: string } | { kind: 'fault' } | null>(null);
  useEffect(() => {
    let current = true;
    api.call('mesh.edge', { profileId, from: edge.from, to: edge.to }).then(
      (d) => {
        if (!current) return;
        setDetail(d);
        setError(null);
      },
      (err: Error) => current && setError(`Could not read ${edge.from} → ${edge.to}: ${err.message}`),
    );
    return () => {
      current = false;
    };
  }, [api, profileId, edge.from, edge.to, traffic.at]);

  const health = figures ? edgeHealth(figures.errorRate, figures.requests) : 'unknown';
  const circuit = figures?.circuit ?? detail?.circuit;
  const state = circuit?.state ?? 'closed';
  const breaker = circuitAction(edge.from, edge.to, state);
  const trafficHref = `#/traffic?edge=${encodeURIComponent(`${edge.from}>${edge.to}`)}&range=1h`;

  return (
    <>
      {error && (
        <p className="error-box" role="alert">
          {error}
        </p>
      )}
      <h3>Golden metrics (last 10 s)</h3>
      {!figures ? (
        <p className="muted" data-testid="edge-quiet">
          No requests along this edge in the last 10 s. The figures come back with the next request; the chart below shows when it last carried traffic.
        </p>
      ) : (
        <dl className="facts golden" data-testid="edge-figures" data-health={health}>
          <dt>Requests</dt>
          <dd data-figure="rps">{formatRate(figures.rps)}</dd>
          <dt>Errors</dt>
          <dd data-figure="errors" className={`text-${health}`}>
            <span aria-hidden="true">{HEALTH_ICON[health]}</span> {formatPercent(figures.errorRate)}
          </dd>
          <dt>Latency p50 · p95 · p99</dt>
          <dd data-figure="latency">
            {formatMs(figures.p50)} · {formatMs(detail?.p95 ?? null)} · {formatMs(figures.p99)}
          </dd>
          <dt>Refused by the breaker</dt>
          <dd data-figure="refused">{figures.refused ?? 0}</dd>
          {detail && (
            <>
              <dt>Retries</dt>
              <dd data-figure="retries">{detail.retries}</dd>
            </>
          )}
        </dl>
      )}
      {detail && detail.requests > 0 && (
        <table className="grid compact" data-testid="edge-error-classes" aria-label="Errors by class">
          <tbody>
            {errorClasses(detail).map((c) => (
              <tr key={c.label} data-error-class={c.label}>
                <td>{c.label}</td>
                <td className="num">{c.count}</td>
                <td className="num">{formatPercent(c.share)}</td>
                <td className="muted">{c.counted ? 'counted as errors' : 'caller errors, not counted'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Circuit breaker</h3>
      <p className={`breaker breaker-${state}`} data-testid="edge-circuit" data-circuit={state}>
        <span aria-hidden="true">{BREAKER_ICON[state]}</span> {state}
        {circuit?.instances.some((i) => i.manual && i.state !== 'closed') ? ' · tripped by an operator' : ''}
        {!circuit ? <span className="muted"> — no caller reported a breaker lately</span> : null}
      </p>
      {circuit && circuit.instances.length > 0 && (
        <table className="grid compact" aria-label="Breaker per caller instance">
          <tbody>
            {circuit.instances.map((i) => (
              <tr key={i.instanceId} data-breaker-instance={i.instanceId} data-circuit={i.state}>
                <td className="mono">{i.instanceId}</td>
                <td className={`breaker breaker-${i.state}`}>
                  <span aria-hidden="true">{BREAKER_ICON[i.state]}</span> {i.state}
                  {i.manual ? ' · operator' : ''}
                </td>
                <td className="muted">
                  {i.reason || i.rule} {i.until ? `· until ${new Date(i.until).toLocaleTimeString()}` : ''} · {ago(i.at)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="actions">
        {callerKnown ? (
          <button onClick={() => setActing({ kind: 'circuit', target: { service: edge.from }, action: breaker.action, title: breaker.title })}>{breaker.button.replace('…', ' circuit…')}</button>
        ) : (
          <span className="muted">Requests from outside the mesh have no breaker Meshdeck can trip.</span>
        )}
        {calleeKnown && (
          <button onClick={() => setActing({ kind: 'fault' })} title={`A fault drill acts on every request into ${edge.to}, from every caller`}>
            Fault drill on {edge.to}…
          </button>
        )}
      </div>
      {acting?.kind === 'circuit' && <ActionDialog profileId={profileId} target={acting.target} action={acting.action} title={acting.title} onClose={() => setActing(null)} />}
      {acting?.kind === 'fault' && <FaultDialog profileId={profileId} service={edge.to} onClose={() => setActing(null)} />}

      <div className="card-header">
        <h3>Traffic (live, 5 min)</h3>
        <a href={trafficHref}>Open in Traffic ›</a>
      </div>
      <TrafficChart profileId={profileId} target={{ kind: 'edge', from: edge.from, to: edge.to }} range="live" compact />
    </>
  );
}

function EventEdge({ live, edge }: { live: LivePair; edge: EdgeRef }) {
  const { traffic } = live;
  const detail = useMemo(() => eventEdgeDetail(traffic.events, edge.from, edge.to), [traffic.events, edge.from, edge.to]);
  // The broker's own figures for the queues (depth, consumers, rates): pushed after each of its polls.
  const snapshot = useTopic('broker.snapshot')?.find((s) => s.profileId === traffic.profileId);
  const queues = useMemo(() => (snapshot && snapshot.at > 0 ? queueFigures(snapshot, detail.legs.flatMap((l) => l.queues)) : null), [snapshot, detail]);
  const health = detail.failed > 0 ? 'degraded' : detail.legs.length ? 'healthy' : 'unknown';

  return (
    <>
      <h3>Events (last 10 s)</h3>
      {detail.legs.length === 0 ? (
        <p className="muted" data-testid="edge-quiet">
          No events from {edge.from} to {edge.to} in the last 10 s.
        </p>
      ) : (
        <>
          <dl className="facts golden" data-testid="edge-figures" data-health={health}>
            <dt>Consumed</dt>
            <dd data-figure="msgs">{formatRate(detail.consumed)}</dd>
            <dt>Failed handlings</dt>
            <dd data-figure="failed" className={`text-${health}`}>
              <span aria-hidden="true">{HEALTH_ICON[health]}</span> {detail.failed}
            </dd>
          </dl>
          <SortableTable rows={detail.legs} columns={LEG_COLUMNS} rowKey={(l) => l.type} initialSort="type" testId="edge-event-types" label="Event types" />
        </>
      )}
      <div className="card-header">
        <h3>Queues (broker)</h3>
        <a href="#/broker">Open in Broker ›</a>
      </div>
      {!snapshot || snapshot.at === 0 ? (
        <p className="muted">Reading the broker’s management API…</p>
      ) : !snapshot.available ? (
        <p className="muted">The broker’s figures are not available: {snapshot.capabilities.map((c) => c.message).join(' ') || 'its management API did not answer.'}</p>
      ) : queues && (queues.queues.length > 0 || queues.missing.length > 0) ? (
        <>
          <SortableTable rows={queues.queues} columns={QUEUE_PANEL_COLUMNS} rowKey={(q) => q.name} initialSort="name" testId="edge-queues" label="Queues" />
          {queues.missing.length > 0 && (
            <p className="muted">
              Not in the broker’s list (another vhost, or deleted): <span className="mono">{queues.missing.join(', ')}</span>
            </p>
          )}
        </>
      ) : (
        <p className="muted">No queue named by these events.</p>
      )}
      <p className="muted">Event flows have no control actions: act on the consumer or the producer from its service panel.</p>
    </>
  );
}
