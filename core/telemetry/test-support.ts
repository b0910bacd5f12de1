/**
 * Helpers for the telemetry tests and the telemetry-query benchmark: deterministic samples,
 * telemetry batches built from raw latencies, temporary databases, heap in use for memory tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../lib/log.js';
import type { EdgeStats, TelemetryBatch } from '../protocol/messages.js';
import { LatencySketch } from '../protocol/sketch.js';
import { openDatabase, type Db } from '../store/database.js';
import { mulberry32 } from '../balancer/random.js';

/** The project's seeded PRNG (mulberry32), so runs are repeatable. */
export const prng = mulberry32;

/** A log-normal latency (ms) with the given median and shape. */
export function logNormal(random: () => number, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * z);
}

/** The exact quantile with the sketch's rank rule (protocol.md §7): sorted[floor(q · (n − 1))]. */
export function exactQuantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

export interface EdgeSpec {
  direction?: 'outbound' | 'inbound';
  peerService: string;
  peerInstance?: string;
  /** Latencies (ms) of the window's requests; requests = values.length unless given. */
  values: readonly number[];
  requests?: number;
  errors?: Partial<EdgeStats['errors']>;
  retries?: number;
}

export function edgeStats(spec: EdgeSpec): EdgeStats {
  const sketch = new LatencySketch();
  for (const v of spec.values) sketch.add(v);
  return {
    direction: spec.direction ?? 'outbound',
    peerService: spec.peerService,
    ...(spec.peerInstance ? { peerInstance: spec.peerInstance } : {}),
    requests: spec.requests ?? spec.values.length,
    errors: { http5xx: 0, http4xx: 0, connect: 0, timeout: 0, ...spec.errors },
    retries: spec.retries ?? 0,
    latency: sketch.toWire(),
  };
}

export function telemetryBatch(service: string, instanceId: string, windowStart: number, edges: EdgeSpec[]): TelemetryBatch {
  return {
    service,
    instanceId,
    zone: 'zone-a',
    windowStart,
    windowMs: 1000,
    edges: edges.map(edgeStats),
    events: { published: [], consumed: [] },
  };
}

export interface TempDb {
  path: string;
  db: Db;
  /** Closes the connection (if open) and opens the file again, as a restarted process would. */
  reopen(): Db;
  cleanup(): void;
}

export function tempDb(prefix = 'meshdeck-telemetry-'): TempDb {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'meshdeck.db');
  const state: TempDb = {
    path,
    db: openDatabase({ path, logger: silentLogger }),
    reopen() {
      if (state.db.open) state.db.close();
      state.db = openDatabase({ path, logger: silentLogger });
      return state.db;
    },
    cleanup() {
      if (state.db.open) state.db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return state;
}

/**
 * Bytes in use on the V8 heap plus array buffers after forced full collections (three: objects
 * freed by one are swept by the next): for memory tests, as a difference before and after.
 */
export function heapInUse(): number {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
