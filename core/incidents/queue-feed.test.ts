/**
 * The adapter from broker snapshots to the queue rules, at its boundaries: how many rising
 * readings make "growing", rates against the outflow, repeated figures (the broker refreshes
 * every stats interval), draining, stale figures, capability gaps (no false incidents), and the
 * joins to consuming and publishing services.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrokerSnapshot } from '../api/contract.js';
import { silentLogger } from '../lib/log.js';
import { tempDb, type TempDb } from '../telemetry/test-support.js';
import { IncidentMonitor } from './monitor.js';
import { QueueFeed, gapOf } from './queue-feed.js';
import type { QueueInput } from './rules.js';

const T0 = 1_800_000_000_000;
type Q = BrokerSnapshot['queues'][number];

function snapshot(at: number, queues: Array<Partial<Q> & { name: string }>, extra: Partial<BrokerSnapshot> = {}): BrokerSnapshot {
  return {
    profileId: 'p',
    at,
    managementUrl: 'http://127.0.0.1:15672',
    vhost: 'v',
    pollIntervalMs: 1000,
    available: true,
    capabilities: [],
    overview: null,
    exchanges: [],
    queues: queues.map((q) => ({ type: 'classic', durable: true, autoDelete: false, exclusive: false, state: 'running', ready: 0, unacked: 0, consumers: 0, rateIn: null, rateOut: null, rateAck: null, ...q })),
    bindings: [],
    consumers: [],
    connections: [],
    publishers: [],
    flows: { nodes: [], edges: [] },
    ...extra,
  };
}

const one = (feed: QueueFeed, s: BrokerSnapshot): QueueInput => {
  const { queues, gap } = feed.observe(s);
  expect(gap).toBeNull();
  return queues[0]!;
};

describe('QueueFeed trend', () => {
  it('is growing after 2 rising readings (not 1), without rates', () => {
    const feed = new QueueFeed();
    expect(one(feed, snapshot(T0, [{ name: 'q', ready: 10 }])).trend).toMatchObject({ growing: false, draining: false });
    expect(one(feed, snapshot(T0 + 5000, [{ name: 'q', ready: 20 }])).trend).toMatchObject({ growing: false });
    const q = one(feed, snapshot(T0 + 10_000, [{ name: 'q', ready: 30 }]));
    expect(q.trend).toMatchObject({ growing: true, draining: false });
    expect(q.trend!.text).toContain('10 → 30 ready over 3 readings');
    expect(q.evidence).toMatchObject({ ready: 30, depths: [[T0, 10], [T0 + 5000, 20], [T0 + 10_000, 30]] });
  });

  it('repeated figures (polled faster than the broker refreshes) neither count nor break the streak', () => {
    const feed = new QueueFeed({ risingReadings: 2 });
    one(feed, snapshot(T0, [{ name: 'q', ready: 10 }]));
    one(feed, snapshot(T0 + 1000, [{ name: 'q', ready: 20 }]));
    expect(one(feed, snapshot(T0 + 2000, [{ name: 'q', ready: 20 }])).trend!.growing).toBe(false);
    expect(one(feed, snapshot(T0 + 3000, [{ name: 'q', ready: 25 }])).trend!.growing).toBe(true);
    expect(one(feed, snapshot(T0 + 4000, [{ name: 'q', ready: 25 }])).trend!.growing).toBe(true);
    // The same snapshot twice (a query between polls) changes nothing.
    expect(one(feed, snapshot(T0 + 4000, [{ name: 'q', ready: 25 }])).trend!.growing).toBe(true);
  });

  it('rates: publish over the outflow by the slack grows with one rise; inside the slack it does not', () => {
    const grows = new QueueFeed();
    one(grows, snapshot(T0, [{ name: 'q', ready: 10, rateIn: 10, rateOut: 9 }]));
    expect(one(grows, snapshot(T0 + 5000, [{ name: 'q', ready: 15, rateIn: 10, rateOut: 9 }])).trend!.growing).toBe(true); // 1 msg/s ≥ max(0.5, 0.5)
    const within = new QueueFeed();
    one(within, snapshot(T0, [{ name: 'q', ready: 10, rateIn: 10, rateOut: 9.6 }]));
    expect(one(within, snapshot(T0 + 5000, [{ name: 'q', ready: 11, rateIn: 10, rateOut: 9.6 }])).trend!.growing).toBe(false); // 0.4 < 0.5
    // The ack rate is the outflow when the broker gives no deliver rate.
    const acks = new QueueFeed();
    expect(one(acks, snapshot(T0, [{ name: 'q', ready: 10, rateIn: 10, rateOut: null, rateAck: 2 }])).trend!.growing).toBe(true);
    // Rates saying "growing" while the depth falls: draining wins.
    const falls = new QueueFeed();
    one(falls, snapshot(T0, [{ name: 'q', ready: 50, rateIn: 10, rateOut: 1 }]));
    expect(one(falls, snapshot(T0 + 5000, [{ name: 'q', ready: 40, rateIn: 10, rateOut: 1 }])).trend).toMatchObject({ growing: false, draining: true });
  });

  it('figures unchanged for longer than staleMs count as steady', () => {
    const feed = new QueueFeed({ staleMs: 15_000 });
    for (let i = 0; i < 3; i++) one(feed, snapshot(T0 + i * 5000, [{ name: 'q', ready: 10 * (i + 1) }]));
    expect(one(feed, snapshot(T0 + 10_000 + 15_000, [{ name: 'q', ready: 30 }])).trend!.growing).toBe(true);
    expect(one(feed, snapshot(T0 + 10_000 + 15_001, [{ name: 'q', ready: 30 }])).trend).toMatchObject({ growing: false, draining: false });
  });
});

describe('QueueFeed capability gaps', () => {
  it('statistics disabled, no permission on the vhost, API away: queues known so far are unknown (rules hold)', () => {
    const feed = new QueueFeed();
    one(feed, snapshot(T0, [{ name: 'q', ready: 10, consumers: 1 }]));
    const off = snapshot(T0 + 5000, [{ name: 'q', ready: null, consumers: 0 }], { overview: { statsDisabled: true } as BrokerSnapshot['overview'] });
    expect(feed.observe(off)).toEqual({ gap: expect.stringContaining('statistics are disabled'), queues: [{ queue: 'q', depth: 0, consumers: 0, unknown: expect.any(String) }] });
    const vhost = snapshot(T0 + 10_000, [], { capabilities: [{ area: 'vhost', message: 'User "mon" has no permission on vhost "v"' }] });
    expect(feed.observe(vhost).gap).toContain('no permission');
    expect(feed.observe(vhost).queues[0]!.unknown).toContain('no permission');
    expect(gapOf(snapshot(T0, [], { available: false, capabilities: [{ area: 'management', message: 'Management plugin not reachable' }] }))).toContain('not reachable');
    expect(gapOf(snapshot(0, []))).toBe('no broker snapshot yet');
    // rates_mode none or no monitoring tag: depths and consumers are still there.
    expect(gapOf(snapshot(T0, [], { capabilities: [{ area: 'rates', message: 'rates_mode none' }] }))).toBeNull();
  });

  it('a queue without a depth (a stream) is unknown on its own', () => {
    const feed = new QueueFeed();
    const { queues } = feed.observe(snapshot(T0, [{ name: 's', type: 'stream', ready: null }, { name: 'q', ready: 3 }]));
    expect(queues.find((q) => q.queue === 's')!.unknown).toContain('no depth');
    expect(queues.find((q) => q.queue === 'q')!.unknown).toBeUndefined();
  });
});

describe('QueueFeed joins', () => {
  it('consumers by connection name and flow graph, kept after they leave; publishers through exchanges', () => {
    const feed = new QueueFeed();
    const flows: BrokerSnapshot['flows'] = {
      nodes: [
        { id: 'publisher:orders', kind: 'publisher', label: 'orders', service: 'orders', inMesh: true },
        { id: 'exchange:ev', kind: 'exchange', label: 'ev', service: null, inMesh: false },
        { id: 'exchange:ev2', kind: 'exchange', label: 'ev2', service: null, inMesh: false },
        { id: 'queue:q', kind: 'queue', label: 'q', service: null, inMesh: false },
        { id: 'consumer:audit', kind: 'consumer', label: 'audit', service: 'audit', inMesh: true },
      ],
      edges: [
        { from: 'publisher:orders', to: 'exchange:ev', kind: 'publish', rate: 5, source: 'agents', keys: [] },
        { from: 'exchange:ev', to: 'exchange:ev2', kind: 'route', rate: null, source: 'broker', keys: ['#'] },
        { from: 'exchange:ev2', to: 'queue:q', kind: 'route', rate: null, source: 'broker', keys: ['#'] },
        { from: 'queue:q', to: 'consumer:audit', kind: 'deliver', rate: 1, source: 'both', keys: [] },
      ],
    };
    const consumer = { connectionName: 'meshdeck-sdk:billing/billing-1', agent: 'sdk', service: 'billing', instanceId: 'billing-1', queue: 'q', consumerTag: 't', channel: 'c', prefetch: 1, ackRequired: true, active: true };
    const first = one(feed, snapshot(T0, [{ name: 'q', ready: 1, consumers: 1 }], { consumers: [consumer], flows }));
    expect(first).toMatchObject({ service: 'audit', consumerServices: ['audit', 'billing'], publisherServices: ['orders'] });
    const gone = one(feed, snapshot(T0 + 5000, [{ name: 'q', ready: 5, consumers: 0 }], { flows: { nodes: flows.nodes, edges: flows.edges.filter((e) => e.kind !== 'deliver') } }));
    expect(gone).toMatchObject({ service: 'audit', consumers: 0, consumerServices: ['audit', 'billing'] });
  });
});

describe('QueueFeed consumer counts', () => {
  const listed = { connectionName: null, agent: null, service: null, instanceId: null, queue: 'q', consumerTag: 't', channel: 'c', prefetch: 1, ackRequired: true, active: true };
  it("the larger of the consumer list's count and the queue's own (a short list is not a consumer gone); the queue's own count without the monitoring tag", () => {
    // The list sees a new consumer before the queue's statistics do.
    expect(one(new QueueFeed(), snapshot(T0, [{ name: 'q', ready: 1, consumers: 0 }], { consumers: [listed, listed] })).consumers).toBe(2);
    // A list answered short while the queue still counts its consumer.
    expect(one(new QueueFeed(), snapshot(T0, [{ name: 'q', ready: 1, consumers: 1 }], { consumers: [] })).consumers).toBe(1);
    // Gone only when both say so.
    expect(one(new QueueFeed(), snapshot(T0, [{ name: 'q', ready: 1, consumers: 0 }], { consumers: [] })).consumers).toBe(0);
    const ownOnly = { capabilities: [{ area: 'monitoring' as const, message: 'no monitoring tag' }], consumers: [] };
    expect(one(new QueueFeed(), snapshot(T0, [{ name: 'q', ready: 1, consumers: 3 }], ownOnly)).consumers).toBe(3);
  });
});

describe('IncidentMonitor.observeBroker', () => {
  let tmp: TempDb;
  let now: number;
  let monitor: IncidentMonitor;
  beforeEach(() => {
    tmp = tempDb('meshdeck-queue-feed-');
    now = T0;
    monitor = new IncidentMonitor({ mesh: 'm', db: tmp.db, logger: silentLogger, services: () => [], instances: () => [], now: () => now, rules: { defaults: { queueBacklog: { degradedDepth: 20 }, resolveAfterSeconds: 2 } } });
  });
  afterEach(() => tmp.cleanup());
  const consumer = { connectionName: 'meshdeck-sdk:billing/billing-1', agent: 'sdk', service: 'billing', instanceId: 'billing-1', queue: 'jobs', consumerTag: 't', channel: 'c', prefetch: 1, ackRequired: true, active: true };
  const poll = (ready: number, consumers = 1, extra: Partial<BrokerSnapshot> = {}) => {
    monitor.observeBroker(snapshot(now, [{ name: 'jobs', ready, consumers, rateIn: 20, rateOut: 0 }], { consumers: consumers ? [consumer] : [], ...extra }));
    now += 1000;
    monitor.tick();
  };

  it('opens a backlog incident on the consuming service with the queue first, evidence in the timeline; holds on a gap; resolves when it drains', () => {
    // Until the first snapshot the view says the queue rules are on hold, and why.
    expect(monitor.view().queueRules).toMatchObject({ onHold: true, reason: 'no broker snapshot yet' });
    for (const depth of [10, 30, 50, 70]) poll(depth);
    expect(monitor.view().queueRules).toEqual({ onHold: false, reason: null, since: null });
    const [incident] = monitor.list({ status: 'open', limit: 5 });
    expect(incident).toMatchObject({ scope: 'service:billing', title: 'Queue backlog growing: billing', topSuspect: 'jobs' });
    const detail = monitor.get(incident!.id);
    expect(detail.suspects.map((s) => [s.kind, s.target])).toEqual([
      ['queue', 'jobs'],
      ['consumer', 'billing'],
    ]);
    const rule = detail.timeline.find((e) => e.kind === 'rule')!;
    expect(rule.text).toContain('growing');
    expect(rule.evidence).toMatchObject({ rule: 'queue-backlog', subject: 'jobs', measured: { ready: 70, consumers: 1, rateIn: 20, rateOut: 0 } });

    // Statistics switched off: no resolution on missing figures, a note says why.
    for (let i = 0; i < 5; i++) poll(0, 0, { overview: { statsDisabled: true } as BrokerSnapshot['overview'] });
    expect(monitor.queueRulesGap()).toContain('statistics are disabled');
    expect(monitor.view().queueRules).toMatchObject({ onHold: true, reason: expect.stringContaining('statistics are disabled'), since: expect.any(Number) });
    expect(monitor.list({ status: 'open', limit: 5 })).toHaveLength(1);
    expect(monitor.get(incident!.id).timeline.some((e) => e.kind === 'note' && e.text.startsWith('Queue rules on hold'))).toBe(true);

    poll(70);
    expect(monitor.queueRulesGap()).toBeNull();
    expect(monitor.view().queueRules.onHold).toBe(false);
    poll(40);
    poll(10);
    poll(10);
    expect(monitor.get(incident!.id).status).toBe('resolved');
  });

  it('consumer gone opens failing with messages waiting and resolves when a consumer returns', () => {
    poll(0);
    for (let i = 0; i < 3; i++) poll(5, 0);
    const [incident] = monitor.list({ status: 'open', limit: 5 });
    expect(incident).toMatchObject({ scope: 'service:billing', severity: 'failing', title: 'Consumer gone: billing', topSuspect: 'jobs' });
    expect(monitor.get(incident!.id).suspects[1]).toMatchObject({ kind: 'consumer', target: 'billing', reasoning: expect.stringContaining('no longer does') });
    poll(5, 1);
    poll(0, 1);
    expect(monitor.get(incident!.id).status).toBe('resolved');
  });
});
