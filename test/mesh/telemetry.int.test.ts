/**
 * Telemetry history on the real broker: traffic through real sidecars is stored with the stream
 * offset; a console restarted while traffic goes on resumes from that offset, with no gap and no
 * double count.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../../agent/sidecar/sidecar.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort, startEchoService, type EchoService } from '../support/mesh.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const run = randomUUID().slice(0, 6);
const from = `web-${run}`;
const to = `api-${run}`;
let vhost: TestVhost;
let dir: string;
let core: MeshCore | null = null;
const echoes: EchoService[] = [];
const sidecars: Sidecar[] = [];
const ctx = { transport: 'internal' as const, actor: 'test' };

function startCore(): MeshCore {
  return createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url });
}

async function totalRequests(c: MeshCore, start: number): Promise<number> {
  const result = (await c.router.call('telemetry.series', { profileId: 'cli', kind: 'edge', from, to, start, end: Date.now() + 1000, resolution: '1s' }, ctx)) as {
    points: Array<{ requests: number }>;
  };
  return result.points.reduce((n, p) => n + p.requests, 0);
}

async function send(n: number): Promise<void> {
  const caller = sidecars[1]!;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://${caller.address}/${to}/x`);
    expect(res.status).toBe(200);
  }
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-telemetry');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-telemetry-'));
  core = startCore();
  await eventually(() => core!.meshes.get('cli')?.active, 'core running');
  for (const service of [to, from]) {
    const echo = await startEchoService(service);
    echoes.push(echo);
    const s = new Sidecar({ service, zone: 'zone-a', broker: vhost.url, upstream: echo.url, listenPort: await freePort(), heartbeatIntervalMs: 250, logger: silentLogger });
    await s.start();
    sidecars.push(s);
  }
  await eventually(() => sidecars[1]!.pool.has(to), 'caller knows the callee');
}, 60_000);

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  for (const e of echoes) await e.close();
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('telemetry history', () => {
  it('stores what the sidecars report, and a restarted console resumes without gap or double count', async () => {
    const start = Date.now() - 5000;
    await send(40);
    await eventually(async () => (await totalRequests(core!, start)) === 40, 'first 40 requests in history', 15_000, 200);

    // The console goes away while traffic continues; the telemetry waits in the stream.
    await core!.close();
    core = null;
    await send(25);
    await sidecars[1]!.agent.flushTelemetry();

    core = startCore();
    await eventually(() => core!.meshes.get('cli')?.active, 'restarted core running');
    const total = await eventually(async () => {
      const n = await totalRequests(core!, start);
      return n >= 65 ? n : null;
    }, 'all 65 requests in history after the restart', 20_000, 200);
    expect(total).toBe(65);
  }, 90_000);

  it('serves the live view as Prometheus text', async () => {
    await send(5);
    const text = await eventually(() => {
      const t = core!.metrics();
      return t.includes(`from="${from}"`) ? t : null;
    }, 'edge in metrics', 10_000);
    expect(text).toContain('# TYPE meshdeck_edge_requests_per_second gauge');
    expect(text).toMatch(new RegExp(`meshdeck_edge_requests_per_second\\{mesh="cli",from="${from}",to="${to}"\\} [0-9.]+`));
  });
});
