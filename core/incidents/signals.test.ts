import { describe, expect, it } from 'vitest';
import { LatencySketch } from '../protocol/sketch.js';
import type { SketchArena } from '../telemetry/sketch-arena.js';
import { telemetryBatch } from '../telemetry/test-support.js';
import { DETAIL_SECONDS, MAX_DETAIL_SECONDS, SETTLE_MS, Trace, TrafficSignals } from './signals.js';

const T0 = 1_800_000_000_000;

describe('TrafficSignals', () => {
  it('sums callers and dependencies per edge over the seconds asked, listing edges that reported even with no requests', () => {
    const signals = new TrafficSignals();
    for (let s = 0; s < 3; s++) {
      const at = T0 + s * 1000;
      signals.ingest(telemetryBatch('web', 'web-1', at, [{ peerService: 'pay', peerInstance: 'pay-1', values: [5, 5], errors: { http5xx: 1 } }]));
      signals.ingest(telemetryBatch('shop', 'shop-1', at, [{ peerService: 'pay', peerInstance: 'pay-2', values: [7], errors: { timeout: 1 } }]));
      signals.ingest(telemetryBatch('pay', 'pay-1', at, [{ peerService: 'db', peerInstance: 'db-1', values: [1, 1, 1], errors: { connect: 2 } }]));
      // Traffic from outside the mesh into pay, reported by pay itself.
      signals.ingest(telemetryBatch('pay', 'pay-1', at, [{ direction: 'inbound', peerService: 'external', values: [2] }]));
      // The callee's own view of a mesh call is not counted.
      signals.ingest(telemetryBatch('pay', 'pay-2', at, [{ direction: 'inbound', peerService: 'web', values: [9, 9, 9] }]));
    }
    // An edge that reported a window without requests, in the last second only.
    signals.ingest(telemetryBatch('ops', 'ops-1', T0 + 2000, [{ peerService: 'pay', peerInstance: 'pay-1', values: [], requests: 0 }]));

    const b = signals.breakdown(new Trace('pay', T0), T0 + 3000);
    expect(Object.fromEntries([...b.callers].map(([k, t]) => [k, [t.requests, t.failed]]))).toEqual({ web: [6, 3], shop: [3, 3], external: [3, 0], ops: [0, 0] });
    expect(Object.fromEntries([...b.dependencies].map(([k, t]) => [k, [t.requests, t.failed]]))).toEqual({ db: [9, 6] });
    expect(b.service).toMatchObject({ requests: 12, failed: 6 });
    expect(Object.fromEntries([...b.instances].map(([k, t]) => [k, t.requests]))).toEqual({ 'pay-1': 9, 'pay-2': 3 });

    // Only the first second: the edge that reported later is not listed.
    const first = signals.breakdown(new Trace('pay', T0), T0 + 1000);
    expect([...first.callers.keys()].sort()).toEqual(['external', 'shop', 'web']);
    expect(first.callers.get('web')).toMatchObject({ requests: 2, failed: 1 });
    expect(signals.traffic('pay', 3, T0 + 3000)).toMatchObject({ requests: 12, failed: 6 });
  });

  it('traffic(): the p99 of every sample in the window, packed and unpacked seconds alike (the ranking’s breakdown agrees)', () => {
    const signals = new TrafficSignals();
    const all = new LatencySketch();
    // 12 s of 30 callers each (a service's 30 edges, as in the benchmarks): the first seconds settle and are packed.
    for (let s = 0; s < 12; s++) {
      for (let i = 0; i < 30; i++) {
        const values = [1 + ((s * 7 + i) % 40), 5 * (i + 1), s === 3 && i === 0 ? 900 : 2];
        for (const v of values) all.add(v);
        signals.ingest(telemetryBatch(`caller-${i}`, `caller-${i}-1`, T0 + s * 1000, [{ peerService: 'pay', peerInstance: `pay-${i % 3}`, values }]));
      }
    }
    const window = signals.traffic('pay', 12, T0 + 12_000);
    expect(window.requests).toBe(12 * 30 * 3);
    expect(window.p99).toBe(all.quantile(0.99));
    expect(window.p99).toBe(signals.breakdown(new Trace('pay', T0), T0 + 12_000).service.p99);
    expect(signals.traffic('nobody', 12, T0 + 12_000)).toEqual({ requests: 0, failed: 0, p99: null });
  });

  it('packs a settled second into one blob per cell with the same percentiles, and still takes late batches into it', () => {
    const signals = new TrafficSignals();
    for (let i = 0; i < 20; i++) {
      signals.ingest(telemetryBatch(`caller-${i}`, `caller-${i}-1`, T0, [{ peerService: 'pay', peerInstance: `pay-${i % 3}`, values: [1 + i, 10 * (i + 1), 100 + i] }]));
    }
    const before = signals.breakdown(new Trace('pay', T0), T0 + 1000);
    const seconds = (signals as unknown as { seconds: Array<{ start: number; packed: boolean; arena: SketchArena; instanceArena: SketchArena }> }).seconds;
    const unpacked = seconds.find((x) => x.start === T0)!.arena.size;
    // A batch SETTLE_MS and more later: the first second is packed.
    signals.ingest(telemetryBatch('web', 'web-1', T0 + 5000, [{ peerService: 'pay', peerInstance: 'pay-0', values: [3] }]));
    const first = seconds.find((x) => x.start === T0)!;
    expect(first.packed).toBe(true);
    // 40 parts (20 batches into the service and into an instance) became 4: pay in one arena, pay-0, pay-1, pay-2 in another, each of its size.
    expect(first.arena.size + first.instanceArena.size).toBeLessThan(unpacked / 2);
    expect(first.arena).not.toBe(first.instanceArena);
    for (const arena of [first.arena, first.instanceArena]) expect(arena.capacity).toBe(arena.size);
    expect(signals.breakdown(new Trace('pay', T0), T0 + 1000)).toEqual(before);
    // A late batch for the packed second still counts.
    signals.ingest(telemetryBatch('late', 'late-1', T0, [{ peerService: 'pay', peerInstance: 'pay-1', values: [5000] }]));
    const after = signals.breakdown(new Trace('pay', T0), T0 + 1000);
    expect(after.service.requests).toBe(before.service.requests + 1);
    expect(after.service.p99).toBeGreaterThan(before.service.p99!);
  });

  it('keeps services for the rule windows and instances and edges for the detail horizon; a trace covers only seconds with their detail', () => {
    const signals = new TrafficSignals({ keepSeconds: 32, detailSeconds: 20 });
    for (let s = 0; s < 40; s++) {
      signals.ingest(telemetryBatch('web', 'web-1', T0 + s * 1000, [{ peerService: 'pay', peerInstance: `pay-${s % 2}`, values: [10, 10], errors: { http5xx: 1 } }]));
    }
    const now = T0 + 40_000;
    // The rules' 30 s window: every second of it is still there.
    expect(signals.traffic('pay', 30, now)).toMatchObject({ requests: 60, failed: 30, p99: expect.closeTo(10, 0) });
    const seconds = (signals as unknown as { seconds: Array<{ start: number; detail: boolean; instances: Uint32Array; edgeCounts: Uint32Array }> }).seconds;
    expect(seconds.length).toBe(33);
    // Seconds more than 20 s older than the newest hold their services only.
    for (const second of seconds) {
      const within = second.start >= T0 + 39_000 - 20_000;
      expect(second.detail).toBe(within);
      expect(second.instances.length > 0).toBe(within);
      expect(second.edgeCounts.length > 0).toBe(within);
    }
    // A trace from 40 s back: the service, its instances and its callers all over the same 21 s.
    const b = signals.breakdown(new Trace('pay', T0), now);
    expect(b.service).toMatchObject({ requests: 42, failed: 21 });
    expect([...b.instances.values()].reduce((n, t) => n + t.requests, 0)).toBe(42);
    expect(b.callers.get('web')).toMatchObject({ requests: 42, failed: 21 });
    // A late batch for a second past the detail still counts for the rules, and for nothing else.
    signals.ingest(telemetryBatch('shop', 'shop-1', T0 + 12_000, [{ peerService: 'pay', peerInstance: 'pay-9', values: [50] }]));
    expect(signals.traffic('pay', 30, now).requests).toBe(61);
    expect(signals.breakdown(new Trace('pay', T0), now).instances.has('pay-9')).toBe(false);
  });

  it('widens the detail for rules that wait longer to open, up to a minute', () => {
    const signals = new TrafficSignals();
    expect(signals.detail).toBe(DETAIL_SECONDS);
    signals.coverOnsetAfter(3);
    expect(signals.detail).toBe(DETAIL_SECONDS);
    signals.coverOnsetAfter(30);
    expect(signals.detail).toBe(30 + 1 + SETTLE_MS / 1000 + 4);
    signals.coverOnsetAfter(3600);
    expect(signals.detail).toBe(MAX_DETAIL_SECONDS);
    signals.coverOnsetAfter(10);
    expect(signals.detail).toBe(MAX_DETAIL_SECONDS);
  });

  it('releases the cells of instances gone for longer than it keeps, and reuses their ids, so churn does not grow each second', () => {
    const signals = new TrafficSignals({ keepSeconds: 60 });
    // 'pay' is redeployed every 10 s for 400 s: 5 new instances each time (200 in all), called by web.
    for (let s = 0; s < 400; s++) {
      const generation = Math.floor(s / 10);
      for (let i = 0; i < 5; i++) {
        signals.ingest(telemetryBatch('web', `web-${i}`, T0 + s * 1000, [{ peerService: 'pay', peerInstance: `pay-g${generation}-${i}`, values: [10 + i] }]));
      }
    }
    // Numbered now: web's callee 'pay', and pay's instances of the last 60–120 s (released once a minute), not all 200.
    expect(signals.cells).toBeLessThanOrEqual(1 + 5 * 13);
    const seconds = (signals as unknown as { seconds: Array<{ services: Uint32Array; instances: Uint32Array }> }).seconds;
    for (const second of seconds) expect(second.services.length / 4 + second.instances.length / 4).toBeLessThanOrEqual(1 + 5 * 13 + 5);
    // What is kept still reads right: the last 10 s are one generation's 5 instances, 50 requests.
    expect(signals.traffic('pay', 10, T0 + 400_000)).toMatchObject({ requests: 50, failed: 0 });
    const b = signals.breakdown(new Trace('pay', T0 + 390_000), T0 + 400_000);
    expect([...b.instances.keys()].sort()).toEqual([0, 1, 2, 3, 4].map((i) => `pay-g39-${i}`));
    expect([...b.instances.values()].map((t) => t.requests)).toEqual([10, 10, 10, 10, 10]);
  });
});
