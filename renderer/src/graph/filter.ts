/**
 * What part of the graph to show: one zone, only what is unhealthy, a text match, and the
 * neighbourhood of a focused node. Pure.
 */
import type { GraphModel, GraphNode } from './model';
import { orderGroups } from './model';

export interface GraphFilter {
  /** Only services with instances in this zone (null: all). */
  zone: string | null;
  /** `problems`: degraded or failing nodes, and the ends of degraded or failing edges. */
  health: 'all' | 'problems';
  /** Case-insensitive match on the service name. */
  text: string;
  /** A node whose direct neighbours (callers and callees, events included) are shown with it. */
  focus: string | null;
  /** Show event edges (producer → consumer). */
  events: boolean;
}

export const NO_FILTER: GraphFilter = { zone: null, health: 'all', text: '', focus: null, events: true };

const problem = (h: string) => h === 'degraded' || h === 'failing';

/** Ids of the node and its direct neighbours. */
export function neighbourhood(model: GraphModel, id: string): Set<string> {
  const keep = new Set([id]);
  for (const e of model.edges) {
    if (e.from === id) keep.add(e.to);
    if (e.to === id) keep.add(e.from);
  }
  return keep;
}

export function filterGraph(model: GraphModel, f: GraphFilter): GraphModel {
  // Nothing to filter: the model itself (and its shape, so the layout input is kept).
  if (f.events && !f.zone && f.health === 'all' && !f.text.trim() && !(f.focus && model.nodes.some((n) => n.id === f.focus))) return model;
  const edges = f.events ? model.edges : model.edges.filter((e) => e.kind !== 'event');
  const byId = new Map(model.nodes.map((n) => [n.id, n]));
  const focus = f.focus && byId.has(f.focus) ? f.focus : null;
  const around = focus ? neighbourhood({ ...model, edges }, focus) : null;
  const text = f.text.trim().toLowerCase();
  const problemEnds = new Set<string>();
  if (f.health === 'problems') {
    for (const e of edges) {
      if (problem(e.health) || e.circuit === 'open') {
        problemEnds.add(e.from);
        problemEnds.add(e.to);
      }
    }
  }
  const passes = (n: GraphNode): boolean => {
    if (n.id === focus) return true;
    if (around && !around.has(n.id)) return false;
    if (f.zone && n.kind !== 'external' && !n.zones.some((z) => z.zone === f.zone)) return false;
    if (f.health === 'problems' && !problem(n.health) && !problemEnds.has(n.id)) return false;
    if (text && !n.id.toLowerCase().includes(text) && !n.label.toLowerCase().includes(text)) return false;
    return true;
  };
  let nodes = model.nodes.filter(passes);
  let kept = new Set(nodes.map((n) => n.id));
  let keptEdges = edges.filter((e) => kept.has(e.from) && kept.has(e.to));
  // External clients only make sense next to what they call.
  if (f.zone || f.health === 'problems' || text) {
    const linked = new Set(keptEdges.flatMap((e) => [e.from, e.to]));
    nodes = nodes.filter((n) => n.kind !== 'external' || linked.has(n.id));
    kept = new Set(nodes.map((n) => n.id));
    keptEdges = keptEdges.filter((e) => kept.has(e.from) && kept.has(e.to));
  }
  return { nodes, edges: keptEdges, groups: orderGroups(nodes.map((n) => n.group)) };
}
