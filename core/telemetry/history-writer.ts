/**
 * Who writes the telemetry history: the core's main thread itself (`InlineHistoryWriter`), or a
 * worker thread with its own SQLite connection to the same file (`WorkerHistoryWriter`,
 * history-worker.ts), so that the history's decoding, aggregation and SQLite writes — about a
 * third of the ingest path's CPU — run beside the transport and the live views instead of after
 * them.
 *
 * Both keep the same contract with the stream consumer (README.md, "Crash safety"): every batch
 * handed to ingest() before commit(offset) is written in one transaction with that offset, so the
 * stored offset always covers exactly what the database holds. The runtime:
 *
 *   start()                      the session's consumer is about to run (throttled writes are retried)
 *   ingest(batch, body, at)      every batch the live views took (duplicates already dropped)
 *   commit(offset)               the consumer's onBatch(lastOffset)
 *   housekeep() / prune()        the runtime's timers
 *   drain()                      after the consumer stopped: everything written, with its last offset
 *   close()                      the core closes
 */
import { Worker } from 'node:worker_threads';
import { HISTORY_WORKER_YOUNG_MB } from '../lib/heap.js';
import type { Logger } from '../lib/log.js';
import { BinaryEdgeScanner } from '../protocol/binary-telemetry.js';
import type { TelemetryBatch } from '../protocol/messages.js';
import type { Db } from '../store/database.js';
import { TelemetryHistory, historyStats, type FlushResult, type StreamOffset, type TelemetryHistoryOptions } from './history.js';
import { HistoryStore } from './history-store.js';
import { telemetryConsumer } from './resolutions.js';

export type HistoryStats = ReturnType<typeof historyStats>;

/** One history write (a transaction with the stream offset) and the compaction that followed it. */
export interface HistoryWrite {
  ms: number;
  windows: number;
  late: number;
  compactedRows: number;
  /** The stream offset stored with it (null: none given yet). */
  offset: number | null;
}

/** Told of every background database write: what failed, or that one went through. */
export interface StoreWrites {
  failed(err: unknown, operation: string): void;
  succeeded(): void;
}

export interface HistoryWriterOptions {
  db: Db;
  mesh: string;
  logger: Logger;
  storeWrites?: StoreWrites;
  now?: () => number;
  /** TelemetryHistory settings (retention, compaction, …). */
  history?: Omit<TelemetryHistoryOptions, 'db' | 'mesh' | 'now'>;
}

export interface HistoryWriter {
  readonly kind: 'inline' | 'worker';
  /** The stored stream offset: the stream resumes after it (null: nothing stored). */
  offset(): number | null;
  /** Counters of the history (for the worker: as of its last report). */
  readonly stats: HistoryStats;
  /** Series windows held in memory, not yet written (for the worker: as of its last report). */
  readonly pendingWindows: number;
  /** Minutes before this (ms) are compacted into the resolution tables (worker: last report). */
  readonly compactedThrough: number;
  /** The worker thread's V8 heap as of its last report (null inline, where it is the main thread's). */
  readonly threadHeap: ThreadHeap | null;
  /** Bytes of message bodies handed to the worker thread and not yet taken by it (0 inline). */
  readonly backlogBytes: number;
  /**
   * The worker thread trails by more than its backlog limit: the stream consumer holds its acks
   * (the broker stops delivering at the prefetch) until `onRoom` listeners are told. Never inline.
   */
  readonly backlogged: boolean;
  /** Listens for the backlog falling back to half its limit after `backlogged` was seen true. */
  onRoom(listener: () => void): () => void;
  /** Times `backlogged` held the stream since start (0 inline). */
  readonly holds: number;
  start(): void;
  /**
   * A batch the live views took, with its message body as the transport gave it: bytes, or for
   * a publisher that labelled it `application/json` or `text/plain`, the parsed value or text
   * (rabbitmq-client decodes those).
   */
  ingest(batch: TelemetryBatch, body: unknown, receivedAt: number): void;
  commit(offset: StreamOffset): void;
  housekeep(): void;
  prune(): void;
  drain(): Promise<void>;
  close(): Promise<void>;
  /** Listens to every write that went through (benchmarks, diagnostics). */
  onWrite(listener: (write: HistoryWrite) => void): () => void;
}

/**
 * Page cache of the history worker's connection (KiB). Its writes go to the staging table's end
 * and compaction reads back the minute it just wrote, so a few MB hold what it touches again;
 * better-sqlite3's default of 16 000 KiB was filled within minutes and kept, as native memory
 * beside the heaps. `bench:ingest-hotpath`: no difference in the history's write time beyond the
 * runs' spread (docs/benchmarks.md, 2026-11-30).
 */
export const HISTORY_WORKER_CACHE_KIB = 2048;

/** Prune calls per prune(): each deletes at most about 5 000 rows. */
const PRUNE_CALLS = 20;

/** The history written on the calling thread. The worker thread runs one of these too. */
export class InlineHistoryWriter implements HistoryWriter {
  readonly kind = 'inline';
  readonly history: TelemetryHistory;
  private readonly listeners = new Set<(write: HistoryWrite) => void>();
  private readonly logger: Logger;
  private retry: NodeJS.Timeout | null = null;
  private running = false;
  private readonly scanner = new BinaryEdgeScanner();

  constructor(private readonly options: HistoryWriterOptions) {
    this.logger = options.logger;
    this.history = new TelemetryHistory({ ...options.history, db: options.db, mesh: options.mesh, ...(options.now ? { now: options.now } : {}) });
  }

  get stats(): HistoryStats {
    return this.history.stats;
  }

  get pendingWindows(): number {
    return this.history.pendingWindows;
  }

  get compactedThrough(): number {
    return this.history.compactedThrough;
  }

  readonly threadHeap = null;
  readonly backlogBytes = 0;
  readonly backlogged = false;
  readonly holds = 0;

  onRoom(): () => void {
    return () => undefined;
  }

  offset(): number | null {
    return this.history.offset();
  }

  start(): void {
    this.running = true;
  }

  ingest(batch: TelemetryBatch, _body: unknown, receivedAt: number): void {
    this.history.ingest(batch, receivedAt);
  }

  /** A binary body read in place (TelemetryHistory.ingestBinary): null, or why it does not follow the layout. */
  ingestBinary(body: Buffer, receivedAt: number): string | null {
    return this.history.ingestBinary(body, receivedAt, this.scanner);
  }

  commit(offset: StreamOffset): void {
    this.flush(offset);
  }

  housekeep(): void {
    this.flush(); // writes what nothing else wrote (no stream batch came since)
  }

  prune(): void {
    try {
      for (let i = 0; i < PRUNE_CALLS && !this.history.prune().done; i++);
    } catch (err) {
      this.logger.error('telemetry retention could not prune', { err });
    }
  }

  async drain(): Promise<void> {
    this.running = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.flush(undefined, true);
  }

  async close(): Promise<void> {
    await this.drain();
  }

  onWrite(listener: (write: HistoryWrite) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes the history; a failed write is logged and retried with the next batch. */
  private flush(offset?: StreamOffset, force = false): void {
    try {
      const started = performance.now();
      const result: FlushResult = this.history.flush(offset, force ? { force: true } : {});
      if (result.written) {
        this.options.storeWrites?.succeeded();
        const write: HistoryWrite = { ms: performance.now() - started, windows: result.windows, late: result.late, compactedRows: result.compaction.rows, offset: offset?.offset ?? null };
        for (const listener of this.listeners) listener(write);
      }
      // Too soon after the last write: write again as soon as allowed, so the stored offset
      // reaches the last message within the interval once the stream goes quiet (not at the next
      // housekeeping tick). The write then has the offset of the last batch; if more came
      // meanwhile, their own commit wrote or scheduled again.
      if (result.skipped === 'throttled' && !this.retry && this.running) {
        this.retry = setTimeout(() => {
          this.retry = null;
          this.flush();
        }, result.retryInMs ?? 0);
        this.retry.unref();
      }
    } catch (err) {
      this.logger.error('telemetry history not saved; retrying with the next batch', { err });
      this.options.storeWrites?.failed(err, 'telemetry history');
    }
  }
}

// --- the worker thread ---------------------------------------------------------------------------

/** What the worker thread is started with (history-worker.ts). */
export interface HistoryWorkerData {
  dbPath: string;
  mesh: string;
  history?: HistoryWriterOptions['history'];
}

/** Main thread → worker. */
export type ToHistoryWorker =
  | { type: 'start' }
  /** Bodies back to back in `bodies` (ends[i] is where body i ends), then commit(offset) if given. */
  | { type: 'batches'; bodies: ArrayBuffer; ends: Uint32Array; receivedAt: Float64Array; offset: StreamOffset | null }
  | { type: 'housekeep' }
  | { type: 'prune' }
  | { type: 'drain'; id: number }
  | { type: 'close' };

/** A thrown error as it crosses threads: enough for logs and explainStoreError (code). */
export interface ErrorShape {
  name: string;
  message: string;
  code?: string;
}

/** A thread's V8 heap (bytes): in use, committed, and memory outside it its objects hold (array buffers, …). */
export interface ThreadHeap {
  used: number;
  committed: number;
  external: number;
}

export interface WorkerReport {
  stats: HistoryStats;
  pendingWindows: number;
  compactedThrough: number;
  /** The worker thread's heap when it reported (null: not known yet). */
  heap: ThreadHeap | null;
}

/** Worker → main thread. */
export type FromHistoryWorker =
  | ({ type: 'ready' } & WorkerReport)
  | ({ type: 'write'; write: HistoryWrite } & WorkerReport)
  /** A `batches` message was taken: its bodies' bytes. */
  | { type: 'took'; bytes: number }
  | { type: 'succeeded' }
  | { type: 'failed'; error: ErrorShape; operation: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> }
  | ({ type: 'drained'; id: number } & WorkerReport);

export const errorShape = (err: unknown): ErrorShape => {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as Error & { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
};

const errorOf = (shape: ErrorShape): Error => Object.assign(new Error(shape.message), { name: shape.name, ...(shape.code ? { code: shape.code } : {}) });

/** First size of the buffer the bodies of one commit are copied into (grows as needed). */
const CHUNK_BYTES = 1 << 20;

/**
 * Bodies' bytes the worker thread may trail by before the stream is held (WorkerHistoryWriter
 * `backlogged`). At the goals' full size (10 000 binary batches a second of ~220 bytes) this is
 * about 8 s of telemetry; without a limit a worker slower than the stream (a slow disk, a
 * backfill read faster than SQLite writes) queued every body in memory until the process ran out.
 */
export const HISTORY_BACKLOG_BYTES = 16 << 20;

/** The stream held by a trailing worker is logged at most this often (ms), with how many times it was held since. */
const HOLD_LOG_INTERVAL_MS = 60_000;

/**
 * The history written by a worker thread (history-worker.ts, built next to the host's entry).
 * Bodies are copied as they arrive into one growing buffer; a commit hands what it holds over
 * with the commit's offset (copied once into a buffer of its size, which is transferred, not
 * cloned); the worker reads them again (history-worker.ts) and does what the inline writer does. Counters and the compaction mark come back with every write.
 *
 * If the worker dies (a bug, out of memory), the windows it held in memory are lost — a gap in the
 * history between the offset it last stored and the next write, logged with both offsets — and
 * the history is written inline from then on.
 */
export class WorkerHistoryWriter implements HistoryWriter {
  readonly kind = 'worker';
  private reported: WorkerReport = { stats: historyStats(), pendingWindows: 0, compactedThrough: 0, heap: null };
  private readonly worker: Worker;
  private readonly store: HistoryStore;
  private readonly consumer: string;
  private readonly listeners = new Set<(write: HistoryWrite) => void>();
  private readonly logger: Logger;
  private readonly ready: Promise<void>;
  private fallback: InlineHistoryWriter | null = null;
  private exited = false;
  private closing = false;
  private chunk = new Uint8Array(CHUNK_BYTES);
  private used = 0;
  private ends: number[] = [];
  private received: number[] = [];
  private nextDrain = 1;
  private readonly drains = new Map<number, () => void>();
  /** The last offset handed over (logged with the gap if the worker dies). */
  private lastCommitted: number | null = null;
  private queued = 0;
  private readonly backlogLimit: number;
  /** `backlogged` was read true since the backlog was last at half its limit. */
  private holding = false;
  private held = 0;
  /** Holds since the last log line about them, and when that was (ms). */
  private heldUnlogged = 0;
  private heldLoggedAt = Number.NEGATIVE_INFINITY;
  private readonly roomListeners = new Set<() => void>();

  constructor(
    private readonly options: HistoryWriterOptions & {
      script: string | URL;
      /** Bodies' bytes the worker may trail by before `backlogged` (default HISTORY_BACKLOG_BYTES). */
      backlogBytes?: number;
    },
  ) {
    this.backlogLimit = options.backlogBytes ?? HISTORY_BACKLOG_BYTES;
    this.logger = options.logger;
    this.store = new HistoryStore(options.db);
    this.consumer = telemetryConsumer(options.mesh);
    // Until the worker's first report: the compaction mark as stored.
    this.reported.compactedThrough = this.store.marks(options.mesh).through * 1000;
    const data: HistoryWorkerData = { dbPath: options.db.name, mesh: options.mesh, ...(options.history ? { history: options.history } : {}) };
    // A capped young generation: the worker's garbage is collected sooner, for memory (core/lib/heap.ts).
    this.worker = new Worker(options.script, { workerData: data, name: `meshdeck-history-${options.mesh}`, resourceLimits: { maxYoungGenerationSizeMb: HISTORY_WORKER_YOUNG_MB } });
    let resolveReady!: () => void;
    this.ready = new Promise((resolve) => (resolveReady = resolve));
    this.worker.on('message', (message: FromHistoryWorker) => {
      if (message.type === 'ready') resolveReady();
      this.onMessage(message);
    });
    this.worker.on('error', (err) => this.died(err));
    this.worker.on('exit', (code) => {
      resolveReady();
      if (!this.closing || code !== 0) this.died(new Error(`telemetry history worker exited with code ${code}`));
      this.exited = true;
      for (const resolve of this.drains.values()) resolve();
      this.drains.clear();
    });
  }

  offset(): number | null {
    return this.fallback ? this.fallback.offset() : this.store.offset(this.consumer);
  }

  /** As of the worker's last report (after it died: the inline history's, from zero). */
  get stats(): HistoryStats {
    return this.fallback ? this.fallback.stats : this.reported.stats;
  }

  get pendingWindows(): number {
    return this.fallback ? this.fallback.pendingWindows : this.reported.pendingWindows;
  }

  get compactedThrough(): number {
    return this.fallback ? this.fallback.compactedThrough : this.reported.compactedThrough;
  }

  get threadHeap(): ThreadHeap | null {
    return this.fallback ? null : this.reported.heap;
  }

  get backlogBytes(): number {
    return this.fallback ? 0 : this.queued;
  }

  get backlogged(): boolean {
    if (this.fallback || this.queued <= this.backlogLimit) return false;
    if (!this.holding) {
      this.holding = true;
      this.held += 1;
      this.heldUnlogged += 1;
      // Once a minute at most: a worker that trails for long holds the stream every few seconds.
      const now = Date.now();
      if (now - this.heldLoggedAt >= HOLD_LOG_INTERVAL_MS) {
        this.logger.warn('telemetry history behind: the stream is held until its worker thread catches up', { mesh: this.options.mesh, backlogBytes: this.queued, limitBytes: this.backlogLimit, holds: this.heldUnlogged });
        this.heldLoggedAt = now;
        this.heldUnlogged = 0;
      }
    }
    return true;
  }

  get holds(): number {
    return this.held;
  }

  onRoom(listener: () => void): () => void {
    this.roomListeners.add(listener);
    return () => this.roomListeners.delete(listener);
  }

  /** Resolves once the worker has opened the database (or could not). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  start(): void {
    if (this.fallback) return this.fallback.start();
    this.post({ type: 'start' });
  }

  ingest(batch: TelemetryBatch, raw: unknown, receivedAt: number): void {
    if (this.fallback) return this.fallback.ingest(batch, raw, receivedAt);
    // The worker decodes bytes: a body the transport parsed (JSON) or decoded (text) goes as text.
    const body = raw instanceof Uint8Array ? raw : Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw));
    if (this.used + body.length > this.chunk.length) {
      const grown = new Uint8Array(Math.max(this.chunk.length * 2, this.used + body.length));
      grown.set(this.chunk.subarray(0, this.used));
      this.chunk = grown;
    }
    this.chunk.set(body, this.used);
    this.used += body.length;
    this.ends.push(this.used);
    this.received.push(receivedAt);
  }

  commit(offset: StreamOffset): void {
    if (this.fallback) return this.fallback.commit(offset);
    this.send(offset);
    this.lastCommitted = offset.offset;
  }

  housekeep(): void {
    if (this.fallback) return this.fallback.housekeep();
    this.post({ type: 'housekeep' });
  }

  prune(): void {
    if (this.fallback) return this.fallback.prune();
    this.post({ type: 'prune' });
  }

  async drain(): Promise<void> {
    if (this.fallback) return this.fallback.drain();
    if (this.ends.length > 0) this.send(null);
    if (this.exited) return;
    const id = this.nextDrain++;
    const drained = new Promise<void>((resolve) => this.drains.set(id, resolve));
    this.post({ type: 'drain', id });
    await drained;
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.fallback) return this.fallback.close();
    if (this.exited) return;
    this.closing = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.post({ type: 'close' });
    await exited;
  }

  onWrite(listener: (write: HistoryWrite) => void): () => void {
    this.listeners.add(listener);
    const off = this.fallback?.onWrite(listener);
    return () => {
      this.listeners.delete(listener);
      off?.();
    };
  }

  /** Hands the bodies since the last commit to the worker (a copy of their bytes, transferred), with `offset`. */
  private send(offset: StreamOffset | null): void {
    const bodies = this.chunk.buffer.slice(0, this.used) as ArrayBuffer;
    const ends = Uint32Array.from(this.ends);
    const receivedAt = Float64Array.from(this.received);
    this.used = 0;
    this.ends = [];
    this.received = [];
    if (this.exited) return;
    this.queued += bodies.byteLength;
    this.post({ type: 'batches', bodies, ends, receivedAt, offset }, [bodies, ends.buffer, receivedAt.buffer]);
  }

  /** The worker took `bytes` of bodies: once the backlog is down to half its limit, a held stream goes on. */
  private took(bytes: number): void {
    this.queued = Math.max(0, this.queued - bytes);
    if (this.holding && this.queued <= this.backlogLimit / 2) this.room();
  }

  private room(): void {
    if (!this.holding) return;
    this.holding = false;
    for (const listener of [...this.roomListeners]) listener();
  }

  private post(message: ToHistoryWorker, transfer: ArrayBuffer[] = []): void {
    if (this.exited) return;
    this.worker.postMessage(message, transfer);
  }

  private report(r: WorkerReport): void {
    this.reported = r;
  }

  private onMessage(message: FromHistoryWorker): void {
    switch (message.type) {
      case 'ready':
        this.report(message);
        this.logger.info('telemetry history written on a worker thread', { mesh: this.options.mesh, threadId: this.worker.threadId });
        return;
      case 'write':
        this.report(message);
        for (const listener of this.listeners) listener(message.write);
        return;
      case 'took':
        this.took(message.bytes);
        return;
      case 'succeeded':
        this.options.storeWrites?.succeeded();
        return;
      case 'failed':
        this.options.storeWrites?.failed(errorOf(message.error), message.operation);
        return;
      case 'log': {
        const fields = message.fields && 'err' in message.fields ? { ...message.fields, err: errorOf(message.fields.err as ErrorShape) } : message.fields;
        this.logger[message.level](message.msg, fields);
        return;
      }
      case 'drained':
        this.report(message);
        this.drains.get(message.id)?.();
        this.drains.delete(message.id);
        return;
    }
  }

  private died(err: Error): void {
    if (this.fallback) return;
    const stored = this.store.offset(this.consumer);
    this.logger.error('telemetry history worker stopped; writing the history on the main thread from now on', {
      err,
      storedOffset: stored,
      handedOver: this.lastCommitted,
      gap: 'windows of the messages after the stored offset that the worker had not yet written are missing from the history',
    });
    this.options.storeWrites?.failed(err, 'telemetry history (worker thread)');
    this.exited = true;
    const inline = new InlineHistoryWriter(this.options);
    for (const listener of this.listeners) inline.onWrite(listener);
    if (!this.closing) inline.start();
    this.fallback = inline;
    // What the worker held is gone; the inline history never holds the stream.
    this.queued = 0;
    this.room();
  }
}
