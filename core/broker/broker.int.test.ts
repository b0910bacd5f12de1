/**
 * Broker introspection against the real broker's management API: what the test declares in a
 * vhost of its own is exactly what the snapshot shows (types, bindings, depth, consumers, the
 * consumer's connection name joined to its service), and a monitoring user without permission
 * on the vhost gets a plain capability message instead of a crash.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, type Consumer } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort } from '../../test/support/mesh.js';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import type { BrokerSnapshot } from '../api/contract.js';
import type { CallContext } from '../api/router.js';
import { createMeshCore, type MeshCore } from '../app.js';
import { silentLogger } from '../lib/log.js';
import { memorySecretStore } from '../secrets/secret-store.js';
import { ManagementApiError, ManagementClient } from './management-client.js';

const ctx: CallContext = { transport: 'internal', actor: 'test' };
const EXCHANGE = 'test.orders';

let dir: string;
let vhost: TestVhost;
let core: MeshCore;
let amqp: Connection;
let consumer: Consumer;
let profileId: string;
const monitorUser = `meshdeck-mon-${randomUUID().slice(0, 8)}`;
const monitorPassword = randomUUID();

const snapshot = (id = profileId) => core.router.call('broker.snapshot', { profileId: id }, ctx) as Promise<BrokerSnapshot>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-broker-'));
  vhost = createTestVhost('meshdeck-broker');
  core = createMeshCore({
    databasePath: join(dir, 'm.db'),
    secrets: memorySecretStore('test'),
    logger: silentLogger,
    host: 'headless',
    broker: { statsIntervalMs: 1000 },
  });
  const profile = (await core.router.call(
    'profiles.create',
    { name: 'local', url: 'amqp://guest:guest@127.0.0.1:5672', vhost: vhost.name },
    ctx,
  )) as { id: string; managementUrl: string | null };
  profileId = profile.id;

  // A service "orders" (instance orders-1) as a Meshdeck agent names its connection.
  amqp = new Connection({ url: vhost.url, connectionName: 'meshdeck-sdk:orders/orders-1', retryLow: 100, retryHigh: 500 });
  await amqp.exchangeDeclare({ exchange: EXCHANGE, type: 'topic', durable: true });
  await amqp.queueDeclare({ queue: 'test.orders.placed', durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await amqp.queueDeclare({ queue: 'test.audit', durable: true });
  await amqp.queueDeclare({ queue: 'test.history', durable: true, arguments: { 'x-queue-type': 'stream' } });
  await amqp.queueBind({ queue: 'test.orders.placed', exchange: EXCHANGE, routingKey: 'order.placed' });
  await amqp.queueBind({ queue: 'test.audit', exchange: EXCHANGE, routingKey: 'order.#' });
  consumer = amqp.createConsumer(
    { queue: 'test.orders.placed', queueOptions: { durable: true, arguments: { 'x-queue-type': 'quorum' } }, qos: { prefetchCount: 7 } },
    () => undefined,
  );
  await new Promise<void>((resolve, reject) => {
    consumer.once('ready', () => resolve());
    consumer.once('error', reject);
  });
  // Three messages for the audit queue (no consumer: they stay ready); routed, not consumed.
  const publisher = amqp.createPublisher({ confirm: true });
  for (let i = 0; i < 3; i++) await publisher.send({ exchange: EXCHANGE, routingKey: 'order.shipped' }, { n: i });
  await publisher.close();

  execFileSync('rabbitmqctl', ['add_user', monitorUser, monitorPassword], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['set_user_tags', monitorUser, 'monitoring'], { stdio: 'ignore' });
}, 60_000);

afterAll(async () => {
  await consumer?.close();
  await amqp?.close();
  await core?.close();
  try {
    execFileSync('rabbitmqctl', ['delete_user', monitorUser], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('broker.snapshot on the real broker', () => {
  it('matches what the test declared', async () => {
    const snap = await eventually(async () => {
      const s = await snapshot();
      const audit = s.queues.find((q) => q.name === 'test.audit');
      const placed = s.queues.find((q) => q.name === 'test.orders.placed');
      return s.consumers.length === 1 && audit?.ready === 3 && placed?.consumers === 1 ? s : null;
    }, 'the declared topology with stats', 30_000, 500);

    expect(snap.available).toBe(true);
    expect(snap.managementUrl).toBe('http://127.0.0.1:15672');
    expect(snap.vhost).toBe(vhost.name);
    expect(snap.capabilities).toEqual([]);
    expect(snap.overview).toMatchObject({ user: 'guest', tags: ['administrator'], statsDisabled: false });
    expect(snap.pollIntervalMs).toBeGreaterThanOrEqual(1000);

    const own = snap.exchanges.filter((e) => e.name !== '' && !e.name.startsWith('amq.'));
    expect(own.map((e) => ({ name: e.name, type: e.type, durable: e.durable, internal: e.internal }))).toEqual([
      { name: EXCHANGE, type: 'topic', durable: true, internal: false },
    ]);
    expect(snap.queues.map((q) => ({ name: q.name, type: q.type, durable: q.durable, consumers: q.consumers }))).toEqual([
      { name: 'test.audit', type: 'classic', durable: true, consumers: 0 },
      { name: 'test.history', type: 'stream', durable: true, consumers: 0 },
      { name: 'test.orders.placed', type: 'quorum', durable: true, consumers: 1 },
    ]);
    const audit = snap.queues.find((q) => q.name === 'test.audit')!;
    expect({ ready: audit.ready, unacked: audit.unacked }).toEqual({ ready: 3, unacked: 0 });
    expect([...snap.bindings].sort((a, b) => a.destination.localeCompare(b.destination))).toEqual([
      { source: EXCHANGE, destination: 'test.audit', destinationType: 'queue', routingKey: 'order.#' },
      { source: EXCHANGE, destination: 'test.orders.placed', destinationType: 'queue', routingKey: 'order.placed' },
    ]);
    expect(snap.consumers).toEqual([
      expect.objectContaining({
        queue: 'test.orders.placed',
        connectionName: 'meshdeck-sdk:orders/orders-1',
        service: 'orders',
        instanceId: 'orders-1',
        agent: 'sdk',
        prefetch: 7,
        ackRequired: true,
      }),
    ]);
    expect(snap.connections).toEqual([expect.objectContaining({ connectionName: 'meshdeck-sdk:orders/orders-1', service: 'orders', user: 'guest' })]);

    // The flow graph: exchange → both queues, the quorum queue → the orders service.
    const edges = snap.flows.edges.map((e) => ({ from: e.from, to: e.to, kind: e.kind, source: e.source, keys: e.keys }));
    expect(edges).toEqual([
      { from: `exchange:${EXCHANGE}`, to: 'queue:test.audit', kind: 'route', source: 'broker', keys: ['order.#'] },
      { from: `exchange:${EXCHANGE}`, to: 'queue:test.orders.placed', kind: 'route', source: 'broker', keys: ['order.placed'] },
      { from: 'queue:test.orders.placed', to: 'consumer:orders', kind: 'deliver', source: 'broker', keys: [] },
    ]);
    expect(snap.flows.nodes.find((n) => n.id === 'consumer:orders')).toMatchObject({ kind: 'consumer', service: 'orders' });
  }, 40_000);

  it('pages through long lists with page_size', async () => {
    const client = new ManagementClient({ baseUrl: 'http://127.0.0.1:15672', username: 'guest', password: 'guest', pageSize: 1 });
    const queues = await client.list<{ name: string }>(`queues/${encodeURIComponent(vhost.name)}`, ['name']);
    expect(queues.map((q) => q.name).sort()).toEqual(['test.audit', 'test.history', 'test.orders.placed']);
  });

  it('says what a monitoring user without permission on the vhost cannot see, and does not crash', async () => {
    const profile = (await core.router.call(
      'profiles.create',
      { name: 'monitoring', url: 'amqp://127.0.0.1:5672', vhost: vhost.name, managementUsername: monitorUser, managementPassword: monitorPassword },
      ctx,
    )) as { id: string; managementUsername: string | null };
    expect(profile.managementUsername).toBe(monitorUser);
    const snap = await snapshot(profile.id);
    expect(snap.available).toBe(true);
    expect(snap.overview).toMatchObject({ user: monitorUser, tags: ['monitoring'] });
    expect(snap.capabilities).toEqual([
      {
        area: 'vhost',
        message: `User "${monitorUser}" has no permission on vhost "${vhost.name}": exchanges, queues, bindings and consumers are not visible (not_authorised: User not authorised to access virtual host)`,
      },
    ]);
    expect(snap.queues).toEqual([]);
    expect(snap.exchanges).toEqual([]);
  });

  it('says the management plugin is not reachable, with the broker’s own words for a wrong password', async () => {
    const port = await freePort();
    const closed = (await core.router.call(
      'profiles.create',
      { name: 'no plugin', url: 'amqp://127.0.0.1:5672', vhost: vhost.name, managementUrl: `http://127.0.0.1:${port}` },
      ctx,
    )) as { id: string };
    const snap = await snapshot(closed.id);
    expect(snap.available).toBe(false);
    expect(snap.capabilities).toHaveLength(1);
    expect(snap.capabilities[0]!.area).toBe('management');
    expect(snap.capabilities[0]!.message).toMatch(new RegExp(`^Management plugin not reachable at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED`));

    const client = new ManagementClient({ baseUrl: 'http://127.0.0.1:15672', username: 'guest', password: 'wrong' });
    const err = await client.get('whoami').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagementApiError);
    expect(err).toMatchObject({ failure: 'unauthorized', status: 401, code: 'BROKER_ERROR' });
    expect((err as ManagementApiError).brokerText).toBe('not_authorized: Login failed');
  });
});
