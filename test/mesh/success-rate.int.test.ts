/**
 * The success-rate rule on a quiet service, on the real broker with real sidecars: five instances
 * of a service get about 4 requests/s each, and one of them fails every second request. Per
 * 1-s interval no instance reaches the rule's request volume (20), so it is judged on its newest
 * intervals until they hold 20 requests (at most successRate.maxIntervals, 10). Only the
 * success-rate rule is on for the service, and the caller balances round robin, so what moves
 * traffic off the failing instance is that rule, and its evidence says over how many intervals.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../agent/sidecar/sidecar.js';
import { eventually, startEchoService } from '../support/mesh.js';
import { MeshFixture } from '../support/mesh-fixture.js';

const run = randomUUID().slice(0, 6);
const target = `ledger-${run}`;
const ids = [1, 2, 3, 4, 5].map((n) => `${target}-${n}`);
const bad = ids[4]!;
const ctx = { transport: 'internal' as const, actor: 'test' };
let fx: MeshFixture;
let caller: Sidecar;

beforeAll(async () => {
  fx = await MeshFixture.start('meshdeck-success-rate');
  for (const id of ids) {
    let calls = 0;
    // The bad instance fails every second request; the others none.
    const echo = await startEchoService(id, () => (id === bad && ++calls % 2 === 0 ? { status: 500, body: 'failed' } : { status: 200, body: id }));
    fx.echoes.push(echo);
    await fx.sidecar(target, echo.url, id);
  }
  const front = await startEchoService('front');
  fx.echoes.push(front);
  // Round robin: p2c-ewma would shed the failing instance by itself (a failure weighs as a 1 s
  // response), and the rule would never see it; with round robin only the core can move traffic.
  caller = await fx.sidecar(`front-${run}`, front.url, `front-${run}-1`, 'round-robin');
  await eventually(() => caller.agent.endpoints(target)?.endpoints.filter((e) => e.state === 'healthy').length === 5, 'caller knows the 5 instances');
  const overrides = {
    consecutiveFailures: { enabled: false },
    consecutiveGatewayFailures: { enabled: false },
    latency: { enabled: false },
    directSignal: { enabled: false },
  };
  await fx.core.router.call('failover.setPolicy', { profileId: 'cli', service: target, overrides, reason: 'success-rate rule alone' }, ctx);
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

describe('success-rate rule over several intervals', () => {
  it('ejects the instance failing half its requests at ≈ 4 requests/s per instance, with the intervals in its evidence', async () => {
    const mesh = fx.mesh();
    const ejection = () => mesh.failoverTransitions().find((t) => t.instanceId === bad && t.to === 'ejected');
    let sent = 0;
    const started = Date.now();
    // About 20 requests/s for the service (5 at a time, then 200 ms): ≈ 4 per instance and second.
    await eventually(
      async () => {
        await Promise.all(
          Array.from({ length: 5 }, async () => {
            const res = await fetch(`http://${caller.address}/${target}/post`);
            await res.arrayBuffer();
            sent++;
          }),
        );
        await delay(200);
        return ejection();
      },
      'failing instance ejected by the success-rate rule',
      40_000,
      0,
    );
    const rate = (sent * 1000) / (Date.now() - started);
    expect(rate).toBeLessThan(5 * 20); // under the per-interval volume for every instance

    const evidence = ejection()!.evidence;
    if (evidence.rule !== 'success-rate') throw new Error(`ejected by ${evidence.rule}, expected success-rate`);
    expect(evidence.samples.requests).toBeGreaterThanOrEqual(20);
    expect(evidence.samples.failures).toBeGreaterThan(0);
    expect(evidence.samples.intervals).toBeGreaterThan(1);
    expect(evidence.samples.intervals).toBeLessThanOrEqual(10);
    expect(evidence.samples.successRate).toBeLessThan(evidence.thresholds.ejectionThreshold);
    // The population: the other instances, each over its own window of ≥ 20 requests.
    const peers = evidence.samples.hosts.filter((h) => h.instanceId !== bad);
    expect(peers.length).toBeGreaterThanOrEqual(2);
    for (const h of peers) {
      expect(h.requests).toBeGreaterThanOrEqual(20);
      expect(h.successRate).toBe(100);
    }
    // No other instance was ejected.
    expect(mesh.failoverTransitions().filter((t) => t.to === 'ejected' && t.instanceId !== bad)).toEqual([]);
  }, 60_000);
});
