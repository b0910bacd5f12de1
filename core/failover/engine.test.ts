import { describe, expect, it, vi } from 'vitest';
import type { TelemetryBatch } from '../protocol/messages.js';
import { LatencySketch } from '../protocol/sketch.js';
import { decodeSketch, MAX_BLOB_PARTS } from '../telemetry/sketch-codec.js';
import { FailoverEngine, SPREAD_MIN_SERVICES } from './engine.js';

const T0 = 1_800_000_000_000;
const INSTANCES = ['p1', 'p2', 'p3'];

function batch(caller: string, per: Record<string, { requests: number; http5xx?: number; connect?: number; latencyMs?: number }>): TelemetryBatch {
  return {
    service: 'checkout',
    instanceId: caller,
    zone: 'zone-a',
    windowStart: T0,
    windowMs: 1000,
    events: { published: [], consumed: [] },
    edges: Object.entries(per).map(([peer, v]) => {
      const latency = new LatencySketch();
      latency.add(v.latencyMs ?? 5, v.requests);
      return {
        direction: 'outbound' as const,
        peerService: 'payments',
        peerInstance: peer,
        requests: v.requests,
        errors: { http5xx: v.http5xx ?? 0, http4xx: 0, connect: v.connect ?? 0, timeout: 0 },
        retries: 0,
        latency: latency.toWire(),
      };
    }),
  };
}

function engine(clock: { now: number }) {
  return new FailoverEngine({ services: () => ['payments'], instancesOf: () => INSTANCES, now: () => clock.now });
}

describe('FailoverEngine', () => {
  it('ejects an instance whose every request fails for three windows, merging all callers, with evidence', () => {
    const clock = { now: T0 };
    const e = engine(clock);
    const transitions = [];
    for (let i = 1; i <= 3; i++) {
      clock.now = T0 + i * 1000;
      e.observeBatch(batch('checkout-1', { p1: { requests: 10 }, p2: { requests: 10, http5xx: 10 }, p3: { requests: 10 } }));
      e.observeBatch(batch('checkout-2', { p2: { requests: 5, http5xx: 5 } }));
      transitions.push(...e.tick().flatMap((s) => s.transitions));
    }
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ service: 'payments', instanceId: 'p2', from: 'healthy', to: 'ejected' });
    expect(transitions[0]!.evidence).toMatchObject({ rule: 'consecutive-failures' });
    expect(e.health('payments').find((h) => h.instanceId === 'p2')).toMatchObject({ state: 'ejected', weightFactor: 0 });
    expect(e.health('payments').find((h) => h.instanceId === 'p1')).toMatchObject({ state: 'healthy', weightFactor: 1 });
  });

  it('does not judge a service on telemetry from before the registry listed it (dropped, not kept for its first evaluation)', () => {
    const clock = { now: T0 };
    let listed: string[] = [];
    const e = new FailoverEngine({ services: () => (listed.length ? ['payments'] : []), instancesOf: () => listed, now: () => clock.now });
    // Every request to p2 fails for three windows while payments is not listed yet.
    for (let i = 1; i <= 3; i++) {
      clock.now = T0 + i * 1000;
      e.observeBatch(batch('checkout-1', { p1: { requests: 10 }, p2: { requests: 10, http5xx: 10 } }));
      expect(e.tick()).toEqual([]);
    }
    // Listed now, and p2 answers: its first evaluation (before any new window) sees nothing of what came before.
    listed = ['p1', 'p2'];
    for (let i = 4; i <= 6; i++) {
      clock.now = T0 + i * 1000;
      expect(e.tick().flatMap((s) => s.transitions)).toEqual([]);
      e.observeBatch(batch('checkout-1', { p1: { requests: 10 }, p2: { requests: 10 } }));
    }
    expect(e.health('payments').map((h) => h.state)).toEqual(['healthy', 'healthy']);
  });

  it('with `listed`, gathers nothing for a service the registry does not list, from its first batch on', () => {
    const clock = { now: T0 + 1000 };
    const listedServices = new Set<string>();
    const e = new FailoverEngine({ services: () => [...listedServices], listed: (s) => listedServices.has(s), instancesOf: () => INSTANCES, now: () => clock.now });
    const traffic = () => batch('checkout-1', { p1: { requests: 10 }, p2: { requests: 10, http5xx: 10 } });
    e.observeBatch(traffic());
    // Neither the callee's windows nor the caller's calls: nothing held between ticks either.
    expect(e.held('payments')).toEqual({ windows: 0, callers: 0, sketchBytes: 0 });
    expect(e.held('checkout')).toEqual({ windows: 0, callers: 0, sketchBytes: 0 });
    listedServices.add('payments');
    e.observeBatch(traffic());
    expect(e.held('payments')).toMatchObject({ windows: 2, callers: 0 });
    expect(e.held('payments').sketchBytes).toBeGreaterThan(0);
    expect(e.held('checkout')).toEqual({ windows: 0, callers: 0, sketchBytes: 0 });
    listedServices.add('checkout');
    e.observeBatch(traffic());
    expect(e.held('checkout')).toMatchObject({ windows: 0, callers: 1 });
    // What was gathered once listed is judged as before.
    expect(e.tick().map((s) => s.service).sort()).toEqual(['checkout', 'payments']);
  });

  it('does not evaluate a service twice within its interval', () => {
    const clock = { now: T0 + 1000 };
    const e = engine(clock);
    expect(e.tick()).toHaveLength(1);
    clock.now += 500;
    expect(e.tick()).toHaveLength(0);
    clock.now += 500;
    expect(e.tick()).toHaveLength(1);
  });

  it('acts on direct signals at once, without waiting for a window', () => {
    const clock = { now: T0 };
    const e = engine(clock);
    const signal = (reporter: string) => ({
      reporter: { service: 'checkout', instanceId: reporter },
      target: { service: 'payments', instanceId: 'p3' },
      kind: 'connect-refused' as const,
      detail: 'connection refused',
    });
    const steps = [e.signal(signal('c1')), e.signal(signal('c2')), e.signal(signal('c3'))];
    const transitions = steps.flatMap((s) => s?.transitions ?? []);
    expect(transitions).toEqual([expect.objectContaining({ instanceId: 'p3', to: 'ejected' })]);
    expect(transitions[0]!.evidence).toMatchObject({ rule: 'direct-signal' });
  });

  it('evaluates early, between intervals, when a refused instance reaches its shorter heartbeat TTL', () => {
    const clock = { now: T0 };
    const e = engine(clock);
    for (const id of INSTANCES) e.heartbeat('payments', id, 1000);
    expect(e.tick()).toHaveLength(1); // first evaluation at T0; the next is due at T0 + 1000
    clock.now = T0 + 600;
    // One caller could not connect to p3 (one report: under the direct-signal threshold of 3).
    const step = e.signal({ reporter: { service: 'checkout', instanceId: 'c1' }, target: { service: 'payments', instanceId: 'p3' }, kind: 'connect-refused', detail: 'connection refused' });
    expect(step?.transitions).toEqual([]);
    clock.now = T0 + 1000;
    expect(e.tick()).toEqual([]); // p3 silent exactly 1 interval; the last evaluation was at T0 + 600
    clock.now = T0 + 1001;
    const transitions = e.tick().flatMap((s) => s.transitions);
    expect(transitions).toEqual([expect.objectContaining({ instanceId: 'p3', to: 'ejected' })]);
    expect(transitions[0]!.evidence).toMatchObject({ rule: 'heartbeat', samples: { refusedAt: T0 + 600 } });
  });

  it('latency: ejects the slowed callee and spares its caller, whose outbound calls carry the same delay', () => {
    const clock = { now: T0 };
    const members: Record<string, string[]> = { checkout: ['ch-a', 'ch-b'], payments: ['pa', 'pb'] };
    const e = new FailoverEngine({ services: () => Object.keys(members), instancesOf: (s) => members[s] ?? [], now: () => clock.now });
    /** One sidecar's window: its outbound calls to `peerService`'s instances (requests at one latency). */
    const calls = (service: string, instanceId: string, peerService: string, per: Record<string, [requests: number, ms: number]>): TelemetryBatch => ({
      service,
      instanceId,
      zone: 'zone-a',
      windowStart: clock.now - 1000,
      windowMs: 1000,
      events: { published: [], consumed: [] },
      edges: Object.entries(per).map(([peer, [requests, ms]]) => {
        const latency = new LatencySketch();
        latency.add(ms, requests);
        return { direction: 'outbound' as const, peerService, peerInstance: peer, requests, errors: { http5xx: 0, http4xx: 0, connect: 0, timeout: 0 }, retries: 0, latency: latency.toWire() };
      }),
    });
    const transitions = [];
    for (let i = 1; i <= 3; i++) {
      clock.now = T0 + i * 1000;
      // pa slowed ×10 (10 → 100 ms); ch-a waits on it for every order and spends 10 ms itself.
      e.observeBatch(calls('front', 'front-1', 'checkout', { 'ch-a': [20, 110], 'ch-b': [20, 20] }));
      e.observeBatch(calls('checkout', 'ch-a', 'payments', { pa: [20, 100] }));
      e.observeBatch(calls('checkout', 'ch-b', 'payments', { pb: [20, 10] }));
      transitions.push(...e.tick().flatMap((s) => s.transitions));
    }
    expect(transitions.map((t) => `${t.service}/${t.instanceId} → ${t.to}`)).toEqual(['payments/pa → ejected']);
    const checkout = e.detector.sweepReport('checkout')?.latency;
    expect(checkout && 'spared' in checkout ? checkout.spared?.map((h) => h.instanceId) : null).toEqual(['ch-a']);
  });

  it('keeps windows across intervals, yet each evaluation sees only its own interval; an instance idle for an interval is dropped', () => {
    const clock = { now: T0 };
    const members: Record<string, string[]> = { checkout: ['ch-1', 'ch-2'], payments: ['p1', 'p2', 'p3'] };
    const e = new FailoverEngine({ services: () => Object.keys(members), instancesOf: (s) => members[s] ?? [], now: () => clock.now });
    /** One sidecar's window: its outbound calls to payments' instances, [requests, 5xx, latency ms]. */
    const calls = (instanceId: string, per: Record<string, [requests: number, http5xx: number, ms: number]>): TelemetryBatch => ({
      service: 'checkout',
      instanceId,
      zone: 'zone-a',
      windowStart: clock.now - 1000,
      windowMs: 1000,
      events: { published: [], consumed: [] },
      edges: Object.entries(per).map(([peer, [requests, http5xx, ms]]) => {
        const latency = new LatencySketch();
        if (requests > 0) latency.add(ms, requests);
        return { direction: 'outbound' as const, peerService: 'payments', peerInstance: peer, requests, errors: { http5xx, http4xx: 0, connect: 0, timeout: 0 }, retries: 0, latency: latency.toWire() };
      }),
    });
    const sketch = (...parts: Array<[ms: number, count: number]>) => {
      const s = new LatencySketch();
      for (const [ms, n] of parts) s.add(ms, n);
      return s.toWire();
    };
    // What the engine hands the detector, per interval: `service/instance` → the observation, its sketches decoded.
    const observe = vi.spyOn(e.detector, 'observe');
    const observed = () => {
      const out: Record<string, unknown> = {};
      for (const [service, instanceId, w] of observe.mock.calls) {
        out[`${service}/${instanceId}`] = {
          requests: w.requests,
          http5xx: w.http5xx,
          latency: w.latency ? decodeSketch(w.latency as Uint8Array) : undefined,
          outbound: w.outbound ? Object.fromEntries(Object.entries(w.outbound).map(([callee, c]) => [callee, { requests: c.requests, latency: decodeSketch(c.latency as Uint8Array) }])) : undefined,
        };
      }
      observe.mockClear();
      return out;
    };

    // Interval 1: p2 slow and failing, over more batches than MAX_BLOB_PARTS (its chain is merged on the way).
    clock.now = T0 + 1000;
    const batches = MAX_BLOB_PARTS + 3;
    for (let i = 0; i < batches; i++) e.observeBatch(calls('ch-1', { p1: [10, 0, 5], p2: [10, 5, 400 + i] }));
    expect(e.tick()).toHaveLength(2);
    expect(observed()).toEqual({
      'payments/p1': { requests: 10 * batches, http5xx: 0, latency: sketch([5, 10 * batches]), outbound: undefined },
      'payments/p2': { requests: 10 * batches, http5xx: 5 * batches, latency: sketch(...Array.from({ length: batches }, (_, i): [number, number] => [400 + i, 10])), outbound: undefined },
      'checkout/ch-1': { requests: 0, http5xx: 0, latency: undefined, outbound: { payments: { requests: 20 * batches, latency: sketch([5, 10 * batches], ...Array.from({ length: batches }, (_, i): [number, number] => [400 + i, 10])) } } },
    });
    // Kept for the next interval (reset), the arena emptied.
    expect(e.held('payments')).toEqual({ windows: 2, callers: 0, sketchBytes: 0 });
    expect(e.held('checkout')).toEqual({ windows: 0, callers: 1, sketchBytes: 0 });

    // Interval 2: p2 fast and sound, p3 reached without requests (observed all the same), p1 not called, ch-2 calls too.
    clock.now = T0 + 2000;
    e.observeBatch(calls('ch-1', { p2: [4, 0, 5], p3: [0, 0, 0] }));
    e.observeBatch(calls('ch-2', { p2: [2, 0, 7] }));
    expect(e.tick()).toHaveLength(2);
    expect(observed()).toEqual({
      'payments/p2': { requests: 6, http5xx: 0, latency: sketch([5, 4], [7, 2]), outbound: undefined },
      'payments/p3': { requests: 0, http5xx: 0, latency: sketch(), outbound: undefined },
      'checkout/ch-1': { requests: 0, http5xx: 0, latency: undefined, outbound: { payments: { requests: 4, latency: sketch([5, 4]) } } },
      'checkout/ch-2': { requests: 0, http5xx: 0, latency: undefined, outbound: { payments: { requests: 2, latency: sketch([7, 2]) } } },
    });
    // p1, idle for the whole interval, is dropped; the others are kept.
    expect(e.held('payments')).toEqual({ windows: 2, callers: 0, sketchBytes: 0 });
    expect(e.held('checkout')).toEqual({ windows: 0, callers: 2, sketchBytes: 0 });

    // Interval 3: ch-1 alone calls p2. Interval 4: no traffic at all: nothing observed, nothing held.
    clock.now = T0 + 3000;
    e.observeBatch(calls('ch-1', { p2: [1, 1, 9] }));
    e.tick();
    expect(observed()).toEqual({
      'payments/p2': { requests: 1, http5xx: 1, latency: sketch([9, 1]), outbound: undefined },
      'checkout/ch-1': { requests: 0, http5xx: 0, latency: undefined, outbound: { payments: { requests: 1, latency: sketch([9, 1]) } } },
    });
    expect(e.held('payments')).toEqual({ windows: 1, callers: 0, sketchBytes: 0 });
    expect(e.held('checkout')).toEqual({ windows: 0, callers: 1, sketchBytes: 0 });
    clock.now = T0 + 4000;
    e.tick();
    expect(observed()).toEqual({});
    expect(e.held('payments')).toEqual({ windows: 0, callers: 0, sketchBytes: 0 });
    expect(e.held('checkout')).toEqual({ windows: 0, callers: 0, sketchBytes: 0 });
  });

  describe('a large mesh is judged over the interval, not in one tick', () => {
    const SERVICES = Array.from({ length: 400 }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    function spread(tickIntervalMs: number | undefined) {
      const clock = { now: T0 };
      const e = new FailoverEngine({ services: () => SERVICES, instancesOf: () => INSTANCES, now: () => clock.now, ...(tickIntervalMs ? { tickIntervalMs } : {}) });
      // Every service has an instance to judge; each tick, 250 ms apart, says which services it evaluated.
      const perTick: string[][] = [];
      for (let t = 0; t < 16; t++) {
        clock.now = T0 + t * 250;
        for (const s of SERVICES) e.heartbeat(s, 'p1', 10_000);
        perTick.push(e.tick().map((step) => step.service));
      }
      return perTick;
    }

    it('each tick evaluates at most the services’ share of it (with slack), the most overdue first, and every service once a second after the first round', () => {
      const perTick = spread(250);
      // 400 services × 250 ms / 1 000 ms = 100 a tick, 125 with the slack.
      expect(perTick.map((t) => t.length).every((n) => n <= 125)).toBe(true);
      expect(perTick[0]).toEqual(SERVICES.slice(0, 125));
      expect(perTick[1]).toEqual(SERVICES.slice(125, 250));
      // After the first round (4 ticks: 125 + 125 + 125 + 25) every service is evaluated once in every 4 ticks.
      for (let t = 4; t + 4 <= perTick.length; t++) {
        const window = perTick.slice(t, t + 4).flat();
        expect(new Set(window).size).toBe(window.length);
        expect(window.length).toBe(SERVICES.length);
      }
    });

    it('without tickIntervalMs, or with fewer services than SPREAD_MIN_SERVICES, a tick evaluates every due service', () => {
      expect(spread(undefined)[0]).toHaveLength(SERVICES.length);
      const clock = { now: T0 };
      const few = SERVICES.slice(0, SPREAD_MIN_SERVICES);
      const e = new FailoverEngine({ services: () => few, instancesOf: () => INSTANCES, now: () => clock.now, tickIntervalMs: 250 });
      for (const s of few) e.heartbeat(s, 'p1', 10_000);
      expect(e.tick()).toHaveLength(SPREAD_MIN_SERVICES);
    });
  });
});
