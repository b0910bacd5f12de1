import { describe, expect, it } from 'vitest';
import { MeshTopology, MeshTraffic, type EdgeSummary, type MeshSummary, type ServiceSummary } from './contract.js';
import { expectedLive as expected } from '../../test/support/live-mesh.js';
import { joinLive, liveEdgeOf, MeshLiveSplitter, serviceEdges } from './mesh-live.js';

const SPAN_S = 10;

function service(name: string, instances = 2, over: Partial<ServiceSummary> = {}): ServiceSummary {
  return { name, instances, healthy: instances, draining: 0, down: 0, zones: ['zone-a'], versions: ['1'], byZone: [{ zone: 'zone-a', instances, healthy: instances, draining: 0, down: 0 }], agents: ['sidecar'], ...over };
}

/** An edge as the core's LiveEdges builds it: rps and errorRate from the counts. */
function edge(from: string, to: string, requests: number, failed: { http5xx?: number; connect?: number; timeout?: number } = {}, over: Partial<EdgeSummary> = {}): EdgeSummary {
  const errors = { http5xx: failed.http5xx ?? 0, http4xx: 3, connect: failed.connect ?? 0, timeout: failed.timeout ?? 0 };
  const bad = errors.http5xx + errors.connect + errors.timeout;
  return { from, to, rps: requests / SPAN_S, requests, errors, errorRate: requests ? bad / requests : 0, retries: 1, p50: requests ? 3.14159 : null, p95: 7, p99: requests ? 12.3456789 : null, lastSeen: 5, refused: 0, ...over };
}

const CIRCUIT: EdgeSummary['circuit'] = { state: 'open', instances: [{ instanceId: 'web-1', state: 'open', since: 1, until: 2, manual: false, rule: 'consecutive-failures', reason: '5 in a row', at: 1 }] };

function summary(at: number, services: ServiceSummary[], edges: EdgeSummary[]): MeshSummary {
  return { profileId: 'p', at, services, edges, events: [{ type: 'shop.order.v1', producers: [{ service: 'web', exchange: 'x', perSecond: 1, total: 10 }], consumers: [] }], ingest: { state: 'live', reachedOffset: 1, tailOffset: 1, behind: 0, lagMs: 0, processedPerSecond: 1, arrivingPerSecond: 1, etaSeconds: null, tailReadAt: 1 } };
}

describe('the live topics (mesh.topology + mesh.traffic)', () => {
  const web = service('web');
  const api = service('api', 3);
  const db = service('db');
  const steps: MeshSummary[] = [
    summary(1000, [api, web], [edge('external', 'web', 40), edge('web', 'api', 30, { http5xx: 2, timeout: 1 }), { ...edge('web', 'db', 7, { connect: 7 }), refused: 4, circuit: CIRCUIT }]),
    // Only the numbers change.
    summary(2000, [api, web], [edge('external', 'web', 41), edge('web', 'api', 0), edge('web', 'db', 9, { connect: 1 })]),
    // A new edge and a new service.
    summary(3000, [api, db, web], [edge('api', 'db', 12), edge('external', 'web', 41), edge('web', 'api', 3), edge('web', 'db', 9)]),
    // An instance goes down: the services change, the edges do not.
    summary(4000, [api, { ...db, healthy: 1, down: 1 }, web], [edge('api', 'db', 12), edge('external', 'web', 41), edge('web', 'api', 3), edge('web', 'db', 9)]),
    // An edge goes quiet: it stays in the topology, listed as absent.
    summary(5000, [api, { ...db, healthy: 1, down: 1 }, web], [edge('api', 'db', 2), edge('web', 'api', 3), edge('web', 'db', 9)]),
    // ... and comes back: still the same topology.
    summary(6000, [api, { ...db, healthy: 1, down: 1 }, web], [edge('api', 'db', 2), edge('external', 'web', 5), edge('web', 'api', 3), edge('web', 'db', 9)]),
  ];

  it('give back every summary (the fields they carry) from the newest topology and each traffic frame', () => {
    const splitter = new MeshLiveSplitter('p', SPAN_S);
    let topology: MeshTopology | null = null;
    const revisions: number[] = [];
    const changes: boolean[] = [];
    for (const step of steps) {
      const out = splitter.split(step);
      // The receiving side keeps the last topology it was sent and applies each frame to it.
      if (out.changed) topology = out.topology;
      expect(topology).toBe(out.topology);
      expect(MeshTopology.parse(out.topology)).toEqual(out.topology);
      expect(MeshTraffic.parse(out.traffic)).toEqual(out.traffic);
      expect(joinLive(topology!, out.traffic)).toEqual(expected(step));
      revisions.push(out.traffic.revision);
      changes.push(out.changed);
    }
    expect(changes).toEqual([true, false, true, true, false, false]);
    expect(revisions).toEqual([1, 1, 2, 3, 3, 3]);
  });

  it('keep a quiet edge in the topology for keepQuietMs, listed as absent, then drop it in a new revision', () => {
    const splitter = new MeshLiveSplitter('p', SPAN_S, 60_000);
    const both = (at: number) => summary(at, [api, web], [edge('external', 'web', 4), edge('web', 'api', 3)]);
    const quiet = (at: number) => summary(at, [api, web], [edge('web', 'api', 3)]);
    const first = splitter.split(both(0));
    expect(first.traffic.absent).toEqual([]);
    const q = splitter.split(quiet(30_000));
    expect(q.changed).toBe(false);
    expect(q.traffic.absent).toEqual([0]);
    expect(q.traffic.requests[0]).toBe(0);
    expect(joinLive(first.topology, q.traffic)).toEqual(expected(quiet(30_000)));
    expect(splitter.split(quiet(60_000)).changed).toBe(false);
    const dropped = splitter.split(quiet(60_001));
    expect(dropped.changed).toBe(true);
    expect(dropped.topology.edges).toHaveLength(2);
    expect(dropped.traffic.absent).toEqual([]);
    expect(joinLive(dropped.topology, dropped.traffic)).toEqual(expected(quiet(60_001)));
  });

  it('carry errorRate and rps exactly as the core computes them', () => {
    const step = steps[0]!;
    const { topology, traffic } = new MeshLiveSplitter('p', SPAN_S).split(step);
    const joined = joinLive(topology, traffic)!;
    for (const [i, e] of step.edges.entries()) {
      expect(joined.edges[i]!.errorRate).toBe(e.errorRate);
      expect(joined.edges[i]!.rps).toBe(e.rps);
    }
  });

  it('apply a traffic frame only to the topology of its revision', () => {
    const splitter = new MeshLiveSplitter('p', SPAN_S);
    const first = splitter.split(steps[0]!);
    const third = splitter.split(steps[2]!);
    expect(joinLive(first.topology, third.traffic)).toBeNull();
    expect(joinLive(third.topology, first.traffic)).toBeNull();
    expect(serviceEdges(first.topology, third.traffic, 'web')).toBeNull();
  });

  it('give a side panel the edges of one service only', () => {
    const splitter = new MeshLiveSplitter('p', SPAN_S);
    const { topology, traffic } = splitter.split(steps[2]!);
    const all = joinLive(topology, traffic)!;
    expect(serviceEdges(topology, traffic, 'web')).toEqual({ ...all, edges: all.edges.filter((e) => e.from === 'web' || e.to === 'web') });
    expect(serviceEdges(topology, traffic, 'nobody')!.edges).toEqual([]);
  });

  it('give an edge panel one edge\u2019s figures, with its circuit, and none for an edge absent, unknown or of another revision', () => {
    const splitter = new MeshLiveSplitter('p', SPAN_S);
    const first = splitter.split(steps[0]!);
    const all = joinLive(first.topology, first.traffic)!;
    for (const e of all.edges) expect(liveEdgeOf(first.topology, first.traffic, e.from, e.to)).toEqual(e);
    expect(liveEdgeOf(first.topology, first.traffic, 'web', 'db')).toMatchObject({ requests: 7, errorRate: 1, refused: 4, circuit: CIRCUIT });
    expect(liveEdgeOf(first.topology, first.traffic, 'db', 'web')).toBeNull();
    expect(liveEdgeOf(first.topology, first.traffic, 'web', 'nobody')).toBeNull();
    splitter.split(steps[2]!);
    splitter.split(steps[3]!);
    const quiet = splitter.split(steps[4]!);
    expect(quiet.traffic.absent).toHaveLength(1);
    expect(liveEdgeOf(quiet.topology, quiet.traffic, 'external', 'web')).toBeNull();
    expect(liveEdgeOf(quiet.topology, quiet.traffic, 'api', 'db')).toMatchObject({ requests: 2 });
    expect(liveEdgeOf(first.topology, quiet.traffic, 'web', 'api')).toBeNull();
  });

  it('send a second of traffic at 1 000 services and 30 000 edges in a fraction of the summary', () => {
    const services = Array.from({ length: 1000 }, (_, i) => service(`svc-${i}`, 10));
    const edges: EdgeSummary[] = [];
    for (let s = 0; s < 1000; s++) for (let k = 1; k <= 30; k++) edges.push(edge(`svc-${s}`, `svc-${(s + k) % 1000}`, 10 + ((s * 31 + k) % 90), { http5xx: k % 3 }, { p50: 1 + ((s + k) % 50) / 7, p99: 20 + ((s * k) % 300) / 3 }));
    const full = summary(1, services, edges);
    const splitter = new MeshLiveSplitter('p', SPAN_S);
    const first = splitter.split(full);
    const next = splitter.split({ ...full, at: 2 });
    expect(next.changed).toBe(false);
    const summaryBytes = JSON.stringify([full]).length;
    const trafficBytes = JSON.stringify([next.traffic]).length;
    const topologyBytes = JSON.stringify([first.topology]).length;
    expect(trafficBytes).toBeLessThan(summaryBytes / 5);
    expect(topologyBytes).toBeLessThan(summaryBytes / 5);
    expect(joinLive(first.topology, next.traffic)).toEqual(expected({ ...full, at: 2 }));
  });
});
