/**
 * The least-privilege agent user of docs/security.md on the real broker, in a throwaway vhost:
 * an agent works with exactly those permissions (declares the topology, registers, heartbeats,
 * reports telemetry, receives a command and acks it), and the same credentials are refused what
 * an agent must not do (send commands, push endpoint sets, read the core's queues or another
 * service's control queue, declare other things).
 */
import { randomUUID } from 'node:crypto';
import { Connection, type AsyncMessage } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMeshCore } from '../../core/app.js';
import { agentPermissions, consolePermissions, monitoringPermissions } from '../../core/bus/permissions.js';
import { createLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { ManagementClient } from '../../core/broker/management-client.js';
import { readBroker } from '../../core/broker/read-snapshot.js';
import { silentLogger } from '../../core/lib/log.js';
import { encodeMeshEvent } from '../../core/protocol/codec.js';
import { EXCHANGES, QUEUES, controlQueue, routingKeys } from '../../core/protocol/topology.js';
import { eventually } from '../../test/support/mesh.js';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import { MeshAgent } from './mesh-agent.js';

const run = randomUUID().slice(0, 6);
const service = `perm-${run}`;
const user = `meshdeck-agent-${service}`;
const password = `pw-${randomUUID()}`;
const monitor = `meshdeck-monitor-${run}`;
const consoleUser = `meshdeck-console-${run}`;

/**
 * The `rabbitmqctl add_user / set_permissions / set_topic_permissions` of docs/security.md, made
 * through the management API (the same records; rabbitmqctl takes seconds a call on a busy machine).
 */
async function management(method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:15672/api/${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

let vhost: TestVhost;
let admin: Connection;
let agentUrl: string;
const received: AsyncMessage[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-perm');
  const v = encodeURIComponent(vhost.name);
  const u = encodeURIComponent(user);
  await management('PUT', `users/${u}`, { password, tags: '' });
  const perms = agentPermissions(service);
  await management('PUT', `permissions/${v}/${u}`, perms.vhost);
  for (const t of perms.topics) await management('PUT', `topic-permissions/${v}/${u}`, t);
  agentUrl = `amqp://${user}:${password}@127.0.0.1:5672/${encodeURIComponent(vhost.name)}`;

  // guest (all rights) watches what the agent sends, as the core would.
  admin = new Connection({ url: vhost.url, retryLow: 100, retryHigh: 500 });
  const queue = `meshdeck-perm-watch-${run}`;
  await admin.queueDeclare({ queue, exclusive: true });
  for (const exchange of [EXCHANGES.registry, EXCHANGES.telemetry, EXCHANGES.control]) {
    await admin.exchangeDeclare({ exchange, type: 'topic', durable: true });
  }
  await admin.queueBind({ queue, exchange: EXCHANGES.registry, routingKey: `registry.${service}.#` });
  await admin.queueBind({ queue, exchange: EXCHANGES.telemetry, routingKey: `telemetry.${service}.#` });
  await admin.queueBind({ queue, exchange: EXCHANGES.control, routingKey: `ack.${service}.#` });
  const consumer = admin.createConsumer({ queue, queueOptions: { exclusive: true }, noAck: true }, (message) => void received.push(message));
  cleanups.push(() => consumer.close());
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  await admin?.close();
  await management('DELETE', `users/${encodeURIComponent(user)}`).catch(() => undefined);
  await management('DELETE', `users/${encodeURIComponent(monitor)}`).catch(() => undefined);
  await management('DELETE', `users/${encodeURIComponent(consoleUser)}`).catch(() => undefined);
  vhost?.remove();
});

describe('an agent with the least-privilege agent user', () => {
  it('declares the topology, registers, heartbeats, reports telemetry, and acks a command', async () => {
    const agent = new MeshAgent({ broker: agentUrl, service, zone: 'zone-a', address: '127.0.0.1:1', agent: 'sidecar', heartbeatIntervalMs: 100, telemetryIntervalMs: 100, logger: silentLogger });
    cleanups.push(() => agent.stop());
    const session = new Promise<void>((resolve) => agent.once('session', () => resolve()));
    agent.start();
    await session; // emitted only once the whole setup passed, with no ACCESS_REFUSED
    const keys = () => received.map((m) => m.routingKey);
    await eventually(() => keys().includes(routingKeys.register(service, agent.instanceId)), 'registration');
    await eventually(() => keys().includes(routingKeys.heartbeat(service, agent.instanceId)), 'heartbeat');
    agent.telemetry.record('outbound', 'other-svc', undefined, 'ok', 3); // telemetry is sent when there is some
    await eventually(() => keys().includes(routingKeys.telemetry(service, agent.instanceId)), 'telemetry');

    // A command (unsigned, so the agent rejects it) reaches the agent's control queue; its ack comes back.
    const commandId = `cmd-${randomUUID()}`;
    const now = Date.now();
    const publisher = admin.createPublisher({ confirm: true });
    cleanups.push(() => publisher.close());
    await publisher.send(
      { exchange: EXCHANGES.control, routingKey: routingKeys.command(service) },
      encodeMeshEvent(
        'io.meshdeck.control.command.v1',
        { commandId, target: { service }, issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + 60_000).toISOString(), issuer: 'test', command: { action: 'drain' } },
        { source: 'meshdeck://test' },
      ),
    );
    await eventually(() => received.some((m) => m.routingKey === routingKeys.ack(service, agent.instanceId) && String(m.body).includes(commandId)), 'ack');
    expect(agent.connection.state.status).toBe('connected');
  });
});

describe('what the agent user is refused', () => {
  let conn: Connection;
  beforeAll(async () => {
    conn = new Connection({ url: agentUrl, retryLow: 100, retryHigh: 500 });
    await conn.onConnect(5000);
    // Another service's control queue, made by guest.
    await admin.queueDeclare({ queue: controlQueue('other-svc', 'i1'), durable: false, autoDelete: true });
  });
  afterAll(async () => {
    await conn?.close();
  });

  /** One operation on a fresh channel; resolves with the refusal's code and text. */
  async function refused(op: (ch: Awaited<ReturnType<Connection['acquire']>>) => Promise<unknown>): Promise<string> {
    const ch = await conn.acquire();
    try {
      await ch.confirmSelect();
      await op(ch);
      return 'allowed';
    } catch (err) {
      return `${(err as { code?: string }).code}: ${(err as Error).message}`;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  const publish = (exchange: string, routingKey: string) => (ch: Awaited<ReturnType<Connection['acquire']>>) => ch.basicPublish({ exchange, routingKey }, 'x');

  it('cannot send commands on the control exchange (only its own acks)', async () => {
    expect(await refused(publish(EXCHANGES.control, routingKeys.command(service)))).toMatch(/ACCESS_REFUSED.*command/);
    expect(await refused(publish(EXCHANGES.control, routingKeys.command('other-svc', 'i1')))).toMatch(/ACCESS_REFUSED/);
    expect(await refused(publish(EXCHANGES.control, routingKeys.ack('other-svc', 'i1')))).toMatch(/ACCESS_REFUSED/);
    expect(await refused(publish(EXCHANGES.control, routingKeys.ack(service, 'i1')))).toBe('allowed');
  });

  it('cannot push endpoint sets, nor speak for another service', async () => {
    expect(await refused(publish(EXCHANGES.discovery, routingKeys.endpoints('checkout')))).toMatch(/ACCESS_REFUSED/);
    expect(await refused(publish(EXCHANGES.registry, routingKeys.register('other-svc', 'i1')))).toMatch(/ACCESS_REFUSED/);
    expect(await refused(publish(EXCHANGES.telemetry, routingKeys.telemetry('other-svc', 'i1')))).toMatch(/ACCESS_REFUSED/);
  });

  it('cannot read the core\u2019s acks or discovery requests, nor another service\u2019s commands', async () => {
    for (const queue of [QUEUES.acks, QUEUES.discoveryRequests, controlQueue('other-svc', 'i1')]) {
      expect(await refused((ch) => ch.basicGet({ queue }))).toContain(`ACCESS_REFUSED - access to queue '${queue}'`);
    }
  });

  it('cannot declare or delete anything outside the mesh, nor delete another service\u2019s queue', async () => {
    expect(await refused((ch) => ch.exchangeDeclare({ exchange: 'evil', type: 'fanout' }))).toContain("ACCESS_REFUSED - access to exchange 'evil'");
    expect(await refused((ch) => ch.queueDeclare({ queue: 'evil' }))).toContain("ACCESS_REFUSED - access to queue 'evil'");
    expect(await refused((ch) => ch.queueDelete({ queue: controlQueue('other-svc', 'i1') }))).toContain('ACCESS_REFUSED - access to queue');
    expect(await refused((ch) => ch.exchangeDelete({ exchange: 'amq.topic' }))).toMatch(/ACCESS_REFUSED/);
  });
});

describe('the monitoring user of the Broker view', () => {
  it('reads the vhost\u2019s exchanges, queues and consumers with the monitoring tag and no AMQP rights', async () => {
    const v = encodeURIComponent(vhost.name);
    await management('PUT', `users/${encodeURIComponent(monitor)}`, { password, tags: 'monitoring' });
    await management('PUT', `permissions/${v}/${encodeURIComponent(monitor)}`, monitoringPermissions());
    const client = new ManagementClient({ baseUrl: 'http://127.0.0.1:15672', username: monitor, password });
    const reading = await readBroker(client, vhost.name, monitor);
    expect(reading.capabilities).toEqual([]);
    expect(reading.available).toBe(true);
    expect(reading.queues.map((q) => q.name)).toContain(QUEUES.acks);
    expect(reading.exchanges.map((e) => e.name)).toContain(EXCHANGES.control);

    // Over AMQP it may log in to the vhost but read, write and configure nothing.
    const amqp = new Connection({ url: `amqp://${monitor}:${password}@127.0.0.1:5672/${v}`, retryLow: 100, retryHigh: 500 });
    try {
      await amqp.onConnect(5000);
      const err = await amqp.basicGet({ queue: QUEUES.acks }).then(() => null, (e: unknown) => e as { code?: string });
      expect(err?.code).toBe('ACCESS_REFUSED');
    } finally {
      await amqp.close();
    }
  });
});

describe('the console user', () => {
  it('runs the core with only the mesh\u2019s names: it sees the agent and answers its discovery request', async () => {
    const v = encodeURIComponent(vhost.name);
    await management('PUT', `users/${encodeURIComponent(consoleUser)}`, { password, tags: '' });
    await management('PUT', `permissions/${v}/${encodeURIComponent(consoleUser)}`, consolePermissions());
    const lines: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'meshdeck-perm-'));
    const core = createMeshCore({
      databasePath: join(dir, 'm.db'),
      secrets: memorySecretStore('t'),
      logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }),
      host: 'headless',
      commandLineBroker: `amqp://${consoleUser}:${password}@127.0.0.1:5672/${v}`,
      broker: { statsIntervalMs: 1000 },
    });
    const agent = new MeshAgent({ broker: agentUrl, service, zone: 'zone-a', address: '127.0.0.1:2', agent: 'sidecar', heartbeatIntervalMs: 200, logger: silentLogger });
    try {
      await eventually(() => core.meshes.get('cli')?.active, 'core mesh running');
      agent.start();
      const mesh = core.meshes.get('cli')!;
      await eventually(() => mesh.registry.get(service, agent.instanceId), 'agent registered with the core');
      await eventually(() => agent.endpoints(service)?.endpoints.some((e) => e.instanceId === agent.instanceId), 'endpoint set from the core', 15_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(lines.filter((l) => l.includes('ACCESS_REFUSED'))).toEqual([]);
    } finally {
      await agent.stop();
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
