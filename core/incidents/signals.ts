/**
 * The traffic the incident rules and the suspect ranking read: telemetry batches folded into
 * 1 s windows per service (all traffic into it), per callee instance (both with merged latency
 * sketches), and per edge (caller → callee, counts only), kept for `keepSeconds` in memory. Same
 * direction rules as LiveEdges: outbound edges are the caller's view; inbound edges count only
 * from "external".
 *
 * The ring covers the rules' windows and the look-back of a new incident; an open incident's
 * totals since its onset are kept by a `Trace` that takes in each second once it has settled
 * (SETTLE_MS: late batches still land in it), so an incident of any length is ranked over its
 * whole duration without keeping its seconds; the seconds not yet settled are read fresh.
 *
 * Held compactly (a 10 000-instance mesh has ~11 000 cells and 30 000 edges a second): latency
 * as the batches' shared sketch blobs, packed into one array per second once it has settled;
 * edge counts as a typed array per second over edges numbered once (EdgeIndex).
 */
import type { TelemetryBatch } from '../protocol/messages.js';
import { edgeCallee, edgeCaller } from '../telemetry/live-edges.js';
import { addBlobPart, blobOfParts, DenseSketch, MAX_BLOB_PARTS, quantilesOfParts, sketchBlobOf } from '../telemetry/sketch-codec.js';
import type { TrafficWindow } from './rules.js';

interface Counts {
  requests: number;
  failed: number;
}
interface Cell extends Counts {
  /**
   * Latency as the edges' sketch blobs (shared with the live view and history; sketch-codec.ts
   * addBlobPart) added since its second was packed, or all of them before; null: none.
   */
  latency: Uint8Array[] | null;
  /** Where packSecond put the cell's merged sketch in its second's arena (len 0: nowhere). */
  off: number;
  len: number;
}

/**
 * The service-to-service edges seen, numbered once, with each service's edges in and out: a
 * second's edge traffic is then a typed array indexed by edge (at 30 000 edges, a Map entry and
 * an object per edge, twice, per second kept was millions of objects).
 * Holds every edge seen since start (names and ids only, ~100 bytes an edge).
 */
class EdgeIndex {
  private readonly ids = new Map<string, Map<string, number>>();
  readonly from: string[] = [];
  readonly to: string[] = [];
  /** callee → its edges' ids */
  readonly into = new Map<string, number[]>();
  /** caller → its edges' ids */
  readonly outOf = new Map<string, number[]>();

  get size(): number {
    return this.from.length;
  }

  id(from: string, to: string): number {
    let byTo = this.ids.get(from);
    if (!byTo) this.ids.set(from, (byTo = new Map()));
    let id = byTo.get(to);
    if (id === undefined) {
      id = this.from.length;
      byTo.set(to, id);
      this.from.push(from);
      this.to.push(to);
      const list = (map: Map<string, number[]>, key: string) => {
        let l = map.get(key);
        if (!l) map.set(key, (l = []));
        return l;
      };
      list(this.into, to).push(id);
      list(this.outOf, from).push(id);
    }
    return id;
  }
}

/** Per edge id in a second: requests, failed (saturating at 2^32 − 1), and whether the edge reported in it. */
const EDGE_SLOTS = 3;

interface Second {
  start: number;
  /** Its cells' sketches were packed into one array (packSecond): later batches still add parts. */
  packed: boolean;
  arena: Uint8Array;
  services: Map<string, Cell>;
  /** service → instance → traffic into that instance */
  instances: Map<string, Map<string, Cell>>;
  edges: EdgeIndex;
  /** EDGE_SLOTS per edge id (grown as edges appear). */
  edgeCounts: Uint32Array;
}

/**
 * Merges each cell's sketch parts into one blob and copies them all into one array: the parts
 * are the batches' blobs, small Buffers from Node's shared pool, and 60 s of a 10 000-instance
 * mesh kept ~2 million of them (and the pool slabs they sit in) alive.
 */
function packSecond(s: Second): void {
  const cells: Cell[] = [...s.services.values()];
  for (const m of s.instances.values()) for (const c of m.values()) cells.push(c);
  const blobs = cells.map((c) => (c.latency ? blobOfParts(c.latency) : null));
  let bytes = 0;
  for (const b of blobs) bytes += b?.length ?? 0;
  const arena = new Uint8Array(bytes);
  let at = 0;
  cells.forEach((c, i) => {
    const b = blobs[i];
    if (!b) return;
    arena.set(b, at);
    c.off = at;
    c.len = b.length;
    c.latency = null;
    at += b.length;
  });
  s.arena = arena;
  s.packed = true;
}

/** A cell's counts and sketch into an accumulator. */
function addCellTo(a: Accumulator, s: Second, c: Cell): void {
  a.requests += c.requests;
  a.failed += c.failed;
  if (c.len) addBlobPart(a.latency, s.arena.subarray(c.off, c.off + c.len));
  if (c.latency) for (const blob of c.latency) addBlobPart(a.latency, blob);
}

const NO_BYTES = new Uint8Array(0);

function addEdge(s: Second, id: number, requests: number, failed: number): void {
  const at = id * EDGE_SLOTS;
  if (at + EDGE_SLOTS > s.edgeCounts.length) {
    const grown = new Uint32Array(Math.max(at + EDGE_SLOTS, s.edgeCounts.length * 2, 48));
    grown.set(s.edgeCounts);
    s.edgeCounts = grown;
  }
  const c = s.edgeCounts;
  c[at] = Math.min(0xffffffff, c[at]! + requests);
  c[at + 1] = Math.min(0xffffffff, c[at + 1]! + failed);
  c[at + 2] = 1;
}

export interface Totals {
  requests: number;
  failed: number;
  p99: number | null;
}

export interface ServiceBreakdown {
  service: Totals;
  instances: Map<string, Totals>;
  /** Callers of the service (edge from → service). */
  callers: Map<string, Totals>;
  /** The service's own calls (edge service → to): a failing dependency shows here. */
  dependencies: Map<string, Totals>;
}

/** A second is taken into a trace this long after it ended (agents report each second within it). */
export const SETTLE_MS = 3000;

function inner<V>(map: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = map.get(key);
  if (!m) map.set(key, (m = new Map()));
  return m;
}

/**
 * Sketch parts a cell of a second not yet packed holds before they are merged: packSecond()
 * merges them all once the second settles (a few seconds), so merging every MAX_BLOB_PARTS
 * re-encoded a service's sketch several times a second (30 edges into it).
 */
const UNPACKED_MAX_PARTS = 64;

function addCell(map: Map<string, Cell>, key: string, requests: number, failed: number, latency: Uint8Array, packed: boolean): void {
  let c = map.get(key);
  if (!c) map.set(key, (c = { requests: 0, failed: 0, latency: null, off: 0, len: 0 }));
  c.requests += requests;
  c.failed += failed;
  addBlobPart((c.latency ??= []), latency, packed ? MAX_BLOB_PARTS : UNPACKED_MAX_PARTS);
}

class Accumulator {
  requests = 0;
  failed = 0;
  readonly latency: Uint8Array[] = [];
  add(c: Counts & { latency?: readonly Uint8Array[] | null }): void {
    this.requests += c.requests;
    this.failed += c.failed;
    if (c.latency) for (const blob of c.latency) addBlobPart(this.latency, blob);
  }
  totals(): Totals {
    return { requests: this.requests, failed: this.failed, p99: this.latency.length ? (quantilesOfParts(this.latency, P99)[0] ?? null) : null };
  }
  static of(other: Accumulator): Accumulator {
    const a = new Accumulator();
    a.add(other);
    return a;
  }
}

const P99 = [0.99];
/** traffic()'s accumulator, reset for every call. */
const windowSketch = new DenseSketch();

function addSecond(service: string, s: Second, total: Accumulator, instances: Map<string, Accumulator>, callers: Map<string, Accumulator>, dependencies: Map<string, Accumulator>): void {
  const into = (map: Map<string, Accumulator>, key: string) => {
    let a = map.get(key);
    if (!a) map.set(key, (a = new Accumulator()));
    return a;
  };
  const c = s.services.get(service);
  if (c) addCellTo(total, s, c);
  for (const [id, cell] of s.instances.get(service) ?? []) addCellTo(into(instances, id), s, cell);
  const edges = (ids: readonly number[] | undefined, ends: readonly string[], map: Map<string, Accumulator>) => {
    for (const id of ids ?? []) {
      const at = id * EDGE_SLOTS;
      if (at >= s.edgeCounts.length || !s.edgeCounts[at + 2]) continue;
      into(map, ends[id]!).add({ requests: s.edgeCounts[at]!, failed: s.edgeCounts[at + 1]! });
    }
  };
  edges(s.edges.into.get(service), s.edges.from, callers);
  edges(s.edges.outOf.get(service), s.edges.to, dependencies);
}

/** A service's traffic summed over seconds, added one second at a time. */
export class Trace {
  private readonly total = new Accumulator();
  private readonly instances = new Map<string, Accumulator>();
  private readonly callers = new Map<string, Accumulator>();
  private readonly dependencies = new Map<string, Accumulator>();
  /** Start of the next second to add. */
  next: number;

  constructor(
    readonly service: string,
    since: number,
  ) {
    this.next = since;
  }

  add(s: Second): void {
    addSecond(this.service, s, this.total, this.instances, this.callers, this.dependencies);
  }

  /** The totals, with `tail` (seconds not taken in yet) added to a copy. */
  breakdown(tail: readonly Second[] = []): ServiceBreakdown {
    const copy = (m: Map<string, Accumulator>) => new Map([...m].map(([k, a]) => [k, Accumulator.of(a)]));
    const total = Accumulator.of(this.total);
    const instances = copy(this.instances);
    const callers = copy(this.callers);
    const dependencies = copy(this.dependencies);
    for (const s of tail) addSecond(this.service, s, total, instances, callers, dependencies);
    const done = (m: Map<string, Accumulator>) => new Map([...m].map(([k, a]) => [k, a.totals()]));
    return { service: total.totals(), instances: done(instances), callers: done(callers), dependencies: done(dependencies) };
  }
}

export class TrafficSignals {
  private readonly seconds: Second[] = [];
  private readonly edges = new EdgeIndex();

  /** Enough for the longest rule window and the look-back of a new incident (onset − 1 s). */
  constructor(private readonly keepSeconds = 60) {}

  ingest(batch: TelemetryBatch): void {
    const start = Math.floor(batch.windowStart / 1000) * 1000;
    const s = this.second(start);
    if (!s) return;
    for (const edge of batch.edges) {
      const from = edgeCaller(batch.service, edge);
      if (from === null) continue;
      const to = edgeCallee(batch.service, edge);
      const failed = edge.errors.http5xx + edge.errors.connect + edge.errors.timeout;
      const latency = sketchBlobOf(edge.latency);
      addCell(s.services, to, edge.requests, failed, latency, s.packed);
      addEdge(s, this.edges.id(from, to), edge.requests, failed);
      const instance = edge.direction === 'outbound' ? edge.peerInstance : batch.instanceId;
      if (instance) addCell(inner(s.instances, to), instance, edge.requests, failed, latency, s.packed);
    }
  }

  private second(start: number): Second | null {
    const last = this.seconds.at(-1);
    if (last?.start === start) return last;
    const existing = this.seconds.find((x) => x.start === start);
    if (existing) return existing;
    if (last && start < last.start - this.keepSeconds * 1000) return null; // older than what is kept
    const s: Second = { start, packed: false, arena: NO_BYTES, services: new Map(), instances: new Map(), edges: this.edges, edgeCounts: new Uint32Array(this.edges.size * EDGE_SLOTS) };
    this.seconds.push(s);
    // Seconds that have settled keep each cell's sketch as one blob in one array per second.
    for (const old of this.seconds) if (!old.packed && old.start < start - SETTLE_MS) packSecond(old);
    if (last && start < last.start) this.seconds.sort((a, b) => a.start - b.start);
    const horizon = this.seconds.at(-1)!.start - this.keepSeconds * 1000;
    while (this.seconds.length && this.seconds[0]!.start < horizon) this.seconds.shift();
    return s;
  }

  /** Seconds in [since, until), oldest first; walks back from the newest (ranges are recent). */
  private range(since: number, until: number): Second[] {
    const out: Second[] = [];
    for (let i = this.seconds.length - 1; i >= 0; i--) {
      const s = this.seconds[i]!;
      if (s.start < since) break;
      if (s.start < until) out.push(s);
    }
    return out.reverse();
  }

  /**
   * Traffic into `service` over the last `windowSeconds` complete seconds before `now` (the
   * second in progress is left out: its batches are still arriving).
   */
  traffic(service: string, windowSeconds: number, now: number): TrafficWindow {
    const until = Math.floor(now / 1000) * 1000;
    // The window's sketches go into one dense sketch as they are: through an Accumulator every
    // 8 parts were merged and encoded again (7 encodings per service for 60 s; the tick's largest cost).
    const dense = windowSketch;
    dense.reset();
    let requests = 0;
    let failed = 0;
    let latency = false;
    for (const s of this.range(until - windowSeconds * 1000, until)) {
      const c = s.services.get(service);
      if (!c) continue;
      requests += c.requests;
      failed += c.failed;
      if (c.len) dense.addBlob(s.arena, c.off, c.off + c.len);
      if (c.latency) for (const blob of c.latency) dense.addBlob(blob);
      latency ||= c.len > 0 || (c.latency?.length ?? 0) > 0;
    }
    const p99 = latency ? (dense.quantiles(P99)[0] ?? null) : null;
    dense.reset();
    return { requests, failed, p99 };
  }

  /**
   * Everything about the trace's service from its start to `until` (the ranking's input): the
   * seconds that have settled are taken into the trace for good, the rest read fresh.
   */
  breakdown(trace: Trace, until: number): ServiceBreakdown {
    const settled = until - SETTLE_MS;
    if (settled > trace.next) {
      for (const s of this.range(trace.next, settled)) trace.add(s);
      trace.next = settled;
    }
    return trace.breakdown(this.range(trace.next, until));
  }
}
