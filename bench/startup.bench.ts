/**
 * Headless core boot to first API answer: `npm run bench:startup`.
 *
 * What the desktop app does before its window can show data, measured where Electron cannot run:
 * the time from spawning `node bin/meshdeck.js serve --db FILE --broker URL` to
 *   url      the console URL printed (database open and migrated, core created, HTTP listening)
 *   info     the first successful `POST /api/system.info`
 *   mesh     the first successful `POST /api/mesh.services` (the broker connection is up and the mesh attached)
 *   series   the first successful `POST /api/telemetry.series` (one edge, the last hour at 1 s)
 * and, after the last answer, the time from SIGTERM to exit (the core closes the broker connection
 * and the database). The answers are polled every 5 ms with a deadline.
 *
 * Databases: "history" — 7 days of history for EDGES edges (default 1 000; the telemetry-query
 * benchmark's generator, bench/telemetry-fill.ts: 57.6 M rows, about 6 GiB) in the mesh of the
 * command-line profile, ending when it was written. It is cached in os.tmpdir()/meshdeck-bench-
 * startup/ and reused while its 1 s rows are within their 6 h retention (else rebuilt; --rebuild
 * forces it). The baseline: "empty" — the same boot with a database that has every migration but
 * no history. RUNS runs each (default 10), alternating, after one unmeasured warm-up of each.
 *
 * Goal (set by the issue): p95 of "info" ≤ 1 s with the history database. Otherwise exit code 1.
 * Needs `npm run build` (the CLI and the renderer) and the local RabbitMQ (127.0.0.1:5672,
 * guest/guest; with rabbitmqctl a vhost of its own for the run). Results: bench/results/startup.json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_PROFILE_ID } from '../core/bus/profiles.js';
import { silentLogger } from '../core/lib/log.js';
import { openDatabase } from '../core/store/database.js';
import { HistoryStore } from '../core/telemetry/history-store.js';
import { benchVhost, machine, percentile, writeResults } from './lib.js';
import { HOUR_S, SPAN_S, edgeName, fillEdgeHistory, makeProfiles } from './telemetry-fill.js';

const EDGES = Number(option('edges') ?? 1000);
const RUNS = Number(option('runs') ?? 10);
const GOAL_MS = 1000;
const DEADLINE_MS = 60_000;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(os.tmpdir(), 'meshdeck-bench-startup');
const PHASES = ['url', 'info', 'mesh', 'series', 'shutdown'] as const;
type Phase = (typeof PHASES)[number];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface HistoryDb {
  path: string;
  nowS: number;
  edges: number;
  rows: number;
  bytes: number;
  builtSeconds: number | null;
}

/** The cached history database, rebuilt when missing, for another size, or when its 1 s rows have aged out. */
async function historyDatabase(): Promise<HistoryDb> {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `history-${EDGES}.db`);
  const metaPath = `${path}.json`;
  const nowS = Math.floor(Date.now() / 1000);
  if (!process.argv.includes('--rebuild') && existsSync(path) && existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Omit<HistoryDb, 'builtSeconds' | 'bytes'>;
    if (meta.edges === EDGES && nowS - meta.nowS < SPAN_S['1s'] - HOUR_S) {
      console.log(`  history database: reusing ${path} (written ${((nowS - meta.nowS) / 60).toFixed(0)} min ago)`);
      return { ...meta, path, bytes: statSync(path).size, builtSeconds: null };
    }
  }
  for (const suffix of ['', '-wal', '-shm', '.json']) rmSync(`${path}${suffix}`, { force: true });
  console.log(`  history database: writing 7 days for ${EDGES} edges to ${path} (about 4 min and 6 GiB at 1 000 edges)`);
  const db = openDatabase({ path, logger: silentLogger });
  try {
    const { rows, seconds } = await fillEdgeHistory(new HistoryStore(db), { mesh: CLI_PROFILE_ID, edges: EDGES, nowS, profiles: makeProfiles(), progress: console.log });
    db.pragma('wal_checkpoint(TRUNCATE)');
    const meta = { path, nowS, edges: EDGES, rows: rows['1s'] + rows['10s'] + rows['1m'] };
    writeFileSync(metaPath, JSON.stringify(meta));
    return { ...meta, bytes: statSync(path).size, builtSeconds: seconds };
  } finally {
    db.close();
  }
}

function emptyDatabase(): string {
  const path = join(CACHE, 'empty.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  openDatabase({ path, logger: silentLogger }).close();
  return path;
}

async function post(base: string, token: string, method: string, body: unknown): Promise<boolean> {
  try {
    const response = await fetch(`${base}/api/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** One boot: spawn, poll each answer in turn, then SIGTERM; milliseconds per phase from the spawn. */
async function boot(dbPath: string, broker: string, edge: { from: string; to: string }): Promise<Record<Phase, number>> {
  const token = `bench-${process.pid}-${Date.now()}`;
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin/meshdeck.js'), 'serve', '--port', '0', '--db', dbPath, '--broker', broker], {
    env: { ...process.env, MESHDECK_TOKEN: token, MESHDECK_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited: number | string | null = null;
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = signal ?? code;
      resolve();
    }),
  );
  const deadline = t0 + DEADLINE_MS;
  const waitFor = async (what: string, check: () => boolean | Promise<boolean>): Promise<number> => {
    for (;;) {
      if (await check()) return performance.now() - t0;
      if (exited !== null) throw new Error(`meshdeck serve exited (${exited}) before ${what}; stderr:\n${stderr}`);
      if (performance.now() > deadline) throw new Error(`no ${what} within ${DEADLINE_MS} ms; stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  try {
    const url = await waitFor('console URL', () => /Meshdeck console: (\S+)/.test(stdout));
    const base = /Meshdeck console: (http:\/\/[^/\s]+)/.exec(stdout)![1]!;
    const info = await waitFor('system.info answer', () => post(base, token, 'system.info', {}));
    const mesh = await waitFor('mesh.services answer', () => post(base, token, 'mesh.services', { profileId: CLI_PROFILE_ID }));
    const end = Date.now();
    const query = { profileId: CLI_PROFILE_ID, kind: 'edge', ...edge, start: end - HOUR_S * 1000, end, resolution: '1s' };
    const series = await waitFor('telemetry.series answer', () => post(base, token, 'telemetry.series', query));
    const stopAt = performance.now();
    child.kill('SIGTERM');
    const stopDeadline = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(stopDeadline);
    if (exited !== 0) throw new Error(`meshdeck serve exited with ${exited} after SIGTERM (killed if not gone within 15 s); stderr:\n${stderr}`);
    return { url, info, mesh, series, shutdown: performance.now() - stopAt };
  } finally {
    if (exited === null) {
      child.kill('SIGKILL');
      await exit;
    }
  }
}

/** The floor under every boot: spawning `node -e 0` until it exits. */
async function bareNode(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return performance.now() - t0;
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x);
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), max: round(sorted.at(-1)!), n: sorted.length };
}

async function main(): Promise<number> {
  const host = machine();
  console.log(`startup: headless core boot to first API answer — ${EDGES} edges, ${RUNS} runs; ${host.text}`);
  if (!existsSync(join(ROOT, 'out/cli/meshdeck.js'))) throw new Error('out/cli is missing: run `npm run build` first');
  const history = await historyDatabase();
  console.log(`  history database: ${(history.rows / 1e6).toFixed(1)} M rows, ${(history.bytes / 2 ** 30).toFixed(2)} GiB`);
  const empty = emptyDatabase();
  const vhost = benchVhost('meshdeck-bench-startup');
  const edge = edgeName(0, EDGES);
  const bare: number[] = [];
  const samples: Record<'history' | 'empty', Record<Phase, number[]>> = {
    history: Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Record<Phase, number[]>,
    empty: Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Record<Phase, number[]>,
  };
  try {
    await boot(history.path, vhost.url, edge);
    await boot(empty, vhost.url, edge);
    for (let run = 0; run < RUNS; run++) {
      bare.push(await bareNode());
      for (const [name, path] of [['history', history.path], ['empty', empty]] as const) {
        const times = await boot(path, vhost.url, edge);
        for (const p of PHASES) samples[name][p].push(times[p]);
      }
    }
  } finally {
    vhost.remove();
  }
  const results = Object.fromEntries(
    (['history', 'empty'] as const).map((name) => [name, Object.fromEntries(PHASES.map((p) => [p, stats(samples[name][p])]))]),
  ) as Record<'history' | 'empty', Record<Phase, ReturnType<typeof stats>>>;
  console.log(`  ms from spawn (p50 / p95 / max over ${RUNS} runs)   ${PHASES.map((p) => p.padStart(24)).join('')}`);
  for (const name of ['empty', 'history'] as const) {
    const label = name === 'empty' ? 'baseline: empty database' : `history: ${EDGES} edges, 7 days`;
    console.log(`    ${label.padEnd(44)}${PHASES.map((p) => ` ${results[name][p].p50} / ${results[name][p].p95} / ${results[name][p].max}`.padStart(24)).join('')}`);
  }
  const node = stats(bare);
  console.log(`    ${'floor: spawn of node -e 0 until it exits'.padEnd(44)}${` ${node.p50} / ${node.p95} / ${node.max}`.padStart(24)}`);
  const goal = { what: 'p95 of system.info with the history database', p95: results.history.info.p95, goalMs: GOAL_MS, met: results.history.info.p95 <= GOAL_MS };
  console.log(`  goal: ${goal.what} ${goal.p95} ms ≤ ${GOAL_MS} ms: ${goal.met ? 'met' : 'MISSED'}`);
  const file = writeResults(import.meta.url, 'startup', {
    benchmark: 'startup',
    date: new Date().toISOString(),
    machine: host,
    method: { edges: EDGES, runs: RUNS, vhost: vhost.name, historyRows: history.rows, historyBytes: history.bytes, historyBuiltSeconds: history.builtSeconds },
    results,
    bareNode: node,
    goal,
  });
  console.log(`  results: ${file}`);
  return goal.met ? 0 : 1;
}

process.exitCode = await main();
