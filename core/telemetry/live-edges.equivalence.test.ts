/**
 * The compact LiveEdges against a plain reference model that keeps every report: same counts,
 * rates and percentiles (sketches merged, never averaged) over random traffic with late and
 * out-of-order windows, quiet gaps (windows leaving the 1 s ring) and spans around a minute and
 * at 300 s.
 */
import { describe, expect, it } from 'vitest';
import type { CircuitReport, TelemetryBatch } from '../protocol/messages.js';
import { LatencySketch } from '../protocol/sketch.js';
import { TEN_SLOTS } from './edge-windows.js';
import { LiveEdges } from './live-edges.js';
import { edgeStats, logNormal, prng } from './test-support.js';

const T0 = 1_800_000_000_000;

interface Report {
  from: string;
  to: string;
  second: number;
  instanceId: string;
  outbound: boolean;
  batchEdge: TelemetryBatch['edges'][number];
}

/**
 * Every report kept. A span's old end, past the newest window: counts exact over a minute, then
 * rounded down to 10 s; latency exact over the 10 s blocks not all 10 s old (10–19 s), then
 * rounded down to 10 s while the tens ring (TEN_SLOTS blocks) holds it, to a minute beyond.
 */
class Reference {
  readonly reports: Report[] = [];
  readonly lastSeen = new Map<string, number>();
  readonly newest = new Map<string, number>();

  ingest(batch: TelemetryBatch, receivedAt: number): void {
    const second = Math.floor(batch.windowStart / 1000);
    for (const e of batch.edges) {
      const from = e.direction === 'outbound' ? batch.service : 'external';
      const to = e.direction === 'outbound' ? e.peerService : batch.service;
      const key = `${from}>${to}`;
      this.reports.push({ from, to, second, instanceId: batch.instanceId, outbound: e.direction === 'outbound', batchEdge: e });
      this.lastSeen.set(key, receivedAt);
      this.newest.set(key, Math.max(this.newest.get(key) ?? -Infinity, second));
    }
  }

  firstSecond(key: string, now: number, spanMs: number): number {
    const since = Math.floor((now - spanMs) / 1000);
    const newest = this.newest.get(key)!;
    return since > newest - 60 ? since : Math.floor(since / 10) * 10;
  }

  firstLatencySecond(key: string, now: number, spanMs: number): number {
    const since = Math.floor((now - spanMs) / 1000);
    // The newest 10 s block whose windows all are 10 s old gave up its 1 s sketches, and the ones before it.
    const head = Math.floor((this.newest.get(key)! - 19) / 10);
    if (Math.floor(since / 10) > head) return since;
    return Math.floor(since / 10) > head - TEN_SLOTS ? Math.floor(since / 10) * 10 : Math.floor(since / 60) * 60;
  }

  summaries(now: number, spanMs: number) {
    const out = [];
    for (const [key, lastSeen] of [...this.lastSeen].sort()) {
      if (lastSeen < now - spanMs) continue;
      const first = this.firstSecond(key, now, spanMs);
      const firstLatency = this.firstLatencySecond(key, now, spanMs);
      const t = { requests: 0, http5xx: 0, http4xx: 0, connect: 0, timeout: 0, retries: 0, refused: 0 };
      const sketch = new LatencySketch();
      for (const r of this.reports) {
        if (`${r.from}>${r.to}` !== key) continue;
        const e = r.batchEdge;
        if (r.second >= firstLatency) sketch.mergeWire(e.latency);
        if (r.second < first) continue;
        t.requests += e.requests;
        t.http5xx += e.errors.http5xx;
        t.http4xx += e.errors.http4xx;
        t.connect += e.errors.connect;
        t.timeout += e.errors.timeout;
        t.retries += e.retries;
        t.refused += e.refused ?? 0;
      }
      const [from, to] = key.split('>') as [string, string];
      out.push({
        from,
        to,
        requests: t.requests,
        rps: t.requests / (spanMs / 1000),
        errors: { http5xx: t.http5xx, http4xx: t.http4xx, connect: t.connect, timeout: t.timeout },
        retries: t.retries,
        refused: t.refused,
        errorRate: t.requests ? (t.http5xx + t.connect + t.timeout) / t.requests : 0,
        p50: sketch.quantile(0.5),
        p95: sketch.quantile(0.95),
        p99: sketch.quantile(0.99),
        lastSeen,
      });
    }
    return out;
  }

  callerRequests(from: string, to: string, now: number, spanMs: number): Map<string, number> {
    const key = `${from}>${to}`;
    const out = new Map<string, number>();
    if (!this.newest.has(key)) return out;
    const first = Math.max(Math.floor((now - spanMs) / 1000), this.newest.get(key)! - 9);
    for (const r of this.reports) {
      if (`${r.from}>${r.to}` !== key || !r.outbound || r.second < first) continue;
      out.set(r.instanceId, (out.get(r.instanceId) ?? 0) + r.batchEdge.requests + (r.batchEdge.refused ?? 0));
    }
    return out;
  }
}

function randomBatch(random: () => number, service: string, instanceId: string, windowStart: number, peers: string[]): TelemetryBatch {
  const edges = peers.map((peer) => {
    const n = Math.floor(random() * 12);
    const values = Array.from({ length: n }, () => (random() < 0.05 ? 0 : logNormal(random, 8 + peers.indexOf(peer) * 20, 0.8)));
    const e = edgeStats({
      direction: peer === 'external' ? 'inbound' : 'outbound',
      peerService: peer,
      values,
      errors: { http5xx: random() < 0.2 ? Math.floor(random() * 3) : 0, http4xx: random() < 0.1 ? 1 : 0, connect: random() < 0.05 ? 1 : 0, timeout: random() < 0.05 ? 2 : 0 },
      retries: random() < 0.1 ? 1 : 0,
    });
    return random() < 0.1 ? { ...e, refused: Math.floor(random() * 4) } : e;
  });
  return { service, instanceId, zone: 'zone-a', windowStart, windowMs: 1000, edges, events: { published: [], consumed: [] } };
}

function stripCircuit<T extends { circuit?: unknown }>(s: T): Omit<T, 'circuit'> {
  const { circuit: _, ...rest } = s;
  return rest;
}

describe('LiveEdges against a reference model', () => {
  // Seed 4: 40 caller instances, more than a record's reused decode arrays start with (16).
  for (const [seed, webInstances] of [[1, 3], [2, 3], [3, 3], [4, 40]] as const) {
    it(`gives the same summaries and caller counts over random traffic (seed ${seed}, ${webInstances} caller instances)`, () => {
      const random = prng(seed);
      const live = new LiveEdges();
      const ref = new Reference();
      const callers = [
        { service: 'web', instances: Array.from({ length: webInstances }, (_, i) => `web-${i + 1}`), peers: ['orders', 'users', 'external'] },
        { service: 'orders', instances: ['orders-1'], peers: ['db'] },
      ];
      let checked = 0;
      for (let step = 0; step < 420; step++) {
        const now = T0 + step * 1000 + Math.floor(random() * 1000);
        // orders goes quiet from 150 s to 260 s: its 1 s windows leave the ring without new ones behind them.
        for (const c of callers) {
          if (c.service === 'orders' && step >= 150 && step < 260) continue;
          for (const instanceId of c.instances) {
            if (random() < 0.15) continue;
            const r = random();
            // Mostly the last window; some a few seconds late, some far behind (older than the 1 s ring), unaligned starts.
            const lag = r < 0.8 ? 1 : r < 0.93 ? 2 + Math.floor(random() * 8) : 55 + Math.floor(random() * 60);
            const windowStart = now - lag * 1000 - Math.floor(random() * 999);
            const batch = randomBatch(random, c.service, instanceId, windowStart, c.peers);
            live.ingest(batch, now);
            ref.ingest(batch, now);
          }
        }
        if (step % 13 === 3 || step > 412) {
          const at = now + Math.floor(random() * 500);
          for (const spanMs of [1000, 10_000, 59_000, 60_000, 61_000, 90_000, 123_456, 300_000, 1000 + Math.floor(random() * 299_000)]) {
            const got = live.summaries(at, spanMs).map(stripCircuit);
            expect(got, `at step ${step}, span ${spanMs}`).toEqual(ref.summaries(at, spanMs));
            checked++;
          }
          for (const spanMs of [10_000, 60_000, 1000 + Math.floor(random() * 59_000)]) {
            expect(live.callerRequests('web', 'orders', at, spanMs)).toEqual(ref.callerRequests('web', 'orders', at, spanMs));
          }
        }
      }
      expect(checked).toBeGreaterThan(300);
    });
  }

  it('answers a span over a minute from 10 s blocks for the counts and minutes for the latency, and the latency within the minute from 10 s blocks past the last 10 s, rounded down at their old end', () => {
    const live = new LiveEdges();
    const report = (second: number, requests: number) => ({
      service: 'web',
      instanceId: 'web-1',
      zone: 'zone-a',
      windowStart: T0 + second * 1000,
      windowMs: 1000,
      edges: [edgeStats({ peerService: 'orders', values: Array.from({ length: requests }, () => second + 1) })],
      events: { published: [], consumed: [] },
    });
    for (let s = 0; s < 200; s++) live.ingest(report(s, 1), T0 + (s + 1) * 1000);
    const now = T0 + 200_000;
    // 1 s windows back to second 140: exact.
    expect(live.summaries(now, 60_000)[0]).toMatchObject({ requests: 60 });
    // 95 s back starts at second 105, inside the block [100, 110): the whole block counts.
    expect(live.summaries(now, 95_000)[0]).toMatchObject({ requests: 100 });
    expect(live.summaries(now, 100_000)[0]).toMatchObject({ requests: 100 });
    expect(live.summaries(now, 101_000)[0]).toMatchObject({ requests: 110 });
    expect(live.summaries(now, 300_000)[0]).toMatchObject({ requests: 200 });
    // The median of a minute's windows (seconds 140..199 carry values 141..200).
    const p50 = live.summaries(now, 60_000)[0]!.p50!;
    expect(Math.abs(p50 - 170) / 170).toBeLessThan(0.01);
    // 95 s back: the counts from second 100 on, the latency from the minute that holds second 105 (60..199: values 61..200, median ~130).
    const p50Of95 = live.summaries(now, 95_000)[0]!.p50!;
    expect(Math.abs(p50Of95 - 130.5) / 130.5).toBeLessThan(0.01);
    // Within the minute: the counts exact, the latency exact over the last 10 s and from the 10 s
    // block that holds the span's start beyond (35 s back: second 165, block 160..169; values 161..200).
    expect(live.summaries(now, 35_000)[0]).toMatchObject({ requests: 35 });
    const p50Of35 = live.summaries(now, 35_000)[0]!.p50!;
    expect(Math.abs(p50Of35 - 180.5) / 180.5).toBeLessThan(0.01);
    const p50Of5 = live.summaries(now, 5000)[0]!.p50!;
    expect(Math.abs(p50Of5 - 198) / 198).toBeLessThan(0.01);
  });

  it('keeps circuit reports of a few callers only while they are fresh', () => {
    const live = new LiveEdges();
    const open: CircuitReport = { state: 'open', since: T0, manual: false, rule: 'r', reason: '' };
    for (let i = 0; i < 50; i++) {
      const batch = randomBatch(prng(i), 'web', `web-${i}`, T0 + i * 1000, ['orders']);
      batch.edges[0] = { ...batch.edges[0]!, circuit: open };
      live.ingest(batch, T0 + i * 1000);
    }
    const instances = live.summaries(T0 + 50_000, 60_000)[0]!.circuit!.instances;
    // Only the reports of the last 30 s (the TTL) are left.
    expect(instances.map((i) => i.instanceId).sort()).toEqual(Array.from({ length: 30 }, (_, k) => `web-${k + 20}`).sort());
  });
});
