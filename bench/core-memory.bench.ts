/**
 * The core's memory at the goals' full size, fed in its own process: `npm run bench:core-memory`.
 *
 * Why not `bench:mesh-size`: there the telemetry reaches the core through the broker, and on this
 * 2-core machine the broker alone needs more than a core at half the full rate, so at 1 000
 * services the core trails by minutes and its RSS is mostly the backlog in flight. The RSS goal
 * ("core RSS after 10 minutes at that size ≤ 200 MB") is about the core: here the same mesh runtime
 * the hosts run (core/mesh/mesh-runtime.ts: registry, failover engine, incident monitor, live
 * views, the history on its worker thread with a temp SQLite file) is handed the messages the
 * broker would deliver, in real time, and nothing else runs in the process.
 *
 * How it runs: bundled by vite (bench/vite.config.ts) into out/bench/core-memory.bench.js, run
 * with `node` and the hosts' flags (HOST_NODE_FLAGS, in the npm script); the heaps sized as the
 * hosts size them (`tuneHeap()`, core/lib/heap.ts). The header line says the semi-space it ran with.
 * 1. Registers the synthetic mesh's instances (core/telemetry/synthetic-mesh.ts, 1 000 services ×
 *    10 instances × 3 edges: 30 000 edges) with the registry stream's register events.
 * 2. Baseline, BASELINE_S seconds: every instance heartbeats once a second, no telemetry.
 * 3. Loaded, DURATION_S seconds: every instance also sends one telemetry batch a second (its
 *    window [T − 1000, T), binary as the agents send it), spread over 10 slots of 100 ms as the
 *    mesh-size publisher sends them; the history is committed every 1 000 messages with the
 *    stream offset, as the stream reader does; while the history's worker thread trails by more
 *    than its limit, the feed waits for it, as the reader's held acks make the broker wait (the
 *    heartbeats wait too, which the broker's heartbeat queue would not: the run counts the holds).
 * The messages are built in this process as the stream reader and the heartbeat consumer would
 * hand them over (a Buffer per body); what the broker connection itself holds (socket buffers,
 * the reader's frame buffer) is not here.
 *
 * Measured: RSS and V8 heap every second (end and maximum, per phase), where the RSS is (heap,
 * array buffers, anonymous and file-backed pages), the live view's and the incident signals' own
 * structural count, CPU of the process, slots that started more than 100 ms late (the core not
 * keeping up in real time). Goal judged: RSS ≤ 200 MB after 10 minutes at the full size.
 *
 * Options: `--duration SECONDS` (default 600), `--smoke` (= --duration 30), `--services N` (a
 * smaller mesh of the same shape), `--history inline` (the history on the main thread, to tell
 * the worker thread's share), `--heap-snapshot` (after the baseline and at the end, and of the
 * history's worker thread at the end, in bench/results/profiles/; `node out/bench/heap-summary.js
 * FILE` sums them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import type { AsyncMessage } from 'rabbitmq-client';
import { tuneHeap } from '../core/lib/heap.js';
import { silentLogger } from '../core/lib/log.js';
import { MeshRuntime } from '../core/mesh/mesh-runtime.js';
import { encodeMeshEvent } from '../core/protocol/codec.js';
import { QUEUES, routingKeys } from '../core/protocol/topology.js';
import { memorySecretStore } from '../core/secrets/secret-store.js';
import { openDatabase } from '../core/store/database.js';
import { telemetryConsumer } from '../core/telemetry/resolutions.js';
import { SyntheticMesh } from '../core/telemetry/synthetic-mesh.js';
import { historyWorkerNextTo, machine, memoryText, processPages, sleep, until, watchGc, writeHeapSnapshot, writeResults, writeWorkerHeapSnapshot } from './lib.js';
import { FULL_MESH, SLOTS_PER_SECOND, heartbeatTemplate, meshShape, option, telemetryBody } from './telemetry-load.js';

const DURATION_S = process.argv.includes('--smoke') ? 30 : Number(option('duration') ?? 600);
const HEAP_SNAPSHOT = process.argv.includes('--heap-snapshot');
const HISTORY = option('history') === 'inline' ? 'inline' : 'worker';
const MESH = meshShape();
const FULL_SIZE = MESH.services === FULL_MESH.services;
const BASELINE_S = 30;
const RSS_GOAL_MB = 200;
const RSS_GOAL_MIN_S = 600;
const ACK_BATCH = 1000;
const MB = 2 ** 20;
const SOURCE = 'meshdeck://bench/core-memory';

/** The runtime's broker-facing handlers (private: the stream consumers and the heartbeat queue call them). */
interface Handlers {
  onRegistryMessage(message: AsyncMessage, offset: number): void;
  onHeartbeatMessage(message: AsyncMessage): void;
  onTelemetryMessage(message: AsyncMessage, offset: number): void;
  startTimers(): void;
  stopTimers(): void;
}

interface Sample {
  at: number;
  rss: number;
  heap: number;
}

/** End and maximum of the samples taken from `since` on (RSS and heap). */
function phase(samples: Sample[], since: number): { endMB: number; maxMB: number; heapEndMB: number; heapMaxMB: number } {
  const own = samples.filter((s) => s.at >= since);
  const last = own.at(-1) ?? { rss: 0, heap: 0 };
  return { endMB: last.rss / MB, maxMB: Math.max(...own.map((s) => s.rss)) / MB, heapEndMB: last.heap / MB, heapMaxMB: Math.max(...own.map((s) => s.heap)) / MB };
}

/** The history's worker thread's heap as it last reported, and what the process's anonymous memory holds besides both threads' heaps and array buffers. */
function threadsText(runtime: MeshRuntime): string {
  const w = runtime.history.threadHeap;
  if (!w) return 'history on the main thread';
  const m = process.memoryUsage();
  const pages = processPages();
  const rest = pages ? `; anonymous memory besides both heaps and their external memory: ${((pages.anonymous - m.heapTotal - m.external - w.committed - w.external) / MB).toFixed(0)} MB` : '';
  return `history worker thread: heap ${(w.used / MB).toFixed(0)} of ${(w.committed / MB).toFixed(0)} MB, external ${(w.external / MB).toFixed(0)} MB${rest}`;
}

async function main(): Promise<void> {
  tuneHeap();
  const host = machine();
  const instances = MESH.services * MESH.instancesPerService;
  const edges = instances * MESH.edgesPerInstance;
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    console.log(line);
  };
  say(`Core memory in-process: ${MESH.services} services, ${instances} instances, ${edges} edges at 1 s for ${DURATION_S} s after a ${BASELINE_S}-s baseline of heartbeats alone; history ${HISTORY === 'worker' ? 'on its worker thread' : 'on the main thread'}`);
  say(host.text);
  const mesh = new SyntheticMesh({ ...MESH, prefix: 'mem' });
  const dir = mkdtempSync(join(tmpdir(), 'meshdeck-bench-core-memory-'));
  const db = openDatabase({ path: join(dir, 'meshdeck.db'), logger: silentLogger });
  const runtime = new MeshRuntime({ mesh: 'cli', db, logger: silentLogger, source: SOURCE, control: { secrets: memorySecretStore('bench') }, ...(HISTORY === 'worker' ? { historyWorker: historyWorkerNextTo(import.meta.url) } : {}) });
  const handlers = runtime as unknown as Handlers;
  const samples: Sample[] = [];
  let maxBacklog = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    samples.push({ at: Date.now(), rss: m.rss, heap: m.heapUsed });
    maxBacklog = Math.max(maxBacklog, runtime.history.backlogBytes);
  }, 1000);
  try {
    // As a mesh session starts: the history's writer, then the runtime's timers (sweeps, failover, incidents, housekeeping).
    runtime.history.start();
    handlers.startTimers();

    const registered = Date.now();
    for (const [n, inst] of mesh.instances.entries()) {
      const body = encodeMeshEvent(
        'io.meshdeck.instance.register.v1',
        { service: inst.service, instanceId: inst.instanceId, zone: 'zone-a', address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`, weight: 100, heartbeatIntervalMs: 1000, agent: 'sidecar', startedAt: new Date().toISOString() },
        { source: SOURCE },
      );
      handlers.onRegistryMessage({ body, routingKey: routingKeys.register(inst.service, inst.instanceId) } as unknown as AsyncMessage, n);
      if ((n + 1) % ACK_BATCH === 0) await sleep(0);
    }
    runtime.flush({ consumer: `registry:cli`, stream: QUEUES.registryStream, offset: mesh.size - 1 }, true);
    await until(() => runtime.registry.size >= instances || null, `all ${instances} instances registered`, 60_000);
    say(`${instances} instances registered in ${((Date.now() - registered) / 1000).toFixed(1)} s`);

    const heartbeat = heartbeatTemplate(mesh, SOURCE);
    const consumer = telemetryConsumer('cli');
    let offset = 0;
    let lateSlots = 0;
    let slots = 0;
    let holds = 0;
    let heldMs = 0;
    /** Runs `seconds` of real time in slots of 100 ms: heartbeats, and with `telemetry` a batch per instance a second. */
    const live = async (seconds: number, telemetry: boolean) => {
      const slotMs = 1000 / SLOTS_PER_SECOND;
      const perSlot = Math.ceil(mesh.size / SLOTS_PER_SECOND);
      const t0 = Math.ceil(Date.now() / slotMs) * slotMs;
      for (let second = 0; second < seconds; second++) {
        for (let slot = 0; slot < SLOTS_PER_SECOND; slot++) {
          const due = t0 + second * 1000 + slot * slotMs;
          const wait = due - Date.now();
          if (wait > 0) await sleep(wait);
          else {
            if (wait < -slotMs) lateSlots += 1;
            await sleep(0); // the runtime's timers get their turn between slots, as between deliveries
          }
          slots += 1;
          for (let n = slot * perSlot; n < Math.min(mesh.size, (slot + 1) * perSlot); n++) {
            const inst = mesh.instances[n]!;
            handlers.onHeartbeatMessage({ body: heartbeat(n, second + 1), routingKey: routingKeys.heartbeat(inst.service, inst.instanceId) } as unknown as AsyncMessage);
            if (!telemetry) continue;
            const { body } = telemetryBody(mesh, n, due - 1000, `m${offset}`);
            handlers.onTelemetryMessage({ body, routingKey: inst.routingKey, deliveryTag: offset + 1, headers: { 'x-stream-offset': offset } } as unknown as AsyncMessage, offset);
            offset += 1;
            if (offset % ACK_BATCH !== 0) continue;
            runtime.history.commit({ consumer, stream: QUEUES.telemetryStream, offset: offset - 1 });
            // As the stream reader holds its acks (and the broker its deliveries) while the history's worker trails.
            if (runtime.history.backlogged) {
              const from = Date.now();
              holds += 1;
              await new Promise<void>((resolve) => {
                const off = runtime.history.onRoom(() => {
                  off();
                  resolve();
                });
              });
              heldMs += Date.now() - from;
            }
          }
        }
      }
    };

    const baselineFrom = Date.now();
    const cpu0 = process.cpuUsage();
    await live(BASELINE_S, false);
    const baselineCpu = process.cpuUsage(cpu0);
    const baseline = { ...phase(samples, baselineFrom + 10_000), cpuShare: (baselineCpu.user + baselineCpu.system) / 1e6 / BASELINE_S, detail: memoryText() };
    say(`baseline (heartbeats alone, ${BASELINE_S} s): RSS ${baseline.endMB.toFixed(0)} MB at the end (max ${baseline.maxMB.toFixed(0)}), heap ${baseline.heapEndMB.toFixed(0)} MB; CPU ${(baseline.cpuShare * 100).toFixed(0)} % of a core; slots late ${lateSlots}`);
    say(`  memory in detail: ${baseline.detail}`);
    say(`  ${threadsText(runtime)}`);
    if (HEAP_SNAPSHOT) say(`  heap snapshot: ${writeHeapSnapshot(import.meta.url, 'core-memory-baseline')}`);

    const loadedFrom = Date.now();
    const lateBefore = lateSlots;
    const slotsBefore = slots;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const gcWatch = watchGc();
    const cpu1 = process.cpuUsage();
    await live(DURATION_S, true);
    const loadedCpu = process.cpuUsage(cpu1);
    const gc = gcWatch.stop();
    loop.disable();
    const loaded = { ...phase(samples, loadedFrom), cpuShare: (loadedCpu.user + loadedCpu.system) / 1e6 / DURATION_S, detail: memoryText() };
    if (runtime.stats.telemetryBatches !== offset) throw new Error(`ingested ${runtime.stats.telemetryBatches} of ${offset} batches (dead-lettered ${runtime.stats.deadLettered})`);
    const structural = { liveEdges: runtime.edges.size, liveViewMB: runtime.edges.retainedBytes() / MB, signalCells: runtime.incidents.signals.cells };
    const late = lateSlots - lateBefore;
    say('');
    say(`loaded (${DURATION_S} s): ${offset} telemetry batches (${(offset / DURATION_S / 1000).toFixed(1)} k/s) and as many heartbeats; ${late} of ${slots - slotsBefore} slots started > 100 ms late; event loop held up p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms, max ${(loop.max / 1e6).toFixed(0)} ms`);
    say(`  core RSS at the end ${loaded.endMB.toFixed(0)} MB (max ${loaded.maxMB.toFixed(0)}); heap ${loaded.heapEndMB.toFixed(0)} MB (max ${loaded.heapMaxMB.toFixed(0)}); baseline ${baseline.endMB.toFixed(0)} MB`);
    say(`  memory in detail: ${loaded.detail}`);
    say(`  ${threadsText(runtime)}; bodies handed to it and not yet taken: max ${(maxBacklog / MB).toFixed(1)} MB (sampled each second), the stream held ${holds} times for ${(heldMs / 1000).toFixed(1)} s in all`);
    say(`  live view: ${structural.liveEdges} edges, ${structural.liveViewMB.toFixed(1)} MB structural; incident signals: ${structural.signalCells} cells`);
    say(`  CPU: ${(loaded.cpuShare * 100).toFixed(0)} % of one core (main and history threads; the messages are built here too); the main thread's garbage collection: ${gc.text}`);
    if (HEAP_SNAPSHOT) {
      say(`  heap snapshot: ${writeHeapSnapshot(import.meta.url, 'core-memory-end')}`);
      const worker = (runtime.history as unknown as { worker?: Worker }).worker;
      if (worker) say(`  the history worker's heap snapshot: ${await writeWorkerHeapSnapshot(import.meta.url, 'core-memory-end-worker', worker)}`);
    }
    const judged = FULL_SIZE && DURATION_S >= RSS_GOAL_MIN_S;
    say(
      judged
        ? `goal: core RSS ≤ ${RSS_GOAL_MB} MB after 10 minutes at the full size: ${loaded.endMB <= RSS_GOAL_MB ? 'met' : 'missed'} (${loaded.endMB.toFixed(0)} MB)${late > (slots - slotsBefore) / 100 ? `; the core fell behind real time in ${late} slots` : ''}`
        : `goal not judged (${FULL_SIZE ? '' : `${MESH.services} services, not the full 1 000; `}${DURATION_S < RSS_GOAL_MIN_S ? `${DURATION_S} s, not 10 minutes` : ''})`,
    );
    const file = writeResults(import.meta.url, 'core-memory', { date: new Date().toISOString(), host, mesh: MESH, durationS: DURATION_S, history: HISTORY, baseline, loaded, gc, structural, lateSlots: late, slots: slots - slotsBefore, samples, lines });
    say(`results: ${file}`);
  } finally {
    clearInterval(sampler);
    handlers.stopTimers();
    await runtime.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
