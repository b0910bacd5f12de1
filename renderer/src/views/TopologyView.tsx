import { useEffect, useMemo } from 'react';
import type { ConnectionState, Profile } from '../../../core/api/contract';
import { serviceEdges } from '../../../core/api/mesh-live';
import { useHashParam, useLiveMesh } from '../api/hooks';
import { prewarmLayout } from '../graph/use-layout';
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
  // The compact live topics (mesh.topology + mesh.traffic), not the whole summary every second.
  const live = useLiveMesh(primary?.profile.id);
  // The layout worker starts (and fetches its script) while the mesh is on its way.
  useEffect(() => prewarmLayout(), []);
  const [selected, select] = useHashParam('service');
  const connected = primary && (primary.state.status === 'connected' || primary.state.status === 'blocked');
  const mesh = live?.topology;
  // The side panel's view of the mesh: the selected service's edges only.
  const panelMesh = useMemo(() => (live && selected ? serviceEdges(live.topology, live.traffic, selected) : null), [live, selected]);

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
  if (!live || !mesh || mesh.services.length === 0) {
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
          <TopologyPicture live={live!} selected={selected} select={select} />
        </div>
      {selected && panelMesh && mesh.services.some((s) => s.name === selected) && (
        <ServicePanel profileId={mesh.profileId} service={selected} mesh={panelMesh} onClose={() => select(null)} />
      )}
      </div>
    </div>
  );
}
