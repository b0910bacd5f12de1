/**
 * The telemetry history generator shared by the benchmarks that need a full database
 * (telemetry-query, startup): traffic profiles with real encoded sketches, the edge naming, and
 * the fill of what the default retention keeps (1 min rows for 7 days, 10 s rows for 3 days,
 * 1 s rows for 6 hours) per edge, written with HistoryStore.insertWindow() in large transactions,
 * series by series. See bench/telemetry-query.bench.ts for the traffic model.
 */
import { LatencySketch } from '../core/protocol/sketch.js';
import type { EdgeStats } from '../core/protocol/messages.js';
import type { HistoryStore, WindowRow } from '../core/telemetry/history-store.js';
import { RESOLUTION_SECONDS, RESOLUTIONS, type Resolution } from '../core/telemetry/resolutions.js';
import { encodeSketch } from '../core/telemetry/sketch-codec.js';
import { logNormal, prng } from '../core/telemetry/test-support.js';

export const CALLEES_PER_CALLER = 10;
export const PROFILES = 40;
export const POOL = 24;
export const HOUR_S = 3600;
export const DAY_S = 86_400;
/** Seconds of history kept per resolution (the default retention, 1 min capped at the 7 days asked for). */
export const SPAN_S: Record<Resolution, number> = { '1s': 6 * HOUR_S, '10s': 3 * DAY_S, '1m': 7 * DAY_S };

export interface Profile {
  rps: number;
  median: number;
  sigma: number;
  /** Per resolution, POOL encoded windows with their request counts. */
  pools: Record<Resolution, Array<{ requests: number; sketch: Buffer }>>;
  /** Wire sketches of 1 s windows, for the live part. */
  wire: EdgeStats['latency'][];
}

export function makeProfiles(): Profile[] {
  const random = prng(0x7e1e);
  return Array.from({ length: PROFILES }, () => {
    const rps = Math.exp(Math.log(1) + random() * Math.log(300));
    const median = Math.exp(random() * Math.log(100));
    const sigma = 0.2 + 0.7 * random();
    const window = (seconds: number) => {
      const sketch = new LatencySketch();
      // Poisson-ish count around rps × seconds (at least one request).
      const n = Math.max(1, Math.round(rps * seconds * (0.8 + 0.4 * random())));
      for (let i = 0; i < n; i++) sketch.add(logNormal(random, median, sigma));
      return sketch;
    };
    const pools = Object.fromEntries(
      RESOLUTIONS.map((r) => [
        r,
        Array.from({ length: POOL }, () => {
          const s = window(RESOLUTION_SECONDS[r]);
          return { requests: s.count, sketch: encodeSketch(s.toWire()) };
        }),
      ]),
    ) as Profile['pools'];
    const wire = Array.from({ length: POOL }, () => window(1).toWire());
    return { rps, median, sigma, pools, wire };
  });
}

/** Edge i of `edges`: caller web-<i / 10> → callee api-<(caller + i % 10) mod callees>; with 1 000 edges, 100 callees with 10 edges each. */
export function edgeName(i: number, edges: number): { from: string; to: string } {
  const caller = Math.floor(i / CALLEES_PER_CALLER);
  const callees = Math.max(CALLEES_PER_CALLER, Math.ceil(edges / CALLEES_PER_CALLER));
  return { from: `web-${caller}`, to: `api-${(caller + (i % CALLEES_PER_CALLER)) % callees}` };
}

export type RowCounts = Record<Resolution, number>;

/** Writes every row of one series ending at `nowS`: window n of resolution r is pools[r][(k0 + n) % POOL]. */
export function seriesFiller(store: HistoryStore, nowS: number) {
  const row: WindowRow = { t: 0, requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0, sketch: Buffer.alloc(0) };
  const rows: RowCounts = { '1s': 0, '10s': 0, '1m': 0 };
  const fillSeries = (id: number, pools: Profile['pools'], k0: number, count = true) => {
    for (const r of RESOLUTIONS) {
      const step = RESOLUTION_SECONDS[r];
      const pool = pools[r];
      let k = k0;
      for (let t = nowS - SPAN_S[r]; t < nowS; t += step) {
        const w = pool[k++ % POOL]!;
        row.t = t;
        row.requests = w.requests;
        row.http5xx = Math.round(w.requests * 0.02);
        row.timeout = Math.round(w.requests * 0.005);
        row.retries = row.http5xx;
        row.sketch = w.sketch;
        store.insertWindow(r, id, row);
        if (count) rows[r]++;
      }
    }
  };
  return { rows, fillSeries };
}

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Creates `edges` edge series in `mesh` and fills each with the full retention ending at `nowS`. */
export async function fillEdgeHistory(
  store: HistoryStore,
  options: { mesh: string; edges: number; nowS: number; profiles: Profile[]; progress?: (line: string) => void },
): Promise<{ ids: number[]; rows: RowCounts; seconds: number; fillSeries: ReturnType<typeof seriesFiller>['fillSeries'] }> {
  const { mesh, edges, nowS, profiles } = options;
  const ids: number[] = [];
  store.transaction(() => {
    for (let i = 0; i < edges; i++) {
      const { from, to } = edgeName(i, edges);
      ids.push(store.insertSeries(mesh, 'edge', from, to, nowS - SPAN_S['1m'], nowS));
    }
  });
  const { rows, fillSeries } = seriesFiller(store, nowS);
  const fillStart = performance.now();
  const SERIES_PER_TX = 20;
  for (let first = 0; first < edges; first += SERIES_PER_TX) {
    store.transaction(() => {
      for (let i = first; i < Math.min(edges, first + SERIES_PER_TX); i++) fillSeries(ids[i]!, profiles[i % PROFILES]!.pools, i);
    });
    await yieldToEvents();
    if ((first / SERIES_PER_TX) % 10 === 9) {
      const done = first + SERIES_PER_TX;
      const s = (performance.now() - fillStart) / 1000;
      options.progress?.(`  filled ${done}/${edges} series (${((rows['1s'] + rows['10s'] + rows['1m']) / 1e6).toFixed(1)} M rows) in ${s.toFixed(0)} s`);
    }
  }
  return { ids, rows, seconds: (performance.now() - fillStart) / 1000, fillSeries };
}
