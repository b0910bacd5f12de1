/**
 * What the history's worker thread does per telemetry body, in-process: `npm run bench:history-ingest`
 * (options `--seconds N` of the full mesh per round, default 20; `--rounds N`, default 4).
 *
 * The worker thread (core/telemetry/history-worker.ts) takes every body the main thread took and
 * merges it into the windows it writes once a second. Two ways, alternated in the same run
 * (A B B A …), each round on a fresh SQLite file:
 *   objects   the body decoded into a batch (readBinaryTelemetry: objects per batch and edge, a
 *             Buffer per sketch) and given to TelemetryHistory.ingest() — the worker before 2026-11-30
 *   in place  TelemetryHistory.ingestBinary(): BinaryEdgeScanner reads the fields and the blobs'
 *             bounds where they are, the blobs copied into the history's arena — the worker now
 * Both write the same rows (core/telemetry/history.test.ts holds them equal).
 *
 * Per round, each second of the full mesh (1 000 services × 10 instances × 3 edges: 10 000 binary
 * bodies, built before the clock starts) is ingested, then written (flush, with its compaction
 * steps). Measured: CPU per body of the ingest, CPU per write, the main thread's garbage
 * collection during the round, and the heap the history holds (V8 used + array buffers after
 * forced collections, against before it was made) at the round's end with a second's windows
 * pending (its last second ingested once more): the series, the windows and their sketches.
 */
import { BinaryEdgeScanner, readBinaryTelemetry } from '../core/protocol/binary-telemetry.js';
import { SyntheticMesh } from '../core/telemetry/synthetic-mesh.js';
import { TelemetryHistory } from '../core/telemetry/history.js';
import { heapInUse, tempDb } from '../core/telemetry/test-support.js';
import { machine, median, option, watchGc, writeResults } from './lib.js';
import { FULL_MESH } from './telemetry-load.js';

const SECONDS = Number(option('seconds') || 20);
const ROUNDS = Number(option('rounds') || 4);
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
const MB = 2 ** 20;

type Way = 'objects' | 'in place';

interface Round {
  way: Way;
  ingestUsPerBody: number;
  writeMs: number;
  gcMs: number;
  heldMb: number;
  windows: number;
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const mesh = new SyntheticMesh({ ...FULL_MESH, prefix: 'hist' });
/** One second's bodies, built once per second index and reused by every round. */
const bodies: Buffer[][] = [];
for (let s = 0; s < SECONDS; s++) {
  const windowStart = T0 + s * 1000;
  bodies.push(Array.from({ length: mesh.size }, (_, n) => mesh.binaryBody(n, windowStart, `h-${s}-${n}`)));
}

/** Ingests a second's bodies one way; CPU µs taken. */
function ingest(way: Way, history: TelemetryHistory, scanner: BinaryEdgeScanner, list: Buffer[], receivedAt: number): number {
  const started = cpuUs();
  if (way === 'objects') {
    for (const body of list) {
      const read = readBinaryTelemetry(body);
      if (!read.ok) throw new Error(read.reason);
      history.ingest(read.data, receivedAt);
    }
  } else {
    for (const body of list) {
      const reason = history.ingestBinary(body, receivedAt, scanner);
      if (reason !== null) throw new Error(reason);
    }
  }
  return cpuUs() - started;
}

async function round(way: Way): Promise<Round> {
  const empty = heapInUse();
  const tmp = tempDb('meshdeck-history-bench-');
  let clock = T0;
  const history = new TelemetryHistory({ db: tmp.db, mesh: 'bench', now: () => clock, minFlushIntervalMs: 0 });
  const scanner = new BinaryEdgeScanner();
  let ingestUs = 0;
  let writeUs = 0;
  let count = 0;
  let windows = 0;
  const watch = watchGc();
  for (let s = 0; s < SECONDS; s++) {
    const receivedAt = T0 + s * 1000 + 1000;
    clock = receivedAt;
    ingestUs += ingest(way, history, scanner, bodies[s]!, receivedAt);
    count += bodies[s]!.length;
    const writeStarted = cpuUs();
    windows += history.flush(undefined, { force: true }).windows;
    writeUs += cpuUs() - writeStarted;
    await new Promise((resolve) => setImmediate(resolve)); // the collections' entries come in as tasks
  }
  await new Promise((resolve) => setTimeout(resolve, 10));
  const gcSpan = watch.stop();
  // What the history holds with a second's windows pending: the last second's bodies once more.
  ingest(way, history, scanner, bodies[SECONDS - 1]!, clock);
  const held = heapInUse() - empty;
  tmp.cleanup();
  return { way, ingestUsPerBody: ingestUs / count, writeMs: writeUs / SECONDS / 1000, gcMs: gcSpan.scavengeMs + gcSpan.otherMs, heldMb: held / MB, windows };
}

const host = machine();
console.log(`History ingest in-process: ${mesh.size} binary bodies a second (${FULL_MESH.services} services, ${mesh.size * FULL_MESH.edgesPerInstance} edges), ${SECONDS} s a round, ${ROUNDS} rounds of each way, alternated`);
console.log(host.text);
const rounds: Round[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const order: Way[] = r % 2 === 0 ? ['objects', 'in place'] : ['in place', 'objects'];
  for (const way of order) {
    const result = await round(way);
    rounds.push(result);
    console.log(
      `  ${way.padEnd(8)} ingest ${result.ingestUsPerBody.toFixed(2)} µs a body, write ${result.writeMs.toFixed(1)} ms a second (${(result.windows / SECONDS).toFixed(0)} windows), GC ${result.gcMs.toFixed(0)} ms, held with a second pending: ${result.heldMb.toFixed(1)} MB`,
    );
  }
}
const summary = (way: Way) => {
  const mine = rounds.filter((r) => r.way === way);
  return {
    ingestUsPerBody: median(mine.map((r) => r.ingestUsPerBody)),
    writeMs: median(mine.map((r) => r.writeMs)),
    gcMs: median(mine.map((r) => r.gcMs)),
    heldMb: median(mine.map((r) => r.heldMb)),
  };
};
const objects = summary('objects');
const inPlace = summary('in place');
console.log(
  `median: objects ${objects.ingestUsPerBody.toFixed(2)} µs a body, write ${objects.writeMs.toFixed(1)} ms, GC ${objects.gcMs.toFixed(0)} ms, held ${objects.heldMb.toFixed(1)} MB; ` +
    `in place ${inPlace.ingestUsPerBody.toFixed(2)} µs a body (${((inPlace.ingestUsPerBody / objects.ingestUsPerBody) * 100).toFixed(0)} % of objects), write ${inPlace.writeMs.toFixed(1)} ms, GC ${inPlace.gcMs.toFixed(0)} ms, held ${inPlace.heldMb.toFixed(1)} MB`,
);
console.log(`results: ${writeResults(import.meta.url, 'history-ingest', { host, seconds: SECONDS, rounds, objects, inPlace })}`);
