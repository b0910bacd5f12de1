/**
 * The queue rules on the real broker: a core connected to a vhost of its own reads the broker's
 * snapshots (management API, polled at the shortest interval the monitor allows, 1 s) and feeds
 * them to its incident monitor. A queue consumed by a service named like a Meshdeck agent
 * (billing) gets a stuck consumer while messages keep coming: "queue backlog growing" opens on
 * billing with the queue first, and resolves once the consumer drains it. Then the consumer
 * leaves with messages waiting: "consumer gone" opens failing, and resolves when it comes back.
 */
import { Connection, type Consumer, type Publisher } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/mesh.js';
import { MeshFixture } from '../../test/support/mesh-fixture.js';
import type { CallContext } from '../api/router.js';
import type { MeshCore } from '../app.js';
import type { IncidentDetail, IncidentSummary } from './schema.js';

const ctx: CallContext = { transport: 'internal', actor: 'test' };
const QUEUE = 'test.jobs';

let fixture: MeshFixture;
let core: MeshCore;
let amqp: Connection;
let publisher: Publisher;
let consumer: Consumer | null = null;
/** Lets the stuck consumer of the first test go (a consumer closes only once its handler returns). */
let release: () => void = () => undefined;
/** Connections made by the test's client: more than one means the broker dropped it (its consumers left for a moment). */
let connects = 0;

const incidents = (status: 'open' | 'all') => core.router.call('incidents.list', { profileId: 'cli', status }, ctx) as Promise<IncidentSummary[]>;
const detail = (id: number) => core.router.call('incidents.get', { profileId: 'cli', id }, ctx) as Promise<IncidentDetail>;

/** A consumer of the queue; `handler` decides when each message is acked. */
async function consume(handler: () => Promise<void> | void): Promise<Consumer> {
  const c = amqp.createConsumer({ queue: QUEUE, queueOptions: { durable: true }, qos: { prefetchCount: 1 } }, handler);
  await new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('error', reject);
  });
  return c;
}

beforeAll(async () => {
  fixture = await MeshFixture.start('meshdeck-queue-rules', {
    core: {
      // The shortest poll the broker monitor allows (the broker itself refreshes every 5 s).
      broker: { statsIntervalMs: 1000 },
      incidentRules: { defaults: { openAfterSeconds: 2, resolveAfterSeconds: 2, queueBacklog: { degradedDepth: 20, failingDepth: 1_000_000 } } },
    },
  });
  core = fixture.core;
  // A service "billing" (instance billing-1), as a Meshdeck agent names its connection.
  amqp = new Connection({ url: fixture.vhost.url, connectionName: 'meshdeck-sdk:billing/billing-1', retryLow: 100, retryHigh: 500 });
  amqp.on('connection', () => connects++);
  await amqp.queueDeclare({ queue: QUEUE, durable: true });
  publisher = amqp.createPublisher({ confirm: true });
}, 60_000);

afterAll(async () => {
  release();
  await consumer?.close();
  await publisher?.close();
  await amqp?.close();
  await fixture?.close();
});

describe('queue rules on the real broker', () => {
  it('backlog growing: opens on the consuming service with the queue first, resolves when it drains', async () => {
    const stuck = new Promise<void>((resolve) => (release = resolve));
    consumer = await consume(() => stuck);

    // Publish 50 msg/s into a queue whose only consumer holds its one message.
    let publishing = true;
    const flood = (async () => {
      while (publishing) await Promise.all(Array.from({ length: 10 }, (_, i) => publisher.send({ routingKey: QUEUE }, { i })));
    })();
    let incident: IncidentSummary;
    try {
      incident = await eventually(async () => (await incidents('open')).find((i) => i.scope === 'service:billing' && i.title.startsWith('Queue backlog growing')), 'backlog incident', 60_000, 250);
    } finally {
      publishing = false;
      await flood;
    }
    const opened = await detail(incident.id);
    // On a mismatch, the message carries the incident's rules and timeline (what raised it).
    expect(incident, JSON.stringify({ connects, rules: opened.rules, timeline: opened.timeline })).toMatchObject({ service: 'billing', severity: 'degraded', topSuspect: QUEUE });
    expect(opened.suspects[0]).toMatchObject({ kind: 'queue', target: QUEUE, service: 'billing' });
    expect(opened.suspects.map((s) => `${s.kind}:${s.target}`)).toContain('consumer:billing');
    const rule = opened.timeline.find((e) => e.kind === 'rule' && (e.evidence as { rule?: string }).rule === 'queue-backlog')!;
    expect(rule.text).toContain('growing');
    const measured = (rule.evidence as { measured: { ready: number; consumers: number; readAt: number; depths: Array<[number, number]> } }).measured;
    expect(measured.ready).toBeGreaterThanOrEqual(20);
    expect(measured.consumers).toBe(1);
    expect(measured.depths.length).toBeGreaterThanOrEqual(1);

    // The consumer gets going again: once the queue drains (the depth falls) for resolveAfterSeconds, the incident resolves by itself.
    release();
    const resolved = await eventually(async () => {
      const d = await detail(incident.id);
      return d.status === 'resolved' ? d : null;
    }, 'backlog incident resolved', 60_000, 250);
    expect(resolved.resolvedBy).toBe('meshdeck-core');
  }, 150_000);

  it('consumer gone: opens failing with messages waiting, resolves when a consumer returns', async () => {
    release();
    await consumer?.close();
    consumer = null;
    for (let i = 0; i < 5; i++) await publisher.send({ routingKey: QUEUE }, { waiting: i });
    // Failing once the broker's figures show the messages waiting (a stats refresh may see the consumer leave first).
    const incident = await eventually(
      async () => (await incidents('open')).find((i) => i.scope === 'service:billing' && i.title.startsWith('Consumer gone') && i.severity === 'failing'),
      'consumer-gone incident, failing',
      60_000,
      250,
    );
    expect(incident.topSuspect).toBe(QUEUE);
    const opened = await detail(incident.id);
    expect(opened.suspects[0]).toMatchObject({ kind: 'queue', target: QUEUE, reasoning: expect.stringContaining('no consumer') });
    expect(opened.suspects[1]).toMatchObject({ kind: 'consumer', target: 'billing' });
    const measured = opened.timeline
      .filter((e) => e.kind === 'rule' && (e.evidence as { rule?: string }).rule === 'consumer-gone')
      .map((e) => (e.evidence as { measured: { consumers: number; ready: number } }).measured);
    // What the first test's backlog left (it resolves once draining) plus the 5 just published.
    expect(measured.some((m) => m.consumers === 0 && m.ready >= 5)).toBe(true);

    consumer = await consume(() => undefined);
    await eventually(async () => (await detail(incident.id)).status === 'resolved', 'consumer-gone incident resolved', 60_000, 250);
  }, 150_000);
});
