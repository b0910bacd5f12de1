/**
 * CPU per telemetry batch of the core's ingest path, in-process and without a broker:
 * `npm run bench:ingest-hotpath` (options `--messages N`, default 50 000; `--stage all|decode`;
 * `--encoding binary|json`, default binary as agents send it; `--backlog S`, windows starting S s
 * further back, as a console catching up reads them;
 * `--without edges,events,failover,incidents,history` leaves those consumers out, to attribute the cost).
 *
 * The bodies are the ingest benchmark's (core/telemetry/synthetic-mesh.ts, full mesh: 1 000
 * services × 10 instances × 3 edges; one window per instance per second, as a live mesh sends
 * them). They are handed to MeshRuntime's telemetry handler exactly as core/bus/stream-consumer.ts
 * would (one message at a time, `onBatch` every 1 000 with the last offset, which writes the
 * history at most once a second), with a temp SQLite file. What this leaves out, and
 * `npm run bench:ingest` has: AMQP framing and acks (~29 µs per message there for the raw
 * transport). CPU time (process.cpuUsage) rather than wall time, so that a machine busy with
 * other work disturbs it less; the first 10 % of messages warm the JIT and are not counted.
 *
 * Profiling: `node --cpu-prof --cpu-prof-dir bench/results/profiles out/bench/ingest-hotpath.bench.js`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AsyncMessage } from 'rabbitmq-client';
import { silentLogger } from '../core/lib/log.js';
import { MeshRuntime } from '../core/mesh/mesh-runtime.js';
import { decodeMeshEvent } from '../core/protocol/codec.js';
import { QUEUES } from '../core/protocol/topology.js';
import { memorySecretStore } from '../core/secrets/secret-store.js';
import { openDatabase } from '../core/store/database.js';
import { SyntheticMesh } from '../core/telemetry/synthetic-mesh.js';
import { telemetryConsumer } from '../core/telemetry/resolutions.js';
import { ENCODING, FULL_MESH, option, telemetryBody } from './telemetry-load.js';

const MESSAGES = Number(option('messages') ?? 50_000);
const STAGE = option('stage') ?? 'all';
const BACKLOG_S = Number(option('backlog') ?? 0);
const ACK_BATCH = 1000;

/** The stream consumer's view of the runtime (its handlers are private: the broker calls them). */
interface TelemetryHandlers {
  onTelemetryMessage(message: AsyncMessage, offset: number): void;
}

async function main(): Promise<void> {
  const mesh = new SyntheticMesh({ ...FULL_MESH, prefix: 'hot' });
  // Windows start at the one that just ended and advance a second per round of the mesh, about
  // as fast as the core takes them in, as a live mesh sends them. (They started a minute back
  // before: whether that minute's compaction fell inside the run, sending the rest of its windows
  // down the late path at three upserts each, then depended on the clock: ±10 % run to run.)
  // With `--backlog S`, S seconds further back: a console catching up on what it missed.
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 1000 - BACKLOG_S * 1000;
  // Bodies are made a prefetch window at a time, outside the measured CPU: the core holds at most
  // that many (prefetch 2 000), and 50 000 bodies kept at once would slow the collector down.
  const chunk = (from: number, to: number): AsyncMessage[] => {
    const out: AsyncMessage[] = [];
    for (let i = from; i < to; i++) {
      const n = i % mesh.size;
      const windowStart = t0 + Math.floor(i / mesh.size) * 1000;
      out.push({ body: telemetryBody(mesh, n, windowStart, `h${i}`).body, routingKey: mesh.instances[n]!.routingKey, deliveryTag: i + 1, headers: { 'x-stream-offset': i } } as unknown as AsyncMessage);
    }
    return out;
  };
  // The first full round of the mesh (every series new, the JIT cold) is not counted.
  const warm = Math.min(mesh.size, Math.floor(MESSAGES / 5));

  if (STAGE === 'decode') {
    let cpuUs = 0;
    for (let from = 0; from < MESSAGES; from += ACK_BATCH) {
      const messages = chunk(from, Math.min(MESSAGES, from + ACK_BATCH));
      const cpu = process.cpuUsage();
      for (const m of messages) {
        const r = decodeMeshEvent(m.body, ['io.meshdeck.telemetry.batch.v1']);
        if (!r.ok) throw new Error(r.reason);
      }
      const used = process.cpuUsage(cpu);
      if (from >= warm) cpuUs += used.user + used.system;
    }
    console.log(`decode only (${ENCODING} bodies): ${(cpuUs / (MESSAGES - warm)).toFixed(1)} µs CPU per batch (${MESSAGES - warm} batches)`);
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), 'meshdeck-bench-hotpath-'));
  try {
    const db = openDatabase({ path: join(dir, 'meshdeck.db'), logger: silentLogger });
    const runtime = new MeshRuntime({ mesh: 'cli', db, logger: silentLogger, source: 'meshdeck://bench/hotpath', control: { secrets: memorySecretStore('bench') } });
    let registryCommits = 0;
    const commit = runtime.store.commit.bind(runtime.store);
    runtime.store.commit = (...args) => {
      registryCommits += 1;
      return commit(...args);
    };
    // Diagnosis: leave parts of the aggregation out (--without edges,events,failover,incidents,history).
    const without = new Set((option('without') ?? '').split(',').filter(Boolean));
    const skip = { edges: runtime.edges, events: runtime.events, incidents: runtime.incidents, history: runtime.history } as const;
    for (const part of without) {
      if (part === 'failover') runtime.failover.observeBatch = () => undefined;
      else if (part in skip) (skip[part as keyof typeof skip] as { ingest: unknown }).ingest = () => undefined;
      else throw new Error(`--without: unknown part ${part} (edges, events, failover, incidents, history)`);
    }
    const handlers = runtime as unknown as TelemetryHandlers;
    // The history's writes after the warm-up: their time and windows (µs per window written).
    const written = { ms: 0, windows: 0, counting: false };
    runtime.history.onWrite((w) => {
      if (!written.counting) return;
      written.ms += w.ms;
      written.windows += w.windows;
    });
    const consumer = telemetryConsumer('cli');
    let user = 0;
    let system = 0;
    let wall = 0;
    const writesBefore = { writes: 0 };
    for (let from = 0; from < MESSAGES; from += ACK_BATCH) {
      const to = Math.min(MESSAGES, from + ACK_BATCH);
      const messages = chunk(from, to);
      if (from === warm) {
        writesBefore.writes = runtime.history.stats.writes;
        written.counting = true;
      }
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = from; i < to; i++) handlers.onTelemetryMessage(messages[i - from]!, i);
      // As the stream consumer does after each acked batch; the last one drained, as at shutdown.
      runtime.history.commit({ consumer, stream: QUEUES.telemetryStream, offset: to - 1 });
      if (to === MESSAGES) await runtime.history.drain();
      const used = process.cpuUsage(cpu);
      if (from >= warm) {
        user += used.user;
        system += used.system;
        wall += performance.now() - started;
      }
    }
    const used = { user, system };
    const ms = wall;
    const counted = MESSAGES - warm;
    if (runtime.stats.telemetryBatches !== MESSAGES) throw new Error(`ingested ${runtime.stats.telemetryBatches} of ${MESSAGES} batches (dead-lettered ${runtime.stats.deadLettered})`);
    console.log(
      `pipeline without AMQP (${ENCODING} bodies)${without.size ? ` and without ${[...without].join(', ')}` : ''}: ${((used.user + used.system) / counted).toFixed(1)} µs CPU per batch (user ${(used.user / counted).toFixed(1)}, system ${(used.system / counted).toFixed(1)}), ` +
        `${counted} batches in ${ms.toFixed(0)} ms wall; history writes ${runtime.history.stats.writes - writesBefore.writes} (${written.ms.toFixed(0)} ms, ${written.windows} windows, ${written.windows ? ((written.ms * 1000) / written.windows).toFixed(1) : '-'} µs a window; late windows ${runtime.history.stats.lateWindows}); registry commits ${registryCommits}; stored offset ${runtime.history.offset()}`,
    );
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
