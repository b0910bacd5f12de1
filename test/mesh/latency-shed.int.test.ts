/**
 * A slowed instance is shed (issue 4's latency fault), on the real broker with real sidecars.
 * Two zones, one instance of the target service in each, and a caller in each zone: each caller
 * keeps to its own zone, so each target instance is the only one its caller has at priority 0
 * (the demo's shape), and peak-EWMA alone cannot move traffic away from a slow one. A fault drill
 * slows the zone-a instance ×100 through the console's own control path; the core's latency rule
 * (each host against the median of the other hosts) ejects it with evidence, and the zone-a
 * caller's traffic moves to zone b. Clearing the fault lets it be probed and restored.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../agent/sidecar/sidecar.js';
import type { ControlActionRecord } from '../../core/api/contract.js';
import { eventually, startEchoService } from '../support/mesh.js';
import { MeshFixture } from '../support/mesh-fixture.js';

const run = randomUUID().slice(0, 6);
const target = `pay-${run}`;
const ctx = { transport: 'internal' as const, actor: 'test' };
let fx: MeshFixture;
let callerA: Sidecar;
let callerB: Sidecar;

beforeAll(async () => {
  fx = await MeshFixture.start('meshdeck-latency');
  for (const zone of ['a', 'b']) {
    const echo = await startEchoService(`${target}-${zone}`);
    fx.echoes.push(echo);
    await fx.sidecar(target, echo.url, `${target}-${zone}`, undefined, `zone-${zone}`);
  }
  const front = await startEchoService('front');
  fx.echoes.push(front);
  callerA = await fx.sidecar(`front-${run}`, front.url, `front-${run}-a`, undefined, 'zone-a');
  callerB = await fx.sidecar(`front-${run}`, front.url, `front-${run}-b`, undefined, 'zone-b');
  for (const c of [callerA, callerB]) {
    await eventually(() => c.agent.endpoints(target)?.endpoints.filter((e) => e.state === 'healthy').length === 2, 'caller knows both targets');
  }
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

/** 20 requests through a caller, 10 at a time; the upstream instance of each answer. */
async function burst(caller: Sidecar): Promise<string[]> {
  const one = async (): Promise<string> => {
    const res = await fetch(`http://${caller.address}/${target}/pay`);
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    return res.headers.get('x-meshdeck-upstream') ?? '';
  };
  const out: string[] = [];
  for (let i = 0; i < 2; i++) out.push(...(await Promise.all(Array.from({ length: 10 }, one))));
  return out;
}

describe('latency fault', () => {
  it('ejects an instance slowed far beyond its peer, moves its zone’s traffic to the other zone, and restores it once the fault is cleared', async () => {
    const mesh = fx.mesh();
    const slowId = `${target}-a`;
    // Before the fault each caller keeps to its own zone.
    expect(new Set(await burst(callerA))).toEqual(new Set([slowId]));
    expect(new Set(await burst(callerB))).toEqual(new Set([`${target}-b`]));

    const fault = (await fx.core.router.call(
      'control.act',
      { profileId: 'cli', target: { service: target, instanceId: slowId }, action: { action: 'fault', fault: { share: 1, delayMs: 150, abortStatus: 0, durationMs: 120_000 } }, reason: 'latency drill' },
      ctx,
    )) as ControlActionRecord;
    await eventually(() => mesh.control.actions.get(fault.id)?.state === 'acked', 'fault drill acknowledged');

    // Traffic in both zones (each host needs 50 requests per 1-s interval) until the core ejects it.
    await eventually(
      async () => {
        await Promise.all([burst(callerA), burst(callerB), burst(callerB), burst(callerB)]);
        return mesh.failoverTransitions().find((t) => t.instanceId === slowId && t.to === 'ejected');
      },
      'slow instance ejected',
      30_000,
      0,
    );
    const ejected = mesh.failoverTransitions().find((t) => t.instanceId === slowId && t.to === 'ejected')!;
    expect(ejected.evidence).toMatchObject({ rule: 'latency', samples: { hosts: expect.arrayContaining([expect.objectContaining({ instanceId: `${target}-b` })]) } });
    if (ejected.evidence.rule !== 'latency') throw new Error('unexpected evidence');
    expect(ejected.evidence.samples.p99).toBeGreaterThan(ejected.evidence.thresholds.threshold);
    expect(ejected.evidence.samples.p99).toBeGreaterThanOrEqual(150);

    // The zone-a caller gets the pushed set and fails over to zone b.
    await eventually(() => callerA.agent.endpoints(target)?.endpoints.find((e) => e.instanceId === slowId)?.state === 'ejected', 'zone-a caller sees the ejection');
    expect(new Set(await burst(callerA))).toEqual(new Set([`${target}-b`]));

    // Cleared: probed with a little traffic after the ejection time, then restored.
    const cleared = (await fx.core.router.call('control.undo', { profileId: 'cli', actionId: fault.id, reason: 'drill over' }, ctx)) as ControlActionRecord;
    await eventually(() => mesh.control.actions.get(cleared.id)?.state === 'acked', 'fault cleared');
    await eventually(
      async () => {
        await Promise.all([burst(callerA), burst(callerB)]);
        return mesh.failoverTransitions().some((t) => t.instanceId === slowId && t.to === 'healthy');
      },
      'slow instance restored after probing',
      60_000,
      0,
    );
    expect(
      mesh
        .failoverTransitions()
        .filter((t) => t.instanceId === slowId)
        .map((t) => t.to),
    ).toEqual(['ejected', 'probing', 'healthy']);
  }, 120_000);
});
