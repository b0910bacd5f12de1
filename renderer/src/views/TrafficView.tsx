import { useMemo } from 'react';
import type { ConnectionState, Profile } from '../../../core/api/contract';
import { edgeEnds } from '../../../core/api/mesh-live';
import { useHashParam, useTopic } from '../api/hooks';
import { isRange, parseTarget, RANGES, targetLabel, type TrafficTarget } from '../traffic/series';
import { TrafficChart } from './TrafficChart';

interface Props {
  primary: { profile: Profile; state: ConnectionState } | null;
  onOpenConnections: () => void;
}

const num = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);

function targetValue(t: TrafficTarget | null): string {
  if (!t) return '';
  if (t.kind === 'edge') return `edge:${t.from}>${t.to}`;
  if (t.kind === 'instance') return `instance:${t.service}/${t.instance}`;
  return `service:${t.service}`;
}

/**
 * Traffic over time for a service (every edge into it), an edge, or an instance: live, or a past
 * window from the range picker; brush to zoom. The target, range and window are in the URL.
 */
export function TrafficView({ primary, onOpenConnections }: Props) {
  // The services and edges to chart come from the topology topic (sent when it changes), not the whole summary every second.
  const topologies = useTopic('mesh.topology');
  const topology = topologies?.find((m) => m.profileId === primary?.profile.id);
  const mesh = useMemo(
    () => topology && { profileId: topology.profileId, services: topology.services, edges: Array.from({ length: topology.edges.length / 2 }, (_, i) => edgeEnds(topology, i)).map(([from, to]) => ({ from, to })) },
    [topology],
  );
  const [service, setService] = useHashParam('service');
  const [edge, setEdge] = useHashParam('edge');
  const [instance, setInstance] = useHashParam('instance');
  const [rangeParam, setRange] = useHashParam('range');
  const [start, setStart] = useHashParam('start');
  const [end, setEnd] = useHashParam('end');
  const range = isRange(rangeParam) ? rangeParam : 'live';
  const connected = primary && (primary.state.status === 'connected' || primary.state.status === 'blocked');
  const ingress = mesh?.edges.find((e) => e.from === 'external');
  const chosen = parseTarget({ service, edge, instance });
  const target: TrafficTarget | null = chosen ?? (ingress ? { kind: 'edge', from: ingress.from, to: ingress.to } : mesh?.services[0] ? { kind: 'service', service: mesh.services[0].name } : null);

  const choose = (value: string) => {
    setEdge(null);
    setInstance(null);
    setService(null);
    const [kind, rest = ''] = value.split(/:(.*)/s);
    if (kind === 'edge') setEdge(rest);
    else if (kind === 'service') setService(rest);
    else if (kind === 'instance') {
      const [s, i] = rest.split('/');
      setService(s ?? null);
      setInstance(i ?? null);
    }
  };
  const zoom = (w: { start: number; end: number } | null) => {
    setStart(w ? String(Math.floor(w.start)) : null);
    setEnd(w ? String(Math.ceil(w.end)) : null);
  };

  return (
    <div className="view traffic">
      <div className="view-header">
        <h1>Traffic</h1>
        {target && <span className="muted">{targetLabel(target)}</span>}
      </div>
      {!connected ? (
        <div className="empty-state" data-testid="traffic-empty">
          <h2>Not connected to a broker</h2>
          <p>Traffic history is kept per mesh. Connect a profile to see it.</p>
          <button className="primary" onClick={onOpenConnections}>
            Open connections
          </button>
        </div>
      ) : !mesh || !target ? (
        <div className="empty-state" data-testid="traffic-empty">
          <h2>No services to chart yet</h2>
          <p>
            Charts appear once services join this mesh and send requests: run <code>meshdeck sidecar</code> in front of a service, or start the demo with{' '}
            <code>npm run demo</code>.
          </p>
        </div>
      ) : (
        <>
          <div className="graph-toolbar" role="toolbar" aria-label="Traffic view">
            <label>
              <span className="visually-hidden">What to chart</span>
              <select name="target" value={targetValue(target)} onChange={(e) => choose(e.target.value)}>
                <optgroup label="Edges (caller → callee)">
                  {mesh.edges.map((e) => (
                    <option key={`${e.from}>${e.to}`} value={`edge:${e.from}>${e.to}`}>
                      {e.from} → {e.to}
                    </option>
                  ))}
                </optgroup>
                <optgroup label="Services (all callers)">
                  {mesh.services.map((s) => (
                    <option key={s.name} value={`service:${s.name}`}>
                      {s.name}
                    </option>
                  ))}
                </optgroup>
                {target.kind === 'instance' && (
                  <optgroup label="Instance">
                    <option value={targetValue(target)}>{targetLabel(target)}</option>
                  </optgroup>
                )}
                {target.kind === 'edge' && !mesh.edges.some((e) => `${e.from}>${e.to}` === `${target.from}>${target.to}`) && (
                  <option value={targetValue(target)}>{targetLabel(target)}</option>
                )}
              </select>
            </label>
            <div className="segmented" role="group" aria-label="Time range">
              {RANGES.map((r) => (
                <button
                  key={r.id}
                  aria-pressed={range === r.id && start === null}
                  data-range={r.id}
                  onClick={() => {
                    zoom(null);
                    setRange(r.id === 'live' ? null : r.id);
                  }}
                >
                  {r.label}
                </button>
              ))}
            </div>
            {start !== null && end !== null && (
              <span className="pill pill-unknown focus-chip" data-testid="zoomed">
                {new Date(Number(start)).toLocaleString()} – {new Date(Number(end)).toLocaleTimeString()}
                <button className="link" onClick={() => zoom(null)} aria-label="Back to the range">
                  ✕
                </button>
              </span>
            )}
          </div>
          <section className="card">
            <TrafficChart profileId={mesh.profileId} target={target} range={range} window={{ start: num(start), end: num(end) }} onZoom={zoom} />
          </section>
        </>
      )}
    </div>
  );
}
