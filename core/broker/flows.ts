/**
 * The event-flow graph: publisher (service) → exchange → queue → consumer (service), with msg/s
 * on every edge. The broker gives exchanges, bindings, queues and consumers (joined to mesh
 * services by their AMQP connection name); the agents' telemetry (core/telemetry/live-events)
 * gives who publishes to which exchange and how fast each service consumes. Where both know an
 * edge, the agents' per-service rate is used and the edge says `both`.
 */
import type { BrokerFlows } from '../api/contract.js';
import type { EventTypeFlow } from '../telemetry/live-events.js';
import type { BrokerReading } from './read-snapshot.js';

type Node = BrokerFlows['nodes'][number];
type Edge = BrokerFlows['edges'][number];

export const flowNodeId = {
  exchange: (name: string) => `exchange:${name}`,
  queue: (name: string) => `queue:${name}`,
  publisher: (service: string) => `publisher:${service}`,
  consumer: (key: string) => `consumer:${key}`,
};

export function buildFlows(
  reading: Pick<BrokerReading, 'queues' | 'bindings' | 'consumers'> & Partial<Pick<BrokerReading, 'publishers'>>,
  events: EventTypeFlow[],
  meshServices: ReadonlySet<string>,
): BrokerFlows {
  const nodes = new Map<string, Node>();
  const node = (id: string, kind: Node['kind'], label: string, service: string | null = null) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, label, service, inMesh: service !== null && meshServices.has(service) });
    return id;
  };
  // Per edge, the broker's rate and the agents' (summed over event types) are kept apart; the
  // agents' per-service figure wins where both exist.
  const edges = new Map<string, { from: string; to: string; kind: Edge['kind']; broker: number | null; agents: number | null; by: Set<'broker' | 'agents'>; keys: Set<string> }>();
  const edge = (from: string, to: string, kind: Edge['kind'], rate: number | null, by: 'broker' | 'agents', keys: string[]) => {
    const key = `${from}\u0000${to}`;
    const e = edges.get(key) ?? { from, to, kind, broker: null, agents: null, by: new Set(), keys: new Set() };
    e.by.add(by);
    for (const k of keys) e.keys.add(k);
    if (rate !== null) e[by] = (e[by] ?? 0) + rate;
    edges.set(key, e);
  };
  const queues = new Map(reading.queues.map((q) => [q.name, q]));
  const queueNode = (name: string) => node(flowNodeId.queue(name), 'queue', name);

  // exchange → queue (and exchange → exchange), from bindings.
  const sourcesOfQueue = new Map<string, Set<string>>();
  for (const b of reading.bindings) {
    if (b.destinationType === 'queue') {
      const set = sourcesOfQueue.get(b.destination) ?? new Set<string>();
      set.add(b.source);
      sourcesOfQueue.set(b.destination, set);
    }
  }
  for (const b of reading.bindings) {
    const from = node(flowNodeId.exchange(b.source), 'exchange', b.source);
    if (b.destinationType === 'exchange') {
      edge(from, node(flowNodeId.exchange(b.destination), 'exchange', b.destination), 'route', null, 'broker', [b.routingKey]);
      continue;
    }
    // A queue's incoming rate belongs to this exchange only when it is the queue's one source.
    const only = sourcesOfQueue.get(b.destination)?.size === 1;
    edge(from, queueNode(b.destination), 'route', only ? (queues.get(b.destination)?.rateIn ?? null) : null, 'broker', [b.routingKey]);
  }

  // queue → consumer, from the broker's consumers: the queue's delivery rate shared by consumer count.
  const consumersPerQueue = new Map<string, number>();
  for (const c of reading.consumers) consumersPerQueue.set(c.queue, (consumersPerQueue.get(c.queue) ?? 0) + 1);
  const deliverShare = new Map<string, { queue: string; to: string; count: number }>();
  for (const c of reading.consumers) {
    const key = c.service ?? `conn:${c.connectionName ?? c.channel}`;
    const to = node(flowNodeId.consumer(key), 'consumer', c.service ?? c.connectionName ?? c.channel, c.service);
    const k = `${c.queue}\u0000${to}`;
    const entry = deliverShare.get(k) ?? { queue: c.queue, to, count: 0 };
    entry.count += 1;
    deliverShare.set(k, entry);
  }
  for (const { queue, to, count } of deliverShare.values()) {
    const out = queues.get(queue)?.rateOut ?? null;
    const share = out === null ? null : (out * count) / (consumersPerQueue.get(queue) ?? count);
    edge(queueNode(queue), to, 'deliver', share, 'broker', []);
  }

  // publisher → exchange, from a broker in rates_mode detailed (per channel).
  for (const p of reading.publishers ?? []) {
    const key = p.service ?? `conn:${p.connectionName ?? p.channel}`;
    const from = node(flowNodeId.publisher(key), 'publisher', p.service ?? p.connectionName ?? p.channel, p.service);
    edge(from, node(flowNodeId.exchange(p.exchange), 'exchange', p.exchange), 'publish', p.rate, 'broker', []);
  }

  // What the agents report: publishers per exchange, consumers per queue, by event type.
  for (const flow of events) {
    for (const p of flow.producers) {
      const from = node(flowNodeId.publisher(p.service), 'publisher', p.service, p.service);
      edge(from, node(flowNodeId.exchange(p.exchange), 'exchange', p.exchange), 'publish', p.perSecond, 'agents', [flow.type]);
    }
    for (const c of flow.consumers) {
      const to = node(flowNodeId.consumer(c.service), 'consumer', c.service, c.service);
      edge(queueNode(c.queue), to, 'deliver', c.perSecond, 'agents', [flow.type]);
    }
  }

  const out: Edge[] = [...edges.values()].map((e) => ({
    from: e.from,
    to: e.to,
    kind: e.kind,
    rate: e.agents ?? e.broker,
    source: e.by.size === 2 ? 'both' : e.by.has('agents') ? 'agents' : 'broker',
    keys: [...e.keys].sort(),
  }));
  return {
    nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)),
    edges: out.sort((a, b) => `${a.from}\u0000${a.to}`.localeCompare(`${b.from}\u0000${b.to}`)),
  };
}
