/**
 * Balancer pick cost: `npm run bench:balancer`.
 *
 * How it runs: the npm script bundles this file (and core/balancer) with vite
 * (bench/vite.config.ts) into out/bench/balancer.bench.js and runs that with plain `node` — no
 * TypeScript runner needed. The parent process measures nothing itself: each (algorithm,
 * endpoint count) is measured in a fresh child process (`--child`), so the JIT's feedback from
 * one algorithm cannot slow down the call sites of the next.
 *
 * What it measures: ns per pick, where one pick is what the sidecar does per request —
 * pick({ now, hashKey }) plus onStart for the new request and onEnd for one that started 64 picks
 * earlier (64 requests in flight), for every algorithm (the calls are no-ops for those without
 * feedback). ring-hash and maglev get a request key from a pool of 4096; the others none. The
 * simulated clock advances 10 µs per pick; latencies are 5-25 ms. Endpoints have weight 1; for
 * locality(p2c-ewma) they are spread over 3 priorities with half of priority 0 unhealthy, so
 * picks split 70 / 30 between two levels. Each measurement: warm-up (≥ 300 ms), then 7 runs of
 * ≈ 50 ms; the median is reported.
 *
 * Baseline: the same loop around the cheapest possible selection, a uniformly random array
 * index (same PRNG, no-op feedback), so the figures can be compared across machines.
 *
 * Also reported: update() cost — rebuilding for a changed set, and an update with an unchanged
 * set (equal copies). Results go to bench/results/balancer.json (gitignored). The goal line at
 * the end checks P2C peak-EWMA at 1000 endpoints against 1000 ns/pick; missing it sets exit code 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createBalancer, createLocalityAware, mulberry32, type Balancer, type BalancerKind, type Endpoint, type PickContext } from '../core/balancer/index.js';

const SUBJECTS = ['baseline', 'round-robin', 'weighted-round-robin', 'least-request', 'p2c-ewma', 'ring-hash', 'maglev', 'locality(p2c-ewma)'] as const;
type Subject = (typeof SUBJECTS)[number];
const SIZES = [10, 100, 1000] as const;
const KEYED = new Set<Subject>(['ring-hash', 'maglev']);
const INFLIGHT = 64; // power of two
const POOL = 4096; // power of two
const WARMUP_MS = 300;
const RUN_MS = 50;
const RUNS = 7;
const GOAL_NS = 1000;

interface Measurement {
  subject: Subject;
  endpoints: number;
  /** Median ns per pick (with feedback) over the runs. */
  nsPerPick: number;
  runs: number[];
  picksPerRun: number;
  /** Median ms of update() with a changed set (rebuild) and with an unchanged set (equal copies). */
  updateRebuildMs: number;
  updateUnchangedMs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function makeEndpoints(n: number, generation: number, locality: boolean): Endpoint[] {
  return Array.from({ length: n }, (_, i) => {
    const priority = locality ? i % 3 : 0;
    return {
      id: `orders-${generation}-${i.toString(36)}.svc:5672`,
      zone: `zone-${priority}`,
      weight: 1,
      healthy: !(locality && priority === 0 && i % 2 === 0),
      priority,
    };
  });
}

/** The cheapest possible selection: a uniformly random index. */
function baseline(random: () => number): Balancer {
  let set: readonly Endpoint[] = [];
  return {
    kind: 'round-robin',
    update(endpoints) {
      set = endpoints;
    },
    pick() {
      return set[(random() * set.length) | 0] ?? null;
    },
    onStart() {},
    onEnd() {},
  };
}

function makeSubject(subject: Subject, random: () => number): Balancer {
  if (subject === 'baseline') return baseline(random);
  if (subject === 'locality(p2c-ewma)') return createLocalityAware(() => createBalancer('p2c-ewma', { random }), { random });
  return createBalancer(subject as BalancerKind, { random });
}

function measure(subject: Subject, n: number): Measurement {
  const random = mulberry32(0x5eed);
  const locality = subject.startsWith('locality');
  const balancer = makeSubject(subject, random);
  const endpoints = makeEndpoints(n, 0, locality);

  // update() cost, before the pick loop (it is not part of the per-pick figure).
  const rebuild: number[] = [];
  const unchanged: number[] = [];
  const other = makeEndpoints(n, 1, locality);
  for (let round = 0; round < 5; round++) {
    const set = round % 2 === 0 ? other : endpoints;
    let t = process.hrtime.bigint();
    balancer.update(set);
    rebuild.push(Number(process.hrtime.bigint() - t) / 1e6);
    const copy = set.map((e) => ({ ...e }));
    t = process.hrtime.bigint();
    balancer.update(copy);
    unchanged.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  balancer.update(endpoints); // the set the picks run against

  const keys = Array.from({ length: POOL }, (_, i) => `user-${(i * 7919) % 100_003}`);
  const latencies = Float64Array.from({ length: POOL }, () => 5 + 20 * random());
  const inflight: (string | undefined)[] = new Array<string | undefined>(INFLIGHT).fill(undefined);
  const ctx: PickContext = { now: 0, hashKey: undefined };
  const keyed = KEYED.has(subject);
  let picks = 0;

  const run = (iterations: number): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const now = (ctx.now += 0.01);
      if (keyed) ctx.hashKey = keys[i & (POOL - 1)];
      const endpoint = balancer.pick(ctx);
      if (endpoint === null) throw new Error(`${subject}: no endpoint`);
      const slot = picks++ & (INFLIGHT - 1);
      const done = inflight[slot];
      if (done !== undefined) balancer.onEnd(done, now, latencies[i & (POOL - 1)]!, true);
      balancer.onStart(endpoint.id, now);
      inflight[slot] = endpoint.id;
    }
    return Number(process.hrtime.bigint() - start);
  };

  // Warm up, then size runs to ≈ RUN_MS each.
  let iterations = 1000;
  const warmupEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmupEnd) {
    const ns = run(iterations);
    if (ns < 10e6) iterations *= 2;
  }
  const nsPerPick = run(iterations) / iterations;
  const picksPerRun = Math.max(1000, Math.round((RUN_MS * 1e6) / nsPerPick));
  const runs = Array.from({ length: RUNS }, () => run(picksPerRun) / picksPerRun);
  return {
    subject,
    endpoints: n,
    nsPerPick: median(runs),
    runs,
    picksPerRun,
    updateRebuildMs: median(rebuild),
    updateUnchangedMs: median(unchanged),
  };
}

function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

function formatNs(ns: number): string {
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}

function formatMs(ms: number): string {
  return ms >= 10 ? ms.toFixed(1) : ms >= 0.1 ? ms.toFixed(2) : ms.toFixed(3);
}

function parent(): void {
  const script = fileURLToPath(import.meta.url);
  const cpus = os.cpus();
  const machine = `Node ${process.version}, ${process.platform} ${process.arch}, ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}`;
  console.log(`Balancer pick cost: median ns per pick (+ onStart + onEnd) of ${RUNS} runs, each in a fresh process`);
  console.log(machine);
  console.log('');
  const started = performance.now();
  const results: Measurement[] = [];
  const nameWidth = 24;
  console.log(pad('algorithm', nameWidth, true) + SIZES.map((n) => pad(`n=${n}`, 10)).join('') + pad('x base @1000', 14));
  let baselineAt1000 = Number.NaN;
  for (const subject of SUBJECTS) {
    const row: Measurement[] = [];
    for (const n of SIZES) {
      const out = execFileSync(process.execPath, [script, '--child', subject, String(n)], { encoding: 'utf8' });
      row.push(JSON.parse(out) as Measurement);
    }
    results.push(...row);
    const at1000 = row[row.length - 1]!.nsPerPick;
    if (subject === 'baseline') baselineAt1000 = at1000;
    const label = subject === 'baseline' ? 'baseline (random index)' : subject;
    console.log(pad(label, nameWidth, true) + row.map((m) => pad(formatNs(m.nsPerPick), 10)).join('') + pad(`${(at1000 / baselineAt1000).toFixed(1)}x`, 14));
  }

  console.log('');
  console.log('update() cost, median ms: rebuild for a changed set / unchanged set (equal copies)');
  console.log(pad('algorithm', nameWidth, true) + SIZES.map((n) => pad(`n=${n}`, 18)).join(''));
  for (const subject of SUBJECTS.filter((s) => s !== 'baseline')) {
    const row = results.filter((m) => m.subject === subject);
    console.log(pad(subject, nameWidth, true) + row.map((m) => pad(`${formatMs(m.updateRebuildMs)} / ${formatMs(m.updateUnchangedMs)}`, 18)).join(''));
  }

  const goal = results.find((m) => m.subject === 'p2c-ewma' && m.endpoints === 1000)!;
  const met = goal.nsPerPick <= GOAL_NS;
  const seconds = (performance.now() - started) / 1000;
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}balancer.json`;
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        benchmark: 'balancer',
        date: new Date().toISOString(),
        machine,
        method: { runs: RUNS, runMs: RUN_MS, warmupMs: WARMUP_MS, inflight: INFLIGHT, feedback: 'pick + onStart + onEnd per pick' },
        goal: { subject: 'p2c-ewma', endpoints: 1000, goalNs: GOAL_NS, nsPerPick: goal.nsPerPick, met },
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log('');
  console.log(`Wrote ${file} (${seconds.toFixed(1)} s)`);
  console.log(`P2C peak-EWMA at 1000 endpoints: ${formatNs(goal.nsPerPick)} ns/pick (goal <= ${GOAL_NS} ns) ${met ? 'MET' : 'MISSED'}`);
  if (!met) process.exitCode = 1;
}

if (process.argv[2] === '--child') {
  const subject = process.argv[3] as Subject;
  const n = Number(process.argv[4]);
  if (!SUBJECTS.includes(subject) || !SIZES.includes(n as (typeof SIZES)[number])) throw new Error(`bad child arguments: ${process.argv.slice(2).join(' ')}`);
  process.stdout.write(JSON.stringify(measure(subject, n)));
} else {
  parent();
}
