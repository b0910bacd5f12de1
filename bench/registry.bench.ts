/**
 * Registry register + heartbeat handling rate for 10 000 instances: `npm run bench:registry`.
 *
 * How it runs: the npm script bundles this file (with core/) with vite (bench/vite.config.ts) into
 * out/bench/registry.bench.js and runs it with plain `node`. Parts, by `--role`:
 *
 * Part A, pure (a fresh child process, `--role pure`, so its JIT state is its own): the Registry
 * of core/registry/registry.ts with 10 000 instances (1 000 services × 10). Each figure is the
 * median of RUNS runs:
 *   register          register() of all 10 000 into a new Registry
 *   heartbeat         HB_ROUNDS rounds of heartbeat() for all 10 000 (seq and clock advance)
 *   sweep             sweep() over 10 000 live instances, nothing expiring (the core runs it
 *                     every 250 ms), and a sweep that marks all 10 000 down
 *   decode+heartbeat  what the core does per heartbeat message short of the AMQP client:
 *                     decodeMeshEvent() of the encoded body (JSON + zod) then heartbeat()
 * Baselines in the same process: a plain Map keyed "service/instanceId" — set() of a new
 * object per instance, get() + two field writes per heartbeat, a loop over the values with a
 * comparison for the sweep, and JSON.parse() + Map get() for decode+heartbeat.
 *
 * Part B, end to end on the broker (amqp://guest:guest@127.0.0.1:5672, on a vhost of the run's
 * own made with rabbitmqctl and deleted after, so the core sees only this run's messages):
 *   parent     the core: createMeshCore (temp SQLite file, memory secret store, silent logger,
 *              command-line broker) — MeshRuntime consumes registrations from the registry
 *              stream and heartbeats from its own queue, persists to SQLite, pushes endpoint sets.
 *   publisher  a child process (`--role publisher`, rabbitmq-client, no publisher confirms):
 *              publishes encodeMeshEvent() register messages for the 10 000 instances (service
 *              names unique to the run) as fast as it can, then heartbeats for all of them,
 *              HB_RATE_ROUNDS rounds at one round per second, each round spread over 10 slots of
 *              100 ms (1 000 messages per slot) = 10 000 messages/s, to the protocol's exchange
 *              and routing keys (EXCHANGES.registry, routingKeys.register / .heartbeat).
 * The parent samples the core's counters (core.meshes.get('cli').stats: registered, heartbeats)
 * every SAMPLE_MS and reports: time from the first registration published until all 10 000 are
 * in the registry; heartbeats applied per second next to published per second (per second of
 * the run and over the whole phase); the lag (published − applied) at its worst; how long after
 * the last publish the core has applied everything; messages lost (the heartbeat queue holds at
 * most 100 000); the CPU (share of one core) and RSS of the core process and of the publisher,
 * the broker's CPU and other processes' (from /proc/<pid>/stat); the core's CPU µs per heartbeat
 * once all are registered. Where the core's time goes: how long its event loop was held up
 * (monitorEventLoopDelay), and the time in its SQLite commits and endpoint-set pushes (their
 * methods wrapped with timers, for diagnostics). Part B starts once other processes use less
 * than QUIET_CORES (waiting at most QUIET_WAIT_MS); a run where they used more than
 * DISTURBED_CORES (the broker aside), or with steal time (the hypervisor running other guests)
 * above DISTURBED_STEAL_CORES, is flagged as disturbed.
 *
 * Goal (set here: the issue asks whether the core keeps up): with 10 000 instances heartbeating
 * once a second, all are registered, and the core applies every heartbeat published — none lost,
 * the backlog gone within DRAIN_GOAL_MS of the last publish. Otherwise the exit code is 1.
 * Results go to bench/results/registry.json (gitignored).
 *
 * Profiling the core: `node --cpu-prof --cpu-prof-dir bench/results/profiles out/bench/registry.bench.js`
 * (after a build) profiles the parent, i.e. the core; children get no --cpu-prof.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Connection } from 'rabbitmq-client';
import { createMeshCore } from '../core/app.js';
import { silentLogger } from '../core/lib/log.js';
import { decodeMeshEvent, encodeMeshEvent } from '../core/protocol/codec.js';
import type { InstanceHeartbeat, InstanceRegister } from '../core/protocol/messages.js';
import { CONTENT_TYPE, EXCHANGES, routingKeys } from '../core/protocol/topology.js';
import { Registry } from '../core/registry/registry.js';
import { memorySecretStore } from '../core/secrets/secret-store.js';
import { benchVhost, Child, machine, median, type Message, option, otherLoad, pad, processCpu, sleep, toParent, until, usage, type Usage, waitForQuiet, writeResults } from './lib.js';

const SERVICES = 1000;
const PER_SERVICE = 10;
const INSTANCES = SERVICES * PER_SERVICE;
const RUNS = 7;
const HB_ROUNDS = 10;
const HB_RATE_ROUNDS = 10;
const SLOTS_PER_SECOND = 10;
const SAMPLE_MS = 100;
const DRAIN_GOAL_MS = 2000;
const DRAIN_WAIT_MS = 15_000;
/** Wait up to QUIET_WAIT_MS for other processes to use fewer than QUIET_CORES before Part B. */
const QUIET_CORES = 0.3;
const QUIET_WAIT_MS = 30_000;
/** Above this much CPU used by other processes (the broker aside) during Part B, the run is flagged as disturbed. */
const DISTURBED_CORES = 0.25;
/** … or above this much steal (the hypervisor running other guests on our cores). */
const DISTURBED_STEAL_CORES = 0.05;

function names(run: string): Array<{ service: string; instanceId: string }> {
  const out: Array<{ service: string; instanceId: string }> = [];
  for (let s = 0; s < SERVICES; s++) {
    const service = `bench-${run}-svc-${s}`;
    for (let i = 0; i < PER_SERVICE; i++) out.push({ service, instanceId: `${service}-${i}` });
  }
  return out;
}

function registerData(service: string, instanceId: string, n: number): InstanceRegister {
  return {
    service,
    instanceId,
    zone: n % 2 ? 'zone-b' : 'zone-a',
    address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`,
    weight: 100,
    version: '1.0.0',
    metadata: {},
    capacity: 0,
    heartbeatIntervalMs: 1000,
    agent: 'sidecar',
    startedAt: new Date().toISOString(),
  };
}

function heartbeatData(service: string, instanceId: string, seq: number): InstanceHeartbeat {
  return { service, instanceId, seq, state: 'serving', weight: 100, inflight: 0, activeCommands: [] };
}

// --- Part A: pure ---------------------------------------------------------------------------

interface PureResult {
  registerNs: { registry: number; map: number };
  heartbeatNs: { registry: number; map: number };
  sweepMs: { registry: number; map: number };
  sweepAllDownMs: number;
  decodeHeartbeatNs: { registry: number; map: number };
  decodeOnlyNs: number;
}

interface MapEntry {
  service: string;
  instanceId: string;
  address: string;
  state: string;
  lastSeen: number;
  seq: number;
}

function pure(): PureResult {
  const ids = names('pure');
  const registrations = ids.map(({ service, instanceId }, n) => registerData(service, instanceId, n));
  const heartbeats = ids.map(({ service, instanceId }) => heartbeatData(service, instanceId, 0));
  const keys = ids.map(({ service, instanceId }) => `${service}/${instanceId}`);
  const encoded = ids.map(({ service, instanceId }) => encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', heartbeatData(service, instanceId, 1), { source: 'meshdeck://bench/pure' }));
  const expected = ['io.meshdeck.instance.heartbeat.v1'] as const;
  const now0 = 1_800_000_000_000;
  const ns = (fn: () => void): number => {
    const t = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t);
  };
  const filled = (): Registry => {
    const registry = new Registry();
    for (const r of registrations) registry.register(r, now0);
    return registry;
  };
  const filledMap = (): Map<string, MapEntry> => {
    const map = new Map<string, MapEntry>();
    for (let i = 0; i < INSTANCES; i++) {
      const r = registrations[i]!;
      map.set(keys[i]!, { service: r.service, instanceId: r.instanceId, address: r.address, state: 'healthy', lastSeen: now0, seq: 0 });
    }
    return map;
  };

  // Warm-up: every loop once at full size.
  for (let w = 0; w < 3; w++) {
    const registry = filled();
    for (const h of heartbeats) registry.heartbeat(h, now0 + 1000);
    registry.sweep(now0 + 1000);
    filledMap();
    for (const body of encoded) decodeMeshEvent(body, expected);
  }

  const reg: number[] = [];
  const regMap: number[] = [];
  const hb: number[] = [];
  const hbMap: number[] = [];
  const sweep: number[] = [];
  const sweepMap: number[] = [];
  const sweepDown: number[] = [];
  const dec: number[] = [];
  const decMap: number[] = [];
  const decOnly: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let registry = new Registry();
    reg.push(ns(() => {
      for (const r of registrations) registry.register(r, now0);
    }) / INSTANCES);
    let map = new Map<string, MapEntry>();
    regMap.push(ns(() => {
      map = filledMap();
    }) / INSTANCES);

    let now = now0;
    hb.push(ns(() => {
      for (let round = 1; round <= HB_ROUNDS; round++) {
        now += 1000;
        for (const h of heartbeats) {
          h.seq = round;
          registry.heartbeat(h, now);
        }
      }
    }) / (INSTANCES * HB_ROUNDS));
    let mapNow = now0;
    hbMap.push(ns(() => {
      for (let round = 1; round <= HB_ROUNDS; round++) {
        mapNow += 1000;
        for (let i = 0; i < INSTANCES; i++) {
          const entry = map.get(keys[i]!)!;
          entry.lastSeen = mapNow;
          entry.seq = round;
        }
      }
    }) / (INSTANCES * HB_ROUNDS));

    sweep.push(ns(() => registry.sweep(now + 500)) / 1e6);
    let expired = 0;
    sweepMap.push(ns(() => {
      for (const entry of map.values()) if (now + 500 - entry.lastSeen > 3000) expired += 1;
    }) / 1e6);
    if (expired !== 0) throw new Error('baseline sweep: nothing should expire');
    sweepDown.push(ns(() => registry.sweep(now + 10_000)) / 1e6);

    registry = filled();
    dec.push(ns(() => {
      for (const body of encoded) {
        const result = decodeMeshEvent(body, expected);
        if (result.ok) registry.heartbeat(result.event.data as InstanceHeartbeat, now0 + 1000);
      }
    }) / INSTANCES);
    decMap.push(ns(() => {
      for (const body of encoded) {
        const parsed = JSON.parse(body.toString()) as { data: { service: string; instanceId: string; seq: number } };
        const entry = map.get(`${parsed.data.service}/${parsed.data.instanceId}`);
        if (entry) entry.seq = parsed.data.seq;
      }
    }) / INSTANCES);
    decOnly.push(ns(() => {
      for (const body of encoded) decodeMeshEvent(body, expected);
    }) / INSTANCES);
  }
  return {
    registerNs: { registry: median(reg), map: median(regMap) },
    heartbeatNs: { registry: median(hb), map: median(hbMap) },
    sweepMs: { registry: median(sweep), map: median(sweepMap) },
    sweepAllDownMs: median(sweepDown),
    decodeHeartbeatNs: { registry: median(dec), map: median(decMap) },
    decodeOnlyNs: median(decOnly),
  };
}

// --- Part B: publisher (child) ------------------------------------------------------------

async function publisherRole(): Promise<void> {
  const broker = option('broker');
  const run = option('run');
  const ids = names(run);
  const source = `meshdeck://bench/publisher-${process.pid}`;
  const connection = new Connection({ url: broker, connectionName: 'meshdeck-bench-publisher' });
  await connection.onConnect(10_000);
  const publisher = connection.createPublisher({ confirm: false });
  let stopping = false;

  const registerAll = async () => {
    const started = Date.now();
    let pending: Array<Promise<void>> = [];
    for (let n = 0; n < ids.length; n++) {
      const { service, instanceId } = ids[n]!;
      const body = encodeMeshEvent('io.meshdeck.instance.register.v1', registerData(service, instanceId, n), { source });
      pending.push(publisher.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.register(service, instanceId), contentType: CONTENT_TYPE, durable: true }, body));
      if (pending.length >= 500) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    toParent({ type: 'registered', started, finished: Date.now(), count: ids.length });
  };

  const heartbeatAll = async (rounds: number) => {
    const perSlot = Math.ceil(ids.length / SLOTS_PER_SECOND);
    const slotMs = 1000 / SLOTS_PER_SECOND;
    const t0 = Date.now();
    let published = 0;
    let late = 0;
    for (let round = 0; round < rounds && !stopping; round++) {
      for (let slot = 0; slot < SLOTS_PER_SECOND && !stopping; slot++) {
        const due = t0 + round * 1000 + slot * slotMs;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        else if (wait < -slotMs) late += 1;
        const pending: Array<Promise<void>> = [];
        for (let n = slot * perSlot; n < Math.min(ids.length, (slot + 1) * perSlot); n++) {
          const { service, instanceId } = ids[n]!;
          const body = encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', heartbeatData(service, instanceId, round + 1), { source });
          pending.push(publisher.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.heartbeat(service, instanceId), contentType: CONTENT_TYPE }, body));
        }
        await Promise.all(pending);
        published += pending.length;
        toParent({ type: 'progress', published, at: Date.now() });
      }
    }
    toParent({ type: 'heartbeats-done', started: t0, finished: Date.now(), published, lateSlots: late });
  };

  process.on('message', (raw) => {
    const message = raw as Message;
    if (message.type === 'usage') toParent(usage());
    if (message.type === 'register') void registerAll().catch((err: unknown) => toParent({ type: 'failed', error: String(err) }));
    if (message.type === 'heartbeats') void heartbeatAll(message.rounds as number).catch((err: unknown) => toParent({ type: 'failed', error: String(err) }));
    if (message.type === 'stop') {
      stopping = true;
      void publisher
        .close()
        .then(() => connection.close())
        .finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  toParent({ type: 'ready' });
}

// --- parent -----------------------------------------------------------------------------------

interface Sample {
  at: number;
  registered: number;
  instances: number;
  heartbeats: number;
  published: number;
  rss: number;
}

function fmtRate(perSecond: number): string {
  return perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)} M/s` : `${(perSecond / 1e3).toFixed(1)} k/s`;
}

async function partB(script: string, run: string, pureDecodeHeartbeatNs: number): Promise<Record<string, unknown> & { met: boolean; lines: string[] }> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    console.log(line);
  };
  const vhost = benchVhost('meshdeck-bench-registry');
  const dir = mkdtempSync(join(tmpdir(), 'meshdeck-bench-registry-'));
  const core = createMeshCore({ databasePath: join(dir, 'meshdeck.db'), secrets: memorySecretStore('bench'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url });
  let publisher: Child | null = null;
  try {
    say(`broker 127.0.0.1:5672, vhost ${vhost.name}; services bench-${run}-svc-0..${SERVICES - 1}`);
    const mesh = await until(() => (core.meshes.get('cli')?.active ? core.meshes.get('cli') : null), 'the core mesh session', 30_000);
    publisher = new Child('publisher', script, ['--role', 'publisher', '--broker', vhost.url, '--run', run]);
    await publisher.next('ready', 20_000);

    let published = 0;
    const progress: Array<{ at: number; published: number }> = [];
    publisher.process.on('message', (raw) => {
      const m = raw as Message;
      if (m.type === 'progress') {
        published = m.published as number;
        progress.push({ at: m.at as number, published });
      }
      if (m.type === 'failed') console.error(`publisher failed: ${String(m.error)}`);
    });
    const samples: Sample[] = [];
    const base = { ...mesh.stats };
    const sample = () =>
      samples.push({
        at: Date.now(),
        registered: mesh.stats.registered - base.registered,
        instances: mesh.registry.size,
        heartbeats: mesh.stats.heartbeats - base.heartbeats,
        published,
        rss: process.memoryUsage.rss(),
      });
    const sampler = setInterval(sample, SAMPLE_MS);
    // How long the core's event loop is held up (SQLite flushes, bursts of messages): the
    // histogram holds the intervals of a 1-ms timer, so a stall is the value minus 1 ms.
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    // Diagnostics: time spent in the registry's SQLite commits (wrapping the store's method).
    const commits: Array<{ ms: number; instances: number; changes: number; touched: number }> = [];
    const store = mesh.store;
    const commit = store.commit.bind(store);
    store.commit = (batch, options) => {
      const t = performance.now();
      const written = commit(batch, options);
      commits.push({ ms: performance.now() - t, instances: batch.instances.length, changes: batch.changes.length, touched: batch.touched.length });
      return written;
    };
    // … and in the coalesced endpoint-set pushes (a private method: wrapped for diagnostics only).
    const pushes: number[] = [];
    const runtime = mesh as unknown as { pushEndpoints: () => void };
    const pushEndpoints = runtime.pushEndpoints.bind(mesh);
    runtime.pushEndpoints = () => {
      const t = performance.now();
      pushEndpoints();
      pushes.push(performance.now() - t);
    };

    const gate = await waitForQuiet([process.pid, publisher.process.pid ?? -1], QUIET_CORES, QUIET_WAIT_MS);
    say(
      gate.quiet
        ? `machine quiet (other processes ${gate.busyCores.toFixed(2)} cores)${gate.waitedMs > 2500 ? ` after waiting ${(gate.waitedMs / 1000).toFixed(0)} s` : ''}`
        : `machine still busy after ${(gate.waitedMs / 1000).toFixed(0)} s (other processes ${gate.busyCores.toFixed(2)} cores): measuring anyway`,
    );
    // Registrations, then heartbeats right away (as agents do: they heartbeat from the start).
    const coreBefore = usage();
    const cpuBefore = processCpu();
    const pubBefore = await publisher.request<Usage>({ type: 'usage' }, 'usage', 5000);
    const registered = await publisher.request<Message & { started: number; finished: number }>({ type: 'register' }, 'registered', 60_000);
    const heartbeatsDone = publisher.request<Message & { started: number; finished: number; published: number; lateSlots: number }>(
      { type: 'heartbeats', rounds: HB_RATE_ROUNDS },
      'heartbeats-done',
      (HB_RATE_ROUNDS + 60) * 1000,
    );
    const allIn = await until(() => (mesh.registry.size >= INSTANCES ? Date.now() : 0), `all ${INSTANCES} instances registered`, 60_000, 5).catch(() => null);
    // From here on the core only handles heartbeats (and its timers): the steady state.
    const steadyBefore = { usage: usage(), heartbeats: mesh.stats.heartbeats };
    const done = await heartbeatsDone;
    const drainDeadline = Date.now() + DRAIN_WAIT_MS;
    let drainedAt: number | null = null;
    while (Date.now() < drainDeadline) {
      if (mesh.stats.heartbeats - base.heartbeats >= done.published) {
        drainedAt = Date.now();
        break;
      }
      await sleep(5);
    }
    const coreAfter = usage();
    const steadySeconds = (coreAfter.at - steadyBefore.usage.at) / 1000;
    const steadyCpu = (coreAfter.user - steadyBefore.usage.user + coreAfter.system - steadyBefore.usage.system) / 1e6;
    const steadyHeartbeats = mesh.stats.heartbeats - steadyBefore.heartbeats;
    const steady = { seconds: steadySeconds, heartbeats: steadyHeartbeats, coreShare: steadyCpu / steadySeconds, cpuUsPerHeartbeat: (steadyCpu * 1e6) / steadyHeartbeats };
    const cpuAfter = processCpu();
    const pubAfter = await publisher.request<Usage>({ type: 'usage' }, 'usage', 5000);
    clearInterval(sampler);
    loopDelay.disable();
    sample();
    store.commit = commit;
    runtime.pushEndpoints = pushEndpoints;
    const pushRounds = { rounds: pushes.length, totalMs: pushes.reduce((a, b) => a + b, 0), maxMs: Math.max(0, ...pushes) };
    const stall = (ns: number) => Math.max(0, ns / 1e6 - 1);
    const eventLoopDelayMs = { p50: stall(loopDelay.percentile(50)), p99: stall(loopDelay.percentile(99)), max: stall(loopDelay.max) };
    const sqlite = {
      commits: commits.length,
      totalMs: commits.reduce((sum, c) => sum + c.ms, 0),
      maxMs: Math.max(0, ...commits.map((c) => c.ms)),
      rows: commits.reduce((sum, c) => sum + c.instances + c.changes + c.touched, 0),
      touchedRows: commits.reduce((sum, c) => sum + c.touched, 0),
    };

    const applied = mesh.stats.heartbeats - base.heartbeats;
    const seconds = (coreAfter.at - coreBefore.at) / 1000;
    const coreCpu = (coreAfter.user - coreBefore.user + coreAfter.system - coreBefore.system) / 1e6;
    const pubCpu = (pubAfter.user - pubBefore.user + pubAfter.system - pubBefore.system) / 1e6;
    const load = otherLoad(cpuBefore, cpuAfter, seconds, [process.pid, publisher.process.pid ?? -1]);
    const rssMaxMB = Math.max(...samples.map((s) => s.rss)) / 2 ** 20;

    // Per-second windows from the first heartbeat publish.
    const t0 = done.started;
    const publishedBy = (at: number) => {
      let n = 0;
      for (const p of progress) if (p.at <= at) n = p.published;
      return n;
    };
    const appliedBy = (at: number) => {
      let n = 0;
      for (const s of samples) if (s.at <= at) n = s.heartbeats;
      return n;
    };
    const windows: Array<{ second: number; published: number; applied: number }> = [];
    const lastAt = drainedAt ?? Date.now();
    for (let second = 0; t0 + second * 1000 < lastAt; second++) {
      const a = t0 + second * 1000;
      const b = Math.min(lastAt, a + 1000);
      windows.push({ second, published: publishedBy(b) - publishedBy(a), applied: appliedBy(b) - appliedBy(a) });
    }
    const lagMax = Math.max(0, ...samples.filter((s) => s.at >= t0).map((s) => s.published - s.heartbeats));
    const publishSeconds = (done.finished - done.started) / 1000;
    const publishRate = done.published / publishSeconds;
    const appliedDuringPublish = appliedBy(done.finished);
    const appliedRate = appliedDuringPublish / publishSeconds;
    const drainMs = drainedAt === null ? null : Math.max(0, drainedAt - done.finished);
    const lost = done.published - applied;
    const registrationMs = allIn === null ? null : allIn - registered.started;

    say('');
    say(`registrations: ${INSTANCES} published in ${registered.finished - registered.started} ms; all in the core's registry after ${registrationMs === null ? 'NEVER (timed out)' : `${registrationMs} ms`} (from the first publish)`);
    say(`heartbeats: ${done.published} published in ${publishSeconds.toFixed(2)} s = ${fmtRate(publishRate)} (target ${fmtRate(INSTANCES)}; ${done.lateSlots} slots late by > 100 ms)`);
    say(`            ${applied} applied by the core; ${fmtRate(appliedRate)} while publishing; max lag ${lagMax} messages (${(lagMax / INSTANCES).toFixed(2)} s of heartbeats)`);
    say(`            all applied ${drainMs === null ? `NOT within ${DRAIN_WAIT_MS} ms` : `${drainMs} ms`} after the last publish; lost ${lost}`);
    say(`per second (published / applied): ${windows.map((w) => `${(w.published / 1000).toFixed(1)}k/${(w.applied / 1000).toFixed(1)}k`).join('  ')}`);
    say(
      `CPU (share of one core) over ${seconds.toFixed(1)} s: core ${((coreCpu / seconds) * 100).toFixed(0)} %, publisher ${((pubCpu / seconds) * 100).toFixed(0)} %` +
        (load
          ? `, broker ${(load.brokerCores * 100).toFixed(0)} %, other processes ${((load.otherCores - load.brokerCores) * 100).toFixed(0)} % ` +
            `(${load.top.filter((t) => t.name !== 'beam.smp').slice(0, 3).map((t) => `${t.name} ${(t.cores * 100).toFixed(0)} %`).join(', ')}), steal ${(load.stealCores * 100).toFixed(0)} %`
          : '') +
        `; core RSS max ${rssMaxMB.toFixed(0)} MB`,
    );
    say(
      `steady state (all registered, heartbeats only; ${steady.seconds.toFixed(1)} s): core CPU ${(steady.coreShare * 100).toFixed(0)} % of a core = ` +
        `${steady.cpuUsPerHeartbeat.toFixed(1)} µs per heartbeat (Part A, decode + heartbeat alone: ${(pureDecodeHeartbeatNs / 1000).toFixed(1)} µs)`,
    );
    const disturbed = load !== null && (load.otherCores - load.brokerCores > DISTURBED_CORES || load.stealCores > DISTURBED_STEAL_CORES);
    if (disturbed) say(`WARNING: other work took ${(load.otherCores - load.brokerCores).toFixed(2)} cores (besides the broker) and steal ${load.stealCores.toFixed(2)} meanwhile; the figures include its interference`);
    say(`core event loop held up: p50 ${eventLoopDelayMs.p50.toFixed(1)} ms, p99 ${eventLoopDelayMs.p99.toFixed(1)} ms, max ${eventLoopDelayMs.max.toFixed(1)} ms`);
    say(
      `core SQLite commits: ${sqlite.commits}, ${sqlite.rows} rows (${sqlite.touchedRows} last-seen updates), ${sqlite.totalMs.toFixed(0)} ms in all ` +
        `(${((sqlite.totalMs / 1000 / seconds) * 100).toFixed(1)} % of a core), longest ${sqlite.maxMs.toFixed(0)} ms`,
    );
    say(`core endpoint-set pushes: ${pushRounds.rounds} coalesced rounds, ${pushRounds.totalMs.toFixed(0)} ms in all, longest ${pushRounds.maxMs.toFixed(0)} ms`);
    say(
      `core counters: endpoint pushes ${mesh.stats.endpointPushes - base.endpointPushes}, dead-lettered ${mesh.stats.deadLettered - base.deadLettered}; ` +
        `states: ${JSON.stringify(countStates(mesh.registry))}`,
    );
    const met = registrationMs !== null && drainMs !== null && drainMs <= DRAIN_GOAL_MS && lost === 0;
    return {
      met,
      lines,
      vhost: vhost.name,
      registration: { published: INSTANCES, publishMs: registered.finished - registered.started, allRegisteredMs: registrationMs },
      heartbeats: { published: done.published, publishSeconds, publishRate, applied, appliedRateWhilePublishing: appliedRate, lagMaxMessages: lagMax, drainMs, lost, lateSlots: done.lateSlots },
      perSecond: windows,
      cpu: { seconds, coreShare: coreCpu / seconds, publisherShare: pubCpu / seconds, machine: load },
      coreRssMaxMB: rssMaxMB,
      quietGate: gate,
      disturbed,
      eventLoopDelayMs,
      sqlite,
      pushRounds,
      steady,
      coreStats: mesh.stats,
    };
  } finally {
    await publisher?.stop().catch(() => undefined);
    await core.close();
    rmSync(dir, { recursive: true, force: true });
    vhost.remove();
  }
}

function countStates(registry: Registry): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const service of registry.serviceNames()) for (const i of registry.instances(service)) counts[i.state] = (counts[i.state] ?? 0) + 1;
  return counts;
}

async function parent(): Promise<void> {
  const script = fileURLToPath(import.meta.url);
  const host = machine();
  const run = randomUUID().slice(0, 6);
  const started = performance.now();
  console.log(`Registry: register + heartbeat handling for ${INSTANCES} instances (${SERVICES} services x ${PER_SERVICE})`);
  console.log(host.text);
  console.log('');
  let exitCode = 0;
  try {
    console.log(`Part A: Registry in memory (median of ${RUNS} runs, fresh process); baseline: a plain Map over the same keys`);
    const a = JSON.parse(execFileSync(process.execPath, [script, '--role', 'pure'], { encoding: 'utf8' })) as PureResult;
    const row = (label: string, value: string, base: string, ratio: string) => console.log(pad(label, 36, true) + pad(value, 22) + pad(base, 22) + pad(ratio, 8));
    const ops = (ns: number) => `${ns.toFixed(0)} ns (${fmtRate(1e9 / ns)})`;
    row('operation', 'Registry', 'baseline', 'x base');
    row('register', ops(a.registerNs.registry), ops(a.registerNs.map), `${(a.registerNs.registry / a.registerNs.map).toFixed(1)}x`);
    row(`heartbeat (${HB_ROUNDS} rounds)`, ops(a.heartbeatNs.registry), ops(a.heartbeatNs.map), `${(a.heartbeatNs.registry / a.heartbeatNs.map).toFixed(1)}x`);
    row('sweep, none expire (per sweep)', `${a.sweepMs.registry.toFixed(3)} ms`, `${a.sweepMs.map.toFixed(3)} ms`, `${(a.sweepMs.registry / a.sweepMs.map).toFixed(1)}x`);
    row('sweep, all 10 000 go down', `${a.sweepAllDownMs.toFixed(3)} ms`, '', '');
    row('decode + heartbeat (per message)', ops(a.decodeHeartbeatNs.registry), ops(a.decodeHeartbeatNs.map), `${(a.decodeHeartbeatNs.registry / a.decodeHeartbeatNs.map).toFixed(1)}x`);
    row('  of which decodeMeshEvent', ops(a.decodeOnlyNs), '(JSON.parse + Map)', '');
    console.log('');
    console.log(`Part B: the core on the broker, ${INSTANCES} instances, heartbeats ${HB_RATE_ROUNDS} rounds at 1 round/s (${fmtRate(INSTANCES)})`);
    const b = await partB(script, run, a.decodeHeartbeatNs.registry);
    const file = writeResults(import.meta.url, 'registry', {
      benchmark: 'registry',
      date: new Date().toISOString(),
      machine: host,
      method: { services: SERVICES, perService: PER_SERVICE, runs: RUNS, heartbeatRounds: HB_ROUNDS, rateRounds: HB_RATE_ROUNDS, slotsPerSecond: SLOTS_PER_SECOND, sampleMs: SAMPLE_MS },
      partA: a,
      partB: { ...b, lines: undefined },
      goal: { text: `all ${INSTANCES} registered; every heartbeat applied, none lost, backlog gone within ${DRAIN_GOAL_MS} ms of the last publish`, met: b.met },
    });
    console.log('');
    console.log(`Wrote ${file} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    console.log(`Core keeps up with ${INSTANCES} instances heartbeating once a second (goal: all registered, nothing lost, backlog gone <= ${DRAIN_GOAL_MS} ms after the last publish): ${b.met ? 'MET' : 'MISSED'}`);
    if (!b.met) exitCode = 1;
  } catch (err) {
    console.error(err);
    exitCode = 2;
  }
  process.exit(exitCode);
}

const role = process.argv.includes('--role') ? option('role') : 'parent';
if (role === 'pure') process.stdout.write(JSON.stringify(pure()));
else if (role === 'publisher') void publisherRole();
else void parent();
