import type { ConnectionState, MeshSummary, Profile } from '../../../core/api/contract';
import { useHashParam, useTopic } from '../api/hooks';
import { ServicePanel } from './ServicePanel';
import { StatusPill } from '../components/StatusPill';
import { TopologyPicture } from './TopologyPicture';

interface Props {
  primary: { profile: Profile; state: ConnectionState } | null;
  onOpenConnections: () => void;
}

/**
 * The mesh as it is now: the topology graph (or its tables) with a side panel for the selected
 * service. Empty and disconnected states say what to do next.
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
          <TopologyPicture mesh={mesh} selected={selected} select={select} />
        </div>
      {selected && mesh.services.some((s) => s.name === selected) && (
        <ServicePanel profileId={mesh.profileId} service={selected} mesh={mesh} onClose={() => select(null)} />
      )}
      </div>
    </div>
  );
}
