/**
 * Circuit breakers per edge on the real broker with real sidecars: the callee's policy reaches its
 * callers through the endpoint set; an upstream that starts failing opens the caller's breaker,
 * requests are then answered at once with 503 and x-meshdeck-circuit, the edge shows `open`
 * through the API; the upstream recovers and the breaker goes half-open, then closed. An
 * operator's trip-circuit is acknowledged by every caller instance, enforced, and undone.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../../agent/sidecar/sidecar.js';
import type { ControlActionRecord, ControlPreview, EdgeSummary } from '../../core/api/contract.js';
import type { CallContext } from '../../core/api/router.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import type { BreakerState } from '../../core/failover/circuit-breaker.js';
import { silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort, startEchoService, type EchoService } from '../support/mesh.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const run = randomUUID().slice(0, 6);
const caller = `shop-${run}`;
const callee = `stock-${run}`;
let vhost: TestVhost;
let dir: string;
let core: MeshCore;
const echoes: EchoService[] = [];
const callers: Sidecar[] = [];
const callees: Sidecar[] = [];
let bad = false;

const ctx: CallContext = { transport: 'internal', actor: 'alice' };
const mesh = () => core.meshes.get('cli')!;
const calleeHits = () => echoes.slice(0, 2).reduce((n, e) => n + e.hits, 0);
const edge = async (): Promise<EdgeSummary | undefined> =>
  ((await core.router.call('mesh.edges', { profileId: 'cli', spanSeconds: 10 }, ctx)) as EdgeSummary[]).find((e) => e.from === caller && e.to === callee);
const call = (via: Sidecar) => fetch(`http://${via.address}/${callee}/item`).then(async (r) => ({ status: r.status, circuit: r.headers.get('x-meshdeck-circuit'), body: await r.text() }));

async function sidecar(service: string, upstream: string, instanceId: string): Promise<Sidecar> {
  const s = new Sidecar({ service, zone: 'zone-a', broker: vhost.url, upstream, listenPort: await freePort(), instanceId, heartbeatIntervalMs: 250, timeoutMs: 2000, logger: silentLogger });
  await s.start();
  return s;
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-circuit');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-circuit-'));
  core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url });
  await eventually(() => mesh()?.active && mesh().control.leadership().isLeader, 'core running and leading', 15_000);
  for (const n of [1, 2]) {
    const echo = await startEchoService(`s${n}`, (path) => (bad ? { status: 500, body: 'out of stock service' } : { status: 200, body: `s${n}:${path}` }));
    echoes.push(echo);
    callees.push(await sidecar(callee, echo.url, `${callee}-${n}`));
  }
  for (const n of [1, 2]) {
    const front = await startEchoService(`shop${n}`);
    echoes.push(front);
    callers.push(await sidecar(caller, front.url, `${caller}-${n}`));
  }
  for (const c of callers) await eventually(() => c.agent.endpoints(callee)?.endpoints.filter((e) => e.state === 'healthy').length === 2, `${c.agent.instanceId} knows both ${callee} instances`);
}, 60_000);

afterAll(async () => {
  for (const s of [...callers, ...callees]) await s.stop();
  for (const e of echoes) await e.close();
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('circuit breaker per edge', () => {
  it('the callee\u2019s policy reaches its callers in the endpoint set; the state survives a policy change', async () => {
    const before = callers[0]!.agent.endpoints(callee)!.revision;
    expect(callers[0]!.agent.endpoints(callee)!.circuitBreaker).toBeUndefined(); // defaults: not sent
    // Outlier ejection off for this service, so only the breaker reacts to its failures.
    const overrides = {
      circuitBreaker: { enabled: true, consecutiveFailures: 3, openMs: 1500, halfOpenProbes: 2, failureRateMinRequests: 1000 },
      consecutiveFailures: { enabled: false },
      consecutiveGatewayFailures: { enabled: false },
      successRate: { enabled: false },
      latency: { enabled: false },
      directSignal: { enabled: false },
    };
    await core.router.call('failover.setPolicy', { profileId: 'cli', service: callee, overrides, reason: 'tight breaker for the test' }, ctx);
    expect(mesh().endpointsFor(callee).circuitBreaker).toMatchObject({ consecutiveFailures: 3, openMs: 1500, halfOpenProbes: 2 });
    for (const c of callers) await eventually(() => c.breakers.settings(callee).openMs === 1500, `${c.agent.instanceId} applies the callee's breaker settings`);
    expect(callers[0]!.agent.endpoints(callee)!.revision).toBeGreaterThan(before);
    expect(callers[0]!.breakers.settings(callee)).toMatchObject({ consecutiveFailures: 3, halfOpenProbes: 2, maxInflight: 1024 });
  });

  it('opens when the upstream fails, refuses fast with the header, shows open in mesh.edges, then half-open → closed when it recovers', async () => {
    const front = callers[0]!;
    const path: BreakerState[] = [];
    const off = front.breakers.onTransition((t) => {
      if (t.edge.to === callee) path.push(t.to);
    });
    expect((await call(front)).status).toBe(200);

    bad = true;
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) seen.push((await call(front)).status);
    expect(seen).toEqual([500, 500, 500]);
    expect(front.breakers.state(callee)).toBe('open');

    const hits = calleeHits();
    const started = performance.now();
    const refused = await call(front);
    const refusedMs = performance.now() - started;
    expect(refused).toMatchObject({ status: 503, circuit: 'open' });
    expect(refused.body).toMatch(new RegExp(`^circuit to ${callee} is open`));
    expect(calleeHits()).toBe(hits); // answered by the caller's sidecar: never sent
    expect(refusedMs).toBeLessThan(1000); // well under the 2 s per-try timeout (no waiting on the upstream)

    const open = await eventually(async () => {
      const e = await edge();
      return e?.circuit?.state === 'open' && (e.refused ?? 0) >= 1 ? e : null;
    }, 'mesh.edges shows the circuit open with the refusal');
    expect(open.circuit!.instances.find((i) => i.instanceId === front.agent.instanceId)).toMatchObject({ state: 'open', manual: false, rule: 'consecutive-failures' });
    expect(open.requests).toBeGreaterThanOrEqual(3); // the upstream errors, counted apart from refusals
    expect(open.errors.http5xx).toBeGreaterThanOrEqual(3);

    bad = false;
    // After openMs the next requests are probes; both succeed and the breaker closes.
    const closed = await eventually(
      async () => {
        const r = await call(front);
        return r.status === 200 && front.breakers.state(callee) === 'closed' ? r : null;
      },
      'breaker closed after successful probes',
      15_000,
      100,
    );
    expect(closed.circuit).toBeNull();
    off();
    expect(path).toEqual(['open', 'half-open', 'closed']);
    await eventually(async () => (await edge())?.circuit?.state === 'closed', 'mesh.edges shows the circuit closed again');
  }, 60_000);

  it('trip-circuit: previewed with its blast radius, acknowledged by every caller instance, enforced, then undone', async () => {
    const target = { service: caller };
    const action = { action: 'trip-circuit', callee };
    const preview = (await core.router.call('control.preview', { profileId: 'cli', action, target }, ctx)) as ControlPreview;
    expect(preview.summary).toBe(`trip the circuit ${caller} (every instance) → ${callee} until reset`);
    expect(preview.affected).toBe(2);
    const share = new Map(preview.instances.map((i) => [i.instanceId, i.shareOfTraffic]));
    expect(share.get(`${caller}-1`)).toBe(1); // all traffic so far went through the first caller
    expect(share.get(`${caller}-2`)).toBe(0);
    expect(preview.trafficAffectedShare).toBe(1);
    expect(preview.undo?.commands).toEqual([{ target, action: { action: 'reset-circuit', callee } }]);
    expect(preview.warnings.some((w) => w.includes('would be refused'))).toBe(true);

    const tripped = (await core.router.call('control.act', { profileId: 'cli', action, target, reason: 'stock is melting down' }, ctx)) as ControlActionRecord;
    const acked = await eventually(() => {
      const a = mesh().control.actions.get(tripped.id)!;
      return a.state === 'acked' ? a : null;
    }, 'trip acked by both caller instances');
    expect(acked.progress).toMatchObject({ expected: 2, acked: 2, rejected: 0 });
    expect(acked.progress.instances.map((i) => i.detail)).toEqual([`circuit to ${callee} open until reset`, `circuit to ${callee} open until reset`]);

    const hits = calleeHits();
    for (const c of callers) expect(await call(c)).toMatchObject({ status: 503, circuit: 'open' });
    expect(calleeHits()).toBe(hits);
    const shown = await eventually(async () => {
      const e = await edge();
      return e?.circuit && e.circuit.instances.filter((i) => i.manual && i.state === 'open').length === 2 ? e : null;
    }, 'mesh.edges shows both callers tripped');
    expect(shown.circuit!.instances[0]!.reason).toMatch(/stock is melting down/);

    const undo = (await core.router.call('control.undo', { profileId: 'cli', actionId: tripped.id, reason: 'stock is back' }, ctx)) as ControlActionRecord;
    expect(undo.action).toEqual({ action: 'reset-circuit', callee });
    await eventually(() => mesh().control.actions.get(undo.id)!.state === 'acked', 'reset acked by both caller instances');
    for (const c of callers) expect(await call(c)).toMatchObject({ status: 200, circuit: null });
    const audit = mesh().control.audit.query({ actionId: tripped.id, limit: 10 });
    expect(audit.entries.some((e) => e.action === 'trip-circuit' && e.result === 'acked' && e.actor === 'alice')).toBe(true);
  }, 60_000);
});
