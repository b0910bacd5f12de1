/**
 * Bad input on the real broker: 10 000 generated malformed, truncated, oversized, wrong-typed,
 * unknown-version, deeply nested and hostile-string messages published to every queue the core
 * consumes, with valid traffic interleaved. Every one must come back on meshdeck.dead-letter with
 * a reason; every valid message must still be applied (registrations and telemetry, counted
 * exactly); the core's heap must stay flat.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from 'rabbitmq-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/balancer/random.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { silentLogger } from '../../core/lib/log.js';
import { decodeMeshEvent, encodeMeshEvent } from '../../core/protocol/codec.js';
import { MAX_MESSAGE_BYTES, type MeshMessageType } from '../../core/protocol/messages.js';
import { CONTENT_TYPE, DEAD_LETTER_HEADERS, EXCHANGES, routingKeys } from '../../core/protocol/topology.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually } from '../support/mesh.js';
import { asDelivered, Fuzzer, hostileMessage, type HostileCategory, type HostileMessage } from '../support/protocol-fuzz.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const TOTAL = 10_000;
const VALID_EVERY = 10;
const FUZZ_HEADER = 'x-fuzz-n';
const run = randomUUID().slice(0, 6);
const api = `fz-api-${run}`;
const web = `fz-web-${run}`;

/** Where each kind of message goes, and what the consumer behind that route expects. */
const ROUTES: Array<{ name: string; exchange: string; key: (i: number) => string; expects: MeshMessageType[] }> = [
  { name: 'registry stream', exchange: EXCHANGES.registry, key: (i) => routingKeys.register(api, `x${i}`), expects: ['io.meshdeck.instance.register.v1', 'io.meshdeck.instance.deregister.v1'] },
  { name: 'heartbeats', exchange: EXCHANGES.registry, key: (i) => routingKeys.heartbeat(api, `x${i}`), expects: ['io.meshdeck.instance.heartbeat.v1', 'io.meshdeck.health.signal.v1'] },
  { name: 'signals', exchange: EXCHANGES.registry, key: (i) => routingKeys.signal(api, `x${i}`), expects: ['io.meshdeck.instance.heartbeat.v1', 'io.meshdeck.health.signal.v1'] },
  { name: 'telemetry stream', exchange: EXCHANGES.telemetry, key: (i) => routingKeys.telemetry(web, `x${i}`), expects: ['io.meshdeck.telemetry.batch.v1'] },
  { name: 'discovery requests', exchange: EXCHANGES.discovery, key: () => routingKeys.discoveryRequest, expects: ['io.meshdeck.discovery.request.v1'] },
];

let vhost: TestVhost;
let dir: string;
let core: MeshCore;
let amqp: Connection;

function heapMb(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the chaos suite runs with --expose-gc (see vitest.config.ts)');
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function bases(now: number): Buffer[] {
  const source = 'meshdeck://fuzz';
  const sketch = { zero: 0, buckets: [[10, 3]] as Array<[number, number]> };
  return [
    encodeMeshEvent('io.meshdeck.instance.register.v1', { service: api, instanceId: 'api-1', zone: 'zone-a', address: '127.0.0.1:1', startedAt: new Date(now).toISOString() }, { source }),
    encodeMeshEvent('io.meshdeck.instance.heartbeat.v1', { service: api, instanceId: 'api-1', seq: 4 }, { source }),
    encodeMeshEvent('io.meshdeck.instance.deregister.v1', { service: api, instanceId: 'api-1' }, { source }),
    encodeMeshEvent(
      'io.meshdeck.telemetry.batch.v1',
      {
        service: web,
        instanceId: 'web-1',
        zone: 'zone-a',
        windowStart: now - (now % 1000),
        windowMs: 1000,
        edges: [{ direction: 'outbound', peerService: api, peerInstance: 'api-1', requests: 3, errors: { http5xx: 1 }, latency: sketch }],
      },
      { source },
    ),
    encodeMeshEvent('io.meshdeck.health.signal.v1', { reporter: { service: web, instanceId: 'web-1' }, target: { service: api, instanceId: 'api-1' }, kind: 'connect-refused' }, { source }),
    encodeMeshEvent('io.meshdeck.discovery.request.v1', { services: [api] }, { source }),
  ];
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-chaos-fuzz');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-chaos-fuzz-'));
  core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url });
  await eventually(() => core.meshes.get('cli')?.active, 'core running', 20_000);
  amqp = new Connection({ url: vhost.url });
}, 60_000);

afterAll(async () => {
  await amqp?.close();
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('chaos: bad input on the real broker', () => {
  it(`dead-letters ${TOTAL} hostile messages with a reason while valid traffic is applied, heap flat`, async () => {
    const mesh = core.meshes.get('cli')!;
    const fuzz = new Fuzzer(mulberry32(0xc4a05));

    // Our own queue on the dead-letter fanout sees every dead letter with the original headers.
    const ch = await amqp.acquire();
    const { queue } = await ch.queueDeclare({ exclusive: true, autoDelete: true });
    await ch.queueBind({ queue, exchange: EXCHANGES.deadLetter, routingKey: '' });
    const dead = new Map<number, string>();
    const unreasoned: number[] = [];
    await ch.basicConsume({ queue, noAck: true }, (m) => {
      const n = Number(m.headers?.[FUZZ_HEADER]);
      const reason = m.headers?.[DEAD_LETTER_HEADERS.reason];
      if (!Number.isInteger(n)) return;
      if (typeof reason !== 'string' || reason.length === 0) unreasoned.push(n);
      dead.set(n, String(reason));
    });

    // The corpus: only what the consumer behind the route must refuse (a mutation can leave a
    // message valid, e.g. a changed number); the explicit categories must all be refused.
    const now = Date.now();
    const valid = bases(now);
    const corpus: Array<HostileMessage & { n: number; route: (typeof ROUTES)[number] }> = [];
    const stillValid: Record<string, number> = {};
    while (corpus.length < TOTAL) {
      const message = hostileMessage(fuzz, valid, MAX_MESSAGE_BYTES);
      const route = fuzz.pick(ROUTES);
      if (decodeMeshEvent(asDelivered(message), route.expects).ok) {
        stillValid[message.category] = (stillValid[message.category] ?? 0) + 1;
        continue;
      }
      corpus.push({ ...message, n: corpus.length, route });
    }
    for (const category of ['truncated', 'unknown-version', 'deeply-nested', 'oversized'] satisfies HostileCategory[]) {
      expect(stillValid[category] ?? 0, `${category} messages are always invalid`).toBe(0);
    }
    const byCategory: Partial<Record<HostileCategory, number>> = {};
    for (const m of corpus) byCategory[m.category] = (byCategory[m.category] ?? 0) + 1;
    for (const [category, count] of Object.entries(byCategory)) expect(count, category).toBeGreaterThanOrEqual(category === 'oversized' ? 20 : 300);
    expect(Object.keys(byCategory)).toHaveLength(7);

    const publisher = amqp.createPublisher({ confirm: true });
    const source = 'meshdeck://fuzz-valid';
    let validRegistrations = 0;
    let validRequests = 0;
    const send = (m: (typeof corpus)[number]) =>
      publisher.send({ exchange: m.route.exchange, routingKey: m.route.key(m.n), contentType: m.contentType, headers: { [FUZZ_HEADER]: m.n } }, m.body);
    const sendValid = (i: number) => {
      if (i % 2 === 0) {
        validRegistrations += 1;
        // Legal ids that are also names of Object.prototype members.
        const id = i === 0 ? '__proto__' : i === 2 ? 'constructor' : `ok-${i}`;
        return publisher.send(
          { exchange: EXCHANGES.registry, routingKey: routingKeys.register(api, id), contentType: CONTENT_TYPE },
          encodeMeshEvent('io.meshdeck.instance.register.v1', { service: api, instanceId: id, zone: 'zone-a', address: '127.0.0.1:9', startedAt: new Date().toISOString(), heartbeatIntervalMs: 60_000 }, { source }),
        );
      }
      validRequests += 2;
      const t = Date.now();
      return publisher.send(
        { exchange: EXCHANGES.telemetry, routingKey: routingKeys.telemetry(web, `w${i}`), contentType: CONTENT_TYPE },
        encodeMeshEvent(
          'io.meshdeck.telemetry.batch.v1',
          { service: web, instanceId: `w${i}`, zone: 'zone-a', windowStart: t - (t % 1000), windowMs: 1000, edges: [{ direction: 'outbound', peerService: api, requests: 2, errors: {}, latency: { zero: 0, buckets: [[20, 2]] } }] },
          { source },
        ),
      );
    };

    console.info(`chaos fuzz: corpus of ${TOTAL} built in ${Date.now() - now} ms`);
    const started = Date.now();
    const publishRange = async (from: number, to: number) => {
      for (let i = from; i < to; i += 100) {
        const chunk = corpus.slice(i, Math.min(i + 100, to));
        await Promise.all(chunk.flatMap((m) => (m.n % VALID_EVERY === 0 ? [send(m), sendValid(m.n / VALID_EVERY)] : [send(m)])));
      }
    };
    // Warm up (code paths compiled, pools filled), then take the heap baseline.
    await publishRange(0, 1000);
    await eventually(() => dead.size === 1000, 'first 1 000 dead-lettered', 30_000, 100);
    const heapBefore = heapMb();
    await publishRange(1000, TOTAL);
    await eventually(() => dead.size === TOTAL, `all ${TOTAL} dead-lettered`, 120_000, 200);
    const heapAfter = heapMb();

    expect(unreasoned).toEqual([]);
    expect([...dead.keys()].sort((a, b) => a - b)).toEqual(corpus.map((m) => m.n));
    expect(mesh.stats.deadLettered).toBe(TOTAL);
    // The reasons say what was wrong, per category.
    const reasonOf = (category: HostileCategory) => corpus.filter((m) => m.category === category).map((m) => dead.get(m.n)!);
    for (const reason of reasonOf('oversized')) expect(reason).toMatch(/over the 262144-byte limit/);
    for (const reason of reasonOf('truncated')) expect(reason).toMatch(/not valid JSON|empty body|not a JSON object/);
    for (const reason of reasonOf('unknown-version')) expect(reason).toMatch(/unsupported protocol version|unknown message type|not expected on this queue|invalid/);

    // Valid traffic was applied in full: every registration, every telemetry request exactly once.
    const applied = () => mesh.registry.instances(api).filter((i) => /^(ok-\d+|__proto__|constructor)$/.test(i.instanceId));
    await eventually(() => applied().length === validRegistrations, `${validRegistrations} valid registrations applied`, 30_000, 200);
    expect(mesh.registry.get(api, '__proto__')?.address).toBe('127.0.0.1:9');
    expect(mesh.registry.get(api, 'constructor')?.address).toBe('127.0.0.1:9');
    const ctx = { transport: 'internal' as const, actor: 'test' };
    const total = async () => {
      const series = (await core.router.call('telemetry.series', { profileId: 'cli', kind: 'edge', from: web, to: api, start: started - 5000, end: Date.now() + 2000, resolution: '1s' }, ctx)) as { points: Array<{ requests: number }> };
      return series.points.reduce((sum, p) => sum + p.requests, 0);
    };
    await eventually(async () => (await total()) === validRequests, `${validRequests} valid requests counted`, 30_000, 250);

    // Heap: what 9 000 dead letters leave behind. Generous bound, real leaks are per message.
    console.info(`chaos fuzz: ${TOTAL} dead-lettered in ${Date.now() - started} ms; heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MB; categories ${JSON.stringify(byCategory)}`);
    expect(heapAfter - heapBefore).toBeLessThan(15);
    await publisher.close();
    await ch.close();
  }, 240_000);
});
