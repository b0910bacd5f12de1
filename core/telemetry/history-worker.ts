/**
 * The telemetry history's worker thread (WorkerHistoryWriter, history-writer.ts): its own SQLite
 * connection to the core's database file, an InlineHistoryWriter, and the bodies of the batches
 * the main thread took, read again here: binary ones by their layout alone (the main thread held
 * the same bytes to the batch's rules with the same code), JSON ones decoded as there.
 *
 * Built as an entry of its own next to the host's (out/cli, out/main, out/bench:
 * `history-worker.js`); the host passes its path as `historyWorker` to createMeshCore.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from '../lib/log.js';
import { isBinaryTelemetry, TELEMETRY_TYPE } from '../protocol/binary-telemetry.js';
import { decodeMeshEvent } from '../protocol/codec.js';
import type { TelemetryBatch } from '../protocol/messages.js';
import { openDatabase } from '../store/database.js';
import { HISTORY_WORKER_CACHE_KIB, InlineHistoryWriter, errorShape, type FromHistoryWorker, type HistoryWorkerData, type ToHistoryWorker, type WorkerReport } from './history-writer.js';

const port = parentPort;
if (!port) throw new Error('history-worker.js runs as a worker thread (WorkerHistoryWriter), not on its own');
const data = workerData as HistoryWorkerData;
const post = (message: FromHistoryWorker) => port.postMessage(message);

/** Log lines go to the main thread's logger (errors as their name, message and code). */
function workerLogger(): Logger {
  const line =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (msg: string, fields?: Record<string, unknown>): void => {
      const clean = fields && 'err' in fields ? { ...fields, err: errorShape(fields.err) } : fields;
      try {
        post({ type: 'log', level, msg, ...(clean ? { fields: clean } : {}) });
      } catch {
        post({ type: 'log', level, msg, fields: { detail: String(JSON.stringify(clean)) } });
      }
    };
  const logger: Logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), child: () => logger };
  return logger;
}

const logger = workerLogger();
const db = openDatabase({ path: data.dbPath, logger, cacheKiB: HISTORY_WORKER_CACHE_KIB });
const writer = new InlineHistoryWriter({
  db,
  mesh: data.mesh,
  logger,
  storeWrites: {
    failed: (err, operation) => post({ type: 'failed', error: errorShape(err), operation }),
    succeeded: () => post({ type: 'succeeded' }),
  },
  ...(data.history ? { history: data.history } : {}),
});
const report = (): WorkerReport => {
  const h = getHeapStatistics();
  return { stats: writer.stats, pendingWindows: writer.pendingWindows, compactedThrough: writer.compactedThrough, heap: { used: h.used_heap_size, committed: h.total_heap_size, external: h.external_memory } };
};
writer.onWrite((write) => post({ type: 'write', write, ...report() }));
let undecodable = 0;

/**
 * Takes a body the main thread took. A binary one is read in place (BinaryEdgeScanner: the
 * layout and the blobs, no object per batch or edge; checking its fields again would only repeat
 * the main thread's verdict on the same bytes); a JSON one is decoded as the main thread did.
 * Null, or why it could not be read.
 */
function take(body: Buffer, receivedAt: number): string | null {
  if (isBinaryTelemetry(body)) return writer.ingestBinary(body, receivedAt);
  const result = decodeMeshEvent(body, [TELEMETRY_TYPE]);
  if (!result.ok) return result.reason;
  writer.ingest(result.event.data as TelemetryBatch, body, receivedAt);
  return null;
}

port.on('message', (message: ToHistoryWorker) => {
  switch (message.type) {
    case 'start':
      writer.start();
      return;
    case 'batches': {
      const { bodies, ends, receivedAt } = message;
      let start = 0;
      for (let i = 0; i < ends.length; i++) {
        const body = Buffer.from(bodies, start, ends[i]! - start);
        start = ends[i]!;
        // The main thread decoded the same bytes: a failure here is a bug.
        const reason = take(body, receivedAt[i]!);
        if (reason !== null && undecodable++ === 0) logger.error('telemetry history worker could not decode a batch the main thread took', { reason });
      }
      if (message.offset) writer.commit(message.offset);
      post({ type: 'took', bytes: bodies.byteLength });
      return;
    }
    case 'housekeep':
      writer.housekeep();
      return;
    case 'prune':
      writer.prune();
      return;
    case 'drain':
      void writer.drain().then(() => post({ type: 'drained', id: message.id, ...report() }));
      return;
    case 'close':
      db.close();
      process.exit(0);
  }
});

post({ type: 'ready', ...report() });
