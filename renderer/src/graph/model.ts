/**
 * The topology graph as data, built from a mesh summary: one node per service (gateways and
 * external clients marked), HTTP edges with rate, errors, p99 and circuit state, and event edges
 * (producer → consumer of a domain event type). Pure: no DOM, no React.
 */
import type { EdgeSummary, EventTypeFlow, InstanceInfo, MeshSummary, MeshTopology, MeshTraffic, ServiceSummary } from '../../../core/api/contract';
import { edgeEnds } from '../../../core/api/mesh-live';
import { edgeHealth, formatMs, formatPercent, formatRate, type Health } from '../format';
import { instanceCondition, type InstanceCondition } from '../failover-words';
import { edgeId } from './edge-panel';

export type NodeKind = 'service' | 'gateway' | 'external';
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface NodeCounts {
  instances: number;
  healthy: number;
  draining: number;
  down: number;
  ejected: number;
  probing: number;
}

export interface GraphInstance {
  id: string;
  zone: string;
  condition: InstanceCondition;
}

export interface GraphNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** Layout group: the zones the service runs in ("zone-a", "zone-a + zone-b"), or "outside". */
  group: string;
  zones: Array<{ zone: string; health: Health; instances: number; healthy: number }>;
  health: Health;
  counts: NodeCounts;
  /** Requests per second into the node, and their error rate. */
  rpsIn: number;
  errorRateIn: number;
  /** Set when the node is expanded and its instances are known. */
  instances?: GraphInstance[];
}

export interface GraphEdge {
  id: string;
  from: string;
  to: string;
  kind: 'http' | 'event';
  rps: number;
  requests: number;
  errorRate: number;
  p99: number | null;
  health: Health;
  circuit: CircuitState | null;
  /** "12/s · 0.4 % · 182 ms" for HTTP; the event types for event edges. */
  label: string;
  eventTypes: string[];
}

export interface GraphModel {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Group names in display order: outside first, then single zones, then zone sets. */
  groups: string[];
  /**
   * The same object for models of the same shape (node ids, groups and sizes; edge ends), so the
   * layout input is not rebuilt for an update that only changes numbers. Absent: compare contents.
   */
  shape?: object;
}

export const OUTSIDE = 'outside';
const EXTERNAL = 'external';
const HEALTH_RANK: Record<Health, number> = { unknown: 0, healthy: 1, degraded: 2, failing: 3 };

export function worstHealth(...list: Health[]): Health {
  return list.reduce<Health>((worst, h) => (HEALTH_RANK[h] > HEALTH_RANK[worst] ? h : worst), 'unknown');
}

/** Health from instance counts: instances failover holds out do not count as healthy. */
export function countsHealth(c: Pick<NodeCounts, 'instances' | 'healthy' | 'ejected' | 'probing'>): Health {
  if (c.instances === 0) return 'unknown';
  const serving = c.healthy - c.ejected - c.probing;
  if (serving <= 0) return 'failing';
  if (serving < c.instances) return 'degraded';
  return 'healthy';
}

/** The circuit state if the edge carries one (`circuit: "open"` or `circuit: { state: "open" }`). */
export function circuitOf(edge: Pick<EdgeSummary, 'circuit'>): CircuitState | null {
  const raw = (edge as EdgeSummary & { circuit?: unknown }).circuit;
  const value = typeof raw === 'string' ? raw : raw && typeof raw === 'object' ? (raw as { state?: unknown }).state : null;
  if (typeof value !== 'string') return null;
  const norm = value.toLowerCase().replace(/[_\s]/g, '-').replace('halfopen', 'half-open');
  return norm === 'open' || norm === 'closed' || norm === 'half-open' ? norm : null;
}

export function edgeLabel(e: Pick<GraphEdge, 'rps' | 'errorRate' | 'p99'>): string {
  return `${formatRate(e.rps)} · ${formatPercent(e.errorRate)} · ${formatMs(e.p99)}`;
}

/**
 * An HTTP edge whose label is formatted when first read: a mesh of 30 000 edges draws a few
 * hundred of them at a time, and formatting every label on every update was a third of the
 * model's cost.
 */
class HttpEdge implements GraphEdge {
  readonly id: string;
  readonly kind = 'http' as const;
  readonly eventTypes: string[] = [];
  private text: string | null = null;

  constructor(
    readonly from: string,
    readonly to: string,
    readonly rps: number,
    readonly requests: number,
    readonly errorRate: number,
    readonly p99: number | null,
    readonly health: Health,
    readonly circuit: CircuitState | null,
  ) {
    this.id = edgeId('http', from, to);
  }

  get label(): string {
    return (this.text ??= edgeLabel(this));
  }
}

export function groupOf(zones: readonly string[]): string {
  return zones.length === 0 ? OUTSIDE : [...zones].sort().join(' + ');
}

function serviceNode(s: ServiceSummary): GraphNode {
  const counts: NodeCounts = {
    instances: s.instances,
    healthy: s.healthy,
    draining: s.draining,
    down: s.down,
    ejected: s.ejected ?? 0,
    probing: s.probing ?? 0,
  };
  return {
    id: s.name,
    kind: s.agents?.includes('gateway') ? 'gateway' : 'service',
    label: s.name,
    group: groupOf(s.zones),
    zones: s.byZone.map((z) => ({
      zone: z.zone,
      instances: z.instances,
      healthy: z.healthy,
      health: countsHealth({ instances: z.instances, healthy: z.healthy, ejected: z.ejected ?? 0, probing: z.probing ?? 0 }),
    })),
    health: countsHealth(counts),
    counts,
    rpsIn: 0,
    errorRateIn: 0,
  };
}

function bareNode(id: string): GraphNode {
  const external = id === EXTERNAL;
  return {
    id,
    kind: external ? 'external' : 'service',
    label: external ? 'external clients' : id,
    group: OUTSIDE,
    zones: [],
    health: 'unknown',
    counts: { instances: 0, healthy: 0, draining: 0, down: 0, ejected: 0, probing: 0 },
    rpsIn: 0,
    errorRateIn: 0,
  };
}

/** Orders groups: outside first, then by number of zones, then by name. */
export function orderGroups(groups: Iterable<string>): string[] {
  return [...new Set(groups)].sort((a, b) => {
    if (a === OUTSIDE || b === OUTSIDE) return a === OUTSIDE ? (b === OUTSIDE ? 0 : -1) : 1;
    const za = a.split(' + ').length;
    const zb = b.split(' + ').length;
    return za - zb || a.localeCompare(b);
  });
}

/** Event edges: every producer of a type to every consumer of it, merged per service pair. */
function eventEdges(flows: readonly EventTypeFlow[]): GraphEdge[] {
  const events = new Map<string, GraphEdge>();
  for (const flow of flows) {
    for (const p of flow.producers) {
      for (const c of flow.consumers) {
        if (p.service === c.service) continue;
        const id = edgeId('event', p.service, c.service);
        let edge = events.get(id);
        if (!edge) {
          edge = { id, from: p.service, to: c.service, kind: 'event', rps: 0, requests: 0, errorRate: 0, p99: null, health: 'healthy', circuit: null, label: '', eventTypes: [] };
          events.set(id, edge);
        }
        edge.rps += c.perSecond;
        edge.requests += c.total;
        if (c.failed > 0) edge.health = 'degraded';
        if (!edge.eventTypes.includes(flow.type)) edge.eventTypes.push(flow.type);
      }
    }
  }
  for (const edge of events.values()) {
    edge.eventTypes.sort();
    edge.label = `${edge.eventTypes.join(', ')} · ${formatRate(edge.rps)}`;
  }
  return [...events.values()];
}

export function buildGraph(mesh: Pick<MeshSummary, 'services' | 'events'> & { edges: ReadonlyArray<Pick<EdgeSummary, 'from' | 'to' | 'rps' | 'requests' | 'errorRate' | 'p99' | 'circuit'>> }, instances: ReadonlyMap<string, readonly InstanceInfo[]> = new Map()): GraphModel {
  const nodes = new Map<string, GraphNode>();
  for (const s of mesh.services) nodes.set(s.name, serviceNode(s));
  const ensure = (id: string) => {
    let n = nodes.get(id);
    if (!n) {
      n = bareNode(id);
      nodes.set(id, n);
    }
    return n;
  };

  const edges: GraphEdge[] = [];
  const inbound = new Map<string, { rps: number; requests: number; errors: number }>();
  for (const e of mesh.edges) {
    ensure(e.from);
    ensure(e.to);
    const edge = new HttpEdge(e.from, e.to, e.rps, e.requests, e.errorRate, e.p99, edgeHealth(e.errorRate, e.requests), circuitOf(e));
    edges.push(edge);
    const agg = inbound.get(e.to) ?? { rps: 0, requests: 0, errors: 0 };
    agg.rps += e.rps;
    agg.requests += e.requests;
    agg.errors += e.errorRate * e.requests;
    inbound.set(e.to, agg);
  }

  for (const edge of eventEdges(mesh.events)) {
    ensure(edge.from);
    ensure(edge.to);
    edges.push(edge);
  }

  for (const [id, agg] of inbound) {
    const n = nodes.get(id)!;
    n.rpsIn = agg.rps;
    n.errorRateIn = agg.requests ? agg.errors / agg.requests : 0;
    if (n.kind !== 'external') n.health = worstHealth(n.health, edgeHealth(n.errorRateIn, agg.requests));
  }
  for (const [service, list] of instances) {
    const n = nodes.get(service);
    if (n) n.instances = list.map((i) => ({ id: i.instanceId, zone: i.zone, condition: instanceCondition(i) }));
  }

  // Ordinal (not locale) order: at 30 000 edges localeCompare alone costs a long task a second.
  const sorted = [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { nodes: sorted, edges, groups: orderGroups(sorted.map((n) => n.group)) };
}

// --- the live topics -------------------------------------------------------------------------

const ordinal = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What a topology revision fixes: the nodes it names, and its edges in display order. Built once per revision. */
interface LiveStructure {
  /** Service nodes and the bare nodes of edge ends (numbers zeroed): templates copied each update. */
  nodes: Map<string, GraphNode>;
  /** Node ids in display order. */
  order: string[];
  /** Edge indexes (into the topology's edge list) in display (id) order. */
  edgeOrder: Int32Array;
  from: string[];
  to: string[];
  ids: string[];
  /** Index of each edge's callee in `order`. */
  toNode: Int32Array;
  /** Layout shapes already handed out, by the event edges' ids (models without expanded instances). */
  shapes: Map<string, object>;
}

const structures = new WeakMap<MeshTopology, LiveStructure>();
const NO_EVENT_TYPES: string[] = [];

/**
 * An HTTP edge read from the traffic columns: an update allocates one small object per edge and
 * computes a number only when it is read (most edges are not drawn).
 */
class ColumnEdge implements GraphEdge {
  readonly kind = 'http' as const;
  readonly eventTypes = NO_EVENT_TYPES;
  private text: string | null = null;

  constructor(
    private readonly s: LiveStructure,
    private readonly t: MeshTraffic,
    private readonly i: number,
    readonly circuit: CircuitState | null,
  ) {}

  get id(): string {
    return this.s.ids[this.i]!;
  }
  get from(): string {
    return this.s.from[this.i]!;
  }
  get to(): string {
    return this.s.to[this.i]!;
  }
  get requests(): number {
    return this.t.requests[this.i]!;
  }
  get rps(): number {
    return this.t.requests[this.i]! / this.t.spanSeconds;
  }
  get errorRate(): number {
    const requests = this.t.requests[this.i]!;
    return requests ? this.t.failed[this.i]! / requests : 0;
  }
  get p99(): number | null {
    return this.t.p99[this.i]!;
  }
  get health(): Health {
    return edgeHealth(this.errorRate, this.requests);
  }
  get label(): string {
    return (this.text ??= edgeLabel(this));
  }
}

/** The structure last built: a new revision whose edge list (or nodes) did not change reuses its parts. */
let lastStructure: { topology: MeshTopology; s: LiveStructure } | null = null;

const sameArray = <T,>(a: readonly T[], b: readonly T[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function structureOf(topology: MeshTopology): LiveStructure {
  let s = structures.get(topology);
  if (s) return s;
  const nodes = new Map<string, GraphNode>();
  for (const svc of topology.services) nodes.set(svc.name, serviceNode(svc));
  const prev = lastStructure;
  // Most new revisions are instance counts changing: the edge list is the same, so is its order.
  const sameEdges = prev !== null && sameArray(prev.topology.edges, topology.edges) && sameArray(prev.topology.names, topology.names);
  const n = topology.edges.length / 2;
  let from: string[];
  let to: string[];
  let ids: string[];
  let edgeOrder: Int32Array;
  if (sameEdges) {
    ({ from, to, ids, edgeOrder } = prev.s);
  } else {
    from = new Array<string>(n);
    to = new Array<string>(n);
    for (let i = 0; i < n; i++) [from[i], to[i]] = edgeEnds(topology, i);
    const keys = from.map((f, i) => edgeId('http', f, to[i]!));
    ids = keys;
    edgeOrder = Int32Array.from(keys.keys()).sort((a, b) => ordinal(keys[a]!, keys[b]!));
  }
  for (let i = 0; i < n; i++) {
    if (!nodes.has(from[i]!)) nodes.set(from[i]!, bareNode(from[i]!));
    if (!nodes.has(to[i]!)) nodes.set(to[i]!, bareNode(to[i]!));
  }
  const order = [...nodes.keys()].sort((a, b) => a.localeCompare(b));
  const sameNodes = sameEdges && sameArray(prev.s.order, order);
  let toNode: Int32Array;
  if (sameNodes) toNode = prev.s.toNode;
  else {
    const position = new Map(order.map((id, i) => [id, i]));
    toNode = Int32Array.from(to, (id) => position.get(id)!);
  }
  // The same nodes in the same groups and the same edges: the same layout shapes.
  const sameShape = sameNodes && order.every((id) => nodes.get(id)!.group === prev.s.nodes.get(id)!.group);
  s = { nodes, order, edgeOrder, from, to, ids, toNode, shapes: sameShape ? prev.s.shapes : new Map() };
  structures.set(topology, s);
  lastStructure = { topology, s };
  return s;
}

/**
 * The graph of a topology and a traffic frame of the same revision: the same model as
 * `buildGraph` of the mesh summary they carry, without building that summary — what a revision
 * fixes (nodes, edge order) is computed once, an update is one pass over the columns. Node
 * objects keep the revision's `counts` and `zones` objects, so views can compare them by identity.
 */
export function buildLiveGraph(topology: MeshTopology, traffic: MeshTraffic, instances: ReadonlyMap<string, readonly InstanceInfo[]> = new Map()): GraphModel {
  const s = structureOf(topology);
  const circuits = new Map<number, CircuitState | null>();
  for (const x of traffic.extras) if (x.circuit) circuits.set(x.edge, circuitOf(x));
  const nodeCount = s.order.length;
  const rpsIn = new Float64Array(nodeCount);
  const requestsIn = new Float64Array(nodeCount);
  const errorsIn = new Float64Array(nodeCount);
  const seen = new Uint8Array(nodeCount);
  const byIndex: Array<GraphEdge | undefined> = new Array<GraphEdge | undefined>(s.edgeOrder.length);
  // Edges not live this second stay in the topology (and the layout) but not in the model.
  const absent = new Uint8Array(s.edgeOrder.length);
  for (const i of traffic.absent) absent[i] = 1;
  // In the topology's order (the summary's), so the sums are the same floating-point sums as buildGraph's.
  for (let i = 0; i < byIndex.length; i++) {
    if (absent[i]) continue;
    const requests = traffic.requests[i]!;
    const rps = requests / traffic.spanSeconds;
    const errorRate = requests ? traffic.failed[i]! / requests : 0;
    byIndex[i] = new ColumnEdge(s, traffic, i, circuits.get(i) ?? null);
    const t = s.toNode[i]!;
    seen[t] = 1;
    rpsIn[t]! += rps;
    requestsIn[t]! += requests;
    errorsIn[t]! += errorRate * requests;
  }
  const http: GraphEdge[] = [];
  for (const i of s.edgeOrder) if (!absent[i]) http.push(byIndex[i]!);

  const events = eventEdges(traffic.events).sort((a, b) => ordinal(a.id, b.id));
  let order = s.order;
  const extra = events.flatMap((e) => [e.from, e.to]).filter((id) => !s.nodes.has(id));
  if (extra.length) order = [...new Set([...order, ...extra])].sort((a, b) => a.localeCompare(b));

  const nodes: GraphNode[] = order.map((id, i) => {
    const template = s.nodes.get(id) ?? bareNode(id);
    const node: GraphNode = { ...template };
    if (order === s.order && seen[i]) {
      node.rpsIn = rpsIn[i]!;
      node.errorRateIn = requestsIn[i] ? errorsIn[i]! / requestsIn[i]! : 0;
      if (node.kind !== 'external') node.health = worstHealth(node.health, edgeHealth(node.errorRateIn, requestsIn[i]!));
    }
    const list = instances.get(id);
    if (list && s.nodes.has(id)) node.instances = list.map((x) => ({ id: x.instanceId, zone: x.zone, condition: instanceCondition(x) }));
    return node;
  });
  if (order !== s.order) {
    // Nodes only event flows name (rare): aggregate by id instead.
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const agg = new Map<string, { rps: number; requests: number; errors: number }>();
    for (const e of byIndex) {
      if (!e) continue;
      const a = agg.get(e.to) ?? { rps: 0, requests: 0, errors: 0 };
      a.rps += e.rps;
      a.requests += e.requests;
      a.errors += e.errorRate * e.requests;
      agg.set(e.to, a);
    }
    for (const [id, a] of agg) {
      const n = byId.get(id)!;
      n.rpsIn = a.rps;
      n.errorRateIn = a.requests ? a.errors / a.requests : 0;
      if (n.kind !== 'external') n.health = worstHealth(n.health, edgeHealth(n.errorRateIn, a.requests));
    }
  }

  // Merge the two sorted lists (HTTP edges by id, event edges by id): the order of a full sort.
  const edges: GraphEdge[] = [];
  let a = 0;
  let b = 0;
  while (a < http.length || b < events.length) {
    if (b >= events.length || (a < http.length && ordinal(http[a]!.id, events[b]!.id) <= 0)) edges.push(http[a++]!);
    else edges.push(events[b++]!);
  }

  let shape: object;
  if (instances.size > 0 || extra.length) shape = {};
  else {
    const key = events.map((e) => e.id).join('\n');
    shape = s.shapes.get(key) ?? {};
    if (!s.shapes.has(key)) {
      if (s.shapes.size > 16) s.shapes.clear();
      s.shapes.set(key, shape);
    }
  }
  return { nodes, edges, groups: orderGroups(nodes.map((n) => n.group)), shape };
}
