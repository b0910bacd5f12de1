/**
 * The topology graph as data, built from a mesh summary: one node per service (gateways and
 * external clients marked), HTTP edges with rate, errors, p99 and circuit state, and event edges
 * (producer → consumer of a domain event type). Pure: no DOM, no React.
 */
import type { EdgeSummary, InstanceInfo, MeshSummary, ServiceSummary } from '../../../core/api/contract';
import { edgeHealth, formatMs, formatPercent, formatRate, type Health } from '../format';
import { instanceCondition, type InstanceCondition } from '../failover-words';

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
export function circuitOf(edge: EdgeSummary): CircuitState | null {
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
    this.id = `${from}>${to}`;
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

export function buildGraph(mesh: Pick<MeshSummary, 'services' | 'edges' | 'events'>, instances: ReadonlyMap<string, readonly InstanceInfo[]> = new Map()): GraphModel {
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

  // Event edges: every producer of a type to every consumer of it, merged per service pair.
  const events = new Map<string, GraphEdge>();
  for (const flow of mesh.events) {
    for (const p of flow.producers) {
      for (const c of flow.consumers) {
        if (p.service === c.service) continue;
        ensure(p.service);
        ensure(c.service);
        const id = `event:${p.service}>${c.service}`;
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
