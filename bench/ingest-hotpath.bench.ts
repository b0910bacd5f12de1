/**
 * CPU per telemetry batch of the core's ingest path, in-process and without a broker:
 * `npm run bench:ingest-hotpath` (options `--messages N`, default 50 000; `--stage all|decode`).
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
import { FULL_MESH, option } from './telemetry-load.js';

const MESSAGES = Number(option('messages') ?? 50_000);
const STAGE = option('stage') ?? 'all';
const ACK_BATCH = 1000;

/** The stream consumer's view of the runtime (its handlers are private: the broker calls them). */
interface TelemetryHandlers {
  onTelemetryMessage(message: AsyncMessage, offset: number): void;
  flushHistory(offset?: { consumer: string; stream: string; offset: number }, force?: boolean): void;
}

function main(): void {
  const mesh = new SyntheticMesh({ ...FULL_MESH, prefix: 'hot' });
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const messages: AsyncMessage[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const n = i % mesh.size;
    const windowStart = t0 + Math.floor(i / mesh.size) * 1000;
    const body = mesh.body(n, windowStart, `h${i}`);
    messages.push({ body, routingKey: mesh.instances[n]!.routingKey, deliveryTag: i + 1, headers: { 'x-stream-offset': i } } as unknown as AsyncMessage);
  }
  const warm = Math.floor(MESSAGES / 10);

  if (STAGE === 'decode') {
    for (let i = 0; i < warm; i++) decodeMeshEvent(messages[i]!.body, ['io.meshdeck.telemetry.batch.v1']);
    const cpu = process.cpuUsage();
    for (let i = warm; i < MESSAGES; i++) {
      const r = decodeMeshEvent(messages[i]!.body, ['io.meshdeck.telemetry.batch.v1']);
      if (!r.ok) throw new Error(r.reason);
    }
    const used = process.cpuUsage(cpu);
    console.log(`decode only: ${((used.user + used.system) / (MESSAGES - warm)).toFixed(1)} µs CPU per batch (${MESSAGES - warm} batches)`);
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
    const handlers = runtime as unknown as TelemetryHandlers;
    const consumer = telemetryConsumer('cli');
    const run = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        handlers.onTelemetryMessage(messages[i]!, i);
        if ((i + 1) % ACK_BATCH === 0 || i === to - 1) handlers.flushHistory({ consumer, stream: QUEUES.telemetryStream, offset: i });
      }
    };
    run(0, warm);
    const writesBefore = runtime.history.stats.writes;
    const cpu = process.cpuUsage();
    const wall = performance.now();
    run(warm, MESSAGES);
    handlers.flushHistory({ consumer, stream: QUEUES.telemetryStream, offset: MESSAGES - 1 }, true);
    const used = process.cpuUsage(cpu);
    const ms = performance.now() - wall;
    const counted = MESSAGES - warm;
    if (runtime.stats.telemetryBatches !== MESSAGES) throw new Error(`ingested ${runtime.stats.telemetryBatches} of ${MESSAGES} batches (dead-lettered ${runtime.stats.deadLettered})`);
    console.log(
      `pipeline without AMQP: ${((used.user + used.system) / counted).toFixed(1)} µs CPU per batch (user ${(used.user / counted).toFixed(1)}, system ${(used.system / counted).toFixed(1)}), ` +
        `${counted} batches in ${ms.toFixed(0)} ms wall; history writes ${runtime.history.stats.writes - writesBefore}; registry commits ${registryCommits}; stored offset ${runtime.history.offset()}`,
    );
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
