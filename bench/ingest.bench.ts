/**
 * Telemetry ingest rate, bare client against the full pipeline: `npm run bench:ingest`.
 *
 * How it runs: bundled by vite (bench/vite.config.ts) into out/bench/ingest.bench.js, run with
 * plain `node`. On a vhost of the run's own (rabbitmqctl; deleted after), a publisher process
 * (`--role publisher`, bench/telemetry-load.ts) fills the telemetry stream with MESSAGES batches
 * of the synthetic mesh (1 000 services × 10 instances × 3 edges, core/telemetry/synthetic-mesh.ts;
 * each batch ~1 KB, 3 edges, the window that had just ended when it was sent). Then, in this
 * process, ROUNDS rounds of four readers of the same stream from its first offset, in turn:
 *
 *   client     rabbitmq-client's createConsumer (prefetch 2 000, acks one by one): the bare
 *              client as an application would use it; the handler does nothing
 *   raw        core/bus/stream-reader.ts (a connection of its own, frames parsed from the socket's
 *              chunks, prefetch 2 000, one multiple-ack per 1 000 messages): the pipeline's own
 *              transport; the handler does nothing
 *   pipeline   the core itself (createMeshCore on a temp SQLite file whose stored telemetry
 *              offset is −1, so it resumes at 0 as a console that was away would): decode and
 *              validate (binary or JSON), aggregate (LiveEdges, LiveEvents, failover observation —
 *              with the registry empty, none: the engine gathers only services the registry lists,
 *              see --registered —, incident signals, history deltas), persist (history flush with the offset,
 *              compaction) — twice: with the history written on the core's main thread, then on
 *              its worker thread (core/telemetry/history-writer.ts, as the hosts run it)
 *
 * Each rate is messages / (last − first message handled); for the pipeline "handled" is
 * "persisted": the history's stored offset reached the last message. The pipeline's rate is
 * printed next to both baselines of the same round. Goal (the issue's): pipeline (history on its
 * worker thread) ≥ 80 % of the bare client. Per pipeline run also: its history writes, and how busy
 * its main thread's event loop was and when it had taken the last message. Also its ratio to the raw transport, this process's CPU per message (which, unlike
 * the rates, a machine busy with other work hardly changes), CPU of this process, the publisher,
 * the broker and others per reader, and a note when other work disturbed the run.
 *
 * Options: `--messages N` (default 200 000), `--rounds N` (default 2), `--registered` (the synthetic
 * mesh's instances registered before each pipeline run, so its failover engine judges the 1 000 services
 * as it reads; without it the registry is empty), `--only client|raw|inline|worker`
 * (that reader alone, no baseline and no goal: for profiling it), `--v8-defaults` (V8's own heap sizing
 * instead of the hosts' tuneHeap(), core/lib/heap.ts).
 * Profiling the pipeline: `node --cpu-prof --cpu-prof-dir bench/results/profiles out/bench/ingest.bench.js`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Connection } from 'rabbitmq-client';
import { createMeshCore } from '../core/app.js';
import { tuneHeap } from '../core/lib/heap.js';
import { declareCoreTopology } from '../core/bus/mesh-topology.js';
import { connectOptionsFromUrl } from '../core/bus/broker-url.js';
import { readStream } from '../core/bus/stream-reader.js';
import { silentLogger } from '../core/lib/log.js';
import { QUEUES } from '../core/protocol/topology.js';
import { memorySecretStore } from '../core/secrets/secret-store.js';
import { openDatabase } from '../core/store/database.js';
import { HistoryStore } from '../core/telemetry/history-store.js';
import { telemetryConsumer } from '../core/telemetry/resolutions.js';
import { Child, benchVhost, historyWorkerNextTo, median, pad, until, waitForQuiet, writeResults, type Message } from './lib.js';
import { ENCODING, FULL_MESH, cpuSpan, cpuText, disturbed, option, publisherRole, runContext, type CpuSpan } from './telemetry-load.js';

const MESSAGES = Number(option('messages') ?? 200_000);
/** --registered: the synthetic mesh's instances registered before each pipeline run, so the failover engine judges its services. */
const REGISTERED = process.argv.includes('--registered');
const ROUNDS = Number(option('rounds') ?? 2);
const PREFETCH = 2000;
const GOAL = 0.8;
const HISTORY_WORKER = historyWorkerNextTo(import.meta.url);

interface ReaderResult {
  messages: number;
  seconds: number;
  rate: number;
  cpu: CpuSpan;
}

type Publisher = Child;

/** This process's CPU per message read: comparable across runs on a machine shared with other work. */
const cpuPerMessage = (r: ReaderResult) => (r.cpu.coreShare * r.cpu.seconds * 1e6) / r.messages;

/** The pipeline's history writes in the last run: duration, windows written, staging rows compacted. */
const flushes: Array<{ ms: number; windows: number; compacted: number }> = [];

/** The pipeline's main thread in the last run: busy share of its event loop, when it had taken the last message (ms after the first). */
const mainThread: { utilization: number; doneMs: number | null } = { utilization: 0, doneMs: null };

function flushText(): string {
  const ms = flushes.map((f) => f.ms).sort((a, b) => a - b);
  const total = ms.reduce((a, b) => a + b, 0);
  return `history writes: ${flushes.length}, ${total.toFixed(0)} ms in all, p50 ${(ms[ms.length >> 1] ?? 0).toFixed(0)} ms, max ${(ms.at(-1) ?? 0).toFixed(0)} ms; ${flushes.reduce((a, f) => a + f.windows, 0)} windows, ${flushes.reduce((a, f) => a + f.compacted, 0)} staging rows compacted`;
}

function mainThreadText(): string {
  const took = mainThread.doneMs === null ? 'n/a' : `${(mainThread.doneMs / 1000).toFixed(2)} s`;
  return `main thread busy ${(mainThread.utilization * 100).toFixed(0)} % of the run, had taken every message after ${took}`;
}

async function timed(publisher: Publisher, read: (done: (first: number, last: number) => void) => Promise<() => Promise<void>>): Promise<ReaderResult> {
  const stopCpu = await cpuSpan(publisher);
  let resolve!: (span: { first: number; last: number }) => void;
  const finished = new Promise<{ first: number; last: number }>((r) => (resolve = r));
  const stop = await read((first, last) => resolve({ first, last }));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('reader did not finish within 10 min')), 600_000)));
  const span = await Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
  const cpu = await stopCpu();
  await stop();
  const seconds = (span.last - span.first) / 1000;
  return { messages: MESSAGES, seconds, rate: MESSAGES / seconds, cpu };
}

function clientReader(connection: Connection): (done: (first: number, last: number) => void) => Promise<() => Promise<void>> {
  return async (done) => {
    let n = 0;
    let first = 0;
    const consumer = connection.createConsumer({ queue: QUEUES.telemetryStream, queueOptions: { passive: true }, qos: { prefetchCount: PREFETCH }, arguments: { 'x-stream-offset': 'first' } }, () => {
      if (n === 0) first = performance.now();
      n += 1;
      if (n === MESSAGES) done(first, performance.now());
    });
    return () => consumer.close();
  };
}

function rawReader(url: string): (done: (first: number, last: number) => void) => Promise<() => Promise<void>> {
  return async (done) => {
    let n = 0;
    let first = 0;
    const reader = await readStream({
      connection: connectOptionsFromUrl(url, 'meshdeck-bench-ingest raw', 60),
      stream: QUEUES.telemetryStream,
      start: 'first',
      onMessage: () => {
        if (n === 0) first = performance.now();
        n += 1;
      },
      onBatch: () => {
        if (n === MESSAGES) done(first, performance.now());
      },
      prefetch: PREFETCH,
    });
    return () => reader.stop();
  };
}

function pipelineReader(url: string, history: 'inline' | 'worker'): (done: (first: number, last: number) => void) => Promise<() => Promise<void>> {
  return async (done) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdeck-bench-ingest-'));
    const path = join(dir, 'meshdeck.db');
    // A console that has read nothing yet but has a stored offset: it resumes at offset 0.
    const db = openDatabase({ path, logger: silentLogger });
    new HistoryStore(db).putOffset(telemetryConsumer('cli'), QUEUES.telemetryStream, -1, Date.now());
    db.close();
    const core = createMeshCore({ databasePath: path, secrets: memorySecretStore('bench'), logger: silentLogger, host: 'headless', commandLineBroker: url, ...(history === 'worker' ? { historyWorker: HISTORY_WORKER } : {}) });
    let first = 0;
    let stopped = false;
    flushes.length = 0;
    const poll = async () => {
      const mesh = await until(() => core.meshes.get('cli'), 'the core mesh', 30_000, 1);
      // Diagnostics: time in history writes (on the worker thread, or inline).
      mesh.history.onWrite((w) => flushes.push({ ms: w.ms, windows: w.windows, compacted: w.compactedRows }));
      while (!stopped && mesh.stats.telemetryBatches === 0) await new Promise((r) => setTimeout(r, 1));
      first = performance.now();
      const elu = performance.eventLoopUtilization();
      mainThread.doneMs = null;
      while (!stopped && (mesh.history.offset() ?? -1) < MESSAGES - 1) {
        if (mainThread.doneMs === null && mesh.stats.telemetryBatches >= MESSAGES) mainThread.doneMs = performance.now() - first;
        await new Promise((r) => setTimeout(r, 5));
      }
      mainThread.utilization = performance.eventLoopUtilization(elu).utilization;
      if (!stopped) done(first, performance.now());
    };
    void poll();
    return async () => {
      stopped = true;
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    };
  };
}

async function parent(): Promise<void> {
  // The heaps as the hosts size them (core/lib/heap.ts), unless `--v8-defaults`.
  if (!process.argv.includes('--v8-defaults')) tuneHeap();
  const { script, host, run, lines, say } = runContext(import.meta.url);
  say(`Ingest: ${MESSAGES} telemetry batches from the stream — bare rabbitmq-client vs the full pipeline (${FULL_MESH.services * FULL_MESH.instancesPerService} instances, ${FULL_MESH.edgesPerInstance} edges each; ${ENCODING} bodies)`);
  say(host.text);
  const vhost = benchVhost('meshdeck-bench-ingest');
  const connection = new Connection({ url: vhost.url, connectionName: 'meshdeck-bench-ingest' });
  let publisher: Child | null = null;
  let exitCode = 0;
  try {
    await connection.onConnect(10_000);
    await declareCoreTopology(connection);
    publisher = new Child('publisher', script, ['--role', 'publisher', '--broker', vhost.url, '--run', run, '--encoding', ENCODING]);
    await publisher.next('ready', 30_000);
    const filled = await publisher.request<Message & { ms: number }>({ type: 'fill', count: MESSAGES }, 'filled', 600_000);
    say(`broker 127.0.0.1:5672, vhost ${vhost.name}: ${MESSAGES} batches in the stream (published in ${(filled.ms / 1000).toFixed(1)} s)`);
    // --registered: before each pipeline run the publisher registers every instance again (the
    // protocol's longest heartbeat interval, 60 s: the registrations stay fresh for the run), and
    // the run's core replays them from the registry stream as it starts (a fresh database each
    // time), so its failover engine judges the 1 000 services while it reads.
    const registerMesh = async () => {
      if (!REGISTERED) return;
      const registered = await publisher!.request<Message & { count: number; ms: number }>({ type: 'register', heartbeatIntervalMs: 60_000 }, 'registered', 120_000);
      say(`    (${registered.count} instances registered, heartbeat interval 60 s, in ${(registered.ms / 1000).toFixed(1)} s; the core replays them as it starts)`);
    };
    const gate = await waitForQuiet([process.pid, publisher.process.pid ?? -1], 0.3, 30_000);
    say(gate.quiet ? `machine quiet (other processes ${gate.busyCores.toFixed(2)} cores)` : `machine still busy after ${(gate.waitedMs / 1000).toFixed(0)} s (other processes ${gate.busyCores.toFixed(2)} cores): measuring anyway`);
    say('');
    const row = (label: string, r: ReaderResult, note = '') =>
      say(`${pad(label, 44, true)}${pad(`${(r.rate / 1000).toFixed(1)} k/s`, 11)}${pad(`${r.seconds.toFixed(2)} s`, 10)}${pad(`${cpuPerMessage(r).toFixed(0)} µs/msg`, 13)}   ${cpuText(r.cpu, 'this process')}${disturbed(r.cpu) ? ' [disturbed]' : ''}${note}`);
    const only = option('only');
    if (only) {
      // One reader alone, for profiling (no baseline, no goal): --only client|raw|inline|worker.
      const readers: Record<string, () => ReturnType<typeof timed>> = {
        client: () => timed(publisher!, clientReader(connection)),
        raw: () => timed(publisher!, rawReader(vhost.url)),
        inline: async () => (await registerMesh(), timed(publisher!, pipelineReader(vhost.url, 'inline'))),
        worker: async () => (await registerMesh(), timed(publisher!, pipelineReader(vhost.url, 'worker'))),
      };
      const read = readers[only];
      if (!read) throw new Error(`--only ${only}: expected one of ${Object.keys(readers).join(', ')}`);
      for (let round = 1; round <= ROUNDS; round++) {
        row(`  ${only} (round ${round})`, await read());
        if (only === 'inline' || only === 'worker') say(`    ${flushText()}; ${mainThreadText()}`);
      }
      return;
    }
    const rounds: Array<{ client: ReaderResult; raw: ReaderResult; inline: ReaderResult; pipeline: ReaderResult }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      say(`round ${round}:`);
      const client = await timed(publisher, clientReader(connection));
      row('  client: createConsumer, ack per message', client);
      const raw = await timed(publisher, rawReader(vhost.url));
      row('  raw: stream-reader, batched acks', raw);
      await registerMesh();
      const inline = await timed(publisher, pipelineReader(vhost.url, 'inline'));
      row('  pipeline, history on the main thread', inline, `   = ${((inline.rate / client.rate) * 100).toFixed(0)} % of client, ${((inline.rate / raw.rate) * 100).toFixed(0)} % of raw`);
      say(`    ${flushText()}; ${mainThreadText()}`);
      await registerMesh();
      const pipeline = await timed(publisher, pipelineReader(vhost.url, 'worker'));
      row('  pipeline, history on its worker thread', pipeline, `   = ${((pipeline.rate / client.rate) * 100).toFixed(0)} % of client, ${((pipeline.rate / raw.rate) * 100).toFixed(0)} % of raw`);
      say(`    ${flushText()} (worker thread); ${mainThreadText()}`);
      rounds.push({ client, raw, inline, pipeline });
    }
    const med = (pick: (r: (typeof rounds)[number]) => ReaderResult) => median(rounds.map((r) => pick(r).rate));
    const client = med((r) => r.client);
    const raw = med((r) => r.raw);
    const inline = med((r) => r.inline);
    const pipeline = med((r) => r.pipeline);
    const ratio = pipeline / client;
    const anyDisturbed = rounds.some((r) => disturbed(r.client.cpu) || disturbed(r.raw.cpu) || disturbed(r.inline.cpu) || disturbed(r.pipeline.cpu));
    say('');
    say(`median of ${ROUNDS} rounds: client ${(client / 1000).toFixed(1)} k/s, raw ${(raw / 1000).toFixed(1)} k/s, pipeline ${(inline / 1000).toFixed(1)} k/s with the history inline, ${(pipeline / 1000).toFixed(1)} k/s with its worker thread`);
    const cpuMed = (pick: (r: (typeof rounds)[number]) => ReaderResult) => median(rounds.map((r) => cpuPerMessage(pick(r))));
    say(`CPU per message (this process, median): client ${cpuMed((r) => r.client).toFixed(0)} µs, raw ${cpuMed((r) => r.raw).toFixed(0)} µs, pipeline ${cpuMed((r) => r.inline).toFixed(0)} µs inline, ${cpuMed((r) => r.pipeline).toFixed(0)} µs with the worker (both threads)`);
    say(`history inline: ${((inline / client) * 100).toFixed(0)} % of the bare client`);
    say(`pipeline (history on its worker thread, as the hosts run it) = ${(ratio * 100).toFixed(0)} % of the bare client (goal >= ${GOAL * 100} %): ${ratio >= GOAL ? 'MET' : 'MISSED'}; ${((pipeline / raw) * 100).toFixed(0)} % of the raw transport`);
    if (anyDisturbed) say('WARNING: other work took more than 0.25 cores (besides the broker) in at least one reader: figures include its interference');
    const file = writeResults(import.meta.url, 'ingest', {
      benchmark: 'ingest',
      date: new Date().toISOString(),
      machine: host,
      method: { messages: MESSAGES, rounds: ROUNDS, prefetch: PREFETCH, mesh: FULL_MESH, registered: REGISTERED },
      rounds,
      median: { client, raw, inline, pipeline },
      goal: { text: `pipeline >= ${GOAL * 100} % of the bare client`, ratio, met: ratio >= GOAL },
      disturbed: anyDisturbed,
      lines,
    });
    console.log(`Wrote ${file}`);
    if (ratio < GOAL) exitCode = 1;
  } catch (err) {
    console.error(err);
    exitCode = 2;
  } finally {
    await publisher?.stop().catch(() => undefined);
    await connection.close().catch(() => undefined);
    vhost.remove();
  }
  process.exit(exitCode);
}

const role = option('role') ?? 'parent';
if (role === 'publisher') void publisherRole();
// (parent() exits the process itself, except after `--only`, which returns early.)
else void parent().then(() => process.exit(0));
