/**
 * CPU of the failover engine's once-a-second sweep, in-process: `npm run bench:failover-tick`.
 *
 * The engine (core/failover/engine.ts) judges every service each policy interval (1 s by
 * default): per host the success-rate and latency rules over its sliding windows, the latency
 * of its own outbound calls per callee, the heartbeat and streak rules. At 1 000 services ×
 * 10 instances that sweep ran on the core's main thread every second and, with the rest of the
 * ingest, kept it busy enough that the console's page waited seconds for an answer
 * (docs/benchmarks.md, "Console at 1 000 services").
 *
 * What runs: the synthetic mesh (core/telemetry/synthetic-mesh.ts, SIZE services × 10 instances
 * × 3 edges) with every instance heartbeating and sending a 1 s telemetry batch each simulated
 * second (`--every N`: each instance every N seconds instead, as the console benchmark feeds
 * it), folded into the engine with observeBatch, then tick(); a simulated clock, so no timer
 * waits. Measured: the CPU time (process.cpuUsage) of each tick after the first 5 (JIT warm-up),
 * and of the batches folded per second. The baseline is the same run at 100 services, measured
 * first: per host the cost should not grow with the mesh.
 *
 * Options: `--sizes 100,1000` (the first is the baseline), `--seconds 40`, `--every 1`,
 * `--heap-snapshot` (a V8 heap snapshot after the last size's run, its engine still alive, in
 * bench/results/profiles/; `node out/bench/heap-summary.js FILE --shapes` sums it by what its
 * objects are: what the engine keeps between sweeps).
 */
import { FailoverEngine } from '../core/failover/engine.js';
import { SyntheticMesh } from '../core/telemetry/synthetic-mesh.js';
import { distribution, machine, pad, writeHeapSnapshot, writeResults } from './lib.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const SIZES = arg('sizes', '100,1000').split(',').map(Number);
const SECONDS = Number(arg('seconds', '40'));
const EVERY = Number(arg('every', '1'));
const WARMUP = 5;
const HEAP_SNAPSHOT = process.argv.includes('--heap-snapshot');

interface SizeResult {
  services: number;
  hosts: number;
  tickMs: ReturnType<typeof distribution>;
  perHostUs: number;
  observeMsPerS: number;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function run(services: number): SizeResult {
  const mesh = new SyntheticMesh({ services, instancesPerService: 10, edgesPerInstance: 3, prefix: `tick${services}` });
  const bySvc = new Map<string, string[]>();
  for (const inst of mesh.instances) {
    const list = bySvc.get(inst.service) ?? [];
    list.push(inst.instanceId);
    bySvc.set(inst.service, list);
  }
  const names = [...bySvc.keys()];
  let now = 1_800_000_000_000;
  const engine = new FailoverEngine({ services: () => names, instancesOf: (s) => bySvc.get(s) ?? [], now: () => now });
  const ticks: number[] = [];
  let observeMs = 0;
  const slice = Math.ceil(mesh.size / EVERY);
  for (let sec = 0; sec < SECONDS + WARMUP; sec++) {
    now += 1000;
    const from = (sec % EVERY) * slice;
    // Fresh batch objects each second, as decoded from the wire (the engine's sketch caches see new objects).
    const batches = mesh.instances.slice(from, from + slice).map((_, k) => mesh.batch(from + k, now - 1000));
    const observeStart = process.cpuUsage();
    for (const batch of batches) engine.observeBatch(batch);
    for (const inst of mesh.instances) engine.heartbeat(inst.service, inst.instanceId, 10_000);
    if (sec >= WARMUP) observeMs += cpuMs(observeStart);
    const tickStart = process.cpuUsage();
    engine.tick();
    if (sec >= WARMUP) ticks.push(cpuMs(tickStart));
  }
  const tickMs = distribution(ticks);
  if (HEAP_SNAPSHOT && services === SIZES.at(-1)) console.log(`heap snapshot with the engine of ${services} services: ${writeHeapSnapshot(import.meta.url, `failover-tick-${services}`)} (${engine.held(names[0]!).windows} windows held by its first service)`);
  return { services, hosts: mesh.size, tickMs, perHostUs: (tickMs.p50 * 1000) / mesh.size, observeMsPerS: observeMs / SECONDS };
}

const m = machine();
console.log(`Failover engine sweep: ${SIZES.join(', ')} services × 10 instances × 3 edges, a batch per instance every ${EVERY} s, ${SECONDS} s simulated (+${WARMUP} warm-up); ${m.text}`);
const results: SizeResult[] = [];
for (const size of SIZES) results.push(run(size));
const base = results[0]!;
console.log(`\n${pad('services', 8)} ${pad('hosts', 7)} ${pad('tick p50', 10)} ${pad('tick p90', 10)} ${pad('tick max', 10)} ${pad('µs/host', 8)} ${pad('vs base', 8)} ${pad('observe ms/s', 13)}`);
for (const r of results) {
  console.log(
    `${pad(String(r.services), 8)} ${pad(String(r.hosts), 7)} ${pad(`${r.tickMs.p50.toFixed(1)} ms`, 10)} ${pad(`${r.tickMs.p90.toFixed(1)} ms`, 10)} ${pad(`${r.tickMs.max.toFixed(1)} ms`, 10)} ${pad(r.perHostUs.toFixed(1), 8)} ${pad(`${(r.perHostUs / base.perHostUs).toFixed(2)}×`, 8)} ${pad(r.observeMsPerS.toFixed(1), 13)}${r === base ? '  (baseline)' : ''}`,
  );
}
console.log('tick: CPU of one engine.tick() (every service judged); µs/host: tick p50 per instance; observe ms/s: CPU folding one second of batches and heartbeats.');
console.log(`Wrote ${writeResults(import.meta.url, 'failover-tick', { machine: m, seconds: SECONDS, every: EVERY, results })}`);
