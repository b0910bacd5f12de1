/**
 * The outbound forwarding loop the sidecar and the gateway share, against real local HTTP
 * servers (no broker): relaying, the retry rules, the retry budget, telemetry.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TelemetryRecorder } from '../sdk/telemetry-recorder.js';
import { forwardOutbound, meshRequestHeaders, type OutboundCall, type OutboundResult } from './outbound.js';
import { keepAliveAgent, readBody } from './proxy.js';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
import { UpstreamPool } from './upstream-pool.js';
import { DEFAULT_BREAKER_SETTINGS, EdgeBreakers } from './edge-breakers.js';
import type { BreakerSettings } from '../../core/failover/circuit-breaker.js';
import { eventually } from '../../test/support/mesh.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
async function listen(handler: Handler): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}
async function deadAddress(): Promise<string> {
  const address = await listen(() => undefined);
  const server = servers.pop()!;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address;
}

/** An endpoint answering the scripted statuses in turn (then 200), counting hits. */
async function scripted(name: string, statuses: Array<number | { status: number; ejected?: boolean; hangMs?: number }> = []) {
  const state = { hits: 0, methods: [] as string[] };
  const address = await listen((req, res) => {
    state.hits += 1;
    state.methods.push(req.method ?? '');
    req.resume();
    const step = statuses.shift() ?? 200;
    const { status, ejected, hangMs } = typeof step === 'number' ? { status: step, ejected: false, hangMs: 0 } : step;
    const answer = () => {
      res.writeHead(status, ejected ? { 'x-meshdeck-ejected': '1' } : {});
      res.end(`${name}:${status}`);
    };
    if (hangMs) setTimeout(answer, hangMs).unref();
    else answer();
  });
  return { address, state };
}

let front: Server;
let frontUrl: string;
let current: { call: Omit<OutboundCall, 'body' | 'headers'>; pool: UpstreamPool; budget: RetryBudget; telemetry: TelemetryRecorder; breakers: EdgeBreakers; result?: OutboundResult };
const httpAgent = keepAliveAgent();

beforeAll(async () => {
  front = createServer(async (req, res) => {
    const body = await readBody(req);
    current.result = await forwardOutbound(
      { pool: current.pool, budget: current.budget, httpAgent, telemetry: current.telemetry, breakers: current.breakers },
      { ...current.call, method: req.method ?? 'GET', headers: meshRequestHeaders(req.headers, 'caller/caller-1'), body },
      res,
    );
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

afterAll(async () => {
  httpAgent.destroy();
  front.closeAllConnections();
  await new Promise<void>((resolve) => front.close(() => resolve()));
});

const ROOMY: RetryBudgetOptions = { ratio: 1, minPerSecond: 100, ttlMs: 10_000 };

function setUp(addresses: string[], options: { maxAttempts?: number; timeoutMs?: number; budget?: RetryBudgetOptions; responseHeaders?: Record<string, string> } = {}) {
  const pool = new UpstreamPool('round-robin', 'zone-a');
  pool.update({
    service: 'svc',
    revision: 1,
    endpoints: addresses.map((address, i) => ({ instanceId: `svc-${i}`, zone: 'zone-a', address, weight: 100, state: 'healthy' as const })),
  });
  const telemetry = new TelemetryRecorder(Date.now());
  const breakers = new EdgeBreakers('caller');
  telemetry.reportCircuits(() => breakers.report());
  current = {
    pool,
    budget: new RetryBudget(options.budget ?? ROOMY),
    telemetry,
    breakers,
    call: {
      service: 'svc',
      method: 'GET',
      path: '/p?q=1',
      timeoutMs: options.timeoutMs ?? 1000,
      maxAttempts: options.maxAttempts ?? 3,
      ...(options.responseHeaders ? { responseHeaders: options.responseHeaders } : {}),
    },
  };
}

const edges = () => current.telemetry.drain(Date.now()).edges;
const totals = () => edges().reduce((t, e) => ({ requests: t.requests + e.requests, retries: t.retries + e.retries }), { requests: 0, retries: 0 });

describe('forwardOutbound', () => {
  it('relays the response with the upstream instance and extra headers, and records the edge', async () => {
    const a = await scripted('a');
    setUp([a.address], { responseHeaders: { 'x-extra': 'yes' } });
    const res = await fetch(`${frontUrl}/ignored`, { headers: { 'x-request-id': 'req-1', 'x-meshdeck-hop': 'spoofed/1' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('a:200');
    expect(res.headers.get('x-meshdeck-upstream')).toBe('svc-0');
    expect(res.headers.get('x-extra')).toBe('yes');
    expect(current.result).toEqual({ status: 200, endpoint: 'svc-0', attempts: 1 });
    expect(edges()).toMatchObject([{ direction: 'outbound', peerService: 'svc', peerInstance: 'svc-0', requests: 1, retries: 0 }]);
  });

  it('retries a connection failure on another endpoint, whatever the method', async () => {
    const dead = await deadAddress();
    const a = await scripted('a');
    setUp([dead, a.address]);
    let failures = 0;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(frontUrl, { method: 'POST', body: 'x' });
      expect(res.status).toBe(200);
      await res.text();
      failures += current.result!.attempts - 1;
    }
    const t = edges();
    const deadEdge = t.find((e) => e.peerInstance === 'svc-0');
    expect(failures).toBeGreaterThan(0);
    expect(deadEdge).toMatchObject({ requests: failures, retries: failures, errors: { connect: failures } });
    expect(a.state.hits).toBe(8);
  });

  it('does not send a POST again when the connection breaks after it was sent; a GET goes to another endpoint', async () => {
    // An instance that dies with the request in hand: reads it, then resets the connection.
    let seen = 0;
    const dying = await listen((req) => {
      seen += 1;
      req.resume();
      req.on('end', () => req.socket.destroy());
    });
    setUp([dying]);
    const post = await fetch(frontUrl, { method: 'POST', body: 'order-1' });
    expect(post.status).toBe(502);
    expect(await post.text()).toMatch(/^svc \(svc-0\) connection lost after the request was sent/);
    expect(current.result!.attempts).toBe(1);
    expect(seen).toBe(1);
    expect(edges()).toMatchObject([{ peerInstance: 'svc-0', requests: 1, retries: 0, errors: { connect: 1 } }]);

    const a = await scripted('a');
    setUp([dying, a.address]);
    const attempts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const get = await fetch(frontUrl);
      expect(get.status).toBe(200);
      await get.text();
      attempts.push(current.result!.attempts);
    }
    // Every GET that met the dying instance went on to the other one.
    expect(attempts).toContain(2);
    expect(seen - 1).toBe(attempts.filter((n) => n === 2).length);
  });

  it('retries 502/503/504 for idempotent methods only', async () => {
    const a = await scripted('a', [503, 502, 200]);
    setUp([a.address]);
    const get = await fetch(frontUrl);
    expect(get.status).toBe(200);
    await get.text();
    expect(current.result!.attempts).toBe(3);
    expect(totals()).toEqual({ requests: 3, retries: 2 });

    const b = await scripted('b', [503]);
    setUp([b.address]);
    const post = await fetch(frontUrl, { method: 'POST', body: 'x' });
    expect(post.status).toBe(503);
    expect(await post.text()).toBe('b:503');
    expect(current.result!.attempts).toBe(1);

    const c = await scripted('c', [500]);
    setUp([c.address]);
    expect((await fetch(frontUrl)).status).toBe(500);
    expect(current.result!.attempts).toBe(1);
  });

  it('retries any method when an ejected endpoint refused it', async () => {
    const a = await scripted('a', [{ status: 503, ejected: true }]);
    setUp([a.address]);
    const res = await fetch(frontUrl, { method: 'POST', body: 'x' });
    expect(res.status).toBe(200);
    expect(current.result!.attempts).toBe(2);
  });

  it('times a try out, retries idempotent methods, and answers 504 when the tries run out', async () => {
    const a = await scripted('a', [{ status: 200, hangMs: 2000 }]);
    setUp([a.address], { timeoutMs: 100 });
    const get = await fetch(frontUrl);
    expect(get.status).toBe(200);
    expect(current.result!.attempts).toBe(2);

    const b = await scripted('b', [{ status: 200, hangMs: 2000 }]);
    setUp([b.address], { timeoutMs: 100 });
    const post = await fetch(frontUrl, { method: 'POST', body: 'x' });
    expect(post.status).toBe(504);
    expect(await post.text()).toMatch(/^svc \(svc-0\) timed out after 100 ms/);
    expect(post.headers.get('x-meshdeck-upstream')).toBe('svc-0');
    expect(edges()).toMatchObject([{ requests: 1, errors: { timeout: 1 } }]);
  });

  it('stops at maxAttempts and when the retry budget is spent', async () => {
    const a = await scripted('a', [503, 503, 503]);
    setUp([a.address], { maxAttempts: 2 });
    expect((await fetch(frontUrl)).status).toBe(503);
    expect(current.result!.attempts).toBe(2);

    const b = await scripted('b', [503, 503]);
    setUp([b.address], { budget: { ratio: 0, minPerSecond: 0, ttlMs: 1000 } });
    expect((await fetch(frontUrl)).status).toBe(503);
    expect(current.result!.attempts).toBe(1);
    expect(totals()).toEqual({ requests: 1, retries: 0 });
  });

  it('answers 503 naming the service when it has no endpoint', async () => {
    setUp([]);
    current.call = { ...current.call, service: 'unknown' };
    const res = await fetch(frontUrl);
    expect(res.status).toBe(503);
    expect(res.headers.get('x-meshdeck-no-endpoints')).toBe('unknown');
    expect(current.result).toEqual({ status: 503, endpoint: null, attempts: 0 });
    expect(current.breakers.callees()).toEqual([]); // no breaker for a name nobody announced
  });
});

describe('forwardOutbound: the edge\u2019s circuit breaker', () => {
  const breaker = (o: Partial<BreakerSettings>) => current.breakers.configure('svc', { ...DEFAULT_BREAKER_SETTINGS, enabled: true, ...o });

  it('opens after the configured failures, then answers 503 with x-meshdeck-circuit at once and counts the refusal apart', async () => {
    const a = await scripted('a', [500, 500, 500]);
    setUp([a.address]);
    breaker({ consecutiveFailures: 2, openMs: 60_000 });
    for (let i = 0; i < 2; i++) expect((await fetch(frontUrl, { method: 'POST', body: 'x' })).status).toBe(500);
    const refused = await fetch(frontUrl);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-meshdeck-circuit')).toBe('open');
    expect(await refused.text()).toMatch(/^circuit to svc is open: open until \d+/);
    expect(current.result).toEqual({ status: 503, endpoint: null, attempts: 0 });
    expect(a.state.hits).toBe(2);
    const t = edges();
    expect(t.reduce((n, e) => n + e.requests, 0)).toBe(2);
    expect(t.find((e) => e.peerInstance === undefined)).toMatchObject({ requests: 0, refused: 1 });
    expect(t.filter((e) => e.circuit)).toMatchObject([{ peerService: 'svc', circuit: { state: 'open', rule: 'consecutive-failures' } }]);
  });

  it('does not retry through a circuit the first try opened: the client gets that try\u2019s answer', async () => {
    const a = await scripted('a', [503, 503, 503]);
    setUp([a.address], { maxAttempts: 3 });
    breaker({ consecutiveFailures: 1, openMs: 60_000 });
    const res = await fetch(frontUrl);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('a:503');
    expect(current.result!.attempts).toBe(1);
    expect(a.state.hits).toBe(1); // without the breaker: 3 tries (see "retries 502/503/504")
    expect(totals()).toEqual({ requests: 1, retries: 0 });
  });

  it('with maxInflight in flight a request waits for a slot, and one over maxPending is refused with max-pending', async () => {
    const a = await scripted('a', [{ status: 200, hangMs: 300 }, 200, 200]);
    setUp([a.address], { timeoutMs: 2000 });
    breaker({ maxInflight: 1, maxPending: 1 });
    const first = fetch(frontUrl).then((r) => r.status);
    await eventually(() => current.breakers.inflight('svc').inflight === 1, 'first request in flight', 2000, 5);
    const second = fetch(frontUrl).then((r) => r.status);
    await eventually(() => current.breakers.inflight('svc').pending === 1, 'second request waiting', 2000, 5);
    const third = await fetch(frontUrl);
    expect(third.status).toBe(503);
    expect(third.headers.get('x-meshdeck-circuit')).toBe('max-pending');
    expect(await Promise.all([first, second])).toEqual([200, 200]);
    expect(a.state.hits).toBe(2);
  });
});

describe('meshRequestHeaders', () => {
  it('replaces the hop mark, keeps or creates the request id, drops hop-by-hop headers', () => {
    const headers = meshRequestHeaders({ 'x-meshdeck-hop': 'spoofed/1', 'x-request-id': 'r1', connection: 'keep-alive', host: 'x', accept: 'text/plain' }, 'gateway/gw-1');
    expect(headers).toEqual({ 'x-meshdeck-hop': 'gateway/gw-1', 'x-request-id': 'r1', accept: 'text/plain' });
    expect(meshRequestHeaders({}, 'a/b')['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
