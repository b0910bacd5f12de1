import type { ConnectionState, MeshSummary, Profile, ServiceSummary } from '../../../core/api/contract';
import { useHashParam, useTopic } from '../api/hooks';
import { ServicePanel } from './ServicePanel';
import { StatusPill } from '../components/StatusPill';
import { edgeHealth, formatMs, formatPercent, formatRate, type Health } from '../format';

interface Props {
  primary: { profile: Profile; state: ConnectionState } | null;
  onOpenConnections: () => void;
}

const HEALTH_ICON: Record<Health, string> = { healthy: '●', degraded: '▲', failing: '✕', unknown: '○' };

function serviceHealth(s: Pick<ServiceSummary, 'instances' | 'healthy'>): Health {
  if (s.instances === 0) return 'unknown';
  if (s.healthy === 0) return 'failing';
  if (s.healthy < s.instances) return 'degraded';
  return 'healthy';
}

/**
 * The mesh as it is now: services by zone with their instances' health, the HTTP edges with
 * live rate, errors and latency, and the domain events with their producers and consumers.
 */
export function TopologyView({ primary, onOpenConnections }: Props) {
  const summaries = useTopic('mesh.summary');
  const [selected, select] = useHashParam('service');
  const connected = primary && (primary.state.status === 'connected' || primary.state.status === 'blocked');
  const mesh: MeshSummary | undefined = summaries?.find((m) => m.profileId === primary?.profile.id);

  if (!connected) {
    return (
      <div className="view">
        <div className="view-header">
          <h1>Topology</h1>
        </div>
        <div className="empty-state" data-testid="mesh-empty">
          <h2>Not connected to a broker</h2>
          <p>The mesh is read from its RabbitMQ broker. Connect a profile to see it.</p>
          <button className="primary" onClick={onOpenConnections}>
            Open connections
          </button>
        </div>
      </div>
    );
  }
  if (!mesh || mesh.services.length === 0) {
    return (
      <div className="view">
        <div className="view-header">
          <h1>Topology</h1>
        </div>
        <div className="empty-state" data-testid="mesh-empty">
          <h2>No services have joined this mesh yet</h2>
          <p>
            Meshdeck is connected to <strong>{primary.profile.name}</strong> <StatusPill state={primary.state} />. Services appear here,
            grouped by zone, as they register through this broker: run <code>meshdeck sidecar</code> in front of a service, or start the
            demo mesh with <code>npm run demo</code>.
          </p>
        </div>
      </div>
    );
  }

  const zones = [...new Set(mesh.services.flatMap((s) => s.zones))].sort();
  return (
    <div className="view topology">
      <div className="view-header">
        <h1>Topology</h1>
        <span className="muted">
          {mesh.services.length} services · {mesh.services.reduce((n, s) => n + s.instances, 0)} instances · {primary.profile.name}
        </span>
      </div>
      <div className="topology-main">
      <div className="topology-body">
      <section className="zones" aria-label="Services by zone">
        {zones.map((zone) => (
          <div className="zone" key={zone} data-zone={zone}>
            <h2>{zone}</h2>
            {mesh.services.flatMap((s) => {
              const here = s.byZone.find((z) => z.zone === zone);
              if (!here) return [];
              const health = serviceHealth(here);
              return [
                <button
                  type="button"
                  className={`service-chip chip-${health}${selected === s.name ? ' selected' : ''}`}
                  key={s.name}
                  data-service={s.name}
                  data-health={health}
                  aria-pressed={selected === s.name}
                  onClick={() => select(selected === s.name ? null : s.name)}
                >
                  <span aria-hidden="true">{HEALTH_ICON[health]}</span> {s.name}
                  <span className="chip-count">
                    {here.healthy}/{here.instances}
                    {here.draining ? ` · ${here.draining} draining` : ''}
                    {here.down ? ` · ${here.down} down` : ''}
                  </span>
                </button>,
              ];
            })}
          </div>
        ))}
      </section>

      <section className="card" aria-label="HTTP traffic">
        <h2>Traffic (last 10 s)</h2>
        {mesh.edges.length === 0 ? (
          <p className="muted">No requests between services in the last 10 seconds.</p>
        ) : (
          <table className="grid" data-testid="edges">
            <thead>
              <tr>
                <th>From</th>
                <th>To</th>
                <th className="num">Requests</th>
                <th className="num">Errors</th>
                <th className="num">p50</th>
                <th className="num">p99</th>
              </tr>
            </thead>
            <tbody>
              {mesh.edges.map((e) => {
                const health = edgeHealth(e.errorRate, e.requests);
                return (
                  <tr key={`${e.from}>${e.to}`} data-edge={`${e.from}>${e.to}`}>
                    <td>{e.from}</td>
                    <td>
                      {e.to}
                      {e.circuit && e.circuit.state !== 'closed' ? (
                        <span
                          className={`pill circuit-pill ${e.circuit.state === 'open' ? 'pill-failing' : 'pill-degraded'}`}
                          data-circuit={e.circuit.state}
                          title={e.circuit.instances.map((i) => `${i.instanceId}: ${i.state}${i.manual ? ' (tripped)' : ''} — ${i.reason}`).join('\n')}
                        >
                          circuit {e.circuit.state}
                          {e.refused ? ` · ${e.refused} refused` : ''}
                        </span>
                      ) : null}
                    </td>
                    <td className="num">{formatRate(e.rps)}</td>
                    <td className={`num text-${health}`}>
                      <span aria-hidden="true">{HEALTH_ICON[health]}</span> {formatPercent(e.errorRate)}
                    </td>
                    <td className="num">{formatMs(e.p50)}</td>
                    <td className="num">{formatMs(e.p99)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>

      <section className="card" aria-label="Domain events">
        <h2>Events (last 10 s)</h2>
        {mesh.events.length === 0 ? (
          <p className="muted">No domain events reported in the last 10 seconds.</p>
        ) : (
          <table className="grid" data-testid="event-flows">
            <thead>
              <tr>
                <th>Event type</th>
                <th>Published by</th>
                <th>Consumed by</th>
              </tr>
            </thead>
            <tbody>
              {mesh.events.map((f) => (
                <tr key={f.type}>
                  <td className="mono">{f.type}</td>
                  <td>{f.producers.map((p) => `${p.service} (${formatRate(p.perSecond)})`).join(', ') || '—'}</td>
                  <td>
                    {f.consumers.map((c) => `${c.service} (${formatRate(c.perSecond)}${c.failed ? `, ${c.failed} failed` : ''})`).join(', ') || '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      </div>
      {selected && mesh.services.some((s) => s.name === selected) && (
        <ServicePanel profileId={mesh.profileId} service={selected} mesh={mesh} onClose={() => select(null)} />
      )}
      </div>
    </div>
  );
}
