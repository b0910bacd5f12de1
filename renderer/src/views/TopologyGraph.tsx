import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Health } from '../format';
import { CONDITION_META } from '../failover-words';
import type { LayoutInput, LayoutResult } from '../graph/layout';
import type { GraphEdge, GraphModel, GraphNode } from '../graph/model';
import { useLayout } from '../graph/use-layout';

export const HEALTH_ICON: Record<Health, string> = { healthy: '●', degraded: '▲', failing: '✕', unknown: '○' };
const HEALTH_WORD: Record<Health, string> = { healthy: 'healthy', degraded: 'degraded', failing: 'failing', unknown: 'no data' };

const NODE_W = 200;
const NODE_H = 62;
const ROW_H = 17;
/** Above this many edges, labels show only when zoomed in. */
const LABEL_EDGES = 120;
/**
 * Above this many nodes the graph is virtualized: only what is in (or near) the viewport is in the
 * DOM, and below DETAIL_ZOOM it is drawn as an overview — a rectangle per service and one path per
 * edge colour — instead of full nodes and labelled edges. A mesh of 1 000 services and 30 000 edges
 * then costs a few hundred SVG elements, not a hundred thousand.
 */
export const VIRTUAL_NODES = 150;
export const DETAIL_ZOOM = 0.45;

export function nodeHeight(n: GraphNode): number {
  return n.instances ? NODE_H + 6 + n.instances.length * ROW_H : NODE_H;
}

interface Props {
  model: GraphModel;
  selected: string | null;
  /** The selected edge's id (GraphEdge.id: "from>to", or "event:from>to"). */
  selectedEdge: string | null;
  expanded: ReadonlySet<string>;
  animate: boolean;
  /** Changes when the filter does: the view fits the graph again. */
  fitKey: string;
  onSelect: (id: string | null) => void;
  onSelectEdge: (id: string | null) => void;
  onToggleExpand: (id: string) => void;
}

/** The element of an edge (or a node) under an event target: clicks on them select, drags start elsewhere. */
const EDGE_SELECTOR = '[data-edge-id]';
const PICKABLE = `[data-node],${EDGE_SELECTOR}`;

/** Layout inputs by model shape: an update that only changes numbers reuses the input (and skips its key). */
const inputs = new WeakMap<object, LayoutInput>();

function layoutInputOf(model: GraphModel): LayoutInput {
  const cached = model.shape && inputs.get(model.shape);
  if (cached) return cached;
  const input = {
    nodes: model.nodes.map((n) => ({ id: n.id, group: n.group, width: NODE_W, height: nodeHeight(n) })),
    edges: model.edges.map((e) => ({ from: e.from, to: e.to })),
    groups: model.groups,
  };
  if (model.shape) inputs.set(model.shape, input);
  return input;
}

interface View {
  k: number;
  x: number;
  y: number;
}

/** The topology as an SVG graph with pan (drag), zoom (wheel, buttons) and fit. */
export function TopologyGraph({ model, selected, selectedEdge, expanded, animate, fitKey, onSelect, onSelectEdge, onToggleExpand }: Props) {
  const input: LayoutInput = useMemo(() => layoutInputOf(model), [model]);
  const layout = useLayout(input);
  const svgRef = useRef<SVGSVGElement>(null);
  const [view, setView] = useState<View>({ k: 1, x: 0, y: 0 });
  const [frame, setFrame] = useState({ width: 1280, height: 800 });
  const fitted = useRef<string | null>(null);
  const drag = useRef<{ px: number; py: number; x: number; y: number } | null>(null);

  const fit = useCallback((l: LayoutResult | null) => {
    const svg = svgRef.current;
    if (!svg || !l) return;
    const { width, height } = svg.getBoundingClientRect();
    const k = Math.min(1.25, Math.max(0.05, Math.min(width / l.width, height / l.height)));
    setView({ k, x: (width - l.width * k) / 2, y: Math.max(0, (height - l.height * k) / 2) });
  }, []);

  // Fit on the first layout and whenever the filter changes; also when the frame is resized
  // (the side panel opens) as long as the operator has not panned or zoomed.
  const moved = useRef(false);
  const layoutRef = useRef<LayoutResult | null>(null);
  // The layout on screen when the filter changed: the filtered graph's own layout comes after it
  // (from the worker), and is fitted too — else the view kept the scale of the graph before.
  const fittedBefore = useRef<LayoutResult | null>(null);
  useEffect(() => {
    layoutRef.current = layout;
    if (!layout) return;
    if (fitted.current !== fitKey) {
      fitted.current = fitKey;
      fittedBefore.current = layout;
      moved.current = false;
      fit(layout);
    } else if (fittedBefore.current && layout !== fittedBefore.current) {
      fittedBefore.current = null;
      if (!moved.current) fit(layout);
    }
  }, [layout, fitKey, fit]);
  useEffect(() => {
    const svg = svgRef.current;
    if (!svg || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      const r = svg.getBoundingClientRect();
      setFrame((f) => (f.width === r.width && f.height === r.height ? f : { width: r.width, height: r.height }));
      if (!moved.current) fit(layoutRef.current);
    });
    observer.observe(svg);
    return () => observer.disconnect();
  }, [fit]);

  // Wheel zoom around the pointer (a non-passive listener, so the page does not scroll).
  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      moved.current = true;
      const r = svg.getBoundingClientRect();
      const px = e.clientX - r.left;
      const py = e.clientY - r.top;
      setView((v) => {
        const k = Math.min(4, Math.max(0.05, v.k * Math.exp(-e.deltaY * 0.0015)));
        return { k, x: px - ((px - v.x) * k) / v.k, y: py - ((py - v.y) * k) / v.k };
      });
    };
    svg.addEventListener('wheel', onWheel, { passive: false });
    return () => svg.removeEventListener('wheel', onWheel);
  }, []);

  const zoomBy = (factor: number) => {
    const svg = svgRef.current;
    if (!svg) return;
    moved.current = true;
    const { width, height } = svg.getBoundingClientRect();
    setView((v) => {
      const k = Math.min(4, Math.max(0.05, v.k * factor));
      return { k, x: width / 2 - ((width / 2 - v.x) * k) / v.k, y: height / 2 - ((height / 2 - v.y) * k) / v.k };
    });
  };

  const byId = useMemo(() => new Map(model.nodes.map((n) => [n.id, n])), [model]);
  // The "drawn" signal (benchmarks, tests): how many of the model's nodes and edges the applied layout places.
  // Counted on the layout input (the same object while the shape is), not on every update.
  const drawn = useMemo(() => {
    if (!layout) return { nodes: 0, edges: 0 };
    const nodes = input.nodes.filter((n) => layout.positions[n.id]).length;
    const edges = input.edges.filter((e) => layout.positions[e.from] && layout.positions[e.to]).length;
    return { nodes, edges };
  }, [layout, input]);
  const showLabels = model.edges.length <= LABEL_EDGES || view.k >= 1.2;
  const virtual = model.nodes.length > VIRTUAL_NODES;
  const overview = virtual && view.k < DETAIL_ZOOM;
  // What is in (or within half a screen of) the viewport, in layout coordinates.
  const visible = useMemo(() => {
    if (!layout || !virtual) return null;
    const mx = frame.width / 2 / view.k;
    const my = frame.height / 2 / view.k;
    const x0 = -view.x / view.k - mx - NODE_W;
    const y0 = -view.y / view.k - my - NODE_H;
    const x1 = (frame.width - view.x) / view.k + mx;
    const y1 = (frame.height - view.y) / view.k + my;
    const ids = new Set<string>();
    for (const n of model.nodes) {
      const p = layout.positions[n.id];
      if (p && p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1) ids.add(n.id);
    }
    return ids;
  }, [layout, model, virtual, view, frame]);
  const nodesShown = visible ? model.nodes.filter((n) => visible.has(n.id)) : model.nodes;
  const edgesShown = visible ? model.edges.filter((e) => visible.has(e.from) || visible.has(e.to)) : model.edges;
  // Edges are Tab stops only while few: at more, a service panel's edge rows reach them.
  const edgesFocusable = model.edges.length <= LABEL_EDGES;
  // One handler for the whole edge layer: the edge is read from the element hit (each edge is a <g data-edge-id>).
  const pickEdge = (target: EventTarget) => {
    const id = (target as Element).closest(EDGE_SELECTOR)?.getAttribute('data-edge-id');
    if (id) onSelectEdge(id === selectedEdge ? null : id);
  };

  return (
    <div className="graph-frame">
      <div className="graph-zoom" role="group" aria-label="Zoom">
        <button onClick={() => zoomBy(1.25)} aria-label="Zoom in">
          +
        </button>
        <button onClick={() => zoomBy(0.8)} aria-label="Zoom out">
          −
        </button>
        <button
          onClick={() => {
            moved.current = false;
            fit(layout);
          }}
        >
          Fit
        </button>
      </div>
      <svg
        ref={svgRef}
        className={`graph${animate ? ' animate' : ''}`}
        data-testid="topology-graph"
        data-laid-out={layout ? 'true' : 'false'}
        data-nodes-drawn={drawn.nodes}
        data-edges-drawn={drawn.edges}
        data-detail={overview ? 'overview' : 'full'}
        role="img"
        aria-label={`Topology graph: ${model.nodes.length} nodes, ${model.edges.length} edges`}
        onPointerDown={(e) => {
          if ((e.target as Element).closest(PICKABLE)) return;
          drag.current = { px: e.clientX, py: e.clientY, x: view.x, y: view.y };
          (e.currentTarget as SVGSVGElement).setPointerCapture(e.pointerId);
        }}
        onPointerMove={(e) => {
          const d = drag.current;
          if (!d) return;
          if (Math.abs(e.clientX - d.px) + Math.abs(e.clientY - d.py) >= 4) moved.current = true;
          setView((v) => ({ ...v, x: d.x + e.clientX - d.px, y: d.y + e.clientY - d.py }));
        }}
        onPointerUp={(e) => {
          const d = drag.current;
          drag.current = null;
          if (d && Math.abs(e.clientX - d.px) + Math.abs(e.clientY - d.py) < 4) onSelect(null);
        }}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" className="arrow-head" />
          </marker>
        </defs>
        {layout && (
          <g transform={`translate(${view.x},${view.y}) scale(${view.k})`}>
            {layout.bands.map((b) => (
              <g key={b.id} className="band" data-zone={b.id}>
                <rect x={8} y={b.y} width={layout.width - 16} height={b.height} rx={8} />
                <text x={18} y={b.y + 15} className="band-label">
                  {b.id === 'outside' ? 'outside the mesh' : b.id}
                </text>
              </g>
            ))}
            {overview ? (
              <OverviewEdges edges={edgesShown} positions={layout.positions} />
            ) : (
              <g
                className="edges"
                onClick={(e) => pickEdge(e.target)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' || e.key === ' ') {
                    e.preventDefault();
                    pickEdge(e.target);
                  }
                }}
              >
                {edgesShown.map((e) => {
                  const from = byId.get(e.from);
                  const to = byId.get(e.to);
                  const pf = layout.positions[e.from];
                  const pt = layout.positions[e.to];
                  if (!from || !to || !pf || !pt) return null;
                  return (
                    <EdgeView
                      key={e.id}
                      edge={e}
                      from={pf}
                      to={pt}
                      fromH={nodeHeight(from)}
                      toH={nodeHeight(to)}
                      showLabel={showLabels}
                      selected={selectedEdge === e.id}
                      focusable={edgesFocusable}
                    />
                  );
                })}
              </g>
            )}
            <g className="nodes">
              {nodesShown.map((n) => {
                const p = layout.positions[n.id];
                if (!p) return null;
                return overview ? (
                  <OverviewNode key={n.id} node={n} x={p.x} y={p.y} selected={selected === n.id} onSelect={onSelect} />
                ) : (
                  <NodeView key={n.id} node={n} x={p.x} y={p.y} selected={selected === n.id} expanded={expanded.has(n.id)} onSelect={onSelect} onToggleExpand={onToggleExpand} />
                );
              })}
            </g>
          </g>
        )}
      </svg>
      {!layout && <p className="graph-loading muted">Laying out {model.nodes.length} services…</p>}
    </div>
  );
}

/** The overview's edges: one path per kind and health (straight segments), whatever their number. */
const edgeClass = (e: GraphEdge) => `edge edge-${e.kind} edge-${e.health}${e.circuit === 'open' ? ' circuit-open' : ''}`;

/** Same edges with the same colours: an update of the numbers alone leaves the overview as it is. */
function sameOverview(a: { edges: GraphEdge[]; positions: LayoutResult['positions'] }, b: { edges: GraphEdge[]; positions: LayoutResult['positions'] }): boolean {
  if (a.positions !== b.positions || a.edges.length !== b.edges.length) return false;
  for (let i = 0; i < a.edges.length; i++) {
    const x = a.edges[i]!;
    const y = b.edges[i]!;
    if (x !== y && (x.id !== y.id || x.kind !== y.kind || x.health !== y.health || x.circuit !== y.circuit)) return false;
  }
  return true;
}

const OverviewEdges = memo(function OverviewEdges({ edges, positions }: { edges: GraphEdge[]; positions: LayoutResult['positions'] }) {
  const paths = new Map<string, string[]>();
  for (const e of edges) {
    const pf = positions[e.from];
    const pt = positions[e.to];
    if (!pf || !pt) continue;
    const cls = edgeClass(e);
    let list = paths.get(cls);
    if (!list) paths.set(cls, (list = []));
    list.push(`M${pf.x + NODE_W} ${pf.y + NODE_H / 2}L${pt.x} ${pt.y + NODE_H / 2}`);
  }
  return (
    <g className="edges overview-edges">
      {[...paths].map(([cls, d]) => (
        <g key={cls} className={cls}>
          <path d={d.join('')} strokeWidth={2} />
        </g>
      ))}
    </g>
  );
}, sameOverview);

/** The overview's node: its box coloured by health, its name as a tooltip; a click selects it. */
const OverviewNode = memo(function OverviewNode({ node, x, y, selected, onSelect }: { node: GraphNode; x: number; y: number; selected: boolean; onSelect: (id: string | null) => void }) {
  return (
    <g
      className={`node node-${node.kind} node-${node.health}${selected ? ' selected' : ''}`}
      transform={`translate(${x},${y})`}
      data-node={node.id}
      data-service={node.kind !== 'external' ? node.id : undefined}
      data-health={node.health}
      data-kind={node.kind}
      onClick={() => onSelect(selected ? null : node.id)}
    >
      <title>{`${node.label}: ${HEALTH_WORD[node.health]}`}</title>
      <rect className="node-shape" width={NODE_W} height={NODE_H} rx={7} />
    </g>
  );
}, sameNodeProps);

/** Node props equal for drawing: nodes compared by what a node view shows, not by identity (an update makes new node objects). */
function sameNodeProps<P extends { node: GraphNode }>(a: P, b: P): boolean {
  for (const key of Object.keys(a) as Array<keyof P>) if (key !== 'node' && a[key] !== b[key]) return false;
  const x = a.node;
  const y = b.node;
  return x === y || (x.id === y.id && x.kind === y.kind && x.label === y.label && x.health === y.health && x.group === y.group && x.counts === y.counts && x.zones === y.zones && x.instances === y.instances);
}

interface EdgeViewProps {
  edge: GraphEdge;
  from: { x: number; y: number };
  to: { x: number; y: number };
  fromH: number;
  toH: number;
  showLabel: boolean;
  selected: boolean;
  focusable: boolean;
}

/** Edge props equal for drawing: what the edge view shows (label, width, colour, circuit, selection). */
function sameEdgeProps(a: EdgeViewProps, b: EdgeViewProps): boolean {
  if (a.from !== b.from || a.to !== b.to || a.fromH !== b.fromH || a.toH !== b.toH || a.showLabel !== b.showLabel || a.selected !== b.selected || a.focusable !== b.focusable) return false;
  const x = a.edge;
  const y = b.edge;
  return x === y || (x.id === y.id && x.kind === y.kind && x.health === y.health && x.circuit === y.circuit && x.rps === y.rps && x.errorRate === y.errorRate && x.p99 === y.p99 && x.label === y.label);
}

const EdgeView = memo(function EdgeView({ edge, from, to, fromH, toH, showLabel, selected, focusable }: EdgeViewProps) {
  const shift = edge.kind === 'event' ? 8 : 0;
  const x1 = from.x + NODE_W;
  const y1 = from.y + Math.min(fromH, NODE_H) / 2 + shift;
  const x2 = to.x;
  const y2 = to.y + Math.min(toH, NODE_H) / 2 + shift;
  const bend = Math.max(50, Math.abs(x2 - x1) / 2);
  const c1x = x1 + bend;
  const c2x = x2 - bend;
  const d = `M ${x1} ${y1} C ${c1x} ${y1}, ${c2x} ${y2}, ${x2} ${y2}`;
  // Labels of HTTP edges at the middle of the curve, of event edges further along (less overlap).
  const t = edge.kind === 'event' ? 0.7 : 0.5;
  const u = 1 - t;
  const mx = u * u * u * x1 + 3 * u * u * t * c1x + 3 * u * t * t * c2x + t * t * t * x2;
  const my = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
  const width = edge.kind === 'event' ? 1.5 : Math.min(9, 1.2 + 1.6 * Math.log10(1 + edge.rps));
  const open = edge.circuit === 'open';
  const label = `${open ? 'circuit open · ' : edge.circuit === 'half-open' ? 'circuit half-open · ' : ''}${edge.label}`;
  const title = `${edge.kind === 'event' ? 'events ' : ''}${edge.from} → ${edge.to}: ${label} (${HEALTH_WORD[edge.health]})`;
  return (
    <g
      className={`edge edge-${edge.kind} edge-${edge.health}${open ? ' circuit-open' : ''}${selected ? ' selected' : ''}`}
      data-edge={edge.kind === 'http' ? `${edge.from}>${edge.to}` : undefined}
      data-event-edge={edge.kind === 'event' ? `${edge.from}>${edge.to}` : undefined}
      data-edge-id={edge.id}
      data-health={edge.health}
      data-circuit={edge.circuit ?? undefined}
      tabIndex={focusable ? 0 : undefined}
      role="button"
      aria-pressed={selected}
      aria-label={title}
    >
      <title>{title}</title>
      {/* A wider invisible stroke along the same curve: a thin edge is still easy to click. */}
      <path className="edge-hit" d={d} />
      {selected && <path className="edge-halo" d={d} strokeWidth={width + 8} />}
      <path d={d} strokeWidth={width} markerEnd="url(#arrow)" />
      {open && (
        <g className="circuit-break" transform={`translate(${mx},${my})`}>
          <rect x={-7} y={-9} width={14} height={18} />
          <line x1={-4} y1={-8} x2={-4} y2={8} />
          <line x1={4} y1={-8} x2={4} y2={8} />
        </g>
      )}
      {showLabel && (
        <text x={mx} y={edge.kind === 'event' ? my + 13 : my - (open ? 12 : 6)} className="edge-label" textAnchor="middle">
          {label}
        </text>
      )}
    </g>
  );
}, sameEdgeProps);

const NodeView = memo(function NodeView({
  node,
  x,
  y,
  selected,
  expanded,
  onSelect,
  onToggleExpand,
}: {
  node: GraphNode;
  x: number;
  y: number;
  selected: boolean;
  expanded: boolean;
  onSelect: (id: string | null) => void;
  onToggleExpand: (id: string) => void;
}) {
  const c = node.counts;
  const serving = c.healthy - c.ejected - c.probing;
  const flags = [
    c.ejected ? `⊘ ${c.ejected} ejected` : '',
    c.probing ? `◔ ${c.probing} probing` : '',
    c.draining ? `◐ ${c.draining} draining` : '',
    c.down ? `✕ ${c.down} down` : '',
  ].filter(Boolean);
  const h = nodeHeight(node);
  const title = node.kind === 'external' ? 'external clients' : `${node.kind === 'gateway' ? 'gateway ' : ''}${node.id}: ${HEALTH_WORD[node.health]}`;
  return (
    <g
      className={`node node-${node.kind} node-${node.health}${selected ? ' selected' : ''}${c.ejected ? ' has-ejected' : ''}${c.draining ? ' has-draining' : ''}`}
      transform={`translate(${x},${y})`}
      data-node={node.id}
      data-service={node.kind !== 'external' ? node.id : undefined}
      data-health={node.health}
      data-kind={node.kind}
      tabIndex={0}
      role="button"
      aria-pressed={selected}
      aria-label={title}
      onClick={() => onSelect(selected ? null : node.id)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect(selected ? null : node.id);
        }
      }}
    >
      <title>{title}</title>
      {node.kind === 'gateway' ? (
        <path className="node-shape" d={`M 10 0 H ${NODE_W - 10} L ${NODE_W} 10 V ${h - 10} L ${NODE_W - 10} ${h} H 10 L 0 ${h - 10} V 10 Z`} />
      ) : (
        <rect className="node-shape" width={NODE_W} height={h} rx={node.kind === 'external' ? h / 2 : 7} />
      )}
      <text x={12} y={21} className="node-title">
        <tspan className="health-icon">{HEALTH_ICON[node.health]}</tspan> {node.kind === 'gateway' ? '⇶ ' : node.kind === 'external' ? '⇢ ' : ''}
        {truncate(node.label, 20)}
      </text>
      {node.kind !== 'external' && (
        <>
          <text x={12} y={39} className="node-line">
            {`${Math.max(0, serving)}/${c.instances} serving`}
            {flags.length ? ` · ${flags.join(' · ')}` : ''}
          </text>
          <text x={12} y={55} className="node-zones">
            {node.zones.map((z) => (
              <tspan key={z.zone} className={`zone-${z.health}`}>
                {`${HEALTH_ICON[z.health]} ${z.zone.replace(/^zone-/, '')}  `}
              </tspan>
            ))}
          </text>
          <g
            className="expand-toggle"
            transform={`translate(${NODE_W - 22},6)`}
            role="button"
            aria-label={`${expanded ? 'Collapse' : 'Expand'} ${node.id} instances`}
            data-expand={node.id}
            onClick={(e) => {
              e.stopPropagation();
              onToggleExpand(node.id);
            }}
          >
            <rect width={16} height={16} rx={3} />
            <text x={8} y={12} textAnchor="middle">
              {expanded ? '−' : '+'}
            </text>
          </g>
        </>
      )}
      {node.instances?.map((i, n) => (
        <text key={i.id} x={16} y={NODE_H + 14 + n * ROW_H} className={`node-instance instance-${i.condition}`} data-graph-instance={i.id} data-condition={i.condition}>
          {`${CONDITION_META[i.condition].icon} `}
          <tspan className="instance-name">{truncate(i.id, 20)}</tspan>
          {` ${CONDITION_META[i.condition].label}`}
        </text>
      ))}
    </g>
  );
}, sameNodeProps);

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
