import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RULES,
  RuleEvaluator,
  assessBacklog,
  assessConsumers,
  assessErrorRate,
  assessInstanceLost,
  assessLatency,
  assessZone,
  initialState,
  parseIncidentRules,
  stepRule,
  type Assessment,
  type InstanceStateInput,
  type Level,
  type QueueInput,
  type SecondInput,
  type TrafficWindow,
} from './rules.js';

const r = DEFAULT_RULES;
const a = (level: Level, held: Level = level): Assessment => ({ level, held, value: null, text: '' });

describe('defaults', () => {
  it('are Kiali\u2019s error thresholds, with hysteresis', () => {
    expect(r.errorRate).toMatchObject({ degraded: 0.001, failing: 0.1 });
    expect(r).toMatchObject({ openAfterSeconds: 3, resolveAfterSeconds: 10, resolveFactor: 0.5 });
  });
  it('refuses a bad field by name', () => {
    expect(() => parseIncidentRules({ errorRate: { degraded: 2 } })).toThrow(/Invalid incident rules/);
    try {
      parseIncidentRules({ errorRate: { degraded: 2 } });
    } catch (err) {
      expect((err as { issues: Array<{ path: string }> }).issues[0]!.path).toBe('errorRate.degraded');
    }
    expect(parseIncidentRules({ latency: { p99SloMs: 250 } }).latency).toMatchObject({ p99SloMs: 250, failingFactor: 2 });
  });
});

describe('hysteresis', () => {
  const run = (levels: Assessment[]) => {
    let state = initialState();
    const changes: Array<{ at: number; from: Level; to: Level }> = [];
    levels.forEach((x, i) => {
      const out = stepRule(state, x, i * 1000, r);
      state = out.state;
      if (out.change) changes.push({ at: i, ...out.change });
    });
    return { state, changes };
  };

  it('opens after openAfterSeconds consecutive seconds over, not before', () => {
    expect(run([a(1), a(1)]).changes).toEqual([]);
    expect(run([a(1), a(1), a(1)]).changes).toEqual([{ at: 2, from: 0, to: 1 }]);
    // An interruption starts the count again.
    expect(run([a(1), a(1), a(0), a(1), a(1)]).changes).toEqual([]);
  });

  it('opens at the level every one of those seconds justified, and escalates after as many failing seconds', () => {
    expect(run([a(1), a(2), a(2)]).changes).toEqual([{ at: 2, from: 0, to: 1 }]);
    expect(run([a(2), a(2), a(2)]).changes).toEqual([{ at: 2, from: 0, to: 2 }]);
    expect(run([a(1), a(1), a(1), a(2), a(2), a(2)]).changes).toEqual([
      { at: 2, from: 0, to: 1 },
      { at: 5, from: 1, to: 2 },
    ]);
  });

  it('holds its level while the value stays over the lower threshold, resolves after resolveAfterSeconds under it', () => {
    const over = [a(1), a(1), a(1)];
    // Under the upper threshold but over the lower one (level 0, held 1) for a long time: stays open.
    expect(run([...over, ...Array.from({ length: 30 }, () => a(0, 1))]).state.level).toBe(1);
    const nine = run([...over, ...Array.from({ length: 9 }, () => a(0, 0))]);
    expect(nine.state.level).toBe(1);
    const ten = run([...over, ...Array.from({ length: 10 }, () => a(0, 0))]);
    expect(ten.changes.at(-1)).toEqual({ at: 12, from: 1, to: 0 });
    expect(ten.state.onset).toBeNull();
    // One second back over the lower threshold restarts the count.
    expect(run([...over, ...Array.from({ length: 9 }, () => a(0, 0)), a(0, 1), ...Array.from({ length: 9 }, () => a(0, 0))]).state.level).toBe(1);
  });

  it('de-escalates from failing to degraded to the highest level held meanwhile', () => {
    const failing = [a(2), a(2), a(2)];
    const out = run([...failing, ...Array.from({ length: 10 }, (_, i) => a(0, i === 4 ? 1 : 0))]);
    expect(out.changes.at(-1)).toEqual({ at: 12, from: 2, to: 1 });
  });

  it('keeps the onset of the first second over the threshold', () => {
    expect(run([a(0), a(1), a(1), a(1)]).state.onset).toBe(1000);
  });
});

describe('error rate', () => {
  const w = (requests: number, failed: number): TrafficWindow => ({ requests, failed, p99: 10 });
  it('is degraded at 0.1 % and failing at 10 %, with lower thresholds at half', () => {
    expect(assessErrorRate(w(10_000, 9), r)).toMatchObject({ level: 0, held: 1 }); // 0.09 % ≥ 0.05 %
    expect(assessErrorRate(w(10_000, 10), r)).toMatchObject({ level: 1, held: 1 });
    expect(assessErrorRate(w(10_000, 4), r)).toMatchObject({ level: 0, held: 0 });
    expect(assessErrorRate(w(1000, 99), r)).toMatchObject({ level: 1, held: 2 });
    expect(assessErrorRate(w(1000, 100), r)).toMatchObject({ level: 2, held: 2, value: 0.1 });
    expect(assessErrorRate(w(1000, 49), r)).toMatchObject({ level: 1, held: 1 });
  });
  it('has no data under the minimum volume', () => {
    expect(assessErrorRate(w(19, 19), r)).toMatchObject({ level: 0, held: 0, value: null });
    expect(assessErrorRate(w(20, 19), r).level).toBe(2);
  });
});

describe('latency', () => {
  it('compares p99 with the SLO (degraded) and SLO × 2 (failing)', () => {
    const w = (p99: number | null): TrafficWindow => ({ requests: 100, failed: 0, p99 });
    expect(assessLatency(w(999), r)).toMatchObject({ level: 0, held: 1 });
    expect(assessLatency(w(1000), r)).toMatchObject({ level: 1 });
    expect(assessLatency(w(2000), r)).toMatchObject({ level: 2 });
    expect(assessLatency(w(499), r)).toMatchObject({ level: 0, held: 0 });
    expect(assessLatency(w(null), r).value).toBeNull();
    expect(assessLatency({ requests: 5, failed: 0, p99: 5000 }, r).level).toBe(0);
  });
});

const inst = (instanceId: string, state: InstanceStateInput['state'] = 'healthy', zone = 'z1', ejected = false): InstanceStateInput => ({ instanceId, zone, state, ejected });

describe('instance lost', () => {
  it('is degraded with one instance down and failing from half of them', () => {
    expect(assessInstanceLost([inst('a'), inst('b'), inst('c')], r).level).toBe(0);
    expect(assessInstanceLost([inst('a', 'down'), inst('b'), inst('c')], r)).toMatchObject({ level: 1, text: expect.stringContaining('a') });
    expect(assessInstanceLost([inst('a', 'down'), inst('b', 'down'), inst('c'), inst('d')], r).level).toBe(2);
    expect(assessInstanceLost([inst('a', 'down'), inst('b'), inst('c'), inst('d')], r).level).toBe(1);
  });
});

describe('zone capacity', () => {
  it('is degraded under 75 % serving and failing under 50 %; ejected instances do not serve', () => {
    const four = (n: number) => ['a', 'b', 'c', 'd'].map((id, i) => inst(id, i < n ? 'healthy' : 'down'));
    expect(assessZone('z1', four(4), r)!.level).toBe(0);
    expect(assessZone('z1', four(3), r)!.level).toBe(0); // exactly 75 %
    expect(assessZone('z1', [inst('a'), inst('b'), inst('c', 'draining'), inst('d', 'healthy', 'z1', true)], r)!.level).toBe(1); // 50 %
    expect(assessZone('z1', four(1), r)!.level).toBe(2);
    expect(assessZone('z1', [inst('a', 'down')], r)).toBeNull(); // under minInstances
    expect(assessZone('z2', four(1), r)).toBeNull();
  });
});

describe('queues', () => {
  it('backlog: degraded at 100 ready and growing, failing at 1000; draining holds nothing', () => {
    expect(assessBacklog(100, 90, r)).toMatchObject({ level: 1, held: 1 });
    expect(assessBacklog(99, 50, r)).toMatchObject({ level: 0, held: 1 });
    expect(assessBacklog(1000, 900, r).level).toBe(2);
    expect(assessBacklog(5000, 5000, r)).toMatchObject({ level: 0, held: 2 }); // not growing, not draining: held
    expect(assessBacklog(5000, 6000, r)).toMatchObject({ level: 0, held: 0 }); // draining
    expect(assessBacklog(5000, null, r).level).toBe(0);
  });
  it('consumer gone: only for a queue that had consumers; failing once messages wait', () => {
    const q = (depth: number, consumers: number): QueueInput => ({ queue: 'orders', depth, consumers });
    expect(assessConsumers(q(10, 0), false).level).toBe(0);
    expect(assessConsumers(q(0, 0), true).level).toBe(1);
    expect(assessConsumers(q(10, 0), true).level).toBe(2);
    expect(assessConsumers(q(10, 1), true).level).toBe(0);
  });
});

describe('RuleEvaluator', () => {
  const second = (at: number, traffic: Record<string, TrafficWindow>, instances: InstanceStateInput[] = [], queues?: QueueInput[]): SecondInput => ({
    at,
    services: Object.keys(traffic),
    traffic: (s) => traffic[s] ?? { requests: 0, failed: 0, p99: null },
    instances: () => instances,
    ...(queues ? { queues } : {}),
  });

  it('emits crossings per rule and subject, scoped to the service', () => {
    const ev = new RuleEvaluator();
    const out = [0, 1, 2].flatMap((s) => ev.evaluate(second(s * 1000, { pay: { requests: 100, failed: 50, p99: 3000 } })));
    expect(out.map((c) => [c.rule, c.scope, c.to])).toEqual([
      ['error-rate', 'service:pay', 2],
      ['latency-p99', 'service:pay', 2],
    ]);
    expect(out[0]!.onset).toBe(0);
    expect(ev.active('service:pay')).toHaveLength(2);
  });

  it('uses thresholds per scope', () => {
    const ev = new RuleEvaluator((scope) => (scope === 'service:slow' ? parseIncidentRules({ latency: { p99SloMs: 5000 } }) : DEFAULT_RULES));
    const out = [0, 1, 2].flatMap((s) => ev.evaluate(second(s * 1000, { slow: { requests: 100, failed: 0, p99: 3000 }, fast: { requests: 100, failed: 0, p99: 3000 } })));
    expect(out.map((c) => c.scope)).toEqual(['service:fast']);
  });

  it('tracks queue backlog over its window, and consumers that vanish', () => {
    const ev = new RuleEvaluator();
    const crossings = [];
    for (let s = 0; s <= 14; s++) crossings.push(...ev.evaluate(second(s * 1000, {}, [], [{ queue: 'orders', service: 'shipping', depth: 100 + s * 50, consumers: s < 10 ? 1 : 0 }])));
    const backlog = crossings.filter((c) => c.rule === 'queue-backlog');
    // The first comparison is possible once the window (10 s) is covered (at 10 s, 600 ready, +500): open 3 s later, degraded.
    expect(backlog.map((c) => [c.at, c.to])).toEqual([[12_000, 1]]);
    expect(crossings.filter((c) => c.rule === 'consumer-gone').map((c) => [c.at, c.to, c.scope])).toEqual([[12_000, 2, 'service:shipping']]);
  });

  it('queue trend from the broker: degradedDepth exactly while growing opens; draining releases; unknown holds; a queue moves to its consumer\u2019s scope while at 0', () => {
    const ev = new RuleEvaluator();
    const growing = { growing: true, draining: false, text: 'growing' };
    const q = (at: number, depth: number, trend: QueueInput['trend'], extra: Partial<QueueInput> = {}) =>
      ev.evaluate(second(at, {}, [], [{ queue: 'jobs', depth, consumers: 1, trend, ...extra }]));
    // Seen first without a consumer service (scope queue:jobs), then consumed by billing.
    expect(q(0, 99, growing)).toEqual([]);
    q(1000, 100, growing, { service: 'billing' });
    q(2000, 100, growing, { service: 'billing' });
    expect(q(3000, 100, growing, { service: 'billing' }).map((c) => [c.rule, c.to, c.scope])).toEqual([['queue-backlog', 1, 'service:billing']]);
    // Figures unavailable: nothing resolves, however long.
    for (let s = 4; s < 30; s++) expect(q(s * 1000, 0, undefined, { service: 'billing', unknown: 'stats disabled' })).toEqual([]);
    expect(ev.active('service:billing')).toHaveLength(1);
    // Steady at 50 (= degradedDepth × resolveFactor) holds the level; draining releases it after resolveAfterSeconds.
    for (let s = 30; s < 45; s++) expect(q(s * 1000, 50, { growing: false, draining: false, text: 'steady' }, { service: 'billing' })).toEqual([]);
    const out = [];
    for (let s = 45; s < 55; s++) out.push(...q(s * 1000, 50, { growing: false, draining: true, text: 'draining' }, { service: 'billing' }));
    expect(out.map((c) => [c.at, c.to])).toEqual([[54_000, 0]]);
  });

  it('a subject that stops being reported resolves like one without data; reset forgets a scope', () => {
    const ev = new RuleEvaluator();
    for (let s = 0; s < 3; s++) ev.evaluate(second(s * 1000, { pay: { requests: 100, failed: 50, p99: 1 } }));
    expect(ev.active('service:pay')).toHaveLength(1);
    let resolved = false;
    for (let s = 3; s < 13; s++) resolved ||= ev.evaluate(second(s * 1000, {})).some((c) => c.to === 0);
    expect(resolved).toBe(true);
    for (let s = 13; s < 16; s++) ev.evaluate(second(s * 1000, { pay: { requests: 100, failed: 50, p99: 1 } }));
    expect(ev.active('service:pay')).toHaveLength(1);
    ev.reset('service:pay');
    expect(ev.active('service:pay')).toHaveLength(0);
  });
});
