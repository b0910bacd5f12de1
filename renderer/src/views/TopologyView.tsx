import { useCallback, useEffect, useMemo } from 'react';
import type { ConnectionState, Profile } from '../../../core/api/contract';
import { serviceEdges } from '../../../core/api/mesh-live';
import { setHashParams, useHashParam, useLiveMesh } from '../api/hooks';
import { parseEdgeId } from '../graph/edge-panel';
import { prewarmLayout } from '../graph/use-layout';
import { EdgePanel } from './EdgePanel';
import { ExternalPanel } from './ExternalPanel';
import { ServicePanel } from './ServicePanel';
import { StatusPill } from '../components/StatusPill';
import { TopologyPicture } from './TopologyPicture';

/** The graph's node for callers outside the mesh (its id, as edges name them). */
const EXTERNAL = 'external';

interface Props {
  primary: { profile: Profile; state: ConnectionState } | null;
  onOpenConnections: () => void;
}

/** Escape clears the selection unless something else took it (a dialog, the palette, a field). */
function escapeClears(e: KeyboardEvent): boolean {
  if (e.key !== 'Escape' || e.defaultPrevented || document.querySelector('[role="dialog"]')) return false;
  const target = e.target as Element | null;
  return !target?.closest?.('input, select, textarea');
}

/**
 * The mesh as it is now: the topology graph (or its tables) with a side panel for the selected
 * service, the external clients, or an edge (one at a time, in the URL). Empty and disconnected states say what to do next.
 */
export function TopologyView({ primary, onOpenConnections }: Props) {
  // The compact live topics (mesh.topology + mesh.traffic), not the whole summary every second.
  const live = useLiveMesh(primary?.profile.id);
  // The layout worker starts (and fetches its script) while the mesh is on its way.
  useEffect(() => prewarmLayout(), []);
  const [selected] = useHashParam('service');
  const [edgeParam] = useHashParam('edge');
  const edge = parseEdgeId(edgeParam);
  // One selection at a time, changed in one step (one history entry); null clears both.
  const select = useCallback((service: string | null) => setHashParams({ service, edge: null }), []);
  const selectEdge = useCallback((id: string | null) => setHashParams({ edge: id, service: null }), []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (escapeClears(e)) setHashParams({ service: null, edge: null });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
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
          <TopologyPicture live={live} selected={selected} select={select} selectedEdge={edge?.id ?? null} selectEdge={selectEdge} />
        </div>
      {selected === EXTERNAL && panelMesh && <ExternalPanel mesh={panelMesh} onClose={() => select(null)} onOpenEdge={selectEdge} />}
      {selected && panelMesh && mesh.services.some((s) => s.name === selected) && (
        <ServicePanel profileId={mesh.profileId} service={selected} mesh={panelMesh} onClose={() => select(null)} onOpenEdge={selectEdge} />
      )}
      {edge && !selected && <EdgePanel key={edge.id} live={live} edge={edge} onSelectService={select} onClose={() => selectEdge(null)} />}
      </div>
    </div>
  );
}
