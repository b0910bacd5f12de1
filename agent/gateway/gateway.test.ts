/** Gateway wiring that needs no broker: routes from an object or a file, reload keeps good routes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/lib/log.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import { RoutesError } from './routes.js';

const dir = mkdtempSync(join(tmpdir(), 'meshdeck-gateway-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: GatewayOptions = { zone: 'zone-a', broker: 'amqp://guest:guest@127.0.0.1:5672', listenPort: 1, logger: silentLogger };
const routes = (...names: string[]) => ({ routes: names.map((name) => ({ name, match: { pathPrefix: `/${name}` }, service: 'svc' })) });

describe('Gateway routes', () => {
  it('takes routes as an object, registers as service "gateway" of kind gateway by default', () => {
    const gateway = new Gateway({ ...base, routes: routes('a', 'b') });
    expect(gateway.routes.routes.map((r) => r.name)).toEqual(['a', 'b']);
    expect(gateway.service).toBe('gateway');
    expect(gateway.agent.service).toBe('gateway');
    expect(new Gateway({ ...base, service: 'edge', routes: routes('a') }).agent.service).toBe('edge');
  });

  it('needs exactly one of routes and routesFile', () => {
    expect(() => new Gateway(base)).toThrow(/either routes or routesFile/);
    expect(() => new Gateway({ ...base, routes: routes('a'), routesFile: join(dir, 'x.json') })).toThrow(/either routes or routesFile/);
  });

  it('refuses invalid routes before starting, naming the field', () => {
    expect(() => new Gateway({ ...base, routes: { routes: [{ name: 'a', match: { pathPrefix: 'a' }, service: 'svc' }] } })).toThrow(RoutesError);
    const file = join(dir, 'bad-start.json');
    writeFileSync(file, JSON.stringify({ routes: [{ name: 'a', match: { pathPrefix: '/' }, split: [{ service: 'svc', weight: -1 }] }] }));
    expect(() => new Gateway({ ...base, routesFile: file })).toThrow(/routes file .*bad-start\.json is not a valid routes file:\n {2}routes\[0\]\.split\[0\]\.weight/);
  });

  it('refuses a route back to the gateway itself', () => {
    const self = { routes: [{ name: 'loop', match: { pathPrefix: '/' }, split: [{ service: 'web', weight: 1 }, { service: 'edge', weight: 1 }] }] };
    expect(() => new Gateway({ ...base, service: 'edge', routes: self })).toThrow('routes[0].split[1].service: "edge" is the gateway itself');
    expect(() => new Gateway({ ...base, routes: self })).not.toThrow();
  });

  it('reloads the routes file, and keeps the routes in use when the new file is invalid', () => {
    const file = join(dir, 'routes.json');
    writeFileSync(file, JSON.stringify(routes('a')));
    const gateway = new Gateway({ ...base, routesFile: file });
    expect(gateway.routes.size).toBe(1);

    writeFileSync(file, JSON.stringify(routes('a', 'b')));
    expect(gateway.reloadRoutes()).toEqual({ ok: true, routes: 2 });
    expect(gateway.routes.routes.map((r) => r.name)).toEqual(['a', 'b']);

    writeFileSync(file, '{ "routes": [ { "name": "c" } ] }');
    const failed = gateway.reloadRoutes();
    expect(failed.ok).toBe(false);
    expect(!failed.ok && failed.error).toMatch(/routes\[0\]\.match/);
    expect(gateway.routes.routes.map((r) => r.name)).toEqual(['a', 'b']);

    writeFileSync(file, '{ not json');
    expect(gateway.reloadRoutes()).toMatchObject({ ok: false, error: expect.stringMatching(/is not valid JSON/) });
    rmSync(file);
    expect(gateway.reloadRoutes()).toMatchObject({ ok: false, error: expect.stringMatching(/cannot be read/) });
    expect(gateway.routes.size).toBe(2);
  });

  it('replaces object routes with setRoutes, validated first', () => {
    const gateway = new Gateway({ ...base, routes: routes('a') });
    expect(gateway.reloadRoutes()).toMatchObject({ ok: false });
    gateway.setRoutes(routes('x', 'y'));
    expect(gateway.routes.size).toBe(2);
    expect(() => gateway.setRoutes({ routes: [{ name: 'x' }] } as never)).toThrow(RoutesError);
    expect(gateway.routes.size).toBe(2);
  });
});
