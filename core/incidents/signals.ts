/**
 * The traffic the incident rules and the suspect ranking read: telemetry batches folded into
 * 1 s windows per service (all traffic into it), per callee instance (both with merged latency
 * sketches), and per edge (caller → callee, counts only), kept for `keepSeconds` in memory. Same
 * direction rules as LiveEdges: outbound edges are the caller's view; inbound edges count only
 * from "external".
 *
 * Two horizons, because the two readers need different things:
 * - the rules read a service's totals over their window (≤ MAX_TRAFFIC_WINDOW_SECONDS): the
 *   services' cells are kept `keepSeconds`;
 * - the suspect ranking reads instances and edges, but only from an incident's onset on: those
 *   (the detail, most of the memory: 10 instances and 30 edges per service) are kept for the
 *   last `detailSeconds`, enough for a rule to open after its `openAfterSeconds` (the monitor
 *   widens it for rules that wait longer, up to MAX_DETAIL_SECONDS). An open incident's totals
 *   since its onset are kept by a `Trace` that takes in each second once it has settled
 *   (SETTLE_MS: late batches still land in it), so an incident of any length is ranked over its
 *   whole duration without keeping its seconds; the seconds not yet settled are read fresh. A
 *   trace covers only seconds that still had their detail when it took them in.
 *
 * Held compactly (a 10 000-instance mesh has ~11 000 cells and 30 000 edges a second): cells
 * and edges are numbered once (CellIndex, EdgeIndex) and a second's counts are typed arrays over
 * those numbers; latency is a chain of sketch parts per cell in the second's SketchArena (the
 * batch's blob bytes copied in), merged to one part per cell once the second has settled. Taking
 * in a batch allocates nothing that outlives it.
 */
import type { TelemetryBatch } from '../protocol/messages.js';
import { edgeCallee, edgeCaller } from '../telemetry/live-edges.js';
import { NO_CHAIN, SketchArena } from '../telemetry/sketch-arena.js';
import { addBlobPart, DenseSketch, MAX_BLOB_PARTS, quantilesOfParts, sketchBlobOf } from '../telemetry/sketch-codec.js';
import { MAX_TRAFFIC_WINDOW_SECONDS, type TrafficWindow } from './rules.js';

interface Counts {
  requests: number;
  failed: number;
}

/** The id of `key`, handed out by `next` the first time (CellIndex passes one function it keeps: no closure per call). */
function idIn<K>(map: Map<K, number>, key: K, next: () => number): number {
  let id = map.get(key);
  if (id === undefined) map.set(key, (id = next()));
  return id;
}

function listIn(map: Map<string, number[]>, key: string): number[] {
  let l = map.get(key);
  if (!l) map.set(key, (l = []));
  return l;
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

  /** The edge's id, numbered on first sight (inline rather than through idIn: called per edge of every batch, a closure per call was garbage). */
  id(from: string, to: string): number {
    const byTo = inner(this.ids, from);
    let id = byTo.get(to);
    if (id === undefined) {
      id = this.from.length;
      byTo.set(to, id);
      this.from.push(from);
      this.to.push(to);
      listIn(this.into, to).push(id);
      listIn(this.outOf, from).push(id);
    }
    return id;
  }
}

/**
 * The cells traffic is kept in, numbered once like the edges: one per service (all traffic into
 * it) and one per instance of it (traffic into that instance), in two numberings: a second keeps
 * its services' cells longer than its instances'. A second's cells are then typed arrays indexed
 * by id and their sketches chains in the second's arenas, so taking in a batch allocates nothing
 * that outlives it (a Map entry, a cell object and the batch's blobs per cell and second, kept
 * 60 s, were most of what each scavenge of the ingest path copied).
 * Ids of cells no kept second refers to are released and reused (release()): instances come and
 * go (every deploy renames a service's pods), and each second's arrays span every id.
 */
class CellIndex {
  private readonly services = new Map<string, number>();
  /** service → instance → cell id */
  readonly instances = new Map<string, Map<string, number>>();
  /** Ids handed out: the size of a second's cell arrays. */
  serviceSize = 0;
  instanceSize = 0;
  private readonly freeServices: number[] = [];
  private readonly freeInstances: number[] = [];
  private readonly nextService = () => this.freeServices.pop() ?? this.serviceSize++;
  private readonly nextInstance = () => this.freeInstances.pop() ?? this.instanceSize++;

  /** Cells numbered now. */
  get count(): number {
    return this.serviceSize - this.freeServices.length + this.instanceSize - this.freeInstances.length;
  }

  service(name: string): number {
    return idIn(this.services, name, this.nextService);
  }

  instance(service: string, instance: string): number {
    return idIn(inner(this.instances, service), instance, this.nextInstance);
  }

  /** Forgets the cells no kept second refers to (`used`: 1 per id in use); their ids are handed out again. */
  release(usedServices: Uint8Array, usedInstances: Uint8Array): void {
    const sweep = (map: Map<string, number>, used: Uint8Array, free: number[]) => {
      for (const [key, id] of map) {
        if (used[id]) continue;
        map.delete(key);
        free.push(id);
      }
    };
    sweep(this.services, usedServices, this.freeServices);
    for (const [service, byInstance] of this.instances) {
      sweep(byInstance, usedInstances, this.freeInstances);
      if (byInstance.size === 0) this.instances.delete(service);
    }
  }

  /** The service's cell id, or −1 when it never had traffic (without numbering it). */
  serviceIfKnown(name: string): number {
    return this.services.get(name) ?? -1;
  }
}

/** Per edge id in a second: requests + 1 (0: the edge did not report in it) and failed, both saturating at 2^32 − 1. */
const EDGE_SLOTS = 2;
/**
 * Per cell id in a second: requests, failed (saturating at 2^32 − 1), the latency chain's head in
 * the second's arena + 1 (0: the cell did not report in that second; every edge reported adds a
 * part), and the chain's parts.
 */
const CELL_SLOTS = 4;

interface Second {
  start: number;
  /** Its cells' chains were each merged into one part, in arenas of the exact size (TrafficSignals.pack): later batches still add parts. */
  packed: boolean;
  /** It still has its instances and edges (false: past `detailSeconds`, its services' cells only). */
  detail: boolean;
  /** Chains of the services' cells; until packed, of the instances' too. */
  arena: SketchArena;
  /** Chains of the instances' cells: `arena` until packed, then an arena of their own, dropped with the detail. */
  instanceArena: SketchArena;
  cellIds: CellIndex;
  /** CELL_SLOTS per service cell id (grown as cells appear). */
  services: Uint32Array;
  /** CELL_SLOTS per instance cell id (grown as cells appear); empty once the detail is dropped. */
  instances: Uint32Array;
  edges: EdgeIndex;
  /** EDGE_SLOTS per edge id (grown as edges appear); empty once the detail is dropped. */
  edgeCounts: Uint32Array;
}

const NONE = new Uint32Array(0);
/** What a second past its detail holds for its instances (never added to: ingest checks `detail`). */
const NO_ARENA = new SketchArena(0);

/** The chain head of a cell that reported in the second, or NO_CHAIN. */
function cellHead(cells: Uint32Array, id: number): number {
  const at = id * CELL_SLOTS;
  return id < 0 || at >= cells.length ? NO_CHAIN : cells[at + 2]! - 1;
}

/** Counts typed arrays hold per id, grown to fit `id` (doubling). */
function slotsFor(counts: Uint32Array, id: number, slots: number): Uint32Array {
  const at = id * slots;
  if (at + slots <= counts.length) return counts;
  const grown = new Uint32Array(Math.max(at + slots, counts.length * 2, 16 * slots));
  grown.set(counts);
  return grown;
}

const saturating = (a: number, b: number) => Math.min(0xffffffff, a + b);

function addEdge(s: Second, id: number, requests: number, failed: number): void {
  const c = (s.edgeCounts = slotsFor(s.edgeCounts, id, EDGE_SLOTS));
  const at = id * EDGE_SLOTS;
  c[at] = saturating(c[at]! || 1, requests);
  c[at + 1] = saturating(c[at + 1]!, failed);
}

/**
 * Sketch parts a cell of a second not yet packed holds before they are merged: pack()
 * merges them all once the second settles (a few seconds), so merging every MAX_BLOB_PARTS
 * re-encoded a service's sketch several times a second (30 edges into it).
 */
const UNPACKED_MAX_PARTS = 64;

/** Adds to the cell `id` of `cells` (its chains in `arena`); returns `cells`, grown if it had to be. */
function addCell(cells: Uint32Array, arena: SketchArena, packed: boolean, id: number, requests: number, failed: number, latency: Uint8Array): Uint32Array {
  const c = slotsFor(cells, id, CELL_SLOTS);
  const at = id * CELL_SLOTS;
  c[at] = saturating(c[at]!, requests);
  c[at + 1] = saturating(c[at + 1]!, failed);
  let head = arena.add(c[at + 2]! - 1, latency);
  if (++c[at + 3]! >= (packed ? MAX_BLOB_PARTS : UNPACKED_MAX_PARTS)) {
    head = arena.merge(head);
    c[at + 3] = 1;
  }
  c[at + 2] = head + 1;
  return c;
}

/** A cell's counts and sketch into an accumulator. */
function addCellTo(a: Accumulator, cells: Uint32Array, arena: SketchArena, id: number): void {
  const at = id * CELL_SLOTS;
  a.requests += cells[at]!;
  a.failed += cells[at + 1]!;
  const blob = arena.blob(cells[at + 2]! - 1);
  if (blob) addBlobPart(a.latency, blob);
}

/** Merges each chain of `cells` (in `from`) into one part in `via`; returns an arena of the exact size holding them. */
function packCells(cells: Uint32Array, from: SketchArena, via: SketchArena): SketchArena {
  via.reset();
  for (let at = 0; at < cells.length; at += CELL_SLOTS) {
    if (cells[at + 2] === 0) continue;
    cells[at + 2] = from.moveTo(via, cells[at + 2]! - 1) + 1;
    cells[at + 3] = 1;
  }
  return via.trimmed();
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

/** A second's traffic of `service` into the accumulators; a second past its detail adds nothing (a trace covers the seconds whose instances and edges it has). */
function addSecond(service: string, s: Second, total: Accumulator, instances: Map<string, Accumulator>, callers: Map<string, Accumulator>, dependencies: Map<string, Accumulator>): void {
  if (!s.detail) return;
  const into = (map: Map<string, Accumulator>, key: string) => {
    let a = map.get(key);
    if (!a) map.set(key, (a = new Accumulator()));
    return a;
  };
  const id = s.cellIds.serviceIfKnown(service);
  if (cellHead(s.services, id) !== NO_CHAIN) addCellTo(total, s.services, s.arena, id);
  for (const [instance, cell] of s.cellIds.instances.get(service) ?? []) if (cellHead(s.instances, cell) !== NO_CHAIN) addCellTo(into(instances, instance), s.instances, s.instanceArena, cell);
  const edges = (ids: readonly number[] | undefined, ends: readonly string[], map: Map<string, Accumulator>) => {
    for (const id of ids ?? []) {
      const at = id * EDGE_SLOTS;
      if (at >= s.edgeCounts.length || !s.edgeCounts[at]) continue;
      into(map, ends[id]!).add({ requests: s.edgeCounts[at]! - 1, failed: s.edgeCounts[at + 1]! });
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

/** Seconds a second keeps its instances and edges unless the monitor asks for more (`coverOnsetAfter`): a rule that opens after 3 s (the default) has its onset well inside. */
export const DETAIL_SECONDS = 20;
/** The most the detail is widened to, whatever a rule's `openAfterSeconds`: past it, a slow rule's incident is ranked from this far back. */
export const MAX_DETAIL_SECONDS = 60;

export interface TrafficSignalsOptions {
  /** Seconds the services' cells are kept: the longest rule window, the second in progress and one more (default). */
  keepSeconds?: number;
  /** Seconds the instances' cells and the edges are kept (default DETAIL_SECONDS). */
  detailSeconds?: number;
}

export class TrafficSignals {
  private readonly seconds: Second[] = [];
  private readonly edges = new EdgeIndex();
  private readonly cellIds = new CellIndex();
  /** pack()'s arena to merge into (reused), and a packed-away arena for the next new second. */
  private readonly packing = new SketchArena();
  private spare: SketchArena | null = null;
  /** When cell ids were last released (the start of the newest second then). */
  private released = -Infinity;
  private keepSeconds: number;
  private detailSeconds: number;

  constructor(options: TrafficSignalsOptions = {}) {
    this.detailSeconds = options.detailSeconds ?? DETAIL_SECONDS;
    this.keepSeconds = Math.max(options.keepSeconds ?? MAX_TRAFFIC_WINDOW_SECONDS + 2, this.detailSeconds);
  }

  /** How long seconds keep their instances and edges. */
  get detail(): number {
    return this.detailSeconds;
  }

  /**
   * Keeps the detail long enough for an incident whose rule opens `openAfterSeconds` after its
   * onset to be ranked from the second before it (and the seconds settling meanwhile), up to
   * MAX_DETAIL_SECONDS. Only widens; seconds already past the old horizon stay without detail.
   */
  coverOnsetAfter(openAfterSeconds: number): void {
    const need = Math.min(MAX_DETAIL_SECONDS, Math.ceil(openAfterSeconds + 1 + SETTLE_MS / 1000 + 4));
    if (need <= this.detailSeconds) return;
    this.detailSeconds = need;
    this.keepSeconds = Math.max(this.keepSeconds, need);
  }

  ingest(batch: TelemetryBatch): void {
    const start = Math.floor(batch.windowStart / 1000) * 1000;
    const s = this.second(start);
    if (!s) return;
    const cells = this.cellIds;
    for (const edge of batch.edges) {
      const from = edgeCaller(batch.service, edge);
      if (from === null) continue;
      const to = edgeCallee(batch.service, edge);
      const failed = edge.errors.http5xx + edge.errors.connect + edge.errors.timeout;
      const latency = sketchBlobOf(edge.latency);
      s.services = addCell(s.services, s.arena, s.packed, cells.service(to), edge.requests, failed, latency);
      if (!s.detail) continue;
      addEdge(s, this.edges.id(from, to), edge.requests, failed);
      const instance = edge.direction === 'outbound' ? edge.peerInstance : batch.instanceId;
      if (instance) s.instances = addCell(s.instances, s.instanceArena, s.packed, cells.instance(to, instance), edge.requests, failed, latency);
    }
  }

  private second(start: number): Second | null {
    const last = this.seconds.at(-1);
    if (last?.start === start) return last;
    const existing = this.seconds.find((x) => x.start === start);
    if (existing) return existing;
    if (last && start < last.start - this.keepSeconds * 1000) return null; // older than what is kept
    const arena = this.spare ?? new SketchArena(last ? last.arena.capacity + (last.packed ? last.instanceArena.capacity : 0) : undefined);
    this.spare = null;
    const s: Second = {
      start,
      packed: false,
      detail: !last || start >= last.start - this.detailSeconds * 1000,
      arena,
      instanceArena: arena,
      cellIds: this.cellIds,
      services: new Uint32Array(this.cellIds.serviceSize * CELL_SLOTS),
      instances: new Uint32Array(this.cellIds.instanceSize * CELL_SLOTS),
      edges: this.edges,
      edgeCounts: new Uint32Array(this.edges.size * EDGE_SLOTS),
    };
    if (!s.detail) dropDetail(s);
    this.seconds.push(s);
    if (last && start < last.start) this.seconds.sort((a, b) => a.start - b.start);
    const newest = this.seconds.at(-1)!.start;
    // Seconds that have settled keep each cell's sketch as one part, in arenas of the exact size;
    // past the detail horizon, their services' cells only.
    for (const old of this.seconds) {
      if (!old.packed && old.start < newest - SETTLE_MS) this.pack(old);
      if (old.detail && old.start < newest - this.detailSeconds * 1000) dropDetail(old);
    }
    const horizon = newest - this.keepSeconds * 1000;
    while (this.seconds.length && this.seconds[0]!.start < horizon) this.seconds.shift();
    if (newest - this.released >= this.keepSeconds * 1000) {
      this.released = newest;
      this.releaseCells();
    }
    return s;
  }

  /** Cells numbered now (services and instances with traffic in a kept second, and some not yet released): diagnostics, tests. */
  get cells(): number {
    return this.cellIds.count;
  }

  /** Releases the ids of cells that reported in no kept second (a pass over the kept seconds once per keepSeconds). */
  private releaseCells(): void {
    const usedIn = (size: number, of: (s: Second) => Uint32Array) => {
      const used = new Uint8Array(size);
      for (const s of this.seconds) {
        const c = of(s);
        for (let id = 0, at = 2; at < c.length; id++, at += CELL_SLOTS) if (c[at] !== 0) used[id] = 1;
      }
      return used;
    };
    this.cellIds.release(
      usedIn(this.cellIds.serviceSize, (s) => s.services),
      usedIn(this.cellIds.instanceSize, (s) => s.instances),
    );
  }

  /**
   * Merges each cell's chain into one part and keeps the services' and the instances' each in
   * an arena of the exact size: a second's chains hold up to UNPACKED_MAX_PARTS parts per cell
   * (30 edges into a service). The arena it leaves is reused by the next new second.
   */
  private pack(s: Second): void {
    const used = s.arena;
    s.arena = packCells(s.services, used, this.packing);
    s.instanceArena = s.detail ? packCells(s.instances, used, this.packing) : NO_ARENA;
    s.packed = true;
    used.reset();
    this.spare = used;
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
    const id = this.cellIds.serviceIfKnown(service);
    for (const s of this.range(until - windowSeconds * 1000, until)) {
      const head = cellHead(s.services, id);
      if (head === NO_CHAIN) continue;
      requests += s.services[id * CELL_SLOTS]!;
      failed += s.services[id * CELL_SLOTS + 1]!;
      s.arena.addTo(dense, head);
      latency = true;
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

/**
 * Forgets a second's instances and edges (its services' cells stay for the rules). A second not
 * packed yet keeps its instances' chains in the shared arena as dead bytes until it is packed.
 */
function dropDetail(s: Second): void {
  s.detail = false;
  s.instances = NONE;
  s.edgeCounts = NONE;
  if (s.packed) s.instanceArena = NO_ARENA;
}
