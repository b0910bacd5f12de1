/**
 * Telemetry history: per-edge and per-instance 1 s windows persisted to SQLite with 10 s and
 * 1 min rollups, exactly once across crashes when fed from the telemetry stream.
 *
 * Data path (design and the crash-safety argument: core/telemetry/README.md):
 *
 *   ingest()   merges a batch into in-memory deltas, per series and 1 s window.
 *   flush()    writes every delta in ONE transaction together with the stream offset of the last
 *              ingested message: into the time-ordered staging table (counts add, sketches merge),
 *              or, for a window whose minute is already compacted, straight into the resolution
 *              tables (again adding). Then runs a few compaction steps.
 *   compact()  moves each minute, once it is `graceMs` past its end, from staging into the
 *              series-major tables: the 1 s rows as they are, plus 10 s and 1 min rollups whose
 *              counts are sums and whose sketches are bucket-by-bucket merges of the 1 s sketches.
 *              One transaction per slice of series; a cursor in telemetry_marks says how far it got.
 *   prune()    enforces retention per resolution, a bounded number of rows per call.
 *
 * One TelemetryHistory per mesh and database.
 */
import { scannedEdge, type BinaryEdgeScanner, type ScannedEdge } from '../protocol/binary-telemetry.js';
import type { TelemetryBatch } from '../protocol/messages.js';
import type { Db } from '../store/database.js';
import { HistoryStore, RECENT_COLUMNS, RECENT_ROWS_PER_STATEMENT, type RawSeriesWindow, type SeriesKind, type WindowRow } from './history-store.js';
import { resolveRetention, RESOLUTIONS, telemetryConsumer, type Resolution, type Retention } from './resolutions.js';
import { NO_CHAIN, SketchArena } from './sketch-arena.js';
import { DenseSketch, sketchBlobOf } from './sketch-codec.js';

export interface StreamOffset {
  consumer: string;
  stream: string;
  offset: number;
}

export interface TelemetryHistoryOptions {
  db: Db;
  mesh: string;
  /** Per resolution, ms. Defaults: 1s 6 h, 10s 3 days, 1m 30 days. */
  retention?: Partial<Retention>;
  /** A minute is compacted once it ended this long ago (ms). Later windows are still exact, only dearer. Default 10 s. */
  graceMs?: number;
  /** flush() writes at most this often unless forced (ms). Default 1000. */
  minFlushIntervalMs?: number;
  /** Series per compaction transaction (≈ 60 staged rows each). Default 50. */
  compactSeriesPerStep?: number;
  /**
   * Compaction transactions run by one flush() at least. Default 2. A flush runs more when the
   * mesh has more series than that keeps up with — as many as the minute's slices need at the
   * time since the last flush, with a margin, or all of maxCompactStepsPerFlush while
   * compaction trails by more than a minute — never more than maxCompactStepsPerFlush.
   */
  compactStepsPerFlush?: number;
  /** Compaction transactions one flush() runs at most. Default 16. */
  maxCompactStepsPerFlush?: number;
  /** Batches whose window starts further than this ahead of their arrival are dropped (ms). Default 10 min. */
  maxFutureMs?: number;
  now?: () => number;
}

export interface FlushResult {
  /** Whether a transaction ran (deltas and/or the offset were written). */
  written: boolean;
  /** Why nothing was written: too soon after the last write, or data ingested after the last offset given. */
  skipped?: 'throttled' | 'unanchored';
  /** When skipped as 'throttled': in how many ms a write is allowed again. */
  retryInMs?: number;
  /** Series windows written (staging or late). */
  windows: number;
  /** Of those, windows of already compacted minutes, added straight to the resolution tables. */
  late: number;
  compaction: CompactResult;
}

export interface CompactResult {
  steps: number;
  /** 1 s staging rows moved. */
  rows: number;
  /** No compaction is due any more (until time passes). */
  done: boolean;
}

export interface PruneResult {
  deleted: number;
  /** Every table of every series was visited: call again later, not now. */
  done: boolean;
}

/** One series' counts of one 1 s window since the last write (recycled after each write). */
interface Delta {
  t: number;
  requests: number;
  http5xx: number;
  http4xx: number;
  connect: number;
  timeout: number;
  retries: number;
  /**
   * The edges' latency sketches: the head of a chain of their blobs in the history's arena
   * (NO_CHAIN while none), merged when written. (Not an array of each edge's Buffer: those were
   * most of what a window kept, and scavenges copied them until the write.)
   */
  head: number;
}

/**
 * A series the writer has stored or seen: kept from one write to the next (only its windows are
 * emptied), so ingest allocates nothing per series and second once a mesh has been seen.
 */
interface PendingSeries {
  kind: SeriesKind;
  a: string;
  b: string;
  /**
   * Windows since the last write, the first `size` of the list (usually one or two: a list beats a
   * Map). Counted, not emptied: an array emptied gives up its storage, and grew a new one after
   * each write.
   */
  windows: Array<Delta | null>;
  size: number;
  /** Listed in `dirty` (has windows to write). */
  dirty: boolean;
  /** Its row in telemetry_series once written, NOT_STORED before. */
  id: number;
  /** telemetry_series.last_seen as written (s). */
  lastSeen: number;
  /**
   * An edge's: the series of its callee service, and of the callee instance it reported last
   * (an edge mostly reports the same ones), so that ingest finds them without keyed lookups.
   * Cleared whenever series are forgotten.
   */
  callee: PendingSeries | null;
  calleeInstance: PendingSeries | null;
}

const MINUTE = 60;
/** PendingSeries.id of a series not in telemetry_series yet (its ids start at 1). */
const NOT_STORED = 0;
/** Bytes of the sketch arena to start with (a second of a 30 000-edge mesh takes about 3 MB). */
const ARENA_BYTES = 64 * 1024;
/** telemetry_series.last_seen is advanced only when it moves by more than this (s). */
const LAST_SEEN_STEP = 3600;
const NO_UPPER = Number.MAX_SAFE_INTEGER;
/** Deltas kept for reuse at most (about a second of a 100 000-series mesh). */
const MAX_SPARE_DELTAS = 100_000;

/** The counters of a TelemetryHistory, all zero. */
export function historyStats() {
  return {
    batches: 0,
    droppedFuture: 0,
    droppedOld: 0,
    writes: 0,
    /** flush() calls that wrote nothing, too soon after the last write. */
    throttled: 0,
    windowsWritten: 0,
    lateWindows: 0,
    compactionSteps: 0,
    compactedRows: 0,
    prunedRows: 0,
    seriesForgotten: 0,
  };
}

export class TelemetryHistory {
  readonly store: HistoryStore;
  readonly mesh: string;
  readonly retention: Retention;
  readonly stats = historyStats();
  private readonly graceSec: number;
  private readonly minFlushIntervalMs: number;
  private readonly seriesPerStep: number;
  private readonly stepsPerFlush: number;
  private readonly maxStepsPerFlush: number;
  private readonly maxFutureMs: number;
  private readonly now: () => number;
  /**
   * Every series stored or seen since start (until forgotten), by kind, then a, then b: looked up
   * without building a key string (keys were a third of the strings the worker thread kept).
   */
  private readonly pendingByKind: Record<SeriesKind, Map<string, Map<string, PendingSeries>>> = { edge: new Map(), service: new Map(), instance: new Map() };
  /** The series among them with windows to write. */
  private dirty: PendingSeries[] = [];
  /** Deltas of written windows, for reuse. */
  private readonly spare: Delta[] = [];
  /** Ids of this mesh's series, ascending (AUTOINCREMENT: new ones are always larger). */
  private ids: number[] = [];
  private through: number;
  private cursor: number;
  private anchor: StreamOffset | null = null;
  private ingestedSinceAnchor = false;
  private persistedOffset: number | null = null;
  private lastFlushAt = Number.NEGATIVE_INFINITY;
  /** The newest window ingested (s) and when it was (the receivedAt given, ms): compactionHorizon(). */
  private newestWindowSec = Number.NEGATIVE_INFINITY;
  private lastIngestAt = Number.NEGATIVE_INFINITY;
  private pruneAt = { resolution: 0, index: 0 };
  /** A statement's worth of staging rows (write()). */
  private readonly recentRows: unknown[] = new Array<unknown>(RECENT_ROWS_PER_STATEMENT * RECENT_COLUMNS).fill(null);
  private readonly acc10 = new DenseSketch();
  private readonly acc1m = new DenseSketch();
  /** The latency blobs of the windows not written yet, copied in at ingest; emptied by each write. */
  private readonly arena = new SketchArena(ARENA_BYTES);
  /** One edge of a batch given as objects, in the form ingestEdge() takes. */
  private readonly edgeScratch = scannedEdge();

  constructor(options: TelemetryHistoryOptions) {
    this.store = new HistoryStore(options.db);
    this.mesh = options.mesh;
    this.retention = resolveRetention(options.retention);
    this.graceSec = Math.ceil((options.graceMs ?? 10_000) / 1000);
    this.minFlushIntervalMs = options.minFlushIntervalMs ?? 1000;
    this.seriesPerStep = Math.max(1, options.compactSeriesPerStep ?? 50);
    this.stepsPerFlush = Math.max(0, options.compactStepsPerFlush ?? 2);
    this.maxStepsPerFlush = Math.max(this.stepsPerFlush, options.maxCompactStepsPerFlush ?? 16);
    this.maxFutureMs = options.maxFutureMs ?? 600_000;
    this.now = options.now ?? Date.now;
    for (const s of this.store.seriesOf(this.mesh)) {
      const series = this.series(s.kind, s.a, s.b);
      series.id = s.id;
      series.lastSeen = s.lastSeen;
      this.ids.push(s.id);
    }
    const marks = this.store.marks(this.mesh);
    this.through = marks.through;
    this.cursor = marks.cursor;
  }

  /** The stored offset of `consumer` (default `telemetry:<mesh>`): resume the stream at offset + 1. */
  offset(consumer = telemetryConsumer(this.mesh)): number | null {
    return this.store.offset(consumer);
  }

  /** Series windows held in memory, not yet written. */
  get pendingWindows(): number {
    let n = 0;
    for (const p of this.dirty) n += p.size;
    return n;
  }

  /** Minutes before this (ms) are compacted into the resolution tables. */
  get compactedThrough(): number {
    return this.through * 1000;
  }

  // --- ingest ----------------------------------------------------------------------------------

  /**
   * Merges one batch into the 1 s window that contains its windowStart (a batch longer than 1 s
   * lands whole in its first second, as in LiveEdges). Edges follow LiveEdges' direction rules:
   * outbound edges are the caller's view; inbound edges count only when they come from
   * "external". Every edge also adds to the series of its callee service (all edges into it,
   * merged at ingest so a service query reads one series) and of its callee instance: the
   * outbound edge's peerInstance, or the reporting instance for inbound traffic from "external".
   * Each edge's latency sketch is encoded once, here, and its bytes copied into the sketch arena
   * for each series: nothing of the batch is kept.
   */
  ingest(batch: TelemetryBatch, receivedAt: number): void {
    if (!this.admit(batch.windowStart, receivedAt)) return;
    const t = Math.floor(batch.windowStart / 1000);
    const e = this.edgeScratch;
    for (const edge of batch.edges) {
      const blob = sketchBlobOf(edge.latency);
      e.inbound = edge.direction === 'inbound';
      e.peerService = edge.peerService;
      e.peerInstance = edge.peerInstance ?? null;
      e.requests = edge.requests;
      e.http5xx = edge.errors.http5xx;
      e.http4xx = edge.errors.http4xx;
      e.connect = edge.errors.connect;
      e.timeout = edge.errors.timeout;
      e.retries = edge.retries;
      this.ingestEdge(batch.service, batch.instanceId, t, e, blob, 0, blob.length);
    }
  }

  /**
   * ingest() for a binary body read in place by `scanner` (core/protocol/binary-telemetry.ts): no
   * object per batch or edge, the blobs copied from the body. Null, or why the body does not
   * follow the layout (then nothing of it is kept).
   */
  ingestBinary(body: Buffer, receivedAt: number, scanner: BinaryEdgeScanner): string | null {
    const reason = scanner.scan(body);
    if (reason !== null) return reason;
    if (!this.admit(scanner.windowStart, receivedAt)) return null;
    const t = Math.floor(scanner.windowStart / 1000);
    for (let i = 0; i < scanner.count; i++) {
      const e = scanner.edges[i]!;
      this.ingestEdge(scanner.service, scanner.instanceId, t, e, body, e.blobFrom, e.blobTo);
    }
    return null;
  }

  /** Counts a batch in, or as dropped when its window is too far ahead or older than every retention. */
  private admit(windowStart: number, receivedAt: number): boolean {
    if (windowStart > receivedAt + this.maxFutureMs) {
      this.stats.droppedFuture += 1;
      return false;
    }
    if (windowStart < receivedAt - this.retention['1m']) {
      this.stats.droppedOld += 1;
      return false;
    }
    this.stats.batches += 1;
    const t = Math.floor(windowStart / 1000);
    if (t > this.newestWindowSec) this.newestWindowSec = t;
    this.lastIngestAt = receivedAt;
    return true;
  }

  /** One edge of a batch from `service`'s `instanceId`, window second `t`; its latency blob is `blob`[from, to). */
  private ingestEdge(service: string, instanceId: string, t: number, edge: ScannedEdge, blob: Uint8Array, from: number, to: number): void {
    const outbound = !edge.inbound;
    if (!outbound && edge.peerService !== 'external') return;
    const callee = outbound ? edge.peerService : service;
    const series = this.series('edge', outbound ? service : 'external', callee);
    this.add(series, t, edge, blob, from, to);
    this.add((series.callee ??= this.series('service', '', callee)), t, edge, blob, from, to);
    const instance = outbound ? (edge.peerInstance && edge.peerService !== 'external' ? edge.peerInstance : null) : instanceId;
    if (instance === null) return;
    let into = series.calleeInstance;
    if (into?.b !== instance) series.calleeInstance = into = this.series('instance', callee, instance);
    this.add(into, t, edge, blob, from, to);
  }

  private series(kind: SeriesKind, a: string, b: string): PendingSeries {
    let byB = this.pendingByKind[kind].get(a);
    if (!byB) this.pendingByKind[kind].set(a, (byB = new Map()));
    let series = byB.get(b);
    if (!series) {
      series = { kind, a, b, windows: [], size: 0, dirty: false, id: NOT_STORED, lastSeen: 0, callee: null, calleeInstance: null };
      byB.set(b, series);
    }
    return series;
  }

  private add(series: PendingSeries, t: number, edge: ScannedEdge, blob: Uint8Array, blobFrom: number, blobTo: number): void {
    if (!series.dirty) {
      series.dirty = true;
      this.dirty.push(series);
    }
    const windows = series.windows;
    let d: Delta | null = null;
    for (let i = series.size - 1; i >= 0; i--) {
      if (windows[i]!.t === t) {
        d = windows[i]!;
        break;
      }
    }
    if (!d) {
      d = this.spare.pop() ?? { t, requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0, head: NO_CHAIN };
      d.t = t;
      // A series mostly holds one or two windows between writes: room for two, not the 17 slots
      // (152 bytes) an array grown from empty reserves, for each of a mesh's 41 000 series.
      if (windows.length === 0) series.windows = [d, null];
      else windows[series.size] = d;
      series.size += 1;
    }
    d.requests += edge.requests;
    d.http5xx += edge.http5xx;
    d.http4xx += edge.http4xx;
    d.connect += edge.connect;
    d.timeout += edge.timeout;
    d.retries += edge.retries;
    d.head = this.arena.add(d.head, blob, blobFrom, blobTo);
    this.ingestedSinceAnchor = true;
  }

  // --- flush -----------------------------------------------------------------------------------

  /**
   * Persists everything ingested so far, with `offset` in the same transaction.
   *
   * `offset`, when given, must be the offset of the last message passed to ingest() (the stream
   * consumer's onBatch(lastOffset) is exactly that). Without it, the last offset given is used —
   * so once a stream offset has been given, a flush() without one writes only if nothing was
   * ingested since (`skipped: 'unanchored'` otherwise): writing those windows under the older
   * offset would count them twice after a crash.
   *
   * Writes at most every `minFlushIntervalMs` unless `force`; a skipped flush keeps everything
   * in memory (and the stored offset where it was), which is always safe.
   */
  flush(offset?: StreamOffset, options: { force?: boolean; now?: number } = {}): FlushResult {
    const now = options.now ?? this.now();
    const idle: CompactResult = { steps: 0, rows: 0, done: false };
    if (offset) {
      this.anchor = { ...offset };
      this.ingestedSinceAnchor = false;
    } else if (this.anchor && this.ingestedSinceAnchor) {
      return { written: false, skipped: 'unanchored', windows: 0, late: 0, compaction: idle };
    }
    if (!options.force && now - this.lastFlushAt < this.minFlushIntervalMs) {
      this.stats.throttled += 1;
      return { written: false, skipped: 'throttled', retryInMs: this.lastFlushAt + this.minFlushIntervalMs - now, windows: 0, late: 0, compaction: idle };
    }
    const sinceLast = now - this.lastFlushAt;
    this.lastFlushAt = now;
    const { written, windows, late } = this.write(now);
    const compaction = this.compact(now, this.compactionSteps(sinceLast, now));
    return { written, windows, late, compaction };
  }

  /**
   * Compaction steps for a flush `sinceLastMs` after the previous one: enough for every series'
   * slice of a minute per minute (with half again as margin), all of maxStepsPerFlush while
   * compaction trails by more than a minute; never fewer than stepsPerFlush nor more than
   * maxStepsPerFlush, so a flush's work stays bounded whatever the mesh's size.
   */
  compactionSteps(sinceLastMs: number, now = this.now()): number {
    if (this.stepsPerFlush === 0) return 0;
    const lastDue = Math.floor((this.compactionHorizon(Math.floor(now / 1000)) - this.graceSec) / MINUTE) * MINUTE;
    if (this.through < lastDue - MINUTE && this.through > 0) return this.maxStepsPerFlush;
    const slices = Math.ceil(this.ids.length / this.seriesPerStep) + 1;
    const span = Number.isFinite(sinceLastMs) ? Math.max(0, sinceLastMs) : this.minFlushIntervalMs;
    const keepUp = Math.ceil((1.5 * slices * span) / 60_000);
    return Math.min(this.maxStepsPerFlush, Math.max(this.stepsPerFlush, keepUp));
  }

  private write(now: number): { written: boolean; windows: number; late: number } {
    const anchor = this.anchor;
    const offsetMoved = anchor !== null && anchor.offset !== this.persistedOffset;
    if (this.dirty.length === 0 && !offsetMoved) return { written: false, windows: 0, late: 0 };
    const nowSec = Math.floor(now / 1000);
    const created: Array<[PendingSeries, number, number]> = [];
    const touched: Array<[PendingSeries, number]> = [];
    let windows = 0;
    let late = 0;
    // Staging rows go out a statement's worth at a time (RECENT_ROWS_PER_STATEMENT) from one
    // array, refilled: not one array of every row of the write, sliced.
    const recent = this.recentRows;
    let filled = 0;
    this.store.transaction(() => {
      for (let k = 0; k < this.dirty.length; k++) {
        const p = this.dirty[k]!;
        let first = Infinity;
        let last = -Infinity;
        for (let i = 0; i < p.size; i++) {
          const t = p.windows[i]!.t;
          if (t < first) first = t;
          if (t > last) last = t;
        }
        let id = p.id;
        if (id !== NOT_STORED) {
          if (last > p.lastSeen + LAST_SEEN_STEP) {
            this.store.touchSeries(id, last);
            touched.push([p, last]);
          }
        } else {
          id = this.store.insertSeries(this.mesh, p.kind, p.a, p.b, first, last);
          created.push([p, id, last]);
        }
        for (let i = 0; i < p.size; i++) {
          const d = p.windows[i]!;
          const t = d.t;
          if (this.isCompacted(id, t)) {
            const row: WindowRow = { t, requests: d.requests, http5xx: d.http5xx, http4xx: d.http4xx, connect: d.connect, timeout: d.timeout, retries: d.retries, sketch: this.encodeDelta(d) };
            this.addToResolutions(id, row, nowSec);
            late++;
          } else {
            recent[filled++] = this.mesh;
            recent[filled++] = t;
            recent[filled++] = id;
            recent[filled++] = d.requests;
            recent[filled++] = d.http5xx;
            recent[filled++] = d.http4xx;
            recent[filled++] = d.connect;
            recent[filled++] = d.timeout;
            recent[filled++] = d.retries;
            recent[filled++] = this.encodeDelta(d);
            if (filled === recent.length) {
              this.store.addRecentMany(recent);
              filled = 0;
            }
          }
          windows++;
        }
      }
      if (filled > 0) this.store.addRecentMany(recent.slice(0, filled));
      recent.fill(null);
      if (anchor && offsetMoved) this.store.putOffset(anchor.consumer, anchor.stream, anchor.offset, now);
    });
    // Committed: only now may memory reflect it (a failed transaction leaves the deltas for the next try).
    for (const [p, id, lastSeen] of created) {
      p.id = id;
      p.lastSeen = lastSeen;
      this.ids.push(id);
    }
    for (const [p, lastSeen] of touched) p.lastSeen = lastSeen;
    for (const p of this.dirty) {
      for (let i = 0; i < p.size; i++) {
        const d = p.windows[i]!;
        p.windows[i] = null;
        d.requests = d.http5xx = d.http4xx = d.connect = d.timeout = d.retries = 0;
        d.head = NO_CHAIN;
        if (this.spare.length < MAX_SPARE_DELTAS) this.spare.push(d);
      }
      p.size = 0;
      p.dirty = false;
    }
    this.dirty = [];
    this.arena.reset();
    if (anchor) this.persistedOffset = anchor.offset;
    this.stats.writes += 1;
    this.stats.windowsWritten += windows;
    this.stats.lateWindows += late;
    return { written: true, windows, late };
  }

  /** The window's sketch: its blobs merged (a window has at least one). */
  private encodeDelta(d: Delta): Uint8Array {
    return this.arena.blob(d.head)!;
  }

  /** Whether (series, t) lies in an already compacted minute: then it no longer goes to staging. */
  private isCompacted(id: number, t: number): boolean {
    return t < this.through || (t < this.through + MINUTE && id < this.cursor);
  }

  /** Adds a 1 s window to the 1 s row and to its 10 s and 1 min rollups, each within its retention. */
  private addToResolutions(id: number, row: WindowRow, nowSec: number): void {
    if (this.keeps('1s', row.t, nowSec)) this.store.addWindow('1s', id, row);
    if (this.keeps('10s', row.t, nowSec)) this.store.addWindow('10s', id, { ...row, t: row.t - (row.t % 10) });
    if (this.keeps('1m', row.t, nowSec)) this.store.addWindow('1m', id, { ...row, t: row.t - (row.t % MINUTE) });
  }

  private keeps(resolution: Resolution, t: number, nowSec: number): boolean {
    return t >= nowSec - this.retention[resolution] / 1000;
  }

  // --- compaction ------------------------------------------------------------------------------

  /**
   * The time (s) up to which minutes may be compacted: the clock, except while batches are coming
   * in (one ingested within the grace) — then the newest window ingested, never past the clock.
   * A core working through a backlog (a console that was away, or one that fell behind) so
   * compacts a minute only once the stream has moved past it. By the clock alone it compacted
   * minutes whose windows were still to come, and each of those took the late path (three
   * series-major upserts instead of one staging row), slowing down the catching up itself.
   */
  private compactionHorizon(nowSec: number): number {
    if (this.lastIngestAt < (nowSec - this.graceSec) * 1000) return nowSec;
    return Math.min(nowSec, this.newestWindowSec + 1);
  }

  /** Runs up to `maxSteps` compaction transactions that are due at `now`. */
  compact(now = this.now(), maxSteps = Infinity): CompactResult {
    const nowSec = Math.floor(now / 1000);
    const result: CompactResult = { steps: 0, rows: 0, done: false };
    while (result.steps < maxSteps) {
      const rows = this.compactStep(nowSec);
      if (rows === null) {
        result.done = true;
        break;
      }
      result.steps += 1;
      result.rows += rows;
    }
    return result;
  }

  /** One slice of series of the oldest due minute; null when no minute is due. */
  private compactStep(nowSec: number): number | null {
    // Minute M is due when M + 60 + grace ≤ the horizon (now, unless a backlog is coming in), i.e. M < lastDue.
    const lastDue = Math.floor((this.compactionHorizon(nowSec) - this.graceSec) / MINUTE) * MINUTE;
    let through = this.through;
    if (this.cursor === 0) {
      // Skip minutes without staged data (staging never holds a window before `through`).
      const lo = this.store.recentMin(this.mesh);
      const target = Math.min(lastDue, lo === null ? lastDue : lo - (lo % MINUTE));
      if (target > through) through = target;
    }
    if (through >= lastDue) {
      if (through !== this.through) {
        this.store.putMarks(this.mesh, through, 0);
        this.through = through;
      }
      return null;
    }
    const lo = this.cursor;
    const startIndex = lowerBound(this.ids, lo);
    const endIndex = startIndex + this.seriesPerStep;
    const hi = endIndex < this.ids.length ? this.ids[endIndex]! : NO_UPPER;
    const next = hi === NO_UPPER ? { through: through + MINUTE, cursor: 0 } : { through, cursor: hi };
    const moved = this.store.transaction(() => {
      const rows = this.store.recentSlice(this.mesh, through, through + MINUTE, lo, hi);
      if (rows.length > 0) {
        // The 1 s rows move as they are, inside SQLite; the rollups need the sketches in JavaScript.
        if (this.keeps('1s', through, nowSec)) this.store.moveRecentSliceTo1s(this.mesh, through, through + MINUTE, lo, hi);
        const bySeries = new Map<number, RawSeriesWindow[]>();
        for (const row of rows) {
          let list = bySeries.get(row[0]);
          if (!list) bySeries.set(row[0], (list = []));
          list.push(row);
        }
        for (const [id, list] of bySeries) this.compactSeries(id, list, nowSec);
        this.store.deleteRecentSlice(this.mesh, through, through + MINUTE, lo, hi);
      }
      this.store.putMarks(this.mesh, next.through, next.cursor);
      return rows.length;
    });
    this.through = next.through;
    this.cursor = next.cursor;
    this.stats.compactionSteps += 1;
    this.stats.compactedRows += moved;
    return moved;
  }

  /** The 10 s and 1 min rollups of one series' windows of one minute (ascending t). */
  private compactSeries(id: number, rows: RawSeriesWindow[], nowSec: number): void {
    const keep10s = rows.length > 0 && this.keeps('10s', rows[0]![1], nowSec);
    const keep1m = rows.length > 0 && this.keeps('1m', rows[0]![1], nowSec);
    const minute = totals();
    const tenth = totals();
    this.acc1m.reset();
    this.acc10.reset();
    let current10 = -1;
    const emit10 = () => {
      if (current10 >= 0 && keep10s) this.store.addWindow('10s', id, { t: current10, ...tenth, sketch: this.acc10.toBlob() });
    };
    for (const [, t, requests, http5xx, http4xx, connect, timeout, retries, sketch] of rows) {
      const t10 = t - (t % 10);
      if (t10 !== current10) {
        emit10();
        current10 = t10;
        Object.assign(tenth, totals());
        this.acc10.reset();
      }
      for (const sum of [tenth, minute]) {
        sum.requests += requests;
        sum.http5xx += http5xx;
        sum.http4xx += http4xx;
        sum.connect += connect;
        sum.timeout += timeout;
        sum.retries += retries;
      }
      // Rollup sketches are bucket-by-bucket merges of the 1 s sketches (never averaged percentiles).
      this.acc10.addBlob(sketch);
      this.acc1m.addBlob(sketch);
    }
    emit10();
    if (keep1m && rows.length > 0) {
      const t = rows[0]![1] - (rows[0]![1] % MINUTE);
      this.store.addWindow('1m', id, { t, ...minute, sketch: this.acc1m.toBlob() });
    }
  }

  // --- retention -------------------------------------------------------------------------------

  /**
   * Deletes windows older than each resolution's retention: at most about `maxRows` rows per
   * call (one transaction), resuming where the previous call stopped. When a full pass is done,
   * series without any window left are forgotten. Call it every few seconds until `done`, then
   * again after a while (e.g. every minute).
   */
  prune(now = this.now(), options: { maxRows?: number } = {}): PruneResult {
    const budget = Math.max(1, options.maxRows ?? 5000);
    const nowSec = Math.floor(now / 1000);
    const cutoff = (r: Resolution) => nowSec - Math.floor(this.retention[r] / 1000);
    let deleted = 0;
    let done = false;
    let forgotten: PendingSeries[] = [];
    this.store.transaction(() => {
      let used = 0;
      while (this.pruneAt.resolution < RESOLUTIONS.length) {
        const resolution = RESOLUTIONS[this.pruneAt.resolution]!;
        while (this.pruneAt.index < this.ids.length) {
          const allowance = Math.floor(budget - used);
          if (allowance <= 0) return;
          const n = this.store.pruneSeries(resolution, this.ids[this.pruneAt.index]!, cutoff(resolution), allowance);
          deleted += n;
          used += n + 0.25; // a statement that deletes nothing still costs a little
          if (n < allowance) this.pruneAt.index += 1;
        }
        this.pruneAt = { resolution: this.pruneAt.resolution + 1, index: 0 };
      }
      forgotten = this.forgetDeadSeries(nowSec);
      done = true;
    });
    if (done) {
      this.pruneAt = { resolution: 0, index: 0 };
      if (forgotten.length) {
        const gone = new Set<number>();
        for (const p of forgotten) {
          gone.add(p.id);
          const byB = this.pendingByKind[p.kind].get(p.a)!;
          byB.delete(p.b);
          if (byB.size === 0) this.pendingByKind[p.kind].delete(p.a);
        }
        // An edge may point at a forgotten service or instance series: found again by name.
        for (const p of this.allSeries()) p.callee = p.calleeInstance = null;
        this.ids = this.ids.filter((id) => !gone.has(id));
        this.stats.seriesForgotten += forgotten.length;
      }
    }
    this.stats.prunedRows += deleted;
    return { deleted, done };
  }

  /** Series whose last window is older than the longest retention (and than any staged window). */
  private forgetDeadSeries(nowSec: number): PendingSeries[] {
    const horizon = Math.min(nowSec - Math.floor(this.retention['1m'] / 1000), this.through);
    const dead: PendingSeries[] = [];
    for (const s of this.allSeries()) {
      if (s.id !== NOT_STORED && s.lastSeen + LAST_SEEN_STEP < horizon && !s.dirty) {
        this.store.deleteSeries(s.id);
        dead.push(s);
      }
    }
    return dead;
  }

  private *allSeries(): Generator<PendingSeries> {
    for (const byA of Object.values(this.pendingByKind)) for (const byB of byA.values()) yield* byB.values();
  }
}

function totals() {
  return { requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0 };
}

/** First index i with sorted[i] ≥ value. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
