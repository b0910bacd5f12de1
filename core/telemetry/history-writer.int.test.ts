/**
 * The telemetry history written by its worker thread (WorkerHistoryWriter, with the worker as
 * built into out/cli: needs `npm run build` first, which `npm test` does) against the same batches
 * written inline, on real SQLite files: the same rows, the same sketches, the same stored offset;
 * and a worker that dies hands over to the main thread, says so, and loses nothing it had written.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_WORKER_YOUNG_MB } from '../lib/heap.js';
import { createLogger, silentLogger } from '../lib/log.js';
import { decodeMeshEvent } from '../protocol/codec.js';
import type { TelemetryBatch } from '../protocol/messages.js';
import type { Db } from '../store/database.js';
import { InlineHistoryWriter, WorkerHistoryWriter, type HistoryWrite, type HistoryWriter } from './history-writer.js';
import { HistoryStore } from './history-store.js';
import { telemetryConsumer } from './resolutions.js';
import { SyntheticMesh } from './synthetic-mesh.js';
import { tempDb, type TempDb } from './test-support.js';

const script = fileURLToPath(new URL('../../out/cli/history-worker.js', import.meta.url));
const MESH = 'cli';
const STREAM = 'meshdeck.telemetry';
const consumer = telemetryConsumer(MESH);
const dbs: TempDb[] = [];
const writers: HistoryWriter[] = [];

beforeAll(() => {
  if (!existsSync(script)) throw new Error('out/cli/history-worker.js is missing: run `npm run build` first');
});

afterEach(async () => {
  for (const w of writers.splice(0)) await w.close();
  for (const d of dbs.splice(0)) d.cleanup();
});

function db(): TempDb {
  const d = tempDb('meshdeck-history-writer-');
  dbs.push(d);
  return d;
}

/** Every window of every series, wherever it lives (staging or the 1 s table), by series and second. */
function windows(database: Db): Map<string, { requests: number; sketch: string }> {
  const rows = database
    .prepare(
      `SELECT s.kind, s.a, s.b, w.t, w.requests, hex(w.sketch) AS sketch
         FROM (SELECT series, t, requests, sketch FROM telemetry_recent WHERE mesh = ? UNION ALL SELECT series, t, requests, sketch FROM telemetry_1s) w
         JOIN telemetry_series s ON s.id = w.series`,
    )
    .all(MESH) as Array<{ kind: string; a: string; b: string; t: number; requests: number; sketch: string }>;
  return new Map(rows.map((r) => [`${r.kind}/${r.a}/${r.b}/${r.t}`, { requests: r.requests, sketch: r.sketch }]));
}

interface Message {
  batch: TelemetryBatch;
  body: Buffer;
}

/** `rounds` windows of every instance of a small mesh, the last one ending a second ago, in stream order. */
function stream(mesh: SyntheticMesh, rounds: number): { messages: Message[]; edgeRequests: number } {
  const messages: Message[] = [];
  let edgeRequests = 0;
  const last = Math.floor(Date.now() / 1000) * 1000 - 1000;
  for (let w = rounds - 1; w >= 0; w--) {
    const windowStart = last - w * 1000;
    for (let n = 0; n < mesh.size; n++) {
      const body = mesh.binaryBody(n, windowStart, `${w}-${n}`);
      const decoded = decodeMeshEvent(body, ['io.meshdeck.telemetry.batch.v1']);
      if (!decoded.ok) throw new Error(decoded.reason);
      messages.push({ batch: decoded.event.data as TelemetryBatch, body });
      for (let k = 0; k < mesh.shape.edgesPerInstance; k++) edgeRequests += mesh.requests(n, k, windowStart);
    }
  }
  return { messages, edgeRequests };
}

/** As the stream consumer hands them over: ingest, and commit every `every` messages with the last one's offset. */
function feed(writer: HistoryWriter, messages: Message[], from: number, to: number, every: number): void {
  for (let i = from; i < to; i++) {
    writer.ingest(messages[i]!.batch, messages[i]!.body, Date.now());
    if ((i + 1) % every === 0 || i === to - 1) writer.commit({ consumer, stream: STREAM, offset: i });
  }
}

const edgeTotal = (w: Map<string, { requests: number }>) => [...w].filter(([k]) => k.startsWith('edge/')).reduce((n, [, v]) => n + v.requests, 0);

describe('telemetry history on its worker thread', () => {
  it('writes the same windows, sketches and stream offset as the history written inline', async () => {
    const mesh = new SyntheticMesh({ services: 20, instancesPerService: 3, edgesPerInstance: 3, prefix: 'hw' });
    const { messages, edgeRequests } = stream(mesh, 30);
    const inlineDb = db();
    const workerDb = db();
    const inline = new InlineHistoryWriter({ db: inlineDb.db, mesh: MESH, logger: silentLogger });
    const worker = new WorkerHistoryWriter({ db: workerDb.db, mesh: MESH, logger: silentLogger, script });
    writers.push(inline, worker);
    const writes: HistoryWrite[] = [];
    worker.onWrite((w) => writes.push(w));
    await worker.whenReady();
    inline.start();
    worker.start();

    feed(inline, messages, 0, messages.length, 97);
    feed(worker, messages, 0, messages.length, 97);
    await inline.drain();
    await worker.drain();

    expect(worker.offset()).toBe(messages.length - 1);
    expect(inline.offset()).toBe(messages.length - 1);
    const fromWorker = windows(workerDb.db);
    const fromInline = windows(inlineDb.db);
    expect(edgeTotal(fromWorker)).toBe(edgeRequests);
    expect(fromWorker.size).toBe(fromInline.size);
    expect(fromWorker).toEqual(fromInline);
    // Its counters and writes came back to this thread.
    expect(worker.stats.batches).toBe(messages.length);
    expect(worker.pendingWindows).toBe(0);
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.reduce((n, w) => n + w.windows, 0)).toBe(worker.stats.windowsWritten);
    expect(writes.at(-1)!.offset === null || writes.at(-1)!.offset === messages.length - 1).toBe(true);
  });

  it('runs its worker with the young generation capped (core/lib/heap.ts)', async () => {
    const d = db();
    const writer = new WorkerHistoryWriter({ db: d.db, mesh: MESH, logger: silentLogger, script });
    writers.push(writer);
    writer.start();
    await writer.drain();
    // The limits V8 applied to the running thread, as Node reports them.
    const thread = (writer as unknown as { worker: Worker }).worker;
    expect(thread.resourceLimits?.maxYoungGenerationSizeMb).toBe(HISTORY_WORKER_YOUNG_MB);
    // Its heap as of its last report (drained), for the benchmarks' memory accounts; inline there is none of its own.
    const heap = writer.threadHeap!;
    expect(heap.used).toBeGreaterThan(0);
    expect(heap.committed).toBeGreaterThanOrEqual(heap.used);
    expect(new InlineHistoryWriter({ db: d.db, mesh: MESH, logger: silentLogger }).threadHeap).toBeNull();
  });

  it('takes bodies the transport parsed (application/json) or decoded (text/plain) as well as bytes', async () => {
    const mesh = new SyntheticMesh({ services: 6, instancesPerService: 2, edgesPerInstance: 3, prefix: 'hj' });
    const last = Math.floor(Date.now() / 1000) * 1000 - 1000;
    const messages: Array<{ batch: TelemetryBatch; body: unknown }> = [];
    let edgeRequests = 0;
    for (let n = 0; n < mesh.size; n++) {
      const json = mesh.body(n, last, `j-${n}`);
      const decoded = decodeMeshEvent(json, ['io.meshdeck.telemetry.batch.v1']);
      if (!decoded.ok) throw new Error(decoded.reason);
      // As rabbitmq-client hands them over: parsed for application/json, a string for text/plain, else bytes.
      const body = n % 3 === 0 ? (JSON.parse(json.toString()) as unknown) : n % 3 === 1 ? json.toString() : json;
      messages.push({ batch: decoded.event.data as TelemetryBatch, body });
      for (let k = 0; k < 3; k++) edgeRequests += mesh.requests(n, k, last);
    }
    const d = db();
    const worker = new WorkerHistoryWriter({ db: d.db, mesh: MESH, logger: silentLogger, script });
    writers.push(worker);
    worker.start();
    for (const m of messages) worker.ingest(m.batch, m.body, Date.now());
    worker.commit({ consumer, stream: STREAM, offset: messages.length - 1 });
    await worker.drain();
    expect(worker.stats.batches).toBe(messages.length);
    expect(edgeTotal(windows(d.db))).toBe(edgeRequests);
    expect(worker.offset()).toBe(messages.length - 1);
  });

  it('resumes where it stopped after a close, as a restarted console does', async () => {
    const mesh = new SyntheticMesh({ services: 10, instancesPerService: 2, edgesPerInstance: 3, prefix: 'hr' });
    const { messages, edgeRequests } = stream(mesh, 20);
    const d = db();
    const half = Math.floor(messages.length / 2);
    const first = new WorkerHistoryWriter({ db: d.db, mesh: MESH, logger: silentLogger, script });
    first.start();
    feed(first, messages, 0, half, 50);
    await first.close();
    const second = new WorkerHistoryWriter({ db: d.db, mesh: MESH, logger: silentLogger, script });
    writers.push(second);
    // Before its thread reports anything, the compaction mark is the stored one (not 0).
    expect(second.compactedThrough).toBe(new HistoryStore(d.db).marks(MESH).through * 1000);
    const resumeAt = (second.offset() ?? -1) + 1;
    expect(resumeAt).toBe(half);
    second.start();
    feed(second, messages, resumeAt, messages.length, 50);
    await second.drain();
    expect(second.offset()).toBe(messages.length - 1);
    expect(edgeTotal(windows(d.db))).toBe(edgeRequests);
  });

  it('is backlogged while its worker trails by more than its limit, says so (once a minute), and tells its listeners once the worker took the bodies', async () => {
    const mesh = new SyntheticMesh({ services: 10, instancesPerService: 2, edgesPerInstance: 3, prefix: 'hb' });
    const { messages, edgeRequests } = stream(mesh, 10);
    const d = db();
    const lines: string[] = [];
    const writer = new WorkerHistoryWriter({ db: d.db, mesh: MESH, logger: createLogger({ sink: (line) => lines.push(line) }), script, backlogBytes: 2000 });
    writers.push(writer);
    await writer.whenReady();
    writer.start();
    expect(writer.backlogged).toBe(false);
    // One commit of 40 bodies: handed over at once, taken only when the worker gets to them.
    feed(writer, messages, 0, 40, 40);
    const handed = messages.slice(0, 40).reduce((n, m) => n + m.body.length, 0);
    expect(handed).toBeGreaterThan(2000);
    expect(writer.backlogBytes).toBe(handed);
    expect(writer.backlogged).toBe(true);
    await new Promise<void>((resolve) => writer.onRoom(resolve));
    expect(writer.backlogBytes).toBe(0);
    expect(writer.backlogged).toBe(false);
    expect(writer.holds).toBe(1);
    const said = lines.map((l) => JSON.parse(l) as { level: string; msg: string; backlogBytes?: number });
    expect(said.filter((l) => l.msg.startsWith('telemetry history behind'))).toMatchObject([{ level: 'warn', backlogBytes: handed, limitBytes: 2000, holds: 1 }]);
    // Held again at once: counted, not logged again within the minute. Nothing was lost on the way.
    feed(writer, messages, 40, messages.length, 40);
    expect(writer.backlogged).toBe(true);
    expect(writer.holds).toBe(2);
    await writer.drain();
    expect(lines.filter((l) => l.includes('telemetry history behind'))).toHaveLength(1);
    expect(writer.offset()).toBe(messages.length - 1);
    expect(edgeTotal(windows(d.db))).toBe(edgeRequests);
  });

  it('hands the history to the main thread when the worker dies, says so, and keeps what was written', async () => {
    const mesh = new SyntheticMesh({ services: 10, instancesPerService: 2, edgesPerInstance: 3, prefix: 'hd' });
    const { messages, edgeRequests } = stream(mesh, 20);
    const d = db();
    const lines: string[] = [];
    const failures: Array<{ operation: string; message: string }> = [];
    const writer = new WorkerHistoryWriter({
      db: d.db,
      mesh: MESH,
      logger: createLogger({ sink: (line) => lines.push(line) }),
      storeWrites: { failed: (err, operation) => failures.push({ operation, message: (err as Error).message }), succeeded: () => undefined },
      script,
    });
    writers.push(writer);
    writer.start();
    const half = Math.floor(messages.length / 2);
    feed(writer, messages, 0, half, 40);
    await writer.drain();
    expect(writer.offset()).toBe(half - 1);

    // The thread ends as a crash would end it.
    const thread = (writer as unknown as { worker: Worker }).worker;
    const exited = new Promise((resolve) => thread.once('exit', resolve));
    await thread.terminate();
    await exited;
    expect(failures).toEqual([{ operation: 'telemetry history (worker thread)', message: expect.stringContaining('exited with code') }]);
    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; storedOffset?: number }).find((l) => l.msg.startsWith('telemetry history worker stopped'));
    expect(logged).toMatchObject({ level: 'error', storedOffset: half - 1 });

    // The rest goes on, written inline: everything is there once.
    feed(writer, messages, half, messages.length, 40);
    await writer.drain();
    expect(writer.offset()).toBe(messages.length - 1);
    expect(writer.stats.batches).toBe(messages.length - half);
    expect(edgeTotal(windows(d.db))).toBe(edgeRequests);
  });
});
