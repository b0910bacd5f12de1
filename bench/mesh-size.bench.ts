/**
 * The mesh size a core keeps live at 1 s resolution, and its memory: `npm run bench:mesh-size`.
 *
 * How it runs: bundled by vite (bench/vite.config.ts) into out/bench/mesh-size.bench.js, run with
 * plain `node`. On a vhost of the run's own (rabbitmqctl; deleted after):
 *
 *   parent     the core: createMeshCore (temp SQLite file, memory secret store, silent logger,
 *              command-line broker), as `meshdeck serve` runs it: registry, heartbeats, telemetry
 *              from the stream (live, from its tail), history at 1 s / 10 s / 1 min, compaction.
 *   publisher  a child process (`--role publisher`, bench/telemetry-load.ts): registers the
 *              synthetic mesh's 10 000 instances (1 000 services × 10, core/telemetry/synthetic-mesh.ts),
 *              then for DURATION seconds sends, every second, one telemetry batch per instance
 *              (3 edges each: 30 000 service-to-service edges, 10 000 batches/s) and one heartbeat
 *              per instance (10 000/s), spread over 10 slots of 100 ms. A batch sent at T covers
 *              [T − 1000, T), as an agent's own window does.
 *
 * Measured: ingest lag = (time the core ingested the batch − its window end), per batch, into a
 * 1 ms histogram (the history's ingest() wrapped with a timer): p50/p90/p99/max over the run and
 * after the first WARMUP_S seconds; batches published vs ingested per second; heartbeats applied;
 * the core's RSS and V8 heap every second (at the end and the maximum); CPU of the core, the
 * publisher, the broker and other processes; the core's event-loop stalls; its history writes
 * (duration per write) and how far compaction trails (now − compacted-through). The baseline of
 * the same run: the core with the same instances registered and heartbeating but no telemetry,
 * for BASELINE_S seconds — its RSS and CPU — printed next to the loaded figures.
 *
 * Goals (the issue's): 1 000 services, 10 000 instances, 30 000 edges kept live with ingest lag
 * ≤ 1 s (judged on the p99 after warm-up, and nothing lost); core RSS ≤ 200 MB after 10 minutes
 * at that size (judged only for runs of 10 minutes or more).
 *
 * Options: `--duration SECONDS` (default 600, the recorded run), `--smoke` (= --duration 30, for
 * development), `--services N` (a mesh of N services of the same shape, to find the largest this
 * machine keeps live; the goals are judged only at 1 000), `--no-heartbeats` (telemetry alone), `--baseline-only` (stop after the baseline),
 * `--v8-defaults` (V8's own heap sizing instead of the hosts' tuneHeap(), core/lib/heap.ts),
 * `--history inline` (the history written on the core's main thread, not its worker thread as the
 * hosts run it), `--heap-snapshot` (V8 heap snapshots of the core after the baseline and at the end, in
 * bench/results/profiles/; `node out/bench/heap-summary.js FILE` sums them by constructor).
 * Profiling the core: `node --cpu-prof --cpu-prof-dir bench/results/profiles out/bench/mesh-size.bench.js --smoke`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createMeshCore } from '../core/app.js';
import { tuneHeap } from '../core/lib/heap.js';
import { silentLogger } from '../core/lib/log.js';
import { memorySecretStore } from '../core/secrets/secret-store.js';
import { Child, benchVhost, historyWorkerNextTo, memoryText, sleep, until, waitForQuiet, writeHeapSnapshot, writeResults, type Message } from './lib.js';
import { ENCODING, FULL_MESH, LagHistogram, meshShape, cpuSpan, cpuText, disturbed, option, publisherRole, runContext } from './telemetry-load.js';

const DURATION_S = process.argv.includes('--smoke') ? 30 : Number(option('duration') ?? 600);
const HEARTBEATS = !process.argv.includes('--no-heartbeats');
const HEAP_SNAPSHOT = process.argv.includes('--heap-snapshot');
const BASELINE_ONLY = process.argv.includes('--baseline-only');
const HISTORY = option('history') === 'inline' ? 'inline' : 'worker';
const MESH = meshShape();
/** Whether this run is at the size the goals name (a `--services` run below it is not judged against them). */
const FULL_SIZE = MESH.services === FULL_MESH.services;
const INSTANCES = MESH.services * MESH.instancesPerService;
const EDGES = INSTANCES * MESH.edgesPerInstance;
const WARMUP_S = Math.min(30, Math.floor(DURATION_S / 5));
const BASELINE_S = 10;
const LAG_GOAL_MS = 1000;
const RSS_GOAL_MB = 200;
const RSS_GOAL_MIN_S = 600;
const DRAIN_WAIT_MS = 60_000;

const MB = 2 ** 20;

async function parent(): Promise<void> {
  // The heaps as the hosts size them (core/lib/heap.ts), unless `--v8-defaults`.
  if (!process.argv.includes('--v8-defaults')) tuneHeap();
  const { script, host, run, lines, say } = runContext(import.meta.url);
  say(`Mesh size: ${MESH.services} services, ${INSTANCES} instances, ${EDGES} edges kept live at 1 s for ${DURATION_S} s${HEARTBEATS ? ' (with heartbeats)' : ' (telemetry only)'}; history written ${HISTORY === 'worker' ? 'on its worker thread' : 'on the main thread'}`);
  say(host.text);
  const vhost = benchVhost('meshdeck-bench-mesh-size');
  const dir = mkdtempSync(join(tmpdir(), 'meshdeck-bench-mesh-size-'));
  const core = createMeshCore({ databasePath: join(dir, 'meshdeck.db'), secrets: memorySecretStore('bench'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url, ...(HISTORY === 'worker' ? { historyWorker: historyWorkerNextTo(import.meta.url) } : {}) });
  let publisher: Child | null = null;
  let exitCode = 0;
  try {
    const mesh = await until(() => (core.meshes.get('cli')?.active ? core.meshes.get('cli') : null), 'the core mesh session', 30_000);
    publisher = new Child('publisher', script, ['--role', 'publisher', '--broker', vhost.url, '--run', run, '--encoding', ENCODING, '--services', String(MESH.services)]);
    await publisher.next('ready', 30_000);
    const registered = await publisher.request<Message & { ms: number }>({ type: 'register' }, 'registered', 120_000);
    await until(() => mesh.stats.registered >= INSTANCES, `all ${INSTANCES} instances registered`, 120_000, 20);
    say(`broker 127.0.0.1:5672, vhost ${vhost.name}; ${INSTANCES} instances registered (published in ${(registered.ms / 1000).toFixed(1)} s)`);

    // Lag per batch, at the moment the core's main thread takes it (the history's ingest, wrapped with a timer).
    const lag = new LagHistogram();
    const lagAfterWarmup = new LagHistogram();
    let warm = false;
    let ingested = 0;
    const ingest = mesh.history.ingest.bind(mesh.history);
    mesh.history.ingest = (batch, body, at) => {
      const ms = Date.now() - (batch.windowStart + batch.windowMs);
      lag.add(ms);
      if (warm) lagAfterWarmup.add(ms);
      ingested += 1;
      ingest(batch, body, at);
    };
    const writes: number[] = [];
    const offWrite = mesh.history.onWrite((w) => writes.push(w.ms));
    // The main thread's own periodic write (registry changes, last-seen times): with the history on
    // its worker thread, a registry commit waits while a history transaction holds the database.
    const registryCommits: number[] = [];
    const commit = mesh.store.commit.bind(mesh.store);
    mesh.store.commit = (...args) => {
      const t = performance.now();
      try {
        return commit(...args);
      } finally {
        registryCommits.push(performance.now() - t);
      }
    };

    // Baseline: the same core with the same instances heartbeating, no telemetry.
    const gate = await waitForQuiet([process.pid, publisher.process.pid ?? -1], 0.3, 30_000);
    say(gate.quiet ? `machine quiet (other processes ${gate.busyCores.toFixed(2)} cores)` : `machine still busy after ${(gate.waitedMs / 1000).toFixed(0)} s (other processes ${gate.busyCores.toFixed(2)} cores): measuring anyway`);
    const idleCpu = await cpuSpan(publisher);
    await publisher.request({ type: 'live', seconds: BASELINE_S, heartbeats: HEARTBEATS, telemetry: false }, 'live-done', (BASELINE_S + 60) * 1000);
    const baseline = { cpu: await idleCpu(), rssMB: process.memoryUsage.rss() / MB, heapMB: process.memoryUsage().heapUsed / MB };
    if (HEAP_SNAPSHOT) say(`heap snapshot after the baseline: ${writeHeapSnapshot(import.meta.url, 'mesh-size-baseline')}`);
    if (BASELINE_ONLY) {
      say(`baseline only: ${INSTANCES} instances heartbeating, no telemetry: RSS ${baseline.rssMB.toFixed(0)} MB, heap ${baseline.heapMB.toFixed(0)} MB; ${cpuText(baseline.cpu)}`);
      say(`memory in detail: ${memoryText()}`);
      return;
    }

    let published = 0;
    publisher.process.on('message', (raw) => {
      const m = raw as Message;
      if (m.type === 'progress') published = m.published as number;
      else if (m.type === 'failed') console.error(`publisher failed: ${String(m.error)}`);
    });
    const samples: Array<{ at: number; rss: number; heap: number; ingested: number; published: number; heartbeats: number; compactionTrailS: number | null }> = [];
    const hb0 = mesh.stats.heartbeats;
    // How far compaction trails (s); null until the history has compacted anything (through 0).
    const compactionTrail = () => (mesh.history.compactedThrough > 0 ? (Date.now() - mesh.history.compactedThrough) / 1000 : null);
    const sample = () => {
      const mem = process.memoryUsage();
      samples.push({ at: Date.now(), rss: mem.rss, heap: mem.heapUsed, ingested, published, heartbeats: mesh.stats.heartbeats - hb0, compactionTrailS: compactionTrail() });
    };
    const sampler = setInterval(sample, 1000);
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const warmTimer = setTimeout(() => (warm = true), WARMUP_S * 1000);
    const loaded = await cpuSpan(publisher);
    const done = await publisher.request<Message & { started: number; finished: number; published: number; lateSlots: number; skippedSlots: number }>(
      { type: 'live', seconds: DURATION_S, heartbeats: HEARTBEATS },
      'live-done',
      (DURATION_S + 120) * 1000,
    );
    const cpu = await loaded();
    clearTimeout(warmTimer);
    sample();
    const atEnd = { rssMB: process.memoryUsage.rss() / MB, heapMB: process.memoryUsage().heapUsed / MB, detail: memoryText() };
    if (HEAP_SNAPSHOT) say(`heap snapshot at the end: ${writeHeapSnapshot(import.meta.url, 'mesh-size-end')}`);
    // Drain: how long after the last publish until the core has ingested every batch.
    const drainDeadline = Date.now() + DRAIN_WAIT_MS;
    let drainMs: number | null = null;
    while (Date.now() < drainDeadline) {
      if (ingested >= done.published) {
        drainMs = Math.max(0, Date.now() - done.finished);
        break;
      }
      await sleep(20);
    }
    const missingAtDeadline = done.published - ingested;
    clearInterval(sampler);
    loop.disable();
    mesh.history.ingest = ingest;
    offWrite();
    mesh.store.commit = commit;

    const stall = (ns: number) => Math.max(0, ns / 1e6 - 1);
    const all = lag.summary();
    const steady = lagAfterWarmup.summary();
    const seconds = (done.finished - done.started) / 1000;
    const rssMaxMB = Math.max(...samples.map((s) => s.rss)) / MB;
    const heapMaxMB = Math.max(...samples.map((s) => s.heap)) / MB;
    const sortedWrites = [...writes].sort((a, b) => a - b);
    const sortedCommits = [...registryCommits].sort((a, b) => a - b);
    const trail = samples.map((s) => s.compactionTrailS).filter((s) => s !== null);
    const perSecond = samples.slice(1).map((s, i) => ({ published: s.published - samples[i]!.published, ingested: s.ingested - samples[i]!.ingested }));
    say('');
    say(`published ${done.published} batches in ${seconds.toFixed(1)} s = ${(done.published / seconds / 1000).toFixed(1)} k/s (target ${INSTANCES / 1000} k/s; ${done.lateSlots} slots late by > 100 ms, ${done.skippedSlots} of ${DURATION_S * 10} skipped by a publisher a second behind)${HEARTBEATS ? ` + as many heartbeats` : ''}`);
    say(`ingested ${ingested}; ${drainMs === null ? `NOT all within ${DRAIN_WAIT_MS / 1000} s of the last publish (${missingAtDeadline} still to ingest then)` : `all ${drainMs} ms after the last publish`}; heartbeats applied ${mesh.stats.heartbeats - hb0}`);
    // The synthetic mesh is healthy: automatic ejections are work (evaluation, audit, endpoint pushes) a real healthy mesh would not cause.
    const transitions = mesh.failoverTransitions();
    const ejections = transitions.filter((t) => t.to === 'ejected');
    say(`automatic ejections: ${ejections.length}${transitions.length >= 1000 ? ' or more (the core keeps its last 1 000 transitions)' : ''}${ejections[0] ? ` (first: ${ejections[0].service}/${ejections[0].instanceId}, ${ejections[0].reason.slice(0, 100)})` : ''}`);
    say(`per second (published/ingested, k): ${perSecond.filter((_, i) => i % Math.max(1, Math.floor(perSecond.length / 20)) === 0).map((w) => `${(w.published / 1000).toFixed(1)}/${(w.ingested / 1000).toFixed(1)}`).join('  ')}`);
    say(`ingest lag (ingested − window end), ms: all p50 ${all.p50} p90 ${all.p90} p99 ${all.p99} max ${all.max}; after ${WARMUP_S} s warm-up p50 ${steady.p50} p90 ${steady.p90} p99 ${steady.p99} max ${steady.max}`);
    say(`core memory: RSS ${atEnd.rssMB.toFixed(0)} MB at the end, max ${rssMaxMB.toFixed(0)} MB; heap ${atEnd.heapMB.toFixed(0)} MB at the end, max ${heapMaxMB.toFixed(0)} MB   (baseline, ${INSTANCES} instances heartbeating, no telemetry: RSS ${baseline.rssMB.toFixed(0)} MB, heap ${baseline.heapMB.toFixed(0)} MB)`);
    say(`core memory in detail at the end: ${atEnd.detail}`);
    say(`${cpuText(cpu)}`);
    say(`baseline ${cpuText(baseline.cpu)}`);
    say(`core event loop held up: p50 ${stall(loop.percentile(50)).toFixed(1)} ms, p99 ${stall(loop.percentile(99)).toFixed(1)} ms, max ${stall(loop.max).toFixed(0)} ms`);
    say(
      `history writes: ${writes.length}, p50 ${(sortedWrites[sortedWrites.length >> 1] ?? 0).toFixed(0)} ms, p99 ${(sortedWrites[Math.floor(sortedWrites.length * 0.99)] ?? 0).toFixed(0)} ms, max ${(sortedWrites.at(-1) ?? 0).toFixed(0)} ms; ` +
        `compaction trails now by ${(trail.at(-1) ?? 0).toFixed(0)} s (max ${Math.max(0, ...trail).toFixed(0)} s); ${mesh.history.stats.windowsWritten} windows written`,
    );
    say(
      `registry writes (main thread; ${mesh.stats.registryWritesDeferred} tries deferred while the history held the database): ${registryCommits.length}, p50 ${(sortedCommits[sortedCommits.length >> 1] ?? 0).toFixed(1)} ms, p99 ${(sortedCommits[Math.floor(sortedCommits.length * 0.99)] ?? 0).toFixed(1)} ms, max ${(sortedCommits.at(-1) ?? 0).toFixed(0)} ms`,
    );
    const isDisturbed = disturbed(cpu);
    if (isDisturbed) say('WARNING: other work took more than 0.25 cores (besides the broker) meanwhile: the figures include its interference');
    const lagMet = steady.p99 <= LAG_GOAL_MS && drainMs !== null;
    const rssJudged = FULL_SIZE && DURATION_S >= RSS_GOAL_MIN_S;
    const rssMet = atEnd.rssMB <= RSS_GOAL_MB;
    say('');
    if (FULL_SIZE) say(`live at ${INSTANCES} instances / ${EDGES} edges with lag p99 <= ${LAG_GOAL_MS} ms after warm-up, nothing lost: ${lagMet ? 'MET' : 'MISSED'} (p99 ${steady.p99} ms)`);
    else say(`at ${MESH.services} services (${INSTANCES} instances / ${EDGES} edges), lag p99 <= ${LAG_GOAL_MS} ms after warm-up, nothing lost: ${lagMet ? 'held' : 'not held'} (p99 ${steady.p99} ms); the goals' size, ${FULL_MESH.services} services, not judged in this run`);
    say(`core RSS <= ${RSS_GOAL_MB} MB after ${RSS_GOAL_MIN_S / 60} min: ${rssJudged ? (rssMet ? 'MET' : 'MISSED') : `not judged (${FULL_SIZE ? `run of ${DURATION_S} s` : `${MESH.services} services`})`} (${atEnd.rssMB.toFixed(0)} MB after ${DURATION_S} s)`);
    const file = writeResults(import.meta.url, 'mesh-size', {
      benchmark: 'mesh-size',
      date: new Date().toISOString(),
      machine: host,
      method: { ...MESH, instances: INSTANCES, edges: EDGES, durationS: DURATION_S, heartbeats: HEARTBEATS, warmupS: WARMUP_S, baselineS: BASELINE_S },
      published: done.published,
      ingested,
      drainMs,
      lagMs: { all, afterWarmup: steady },
      memoryMB: { end: atEnd, rssMax: rssMaxMB, heapMax: heapMaxMB, baseline: { rss: baseline.rssMB, heap: baseline.heapMB } },
      cpu,
      baselineCpu: baseline.cpu,
      history: HISTORY,
      historyWritesMs: { n: writes.length, p50: sortedWrites[sortedWrites.length >> 1] ?? null, max: sortedWrites.at(-1) ?? null },
      registryWritesMs: { n: registryCommits.length, p50: sortedCommits[sortedCommits.length >> 1] ?? null, max: sortedCommits.at(-1) ?? null },
      compactionTrailS: { end: trail.at(-1) ?? null, max: Math.max(0, ...trail) },
      samples,
      disturbed: isDisturbed,
      goals: { fullSize: FULL_SIZE, lag: { met: lagMet, p99: steady.p99 }, rss: { judged: rssJudged, met: rssMet, mb: atEnd.rssMB } },
      lines,
    });
    console.log(`Wrote ${file}`);
    if ((FULL_SIZE && !lagMet) || (rssJudged && !rssMet)) exitCode = 1;
  } catch (err) {
    console.error(err);
    exitCode = 2;
  } finally {
    await publisher?.stop().catch(() => undefined);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
    vhost.remove();
  }
  process.exit(exitCode);
}

const role = option('role') ?? 'parent';
if (role === 'publisher') void publisherRole();
else void parent();
