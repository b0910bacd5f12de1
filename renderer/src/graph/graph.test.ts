import { describe, expect, it } from 'vitest';
import type { EdgeSummary, InstanceInfo, MeshSummary, ServiceSummary } from '../../../core/api/contract';
import { filterGraph, NO_FILTER } from './filter';
import { layoutGraph, packLayoutInput, ranks, unpackLayoutInput, type LayoutInput, type LayoutResult } from './layout';
import { MeshLiveSplitter, joinLive } from '../../../core/api/mesh-live';
import { buildGraph, buildLiveGraph, circuitOf, countsHealth, type GraphModel } from './model';
import { layoutKey } from './use-layout';

function service(name: string, zones: string[], over: Partial<ServiceSummary> = {}): ServiceSummary {
  return {
    name,
    instances: zones.length,
    healthy: zones.length,
    draining: 0,
    down: 0,
    zones,
    versions: ['1'],
    byZone: zones.map((zone) => ({ zone, instances: 1, healthy: 1, draining: 0, down: 0 })),
    agents: ['sidecar'],
    ...over,
  };
}

function edge(from: string, to: string, over: Partial<EdgeSummary> = {}): EdgeSummary {
  return { from, to, rps: 10, requests: 100, errors: { http5xx: 0, http4xx: 0, connect: 0, timeout: 0 }, errorRate: 0, retries: 0, p50: 5, p95: 9, p99: 12, lastSeen: 0, ...over };
}

const MESH: Pick<MeshSummary, 'services' | 'edges' | 'events'> = {
  services: [
    service('gateway', ['zone-a', 'zone-b'], { agents: ['gateway'] }),
    service('checkout', ['zone-a', 'zone-b']),
    service('payments', ['zone-a', 'zone-b', 'zone-c'], { healthy: 3, ejected: 1 }),
    service('inventory', ['zone-c'], { instances: 1, healthy: 1, draining: 0 }),
    service('notifications', ['zone-b']),
  ],
  edges: [
    edge('external', 'gateway', { rps: 40 }),
    edge('gateway', 'checkout'),
    edge('checkout', 'payments', { errorRate: 0.2, requests: 50 }),
    { ...edge('checkout', 'inventory'), circuit: { state: 'open' } } as EdgeSummary,
  ],
  events: [
    {
      type: 'shop.order.placed.v1',
      producers: [{ service: 'checkout', exchange: 'x', perSecond: 2, total: 20 }],
      consumers: [
        { service: 'inventory', queue: 'q1', perSecond: 2, total: 20, failed: 0 },
        { service: 'notifications', queue: 'q2', perSecond: 2, total: 20, failed: 1 },
      ],
    },
  ],
};

describe('graph model', () => {
  const model = buildGraph(MESH);
  const node = (id: string) => model.nodes.find((n) => n.id === id)!;

  it('has one node per service plus the external clients, with gateways marked', () => {
    expect(model.nodes.map((n) => n.id)).toEqual(['checkout', 'external', 'gateway', 'inventory', 'notifications', 'payments']);
    expect(node('gateway').kind).toBe('gateway');
    expect(node('external')).toMatchObject({ kind: 'external', group: 'outside', label: 'external clients' });
    expect(node('checkout').kind).toBe('service');
  });

  it('groups services by the zones they run in, outside first', () => {
    expect(node('checkout').group).toBe('zone-a + zone-b');
    expect(node('inventory').group).toBe('zone-c');
    expect(model.groups).toEqual(['outside', 'zone-b', 'zone-c', 'zone-a + zone-b', 'zone-a + zone-b + zone-c']);
  });

  it('health: ejected instances do not count as serving, and inbound errors count', () => {
    expect(node('payments').counts).toMatchObject({ instances: 3, healthy: 3, ejected: 1 });
    // 2 of 3 serving → degraded; 20 % errors inbound → failing wins.
    expect(node('payments').health).toBe('failing');
    expect(node('checkout').health).toBe('healthy');
    expect(countsHealth({ instances: 2, healthy: 2, ejected: 2, probing: 0 })).toBe('failing');
    expect(countsHealth({ instances: 0, healthy: 0, ejected: 0, probing: 0 })).toBe('unknown');
  });

  it('labels HTTP edges with rate, errors and p99, coloured by error rate, with the circuit state when present', () => {
    const pay = model.edges.find((e) => e.id === 'checkout>payments')!;
    expect(pay).toMatchObject({ kind: 'http', health: 'failing', label: '10/s · 20 % · 12 ms', circuit: null });
    expect(model.edges.find((e) => e.id === 'checkout>inventory')!.circuit).toBe('open');
    expect(circuitOf({ ...edge('a', 'b'), circuit: { state: 'half-open', instances: [] } })).toBe('half-open');
    expect(circuitOf({ ...edge('a', 'b'), circuit: 'HALF_OPEN' } as unknown as EdgeSummary)).toBe('half-open');
    expect(circuitOf({ ...edge('a', 'b'), circuit: 42 } as unknown as EdgeSummary)).toBeNull();
  });

  it('adds event edges from producers to consumers, degraded when consumers fail', () => {
    const ev = model.edges.filter((e) => e.kind === 'event');
    expect(ev.map((e) => e.id)).toEqual(['event:checkout>inventory', 'event:checkout>notifications']);
    expect(ev[1]).toMatchObject({ health: 'degraded', eventTypes: ['shop.order.placed.v1'] });
  });

  it('attaches instances of expanded services with their condition', () => {
    const inst = (id: string, over: Partial<InstanceInfo>): InstanceInfo =>
      ({ instanceId: id, zone: 'zone-a', state: 'healthy', failover: null, ...over }) as InstanceInfo;
    const m = buildGraph(MESH, new Map([['payments', [inst('p1', {}), inst('p2', { failover: { state: 'ejected', until: 1, reason: '', ejections: 1 } }), inst('p3', { state: 'draining' })]]]));
    expect(m.nodes.find((n) => n.id === 'payments')!.instances!.map((i) => i.condition)).toEqual(['healthy', 'ejected', 'draining']);
  });
});

describe('graph filter', () => {
  const model = buildGraph(MESH);
  const ids = (f: Partial<typeof NO_FILTER>) => filterGraph(model, { ...NO_FILTER, ...f }).nodes.map((n) => n.id);

  it('no filter keeps everything', () => {
    expect(filterGraph(model, NO_FILTER)).toEqual(model);
  });

  it('by zone: services with instances there; external clients only when they call one', () => {
    expect(ids({ zone: 'zone-c' })).toEqual(['inventory', 'payments']);
    expect(ids({ zone: 'zone-a' })).toEqual(['checkout', 'external', 'gateway', 'payments']);
  });

  it('by health: unhealthy nodes and the ends of unhealthy or circuit-open edges', () => {
    expect(ids({ health: 'problems' })).toEqual(['checkout', 'inventory', 'notifications', 'payments']);
  });

  it('by text, case-insensitive', () => {
    expect(ids({ text: 'PAY' })).toEqual(['payments']);
    expect(filterGraph(model, { ...NO_FILTER, text: 'pay' }).edges).toEqual([]);
  });

  it('focus: the node and its direct neighbours, edges among them only', () => {
    const f = filterGraph(model, { ...NO_FILTER, focus: 'gateway' });
    expect(f.nodes.map((n) => n.id)).toEqual(['checkout', 'external', 'gateway']);
    expect(f.edges.map((e) => e.id)).toEqual(['external>gateway', 'gateway>checkout']);
    expect(ids({ focus: 'checkout', text: 'pay' })).toEqual(['checkout', 'payments']);
  });

  it('can hide event edges', () => {
    expect(filterGraph(model, { ...NO_FILTER, events: false }).edges.some((e) => e.kind === 'event')).toBe(false);
    expect(ids({ focus: 'notifications', events: false })).toEqual(['notifications']);
  });
});

function input(model = buildGraph(MESH)): LayoutInput {
  return { nodes: model.nodes.map((n) => ({ id: n.id, group: n.group, width: 180, height: 50 })), edges: model.edges, groups: model.groups };
}

function overlaps(result: LayoutResult, inp: LayoutInput): boolean {
  const boxes = inp.nodes.map((n) => ({ ...result.positions[n.id]!, w: n.width, h: n.height }));
  return boxes.some((a, i) => boxes.some((b, j) => i < j && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h));
}

/** A synthetic mesh: `n` services over 3 zones, each calling up to 3 later ones. */
function synthetic(n: number): LayoutInput {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `svc-${String(i).padStart(4, '0')}`, group: `zone-${'abc'[i % 3]}`, width: 180, height: 50 }));
  const edges: LayoutInput['edges'] = [];
  for (let i = 0; i < n; i++) for (const d of [1, 7, 31]) if (i + d < n && (i * d) % 5 !== 0) edges.push({ from: nodes[i]!.id, to: nodes[i + d]!.id });
  return { nodes, edges, groups: ['zone-a', 'zone-b', 'zone-c'] };
}

describe('graph layout', () => {
  it('ranks callers before callees and survives cycles', () => {
    const r = ranks(input().nodes, [...input().edges, { from: 'payments', to: 'gateway' }]);
    expect(r.get('external')).toBe(0);
    expect(r.get('gateway')).toBe(1);
    expect(r.get('checkout')).toBe(2);
    expect(r.get('payments')).toBe(3);
  });

  it('places every node, in its band, left to right by rank, without overlaps', () => {
    const inp = input();
    const result = layoutGraph(inp);
    expect(Object.keys(result.positions).sort()).toEqual(inp.nodes.map((n) => n.id).sort());
    expect(result.positions.external!.x).toBeLessThan(result.positions.gateway!.x);
    expect(result.positions.gateway!.x).toBeLessThan(result.positions.checkout!.x);
    for (const n of inp.nodes) {
      const band = result.bands.find((b) => b.id === n.group)!;
      const p = result.positions[n.id]!;
      expect(p.y).toBeGreaterThanOrEqual(band.y);
      expect(p.y + n.height).toBeLessThanOrEqual(band.y + band.height);
    }
    expect(result.bands.map((b) => b.id)).toEqual(inp.groups);
    expect(overlaps(result, inp)).toBe(false);
  });

  it('is deterministic: the same input gives the same positions, with or without the previous result', () => {
    const inp = synthetic(300);
    const a = layoutGraph(inp);
    expect(layoutGraph(structuredClone(inp))).toEqual(a);
    expect(layoutGraph(inp, a)).toEqual(a);
    // Input order does not matter.
    expect(layoutGraph({ ...inp, nodes: [...inp.nodes].reverse(), edges: [...inp.edges].reverse() })).toEqual(a);
    expect(overlaps(a, inp)).toBe(false);
  });

  it('adding a node moves no other node sideways, nor down by more than one slot', () => {
    for (const [base, extra] of [
      [synthetic(120), { from: 'svc-0050', group: 'zone-b' }],
      [synthetic(120), { from: null, group: 'zone-a' }],
      [input(), { from: 'payments', group: 'zone-c' }],
    ] as const) {
      const before = layoutGraph(base);
      const added: LayoutInput = {
        ...base,
        nodes: [...base.nodes, { id: 'new-node', group: extra.group, width: 180, height: 50 }],
        edges: extra.from ? [...base.edges, { from: extra.from, to: 'new-node' }] : base.edges,
      };
      const after = layoutGraph(added, before);
      const bound = 50 + 14; // the new node's height + the row gap
      for (const n of base.nodes) {
        expect(after.positions[n.id]!.x).toBe(before.positions[n.id]!.x);
        const dy = after.positions[n.id]!.y - before.positions[n.id]!.y;
        expect(dy).toBeGreaterThanOrEqual(0);
        expect(dy).toBeLessThanOrEqual(bound);
      }
      expect(overlaps(after, added)).toBe(false);
    }
  });

  it('packs the input for the worker without changing the layout (edges to unknown nodes left out)', () => {
    const inp = synthetic(200);
    const withStray = { ...inp, edges: [...inp.edges, { from: 'nobody', to: inp.nodes[0]!.id }] };
    const { packed, transfer } = packLayoutInput(withStray);
    expect(transfer).toHaveLength(3);
    const back = unpackLayoutInput(structuredClone(packed));
    expect(back).toEqual(inp);
    expect(layoutGraph(back)).toEqual(layoutGraph(withStray));
  });

  it('lays out 1 000 services with 3 000 edges quickly', () => {
    const inp = synthetic(1000);
    const t0 = performance.now();
    const result = layoutGraph(inp);
    const ms = performance.now() - t0;
    expect(Object.keys(result.positions)).toHaveLength(1000);
    expect(ms).toBeLessThan(2000);
  });

  it('keys the layout by structure only: the same for new numbers, new for a new edge', () => {
    const a = input();
    const again = input(buildGraph({ ...MESH, edges: MESH.edges.map((e) => ({ ...e, rps: e.rps * 2 })) }));
    expect(layoutKey(again)).toBe(layoutKey(a));
    const more = input(buildGraph({ ...MESH, edges: [...MESH.edges, edge('inventory', 'notifications')] }));
    expect(layoutKey(more)).not.toBe(layoutKey(a));
  });
});

describe('graph at 1 000 services', () => {
  // The console benchmark's shape: 1 000 services, each calling 30 others (30 000 edges).
  const services = Array.from({ length: 1000 }, (_, i) => service(`svc-${i}`, ['zone-a', 'zone-b', 'zone-c']));
  const edges: EdgeSummary[] = [];
  for (let s = 0; s < 1000; s++) for (let k = 1; k <= 30; k++) edges.push(edge(`svc-${s}`, `svc-${(s + k) % 1000}`));
  const big = { services, edges, events: [] };

  it('builds the model with every edge, in ordinal id order', () => {
    const model = buildGraph(big);
    expect(model.nodes).toHaveLength(1000);
    expect(model.edges).toHaveLength(30_000);
    for (let i = 1; i < model.edges.length; i++) expect(model.edges[i - 1]!.id < model.edges[i]!.id).toBe(true);
  });

  it('model and layout key take well under a frame budget per update (loose bound for a loaded machine)', () => {
    buildGraph(big);
    const t0 = performance.now();
    const model = buildGraph(big);
    const key = layoutKey(input(model));
    const ms = performance.now() - t0;
    expect(key).toMatch(/^1:1000:30000:/);
    expect(ms).toBeLessThan(1000);
  });
});


/** A model as plain data (edge labels read, so lazily formatted labels compare too), without its shape token. */
function plain(model: GraphModel) {
  return {
    nodes: model.nodes.map((n) => ({ ...n })),
    edges: model.edges.map((e) => ({ id: e.id, from: e.from, to: e.to, kind: e.kind, rps: e.rps, requests: e.requests, errorRate: e.errorRate, p99: e.p99, health: e.health, circuit: e.circuit, label: e.label, eventTypes: e.eventTypes })),
    groups: model.groups,
  };
}

describe('graph from the live topics', () => {
  /** The core's summary edges: rps and errorRate from the counts, latencies already to the microsecond. */
  const counted = (e: EdgeSummary, requests: number, failed: number): EdgeSummary => ({
    ...e,
    requests,
    rps: requests / 10,
    errors: { http5xx: failed, http4xx: 0, connect: 0, timeout: 0 },
    errorRate: requests ? failed / requests : 0,
  });
  const live = (mesh: MeshSummary, splitter = new MeshLiveSplitter('p', 10)) => splitter.split(mesh);
  const base: MeshSummary = {
    profileId: 'p',
    at: 1,
    services: MESH.services,
    edges: [counted(MESH.edges[0]!, 400, 0), counted(MESH.edges[1]!, 100, 0), counted(MESH.edges[2]!, 50, 10), { ...counted(MESH.edges[3]!, 100, 0), circuit: { state: 'open', instances: [] } }],
    events: MESH.events,
  };

  it('is the model of the summary they carry (topology + traffic == the full summary)', () => {
    const { topology, traffic } = live(base);
    expect(plain(buildLiveGraph(topology, traffic))).toEqual(plain(buildGraph(joinLive(topology, traffic)!)));
    expect(plain(buildLiveGraph(topology, traffic))).toEqual(plain(buildGraph(base)));
  });

  it('applies each second\'s numbers to the same topology, keeping the shape; a new edge is a new shape', () => {
    const splitter = new MeshLiveSplitter('p', 10);
    const first = live(base, splitter);
    const a = buildLiveGraph(first.topology, first.traffic);
    const next = { ...base, at: 2, edges: base.edges.map((e, i) => counted(e, e.requests * 2 + i, i)) };
    const second = live(next, splitter);
    expect(second.changed).toBe(false);
    const b = buildLiveGraph(first.topology, second.traffic);
    expect(b.shape).toBe(a.shape);
    expect(plain(b)).toEqual(plain(buildGraph(next)));
    expect(b.nodes.find((n) => n.id === 'payments')!.counts).toBe(a.nodes.find((n) => n.id === 'payments')!.counts);
    // An edge goes quiet: out of the model, the topology and its shape stay.
    const quiet = { ...next, at: 2.5, edges: next.edges.filter((e) => e.to !== 'payments') };
    const q = live(quiet, splitter);
    expect(q.changed).toBe(false);
    expect(q.traffic.absent).toHaveLength(1);
    const qm = buildLiveGraph(first.topology, q.traffic);
    expect(qm.shape).toBe(a.shape);
    expect(plain(qm)).toEqual(plain(buildGraph(quiet)));
    // A new revision for instance counts alone: the same shape (no new layout input), the new counts.
    const counts = { ...next, at: 3, services: next.services.map((svc) => (svc.name === 'payments' ? { ...svc, healthy: 1, down: 2 } : svc)) };
    const recount = live(counts, splitter);
    expect(recount.changed).toBe(true);
    const r = buildLiveGraph(recount.topology, recount.traffic);
    expect(r.shape).toBe(a.shape);
    expect(plain(r)).toEqual(plain(buildGraph(counts)));
    const more = { ...next, at: 3, edges: [...next.edges, counted(edge('inventory', 'notifications'), 5, 0)] };
    const third = live(more, splitter);
    expect(third.changed).toBe(true);
    const c = buildLiveGraph(third.topology, third.traffic);
    expect(c.shape).not.toBe(a.shape);
    expect(plain(c)).toEqual(plain(buildGraph(more)));
  });

  it('marks expanded services\' instances and nodes only event flows name, like buildGraph', () => {
    const withStranger: MeshSummary = {
      ...base,
      events: [...base.events, { type: 'x.v1', producers: [{ service: 'ledger', exchange: 'x', perSecond: 1, total: 1 }], consumers: [{ service: 'payments', queue: 'q', perSecond: 1, total: 1, failed: 0 }] }],
    };
    const instances = new Map([['payments', [{ instanceId: 'p-1', zone: 'zone-a', state: 'healthy', failover: null } as unknown as InstanceInfo]]]);
    const { topology, traffic } = live(withStranger);
    expect(plain(buildLiveGraph(topology, traffic, instances))).toEqual(plain(buildGraph(withStranger, instances)));
  });

  it('at 1 000 services and 30 000 edges: the same model, an update far cheaper than a full build', () => {
    const services = Array.from({ length: 1000 }, (_, i) => service(`svc-${i}`, ['zone-a', 'zone-b', 'zone-c']));
    const edges: EdgeSummary[] = [];
    for (let s = 0; s < 1000; s++) for (let k = 1; k <= 30; k++) edges.push(counted(edge(`svc-${s}`, `svc-${(s + k) % 1000}`), (s + k) % 97, k % 2));
    const mesh: MeshSummary = { profileId: 'p', at: 1, services, edges, events: [] };
    const splitter = new MeshLiveSplitter('p', 10);
    const { topology, traffic } = splitter.split(mesh);
    const model = buildLiveGraph(topology, traffic);
    expect(plain(model)).toEqual(plain(buildGraph(mesh)));
    const frame = splitter.split({ ...mesh, at: 2 }).traffic;
    const t0 = performance.now();
    const update = buildLiveGraph(topology, frame);
    const ms = performance.now() - t0;
    expect(update.shape).toBe(model.shape);
    expect(update.edges).toHaveLength(30_000);
    // A loose bound (a loaded machine); the point is that it is one pass over columns.
    expect(ms).toBeLessThan(500);
  });
});
