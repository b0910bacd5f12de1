import type { ConnectionState, Profile } from '../../../core/api/contract';
import { StatusPill } from '../components/StatusPill';

interface Props {
  primary: { profile: Profile; state: ConnectionState } | null;
  onOpenConnections: () => void;
}

/** The mesh view. Until services register there is nothing to draw, so it says what comes next. */
export function TopologyView({ primary, onOpenConnections }: Props) {
  const connected = primary && (primary.state.status === 'connected' || primary.state.status === 'blocked');
  return (
    <div className="view">
      <div className="view-header">
        <h1>Topology</h1>
      </div>
      <div className="empty-state" data-testid="mesh-empty">
        {connected ? (
          <>
            <h2>No services have joined this mesh yet</h2>
            <p>
              Meshdeck is connected to <strong>{primary.profile.name}</strong> <StatusPill state={primary.state} />. Services appear
              here, grouped by zone, as they register through this broker.
            </p>
          </>
        ) : (
          <>
            <h2>Not connected to a broker</h2>
            <p>The mesh is read from its RabbitMQ broker. Connect a profile to see it.</p>
            <button className="primary" onClick={onOpenConnections}>
              Open connections
            </button>
          </>
        )}
      </div>
    </div>
  );
}
