/**
 * The edge gateway on the real broker: a core (real SQLite), two upstream services behind real
 * sidecars, and a gateway routing to them by path, header and weighted split. Service names
 * carry a per-run suffix so runs never see each other's instances or edges.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { createLogger, silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort } from '../../test/support/mesh.js';
import { createTestVhost, type TestVhost } from '../../test/support/vhost.js';
import { Sidecar } from '../sidecar/sidecar.js';
import { Gateway } from './gateway.js';
import type { RoutesConfig } from './routes.js';

// A vhost of its own: the suite sees only the mesh it starts.
let vhost: TestVhost;
let BROKER: string;
const run = randomUUID().slice(0, 6);
const shop = `shop-${run}`;
const shopV2 = `shop-v2-${run}`;
const gw = `gw-${run}`;
const logger = () => (process.env.DEBUG_MESH ? createLogger({ level: 'debug' }) : silentLogger);

const ROUTES: RoutesConfig = {
  routes: [
    { name: 'canary', match: { pathPrefix: '/api/shop', headers: { 'x-canary': 'true' } }, service: shopV2, stripPrefix: true, rewritePrefix: '/' },
    { name: 'beta-users', match: { pathPrefix: '/api/shop', headers: { 'x-user': { regex: 'beta-[0-9]+' } } }, service: shopV2, stripPrefix: true },
    {
      name: 'shop-split',
      match: { pathPrefix: '/api/shop', methods: ['GET', 'POST'] },
      split: [
        { service: shop, weight: 90 },
        { service: shopV2, weight: 10 },
      ],
      stripPrefix: true,
      rewritePrefix: '/',
    },
    { name: 'v1', match: { pathPrefix: '/v1' }, service: shop },
    { name: 'v2', match: { pathPrefix: '/v2' }, service: shopV2, stripPrefix: true, rewritePrefix: '/new' },
  ],
};

/** An upstream answering `<name>:<path>` and echoing the hop mark its sidecar passed on. */
interface Upstream {
  url: string;
  hits: number;
  close(): Promise<void>;
}
async function startUpstream(name: string): Promise<Upstream> {
  const state = { hits: 0 };
  const server: Server = createServer((req, res) => {
    state.hits += 1;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-seen-hop': String(req.headers['x-meshdeck-hop'] ?? ''), 'x-seen-method': req.method ?? '' });
    res.end(`${name}:${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let dir: string;
let core: MeshCore;
let upA: Upstream;
let upB: Upstream;
let sidecarA: Sidecar;
let sidecarB: Sidecar;
let gateway: Gateway;

const mesh = () => core.meshes.get('cli')!;

/** Everything sent through the gateway, to check the telemetry totals at the end. */
const sent = { total: 0, byService: new Map<string, number>() };
async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(`http://${gateway.address}${path}`, init);
  sent.total += 1;
  const service = res.headers.get('x-meshdeck-service');
  if (service && res.headers.get('x-meshdeck-upstream')) sent.byService.set(service, (sent.byService.get(service) ?? 0) + 1);
  return res;
}

/** A GET with the path sent as is (fetch would resolve dot segments before sending). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const [host, port] = gateway.address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        sent.total += 1;
        const service = res.headers['x-meshdeck-service'];
        if (typeof service === 'string' && res.headers['x-meshdeck-upstream']) sent.byService.set(service, (sent.byService.get(service) ?? 0) + 1);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function startSidecar(service: string, upstream: string): Promise<Sidecar> {
  const sidecar = new Sidecar({ service, zone: 'zone-a', broker: BROKER, upstream, listenPort: await freePort(), heartbeatIntervalMs: 200, timeoutMs: 1000, logger: logger() });
  await sidecar.start();
  return sidecar;
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-gateway');
  BROKER = vhost.url;
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-gateway-'));
  core = createMeshCore({ databasePath: join(dir, 'meshdeck.db'), secrets: memorySecretStore('test'), logger: logger(), host: 'headless', commandLineBroker: BROKER });
  await eventually(() => mesh()?.active, 'core mesh session running');
  upA = await startUpstream('a');
  upB = await startUpstream('b');
  sidecarA = await startSidecar(shop, upA.url);
  sidecarB = await startSidecar(shopV2, upB.url);
  gateway = new Gateway({ service: gw, zone: 'zone-a', broker: BROKER, listenPort: await freePort(), routes: ROUTES, heartbeatIntervalMs: 200, timeoutMs: 1000, logger: logger() });
  await gateway.start();
  const healthy = (service: string) => gateway.agent.endpoints(service)?.endpoints.some((e) => e.state === 'healthy');
  await eventually(() => healthy(shop) && healthy(shopV2), 'the gateway learns both services');
});

afterAll(async () => {
  await gateway?.stop();
  await sidecarA?.stop();
  await sidecarB?.stop();
  await upA?.close();
  await upB?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
  vhost?.remove();
});

describe('gateway membership', () => {
  it('registers in the mesh as a gateway at its listen address', async () => {
    const instance = await eventually(() => mesh().registry.get(gw, gateway.agent.instanceId), 'gateway registered');
    expect(instance).toMatchObject({ agent: 'gateway', state: 'healthy', zone: 'zone-a', address: gateway.address });
  });
});

describe('routing', () => {
  it('routes by path prefix, rewriting the path, and marks the hop as the gateway', async () => {
    const v1 = await call('/v1/orders?id=7');
    expect(v1.status).toBe(200);
    expect(await v1.text()).toBe('a:/v1/orders?id=7');
    expect(v1.headers.get('x-meshdeck-route')).toBe('v1');
    expect(v1.headers.get('x-meshdeck-service')).toBe(shop);
    expect(v1.headers.get('x-meshdeck-upstream')).toBe(sidecarA.agent.instanceId);
    // The receiving sidecar saw the gateway's hop mark, so it treated the request as inbound.
    expect(v1.headers.get('x-seen-hop')).toBe(`${gw}/${gateway.agent.instanceId}`);

    // A hop mark sent by the client is replaced, never passed on or trusted.
    const spoofed = await call('/v1/spoof', { headers: { 'x-meshdeck-hop': `${shopV2}/${sidecarB.agent.instanceId}` } });
    expect(await spoofed.text()).toBe('a:/v1/spoof');
    expect(spoofed.headers.get('x-seen-hop')).toBe(`${gw}/${gateway.agent.instanceId}`);

    const v2 = await call('/v2/items/3', { method: 'PUT', body: 'x' });
    expect(await v2.text()).toBe('b:/new/items/3');
    expect(v2.headers.get('x-seen-method')).toBe('PUT');
    expect(v2.headers.get('x-meshdeck-upstream')).toBe(sidecarB.agent.instanceId);

    // Segment-aware prefixes and dot segments resolved before matching.
    expect((await call('/v1x')).status).toBe(404);
    expect(await rawGet('/v2/../v1/z')).toEqual({ status: 200, body: 'a:/v1/z' });
  });

  it('routes by header: exact value and anchored regex, first match wins', async () => {
    const canary = await call('/api/shop/cart', { headers: { 'x-canary': 'true' } });
    expect(await canary.text()).toBe('b:/cart');
    expect(canary.headers.get('x-meshdeck-route')).toBe('canary');

    const beta = await call('/api/shop/cart?x=1', { headers: { 'x-user': 'beta-42' } });
    expect(await beta.text()).toBe('b:/cart?x=1');
    expect(beta.headers.get('x-meshdeck-route')).toBe('beta-users');

    // Not exactly "true", not a whole-value regex match: both fall through to the split.
    const misses: Array<Record<string, string>> = [{ 'x-canary': 'TRUE' }, { 'x-user': 'beta-42-old' }, { 'x-user': 'not-beta-42' }];
    for (const headers of misses) {
      const res = await call('/api/shop/cart', { headers });
      expect(res.headers.get('x-meshdeck-route')).toBe('shop-split');
      await res.arrayBuffer();
    }
  });

  it('splits 90/10 between the two services over 400 requests', async () => {
    const n = 400;
    const counts = new Map<string, number>();
    const hitsBefore = { a: upA.hits, b: upB.hits };
    const one = async (i: number) => {
      const res = await call(`/api/shop/item/${i}`);
      expect(res.status).toBe(200);
      const body = await res.text();
      const service = res.headers.get('x-meshdeck-service')!;
      expect(body).toBe(`${service === shop ? 'a' : 'b'}:/item/${i}`);
      counts.set(service, (counts.get(service) ?? 0) + 1);
    };
    for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => one(i + k)));
    const v2 = counts.get(shopV2) ?? 0;
    // Binomial(400, 0.1): mean 40, σ = sqrt(400·0.1·0.9) = 6. ±5σ (10..70) fails by chance with
    // probability 6e-7, yet catches a broken split: 50/50 would give ~200, 80/20 ~80 (6.7σ).
    expect(Math.abs(v2 - 40)).toBeLessThanOrEqual(30);
    expect((counts.get(shop) ?? 0) + v2).toBe(n);
    expect(upA.hits - hitsBefore.a).toBe(counts.get(shop));
    expect(upB.hits - hitsBefore.b).toBe(v2);
  });

  it('answers 404 with JSON when no route matches', async () => {
    const res = await call('/nowhere/at/all?q=1');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: 'no route', path: '/nowhere/at/all' });
    // The split route takes GET and POST only.
    const del = await call('/api/shop/item/1', { method: 'DELETE' });
    expect(del.status).toBe(404);
    expect(await del.json()).toEqual({ error: 'no route', path: '/api/shop/item/1' });
  });
});

describe('telemetry', () => {
  it('reports external → gateway and gateway → service edges with the request counts', async () => {
    expect(sent.total).toBeGreaterThan(400);
    const edges = () => mesh().edges.summaries(Date.now(), 60_000);
    const edge = (from: string, to: string) => edges().find((e) => e.from === from && e.to === to);
    await eventually(
      () =>
        (edge('external', gw)?.requests ?? 0) >= sent.total &&
        (edge(gw, shop)?.requests ?? 0) >= (sent.byService.get(shop) ?? 0) &&
        (edge(gw, shopV2)?.requests ?? 0) >= (sent.byService.get(shopV2) ?? 0),
      'gateway edges in telemetry',
    );
    const inbound = edge('external', gw)!;
    expect(inbound.requests).toBe(sent.total);
    // The 404s (no route, and /v1x) are the client's fault: 4xx, not errors.
    expect(inbound.errors.http4xx).toBe(3);
    expect(inbound.errorRate).toBe(0);
    expect(edge(gw, shop)!.requests).toBe(sent.byService.get(shop));
    expect(edge(gw, shopV2)!.requests).toBe(sent.byService.get(shopV2));
    expect(edge(gw, shop)!.errorRate).toBe(0);
    // The services' sidecars saw the gateway's hop mark: no traffic reached them from "external".
    expect(edge('external', shop)).toBeUndefined();
    expect(edge('external', shopV2)).toBeUndefined();
  });
});
