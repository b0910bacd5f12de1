/**
 * Telemetry history query time on a full database: `npm run bench:telemetry-query`.
 *
 * How it runs: the npm script bundles this file (with core/telemetry) with vite
 * (bench/vite.config.ts) into out/bench/telemetry-query.bench.js and runs it with plain `node`.
 *
 * Fill: a temporary SQLite file (os.tmpdir(), deleted at the end) opened like the console's own
 * (openDatabase: WAL, synchronous=NORMAL, all migrations) holding what the default retention
 * keeps for EDGES edges (default 1 000): 1 min rows for 7 days, 10 s rows for 3 days and 1 s
 * rows for 6 hours — 57.6 million rows at 1 000 edges — written with HistoryStore.insertWindow()
 * (the statements compaction uses, without the merge) in large transactions, series by series.
 * Edges: 100 caller services × 10 callees each, 100 callee services with 10 edges into each. Traffic per edge:
 * rate log-uniform 1..300 requests/s, latency log-normal with a median log-uniform 1..100 ms and
 * σ uniform 0.2..0.9; 2 % 5xx, 0.5 % timeouts. The sketches are real: for 40 traffic profiles,
 * 24 windows per resolution are sampled (rate × window length values each) and encoded; each
 * edge cycles through its profile's windows.
 *
 * Measured (TelemetryQueries.series(), i.e. SQL + sketch decoding + merged p50/p95/p99 per point):
 *   edge 1h@1s     one edge, a random hour within the last 6 h, resolution 1s   (3 600 points)
 *   edge 24h@1m    one edge, a random day within the last 7 days, resolution 1m (1 440 points)
 *   edge 7d auto   one edge, the last 7 days, 'auto' (1 min rows merged into 5 min points)
 *   service 1h@1s  one service (its 10 edges, merged at ingest into one series), a random hour at 1s
 * QUERIES queries each over random edges after WARMUP unmeasured ones; p50/p95/max in ms.
 * Baseline in the same run: one primary-key lookup of a single 1 min row (prepared statement).
 * The file was just written, so it sits in the OS page cache: these are warm-cache figures.
 *
 * Also measured on the full database: the live write path with a simulated minute and a half of
 * traffic (every caller service has 2 instances, one batch per instance per second: 1 000 edge
 * edge, 100 service and 200 instance windows a second) — ingest per batch, flush per second,
 * compaction per step (50 series, the default); prune() calls of 5 000 rows; and the footprint per table from SQLite's dbstat
 * (pages, so B-tree overhead included), as bytes per edge per day at each resolution.
 *
 * Goal (set by the issue): p95 ≤ 50 ms for "edge 1h@1s" and "edge 24h@1m". Otherwise exit code 1.
 * Results: bench/results/telemetry-query.json (gitignored). Options: --edges N (default 1000);
 * --live-only: only the write path, on an empty database, no results file.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../core/lib/log.js';
import type { EdgeStats, TelemetryBatch } from '../core/protocol/messages.js';
import { openDatabase } from '../core/store/database.js';
import { TelemetryHistory } from '../core/telemetry/history.js';
import { HistoryStore } from '../core/telemetry/history-store.js';
import { TelemetryQueries } from '../core/telemetry/queries.js';
import { RESOLUTION_TABLE, RESOLUTIONS, type Resolution } from '../core/telemetry/resolutions.js';
import { DenseSketch } from '../core/telemetry/sketch-codec.js';
import { prng } from '../core/telemetry/test-support.js';
import { CALLEES_PER_CALLER, DAY_S, HOUR_S, POOL, PROFILES, SPAN_S, edgeName as edgeOf, fillEdgeHistory, makeProfiles, type Profile } from './telemetry-fill.js';

const EDGES = Number(option('edges') ?? 1000);
const QUERIES = 200;
const WARMUP = 20;
const GOAL_P95_MS = 50;
const MESH = 'bench';
const NOW_S = Math.floor(Date.UTC(2026, 0, 12) / 1000);

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summary(values: number[]): { p50: number; p95: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted.at(-1)!), n: sorted.length };
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const value = await fn();
  return [value, performance.now() - t];
}

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const value = fn();
  return [value, performance.now() - t];
}

const edgeName = (i: number) => edgeOf(i, EDGES);

// --- run --------------------------------------------------------------------------------------

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

async function main(): Promise<number> {
  const dir = mkdtempSync(join(os.tmpdir(), 'meshdeck-bench-telemetry-'));
  const path = join(dir, 'meshdeck.db');
  const db = openDatabase({ path, logger: silentLogger });
  const cleanup = () => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  // The database is several GB: remove it on Ctrl-C too (the fill yields between transactions).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
  try {
    return await run(db, path);
  } finally {
    cleanup();
  }
}

async function run(db: ReturnType<typeof openDatabase>, path: string): Promise<number> {
  const machine = `Node ${process.version}, ${process.platform} ${process.arch}, ${os.availableParallelism()} x ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`;
  console.log(`telemetry history queries — ${EDGES} edges; ${machine}`);
  const store = new HistoryStore(db);
  const [profiles, profileMs] = time(makeProfiles);
  console.log(`  sampled ${PROFILES} traffic profiles in ${(profileMs / 1000).toFixed(1)} s`);
  if (process.argv.includes('--live-only')) {
    const live = liveWritePath(db, profiles);
    console.log(`  live write path on an empty database: ${JSON.stringify(live)}`);
    return 0;
  }

  const { ids, rows, seconds: fillSeconds, fillSeries } = await fillEdgeHistory(store, { mesh: MESH, edges: EDGES, nowS: NOW_S, profiles, progress: console.log });
  db.pragma('wal_checkpoint(TRUNCATE)');
  const totalRows = rows['1s'] + rows['10s'] + rows['1m'];
  const fileBytes = statSync(path).size;
  console.log(`  fill: ${(totalRows / 1e6).toFixed(1)} M rows in ${fillSeconds.toFixed(0)} s; file ${(fileBytes / 2 ** 30).toFixed(2)} GiB`);

  // Footprint per table: pages (B-tree overhead included) and payload.
  const [stats, dbstatMs] = time(
    () =>
      db.prepare(`SELECT name, sum(pgsize) AS bytes, sum(payload) AS payload FROM dbstat WHERE name IN ('telemetry_1s', 'telemetry_10s', 'telemetry_1m') GROUP BY name`).all() as Array<{
        name: string;
        bytes: number;
        payload: number;
      }>,
  );
  const footprint = Object.fromEntries(
    RESOLUTIONS.map((r) => {
      const s = stats.find((x) => x.name === RESOLUTION_TABLE[r])!;
      const days = SPAN_S[r] / DAY_S;
      const sketchBytes = profiles.reduce((sum, p) => sum + p.pools[r].reduce((a, w) => a + w.sketch.length, 0), 0) / (PROFILES * POOL);
      return [
        r,
        {
          rows: rows[r],
          tableBytes: s.bytes,
          payloadBytes: s.payload,
          bytesPerRow: Math.round((s.bytes / rows[r]) * 10) / 10,
          avgSketchBytes: Math.round(sketchBytes * 10) / 10,
          bytesPerEdgePerDay: Math.round(s.bytes / EDGES / days),
          /** At the default retention: what one edge costs in this table. */
          bytesPerEdgeRetained: Math.round((s.bytes / EDGES / days) * (r === '1m' ? 30 : days)),
        },
      ];
    }),
  ) as Record<Resolution, { rows: number; tableBytes: number; payloadBytes: number; bytesPerRow: number; avgSketchBytes: number; bytesPerEdgePerDay: number; bytesPerEdgeRetained: number }>;
  console.log(`  footprint (dbstat, ${(dbstatMs / 1000).toFixed(0)} s):`);
  for (const r of RESOLUTIONS) {
    const f = footprint[r];
    console.log(
      `    ${r.padEnd(4)} ${(f.rows / 1e6).toFixed(1).padStart(5)} M rows  ${f.bytesPerRow.toFixed(1).padStart(6)} B/row (sketch ${f.avgSketchBytes} B)  ${(f.bytesPerEdgePerDay / 1e6).toFixed(2).padStart(6)} MB per edge per day  ${(f.bytesPerEdgeRetained / 1e6).toFixed(2).padStart(6)} MB per edge at the default retention`,
    );
  }
  // Encoded sketch size by request rate (the row adds ~28 B: key, counters, record and page overhead).
  const rateClasses = [
    [1, 10],
    [10, 100],
    [100, 300],
  ] as const;
  const sketchBytesByRate = rateClasses.map(([lo, hi]) => {
    const members = profiles.filter((p) => p.rps >= lo && p.rps < hi + (hi === 300 ? 1 : 0));
    const avg = (r: Resolution) =>
      members.length ? Math.round(members.reduce((sum, p) => sum + p.pools[r].reduce((a, w) => a + w.sketch.length, 0) / POOL, 0) / members.length) : null;
    return { rps: `${lo}-${hi}`, profiles: members.length, '1s': avg('1s'), '10s': avg('10s'), '1m': avg('1m') };
  });
  console.log(`  encoded sketch bytes by request rate: ${sketchBytesByRate.map((c) => `${c.rps} rps (${c.profiles}): 1s ${c['1s']} B, 10s ${c['10s']} B, 1m ${c['1m']} B`).join('; ')}`);

  // Service series (every edge into a service, merged at ingest): window n of a service is the
  // merge of window n of each of its edges.
  const intoService = new Map<string, number[]>();
  for (let i = 0; i < EDGES; i++) {
    const to = edgeName(i).to;
    const list = intoService.get(to);
    if (list) list.push(i);
    else intoService.set(to, [i]);
  }
  const acc = new DenseSketch();
  const [, serviceMs] = await timeAsync(async () => {
    for (const [service, edges] of intoService) {
      const pools = Object.fromEntries(
        RESOLUTIONS.map((r) => [
          r,
          Array.from({ length: POOL }, (_, k) => {
            acc.reset();
            let requests = 0;
            for (const i of edges) {
              const w = profiles[i % PROFILES]!.pools[r][(i + k) % POOL]!;
              acc.addBlob(w.sketch);
              requests += w.requests;
            }
            return { requests, sketch: acc.toBlob() };
          }),
        ]),
      ) as Profile['pools'];
      store.transaction(() => fillSeries(store.insertSeries(MESH, 'service', '', service, NOW_S - SPAN_S['1m'], NOW_S), pools, 0, false));
      await yieldToEvents();
    }
  });
  console.log(`  filled ${intoService.size} service series in ${(serviceMs / 1000).toFixed(0)} s (not in the footprint above)`);

  // Queries.
  const queries = new TelemetryQueries(db, { now: () => NOW_S * 1000 });
  const random = prng(0xbe9c);
  const pickEdge = () => Math.floor(random() * EDGES);
  const lookup = db.prepare('SELECT * FROM telemetry_1m WHERE series = ? AND t = ?');
  const subjects: Array<{ name: string; run: () => number }> = [
    {
      name: 'baseline: 1 row by primary key',
      run: () => {
        const t = NOW_S - 60 * (1 + Math.floor(random() * 10_000));
        return lookup.get(ids[pickEdge()]!, t) ? 1 : 0;
      },
    },
    {
      name: 'edge 1h@1s',
      run: () => {
        const start = (NOW_S - SPAN_S['1s'] + Math.floor(random() * (SPAN_S['1s'] - HOUR_S))) * 1000;
        const e = edgeName(pickEdge());
        return queries.series({ mesh: MESH, kind: 'edge', from: e.from, to: e.to, start, end: start + HOUR_S * 1000, resolution: '1s' }).points.length;
      },
    },
    {
      name: 'edge 24h@1m',
      run: () => {
        const start = (NOW_S - SPAN_S['1m'] + 60 * Math.floor((random() * (SPAN_S['1m'] - DAY_S)) / 60)) * 1000;
        const e = edgeName(pickEdge());
        return queries.series({ mesh: MESH, kind: 'edge', from: e.from, to: e.to, start, end: start + DAY_S * 1000, resolution: '1m' }).points.length;
      },
    },
    {
      name: 'edge 7d auto',
      run: () => {
        const e = edgeName(pickEdge());
        return queries.series({ mesh: MESH, kind: 'edge', from: e.from, to: e.to, start: (NOW_S - 7 * DAY_S) * 1000, end: NOW_S * 1000 }).points.length;
      },
    },
    {
      name: 'service 1h@1s',
      run: () => {
        const start = (NOW_S - SPAN_S['1s'] + Math.floor(random() * (SPAN_S['1s'] - HOUR_S))) * 1000;
        return queries.series({ mesh: MESH, kind: 'service', service: edgeName(pickEdge()).to, start, end: start + HOUR_S * 1000, resolution: '1s' }).points.length;
      },
    },
  ];
  const queryResults: Record<string, ReturnType<typeof summary> & { points: number }> = {};
  console.log(`  queries (${QUERIES} each after ${WARMUP} warm-up, random edges and ranges), ms:`);
  for (const s of subjects) {
    await yieldToEvents();
    for (let i = 0; i < WARMUP; i++) s.run();
    const ms: number[] = [];
    let points = 0;
    for (let i = 0; i < QUERIES; i++) {
      const [n, elapsed] = time(s.run);
      points = n;
      ms.push(elapsed);
    }
    queryResults[s.name] = { ...summary(ms), points };
    const r = queryResults[s.name]!;
    console.log(`    ${s.name.padEnd(32)} p50 ${r.p50.toFixed(3).padStart(8)}  p95 ${r.p95.toFixed(3).padStart(8)}  max ${r.max.toFixed(3).padStart(8)}  (${points} points)`);
  }

  // Live write path on the full database.
  const live = liveWritePath(db, profiles);
  console.log(
    `  live write path (${live.seconds} s of traffic, ${live.batchesPerSecond} batches/s, ${live.windowsPerSecond} windows/s): ingest ${live.ingestUsPerBatch.toFixed(1)} µs/batch; flush ms p50 ${live.flushMs.p50} p95 ${live.flushMs.p95} max ${live.flushMs.max}; compaction step (${live.seriesPerStep} series) ms p50 ${live.compactStepMs?.p50} p95 ${live.compactStepMs?.p95} max ${live.compactStepMs?.max}, ${live.compactedRows} rows moved; prune (5 000 rows) ms p50 ${live.pruneMs.p50} p95 ${live.pruneMs.p95}`,
  );

  const goals = (['edge 1h@1s', 'edge 24h@1m'] as const).map((name) => ({ name, p95: queryResults[name]!.p95, goal: GOAL_P95_MS, met: queryResults[name]!.p95 <= GOAL_P95_MS }));
  for (const g of goals) console.log(`  goal: ${g.name} p95 ${g.p95} ms ≤ ${g.goal} ms: ${g.met ? 'met' : 'MISSED'}`);

  const results = {
    benchmark: 'telemetry-query',
    date: new Date().toISOString(),
    machine,
    method: { edges: EDGES, profiles: PROFILES, poolPerResolution: POOL, queries: QUERIES, warmup: WARMUP, spanSeconds: SPAN_S, cache: 'warm (file just written)' },
    fill: { rows, totalRows, seconds: Math.round(fillSeconds), fileBytes },
    footprint,
    sketchBytesByRate,
    queries: queryResults,
    live,
    goals,
  };
  const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'telemetry-query.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`  results: ${join(out, 'telemetry-query.json')}`);
  return goals.every((g) => g.met) ? 0 : 1;
}

function liveWritePath(db: ReturnType<typeof openDatabase>, profiles: Profile[]) {
  const INSTANCES = 2;
  const SECONDS = 90;
  const seriesPerStep = 50;
  let clock = NOW_S * 1000;
  const history = new TelemetryHistory({ db, mesh: MESH, now: () => clock, minFlushIntervalMs: 0, compactStepsPerFlush: 0, compactSeriesPerStep: seriesPerStep });
  const callers = Math.ceil(EDGES / CALLEES_PER_CALLER);
  const ingestMs: number[] = [];
  const flushMs: number[] = [];
  const stepMs: number[] = [];
  let batches = 0;
  let windows = 0;
  let compactedRows = 0;
  let offset = 0;
  for (let s = 0; s < SECONDS; s++) {
    const windowStart = clock;
    clock += 1000;
    const list: TelemetryBatch[] = [];
    for (let c = 0; c < callers; c++) {
      for (let inst = 0; inst < INSTANCES; inst++) {
        const edges: EdgeStats[] = [];
        for (let k = 0; k < CALLEES_PER_CALLER && c * CALLEES_PER_CALLER + k < EDGES; k++) {
          const i = c * CALLEES_PER_CALLER + k;
          const profile = profiles[i % PROFILES]!;
          const latency = profile.wire[(s + inst + i) % POOL]!;
          const requests = latency.zero + latency.buckets.reduce((a, [, n]) => a + n, 0);
          edges.push({ direction: 'outbound', peerService: edgeName(i).to, peerInstance: `${edgeName(i).to}-${(s + inst) % 3}`, requests, errors: { http5xx: 0, http4xx: 0, connect: 0, timeout: 0 }, retries: 0, latency });
        }
        list.push({ service: `web-${c}`, instanceId: `web-${c}-${inst}`, zone: 'z', windowStart, windowMs: 1000, edges, events: { published: [], consumed: [] } });
      }
    }
    const [, ms] = time(() => {
      for (const b of list) history.ingest(b, clock);
    });
    ingestMs.push(ms / list.length);
    batches += list.length;
    offset += list.length;
    const [r, fms] = time(() => history.flush({ consumer: 'telemetry:bench', stream: 'meshdeck.telemetry', offset }));
    flushMs.push(fms);
    windows += r.windows;
    // Compaction, one timed step at a time (what flush() would run with compactStepsPerFlush).
    for (;;) {
      const [c, cms] = time(() => history.compact(clock, 1));
      if (c.steps === 0) break;
      stepMs.push(cms);
      compactedRows += c.rows;
    }
  }
  // Retention: 10 minutes later, prune() calls of 5 000 rows (the oldest 10 min of 1 s rows and more).
  const pruneMs: number[] = [];
  for (let i = 0; i < 40; i++) {
    const [r, ms] = time(() => history.prune(clock + 10 * 60_000, { maxRows: 5000 }));
    pruneMs.push(ms);
    if (r.done) break;
  }
  return {
    seconds: SECONDS,
    batchesPerSecond: batches / SECONDS,
    windowsPerSecond: Math.round(windows / SECONDS),
    ingestUsPerBatch: summary(ingestMs).p50 * 1000,
    flushMs: summary(flushMs),
    seriesPerStep,
    compactStepMs: stepMs.length ? summary(stepMs) : null,
    compactedRows,
    pruneMs: summary(pruneMs),
  };
}

process.exitCode = await main();
