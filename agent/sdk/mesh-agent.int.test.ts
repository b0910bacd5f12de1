/**
 * The agent SDK on its own (no sidecar), on the real broker: a service joins, publishes domain
 * events, another consumes them, and the core learns who produces and who consumes each type.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually } from '../../test/support/mesh.js';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import type { BrokerFlows } from '../../core/api/contract.js';
import { EXCHANGES } from '../../core/protocol/topology.js';
import { MeshAgent } from './mesh-agent.js';

// Each suite gets a vhost of its own: it sees only the mesh it starts.
let vhost: TestVhost;
let BROKER: string;
const run = randomUUID().slice(0, 6);
const producerService = `orders-${run}`;
const consumerService = `mailer-${run}`;
const eventType = `test.${run}.order.placed.v1`;
let dir: string;
let core: MeshCore;
let producer: MeshAgent;
let consumer: MeshAgent;

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-sdk');
  BROKER = vhost.url;
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-sdk-'));
  core = createMeshCore({
    databasePath: join(dir, 'm.db'),
    secrets: memorySecretStore('t'),
    logger: silentLogger,
    host: 'headless',
    commandLineBroker: BROKER,
    broker: { statsIntervalMs: 1000 },
  });
  await eventually(() => core.meshes.get('cli')?.active, 'core mesh running');
  const agent = (service: string) =>
    new MeshAgent({ broker: BROKER, service, zone: 'zone-a', address: '127.0.0.1:1', agent: 'sdk', heartbeatIntervalMs: 200, telemetryIntervalMs: 200, logger: silentLogger });
  producer = agent(producerService);
  consumer = agent(consumerService);
  producer.start();
  consumer.start();
});

afterAll(async () => {
  await producer?.stop();
  await consumer?.stop();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

/** Starts consuming `queue` on the consumer agent and waits until its session declared it (publish only then). */
async function consumeWhenDeclared(queue: string, onEvent: (data: unknown) => void): Promise<() => Promise<void>> {
  const stop = consumer.consumeEvents(queue, [eventType], (event) => {
    onEvent(event.data);
  });
  await eventually(() => consumer.connection.amqp, 'consumer connected');
  await eventually(async () => {
    try {
      await consumer.connection.amqp!.queueDeclare({ queue, passive: true });
      return true;
    } catch {
      return false;
    }
  }, 'event queue declared');
  await eventually(() => producer.connection.amqp, 'producer connected');
  return stop;
}

describe('agent SDK', () => {
  it('joins the mesh without a sidecar', async () => {
    const mesh = core.meshes.get('cli')!;
    const instance = await eventually(() => mesh.registry.get(producerService, producer.instanceId), 'producer registered');
    expect(instance).toMatchObject({ agent: 'sdk', zone: 'zone-a', state: 'healthy' });
  });

  it('publishes and consumes domain events, and the core records producer and consumer', async () => {
    const received: unknown[] = [];
    const queue = `${consumerService}.orders`;
    const stop = await consumeWhenDeclared(queue, (data) => received.push(data));
    for (let i = 0; i < 5; i++) await producer.publishEvent(eventType, { orderId: i });
    await eventually(() => received.length === 5, 'five events consumed');
    expect(received).toEqual([0, 1, 2, 3, 4].map((orderId) => ({ orderId })));

    const mesh = core.meshes.get('cli')!;
    const flow = await eventually(() => {
      const f = mesh.events.summaries(Date.now(), 60_000).find((x) => x.type === eventType);
      return f && f.producers.length && f.consumers.length && f.consumers[0]!.total === 5 ? f : null;
    }, 'event flow in the core');
    expect(flow.producers).toEqual([expect.objectContaining({ service: producerService, exchange: 'meshdeck.events', total: 5 })]);
    expect(flow.consumers).toEqual([expect.objectContaining({ service: consumerService, queue, total: 5, failed: 0 })]);
    await stop();
    await consumer.connection.amqp?.queueDelete({ queue });
  });

  it('refuses to publish reserved io.meshdeck.* types', async () => {
    await expect(producer.publishEvent('io.meshdeck.instance.register.v1', {})).rejects.toThrow(/reserved/);
  });

  it('shows in broker.flows: publisher → exchange → queue → consumer, joined to the mesh services, with rates', async () => {
    // The broker's management API (binding, queue, the consumer's connection named after its
    // service) joined with what the agents report (who publishes where, per-service consume rates).
    const queue = `${consumerService}.flows`;
    const stop = await consumeWhenDeclared(queue, () => undefined);
    const mesh = core.meshes.get('cli')!;
    await eventually(() => mesh.registry.get(consumerService, consumer.instanceId) && mesh.registry.get(producerService, producer.instanceId), 'both registered');
    for (let i = 0; i < 10; i++) await producer.publishEvent(eventType, { orderId: i });

    const exchange = `exchange:${EXCHANGES.events}`;
    const flows = await eventually(
      async () => {
        const f = (await core.router.call('broker.flows', { profileId: 'cli' }, { transport: 'internal', actor: 'test' })) as BrokerFlows;
        const deliver = f.edges.find((e) => e.from === `queue:${queue}` && e.to === `consumer:${consumerService}`);
        const publish = f.edges.find((e) => e.from === `publisher:${producerService}` && e.to === exchange);
        return deliver?.source === 'both' && publish ? f : null;
      },
      'the joined event flow',
      30_000,
      500,
    );
    const edge = (from: string, to: string) => flows.edges.find((e) => e.from === from && e.to === to);
    expect(edge(`publisher:${producerService}`, exchange)).toMatchObject({ kind: 'publish', source: 'agents', keys: [eventType] });
    expect(edge(`publisher:${producerService}`, exchange)!.rate).toBeGreaterThan(0);
    expect(edge(exchange, `queue:${queue}`)).toMatchObject({ kind: 'route', source: 'broker', keys: [eventType] });
    expect(edge(`queue:${queue}`, `consumer:${consumerService}`)).toMatchObject({ kind: 'deliver', source: 'both', keys: [eventType] });
    expect(edge(`queue:${queue}`, `consumer:${consumerService}`)!.rate).toBeGreaterThan(0);
    expect(flows.nodes.find((n) => n.id === `consumer:${consumerService}`)).toEqual({
      id: `consumer:${consumerService}`,
      kind: 'consumer',
      label: consumerService,
      service: consumerService,
      inMesh: true,
    });
    expect(flows.nodes.find((n) => n.id === `publisher:${producerService}`)).toMatchObject({ service: producerService, inMesh: true });
    await stop();
    await consumer.connection.amqp?.queueDelete({ queue });
  }, 60_000);
});
