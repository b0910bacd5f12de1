/**
 * Automatic failover on the real broker with real sidecars: an instance that fails every request
 * is ejected by the core (with evidence), callers stop sending to it through the pushed endpoint
 * set, and after its ejection time it is probed and restored.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../agent/sidecar/sidecar.js';
import type { MeshCore } from '../../core/app.js';
import { eventually, startEchoService, type EchoService } from '../support/mesh.js';
import { MeshFixture } from '../support/mesh-fixture.js';

const run = randomUUID().slice(0, 6);
const caller = `front-${run}`;
const target = `pay-${run}`;
let fx: MeshFixture;
let core: MeshCore;
let sidecars: Sidecar[];
let echoes: EchoService[];
let bad = false;

const mesh = () => fx.mesh();

const sidecar = (...args: Parameters<MeshFixture['sidecar']>) => fx.sidecar(...args);

beforeAll(async () => {
  fx = await MeshFixture.start('meshdeck-failover');
  ({ core, sidecars, echoes } = fx);
  for (const n of [1, 2, 3]) {
    // p2 answers 500 while `bad` is set: an application failure, not a crash.
    const echo = await startEchoService(`p${n}`, (path) => (n === 2 && bad ? { status: 500, body: 'boom' } : { status: 200, body: `p${n}:${path}` }));
    echoes.push(echo);
    await sidecar(target, echo.url, `${target}-p${n}`);
  }
  const front = await startEchoService('front');
  echoes.push(front);
  // Round robin: a latency-aware caller would itself starve the failing instance of requests, and
  // the core's consecutive-failure rule needs every window's requests to fail.
  await sidecar(caller, front.url, `${caller}-1`, 'round-robin');
  await eventually(() => sidecars[3]!.agent.endpoints(target)?.endpoints.filter((e) => e.state === 'healthy').length === 3, 'caller knows 3 targets');
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

describe('failover policies', () => {
  const ctx = { transport: 'internal' as const, actor: 'alice' };
  it('saves a service\u2019s policy from the Envoy preset, validates it field by field, audits it, and the engine uses it', async () => {
    const other = `other-${run}`;
    const before = (await core.router.call('failover.policy', { profileId: 'cli', service: other }, ctx)) as { source: string; policy: { intervalMs: number } };
    expect(before).toMatchObject({ source: 'default', policy: { intervalMs: 1000 } });
    const saved = (await core.router.call('failover.setPolicy', { profileId: 'cli', service: other, preset: 'envoy', overrides: { ejection: { baseMs: 20_000 } }, reason: 'match production' }, ctx)) as {
      source: string;
      preset: string;
      policy: { intervalMs: number; ejection: { baseMs: number; maxEjectionPercent: number } };
      updatedBy: string;
    };
    expect(saved).toMatchObject({ source: 'saved', preset: 'envoy', updatedBy: 'alice', policy: { intervalMs: 10_000, ejection: { baseMs: 20_000, maxEjectionPercent: 10 } } });
    expect(mesh().policies.get(other).policy.intervalMs).toBe(10_000);
    const refused = await core.router.invoke('failover.setPolicy', { profileId: 'cli', service: other, overrides: { ejection: { baseMs: -5 } } }, ctx);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.issues.map((i) => i.path)).toContain('ejection.baseMs');
    expect(mesh().policies.get(other).policy.ejection.baseMs).toBe(20_000);
    const audit = mesh().control.audit.query({ limit: 50 });
    expect(audit.entries.some((e) => e.action === 'set-policy' && e.service === other && e.actor === 'alice' && e.reason === 'match production')).toBe(true);
    const reset = (await core.router.call('failover.setPolicy', { profileId: 'cli', service: other, reset: true }, ctx)) as { source: string };
    expect(reset.source).toBe('default');
  });
});

describe('automatic failover', () => {
  it('ejects a failing instance with evidence, moves traffic away, then probes and restores it', async () => {
    const front = sidecars[3]!;
    const badId = `${target}-p2`;
    bad = true;
    // Drive traffic until the core ejects p2 (3 windows of nothing but failures, by default).
    let ejectedAt = 0;
    const deadline = Date.now() + 20_000;
    while (!ejectedAt && Date.now() < deadline) {
      await Promise.all(Array.from({ length: 10 }, () => fetch(`http://${front.address}/${target}/pay`).then((r) => r.arrayBuffer())));
      if (mesh().endpointsFor(target).endpoints.find((e) => e.instanceId === badId)?.state === 'ejected') ejectedAt = Date.now();
    }
    expect(ejectedAt).toBeGreaterThan(0);
    const transition = mesh().failoverTransitions().find((t) => t.instanceId === badId && t.to === 'ejected')!;
    expect(transition.evidence).toMatchObject({ rule: 'consecutive-failures' });
    expect(transition.reason).toMatch(/fail/);
    // The API carries the decision with its evidence, so the console can say why.
    const listed = (await core.router.call('mesh.instances', { profileId: 'cli', service: target }, { transport: 'internal' as const, actor: 'test' })) as Array<{
      instanceId: string;
      failover: { state: string; weightFactor?: number } | null;
      lastTransition: { to: string; evidence: { rule: string; thresholds: Record<string, number> } } | null;
    }>;
    const held = listed.find((i) => i.instanceId === badId)!;
    expect(held.failover).toMatchObject({ state: 'ejected', weightFactor: 0 });
    expect(held.lastTransition).toMatchObject({ to: 'ejected', evidence: { rule: 'consecutive-failures', thresholds: { consecutive: 3 } } });
    expect(listed.find((i) => i.instanceId !== badId)?.lastTransition).toBeNull();
    const audit = mesh().control.audit.query({ limit: 20 });
    expect(audit.entries.some((e) => e.origin === 'automatic' && e.instanceId === badId && e.action === 'eject')).toBe(true);

    // The caller's sidecar gets the pushed set and sends nothing more to p2.
    await eventually(() => front.agent.endpoints(target)?.endpoints.find((e) => e.instanceId === badId)?.state === 'ejected', 'caller sees p2 ejected');
    const upstreams = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`http://${front.address}/${target}/pay`);
      expect(res.status).toBe(200);
      upstreams.add(res.headers.get('x-meshdeck-upstream') ?? '');
    }
    expect(upstreams.has(badId)).toBe(false);

    // Fixed: after the ejection time it is probed with a little traffic, then restored.
    bad = false;
    await eventually(
      async () => {
        await Promise.all(Array.from({ length: 20 }, () => fetch(`http://${front.address}/${target}/pay`).then((r) => r.arrayBuffer())));
        return mesh().failoverTransitions().some((t) => t.instanceId === badId && t.to === 'healthy');
      },
      'p2 restored after probing',
      40_000,
      200,
    );
    const path = mesh()
      .failoverTransitions()
      .filter((t) => t.instanceId === badId)
      .map((t) => t.to);
    expect(path).toEqual(['ejected', 'probing', 'healthy']);
    expect(mesh().endpointsFor(target).endpoints.find((e) => e.instanceId === badId)?.state).toBe('healthy');
  }, 90_000);
});
