/**
 * Zone failover and gradual fail-back on the real broker with real sidecars: a caller in zone a,
 * a callee with two instances in zone a and two in zone b. When zone a's instances stop, traffic
 * moves to zone b at once; when they come back, the core ramps zone a's admitted health in the
 * endpoint set (0 → 25 → 50 → 75 % → uncapped) and the caller's traffic follows it step by step.
 * Then the operator action failover-zone: preview, act, acks from the zone's instances, audit, undo.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../../agent/sidecar/sidecar.js';
import type { ControlActionRecord, ControlPreview, ZoneStateInfo } from '../../core/api/contract.js';
import type { DiscoveryEndpoints } from '../../core/protocol/messages.js';
import { createMeshCore, type MeshCore } from '../../core/app.js';
import { silentLogger } from '../../core/lib/log.js';
import { memorySecretStore } from '../../core/secrets/secret-store.js';
import { eventually, freePort, startEchoService, type EchoService } from '../support/mesh.js';
import { createTestVhost, type TestVhost } from '../support/vhost.js';

const run = randomUUID().slice(0, 6);
const caller = `web-${run}`;
const target = `cart-${run}`;
const FAILBACK_MS = 4000;
/** Requests per traffic measurement. */
const SAMPLE = 120;
let vhost: TestVhost;
let dir: string;
let core: MeshCore;
const echoes = new Map<string, EchoService>();
const sidecars = new Map<string, Sidecar>();
let front: Sidecar;
const ctx = { transport: 'internal' as const, actor: 'alice' };

const mesh = () => core.meshes.get('cli')!;
/** By the instance's suffix (`-a1`): the run id in the service name may itself contain "-a". */
const inZoneA = (id: string) => /-a\d+$/.test(id);
const zoneOf = (id: string) => (inZoneA(id) ? 'zone-a' : 'zone-b');
const CALLEES = [`${target}-a1`, `${target}-a2`, `${target}-b1`, `${target}-b2`];

async function startCallee(instanceId: string): Promise<void> {
  let echo = echoes.get(instanceId);
  if (!echo) {
    echo = await startEchoService(instanceId);
    echoes.set(instanceId, echo);
  }
  const s = new Sidecar({ service: target, zone: zoneOf(instanceId), broker: vhost.url, upstream: echo.url, listenPort: await freePort(), instanceId, heartbeatIntervalMs: 250, timeoutMs: 1000, logger: silentLogger });
  await s.start();
  sidecars.set(instanceId, s);
}

/** Admitted health of zone-a in the caller's current set (undefined: not capped). */
const callerCap = () => front.agent.endpoints(target)?.zones?.['zone-a']?.admitted;
const callerSet = () => front.agent.endpoints(target);

/** Sends `n` requests through the caller's sidecar (20 at a time) and returns the share answered by zone-a. */
async function zoneAShare(n: number): Promise<number> {
  let a = 0;
  for (let sent = 0; sent < n; sent += 20) {
    const ups = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(`http://${front.address}/${target}/item`);
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        return res.headers.get('x-meshdeck-upstream') ?? '';
      }),
    );
    a += ups.filter(inZoneA).length;
  }
  return a / n;
}

beforeAll(async () => {
  vhost = createTestVhost('meshdeck-zones');
  dir = mkdtempSync(join(tmpdir(), 'meshdeck-zones-'));
  core = createMeshCore({ databasePath: join(dir, 'm.db'), secrets: memorySecretStore('t'), logger: silentLogger, host: 'headless', commandLineBroker: vhost.url });
  await eventually(() => mesh()?.active && mesh().control.leadership().isLeader, 'core running and leading', 15_000);
  // A short fail-back interval keeps the test fast; the steps are the default 25 %.
  await core.router.call('failover.setPolicy', { profileId: 'cli', service: target, overrides: { failback: { step: 0.25, intervalMs: FAILBACK_MS } }, reason: 'test' }, ctx);
  for (const id of CALLEES) await startCallee(id);
  const web = await startEchoService('web');
  echoes.set('web', web);
  front = new Sidecar({ service: caller, zone: 'zone-a', broker: vhost.url, upstream: web.url, listenPort: await freePort(), instanceId: `${caller}-1`, heartbeatIntervalMs: 250, timeoutMs: 1000, logger: silentLogger });
  await front.start();
  await eventually(() => callerSet()?.endpoints.filter((e) => e.state === 'healthy').length === 4, 'caller knows 4 healthy callees', 15_000);
}, 60_000);

afterAll(async () => {
  await front?.stop();
  for (const s of sidecars.values()) await s.stop();
  for (const e of echoes.values()) await e.close();
  await core?.close();
  vhost?.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe('zone failover and fail-back', () => {
  it('stays local while zone a is healthy, fails over to zone b at once, and fails back in steps', async () => {
    expect(callerCap()).toBeUndefined();
    expect(await zoneAShare(60)).toBe(1);

    // Zone a goes away: both of its instances stop.
    for (const id of [`${target}-a1`, `${target}-a2`]) await sidecars.get(id)!.stop();
    await eventually(() => callerSet()?.endpoints.filter((e) => e.zone === 'zone-a').every((e) => e.state === 'down'), 'caller sees zone a down', 20_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; caller's set: ${JSON.stringify(callerSet())}; core's: ${JSON.stringify(mesh().endpointsFor(target))}`);
    });
    expect(await zoneAShare(60)).toBe(0);

    // Zone a comes back: its admitted health ramps, the caller's traffic follows each step.
    // Every set the caller receives is recorded (no step can be missed); the traffic is measured
    // once per step, and a measurement is kept only if its step was still in force at its end.
    const steps: Array<number | undefined> = [];
    const onSet = (set: DiscoveryEndpoints) => {
      if (set.service !== target || !set.endpoints.some((e) => e.zone === 'zone-a' && e.state === 'healthy')) return;
      const cap = set.zones?.['zone-a']?.admitted;
      if (steps.at(-1) !== cap || steps.length === 0) steps.push(cap);
    };
    front.agent.on('endpoints', onSet);
    for (const id of [`${target}-a1`, `${target}-a2`]) await startCallee(id);
    const measured: Array<{ admitted: number; share: number; ms: number }> = [];
    try {
      await eventually(
        async () => {
          const cap = callerCap();
          const healthyA = callerSet()?.endpoints.filter((e) => e.zone === 'zone-a' && e.state === 'healthy').length ?? 0;
          if (healthyA < 2) return false;
          if (cap === undefined) return true; // uncapped: the ramp ended
          if (measured.some((m) => m.admitted === cap)) return false;
          const revision = callerSet()!.revision;
          const started = Date.now();
          const share = await zoneAShare(SAMPLE);
          if (callerSet()!.revision === revision) measured.push({ admitted: cap, share, ms: Date.now() - started });
          return false;
        },
        'zone a failed back',
        10 * FAILBACK_MS,
        25,
      );
    } finally {
      front.agent.off('endpoints', onSet);
    }
    expect(steps).toEqual([0, 0.25, 0.5, 0.75, undefined]);
    // Each kept measurement is the admitted share within 5 σ of a binomial over SAMPLE requests
    // (σ ≤ 0.046 → ±0.23 at most at 50 %; ±0.2 at 25 and 75 %).
    expect(measured.length).toBeGreaterThanOrEqual(2);
    for (const m of measured) expect(Math.abs(m.share - m.admitted), JSON.stringify(measured)).toBeLessThanOrEqual(5 * Math.sqrt((m.admitted * (1 - m.admitted)) / SAMPLE) + 1e-9);
    expect(await zoneAShare(60)).toBe(1);

    // The core recorded each change with its evidence, and audited it.
    const changes = mesh().zoneTransitions().filter((c) => c.service === target);
    expect(changes.map((c) => c.to['zone-a'])).toEqual(expect.arrayContaining([0, 0.25, 0.5, 0.75, 1]));
    const back = changes.find((c) => c.to['zone-a'] === 0.25)!;
    expect(back.reason).toMatch(/zone zone-a fails back/);
    expect(back.evidence).toMatchObject({ step: 0.25, intervalMs: FAILBACK_MS, overprovisioningFactor: 1.4, counts: expect.arrayContaining([{ zone: 'zone-a', healthy: 2, total: 2 }]) });
    const audit = mesh().control.audit.query({ limit: 100 }).entries.filter((e) => e.service === target && e.origin === 'automatic');
    expect(audit.some((e) => e.action === 'zone-failback')).toBe(true);
    expect(audit.some((e) => e.action === 'zone-failover')).toBe(true);
  }, 60_000);

  it('operator action failover-zone: preview, act, acks from the zone’s instances, audit, undo with a gradual return', async () => {
    const preview = (await core.router.call('control.preview', { profileId: 'cli', action: { action: 'failover-zone', zone: 'zone-a' }, target: { service: target } }, ctx)) as ControlPreview;
    expect(preview.affected).toBe(2);
    expect(preview.instances.filter((i) => i.affected).map((i) => i.instanceId)).toEqual([`${target}-a1`, `${target}-a2`]);
    expect(preview.capacityAfter).toBeCloseTo(0.5, 9);
    // The only caller is in zone a and sends it everything now.
    expect(preview.trafficAffectedShare).toBeCloseTo(1, 9);
    expect(preview.undo?.commands).toEqual([{ target: { service: target }, action: { action: 'restore-zone', zone: 'zone-a' } }]);
    const refused = await core.router.invoke('control.act', { profileId: 'cli', action: { action: 'failover-zone', zone: 'zone-x' }, target: { service: target }, reason: 'typo' }, ctx);
    expect(refused.ok).toBe(false);

    const action = (await core.router.call('control.act', { profileId: 'cli', action: { action: 'failover-zone', zone: 'zone-a' }, target: { service: target }, reason: 'zone a maintenance' }, ctx)) as ControlActionRecord;
    expect(action.commands.map((c) => c.target.instanceId).sort()).toEqual([`${target}-a1`, `${target}-a2`]);
    await eventually(() => mesh().control.actions.get(action.id)?.state === 'acked', 'both zone-a instances acknowledged', 15_000);
    expect(mesh().control.actions.get(action.id)!.progress.instances.map((i) => i.status)).toEqual(['applied', 'applied']);
    await eventually(() => callerCap() === 0, 'caller gets zone a at admitted 0');
    expect(await zoneAShare(60)).toBe(0);
    expect(mesh().zoneFailovers.zones(target)).toEqual(new Set(['zone-a']));
    const state = (await core.router.call('failover.zones', { profileId: 'cli', service: target }, ctx)) as ZoneStateInfo;
    expect(state.zones).toEqual([
      { zone: 'zone-a', healthy: 2, total: 2, health: 1, admitted: 0, capped: true, failedOver: true },
      { zone: 'zone-b', healthy: 2, total: 2, health: 1, admitted: 1, capped: false, failedOver: false },
    ]);
    expect(state.recent.at(-1)!.reason).toMatch(/zone zone-a failed over by an operator/);
    const pushed = (await core.router.call('mesh.endpoints', { profileId: 'cli', service: target }, ctx)) as { zones?: Record<string, { admitted: number }> };
    expect(pushed.zones).toEqual({ 'zone-a': { admitted: 0 } });
    const trail = (await core.router.call('control.audit', { profileId: 'cli', actionId: action.id }, ctx)) as { entries: Array<{ event: string; result: string }> };
    expect(trail.entries.map((e) => `${e.event}:${e.result}`).sort()).toEqual(['requested:pending', 'result:acked']);

    const undo = (await core.router.call('control.undo', { profileId: 'cli', actionId: action.id, reason: 'maintenance over' }, ctx)) as ControlActionRecord;
    expect(undo.action).toEqual({ action: 'restore-zone', zone: 'zone-a' });
    await eventually(() => mesh().control.actions.get(undo.id)?.state === 'acked', 'restore acknowledged', 15_000);
    expect(mesh().zoneFailovers.zones(target).size).toBe(0);
    // Back gradually: the first step after the restore is 25 %, then the cap goes away.
    await eventually(() => callerCap() === 0.25, 'zone a at 25 % after one interval', 3 * FAILBACK_MS);
    await eventually(() => callerCap() === undefined, 'zone a uncapped', 5 * FAILBACK_MS);
    expect(await zoneAShare(60)).toBe(1);
  }, 60_000);
});
