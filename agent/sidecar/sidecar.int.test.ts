/**
 * The mesh on the real broker: a core (real SQLite) and real sidecars in front of real HTTP
 * services. Service names carry a per-run suffix so runs never see each other's instances.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { createLogger, silentLogger } from '../../core/lib/log.js';
import { encodeMeshEvent } from '../../core/protocol/codec.js';
import type { ControlAck } from '../../core/protocol/messages.js';
import { CONTENT_TYPE, DEAD_LETTER_HEADERS, EXCHANGES, routingKeys } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort, startEchoService, type EchoService } from '../../test/support/mesh.js';
import { REPO_ROOT } from '../../test/support/serve.js';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import { Sidecar } from './sidecar.js';

// Each suite gets a vhost of its own: it sees only the mesh it starts.
let vhost: TestVhost;
let BROKER: string;
const run = randomUUID().slice(0, 6);
const svcA = `web-${run}`;
const svcB = `pay-${run}`;

let dir: string;
let core: MeshCore;
let echoA: EchoService;
let echoB: EchoService;
let sidecarA: Sidecar;
let sidecarB: Sidecar;
let amqp: Connection;

const mesh = () => core.meshes.get('cli')!;

async function startSidecar(service: string, upstream: string, zone = 'zone-a', instanceId?: string, balancer?: 'round-robin'): Promise<Sidecar> {
  const sidecar = new Sidecar({
    ...(balancer ? { balancer } : {}),
    service,
    zone,
    broker: BROKER,
    upstream,
    listenPort: await freePort(),
    heartbeatIntervalMs: 200,
    timeoutMs: 1000,
    logger: process.env.DEBUG_MESH ? createLogger({ level: 'debug' }) : silentLogger,
    ...(instanceId ? { instanceId } : {}),
  });
  await sidecar.start();
  return sidecar;
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-sidecar');
  BROKER = vhost.url;
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-mesh-'));
  core = createMeshCore({
    databasePath: join(dir, 'meshdeck.db'),
    secrets: memorySecretStore('test'),
    logger: process.env.DEBUG_MESH ? createLogger({ level: 'debug', component: 'core' }) : silentLogger,
    host: 'headless',
    commandLineBroker: BROKER,
  });
  await eventually(() => mesh()?.active, 'core mesh session running');
  amqp = new Connection(BROKER);
  echoA = await startEchoService('a');
  echoB = await startEchoService('b');
  sidecarB = await startSidecar(svcB, echoB.url, 'zone-a');
  sidecarA = await startSidecar(svcA, echoA.url, 'zone-a');
});

afterAll(async () => {
  await sidecarA?.stop();
  await sidecarB?.stop();
  await echoA?.close();
  await echoB?.close();
  await amqp?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

describe('registry and discovery', () => {
  it('registers a sidecar and lists it in discovery', async () => {
    const instance = await eventually(() => mesh().registry.instances(svcB).find((i) => i.instanceId === sidecarB.agent.instanceId), 'B registered');
    expect(instance).toMatchObject({ zone: 'zone-a', state: 'healthy', agent: 'sidecar', address: sidecarB.address });
    const set = await core.router.call('mesh.endpoints', { profileId: 'cli', service: svcB }, { transport: 'internal', actor: 'test' });
    expect(set).toMatchObject({ service: svcB, endpoints: [{ instanceId: sidecarB.agent.instanceId, state: 'healthy' }] });
    const registered = await eventually(() => {
      mesh().flush();
      return mesh().store.events({ service: svcB, limit: 10 }).find((e) => e.kind === 'registered' && e.instanceId === sidecarB.agent.instanceId);
    }, 'registration in history');
    expect(registered).toMatchObject({ to: 'healthy' });
    expect(registered.detail).toContain(`zone-a at ${sidecarB.address}`);
  });

  it('pushes the endpoint set to other sidecars over the broker', async () => {
    const set = await eventually(() => sidecarA.agent.endpoints(svcB)?.endpoints.length ? sidecarA.agent.endpoints(svcB) : null, 'A learns B');
    expect(set.endpoints.map((e) => e.instanceId)).toEqual([sidecarB.agent.instanceId]);
    expect(sidecarA.pool.has(svcB)).toBe(true);
  });
});

describe('traffic', () => {
  it('routes /<service>/... through both sidecars and reports the edge to the core', async () => {
    await eventually(() => sidecarA.pool.has(svcB), 'A knows B');
    const before = echoB.hits;
    const n = 25;
    for (let i = 0; i < n; i++) {
      const res = await fetch(`http://${sidecarA.address}/${svcB}/charge?i=${i}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`b:/charge?i=${i}`);
      expect(res.headers.get('x-meshdeck-upstream')).toBe(sidecarB.agent.instanceId);
    }
    expect(echoB.hits - before).toBe(n);
    const edge = await eventually(
      () => mesh().edges.summaries(Date.now(), 60_000).find((e) => e.from === svcA && e.to === svcB && e.requests >= n),
      'edge A→B in telemetry',
    );
    expect(edge.requests).toBe(n);
    expect(edge.errorRate).toBe(0);
    expect(edge.p50).not.toBeNull();
  });

  it('answers 503 for a known service with no healthy endpoint', async () => {
    const svcX = `gone-${run}`;
    const id = `x-${run}`;
    const pub = amqp.createPublisher({ confirm: true });
    const register = encodeMeshEvent(
      'io.meshdeck.instance.register.v1',
      { service: svcX, instanceId: id, zone: 'zone-a', address: '127.0.0.1:1', startedAt: new Date().toISOString() },
      { source: 'test' },
    );
    await pub.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.register(svcX, id), contentType: CONTENT_TYPE }, register);
    await eventually(() => sidecarA.pool.has(svcX), 'A learns X');
    const deregister = encodeMeshEvent('io.meshdeck.instance.deregister.v1', { service: svcX, instanceId: id }, { source: 'test' });
    await pub.send({ exchange: EXCHANGES.registry, routingKey: routingKeys.deregister(svcX, id), contentType: CONTENT_TYPE }, deregister);
    await eventually(() => sidecarA.agent.endpoints(svcX)?.endpoints.length === 0, 'X empty');
    const res = await fetch(`http://${sidecarA.address}/${svcX}/anything`);
    expect(res.status).toBe(503);
    expect(res.headers.get('x-meshdeck-no-endpoints')).toBe(svcX);
    await pub.close();
  });
});

describe('passive outlier detection in the sidecar', () => {
  it('stops sending to an instance whose port refuses connections after the first refusal, without failing the caller', async () => {
    // A caller that round-robins, so B2 is certainly tried (a latency-aware balancer might never pick it).
    const callerEcho = await startEchoService('a2');
    const caller = await startSidecar(svcA, callerEcho.url, 'zone-a', undefined, 'round-robin');
    const echo = await startEchoService('b2');
    const b2Id = `${svcB}-b2`;
    // B2 is a real sidecar process (the built CLI), so it can die the hard way: SIGKILL.
    const b2 = spawn(
      process.execPath,
      [join(REPO_ROOT, 'bin/meshdeck.js'), 'sidecar', '--service', svcB, '--zone', 'zone-a', '--listen', String(await freePort()), '--upstream', echo.url, '--broker', BROKER, '--instance-id', b2Id],
      { stdio: 'ignore' },
    );
    try {
      await eventually(() => caller.agent.endpoints(svcB)?.endpoints.some((e) => e.instanceId === b2Id && e.state === 'healthy'), 'caller knows B2', 15_000);
    } catch (err) {
      b2.kill('SIGKILL');
      throw err;
    }
    const dead = new Promise((resolve) => b2.once('exit', resolve));
    b2.kill('SIGKILL');
    await dead;
    const upstreams: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://${caller.address}/${svcB}/after-crash`);
      expect(res.status).toBe(200);
      upstreams.push(res.headers.get('x-meshdeck-upstream') ?? '');
    }
    expect(new Set(upstreams)).toEqual(new Set([sidecarB.agent.instanceId]));
    expect(caller.pool.localEjections(svcB)).toEqual([b2Id]);
    // ...and the core heard of it at once, from A, not at B2's heartbeat TTL.
    const signal = await eventually(() => mesh().signals().find((s) => s.target.instanceId === b2Id), 'health signal about B2', 5000);
    expect(signal).toMatchObject({ kind: 'connect-refused', reporter: { service: svcA, instanceId: caller.agent.instanceId }, target: { service: svcB } });
    await caller.stop();
    await callerEcho.close();
    await echo.close();
  });
});

describe('untrusted input', () => {
  it('counts a request with a malformed hop header as external, and its telemetry still arrives', async () => {
    const res = await fetch(`http://${sidecarB.address}/direct`, { headers: { 'x-meshdeck-hop': 'Not A Service/with.dots' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('b:/direct');
    const edge = await eventually(
      () => mesh().edges.summaries(Date.now(), 60_000).find((e) => e.from === 'external' && e.to === svcB),
      'external → B edge',
    );
    expect(edge.requests).toBeGreaterThanOrEqual(1);
  });
});

describe('control commands', () => {
  it('applies a fault command, acknowledges it, and clears it', async () => {
    const target = { service: svcB, instanceId: sidecarB.agent.instanceId };
    const now = Date.now();
    const commandId = `test-${randomUUID()}`;
    const acked = new Promise<ControlAck>((resolve) => {
      const onAck = (ack: ControlAck) => {
        if (ack.commandId === commandId) {
          mesh().off('ack', onAck);
          resolve(ack);
        }
      };
      mesh().on('ack', onAck);
    });
    await mesh().sendCommand({
      commandId,
      target,
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 30_000).toISOString(),
      issuer: 'test',
      reason: 'drill',
      command: { action: 'fault', fault: { share: 1, delayMs: 0, abortStatus: 503, durationMs: 60_000 } },
    });
    const ack = await acked;
    expect(ack).toMatchObject({ status: 'applied', instanceId: sidecarB.agent.instanceId });
    const faulted = await fetch(`http://${sidecarA.address}/${svcB}/charge`);
    expect(faulted.status).toBe(503);
    expect(faulted.headers.get('x-meshdeck-fault')).toBe('abort');

    const clearId = `test-${randomUUID()}`;
    await mesh().sendCommand({
      commandId: clearId,
      target,
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 30_000).toISOString(),
      issuer: 'test',
      reason: 'drill over',
      command: { action: 'clear-fault' },
    });
    await eventually(() => mesh().acksFor(clearId).some((a) => a.status === 'applied'), 'clear-fault acked');
    expect((await fetch(`http://${sidecarA.address}/${svcB}/charge`)).status).toBe(200);
  });

  it('answers a repeated command id as a duplicate without applying it again', async () => {
    const commandId = `test-${randomUUID()}`;
    const command = {
      commandId,
      target: { service: svcB, instanceId: sidecarB.agent.instanceId },
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 30_000).toISOString(),
      issuer: 'test',
      reason: '',
      command: { action: 'set-weight' as const, weight: 50 },
    };
    await mesh().sendCommand(command);
    await mesh().sendCommand(command);
    const acks = await eventually(() => (mesh().acksFor(commandId).length >= 2 ? mesh().acksFor(commandId) : null), 'two acks');
    expect(acks.map((a) => a.status).sort()).toEqual(['applied', 'duplicate']);
    await eventually(() => mesh().registry.get(svcB, sidecarB.agent.instanceId)?.weight === 50, 'weight 50 via heartbeat');
  });
});

describe('leaving the mesh', () => {
  it('deregisters on a graceful stop', async () => {
    const echo = await startEchoService('c');
    const sidecar = await startSidecar(svcB, echo.url, 'zone-b');
    await eventually(() => mesh().registry.get(svcB, sidecar.agent.instanceId)?.state === 'healthy', 'C healthy');
    await sidecar.stop();
    await echo.close();
    await eventually(() => !mesh().registry.get(svcB, sidecar.agent.instanceId), 'C removed');
    mesh().flush();
    const events = mesh().store.events({ service: svcB, instanceId: sidecar.agent.instanceId, limit: 10 });
    expect(events[0]).toMatchObject({ kind: 'state', to: 'deregistered' });
  });

  it('marks an instance down when its heartbeats stop', async () => {
    const echo = await startEchoService('d');
    const sidecar = await startSidecar(svcB, echo.url, 'zone-c');
    const id = sidecar.agent.instanceId;
    await eventually(() => mesh().registry.get(svcB, id)?.state === 'healthy', 'D healthy');
    // Cut the agent's broker connection without a deregister, as a crash would.
    sidecar.agent.connection.amqp!.unsafeDestroy();
    await sidecar.agent.connection.stop();
    await eventually(() => mesh().registry.get(svcB, id)?.state === 'down', 'D down after missed heartbeats');
    const set = mesh().registry.endpoints(svcB);
    expect(set.endpoints.find((e) => e.instanceId === id)?.state).toBe('down');
    await sidecar.stop();
    await echo.close();
  });
});

describe('bad input', () => {
  it('dead-letters malformed messages with the reason and keeps consuming', async () => {
    const marker = `garbage-${randomUUID()}`;
    const ch = await amqp.acquire();
    const { queue } = await ch.queueDeclare({ exclusive: true, autoDelete: true });
    await ch.queueBind({ queue, exchange: EXCHANGES.deadLetter, routingKey: '' });
    const dead: Array<{ body: string; reason: unknown }> = [];
    await ch.basicConsume({ queue, noAck: true }, (m) => {
      const body = Buffer.isBuffer(m.body) ? m.body.toString() : JSON.stringify(m.body);
      if (body.includes(marker)) dead.push({ body, reason: m.headers?.[DEAD_LETTER_HEADERS.reason] });
    });
    const pub = amqp.createPublisher();
    await pub.send({ exchange: EXCHANGES.registry, routingKey: `registry.${svcB}.x.heartbeat`, contentType: CONTENT_TYPE }, Buffer.from(`{not json ${marker}`));
    await pub.send(
      { exchange: EXCHANGES.registry, routingKey: `registry.${svcB}.x.register`, contentType: CONTENT_TYPE },
      Buffer.from(JSON.stringify({ specversion: '1.0', id: marker, source: 'x', type: 'io.meshdeck.instance.register.v9', time: new Date().toISOString(), data: {} })),
    );
    await eventually(() => dead.length >= 2, 'two dead letters');
    const reasons = dead.map((d) => String(d.reason)).sort();
    expect(reasons[0]).toMatch(/^body is not valid JSON/);
    expect(reasons[1]).toMatch(/unsupported protocol version v9/);

    // The consumer is still going: a valid registration right after is applied.
    const id = `valid-${run}`;
    await pub.send(
      { exchange: EXCHANGES.registry, routingKey: routingKeys.register(svcB, id), contentType: CONTENT_TYPE },
      encodeMeshEvent(
        'io.meshdeck.instance.register.v1',
        { service: svcB, instanceId: id, zone: 'zone-z', address: '127.0.0.1:1', startedAt: new Date().toISOString(), heartbeatIntervalMs: 60_000 },
        { source: 'test' },
      ),
    );
    await eventually(() => mesh().registry.get(svcB, id), 'valid registration applied');
    await pub.close();
    await ch.close();
  });
});
