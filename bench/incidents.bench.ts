/**
 * Incident rules and suspect ranking at mesh scale: `npm run bench:incidents`.
 *
 * How it runs: the npm script bundles this file (with core/incidents) with vite
 * (bench/vite.config.ts) into out/bench/incidents.bench.js and runs it with plain `node`.
 *
 * Mesh: SERVICES callee services (default 100) × 10 instances = 1 000 instances; 50 caller
 * services × 2 instances, each caller instance reporting one batch per second with an outbound
 * edge to every instance of 10 callee services (100 edges per batch, 10 000 edge records a
 * second). Latency sketches are real (20 log-normal samples, from a pool of 64). The clock is
 * simulated: each simulated second ingests the 100 batches, then runs one `tick()`, with the
 * incident store in a temporary SQLite file opened like the console's (WAL, all migrations).
 *
 * Phases: A — 150 s of healthy traffic (no incident: every rule assessed for 100 services, 300
 * zones); B — one instance of each of 10 services fails every request for 120 s: 10 incidents
 * open, each re-ranked every second from its trace, timelines written; C — the faults stop, 30 s:
 * all resolve. Measured: ingest time per simulated second (100 batches), `tick()` time per second
 * (p50/p99/max), heap growth over phase A (the monitor's ring and the baseline's LiveEdges
 * together). Baseline in the same run: `LiveEdges.ingest()` of the same batches (what the core
 * already does with every batch).
 *
 * Goal: tick p99 ≤ 20 ms with 10 open incidents at 1 000 instances (2 % of a second on one
 * core). Results: bench/results/incidents.json (gitignored). Options: --services N.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IncidentMonitor } from '../core/incidents/monitor.js';
import type { InstanceStateInput } from '../core/incidents/rules.js';
import { silentLogger } from '../core/lib/log.js';
import type { EdgeStats, TelemetryBatch } from '../core/protocol/messages.js';
import { LatencySketch } from '../core/protocol/sketch.js';
import { openDatabase } from '../core/store/database.js';
import { LiveEdges } from '../core/telemetry/live-edges.js';
import { logNormal, prng } from '../core/telemetry/test-support.js';
import { distribution, machine, pad, type Distribution } from './lib.js';

const SERVICES = Number(/--services[= ](\d+)/.exec(process.argv.join(' '))?.[1] ?? 100);
const INSTANCES = 10;
const CALLERS = 50;
const CALLER_INSTANCES = 2;
const TARGETS_PER_CALLER = 10;
const REQUESTS = 20;
const GOAL_TICK_P99_MS = 20;

const random = prng(7);
const pool = Array.from({ length: 64 }, () => {
  const s = new LatencySketch();
  for (let i = 0; i < REQUESTS; i++) s.add(logNormal(random, 20, 0.5));
  return s.toWire();
});
const services = Array.from({ length: SERVICES }, (_, i) => `svc-${i}`);
const instancesOf = (service: string) => Array.from({ length: INSTANCES }, (_, i) => `${service}-${i}`);
const failing = new Set<string>();
const targetsOf = (caller: number) => Array.from({ length: TARGETS_PER_CALLER }, (_, k) => services[(caller * 7 + k * 13) % SERVICES]!);

function batches(t: number): TelemetryBatch[] {
  const out: TelemetryBatch[] = [];
  for (let c = 0; c < CALLERS; c++) {
    for (let n = 0; n < CALLER_INSTANCES; n++) {
      const edges: EdgeStats[] = [];
      for (const service of targetsOf(c)) {
        for (const instance of instancesOf(service)) {
          const bad = failing.has(instance);
          edges.push({ direction: 'outbound', peerService: service, peerInstance: instance, requests: REQUESTS, errors: { http5xx: bad ? REQUESTS : 0, http4xx: 0, connect: 0, timeout: 0 }, retries: 0, latency: pool[(c + n + edges.length) % pool.length]! });
        }
      }
      out.push({ service: `caller-${c}`, instanceId: `caller-${c}-${n}`, zone: 'z1', windowStart: t, windowMs: 1000, edges, events: { published: [], consumed: [] } });
    }
  }
  return out;
}

const dir = mkdtempSync(join(os.tmpdir(), 'meshdeck-bench-incidents-'));
const db = openDatabase({ path: join(dir, 'bench.db'), logger: silentLogger });
let now = 1_900_000_000_000;
const zones = ['z1', 'z2', 'z3'];
const instanceStates = new Map(services.map((s) => [s, instancesOf(s).map((instanceId, i): InstanceStateInput => ({ instanceId, zone: zones[i % 3]!, state: 'healthy', ejected: false }))]));
const monitor = new IncidentMonitor({ mesh: 'bench', db, logger: silentLogger, services: () => services, instances: (s) => instanceStates.get(s) ?? [], now: () => now });
const live = new LiveEdges();

interface Phase {
  ingestMs: number[];
  baselineMs: number[];
  tickMs: number[];
}

function runPhase(seconds: number): Phase {
  const phase: Phase = { ingestMs: [], baselineMs: [], tickMs: [] };
  for (let s = 0; s < seconds; s++) {
    const list = batches(now - 1000);
    let t0 = performance.now();
    for (const b of list) live.ingest(b, now);
    phase.baselineMs.push(performance.now() - t0);
    t0 = performance.now();
    for (const b of list) monitor.ingest(b);
    phase.ingestMs.push(performance.now() - t0);
    now += 1000;
    t0 = performance.now();
    monitor.tick();
    phase.tickMs.push(performance.now() - t0);
  }
  return phase;
}

const fmt = (d: Distribution) => `${d.p50.toFixed(2)} / ${d.p99.toFixed(2)} / ${d.max.toFixed(2)}`;
console.log(`Incidents at ${SERVICES * INSTANCES} instances (${SERVICES} services), ${CALLERS * CALLER_INSTANCES} batches/s with ${TARGETS_PER_CALLER * INSTANCES} edges each`);
console.log(`  ${machine().text}`);
global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const a = runPhase(150);
global.gc?.();
const heapAfter = process.memoryUsage().heapUsed;
for (let i = 0; i < 10; i++) failing.add(`${services[i * Math.floor(SERVICES / 10)]}-3`);
const b = runPhase(120);
const opened = monitor.list({ status: 'open', limit: 100 });
const firstRight = opened.filter((i) => i.topSuspect && failing.has(i.topSuspect)).length;
failing.clear();
const c = runPhase(30);
const stillOpen = monitor.list({ status: 'open', limit: 100 }).length;

const rows: Array<[string, Phase]> = [
  ['A healthy (150 s)', a],
  ['B 10 incidents (120 s)', b],
  ['C recovery (30 s)', c],
];
console.log(`\n  ${pad('phase', 24)} ${pad('LiveEdges.ingest ms/s p50/p99/max (baseline)', 34, true)} ${pad('ingest ms/s', 22, true)} ${pad('tick ms p50/p99/max', 24, true)}`);
const summary: Record<string, unknown> = {};
for (const [name, p] of rows) {
  const base = distribution(p.baselineMs);
  const ingest = distribution(p.ingestMs);
  const tick = distribution(p.tickMs);
  summary[name] = { baselineIngestMs: base, ingestMs: ingest, tickMs: tick };
  console.log(`  ${pad(name, 24)} ${pad(fmt(base), 34, true)} ${pad(fmt(ingest), 22, true)} ${pad(fmt(tick), 24, true)}`);
}
const heapMiB = (heapAfter - heapBefore) / 2 ** 20;
const tickP99 = distribution(b.tickMs).p99;
console.log(`\n  heap growth over phase A: ${heapMiB.toFixed(1)} MiB${global.gc ? '' : ' (no --expose-gc: approximate)'}`);
console.log(`  incidents opened in B: ${opened.length}, faulted instance ranked first: ${firstRight}; still open after C: ${stillOpen}`);
const met = tickP99 <= GOAL_TICK_P99_MS && opened.length === 10 && firstRight === 10 && stillOpen === 0;
console.log(`  goal: tick p99 ≤ ${GOAL_TICK_P99_MS} ms with 10 open incidents, every faulted instance first, all resolved: ${met ? 'met' : 'NOT met'} (${tickP99.toFixed(2)} ms)`);

const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'incidents.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), services: SERVICES, instances: SERVICES * INSTANCES, phases: summary, heapGrowthMiB: heapMiB, opened: opened.length, firstRight, stillOpen, goal: { tickP99Ms: GOAL_TICK_P99_MS, met } }, null, 2)}\n`,
);
console.log(`  results: ${join(out, 'incidents.json')}`);
db.close();
rmSync(dir, { recursive: true, force: true });
process.exitCode = met ? 0 : 1;
