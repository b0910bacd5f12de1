/**
 * Incidents on the real broker with real sidecars: one instance of a service starts failing,
 * an incident opens with that instance as its first suspect, operators work it through the API,
 * and it resolves by itself once the fault stops.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentDetail, IncidentSummary, IncidentsView } from '../../core/api/contract.js';
import type { MeshCore } from '../../core/app.js';
import { eventually, startEchoService, type EchoService } from '../support/mesh.js';
import { MeshFixture } from '../support/mesh-fixture.js';

const run = randomUUID().slice(0, 6);
const caller = `shop-${run}`;
const target = `cart-${run}`;
const badId = `${target}-c2`;
const ctx = { transport: 'internal' as const, actor: 'alice' };
let fx: MeshFixture;
let core: MeshCore;
let echoes: EchoService[];
let bad = false;
let driving = true;
let traffic: Promise<void> = Promise.resolve();

const mesh = () => fx.mesh();
const call = <T>(method: string, input: Record<string, unknown>) => core.router.call(method as never, { profileId: 'cli', ...input } as never, ctx) as Promise<T>;

const sidecar = (...args: Parameters<MeshFixture['sidecar']>) => fx.sidecar(...args);

beforeAll(async () => {
  fx = await MeshFixture.start('meshdeck-incidents');
  ({ core, echoes } = fx);
  // No ejections for this service: the symptom lasts exactly as long as the fault.
  await call('failover.setPolicy', { service: target, overrides: { ejection: { maxEjectionPercent: 0 } }, reason: 'incident test' });
  // Shorter hysteresis than the defaults, to keep the test quick (the unit tests cover the defaults).
  await call('incidents.setRules', { service: target, rules: { openAfterSeconds: 2, resolveAfterSeconds: 3, errorRate: { windowSeconds: 2, minRequests: 10 } } });
  for (const n of [1, 2, 3]) {
    const echo = await startEchoService(`c${n}`, (path) => (n === 2 && bad ? { status: 500, body: 'boom' } : { status: 200, body: `c${n}:${path}` }));
    echoes.push(echo);
    await sidecar(target, echo.url, `${target}-c${n}`);
  }
  const front = await startEchoService('shop');
  echoes.push(front);
  const shop = await sidecar(caller, front.url, `${caller}-1`, 'round-robin');
  await eventually(() => shop.agent.endpoints(target)?.endpoints.filter((e) => e.state === 'healthy').length === 3, 'caller knows 3 instances');
  // Steady traffic through the caller's sidecar for the whole test: about 100 requests a second.
  traffic = (async () => {
    while (driving) {
      await Promise.all(Array.from({ length: 5 }, () => fetch(`http://${shop.address}/${target}/items`).then((r) => r.arrayBuffer(), () => undefined)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
}, 60_000);

afterAll(async () => {
  driving = false;
  await traffic;
  await fx?.close();
});

describe('incidents on a live mesh', () => {
  it('opens an incident for a failing instance, with that instance as first suspect, and resolves it when the fault stops', async () => {
    const views: IncidentsView[][] = [];
    const unsubscribe = core.router.subscribe('incidents.changed', (v) => views.push(v as IncidentsView[]));
    // Healthy traffic first: no incident.
    await eventually(() => mesh().edges.summaries(Date.now()).some((e) => e.to === target && e.requests > 50), 'traffic reaches the service');
    expect(await call<IncidentSummary[]>('incidents.list', { service: target })).toEqual([]);

    bad = true;
    const opened = await eventually(async () => (await call<IncidentSummary[]>('incidents.list', { status: 'open', service: target }))[0], 'an incident opens', 20_000, 200);
    expect(opened).toMatchObject({ scope: `service:${target}`, title: `Errors: ${target}`, status: 'open' });
    // Its suspects are ranked from the traffic since the onset: the failing instance first.
    const detail = await eventually(
      async () => {
        const d = await call<IncidentDetail>('incidents.get', { id: opened.id });
        return d.suspects[0]?.target === badId && d.suspects[0].evidence.failed !== 0 ? d : null;
      },
      'the failing instance ranked first',
      10_000,
      200,
    );
    expect(detail.suspects[0]).toMatchObject({ rank: 1, kind: 'instance', target: badId });
    expect(detail.suspects[0]!.reasoning).toMatch(new RegExp(`failures of ${target} since the onset \\((9\\d|100) %\\)`));
    expect(detail.suspects[0]!.score).toBeGreaterThan(detail.suspects[1]?.score ?? 0);
    // The timeline starts with what changed in the minute before the onset (the instances joining), then the onset and the crossing.
    const kinds = detail.timeline.map((e) => e.kind);
    expect(kinds.filter((k) => k !== 'registry').slice(0, 2)).toEqual(['opened', 'rule']);
    expect(detail.timeline.find((e) => e.kind === 'registry')!.text).toMatch(new RegExp(`${target}-c\\d`));
    // The banner's cue reached subscribers.
    await eventually(() => views.at(-1)?.find((v) => v.profileId === 'cli')?.lastOpened === opened.id, 'incidents.changed announces it');

    // Operators work it.
    await call('incidents.acknowledge', { id: opened.id });
    await call('incidents.note', { id: opened.id, text: `looking at ${badId}; broker amqp://ops:s3cret@rabbit:5672` });
    // An operator action on the service lands in the timeline (from the audit log).
    const drain = await call<{ id: string }>('control.act', { action: { action: 'drain' }, target: { service: target, instanceId: badId }, reason: 'take the failing instance out' });
    await eventually(
      async () => (await call<IncidentDetail>('incidents.get', { id: opened.id })).timeline.some((e) => e.kind === 'action' && e.actor === 'alice' && e.text.includes('drain')),
      'the drain in the timeline',
    );
    // Undone (restore): a drained instance is capacity lost to its zone, which would keep the incident open.
    await call('control.undo', { actionId: drain.id, reason: 'fixed' });
    expect((await call<IncidentSummary>('incidents.get', { id: opened.id })).status).toBe('acknowledged');

    // Fault over: it resolves by itself.
    bad = false;
    const resolved = await eventually(
      async () => {
        const d = await call<IncidentDetail>('incidents.get', { id: opened.id });
        return d.status === 'resolved' ? d : null;
      },
      'the incident resolves by itself',
      30_000,
      250,
    );
    expect(resolved).toMatchObject({ resolvedBy: 'meshdeck-core', acknowledgedBy: 'alice' });
    expect(resolved.timeline.at(-1)).toMatchObject({ kind: 'resolved', text: expect.stringMatching(/Resolved automatically/) });

    const md = await call<{ content: string }>('incidents.export', { id: opened.id, format: 'markdown' });
    expect(md.content).toContain(`| 1 | ${badId} | instance |`);
    expect(md.content).toContain('amqp://ops:***@rabbit');
    expect(md.content).not.toContain('s3cret');
    unsubscribe();
  }, 90_000);
});
