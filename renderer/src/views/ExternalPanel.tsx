import type { LiveMesh } from '../../../core/api/mesh-live';
import { edgeHealth, formatMs, formatPercent, formatRate } from '../format';
import { edgesTotal } from '../graph/edge-panel';
import { EdgeList } from './ServicePanel';

interface Props {
  /** The live mesh cut to the edges from outside the mesh (serviceEdges(…, 'external')). */
  mesh: LiveMesh;
  onClose: () => void;
  /** Opens an edge's own panel (by its graph id). */
  onOpenEdge: (id: string) => void;
}

/**
 * The side panel of the "external clients" node: callers without a sidecar (browsers, jobs,
 * other systems) as the mesh sees them — their requests into each service, in total and per
 * edge. Nothing to act on here: the services they call have the controls.
 */
export function ExternalPanel({ mesh, onClose, onOpenEdge }: Props) {
  const edges = mesh.edges.filter((e) => e.from === 'external');
  const total = edgesTotal(edges);
  const health = edgeHealth(total.errorRate, total.requests);
  return (
    <aside className="side-panel external-panel" aria-label="External clients" data-testid="external-panel">
      <div className="panel">
        <div className="card-header">
          <h2>External clients</h2>
          <button onClick={onClose} aria-label="Close panel">
            ✕
          </button>
        </div>
        <p className="muted">Callers outside the mesh (no sidecar of their own), as the services they call report them: through a gateway or a sidecar&apos;s inbound port.</p>
        <h3>Golden metrics (last 10 s)</h3>
        <dl className="facts golden" data-testid="external-figures" data-health={health}>
          <dt>Requests</dt>
          <dd data-figure="rps">{formatRate(total.rps)}</dd>
          <dt>Errors</dt>
          <dd data-figure="errors" className={`text-${health}`}>
            {formatPercent(total.errorRate)}
          </dd>
          <dt>Worst p99</dt>
          <dd data-figure="p99">{formatMs(total.worstP99)}</dd>
        </dl>
        <EdgeList title="Calls" edges={edges} peer={(e) => e.to} onOpen={onOpenEdge} />
        <p className="muted">No actions here: drain, weigh or fail over the services they call from those services&apos; panels.</p>
      </div>
    </aside>
  );
}
