/**
 * The live mesh as two compact topics instead of the whole summary every second
 * (`mesh.topology` and `mesh.traffic`, docs/api.md):
 *
 *   topology  what the mesh is made of — the services with their instance counts and the list of
 *             HTTP edges (pairs of indexes into a name table) — with a `revision` that changes
 *             only when one of those does;
 *   traffic   every second, each edge's numbers as columns in the order of that revision's edge
 *             list (requests, failed requests, p50, p99; rps is requests / spanSeconds), the edges
 *             with a circuit or refused requests, the edges not live this second (`absent`: an
 *             edge that goes quiet stays in the topology for a minute, so one that comes and goes
 *             does not make a new revision each time), the event flows and the telemetry ingest.
 *
 * `MeshLiveSplitter` (the core) makes both from a mesh summary; `joinLive` (the renderer, tests)
 * puts them back together. Environment-neutral: no Node, no DOM.
 */
import type { EdgeSummary, MeshSummary, MeshTopology, MeshTraffic } from './contract.js';

/** What `joinLive` gives back of an edge: the fields the traffic topic carries. */
export type LiveEdge = Pick<EdgeSummary, 'from' | 'to' | 'rps' | 'requests' | 'errorRate' | 'p50' | 'p99' | 'refused' | 'circuit'>;

/** A mesh summary as the live topics carry it (edges without the error breakdown, retries, p95 and lastSeen). */
export interface LiveMesh extends Pick<MeshSummary, 'profileId' | 'at' | 'services' | 'events' | 'ingest'> {
  edges: LiveEdge[];
}

/** Latencies travel rounded to the microsecond. */
export function roundLatency(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000;
}

/** Failed requests of an edge as the core counts them into `errorRate` (5xx, connect failures, timeouts). */
function failedOf(e: EdgeSummary): number {
  return e.errors.http5xx + e.errors.connect + e.errors.timeout;
}

/**
 * Splits one mesh's summaries into topology and traffic, keeping the topology (and its revision)
 * while the services and the edge list stay the same.
 */
export class MeshLiveSplitter {
  private revision = 0;
  private topology: MeshTopology | null = null;
  private servicesJson = '';
  /** caller → callee → index in the current topology's edge list (two levels: no key strings to build). */
  private index = new Map<string, Map<string, number>>();
  private count = 0;
  /** When each edge of the topology was last in a summary. */
  private lastLive: number[] = [];

  constructor(
    private readonly profileId: string,
    /** The span the summaries' rates are over (s): rps = requests / spanSeconds. */
    private readonly spanSeconds: number,
    /**
     * How long an edge that went quiet stays in the topology (listed in the frames' `absent`), so
     * an edge that comes and goes does not make a new revision each time (ms).
     */
    private readonly keepQuietMs = 60_000,
  ) {}

  split(summary: Pick<MeshSummary, 'at' | 'services' | 'edges' | 'events' | 'ingest'>): { topology: MeshTopology; traffic: MeshTraffic; changed: boolean } {
    const list = summary.edges;
    const servicesJson = JSON.stringify(summary.services);
    // Where each summary edge goes in the topology's edge list.
    const slot = new Int32Array(list.length);
    let same = this.topology !== null && servicesJson === this.servicesJson && list.length <= this.count;
    for (let k = 0; same && k < list.length; k++) {
      const i = this.index.get(list[k]!.from)?.get(list[k]!.to);
      if (i === undefined) same = false;
      else slot[k] = i;
    }
    if (same) {
      for (let k = 0; k < list.length; k++) this.lastLive[slot[k]!] = summary.at;
      // An edge quiet for longer than keepQuietMs leaves the topology (a new revision).
      if (this.lastLive.some((t) => t < summary.at - this.keepQuietMs)) same = false;
    }
    if (!same) {
      this.revision += 1;
      this.servicesJson = servicesJson;
      const names: string[] = [];
      const nameIndex = new Map<string, number>();
      const nameOf = (name: string) => {
        let i = nameIndex.get(name);
        if (i === undefined) {
          i = names.length;
          names.push(name);
          nameIndex.set(name, i);
        }
        return i;
      };
      const edges: number[] = [];
      this.index = new Map();
      for (let k = 0; k < list.length; k++) {
        const e = list[k]!;
        let callees = this.index.get(e.from);
        if (!callees) this.index.set(e.from, (callees = new Map()));
        callees.set(e.to, k);
        slot[k] = k;
        edges.push(nameOf(e.from), nameOf(e.to));
      }
      this.count = list.length;
      this.lastLive = new Array<number>(list.length).fill(summary.at);
      this.topology = { profileId: this.profileId, at: summary.at, revision: this.revision, services: summary.services, names, edges };
    }
    const n = this.count;
    const requests: number[] = new Array<number>(n).fill(0);
    const failed: number[] = new Array<number>(n).fill(0);
    const p50: Array<number | null> = new Array<number | null>(n).fill(null);
    const p99: Array<number | null> = new Array<number | null>(n).fill(null);
    const extras: MeshTraffic['extras'] = [];
    const absent: number[] = [];
    for (let i = 0; i < n; i++) if (this.lastLive[i] !== summary.at) absent.push(i);
    for (let k = 0; k < list.length; k++) {
      const e = list[k]!;
      const i = slot[k]!;
      requests[i] = e.requests;
      failed[i] = failedOf(e);
      p50[i] = roundLatency(e.p50);
      p99[i] = roundLatency(e.p99);
      if (e.circuit || e.refused) {
        const x: MeshTraffic['extras'][number] = { edge: i };
        if (e.refused) x.refused = e.refused;
        if (e.circuit) x.circuit = e.circuit;
        extras.push(x);
      }
    }
    const traffic: MeshTraffic = {
      profileId: this.profileId,
      at: summary.at,
      revision: this.revision,
      spanSeconds: this.spanSeconds,
      requests,
      failed,
      p50,
      p99,
      extras,
      absent,
      events: summary.events,
      ...(summary.ingest ? { ingest: summary.ingest } : {}),
    };
    return { topology: this.topology!, traffic, changed: !same };
  }
}

/** Edge `i` of a topology: its caller and callee names. */
export function edgeEnds(topology: Pick<MeshTopology, 'names' | 'edges'>, i: number): [string, string] {
  return [topology.names[topology.edges[2 * i]!]!, topology.names[topology.edges[2 * i + 1]!]!];
}

/** The numbers of edge `i` from a traffic frame, computed as the core computes them. */
export function edgeNumbers(traffic: MeshTraffic, i: number): { rps: number; requests: number; errorRate: number; p50: number | null; p99: number | null } {
  const requests = traffic.requests[i]!;
  return { rps: requests / traffic.spanSeconds, requests, errorRate: requests ? traffic.failed[i]! / requests : 0, p50: traffic.p50[i]!, p99: traffic.p99[i]! };
}

function liveEdge(topology: MeshTopology, traffic: MeshTraffic, extras: ReadonlyMap<number, MeshTraffic['extras'][number]>, i: number): LiveEdge {
  const [from, to] = edgeEnds(topology, i);
  const x = extras.get(i);
  return { from, to, ...edgeNumbers(traffic, i), refused: x?.refused ?? 0, ...(x?.circuit ? { circuit: x.circuit } : {}) };
}

function liveMesh(topology: MeshTopology, traffic: MeshTraffic, edges: LiveEdge[]): LiveMesh {
  return { profileId: traffic.profileId, at: traffic.at, services: topology.services, edges, events: traffic.events, ...(traffic.ingest ? { ingest: traffic.ingest } : {}) };
}

/** Topology + traffic of the same revision → the mesh summary they came from (the fields they carry); null when the revisions differ. */
export function joinLive(topology: MeshTopology, traffic: MeshTraffic): LiveMesh | null {
  if (topology.revision !== traffic.revision || topology.profileId !== traffic.profileId) return null;
  const extras = new Map(traffic.extras.map((x) => [x.edge, x]));
  const absent = new Set(traffic.absent);
  const edges: LiveEdge[] = [];
  for (let i = 0; i < topology.edges.length / 2; i++) if (!absent.has(i)) edges.push(liveEdge(topology, traffic, extras, i));
  return liveMesh(topology, traffic, edges);
}

/** The mesh as `joinLive` gives it, with only the edges into or out of `service` (a side panel's view). */
export function serviceEdges(topology: MeshTopology, traffic: MeshTraffic, service: string): LiveMesh | null {
  if (topology.revision !== traffic.revision || topology.profileId !== traffic.profileId) return null;
  const k = topology.names.indexOf(service);
  const extras = new Map(traffic.extras.map((x) => [x.edge, x]));
  const absent = new Set(traffic.absent);
  const edges: LiveEdge[] = [];
  for (let i = 0; k >= 0 && i < topology.edges.length / 2; i++) {
    if ((topology.edges[2 * i] === k || topology.edges[2 * i + 1] === k) && !absent.has(i)) edges.push(liveEdge(topology, traffic, extras, i));
  }
  return liveMesh(topology, traffic, edges);
}

/**
 * One edge of the live topics (caller → callee) with the figures `joinLive` gives it; null when
 * the revisions differ, the topology has no such edge, or it carried nothing this second
 * (`absent`). An edge side panel's view.
 */
export function liveEdgeOf(topology: MeshTopology, traffic: MeshTraffic, from: string, to: string): LiveEdge | null {
  if (topology.revision !== traffic.revision || topology.profileId !== traffic.profileId) return null;
  const kf = topology.names.indexOf(from);
  const kt = topology.names.indexOf(to);
  if (kf < 0 || kt < 0) return null;
  for (let i = 0; i < topology.edges.length / 2; i++) {
    if (topology.edges[2 * i] !== kf || topology.edges[2 * i + 1] !== kt) continue;
    if (traffic.absent.includes(i)) return null;
    const x = traffic.extras.find((e) => e.edge === i);
    return liveEdge(topology, traffic, new Map(x ? [[i, x]] : []), i);
  }
  return null;
}
