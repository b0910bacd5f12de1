/// <reference lib="dom" />
/**
 * The console's topology view at 50, 500 and 1 000 services, in Chromium: `npm run bench:console`.
 *
 * How it runs: bundled by vite (bench/vite.config.ts) into out/bench/console.bench.js, run with
 * plain `node`; needs `npm run build` (the CLI and the renderer) and the local RabbitMQ. For each
 * size, in turn and in the same run (the smallest, 50 services, is the baseline):
 *
 *   core       the real headless host, `node bin/meshdeck.js serve` (test/support/serve.ts), on a
 *              vhost of its own (rabbitmqctl; deleted after) and a fresh database.
 *   publisher  a child process (`--role publisher`): the synthetic mesh of core/telemetry/
 *              synthetic-mesh.ts (SIZE services × 10 instances × 3 edges per instance, so 30
 *              callees per service: 1 500 / 15 000 / 30 000 service edges), registered over the
 *              broker, then live until the end: heartbeats and telemetry batches (the bodies
 *              bench/telemetry-load.ts and the ingest benchmarks send) over the real broker.
 *              Rates are capped so the core can keep up on a small machine: every instance sends a
 *              heartbeat every HEARTBEAT_S s (registered with a 10 s interval) and a telemetry
 *              batch (covering 1 s) every ceil(instances / --telemetry-rate) seconds — at 1 000
 *              services and the default 2 000 batches/s, every 5 s, which keeps every edge inside
 *              the core's 10 s live span. The figures say what was fed.
 *   browser    Chromium (playwright-core, /usr/bin/chromium, test/support/chromium.ts) at
 *              1280×800 opens the console URL (which stores the token), then about:blank, then
 *              `#/topology` — the measured navigation.
 *
 * Measured per size:
 *   first render   navigation start → the topology graph drawn with every service: the SVG
 *                  `[data-testid=topology-graph]` carries data-laid-out="true" and
 *                  data-nodes-drawn = the number of services (set by TopologyGraph once the
 *                  layout of the current model is applied), polled each animation frame. For
 *                  context, also navigation → the app shell showing the broker connected.
 *   long tasks     PerformanceObserver('longtask') from an init script; during the live phase
 *                  (DURATION s after first render, with the live topics the topology view reads
 *                  pushed: mesh.traffic once a second, mesh.topology when it changes):
 *                  the count over 50 ms, the longest, and when each one over 50 ms started (s
 *                  into the live phase, printed). Tasks overlapping our own forced GCs are left out.
 *   heap           every SAMPLE_S s: CDP HeapProfiler.collectGarbage, then Performance.getMetrics
 *                  JSHeapUsedSize; the last value and the least-squares slope (MB/min) over the
 *                  live phase after its first WARMUP_S s (the sample at 0 s is taken before the
 *                  view holds the edges' numbers: 11 → 14.5 MB in the first 6 s at 1 000 services,
 *                  which made a 60-s run's slope +1.6 MB/min with the heap level from 6 s on).
 *   WebSocket      bytes and frames received per topic (Playwright's frame events).
 * Also the machine's load average (os.loadavg) at the start and the end, and the CPU other
 * processes took (bench/lib.ts), which flags a disturbed run.
 *
 * Goals (issue 6), judged at 1 000 services: first render ≤ 2 s; no main-thread task over 50 ms
 * while live; renderer heap ≤ 300 MB after 10 minutes and not growing (judged for runs of 10
 * minutes or more).
 *
 * Options: `--sizes 50,500,1000`, `--duration SECONDS` (600; the live phase per size),
 * `--telemetry-rate BATCHES_PER_S` (2000), `--headed` (never in CI), `--profile` (a CPU profile of
 * the page's main thread over CDP — navigation to first render, and the live phase — written to
 * bench/results/console-<size>-<phase>.cpuprofile (open in Chromium's DevTools), with the
 * functions taking the most self time printed; profiling slows the page, so a profiled run's
 * figures are for attribution, not for the goals. For readable names, build the renderer
 * unminified first and run the bundle directly: `npx vite build --config renderer/vite.config.ts
 * --minify false && vite build --config bench/vite.config.ts && node out/bench/console.bench.js
 * --sizes 1000 --duration 60 --profile`).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Connection } from 'rabbitmq-client';
import { encodeMeshEvent } from '../core/protocol/codec.js';
import { CONTENT_TYPE, EXCHANGES, routingKeys } from '../core/protocol/topology.js';
import { SyntheticMesh } from '../core/telemetry/synthetic-mesh.js';
import { launchChromium } from '../test/support/chromium.js';
import { startServe, type ServedConsole } from '../test/support/serve.js';
import { Child, benchVhost, otherLoad, processCpu, resultsDir, sleep, toParent, until, writeResults, type Message } from './lib.js';
import { DISTURBED_CORES, ENCODING, heartbeatTemplate, option, runContext, telemetryBody } from './telemetry-load.js';

const SIZES = (option('sizes') ?? '50,500,1000').split(',').map(Number);
const DURATION_S = Number(option('duration') ?? 600);
const TELEMETRY_RATE = Number(option('telemetry-rate') ?? 2000);
const INSTANCES_PER_SERVICE = 10;
const EDGES_PER_INSTANCE = 3;
const HEARTBEAT_S = 5;
const HEARTBEAT_INTERVAL_MS = 10_000;
const PROFILE = process.argv.includes('--profile');
const SAMPLE_S = Math.min(30, Math.max(5, Math.floor(DURATION_S / 10)));
/** The heap slope leaves out the live phase's first seconds, while the view fills with the edges' numbers. */
const WARMUP_S = 30;
const GOALS = { firstRenderMs: 2000, longTaskMs: 50, heapMB: 300, heapMinS: 600 };
const MB = 2 ** 20;

function expectedEdges(services: number): number {
  // Instance i of service s calls s + 1 + i·E + k (mod services): I·E distinct callees, fewer when the mesh is smaller.
  return services * Math.min(services - 1, INSTANCES_PER_SERVICE * EDGES_PER_INSTANCE);
}

// --- publisher ---------------------------------------------------------------------------------

async function publisherRole(): Promise<void> {
  const broker = option('broker')!;
  const mesh = new SyntheticMesh({ services: Number(option('services')), instancesPerService: INSTANCES_PER_SERVICE, edgesPerInstance: EDGES_PER_INSTANCE, prefix: option('prefix')! });
  const period = Number(option('period'));
  const source = `meshdeck://bench/console-publisher-${process.pid}`;
  const heartbeat = heartbeatTemplate(mesh, source);
  const connection = new Connection({ url: broker, connectionName: 'meshdeck-bench-console-publisher' });
  await connection.onConnect(10_000);
  const confirmed = connection.createPublisher({ confirm: true });
  const fast = connection.createPublisher({ confirm: false });
  let stopping = false;
  let published = 0;
  let heartbeats = 0;
  let id = 0;

  const register = async () => {
    let pending: Array<Promise<void>> = [];
    for (const [n, inst] of mesh.instances.entries()) {
      const body = encodeMeshEvent(
        'io.meshdeck.instance.register.v1',
        { service: inst.service, instanceId: inst.instanceId, zone: `zone-${'abc'[n % 3]}`, address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`, weight: 100, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, agent: 'sidecar', startedAt: new Date().toISOString() },
        { source },
      );
      pending.push(confirmed.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.register(inst.service, inst.instanceId), contentType: CONTENT_TYPE, durable: true }, body));
      if (pending.length >= 1000) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    toParent({ type: 'registered', count: mesh.size });
  };

  // Until stopped: each second, in 10 slots of 100 ms, the instances whose turn it is send a
  // telemetry batch (every `period` s) and a heartbeat (every HEARTBEAT_S s).
  const live = async () => {
    const t0 = Math.ceil(Date.now() / 100) * 100;
    for (let tick = 0; !stopping; tick++) {
      const due = t0 + tick * 100;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const second = Math.floor(tick / 10);
      const slot = tick % 10;
      const pending: Array<Promise<void>> = [];
      for (let n = slot; n < mesh.size; n += 10) {
        const inst = mesh.instances[n]!;
        if (Math.floor(n / 10) % period === second % period) {
          const { body, contentType } = telemetryBody(mesh, n, due - 1000, `c${id++}`);
          pending.push(fast.send({ exchange: EXCHANGES.telemetry, routingKey: inst.routingKey, contentType }, body));
          published += 1;
        }
        if (Math.floor(n / 10) % HEARTBEAT_S === second % HEARTBEAT_S) {
          pending.push(fast.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.heartbeat(inst.service, inst.instanceId), contentType: CONTENT_TYPE }, heartbeat(n, second + 1)));
          heartbeats += 1;
        }
      }
      await Promise.all(pending);
      if (slot === 9) toParent({ type: 'progress', published, heartbeats, late: Math.max(0, Date.now() - due - 100) });
    }
  };

  const failed = (err: unknown) => toParent({ type: 'failed', error: String(err) });
  process.on('message', (raw) => {
    const message = raw as Message;
    if (message.type === 'register') void register().catch(failed);
    if (message.type === 'live') void live().catch(failed);
    if (message.type === 'stop') {
      stopping = true;
      void Promise.all([confirmed.close(), fast.close()])
        .then(() => connection.close())
        .finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  toParent({ type: 'ready' });
}

// --- parent ------------------------------------------------------------------------------------

async function post<T>(served: ServedConsole, method: string, body: unknown): Promise<T> {
  const response = await fetch(`${served.url}/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${served.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
  const json = (await response.json()) as { result?: T } | T;
  return (json && typeof json === 'object' && 'result' in json ? json.result : json) as T;
}

const INIT_SCRIPT = `
  window.__longTasks = [];
  window.__frames = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        // The frames that arrived while it ran (or just before): what it was handling, if a frame.
        const during = e.duration > 50 ? window.__frames.filter(([at]) => at >= e.startTime - 5 && at <= e.startTime + e.duration).map(([, text]) => text) : [];
        window.__longTasks.push([e.startTime, e.duration, during]);
      }
    }).observe({ type: 'longtask', buffered: true });
  } catch (err) { window.__longTaskError = String(err); }
  // When each WebSocket frame reached the page, and the start of its text (the newest 400 or more
  // kept): names what a long task was handling.
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const frames = window.__frames;
        frames.push([performance.now(), typeof e.data === 'string' ? e.data.slice(0, 120) : 'binary']);
        if (frames.length > 800) frames.splice(0, 400);
      });
    }
  };
`;

interface SizeResult {
  services: number;
  instances: number;
  expectedEdges: number;
  edgesInCore: number;
  feed: { telemetryPeriodS: number; batchesPerS: number; heartbeatsPerS: number; publishedBatches: number; publishedHeartbeats: number; maxLateMs: number };
  firstRenderMs: number | null;
  firstRenderError?: string;
  /** Navigation → the app shell shows the broker connected (page loaded, API answering). */
  shellMs: number | null;
  drawn: { nodes: number; edges: number; svgElements: number };
  live: { seconds: number; longTasks: number; over50: number; over50At: Array<{ s: number; ms: number }>; maxMs: number; totalMs: number };
  heapMB: { samples: Array<{ s: number; mb: number }>; first: number; last: number; max: number; slopeMBPerMin: number };
  ws: Record<string, { frames: number; bytes: number }>;
  loadavg: { start: number[]; end: number[] };
  otherCores: number | null;
  disturbed: boolean;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }>;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time per function of a CDP CPU profile, the largest first (program, idle and GC included as V8 names them). */
function topSelf(profile: CpuProfile, n = 15): Array<{ fn: string; ms: number }> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const f = byId.get(samples[i]!);
    if (!f) continue;
    const file = f.url.split('/').pop() ?? '';
    const key = `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}:${f.columnNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  }
  return [...self].map(([fn, ms]) => ({ fn, ms })).sort((a, b) => b.ms - a.ms).slice(0, n);
}

function saveProfile(services: number, phase: string, profile: CpuProfile, say: (line: string) => void): void {
  const file = `${resultsDir(import.meta.url)}console-${services}-${phase}.cpuprofile`;
  writeFileSync(file, JSON.stringify(profile));
  say(`    CPU profile (${phase}) in ${file}; self time, largest first:`);
  for (const { fn, ms } of topSelf(profile)) say(`      ${ms.toFixed(0).padStart(7)} ms  ${fn}`);
}

function slope(points: Array<{ s: number; mb: number }>): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.s, 0) / n;
  const my = points.reduce((a, p) => a + p.mb, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.s - mx) * (p.mb - my);
    den += (p.s - mx) ** 2;
  }
  return den ? (num / den) * 60 : 0;
}

async function measureSize(services: number, ctx: ReturnType<typeof runContext>, browser: Awaited<ReturnType<typeof launchChromium>>): Promise<SizeResult> {
  const { script, run, say } = ctx;
  const instances = services * INSTANCES_PER_SERVICE;
  const period = Math.max(1, Math.ceil(instances / TELEMETRY_RATE));
  const loadStart = os.loadavg();
  const vhost = benchVhost(`meshdeck-bench-console-${services}`);
  // startServe allows 15 s for the URL; a loaded machine can take longer, so up to three tries.
  let served: ServedConsole | null = null;
  for (let attempt = 1; !served; attempt++) {
    try {
      served = await startServe({ broker: vhost.url, env: { MESHDECK_LOG_LEVEL: 'warn' } });
    } catch (err) {
      if (attempt >= 3) {
        vhost.remove();
        throw err;
      }
    }
  }
  let publisher: Child | null = null;
  let stopping = false;
  try {
    publisher = new Child('publisher', script, ['--role', 'publisher', '--broker', vhost.url, '--services', String(services), '--prefix', `c${run}-${services}`, '--period', String(period), '--encoding', ENCODING]);
    await publisher.next('ready', 30_000);
    await until(async () => (await post<Array<{ id: string }>>(served, 'profiles.list', {}).catch(() => [])).length > 0, 'the command-line profile', 30_000, 200);
    const profileId = 'cli';
    await publisher.request({ type: 'register' }, 'registered', 300_000);
    await until(async () => (await post<unknown[]>(served, 'mesh.services', { profileId }).catch(() => [])).length >= services, `${services} services registered`, 900_000, 500);
    let progress = { published: 0, heartbeats: 0, late: 0 };
    let maxLate = 0;
    publisher.process.on('message', (raw) => {
      const m = raw as Message;
      if (m.type === 'progress') {
        progress = m as unknown as typeof progress;
        maxLate = Math.max(maxLate, progress.late);
      } else if (m.type === 'failed' && !stopping) console.error(`publisher failed: ${String(m.error)}`);
    });
    publisher.send({ type: 'live' });
    const expected = expectedEdges(services);
    let edgesInCore = 0;
    const t0 = Date.now();
    await until(
      async () => {
        edgesInCore = (await post<unknown[]>(served, 'mesh.edges', { profileId }).catch(() => [])).length || edgesInCore;
        return edgesInCore >= expected * 0.98 || Date.now() - t0 > 120_000;
      },
      'edges',
      180_000,
      1000,
    );
    say(`  ${services} services: ${instances} instances registered; ${edgesInCore} of ${expected} edges live in the core ${((Date.now() - t0) / 1000).toFixed(0)} s after telemetry started (a batch per instance every ${period} s)`);

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    // A shared, loaded machine can take tens of seconds for a first load.
    page.setDefaultTimeout(180_000);
    page.setDefaultNavigationTimeout(180_000);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    const ws: SizeResult['ws'] = {};
    page.on('websocket', (socket) => {
      socket.on('framereceived', (frame) => {
        const text = typeof frame.payload === 'string' ? frame.payload : frame.payload.toString('utf8');
        const topic = /"topic":"([^"]+)"/.exec(text.slice(0, 200))?.[1] ?? /"t":"([^"]+)"/.exec(text.slice(0, 200))?.[1] ?? 'other';
        const entry = (ws[topic] ??= { frames: 0, bytes: 0 });
        entry.frames += 1;
        entry.bytes += text.length;
      });
    });
    await page.addInitScript(INIT_SCRIPT);
    await page.goto(served.consoleUrl);
    await page.locator('[data-testid="topbar-broker"] [data-status="connected"]').waitFor({ timeout: 60_000 });
    await page.goto('about:blank');

    // The measured navigation (profiled with --profile).
    const cdp = await context.newCDPSession(page);
    if (PROFILE) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
      await cdp.send('Profiler.start');
    }
    let firstRenderMs: number | null = null;
    let firstRenderError: string | undefined;
    await page.goto(`${served.url}/#/topology`);
    // For context: when the app shell shows the broker connected (the page loaded, the API answered).
    const shell = page
      .waitForFunction(() => (document.querySelector('[data-testid="topbar-broker"] [data-status="connected"]') ? performance.now() : null), undefined, { polling: 'raf', timeout: 300_000 })
      .then(async (h) => (await h.jsonValue()) as number)
      .catch(() => null);
    try {
      const handle = await page.waitForFunction(
        (n) => {
          const g = document.querySelector('[data-testid="topology-graph"]');
          return g && g.getAttribute('data-laid-out') === 'true' && Number(g.getAttribute('data-nodes-drawn')) >= n ? performance.now() : null;
        },
        services,
        { polling: 'raf', timeout: 300_000 },
      );
      firstRenderMs = (await handle.jsonValue()) as number;
    } catch (err) {
      firstRenderError = String(err).split('\n')[0];
    }
    const shellMs = await shell;
    const drawn = await page.evaluate(() => {
      const g = document.querySelector('[data-testid="topology-graph"]');
      return { nodes: Number(g?.getAttribute('data-nodes-drawn') ?? 0), edges: Number(g?.getAttribute('data-edges-drawn') ?? 0), svgElements: g?.querySelectorAll('*').length ?? 0 };
    });
    say(`    first render ${firstRenderMs === null ? `FAILED (${firstRenderError})` : `${firstRenderMs.toFixed(0)} ms`} (app shell connected at ${shellMs === null ? '—' : `${shellMs.toFixed(0)} ms`}); drawn ${drawn.nodes} services, ${drawn.edges} edges, ${drawn.svgElements} SVG elements`);

    if (PROFILE) {
      saveProfile(services, 'first-render', (await cdp.send('Profiler.stop')).profile as CpuProfile, say);
      await cdp.send('Profiler.start');
    }

    // Live phase: the page as it is, topics pushed once a second; heap sampled after GC.
    await cdp.send('Performance.enable');
    const gcWindows: Array<[number, number]> = [];
    const heapSample = async (): Promise<number> => {
      const a = (await page.evaluate(() => performance.now())) as number;
      await cdp.send('HeapProfiler.collectGarbage');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const b = (await page.evaluate(() => performance.now())) as number;
      gcWindows.push([a, b]);
      return (metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0) / MB;
    };
    for (const k of Object.keys(ws)) delete ws[k];
    const liveStart = (await page.evaluate(() => performance.now())) as number;
    const machineBefore = processCpu();
    const heap: Array<{ s: number; mb: number }> = [{ s: 0, mb: await heapSample() }];
    const started = Date.now();
    const pub0 = { ...progress };
    while (Date.now() - started < DURATION_S * 1000) {
      await sleep(Math.min(SAMPLE_S * 1000, started + DURATION_S * 1000 - Date.now()));
      const s = (Date.now() - started) / 1000;
      heap.push({ s, mb: await heapSample() });
      say(`    live ${s.toFixed(0)} s: heap after GC ${heap.at(-1)!.mb.toFixed(1)} MB, load ${os.loadavg()[0]!.toFixed(1)}`);
    }
    const seconds = (Date.now() - started) / 1000;
    const load = otherLoad(machineBefore, processCpu(), seconds, [process.pid, publisher.process.pid ?? -1, served.process.pid ?? -1]);
    if (PROFILE) saveProfile(services, 'live', (await cdp.send('Profiler.stop')).profile as CpuProfile, say);
    const tasks = (await page.evaluate(() => (window as unknown as { __longTasks: Array<[number, number, string[]]> }).__longTasks)) as Array<[number, number, string[]]>;
    const liveTasks = tasks.filter(([start, duration]) => start >= liveStart && !gcWindows.some(([a, b]) => start < b + 5 && start + duration > a - 5));
    const over = liveTasks.filter(([, d]) => d > GOALS.longTaskMs);
    for (const [start, duration, frames] of over) {
      const topics = frames.map((text) => /"topic":"([^"]+)"/.exec(text)?.[1] ?? /"t":"([^"]+)"/.exec(text)?.[1] ?? text.slice(0, 40));
      say(`    long task ${duration.toFixed(0)} ms at ${((start - liveStart) / 1000).toFixed(1)} s live; frames received meanwhile: ${topics.length ? topics.join(', ') : 'none'}`);
    }
    if (problems.length) say(`    page errors: ${problems.slice(0, 3).join(' | ')}`);
    await context.close();
    const fed = { published: progress.published - pub0.published, heartbeats: progress.heartbeats - pub0.heartbeats };
    const mbs = heap.map((h) => h.mb);
    return {
      services,
      instances,
      expectedEdges: expected,
      edgesInCore,
      feed: { telemetryPeriodS: period, batchesPerS: fed.published / seconds, heartbeatsPerS: fed.heartbeats / seconds, publishedBatches: fed.published, publishedHeartbeats: fed.heartbeats, maxLateMs: maxLate },
      firstRenderMs,
      firstRenderError,
      shellMs,
      drawn,
      live: {
        seconds,
        longTasks: liveTasks.length,
        over50: over.length,
        over50At: over.map(([start, duration]) => ({ s: (start - liveStart) / 1000, ms: duration })),
        maxMs: Math.max(0, ...liveTasks.map(([, d]) => d)),
        totalMs: liveTasks.reduce((a, [, d]) => a + d, 0),
      },
      heapMB: { samples: heap, first: mbs[0]!, last: mbs.at(-1)!, max: Math.max(...mbs), slopeMBPerMin: slope(heap.filter((h) => h.s >= Math.min(WARMUP_S, seconds / 2))) },
      ws,
      loadavg: { start: loadStart, end: os.loadavg() },
      otherCores: load ? load.otherCores - load.brokerCores : null,
      disturbed: load ? load.otherCores - load.brokerCores > DISTURBED_CORES || load.stealCores > 0.05 : true,
    };
  } finally {
    stopping = true;
    await publisher?.stop().catch(() => undefined);
    await served.stop();
    vhost.remove();
  }
}

async function parent(): Promise<void> {
  const ctx = runContext(import.meta.url);
  const { host, say, lines } = ctx;
  say(`Console: the topology view at ${SIZES.join(', ')} services (10 instances each, 3 edges per instance), ${DURATION_S} s live per size; ${host.text}`);
  say(`load average at the start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.availableParallelism()} CPUs)`);
  const browser = await launchChromium();
  const results: SizeResult[] = [];
  let exitCode = 0;
  try {
    for (const size of SIZES) {
      try {
        results.push(await measureSize(size, ctx, browser));
      } catch (err) {
        // One size failing (e.g. a core too slow to register 10 000 instances on a loaded machine) does not lose the others.
        say(`  ${size} services: FAILED: ${String(err).split('\n')[0]}`);
        exitCode = 2;
      }
    }
  } catch (err) {
    console.error(err);
    exitCode = 2;
  } finally {
    await browser.close();
  }
  const f = (x: number | null, d = 0) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(d));
  say('');
  say(`${'services'.padStart(8)} ${'edges'.padStart(6)} ${'fed/s'.padStart(12)} ${'1st render'.padStart(10)} ${'SVG els'.padStart(8)} ${'tasks>50'.padStart(8)} ${'max task'.padStart(8)} ${'heap MB'.padStart(8)} ${'max MB'.padStart(7)} ${'MB/min'.padStart(7)} ${'ws kB/s'.padStart(8)} ${'load'.padStart(10)} ${''}`);
  for (const r of results) {
    const wsBytes = Object.values(r.ws).reduce((a, w) => a + w.bytes, 0);
    say(
      `${String(r.services).padStart(8)} ${String(r.edgesInCore).padStart(6)} ${`${f(r.feed.batchesPerS)}+${f(r.feed.heartbeatsPerS)}`.padStart(12)} ${`${f(r.firstRenderMs)} ms`.padStart(10)} ${String(r.drawn.svgElements).padStart(8)} ${String(r.live.over50).padStart(8)} ${`${f(r.live.maxMs)} ms`.padStart(8)} ${f(r.heapMB.last, 1).padStart(8)} ${f(r.heapMB.max, 1).padStart(7)} ${f(r.heapMB.slopeMBPerMin, 2).padStart(7)} ${f(wsBytes / 1024 / r.live.seconds, 0).padStart(8)} ${`${f(r.loadavg.start[0]!, 1)}→${f(r.loadavg.end[0]!, 1)}`.padStart(10)} ${r.disturbed ? 'disturbed' : ''}${r.services === SIZES[0] ? ' (baseline)' : ''}`,
    );
  }
  say(`fed/s: telemetry batches + heartbeats published per second; tasks>50: main-thread long tasks over 50 ms while live; heap: JSHeapUsedSize after a forced GC, at the end; MB/min: least-squares slope over the live phase after its first ${WARMUP_S} s (half of a shorter run); load: 1-min load average at the start → end of that size.`);
  const big = results.find((r) => r.services === 1000) ?? results.at(-1);
  if (big) {
    const render = big.firstRenderMs !== null && big.firstRenderMs <= GOALS.firstRenderMs;
    const tasks = big.live.over50 === 0;
    const heapJudged = big.live.seconds >= GOALS.heapMinS;
    const heapMet = big.heapMB.last <= GOALS.heapMB && big.heapMB.slopeMBPerMin <= 0.5;
    say(`at ${big.services} services: first render ≤ ${GOALS.firstRenderMs} ms: ${render ? 'MET' : 'MISSED'} (${f(big.firstRenderMs)} ms); no task > 50 ms while live: ${tasks ? 'MET' : 'MISSED'} (${big.live.over50}, max ${f(big.live.maxMs)} ms); heap ≤ ${GOALS.heapMB} MB after 10 min and flat: ${heapJudged ? (heapMet ? 'MET' : 'MISSED') : `not judged (run of ${f(big.live.seconds)} s)`} (${f(big.heapMB.last, 1)} MB, ${f(big.heapMB.slopeMBPerMin, 2)} MB/min)`);
    if (!render || !tasks || (heapJudged && !heapMet)) exitCode ||= 1;
  }
  if (results.some((r) => r.disturbed)) say('WARNING: other processes took more than 0.25 cores (besides the broker) during a live phase: the figures are disturbed');
  const file = writeResults(import.meta.url, 'console', { benchmark: 'console', date: new Date().toISOString(), machine: host, method: { sizes: SIZES, durationS: DURATION_S, telemetryRate: TELEMETRY_RATE, heartbeatS: HEARTBEAT_S, profiled: PROFILE }, results, lines });
  console.log(`Wrote ${file}`);
  process.exit(exitCode);
}

const role = option('role') ?? 'parent';
if (role === 'publisher') void publisherRole();
else void parent();
