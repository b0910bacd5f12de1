/**
 * The headless host over real HTTP and WebSocket on 127.0.0.1, in front of a real core (real
 * SQLite file, real broker).
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createMeshCore, type MeshCore } from '../app.js';
import { WS_PATH, WS_PROTOCOL, WS_TOKEN_PREFIX, type WsServerFrame } from '../api/wire.js';
import { silentLogger } from '../lib/log.js';
import { MIGRATIONS } from '../store/migrations.js';
import { passphraseSecretStore } from '../secrets/secret-store.js';
import { startHost, type RunningHost } from './host.js';

const TOKEN = 'host-test-token-0123456789';
let dir: string;
let core: MeshCore;
let host: RunningHost;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-host-'));
  const staticDir = join(dir, 'renderer');
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Meshdeck</title>');
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
  core = createMeshCore({
    databasePath: join(dir, 'meshdeck.db'),
    secrets: passphraseSecretStore('a passphrase for tests'),
    logger: silentLogger,
    host: 'headless',
    commandLineBroker: 'amqp://guest:guest@127.0.0.1:5672',
  });
  host = await startHost({ router: core.router, token: TOKEN, logger: silentLogger, staticDir, port: 0, metrics: () => core.metrics() });
});

afterAll(async () => {
  await host?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Response bodies are checked by value below; `any` keeps those checks short. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (res: Response): Promise<any> => res.json();

function api(method: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${host.url}/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('HTTP API', () => {
  it('prints a console URL on 127.0.0.1 with the token in the fragment', () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(host.consoleUrl).toBe(`${host.url}/#token=${TOKEN}`);
  });

  it('answers /healthz without a token', async () => {
    const res = await fetch(`${host.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ status: 'ok', product: 'Meshdeck' });
  });

  it('refuses API calls without a token or with a wrong one', async () => {
    const none = await fetch(`${host.url}/api/system.info`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await api('system.info', {}, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).code).toBe('UNAUTHORIZED');
  });

  it('answers a query with the token', async () => {
    const res = await api('system.info', {});
    expect(res.status).toBe(200);
    const info = await json(res);
    expect(info).toMatchObject({ product: 'Meshdeck', host: 'headless', schemaVersion: MIGRATIONS.at(-1)!.version });
    expect(info.secretStore.kind).toBe('passphrase');
  });

  it('refuses a foreign Host header (DNS rebinding) and a cross-site Origin', async () => {
    const { request } = await import('node:http');
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${host.url}/api/system.info`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{}');
      });
    expect(await status({ host: `evil.example:${host.port}` })).toBe(403);
    expect(await status({ origin: 'https://evil.example' })).toBe(403);
    expect(await status({ origin: host.url })).toBe(200);
  });

  it('names the field at fault for bad input', async () => {
    const res = await api('profiles.create', { name: '', url: 'http://broker' });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.code).toBe('INVALID_INPUT');
    expect(body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['name', 'url']);
  });

  it('rejects unknown methods, non-JSON bodies, wrong content types, GET and oversized bodies', async () => {
    expect((await api('nope.nothing', {})).status).toBe(404);
    expect((await api('system.info', '{not json')).status).toBe(400);
    expect((await api('system.info', '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    const get = await fetch(`${host.url}/api/system.info`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(get.status).toBe(405);
    expect((await api('system.info', JSON.stringify({ pad: 'x'.repeat(1_100_000) }))).status).toBe(413);
  });

  it('creates, tests, connects and deletes a profile end to end', async () => {
    const created = await json(await api('profiles.create', { name: 'local copy', url: 'amqp://guest:guest@127.0.0.1:5672' }));
    expect(created).toMatchObject({ name: 'local copy', username: 'guest', passwordStorage: 'encrypted', url: 'amqp://127.0.0.1:5672' });
    const test = await json(await api('profiles.test', { id: created.id }));
    expect(test).toMatchObject({ ok: true, error: null });
    const bad = await json(await api('profiles.test', { profile: { name: 'x', url: 'amqp://guest:wrong@127.0.0.1:5672' } }));
    expect(bad).toMatchObject({ ok: false, errorCode: 'ACCESS_REFUSED' });
    const connecting = await json(await api('connections.connect', { profileId: created.id }));
    expect(['connecting', 'connected']).toContain(connecting.status);
    expect((await api('profiles.delete', { id: created.id })).status).toBe(200);
    expect((await api('profiles.delete', { id: created.id })).status).toBe(404);
  });
});

describe('GET /metrics', () => {
  it('needs the token and answers Prometheus text', async () => {
    expect((await fetch(`${host.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${host.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(await res.text()).toContain('# HELP meshdeck_edge_requests_per_second');
  });
});

describe('static files', () => {
  it('serves the UI with security headers and falls back to it for client routes', async () => {
    const index = await fetch(`${host.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(await index.text()).toContain('<title>Meshdeck</title>');
    expect((await fetch(`${host.url}/connections`)).status).toBe(200);
    expect((await fetch(`${host.url}/assets/app.js`)).headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${host.url}/assets/missing.js`)).status).toBe(404);
    const { request } = await import('node:http');
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port: host.port, path }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        })
          .on('error', reject)
          .end();
      });
    // Encoded dot-dot segments stay inside the UI folder: the answer is the app, never the file.
    for (const path of ['/..%2f..%2f..%2fetc%2fpasswd', '/assets/..%2f..%2f..%2f..%2fetc%2fpasswd']) {
      const body = await raw(path);
      expect(body).not.toContain('root:');
      expect(body).toContain('<title>Meshdeck</title>');
    }
  });
});

describe('WebSocket API', () => {
  const connect = (protocols: string[], headers: Record<string, string> = {}) => new WebSocket(`ws://127.0.0.1:${host.port}${WS_PATH}`, protocols, { headers });

  function frames(ws: WebSocket) {
    const queue: WsServerFrame[] = [];
    const waiters: Array<{ match: (f: WsServerFrame) => boolean; resolve: (f: WsServerFrame) => void }> = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as WsServerFrame;
      const i = waiters.findIndex((w) => w.match(frame));
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve(frame);
      else queue.push(frame);
    });
    return (match: (f: WsServerFrame) => boolean) =>
      new Promise<WsServerFrame>((resolve, reject) => {
        const i = queue.findIndex(match);
        if (i >= 0) return resolve(queue.splice(i, 1)[0]!);
        const timer = setTimeout(() => reject(new Error('no matching frame within 5 s')), 5000);
        waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      });
  }

  it('refuses an upgrade without the token', async () => {
    const ws = connect([WS_PROTOCOL]);
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);
  });

  it('refuses an upgrade from a foreign origin even with the token', async () => {
    const ws = connect([WS_PROTOCOL, `${WS_TOKEN_PREFIX}${TOKEN}`], { origin: 'https://evil.example' });
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(403);
  });

  it('answers calls and pushes subscriptions', async () => {
    const ws = connect([WS_PROTOCOL, `${WS_TOKEN_PREFIX}${TOKEN}`]);
    const next = frames(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(ws.protocol).toBe(WS_PROTOCOL);

    ws.send(JSON.stringify({ t: 'call', id: 7, method: 'system.info', input: {} }));
    const result = await next((f) => f.t === 'result' && f.id === 7);
    expect(result).toMatchObject({ t: 'result', id: 7, ok: true, result: { product: 'Meshdeck' } });

    ws.send(JSON.stringify({ t: 'call', id: 8, method: 'profiles.create', input: { name: 1 } }));
    const refused = await next((f) => f.t === 'result' && f.id === 8);
    expect(refused).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });

    ws.send(JSON.stringify({ t: 'sub', topic: 'profiles.changed' }));
    const first = await next((f) => f.t === 'event' && f.topic === 'profiles.changed');
    expect(first.t === 'event' && (first.payload as Array<{ source: string }>)[0]?.source).toBe('cli');

    await api('profiles.create', { name: 'pushed', url: 'amqp://127.0.0.1:5672' });
    const pushed = await next((f) => f.t === 'event' && f.topic === 'profiles.changed' && (f.payload as Array<{ name: string }>).some((p) => p.name === 'pushed'));
    expect(pushed.t).toBe('event');

    ws.send(JSON.stringify({ t: 'sub', topic: 'no.such.topic' }));
    expect(await next((f) => f.t === 'error')).toMatchObject({ error: { code: 'NOT_FOUND' } });
    ws.close();
  });
});
