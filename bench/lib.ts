/**
 * Helpers shared by the benchmarks that run several processes (sidecar, registry): exact
 * percentiles, machine description, child processes driven over IPC with deadlines, and the
 * results file. Bundled into out/bench/chunks/ by bench/vite.config.ts.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { Worker } from 'node:worker_threads';
import { semiSpaceCap } from '../core/lib/heap.js';

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  platform: string;
  /** The main thread's semi-space cap this process started with (MB), null for V8's default (core/lib/heap.ts). */
  semiSpaceMb: number | null;
  text: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  let cpu = cpus[0]?.model.trim() ?? 'unknown CPU';
  try {
    const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (model) cpu = model.trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  const nproc = os.availableParallelism();
  const node = process.version;
  const platform = `${process.platform} ${process.arch}`;
  const semiSpaceMb = semiSpaceCap();
  const young = semiSpaceMb === null ? "V8's default semi-space" : `semi-space ${semiSpaceMb} MB`;
  return { nproc, cpu, node, platform, semiSpaceMb, text: `Node ${node}, ${platform}, ${nproc} x ${cpu}; ${young}` };
}

/** Garbage collection of this thread over a span: scavenges (young generation) and the rest (mark-compact, incremental marking, weak callbacks). */
export interface GcSpan {
  scavenges: number;
  scavengeMs: number;
  others: number;
  otherMs: number;
  text: string;
}

/** Starts counting this thread's collections (perf_hooks 'gc' entries); stop() gives the span's totals. */
export function watchGc(): { stop(): GcSpan } {
  const span = { scavenges: 0, scavengeMs: 0, others: 0, otherMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        span.scavenges += 1;
        span.scavengeMs += entry.duration;
      } else {
        span.others += 1;
        span.otherMs += entry.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop(): GcSpan {
      observer.disconnect();
      return { ...span, text: `${span.scavenges} scavenges ${(span.scavengeMs / 1000).toFixed(1)} s, ${span.others} other collections ${(span.otherMs / 1000).toFixed(1)} s` };
    },
  };
}

/** Exact nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Distribution {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Sorts a copy and reads exact percentiles. */
export function distribution(values: ArrayLike<number>): Distribution {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it is truthy; throws `what` after `timeoutMs`. */
export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs: number, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// --- child processes over IPC -----------------------------------------------------------------

export interface Message {
  type: string;
  [key: string]: unknown;
}

/** A child process running this same bundle with `--role <role>`, spoken to over IPC. */
export class Child {
  readonly process: ChildProcess;
  private readonly inbox: Message[] = [];
  private readonly waiters: Array<{ type: string; resolve: (m: Message) => void }> = [];
  private exited: string | null = null;

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    execArgv: string[] = [],
  ) {
    this.process = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    this.process.on('message', (raw) => {
      const message = raw as Message;
      const i = this.waiters.findIndex((w) => w.type === message.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(message);
      else this.inbox.push(message);
    });
    this.process.on('exit', (code, signal) => {
      this.exited = `exited with ${signal ?? code}`;
    });
  }

  send(message: Message): void {
    this.process.send(message);
  }

  /** The next message of `type` (queued or future), or an error after `timeoutMs` or if the child dies. */
  async next<T extends Message = Message>(type: string, timeoutMs: number): Promise<T> {
    const queued = this.inbox.findIndex((m) => m.type === type);
    if (queued >= 0) return this.inbox.splice(queued, 1)[0] as T;
    return new Promise<T>((resolve, reject) => {
      const waiter = { type, resolve: (m: Message) => done(() => resolve(m as T)) };
      const onExit = () => done(() => reject(new Error(`${this.name} ${this.exited ?? 'exited'} while we waited for "${type}"`)));
      const timer = setTimeout(() => done(() => reject(new Error(`${this.name}: no "${type}" within ${timeoutMs} ms`))), timeoutMs);
      const done = (then: () => void) => {
        clearTimeout(timer);
        this.process.off('exit', onExit);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        then();
      };
      this.waiters.push(waiter);
      if (this.exited) onExit();
      else this.process.once('exit', onExit);
    });
  }

  async request<T extends Message = Message>(message: Message, reply: string, timeoutMs: number): Promise<T> {
    const answer = this.next<T>(reply, timeoutMs);
    this.send(message);
    return answer;
  }

  /** Asks the child to stop; kills it (this child only) if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.exited || this.process.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    try {
      this.send({ type: 'stop' });
    } catch {
      // IPC channel already gone
    }
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

/** The value after `--<name>` on the command line (how a child learns its role and settings). */
export function option(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`missing --${name}`);
  return value;
}

/** In a child: sends a message to the parent. */
export function toParent(message: Message): void {
  process.send?.(message);
}

export interface Usage extends Message {
  type: 'usage';
  /** process.cpuUsage() in µs. */
  user: number;
  system: number;
  rss: number;
  at: number;
  /** Role-specific counters (e.g. TCP connections accepted). */
  counters: Record<string, number>;
}

export function usage(counters: Record<string, number> = {}): Usage {
  const cpu = process.cpuUsage();
  return { type: 'usage', user: cpu.user, system: cpu.system, rss: process.memoryUsage.rss(), at: performance.now() + performance.timeOrigin, counters };
}

/**
 * Per process, from /proc/<pid>/stat, in clock ticks: its own CPU time (utime + stime), that of
 * its reaped children (cutime + cstime), its parent and name.
 */
export interface ProcessCpu {
  procs: Map<number, { self: number; children: number; ppid: number; name: string }>;
  /** The machine's steal time (ticks, /proc/stat): CPU the hypervisor gave to other guests. */
  steal: number;
}

export function processCpu(): ProcessCpu | null {
  const out: ProcessCpu['procs'] = new Map();
  let entries: string[];
  let steal: number;
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
    steal = Number(/^cpu\s+(.+)$/m.exec(readFileSync('/proc/stat', 'utf8'))![1]!.trim().split(/\s+/)[7] ?? 0);
  } catch {
    return null;
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      // After "(name) ": state, ppid, …; utime, stime, cutime, cstime are fields 14-17 of the line.
      const fields = stat.slice(close + 2).split(' ');
      out.set(Number(entry), {
        self: Number(fields[11]) + Number(fields[12]),
        children: Number(fields[13]) + Number(fields[14]),
        ppid: Number(fields[1]),
        name,
      });
    } catch {
      // exited meanwhile
    }
  }
  return { procs: out, steal };
}

export interface OtherLoad {
  /** Cores used on average by processes other than the benchmark's own. */
  otherCores: number;
  /** Of which the RabbitMQ broker (beam.smp). */
  brokerCores: number;
  /** The busiest other processes (with what their reaped children used), cores each. */
  top: Array<{ pid: number; name: string; cores: number }>;
  /** Cores' worth of time the hypervisor ran other guests instead of this machine (steal). */
  stealCores: number;
}

/**
 * CPU used by everything but `ownPids` between two processCpu() readings, from per-process
 * accounting (precise scheduler run time, unlike /proc/stat's tick sampling, which misses short
 * bursts such as an event loop's). A process that started in between counts whole. One that
 * ended reaches its reaper's cutime/cstime with its whole life's CPU, so what it had used by the
 * first reading is taken off again (from the nearest ancestor still there).
 */
export function otherLoad(before: ProcessCpu | null, after: ProcessCpu | null, seconds: number, ownPids: Iterable<number>): OtherLoad | null {
  if (!before || !after) return null;
  const own = new Set(ownPids);
  const hz = 100; // USER_HZ
  const delta = new Map<number, number>();
  for (const [pid, now] of after.procs) {
    const then = before.procs.get(pid);
    delta.set(pid, now.self + now.children - (then ? then.self + then.children : 0));
  }
  for (const [pid, then] of before.procs) {
    if (after.procs.has(pid)) continue;
    let reaper = then.ppid;
    for (let hops = 0; hops < 64 && !after.procs.has(reaper) && before.procs.has(reaper); hops++) reaper = before.procs.get(reaper)!.ppid;
    if (delta.has(reaper)) delta.set(reaper, delta.get(reaper)! - (then.self + then.children));
  }
  const used: Array<{ pid: number; name: string; cores: number }> = [];
  for (const [pid, ticks] of delta) {
    if (!own.has(pid) && ticks > 0) used.push({ pid, name: after.procs.get(pid)!.name, cores: ticks / hz / seconds });
  }
  used.sort((a, b) => b.cores - a.cores);
  return {
    otherCores: used.reduce((sum, u) => sum + u.cores, 0),
    brokerCores: used.filter((u) => u.name === 'beam.smp').reduce((sum, u) => sum + u.cores, 0),
    top: used.slice(0, 5),
    stealCores: (after.steal - before.steal) / hz / seconds,
  };
}

/** bench/results/ (gitignored) or a folder in it, made if missing; with its trailing slash. */
export function resultsDir(entryUrl: string, sub = ''): string {
  const dir = fileURLToPath(new URL(`../../bench/results/${sub}`, entryUrl));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The telemetry history's worker thread as built next to a benchmark (bench/vite.config.ts):
 * pass `historyWorker: historyWorkerNextTo(import.meta.url)` to createMeshCore, as the hosts do.
 */
export function historyWorkerNextTo(entryUrl: string): string {
  return fileURLToPath(new URL('./history-worker.js', entryUrl));
}

/** Writes bench/results/<name>.json (the directory is gitignored); returns the path. */
export function writeResults(entryUrl: string, name: string, data: unknown): string {
  const dir = resultsDir(entryUrl);
  const file = `${dir}${name}.json`;
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** Writes a V8 heap snapshot of this process to bench/results/profiles/<name>-<time>.heapsnapshot; returns its path. */
export function writeHeapSnapshot(entryUrl: string, name: string): string {
  return v8.writeHeapSnapshot(snapshotPath(entryUrl, name));
}

/** Writes a heap snapshot of a worker thread (its own isolate) next to writeHeapSnapshot's; returns its path. */
export async function writeWorkerHeapSnapshot(entryUrl: string, name: string, worker: Worker): Promise<string> {
  const file = snapshotPath(entryUrl, name);
  await pipeline(await worker.getHeapSnapshot(), createWriteStream(file));
  return file;
}

/** bench/results/profiles/<name>-<time>.heapsnapshot */
function snapshotPath(entryUrl: string, name: string): string {
  return `${resultsDir(entryUrl, 'profiles/')}${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.heapsnapshot`;
}

export interface BenchVhost {
  /** amqp URL for guest/guest on the vhost. */
  url: string;
  /** The vhost's name, or '/' when a private one could not be created. */
  name: string;
  remove(): void;
}

/**
 * A RabbitMQ virtual host of the run's own on the local broker (via rabbitmqctl), so the core sees
 * only what the benchmark publishes: not other users' agents on '/', and no replay of the registry
 * stream's history. Falls back to '/' (unique service names still keep runs apart) when
 * rabbitmqctl is not available.
 */
export function benchVhost(prefix: string, fallbackUrl = 'amqp://guest:guest@127.0.0.1:5672'): BenchVhost {
  const name = `${prefix}-${Date.now().toString(36)}-${process.pid}`;
  try {
    execFileSync('rabbitmqctl', ['add_vhost', name], { stdio: 'ignore', timeout: 30_000 });
    execFileSync('rabbitmqctl', ['set_permissions', '-p', name, 'guest', '.*', '.*', '.*'], { stdio: 'ignore', timeout: 30_000 });
  } catch {
    return { url: fallbackUrl, name: '/', remove: () => undefined };
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(name)}`,
    name,
    remove() {
      try {
        execFileSync('rabbitmqctl', ['delete_vhost', name], { stdio: 'ignore', timeout: 30_000 });
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet: processes other than `ownPids` using
 * less than `maxBusyCores` cores over a `windowMs` window. The benchmarks share the machine with
 * whatever else runs; this keeps them from starting in the middle of someone's build. Returns the
 * other processes' cores in the last window, and whether it was quiet.
 */
export async function waitForQuiet(ownPids: number[], maxBusyCores: number, maxWaitMs: number, windowMs = 2000): Promise<{ quiet: boolean; busyCores: number; waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    const before = processCpu();
    await sleep(windowMs);
    const load = otherLoad(before, processCpu(), windowMs / 1000, ownPids);
    if (!load) return { quiet: true, busyCores: Number.NaN, waitedMs: Date.now() - started };
    if (load.otherCores < maxBusyCores) return { quiet: true, busyCores: load.otherCores, waitedMs: Date.now() - started };
    if (Date.now() - started + windowMs > maxWaitMs) return { quiet: false, busyCores: load.otherCores, waitedMs: Date.now() - started };
  }
}

/** Where the RSS is: V8's heap (used of its size), memory outside it (Buffers and ArrayBuffers of it), and the process's anonymous and file-backed pages. */
export function memoryText(): string {
  const m = process.memoryUsage();
  const pages = processPages();
  // (Not Linux: the process figures are enough.)
  const pagesText = pages ? `; anonymous ${(pages.anonymous / 2 ** 20).toFixed(0)} MB, file-backed ${((pages.rss - pages.anonymous) / 2 ** 20).toFixed(0)} MB` : '';
  // The heap's spaces: the young generation (new space) is sized apart from the old.
  const spaces = v8
    .getHeapSpaceStatistics()
    .filter((x) => x.space_size >= 2 ** 20)
    .map((x) => `${x.space_name.replace(/_space$/, '')} ${(x.space_used_size / 2 ** 20).toFixed(0)}/${(x.space_size / 2 ** 20).toFixed(0)}`)
    .join(', ');
  return `RSS ${(m.rss / 2 ** 20).toFixed(0)} MB: V8 heap ${(m.heapUsed / 2 ** 20).toFixed(0)} of ${(m.heapTotal / 2 ** 20).toFixed(0)} MB (used/size by space: ${spaces}), external ${(m.external / 2 ** 20).toFixed(0)} MB (array buffers ${(m.arrayBuffers / 2 ** 20).toFixed(0)} MB)${pagesText}`;
}

/** The process's resident and anonymous pages (bytes) from /proc/self/smaps_rollup; null where there is none (not Linux). */
export function processPages(): { rss: number; anonymous: number } | null {
  let rollup: string;
  try {
    rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  } catch {
    return null;
  }
  const bytes = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  return { rss: bytes('Rss'), anonymous: bytes('Anonymous') };
}
